"""Secrets at rest: the SQLite database and its WAL files are 0600, new secrets never start
with ``-``, the admin key file is 0600 in a 0700 directory."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from ilvb.auth.admin import save_admin_key
from ilvb.store import ids
from ilvb.store.files import secure_dir, secure_sqlite_file
from ilvb.store.sql import SqlAppStore


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_sqlite_database_and_wal_files_are_private(tmp_path: Path) -> None:
    os.umask(0o022)  # the usual umask: files would be 0644
    db = tmp_path / "new" / "ilvb.db"
    store = SqlAppStore(f"sqlite+aiosqlite:///{db}")
    await store.open()
    try:
        await store.create_app("secret-holder")  # writes: -wal and -shm exist now
        for path in (db, db.with_name("ilvb.db-wal"), db.with_name("ilvb.db-shm")):
            assert mode(path) == 0o600, path
        assert mode(db.parent) == 0o700  # created by the store
    finally:
        await store.close()


def test_an_older_world_readable_database_is_tightened_on_open(tmp_path: Path) -> None:
    db = tmp_path / "ilvb.db"

    async def write() -> None:
        store = SqlAppStore(f"sqlite+aiosqlite:///{db}")
        await store.open()
        await store.create_app("a")
        await store.close()

    asyncio.run(write())
    for path in tmp_path.iterdir():
        os.chmod(path, 0o644)
    secure_sqlite_file(db)
    assert all(mode(p) == 0o600 for p in tmp_path.iterdir() if p.name.startswith("ilvb.db"))


def test_secure_dir_creates_or_tightens_to_0700(tmp_path: Path) -> None:
    existing = tmp_path / "data"
    existing.mkdir(mode=0o755)
    assert mode(secure_dir(existing)) == 0o700
    assert mode(secure_dir(tmp_path / "a" / "b")) == 0o700


def test_admin_key_file_is_0600_even_if_it_existed_wider(tmp_path: Path) -> None:
    path = save_admin_key(tmp_path / "data", "k1")
    os.chmod(path, 0o644)
    path = save_admin_key(tmp_path / "data", "k2")
    assert (path.read_text(), mode(path), mode(path.parent)) == ("k2\n", 0o600, 0o700)


def test_new_secrets_never_start_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = iter(["-first", "-second", "third-ok"])
    monkeypatch.setattr(ids.secrets, "token_urlsafe", lambda _n: next(drawn))
    assert ids.new_secret() == "third-ok"
    monkeypatch.undo()
    assert not any(ids.new_secret().startswith("-") for _ in range(2000))
