"""Smoke test of the real stylebot application against the fake Bot API server
(tests/fake_telegram.py): start-up, commands, photo -> style -> method keyboards,
stale buttons, /settings, /cancel, /forget.  The big end-to-end suites are
tests/test_bot_e2e.py and tests/test_bot_bad_input.py."""

from __future__ import annotations

import io

from PIL import Image

from tests.bot_runner import serving_stylebot
from tests.fake_telegram import FakeTelegram


def _photo(side: int = 96, color=(200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", (side, side * 3 // 4), color)
    for x in range(0, side, 8):
        for y in range(0, side * 3 // 4, 8):
            if (x + y) // 8 % 2:
                image.putpixel((x, y), (20, 20, 220))
    image.save(buffer, format="JPEG")
    return buffer.getvalue()


def running_bot(tg: FakeTelegram, tmp_path, **overrides):
    return serving_stylebot(tg, tmp_path, stop_timeout=30, **overrides)


async def test_conversation_smoke(tmp_path):
    async with FakeTelegram() as tg, running_bot(tg, tmp_path, admin_ids=[1001]):
        assert {c["command"] for c in tg.commands} >= {"start", "help", "styles", "settings", "cancel", "stats", "forget"}
        alice = tg.user(1001, "Alice")
        await alice.send("/start")
        await alice.wait_for_text("photo")

        await alice.send("hello")
        await alice.wait_for_text("send me a photo")
        await alice.send("/frobnicate")
        await alice.wait_for_text("don't know that command")

        await alice.send_photo(_photo())
        menu = await alice.wait_for(lambda m: m.buttons)
        assert "Starry Night" in " ".join(menu.button_texts)
        for row in menu.buttons:
            for button in row:
                assert len(button["callback_data"].encode()) <= 64
        first_style = menu.buttons[0][0]["callback_data"]
        await alice.click(menu, "The Starry Night" if "The Starry Night" in menu.button_texts else menu.button_texts[0])
        methods = await alice.wait_for(lambda m: m.buttons and any("Gatys" in t for t in m.button_texts))
        assert any("Best quality" in t for t in methods.button_texts)

        # the style keyboard is now stale: a second click gets a notice, not an action
        assert menu.buttons == []  # the bot removed the used keyboard
        again = await alice.click(menu, data=first_style)
        assert "out of date" in again.text.lower()

        method_data = methods.buttons[0][0]["callback_data"]
        await alice.send("/cancel")
        await alice.wait_for_text("cancelled")
        stale = await alice.click(methods, data=method_data)
        assert "out of date" in stale.text.lower()

        await alice.send("/settings")
        panel = await alice.wait_for(lambda m: m.buttons and "defaults" in m.text.lower())
        answer = await alice.click(panel, data="cfg:c:toggle")
        assert answer.text == "Saved."
        edited = await alice.wait_for(lambda m: m.message_id == panel.message_id and "Keep my colours: yes" in m.text)
        assert edited.edits >= 1

        await alice.send("/stats")
        reply = await alice.wait_for_text("no ratings yet")
        assert "Admin:" in reply.text  # Alice is in ADMIN_IDS
        bob = tg.user(1002, "Bob")
        await bob.send("/stats")
        assert "Admin:" not in (await bob.wait_for_text("no ratings yet")).text

        await alice.send("/styles")
        await alice.wait_for(lambda m: m.photo and m.media_group_id)
        await alice.wait_quiet(0.5)
        album = [m for m in alice.messages if m.photo and m.media_group_id]
        assert len(album) == 7
        assert any("Starry Night" in (m.caption or "") for m in album)

        # an album of two photos = content + style, straight to the method menu
        await alice.send_album([_photo(), _photo(color=(10, 200, 10))])
        menu = await alice.wait_for(lambda m: m.buttons and any("Gatys" in t for t in m.button_texts))
        assert "your style image" in menu.text

        await alice.send("/forget")
        confirm = await alice.wait_for(lambda m: m.buttons)
        await alice.click(confirm, "Yes, delete")
        await alice.wait_for_text("deleted everything")

        assert tg.unanswered_callbacks() == []
        assert not [c for c in tg.failed_calls() if c.method != "getUpdates"]
