"""Database layer of the bot on a real SQLite file: migrations, jobs queue,
ratings upsert, survey statistics, forget, re-queue after a restart."""

from __future__ import annotations

import sqlite3

import pytest

from bot.store.db import Store, migrate


@pytest.fixture
async def store(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/bot.db"
    await migrate(url)
    store = Store(url)
    yield store
    await store.close()


async def _job(store: Store, user: int, **kw):
    await store.get_session(user, user, f"user{user}")
    values = dict(user_id=user, chat_id=user, content_path=f"/x/{user}.png", style_name="starry_night", method="adain")
    values.update(kw)
    return await store.create_job(**values)


async def test_migrations_create_tables_and_are_idempotent(tmp_path):
    path = tmp_path / "sub" / "fresh.db"
    url = f"sqlite+aiosqlite:///{path}"
    await migrate(url)
    await migrate(url)  # second run is a no-op
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master where type='table'")}
        version = db.execute("select version_num from alembic_version").fetchall()
    assert {"users", "sessions", "jobs", "ratings", "survey_answers", "alembic_version"} <= tables
    from alembic.script import ScriptDirectory

    from bot.store.db import alembic_config

    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert version == [(head,)] and head == "0008"


async def test_session_created_once_and_updated(store):
    first = await store.get_session(7, 70, "Ann")
    assert (first.state, first.default_method, first.alpha, first.version) == ("idle", "adain", 1.0, 0)
    changed = await store.update_session(7, state="awaiting_style", content_path="/c.png")
    assert changed.version == 1
    same = await store.update_session(7, bump=False, alpha=0.5)
    assert same.version == 1
    again = await store.get_session(7)
    assert (again.state, again.content_path, again.alpha, again.chat_id) == ("awaiting_style", "/c.png", 0.5, 70)


async def test_queue_order_positions_and_counts(store):
    a = await _job(store, 1)
    b = await _job(store, 2)
    c = await _job(store, 1)
    assert [await store.queue_position(j.id) for j in (a, b, c)] == [1, 2, 3]
    assert (await store.next_queued()).id == a.id
    await store.mark_running(a.id)
    assert await store.queue_position(a.id) == 0
    assert await store.queue_position(b.id) == 2  # the running job is ahead of it
    assert await store.user_job_counts(1) == (1, 1)
    assert await store.queued_total() == 2
    assert await store.finish_job(a.id, "done", seconds=1.5)
    assert not await store.finish_job(a.id, "failed")  # a finished job never changes again
    done = await store.get_job(a.id)
    assert (done.status, done.seconds, done.attempts) == ("done", 1.5, 1)
    assert await store.queue_position(b.id) == 1


async def test_requeue_unfinished_after_restart(store):
    a = await _job(store, 1)
    b = await _job(store, 2)
    await store.mark_running(a.id)
    assert await store.requeue_unfinished() == 2
    again = await store.get_job(a.id)
    assert again.status == "queued" and again.started_at is None and again.attempts == 1
    assert [j.id for j in await store.queued_jobs()] == [a.id, b.id]


async def test_rating_upsert_counts_once(store):
    job = await _job(store, 1)
    await store.finish_job(job.id, "done", seconds=1)
    assert await store.rate(job.id, 1, 3) is True
    assert await store.rate(job.id, 1, 8) is False
    stats = await store.stats(1)
    assert (stats.overall.count, stats.overall.mean) == (1, 8.0)
    with pytest.raises(ValueError):
        await store.rate(job.id, 1, 11)


async def test_stats_per_method_preset_and_own(store):
    jobs = [
        await _job(store, 1, method="adain", style_name="udnie"),
        await _job(store, 2, method="gatys", style_name="udnie"),
        await _job(store, 2, method="gatys", style_name="own"),
    ]
    for job, (user, score) in zip(jobs, [(1, 4), (2, 10), (2, 7)]):
        await store.rate(job.id, user, score)
    stats = await store.stats(2)
    assert (stats.overall.count, stats.overall.mean) == (3, 7.0)
    assert {m: (s.count, s.mean) for m, s in stats.per_method.items()} == {"adain": (1, 4.0), "gatys": (2, 8.5)}
    assert {p: (s.count, s.mean) for p, s in stats.per_preset.items()} == {"udnie": (2, 7.0)}
    assert (stats.own.count, stats.own.mean) == (2, 8.5)
    empty = await store.stats(99)
    assert (empty.own.count, empty.own.mean) == (0, None)


async def test_forget_deletes_everything_of_one_user(store):
    mine = await _job(store, 1, style_path="/s/1.png", style_name="own")
    theirs = await _job(store, 2)
    await store.update_session(1, content_path="/c/1.png")
    await store.rate(mine.id, 1, 5)
    await store.rate(theirs.id, 1, 6)  # user 1 rated someone else's job
    await store.rate(mine.id, 2, 9)  # and user 2 rated user 1's job
    paths = await store.forget(1)
    assert set(paths) == {"/c/1.png", "/x/1.png", "/s/1.png"}
    assert not await store.has_user(1)
    assert await store.get_job(mine.id) is None
    assert (await store.get_job(theirs.id)) is not None
    stats = await store.stats()
    assert stats.overall.count == 0
    assert await store.has_user(2)


async def test_downgrade_to_base_then_upgrade_again(tmp_path):
    """Every migration's downgrade runs, and the schema comes back whole after it."""
    import asyncio

    from alembic import command

    from bot.store.db import alembic_config

    url = f"sqlite+aiosqlite:///{tmp_path}/round.db"
    await migrate(url)
    store = Store(url)
    await _job(store, 1)
    await store.close()
    await asyncio.to_thread(command.downgrade, alembic_config(url), "base")
    with sqlite3.connect(tmp_path / "round.db") as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master where type='table'")}
        version = db.execute("select version_num from alembic_version").fetchall()
    assert not {"users", "sessions", "jobs", "ratings"} & tables and version == []
    await migrate(url)
    store = Store(url)
    try:
        job = await _job(store, 2)
        assert (await store.get_job(job.id)).user_id == 2 and await store.queued_total() == 1
    finally:
        await store.close()


async def test_stats_have_a_95_percent_interval_and_a_chart(store):
    """Mean ± the Student-t 95 % interval per method; the chart renders (PNG) with it."""
    import io

    from PIL import Image

    from bot.web.charts import stats_chart

    scores = [6, 8, 7, 9, 5]
    for i, score in enumerate(scores):
        job = await _job(store, 100 + i, method="johnson")
        await store.rate(job.id, 100 + i, score)
    job = await _job(store, 200, method="gatys", style_name="own")
    await store.rate(job.id, 200, 10)
    stats = await store.stats()
    line = stats.per_method["johnson"]
    assert line.count == 5 and line.mean == 7.0
    assert abs(line.sd - 1.5811) < 1e-3 and abs(line.ci95 - 2.776 * 1.5811 / 5 ** 0.5) < 1e-3
    assert stats.per_method["gatys"].ci95 is None  # one rating: no interval
    png = stats_chart(stats, {"johnson": "Preset net", "gatys": "Best quality"}, {"starry_night": "The Starry Night"})
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.width > 500 and img.height > 200
    # the chart is not blank: several distinct colours
    assert len(img.convert("RGB").resize((64, 64)).getcolors(64 * 64)) > 10


def test_export_ratings_csv(tmp_path):
    """`stylebot export-ratings --format csv` writes one row per rating with its job's method and style."""
    import asyncio
    import csv
    import os
    import subprocess
    import sys

    url = f"sqlite+aiosqlite:///{tmp_path}/bot.db"

    async def fill():
        await migrate(url)
        store = Store(url)
        try:
            job = await _job(store, 7, method="johnson", options={"alpha": 0.75, "media": "video"})
            await store.rate(job.id, 7, 9)
            job = await _job(store, 8, method="gatys")
            await store.rate(job.id, 8, 4)
        finally:
            await store.close()

    asyncio.run(fill())
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": "123:abc", "DATABASE_URL": url, "DATA_DIR": str(tmp_path / "d")}
    out = subprocess.run([sys.executable, "-m", "bot", "export-ratings", "--format", "csv"], capture_output=True,
                         text=True, env=env, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(out.stdout.splitlines()))
    assert [(r["user_id"], r["score"], r["method"], r["style"]) for r in rows] == [
        ("7", "9", "johnson", "starry_night"), ("8", "4", "gatys", "starry_night")]
    assert rows[0]["alpha"] == "0.75" and rows[0]["media"] == "video"


async def test_survey_rows_draw_once_answer_once_and_feed_the_stats(store):
    """A pair's method is fixed when it is first shown; a second answer is refused; skips
    stay out of the means; /forget removes the rows."""
    await store.get_session(5, 5, "five")
    await store.get_session(6, 6, "six")
    row = await store.survey_show(5, "01-a", "gatys")
    again = await store.survey_show(5, "01-a", "johnson", allowed=["gatys", "johnson"])
    assert (row.method, again.method) == ("gatys", "gatys")
    # a method that can no longer be shown is redrawn while the pair is unanswered
    assert (await store.survey_show(5, "01-a", "johnson", allowed=["johnson"])).method == "johnson"
    assert await store.survey_answer(5, "01-a", 8)
    assert not await store.survey_answer(5, "01-a", 2)  # a double tap
    assert not await store.survey_answer(5, "02-b", 5)  # never shown
    await store.survey_show(5, "02-b", "johnson")
    assert await store.survey_answer(5, "02-b", None)  # skipped
    await store.survey_show(6, "01-a", "johnson")
    assert await store.survey_answer(6, "01-a", 4)
    await store.survey_show(6, "02-b", "gatys")
    assert await store.survey_answer(6, "02-b", 9)
    stats = await store.stats()
    assert stats.overall.count == 0
    assert {m: (line.count, line.mean) for m, line in stats.survey.items()} == {"gatys": (1, 9.0),
                                                                                  "johnson": (2, 6.0)}
    assert stats.survey["johnson"].ci95 is not None
    rows = await store.survey_rows()
    assert [(r["user_id"], r["pair"], r["method"], r["score"], r["skipped"]) for r in rows] == [
        (5, "01-a", "johnson", 8, False), (5, "02-b", "johnson", None, True), (6, "01-a", "johnson", 4, False),
        (6, "02-b", "gatys", 9, False)]
    await store.forget(5)
    assert set((await store.survey_answers(5))) == set() and len(await store.survey_answers(6)) == 2
