"""The Gatys studies of the seed reports, re-measured with our implementation (issue #13).

Produces under ``--out`` (default ``docs/study/``), with fixed seeds:

1. ``optimizers.png``: total loss and our style distance against wall-clock seconds for
   L-BFGS, Adam and SGD, single-scale and multi-scale (learning rates in the legend);
2. ``alpha_beta.jpg``: a contact sheet over content/style weight ratios (5 ratios, 4 decades);
3. ``tv.jpg``: total-variation weight 0 and three others;
4. ``layers.jpg``: style-layer sets (relu1_1 only … relu1_1–relu5_1) and content layers
   (relu2_2, relu3_2, relu4_2);
5. ``pooling_init.md``: max vs average pooling × init from the content vs noise (a table);

each sheet with the content/style distances (``styletransfer.metrics``) under every image,
and ``results.json`` with every number. Default: tubingen × 3 presets at 512 px, 40 L-BFGS
evaluations per sweep cell, 60 per optimizer curve (tubingen × starry_night): 28 minutes on
an idle 2-core Xeon without AMX (measured 2026-11-22; ``--steps 150 --curve-steps 200`` for
converged pictures, ~2 h there); ``--quick``: 96 px, few steps, one preset (a couple of
minutes; the test uses it).

Example::

    python bench/gatys_study.py            # docs/study/, then read docs/STUDY.md
    python bench/gatys_study.py --quick --out /tmp/study
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PIL import Image, ImageDraw  # noqa: E402

SAMPLE = REPO / "styletransfer" / "samples" / "tubingen.jpg"
PRESETS = ("starry_night", "the_scream", "great_wave")
#: step sizes (pixels in [0, 1]); tuned on tubingen × starry_night at 256 px, 60 evaluations
LR = {"lbfgs": 1.0, "adam": 0.02, "sgd": 0.002}
RATIOS = (1e-1, 1e0, 1e1, 1e2, 1e3)  # style weight / content weight, 4 decades
TV = (0.0, 1e-3, 1e-2, 1e-1)
STYLE_SETS = (("relu1_1",), ("relu1_1", "relu2_1"), ("relu1_1", "relu2_1", "relu3_1"),
              ("relu1_1", "relu2_1", "relu3_1", "relu4_1"),
              ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"))
CONTENT_LAYERS = ("relu2_2", "relu3_2", "relu4_2")
CELL = 360  # px, longer side of a contact-sheet cell


def _load(path: Path, size: int):
    from styletransfer.engine import image_to_tensor
    from styletransfer.images import fit_max_side, open_image

    return image_to_tensor(fit_max_side(open_image(path), size))


def _run(content, style, steps: int, **kw) -> tuple:
    """(image tensor, seconds, [(t, loss, step)])."""
    from styletransfer.gatys import clear_style_cache, stylize_gatys

    clear_style_cache()
    curve: list[tuple[float, float, int]] = []
    t0 = time.perf_counter()

    def progress(step, total, info):
        curve.append((time.perf_counter() - t0, info["loss"], step))

    kw.setdefault("seed", 0)
    out = stylize_gatys(content, [style], steps=steps, progress=progress, device="cpu", **kw)
    return out, time.perf_counter() - t0, curve


def _dist(out, content, style) -> tuple[float, float]:
    from styletransfer.metrics import distances

    return distances(out, content, style)


def _sheet(rows: list[tuple[str, list[tuple[str, object]]]], path: Path) -> None:
    """A labelled grid: one row per label, cells (caption, image tensor)."""
    from styletransfer.engine import tensor_to_image

    cells = []
    for _, row in rows:
        cells.append([])
        for cap, img in row:
            pic = tensor_to_image(img)
            pic.thumbnail((CELL, CELL))  # the sheets stay small enough for the repository
            cells[-1].append((cap, pic))
    w = max(im.width for row in cells for _, im in row)
    h = max(im.height for row in cells for _, im in row)
    label_w, cap_h = 110, 30
    cols = max(len(r) for r in cells)
    sheet = Image.new("RGB", (label_w + cols * w, len(cells) * (h + cap_h)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, ((label, _), row) in enumerate(zip(rows, cells)):
        y = r * (h + cap_h)
        draw.text((4, y + h // 2), label, fill="black")
        for c, (cap, im) in enumerate(row):
            x = label_w + c * w
            sheet.paste(im, (x, y))
            for k, line in enumerate(cap.split("\n")[:2]):
                draw.text((x + 2, y + h + 2 + 13 * k), line, fill="black")
    sheet.save(path, quality=88)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=REPO / "docs" / "study")
    p.add_argument("--photo", type=Path, default=SAMPLE)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--steps", type=int, default=40, help="loss evaluations per run (sweeps)")
    p.add_argument("--curve-steps", type=int, default=60, help="evaluations per optimizer curve")
    p.add_argument("--presets", default=",".join(PRESETS))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="96 px, 12 steps, one preset: a smoke run")
    args = p.parse_args(argv)
    if args.quick:
        args.size, args.steps, args.curve_steps, args.presets = 96, 12, 16, PRESETS[0]
    import torch

    torch.set_num_threads(args.threads)
    from styletransfer.gatys import DEFAULT_CONTENT_WEIGHT, DEFAULT_STYLE_WEIGHT, DEFAULT_TV_WEIGHT
    from styletransfer.presets import preset_path

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    presets = [x for x in args.presets.split(",") if x]
    content = _load(args.photo, args.size)
    styles = {name: _load(preset_path(name), args.size) for name in presets}
    results: dict = {"settings": {"size": args.size, "steps": args.steps, "curve_steps": args.curve_steps,
                                  "photo": args.photo.name, "presets": presets, "threads": args.threads,
                                  "defaults": {"content_weight": DEFAULT_CONTENT_WEIGHT,
                                               "style_weight": DEFAULT_STYLE_WEIGHT, "tv_weight": DEFAULT_TV_WEIGHT},
                                  "lr": LR}}
    t_all = time.perf_counter()

    # 1. optimizers: loss and style distance against seconds
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = styles[presets[0]]
    _run(content, first, 2, scales=1)  # warm-up (first-call costs out of the first curve)
    curves = {}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), dpi=100)
    for opt in ("lbfgs", "adam", "sgd"):
        for scales in (1, 3):
            img, secs, curve = _run(content, first, args.curve_steps, optimizer=opt, scales=scales, lr=LR[opt])
            c, s = _dist(img, content, first)
            key = f"{opt}, {'multi' if scales > 1 else 'single'}-scale"
            curves[key] = {"seconds": round(secs, 2), "content": round(c, 4), "style": round(s, 4),
                           "final_loss": curve[-1][1] if curve else None}
            style = "-" if scales > 1 else "--"
            last_scale = [(t, loss) for t, loss, _ in curve]
            ax1.plot([t for t, _ in last_scale], [v for _, v in last_scale], style, label=f"{key} (lr {LR[opt]:g})")
            ax2.scatter([secs], [s], label=key)
    ax1.set_yscale("log")
    ax1.set_xlabel("seconds")
    ax1.set_ylabel("total loss (weighted)")
    ax1.set_title(f"{args.photo.stem} × {presets[0]}, {args.size} px, {args.curve_steps} evaluations", fontsize=9)
    ax1.legend(fontsize=7)
    ax1.grid(alpha=0.3)
    ax2.set_xlabel("seconds to finish")
    ax2.set_ylabel("style distance at the end (lower: closer)")
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "optimizers.png")
    plt.close(fig)
    results["optimizers"] = curves

    def sweep(name: str, variants: list[tuple[str, dict]], file: str) -> None:
        rows, nums = [], {}
        for preset in presets:
            row = []
            for label, kw in variants:
                img, secs, _ = _run(content, styles[preset], args.steps, **kw)
                c, s = _dist(img, content, styles[preset])
                nums[f"{preset} | {label}"] = {"content": round(c, 4), "style": round(s, 4), "seconds": round(secs, 1)}
                row.append((f"{label}\nc {c:.3f}  s {s:.4f}", img))
            rows.append((preset, row))
        _sheet(rows, out / file)
        results[name] = nums

    # 2. content/style weight ratio (alpha/beta of the paper, as style weight / content weight)
    sweep("alpha_beta", [(f"style/content {r:g}", {"content_weight": 1.0, "style_weight": r}) for r in RATIOS],
          "alpha_beta.jpg")
    # 3. total variation
    sweep("tv", [(f"tv {t:g}", {"tv_weight": t}) for t in TV], "tv.jpg")
    # 4. layers: style sets, then content layers (with all five style layers)
    sweep("layers", [(f"style 1_1..{s[-1].removeprefix('relu')}", {"style_layers": s}) for s in STYLE_SETS]
          + [(f"content {c.removeprefix('relu')}", {"content_layer": c}) for c in CONTENT_LAYERS], "layers.jpg")
    # 5. pooling x init: a table
    table = ["| pooling | init | preset | content distance | style distance | seconds |", "|---|---|---|---|---|---|"]
    pool_init = {}
    for pooling in ("max", "avg"):
        for init in ("content", "noise"):
            for preset in presets:
                img, secs, _ = _run(content, styles[preset], args.steps, pooling=pooling, init=init)
                c, s = _dist(img, content, styles[preset])
                pool_init[f"{pooling} | {init} | {preset}"] = {"content": round(c, 4), "style": round(s, 4)}
                table.append(f"| {pooling} | {init} | {preset} | {c:.3f} | {s:.4f} | {secs:.1f} |")
    (out / "pooling_init.md").write_text("\n".join(table) + "\n")
    results["pooling_init"] = pool_init
    results["total_seconds"] = round(time.perf_counter() - t_all, 1)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}: optimizers.png alpha_beta.jpg tv.jpg layers.jpg pooling_init.md results.json "
          f"in {results['total_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
