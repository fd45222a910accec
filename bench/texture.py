"""The texture → style chain on flat photos (issue #27): does laying the canvas over a photo
with little pixel variation first give the preset nets something to paint?

Flat photos are made from the eval photos: the sky of ``tubingen`` (a crop), and three photos
blurred so that little variation is left (Gaussian radius 6 px at 512 px) — the kind of input
that comes out as flat colour fields. Each is painted with the 7 preset nets at 512 px, with
and without ``--texture canvas``, and scored against the preset painting with
``styletransfer.metrics`` (Gram style distance, relu1_1..relu5_1) and by its structure (mean
absolute difference between neighbouring pixels, /255: how much stroke texture there is; the
painting itself for reference). ``--figure`` writes ``docs/texture.png`` in the seed's manner:
photo, style only, texture + style.

    python bench/texture.py --figure docs/texture.png
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import REPO  # noqa: E402


def flat_photos() -> dict:
    from PIL import ImageFilter

    tub = common.load_rgb(REPO / "styletransfer" / "samples" / "tubingen.jpg", 1024)
    photos = {"tubingen sky (crop)": tub.crop((0, 0, tub.width * 3 // 5, tub.height * 3 // 10)).resize((512, 256))}
    for name in ("amber", "hoover_tower", "stata"):
        path = common.DEFAULT_EVAL_DIR / f"{name}.jpg"
        if path.is_file():
            photos[f"{name} (blurred)"] = common.load_rgb(path, 512).filter(ImageFilter.GaussianBlur(6))
    return photos


def structure(img) -> float:
    """Mean |neighbour difference| over both axes, in /255 units."""
    import numpy as np

    a = np.asarray(img.convert("RGB"), dtype=np.float32)
    return float((np.abs(np.diff(a, axis=0)).mean() + np.abs(np.diff(a, axis=1)).mean()) / 2)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--texture", default="canvas")
    p.add_argument("--figure", type=Path, default=None)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    import torch

    from styletransfer.engine import StyleOptions, stylize
    from styletransfer.metrics import style_distance, style_grams
    from styletransfer.vgg import load_vgg19

    torch.set_num_threads(args.threads)
    vgg = load_vgg19("cpu", pooling="max")
    photos = flat_photos()
    rows = {"style only": [], f"texture ({args.texture}) + style": []}
    grain = {k: [] for k in rows}
    art = []
    outputs = {}
    for preset in common.all_presets():
        painting = common.load_rgb(common.preset_path(preset), 512)
        grams = style_grams(common.to_tensor(painting), vgg)
        art.append(structure(painting))
        for name, photo in photos.items():
            for label, texture in (("style only", None), (f"texture ({args.texture}) + style", args.texture)):
                out = stylize(photo, preset, "johnson", StyleOptions(max_side=512, texture=texture, device="cpu"))
                rows[label].append(style_distance(common.to_tensor(out), grams, vgg))
                grain[label].append(structure(out))
                outputs[(preset, name, label)] = out
    print(f"{len(photos)} flat photos × {len(common.all_presets())} preset nets at 512 px")
    print("| painted | mean style dist | structure (/255) | lower style dist than style only |")
    print("|---|---|---|---|")
    base = rows["style only"]
    for label, values in rows.items():
        wins = "" if label == "style only" else \
            f"{sum(v < b for v, b in zip(values, base))} of {len(values)}"
        print(f"| {label} | {statistics.mean(values):.4f} | {statistics.mean(grain[label]):.2f} | {wins} |")
    print(f"| (the photos) | | {statistics.mean(structure(p) for p in photos.values()):.2f} | |")
    print(f"| (the preset paintings) | | {statistics.mean(art):.2f} | |")
    if args.figure:
        figure(args.figure, photos, outputs, args.texture)
    return 0


def figure(path: Path, photos: dict, outputs: dict, texture: str) -> None:
    from PIL import Image, ImageDraw

    from styletransfer.texture import apply_texture

    shown = [("starry_night", "tubingen sky (crop)"), ("the_scream", "tubingen sky (crop)"),
             ("udnie", "amber (blurred)"), ("great_wave", "stata (blurred)")]
    shown = [(pr, ph) for pr, ph in shown if ph in photos]
    w, h, label_h = 320, 200, 18
    cols = ["photo", f"{texture} texture", "style only", f"{texture} texture + style"]
    sheet = Image.new("RGB", (w * len(cols), label_h + len(shown) * (h + label_h)), "white")
    draw = ImageDraw.Draw(sheet)
    for j, c in enumerate(cols):
        draw.text((j * w + 6, 3), c, fill="black")
    for i, (preset, name) in enumerate(shown):
        y = label_h + i * (h + label_h)
        draw.text((6, y + 2), f"{name} · {preset}", fill="black")
        photo = photos[name]
        tiles = [photo, apply_texture(photo, texture), outputs[(preset, name, "style only")],
                 outputs[(preset, name, f"texture ({texture}) + style")]]
        for j, im in enumerate(tiles):
            im = im.copy()
            im.thumbnail((w - 4, h - 2), Image.Resampling.LANCZOS)
            sheet.paste(im, (j * w + 2, y + label_h))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, optimize=True)
    print(f"figure: {path} ({sheet.width}×{sheet.height})")


if __name__ == "__main__":
    sys.exit(main())
