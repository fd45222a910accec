"""The resumable training loop shared by both trainers.

* A training state (weights, Adam state, step, RNG states, loss history, best
  grid score; fp32) is written to ``runs/<name>.train-state.pt`` every
  ``--checkpoint-every`` steps and on SIGTERM/Ctrl-C; ``--resume`` continues
  from it (``--steps`` is the total to reach).
* With an evaluation grid, the run scores itself every ``--eval-every``
  minutes of training and at the end, and exports the fp16 ``.safetensors``
  + JSON card to ``--out`` only when the grid improved (the same file is
  overwritten; the latest weights also go to ``runs/`` beside the state).
  Without a grid, every state write also exports.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from tqdm import tqdm

from ..checkpoints import load_checkpoint, save_checkpoint, sha256_file

__all__ = ["Recipe", "run", "default_state_path", "repo_relative", "REPO"]

REPO = Path(__file__).resolve().parents[2]


def repo_relative(path: str | os.PathLike) -> str:
    """``path`` relative to the repository root (e.g. ``../shared/data/train/content``)."""
    return os.path.relpath(Path(path).resolve(), REPO)


@dataclass
class Recipe:
    """What a trainer hands the loop.

    Attributes:
        method: "adain" or "johnson".
        model: the trainable network (its ``state_dict`` is exported).
        step: ``step(i) -> {name: scalar tensor}`` computes the loss parts of
            training step ``i`` (it samples its own batch).
        weights: ``weights(i) -> {name: weight}``: the parts that enter the
            total at step ``i`` (other parts are only logged).
        evaluate: ``evaluate() -> {"score": float, ...}`` on the fixed grid,
            lower is better; None for no grid.
        card: extra card fields.
        phase: extra fields of this run's phase record.
        adapt: maps a parent's state dict onto ``model`` (e.g. fewer residual blocks); None: as is.
        lr_scale: ``{parameter name prefix: factor}``: those parameters learn at ``--lr`` times
            the factor (e.g. a new layer added to a trained net); the rest at ``--lr``.
    """

    method: str
    model: nn.Module
    step: Callable[[int], dict[str, torch.Tensor]]
    weights: Callable[[int], dict[str, float]]
    evaluate: Callable[[], dict] | None = None
    card: dict = field(default_factory=dict)
    phase: dict = field(default_factory=dict)
    adapt: Callable[[dict], dict] | None = None
    lr_scale: dict[str, float] = field(default_factory=dict)


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


def _param_groups(model: nn.Module, lr: float, lr_scale: dict[str, float]) -> list[dict]:
    """Adam parameter groups: one at ``lr``, then one per ``lr_scale`` prefix (fixed order, so
    a resumed optimiser state lines up)."""
    groups: dict[str, list] = {"": [], **{prefix: [] for prefix in lr_scale}}
    for name, param in model.named_parameters():
        groups[next((p for p in lr_scale if name.startswith(p)), "")].append(param)
    return [{"params": params, "lr": lr * lr_scale.get(prefix, 1.0), "lr_scale": lr_scale.get(prefix, 1.0)}
            for prefix, params in groups.items()]


def run(args: argparse.Namespace, recipe: Recipe) -> int:
    """Train ``recipe.model`` to ``args.steps`` total steps; see the module docstring."""
    model, method = recipe.model, recipe.method
    device = next(model.parameters()).device
    out = Path(args.out)
    state_path = Path(args.state) if args.state else default_state_path(out)
    latest = state_path.with_name(state_path.name.replace(".train-state.pt", "") + ".latest.safetensors")
    threads = torch.get_num_threads()
    opt = torch.optim.Adam(_param_groups(model, args.lr, recipe.lr_scale), lr=args.lr)
    step, wall, cpu_s, phases = 0, 0.0, 0.0, []
    best: dict = {"score": float("inf")}
    evals: list[dict] = []
    history: dict[str, deque] = {}
    parent: dict | None = None
    if args.resume:
        if not state_path.is_file():
            raise SystemExit(f"stylize-train: --resume but no training state at {state_path}")
        st = torch.load(state_path, map_location="cpu", weights_only=False)
        if st.get("method") != method:
            raise SystemExit(f"stylize-train: {state_path} holds a {st.get('method')} run, not {method}")
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        step, wall, phases = st["step"], st.get("wall_s", 0.0), st.get("phases", [])
        cpu_s = st.get("cpu_s", wall * 2)
        best, evals, parent = st.get("best", best), st.get("evals", []), st.get("parent")
        for k, vals in st.get("history", {}).items():
            history.setdefault(k, deque(maxlen=100)).extend(vals)
        _set_rng_state(st["rng"])
        tqdm.write(f"resumed {method} from {state_path} at step {step}")
    else:
        torch.manual_seed(args.seed)
        random.seed(args.seed)
        init = getattr(args, "init_weights", None)
        finetune = getattr(args, "finetune_from", None)
        if init or finetune:
            weights_sd, init_card = load_checkpoint(init or finetune)
            model.load_state_dict(recipe.adapt(weights_sd) if recipe.adapt else weights_sd)
        if init:
            # Warm start from exported fp16 weights (e.g. a committed export whose training
            # state is gone): fresh optimiser; the step count, phases and best grid carry on.
            step = int(init_card.get("steps", 0))
            wall = float(init_card.get("wall_time_s", 0.0))
            cpu_s = float(init_card.get("cpu_hours", wall * 2 / 3600)) * 3600
            phases = list(init_card.get("phases", []))
            parent = init_card.get("finetuned_from")
            if "grid" in init_card and "grid_score" in init_card:
                best = {"score": float(init_card["grid_score"]), "grid": init_card["grid"], "step": step}
            evals = list(init_card.get("evals", []))
            tqdm.write(f"initialised {method} from {init} (step {step}, fresh optimiser)")
        elif finetune:
            # A new net for another style, started from a trained one (fewer steps than from scratch).
            parent = {"file": repo_relative(finetune), "sha256": sha256_file(finetune),
                      "steps": init_card.get("steps"), "style": init_card.get("style_image")}
            tqdm.write(f"fine-tuning {method} from {finetune} ({init_card.get('steps')} steps)")
    if best.get("grid") and not _same_grid(best["grid"], recipe.card):
        # scored on other paintings (e.g. the held-out set changed): not comparable, start afresh
        tqdm.write(f"the best grid so far (score {best['score']:.4f}) was scored on other styles; "
                   "the next grid sets the bar")
        best = {"score": float("inf")}
    model.to(device)
    phases.append({"from_step": step, "crop": args.crop, "batch": args.batch, "lr": args.lr, "bf16": args.bf16,
                   "threads": threads, **recipe.phase})

    def card(extra: dict) -> dict:
        return {
            "method": method,
            "steps": step,
            "crop": args.crop,
            "batch": args.batch,
            "lr": args.lr,
            "lr_decay": args.lr_decay,
            "loss_weights": recipe.weights(step),
            "recent_mean_losses": {k: (sum(v) / len(v) if v else None) for k, v in history.items()},
            "recent_window": len(history.get("total", ())),
            "phases": phases,
            "device": str(device),
            "bf16": args.bf16,
            "wall_time_s": round(wall, 1),
            "cpu_hours": round(cpu_s / 3600, 5),
            "s_per_step_last_phase": round((wall - phase_wall0) / max(1, step - phase_step0), 3),
            "torch_version": torch.__version__,
            "command_line": " ".join(["stylize-train", *sys.argv[1:]]) if args.argv is None else args.argv,
            "finetuned_from": parent,
            "evals": evals[-20:],
            **recipe.card,
            **extra,
        }

    def save_state(reason: str) -> None:
        state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = state_path.with_name(state_path.name + ".tmp")
        torch.save(
            {
                "method": method, "model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                "wall_s": wall, "cpu_s": cpu_s, "phases": phases, "rng": _rng_state(), "best": best,
                "evals": evals, "parent": parent, "history": {k: list(v) for k, v in history.items()},
            },
            tmp,
        )
        os.replace(tmp, state_path)
        target = out if recipe.evaluate is None else latest
        save_checkpoint(model.state_dict(), target, card({"saved_because": reason}))

    def evaluate(reason: str) -> None:
        nonlocal best
        model.eval()
        try:
            scores = recipe.evaluate()
        finally:
            model.train()
        scores = {"step": step, "cpu_hours": round(cpu_s / 3600, 5), **scores}
        evals.append(scores)
        improved = scores["score"] < best["score"]
        tqdm.write(f"grid at step {step}: " + _brief(scores) + ("  (best so far: exported)" if improved else
                                                                f"  (best {best['score']:.4f} at step {best.get('step')})"))
        if improved:
            best = {"score": scores["score"], "grid": scores, "step": step}
            save_checkpoint(model.state_dict(), out, card({"saved_because": f"grid improved ({reason})",
                                                           "grid": scores, "grid_score": scores["score"]}))

    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16)
    model.train()
    pbar = tqdm(total=args.steps, initial=step, desc=method, dynamic_ncols=True, disable=args.quiet)
    reason = "finished"
    phase_wall0, phase_step0 = wall, step
    eval_every_s = float(getattr(args, "eval_every", 0) or 0) * 60
    last_eval_wall = wall
    with _Stop() as stop:
        try:
            while step < args.steps:
                if stop.requested:
                    reason = "SIGTERM"
                    break
                t0 = time.perf_counter()
                # learning-rate decay of the AdaIN reference implementation
                lr = args.lr / (1.0 + args.lr_decay * step)
                for g in opt.param_groups:
                    g["lr"] = lr * g.get("lr_scale", 1.0)
                with amp:
                    parts = recipe.step(step)
                weights = recipe.weights(step)
                total = sum(weights[k] * parts[k].float() for k in weights if k in parts)
                if not torch.isfinite(total):
                    raise FloatingPointError(f"loss became {total.item()} at step {step}")
                opt.zero_grad(set_to_none=True)
                total.backward()
                opt.step()
                step += 1
                dt = time.perf_counter() - t0
                wall += dt
                cpu_s += dt * threads
                for k, v in parts.items():
                    history.setdefault(k, deque(maxlen=100)).append(float(v.detach()))
                history.setdefault("total", deque(maxlen=100)).append(float(total.detach()))
                pbar.update(1)
                pbar.set_postfix({k: f"{float(parts[k].detach()):.3g}" for k in weights if k in parts} | {"s/step": f"{dt:.2f}"},
                                 refresh=False)
                if args.checkpoint_every and step % args.checkpoint_every == 0:
                    save_state(f"every {args.checkpoint_every} steps")
                    tqdm.write(
                        f"step {step}: " + ", ".join(f"{k}={sum(v) / len(v):.4g}" for k, v in history.items() if v)
                        + f"; {(wall - phase_wall0) / max(1, step - phase_step0):.3f} s/step"
                    )
                if recipe.evaluate is not None and eval_every_s and wall - last_eval_wall >= eval_every_s:
                    evaluate(f"every {args.eval_every:g} min")
                    last_eval_wall = wall
        except KeyboardInterrupt:
            reason = "interrupted"
        finally:
            pbar.close()
            save_state(reason)
            if recipe.evaluate is not None and not getattr(args, "no_final_eval", False) \
                    and (not evals or evals[-1]["step"] != step):
                evaluate("end of run")
                save_state(reason)  # again, so that --resume knows this grid and its best score
    print(f"stylize-train: {method} stopped at step {step} ({reason}); best weights {out} "
          f"(step {best.get('step', step)}), latest {latest if recipe.evaluate else out}, state {state_path}")
    return 0


def _same_grid(grid: dict, card: dict) -> bool:
    """Whether a stored grid scored the held-out styles this run scores (AdaIN's ``heldout``
    group against the recipe card's ``heldout_styles``; other recipes: always)."""
    held = card.get("heldout_styles")
    if held is None or "heldout" not in grid:
        return True
    return set(grid["heldout"].get("per_style", {})) == set(held)


def _brief(scores: dict) -> str:
    parts = []
    for g, v in scores.items():
        if isinstance(v, dict) and "style" in v:
            parts.append(f"{g} content {v['content']:.3f} style {v['style']:.3f}")
    return "; ".join(parts) + f"; score {scores['score']:.4f} ({scores.get('seconds', 0):.0f} s)"
