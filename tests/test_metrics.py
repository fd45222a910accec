"""Content/style distances of styletransfer.metrics on hand-checkable cases and real images."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as TF

from styletransfer import metrics
from styletransfer.ops import gram_matrix
from styletransfer.vgg import load_vgg19

PRESETS = Path(metrics.__file__).with_name("presets")


def _load(path: Path, size: tuple[int, int]) -> torch.Tensor:
    """(1, 3, H, W) in [0, 1], resized to ``size`` = (W, H)."""
    with Image.open(path) as img:
        img = img.convert("RGB").resize(size, Image.LANCZOS)
    return TF.to_dtype(TF.pil_to_tensor(img), torch.float32, scale=True).unsqueeze(0)


@pytest.fixture(scope="module")
def vgg():
    return load_vgg19("cpu", pooling="max")


@pytest.fixture(scope="module")
def photo(tubingen) -> torch.Tensor:
    return _load(tubingen, (96, 64))


@pytest.fixture(scope="module")
def painting() -> torch.Tensor:
    return _load(PRESETS / "starry_night.jpg", (96, 64))


def test_relative_sq_error_by_hand():
    target = torch.tensor([3.0, 4.0])  # ‖target‖² = 25
    assert metrics.relative_sq_error(target, target) == 0.0
    assert metrics.relative_sq_error(torch.zeros(2), target) == pytest.approx(1.0)
    assert metrics.relative_sq_error(2 * target, target) == pytest.approx(1.0)
    # (3-0)² + (4-4)² = 9  ->  9 / 25
    assert metrics.relative_sq_error(torch.tensor([0.0, 4.0]), target) == pytest.approx(0.36)


def test_relative_sq_error_rejects_bad_input():
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.relative_sq_error(torch.zeros(2), torch.zeros(3))
    with pytest.raises(ValueError, match="all zeros"):
        metrics.relative_sq_error(torch.ones(2), torch.zeros(2))


def test_identical_images_have_zero_distances(photo, painting, vgg):
    assert metrics.content_distance(photo, photo, vgg) == 0.0
    assert metrics.style_distance(painting, painting, vgg) == 0.0
    assert metrics.distances(photo, photo, photo, vgg) == (0.0, 0.0)


def test_content_distance_matches_definition(photo, painting, vgg):
    f_out = vgg(painting, ("relu4_2",))["relu4_2"].double()
    f_con = vgg(photo, ("relu4_2",))["relu4_2"].double()
    expected = float(((f_out - f_con) ** 2).sum() / (f_con**2).sum())
    assert metrics.content_distance(painting, photo, vgg) == pytest.approx(expected, rel=1e-9)


def test_style_distance_matches_definition(photo, painting, vgg):
    feats_out = vgg(photo, metrics.STYLE_LAYERS)
    feats_sty = vgg(painting, metrics.STYLE_LAYERS)
    per_layer = []
    for layer in metrics.STYLE_LAYERS:
        f, s = feats_out[layer], feats_sty[layer]
        n, c, h, w = f.shape
        g_out = (f.reshape(c, h * w) @ f.reshape(c, h * w).T / (h * w)).double()
        hs, ws = s.shape[2:]
        g_sty = (s.reshape(c, hs * ws) @ s.reshape(c, hs * ws).T / (hs * ws)).double()
        per_layer.append(float(((g_out - g_sty) ** 2).sum() / (g_sty**2).sum()))
    got = metrics.style_distance_per_layer(photo, painting, vgg)
    assert list(got) == list(metrics.STYLE_LAYERS)
    assert list(got.values()) == pytest.approx(per_layer, rel=1e-4)
    assert metrics.style_distance(photo, painting, vgg) == pytest.approx(sum(per_layer) / 5, rel=1e-4)


def test_distances_rank_photo_and_painting_as_expected(photo, painting, vgg):
    # The painting is much further from the photo's content than a lightly
    # blurred photo is, and much closer to its own style than the photo is.
    blurred = TF.gaussian_blur(photo, kernel_size=3, sigma=0.7)
    assert metrics.content_distance(blurred, photo, vgg) < 0.5 * metrics.content_distance(painting, photo, vgg)
    blurred_painting = TF.gaussian_blur(painting, kernel_size=3, sigma=0.7)
    assert metrics.style_distance(blurred_painting, painting, vgg) < 0.5 * metrics.style_distance(
        photo, painting, vgg
    )


def test_structure_distance_sees_shapes_not_colours(photo, painting, vgg):
    """The photo recoloured (another palette, contrast) keeps its structure; the same photo
    moved by a few pixels, or another picture, does not. all_distances agrees with the three
    functions it stands for."""
    assert metrics.structure_distance(photo, photo, vgg) == 0.0
    recoloured = (photo[:, [2, 0, 1]] * 0.6 + 0.3).clamp(0, 1)  # channels swapped, contrast down
    moved = torch.roll(photo, shifts=(3, 5), dims=(2, 3))
    d_recoloured = metrics.structure_distance(recoloured, photo, vgg)
    d_moved = metrics.structure_distance(moved, photo, vgg)
    d_painting = metrics.structure_distance(painting, photo, vgg)
    assert d_recoloured < 0.5 * d_moved and d_moved < d_painting + 0.3 and 1.0 < d_painting < 2.5
    # a stylised-like blend of the two keeps more structure than the painting alone
    assert metrics.structure_distance(0.5 * photo + 0.5 * painting, photo, vgg) < d_painting
    d = metrics.all_distances(painting, photo, painting, vgg)
    assert d["structure"] == pytest.approx(d_painting, rel=1e-6)
    assert d["content"] == pytest.approx(metrics.content_distance(painting, photo, vgg), rel=1e-9)
    assert (d["content"], d["style"]) == metrics.distances(painting, photo, painting, vgg)
    with pytest.raises(ValueError, match="same size"):
        metrics.structure_distance(photo[..., :32], photo, vgg)


def test_style_distance_accepts_other_sizes_and_precomputed_grams(photo, painting, vgg):
    big_style = torch.nn.functional.interpolate(painting, scale_factor=1.5, mode="bilinear")
    grams = metrics.style_grams(big_style, vgg)
    assert set(grams) == set(metrics.STYLE_LAYERS)
    assert grams["relu3_1"].shape == (1, 256, 256)
    direct = metrics.style_distance(photo, big_style, vgg)
    assert metrics.style_distance(photo, grams, vgg) == pytest.approx(direct, rel=1e-9)
    c, s = metrics.distances(painting, photo, grams, vgg)
    assert c == pytest.approx(metrics.content_distance(painting, photo, vgg), rel=1e-6)
    assert s == pytest.approx(metrics.style_distance(painting, grams, vgg), rel=1e-6)
    # The Gram matrix is size-normalised: the same painting at 1.5x scale is
    # far closer in style to the original than the photo is.
    assert metrics.style_distance(painting, grams, vgg) < 0.5 * direct
    assert gram_matrix(torch.ones(1, 2, 3, 3)).tolist() == [[[1.0, 1.0], [1.0, 1.0]]]


def test_bad_shapes_are_rejected(photo, vgg):
    with pytest.raises(ValueError, match="same size"):
        metrics.content_distance(photo[..., :32], photo, vgg)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        metrics.style_distance(photo[0], photo, vgg)
    with pytest.raises(ValueError, match="lack layers"):
        metrics.style_distance(photo, {"relu1_1": torch.eye(64)[None]}, vgg)


def test_palette_distance_is_delta_e_between_colour_gaussians():
    from styletransfer.metrics import lab_colours, palette_distance

    rng = torch.Generator().manual_seed(0)
    img = torch.rand(1, 3, 48, 64, generator=rng)
    assert palette_distance(img, img) < 1e-3
    assert abs(palette_distance(torch.zeros(1, 3, 8, 8), torch.ones(1, 3, 8, 8)) - 100.0) < 0.5  # black vs white
    warmer = (img + torch.tensor([0.2, 0.0, -0.2]).view(1, 3, 1, 1)).clamp(0, 1)
    d = palette_distance(warmer, img)
    blue = img * torch.tensor([0.2, 0.2, 1.0]).view(1, 3, 1, 1)
    assert 5 < d < palette_distance(blue, img)
    assert abs(palette_distance(img, torch.rand(1, 3, 200, 100, generator=rng)) - palette_distance(
        torch.rand(1, 3, 200, 100, generator=rng), img)) < 3  # sizes may differ; symmetric up to sampling
    lab = lab_colours(torch.ones(1, 3, 2, 2))
    assert lab.shape == (4, 3) and abs(lab[:, 0].mean() - 100) < 0.5 and abs(lab[:, 1:]).max() < 2
