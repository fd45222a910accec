"""Checkpoint files: fp16 safetensors + JSON card with SHA-256, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from safetensors import safe_open

from styletransfer import checkpoints as ck
from styletransfer.errors import CheckpointMissingError


def _state() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {"conv.weight": torch.randn(4, 3, 3, 3, generator=g), "conv.bias": torch.randn(4, generator=g),
            "counter": torch.tensor([7], dtype=torch.int64)}


def test_round_trip_fp16_on_disk_with_card(tmp_path):
    path = tmp_path / "adain" / "decoder.safetensors"
    state = _state()
    card_file = ck.save_checkpoint(state, path, {"steps": 12, "crop": 128})
    assert card_file == tmp_path / "adain" / "decoder.json"
    with safe_open(str(path), "pt") as f:
        assert f.get_tensor("conv.weight").dtype == torch.float16
        assert f.get_tensor("counter").dtype == torch.int64
    card = json.loads(card_file.read_text())
    assert card["steps"] == 12 and card["dtype"] == "float16"
    assert card["sha256"] == ck.sha256_file(path)
    loaded, card2 = ck.load_checkpoint(path)
    assert card2 == card
    assert loaded["conv.weight"].dtype == torch.float32
    torch.testing.assert_close(loaded["conv.weight"], state["conv.weight"], atol=2e-3, rtol=1e-3)
    assert loaded["counter"].item() == 7


def test_tampered_file_is_refused(tmp_path):
    path = tmp_path / "net.safetensors"
    ck.save_checkpoint(_state(), path, {})
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ck.CheckpointCorruptError, match="sha256"):
        ck.load_checkpoint(path)
    ck.load_checkpoint(path, verify=False)  # explicitly unverified loads still work


def test_missing_card_refused_when_verifying(tmp_path):
    path = tmp_path / "net.safetensors"
    ck.save_checkpoint(_state(), path, {})
    ck.card_path(path).unlink()
    with pytest.raises(CheckpointMissingError, match="card"):
        ck.load_checkpoint(path)


def test_missing_file_message_names_path_and_command(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLETRANSFER_CHECKPOINTS", str(tmp_path))
    with pytest.raises(CheckpointMissingError) as err:
        ck.require(ck.adain_decoder_path(), "AdaIN decoder")
    msg = str(err.value)
    assert str(tmp_path / "adain" / "decoder.safetensors") in msg
    assert "stylize-train adain" in msg
    with pytest.raises(CheckpointMissingError) as err:
        ck.load_checkpoint(ck.johnson_path("udnie"))
    assert "udnie.safetensors" in str(err.value) and "stylize-train johnson" in str(err.value)


def test_paths_and_available_methods_follow_env(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLETRANSFER_CHECKPOINTS", str(tmp_path))
    assert ck.checkpoint_root() == tmp_path
    assert ck.johnson_path("udnie") == tmp_path / "johnson" / "udnie.safetensors"
    assert ck.available_methods() == {"adain": False, "johnson": [], "gatys": True}
    ck.save_checkpoint(_state(), ck.johnson_path("udnie"), {})
    ck.save_checkpoint(_state(), ck.johnson_path("mondrian"), {})
    ck.save_checkpoint(_state(), ck.adain_decoder_path(), {})
    assert ck.available_methods() == {"adain": True, "johnson": ["mondrian", "udnie"], "gatys": True}


def test_default_root_is_repo_checkpoints(monkeypatch):
    monkeypatch.delenv("STYLETRANSFER_CHECKPOINTS", raising=False)
    assert ck.checkpoint_root() == ck.Path(ck.__file__).resolve().parents[1] / "checkpoints"


def test_import_is_torch_free():
    code = "import sys, styletransfer.checkpoints as c; c.available_methods(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
