"""Scale-out mode on a real PostgreSQL cluster: the real bot (real PTB against the fake
Bot API server) with WORKERS=0 and two real ``stylebot-worker`` processes on the task
engine (Procrastinate). Skips cleanly where PostgreSQL is not installed.

- several users at once: every job is painted by one of the two workers and delivered once;
- ``kill -9`` of a worker in the middle of a job: the other worker paints it again and the
  user gets exactly one result;
- /cancel of a running job reaches the worker through the engine's abort;
- a bot restart in the middle of a job: the new bot delivers the result, once;
- 0 lost and 0 duplicated results over the whole run.
"""

from __future__ import annotations

import json
import shutil
import signal


from bot import texts
from tests.bot_runner import serving_stylebot
from tests.fake_telegram import FakeTelegram, FakeUser
from tests.pg import requires_postgres
from bot.survey import SAMPLE_PHOTO, SurveyPair, pair_methods
from tests.test_bot_limits import _ask
from tests.test_bot_survey import _first_picture
from tests.workers import HEARTBEAT_S, workers

pytestmark = requires_postgres

WAIT = 180.0


async def _rows(url: str, query: str) -> list[tuple]:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return [tuple(r) for r in await conn.fetch(query)]
    finally:
        await conn.close()


def _results(user: FakeUser) -> int:
    return len([m for m in user.messages if m.photo])


async def test_two_workers_several_users_a_killed_worker_and_a_cancel(pg_url, tmp_path):
    async with workers(pg_url, tmp_path) as (w1, w2), FakeTelegram() as tg, \
            serving_stylebot(tg, tmp_path / "bot", database_url=pg_url, workers=0, max_side=128, gatys_steps=300,
                             worker_heartbeat_s=HEARTBEAT_S, max_queued_per_user=5):
        users = [tg.user(8001 + i, f"User{i}") for i in range(4)]
        for i, user in enumerate(users):
            await _ask(user, "Preset net", color=(40 * i, 200 - 40 * i, 90))
        for user in users:
            await tg.wait_until(lambda u=user: _results(u) == 1, WAIT, f"{user.first_name}'s result")
        painted_by = dict(await _rows(pg_url, "SELECT id, worker FROM jobs ORDER BY id"))
        assert set(painted_by.values()) <= {"w1", "w2"} and len(painted_by) == 4

        # a long Gatys job; its worker is killed mid-job; the other one paints it again
        dora = tg.user(8010, "Dora")
        await _ask(dora, "Gatys")
        await dora.wait_for(lambda m: "Painting" in m.text and "%" in m.text, timeout=WAIT)
        (job_id, worker), = await _rows(pg_url, "SELECT id, worker FROM jobs WHERE user_id = 8010")
        victim = w1 if worker == "w1" else w2
        survivor = w2 if victim is w1 else w1
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(10)
        await tg.wait_until(lambda: _results(dora) == 1, WAIT, "Dora's result after the kill")
        (attempts, worker_after, status), = await _rows(
            pg_url, f"SELECT attempts, worker, status FROM jobs WHERE id = {job_id}")
        assert (attempts, worker_after, status) == (2, survivor.name, "done")

        # /cancel of a running job reaches the worker through the engine's abort
        erin = tg.user(8011, "Erin")
        await _ask(erin, "Gatys")
        await erin.wait_for(lambda m: "Painting" in m.text and "%" in m.text, timeout=WAIT)
        await erin.send("/cancel")
        await erin.wait_for(lambda m: m.text == texts.CANCELLED_STATUS, timeout=60, since=0)
        (status,), = await _rows(pg_url, "SELECT status FROM jobs WHERE user_id = 8011")
        assert status == "cancelled"

        # the survivor takes the next job at once (the abort left it free)
        await _ask(erin, "Preset net")
        await tg.wait_until(lambda: _results(erin) == 1, WAIT, "Erin's next result")
        for user in [*users, dora, erin]:
            await user.wait_quiet(1.5)
        assert {u.first_name: _results(u) for u in [*users, dora, erin]} == {
            **{u.first_name: 1 for u in users}, "Dora": 1, "Erin": 1}
        statuses = await _rows(pg_url, "SELECT status, count(*) FROM jobs GROUP BY status ORDER BY status")
        assert statuses == [("cancelled", 1), ("done", 6)]
        assert await _rows(pg_url, "SELECT count(*) FROM job_files") == [(0,)]


async def test_a_bot_restart_mid_job_delivers_once(pg_url, tmp_path):
    async with workers(pg_url, tmp_path, n=1):
        async with FakeTelegram() as tg:
            fay = tg.user(8020, "Fay")
            options = dict(database_url=pg_url, workers=0, max_side=128, gatys_steps=300,
                           worker_heartbeat_s=HEARTBEAT_S)
            async with serving_stylebot(tg, tmp_path / "bot", **options):
                await _ask(fay, "Gatys")
                await fay.wait_for(lambda m: "Painting" in m.text, timeout=WAIT)
            # the bot is down; the worker goes on painting; a new bot delivers the result
            async with serving_stylebot(tg, tmp_path / "bot", **options):
                await tg.wait_until(lambda: _results(fay) == 1, WAIT, "Fay's result after the restart")
                await fay.wait_quiet(2.0)
            assert _results(fay) == 1
            assert await _rows(pg_url, "SELECT status, attempts FROM jobs") == [("done", 1)]


async def test_the_bots_own_worker_paints_jobs_and_the_survey(pg_url, tmp_path):
    """WORKERS=1 with PostgreSQL: the bot starts its own stylebot-worker and needs no other;
    the /survey pictures are painted on it too (inputs and results through the database)."""
    survey_dir = tmp_path / "pairs"
    survey_dir.mkdir()
    shutil.copy(SAMPLE_PHOTO, survey_dir / "town.jpg")
    (survey_dir / "pairs.json").write_text(json.dumps([{"content": "town.jpg", "style": "udnie"}]))
    from tests.pg import _free_port

    port, token = _free_port(), "t" * 24
    async with FakeTelegram() as tg, serving_stylebot(tg, tmp_path / "bot", database_url=pg_url, workers=1,
                                                      max_side=128, worker_heartbeat_s=HEARTBEAT_S,
                                                      survey_dir=survey_dir, survey_max_side=64,
                                                      survey_prerender=True, port=port, host="127.0.0.1",
                                                      dashboard_token=token):
        gus = tg.user(8030, "Gus")
        await _ask(gus, "Preset net")
        await tg.wait_until(lambda: _results(gus) == 1, WAIT, "Gus's result")
        (worker,), = await _rows(pg_url, "SELECT worker FROM jobs")
        assert "-bot" in worker
        picture = await _first_picture(gus)
        assert "Picture 1 of 1" in picture.caption and "Udnie" in picture.caption
        # one picture per method that can paint the pair here (AdaIN, Udnie's net, Gatys)
        methods = pair_methods(SurveyPair("p", "town.jpg", "udnie", None, None))
        assert "johnson" in methods and "gatys" in methods
        folder = tmp_path / "bot" / "data" / "survey"  # shown once one picture is there; the rest follow
        await tg.wait_until(lambda: len(list(folder.glob("*.jpg"))) == len(methods), WAIT, "every survey picture")
        assert await _rows(pg_url, "SELECT count(*) FROM survey_renders") == [(0,)]
        # the operator sees the live worker (from the engine's heartbeats) on /metrics and /dashboard
        import aiohttp

        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert "stylebot_live_workers 1.0" in await response.text()
            async with http.get(f"http://127.0.0.1:{port}/dashboard", params={"token": token}) as response:
                assert response.status == 200 and "1 live" in await response.text()
