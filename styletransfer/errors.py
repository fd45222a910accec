"""Exceptions raised by :mod:`styletransfer`.

Every message is one line a user can act on (the CLI prints it as is, the bot
relays it). This module imports nothing heavy, so the bot process can use it
without importing torch.
"""

from __future__ import annotations

__all__ = [
    "StyleTransferError",
    "ImageError",
    "UnknownPresetError",
    "CheckpointMissingError",
    "InvalidOptionError",
    "VideoError",
    "Cancelled",
]


class StyleTransferError(Exception):
    """Base class of every error this library raises on purpose."""


class ImageError(StyleTransferError, ValueError):
    """The input is not a usable image (not an image, corrupt, truncated,
    a decompression bomb, too small or too large)."""


class UnknownPresetError(StyleTransferError, ValueError):
    """A style name that is neither a preset nor an existing image file."""


class CheckpointMissingError(StyleTransferError, FileNotFoundError):
    """Trained weights needed by a method (AdaIN decoder, Johnson net) are absent."""


class InvalidOptionError(StyleTransferError, ValueError):
    """An option out of range or not supported by the chosen method
    (e.g. alpha outside [0, 1], Johnson with a non-preset style)."""


class VideoError(StyleTransferError, ValueError):
    """The input is not a usable video (not a video, corrupt or truncated, no video
    stream, no frames, an absurd resolution), or a still image where a video is expected."""


class Cancelled(StyleTransferError):
    """A running stylization was cancelled through its ``cancel`` hook."""
