"""The bot's shared services, stored in ``application.bot_data``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from telegram.ext import ContextTypes

if TYPE_CHECKING:
    from .config import Settings
    from .jobs.queue import JobQueue
    from .jobs.survey import SurveyImages
    from .store.db import Store
    from .telegram.delivery import Delivery

KEY = "stylebot"


@dataclass
class Services:
    settings: "Settings"
    store: "Store | None" = None
    scheduler: "JobQueue | None" = None
    delivery: "Delivery | None" = None
    survey: "SurveyImages | None" = None
    albums: dict[str, list] = field(default_factory=dict)
    gatys_history: list[tuple[float, dict]] = field(default_factory=list)


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    return context.application.bot_data[KEY]
