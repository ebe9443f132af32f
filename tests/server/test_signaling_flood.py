"""A client that sends without reading is held, then cut (4429), within the queued-bytes bound.

Runs a real ``ilvb serve`` subprocess and watches its RSS with psutil: 100 members with long
user ids make each ``room.members {limit: 500}`` reply ~35 KB; the attacker sends 2,000 of them
and reads nothing (≈ 70 MB of replies if the server queued them all).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from pathlib import Path

import psutil
import pytest
import websockets

from ilvb.auth.tickets import sign_ticket
from tests.test_cli import LISTENING, Server

MEMBERS = 100
REQUESTS = 2_000
MAX_QUEUED_BYTES = 8 * 1024 * 1024  # the documented default of signaling.max_queued_bytes
PUSHBACK_TIMEOUT_S = 2.0


class RssWatch:
    """Samples a process's RSS every 20 ms in a thread; ``peak`` is the largest seen."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


async def _member(url: str, ticket: str) -> websockets.ClientConnection:
    ws = await websockets.connect(url, max_size=None)
    for i, (kind, data) in enumerate(
        [("hello", {"protocol": 1, "ticket": ticket}), ("room.enter", {"room": "big"})]
    ):
        await ws.send(json.dumps({"id": i, "type": kind, "data": data}))
        while True:
            frame = json.loads(await ws.recv())
            if frame.get("id") == i:
                assert frame["type"] == "response", frame
                break
    return ws


async def _flood(url: str, app_id: str, secret: str, pid: int) -> tuple[int, int, int, float]:
    members = await asyncio.gather(
        *(_member(url, sign_ticket(app_id, secret, f"{i:03d}" + "m" * 240)) for i in range(MEMBERS))
    )
    attacker = await _member(url, sign_ticket(app_id, secret, "attacker"))
    await asyncio.sleep(0.5)  # let the server settle after the joins
    base = psutil.Process(pid).memory_info().rss
    watch = RssWatch(pid)
    started = time.monotonic()
    frame = {"type": "room.members", "data": {"limit": 500}}
    for i in range(REQUESTS):
        # Sends go out while the server reads; once it pushes back they queue in our socket.
        try:
            await asyncio.wait_for(attacker.send(json.dumps({"id": 100 + i, **frame})), 0.2)
        except TimeoutError:
            break  # the server stopped reading: our send buffer is full
    # Read nothing until the server must have given up on us, then drain to the close.
    await asyncio.sleep(PUSHBACK_TIMEOUT_S + 2.0)
    replies = 0
    try:
        async with asyncio.timeout(30):
            async for _message in attacker:
                replies += 1
    except websockets.ConnectionClosed:
        pass
    peak = watch.stop()
    assert attacker.close_code is not None
    await asyncio.gather(*(ws.close() for ws in members))
    return attacker.close_code, peak - base, replies, time.monotonic() - started


def test_a_client_that_sends_without_reading_is_cut_off_within_the_byte_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "ILVB_SIGNALING__PUSHBACK_TIMEOUT_S": str(PUSHBACK_TIMEOUT_S),
        # The test is about queued bytes: give the flood enough request budget to show them.
        "ILVB_SIGNALING__CONNECTION_REQUESTS_PER_S": "100000",
        "ILVB_SIGNALING__CONNECTION_REQUEST_BURST": "100000",
        "ILVB_SIGNALING__USER_REQUESTS_PER_S": "100000",
        "ILVB_SIGNALING__USER_REQUEST_BURST": "100000",
        "ILVB_SIGNALING__CONNECTION_ENTER_BURST": "1000",
        "ILVB_SIGNALING__USER_ENTER_BURST": "1000",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    server = Server("--data-dir", str(tmp_path / "data"), "--demo")
    try:
        port = int(server.wait_for(LISTENING).group(1))
        app_id = server.wait_for(re.compile(r"^demo app id: (app_\w+)$")).group(1)
        secret = server.wait_for(re.compile(r"^demo app secret: (\S+)$")).group(1)
        code, growth, replies, took = asyncio.run(
            _flood(f"ws://127.0.0.1:{port}/ws", app_id, secret, server.proc.pid)
        )
    finally:
        server.stop()
    print(
        f"close {code}, RSS growth {growth / 2**20:.1f} MiB, {replies} replies read, {took:.1f} s"
    )
    assert code == 4429
    assert growth < MAX_QUEUED_BYTES
    assert replies < REQUESTS  # it was cut off, not served
