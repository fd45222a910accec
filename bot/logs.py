"""Logging set-up with token redaction.

httpx logs every request URL, and Bot API URLs contain the bot token; the
:class:`TokenRedactingFilter` replaces the token (and any ``bot<id>:<secret>``
pattern) in every record that reaches the root handlers.
"""

from __future__ import annotations

import logging
import re

__all__ = ["TokenRedactingFilter", "setup_logging", "redact"]

_TOKEN_PATTERN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{20,}")
REDACTED = "<token>"


def redact(text: str, token: str | None = None) -> str:
    """``text`` with ``token`` and anything shaped like a bot token replaced by ``<token>``."""
    if token:
        text = text.replace(token, REDACTED)
    return _TOKEN_PATTERN.sub(REDACTED, text)


class TokenRedactingFilter(logging.Filter):
    """Rewrites a record's message (and exception text) with the token removed."""

    def __init__(self, token: str | None = None) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message, self.token)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.token)
        return True


def setup_logging(level: str = "INFO", token: str | None = None) -> None:
    """Configure the root logger once: plain format, redaction on every handler,
    httpx/httpcore quietened to WARNING."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)
    for handler in root.handlers:
        if not any(isinstance(f, TokenRedactingFilter) for f in handler.filters):
            handler.addFilter(TokenRedactingFilter(token))
    for noisy in ("httpx", "httpcore", "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
