"""The control plane's wire frames: server events and the objects they carry (docs/protocol.md).

Every frame a room sends its members, and every object REST and signaling return about rooms
and members, is encoded here, compactly, so each JSON shape is written once. (The batched
``members.entered``/``members.exited`` frames are assembled from pre-encoded items by
:mod:`ilvb.rooms.fanout`.)
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ilvb.rooms.permissions import SOURCE_FLAG

if TYPE_CHECKING:
    from ilvb.rooms.member import Member
    from ilvb.rooms.room import Room


def dumps(value: Any) -> str:
    """Compact JSON."""
    return json.dumps(value, separators=(",", ":"))


def event_frame(name: str, data: dict[str, Any]) -> str:
    """One server event as a compact JSON text frame."""
    return dumps({"type": "event", "event": name, "data": data})


def batch_frame_parts(kind: str, reason: str | None) -> tuple[str, str]:
    """Head and tail of a batched ``members.entered`` / ``members.exited`` / ``members.state``
    frame, around its comma-joined pre-encoded items (MemberStates, or user ids for exits)."""
    if kind == "entered":
        return '{"type":"event","event":"members.entered","data":{"members":[', "]}}"
    if kind == "exited":
        return '{"type":"event","event":"members.exited","data":{"user_ids":[', (
            '],"reason":' + dumps(reason) + "}}"
        )
    if kind == "state":
        return '{"type":"event","event":"members.state","data":{"members":[', "]}}"
    raise ValueError(f"no batched event for {kind!r}")


def state_frame(state_json: str) -> str:
    """The ``member.state`` frame around one pre-encoded MemberState."""
    return '{"type":"event","event":"member.state","data":' + state_json + "}"


def member_state(member: Member) -> dict[str, Any]:
    """The MemberState wire object; ``sending``/``muted`` use the permission flag names."""
    sending, muted = member.sending, member.muted
    return {
        "user_id": member.user_id,
        "role": member.role,
        "entered_at": member.entered_at,
        "permissions": member.permissions.to_dict(),
        "sending": {flag: source in sending for source, flag in SOURCE_FLAG.items()},
        "muted": {flag: source in muted for source, flag in SOURCE_FLAG.items()},
        "connected": member.connected,
        "reconnecting": member.reconnecting,
        "on_stage": member.on_stage,
        "hand_raised": member.hand_raised,
    }


def member_list(members: Iterable[Member]) -> dict[str, Any]:
    """``{"members": [MemberState…]}`` (the SenderList wire object)."""
    return {"members": [member_state(m) for m in members]}


def member_page(members: Iterable[Member], next_seq: int | None, total: int) -> dict[str, Any]:
    """The MemberPage wire object; ``next_cursor`` is the last member's entry seq as a string."""
    return {
        "members": [member_state(m) for m in members],
        "next_cursor": None if next_seq is None else str(next_seq),
        "total": total,
    }


def member_views(member: Member) -> list[dict[str, Any]]:
    """The member's views in slot order, as sent in ``view.*`` responses."""
    return [
        {"user_id": uid, "source": source, "mid": f"v{i}"}
        for i, (uid, source) in enumerate(member.views)
    ]


def room_info(room: Room) -> dict[str, Any]:
    """The RoomInfo wire object (REST; never the internal id)."""
    limits = room.limits
    return {
        "room": room.display,
        "kind": room.kind,
        "member_count": len(room.members),
        "created_at": room.created_at,
        "audio_senders": len(room.audio_senders),
        "video_senders": len(room.video_senders),
        "locked": room.locked,
        "limits": {
            "audio_senders": limits.audio_senders,
            "video_senders": limits.video_senders,
            "max_views": limits.max_views,
            "max_members": limits.max_members,
        },
    }
