"""Signaling handlers of the stage and the host controls (docs/protocol.md, "Stage and room
controls"); the rules live in :mod:`ilvb.rooms.stage` and :mod:`ilvb.rooms.controls`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ilvb.rooms import controls
from ilvb.rooms.stage import grants_from
from ilvb.server import protocol_stage as ps
from ilvb.server.protocol import Empty

if TYPE_CHECKING:
    from ilvb.server.signaling import SignalingSession


async def stage_invite(session: SignalingSession, data: ps.StageInvite) -> dict[str, Any]:
    member, room = session._in_room()
    flags = None if data.permissions is None else data.permissions.model_dump()
    return {"invite": room.stage.invite(member, data.user_id, grants_from(flags)).to_dict()}


async def stage_accept(session: SignalingSession, data: ps.InviteAnswer) -> dict[str, Any]:
    member, room = session._in_room()
    invite = room.stage.accept(member, data.invite_id)
    return {"invite": invite.to_dict(), "me": member.state()}


async def stage_decline(session: SignalingSession, data: ps.InviteAnswer) -> dict[str, Any]:
    member, room = session._in_room()
    return {"invite": room.stage.decline(member, data.invite_id).to_dict()}


async def stage_remove(session: SignalingSession, data: ps.TargetMember) -> dict[str, Any]:
    member, room = session._in_room()
    return room.stage.remove(member, data.user_id).state()


async def hand_raise(session: SignalingSession, _data: Empty) -> dict[str, Any]:
    member, room = session._in_room()
    room.stage.raise_hand(member)
    return {}


async def hand_lower(session: SignalingSession, data: ps.HandLower) -> dict[str, Any]:
    member, room = session._in_room()
    target = member if data.user_id is None else room.member(data.user_id)
    room.stage.lower_hand(target, member)
    return {}


async def hand_list(session: SignalingSession, _data: Empty) -> dict[str, Any]:
    member, room = session._in_room()
    room.stage.require_right(member)
    return {"hands": room.stage.hands()}


async def member_mute(session: SignalingSession, data: ps.TargetMember) -> dict[str, Any]:
    member, room = session._in_room()
    return controls.mute_member(room, member, data.user_id).state()


async def member_stop_screen(session: SignalingSession, data: ps.TargetMember) -> dict[str, Any]:
    member, room = session._in_room()
    return controls.stop_screen(room, member, data.user_id).state()


async def room_mute_all(session: SignalingSession, _data: Empty) -> dict[str, Any]:
    member, room = session._in_room()
    return {"muted": controls.mute_all(room, member)}


async def room_lock(session: SignalingSession, data: ps.RoomLock) -> dict[str, Any]:
    member, room = session._in_room()
    controls.lock(room, member, data.locked)
    return {"locked": room.locked}


HANDLERS: dict[str, Any] = {
    "stage.invite": stage_invite,
    "stage.accept": stage_accept,
    "stage.decline": stage_decline,
    "stage.remove": stage_remove,
    "hand.raise": hand_raise,
    "hand.lower": hand_lower,
    "hand.list": hand_list,
    "member.mute": member_mute,
    "member.stop_screen": member_stop_screen,
    "room.mute_all": room_mute_all,
    "room.lock": room_lock,
}
