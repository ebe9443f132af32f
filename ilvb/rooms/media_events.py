"""The control plane's reactions to media-plane events (docs/internals/media-plane.md).

The media plane reports through each room's router event handler
(:func:`router_event_handler`, typed :data:`~ilvb.sfu.api.RouterEvent` s). The reactions:

1. :class:`~ilvb.sfu.api.SlotChanged`: a receive slot now carries another member's source; the
   listener is told (``slot``).
2. :class:`~ilvb.sfu.api.ProducerClosed`: the SFU closed a member's producer; its source stops,
   as after an unpublish.
3. :class:`~ilvb.sfu.api.TransportClosed`: a member's transport died (consent expired, DTLS
   closed, unanswered); the member is told (``transport.closed``), and a closed send transport
   also stops its sources. A member inside its disconnect window gets the notice after its
   resume (:func:`flush_media_notice`).
4. :class:`~ilvb.sfu.api.MediaPathChanged`: the SFU hears nothing from a member (or hears it
   again); everyone gets its ``member.state`` with ``reconnecting`` true (false).
5. :class:`~ilvb.sfu.api.WorkerDied` (once per room): the room is re-opened on a live worker,
   its media state re-applied, then every member is told (``transport.closed`` ``both`` /
   ``media_restarted``) so it negotiates both transports again.
"""

from __future__ import annotations

import logging

from ilvb.rooms.media_link import Command
from ilvb.rooms.member import Member
from ilvb.rooms.room import Room, send_cap_command, source_command, subscription_command
from ilvb.rooms.wire import event_frame
from ilvb.sfu.api import (
    MediaPathChanged,
    ProducerClosed,
    RouterEvent,
    RouterEventHandler,
    SlotChanged,
    TransportClosed,
    WorkerDied,
)

log = logging.getLogger(__name__)


def router_event_handler(room: Room) -> RouterEventHandler:
    """The handler of ``room``'s router events (given to ``open_router``)."""

    def on_event(event: RouterEvent) -> None:
        if room.closed:
            return
        if isinstance(event, SlotChanged):
            slot_changed(room, event)
        elif isinstance(event, ProducerClosed):
            producer_closed(room, event)
        elif isinstance(event, TransportClosed):
            transport_closed(room, event)
        elif isinstance(event, MediaPathChanged):
            member = room.members.get(event.member_id)
            if member is not None:
                room.set_reconnecting(member, event.lost)
        elif isinstance(event, WorkerDied):
            restart_media(room)  # re-opens and tells every member (media_restarted)
        else:
            log.debug("room %r: media event %r", room.display, event)

    return on_event


def slot_changed(room: Room, event: SlotChanged) -> None:
    """A receive slot of a member now carries another member's source: the listener is told."""
    member = room.members.get(event.member_id)
    if member is not None:
        member.send(
            event_frame(
                "slot",
                {
                    "mid": event.mid,
                    "kind": event.kind,
                    "user_id": event.source_member,
                    "source": event.source,
                },
            )
        )


def producer_closed(room: Room, event: ProducerClosed) -> None:
    """The SFU closed a member's producer: its source stops, as after an unpublish."""
    member = room.members.get(event.member_id)
    if member is None or event.source not in member.sending:
        return
    room.unpublish(member, event.source)


def transport_closed(room: Room, event: TransportClosed) -> None:
    """A member's transport died (consent expired, DTLS closed, unanswered)."""
    member = room.members.get(event.member_id)
    if member is None:
        return
    if event.transport == "send":
        room.stop_sending(member)
    tell_transport_closed(member, event.transport, event.reason)


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
            if member.send_cap_bps is not None:
                commands.append(send_cap_command(member.user_id, member.send_cap_bps))
            for source in sorted(member.sending - member.muted):
                commands.append(source_command(member.user_id, source, True))
        return commands

    def reopened() -> None:
        log.warning("room %r: media restarted, %d members renegotiate", room.display, len(room))
        frame = event_frame("transport.closed", {"transport": "both", "reason": "media_restarted"})
        for member in room.members.values():
            room.set_reconnecting(member, False)  # the new router has no path to lose yet
            if member.outbox is not None:
                member.send(frame)
            else:
                member.lost_transport = ("both", "media_restarted")

    room.link.reopen(reapply, reopened)
