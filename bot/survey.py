"""/survey: the AdaIN report's protocol inside the bot (Huang & Belongie 2017, as the
report's Telegram bot ran it: 52 people, 10 content-style pairs, 1-10 "how well was the
style transferred", overall mean 7.3).

- The pairs: :func:`builtin_pairs` (only images the project ships: the sample photo and
  the public-domain presets, see ``NOTICE``) or the operator's folder ``SURVEY_DIR``
  (:func:`load_pairs`, a ``pairs.json`` beside the images).
- Each pair is painted once per method that can paint it (:func:`pair_methods`), by the
  inference while it has no user job (:class:`bot.jobs.survey.SurveyImages`), and cached under
  ``<DATA_DIR>/survey/`` as one JPEG: the photo and the painting on the left, the result on
  the right. The file name holds a key of the inputs, the method, the size and the sha256
  of the trained weights, so a new checkpoint is painted again and never per user.
- Painting order (:meth:`bot.jobs.survey.SurveyImages.missing`): first one picture of every pair by its
  fastest method, then the other fast methods, Gatys (tens of seconds a picture on a CPU)
  last; so right after start-up every pair can be shown within seconds.
- Per user the method of a pair is drawn at random among the pair's methods that have a
  picture when the pair is first shown, and stored (``survey_answers``) with the score
  and the methods it was drawn among (``partial_draw`` when some were still being
  painted), so stopping and resuming shows the same picture; stats are per pair and method.

This module is the protocol (the pairs, which methods paint them, the draw); the
pictures are painted and cached by :mod:`bot.jobs.survey`, shown by
:mod:`bot.telegram.handlers.survey`. Nothing here imports torch.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from styletransfer.checkpoints import available_methods
from styletransfer.presets import PRESETS, is_preset, preset_path

__all__ = ["SurveyPair", "SurveyError", "builtin_pairs", "load_pairs", "pair_methods", "SAMPLE_PHOTO",
           "draw_method"]

SAMPLE_PHOTO = Path(__file__).resolve().parent.parent / "styletransfer" / "samples" / "tubingen.jpg"
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")


class SurveyError(ValueError):
    """``SURVEY_DIR`` is unusable (no ``pairs.json``, a missing image, a bad entry)."""


@dataclass(frozen=True)
class SurveyPair:
    """One content-style pair. ``style``: a preset name or the path of a style image;
    ``content_title``/``style_title``: what the user reads (None: the sample photo's
    credit, or the preset's translated title)."""

    id: str
    content: Path
    style: str
    content_title: str | None = None
    style_title: str | None = None


def builtin_pairs() -> list[SurveyPair]:
    """Ten pairs from images the project may ship: the sample photo (CC BY 3.0) in each of
    the seven public-domain presets, and three presets painted in the manner of another."""
    pairs = [SurveyPair(f"{i:02d}-tubingen-{name}", SAMPLE_PHOTO, name) for i, name in enumerate(PRESETS, start=1)]
    for content, style in (("woman_with_hat", "starry_night"), ("great_wave", "the_scream"),
                           ("shipwreck_of_the_minotaur", "great_wave")):
        pairs.append(SurveyPair(f"{len(pairs) + 1:02d}-{content}-{style}"[:48], preset_path(content), style,
                                content_title=f"preset:{content}"))
    return pairs


def load_pairs(folder: Path) -> list[SurveyPair]:
    """The operator's pairs: ``<folder>/pairs.json``, a list of objects
    ``{"content": "photo.jpg", "style": "painting.jpg" | "<preset>", "id": optional,
    "content_title": optional, "style_title": optional}`` (paths relative to the folder).

    Raises:
        SurveyError: no such folder or file, invalid JSON, a missing image, a duplicate
            or malformed id, fewer than 1 or more than 50 pairs.
    """
    folder = Path(folder)
    spec = folder / "pairs.json"
    if not spec.is_file():
        raise SurveyError(f"{spec} not found: SURVEY_DIR needs a pairs.json listing the content/style pairs")
    try:
        entries = json.loads(spec.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SurveyError(f"{spec} is not valid JSON: {exc}") from None
    if not isinstance(entries, list) or not 1 <= len(entries) <= 50:
        raise SurveyError(f"{spec} must hold a list of 1 to 50 pairs")
    pairs: list[SurveyPair] = []
    for i, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get("content"), str) \
                or not isinstance(entry.get("style"), str):
            raise SurveyError(f"{spec}: pair {i} needs \"content\" and \"style\" strings")
        content = (folder / entry["content"]).resolve()
        if not content.is_file():
            raise SurveyError(f"{spec}: pair {i}: content image {entry['content']} not found")
        style = entry["style"]
        if not is_preset(style):
            style_file = (folder / style).resolve()
            if not style_file.is_file():
                raise SurveyError(f"{spec}: pair {i}: style {style} is neither a preset nor an image in the folder")
            style = str(style_file)
        pair_id = str(entry.get("id") or f"{i:02d}-{content.stem}-{Path(style).stem}").lower()[:48]
        pair_id = re.sub(r"[^a-z0-9_-]", "_", pair_id)
        if not _ID_RE.match(pair_id) or any(p.id == pair_id for p in pairs):
            raise SurveyError(f"{spec}: pair {i}: id {pair_id!r} is malformed or used twice")
        pairs.append(SurveyPair(pair_id, content, style, entry.get("content_title"), entry.get("style_title")))
    return pairs


def pair_methods(pair: SurveyPair, available: dict | None = None) -> list[str]:
    """The methods that can paint ``pair`` with the weights on disk: AdaIN when its decoder
    ships, Johnson when the style is a preset with a trained net, Gatys always."""
    available = available_methods() if available is None else available
    methods = []
    if available.get("adain"):
        methods.append("adain")
    if is_preset(pair.style) and pair.style in (available.get("johnson") or []):
        methods.append("johnson")
    if available.get("gatys", True):
        methods.append("gatys")
    return methods


def draw_method(methods: list[str], rng: random.Random | None = None) -> str:
    """The hidden method of a pair for one user: uniform over the rendered ones."""
    return (rng or random).choice(sorted(methods))


def __getattr__(name: str) -> object:  # SurveyImages and co. moved to bot.jobs.survey (deprecated here)
    from ._compat import moved_attribute

    return moved_attribute(__name__, name)
