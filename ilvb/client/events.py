"""Event fan-out for the client SDK: callbacks (``on``) and async iterators (``events()``).

One :class:`EventHub` per client. Every event goes to the callbacks registered for its name (and
for ``"*"``), and to every open iterator. A failing callback is logged, never fatal (mediasoup's
``safeEmit``). Iterators end when the hub is closed.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

Callback = Callable[["Event"], Awaitable[None] | None]

_END = object()


@dataclass(frozen=True)
class Event:
    """One server event (``room.entered``, ``members.entered``, ``slot`` …) or client event.

    Client-side events: ``connection.lost``, ``connection.resumed``, ``connection.closed``
    (``data["error"]`` holds the typed error when the session could not be resumed).
    """

    name: str
    data: dict[str, Any] = field(default_factory=dict)


class EventHub:
    """Dispatches events to callbacks and to any number of async iterators."""

    def __init__(self) -> None:
        self._callbacks: dict[str, list[Callback]] = {}
        self._streams: list[EventStream] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def on(self, name: str, callback: Callback) -> Callable[[], None]:
        """Call ``callback(event)`` on each event ``name`` (``"*"``: all); returns an off()."""
        self._callbacks.setdefault(name, []).append(callback)

        def off() -> None:
            callbacks = self._callbacks.get(name, [])
            if callback in callbacks:
                callbacks.remove(callback)

        return off

    def emit(self, event: Event) -> None:
        """Deliver ``event`` to callbacks and iterators; never raises."""
        if self._closed:
            return
        for name in (event.name, "*"):
            for callback in list(self._callbacks.get(name, ())):
                self._call(callback, event)
        for stream in self._streams:
            stream.offer(event)

    def _call(self, callback: Callback, event: Event) -> None:
        try:
            result = callback(event)
        except Exception:
            log.exception("event callback for %s failed", event.name)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("event callback failed", exc_info=task.exception())

    def iterate(self, names: Iterable[str] | None = None) -> EventStream:
        """An async iterator of events (only ``names`` when given) until the hub closes.

        It is registered at once, so events emitted before the first ``__anext__`` are kept.
        """
        stream = EventStream(self, set(names) if names is not None else None)
        if self._closed:
            stream.queue.put_nowait(_END)
        else:
            self._streams.append(stream)
        return stream

    def _detach(self, stream: EventStream) -> None:
        if stream in self._streams:
            self._streams.remove(stream)

    def close(self) -> None:
        """End every iterator; later events are dropped. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for stream in self._streams:
            stream.queue.put_nowait(_END)


class EventStream:
    """``async for event in stream``: the events of one :class:`EventHub`, in order."""

    def __init__(self, hub: EventHub, wanted: set[str] | None) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self._hub = hub
        self._wanted = wanted

    def offer(self, event: Event) -> None:
        """Queue ``event`` if this stream wants it."""
        if self._wanted is None or event.name in self._wanted:
            self.queue.put_nowait(event)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        item = await self.queue.get()
        if item is _END:
            self._hub._detach(self)
            raise StopAsyncIteration
        return item  # type: ignore[no-any-return]

    async def next(self, timeout_s: float | None = None) -> Event:
        """The next event, waiting at most ``timeout_s`` seconds (``TimeoutError`` after)."""
        return await asyncio.wait_for(self.__anext__(), timeout_s)

    def close(self) -> None:
        """Stop receiving events."""
        self._hub._detach(self)
