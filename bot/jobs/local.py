"""The default job engine: the database is the queue (FIFO by job id) and one inference
process, spawned by the bot, paints one job at a time.

* :class:`InferenceWorker` owns the inference process (multiprocessing, "spawn" context;
  :func:`worker_main` is its entry point): it sends a :class:`~bot.jobs.queue.JobSpec` and
  gets :class:`~bot.jobs.queue.Progress` events and one outcome per job; a reader thread
  forwards them to the event loop with ``loop.call_soon_threadsafe`` so the loop never
  blocks. If the process dies the running job fails with ``worker_died=True`` and the
  process is started again.
* :class:`LocalQueue` takes the oldest queued job, runs it on the inference process and
  delivers its outcome (:class:`~bot.jobs.queue.JobQueue`). A user's job that arrives
  while a /survey picture is painted (negative job id) cancels that picture.

Jobs left ``running`` by a stopped or crashed bot are re-queued at start-up
(:meth:`Store.requeue_unfinished`). The bot process never imports torch: only the
inference process does (:mod:`bot.jobs.inference`).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from .. import texts
from ..i18n import set_language
from .inference import exit_with_parent, export_onnx_after, run_job, warm_up
from .queue import Failed, JobQueue, JobSpec, Outcome, Progress, Ready

if TYPE_CHECKING:
    from ..store.models import Job

__all__ = ["InferenceWorker", "LocalQueue", "worker_main"]

log = logging.getLogger(__name__)


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
        """Spawn the inference process (it loads the nets before it says Ready)."""
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


def worker_main(requests, events, cancel_event, device: str = "auto") -> None:
    """Process entry point: warm up, say Ready, serve jobs until a ``None`` request arrives."""
    import threading

    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s[inference]: %(message)s")
    threading.Thread(target=exit_with_parent, args=(os.getppid(),), daemon=True).start()

    events.put(Ready(os.getpid(), warm_up(device)))
    while True:
        spec = requests.get()
        if spec is None:
            break
        outcome = run_job(spec, events.put, cancel_event.is_set)
        events.put(outcome)
        export_onnx_after(spec, outcome)
    # flush our events, then leave without running torch's slow interpreter teardown
    events.close()
    events.join_thread()
    os._exit(0)


class LocalQueue(JobQueue):
    """The queue of the embedded inference process (see the module docstring)."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="stylebot-scheduler")

    def wake(self) -> None:
        """A job was queued: pick it up; a survey picture being painted (negative job id,
        :mod:`bot.survey`) is cancelled so the user does not wait for it."""
        self._wake.set()
        current = self.worker.current_job
        if current is not None and current < 0:
            self.worker.cancel(current)

    async def busy(self) -> bool:
        """True while user jobs wait or one runs (background survey painting waits)."""
        current = self.worker.current_job
        return (current is not None and current > 0) or await self.store.queued_total() > 0

    async def _loop(self) -> None:
        while True:
            job = await self.store.next_queued()
            if job is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                await self.run_job(job)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one bad job must not stop the queue
                log.exception("job %s crashed the scheduler step", job.id)
                set_language((job.options or {}).get("lang"))
                if await self.store.finish_job(job.id, "failed", error="scheduler error"):
                    await self._safe(self.delivery.failed(job, texts.INTERNAL_FAILURE))
                    self.cleanup(job)

    async def run_job(self, job: "Job") -> None:
        set_language((job.options or {}).get("lang"))  # this job's texts, and the tasks it starts
        if not await self.store.mark_running(job.id):
            return  # cancelled (or forgotten) after it was picked: it must not run
        job.status = "running"
        await self._safe(self.delivery.started(job))
        await self.announce_positions()
        outcome = await self.worker.run(self.spec_for(job), on_progress=lambda event: self._on_progress(job, event))
        pending = self._progress_tasks.pop(job.id, None)
        if pending is not None:
            pending.cancel()
        # recording and delivering the outcome is not interrupted by a shutdown (stop()
        # waits for it): a job marked done has always had its result sent
        self._finishing = asyncio.create_task(self._finish(job, outcome))
        await asyncio.shield(self._finishing)

    async def cancel_user_jobs(self, user_id: int) -> int:
        """Cancel a user's queued jobs and ask their running job to stop; returns how many."""
        count = 0
        for job in await self.store.active_jobs(user_id):
            if job.status == "running" and self.worker.cancel(job.id):
                count += 1
            elif await self.store.finish_job(job.id, "cancelled"):
                await self._safe(self.delivery.cancelled(job))
                self.cleanup(job)
                count += 1
        return count
