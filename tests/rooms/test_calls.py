"""Two-person calls: number allocation from 0, only its parties join, two members at most,
one leaving ends it."""

from __future__ import annotations

import pytest

from ilvb.errors import IlvbError
from ilvb.rooms.member import Member
from tests.rooms.helpers import APP, RecordingOutbox, claims, make_manager


def token(creator: Member) -> str:
    """The call token the creator got (what the app hands to the other party)."""
    assert creator.room is not None and creator.room.invite is not None
    return creator.room.invite.token


async def test_call_zero_allocates_a_fresh_number_and_the_peer_joins_with_it() -> None:
    manager, _, _ = make_manager()
    caller = manager.enter(APP, claims("caller"), 0, "call", RecordingOutbox())
    assert caller.room is not None
    number = caller.room.display
    assert isinstance(number, int) and number > 0
    other_call = manager.enter(APP, claims("x"), 0, "call", RecordingOutbox())
    assert other_call.room is not None and other_call.room.display != number
    callee = manager.enter(
        APP, claims("callee"), number, "call", RecordingOutbox(), call_token=token(caller)
    )
    assert callee.room is caller.room


async def test_third_member_is_refused_with_call_full() -> None:
    manager, _, _ = make_manager()
    caller = manager.enter(APP, claims("a"), 0, "call", RecordingOutbox())
    assert caller.room is not None
    number = caller.room.display
    manager.enter(APP, claims("b"), number, "call", RecordingOutbox(), call_token=token(caller))
    with pytest.raises(IlvbError) as info:
        manager.enter(APP, claims("c"), number, "call", RecordingOutbox(), call_token=token(caller))
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
    callee = manager.enter(
        APP, claims("callee"), room.display, "call", boxes["callee"], call_token=token(caller)
    )
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
    callee = manager.enter(
        APP,
        claims("callee"),
        caller.room.display,
        "call",
        RecordingOutbox(),
        call_token=token(caller),
    )
    manager.disconnect(callee)
    clock.advance(30)
    assert box.events("call.ended") == [{"reason": "timeout"}]
    assert caller.room is None


async def test_a_number_alone_does_not_let_a_third_party_take_the_callees_place() -> None:
    manager, _, _ = make_manager()
    caller_box = RecordingOutbox()
    caller = manager.enter(APP, claims("caller"), 0, "call", caller_box)
    assert caller.room is not None
    number = caller.room.display
    for bad in (None, "x" * 32, token(caller) + "x", token(caller)[:-1]):
        with pytest.raises(IlvbError) as info:
            manager.enter(APP, claims("mallory"), number, "call", RecordingOutbox(), call_token=bad)
        assert info.value.code == "room_not_found"  # the same answer as for an unused number
    assert list(caller.room.members) == ["caller"]
    assert caller_box.events("members.entered") == []
    callee = manager.enter(
        APP, claims("callee"), number, "call", RecordingOutbox(), call_token=token(caller)
    )
    assert callee.room is caller.room


async def test_a_named_callee_joins_with_the_number_and_nobody_else_does() -> None:
    manager, _, _ = make_manager()
    caller = manager.enter(APP, claims("caller"), 0, "call", RecordingOutbox(), callee="bob")
    assert caller.room is not None
    number = caller.room.display
    with pytest.raises(IlvbError) as info:
        manager.enter(APP, claims("mallory"), number, "call", RecordingOutbox())
    assert info.value.code == "room_not_found"
    bob = manager.enter(APP, claims("bob"), number, "call", RecordingOutbox())
    assert bob.room is caller.room


async def test_each_call_gets_its_own_token() -> None:
    manager, _, _ = make_manager()
    a = manager.enter(APP, claims("a"), 0, "call", RecordingOutbox())
    b = manager.enter(APP, claims("b"), 0, "call", RecordingOutbox())
    assert a.room is not None and b.room is not None
    assert token(a) != token(b) and len(token(a)) >= 32
    with pytest.raises(IlvbError) as info:  # a's token does not open b's call
        manager.enter(
            APP, claims("c"), b.room.display, "call", RecordingOutbox(), call_token=token(a)
        )
    assert info.value.code == "room_not_found"
