"""Settings of the bot, read from the environment and an optional ``.env`` file.

Every setting is listed with a comment in ``.env.example``.  The bot token is a
:class:`~pydantic.SecretStr` so it never shows up in ``repr`` or logs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["Settings", "load_settings"]


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
    admin_ids: Annotated[list[int], NoDecode] = []

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
    host: str = "0.0.0.0"
    port: int = 8080

    log_level: str = "INFO"

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(part) for part in value.replace(";", ",").split(",") if part.strip()]
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("log_level")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

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


def load_settings(**overrides: object) -> Settings:
    """Read the settings (environment, then ``.env``); keyword overrides win."""
    return Settings(**overrides)  # type: ignore[arg-type]
