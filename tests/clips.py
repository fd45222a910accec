"""Video clips made from still photos for tests and benchmarks (never downloaded):
a slow pan and zoom across the photo, H.264 in MP4, with a sine-tone AAC track;
or an animated GIF; or a square "video note"."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image


def _frames(photo: Path | Image.Image, size: tuple[int, int], count: int):
    img = photo if isinstance(photo, Image.Image) else Image.open(photo)
    img = img.convert("RGB")
    w, h = size
    for i in range(count):
        t = i / max(1, count - 1)
        zoom = 1.0 + 0.25 * t  # zoom in by a quarter while panning left to right
        cw, ch = img.width / zoom, img.height / zoom
        cw, ch = min(cw, img.width, ch * w / h), min(ch, img.height, cw * h / w)
        x0 = (img.width - cw) * t
        y0 = (img.height - ch) * 0.5
        yield np.asarray(img.resize((w, h), Image.Resampling.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch)))


def make_clip(path: Path, photo: Path | Image.Image, *, seconds: float = 2.0, fps: int = 24,
              size: tuple[int, int] = (320, 180), audio: bool = True, tone_hz: float = 440.0) -> Path:
    """An MP4 (H.264 yuv420p) pan-and-zoom over ``photo``, with a sine tone when ``audio``."""
    import av

    count = max(2, int(round(seconds * fps)))
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
        vs.options = {"preset": "ultrafast", "crf": "23"}
        a = None
        if audio:
            a = out.add_stream("aac", rate=44100)
        for i, rgb in enumerate(_frames(photo, size, count)):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts = i
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        if a is not None:
            rate, chunk = 44100, 1024
            n = int(seconds * rate)
            t = np.arange(n) / rate
            wave = (0.2 * np.sin(2 * math.pi * tone_hz * t)).astype(np.float32)
            pts = 0
            for start in range(0, n, chunk):
                part = wave[start:start + chunk]
                frame = av.AudioFrame.from_ndarray(part[None, :], format="fltp", layout="mono")
                frame.sample_rate = rate
                frame.pts = pts
                frame.time_base = Fraction(1, rate)
                pts += len(part)
                for packet in a.encode(frame):
                    out.mux(packet)
            for packet in a.encode():
                out.mux(packet)
    return path


def make_gif(path: Path, photo: Path | Image.Image, *, frames: int = 12, size: tuple[int, int] = (160, 120),
             ms_per_frame: int = 80) -> Path:
    """An animated GIF pan-and-zoom over ``photo`` (Pillow)."""
    images = [Image.fromarray(rgb) for rgb in _frames(photo, size, frames)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=ms_per_frame, loop=0)
    return path


def read_frames(path: Path) -> list[np.ndarray]:
    """Every frame of a video as (H, W, 3) uint8 RGB."""
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def streams(path: Path) -> dict:
    """Codec names, size, frame rate and audio presence of a media file."""
    import av

    with av.open(str(path)) as container:
        v = container.streams.video[0] if container.streams.video else None
        return {
            "format": container.format.name,
            "video": v.codec_context.name if v else None,
            "size": (v.codec_context.width, v.codec_context.height) if v else None,
            "pix_fmt": v.codec_context.pix_fmt if v else None,
            "fps": float(v.average_rate) if v and v.average_rate else None,
            "audio": container.streams.audio[0].codec_context.name if container.streams.audio else None,
            "duration": container.duration / 1e6 if container.duration else None,
        }
