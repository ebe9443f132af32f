"""Stage: invitations (accept, decline, expiry on the rooms clock, caps at accept), raised hands,
taking a member off stage, and the errors that leave the room unchanged."""

from __future__ import annotations

import pytest

from ilvb.errors import IlvbError
from ilvb.rooms.permissions import Permissions
from ilvb.rooms.room import Room
from tests.rooms.helpers import claims, code_of, enter, make_manager, room_of


def snapshot(room: Room) -> tuple[object, ...]:
    """Everything a failed stage request must leave as it was."""
    return (
        [m.state() for m in room.members.values()],
        [(m.ceiling, m.permissions) for m in room.members.values()],
        sorted(room.audio_senders),
        sorted(room.video_senders),
        [i.to_dict() for i in room.stage.pending()],
        dict(room.stage.seats),
        room.stage.hands(),
    )


def klass(n: int = 3):  # type: ignore[no-untyped-def]
    manager, _, clock = make_manager()
    teacher, tbox = enter(manager, "teacher", role="teacher")
    students = [enter(manager, f"s{i}", role="audience", screen=False) for i in range(n)]
    return manager, clock, (teacher, tbox), students


async def test_audience_enters_watch_only_and_an_accepted_invite_lets_it_publish() -> None:
    _, _, (teacher, tbox), [(s0, box0), (s1, box1), _] = klass()
    room = room_of(teacher)
    assert s0.permissions == Permissions(False, False, False)
    with pytest.raises(IlvbError) as info:
        room.publish(s0, "microphone")
    assert info.value.code == "permission_denied"
    s0.room.stage.raise_hand(s0)  # type: ignore[union-attr]
    assert tbox.events("hand.raised") == [{"user_id": "s0"}]
    assert room.stage.hands()[0]["user_id"] == "s0"
    assert room.member("s0").state()["hand_raised"] is True
    assert box1.events("hand.raised") == []  # hosts only; the room sees member.state
    invite = room.stage.invite(teacher, "s0")
    assert box0.events("stage.invited")[0]["invite_id"] == invite.invite_id
    room.stage.accept(s0, invite.invite_id)
    assert s0.permissions == Permissions(True, True, False)
    assert s0.state()["on_stage"] is True and s0.state()["hand_raised"] is False
    assert tbox.events("stage.accepted")[0]["user_id"] == "s0"
    assert box1.events("member.state")[-1]["on_stage"] is True
    room.publish(s0, "microphone")
    assert "s0" in room.audio_senders
    room.stage.remove(teacher, "s0")
    assert "s0" not in room.audio_senders
    assert s0.permissions == Permissions(False, False, False) and not s0.on_stage
    assert box0.events("stage.removed") == [{"user_id": "s0", "by": "teacher"}]
    assert tbox.events("stage.removed") == [{"user_id": "s0", "by": "teacher"}]
    assert box1.events("member.state")[-1]["sending"]["audio"] is False


async def test_declined_and_expired_invites_change_nothing_but_the_invite() -> None:
    manager, clock, (teacher, tbox), [(s0, box0), (s1, box1), _] = klass()
    room = room_of(teacher)
    before = [m.state() for m in room.members.values()]
    inv = room.stage.invite(teacher, "s0")
    room.stage.decline(s0, inv.invite_id)
    assert tbox.events("stage.declined")[0]["status"] == "declined"
    inv2 = room.stage.invite(teacher, "s1")
    clock.advance(29.9)
    assert room.stage.pending() == [inv2]
    clock.advance(0.2)
    assert room.stage.pending() == []
    assert box1.events("stage.expired")[0]["invite_id"] == inv2.invite_id
    assert tbox.events("stage.expired")[0]["status"] == "expired"
    assert [m.state() for m in room.members.values()] == before
    assert code_of(lambda: room.stage.accept(s1, inv2.invite_id)) == "invite_expired"
    assert code_of(lambda: room.stage.accept(s0, inv.invite_id)) == "invite_already_answered"
    assert clock.pending() == 0


async def test_the_invite_ttl_is_a_setting() -> None:
    manager, _, clock = make_manager(stage_invite_ttl_s=5)
    teacher, _ = enter(manager, "t", role="host")
    s, _ = enter(manager, "s", role="audience")
    inv = room_of(teacher).stage.invite(teacher, "s")
    clock.advance(5.01)
    assert inv.status == "expired"


async def test_errors_leave_the_room_unchanged() -> None:
    manager, _, (teacher, _), [(s0, _), (s1, _), (s2, _)] = klass()
    room = room_of(teacher)
    inv = room.stage.invite(teacher, "s0")
    before = snapshot(room)
    assert code_of(lambda: room.stage.invite(teacher, "nobody")) == "member_not_found"
    assert code_of(lambda: room.stage.invite(s1, "s2")) == "stage_right_required"
    assert code_of(lambda: room.stage.accept(s1, inv.invite_id)) == "invite_not_for_you"
    assert code_of(lambda: room.stage.accept(s0, "inv_nope")) == "invite_not_found"
    assert code_of(lambda: room.stage.invite(teacher, "s0")) == "invite_pending"
    assert code_of(lambda: room.stage.remove(teacher, "s1")) == "not_on_stage"
    assert code_of(lambda: room.stage.remove(s1, "s0")) == "stage_right_required"
    # Beyond what the invitee's ticket allows (screen is not in an audience ticket's priv).
    assert (
        code_of(lambda: room.stage.invite(teacher, "s1", Permissions(True, False, True)))
        == "permission_denied"
    )
    assert snapshot(room) == before
    room.stage.accept(s0, inv.invite_id)
    after = snapshot(room)
    assert code_of(lambda: room.stage.accept(s0, inv.invite_id)) == "invite_already_answered"
    assert code_of(lambda: room.stage.invite(teacher, "s0")) == "already_on_stage"
    assert snapshot(room) == after


async def test_caps_are_checked_at_accept_counting_granted_seats() -> None:
    manager, _, (teacher, _), students = klass(5)
    room = room_of(teacher)
    room.publish(teacher, "screen")  # video sender 1
    invites = [room.stage.invite(teacher, f"s{i}") for i in range(5)]
    for i in range(3):
        room.stage.accept(students[i][0], invites[i].invite_id)  # seats 2-4
    before = snapshot(room)
    s4 = students[4][0]
    assert code_of(lambda: room.stage.accept(s4, invites[4].invite_id)) == "video_sender_limit"
    assert snapshot(room) == before  # still pending: it may accept once a seat frees
    # A speaker cannot take a granted seat by publishing either.
    speaker, _ = enter(manager, "spk")
    assert code_of(lambda: room.publish(speaker, "camera")) == "video_sender_limit"
    room.stage.remove(teacher, "s0")
    room.stage.accept(s4, invites[4].invite_id)
    assert s4.on_stage


async def test_audio_cap_at_accept() -> None:
    manager, _, (teacher, _), students = klass(6)
    room = room_of(teacher)
    room.publish(teacher, "microphone")
    audio_only = Permissions(True, False, False)
    invites = [room.stage.invite(teacher, f"s{i}", audio_only) for i in range(6)]
    for i in range(5):
        room.stage.accept(students[i][0], invites[i].invite_id)
    s5 = students[5][0]
    assert code_of(lambda: room.stage.accept(s5, invites[5].invite_id)) == "audio_sender_limit"


async def test_the_apps_server_may_grant_beyond_the_ticket() -> None:
    manager, _, (teacher, _), [(s0, _), _, _] = klass()
    room = room_of(teacher)
    inv = room.stage.invite(None, "s0", Permissions(True, False, True))
    assert inv.inviter is None
    room.stage.accept(s0, inv.invite_id)
    room.publish(s0, "screen")
    room.stage.remove(None, "s0")
    assert s0.sending == set() and s0.ceiling == Permissions(False, False, False)


async def test_leaving_cancels_invites_hands_and_seats() -> None:
    manager, clock, (teacher, _), [(s0, _), (s1, box1), _] = klass()
    room = room_of(teacher)
    room.stage.raise_hand(s0)
    inv = room.stage.invite(teacher, "s1")
    manager.exit(s0)
    assert room.stage.hands() == []
    manager.exit(teacher)
    assert inv.status == "cancelled" and box1.events("stage.cancelled")
    assert clock.pending() == 0


async def test_a_member_may_step_off_stage_itself() -> None:
    manager, _, (teacher, tbox), [(s0, _), _, _] = klass()
    room = room_of(teacher)
    room.stage.accept(s0, room.stage.invite(teacher, "s0").invite_id)
    room.stage.remove(s0, "s0")
    assert not s0.on_stage and tbox.events("stage.removed")[0]["by"] == "s0"


async def test_a_renewed_ticket_keeps_the_stage_seat_and_the_audience_rule() -> None:
    manager, _, (teacher, _), [(s0, _), (s1, _), _] = klass()
    room = room_of(teacher)
    room.stage.accept(s0, room.stage.invite(teacher, "s0").invite_id)
    manager.apply_ticket(s0, claims("s0", role="audience", screen=False))
    manager.apply_ticket(s1, claims("s1", role="audience", screen=False))
    assert s0.permissions == Permissions(True, True, False)
    assert s1.ceiling == Permissions(False, False, False)
    assert code_of(lambda: room.set_permissions(s1, {"audio": True}, "self")) == (
        "permission_denied"
    )
    room.stage.remove(teacher, "s0")
    assert s0.ceiling == Permissions(False, False, False)
