"""Everything the bot tells a user about a job: queue position, a progress bar
edited in place (throttled, identical edits skipped), the result with its
buttons, failures."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from telegram import Bot
from telegram.error import BadRequest, NetworkError, TelegramError, TimedOut


from .. import texts
from . import keyboards
from ..config import Settings
from ..jobs.queue import Done, Progress
from ..store.models import Job

log = logging.getLogger(__name__)

RESULT_ATTEMPTS = 3  # tries to send a result through transient network errors
PHOTO_JPEG_QUALITY = 92  # the photo message; Telegram re-encodes photos as JPEG anyway
PHOTO_MAX_BYTES = 10 * 2**20  # Telegram's limit for sendPhoto
DOCUMENT_MAX_BYTES = 50 * 2**20  # Telegram's limit for sendDocument (bots)
PHOTO_MAX_SIDES_SUM = 10_000  # sendPhoto: width + height at most 10000
PHOTO_MAX_RATIO = 20  # sendPhoto: the longer side at most 20x the shorter


def photo_fits(width: int, height: int) -> bool:
    """Whether Telegram takes an image of this size as a photo (sides sum ≤ 10000,
    ratio ≤ 20); otherwise it must go out as a document."""
    return width + height <= PHOTO_MAX_SIDES_SUM and max(width, height) <= PHOTO_MAX_RATIO * min(width, height)


def photo_jpeg(png: bytes, quality: int = PHOTO_JPEG_QUALITY) -> bytes | None:
    """The result PNG re-encoded as a JPEG for ``sendPhoto``: a 1024 px painting is
    ~0.3-0.6 MB instead of 1.5-2 MB of PNG, and even 4096 px stays under Telegram's
    10 MB photo limit (quality is lowered step by step if it would not).  None when
    even quality 60 is over the limit or the shape is not a valid photo: the result
    then goes out as a document.  The lossless PNG also goes out as a document when
    the user sent a file."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(png)) as img:
        rgb = img.convert("RGB")
    if not photo_fits(*rgb.size):
        return None
    for q in (quality, 85, 75, 60):
        buf = io.BytesIO()
        rgb.save(buf, format="JPEG", quality=q, optimize=True)
        if buf.tell() <= PHOTO_MAX_BYTES:
            return buf.getvalue()
    return None


def _jpeg(png: bytes, quality: int = 90) -> bytes:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(png)) as img:
        buf = io.BytesIO()
        img.convert("RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


class Delivery:
    def __init__(self, bot: Bot, settings: Settings) -> None:
        self.bot = bot
        self.settings = settings
        self._last: dict[int, tuple[float, str]] = {}  # job id -> (monotonic time, text) of the last edit
        self._frames_started: dict[int, tuple[float, int]] = {}  # video job id -> (time, frame) of its first report

    async def edit_status(self, job: Job, text: str, *, force: bool = False) -> None:
        """Edit the job's status message; at most one edit per PROGRESS_INTERVAL_S unless
        ``force``; identical text is never re-sent."""
        if job.status_message_id is None:
            return
        now = time.monotonic()
        last_time, last_text = self._last.get(job.id, (0.0, ""))
        if text == last_text or (not force and now - last_time < self.settings.progress_interval_s):
            return
        self._last[job.id] = (now, text)
        try:
            await self.bot.edit_message_text(text, chat_id=job.chat_id, message_id=job.status_message_id)
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                log.warning("status edit of job %s failed: %s", job.id, exc)
        except TelegramError as exc:
            log.warning("status edit of job %s failed: %s", job.id, exc)

    def remember(self, job_id: int, text: str) -> None:
        """Record the status message's current text (as sent), so it is not re-sent."""
        self._last[job_id] = (time.monotonic(), text)

    def forget_job(self, job_id: int) -> None:
        self._frames_started.pop(job_id, None)
        self._last.pop(job_id, None)

    async def queued(self, job: Job, position: int) -> None:
        await self.edit_status(job, texts.QUEUED.format(position=position), force=True)

    async def started(self, job: Job) -> None:
        await self.edit_status(job, texts.STARTING.format(method=texts.METHOD_NAMES.get(job.method, job.method)), force=True)

    async def progress(self, job: Job, event: Progress) -> None:
        fraction = event.step / event.total if event.total else 0.0
        method = texts.METHOD_NAMES.get(job.method, job.method)
        if event.stage == "frames":  # a video: frame k of n and an ETA from the rate so far
            now = time.monotonic()
            first = self._frames_started.setdefault(job.id, (now, event.step))
            eta = ""
            done_since, elapsed = event.step - first[1], now - first[0]
            if done_since > 0 and elapsed > 1.0 and event.total > event.step:
                left = elapsed / done_since * (event.total - event.step)
                eta = texts.ETA.format(left=texts.duration(left))
            text = texts.RUNNING_VIDEO.format(method=method, frame=event.step, frames=event.total,
                                              bar=texts.progress_bar(fraction), eta=eta)
        else:
            text = texts.RUNNING.format(method=method, bar=texts.progress_bar(fraction), percent=int(fraction * 100))
        await self.edit_status(job, text)

    async def result(self, job: Job, done: Done) -> int | None:
        """Send the result photo (and the PNG as a file when the input came as a file)."""
        ran = done.ran or {"method": job.method, **(job.options or {})}  # what the inference process ran
        method = ran.get("method", job.method)
        caption = texts.RESULT_CAPTION.format(
            style=texts.style_title(job.style_name), method=texts.METHOD_NAMES.get(method, method),
            alpha=float(ran.get("alpha", 1.0)), seconds=done.seconds,
            colors=(texts.KEEP_COLORS_SUFFIX if ran.get("preserve_color") else "")
            + (texts.BRUSH_SUFFIX.format(brush=texts.brush_name(ran["stroke"]))
               if abs(float(ran.get("stroke", 1.0)) - 1.0) > 1e-3 else "")
            + (texts.TEXTURE_SUFFIX if ran.get("texture") else ""),
        )
        await self.edit_status(job, texts.DONE_STATUS.format(seconds=done.seconds), force=True)
        data = await asyncio.to_thread(Path(done.output_path).read_bytes)
        media = ran.get("media", "photo")
        if media != "photo":
            if ran.get("trimmed"):
                caption += texts.TRIMMED_SUFFIX.format(seconds=ran.get("duration") or 0)
            message = await self._send_video(job, media, data, caption, ran, done.seconds)
            self.forget_job(job.id)
            return message.message_id
        if job.as_document:
            await self._retrying(lambda: self.bot.send_document(
                job.chat_id, document=data, filename=f"stylebot-{job.id}.png", caption=caption))
        photo = await asyncio.to_thread(photo_jpeg, data)
        message = None
        if photo is not None:
            try:
                message = await self._retrying(lambda: self.bot.send_photo(
                    job.chat_id, photo=photo, caption=caption, reply_markup=keyboards.result(job.id)))
            except BadRequest as exc:
                if "photo" not in str(exc).lower():  # e.g. PHOTO_INVALID_DIMENSIONS: send it as a file instead
                    raise
                log.warning("job %s: Telegram refused the result as a photo (%s); sending a document", job.id, exc)
        if message is None:
            message = await self._send_as_document(job, data, caption)
        self.forget_job(job.id)
        return message.message_id

    async def _send_video(self, job: Job, media: str, data: bytes, caption: str, ran: dict, seconds_taken: float):
        """The painted clip the way it came: a video, an animation (GIF) or a round video
        note (no caption there: it goes on the status message), with the rating keyboard."""
        markup = keyboards.result(job.id)
        width, height = (ran.get("size") or [None, None])[:2]
        seconds = int(round(ran.get("duration") or 0)) or None
        if len(data) > DOCUMENT_MAX_BYTES:
            raise BadRequest("Request Entity Too Large: the painted video is over 50 MB")
        if media == "video_note" and width and width == height:
            await self.edit_status(job, texts.DONE_STATUS.format(seconds=seconds_taken) + "\n" + caption, force=True)
            return await self._retrying(lambda: self.bot.send_video_note(
                job.chat_id, video_note=data, length=width, duration=seconds, reply_markup=markup))
        if media == "animation":
            return await self._retrying(lambda: self.bot.send_animation(
                job.chat_id, animation=data, filename=f"stylebot-{job.id}.mp4", caption=caption, width=width,
                height=height, duration=seconds, reply_markup=markup))
        return await self._retrying(lambda: self.bot.send_video(
            job.chat_id, video=data, filename=f"stylebot-{job.id}.mp4", caption=caption, width=width, height=height,
            duration=seconds, supports_streaming=True, reply_markup=markup))

    async def _send_as_document(self, job: Job, png: bytes, caption: str):
        """The result as a file with the rating keyboard: for pictures Telegram would
        refuse as a photo (size, shape). A PNG over 50 MB goes as a JPEG."""
        data, name = png, f"stylebot-{job.id}.png"
        if len(png) > DOCUMENT_MAX_BYTES:
            data = await asyncio.to_thread(_jpeg, png)
            name = f"stylebot-{job.id}.jpg"
        return await self._retrying(lambda: self.bot.send_document(
            job.chat_id, document=data, filename=name, caption=caption, reply_markup=keyboards.result(job.id)))

    async def _retrying(self, send, attempts: int = RESULT_ATTEMPTS):
        """Call ``send()`` again after a transient network error (e.g. 502 Bad Gateway),
        waiting 1, 2, 4 s...  A bad request is final; a timeout is not retried: Telegram may have got the upload,
        and a second one would duplicate the result.  429 RetryAfter is retried by the
        rate limiter (bot.app.rate_limiter)."""
        for attempt in range(attempts):
            try:
                return await send()
            except (TimedOut, BadRequest):  # BadRequest subclasses NetworkError but is final
                raise
            except NetworkError as exc:
                if attempt == attempts - 1:
                    raise
                log.warning("sending a result failed (%s); retrying", exc)
                await asyncio.sleep(2 ** attempt)

    async def failed(self, job: Job, reason: str) -> None:
        text = texts.FAILED_STATUS.format(reason=reason)
        if job.status_message_id is not None:
            await self.edit_status(job, text, force=True)
        else:
            await self.bot.send_message(job.chat_id, text)
        self.forget_job(job.id)

    async def cancelled(self, job: Job) -> None:
        await self.edit_status(job, texts.CANCELLED_STATUS, force=True)
        self.forget_job(job.id)
