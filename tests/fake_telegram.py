"""A fake Telegram Bot API server for tests and offline demos.

It speaks enough of the Bot API (https://core.telegram.org/bots/api) for the real
python-telegram-bot v22 client, configured as::

    Bot(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url)
    # i.e. base_url = "http://127.0.0.1:<port>/bot", base_file_url = ".../file/bot";
    # PTB appends the token itself.

and it plays the users' side, so a test reads like a conversation::

    async with FakeTelegram() as tg:
        alice = tg.user(1001, "Alice")
        await alice.send("/start")
        msg = await alice.wait_for(lambda m: "photo" in m.text.lower())
        await alice.send_photo(path)                   # Telegram re-encodes photos as JPEG
        menu = await alice.wait_for(lambda m: m.buttons)
        answer = await alice.click(menu, "Starry Night")   # waits for answerCallbackQuery
        result = await alice.wait_for(lambda m: m.photo)
        result.photo_bytes                             # the bytes the bot uploaded

Requests arrive as form or multipart posts whose values are strings (JSON-valued
parameters such as ``reply_markup`` and ``media`` are JSON strings).  Errors use
the Bot API shape ``{"ok": false, "error_code": N, "description": ...}`` with the
HTTP status equal to ``error_code`` (PTB maps 400 -> BadRequest, 401 ->
InvalidToken, 403 -> Forbidden, 409 -> Conflict, ``parameters.retry_after`` ->
RetryAfter).  Enforced limits are the real ones that bots trip over: text 4096
and caption 1024 characters, ``callback_data`` 64 bytes, photo uploads 10 MB and
width + height <= 10000, documents 50 MB, getFile downloads 20 MB, unchanged
edits ("message is not modified"), unknown messages, late or repeated answers to
callback queries, malformed HTML / MarkdownV2 markup, a blocked user (403),
getUpdates while a webhook is set or while another poller is waiting (409).
Unknown methods get a generic 400 (the real server says 404, which PTB would
misreport as an invalid token).

Run it standalone with ``python -m tests.fake_telegram --port 8081``; it prints
the URLs and the token, and lines typed on stdin are sent as a user's messages
(``/photo PATH``, ``/file PATH``, ``/click TEXT`` are special).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import io
import itertools
import json
import mimetypes
import re
import secrets
import time
from collections.abc import Callable, Iterable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from aiohttp import web
from PIL import Image, ImageOps

DEFAULT_TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijkl"
BOT_FIRST_NAME = "StyleBot"
BOT_USERNAME = "stylebot_test_bot"

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
MAX_CALLBACK_ANSWER = 200
MAX_PHOTO_UPLOAD = 10 * 1024 * 1024
MAX_PHOTO_DIMENSIONS = 10_000  # width + height
MAX_PHOTO_RATIO = 20
MAX_DOCUMENT_UPLOAD = 50 * 1024 * 1024
MAX_GETFILE = 20 * 1024 * 1024
CALLBACK_ANSWER_DEADLINE = 15.0  # seconds after which answerCallbackQuery fails
PHOTO_SIDES = (90, 320, 800, 1280)  # sizes Telegram derives from a photo, largest last
CHAT_ACTIONS = {
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note",
    "upload_video_note",
}
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


class ApiError(Exception):
    """A Bot API error reply: HTTP status == error_code."""

    def __init__(self, code: int, description: str, retry_after: int | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(text: str) -> ApiError:
    return ApiError(400, f"Bad Request: {text}")


# --------------------------------------------------------------------------- markup parsing

class _TelegramHTML(HTMLParser):
    """Telegram's HTML subset -> plain text + entities; raises on what Telegram rejects."""

    TAGS = {
        "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
        "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
        "tg-spoiler": "spoiler", "span": "spoiler", "a": "text_link", "code": "code", "pre": "pre",
        "blockquote": "blockquote", "tg-emoji": "custom_emoji",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text = ""
        self.entities: list[dict[str, Any]] = []
        self.stack: list[tuple[str, int, dict[str, Any]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.TAGS:
            raise bad_request(f'can\'t parse entities: Unsupported start tag "{tag}"')
        entity: dict[str, Any] = {"type": self.TAGS[tag]}
        if tag == "a":
            href = dict(attrs).get("href")
            if not href:
                raise bad_request("can't parse entities: Can't find end tag corresponding to start tag a")
            entity["url"] = href
        self.stack.append((tag, len(self.text), entity))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1][0] != tag:
            raise bad_request(f'can\'t parse entities: Unmatched end tag "{tag}"')
        _, start, entity = self.stack.pop()
        if len(self.text) > start:
            self.entities.append({**entity, "offset": start, "length": len(self.text) - start})

    def handle_data(self, data: str) -> None:
        self.text += data


def _parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    if re.search(r"<(?![a-zA-Z/])", text):
        raise bad_request("can't parse entities: Unsupported start tag \"\" (use &lt; for '<')")
    parser = _TelegramHTML()
    parser.feed(text)
    parser.close()
    if parser.stack:
        tag = parser.stack[-1][0]
        raise bad_request(f'can\'t parse entities: Can\'t find end tag corresponding to start tag "{tag}"')
    return parser.text, parser.entities


_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")


def _parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    """MarkdownV2 as documented: reserved characters must be escaped with a backslash."""
    out: list[str] = []
    entities: list[dict[str, Any]] = []
    open_marks: dict[str, int] = {}
    marks = {"*": "bold", "_": "italic", "__": "underline", "~": "strikethrough", "||": "spoiler"}
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            if i + 1 >= len(text):
                raise bad_request("can't parse entities: Character '\\' is reserved and must be escaped")
            out.append(text[i + 1])
            i += 2
            continue
        if ch == "`":
            fence = "```" if text.startswith("```", i) else "`"
            end = text.find(fence, i + len(fence))
            if end < 0:
                raise bad_request(f"can't parse entities: Can't find end of Pre entity at byte offset {i}")
            body = text[i + len(fence):end].replace("\\`", "`").replace("\\\\", "\\")
            start = len("".join(out))
            out.append(body)
            entities.append({"type": "pre" if fence == "```" else "code", "offset": start, "length": len(body)})
            i = end + len(fence)
            continue
        if ch == "[":
            m = re.match(r"\[((?:\\.|[^\]\\])*)\]\(((?:\\.|[^)\\])*)\)", text[i:])
            if not m:
                raise bad_request("can't parse entities: Character '[' is reserved and must be escaped with the preceding '\\'")
            inner, _ = _parse_markdown_v2(m.group(1))
            start = len("".join(out))
            out.append(inner)
            entities.append({"type": "text_link", "offset": start, "length": len(inner),
                             "url": re.sub(r"\\(.)", r"\1", m.group(2))})
            i += m.end()
            continue
        mark = text[i:i + 2] if text[i:i + 2] in ("__", "||") else ch
        if mark in marks:
            pos = len("".join(out))
            if mark in open_marks:
                start = open_marks.pop(mark)
                if pos > start:
                    entities.append({"type": marks[mark], "offset": start, "length": pos - start})
            else:
                open_marks[mark] = pos
            i += len(mark)
            continue
        if ch == ">" and (i == 0 or text[i - 1] == "\n"):
            i += 1
            continue
        if ch in _MDV2_RESERVED:
            raise bad_request(
                f"can't parse entities: Character '{ch}' is reserved and must be escaped with the preceding '\\'"
            )
        out.append(ch)
        i += 1
    if open_marks:
        mark = next(iter(open_marks))
        raise bad_request(f"can't parse entities: Can't find end of {marks[mark].title()} entity at byte offset {open_marks[mark]}")
    return "".join(out), entities


def _parse_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Legacy Markdown: *bold* _italic_ `code` [text](url); an unclosed mark is an error."""
    out: list[str] = []
    entities: list[dict[str, Any]] = []
    i = 0
    kinds = {"*": "bold", "_": "italic", "`": "code"}
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in "*_`[":
            out.append(text[i + 1])
            i += 2
        elif ch in kinds:
            end = text.find(ch, i + 1)
            if end < 0:
                raise bad_request(f"can't parse entities: Can't find end of the entity starting at byte offset {i}")
            start = len("".join(out))
            out.append(text[i + 1:end])
            entities.append({"type": kinds[ch], "offset": start, "length": end - i - 1})
            i = end + 1
        elif ch == "[":
            m = re.match(r"\[([^\]]*)\]\(([^)]*)\)", text[i:])
            if not m:
                raise bad_request(f"can't parse entities: Can't find end of the entity starting at byte offset {i}")
            start = len("".join(out))
            out.append(m.group(1))
            entities.append({"type": "text_link", "offset": start, "length": len(m.group(1)), "url": m.group(2)})
            i += m.end()
        else:
            out.append(ch)
            i += 1
    return "".join(out), entities


def parse_formatted(text: str, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    """Apply ``parse_mode`` like Telegram: returns (plain text, entities) or raises ApiError(400)."""
    mode = (parse_mode or "").lower()
    if not mode:
        return text, []
    if mode == "html":
        return _parse_html(text)
    if mode == "markdownv2":
        return _parse_markdown_v2(text)
    if mode == "markdown":
        return _parse_markdown(text)
    raise bad_request(f"unsupported parse_mode {parse_mode!r}")


# --------------------------------------------------------------------------- data model

@dataclasses.dataclass
class StoredFile:
    """A file the fake server holds (uploaded by the bot or sent by a user)."""

    file_id: str
    file_unique_id: str
    data: bytes
    file_path: str
    size: int

    def descriptor(self) -> dict[str, Any]:
        return {"file_id": self.file_id, "file_unique_id": self.file_unique_id, "file_size": self.size}


@dataclasses.dataclass
class CallbackAnswer:
    """What the bot answered to a button press (answerCallbackQuery)."""

    query_id: str
    text: str | None
    show_alert: bool
    url: str | None


@dataclasses.dataclass
class Call:
    """One Bot API request the server received."""

    method: str
    params: dict[str, Any]
    ok: bool = True
    error: str | None = None
    injected: bool = False  # failed on purpose (fail_next)
    at: float = dataclasses.field(default_factory=time.monotonic)


class FakeMessage:
    """A message in a chat as the user sees it; updated in place by edits.

    ``text`` is the visible text: the message text, or a media caption ("" if none).
    ``history`` keeps the earlier versions (raw Bot API dicts) after each edit.
    """

    def __init__(self, tg: FakeTelegram, raw: dict[str, Any], seq: int, *, from_bot: bool):
        self._tg = tg
        self.raw = raw
        self.seq = seq
        self.from_bot = from_bot
        self.history: list[dict[str, Any]] = []
        self.times: list[float] = [time.monotonic()]  # when each version appeared (monotonic s)
        self.deleted = False

    # identity
    @property
    def message_id(self) -> int:
        return self.raw["message_id"]

    @property
    def chat_id(self) -> int:
        return self.raw["chat"]["id"]

    @property
    def kind(self) -> str:
        for key in ("photo", "animation", "video_note", "video", "document", "sticker", "voice", "text"):
            if key in self.raw:
                return key
        return "other"

    # content
    @property
    def text(self) -> str:
        return self.raw.get("text") or self.raw.get("caption") or ""

    @property
    def caption(self) -> str | None:
        return self.raw.get("caption")

    @property
    def media_group_id(self) -> str | None:
        return self.raw.get("media_group_id")

    @property
    def photo(self) -> list[dict[str, Any]] | None:
        return self.raw.get("photo")

    @property
    def photo_bytes(self) -> bytes | None:
        """The largest photo size (for the bot's uploads: exactly the uploaded bytes)."""
        if not self.photo:
            return None
        return self._tg.files[self.photo[-1]["file_id"]].data

    @property
    def photo_image(self) -> Image.Image | None:
        data = self.photo_bytes
        return None if data is None else Image.open(io.BytesIO(data))

    @property
    def document(self) -> dict[str, Any] | None:
        return self.raw.get("document")

    @property
    def document_bytes(self) -> bytes | None:
        return None if not self.document else self._tg.files[self.document["file_id"]].data

    @property
    def document_name(self) -> str | None:
        return None if not self.document else self.document.get("file_name")

    @property
    def video(self) -> dict[str, Any] | None:
        return self.raw.get("video")

    @property
    def animation(self) -> dict[str, Any] | None:
        return self.raw.get("animation")

    @property
    def video_note(self) -> dict[str, Any] | None:
        return self.raw.get("video_note")

    @property
    def media_bytes(self) -> bytes | None:
        """The file of a video, animation, video note or document message."""
        for key in ("video", "animation", "video_note", "document"):
            if self.raw.get(key):
                return self._tg.files[self.raw[key]["file_id"]].data
        return None

    # buttons
    @property
    def reply_markup(self) -> dict[str, Any] | None:
        return self.raw.get("reply_markup")

    @property
    def buttons(self) -> list[list[dict[str, Any]]]:
        """Inline keyboard rows of button dicts (``text``, ``callback_data``, ...)."""
        return [list(row) for row in (self.reply_markup or {}).get("inline_keyboard", [])]

    @property
    def button_texts(self) -> list[str]:
        return [b["text"] for row in self.buttons for b in row]

    def find_button(self, label: str, *, stale: bool = False) -> dict[str, Any]:
        """The button whose text or callback_data equals ``label`` (else: text contains it).

        ``stale=True`` also looks at keyboards this message had before its edits (newest first),
        to simulate a user pressing a button just before the bot replaced it (double click)."""
        flat = [b for row in self.buttons for b in row]
        if stale:
            for old in reversed(self.history):
                flat += [b for row in (old.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]
        for b in flat:
            if label in (b.get("text"), b.get("callback_data")):
                return b
        matches = [b for b in flat if label.lower() in b.get("text", "").lower()]
        if len(matches) == 1:
            return matches[0]
        raise AssertionError(
            f"no{' unique' if matches else ''} button {label!r} on message {self.message_id}; "
            f"buttons: {[(b.get('text'), b.get('callback_data')) for b in flat]}"
        )

    @property
    def edits(self) -> int:
        return len(self.history)

    @property
    def versions(self) -> list[str]:
        """The visible text of every version of this message, oldest first, current last."""
        return [raw.get("text") or raw.get("caption") or "" for raw in [*self.history, self.raw]]

    def __repr__(self) -> str:
        who = "bot" if self.from_bot else "user"
        extra = f" buttons={self.button_texts}" if self.buttons else ""
        gone = " (deleted)" if self.deleted else ""
        return f"<FakeMessage #{self.message_id} {who} {self.kind}: {self.text[:60]!r}{extra}{gone}>"


class FakeUser:
    """A Telegram user in a private chat with the bot."""

    def __init__(self, tg: FakeTelegram, user_id: int, first_name: str, language_code: str = "en"):
        self.tg = tg
        self.id = user_id
        self.first_name = first_name
        self.language_code = language_code
        self.blocked = False
        self.mark = 0  # event sequence number at this user's last action (see wait_for)

    # -- views
    @property
    def user_dict(self) -> dict[str, Any]:
        return {"id": self.id, "is_bot": False, "first_name": self.first_name,
                "language_code": self.language_code}

    @property
    def chat_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": "private", "first_name": self.first_name}

    @property
    def messages(self) -> list[FakeMessage]:
        """The bot's messages in this chat, oldest first (deleted ones included, flagged)."""
        return [m for m in self.tg.chat_messages(self.id) if m.from_bot]

    @property
    def sent(self) -> list[FakeMessage]:
        """This user's own messages."""
        return [m for m in self.tg.chat_messages(self.id) if not m.from_bot]

    @property
    def last(self) -> FakeMessage | None:
        msgs = [m for m in self.messages if not m.deleted]
        return msgs[-1] if msgs else None

    def transcript(self) -> str:
        return self.tg.transcript(self.id)

    def block(self) -> None:
        """The user blocks the bot: further sends to this chat fail with 403."""
        self.blocked = True

    # -- actions
    def _base_message(self, **content: Any) -> dict[str, Any]:
        return {
            "message_id": self.tg.next_message_id(self.id),
            "from": self.user_dict,
            "chat": self.chat_dict,
            "date": int(time.time()),
            **content,
        }

    async def _post(self, raw: dict[str, Any]) -> FakeMessage:
        self.mark = self.tg.seq
        msg = self.tg.record_message(raw, from_bot=False)
        self.tg.push_update({"message": raw})
        return msg

    async def send(self, text: str) -> FakeMessage:
        """Send a text message; a leading /command gets its ``bot_command`` entity."""
        content: dict[str, Any] = {"text": text}
        m = re.match(r"/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?", text)
        if m:
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": m.end()}]
        return await self._post(self._base_message(**content))

    async def send_photo(self, image: str | Path | bytes | Image.Image, caption: str | None = None,
                         *, media_group_id: str | None = None) -> FakeMessage:
        """Send a compressed photo: re-encoded as JPEG in several sizes (max 1280 px), largest last."""
        sizes = await asyncio.to_thread(self.tg.photo_sizes_from_user, _read_image_input(image))
        content: dict[str, Any] = {"photo": sizes}
        if caption:
            content["caption"] = caption
        if media_group_id:
            content["media_group_id"] = media_group_id
        return await self._post(self._base_message(**content))

    async def send_document(self, data: str | Path | bytes, file_name: str | None = None,
                            mime_type: str | None = None, caption: str | None = None) -> FakeMessage:
        """Send any file uncompressed ("as a file"); bytes are kept exactly."""
        if isinstance(data, str | Path):
            file_name = file_name or Path(data).name
            data = Path(data).read_bytes()
        file_name = file_name or "file.bin"
        mime_type = mime_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        stored = self.tg.store_file(data, "documents", Path(file_name).suffix or ".bin")
        content: dict[str, Any] = {"document": {**stored.descriptor(), "file_name": file_name,
                                                "mime_type": mime_type}}
        if caption:
            content["caption"] = caption
        return await self._post(self._base_message(**content))

    async def send_album(self, images: Iterable[str | Path | bytes | Image.Image],
                         caption: str | None = None) -> list[FakeMessage]:
        """Send photos as an album: one update per photo, sharing a media_group_id."""
        group = str(next(self.tg._ids) + 13_000_000_000_000_000)
        sent = []
        for index, image in enumerate(images):
            sent.append(await self.send_photo(image, caption if index == 0 else None, media_group_id=group))
        return sent

    async def send_sticker(self, emoji: str = "😀") -> FakeMessage:
        stored = self.tg.store_file(_tiny_png(512), "stickers", ".webp")
        sticker = {**stored.descriptor(), "type": "regular", "width": 512, "height": 512,
                   "is_animated": False, "is_video": False, "emoji": emoji, "set_name": "TestPack"}
        return await self._post(self._base_message(sticker=sticker))

    async def send_voice(self, duration: int = 3) -> FakeMessage:
        stored = self.tg.store_file(b"OggS" + bytes(2000), "voice", ".oga")
        voice = {**stored.descriptor(), "duration": duration, "mime_type": "audio/ogg"}
        return await self._post(self._base_message(voice=voice))

    async def send_video(self, data: str | Path | bytes | None = None, *, width: int = 640, height: int = 360,
                         duration: int = 5, file_name: str = "clip.mp4", caption: str | None = None) -> FakeMessage:
        """Send a video (``data``: MP4 bytes or path; default: 4000 bytes that are no video)."""
        data = Path(data).read_bytes() if isinstance(data, str | Path) else (data if data is not None else bytes(4000))
        stored = self.tg.store_file(data, "videos", ".mp4")
        video = {**stored.descriptor(), "width": width, "height": height, "duration": duration,
                 "mime_type": "video/mp4", "file_name": file_name}
        content: dict[str, Any] = {"video": video}
        if caption:
            content["caption"] = caption
        return await self._post(self._base_message(**content))

    async def send_animation(self, data: str | Path | bytes, *, width: int = 320, height: int = 240,
                             duration: int = 2, file_name: str = "animation.gif.mp4") -> FakeMessage:
        """Send a GIF the way Telegram delivers it: an ``animation`` (MP4 inside) with the
        same file as a ``document`` beside it."""
        data = Path(data).read_bytes() if isinstance(data, str | Path) else data
        stored = self.tg.store_file(data, "animations", ".mp4")
        base = {**stored.descriptor(), "file_name": file_name, "mime_type": "video/mp4"}
        animation = {**base, "width": width, "height": height, "duration": duration}
        return await self._post(self._base_message(animation=animation, document=base))

    async def send_video_note(self, data: str | Path | bytes, *, length: int = 240, duration: int = 2) -> FakeMessage:
        """Send a round video message (square MP4)."""
        data = Path(data).read_bytes() if isinstance(data, str | Path) else data
        stored = self.tg.store_file(data, "video_notes", ".mp4")
        note = {**stored.descriptor(), "length": length, "duration": duration}
        return await self._post(self._base_message(video_note=note))

    async def click(self, message: FakeMessage, button: str | None = None, *, data: str | None = None,
                    timeout: float = 10.0, wait: bool = True, stale: bool = False) -> CallbackAnswer | str:
        """Press an inline button on ``message`` (by its text or callback_data, or raw ``data``);
        ``stale=True`` also finds buttons of the message's earlier keyboards (see find_button).

        Returns the bot's answerCallbackQuery as a CallbackAnswer; raises AssertionError if the bot
        does not answer within ``timeout`` s. With ``wait=False`` returns the callback query id.
        """
        if message.deleted:
            raise AssertionError(f"message {message.message_id} was deleted; nothing to click")
        if data is None:
            if button is None:
                raise ValueError("give a button label or data=")
            found = message.find_button(button, stale=stale)
            if "callback_data" not in found:
                raise AssertionError(f"button {button!r} has no callback_data: {found}")
            data = found["callback_data"]
        self.mark = self.tg.seq
        query_id = str(next(self.tg._ids) + 4_000_000_000_000_000)
        self.tg.callbacks[query_id] = _PendingCallback(
            query_id, self.id, data, time.monotonic(), asyncio.get_running_loop().create_future()
        )
        self.tg.log(self.id, f"{self.first_name} clicks [{data}] on #{message.message_id}")
        self.tg.push_update({"callback_query": {
            "id": query_id,
            "from": self.user_dict,
            "message": message.raw,
            "chat_instance": str(-self.id * 7919),
            "data": data,
        }})
        if not wait:
            return query_id
        return await self.tg.wait_answer(query_id, timeout)

    async def wait_for(self, predicate: Callable[[FakeMessage], Any] = lambda m: True, *,
                       timeout: float = 10.0, since: int | None = None) -> FakeMessage:
        """Wait for a bot message in this chat, sent or edited after this user's last action
        (or after event number ``since``; 0 = whole history), for which ``predicate`` is truthy.
        Raises AssertionError with the chat transcript on timeout."""
        since = self.mark if since is None else since

        def check() -> FakeMessage | None:
            for m in self.messages:
                if m.seq > since and not m.deleted and predicate(m):
                    return m
            return None

        return await self.tg.wait_until(check, timeout, f"a matching bot message for {self.first_name}", self.id)

    async def wait_for_text(self, fragment: str, **kw: Any) -> FakeMessage:
        """Wait for a bot message whose visible text contains ``fragment`` (case-insensitive)."""
        return await self.wait_for(lambda m: fragment.lower() in m.text.lower(), **kw)

    async def wait_quiet(self, seconds: float = 1.0, timeout: float = 30.0) -> None:
        """Wait until the bot has not touched this chat for ``seconds``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = self.tg.last_activity.get(self.id, 0.0)
            remaining = seconds - (time.monotonic() - last)
            if remaining <= 0:
                return
            await asyncio.sleep(remaining)
        raise AssertionError(f"chat {self.id} never went quiet")

    def __repr__(self) -> str:
        return f"<FakeUser {self.id} {self.first_name}>"


@dataclasses.dataclass
class _PendingCallback:
    query_id: str
    user_id: int
    data: str
    created: float
    future: asyncio.Future
    answered: bool = False


# --------------------------------------------------------------------------- helpers

def _read_image_input(image: str | Path | bytes | Image.Image) -> Image.Image:
    if isinstance(image, Image.Image):
        return image
    data = Path(image).read_bytes() if isinstance(image, str | Path) else image
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def _tiny_png(side: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (side, side), (200, 120, 40)).save(buf, "PNG")
    return buf.getvalue()


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "yes")


def _as_int(params: dict[str, Any], name: str, default: int | None = None) -> int:
    value = params.get(name)
    if value is None or value == "":
        if default is None:
            raise bad_request(f"{name} is empty" if name in params else f"{name} is required")
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"invalid {name} specified") from None


def _as_json(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if value is None or not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        raise bad_request(f"can't parse {name} JSON object") from None


# --------------------------------------------------------------------------- the server

class FakeTelegram:
    """The fake Bot API server plus the users' side of every chat.

    Attributes: ``base_url`` / ``base_file_url`` (pass to PTB), ``token``, ``url``, ``calls`` (every
    request as Call(method, params, ok, error)), ``commands`` (from setMyCommands), ``webhook``.
    """

    def __init__(self, token: str = DEFAULT_TOKEN, host: str = "127.0.0.1", port: int = 0, *,
                 callback_answer_deadline: float = CALLBACK_ANSWER_DEADLINE):
        self.token = token
        self.host = host
        self.port = port
        self.bot_id = int(token.split(":", 1)[0])
        self.callback_answer_deadline = callback_answer_deadline
        self.bot_user = {"id": self.bot_id, "is_bot": True, "first_name": BOT_FIRST_NAME,
                         "username": BOT_USERNAME, "can_join_groups": False,
                         "can_read_all_group_messages": False, "supports_inline_queries": False}
        self.users: dict[int, FakeUser] = {}
        self.files: dict[str, StoredFile] = {}
        self.calls: list[Call] = []
        self.commands: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] | None = None
        self.callbacks: dict[str, _PendingCallback] = {}
        self.conflicts = 0
        self.seq = 0
        self.last_activity: dict[int, float] = {}
        self._ids = itertools.count(1)
        self._update_id = itertools.count(100_000_001)
        self._updates: list[dict[str, Any]] = []
        self._allowed_updates: list[str] | None = None
        self._message_ids: dict[int, itertools.count] = {}
        self._messages: dict[tuple[int, int], FakeMessage] = {}
        self._transcript: list[tuple[int, str]] = []
        self._errors: list[tuple[str, ApiError, int]] = []
        self.commands_by_language: dict[str, list] = {}  # "" = the default list
        self._delays: dict[str, float] = {}
        self._changed = asyncio.Event()
        self._poller: asyncio.Future | None = None
        self._poller_request: web.Request | None = None
        self._closing = False
        self._runner: web.AppRunner | None = None
        self.observers: list[Callable[[int, str], None]] = []

    # -- lifecycle
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_DOCUMENT_UPLOAD + 1024 * 1024)
        app.router.add_route("*", "/file/bot{token}/{path:.+}", self._handle_file)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        return app

    async def start(self) -> FakeTelegram:
        self._changed = asyncio.Event()
        self._runner = web.AppRunner(self.make_app(), shutdown_timeout=2.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        self._closing = True
        self._notify()
        if self._poller and not self._poller.done():
            self._poller.set_result(None)
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- test-side API
    def user(self, user_id: int, first_name: str = "Alice", language_code: str = "en") -> FakeUser:
        """The user with this id (created on first use)."""
        if user_id not in self.users:
            self.users[user_id] = FakeUser(self, user_id, first_name, language_code)
        return self.users[user_id]

    def calls_of(self, method: str, ok: bool | None = None) -> list[Call]:
        return [c for c in self.calls if c.method == method and (ok is None or c.ok == ok)]

    def failed_calls(self, *, injected: bool = False) -> list[Call]:
        """Calls that got an error reply (those failed on purpose by fail_next only if ``injected``)."""
        return [c for c in self.calls if not c.ok and (injected or not c.injected)]

    def unanswered_callbacks(self) -> list[str]:
        return [q for q, cb in self.callbacks.items() if not cb.answered]

    def fail_next(self, method: str, code: int = 429, description: str | None = None, *,
                  retry_after: int | None = None, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` fail (e.g. 429 with retry_after, 502)."""
        if code == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            description = (f"Too Many Requests: retry after {retry_after}" if code == 429
                           else f"Injected error {code}")
        self._errors.append((method, ApiError(code, description, retry_after), times))

    def delay_next(self, method: str, seconds: float) -> None:
        """Carry out the next call of ``method`` but answer it only after ``seconds``
        (a slow network: the bot may time out although Telegram has done the call)."""
        self._delays[method] = seconds

    def pending_updates(self) -> int:
        return len(self._updates)

    def chat_messages(self, chat_id: int) -> list[FakeMessage]:
        return sorted((m for (c, _), m in self._messages.items() if c == chat_id), key=lambda m: m.message_id)

    def transcript(self, chat_id: int | None = None) -> str:
        return "\n".join(line for c, line in self._transcript if chat_id is None or c == chat_id)

    async def wait_until(self, check: Callable[[], Any], timeout: float, what: str,
                         chat_id: int | None = None) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            event = self._changed
            result = check()
            if result:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out after {timeout:g}s waiting for {what}. Transcript:\n"
                    + (self.transcript(chat_id) or "(empty)")
                )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    async def wait_answer(self, query_id: str, timeout: float = 10.0) -> CallbackAnswer:
        cb = self.callbacks[query_id]
        try:
            return await asyncio.wait_for(asyncio.shield(cb.future), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(
                f"callback query {query_id} ({cb.data!r}) was not answered within {timeout:g}s. "
                f"Transcript:\n{self.transcript(cb.user_id)}"
            ) from None

    async def wait_call(self, method: str, predicate: Callable[[Call], Any] = lambda c: True,
                        timeout: float = 10.0) -> Call:
        """Wait for a request of ``method`` (received from now on) matching ``predicate``."""
        start = len(self.calls)
        return await self.wait_until(
            lambda: next((c for c in self.calls[start:] if c.method == method and predicate(c)), None),
            timeout, f"a {method} call",
        )

    # -- internals shared with FakeUser
    def _notify(self) -> None:
        self.seq += 1
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    def log(self, chat_id: int, line: str) -> None:
        self._transcript.append((chat_id, line))
        for observer in self.observers:
            observer(chat_id, line)

    def next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def record_message(self, raw: dict[str, Any], *, from_bot: bool) -> FakeMessage:
        self._notify()
        msg = FakeMessage(self, raw, self.seq, from_bot=from_bot)
        self._messages[(msg.chat_id, msg.message_id)] = msg
        who = BOT_FIRST_NAME if from_bot else raw["from"]["first_name"]
        self.log(msg.chat_id, f"{who}: {self._describe(msg)}")
        if from_bot:
            self.last_activity[msg.chat_id] = time.monotonic()
        return msg

    def _describe(self, msg: FakeMessage) -> str:
        parts = []
        if msg.kind != "text":
            extra = ""
            if msg.photo:
                extra = f" {msg.photo[-1]['width']}x{msg.photo[-1]['height']}"
            elif msg.document:
                extra = f" {msg.document.get('file_name')}"
            parts.append(f"[{msg.kind}{extra}]")
        if msg.media_group_id:
            parts.append(f"(album {msg.media_group_id[-4:]})")
        if msg.text:
            parts.append(msg.text)
        if msg.buttons:
            parts.append(" ".join(f"[{b['text']}]" for b in (b for row in msg.buttons for b in row)))
        return " ".join(parts) or "(empty)"

    def push_update(self, body: dict[str, Any]) -> None:
        update = {"update_id": next(self._update_id), **body}
        self._updates.append(update)
        self._notify()

    def store_file(self, data: bytes, folder: str, suffix: str) -> StoredFile:
        n = next(self._ids)
        file_id = f"AgAC{n:06d}{secrets.token_hex(8)}"
        stored = StoredFile(file_id, f"AQAD{n:06d}", data, f"{folder}/file_{n}{suffix}", len(data))
        self.files[file_id] = stored
        return stored

    def photo_sizes_from_user(self, img: Image.Image) -> list[dict[str, Any]]:
        """What Telegram makes of a sent photo: EXIF-upright JPEGs, max side 90..1280, largest last."""
        img = ImageOps.exif_transpose(img)
        if img.mode != "RGB":
            if img.mode in ("RGBA", "LA", "P", "PA"):
                rgba = img.convert("RGBA")
                background = Image.new("RGB", rgba.size, (255, 255, 255))
                background.paste(rgba, mask=rgba.getchannel("A"))
                img = background
            else:
                img = img.convert("RGB")
        return self._photo_sizes(img, keep=None)

    def _photo_sizes(self, img: Image.Image, keep: bytes | None) -> list[dict[str, Any]]:
        longest = max(img.size)
        sides = sorted({min(side, longest) for side in PHOTO_SIDES})
        sizes = []
        for index, side in enumerate(sides):
            last = index == len(sides) - 1
            if last and keep is not None:
                data, (w, h) = keep, img.size
            else:
                scaled = img.copy()
                scaled.thumbnail((side, side), Image.Resampling.LANCZOS)
                buf = io.BytesIO()
                scaled.save(buf, "JPEG", quality=87)
                data, (w, h) = buf.getvalue(), scaled.size
            stored = self.store_file(data, "photos", ".jpg")
            sizes.append({**stored.descriptor(), "width": w, "height": h})
        return sizes

    # -- HTTP handlers
    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").payload(), status=401)
        path = request.match_info["path"]
        for stored in self.files.values():
            if stored.file_path == path:
                return web.Response(body=stored.data, content_type="application/octet-stream")
        return web.json_response(ApiError(404, "Not Found").payload(), status=404)

    async def _handle_method(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").payload(), status=401)
        params, uploads = await self._read_params(request)
        call = Call(method, {k: v for k, v in params.items()})
        call.params.update({k: f"<upload {v[0]!r} {len(v[1])} bytes>" for k, v in uploads.items()})
        self.calls.append(call)
        try:
            try:
                self._maybe_injected_error(method)
            except ApiError:
                call.injected = True
                raise
            handler = getattr(self, f"_api_{method.lower()}", None)
            if handler is None:
                raise bad_request(f"method {method!r} not found")
            if method.lower() == "getupdates":
                result = await self._api_getupdates(params, uploads, request)
            else:
                result = await handler(params, uploads)
        except ApiError as err:
            call.ok, call.error = False, err.description
            self._notify()
            return web.json_response(err.payload(), status=err.code)
        self._notify()
        delay = self._delays.pop(method, None)
        if delay:  # the call took effect; only its answer is late (the client may time out)
            await asyncio.sleep(delay)
        return web.json_response({"ok": True, "result": result})

    async def _read_params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, tuple[str, bytes, str]]]:
        params: dict[str, Any] = dict(request.query)
        uploads: dict[str, tuple[str, bytes, str]] = {}
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                params.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()})
            else:
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        uploads[key] = (value.filename or key, value.file.read(), value.content_type)
                    else:
                        params[key] = value
        return params, uploads

    def _maybe_injected_error(self, method: str) -> None:
        for index, (name, error, times) in enumerate(self._errors):
            if name == method:
                if times <= 1:
                    del self._errors[index]
                else:
                    self._errors[index] = (name, error, times - 1)
                raise error

    # -- validation helpers
    def _chat(self, params: dict[str, Any]) -> FakeUser:
        chat_id = _as_int(params, "chat_id")
        user = self.users.get(chat_id)
        if user is None:
            raise bad_request("chat not found")
        if user.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return user

    def _message(self, params: dict[str, Any], action: str) -> FakeMessage:
        if "inline_message_id" in params:
            raise bad_request("inline messages are not supported by the fake server")
        user = self._chat(params)
        message_id = _as_int(params, "message_id")
        msg = self._messages.get((user.id, message_id))
        if msg is None or msg.deleted:
            raise bad_request(f"message to {action} not found")
        return msg

    @staticmethod
    def _markup(params: dict[str, Any]) -> dict[str, Any] | None:
        markup = _as_json(params, "reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        rows = markup.get("inline_keyboard")
        if rows is not None:
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise bad_request("field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array of Arrays")
            for row in rows:
                for button in row:
                    if not button.get("text"):
                        raise bad_request("BUTTON_TEXT_EMPTY")
                    data = button.get("callback_data")
                    if data is not None and not 1 <= len(str(data).encode("utf-8")) <= MAX_CALLBACK_DATA:
                        raise bad_request("BUTTON_DATA_INVALID")
                    kinds = {"callback_data", "url", "switch_inline_query", "web_app", "login_url",
                             "switch_inline_query_current_chat", "copy_text", "pay", "callback_game"}
                    if not kinds & button.keys():
                        raise bad_request("can't find field \"callback_data\" in the InlineKeyboardButton")
            if not any(rows):
                return None
        return markup

    @staticmethod
    def _text(params: dict[str, Any], key: str, limit: int, *, required: bool) -> tuple[str | None, list]:
        raw = params.get(key)
        if raw is None or raw == "":
            if required:
                raise bad_request("message text is empty")
            return None, []
        text, entities = parse_formatted(raw, params.get("parse_mode"))
        if required and not text.strip():
            raise bad_request("message text is empty")
        if len(text) > limit:
            raise bad_request("message is too long" if key == "text" else "message caption is too long")
        return text, entities

    def _bot_message(self, user: FakeUser, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        raw: dict[str, Any] = {
            "message_id": self.next_message_id(user.id),
            "from": self.bot_user,
            "chat": user.chat_dict,
            "date": int(time.time()),
        }
        reply = _as_json(params, "reply_parameters")
        reply_to = reply.get("message_id") if isinstance(reply, dict) else params.get("reply_to_message_id")
        if reply_to is not None:
            target = self._messages.get((user.id, int(reply_to)))
            if target is None:
                if not (isinstance(reply, dict) and reply.get("allow_sending_without_reply")):
                    raise bad_request("message to be replied not found")
            else:
                raw["reply_to_message"] = {k: v for k, v in target.raw.items() if k != "reply_to_message"}
        raw.update({k: v for k, v in content.items() if v not in (None, [])})
        markup = self._markup(params)
        if markup:
            raw["reply_markup"] = markup
        return raw

    def _file_input(self, params: dict[str, Any], uploads: dict[str, tuple[str, bytes, str]],
                    field: str) -> tuple[str, bytes, str, StoredFile | None]:
        """(filename, bytes, content type, existing file or None) for an upload/attach:///file_id."""
        if field in uploads:
            name, data, ctype = uploads[field]
            return name, data, ctype, None
        ref = params.get(field)
        if not ref:
            raise bad_request(f"there is no {field} in the request")
        if isinstance(ref, str) and ref.startswith("attach://"):
            key = ref[len("attach://"):]
            if key not in uploads:
                raise bad_request(f"file {key} not found in the request (attach://)")
            name, data, ctype = uploads[key]
            return name, data, ctype, None
        if ref in self.files:
            stored = self.files[ref]
            return Path(stored.file_path).name, stored.data, "", stored
        if isinstance(ref, str) and ref.startswith(("http://", "https://")):
            raise bad_request("wrong file identifier/HTTP URL specified (the fake server has no network)")
        raise bad_request("wrong file identifier/HTTP URL specified")

    def _uploaded_photo(self, name: str, data: bytes, existing: StoredFile | None) -> list[dict[str, Any]]:
        if existing is not None:
            for msg in self._messages.values():
                if msg.photo and any(size["file_id"] == existing.file_id for size in msg.photo):
                    return msg.photo
        if len(data) > MAX_PHOTO_UPLOAD:
            raise bad_request("PHOTO_SAVE_FILE_INVALID (photo larger than 10 MB)")
        try:
            img = Image.open(io.BytesIO(data))
            img.load()
        except Exception:
            raise bad_request("IMAGE_PROCESS_FAILED") from None
        w, h = img.size
        if w + h > MAX_PHOTO_DIMENSIONS or max(w, h) > MAX_PHOTO_RATIO * min(w, h):
            raise bad_request("PHOTO_INVALID_DIMENSIONS")
        if img.mode != "RGB":
            img = img.convert("RGB")
        return self._photo_sizes(img, keep=data)

    def _uploaded_document(self, name: str, data: bytes, ctype: str, existing: StoredFile | None) -> dict[str, Any]:
        if existing is not None:
            for msg in self._messages.values():
                if msg.document and msg.document["file_id"] == existing.file_id:
                    return msg.document
        if len(data) > MAX_DOCUMENT_UPLOAD:
            raise ApiError(413, "Request Entity Too Large")
        stored = self.store_file(data, "documents", Path(name).suffix or ".bin")
        mime = mimetypes.guess_type(name)[0] or ctype or "application/octet-stream"
        return {**stored.descriptor(), "file_name": name, "mime_type": mime}

    def _edited(self, msg: FakeMessage, **changes: Any) -> dict[str, Any]:
        new = dict(msg.raw)
        for key, value in changes.items():
            if value is None:
                new.pop(key, None)
            else:
                new[key] = value
        same = all(new.get(k) == msg.raw.get(k) for k in ("text", "caption", "reply_markup", "entities",
                                                         "caption_entities"))
        if same:
            raise bad_request(NOT_MODIFIED[len("Bad Request: "):])
        new["edit_date"] = int(time.time())
        msg.history.append(msg.raw)
        msg.raw = new
        msg.times.append(time.monotonic())
        self._notify()
        msg.seq = self.seq
        self.last_activity[msg.chat_id] = time.monotonic()
        self.log(msg.chat_id, f"{BOT_FIRST_NAME} edits #{msg.message_id}: {self._describe(msg)}")
        return new

    # -- Bot API methods (each returns the "result" value or raises ApiError)
    async def _api_getme(self, params: dict, uploads: dict) -> Any:
        return self.bot_user

    async def _api_logout(self, params: dict, uploads: dict) -> Any:
        return True

    async def _api_close(self, params: dict, uploads: dict) -> Any:
        return True

    async def _api_getupdates(self, params: dict, uploads: dict, request: web.Request | None = None) -> Any:
        if self.webhook:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset = _as_int(params, "offset", 0)
        limit = max(1, min(100, _as_int(params, "limit", 100)))
        timeout = max(0, _as_int(params, "timeout", 0))
        allowed = _as_json(params, "allowed_updates")
        if allowed is not None:
            self._allowed_updates = list(allowed) or None
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        if self._poller and not self._poller.done():
            old_transport = self._poller_request.transport if self._poller_request else None
            if old_transport is None or old_transport.is_closing():
                self._poller.set_result(None)  # its client is gone (e.g. a stopped bot): just drop it
            else:
                # Like Telegram: a new getUpdates terminates the one still waiting.
                self.conflicts += 1
                self._poller.set_exception(ApiError(409, "Conflict: terminated by other getUpdates request; "
                                                         "make sure that only one bot instance is running"))
        poller = asyncio.get_running_loop().create_future()
        self._poller, self._poller_request = poller, request
        deadline = time.monotonic() + timeout
        try:
            while True:
                ready = self._deliverable()[:limit]
                if ready or self._closing or time.monotonic() >= deadline:
                    return ready
                waiter = asyncio.ensure_future(self._changed.wait())
                try:
                    await asyncio.wait({waiter, poller}, timeout=deadline - time.monotonic(),
                                       return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
                if poller.done():
                    if poller.exception():
                        raise poller.exception()  # type: ignore[misc]
                    return []
        finally:
            if self._poller is poller:
                self._poller = None

    def _deliverable(self) -> list[dict[str, Any]]:
        if self._allowed_updates:
            kinds = set(self._allowed_updates)
            self._updates = [u for u in self._updates if kinds & (u.keys() - {"update_id"})]
        return list(self._updates)

    async def _api_setwebhook(self, params: dict, uploads: dict) -> Any:
        url = params.get("url", "")
        if url and not url.startswith("https://") and not url.startswith("http://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook = {"url": url, "secret_token": params.get("secret_token"),
                        "allowed_updates": _as_json(params, "allowed_updates")} if url else None
        return True

    async def _api_deletewebhook(self, params: dict, uploads: dict) -> Any:
        self.webhook = None
        if _truthy(params.get("drop_pending_updates")):
            self._updates.clear()
        return True

    async def _api_getwebhookinfo(self, params: dict, uploads: dict) -> Any:
        info: dict[str, Any] = {"url": (self.webhook or {}).get("url", ""), "has_custom_certificate": False,
                                "pending_update_count": len(self._updates)}
        if self.webhook and self.webhook.get("allowed_updates"):
            info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    async def _api_setmycommands(self, params: dict, uploads: dict) -> Any:
        commands = _as_json(params, "commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("commands must be a list of at most 100 BotCommand")
        for cmd in commands:
            name, desc = cmd.get("command", ""), cmd.get("description", "")
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(desc) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        lang = params.get("language_code") or ""
        if lang and not re.fullmatch(r"[a-z]{2}", lang):
            raise bad_request("wrong language code")
        self.commands_by_language[lang] = commands
        if not lang:
            self.commands = commands
        return True

    async def _api_getmycommands(self, params: dict, uploads: dict) -> Any:
        return self.commands

    async def _api_deletemycommands(self, params: dict, uploads: dict) -> Any:
        self.commands = []
        return True

    async def _api_sendchataction(self, params: dict, uploads: dict) -> Any:
        self._chat(params)
        if params.get("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    async def _api_sendmessage(self, params: dict, uploads: dict) -> Any:
        user = self._chat(params)
        text, entities = self._text(params, "text", MAX_TEXT, required=True)
        raw = self._bot_message(user, params, text=text, entities=entities)
        self.record_message(raw, from_bot=True)
        return raw

    async def _api_sendphoto(self, params: dict, uploads: dict) -> Any:
        user = self._chat(params)
        caption, entities = self._text(params, "caption", MAX_CAPTION, required=False)
        name, data, _, existing = self._file_input(params, uploads, "photo")
        sizes = await asyncio.to_thread(self._uploaded_photo, name, data, existing)
        raw = self._bot_message(user, params, photo=sizes, caption=caption, caption_entities=entities)
        self.record_message(raw, from_bot=True)
        return raw

    async def _api_senddocument(self, params: dict, uploads: dict) -> Any:
        user = self._chat(params)
        caption, entities = self._text(params, "caption", MAX_CAPTION, required=False)
        name, data, ctype, existing = self._file_input(params, uploads, "document")
        document = self._uploaded_document(name, data, ctype, existing)
        raw = self._bot_message(user, params, document=document, caption=caption, caption_entities=entities)
        self.record_message(raw, from_bot=True)
        return raw

    def _uploaded_media(self, field: str, params: dict, uploads: dict) -> dict[str, Any]:
        name, data, ctype, existing = self._file_input(params, uploads, field)
        if existing is not None:
            for msg in self._messages.values():
                if msg.raw.get(field, {}).get("file_id") == existing.file_id:
                    return msg.raw[field]
        if len(data) > MAX_DOCUMENT_UPLOAD:
            raise ApiError(413, "Request Entity Too Large")
        if not data:
            raise bad_request(f"file of {field} is empty")
        stored = self.store_file(data, field + "s", Path(name).suffix or ".mp4")
        media = {**stored.descriptor()}
        if field == "video_note":
            media.update({"length": int(params.get("length") or 240), "duration": int(params.get("duration") or 0)})
        else:
            media.update({"file_name": name, "mime_type": mimetypes.guess_type(name)[0] or ctype or "video/mp4",
                          "width": int(params.get("width") or 0), "height": int(params.get("height") or 0),
                          "duration": int(params.get("duration") or 0)})
        return media

    async def _api_sendvideo(self, params: dict, uploads: dict) -> Any:
        user = self._chat(params)
        caption, entities = self._text(params, "caption", MAX_CAPTION, required=False)
        video = self._uploaded_media("video", params, uploads)
        raw = self._bot_message(user, params, video=video, caption=caption, caption_entities=entities)
        self.record_message(raw, from_bot=True)
        return raw

    async def _api_sendanimation(self, params: dict, uploads: dict) -> Any:
        user = self._chat(params)
        caption, entities = self._text(params, "caption", MAX_CAPTION, required=False)
        animation = self._uploaded_media("animation", params, uploads)
        raw = self._bot_message(user, params, animation=animation, document=dict(animation), caption=caption,
                                caption_entities=entities)
        self.record_message(raw, from_bot=True)
        return raw

    async def _api_sendvideonote(self, params: dict, uploads: dict) -> Any:
        user = self._chat(params)
        if params.get("caption"):
            raise bad_request("video notes can't have a caption")
        note = self._uploaded_media("video_note", params, uploads)
        raw = self._bot_message(user, params, video_note=note)
        self.record_message(raw, from_bot=True)
        return raw

    async def _api_sendmediagroup(self, params: dict, uploads: dict) -> Any:
        user = self._chat(params)
        media = _as_json(params, "media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise bad_request("wrong number of media in the album: must be 2-10 items")
        kinds = {item.get("type") for item in media}
        if len(kinds) > 1 and kinds & {"document", "audio"}:
            raise bad_request("documents and audio can't be mixed with other media types")
        prepared = []
        for item in media:
            caption, entities = self._text(item, "caption", MAX_CAPTION, required=False)
            name, data, ctype, existing = self._file_input(item, uploads, "media")
            if item.get("type") == "photo":
                content = {"photo": await asyncio.to_thread(self._uploaded_photo, name, data, existing)}
            elif item.get("type") == "document":
                content = {"document": self._uploaded_document(name, data, ctype, existing)}
            else:
                raise bad_request(f"media type {item.get('type')!r} is not supported by the fake server")
            prepared.append({**content, "caption": caption, "caption_entities": entities})
        group = str(next(self._ids) + 13_000_000_000_000_000)
        sent = []
        for content in prepared:
            raw = self._bot_message(user, params, media_group_id=group, **content)
            self.record_message(raw, from_bot=True)
            sent.append(raw)
        return sent

    async def _api_editmessagetext(self, params: dict, uploads: dict) -> Any:
        msg = self._message(params, "edit")
        if "text" not in msg.raw:
            raise bad_request("there is no text in the message to edit")
        text, entities = self._text(params, "text", MAX_TEXT, required=True)
        return self._edited(msg, text=text, entities=entities or None, reply_markup=self._markup(params))

    async def _api_editmessagecaption(self, params: dict, uploads: dict) -> Any:
        msg = self._message(params, "edit")
        if "text" in msg.raw:
            raise bad_request("there is no caption in the message to edit")
        caption, entities = self._text(params, "caption", MAX_CAPTION, required=False)
        return self._edited(msg, caption=caption, caption_entities=entities or None,
                            reply_markup=self._markup(params))

    async def _api_editmessagereplymarkup(self, params: dict, uploads: dict) -> Any:
        msg = self._message(params, "edit")
        return self._edited(msg, reply_markup=self._markup(params))

    async def _api_deletemessage(self, params: dict, uploads: dict) -> Any:
        msg = self._message(params, "delete")
        msg.deleted = True
        self.log(msg.chat_id, f"{BOT_FIRST_NAME} deletes #{msg.message_id}")
        return True

    async def _api_answercallbackquery(self, params: dict, uploads: dict) -> Any:
        query_id = params.get("callback_query_id", "")
        cb = self.callbacks.get(query_id)
        too_old = "query is too old and response timeout expired or query ID is invalid"
        if cb is None or cb.answered or time.monotonic() - cb.created > self.callback_answer_deadline:
            raise bad_request(too_old)
        text = params.get("text")
        if text and len(text) > MAX_CALLBACK_ANSWER:
            raise bad_request("MESSAGE_TOO_LONG")
        cb.answered = True
        answer = CallbackAnswer(query_id, text, _truthy(params.get("show_alert")), params.get("url"))
        if not cb.future.done():
            cb.future.set_result(answer)
        note = f" {'alert' if answer.show_alert else 'toast'}: {text}" if text else ""
        self.log(cb.user_id, f"{BOT_FIRST_NAME} answers [{cb.data}]{note}")
        return True

    async def _api_getfile(self, params: dict, uploads: dict) -> Any:
        stored = self.files.get(params.get("file_id", ""))
        if stored is None:
            raise bad_request("invalid file_id")
        if stored.size > MAX_GETFILE:
            raise bad_request("file is too big")
        return {**stored.descriptor(), "file_path": stored.file_path}


# --------------------------------------------------------------------------- standalone

async def _console(tg: FakeTelegram, user: FakeUser) -> None:
    loop = asyncio.get_running_loop()
    while True:
        try:
            line = (await loop.run_in_executor(None, input)).strip()
        except EOFError:  # no console (stdin closed): keep serving
            await asyncio.Event().wait()
        try:
            if line.startswith("/photo "):
                await user.send_photo(line.split(" ", 1)[1])
            elif line.startswith("/file "):
                await user.send_document(line.split(" ", 1)[1])
            elif line.startswith("/click "):
                target = next(m for m in reversed(user.messages) if m.buttons and not m.deleted)
                await user.click(target, line.split(" ", 1)[1], wait=False)
            elif line:
                await user.send(line)
        except Exception as exc:  # a console typo must not stop the server
            print(f"! {exc}")


async def _serve(port: int, token: str, user_id: int) -> None:
    async with FakeTelegram(token=token, port=port) as tg:
        user = tg.user(user_id, "You")
        tg.observers.append(lambda chat, line: print(line, flush=True))
        print(f"Fake Telegram Bot API on {tg.url}")
        print(f"TELEGRAM_BOT_TOKEN={tg.token}")
        print(f"TELEGRAM_BASE_URL={tg.base_url}")
        print(f"TELEGRAM_BASE_FILE_URL={tg.base_file_url}")
        print(f"Type messages as user {user_id}; /photo PATH, /file PATH, /click BUTTON. Ctrl-C stops.",
              flush=True)
        await _console(tg, user)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake Telegram Bot API server for stylebot tests")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--user-id", type=int, default=1001)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt, EOFError):
        asyncio.run(_serve(args.port, args.token, args.user_id))


if __name__ == "__main__":
    main()
