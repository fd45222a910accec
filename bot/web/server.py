"""The bot's HTTP server (aiohttp): ``/healthz`` (the inference alive, its spawn-to-ready
time, live workers), ``/metrics`` (Prometheus, :mod:`bot.jobs.metrics`), the operator's
``/dashboard`` (:mod:`bot.web.dashboard`) and, in webhook mode, ``/telegram`` (updates
from Telegram, checked against ``WEBHOOK_SECRET`` in constant time)."""

from __future__ import annotations

import hmac
import json

from aiohttp import web
from telegram import Update

from ..config import Settings
from ..context import KEY
from ..jobs.metrics import CONTENT_TYPE
from .dashboard import add_dashboard

__all__ = ["WEBHOOK_PATH", "web_app"]

WEBHOOK_PATH = "/telegram"


def web_app(application, settings: Settings, webhook: bool) -> web.Application:
    """The aiohttp application of the running bot ``application`` (PTB)."""

    async def healthz(request: web.Request) -> web.Response:
        scheduler = application.bot_data[KEY].scheduler
        return web.json_response({"ok": True, "inference_alive": _inference_alive(application),
                                  "inference_ready_s": scheduler.worker.ready_s if scheduler else None,
                                  "live_workers": getattr(scheduler.worker, "live", None) if scheduler else None})

    async def telegram(request: web.Request) -> web.Response:
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):  # constant time
            return web.Response(status=403)
        try:
            data = await request.json()
            update = Update.de_json(data, application.bot) if isinstance(data, dict) else None
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError, KeyError, ValueError):
            update = None
        if update is None:
            return web.Response(status=400)
        await application.update_queue.put(update)
        return web.Response(text="ok")

    async def metrics(request: web.Request) -> web.Response:
        svc = application.bot_data[KEY]
        if svc.scheduler is None:
            return web.Response(status=503)
        body = await svc.scheduler.metrics.render(svc.store, svc.scheduler.worker)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    add_dashboard(app, application, settings.dashboard_token.get_secret_value() if settings.dashboard_token else None)
    if webhook:
        app.router.add_post(WEBHOOK_PATH, telegram)
    return app


def _inference_alive(application) -> bool | None:
    """The embedded inference process (or the bot's own workers) runs; None where the bot
    starts no inference at all (PostgreSQL with WORKERS=0: the workers are watched apart)."""
    svc = application.bot_data[KEY]
    if svc.settings.scale_out and svc.settings.workers == 0:
        return None
    return bool(svc.scheduler and svc.scheduler.worker.is_alive())
