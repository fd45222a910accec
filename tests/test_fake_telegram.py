"""The fake Bot API server against the real python-telegram-bot v22 client."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Update,
)
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, RetryAfter
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, MessageHandler, filters

from tests.fake_telegram import FakeTelegram, parse_formatted


def jpeg(w: int, h: int, color=(30, 90, 200)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture
async def tg():
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def bot(tg):
    async with Bot(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url) as b:
        yield b


async def test_get_me_and_bad_token(tg, bot):
    me = await bot.get_me()
    assert me.is_bot and me.id == tg.bot_id and me.username
    wrong = Bot("999:WRONG", base_url=tg.base_url, base_file_url=tg.base_file_url)
    with pytest.raises(InvalidToken):
        await wrong.initialize()


async def test_send_edit_and_keyboard_limits(tg, bot):
    alice = tg.user(1001, "Alice")
    kb = InlineKeyboardMarkup([[InlineKeyboardButton("Starry Night", callback_data="style:starry_night")]])
    sent = await bot.send_message(alice.id, "Pick a <b>style</b>", parse_mode="HTML", reply_markup=kb)
    assert sent.text == "Pick a style" and sent.entities[0].type == "bold"
    assert sent.date.timestamp() > 0 and sent.chat.type == "private" and sent.from_user.is_bot
    msg = alice.last
    assert msg.text == "Pick a style" and msg.button_texts == ["Starry Night"]

    edited = await bot.edit_message_text("Working… 10%", chat_id=alice.id, message_id=sent.message_id)
    assert edited.text == "Working… 10%" and edited.edit_date is not None
    assert msg.text == "Working… 10%" and msg.edits == 1 and not msg.buttons  # edit without markup drops it
    assert msg.versions == ["Pick a style", "Working… 10%"] and msg.times == sorted(msg.times)
    with pytest.raises(BadRequest, match="(?i)message is not modified"):
        await bot.edit_message_text("Working… 10%", chat_id=alice.id, message_id=sent.message_id)
    with pytest.raises(BadRequest, match="(?i)message to edit not found"):
        await bot.edit_message_text("x", chat_id=alice.id, message_id=9999)
    with pytest.raises(BadRequest, match="(?i)chat not found"):
        await bot.send_message(4242, "hello?")

    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="d" * 65)]])
    with pytest.raises(BadRequest, match="(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(alice.id, "bad", reply_markup=too_long)
    with pytest.raises(BadRequest, match="(?i)too long"):
        await bot.send_message(alice.id, "a" * 4097)
    with pytest.raises(BadRequest, match="(?i)can't parse entities"):
        await bot.send_message(alice.id, "1.5 stars!", parse_mode="MarkdownV2")
    with pytest.raises(BadRequest, match="(?i)can't parse entities"):
        await bot.send_message(alice.id, "<b>unclosed", parse_mode="HTML")

    assert await bot.delete_message(alice.id, sent.message_id)
    assert msg.deleted
    with pytest.raises(BadRequest, match="(?i)message to delete not found"):
        await bot.delete_message(alice.id, sent.message_id)
    assert [c.method for c in tg.failed_calls()].count("sendMessage") == 5


async def test_markup_parsers():
    assert parse_formatted(r"*Starry* \- 1\.5 _x_", "MarkdownV2")[0] == "Starry - 1.5 x"
    assert parse_formatted("a &lt; <i>b</i>", "HTML") == ("a < b", [{"type": "italic", "offset": 4, "length": 1}])
    with pytest.raises(Exception, match="(?i)Unsupported start tag"):
        parse_formatted("<div>x</div>", "HTML")
    with pytest.raises(Exception, match="(?i)end of the entity"):
        parse_formatted("snake_case", "Markdown")


async def test_photo_document_album_upload_and_download(tg, bot):
    alice = tg.user(1001, "Alice")
    photo = await bot.send_photo(alice.id, jpeg(64, 48), caption="Result: Starry Night")
    assert photo.photo[-1].width == 64 and photo.caption == "Result: Starry Night"
    assert Image.open(io.BytesIO(alice.last.photo_bytes)).size == (64, 48)
    doc = await bot.send_document(alice.id, b"\x89PNG fake", filename="result.png")
    assert doc.document.file_name == "result.png" and doc.document.mime_type == "image/png"
    assert alice.last.document_bytes == b"\x89PNG fake"
    album = await bot.send_media_group(
        alice.id, [InputMediaPhoto(jpeg(32, 32), caption=f"style {i}") for i in range(3)]
    )
    assert len(album) == 3 and len({m.media_group_id for m in album}) == 1 and album[0].media_group_id
    assert [m.caption for m in album] == ["style 0", "style 1", "style 2"]
    # resending by file_id works; an unknown file_id does not
    again = await bot.send_photo(alice.id, photo.photo[-1].file_id)
    assert again.photo[-1].file_id == photo.photo[-1].file_id

    with pytest.raises(BadRequest, match="(?i)PHOTO_INVALID_DIMENSIONS"):
        await bot.send_photo(alice.id, jpeg(9000, 1200))
    with pytest.raises(BadRequest, match="(?i)IMAGE_PROCESS_FAILED"):
        await bot.send_photo(alice.id, b"not an image")
    with pytest.raises(BadRequest, match="(?i)wrong file identifier"):
        await bot.send_photo(alice.id, "no-such-file-id")

    # the user's side: a compressed photo comes in several JPEG sizes, largest last, downloadable
    big = Image.new("RGB", (1600, 1000), (10, 200, 10))
    sent = await alice.send_photo(big, caption="my cat")
    sizes = sent.photo
    assert [max(s["width"], s["height"]) for s in sizes] == [90, 320, 800, 1280]
    file = await bot.get_file(sizes[-1]["file_id"])
    data = await file.download_as_bytearray()
    assert Image.open(io.BytesIO(bytes(data))).size == (1280, 800)

    huge = await alice.send_document(b"\0" * (20 * 1024 * 1024 + 1), "huge.png", "image/png")
    with pytest.raises(BadRequest, match="(?i)file is too big"):
        await bot.get_file(huge.document["file_id"])
    with pytest.raises(BadRequest, match="(?i)invalid file_id"):
        await bot.get_file("nope")


async def test_error_mapping_commands_and_webhook(tg, bot):
    alice = tg.user(1001, "Alice")
    tg.fail_next("sendMessage", 429, retry_after=3)
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(alice.id, "hi")
    assert "Retry in 3 seconds" in str(info.value)
    assert (await bot.send_message(alice.id, "hi")).text == "hi"  # only the next call failed
    assert tg.failed_calls() == [] and [c.method for c in tg.failed_calls(injected=True)] == ["sendMessage"]

    alice.block()
    with pytest.raises(Forbidden, match="(?i)blocked"):
        await bot.send_message(alice.id, "still there?")

    with pytest.raises(BadRequest, match="(?i)not found"):
        await bot.do_api_request("noSuchMethod")

    assert await bot.set_my_commands([BotCommand("start", "Start"), BotCommand("styles", "Presets")])
    assert [c.command for c in await bot.get_my_commands()] == ["start", "styles"]
    with pytest.raises(BadRequest, match="(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand("Bad-Name", "x")])

    assert await bot.set_webhook("https://example.org/hook", secret_token="s3cret")
    assert (await bot.get_webhook_info()).url == "https://example.org/hook"
    with pytest.raises(Conflict, match="(?i)webhook is active"):
        await bot.get_updates()
    assert await bot.delete_webhook()
    assert await bot.get_updates(timeout=0) == ()


async def test_get_updates_long_poll_offset_and_callback_answers(tg, bot):
    alice = tg.user(1001, "Alice")
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    assert not poll.done()  # long polling waits...
    await alice.send("/start now")
    updates = await asyncio.wait_for(poll, 2)  # ...and returns as soon as an update exists
    assert len(updates) == 1
    message = updates[0].message
    assert message.text == "/start now" and message.entities[0].type == "bot_command"
    assert message.entities[0].offset == 0 and message.from_user.first_name == "Alice"
    # unconfirmed updates come again; offset confirms them
    assert len(await bot.get_updates(timeout=0)) == 1
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == ()

    kb = InlineKeyboardMarkup([[InlineKeyboardButton("10", callback_data="rate:1:10")]])
    await bot.send_message(alice.id, "Rate it", reply_markup=kb)
    query_id = await alice.click(alice.last, "10", wait=False)
    (update,) = await bot.get_updates(timeout=1)
    assert update.callback_query.data == "rate:1:10" and update.callback_query.message.text == "Rate it"
    assert await update.callback_query.answer("Thanks!")
    answer = await tg.wait_answer(query_id)
    assert answer.text == "Thanks!" and not answer.show_alert
    with pytest.raises(BadRequest, match="(?i)query is too old"):
        await update.callback_query.answer("again")
    assert tg.unanswered_callbacks() == []
    with pytest.raises(AssertionError, match="(?i)no button"):
        await alice.click(alice.last, "Nope")
    rate_msg = alice.last
    await bot.edit_message_reply_markup(chat_id=alice.id, message_id=rate_msg.message_id, reply_markup=None)
    assert not rate_msg.buttons and rate_msg.edits == 1
    with pytest.raises(AssertionError, match="(?i)no button"):
        rate_msg.find_button("10")
    assert rate_msg.find_button("10", stale=True)["callback_data"] == "rate:1:10"  # a double click's view

    # two bot instances polling one token: the waiting poll is terminated with 409
    first = asyncio.create_task(bot.get_updates(offset=update.update_id + 1, timeout=5))
    await asyncio.sleep(0.2)
    async with Bot(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url) as other:
        assert await other.get_updates(offset=update.update_id + 1, timeout=0) == ()
    with pytest.raises(Conflict, match="(?i)terminated by other getUpdates"):
        await first
    assert tg.conflicts == 1


async def test_real_application_long_polling(tg):
    """A tiny PTB Application (echo, a command and a button) polling the fake server."""

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        kb = InlineKeyboardMarkup([[InlineKeyboardButton("Press", callback_data="pressed")]])
        await update.message.reply_text("Hello! Send me a photo.", reply_markup=kb)

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.message.photo:
            file = await update.message.photo[-1].get_file()
            data = await file.download_as_bytearray()
            size = Image.open(io.BytesIO(bytes(data))).size
            await update.message.reply_photo(bytes(data), caption=f"got {size[0]}x{size[1]}")
        else:
            await update.message.reply_text(f"echo: {update.message.text}")

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.callback_query.answer("ok")
        await update.callback_query.edit_message_text("Pressed.")

    app = (
        Application.builder()
        .token(tg.token)
        .base_url(tg.base_url)
        .base_file_url(tg.base_file_url)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(pressed))
    app.add_handler(MessageHandler(filters.TEXT | filters.PHOTO, echo))
    alice, bob = tg.user(1001, "Alice"), tg.user(1002, "Bob")
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=2)
        try:
            await alice.send("/start")
            hello = await alice.wait_for_text("send me a photo")
            await bob.send("hi there")
            assert (await bob.wait_for()).text == "echo: hi there"
            answer = await alice.click(hello, "Press")
            assert answer.text == "ok"
            await alice.wait_for(lambda m: m.text == "Pressed.")
            await alice.send_photo(jpeg(200, 100))
            reply = await alice.wait_for(lambda m: m.photo)
            assert reply.text == "got 200x100"
        finally:
            await app.updater.stop()
            await app.stop()
    assert "echo: hi there" not in alice.transcript() and "Bob: hi there" in bob.transcript()
    assert tg.failed_calls() == [] and tg.unanswered_callbacks() == [] and tg.conflicts == 0
