"""The global error handler: log (token redacted by the logging filter) and apologise."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from ... import texts

log = logging.getLogger(__name__)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    log.error("error while handling an update", exc_info=context.error)
    if not isinstance(update, Update):
        return
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(texts.ERROR)
        elif update.effective_chat is not None:
            await context.bot.send_message(update.effective_chat.id, texts.ERROR)
    except TelegramError:
        pass
