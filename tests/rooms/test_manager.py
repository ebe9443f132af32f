"""RoomManager: the registry, room lifecycle, entering and leaving, the disconnect window."""

from __future__ import annotations

import pytest

from ilvb.config import RoomSettings
from ilvb.errors import IlvbError
from tests.rooms.helpers import (
    APP,
    OTHER_APP,
    RecordingOutbox,
    claims,
    enter,
    make_manager,
    room_of,
)


async def test_first_entry_creates_last_exit_destroys_with_a_fresh_internal_id() -> None:
    manager, media, _ = make_manager()
    alice, _ = enter(manager, "alice")
    bob, _ = enter(manager, "bob")
    room = manager.get(APP.app_id, "r1")
    first_id = room.internal_id
    manager.exit(alice)
    assert manager.find(APP.app_id, "r1") is room
    manager.exit(bob)
    assert manager.find(APP.app_id, "r1") is None
    carol, _ = enter(manager, "carol")
    again = manager.get(APP.app_id, "r1")
    assert again is not room and again.internal_id != first_id
    await manager.idle()
    assert media.routers[first_id].closed is True
    assert media.routers[again.internal_id].closed is False
    await manager.close()
    assert media.routers[again.internal_id].closed is True


async def test_rooms_are_separate_per_app_and_kind() -> None:
    manager, _, _ = make_manager()
    enter(manager, "alice", "r1")
    other = manager.enter(OTHER_APP, claims("alice"), "r1", "room", RecordingOutbox())
    assert other.room is not manager.get(APP.app_id, "r1")
    assert [r.display for r in manager.rooms(APP.app_id)] == ["r1"]


def test_default_disconnect_window_is_30_seconds() -> None:
    assert RoomSettings().disconnect_timeout_s == 30.0


async def test_member_gone_for_the_window_is_removed_with_events() -> None:
    manager, media, clock = make_manager()
    alice, alice_box = enter(manager, "alice")
    bob, _ = enter(manager, "bob")
    manager.disconnect(bob)
    state = alice_box.events("member.state")[-1]
    assert state["user_id"] == "bob" and state["connected"] is False
    clock.advance(29.9)
    assert bob.room is not None
    assert alice_box.events("members.exited") == []
    clock.advance(0.2)
    assert bob.room is None
    assert alice_box.events("members.exited") == [{"user_ids": ["bob"], "reason": "timeout"}]
    await manager.idle()
    (router,) = media.routers.values()
    assert router.removed == ["bob"]


async def test_reconnect_inside_the_window_is_seamless() -> None:
    manager, _, clock = make_manager(disconnect_timeout_s=5)
    _, alice_box = enter(manager, "alice")
    bob, _ = enter(manager, "bob")
    room_of(bob).publish(bob, "microphone")
    manager.disconnect(bob)
    clock.advance(4.9)
    new_box = RecordingOutbox()
    manager.reconnect(bob, new_box)
    clock.advance(60)
    assert bob.room is not None and bob.connected
    assert "microphone" in bob.sending
    assert alice_box.events("members.exited") == []
    assert alice_box.events("member.state")[-1]["connected"] is True
    manager.exit(bob)
    assert new_box.events("room.exited") == [{"reason": "left"}]


async def test_ticket_room_restriction() -> None:
    manager, _, _ = make_manager()
    box = RecordingOutbox()
    with pytest.raises(IlvbError) as info:
        manager.enter(APP, claims("alice", room="math"), "music", "room", box)
    assert info.value.code == "ticket_wrong_room"
    assert manager.enter(APP, claims("alice", room="math"), "math", "room", box).room is not None


async def test_same_user_entering_again_replaces_the_old_member() -> None:
    manager, _, _ = make_manager()
    old, old_box = enter(manager, "alice")
    _, bob_box = enter(manager, "bob")
    new, _ = enter(manager, "alice")
    assert old.room is None and new.room is not None
    assert old_box.events("room.exited") == [{"reason": "replaced"}]
    assert bob_box.events("members.exited") == [{"user_ids": ["alice"], "reason": "replaced"}]
    assert len(manager.get(APP.app_id, "r1")) == 2


async def test_kick_and_close_room() -> None:
    manager, media, _ = make_manager()
    alice, alice_box = enter(manager, "alice")
    bob, bob_box = enter(manager, "bob")
    manager.kick(bob)
    assert bob_box.events("room.exited") == [{"reason": "kicked"}]
    assert alice_box.events("members.exited") == [{"user_ids": ["bob"], "reason": "kicked"}]
    room = manager.get(APP.app_id, "r1")
    manager.close_room(room)
    assert alice_box.events("room.exited") == [{"reason": "room_closed"}]
    assert manager.find(APP.app_id, "r1") is None
    await manager.idle()
    assert media.routers[room.internal_id].closed


async def test_a_hanging_media_plane_gives_media_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    from ilvb.rooms import manager as manager_module
    from ilvb.sfu.api import NullRouter

    monkeypatch.setattr(manager_module, "MEDIA_TIMEOUT_S", 0.05)

    async def hang(self, member_id, audio_slots, video_slots):  # type: ignore[no-untyped-def]
        await asyncio.sleep(3600)

    monkeypatch.setattr(NullRouter, "offer_receive", hang)
    manager, _, _ = make_manager()
    me, _ = enter(manager, "me")
    with pytest.raises(IlvbError) as info:
        await manager.offer_receive(me)
    assert info.value.code == "media_unavailable"
