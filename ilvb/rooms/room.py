"""One incarnation of a business room: its members, their media rules, and the indexes behind
them.

A Room is created by the first entry and destroyed when the last member leaves; the next entry
with the same business id creates a new Room with a new ``internal_id``. ``internal_id`` names the
room to the media plane only and never appears in a client message.

Rules (checked here, synchronously, so a request never sees a half-applied change; the router is
told afterwards through :attr:`Room.link`, in order):

1. Audio senders ≤ the app's cap (6), video senders (camera or screen) ≤ 4.
2. Views ≤ 4, 3 while the viewer sends video itself; nobody views itself.
3. A source needs its permission; revoking a permission stops that source. A member raises its
   own permissions only within its ticket's ceiling; the app's server moves the ceiling too.
4. A muted source stays published but is not forwarded.
5. Every member hears every audio sender but itself unless it stopped listening to some
   (only those members' subscriptions name senders, so a new audio sender re-sends just theirs).
"""

from __future__ import annotations

import secrets
from bisect import bisect_right
from collections.abc import Set
from typing import Any, Literal

from ilvb.errors import InvalidArgument, InvalidState, LimitExceeded, NotFound, PermissionDenied
from ilvb.rooms import wire
from ilvb.rooms.calls import CallInvite
from ilvb.rooms.clock import Clock, LoopClock
from ilvb.rooms.events import (
    MemberEntered,
    MemberExited,
    MemberStateChanged,
    Observer,
    RoomClosed,
)
from ilvb.rooms.fanout import MembershipBatcher, MembershipOp
from ilvb.rooms.limits import RoomLimits
from ilvb.rooms.media_link import Command, RouterLink
from ilvb.rooms.member import Member
from ilvb.rooms.permissions import FLAG_SOURCE
from ilvb.rooms.stage import Stage
from ilvb.rooms.wire import dumps, event_frame
from ilvb.sfu.api import Source, Subscription, source_kind


def new_internal_id() -> str:
    """A fresh internal room id (media plane only)."""
    return "rm_" + secrets.token_hex(8)


def source_command(member_id: str, source: Source, enabled: bool) -> Command:
    """The router command that enables or disables one member's source."""
    return lambda r: r.set_source_enabled(member_id, source, enabled)


def send_cap_command(member_id: str, max_bps: int | None) -> Command:
    """The router command that caps the bandwidth feedback to one member's publisher."""
    return lambda r: r.set_send_cap(member_id, max_bps)


def subscription_command(member_id: str, subscription: Subscription) -> Command:
    """The router command that sets what one member receives."""
    return lambda r: r.set_subscription(member_id, subscription)


class Room:
    """Members of one room incarnation in entry order, their media rules, and the indexes the
    rules keep: audio and video senders, each member's viewers, the members with a restricted
    listen set. Only this class changes them. Watchers subscribe to :attr:`observer`
    (:mod:`ilvb.rooms.events`)."""

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
        clock: Clock | None = None,
        stage_roles: Set[str] = frozenset({"host", "teacher"}),
        stage_invite_ttl_s: float = 30.0,
    ) -> None:
        self.app_id = app_id
        self.kind = kind  # "room" | "call"
        self.key = key  # str(display): the registry key
        self.display = display  # the business id as the app gave it
        self.internal_id = new_internal_id()
        self.limits = limits
        self.created_at = created_at
        self.members: dict[str, Member] = {}
        self.link: RouterLink | None = None
        # A call's parties (None for a multi-person room).
        self.invite: CallInvite | None = None
        self.closed = False
        # No new entries while locked (``room_locked``); members inside stay.
        self.locked = False
        self.observer = Observer()
        self._audio_senders: set[str] = set()
        self._video_senders: set[str] = set()
        # Viewer user ids per viewed member, and members with a non-default listen set.
        self._viewers_of: dict[str, set[str]] = {}
        self._restricted_listeners: set[str] = set()
        self._seq = 0
        self._order: list[int] = []  # entry seqs, ascending; lazily pruned
        self._by_seq: dict[int, Member] = {}
        self.batcher = MembershipBatcher(
            lambda: self.members.values(),
            lambda: len(self.members),
            batch_window_s,
            batch_min_members,
        )
        self.stage = Stage(
            self, clock or LoopClock(), invite_ttl_s=stage_invite_ttl_s, stage_roles=stage_roles
        )

    def __len__(self) -> int:
        return len(self.members)

    @property
    def audio_senders(self) -> Set[str]:
        """User ids of the members sending audio (read-only)."""
        return self._audio_senders

    @property
    def video_senders(self) -> Set[str]:
        """User ids of the members sending camera or screen video (read-only)."""
        return self._video_senders

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
        if self.observer:
            self.observer.emit(MemberEntered(self, member))

    def remove(self, member: Member, reason: str, *, announce: bool = True) -> None:
        """Take a member out of the room and every index; it gets ``room.exited``, the others
        ``members.exited`` (unless ``announce`` is False), its viewers lose their views of it."""
        if self.members.get(member.user_id) is not member:
            return
        uid = member.user_id
        # Events that happened while it was here still reach it, before its room.exited.
        self.batcher.flush_to(member)
        del self.members[uid]
        del self._by_seq[member.seq]
        if len(self._order) > 64 and len(self._order) > 2 * len(self._by_seq):
            self._order = [s for s in self._order if s in self._by_seq]
        was_audio = uid in self._audio_senders
        self._video_senders.discard(uid)
        self._audio_senders.discard(uid)
        self._restricted_listeners.discard(uid)
        self._drop_viewer(uid, {target for target, _source in member.views})
        viewers = self._viewers_of.pop(uid, set())
        self.stage.member_left(uid)
        member.room = None
        if announce:
            self.batcher.add(MembershipOp(self.next_seq(), "exited", reason, dumps(uid)))
        member.send(event_frame("room.exited", {"reason": reason}))
        self.post(lambda r: r.remove_member(uid))
        if was_audio:
            self._audio_senders_changed()
        for viewer_id in viewers:
            viewer = self.members.get(viewer_id)
            if viewer is not None:
                viewer.views = [v for v in viewer.views if v[0] != uid]
                self.push_subscription(viewer)
        if self.observer:
            self.observer.emit(MemberExited(self, member, reason))

    def set_connected(self, member: Member, connected: bool) -> None:
        """The member's connection went away (disconnect window) or came back.

        Its ``member.state`` goes through the enter/exit batcher: when many members lose their
        connection at once (a network cut), a large room gets a few ``members.state`` frames
        per member instead of one frame per disconnected member per member.
        """
        if member.room is self and member.connected != connected:
            member.connected = connected
            self.batcher.add(MembershipOp(self.next_seq(), "state", None, dumps(member.state())))
            if self.observer:
                self.observer.emit(MemberStateChanged(self, member))

    def set_reconnecting(self, member: Member, reconnecting: bool) -> None:
        """The SFU lost the member's media path (or has it back): its ``member.state``
        (``reconnecting``) goes through the batcher like a connection change."""
        if member.room is self and member.reconnecting != reconnecting:
            member.reconnecting = reconnecting
            self.batcher.add(MembershipOp(self.next_seq(), "state", None, dumps(member.state())))
            if self.observer:
                self.observer.emit(MemberStateChanged(self, member))

    def close(self) -> None:
        """The room is gone: drop pending events, close the router link. Idempotent."""
        if self.closed:
            return
        self.closed = True
        self.batcher.close()
        self.stage.close()
        if self.link is not None:
            self.link.close()
        if self.observer:
            self.observer.emit(RoomClosed(self))

    # media rules -----------------------------------------------------------------------------

    def publish(self, member: Member, source: Source) -> None:
        """Grant sending ``source``: permission, sender caps, view cap."""
        self._check(member)
        if not member.permissions.allows(source):
            raise PermissionDenied(message=f"no permission to send {source}")
        if source in member.sending:
            return
        uid, limits = member.user_id, self.limits
        if source_kind(source) == "audio":
            # Seats granted on stage count as senders (their members were promised them).
            taken = len((self._audio_senders | self.stage.seat_users("audio")) - {uid})
            if taken >= limits.audio_senders:
                raise LimitExceeded(
                    "audio_sender_limit",
                    f"{taken} members already send audio or hold an audio seat "
                    f"(limit {limits.audio_senders})",
                )
            self._audio_senders.add(uid)
            self._audio_senders_changed()
        else:
            if not member.sends_video:
                taken = len((self._video_senders | self.stage.seat_users("video")) - {uid})
                if taken >= limits.video_senders:
                    raise LimitExceeded(
                        "video_sender_limit",
                        f"{taken} members already send video or hold a video seat "
                        f"(limit {limits.video_senders})",
                    )
                if len(member.views) > limits.view_cap(True):
                    raise LimitExceeded(
                        "view_limit",
                        f"at most {limits.view_cap(True)} views while sending video: "
                        "cancel a view first",
                    )
            self._video_senders.add(uid)
        member.sending.add(source)
        if source not in member.muted:
            self.post(source_command(uid, source, True))
        self.broadcast_state(member)

    def unpublish(self, member: Member, source: Source) -> None:
        """Stop sending ``source`` (no-op when not sent) and tell the room."""
        self._check(member)
        if source not in member.sending:
            return
        self._stop_source(member, source)
        self.broadcast_state(member)

    def stop_sending(self, member: Member) -> None:
        """Stop every source the member sends (its send transport is gone) and tell the room."""
        self._check(member)
        if not member.sending:
            return
        for source in sorted(member.sending):
            self._stop_source(member, source)
        self.broadcast_state(member)

    def stop_sources(self, member: Member, sources: Set[Source]) -> None:
        """Stop these of the member's sources without an event (the caller sends one)."""
        self._check(member)
        for source in sorted(sources & member.sending):
            self._stop_source(member, source)

    def mute(self, member: Member, source: Source, muted: bool) -> None:
        """The member's own mute switch for a source (a muted source is not forwarded)."""
        self._check(member)
        if muted == (source in member.muted):
            return
        if muted:
            member.muted.add(source)
        else:
            member.muted.discard(source)
        if source in member.sending:
            self.post(source_command(member.user_id, source, not muted))
        self.broadcast_state(member)

    def sources_negotiated(self, member: Member, sources: Set[Source]) -> None:
        """A send transport now carries ``sources``: the muted ones stay off in the router."""
        for source in sorted(sources & member.muted):
            self.post(source_command(member.user_id, source, False))

    def set_permissions(
        self, member: Member, changes: dict[str, bool], by: Literal["self", "server"]
    ) -> None:
        """Change permissions; revoking stops that source. ``self`` stays within the ceiling,
        ``server`` (the app's REST call) also moves the ceiling."""
        self._check(member)
        if by == "self":
            ceiling = member.ceiling.to_dict()
            for key, value in changes.items():
                if value and not ceiling[key]:
                    raise PermissionDenied(message=f"the ticket does not allow {key!r}")
        else:
            member.ceiling = member.ceiling.with_changes(changes)
        new = member.permissions.with_changes(changes)
        if new == member.permissions:
            return
        member.permissions = new
        for flag, source in FLAG_SOURCE.items():
            if changes.get(flag) is False and source in member.sending:
                self._stop_source(member, source)
        member.send(event_frame("permissions.changed", {"permissions": new.to_dict(), "by": by}))
        self.broadcast_state(member)

    # views and listening ---------------------------------------------------------------------

    def request_views(
        self, member: Member, user_ids: list[str], source: Source = "camera"
    ) -> list[dict[str, Any]]:
        """Add views of these members' ``source`` (at most 4, 3 while sending video)."""
        self._check(member)
        wanted: list[tuple[str, Source]] = []
        for uid in user_ids:
            if uid == member.user_id:
                raise InvalidArgument(message="a member cannot view itself")
            if uid not in self.members:
                raise NotFound("member_not_found", f"no member {uid!r} in this room")
            if (uid, source) not in member.views and (uid, source) not in wanted:
                wanted.append((uid, source))
        cap = self.limits.view_cap(member.sends_video)
        if len(member.views) + len(wanted) > cap:
            raise LimitExceeded(
                "view_limit",
                f"at most {cap} views"
                + (" while sending video" if member.sends_video else "")
                + f" ({len(member.views)} already)",
            )
        if wanted:
            member.views.extend(wanted)
            for uid, _ in wanted:
                self._viewers_of.setdefault(uid, set()).add(member.user_id)
            self.push_subscription(member)
        return wire.member_views(member)

    def cancel_views(
        self, member: Member, user_ids: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """Cancel the views of these members, or all views."""
        self._check(member)
        drop = None if user_ids is None else set(user_ids)
        kept = [v for v in member.views if drop is not None and v[0] not in drop]
        if len(kept) != len(member.views):
            still_viewed = {uid for uid, _ in kept}
            self._drop_viewer(member.user_id, {uid for uid, _ in member.views} - still_viewed)
            member.views = kept
            self.push_subscription(member)
        return wire.member_views(member)

    def stop_listening(self, member: Member, user_ids: list[str]) -> list[str]:
        """Stop hearing these members (only this member is affected)."""
        self._check(member)
        new = {u for u in user_ids if u != member.user_id} - member.not_listening
        if new:
            member.not_listening |= new
            self._restricted_listeners.add(member.user_id)
            self.push_subscription(member)
        return sorted(member.not_listening)

    def resume_listening(self, member: Member, user_ids: list[str] | None = None) -> list[str]:
        """Hear these members again, or everyone."""
        self._check(member)
        before = len(member.not_listening)
        if user_ids is None:
            member.not_listening.clear()
        else:
            member.not_listening -= set(user_ids)
        if len(member.not_listening) != before:
            if not member.not_listening:
                self._restricted_listeners.discard(member.user_id)
            self.push_subscription(member)
        return sorted(member.not_listening)

    def subscription(self, member: Member) -> Subscription:
        """What ``member`` should receive: its listen set and its views."""
        audio_from: frozenset[str] | None = None
        if member.not_listening:
            audio_from = frozenset(
                s
                for s in self._audio_senders
                if s not in member.not_listening and s != member.user_id
            )
        return Subscription(audio_from=audio_from, views=tuple(member.views))

    # router ----------------------------------------------------------------------------------

    def push_subscription(self, member: Member) -> None:
        """Tell the router what ``member`` receives now."""
        self.post(subscription_command(member.user_id, self.subscription(member)))

    def set_send_cap(self, member: Member, max_bps: int | None) -> None:
        """Cap the SFU's bandwidth feedback to ``member``'s publisher (bits/s; ``None``: none)."""
        if member.send_cap_bps != max_bps:
            member.send_cap_bps = max_bps
            self.post(send_cap_command(member.user_id, max_bps))

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
        if self.observer:
            self.observer.emit(MemberStateChanged(self, member))

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
                raise InvalidArgument(message="cursor: not a cursor from this server")
            after = int(cursor)
        members, next_seq = self.page(after, limit)
        return wire.member_page(members, next_seq, len(self.members))

    def sender_list(self) -> dict[str, Any]:
        """The SenderList wire object: members sending any source, in entry order."""
        return wire.member_list(self.senders())

    def page(self, cursor: int | None, limit: int) -> tuple[list[Member], int | None]:
        """Members after entry seq ``cursor`` in entry order, at most ``limit``, and the seq
        to continue after (None on the last page)."""
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
        ids = self._audio_senders | self._video_senders  # O(senders), not O(members)
        return sorted((self.members[u] for u in ids), key=lambda m: m.seq)

    def info(self) -> dict[str, Any]:
        """The RoomInfo wire object (no internal id)."""
        return wire.room_info(self)

    # internals -------------------------------------------------------------------------------

    def _check(self, member: Member) -> None:
        if member.room is not self:
            raise InvalidState("not_in_room", "enter a room first")

    def _stop_source(self, member: Member, source: Source) -> None:
        """Take ``source`` out of the sender indexes and disable it in the router (no event)."""
        member.sending.discard(source)
        if source_kind(source) == "audio":
            self._audio_senders.discard(member.user_id)
            self._audio_senders_changed()
        elif not member.sends_video:
            self._video_senders.discard(member.user_id)
        self.post(source_command(member.user_id, source, False))

    def _audio_senders_changed(self) -> None:
        # Only members with a restricted listen set name senders explicitly.
        for uid in self._restricted_listeners:
            listener = self.members.get(uid)
            if listener is not None:
                self.push_subscription(listener)

    def _drop_viewer(self, viewer_id: str, targets: Set[str]) -> None:
        """``viewer_id`` no longer views ``targets``."""
        for target in targets:
            viewers = self._viewers_of.get(target)
            if viewers is not None:
                viewers.discard(viewer_id)
                if not viewers:
                    del self._viewers_of[target]
