"""A webhook receiver on loopback for the tests: verifies each delivery, records it, can go down.

``Receiver`` runs a tiny HTTP/1.1 server on ``asyncio.start_server`` (one request per
connection). :meth:`Receiver.down` closes the listening socket (deliveries get connection
refused), :meth:`Receiver.up` listens again on the same port. ``ThreadReceiver`` is the same
for tests whose own loop is busy (a subprocess server): it runs in a thread.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from ilvb.errors import IlvbError
from ilvb.webhooks.signing import verify_webhook


@dataclass
class Receiver:
    """Deliveries verified with ``secret``; ``events`` in arrival order, ``rejected`` count."""

    secret: str = ""
    delay_s: float = 0.0
    status: int = 200
    events: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0
    port: int = 0
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def ids(self) -> list[int]:
        return [int(e["id"]) for e in self.events]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            status = self.status
            if status == 200:
                try:
                    self.events.append(verify_webhook(self.secret, body, headers))
                except IlvbError:
                    self.rejected += 1
                    status = 401
            writer.write(
                f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode()
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


class ThreadReceiver:
    """A :class:`Receiver` on its own loop in a daemon thread."""

    def __init__(self, secret: str, delay_s: float = 0.0) -> None:
        self.receiver = Receiver(secret, delay_s)
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.receiver.up())
            ready.set()
            self.loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        assert ready.wait(10)

    @property
    def url(self) -> str:
        return self.receiver.url

    def events(self) -> list[dict[str, Any]]:
        """A copy of what arrived so far."""
        return asyncio.run_coroutine_threadsafe(self._copy(), self.loop).result(10)

    async def _copy(self) -> list[dict[str, Any]]:
        return json.loads(json.dumps(self.receiver.events))

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.receiver.down(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
