"""Training speed of both trainers: s/step and images per CPU-second, before/after
in one run (issue #9, part 1).

Each row runs ``stylize-train`` in a fresh process: ``--warmup`` steps, then
``--resume`` to ``warmup + steps``; the step time is the difference of the two
cards' ``wall_time_s`` (the trainer's own per-step clock, data included) over
``steps``. Rows alternate round by round, so a drift in machine speed moves
all of them alike. "before" rows run the library exported from ``--before``
(a git ref, default the commit before the cached trainer landed); "after"
rows run this checkout. Setup (decoding the images, building the feature and
statistics banks) is reported apart: it is paid once per crop size and cached.

Example (the issue's baseline is the first row, 2 threads)::

    python bench/train_speed.py --threads 2
    python bench/train_speed.py --threads 1 --rows adain-before-bf16,adain-cached --steps 10
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import export_tree  # noqa: E402
from common import REPO  # noqa: E402

SHARED = Path(os.environ.get("STYLEBOT_SHARED_DATA") or REPO.parent / "shared" / "data")
BASELINE_REF = "a11b6ec"

#: name -> (side, method, extra argv, description)
ROWS = {
    "adain-before-bf16": ("before", "adain", ["--bf16"], "old trainer, bf16 (the issue's baseline)"),
    "adain-before-fp32": ("before", "adain", ["--no-bf16"], "old trainer, fp32"),
    "adain-cached": ("after", "adain", ["--no-bf16"], "cached features + style statistics, fp32"),
    "adain-cached-bf16": ("after", "adain", ["--bf16"], "cached, bf16"),
    "adain-cached-half": ("after", "adain", ["--no-bf16", "--width", "0.5"], "cached, half-width decoder, fp32"),
    "adain-inverter": ("after", "adain", ["--no-bf16", "--inverter-steps", "100000"],
                       "cached, feature-inverter phase (pixel loss only), fp32"),
    "adain-inverter-half": ("after", "adain", ["--no-bf16", "--width", "0.5", "--inverter-steps", "100000"],
                            "half-width, inverter phase, fp32"),
    "johnson-before-bf16": ("before", "johnson", ["--bf16"], "old trainer, bf16"),
    "johnson-before-fp32": ("before", "johnson", ["--no-bf16"], "old trainer, fp32"),
    "johnson-ram": ("after", "johnson", ["--no-bf16"], "images in RAM, fp32"),
}


def _argv(method: str, args, extra: list[str], work: Path, side: str) -> list[str]:
    crop = args.adain_crop if method == "adain" else args.johnson_crop
    batch = args.adain_batch if method == "adain" else args.johnson_batch
    argv = [method, "--content", str(SHARED / "train" / "content"), "--crop", str(crop), "--batch", str(batch),
            "--out", str(work / f"{method}.safetensors"), "--state", str(work / f"{method}.state.pt"),
            "--checkpoint-every", "0", "--quiet", "--threads", str(args.threads), "--device", "cpu"]
    if method == "adain":
        argv += ["--style", str(SHARED / "train" / "style")]
        if side == "after":
            argv += ["--bank-size", str(args.bank_size), "--style-bank-size", str(args.bank_size),
                     "--cache-dir", str(args.cache_dir)]
    else:
        argv += ["--style", "starry_night"]
    if side == "after":
        argv += ["--no-eval"]
    return argv + extra


def _run(src: Path, side: str, argv: list[str], timeout: int) -> float:
    entry = "styletransfer.train" if side == "before" else "styletransfer.training.cli"
    code = f"import sys; sys.path.insert(0, {str(src)!r}); from {entry} import main; sys.exit(main(sys.argv[1:]))"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=timeout,
                          cwd=str(src))
    if proc.returncode != 0:
        raise RuntimeError(f"stylize-train failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def measure(name: str, src: Path, args, work_root: Path) -> dict:
    side, method, extra, _ = ROWS[name]
    work = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=work_root))
    argv = _argv(method, args, extra, work, side)
    first = _run(src, side, argv + ["--steps", str(args.warmup)], args.timeout)
    card1 = json.loads((work / f"{method}.json").read_text())
    _run(src, side, argv + ["--steps", str(args.warmup + args.steps), "--resume"], args.timeout)
    card2 = json.loads((work / f"{method}.json").read_text())
    s_step = (card2["wall_time_s"] - card1["wall_time_s"]) / args.steps
    batch = args.adain_batch if method == "adain" else args.johnson_batch
    return {"s_step": s_step, "images_s": batch / s_step, "images_cpu_s": batch / s_step / args.threads,
            "first_process_s": first - card1["wall_time_s"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", default=BASELINE_REF, help=f"git ref of the old trainer (default {BASELINE_REF})")
    p.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated subset of: {', '.join(ROWS)}")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=20, help="timed steps per row")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first (oneDNN warm-up)")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--adain-crop", type=int, default=128)
    p.add_argument("--adain-batch", type=int, default=8)
    p.add_argument("--johnson-crop", type=int, default=192)
    p.add_argument("--johnson-batch", type=int, default=4)
    p.add_argument("--bank-size", type=int, default=400, help="content/style bank size of the cached rows")
    p.add_argument("--cache-dir", type=Path, default=None, help="bank cache (default: a fresh temp folder)")
    p.add_argument("--timeout", type=int, default=3600)
    args = p.parse_args(argv)
    rows = [r for r in args.rows.split(",") if r]
    bad = [r for r in rows if r not in ROWS]
    if bad:
        p.error(f"unknown rows {bad}")
    if not (SHARED / "train" / "content").is_dir():
        print(f"no training data at {SHARED}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="train-speed-") as tmp:
        tmp = Path(tmp)
        before_src = tmp / "before"
        before_src.mkdir()
        sha = export_tree(args.before, before_src)
        if args.cache_dir is None:
            args.cache_dir = tmp / "cache"
        got: dict[str, list[dict]] = {r: [] for r in rows}
        for rnd in range(args.rounds):
            for r in rows:
                src = before_src if ROWS[r][0] == "before" else REPO
                res = measure(r, src, args, tmp)
                got[r].append(res)
                print(f"round {rnd + 1} {r}: {res['s_step']:.3f} s/step", file=sys.stderr, flush=True)
        cache_meta = {m.name: json.loads(m.read_text()) for m in args.cache_dir.glob("*.json")} \
            if args.cache_dir.is_dir() else {}
    base = {m: next((r for r in rows if ROWS[r][1] == m and ROWS[r][0] == "before"), None) for m in ("adain", "johnson")}
    lines = [f"before = {args.before} ({sha[:10]}); {args.threads} thread(s); {args.steps} timed steps after "
             f"{args.warmup}; AdaIN crop {args.adain_crop} batch {args.adain_batch}; Johnson crop "
             f"{args.johnson_crop} batch {args.johnson_batch}; median of {args.rounds} round(s)", "",
             "| row | what | s/step | images/s | images per CPU-s | vs first 'before' row of its method |",
             "|---|---|---|---|---|---|"]
    med = {r: statistics.median(x["s_step"] for x in got[r]) for r in rows}
    for r in rows:
        side, method, _, what = ROWS[r]
        batch = args.adain_batch if method == "adain" else args.johnson_batch
        ref = base[method]
        ratio = f"**{med[ref] / med[r]:.2f}×**" if ref and ref != r else "1.00×" if ref == r else "n/a"
        lines.append(f"| {r} | {what} | {med[r]:.3f} | {batch / med[r]:.2f} | {batch / med[r] / args.threads:.2f} "
                     f"| {ratio} |")
    for name, meta in sorted(cache_meta.items()):
        lines.append(f"\nbank {name}: {meta['count']} crops built in {meta['built_s']} s "
                     f"({1000 * meta['built_s'] / meta['count']:.1f} s per 1000 crops, paid once per crop size)")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
