"""The container image, built and run for real (``bench/container_check.py --compose``): podman
builds the Dockerfile on a base image made from Debian packages, the bot inside paints a photo
sent through the local fake Bot API server, and the image's healthcheck goes healthy; then the
compose file (PostgreSQL from Debian packages, the bot, two workers) runs under podman-compose,
a worker is killed in the middle of a job, and the job is painted again by the other one: one
result, everything healthy.

Skips where no container tool is present (``.ci/run`` installs podman from Debian's
packages, so CI runs it). Takes a few minutes: the base image and the image's layers are
built when missing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("podman") is None, reason="no container tool (podman) on this machine")
def test_image_builds_paints_a_photo_and_goes_healthy():
    result = subprocess.run([sys.executable, str(REPO / "bench" / "container_check.py"), "--compose"],
                            capture_output=True, text=True, timeout=3600, cwd=REPO)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-6000:]
    assert "painting received from the container" in out and "healthcheck: healthy" in out, out[-3000:]
    assert "painted again by" in out and "result photos sent: 1" in out, out[-3000:]
    assert "PASS: image built" in result.stdout.rstrip().splitlines()[-1], result.stdout[-2000:]
