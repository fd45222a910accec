"""/survey and its answer buttons (see :mod:`bot.survey` for the protocol)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from styletransfer.presets import is_preset

from ... import texts
from .. import keyboards
from ...context import Services, services
from ...survey import SAMPLE_PHOTO, SurveyPair, draw_method


async def survey(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    user = update.effective_user
    await svc.store.get_session(user.id, update.effective_chat.id, user.first_name)
    await show_next(svc, update.effective_message, user.id, first=True)


def _answered(row) -> bool:
    return row is not None and (row.score is not None or row.skipped)


def content_title(pair: SurveyPair) -> str:
    if pair.content_title and pair.content_title.startswith("preset:"):
        return texts.preset_title(pair.content_title.split(":", 1)[1])
    if pair.content_title:
        return pair.content_title
    return texts.SURVEY_TUBINGEN if pair.content == SAMPLE_PHOTO else Path(pair.content).stem


def style_title(pair: SurveyPair) -> str:
    if pair.style_title:
        return pair.style_title
    return texts.preset_title(pair.style) if is_preset(pair.style) else Path(pair.style).stem


async def show_next(svc: Services, message: Message, user_id: int, *, first: bool) -> None:
    """Send the user's next unanswered survey picture (the intro before their first one),
    or say that the pictures are still being painted, or that they are done."""
    images = svc.survey
    pairs = images.active_pairs() if images is not None else []
    if not pairs:
        await message.reply_text(texts.SURVEY_UNAVAILABLE)
        return
    answers = await svc.store.survey_answers(user_id)
    remaining = [pair for pair in pairs if not _answered(answers.get(pair.id))]
    if not remaining:
        if first:
            await message.reply_text(texts.SURVEY_ALL_ANSWERED.format(n=len(pairs)))
        else:
            scores = [row.score for row in answers.values() if row.score is not None]
            mean = f"{sum(scores) / len(scores):.1f}" if scores else "–"
            await message.reply_text(texts.SURVEY_DONE.format(rated=len(scores), n=len(pairs), mean=mean))
        return
    # the first unanswered pair whose pictures are ready (the painter may be behind a fast user)
    pair, methods = remaining[0], []
    for candidate in remaining:
        methods = await asyncio.to_thread(images.methods, candidate)
        if methods:
            pair = candidate
            break
    if not methods:
        if not images.rendering and svc.scheduler is not None:
            images.start(svc.scheduler.worker, svc.scheduler.busy)
        ready = await asyncio.to_thread(images.ready_count)
        await message.reply_text(texts.SURVEY_PREPARING.format(ready=ready, n=len(pairs)))
        return
    if first and not answers:
        await message.reply_text(texts.SURVEY_INTRO.format(n=len(pairs)))
    partial = not await asyncio.to_thread(images.complete, pair)
    row = await svc.store.survey_show(user_id, pair.id, draw_method(methods), allowed=methods, partial=partial)
    picture = await asyncio.to_thread(images.path(pair, row.method).read_bytes)
    caption = texts.SURVEY_ITEM.format(k=len(pairs) - len(remaining) + 1, n=len(pairs), content=content_title(pair),
                                       style=style_title(pair))
    await message.reply_photo(picture, caption=caption, reply_markup=keyboards.survey(pair.id))


async def on_button(svc: Services, update: Update, session, rest: str) -> str | None:
    """``sv:<pair>:<1-10|skip|stop>``: record the answer and show the next picture; a
    second tap on an answered picture changes nothing."""
    pair_id, _, value = rest.rpartition(":")
    query = update.callback_query
    images = svc.survey
    if images is None or not any(pair.id == pair_id for pair in images.pairs):
        return texts.STALE_BUTTON
    if value == "stop":
        await _drop_keyboard(query)
        answers = await svc.store.survey_answers(session.user_id)
        pairs = images.active_pairs()
        done = sum(1 for pair in pairs if _answered(answers.get(pair.id)))
        await query.message.reply_text(texts.SURVEY_PAUSED.format(done=done, n=len(pairs)))
        return None
    if value == "skip":
        score = None
    elif value.isdigit() and 1 <= int(value) <= 10:
        score = int(value)
    else:
        return texts.STALE_BUTTON
    if not await svc.store.survey_answer(session.user_id, pair_id, score):
        return texts.SURVEY_ALREADY
    await _drop_keyboard(query)
    await show_next(svc, query.message, session.user_id, first=False)
    return texts.SURVEY_SKIPPED if score is None else texts.SURVEY_RECORDED


async def _drop_keyboard(query) -> None:
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except TelegramError:
        pass
