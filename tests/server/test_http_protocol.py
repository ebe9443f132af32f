"""The listener's time-outs and connection cap against a real ``ilvb serve`` (short settings).

A silent TCP connection, a half-sent request line or header block (also one trickled byte by
byte), a half-sent body and an idle kept-alive connection are each closed by the server within
their configured time-out; a WebSocket outlives them all; past the connection cap a new
connection gets 503 at once.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets

from tests.server.serve_process import MiB, PeakRss, Served, env_with, serve

HEADER_S, BODY_S, KEEP_ALIVE_S = 1.0, 2.0, 1.0
SLACK_S = 1.5  # scheduling slack on a loaded 2-core machine


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    env = env_with(
        ILVB_SERVER__HTTP_HEADER_TIMEOUT_S=str(HEADER_S),
        ILVB_SERVER__HTTP_BODY_TIMEOUT_S=str(BODY_S),
        ILVB_SERVER__HTTP_KEEP_ALIVE_TIMEOUT_S=str(KEEP_ALIVE_S),
    )
    with serve(tmp_path_factory.mktemp("data"), "--demo", env=env) as s:
        yield s


def _closed_after(sock: socket.socket, limit_s: float, trickle: bytes = b"") -> tuple[float, bytes]:
    """Seconds until the server closes ``sock`` (sending ``trickle`` a byte every 0.2 s)."""
    start = time.monotonic()
    sock.settimeout(0.2)
    received = bytearray()
    pending = bytearray(trickle)
    while time.monotonic() - start < limit_s:
        try:
            data = sock.recv(4096)
        except TimeoutError:
            if pending:
                try:
                    sock.send(bytes(pending[:1]))
                except OSError:
                    break
                del pending[:1]
            continue
        except ConnectionResetError:
            break
        if not data:
            break
        received.extend(data)
    else:
        raise AssertionError(f"still open after {limit_s} s; got {bytes(received)!r}")
    return time.monotonic() - start, bytes(received)


def _connect(served: Served) -> socket.socket:
    return socket.create_connection(("127.0.0.1", served.port), timeout=5)


def test_a_silent_connection_is_closed_after_the_header_timeout(served: Served) -> None:
    with _connect(served) as sock:
        elapsed, reply = _closed_after(sock, HEADER_S + SLACK_S)
    assert elapsed >= HEADER_S * 0.9
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert json.loads(reply.partition(b"\r\n\r\n")[2])["error"]["code"] == "request_timeout"


@pytest.mark.parametrize(
    "partial",
    [b"GET /heal", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Half: y"],
    ids=["half request line", "half headers"],
)
def test_a_half_sent_request_is_closed_after_the_header_timeout(
    served: Served, partial: bytes
) -> None:
    with _connect(served) as sock:
        sock.sendall(partial)
        elapsed, reply = _closed_after(sock, HEADER_S + SLACK_S)
    assert elapsed >= HEADER_S * 0.9
    assert reply.startswith(b"HTTP/1.1 408 ")


def test_trickled_headers_do_not_reset_the_header_timeout(served: Served) -> None:
    with _connect(served) as sock:
        sock.sendall(b"G")
        elapsed, reply = _closed_after(
            sock, HEADER_S + SLACK_S, trickle=b"ET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 100
        )
    assert reply.startswith(b"HTTP/1.1 408 ")


def test_a_half_sent_body_is_closed_after_the_body_timeout(served: Served) -> None:
    with _connect(served) as sock:
        sock.sendall(
            b"POST /demo/ticket HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"user": '
        )
        elapsed, reply = _closed_after(sock, BODY_S + SLACK_S)
    assert elapsed >= BODY_S * 0.9
    assert reply.startswith(b"HTTP/1.1 408 ")


def test_an_idle_kept_alive_connection_is_closed(served: Served) -> None:
    with _connect(served) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        elapsed, reply = _closed_after(sock, KEEP_ALIVE_S + SLACK_S)
    assert reply.startswith(b"HTTP/1.1 200 ")  # the request itself was answered
    assert elapsed >= KEEP_ALIVE_S * 0.9


def test_a_websocket_outlives_the_http_timeouts(served: Served) -> None:
    async def run() -> dict:
        async with websockets.connect(f"ws://127.0.0.1:{served.port}/ws") as ws:
            await asyncio.sleep(HEADER_S + BODY_S + 0.5)
            await ws.send(json.dumps({"id": 1, "type": "ping", "data": {}}))
            return json.loads(await asyncio.wait_for(ws.recv(), 5))

    reply = asyncio.run(run())
    assert reply["id"] == 1  # answered (an error: no hello yet), the socket is still open


def test_past_the_connection_cap_a_new_connection_gets_503(tmp_path: Path) -> None:
    env = env_with(ILVB_SERVER__MAX_CONNECTIONS="3", ILVB_SERVER__HTTP_HEADER_TIMEOUT_S="30")
    with serve(tmp_path, env=env) as s:
        held = [socket.create_connection(("127.0.0.1", s.port), timeout=5) for _ in range(3)]
        try:
            time.sleep(0.3)  # the server has accepted them
            with socket.create_connection(("127.0.0.1", s.port), timeout=5) as extra:
                elapsed, reply = _closed_after(extra, 3.0)
            assert reply.startswith(b"HTTP/1.1 503 ")
            assert json.loads(reply.partition(b"\r\n\r\n")[2])["error"]["code"] == "unavailable"
            assert elapsed < 1.0
        finally:
            for sock in held:
                sock.close()
        # Below the cap again: served normally.
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", s.port), timeout=5) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            _elapsed, reply = _closed_after(sock, 5.0)
        assert reply.startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize("size", [1 * MiB, 12 * MiB], ids=["1 MiB", "12 MiB"])
def test_an_oversized_websocket_frame_closes_the_connection_unbuffered(
    served: Served, size: int
) -> None:
    # The signaling limit is 64 KiB; uvicorn used to buffer frames up to 16 MiB before that
    # check. Now a frame over 2 x the limit is refused from its header (close 1009).
    async def run() -> int | None:
        async with websockets.connect(
            f"ws://127.0.0.1:{served.port}/ws", max_size=None, write_limit=2**26
        ) as ws:
            try:
                await ws.send("x" * size)
                await asyncio.wait_for(ws.recv(), 10)
            except websockets.ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None
            return None

    with PeakRss(served.pid) as rss:
        code = asyncio.run(run())
    assert code == 1009
    assert rss.growth < 4 * MiB, f"server RSS grew by {rss.growth / MiB:.1f} MiB"


def test_a_frame_just_over_the_signaling_limit_still_gets_the_protocol_error(
    served: Served,
) -> None:
    async def run() -> dict:
        async with websockets.connect(f"ws://127.0.0.1:{served.port}/ws") as ws:
            await ws.send("x" * (64 * 1024 + 10))
            return json.loads(await asyncio.wait_for(ws.recv(), 5))

    assert asyncio.run(run())["error"]["code"] == "message_too_large"


def test_an_endless_header_block_is_refused_at_the_cap(served: Served) -> None:
    with PeakRss(served.pid) as rss, _connect(served) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        sent = 0
        try:
            while sent < 50 * MiB:
                sock.sendall(b"X-Pad: " + b"a" * 1000 + b"\r\n")
                sent += 1009
        except OSError:
            pass  # closed by the server
        sock.settimeout(5)
        reply = sock.recv(4096)
    assert sent < 10 * MiB, "the server stopped reading long before 50 MiB"
    assert reply.startswith(b"HTTP/1.1 431 ")
    assert json.loads(reply.partition(b"\r\n\r\n")[2])["error"]["code"] == "headers_too_large"
    assert rss.growth < 4 * MiB, f"server RSS grew by {rss.growth / MiB:.1f} MiB"


def test_headers_under_the_cap_are_served(served: Served) -> None:
    with _connect(served) as sock:
        pad = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 1000) for i in range(50))  # ~50 KiB
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + pad + b"Connection: close\r\n\r\n")
        _elapsed, reply = _closed_after(sock, 5.0)
    assert reply.startswith(b"HTTP/1.1 200 ")


def test_the_connection_cap_never_exceeds_the_open_file_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ilvb.server import http_protocol

    monkeypatch.setattr(http_protocol.resource, "getrlimit", lambda _r: (1024, 4096))
    assert http_protocol.effective_max_connections(50_000) == 1024 - http_protocol.FD_RESERVE
    assert http_protocol.effective_max_connections(300) == 300
    infinity = http_protocol.resource.RLIM_INFINITY
    monkeypatch.setattr(http_protocol.resource, "getrlimit", lambda _r: (infinity, infinity))
    assert http_protocol.effective_max_connections(50_000) == 50_000
