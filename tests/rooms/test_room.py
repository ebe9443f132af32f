"""Room: media rules (sender caps, views, listening, permissions, mute), member paging and
lookup (the one implementation REST and signaling both call)."""

from __future__ import annotations

import dataclasses

import pytest

from ilvb.errors import IlvbError
from ilvb.sfu.api import Subscription
from tests.rooms.helpers import (
    APP,
    RecordingOutbox,
    claims,
    code_of,
    enter,
    make_manager,
    room_of,
)


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
    room_of(a).publish(a, "microphone")
    room = a.room
    assert room is not None
    assert room.member("b").user_id == "b"
    with pytest.raises(IlvbError) as info:
        room.member("ghost")
    assert info.value.code == "member_not_found"
    senders = room.sender_list()["members"]
    assert [s["user_id"] for s in senders] == ["a"]
    assert senders[0]["sending"] == {"audio": True, "video": False, "screen": False}


async def test_seventh_audio_sender_is_refused() -> None:
    manager, _, _ = make_manager()
    members = [enter(manager, f"u{i}")[0] for i in range(8)]
    for member in members[:6]:
        room_of(member).publish(member, "microphone")
    assert code_of(room_of(members[6]).publish, members[6], "microphone") == "audio_sender_limit"
    room_of(members[0]).unpublish(members[0], "microphone")
    room_of(members[6]).publish(members[6], "microphone")
    assert code_of(room_of(members[7]).publish, members[7], "microphone") == "audio_sender_limit"


async def test_fifth_video_sender_is_refused_but_a_sender_may_add_screen() -> None:
    manager, _, _ = make_manager()
    members = [enter(manager, f"u{i}")[0] for i in range(5)]
    for member in members[:4]:
        room_of(member).publish(member, "camera")
    assert code_of(room_of(members[4]).publish, members[4], "camera") == "video_sender_limit"
    assert code_of(room_of(members[4]).publish, members[4], "screen") == "video_sender_limit"
    room_of(members[0]).publish(members[0], "screen")
    assert members[0].sending == {"camera", "screen"}


async def test_app_caps_override_the_defaults() -> None:
    manager, _, _ = make_manager()
    app = dataclasses.replace(APP, audio_sender_cap=2)
    members = [manager.enter(app, claims(f"u{i}"), "r", "room", None) for i in range(3)]
    room_of(members[0]).publish(members[0], "microphone")
    room_of(members[1]).publish(members[1], "microphone")
    assert code_of(room_of(members[2]).publish, members[2], "microphone") == "audio_sender_limit"


async def test_publish_without_permission_is_refused() -> None:
    manager, _, _ = make_manager()
    watcher, _ = enter(manager, "watcher", audio=False, video=False, screen=False)
    for source in ("microphone", "camera", "screen"):
        assert code_of(room_of(watcher).publish, watcher, source) == "permission_denied"


async def test_view_limits_four_or_three_while_sending_video() -> None:
    manager, media, _ = make_manager()
    me, _ = enter(manager, "me")
    others = [enter(manager, f"o{i}")[0].user_id for i in range(5)]
    views = room_of(me).request_views(me, others[:4])
    assert [v["mid"] for v in views] == ["v0", "v1", "v2", "v3"]
    assert code_of(room_of(me).request_views, me, [others[4]]) == "view_limit"
    # Sending video with 4 views is refused until one is cancelled.
    assert code_of(room_of(me).publish, me, "camera") == "view_limit"
    assert [v["user_id"] for v in room_of(me).cancel_views(me, [others[0]])] == others[1:4]
    room_of(me).publish(me, "camera")
    assert code_of(room_of(me).request_views, me, [others[0]]) == "view_limit"
    assert room_of(me).cancel_views(me) == []
    room_of(me).request_views(me, others[:3])
    assert code_of(room_of(me).request_views, me, [others[3]]) == "view_limit"
    await manager.idle()
    (router,) = media.routers.values()
    assert router.subscriptions["me"].views == tuple((o, "camera") for o in others[:3])


async def test_view_requests_are_checked() -> None:
    manager, _, _ = make_manager()
    me, _ = enter(manager, "me")
    enter(manager, "other")
    assert code_of(room_of(me).request_views, me, ["me"]) == "invalid_argument"
    assert code_of(room_of(me).request_views, me, ["ghost"]) == "member_not_found"
    assert room_of(me).request_views(me, ["other", "other"]) == [
        {"user_id": "other", "source": "camera", "mid": "v0"}
    ]


async def test_listen_stop_affects_only_the_caller() -> None:
    manager, media, _ = make_manager()
    me, _ = enter(manager, "me")
    other, _ = enter(manager, "other")
    a, _ = enter(manager, "a")
    b, _ = enter(manager, "b")
    room_of(a).publish(a, "microphone")
    room_of(b).publish(b, "microphone")
    assert room_of(me).stop_listening(me, ["a"]) == ["a"]
    await manager.idle()
    (router,) = media.routers.values()
    assert router.subscriptions["me"] == Subscription(frozenset({"b"}), ())
    assert "other" not in router.subscriptions  # nobody else was touched
    # A new audio sender is heard by me (only 'a' is excluded).
    room_of(other).publish(other, "microphone")
    await manager.idle()
    assert router.subscriptions["me"].audio_from == frozenset({"b", "other"})
    assert room_of(me).resume_listening(me) == []
    await manager.idle()
    assert router.subscriptions["me"] == Subscription(None, ())
    assert "other" not in router.subscriptions


async def test_member_changes_own_permissions_within_the_ticket_ceiling() -> None:
    manager, media, _ = make_manager()
    me, me_box = enter(manager, "me", screen=False)
    _, other_box = enter(manager, "other")
    room_of(me).publish(me, "camera")
    room_of(me).set_permissions(me, {"video": False}, "self")
    assert "camera" not in me.sending
    assert me_box.events("permissions.changed")[-1] == {
        "permissions": {"audio": True, "video": False, "screen": False},
        "by": "self",
    }
    state = other_box.events("member.state")[-1]
    assert state["permissions"]["video"] is False and state["sending"]["video"] is False
    room_of(me).set_permissions(me, {"video": True}, "self")
    assert code_of(room_of(me).set_permissions, me, {"screen": True}, "self") == "permission_denied"
    await manager.idle()
    (router,) = media.routers.values()
    assert router.enabled[("me", "camera")] is False


async def test_server_revokes_video_and_the_member_cannot_take_it_back() -> None:
    manager, media, _ = make_manager()
    me, me_box = enter(manager, "me")
    _, other_box = enter(manager, "other")
    room_of(me).publish(me, "camera")
    room_of(me).set_permissions(me, {"video": False}, "server")
    assert me.sending == set()
    assert me_box.events("permissions.changed")[-1]["by"] == "server"
    assert other_box.events("member.state")[-1]["sending"]["video"] is False
    assert code_of(room_of(me).set_permissions, me, {"video": True}, "self") == "permission_denied"
    assert code_of(room_of(me).publish, me, "camera") == "permission_denied"
    room_of(me).set_permissions(me, {"video": True}, "server")
    room_of(me).publish(me, "camera")
    await manager.idle()
    (router,) = media.routers.values()
    assert router.enabled[("me", "camera")] is True


async def test_mute_tells_the_media_plane_and_the_room() -> None:
    manager, media, _ = make_manager()
    me, _ = enter(manager, "me")
    _, other_box = enter(manager, "other")
    room_of(me).publish(me, "microphone")
    room_of(me).mute(me, "microphone", True)
    assert other_box.events("member.state")[-1]["muted"]["audio"] is True
    await manager.idle()
    (router,) = media.routers.values()
    assert router.enabled[("me", "microphone")] is False
    room_of(me).mute(me, "microphone", False)
    await manager.idle()
    assert router.enabled[("me", "microphone")] is True


async def test_paging_lists_every_member_once_in_entry_order() -> None:
    manager, _, _ = make_manager()
    members = [enter(manager, f"u{i:03}")[0] for i in range(250)]
    for member in members[::7]:
        manager.exit(member)
    expected = [m.user_id for m in members if m.room is not None]
    room = manager.get(APP.app_id, "r1")
    seen: list[str] = []
    cursor = None
    while True:
        page, cursor = room.page(cursor, 40)
        seen += [m.user_id for m in page]
        if cursor is None:
            break
    assert seen == expected


async def test_a_member_that_left_gets_not_in_room_from_its_old_room() -> None:
    manager, _, _ = make_manager()
    alice, _ = enter(manager, "alice")
    enter(manager, "bob")
    room = room_of(alice)
    manager.exit(alice)
    assert code_of(room.publish, alice, "microphone") == "not_in_room"
    assert code_of(room.request_views, alice, ["bob"]) == "not_in_room"
    assert code_of(room.set_permissions, alice, {"audio": False}, "self") == "not_in_room"


async def test_leaving_clears_every_index_and_the_viewers_lose_their_views() -> None:
    manager, media, _ = make_manager()
    star, _ = enter(manager, "star")
    fan, fan_box = enter(manager, "fan")
    picky, _ = enter(manager, "picky")
    room = room_of(star)
    room.publish(star, "microphone")
    room.publish(star, "camera")
    room.publish(fan, "microphone")
    room.request_views(fan, ["star"])
    room.request_views(fan, ["star"], "screen")
    room.request_views(picky, ["star", "fan"])
    room.stop_listening(picky, ["fan"])
    await manager.idle()
    (router,) = media.routers.values()
    assert router.subscriptions["picky"].audio_from == frozenset({"star"})
    manager.exit(star)
    assert set(room.audio_senders) == {"fan"} and set(room.video_senders) == set()
    assert fan.views == [] and picky.views == [("fan", "camera")]
    assert fan_box.events("members.exited") == [{"user_ids": ["star"], "reason": "left"}]
    await manager.idle()
    assert router.removed == ["star"]
    assert router.subscriptions["fan"].views == ()
    assert router.subscriptions["picky"] == Subscription(frozenset(), (("fan", "camera"),))
    # The views left after the exit are cancelled as usual.
    assert room.cancel_views(picky) == []
    await manager.idle()
    assert router.subscriptions["picky"].views == ()
