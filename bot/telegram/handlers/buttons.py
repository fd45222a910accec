"""Inline button presses.  Every press is answered (answerCallbackQuery); stale
or repeated presses get a short notice instead of an action."""

from __future__ import annotations

from telegram import Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from styletransfer.presets import is_preset

from ... import texts
from .. import keyboards
from ...i18n import LANGUAGES, pick_language, set_language
from ...context import Services, services
from ..conversation import ask_method, limit_error, submit_job
from ..keyboards import ALPHAS
from .commands import settings_view

ALPHA_STEP = 0.25
#: a re-run's brush: 1.5x bigger or smaller strokes (fine 0.67 -> medium 1 -> bold 1.5 -> 2.25 -> 3.4),
#: within styletransfer.scale's range
STROKE_STEP = 1.5
STROKE_LIMITS = (0.3, 3.4)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    svc = services(context)
    user = update.effective_user
    if not await svc.store.has_user(user.id):
        # every keyboard belongs to someone the bot knows: after /forget (or a second
        # tap on its "Yes") old buttons are stale and must not store the user again
        await query.answer(texts.STALE_BUTTON)
        return
    session = await svc.store.get_session(user.id, update.effective_chat.id if update.effective_chat else None,
                                          user.first_name)
    kind, _, rest = (query.data or "").partition(":")
    handler = HANDLERS.get(kind)
    notice = texts.STALE_BUTTON if handler is None else await handler(svc, update, session, rest)
    await query.answer(notice)
    # (if a handler raises, the global error handler answers the query with texts.ERROR)


async def _drop_keyboard(update: Update) -> None:
    """Remove a used keyboard; cosmetic, so a failure (message too old, network) is
    ignored rather than aborting the step (stale presses are caught by the version)."""
    try:
        await update.callback_query.edit_message_reply_markup(reply_markup=None)
    except TelegramError:
        pass


def _version_ok(session, rest: str) -> tuple[bool, str]:
    version, _, value = rest.partition(":")
    return version == str(session.version), value


async def style(svc: Services, update: Update, session, rest: str) -> str | None:
    ok, name = _version_ok(session, rest)
    if not ok or session.state != "awaiting_style":
        return texts.STALE_BUTTON
    message = update.callback_query.message
    await _drop_keyboard(update)
    if name == "own":
        await svc.store.update_session(session.user_id, state="awaiting_own_style")
        await message.reply_text(texts.SEND_OWN_STYLE)
        return None
    if not is_preset(name):
        return texts.STALE_BUTTON
    session = await svc.store.update_session(session.user_id, state="awaiting_method", style_name=name,
                                             style_path=None)
    await ask_method(svc, message, session)
    return None


async def method(svc: Services, update: Update, session, rest: str) -> str | None:
    ok, name = _version_ok(session, rest)
    if not ok or session.state != "awaiting_method":
        return texts.STALE_BUTTON
    from ..conversation import offered_methods

    if name not in offered_methods(svc, session.style_name or "own", session):
        return texts.METHOD_UNAVAILABLE
    # a full queue keeps the keyboard and the photos: the user can tap again later
    refusal = await limit_error(svc, session.user_id)
    if refusal:
        await update.callback_query.message.reply_text(refusal)
        return None
    # move on first, so a double click finds the state changed
    session = await svc.store.update_session(session.user_id, state="idle", bump=False)
    try:
        error = await submit_job(svc, update.effective_chat.id, session.user_id, session, name)
    except Exception:
        # nothing was queued: keep the keyboard usable so a second tap can retry
        await svc.store.update_session(session.user_id, state="awaiting_method", bump=False)
        raise
    await _drop_keyboard(update)
    if error:
        await update.callback_query.message.reply_text(error)
    return None


async def cancel(svc: Services, update: Update, session, rest: str) -> str | None:
    version, _, _ = rest.partition(":")
    if version != str(session.version) or session.state == "idle":
        return texts.STALE_BUTTON
    await svc.store.update_session(session.user_id, state="idle")
    await _drop_keyboard(update)
    await update.callback_query.message.reply_text(texts.CANCELLED)
    return None


async def rate(svc: Services, update: Update, session, rest: str) -> str | None:
    job_id, _, score = rest.partition(":")
    try:
        job = await svc.store.get_job(int(job_id))
        value = int(score)
    except ValueError:
        return texts.STALE_BUTTON
    if job is None or job.user_id != session.user_id or job.status != "done" or not 1 <= value <= 10:
        return texts.STALE_BUTTON
    new = await svc.store.rate(job.id, session.user_id, value)
    return (texts.RATED if new else texts.RERATED).format(score=value)


async def rerun(svc: Services, update: Update, session, rest: str) -> str | None:
    job_id, _, action = rest.partition(":")
    try:
        job = await svc.store.get_job(int(job_id))
    except ValueError:
        return texts.STALE_BUTTON
    if job is None or job.user_id != session.user_id:
        return texts.STALE_BUTTON
    options = job.options or {}
    if options.get("source") != session.content_path:
        return texts.NO_PHOTO
    message = update.callback_query.message
    if action == "another":
        session = await svc.store.update_session(session.user_id, state="awaiting_style")
        await message.reply_text(texts.CHOOSE_STYLE, reply_markup=keyboards.styles(session.version))
        return None
    alpha = float(options.get("alpha", 1.0))
    preserve = bool(options.get("preserve_color", False))
    stroke = float(options.get("stroke", 1.0))
    if action == "stronger":
        if alpha >= 1.0:
            return texts.ALREADY_STRONGEST
        alpha = min(1.0, alpha + ALPHA_STEP)
    elif action == "weaker":
        if alpha <= ALPHAS[0]:
            return texts.ALREADY_WEAKEST
        alpha = max(ALPHAS[0], alpha - ALPHA_STEP)
    elif action == "bigger":
        if stroke * STROKE_STEP > STROKE_LIMITS[1]:
            return texts.ALREADY_BOLDEST
        stroke = round(stroke * STROKE_STEP, 3)
    elif action == "finer":
        if stroke / STROKE_STEP < STROKE_LIMITS[0]:
            return texts.ALREADY_FINEST
        stroke = round(stroke / STROKE_STEP, 3)
    elif action == "colors":
        if preserve:
            return texts.COLORS_ALREADY
        preserve = True
    else:
        return texts.STALE_BUTTON
    if await svc.store.has_rerun(job.id, action):
        return texts.ALREADY_DONE
    style_path = session.style_path if job.style_name == "own" else None
    if job.style_name == "own" and not style_path:
        return texts.NO_PHOTO
    error = await submit_job(svc, update.effective_chat.id, session.user_id, session, job.method, alpha=alpha,
                             preserve_color=preserve, stroke=stroke, style_name=job.style_name, style_path=style_path,
                             rerun_of=(job.id, action))
    return error


async def configure(svc: Services, update: Update, session, rest: str) -> str | None:
    field, _, value = rest.partition(":")
    changes: dict = {}
    if field == "m" and value in texts.METHOD_NAMES:
        changes["default_method"] = value
    elif field == "a":
        try:
            alpha = float(value)
        except ValueError:
            return texts.STALE_BUTTON
        if not 0.0 < alpha <= 1.0:
            return texts.STALE_BUTTON
        changes["alpha"] = alpha
    elif field == "b" and value in keyboards.BRUSHES:
        from styletransfer.scale import STROKES

        changes["stroke"] = STROKES[value]
    elif field == "c":
        changes["preserve_color"] = not session.preserve_color
    elif field == "t":
        changes["texture"] = None if getattr(session, "texture", None) else "canvas"
    elif field == "s" and value.isdigit():
        changes["output_size"] = min(int(value), svc.settings.max_side)
    elif field == "l" and (value in LANGUAGES or value == "auto"):
        changes["language"] = None if value == "auto" else value
        set_language(pick_language(changes["language"], update.effective_user.language_code))
    else:
        return texts.STALE_BUTTON
    # settings do not invalidate a conversation in progress: keep the version
    session = await svc.store.update_session(session.user_id, bump=False, **changes)
    text, markup = settings_view(session, svc.settings.max_side)
    try:
        await update.callback_query.edit_message_text(text, reply_markup=markup)
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise
    return texts.SETTINGS_SAVED


async def forget(svc: Services, update: Update, session, rest: str) -> str | None:
    await _drop_keyboard(update)
    if rest != "yes":
        await update.callback_query.message.reply_text(texts.FORGET_KEPT)
        return None
    await svc.scheduler.cancel_user_jobs(session.user_id)
    from ..conversation import remove_file

    for path in await svc.store.forget(session.user_id):
        remove_file(path)
    await update.callback_query.message.reply_text(texts.FORGOTTEN)
    return None


async def survey_answer(svc: Services, update: Update, session, rest: str) -> str | None:
    from .survey import on_button

    return await on_button(svc, update, session, rest)


HANDLERS = {"st": style, "me": method, "cx": cancel, "rt": rate, "rr": rerun, "cfg": configure, "fg": forget,
            "sv": survey_answer}
