"""Where the AdaIN encoder's input is padded: a mirrored margin around the content.

Torch-free (shared by :mod:`styletransfer.adain` and the ONNX Runtime path
:mod:`styletransfer.onnx.adain`).

Why a margin: VGG-19 pads every convolution with zeros, so the relu4_1 features of an
image's outer ring carry a signature of the border, and the AdaIN decoder (trained on
128 px crops, where that ring is a quarter of the features) redraws it as a frame: a band
of streaks ~20 px deep along every edge. Encoding the content with a mirrored margin of
four relu4_1 positions (32 px) and cropping the margin off after decoding moves that frame
out of the picture. Measured on ``stata.jpg`` at 768 px with two styles, mean absolute
difference to a 48 px margin in the outer 24 px of the picture: no margin 17-25/255,
16 px 7.5-9.7/255, 32 px 1.1-1.5/255 (the interior 0.9-1.3/255). It costs 15 % more
pixels at 1024x768.
"""

from __future__ import annotations

__all__ = ["MARGIN", "STRIDE", "encoder_padding"]

#: Mirrored margin (px) on every side of the content before encoding.
MARGIN = 32
#: The encoder pools three times (relu4_1 is 1/8 of the input): padded sizes are multiples of this.
STRIDE = 8


def encoder_padding(height: int, width: int, margin: int = MARGIN) -> tuple[tuple[int, int, int, int], str]:
    """Padding ``(top, bottom, left, right)`` in pixels and mode for an ``height`` x ``width``
    content: ``margin`` on every side plus up to ``STRIDE - 1`` px at the bottom/right so both
    padded sides are multiples of :data:`STRIDE` (and at least 16). Mode ``"reflect"`` (the
    mirror image without repeating the edge, torch's and numpy's ``reflect``) where the
    picture is large enough for it, else ``"replicate"`` (edge pixels repeated).

    Raises:
        ValueError: a side below 1 px or a negative margin.
    """
    if height < 1 or width < 1 or margin < 0:
        raise ValueError(f"bad content size {height}x{width} or margin {margin}")
    bottom = margin + max(16 - height - 2 * margin, (-(height + 2 * margin)) % STRIDE)
    right = margin + max(16 - width - 2 * margin, (-(width + 2 * margin)) % STRIDE)
    mode = "reflect" if min(height, width) > max(bottom, right) else "replicate"
    return (margin, bottom, margin, right), mode
