"""Video and GIF style transfer, frame by frame, with the fast methods.

Johnson et al. (2016) built their feed-forward networks for exactly this:
one forward pass per frame. AdaIN (Huang & Belongie 2017) works the same way
with any style image; its style statistics are computed once for the clip.
Gatys' per-image optimisation is refused (minutes per frame).

Decoding and encoding use PyAV (FFmpeg inside its wheels; no system ffmpeg):
H.264 (libx264, yuv420p, even width and height) in MP4 at the source frame rate,
the audio stream kept (copied when MP4 can hold it, else re-encoded to AAC). A
GIF in gives an MP4 out, or a GIF when the output path ends in ``.gif``.
Frames stream through in batches: memory does not grow with the clip's length.

Flicker, the frame-to-frame noise a per-frame stylizer adds, is measured as
mean |out_t − out_{t−1}| / mean |in_t − in_{t−1}| over the clip (1 = as much
change as the input; more = the style flickers). It is reduced without optical
flow by blending each output frame with the previous output where the input
did not change: weight ``smooth · exp(−|in_t − in_{t−1}| / 0.04)`` per pixel,
so static regions stay stable and moving ones are not smeared.

Frames travel as float32 numpy arrays (N, 3, H, W), RGB, values in [0, 1]; torch is
imported only when a frame is painted in torch (a Johnson preset with its ONNX graph
exported runs without it).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import Cancelled, InvalidOptionError, VideoError
from .inputs import DEFAULT_PALETTE, DEFAULT_TRANSFORM, ResolvedStyle, check_palette, check_transform, resolve_styles

# torch is imported inside the functions that paint: probing and the CLI's checks stay fast.

__all__ = [
    "VIDEO_SUFFIXES",
    "VideoOptions",
    "VideoInfo",
    "VideoResult",
    "probe",
    "looks_like_video",
    "stylize_video",
    "flicker",
]

#: File endings treated as video by the CLI (a ``.gif`` counts when it is animated).
VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi", ".gif", ".mpg", ".mpeg", ".3gp"}
#: Largest input frame accepted (8K UHD); more is refused, not resized.
MAX_INPUT_PIXELS = 7680 * 4320
_STILL_FORMATS = {"image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe", "mjpeg", "image2pipe",
                  "jpegls_pipe", "heif", "psd_pipe", "qoi_pipe", "svg_pipe"}
_MP4_AUDIO = {"aac", "mp3", "alac", "opus", "ac3", "eac3", "flac"}


@dataclass(frozen=True)
class VideoOptions:
    """Options of :func:`stylize_video`.

    Attributes:
        alpha: style strength in [0, 1] (AdaIN: feature interpolation; Johnson:
            blend with the frame).
        preserve_color: keep the clip's colours (Johnson: luminance transfer per
            frame; AdaIN: the style is recoloured once, to the first frame's
            colour statistics, so the colours do not pump).
        max_side: longer side of the output, px (default 640); never upscaled;
            rounded down to even sides.
        max_seconds: longer clips are trimmed to their first ``max_seconds`` s.
        max_frames: and to at most this many frames.
        batch: frames per forward pass.
        smooth: temporal blending strength in [0, 0.95] (0 = off).
        style_side: longer side of the style image for AdaIN, px.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``.
        crf: H.264 quality (lower = better, 18-28 sensible).
        backend: Johnson's forward pass: ``"auto"`` (ONNX Runtime on the CPU when onnxruntime
            is installed, the net's graph exported first if needed, see :mod:`styletransfer.onnx.johnson`;
            else torch), ``"torch"``, or ``"onnx"`` (an error without onnxruntime).
        threads: CPU threads (torch, or ONNX Runtime's frames at once); None: all cores.
        stroke: brush size (``"fine"``, ``"medium"``, ``"bold"`` or a number, 1 = medium): frames
            are painted at ``512 px / stroke`` and brought to ``max_side`` with guided
            up-sampling, as photos are (:mod:`styletransfer.scale`).
        texture: a texture laid over each frame before the style (``"canvas"``; None: none;
            :mod:`styletransfer.texture`).
        palette: AdaIN: how far the painted frames' colours move to the style's palette, in
            [0, 1] (:mod:`styletransfer.palette`; scaled by ``alpha``, not used with
            ``preserve_color``). One colour map, taken from the first painted frame, is used for
            the whole clip, so the colours do not flicker.
        transform: AdaIN: ``"efdm"`` or ``"adain"``, as :class:`styletransfer.inputs.StyleOptions`.
    """

    alpha: float = 1.0
    preserve_color: bool = False
    max_side: int = 640
    max_seconds: float = 30.0
    max_frames: int = 900
    batch: int = 4
    smooth: float = 0.6
    style_side: int = 512
    device: str = "auto"
    crf: int = 20
    backend: str = "auto"
    threads: int | None = None
    stroke: float | str = 1.0
    texture: str | None = None
    palette: float = DEFAULT_PALETTE
    transform: str = DEFAULT_TRANSFORM

    def validate(self) -> "VideoOptions":
        if self.backend not in ("auto", "torch", "onnx"):
            raise InvalidOptionError(f"backend must be auto, torch or onnx, got {self.backend!r}")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise InvalidOptionError(f"threads must be a positive integer, got {self.threads!r}")
        if not 0.0 <= float(self.alpha) <= 1.0:
            raise InvalidOptionError(f"alpha must be between 0 and 1, got {self.alpha}")
        if not isinstance(self.max_side, int) or not 32 <= self.max_side <= 4096:
            raise InvalidOptionError(f"max_side must be an integer from 32 to 4096 pixels, got {self.max_side!r}")
        if not self.max_seconds > 0 or not isinstance(self.max_frames, int) or self.max_frames < 1:
            raise InvalidOptionError("max_seconds and max_frames must be positive")
        if not isinstance(self.batch, int) or not 1 <= self.batch <= 64:
            raise InvalidOptionError(f"batch must be from 1 to 64 frames, got {self.batch!r}")
        if not 0.0 <= float(self.smooth) <= 0.95:
            raise InvalidOptionError(f"smooth must be between 0 and 0.95, got {self.smooth}")
        check_palette(self.palette)
        check_transform(self.transform)
        from dataclasses import replace

        from .scale import parse_stroke

        if self.texture is not None:
            from .texture import check_texture

            check_texture(self.texture)

        stroke = parse_stroke(self.stroke)
        return self if stroke == self.stroke and isinstance(self.stroke, float) else replace(self, stroke=stroke)


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` reads from a file's headers (no frames decoded)."""

    width: int
    height: int
    fps: float
    duration: float  # seconds (0 when the container does not say)
    frames: int  # estimated
    has_audio: bool
    format: str  # container format name, e.g. "mov,mp4,m4a,3gp,3g2,mj2" or "gif"

    @property
    def is_gif(self) -> bool:
        return self.format == "gif"


@dataclass
class VideoResult:
    """What :func:`stylize_video` did."""

    path: str
    frames: int
    fps: float
    width: int
    height: int
    seconds: float  # wall time
    flicker: float  # see the module docstring
    input_flicker_base: float  # mean |in_t - in_t-1| of the resized input
    audio: bool
    trimmed: bool
    info: dict[str, Any] = field(default_factory=dict)


def _open(path: str | Path):
    import av

    try:
        return av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError, OSError) as exc:
        if isinstance(exc, FileNotFoundError) or not Path(path).is_file():
            raise VideoError(f"'{Path(path).name}': file not found") from exc
        raise VideoError(f"'{Path(path).name}' is not a video we can read ({_one_line(exc)})") from exc


def _one_line(exc: BaseException, limit: int = 140) -> str:
    """FFmpeg's reason without the file path it appends."""
    text = getattr(exc, "strerror", None) or str(exc)
    text = " ".join(str(text).split()) or type(exc).__name__
    return text[:limit]


def probe(path: str | Path) -> VideoInfo:
    """Read a video's size, frame rate, duration and whether it has sound.

    Raises:
        VideoError: missing file, not a video, a still image, no video stream,
            an absurd resolution.
    """
    container = _open(path)
    try:
        return _info(container, Path(path).name)
    finally:
        container.close()


def _info(container, name: str) -> VideoInfo:
    fmt = container.format.name
    if fmt in _STILL_FORMATS or fmt.endswith("_pipe"):
        raise VideoError(f"'{name}' is a still image, not a video; stylize it as an image")
    if not container.streams.video:
        raise VideoError(f"'{name}' has no video stream")
    vs = container.streams.video[0]
    width, height = int(vs.codec_context.width or 0), int(vs.codec_context.height or 0)
    if width <= 0 or height <= 0:
        raise VideoError(f"'{name}' has a video stream without a frame size")
    if width * height > MAX_INPUT_PIXELS:
        raise VideoError(f"'{name}' is {width}×{height} pixels; videos up to 7680×4320 are accepted")
    rate = vs.average_rate or vs.guessed_rate or vs.base_rate
    fps = float(rate) if rate else 0.0
    if not 0 < fps <= 240:
        fps = 25.0
    duration = 0.0
    if vs.duration and vs.time_base:
        duration = float(vs.duration * vs.time_base)
    elif container.duration:
        duration = container.duration / 1_000_000
    frames = int(vs.frames or round(duration * fps))
    return VideoInfo(width, height, fps, duration, frames, bool(container.streams.audio), fmt)


def looks_like_video(path: str | Path) -> bool:
    """True for files the CLI should treat as video: a video suffix (an animated GIF
    counts, a still GIF does not), or no image suffix and PyAV finds a video stream."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".gif":
        try:
            from PIL import Image

            with Image.open(p) as img:
                return getattr(img, "n_frames", 1) > 1
        except Exception:  # noqa: BLE001 - unreadable: let the image path report it
            return False
    if suffix in VIDEO_SUFFIXES:
        return True
    from .images import STILL_IMAGE_SUFFIXES

    if suffix in STILL_IMAGE_SUFFIXES:
        return False
    try:
        probe(p)
        return True
    except VideoError:
        return False


def _even_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(width, height))
    w = max(2, int(width * scale) // 2 * 2)
    h = max(2, int(height * scale) // 2 * 2)
    return w, h


class _Painter:
    """The method's batched forward: frames (N, 3, H, W) float32 numpy in [0, 1] -> same.

    On the CPU a Johnson preset and AdaIN (without colour preservation) run in ONNX Runtime
    and never import torch (:mod:`styletransfer.onnx.johnson`, :mod:`styletransfer.onnx.adain`; the
    graphs are exported first where they are missing); everything else runs in torch on
    ``device``.
    """

    def __init__(self, method: str, style: ResolvedStyle, options: VideoOptions, first_frame: np.ndarray) -> None:
        self.method, self.options = method, options
        self.onnx = False
        # the style's palette (styletransfer.palette): one colour map, from the first painted frame
        self.palette = 0.0 if method != "adain" or options.preserve_color else float(options.palette) * float(options.alpha)
        self.palette_image, self.palette_map = style.image, None
        if method == "johnson":
            if style.name is None:
                raise InvalidOptionError("the johnson method works only with a preset style")
            self.preset = style.name
            from .onnx.johnson import use_onnx
            from .onnx.runtime import on_cpu

            # a clip pays for a missing graph's one-time export (~2 s) within its first frames
            self.onnx = use_onnx(style.name, options.backend, on_cpu=on_cpu(options.device), export_missing=True)
            if self.onnx:
                return
        elif method == "adain":
            from .onnx import adain as ort_adain
            from .onnx.runtime import on_cpu

            # ~10 s once; a clip painted in torch runs ~2.5x slower per frame
            self.onnx = ort_adain.use_onnx(options.backend, on_cpu(options.device), options.preserve_color,
                                           export_missing=True)
            if self.onnx:
                image, _weight, key = ort_adain.prepare_styles([style], options.style_side)[0]
                if options.transform == "efdm":
                    self.stats = ort_adain.style_quantiles(image, key, options.threads)
                else:
                    self.stats = ort_adain.style_stats(image, key, options.threads)
                # a skip decoder's graph also reads relu3_1, moved by AdaIN
                self.skip_stats = ([ort_adain.style_skip_stats(image, key, options.threads)]
                                   if ort_adain.skip_decoder() else None)
                return
        if method not in ("johnson", "adain"):
            raise InvalidOptionError("video works with the adain and johnson methods; gatys needs minutes per frame")
        import torch

        from .engine import resolve_device
        from .precision import prefer_bf16

        if options.threads:
            torch.set_num_threads(options.threads)
        self.device = resolve_device(options.device)
        self.bf16 = prefer_bf16(self.device)
        if method == "johnson":
            from .johnson import load_johnson

            self.net = load_johnson(style.name, self.device)
        else:
            from .adain import SKIP_LAYER, load_adain
            from .color import match_color
            from .engine import image_to_tensor
            from .images import fit_max_side

            self.model = load_adain(self.device, bf16=self.bf16)
            s = image_to_tensor(fit_max_side(style.image, options.style_side), self.device)
            key = f"{style.key}@{options.style_side}" if style.key else None
            if options.preserve_color:  # once for the clip: the first frame's colours
                s, key = match_color(s, torch.from_numpy(first_frame).to(self.device)), None
            if options.transform == "efdm":
                self.stats, self.quantiles = None, self.model.style_quantiles(s, key)
            else:
                self.stats, self.quantiles = self.model.style_stats(s, key), None
            # a skip decoder (styletransfer.adain.Decoder) also reads relu3_1, moved by AdaIN
            self.skip_stats = self.model.style_stats(s, key, SKIP_LAYER) if self.model.skip else None

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """Frames at the output size: painted at the stroke's working size, then brought back
        with each frame's own detail (:func:`styletransfer.scale.guided_upsample`)."""
        from .scale import downscale, guided_upsample, working_side

        n, _, h, w = frames.shape
        side = working_side(max(h, w), self.options.stroke)
        small = frames if side >= max(h, w) else downscale(frames, side)
        if self.options.texture:  # the texture -> style chain (styletransfer.texture)
            from .texture import texture_frames

            small = texture_frames(small, self.options.texture, device=self.options.device,
                                   backend=self.options.backend, threads=self.options.threads)
        painted = self._forward(small)
        if self.palette > 0:
            from .palette import colour_stats, palette_map, style_palette

            if self.palette_map is None:
                self.palette_map = palette_map(colour_stats(np.moveaxis(painted[0], 0, -1)),
                                               style_palette([(self.palette_image, 1.0)]), self.palette)
            painted = self.palette_map.apply_frames(painted)
        if side >= max(h, w):
            return painted
        return np.stack([guided_upsample(painted[i], frames[i]) for i in range(n)])

    def _forward(self, frames: np.ndarray) -> np.ndarray:
        if self.onnx and self.method == "adain":  # ONNX Runtime (styletransfer.onnx.adain)
            from .onnx.adain import adain_frames

            return adain_frames(frames, [self.stats], [1.0], float(self.options.alpha), self.options.threads,
                                self.skip_stats)
        if self.onnx:  # ONNX Runtime: the same net, exported (styletransfer.onnx.johnson)
            from .onnx.johnson import finish, johnson_frames

            out = johnson_frames(frames, self.preset, self.options.threads)
            return finish(out, frames, self.options.alpha, self.options.preserve_color)
        import torch

        with torch.inference_mode():
            return self._paint(torch.from_numpy(frames)).float().clamp(0, 1).cpu().numpy()

    def _paint(self, frames):
        import torch

        x = frames.to(self.device).contiguous(memory_format=torch.channels_last)
        alpha = float(self.options.alpha)
        if self.method == "johnson":
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                out = self.net(x)
            out = out.float().clamp(0, 1)
            if self.options.preserve_color:
                from .color import transfer_luminance

                out = transfer_luminance(out, x.float())
            if alpha < 1.0:
                out = alpha * out + (1 - alpha) * x.float()
            return out.contiguous()
        from .adain import adain_target, pad_for_encoder

        padded, (rows, cols) = pad_for_encoder(x.float())
        f, f_skip = self.model.encode_levels(padded)
        quantiles = None if self.quantiles is None else [self.quantiles]
        one = torch.ones(1, device=self.device)
        t = adain_target(f, [self.stats], one, alpha, quantiles)
        t_skip = None if f_skip is None else adain_target(f_skip, [self.skip_stats], one, alpha)
        return self.model.decode(t, t_skip)[..., rows, cols].contiguous()


def _to_rgb(frame: np.ndarray) -> np.ndarray:
    """(3, H, W) float in [0, 1] -> (H, W, 3) uint8."""
    return np.ascontiguousarray(np.rint(np.clip(frame, 0.0, 1.0) * 255.0).astype(np.uint8).transpose(1, 2, 0))


def stylize_video(
    src: str | Path,
    dst: str | Path,
    style: Any,
    method: str = "johnson",
    options: VideoOptions | None = None,
    progress: Callable[[int, int, dict], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> VideoResult:
    """Stylize a video (or GIF) file frame by frame.

    Args:
        src: input video path (MP4, MOV, WebM, MKV, AVI, GIF, …).
        dst: output path: ``.mp4`` (H.264 + the source's audio) or ``.gif``.
        style: a preset name (Johnson needs one with a trained net) or, for
            AdaIN, any style image (path, bytes, PIL image).
        method: ``"johnson"`` or ``"adain"``.
        options: :class:`VideoOptions`.
        progress: ``progress(frame, total, info)`` after each batch;
            ``info["fps"]`` is the processing rate so far (frames per second).
        cancel: polled between batches; True aborts (the partial output is deleted).

    Returns:
        :class:`VideoResult` (frames written, size, flicker, whether it was trimmed).

    Raises:
        VideoError: the input is not a usable video (see :func:`probe`) or has no frames.
        InvalidOptionError: Gatys, a Johnson style that is not a preset, bad options.
        CheckpointMissingError: the method's weights are missing.
        Cancelled: ``cancel()`` returned True.
    """
    import av

    from .inputs import check_method

    options = (options or VideoOptions()).validate()
    if method == "gatys":
        raise InvalidOptionError("video works with the adain and johnson methods; gatys needs minutes per frame")
    styles = resolve_styles(style, max_side=options.style_side if method == "adain" else None)
    if len(styles) != 1:
        raise InvalidOptionError("video takes one style")
    check_method(method, styles)
    dst = Path(dst)
    if dst.suffix.lower() not in (".mp4", ".gif"):
        raise InvalidOptionError(f"video output must end in .mp4 or .gif, got {dst.name!r}")
    started = time.perf_counter()
    container = _open(src)
    out = None
    try:
        info = _info(container, Path(src).name)
        vs = container.streams.video[0]
        vs.thread_type = "AUTO"
        in_audio = container.streams.audio[0] if container.streams.audio else None
        width, height = _even_size(info.width, info.height, options.max_side)
        total = min(options.max_frames, max(1, math.ceil(min(info.duration or options.max_seconds,
                                                             options.max_seconds) * info.fps)))
        fps = Fraction(info.fps).limit_denominator(1001)
        gif = dst.suffix.lower() == ".gif"
        out = av.open(str(dst), "w")
        if gif:
            vout = out.add_stream("gif", rate=fps)
            vout.pix_fmt = "rgb8"
        else:
            vout = out.add_stream("libx264", rate=fps)
            vout.pix_fmt = "yuv420p"
            vout.options = {"crf": str(options.crf), "preset": "veryfast"}
        vout.width, vout.height = width, height
        aout, resampler = None, None
        if in_audio is not None and not gif:
            if in_audio.codec_context.name in _MP4_AUDIO:
                aout = out.add_stream_from_template(in_audio)
            else:
                aout = out.add_stream("aac", rate=in_audio.codec_context.sample_rate or 44100)
                resampler = av.AudioResampler(format="fltp", layout="stereo", rate=aout.codec_context.sample_rate)

        painter: _Painter | None = None
        pending: list = []
        written = 0
        prev_in = None
        prev_out = None
        d_out = d_in = 0.0
        trimmed = False
        limit_s = options.max_seconds

        # The painter works on batch k in a thread of its own while this thread decodes batch
        # k + 1 and smooths and encodes batch k - 1: ONNX Runtime and torch release the GIL.
        from concurrent.futures import ThreadPoolExecutor

        paint_thread = ThreadPoolExecutor(1, thread_name_prefix="paint")
        inflight: tuple | None = None  # (frames, future of the painted frames)
        submitted = 0  # frames handed to the painter

        def emit(batch: list) -> None:
            nonlocal painter, inflight, submitted
            if cancel is not None and cancel():
                raise Cancelled("video stylization cancelled")
            x = np.stack(batch).transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255.0)  # (N, 3, H, W)
            if painter is None:
                painter = _Painter(method, styles[0], options, x[:1])
            future = paint_thread.submit(painter, x)
            submitted += len(batch)
            if inflight is not None:
                write(*inflight)
            inflight = (x, future)

        def flush() -> None:
            nonlocal inflight
            if inflight is not None:
                batch, inflight = inflight, None
                write(*batch)

        def write(x: np.ndarray, future) -> None:
            nonlocal written, prev_in, prev_out, d_out, d_in
            y = future.result()
            for i in range(y.shape[0]):
                cur_in, cur = x[i], y[i]
                if prev_in is not None:
                    change = np.abs(cur_in - prev_in).mean(0, keepdims=True)  # (1, H, W)
                    if options.smooth > 0:
                        w = np.float32(options.smooth) * np.exp(change / np.float32(-0.04))
                        cur = (1 - w) * cur + w * prev_out
                    d_in += float(change.mean())
                    d_out += float(np.abs(cur - prev_out).mean())
                frame = av.VideoFrame.from_ndarray(_to_rgb(cur), format="rgb24")
                frame.pts = written
                for packet in vout.encode(frame):
                    out.mux(packet)
                written += 1
                prev_in, prev_out = cur_in, cur
            if progress is not None:
                rate = written / max(1e-6, time.perf_counter() - started)
                progress(written, max(total, written), {"stage": "frames", "fps": rate})

        streams = [vs] + ([in_audio] if in_audio is not None else [])
        try:
            for packet in container.demux(*streams):
                if packet.stream.type == "audio":
                    if aout is None or packet.dts is None:
                        continue
                    if packet.pts is not None and float(packet.pts * packet.time_base) > limit_s:
                        continue
                    if resampler is None:
                        packet.stream = aout
                        out.mux(packet)
                    else:
                        for aframe in packet.decode():
                            for rframe in resampler.resample(aframe):
                                for p in aout.encode(rframe):
                                    out.mux(p)
                    continue
                if submitted + len(pending) >= options.max_frames:
                    trimmed = True
                    continue
                for vframe in packet.decode():
                    if vframe.time is not None and vframe.time > limit_s:
                        trimmed = True
                        break
                    if submitted + len(pending) >= options.max_frames:
                        trimmed = True
                        break
                    rgb = vframe.reformat(width=width, height=height, format="rgb24",
                                          interpolation="AREA").to_ndarray()
                    pending.append(rgb)
                    if len(pending) >= options.batch:
                        emit(pending)
                        pending = []
            if pending:
                emit(pending)
            flush()
        except av.error.FFmpegError as exc:
            if written == 0 and not pending and inflight is None:
                raise VideoError(f"'{Path(src).name}' is a corrupt video ({_one_line(exc)})") from exc
            if pending:  # a truncated clip: keep what decoded
                emit(pending)
            flush()
            trimmed = True
        finally:
            paint_thread.shutdown(wait=True, cancel_futures=True)
        if written == 0:
            raise VideoError(f"'{Path(src).name}' has no frames we can decode")
        for packet in vout.encode():
            out.mux(packet)
        if aout is not None and resampler is not None:
            for p in aout.encode():
                out.mux(p)
        out.close()
        out = None
        flick = d_out / d_in if d_in > 0 else 0.0
        return VideoResult(str(dst), written, float(fps), width, height, time.perf_counter() - started, flick,
                           d_in / max(1, written - 1), aout is not None, trimmed,
                           {"source": {"width": info.width, "height": info.height, "fps": info.fps,
                                       "duration": info.duration, "format": info.format}})
    except BaseException:
        if out is not None:
            try:
                out.close()
            except Exception:  # noqa: BLE001
                pass
        Path(dst).unlink(missing_ok=True)
        raise
    finally:
        container.close()


def flicker(frames_out: list[np.ndarray] | np.ndarray, frames_in: list[np.ndarray] | np.ndarray) -> float:
    """mean |out_t − out_{t−1}| / mean |in_t − in_{t−1}| over two equally long
    sequences of (H, W, 3) uint8 frames of the same size (see the module docstring)."""
    a = np.asarray(frames_out, dtype=np.float32)
    b = np.asarray(frames_in, dtype=np.float32)
    if a.shape != b.shape or a.shape[0] < 2:
        raise ValueError(f"need two equally long sequences of at least 2 frames, got {a.shape} and {b.shape}")
    din = float(np.abs(np.diff(b, axis=0)).mean())
    return float(np.abs(np.diff(a, axis=0)).mean()) / din if din > 0 else 0.0
