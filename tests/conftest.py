"""Shared fixtures: where the read-only project data lives.

Tests that need real images read them from ``../shared/data`` (beside the
checkout) or from ``$STYLEBOT_SHARED_DATA``, and skip cleanly when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

try:  # Hypothesis budgets: small and repeatable by default (CI), --hypothesis-profile=long for a real hunt
    from hypothesis import HealthCheck, settings as _hsettings

    _hsettings.register_profile("ci", max_examples=80, deadline=5000, derandomize=True,
                                suppress_health_check=[HealthCheck.too_slow])
    _hsettings.register_profile("long", max_examples=3000, deadline=5000,
                                suppress_health_check=[HealthCheck.too_slow])
    _hsettings.load_profile("ci")
except ImportError:  # pragma: no cover - hypothesis is in the dev extra
    pass

REPO = Path(__file__).resolve().parents[1]

# ONNX graphs of the Johnson nets (styletransfer.onnx) go to a cache of this test run only, so
# which backend paints (torch, or ONNX Runtime once a graph exists) never depends on what an
# earlier run or the developer's own `stylize` left in ~/.cache; subprocesses inherit it.
_OWN_ONNX_CACHE = None
if "STYLETRANSFER_ONNX_CACHE" not in os.environ:
    import tempfile

    _OWN_ONNX_CACHE = os.environ["STYLETRANSFER_ONNX_CACHE"] = tempfile.mkdtemp(prefix="stylebot-test-onnx-")


def pytest_unconfigure(config):  # noqa: ARG001
    """The run's own graph cache (~44 MB) goes with it; one given in the environment stays."""
    if _OWN_ONNX_CACHE is not None:
        import shutil

        shutil.rmtree(_OWN_ONNX_CACHE, ignore_errors=True)


def shared_data_dir() -> Path | None:
    env = os.environ.get("STYLEBOT_SHARED_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("../shared/data is not present")
    return path


@pytest.fixture(scope="session")
def eval_photos(shared_data: Path) -> list[Path]:
    photos = sorted((shared_data / "eval" / "content").glob("*.jpg"))
    if not photos:
        pytest.skip("no eval photos in shared data")
    return photos


@pytest.fixture(scope="session")
def tubingen(shared_data: Path) -> Path:
    path = shared_data / "eval" / "content" / "tubingen.jpg"
    if not path.is_file():
        pytest.skip("tubingen.jpg missing from shared data")
    return path


@pytest.fixture(scope="session")
def adain_checkpoints(tmp_path_factory) -> Path:
    """A checkpoint folder holding copies of the shipped AdaIN decoder and Johnson nets, for
    tests that change what the folder holds or want caches of their own. Point
    ``STYLETRANSFER_CHECKPOINTS`` at it.
    """
    import shutil

    src = REPO / "checkpoints" / "adain"
    root = tmp_path_factory.mktemp("checkpoints")
    (root / "adain").mkdir()
    if (REPO / "checkpoints" / "johnson").is_dir():  # the shipped preset nets stay available too
        shutil.copytree(REPO / "checkpoints" / "johnson", root / "johnson")
    if (src / "decoder.safetensors").is_file():
        shutil.copy(src / "decoder.safetensors", root / "adain" / "decoder.safetensors")
        shutil.copy(src / "decoder.json", root / "adain" / "decoder.json")
        return root
    pytest.skip("no AdaIN decoder weights in checkpoints/adain")


def pytest_sessionfinish(session, exitstatus):
    """In CI (``STYLEBOT_CI=1``, set by ``.ci/run``) a skipped test is a failure: CI has
    the shared data, PostgreSQL and Chromium, so every test must run there. Only a skip
    whose reason contains ``[optional]`` (e.g. a GPU) is allowed."""
    if os.environ.get("STYLEBOT_CI") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    bad = []
    for report in skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if "[optional]" not in reason:
            bad.append(f"{report.nodeid}: {reason}")
    if bad:
        reporter.write_line(f"CI: {len(bad)} test(s) were skipped that must run in CI:", red=True)
        for line in bad:
            reporter.write_line(f"  {line}", red=True)
        session.exitstatus = 1


# PostgreSQL fixtures (a throwaway cluster per module, a fresh database per test): tests/pg.py
from tests.pg import pg_server, pg_url  # noqa: E402, F401
