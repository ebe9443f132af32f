"""The signaling connection of the Python SDK (docs/protocol.md, version 1).

A :class:`Connection` owns one WebSocket to ``/ws``: it sends requests with fresh ids and
resolves each one's future from the matching ``response`` / ``error`` frame (errors are rebuilt
as typed :mod:`ilvb.errors` exceptions with :func:`ilvb.errors.error_from_dict`), sends a
heartbeat ``ping`` every ``heartbeat_interval_s``, and dispatches server events to an
:class:`~ilvb.client.events.EventHub`. When the socket drops without :meth:`close`, it reconnects
and sends ``hello`` with the session token (``resume``) until the disconnect window is over.
A request that gets no reply in time fails with ``timeout``; requests in flight at a drop or at
:meth:`Connection.close`, and those sent once the connection is closed (or cannot be resumed),
fail with ``unavailable`` — both are :class:`~ilvb.errors.Unavailable`, as in the Web SDK.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from ilvb.client.events import Event, EventHub
from ilvb.errors import IlvbError, InvalidArgument, Unavailable, error_from_dict

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1


class Connection:
    """One signaling session: request/response matching, heartbeats, events, resume.

    Build with :meth:`open`. ``events`` is the hub every server event is emitted on.
    """

    def __init__(
        self,
        url: str,
        ticket: str | None,
        events: EventHub,
        *,
        id_token: str | None = None,
        app_id: str | None = None,
        request_timeout_s: float = 15.0,
        resume_window_s: float = 30.0,
        max_message_bytes: int = 1 << 20,
    ) -> None:
        self.url = url
        self.ticket = ticket
        # Instead of a ticket: an OpenID Connect ID token for app ``app_id`` (docs/identity.md).
        self.id_token = id_token
        if (ticket is None) == (id_token is None) or (id_token is not None and not app_id):
            raise InvalidArgument(message="give a ticket, or an id_token with its app_id")
        self.events = events
        self.request_timeout_s = request_timeout_s
        self.resume_window_s = resume_window_s
        self.max_message_bytes = max_message_bytes
        self.user_id: str = ""
        self.app_id: str = app_id or ""
        self.session: str = ""
        self.heartbeat_interval_s: float = 10.0
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._closed = False
        self._connected = asyncio.Event()

    @classmethod
    async def open(
        cls, url: str, ticket: str | None, events: EventHub | None = None, **kw: Any
    ) -> Connection:
        """Connect, send ``hello`` and return the open connection (raises typed ticket errors)."""
        conn = cls(url, ticket, events or EventHub(), **kw)
        await conn._connect(resume=None)
        return conn

    @property
    def closed(self) -> bool:
        """True after :meth:`close` or once the session could not be resumed."""
        return self._closed

    async def request(
        self, type_: str, data: dict[str, Any] | None = None, *, timeout_s: float | None = None
    ) -> dict[str, Any]:
        """Send a request and return the response ``data``; raise the typed error on ``error``."""
        if self._closed:
            raise Unavailable(message="the connection is closed")
        if not self._connected.is_set():
            # Dropped: wait for the resume to finish (or fail) before sending.
            try:
                await asyncio.wait_for(self._connected.wait(), self.resume_window_s)
            except TimeoutError:
                raise Unavailable(message="signaling connection lost") from None
            if self._closed:
                raise Unavailable(message="the connection is closed")
        return await self._send_request(type_, data, timeout_s)

    async def _send_request(
        self, type_: str, data: dict[str, Any] | None, timeout_s: float | None
    ) -> dict[str, Any]:
        ws = self._ws
        if ws is None:
            raise Unavailable(message="signaling connection lost")
        wait_s = timeout_s or self.request_timeout_s
        req_id = next(self._ids)
        frame: dict[str, Any] = {"id": req_id, "type": type_}
        if data is not None:
            frame["data"] = data
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = future
        try:
            try:
                await ws.send(json.dumps(frame))
            except ConnectionClosed:
                raise Unavailable(message="signaling connection lost") from None
            return await asyncio.wait_for(future, wait_s)
        except TimeoutError:
            raise Unavailable("timeout", f"{type_}: no reply within {wait_s:g} s") from None
        finally:
            self._pending.pop(req_id, None)

    async def close(self) -> None:
        """Close the socket for good (no resume). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._connected.set()  # wake waiters so they see the closed state
        for task in (self._heartbeat, self._reader):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        self._fail_pending(Unavailable(message="the connection was closed"))
        self.events.emit(Event("connection.closed", {"error": None}))

    async def drop(self, *, resume: bool = True) -> None:
        """Break the socket as a network loss would (for tests and apps simulating one).

        With ``resume`` the connection comes back with the session token, as after a real drop;
        without it the socket simply stays gone (the server's disconnect window then runs out).
        """
        if not resume:
            self._closed = True
            for task in (self._heartbeat, self._reader):
                if task is not None:
                    task.cancel()
            self._fail_pending(Unavailable(message="signaling connection lost"))
        if self._ws is not None:
            self._ws.transport.abort()
        if not resume:
            self.events.emit(Event("connection.closed", {"error": None}))

    # -- internals --------------------------------------------------------------------------

    async def _connect(self, resume: str | None) -> None:
        try:
            ws = await connect(self.url, max_size=self.max_message_bytes, open_timeout=10)
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            raise Unavailable(message=f"cannot connect to {self.url}: {exc}") from exc
        self._ws = ws
        self._reader = asyncio.ensure_future(self._read_loop(ws))
        hello: dict[str, Any] = {
            "protocol": PROTOCOL_VERSION,
            "platform": "python",  # selects this member's quality profile
        }
        if self.id_token is not None:
            hello.update(app_id=self.app_id, id_token=self.id_token)
        else:
            hello["ticket"] = self.ticket
        if resume:
            hello["resume"] = resume
        try:
            reply = await self._send_request("hello", hello, None)
        except IlvbError:
            self._reader.cancel()
            with contextlib.suppress(Exception):
                await ws.close()
            raise
        self.user_id = str(reply.get("user_id", ""))
        self.app_id = str(reply.get("app_id", ""))
        self.session = str(reply.get("session", ""))
        self.heartbeat_interval_s = float(reply.get("heartbeat_interval_s", 10.0))
        self._connected.set()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        self._heartbeat = asyncio.ensure_future(self._heartbeat_loop(ws))
        if resume:
            self.events.emit(Event("connection.resumed", {"resumed": bool(reply.get("resumed"))}))

    async def _read_loop(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                self._handle_frame(raw)
        except ConnectionClosed:
            pass
        except asyncio.CancelledError:
            return
        if ws is self._ws and not self._closed:
            asyncio.ensure_future(self._on_dropped(ws))

    def _handle_frame(self, raw: str | bytes) -> None:
        try:
            msg = json.loads(raw)
        except ValueError:
            log.warning("signaling frame is not JSON: %.80r", raw)
            return
        if not isinstance(msg, dict):
            return
        kind = msg.get("type")
        if kind == "event":
            name = msg.get("event")
            data = msg.get("data")
            if name == "members.state" and isinstance(data, dict):
                # Batched member.state (large rooms): one event per member, as if unbatched.
                for state in data.get("members") or []:
                    if isinstance(state, dict):
                        self.events.emit(Event("member.state", state))
            elif isinstance(name, str):
                self.events.emit(Event(name, data if isinstance(data, dict) else {}))
            return
        future = self._pending.get(msg.get("id"))  # type: ignore[arg-type]
        if kind == "response":
            data = msg.get("data")
            if future is not None and not future.done():
                future.set_result(data if isinstance(data, dict) else {})
        elif kind == "error":
            body = msg.get("error")
            error = error_from_dict(body if isinstance(body, dict) else {})
            if future is not None and not future.done():
                future.set_exception(error)
            else:
                # An error for no request of ours (id null: a frame the server could not read).
                self.events.emit(Event("error", {"error": error}))

    async def _heartbeat_loop(self, ws: ClientConnection) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval_s)
            if ws is not self._ws or self._closed:
                return
            try:
                await self._send_request("ping", None, self.heartbeat_interval_s * 2)
            except IlvbError as exc:
                log.debug("heartbeat failed: %s", exc)
                if ws is self._ws:
                    ws.transport.abort()
                return

    async def _on_dropped(self, ws: ClientConnection) -> None:
        """The socket went away on its own: fail in-flight requests and resume the session."""
        self._connected.clear()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        self._fail_pending(Unavailable(message="signaling connection lost"))
        self.events.emit(Event("connection.lost", {}))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.resume_window_s
        delay = 0.2
        last_error: IlvbError | None = None
        while not self._closed and loop.time() < deadline:
            try:
                await self._connect(resume=self.session)
                return
            except Unavailable as exc:
                last_error = exc  # server not reachable yet: retry
            except IlvbError as exc:
                last_error = exc  # the server refused the resume: final
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
        if not self._closed:
            self._closed = True
            self._connected.set()
            self.events.emit(Event("connection.closed", {"error": last_error}))

    def _fail_pending(self, error: IlvbError) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()
