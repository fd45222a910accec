"""Queue limits and Bot API rate limiting of the real stylebot application against
the fake Telegram server (real PTB, real SQLite file, real inference process).

- MAX_QUEUED_PER_USER: a user with that many jobs waiting gets a polite refusal, keeps
  the method keyboard and the photos, and can tap again once a job is done.
- MAX_QUEUE: with that many jobs waiting overall, a new user is told the bot is busy,
  with the same "tap again later".
- No job is lost or duplicated: every accepted job ends exactly once (one result photo
  per done job), refused requests create no job, job folders are removed.
- AIORateLimiter: a call answered with 429 RetryAfter is retried, so the user still
  gets the reply or the result photo (and without the limiter the handler fails instead);
  a result that cannot be sent at all is reported to the user, not dropped silently.
- A job cancelled after the scheduler picked it from the queue never runs.
- After /forget, a second tap on "Yes, delete" (or any old button) is stale: one
  confirmation, and nothing about the user is stored again.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import sqlite3

from PIL import Image

from bot import texts
from bot.config import Settings
from bot.store.db import Store, migrate
from bot.jobs.local import InferenceWorker
from bot.jobs.local import LocalQueue
from tests.bot_runner import serving_stylebot
from tests.fake_telegram import FakeMessage, FakeTelegram, FakeUser

import pytest  # noqa: F401


JOB_WAIT = 150.0  # s: the first job starts the inference process (torch import, VGG-19 load)
# Jobs here run the shipped Johnson net of the first preset ("Preset net"): fast, and it
# needs nothing beyond what ships in checkpoints/.


def _photo(color=(200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", (64, 48), color)
    for x in range(0, 64, 8):
        for y in range(0, 48, 8):
            if (x + y) // 8 % 2:
                image.putpixel((x, y), (20, 20, 220))
    image.save(buffer, format="JPEG")
    return buffer.getvalue()


def running_bot(tg: FakeTelegram, tmp_path, **overrides):
    return serving_stylebot(tg, tmp_path, **overrides)


def _jobs(tmp_path) -> list[tuple[int, int, str]]:
    """(id, user_id, status) of every job in the bot's SQLite file."""
    with contextlib.closing(sqlite3.connect(tmp_path / "bot.db")) as db:
        return db.execute("SELECT id, user_id, status FROM jobs ORDER BY id").fetchall()


async def _menu(user: FakeUser, method: str, color=(200, 40, 40)) -> tuple[FakeMessage, str]:
    """Photo -> first preset -> the method keyboard and the label of ``method`` on it."""
    await user.send_photo(_photo(color))
    styles = await user.wait_for(lambda m: m.buttons and "Pick a style" in m.text, timeout=30)
    await user.click(styles, styles.button_texts[0])
    methods = await user.wait_for(lambda m: m.buttons and any(method in t for t in m.button_texts), timeout=30)
    return methods, next(t for t in methods.button_texts if method in t)


async def _ask(user: FakeUser, method: str, color=(200, 40, 40)) -> FakeMessage:
    """Photo -> first preset -> presses ``method`` (a label fragment); returns the keyboard message."""
    methods, label = await _menu(user, method, color)
    answer = await user.click(methods, label)
    assert answer.text is None  # the reply comes as a message, not a toast
    return methods


async def test_user_limit_and_global_cap_lose_nothing(tmp_path):
    async with FakeTelegram() as tg, running_bot(tg, tmp_path, gatys_steps=5000, max_queued_per_user=2,
                                                 max_queue=3):
        eve, alice, bob, carol = (tg.user(2001, "Eve"), tg.user(2002, "Alice"), tg.user(2003, "Bob"),
                                  tg.user(2004, "Carol"))
        # Eve's long Gatys job keeps the inference process busy
        await _ask(eve, "Gatys")
        await eve.wait_for(lambda m: "Starting" in m.text or "Painting" in m.text, timeout=JOB_WAIT)

        # Alice may queue MAX_QUEUED_PER_USER = 2 jobs ...
        for _ in range(2):
            await _ask(alice, "Preset net")
            await alice.wait_for_text("Queued: position", timeout=30)
        # ... the third is refused politely; the keyboard and the photos stay
        alice_menu = await _ask(alice, "Preset net")
        refusal = await alice.wait_for_text("pictures waiting", timeout=30)
        assert refusal.text == texts.USER_LIMIT.format(count=texts.pictures(2))
        assert alice_menu.buttons, "the method keyboard must stay for a later tap"

        # Bob's job fills the global queue (MAX_QUEUE = 3 waiting) ...
        await _ask(bob, "Preset net")
        await bob.wait_for_text("Queued: position", timeout=30)
        # ... so Carol hears that the bot is busy
        carol_menu = await _ask(carol, "Preset net")
        busy = await carol.wait_for_text("very busy", timeout=30)
        assert busy.text == texts.BUSY.format(queued=texts.pictures(3))
        assert carol_menu.buttons

        statuses = {}
        for job_id, user_id, status in _jobs(tmp_path):
            statuses.setdefault(user_id, []).append(status)
        assert statuses == {eve.id: ["running"], alice.id: ["queued", "queued"], bob.id: ["queued"]}

        # Eve gives up: the queue moves, Alice's and Bob's jobs are painted
        await eve.send("/cancel")
        await eve.wait_for(lambda m: m.text == texts.CANCELLED_STATUS, timeout=60, since=0)
        await tg.wait_until(lambda: len([m for m in alice.messages if m.photo]) == 2, JOB_WAIT, "Alice's results")
        await tg.wait_until(lambda: [m for m in bob.messages if m.photo], JOB_WAIT, "Bob's result")

        # the refused requests work on a second tap of the same keyboard, without re-sending photos
        for user, menu in ((alice, alice_menu), (carol, carol_menu)):
            await user.click(menu, next(t for t in menu.button_texts if "Preset net" in t))
            await user.wait_for_text("Queued: position", timeout=30)
        await tg.wait_until(lambda: len([m for m in alice.messages if m.photo]) == 3, JOB_WAIT, "Alice's 3rd result")
        await tg.wait_until(lambda: [m for m in carol.messages if m.photo], JOB_WAIT, "Carol's result")
        for user in (eve, alice, bob, carol):
            await user.wait_quiet(1.0)

        jobs = _jobs(tmp_path)
        by_user: dict[int, list[str]] = {}
        for _, user_id, status in jobs:
            by_user.setdefault(user_id, []).append(status)
        assert by_user == {eve.id: ["cancelled"], alice.id: ["done"] * 3, bob.id: ["done"], carol.id: ["done"]}
        # exactly one result photo per done job, none for the cancelled one
        results = {u.id: len([m for m in u.messages if m.photo]) for u in (eve, alice, bob, carol)}
        assert results == {eve.id: 0, alice.id: 3, bob.id: 1, carol.id: 1}
        # every status message ended in exactly one final state
        finals = [m for u in (eve, alice, bob, carol) for m in u.messages
                  if m.text.startswith(("✅", "✖", "❌"))]
        assert sorted(m.text[0] for m in finals) == sorted("✖" + "✅" * 5)
        assert not list((tmp_path / "data" / "jobs").iterdir())  # job folders removed
        assert tg.unanswered_callbacks() == []
        assert not [c for c in tg.failed_calls() if c.method != "getUpdates"]


async def test_rate_limiter_retries_after_429(tmp_path):
    async with FakeTelegram() as tg:
        async with running_bot(tg, tmp_path / "limited", rate_limit_retries=2):
            alice = tg.user(2101, "Alice")
            tg.fail_next("sendMessage", 429, retry_after=1)
            await alice.send("/start")
            reply = await alice.wait_for_text("photo", timeout=20)
            assert reply.text == texts.START
            failed = tg.failed_calls(injected=True)
            assert [(c.method, c.injected) for c in failed] == [("sendMessage", True)]

            # a result photo answered with 429 is sent again after the wait
            tg.fail_next("sendPhoto", 429, retry_after=1)
            await _ask(alice, "Preset net")
            result = await alice.wait_for(lambda m: m.photo and m.buttons, timeout=JOB_WAIT)
            assert len([m for m in alice.messages if m.photo]) == 1
            # a transient 502 on the upload is retried: the result arrives once
            tg.fail_next("sendPhoto", 502, "Bad Gateway")
            await alice.click(result, texts.KEEP_COLORS_BUTTON)
            await tg.wait_until(lambda: len([m for m in alice.messages if m.photo]) == 2, JOB_WAIT, "the result")
            assert [c.method for c in tg.failed_calls(injected=True)] == ["sendMessage", "sendPhoto", "sendPhoto"]
            # a result that cannot be sent at all is reported, not dropped silently
            tg.fail_next("sendPhoto", 400, "Bad Request: wrong file identifier/HTTP URL specified")
            await alice.click(result, texts.WEAKER_BUTTON)
            await alice.wait_for_text("could not send it", timeout=JOB_WAIT)
            assert len([m for m in alice.messages if m.photo]) == 2

            # a step that fails (status message refused with 502) queues nothing and keeps
            # the method keyboard, so a second tap works
            methods, label = await _menu(alice, "Preset net")
            tg.fail_next("sendMessage", 502)
            answer = await alice.click(methods, label)
            assert answer.text == texts.ERROR
            assert methods.buttons
            assert [status for _, _, status in _jobs(tmp_path / "limited")] == ["done"] * 3
            await alice.click(methods, label)
            await tg.wait_until(lambda: len([m for m in alice.messages if m.photo]) == 3, JOB_WAIT, "the result")

            # an album whose style photo is unusable keeps no stray copy of its content photo
            await alice.send_album([_photo(), Image.new("RGB", (8, 8), (9, 9, 9))])
            await alice.wait_for_text("too small", timeout=30)
            with contextlib.closing(sqlite3.connect(tmp_path / "limited" / "bot.db")) as db:
                kept = {row[0] for row in db.execute("SELECT content_path FROM sessions") if row[0]}
            stored = {str(path) for path in (tmp_path / "limited" / "data" / "users").rglob("*") if path.is_file()}
            assert stored == kept
            assert tg.unanswered_callbacks() == []

        # retries of a 429 run out: the call fails and the user hears the short apology instead
        async with running_bot(tg, tmp_path / "exhausted", rate_limit_retries=1):
            dan = tg.user(2103, "Dan")
            tg.fail_next("sendMessage", 429, retry_after=1, times=2)
            await dan.send("/start")
            await dan.wait_for_text("went wrong", timeout=30)
            assert not [m for m in dan.messages if m.text == texts.START]
            assert len([c for c in tg.failed_calls(injected=True) if int(c.params.get("chat_id", 0)) == dan.id]) == 2

        # without the limiter the same 429 fails the handler: the user only hears the apology
        async with running_bot(tg, tmp_path / "unlimited", rate_limit=False):
            bob = tg.user(2102, "Bob")
            tg.fail_next("sendMessage", 429, retry_after=1)
            await bob.send("/start")
            await bob.wait_for_text("went wrong", timeout=20)
            assert not [m for m in bob.messages if m.text == texts.START]


async def test_job_cancelled_after_pick_never_runs(tmp_path):
    """/cancel can land between the scheduler reading the next queued job and starting
    it: the job stays cancelled and is not run (no result after "Cancelled")."""
    url = f"sqlite+aiosqlite:///{tmp_path}/bot.db"
    await migrate(url)
    store = Store(url)
    try:
        await store.get_session(7, 7, "Dana")
        await store.create_job(user_id=7, chat_id=7, content_path=str(tmp_path / "c.png"),
                               style_name="starry_night", method="adain")
        picked = await store.next_queued()
        assert await store.finish_job(picked.id, "cancelled")  # what /cancel does meanwhile
        settings = Settings(telegram_bot_token="1:x", database_url=url, data_dir=tmp_path / "data")
        worker = InferenceWorker()  # never started: run_job must not reach it
        await LocalQueue(store, worker, None, settings).run_job(picked)
        assert worker.pid is None
        assert (await store.get_job(picked.id)).status == "cancelled"
        assert not await store.mark_running(picked.id)
    finally:
        await store.close()


async def test_forget_twice_is_stale_and_stores_nothing(tmp_path):
    async with FakeTelegram() as tg, running_bot(tg, tmp_path):
        ann = tg.user(2201, "Ann")
        await ann.send("/start")
        await ann.wait_for_text("photo", timeout=20)
        await ann.send("/forget")
        confirm = await ann.wait_for(lambda m: m.buttons, timeout=20)
        data = confirm.find_button(texts.YES_BUTTON)["callback_data"]
        await ann.click(confirm, data=data)
        await ann.wait_for_text(texts.FORGOTTEN, timeout=20)
        again = await ann.click(confirm, data=data)  # a double click, handled after the first
        assert again.text == texts.STALE_BUTTON
        await ann.wait_quiet(0.5)
        assert len([m for m in ann.messages if m.text == texts.FORGOTTEN]) == 1
        with contextlib.closing(sqlite3.connect(tmp_path / "bot.db")) as db:
            for table, column in (("users", "id"), ("sessions", "user_id")):
                assert db.execute(f"SELECT count(*) FROM {table} WHERE {column} = ?", (ann.id,)).fetchone() == (0,)
        assert tg.unanswered_callbacks() == []


async def test_result_upload_attempts_run_out_and_a_timeout_is_not_retried(tmp_path, monkeypatch):
    """Three 502s in a row: the result is reported as not sent (not dropped silently).
    A sendPhoto whose answer comes too late (Telegram did get it): no second upload and
    no false 'could not send'. A picture Telegram refuses as a photo goes out as a file."""
    from bot.telegram import delivery

    async with FakeTelegram() as tg:
        async with running_bot(tg, tmp_path / "uploads"):
            ann = tg.user(2201, "Ann")
            tg.fail_next("sendPhoto", 502, "Bad Gateway", times=delivery.RESULT_ATTEMPTS)
            await _ask(ann, "Preset net")
            await ann.wait_for_text("could not send it", timeout=JOB_WAIT)
            assert not [m for m in ann.messages if m.photo]
            assert [c.method for c in tg.failed_calls(injected=True)] == ["sendPhoto"] * delivery.RESULT_ATTEMPTS

            tg.delay_next("sendPhoto", 17)  # the bot's read timeout is 15 s
            await _ask(ann, "Preset net", color=(40, 200, 40))
            await tg.wait_until(lambda: len([m for m in ann.messages if m.photo]) == 1, JOB_WAIT, "the late photo")
            await asyncio.sleep(20)  # time for a wrong retry or apology to show up
            assert len([m for m in ann.messages if m.photo]) == 1
            assert len([c for c in tg.calls_of("sendPhoto") if int(c.params["chat_id"]) == ann.id]) == 1 + 3
            assert sum("could not send it" in m.text for m in ann.messages) == 1  # only the first job's

            # a result over the photo limit (here: any result) is sent as a document with the rating keyboard
            monkeypatch.setattr(delivery, "PHOTO_MAX_BYTES", 100)
            await _ask(ann, "Preset net", color=(40, 40, 200))
            doc = await ann.wait_for(lambda m: m.document is not None and m.buttons, timeout=JOB_WAIT)
            assert doc.document_name.endswith(".png") and any("10" in t for t in doc.button_texts)
            assert sum("could not send it" in m.text for m in ann.messages) == 1
            assert tg.unanswered_callbacks() == []
