"""Bot settings from the environment, and the token never reaching the logs."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import pytest
from pydantic import ValidationError

from bot.config import Settings
from bot.logs import TokenRedactingFilter, redact, setup_logging

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def test_settings_from_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_BASE_URL", "http://127.0.0.1:9/bot")
    monkeypatch.setenv("ADMIN_IDS", "1, 2,3")
    monkeypatch.setenv("MAX_SIDE", "512")
    monkeypatch.setenv("log_level", "debug")
    settings = Settings()
    assert settings.token == TOKEN
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())
    assert settings.telegram_base_url == "http://127.0.0.1:9/bot"
    assert settings.telegram_base_file_url == "https://api.telegram.org/file/bot"
    assert settings.admin_ids == [1, 2, 3]
    assert settings.max_side == 512 and settings.log_level == "DEBUG"
    assert settings.database_url == "sqlite+aiosqlite:///data/stylebot.db"
    assert settings.max_download_bytes == 20 * 1024 * 1024


def test_settings_from_dotenv_and_validation(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    with pytest.raises(ValidationError):
        Settings()
    (tmp_path / ".env").write_text(f"TELEGRAM_BOT_TOKEN={TOKEN}\nDEVICE=cuda\n")
    assert Settings().device == "cuda"
    monkeypatch.setenv("DEVICE", "tpu")
    with pytest.raises(ValidationError):
        Settings()


def test_env_example_lists_every_setting():
    from pathlib import Path

    example = (Path(__file__).resolve().parents[1] / ".env.example").read_text()
    for name in Settings.model_fields:
        assert f"{name.upper()}=" in example, name


def test_redacting_filter_hides_token_in_message_args_and_tracebacks():
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Collect()
    handler.addFilter(TokenRedactingFilter(TOKEN))
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("HTTP Request: POST https://api.telegram.org/bot%s/getMe", TOKEN)
        try:
            raise RuntimeError(f"failed at /bot{TOKEN}/sendPhoto")
        except RuntimeError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    assert records and all(TOKEN not in r for r in records)
    assert "bot<token>/getMe" in records[0]
    assert "<token>" in records[1]
    assert redact("other 987654321:ZZHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw") == "other <token>"


def test_setup_logging_quietens_httpx_and_redacts(tmp_path):
    code = textwrap.dedent(f"""
        import logging
        from bot.logs import setup_logging
        setup_logging("DEBUG", {TOKEN!r})
        assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING
        logging.getLogger("telegram.ext").info("url https://x/bot{TOKEN}/getUpdates")
        logging.getLogger("httpx").warning("url https://x/bot{TOKEN}/getFile")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert TOKEN not in result.stderr
    assert result.stderr.count("<token>") == 2
