"""bench/gatys_study.py --quick writes every figure and table of the study (docs/STUDY.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))


def test_quick_study_writes_every_figure(tmp_path):
    import gatys_study

    assert gatys_study.main(["--quick", "--out", str(tmp_path), "--threads", "1"]) == 0
    for name in ("optimizers.png", "alpha_beta.jpg", "tv.jpg", "layers.jpg"):
        with Image.open(tmp_path / name) as img:
            assert img.width > 200 and img.height > 100
    results = json.loads((tmp_path / "results.json").read_text())
    assert len(results["optimizers"]) == 6 and len(results["alpha_beta"]) == 5 and len(results["tv"]) == 4
    assert len(results["layers"]) == 8 and len(results["pooling_init"]) == 4
    # the sweeps measure what they vary: more style weight, closer to the style
    ab = results["alpha_beta"]
    assert ab["starry_night | style/content 1000"]["style"] < ab["starry_night | style/content 0.1"]["style"]
    assert "| max | content |" in (tmp_path / "pooling_init.md").read_text()
