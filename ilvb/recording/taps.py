"""RoomTaps: a room's producers as the recorder sees them, and the taps opened on them."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from ilvb.errors import Unavailable
from ilvb.rooms.events import MemberExited, MemberStateChanged, RoomClosed
from ilvb.rooms.room import Room
from ilvb.sfu.api import RouterHandle, Source, TapInfo, source_kind


@dataclass(frozen=True)
class TrackRef:
    """One producer of the room: a member's source."""

    member_id: str
    source: Source

    @property
    def kind(self) -> str:
        """``audio`` or ``video``."""
        return source_kind(self.source)


class RoomTaps:
    """One room incarnation's producers and taps (``open``/``close`` go to its router)."""

    def __init__(self, room: Room, members: frozenset[str] | None = None) -> None:
        self.incarnation = room  # the room incarnation
        self.app_id = room.app_id
        self.room = room.key  # the business id, as the REST path gives it
        self.room_key = room.key
        self.kind = room.kind
        self.members = members  # only these members' tracks (None: everyone)
        self._listeners: list[Callable[[], None]] = []
        self.closed = room.closed
        room.observer.on(MemberStateChanged, self._changed)
        room.observer.on(MemberExited, self._changed)
        room.observer.on(RoomClosed, self._room_closed)

    def tracks(self) -> list[TrackRef]:
        """The sources members send now (muted ones too: the tap just gets nothing)."""
        out = []
        for member in self.incarnation.senders():
            if self.members is not None and member.user_id not in self.members:
                continue
            for source in sorted(member.sending):
                out.append(TrackRef(member.user_id, source))
        return out

    async def router(self) -> RouterHandle:
        """The room's router (``media_unavailable`` when the room is gone)."""
        link = self.incarnation.link
        if link is None or self.closed:
            raise Unavailable("media_unavailable", "the room has no media router")
        return await link.router()

    async def open(self, ref: TrackRef, addr: tuple[str, int]) -> TapInfo:
        """Tap ``ref`` to a loopback ``addr`` (``not_found`` until its producer exists)."""
        tap_id = "tap_" + secrets.token_hex(6)
        router = await self.router()
        return await router.open_tap(tap_id, ref.member_id, ref.source, addr)

    async def close(self, tap_id: str) -> None:
        """Stop a tap (idempotent; nothing to do once the room is gone)."""
        if self.closed:
            return
        try:
            router = await self.router()
            await router.close_tap(tap_id)
        except Unavailable:
            pass

    async def live(self) -> set[str]:
        """Tap ids the SFU still sends on."""
        router = await self.router()
        return set(await router.live_taps())

    async def request_keyframe(self, tap_id: str) -> None:
        """Ask the tap's publisher for a keyframe."""
        router = await self.router()
        await router.request_keyframe(tap_id)

    def on_change(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` when a member's sources change or the room closes; returns the
        function that unsubscribes."""
        self._listeners.append(listener)

        def off() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return off

    def detach(self) -> None:
        """Stop watching the room."""
        self.incarnation.observer.off(MemberStateChanged, self._changed)
        self.incarnation.observer.off(MemberExited, self._changed)
        self.incarnation.observer.off(RoomClosed, self._room_closed)
        self._listeners.clear()

    def _changed(self, _event: object) -> None:
        for listener in list(self._listeners):
            listener()

    def _room_closed(self, _event: object) -> None:
        self.closed = True
        self._changed(_event)
