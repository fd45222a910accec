"""Tensor operations shared by the three methods and the benchmarks.

All functions take feature maps of shape (N, C, H, W) (any float dtype) and are
differentiable.
"""

from __future__ import annotations

import torch

__all__ = ["gram_matrix", "mean_std", "adain", "total_variation"]


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix G = F Fᵀ / (H·W) of Gatys et al. (2016).

    Args:
        features: (N, C, H, W) feature maps.

    Returns:
        (N, C, C) Gram matrices, normalised by the number of positions H·W
        (so the value does not grow with image size). Computed in fp32 even
        under autocast: Gram sums overflow bf16 precision quickly.
    """
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w).float()
    return torch.bmm(f, f.transpose(1, 2)) / (h * w)


def mean_std(features: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel spatial mean and standard deviation (instance statistics).

    Args:
        features: (N, C, H, W).
        eps: added to the variance before the square root.

    Returns:
        ``(mean, std)``, each (N, C, 1, 1).
    """
    n, c = features.shape[:2]
    flat = features.reshape(n, c, -1)
    mean = flat.mean(dim=2).view(n, c, 1, 1)
    std = (flat.var(dim=2, unbiased=False) + eps).sqrt().view(n, c, 1, 1)
    return mean, std


def adain(
    content: torch.Tensor,
    style_mean: torch.Tensor,
    style_std: torch.Tensor,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Adaptive instance normalisation (Huang & Belongie, 2017, eq. 8).

    ``AdaIN(x, y) = σ(y) · (x − μ(x)) / σ(x) + μ(y)``

    Args:
        content: (N, C, H, W) content features (e.g. relu4_1).
        style_mean, style_std: (N or 1, C, 1, 1) style statistics from
            :func:`mean_std`.

    Returns:
        (N, C, H, W) features with the style's channel mean and std.
    """
    c_mean, c_std = mean_std(content, eps)
    return (content - c_mean) / c_std * style_std + style_mean


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation (mean absolute neighbour difference).

    Args:
        image: (N, C, H, W), typically RGB in [0, 1].

    Returns:
        Scalar: mean |x[i+1,j]−x[i,j]| + mean |x[i,j+1]−x[i,j]| (units of the
        input values). Used as a smoothness prior (Mahendran & Vedaldi 2015;
        Johnson et al. 2016).
    """
    dh = (image[:, :, 1:, :] - image[:, :, :-1, :]).abs().mean()
    dw = (image[:, :, :, 1:] - image[:, :, :, :-1]).abs().mean()
    return dh + dw
