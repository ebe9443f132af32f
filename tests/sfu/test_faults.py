"""FaultLog: the first failure of each kind is logged (with its traceback), the rest counted and
summarised at most once per interval; the worker's timer isolates each object's tick."""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import Any

import pytest

from ilvb.sfu.faults import FaultLog
from ilvb.sfu.worker import Worker, WorkerConfig


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_one_traceback_per_kind_then_counts_and_rate_limited_summaries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    faults = FaultLog(logging.getLogger("ilvb.sfu.test"), interval_s=10.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="ilvb.sfu.test"):
        for i in range(1000):
            clock.t = i * 0.1  # 100 s of a failure every 100 ms
            faults.failed("router.slow_tick", ValueError("boom"), "router r1")
            faults.dropped("stun.malformed", "STUN datagram from 127.0.0.1:9 dropped")
    assert faults.counts == {"router.slow_tick": 1000, "stun.malformed": 1000}
    assert faults.total == 2000
    with_traceback = [r for r in caplog.records if r.exc_info]
    assert len(with_traceback) == 1 and "router r1" in with_traceback[0].getMessage()
    # 2 first lines + one summary per 10 s of the 100 s
    assert 2 + 8 <= len(caplog.records) <= 2 + 10, [r.getMessage() for r in caplog.records]
    summary = caplog.records[-1].getMessage()
    assert "router.slow_tick" in summary and "stun.malformed" in summary


class FailingRouter:
    room_id = "rm_bad"

    def tick(self, now: float) -> None:
        raise RuntimeError("tick")

    def slow_tick(self, now: float, send_reports: bool) -> None:
        raise RuntimeError("slow")

    def close(self) -> None:
        pass


class CountingRouter:
    room_id = "rm_good"

    def __init__(self) -> None:
        self.ticks = self.slow_ticks = 0
        self.third_slow_tick = asyncio.Event()

    def tick(self, now: float) -> None:
        self.ticks += 1

    def slow_tick(self, now: float, send_reports: bool) -> None:
        self.slow_ticks += 1
        if self.slow_ticks >= 3:
            self.third_slow_tick.set()

    def close(self) -> None:
        pass


async def test_a_failing_router_does_not_stop_the_ticks_of_the_routers_after_it() -> None:
    worker = Worker(WorkerConfig(), lambda room, name, payload: None)
    await worker.start()
    try:
        good = CountingRouter()
        worker.routers["rm_bad"] = FailingRouter()  # type: ignore[assignment]
        worker.routers["rm_good"] = good  # type: ignore[assignment]
        await asyncio.wait_for(good.third_slow_tick.wait(), 10)
        assert good.ticks >= 3
        counts = worker.stats()["faults"]
        assert counts["router.tick"] >= 3 and counts["router.slow_tick"] >= 3
    finally:
        await worker.close()


class ItemConsumer:
    """A consumer that hands the C fast path one item per packet."""

    def send(self, data: bytes, view: Any, now: float, items: list[Any] | None = None) -> None:
        assert items is not None
        items.append(("ctx", ("127.0.0.1", 9), 96, 1, 1, 1))


def test_a_failing_fast_path_is_counted_per_packet_but_logged_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from ilvb.sfu import fastpath, producer
    from ilvb.sfu.rtp.packet import parse_rtp

    def broken(*args: Any) -> tuple[int, int]:
        raise fastpath.Error("bad packet")

    monkeypatch.setattr(fastpath, "forward", broken)
    monkeypatch.setattr(producer, "_faults", FaultLog(logging.getLogger("ilvb.sfu.producer")))
    p = producer.Producer(
        "alice", "microphone", "audio", "opus", 111, 48000, 7, "0", None, fast_fd=3
    )  # type: ignore[arg-type]
    p.consumers.append(ItemConsumer())  # type: ignore[arg-type]
    packet = struct.pack("!BBHII", 0x80, 111, 1, 960, 7) + b"\xfc" * 40
    view = parse_rtp(packet)
    assert view is not None
    with caplog.at_level(logging.INFO, logger="ilvb.sfu"):
        for i in range(500):
            p.on_rtp(packet, view, float(i))
    assert p.fast_send_failed == 500
    assert len(caplog.records) == 1 and caplog.records[0].exc_info


def test_a_slot_whose_answer_refused_the_codec_is_counted_not_logged_per_reassignment(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from ilvb.sfu.api import Subscription
    from tests.sfu.test_router import REMOTE, Room, addr, audio_track, connect, level_ext, rtp

    room = Room()
    sender = room.publish("s0", audio_track(7000))
    room.router.offer_receive("deaf", 2, 0)
    room.router.accept_receive_answer("deaf", REMOTE, {"a0": {}, "a1": {}})  # no opus anywhere
    recv = room.router.members["deaf"].recv
    assert recv is not None
    with caplog.at_level(logging.INFO, logger="ilvb.sfu"):
        connect(recv, addr("deaf"))
        for step in range(10):  # s0 speaks, so the selector picks it for the listener
            room.svc.t += 0.02
            sender.handle_srtp(rtp(109, step, 960 * step, 7000, b"opus", level_ext(1, 10)))
        room.router.slow_tick(room.svc.t, send_reports=False)
        for _ in range(50):  # every (re-)assignment tries the slot again
            room.router.set_subscription("deaf", Subscription())
    assert room.router.faults.counts["slot.codec_not_accepted"] >= 50
    assert len([r for r in caplog.records if "not accepted" in r.getMessage()]) == 1
