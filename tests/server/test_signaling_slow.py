"""A slow consumer never blocks the room: its queue fills, then it is disconnected."""

from __future__ import annotations

import asyncio
import json

from ilvb.auth.tickets import sign_ticket
from ilvb.config import load_settings
from ilvb.errors import CLOSE_LIMIT_EXCEEDED
from ilvb.server.connection import Connection
from ilvb.server.signaling import SignalingHub, SignalingSession
from ilvb.store.memory import MemoryAppStore
from tests.rooms.helpers import APP, RecordingOutbox, claims, make_manager, room_of


class StuckSocket:
    """A WebSocket whose client never reads: every send waits forever."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed_with: tuple[int, str] | None = None
        self._never = asyncio.Event()

    async def send_text(self, text: str) -> None:
        self.sent.append(text)
        await self._never.wait()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed_with = (code, reason)


class FastSocket:
    """A WebSocket that takes every frame at once."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed_with: tuple[int, str] | None = None

    async def send_text(self, text: str) -> None:
        self.sent.append(text)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed_with = (code, reason)


async def test_send_never_blocks_and_overflow_closes_the_connection() -> None:
    sock = StuckSocket()
    conn = Connection(sock, max_frames=100)  # type: ignore[arg-type]
    for i in range(150):
        conn.send(f'"{i}"')  # returns at once even though the socket is stuck
    assert conn.queued() == 0  # dropped at overflow, a close is pending
    conn.send('"late"')
    assert conn.queued() == 0
    await conn.aclose(flush_timeout_s=0.05)
    assert conn.closed


async def test_overflowing_member_is_closed_with_4429_once_the_socket_moves() -> None:
    sock = FastSocket()
    conn = Connection(sock, max_frames=10)  # type: ignore[arg-type]
    for i in range(11):
        conn.send(f'"{i}"')
    for _ in range(100):
        if sock.closed_with is not None:
            break
        await asyncio.sleep(0.01)
    assert sock.closed_with == (CLOSE_LIMIT_EXCEEDED, "slow consumer")


async def test_a_stuck_member_does_not_delay_the_others() -> None:
    manager, _, _ = make_manager(event_batch_ms=0)
    stuck_conn = Connection(StuckSocket(), max_frames=50)  # type: ignore[arg-type]
    manager.enter(APP, claims("stuck"), "r", "room", stuck_conn)
    fast_sock = FastSocket()
    fast_conn = Connection(fast_sock, max_frames=10_000)  # type: ignore[arg-type]
    manager.enter(APP, claims("fast"), "r", "room", fast_conn)
    for i in range(200):
        manager.enter(APP, claims(f"u{i}"), "r", "room", RecordingOutbox())
    for _ in range(200):
        if len(fast_sock.sent) >= 200:
            break
        await asyncio.sleep(0.01)
    assert len(fast_sock.sent) == 200  # one members.entered per join (no batching here)
    await fast_conn.aclose()
    await stuck_conn.aclose(flush_timeout_s=0.05)


class ScriptedSocket:
    """A WebSocket for SignalingSession: frames come from a queue; sends block when stuck."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[dict[str, object]] = asyncio.Queue()
        self.sent: list[str] = []
        self.stuck = False
        self.closed_with: tuple[int, str] | None = None
        self._never = asyncio.Event()

    def push(self, frame: dict[str, object]) -> None:
        self.incoming.put_nowait({"type": "websocket.receive", "text": json.dumps(frame)})

    async def receive(self) -> dict[str, object]:
        return await self.incoming.get()

    async def send_text(self, text: str) -> None:
        if self.stuck:
            await self._never.wait()
        self.sent.append(text)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed_with = (code, reason)


async def test_session_of_a_stuck_client_ends_and_its_member_enters_the_window() -> None:
    store = MemoryAppStore()
    app = await store.create_app("a")
    manager, _, _ = make_manager()
    hub = SignalingHub(manager)
    settings = load_settings(signaling={"max_queued_frames": 30})
    sock = ScriptedSocket()
    session = SignalingSession(sock, settings, store, manager, hub)  # type: ignore[arg-type]
    task = asyncio.create_task(session.run())
    sock.push(
        {
            "id": 1,
            "type": "hello",
            "data": {"protocol": 1, "ticket": sign_ticket(app.app_id, app.secret, "stuck")},
        }
    )
    sock.push({"id": 2, "type": "room.enter", "data": {"room": "r"}})
    for _ in range(100):
        if any('"id":2' in f for f in sock.sent):
            break
        await asyncio.sleep(0.01)
    member = session.member
    assert member is not None and member.room is not None
    sock.stuck = True  # the client stops reading
    box = RecordingOutbox()
    busy = manager.enter(app, claims("busy"), "r", "room", box)
    room_of(busy).publish(busy, "microphone")
    for i in range(100):  # each toggle queues one member.state for the stuck client
        room_of(busy).mute(busy, "microphone", i % 2 == 0)
    done, _ = await asyncio.wait({task}, timeout=10)
    assert task in done, "the session of the stuck client did not end"
    assert member.room is not None and member.connected is False
    states = [s for s in box.events("member.state") if s["user_id"] == "stuck"]
    assert states[-1]["connected"] is False
