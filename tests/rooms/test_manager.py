"""RoomManager rules: lifecycle, disconnect window, caps, views, listening, permissions."""

from __future__ import annotations

import pytest

from ilvb.config import RoomSettings
from ilvb.errors import IlvbError
from ilvb.rooms.member import Member
from ilvb.sfu.api import Subscription
from tests.rooms.helpers import APP, OTHER_APP, RecordingOutbox, claims, make_manager


def enter(manager, user: str, room: str | int = "r1", **kw) -> tuple[Member, RecordingOutbox]:  # type: ignore[no-untyped-def]
    box = RecordingOutbox()
    member = manager.enter(APP, claims(user, **kw), room, "room", box)
    return member, box


def code_of(fn, *args) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(IlvbError) as info:
        fn(*args)
    return info.value.code


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
    manager.publish(bob, "microphone")
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


async def test_seventh_audio_sender_is_refused() -> None:
    manager, _, _ = make_manager()
    members = [enter(manager, f"u{i}")[0] for i in range(8)]
    for member in members[:6]:
        manager.publish(member, "microphone")
    assert code_of(manager.publish, members[6], "microphone") == "audio_sender_limit"
    manager.unpublish(members[0], "microphone")
    manager.publish(members[6], "microphone")
    assert code_of(manager.publish, members[7], "microphone") == "audio_sender_limit"


async def test_fifth_video_sender_is_refused_but_a_sender_may_add_screen() -> None:
    manager, _, _ = make_manager()
    members = [enter(manager, f"u{i}")[0] for i in range(5)]
    for member in members[:4]:
        manager.publish(member, "camera")
    assert code_of(manager.publish, members[4], "camera") == "video_sender_limit"
    assert code_of(manager.publish, members[4], "screen") == "video_sender_limit"
    manager.publish(members[0], "screen")
    assert members[0].sending == {"camera", "screen"}


async def test_app_caps_override_the_defaults() -> None:
    import dataclasses

    manager, _, _ = make_manager()
    app = dataclasses.replace(APP, audio_sender_cap=2)
    members = [manager.enter(app, claims(f"u{i}"), "r", "room", None) for i in range(3)]
    manager.publish(members[0], "microphone")
    manager.publish(members[1], "microphone")
    assert code_of(manager.publish, members[2], "microphone") == "audio_sender_limit"


async def test_publish_without_permission_is_refused() -> None:
    manager, _, _ = make_manager()
    watcher, _ = enter(manager, "watcher", audio=False, video=False, screen=False)
    for source in ("microphone", "camera", "screen"):
        assert code_of(manager.publish, watcher, source) == "permission_denied"


async def test_view_limits_four_or_three_while_sending_video() -> None:
    manager, media, _ = make_manager()
    me, _ = enter(manager, "me")
    others = [enter(manager, f"o{i}")[0].user_id for i in range(5)]
    views = manager.request_views(me, others[:4])
    assert [v["mid"] for v in views] == ["v0", "v1", "v2", "v3"]
    assert code_of(manager.request_views, me, [others[4]]) == "view_limit"
    # Sending video with 4 views is refused until one is cancelled.
    assert code_of(manager.publish, me, "camera") == "view_limit"
    assert [v["user_id"] for v in manager.cancel_views(me, [others[0]])] == others[1:4]
    manager.publish(me, "camera")
    assert code_of(manager.request_views, me, [others[0]]) == "view_limit"
    assert manager.cancel_views(me) == []
    manager.request_views(me, others[:3])
    assert code_of(manager.request_views, me, [others[3]]) == "view_limit"
    await manager.idle()
    (router,) = media.routers.values()
    assert router.subscriptions["me"].views == tuple((o, "camera") for o in others[:3])


async def test_view_requests_are_checked() -> None:
    manager, _, _ = make_manager()
    me, _ = enter(manager, "me")
    enter(manager, "other")
    assert code_of(manager.request_views, me, ["me"]) == "invalid_argument"
    assert code_of(manager.request_views, me, ["ghost"]) == "member_not_found"
    assert manager.request_views(me, ["other", "other"]) == [
        {"user_id": "other", "source": "camera", "mid": "v0"}
    ]


async def test_listen_stop_affects_only_the_caller() -> None:
    manager, media, _ = make_manager()
    me, _ = enter(manager, "me")
    other, _ = enter(manager, "other")
    a, _ = enter(manager, "a")
    b, _ = enter(manager, "b")
    manager.publish(a, "microphone")
    manager.publish(b, "microphone")
    assert manager.stop_listening(me, ["a"]) == ["a"]
    await manager.idle()
    (router,) = media.routers.values()
    assert router.subscriptions["me"] == Subscription(frozenset({"b"}), ())
    assert "other" not in router.subscriptions  # nobody else was touched
    # A new audio sender is heard by me (only 'a' is excluded).
    manager.publish(other, "microphone")
    await manager.idle()
    assert router.subscriptions["me"].audio_from == frozenset({"b", "other"})
    assert manager.resume_listening(me) == []
    await manager.idle()
    assert router.subscriptions["me"] == Subscription(None, ())
    assert "other" not in router.subscriptions


async def test_member_changes_own_permissions_within_the_ticket_ceiling() -> None:
    manager, media, _ = make_manager()
    me, me_box = enter(manager, "me", screen=False)
    _, other_box = enter(manager, "other")
    manager.publish(me, "camera")
    manager.set_permissions(me, {"video": False}, "self")
    assert "camera" not in me.sending
    assert me_box.events("permissions.changed")[-1] == {
        "permissions": {"audio": True, "video": False, "screen": False},
        "by": "self",
    }
    state = other_box.events("member.state")[-1]
    assert state["permissions"]["video"] is False and state["sending"]["video"] is False
    manager.set_permissions(me, {"video": True}, "self")
    assert code_of(manager.set_permissions, me, {"screen": True}, "self") == "permission_denied"
    await manager.idle()
    (router,) = media.routers.values()
    assert router.enabled[("me", "camera")] is False


async def test_server_revokes_video_and_the_member_cannot_take_it_back() -> None:
    manager, media, _ = make_manager()
    me, me_box = enter(manager, "me")
    _, other_box = enter(manager, "other")
    manager.publish(me, "camera")
    manager.set_permissions(me, {"video": False}, "server")
    assert me.sending == set()
    assert me_box.events("permissions.changed")[-1]["by"] == "server"
    assert other_box.events("member.state")[-1]["sending"]["video"] is False
    assert code_of(manager.set_permissions, me, {"video": True}, "self") == "permission_denied"
    assert code_of(manager.publish, me, "camera") == "permission_denied"
    manager.set_permissions(me, {"video": True}, "server")
    manager.publish(me, "camera")
    await manager.idle()
    (router,) = media.routers.values()
    assert router.enabled[("me", "camera")] is True


async def test_mute_tells_the_media_plane_and_the_room() -> None:
    manager, media, _ = make_manager()
    me, _ = enter(manager, "me")
    _, other_box = enter(manager, "other")
    manager.publish(me, "microphone")
    manager.mute(me, "microphone", True)
    assert other_box.events("member.state")[-1]["muted"]["audio"] is True
    await manager.idle()
    (router,) = media.routers.values()
    assert router.enabled[("me", "microphone")] is False
    manager.mute(me, "microphone", False)
    await manager.idle()
    assert router.enabled[("me", "microphone")] is True


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


async def test_not_in_room_errors() -> None:
    manager, _, _ = make_manager()
    alice, _ = enter(manager, "alice")
    manager.exit(alice)
    assert code_of(manager.publish, alice, "microphone") == "not_in_room"
    assert code_of(manager.request_views, alice, ["x"]) == "not_in_room"


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
