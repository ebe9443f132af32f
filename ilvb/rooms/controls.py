"""Host controls over a room: mute a member's microphone, stop its screen share, mute all,
lock the room. Each needs the stage right (:meth:`ilvb.rooms.stage.Stage.require_right`);
``actor`` None is the app's server over REST.

A host's mute is the member's own mute switch turned on for it (the member may turn it off
again, as in a class where the teacher silences a noisy microphone); a stopped screen share is
unpublished (the member needs ``media.publish`` to share again).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ilvb.errors import InvalidArgument
from ilvb.rooms.wire import event_frame

if TYPE_CHECKING:
    from ilvb.rooms.member import Member
    from ilvb.rooms.room import Room


def _by(actor: Member | None) -> str | None:
    return None if actor is None else actor.user_id


def mute_member(room: Room, actor: Member | None, user_id: str) -> Member:
    """Mute ``user_id``'s microphone; it gets ``control.muted``, the room ``member.state``."""
    room.stage.require_right(actor)
    target = room.member(user_id)
    if actor is target:
        raise InvalidArgument("invalid_argument", "mute yourself with media.mute")
    if "microphone" not in target.muted:
        target.send(event_frame("control.muted", {"source": "microphone", "by": _by(actor)}))
        room.mute(target, "microphone", True)
    return target


def stop_screen(room: Room, actor: Member | None, user_id: str) -> Member:
    """Stop ``user_id``'s screen share; it gets ``control.screen_stopped``."""
    room.stage.require_right(actor)
    target = room.member(user_id)
    if "screen" in target.sending:
        target.send(event_frame("control.screen_stopped", {"by": _by(actor)}))
        room.unpublish(target, "screen")
    return target


def mute_all(room: Room, actor: Member | None) -> list[str]:
    """Mute every microphone being sent, but the actor's; returns the muted user ids."""
    room.stage.require_right(actor)
    muted: list[str] = []
    for uid in sorted(room.audio_senders):
        target = room.members.get(uid)
        if target is None or target is actor or "microphone" in target.muted:
            continue
        target.send(event_frame("control.muted", {"source": "microphone", "by": _by(actor)}))
        room.mute(target, "microphone", True)
        muted.append(uid)
    return muted


def lock(room: Room, actor: Member | None, locked: bool) -> None:
    """Lock (no new entries: ``room_locked``) or unlock; everyone gets ``room.locked``."""
    room.stage.require_right(actor)
    if room.locked == locked:
        return
    room.locked = locked
    room.broadcast("room.locked", {"locked": locked, "by": _by(actor)})
