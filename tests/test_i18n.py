"""Languages: the Russian catalogue covers every string the bot can send (same
placeholders), the template matches what Babel extracts, and a Russian user goes
through a whole conversation without reading a word of English (a string that
bypasses the catalogue fails this test)."""

from __future__ import annotations

import re
import string
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

from bot import texts
from bot.i18n import LANGUAGES, catalogue, language, pick_language
from tests.bot_runner import serving_stylebot
from tests.fake_telegram import FakeTelegram
from tests.test_bot_limits import JOB_WAIT, _photo

REPO = Path(__file__).resolve().parents[1]
CYRILLIC = re.compile(r"[А-Яа-яЁё]")
#: parts of messages that are the same in every language
NEUTRAL = re.compile(r"^[\s\d.,:;%/×±~·–—•▓░✅❌✖⏳🎨📊⚡🖼🎯🌈🔁➕➖()\[\]-]*$")
NAMES = ("AdaIN", "Johnson", "Gatys", "English", "Русский")


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_russian_catalogue_is_complete_and_keeps_placeholders():
    messages = catalogue("ru")["messages"]
    for msgid in texts.msgids():
        if msgid in ("{n} picture", "{n} pictures"):
            assert len(messages[("{n} picture", "{n} pictures")]) == 3
            continue
        if msgid.startswith("{name}: {count} rating"):
            continue
        assert msgid in messages, msgid
        assert _fields(messages[msgid]) == _fields(msgid), msgid
        if msgid not in NAMES and not NEUTRAL.match(msgid.replace("AdaIN", "")):
            assert CYRILLIC.search(messages[msgid]) or msgid in ("AdaIN", "Johnson", "Gatys"), msgid


def test_template_is_what_babel_extracts(tmp_path):
    out = tmp_path / "bot.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-k", "N_", "-k", "ngettext:1,2",
                    "--no-location", "--omit-header", "-o", str(out), str(REPO / "bot" / "texts.py")],
                   check=True, capture_output=True, timeout=120)
    fresh = {m.id for m in read_po(out.open("rb")) if m.id}
    committed = {m.id for m in read_po((REPO / "bot" / "locales" / "bot.pot").open("rb")) if m.id}
    assert fresh == committed, (fresh ^ committed)


def test_language_choice():
    assert pick_language(None, "ru") == "ru" and pick_language(None, "ru-RU") == "ru"
    assert pick_language(None, "de") == "en" and pick_language(None, None) == "en"
    assert pick_language("en", "ru") == "en" and pick_language("ru", "en") == "ru"
    assert set(LANGUAGES) == {"en", "ru"}
    with language("ru"):
        assert texts.pictures(1) == "1 картинка" and texts.pictures(3) == "3 картинки"
        assert texts.pictures(5) == "5 картинок" and texts.pictures(21) == "21 картинка"
    assert texts.pictures(5) == "5 pictures"


def _english_parts(text: str) -> list[str]:
    """Pieces of a bot text that are neither Russian nor language-neutral."""
    bad = []
    for part in re.split(r"[\n·]", text):
        part = part.strip()
        for name in NAMES:
            part = part.replace(name, "")
        if part and not CYRILLIC.search(part) and not NEUTRAL.match(part) and not part.startswith("/"):
            bad.append(part)
    return bad


async def test_a_russian_user_reads_only_russian(tmp_path):
    async with FakeTelegram() as tg:
        async with serving_stylebot(tg, tmp_path / "ru"):
            assert tg.commands_by_language["ru"][0]["description"] == "Что умеет этот бот"
            ivan = tg.user(6001, "Иван", language_code="ru")
            start = len(tg.calls)
            await ivan.send("/start")
            await ivan.wait_for_text("Привет", timeout=30)
            await ivan.send("/help")
            await ivan.wait_for_text("Как мной пользоваться", timeout=30)
            await ivan.send_photo(_photo())
            styles = await ivan.wait_for(lambda m: m.buttons and "Отличное фото" in m.text, timeout=30)
            assert "Звёздная ночь" in styles.button_texts
            await ivan.click(styles, "Звёздная ночь")
            methods = await ivan.wait_for(lambda m: m.buttons and "Каким методом" in m.text, timeout=30)
            await ivan.click(methods, next(t for t in methods.button_texts if "Сеть картины" in t))
            result = await ivan.wait_for(lambda m: m.photo and m.buttons, timeout=JOB_WAIT)
            assert "Звёздная ночь" in result.text and "сила 1.00" in result.text
            status = [m for m in ivan.messages if m.text.startswith("✅")]
            assert status and "Готово" in status[0].text
            await ivan.click(result, "9")
            await ivan.send("/stats")
            await ivan.wait_for_text("Опрос оценок", timeout=30)
            await ivan.send("какой-то текст")
            await ivan.wait_for_text("Пришлите фото", timeout=30)
            await ivan.send("/settings")
            panel = await ivan.wait_for(lambda m: m.buttons and "Язык" in m.text, timeout=30)
            for call in tg.calls[start:]:
                for key in ("text", "caption"):
                    value = call.params.get(key)
                    if isinstance(value, str):
                        assert not _english_parts(value), (call.method, value, _english_parts(value))
                markup = call.params.get("reply_markup")
                if isinstance(markup, str) and "inline_keyboard" in markup:
                    import json

                    for row in json.loads(markup)["inline_keyboard"]:
                        for button in row:
                            assert not _english_parts(button["text"]), button["text"]
            # /settings overrides the Telegram language: English from now on
            await ivan.click(panel, data="cfg:l:en")
            await ivan.send("/help")
            await ivan.wait_for_text("How to use me", timeout=30)
