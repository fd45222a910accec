"""Tensor operations shared by the three methods and the benchmarks.

All functions take feature maps of shape (N, C, H, W) (any float dtype) and are
differentiable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["gram_matrix", "mean_std", "mean_variance_normalise", "adain", "feature_quantiles", "efdm", "total_variation",
           "EFDM_LEVELS"]

#: Quantiles per channel that stand for a style's feature distribution in :func:`efdm`
#: (1024: the same scores as all 4096 relu4_1 values of a 512 px style, bench/RESULTS.md)
EFDM_LEVELS = 1024


#: Positions per chunk when a Gram matrix is accumulated in fp32 from lower-precision features.
GRAM_CHUNK = 1 << 16


def _is_channels_last(x: torch.Tensor) -> bool:
    """True for a 4-D tensor stored channels-last (and not also plainly contiguous)."""
    return x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def _positions_by_channels(features: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, H·W, C), a view for channels-last and for contiguous tensors."""
    n, c, h, w = features.shape
    if _is_channels_last(features):
        return features.permute(0, 2, 3, 1).reshape(n, h * w, c)
    return features.reshape(n, c, h * w).transpose(1, 2)


class _Gram(torch.autograd.Function):
    """G = Vᵀ V / P for V (N, P, C): fp32 accumulation chunk by chunk, saving only the
    input for backward (no fp32 copy of the whole feature map is kept)."""

    @staticmethod
    def forward(ctx, features: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(features)
        v = _positions_by_channels(features)
        n, p, c = v.shape
        with torch.autocast(features.device.type, enabled=False):
            if v.dtype == torch.float32 or p <= GRAM_CHUNK:
                f = v.float()
                return torch.bmm(f.transpose(1, 2), f) / p
            g = torch.zeros(n, c, c, dtype=torch.float32, device=v.device)
            for start in range(0, p, GRAM_CHUNK):
                f = v[:, start:start + GRAM_CHUNK].float()
                g.baddbmm_(f.transpose(1, 2), f)
            return g / p

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (features,) = ctx.saved_tensors
        n, c, h, w = features.shape
        v = _positions_by_channels(features)
        p = h * w
        with torch.autocast(features.device.type, enabled=False):
            sym = (grad + grad.transpose(1, 2)).float() / p  # (N, C, C)
            out = torch.empty(n, p, c, dtype=features.dtype, device=features.device)
            for start in range(0, p, GRAM_CHUNK):
                out[:, start:start + GRAM_CHUNK] = torch.bmm(v[:, start:start + GRAM_CHUNK].float(), sym)
        return out.view(n, h, w, c).permute(0, 3, 1, 2)  # channels-last (N, C, H, W)


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix G = F Fᵀ / (H·W) of Gatys et al. (2016).

    Args:
        features: (N, C, H, W) feature maps, any float dtype and memory format.

    Returns:
        (N, C, C) Gram matrices, normalised by the number of positions H·W
        (so the value does not grow with image size). Computed in fp32 even
        under autocast (Gram sums overflow bf16 precision quickly): bf16
        features are converted 65,536 positions at a time and accumulated in
        fp32, and only the input is kept for the backward pass, so a 1024×768
        Gatys step does not hold fp32 copies of its feature maps (~400 MB).
    """
    if features.dim() != 4:
        raise ValueError(f"expected (N, C, H, W) features, got shape {tuple(features.shape)}")
    return _Gram.apply(features)


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


def feature_quantiles(features: torch.Tensor, levels: int = EFDM_LEVELS) -> torch.Tensor:
    """Each channel's value distribution as ``levels`` quantiles (the sorted values read at
    ``(k + 0.5) / levels``, linearly interpolated): what :func:`efdm` needs of a style.

    Args:
        features: (N, C, H, W) features (e.g. a style image's relu4_1), H·W >= 2.
        levels: number of quantiles, >= 2.

    Returns:
        (N, C, levels) fp32, ascending along the last axis.
    """
    n, c = features.shape[:2]
    values = torch.sort(features.reshape(n, c, -1).float(), dim=-1).values
    return _read_sorted(values, (torch.arange(levels, device=values.device) + 0.5) / levels)


def _read_sorted(values: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Ascending ``values`` (..., L) read at fractions ``u`` (L',) in [0, 1] by linear
    interpolation between the sample points ``(i + 0.5) / L``: (..., L')."""
    length = values.shape[-1]
    pos = (u * length - 0.5).clamp(0, length - 1)
    low = pos.floor().long().clamp(max=max(length - 2, 0))
    t = (pos - low).to(values.dtype)
    high = (low + 1).clamp(max=length - 1)
    return values[..., low] * (1 - t) + values[..., high] * t


def mean_variance_normalise(features: torch.Tensor, floor: float | torch.Tensor = 0.0) -> torch.Tensor:
    """Each channel of (N, C, H, W) ``features`` moved to zero mean and unit std over its
    positions (fp32), as SANet's normalised content loss (Park & Lee 2019) compares them: where
    a channel fires, not how strongly. ``floor`` (feature units, >= 0) is the smallest std
    divided by, so that a flat channel's noise is not blown up."""
    mu, sigma = mean_std(features.float())
    return (features.float() - mu) / sigma.clamp_min(floor)


def efdm(content: torch.Tensor, style_quantiles: torch.Tensor) -> torch.Tensor:
    """Exact feature distribution matching (Zhang et al. 2022, "Exact Feature Distribution
    Matching for Arbitrary Style Transfer and Domain Generalization", CVPR; eq. 5): every
    content value is replaced by the style's value of the same rank, per channel, so the
    result has the style's whole distribution (all moments), not only its mean and std as
    :func:`adain`. The style is given by its quantiles (:func:`feature_quantiles`), read at
    each content value's rank ``(r + 0.5) / (H·W)`` with linear interpolation, so content and
    style may have any sizes. A ReLU map's many zeros tie; they are ranked by their
    neighbourhood's mean value (3×3 window, then 9×9), so the zeros next to active areas take
    the style's higher values first and the map stays spatially coherent (remaining ties in
    raster order). On 32 held-out paintings × 2 photos this scored better than one value for
    all ties, a random order or raster order alone (bench/RESULTS.md).

    Args:
        content: (N, C, H, W) content features (e.g. relu4_1).
        style_quantiles: (N or 1, C, Q) ascending, from :func:`feature_quantiles`.

    Returns:
        (N, C, H, W) fp32 features, each channel distributed as the style's.
    """
    n, c, h, w = content.shape
    f = content.float()
    near = (F.avg_pool2d(f, 3, 1, 1, count_include_pad=False)
            + 0.01 * F.avg_pool2d(f, 9, 1, 4, count_include_pad=False))
    # zeros below every positive value, among themselves by their neighbourhood
    key = torch.where(f > 0, f, near - near.amax(dim=(2, 3), keepdim=True) - 1)
    order = torch.sort(key.reshape(n, c, h * w), dim=-1, stable=True).indices
    # the style's value for each rank, put where the content value of that rank is
    by_rank = _read_sorted(style_quantiles.float(), (torch.arange(h * w, device=f.device) + 0.5) / (h * w))
    out = torch.empty(n, c, h * w, device=f.device)
    out.scatter_(-1, order, by_rank.expand(n, -1, -1))
    return out.reshape(n, c, h, w)


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
