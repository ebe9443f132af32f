"""The webhook outbox on SQLite and PostgreSQL (and in memory): the same contract, durable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ilvb.store.sql import SqlAppStore
from ilvb.store.webhooks_sql import SqlWebhookStore
from ilvb.webhooks.store import MemoryWebhookStore, NewEvent, WebhookStore
from tests.store.conftest import fresh_db_url


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def outbox(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[WebhookStore, str, str | None]]:
    """(store, app id, url to reopen the same database or None)."""
    if request.param == "memory":
        yield MemoryWebhookStore(), "app_x", None
        return
    url = await fresh_db_url(request.param, request, tmp_path)
    apps = SqlAppStore(url)
    await apps.open()
    app = await apps.create_app("hooks")
    yield SqlWebhookStore(apps), app.app_id, url
    await apps.close()


def ev(app: str, room: str, kind: str, t: float, pending: bool = True) -> NewEvent:
    return NewEvent(app, f"room:{room}", kind, {"room": room, "n": t}, t, pending)


async def test_outbox_contract(outbox: tuple[WebhookStore, str, str | None]) -> None:
    store, app, url = outbox
    seqs = await store.append([ev(app, "a", "room.started", 1), ev(app, "a", "member.joined", 2)])
    seqs += await store.append([ev(app, "b", "room.started", 3, pending=False)])
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    pending = await store.pending("", 10)
    assert [e.seq for e in pending] == seqs[:2]
    assert pending[1].data == {"room": "a", "n": 2} and pending[1].room_key == "room:a"
    assert await store.pending("another-node", 10) == []
    await store.mark_failed(seqs[0], "HTTP 503")
    await store.mark_failed(seqs[0], "ConnectError")
    first = (await store.pending("", 1))[0]
    assert first.attempts == 2 and first.last_error == "ConnectError"
    await store.mark_delivered(seqs[0], 10.0)
    assert [e.seq for e in await store.pending("", 10)] == seqs[1:2]
    pulled = await store.events_after(app, 0, 10)
    assert [e.seq for e in pulled] == seqs
    assert pulled[0].delivered_at == 10.0 and not pulled[0].pending
    assert [e.seq for e in await store.events_after(app, seqs[0], 1)] == seqs[1:2]
    assert await store.events_after("app_other", 0, 10) == []
    # the body delivered and pulled
    assert pulled[1].wire() == {
        "id": seqs[1], "type": "member.joined", "app_id": app, "time": 2,
        "data": {"room": "a", "n": 2},
    }  # fmt: skip
    # endpoints
    assert await store.get_endpoint(app) is None
    await store.set_endpoint(app, "https://example.test/hook")
    await store.set_endpoint(app, "https://example.test/hook2", enabled=False)
    got = await store.get_endpoint(app)
    assert got is not None and got.url.endswith("hook2") and not got.enabled
    await store.set_endpoint(app, None)
    assert await store.get_endpoint(app) is None
    # retention: the oldest go; numbers are never reused
    assert await store.prune(2.5) == 2
    assert [e.seq for e in await store.events_after(app, 0, 10)] == seqs[2:]
    assert await store.prune(100.0) == 1
    (later,) = await store.append([ev(app, "c", "room.started", 200)])
    assert later > seqs[-1]

    if url is not None:  # durable: another connection (a restarted server) sees it all
        again = SqlAppStore(url)
        await again.open()
        try:
            pulled_again = await SqlWebhookStore(again).events_after(app, 0, 10)
            assert [e.seq for e in pulled_again] == [later]
        finally:
            await again.close()
