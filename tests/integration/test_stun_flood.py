"""Crafted STUN against a real worker process: 5,000 datagrams of 28 bytes that aioice cannot
parse (struct.error) are counted drops, and the worker's log (its stderr) grows by a line, not by
a traceback per packet (3.8 MiB before)."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile

import pytest

from ilvb.config import MediaSettings
from ilvb.sfu.plane import WorkerMediaPlane
from tests.sfu.test_ice import crafted

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


async def malformed(plane: WorkerMediaPlane) -> int:
    stats = await plane.stats()
    return int(stats["workers"][0].get("faults", {}).get("stun.malformed", 0))


async def test_worker_process_counts_crafted_stun_and_logs_one_line() -> None:
    log = tempfile.TemporaryFile()
    saved = os.dup(2)
    os.dup2(log.fileno(), 2)  # the worker process inherits this stderr
    try:
        plane = WorkerMediaPlane(MediaSettings(workers=1))
        await plane.start()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        port = plane.workers[0].port
        assert plane.workers[0].pid != os.getpid()
        start = log.seek(0, os.SEEK_END)
        sent = 0
        while sent < 5000:
            for _ in range(100):  # bursts the socket buffer holds
                client.sendto(crafted(sent), ("127.0.0.1", port))
                sent += 1
            for _ in range(500):  # poll the worker's counter (over its channel) for 5 s
                if await malformed(plane) >= sent:
                    break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError(f"the worker counted {await malformed(plane)} of {sent}")
        assert await malformed(plane) == 5000
        grown = log.seek(0, os.SEEK_END) - start
        log.seek(start)
        text = log.read().decode(errors="replace")
        assert grown < 1024 and len(text.splitlines()) <= 3, text
        assert "Traceback" not in text and "stun.malformed" in text
    finally:
        client.close()
        await plane.close()
        log.close()
