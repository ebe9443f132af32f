"""The rooms of every app on this node: the registry, entering and leaving, the disconnect
window, and the negotiation calls that await the media plane.

All state changes happen synchronously on the event loop (no awaits in between), so concurrent
requests never see a half-applied change; the media plane is told afterwards through each room's
ordered :class:`~ilvb.rooms.media_link.RouterLink`. The media rules (senders, views, listening,
permissions) belong to :class:`~ilvb.rooms.room.Room`; reactions to media-plane events to
:mod:`ilvb.rooms.media_events`. Rules kept here:

1. The first entry creates the room (fresh internal id), the last exit destroys it.
2. A member whose connection is gone for ``disconnect_timeout_s`` (30 s) is removed; it can
   :meth:`RoomManager.reconnect` before that without the others seeing an exit.
3. A user entering a room it is already in replaces its old member (``replaced``).
4. Call rooms: number 0 allocates a fresh number; two members at most; one leaving ends the call
   for both (``call.ended`` then ``room.exited``). Only the parties of its
   :class:`~ilvb.rooms.calls.CallInvite` may join (the named callee, or the call token).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Literal, TypeVar

from ilvb.auth.tickets import TicketClaims, check_room
from ilvb.config import RoomSettings
from ilvb.errors import NotFound, PermissionDenied
from ilvb.rooms.bans import MAX_BAN_S, BanList
from ilvb.rooms.calls import CallInvite
from ilvb.rooms.clock import Clock, LoopClock
from ilvb.rooms.entry import (
    allocate_call_number,
    check_business_id,
    check_entry,
    ticket_ceiling,
)
from ilvb.rooms.events import Observer, RoomCreated
from ilvb.rooms.limits import RoomLimits
from ilvb.rooms.media_events import flush_media_notice, router_event_handler
from ilvb.rooms.media_link import RouterLink
from ilvb.rooms.member import Member, Outbox
from ilvb.rooms.room import Room
from ilvb.rooms.wire import event_frame
from ilvb.sfu.api import MediaPlane, RouterOptions, Source
from ilvb.store.interfaces import AppRecord

log = logging.getLogger(__name__)

RoomKind = Literal["room", "call"]
# Longest wait for the media plane in a negotiation request before media_unavailable.
MEDIA_TIMEOUT_S = 15.0
T = TypeVar("T")


class RoomManager:
    """Registry of live rooms per app; creates and destroys rooms, moves members in and out.

    ``observer`` emits :class:`~ilvb.rooms.events.RoomCreated`; from there a watcher subscribes
    to that room's own ``observer``.
    """

    def __init__(
        self, settings: RoomSettings, media: MediaPlane, *, clock: Clock | None = None
    ) -> None:
        self.settings = settings
        self.media = media
        self.clock: Clock = clock or LoopClock()
        # Kick-with-ban: users kept out of a business room for a while.
        self.bans = BanList()
        self._rooms: dict[str, dict[tuple[str, str], Room]] = {}
        self._links: set[RouterLink] = set()
        self._by_internal: dict[str, Room] = {}
        # RoomCreated for every new room: watchers subscribe to its room.observer from there.
        self.observer = Observer()
        # Called with (member, reason) after a member left its room, for the signaling layer.
        self.on_member_removed: Callable[[Member, str], None] | None = None
        # Checks run before a member of an app is admitted (hello, room.enter); each raises an
        # IlvbError to refuse (billing: ``account_suspended``).
        self.admission: list[Callable[[str], None]] = []

    # registry ------------------------------------------------------------------------------

    def rooms(self, app_id: str) -> list[Room]:
        """Live rooms of an app, oldest first."""
        return sorted(self._rooms.get(app_id, {}).values(), key=lambda r: r.created_at)

    def find(self, app_id: str, room: str | int, kind: RoomKind = "room") -> Room | None:
        """The live room with this business id, or None."""
        return self._rooms.get(app_id, {}).get((kind, str(room)))

    def get(self, app_id: str, room: str | int, kind: RoomKind = "room") -> Room:
        """The live room, or ``room_not_found``."""
        found = self.find(app_id, room, kind)
        if found is None:
            raise NotFound("room_not_found", f"no live {kind} {room!r}")
        return found

    def room_count(self) -> int:
        """Live rooms on this node."""
        return sum(len(r) for r in self._rooms.values())

    async def close(self) -> None:
        """Close every room's router (server shutdown)."""
        for app_rooms in list(self._rooms.values()):
            for room in list(app_rooms.values()):
                self._destroy(room)
        for link in list(self._links):
            try:
                await link.wait_closed()
            except Exception:
                log.exception("closing a router failed")
        self._links.clear()

    async def idle(self) -> None:
        """Wait until every room's queued media commands ran (tests)."""
        for link in list(self._links):
            await link.idle()

    # enter / exit --------------------------------------------------------------------------

    def enter(
        self,
        app: AppRecord,
        claims: TicketClaims,
        room: str | int,
        kind: RoomKind = "room",
        outbox: Outbox | None = None,
        *,
        callee: str | None = None,
        call_token: str | None = None,
    ) -> Member:
        """Enter (creating the room if needed); returns the new member.

        For a call, ``callee`` (with number 0) names the user the new call is for; joining an
        existing call needs to be that user or to present ``call_token``.
        """
        self.admit(app.app_id)
        check_business_id(room, kind)
        allocated = False
        if kind == "call":
            number = int(room)
            if number == 0:
                check_room(claims, 0)
                room = allocate_call_number(self._rooms.get(app.app_id, {}))
                allocated = True
            else:
                room = number
        check_room(claims, room)
        self.bans.check((app.app_id, kind, str(room)), claims.user_id, self.clock.time())
        app_rooms = self._rooms.setdefault(app.app_id, {})
        target = app_rooms.get((kind, str(room)))
        if target is not None:
            existing = check_entry(target, claims.user_id, call_token)
            if existing is not None:
                self._remove(existing, "replaced")
        elif kind == "call" and not allocated:
            raise NotFound("room_not_found", f"no call {room}")
        if target is None:
            target = self._create(app, kind, room)
            if kind == "call":
                target.invite = CallInvite(claims.user_id, callee)
        ceiling, invitable = ticket_ceiling(claims)
        member = Member(
            user_id=claims.user_id,
            role=claims.role,
            ceiling=ceiling,
            permissions=ceiling,
            seq=target.next_seq(),
            entered_at=self.clock.time(),
            invitable_ceiling=invitable,
            outbox=outbox,
        )
        target.add(member)
        return member

    def exit(self, member: Member, reason: str = "left") -> None:
        """Leave the room (``left``, ``kicked``, ``timeout``); ends a call for the other side."""
        room = member.room
        if room is None:
            return
        self._remove(member, reason)
        if room.kind == "call" and reason != "replaced":
            for other in list(room.members.values()):
                other.send(event_frame("call.ended", {"reason": reason}))
                self._remove(other, "call_ended", announce=False)
        if not room.members:
            self._destroy(room)

    def apply_ticket(self, member: Member, claims: TicketClaims) -> None:
        """A renewed ticket (resume, ``session.refresh``) for a member: when it is restricted
        to another room the member leaves (``ticket_wrong_room``); else it sets the member's
        role and ceiling, revoking permissions above the new ceiling (their sources stop)."""
        room = member.room
        if room is None:
            return
        # A ticket for room 0 creates calls: it keeps the call it made.
        if not (room.kind == "call" and claims.room == "0"):
            try:
                check_room(claims, room.display)
            except PermissionDenied:
                self.exit(member, "ticket_wrong_room")
                return
        ceiling, member.invitable_ceiling = ticket_ceiling(claims)
        seat = room.stage.seats.get(member.user_id)
        if seat is not None:
            # On stage: the seat's grants stay; leaving the stage returns to the new ticket's.
            room.stage.seats[member.user_id] = replace(seat, ceiling_before=ceiling)
            kept = {flag: True for flag, on in seat.grants.to_dict().items() if on}
            ceiling = ceiling.with_changes(kept)
        granted = member.permissions.to_dict()
        revoked = {
            k: False for k, allowed in ceiling.to_dict().items() if granted[k] and not allowed
        }
        if revoked:
            room.set_permissions(member, revoked, "server")
        member.ceiling = ceiling
        if member.role != claims.role:
            member.role = claims.role
            room.broadcast_state(member)

    def kick(self, member: Member, ban_s: float | None = None) -> None:
        """Remove a member on the app server's request (``kicked``); with ``ban_s`` it may not
        enter that room again for so long (``banned``)."""
        room = member.room
        if room is not None and ban_s is not None and ban_s > 0:
            now = self.clock.time()
            key = (room.app_id, room.kind, room.key)
            self.bans.ban(key, member.user_id, now + min(ban_s, MAX_BAN_S), now)
        self.exit(member, "kicked")

    def admit(self, app_id: str) -> None:
        """Raise the first refusal of :attr:`admission` for a member of ``app_id``."""
        for check in self.admission:
            check(app_id)

    def close_room(self, room: Room, reason: str = "room_closed") -> None:
        """Remove everyone (``room.exited`` with ``reason``) and destroy the room."""
        for member in list(room.members.values()):
            self._remove(member, reason, announce=False)
        self._destroy(room)

    def disconnect(self, member: Member) -> None:
        """The member's connection is gone: start its disconnect window."""
        room = member.room
        if room is None or not member.connected:
            return
        member.outbox = None
        room.set_connected(member, False)
        member.timer = self.clock.call_later(
            self.settings.disconnect_timeout_s, lambda: self._expire(member)
        )

    def reconnect(self, member: Member, outbox: Outbox) -> None:
        """The member came back on a new connection inside the window (seamless)."""
        member.outbox = outbox
        if member.timer is not None:
            member.timer.cancel()
            member.timer = None
        if member.room is not None:
            member.room.set_connected(member, True)

    # negotiation (awaits the media plane) ---------------------------------------------------

    async def negotiate_send(self, member: Member, sdp: str, sources: dict[str, Source]) -> str:
        """Answer the member's send-transport offer; every source must have been published."""
        room = _room_of(member)
        for mid, source in sources.items():
            if source not in member.sending:
                raise PermissionDenied(
                    "permission_denied",
                    f"m-line {mid!r}: publish {source!r} with media.publish first",
                )
        router = await _media_call(_link(room).router())
        answer = await _media_call(router.negotiate_send(member.user_id, sdp, dict(sources)))
        room.sources_negotiated(member, set(sources.values()))
        return answer.sdp

    async def offer_receive(self, member: Member) -> str:
        """The server's offer for the member's receive transport (fixed slots)."""
        room = _room_of(member)
        router = await _media_call(_link(room).router())
        sdp = await _media_call(
            router.offer_receive(
                member.user_id,
                audio_slots=room.limits.audio_slots,
                video_slots=room.limits.max_views,
            )
        )
        room.push_subscription(member)
        return sdp

    async def restart_receive(self, member: Member) -> str:
        """ICE restart of the member's receive transport: the server's new offer."""
        room = _room_of(member)
        router = await _media_call(_link(room).router())
        return await _media_call(router.restart_receive(member.user_id))

    async def accept_receive_answer(self, member: Member, sdp: str) -> None:
        """Complete the receive transport with the member's answer."""
        room = _room_of(member)
        router = await _media_call(_link(room).router())
        await _media_call(router.accept_receive_answer(member.user_id, sdp))

    # internals -----------------------------------------------------------------------------

    def _create(self, app: AppRecord, kind: RoomKind, room: str | int) -> Room:
        new = Room(
            app.app_id,
            kind,
            str(room),
            room,
            RoomLimits.for_app(self.settings, app),
            batch_window_s=self.settings.event_batch_ms / 1000.0,
            batch_min_members=self.settings.event_batch_min_members,
            created_at=self.clock.time(),
            clock=self.clock,
            stage_roles=frozenset(self.settings.stage_roles),
            stage_invite_ttl_s=self.settings.stage_invite_ttl_s,
        )
        new.link = RouterLink(
            self.media,
            new.internal_id,
            router_event_handler(new),
            RouterOptions(audio_slots=new.limits.audio_slots),
        )
        self._links.add(new.link)
        self._by_internal[new.internal_id] = new
        self._rooms.setdefault(app.app_id, {})[(kind, str(room))] = new
        log.debug("room created: app=%s %s=%r", app.app_id, kind, room)
        if self.observer:
            self.observer.emit(RoomCreated(new))
        return new

    def _destroy(self, room: Room) -> None:
        if room.closed:
            return
        if self._by_internal.get(room.internal_id) is room:
            del self._by_internal[room.internal_id]
        app_rooms = self._rooms.get(room.app_id, {})
        if app_rooms.get((room.kind, room.key)) is room:
            del app_rooms[(room.kind, room.key)]
            if not app_rooms:
                self._rooms.pop(room.app_id, None)
        room.close()
        if room.link is not None:
            link = room.link
            link._task.add_done_callback(lambda _t: self._links.discard(link))
        log.debug("room destroyed: app=%s %s=%r", room.app_id, room.kind, room.display)

    def _remove(self, member: Member, reason: str, *, announce: bool = True) -> None:
        room = member.room
        if room is None:
            return
        if member.timer is not None:
            member.timer.cancel()
            member.timer = None
        room.remove(member, reason, announce=announce)
        if self.on_member_removed is not None:
            try:
                self.on_member_removed(member, reason)
            except Exception:
                log.exception("on_member_removed failed")

    def _expire(self, member: Member) -> None:
        member.timer = None
        if member.room is not None and not member.connected:
            self.exit(member, "timeout")

    def flush_media_notice(self, member: Member) -> None:
        """After a resume: the ``transport.closed`` the member missed while away, if any."""
        flush_media_notice(member)


async def _media_call(awaitable: Awaitable[T]) -> T:
    """Await the media plane, at most ``MEDIA_TIMEOUT_S`` (``media_unavailable`` after that)."""
    try:
        return await asyncio.wait_for(awaitable, MEDIA_TIMEOUT_S)
    except TimeoutError as exc:
        from ilvb.errors import Unavailable

        raise Unavailable(
            "media_unavailable", f"the media plane did not answer within {MEDIA_TIMEOUT_S:g} s"
        ) from exc


def _room_of(member: Member) -> Room:
    if member.room is None:
        from ilvb.errors import InvalidState

        raise InvalidState("not_in_room", "enter a room first")
    return member.room


def _link(room: Room) -> RouterLink:
    if room.link is None:
        from ilvb.errors import Unavailable

        raise Unavailable("media_unavailable", "this room has no media router")
    return room.link
