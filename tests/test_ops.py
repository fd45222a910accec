"""styletransfer.ops against hand-computed values."""

from __future__ import annotations

import pytest
import torch

from styletransfer.ops import adain, efdm, feature_quantiles, gram_matrix, mean_std, total_variation


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


def _relu_features(seed: int, shape, shift: float, scale: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.relu(torch.randn(*shape, generator=g) * scale + shift)


def test_efdm_same_size_gives_exactly_the_style_values_in_the_content_order():
    content = _relu_features(0, (1, 6, 8, 8), 0.3, 1.0)
    style = _relu_features(1, (1, 6, 16, 4), -0.5, 3.0)  # 64 values per channel, as the content
    out = efdm(content, feature_quantiles(style, 64))
    # the style's own values (quantiles at (k + 0.5) / 64 of 64 values are the values themselves)
    torch.testing.assert_close(out.flatten(2).sort(-1).values, style.flatten(2).sort(-1).values)
    # in the content's order: where the content is larger, the result is not smaller
    c, o = content.flatten(2), out.flatten(2)
    assert (o.gather(-1, c.argsort(-1)).diff(dim=-1) >= 0).all()


def test_efdm_takes_the_style_distribution_that_adain_misses():
    """Zero fraction and skew (what a ReLU map's mean/std do not say) come from the style."""
    content = _relu_features(2, (2, 8, 24, 24), 1.0, 1.0)  # few zeros
    style = _relu_features(3, (1, 8, 32, 32), -1.0, 2.0)  # most values zero, long tail
    out = efdm(content, feature_quantiles(style))
    by_adain = adain(content, *mean_std(style))
    zeros_style = (style == 0).float().mean((2, 3))
    zeros_out = (out.abs() < 1e-6).float().mean((2, 3))
    assert torch.allclose(zeros_out, zeros_style.expand_as(zeros_out), atol=0.01)
    assert ((by_adain.abs() < 1e-6).float().mean((2, 3)) < 0.01).all()  # AdaIN keeps the content's shape
    torch.testing.assert_close(mean_std(out)[0], mean_std(style)[0].expand(2, -1, -1, -1), atol=0.02, rtol=0.02)
    torch.testing.assert_close(mean_std(out)[1], mean_std(style)[1].expand(2, -1, -1, -1), atol=0.02, rtol=0.03)


def test_efdm_ranks_ties_in_raster_order_and_each_sample_on_its_own():
    content = torch.zeros(2, 1, 2, 3)
    content[1] = torch.arange(6.0).view(1, 2, 3).flip(-1)
    table = torch.linspace(0, 5, 6).view(1, 1, 6)
    out = efdm(content, table)
    torch.testing.assert_close(out[0].flatten(), torch.arange(6.0))  # all tied, all alike: raster order
    torch.testing.assert_close(out[1], content[1])  # its own ranks, not the batch's


def test_efdm_ranks_zeros_next_to_activity_above_lone_zeros():
    content = torch.zeros(1, 1, 1, 12)
    content[..., -1] = 5.0  # one active value at the right end
    out = efdm(content, torch.arange(12.0).view(1, 1, 12))[0, 0, 0]
    assert out[-1] == 11  # the active value keeps the top rank
    assert out[-2] == 10  # its neighbour is the highest of the zeros
    assert (out[:-1].diff() >= 0).all()  # zeros further from it rank lower


def test_feature_quantiles_shape_and_order():
    q = feature_quantiles(_relu_features(4, (3, 5, 7, 9), 0.0, 1.0), levels=17)
    assert q.shape == (3, 5, 17) and q.dtype == torch.float32
    assert (q.diff(dim=-1) >= 0).all()


def test_numpy_efdm_of_the_onnx_path_equals_torch_ties_included():
    """The ONNX path's EFDM (numpy: SIMD argsort with a raster-order term, both neighbourhood
    means from one integral image, vectorised quantile reads) gives torch's ranks: a ReLU map
    with large all-zero areas (exact ties), random ties and a flat channel."""
    import numpy as np

    from styletransfer.onnx.adain import _efdm, _quantiles

    content = _relu_features(5, (1, 16, 30, 44), -0.6, 2.0)
    content[..., 5:20, 10:30] = 0  # zero neighbourhoods: ties broken in raster order
    content[:, 3] = 0  # a whole channel of ties
    content[:, 4] = torch.randint(0, 3, (30, 44)).float()  # ties among positive values too
    style = _relu_features(6, (1, 16, 37, 23), -0.2, 3.0)
    table = feature_quantiles(style)
    np.testing.assert_allclose(_quantiles(style.numpy()), table.numpy(), rtol=1e-5, atol=1e-5)
    got, ref = _efdm(content.numpy(), table.numpy()), efdm(content, table).numpy()
    # the same values per channel; the same places but where two zeros' neighbourhood means
    # differ in the last bits (float64 integral image against torch's float32 pooling)
    np.testing.assert_allclose(np.sort(got.reshape(16, -1)), np.sort(ref.reshape(16, -1)), rtol=1e-5, atol=1e-4)
    assert np.mean(np.abs(got - ref) > 1e-4) < 1e-3
