"""Training data that costs nothing per step: images decoded once into RAM, and
banks of what does not change between steps, computed once per crop size.

* :class:`ImageBank` holds every training image as a uint8 (3, H, W) tensor
  (1,000 photos at 256 px on the short side: ~200 MB); crops come from
  torchvision's v2 transforms on tensors, so no JPEG is decoded again and no
  DataLoader worker process competes with torch's threads on a 2-core CPU.
* :class:`ContentBank` (AdaIN): a fixed set of augmented content crops with
  their VGG-19 relu4_1 features (fp16), memory-mapped from a git-ignored cache.
  A training step then reads the features instead of encoding the photos.
* :class:`StyleBank` (AdaIN): the instance statistics (channel mean and std
  at relu1_1..relu4_1, fp32) of a set of augmented style crops, the only thing
  the AdaIN loss needs from a style image (Huang & Belongie 2017, eqs. 8, 11).

The idea of precomputing the encoder's output of the training crops follows
texture_nets (Ulyanov et al. 2016), which caches the VGG features of its
content images.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image, ImageOps
try:
    from torchvision.transforms import v2
except ImportError as exc:  # painting needs no torchvision; training's augmentation does
    raise SystemExit("stylize-train needs torchvision: pip install 'stylebot[train]'") from exc

from ..adain import ENCODER_LAYER, STATS_LAYERS
from ..ops import feature_quantiles, mean_std
from ..vgg import VGG19Features

__all__ = [
    "IMAGE_SUFFIXES",
    "list_images",
    "load_rgb",
    "ImageBank",
    "content_augment",
    "style_augment",
    "ContentBank",
    "StyleBank",
    "STATS_CHANNELS",
    "LAYER_CHANNELS",
]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
#: Channels of relu1_1, relu2_1, relu3_1, relu4_1: a style's statistics vector is
#: the means then the stds of these layers, 2 * 960 fp32 values.
STATS_CHANNELS = (64, 128, 256, 512)
#: Channels of every layer a style bank may keep statistics of.
LAYER_CHANNELS = {"relu1_1": 64, "relu2_1": 128, "relu3_1": 256, "relu4_1": 512, "relu5_1": 512}


def list_images(directory: str | os.PathLike, exclude: Sequence[str] = (), recursive: bool = False) -> list[Path]:
    """Image files in ``directory`` (and its sub-folders with ``recursive``, e.g. the
    WikiArt bank's one folder per movement), sorted, minus those whose stem is in ``exclude``.

    Raises:
        SystemExit: not a directory, no images, or an evaluation folder (never
            train on the eval photos).
    """
    d = Path(directory)
    if not d.is_dir():
        raise SystemExit(f"stylize-train: {d} is not a directory")
    found = d.rglob("*") if recursive else d.iterdir()
    files = sorted(p for p in found if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    files = [p for p in files if p.stem not in set(exclude)]
    if not files:
        raise SystemExit(f"stylize-train: no images in {d}")
    if d.resolve().name == "eval" or "eval" in d.resolve().parts:
        raise SystemExit(f"stylize-train: refusing to train on evaluation images in {d}")
    return files


def load_rgb(path: str | os.PathLike, min_side: int | None = None) -> Image.Image:
    """Open an image as upright 8-bit RGB (alpha composited on white); JPEGs are
    decoded at reduced size (``draft``) when the shorter side can stay >= ``min_side``."""
    img = Image.open(path)
    if min_side and img.format == "JPEG":
        w, h = img.size
        s = min(w, h)
        if s > 2 * min_side:
            img.draft("RGB", (max(1, w * min_side // s), max(1, h * min_side // s)))
    img = ImageOps.exif_transpose(img)
    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, img)
    return img.convert("RGB")


def _files_digest(paths: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}\n".encode())
    return h.hexdigest()[:16]


class ImageBank:
    """Training images decoded once into RAM.

    Args:
        paths: image files.
        short_side: each image is downscaled (Lanczos, never up) so that its
            shorter side is at most this many pixels.
        long_side: optionally also cap the longer side (paintings).

    Attributes:
        images: list of uint8 tensors (3, H, W), RGB.
        digest: short hash of the file names and sizes (cache keys).
    """

    def __init__(self, paths: Sequence[Path], short_side: int, long_side: int | None = None) -> None:
        self.paths = list(paths)
        self.images: list[torch.Tensor] = []
        for p in self.paths:
            img = load_rgb(p, short_side)
            w, h = img.size
            s = min(1.0, short_side / min(w, h))
            if long_side:
                s = min(s, long_side / max(w, h))
            if s < 1.0:
                img = img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.LANCZOS)
            self.images.append(torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).contiguous())
        self.digest = _files_digest(self.paths)

    def __len__(self) -> int:
        return len(self.images)


def content_augment(crop: int) -> v2.Compose:
    """Photo augmentation on uint8 tensors: random resized crop (15-100 % of the
    area, aspect 3:4-4:3) to ``crop`` px and a horizontal flip."""
    return v2.Compose([
        v2.RandomResizedCrop(crop, scale=(0.15, 1.0), ratio=(0.75, 4 / 3), antialias=True),
        v2.RandomHorizontalFlip(),
    ])


def style_augment(crop: int, min_scale: float = 0.03) -> v2.Compose:
    """Hard augmentation for the few paintings: crops at many scales (``min_scale``-100 %
    of the area; 3 % by default), flips, colour jitter including hue (so the decoder does
    not memorise palettes) and occasional grayscale."""
    return v2.Compose([
        v2.RandomResizedCrop(crop, scale=(min_scale, 1.0), ratio=(0.6, 1 / 0.6), antialias=True),
        v2.RandomHorizontalFlip(),
        v2.RandomVerticalFlip(0.2),
        v2.RandomApply([v2.ColorJitter(0.3, 0.3, 0.4, 0.08)], p=0.7),
        v2.RandomGrayscale(0.05),
    ])


def _to_float(batch: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    """uint8 images (a (B, 3, H, W) tensor or a list of (3, H, W)) -> float in [0, 1]."""
    if not isinstance(batch, torch.Tensor):
        batch = torch.stack(list(batch))
    return batch.float().div_(255.0)


def _log(msg: str) -> None:
    from tqdm import tqdm

    tqdm.write(msg)


@dataclass
class _CacheSpec:
    kind: str
    crop: int
    count: int
    seed: int
    digest: str
    extra: str = ""

    def stem(self) -> str:
        return f"{self.kind}-c{self.crop}-n{self.count}-s{self.seed}-{self.digest}{self.extra}"


def _encode_batches(
    encoder: VGG19Features, count: int, batch: int, make: Callable[[int], torch.Tensor],
    sink: Callable[[int, torch.Tensor, dict], None], layers: Sequence[str], bf16: bool, what: str,
) -> None:
    device = next(iter(encoder.buffers())).device
    t0, done = time.perf_counter(), 0
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
    for start in range(0, count, batch):
        n = min(batch, count - start)
        x = make(n)  # uint8 (n, 3, crop, crop)
        with torch.inference_mode(), amp:
            feats = encoder(_to_float(x).to(device).contiguous(memory_format=torch.channels_last), layers)
        sink(start, x, {k: v.float() for k, v in feats.items()})
        done += n
        if start == 0 or done == count or (start // batch) % 50 == 0:
            _log(f"{what}: {done}/{count} crops ({time.perf_counter() - t0:.0f} s)")


class ContentBank:
    """A fixed set of augmented content crops and their relu4_1 features.

    Files (in ``cache_dir``, memory-mapped): ``<stem>.crops.npy`` uint8
    (M, 3, crop, crop) and ``<stem>.relu4_1.npy`` fp16 (M, 512, crop/8, crop/8),
    plus ``<stem>.json`` written last (a bank without it is rebuilt).
    Encoding is bf16 autocast like training; features are stored fp16
    (relu4_1 values stay below 10^4, well inside fp16's range).

    Args:
        images: the training photos in RAM.
        crop: crop side in px, a multiple of 8.
        count: crops in the bank (each photo contributes ``count / len(images)``).
        encoder: VGG-19 used to encode the crops.
        cache_dir: where the bank lives.
        seed: augmentation seed; the same arguments give the same bank.
    """

    def __init__(self, images: ImageBank, crop: int, count: int, encoder: VGG19Features, cache_dir: Path,
                 seed: int = 0, bf16: bool = True, batch: int = 16) -> None:
        if crop % 8:
            raise SystemExit(f"stylize-train: --crop must be a multiple of 8, got {crop}")
        spec = _CacheSpec("content", crop, count, seed, images.digest)
        base = Path(cache_dir) / spec.stem()
        self.meta_path = base.with_suffix(".json")
        crops_path, feats_path = Path(f"{base}.crops.npy"), Path(f"{base}.relu4_1.npy")
        if not (self.meta_path.is_file() and crops_path.is_file() and feats_path.is_file()):
            base.parent.mkdir(parents=True, exist_ok=True)
            self._build(images, crop, count, encoder, seed, bf16, batch, crops_path, feats_path)
            self.meta_path.write_text(json.dumps({**spec.__dict__, "built_s": round(self.built_s, 1)}) + "\n")
        else:
            self.built_s = float(json.loads(self.meta_path.read_text()).get("built_s", 0.0))
        self.crops = np.load(crops_path, mmap_mode="r")
        self.features = np.load(feats_path, mmap_mode="r")
        self.crop = crop

    def _build(self, images, crop, count, encoder, seed, bf16, batch, crops_path, feats_path) -> None:
        t0 = time.perf_counter()
        gen_state = torch.get_rng_state()
        torch.manual_seed(seed)
        aug = content_augment(crop)
        order = torch.arange(count) % len(images)
        order = order[torch.randperm(count)]
        crops = np.lib.format.open_memmap(crops_path, mode="w+", dtype=np.uint8, shape=(count, 3, crop, crop))
        feats = np.lib.format.open_memmap(feats_path, mode="w+", dtype=np.float16,
                                          shape=(count, 512, crop // 8, crop // 8))
        cursor = [0]

        def make(n: int) -> torch.Tensor:
            idx = order[cursor[0]:cursor[0] + n]
            cursor[0] += n
            return torch.stack([aug(images.images[int(i)]) for i in idx])

        def sink(start: int, x: torch.Tensor, f: dict) -> None:
            crops[start:start + len(x)] = x.numpy()
            feats[start:start + len(x)] = f[ENCODER_LAYER].contiguous().to(torch.float16).numpy()

        _encode_batches(encoder, count, batch, make, sink, (ENCODER_LAYER,), bf16, f"content bank {crop} px")
        crops.flush()
        feats.flush()
        torch.set_rng_state(gen_state)
        self.built_s = time.perf_counter() - t0

    def __len__(self) -> int:
        return self.features.shape[0]

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(crops (B, 3, crop, crop) float in [0, 1], relu4_1 (B, 512, crop/8, crop/8) fp32)``."""
        i = np.sort(idx.numpy())
        return _to_float(torch.from_numpy(self.crops[i])), torch.from_numpy(self.features[i].astype(np.float32))


class StyleBank:
    """Instance statistics of augmented style crops at relu1_1..relu4_1 (or ``layers``).

    A share ``photo_fraction`` of the crops comes from photos instead of
    paintings (the decoder then also learns ordinary textures). Stored as one
    fp32 array (M, 2 * channels): per crop the channel means of relu1_1, relu2_1,
    relu3_1, relu4_1 (then relu5_1 when asked), then their stds; file
    ``<stem>.npy`` + ``<stem>.json``.

    Args:
        paintings: the style paintings in RAM (held-out ones already removed).
        photos: training photos used as styles, or None.
        crop: style crop side, px.
        count: crops in the bank.
        layers: VGG taps whose statistics are kept (keys of :data:`LAYER_CHANNELS`).
        min_scale: the smallest crop area as a share of the painting's (``style_augment``);
            small paintings (the 224 px WikiArt bank) need a larger one than 3 %, or a crop is
            a few blurred pixels blown up.
        quantile_levels: also keep each crop's relu4_1 value distribution as this many
            quantiles per channel (fp16 (M, 512, Q), ``<stem>.relu4_1-q<Q>.npy``), for training
            with EFDM targets; 0 (default): statistics only.
    """

    def __init__(self, paintings: ImageBank, photos: ImageBank | None, crop: int, count: int,
                 photo_fraction: float, encoder: VGG19Features, cache_dir: Path, seed: int = 0,
                 bf16: bool = True, batch: int = 16, layers: Sequence[str] = STATS_LAYERS,
                 min_scale: float = 0.03, quantile_levels: int = 0) -> None:
        self.layers = tuple(layers)
        self.levels = int(quantile_levels)
        unknown = [x for x in self.layers if x not in LAYER_CHANNELS]
        if unknown:
            raise SystemExit(f"stylize-train: no statistics for layer(s) {unknown}; choose from {list(LAYER_CHANNELS)}")
        self.min_scale = float(min_scale)
        digest = paintings.digest + (photos.digest[:6] if photos is not None and photo_fraction > 0 else "")
        extra = f"-p{round(photo_fraction * 100)}"
        if self.layers != tuple(STATS_LAYERS):
            extra += "-" + "".join(x.replace("relu", "").replace("_1", "") for x in self.layers)
        if self.min_scale != 0.03:
            extra += f"-m{round(self.min_scale * 100)}"
        if self.levels:
            extra += f"-q{self.levels}"
        spec = _CacheSpec("style", crop, count, seed, digest, extra)
        base = Path(cache_dir) / spec.stem()
        self.meta_path = base.with_suffix(".json")
        path = Path(f"{base}.stats.npy")
        q_path = Path(f"{base}.{ENCODER_LAYER}-q{self.levels}.npy") if self.levels else None
        if not (self.meta_path.is_file() and path.is_file() and (q_path is None or q_path.is_file())):
            base.parent.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            self._build(paintings, photos, crop, count, photo_fraction, encoder, seed, bf16, batch, path, q_path)
            self.built_s = time.perf_counter() - t0
            self.meta_path.write_text(json.dumps({**spec.__dict__, "built_s": round(self.built_s, 1),
                                                  "paintings": [p.stem for p in paintings.paths]}) + "\n")
        else:
            self.built_s = float(json.loads(self.meta_path.read_text()).get("built_s", 0.0))
        self.stats = torch.from_numpy(np.load(path))
        self.table = np.load(q_path, mmap_mode="r") if q_path is not None else None

    def _build(self, paintings, photos, crop, count, photo_fraction, encoder, seed, bf16, batch, path,
               q_path=None) -> None:
        gen_state = torch.get_rng_state()
        torch.manual_seed(seed + 1)
        aug = style_augment(crop, self.min_scale)
        out = np.zeros((count, 2 * sum(LAYER_CHANNELS[x] for x in self.layers)), dtype=np.float32)
        table = None if q_path is None else np.lib.format.open_memmap(
            q_path, mode="w+", dtype=np.float16, shape=(count, LAYER_CHANNELS[ENCODER_LAYER], self.levels))
        layers = tuple(dict.fromkeys((*self.layers, *((ENCODER_LAYER,) if table is not None else ()))))

        def make(n: int) -> torch.Tensor:
            items = []
            for _ in range(n):
                if photos is not None and float(torch.rand(())) < photo_fraction:
                    img = photos.images[int(torch.randint(len(photos), ()))]
                else:
                    img = paintings.images[int(torch.randint(len(paintings), ()))]
                items.append(aug(img))
            return torch.stack(items)

        def sink(start: int, x: torch.Tensor, f: dict) -> None:
            means, stds = zip(*(mean_std(f[name]) for name in self.layers))
            vec = torch.cat([m.flatten(1) for m in means] + [s.flatten(1) for s in stds], dim=1)
            out[start:start + len(x)] = vec.numpy()
            if table is not None:
                table[start:start + len(x)] = feature_quantiles(f[ENCODER_LAYER], self.levels).to(torch.float16).numpy()

        _encode_batches(encoder, count, batch, make, sink, layers, bf16, f"style bank {crop} px")
        if table is not None:
            table.flush()
        np.save(path, out)
        torch.set_rng_state(gen_state)

    def __len__(self) -> int:
        return self.stats.shape[0]

    def batch(self, idx: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """``{layer: (mean (B, C, 1, 1), std (B, C, 1, 1))}`` for the bank's layers, fp32."""
        return unpack_stats(self.stats[idx], self.layers)

    def quantiles(self, idx: torch.Tensor) -> torch.Tensor:
        """relu4_1 quantile tables (B, 512, Q) fp32 of the crops (:func:`~styletransfer.ops.feature_quantiles`;
        a bank built with ``quantile_levels``), the style side of EFDM.

        Raises:
            ValueError: the bank keeps no quantiles.
        """
        if self.table is None:
            raise ValueError("this style bank keeps no quantile tables (quantile_levels=0)")
        return torch.from_numpy(self.table[idx.numpy()].astype(np.float32))


def unpack_stats(vec: torch.Tensor, layers: Sequence[str] = STATS_LAYERS) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """(B, 2 * channels) statistics vectors (1920 for relu1_1..relu4_1) -> ``{layer: (mean, std)}``,
    each (B, C, 1, 1)."""
    out, offset, half = {}, 0, sum(LAYER_CHANNELS[x] for x in layers)
    for name in layers:
        c = LAYER_CHANNELS[name]
        mu = vec[:, offset:offset + c]
        sd = vec[:, half + offset:half + offset + c]
        out[name] = (mu[..., None, None], sd[..., None, None])
        offset += c
    return out


def crops_per_step_estimate(bank_count: int, batch: int, steps: int) -> float:
    """How often each bank crop is seen over ``steps`` (for the card)."""
    return batch * steps / max(1, bank_count)


def cache_dir_default() -> Path:
    """``runs/cache`` under the current directory (git-ignored)."""
    return Path("runs") / "cache"

