"""How far the ONNX Runtime paths paint from torch's (issue #14's "no loss of quality").

Paints every eval photo (``../shared/data/eval/content``) with every preset plus a few
unseen paintings, once through the torch engine (``backend="torch"``) and once through
ONNX Runtime (``backend="onnx"``, the graphs exported first where missing), and reports the
mean absolute difference of the 8-bit pictures (/255): overall, the worst pair and the
99th percentile of the pixels.

Example::

    python bench/backends.py --method adain --size 512
    python bench/backends.py --method adain --size 512 --transform adain --palette 0
    python bench/backends.py --method johnson --size 1024 --threads 2

AdaIN needs ``checkpoints/adain/decoder.safetensors`` (point ``STYLETRANSFER_CHECKPOINTS``
at a folder holding one to measure a decoder that is not shipped yet).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO  # noqa: E402

SHARED = REPO.parent / "shared" / "data"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--method", choices=("adain", "johnson"), default="adain")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--palette", type=float, default=None,
                   help="AdaIN's palette transfer strength (default: the library's; 0: the decoders' own pictures)")
    p.add_argument("--transform", choices=("efdm", "adain"), default=None,
                   help="AdaIN's feature transform (default: the library's, efdm)")
    p.add_argument("--unseen", default="la_muse,asheville", help="extra style paintings from the training folder (AdaIN)")
    args = p.parse_args(argv)
    photos = sorted((SHARED / "eval" / "content").glob("*.jpg"))
    if not photos:
        print(f"no eval photos under {SHARED}", file=sys.stderr)
        return 1
    import torch
    from PIL import Image

    from styletransfer.engine import StyleOptions, stylize
    from styletransfer.images import fit_max_side
    from styletransfer.presets import preset_names

    torch.set_num_threads(args.threads)
    styles = list(preset_names())
    if args.method == "adain":
        styles += [str(SHARED / "train" / "style" / f"{n}.jpg") for n in args.unseen.split(",") if n]
    per_pair, pixels = [], []
    for photo in photos:
        content = fit_max_side(Image.open(photo).convert("RGB"), args.size)
        for style in styles:
            out = {}
            for backend in ("torch", "onnx"):
                extra = {} if args.palette is None else {"palette": args.palette}
                if args.transform is not None:
                    extra["transform"] = args.transform
                opts = StyleOptions(max_side=args.size, device="cpu", backend=backend, **extra)
                out[backend] = np.asarray(stylize(content, style, args.method, opts), dtype=np.float32)
            diff = np.abs(out["onnx"] - out["torch"])
            per_pair.append((float(diff.mean()), photo.stem, Path(style).stem))
            pixels.append(diff.ravel()[:: max(1, diff.size // 200_000)])
    worst = max(per_pair)
    shown = ("" if args.palette is None else f", palette {args.palette}") + (
        "" if args.transform is None else f", transform {args.transform}")
    print(f"{args.method}{shown} at {args.size} px, {len(photos)} photos x {len(styles)} styles, {args.threads} threads: "
          f"onnx vs torch mean abs difference {np.mean([d for d, _p, _s in per_pair]):.2f}/255, "
          f"worst pair {worst[0]:.2f} ({worst[1]} / {worst[2]}), "
          f"99th percentile of pixels {np.percentile(np.concatenate(pixels), 99):.1f}")
    presets = set(preset_names())
    for group, members in (("presets", [d for d, _p, s in per_pair if s in presets]),
                           ("pictures given as the style", [d for d, _p, s in per_pair if s not in presets])):
        if members:
            print(f"  {group}: {np.mean(members):.2f}/255 over {len(members)} pairs, worst {max(members):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
