"""Safe image loading: any user upload to an upright 8-bit RGB :class:`PIL.Image.Image`.

Torch-free (Pillow and numpy only): the bot process uses it to validate uploads
before queueing a job. Every failure is an :class:`~styletransfer.errors.ImageError`
with a one-line message a user can act on; nothing else escapes.

Handled inputs: JPEG/PNG/WebP/GIF/BMP/TIFF/… as Pillow reads them, and HEIC/HEIF
(iPhone photos, through ``pillow-heif``); EXIF
orientation (phone photos) is applied; CMYK (via its ICC profile when present),
16-bit and 32-bit grayscale, float, palette, 1-bit, grayscale and alpha images
(composited on white) all come out as RGB. Animated images give their first
frame. Decompression bombs are refused from the header, before any pixel data is
decoded.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import math
import os
import struct
import warnings
import zlib
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError, InvalidOptionError

#: HEIC/HEIF photos (iPhones' default) open through libheif, bundled in the pillow-heif
#: wheel; without it they are "not an image". Registered on the first file that needs it
#: (an ISO media file: "ftyp" at byte 4), which keeps its import (~25 ms) off every other run.
HEIF_SUPPORTED = importlib.util.find_spec("pillow_heif") is not None


@functools.lru_cache(maxsize=1)
def _register_heif() -> None:
    from pillow_heif import register_heif_opener

    register_heif_opener()

__all__ = ["ImageSource", "open_image", "normalize_image", "fit_max_side", "image_info", "DEFAULT_MAX_PIXELS", "DEFAULT_MIN_SIDE",
           "PNG_SAVE_OPTIONS", "STILL_IMAGE_SUFFIXES"]

#: Accepted sources: a file path, the file's bytes, or a readable binary file object.
ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]

#: Largest accepted image, in pixels (width × height): 40 megapixels.
DEFAULT_MAX_PIXELS = 40_000_000
#: Smallest accepted side, in pixels.
DEFAULT_MIN_SIDE = 16
#: File suffixes of still pictures: never probed as video.
STILL_IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".heif"})
#: ``Image.save`` options for PNG: zlib's fastest level and run-length strategy. A 1024x768
#: painting took 0.067 s and 1.35 MB, against 0.084 s and 1.48 MB at level 1 alone and
#: 0.23 s and 1.34 MB at Pillow's default level 6; a photo 0.065 against 0.22-0.28 s, the
#: same size within 5 % (2 Xeon cores).
PNG_SAVE_OPTIONS = {"compress_level": 1, "compress_type": zlib.Z_RLE}

# EXIF Orientation values 5-8 swap width and height.
_TRANSPOSING_ORIENTATIONS = {5, 6, 7, 8}
_EXIF_ORIENTATION = 0x0112


def _reason(exc: BaseException, limit: int = 160) -> str:
    """A decoder's error as one short line (some libraries put newlines in theirs)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe(source: ImageSource) -> str:
    if isinstance(source, (str, os.PathLike)):
        return f"'{Path(source).name}'"
    name = getattr(source, "name", None)
    if isinstance(name, str) and name:
        return f"'{Path(name).name}'"
    return "the file"


def _read_bytes(source: ImageSource) -> bytes:
    """All bytes of ``source``; raises ImageError for missing/unreadable files."""
    what = _describe(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise ImageError(f"{what}: file not found")
        if not path.is_file():
            raise ImageError(f"{what}: not a file")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageError(f"{what}: cannot read the file ({exc.strerror or exc})") from exc
    elif hasattr(source, "read"):
        try:
            data = source.read()
        except OSError as exc:
            raise ImageError(f"{what}: cannot read the file ({_reason(exc)})") from exc
        if not isinstance(data, (bytes, bytearray)):
            raise ImageError(f"{what}: expected a binary file object")
        data = bytes(data)
    else:
        raise ImageError(f"expected an image file path, bytes or a binary file, got {type(source).__name__}")
    if not data:
        raise ImageError(f"{what} is empty (0 bytes), not an image")
    return data


def _open_header(data: bytes, what: str) -> Image.Image:
    """Open (header only, no pixel decoding) with every Pillow failure mapped to ImageError."""
    try:
        with warnings.catch_warnings():
            # We apply our own pixel limit; Pillow's warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            if HEIF_SUPPORTED and data[4:8] == b"ftyp":
                _register_heif()
            return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{what} is too large to process safely (decompression bomb refused)") from exc
    except UnidentifiedImageError as exc:
        raise ImageError(
            f"{what} is not an image in a format we can read (try JPEG, PNG or WebP)"
        ) from exc
    except MemoryError as exc:
        raise ImageError(f"{what} is too large to process safely") from exc
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, struct.error, RuntimeError) as exc:
        # decoders report broken files in many ways (libheif: RuntimeError; TIFF: struct.error...)
        raise ImageError(f"{what} is a corrupt or unreadable image ({_reason(exc)})") from exc


def _orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:  # malformed EXIF must not make a readable image fail
        return 1


def _upright_size(img: Image.Image) -> tuple[int, int]:
    w, h = img.size
    return (h, w) if _orientation(img) in _TRANSPOSING_ORIENTATIONS else (w, h)


def _check_size(width: int, height: int, what: str, max_pixels: int | None, min_side: int) -> None:
    if max_pixels is not None and width * height > max_pixels:
        raise ImageError(
            f"{what} is too large: {width}×{height} = {width * height / 1e6:.1f} megapixels "
            f"(limit {max_pixels / 1e6:.0f} megapixels)"
        )
    if min(width, height) < min_side:
        raise ImageError(f"{what} is too small: {width}×{height} pixels (each side needs at least {min_side})")


def _high_bit_depth_to_l(img: Image.Image) -> Image.Image:
    """'I;16*', 'I' and 'F' grayscale to 8-bit 'L' by scaling, not clipping."""
    arr = np.asarray(img)
    if img.mode.startswith("I;16"):
        arr = arr.astype(np.float64) / 257.0
    elif img.mode == "I":
        arr = arr.astype(np.float64)
        # 16-bit PNG/TIFF data arrive as 'I' with values up to 65535.
        if arr.max(initial=0) > 255:
            arr = arr / 257.0
    else:  # 'F': values assumed in [0, 1] if they fit there, else 0-255
        arr = arr.astype(np.float64)
        if arr.size and np.nanmax(arr) <= 1.0:
            arr = arr * 255.0
    arr = np.nan_to_num(arr, nan=0.0)
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8))


def _cmyk_to_rgb(img: Image.Image) -> Image.Image:
    icc = img.info.get("icc_profile")
    if icc:
        try:
            from PIL import ImageCms

            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.createProfile("sRGB")
            return ImageCms.profileToProfile(img, src, dst, outputMode="RGB")
        except Exception:  # broken profile or no littlecms: fall back to the naive formula
            pass
    return img.convert("RGB")


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB; transparency is composited on white."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode.startswith("I") or mode == "F":
        return _high_bit_depth_to_l(img).convert("RGB")
    if mode == "CMYK":
        return _cmyk_to_rgb(img)
    if mode == "P" or mode == "PA":
        img = img.convert("RGBA" if (mode == "PA" or "transparency" in img.info) else "RGB")
        mode = img.mode
    elif mode in ("1", "L", "LA", "La", "RGBa", "RGBX", "YCbCr", "LAB", "HSV") and "transparency" in img.info:
        img = img.convert("RGBA")
        mode = img.mode
    if mode in ("RGBA", "LA", "La", "RGBa", "PA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def open_image(
    source: ImageSource,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = DEFAULT_MIN_SIDE,
    max_side: int | None = None,
) -> Image.Image:
    """Load ``source`` as an upright 8-bit RGB image, refusing anything unsafe.

    Args:
        source: a file path, the file's bytes, or a readable binary file object.
        max_pixels: refuse images with more than this many pixels (width ×
            height), checked from the header before decoding. Pillow's own
            decompression-bomb guard (2 × ``Image.MAX_IMAGE_PIXELS``) also
            applies and is reported the same way.
        min_side: refuse images whose shorter side is below this (pixels).
        max_side: the longer side the caller will shrink the image to (pixels;
            None: full size). A JPEG at least twice as large is then decoded at
            1/2, 1/4 or 1/8 scale by libjpeg's scaled IDCT, never below that size
            (Pillow's ``draft``; ``thumbnail`` with ``reducing_gap=1``): a noisy
            4032×3024 photo shrunk to 1024 px took 0.10 instead of 0.22 s to decode
            and resize, 0.44/255 mean absolute difference from the full decode's.
            Size checks use the full size.

    Returns:
        A fully loaded ``PIL.Image.Image`` in mode ``"RGB"``, EXIF orientation
        applied (so its size is the upright size), detached from the source.

    Raises:
        ImageError: the file is missing, empty, not an image, corrupt or
            truncated, a decompression bomb / larger than ``max_pixels``, or
            smaller than ``min_side``. The message is one line naming the
            problem (and the file name when known).
    """
    what = _describe(source)
    data = _read_bytes(source)
    img = _open_header(data, what)
    width, height = _upright_size(img)
    _check_size(width, height, what, max_pixels, min_side)
    try:
        if max_side and img.format == "JPEG" and max(width, height) >= 2 * max_side:
            scale = max_side / max(width, height)  # libjpeg picks the smallest scale at least this large
            img.draft(img.mode, (math.ceil(img.width * scale), math.ceil(img.height * scale)))
        img.load()  # the actual decode; truncated data raises OSError here
        upright = ImageOps.exif_transpose(img)
        rgb = _to_rgb(upright)
        rgb.load()
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{what} is too large to process safely (decompression bomb refused)") from exc
    except MemoryError as exc:
        raise ImageError(f"{what} is too large to process safely") from exc
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, struct.error, RuntimeError) as exc:
        reason = _reason(exc)
        if "truncated" in reason.lower():
            raise ImageError(f"{what} is truncated (the upload is incomplete); please send it again") from exc
        raise ImageError(f"{what} is a corrupt image and cannot be decoded ({reason})") from exc
    if rgb is img:
        rgb = rgb.copy()
    rgb.info.pop("exif", None)  # orientation is applied; stale EXIF would rotate it twice elsewhere
    return rgb


def normalize_image(img: Image.Image) -> Image.Image:
    """An already-open PIL image to upright 8-bit RGB (same rules as :func:`open_image`).

    Applies EXIF orientation, converts any mode to RGB (alpha composited on
    white). Returns a new image; ``img`` is not modified.

    Raises:
        ImageError: if the pixel data cannot be decoded.
    """
    try:
        rgb = _to_rgb(ImageOps.exif_transpose(img))
        rgb.load()
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, struct.error, RuntimeError) as exc:
        raise ImageError(f"the image cannot be decoded ({_reason(exc)})") from exc
    if rgb is img:
        rgb = rgb.copy()
    rgb.info.pop("exif", None)
    return rgb


def image_info(source: ImageSource) -> tuple[int, int, str]:
    """Cheap header check: ``(width, height, format)`` without decoding pixels.

    Width and height are the upright size (EXIF orientation 5–8 swaps them).
    ``format`` is Pillow's format name, e.g. ``"JPEG"``, ``"PNG"``.

    Raises:
        ImageError: missing/empty file, not an image, an unreadable header, or
            dimensions beyond Pillow's decompression-bomb guard.
    """
    what = _describe(source)
    img = _open_header(_read_bytes(source), what)
    width, height = _upright_size(img)
    return width, height, str(img.format or "unknown")


def fit_max_side(img: Image.Image, max_side: int) -> Image.Image:
    """Downscale so that the longer side is at most ``max_side`` pixels.

    Keeps the aspect ratio (each side rounded, at least 1 px), never upscales,
    resamples with Lanczos. Returns ``img`` itself when it already fits.

    Raises:
        InvalidOptionError: if ``max_side`` < 1.
    """
    if max_side < 1:
        raise InvalidOptionError(f"max_side must be at least 1 pixel, got {max_side}")
    width, height = img.size
    longest = max(width, height)
    if longest <= max_side:
        return img
    scale = max_side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
