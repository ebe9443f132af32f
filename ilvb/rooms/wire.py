"""The control plane's wire frames: server events and the objects they carry (docs/protocol.md).

Every frame a room sends its members is encoded here, compactly, so the JSON shape of an event
is written once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ilvb.rooms.member import Member


def dumps(value: Any) -> str:
    """Compact JSON."""
    return json.dumps(value, separators=(",", ":"))


def event_frame(name: str, data: dict[str, Any]) -> str:
    """One server event as a compact JSON text frame."""
    return dumps({"type": "event", "event": name, "data": data})


def member_state(member: Member) -> dict[str, Any]:
    """The MemberState wire object."""
    sending, muted = member.sending, member.muted
    return {
        "user_id": member.user_id,
        "role": member.role,
        "entered_at": member.entered_at,
        "permissions": member.permissions.to_dict(),
        "sending": {
            "audio": "microphone" in sending,
            "video": "camera" in sending,
            "screen": "screen" in sending,
        },
        "muted": {
            "audio": "microphone" in muted,
            "video": "camera" in muted,
            "screen": "screen" in muted,
        },
        "connected": member.connected,
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
