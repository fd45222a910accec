"""``/dashboard``: the operator's page on the bot's HTTP server.

Allowed only with ``DASHBOARD_TOKEN`` (``Authorization: Bearer <token>`` or
``?token=<token>``, compared in constant time); a wrong or missing token gets 403,
and without the setting there is no page at all (404). It shows the queue, the
inference process, jobs per hour by method and outcome, and the ratings chart —
never a user's picture. Rendered with Jinja2; the charts are PNGs (matplotlib,
in a thread) inlined as data URIs; no JavaScript.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import io
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

from aiohttp import web

__all__ = ["add_dashboard"]

OUTCOMES = ("done", "failed", "cancelled", "running", "queued")
_TEMPLATES = Path(__file__).with_name("templates")


def _env():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html"]))


def _jobs_chart(hours: list[datetime], counts: dict[tuple[datetime, str], Counter]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 2.8), dpi=100)
    ax = fig.subplots()
    methods = sorted({m for (_, m) in counts})
    bottom = [0] * len(hours)
    colors = {"adain": "#4c72b0", "johnson": "#55a868", "gatys": "#c44e52"}
    for method in methods:
        done = [counts.get((h, method), Counter())["done"] for h in hours]
        other = [sum(counts.get((h, method), Counter()).values()) - d for h, d in zip(hours, done)]
        ax.bar(range(len(hours)), done, bottom=bottom, color=colors.get(method, "#8172b2"), label=f"{method} done")
        bottom = [b + d for b, d in zip(bottom, done)]
        ax.bar(range(len(hours)), other, bottom=bottom, color=colors.get(method, "#8172b2"), alpha=0.35,
               hatch="//", label=f"{method} failed/cancelled/open")
        bottom = [b + o for b, o in zip(bottom, other)]
    ax.set_xticks(range(0, len(hours), 3), [h.strftime("%H:00") for h in hours][::3], fontsize=7)
    ax.set_ylabel("jobs", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    if methods:
        ax.legend(fontsize=7, ncols=2)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode()


async def _context(application) -> dict:
    from .. import texts
    from .charts import stats_chart
    from ..context import KEY

    svc = application.bot_data[KEY]
    store, scheduler = svc.store, svc.scheduler
    worker = scheduler.worker if scheduler else None
    now = datetime.now(timezone.utc)
    rows = await store.jobs_since(now - timedelta(hours=24))
    totals = Counter(await store.status_counts())
    hours = [(now - timedelta(hours=23 - i)).replace(minute=0, second=0, microsecond=0) for i in range(24)]
    counts: dict[tuple[datetime, str], Counter] = defaultdict(Counter)
    by_method: dict[str, Counter] = defaultdict(Counter)
    for created, method, status in rows:
        created = created if created.tzinfo else created.replace(tzinfo=timezone.utc)
        hour = created.replace(minute=0, second=0, microsecond=0)
        counts[(hour, method)][status] += 1
        by_method[method][status] += 1
    stats = await store.stats()
    jobs_chart = await asyncio.to_thread(_jobs_chart, hours, counts)
    ratings_chart = None
    if stats.overall.count or stats.survey:
        png = await asyncio.to_thread(stats_chart, stats, texts.METHOD_NAMES,
                                      {p: texts.style_title(p) for p in stats.per_preset})
        ratings_chart = base64.b64encode(png).decode()
    from importlib.metadata import version

    return {
        "now": now.strftime("%Y-%m-%d %H:%M UTC"), "version": version("stylebot"),
        "queued": await store.queued_total(), "running": worker.current_job if worker else None,
        "alive": bool(worker and worker.is_alive()),
        "ready_s": f"{worker.ready_s:.1f} s" if worker and worker.ready_s is not None else "–",
        "restarts": worker.restarts if worker else 0, "totals": totals,
        "live_workers": getattr(worker, "live", None),  # scale-out: workers with a recent heartbeat
        "ratings_count": stats.overall.count,
        "survey_count": sum(line.count for line in stats.survey.values()),
        "survey_ready": (f"{svc.survey.ready_count()} of {len(svc.survey.active_pairs())}" if svc.survey else "off"),
        "ratings_mean": f"{stats.overall.mean:.1f}" if stats.overall.mean is not None else "–",
        "jobs_chart": jobs_chart, "ratings_chart": ratings_chart, "outcomes": OUTCOMES,
        "by_method": {m: dict(c) for m, c in sorted(by_method.items())},
    }


def add_dashboard(web_app: web.Application, application, token: str | None) -> None:
    """Serve ``/dashboard`` on ``web_app`` when ``token`` is set (else nothing is added: 404)."""
    if not token:
        return
    env = _env()

    async def dashboard(request: web.Request) -> web.Response:
        given = request.query.get("token", "")
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            given = header[7:].strip()
        if not given or not hmac.compare_digest(given.encode(), token.encode()):
            return web.Response(status=403, text="forbidden")
        html = env.get_template("dashboard.html").render(**await _context(application))
        return web.Response(text=html, content_type="text/html",
                            headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})

    web_app.router.add_get("/dashboard", dashboard)
