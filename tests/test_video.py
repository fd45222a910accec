"""styletransfer.video and the CLI's video branch on clips made here from a photo
(pan and zoom, a sine tone): real PyAV decode and encode, the shipped Johnson net,
AdaIN with the work-in-progress decoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from styletransfer.cli import main as cli
from styletransfer.errors import Cancelled, InvalidOptionError, VideoError
from styletransfer.video import VideoOptions, flicker, looks_like_video, probe, stylize_video
from tests.clips import make_clip, make_gif, read_frames, streams

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "styletransfer" / "samples" / "tubingen.jpg"
SMALL = VideoOptions(max_side=96, batch=4)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "pan.mp4", SAMPLE, seconds=1.0, fps=24, size=(160, 90))


@pytest.fixture(scope="module")
def gif(tmp_path_factory) -> Path:
    return make_gif(tmp_path_factory.mktemp("gifs") / "pan.gif", SAMPLE, frames=8, size=(96, 72))


def test_johnson_clip_keeps_rate_size_sound_and_every_frame(clip, tmp_path):
    seen: list[tuple[int, int]] = []
    out = tmp_path / "out.mp4"
    result = stylize_video(clip, out, "starry_night", "johnson", SMALL,
                           progress=lambda done, total, info: seen.append((done, total)))
    s = streams(out)
    assert s["video"] == "h264" and s["pix_fmt"] == "yuv420p" and s["audio"] == "aac"
    assert s["size"] == (96, 54) and s["fps"] == pytest.approx(24.0)
    frames_in, frames_out = read_frames(clip), read_frames(out)
    assert len(frames_out) == len(frames_in) == result.frames == 24
    assert result.audio and not result.trimmed and abs(s["duration"] - 1.0) < 0.1
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and seen[-1][0] == 24  # per batch, to the end
    # painted: far from the input frames (resized), and steadier than without smoothing
    from PIL import Image

    small_in = [np.asarray(Image.fromarray(f).resize((96, 54), Image.Resampling.BOX)) for f in frames_in]
    assert np.abs(np.asarray(frames_out, np.float32) - np.asarray(small_in, np.float32)).mean() > 20
    raw = stylize_video(clip, tmp_path / "raw.mp4", "starry_night", "johnson",
                        VideoOptions(max_side=96, batch=4, smooth=0.0))
    assert result.flicker < raw.flicker
    assert flicker(read_frames(out), small_in) == pytest.approx(result.flicker, rel=0.35)  # same measure, after H.264


def test_a_skip_decoder_paints_clips_in_torch(clip, tmp_path, monkeypatch):
    """A decoder that also reads relu3_1 (Decoder(skip=True), no ONNX graph yet): the clip is
    painted in torch, every frame, and the skip conv changes the frames."""
    from styletransfer.adain import Decoder
    from styletransfer.checkpoints import save_checkpoint

    torch.manual_seed(0)
    dec = Decoder(width=0.25, skip=True)
    frames = {}
    for name, std in (("zero", 0.0), ("live", 0.3)):
        torch.nn.init.normal_(dec.skip.weight, std=std)
        root = tmp_path / name
        save_checkpoint(dec.state_dict(), root / "adain" / "decoder.safetensors", {"steps": 1})
        monkeypatch.setenv("STYLETRANSFER_CHECKPOINTS", str(root))
        monkeypatch.setenv("STYLETRANSFER_ONNX_CACHE", str(tmp_path / f"onnx-{name}"))
        out = tmp_path / f"{name}.mp4"
        result = stylize_video(clip, out, "starry_night", "adain", VideoOptions(max_side=96, batch=4, smooth=0.0))
        assert result.frames == 24
        frames[name] = np.asarray(read_frames(out), np.float32)
    assert np.abs(frames["live"] - frames["zero"]).mean() > 1


def test_adain_own_style_image_and_options(clip, tmp_path, adain_checkpoints, monkeypatch, shared_data):
    monkeypatch.setenv("STYLETRANSFER_CHECKPOINTS", str(adain_checkpoints))
    painting = sorted((shared_data / "train" / "style").glob("*.jpg"))[0]
    out = tmp_path / "adain.mp4"
    result = stylize_video(clip, out, str(painting), "adain", SMALL)
    assert result.frames == 24 and streams(out)["audio"] == "aac"
    # alpha 0 gives back the (resized) clip; keep-colours stays near its colours
    none = stylize_video(clip, tmp_path / "a0.mp4", "starry_night", "johnson",
                         VideoOptions(max_side=96, alpha=0.0, smooth=0.0))
    assert none.frames == 24
    from PIL import Image

    src = np.asarray(Image.fromarray(read_frames(clip)[5]).resize((96, 54), Image.Resampling.BOX), np.float32)
    assert np.abs(np.asarray(read_frames(tmp_path / "a0.mp4")[5], np.float32) - src).mean() < 12
    kept = stylize_video(clip, tmp_path / "kept.mp4", "starry_night", "johnson",
                         VideoOptions(max_side=96, preserve_color=True))
    plain = stylize_video(clip, tmp_path / "plain.mp4", "starry_night", "johnson", VideoOptions(max_side=96))
    assert kept.frames == plain.frames == 24
    from styletransfer.color import rgb_to_ycbcr

    def chroma(frames) -> torch.Tensor:
        t = torch.from_numpy(np.asarray(frames, np.float32) / 255).permute(0, 3, 1, 2)
        return rgb_to_ycbcr(t)[:, 1:]

    src = chroma([np.asarray(Image.fromarray(f).resize((96, 54), Image.Resampling.BOX)) for f in read_frames(clip)])
    kept_err = (chroma(read_frames(tmp_path / "kept.mp4")) - src).abs().mean()
    plain_err = (chroma(read_frames(tmp_path / "plain.mp4")) - src).abs().mean()
    assert kept_err < 0.5 * plain_err  # keep-colours: the clip's own colours


def test_gif_in_gives_mp4_or_gif_out(gif, tmp_path):
    assert looks_like_video(gif)
    mp4 = stylize_video(gif, tmp_path / "g.mp4", "the_scream", "johnson", SMALL)
    assert streams(tmp_path / "g.mp4")["video"] == "h264" and mp4.frames == 8 and not mp4.audio
    back = stylize_video(gif, tmp_path / "g.gif", "the_scream", "johnson", SMALL)
    assert streams(tmp_path / "g.gif")["format"] == "gif" and back.frames == 8


def test_caps_trim_and_cancel_leaves_nothing(clip, tmp_path):
    short = stylize_video(clip, tmp_path / "short.mp4", "starry_night", "johnson",
                          VideoOptions(max_side=64, max_seconds=0.5))
    assert short.trimmed and 11 <= short.frames <= 13
    few = stylize_video(clip, tmp_path / "few.mp4", "starry_night", "johnson", VideoOptions(max_side=64, max_frames=5))
    assert few.trimmed and few.frames == 5 and len(read_frames(tmp_path / "few.mp4")) == 5
    calls = []
    with pytest.raises(Cancelled):
        stylize_video(clip, tmp_path / "cancel.mp4", "starry_night", "johnson", SMALL,
                      progress=lambda d, t, i: calls.append(d), cancel=lambda: len(calls) >= 2)
    assert not (tmp_path / "cancel.mp4").exists() and calls == [4, 8]


def _audio_only(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as out:
        a = out.add_stream("aac", rate=44100)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 44100, 0
        for packet in [*a.encode(frame), *a.encode()]:
            out.mux(packet)
    return path


def _huge(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as out:
        v = out.add_stream("mjpeg", rate=1)
        v.width, v.height, v.pix_fmt = 7696, 4336, "yuvj420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((4336, 7696, 3), np.uint8), format="rgb24")
        frame.pts = 0
        for packet in [*v.encode(frame.reformat(format="yuvj420p")), *v.encode()]:
            out.mux(packet)
    return path


def test_bad_inputs_are_one_clear_error(clip, tmp_path):
    data = clip.read_bytes()
    (tmp_path / "trunc.mp4").write_bytes(data[:2000])
    (tmp_path / "junk.mp4").write_bytes(b"this is not a video at all" * 10)
    flipped = bytearray(data)
    flipped[len(data) // 2: len(data) // 2 + 4000] = bytes(4000)
    (tmp_path / "flipped.mp4").write_bytes(bytes(flipped))
    cases = {
        "trunc.mp4": "not a video", "junk.mp4": "not a video", "still": "still image",
        "sound.m4a": "no video stream", "huge.mkv": "7680×4320",
    }
    paths = {"trunc.mp4": tmp_path / "trunc.mp4", "junk.mp4": tmp_path / "junk.mp4", "still": SAMPLE,
             "sound.m4a": _audio_only(tmp_path / "sound.m4a"), "huge.mkv": _huge(tmp_path / "huge.mkv")}
    for name, words in cases.items():
        with pytest.raises(VideoError, match=words):
            stylize_video(paths[name], tmp_path / "o.mp4", "starry_night", "johnson", SMALL)
        assert not (tmp_path / "o.mp4").exists()
    # damage in the middle: whatever decodes is kept, or a clear error; never anything else
    try:
        partial = stylize_video(tmp_path / "flipped.mp4", tmp_path / "p.mp4", "starry_night", "johnson", SMALL)
        assert partial.frames >= 1
    except VideoError:
        pass
    with pytest.raises(InvalidOptionError, match="gatys"):
        stylize_video(clip, tmp_path / "o.mp4", "starry_night", "gatys", SMALL)
    with pytest.raises(InvalidOptionError, match="johnson"):
        stylize_video(clip, tmp_path / "o.mp4", str(SAMPLE), "johnson", SMALL)
    assert probe(clip).has_audio and probe(clip).fps == pytest.approx(24)


def test_cli_video_and_its_errors(clip, tmp_path, capsys):
    out = tmp_path / "cli.mp4"
    assert cli([str(clip), "-s", "starry_night", "-m", "johnson", "--size", "64", "-o", str(out), "-q"]) == 0
    assert streams(out)["size"] == (64, 36)
    for argv, words in [
        ([str(clip), "-s", "starry_night", "-m", "gatys", "-o", str(out)], "gatys cannot do video"),
        ([str(clip), "-s", "starry_night", "-o", str(tmp_path / "x.png")], "is a video"),
        ([str(SAMPLE), "-s", "starry_night", "-o", str(tmp_path / "x.mp4")], "still image"),
        ([str(clip), "-s", "starry_night", "-s", "udnie", "-m", "adain", "-o", str(out)], "one style"),
    ]:
        assert cli(argv) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0] and "Traceback" not in err[0], err
