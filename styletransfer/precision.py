"""bfloat16 or float32? Measured once per machine, not guessed from CPU flags.

On CPUs, bf16 autocast pays only where the hardware runs bf16 convolutions
fast, and the flags do not tell: measured here with the same VGG-19 pass at
128 px, batch 4, 1 thread, bf16 took 0.38 s and fp32 0.21 s on an Intel Xeon
with AVX-512 BF16 but no AMX, while on a 2-core AMD EPYC (also AVX-512 BF16,
no AMX) bf16 was ~2x faster than fp32 (``../shared/NOTES.md``), and on AMX
Xeons bf16 wins by more. So :func:`prefer_bf16` times one 3x3 convolution both
ways (~0.2 s) the first time it is asked on a machine, and keeps the answer in
``~/.cache/stylebot/precision.json`` (keyed by CPU model, flags and torch
version). ``STYLETRANSFER_BF16=1`` or ``=0`` overrides it.

CUDA: bf16 where the GPU supports it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from pathlib import Path

import torch

__all__ = ["prefer_bf16", "measure_cpu_bf16_speedup", "cache_path"]

#: bf16 must be at least this much faster to be chosen (it also costs a little accuracy).
MIN_SPEEDUP = 1.15


def cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stylebot" / "precision.json"


def _cpu_key() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="ignore")
    except OSError:
        text = ""
    model = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")), "?")
    flags = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("flags")), "")
    bf16_flags = " ".join(sorted(f for f in flags.split() if "bf16" in f or f.startswith("amx")))
    raw = f"{model}|{bf16_flags}|{torch.__version__}|{torch.get_num_threads()}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def measure_cpu_bf16_speedup(repeats: int = 5) -> float:
    """fp32 time / bf16-autocast time of a 3x3 conv, 128 -> 128 channels on a
    (1, 128, 64, 64) channels-last input (the shape class of the VGG and the
    Johnson/AdaIN nets); > 1 means bf16 is faster. Takes ~0.2 s."""
    conv = torch.nn.Conv2d(128, 128, 3, padding=1).to(memory_format=torch.channels_last).eval()
    x = torch.rand(1, 128, 64, 64).contiguous(memory_format=torch.channels_last)

    def best(bf16: bool) -> float:
        times = []
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            for i in range(repeats + 2):
                t0 = time.perf_counter()
                conv(x)
                if i >= 2:
                    times.append(time.perf_counter() - t0)
        return min(times)

    fp32 = best(False)
    bf16 = best(True)
    return fp32 / bf16


@functools.lru_cache(maxsize=None)
def _cpu_prefers_bf16() -> bool:
    env = os.environ.get("STYLETRANSFER_BF16")
    if env in ("0", "1"):
        return env == "1"
    key = _cpu_key()
    path = cache_path()
    try:
        cached = json.loads(path.read_text())
        if key in cached:
            return bool(cached[key]["bf16"])
    except (OSError, ValueError, KeyError, TypeError):
        cached = {}
    speedup = measure_cpu_bf16_speedup()
    choice = speedup >= MIN_SPEEDUP
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        cached = cached if isinstance(cached, dict) else {}
        cached[key] = {"bf16": choice, "speedup": round(speedup, 3), "measured": time.strftime("%Y-%m-%d")}
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cached, indent=1) + "\n")
        os.replace(tmp, path)
    except OSError:
        pass  # read-only home: measure again next time
    return choice


def prefer_bf16(device: str | torch.device) -> bool:
    """Whether bf16 autocast should be used for the convolutions on ``device``
    (see the module docstring). Never raises."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    try:
        return _cpu_prefers_bf16()
    except Exception:  # noqa: BLE001 - a measurement problem must not break inference
        return False
