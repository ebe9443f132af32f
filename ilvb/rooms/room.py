"""One incarnation of a business room: its members, senders, views and event fan-out.

A Room is created by the first entry and destroyed when the last member leaves; the next entry
with the same business id creates a new Room with a new ``internal_id``. ``internal_id`` names the
room to the media plane only and never appears in a client message.
"""

from __future__ import annotations

import secrets
from bisect import bisect_right
from collections.abc import Iterator
from typing import Any

from ilvb.errors import InvalidArgument, NotFound
from ilvb.rooms import wire
from ilvb.rooms.calls import CallInvite
from ilvb.rooms.fanout import MembershipBatcher, MembershipOp
from ilvb.rooms.limits import RoomLimits
from ilvb.rooms.media_link import Command, RouterLink
from ilvb.rooms.member import Member
from ilvb.rooms.wire import dumps, event_frame
from ilvb.sfu.api import Source, Subscription, source_kind


def new_internal_id() -> str:
    """A fresh internal room id (media plane only)."""
    return "rm_" + secrets.token_hex(8)


def source_command(member_id: str, source: Source, enabled: bool) -> Command:
    """The router command that enables or disables one member's source."""
    return lambda r: r.set_source_enabled(member_id, source, enabled)


def subscription_command(member_id: str, subscription: Subscription) -> Command:
    """The router command that sets what one member receives."""
    return lambda r: r.set_subscription(member_id, subscription)


class Room:
    """Members of one room incarnation, in entry order, with sender and view indexes."""

    def __init__(
        self,
        app_id: str,
        kind: str,
        key: str,
        display: str | int,
        limits: RoomLimits,
        *,
        batch_window_s: float,
        batch_min_members: int,
        created_at: float,
    ) -> None:
        self.app_id = app_id
        self.kind = kind  # "room" | "call"
        self.key = key  # str(display): the registry key
        self.display = display  # the business id as the app gave it
        self.internal_id = new_internal_id()
        self.limits = limits
        self.created_at = created_at
        self.members: dict[str, Member] = {}
        self.audio_senders: set[str] = set()
        self.video_senders: set[str] = set()
        # viewer user ids per viewed member, and members with a non-default listen set.
        self.viewers_of: dict[str, set[str]] = {}
        self.restricted_listeners: set[str] = set()
        self.link: RouterLink | None = None
        # A call's parties (None for a multi-person room).
        self.invite: CallInvite | None = None
        self.closed = False
        self._seq = 0
        self._order: list[int] = []  # entry seqs, ascending; lazily pruned
        self._by_seq: dict[int, Member] = {}
        self.batcher = MembershipBatcher(
            lambda: self.members.values(),
            lambda: len(self.members),
            batch_window_s,
            batch_min_members,
        )

    def __len__(self) -> int:
        return len(self.members)

    def next_seq(self) -> int:
        """The next room-wide sequence number (entries and exits share it)."""
        self._seq += 1
        return self._seq

    # membership ----------------------------------------------------------------------------

    def add(self, member: Member) -> None:
        """Insert a member (its ``seq`` from :meth:`next_seq`) and queue ``members.entered``."""
        self.members[member.user_id] = member
        self._order.append(member.seq)
        self._by_seq[member.seq] = member
        member.room = self
        self.batcher.add(MembershipOp(member.seq, "entered", None, dumps(member.state())))

    def remove(self, member: Member, reason: str, *, announce: bool = True) -> None:
        """Take a member out, update indexes, and queue ``members.exited`` to the others."""
        if self.members.get(member.user_id) is not member:
            return
        # Events that happened while it was here still reach it, before its room.exited.
        self.batcher.flush_to(member)
        del self.members[member.user_id]
        del self._by_seq[member.seq]
        if len(self._order) > 64 and len(self._order) > 2 * len(self._by_seq):
            self._order = [s for s in self._order if s in self._by_seq]
        self.video_senders.discard(member.user_id)
        self.audio_senders.discard(member.user_id)
        self.restricted_listeners.discard(member.user_id)
        for target, _source in member.views:
            viewers = self.viewers_of.get(target)
            if viewers is not None:
                viewers.discard(member.user_id)
                if not viewers:
                    del self.viewers_of[target]
        member.room = None
        if announce:
            self.batcher.add(MembershipOp(self.next_seq(), "exited", reason, dumps(member.user_id)))

    # media rules -----------------------------------------------------------------------------

    def unpublish(self, member: Member, source: Source) -> None:
        """Stop sending ``source`` (no-op when not sent) and tell the room."""
        if source not in member.sending:
            return
        self.stop_source(member, source)
        self.broadcast_state(member)

    def stop_sending(self, member: Member) -> None:
        """Stop every source the member sends (its send transport is gone) and tell the room."""
        if not member.sending:
            return
        for source in sorted(member.sending):
            self.stop_source(member, source)
        self.broadcast_state(member)

    def stop_source(self, member: Member, source: Source) -> None:
        """Take ``source`` out of the sender indexes and disable it in the router (no event)."""
        member.sending.discard(source)
        if source_kind(source) == "audio":
            self.audio_senders.discard(member.user_id)
            self.audio_senders_changed()
        elif not member.sends_video:
            self.video_senders.discard(member.user_id)
        self.post(source_command(member.user_id, source, False))

    def audio_senders_changed(self) -> None:
        """Re-send the subscriptions that name audio senders explicitly."""
        for uid in self.restricted_listeners:
            listener = self.members.get(uid)
            if listener is not None:
                self.push_subscription(listener)

    def push_subscription(self, member: Member) -> None:
        """Tell the router what ``member`` receives now."""
        self.post(subscription_command(member.user_id, self.subscription(member)))

    def post(self, command: Command) -> None:
        """Queue a command for this room's router (in order; dropped when there is none)."""
        if self.link is not None:
            self.link.post(command)

    # events ----------------------------------------------------------------------------------

    def broadcast(self, name: str, data: dict[str, Any]) -> None:
        """Send one event to every connected member, after any pending enter/exit batch."""
        self.batcher.flush(complete=True)
        frame = event_frame(name, data)
        for member in self.members.values():
            member.send(frame)

    def broadcast_state(self, member: Member) -> None:
        """``member.state`` for ``member`` to the whole room."""
        self.broadcast("member.state", member.state())

    # queries (the one implementation REST and signaling both call) --------------------------

    def member(self, user_id: str) -> Member:
        """The member with this user id, or ``member_not_found``."""
        member = self.members.get(user_id)
        if member is None:
            raise NotFound("member_not_found", f"no member {user_id!r} in this room")
        return member

    def member_page(self, cursor: str | None, limit: int) -> dict[str, Any]:
        """The MemberPage wire object: members after ``cursor`` (a ``next_cursor`` this room
        gave out, or None for the first page), at most ``limit``; ``invalid_argument`` for a
        cursor this server did not issue."""
        after: int | None = None
        if cursor is not None:
            if not (cursor.isascii() and cursor.isdigit() and len(cursor) <= 32):
                raise InvalidArgument("invalid_argument", "cursor: not a cursor from this server")
            after = int(cursor)
        members, next_seq = self.page(after, limit)
        return wire.member_page(members, next_seq, len(self.members))

    def sender_list(self) -> dict[str, Any]:
        """The SenderList wire object: members sending any source, in entry order."""
        return wire.member_list(self.senders())


    def page(self, cursor: int | None, limit: int) -> tuple[list[Member], int | None]:
        """Members after ``cursor`` in entry order, at most ``limit``, and the next cursor."""
        start = 0 if cursor is None else bisect_right(self._order, cursor)
        out: list[Member] = []
        more = False
        order = self._order
        for index in range(start, len(order)):
            member = self._by_seq.get(order[index])
            if member is None:
                continue
            if len(out) == limit:
                more = True
                break
            out.append(member)
        return out, (out[-1].seq if more and out else None)

    def senders(self) -> list[Member]:
        """Members sending any source, in entry order."""
        ids = self.audio_senders | self.video_senders  # O(senders), not O(members)
        return sorted((self.members[u] for u in ids), key=lambda m: m.seq)

    def iter_members(self) -> Iterator[Member]:
        """Members in entry order."""
        return iter(self.members.values())

    def subscription(self, member: Member) -> Subscription:
        """What ``member`` should receive: its listen set and its views."""
        audio_from: frozenset[str] | None = None
        if member.not_listening:
            audio_from = frozenset(
                s
                for s in self.audio_senders
                if s not in member.not_listening and s != member.user_id
            )
        return Subscription(audio_from=audio_from, views=tuple(member.views))

    def info(self) -> dict[str, Any]:
        """Room summary for REST (no internal id)."""
        return {
            "room": self.display,
            "kind": self.kind,
            "member_count": len(self.members),
            "created_at": self.created_at,
            "audio_senders": len(self.audio_senders),
            "video_senders": len(self.video_senders),
            "limits": {
                "audio_senders": self.limits.audio_senders,
                "video_senders": self.limits.video_senders,
                "max_views": self.limits.max_views,
                "max_members": self.limits.max_members,
            },
        }
