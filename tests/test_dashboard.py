"""The operator dashboard: token rules over HTTP, and the real page in headless Chromium
(Debian's chromium driven by Playwright; skipped where no browser is installed, which
CI treats as a failure)."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import aiohttp
import pytest

from bot import texts
from tests.bot_runner import serving_stylebot
from tests.fake_telegram import FakeTelegram
from tests.test_bot_limits import JOB_WAIT, _ask

TOKEN = "dash-token-0123456789abcdef"
CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser", shutil.which("chromium") or "")
                 if p and Path(p).is_file()), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _status(url: str, headers: dict | None = None) -> tuple[int, str]:
    """GET ``url``; waits (up to 15 s) for the bot's HTTP server, which starts after polling."""
    import asyncio

    async with aiohttp.ClientSession() as http:
        for _ in range(150):
            try:
                async with http.get(url, headers=headers or {}) as response:
                    return response.status, await response.text()
            except aiohttp.ClientConnectorError:
                await asyncio.sleep(0.1)
    raise AssertionError(f"nothing answers at {url}")


async def test_dashboard_tokens_and_the_page_in_chromium(tmp_path):
    port = _free_port()
    base = f"http://127.0.0.1:{port}/dashboard"
    async with FakeTelegram() as tg:
        async with serving_stylebot(tg, tmp_path / "with", port=port, host="127.0.0.1", dashboard_token=TOKEN):
            ada = tg.user(4001, "Ada")
            await _ask(ada, "Preset net")
            result = await ada.wait_for(lambda m: m.photo and m.buttons, timeout=JOB_WAIT)
            await ada.click(result, "8")

            # Prometheus metrics (no token: the operator scrapes them from inside the network)
            code, metrics = await _status(f"http://127.0.0.1:{port}/metrics")
            assert code == 200
            assert 'stylebot_jobs_total{media="photo",method="johnson",outcome="done"} 1.0' in metrics
            assert "stylebot_live_workers 1.0" in metrics and "stylebot_queue_jobs 0.0" in metrics
            assert 'stylebot_job_seconds_count{media="photo",method="johnson"} 1.0' in metrics

            assert (await _status(base))[0] == 403
            assert (await _status(base + "?token=wrong-token-0123456789"))[0] == 403
            assert (await _status(base, {"Authorization": "Bearer nope"}))[0] == 403
            code, html = await _status(base, {"Authorization": f"Bearer {TOKEN}"})
            assert code == 200 and "Jobs per hour" in html and "data:image/png;base64," in html
            assert "users/" not in html and ".png" not in html.replace("image/png", "")  # no user pictures
            assert texts.METHOD_NAMES["johnson"] in html or "johnson" in html

            if CHROMIUM is None:
                pytest.skip("no Chromium installed (apt-get install chromium)")
            from playwright.async_api import async_playwright

            async with async_playwright() as pw:
                browser = await pw.chromium.launch(
                    executable_path=CHROMIUM,
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
                          "--disable-component-update", "--disable-sync"])
                try:
                    page = await browser.new_page(viewport={"width": 1200, "height": 900})
                    response = await page.goto(f"{base}?token={TOKEN}")
                    assert response.status == 200
                    assert await page.title() == "stylebot · dashboard"
                    assert (await page.inner_text("#queued")).strip() == "0"
                    for chart in ("#jobs-chart", "#ratings-chart"):
                        width = await page.eval_on_selector(chart, "img => img.complete ? img.naturalWidth : 0")
                        assert width > 300, chart
                    shot = tmp_path / "dashboard.png"
                    await page.screenshot(path=str(shot), full_page=True)
                    forbidden = await page.goto(f"{base}?token=wrong-token-0123456789")
                    assert forbidden.status == 403
                finally:
                    await browser.close()
            from PIL import Image

            with Image.open(shot) as img:
                assert img.height > 600 and len(img.convert("RGB").resize((80, 80)).getcolors(80 * 80)) > 20

        # no DASHBOARD_TOKEN: no page at all
        port2 = _free_port()
        async with serving_stylebot(tg, tmp_path / "without", port=port2, host="127.0.0.1"):
            assert (await _status(f"http://127.0.0.1:{port2}/dashboard?token={TOKEN}"))[0] == 404
