"""``stylebot-worker``: one inference worker of the scale-out mode.

Runs the task engine's worker (Procrastinate, one job at a time) for the task
``stylebot.paint``: claims the job in the bot's database, reads its inputs from
``job_files``, paints it with :func:`bot.worker.run_job` in a thread (torch lives in this
process; models stay loaded between jobs), writes progress (step k of n) to the job's
row at most every ``PROGRESS_EVERY_S``, and the result and outcome at the end.

- Cancel: the bot asks the engine to abort; the engine cancels the task, the paint
  thread sees ``should_abort`` at its next step and the outcome is ``cancelled``.
- Killed (``kill -9``, machine lost): the heartbeat stops, the bot's sweep gives the
  job to another worker; the bot delivers one result whatever happens.
- SIGTERM: the worker finishes its job, then exits.

Settings (environment): ``DATABASE_URL`` (PostgreSQL, required), ``DEVICE``
(auto|cpu|cuda), ``WORKER_THREADS`` (torch CPU threads, 0 = torch's default),
``WORKER_NAME``, ``WORKER_HEARTBEAT_S`` (default 5), ``WORKER_HEALTH_FILE`` (touched at
every heartbeat; ``stylebot-worker --check`` reads it: the container healthcheck),
``LOG_LEVEL``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["WorkerSettings", "main", "paint", "paint_survey"]

log = logging.getLogger("bot.engine_worker")

PROGRESS_EVERY_S = 0.5
MAX_RESULT_BYTES = 50 * 1024 * 1024


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str
    device: Literal["auto", "cpu", "cuda"] = "auto"
    worker_threads: int = Field(0, ge=0, le=256, description="torch CPU threads (0: torch's default)")
    worker_name: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    worker_heartbeat_s: float = Field(5.0, gt=0, le=300)
    worker_health_file: Path = Path(tempfile.gettempdir()) / "stylebot-worker.alive"
    log_level: str = "INFO"


_state: dict = {}


async def paint(context, job_id: int, spec: dict) -> str:
    """The task: paint job ``job_id`` with ``spec`` (JobSpec fields without paths)."""
    from .jobs import Cancelled, Done, Failed, JobSpec
    from .worker import run_job

    store, settings = _state["store"], _state["settings"]
    job = await store.claim_job(job_id, settings.worker_name)
    if job is None:
        return "skipped"  # cancelled, finished or forgotten meanwhile
    files = await store.job_files(job_id, "content", "style")
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory(prefix=f"stylebot-job{job_id}-") as tmp:
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
            max_seconds=float(spec.get("max_seconds", 30.0)),
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
        from .worker import export_onnx_after

        await asyncio.to_thread(export_onnx_after, job_spec, outcome)
        return {Done: "done", Cancelled: "cancelled"}.get(type(outcome), "failed")


async def paint_survey(render_id: str, spec: dict, content: str, style: str | None = None) -> str:
    """The /survey task: paint one survey picture from inputs in the arguments (base64) and
    put the PNG (or the error) into ``survey_renders`` for the bot."""
    import base64

    from .jobs import Done, JobSpec
    from .worker import run_job

    store, settings = _state["store"], _state["settings"]
    with tempfile.TemporaryDirectory(prefix="stylebot-survey-") as tmp:
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
    from .jobs import Cancelled, Done, Failed

    if isinstance(outcome, Done):
        await store.set_outcome(job_id, "done", {"ran": outcome.ran}, seconds=outcome.seconds)
    elif isinstance(outcome, Cancelled):
        await store.set_outcome(job_id, "cancelled", {})
    elif isinstance(outcome, Failed):
        await store.set_outcome(job_id, "failed", {"message": outcome.message, "user_error": outcome.user_error})


async def serve(settings: WorkerSettings) -> None:
    from .db import Store, migrate
    from .engine import PAINT_TASK, QUEUE, SURVEY_TASK, ensure_schema, make_app
    from .worker import warm_up

    if settings.worker_threads:
        import torch

        torch.set_num_threads(settings.worker_threads)
    await migrate(settings.database_url)
    await ensure_schema(settings.database_url)
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


def _exit_with_parent(parent_pid: int) -> None:
    """A worker started by the bot (``STYLEBOT_PARENT_PID``) ends when the bot is gone."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            os._exit(0)


def main(argv: list[str] | None = None) -> None:
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
    from .engine import is_postgres

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

        threading.Thread(target=_exit_with_parent, args=(int(parent),), daemon=True).start()
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
