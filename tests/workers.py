"""``stylebot-worker`` processes for the scale-out tests and ``bench/bot_load.py``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEARTBEAT_S = 1.0


class Worker:
    """A ``stylebot-worker`` process (one torch thread) with its log in a file."""

    def __init__(self, url: str, name: str, log: Path, threads: int = 1, cpus: str | None = None) -> None:
        self.name, self.log = name, log
        env = {**os.environ, "DATABASE_URL": url, "DEVICE": "cpu", "WORKER_NAME": name,
               "WORKER_THREADS": str(threads), "WORKER_HEARTBEAT_S": str(HEARTBEAT_S), "LOG_LEVEL": "INFO",
               "WORKER_HEALTH_FILE": str(log.with_suffix(".alive"))}
        command = [sys.executable, "-c", "from bot.jobs.procrastinate import main; main()"]
        if cpus is not None:  # pinned to these cores (taskset)
            command = ["taskset", "-c", cpus, *command]
        env.pop("TELEGRAM_BOT_TOKEN", None)
        self.process = subprocess.Popen(command, env=env, cwd=REPO,
                                        stdout=log.open("wb"), stderr=subprocess.STDOUT)

    async def ready(self, timeout: float = 120.0) -> None:
        for _ in range(int(timeout * 10)):
            if b"ready in" in self.log.read_bytes():
                return
            assert self.process.poll() is None, self.log.read_text()
            await asyncio.sleep(0.1)
        raise AssertionError(f"worker {self.name} never got ready:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()


@contextlib.asynccontextmanager
async def workers(url: str, tmp_path: Path, n: int = 2, threads: int = 1, pin: bool = False):
    """``n`` ready workers on ``url`` (schema migrated); SIGTERM at the end. ``pin``: worker i
    on core i (taskset), so two workers on two cores do not share one."""
    from bot.store.db import migrate
    from bot.jobs.procrastinate import ensure_schema

    await migrate(url)
    await ensure_schema(url)
    cores = os.cpu_count() or 1
    started = [Worker(url, f"w{i + 1}", tmp_path / f"w{i + 1}.log", threads, str(i % cores) if pin else None)
               for i in range(n)]
    try:
        await asyncio.gather(*(w.ready() for w in started))
        yield started
    finally:
        for w in started:
            w.stop()
