"""The one queue interface of the bot, and what both job engines share.

Data flows one way: a handler (:mod:`bot.telegram`) creates a job row and wakes the
queue; the queue hands a :class:`JobSpec` to inference (:mod:`bot.jobs.inference`, the
only caller of the ``styletransfer`` library); events come back (:class:`Progress`, then
one outcome: :class:`Done`, :class:`Failed` or :class:`Cancelled`) and :class:`JobQueue`
records the outcome and hands it to the delivery (the Telegram side, passed in as an
object with the :class:`Delivery` methods, so nothing here imports the conversation).

Two engines implement :class:`JobQueue`:

* :class:`bot.jobs.local.LocalQueue` (default): the database is the queue (SQLite or
  PostgreSQL), one inference process spawned by the bot paints one job at a time.
* :class:`bot.jobs.procrastinate.ProcrastinateQueue` (``DATABASE_URL`` on PostgreSQL):
  jobs go through Procrastinate to any number of ``stylebot-worker`` processes.

Jobs left ``running`` by a stopped or crashed bot are painted again after a restart, and
a result is sent only after the job's row moved from an unfinished status to ``done``
(:meth:`Store.finish_job`), so every job gets exactly one result. Nothing here imports torch.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

from .. import texts
from ..i18n import language, set_language
from .metrics import Metrics

if TYPE_CHECKING:
    from ..config import Settings
    from ..store.db import Store
    from ..store.models import Job

__all__ = ["JobSpec", "Progress", "Done", "Failed", "Cancelled", "Ready", "Outcome", "Delivery", "Inference",
           "JobQueue"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobSpec:
    """What the inference process needs to run one job.

    ``style``: a preset name or an image path; ``alpha`` in [0, 1];
    ``max_side``: longest side of the result in pixels; ``steps``: Gatys
    iterations (None = library default); ``output_path``: where the result goes
    (PNG for a photo, MP4 for ``media`` video/animation/video_note);
    ``max_seconds``: a longer clip is cut to its first seconds; ``stroke``: the brush size
    (1 = medium; :mod:`styletransfer.scale`); ``texture``: laid over the photo before the
    style (``"canvas"``; None: none; :mod:`styletransfer.texture`)."""

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
    stroke: float = 1.0
    texture: str | None = None


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


class Delivery(Protocol):
    """What a queue tells the user with (:class:`bot.telegram.delivery.Delivery`)."""

    async def queued(self, job: "Job", position: int) -> None: ...
    async def started(self, job: "Job") -> None: ...
    async def progress(self, job: "Job", event: Progress) -> None: ...
    async def result(self, job: "Job", outcome: Done) -> int | None: ...
    async def failed(self, job: "Job", reason: str) -> None: ...
    async def cancelled(self, job: "Job") -> None: ...


class Inference(Protocol):
    """What paints (the ``worker`` of a queue): the embedded inference process
    (:class:`bot.jobs.local.InferenceWorker`) or the pool of ``stylebot-worker`` processes
    (:class:`bot.jobs.procrastinate.WorkerPool`). ``run`` paints one /survey picture."""

    ready_s: float | None
    restarts: int

    @property
    def current_job(self) -> int | None: ...
    def is_alive(self) -> bool: ...
    def start(self) -> None: ...
    async def stop(self, timeout: float = ...) -> None: ...
    async def run(self, spec: JobSpec, on_progress: Callable[[Progress], None] | None = None) -> Outcome: ...
    def cancel(self, job_id: int) -> bool: ...


class JobQueue:
    """The queue both engines share: the job's spec, recording and delivering its outcome
    exactly once, queue positions, progress, the job's folder.

    An engine implements :meth:`start`, :meth:`wake`, :meth:`busy` and
    :meth:`cancel_user_jobs`; ``worker`` is its :class:`Inference`.
    """

    def __init__(self, store: "Store", worker: Inference, delivery: Delivery, settings: "Settings") -> None:
        self.store, self.worker, self.delivery, self.settings = store, worker, delivery, settings
        self.metrics = Metrics()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._progress_tasks: dict[int, asyncio.Task] = {}
        self._finishing: asyncio.Task | None = None
        self.gatys_history: list[tuple[float, dict]] = []  # (seconds, options) of recent Gatys jobs

    # what each engine does its own way ------------------------------------------------
    def start(self) -> None:
        """Start the queue's loop (an asyncio task)."""
        raise NotImplementedError

    def wake(self) -> None:
        """A job was queued (or cancelled): look at the queue now."""
        raise NotImplementedError

    async def busy(self) -> bool:
        """True while users' jobs wait or run (the /survey pictures wait for them)."""
        raise NotImplementedError

    async def cancel_user_jobs(self, user_id: int) -> int:
        """Cancel a user's queued jobs and ask their running one to stop; returns how many."""
        raise NotImplementedError

    # shared -------------------------------------------------------------------------
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

    def spec_for(self, job: "Job") -> JobSpec:
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
            stroke=float(options.get("stroke", 1.0)), texture=options.get("texture"),
        )

    async def _finish(self, job: "Job", outcome: object) -> None:
        from telegram.error import TelegramError, TimedOut  # not at import: the inference process imports this module

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

    def _on_progress(self, job: "Job", event: Progress) -> None:
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

    def cleanup(self, job: "Job") -> None:
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
        from telegram.error import TelegramError

        try:
            await coro
        except TelegramError as exc:
            log.warning("telegram call failed: %s", exc)
