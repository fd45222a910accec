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
                headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}
                async with http.post(f"{base}{WEBHOOK_PATH}", json=update, headers=headers) as response:
                    assert response.status == 200
                reply = await alice.wait_for_text("photo", since=0)
                assert "paintings" in reply.text
                assert len(alice.messages) == 1
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
