"""The stage of one room: invitations to publish, raised hands, and who was brought on stage.

Rules (docs/protocol.md, "Stage and room controls"):

1. The **stage right** (invite, take off stage, see raised hands, host controls) belongs to
   members whose ticket role is one of ``rooms.stage_roles`` (default ``host``, ``teacher``),
   and to the app's server over REST.
2. An invitation names the permissions it grants (default audio + video). A member may grant
   only what the invitee's ticket allows (its ``priv`` claims; an ``audience`` ticket enters
   with nothing but keeps its ``priv`` as what an invite may grant); the app's server may grant
   more (the invitee's ceiling moves, as with the REST permissions call).
3. At most one pending invitation per invitee; it expires after ``rooms.stage_invite_ttl_s``
   (30 s) on the rooms clock. Accepting checks the sender caps: the room's senders plus the
   seats already granted on stage (an accepted member is promised it may publish), so a fifth
   video seat is ``video_sender_limit``. A refused accept leaves the invitation pending.
4. Taking a member off stage stops every source it sends and restores the ceiling and
   permissions it had before it accepted.
5. Every step is an event to the parties (invitee; inviter, or nobody for the app's server) and
   a ``member.state`` to the room (``on_stage``, ``hand_raised``).
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Set
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ilvb.errors import InvalidArgument, InvalidState, LimitExceeded, NotFound, PermissionDenied
from ilvb.rooms.permissions import FLAG_SOURCE, Permissions
from ilvb.rooms.wire import event_frame

if TYPE_CHECKING:
    from ilvb.rooms.clock import Clock, TimerHandle
    from ilvb.rooms.member import Member
    from ilvb.rooms.room import Room

InviteStatus = Literal["pending", "accepted", "declined", "expired", "cancelled"]
# Answered or expired invitations remembered per room, to answer a late accept precisely.
FINISHED_KEPT = 1024
DEFAULT_GRANT = Permissions(audio=True, video=True, screen=False)


@dataclass(eq=False)
class StageInvite:
    """One invitation on stage."""

    invite_id: str
    invitee: str
    inviter: str | None  # None: the app's server
    grants: Permissions
    created_at: float
    expires_at: float
    status: InviteStatus = "pending"
    timer: TimerHandle | None = None

    def to_dict(self) -> dict[str, Any]:
        """The Invite wire object."""
        return {
            "invite_id": self.invite_id,
            "user_id": self.invitee,
            "by": self.inviter,
            "permissions": self.grants.to_dict(),
            "expires_at": self.expires_at,
            "status": self.status,
        }


@dataclass(frozen=True)
class Seat:
    """A member brought on stage: what it was granted and what to restore afterwards."""

    grants: Permissions
    inviter: str | None
    ceiling_before: Permissions
    permissions_before: Permissions


class Stage:
    """Invitations, raised hands and stage seats of one room (only this class changes them)."""

    def __init__(
        self, room: Room, clock: Clock, *, invite_ttl_s: float, stage_roles: Set[str]
    ) -> None:
        self.room = room
        self.clock = clock
        self.invite_ttl_s = invite_ttl_s
        self.stage_roles = frozenset(stage_roles)
        self._pending: dict[str, StageInvite] = {}  # by invite id
        self._pending_for: dict[str, str] = {}  # invitee -> invite id
        self._finished: OrderedDict[str, StageInvite] = OrderedDict()
        self._hands: dict[str, float] = {}  # user id -> raised at (insertion = raise order)
        self.seats: dict[str, Seat] = {}

    # rights ----------------------------------------------------------------------------------

    def has_right(self, member: Member) -> bool:
        """Whether ``member`` holds the stage right (its role is a stage role)."""
        return member.role in self.stage_roles

    def require_right(self, actor: Member | None) -> None:
        """``stage_right_required`` unless ``actor`` is the app's server or holds the right."""
        if actor is not None and not self.has_right(actor):
            roles = ", ".join(sorted(self.stage_roles))
            raise PermissionDenied(
                "stage_right_required", f"only members with a stage role ({roles}) may do this"
            )

    # invitations -----------------------------------------------------------------------------

    def invite(
        self, actor: Member | None, user_id: str, grants: Permissions | None = None
    ) -> StageInvite:
        """Invite ``user_id`` on stage (``actor`` None = the app's server)."""
        self.require_right(actor)
        invitee = self.room.member(user_id)  # member_not_found
        if actor is not None and invitee is actor:
            raise InvalidState("already_on_stage", "a member with the stage right needs no invite")
        if invitee.user_id in self.seats:
            raise InvalidState("already_on_stage", f"{user_id!r} is already on stage")
        if invitee.user_id in self._pending_for:
            raise InvalidState("invite_pending", f"{user_id!r} already has a pending invitation")
        grants = grants if grants is not None else DEFAULT_GRANT
        if not any(grants.to_dict().values()):
            raise InvalidArgument("invalid_argument", "an invitation grants at least one source")
        if actor is not None:
            allowed = invitee.invitable.to_dict()
            beyond = [flag for flag, on in grants.to_dict().items() if on and not allowed[flag]]
            if beyond:
                raise PermissionDenied(
                    "permission_denied",
                    f"the invitee's ticket does not allow {', '.join(beyond)} "
                    "(the app's server may grant it over REST)",
                )
        now = self.clock.time()
        invite = StageInvite(
            "inv_" + secrets.token_hex(8),
            invitee.user_id,
            None if actor is None else actor.user_id,
            grants,
            now,
            now + self.invite_ttl_s,
        )
        invite.timer = self.clock.call_later(self.invite_ttl_s, lambda: self._expire(invite))
        self._pending[invite.invite_id] = invite
        self._pending_for[invitee.user_id] = invite.invite_id
        self._tell(invite, "stage.invited")
        return invite

    def accept(self, member: Member, invite_id: str) -> StageInvite:
        """``member`` accepts: caps checked, its permissions raised, it is on stage."""
        invite = self._answerable(member, invite_id)
        room = self.room
        limits = room.limits
        uid = member.user_id
        if invite.grants.audio:
            taken = (set(room.audio_senders) | self.seat_users("audio")) - {uid}
            if len(taken) >= limits.audio_senders:
                raise LimitExceeded(
                    "audio_sender_limit",
                    f"{len(taken)} members already send audio or hold an audio seat "
                    f"(limit {limits.audio_senders})",
                )
        if invite.grants.video or invite.grants.screen:
            taken = (set(room.video_senders) | self.seat_users("video")) - {uid}
            if len(taken) >= limits.video_senders:
                raise LimitExceeded(
                    "video_sender_limit",
                    f"{len(taken)} members already send video or hold a video seat "
                    f"(limit {limits.video_senders})",
                )
        self._finish(invite, "accepted")
        self.seats[uid] = Seat(invite.grants, invite.inviter, member.ceiling, member.permissions)
        granted = {flag: True for flag, on in invite.grants.to_dict().items() if on}
        member.ceiling = member.ceiling.with_changes(granted)
        member.permissions = member.permissions.with_changes(granted)
        self._hands.pop(uid, None)
        member.send(
            event_frame(
                "permissions.changed", {"permissions": member.permissions.to_dict(), "by": "stage"}
            )
        )
        self._tell(invite, "stage.accepted")
        room.broadcast_state(member)
        return invite

    def decline(self, member: Member, invite_id: str) -> StageInvite:
        """``member`` declines: nothing else changes."""
        invite = self._answerable(member, invite_id)
        self._finish(invite, "declined")
        self._tell(invite, "stage.declined")
        return invite

    def remove(self, actor: Member | None, user_id: str) -> Member:
        """Take ``user_id`` off stage (the inviter, a stage-right member, itself, or the app's
        server): its sources stop, its ceiling and permissions return to what they were."""
        target = self.room.member(user_id)
        if actor is not None and actor is not target:
            self.require_right(actor)
        seat = self.seats.get(target.user_id)
        if seat is None:
            raise InvalidState("not_on_stage", f"{user_id!r} is not on stage")
        del self.seats[target.user_id]
        target.ceiling = seat.ceiling_before
        target.permissions = seat.permissions_before
        self.room.stop_sources(target, set(target.sending))
        by = None if actor is None else actor.user_id
        data = {"user_id": target.user_id, "by": by}
        frame = event_frame("stage.removed", data)
        target.send(frame)
        if seat.inviter is not None and seat.inviter != target.user_id:
            inviter = self.room.members.get(seat.inviter)
            if inviter is not None:
                inviter.send(frame)
        target.send(
            event_frame(
                "permissions.changed", {"permissions": target.permissions.to_dict(), "by": "stage"}
            )
        )
        self.room.broadcast_state(target)
        return target

    def seat_users(self, kind: Literal["audio", "video"]) -> set[str]:
        """Members on stage granted audio (``audio``) or camera/screen (``video``)."""
        if kind == "audio":
            return {u for u, s in self.seats.items() if s.grants.audio}
        return {u for u, s in self.seats.items() if s.grants.video or s.grants.screen}

    def pending(self) -> list[StageInvite]:
        """Pending invitations, oldest first."""
        return list(self._pending.values())

    # hands -----------------------------------------------------------------------------------

    def raise_hand(self, member: Member) -> None:
        """``member`` asks to speak: hosts get ``hand.raised``, the room a ``member.state``."""
        if member.user_id in self.seats:
            raise InvalidState("already_on_stage", "a member on stage needs no raised hand")
        if member.user_id in self._hands:
            return
        self._hands[member.user_id] = self.clock.time()
        self._tell_hosts("hand.raised", {"user_id": member.user_id})
        self.room.broadcast_state(member)

    def lower_hand(self, member: Member, actor: Member | None = None) -> None:
        """The hand goes down (the member itself, a stage-right member, or the app's server)."""
        if actor is not None and actor is not member:
            self.require_right(actor)
        if self._hands.pop(member.user_id, None) is None:
            return
        self._tell_hosts("hand.lowered", {"user_id": member.user_id})
        self.room.broadcast_state(member)

    def hands(self) -> list[dict[str, Any]]:
        """Raised hands in the order they went up."""
        return [{"user_id": u, "raised_at": t} for u, t in self._hands.items()]

    def hand_raised(self, user_id: str) -> bool:
        """Whether this member's hand is up."""
        return user_id in self._hands

    # membership ------------------------------------------------------------------------------

    def member_left(self, user_id: str) -> None:
        """Forget the member's hand, seat and invitations (it left the room)."""
        self._hands.pop(user_id, None)
        self.seats.pop(user_id, None)
        invite_id = self._pending_for.get(user_id)
        if invite_id is not None:
            self._finish(self._pending[invite_id], "cancelled")
        for invite in [i for i in self._pending.values() if i.inviter == user_id]:
            self._finish(invite, "cancelled")
            self._tell(invite, "stage.cancelled")

    def close(self) -> None:
        """The room is gone: cancel the expiry timers."""
        for invite in list(self._pending.values()):
            if invite.timer is not None:
                invite.timer.cancel()
        self._pending.clear()
        self._pending_for.clear()

    # internals -------------------------------------------------------------------------------

    def _answerable(self, member: Member, invite_id: str) -> StageInvite:
        invite = self._pending.get(invite_id)
        if invite is None:
            done = self._finished.get(invite_id)
            if done is None:
                raise NotFound("invite_not_found", f"no invitation {invite_id!r} in this room")
            if done.invitee != member.user_id:
                raise PermissionDenied(
                    "invite_not_for_you", "this invitation is for another member"
                )
            if done.status == "expired":
                raise InvalidState("invite_expired", "this invitation has expired")
            raise InvalidState(
                "invite_already_answered", f"this invitation was already {done.status}"
            )
        if invite.invitee != member.user_id:
            raise PermissionDenied("invite_not_for_you", "this invitation is for another member")
        return invite

    def _finish(self, invite: StageInvite, status: InviteStatus) -> None:
        invite.status = status
        if invite.timer is not None:
            invite.timer.cancel()
            invite.timer = None
        self._pending.pop(invite.invite_id, None)
        if self._pending_for.get(invite.invitee) == invite.invite_id:
            del self._pending_for[invite.invitee]
        self._finished[invite.invite_id] = invite
        while len(self._finished) > FINISHED_KEPT:
            self._finished.popitem(last=False)

    def _expire(self, invite: StageInvite) -> None:
        invite.timer = None
        if invite.status == "pending" and not self.room.closed:
            self._finish(invite, "expired")
            self._tell(invite, "stage.expired")

    def _tell(self, invite: StageInvite, event: str) -> None:
        """The invitation's event to its invitee and inviter."""
        frame = event_frame(event, invite.to_dict())
        for uid in {invite.invitee, invite.inviter}:
            if uid is not None:
                member = self.room.members.get(uid)
                if member is not None:
                    member.send(frame)

    def _tell_hosts(self, event: str, data: dict[str, Any]) -> None:
        frame = event_frame(event, data)
        for member in self.room.members.values():
            if member.role in self.stage_roles:
                member.send(frame)


def grants_from(flags: dict[str, bool] | None) -> Permissions | None:
    """An invitation's grants from ``{"audio": …}`` (missing flags False), or None (default)."""
    if flags is None:
        return None
    return Permissions(**{flag: bool(flags.get(flag, False)) for flag in FLAG_SOURCE})
