"""Bot settings from the environment, and the token never reaching the logs."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap

import pytest
from pydantic import ValidationError

from bot.config import Settings
from bot.logs import TokenRedactingFilter, redact

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


#: A wrong value for every setting, and a word the message must contain.
WRONG = {
    "telegram_bot_token": ("not a token", "BotFather"),
    "telegram_base_url": ("", "TELEGRAM_BASE_URL"),
    "telegram_base_file_url": ("", "TELEGRAM_BASE_FILE_URL"),
    "database_url": ("nosuchdb://x", "DATABASE_URL"),
    "data_dir": ("", "DATA_DIR"),
    "device": ("tpu", "'cuda'"),
    "max_side": ("abc", "integer"),
    "gatys_steps": ("0", "greater than or equal to 1"),
    "video_max_side": ("10000", "less than or equal to 1920"),
    "video_max_seconds": ("-5", "greater than 0"),
    "admin_ids": ("alice", "ADMIN_IDS"),
    "survey_dir": ("/no/such/folder", "pairs.json"),
    "workers": ("2", "PostgreSQL"),
    "worker_heartbeat_s": ("0", "greater than 0"),
    "survey_max_side": ("10", "greater than or equal to 64"),
    "survey_prerender": ("perhaps", "boolean"),
    "max_queued_per_user": ("-1", "greater than or equal to 1"),
    "max_queue": ("many", "integer"),
    "max_download_mb": ("0", "greater than 0"),
    "album_wait_s": ("-2", "greater than or equal to 0"),
    "progress_interval_s": ("soon", "number"),
    "rate_limit": ("maybe", "boolean"),
    "rate_limit_per_s": ("0", "greater than 0"),
    "rate_limit_retries": ("-1", "greater than or equal to 0"),
    "webhook_url": ("ftp://x", "http"),
    "webhook_secret": ("has spaces!", "WEBHOOK_SECRET"),
    "dashboard_token": ("short", "16 characters"),
    "host": ("", "HOST"),
    "port": ("99999", "65535"),
    "log_level": ("LOUD", "DEBUG"),
}


def test_every_setting_has_a_wrong_value_case():
    assert set(WRONG) == set(Settings.model_fields)


@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_value_is_one_clear_line(monkeypatch, tmp_path, name):
    """Each bad setting gives one line naming the variable, the value (never the token) and what is allowed."""
    from bot.config import SettingsError, load_settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    value, word = WRONG[name]
    monkeypatch.setenv(name.upper(), value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert len(message.splitlines()) == 1, message
    assert name.upper() in message and word in message, message
    assert "Traceback" not in message and "pydantic" not in message.lower()
    if name not in ("telegram_bot_token", "webhook_secret", "dashboard_token"):
        assert f"={value}" in message
    else:
        assert value not in message  # secrets are never echoed
    assert TOKEN not in message


def test_stylebot_without_token_exits_2_without_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    env["MAX_SIDE"] = "abc"
    result = subprocess.run([sys.executable, "-m", "bot"], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                            env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "TELEGRAM_BOT_TOKEN is not set" in result.stderr and "@BotFather" in result.stderr and ".env" in result.stderr
    assert "MAX_SIDE=abc is not valid" in result.stderr
    version = subprocess.run([sys.executable, "-m", "bot", "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("stylebot ")
