"""Fakes for room tests: an outbox that records frames, tickets without signing, a manager."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from ilvb.auth.tickets import Privileges, TicketClaims
from ilvb.config import RoomSettings
from ilvb.errors import IlvbError
from ilvb.rooms.clock import ManualClock
from ilvb.rooms.manager import RoomManager
from ilvb.rooms.member import Member
from ilvb.rooms.room import Room
from ilvb.sfu.api import NullMediaPlane
from ilvb.store.interfaces import AppRecord

APP = AppRecord("app_test", "test", "secret", 0.0)
OTHER_APP = AppRecord("app_other", "other", "secret2", 0.0)


class RecordingOutbox:
    """Records every frame a member was sent."""

    def __init__(self) -> None:
        self.frames: list[str] = []

    def send(self, frame: str) -> None:
        self.frames.append(frame)

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """Data of the events received (all, or those named ``name``)."""
        out = []
        for text in self.frames:
            frame = json.loads(text)
            if frame.get("type") == "event" and (name is None or frame["event"] == name):
                out.append(frame["data"] if name else frame)
        return out

    def names(self) -> list[str]:
        """Event names in order."""
        return [json.loads(t)["event"] for t in self.frames]


def claims(
    user: str,
    *,
    room: str | None = None,
    audio: bool = True,
    video: bool = True,
    screen: bool = True,
    role: str = "speaker",
) -> TicketClaims:
    """Verified-ticket claims for ``user`` of the test app."""
    return TicketClaims(APP.app_id, user, 0.0, 2e9, room, role, Privileges(audio, video, screen))


def make_manager(**settings: Any) -> tuple[RoomManager, NullMediaPlane, ManualClock]:
    """A manager on the null media plane with a manual clock."""
    media = NullMediaPlane()
    clock = ManualClock()
    return RoomManager(RoomSettings(**settings), media, clock=clock), media, clock


def room_of(member: Member) -> Room:
    """The room ``member`` is in (fails the test when it is in none)."""
    assert member.room is not None, f"{member.user_id} is in no room"
    return member.room


def enter(
    manager: RoomManager, user: str, room: str | int = "r1", **kw: Any
) -> tuple[Member, RecordingOutbox]:
    """``user`` enters ``room`` of the test app with a recording outbox."""
    box = RecordingOutbox()
    member = manager.enter(APP, claims(user, **kw), room, "room", box)
    return member, box


def code_of(fn: Callable[..., Any], *args: Any) -> str:
    """The error code ``fn(*args)`` raises (fails the test when it raises none)."""
    with pytest.raises(IlvbError) as info:
        fn(*args)
    return info.value.code
