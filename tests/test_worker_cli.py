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


def test_the_next_worker_removes_the_job_folders_a_killed_one_left(tmp_path):
    """A worker killed mid-job (SIGKILL) leaves its job's folder (the photo, the style, half a
    video); the next worker on the machine removes it, and never a running worker's folder."""
    from bot.jobs.procrastinate import _job_folder, sweep_orphans

    victim = subprocess.Popen([sys.executable, "-c", "import sys; from pathlib import Path; "
                               "from bot.jobs.procrastinate import _job_folder; "
                               "t = _job_folder('job7', Path(sys.argv[1])); d = Path(t.name); "
                               "(d / 'content.png').write_bytes(b'x' * 1000); print(d, flush=True); "
                               "sys.stdin.read()", str(tmp_path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    left = victim.stdout.readline().strip()
    victim.kill()
    victim.wait()
    with _job_folder("job8", tmp_path) as mine:
        assert os.path.isdir(left) and os.path.isdir(mine)
        assert sweep_orphans(tmp_path) == 1
        assert not os.path.exists(left) and os.path.isdir(mine)  # ours: this process runs
        assert sweep_orphans(tmp_path) == 0
