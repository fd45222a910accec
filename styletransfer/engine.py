"""One entry point for all three methods: :func:`stylize`.

``stylize(content, style, method, options)`` loads and validates the inputs
(:mod:`styletransfer.images`), caps the content's longer side, resolves preset
names, recolours the style when asked to preserve the content's colours, runs
the chosen method and returns a PIL image of the (capped) content size.

Methods:

* ``"adain"`` — Huang & Belongie (2017), "Arbitrary Style Transfer in
  Real-time with Adaptive Instance Normalization": any style image, one
  forward pass; needs the trained decoder.
* ``"johnson"`` — Johnson, Alahi & Fei-Fei (2016), "Perceptual Losses for
  Real-Time Style Transfer and Super-Resolution": one network per preset,
  fastest; needs the preset's trained network.
* ``"gatys"`` — Gatys, Ecker & Bethge (2016), "Image Style Transfer Using
  Convolutional Neural Networks": optimises the image, any style, no training,
  slowest (tens of seconds to minutes on CPU).

Colour preservation follows Gatys et al. (2016), "Preserving Color in Neural
Artistic Style Transfer".
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence, Union

import torch
from PIL import Image
from torchvision.transforms.v2 import functional as TF

from .color import match_color, transfer_luminance
from .errors import Cancelled, CheckpointMissingError, InvalidOptionError, UnknownPresetError
from .images import fit_max_side, normalize_image, open_image
from .presets import PRESETS, is_preset, preset_path

__all__ = [
    "METHODS",
    "StyleOptions",
    "StyleSpec",
    "ResolvedStyle",
    "stylize",
    "resolve_device",
    "resolve_styles",
    "image_to_tensor",
    "tensor_to_image",
]

#: Supported methods, fastest-to-train first.
METHODS = ("adain", "johnson", "gatys")

ImageInput = Union[str, os.PathLike, bytes, bytearray, Image.Image, io.IOBase]
#: A style: preset name, image path/bytes/PIL image, or a list of those or of (style, weight) pairs.
StyleSpec = Union[ImageInput, Sequence[Union[ImageInput, tuple[ImageInput, float]]]]
ProgressFn = Callable[[int, int, dict], None]
CancelFn = Callable[[], bool]


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

    def validate(self) -> "StyleOptions":
        """Return self if every option is in range.

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
        return self


@dataclass(frozen=True)
class ResolvedStyle:
    """One style after parsing: its image, blend weight and cache key (presets only)."""

    image: Image.Image
    weight: float
    key: str | None
    name: str | None  # preset name, or None for an uploaded image


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → ``cuda`` when available, else ``cpu``; others are checked.

    Raises:
        InvalidOptionError: unknown device string, or CUDA asked for but absent.
    """
    if isinstance(device, torch.device):
        return device
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InvalidOptionError(f"unknown device {device!r}; use auto, cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvalidOptionError("device 'cuda' was requested but no CUDA GPU is available; use --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise InvalidOptionError(f"unsupported device {device!r}; use auto, cpu or cuda")
    return dev


def image_to_tensor(img: Image.Image, device: torch.device | str = "cpu") -> torch.Tensor:
    """PIL RGB image → (1, 3, H, W) float32 tensor in [0, 1]."""
    t = TF.to_dtype(TF.pil_to_tensor(img), torch.float32, scale=True)
    return t.unsqueeze(0).contiguous().to(device)


def tensor_to_image(t: torch.Tensor) -> Image.Image:
    """(1, 3, H, W) or (3, H, W) tensor in [0, 1] → PIL RGB image (rounded to 8 bit)."""
    if t.dim() == 4:
        t = t[0]
    t = t.detach().float().clamp(0, 1).cpu()
    return TF.to_pil_image(TF.to_dtype(t, torch.uint8, scale=True), mode="RGB")


def _load(source: ImageInput, max_pixels: int) -> Image.Image:
    if isinstance(source, Image.Image):
        return normalize_image(source)
    return open_image(source, max_pixels=max_pixels)


def _looks_like_path(text: str) -> bool:
    return any(sep in text for sep in ("/", "\\")) or Path(text).suffix != ""


def _resolve_one(source: ImageInput, weight: float, max_pixels: int) -> ResolvedStyle:
    if isinstance(source, str) and is_preset(source):
        return ResolvedStyle(open_image(preset_path(source)), weight, f"preset:{source}", source)
    if isinstance(source, str) and not Path(source).exists() and not _looks_like_path(source):
        raise UnknownPresetError(
            f"style {source!r} is neither a preset nor an image file; presets: {', '.join(PRESETS)}"
        )
    return ResolvedStyle(_load(source, max_pixels), weight, None, None)


def resolve_styles(style: StyleSpec, max_pixels: int = 40_000_000) -> list[ResolvedStyle]:
    """Parse a style spec into images, weights and cache keys.

    ``style`` is a preset name, an image (path, bytes, file object or PIL
    image), or a list of those and/or ``(style, weight)`` pairs (style
    interpolation; weights ≥ 0, normalised later).

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
        src, weight = item if _is_pair(item) else (item, 1.0)
        try:
            weight = float(weight)
        except (TypeError, ValueError):
            raise InvalidOptionError(f"style weight must be a number, got {weight!r}") from None
        if not weight >= 0 or weight == float("inf"):
            raise InvalidOptionError(f"style weights must be ≥ 0, got {weight}")
        resolved.append(_resolve_one(src, weight, max_pixels))
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


def _report(progress: ProgressFn | None, step: int, total: int, **info: Any) -> None:
    if progress is not None:
        progress(step, total, info)


def _check_cancel(cancel: CancelFn | None) -> None:
    if cancel is not None and cancel():
        raise Cancelled("stylization cancelled")


def stylize(
    content: ImageInput,
    style: StyleSpec,
    method: str = "adain",
    options: StyleOptions | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> Image.Image:
    """Render ``content`` in ``style`` with ``method``.

    Args:
        content: the photo — path, bytes, binary file object or PIL image.
        style: preset name (see :mod:`styletransfer.presets`), a style image
            (path, bytes, file object, PIL image), or a list of those and/or
            ``(style, weight)`` pairs to blend several styles (AdaIN, Gatys).
        method: one of :data:`METHODS`.
        options: :class:`StyleOptions`; defaults when None.
        progress: ``progress(step, total, info)``; ``info["stage"]`` is
            ``"prepare"``, ``"optimize"`` (Gatys, per step, with
            ``loss``/``content_loss``/``style_loss``/``tv_loss``/``scale``),
            ``"render"`` or ``"done"``.
        cancel: polled between stages (and every Gatys step); returning True
            aborts with :class:`~styletransfer.errors.Cancelled`.

    Returns:
        RGB PIL image with the content's upright size after capping its longer
        side at ``options.max_side``.

    Raises:
        ImageError: content or style is not a usable image.
        UnknownPresetError: a style name that is neither a preset nor a file.
        InvalidOptionError: unknown method, alpha outside [0, 1], Johnson with
            anything but one preset, a bad device or option.
        CheckpointMissingError: the method's trained weights are absent (the
            message names the ``stylize-train`` command).
        Cancelled: ``cancel()`` returned True.
    """
    options = (options or StyleOptions()).validate()
    if method not in METHODS:
        raise InvalidOptionError(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}")
    device = resolve_device(options.device)
    _report(progress, 0, 1, stage="prepare")

    styles = resolve_styles(style, options.max_pixels)
    if method == "johnson" and (len(styles) != 1 or styles[0].name is None):
        raise InvalidOptionError(
            "the johnson method works only with a single preset style "
            f"({', '.join(PRESETS)}); use adain or gatys for your own style images or blends"
        )
    content_img = fit_max_side(_load(content, options.max_pixels), options.max_side)
    if min(content_img.size) < 16:
        raise InvalidOptionError(
            f"the content becomes {content_img.size[0]}×{content_img.size[1]} px at max_side={options.max_side}; "
            "it is too thin (each side needs at least 16 px)"
        )
    if options.seed is not None:
        torch.manual_seed(options.seed)
    _check_cancel(cancel)

    content_t = image_to_tensor(content_img, device)
    alpha = float(options.alpha)
    if method == "johnson":
        out = _run_johnson(content_t, styles[0].name, alpha, options, device, progress)
    elif method == "adain":
        out = _run_adain(content_t, styles, alpha, options, device, progress)
    else:
        out = _run_gatys(content_t, styles, alpha, options, device, progress, cancel)
    _check_cancel(cancel)
    result = tensor_to_image(out)
    _report(progress, 1, 1, stage="done")
    return result


def _style_tensors(styles: list[ResolvedStyle], side: int, content_t: torch.Tensor, options: StyleOptions,
                   device: torch.device) -> tuple[list[torch.Tensor], list[str | None]]:
    tensors, keys = [], []
    for s in styles:
        t = image_to_tensor(fit_max_side(s.image, side), device)
        if options.preserve_color:
            t = match_color(t, content_t)
            keys.append(None)  # recoloured per content: nothing to cache
        else:
            keys.append(f"{s.key}@{side}" if s.key else None)
        tensors.append(t)
    return tensors, keys


def _run_adain(content_t, styles, alpha, options, device, progress) -> torch.Tensor:
    try:
        from .adain import load_adain
    except ImportError as exc:  # pragma: no cover - module ships with the package
        raise CheckpointMissingError(f"the AdaIN method is not available ({exc})") from exc
    model = load_adain(device)
    style_ts, keys = _style_tensors(styles, options.style_side, content_t, options, device)
    _report(progress, 0, 1, stage="render")
    return model.stylize(content_t, style_ts, [s.weight for s in styles], alpha=alpha, style_keys=keys)


def _run_johnson(content_t, preset, alpha, options, device, progress) -> torch.Tensor:
    try:
        from .johnson import stylize_johnson
    except ImportError as exc:  # pragma: no cover
        raise CheckpointMissingError(f"the Johnson method is not available ({exc})") from exc
    _report(progress, 0, 1, stage="render")
    out = stylize_johnson(content_t, preset, device=device)
    if options.preserve_color:
        out = transfer_luminance(out, content_t)
    if alpha < 1.0:
        out = alpha * out + (1.0 - alpha) * content_t
    return out


def _run_gatys(content_t, styles, alpha, options, device, progress, cancel) -> torch.Tensor:
    from .gatys import DEFAULT_STEPS, DEFAULT_STYLE_WEIGHT, stylize_gatys

    side = max(content_t.shape[-2:])
    style_ts, keys = _style_tensors(styles, side, content_t, options, device)
    kwargs = dict(options.gatys)
    kwargs["style_weight"] = alpha * float(kwargs.get("style_weight", DEFAULT_STYLE_WEIGHT))
    kwargs.setdefault("seed", options.seed)
    return stylize_gatys(
        content_t,
        style_ts,
        [s.weight for s in styles],
        steps=options.steps or DEFAULT_STEPS,
        progress=progress,
        cancel=cancel,
        device=device,
        style_keys=keys,
        **kwargs,
    )


def with_options(options: StyleOptions | None, **changes: Any) -> StyleOptions:
    """Copy of ``options`` (or the defaults) with ``changes`` applied."""
    return replace(options or StyleOptions(), **changes)
