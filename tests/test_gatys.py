"""styletransfer.gatys on tiny real images: the loss falls, hooks work, options are checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import torch as _torch

_torch.set_num_threads(1)  # the test machine is shared: extra threads only contend

from styletransfer.errors import Cancelled, InvalidOptionError
from styletransfer.gatys import clear_style_cache, scale_sizes, split_steps, stylize_gatys
from styletransfer import gatys as gatys_module
from styletransfer.images import fit_max_side, open_image
from styletransfer.presets import preset_path


def _tensor(path: Path, side: int) -> torch.Tensor:
    arr = np.asarray(fit_max_side(open_image(path), side), dtype=np.float32) / 255
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).contiguous()


@pytest.fixture(scope="module")
def pair(tubingen: Path) -> tuple[torch.Tensor, torch.Tensor]:
    return _tensor(tubingen, 64), _tensor(preset_path("starry_night"), 64)


@pytest.mark.parametrize("bf16", [False, True])
def test_loss_falls_and_output_is_an_image(pair, bf16):
    content, style = pair
    losses: list[dict] = []
    steps_seen: list[int] = []

    def progress(step, total, info):
        assert total == 12
        steps_seen.append(step)
        losses.append(info)

    out = stylize_gatys(content, [style], steps=12, progress=progress, bf16=bf16)
    assert out.shape == content.shape and out.dtype == torch.float32
    assert 0 <= out.min() and out.max() <= 1
    assert steps_seen == sorted(steps_seen) and steps_seen[0] == 1 and steps_seen[-1] == 12
    assert set(losses[0]) >= {"stage", "scale", "loss", "content_loss", "style_loss", "tv_loss"}
    # Starting from the content photo the style term dominates and must drop clearly.
    assert losses[-1]["style_loss"] < 0.5 * losses[0]["style_loss"]
    assert losses[-1]["loss"] < losses[0]["loss"]
    assert not torch.equal(out, content)


def test_adam_and_noise_init(pair):
    content, style = pair
    seen: list[float] = []
    out = stylize_gatys(content, style, steps=8, optimizer="adam", init="noise", seed=0, lr=0.05,
                        progress=lambda s, t, i: seen.append(i["loss"]))
    assert out.shape == content.shape
    assert seen[-1] < seen[0]
    again = stylize_gatys(content, style, steps=2, optimizer="adam", init="noise", seed=0)
    again2 = stylize_gatys(content, style, steps=2, optimizer="adam", init="noise", seed=0)
    assert torch.equal(again, again2)  # seeded noise is reproducible


def test_cancel_raises(pair):
    content, style = pair
    calls = {"n": 0}

    def cancel() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    with pytest.raises(Cancelled):
        stylize_gatys(content, [style], steps=50, cancel=cancel)
    assert calls["n"] == 4  # stopped at the first poll that said yes


def test_style_targets_cached_by_key(pair):
    content, style = pair
    clear_style_cache()
    stylize_gatys(content, [style], steps=1, style_keys=["preset:starry_night"])
    assert len(gatys_module._STYLE_CACHE) == 1
    key = next(iter(gatys_module._STYLE_CACHE))
    assert key[0] == "preset:starry_night"
    # A second run reuses the cached Gram targets: poison them and the loss shows it.
    cached = gatys_module._STYLE_CACHE[key]
    for layer in cached:
        cached[layer] = cached[layer] * 0 + 1.0
    seen = []
    stylize_gatys(content, [style], steps=1, style_keys=["preset:starry_night"],
                  progress=lambda s, t, i: seen.append(i["style_loss"]))
    fresh = []
    stylize_gatys(content, [style], steps=1, progress=lambda s, t, i: fresh.append(i["style_loss"]))
    assert seen[0] != pytest.approx(fresh[0], rel=1e-3)
    clear_style_cache()


def test_two_styles_blend(pair, shared_data):
    content, style = pair
    other = _tensor(preset_path("mondrian"), 64)
    out = stylize_gatys(content, [style, other], [0.7, 0.3], steps=3)
    assert out.shape == content.shape


def test_scales_and_step_split():
    assert scale_sizes(384, 512, 3) == [(96, 128), (192, 256), (384, 512)]
    assert scale_sizes(64, 64, 3) == [(64, 64)]  # coarse scales too small are dropped
    assert scale_sizes(300, 400, 1) == [(300, 400)]
    counts = split_steps(300, scale_sizes(384, 512, 3))
    assert sum(counts) == 300 and counts[0] > counts[1] > counts[2] > 0
    assert split_steps(2, [(1, 1)] * 3) == [1, 1, 1]  # every scale runs at least once


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"steps": 0}, "steps"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"init": "zeros"}, "init"),
        ({"scales": 0}, "scales"),
        ({"style_weights": [1.0, 2.0]}, "style weights"),
        ({"style_weights": [-1.0]}, "≥ 0"),
    ],
)
def test_bad_options(pair, kwargs, match):
    content, style = pair
    with pytest.raises(InvalidOptionError, match=match):
        stylize_gatys(content, [style], **kwargs)


def test_bad_tensors(pair):
    content, style = pair
    with pytest.raises(InvalidOptionError, match=r"\(1, 3, H, W\)"):
        stylize_gatys(content[0], [style])
    with pytest.raises(InvalidOptionError, match="at least one style"):
        stylize_gatys(content, [])


def test_sgd_and_layer_choices(tubingen):
    """SGD is a third optimizer; the style layers and the content layer are options (the study's)."""
    import torch

    from styletransfer.engine import image_to_tensor
    from styletransfer.errors import InvalidOptionError
    from styletransfer.gatys import stylize_gatys
    from styletransfer.images import fit_max_side, open_image
    from styletransfer.metrics import style_distance
    from styletransfer.presets import preset_path

    content = image_to_tensor(fit_max_side(open_image(tubingen), 48))
    style = image_to_tensor(fit_max_side(open_image(preset_path("starry_night")), 48))
    before = style_distance(content, style)
    out = stylize_gatys(content, [style], steps=20, optimizer="sgd", scales=1, device="cpu")
    assert out.shape == content.shape and torch.isfinite(out).all()
    assert style_distance(out, style) < before  # it moved towards the style
    fine = stylize_gatys(content, [style], steps=4, style_layers=("relu1_1",), content_layer="relu2_2", scales=1)
    assert fine.shape == content.shape
    with pytest.raises(InvalidOptionError, match="style layers"):
        stylize_gatys(content, [style], steps=2, style_layers=("relu3_2",))
    with pytest.raises(InvalidOptionError, match="sgd"):
        stylize_gatys(content, [style], steps=2, optimizer="rmsprop")
