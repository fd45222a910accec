"""The bot process must never import torch (inference runs in a separate process)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_bot_process_does_not_import_torch():
    code = textwrap.dedent("""
        import sys
        import bot.__main__, bot.app, bot.telegram.handlers, bot.jobs.local, bot.jobs.procrastinate, bot.jobs.inference, bot.telegram.conversation, bot.web.server
        from bot.app import build_application
        from bot.config import Settings
        app = build_application(Settings(telegram_bot_token="123456:" + "A" * 35))
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"torch", "torchvision", "safetensors"})
        assert not heavy, heavy
        assert "styletransfer.engine" not in sys.modules
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
