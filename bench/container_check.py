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

Sandbox notes (measured here, December 2026): crun refuses this machine's hybrid cgroups
("cgroups in hybrid mode not supported"), so the script runs podman with ``runc``; podman's
default rlimits cannot be set without CAP_SYS_RESOURCE ("setrlimit RLIMIT_NPROC: Operation
not permitted"), so it passes the process's own limits. Both go into a ``containers.conf``
of the script's own (``CONTAINERS_CONF``), nothing system-wide is changed.

Usage::

    python bench/container_check.py                 # build (cached layers reused) and run
    python bench/container_check.py --no-build      # run the image built last time

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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--no-build", action="store_true", help="use the image built by an earlier run")
    p.add_argument("--wheels", type=Path, default=Path("/opt/wheels"),
                   help="a folder of wheels mounted into the build (torch's CPU wheel; default /opt/wheels)")
    p.add_argument("--torch", default="torch==2.13.0+cpu",
                   help="what to install as torch (default %(default)s, the CPU wheel in --wheels)")
    p.add_argument("--timeout", type=float, default=300, help="seconds to wait for the bot, a painting, health")
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
    say(f"PASS: image built, a photo painted in the container, healthcheck healthy "
        f"({time.monotonic() - started:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
