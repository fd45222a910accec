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


def test_gram_matrix_gradient_is_exact_in_float64():
    f = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    # fp64 takes the one-shot path; compare against the textbook formula's gradient.
    torch.autograd.gradcheck(lambda t: gram_matrix(t.float()).double(), (f,), eps=1e-3, atol=1e-3)
    g = torch.randn(2, 3, 3, dtype=torch.float64)
    (gram_matrix(f) * g).sum().backward()
    ref = f.detach().clone().requires_grad_(True)
    flat = ref.reshape(2, 3, 20)
    ((torch.bmm(flat, flat.transpose(1, 2)) / 20) * g).sum().backward()
    torch.testing.assert_close(f.grad, ref.grad.to(f.grad.dtype), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("channels_last", [False, True])
def test_gram_matrix_chunked_bf16_matches_fp32(monkeypatch, channels_last):
    import styletransfer.ops as ops

    monkeypatch.setattr(ops, "GRAM_CHUNK", 7)  # 48 positions -> 7 chunks, the last one partial
    base = torch.randn(2, 5, 6, 8)
    x = base.to(torch.bfloat16)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    weights = torch.randn(2, 5, 5)
    g = gram_matrix(x)
    (g * weights).sum().backward()
    assert g.dtype == torch.float32 and x.grad.dtype == torch.bfloat16
    ref_in = x.detach().float().requires_grad_(True)  # the same bf16-rounded values, in fp32
    flat = ref_in.reshape(2, 5, 48)
    ref = torch.bmm(flat, flat.transpose(1, 2)) / 48
    (ref * weights).sum().backward()
    torch.testing.assert_close(g, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(x.grad.float(), ref_in.grad, rtol=1e-2, atol=1e-2)  # grad rounded to bf16


def test_gram_matrix_stays_fp32_under_autocast():
    f = torch.randn(1, 4, 9, 9)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        g = gram_matrix(f)
    assert g.dtype == torch.float32
    flat = f.reshape(1, 4, 81)
    torch.testing.assert_close(g, torch.bmm(flat, flat.transpose(1, 2)) / 81)
