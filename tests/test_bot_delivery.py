"""bot.telegram.delivery.photo_jpeg: the photo message stays a JPEG under Telegram's 10 MB limit."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from bot.telegram import delivery


def _png(size: tuple[int, int], seed: int = 0) -> bytes:
    noise = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise, "RGB").save(buf, "PNG")
    return buf.getvalue()


def test_photo_is_a_jpeg_of_the_same_size(eval_photos):
    img = Image.open(eval_photos[0]).convert("RGB")
    img.thumbnail((1024, 1024))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    jpeg = delivery.photo_jpeg(buf.getvalue())
    out = Image.open(io.BytesIO(jpeg))
    assert out.format == "JPEG" and out.size == img.size and out.mode == "RGB"
    assert len(jpeg) < buf.tell()


def _jpeg_size(png: bytes, quality: int) -> int:
    buf = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGB").save(buf, "JPEG", quality=quality, optimize=True)
    return buf.tell()


def test_quality_steps_down_until_the_photo_fits(monkeypatch):
    png = _png((256, 256))
    full = len(delivery.photo_jpeg(png))
    monkeypatch.setattr(delivery, "PHOTO_MAX_BYTES", _jpeg_size(png, 75) + 10)
    smaller = delivery.photo_jpeg(png)
    assert len(smaller) < full and len(smaller) <= delivery.PHOTO_MAX_BYTES  # a lower quality was used
    assert Image.open(io.BytesIO(smaller)).size == (256, 256)


def test_no_photo_when_even_quality_60_is_too_big_or_the_shape_is_refused(monkeypatch):
    """Then the result goes out as a document (bot.telegram.delivery.Delivery.result)."""
    png = _png((256, 256))
    monkeypatch.setattr(delivery, "PHOTO_MAX_BYTES", _jpeg_size(png, 60) - 1)
    assert delivery.photo_jpeg(png) is None
    monkeypatch.undo()
    assert delivery.photo_jpeg(_png((2100, 100))) is None  # ratio 21 > 20
    assert delivery.photo_jpeg(_png((2000, 100))) is not None  # ratio 20 is fine
    assert not delivery.photo_fits(6000, 4001) and delivery.photo_fits(6000, 4000)


def test_rgba_png_becomes_rgb():
    buf = io.BytesIO()
    Image.new("RGBA", (32, 20), (10, 200, 30, 128)).save(buf, "PNG")
    assert Image.open(io.BytesIO(delivery.photo_jpeg(buf.getvalue()))).mode == "RGB"
