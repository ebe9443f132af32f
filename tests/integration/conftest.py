"""Integration fixtures: an asyncio signaling peer over a real WebSocket (``websockets``).

Use with ``make_server`` / ``live_server`` from ``tests/conftest.py``::

    async def test_x(live_server):
        async with ws_peer(live_server, "alice") as alice:
            await alice.request("room.enter", {"room": "r"})
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import websockets

from ilvb.errors import IlvbError, error_from_dict
from tests.conftest import LiveServer


class AsyncPeer:
    """One signaling connection: requests matched by id, events collected in ``events``."""

    def __init__(self, ws: Any, name: str) -> None:
        self.ws = ws
        self.name = name
        self.frames: list[str] = []
        self.events: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())
        self.hello_data: dict[str, Any] = {}
        self.closed_code: int | None = None

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                self.frames.append(text)
                frame = json.loads(text)
                if frame.get("type") == "event":
                    self.events.append(frame)
                    self._changed.set()
                else:
                    future = self._waiting.pop(frame.get("id"), None)
                    if future is not None and not future.done():
                        future.set_result(frame)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed_code = self.ws.close_code
            self._changed.set()

    async def request(
        self, kind: str, data: dict[str, Any] | None = None, timeout_s: float = 30
    ) -> dict[str, Any]:
        """Send a request; the response data, or raise its typed error."""
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        await self.ws.send(json.dumps({"id": request_id, "type": kind, "data": data or {}}))
        frame = await asyncio.wait_for(future, timeout_s)
        if frame["type"] == "error":
            raise error_from_dict(frame["error"])
        return frame["data"]  # type: ignore[no-any-return]

    async def error(self, kind: str, data: dict[str, Any] | None = None) -> IlvbError:
        """A request that must fail."""
        try:
            await self.request(kind, data)
        except IlvbError as exc:
            return exc
        raise AssertionError(f"{kind} did not fail")

    def events_named(self, name: str) -> list[dict[str, Any]]:
        """Data of every ``name`` event so far."""
        return [e["data"] for e in self.events if e["event"] == name]

    async def wait_for(self, predicate: Any, timeout_s: float = 30) -> None:
        """Wait until ``predicate(self)`` is true (re-checked on every event)."""

        async def loop() -> None:
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(loop(), timeout_s)

    async def close(self) -> None:
        """Close the socket and stop reading."""
        await self.ws.close()
        await self._reader


@asynccontextmanager
async def ws_peer(server: LiveServer, user: str, **claims: Any) -> AsyncIterator[AsyncPeer]:
    """A connected peer that already said hello."""
    ws = await websockets.connect(server.ws_url, max_size=None, open_timeout=30)
    peer = AsyncPeer(ws, user)
    try:
        peer.hello_data = await peer.request(
            "hello", {"protocol": 1, "ticket": server.ticket(user, **claims)}
        )
        yield peer
    finally:
        await peer.close()


async def open_peer(
    server: LiveServer, user: str, resume: str | None = None, **claims: Any
) -> AsyncPeer:
    """Like :func:`ws_peer` but the caller closes it (``await peer.close()``); ``resume`` sends
    a session token in ``hello``."""
    ws = await websockets.connect(server.ws_url, max_size=None, open_timeout=30)
    peer = AsyncPeer(ws, user)
    hello: dict[str, Any] = {"protocol": 1, "ticket": server.ticket(user, **claims)}
    if resume is not None:
        hello["resume"] = resume
    peer.hello_data = await peer.request("hello", hello)
    return peer
