"""`stylebot check`: every line OK against the fake Bot API and a fresh SQLite
file; a broken checkpoint, a read-only data folder or a rejected token fail
with the reason and a non-zero exit status."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from bot.check import format_report, redact_token, run_checks
from bot.config import Settings
from bot.store.db import migrate
from tests.fake_telegram import FakeTelegram

REPO = Path(__file__).resolve().parents[1]


def _settings(tg, tmp_path, **extra) -> Settings:
    return Settings(telegram_bot_token=tg.token, telegram_base_url=tg.base_url,
                    telegram_base_file_url=tg.base_file_url, database_url=f"sqlite+aiosqlite:///{tmp_path}/bot.db",
                    data_dir=tmp_path / "data", **extra)


async def test_all_ok_against_fake_bot_api(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLETRANSFER_CHECKPOINTS", str(REPO / "checkpoints"))
    async with FakeTelegram() as tg:
        settings = _settings(tg, tmp_path)
        await migrate(settings.database_url)
        checks = await run_checks(settings)
        report = format_report(checks)
        assert all(c.ok for c in checks), report
        names = [c.name for c in checks]
        assert names[0] == "settings" and "device" in names and "telegram" in names
        assert any(n.startswith("weights johnson") for n in names)
        by = {c.name: c.detail for c in checks}
        assert "migrations at head" in by["database"] and "writable" in by["data folder"]
        assert by["telegram"].startswith("getMe: @")
        assert tg.token not in report and redact_token(tg.token) in report


async def test_failures_are_named(tmp_path, monkeypatch):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(REPO / "checkpoints", ckpt)
    victim = sorted((ckpt / "johnson").glob("*.safetensors"))[0]
    victim.write_bytes(victim.read_bytes()[:-10] + b"0123456789")  # same size, other bytes
    monkeypatch.setenv("STYLETRANSFER_CHECKPOINTS", str(ckpt))
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    async with FakeTelegram() as tg:
        good = _settings(tg, tmp_path)
        settings = good.model_copy(update={"data_dir": blocker / "data",
                                           "telegram_bot_token": good.telegram_bot_token.__class__("1:revoked")})
        checks = {c.name: c for c in await run_checks(settings)}
    assert not checks[f"weights johnson {victim.stem}"].ok
    assert "does not match" in checks[f"weights johnson {victim.stem}"].detail
    assert not checks["data folder"].ok and "not writable" in checks["data folder"].detail
    assert not checks["telegram"].ok


def test_exit_status_offline(tmp_path):
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": "123:abc", "DATA_DIR": str(tmp_path / "data"),
           "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/bot.db"}
    ok = subprocess.run([sys.executable, "-m", "bot", "check", "--offline"], capture_output=True, text=True,
                        timeout=120, cwd=tmp_path, env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "OK   device" in ok.stdout and "123:****" in ok.stdout and "abc" not in ok.stdout
    env["DEVICE"] = "cuda" if not list(Path("/dev").glob("nvidia[0-9]*")) else "cpu"
    env["DATA_DIR"] = "/proc/stylebot-cannot-write"
    bad = subprocess.run([sys.executable, "-m", "bot", "check", "--offline"], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path, env=env)
    assert bad.returncode == 1 and "FAIL data folder" in bad.stdout
