"""Bot load test (issue #5): N simulated users against the real stylebot.

The real bot (``bot.__main__.serve``, its separate inference process
included) talks to the fake Telegram Bot API server of
``tests/fake_telegram.py`` on localhost. Each of ``--users`` users (default
20) sends an eval photo at the same moment, picks a preset from the style
keyboard and a method from the method keyboard (methods cycle through
``--methods`` among those the bot offers, so the mix is known), then waits
for the result photo. Meanwhile a separate user sends ``/help`` every
``--help-interval`` seconds as long as jobs are outstanding.

Reported: end-to-end latency per method (method click -> result photo, and
photo sent -> result photo), p50/p95; jobs lost (no result and no failure
message before ``--timeout``; must be 0); duplicated replies (more than one
result photo for one job; must be 0); failed jobs (the bot said the job
failed); ``/help`` reply latency while the queue is non-empty (p95 target
< 200 ms).

With ``--workers 1,2`` the same load runs once per worker count in the scale-out mode
instead: a throwaway PostgreSQL cluster (Debian's packages), the bot with WORKERS=0 and that
many ``stylebot-worker`` processes (``--worker-threads`` torch threads each, worker i pinned
to core i), and a last table puts jobs per minute and p95 latency side by side.

Example::

    python bench/bot_load.py --users 20 --max-side 256 --gatys-steps 20
    python bench/bot_load.py --users 12 --methods johnson --max-side 512 --workers 1,2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot import texts  # noqa: E402
from tests.bot_runner import serving_stylebot  # noqa: E402
from tests.fake_telegram import FakeTelegram  # noqa: E402

DEFAULT_EVAL_DIR = REPO.parent / "shared" / "data" / "eval" / "content"
FAILED_PREFIX = texts.FAILED_STATUS.split("{")[0]  # the status line the bot shows for a failed job


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--methods", default="adain,johnson,gatys", help="methods the users cycle through")
    p.add_argument("--max-side", type=int, default=256, help="bot setting MAX_SIDE (result size, px)")
    p.add_argument("--gatys-steps", type=int, default=20, help="bot setting GATYS_STEPS")
    p.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL_DIR)
    p.add_argument("--timeout", type=float, default=900.0, help="seconds a user waits for the result")
    p.add_argument("--help-interval", type=float, default=0.5)
    p.add_argument("--max-queued-per-user", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--workers", default="", help="comma-separated worker counts: scale-out runs on PostgreSQL")
    p.add_argument("--worker-threads", type=int, default=1, help="torch threads per stylebot-worker")
    return p.parse_args(argv)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    if len(values) == 1:
        return values[0]
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def running_bot(tg: FakeTelegram, workdir: Path, args, **extra):
    return serving_stylebot(
        tg, workdir, max_side=args.max_side, gatys_steps=args.gatys_steps, progress_interval_s=1.0,
        device=args.device, max_queue=max(50, args.users * 2), max_queued_per_user=args.max_queued_per_user,
        log_level="WARNING", **extra,
    )


def _button_data(menu, prefix: str) -> list[str]:
    return [b["callback_data"] for row in menu.buttons for b in row if b.get("callback_data", "").startswith(prefix)]


async def one_user(tg: FakeTelegram, index: int, photo: Path, want: str, args, record: dict) -> None:
    user = tg.user(50_000 + index, f"User{index}")
    rec = record.setdefault(user.id, {"wanted": want, "photo": photo.stem})
    t_photo = time.perf_counter()
    await user.send_photo(photo)
    menu = await user.wait_for(lambda m: _button_data(m, "st:"), timeout=120)
    styles = [d for d in _button_data(menu, "st:") if not d.endswith("own")]
    style = styles[index % len(styles)]
    rec["preset"] = style.rsplit(":", 1)[-1]
    await user.click(menu, data=style, timeout=60)
    methods_menu = await user.wait_for(lambda m: _button_data(m, "me:"), timeout=120)
    offered = {d.rsplit(":", 1)[-1]: d for d in _button_data(methods_menu, "me:")}
    method = want if want in offered else next(iter(offered))
    rec["method"] = method
    t_click = time.perf_counter()
    rec["clicked"] = True
    await user.click(methods_menu, data=offered[method], timeout=60)
    since = user.mark
    deadline = time.perf_counter() + args.timeout
    while time.perf_counter() < deadline:
        photos = [m for m in user.messages if m.seq > since and m.photo and not m.media_group_id]
        failed = [m for m in user.messages if m.seq > since and m.text.startswith(FAILED_PREFIX)]
        if photos:
            rec["latency_click"] = time.perf_counter() - t_click
            rec["latency_photo"] = time.perf_counter() - t_photo
            break
        if failed:
            rec["failed"] = failed[0].text[:200]
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(2.0)  # let a duplicate show up if there is one
    rec["result_photos"] = len([m for m in user.messages if m.seq > since and m.photo and not m.media_group_id])


async def help_prober(tg: FakeTelegram, outstanding, args, samples: list[tuple[float, int]], stop: asyncio.Event):
    prober = tg.user(49_999, "Prober")
    await asyncio.sleep(1.0)
    while not stop.is_set():
        busy = outstanding()
        t0 = time.perf_counter()
        await prober.send("/help")
        try:
            await prober.wait_for(lambda m: m.text, timeout=30)
            samples.append((time.perf_counter() - t0, busy))
        except AssertionError:
            samples.append((float("inf"), busy))
        await asyncio.sleep(args.help_interval)


async def run(args, database_url: str | None = None, n_workers: int = 0, summary: list | None = None) -> int:
    photos = sorted(p for p in args.eval_dir.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    wanted = [m.strip() for m in args.methods.split(",") if m.strip()]
    record: dict[int, dict] = {}
    help_samples: list[tuple[float, int]] = []
    with tempfile.TemporaryDirectory(prefix="bot_load_") as tmp:
        scale_out = contextlib.AsyncExitStack()
        extra: dict = {}
        if database_url is not None:
            from tests.workers import HEARTBEAT_S, workers

            await scale_out.enter_async_context(workers(database_url, Path(tmp), n_workers, args.worker_threads,
                                                        pin=True))
            extra = dict(database_url=database_url, workers=0, worker_heartbeat_s=HEARTBEAT_S)
        async with scale_out, FakeTelegram() as tg, running_bot(tg, Path(tmp) / "bot", args, **extra):
            t0 = time.perf_counter()
            stop = asyncio.Event()

            def outstanding() -> int:
                return sum(1 for r in record.values() if r.get("clicked") and "latency_click" not in r
                           and "failed" not in r)

            prober = asyncio.create_task(help_prober(tg, outstanding, args, help_samples, stop))
            users = [one_user(tg, i, photos[i % len(photos)], wanted[i % len(wanted)], args, record)
                     for i in range(args.users)]
            results = await asyncio.gather(*users, return_exceptions=True)
            stop.set()
            await prober
            total = time.perf_counter() - t0
    errors = [r for r in results if isinstance(r, BaseException)]
    mode = f"scale-out, {n_workers} stylebot-worker(s) x {args.worker_threads} thread(s)" if database_url \
        else "embedded inference process"
    print(f"# bot load: {args.users} users, max_side {args.max_side}, gatys_steps {args.gatys_steps}, "
          f"device {args.device}, {mode}, wall {total:.1f} s\n")
    print("| method | jobs | done | failed | p50 click→result s | p95 click→result s | p50 photo→result s | p95 photo→result s |")
    print("|---|---|---|---|---|---|---|---|")
    for method in sorted({r.get("method", "?") for r in record.values()}):
        recs = [r for r in record.values() if r.get("method", "?") == method]
        lat = [r["latency_click"] for r in recs if "latency_click" in r]
        lat2 = [r["latency_photo"] for r in recs if "latency_photo" in r]
        failed = sum(1 for r in recs if "failed" in r)
        cells = [f"{pct(lat, .5):.1f}", f"{pct(lat, .95):.1f}", f"{pct(lat2, .5):.1f}", f"{pct(lat2, .95):.1f}"] if lat else ["–"] * 4
        print(f"| {method} | {len(recs)} | {len(lat)} | {failed} | " + " | ".join(cells) + " |")
    lost = [uid for uid, r in record.items() if "latency_click" not in r and "failed" not in r]
    dup = [uid for uid, r in record.items() if r.get("result_photos", 0) > 1]
    substituted = [uid for uid, r in record.items() if r.get("method") and r["method"] != r["wanted"]]
    print()
    print(f"- jobs lost (no result, no failure message within {args.timeout:.0f} s): {len(lost)} "
          f"{'PASS' if not lost and not errors else 'FAIL'} (target 0)")
    print(f"- duplicated result photos: {len(dup)} {'PASS' if not dup else 'FAIL'} (target 0)")
    print(f"- failed jobs (the bot reported a failure): {sum(1 for r in record.values() if 'failed' in r)}")
    if substituted:
        print(f"- {len(substituted)} users wanted a method the bot did not offer (no checkpoint) and took "
              f"{sorted({record[u]['method'] for u in substituted})} instead")
    busy = [s for s, n in help_samples if n > 0]
    if busy:
        p95 = pct(busy, .95)
        print(f"- /help latency while jobs were queued: n={len(busy)}, p50 {1000 * pct(busy, .5):.1f} ms, "
              f"p95 {1000 * p95:.1f} ms, max {1000 * max(busy):.0f} ms "
              f"{'PASS' if p95 < 0.2 else 'FAIL'} (target p95 < 200 ms)")
    else:
        print("- /help latency: no samples taken while jobs were queued")
    for exc in errors:
        print(f"- user task error: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    if summary is not None:
        lat = [r["latency_click"] for r in record.values() if "latency_click" in r]
        summary.append({"workers": n_workers, "done": len(lat), "wall": total, "lost": len(lost), "dup": len(dup),
                        "p50": pct(lat, .5) if lat else float("nan"), "p95": pct(lat, .95) if lat else float("nan")})
    print(flush=True)
    return 0 if not lost and not dup and not errors else 1


async def run_workers(args) -> int:
    """The same load once per worker count, on a throwaway PostgreSQL cluster."""
    import uuid

    from tests.pg import create_database, throwaway_cluster

    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    summary: list[dict] = []
    status = 0
    with throwaway_cluster() as server:
        for n in counts:
            url = await create_database(server, f"bench_{uuid.uuid4().hex[:8]}")
            status |= await run(args, url, n, summary)
    print("# side by side (scale-out, the same load)\n")
    print("| workers | jobs done | wall s | jobs/min | p50 click→result s | p95 click→result s | lost | duplicated |")
    print("|---|---|---|---|---|---|---|---|")
    for row in summary:
        print(f"| {row['workers']} | {row['done']} | {row['wall']:.1f} | {60 * row['done'] / row['wall']:.1f} | "
              f"{row['p50']:.1f} | {row['p95']:.1f} | {row['lost']} | {row['dup']} |")
    if len(summary) > 1:
        base = summary[0]["done"] / summary[0]["wall"]
        for row in summary[1:]:
            print(f"\n- {row['workers']} workers: {row['done'] / row['wall'] / base:.2f}x the jobs per minute of "
                  f"{summary[0]['workers']}")
    return status


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.workers:
        return asyncio.run(run_workers(args))
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
