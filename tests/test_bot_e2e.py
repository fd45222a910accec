"""End-to-end: the real ``stylebot`` process (console script, env-var configuration,
real SQLite file, real inference process running Gatys on tiny images) against the
fake Telegram server (tests/fake_telegram.py) — issue #4's conversations:

photo -> preset -> method -> queue/progress edits -> result photo -> rating ->
/stats; re-rating is not double counted; re-run buttons; two users at once;
album = content + style; double clicks; /forget; restart mid-job (graceful and
crash) still delivers exactly one result.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sqlite3
import time

import pytest
import pytest_asyncio
from PIL import Image

from bot import texts
from tests.demo import running_stylebot, stays_healthy
from tests.fake_telegram import FakeMessage, FakeTelegram, FakeUser

pytestmark = pytest.mark.asyncio(loop_scope="module")

MAX_SIDE = 64  # px: results are tiny, Gatys is quick on CPU
GATYS_STEPS = 15  # enough steps that progress edits are visible
PROGRESS_INTERVAL_S = 0.5
WAIT = 20.0  # s for a chat reply on a loaded 2-core machine
JOB_WAIT = 150.0  # s for a result (includes the inference process importing torch and loading VGG-19)
# one torch thread: on a shared 2-core machine two threads per process are several times slower
SETTINGS = dict(max_side=MAX_SIDE, gatys_steps=GATYS_STEPS, progress_interval_s=PROGRESS_INTERVAL_S,
                album_wait_s=0.5, omp_num_threads=1)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def tg():
    async with FakeTelegram() as server:
        yield server


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def stylebot(tg, tmp_path_factory):
    async with running_stylebot(tg, tmp_path_factory.mktemp("stylebot-e2e"), **SETTINGS) as bot:
        yield bot


@pytest_asyncio.fixture(loop_scope="module")
async def healthy(tg, stylebot):
    async with stays_healthy(tg, stylebot) as bot:
        yield bot


# --------------------------------------------------------------------------- helpers

def photo_bytes(path, side: int = 160) -> bytes:
    img = Image.open(path).convert("RGB")
    img.thumbnail((side, side))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def button(msg: FakeMessage, data_suffix: str, *, stale: bool = False) -> str:
    """callback_data of the button whose data ends with ``data_suffix`` (versions vary);
    ``stale``: also search the keyboards the message had before its edits."""
    keyboards = [msg.raw, *reversed(msg.history)] if stale else [msg.raw]
    for raw in keyboards:
        for row in (raw.get("reply_markup") or {}).get("inline_keyboard", []):
            for b in row:
                if b.get("callback_data", "").endswith(data_suffix):
                    return b["callback_data"]
    raise AssertionError(f"no button ending in {data_suffix!r}: {msg.buttons}")


def has_data(prefix: str):
    return lambda m: any(b.get("callback_data", "").startswith(prefix) for row in m.buttons for b in row)


async def choose(user: FakeUser, style: str = "starry_night", method: str = "gatys") -> FakeMessage:
    """After a content photo: pick ``style`` then ``method``; returns the job's status message."""
    styles = await user.wait_for(has_data("st:"), timeout=WAIT)
    answer = await user.click(styles, data=button(styles, ":" + style))
    assert answer.text in (None, ""), answer
    return await pick_method(user, method)


async def pick_method(user: FakeUser, method: str = "gatys") -> FakeMessage:
    """Click ``method`` on the method keyboard ("fast": AdaIN when this checkout has its
    checkpoint, else Gatys); returns the job's status message."""
    menu = await user.wait_for(has_data("me:"), timeout=WAIT)
    if method == "fast":
        adain = any(b["callback_data"].endswith(":adain") for row in menu.buttons for b in row)
        method = "adain" if adain else "gatys"
    await user.click(menu, data=button(menu, ":" + method))
    return await user.wait_for(lambda m: not m.photo and any("Queued" in v for v in m.versions), timeout=WAIT)


async def result_of(user: FakeUser, status: FakeMessage) -> FakeMessage:
    """Wait for the job behind ``status`` to end (the status message says done) and for
    the result photo that follows it."""
    await user.wait_for(lambda m: m.message_id == status.message_id and m.text.startswith(("✅", "❌", "✖")),
                        timeout=JOB_WAIT, since=0)
    assert status.text.startswith("✅"), status.versions
    return await user.wait_for(lambda m: m.photo and m.message_id > status.message_id and m.buttons,
                               timeout=WAIT, since=0)


def db_rows(stylebot, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(stylebot.database_path) as db:
        return db.execute(sql, args).fetchall()


def result_photos(tg: FakeTelegram, user: FakeUser) -> list[FakeMessage]:
    return [m for m in user.messages if m.photo and m.buttons]


# --------------------------------------------------------------------------- scenarios

async def test_photo_preset_method_progress_result_rating_stats(tg, healthy, tubingen):
    alice = tg.user(1001, "Alice")
    await alice.send("/start")
    start = await alice.wait_for(timeout=WAIT)
    assert start.text == texts.START

    await alice.send_photo(photo_bytes(tubingen))
    styles = await alice.wait_for(has_data("st:"), timeout=WAIT)
    assert styles.text == texts.CHOOSE_STYLE
    assert any("Starry Night" in t for t in styles.button_texts)
    assert texts.OWN_STYLE_BUTTON in styles.button_texts and texts.CANCEL_BUTTON in styles.button_texts
    status = await choose(alice, "starry_night", "gatys")
    result = await result_of(alice, status)

    # the status message: queued -> starting -> progress bar edits -> done, edited in place
    versions = status.versions
    assert versions[0].startswith("⏳ Queued"), versions
    painting = [i for i, v in enumerate(versions) if v.startswith("🎨 Painting")]
    assert painting, f"no progress edit: {versions}"
    assert versions[-1].startswith("✅ Done"), versions
    assert all(a != b for a, b in zip(versions, versions[1:])), "identical consecutive edits"
    percents = [int(versions[i].rsplit(" ", 1)[1].rstrip("%")) for i in painting]
    assert percents == sorted(percents) and all(0 <= p <= 100 for p in percents), versions
    gaps = [status.times[i] - status.times[j] for i, j in zip(painting[1:], painting)]
    assert all(gap >= PROGRESS_INTERVAL_S * 0.9 for gap in gaps), f"progress edits too frequent: {gaps}"

    # the result: a photo within MAX_SIDE with an honest caption and the rating/re-run keyboard
    img = result.photo_image
    assert max(img.size) <= MAX_SIDE and img.mode == "RGB"
    assert img.format == "JPEG", "the photo message is uploaded as JPEG (the PNG only as a file)"
    assert "The Starry Night" in result.text and "Gatys" in result.text, result.text
    assert all(str(n) in result.button_texts for n in range(1, 11))
    for label in (texts.STRONGER_BUTTON, texts.WEAKER_BUTTON, texts.KEEP_COLORS_BUTTON, texts.ANOTHER_STYLE_BUTTON):
        assert label in result.button_texts
    assert len(result_photos(tg, alice)) == 1
    assert not [m for m in alice.messages if m.document], "photo input must not also come back as a file"

    # rating, then changing it: counted once
    assert (await alice.click(result, "8")).text == texts.RATED.format(score=8)
    assert (await alice.click(result, "6")).text == texts.RERATED.format(score=6)
    job_id = int(button(result, ":6").split(":")[1])
    assert db_rows(healthy, "SELECT score FROM ratings WHERE job_id = ?", job_id) == [(6,)]
    assert db_rows(healthy, "SELECT status, method, style_name FROM jobs WHERE id = ?", job_id) == [
        ("done", "gatys", "starry_night")]

    await alice.send("/stats")
    stats = await alice.wait_for_text(texts.STATS_TITLE, timeout=WAIT)
    assert stats.photo and stats.photo_image.width >= 500  # the chart, with the numbers as its caption
    lines = stats.text.splitlines()
    assert "Gatys: 1 rating, mean 6.0" in lines, stats.text
    assert "The Starry Night: 1 rating, mean 6.0" in lines, stats.text
    assert "Your ratings: 1 rating, mean 6.0" in lines, stats.text


async def test_image_sent_as_file_comes_back_as_file_too(tg, healthy, eval_photos):
    carol = tg.user(1003, "Carol")
    img = Image.open(eval_photos[0]).convert("RGB")
    img.thumbnail((120, 120))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    await carol.send_document(buf.getvalue(), "holiday.png", "image/png")
    status = await choose(carol, "the_scream", "fast")
    result = await result_of(carol, status)
    files = [m for m in carol.messages if m.document]
    assert len(files) == 1 and files[0].document_name.endswith(".png"), carol.transcript()
    document = Image.open(io.BytesIO(files[0].document_bytes))
    assert document.format == "PNG" and document.size == result.photo_image.size
    assert "The Scream" in result.text


async def test_two_users_at_once_each_get_their_own_result(tg, healthy, eval_photos):
    dave, erin = tg.user(1004, "Dave"), tg.user(1005, "Erin")
    await asyncio.gather(dave.send_photo(photo_bytes(eval_photos[1])), erin.send_photo(photo_bytes(eval_photos[2])))
    status_d, status_e = await asyncio.gather(choose(dave, "great_wave"), choose(erin, "udnie"))
    result_d, result_e = await asyncio.gather(result_of(dave, status_d), result_of(erin, status_e))
    assert "Great Wave" in result_d.text and "Udnie" in result_e.text
    assert len(result_photos(tg, dave)) == 1 and len(result_photos(tg, erin)) == 1
    # one of them had to wait behind the other and was told its position
    assert any("position 2" in v for v in status_d.versions + status_e.versions), (
        status_d.versions, status_e.versions)
    sent_photos = [c for c in tg.calls_of("sendPhoto") if int(c.params["chat_id"]) in (dave.id, erin.id)]
    assert len(sent_photos) == 2


async def test_rerun_buttons_reuse_the_photo(tg, healthy, tubingen):
    fay = tg.user(1006, "Fay")
    await fay.send_photo(photo_bytes(tubingen))
    first = await result_of(fay, await choose(fay, "mondrian", "fast"))
    assert "strength 1.00" in first.text, first.text

    answer = await fay.click(first, texts.STRONGER_BUTTON)
    assert answer.text == texts.ALREADY_STRONGEST
    await fay.click(first, texts.WEAKER_BUTTON)
    status = await fay.wait_for(lambda m: any("Queued" in v for v in m.versions), timeout=WAIT)
    weaker = await result_of(fay, status)
    assert "strength 0.75" in weaker.text and "Cubist" in weaker.text, weaker.text

    await fay.click(weaker, texts.ANOTHER_STYLE_BUTTON)
    await fay.wait_for(has_data("st:"), timeout=WAIT)
    another = await result_of(fay, await choose(fay, "woman_with_hat", "fast"))
    assert "Woman with a Hat" in another.text
    assert len(fay.sent) == 1, "the photo was sent only once"
    assert len(result_photos(tg, fay)) == 3


def _tensor(img: Image.Image):
    import numpy as np
    import torch

    return torch.from_numpy(np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1)[None]


async def test_rerun_options_reach_the_inference_process_and_change_the_picture(tg, healthy, tubingen):
    """Weaker and Keep my colours: the caption states what the inference process ran
    (not what the job row asked for), and the pictures change as they should: the
    weaker one is closer to the photo, the recoloured one has the photo's colours."""
    from styletransfer.color import rgb_to_ycbcr
    from styletransfer.metrics import content_distance

    hal = tg.user(1012, "Hal")
    sent = photo_bytes(tubingen)
    await hal.send_photo(sent)
    first = await result_of(hal, await choose(hal, "starry_night", "johnson"))
    assert "strength 1.00" in first.text and "your colours" not in first.text, first.text
    await hal.click(first, texts.WEAKER_BUTTON)
    status = await hal.wait_for(lambda m: any("Queued" in v for v in m.versions), timeout=WAIT)
    weaker = await result_of(hal, status)
    assert "strength 0.75" in weaker.text, weaker.text
    await hal.click(first, texts.KEEP_COLORS_BUTTON)
    status = await hal.wait_for(lambda m: any("Queued" in v for v in m.versions) and m.message_id > weaker.message_id,
                                timeout=WAIT)
    kept = await result_of(hal, status)
    assert "your colours" in kept.text and "strength 1.00" in kept.text, kept.text

    out1, out_weak, out_kept = (_tensor(m.photo_image) for m in (first, weaker, kept))
    photo = Image.open(io.BytesIO(sent)).convert("RGB").resize(first.photo_image.size, Image.Resampling.LANCZOS)
    x = _tensor(photo)
    assert out1.shape == out_weak.shape == out_kept.shape == x.shape
    assert content_distance(out_weak, x) < 0.9 * content_distance(out1, x)
    assert (out_weak - x).abs().mean() < 0.85 * (out1 - x).abs().mean()
    chroma = lambda t: rgb_to_ycbcr(t)[:, 1:]  # noqa: E731
    assert (chroma(out_kept) - chroma(x)).abs().mean() < 0.5 * (chroma(out1) - chroma(x)).abs().mean()


async def test_album_is_content_plus_style(tg, healthy, eval_photos, shared_data):
    gus = tg.user(1007, "Gus")
    style_painting = sorted((shared_data / "train" / "style").glob("*.jpg"))[0]
    await gus.send_album([photo_bytes(eval_photos[3]), photo_bytes(style_painting)])
    menu = await gus.wait_for(has_data("me:"), timeout=WAIT)
    assert texts.OWN_STYLE_NAME in menu.text
    assert not [m for m in gus.messages if has_data("st:")(m)], "album must not ask for a style"
    status = await pick_method(gus, "fast")
    result = await result_of(gus, status)
    assert texts.OWN_STYLE_NAME in result.text


async def test_double_clicks_get_a_short_notice(tg, healthy, tubingen):
    hal = tg.user(1008, "Hal")
    await hal.send_photo(photo_bytes(tubingen))
    styles = await hal.wait_for(has_data("st:"), timeout=WAIT)
    data = button(styles, ":shipwreck_of_the_minotaur")
    first, second = await asyncio.gather(hal.click(styles, data=data), hal.click(styles, data=data))
    notices = [a.text for a in (first, second) if a.text]
    assert notices == [texts.STALE_BUTTON], (first, second)
    assert len([m for m in hal.messages if has_data("me:")(m)]) == 1, hal.transcript()

    menu = await hal.wait_for(has_data("me:"), timeout=WAIT, since=0)
    data = button(menu, ":gatys")
    first, second = await asyncio.gather(hal.click(menu, data=data), hal.click(menu, data=data))
    assert [a.text for a in (first, second) if a.text] == [texts.STALE_BUTTON], (first, second)
    status = await hal.wait_for(lambda m: any("Queued" in v for v in m.versions), timeout=WAIT, since=0)
    result = await result_of(hal, status)
    await hal.wait_quiet(1.0)
    assert len(result_photos(tg, hal)) == 1, "a double click must not start two jobs"
    assert db_rows(healthy, "SELECT count(*) FROM jobs WHERE user_id = ?", hal.id) == [(1,)]

    a, b = await asyncio.gather(hal.click(result, "9"), hal.click(result, "9"))
    assert {a.text, b.text} <= {texts.RATED.format(score=9), texts.RERATED.format(score=9)}
    assert db_rows(healthy, "SELECT count(*) FROM ratings WHERE user_id = ?", hal.id) == [(1,)]
    # a button from a keyboard that is long gone
    stale = await hal.click(styles, data=button(styles, ":udnie", stale=True))
    assert stale.text == texts.STALE_BUTTON


async def test_forget_deletes_everything_about_the_user(tg, healthy, tubingen):
    ivy = tg.user(1009, "Ivy")
    await ivy.send_photo(photo_bytes(tubingen))
    result = await result_of(ivy, await choose(ivy, "starry_night", "fast"))
    await ivy.click(result, "10")
    user_dir = healthy.workdir / "data" / "users" / str(ivy.id)
    assert user_dir.is_dir() and any(user_dir.iterdir())

    await ivy.send("/forget")
    confirm = await ivy.wait_for(lambda m: m.buttons, timeout=WAIT)
    assert confirm.text == texts.FORGET_CONFIRM
    await ivy.click(confirm, texts.NO_BUTTON)
    await ivy.wait_for_text(texts.FORGET_KEPT, timeout=WAIT)
    assert db_rows(healthy, "SELECT count(*) FROM ratings WHERE user_id = ?", ivy.id) == [(1,)]

    await ivy.send("/forget")
    confirm = await ivy.wait_for(lambda m: m.buttons, timeout=WAIT)
    await ivy.click(confirm, texts.YES_BUTTON)
    await ivy.wait_for_text(texts.FORGOTTEN, timeout=WAIT)
    for table, column in (("users", "id"), ("sessions", "user_id"), ("jobs", "user_id"), ("ratings", "user_id")):
        assert db_rows(healthy, f"SELECT count(*) FROM {table} WHERE {column} = ?", ivy.id) == [(0,)], table
    assert not user_dir.exists() or not any(user_dir.iterdir())

    # the old result's buttons no longer act on anything
    answer = await ivy.click(result, texts.WEAKER_BUTTON)
    assert answer.text in (texts.STALE_BUTTON, texts.NO_PHOTO), answer
    await ivy.send("/stats")
    stats = await ivy.wait_for(timeout=WAIT)
    assert "Your ratings: 0 ratings" in stats.text or stats.text == texts.STATS_NONE, stats.text


async def test_forget_while_a_job_runs_and_another_waits(tg, healthy, tubingen, eval_photos):
    """/forget with one job painting and one queued: both are stopped, their folders and
    rows are gone, and no result (nor any other message) reaches the user afterwards."""
    jay = tg.user(1013, "Jay")
    await jay.send_photo(photo_bytes(tubingen))
    running = await choose(jay, "the_scream", "gatys")
    await jay.send_photo(photo_bytes(eval_photos[1]))
    await choose(jay, "udnie", "gatys")
    await jay.wait_for(lambda m: m.message_id == running.message_id and "Painting" in m.text, timeout=JOB_WAIT,
                       since=0)
    await jay.send("/forget")
    confirm = await jay.wait_for(lambda m: m.buttons and m.text == texts.FORGET_CONFIRM, timeout=WAIT)
    await jay.click(confirm, texts.YES_BUTTON)
    forgotten = await jay.wait_for_text(texts.FORGOTTEN, timeout=WAIT)
    photos_then = len([m for m in jay.messages if m.photo])
    await asyncio.sleep(8)  # longer than a 64 px Gatys job: a result would have come by now
    assert len([m for m in jay.messages if m.photo]) == photos_then
    later = [m for m in jay.messages if m.message_id > forgotten.message_id]
    assert later == [], later
    for table, column in (("users", "id"), ("sessions", "user_id"), ("jobs", "user_id"), ("ratings", "user_id")):
        assert db_rows(healthy, f"SELECT count(*) FROM {table} WHERE {column} = ?", jay.id) == [(0,)], table
    user_dir = healthy.workdir / "data" / "users" / str(jay.id)
    assert not user_dir.exists() or not any(user_dir.iterdir())
    jobs_dir = healthy.workdir / "data" / "jobs"
    await tg.wait_until(lambda: not any(jobs_dir.iterdir()), 30, "job folders removed")


async def test_flood_control_while_delivering_loses_no_result(tg, healthy, eval_photos):
    """Telegram answers the result upload with 429 retry_after: the bot waits and the
    result still arrives, exactly once."""
    kai = tg.user(1011, "Kai")
    await kai.send_photo(photo_bytes(eval_photos[0]))
    tg.fail_next("sendPhoto", 429, retry_after=1)
    status = await choose(kai, "udnie", "fast")
    result = await result_of(kai, status)
    assert "Udnie" in result.text
    await kai.wait_quiet(1.0)
    assert len(result_photos(tg, kai)) == 1
    assert len(tg.calls_of("sendPhoto", ok=False)) >= 1  # the injected 429 was really hit


async def test_bad_gateway_while_delivering_loses_no_result(tg, healthy, eval_photos):
    kim = tg.user(1018, "Kim")
    await kim.send_photo(photo_bytes(eval_photos[0]))
    tg.fail_next("sendPhoto", 502, "Bad Gateway")
    status = await choose(kim, "udnie", "fast")
    await result_of(kim, status)
    await kim.wait_quiet(1.0)
    assert len(result_photos(tg, kim)) == 1, kim.transcript()


async def test_user_who_blocked_the_bot_does_not_stall_the_queue(tg, healthy, eval_photos):
    lea, max_ = tg.user(1012, "Lea"), tg.user(1013, "Max")
    await lea.send_photo(photo_bytes(eval_photos[1]))
    await choose(lea, "great_wave", "fast")
    lea.block()  # Telegram now answers 403 to everything the bot sends her
    await max_.send_photo(photo_bytes(eval_photos[2]))
    result = await result_of(max_, await choose(max_, "the_scream", "fast"))
    assert "The Scream" in result.text
    await max_.send("/start")
    await max_.wait_for_text(texts.START.split("\n")[0], timeout=WAIT)
    lea.blocked = False
    assert db_rows(healthy, "SELECT count(*) FROM jobs WHERE user_id = ? AND status IN ('queued', 'running')",
                   lea.id) == [(0,)]


async def test_cancel_a_running_job(tmp_path, tubingen):
    """/cancel while Gatys runs: the job stops, no result is sent, the bot carries on."""
    async with FakeTelegram() as tg:
        async with running_stylebot(tg, tmp_path, **{**SETTINGS, "gatys_steps": 200}) as bot:
            max_ = tg.user(1014, "Max")
            await max_.send_photo(photo_bytes(tubingen))
            status = await choose(max_, "the_scream", "gatys")
            await max_.wait_for(lambda m: m.message_id == status.message_id and m.text.startswith("🎨 Painting"),
                                timeout=JOB_WAIT, since=0)
            await max_.send("/cancel")
            await max_.wait_for_text(texts.CANCELLED, timeout=WAIT)
            await max_.wait_for(lambda m: m.message_id == status.message_id and m.text == texts.CANCELLED_STATUS,
                                timeout=WAIT, since=0)
            assert db_rows(bot, "SELECT status FROM jobs") == [("cancelled",)]
            # the inference process is free again: the next job runs at once
            await max_.send_photo(photo_bytes(tubingen))
            result = await result_of(max_, await choose(max_, "udnie", "fast"))
            assert "Udnie" in result.text and len(result_photos(tg, max_)) == 1
            assert not [c for c in tg.failed_calls() if c.method != "getUpdates"]
            assert tg.unanswered_callbacks() == []


async def test_per_user_limit_and_busy_queue(tmp_path, tubingen):
    """MAX_QUEUED_PER_USER and MAX_QUEUE: polite refusals, and nothing else breaks."""
    async with FakeTelegram() as tg:
        async with running_stylebot(tg, tmp_path, **{**SETTINGS, "gatys_steps": 400, "max_queued_per_user": 1,
                                                     "max_queue": 2}) as bot:
            ann, ben, cat = tg.user(1015, "Ann"), tg.user(1016, "Ben"), tg.user(1017, "Cat")
            statuses = []
            for _ in range(2):  # one running, one queued
                await ann.send_photo(photo_bytes(tubingen))
                statuses.append(await choose(ann, "udnie", "gatys"))
            await ann.send_photo(photo_bytes(tubingen))
            styles = await ann.wait_for(has_data("st:"), timeout=WAIT)
            await ann.click(styles, data=button(styles, ":udnie"))
            menu = await ann.wait_for(has_data("me:"), timeout=WAIT)
            await ann.click(menu, data=button(menu, ":gatys"))
            await ann.wait_for_text(texts.USER_LIMIT.format(count=texts.pictures(1)), timeout=WAIT)

            await ben.send_photo(photo_bytes(tubingen))
            await choose(ben, "udnie", "gatys")  # the queue now holds 2 waiting jobs
            await cat.send_photo(photo_bytes(tubingen))
            styles = await cat.wait_for(has_data("st:"), timeout=WAIT)
            await cat.click(styles, data=button(styles, ":udnie"))
            menu = await cat.wait_for(has_data("me:"), timeout=WAIT)
            await cat.click(menu, data=button(menu, ":gatys"))
            await cat.wait_for_text(texts.BUSY.format(queued=texts.pictures(2)), timeout=WAIT)

            assert db_rows(bot, "SELECT user_id, status FROM jobs ORDER BY id") == [
                (ann.id, "running"), (ann.id, "queued"), (ben.id, "queued")]
            for user in (ann, ben):
                await user.send("/cancel")
                await user.wait_for_text(texts.CANCELLED, timeout=WAIT)
            for status in statuses:  # the running job stops too
                await ann.wait_for(lambda m: m.message_id == status.message_id and m.text == texts.CANCELLED_STATUS,
                                   timeout=JOB_WAIT, since=0)
            assert sorted(db_rows(bot, "SELECT status FROM jobs")) == [("cancelled",)] * 3
            assert not [c for c in tg.failed_calls() if c.method != "getUpdates"]
            assert tg.unanswered_callbacks() == []


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
async def test_restart_mid_job_delivers_exactly_one_result(tmp_path, tubingen, how):
    """Stop the bot (gracefully, or kill it) while a job runs; after a restart the job
    runs again and exactly one result arrives, in the same status message."""
    async with FakeTelegram() as tg:
        async with running_stylebot(tg, tmp_path, **{**SETTINGS, "gatys_steps": 40}) as bot:
            jo = tg.user(1010, "Jo")
            await jo.send_photo(photo_bytes(tubingen))
            status = await choose(jo, "starry_night")
            await jo.wait_for(lambda m: m.message_id == status.message_id and m.text.startswith("🎨 Painting"),
                              timeout=JOB_WAIT, since=0)
            worker_pids = _inference_pids(bot.log())
            await bot.stop(signal.SIGTERM if how == "sigterm" else signal.SIGKILL)
            if how == "sigkill":
                # the orphaned inference process must notice and exit by itself
                lingering = await _wait_gone(worker_pids, timeout=15.0)
                assert not lingering, f"inference process(es) {lingering} outlived the killed bot"
            assert not result_photos(tg, jo)
            assert db_rows(bot, "SELECT status FROM jobs") == [("running",)]

            await bot.start()
            result = await result_of(jo, status)
            await jo.wait_quiet(1.5)
            assert len(result_photos(tg, jo)) == 1, jo.transcript()
            assert [c for c in tg.calls_of("sendPhoto") if int(c.params["chat_id"]) == jo.id].__len__() == 1
            assert db_rows(bot, "SELECT status, attempts FROM jobs") == [("done", 2)]  # ran twice, delivered once
            assert "The Starry Night" in result.text
            await jo.send("/start")
            await jo.wait_for_text(texts.START.split("\n")[0], timeout=WAIT)
            assert tg.unanswered_callbacks() == []


def _inference_pids(log: str) -> list[int]:
    import re

    return [int(p) for p in re.findall(r"inference process started \(pid (\d+)\)", log)]


async def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait for ``pids`` to exit; SIGKILL and return those still alive after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        await asyncio.sleep(0.2)
    lingering = [p for p in pids if _alive(p)]
    for pid in lingering:
        os.kill(pid, signal.SIGKILL)
    return lingering


def _alive(pid: int) -> bool:
    """Running (not exited, not a zombie waiting for its reaper)."""
    if not os.path.isdir("/proc"):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            running = stat.read().rsplit(")", 1)[1].split()[0] != "Z"
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return running and b"spawn_main" in cmdline.read()  # not a recycled pid
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


async def test_brush_size_from_settings_and_the_stroke_buttons_reach_the_inference_process(tg, healthy, tubingen):
    """/settings' brush and the result's "bigger / finer strokes" buttons: the job spec carries
    the stroke to the inference process, whose report of what it ran is the caption; the
    stroke buttons step by 1.5x and stop at the ends of the range."""
    ivy = tg.user(1013, "Ivy")
    await ivy.send("/settings")
    panel = await ivy.wait_for(has_data("cfg:b:"), timeout=WAIT)
    assert any(texts.brush_name(1.0) in b for b in panel.button_texts)
    assert (await ivy.click(panel, data="cfg:b:bold")).text == texts.SETTINGS_SAVED
    panel = await ivy.wait_for(lambda m: m.message_id == panel.message_id and "Brush: bold" in m.text,
                               timeout=WAIT, since=0)
    await ivy.send_photo(photo_bytes(tubingen))
    first = await result_of(ivy, await choose(ivy, "udnie", "johnson"))
    assert "bold strokes" in first.text, first.text
    await ivy.click(first, texts.BIGGER_STROKES_BUTTON)
    status = await ivy.wait_for(lambda m: any("Queued" in v for v in m.versions), timeout=WAIT)
    bigger = await result_of(ivy, status)
    assert "2.25 strokes" in bigger.text, bigger.text
    await ivy.click(first, texts.FINER_STROKES_BUTTON)
    status = await ivy.wait_for(lambda m: any("Queued" in v for v in m.versions) and m.message_id > bigger.message_id,
                                timeout=WAIT)
    finer = await result_of(ivy, status)
    assert "strokes" not in finer.text and "strength 1.00" in finer.text, finer.text  # medium: no mention
    assert (await ivy.click(first, texts.BIGGER_STROKES_BUTTON)).text == texts.ALREADY_DONE
    await ivy.click(bigger, texts.BIGGER_STROKES_BUTTON)  # 3.375: the biggest
    status = await ivy.wait_for(lambda m: any("Queued" in v for v in m.versions) and m.message_id > finer.message_id,
                                timeout=WAIT)
    biggest = await result_of(ivy, status)
    assert "3.375 strokes" in biggest.text, biggest.text
    assert (await ivy.click(biggest, texts.BIGGER_STROKES_BUTTON)).text == texts.ALREADY_BOLDEST


async def test_canvas_texture_from_settings_reaches_the_inference_process(tg, healthy, tubingen):
    """/settings' canvas texture: the job spec carries it, the caption says it was painted on canvas."""
    jo = tg.user(1014, "Jo")
    await jo.send("/settings")
    panel = await jo.wait_for(has_data("cfg:t:"), timeout=WAIT)
    assert (await jo.click(panel, data="cfg:t:toggle")).text == texts.SETTINGS_SAVED
    await jo.wait_for(lambda m: m.message_id == panel.message_id and "Canvas texture: yes" in m.text,
                      timeout=WAIT, since=0)
    await jo.send_photo(photo_bytes(tubingen))
    result = await result_of(jo, await choose(jo, "the_scream", "johnson"))
    assert "on canvas" in result.text, result.text
