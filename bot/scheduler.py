"""The job queue: the database is the queue (FIFO by job id), one job runs at a
time in the inference process, and users see their position and progress.

Jobs left ``running`` by a stopped or crashed bot are re-queued at start-up
(:meth:`Store.requeue_unfinished`), so a restart still delivers exactly one
result per job: a result is sent only after the job's row moved from an
unfinished status to ``done``.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

from telegram.error import TelegramError, TimedOut

from . import texts
from .config import Settings
from .db import Store
from .delivery import Delivery
from .i18n import language, set_language
from .jobs import Cancelled, Done, Failed, InferenceWorker, JobSpec, Progress
from .models import Job

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, store: Store, worker: InferenceWorker, delivery: Delivery, settings: Settings) -> None:
        from .metrics import Metrics

        self.store, self.worker, self.delivery, self.settings = store, worker, delivery, settings
        self.metrics = Metrics()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._progress_tasks: dict[int, asyncio.Task] = {}
        self._finishing: asyncio.Task | None = None
        self.gatys_history: list[tuple[float, dict]] = []  # (seconds, options) of recent Gatys jobs

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

    async def stop(self, timeout: float = 60.0) -> None:
        """Stop taking jobs; a running job stays ``running`` in the DB and is re-queued
        at the next start.  A job whose outcome is being delivered is waited for (up to
        ``timeout`` s)."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._finishing is not None and not self._finishing.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._finishing), timeout)
            except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - logged by the task itself
                log.warning("gave up waiting for the delivery of a finished job")
        for task in self._progress_tasks.values():
            task.cancel()

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

    def spec_for(self, job: Job) -> JobSpec:
        options = job.options or {}
        media = str(options.get("media", "photo"))
        return JobSpec(
            job_id=job.id, content_path=job.content_path, style=job.style_path or job.style_name,
            method=job.method,
            output_path=str(Path(job.content_path).parent / ("result.png" if media == "photo" else "result.mp4")),
            alpha=float(options.get("alpha", 1.0)), preserve_color=bool(options.get("preserve_color", False)),
            max_side=int(options.get("max_side", self.settings.max_side)),
            steps=options.get("steps"), device=self.settings.device, media=media,
            max_seconds=float(options.get("max_seconds", self.settings.video_max_seconds)),
        )

    async def run_job(self, job: Job) -> None:
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

    async def _finish(self, job: Job, outcome: object) -> None:
        media = str((job.options or {}).get("media", "photo"))
        kind = {Done: "done", Cancelled: "cancelled", Failed: "failed"}.get(type(outcome), "failed")
        self.metrics.finished(job.method, media, kind, getattr(outcome, "seconds", None))
        if isinstance(outcome, Done):
            if job.method == "gatys":
                self.gatys_history.insert(0, (outcome.seconds, dict(job.options or {})))
                del self.gatys_history[5:]
            if await self.store.finish_job(job.id, "done", seconds=outcome.seconds):
                try:
                    message_id = await self.delivery.result(job, outcome)
                    await self.store.update_job(job.id, result_message_id=message_id)
                except TimedOut as exc:
                    # Telegram has most likely got the upload and only its answer was late:
                    # sending it again (or saying it failed) would be wrong more often than right
                    log.warning("sending the result of job %s timed out (%s); not sent again", job.id, exc)
                except (TelegramError, OSError) as exc:
                    log.error("could not deliver the result of job %s: %s", job.id, exc)
                    await self._safe(self.delivery.failed(job, texts.SEND_FAILED))
        elif isinstance(outcome, Cancelled):
            if await self.store.finish_job(job.id, "cancelled"):  # False after /forget: nothing to tell
                await self._safe(self.delivery.cancelled(job))
        elif isinstance(outcome, Failed):
            if await self.store.finish_job(job.id, "failed", error=outcome.message):
                reason = (texts.WORKER_DIED if outcome.worker_died
                          else outcome.message if outcome.user_error else texts.INTERNAL_FAILURE)
                await self._safe(self.delivery.failed(job, reason))
        self.cleanup(job)

    def _on_progress(self, job: Job, event: Progress) -> None:
        # called from the event reader's loop callback, outside the job's task: set the job's language here
        pending = self._progress_tasks.get(job.id)
        if pending is None or pending.done():
            async def report() -> None:
                set_language((job.options or {}).get("lang"))
                await self._safe(self.delivery.progress(job, event))

            self._progress_tasks[job.id] = asyncio.create_task(report())

    async def announce_positions(self) -> None:
        for position, queued in enumerate(await self.store.queued_jobs(), start=2):
            with language((queued.options or {}).get("lang")):
                await self._safe(self.delivery.queued(queued, position))

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

    def cleanup(self, job: Job) -> None:
        """Remove the job's own folder (copies of its inputs and its result)."""
        folder = Path(job.content_path).parent
        try:
            jobs_root = self.settings.jobs_dir.resolve()
            if folder.resolve().parent == jobs_root:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass

    @staticmethod
    async def _safe(coro) -> None:
        try:
            await coro
        except TelegramError as exc:
            log.warning("telegram call failed: %s", exc)
