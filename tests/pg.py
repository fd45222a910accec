"""A throwaway PostgreSQL cluster for tests, started from the Debian packages
(``/usr/lib/postgresql/<version>/bin``). As root, ``initdb``/``pg_ctl`` refuse to run,
so they run as the ``postgres`` user (``runuser``). Tests that need it skip cleanly when
no PostgreSQL is installed (CI installs it and treats a skip as a failure)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


def pg_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder, or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    which = shutil.which("pg_ctl")
    return Path(which).parent if which else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Start a cluster on a free port in a temporary folder; yields the server URL
    ``postgresql+asyncpg://postgres@127.0.0.1:<port>``; stops and removes it afterwards."""
    bindir = pg_bin()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL is not installed (apt-get install postgresql)")
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    tmp = Path(tempfile.mkdtemp(prefix="stylebot-pg-"))
    data, sock = tmp / "data", tmp / "sock"
    sock.mkdir()
    if as_root:
        shutil.chown(tmp, "postgres")
        shutil.chown(sock, "postgres")
    port = _free_port()
    try:
        subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                        "--no-sync", "-E", "UTF8"], check=True, capture_output=True, timeout=120)
        options = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-t", "60",
                        "-l", str(tmp / "log"), "start"], check=True, capture_output=True, timeout=120)
        try:
            yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}"
        finally:
            subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=60)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def create_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the cluster; returns its SQLAlchemy URL."""
    import asyncpg

    dsn = server_url.replace("postgresql+asyncpg://", "postgresql://") + "/postgres"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{server_url}/{name}"


#: for test modules: ``pytestmark = requires_postgres``
requires_postgres = pytest.mark.skipif(pg_bin() is None, reason="no PostgreSQL installed (apt-get install postgresql)")


@pytest.fixture(scope="module")
def pg_server():
    """One throwaway cluster per test module (import this fixture into the module)."""
    with throwaway_cluster() as url:
        yield url


@pytest.fixture
async def pg_url(pg_server):
    """A fresh, empty database on the module's cluster, as an SQLAlchemy URL."""
    return await create_database(pg_server, f"stylebot_{uuid.uuid4().hex[:8]}")
