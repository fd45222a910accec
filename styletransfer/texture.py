"""Texture before style: the texture → style chain of the fast-style seed.

A photo with little pixel variation (a clear sky, a wall, a studio portrait) gives a preset
net little to paint: its strokes follow the photo's edges and texture, so flat regions come
out flat. A *texture net* — a Johnson et al. (2016) transformation net trained with a texture
picture as its style (here a linen canvas drawn by :mod:`styletransfer.textures.make_canvas`,
shippable) — first lays the texture over the photo, and the style's method then paints that:
the flat regions get the texture's grain to turn into strokes. ``stylize --texture canvas``,
``StyleOptions(texture="canvas")``, the bot's /settings.

Texture nets live in ``checkpoints/texture/<name>.safetensors`` and run like the preset nets
(ONNX Runtime on the CPU, else torch); :func:`styletransfer.checkpoints.johnson_path` finds
them under the name ``"texture:<name>"``.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from .checkpoints import johnson_path, require
from .errors import InvalidOptionError

__all__ = ["TEXTURES", "texture_picture", "net_name", "check_texture", "apply_texture", "texture_frames"]

_FOLDER = Path(__file__).with_name("textures")
#: texture name -> the picture its net was trained on (in styletransfer/textures/)
TEXTURES = {"canvas": "canvas.png"}


def texture_picture(name: str) -> Path:
    """The texture picture of ``name``.

    Raises:
        InvalidOptionError: an unknown texture.
    """
    if name not in TEXTURES:
        raise InvalidOptionError(f"unknown texture {name!r}; choose one of: {', '.join(TEXTURES)}")
    return _FOLDER / TEXTURES[name]


def net_name(name: str) -> str:
    """The texture net's name for :mod:`styletransfer.johnson` and :mod:`styletransfer.onnx.johnson`."""
    return f"texture:{name}"


def check_texture(name: str) -> Path:
    """The weights of the texture net ``name``.

    Raises:
        InvalidOptionError: an unknown texture.
        CheckpointMissingError: its net is not trained here (the message says how to train it).
    """
    texture_picture(name)
    return require(johnson_path(net_name(name)), f"texture net {name!r}")


def apply_texture(image: Image.Image, name: str, *, device: str = "auto", backend: str = "auto",
                  threads: int | None = None) -> Image.Image:
    """Lay the texture ``name`` over an RGB PIL image (same size back).

    ONNX Runtime on the CPU when ``backend`` allows it (the net's graph is exported on first
    use, ~2 s), else torch on ``device``.

    Raises:
        InvalidOptionError, CheckpointMissingError: see :func:`check_texture`.
    """
    check_texture(name)
    net = net_name(name)
    from .onnx.johnson import stylize_johnson_ort, use_onnx
    from .onnx.runtime import on_cpu

    if use_onnx(net, backend, on_cpu=on_cpu(device), export_missing=True):
        return stylize_johnson_ort(image, net, threads=threads)
    from .onnx.runtime import to_array, to_image

    return to_image(_torch_frames(to_array(image), net, device)[0])


def texture_frames(frames, name: str, *, device: str = "auto", backend: str = "auto", threads: int | None = None):
    """The texture over a batch of video frames: (N, 3, H, W) float32 in [0, 1] -> the same.

    Raises:
        InvalidOptionError, CheckpointMissingError: see :func:`check_texture`.
    """
    check_texture(name)
    net = net_name(name)
    from .onnx.johnson import johnson_frames, use_onnx
    from .onnx.runtime import on_cpu

    if use_onnx(net, backend, on_cpu=on_cpu(device), export_missing=True):
        return johnson_frames(frames, net, threads)
    return _torch_frames(frames, net, device)


def _torch_frames(frames, net: str, device: str):
    """The texture net in torch: (N, 3, H, W) float32 numpy in [0, 1] -> the same."""
    import torch

    from .johnson import stylize_johnson

    dev = torch.device("cuda" if device in ("auto", "", None) and torch.cuda.is_available() else
                       "cpu" if device in ("auto", "", None) else device)
    with torch.inference_mode():
        out = stylize_johnson(torch.from_numpy(frames).to(dev), net, device=dev)
    return out.float().clamp(0, 1).cpu().numpy()
