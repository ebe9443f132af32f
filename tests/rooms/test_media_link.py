"""The control plane drives the media plane: router lifetime, ordered commands, slot events."""

from __future__ import annotations

import asyncio
from typing import Any

from ilvb.config import RoomSettings
from ilvb.rooms.clock import ManualClock
from ilvb.rooms.manager import RoomManager
from ilvb.sfu.api import (
    NullRouter,
    ProducerClosed,
    RouterEventHandler,
    RouterOptions,
    SlotChanged,
    Source,
)
from tests.rooms.helpers import APP, RecordingOutbox, claims, room_of


class ScriptedRouter(NullRouter):
    """Records commands in order; the first set_source_enabled fails."""

    def __init__(self, room_id: str, options: RouterOptions = RouterOptions()) -> None:
        super().__init__(room_id, options)
        self.calls: list[tuple[Any, ...]] = []

    async def set_source_enabled(self, member_id: str, source: Source, enabled: bool) -> None:
        await asyncio.sleep(0)  # commands may await: order must still hold
        self.calls.append(("enabled", member_id, source, enabled))
        if len(self.calls) == 1:
            raise RuntimeError("worker hiccup")

    async def remove_member(self, member_id: str) -> None:
        self.calls.append(("remove", member_id))


class ScriptedPlane:
    """A media plane that keeps each router's event handler."""

    def __init__(self) -> None:
        self.routers: dict[str, ScriptedRouter] = {}
        self.handlers: dict[str, RouterEventHandler] = {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def open_router(
        self, room_id: str, on_event: RouterEventHandler, options: RouterOptions = RouterOptions()
    ) -> ScriptedRouter:
        await asyncio.sleep(0.01)  # opening takes a while: commands wait for it
        self.routers[room_id] = ScriptedRouter(room_id, options)
        self.handlers[room_id] = on_event
        return self.routers[room_id]


async def test_commands_run_in_order_after_the_router_opens_and_survive_a_failure() -> None:
    plane = ScriptedPlane()
    manager = RoomManager(RoomSettings(), plane, clock=ManualClock())  # type: ignore[arg-type]
    me = manager.enter(APP, claims("me"), "r", "room", RecordingOutbox())
    assert me.room is not None and me.room.link is not None
    room_id, link = me.room.internal_id, me.room.link
    room_of(me).publish(me, "microphone")  # enabled True (fails in the router)
    room_of(me).mute(me, "microphone", True)  # enabled False
    room_of(me).mute(me, "microphone", False)  # enabled True
    manager.exit(me)  # remove, then the router closes
    await link.wait_closed()
    router = plane.routers[room_id]
    assert router.calls == [
        ("enabled", "me", "microphone", True),
        ("enabled", "me", "microphone", False),
        ("enabled", "me", "microphone", True),
        ("remove", "me"),
    ]
    assert router.closed


async def test_slot_events_reach_the_member() -> None:
    plane = ScriptedPlane()
    manager = RoomManager(RoomSettings(), plane, clock=ManualClock())  # type: ignore[arg-type]
    box = RecordingOutbox()
    manager.enter(APP, claims("me"), "r", "room", box)
    manager.enter(APP, claims("bob"), "r", "room", RecordingOutbox())
    for _ in range(100):
        if plane.handlers:
            break
        await asyncio.sleep(0.01)
    (on_event,) = plane.handlers.values()
    on_event(SlotChanged("me", "v0", "video", "bob", "camera"))
    on_event(SlotChanged("me", "a1", "audio", None, None))
    on_event(SlotChanged("ghost", "v0", "video", "bob", "camera"))  # ignored
    on_event(ProducerClosed("bob", "camera"))  # bob sends no camera: nothing changes
    assert box.events("slot") == [
        {"mid": "v0", "kind": "video", "user_id": "bob", "source": "camera"},
        {"mid": "a1", "kind": "audio", "user_id": None, "source": None},
    ]
    await manager.close()


async def test_the_router_is_opened_with_the_rooms_audio_slots() -> None:
    """``rooms.audio_slots`` (capped by the app's audio-sender cap) reaches the SFU's selector."""
    plane = ScriptedPlane()
    settings = RoomSettings(audio_slots=8, audio_sender_cap=9)
    manager = RoomManager(settings, plane, clock=ManualClock())  # type: ignore[arg-type]
    me = manager.enter(APP, claims("me"), "r", "room", RecordingOutbox())
    assert me.room is not None and me.room.link is not None
    await me.room.link.router()
    assert plane.routers[me.room.internal_id].options == RouterOptions(audio_slots=8)
    small = RoomManager(RoomSettings(audio_slots=8, audio_sender_cap=3), plane, clock=ManualClock())  # type: ignore[arg-type]
    other = small.enter(APP, claims("me"), "s", "room", RecordingOutbox())
    assert other.room is not None and other.room.link is not None
    await other.room.link.router()
    assert (
        plane.routers[other.room.internal_id].options.audio_slots == 3
    )  # never more than may send
    await manager.close()
    await small.close()
