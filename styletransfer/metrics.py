"""Perceptual distances used by the quality benchmark (``bench/quality.py``).

Both distances are measured with the original Caffe VGG-19 (Simonyan &
Zisserman 2015) from :mod:`styletransfer.vgg`, max pooling, exactly as the
losses of Gatys, Ecker & Bethge (2016), "Image Style Transfer Using
Convolutional Neural Networks" (CVPR), but normalised so that the numbers are
comparable between images, sizes and methods:

* content distance = ‖F(out) − F(content)‖² / ‖F(content)‖² at ``relu4_2``
  (sums of squares over all N·C·H·W feature values). 0 means the stylised
  image has the content's features exactly; 1 is as far as an image whose
  features are all zero.
* style distance = mean over ``relu1_1, relu2_1, relu3_1, relu4_1, relu5_1``
  of ‖G(out) − G(style)‖²_F / ‖G(style)‖²_F, with G = F Fᵀ / (H·W) the Gram
  matrix of :func:`styletransfer.ops.gram_matrix`. Gram matrices are
  normalised by the number of positions, so the style image may have a
  different size from the output; the benchmark resizes both the content
  photo and the style painting to 512 px on the longer side.

* structure distance = mean over ``relu2_1, relu3_1`` of the mean squared difference of the
  output's and the photo's features after each channel is moved to zero mean and unit std
  (:func:`styletransfer.ops.mean_variance_normalise`, the normalised content loss of SANet,
  Park & Lee 2019; stds floored at 1 % of the photo's mean activation). It asks whether the
  photo's edges and shapes are where they were, whatever colours and contrasts the style gave
  them: 0 for the photo itself, about 2 for an unrelated picture.

* palette distance = the 2-Wasserstein distance between Gaussians fitted to the
  CIELAB colours (D50 white, via Pillow's LittleCMS) of the output and of the style
  image: ``sqrt(|μ₁ − μ₂|² + tr(Σ₁ + Σ₂ − 2 (Σ₂^½ Σ₁ Σ₂^½)^½))``, in ΔE units (CIE76).
  0 when the colour means and covariances agree; a photo against a painting is
  typically 20–40.

Images are float tensors (1, 3, H, W) (N > 1 is accepted: the distances are
then over the whole batch), RGB, values in [0, 1]. All functions run without
gradients in fp32 and return Python floats (content and style: unitless ratios,
≥ 0; palette: ΔE).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch

from .ops import gram_matrix, mean_variance_normalise
from .vgg import CONTENT_LAYER, STYLE_LAYERS, VGG19Features, load_vgg19

__all__ = [
    "CONTENT_LAYER",
    "STYLE_LAYERS",
    "STRUCTURE_LAYERS",
    "relative_sq_error",
    "style_grams",
    "content_distance",
    "style_distance_per_layer",
    "style_distance",
    "distances",
    "all_distances",
    "structure_distance",
    "lab_colours",
    "palette_distance",
]


#: layers of :func:`structure_distance` (both among the style layers: no extra VGG pass)
STRUCTURE_LAYERS = ("relu2_1", "relu3_1")


def relative_sq_error(value: torch.Tensor, target: torch.Tensor) -> float:
    """‖value − target‖² / ‖target‖² over all elements (squared Frobenius norms).

    Args:
        value, target: tensors of the same shape (any float dtype).

    Returns:
        A float ≥ 0; 0 when ``value == target``, 1 when ``value`` is all zeros.

    Raises:
        ValueError: if the shapes differ or ``target`` is all zeros.
    """
    if value.shape != target.shape:
        raise ValueError(f"shapes differ: {tuple(value.shape)} vs {tuple(target.shape)}")
    target = target.double()
    denom = target.pow(2).sum()
    if denom == 0:
        raise ValueError("the reference tensor is all zeros; its relative error is undefined")
    return float((value.double() - target).pow(2).sum() / denom)


def _check_image(name: str, image: torch.Tensor) -> None:
    if not isinstance(image, torch.Tensor) or image.dim() != 4 or image.shape[1] != 3:
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"{name} must be an (N, 3, H, W) RGB tensor in [0, 1], got {shape}")


def _check_pair(out: torch.Tensor, content: torch.Tensor) -> None:
    _check_image("out", out)
    _check_image("content", content)
    if out.shape != content.shape:
        raise ValueError(
            f"out and content must have the same size, got {tuple(out.shape)} and {tuple(content.shape)}"
        )


def _vgg_for(image: torch.Tensor, vgg: VGG19Features | None) -> VGG19Features:
    return vgg if vgg is not None else load_vgg19(image.device, pooling="max")


@torch.no_grad()
def style_grams(style: torch.Tensor, vgg: VGG19Features | None = None) -> dict[str, torch.Tensor]:
    """Gram matrices of ``style`` at the five style layers.

    Args:
        style: (N, 3, H, W) RGB in [0, 1], any size (≥ 16 px per side so that
            relu5_1 has at least one position).
        vgg: feature extractor; default ``load_vgg19(style.device, "max")``.

    Returns:
        ``{layer: (N, C, C) fp32 Gram matrix}`` for ``relu1_1`` … ``relu5_1``;
        pass it to :func:`style_distance` to score many outputs against one
        style without re-encoding it.

    Raises:
        ValueError: if ``style`` is not an (N, 3, H, W) tensor.
    """
    _check_image("style", style)
    feats = _vgg_for(style, vgg)(style.float(), STYLE_LAYERS)
    return {layer: gram_matrix(feats[layer]) for layer in STYLE_LAYERS}


@torch.no_grad()
def content_distance(
    out: torch.Tensor, content: torch.Tensor, vgg: VGG19Features | None = None
) -> float:
    """‖F(out) − F(content)‖² / ‖F(content)‖² at relu4_2.

    Args:
        out: stylised image (N, 3, H, W), RGB in [0, 1].
        content: content photo, same shape as ``out``.
        vgg: feature extractor; default ``load_vgg19(out.device, "max")``.

    Returns:
        Float ≥ 0 (0 for identical images).

    Raises:
        ValueError: if the shapes differ or are not (N, 3, H, W).
    """
    _check_pair(out, content)
    net = _vgg_for(out, vgg)
    f_out = net(out.float(), (CONTENT_LAYER,))[CONTENT_LAYER]
    f_content = net(content.float(), (CONTENT_LAYER,))[CONTENT_LAYER]
    return relative_sq_error(f_out, f_content)


def _grams(style: torch.Tensor | Mapping[str, torch.Tensor], vgg, like: torch.Tensor):
    if isinstance(style, Mapping):
        missing = [layer for layer in STYLE_LAYERS if layer not in style]
        if missing:
            raise ValueError(f"style Gram matrices lack layers {missing}")
        return style
    return style_grams(style, _vgg_for(like, vgg))


@torch.no_grad()
def style_distance_per_layer(
    out: torch.Tensor,
    style: torch.Tensor | Mapping[str, torch.Tensor],
    vgg: VGG19Features | None = None,
) -> dict[str, float]:
    """‖G(out) − G(style)‖²_F / ‖G(style)‖²_F for each of relu1_1 … relu5_1.

    Args:
        out: stylised image (N, 3, H, W), RGB in [0, 1].
        style: style image (N or 1, 3, H', W') at any size, or the dict
            returned by :func:`style_grams`.
        vgg: feature extractor; default ``load_vgg19(out.device, "max")``.

    Returns:
        ``{layer: float ≥ 0}``.

    Raises:
        ValueError: for a malformed image or Gram dict.
    """
    _check_image("out", out)
    net = _vgg_for(out, vgg)
    target = _grams(style, net, out)
    feats = net(out.float(), STYLE_LAYERS)
    result = {}
    for layer in STYLE_LAYERS:
        g_out = gram_matrix(feats[layer])
        g_style = target[layer].to(g_out.device)
        if g_style.shape[0] == 1 and g_out.shape[0] > 1:
            g_style = g_style.expand_as(g_out)
        result[layer] = relative_sq_error(g_out, g_style)
    return result


def style_distance(
    out: torch.Tensor,
    style: torch.Tensor | Mapping[str, torch.Tensor],
    vgg: VGG19Features | None = None,
) -> float:
    """Mean over relu1_1 … relu5_1 of ‖G(out) − G(style)‖²_F / ‖G(style)‖²_F.

    Arguments and errors as :func:`style_distance_per_layer`. Returns a float
    ≥ 0 (0 when ``out`` has exactly the style's Gram matrices).
    """
    per_layer = style_distance_per_layer(out, style, vgg)
    return sum(per_layer.values()) / len(per_layer)


@torch.no_grad()
def distances(
    out: torch.Tensor,
    content: torch.Tensor,
    style: torch.Tensor | Mapping[str, torch.Tensor],
    vgg: VGG19Features | None = None,
) -> tuple[float, float]:
    """``(content_distance, style_distance)`` with a single VGG pass over ``out``.

    Same definitions, arguments and errors as :func:`content_distance` and
    :func:`style_distance`.
    """
    d = all_distances(out, content, style, vgg)
    return d["content"], d["style"]


def _structure(f_out: Mapping[str, torch.Tensor], f_content: Mapping[str, torch.Tensor]) -> float:
    total = 0.0
    for layer in STRUCTURE_LAYERS:
        lowest = 0.01 * f_content[layer].float().mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
        a = mean_variance_normalise(f_out[layer], lowest)
        b = mean_variance_normalise(f_content[layer], lowest)
        total += float((a - b).pow(2).mean())
    return total / len(STRUCTURE_LAYERS)


@torch.no_grad()
def structure_distance(out: torch.Tensor, content: torch.Tensor, vgg: VGG19Features | None = None) -> float:
    """Mean over relu2_1, relu3_1 of the squared difference of channel-normalised features (see
    the module docstring).

    Args:
        out: stylised image (N, 3, H, W), RGB in [0, 1].
        content: content photo, same shape as ``out``.
        vgg: feature extractor; default ``load_vgg19(out.device, "max")``.

    Returns:
        Float ≥ 0 (0 for identical images, ~2 for unrelated ones).

    Raises:
        ValueError: if the shapes differ or are not (N, 3, H, W).
    """
    _check_pair(out, content)
    net = _vgg_for(out, vgg)
    return _structure(net(out.float(), STRUCTURE_LAYERS), net(content.float(), STRUCTURE_LAYERS))


@torch.no_grad()
def all_distances(
    out: torch.Tensor,
    content: torch.Tensor,
    style: torch.Tensor | Mapping[str, torch.Tensor],
    vgg: VGG19Features | None = None,
) -> dict[str, float]:
    """``{"content", "style", "structure"}`` distances with a single VGG pass over ``out`` and
    one over ``content``; definitions, arguments and errors as :func:`content_distance`,
    :func:`style_distance` and :func:`structure_distance`."""
    _check_pair(out, content)
    net = _vgg_for(out, vgg)
    target = _grams(style, net, out)
    feats = net(out.float(), (*STYLE_LAYERS, CONTENT_LAYER))
    f_content = net(content.float(), (*STRUCTURE_LAYERS, CONTENT_LAYER))
    s_dist = [
        relative_sq_error(gram_matrix(feats[layer]), target[layer].to(out.device).expand(out.shape[0], -1, -1))
        for layer in STYLE_LAYERS
    ]
    return {"content": relative_sq_error(feats[CONTENT_LAYER], f_content[CONTENT_LAYER]),
            "style": sum(s_dist) / len(s_dist), "structure": _structure(feats, f_content)}


def lab_colours(image: torch.Tensor) -> np.ndarray:
    """CIELAB colours (L in 0-100, a and b in about -128..127; D50 white) of every pixel of
    an (N, 3, H, W) RGB image in [0, 1], as an (N·H·W, 3) float64 array. The conversion is
    Pillow's ImageCms (LittleCMS, sRGB profile -> LAB), on the image rounded to 8 bits, the
    one :mod:`styletransfer.palette` paints with (:func:`styletransfer.palette.lab_pixels`).

    Raises:
        ValueError: if ``image`` is not an (N, 3, H, W) tensor.
    """
    import numpy as np
    from PIL import Image

    from .palette import lab_pixels

    _check_image("image", image)
    frames = image.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return np.concatenate([lab_pixels(Image.fromarray(frame, "RGB")) for frame in frames])


def palette_distance(out: torch.Tensor, style: torch.Tensor) -> float:
    """2-Wasserstein distance between the Gaussians of the CIELAB colours of ``out`` and
    ``style`` (see the module docstring), in ΔE units.

    Args:
        out, style: (N, 3, H, W) RGB in [0, 1], any sizes.

    Returns:
        A float ≥ 0.

    Raises:
        ValueError: if either is not an (N, 3, H, W) tensor.
    """
    import numpy as np

    x, y = lab_colours(out), lab_colours(style)
    mx, my = x.mean(0), y.mean(0)
    cx, cy = np.cov(x.T), np.cov(y.T)

    def sqrtm(m):
        w, v = np.linalg.eigh((m + m.T) / 2)
        return (v * np.sqrt(np.clip(w, 0, None))) @ v.T

    root = sqrtm(cy)
    d2 = float(((mx - my) ** 2).sum() + np.trace(cx + cy - 2 * sqrtm(root @ cx @ root)))
    return max(0.0, d2) ** 0.5
