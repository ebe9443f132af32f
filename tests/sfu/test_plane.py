"""WorkerMediaPlane: placement on the least-loaded worker, typed errors across the channel,
worker death → one ``WorkerDied`` per router, clean shutdown of worker processes."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import pytest

from ilvb.config import MediaSettings
from ilvb.errors import InvalidArgument, InvalidState, NotFound, Unavailable
from ilvb.sfu.api import RouterEvent, RouterOptions, WorkerDied
from ilvb.sfu.plane import ProcessWorker, WorkerMediaPlane, create_media_plane
from tests.sfu.test_sdp import CHROME_OFFER


async def until(cond: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_in_process_plane_answers_offers_and_counts() -> None:
    plane = create_media_plane(MediaSettings(workers=0))
    await plane.start()
    await plane.start()  # idempotent
    try:
        router = await plane.open_router("r", lambda e: None)
        assert await plane.open_router("r", lambda e: None) is router
        answer = await router.negotiate_send("alice", CHROME_OFFER, {"1": "camera"})
        assert [p.source for p in answer.producers] == ["camera"]
        assert "a=ice-lite" in answer.sdp
        offer = await router.offer_receive("bob", 2, 1)
        assert offer.count("m=audio") == 2 and offer.count("m=video") == 1
        again = await router.offer_receive("bob", 2, 1)  # the same transport and slots
        ufrag = [ln for ln in offer.split("\r\n") if ln.startswith("a=ice-ufrag:")][0]
        ssrcs = [ln for ln in offer.split("\r\n") if ln.startswith("a=ssrc:")]
        assert ufrag in again and all(ln in again for ln in ssrcs)
        stats = await router.stats()
        assert (stats["transports"], stats["producers"]) == (2, 1)
        assert stats["worker_pid"] == os.getpid()
        with pytest.raises(InvalidArgument) as err:
            await router.negotiate_send("alice", "v=0\r\n", {})
        assert err.value.code == "invalid_sdp"
        with pytest.raises(InvalidState):
            await router.accept_receive_answer("carol", CHROME_OFFER)
        with pytest.raises(InvalidArgument):
            await router.offer_receive("dave", 0, 0)
        await router.remove_member("alice")
        await router.remove_member("bob")
        assert (await router.stats())["transports"] == 0
        await router.close()
        await router.close()
        with pytest.raises(Unavailable):
            await router.stats()
    finally:
        await plane.close()


async def test_rooms_go_to_the_least_loaded_worker_process_and_errors_cross_typed() -> None:
    plane = WorkerMediaPlane(MediaSettings(workers=2))
    await plane.start()
    try:
        pids = {w.pid for w in plane.workers}
        assert len(pids) == 2 and os.getpid() not in pids
        r1 = await plane.open_router("one", lambda e: None, RouterOptions(audio_slots=8))
        r2 = await plane.open_router("two", lambda e: None)
        assert r1.worker is not r2.worker
        # the options crossed the channel: the worker's selector picks 8 (the default 6)
        assert (await r1.stats())["audio_slots"] == 8 and (await r2.stats())["audio_slots"] == 6
        answer = await r1.negotiate_send("alice", CHROME_OFFER, {"0": "microphone", "1": "camera"})
        assert len(answer.producers) == 2
        stats = await r1.stats()
        assert stats["producers"] == 2 and stats["worker_pid"] == r1.worker.pid
        with pytest.raises(NotFound):  # raised in the worker, rebuilt here with its class
            await r1.worker.call("stats", "no-such-room")
    finally:
        procs = [w._proc for w in plane.workers if isinstance(w, ProcessWorker)]
        await plane.close()
    assert all(p is not None and p.returncode is not None for p in procs)


async def test_a_dead_worker_is_reported_once_to_each_of_its_routers() -> None:
    plane = WorkerMediaPlane(MediaSettings(workers=1))
    await plane.start()
    events: list[RouterEvent] = []
    other: list[RouterEvent] = []
    try:
        router = await plane.open_router("r", events.append)
        await plane.open_router("r2", other.append)
        await router.negotiate_send("alice", CHROME_OFFER, {"1": "camera"})
        await router.offer_receive("bob", 1, 1)
        worker = plane.workers[0]
        assert isinstance(worker, ProcessWorker)
        worker.kill_for_testing()
        await until(lambda: events and other, 10, "WorkerDied")
        await asyncio.sleep(0.2)  # nothing else follows (no transport_closed per member)
        assert events == [WorkerDied("channel closed", worker.pid)]
        assert other == [WorkerDied("channel closed", worker.pid)]
        with pytest.raises(Unavailable):
            await router.stats()  # the old handle is dead for good
        await until(
            lambda: plane.workers[0].alive and plane.workers[0].pid != worker.pid, 20, "respawn"
        )
        again = await plane.open_router("r", lambda e: None)  # the room is placed anew
        assert again is not router and (await again.stats())["worker_pid"] == plane.workers[0].pid
    finally:
        await plane.close()
