"""Training losses of the AdaIN decoder and the Johnson nets.

Feature maps come from the raw Caffe VGG-19, whose relu4_1 is ~25x its
relu1_1; every term is measured in units of its layer's mean activation
(:data:`styletransfer.adain.FEATURE_SCALE`) so that no layer dominates, and
each style layer's term is reported separately so the balance can be checked.
Losses are computed in fp32 even under bf16 autocast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..adain import ENCODER_LAYER, FEATURE_SCALE, SKIP_LAYER, STATS_LAYERS, Decoder
from ..johnson import TransformerNet
from ..ops import adain, efdm, gram_matrix, mean_std, mean_variance_normalise, total_variation
from ..vgg import VGG19Features

__all__ = ["scaled_mse", "normalised_mse", "AdaINLoss", "JohnsonLoss", "JOHNSON_STYLE_LAYERS", "JOHNSON_CONTENT_LAYER"]

JOHNSON_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
JOHNSON_CONTENT_LAYER = "relu2_2"


def scaled_mse(a: torch.Tensor, b: torch.Tensor, layer: str) -> torch.Tensor:
    """MSE of two feature tensors of ``layer`` in units of its mean activation (fp32 scalar)."""
    scale = FEATURE_SCALE[layer]
    return F.mse_loss(a.float() / scale, b.float() / scale)


def normalised_mse(a: torch.Tensor, b: torch.Tensor, layer: str, floor: float = 0.01) -> torch.Tensor:
    """MSE of two (N, C, H, W) feature maps of ``layer`` after each channel of each is moved to
    zero mean and unit std (the mean-variance-normalised content loss of SANet, Park & Lee 2019,
    "Arbitrary Style Transfer with Style-Attentional Networks"): it compares where a channel
    fires, not how strongly, so a painted picture can keep the photo's edges and still carry
    the style's statistics. Stds are floored at ``floor`` x the layer's mean activation
    (:data:`~styletransfer.adain.FEATURE_SCALE`) so that flat channels are not blown up from
    noise. fp32 scalar; about 2 for unrelated maps, 0 for equal ones.
    """
    lowest = floor * FEATURE_SCALE[layer]
    return F.mse_loss(mean_variance_normalise(a, lowest), mean_variance_normalise(b, lowest))


class AdaINLoss(nn.Module):
    """Losses of Huang & Belongie (2017) around a trainable :class:`Decoder`,
    fed from cached content features and style statistics.

    Args:
        decoder: the decoder being trained.
        encoder: frozen VGG-19 (gradients flow to its input only).
        style_layers: the layers of the style loss; the paper's relu1_1..relu4_1 by
            default, relu5_1 added makes the decoder match the style's coarsest statistics
            too (the quality bench's Gram distance counts relu5_1 as one fifth).
        structure_layers: layers of the structure term (:func:`normalised_mse` between the
            painting's and the photo's features), e.g. ``("relu3_1",)``; none by default (the
            paper's recipe). The decoder sees relu4_1 only (1/8 of the picture's side); this term
            asks it to draw the photo's finer edges there.
    """

    def __init__(self, decoder: Decoder, encoder: VGG19Features, style_layers=STATS_LAYERS,
                 structure_layers=()) -> None:
        super().__init__()
        self.decoder = decoder
        self.encoder = encoder
        self.style_layers = tuple(style_layers)
        self.structure_layers = tuple(structure_layers)

    def adain_loss(self, f_c: torch.Tensor, style: dict[str, tuple[torch.Tensor, torch.Tensor]],
                   crops: torch.Tensor | None = None, style_quantiles: torch.Tensor | None = None,
                   ) -> dict[str, torch.Tensor]:
        """Content loss ‖f(g(t)) − t‖² at relu4_1 and style loss Σ_l ‖μ(φ_l(g)) − μ_s‖² + ‖σ(φ_l(g)) − σ_s‖²
        (paper, eqs. 11-12), with t = AdaIN(f_c, μ_s, σ_s), or t = EFDM(f_c, quantiles) where
        ``style_quantiles`` are given (the target the library paints with by default; Zhang et
        al. 2022 train their decoder so); with ``structure_layers``, also the structure term
        Σ_l normalised_mse(φ_l(g), φ_l(crops)). A skip decoder also gets
        AdaIN(φ_relu3_1(crops), μ_s, σ_s) (:class:`~styletransfer.adain.Decoder`, ``skip=True``).

        Args:
            f_c: (B, 512, h, w) relu4_1 features of the content crops, fp32.
            style: ``{layer: (mean, std)}`` each (B, C, 1, 1) fp32, for the style layers.
            crops: (B, 3, 8h, 8w) the content crops in [0, 1]; needed for the structure term
                and a skip decoder.
            style_quantiles: (B, 512, Q) relu4_1 quantile tables of the style crops, or None.

        Returns:
            ``{"content", "style", "style_relu1_1", …}`` (and ``"structure"``) scalar tensors;
            "content", "style" and "structure" enter the total, the per-layer terms are logs.

        Raises:
            ValueError: structure layers set or a skip decoder but no ``crops``.
        """
        skip = self.decoder.skip is not None
        if (self.structure_layers or skip) and crops is None:
            raise ValueError("the structure term and a skip decoder need the content crops")
        with torch.no_grad():
            t = adain(f_c, *style[ENCODER_LAYER]) if style_quantiles is None else efdm(f_c, style_quantiles)
            taps = tuple(dict.fromkeys((*self.structure_layers, *((SKIP_LAYER,) if skip else ()))))
            photo = self.encoder(crops, taps) if taps else {}
            t_skip = adain(photo[SKIP_LAYER].float(), *style[SKIP_LAYER]) if skip else None
        g = self.decoder(t.contiguous(memory_format=torch.channels_last),
                         None if t_skip is None else t_skip.contiguous(memory_format=torch.channels_last))
        feats = self.encoder(g, tuple(dict.fromkeys((*self.style_layers, *self.structure_layers, ENCODER_LAYER))))
        out = {"content": scaled_mse(feats[ENCODER_LAYER], t, ENCODER_LAYER)}
        if self.structure_layers:
            out["structure"] = sum(normalised_mse(feats[n], photo[n], n) for n in self.structure_layers)
        total = torch.zeros((), device=f_c.device)
        for name in self.style_layers:
            mu, sigma = mean_std(feats[name].float())
            term = scaled_mse(mu, style[name][0], name) + scaled_mse(sigma, style[name][1], name)
            out[f"style_{name}"] = term.detach()
            total = total + term
        out["style"] = total
        return out

    def inverter_loss(self, crops: torch.Tensor, f_c: torch.Tensor, feature_weight: float = 0.0) -> dict[str, torch.Tensor]:
        """Feature-inverter warm start (the decoders of Li et al. 2017, "Universal
        Style Transfer via Feature Transforms"): decode the crops' own relu4_1
        and compare pixels (MSE, RGB in [0, 1]), optionally plus the relu4_1
        feature loss (one more VGG pass).

        Args:
            crops: (B, 3, H, W) in [0, 1]; f_c: their relu4_1 (B, 512, H/8, W/8).
        """
        skip = None
        if self.decoder.skip is not None:
            with torch.no_grad():
                skip = self.encoder.encode(crops, SKIP_LAYER).contiguous(memory_format=torch.channels_last)
        g = self.decoder(f_c.contiguous(memory_format=torch.channels_last), skip)
        out = {"pixel": F.mse_loss(g.float(), crops.float())}
        if feature_weight > 0:
            out["feature"] = scaled_mse(self.encoder.encode(g, ENCODER_LAYER), f_c, ENCODER_LAYER)
        return out


class JohnsonLoss(nn.Module):
    """Perceptual losses of Johnson et al. (2016) around a :class:`TransformerNet`:
    feature loss at relu2_2, Gram-matrix style loss over relu1_1..relu4_1 against
    one style image, total variation.

    Args:
        net: the transformation net being trained.
        encoder: frozen VGG-19.
        style: (1, 3, H, W) style image in [0, 1].
    """

    def __init__(self, net: TransformerNet, encoder: VGG19Features, style: torch.Tensor) -> None:
        super().__init__()
        self.net = net
        self.encoder = encoder
        device = next(iter(encoder.buffers())).device
        with torch.no_grad():
            feats = encoder(style.to(device), JOHNSON_STYLE_LAYERS)
            self.style_grams = {k: gram_matrix(v.float()) for k, v in feats.items()}

    def forward(self, content: torch.Tensor) -> dict[str, torch.Tensor]:
        """content (B, 3, H, W) in [0, 1] -> ``{"content", "style", "tv", "style_relu1_1", …}``."""
        layers = tuple(dict.fromkeys((JOHNSON_CONTENT_LAYER, *JOHNSON_STYLE_LAYERS)))
        with torch.no_grad():
            target = self.encoder.encode(content, JOHNSON_CONTENT_LAYER).float()
        out_img = self.net(content)
        feats = self.encoder(out_img, layers)
        out = {"content": scaled_mse(feats[JOHNSON_CONTENT_LAYER], target, JOHNSON_CONTENT_LAYER)}
        total = torch.zeros((), device=content.device)
        for name in JOHNSON_STYLE_LAYERS:
            g = gram_matrix(feats[name])
            # a Gram matrix scales with the square of the features
            term = scaled_mse(g, self.style_grams[name].expand_as(g), name) / FEATURE_SCALE[name] ** 2
            out[f"style_{name}"] = term.detach()
            total = total + term
        out["style"] = total
        out["tv"] = total_variation(out_img.float())
        return out
