"""The narrow interface between the bot process and the inference process.

The bot sends a :class:`JobSpec` (file paths, method, options) and receives
:class:`Progress` events and exactly one outcome per job: :class:`Done`,
:class:`Failed` or :class:`Cancelled`.  :class:`InferenceWorker` owns the
inference process (multiprocessing, "spawn" context, see :mod:`bot.worker`);
a reader thread forwards its events to the event loop with
``loop.call_soon_threadsafe`` so the loop never blocks.  If the process dies the
running job fails with ``worker_died=True`` and the process is restarted.

Nothing here imports torch.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

__all__ = ["JobSpec", "Progress", "Done", "Failed", "Cancelled", "Outcome", "InferenceWorker"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobSpec:
    """What the inference process needs to run one job.

    ``style``: a preset name or an image path; ``alpha`` in [0, 1];
    ``max_side``: longest side of the result in pixels; ``steps``: Gatys
    iterations (None = library default); ``output_path``: where the result goes
    (PNG for a photo, MP4 for ``media`` video/animation/video_note);
    ``max_seconds``: a longer clip is cut to its first seconds."""

    job_id: int
    content_path: str
    style: str
    method: str
    output_path: str
    alpha: float = 1.0
    preserve_color: bool = False
    max_side: int = 1024
    steps: int | None = None
    device: str = "auto"
    media: str = "photo"
    max_seconds: float = 30.0


@dataclass(frozen=True)
class Progress:
    job_id: int
    step: int
    total: int
    stage: str = ""


@dataclass(frozen=True)
class Done:
    """A finished job. ``ran``: the method and options the inference process actually
    ran with (method, alpha, preserve_color, max_side, steps, width/height of the result):
    the caption is built from it, so it shows what was painted, not what was asked."""

    job_id: int
    output_path: str
    seconds: float
    ran: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Failed:
    """``message`` is user-facing when ``user_error`` (bad input, missing checkpoint)."""

    job_id: int
    message: str
    user_error: bool = False
    worker_died: bool = False


@dataclass(frozen=True)
class Cancelled:
    job_id: int


@dataclass(frozen=True)
class Ready:
    """Sent once by a freshly started inference process, after it imported torch
    and loaded the trained nets (``warm_s``: seconds that took inside the process)."""

    pid: int
    warm_s: float = 0.0


Outcome = Done | Failed | Cancelled


@dataclass
class _Generation:
    process: mp.Process
    requests: mp.Queue
    events: mp.Queue
    cancel: object  # mp.Event
    stop: threading.Event = field(default_factory=threading.Event)


class InferenceWorker:
    """Runs jobs one at a time in a separate process and restarts it if it dies."""

    def __init__(self, poll_s: float = 0.2, device: str = "auto") -> None:
        self._ctx = mp.get_context("spawn")
        self._poll_s = poll_s
        self._device = device
        self._spawned_at = 0.0
        #: seconds from spawn to the process's Ready (imports and nets loaded), or None before
        self.ready_s: float | None = None
        self._gen: _Generation | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._current: tuple[int, asyncio.Future, Callable[[Progress], None] | None] | None = None
        self._lock = asyncio.Lock()
        self.restarts = 0

    # lifecycle ----------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self._gen.process.pid if self._gen else None

    def is_alive(self) -> bool:
        return bool(self._gen and self._gen.process.is_alive())

    def start(self) -> None:
        """Spawn the inference process (models load lazily on its first job)."""
        from .worker import worker_main

        self._loop = asyncio.get_running_loop()
        requests, events, cancel = self._ctx.Queue(), self._ctx.Queue(), self._ctx.Event()
        process = self._ctx.Process(target=worker_main, args=(requests, events, cancel, self._device),
                                    name="stylebot-inference", daemon=True)
        self._spawned_at = time.monotonic()
        self.ready_s = None
        process.start()
        gen = _Generation(process, requests, events, cancel)
        self._gen = gen
        threading.Thread(target=self._read_events, args=(gen,), name="stylebot-inference-reader", daemon=True).start()
        log.info("inference process started (pid %s)", process.pid)

    async def stop(self, timeout: float = 5.0) -> None:
        """Ask the process to exit (terminate it after ``timeout`` s)."""
        gen, self._gen = self._gen, None
        if gen is None:
            return
        gen.stop.set()
        gen.cancel.set()
        try:
            gen.requests.put_nowait(None)
        except Exception:  # noqa: BLE001 - queue may be broken if the process died
            pass
        await asyncio.to_thread(gen.process.join, timeout)
        if gen.process.is_alive():
            gen.process.terminate()
            await asyncio.to_thread(gen.process.join, 2)
        if gen.process.is_alive():
            gen.process.kill()
        self._fail_current(Failed(self._current[0], "stopped", worker_died=True) if self._current else None)

    def _restart(self) -> None:
        gen, self._gen = self._gen, None
        if gen is not None:
            gen.stop.set()
            if gen.process.is_alive():
                gen.process.kill()
        self.restarts += 1
        self.start()

    # jobs ---------------------------------------------------------------------------
    async def run(self, spec: JobSpec, on_progress: Callable[[Progress], None] | None = None) -> Outcome:
        """Run one job and return its outcome.  Never raises for job errors: a dead
        process gives ``Failed(worker_died=True)`` and a fresh process."""
        async with self._lock:
            if self._gen is None or not self._gen.process.is_alive():
                self._restart()
            assert self._gen is not None and self._loop is not None
            future: asyncio.Future = self._loop.create_future()
            self._current = (spec.job_id, future, on_progress)
            self._gen.cancel.clear()
            self._gen.requests.put(spec)
            try:
                outcome = await future
            finally:
                self._current = None
            if isinstance(outcome, Failed) and outcome.worker_died and self._gen is not None:
                log.error("inference process died during job %s; restarting it", spec.job_id)
                self._restart()
            return outcome

    def cancel(self, job_id: int) -> bool:
        """Ask the running job to stop (checked by the engine's cancel hook)."""
        if self._current and self._current[0] == job_id and self._gen is not None:
            self._gen.cancel.set()
            return True
        return False

    @property
    def current_job(self) -> int | None:
        return self._current[0] if self._current else None

    # event plumbing (reader thread -> loop) -----------------------------------------------
    def _read_events(self, gen: _Generation) -> None:
        while not gen.stop.is_set():
            try:
                event = gen.events.get(timeout=self._poll_s)
            except queue.Empty:
                if not gen.process.is_alive() and not gen.stop.is_set():
                    # drain anything the process sent before dying
                    try:
                        while True:
                            self._post(gen.events.get_nowait())
                    except (queue.Empty, Exception):  # noqa: BLE001
                        pass
                    self._post(_Died(gen.process.exitcode))
                    return
                continue
            except (EOFError, OSError):
                self._post(_Died(gen.process.exitcode))
                return
            self._post(event)

    def _post(self, event: object) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._dispatch, event)
            except RuntimeError:  # loop closed meanwhile
                pass

    def _dispatch(self, event: object) -> None:
        if isinstance(event, Ready):
            self.ready_s = time.monotonic() - self._spawned_at
            log.info("inference process ready in %.1f s (pid %s)", self.ready_s, event.pid)
            return
        current = self._current
        if isinstance(event, _Died):
            if current is not None:
                self._fail_current(Failed(current[0], f"inference process exited with code {event.exitcode}", worker_died=True))
            return
        if current is None or getattr(event, "job_id", None) != current[0]:
            return
        job_id, future, on_progress = current
        if isinstance(event, Progress):
            if on_progress is not None:
                try:
                    on_progress(event)
                except Exception:  # noqa: BLE001 - a progress display must not kill the job
                    log.exception("progress callback failed")
        elif not future.done():
            future.set_result(event)

    def _fail_current(self, outcome: Failed | None) -> None:
        if outcome is not None and self._current is not None and not self._current[1].done():
            self._current[1].set_result(outcome)


@dataclass(frozen=True)
class _Died:
    exitcode: int | None
