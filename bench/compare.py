"""Before/after speed of a change, measured side by side in one run (issue #5).

Exports the library as it was at ``--before`` (a git ref, via ``git archive``)
into a temporary folder and times the same rows of ``bench/speed.py`` with
that copy and with this checkout, alternating before, after, before, after …
for ``--rounds`` rounds, each row a fresh process. Each round gives a ratio
after/before of the warm medians; the table reports the median over rounds,
so a drift in machine speed during the run moves both sides alike.

Example (the channels-last layers commit)::

    python bench/compare.py --before 591539a~1 --methods adain,johnson --sizes 512,1024

Johnson rows need a net for the Starry Night preset: point
``STYLETRANSFER_CHECKPOINTS`` at a checkpoint folder that has one (the
layers keep their parameter names, so both sides load the same file).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import speed  # noqa: E402
from common import REPO  # noqa: E402


def export_tree(ref: str, dest: Path) -> str:
    """Write the repository at ``ref`` into ``dest``; return the full commit hash."""
    sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", f"{ref}^{{commit}}"],
                         capture_output=True, text=True, check=True).stdout.strip()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", sha], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return sha


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", required=True, help="git ref of the 'before' library (e.g. HEAD~1)")
    p.add_argument("--methods", default="adain,johnson", help="speed.py methods (default adain,johnson)")
    p.add_argument("--sizes", default="512,1024", help="longer sides in px (default 512,1024)")
    p.add_argument("--rounds", type=int, default=3, help="before/after pairs per row (default 3)")
    p.add_argument("--repeats", type=int, default=5, help="warm calls per process (default 5)")
    p.add_argument("--gatys-steps", type=int, default=20)
    p.add_argument("--device", default="cpu")
    p.add_argument("--timeout", type=int, default=1800)
    args = p.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    sizes = [int(s) for s in args.sizes.split(",")]
    row_args = argparse.Namespace(repeats=args.repeats, gatys_steps=args.gatys_steps, device=args.device,
                                  photo=None, timeout=args.timeout)

    with tempfile.TemporaryDirectory(prefix="stylebot-before-") as tmp:
        sha = export_tree(args.before, Path(tmp))
        after_sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                                   text=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "styletransfer"],
                                    capture_output=True, text=True).stdout.strip())
        sides = {"before": {"STYLETRANSFER_SRC": tmp}, "after": {"STYLETRANSFER_SRC": str(REPO)}}
        lines = [
            f"before = {args.before} ({sha[:10]}), after = this checkout ({after_sha[:10]}"
            + (", with uncommitted changes under styletransfer/" if dirty else "") + ")",
            "",
            "| method | size (px) | before warm s | after warm s | after/before (median of rounds) | per-round ratios "
            "| peak MB before → after |",
            "|---|---|---|---|---|---|---|",
        ]
        for size in sizes:
            for method in methods:
                got: dict[str, list[dict]] = {"before": [], "after": []}
                for r in range(args.rounds):
                    for side, env in sides.items():
                        row = speed.run_row(method, size, row_args, env=env)
                        got[side].append(row)
                        brief = row.get("na") or f"warm {row['warm_s']:.3f} s ({row.get('library')})"
                        print(f"{method} @ {size} round {r + 1} {side}: {brief}", file=sys.stderr, flush=True)
                ok = [(b, a) for b, a in zip(got["before"], got["after"]) if "warm_s" in b and "warm_s" in a]
                if not ok:
                    na = (got["after"] + got["before"])[0].get("na", "n/a")
                    lines.append(f"| {speed.METHODS[method]} | {size} | {na} | | | | |")
                    continue
                ratios = [a["warm_s"] / b["warm_s"] for b, a in ok]
                before = statistics.median(b["warm_s"] for b, _ in ok)
                after = statistics.median(a["warm_s"] for _, a in ok)
                peak_b = statistics.median(b["peak_mb"] for b, _ in ok)
                peak_a = statistics.median(a["peak_mb"] for _, a in ok)
                lines.append(
                    f"| {speed.METHODS[method]} | {size} ({ok[0][1]['image'][0]}×{ok[0][1]['image'][1]}) | "
                    f"{before:.3f} | {after:.3f} | **{statistics.median(ratios):.2f}×** | "
                    f"{', '.join(f'{x:.2f}' for x in ratios)} | {peak_b:.0f} → {peak_a:.0f} |"
                )
    lines.append("")
    lines.append(f"< 1: the change made it faster. {os.cpu_count()} CPUs; warm = median of {args.repeats} calls "
                 "after the first, in a fresh process per side and round.")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
