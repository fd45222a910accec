"""The conversation steps shared by several handlers: taking an image from a
message, asking for style and method, and submitting a job."""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import uuid
from pathlib import Path

from telegram import Message
from telegram.error import BadRequest, TelegramError

from styletransfer.checkpoints import available_methods
from styletransfer.errors import ImageError
from styletransfer.images import DEFAULT_MIN_SIDE, PNG_SAVE_OPTIONS, fit_max_side, open_image
from styletransfer.presets import is_preset

from .. import texts
from . import keyboards
from ..context import Services
from ..jobs.estimates import estimate_seconds
from ..i18n import get_language
from ..store.models import UserSession

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".heic"}


class InputRejected(Exception):
    """A message that is not a usable image; ``str(exc)`` is the reply to the user."""


#: The smallest output size /settings offers (bot.keyboards.SIZES).
SMALLEST_OUTPUT = 256


def max_aspect_ratio(max_side: int) -> int:
    """Longest/shortest side a picture may have: at the smallest output size the user
    can pick, its short side must keep the methods' minimum (16 px), and Telegram
    shows nothing longer than 20:1 as a photo. 16:1 at the default settings."""
    smallest = min(SMALLEST_OUTPUT, max_side)
    return max(1, min(20, smallest // DEFAULT_MIN_SIDE))


def _save_png(data: bytes, path: Path, max_side: int) -> None:
    """Validate and store an upload: refused here, at once, if any later step would
    refuse it (too thin to paint at every output size), not after the queue. A big JPEG
    (an uncompressed phone photo sent as a file) decodes at a reduced scale no smaller than
    ``max_side``; the PNG is written at zlib's fastest level (:data:`PNG_SAVE_OPTIONS`). A
    Telegram photo (1280x960 JPEG) stored at 1024 px: 0.09 instead of 0.28 s; a noisy 12 MP
    JPEG sent as a file, stored at 1280 px: 0.20 instead of 0.70 s (2 Xeon cores)."""
    image = open_image(data, max_side=max_side)
    width, height = image.size
    limit = max_aspect_ratio(max_side)
    if max(width, height) > limit * min(width, height):
        raise InputRejected(texts.TOO_THIN.format(width=width, height=height, limit=limit,
                                                  ratio=round(max(width, height) / min(width, height))))
    image = fit_max_side(image, max_side)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG", **PNG_SAVE_OPTIONS)


def user_reason(exc: Exception) -> str:
    """An ImageError or VideoError as words for the user, in their language: what was
    wrong, never a file name or a decoder's internals."""
    text = str(exc)
    m = re.search(r"too small: (\d+)×(\d+) pixels \(each side needs at least (\d+)\)", text)
    if m:
        return texts.REASON_TOO_SMALL.format(width=m.group(1), height=m.group(2), min_side=m.group(3))
    for pattern, reason in (
        ("still image", "REASON_STILL_IMAGE"), ("no video stream", "REASON_NO_VIDEO_STREAM"),
        ("7680×4320", "REASON_VIDEO_TOO_LARGE"), ("no frames", "REASON_NO_FRAMES"),
        ("not a video", "REASON_NOT_VIDEO"), ("corrupt video", "REASON_CORRUPT"),
        ("not an image", "REASON_NOT_IMAGE"), ("truncated", "REASON_TRUNCATED"),
        ("too large", "REASON_TOO_LARGE"), ("empty", "REASON_EMPTY"), ("corrupt", "REASON_CORRUPT"),
        ("cannot be decoded", "REASON_CORRUPT"),
    ):
        if pattern in text:
            return getattr(texts, reason)
    return _legacy_reason(exc)


def _legacy_reason(exc: Exception) -> str:
    """Fallback for an unforeseen message: the library's words, file names and internals removed."""
    # the decoder's own detail in parentheses goes; our hints ("try JPEG…", "each side…") stay
    text = re.sub(r"\s*\((?!try |each |the upload)[^()]*\)", "", str(exc))
    text = re.sub(r"^(the file|'[^']*'|<bytes>)\s*:?\s*", "it ", text).strip()
    text = re.sub(r"^it (is|has)\b", r"it \1", text)
    return text.rstrip(".") or "it cannot be read"


async def fetch_image(services: Services, message: Message, user_id: int) -> tuple[Path, bool]:
    """Download the photo or image document of ``message``, validate it with
    :func:`styletransfer.images.open_image` (in a thread) and store it as PNG under
    DATA_DIR/users/<user>/.  Returns (path, came_as_document); raises InputRejected."""
    settings = services.settings
    if message.photo:
        attachment, as_document = message.photo[-1], False
    elif message.document:
        attachment, as_document = message.document, True
        mime = (message.document.mime_type or "").lower()
        suffix = Path(message.document.file_name or "").suffix.lower()
        if (mime or suffix) and not mime.startswith("image/") and suffix not in IMAGE_SUFFIXES:
            raise InputRejected(texts.NOT_AN_IMAGE)
    else:
        raise InputRejected(texts.OTHER_MEDIA)
    limit = settings.max_download_bytes
    if attachment.file_size and attachment.file_size > limit:
        raise InputRejected(texts.TOO_BIG.format(size_mb=attachment.file_size / 2**20, limit_mb=limit / 2**20))
    try:
        file = await attachment.get_file()
        data = bytes(await file.download_as_bytearray())
    except BadRequest as exc:
        if "too big" in str(exc).lower():
            raise InputRejected(texts.TOO_BIG.format(size_mb=(attachment.file_size or limit) / 2**20,
                                                     limit_mb=limit / 2**20)) from exc
        raise
    if len(data) > limit:
        raise InputRejected(texts.TOO_BIG.format(size_mb=len(data) / 2**20, limit_mb=limit / 2**20))
    path = settings.users_dir / str(user_id) / f"{uuid.uuid4().hex}.png"
    try:
        await asyncio.to_thread(_save_png, data, path, settings.max_side)
    except ImageError as exc:
        raise InputRejected(texts.BAD_IMAGE.format(reason=user_reason(exc))) from exc
    return path, as_document


VIDEO_MEDIA = ("video", "animation", "video_note")


def _probe(path: Path):
    from styletransfer.video import probe  # torch-free (PyAV only)

    return probe(path)


async def fetch_video(services: Services, message: Message, user_id: int) -> tuple[Path, str, float]:
    """Download a video, GIF (animation), round video note or video file, check it with
    :func:`styletransfer.video.probe` (in a thread) and store it under DATA_DIR/users/<user>/.
    Returns (path, media kind, seconds of the clip); raises InputRejected."""
    from styletransfer.errors import VideoError

    settings = services.settings
    if message.video_note:
        attachment, media = message.video_note, "video_note"
    elif message.animation:
        attachment, media = message.animation, "animation"
    elif message.video:
        attachment, media = message.video, "video"
    elif message.document:
        attachment = message.document
        mime = (message.document.mime_type or "").lower()
        media = "animation" if mime == "image/gif" else "video"
    else:
        raise InputRejected(texts.OTHER_MEDIA)
    limit = settings.max_download_bytes
    if attachment.file_size and attachment.file_size > limit:
        raise InputRejected(texts.TOO_BIG_VIDEO.format(size_mb=attachment.file_size / 2**20, limit_mb=limit / 2**20))
    file = await attachment.get_file()
    data = bytes(await file.download_as_bytearray())
    if len(data) > limit:
        raise InputRejected(texts.TOO_BIG_VIDEO.format(size_mb=len(data) / 2**20, limit_mb=limit / 2**20))
    suffix = ".gif" if data[:6] in (b"GIF87a", b"GIF89a") else ".mp4"
    path = settings.users_dir / str(user_id) / f"{uuid.uuid4().hex}{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(path.write_bytes, data)
    try:
        info = await asyncio.to_thread(_probe, path)
    except VideoError as exc:
        path.unlink(missing_ok=True)
        raise InputRejected(texts.BAD_VIDEO.format(reason=user_reason(exc))) from exc
    return path, media, info.duration


def remove_file(path: str | None) -> None:
    if path:
        Path(path).unlink(missing_ok=True)


async def set_content(services: Services, user_id: int, path: Path, as_document: bool,
                      media: str = "photo") -> UserSession:
    """Make ``path`` the user's content (a photo, or a video/GIF/video note: ``media``; the
    previous one is deleted) and wait for a style."""
    old = await services.store.get_session(user_id)
    state = await services.store.update_session(
        user_id, state="awaiting_style", content_path=str(path), content_as_document=as_document,
        content_media=media, style_name=None, style_path=None,
    )
    if old.content_path and old.content_path != str(path):
        remove_file(old.content_path)
    if old.style_path:
        remove_file(old.style_path)
    return state


def offered_methods(services: Services, style_name: str, session: UserSession) -> dict[str, str]:
    """Methods with a checkpoint on this deployment, default first, with labels."""
    settings = services.settings
    available = available_methods()
    offered: dict[str, str] = {}
    if available.get("adain"):
        offered["adain"] = texts.METHOD_LABELS["adain"]
    johnson = available.get("johnson") or []
    if is_preset(style_name) and isinstance(johnson, list) and style_name in johnson:
        offered["johnson"] = texts.METHOD_LABELS["johnson"]
    if getattr(session, "content_media", "photo") in VIDEO_MEDIA:  # Gatys needs minutes per frame
        if session.default_method in offered:
            offered = {session.default_method: offered.pop(session.default_method), **offered}
        return offered
    if available.get("gatys", True):
        side = min(session.output_size or settings.max_side, settings.max_side)
        seconds = estimate_seconds("gatys", steps=settings.gatys_steps, max_side=side, device=settings.device,
                                   history=services.gatys_history)
        offered["gatys"] = texts.METHOD_LABELS["gatys"].format(estimate=texts.duration(seconds))
    if session.default_method in offered:
        offered = {session.default_method: offered.pop(session.default_method), **offered}
    return offered


async def ask_method(services: Services, message: Message, session: UserSession) -> None:
    style = session.style_name or "own"
    offered = offered_methods(services, style, session)
    if not offered:  # a video in a style no fast method has here
        await message.reply_text(texts.VIDEO_NO_METHOD)
        return
    await message.reply_text(
        texts.CHOOSE_METHOD.format(style=texts.style_title(style)),
        reply_markup=keyboards.methods(session.version, offered),
    )


async def limit_error(services: Services, user_id: int) -> str | None:
    """The polite refusal when a new job would break a limit, else None: a user has
    at most MAX_QUEUED_PER_USER jobs waiting (plus the one running), and nobody gets a
    new job while MAX_QUEUE jobs are waiting overall."""
    settings, store = services.settings, services.store
    _, queued = await store.user_job_counts(user_id)
    if queued >= settings.max_queued_per_user:
        return texts.USER_LIMIT.format(count=texts.pictures(queued))
    total_queued = await store.queued_total()
    if total_queued >= settings.max_queue:
        return texts.BUSY.format(queued=texts.pictures(total_queued))
    return None


def _copy_inputs(folder: Path, content_src: str, content: Path, style_src: str | None, style: str | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(content_src, content)
    if style is not None and style_src is not None:
        shutil.copyfile(style_src, style)


async def submit_job(services: Services, chat_id: int, user_id: int, session: UserSession, method: str,
                     *, alpha: float | None = None, preserve_color: bool | None = None, stroke: float | None = None,
                     style_name: str | None = None, style_path: str | None = None,
                     rerun_of: tuple[int, str] | None = None) -> str | None:
    """Queue a job from the user's content image; returns an error text or None.

    The job gets its own copies of its inputs under DATA_DIR/jobs/<uuid>/ (removed
    when it ends), so the user's content image survives for re-runs."""
    settings, store = services.settings, services.store
    style_name = style_name or session.style_name
    style_path = style_path if style_path is not None else session.style_path
    if not session.content_path or not Path(session.content_path).is_file():
        return texts.NO_PHOTO
    if style_name is None or (style_name == "own" and not (style_path and Path(style_path).is_file())):
        return texts.NO_PHOTO
    error = await limit_error(services, user_id)
    if error:
        return error

    folder = settings.jobs_dir / uuid.uuid4().hex
    media = getattr(session, "content_media", "photo") or "photo"
    content = folder / ("content.png" if media == "photo" else "content" + Path(session.content_path).suffix)
    job_style_path = str(folder / "style.png") if style_name == "own" else None
    await asyncio.to_thread(_copy_inputs, folder, session.content_path, content, style_path, job_style_path)
    options = {
        "alpha": session.alpha if alpha is None else alpha,
        "preserve_color": session.preserve_color if preserve_color is None else preserve_color,
        "stroke": float(getattr(session, "stroke", None) or 1.0) if stroke is None else stroke,
        "texture": getattr(session, "texture", None),
        "max_side": min(session.output_size or settings.max_side, settings.max_side),
        "steps": settings.gatys_steps if method == "gatys" else None,
        "source": session.content_path,
        "media": media,
        "lang": get_language(),  # the job's messages (status, result, failure) speak the user's language
    }
    if media != "photo":  # clips have their own size cap (VIDEO_MAX_SIDE); a smaller /settings size still wins
        options["max_side"] = min(session.output_size or settings.video_max_side, settings.video_max_side)
        options["max_seconds"] = settings.video_max_seconds
    if rerun_of is not None:
        options["rerun_of"], options["action"] = rerun_of
    first_text = texts.QUEUED.format(position=await store.unfinished_total() + 1)
    try:
        status = await services.delivery.bot.send_message(chat_id, first_text)
    except TelegramError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    job = await store.create_job(
        user_id=user_id, chat_id=chat_id, content_path=str(content), style_path=job_style_path,
        style_name=style_name, method=method, options=options, as_document=session.content_as_document,
        status_message_id=status.message_id,
    )
    services.delivery.remember(job.id, first_text)
    position = await store.queue_position(job.id)
    if position:
        await services.delivery.queued(job, position)
    services.scheduler.wake()
    return None
