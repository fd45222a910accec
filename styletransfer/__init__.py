"""Neural style transfer: Gatys, AdaIN and Johnson on one VGG-19.

Importing this package is cheap and does not import torch; the heavy modules
(``styletransfer.engine``, ``.gatys``, ``.adain``, ``.johnson``) load torch when
imported. The usual entry point is :func:`styletransfer.engine.stylize`.
"""

from .errors import (  # noqa: F401
    Cancelled,
    CheckpointMissingError,
    ImageError,
    InvalidOptionError,
    StyleTransferError,
    UnknownPresetError,
)

__version__ = "0.1.0"

from . import _compat

_compat.register({})  # styletransfer.ort and .ort_adain (now styletransfer.onnx) still import, deprecated
