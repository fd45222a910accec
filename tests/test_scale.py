"""Stroke scale (styletransfer.scale): the brush sizes, the working size every method paints
at, guided up-sampling to the output size, and that the engine, the CLI and video follow the
rule (what the painting step receives is measured, not assumed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from styletransfer.errors import InvalidOptionError
from styletransfer.scale import (BASE_SIDE, STROKES, downscale, guided_upsample, paint_at_working_size,
                                 parse_stroke, stroke_name, working_side)

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "styletransfer" / "samples" / "tubingen.jpg"


def test_brush_sizes_by_name_and_number():
    assert parse_stroke(None) == 1.0 and parse_stroke("medium") == 1.0 and parse_stroke("Bold") == STROKES["bold"]
    assert parse_stroke("fine") < 1 < parse_stroke("bold") and parse_stroke("2") == 2.0 and parse_stroke(0.5) == 0.5
    for bad in ("huge", "0.1", 5, "-1"):
        with pytest.raises(InvalidOptionError, match="stroke"):
            parse_stroke(bad)
    assert stroke_name(STROKES["fine"]) == "fine" and stroke_name(2.0) == "2"


def test_working_size_follows_the_brush_not_the_pixel_count():
    assert working_side(1024) == BASE_SIDE == working_side(4096) and working_side(300) == 300
    assert working_side(2048, STROKES["bold"]) == round(BASE_SIDE / STROKES["bold"])
    assert working_side(2048, STROKES["fine"]) == round(BASE_SIDE / STROKES["fine"]) > BASE_SIDE
    assert working_side(1024, 4.0) == 128 and working_side(20, 4.0) == 20


def test_guided_upsampling_restores_the_photos_detail():
    photo = Image.open(SAMPLE).convert("RGB")
    photo = photo.resize((1024, 768), Image.Resampling.LANCZOS)
    full = np.asarray(photo, np.float32).transpose(2, 0, 1) / 255
    small = downscale(full[None], 512)[0]
    assert small.shape == (3, 384, 512)
    plain = guided_upsample(small, full, detail=0)
    guided = guided_upsample(small, full)
    assert guided.shape == plain.shape == full.shape and 0 <= guided.min() and guided.max() <= 1
    # a "painting" that is the photo itself: the guide gives the lost detail back
    err_plain, err_guided = np.abs(plain - full).mean(), np.abs(guided - full).mean()
    assert err_guided < 0.6 * err_plain, (err_guided, err_plain)
    # a painting unrelated to the photo (noise strokes) gets no photo detail: slope ~ 0
    rng = np.random.default_rng(0)
    strokes = rng.random((3, 384, 512), dtype=np.float32)
    assert np.abs(guided_upsample(strokes, full) - guided_upsample(strokes, full, detail=0)).mean() < 0.02
    assert np.array_equal(guided_upsample(small, small), small)  # same size: unchanged


def test_paint_at_working_size_hands_the_painter_the_working_copy():
    seen = []

    def paint(image: Image.Image) -> Image.Image:
        seen.append(image.size)
        return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)

    photo = Image.open(SAMPLE).convert("RGB")
    big = photo.resize((1536, 1152))
    out = paint_at_working_size(big, 1.0, paint)
    assert seen == [(512, 384)] and out.size == (1536, 1152)
    out = paint_at_working_size(big, STROKES["bold"], paint)
    assert seen[-1] == (341, 256) and out.size == (1536, 1152)
    small = photo.resize((400, 300))
    assert paint_at_working_size(small, 1.0, paint).size == (400, 300) and seen[-1] == (400, 300)


def test_engine_and_options_take_the_stroke(monkeypatch):
    from styletransfer import engine
    from styletransfer.inputs import StyleOptions

    assert StyleOptions(stroke="bold").validate().stroke == STROKES["bold"]
    with pytest.raises(InvalidOptionError):
        StyleOptions(stroke="enormous").validate()
    seen = []

    def run_johnson(content_t, preset, alpha, options, device, progress):
        seen.append(tuple(content_t.shape[-2:]))
        return content_t

    monkeypatch.setattr(engine, "_run_johnson", run_johnson)
    monkeypatch.setattr(engine, "_johnson_on_onnx", lambda *a: False)
    for stroke, side in (("medium", 512), ("bold", 341), ("fine", 768)):
        out = engine.stylize(SAMPLE, "starry_night", "johnson",
                             StyleOptions(max_side=1024, stroke=stroke, backend="torch", device="cpu"))
        assert out.size == (1024, 768) and max(seen[-1]) == side, (stroke, seen[-1])


def test_cli_stroke_paints_and_refuses_a_bad_one(tmp_path):
    out = tmp_path / "bold.png"
    ok = subprocess.run([sys.executable, "-m", "styletransfer.cli", str(SAMPLE), "-s", "udnie", "--stroke", "bold",
                         "--size", "800", "-o", str(out)], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert ok.returncode == 0, ok.stderr
    assert Image.open(out).size == (800, 600)
    bad = subprocess.run([sys.executable, "-m", "styletransfer.cli", str(SAMPLE), "-s", "udnie", "--stroke", "huge",
                          "-o", str(tmp_path / "x.png")], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert bad.returncode != 0 and "stroke must be fine, medium, bold or a number" in bad.stderr


def test_video_frames_are_painted_at_the_working_size(tmp_path, monkeypatch):
    from styletransfer import video
    from tests.clips import make_clip

    clip = make_clip(tmp_path / "clip.mp4", SAMPLE, seconds=0.5, fps=8, size=(640, 360))
    seen = []
    forward = video._Painter._forward

    def spy(self, frames):
        seen.append(frames.shape[-2:])
        return forward(self, frames)

    monkeypatch.setattr(video._Painter, "_forward", spy)
    result = video.stylize_video(clip, tmp_path / "out.mp4", "udnie", "johnson",
                                 video.VideoOptions(max_side=640, stroke="bold"))
    assert (result.width, result.height) == (640, 360)
    assert seen and all(tuple(s) == (192, 341) for s in seen), seen
    seen.clear()
    video.stylize_video(clip, tmp_path / "small.mp4", "udnie", "johnson", video.VideoOptions(max_side=320))
    assert seen and all(tuple(s) == (180, 320) for s in seen), seen  # smaller than the working size: as is
