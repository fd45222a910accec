"""``stylize`` command line: render a photo in a painting's style.

Examples::

    stylize photo.jpg --style starry_night --method gatys -o out.png
    stylize photo.jpg --style my_painting.jpg --style udnie:0.3 --alpha 0.8 -o out.jpg
    stylize photo.jpg --style the_scream --method johnson --preserve-color -o out.png
    stylize clip.mp4 --style starry_night --method johnson -o out.mp4     # video (audio kept)
    stylize animation.gif --style my_painting.jpg --method adain -o out.gif
    stylize presets
    stylize prepare                 # export the ONNX Runtime graphs now (e.g. in a Docker build)

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


def _fraction(name: str):
    """An argparse type: a number in [0, 1], refused with a message naming ``name``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number between 0 and 1, got {text!r}") from None
        if not 0.0 <= value <= 1.0:
            raise argparse.ArgumentTypeError(f"{name} must be between 0 and 1, got {text}")
        return value

    parse.__name__ = name  # argparse names the type in its own messages
    return parse


_alpha, _palette = _fraction("alpha"), _fraction("palette")


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
    p.add_argument("content", help="the photo (JPEG, PNG, WebP, HEIC, ...) or video (MP4, MOV, WebM, GIF, ...) "
                   "to stylize")
    p.add_argument("-s", "--style", action="append", required=True, metavar="STYLE[:WEIGHT]",
                   help="preset name or image path; repeat to blend styles, with optional weights "
                   "after the last ':' (e.g. --style starry_night:0.7 --style udnie:0.3)")
    p.add_argument("-m", "--method", choices=("auto", *METHODS), default="auto",
                   help="auto (default): the fastest method with weights here for this style (one preset: "
                   "its johnson net; any other picture or a blend: adain; else gatys); adain: any style, fast; "
                   "johnson: one preset, fastest; gatys: any style, slow optimisation, no training needed")
    p.add_argument("-o", "--output", required=True, type=Path,
                   help="output image (.png, .jpg, .webp, ...) or, for a video, .mp4 or .gif")
    p.add_argument("--alpha", type=_alpha, default=1.0, help="style strength from 0 to 1 (default 1)")
    p.add_argument("--size", type=_positive_int, default=None, metavar="PX",
                   help="cap the longer side of the output at PX pixels (default 1024 for images, 640 for "
                   "videos; never upscales)")
    p.add_argument("--stroke", default="medium", metavar="SIZE",
                   help="brush size: fine, medium (default), bold, or a number from 0.25 to 4 (1 = medium, 2 = "
                   "strokes twice as big); the painting is made at 512/SIZE px and brought to --size with the "
                   "photo's detail, so strokes keep their size relative to the picture at any --size")
    p.add_argument("--texture", default=None, metavar="NAME",
                   help="lay a texture over the photo before the style: canvas (a linen weave; flat photos "
                   "get grain for the strokes)")
    p.add_argument("--palette", type=_palette, default=None, metavar="P",
                   help="adain: how far the painting's colours move to the style picture's palette after "
                   "painting, 0-1 (0: the decoder's own colours; default 0.7)")
    p.add_argument("--transform", choices=("efdm", "adain"), default=None,
                   help="adain: how the photo's features take the style's: efdm (their whole distribution, "
                   "Zhang et al. 2022; default) or adain (mean and std, Huang & Belongie 2017)")
    p.add_argument("--smooth", type=float, default=None, metavar="S",
                   help="video: blend with the previous frame where nothing moved, 0-0.95 (default 0.6)")
    p.add_argument("--max-seconds", type=float, default=None, metavar="S",
                   help="video: keep at most the first S seconds (default 30)")
    p.add_argument("--preserve-color", action="store_true", help="keep the photo's colours")
    p.add_argument("--steps", type=_positive_int, default=None, help="gatys: optimisation steps (default 300)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--seed", type=int, default=None, help="random seed for reproducible results")
    p.add_argument("--threads", type=_positive_int, default=None, help="CPU threads (torch or ONNX Runtime)")
    p.add_argument("--backend", choices=("auto", "torch", "onnx"), default="auto",
                   help="johnson or adain on a photo: onnx paints with ONNX Runtime without importing torch (the "
                   "nets are exported once per checkpoint into ~/.cache/stylebot/onnx; adain's VGG encoder in "
                   "8 bits); auto (default): onnx when the export exists and no GPU is in use, else torch (and "
                   "the export is made after the run); adain with --preserve-color always runs in torch")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.add_argument("--version", action=_VersionAction)
    return p


class _VersionAction(argparse.Action):
    """``--version``: looks the version up only when asked (importlib.metadata costs ~40 ms
    of every command's start)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0,
                         help=help or "show the program's version and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{PROG} (stylebot) {_version()}")
        parser.exit()


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


def prepare(out=None) -> int:
    """``stylize prepare``: export the ONNX Runtime graphs of every net in ``checkpoints/``
    (each preset's Johnson net; AdaIN's encoders, their style-statistics fit and decoder) and
    the presets' AdaIN style statistics into the ONNX cache
    (:func:`styletransfer.onnx.runtime.cache_dir`), so that no first painting runs in torch or waits
    for an export (~1 min on 2 cores; graphs already there are kept). Needs torch and
    onnxruntime. Prints a line per graph."""
    from .onnx import adain as ort_adain
    from .checkpoints import available_methods
    from .inputs import StyleOptions, resolve_styles
    from .onnx.johnson import export_johnson, ready
    from .onnx.runtime import cache_dir, runtime_installed

    out = out or sys.stdout
    if not runtime_installed():
        return _fail("'stylize prepare' needs onnxruntime (pip install onnxruntime)")
    avail = available_methods()
    for preset in avail["johnson"]:
        t = time.perf_counter()
        done = "kept" if ready(preset) else "exported"
        if done == "exported":
            export_johnson(preset)
        print(f"johnson {preset}: {done} ({time.perf_counter() - t:.1f} s)", file=out)
    if avail["adain"]:
        t = time.perf_counter()
        done = "kept" if ort_adain.ready() else "exported"
        if done == "exported":
            ort_adain.export_adain()
        side = StyleOptions().style_side
        for image, _w, key in ort_adain.prepare_styles(resolve_styles(list(PRESETS)), side):
            ort_adain.style_stats(image, key)
            ort_adain.style_quantiles(image, key)
            if ort_adain.skip_decoder():
                ort_adain.style_skip_stats(image, key)
        print(f"adain: {done}, statistics of {len(PRESETS)} presets at {side} px ({time.perf_counter() - t:.1f} s)",
              file=out)
    print(f"ONNX cache: {cache_dir()}", file=out)
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


_VIDEO_OUT = {".mp4", ".gif"}


def pick_method(styles: list[str], video: bool = False) -> str:
    """``--method auto``: one preset with its Johnson net -> that net (the fastest, and closer
    to its painting than AdaIN: ``checkpoints/README.md``); any other style or a blend ->
    AdaIN when its decoder is here; else Gatys (photos only; a video without a fast method
    names the weights it needs)."""
    from .checkpoints import available_methods
    from .presets import is_preset

    avail = available_methods()
    names = [parse_style(s)[0] for s in styles]
    if len(names) == 1 and is_preset(names[0]) and names[0] in (avail.get("johnson") or []):
        return "johnson"
    if avail.get("adain"):
        return "adain"
    return "adain" if video else "gatys"


def run(args: argparse.Namespace) -> int:
    content = Path(args.content)
    if not content.is_file():
        raise StyleTransferError(f"content image {args.content!r} not found")
    from .images import STILL_IMAGE_SUFFIXES

    if content.suffix.lower() in STILL_IMAGE_SUFFIXES:  # known without the video module (~10 ms)
        video = False
    else:
        from .video import looks_like_video

        video = looks_like_video(content)
    if args.method == "auto":
        args.method = pick_method(args.style, video=video)

    if video:
        return run_video(args, content)
    if args.output.suffix.lower() in _VIDEO_OUT - {".gif"}:
        raise StyleTransferError(f"{content.name!r} is a still image; write the result to an image "
                                 "(.png, .jpg, ...) or give a video as input")
    if args.output.suffix.lower() == ".gif":
        raise StyleTransferError("a .gif output needs an animated GIF or a video as input; use .png for a photo")
    fmt = _check_output(args.output)
    args.size = args.size or 1024

    # Everything that can be refused is checked before torch is imported (~2 s).
    from .inputs import StyleOptions, check_method, load_image, resolve_styles, style_read_side

    options = StyleOptions(alpha=args.alpha, preserve_color=args.preserve_color, max_side=args.size,
                           steps=args.steps, device=args.device, seed=args.seed, backend=args.backend,
                           stroke=args.stroke, texture=args.texture, **_adain_options(args)).validate()
    if options.texture:
        from .texture import check_texture

        check_texture(options.texture)
    content_img = load_image(content, options.max_pixels, options.max_side)
    styles = resolve_styles([parse_style(s) for s in args.style], options.max_pixels,
                            style_read_side(args.method, options))
    check_method(args.method, styles)

    if args.method == "johnson" and _use_onnx(args, styles[0].name):
        return _run_onnx(args, content_img, styles[0].name, options, fmt)
    if args.method == "adain" and _use_onnx_adain(args, options):
        return _run_onnx_adain(args, content_img, styles, options, fmt)

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
    _save(image, args, fmt, args.method, time.perf_counter() - start)
    if args.method in ("johnson", "adain") and args.backend == "auto" and _on_cpu(args):
        _export_quietly(args.method, styles[0].name, args.quiet)
    return 0


def _use_onnx(args: argparse.Namespace, preset: str) -> bool:
    """ONNX Runtime for this Johnson photo (no torch import): see :func:`styletransfer.onnx.johnson.use_onnx`."""
    from .onnx.johnson import use_onnx

    return use_onnx(preset, args.backend, on_cpu=_on_cpu(args))


def _on_cpu(args: argparse.Namespace) -> bool:
    from .onnx.runtime import on_cpu

    return on_cpu(args.device)


def _use_onnx_adain(args: argparse.Namespace, options) -> bool:
    """ONNX Runtime for this AdaIN photo: see :func:`styletransfer.onnx.adain.use_onnx`."""
    from .onnx.adain import use_onnx

    return use_onnx(args.backend, on_cpu=_on_cpu(args), preserve_color=options.preserve_color)


def _fit_content(content_img, options):
    from .images import fit_max_side

    image = fit_max_side(content_img, options.max_side)
    if min(image.size) < 16:
        raise StyleTransferError(f"the content becomes {image.size[0]}×{image.size[1]} px at --size "
                                 f"{options.max_side}; it is too thin (each side needs at least 16 px)")
    return image


def _run_onnx(args: argparse.Namespace, content_img, preset: str, options, fmt: str) -> int:
    from .onnx.johnson import stylize_johnson_ort
    from .scale import paint_at_working_size

    start = time.perf_counter()
    image = paint_at_working_size(_fit_content(content_img, options), options.stroke, lambda im: stylize_johnson_ort(
        _textured(im, options, args), preset, alpha=options.alpha, preserve_color=options.preserve_color,
        threads=args.threads))
    _save(image, args, fmt, "johnson, onnxruntime", time.perf_counter() - start)
    return 0


def _run_onnx_adain(args: argparse.Namespace, content_img, styles, options, fmt: str) -> int:
    from .onnx.adain import prepare_styles, stylize_adain_ort
    from .scale import paint_at_working_size

    start = time.perf_counter()
    prepared = prepare_styles(styles, options.style_side)
    image = paint_at_working_size(_fit_content(content_img, options), options.stroke, lambda im: stylize_adain_ort(
        _textured(im, options, args), prepared, alpha=options.alpha, threads=args.threads,
        palette=options.palette_strength("adain"), transform=options.transform))
    _save(image, args, fmt, "adain, onnxruntime", time.perf_counter() - start)
    return 0


def _adain_options(args: argparse.Namespace) -> dict:
    """``palette=`` and ``transform=`` for the options where ``--palette`` / ``--transform`` were
    given (else the library's defaults)."""
    given = {"palette": args.palette, "transform": args.transform}
    return {name: value for name, value in given.items() if value is not None}


def _textured(image, options, args):
    """The working copy with ``--texture`` laid over it (styletransfer.texture), or as it is."""
    if not options.texture:
        return image
    from .texture import apply_texture

    return apply_texture(image, options.texture, device=args.device, backend=args.backend, threads=args.threads)


def _save(image, args: argparse.Namespace, fmt: str, what: str, elapsed: float) -> None:
    """Write the result (JPEG/WebP at quality 95; PNG with
    :data:`styletransfer.images.PNG_SAVE_OPTIONS`) and, unless quiet, say so."""
    from .images import PNG_SAVE_OPTIONS

    save_kw = {"quality": 95} if fmt in ("JPEG", "WEBP") else PNG_SAVE_OPTIONS if fmt == "PNG" else {}
    try:
        image.save(args.output, format=fmt, **save_kw)
    except OSError as exc:
        raise StyleTransferError(f"cannot write {str(args.output)!r}: {exc}") from exc
    if not args.quiet:
        print(f"wrote {args.output} ({image.width}×{image.height}, {what}, {elapsed:.1f} s)")


def _export_quietly(method: str, preset: str | None, quiet: bool) -> None:
    """After a torch Johnson or AdaIN run on the CPU: export the net(s) for ONNX Runtime
    once, so the next runs skip importing torch. A failure only costs the speed-up."""
    from .onnx.johnson import export_johnson, ready
    from .onnx.runtime import runtime_installed

    if not runtime_installed():
        return
    if method == "adain":
        from .onnx.adain import export_adain
        from .onnx.adain import ready as adain_ready

        if adain_ready():
            return
        what, export = "the AdaIN encoder and decoder", export_adain
    else:
        if ready(preset):
            return
        what, export = f"the {preset} net", lambda: export_johnson(preset)
    if not quiet:
        print(f"exporting {what} for ONNX Runtime (once; the next runs start faster) ...", file=sys.stderr)
    try:
        export()
    except Exception as exc:  # noqa: BLE001 - optional speed-up
        if not quiet:
            print(f"note: could not export {what} for ONNX Runtime ({exc}); torch stays in use", file=sys.stderr)


def run_video(args: argparse.Namespace, content: Path) -> int:
    """The video branch: checks first (no torch), then :func:`styletransfer.video.stylize_video`."""
    from .inputs import check_method, resolve_styles
    from .video import probe

    if args.output.suffix.lower() not in _VIDEO_OUT:
        raise StyleTransferError(f"{content.name!r} is a video; write the result to .mp4 or .gif")
    if not args.output.parent.exists():
        raise StyleTransferError(f"output folder {str(args.output.parent)!r} does not exist")
    if args.method == "gatys":
        raise StyleTransferError("gatys cannot do video (minutes per frame); use --method johnson or adain")
    if len(args.style) != 1:
        raise StyleTransferError("a video takes one style (no blends)")
    styles = resolve_styles([parse_style(args.style[0])])
    check_method(args.method, styles)
    info = probe(content)
    from .video import VideoOptions, stylize_video

    kw = {"max_side": args.size or 640, "alpha": args.alpha, "preserve_color": args.preserve_color,
          "device": args.device, "backend": args.backend, "threads": args.threads, "stroke": args.stroke,
          "texture": args.texture, **_adain_options(args)}
    if args.smooth is not None:
        kw["smooth"] = args.smooth
    if args.max_seconds is not None:
        kw["max_seconds"] = args.max_seconds
    options = VideoOptions(**kw)
    bar = None
    progress = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=max(1, min(options.max_frames, int(min(info.duration or 1e9, options.max_seconds)
                                                            * info.fps) or 1)),
                   desc=args.method, unit="frame", file=sys.stderr, dynamic_ncols=True, leave=False)

        def progress(done: int, total: int, extra: dict) -> None:
            bar.total = total
            bar.update(done - bar.n)

    try:
        result = stylize_video(content, args.output, styles[0], args.method, options, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if not args.quiet:
        note = f", trimmed to the first {result.frames} frames" if result.trimmed else ""
        sound = ", with sound" if result.audio else ""
        print(f"wrote {args.output} ({result.width}×{result.height}, {result.frames} frames at {result.fps:.3g} fps"
              f"{sound}{note}; {args.method}, {result.seconds:.1f} s, {result.frames / result.seconds:.1f} frames/s, "
              f"flicker {result.flicker:.2f})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the exit status (0 ok, 1 error, 2 usage, 130 interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["presets"]:
        if len(argv) > 1:
            return _fail("'stylize presets' takes no arguments", 2)
        return list_presets()
    if argv[:1] == ["prepare"]:
        if len(argv) > 1:
            return _fail("'stylize prepare' takes no arguments", 2)
        try:
            return prepare()
        except StyleTransferError as exc:
            return _fail(str(exc))
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


def entry() -> None:
    """The ``stylize`` console script: :func:`main`, then leave without the interpreter's
    teardown (ONNX Runtime's sessions and memory arena freed page by page, every module
    unloaded): Johnson at 512 px took 0.37 instead of 0.40 s (0.92x, 25 alternating pairs on
    2 Xeon cores), AdaIN at 1024 px 0.99x. Every file the command writes is closed when
    :func:`main` returns; standard output and error are flushed here."""
    import os

    status = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    entry()
