"""ONNX Runtime on the CPU, shared by the methods' graphs: where graphs are cached, one
session per graph and thread count (one memory arena for the process), pictures as numpy
arrays, and painting several video frames one per core.

Painting needs only numpy, Pillow and onnxruntime (no torch); exporting a graph
(:mod:`styletransfer.onnx.export`) needs torch.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import StyleTransferError

__all__ = ["OnnxUnavailable", "cache_dir", "gpu_present", "on_cpu", "to_array", "to_image", "runtime_installed",
           "session", "cores", "per_core"]


class OnnxUnavailable(StyleTransferError):
    """No ONNX graph for this preset in the cache, or onnxruntime is not installed."""


def cache_dir() -> Path:
    """``$STYLETRANSFER_ONNX_CACHE``, else ``$XDG_CACHE_HOME/stylebot/onnx`` (``~/.cache``)."""
    if os.environ.get("STYLETRANSFER_ONNX_CACHE"):
        return Path(os.environ["STYLETRANSFER_ONNX_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stylebot" / "onnx"


def gpu_present() -> bool:
    """An NVIDIA (or WSL) GPU device node exists: the fast methods then stay in torch on the GPU.
    Checked without importing torch."""
    return os.path.exists("/dev/nvidiactl") or os.path.exists("/dev/dxg")


def on_cpu(device: str | None) -> bool:
    """A ``--device`` / ``options.device`` value means the CPU here: ``"cpu"``, or ``"auto"``
    (or empty) on a machine without a GPU (:func:`gpu_present`). Checked without torch."""
    return device == "cpu" or (device in ("auto", "", None) and not gpu_present())


def to_array(image: Image.Image) -> np.ndarray:
    """RGB PIL image -> (1, 3, H, W) float32 in [0, 1] (value / 255)."""
    return np.ascontiguousarray((np.asarray(image.convert("RGB"), dtype=np.float32) / np.float32(255.0))
                                .transpose(2, 0, 1)[None])


def to_image(frame: np.ndarray) -> Image.Image:
    """(3, H, W) float in [0, 1] -> RGB PIL image (value * 255, rounded)."""
    return Image.fromarray(np.rint(np.clip(frame, 0.0, 1.0).transpose(1, 2, 0) * 255.0).astype(np.uint8), "RGB")


def runtime_installed() -> bool:
    """onnxruntime can be imported (checked without importing it)."""
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


_SESSIONS: dict[tuple[str, int], object] = {}


def session(path: Path, threads: int | None):
    """A cached ONNX Runtime CPU session of the graph at ``path`` on ``threads`` intra-op
    threads (None: all cores).

    Memory patterns are off: with them a session plans one block per input shape on its
    second run of that shape and faults it in anew, so a worker painting photos of many sizes
    grew to 1.25 GB instead of 0.77 GB and an AdaIN job at 1024 px took 1.9 instead of 0.8 s
    when its shape came round again (8 photos of 5 sizes, 2 Xeon cores: 6.4 against 7.8 s);
    Johnson's nets, as fast either way, in 281 instead of 434 MB.

    Raises:
        ImportError: onnxruntime is not installed.
    """
    key = (str(path), threads or 0)
    if key not in _SESSIONS:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.enable_mem_pattern = False
        if _shared_arena(ort):
            options.add_session_config_entry("session.use_env_allocators", "1")
        _SESSIONS[key] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return _SESSIONS[key]


_ARENA: list[bool] = []


def _shared_arena(ort) -> bool:
    """Register one CPU memory arena for every session of this process (once). AdaIN's
    encoder and decoder then reuse the same pages instead of each faulting in its own: for a
    1024x768 photo, 587 instead of 795 MB resident, 142k instead of 196k page faults, and the
    decoder's first run 0.38 instead of 0.43 s (2 Xeon cores). False where this build of
    onnxruntime cannot (each session keeps its own arena)."""
    if not _ARENA:
        try:
            info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
            ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, -1, -1, -1))
            _ARENA.append(True)
        except Exception:  # noqa: BLE001 - an older or stripped build: private arenas
            _ARENA.append(False)
    return _ARENA[0]


def cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


_POOL: dict[int, object] = {}


def per_core(paint, frames: np.ndarray, threads: int | None = None) -> np.ndarray:
    """``paint(batch, threads) -> batch`` over ``frames`` (N, ...): one frame per core at once,
    each on a single-threaded session, when there are several frames and cores (on a 2-core
    CPU, 640x360 frames: 1.2x the frames per second of splitting each frame over both cores
    for a Johnson net, ``bench/ort_graph.py``; 1.17x for AdaIN, 1.37 against 1.60 s for 4
    frames); one call on ``threads`` (None: all cores) otherwise. Returns the painted frames
    in order, concatenated."""
    workers = min(len(frames), threads or cores())
    if workers <= 1:
        return paint(frames, threads)
    from concurrent.futures import ThreadPoolExecutor

    pool = _POOL.get(workers)
    if pool is None:
        pool = _POOL[workers] = ThreadPoolExecutor(workers, thread_name_prefix="ort-frames")
    return np.concatenate(list(pool.map(lambda i: paint(frames[i:i + 1], 1), range(len(frames)))))
