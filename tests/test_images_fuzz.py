"""Property-based fuzzing (Hypothesis) of the image intake shared by the CLI, the
library and the bot (:func:`styletransfer.images.open_image`).

Every generated file — any size, any of the modes 1, L, LA, P (with
transparency), I;16, I, F, RGBA, CMYK, YCbCr, EXIF orientations 1-8, saved as
JPEG/PNG/WebP/GIF/TIFF/BMP/HEIC, then optionally truncated or bit-flipped —
either gives an upright RGB image or an ``ImageError``: never another exception,
never a hang (Hypothesis' deadline), never a decompression bomb decoded.

The default budget is small for CI. A long run::

    python -m pytest tests/test_images_fuzz.py --hypothesis-profile=long
"""

from __future__ import annotations

import io
import struct
import time
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from styletransfer.errors import ImageError
from styletransfer.images import DEFAULT_MIN_SIDE, HEIF_SUPPORTED, open_image

# Profiles ("ci", the default, and "long") are registered in tests/conftest.py.

MODES = ["1", "L", "LA", "P", "PT", "I;16", "I", "F", "RGB", "RGBA", "CMYK", "YCbCr"]
FORMATS = ["JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP"] + (["HEIF"] if HEIF_SUPPORTED else [])
if HEIF_SUPPORTED:  # to write HEIF here (reading registers it by itself: tests/test_images.py)
    from pillow_heif import register_heif_opener

    register_heif_opener()
#: what each format can store; other modes are converted to the first entry first
SAVABLE = {
    "JPEG": ["RGB", "L", "CMYK", "YCbCr", "1"],
    "PNG": ["RGB", "RGBA", "L", "LA", "P", "PT", "1", "I;16"],
    "WEBP": ["RGB", "RGBA"],
    "GIF": ["P", "PT", "L", "1"],
    "TIFF": ["RGB", "RGBA", "L", "LA", "P", "1", "I;16", "I", "F", "CMYK", "YCbCr"],
    "BMP": ["RGB", "L", "P", "1"],
    "HEIF": ["RGB", "RGBA"],
}


def _make(mode: str, size: tuple[int, int], seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    rgb = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")
    if mode == "PT":  # palette with a transparent index
        img = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
        img.info["transparency"] = 0
        return img
    if mode in ("I;16", "I", "F"):
        arr = rng.integers(0, 65535, (h, w)).astype({"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode])
        img = Image.fromarray(arr)
        assert img.mode == mode, (img.mode, mode)
        return img
    return rgb.convert(mode)


def _encode(img: Image.Image, fmt: str, orientation: int) -> bytes:
    buf = io.BytesIO()
    kwargs = {}
    if orientation != 1 and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        exif = Image.Exif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif.tobytes()
    if fmt == "JPEG":
        kwargs["quality"] = 80
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


@st.composite
def image_files(draw):
    fmt = draw(st.sampled_from(FORMATS))
    mode = draw(st.sampled_from(MODES))
    if mode not in SAVABLE[fmt]:
        mode = SAVABLE[fmt][0]
    size = (draw(st.integers(1, 96)), draw(st.integers(1, 96)))
    orientation = draw(st.integers(1, 8))
    data = _encode(_make(mode, size, draw(st.integers(0, 2**16))), fmt, orientation)
    damage = draw(st.sampled_from(["none", "truncate", "flip"]))
    if damage == "truncate":
        data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
    elif damage == "flip":
        buf = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            pos = draw(st.integers(0, len(buf) - 1))
            buf[pos] ^= 1 << draw(st.integers(0, 7))
        data = bytes(buf)
    stored_orientation = orientation if fmt in ("JPEG", "PNG", "WEBP", "TIFF") else 1
    return data, fmt, mode, size, stored_orientation, damage


@given(image_files())
def test_any_upload_is_upright_rgb_or_a_clear_image_error(case):
    data, fmt, mode, (w, h), orientation, damage = case
    started = time.perf_counter()
    try:
        img = open_image(data)
    except ImageError as exc:
        message = str(exc)
        assert message and "\n" not in message and "Traceback" not in message
        if damage == "none":  # an intact file is only refused for being too small
            assert min(w, h) < DEFAULT_MIN_SIDE, (fmt, mode, (w, h), message)
        return
    finally:
        assert time.perf_counter() - started < 5
    assert img.mode == "RGB"
    if damage == "none":
        expected = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
        assert img.size == expected, (fmt, mode, orientation)
    assert np.asarray(img).shape == (img.size[1], img.size[0], 3)


def _png_with_header_size(width: int, height: int) -> bytes:
    """A valid small PNG whose IHDR claims ``width`` x ``height`` (the CRC is fixed up)."""
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4:ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr:ihdr + 17])) & 0xFFFFFFFF
    data[ihdr + 17:ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)


@given(st.integers(7000, 200_000), st.integers(7000, 200_000))
@settings(max_examples=20)
def test_decompression_bombs_are_refused_from_the_header(width, height):
    started = time.perf_counter()
    with pytest.raises(ImageError, match="too large"):
        open_image(_png_with_header_size(width, height))
    assert time.perf_counter() - started < 1.0  # refused before any pixel was decoded
