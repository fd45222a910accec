"""Preset style images (public-domain paintings shipped with the package).

Torch-free: the bot process imports this module to list presets and build
keyboards. Paths point at ``styletransfer/presets/<name>.jpg`` inside the
installed package.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import UnknownPresetError

__all__ = ["Preset", "PRESETS", "PRESET_DIR", "preset_names", "preset_path", "is_preset", "get_preset"]

#: Folder holding the preset paintings (JPEG, longer side up to 1280 px).
PRESET_DIR = Path(__file__).resolve().parent / "presets"


@dataclass(frozen=True)
class Preset:
    """One preset style painting.

    Attributes:
        name: identifier used by the CLI, the bot and checkpoint file names
            (lower-case ASCII, underscores).
        title: the work's title.
        artist: the painter.
        year: year of the work as usually cited (``"c. 1831"`` where approximate).
        path: the JPEG file of the painting.
    """

    name: str
    title: str
    artist: str
    year: str
    path: Path

    @property
    def label(self) -> str:
        """Human-readable one-liner, e.g. ``"The Starry Night — Vincent van Gogh, 1889"``."""
        return f"{self.title} — {self.artist}, {self.year}"


def _preset(name: str, title: str, artist: str, year: str) -> Preset:
    return Preset(name=name, title=title, artist=artist, year=year, path=PRESET_DIR / f"{name}.jpg")


#: All presets by name, in display order.
PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        _preset("starry_night", "The Starry Night", "Vincent van Gogh", "1889"),
        _preset("the_scream", "The Scream", "Edvard Munch", "1893"),
        _preset("great_wave", "The Great Wave off Kanagawa", "Katsushika Hokusai", "c. 1831"),
        _preset("shipwreck_of_the_minotaur", "The Shipwreck of the Minotaur", "J. M. W. Turner", "c. 1810"),
        _preset("udnie", "Udnie (Young American Girl, The Dance)", "Francis Picabia", "1913"),
        _preset("woman_with_hat", "Woman with a Hat", "Henri Matisse", "1905"),
        _preset("mondrian", "Cubist Composition (cropped)", "Piet Mondrian", "c. 1913"),
    )
}


def preset_names() -> list[str]:
    """Names of all presets, in display order."""
    return list(PRESETS)


def is_preset(name: object) -> bool:
    """True when ``name`` is a preset name (exact, case-sensitive)."""
    return isinstance(name, str) and name in PRESETS


def get_preset(name: str) -> Preset:
    """The :class:`Preset` called ``name``.

    Raises:
        UnknownPresetError: for any other name; the message lists the valid names.
    """
    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise UnknownPresetError(
            f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}"
        ) from None


def preset_path(name: str) -> Path:
    """Path of the preset painting ``name`` (a JPEG file).

    Raises:
        UnknownPresetError: for an unknown name; the message lists the valid names.
    """
    return get_preset(name).path
