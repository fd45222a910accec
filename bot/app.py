"""The wiring: the python-telegram-bot Application with its handlers, and the services
it starts and stops (database + migrations, the job queue of the configured engine and
its inference, the delivery, the /survey pictures, the bot's commands).

The one place that knows every layer (see the README's architecture section): the
Telegram side (:mod:`bot.telegram`) and the job engines (:mod:`bot.jobs`) meet here
only, through :class:`bot.context.Services`."""

from __future__ import annotations

import logging

from telegram import BotCommand
from telegram.error import TelegramError
from telegram.ext import AIORateLimiter, Application

from . import texts
from .config import Settings
from .context import KEY, Services
from .jobs.local import InferenceWorker, LocalQueue
from .store.db import Store, migrate
from .telegram.delivery import Delivery
from .telegram.handlers import register

log = logging.getLogger(__name__)


def build_application(settings: Settings) -> Application:
    """The PTB application with all handlers; services start in :func:`start_services`."""
    builder = (
        Application.builder()
        .token(settings.token)
        .base_url(settings.telegram_base_url)
        .base_file_url(settings.telegram_base_file_url)
        .connect_timeout(10).read_timeout(15).write_timeout(30).media_write_timeout(60)
        .get_updates_read_timeout(40)
    )
    if settings.rate_limit:
        builder = builder.rate_limiter(rate_limiter(settings))
    app = builder.build()
    app.bot_data[KEY] = Services(settings=settings)
    register(app)
    return app


def rate_limiter(settings: Settings) -> AIORateLimiter:
    """PTB's AIORateLimiter for a bot that talks in private chats: at most
    RATE_LIMIT_PER_S calls with a chat_id per second overall (Telegram allows about
    30), 20 per minute in a group chat (Telegram's group limit), and a call answered
    with 429 RetryAfter is retried RATE_LIMIT_RETRIES times after the wait Telegram
    asks for (instead of failing the handler).  getUpdates is never throttled."""
    return AIORateLimiter(overall_max_rate=settings.rate_limit_per_s, overall_time_period=1,
                          group_max_rate=20, group_time_period=60, max_retries=settings.rate_limit_retries)


async def start_services(app: Application) -> None:
    """Migrate the DB, re-queue unfinished jobs, start the inference process and the
    scheduler, publish the command list.  Call after ``app.initialize()``."""
    services: Services = app.bot_data[KEY]
    settings = services.settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.jobs_dir.mkdir(parents=True, exist_ok=True)
    await migrate(settings.database_url)
    store = Store(settings.database_url)
    delivery = Delivery(app.bot, settings)
    if settings.scale_out:
        # PostgreSQL: jobs go through the task engine to stylebot-worker processes (WORKERS of
        # them started here); a restart re-attaches to the jobs the engine still has
        from .jobs.procrastinate import ProcrastinateQueue, WorkerPool, ensure_schema

        await ensure_schema(settings.database_url)
        workers = WorkerPool(settings.database_url, settings.workers, settings)
        workers.start()
        scheduler = ProcrastinateQueue(store, workers, delivery, settings)
        await scheduler.open()
        worker = workers
    else:
        requeued = await store.requeue_unfinished()
        if requeued:
            log.info("%d unfinished job(s) queued again", requeued)
        worker = InferenceWorker(device=settings.device)
        worker.start()
        scheduler = LocalQueue(store, worker, delivery, settings)
    scheduler.gatys_history[:] = await store.recent_seconds("gatys")
    services.store, services.delivery, services.scheduler = store, delivery, scheduler
    services.gatys_history = scheduler.gatys_history
    scheduler.start()
    services.survey = survey_images(settings)
    if services.survey is not None and settings.survey_prerender:
        services.survey.start(worker, scheduler.busy)
    try:
        from .i18n import DEFAULT_LANGUAGE, LANGUAGES, language

        for lang in sorted(LANGUAGES, key=lambda code: code == DEFAULT_LANGUAGE):  # the default last
            with language(lang):
                commands = [BotCommand(name, description) for name, description in texts.COMMANDS]
            await app.bot.set_my_commands(commands, language_code=None if lang == DEFAULT_LANGUAGE else lang)
    except TelegramError as exc:
        log.warning("setMyCommands failed: %s", exc)


def survey_images(settings: Settings):
    """The /survey pictures: the built-in pairs or SURVEY_DIR's, cached under DATA_DIR/survey
    (None, logged, when SURVEY_DIR is unusable: the rest of the bot still works)."""
    from .jobs.survey import SurveyImages
    from .survey import SurveyError, builtin_pairs, load_pairs

    try:
        pairs = load_pairs(settings.survey_dir) if settings.survey_dir else builtin_pairs()
    except SurveyError as exc:
        log.error("/survey is off: %s", exc)
        return None
    return SurveyImages(pairs, settings.data_dir / "survey", max_side=settings.survey_max_side,
                        gatys_steps=settings.gatys_steps, device=settings.device)


async def stop_services(app: Application) -> None:
    """Stop the scheduler (a running job stays queued for the next start), the
    inference process and the database engine."""
    services: Services = app.bot_data[KEY]
    if services.survey is not None:
        await services.survey.stop()
    if services.scheduler is not None:
        await services.scheduler.stop()
        await services.scheduler.worker.stop()
    if services.store is not None:
        await services.store.close()
