"""The inference process behind bot.jobs.local.InferenceWorker: a real tiny Gatys job
with progress and result, cancellation, and recovery when the process dies."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal

import pytest
import pytest_asyncio
from PIL import Image

from bot.jobs.local import InferenceWorker
from bot.jobs.queue import Cancelled, Done, Failed, JobSpec, Progress

pytestmark = pytest.mark.asyncio(loop_scope="module")

needs_engine = pytest.mark.skipif(importlib.util.find_spec("styletransfer.engine") is None,
                                  reason="styletransfer.engine not available yet")


@pytest.fixture
def images(tmp_path):
    content = tmp_path / "content.png"
    style = tmp_path / "style.png"
    gradient = Image.linear_gradient("L").resize((48, 36)).convert("RGB")
    gradient.save(content)
    Image.effect_noise((48, 48), 80).convert("RGB").save(style)
    return content, style


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def worker():
    """One inference process for the module (it imports torch once)."""
    worker = InferenceWorker(poll_s=0.05)
    worker.start()
    yield worker
    await worker.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def own_worker():
    worker = InferenceWorker(poll_s=0.05)
    worker.start()
    yield worker
    await worker.stop()


def _spec(images, tmp_path, job_id=1, steps=5, **kw) -> JobSpec:
    content, style = images
    return JobSpec(job_id=job_id, content_path=str(content), style=str(style), method="gatys",
                   output_path=str(tmp_path / f"out{job_id}.png"), max_side=48, steps=steps, device="cpu", **kw)


@needs_engine
async def test_real_tiny_gatys_job_reports_progress_and_result(worker, images, tmp_path):
    events: list[Progress] = []
    outcome = await asyncio.wait_for(worker.run(_spec(images, tmp_path), on_progress=events.append), 240)
    assert isinstance(outcome, Done), outcome
    assert outcome.seconds > 0
    result = Image.open(outcome.output_path)
    assert result.mode == "RGB" and max(result.size) == 48
    assert events and all(e.job_id == 1 and e.total > 0 for e in events)
    assert events[-1].step <= events[-1].total


@needs_engine
async def test_cancel_running_job(worker, images, tmp_path):
    started = asyncio.Event()
    task = asyncio.create_task(worker.run(_spec(images, tmp_path, job_id=2, steps=5000),
                                          on_progress=lambda e: started.set()))
    await asyncio.wait_for(started.wait(), 240)
    assert worker.cancel(2)
    assert isinstance(await asyncio.wait_for(task, 60), Cancelled)


async def test_bad_input_fails_without_killing_the_process(worker, tmp_path):
    bad = tmp_path / "nope.png"
    bad.write_bytes(b"not an image")
    spec = JobSpec(job_id=3, content_path=str(bad), style="starry_night", method="gatys",
                   output_path=str(tmp_path / "o.png"), max_side=48, steps=2, device="cpu")
    outcome = await asyncio.wait_for(worker.run(spec), 240)
    assert isinstance(outcome, Failed) and not outcome.worker_died
    assert worker.is_alive() and worker.restarts == 0


async def test_worker_death_fails_job_and_restarts(own_worker, images, tmp_path):
    worker = own_worker
    first_pid = worker.pid
    task = asyncio.create_task(worker.run(_spec(images, tmp_path, job_id=4, steps=5000)))
    for _ in range(3):  # let run() hand the job over; the process is then busy with it
        await asyncio.sleep(0)
    assert worker.current_job == 4
    os.kill(first_pid, signal.SIGKILL)
    outcome = await asyncio.wait_for(task, 30)
    assert isinstance(outcome, Failed) and outcome.worker_died and outcome.job_id == 4
    assert worker.restarts == 1 and worker.pid != first_pid and worker.is_alive()
    # the fresh process serves the next job
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"junk")
    nxt = JobSpec(job_id=5, content_path=str(bad), style="starry_night", method="gatys",
                  output_path=str(tmp_path / "o5.png"), max_side=48, steps=2, device="cpu")
    outcome = await asyncio.wait_for(worker.run(nxt), 240)
    assert outcome.job_id == 5 and isinstance(outcome, Failed) and not outcome.worker_died


@needs_engine
async def test_process_says_ready_after_warm_up(own_worker):
    """The inference process imports the engine and loads the nets before it says Ready,
    so the first job does not pay for that; the time is recorded (and shown on /healthz)."""
    for _ in range(1200):
        if own_worker.ready_s is not None:
            break
        await asyncio.sleep(0.05)
    assert own_worker.ready_s is not None and 0 < own_worker.ready_s < 60
    from bot.jobs.inference import warm_up

    assert warm_up("cpu") >= 0  # runs again in-process without raising


@needs_engine
async def test_engine_refusals_reach_the_user_without_internals(tmp_path):
    """The engine's own messages name internal files ('content.png') and options
    (max_side); the user gets a plain sentence instead."""
    from PIL import Image

    from bot import texts
    from bot.jobs.queue import Failed
    from bot.jobs.inference import run_job
    from tests.demo import LEAK

    thin = tmp_path / "content.png"
    Image.new("RGB", (400, 20), (30, 90, 160)).save(thin)
    spec = JobSpec(job_id=7, content_path=str(thin), style="starry_night", method="johnson",
                   output_path=str(tmp_path / "out.png"), max_side=64, device="cpu")
    outcome = run_job(spec, lambda event: None, lambda: False)
    assert isinstance(outcome, Failed) and outcome.user_error
    assert outcome.message == texts.JOB_OPTIONS_UNUSABLE and not LEAK.search(outcome.message)
    broken = tmp_path / "style.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    spec = JobSpec(job_id=8, content_path=str(thin.with_name("missing.png")), style=str(broken), method="gatys",
                   output_path=str(tmp_path / "out.png"), max_side=64, steps=1, device="cpu")
    outcome = run_job(spec, lambda event: None, lambda: False)
    assert isinstance(outcome, Failed) and outcome.message == texts.JOB_IMAGE_UNUSABLE
