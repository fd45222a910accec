"""Honest time estimates for a job, from this deployment's own finished jobs when
there are some, else from priors measured on the project's 2-core CPU (``bench/RESULTS.md``)."""

from __future__ import annotations

# seconds per optimisation step per megapixel, fp32 CPU (Gatys 384 px, 200 L-BFGS
# evaluations took ~124 s on the project's 2-core machine => ~4.2 s/step/MP incl. scales)
GATYS_S_PER_STEP_MP_CPU = 4.5
GPU_SPEEDUP = 25.0
FEED_FORWARD_S = {"adain": 3.0, "johnson": 2.0}


def _work(options: dict, default_steps: int, default_side: int) -> float:
    steps = options.get("steps") or default_steps
    side = options.get("max_side") or default_side
    return steps * (side * side * 0.75) / 1e6  # typical 4:3 photo


def estimate_seconds(method: str, *, steps: int, max_side: int, device: str,
                     history: list[tuple[float, dict]] | None = None) -> float:
    """Expected wall time in seconds of one job (queue wait excluded)."""
    if method != "gatys":
        return FEED_FORWARD_S.get(method, 3.0)
    work = _work({"steps": steps, "max_side": max_side}, steps, max_side)
    rates = [s / w for s, o in (history or []) if (w := _work(o, steps, max_side)) > 0]
    if rates:
        rate = sorted(rates)[len(rates) // 2]
    else:
        rate = GATYS_S_PER_STEP_MP_CPU / (GPU_SPEEDUP if device == "cuda" else 1.0)
    return max(1.0, rate * work + 2.0)
