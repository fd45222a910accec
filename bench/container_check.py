"""Build the container image for real and run it: exit 0 only when the image was built,
painted a photo sent to the bot inside it, and its healthcheck went healthy.

No image registry can be reached here, so nothing is pulled:

1. the container tools come from Debian's package registry (``podman``, ``buildah``,
   ``runc``, ``mmdebstrap``), installed with apt-get when missing (the script says so);
2. the base image is made from Debian packages: ``mmdebstrap`` writes a bookworm root file
   system with python3 and its venv module to a tarball, ``podman import`` makes it an
   image (``localhost/stylebot-base:bookworm``, kept for the next run);
3. ``podman build`` builds the repository's Dockerfile on that base (``--build-arg BASE=…``;
   the public default stays ``python:3.11-slim``), with torch the CPU wheel from a local
   folder (``--wheels``, default ``/opt/wheels``) and everything else from PyPI (through this
   machine's CA bundle, mounted into the build: PyPI is reached through a TLS-inspecting
   proxy here; the download.pytorch.org index of the Dockerfile's default cannot be resolved);
4. ``podman run`` starts it (host network) against the local fake Bot API server of
   ``tests/fake_telegram.py``: a user sends a photo, picks The Starry Night and the preset
   net, and the painting must come back; then ``podman healthcheck run`` must say healthy
   (the image's HEALTHCHECK: ``stylebot check --healthz``).

5. ``--compose``: the scale-out compose file (``docker-compose.yml``: PostgreSQL, the bot with
   ``WORKERS=0``, two ``stylebot-worker`` replicas, healthchecks) run by ``podman-compose``
   (from PyPI, installed when missing) with ``bench/containers/compose.check.yml`` on top (the
   images built here, PostgreSQL from Debian's packages (``postgres.Containerfile``), the
   host's network, small jobs): a user's Gatys job starts on one worker, that worker's
   container is killed mid-job (``podman kill``), the job is painted again by the other worker
   and the user gets exactly one result; the bot's and the surviving worker's healthchecks
   pass.

Sandbox notes (measured here, December 2026): crun refuses this machine's hybrid cgroups
("cgroups in hybrid mode not supported"), so the script runs podman with ``runc``; podman's
default rlimits cannot be set without CAP_SYS_RESOURCE ("setrlimit RLIMIT_NPROC: Operation
not permitted"), so it passes the process's own limits. Both go into a ``containers.conf``
of the script's own (``CONTAINERS_CONF``), nothing system-wide is changed.

Usage::

    python bench/container_check.py                 # build (cached layers reused) and run
    python bench/container_check.py --no-build      # run the image built last time
    python bench/container_check.py --compose       # and the compose file, killing a worker

Prints each step with its time; the last line says PASS or FAIL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BASE_IMAGE = "localhost/stylebot-base:bookworm"
IMAGE = "localhost/stylebot:check"
PG_IMAGE = "localhost/stylebot-postgres:check"
CONTAINERS = REPO / "bench" / "containers"
TOOLS = {"podman": "podman", "buildah": "buildah", "runc": "runc", "mmdebstrap": "mmdebstrap"}
BASE_PACKAGES = "python3,python3-venv,ca-certificates"


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd: list[str], *, env=None, timeout: float = 3600, check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess:
    say("$ " + " ".join(cmd))
    result = subprocess.run(cmd, env=env, timeout=timeout, text=True, capture_output=quiet)
    if check and result.returncode != 0:
        detail = (result.stdout or "")[-3000:] + (result.stderr or "")[-3000:] if quiet else ""
        raise SystemExit(f"FAIL: {' '.join(cmd[:3])} … exited with {result.returncode}\n{detail}")
    return result


def ensure_tools() -> None:
    missing = [pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None]
    if not missing:
        return
    if shutil.which("apt-get") is None:
        raise SystemExit(f"FAIL: {', '.join(missing)} missing and no apt-get to install them")
    say(f"installing {' '.join(missing)} from Debian's package registry (apt-get)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-qq"], env=env)
    run(["apt-get", "install", "-y", "-qq", *missing, "uidmap", "fuse-overlayfs"], env=env)


def containers_conf(folder: Path) -> dict[str, str]:
    """A containers.conf for this sandbox (see the module docstring) and the environment using it."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    nofile = min(nofile if nofile > 0 else 65536, 65536)
    nproc = min(nproc if nproc > 0 else 4096, 4096)
    conf = folder / "containers.conf"
    conf.write_text(f'[containers]\ndefault_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
                    '[engine]\nruntime = "runc"\n')
    return dict(os.environ, CONTAINERS_CONF=str(conf))


def image_exists(name: str, env) -> bool:
    return subprocess.run(["podman", "image", "exists", name], env=env).returncode == 0


def build_base(env, work: Path) -> None:
    if image_exists(BASE_IMAGE, env):
        say(f"base image {BASE_IMAGE} is there (made by an earlier run)")
        return
    tar = work / "base.tar"
    t0 = time.monotonic()
    run(["mmdebstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", "bookworm", str(tar)], timeout=1800)
    run(["podman", "import", "--change", "CMD=/bin/bash", str(tar), BASE_IMAGE], env=env)
    say(f"base image made from Debian packages in {time.monotonic() - t0:.0f} s ({tar.stat().st_size >> 20} MB tar)")


def build_image(env, wheels: Path, torch_spec: str) -> None:
    t0 = time.monotonic()
    cmd = ["podman", "build", "--format", "docker", "--network", "host", "--build-arg", f"BASE={BASE_IMAGE}",
           "--build-arg", f"TORCH_SPEC={torch_spec}", "--build-arg", "TORCH_INDEX=https://pypi.org/simple",
           "-t", IMAGE]
    if wheels.is_dir():
        cmd += ["--build-arg", "PIP_FIND_LINKS=/wheels", "-v", f"{wheels}:/wheels:ro"]
    ca = Path(os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt")
    if ca.is_file():  # this machine's CA bundle: PyPI is reached through a TLS-inspecting proxy here
        cmd += ["--build-arg", "PIP_CERT=/host-ca.crt", "-v", f"{ca}:/host-ca.crt:ro"]
    run(cmd + [str(REPO)], env=env, timeout=5400)
    size = subprocess.run(["podman", "image", "inspect", "--format", "{{.Size}}", IMAGE], env=env,
                          capture_output=True, text=True).stdout.strip()
    say(f"image {IMAGE} built in {time.monotonic() - t0:.0f} s ({int(size or 0) >> 20} MB)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def paint_in_container(env, data: Path, timeout: float) -> None:
    from tests.fake_telegram import FakeTelegram
    from tests.test_bot_e2e import choose, photo_bytes, result_of

    port = free_port()
    name = f"stylebot-check-{os.getpid()}"
    async with FakeTelegram() as tg:
        cmd = ["podman", "run", "-d", "--name", name, "--network", "host", "-v", f"{data}:/data",
               "-e", f"TELEGRAM_BOT_TOKEN={tg.token}", "-e", f"TELEGRAM_BASE_URL={tg.base_url}",
               "-e", f"TELEGRAM_BASE_FILE_URL={tg.base_file_url}", "-e", f"PORT={port}", "-e", "DEVICE=cpu",
               "-e", "SURVEY_PRERENDER=false", "-e", "HOST=127.0.0.1", IMAGE]
        await asyncio.to_thread(run, cmd, env=env)
        try:
            t0 = time.monotonic()
            while not tg.commands:  # the bot published its commands: it is polling
                if time.monotonic() - t0 > timeout:
                    raise SystemExit("FAIL: the bot in the container did not start")
                await asyncio.sleep(0.5)
            say(f"the bot in the container is polling the fake Bot API ({time.monotonic() - t0:.1f} s)")
            user = tg.user(9001, "Container")
            await user.send("/start")
            await user.send_photo(photo_bytes(REPO / "styletransfer" / "samples" / "tubingen.jpg", 800))
            sent = time.monotonic()
            status = await choose(user, "starry_night", "johnson")
            result = await result_of(user, status)
            img = result.photo_image
            say(f"painting received from the container: {img.width}x{img.height} in "
                f"{time.monotonic() - sent:.1f} s after the photo; status message: {status.text!r}")
            (data / "container-result.jpg").write_bytes(result.photo_bytes)
            t0 = time.monotonic()
            while True:
                health = await asyncio.to_thread(subprocess.run, ["podman", "healthcheck", "run", name], env=env,
                                                 capture_output=True, text=True)
                if health.returncode == 0:
                    say(f"healthcheck: healthy ({time.monotonic() - t0:.1f} s)")
                    break
                if time.monotonic() - t0 > timeout:
                    logs = subprocess.run(["podman", "logs", "--tail", "40", name], env=env, capture_output=True,
                                          text=True)
                    raise SystemExit(f"FAIL: healthcheck not healthy: {health.stdout}{health.stderr}\n"
                                     f"{logs.stdout}{logs.stderr}")
                await asyncio.sleep(3)
        finally:
            subprocess.run(["podman", "logs", "--tail", "15", name], env=env)
            subprocess.run(["podman", "rm", "-f", name], env=env, capture_output=True)


def ensure_podman_compose() -> list[str]:
    exe = shutil.which("podman-compose") or str(Path(sys.executable).with_name("podman-compose"))
    if not Path(exe).is_file():
        say("installing podman-compose from PyPI (pip)")
        run([sys.executable, "-m", "pip", "install", "-q", "podman-compose"])
        exe = str(Path(sys.executable).with_name("podman-compose"))
    return [exe]


async def compose_check(env, timeout: float) -> None:
    import psycopg

    from tests.fake_telegram import FakeTelegram
    from tests.test_bot_e2e import choose, photo_bytes

    compose = ensure_podman_compose()
    if not image_exists(PG_IMAGE, env):
        t0 = time.monotonic()
        run(["podman", "build", "--network", "host", "--build-arg", f"BASE={BASE_IMAGE}", "-f",
             str(CONTAINERS / "postgres.Containerfile"), "-t", PG_IMAGE, str(CONTAINERS)], env=env, timeout=1800)
        say(f"PostgreSQL image from Debian packages built in {time.monotonic() - t0:.0f} s")
    pg_port, bot_port = free_port(), free_port()
    project = f"stylebotcheck{os.getpid()}"
    files = ["-p", project, "-f", str(REPO / "docker-compose.yml"), "-f", str(CONTAINERS / "compose.check.yml")]
    async with FakeTelegram() as tg:
        cenv = dict(env, STYLEBOT_IMAGE=IMAGE, POSTGRES_IMAGE=PG_IMAGE, CHECK_PG_PORT=str(pg_port),
                    CHECK_BOT_PORT=str(bot_port), CHECK_TOKEN=tg.token, CHECK_BASE_URL=tg.base_url,
                    CHECK_BASE_FILE_URL=tg.base_file_url)
        t0 = time.monotonic()
        ticker = _HealthTicker(env, project)  # podman runs healthchecks from systemd timers: none here
        ticker.start()
        # --scale: podman-compose starts one replica of a service whatever its deploy.replicas says
        await asyncio.to_thread(run, [*compose, *files, "up", "-d", "--no-build", "--scale", "worker=2"], env=cenv,
                                timeout=900)
        try:
            while not tg.commands:
                if time.monotonic() - t0 > timeout:
                    logs = subprocess.run(["podman", "logs", "--tail", "30", f"{project}_bot_1"], env=env,
                                          capture_output=True, text=True)
                    raise SystemExit(f"FAIL: the bot of the compose file did not start\n{logs.stdout}{logs.stderr}")
                await asyncio.sleep(1)
            say(f"compose up: PostgreSQL, the bot and the workers; the bot polls ({time.monotonic() - t0:.0f} s)")
            url = f"postgresql://stylebot:stylebot@127.0.0.1:{pg_port}/stylebot"
            health = await _wait_live_workers(bot_port, 2, timeout)
            say(f"the bot's /healthz: {health}")
            user = tg.user(9101, "Compose")
            await user.send_photo(photo_bytes(REPO / "styletransfer" / "samples" / "tubingen.jpg", 400))
            status = await choose(user, "starry_night", "gatys")
            job_id, worker = await _running_job(url, timeout)
            victim = _container_painting(env, project, job_id, worker)
            say(f"job {job_id} is being painted by {worker} in {victim}: podman kill {victim}")
            run(["podman", "kill", victim], env=env)
            killed_at = time.monotonic()
            await user.wait_for(lambda m: m.photo and m.message_id > status.message_id and m.buttons,
                                timeout=timeout * 2)
            async with await psycopg.AsyncConnection.connect(url) as conn:
                row = await (await conn.execute("SELECT status, attempts, worker FROM jobs WHERE id = %s",
                                                (job_id,))).fetchone()
            photos = [m for m in user.messages if m.photo]
            say(f"the painting came back {time.monotonic() - killed_at:.0f} s after the kill, painted again by "
                f"{row[2]} (attempts {row[1]}, status {row[0]}); result photos sent: {len(photos)}")
            if len(photos) != 1 or row[0] != "done":
                raise SystemExit(f"FAIL: expected one result and a done job, got {len(photos)} and {row[0]}")
            await asyncio.sleep(1)
            for name in _compose_containers(env, project, "bot") + [c for c in _compose_containers(
                    env, project, "worker") if c != victim]:
                # in a thread: the fake Bot API server lives on this event loop, and the check calls getMe
                ok = await asyncio.to_thread(subprocess.run, ["podman", "healthcheck", "run", name], env=env,
                                             capture_output=True, text=True)
                if ok.returncode != 0:
                    why = await asyncio.to_thread(subprocess.run, ["podman", "exec", name, "stylebot", "check",
                                                                   "--healthz"], env=env, capture_output=True, text=True)
                    raise SystemExit(f"FAIL: {name} not healthy: {ok.stdout}{ok.stderr}\n{why.stdout}{why.stderr}")
            say("healthchecks: the bot and the surviving worker healthy")
        finally:
            ticker.stop.set()
            subprocess.run([*compose, *files, "down", "-v", "-t", "5"], env=cenv, capture_output=True, timeout=300)


class _HealthTicker:
    """Runs ``podman healthcheck run`` on the project's containers every few seconds: podman
    schedules healthchecks with systemd timers, and without systemd (this sandbox) a
    container's health would stay "starting", so ``depends_on: condition: service_healthy``
    would never be met."""

    def __init__(self, env, project: str, every_s: float = 3.0) -> None:
        import threading

        self.env, self.project, self.every_s = env, project, every_s
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _loop(self) -> None:
        while not self.stop.wait(self.every_s):
            names = subprocess.run(["podman", "ps", "--filter", f"label=io.podman.compose.project={self.project}",
                                    "--format", "{{.Names}}"], env=self.env, capture_output=True, text=True).stdout
            for name in names.split():
                subprocess.run(["podman", "healthcheck", "run", name], env=self.env, capture_output=True)


async def _wait_live_workers(port: int, count: int, timeout: float) -> dict:
    import json
    import urllib.request

    t0 = time.monotonic()
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                health = json.loads(r.read())
            if (health.get("live_workers") or 0) >= count:
                return health
        except OSError:
            health = None
        if time.monotonic() - t0 > timeout:
            raise SystemExit(f"FAIL: not {count} live workers after {timeout:.0f} s: {health}")
        await asyncio.sleep(2)


async def _running_job(url: str, timeout: float) -> tuple[int, str]:
    import psycopg

    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            row = await (await conn.execute("SELECT id, worker FROM jobs WHERE status = 'running' AND worker IS NOT "
                                            "NULL ORDER BY id DESC LIMIT 1")).fetchone()
        if row:
            return int(row[0]), str(row[1])
        await asyncio.sleep(0.5)
    raise SystemExit("FAIL: no worker started the job")


def _compose_containers(env, project: str, service: str) -> list[str]:
    out = subprocess.run(["podman", "ps", "--filter", f"label=io.podman.compose.project={project}", "--filter",
                          f"label=com.docker.compose.service={service}", "--format", "{{.Names}}"], env=env,
                         capture_output=True, text=True)
    return out.stdout.split()


def _container_painting(env, project: str, job_id: int, worker: str) -> str:
    """The worker container whose log says it paints ``job_id``."""
    for name in _compose_containers(env, project, "worker"):
        logs = subprocess.run(["podman", "logs", name], env=env, capture_output=True, text=True)
        if f"paints job {job_id} " in logs.stdout + logs.stderr:
            return name
    raise SystemExit(f"FAIL: no worker container says it paints job {job_id} (worker {worker})")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--no-build", action="store_true", help="use the image built by an earlier run")
    p.add_argument("--wheels", type=Path, default=Path("/opt/wheels"),
                   help="a folder of wheels mounted into the build (torch's CPU wheel; default /opt/wheels)")
    p.add_argument("--torch", default="torch==2.13.0+cpu",
                   help="what to install as torch (default %(default)s, the CPU wheel in --wheels)")
    p.add_argument("--timeout", type=float, default=300, help="seconds to wait for the bot, a painting, health")
    p.add_argument("--compose", action="store_true",
                   help="also run docker-compose.yml (PostgreSQL, the bot, two workers) and kill a worker mid-job")
    args = p.parse_args(argv)
    started = time.monotonic()
    ensure_tools()
    with tempfile.TemporaryDirectory(prefix="container-check-") as tmp:
        work = Path(tmp)
        env = containers_conf(work)
        if not args.no_build:
            build_base(env, work)
            build_image(env, args.wheels, args.torch if args.wheels.is_dir() else "torch")
        elif not image_exists(IMAGE, env):
            raise SystemExit(f"FAIL: no image {IMAGE}; run without --no-build first")
        data = work / "data"
        data.mkdir()
        os.chmod(data, 0o777)  # the image runs as its own non-root user
        asyncio.run(paint_in_container(env, data, args.timeout))
        if args.compose:
            asyncio.run(compose_check(env, args.timeout))
    say(f"PASS: image built, a photo painted in the container, healthcheck healthy"
        f"{'; compose: a worker killed mid-job, one result, healthy' if args.compose else ''} "
        f"({time.monotonic() - started:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
