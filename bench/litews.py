"""A minimal RFC 6455 WebSocket client for benchmarks: frames parsed in place, no task per frame.

Used by ``bench/join_storm.py --lite-client``; anything that needs thousands of cheap
signaling connections can use :func:`open_litews`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
from collections.abc import Callable
from urllib.parse import urlparse


class LiteWs(asyncio.Protocol):
    """A minimal RFC 6455 client (``--lite-client``): no task and no copy per incoming frame.

    The websockets client copies every payload twice and wakes a task per frame; with thousands
    of members each receiving the whole room's entries, that made the bench client, not the
    server, the bottleneck of a storm on a small machine. Frames are parsed in place in
    ``data_received`` and handed to ``on_text`` as spans of the buffer. Client frames carry a
    zero masking key (valid framing, no XOR). Server pings are answered.
    """

    def __init__(self, host: str, path: str) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.handshaken = False
        self.on_text: Callable[[bytearray, int, int], None] = lambda _b, _s, _e: None
        self.on_close: Callable[[], None] = lambda: None
        key = base64.b64encode(os.urandom(16)).decode()
        self._request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Send the upgrade request."""
        self.transport = transport  # type: ignore[assignment]
        transport.write(self._request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        """Finish the handshake, then parse every complete frame in the buffer."""
        buf = self.buf
        buf += data
        if not self.handshaken:
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                return
            status = bytes(buf[: buf.find(b"\r\n")])
            del buf[: head_end + 4]
            if status.split(b" ")[1:2] != [b"101"]:
                self.opened.set_exception(ConnectionError(status.decode(errors="replace")))
                assert self.transport is not None
                self.transport.close()
                return
            self.handshaken = True
            self.opened.set_result(None)
        pos, n = 0, len(buf)
        while n - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, head = b1 & 0x7F, 2
            if length == 126:
                if n - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if n - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            start = pos + head
            end = start + length
            if end > n:
                break
            opcode = b0 & 0x0F
            if opcode in (0x0, 0x1):  # text (ilvb never fragments; a continuation is counted too)
                self.on_text(buf, start, end)
            elif opcode == 0x9:  # ping -> pong
                self._send_frame(0xA, bytes(buf[start:end]))
            elif opcode == 0x8:  # close
                assert self.transport is not None
                self.transport.close()
            pos = end
        if pos:
            del buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        """Report the end (and fail a pending handshake)."""
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"connection lost: {exc}"))
        self.on_close()

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionError("connection closed")
        n = len(payload)
        if n < 126:
            header = bytes((0x80 | opcode, 0x80 | n))
        elif n < 65536:
            header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
        else:
            header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
        self.transport.write(header + b"\0\0\0\0" + payload)

    async def send(self, text: str) -> None:
        """Send a text frame (same call as the websockets client)."""
        self._send_frame(0x1, text.encode())

    async def close(self) -> None:
        """Close with 1000 and drop the socket."""
        with contextlib.suppress(ConnectionError):
            self._send_frame(0x8, (1000).to_bytes(2, "big"))
        if self.transport is not None:
            self.transport.close()


async def open_litews(ws_url: str, timeout_s: float = 60.0) -> LiteWs:
    """Connect to ``ws://host:port/path`` and finish the opening handshake."""
    url = urlparse(ws_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    loop = asyncio.get_running_loop()
    _transport, proto = await loop.create_connection(
        lambda: LiteWs(f"{host}:{port}", url.path or "/"), host, port
    )
    await asyncio.wait_for(proto.opened, timeout_s)
    return proto
