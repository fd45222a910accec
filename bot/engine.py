"""The task engine of the scale-out mode: Procrastinate on the bot's PostgreSQL database.

Why Procrastinate: the jobs already live in PostgreSQL, so the queue needs no second
server (Celery would need Redis or RabbitMQ); it is asyncio-native like the bot; it has
what the bot needs from an engine: a queueing lock per job (a job is never deferred
twice), abort of a running job, worker heartbeats and a query for the jobs of dead
workers, LISTEN/NOTIFY so an idle worker starts a job at once.

Two tasks in the queue ``paint``: ``stylebot.paint(job_id, spec)`` for users' jobs, and
``stylebot.paint_survey(render_id, spec, content, style)`` (lower priority) for the
/survey pictures. The bot defers them (:class:`bot.dispatch.EngineScheduler`),
``stylebot-worker`` processes run them (:mod:`bot.engine_worker`). Inputs and results
travel through the database (``job_files``/``survey_renders``, bytea; a survey picture's
inputs in the task's arguments), progress and outcome through the job's row.

Nothing here imports torch.
"""

from __future__ import annotations

import logging

__all__ = ["PAINT_TASK", "SURVEY_TASK", "SURVEY_PRIORITY", "QUEUE", "conninfo", "make_app", "ensure_schema", "is_postgres"]

log = logging.getLogger(__name__)

PAINT_TASK = "stylebot.paint"
SURVEY_TASK = "stylebot.paint_survey"
QUEUE = "paint"
#: Procrastinate fetches higher priorities first: users' jobs before /survey pictures
SURVEY_PRIORITY = -10


def is_postgres(database_url: str) -> bool:
    from sqlalchemy.engine import make_url

    return make_url(database_url).get_backend_name() == "postgresql"


def conninfo(database_url: str) -> str:
    """libpq URI for psycopg (Procrastinate's connector) from the bot's SQLAlchemy URL:
    ``postgresql+asyncpg://u:p@host:5432/db`` -> ``postgresql://u:p@host:5432/db``."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def make_app(database_url: str):
    """A :class:`procrastinate.App` on ``database_url`` (not opened)."""
    import procrastinate

    return procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(database_url)))


async def ensure_schema(database_url: str) -> bool:
    """Create Procrastinate's tables once (True when it did). Processes starting at once
    are serialised by a transaction-level advisory lock."""
    import psycopg
    from procrastinate.schema import SchemaManager

    async with await psycopg.AsyncConnection.connect(conninfo(database_url)) as conn:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(7424001)")
            row = await (await conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")).fetchone()
            if row[0]:
                return False
            await conn.execute(SchemaManager.get_schema())
    log.info("created the task engine's tables (Procrastinate)")
    return True
