"""The bot with videos, end to end: the real ``stylebot`` process against the fake Bot
API, real PyAV clips made from the sample photo. A video comes back as a video (with
its sound), a GIF (animation) as an animation, a round video note as a video note,
each with the rating keyboard; one progress message counts frames; /cancel stops a
clip mid-way; a restart mid-clip delivers exactly one result."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import pytest_asyncio

from bot import texts
from tests.clips import make_clip, streams
from tests.demo import running_stylebot, stays_healthy
from tests.fake_telegram import FakeTelegram
from tests.test_bot_e2e import WAIT, button, db_rows, has_data

pytestmark = pytest.mark.asyncio(loop_scope="module")

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "styletransfer" / "samples" / "tubingen.jpg"
JOB_WAIT = 240.0
SETTINGS = dict(max_side=64, video_max_side=96, progress_interval_s=0.3, album_wait_s=0.5, omp_num_threads=1)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("bot-clips")
    return {
        "video": make_clip(d / "v.mp4", SAMPLE, seconds=1.0, fps=12, size=(160, 90)),
        "animation": make_clip(d / "a.mp4", SAMPLE, seconds=1.0, fps=10, size=(120, 90), audio=False),
        "note": make_clip(d / "n.mp4", SAMPLE, seconds=1.0, fps=10, size=(96, 96)),
        "long": make_clip(d / "l.mp4", SAMPLE, seconds=8.0, fps=24, size=(320, 180)),
    }


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def tg():
    async with FakeTelegram() as server:
        yield server


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def stylebot(tg, tmp_path_factory):
    async with running_stylebot(tg, tmp_path_factory.mktemp("stylebot-video"), **SETTINGS) as bot:
        yield bot


@pytest_asyncio.fixture(loop_scope="module")
async def healthy(tg, stylebot):
    async with stays_healthy(tg, stylebot) as bot:
        yield bot


async def _pick(user, style: str = "starry_night", method: str = "johnson"):
    styles = await user.wait_for(has_data("st:"), timeout=WAIT)
    await user.click(styles, data=button(styles, ":" + style))
    menu = await user.wait_for(has_data("me:"), timeout=WAIT)
    methods = [b["callback_data"].rsplit(":", 1)[-1] for row in menu.buttons for b in row]
    assert "gatys" not in methods, methods  # Gatys is never offered for a clip
    await user.click(menu, data=button(menu, ":" + method))
    return await user.wait_for(lambda m: not m.buttons and any("Queued" in v for v in m.versions), timeout=WAIT)


async def _done(user, status):
    await user.wait_for(lambda m: m.message_id == status.message_id and m.text.startswith(("✅", "❌", "✖")),
                        timeout=JOB_WAIT, since=0)
    assert status.text.startswith("✅"), status.versions
    return await user.wait_for(lambda m: m.buttons and (m.video or m.animation or m.video_note)
                               and m.message_id > status.message_id, timeout=WAIT, since=0)


async def test_video_comes_back_as_a_video_with_sound_and_a_rating(tg, healthy, clips, tmp_path):
    vic = tg.user(3001, "Vic")
    await vic.send_video(clips["video"], width=160, height=90, duration=1)
    reply = await vic.wait_for(has_data("st:"), timeout=WAIT)
    assert "clip (1 s)" in reply.text
    status = await _pick(vic)
    result = await _done(vic, status)
    assert any("frame" in v and "of 12" in v for v in status.versions), status.versions
    assert result.video and "The Starry Night" in result.text
    out = tmp_path / "r.mp4"
    out.write_bytes(result.media_bytes)
    s = streams(out)
    assert s["video"] == "h264" and s["audio"] == "aac" and s["size"] == (96, 54) and s["fps"] == pytest.approx(12)
    await vic.click(result, "9")
    assert db_rows(healthy, "SELECT score FROM ratings WHERE user_id = ?", vic.id) == [(9,)]
    # a re-run works on the clip too
    await vic.click(result, texts.KEEP_COLORS_BUTTON)
    status = await vic.wait_for(lambda m: any("Queued" in v for v in m.versions), timeout=WAIT)
    again = await _done(vic, status)
    assert again.video and "your colours" in again.text


async def test_gif_comes_back_as_an_animation_and_a_note_as_a_note(tg, healthy, clips, tmp_path):
    gia = tg.user(3002, "Gia")
    await gia.send_animation(clips["animation"], width=120, height=90)
    result = await _done(gia, await _pick(gia, "the_scream"))
    assert result.animation and not result.video and "The Scream" in result.text
    out = tmp_path / "a.mp4"
    out.write_bytes(result.media_bytes)
    assert streams(out)["audio"] is None
    await gia.send_video_note(clips["note"], length=96)
    status = await _pick(gia, "starry_night")
    note = await _done(gia, status)
    assert note.video_note and note.video_note["length"] == 96 and not note.caption
    assert "The Starry Night" in status.text  # the caption went onto the status message


async def test_bad_clips_and_files_get_a_clear_answer(tg, healthy, clips):
    ned = tg.user(3003, "Ned")
    await ned.send_video(b"\x00" * 5000)
    reply = await ned.wait_for_text("couldn't use that video", timeout=WAIT)
    assert "send another" in reply.text
    data = clips["video"].read_bytes()
    await ned.send_document(data[:1500], "cut.mp4", "video/mp4")
    await ned.wait_for_text("couldn't use that video", timeout=WAIT)
    await ned.send_document(data, "clip.mp4", "video/mp4")  # a video sent as a file works
    await ned.wait_for(has_data("st:"), timeout=WAIT)


async def test_cancel_mid_clip(tg, healthy, clips):
    cy = tg.user(3004, "Cy")
    await cy.send_video(clips["long"], width=320, height=180, duration=8)
    status = await _pick(cy)
    await cy.wait_for(lambda m: m.message_id == status.message_id and "frame" in m.text, timeout=JOB_WAIT, since=0)
    await cy.send("/cancel")
    await cy.wait_for(lambda m: m.message_id == status.message_id and m.text == texts.CANCELLED_STATUS,
                      timeout=WAIT, since=0)
    await cy.wait_quiet(2.0)
    assert not [m for m in cy.messages if m.video]
    assert db_rows(healthy, "SELECT status FROM jobs WHERE user_id = ?", cy.id) == [("cancelled",)]


async def test_restart_mid_clip_delivers_exactly_once(tmp_path, clips):
    async with FakeTelegram() as tg:
        async with running_stylebot(tg, tmp_path, **SETTINGS) as bot:
            ru = tg.user(3005, "Ru")
            await ru.send_video(clips["long"], width=320, height=180, duration=8)
            status = await _pick(ru)
            await ru.wait_for(lambda m: m.message_id == status.message_id and "frame" in m.text, timeout=JOB_WAIT,
                              since=0)
            await bot.stop(signal.SIGKILL)
            assert db_rows(bot, "SELECT status FROM jobs") == [("running",)]
            await bot.start()
            result = await _done(ru, status)
            await ru.wait_quiet(1.5)
            assert result.video and len([m for m in ru.messages if m.video]) == 1
            assert len([c for c in tg.calls_of("sendVideo") if int(c.params["chat_id"]) == ru.id]) == 1
            assert db_rows(bot, "SELECT status, attempts FROM jobs") == [("done", 2)]
