"""Fixtures for the integration tests: a real PostgreSQL server for ``@pytest.mark.postgres``.

``pg_url`` uses ``$HPPRUNE_PG_URL`` when set. Otherwise it starts a throwaway
cluster from the Debian binaries in ``/usr/lib/postgresql/*/bin`` (``initdb`` +
``pg_ctl`` in a temporary directory, on a free localhost port; as the
``postgres`` OS user when running as root), creates a database, yields a
SQLAlchemy URL, and stops and deletes the cluster at the end of the session.
Without the binaries the PostgreSQL tests are skipped, except when ``CI=true``:
then they fail, so that CI never skips them silently.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(cmd: list[str], prefix: list[str], **kwargs: object) -> None:
    proc = subprocess.run(
        prefix + cmd, capture_output=True, text=True, timeout=120, check=False, **kwargs
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """SQLAlchemy URL of a live PostgreSQL database (see module docstring)."""
    env = os.environ.get("HPPRUNE_PG_URL")
    if env:
        yield env
        return
    initdbs = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not initdbs:
        message = "PostgreSQL binaries not found in /usr/lib/postgresql/*/bin"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; CI must run the PostgreSQL tests (install `postgresql`)")
        pytest.skip(message)
    bindir = Path(initdbs[-1]).parent
    prefix: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="hpprune-pg-"))
    if os.geteuid() == 0:
        if subprocess.run(["id", "-u", "postgres"], capture_output=True, check=False).returncode:
            _run(["useradd", "--system", "--no-create-home", "postgres"], [])
        shutil.chown(root, user="postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    data, sock, port = root / "data", root / "sock", _free_port()
    started = False
    try:
        _run(
            [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-N"], prefix
        )
        _run(["mkdir", "-p", str(sock)], prefix)
        options = (
            f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        _run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(root / "pg.log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
            prefix,
        )
        started = True
        _run(
            [
                str(bindir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "postgres",
                "hpprune_test",
            ],
            prefix,
        )
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/hpprune_test"
    finally:
        if started:
            for _ in range(3):
                try:
                    _run(
                        [str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                        prefix,
                    )
                    break
                except RuntimeError:
                    time.sleep(1)
        shutil.rmtree(root, ignore_errors=True)
