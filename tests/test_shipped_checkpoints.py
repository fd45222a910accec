"""Every trained weights file that ships under checkpoints/ loads, matches the
SHA-256 of its card and paints a picture through the engine (small sizes, fast).
A checkpoint that stops loading, or a card with a machine's absolute path, fails CI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from styletransfer.checkpoints import card_path, load_checkpoint, sha256_file
from styletransfer.color import rgb_to_ycbcr
from styletransfer.engine import StyleOptions, image_to_tensor, stylize
from styletransfer.metrics import content_distance

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted((REPO / "checkpoints").rglob("*.safetensors"))
JOHNSON = [p for p in SHIPPED if p.parent.name == "johnson"]
SAMPLE = REPO / "styletransfer" / "samples" / "tubingen.jpg"


def test_something_ships():
    assert JOHNSON, "no Johnson nets under checkpoints/johnson"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_card_is_complete_relative_and_matches(path: Path):
    card = json.loads(card_path(path).read_text())
    assert card["sha256"] == sha256_file(path)
    for key in ("steps", "crop", "batch", "loss_weights", "recent_mean_losses", "device", "cpu_hours", "method"):
        assert key in card, key
    def walk(value):
        if isinstance(value, str):
            assert not value.startswith("/") and "/tmp/" not in value and "/work/" not in value, value
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
    walk(card)
    state, _ = load_checkpoint(path)  # verifies the sha256 again
    assert all(v.dtype == torch.float32 for v in state.values() if v.is_floating_point())


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    with Image.open(SAMPLE) as img:
        return img.convert("RGB").resize((96, 72), Image.Resampling.LANCZOS)


@pytest.mark.parametrize("path", JOHNSON, ids=lambda p: p.stem)
def test_johnson_net_paints_and_its_options_work(path: Path, photo: Image.Image):
    """The net changes the photo; alpha blends towards it; keep-colours keeps its chroma."""
    preset = path.stem
    opts = StyleOptions(max_side=96, device="cpu")
    full = stylize(photo, preset, "johnson", opts)
    assert full.size == photo.size
    x, y = image_to_tensor(photo), image_to_tensor(full)
    assert (y - x).abs().mean() > 0.05  # it painted something
    half = image_to_tensor(stylize(photo, preset, "johnson", StyleOptions(max_side=96, device="cpu", alpha=0.5)))
    # the alpha blend is exact up to 8-bit rounding
    assert torch.allclose(half, 0.5 * y + 0.5 * x, atol=1.5 / 255)
    assert content_distance(half, x) < content_distance(y, x)
    kept = image_to_tensor(stylize(photo, preset, "johnson",
                                   StyleOptions(max_side=96, device="cpu", preserve_color=True)))

    def chroma(t):
        return rgb_to_ycbcr(t)[:, 1:]

    assert (chroma(kept) - chroma(x)).abs().mean() < 0.5 * (chroma(y) - chroma(x)).abs().mean()
