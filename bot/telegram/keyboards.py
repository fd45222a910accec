"""Inline keyboards and their callback_data (always ≤ 64 bytes).

callback_data grammar (``v`` = conversation version, for stale-button checks):
``st:v:<preset>|own`` style, ``me:v:<method>`` method, ``cx:v`` cancel,
``rt:<job>:<1-10>`` rating, ``rr:<job>:<stronger|weaker|colors|another>`` re-run,
``cfg:<m|a|c|s>:<value>`` settings, ``fg:<yes|no>`` forget,
``sv:<pair>:<1-10|skip|stop>`` a /survey answer (pair ids are at most 48 bytes).
"""

from __future__ import annotations

from telegram import InlineKeyboardButton as Button
from telegram import InlineKeyboardMarkup

from styletransfer.presets import PRESETS

from .. import texts

MAX_CALLBACK_BYTES = 64


def _b(text: str, data: str) -> Button:
    assert len(data.encode()) <= MAX_CALLBACK_BYTES, data
    return Button(text, callback_data=data)


def styles(version: int) -> InlineKeyboardMarkup:
    buttons = [_b(texts.preset_title(name), f"st:{version}:{name}") for name in PRESETS]
    rows = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    rows.append([_b(texts.OWN_STYLE_BUTTON, f"st:{version}:own"), _b(texts.CANCEL_BUTTON, f"cx:{version}")])
    return InlineKeyboardMarkup(rows)


def methods(version: int, offered: dict[str, str]) -> InlineKeyboardMarkup:
    """``offered``: method -> button label."""
    rows = [[_b(label, f"me:{version}:{method}")] for method, label in offered.items()]
    rows.append([_b(texts.CANCEL_BUTTON, f"cx:{version}")])
    return InlineKeyboardMarkup(rows)


def result(job_id: int) -> InlineKeyboardMarkup:
    ratings = [_b(str(n), f"rt:{job_id}:{n}") for n in range(1, 11)]
    return InlineKeyboardMarkup([
        ratings[:5], ratings[5:],
        [_b(texts.STRONGER_BUTTON, f"rr:{job_id}:stronger"), _b(texts.WEAKER_BUTTON, f"rr:{job_id}:weaker")],
        [_b(texts.BIGGER_STROKES_BUTTON, f"rr:{job_id}:bigger"), _b(texts.FINER_STROKES_BUTTON, f"rr:{job_id}:finer")],
        [_b(texts.KEEP_COLORS_BUTTON, f"rr:{job_id}:colors"), _b(texts.ANOTHER_STYLE_BUTTON, f"rr:{job_id}:another")],
    ])


ALPHAS = (0.25, 0.5, 0.75, 1.0)
#: the brush sizes /settings offers (styletransfer.scale.STROKES)
BRUSHES = ("fine", "medium", "bold")
SIZES = (256, 512, 768, 1024, 1536, 2048)


def settings(method: str, alpha: float, preserve_color: bool, size: int, max_side: int,
             methods_available: list[str], language: str | None = None, stroke: float = 1.0,
             texture: str | None = None, textures_available: bool = False) -> InlineKeyboardMarkup:
    def mark(selected: bool, text: str) -> str:
        return f"• {text}" if selected else text

    rows = [[_b(mark(m == method, texts.METHOD_NAMES[m]), f"cfg:m:{m}") for m in methods_available]]
    rows.append([_b(mark(abs(a - alpha) < 1e-6, f"{a:g}"), f"cfg:a:{a:g}") for a in ALPHAS])
    from styletransfer.scale import STROKES

    rows.append([_b(mark(abs(STROKES[name] - stroke) < 1e-3, "🖌 " + texts.brush_name(STROKES[name])), f"cfg:b:{name}")
                 for name in BRUSHES])
    rows.append([_b(("✅ " if preserve_color else "⬜ ") + texts.KEEP_COLORS_BUTTON.split(" ", 1)[1], "cfg:c:toggle")])
    if textures_available:
        rows.append([_b(("✅ " if texture else "⬜ ") + texts.TEXTURE_BUTTON.split(" ", 1)[1], "cfg:t:toggle")])
    sizes = sorted({s for s in SIZES if s < max_side} | {max_side})[-4:]
    rows.append([_b(mark(s == size, str(s)), f"cfg:s:{s}") for s in sizes])
    from ..i18n import LANGUAGES

    rows.append([_b(mark(code == language, name), f"cfg:l:{code}") for code, name in LANGUAGES.items()]
                + [_b(mark(language is None, texts.LANGUAGE_AUTO), "cfg:l:auto")])
    return InlineKeyboardMarkup(rows)


def forget() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[_b(texts.YES_BUTTON, "fg:yes"), _b(texts.NO_BUTTON, "fg:no")]])


def survey(pair_id: str) -> InlineKeyboardMarkup:
    scores = [_b(str(n), f"sv:{pair_id}:{n}") for n in range(1, 11)]
    return InlineKeyboardMarkup([scores[:5], scores[5:], [_b(texts.SURVEY_SKIP_BUTTON, f"sv:{pair_id}:skip"),
                                                           _b(texts.SURVEY_STOP_BUTTON, f"sv:{pair_id}:stop")]])
