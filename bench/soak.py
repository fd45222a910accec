"""Soak run (issue #15): many mixed jobs through the real bot and its inference
process against the fake Bot API, watching memory and bookkeeping.

``--users`` users (default 20) each run ``--jobs / --users`` jobs one after the
other: a photo (sizes vary; every third one sent as a file, so the PNG comes
back as a document too), a preset, a method cycling through the offered ones
(Gatys with ``--gatys-steps``), the result, a rating, and now and then a
re-run (Weaker / Keep my colours). Every fifth user sends /forget at the end.
Meanwhile the inference process's RSS (``/proc/<pid>/status`` VmRSS) and the
bot process's are sampled every ``--sample-s`` seconds.

Checked at the end (each line PASS/FAIL):

* every job got exactly one outcome: one result (photo) or one failure message;
  0 lost, 0 duplicated;
* every job row is in a final state (done, failed, cancelled);
* no job folder is left in DATA_DIR/jobs, forgotten users have no files and no
  rows, and every remaining user file is referenced by their session;
* inference RSS plateaus: the mean of the last quarter of samples is within
  ``--rss-growth`` (default 10 %) of the second quarter's.

The RSS curve is saved as a PNG (``--plot``, matplotlib) for bench/RESULTS.md.

Example::

    python bench/soak.py --jobs 200 --users 20 --max-side 256 --gatys-steps 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PIL import Image  # noqa: E402

from bot import texts  # noqa: E402
from tests.bot_runner import serving_stylebot  # noqa: E402
from tests.fake_telegram import FakeTelegram  # noqa: E402

DEFAULT_EVAL_DIR = REPO.parent / "shared" / "data" / "eval" / "content"
SAMPLE = REPO / "styletransfer" / "samples" / "tubingen.jpg"
FAILED_PREFIX = texts.FAILED_STATUS.split("{")[0]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=200)
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--max-side", type=int, default=256)
    p.add_argument("--gatys-steps", type=int, default=10)
    p.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL_DIR)
    p.add_argument("--sample-s", type=float, default=1.0)
    p.add_argument("--rss-growth", type=float, default=0.10)
    p.add_argument("--timeout", type=float, default=600.0, help="seconds a user waits for one result")
    p.add_argument("--plot", type=Path, default=REPO / "bench" / "soak_rss.png")
    return p.parse_args(argv)


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def inference_pid() -> int | None:
    me = os.getpid()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me:
            cmd = (stat.parent / "cmdline").read_bytes()
            if b"spawn_main" in cmd:  # not the resource tracker
                return int(stat.parent.name)
    return None


def _photo(path: Path, side: int) -> bytes:
    img = Image.open(path).convert("RGB")
    img.thumbnail((side, side))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _data(menu, prefix: str) -> list[str]:
    return [b["callback_data"] for row in menu.buttons for b in row if b.get("callback_data", "").startswith(prefix)]


async def _outcome(user, since: int, timeout: float) -> str:
    """'photo' or 'failed' for the next job outcome after message ``since``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        news = [m for m in user.messages if m.seq > since]
        if any(m.photo and m.buttons for m in news):
            return "photo"
        if any(m.text.startswith(FAILED_PREFIX) for m in news):
            return "failed"
        await asyncio.sleep(0.05)
    return "lost"


async def one_user(tg, index: int, photos: list[Path], jobs: int, args, log: list[dict]) -> None:
    user = tg.user(70_000 + index, f"Soak{index}")
    for j in range(jobs):
        rec = {"user": user.id, "n": j}
        log.append(rec)
        side = (160, 320, 640, 1200)[(index + j) % 4]
        data = _photo(photos[(index + j) % len(photos)], side)
        kind = "rerun" if j % 5 == 4 else "new"
        since = user.mark
        if kind == "rerun":
            result = next((m for m in reversed(user.messages) if m.photo and m.buttons), None)
            if result is None:
                kind = "new"
            else:
                label = texts.WEAKER_BUTTON if j % 2 else texts.KEEP_COLORS_BUTTON
                answer = await user.click(result, label, timeout=60)
                if answer.text:  # e.g. already the weakest: make a new one instead
                    kind = "new"
        if kind == "new":
            if (index + j) % 3 == 0:
                await user.send_document(data, f"photo{j}.jpg", "image/jpeg")
            else:
                await user.send_photo(data)
            menu = await user.wait_for(lambda m: _data(m, "st:"), timeout=120)
            styles = [d for d in _data(menu, "st:") if not d.endswith("own")]
            await user.click(menu, data=styles[(index * 7 + j) % len(styles)], timeout=60)
            methods = await user.wait_for(lambda m: _data(m, "me:"), timeout=120)
            offered = _data(methods, "me:")
            choice = offered[(index + j) % len(offered)]
            rec["method"] = choice.rsplit(":", 1)[-1]
            await user.click(methods, data=choice, timeout=60)
        rec["kind"] = kind
        rec["outcome"] = await _outcome(user, since, args.timeout)
        if rec["outcome"] == "photo":
            result = [m for m in user.messages if m.seq > since and m.photo and m.buttons][-1]
            await user.click(result, str(1 + (index + j) % 10), timeout=60)
    await asyncio.sleep(1.0)
    if index % 5 == 0:
        await user.send("/forget")
        confirm = await user.wait_for(lambda m: m.buttons and m.text == texts.FORGET_CONFIRM, timeout=60)
        await user.click(confirm, texts.YES_BUTTON, timeout=60)
        await user.wait_for_text(texts.FORGOTTEN, timeout=60)


async def sampler(samples: list[tuple[float, float | None, float | None]], stop: asyncio.Event, every: float):
    t0 = time.monotonic()
    while not stop.is_set():
        pid = inference_pid()
        samples.append((time.monotonic() - t0, rss_mb(pid) if pid else None, rss_mb(os.getpid())))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


def plot(samples, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s[0] for s in samples]
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=100)
    ax.plot(t, [s[1] or float("nan") for s in samples], label="inference process")
    ax.plot(t, [s[2] or float("nan") for s in samples], label="bot process")
    ax.set_xlabel("seconds")
    ax.set_ylabel("RSS, MB")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


async def run(args) -> int:
    photos = sorted(p for p in args.eval_dir.glob("*.jpg")) if args.eval_dir.is_dir() else [SAMPLE]
    per_user = max(1, args.jobs // args.users)
    log: list[dict] = []
    samples: list = []
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        work = Path(tmp)
        async with FakeTelegram() as tg, serving_stylebot(
                tg, work, max_side=args.max_side, gatys_steps=args.gatys_steps, progress_interval_s=1.0,
                max_queue=max(50, args.users * 2), log_level="WARNING", rate_limit=False):
            stop = asyncio.Event()
            watch = asyncio.create_task(sampler(samples, stop, args.sample_s))
            t0 = time.perf_counter()
            results = await asyncio.gather(*(one_user(tg, i, photos, per_user, args, log)
                                             for i in range(args.users)), return_exceptions=True)
            wall = time.perf_counter() - t0
            await asyncio.sleep(2.0)
            stop.set()
            await watch
            users = {u.id: u for u in tg.users.values()} if isinstance(tg.users, dict) else {}
            received = {uid: len([m for m in u.messages if m.photo and m.buttons]) for uid, u in users.items()}
        db = sqlite3.connect(work / "bot.db")
        statuses = dict(db.execute("SELECT status, count(*) FROM jobs GROUP BY status").fetchall())
        sessions = db.execute("SELECT user_id, content_path, style_path FROM sessions").fetchall()
        known = {r[0] for r in db.execute("SELECT id FROM users").fetchall()}
        db.close()
        jobs_left = list((work / "data" / "jobs").iterdir()) if (work / "data" / "jobs").is_dir() else []
        referenced = {p for _, c, s in sessions for p in (c, s) if p}
        files = [p for p in (work / "data" / "users").rglob("*") if p.is_file()] \
            if (work / "data" / "users").is_dir() else []
        orphans = [str(p) for p in files if str(p) not in referenced]
    errors = [r for r in results if isinstance(r, BaseException)]
    forgotten = {70_000 + i for i in range(args.users) if i % 5 == 0}
    lost = [r for r in log if r.get("outcome") == "lost"]
    failed = [r for r in log if r.get("outcome") == "failed"]
    done = len([r for r in log if r.get("outcome") == "photo"])
    expected = {}
    for r in log:
        if r.get("outcome") == "photo":
            expected[r["user"]] = expected.get(r["user"], 0) + 1
    dup = {uid: (received.get(uid), n) for uid, n in expected.items() if received.get(uid, n) > n}
    inf = [s[1] for s in samples if s[1]]
    q = max(1, len(inf) // 4)
    second, last = inf[q:2 * q], inf[-q:]
    growth = (sum(last) / len(last)) / (sum(second) / len(second)) - 1 if second and last else float("nan")

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    lines = [f"# soak: {len(log)} jobs from {args.users} users, MAX_SIDE {args.max_side}, Gatys {args.gatys_steps} "
             f"steps, wall {wall:.0f} s", "",
             f"- outcomes: {done} results, {len(failed)} failures reported, {len(lost)} lost "
             f"{verdict(not lost and not errors)} (target 0 lost)",
             f"- duplicated results: {len(dup)} {verdict(not dup)} (target 0)",
             f"- job rows by status at the end: {statuses} "
             f"{verdict(set(statuses) <= {'done', 'failed', 'cancelled'})} (all final)",
             f"- job folders left in DATA_DIR/jobs: {len(jobs_left)} {verdict(not jobs_left)}",
             f"- forgotten users still known: {len(forgotten & known)} {verdict(not forgotten & known)}; "
             f"user files not referenced by a session: {len(orphans)} {verdict(not orphans)}",
             f"- inference RSS: first {inf[0] if inf else float('nan'):.0f} MB, max {max(inf) if inf else 0:.0f} MB, "
             f"second-quarter mean {sum(second) / max(1, len(second)):.0f} MB -> last-quarter mean "
             f"{sum(last) / max(1, len(last)):.0f} MB ({100 * growth:+.1f} %) "
             f"{verdict(growth <= args.rss_growth)} (plateau: within {100 * args.rss_growth:.0f} %)"]
    methods: dict[str, int] = {}
    for r in log:
        methods[r.get("method", "rerun")] = methods.get(r.get("method", "rerun"), 0) + 1
    lines.append(f"- job mix: {methods}; re-runs: {sum(1 for r in log if r.get('kind') == 'rerun')}")
    for exc in errors:
        lines.append(f"- user task error: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    if samples and args.plot:
        plot(samples, args.plot, f"soak: {len(log)} jobs, RSS every {args.sample_s:g} s")
        lines.append(f"- RSS curve: {args.plot.relative_to(REPO) if args.plot.is_relative_to(REPO) else args.plot}")
    print("\n".join(lines))
    ok = not lost and not errors and not dup and not jobs_left and not orphans and growth <= args.rss_growth
    return 0 if ok else 1


def main(argv=None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
