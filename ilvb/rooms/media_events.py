"""The control plane's reactions to media-plane events (docs/internals/media-plane.md).

The media plane reports through each room's router event handler and, for a dead worker
process, through the plane's worker-died observers. The reactions:

1. ``slot``: a receive slot now carries another member's source; the listener is told (``slot``).
2. ``producer_closed``: the SFU closed a member's producer; its source stops, as after an
   unpublish.
3. ``transport_closed``: a member's transport died (consent expired, DTLS closed, unanswered);
   the member is told (``transport.closed``), and a closed send transport also stops its sources.
   A member inside its disconnect window gets the notice after its resume
   (:func:`flush_media_notice`).
4. A dead worker: each room it held is re-opened on a live worker, its media state re-applied,
   then every member is told (``transport.closed`` ``both`` / ``media_restarted``) so it
   negotiates both transports again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ilvb.rooms.media_link import Command
from ilvb.rooms.member import Member
from ilvb.rooms.room import Room, source_command, subscription_command
from ilvb.rooms.wire import event_frame
from ilvb.sfu.api import MediaPlane, RouterEventHandler, SlotEvent

log = logging.getLogger(__name__)


class MediaEvents:
    """Routes media-plane events to the rooms of one :class:`~ilvb.rooms.manager.RoomManager`.

    ``room_by_internal_id`` finds a live room by the id the media plane knows it by.
    """

    def __init__(
        self, media: MediaPlane, room_by_internal_id: Callable[[str], Room | None]
    ) -> None:
        self._find = room_by_internal_id
        # WorkerMediaPlane reports a dead worker process (with the routers it held) here.
        observers = getattr(media, "on_worker_died", None)
        if isinstance(observers, list):
            observers.append(self.worker_died)

    def handler(self, room: Room) -> RouterEventHandler:
        """The event handler for ``room``'s router."""

        def on_event(name: str, payload: Any) -> None:
            if name == "slot" and isinstance(payload, SlotEvent):
                member = room.members.get(payload.member_id)
                if member is not None:
                    member.send(
                        event_frame(
                            "slot",
                            {
                                "mid": payload.mid,
                                "kind": payload.kind,
                                "user_id": payload.source_member,
                                "source": payload.source,
                            },
                        )
                    )
            elif name == "producer_closed" and isinstance(payload, dict):
                producer_closed(room, payload)
            elif name == "transport_closed" and isinstance(payload, dict):
                transport_closed(room, payload)
            else:
                log.debug("room %r: media event %s %r", room.display, name, payload)

        return on_event

    def worker_died(self, worker: Any, reason: str) -> None:
        """A media worker process died: re-open every room it held."""
        for room_id in list(getattr(worker, "routers", {})):
            room = self._find(room_id)
            if room is not None:
                restart_media(room)


def producer_closed(room: Room, payload: dict[str, Any]) -> None:
    """The SFU closed a member's producer: its source stops, as after an unpublish."""
    member = room.members.get(str(payload.get("member_id")))
    source = payload.get("source")
    if member is None or room.closed or source not in member.sending:
        return
    room.unpublish(member, source)


def transport_closed(room: Room, payload: dict[str, Any]) -> None:
    """A member's transport died (consent expired, DTLS closed, unanswered, worker died)."""
    reason = str(payload.get("reason") or "closed")
    if reason == "worker_died":
        restart_media(room)  # re-opens and tells every member (media_restarted)
        return
    member = room.members.get(str(payload.get("member_id")))
    if member is None or room.closed:
        return
    transport = payload.get("transport")
    if transport not in ("send", "recv"):
        transport = "both"
    if transport != "recv":
        room.stop_sending(member)
    tell_transport_closed(member, transport, reason)


def tell_transport_closed(member: Member, transport: str, reason: str) -> None:
    """Send ``transport.closed``, or keep it for :func:`flush_media_notice` while away."""
    if member.outbox is not None:
        member.send(event_frame("transport.closed", {"transport": transport, "reason": reason}))
        return
    if member.lost_transport is not None and member.lost_transport[0] != transport:
        transport = "both"
    member.lost_transport = (transport, reason)


def flush_media_notice(member: Member) -> None:
    """After a resume: the ``transport.closed`` the member missed while away, if any."""
    lost, member.lost_transport = member.lost_transport, None
    if lost is not None and member.room is not None:
        tell_transport_closed(member, *lost)


def restart_media(room: Room) -> None:
    """Place the room's router again, re-apply its media state, then tell every member."""
    if room.closed or room.link is None:
        return

    def reapply() -> list[Command]:
        commands: list[Command] = []
        for member in room.members.values():
            commands.append(subscription_command(member.user_id, room.subscription(member)))
            for source in sorted(member.sending - member.muted):
                commands.append(source_command(member.user_id, source, True))
        return commands

    def reopened() -> None:
        log.warning("room %r: media restarted, %d members renegotiate", room.display, len(room))
        frame = event_frame("transport.closed", {"transport": "both", "reason": "media_restarted"})
        for member in room.members.values():
            if member.outbox is not None:
                member.send(frame)
            else:
                member.lost_transport = ("both", "media_restarted")

    room.link.reopen(reapply, reopened)
