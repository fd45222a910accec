"""The inference process: the only place where :mod:`styletransfer.engine` (and
therefore torch) is imported.

Started by :class:`bot.jobs.InferenceWorker` with the multiprocessing "spawn"
context.  It reads :class:`~bot.jobs.JobSpec` from a request queue, runs
:func:`styletransfer.engine.stylize` (models stay loaded between jobs), writes the
result PNG and answers with progress events and one outcome per job.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from pathlib import Path

from .jobs import Cancelled, Done, Failed, JobSpec, Progress

__all__ = ["worker_main", "run_job"]

log = logging.getLogger("bot.worker")

PROGRESS_MIN_INTERVAL_S = 0.25


def run_job(spec: JobSpec, emit, cancel) -> object:
    """Run one job in this process; returns the outcome event (also used directly by tests)."""
    from styletransfer.errors import Cancelled as EngineCancelled
    from styletransfer.errors import StyleTransferError

    last = [0.0]

    def progress(step: int, total: int, info: dict | None = None) -> None:
        now = time.monotonic()
        if step >= total or now - last[0] >= PROGRESS_MIN_INTERVAL_S:
            last[0] = now
            emit(Progress(spec.job_id, int(step), int(total), str((info or {}).get("stage", ""))))

    started = time.perf_counter()
    try:
        from styletransfer.engine import StyleOptions, stylize

        options = StyleOptions(
            alpha=spec.alpha, preserve_color=spec.preserve_color, max_side=spec.max_side,
            steps=spec.steps, device=spec.device,
        )
        image = stylize(spec.content_path, spec.style, method=spec.method, options=options,
                        progress=progress, cancel=cancel)
        out = Path(spec.output_path)
        out.parent.mkdir(parents=True, exist_ok=True)
        image.save(out, format="PNG")
        return Done(spec.job_id, str(out), time.perf_counter() - started)
    except EngineCancelled:
        return Cancelled(spec.job_id)
    except StyleTransferError as exc:
        return Failed(spec.job_id, str(exc), user_error=True)
    except Exception as exc:  # noqa: BLE001 - report, keep the process alive
        log.error("job %s failed:\n%s", spec.job_id, traceback.format_exc())
        return Failed(spec.job_id, f"{type(exc).__name__}: {exc}")


def _exit_with_parent(parent_pid: int, interval_s: float = 1.0) -> None:
    """Daemon thread: end this process when the bot process is gone (e.g. SIGKILLed),
    so no orphan keeps computing."""
    while True:
        time.sleep(interval_s)
        if os.getppid() != parent_pid:
            os._exit(0)


def worker_main(requests, events, cancel_event) -> None:
    """Process entry point: serve jobs until a ``None`` request arrives."""
    import threading

    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s[inference]: %(message)s")
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    from .jobs import Ready

    events.put(Ready(os.getpid()))
    while True:
        spec = requests.get()
        if spec is None:
            break
        outcome = run_job(spec, events.put, cancel_event.is_set)
        events.put(outcome)
    # flush our events, then leave without running torch's slow interpreter teardown
    events.close()
    events.join_thread()
    os._exit(0)
