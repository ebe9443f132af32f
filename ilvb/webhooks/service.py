"""The webhook service of one node: room events → the outbox → the app's endpoint.

It follows the rooms through their observers (``manager.observer`` → ``room.observer``) and
turns each change into an event: ``room.started``, ``member.joined``, ``member.left`` (with the
reason), ``room.ended``. The listeners only queue; one writer task appends the queue to the
outbox in order, one transaction per batch, so the sequence numbers follow the order of the
changes. An event is durable once its batch is committed (a few milliseconds after the change);
what was committed is delivered after a restart or a SIGKILL.

Delivery (one sender task): the pending events of this node, in sequence order, grouped by
room; rooms are delivered concurrently, the events of one room one after the other, the next
only once the previous was accepted (a 2xx answer). A failed attempt (error, timeout, non-2xx)
stops that room and puts the app's endpoint into back-off: ``retry_initial_s``, times
``retry_factor`` after each failure, at most ``retry_max_s``; the first success resets it. So a
receiver that was down gets everything, per room in order. A delivery whose answer was lost is
sent again (at least once): receivers drop an ``id`` they already have.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from ilvb.config import WebhookSettings
from ilvb.rooms.events import MemberEntered, MemberExited, RoomClosed, RoomCreated
from ilvb.rooms.manager import RoomManager
from ilvb.rooms.room import Room
from ilvb.webhooks.signing import sign_headers
from ilvb.webhooks.store import NewEvent, StoredEvent, WebhookStore

log = logging.getLogger(__name__)

SecretLookup = Callable[[str], Awaitable[str | None]]
# Pending events read per round; a full round is followed by another at once.
BATCH = 500
# Even with nothing new, the sender looks at the outbox this often (events of a previous run).
IDLE_POLL_S = 10.0
# How long the endpoint of an app is cached by the writer (another node may change it).
ENDPOINT_CACHE_S = 5.0


@dataclass
class _Backoff:
    failures: int = 0
    until: float = 0.0  # monotonic


class WebhookService:
    """Events of ``manager``'s rooms into ``store``, delivered to each app's endpoint."""

    def __init__(
        self,
        manager: RoomManager,
        store: WebhookStore,
        secret_of: SecretLookup,
        settings: WebhookSettings,
        *,
        node: str = "",
        now: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.node = node
        self._secret_of = secret_of
        self._now = now
        self._queue: list[NewEvent] = []
        self._queued = asyncio.Event()
        self._wake = asyncio.Event()
        self._backoff: dict[str, _Backoff] = {}
        self._endpoints: dict[str, tuple[bool, float]] = {}
        self._http = httpx.AsyncClient(timeout=settings.timeout_s, transport=transport)
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self.delivered = 0  # accepted deliveries (tests, logs)
        manager.observer.on(RoomCreated, self._room_created)

    # -- life ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer, the sender and the pruner."""
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._write_loop(), name="webhooks:write"),
            loop.create_task(self._send_loop(), name="webhooks:send"),
            loop.create_task(self._prune_loop(), name="webhooks:prune"),
        ]

    async def close(self) -> None:
        """Write what is queued, stop delivering. Idempotent."""
        if self._closing:
            return
        self._closing = True
        self._queued.set()
        writer, others = self._tasks[:1], self._tasks[1:]
        for task in others:
            task.cancel()
        if writer:
            await asyncio.wait(writer, timeout=10)
        self._wake.set()
        if others:
            await asyncio.wait(others, timeout=5)
        await self._http.aclose()

    def endpoint_changed(self, app_id: str) -> None:
        """The app's endpoint was set or removed (REST): forget the cached answer, retry now."""
        self._endpoints.pop(app_id, None)
        self._backoff.pop(app_id, None)
        self._wake.set()

    # -- room events -------------------------------------------------------------------------

    def _room_created(self, event: RoomCreated) -> None:
        room = event.room
        room.observer.on(MemberEntered, self._entered)
        room.observer.on(MemberExited, self._exited)
        room.observer.on(RoomClosed, self._room_closed)
        self._emit(room, "room.started", {})

    def _entered(self, event: MemberEntered) -> None:
        m = event.member
        self._emit(event.room, "member.joined", {"user": m.user_id, "role": m.role})

    def _exited(self, event: MemberExited) -> None:
        m = event.member
        self._emit(event.room, "member.left", {"user": m.user_id, "reason": event.reason})

    def _room_closed(self, event: RoomClosed) -> None:
        room = event.room
        room.observer.off(MemberEntered, self._entered)
        room.observer.off(MemberExited, self._exited)
        room.observer.off(RoomClosed, self._room_closed)
        self._emit(room, "room.ended", {})

    def _emit(self, room: Room, kind: str, data: dict[str, Any]) -> None:
        if self._closing:
            return
        body = {
            "room": room.display,
            "kind": room.kind,
            "room_sid": room.internal_id,
            "member_count": len(room.members),
            **data,
        }
        self._queue.append(
            NewEvent(
                room.app_id, f"{room.kind}:{room.key}", kind, body, self._now(), True, self.node
            )
        )
        self._queued.set()

    # -- writer ----------------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        while True:
            await self._queued.wait()
            self._queued.clear()
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    marked = [
                        NewEvent(
                            e.app_id, e.room_key, e.type, e.data, e.created_at,
                            await self._has_endpoint(e.app_id), e.node,
                        )
                        for e in batch
                    ]  # fmt: skip
                    await self.store.append(marked)
                except Exception:
                    log.exception("webhooks: writing %d events failed; retrying", len(batch))
                    self._queue[:0] = batch
                    if self._closing:
                        return
                    await asyncio.sleep(1.0)
                    continue
                self._wake.set()
            if self._closing:
                return

    async def _has_endpoint(self, app_id: str) -> bool:
        cached = self._endpoints.get(app_id)
        now = time.monotonic()
        if cached is not None and now - cached[1] < ENDPOINT_CACHE_S:
            return cached[0]
        endpoint = await self.store.get_endpoint(app_id)
        has = endpoint is not None and endpoint.enabled
        self._endpoints[app_id] = (has, now)
        return has

    # -- sender ----------------------------------------------------------------------------------

    async def _send_loop(self) -> None:
        active: dict[tuple[str, str], asyncio.Task[None]] = {}
        limit = asyncio.Semaphore(self.settings.concurrency)
        try:
            while not self._closing:
                # finished rooms leave before the read: the read then sees their marks
                for key in [k for k, t in active.items() if t.done()]:
                    del active[key]
                try:
                    await self._start_rooms(active, limit)
                except Exception:
                    log.exception("webhooks: reading the outbox failed")
                # asyncio.timeout, not wait_for: wait_for may swallow a cancellation (3.11)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._next_retry_in()):
                        await self._wake.wait()
                self._wake.clear()
        finally:
            for task in active.values():
                task.cancel()

    def _next_retry_in(self) -> float:
        now = time.monotonic()
        waits = [b.until - now for b in self._backoff.values() if b.until > now]
        return max(0.01, min([IDLE_POLL_S, *waits]))

    async def _start_rooms(
        self, active: dict[tuple[str, str], asyncio.Task[None]], limit: asyncio.Semaphore
    ) -> None:
        """Start a delivery task for every room with pending events and none running."""
        events = await self.store.pending(self.node, BATCH)
        now = time.monotonic()
        rooms: dict[tuple[str, str], list[StoredEvent]] = {}
        for e in events:
            key = (e.app_id, e.room_key)
            b = self._backoff.get(e.app_id)
            if key in active or (b is not None and b.until > now):
                continue
            rooms.setdefault(key, []).append(e)
        endpoints: dict[str, tuple[str, str] | None] = {}
        for (app_id, room_key), queue in rooms.items():
            if app_id not in endpoints:
                ep = await self.store.get_endpoint(app_id)
                secret = await self._secret_of(app_id)
                usable = ep is not None and ep.enabled and secret is not None
                endpoints[app_id] = (ep.url, secret) if ep and usable and secret else None
            target = endpoints[app_id]
            if target is None:
                continue  # pending until the app has an endpoint again
            task = asyncio.get_running_loop().create_task(
                self._deliver_room(app_id, target, queue, limit), name=f"webhooks:{room_key}"
            )
            task.add_done_callback(lambda _t: self._wake.set())
            active[(app_id, room_key)] = task

    async def _deliver_room(
        self,
        app_id: str,
        target: tuple[str, str],
        queue: list[StoredEvent],
        limit: asyncio.Semaphore,
    ) -> None:
        """One room's events one after the other; the first failure stops the room."""
        url, secret = target
        async with limit:
            for e in queue:
                b = self._backoff.get(app_id)
                if b is not None and b.until > time.monotonic():
                    return  # another room of the app failed meanwhile: wait with it
                error = await self._deliver(url, secret, e)
                if error is not None:
                    await self.store.mark_failed(e.seq, error)
                    self._failed(app_id)
                    return
                await self.store.mark_delivered(e.seq, self._now())
                self.delivered += 1
                self._backoff.pop(app_id, None)

    def _failed(self, app_id: str) -> None:
        """Put the app's endpoint into (longer) back-off, once per failing moment."""
        b = self._backoff.setdefault(app_id, _Backoff())
        now = time.monotonic()
        if b.until > now:
            return  # already backing off (several rooms failed at once)
        b.failures += 1
        s = self.settings
        delay = min(s.retry_max_s, s.retry_initial_s * s.retry_factor ** (b.failures - 1))
        b.until = now + delay
        log.info("webhooks: app %s endpoint failing; next try in %.2f s", app_id, delay)

    async def _deliver(self, url: str, secret: str, event: StoredEvent) -> str | None:
        """POST one event; None when accepted, else why not."""
        body = event.body()
        headers = sign_headers(secret, event.seq, body, self._now())
        try:
            r = await self._http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= r.status_code < 300:
            return None
        return f"HTTP {r.status_code}"

    # -- retention --------------------------------------------------------------------------

    async def _prune_loop(self) -> None:
        while True:
            try:
                dropped = await self.store.prune(self._now() - self.settings.retention_s)
                if dropped:
                    log.info("webhooks: %d events older than the retention dropped", dropped)
            except Exception:
                log.exception("webhooks: pruning failed")
            await asyncio.sleep(max(60.0, min(3600.0, self.settings.retention_s / 10)))
