"""Who may enter which room: business ids, ticket ceilings, the checks on an existing room,
and fresh call numbers."""

from __future__ import annotations

import secrets

from ilvb.auth.tickets import AUDIENCE_ROLE, TicketClaims
from ilvb.errors import InvalidArgument, LimitExceeded, NotFound, PermissionDenied
from ilvb.rooms.member import Member
from ilvb.rooms.permissions import Permissions
from ilvb.rooms.room import Room

# Two-person calls are numbered 100,000 … MAX_CALL_NUMBER (random, never reused while live).
MAX_CALL_NUMBER = 999_999_999


def check_business_id(room: object, kind: str) -> None:
    """The app's room id: a string of 1–128 characters or an integer; calls by number."""
    if kind not in ("room", "call"):
        raise InvalidArgument("invalid_argument", "kind must be 'room' or 'call'")
    if isinstance(room, bool) or not isinstance(room, str | int):
        raise InvalidArgument("invalid_argument", "room must be a string or an integer")
    if isinstance(room, str) and not (1 <= len(room) <= 128):
        raise InvalidArgument("invalid_argument", "room must be 1-128 characters")
    if isinstance(room, int) and not (0 <= room <= 2**53):
        raise InvalidArgument("invalid_argument", "room number out of range")
    if kind == "call":
        if isinstance(room, str) and not (room.isascii() and room.isdigit()):
            raise InvalidArgument("invalid_argument", "a call is entered by its number")
        if int(room) > MAX_CALL_NUMBER:
            raise InvalidArgument("invalid_argument", "call number out of range")


def check_entry(target: Room, user_id: str, call_token: str | None) -> Member | None:
    """Raise unless ``user_id`` may enter the live room ``target`` (a call's parties only, the
    lock, the size); returns the member it replaces, if it is already in."""
    existing = target.members.get(user_id)
    occupied = len(target) - (1 if existing is not None else 0)
    invite = target.invite
    if invite is not None and existing is None and not invite.admits(user_id, call_token):
        raise NotFound("room_not_found", f"no call {target.display}")
    if target.locked and existing is None:
        raise PermissionDenied("room_locked", "the room is locked: no new entries")
    if target.kind == "call" and occupied >= 2:
        raise LimitExceeded("call_full", "this call already has two members")
    if occupied >= target.limits.max_members:
        raise LimitExceeded(
            "limit_exceeded", f"the room is full ({target.limits.max_members} members)"
        )
    return existing


def ticket_ceiling(claims: TicketClaims) -> tuple[Permissions, Permissions | None]:
    """A member's ceiling from its ticket, and what a stage invite may grant it (None: the
    ceiling). An ``audience`` member only watches: its ceiling is empty and its ticket's
    ``priv`` is what an invitation may grant."""
    ticket = Permissions(claims.priv.audio, claims.priv.video, claims.priv.screen)
    if claims.role == AUDIENCE_ROLE:
        return Permissions(False, False, False), ticket
    return ticket, None


def allocate_call_number(live: dict[tuple[str, str], Room]) -> int:
    """A random call number no live call of the app (``live``: its rooms by key) uses."""
    while True:
        number = secrets.randbelow(MAX_CALL_NUMBER - 100_000) + 100_000
        if ("call", str(number)) not in live:
            return number
