"""``stylize`` command line: render a photo in a painting's style.

Examples::

    stylize photo.jpg --style starry_night --method gatys -o out.png
    stylize photo.jpg --style my_painting.jpg --style udnie:0.3 --alpha 0.8 -o out.jpg
    stylize photo.jpg --style the_scream --method johnson --preserve-color -o out.png
    stylize presets

Every user error (missing or broken file, unknown preset, bad option, missing
checkpoint) prints one line ``stylize: error: …`` on stderr and exits with
status 1 (2 for malformed command lines, as argparse does); no traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

from .errors import StyleTransferError
from .presets import PRESETS

PROG = "stylize"
METHODS = ("adain", "johnson", "gatys")  # same as styletransfer.engine.METHODS (kept torch-free here)
_OUTPUT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF",
                   ".tiff": "TIFF", ".bmp": "BMP"}


def parse_style(text: str) -> tuple[str, float]:
    """``"name_or_path[:weight]"`` → (style, weight).

    The weight is taken after the last ``:`` only when it parses as a float,
    so ``C:\\art\\x.jpg`` or ``a:b.png`` stay whole paths.
    """
    head, sep, tail = text.rpartition(":")
    if sep and head:
        try:
            return head, float(tail)
        except ValueError:
            pass
    return text, 1.0


def _alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"alpha must be a number between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"alpha must be between 0 and 1, got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number ≥ 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Neural style transfer: render CONTENT in the style of a painting. "
        "Run 'stylize presets' to list the built-in styles.",
    )
    p.add_argument("content", help="the photo to stylize (JPEG, PNG, WebP, ...)")
    p.add_argument("-s", "--style", action="append", required=True, metavar="STYLE[:WEIGHT]",
                   help="preset name or image path; repeat to blend styles, with optional weights "
                   "after the last ':' (e.g. --style starry_night:0.7 --style udnie:0.3)")
    p.add_argument("-m", "--method", choices=METHODS, default="adain",
                   help="adain: any style, fast (default); johnson: one preset, fastest; "
                   "gatys: any style, slow optimisation, no training needed")
    p.add_argument("-o", "--output", required=True, type=Path, help="output image (.png, .jpg, .webp, ...)")
    p.add_argument("--alpha", type=_alpha, default=1.0, help="style strength from 0 to 1 (default 1)")
    p.add_argument("--size", type=_positive_int, default=1024, metavar="PX",
                   help="cap the longer side of the output at PX pixels (default 1024; never upscales)")
    p.add_argument("--preserve-color", action="store_true", help="keep the photo's colours")
    p.add_argument("--steps", type=_positive_int, default=None, help="gatys: optimisation steps (default 300)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--seed", type=int, default=None, help="random seed for reproducible results")
    p.add_argument("--threads", type=_positive_int, default=None, help="CPU threads for torch")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.add_argument("--version", action="version", version=f"{PROG} (stylebot) {_version()}")
    return p


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stylebot")
    except PackageNotFoundError:  # pragma: no cover - a bare source tree
        return "unknown"


def _fail(message: str, code: int = 1) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def list_presets(out=None) -> int:
    """Print the presets table (name, work, artist, year, methods with weights)."""
    from .checkpoints import available_methods

    out = out or sys.stdout
    avail = available_methods()
    rows = []
    for p in PRESETS.values():
        methods = [m for m, ok in (("adain", avail.get("adain")), ("johnson", p.name in (avail.get("johnson") or [])),
                                   ("gatys", True)) if ok]
        rows.append((p.name, p.title, p.artist, p.year, ",".join(methods)))
    header = ("name", "title", "artist", "year", "methods")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(col.ljust(w) for col, w in zip(row, widths)).rstrip(), file=out)
    return 0


def _check_output(path: Path) -> str:
    fmt = _OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise StyleTransferError(
            f"cannot tell the output format from {path.name!r}; use one of: {', '.join(sorted(_OUTPUT_FORMATS))}"
        )
    if not path.parent.exists():
        raise StyleTransferError(f"output folder {str(path.parent)!r} does not exist")
    return fmt


def run(args: argparse.Namespace) -> int:
    fmt = _check_output(args.output)
    content = Path(args.content)
    if not content.is_file():
        raise StyleTransferError(f"content image {args.content!r} not found")

    # Everything that can be refused is checked before torch is imported (~2 s).
    from .inputs import StyleOptions, check_method, load_image, resolve_styles

    options = StyleOptions(alpha=args.alpha, preserve_color=args.preserve_color, max_side=args.size,
                           steps=args.steps, device=args.device, seed=args.seed).validate()
    content_img = load_image(content, options.max_pixels)
    styles = resolve_styles([parse_style(s) for s in args.style], options.max_pixels)
    check_method(args.method, styles)

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from .engine import stylize
    from .gatys import DEFAULT_STEPS

    bar = None
    progress = None
    if args.method == "gatys" and not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=args.steps or DEFAULT_STEPS, desc="gatys", unit="step", file=sys.stderr,
                   dynamic_ncols=True, leave=False)

        def progress(step: int, total: int, info: dict) -> None:
            if info.get("stage") == "optimize":
                bar.total = total
                bar.update(step - bar.n)
                bar.set_postfix(loss=f"{info['loss']:.3f}", scale=f"{info['scale']}/{info['scales']}",
                                refresh=False)

    start = time.perf_counter()
    try:
        image = stylize(content_img, styles, args.method, options, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - start
    save_kw = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    try:
        image.save(args.output, format=fmt, **save_kw)
    except OSError as exc:
        raise StyleTransferError(f"cannot write {str(args.output)!r}: {exc}") from exc
    if not args.quiet:
        print(f"wrote {args.output} ({image.width}×{image.height}, {args.method}, {elapsed:.1f} s)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the exit status (0 ok, 1 error, 2 usage, 130 interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["presets"]:
        if len(argv) > 1:
            return _fail("'stylize presets' takes no arguments", 2)
        return list_presets()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage + "stylize: error: ..."
        return int(exc.code or 0)
    try:
        return run(args)
    except StyleTransferError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except MemoryError:
        return _fail("out of memory; try a smaller --size")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
