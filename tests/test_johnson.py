"""Johnson et al. (2016) transformation net: shapes, output range, loading."""

from __future__ import annotations

import pytest
import torch

from styletransfer.checkpoints import johnson_path, save_checkpoint
from styletransfer.errors import CheckpointMissingError, InvalidOptionError
from styletransfer.johnson import TransformerNet, load_johnson, stylize_johnson


@pytest.mark.parametrize("size", [(67, 93), (32, 32), (5, 9)])
def test_transformer_net_keeps_size_and_range(size):
    torch.manual_seed(0)
    net = TransformerNet().eval()
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        out = net(x)
    assert out.shape == (2, 3, *size)
    assert out.min() >= 0 and out.max() <= 1


def test_no_batch_norm_and_upsampling_not_transposed():
    mods = list(TransformerNet().modules())
    assert any(isinstance(m, torch.nn.InstanceNorm2d) for m in mods)
    assert not any(isinstance(m, (torch.nn.BatchNorm2d, torch.nn.ConvTranspose2d)) for m in mods)


def test_stylize_johnson_loads_saved_net(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLETRANSFER_CHECKPOINTS", str(tmp_path))
    torch.manual_seed(1)
    net = TransformerNet().eval()
    save_checkpoint(net.state_dict(), johnson_path("udnie"), {"steps": 0})
    content = torch.rand(1, 3, 40, 52)
    out = stylize_johnson(content, "udnie", device="cpu", bf16=False)
    assert out.shape == (1, 3, 40, 52)
    with torch.no_grad():
        # fp16 storage of the weights is the only difference
        torch.testing.assert_close(out, net(content), atol=5e-3, rtol=0)
    assert load_johnson("udnie") is load_johnson("udnie")  # cached
    bf16 = stylize_johnson(content, "udnie", device="cpu", bf16=True)
    assert (bf16 - out).abs().mean() < 0.02


def test_missing_net_names_file_and_command(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLETRANSFER_CHECKPOINTS", str(tmp_path))
    with pytest.raises(CheckpointMissingError) as err:
        stylize_johnson(torch.rand(1, 3, 16, 16), "the_scream")
    assert str(tmp_path / "johnson" / "the_scream.safetensors") in str(err.value)
    assert "stylize-train johnson" in str(err.value)


def test_bad_input_shape():
    with pytest.raises(InvalidOptionError):
        stylize_johnson(torch.rand(3, 16, 16), "udnie")


def test_a_net_cut_to_fewer_residual_blocks_keeps_its_other_layers():
    """drop_residual_blocks: the first k residual blocks and every other layer of the parent,
    renumbered; net_from_state rebuilds the right depth and width from the weights alone."""
    from styletransfer.johnson import drop_residual_blocks, net_blocks, net_from_state

    torch.manual_seed(0)
    parent = TransformerNet(width=0.5)
    state = parent.state_dict()
    assert net_blocks(state) == 5
    cut = drop_residual_blocks(state, 3)
    child = net_from_state(cut)
    assert net_blocks(child.state_dict()) == 3 and child.width == 0.5 and len(child.net) == len(parent.net) - 2
    for i in (0, 1, 2, 3, 4, 5):  # the head and the first three blocks
        for a, b in zip(parent.net[i].parameters(), child.net[i].parameters()):
            assert torch.equal(a, b)
    for i in (-1, -2, -3):  # the up-sampling layers and the output conv
        for a, b in zip(parent.net[i].parameters(), child.net[i].parameters()):
            assert torch.equal(a, b)
    x = torch.rand(1, 3, 20, 24)
    with torch.no_grad():
        assert child.eval()(x).shape == (1, 3, 20, 24)
    with pytest.raises(ValueError):
        drop_residual_blocks(state, 6)
