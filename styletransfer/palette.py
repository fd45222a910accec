"""The style's palette laid on a painting: linear colour transfer in CIELAB.

An arbitrary-style decoder (AdaIN) matches the style's feature statistics at relu4_1 but
not its colours: its paintings drift to the decoder's own palette (often greyish). After
painting, :func:`transfer_palette` moves every pixel's CIELAB colour by the
Monge–Kantorovich linear map between the Gaussians of the painting's and the style's
colours (Pitié & Kokaram 2007, "The linear Monge-Kantorovitch linear colour mapping for
example-based colour transfer", CVMP; the closed form of the 2-Wasserstein map between two
Gaussians), taken ``strength`` of the way (McCann's displacement interpolation): at 1 the
painting's colour mean and covariance equal the style's, at 0 nothing changes. Being the
smallest such move, it keeps the painting's light-dark structure and strokes.

Colours are converted with Pillow's ImageCms (LittleCMS; sRGB ↔ CIELAB D50, 8 bits), the
conversion :func:`styletransfer.metrics.palette_distance` measures with. Numpy only (no
torch): the ONNX Runtime path uses it too. AdaIN applies it by default
(:class:`styletransfer.inputs.StyleOptions` ``palette``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageCms

__all__ = ["ColourStats", "PaletteMap", "colour_stats", "lab_pixels", "mix_stats", "palette_map", "style_palette", "transfer_palette"]

# the most pixels whose colours are counted (a regular subsample above it): statistics of a
# 12 MP picture need not read every pixel
_STAT_PIXELS = 1 << 18
_EPS = 1e-4  # floor of covariance eigenvalues (a flat or grey picture), in (ΔE)²


@dataclass(frozen=True)
class ColourStats:
    """The Gaussian of a picture's CIELAB colours: ``mean`` (3,) as L (0-100), a, b; and
    ``cov`` (3, 3), in ΔE²; ``pixels``: how many colours were counted."""

    mean: np.ndarray
    cov: np.ndarray
    pixels: int


_TRANSFORMS: dict[str, object] = {}


def _transform(direction: str):
    if direction not in _TRANSFORMS:
        srgb, lab = ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB")
        _TRANSFORMS["to_lab"] = ImageCms.buildTransform(srgb, lab, "RGB", "LAB")
        _TRANSFORMS["to_rgb"] = ImageCms.buildTransform(lab, srgb, "LAB", "RGB")
    return _TRANSFORMS[direction]


def _rgb_image(image: Image.Image | np.ndarray) -> Image.Image:
    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        arr = np.clip(np.rint(arr.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def lab_pixels(image: Image.Image) -> np.ndarray:
    """(H·W, 3) float64 CIELAB of an RGB PIL image, row by row: L in 0-100, a and b in
    -128..127 (ImageCms, sRGB -> LAB D50, 8 bits)."""
    raw = np.asarray(ImageCms.applyTransform(image, _transform("to_lab"))).reshape(-1, 3)
    return np.column_stack([raw[:, 0] * (100.0 / 255.0), raw[:, 1:].view(np.int8).astype(np.float64)])


def _rgb_from_lab(lab: np.ndarray, size: tuple[int, int]) -> Image.Image:
    raw = np.empty(lab.shape, dtype=np.uint8)
    raw[:, 0] = np.clip(np.rint(lab[:, 0] * (255.0 / 100.0)), 0, 255)
    raw[:, 1:] = np.clip(np.rint(lab[:, 1:]), -128, 127).astype(np.int8).view(np.uint8)
    image = Image.fromarray(raw.reshape(size[1], size[0], 3), "LAB")
    return ImageCms.applyTransform(image, _transform("to_rgb"))


def colour_stats(image: Image.Image | np.ndarray) -> ColourStats:
    """The CIELAB colour mean and covariance of a picture.

    Args:
        image: a PIL image (converted to RGB) or an (H, W, 3) RGB array, uint8 0-255 or
            float in [0, 1]. Pictures above 2¹⁸ pixels are subsampled on a regular grid.

    Raises:
        ValueError: an array that is not (H, W, 3).
    """
    image = _rgb_image(image)
    step = _stat_step(image)
    if step > 1:
        image = Image.fromarray(np.asarray(image)[::step, ::step])
    return _stats(lab_pixels(image))


def _stat_step(image: Image.Image) -> int:
    """The grid step that leaves at most _STAT_PIXELS of a picture's pixels to count."""
    return max(1, int(np.ceil(np.sqrt(image.width * image.height / _STAT_PIXELS))))


def _stats(lab: np.ndarray) -> ColourStats:
    cov = np.cov(lab.T) if len(lab) > 1 else np.zeros((3, 3))
    return ColourStats(lab.mean(0), cov, len(lab))


def mix_stats(stats: Sequence[ColourStats], weights: Sequence[float]) -> ColourStats:
    """The Gaussian of a weighted mixture of pictures' colours (several styles blended).

    Args:
        stats: one :class:`ColourStats` per picture.
        weights: ≥ 0, not all 0; normalised to sum 1.

    Raises:
        ValueError: no stats, lengths differ, or weights negative or all zero.
    """
    w = np.asarray(weights, dtype=np.float64)
    if not stats or len(stats) != len(w) or (w < 0).any() or w.sum() <= 0:
        raise ValueError("give one weight >= 0 per picture, not all zero")
    w = w / w.sum()
    mean = sum(wi * s.mean for wi, s in zip(w, stats))
    second = sum(wi * (s.cov + np.outer(s.mean, s.mean)) for wi, s in zip(w, stats))
    return ColourStats(mean, second - np.outer(mean, mean), sum(s.pixels for s in stats))


def style_palette(styles: Sequence[tuple[Image.Image, float]]) -> ColourStats:
    """The palette of one style picture or a blend: ``(image, weight)`` pairs (weights ≥ 0, not
    all 0). Pictures are counted by their weight, not their size (:func:`mix_stats`).

    Raises:
        ValueError: no styles, or weights negative or all zero.
    """
    return mix_stats([colour_stats(image) for image, _w in styles], [w for _image, w in styles])


def _sym_power(m: np.ndarray, power: float) -> np.ndarray:
    vals, vecs = np.linalg.eigh((m + m.T) / 2)
    return (vecs * np.clip(vals, _EPS, None) ** power) @ vecs.T


@dataclass(frozen=True)
class PaletteMap:
    """An affine map of CIELAB colours, ``x ↦ matrix @ x + offset`` (:func:`palette_map`)."""

    matrix: np.ndarray  # (3, 3)
    offset: np.ndarray  # (3,)

    def apply(self, image: Image.Image | np.ndarray) -> Image.Image:
        """The map applied to every pixel of an RGB picture (PIL image, or (H, W, 3) uint8 or
        float in [0, 1]); colours outside sRGB are clipped. Returns an RGB PIL image."""
        image = _rgb_image(image)
        return self._apply_lab(lab_pixels(image), image.size)

    def _apply_lab(self, lab: np.ndarray, size: tuple[int, int]) -> Image.Image:
        return _rgb_from_lab(lab @ self.matrix.T + self.offset, size)

    def apply_frames(self, frames: np.ndarray) -> np.ndarray:
        """The map applied to a batch (N, 3, H, W) float in [0, 1]; returns float32 in [0, 1]."""
        out = np.empty(frames.shape, dtype=np.float32)
        for i, frame in enumerate(frames):
            out[i] = np.asarray(self.apply(np.moveaxis(frame, 0, -1)), dtype=np.float32).transpose(2, 0, 1) / 255.0
        return out


def palette_map(painting: ColourStats, style: ColourStats, strength: float) -> PaletteMap:
    """The map that moves colours of statistics ``painting`` ``strength`` of the way to ``style``'s.

    ``x ↦ x + t (μs + A (x − μp) − x)`` with ``A = Σp^-½ (Σp^½ Σs Σp^½)^½ Σp^-½`` (the
    Monge–Kantorovich map between the two colour Gaussians; Pitié & Kokaram 2007) and
    ``t = strength``. A clip uses the map of its first painted frame for every frame, so the
    colours do not flicker.

    Raises:
        ValueError: ``strength`` outside [0, 1].
    """
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    root, inv_root = _sym_power(painting.cov, 0.5), _sym_power(painting.cov, -0.5)
    a = inv_root @ _sym_power(root @ style.cov @ root, 0.5) @ inv_root
    matrix = (1.0 - strength) * np.eye(3) + strength * a
    return PaletteMap(matrix, strength * (style.mean - a @ painting.mean))


def transfer_palette(painting: Image.Image, style: ColourStats, strength: float) -> Image.Image:
    """Move a painting's colours ``strength`` of the way to the style's palette
    (:func:`palette_map` from the painting's own colour statistics, applied to it).

    Args:
        painting: RGB PIL image (or (H, W, 3) array), any size.
        style: the style's :class:`ColourStats` (:func:`colour_stats`, or :func:`mix_stats`
            for a blend).
        strength: in [0, 1]; 0 returns the painting unchanged. At 1 the painting's CIELAB
            mean and covariance become the style's (up to clipping to sRGB).

    Returns:
        RGB PIL image of the painting's size.

    Raises:
        ValueError: ``strength`` outside [0, 1].
    """
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    painting = _rgb_image(painting)
    if strength == 0.0:
        return painting
    lab = lab_pixels(painting)  # converted once: for the statistics and for the map
    step = _stat_step(painting)
    counted = lab if step == 1 else lab.reshape(painting.height, painting.width, 3)[::step, ::step].reshape(-1, 3)
    return palette_map(_stats(counted), style, strength)._apply_lab(lab, painting.size)
