"""Non-command messages: photos and image files (content or style), albums,
and friendly answers to everything else."""

from __future__ import annotations

import asyncio

from telegram import Message, Update
from telegram.ext import ContextTypes

from ... import texts
from .. import keyboards
from ...context import Services, services
from ..conversation import InputRejected, ask_method, fetch_image, fetch_video, remove_file, set_content

STYLE_STATES = ("awaiting_style", "awaiting_own_style")


async def _session(update: Update, svc: Services):
    user = update.effective_user
    return await svc.store.get_session(user.id, update.effective_chat.id, user.first_name)


async def image(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    message = update.effective_message
    await _session(update, svc)
    if message.media_group_id:
        group = svc.albums.setdefault(message.media_group_id, [])
        group.append(message)
        if len(group) == 1:
            context.application.create_task(_finish_album(svc, message.media_group_id, update.effective_user.id),
                                            update=update)
        return
    await _take_image(svc, message, update.effective_user.id)


async def _take_image(svc: Services, message: Message, user_id: int) -> None:
    try:
        path, as_document = await fetch_image(svc, message, user_id)
    except InputRejected as exc:
        await message.reply_text(str(exc))
        return
    session = await svc.store.get_session(user_id)
    if session.state in STYLE_STATES and session.content_path:
        remove_file(session.style_path)
        session = await svc.store.update_session(user_id, state="awaiting_method", style_name="own",
                                                 style_path=str(path))
        await ask_method(svc, message, session)
        return
    session = await set_content(svc, user_id, path, as_document)
    await message.reply_text(texts.CHOOSE_STYLE, reply_markup=keyboards.styles(session.version))


async def _finish_album(svc: Services, group_id: str, user_id: int) -> None:
    await asyncio.sleep(svc.settings.album_wait_s)
    messages = sorted(svc.albums.pop(group_id, []), key=lambda m: m.message_id)
    if len(messages) < 2:
        for message in messages:
            await _take_image(svc, message, user_id)
        return
    first = messages[0]
    if len(messages) > 2:
        await first.reply_text(texts.ALBUM_TOO_BIG)
    content = None
    try:
        content, as_document = await fetch_image(svc, first, user_id)
        style, _ = await fetch_image(svc, messages[1], user_id)
    except InputRejected as exc:
        if content is not None:  # the content image alone is no use: don't keep it
            remove_file(str(content))
        await first.reply_text(str(exc))
        return
    await set_content(svc, user_id, content, as_document)
    session = await svc.store.update_session(user_id, state="awaiting_method", style_name="own", style_path=str(style))
    await ask_method(svc, first, session)


async def text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    session = await _session(update, services(context))
    if session.state in STYLE_STATES:
        reply = texts.TEXT_WANTS_STYLE
    elif session.state == "awaiting_method":
        reply = texts.TEXT_WANTS_BUTTON
    else:
        reply = texts.TEXT_WANTS_PHOTO
    await update.effective_message.reply_text(reply)


async def sticker(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.effective_message.reply_text(texts.STICKER)


async def video(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A video, GIF (animation), round video note or video file: the content of a video job."""
    svc = services(context)
    message = update.effective_message
    user_id = update.effective_user.id
    session = await _session(update, svc)
    if session.state == "awaiting_own_style":
        await message.reply_text(texts.STYLE_MUST_BE_PICTURE)
        return
    try:
        path, media, seconds = await fetch_video(svc, message, user_id)
    except InputRejected as exc:
        await message.reply_text(str(exc))
        return
    session = await set_content(svc, user_id, path, False, media)
    limit = svc.settings.video_max_seconds
    trim = texts.VIDEO_TRIM_NOTE.format(limit=limit) if seconds > limit else ""
    await message.reply_text(texts.CHOOSE_STYLE_VIDEO.format(seconds=seconds, trim=trim),
                             reply_markup=keyboards.styles(session.version))


async def voice(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.effective_message.reply_text(texts.VOICE)


async def other(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.effective_message is not None and update.effective_chat is not None:
        await update.effective_message.reply_text(texts.OTHER_MEDIA)
