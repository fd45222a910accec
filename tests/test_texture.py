"""The texture -> style chain (styletransfer.texture): the canvas net lays its weave over a
photo, the style's method then paints that; the CLI's --texture, the library option, video,
and the errors for an unknown texture or a missing net."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from styletransfer.errors import CheckpointMissingError, InvalidOptionError
from styletransfer.texture import TEXTURES, apply_texture, check_texture, texture_picture

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "styletransfer" / "samples" / "tubingen.jpg"


def _arr(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"), dtype=np.float32)


def test_the_canvas_is_shipped_with_its_net_and_lays_a_weave_over_the_photo():
    assert set(TEXTURES) == {"canvas"} and texture_picture("canvas").is_file()
    assert check_texture("canvas").is_file()
    photo = Image.open(SAMPLE).convert("RGB").resize((320, 240))
    textured = apply_texture(photo, "canvas", device="cpu")
    assert textured.size == photo.size
    sky = _arr(photo)[10:60, 150:300]  # the flat blue sky: the weave gives it grain
    sky_t = _arr(textured)[10:60, 150:300]
    grain = lambda a: float(np.abs(np.diff(a, axis=1)).mean())  # noqa: E731
    assert grain(sky_t) > 2 * grain(sky), (grain(sky), grain(sky_t))
    assert np.corrcoef(_arr(photo).mean(2).ravel(), _arr(textured).mean(2).ravel())[0, 1] > 0.3  # the photo stays
    with pytest.raises(InvalidOptionError, match="unknown texture"):
        texture_picture("burlap")


def test_engine_and_video_chain_the_texture_before_the_style(tmp_path):
    from styletransfer.engine import StyleOptions, stylize
    from styletransfer.video import VideoOptions, stylize_video
    from tests.clips import make_clip

    photo = Image.open(SAMPLE).convert("RGB").resize((320, 240))
    plain = stylize(photo, "udnie", "johnson", StyleOptions(max_side=320, device="cpu"))
    chained = stylize(photo, "udnie", "johnson", StyleOptions(max_side=320, device="cpu", texture="canvas"))
    by_hand = stylize(apply_texture(photo, "canvas", device="cpu"), "udnie", "johnson",
                      StyleOptions(max_side=320, device="cpu"))
    assert np.abs(_arr(chained) - _arr(by_hand)).mean() < 1.0  # texture first, then the preset net
    assert np.abs(_arr(chained) - _arr(plain)).mean() > 5.0
    with pytest.raises(InvalidOptionError):
        StyleOptions(texture="burlap").validate()
    clip = make_clip(tmp_path / "clip.mp4", SAMPLE, seconds=0.4, fps=5)
    result = stylize_video(clip, tmp_path / "out.mp4", "udnie", "johnson", VideoOptions(texture="canvas"))
    assert result.frames >= 2


def test_cli_texture_and_a_missing_net(tmp_path, monkeypatch):
    out = tmp_path / "chained.png"
    run = subprocess.run([sys.executable, "-m", "styletransfer.cli", str(SAMPLE), "-s", "starry_night", "--texture",
                          "canvas", "--size", "256", "-o", str(out)], capture_output=True, text=True, timeout=300,
                         cwd=REPO)
    assert run.returncode == 0, run.stderr
    assert Image.open(out).size == (256, 192)
    bad = subprocess.run([sys.executable, "-m", "styletransfer.cli", str(SAMPLE), "-s", "udnie", "--texture", "burlap",
                          "-o", str(tmp_path / "x.png")], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert bad.returncode != 0 and "unknown texture 'burlap'" in bad.stderr
    root = tmp_path / "ck"
    (root / "johnson").mkdir(parents=True)
    monkeypatch.setenv("STYLETRANSFER_CHECKPOINTS", str(root))
    with pytest.raises(CheckpointMissingError, match="stylize-train johnson --style styletransfer/textures/canvas.png"):
        check_texture("canvas")
