"""Slash commands: /start /help /styles /settings /cancel /stats /forget and unknown ones."""

from __future__ import annotations

import asyncio
import logging

from telegram import InputMediaPhoto, Update
from telegram.ext import ContextTypes

from styletransfer.checkpoints import available_methods
from styletransfer.images import fit_max_side, open_image
from styletransfer.presets import PRESETS

from ... import texts
from .. import keyboards
from ...context import services
from ...store.db import StatLine

log = logging.getLogger(__name__)


async def _session(update: Update, context: ContextTypes.DEFAULT_TYPE):
    user = update.effective_user
    return await services(context).store.get_session(user.id, update.effective_chat.id, user.first_name)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _session(update, context)
    await update.effective_message.reply_text(texts.START)


async def help_(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.effective_message.reply_text(texts.HELP)


def _preset_jpeg(path) -> bytes:
    import io

    buffer = io.BytesIO()
    fit_max_side(open_image(path), 1024).save(buffer, format="JPEG", quality=88)
    return buffer.getvalue()


async def styles(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The presets as one album (file_ids are cached after the first upload)."""
    import asyncio

    cache: dict = context.application.bot_data.setdefault("preset_file_ids", {})
    media = []
    for name, preset in PRESETS.items():
        photo = cache.get(name) or await asyncio.to_thread(_preset_jpeg, preset.path)
        media.append(InputMediaPhoto(photo, caption=f"{texts.preset_title(name)} — {preset.artist}, {preset.year}"))
    await update.effective_message.reply_text(texts.STYLES_INTRO)
    sent = await context.bot.send_media_group(update.effective_chat.id, media)
    for name, message in zip(PRESETS, sent):
        if message.photo:
            cache[name] = message.photo[-1].file_id


def _methods_for_settings() -> list[str]:
    available = available_methods()
    return [m for m in ("adain", "johnson", "gatys") if available.get(m)]


def _canvas_available() -> bool:
    """The canvas texture net is on disk (``checkpoints/texture/canvas.safetensors``)."""
    from styletransfer.checkpoints import johnson_path

    return johnson_path("texture:canvas").is_file()


def settings_view(session, max_side: int) -> tuple[str, object]:
    size = min(session.output_size or max_side, max_side)
    from ...i18n import LANGUAGES

    language = getattr(session, "language", None)
    text = texts.SETTINGS.format(
        method=texts.METHOD_NAMES.get(session.default_method, session.default_method), alpha=session.alpha,
        brush=texts.brush_name(getattr(session, "stroke", None) or 1.0),
        texture=texts.YES if getattr(session, "texture", None) else texts.NO,
        colors=texts.YES if session.preserve_color else texts.NO, size=size,
        language=LANGUAGES.get(language) or texts.LANGUAGE_AUTO,
    )
    markup = keyboards.settings(session.default_method, session.alpha, session.preserve_color, size, max_side,
                                _methods_for_settings(), language, stroke=getattr(session, "stroke", None) or 1.0,
                                texture=getattr(session, "texture", None), textures_available=_canvas_available())
    return text, markup


async def settings(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    session = await _session(update, context)
    text, markup = settings_view(session, services(context).settings.max_side)
    await update.effective_message.reply_text(text, reply_markup=markup)


async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    session = await _session(update, context)
    cancelled = await svc.scheduler.cancel_user_jobs(session.user_id)
    if session.state != "idle":
        await svc.store.update_session(session.user_id, state="idle")
        cancelled += 1
    await update.effective_message.reply_text(texts.CANCELLED if cancelled else texts.NOTHING_TO_CANCEL)


def _fmt(name: str, line: StatLine) -> str:
    mean = f"{line.mean:.1f}" if line.mean is not None else "–"
    if line.ci95 is not None:
        mean += f" ± {line.ci95:.1f}"
    return texts.stats_line(name, line.count, mean)


async def stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    result = await svc.store.stats(update.effective_user.id)
    if result.overall.count == 0 and not result.survey:
        await update.effective_message.reply_text(texts.STATS_NONE + await _admin_lines(svc, update.effective_user.id))
        return
    lines = [texts.STATS_TITLE]
    if result.overall.count:  # only survey answers so far: no empty "all results" line
        lines.append(_fmt(texts.STATS_ALL, result.overall))
    if result.per_method:
        lines += ["", texts.STATS_BY_METHOD]
        lines += [_fmt(texts.METHOD_NAMES.get(m, m), line) for m, line in result.per_method.items()]
    if result.per_preset:
        lines += ["", texts.STATS_BY_PRESET] + [_fmt(texts.style_title(p), line) for p, line in result.per_preset.items()]
    if result.survey:
        lines += ["", texts.STATS_SURVEY]
        lines += [_fmt(texts.METHOD_NAMES.get(m, m), line) for m, line in result.survey.items()]
        partial = sum(result.survey_partial.values())
        if partial:
            lines.append(texts.STATS_SURVEY_PARTIAL.format(k=partial))
    lines += ["", _fmt(texts.STATS_YOURS, result.own), texts.STATS_REPORT]
    text = "\n".join(lines) + await _admin_lines(svc, update.effective_user.id)
    from ...web.charts import stats_chart

    try:
        png = await asyncio.to_thread(stats_chart, result, texts.METHOD_NAMES,
                                      {p: texts.style_title(p) for p in result.per_preset})
    except Exception:  # noqa: BLE001 - a chart problem must not cost the numbers
        log.exception("stats chart failed")
        png = None
    if png is None or len(text) > 1024:  # captions hold 1024 characters
        if png is not None:
            await update.effective_message.reply_photo(png)
        await update.effective_message.reply_text(text)
        return
    await update.effective_message.reply_photo(png, caption=text)


async def _admin_lines(svc, user_id: int) -> str:
    """Operational numbers, only for ADMIN_IDS."""
    if user_id not in svc.settings.admin_ids:
        return ""
    worker = svc.scheduler.worker
    return "\n\n" + texts.ADMIN_STATUS.format(
        queued=await svc.store.queued_total(), running=worker.current_job or "none",
        alive="alive" if worker.is_alive() else "down", restarts=worker.restarts,
    )


async def forget(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.effective_message.reply_text(texts.FORGET_CONFIRM, reply_markup=keyboards.forget())


async def unknown(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.effective_message.reply_text(texts.UNKNOWN_COMMAND)
