"""A small scripted signaling server for the client SDK's unit tests (docs/protocol.md v1).

It answers ``hello`` (ticket ``"good"`` is accepted; ``resume`` with the issued token resumes) and
``ping``; every other request type is answered by ``handlers[type](data)`` — return the response
data, or raise an :class:`ilvb.errors.IlvbError` to send an ``error`` frame. Unknown types get
``unknown_type``. Tests push events with :meth:`FakeServer.event` and cut sockets with
:meth:`FakeServer.drop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve

from ilvb.errors import IlvbError

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]] | dict[str, Any]]


class FakeServer:
    """Scripted server: records requests, answers via ``handlers``, pushes events."""

    def __init__(self, heartbeat_interval_s: float = 10.0) -> None:
        self.heartbeat_interval_s = heartbeat_interval_s
        self.handlers: dict[str, Handler] = {}
        self.requests: list[dict[str, Any]] = []
        self.hellos: list[dict[str, Any]] = []
        self.connections: list[ServerConnection] = []
        self.session_token = "sess-1"
        self.accept_resume = True
        self._server: Server | None = None
        self.url = ""

    async def __aenter__(self) -> FakeServer:
        self._server = await serve(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/ws"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def pings(self) -> int:
        """How many pings arrived."""
        return sum(1 for r in self.requests if r.get("type") == "ping")

    async def event(self, name: str, data: dict[str, Any]) -> None:
        """Send an event to every open connection."""
        frame = json.dumps({"type": "event", "event": name, "data": data})
        for ws in list(self.connections):
            with contextlib.suppress(Exception):
                await ws.send(frame)

    def drop(self) -> None:
        """Abort every connection at the TCP level (a network loss, no close frame)."""
        for ws in list(self.connections):
            ws.transport.abort()

    async def _handle(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        authed = False
        try:
            async for raw in ws:
                msg = json.loads(raw)
                self.requests.append(msg)
                req_id, kind, data = msg.get("id"), msg.get("type"), msg.get("data") or {}
                if kind == "hello":
                    self.hellos.append(data)
                    if data.get("ticket") != "good":
                        await self._error(ws, req_id, "ticket_bad_signature", "bad ticket")
                        await ws.close(4401)
                        return
                    resumed = bool(data.get("resume"))
                    if resumed and (not self.accept_resume or data["resume"] != self.session_token):
                        await self._error(ws, req_id, "unauthenticated", "unknown session")
                        await ws.close(4401)
                        return
                    authed = True
                    await self._reply(
                        ws,
                        req_id,
                        {
                            "protocol": 1,
                            "user_id": "alice",
                            "app_id": "app_1",
                            "session": self.session_token,
                            "heartbeat_interval_s": self.heartbeat_interval_s,
                            "resumed": resumed,
                        },
                    )
                elif not authed:
                    await self._error(ws, req_id, "unauthenticated", "hello first")
                elif kind == "ping":
                    await self._reply(ws, req_id, {"time": 1.0})
                elif kind in self.handlers:
                    asyncio.ensure_future(self._run_handler(ws, req_id, kind, data))
                else:
                    await self._error(ws, req_id, "unknown_type", f"unknown type {kind}")
        except Exception:
            pass
        finally:
            self.connections.remove(ws)

    async def _run_handler(
        self, ws: ServerConnection, req_id: Any, kind: str, data: dict[str, Any]
    ) -> None:
        try:
            result = self.handlers[kind](data)
            if asyncio.iscoroutine(result):
                result = await result
            await self._reply(ws, req_id, result)  # type: ignore[arg-type]
        except IlvbError as exc:
            await self._error(ws, req_id, exc.code, exc.message)

    async def _reply(self, ws: ServerConnection, req_id: Any, data: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):
            await ws.send(json.dumps({"id": req_id, "type": "response", "data": data}))

    async def _error(self, ws: ServerConnection, req_id: Any, code: str, message: str) -> None:
        with contextlib.suppress(Exception):
            error = {"code": code, "message": message}
            await ws.send(json.dumps({"id": req_id, "type": "error", "error": error}))
