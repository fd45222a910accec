"""Telegram update handlers, registered by :func:`register`."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, TypeHandler, filters

from . import buttons, commands, errors, messages, survey


async def _language(update: Update, context) -> None:
    """Before any handler: the language of this update (the user's /settings choice,
    else their Telegram app's), for every text the handlers send."""
    from ...context import services
    from ...i18n import pick_language, set_language

    user = update.effective_user
    if user is None:
        set_language(None)
        return
    chosen = await services(context).store.language_of(user.id)
    set_language(pick_language(chosen, user.language_code))


def register(app: Application) -> None:
    app.add_handler(TypeHandler(Update, _language), group=-1)
    app.add_handler(CommandHandler("start", commands.start))
    app.add_handler(CommandHandler("help", commands.help_))
    app.add_handler(CommandHandler("styles", commands.styles))
    app.add_handler(CommandHandler("settings", commands.settings))
    app.add_handler(CommandHandler("cancel", commands.cancel))
    app.add_handler(CommandHandler("survey", survey.survey))
    app.add_handler(CommandHandler("stats", commands.stats))
    app.add_handler(CommandHandler("forget", commands.forget))
    app.add_handler(MessageHandler(filters.COMMAND, commands.unknown))
    # videos first: a GIF arrives as an animation *and* a document (a .gif sent as a plain file
    # stays a picture: Telegram's apps turn animated GIFs into animations)
    app.add_handler(MessageHandler(filters.VIDEO | filters.VIDEO_NOTE | filters.ANIMATION | filters.Document.VIDEO,
                                   messages.video))
    app.add_handler(MessageHandler(filters.PHOTO | filters.Document.ALL, messages.image))
    app.add_handler(MessageHandler(filters.Sticker.ALL, messages.sticker))
    app.add_handler(MessageHandler(filters.VOICE | filters.AUDIO, messages.voice))
    app.add_handler(MessageHandler(filters.TEXT, messages.text))
    app.add_handler(MessageHandler(filters.ALL & ~filters.StatusUpdate.ALL, messages.other))
    app.add_handler(CallbackQueryHandler(buttons.on_button))
    app.add_error_handler(errors.on_error)
