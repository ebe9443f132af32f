"""Host controls: mute a member, stop its screen share, mute all, lock the room; each needs the
stage right (or is the app's server)."""

from __future__ import annotations

from ilvb.rooms import controls
from tests.rooms.helpers import APP, claims, code_of, enter, make_manager, room_of


async def test_a_host_mutes_stops_the_screen_and_mutes_all() -> None:
    manager, _, _ = make_manager()
    host, hbox = enter(manager, "host", role="host")
    a, abox = enter(manager, "a")
    b, bbox = enter(manager, "b")
    room = room_of(host)
    for m in (host, a, b):
        room.publish(m, "microphone")
    room.publish(a, "screen")
    assert code_of(lambda: controls.mute_member(room, a, "b")) == "stage_right_required"
    assert "microphone" not in b.muted
    controls.mute_member(room, host, "a")
    assert "microphone" in a.muted and abox.events("control.muted")[0]["by"] == "host"
    assert bbox.events("member.state")[-1]["muted"]["audio"] is True
    room.mute(a, "microphone", False)  # the member may unmute itself
    controls.stop_screen(room, host, "a")
    assert "screen" not in a.sending and abox.events("control.screen_stopped")
    assert controls.mute_all(room, host) == ["a", "b"]
    assert "microphone" not in host.muted
    assert controls.mute_all(room, None) == ["host"]


async def test_a_locked_room_refuses_new_entries_only() -> None:
    manager, _, _ = make_manager()
    host, _ = enter(manager, "host", role="teacher")
    a, abox = enter(manager, "a")
    room = room_of(host)
    assert code_of(lambda: controls.lock(room, a, True)) == "stage_right_required"
    controls.lock(room, host, True)
    assert abox.events("room.locked") == [{"locked": True, "by": "host"}]
    assert room.info()["locked"] is True
    assert code_of(lambda: manager.enter(APP, claims("new"), "r1", "room", None)) == "room_locked"
    assert len(room) == 2
    manager.enter(APP, claims("a"), "r1", "room", None)  # a member re-entering is not new
    controls.lock(room, None, False)
    manager.enter(APP, claims("new"), "r1", "room", None)
    assert len(room) == 3
