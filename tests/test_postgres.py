"""The same schema and queue on a real PostgreSQL cluster (DATABASE_URL=postgresql+asyncpg://…):
Alembic migrations up, down to base and up again; the store's queue, ratings with
their interval, forget and re-queue. Skips cleanly where PostgreSQL is not installed."""

from __future__ import annotations

import asyncio


from bot.store.db import Store, alembic_config, migrate
from tests.pg import requires_postgres

pytestmark = requires_postgres


async def _tables(url: str) -> set[str]:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
            return {r[0] for r in rows}
    finally:
        await engine.dispose()


async def test_migrations_up_down_up(pg_url):
    from alembic import command

    await migrate(pg_url)
    assert {"users", "sessions", "jobs", "ratings", "alembic_version"} <= await _tables(pg_url)
    await migrate(pg_url)  # idempotent
    await asyncio.to_thread(command.downgrade, alembic_config(pg_url), "base")
    assert not {"users", "sessions", "jobs", "ratings"} & await _tables(pg_url)
    await migrate(pg_url)
    assert {"users", "sessions", "jobs", "ratings"} <= await _tables(pg_url)


async def test_store_on_postgres(pg_url):
    await migrate(pg_url)
    store = Store(pg_url)
    try:
        jobs = []
        for user in (1, 2, 3):
            await store.get_session(user, user, f"user{user}")
            jobs.append(await store.create_job(user_id=user, chat_id=user, content_path=f"/x/{user}.png",
                                               style_name="starry_night", method="johnson",
                                               options={"alpha": 0.75, "media": "video"}))
        assert [await store.queue_position(j.id) for j in jobs] == [1, 2, 3]
        assert (await store.get_job(jobs[0].id)).options == {"alpha": 0.75, "media": "video"}
        assert await store.mark_running(jobs[0].id)
        assert await store.finish_job(jobs[0].id, "done", seconds=1.5)
        assert not await store.finish_job(jobs[0].id, "done")  # a result is never delivered twice
        for job, score in zip(jobs, (6, 8, 7)):
            await store.rate(job.id, job.user_id, score)
        await store.rate(jobs[0].id, 1, 9)  # re-rating replaces
        stats = await store.stats(1)
        line = stats.per_method["johnson"]
        assert line.count == 3 and abs(line.mean - 8.0) < 1e-9 and line.ci95 is not None and stats.own.mean == 9
        assert await store.mark_running(jobs[1].id)
        assert await store.requeue_unfinished() == 2  # the running one back in the queue, after a "restart"
        assert {s: n for s, n in (await store.status_counts()).items()} == {"done": 1, "queued": 2}
        paths = await store.forget(2)
        assert "/x/2.png" in paths and not await store.has_user(2)
        rows = await store.ratings_rows()
        assert sorted(r["user_id"] for r in rows) == [1, 3]
    finally:
        await store.close()
