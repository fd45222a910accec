"""The style's palette laid on a painting (styletransfer.palette) and AdaIN's use of it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from styletransfer import metrics
from styletransfer.cli import main as cli
from styletransfer.engine import StyleOptions, stylize
from styletransfer.errors import InvalidOptionError
from styletransfer.palette import colour_stats, mix_stats, palette_map, style_palette, transfer_palette
from styletransfer.presets import preset_path

SAMPLE = "styletransfer/samples/tubingen.jpg"


def _tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)[None].float() / 255


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.open(SAMPLE).convert("RGB").resize((256, 192), Image.Resampling.BOX)


@pytest.fixture(scope="module")
def painting() -> Image.Image:
    return Image.open(preset_path("starry_night")).convert("RGB").resize((256, 203), Image.Resampling.BOX)


def test_strength_moves_the_colours_the_way_it_says(photo, painting):
    style = colour_stats(painting)
    start = metrics.palette_distance(_tensor(photo), _tensor(painting))
    half = metrics.palette_distance(_tensor(transfer_palette(photo, style, 0.5)), _tensor(painting))
    full = metrics.palette_distance(_tensor(transfer_palette(photo, style, 1.0)), _tensor(painting))
    assert start > 15 and 0.35 * start < half < 0.65 * start and full < 0.1 * start
    assert transfer_palette(photo, style, 0.0).tobytes() == photo.tobytes()
    # the light-dark structure stays: the recoloured photo's edges are where the photo's are
    def edges(image: Image.Image) -> np.ndarray:
        return np.abs(np.diff(np.asarray(image.convert("L"), np.float32), axis=1)).ravel()

    assert np.corrcoef(edges(photo), edges(transfer_palette(photo, style, 1.0)))[0, 1] > 0.8


def test_a_grey_style_and_a_flat_picture_do_not_break_it(photo):
    grey = Image.fromarray(np.repeat(np.linspace(0, 255, 64 * 64, dtype=np.float32).reshape(64, 64, 1), 3, 2)
                           .astype(np.uint8))
    out = np.asarray(transfer_palette(photo, colour_stats(grey), 1.0), np.float32)
    assert np.abs(out[..., 0] - out[..., 1]).mean() < 4  # grey in, grey out
    flat = Image.new("RGB", (32, 32), (200, 30, 30))
    recoloured = np.asarray(transfer_palette(flat, colour_stats(photo), 1.0))
    assert recoloured.shape == (32, 32, 3) and np.isfinite(recoloured).all()


def test_mixed_palette_is_the_palette_of_both_pictures(photo, painting):
    both = Image.new("RGB", (256, 192 * 2))
    both.paste(photo, (0, 0))
    both.paste(painting.resize(photo.size), (0, 192))
    mixed = mix_stats([colour_stats(photo), colour_stats(painting.resize(photo.size))], [1, 1])
    whole = colour_stats(both)
    assert np.allclose(mixed.mean, whole.mean, atol=1e-6)
    assert np.allclose(mixed.cov, whole.cov, rtol=1e-2, atol=0.5)
    assert np.allclose(style_palette([(photo, 3.0)]).cov, colour_stats(photo).cov)
    with pytest.raises(ValueError):
        mix_stats([colour_stats(photo)], [0])
    with pytest.raises(ValueError):
        transfer_palette(photo, whole, 1.5)


def test_one_map_for_many_frames(photo, painting):
    frames = np.stack([np.asarray(photo, np.float32).transpose(2, 0, 1) / 255] * 2)
    frames[1] *= 0.8  # a darker second frame keeps the first one's map
    mapping = palette_map(colour_stats(photo), colour_stats(painting), 0.7)
    out = mapping.apply_frames(frames)
    assert out.shape == frames.shape and out.dtype == np.float32
    assert np.array_equal(np.round(out[0] * 255).astype(np.uint8).transpose(1, 2, 0),
                          np.asarray(transfer_palette(photo, colour_stats(painting), 0.7)))


def test_adain_takes_the_style_palette_by_default_in_both_backends(photo, shared_data):
    """Held-out paintings: the default painting is closer to each one's palette than palette 0."""
    styles = sorted((shared_data / "eval" / "style").glob("*.jpg"))[:3]
    for style in styles:
        target = _tensor(Image.open(style).convert("RGB"))
        raw = stylize(photo, str(style), "adain", StyleOptions(max_side=256, palette=0.0, backend="onnx"))
        out = {b: stylize(photo, str(style), "adain", StyleOptions(max_side=256, backend=b)) for b in ("onnx", "torch")}
        d_raw = metrics.palette_distance(_tensor(raw), target)
        d = {b: metrics.palette_distance(_tensor(im), target) for b, im in out.items()}
        assert d["onnx"] < 0.8 * d_raw and d["torch"] < 0.8 * d_raw, (style.name, d_raw, d)
        diff = np.abs(np.asarray(out["onnx"], np.float32) - np.asarray(out["torch"], np.float32)).mean()
        assert diff < 6, (style.name, diff)
    # alpha 0 (the decoder's picture of the photo) takes no palette, nor does keep-colours
    for extra in ({"alpha": 0.0}, {"preserve_color": True}):
        a, b = (stylize(photo, str(styles[0]), "adain", StyleOptions(max_side=256, backend="torch", palette=p, **extra))
                for p in (0.0, 1.0))
        assert a.tobytes() == b.tobytes(), extra


def test_palette_option_is_checked(tmp_path, capsys):
    with pytest.raises(InvalidOptionError, match="palette"):
        StyleOptions(palette=1.5).validate()
    with pytest.raises(InvalidOptionError, match="palette"):
        StyleOptions(palette="lots").validate()
    assert StyleOptions(palette=0.3, alpha=0.5).palette_strength("adain") == pytest.approx(0.15)
    assert StyleOptions(preserve_color=True).palette_strength("adain") == 0.0
    assert StyleOptions().palette_strength("johnson") == 0.0
    assert cli([SAMPLE, "--style", "starry_night", "--palette", "2", "-o", str(tmp_path / "x.png")]) == 2
    assert "palette must be between 0 and 1" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
