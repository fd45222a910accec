"""``stylebot check``: is this deployment ready? One line per check, OK or the
reason, exit status 0 only when every check passed.

Checks: the effective settings (token redacted), the trained weights (each
file's SHA-256 against its card), the inference device, the database
(reachable, migrations at head), the data folder (writable), the Bot API
(``getMe`` with the token, unless ``--offline``) and, with ``--healthz``, the
running bot's own ``/healthz`` (the Docker healthcheck).

Never imports torch: the device is judged from the NVIDIA device files.
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .config import Settings

__all__ = ["Check", "run_checks", "format_report"]

_SHOWN = ("database_url", "data_dir", "device", "max_side", "gatys_steps", "max_queued_per_user", "max_queue",
          "telegram_base_url", "webhook_url", "host", "port", "log_level")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def redact_token(token: str) -> str:
    """``123456789:AAH…`` -> ``123456789:****`` (the bot id stays, the secret goes)."""
    bot_id, _, _ = token.partition(":")
    return f"{bot_id}:****"


def _settings_line(settings: Settings) -> Check:
    parts = [f"TELEGRAM_BOT_TOKEN={redact_token(settings.token)}"]
    for name in _SHOWN:
        value = getattr(settings, name)
        if name == "database_url":
            value = _redact_url(str(value))
        parts.append(f"{name.upper()}={'' if value is None else value}")
    return Check("settings", True, ", ".join(parts))


def _redact_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for display
        return url


def _weights() -> list[Check]:
    from styletransfer.checkpoints import adain_decoder_path, card_path, checkpoint_root, sha256_file

    root = checkpoint_root()
    files = ([adain_decoder_path()] if adain_decoder_path().is_file() else []) + \
        sorted((root / "johnson").glob("*.safetensors"))
    checks = []
    if not adain_decoder_path().is_file():
        checks.append(Check("weights adain", True, f"no decoder at {adain_decoder_path()} (AdaIN not offered)"))
    for path in files:
        label = "adain" if path == adain_decoder_path() else f"johnson {path.stem}"
        card = card_path(path)
        if not card.is_file():
            checks.append(Check(f"weights {label}", False, f"{card} is missing"))
            continue
        expected = json.loads(card.read_text()).get("sha256")
        actual = sha256_file(path)
        ok = expected == actual
        checks.append(Check(f"weights {label}", ok, f"sha256 {actual[:12]}… verified" if ok else
                            f"sha256 {actual[:12]}… does not match the card ({str(expected)[:12]}…)"))
    if not files and not checks:
        checks.append(Check("weights", True, f"no trained weights under {root}: Gatys only"))
    return checks


def _device(settings: Settings) -> Check:
    gpus = sorted(glob.glob("/dev/nvidia[0-9]*"))
    if settings.device == "cuda" and not gpus:
        return Check("device", False, "DEVICE=cuda but no NVIDIA GPU is visible (/dev/nvidia*)")
    if settings.device == "cpu" or not gpus:
        return Check("device", True, f"cpu ({os.cpu_count()} cores)" + (" (DEVICE=cpu)" if gpus else ""))
    return Check("device", True, f"cuda ({len(gpus)} GPU device file(s))")


async def _database(settings: Settings) -> Check:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from .store.db import _alembic_dir

    url = settings.database_url
    try:
        cfg = Config()
        cfg.set_main_option("script_location", str(_alembic_dir()))
        head = ScriptDirectory.from_config(cfg).get_current_head()
    except Exception as exc:  # noqa: BLE001
        return Check("database", False, f"migrations not found: {exc}")
    if url.startswith("sqlite") and "///" in url:
        db_file = Path(url.split("///", 1)[1])
        if not db_file.exists():
            return Check("database", True, f"{db_file} does not exist yet; stylebot creates it and migrates to "
                                           f"{head} at start")
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            try:
                current = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
            except Exception:  # noqa: BLE001 - no table yet
                current = None
    except Exception as exc:  # noqa: BLE001
        return Check("database", False, f"cannot connect to {_redact_url(url)}: {exc.__class__.__name__}: {exc}")
    finally:
        await engine.dispose()
    if current == head:
        return Check("database", True, f"reachable, migrations at head ({head})")
    return Check("database", True if current is None else False,
                 f"reachable, at {current or 'no revision'}; head is {head} (stylebot migrates at start)")


def _data_dir(settings: Settings) -> Check:
    d = Path(settings.data_dir)
    try:
        d.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=d, prefix=".check-"):
            pass
    except OSError as exc:
        return Check("data folder", False, f"{d} is not writable: {exc.strerror or exc}")
    return Check("data folder", True, f"{d.resolve()} writable")


async def _telegram(settings: Settings) -> Check:
    from telegram import Bot
    from telegram.error import InvalidToken, TelegramError

    try:
        async with Bot(settings.token, base_url=settings.telegram_base_url,
                       base_file_url=settings.telegram_base_file_url) as bot:
            me = bot.bot
        return Check("telegram", True, f"getMe: @{me.username} (id {me.id})")
    except InvalidToken:
        return Check("telegram", False, "Telegram rejected the token (revoked or mistyped?); ask @BotFather")
    except TelegramError as exc:
        return Check("telegram", False, f"getMe failed: {exc}")
    except Exception as exc:  # noqa: BLE001 - network errors of every kind
        return Check("telegram", False, f"Bot API not reachable at {settings.telegram_base_url}: {exc}")


def _healthz(settings: Settings) -> Check:
    url = f"http://127.0.0.1:{settings.port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=4) as resp:
            body = json.loads(resp.read() or b"{}")
    except Exception as exc:  # noqa: BLE001
        return Check("healthz", False, f"{url}: {exc}")
    if body.get("inference_alive") is False:
        return Check("healthz", False, f"{url}: the inference process is not running")
    return Check("healthz", True, f"{url}: ok")


async def run_checks(settings: Settings, *, offline: bool = False, healthz: bool = False) -> list[Check]:
    """All checks, in the order they are printed."""
    checks = [_settings_line(settings), *_weights(), _device(settings), await _database(settings),
              _data_dir(settings)]
    if not offline:
        checks.append(await _telegram(settings))
    if healthz:
        checks.append(_healthz(settings))
    return checks


def format_report(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    return "\n".join(f"{'OK  ' if c.ok else 'FAIL'} {c.name.ljust(width)}  {c.detail}" for c in checks)


def main(settings: Settings, offline: bool = False, healthz: bool = False) -> int:
    checks = asyncio.run(run_checks(settings, offline=offline, healthz=healthz))
    print(format_report(checks))
    return 0 if all(c.ok for c in checks) else 1
