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
Artistic Style Transfer". Every method paints at the working size of the brush
(``options.stroke``: 512 px / stroke on the longer side) and the result is brought
to ``options.max_side`` by guided up-sampling (:mod:`styletransfer.scale`), so the
strokes keep their size relative to the picture at 1024 or 4096 px.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch
from PIL import Image

from .color import match_color, transfer_luminance
from .errors import Cancelled, CheckpointMissingError, InvalidOptionError
from .images import fit_max_side
from .inputs import (
    METHODS,
    CancelFn,
    ImageInput,
    ProgressFn,
    ResolvedStyle,
    StyleOptions,
    StyleSpec,
    check_method,
    load_image,
    resolve_styles,
    style_read_side,
)
from .scale import paint_at_working_size

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
    """PIL RGB image → (1, 3, H, W) float32 tensor in [0, 1] (value / 255).

    Plain numpy/torch (no torchvision on the inference path: importing it costs
    ~2 s because it pulls in ``torch._dynamo``)."""
    arr = np.asarray(img.convert("RGB") if img.mode != "RGB" else img, dtype=np.uint8)
    t = torch.from_numpy(arr.copy()).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)
    return t.contiguous().to(device)


def tensor_to_image(t: torch.Tensor) -> Image.Image:
    """(1, 3, H, W) or (3, H, W) tensor in [0, 1] → PIL RGB image (value · 255,
    rounded to the nearest 8-bit level, clamped)."""
    if t.dim() == 4:
        t = t[0]
    arr = t.detach().float().clamp(0, 1).mul(255.0).round().to(torch.uint8).permute(1, 2, 0).contiguous().cpu().numpy()
    return Image.fromarray(arr, mode="RGB")


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

    styles = resolve_styles(style, options.max_pixels, style_read_side(method, options))
    check_method(method, styles)
    content_img = fit_max_side(load_image(content, options.max_pixels, options.max_side), options.max_side)
    if min(content_img.size) < 16:
        raise InvalidOptionError(
            f"the content becomes {content_img.size[0]}×{content_img.size[1]} px at max_side={options.max_side}; "
            "it is too thin (each side needs at least 16 px)"
        )
    if options.seed is not None:
        torch.manual_seed(options.seed)
    _check_cancel(cancel)

    alpha = float(options.alpha)

    if options.texture:
        from .texture import check_texture

        check_texture(options.texture)

    def paint(image: Image.Image) -> Image.Image:  # at the working size (styletransfer.scale)
        if options.texture:  # the texture -> style chain (styletransfer.texture)
            from .texture import apply_texture

            image = apply_texture(image, options.texture, device=options.device, backend=options.backend,
                                  threads=torch.get_num_threads())
        if method == "adain" and device.type == "cpu":
            from .onnx.adain import prepare_styles, stylize_adain_ort, use_onnx

            if use_onnx(options.backend, on_cpu=True, preserve_color=options.preserve_color):  # no torch needed
                _report(progress, 0, 1, stage="render")
                return stylize_adain_ort(image, prepare_styles(styles, options.style_side), alpha=alpha,
                                         threads=torch.get_num_threads(), palette=options.palette_strength(method),
                                         transform=options.transform)
        content_t = image_to_tensor(image, device)
        if method == "johnson":
            out = _run_johnson(content_t, styles[0].name, alpha, options, device, progress)
        elif method == "adain":
            out = _run_adain(content_t, styles, alpha, options, device, progress)
        else:
            out = _run_gatys(content_t, styles, alpha, options, device, progress, cancel)
        _check_cancel(cancel)
        painting = tensor_to_image(out)
        if options.palette_strength(method) > 0:  # the style's palette (styletransfer.palette)
            from .palette import style_palette, transfer_palette

            painting = transfer_palette(painting, style_palette([(s.image, s.weight) for s in styles]),
                                        options.palette_strength(method))
        return painting

    result = paint_at_working_size(content_img, options.stroke, paint)
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
    return model.stylize(content_t, style_ts, [s.weight for s in styles], alpha=alpha, style_keys=keys,
                         transform=options.transform)


def _run_johnson(content_t, preset, alpha, options, device, progress) -> torch.Tensor:
    try:
        from .johnson import stylize_johnson
    except ImportError as exc:  # pragma: no cover
        raise CheckpointMissingError(f"the Johnson method is not available ({exc})") from exc
    _report(progress, 0, 1, stage="render")
    if _johnson_on_onnx(preset, options, device):  # the same net in ONNX Runtime (styletransfer.onnx.johnson)
        from .onnx.johnson import johnson_frames

        out = torch.from_numpy(johnson_frames(content_t.float().contiguous().numpy(), preset))
    else:
        out = stylize_johnson(content_t, preset, device=device)
    if options.preserve_color:
        out = transfer_luminance(out, content_t)
    if alpha < 1.0:
        out = alpha * out + (1.0 - alpha) * content_t
    return out


def _johnson_on_onnx(preset: str, options: StyleOptions, device: torch.device) -> bool:
    from .onnx.johnson import use_onnx

    return device.type == "cpu" and use_onnx(preset, options.backend, on_cpu=True)


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
