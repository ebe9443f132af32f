"""The HTTP listener's protocol: uvicorn's httptools protocol plus time-outs and a connection cap.

uvicorn closes idle kept-alive connections but has no time-out for a request that is being
received: a client that opens a connection and says nothing, or sends half a request line, half
the headers or half a body, would hold its connection (and a file descriptor) forever. This
protocol adds (docs/security.md, "HTTP"):

- a **header time-out**: the request line and all headers must arrive within
  ``header_timeout_s`` of the connection opening, or of the first byte of a later request on a
  kept-alive connection (a slow trickle does not reset it);
- a **body time-out**: the whole body must arrive within ``body_timeout_s`` of the headers;
- a **header size cap**: a request line + headers over ``max_header_bytes`` is answered
  ``431`` and closed (httptools/llhttp sets no limit: 50 MiB of headers were all kept);
- a **connection cap**: past ``max_connections`` open connections (HTTP and WebSocket), a new
  one is answered ``503`` and closed at once.

A time-out answers ``408`` (if no response was started) and closes the connection.
:func:`uvicorn_config` builds the uvicorn settings ``ilvb serve`` runs with.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ilvb.config import ServerSettings
from ilvb.errors import HeadersTooLarge, IlvbError, RequestTimeout, Unavailable

log = logging.getLogger(__name__)

# File descriptors kept for the server's own use (database, media sockets, logs) when the cap is
# derived from the open-file limit.
FD_RESERVE = 100
# uvicorn buffers a WebSocket message up to this many times the signaling frame limit before it
# closes the connection (1009); frames between the limit and this get the protocol's
# `message_too_large` reply and the connection goes on.
WS_MAX_SIZE_FACTOR = 2

def _error_reply(error: IlvbError) -> bytes:
    """A complete HTTP/1.1 error response that closes the connection."""
    body = json.dumps({"error": error.to_dict()}).encode()
    status = HTTPStatus(error.http_status)
    return (
        f"HTTP/1.1 {status.value} {status.phrase}\r\ncontent-type: application/json\r\n"
        f"connection: close\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode() + body


TOO_MANY_CONNECTIONS = _error_reply(
    Unavailable(message="too many open connections, try again later")
)
HEADERS_TOO_LARGE = _error_reply(
    HeadersTooLarge(message="the request line and headers are too large")
)
REQUEST_TIMEOUT = _error_reply(
    RequestTimeout(message="the request was not received in time")
)


@dataclass(frozen=True)
class HttpLimits:
    """The listener's time-outs (seconds) and connection cap."""

    header_timeout_s: float
    body_timeout_s: float
    max_connections: int
    max_header_bytes: int = 64 * 1024

    @classmethod
    def of(cls, server: ServerSettings) -> HttpLimits:
        """From the settings; the cap is clamped to the open-file limit less a reserve."""
        return cls(
            header_timeout_s=server.http_header_timeout_s,
            body_timeout_s=server.http_body_timeout_s,
            max_connections=effective_max_connections(server.max_connections),
            max_header_bytes=server.max_header_bytes,
        )


def effective_max_connections(configured: int) -> int:
    """``configured``, but never more than the soft open-file limit less :data:`FD_RESERVE`."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    return max(1, min(configured, soft - FD_RESERVE))


def guarded_protocol(limits: HttpLimits) -> type[HttpToolsProtocol]:
    """An httptools protocol class bound to ``limits`` (uvicorn instantiates it per connection)."""

    class Bound(GuardedHttpProtocol):
        pass

    Bound.limits = limits
    return Bound


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header/body time-outs and a connection cap."""

    limits: HttpLimits = HttpLimits(10.0, 30.0, 50_000)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        # Bytes received for the current request's line + headers (counted while in the head).
        self._in_head = True
        self._head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Refuse past the cap; otherwise the first request's headers must come in time."""
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            log.warning("refused a connection: %d open", len(self.connections) - 1)
            transport.write(TOO_MANY_CONNECTIONS)
            transport.close()
            return
        self._arm(self.limits.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the timer."""
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Parse (uvicorn), then refuse a head that grew past the cap.

        Checked after the parser ran, so a chunk that ends the head and carries body bytes is
        not counted against it; a head is held at most to the cap plus one read.
        """
        counting = self._in_head
        if counting:
            self._head_bytes += len(data)
        super().data_received(data)
        if counting and self._in_head and self._head_bytes > self.limits.max_header_bytes:
            if not self.transport.is_closing():
                self._disarm()
                self.transport.write(HEADERS_TOO_LARGE)
                self.transport.close()

    def on_message_begin(self) -> None:
        """A request starts: its headers must arrive within the header time-out."""
        super().on_message_begin()
        if self._deadline is None:
            self._arm(self.limits.header_timeout_s)

    def on_headers_complete(self) -> None:
        """Headers in: now the body must arrive within the body time-out."""
        self._in_head = False
        self._arm(self.limits.body_timeout_s)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        """The whole request is in: no time-out until the next one starts."""
        self._disarm()
        self._in_head, self._head_bytes = True, 0
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        """The WebSocket protocol takes over the connection (its own heartbeat applies)."""
        self._disarm()
        super().handle_websocket_upgrade()

    def _arm(self, delay: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(delay, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is None or not self.cycle.response_started:
            self.transport.write(REQUEST_TIMEOUT)
        if self.cycle is not None:
            self.cycle.keep_alive = False
        self.transport.close()


def uvicorn_config(app: Any, server: ServerSettings, *, log_level: str) -> uvicorn.Config:
    """The uvicorn settings ``ilvb serve`` runs with (time-outs, caps, WebSocket size)."""
    limits = HttpLimits.of(server)
    return uvicorn.Config(
        app,
        host=server.host,
        port=server.port,
        log_level=log_level,
        lifespan="on",
        proxy_headers=False,
        http=guarded_protocol(limits),
        timeout_keep_alive=server.http_keep_alive_timeout_s,  # type: ignore[arg-type]
        # A frame over this is refused by uvicorn before it is buffered (close 1009).
        ws_max_size=WS_MAX_SIZE_FACTOR * server.ws_max_message_bytes,
        # Room events are one identical frame fanned out to every member; compressing it once
        # per connection was the largest single cost of a join storm (py-spy: 27 % of the
        # server's CPU in PerMessageDeflate.encode at 3,000 members). Signaling frames are small.
        ws_per_message_deflate=False,
        # Liveness is the protocol's own heartbeat (docs/protocol.md); uvicorn's extra
        # WebSocket pings queue behind a busy member's frames and cut it off after 20 s.
        ws_ping_interval=None,
    )
