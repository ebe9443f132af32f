"""Wire encoding: the hand-assembled batch frames are the same JSON as the generic encoder's, and
MemberState names its flags by permission (audio = microphone, video = camera)."""

from __future__ import annotations

import json

from ilvb.rooms import wire
from ilvb.rooms.permissions import FLAG_SOURCE, SOURCE_FLAG, Permissions
from tests.rooms.helpers import APP, enter, make_manager, room_of


def test_batch_frames_parse_as_the_events_they_name() -> None:
    items = [{"user_id": "a", "connected": False}, {"user_id": "b", "connected": True}]
    joined = ",".join(wire.dumps(i) for i in items)
    for kind, event in (("entered", "members.entered"), ("state", "members.state")):
        head, tail = wire.batch_frame_parts(kind, None)
        assert head + joined + tail == wire.event_frame(event, {"members": items})
    head, tail = wire.batch_frame_parts("exited", "timeout")
    frame = head + '"a","b"' + tail
    exited = {"user_ids": ["a", "b"], "reason": "timeout"}
    assert frame == wire.event_frame("members.exited", exited)
    one = wire.dumps(items[0])
    assert wire.state_frame(one) == wire.event_frame("member.state", items[0])


async def test_member_state_flags_follow_the_one_source_permission_map() -> None:
    assert FLAG_SOURCE == {"audio": "microphone", "video": "camera", "screen": "screen"}
    assert {v: k for k, v in FLAG_SOURCE.items()} == SOURCE_FLAG
    manager, _, _ = make_manager()
    me, _ = enter(manager, "me")
    room_of(me).publish(me, "camera")
    room_of(me).mute(me, "camera", True)
    state = wire.member_state(me)
    assert state["sending"] == {"audio": False, "video": True, "screen": False}
    assert state["muted"] == {"audio": False, "video": True, "screen": False}
    assert state["permissions"] == Permissions().to_dict()
    assert list(state["sending"]) == list(state["permissions"])  # same keys, same order


async def test_room_info_never_carries_the_internal_id() -> None:
    manager, _, _ = make_manager()
    me, _ = enter(manager, "me")
    room = room_of(me)
    text = json.dumps(wire.room_info(room))
    assert room.internal_id not in text
    assert wire.room_info(room)["member_count"] == 1 and room.display == "r1"
    assert manager.get(APP.app_id, "r1") is room
