"""The bot's side of the scale-out mode: jobs go to ``stylebot-worker`` processes through
the task engine (:mod:`bot.engine`) instead of the embedded inference process.

:class:`EngineScheduler` has the interface of :class:`bot.scheduler.Scheduler` (the
handlers do not know which one runs) and reuses its delivery of outcomes. One loop:

1. **dispatch**: a queued job without an engine job gets its inputs copied into
   ``job_files`` and a ``stylebot.paint`` task (queueing lock ``job-<id>``: never twice);
2. **watch**: for every dispatched unfinished job, a worker's start edits the status
   message, its progress (step k of n) fills the bar, its outcome is recorded with a
   conditional update (``finish_job``: queued/running -> final) and delivered, so a
   result goes out exactly once however many bots, restarts or workers saw it;
3. **sweep**: jobs of workers whose heartbeat stopped (killed, machine gone) are retried
   on another worker, up to ``MAX_ATTEMPTS`` paintings, then fail with "worker died".

A bot restart loses nothing: the engine keeps the tasks and the loop picks the jobs up
from the database. Nothing here imports torch.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import texts
from .engine import PAINT_TASK, QUEUE, make_app
from .i18n import set_language
from .jobs import Cancelled, Done, Failed, Progress
from .models import Job
from .scheduler import Scheduler

__all__ = ["EngineScheduler", "EngineWorkers", "MAX_ATTEMPTS"]

log = logging.getLogger(__name__)

#: paintings of one job before it fails with "worker died" (a job that kills workers)
MAX_ATTEMPTS = 3


class EngineWorkers:
    """What the bot knows of the workers (the ``worker`` of the embedded mode's interface):
    live ones from the engine's heartbeats, and the local ones it started (``WORKERS``)."""

    def __init__(self, database_url: str, local: int, settings) -> None:
        self.database_url, self.local, self.settings = database_url, local, settings
        self.processes: list[subprocess.Popen] = []
        self.live = 0
        self.restarts = 0
        self.ready_s: float | None = None
        self.current_job: int | None = None

    def start(self) -> None:
        """Start ``WORKERS`` local ``stylebot-worker`` processes (they inherit the settings)."""
        for i in range(self.local):
            self.processes.append(self._spawn(i))

    def _spawn(self, index: int) -> subprocess.Popen:
        env = dict(os.environ)
        env.update({"DATABASE_URL": self.database_url, "DEVICE": self.settings.device,
                    "WORKER_NAME": f"{os.uname().nodename}-bot{os.getpid()}-{index}",
                    "WORKER_HEARTBEAT_S": str(self.settings.worker_heartbeat_s),
                    "STYLEBOT_PARENT_PID": str(os.getpid())})  # it exits with the bot
        process = subprocess.Popen([sys.executable, "-m", "bot.engine_worker"], env=env,
                                   start_new_session=True)
        log.info("started local worker %d (pid %s)", index, process.pid)
        return process

    def check_local(self) -> None:
        """Restart a local worker that exited (its job is swept and retried)."""
        for i, process in enumerate(self.processes):
            if process.poll() is not None:
                log.error("local worker %d exited with code %s; starting it again", i, process.returncode)
                self.restarts += 1
                self.processes[i] = self._spawn(i)

    def is_alive(self) -> bool:
        return self.live > 0 or any(p.poll() is None for p in self.processes)

    async def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the local workers: each finishes its job first (up to ``timeout`` s)."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.processes:
            while process.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            if process.poll() is None:
                process.kill()
        self.processes.clear()

    app = None  # the engine and the store, set by EngineScheduler
    store = None

    async def run(self, spec, on_progress=None, timeout: float = 3600.0):
        """Paint a /survey picture on a worker (the survey's interface to the inference
        process): its inputs go in the task's arguments, the PNG comes back through
        ``survey_renders``. Users' jobs go first (lower priority)."""
        import base64
        import uuid

        from styletransfer.presets import is_preset

        from .engine import QUEUE, SURVEY_PRIORITY, SURVEY_TASK

        render_id = f"{-spec.job_id}-{uuid.uuid4().hex}"
        started = time.monotonic()
        try:
            content = base64.b64encode(await asyncio.to_thread(Path(spec.content_path).read_bytes)).decode()
            style = None if is_preset(spec.style) else \
                base64.b64encode(await asyncio.to_thread(Path(spec.style).read_bytes)).decode()
        except OSError as exc:
            return Failed(spec.job_id, f"survey inputs unreadable: {exc}")
        await self.app.configure_task(SURVEY_TASK, queue=QUEUE, priority=SURVEY_PRIORITY).defer_async(
            render_id=render_id, content=content, style=style,
            spec={"method": spec.method, "style": spec.style, "max_side": spec.max_side, "steps": spec.steps})
        while time.monotonic() - started < timeout:
            row = await self.store.take_survey_render(render_id)
            if row is not None:
                if row.data is None:
                    return Failed(spec.job_id, row.error or "failed")
                out = Path(spec.output_path)
                out.parent.mkdir(parents=True, exist_ok=True)
                await asyncio.to_thread(out.write_bytes, row.data)
                return Done(spec.job_id, str(out), time.monotonic() - started, {"method": spec.method})
            await asyncio.sleep(1.0)
        return Failed(spec.job_id, "no worker painted the survey picture in time")

    def cancel(self, job_id: int) -> bool:
        return False


class EngineScheduler(Scheduler):
    """:class:`~bot.scheduler.Scheduler` for the scale-out mode (see the module docstring)."""

    def __init__(self, store, workers: EngineWorkers, delivery, settings, poll_s: float = 0.5) -> None:
        super().__init__(store, workers, delivery, settings)
        self.app = make_app(settings.database_url)
        workers.app, workers.store = self.app, store
        self.poll_s = poll_s
        self._seen: dict[int, tuple] = {}  # job id -> (status, progress step) last shown
        self._last_sweep = 0.0

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="stylebot-engine-scheduler")

    async def open(self) -> None:
        await self.app.open_async()

    async def stop(self, timeout: float = 60.0) -> None:
        await super().stop(timeout)
        await self.app.close_async()

    def wake(self) -> None:
        self._wake.set()

    async def busy(self) -> bool:
        return await self.store.unfinished_total() > 0

    async def _loop(self) -> None:
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the database or engine hiccuped: try again
                log.exception("engine scheduler step failed")
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
            except asyncio.TimeoutError:
                pass

    async def step(self) -> None:
        for job in await self.store.jobs_to_dispatch():
            await self.dispatch(job)
        for job in await self.store.dispatched_jobs():
            await self.watch(job)
        if time.monotonic() - self._last_sweep >= max(1.0, self.settings.worker_heartbeat_s):
            self._last_sweep = time.monotonic()
            await self.sweep()

    # 1. dispatch ----------------------------------------------------------------------
    async def dispatch(self, job: Job) -> None:
        """Copy the job's inputs into the database and defer its paint task."""
        from procrastinate.exceptions import AlreadyEnqueued

        try:
            for kind, path in (("content", job.content_path), ("style", job.style_path)):
                if path:
                    data = await asyncio.to_thread(Path(path).read_bytes)
                    await self.store.put_job_file(job.id, kind, Path(path).name, data)
        except OSError as exc:  # the bot's copy is gone (disk cleaned): tell the user
            log.error("inputs of job %s are missing: %s", job.id, exc)
            await self._finish(job, Failed(job.id, texts.JOB_IMAGE_UNUSABLE, user_error=True))
            return
        spec = self.spec_for(job)
        paint = {"method": spec.method, "alpha": spec.alpha, "preserve_color": spec.preserve_color,
                 "max_side": spec.max_side, "steps": spec.steps, "media": spec.media, "max_seconds": spec.max_seconds,
                 "style": job.style_name, "style_is_file": bool(job.style_path)}
        try:
            engine_id = await self.app.configure_task(PAINT_TASK, queue=QUEUE, queueing_lock=f"job-{job.id}") \
                .defer_async(job_id=job.id, spec=paint)
        except AlreadyEnqueued:  # deferred before a restart, not recorded: find it
            found = await self.app.job_manager.list_jobs_async(queueing_lock=f"job-{job.id}")
            engine_id = next(iter(found)).id
        await self.store.update_job(job.id, engine_job_id=engine_id)
        log.info("job %s deferred to the task engine (engine job %s)", job.id, engine_id)

    # 2. watch -------------------------------------------------------------------------
    async def watch(self, job: Job) -> None:
        set_language((job.options or {}).get("lang"))
        seen = self._seen.get(job.id)
        if job.outcome is not None:
            self._seen.pop(job.id, None)
            self._finishing = asyncio.create_task(self._finish(job, self._outcome(job)))
            await asyncio.shield(self._finishing)
            return
        if job.status == "running" and (seen is None or seen[0] != "running"):
            self._seen[job.id] = ("running", None)
            await self._safe(self.delivery.started(job))
            await self.announce_positions()
            return
        if job.status == "running" and job.progress_total and seen and seen[1] != job.progress_step:
            self._seen[job.id] = ("running", job.progress_step)
            self._on_progress(job, Progress(job.id, job.progress_step or 0, job.progress_total,
                                            job.progress_stage or ""))
        elif seen is None:
            self._seen[job.id] = (job.status, None)

    def _outcome(self, job: Job) -> object:
        info = job.outcome_info or {}
        if job.outcome == "done":
            return _StoredDone(job.id, "", float(job.seconds or 0.0), dict(info.get("ran") or {}), self.store)
        if job.outcome == "cancelled":
            return Cancelled(job.id)
        return Failed(job.id, str(info.get("message") or "failed"), user_error=bool(info.get("user_error")),
                      worker_died=bool(info.get("worker_died")))

    async def _finish(self, job: Job, outcome: object) -> None:
        if isinstance(outcome, _StoredDone):
            # the result from the database into the job's folder, where delivery reads it
            files = await self.store.job_files(job.id, "result")
            if "result" not in files:
                outcome = Failed(job.id, "the worker's result is missing")
            else:
                name, data = files["result"]
                folder = Path(job.content_path).parent
                path = folder / name
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                    await asyncio.to_thread(path.write_bytes, data)
                    outcome = Done(job.id, str(path), outcome.seconds, outcome.ran)
                except OSError as exc:
                    outcome = Failed(job.id, f"could not write the result: {exc}")
        await super()._finish(job, outcome)
        await self.store.delete_job_files(job.id)

    # 3. sweep -------------------------------------------------------------------------
    async def sweep(self) -> None:
        """Retry the jobs of dead workers; count the live ones (heartbeat within the limit)."""
        manager = self.app.job_manager
        stalled_s = 3 * self.settings.worker_heartbeat_s
        self.worker.check_local()
        row = await self.app.connector.execute_query_one_async(
            "SELECT count(*) AS n FROM procrastinate_workers WHERE last_heartbeat > "
            "NOW() - (%(s)s || ' SECOND')::INTERVAL", s=stalled_s)
        self.worker.live = int(row["n"])
        for engine_job in await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_s):
            if engine_job.task_name != PAINT_TASK:  # a /survey picture: paint it again
                await manager.retry_job(engine_job)
                continue
            job_id = int(engine_job.task_kwargs.get("job_id", 0))
            job = await self.store.get_job(job_id)
            if job is None or job.status not in ("queued", "running") or job.outcome is not None:
                await manager.finish_job_by_id_async(engine_job.id, status=_aborted(), delete_job=False)
                continue
            if (job.attempts or 0) >= MAX_ATTEMPTS:
                log.error("job %s killed %d workers; giving up", job_id, job.attempts)
                await manager.finish_job_by_id_async(engine_job.id, status=_aborted(), delete_job=False)
                await self.store.set_outcome(job_id, "failed", {"message": "worker died", "worker_died": True})
                continue
            log.warning("worker of job %s stopped (no heartbeat for %.0f s); painting it again", job_id, stalled_s)
            await manager.retry_job(engine_job)

    async def cancel_user_jobs(self, user_id: int) -> int:
        """Cancel a user's jobs: queued ones at once, running ones through the engine's abort
        (the worker stops at its next step and reports ``cancelled``)."""
        count = 0
        for job in await self.store.active_jobs(user_id):
            if job.status == "running" and job.engine_job_id is not None:
                await self.app.job_manager.cancel_job_by_id_async(job.engine_job_id, abort=True)
                count += 1
            elif await self.store.finish_job(job.id, "cancelled"):
                if job.engine_job_id is not None:
                    await self.app.job_manager.cancel_job_by_id_async(job.engine_job_id, abort=True)
                await self.store.delete_job_files(job.id)
                await self._safe(self.delivery.cancelled(job))
                self.cleanup(job)
                count += 1
        return count


def _aborted():
    from procrastinate.jobs import Status

    return Status.ABORTED


class _StoredDone:
    """A ``done`` outcome whose result is still in the database."""

    def __init__(self, job_id: int, output_path: str, seconds: float, ran: dict, store) -> None:
        self.job_id, self.output_path, self.seconds, self.ran, self.store = job_id, output_path, seconds, ran, store
