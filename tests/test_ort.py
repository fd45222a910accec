"""The ONNX Runtime backend of the Johnson nets (``styletransfer.onnx.johnson``): the export matches
torch, the painting matches the torch engine within 2/255 mean absolute difference (alpha
and colour preservation included), ``stylize`` uses it without importing torch, and a
retrained net gets a new graph."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from styletransfer.onnx import johnson as ort
from styletransfer.images import fit_max_side, open_image

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "styletransfer" / "samples" / "tubingen.jpg"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLETRANSFER_ONNX_CACHE", str(tmp_path / "onnx"))
    return tmp_path / "onnx"


def _mad(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, dtype=np.float32) - np.asarray(b, dtype=np.float32)).mean())


@pytest.mark.parametrize("preset", ["great_wave", "starry_night"])
def test_export_and_painting_match_torch(cache, preset):
    from styletransfer.engine import StyleOptions, stylize

    assert not ort.ready(preset)
    path = ort.export_johnson(preset)
    assert path.parent == cache and ort.ready(preset)
    assert json.loads(path.with_suffix(".json").read_text())["max_abs_diff_vs_torch"] < 1e-4
    photo = fit_max_side(open_image(SAMPLE), 250)  # 250 x 188: not a multiple of 4 (padding path)
    for alpha, keep in ((1.0, False), (0.5, False), (1.0, True)):
        ours = ort.stylize_johnson_ort(photo, preset, alpha=alpha, preserve_color=keep, threads=1)
        ref = stylize(photo, preset, method="johnson",
                      options=StyleOptions(alpha=alpha, preserve_color=keep, max_side=250, device="cpu",
                                           backend="torch"))
        assert ours.size == ref.size == photo.size
        assert _mad(ours, ref) <= 2.0, (alpha, keep, _mad(ours, ref))


def test_stylize_uses_onnx_without_torch_after_the_export(cache, tmp_path):
    env = {**os.environ, "STYLETRANSFER_ONNX_CACHE": str(cache)}
    out = tmp_path / "a.png"
    first = subprocess.run([sys.executable, "-m", "styletransfer.cli", str(SAMPLE), "-s", "great_wave", "-m",
                            "johnson", "--size", "128", "-o", str(out)], capture_output=True, text=True, env=env,
                           timeout=300)
    assert first.returncode == 0, first.stderr
    assert "exporting the great_wave net" in first.stderr  # the torch run made the export
    probe = ("import sys; from styletransfer.cli import main; "
             f"code = main([{str(SAMPLE)!r}, '-s', 'great_wave', '-m', 'johnson', '--size', '128', '-o', "
             f"{str(tmp_path / 'b.png')!r}]); print('TORCH' if 'torch' in sys.modules else 'NO-TORCH'); "
             "sys.exit(code)")
    second = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=300)
    assert second.returncode == 0, second.stderr
    assert "onnxruntime" in second.stdout and "NO-TORCH" in second.stdout, second.stdout
    assert _mad(Image.open(out).convert("RGB"), Image.open(tmp_path / "b.png").convert("RGB")) <= 2.0


def test_a_retrained_net_gets_a_new_graph(cache, tmp_path, monkeypatch):
    root = tmp_path / "checkpoints" / "johnson"
    root.mkdir(parents=True)
    for suffix in (".json", ".safetensors"):
        shutil.copy(REPO / "checkpoints" / "johnson" / f"udnie{suffix}", root)
    monkeypatch.setenv("STYLETRANSFER_CHECKPOINTS", str(root.parent))
    before = ort.onnx_path("udnie")
    card = json.loads((root / "udnie.json").read_text())
    card["sha256"] = "f" * 64
    (root / "udnie.json").write_text(json.dumps(card))
    assert ort.onnx_path("udnie") != before
    with pytest.raises(ort.OnnxUnavailable):
        ort.stylize_johnson_ort(Image.new("RGB", (32, 32)), "udnie")


def test_video_frames_through_onnx_match_torch(cache, tmp_path):
    """The video painter's batched forward in ONNX Runtime against torch on the same frames
    (compared before H.264, whose own loss would hide or exaggerate the difference), and a
    whole clip through the ONNX path."""
    from styletransfer.inputs import resolve_styles
    from styletransfer.video import VideoOptions, _Painter, stylize_video
    from tests.clips import make_clip, read_frames

    style = resolve_styles([("great_wave", 1.0)])[0]
    frames = np.stack([np.asarray(fit_max_side(open_image(SAMPLE), 160).crop((i, 0, i + 120, 90)))
                       for i in range(0, 32, 8)])
    x = frames.transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    out = {}
    for backend in ("torch", "onnx"):  # onnx exports the graph first
        painter = _Painter("johnson", style, VideoOptions(device="cpu", backend=backend), x[:1])
        assert painter.onnx == (backend == "onnx")
        out[backend] = painter(x) * 255.0
    assert out["onnx"].shape == out["torch"].shape == (4, 3, 90, 120)
    assert float(np.abs(out["onnx"] - out["torch"]).mean()) <= 2.0
    clip = make_clip(tmp_path / "clip.mp4", SAMPLE, seconds=0.5, fps=12, size=(160, 90))
    result = stylize_video(clip, tmp_path / "onnx.mp4", style, "johnson", VideoOptions(max_side=160, device="cpu"))
    assert ort.ready("great_wave") and result.frames == len(read_frames(tmp_path / "onnx.mp4")) >= 5


@pytest.mark.parametrize("channels, kernel", [(32, 9), (16, 9), (8, 3)])
def test_half_resolution_output_conv_is_the_same_function(channels, kernel):
    """The export's rewrite of the last layer (reflect pad + k x k conv to 3 channels at full
    resolution -> SpaceToDepth, conv, DepthToSpace at half resolution) computes the same numbers,
    for the full-width (32 channels) and half-width (16) nets' 9x9 layer and a small kernel."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(channels, 3, kernel)
    pad = kernel // 2
    rewritten = ort._half_res_output_conv(pad, conv)
    x = torch.randn(2, channels, 20, 28)
    with torch.no_grad():
        expected = conv(F.pad(x, (pad,) * 4, mode="reflect"))
        got = rewritten(x)
    assert got.shape == expected.shape == (2, 3, 20, 28)
    assert float((got - expected).abs().max()) < 1e-4


def test_several_frames_at_once_equal_one_at_a_time(cache):
    """johnson_frames runs a batch one frame per core; the result is the frames painted one by one."""
    ort.export_johnson("udnie")
    rng = np.random.default_rng(0)
    frames = rng.random((5, 3, 36, 52), dtype=np.float32)
    together = ort.johnson_frames(frames, "udnie", threads=2)
    alone = np.concatenate([ort.johnson_frames(frames[i:i + 1], "udnie", threads=1) for i in range(5)])
    assert together.shape == (5, 3, 36, 52)
    assert float(np.abs(together - alone).max()) < 1e-5


def test_a_video_exports_the_graph_before_its_frames(cache, tmp_path):
    """backend auto on the CPU: a clip of a preset whose graph is not exported yet exports it
    first, and its frames go through ONNX Runtime."""
    from styletransfer.video import VideoOptions, stylize_video
    from tests.clips import make_clip

    assert not ort.ready("udnie")
    clip = make_clip(tmp_path / "clip.mp4", SAMPLE, seconds=0.25, fps=12, size=(96, 64))
    result = stylize_video(clip, tmp_path / "out.mp4", "udnie", "johnson", VideoOptions(max_side=96, device="cpu"))
    assert ort.ready("udnie") and result.frames >= 2


def test_export_checked_takes_several_inputs_and_outputs(tmp_path):
    """A module with two inputs and two outputs (as the skip decoder's encoder and decoder
    graphs have) is exported with its names, dynamic sizes per input, and checked output by
    output; a wrong count of names is refused."""
    import onnxruntime as ort
    import torch

    from styletransfer.onnx.export import export_checked

    class Two(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, a, b):
            x = self.conv(a)
            return torch.relu(x), torch.nn.functional.avg_pool2d(x, 2) + b

    torch.manual_seed(0)
    module = Two().eval()
    a, b = torch.rand(1, 3, 8, 10), torch.rand(1, 4, 4, 5)
    path = tmp_path / "two.onnx"
    assert export_checked(module, (a, b), path, ("a", "b"), ("full", "half"), {}) <= 1e-3
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["a", "b"] and [o.name for o in session.get_outputs()] == ["full", "half"]
    a2, b2 = torch.rand(2, 3, 12, 6), torch.rand(2, 4, 6, 3)
    full, half = session.run(None, {"a": a2.numpy(), "b": b2.numpy()})
    with torch.no_grad():
        ref = module(a2, b2)
    assert np.abs(full - ref[0].numpy()).max() < 1e-4 and np.abs(half - ref[1].numpy()).max() < 1e-4
    with pytest.raises(ValueError, match="2 example inputs for 1 input names"):
        export_checked(module, (a, b), tmp_path / "bad.onnx", "a", "full", {})
