"""What a stylization is asked to do, checked without torch.

The options, the style spec parsing (preset names, image files, blends) and
the checks that need no model (is there a trained net for this method?) live
here so that the ``stylize`` CLI and the bot can refuse bad input at once,
before the ~2 s import of torch. :mod:`styletransfer.engine` re-exports all of it.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence, Union

from PIL import Image

from .checkpoints import adain_decoder_path, johnson_path, require
from .errors import InvalidOptionError, UnknownPresetError
from .images import normalize_image, open_image
from .presets import PRESETS, is_preset, preset_path

__all__ = [
    "METHODS",
    "ImageInput",
    "StyleSpec",
    "ProgressFn",
    "CancelFn",
    "StyleOptions",
    "ResolvedStyle",
    "load_image",
    "style_read_side",
    "resolve_styles",
    "check_method",
    "TRANSFORMS",
    "check_transform",
]

#: Supported methods, fastest-to-train first.
METHODS = ("adain", "johnson", "gatys")

ImageInput = Union[str, os.PathLike, bytes, bytearray, Image.Image, io.IOBase]
#: A style: preset name, image path/bytes/PIL image, or a list of those or of (style, weight) pairs.
StyleSpec = Union[ImageInput, Sequence[Union[ImageInput, tuple[ImageInput, float]]]]
ProgressFn = Callable[[int, int, dict], None]
CancelFn = Callable[[], bool]

#: AdaIN's palette transfer strength by default (:mod:`styletransfer.palette`), chosen on the 63
#: held-out paintings × the eval photos (bench/RESULTS.md, issue #26)
DEFAULT_PALETTE = 0.7


def check_palette(value: Any) -> float:
    """``value`` as a palette strength in [0, 1].

    Raises:
        InvalidOptionError: not a number in [0, 1].
    """
    try:
        strength = float(value)
    except (TypeError, ValueError):
        raise InvalidOptionError(f"palette must be a number between 0 and 1, got {value!r}") from None
    if not 0.0 <= strength <= 1.0:
        raise InvalidOptionError(f"palette must be between 0 and 1, got {value}")
    return strength


#: AdaIN's feature transforms: "efdm" (exact feature distribution matching, Zhang et al. 2022,
#: the default: chosen on 32 held-out paintings, bench/RESULTS.md) and "adain" (mean and std,
#: Huang & Belongie 2017); the same as styletransfer.adain.TRANSFORMS (tests/test_adain.py)
TRANSFORMS = ("efdm", "adain")
DEFAULT_TRANSFORM = "efdm"


def check_transform(value: Any) -> str:
    """``value`` as one of :data:`TRANSFORMS`.

    Raises:
        InvalidOptionError: any other value.
    """
    if value not in TRANSFORMS:
        raise InvalidOptionError(f"transform must be one of {', '.join(TRANSFORMS)}, got {value!r}")
    return value


@dataclass(frozen=True)
class StyleOptions:
    """Options of :func:`stylize` (all optional).

    Attributes:
        alpha: style strength in [0, 1]. AdaIN: feature interpolation
            (Huang & Belongie 2017, eq. 11); Gatys: multiplies the style
            weight; Johnson: pixel blend of the output with the content.
        preserve_color: keep the content's colours (AdaIN/Gatys: recolour the
            style to the content's colour mean/covariance first; Johnson:
            luminance-only transfer afterwards).
        max_side: the content is downscaled so its longer side is at most this
            (pixels); the output has that size. Never upscaled.
        style_side: longer side of style images for AdaIN (pixels); Gatys
            resizes styles to the content's size itself.
        steps: Gatys loss evaluations in total (default
            :data:`styletransfer.gatys.DEFAULT_STEPS`); ignored by the others.
        device: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``,
            ``"cuda"`` or ``"cuda:N"``.
        seed: seeds torch (and Gatys' noise init) for reproducible results.
        gatys: extra keyword arguments for
            :func:`styletransfer.gatys.stylize_gatys` (``style_weight``,
            ``tv_weight``, ``optimizer``, ``scales``, ``init`` …).
        max_pixels: refuse inputs larger than this (pixels, checked before decoding).
        stroke: brush size: ``"fine"``, ``"medium"`` (default), ``"bold"`` or a number in
            [0.25, 4] (1 = medium; 2 = strokes twice as big). Every method paints at the
            working size ``512 px / stroke`` and is brought to ``max_side`` by guided
            up-sampling, so strokes keep their size relative to the picture
            (:mod:`styletransfer.scale`); :meth:`validate` turns a name into its number.
        texture: a texture laid over the photo before the style (``"canvas"``; None: none),
            by its texture net (:mod:`styletransfer.texture`): flat photos get grain to
            paint.
        palette: AdaIN only: how far, in [0, 1], the painting's CIELAB colours are moved to
            the style picture's palette after painting (:mod:`styletransfer.palette`; 0: the
            decoder's own colours, 1: the style's colour mean and covariance). Scaled by
            ``alpha``; not used with ``preserve_color``.
        transform: AdaIN only: how the content features take the style's, ``"efdm"`` (their
            whole per-channel distribution, Zhang et al. 2022) or ``"adain"`` (mean and std,
            Huang & Belongie 2017); :data:`TRANSFORMS`.
        backend: Johnson's and AdaIN's forward pass: ``"auto"`` (ONNX Runtime on
            the CPU when the graphs are exported, see :mod:`styletransfer.onnx.johnson` and
            :mod:`styletransfer.onnx.adain`, else torch), ``"torch"`` or ``"onnx"``
            (exported first if needed). AdaIN with ``preserve_color`` runs in torch.
    """

    alpha: float = 1.0
    preserve_color: bool = False
    max_side: int = 1024
    style_side: int = 512
    steps: int | None = None
    device: str = "auto"
    seed: int | None = None
    gatys: dict[str, Any] = field(default_factory=dict)
    max_pixels: int = 40_000_000
    backend: str = "auto"
    stroke: float | str = 1.0
    texture: str | None = None
    palette: float = DEFAULT_PALETTE
    transform: str = DEFAULT_TRANSFORM

    def palette_strength(self, method: str) -> float:
        """The palette transfer's strength for ``method``: ``palette × alpha`` for AdaIN
        without colour preservation, else 0."""
        return 0.0 if method != "adain" or self.preserve_color else float(self.palette) * float(self.alpha)

    def validate(self) -> "StyleOptions":
        """Return the options with ``stroke`` as a number, if every option is in range.

        Raises:
            InvalidOptionError: naming the bad option and its allowed range.
        """
        try:
            alpha = float(self.alpha)
        except (TypeError, ValueError):
            raise InvalidOptionError(f"alpha must be a number between 0 and 1, got {self.alpha!r}") from None
        if not 0.0 <= alpha <= 1.0:
            raise InvalidOptionError(f"alpha must be between 0 and 1, got {self.alpha}")
        if not isinstance(self.max_side, int) or not 16 <= self.max_side <= 8192:
            raise InvalidOptionError(f"max_side must be an integer from 16 to 8192 pixels, got {self.max_side!r}")
        if not isinstance(self.style_side, int) or not 16 <= self.style_side <= 4096:
            raise InvalidOptionError(f"style_side must be an integer from 16 to 4096 pixels, got {self.style_side!r}")
        if self.steps is not None and (not isinstance(self.steps, int) or not 1 <= self.steps <= 10_000):
            raise InvalidOptionError(f"steps must be an integer from 1 to 10000, got {self.steps!r}")
        if self.backend not in ("auto", "torch", "onnx"):
            raise InvalidOptionError(f"backend must be auto, torch or onnx, got {self.backend!r}")
        check_palette(self.palette)
        check_transform(self.transform)
        if self.texture is not None:
            from .texture import texture_picture

            texture_picture(self.texture)  # a known name (its net is checked by check_method)
        from .scale import parse_stroke

        stroke = parse_stroke(self.stroke)
        return self if stroke == self.stroke and isinstance(self.stroke, float) else replace(self, stroke=stroke)


@dataclass(frozen=True)
class ResolvedStyle:
    """One style after parsing: its image, blend weight and cache key (presets only)."""

    image: Image.Image
    weight: float
    key: str | None
    name: str | None  # preset name, or None for an uploaded image


def load_image(source: ImageInput, max_pixels: int = 40_000_000, max_side: int | None = None) -> Image.Image:
    """An upright RGB PIL image from a path, bytes, file object or PIL image. ``max_side``:
    the longer side it will be shrunk to, which lets a big JPEG decode at a reduced scale
    (:func:`styletransfer.images.open_image`).

    Raises:
        ImageError: not a usable image (missing, corrupt, too large, too small).
    """
    if isinstance(source, Image.Image):
        return normalize_image(source)
    return open_image(source, max_pixels=max_pixels, max_side=max_side)


def _looks_like_path(text: str) -> bool:
    return any(sep in text for sep in ("/", "\\")) or Path(text).suffix != ""


def style_read_side(method: str, options: StyleOptions) -> int:
    """The longer side, in pixels, that ``method`` reads style images at, at most: AdaIN's
    ``style_side``; Gatys resizes them to the content (``max_side``); ``"auto"`` may become
    either. Big JPEG styles are decoded at a reduced scale no smaller than this."""
    return options.style_side if method == "adain" else max(options.style_side, options.max_side)


def _resolve_one(source: ImageInput, weight: float, max_pixels: int, max_side: int | None) -> ResolvedStyle:
    if isinstance(source, str) and is_preset(source):
        return ResolvedStyle(open_image(preset_path(source)), weight, f"preset:{source}", source)  # small, exact
    if isinstance(source, str) and not Path(source).exists() and not _looks_like_path(source):
        raise UnknownPresetError(
            f"style {source!r} is neither a preset nor an image file; presets: {', '.join(PRESETS)}"
        )
    return ResolvedStyle(load_image(source, max_pixels, max_side), weight, None, None)


def resolve_styles(style: StyleSpec, max_pixels: int = 40_000_000, max_side: int | None = None) -> list[ResolvedStyle]:
    """Parse a style spec into images, weights and cache keys.

    ``style`` is a preset name, an image (path, bytes, file object or PIL
    image), or a list of those and/or ``(style, weight)`` pairs (style
    interpolation; weights ≥ 0, normalised later); :class:`ResolvedStyle`
    items pass through unchanged. ``max_side``: the longer side the styles will be shrunk to
    (:func:`style_read_side`), which lets a big JPEG style decode at a reduced scale.

    Raises:
        UnknownPresetError: a string that is neither a preset nor an existing file.
        ImageError: a style file that is not a usable image.
        InvalidOptionError: empty list or a bad weight.
    """
    items = list(style) if isinstance(style, (list, tuple)) and not _is_pair(style) else [style]
    if not items:
        raise InvalidOptionError("at least one style is needed")
    resolved = []
    for item in items:
        if isinstance(item, ResolvedStyle):  # already parsed (e.g. by the CLI before importing torch)
            resolved.append(item)
            continue
        src, weight = item if _is_pair(item) else (item, 1.0)
        try:
            weight = float(weight)
        except (TypeError, ValueError):
            raise InvalidOptionError(f"style weight must be a number, got {weight!r}") from None
        if not weight >= 0 or weight == float("inf"):
            raise InvalidOptionError(f"style weights must be ≥ 0, got {weight}")
        resolved.append(_resolve_one(src, weight, max_pixels, max_side))
    if sum(r.weight for r in resolved) <= 0:
        raise InvalidOptionError("style weights must not all be 0")
    return resolved


def _is_pair(item: Any) -> bool:
    return (
        isinstance(item, tuple)
        and len(item) == 2
        and isinstance(item[1], (int, float))
        and not isinstance(item[1], bool)
    )


def check_method(method: str, styles: Sequence[ResolvedStyle]) -> None:
    """Refuse what no model can do here: an unknown method, Johnson with
    anything but one preset, or a method whose trained weights are missing.

    Raises:
        InvalidOptionError: unknown method or a style Johnson cannot take.
        CheckpointMissingError: the weights file is absent (names the training command).
    """
    if method not in METHODS:
        raise InvalidOptionError(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}")
    if method == "johnson":
        if len(styles) != 1 or styles[0].name is None:
            raise InvalidOptionError(
                "the johnson method works only with a single preset style "
                f"({', '.join(PRESETS)}); use adain or gatys for your own style images or blends"
            )
        require(johnson_path(styles[0].name), f"Johnson network for preset {styles[0].name!r}")
    elif method == "adain":
        require(adain_decoder_path(), "AdaIN decoder")
