"""Run the real ``stylebot`` application inside the current event loop against the
fake Bot API server (the e2e suites in ``tests/demo.py`` start it as a subprocess
instead). Shared by the in-process bot tests and ``bench/bot_load.py``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from bot.__main__ import serve
from bot.config import Settings
from tests.fake_telegram import FakeTelegram


@contextlib.asynccontextmanager
async def serving_stylebot(tg: FakeTelegram, workdir: Path, *, start_timeout: float = 30.0,
                           stop_timeout: float = 60.0, **overrides: object) -> AsyncIterator[Settings]:
    """``bot.__main__.serve`` against ``tg`` with a SQLite file and data folder in ``workdir``.

    Defaults suit tests (64-px results, 3 Gatys steps, no HTTP port, CPU, /survey pictures
    painted only when asked for); ``overrides``
    are :class:`bot.config.Settings` fields. Yields once the bot has registered its
    commands (it is polling); stops it gracefully on exit.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    values: dict[str, object] = dict(
        telegram_bot_token=tg.token, telegram_base_url=tg.base_url, telegram_base_file_url=tg.base_file_url,
        database_url=f"sqlite+aiosqlite:///{workdir}/bot.db", data_dir=workdir / "data", max_side=64,
        gatys_steps=3, port=0, album_wait_s=0.3, progress_interval_s=0.5, device="cpu", survey_prerender=False,
    )
    values.update(overrides)
    settings = Settings(**values)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop))
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + start_timeout
        while not (tg.commands or task.done()) and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if task.done():
            task.result()
        yield settings
    finally:
        stop.set()
        await asyncio.wait_for(task, stop_timeout)
