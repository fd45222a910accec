"""stylize-train: a couple of real steps of each trainer on tiny crops of the
shared training data, checkpoint export, and resuming (step counter continues)."""

from __future__ import annotations

import json

import pytest
import torch

from styletransfer.checkpoints import load_checkpoint
from styletransfer.adain import Decoder
from styletransfer.johnson import TransformerNet
from styletransfer.train import main


def _state(path):
    return torch.load(path, map_location="cpu", weights_only=False)


def test_adain_trains_exports_and_resumes(shared_data, tmp_path):
    out, state = tmp_path / "decoder.safetensors", tmp_path / "adain.train-state.pt"
    common = ["adain", "--content", str(shared_data / "train" / "content"), "--style",
              str(shared_data / "train" / "style"), "--batch", "2", "--crop", "32", "--out", str(out),
              "--state", str(state), "--checkpoint-every", "1", "--quiet", "--photo-style-fraction", "0.5"]
    assert main([*common, "--steps", "2"]) == 0
    assert _state(state)["step"] == 2
    weights, card = load_checkpoint(out)
    Decoder().load_state_dict(weights)
    assert card["steps"] == 2 and card["method"] == "adain" and card["crop"] == 32
    assert card["loss_weights"] == {"content": 1.0, "style": 10.0}
    assert all(v is not None and v > 0 for v in card["recent_mean_losses"].values())
    before = _state(state)["model"]

    assert main([*common, "--steps", "3", "--resume"]) == 0
    st = _state(state)
    assert st["step"] == 3 and len(st["phases"]) == 2 and st["phases"][1]["from_step"] == 2
    assert json.loads(out.with_suffix(".json").read_text())["steps"] == 3
    assert not torch.equal(before["net.1.weight"], st["model"]["net.1.weight"])  # it kept training


def test_johnson_trains_exports_and_resumes(shared_data, tmp_path):
    out, state = tmp_path / "starry_night.safetensors", tmp_path / "j.train-state.pt"
    common = ["johnson", "--style", "starry_night", "--content", str(shared_data / "train" / "content"),
              "--batch", "2", "--crop", "32", "--out", str(out), "--state", str(state), "--quiet",
              "--checkpoint-every", "5"]
    assert main([*common, "--steps", "1"]) == 0
    weights, card = load_checkpoint(out)
    TransformerNet().load_state_dict(weights)
    assert card["steps"] == 1 and card["method"] == "johnson" and card["style_size"] == 64
    assert set(card["loss_weights"]) == {"content", "style", "tv"}
    assert main([*common, "--steps", "2", "--resume"]) == 0
    assert _state(state)["step"] == 2 and load_checkpoint(out)[1]["steps"] == 2


def test_refuses_eval_images_and_bad_resume(shared_data, tmp_path):
    with pytest.raises(SystemExit, match="evaluation"):
        main(["johnson", "--style", "starry_night", "--content", str(shared_data / "eval" / "content"),
              "--steps", "1", "--out", str(tmp_path / "x.safetensors")])
    with pytest.raises(SystemExit, match="no training state"):
        main(["johnson", "--style", "starry_night", "--content", str(shared_data / "train" / "content"),
              "--steps", "1", "--out", str(tmp_path / "x.safetensors"), "--state", str(tmp_path / "none.pt"),
              "--resume"])


def test_warm_start_from_exported_weights(shared_data, tmp_path):
    """--init-weights continues from an fp16 export when the training state is gone."""
    first, second = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    common = ["adain", "--content", str(shared_data / "train" / "content"), "--style",
              str(shared_data / "train" / "style"), "--batch", "2", "--crop", "32", "--quiet",
              "--checkpoint-every", "1"]
    assert main([*common, "--steps", "2", "--out", str(first), "--state", str(tmp_path / "a.pt")]) == 0
    exported, _ = load_checkpoint(first)
    assert main([*common, "--steps", "3", "--out", str(second), "--state", str(tmp_path / "b.pt"),
                 "--init-weights", str(first)]) == 0
    st = _state(tmp_path / "b.pt")
    assert st["step"] == 3  # step count carried on from the card (2) and trained one more
    assert load_checkpoint(second)[1]["steps"] == 3
    # One Adam step from the exported weights stays near them; a fresh decoder is far away.
    torch.manual_seed(0)
    fresh = Decoder().state_dict()["net.1.weight"]
    trained = st["model"]["net.1.weight"]
    near = (trained - exported["net.1.weight"].float()).abs().max()
    assert 0 < near < 0.01 < (trained - fresh).abs().max()
