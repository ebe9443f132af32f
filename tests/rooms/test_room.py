"""Room: member paging and lookup (the one implementation REST and signaling both call)."""

from __future__ import annotations

import pytest

from ilvb.errors import IlvbError
from tests.rooms.helpers import APP, RecordingOutbox, claims, make_manager


async def test_member_page_walks_every_member_once_with_string_cursors() -> None:
    manager, _, _ = make_manager()
    members = [manager.enter(APP, claims(f"u{i:02}"), "r", "room", None) for i in range(23)]
    for gone in members[3::5]:
        manager.exit(gone)
    room = manager.get(APP.app_id, "r")
    expected = [m.user_id for m in members if m.room is not None]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = room.member_page(cursor, 4)
        pages += 1
        assert page["total"] == len(expected)
        assert all(set(state) >= {"user_id", "sending", "muted"} for state in page["members"])
        seen += [state["user_id"] for state in page["members"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str)
    assert seen == expected
    assert pages == (len(expected) + 3) // 4


@pytest.mark.parametrize("cursor", ["abc", "-1", "1.5", "", "²", "9" * 33])
async def test_member_page_refuses_a_cursor_it_did_not_issue(cursor: str) -> None:
    manager, _, _ = make_manager()
    room = manager.enter(APP, claims("a"), "r", "room", None).room
    assert room is not None
    with pytest.raises(IlvbError) as info:
        room.member_page(cursor, 10)
    assert info.value.code == "invalid_argument"


async def test_member_lookup_and_sender_list() -> None:
    manager, _, _ = make_manager()
    a = manager.enter(APP, claims("a"), "r", "room", RecordingOutbox())
    manager.enter(APP, claims("b"), "r", "room", RecordingOutbox())
    manager.publish(a, "microphone")
    room = a.room
    assert room is not None
    assert room.member("b").user_id == "b"
    with pytest.raises(IlvbError) as info:
        room.member("ghost")
    assert info.value.code == "member_not_found"
    senders = room.sender_list()["members"]
    assert [s["user_id"] for s in senders] == ["a"]
    assert senders[0]["sending"] == {"audio": True, "video": False, "screen": False}
