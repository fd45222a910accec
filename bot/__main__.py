"""``stylebot``: run the bot.  Long polling by default; webhook mode when
WEBHOOK_URL is set (an aiohttp server feeds ``application.update_queue`` and also
serves ``/healthz``).  SIGTERM/SIGINT stop it gracefully."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys

from aiohttp import web
from telegram import Update

from .app import build_application, start_services, stop_services
from .config import Settings, SettingsError, load_settings
from .logs import setup_logging
from .web.server import WEBHOOK_PATH, web_app

log = logging.getLogger("bot")


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run the bot until ``stop`` is set (or SIGTERM/SIGINT arrives)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    application = build_application(settings)
    webhook = bool(settings.webhook_url)
    runner: web.AppRunner | None = None
    async with application:
        await start_services(application)
        try:
            await application.start()
            if webhook:
                secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
                await application.bot.set_webhook(settings.webhook_url.rstrip("/") + WEBHOOK_PATH,
                                                  secret_token=secret, allowed_updates=Update.ALL_TYPES)
            else:
                await application.bot.delete_webhook()
                await application.updater.start_polling(allowed_updates=Update.ALL_TYPES, timeout=30)
            if settings.port > 0:
                runner = web.AppRunner(web_app(application, settings, webhook))
                await runner.setup()
                try:
                    await web.TCPSite(runner, settings.host, settings.port).start()
                except OSError as exc:
                    if webhook:
                        raise
                    log.warning("health endpoint not served on port %s: %s", settings.port, exc)
            log.info("stylebot running (%s)", "webhook" if webhook else "long polling")
            await stop.wait()
            log.info("stopping")
        finally:
            if runner is not None:
                await runner.cleanup()
            if application.updater and application.updater.running:
                await application.updater.stop()
            if application.running:
                await application.stop()
            await stop_services(application)
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.remove_signal_handler(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stylebot")
    except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stylebot", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"stylebot {_version()}")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the bot (the default)")
    check = sub.add_parser("check", help="check settings, weights, device, database, data folder and the token")
    check.add_argument("--offline", action="store_true", help="do not call the Bot API (getMe)")
    check.add_argument("--healthz", action="store_true", help="also ask the running bot's /healthz (Docker healthcheck)")
    export = sub.add_parser("export-ratings", help="every rating with its method, style and options")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    export.add_argument("-o", "--output", default="-", help="file to write (default: standard output)")
    export.add_argument("--survey", action="store_true",
                        help="the /survey answers instead (pair, hidden method, score or skipped)")
    return parser


async def _export_ratings(settings: Settings, fmt: str, output: str, survey: bool = False) -> int:
    import csv
    import io

    from .store.db import Store

    store = Store(settings.database_url)
    try:
        rows = await (store.survey_rows() if survey else store.ratings_rows())
    finally:
        await store.close()
    buf = io.StringIO()
    if fmt == "json":
        buf.write(json.dumps(rows, indent=1) + "\n")
    else:
        fields = (["answer_id", "user_id", "pair", "method", "score", "skipped", "answered_at", "drawn_from",
                   "partial_draw"] if survey else
                  ["rating_id", "job_id", "user_id", "score", "method", "style", "alpha", "preserve_color", "media",
                   "max_side", "seconds", "rated_at"])
        writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    if output == "-":
        sys.stdout.write(buf.getvalue())
    else:
        with open(output, "w", encoding="utf-8", newline="") as fh:
            fh.write(buf.getvalue())
        print(f"wrote {len(rows)} {'survey answers' if survey else 'ratings'} to {output}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"stylebot: configuration error:\n{exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if args.command == "check":
        from .check import main as check_main

        raise SystemExit(check_main(settings, offline=args.offline, healthz=args.healthz))
    if args.command == "export-ratings":
        from .store.db import migrate

        asyncio.run(migrate(settings.database_url))
        raise SystemExit(asyncio.run(_export_ratings(settings, args.format, args.output, args.survey)))
    setup_logging(settings.log_level, settings.token)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
