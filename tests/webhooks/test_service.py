"""Webhook delivery from live rooms: order per room, back-off while the receiver is down,
exactly once when it comes back, and the same events from the pull cursor.

The receiver is a real HTTP server on loopback that verifies every signature. "Down" is its
listening socket closed (connection refused). The back-off settings are shrunk (50 ms first
retry, 400 ms at most) so that an outage of a few seconds stands for one of minutes: the
number of retries while down shows the back-off grows instead of hammering the receiver.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from ilvb.config import RoomSettings, WebhookSettings
from ilvb.rooms.manager import RoomManager
from ilvb.sfu.api import NullMediaPlane
from ilvb.webhooks.service import WebhookService
from ilvb.webhooks.store import MemoryWebhookStore
from tests.rooms.helpers import APP, claims
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.timeout(60)
FAST = WebhookSettings(retry_initial_s=0.05, retry_factor=2.0, retry_max_s=0.4, timeout_s=2.0)


async def secret_of(app_id: str) -> str | None:
    return APP.secret if app_id == APP.app_id else None


@pytest.fixture
async def world() -> AsyncIterator[
    tuple[RoomManager, MemoryWebhookStore, WebhookService, Receiver]
]:
    manager = RoomManager(RoomSettings(), NullMediaPlane())
    store = MemoryWebhookStore()
    receiver = Receiver(APP.secret)
    await receiver.up()
    await store.set_endpoint(APP.app_id, receiver.url)
    service = WebhookService(manager, store, secret_of, FAST)
    service.start()
    yield manager, store, service, receiver
    await service.close()
    await manager.close()
    await receiver.down()


async def wait_until(predicate: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def script(manager: RoomManager, rooms: list[str], users: int) -> None:
    """Users enter each room, half of them leave; each room's last member leaves too."""
    for room in rooms:
        members = [manager.enter(APP, claims(f"{room}-u{i}"), room) for i in range(users)]
        for m in members[: users // 2]:
            manager.exit(m, "left")
    for room in rooms[:1]:
        for m in list(manager.get(APP.app_id, room).members.values()):
            manager.exit(m, "left")


def per_room(events: list[dict[str, object]]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for e in events:
        data = e["data"]
        assert isinstance(data, dict)
        out.setdefault(str(data["room"]), []).append(int(e["id"]))  # type: ignore[call-overload]
    return out


async def test_events_arrive_signed_once_in_order_with_their_content(
    world: tuple[RoomManager, MemoryWebhookStore, WebhookService, Receiver],
) -> None:
    manager, store, service, receiver = world
    script(manager, ["a", "b"], 4)
    # a: started, 4 joined, 2 left, 2 left, ended = 10; b: started, 4 joined, 2 left = 7
    await wait_until(lambda: len(receiver.events) == 17, 10, "17 deliveries")
    assert receiver.rejected == 0
    assert sorted(receiver.ids()) == list(range(1, 18))
    for ids in per_room(receiver.events).values():
        assert ids == sorted(ids)
    a = [e for e in receiver.events if e["data"]["room"] == "a"]  # type: ignore[index]
    assert [e["type"] for e in a] == [
        "room.started",
        *["member.joined"] * 4,
        *["member.left"] * 4,
        "room.ended",
    ]
    joined = a[1]
    assert joined["app_id"] == APP.app_id
    assert joined["data"]["user"] == "a-u0" and joined["data"]["kind"] == "room"  # type: ignore[index]
    assert a[5]["data"]["reason"] == "left" and a[5]["data"]["member_count"] == 3  # type: ignore[index]
    assert all(not e.pending for e in store.events)


async def test_a_receiver_down_then_back_gets_every_event_exactly_once_in_order(
    world: tuple[RoomManager, MemoryWebhookStore, WebhookService, Receiver],
) -> None:
    manager, store, service, receiver = world
    await receiver.down()
    script(manager, ["r1", "r2", "r3"], 6)
    # r1: started, 6 joined, 6 left, ended; r2 and r3: started, 6 joined, 3 left
    total = 14 + 10 + 10
    await wait_until(lambda: len(store.events) == total, 5, "the outbox holds every event")
    outage_s = 3.0
    await asyncio.sleep(outage_s)
    first = store.events[0]
    # retried with a growing wait: 50, 100, 200, 400, 400 … ms, so ~9 tries in 3 s, not 60
    assert 3 <= first.attempts <= 20, first.attempts
    assert receiver.events == []
    await receiver.up()
    await wait_until(lambda: len(receiver.events) >= total, 10, "every event after the outage")
    await asyncio.sleep(0.3)  # nothing more may come
    assert sorted(receiver.ids()) == [e.seq for e in store.events], "each event exactly once"
    for room, ids in per_room(receiver.events).items():
        assert ids == sorted(ids), room
    assert receiver.rejected == 0


async def test_a_failing_answer_is_retried_and_blocks_only_until_accepted(
    world: tuple[RoomManager, MemoryWebhookStore, WebhookService, Receiver],
) -> None:
    manager, store, service, receiver = world
    receiver.status = 500
    script(manager, ["x"], 2)
    await wait_until(lambda: store.events and store.events[0].attempts >= 2, 5, "two tries")
    assert store.events[0].last_error == "HTTP 500"
    assert receiver.events == []
    receiver.status = 200
    await wait_until(lambda: len(receiver.events) == len(store.events), 5, "all delivered")
    assert receiver.ids() == [e.seq for e in store.events]


async def test_without_an_endpoint_events_are_only_pullable(
    world: tuple[RoomManager, MemoryWebhookStore, WebhookService, Receiver],
) -> None:
    manager, store, service, receiver = world
    await store.set_endpoint(APP.app_id, None)
    service.endpoint_changed(APP.app_id)
    script(manager, ["quiet"], 2)
    await wait_until(lambda: len(store.events) == 6, 5, "six events written")
    await asyncio.sleep(0.2)
    assert receiver.events == []
    pulled = await store.events_after(APP.app_id, 0, 100)
    assert [e.type for e in pulled][:2] == ["room.started", "member.joined"]
    assert not any(e.pending for e in pulled)
    assert [e.seq for e in await store.events_after(APP.app_id, 3, 2)] == [4, 5]
