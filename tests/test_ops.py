"""styletransfer.ops against hand-computed values."""

from __future__ import annotations

import pytest
import torch

from styletransfer.ops import adain, gram_matrix, mean_std, total_variation


def test_gram_matrix_hand_computed():
    # 2 channels on a 1x2 grid: F = [[1, 2], [3, 4]].
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # (1, 2, 1, 2)
    # F Fᵀ = [[1+4, 3+8], [3+8, 9+16]] = [[5, 11], [11, 25]], divided by H·W = 2.
    expected = torch.tensor([[[2.5, 5.5], [5.5, 12.5]]])
    torch.testing.assert_close(gram_matrix(f), expected)


def test_gram_matrix_is_size_normalised_and_fp32():
    f = torch.rand(2, 3, 4, 4)
    tiled = f.repeat(1, 1, 2, 2)  # same statistics on 4x the positions
    torch.testing.assert_close(gram_matrix(tiled), gram_matrix(f))
    assert gram_matrix(f.to(torch.bfloat16)).dtype == torch.float32
    assert gram_matrix(f).shape == (2, 3, 3)


def test_mean_std():
    f = torch.tensor([[[[1.0, 3.0], [1.0, 3.0]], [[0.0, 0.0], [0.0, 0.0]]]])  # (1, 2, 2, 2)
    mean, std = mean_std(f, eps=0.0)
    assert mean.shape == std.shape == (1, 2, 1, 1)
    torch.testing.assert_close(mean.flatten(), torch.tensor([2.0, 0.0]))
    torch.testing.assert_close(std.flatten(), torch.tensor([1.0, 0.0]))  # population std


def test_adain_gives_target_statistics():
    torch.manual_seed(0)
    content = torch.randn(2, 8, 16, 16) * 3 + 1
    style_mean = torch.linspace(-2, 2, 8).view(1, 8, 1, 1)
    style_std = torch.linspace(0.5, 4, 8).view(1, 8, 1, 1)
    out = adain(content, style_mean, style_std)
    mean, std = mean_std(out)
    torch.testing.assert_close(mean, style_mean.expand(2, 8, 1, 1), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(std, style_std.expand(2, 8, 1, 1), atol=1e-3, rtol=1e-3)


def test_total_variation_known_tensor():
    img = torch.tensor([[[[0.0, 1.0, 3.0], [0.0, 1.0, 3.0]]]])  # (1, 1, 2, 3)
    # vertical differences all 0; horizontal |1-0|, |3-1| on two rows -> mean 1.5
    assert total_variation(img).item() == pytest.approx(1.5)
    assert total_variation(torch.ones(1, 3, 5, 5)).item() == 0.0


def test_ops_are_differentiable():
    x = torch.rand(1, 3, 8, 8, requires_grad=True)
    (gram_matrix(x).sum() + total_variation(x) + mean_std(x)[1].sum()).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
