"""The webhook outbox: events in sequence, each app's endpoint; the store protocol and an
in-memory implementation (the SQL one, durable, is ``ilvb.store.webhooks_sql``).

An event is appended once, gets the next sequence number (``seq``, increasing over the whole
store) and stays until it is older than the retention. ``pending`` events are still to be
delivered to the app's endpoint; an event written while its app had no endpoint is not pending,
only pullable (``events_after``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Protocol


@dataclass(frozen=True)
class NewEvent:
    """An event before it is stored: ``room_key`` orders deliveries (``kind:room``)."""

    app_id: str
    room_key: str
    type: str
    data: dict[str, Any]
    created_at: float
    pending: bool
    node: str = ""


@dataclass(frozen=True)
class StoredEvent:
    """An event in the outbox."""

    seq: int
    app_id: str
    room_key: str
    type: str
    data: dict[str, Any]
    created_at: float
    pending: bool
    attempts: int = 0
    delivered_at: float | None = None
    last_error: str | None = None
    node: str = ""

    def body(self) -> bytes:
        """The JSON body delivered and pulled: ``{"id", "type", "app_id", "time", "data"}``."""
        return json.dumps(self.wire(), separators=(",", ":"), sort_keys=True).encode("utf-8")

    def wire(self) -> dict[str, Any]:
        """The event as the app's server sees it."""
        return {
            "id": self.seq,
            "type": self.type,
            "app_id": self.app_id,
            "time": self.created_at,
            "data": self.data,
        }


@dataclass(frozen=True)
class Endpoint:
    """Where an app's events go."""

    app_id: str
    url: str
    enabled: bool = True


class WebhookStore(Protocol):
    """The outbox and the endpoints."""

    async def append(self, events: list[NewEvent]) -> list[int]:
        """Store ``events`` in order in one transaction; their sequence numbers."""
        ...

    async def pending(self, node: str, limit: int) -> list[StoredEvent]:
        """The oldest undelivered events written by ``node``, in sequence order."""
        ...

    async def mark_delivered(self, seq: int, now: float) -> None:
        """The endpoint accepted event ``seq``."""
        ...

    async def mark_failed(self, seq: int, error: str) -> None:
        """An attempt at event ``seq`` failed (counted, the error kept)."""
        ...

    async def events_after(self, app_id: str, after: int, limit: int) -> list[StoredEvent]:
        """The app's events with ``seq > after``, in order (the pull API)."""
        ...

    async def prune(self, before: float) -> int:
        """Drop events created before ``before`` (delivered or not); how many."""
        ...

    async def get_endpoint(self, app_id: str) -> Endpoint | None:
        """The app's endpoint, or None."""
        ...

    async def set_endpoint(self, app_id: str, url: str | None, enabled: bool = True) -> None:
        """Set (or with ``url=None`` remove) the app's endpoint."""
        ...


class MemoryWebhookStore:
    """The outbox in a list (tests, in-memory servers): lost with the process."""

    def __init__(self) -> None:
        self.events: list[StoredEvent] = []
        self.endpoints: dict[str, Endpoint] = {}
        self._seq = 0

    async def append(self, events: list[NewEvent]) -> list[int]:
        out = []
        for e in events:
            self._seq += 1
            self.events.append(
                StoredEvent(
                    self._seq, e.app_id, e.room_key, e.type, dict(e.data), e.created_at,
                    e.pending, node=e.node,
                )
            )  # fmt: skip
            out.append(self._seq)
        return out

    async def pending(self, node: str, limit: int) -> list[StoredEvent]:
        return [e for e in self.events if e.pending and e.node == node][:limit]

    def _update(self, seq: int, **changes: Any) -> None:
        for i, e in enumerate(self.events):
            if e.seq == seq:
                self.events[i] = replace(e, **changes)
                return

    async def mark_delivered(self, seq: int, now: float) -> None:
        self._update(seq, pending=False, delivered_at=now)

    async def mark_failed(self, seq: int, error: str) -> None:
        for e in self.events:
            if e.seq == seq:
                self._update(seq, attempts=e.attempts + 1, last_error=error[:500])
                return

    async def events_after(self, app_id: str, after: int, limit: int) -> list[StoredEvent]:
        return [e for e in self.events if e.app_id == app_id and e.seq > after][:limit]

    async def prune(self, before: float) -> int:
        kept = [e for e in self.events if e.created_at >= before]
        dropped = len(self.events) - len(kept)
        self.events = kept
        return dropped

    async def get_endpoint(self, app_id: str) -> Endpoint | None:
        return self.endpoints.get(app_id)

    async def set_endpoint(self, app_id: str, url: str | None, enabled: bool = True) -> None:
        if url is None:
            self.endpoints.pop(app_id, None)
        else:
            self.endpoints[app_id] = Endpoint(app_id, url, enabled)
