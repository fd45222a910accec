"""Colour preservation for style transfer.

Two methods from Gatys, Bethge, Hertzmann & Shechtman (2016), "Preserving Color
in Neural Artistic Style Transfer" (arXiv:1606.05897):

* :func:`match_color` — colour histogram matching *before* stylization: the
  style image is linearly recoloured so that its pixel colours have the
  content's mean and covariance (the "image analogies" linear transform,
  also known as CORAL). Used with AdaIN and Gatys.
* :func:`transfer_luminance` — luminance-only transfer *after* stylization:
  keep the stylized luminance Y and the content's chroma (Cb, Cr) in YCbCr
  (ITU-R BT.601, full range, as JPEG). Used with Johnson networks, which
  cannot take a recoloured style at run time.

Images are float tensors (N, 3, H, W), RGB, values in [0, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["match_color", "transfer_luminance", "rgb_to_ycbcr", "ycbcr_to_rgb"]

# ITU-R BT.601 full-range (JPEG) RGB -> YCbCr; Cb/Cr centred on 0 here.
_RGB_TO_YCBCR = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [-0.168736, -0.331264, 0.5],
        [0.5, -0.418688, -0.081312],
    ],
    dtype=torch.float64,
)
_YCBCR_TO_RGB = torch.linalg.inv(_RGB_TO_YCBCR)


def _check(name: str, image: torch.Tensor) -> None:
    if not isinstance(image, torch.Tensor) or image.dim() != 4 or image.shape[1] != 3:
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"{name} must be an (N, 3, H, W) RGB tensor in [0, 1], got {shape}")


def _mixed(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", matrix.to(image.dtype).to(image.device), image)


def rgb_to_ycbcr(image: torch.Tensor) -> torch.Tensor:
    """RGB [0, 1] (N, 3, H, W) -> YCbCr with Y in [0, 1] and Cb, Cr in [-0.5, 0.5]."""
    _check("image", image)
    return _mixed(_RGB_TO_YCBCR, image)


def ycbcr_to_rgb(image: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_ycbcr` (no clamping)."""
    _check("image", image)
    return _mixed(_YCBCR_TO_RGB, image)


def _sym_power(cov: torch.Tensor, power: float, eps: float) -> torch.Tensor:
    """cov^power for a symmetric PSD (3, 3) matrix, eigenvalues floored at eps."""
    vals, vecs = torch.linalg.eigh(cov)
    vals = vals.clamp_min(eps).pow(power)
    return vecs @ torch.diag(vals) @ vecs.T


def _stats(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    pixels = image.reshape(3, -1).double()
    mean = pixels.mean(dim=1, keepdim=True)
    centred = pixels - mean
    cov = centred @ centred.T / max(pixels.shape[1] - 1, 1)
    return mean, cov


def match_color(style: torch.Tensor, content: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Recolour ``style`` so its colours have the content's mean and covariance.

    Applies ``x' = Σc^½ Σs^-½ (x − μs) + μc`` to every style pixel ``x``
    (RGB column vector), with μ, Σ the per-image pixel colour mean and
    covariance (Gatys et al. 2016, "Preserving Color in Neural Artistic Style
    Transfer", section 2.1; symmetric matrix square roots).

    Args:
        style: (N, 3, H, W) RGB in [0, 1] — the image to recolour.
        content: (1 or N, 3, H', W') RGB in [0, 1] — whose colours to take;
            any size.
        eps: floor for covariance eigenvalues (flat-coloured images).

    Returns:
        (N, 3, H, W) RGB clamped to [0, 1], same dtype and device as ``style``.

    Raises:
        ValueError: if either tensor is not (N, 3, H, W), or the batch sizes
            are incompatible.
    """
    _check("style", style)
    _check("content", content)
    if content.shape[0] not in (1, style.shape[0]):
        raise ValueError(f"content batch {content.shape[0]} does not match style batch {style.shape[0]}")
    out = []
    for i in range(style.shape[0]):
        s = style[i]
        mu_s, cov_s = _stats(s)
        mu_c, cov_c = _stats(content[i if content.shape[0] > 1 else 0])
        transform = _sym_power(cov_c, 0.5, eps) @ _sym_power(cov_s, -0.5, eps)
        pixels = s.reshape(3, -1).double()
        recoloured = transform @ (pixels - mu_s) + mu_c
        out.append(recoloured.reshape(s.shape))
    return torch.stack(out).clamp_(0, 1).to(style.dtype)


def transfer_luminance(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Keep the content's colours: stylized luminance + content chroma (YCbCr).

    Gatys et al. (2016), "Preserving Color in Neural Artistic Style Transfer",
    section 2.2 (luminance-only transfer), applied to the finished result.

    Args:
        stylized: (N, 3, H, W) RGB in [0, 1].
        content: (1 or N, 3, H', W') RGB in [0, 1]; resized (bilinear,
            antialiased) to H×W when its size differs.

    Returns:
        (N, 3, H, W) RGB clamped to [0, 1], dtype and device of ``stylized``.

    Raises:
        ValueError: if either tensor is not (N, 3, H, W) or the batch sizes
            are incompatible.
    """
    _check("stylized", stylized)
    _check("content", content)
    if content.shape[0] not in (1, stylized.shape[0]):
        raise ValueError(f"content batch {content.shape[0]} does not match stylized batch {stylized.shape[0]}")
    content = content.to(device=stylized.device, dtype=torch.float32)
    if content.shape[-2:] != stylized.shape[-2:]:
        content = F.interpolate(content, size=stylized.shape[-2:], mode="bilinear", align_corners=False, antialias=True)
    y = rgb_to_ycbcr(stylized.float())[:, :1]
    cbcr = rgb_to_ycbcr(content)[:, 1:].expand(stylized.shape[0], -1, -1, -1)
    return ycbcr_to_rgb(torch.cat([y, cbcr], dim=1)).clamp_(0, 1).to(stylized.dtype)
