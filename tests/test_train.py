"""stylize-train: a few real steps of each trainer on tiny crops of the shared
training data, the caches, the evaluation grid, checkpoint export and resuming."""

from __future__ import annotations

import json

import pytest
import torch

from styletransfer.adain import Decoder, decoder_width
from styletransfer.checkpoints import load_checkpoint, sha256_file
from styletransfer.johnson import TransformerNet
from styletransfer.training.cli import main


def _state(path):
    return torch.load(path, map_location="cpu", weights_only=False)


def _adain_args(shared_data, tmp_path, *extra):
    return ["adain", "--content", str(shared_data / "train" / "content"), "--style",
            str(shared_data / "train" / "style"), "--batch", "2", "--crop", "32", "--quiet",
            "--bank-size", "24", "--style-bank-size", "24", "--cache-dir", str(tmp_path / "cache"),
            "--photo-style-fraction", "0.5", "--threads", "1", *extra]


def test_adain_trains_exports_and_resumes(shared_data, tmp_path):
    out, state = tmp_path / "decoder.safetensors", tmp_path / "adain.train-state.pt"
    common = _adain_args(shared_data, tmp_path, "--out", str(out), "--state", str(state), "--checkpoint-every", "1",
                         "--no-eval")
    assert main([*common, "--steps", "2"]) == 0
    assert _state(state)["step"] == 2
    weights, card = load_checkpoint(out)
    Decoder().load_state_dict(weights)
    assert card["steps"] == 2 and card["method"] == "adain" and card["crop"] == 32
    assert card["loss_weights"] == {"content": 1.0, "style": 10.0}
    assert all(v is not None and v > 0 for v in card["recent_mean_losses"].values())
    # every style layer's share is logged, and paths are relative to the repository
    assert {"style_relu1_1", "style_relu4_1"} <= set(card["recent_mean_losses"])
    assert not card["content_dir"].startswith("/") and card["content_dir"].endswith("train/content")
    assert card["cpu_hours"] > 0 and card["heldout_styles"] == sorted(
        ["la_muse", "asheville", "woman_in_peasant_dress_cropped"])
    before = _state(state)["model"]

    assert main([*common, "--steps", "3", "--resume"]) == 0
    st = _state(state)
    assert st["step"] == 3 and len(st["phases"]) == 2 and st["phases"][1]["from_step"] == 2
    assert json.loads(out.with_suffix(".json").read_text())["steps"] == 3
    assert not torch.equal(before["net.1.weight"], st["model"]["net.1.weight"])  # it kept training


def test_normalised_mse_compares_where_channels_fire_not_how_strongly():
    """SANet's mean-variance-normalised distance: a per-channel gain and offset (a style's
    statistics) cost nothing; moving the picture's structure does; flat channels add no noise."""
    from styletransfer.training.losses import normalised_mse

    torch.manual_seed(0)
    photo = torch.relu(torch.randn(2, 8, 16, 16)) * 100
    gain, offset = torch.rand(1, 8, 1, 1) * 3 + 0.2, torch.rand(1, 8, 1, 1) * 50
    assert float(normalised_mse(photo * gain + offset, photo, "relu3_1")) < 1e-6
    shifted = torch.roll(photo, 5, dims=-1)
    unrelated = torch.relu(torch.randn(2, 8, 16, 16)) * 100
    assert 0.5 < float(normalised_mse(shifted, photo, "relu3_1")) <= float(normalised_mse(unrelated, photo, "relu3_1")) + 0.2
    flat = torch.full_like(photo, 40.0)
    noisy = flat + torch.randn_like(flat) * 1e-3  # below the std floor: stays near zero
    assert float(normalised_mse(noisy, flat, "relu3_1")) < 1e-4


def test_adain_with_the_structure_term_logs_it_and_records_it(shared_data, tmp_path):
    """--structure-layers/--structure-weight add the normalised relu3_1 distance to the photo
    to the loss; it is logged, weighted, and written on the card; without a weight it is off."""
    out, state = tmp_path / "decoder.safetensors", tmp_path / "adain.train-state.pt"
    common = _adain_args(shared_data, tmp_path, "--out", str(out), "--state", str(state), "--checkpoint-every", "1",
                         "--no-eval", "--structure-layers", "relu2_1,relu3_1")
    assert main([*common, "--steps", "1"]) == 0  # a layer list without a weight: off
    card = load_checkpoint(out)[1]
    assert "structure" not in card["loss_weights"] and "structure_layers" not in card
    assert main([*common, "--steps", "2", "--resume", "--structure-weight", "2"]) == 0
    card = load_checkpoint(out)[1]
    assert card["loss_weights"] == {"content": 1.0, "style": 10.0, "structure": 2.0}
    assert card["structure_layers"] == ["relu2_1", "relu3_1"] and card["structure_weight"] == 2.0
    assert 0 < card["recent_mean_losses"]["structure"] < 2 * 2 + 0.5  # two layers, each at most ~2


def test_skip_decoder_warm_starts_from_a_plain_export_trains_its_conv_and_resumes(shared_data, tmp_path):
    """--decoder-skip with --init-weights from a plain export: the parent's weights plus a zero
    skip conv (same picture at step 0), trained with the inverter and the AdaIN loss, scored
    on the grid, recorded on the card, resumed as a skip decoder without the flag."""
    parent, pstate = tmp_path / "plain.safetensors", tmp_path / "plain.pt"
    base = _adain_args(shared_data, tmp_path, "--width", "0.25", "--checkpoint-every", "1", "--no-eval")
    assert main([*base, "--out", str(parent), "--state", str(pstate), "--steps", "1"]) == 0
    out, state = tmp_path / "skip.safetensors", tmp_path / "skip.pt"
    args = _adain_args(shared_data, tmp_path, "--out", str(out), "--state", str(state), "--checkpoint-every", "1",
                       "--init-weights", str(parent), "--decoder-skip", "--inverter-steps", "2",
                       "--eval-size", "48", "--eval-every", "0")
    assert main([*args, "--steps", "4"]) == 0
    weights, card = load_checkpoint(out)
    plain = load_checkpoint(parent)[0]
    assert card["decoder_skip"] == "relu3_1" and card["steps"] == 4 and card["grid"]["step"] == 4
    assert float(weights["skip.weight"].abs().sum()) > 0  # the conv started at zero and learnt
    assert weights["net.1.weight"].shape == plain["net.1.weight"].shape  # the parent's width, 0.25
    assert main([*_adain_args(shared_data, tmp_path, "--out", str(out), "--state", str(state), "--no-eval",
                              "--steps", "5", "--resume")]) == 0
    assert "skip.weight" in _state(state)["model"] and _state(state)["step"] == 5
    lrs = [g["lr"] for g in _state(state)["optimizer"]["param_groups"]]
    assert len(lrs) == 2 and lrs[1] == pytest.approx(10 * lrs[0])  # the new conv learns faster
    with pytest.raises(SystemExit, match="relu3_1"):
        main([*base, "--out", str(tmp_path / "x.safetensors"), "--state", str(tmp_path / "x.pt"), "--steps", "1",
              "--decoder-skip", "--style-layers", "relu4_1"])


def test_a_resumed_run_keeps_its_decoder_width_without_the_flag(shared_data, tmp_path):
    """--resume rebuilds the net from the state's weights: a half-width run resumed without
    --width 0.5 (the committed command line has none) goes on instead of failing to load."""
    out, state = tmp_path / "decoder.safetensors", tmp_path / "adain.train-state.pt"
    common = _adain_args(shared_data, tmp_path, "--out", str(out), "--state", str(state), "--checkpoint-every", "1",
                         "--no-eval")
    assert main([*common, "--steps", "1", "--width", "0.5"]) == 0
    assert main([*common, "--steps", "2", "--resume"]) == 0
    st = _state(state)
    assert st["step"] == 2 and decoder_width(st["model"]) == 0.5
    assert load_checkpoint(out)[1]["decoder_width"] == 0.5


def test_banks_are_cached_and_hold_real_features(shared_data, tmp_path):
    """The content bank's features are the VGG relu4_1 of its crops; a second run reuses both banks."""
    from styletransfer.training.data import ContentBank, ImageBank, StyleBank, list_images
    from styletransfer.vgg import load_vgg19

    vgg = load_vgg19("cpu")
    photos = ImageBank(list_images(shared_data / "train" / "content")[:6], short_side=64)
    art = ImageBank(list_images(shared_data / "train" / "style")[:3], short_side=96, long_side=96)
    bank = ContentBank(photos, 32, 10, vgg, tmp_path, seed=3, bf16=False, batch=4)
    crops, feats = bank.batch(torch.tensor([7, 2]))
    assert crops.shape == (2, 3, 32, 32) and feats.shape == (2, 512, 4, 4)
    assert 0 <= float(crops.min()) and float(crops.max()) <= 1
    direct = vgg.encode(crops, "relu4_1")
    assert torch.allclose(feats, direct, rtol=2e-3, atol=0.5)  # fp16 storage
    sbank = StyleBank(art, photos, 32, 8, 0.5, vgg, tmp_path, seed=3, bf16=False, batch=4)
    stats = sbank.batch(torch.tensor([0, 5]))
    assert stats["relu1_1"][0].shape == (2, 64, 1, 1) and stats["relu4_1"][1].shape == (2, 512, 1, 1)
    assert bool((stats["relu4_1"][1] > 0).all())
    built = bank.meta_path.stat().st_mtime_ns, sbank.meta_path.stat().st_mtime_ns
    again = ContentBank(photos, 32, 10, vgg, tmp_path, seed=3, bf16=False, batch=4)
    sagain = StyleBank(art, photos, 32, 8, 0.5, vgg, tmp_path, seed=3, bf16=False, batch=4)
    assert (again.meta_path.stat().st_mtime_ns, sagain.meta_path.stat().st_mtime_ns) == built
    assert torch.equal(again.batch(torch.tensor([7]))[1], feats[1:])


def test_style_bank_keeps_relu4_1_quantiles_for_efdm_training(shared_data, tmp_path):
    """With quantile_levels the bank also keeps each crop's relu4_1 distribution: ascending per
    channel, with the same mean and spread as the crop's statistics in the bank; a bank without
    them says so; and a run with --train-transform efdm trains on EFDM targets from them."""
    from styletransfer.training.data import ImageBank, StyleBank, list_images
    from styletransfer.vgg import load_vgg19

    vgg = load_vgg19("cpu")
    photos = ImageBank(list_images(shared_data / "train" / "content")[:4], short_side=64)
    art = ImageBank(list_images(shared_data / "train" / "style")[:3], short_side=96, long_side=96)
    sbank = StyleBank(art, photos, 64, 6, 0.3, vgg, tmp_path, seed=1, bf16=False, batch=4, quantile_levels=16)
    q = sbank.quantiles(torch.tensor([4, 1]))
    assert q.shape == (2, 512, 16) and bool((q.diff(dim=-1) >= -1e-2).all()) and float(q.min()) >= 0
    mean, std = sbank.batch(torch.tensor([4, 1]))["relu4_1"]
    # 16 levels of 64 values (8x8 positions): close, but a channel's few largest values fall between levels
    m_q, m_s = q.mean(-1).flatten(), mean.flatten()
    assert abs(float(m_q.mean() / m_s.mean()) - 1) < 0.1 and float(torch.corrcoef(torch.stack([m_q, m_s]))[0, 1]) > 0.95
    s_q, s_s = q.std(-1, unbiased=False).flatten(), std.flatten()
    assert float(torch.corrcoef(torch.stack([s_q, s_s]))[0, 1]) > 0.9
    with pytest.raises(ValueError, match="no quantile"):
        StyleBank(art, photos, 64, 6, 0.3, vgg, tmp_path, seed=1, bf16=False, batch=4).quantiles(torch.tensor([0]))

    out, state = tmp_path / "decoder.safetensors", tmp_path / "adain.train-state.pt"
    args = _adain_args(shared_data, tmp_path, "--out", str(out), "--state", str(state), "--no-eval",
                       "--train-transform", "efdm", "--train-quantiles", "8", "--steps", "2", "--checkpoint-every", "1")
    assert main(args) == 0
    card = load_checkpoint(out)[1]
    assert card["train_transform"] == "efdm" and card["train_quantiles"] == 8 and card["recent_mean_losses"]["content"] > 0
    assert len(list((tmp_path / "cache").glob("style-*-q8.relu4_1-q8.npy"))) == 1


def test_half_width_inverter_then_adain_with_grid(shared_data, tmp_path):
    """A half-width decoder trains as a feature inverter first, then with the AdaIN loss;
    the grid scores it and the export carries the grid figures; the engine loads the width."""
    out, state = tmp_path / "decoder.safetensors", tmp_path / "adain.pt"
    args = _adain_args(shared_data, tmp_path, "--out", str(out), "--state", str(state), "--width", "0.5",
                       "--inverter-steps", "2", "--eval-size", "48", "--eval-every", "0", "--steps", "3",
                       "--checkpoint-every", "1")
    assert main(args) == 0
    st = _state(state)
    assert st["history"]["pixel"] and st["history"]["style"]  # both phases ran
    weights, card = load_checkpoint(out)
    assert decoder_width(weights) == 0.5 and card["decoder_width"] == 0.5
    assert card["grid"]["step"] == 3 and set(card["grid"]) >= {"presets", "heldout", "score"}
    assert card["grid"]["presets"]["pairs"] == 4 * 7 and card["grid"]["heldout"]["pairs"] == 4 * 3
    from styletransfer.adain import load_adain

    model = load_adain("cpu", path=out)
    assert model.decoder.width == 0.5
    assert model.stylize(torch.rand(1, 3, 40, 56), [torch.rand(1, 3, 32, 32)]).shape == (1, 3, 40, 56)


def test_adain_on_nested_style_folders_with_relu5_1_and_a_heldout_folder(shared_data, tmp_path):
    """The WikiArt bank's layout (one folder per movement) is read recursively, several style
    folders add up, relu5_1 joins the style loss (its share logged), and the grid's unseen
    styles come from a folder of held-out paintings, evenly spaced, never trained on."""
    bank = tmp_path / "bank"
    for movement, files in (("Cubism", ["la_muse.jpg", "asheville.jpg"]), ("Baroque", ["candy.jpg"])):
        (bank / movement).mkdir(parents=True)
        for name in files:
            (bank / movement / name).write_bytes((shared_data / "train" / "style" / name).read_bytes())
    heldout = tmp_path / "heldout"
    heldout.mkdir()
    for name in sorted((shared_data / "eval" / "style").glob("*.jpg"))[:5]:
        (heldout / name.name).write_bytes(name.read_bytes())
    out, state = tmp_path / "decoder.safetensors", tmp_path / "adain.pt"
    args = ["adain", "--content", str(shared_data / "train" / "content"), "--style", str(bank),
            str(shared_data / "train" / "style"), "--holdout", "", "--heldout-dir", str(heldout),
            "--heldout-count", "3", "--style-layers", "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1",
            "--style-min-scale", "0.3", "--batch", "2", "--crop", "32", "--quiet", "--bank-size", "8",
            "--style-bank-size", "8", "--cache-dir", str(tmp_path / "cache"), "--threads", "1", "--width", "0.5",
            "--eval-size", "48", "--eval-every", "0", "--steps", "2", "--out", str(out), "--state", str(state)]
    with pytest.raises(SystemExit, match="also training styles"):
        main([*args[:6], str(heldout), *args[6:]])  # held out means never trained on
    assert main(args) == 0
    card = load_checkpoint(out)[1]
    n_train = len(list((shared_data / "train" / "style").glob("*.jpg")))
    assert card["n_styles"] == n_train + 3 and card["style_layers"][-1] == "relu5_1"
    assert card["recent_mean_losses"]["style_relu5_1"] > 0
    names = sorted(p.stem for p in heldout.glob("*.jpg"))
    assert card["heldout_styles"] == [names[0], names[2], names[4]] and card["grid"]["heldout"]["pairs"] == 4 * 3
    assert card["heldout_dir"].endswith("heldout")


def test_johnson_trains_exports_and_resumes(shared_data, tmp_path):
    out, state = tmp_path / "starry_night.safetensors", tmp_path / "j.train-state.pt"
    common = ["johnson", "--style", "starry_night", "--content", str(shared_data / "train" / "content"),
              "--batch", "2", "--crop", "32", "--out", str(out), "--state", str(state), "--quiet",
              "--checkpoint-every", "5", "--no-eval", "--threads", "1"]
    assert main([*common, "--steps", "1"]) == 0
    weights, card = load_checkpoint(out)
    TransformerNet().load_state_dict(weights)
    assert card["steps"] == 1 and card["method"] == "johnson" and card["style_size"] == 64
    assert set(card["loss_weights"]) == {"content", "style", "tv"}
    assert card["style_image"] == "styletransfer/presets/starry_night.jpg"
    assert main([*common, "--steps", "2", "--resume"]) == 0
    assert _state(state)["step"] == 2 and load_checkpoint(out)[1]["steps"] == 2


def test_johnson_finetune_names_its_parent_and_exports_on_improvement(shared_data, tmp_path):
    parent, out = tmp_path / "parent.safetensors", tmp_path / "great_wave.safetensors"
    base = ["johnson", "--content", str(shared_data / "train" / "content"), "--batch", "2", "--crop", "32",
            "--quiet", "--threads", "1", "--cache-dir", str(tmp_path / "cache")]
    assert main([*base, "--style", "starry_night", "--steps", "2", "--no-eval", "--out", str(parent),
                 "--state", str(tmp_path / "p.pt")]) == 0
    assert main([*base, "--style", "great_wave", "--steps", "1", "--out", str(out), "--state",
                 str(tmp_path / "g.pt"), "--finetune-from", str(parent), "--eval-size", "48"]) == 0
    card = load_checkpoint(out)[1]
    assert card["steps"] == 1  # a fine-tune counts its own steps
    assert card["finetuned_from"]["sha256"] == sha256_file(parent) and card["finetuned_from"]["steps"] == 2
    assert card["grid"]["preset"]["pairs"] == 4 and card["grid_score"] == card["grid"]["score"]
    # the end-of-run grid is in the saved state too, so a resume knows the best score
    st = _state(tmp_path / "g.pt")
    assert st["best"]["step"] == 1 and st["best"]["score"] == card["grid_score"] and st["evals"][-1]["step"] == 1
    # a worse grid does not overwrite the export: fake a best score nobody can beat, then resume
    st = _state(tmp_path / "g.pt")
    st["best"] = {"score": -1.0, "step": 0}
    torch.save(st, tmp_path / "g.pt")
    sha = sha256_file(out)
    assert main([*base, "--style", "great_wave", "--steps", "2", "--out", str(out), "--state",
                 str(tmp_path / "g.pt"), "--resume", "--eval-size", "48"]) == 0
    assert sha256_file(out) == sha and _state(tmp_path / "g.pt")["step"] == 2


def test_johnson_finetune_to_fewer_residual_blocks(shared_data, tmp_path):
    """--blocks 3 from a 5-block parent: the parent's first three blocks and other layers start
    the shallower (faster) net; the card records the depth."""
    from styletransfer.johnson import net_blocks, net_from_state

    parent, out = tmp_path / "parent.safetensors", tmp_path / "udnie.safetensors"
    base = ["johnson", "--content", str(shared_data / "train" / "content"), "--batch", "2", "--crop", "32",
            "--quiet", "--threads", "1", "--no-eval", "--cache-dir", str(tmp_path / "cache")]
    assert main([*base, "--style", "starry_night", "--steps", "1", "--width", "0.5", "--out", str(parent),
                 "--state", str(tmp_path / "p.pt")]) == 0
    assert main([*base, "--style", "udnie", "--steps", "1", "--blocks", "3", "--out", str(out), "--state",
                 str(tmp_path / "u.pt"), "--finetune-from", str(parent)]) == 0
    weights, card = load_checkpoint(out)
    assert net_blocks(weights) == 3 and card["residual_blocks"] == 3 and card["net_width"] == 0.5
    assert net_from_state(weights).width == 0.5


def test_refuses_eval_images_and_bad_resume(shared_data, tmp_path):
    with pytest.raises(SystemExit, match="evaluation"):
        main(["johnson", "--style", "starry_night", "--content", str(shared_data / "eval" / "content"),
              "--steps", "1", "--out", str(tmp_path / "x.safetensors")])
    with pytest.raises(SystemExit, match="no training state"):
        main(["johnson", "--style", "starry_night", "--content", str(shared_data / "train" / "content"),
              "--steps", "1", "--out", str(tmp_path / "x.safetensors"), "--state", str(tmp_path / "none.pt"),
              "--resume"])
    with pytest.raises(SystemExit, match="holdout"):
        main(_adain_args(shared_data, tmp_path, "--holdout", "no_such_painting", "--steps", "1"))


def test_warm_start_from_exported_weights(shared_data, tmp_path):
    """--init-weights continues from an fp16 export when the training state is gone."""
    first, second = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    common = _adain_args(shared_data, tmp_path, "--checkpoint-every", "1", "--no-eval")
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
