"""Room events: manager.observer announces rooms, room.observer their members' changes; a
listener that raises is logged and changes nothing for the room or the other listeners."""

from __future__ import annotations

import logging

import pytest

from ilvb.rooms.events import (
    MemberEntered,
    MemberExited,
    MemberStateChanged,
    Observer,
    RoomClosed,
    RoomCreated,
)
from ilvb.rooms.room import Room
from tests.rooms.helpers import APP, enter, make_manager, room_of


async def test_observers_see_a_room_from_creation_to_close() -> None:
    manager, _, _ = make_manager()
    seen: list[tuple[str, ...]] = []

    def watch(created: RoomCreated) -> None:
        room = created.room
        seen.append(("created", str(room.display)))
        room.observer.on(MemberEntered, lambda e: seen.append(("entered", e.member.user_id)))
        room.observer.on(
            MemberExited, lambda e: seen.append(("exited", e.member.user_id, e.reason))
        )
        room.observer.on(
            MemberStateChanged,
            lambda e: seen.append(("state", e.member.user_id, str(sorted(e.member.sending)))),
        )
        room.observer.on(RoomClosed, lambda e: seen.append(("closed", str(e.room.display))))

    manager.observer.on(RoomCreated, watch)
    alice, _ = enter(manager, "alice")
    bob, _ = enter(manager, "bob")
    room_of(alice).publish(alice, "microphone")
    manager.disconnect(bob)
    manager.kick(bob)
    manager.exit(alice)
    assert seen == [
        ("created", "r1"),
        ("entered", "alice"),
        ("entered", "bob"),
        ("state", "alice", "['microphone']"),
        ("state", "bob", "[]"),  # connected: false
        ("exited", "bob", "kicked"),
        ("exited", "alice", "left"),
        ("closed", "r1"),
    ]
    await manager.close()


async def test_a_raising_listener_is_logged_and_the_room_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    manager, _, _ = make_manager()
    alice, alice_box = enter(manager, "alice")
    room = room_of(alice)
    after: list[str] = []

    def broken(event: MemberEntered) -> None:
        raise RuntimeError("listener bug")

    room.observer.on(MemberEntered, broken)
    room.observer.on(MemberEntered, lambda e: after.append(e.member.user_id))
    with caplog.at_level(logging.ERROR, logger="ilvb.rooms.events"):
        bob, _ = enter(manager, "bob")
    assert after == ["bob"]  # the next listener still ran
    assert bob.room is room and set(room.members) == {"alice", "bob"}
    assert [m["user_id"] for e in alice_box.events("members.entered") for m in e["members"]] == [
        "bob"
    ]
    (record,) = caplog.records
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    room.observer.off(MemberEntered, broken)
    enter(manager, "carol")
    assert after == ["bob", "carol"]
    assert len(caplog.records) == 1  # off() removed the broken one
    await manager.close()


def test_an_observer_without_listeners_is_false_and_off_is_safe() -> None:
    observer = Observer()
    assert not observer
    observer.off(RoomClosed, lambda e: None)  # never subscribed: no error
    calls: list[Room] = []
    observer.on(RoomClosed, lambda e: calls.append(e.room))
    assert observer
    observer.emit("not a room event")  # no listener for this type
    assert calls == []


async def test_closing_a_room_emits_one_room_closed() -> None:
    manager, _, _ = make_manager()
    alice, _ = enter(manager, "alice")
    enter(manager, "bob")
    room = room_of(alice)
    closed: list[Room] = []
    exits: list[str] = []
    room.observer.on(RoomClosed, lambda e: closed.append(e.room))
    room.observer.on(MemberExited, lambda e: exits.append(e.reason))
    manager.close_room(room)
    manager.close_room(room)
    assert closed == [room] and exits == ["room_closed", "room_closed"]
    assert manager.find(APP.app_id, "r1") is None
    await manager.close()
