"""Typed room events and the observer that hands them to listeners.

The code that owns a room (:class:`~ilvb.rooms.manager.RoomManager`) calls its methods; code
that only watches rooms (metrics, recording, webhooks, billing) subscribes to
``manager.observer`` for :class:`RoomCreated`, then to ``room.observer`` for that room's
events, and never patches the rooms package. Listeners run synchronously, in subscription
order, right after the change; a listener that raises is logged and the others still run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ilvb.rooms.member import Member
    from ilvb.rooms.room import Room

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RoomCreated:
    """A room incarnation was created (its first member is about to enter)."""

    room: Room


@dataclass(frozen=True)
class MemberEntered:
    """``member`` entered ``room``."""

    room: Room
    member: Member


@dataclass(frozen=True)
class MemberExited:
    """``member`` left ``room``: ``left``, ``kicked``, ``timeout``, ``replaced``,
    ``call_ended`` or ``room_closed``."""

    room: Room
    member: Member
    reason: str


@dataclass(frozen=True)
class MemberStateChanged:
    """``member``'s MemberState changed (sending, mute, permissions, connected)."""

    room: Room
    member: Member


@dataclass(frozen=True)
class RoomClosed:
    """The room incarnation is gone (its last member left, or it was closed)."""

    room: Room


E = TypeVar("E")


class Observer:
    """Listeners per event type: ``observer.on(MemberEntered, fn)``; ``off`` removes one.

    ``bool(observer)`` is False while nobody listens, so emitters can skip building events.
    """

    def __init__(self) -> None:
        self._listeners: dict[type[Any], list[Callable[[Any], None]]] = {}

    def __bool__(self) -> bool:
        return bool(self._listeners)

    def on(self, kind: type[E], listener: Callable[[E], None]) -> None:
        """Call ``listener(event)`` for every event of type ``kind``."""
        self._listeners.setdefault(kind, []).append(listener)

    def off(self, kind: type[E], listener: Callable[[E], None]) -> None:
        """Stop calling ``listener`` (no-op when it was not subscribed)."""
        listeners = self._listeners.get(kind)
        if listeners is not None and listener in listeners:
            listeners.remove(listener)
            if not listeners:
                del self._listeners[kind]

    def emit(self, event: object) -> None:
        """Hand ``event`` to its listeners; one that raises is logged, not fatal."""
        for listener in list(self._listeners.get(type(event), ())):
            try:
                listener(event)
            except Exception:
                log.exception("room observer listener %r failed on %r", listener, type(event))


RoomEvent = MemberEntered | MemberExited | MemberStateChanged | RoomClosed
"""The events on ``room.observer``."""
