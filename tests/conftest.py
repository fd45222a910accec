"""Shared fixtures: where the read-only project data lives.

Tests that need real images read them from ``../shared/data`` (beside the
checkout) or from ``$STYLEBOT_SHARED_DATA``, and skip cleanly when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


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
