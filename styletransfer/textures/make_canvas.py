"""Make ``canvas.png``: a primed linen canvas texture, drawn here from noise (so the project
may ship it), for the texture net of ``stylize --texture canvas``.

A plain weave: warp and weft threads of slightly varying thickness and brightness cross at
right angles, each passing over and under the other in turn, with slubs (thicker stretches),
a ground of low-frequency mottling like uneven priming, and a warm off-white colour.
``python -m styletransfer.textures.make_canvas`` writes the file beside this script; the
seed is fixed, so the picture is the same every time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

SIZE = 512
PITCH = 6  # px per thread


def canvas(size: int = SIZE, pitch: int = PITCH, seed: int = 7) -> Image.Image:
    """The canvas as an RGB PIL image of ``size`` × ``size`` px."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    n = size // pitch + 2
    warp_w = 0.55 + 0.2 * rng.random(n)  # each thread's own thickness and tone
    weft_w = 0.55 + 0.2 * rng.random(n)
    warp_t = 0.9 + 0.1 * rng.random(n)
    weft_t = 0.9 + 0.1 * rng.random(n)
    slub = np.repeat(rng.random((n, size // 32 + 1)) < 0.08, 32, axis=1)[:, :size]  # thicker stretches
    ix, iy = (x // pitch).astype(int), (y // pitch).astype(int)
    fx, fy = (x % pitch) / pitch - 0.5, (y % pitch) / pitch - 0.5
    warp = np.clip(1 - np.abs(fx) / (warp_w[ix] / 2 + 0.08 * slub[ix, y.astype(int)]), 0, 1) ** 0.6 * warp_t[ix]
    weft = np.clip(1 - np.abs(fy) / (weft_w[iy] / 2 + 0.08 * slub[iy, x.astype(int)]), 0, 1) ** 0.6 * weft_t[iy]
    over = ((ix + iy) % 2 == 0)  # plain weave: warp over weft on alternate crossings
    thread = np.where(over, np.maximum(warp, 0.85 * weft), np.maximum(weft, 0.85 * warp))
    shade = np.where(over, 0.5 + 0.5 * np.cos(np.pi * fy), 0.5 + 0.5 * np.cos(np.pi * fx))  # round threads
    value = 0.55 + 0.35 * thread * (0.75 + 0.25 * shade)
    mottle = Image.fromarray((rng.random((size // 16, size // 16)) * 255).astype(np.uint8)).resize(
        (size, size), Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(6))
    value = value * (0.9 + 0.2 * np.asarray(mottle, np.float32) / 255) + rng.normal(0, 0.02, value.shape)
    rgb = np.clip(value[..., None] * np.array([1.0, 0.96, 0.86], np.float32) * 255, 0, 255).astype(np.uint8)
    return Image.fromarray(rgb, "RGB")


if __name__ == "__main__":
    out = Path(__file__).with_name("canvas.png")
    canvas().save(out, optimize=True)
    print(f"wrote {out}")
