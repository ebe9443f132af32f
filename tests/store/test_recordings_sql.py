"""The recording rows (``recordings``, ``recording_settings``) in SQLite and PostgreSQL, and
the in-memory store, behave the same."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ilvb.recording.store import MemoryAutoRecordStore, MemoryRecordingStore, RecordingRecord
from ilvb.store.recordings_sql import SqlRecordingStore
from ilvb.store.sql import SqlAppStore
from tests.store.conftest import fresh_db_url


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    if request.param == "memory":
        yield MemoryRecordingStore(), MemoryAutoRecordStore(), "app1"
        return
    url = await fresh_db_url(request.param, request, tmp_path)
    app_store = SqlAppStore(url)
    await app_store.open()
    app = await app_store.create_app("recorded")
    sql = SqlRecordingStore(app_store)
    try:
        yield sql, sql, app.app_id
    finally:
        await app_store.close()


async def test_rows_are_kept_listed_newest_first_and_deleted(stores: Any) -> None:
    store, _, app_id = stores
    a = RecordingRecord("rec_a", app_id, "math", "room", "tracks", "recording", 100.0)
    b = RecordingRecord(
        "rec_b", app_id, "math", "room", "composite", "stopped", 200.0, 260.5, "stopped", 12.5
    )
    await store.put(a)
    await store.put(b)
    assert await store.get(app_id, "rec_b") == b
    assert await store.get("other-app", "rec_b") is None
    assert [r.recording_id for r in await store.for_app(app_id)] == ["rec_b", "rec_a"]
    await store.delete(app_id, "rec_b")
    assert await store.get(app_id, "rec_b") is None


async def test_running_rows_become_interrupted_at_the_next_start(stores: Any) -> None:
    store, _, app_id = stores
    for i, state in enumerate(("starting", "recording", "stopping", "stopped", "failed")):
        await store.put(RecordingRecord(f"rec_{i}", app_id, "r", "room", "tracks", state, i))
    changed = await store.interrupt_running(50.0)
    assert sorted(r.recording_id for r in changed) == ["rec_0", "rec_1", "rec_2"]
    states = {r.recording_id: (r.state, r.reason) for r in await store.for_app(app_id)}
    assert states["rec_1"] == ("interrupted", "server_restart")
    assert states["rec_3"][0] == "stopped" and states["rec_4"][0] == "failed"
    assert await store.interrupt_running(60.0) == []


async def test_automatic_recording_setting(stores: Any) -> None:
    _, settings, app_id = stores
    assert await settings.auto_mode(app_id) is None
    await settings.set_auto_mode(app_id, "tracks")
    assert await settings.auto_mode(app_id) == "tracks"
    await settings.set_auto_mode(app_id, None)
    assert await settings.auto_mode(app_id) is None
