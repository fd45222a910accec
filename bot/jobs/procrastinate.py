"""The scale-out job engine: Procrastinate on the bot's PostgreSQL database, and the
``stylebot-worker`` processes that paint.

Why Procrastinate: the jobs already live in PostgreSQL, so the queue needs no second
server (Celery would need Redis or RabbitMQ); it is asyncio-native like the bot; it has
what the bot needs from a task engine: a queueing lock per job (a job is never deferred
twice), abort of a running job, worker heartbeats and a query for the jobs of dead
workers, LISTEN/NOTIFY so an idle worker starts a job at once.

Two tasks in the Procrastinate queue ``paint``: ``stylebot.paint(job_id, spec)`` for
users' jobs, and ``stylebot.paint_survey(render_id, spec, content, style)`` (lower
priority) for the /survey pictures. Inputs and results travel through the database
(``job_files``/``survey_renders``, bytea; a survey picture's inputs in the task's
arguments), progress and outcome through the job's row.

The bot's side, :class:`ProcrastinateQueue` (a :class:`~bot.jobs.queue.JobQueue`; the
handlers do not know which engine runs), is one loop:

1. **dispatch**: a queued job without a task gets its inputs copied into ``job_files``
   and a ``stylebot.paint`` task (queueing lock ``job-<id>``: never twice);
2. **watch**: for every dispatched unfinished job, a worker's start edits the status
   message, its progress (step k of n) fills the bar, its outcome is recorded with a
   conditional update (``finish_job``: queued/running -> final) and delivered, so a
   result goes out exactly once however many bots, restarts or workers saw it;
3. **sweep**: jobs of workers whose heartbeat stopped (killed, machine gone) are retried
   on another worker, up to ``MAX_ATTEMPTS`` paintings, then fail with "worker died".

:class:`WorkerPool` is what the bot knows of the workers: the live ones (heartbeats) and
the ``WORKERS`` local ones it starts itself.

The worker's side, ``stylebot-worker`` (:func:`main`): runs Procrastinate's worker (one
job at a time); :func:`paint` claims the job in the database, reads its inputs, paints
it with :func:`bot.jobs.inference.run_job` in a thread (torch lives in the worker
process; models stay loaded between jobs), writes progress at most every
``PROGRESS_EVERY_S``, and the result and outcome at the end.

- Cancel: the bot asks Procrastinate to abort; the paint thread sees ``should_abort`` at
  its next step and the outcome is ``cancelled``.
- Killed (``kill -9``, machine lost): the heartbeat stops, the bot's sweep gives the job
  to another worker; the bot delivers one result whatever happens.
- SIGTERM: the worker finishes its job, then exits.

Worker settings (environment): ``DATABASE_URL`` (PostgreSQL, required), ``DEVICE``
(auto|cpu|cuda), ``WORKER_THREADS`` (torch CPU threads, 0 = torch's default),
``WORKER_NAME``, ``WORKER_HEARTBEAT_S`` (default 5), ``WORKER_HEALTH_FILE`` (touched at
every heartbeat; ``stylebot-worker --check`` reads it: the container healthcheck),
``LOG_LEVEL``. The bot process imports no torch from here.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from .. import texts
from ..i18n import set_language
from .inference import exit_with_parent, export_onnx_after, run_job, warm_up
from .queue import Cancelled, Done, Failed, JobQueue, JobSpec, Progress

if TYPE_CHECKING:
    from ..store.models import Job

__all__ = ["PAINT_TASK", "SURVEY_TASK", "SURVEY_PRIORITY", "QUEUE", "MAX_ATTEMPTS", "conninfo", "make_app",
           "ensure_schema", "is_postgres", "WorkerPool", "ProcrastinateQueue", "WorkerSettings", "paint",
           "paint_survey", "main"]

log = logging.getLogger(__name__)

PAINT_TASK = "stylebot.paint"
SURVEY_TASK = "stylebot.paint_survey"
QUEUE = "paint"
#: Procrastinate fetches higher priorities first: users' jobs before /survey pictures
SURVEY_PRIORITY = -10


def is_postgres(database_url: str) -> bool:
    from sqlalchemy.engine import make_url

    return make_url(database_url).get_backend_name() == "postgresql"


def conninfo(database_url: str) -> str:
    """libpq URI for psycopg (Procrastinate's connector) from the bot's SQLAlchemy URL:
    ``postgresql+asyncpg://u:p@host:5432/db`` -> ``postgresql://u:p@host:5432/db``."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def make_app(database_url: str):
    """A :class:`procrastinate.App` on ``database_url`` (not opened)."""
    import procrastinate

    return procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(database_url)))


async def ensure_schema(database_url: str) -> bool:
    """Create Procrastinate's tables once (True when it did). Processes starting at once
    are serialised by a transaction-level advisory lock."""
    import psycopg
    from procrastinate.schema import SchemaManager

    async with await psycopg.AsyncConnection.connect(conninfo(database_url)) as conn:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(7424001)")
            row = await (await conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")).fetchone()
            if row[0]:
                return False
            await conn.execute(SchemaManager.get_schema())
    log.info("created the task engine's tables (Procrastinate)")
    return True


# the bot's side ------------------------------------------------------------
#: paintings of one job before it fails with "worker died" (a job that kills workers)
MAX_ATTEMPTS = 3


class WorkerPool:
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
        # the console script's way in (stylebot-worker): run as __main__ the module would hold a
        # second Procrastinate app beside the importable one
        process = subprocess.Popen([sys.executable, "-c", "from bot.jobs.procrastinate import main; main()"],
                                   env=env,
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

    app = None  # the engine and the store, set by ProcrastinateQueue
    store = None

    async def run(self, spec, on_progress=None, timeout: float = 3600.0):
        """Paint a /survey picture on a worker (the survey's interface to the inference
        process): its inputs go in the task's arguments, the PNG comes back through
        ``survey_renders``. Users' jobs go first (lower priority)."""
        import base64
        import uuid

        from styletransfer.presets import is_preset

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


class ProcrastinateQueue(JobQueue):
    """The queue of the scale-out mode (see the module docstring): dispatch, watch, sweep."""

    def __init__(self, store, workers: WorkerPool, delivery, settings, poll_s: float = 0.5) -> None:
        super().__init__(store, workers, delivery, settings)
        self.app = make_app(settings.database_url)
        workers.app, workers.store = self.app, store
        self.poll_s = poll_s
        self._seen: dict[int, tuple] = {}  # job id -> (status, progress step) last shown
        self._last_sweep = 0.0

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="stylebot-procrastinate-queue")

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
                log.exception("queue step failed")
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
    async def dispatch(self, job: "Job") -> None:
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
                 "stroke": spec.stroke, "texture": spec.texture,
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
    async def watch(self, job: "Job") -> None:
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

    def _outcome(self, job: "Job") -> object:
        info = job.outcome_info or {}
        if job.outcome == "done":
            return _StoredDone(job.id, "", float(job.seconds or 0.0), dict(info.get("ran") or {}), self.store)
        if job.outcome == "cancelled":
            return Cancelled(job.id)
        return Failed(job.id, str(info.get("message") or "failed"), user_error=bool(info.get("user_error")),
                      worker_died=bool(info.get("worker_died")))

    async def _finish(self, job: "Job", outcome: object) -> None:
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


# the worker's side ---------------------------------------------------------
PROGRESS_EVERY_S = 0.5
MAX_RESULT_BYTES = 50 * 1024 * 1024


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str
    device: Literal["auto", "cpu", "cuda"] = "auto"
    worker_threads: int = Field(0, ge=0, le=256, description="torch CPU threads (0: torch's default)")
    # host, pid and a random tag: containers on the host's network share its name and are all pid 1
    worker_name: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}-{os.urandom(3).hex()}")
    worker_heartbeat_s: float = Field(5.0, gt=0, le=300)
    worker_health_file: Path = Path(tempfile.gettempdir()) / "stylebot-worker.alive"
    log_level: str = "INFO"


_state: dict = {}


#: where a worker's jobs keep their files while painting: one folder per job, named after the
#: worker's process id, so that the next worker started on this machine can remove what a
#: killed one left behind (:func:`sweep_orphans`)
JOBS_DIR = Path(tempfile.gettempdir()) / "stylebot-jobs"


def _job_folder(label: str, base: Path | None = None) -> tempfile.TemporaryDirectory:
    base = base or JOBS_DIR
    base.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix=f"{os.getpid()}-{label}-", dir=base)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def sweep_orphans(base: Path | None = None) -> int:
    """Remove the job folders of workers that no longer run on this machine (killed mid-job:
    SIGKILL, out of memory, a lost container); a running worker's folders stay. The job itself
    is not lost with them: it is painted again from the database (a stalled job is retried).
    Returns how many folders went."""
    removed = 0
    for folder in (base or JOBS_DIR).glob("*-*"):
        pid = folder.name.split("-", 1)[0]
        if folder.is_dir() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


async def paint(context, job_id: int, spec: dict) -> str:
    """The task: paint job ``job_id`` with ``spec`` (JobSpec fields without paths)."""
    store, settings = _state["store"], _state["settings"]
    job = await store.claim_job(job_id, settings.worker_name)
    if job is None:
        return "skipped"  # cancelled, finished or forgotten meanwhile
    log.info("worker %s paints job %s (%s, attempt %s)", settings.worker_name, job_id, spec.get("method"),
             job.attempts)
    files = await store.job_files(job_id, "content", "style")
    loop = asyncio.get_running_loop()
    with _job_folder(f"job{job_id}") as tmp:
        folder = Path(tmp)
        paths = {}
        for kind, (name, data) in files.items():
            paths[kind] = folder / f"{kind}{Path(name).suffix or '.png'}"
            paths[kind].write_bytes(data)
        if "content" not in paths:
            await store.set_outcome(job_id, "failed", {"message": "the job's content image is missing"})
            return "failed"
        media = spec.get("media", "photo")
        style = str(paths["style"]) if spec.get("style_is_file") else spec["style"]
        job_spec = JobSpec(
            job_id=job_id, content_path=str(paths["content"]), style=style, method=spec["method"],
            output_path=str(folder / ("result.png" if media == "photo" else "result.mp4")),
            alpha=float(spec.get("alpha", 1.0)), preserve_color=bool(spec.get("preserve_color", False)),
            max_side=int(spec.get("max_side", 1024)), steps=spec.get("steps"), device=settings.device, media=media,
            max_seconds=float(spec.get("max_seconds", 30.0)), stroke=float(spec.get("stroke", 1.0)),
            texture=spec.get("texture"),
        )
        last = [0.0]
        pending: list[asyncio.Future] = []

        def emit(event) -> None:  # from the paint thread
            now = time.monotonic()
            if now - last[0] < PROGRESS_EVERY_S and event.step < event.total:
                return
            last[0] = now
            if not pending or pending[-1].done():
                pending[:] = [asyncio.run_coroutine_threadsafe(
                    store.set_progress(job_id, event.step, event.total, event.stage), loop)]

        aborted = context.should_abort
        future = loop.run_in_executor(None, run_job, job_spec, emit, aborted)
        try:
            outcome = await asyncio.shield(future)
        except asyncio.CancelledError:  # the engine aborts: the thread stops at its next step
            outcome = await future
            await _report(store, job_id, outcome)
            raise
        for fut in pending:
            try:
                await asyncio.wrap_future(fut)
            except Exception:  # noqa: BLE001 - progress is best effort
                pass
        if isinstance(outcome, Done):
            data = Path(outcome.output_path).read_bytes()
            if len(data) > MAX_RESULT_BYTES:
                outcome = Failed(job_id, f"result of {len(data) >> 20} MB is over the limit")
            else:
                await store.put_job_file(job_id, "result", Path(outcome.output_path).name, data)
        await _report(store, job_id, outcome)
        await asyncio.to_thread(export_onnx_after, job_spec, outcome)
        return {Done: "done", Cancelled: "cancelled"}.get(type(outcome), "failed")


async def paint_survey(render_id: str, spec: dict, content: str, style: str | None = None) -> str:
    """The /survey task: paint one survey picture from inputs in the arguments (base64) and
    put the PNG (or the error) into ``survey_renders`` for the bot."""
    import base64

    store, settings = _state["store"], _state["settings"]
    with _job_folder("survey") as tmp:
        folder = Path(tmp)
        content_path = folder / "content.img"
        content_path.write_bytes(base64.b64decode(content))
        style_arg = spec["style"]
        if style is not None:
            style_path = folder / "style.img"
            style_path.write_bytes(base64.b64decode(style))
            style_arg = str(style_path)
        job_spec = JobSpec(job_id=-1, content_path=str(content_path), style=style_arg, method=spec["method"],
                           output_path=str(folder / "result.png"), max_side=int(spec["max_side"]),
                           steps=spec.get("steps"), device=settings.device)
        outcome = await asyncio.get_running_loop().run_in_executor(None, run_job, job_spec, lambda event: None,
                                                                   lambda: False)
        if isinstance(outcome, Done):
            await store.put_survey_render(render_id, Path(outcome.output_path).read_bytes())
            return "done"
        await store.put_survey_render(render_id, None, getattr(outcome, "message", "failed"))
        return "failed"


async def _report(store, job_id: int, outcome) -> None:
    if isinstance(outcome, Done):
        await store.set_outcome(job_id, "done", {"ran": outcome.ran}, seconds=outcome.seconds)
    elif isinstance(outcome, Cancelled):
        await store.set_outcome(job_id, "cancelled", {})
    elif isinstance(outcome, Failed):
        await store.set_outcome(job_id, "failed", {"message": outcome.message, "user_error": outcome.user_error})


async def serve(settings: WorkerSettings) -> None:
    from ..store.db import Store, migrate

    if settings.worker_threads:
        import torch

        torch.set_num_threads(settings.worker_threads)
    await migrate(settings.database_url)
    await ensure_schema(settings.database_url)
    swept = sweep_orphans()
    if swept:
        log.info("removed %d job folders of workers that were killed on this machine", swept)
    warm_s = await asyncio.to_thread(warm_up, settings.device)
    log.info("worker %s ready in %.1f s (models loaded)", settings.worker_name, warm_s)
    app = make_app(settings.database_url)
    app.task(name=PAINT_TASK, queue=QUEUE, pass_context=True)(paint)
    app.task(name=SURVEY_TASK, queue=QUEUE)(paint_survey)
    _state.update(store=Store(settings.database_url), settings=settings)
    health = asyncio.create_task(_touch(settings.worker_health_file, settings.worker_heartbeat_s))
    try:
        async with app.open_async():
            await app.run_worker_async(queues=[QUEUE], concurrency=1, name=settings.worker_name,
                                       update_heartbeat_interval=settings.worker_heartbeat_s,
                                       stalled_worker_timeout=3 * settings.worker_heartbeat_s,
                                       abort_job_polling_interval=1.0, fetch_job_polling_interval=2.0,
                                       delete_jobs="successful", install_signal_handlers=True)
    finally:
        health.cancel()
        settings.worker_health_file.unlink(missing_ok=True)
        await _state["store"].close()


async def _touch(path: Path, every_s: float) -> None:
    """The liveness file of ``--check``: touched while the event loop runs (painting runs in
    a thread, so a long job does not stop it; a hung process does)."""
    while True:
        try:
            path.touch()
        except OSError as exc:
            log.warning("cannot touch %s: %s", path, exc)
        await asyncio.sleep(every_s)


def check(settings: WorkerSettings) -> int:
    """Exit status of ``--check``: 0 when this machine's worker touched its file within
    3 heartbeats (the container healthcheck)."""
    try:
        age = time.time() - settings.worker_health_file.stat().st_mtime
    except OSError:
        print(f"stylebot-worker: not running ({settings.worker_health_file} missing)", file=sys.stderr)
        return 1
    if age > 3 * settings.worker_heartbeat_s:
        print(f"stylebot-worker: stalled (no heartbeat for {age:.0f} s)", file=sys.stderr)
        return 1
    print(f"stylebot-worker: alive (heartbeat {age:.1f} s ago)")
    return 0


def main(argv: list[str] | None = None) -> None:
    """``stylebot-worker``: one worker of the scale-out mode (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="stylebot-worker", description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, help="torch CPU threads (WORKER_THREADS)")
    parser.add_argument("--name", help="this worker's name in logs and the database (WORKER_NAME)")
    parser.add_argument("--check", action="store_true",
                        help="exit 0 if the worker on this machine is alive (a container healthcheck)")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in (("worker_threads", args.threads), ("worker_name", args.name)) if v is not None}
    try:
        settings = WorkerSettings(**overrides)
    except ValidationError as exc:
        lines = [f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()]
        print("stylebot-worker: configuration error:\n" + "\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None
    if args.check:
        raise SystemExit(check(settings))
    if not is_postgres(settings.database_url):
        print("stylebot-worker: configuration error:\nDATABASE_URL: workers need PostgreSQL "
              "(postgresql+asyncpg://…); with SQLite the bot paints in its own inference process",
              file=sys.stderr)
        raise SystemExit(2)
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s[worker]: %(message)s")
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    parent = os.environ.get("STYLEBOT_PARENT_PID", "")
    if parent.isdigit():
        import threading

        threading.Thread(target=exit_with_parent, args=(int(parent),), daemon=True).start()
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
