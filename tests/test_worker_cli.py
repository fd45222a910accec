"""`stylebot-worker` on the command line: a wrong DATABASE_URL is one clear line and exit 2
(workers need PostgreSQL), and `--check` (the container healthcheck) tells a live worker
from a stalled or absent one by its heartbeat file."""

from __future__ import annotations

import os
import subprocess
import sys
import time


def _run(*args: str, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "WORKER_HEALTH_FILE")}
    full.update(env)
    return subprocess.run([sys.executable, "-m", "bot.jobs.procrastinate", *args], capture_output=True, text=True,
                          env=full, timeout=60)


def test_sqlite_or_missing_database_is_a_clear_error(tmp_path):
    out = _run(DATABASE_URL="sqlite+aiosqlite:///x.db")
    assert out.returncode == 2 and "workers need PostgreSQL" in out.stderr, out.stderr
    out = _run()
    assert out.returncode == 2 and "DATABASE_URL" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_check_reads_the_heartbeat_file(tmp_path):
    health = tmp_path / "alive"
    env = dict(DATABASE_URL="postgresql+asyncpg://u@h/db", WORKER_HEALTH_FILE=str(health), WORKER_HEARTBEAT_S="2")
    out = _run("--check", **env)
    assert out.returncode == 1 and "not running" in out.stderr
    health.touch()
    assert _run("--check", **env).returncode == 0
    old = time.time() - 60
    os.utime(health, (old, old))
    out = _run("--check", **env)
    assert out.returncode == 1 and "stalled" in out.stderr
