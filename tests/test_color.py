"""styletransfer.color: colour statistics and luminance transfer do what the paper says."""

from __future__ import annotations

import pytest
import torch

import torch as _torch

_torch.set_num_threads(1)  # the test machine is shared: extra threads only contend

from styletransfer.color import match_color, rgb_to_ycbcr, transfer_luminance, ycbcr_to_rgb


def _stats(img: torch.Tensor):
    px = img[0].reshape(3, -1).double()
    mean = px.mean(1)
    c = px - mean[:, None]
    return mean, c @ c.T / (px.shape[1] - 1)


def _random_image(seed: int, mix: list[list[float]], offset: list[float], size: int = 48) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(1, 3, size, size, generator=g) - 0.5
    img = torch.einsum("ij,njhw->nihw", torch.tensor(mix), base) + torch.tensor(offset).view(1, 3, 1, 1)
    assert img.min() >= 0 and img.max() <= 1  # so clamping cannot bias the check
    return img


def test_match_color_takes_content_mean_and_covariance():
    style = _random_image(0, [[0.6, 0.1, 0.0], [0.1, 0.3, 0.0], [0.0, 0.0, 0.2]], [0.5, 0.4, 0.3])
    content = _random_image(1, [[0.2, 0.0, 0.05], [0.0, 0.25, 0.0], [0.05, 0.0, 0.4]], [0.4, 0.5, 0.6], size=32)
    out = match_color(style, content)
    assert out.shape == style.shape and out.dtype == style.dtype
    mean_o, cov_o = _stats(out)
    mean_c, cov_c = _stats(content)
    torch.testing.assert_close(mean_o, mean_c, atol=1e-4, rtol=0)
    torch.testing.assert_close(cov_o, cov_c, atol=1e-4, rtol=1e-3)
    # the spatial pattern of the style is kept (a linear map of its pixels)
    corr = torch.corrcoef(torch.stack([out[0, 0].flatten(), style[0, 0].flatten()]))[0, 1]
    assert corr.abs() > 0.5


def test_match_color_of_real_painting_moves_towards_photo(tubingen):
    from styletransfer.images import fit_max_side, open_image
    from styletransfer.presets import preset_path
    import numpy as np

    def load(p):
        arr = np.asarray(fit_max_side(open_image(p), 64), dtype=np.float32) / 255
        return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0)

    style, content = load(preset_path("starry_night")), load(tubingen)
    out = match_color(style, content)
    before = (_stats(style)[0] - _stats(content)[0]).abs().max()
    after = (_stats(out)[0] - _stats(content)[0]).abs().max()
    assert after < before / 3
    assert 0 <= out.min() and out.max() <= 1


def test_ycbcr_round_trip_and_grey_has_no_chroma():
    img = torch.rand(2, 3, 8, 8)
    torch.testing.assert_close(ycbcr_to_rgb(rgb_to_ycbcr(img)), img, atol=1e-5, rtol=0)
    grey = torch.full((1, 3, 4, 4), 0.3)
    ycc = rgb_to_ycbcr(grey)
    torch.testing.assert_close(ycc[:, 0], torch.full((1, 4, 4), 0.3))
    torch.testing.assert_close(ycc[:, 1:], torch.zeros(1, 2, 4, 4), atol=1e-6, rtol=0)


def test_transfer_luminance_keeps_content_chroma_and_stylized_luma():
    torch.manual_seed(0)
    stylized = torch.rand(1, 3, 16, 16) * 0.5 + 0.25
    content = torch.zeros(1, 3, 8, 8)
    content[:, 0] = 0.6  # reddish content, different size
    content[:, 1:] = 0.4
    out = transfer_luminance(stylized, content)
    assert out.shape == stylized.shape
    y_out, y_sty = rgb_to_ycbcr(out)[:, 0], rgb_to_ycbcr(stylized)[:, 0]
    torch.testing.assert_close(y_out, y_sty, atol=1e-4, rtol=0)
    chroma = rgb_to_ycbcr(out)[:, 1:]
    expected = rgb_to_ycbcr(content)[:, 1:, :1, :1].expand_as(chroma)
    torch.testing.assert_close(chroma, expected, atol=1e-4, rtol=0)


def test_shape_errors():
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        match_color(torch.rand(3, 8, 8), torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="batch"):
        transfer_luminance(torch.rand(2, 3, 8, 8), torch.rand(3, 3, 8, 8))
