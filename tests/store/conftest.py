"""A real PostgreSQL server for the store tests, started once per session by the suite itself.

``postgres_url`` runs ``initdb`` and ``pg_ctl`` from the Debian ``postgresql`` package
(``/usr/lib/postgresql/<version>/bin``) on a temporary data dir, listening only on 127.0.0.1 on
a free port with trust auth, and yields ``postgresql+asyncpg://postgres@127.0.0.1:<port>/ilvb_test``.
PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` OS user (made
by the package) through ``runuser``. Without the binaries (or asyncpg) the tests that need it
skip; ``test_postgres_available.py`` turns that skip into a failure on CI.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_USER = "postgres"
PG_DB = "ilvb_test"
START_TIMEOUT_S = 60.0  # a loaded 2-core CI machine can be slow


def find_pg_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` holding initdb and pg_ctl, or None."""
    found = []
    for d in glob.glob("/usr/lib/postgresql/*/bin"):
        p = Path(d)
        if (p / "initdb").is_file() and (p / "pg_ctl").is_file():
            try:
                found.append((int(p.parent.name), p))
            except ValueError:
                continue
    return max(found)[1] if found else None


def _pg_user_ok() -> bool:
    if os.geteuid() != 0:
        return True
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        return False
    return shutil.which("runuser") is not None


def why_no_postgres() -> str | None:
    """Why the suite cannot start PostgreSQL here, or None if it can."""
    if find_pg_bin() is None:
        return "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (apt: postgresql)"
    if not _pg_user_ok():
        return "running as root but no 'postgres' OS user or no runuser to drop to it"
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        return "asyncpg is not installed (pip install -e '.[test]')"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_pg(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", PG_USER, "--", *cmd] if os.geteuid() == 0 else cmd


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(_as_pg(cmd), capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {proc.stdout}{proc.stderr}")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A URL to an empty database on a private, throw-away PostgreSQL server."""
    reason = why_no_postgres()
    if reason is not None:
        pytest.skip(reason)
    pg_bin = find_pg_bin()
    assert pg_bin is not None
    root = Path(tempfile.mkdtemp(prefix="ilvb-pg-"))
    data, sock, log = root / "data", root / "sock", root / "server.log"
    sock.mkdir()
    if os.geteuid() == 0:
        ent = pwd.getpwnam(PG_USER)
        for p in (root, sock):
            os.chown(p, ent.pw_uid, ent.pw_gid)
    started = False
    try:
        _run(
            [
                str(pg_bin / "initdb"),
                "-D",
                str(data),
                "-U",
                PG_USER,
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ]
        )
        port = _free_port()
        opts = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -k {sock} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        _run(
            [
                str(pg_bin / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(log),
                "-o",
                opts,
                "-w",
                "-t",
                str(int(START_TIMEOUT_S)),
                "start",
            ]
        )
        started = True
        _wait_accepting(port)
        _run(
            [
                str(pg_bin / "createdb"),
                "-h",
                str(sock),
                "-p",
                str(port),
                "-U",
                PG_USER,
                PG_DB,
            ]
        )
        yield f"postgresql+asyncpg://{PG_USER}@127.0.0.1:{port}/{PG_DB}"
    finally:
        if started:
            subprocess.run(
                _as_pg([str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(root, ignore_errors=True)


def _wait_accepting(port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


async def reset_postgres(url: str) -> None:
    """Drop every table (and type) in the database at ``url``: the next open starts empty."""
    import asyncpg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    conn = await asyncpg.connect(host=u.host, port=u.port, user=u.username, database=u.database)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


async def fresh_db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database for a SQL store test: SQLite under ``tmp_path`` for ``"sqlite"``, else
    the session's PostgreSQL, emptied by :func:`reset_postgres`."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'ilvb.db'}"
    url: str = request.getfixturevalue("postgres_url")
    await reset_postgres(url)
    return url
