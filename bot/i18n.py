"""The bot's languages: gettext catalogues (``bot/locales/<lang>/LC_MESSAGES/bot.po``,
read with Babel), the language of the update or job being handled (a context variable),
and the choice of language (the user's /settings, else their Telegram language).

Strings are marked with :func:`N_` where they are defined (``bot/texts.py``) so that
Babel extracts them; they are translated when they are used. Update the catalogue::

    pybabel extract -k N_ -o bot/locales/bot.pot bot/texts.py
    pybabel update -i bot/locales/bot.pot -d bot/locales -D bot
"""

from __future__ import annotations

import contextlib
import functools
from contextvars import ContextVar
from pathlib import Path
from typing import Iterator

__all__ = ["LANGUAGES", "DEFAULT_LANGUAGE", "N_", "gettext", "ngettext", "get_language", "set_language",
           "language", "pick_language", "catalogue"]

#: Languages with a catalogue, and their names in themselves (for /settings).
LANGUAGES = {"en": "English", "ru": "Русский"}
DEFAULT_LANGUAGE = "en"
LOCALES = Path(__file__).with_name("locales")

_current: ContextVar[str] = ContextVar("stylebot_language", default=DEFAULT_LANGUAGE)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    """Mark a string for extraction; it is translated where it is used."""
    return message


@functools.lru_cache(maxsize=None)
def catalogue(lang: str) -> dict:
    """``{msgid: msgstr}`` (plural entries: ``{(singular, plural): [forms]}``) and the
    plural rule of ``lang``; empty for English (the msgids are English)."""
    path = LOCALES / lang / "LC_MESSAGES" / "bot.po"
    if lang == DEFAULT_LANGUAGE or not path.is_file():
        return {"messages": {}, "plural": lambda n: 0 if n == 1 else 1}
    from babel.messages.pofile import read_po

    with path.open("rb") as fh:
        cat = read_po(fh, locale=lang)
    messages: dict = {}
    for message in cat:
        if not message.id or message.fuzzy:
            continue
        if isinstance(message.id, tuple):
            forms = [s for s in message.string if s]
            if forms:
                messages[tuple(message.id)] = list(message.string)
        elif message.string:
            messages[message.id] = message.string
    import gettext as _gettext

    plural = _gettext.c2py(cat.plural_expr)  # the catalogue's C-style Plural-Forms, as gettext compiles it
    return {"messages": messages, "plural": plural}


def get_language() -> str:
    return _current.get()


def set_language(lang: str | None):
    """Set the language for the current update or job (a token for ``reset``)."""
    return _current.set(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)


@contextlib.contextmanager
def language(lang: str | None) -> Iterator[None]:
    token = set_language(lang)
    try:
        yield
    finally:
        _current.reset(token)


def gettext(message: str, lang: str | None = None) -> str:
    """``message`` in ``lang`` (default: the current language); itself when untranslated."""
    lang = lang or _current.get()
    if lang == DEFAULT_LANGUAGE:
        return message
    return catalogue(lang)["messages"].get(message, message)


def ngettext(singular: str, plural: str, n: int, lang: str | None = None) -> str:
    """The form of ``singular``/``plural`` for ``n`` in ``lang`` (Russian has three)."""
    lang = lang or _current.get()
    cat = catalogue(lang)
    forms = cat["messages"].get((singular, plural))
    if not forms:
        return singular if n == 1 else plural
    index = cat["plural"](n)
    return forms[index] if index < len(forms) and forms[index] else forms[-1]


def pick_language(override: str | None, telegram_code: str | None) -> str:
    """The user's /settings choice, else their Telegram app language when we have it, else English."""
    if override in LANGUAGES:
        return override
    code = (telegram_code or "").split("-")[0].lower()
    return code if code in LANGUAGES else DEFAULT_LANGUAGE
