"""A test client for the signaling protocol over starlette's TestClient WebSocket.

``Peer.request`` sends a request and reads frames until its reply, keeping every event seen
(in ``events``) and every raw frame (in ``frames``) so tests can scan what a client received.
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from typing import Any

from starlette.testclient import WebSocketTestSession

from ilvb.errors import IlvbError, error_from_dict


class Peer:
    """One signaling connection."""

    def __init__(self, ws: WebSocketTestSession, name: str = "") -> None:
        self.ws = ws
        self.name = name
        self.frames: list[str] = []
        self.events: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._unread: deque[dict[str, Any]] = deque()  # events not yet taken by next_event

    def send_raw(self, text: str) -> None:
        """Send a text frame as is."""
        self.ws.send_text(text)

    def recv(self) -> dict[str, Any]:
        """The next frame, parsed; events are also appended to ``events``."""
        text = self.ws.receive_text()
        self.frames.append(text)
        frame = json.loads(text)
        if frame.get("type") == "event":
            self.events.append(frame)
            self._unread.append(frame)
        return frame  # type: ignore[no-any-return]

    def reply_to(self, request_id: Any) -> dict[str, Any]:
        """Read until the response or error for ``request_id``."""
        while True:
            frame = self.recv()
            if frame.get("type") in ("response", "error") and frame.get("id") == request_id:
                return frame

    def call(self, kind: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a request and return its whole reply frame (response or error)."""
        request_id = next(self._ids)
        body: dict[str, Any] = {"id": request_id, "type": kind}
        if data is not None:
            body["data"] = data
        self.ws.send_text(json.dumps(body))
        return self.reply_to(request_id)

    def request(self, kind: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a request; return the response data or raise the typed error."""
        frame = self.call(kind, data)
        if frame["type"] == "error":
            raise error_from_dict(frame["error"])
        return frame["data"]  # type: ignore[no-any-return]

    def error(self, kind: str, data: dict[str, Any] | None = None) -> IlvbError:
        """Send a request that must fail; return its error."""
        frame = self.call(kind, data)
        assert frame["type"] == "error", f"expected an error, got {frame}"
        return error_from_dict(frame["error"])

    def hello(self, ticket: str, **extra: Any) -> dict[str, Any]:
        """The handshake."""
        return self.request("hello", {"protocol": 1, "ticket": ticket, **extra})

    def sync(self) -> None:
        """A ping round trip: every event sent before it has been read."""
        self.request("ping")

    def events_named(self, name: str) -> list[dict[str, Any]]:
        """Data of every event ``name`` seen so far."""
        return [e["data"] for e in self.events if e["event"] == name]

    def next_event(self, name: str, limit: int = 1000) -> dict[str, Any]:
        """The next event ``name`` not yet taken by this method (skipping other events),
        reading more frames when needed."""
        for _ in range(limit):
            while self._unread:
                frame = self._unread.popleft()
                if frame["event"] == name:
                    return frame["data"]  # type: ignore[no-any-return]
            self.recv()
        raise AssertionError(f"no {name} event within {limit} frames")
