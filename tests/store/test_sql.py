"""SqlAppStore: migrations on an empty database, persistence across reopen, URL handling."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from ilvb.errors import InvalidArgument, InvalidState, Unavailable
from ilvb.store.interfaces import AppRecord
from ilvb.store.models import AppRow
from ilvb.store.sql import SqlAppStore, current_revision, head_revision, normalize_url


def _url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


async def test_open_migrates_an_empty_database_to_head(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "dir" / "ilvb.db"
    store = SqlAppStore(_url(db))
    await store.open()
    async with store.engine.connect() as conn:
        assert await conn.run_sync(current_revision) == head_revision()
    await store.close()
    # Checked with the plain sqlite3 module: the tables the migration promises are there.
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        usage_cols = {r[1] for r in conn.execute("PRAGMA table_info(usage)")}
    assert {"apps", "settings", "usage", "alembic_version"} <= tables
    assert {"app_id", "timestamp", "participants", "call_participants"} <= usage_cols


async def test_apps_and_admin_hash_survive_reopen(tmp_path: Path) -> None:
    db = tmp_path / "ilvb.db"
    first = SqlAppStore(_url(db))
    await first.open()
    app = await first.create_app("classroom")
    rotated = await first.rotate_secret(app.app_id)
    await first.update_app(app.app_id, audio_sender_cap=3, enabled=False)
    await first.set_admin_key_hash("sha256:abc")
    await first.close()

    second = SqlAppStore(_url(db))
    await second.open()  # a second open of a migrated database is a no-op upgrade
    try:
        again = await second.get_app(app.app_id)
        assert again is not None
        assert again.secret == rotated.secret != app.secret
        assert again.name == "classroom"
        assert again.audio_sender_cap == 3
        assert again.video_sender_cap is None
        assert again.enabled is False
        assert again.created_at == pytest.approx(app.created_at)
        assert await second.get_admin_key_hash() == "sha256:abc"
        assert [a.app_id for a in await second.list_apps()] == [app.app_id]
    finally:
        await second.close()


def test_the_apps_table_has_one_column_per_app_record_field() -> None:
    columns = [c.name for c in AppRow.__table__.columns]
    assert columns == [f.name for f in dataclasses.fields(AppRecord)]


async def test_methods_before_open_raise_invalid_state(tmp_path: Path) -> None:
    store = SqlAppStore(_url(tmp_path / "ilvb.db"))
    with pytest.raises(InvalidState):
        await store.list_apps()
    await store.close()  # closing a never-opened store is fine
    await store.open()
    await store.open()  # idempotent
    await store.close()
    await store.close()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:////tmp/x.db", "sqlite+aiosqlite:////tmp/x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://u:pw@db/ilvb", "postgresql+asyncpg://u:pw@db/ilvb"),
        ("postgres://u:pw@db/ilvb", "postgresql+asyncpg://u:pw@db/ilvb"),
        ("postgresql+asyncpg://u@db/ilvb", "postgresql+asyncpg://u@db/ilvb"),
    ],
)
def test_urls_get_their_async_driver(given: str, expected: str) -> None:
    assert normalize_url(given) == expected


def test_a_malformed_url_is_invalid_argument() -> None:
    with pytest.raises(InvalidArgument):
        SqlAppStore("not a url at all")


async def test_an_unusable_database_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    not_a_db = tmp_path / "garbage.db"
    not_a_db.write_bytes(b"this is not an SQLite file" * 100)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for url in (
        _url(not_a_db),
        _url(a_file / "under-a-file.db"),
        # Missing driver (asyncpg is an extra) or nothing listening on port 1: either way.
        "postgresql://ilvb:pw@127.0.0.1:1/ilvb",
    ):
        store = SqlAppStore(url)
        with pytest.raises(Unavailable) as err:
            await store.open()
        assert err.value.code == "unavailable"
        assert "pw@" not in err.value.message  # the password is not echoed
        with pytest.raises(InvalidState):
            await store.list_apps()
