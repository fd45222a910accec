"""Inference: a :class:`~bot.jobs.queue.JobSpec` in, the painting and one outcome out.

The only module of the bot that calls the ``styletransfer`` library's torch code
(:func:`styletransfer.engine.stylize`, :func:`styletransfer.video.stylize_video`), and
only inside an inference process: the embedded one of :mod:`bot.jobs.local` or a
``stylebot-worker`` of :mod:`bot.jobs.procrastinate`. Both engines share everything
here: painting a job (:func:`run_job`), loading the nets ahead of the first job
(:func:`warm_up`), exporting a net for ONNX Runtime after its first job
(:func:`export_onnx_after`) and ending with the parent process (:func:`exit_with_parent`).
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from pathlib import Path

from .queue import Cancelled, Done, Failed, JobSpec, Progress

__all__ = ["run_job", "warm_up", "export_onnx_after", "exit_with_parent"]

log = logging.getLogger(__name__)

PROGRESS_MIN_INTERVAL_S = 0.25


def run_job(spec: JobSpec, emit, cancel) -> object:
    """Run one job in this process; returns the outcome event (also used directly by tests).
    Never raises: a refusal by the engine is a user error in plain words, anything else a
    logged internal failure."""
    from styletransfer.errors import Cancelled as EngineCancelled
    from styletransfer.errors import StyleTransferError

    started = time.perf_counter()
    try:
        painter = _paint_photo if spec.media == "photo" else _paint_video
        out, ran = painter(spec, emit, cancel)
        return Done(spec.job_id, str(out), time.perf_counter() - started, ran)
    except EngineCancelled:
        return Cancelled(spec.job_id)
    except StyleTransferError as exc:
        log.warning("job %s refused by the engine: %s", spec.job_id, exc)
        return Failed(spec.job_id, _user_message(exc), user_error=True)
    except Exception as exc:  # noqa: BLE001 - report, keep the process alive
        log.error("job %s failed:\n%s", spec.job_id, traceback.format_exc())
        return Failed(spec.job_id, f"{type(exc).__name__}: {exc}")


def _paint_photo(spec: JobSpec, emit, cancel) -> tuple[Path, dict]:
    """:func:`styletransfer.engine.stylize`; the result as PNG; progress throttled."""
    from styletransfer.engine import StyleOptions, stylize
    from styletransfer.images import PNG_SAVE_OPTIONS

    last = [0.0]

    def progress(step: int, total: int, info: dict | None = None) -> None:
        now = time.monotonic()
        if step >= total or now - last[0] >= PROGRESS_MIN_INTERVAL_S:
            last[0] = now
            emit(Progress(spec.job_id, int(step), int(total), str((info or {}).get("stage", ""))))

    options = StyleOptions(alpha=spec.alpha, preserve_color=spec.preserve_color, max_side=spec.max_side,
                           steps=spec.steps, device=spec.device, stroke=spec.stroke, texture=spec.texture)
    image = stylize(spec.content_path, spec.style, method=spec.method, options=options, progress=progress,
                    cancel=cancel)
    out = Path(spec.output_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out, format="PNG", **PNG_SAVE_OPTIONS)  # 0.07 instead of ~0.25 s at 1024 px
    return out, {"method": spec.method, "alpha": float(options.alpha), "preserve_color": bool(options.preserve_color),
                 "max_side": options.max_side, "steps": options.steps, "size": list(image.size),
                 "stroke": float(options.validate().stroke), "texture": spec.texture}


def _paint_video(spec: JobSpec, emit, cancel) -> tuple[Path, dict]:
    """A video, GIF or video note job: :func:`styletransfer.video.stylize_video`, progress per batch
    (frame k of n), the result as MP4 (square kept for a video note)."""
    from styletransfer.video import VideoOptions, stylize_video

    options = VideoOptions(alpha=spec.alpha, preserve_color=spec.preserve_color, max_side=spec.max_side,
                           max_seconds=spec.max_seconds, device=spec.device, stroke=spec.stroke,
                           texture=spec.texture)
    out = Path(spec.output_path)
    out.parent.mkdir(parents=True, exist_ok=True)

    def progress(done: int, total: int, info: dict) -> None:
        emit(Progress(spec.job_id, int(done), int(total), "frames"))

    result = stylize_video(spec.content_path, out, spec.style, spec.method, options, progress=progress, cancel=cancel)
    return out, {"method": spec.method, "alpha": float(options.alpha), "preserve_color": bool(options.preserve_color),
                 "max_side": options.max_side, "stroke": float(spec.stroke), "texture": spec.texture,
                 "media": spec.media,
                 "frames": result.frames, "fps": result.fps,
                 "size": [result.width, result.height], "trimmed": result.trimmed, "audio": result.audio,
                 "duration": result.frames / result.fps if result.fps else 0.0, "flicker": round(result.flicker, 3)}


def _user_message(exc: Exception) -> str:
    """What the user reads when the engine refused a job: never the engine's own text,
    which names internal files (content.png) and options (max_side)."""
    from styletransfer.errors import CheckpointMissingError, ImageError, VideoError

    from .. import texts

    if isinstance(exc, CheckpointMissingError):
        return texts.JOB_METHOD_UNAVAILABLE
    if isinstance(exc, VideoError):
        return texts.JOB_VIDEO_UNUSABLE
    if isinstance(exc, ImageError):
        return texts.JOB_IMAGE_UNUSABLE
    return texts.JOB_OPTIONS_UNUSABLE


def exit_with_parent(parent_pid: int, interval_s: float = 1.0) -> None:
    """Run in a daemon thread: end this process when its parent (the bot) is gone (e.g.
    SIGKILLed), so no orphan keeps painting."""
    while True:
        time.sleep(interval_s)
        if os.getppid() != parent_pid:
            os._exit(0)


def export_onnx_after(spec: JobSpec, outcome: object) -> None:
    """After a Johnson or AdaIN job painted on the CPU: export its net(s) for ONNX Runtime
    once (a few seconds for a Johnson net, ~10 s for AdaIN's 8-bit encoder and decoder,
    between jobs), so the next jobs run faster (:mod:`styletransfer.onnx.johnson`,
    :mod:`styletransfer.onnx.adain`; photos and videos pick the graphs up by themselves)."""
    if spec.method not in ("johnson", "adain") or not isinstance(outcome, Done) or spec.device not in ("auto", "cpu"):
        return
    what = "the AdaIN graphs" if spec.method == "adain" else f"the {spec.style} net"
    try:
        from styletransfer.engine import resolve_device
        from styletransfer.onnx.johnson import export_johnson, ready
        from styletransfer.onnx.runtime import runtime_installed
        from styletransfer.presets import is_preset

        if not runtime_installed() or resolve_device(spec.device).type != "cpu":
            return
        if spec.method == "adain":
            from styletransfer.onnx import adain as ort_adain

            if ort_adain.ready():
                return
            export = ort_adain.export_adain
        else:
            if not is_preset(spec.style) or ready(spec.style):
                return
            export = lambda: export_johnson(spec.style)  # noqa: E731
        started = time.perf_counter()
        export()
        log.info("exported %s for ONNX Runtime in %.1f s", what, time.perf_counter() - started)
    except Exception:  # noqa: BLE001 - only a speed-up is lost
        log.warning("ONNX export of %s failed:\n%s", what, traceback.format_exc())


def warm_up(device: str = "auto") -> float:
    """Import the engine (torch) and load every trained net that is on disk, so the
    first job does not pay for it; returns the seconds it took. Never raises (a
    broken checkpoint is reported by the job that needs it)."""
    started = time.perf_counter()
    try:
        from styletransfer.checkpoints import available_methods
        from styletransfer.engine import resolve_device
        from styletransfer.precision import prefer_bf16

        dev = resolve_device(device)
        prefer_bf16(dev)  # measured once per machine, cached on disk
        avail = available_methods()
        if avail.get("johnson"):
            from styletransfer.johnson import load_johnson

            for preset in avail["johnson"]:
                load_johnson(preset, dev)
        if avail.get("adain"):
            from styletransfer.adain import load_adain

            load_adain(dev)
    except Exception:  # noqa: BLE001
        log.warning("warm-up incomplete:\n%s", traceback.format_exc())
    return time.perf_counter() - started
