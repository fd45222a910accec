"""Try stylebot without Telegram: start the fake Bot API server and the real
``stylebot``, drive one conversation, print the transcript, save the result.

    python -m tests.demo [--photo P] [--style starry_night | PICTURE] [--method gatys]
                         [--max-side 256] [--steps 100] [--out stylebot-demo.png]

The bot runs exactly as deployed (the ``stylebot`` console script, configured by
environment variables only: TELEGRAM_BASE_URL / TELEGRAM_BASE_FILE_URL point it at
the fake server), with its database and files in a temporary folder.

:func:`running_stylebot` is also what the end-to-end tests use to start the bot.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.fake_telegram import FakeTelegram

REPO = Path(__file__).resolve().parents[1]


def stylebot_command() -> list[str]:
    """The installed ``stylebot`` console script (next to this interpreter), else ``python -m bot``."""
    script = Path(sys.executable).with_name("stylebot")
    if script.is_file():
        return [str(script)]
    found = shutil.which("stylebot")
    return [found] if found else [sys.executable, "-m", "bot"]


@dataclass
class StylebotProcess:
    """A ``stylebot`` subprocess talking to a FakeTelegram server."""

    tg: FakeTelegram
    workdir: Path
    env: dict[str, str]
    process: subprocess.Popen | None = None
    starts: int = 0
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.workdir / "stylebot.log"

    @property
    def database_path(self) -> Path:
        return self.workdir / "stylebot.db"

    async def start(self, timeout: float = 60.0) -> None:
        """Start the bot and wait until it long-polls the fake server."""
        assert self.process is None or self.process.poll() is not None, "already running"
        polls_before = len(self.tg.calls_of("getUpdates"))
        log = open(self.log_path, "a")  # noqa: SIM115 - closed with the process
        log.write(f"\n===== start #{self.starts + 1} =====\n")
        log.flush()
        self.process = subprocess.Popen(
            stylebot_command(), cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        log.close()
        self.starts += 1
        deadline = time.monotonic() + timeout
        while len(self.tg.calls_of("getUpdates")) <= polls_before:
            if self.process.poll() is not None:
                raise RuntimeError(f"stylebot exited with code {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"stylebot did not start polling within {timeout:g}s:\n{self.log()}")
            await asyncio.sleep(0.05)

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Stop the bot (SIGTERM: graceful; SIGKILL: a crash) and return its exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(sig)
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                self.process.kill()
                self.process.wait()
                raise RuntimeError(f"stylebot did not stop within {timeout:g}s:\n{self.log()}")
            await asyncio.sleep(0.05)
        return self.process.returncode

    def log(self, tail: int = 12_000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except FileNotFoundError:
            return "(no log)"


def _die_with_parent() -> None:
    """Linux: SIGTERM the bot if the test process dies, so no stray bot keeps polling."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def stylebot_env(tg: FakeTelegram, workdir: Path, **settings: object) -> dict[str, str]:
    """Environment for a ``stylebot`` process against ``tg``; ``settings`` are extra
    settings by field name (e.g. max_side=64, gatys_steps=5), upper-cased to env vars."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_"))}
    env.update({
        "TELEGRAM_BOT_TOKEN": tg.token,
        "TELEGRAM_BASE_URL": tg.base_url,
        "TELEGRAM_BASE_FILE_URL": tg.base_file_url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'stylebot.db'}",
        "DATA_DIR": str(workdir / "data"),
        "PORT": "0",  # no health endpoint: tests may run in parallel
        "DEVICE": "cpu",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        "SURVEY_PRERENDER": "false",  # tests that want the /survey pictures ask for them
    })
    env.update({name.upper(): str(value) for name, value in settings.items()})
    return env


@contextlib.asynccontextmanager
async def running_stylebot(tg: FakeTelegram, workdir: Path, **settings: object) -> AsyncIterator[StylebotProcess]:
    """Run ``stylebot`` as a subprocess against ``tg`` for the duration of the block."""
    workdir.mkdir(parents=True, exist_ok=True)
    bot = StylebotProcess(tg, workdir, stylebot_env(tg, workdir, **settings))
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()


# --------------------------------------------------------------------------- the demo

#: What a user must never read: internal file names, paths, exception class names, settings.
LEAK = re.compile(
    r"\b[\w-]+\.(?:png|jpe?g|py|db|pt|safetensors|json)\b"  # file names (content.png, bot.db)
    r"|(?:^|[\s'\"(])/(?:[\w.-]+/)+"  # paths (/tmp/..., /work/...)
    r"|Traceback|\b[A-Z]\w*(?:Error|Exception)\b"  # exception classes
    r"|<bytes>|max_side|max_pixels|stylize-train|state_dict|sha256"
)


def leaked_texts(tg: FakeTelegram, since_call: int = 0) -> list[str]:
    """Texts and captions the bot sent (or showed as a toast) that name internals."""
    found = []
    for call in tg.calls[since_call:]:
        for key in ("text", "caption"):
            value = call.params.get(key)
            if isinstance(value, str) and LEAK.search(value):
                found.append(f"{call.method}: {value!r}")
    return found


@contextlib.asynccontextmanager
async def stays_healthy(tg: FakeTelegram, bot: StylebotProcess) -> AsyncIterator[StylebotProcess]:
    """Around one test: afterwards the bot is alive, logged no handler exception, every
    Telegram call it made succeeded (bar injected failures and users who blocked it),
    every button press was answered, and no text a user read named an internal file,
    path, exception class or setting."""
    log_before = len(bot.log(tail=10**9))
    calls_before = len(tg.calls)
    yield bot
    assert leaked_texts(tg, calls_before) == []
    assert bot.process.poll() is None, f"stylebot died:\n{bot.log()}"
    new_log = bot.log(tail=10**9)[log_before:]
    assert "Traceback" not in new_log and "error while handling" not in new_log, new_log
    failed = [(c.method, c.error) for c in tg.calls[calls_before:]
              if not c.ok and not c.injected and "blocked by the user" not in c.error]
    assert not failed, f"{failed}\n{new_log}"
    assert tg.unanswered_callbacks() == []


def _default_photo() -> Path | None:
    from tests.conftest import shared_data_dir

    data = shared_data_dir()
    candidates = [REPO / "styletransfer" / "samples" / "tubingen.jpg"]  # ships with the package
    candidates += [data / "eval" / "content" / "tubingen.jpg"] if data else []
    candidates += sorted((REPO / "styletransfer" / "presets").glob("*.jpg"))[:1]
    return next((p for p in candidates if p.is_file()), None)


async def demo(photo: Path, style: str, method: str | None, max_side: int, steps: int, out: Path,
               timeout: float) -> int:
    async with FakeTelegram() as tg:
        tg.observers.append(lambda chat, line: print(line, flush=True))
        you = tg.user(1001, "You")
        with tempfile.TemporaryDirectory(prefix="stylebot-demo-") as tmp:
            print(f"# fake Telegram on {tg.url}; starting stylebot ({' '.join(stylebot_command())})", flush=True)
            async with running_stylebot(tg, Path(tmp), max_side=max_side, gatys_steps=steps,
                                        progress_interval_s=1.0) as bot:
                try:
                    await you.send("/start")
                    await you.wait_for(timeout=20)
                    await you.send_photo(photo)
                    styles = await you.wait_for(lambda m: m.buttons, timeout=20)
                    own = Path(style).is_file()  # a picture of the user's: "My own style", then send it
                    label = next((b for b in (b for r in styles.buttons for b in r)
                                  if b["callback_data"].endswith(":" + ("own" if own else style))), None)
                    if label is None:
                        print(f"! no preset {style!r} on the keyboard", file=sys.stderr)
                        return 2
                    await you.click(styles, data=label["callback_data"])
                    if own:
                        await you.wait_for(lambda m: not m.buttons and m.text, timeout=20)  # "send me the style image"
                        await you.send_photo(Path(style))
                    menu = await you.wait_for(lambda m: m.buttons and any(
                        b["callback_data"].startswith("me:") for r in m.buttons for b in r), timeout=20)
                    choices = [b for r in menu.buttons for b in r if b["callback_data"].startswith("me:")]
                    chosen = next((b for b in choices if method and b["callback_data"].endswith(":" + method)),
                                  choices[0])
                    await you.click(menu, data=chosen["callback_data"])
                    result = await you.wait_for(lambda m: m.photo and m.buttons, timeout=timeout)
                    result.photo_image.save(out)  # in the format of --out (the bot uploads a JPEG)
                    await you.click(result, "9")
                    await you.send("/stats")
                    await you.wait_for_text("ratings", timeout=20)
                except AssertionError as exc:
                    print(f"! {exc}\n--- stylebot log ---\n{bot.log()}", file=sys.stderr)
                    return 1
    print(f"# result saved to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--photo", type=Path, default=None, help="content photo (default: tubingen.jpg)")
    parser.add_argument("--style", default="starry_night",
                        help="preset name (see /styles), or a picture file sent as your own style")
    parser.add_argument("--method", default=None, choices=["adain", "johnson", "gatys"],
                        help="default: the first one the bot offers")
    parser.add_argument("--max-side", type=int, default=256, help="MAX_SIDE of the bot, pixels")
    parser.add_argument("--steps", type=int, default=100, help="GATYS_STEPS of the bot")
    parser.add_argument("--out", type=Path, default=Path("stylebot-demo.png"))
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the result")
    args = parser.parse_args(argv)
    photo = args.photo or _default_photo()
    if photo is None or not photo.is_file():
        parser.error("no photo found: pass --photo PATH")
    return asyncio.run(demo(photo, args.style, args.method, args.max_side, args.steps, args.out, args.timeout))


if __name__ == "__main__":
    sys.exit(main())
