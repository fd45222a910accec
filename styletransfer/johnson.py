"""Fast feed-forward style transfer, one network per style.

Follows Johnson, Alahi & Fei-Fei (2016), "Perceptual Losses for Real-Time
Style Transfer and Super-Resolution" (ECCV), with two later fixes: instance
normalisation instead of batch normalisation (Ulyanov et al. 2016) and
nearest-neighbour upsampling + conv instead of transposed convolutions
(Odena et al. 2016, no checkerboard artefacts).

Images are float tensors (N, 3, H, W), RGB, values in [0, 1].
"""

from __future__ import annotations

import functools
import threading

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoints import johnson_path, load_checkpoint, require
from .errors import InvalidOptionError
from .layers import InstanceNorm2d, ReflectionPad2d

__all__ = ["TransformerNet", "load_johnson", "stylize_johnson", "net_width", "net_blocks", "net_from_state",
           "drop_residual_blocks"]

_STRIDE = 4  # two stride-2 convolutions


class _ConvLayer(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, norm: bool = True, relu: bool = True):
        layers: list[nn.Module] = [ReflectionPad2d(kernel // 2), nn.Conv2d(cin, cout, kernel, stride)]
        if norm:
            layers.append(InstanceNorm2d(cout, affine=True))
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_ConvLayer(channels, channels, 3), _ConvLayer(channels, channels, 3, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class _UpConv(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), _ConvLayer(cin, cout, 3))


class TransformerNet(nn.Module):
    """Image transformation network of Johnson et al. (2016).

    9x9 conv (32) -> two stride-2 3x3 convs (64, 128) -> 5 residual blocks
    (128) -> two nearest-upsample + 3x3 convs (64, 32) -> 9x9 conv (3).
    Reflection padding and affine instance norm throughout; the output goes
    through a sigmoid, so it lies in (0, 1). ``width=0.5`` halves every channel
    count (16, 32, 64): about 1/4 of the compute, the half-width nets that
    jcjohnson/fast-neural-style reports to work nearly as well. Fewer
    ``residual_blocks`` (the shipped nets have 2 instead of 5) cut another
    ~24 % of a half-width net's time per frame.

    Input (N, 3, H, W) in [0, 1], any H, W (reflect-padded to a multiple of 4
    inside, cropped back). Output (N, 3, H, W) in (0, 1).
    """

    def __init__(self, residual_blocks: int = 5, width: float = 1.0) -> None:
        super().__init__()
        if not 0 < width <= 1:
            raise ValueError(f"net width must be in (0, 1], got {width}")
        self.width = float(width)
        c32, c64, c128 = (max(8, int(round(c * width))) for c in (32, 64, 128))
        self.net = nn.Sequential(
            _ConvLayer(3, c32, 9),
            _ConvLayer(c32, c64, 3, stride=2),
            _ConvLayer(c64, c128, 3, stride=2),
            *[_Residual(c128) for _ in range(residual_blocks)],
            _UpConv(c128, c64),
            _UpConv(c64, c32),
            _ConvLayer(c32, 3, 9, norm=False, relu=False),
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2:]
        ph, pw = (-h) % _STRIDE, (-w) % _STRIDE
        if ph or pw:
            image = F.pad(image, (0, pw, 0, ph), mode="reflect" if h > ph and w > pw else "replicate")
        # Centre the input on 0 for the first conv; the sigmoid maps back to (0, 1).
        out = torch.sigmoid(self.net(image * 2 - 1))
        return out[..., :h, :w]


def net_width(state: dict) -> float:
    """Width of the :class:`TransformerNet` a state dict was saved from (1.0, 0.5, ...),
    read from the first conv's output channels."""
    return float(state["net.0.1.weight"].shape[0]) / 32.0


def net_blocks(state: dict) -> int:
    """Number of residual blocks of the :class:`TransformerNet` a state dict was saved from."""
    return sum(1 for key in state if key.startswith("net.") and key.endswith(".body.0.1.weight"))


def net_from_state(state: dict) -> TransformerNet:
    """A :class:`TransformerNet` of the right width and depth holding ``state``."""
    net = TransformerNet(residual_blocks=net_blocks(state), width=net_width(state))
    net.load_state_dict(state)
    return net


def drop_residual_blocks(state: dict, blocks: int) -> dict:
    """``state`` of a net with more residual blocks, cut to its first ``blocks`` ones (the
    layers after them renumbered): the start of a shallower, faster net's fine-tuning.

    Raises:
        ValueError: ``blocks`` is not between 1 and the state's own count.
    """
    have = net_blocks(state)
    if not 1 <= blocks <= have:
        raise ValueError(f"cannot cut a net with {have} residual blocks to {blocks}")
    out = {}
    for key, value in state.items():
        _, index, rest = key.split(".", 2)
        i = int(index)
        if 3 + blocks <= i < 3 + have:  # a dropped residual block
            continue
        out[f"net.{i - (have - blocks) if i >= 3 + have else i}.{rest}"] = value
    return out


_LOCK = threading.Lock()


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, device: str, mtime_ns: int) -> TransformerNet:
    state, _card = load_checkpoint(path)
    net = net_from_state(state)
    return net.to(device).to(memory_format=torch.channels_last).eval().requires_grad_(False)


def load_johnson(preset: str, device: str | torch.device = "cpu") -> TransformerNet:
    """Cached, frozen :class:`TransformerNet` trained for ``preset``.

    Raises:
        CheckpointMissingError: no net for this preset (message names the
            ``stylize-train johnson`` command that makes it).
        CheckpointCorruptError: the file does not match its card's SHA-256.
    """
    if not preset or "/" in preset or "\\" in preset:
        raise InvalidOptionError(f"invalid preset name {preset!r}")
    path = require(johnson_path(preset), f"Johnson network for preset {preset!r}")
    with _LOCK:
        return _load_cached(str(path.resolve()), str(torch.device(device)), path.stat().st_mtime_ns)


@torch.inference_mode()
def stylize_johnson(
    content: torch.Tensor, preset: str, device: str | torch.device | None = None, bf16: bool | None = None
) -> torch.Tensor:
    """Stylize with the Johnson net of ``preset`` in one forward pass.

    Args:
        content: (1, 3, H, W) (or (N, 3, H, W)) RGB in [0, 1].
        preset: preset name with a trained net.
        device: default: the content tensor's device.
        bf16: bfloat16 autocast for the convolutions; default: where it is
            measured faster (:func:`styletransfer.precision.prefer_bf16`).

    Returns:
        (N, 3, H, W) RGB in [0, 1], fp32.

    Raises:
        CheckpointMissingError, InvalidOptionError.
    """
    if content.dim() != 4 or content.shape[1] != 3:
        raise InvalidOptionError(f"content must be an (N, 3, H, W) tensor, got {tuple(content.shape)}")
    dev = torch.device(device) if device is not None else content.device
    net = load_johnson(preset, dev)
    if bf16 is None:
        from .precision import prefer_bf16

        bf16 = prefer_bf16(dev)
    x = content.to(dev).float().contiguous(memory_format=torch.channels_last)
    with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
        out = net(x)
    return out.float().clamp(0, 1).contiguous()
