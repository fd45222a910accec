"""Webhook mode: stylebot registers its webhook with the secret token and serves
Telegram's posts and /healthz from one aiohttp server."""

from __future__ import annotations

import asyncio
import socket
import time

import aiohttp

from bot.__main__ import WEBHOOK_PATH, serve
from bot.config import Settings
from tests.fake_telegram import FakeTelegram


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_webhook_mode_with_secret_and_healthz(tmp_path):
    async with FakeTelegram() as tg:
        port = _free_port()
        settings = Settings(
            telegram_bot_token=tg.token, telegram_base_url=tg.base_url, telegram_base_file_url=tg.base_file_url,
            database_url=f"sqlite+aiosqlite:///{tmp_path}/bot.db", data_dir=tmp_path / "data",
            webhook_url="https://bot.example.org/", webhook_secret="s3cret-token", host="127.0.0.1", port=port,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(serve(settings, stop))
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as http:
                for _ in range(200):
                    try:
                        async with http.get(f"{base}/healthz") as response:
                            health = await response.json()
                            break
                    except aiohttp.ClientConnectionError:
                        assert not task.done(), task
                        await asyncio.sleep(0.05)
                assert health["ok"] is True
                assert tg.webhook == {**tg.webhook, "url": "https://bot.example.org" + WEBHOOK_PATH,
                                      "secret_token": "s3cret-token"}

                alice = tg.user(3001, "Alice")
                update = {"update_id": 1, "message": {
                    "message_id": 1, "date": int(time.time()), "text": "/start",
                    "from": alice.user_dict, "chat": alice.chat_dict,
                    "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
                }}
                async with http.post(f"{base}{WEBHOOK_PATH}", json=update) as response:
                    assert response.status == 403  # no secret header
                wrong = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-tokem"}
                async with http.post(f"{base}{WEBHOOK_PATH}", json=update, headers=wrong) as response:
                    assert response.status == 403  # a wrong secret of the same length
                right = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}
                for body in (b"{not json", b"\xff\xfe", b"[1, 2]", b'"text"'):
                    async with http.post(f"{base}{WEBHOOK_PATH}", data=body, headers=right) as response:
                        assert response.status == 400, body
                headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}
                async with http.post(f"{base}{WEBHOOK_PATH}", json=update, headers=headers) as response:
                    assert response.status == 200
                reply = await alice.wait_for_text("photo", since=0)
                assert "paintings" in reply.text
                assert len(alice.messages) == 1
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)


def test_webhook_mode_without_secret_refuses_to_start(tmp_path):
    """Without WEBHOOK_SECRET anyone who finds the URL could post updates as any user."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "TELEGRAM_BOT_TOKEN": "123:abc", "WEBHOOK_URL": "https://bot.example.org"}
    env.pop("WEBHOOK_SECRET", None)
    result = subprocess.run([sys.executable, "-m", "bot"], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                            env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "WEBHOOK_SECRET is required when WEBHOOK_URL is set" in result.stderr


def test_secret_is_compared_in_constant_time():
    import inspect

    from bot.web import server

    assert "hmac.compare_digest" in inspect.getsource(server.web_app)
