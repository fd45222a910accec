"""The fast channels-last layers give the same numbers as torch's own layers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from styletransfer.layers import InstanceNorm2d, ReflectionPad2d, reflect_pad


@pytest.mark.parametrize("pad", [1, 2, 4])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_reflect_pad_equals_torch(pad, channels_last, dtype):
    x = torch.randn(2, 5, 9, 7).to(dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    ours = reflect_pad(x, pad)
    assert torch.equal(ours, F.pad(x.float(), (pad,) * 4, mode="reflect").to(dtype))
    assert ours.dtype == dtype
    if channels_last:
        assert ours.is_contiguous(memory_format=torch.channels_last)


def test_reflect_pad_gradient_equals_torch():
    x = torch.randn(1, 3, 6, 5, requires_grad=True)
    (reflect_pad(x, 2) ** 2).sum().backward()
    ours = x.grad.clone()
    x.grad = None
    (F.pad(x, (2,) * 4, mode="reflect") ** 2).sum().backward()
    torch.testing.assert_close(ours, x.grad)


def test_reflect_pad_rejects_too_small_inputs():
    with pytest.raises(ValueError, match="larger than 4 px"):
        reflect_pad(torch.zeros(1, 1, 4, 9), 4)
    assert ReflectionPad2d(0)(torch.ones(1, 1, 1, 1)).shape == (1, 1, 1, 1)


def _norms(channels: int) -> tuple[nn.InstanceNorm2d, InstanceNorm2d]:
    theirs = nn.InstanceNorm2d(channels, affine=True)
    with torch.no_grad():
        theirs.weight.uniform_(0.5, 1.5)
        theirs.bias.uniform_(-0.5, 0.5)
    ours = InstanceNorm2d(channels, affine=True)
    ours.load_state_dict(theirs.state_dict())  # same parameter names: checkpoints load unchanged
    return theirs, ours


def test_instance_norm_fp32_equals_torch_including_gradients():
    theirs, ours = _norms(6)
    x = (torch.randn(2, 6, 11, 13) * 3 + 2).requires_grad_(True)
    a, b = theirs(x), ours(x)
    torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)
    a.square().sum().backward()
    grad_theirs, x.grad = x.grad.clone(), None
    b.square().sum().backward()
    torch.testing.assert_close(x.grad, grad_theirs, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ours.weight.grad, theirs.weight.grad, rtol=1e-4, atol=1e-4)


def test_instance_norm_bf16_channels_last_is_close_and_keeps_layout():
    theirs, ours = _norms(32)
    x = torch.randn(1, 32, 48, 64) * 2 + 5  # a mean well away from 0 stresses the bf16 statistics
    with torch.no_grad():
        ref = theirs(x)
    xb = x.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        out = ours(xb)
    assert out.dtype == torch.bfloat16
    assert out.is_contiguous(memory_format=torch.channels_last)
    # bf16 itself rounds x by up to 2^-8 relative, i.e. ~0.03 here after dividing by std 2
    assert float((out.float() - ref).abs().mean()) < 0.02
    assert float((out.float() - ref).abs().max()) < 0.15


def test_instance_norm_with_running_stats_falls_back_to_torch():
    norm = InstanceNorm2d(3, track_running_stats=True).train()
    norm(torch.randn(2, 3, 8, 8) + 4)
    assert float(norm.running_mean.mean()) > 0.1
