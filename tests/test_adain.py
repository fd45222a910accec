"""AdaIN (Huang & Belongie 2017): the AdaIN layer, the model's plumbing
(alpha, interpolation, masks, style-statistics cache) and decoder loading."""

from __future__ import annotations

import pytest
import torch

from styletransfer.adain import AdaINModel, Decoder, adain_target, load_adain, pad_for_encoder
from styletransfer.margins import MARGIN, STRIDE, encoder_padding
from styletransfer.checkpoints import save_checkpoint
from styletransfer.errors import CheckpointMissingError, InvalidOptionError
from styletransfer.ops import mean_std


def _img(seed: int, h: int = 48, w: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(1, 3, h // 8, w // 8, generator=g)
    return (torch.nn.functional.interpolate(base, size=(h, w), mode="bilinear") * 0.8 + 0.2 * torch.rand(1, 3, h, w, generator=g)).clamp(0, 1)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> AdaINModel:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ck") / "adain" / "decoder.safetensors"
    save_checkpoint(Decoder().state_dict(), path, {"steps": 0})
    return load_adain("cpu", path, bf16=False)


class _Capture:
    """Records the decoder's input (the AdaIN target t) through a forward pre-hook."""

    def __init__(self, model: AdaINModel):
        self.inputs: list[torch.Tensor] = []
        self.handle = model.decoder.register_forward_pre_hook(lambda mod, args: self.inputs.append(args[0].clone()))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.remove()


def test_adain_layer_gives_style_statistics():
    g = torch.Generator().manual_seed(1)
    f_c = torch.randn(2, 16, 5, 7, generator=g) * 3 + 1
    f_s = torch.randn(2, 16, 9, 4, generator=g) * 0.5 - 2
    t = adain_target(f_c, [mean_std(f_s)], torch.tensor([1.0]))
    mu_t, sd_t = mean_std(t)
    mu_s, sd_s = mean_std(f_s)
    torch.testing.assert_close(mu_t, mu_s, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(sd_t, sd_s, atol=1e-3, rtol=1e-3)


def test_model_feeds_decoder_the_style_statistics_at_relu4_1(model):
    content, style = _img(0), _img(1, 64, 56)
    with _Capture(model) as cap:
        out = model.stylize(content, [style], transform="adain")
    assert out.shape == content.shape and out.min() >= 0 and out.max() <= 1
    mu_t, sd_t = mean_std(cap.inputs[0])
    mu_s, sd_s = mean_std(model.encoder.encode(style, "relu4_1"))
    torch.testing.assert_close(mu_t, mu_s, atol=1e-2, rtol=1e-3)
    # a channel that is constant in the content cannot take on the style's spread
    live = mean_std(model.encode(pad_for_encoder(content)[0]))[1] > 0.1
    assert live.float().mean() > 0.5
    torch.testing.assert_close(sd_t[live], sd_s[live], atol=1e-2, rtol=1e-3)


def test_model_feeds_decoder_the_style_distribution_by_default(model):
    """EFDM (the default transform): each relu4_1 channel of the decoder's input is distributed
    as the style's, e.g. as many ReLU zeros, which AdaIN's mean/std cannot give."""
    content, style = _img(0), _img(1, 64, 56)
    with _Capture(model) as cap:
        model.stylize(content, [style])
    target, f_s = cap.inputs[0], model.encoder.encode(style, "relu4_1")
    zeros_t = (target.abs() < 1e-4).float().mean((2, 3))
    zeros_s = (f_s == 0).float().mean((2, 3))
    assert (zeros_t - zeros_s).abs().max() < 0.05
    mu_t, _ = mean_std(target)
    torch.testing.assert_close(mu_t, mean_std(f_s)[0], atol=0.05 * float(mean_std(f_s)[0].abs().max()), rtol=0.05)
    with pytest.raises(InvalidOptionError, match="transform"):
        model.stylize(content, [style], transform="wct")


def test_the_model_and_the_options_know_the_same_transforms():
    from styletransfer import adain, inputs

    assert adain.TRANSFORMS == inputs.TRANSFORMS and inputs.DEFAULT_TRANSFORM == adain.TRANSFORMS[0]


def test_alpha_zero_decodes_content_features_unchanged(model):
    content = _img(2)
    with _Capture(model) as cap:
        out = model.stylize(content, [_img(3)], alpha=0.0)
    padded, (rows, cols) = pad_for_encoder(content)
    torch.testing.assert_close(cap.inputs[0], model.encode(padded))
    torch.testing.assert_close(out, model.decode(model.encode(padded))[..., rows, cols])


def test_alpha_interpolates_features_linearly(model):
    content, style = _img(4), _img(5)
    with _Capture(model) as cap:
        for a in (0.0, 0.5, 1.0):
            model.stylize(content, [style], alpha=a)
    t0, th, t1 = cap.inputs
    torch.testing.assert_close(th, (t0 + t1) / 2, atol=1e-3, rtol=1e-4)


def test_interpolation_weights_normalise(model):
    content, s1, s2 = _img(6), _img(7), _img(8)
    torch.testing.assert_close(model.stylize(content, [s1, s2], [2.0, 2.0]), model.stylize(content, [s1, s2], [1.0, 1.0]))
    torch.testing.assert_close(model.stylize(content, [s1, s2], [3.0, 0.0]), model.stylize(content, [s1]))
    mixed = model.stylize(content, [s1, s2], [1.0, 1.0])
    assert not torch.allclose(mixed, model.stylize(content, [s1]))


def test_masks(model):
    content, s1, s2 = _img(9), _img(10), _img(11)
    ones, zeros = torch.ones(48, 64), torch.zeros(48, 64)
    torch.testing.assert_close(model.stylize(content, [s1], mask=ones), model.stylize(content, [s1]))
    torch.testing.assert_close(model.stylize(content, [s1], mask=zeros), model.stylize(content, [s1], alpha=0.0))
    # one mask with two styles: first style where 1, second where 0
    torch.testing.assert_close(model.stylize(content, [s1, s2], mask=zeros), model.stylize(content, [s2]))
    torch.testing.assert_close(model.stylize(content, [s1, s2], mask=[ones, zeros]), model.stylize(content, [s1]))
    with pytest.raises(InvalidOptionError):
        model.stylize(content, [s1, s2], mask=torch.ones(3, 48, 64))


def test_style_statistics_are_cached_by_key(model):
    content, s1, s2 = _img(12), _img(13), _img(14)
    first = model.stylize(content, [s1], style_keys=["test:s1@64"])
    # same key, different pixels: the cached statistics of s1 are used
    torch.testing.assert_close(model.stylize(content, [s2], style_keys=["test:s1@64"]), first)
    assert not torch.allclose(model.stylize(content, [s2]), first)


@pytest.mark.parametrize("size", [(67, 93), (8, 8), (33, 17)])
def test_odd_sizes_return_input_size(model, size):
    out = model.stylize(_img(15, *size), [_img(16)])
    assert out.shape == (1, 3, *size)


def test_bad_options_raise(model):
    content, style = _img(17), _img(18)
    with pytest.raises(InvalidOptionError):
        model.stylize(content, [style], alpha=1.5)
    with pytest.raises(InvalidOptionError):
        model.stylize(content, [style, style], [1.0])
    with pytest.raises(InvalidOptionError):
        model.stylize(content, [style], [0.0])
    with pytest.raises(InvalidOptionError):
        model.stylize(content, [])


def test_bf16_forward_close_to_fp32(model):
    content, style = _img(19), _img(20)
    bf16 = AdaINModel(model.decoder, model.encoder, bf16=True)
    diff = (bf16.stylize(content, [style]) - model.stylize(content, [style])).abs().mean()
    assert diff < 0.02


def test_decoder_shape():
    assert Decoder()(torch.zeros(2, 512, 5, 3)).shape == (2, 3, 40, 24)


def test_load_adain_missing_names_path(tmp_path):
    path = tmp_path / "nope.safetensors"
    with pytest.raises(CheckpointMissingError, match="nope.safetensors.*stylize-train"):
        load_adain("cpu", path)


@pytest.mark.parametrize("h, w", [(48, 64), (1, 1), (16, 250), (37, 41), (767, 1024)])
def test_encoder_padding_adds_a_mirrored_margin_and_is_cut_back(h, w):
    (top, bottom, left, right), mode = encoder_padding(h, w)
    assert top == left == MARGIN and bottom >= MARGIN and right >= MARGIN
    assert (h + top + bottom) % STRIDE == 0 and (w + left + right) % STRIDE == 0
    assert bottom - MARGIN < STRIDE + 16 and right - MARGIN < STRIDE + 16
    assert mode == ("reflect" if min(h, w) > max(bottom, right) else "replicate")
    image = torch.rand(1, 3, h, w)
    padded, (rows, cols) = pad_for_encoder(image)
    assert padded.shape[-2:] == (h + top + bottom, w + left + right)
    torch.testing.assert_close(padded[..., rows, cols], image)
    if mode == "reflect":  # the mirror image, without repeating the edge row
        torch.testing.assert_close(padded[..., top - 1, left:left + w], image[..., 1, :])


def test_output_keeps_the_content_size_for_odd_and_tiny_pictures(model):
    for h, w in ((16, 16), (21, 35), (50, 17)):
        assert model.stylize(_img(20, 64, 64)[..., :h, :w], [_img(21)]).shape[-2:] == (h, w)


def test_skip_decoder_starts_as_the_plain_decoder_and_reads_relu3_1(tmp_path):
    """A skip decoder (Decoder(skip=True)) warm-started from a plain one paints the same picture
    (its 1x1 conv starts at zero); once the conv is non-zero, the relu3_1 target changes the
    picture, and the model feeds it AdaIN-moved relu3_1 of the right size (masks included)."""
    torch.manual_seed(3)
    plain = Decoder(width=0.25)
    skip = Decoder(width=0.25, skip=True)
    skip.load_state_dict({**skip.state_dict(), **plain.state_dict()})
    path = tmp_path / "adain" / "decoder.safetensors"
    save_checkpoint(skip.state_dict(), path, {"steps": 0})
    from styletransfer.adain import decoder_has_skip, decoder_from_state
    from styletransfer.checkpoints import load_checkpoint

    assert decoder_has_skip(load_checkpoint(path)[0]) and decoder_from_state(load_checkpoint(path)[0]).skip is not None
    m_skip = load_adain("cpu", path, bf16=False)
    m_plain = AdaINModel(plain.eval(), m_skip.encoder, bf16=False)
    content, style = _img(30, 40, 56), _img(31)
    torch.testing.assert_close(m_skip.stylize(content, [style]), m_plain.stylize(content, [style]))
    seen = []
    handle = m_skip.decoder.skip.register_forward_pre_hook(lambda mod, args: seen.append(args[0].clone()))
    try:
        torch.nn.init.normal_(m_skip.decoder.skip.weight, std=0.5)
        changed = m_skip.stylize(content, [style], transform="adain")
        mask = torch.zeros(40, 56)
        mask[:, :28] = 1
        masked = m_skip.stylize(content, [style, _img(32)], mask=mask)
    finally:
        handle.remove()
    assert (changed - m_plain.stylize(content, [style], transform="adain")).abs().mean() > 1e-3
    assert masked.shape[-2:] == (40, 56)
    f4, f3 = m_skip.encode_levels(pad_for_encoder(content)[0])
    assert f3.shape[-2:] == (2 * f4.shape[-2], 2 * f4.shape[-1]) and seen[0].shape[1] == 256
    # AdaIN at relu3_1: the target carries the style's relu3_1 mean (times 1/FEATURE_SCALE)
    from styletransfer.adain import FEATURE_SCALE

    mu_t = mean_std(seen[0] * FEATURE_SCALE["relu3_1"])[0]
    mu_s = mean_std(m_skip.encoder.encode(style, "relu3_1"))[0]
    torch.testing.assert_close(mu_t, mu_s, atol=1e-2, rtol=1e-3)
    with pytest.raises(ValueError, match="relu3_1"):
        m_skip.decoder(torch.zeros(1, 512, 4, 4))
