"""styletransfer.engine.stylize end to end on tiny images (Gatys runs for real, few steps)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import torch as _torch

_torch.set_num_threads(1)  # the test machine is shared: extra threads only contend

from styletransfer.engine import METHODS, StyleOptions, resolve_device, resolve_styles, stylize
from styletransfer.errors import (
    Cancelled,
    CheckpointMissingError,
    ImageError,
    InvalidOptionError,
    UnknownPresetError,
)
from styletransfer.presets import preset_path

FAST = StyleOptions(max_side=48, steps=2)


def _photo_bytes(path: Path, size=(96, 64), **save) -> bytes:
    img = Image.open(path).convert("RGB").resize(size)
    buf = io.BytesIO()
    fmt = save.pop("format", "JPEG")
    if save.pop("cmyk", False):
        img = img.convert("CMYK")
    img.save(buf, format=fmt, **save)
    return buf.getvalue()


def test_gatys_end_to_end(tubingen: Path):
    stages = []
    out = stylize(tubingen, "starry_night", "gatys", FAST, progress=lambda s, t, i: stages.append(i["stage"]))
    assert out.mode == "RGB"
    assert out.size == (48, 36)  # 1024x768 capped at 48 px, aspect kept
    assert stages[0] == "prepare" and "optimize" in stages and stages[-1] == "done"
    arr = np.asarray(out, dtype=np.float32)
    assert arr.std() > 5  # a picture, not a flat colour


def test_exif_rotated_content_comes_out_upright(tubingen: Path):
    exif = Image.Exif()
    exif[0x0112] = 6
    data = _photo_bytes(tubingen, (96, 64), exif=exif)
    out = stylize(data, "starry_night", "gatys", StyleOptions(max_side=48, steps=1))
    assert out.size == (32, 48)  # stored 96x64 landscape, displayed portrait


def test_cmyk_content_and_pil_inputs(tubingen: Path):
    data = _photo_bytes(tubingen, (80, 60), cmyk=True)
    out = stylize(data, Image.open(preset_path("udnie")), "gatys", StyleOptions(max_side=40, steps=1))
    assert out.mode == "RGB" and out.size == (40, 30)
    rgba = Image.new("RGBA", (40, 30), (10, 200, 30, 128))
    out = stylize(rgba, "mondrian", "gatys", StyleOptions(max_side=64, steps=1))
    assert out.size == (40, 30)  # never upscaled


def test_style_blend_and_preserve_color():
    # A warm red-brown gradient: Starry Night pulls it towards blue unless colour is preserved.
    arr = np.zeros((32, 48, 3), np.uint8)
    arr[..., 0] = np.linspace(120, 250, 48)[None, :]
    arr[..., 1] = np.linspace(20, 90, 32)[:, None]
    arr[..., 2] = 30
    content = Image.fromarray(arr)
    strong = {"style_weight": 100.0}
    plain = stylize(content, "starry_night", "gatys", StyleOptions(max_side=48, steps=5, gatys=strong))
    kept = stylize(content, "starry_night", "gatys",
                   StyleOptions(max_side=48, steps=5, preserve_color=True, gatys=strong))
    c = arr.reshape(-1, 3).mean(0)
    d_plain = np.abs(np.asarray(plain, np.float32).reshape(-1, 3).mean(0) - c).sum()
    d_kept = np.abs(np.asarray(kept, np.float32).reshape(-1, 3).mean(0) - c).sum()
    assert d_plain > 20  # really stylized: the colours moved
    assert d_kept < d_plain / 3
    blend = stylize(content, [("starry_night", 0.7), ("the_scream", 0.3)], "gatys", StyleOptions(max_side=32, steps=1))
    assert blend.size == (32, 21)


def test_bad_alpha(tubingen: Path):
    for alpha in (-0.1, 1.5, "x"):
        with pytest.raises(InvalidOptionError, match="alpha"):
            stylize(tubingen, "starry_night", "gatys", StyleOptions(alpha=alpha, max_side=64, steps=1))


def test_unknown_preset_and_method(tubingen: Path):
    with pytest.raises(UnknownPresetError, match="starry_nite.*presets: starry_night"):
        stylize(tubingen, "starry_nite", "gatys", FAST)
    with pytest.raises(InvalidOptionError, match="unknown method 'picasso'"):
        stylize(tubingen, "starry_night", "picasso", FAST)


def test_missing_style_file_and_bad_images(tubingen: Path, tmp_path: Path):
    with pytest.raises(ImageError, match="not found"):
        stylize(tubingen, str(tmp_path / "painting.jpg"), "gatys", FAST)
    junk = tmp_path / "notes.txt"
    junk.write_text("not a picture")
    with pytest.raises(ImageError, match="not an image"):
        stylize(junk, "starry_night", "gatys", FAST)
    with pytest.raises(ImageError, match="empty"):
        stylize(b"", "starry_night", "gatys", FAST)


def test_johnson_needs_a_single_preset(tubingen: Path):
    with pytest.raises(InvalidOptionError, match="single preset"):
        stylize(tubingen, tubingen, "johnson", FAST)
    with pytest.raises(InvalidOptionError, match="single preset"):
        stylize(tubingen, ["starry_night", "udnie"], "johnson", FAST)


def test_missing_checkpoints(tubingen: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("STYLETRANSFER_CHECKPOINTS", str(tmp_path))
    with pytest.raises(CheckpointMissingError, match="stylize-train"):
        stylize(tubingen, "starry_night", "johnson", FAST)
    with pytest.raises(CheckpointMissingError, match="stylize-train"):
        stylize(tubingen, "starry_night", "adain", FAST)


def test_cancel(tubingen: Path):
    with pytest.raises(Cancelled):
        stylize(tubingen, "starry_night", "gatys", StyleOptions(max_side=48, steps=50), cancel=lambda: True)


def test_resolve_helpers(tubingen: Path):
    assert METHODS == ("adain", "johnson", "gatys")
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(InvalidOptionError, match="device"):
        resolve_device("tpu")
    styles = resolve_styles([("starry_night", 2), str(tubingen)])
    assert [s.key for s in styles] == ["preset:starry_night", None]
    assert [s.weight for s in styles] == [2.0, 1.0]
    with pytest.raises(InvalidOptionError, match="≥ 0"):
        resolve_styles([("udnie", -1.0)])
    with pytest.raises(InvalidOptionError):
        resolve_styles([])


def test_inference_path_imports_no_torchvision_and_errors_need_no_torch(tmp_path):
    """torchvision (and the torch._dynamo it drags in, ~2 s) stays off the inference path,
    and the CLI refuses bad input before importing torch at all."""
    import subprocess
    import sys

    code = ("import sys; import styletransfer.engine, styletransfer.johnson, styletransfer.adain, "
            "styletransfer.gatys, bot.jobs.inference; bad = [m for m in sys.modules if m.startswith(('torchvision', "
            "'torch._dynamo'))]; print(bad); assert not bad")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    code = ("import sys; from styletransfer.cli import main; "
            f"code = main(['styletransfer/samples/tubingen.jpg', '-s', 'no_such_style', '-o', '{tmp_path}/o.png']); "
            "assert code == 1 and 'torch' not in sys.modules, sorted(sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr


def test_preserve_color_never_caches_the_recoloured_style(tubingen, eval_photos, adain_checkpoints, monkeypatch):
    """Keep-colours recolours the style per photo, so that style must not be cached: a
    recoloured Starry Night of one photo reused for another would be a silent bug.
    The plain preset's statistics and Gram matrices are cached as usual. (AdaIN in torch: the
    ONNX Runtime path never takes preserve_color, ``tests/test_ort_adain.py``.)"""
    from styletransfer import gatys
    from styletransfer.adain import load_adain

    monkeypatch.setenv("STYLETRANSFER_CHECKPOINTS", str(adain_checkpoints))
    model = load_adain("cpu")
    model._stats.clear()
    gatys.clear_style_cache()
    keep = StyleOptions(max_side=48, steps=2, preserve_color=True, device="cpu", backend="torch")
    for photo in eval_photos[:2]:
        stylize(photo, "starry_night", "adain", keep)
        stylize(photo, "starry_night", "gatys", keep)
    assert len(model._stats) == 0 and len(gatys._STYLE_CACHE) == 0
    plain = StyleOptions(max_side=48, steps=2, device="cpu", backend="torch")
    stylize(tubingen, "starry_night", "adain", plain)
    stylize(tubingen, "starry_night", "gatys", plain)
    # the preset's relu4_1 quantiles, and a skip decoder's relu3_1 statistics
    assert len(model._stats) == (2 if model.skip else 1) and len(gatys._STYLE_CACHE) == 1
    assert all("starry_night" in key for key, _device in model._stats)


def test_gatys_blend_weights_move_the_style(tubingen):
    """[0.7, 0.3] and [0.3, 0.7] of Starry Night and The Scream give measurably different
    pictures: each is closer (Gram style distance) to the style it weights more."""
    from styletransfer.engine import image_to_tensor
    from styletransfer.images import fit_max_side, open_image
    from styletransfer.metrics import style_distance

    opts = StyleOptions(max_side=64, steps=40, device="cpu", seed=0)
    a = image_to_tensor(stylize(tubingen, [("starry_night", 0.7), ("the_scream", 0.3)], "gatys", opts))
    b = image_to_tensor(stylize(tubingen, [("starry_night", 0.3), ("the_scream", 0.7)], "gatys", opts))
    night = image_to_tensor(fit_max_side(open_image(preset_path("starry_night")), 64))
    scream = image_to_tensor(fit_max_side(open_image(preset_path("the_scream")), 64))
    assert style_distance(a, night) < style_distance(b, night)
    assert style_distance(b, scream) < style_distance(a, scream)
    assert (a - b).abs().mean() > 0.02
