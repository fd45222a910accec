"""styletransfer.presets: the seven shipped paintings, by name."""

from __future__ import annotations

import pytest

from styletransfer.errors import UnknownPresetError
from styletransfer.images import open_image
from styletransfer.presets import PRESETS, is_preset, preset_names, preset_path

EXPECTED = [
    "starry_night",
    "the_scream",
    "great_wave",
    "shipwreck_of_the_minotaur",
    "udnie",
    "woman_with_hat",
    "mondrian",
]


def test_names_in_order():
    assert preset_names() == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_every_preset_is_a_readable_painting(name: str):
    path = preset_path(name)
    assert path.is_file() and path.suffix == ".jpg"
    img = open_image(path)
    assert img.mode == "RGB" and min(img.size) >= 256
    p = PRESETS[name]
    assert p.name == name and p.title and p.artist and p.year and p.path == path
    assert p.artist in p.label


def test_metadata_example():
    p = PRESETS["starry_night"]
    assert (p.title, p.artist, p.year) == ("The Starry Night", "Vincent van Gogh", "1889")


def test_unknown_preset_lists_names():
    with pytest.raises(UnknownPresetError, match="unknown preset 'starry-night'.*starry_night.*mondrian"):
        preset_path("starry-night")


def test_is_preset():
    assert is_preset("udnie")
    assert not is_preset("Udnie")
    assert not is_preset("/tmp/udnie.jpg")
    assert not is_preset(None)
