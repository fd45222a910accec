"""Settings of the bot, read from the environment and an optional ``.env`` file.

Every setting is listed with a comment in ``.env.example``.  The bot token is a
:class:`~pydantic.SecretStr` so it never shows up in ``repr`` or logs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["Settings", "load_settings", "SettingsError", "describe_errors"]

#: The token placeholder of ``.env.example``.
PLACEHOLDER_TOKEN = "123456789:replace-me"
_TOKEN_RE = re.compile(r"^[0-9]+:[A-Za-z0-9_-]+$")
HOW_TO_GET_A_TOKEN = (
    "Get a token from @BotFather in Telegram (send it /newbot), then put it in a .env file next to where you "
    "start stylebot (cp .env.example .env and edit TELEGRAM_BOT_TOKEN=...) or export TELEGRAM_BOT_TOKEN."
)


class SettingsError(Exception):
    """The settings cannot be used; ``str()`` is one line per problem, for a person."""


class Settings(BaseSettings):
    """All knobs of a deployment (environment variables are the upper-case field names)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_bot_token: SecretStr
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_base_file_url: str = "https://api.telegram.org/file/bot"

    database_url: str = "sqlite+aiosqlite:///data/stylebot.db"
    data_dir: Path = Path("data")

    device: Literal["auto", "cpu", "cuda"] = "auto"
    max_side: int = Field(1024, ge=64, le=4096, description="longest side of results, pixels")
    gatys_steps: int = Field(300, ge=1, le=5000)
    video_max_side: int = Field(640, ge=64, le=1920, description="longest side of video results, pixels")
    video_max_seconds: float = Field(30, gt=0, le=600, description="longer clips are cut to their first seconds")
    admin_ids: Annotated[list[int], NoDecode] = []
    workers: int = Field(1, ge=0, le=32, description="inference workers this bot starts; with PostgreSQL 0 = "
                                                      "only external stylebot-worker processes")
    worker_heartbeat_s: float = Field(5.0, gt=0, le=300, description="workers' heartbeat; a worker silent for 3 "
                                                                     "heartbeats is dead and its job re-run")
    survey_dir: Path | None = Field(None, description="folder with pairs.json and the /survey images "
                                                      "(default: the built-in 10 pairs)")
    survey_max_side: int = Field(512, ge=64, le=2048, description="longest side of the survey results, pixels")
    survey_prerender: bool = Field(True, description="paint the survey pictures at start-up (else at the "
                                                     "first /survey)")

    max_queued_per_user: int = Field(3, ge=1, description="jobs a user may have waiting (plus one running)")
    max_queue: int = Field(50, ge=1, description="jobs waiting overall before the bot says it is busy")
    max_download_mb: float = Field(20, gt=0, description="largest file accepted (Bot API getFile limit: 20 MB)")
    album_wait_s: float = Field(1.0, ge=0, description="how long to collect the photos of an album")
    progress_interval_s: float = Field(3.0, ge=0, description="least time between two progress edits")
    rate_limit: bool = Field(True, description="throttle Bot API calls (PTB AIORateLimiter) and retry on 429")
    rate_limit_per_s: float = Field(25, gt=0, description="Bot API calls per second to chats, all chats together")
    rate_limit_retries: int = Field(3, ge=0, description="retries of a call Telegram answered with 429 RetryAfter")

    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    dashboard_token: SecretStr | None = None
    host: str = Field("0.0.0.0", min_length=1, description="address of the HTTP server")
    port: int = Field(8080, ge=0, le=65535, description="port of the HTTP server; 0 disables it in polling mode")

    log_level: str = "INFO"

    @field_validator("telegram_bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        token = value.get_secret_value().strip()
        if token == PLACEHOLDER_TOKEN:
            raise ValueError("is still the placeholder from .env.example")
        if not _TOKEN_RE.match(token):
            raise ValueError("does not look like a bot token (digits, a colon, then letters, digits, _ or -)")
        return SecretStr(token)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value.upper()

    @field_validator("telegram_base_url", "telegram_base_file_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value or ""):
            raise ValueError("must be an http(s) URL such as https://api.telegram.org/bot")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            backend = make_url(value).get_backend_name()
        except ArgumentError:
            backend = None
        if backend not in ("sqlite", "postgresql"):
            raise ValueError("must be an SQLAlchemy async URL: sqlite+aiosqlite:///path/to/file.db or "
                             "postgresql+asyncpg://user:password@host/dbname")
        return value

    @field_validator("survey_dir", mode="before")
    @classmethod
    def _survey_dir(cls, value: Path | None) -> Path | None:
        if value is None or not str(value).strip():
            return None
        from .survey import SurveyError, load_pairs

        value = Path(str(value).strip())
        try:
            load_pairs(value)
        except SurveyError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("data_dir")
    @classmethod
    def _data_dir(cls, value: Path) -> Path:
        if not str(value).strip() or str(value) == ".":
            raise ValueError("must name a folder, e.g. data or /data")
        return value

    @field_validator("dashboard_token")
    @classmethod
    def _dashboard_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (it guards the operator page)")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not re.match(r"^[A-Za-z0-9_-]{1,256}$", value.get_secret_value()):
            raise ValueError("must be 1-256 characters A-Z, a-z, 0-9, _ or - (Telegram's rule for secret_token)")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _https_url(cls, value: str | None) -> str | None:
        if value and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL such as https://bot.example.org")
        return value or None

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(part) for part in value.replace(";", ",").split(",") if part.strip()]
        if isinstance(value, int):
            return [value]
        return value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> "Settings":
        # Without a secret anybody who finds the URL could post fake updates as any user.
        if self.webhook_url and self.webhook_secret is None:
            raise ValueError("WEBHOOK_SECRET is required when WEBHOOK_URL is set (webhook mode): anyone who "
                             "finds the URL could post fake updates; use 1-256 characters A-Z, a-z, 0-9, _ or -")
        return self

    @model_validator(mode="after")
    def _workers_need_postgres(self) -> "Settings":
        if self.workers != 1 and not self.scale_out:
            raise ValueError(f"WORKERS={self.workers} needs PostgreSQL (DATABASE_URL=postgresql+asyncpg://…): with "
                             "SQLite the bot paints in its one embedded inference process (WORKERS=1)")
        return self

    @property
    def scale_out(self) -> bool:
        """PostgreSQL: jobs go through the task engine to stylebot-worker processes."""
        return self.database_url.startswith("postgresql")

    @property
    def token(self) -> str:
        """The bot token in clear text (pass it to PTB only, never log it)."""
        return self.telegram_bot_token.get_secret_value()

    @property
    def max_download_bytes(self) -> int:
        return int(self.max_download_mb * 1024 * 1024)

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"

    @property
    def users_dir(self) -> Path:
        return self.data_dir / "users"


def describe_errors(exc: ValidationError) -> str:
    """One line per invalid setting: its variable name, the value given (never the
    token's) and what is allowed; a missing token says how to get one."""
    lines = []
    for err in exc.errors():
        name = str(err["loc"][0]).upper() if err.get("loc") else "SETTINGS"
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if not err.get("loc"):  # a rule about several settings: the message names them
            lines.append(msg[:1].upper() + msg[1:] + ".")
            continue
        if name == "TELEGRAM_BOT_TOKEN":
            if err.get("type") == "missing":
                lines.append(f"TELEGRAM_BOT_TOKEN is not set. {HOW_TO_GET_A_TOKEN}")
            else:
                lines.append(f"TELEGRAM_BOT_TOKEN {msg}. {HOW_TO_GET_A_TOKEN}")
            continue
        field = Settings.model_fields.get(name.lower())
        hint = f" ({field.description})" if field is not None and field.description else ""
        if err.get("type") == "missing":
            lines.append(f"{name} is required{hint}.")
            continue
        value = err.get("input")
        shown = value if isinstance(value, str) else repr(value)
        if name in ("WEBHOOK_SECRET", "DASHBOARD_TOKEN"):
            shown = "****"  # a secret is never echoed
        lines.append(f"{name}={shown!s} is not valid: {msg[:1].lower() + msg[1:]}{hint}.")
    return "\n".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Read the settings (environment, then ``.env``); keyword overrides win.

    Raises:
        SettingsError: a setting is missing or invalid (message from :func:`describe_errors`).
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(describe_errors(exc)) from None
