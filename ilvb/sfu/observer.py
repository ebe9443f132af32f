"""A router's observer: typed events for what runs beside the forwarding (metrics, recording).

The router's owner (the control plane) gets the few events it must react to through
``on_event`` (:data:`~ilvb.sfu.api.RouterEvent`). Everything else that wants to follow a router
subscribes to :attr:`Router.observer <ilvb.sfu.router.Router.observer>` and gets every change,
whoever caused it (mediasoup's ``router.observer``):

* :class:`ProducerAdded` / :class:`~ilvb.sfu.api.ProducerClosed` — every producer, also those
  closed by a command (unpublish by renegotiation, member removed, router closed);
* :class:`ConsumerAdded` / :class:`ConsumerClosed` — a producer starts / stops feeding a slot;
* :class:`~ilvb.sfu.api.SlotChanged` — what a slot carries, as the control plane is told.

Listeners run synchronously on the worker's loop, after the change: they must be quick and must
not call back into the router. A failing listener is logged and the others still run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ilvb.sfu.api import ProducerClosed, SlotChanged, Source

if TYPE_CHECKING:
    from ilvb.sfu.consumer import Consumer
    from ilvb.sfu.producer import Producer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProducerAdded:
    """``member_id`` now publishes ``source`` (``ssrc`` None until learnt from its RTP)."""

    member_id: str
    source: Source
    kind: Literal["audio", "video"]
    codec: str
    ssrc: int | None


@dataclass(frozen=True)
class ConsumerAdded:
    """Slot ``mid`` of ``member_id`` is now fed by ``source_member``'s ``source``."""

    member_id: str
    mid: str
    source_member: str
    source: Source
    codec: str


@dataclass(frozen=True)
class ConsumerClosed:
    """Slot ``mid`` of ``member_id`` is no longer fed by ``source_member``'s ``source``."""

    member_id: str
    mid: str
    source_member: str
    source: Source


def producer_added(p: Producer) -> ProducerAdded:
    """The event for a new producer."""
    return ProducerAdded(p.member_id, p.source, p.kind, p.codec, p.ssrc)  # type: ignore[arg-type]


def consumer_added(c: Consumer) -> ConsumerAdded:
    """The event for a consumer its slot just opened."""
    p = c.producer
    return ConsumerAdded(c.slot.owner, c.slot.mid, p.member_id, p.source, p.codec)  # type: ignore[arg-type]


def consumer_closed(c: Consumer) -> ConsumerClosed:
    """The event for a consumer that closed (switch, release, producer or transport gone)."""
    p = c.producer
    return ConsumerClosed(c.slot.owner, c.slot.mid, p.member_id, p.source)  # type: ignore[arg-type]


ObserverEvent = ProducerAdded | ProducerClosed | ConsumerAdded | ConsumerClosed | SlotChanged
Listener = Callable[[ObserverEvent], None]


class Observer:
    """Listeners of one router's :data:`ObserverEvent` s."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every event from now on; returns the unsubscribe function."""
        self.listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self.listeners:
                self.listeners.remove(listener)

        return unsubscribe

    def emit(self, event: ObserverEvent) -> None:
        """Tell every listener; one that raises is logged, the others still run."""
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:
                logger.exception("%s: observer listener failed on %s", self.name, event)
