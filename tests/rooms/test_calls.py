"""Two-person calls: number allocation from 0, two members at most, one leaving ends it."""

from __future__ import annotations

import pytest

from ilvb.errors import IlvbError
from tests.rooms.helpers import APP, RecordingOutbox, claims, make_manager


async def test_call_zero_allocates_a_fresh_number_and_the_peer_joins_with_it() -> None:
    manager, _, _ = make_manager()
    caller = manager.enter(APP, claims("caller"), 0, "call", RecordingOutbox())
    assert caller.room is not None
    number = caller.room.display
    assert isinstance(number, int) and number > 0
    other_call = manager.enter(APP, claims("x"), 0, "call", RecordingOutbox())
    assert other_call.room is not None and other_call.room.display != number
    callee = manager.enter(APP, claims("callee"), number, "call", RecordingOutbox())
    assert callee.room is caller.room


async def test_third_member_is_refused_with_call_full() -> None:
    manager, _, _ = make_manager()
    caller = manager.enter(APP, claims("a"), 0, "call", RecordingOutbox())
    assert caller.room is not None
    number = caller.room.display
    manager.enter(APP, claims("b"), number, "call", RecordingOutbox())
    with pytest.raises(IlvbError) as info:
        manager.enter(APP, claims("c"), number, "call", RecordingOutbox())
    assert info.value.code == "call_full"


async def test_unknown_call_number_is_room_not_found() -> None:
    manager, _, _ = make_manager()
    with pytest.raises(IlvbError) as info:
        manager.enter(APP, claims("a"), 123456, "call", RecordingOutbox())
    assert info.value.code == "room_not_found"


@pytest.mark.parametrize("leaver", ["caller", "callee"])
async def test_either_side_leaving_ends_the_call_for_both(leaver: str) -> None:
    manager, media, _ = make_manager()
    boxes = {"caller": RecordingOutbox(), "callee": RecordingOutbox()}
    caller = manager.enter(APP, claims("caller"), 0, "call", boxes["caller"])
    assert caller.room is not None
    room = caller.room
    callee = manager.enter(APP, claims("callee"), room.display, "call", boxes["callee"])
    members = {"caller": caller, "callee": callee}
    stayer = "callee" if leaver == "caller" else "caller"
    manager.exit(members[leaver])
    names = boxes[stayer].names()
    assert names[-2:] == ["call.ended", "room.exited"]
    assert boxes[stayer].events("call.ended") == [{"reason": "left"}]
    assert boxes[stayer].events("room.exited") == [{"reason": "call_ended"}]
    assert members[stayer].room is None
    assert manager.find(APP.app_id, room.display, "call") is None
    with pytest.raises(IlvbError) as info:
        manager.enter(APP, claims("late"), room.display, "call", RecordingOutbox())
    assert info.value.code == "room_not_found"
    await manager.idle()
    assert media.routers[room.internal_id].closed


async def test_timeout_of_one_side_ends_the_call() -> None:
    manager, _, clock = make_manager()
    box = RecordingOutbox()
    caller = manager.enter(APP, claims("caller"), 0, "call", box)
    assert caller.room is not None
    callee = manager.enter(APP, claims("callee"), caller.room.display, "call", RecordingOutbox())
    manager.disconnect(callee)
    clock.advance(30)
    assert box.events("call.ended") == [{"reason": "timeout"}]
    assert caller.room is None
