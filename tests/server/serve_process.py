"""A real ``ilvb serve`` subprocess with a known admin key, its RSS, and raw-socket HTTP helpers.

The HTTP hardening tests attack the server the way a remote client would: over TCP, with bodies
streamed by hand (chunked or with a declared length) and requests left half-sent.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from ilvb.auth.admin import hash_admin_key, new_admin_key
from ilvb.store.sql import SqlAppStore
from tests.test_cli import LISTENING, Server

MiB = 1024 * 1024


@dataclass
class Served:
    """A running ``ilvb serve``: its port, admin key and process."""

    server: Server
    port: int
    admin_key: str
    data_dir: Path

    @property
    def pid(self) -> int:
        return self.server.proc.pid

    def rss(self) -> int:
        """The server process's resident set size, bytes."""
        return int(psutil.Process(self.pid).memory_info().rss)


@contextmanager
def serve(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    """Start ``ilvb serve --no-media --port 0`` on ``data_dir`` with a pre-made admin key."""
    key = new_admin_key()

    async def bootstrap() -> None:
        store = SqlAppStore(f"sqlite+aiosqlite:///{data_dir / 'ilvb.db'}")
        await store.open()
        try:
            await store.set_admin_key_hash(hash_admin_key(key))
        finally:
            await store.close()

    asyncio.run(bootstrap())
    server = Server("--data-dir", str(data_dir), *args, env=env)
    try:
        port = int(server.wait_for(LISTENING).group(1))
        yield Served(server, port, key, data_dir)
    finally:
        server.stop()


class PeakRss:
    """Samples a process's RSS every 5 ms in a thread; ``peak`` is the largest seen."""

    def __init__(self, pid: int) -> None:
        self._proc = psutil.Process(pid)
        self.start = int(self._proc.memory_info().rss)
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sample()

    def _sample(self) -> None:
        self.peak = max(self.peak, int(self._proc.memory_info().rss))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(0.005)

    @property
    def growth(self) -> int:
        """Peak RSS minus RSS at the start, bytes."""
        return self.peak - self.start


@dataclass
class StreamResult:
    """What a streamed request got back."""

    status: int | None
    head: bytes
    body: bytes
    sent: int


def stream_request(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str],
    *,
    total: int,
    chunked: bool,
    chunk: int = 64 * 1024,
    timeout: float = 30.0,
) -> StreamResult:
    """Send ``total`` body bytes (chunked, or with ``Content-Length: total``) while reading.

    Stops sending as soon as a response arrived or the server closed the connection, as a real
    client would. Returns the parsed status line, raw head and body, and how much was sent.
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    framing = {"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": str(total)}
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in
             {**headers, **framing}.items())]  # fmt: skip
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    received = bytearray()
    done = threading.Event()

    def read() -> None:
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                received.extend(data)
                if _complete(received):
                    break
        except OSError:
            pass
        done.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    sent = 0
    payload = b"x" * chunk
    try:
        while sent < total and not done.is_set():
            part = payload[: min(chunk, total - sent)]
            sock.sendall(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
            sent += len(part)
        if chunked and not done.is_set():
            sock.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the server closed the connection: expected for a refused body
    reader.join(timeout)
    sock.close()
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else None
    return StreamResult(status, head, body, sent)


def _complete(data: bytearray) -> bool:
    head, sep, body = bytes(data).partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


def env_with(**settings: str) -> dict[str, str]:
    """The test environment plus ``ILVB_…`` settings."""
    return {**os.environ, **settings}
