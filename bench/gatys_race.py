"""Gatys against pastiche: time to the same style distance, and time for the same steps (issue #5).

One content photo × one preset at ``--size`` px (default tubingen × Starry
Night at 512 px), both runs on this machine, one after the other in one run:

1. pastiche (its CLI, default losses and weights, ``--pastiche-steps`` L-BFGS
   steps) saves its image every ``--every`` steps; each saved image is scored
   with :mod:`styletransfer.metrics`, giving pastiche's style and content
   distance against its own elapsed time (its log; optimisation only, its
   model load and set-up before step 0 are left out, which favours pastiche).
2. ours (``styletransfer.engine.stylize``, method ``gatys``, our defaults but
   ``steps``) runs with a growing step budget (``--our-steps``), each a
   complete warm call in this process (VGG loaded, Gram targets recomputed),
   timed and scored the same way.

Reported: pastiche's final style distance D and its time T; the first of our
budgets whose style distance is ≤ D, its time and the ratio to T (the target
of issue #5 is < 0.5); and our time for pastiche's number of steps.

Example::

    python bench/gatys_race.py --pastiche-steps 200 --json bench/out/gatys_race.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--photo", default="tubingen", help="eval photo stem (default tubingen)")
    p.add_argument("--preset", default="starry_night")
    p.add_argument("--size", type=int, default=512, help="longer side, px (default 512)")
    p.add_argument("--pastiche-steps", type=int, default=200, help="pastiche L-BFGS steps (its default is 1000)")
    p.add_argument("--every", type=int, default=10, help="score pastiche's image every N steps (default 10)")
    p.add_argument("--our-steps", default="10,20,30,50,80,120,200,300",
                   help="our step budgets to try, ascending (default 10,20,30,50,80,120,200,300)")
    p.add_argument("--threads", type=int, default=None, help="torch threads for both (default torch's)")
    p.add_argument("--json", type=Path, help="write all points here as JSON")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    from styletransfer import engine, metrics
    from styletransfer.gatys import clear_style_cache
    from styletransfer.vgg import load_vgg19

    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # for the pastiche subprocess
    photo = common.photo_paths(common.DEFAULT_EVAL_DIR, [args.photo])[0]
    content = common.load_rgb(photo, args.size)
    style = common.load_rgb(common.preset_path(args.preset), args.size)
    vgg = load_vgg19("cpu")
    x = common.to_tensor(content)
    grams = metrics.style_grams(common.to_tensor(style), vgg)

    def score(img) -> tuple[float, float]:
        y = common.to_tensor(img)
        return metrics.distances(y, x, grams, vgg)

    points: dict[str, list[dict]] = {"pastiche": [], "ours": []}
    with tempfile.TemporaryDirectory(prefix="gatys_race_") as tmp:
        tmp = Path(tmp)
        content.save(tmp / "content.png")
        style.save(tmp / "style.png")
        print(f"pastiche: {args.pastiche_steps} steps at {args.size} px …", file=sys.stderr, flush=True)
        run = common.run_pastiche(tmp / "content.png", tmp / "style.png", tmp / "out.png", size=args.size,
                                  steps=args.pastiche_steps, info_step=args.every, workspace=tmp / "ws",
                                  workspace_step=args.every)
        log = {step: elapsed for step, elapsed, _loss in run["log"]}
        t0 = log.get(0, 0.0)
        for step in sorted(log):
            # pastiche zero-pads the names of its workspace images to the width of the last step
            names = [f"{step:0{len(str(args.pastiche_steps))}d}.png", f"{step}.png"]
            img_path = next((tmp / "ws" / n for n in names if (tmp / "ws" / n).exists()), None)
            if step == 0 or img_path is None:
                continue
            c, s = score(common.open_image(img_path))
            points["pastiche"].append({"steps": step, "seconds": log[step] - t0, "content": c, "style": s})
            print(f"  pastiche step {step}: {log[step] - t0:.1f} s, style {s:.4f}, content {c:.4f}",
                  file=sys.stderr, flush=True)
        pastiche_wall = run["seconds"]

    final = points["pastiche"][-1]
    budgets = [int(b) for b in args.our_steps.split(",") if b]
    engine.stylize(content, args.preset, method="gatys",
                   options=engine.StyleOptions(steps=5, max_side=args.size, device="cpu"))  # warm-up: loads VGG
    reached = None
    for steps in budgets:
        clear_style_cache()
        t = time.perf_counter()
        out = engine.stylize(content, args.preset, method="gatys",
                             options=engine.StyleOptions(steps=steps, max_side=args.size, device="cpu", seed=0))
        seconds = time.perf_counter() - t
        c, s = score(out)
        points["ours"].append({"steps": steps, "seconds": seconds, "content": c, "style": s})
        print(f"  ours {steps} steps: {seconds:.1f} s, style {s:.4f}, content {c:.4f}", file=sys.stderr, flush=True)
        if reached is None and s <= final["style"]:
            reached = points["ours"][-1]
        if reached is not None and steps >= args.pastiche_steps:
            break

    lines = [
        f"{args.photo} × {args.preset}, {content.width}×{content.height} px, CPU, "
        f"{torch.get_num_threads()} torch threads, load avg {os.getloadavg()[0]:.1f} at the end",
        "",
        "| run | steps | seconds | style dist | content dist |",
        "|---|---|---|---|---|",
    ]
    for who in ("pastiche", "ours"):
        for pt in points[who]:
            if who == "pastiche" and pt["steps"] % max(args.every, args.pastiche_steps // 10) and pt is not final:
                continue
            name = "pastiche (defaults)" if who == "pastiche" else "ours (Gatys, defaults)"
            lines.append(f"| {name} | {pt['steps']} | {pt['seconds']:.1f} | {pt['style']:.4f} | {pt['content']:.4f} |")
    lines.append("")
    lines.append(f"pastiche: {final['steps']} steps in {final['seconds']:.1f} s of optimisation "
                 f"({pastiche_wall:.1f} s for the whole process), final style distance {final['style']:.4f}.")
    if reached:
        ratio = reached["seconds"] / final["seconds"]
        lines.append(f"ours reaches style distance ≤ {final['style']:.4f} with {reached['steps']} steps in "
                     f"{reached['seconds']:.1f} s: **{ratio:.2f}× pastiche's time** "
                     f"({'PASS' if ratio < 0.5 else 'FAIL'}, target < 0.5×).")
    else:
        lines.append(f"ours did not reach style distance {final['style']:.4f} within {budgets[-1]} steps: FAIL.")
    same = next((pt for pt in points["ours"] if pt["steps"] == args.pastiche_steps), None)
    if same:
        lines.append(f"same number of steps ({same['steps']}): ours {same['seconds']:.1f} s vs pastiche "
                     f"{final['seconds']:.1f} s = {same['seconds'] / final['seconds']:.2f}×.")
    print("\n".join(lines))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "points": points,
                                         "pastiche_wall_s": pastiche_wall}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
