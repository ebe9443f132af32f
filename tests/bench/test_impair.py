"""The impairment relay: seeded loss rates, bursts, the delay distribution, reordering, the rate
cap, the blackhole, and relaying with one upstream address per client."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from bench.impair import (
    GilbertElliott,
    ImpairmentRelay,
    Link,
    LinkProfile,
    profile,
    rewrite_candidates,
)
from tests.client.polling import poll


def rtp(i: int, size: int = 12) -> bytes:
    """A fake RTP packet (first byte 0x80) carrying its index."""
    return bytes([0x80, 96]) + i.to_bytes(4, "big") + bytes(max(0, size - 6))


def index(data: bytes) -> int:
    return int.from_bytes(data[2:6], "big")


class Recorder:
    """Collects (arrival time, packet) from a Link."""

    def __init__(self) -> None:
        self.got: list[tuple[float, bytes]] = []

    def __call__(self, data: bytes) -> None:
        self.got.append((time.monotonic(), data))


async def test_random_loss_rate_is_the_asked_one_and_seeded() -> None:
    runs = []
    for seed in (5, 5, 6):
        rec = Recorder()
        link = Link(profile(0.30), rec, random.Random(seed))
        for i in range(10_000):
            link.send(rtp(i))
        assert link.stats.lost + link.stats.delivered == 10_000
        runs.append([index(d) for _, d in rec.got])
        assert 0.28 <= link.stats.lost / 10_000 <= 0.32
    assert runs[0] == runs[1] and runs[0] != runs[2]  # same seed, same losses


async def test_gilbert_elliott_loss_comes_in_bursts_of_the_asked_mean_length() -> None:
    ge = GilbertElliott.for_rate(0.20, mean_burst=4.0)
    assert ge.mean_loss == pytest.approx(0.20)
    rec = Recorder()
    link = Link(LinkProfile(burst=ge), rec, random.Random(3))
    n = 40_000
    for i in range(n):
        link.send(rtp(i))
    kept = {index(d) for _, d in rec.got}
    lost = [i not in kept for i in range(n)]
    bursts, run = [], 0
    for x in lost:
        if x:
            run += 1
        elif run:
            bursts.append(run)
            run = 0
    assert 0.18 <= sum(lost) / n <= 0.22
    assert 3.5 <= sum(bursts) / len(bursts) <= 4.5
    # Random loss at the same rate has mean runs of 1 / (1 - 0.2) = 1.25 packets.
    assert sum(bursts) / len(bursts) > 2.5


async def test_delay_is_base_plus_uniform_jitter_and_is_honoured_in_time() -> None:
    rec = Recorder()
    link = Link(profile(0.0, 40.0, delay_ms=20.0), rec, random.Random(1))
    sent: dict[int, float] = {}
    for i in range(400):
        sent[i] = time.monotonic()
        link.send(rtp(i))
        if i % 50 == 0:
            await asyncio.sleep(0.001)
    await poll(lambda: len(rec.got) == 400, timeout_s=5)
    d = link.stats.delays_ms
    assert min(d) >= 20.0 and max(d) <= 60.0
    assert 37.0 <= sum(d) / len(d) <= 43.0  # mean of 20 + U(0, 40)
    assert sum(1 for x in d if x < 40.0) / len(d) == pytest.approx(0.5, abs=0.08)
    late = [(t - sent[index(p)]) * 1000.0 for t, p in rec.got]
    assert min(late) >= 19.0  # never early (the event loop may only be late)


async def test_jitter_wider_than_the_packet_spacing_reorders() -> None:
    for jitter, expect_reorder in ((0.0, False), (50.0, True)):
        rec = Recorder()
        link = Link(profile(0.0, jitter, delay_ms=5.0), rec, random.Random(2))
        for i in range(100):
            link.send(rtp(i))
            await asyncio.sleep(0.001)
        await poll(lambda rec=rec: len(rec.got) == 100, timeout_s=5)
        order = [index(p) for _, p in rec.got]
        assert sorted(order) == list(range(100))
        assert (order != sorted(order)) is expect_reorder
        assert (link.stats.reordered > 0) is expect_reorder


async def test_rate_limit_caps_throughput_and_tail_drops_beyond_the_queue() -> None:
    rec = Recorder()
    rate = 1_000_000.0  # 1 Mbit/s: a 1000-byte packet takes 8 ms
    link = Link(LinkProfile(rate_bps=rate, queue_ms=400.0), rec, random.Random(1))
    t0 = time.monotonic()
    for i in range(100):  # 800 ms of traffic offered at once: about half fits the queue
        link.send(rtp(i, 1000))
    expected = 1 + int(400 / 8)
    assert link.stats.queue_dropped == 100 - expected
    await poll(lambda: len(rec.got) == expected, timeout_s=5)
    elapsed = rec.got[-1][0] - t0
    throughput = link.stats.bytes_delivered * 8 / elapsed
    assert throughput <= rate * 1.03
    assert throughput >= rate * 0.85  # the link is kept busy
    assert [index(p) for _, p in rec.got] == list(range(expected))  # FIFO


async def test_blackhole_drops_everything_until_switched_off() -> None:
    rec = Recorder()
    link = Link(profile(), rec, random.Random(1))
    link.blackhole = True
    link.send(b"\x00\x01stun")
    link.send(rtp(1))
    assert rec.got == [] and link.stats.blackholed == 2
    link.blackhole = False
    link.send(b"\x00\x01stun")
    link.send(rtp(2))
    assert len(rec.got) == 2


def test_profiles_refuse_impossible_figures() -> None:
    with pytest.raises(ValueError):
        LinkProfile(loss=1.5)
    with pytest.raises(ValueError):
        LinkProfile(jitter_ms=-1)
    with pytest.raises(ValueError):
        GilbertElliott.for_rate(0.2, mean_burst=0.5)
    assert profile(0.3, burst=3).burst is not None and profile(0.3).loss == 0.3


class Echo(asyncio.DatagramProtocol):
    """Upstream: answers each datagram with ``b"echo:" + data`` and records senders."""

    def __init__(self) -> None:
        self.senders: set[tuple[str, int]] = set()
        self.received = 0

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:  # type: ignore[no-untyped-def]
        self.senders.add(addr)
        self.received += 1
        self.transport.sendto(b"echo:" + data, addr)


class Sink(asyncio.DatagramProtocol):
    """Client side: collects replies."""

    def __init__(self) -> None:
        self.got: list[bytes] = []

    def datagram_received(self, data: bytes, addr) -> None:  # type: ignore[no-untyped-def]
        self.got.append(data)


async def test_relay_impairs_media_only_with_one_upstream_per_client() -> None:
    loop = asyncio.get_running_loop()
    echo_t, echo = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
    relay = ImpairmentRelay(echo_t.get_extra_info("sockname")[:2], up=profile(0.1), seed=7)
    address = await relay.start()
    sinks = []
    for _ in range(2):
        t, sink = await loop.create_datagram_endpoint(Sink, remote_addr=address)
        sinks.append((t, sink))
    try:
        (t1, s1), (t2, s2) = sinks
        t1.sendto(b"\x00\x01stun")  # not media: never dropped
        await poll(lambda: len(s1.got) == 1)
        for i in range(1000):
            t1.sendto(rtp(i))
            if i % 20 == 0:
                await asyncio.sleep(0.002)  # stay under the kernel's socket buffers
        t2.sendto(b"\x00\x01stun")
        await poll(lambda: len(s2.got) == 1)
        up = relay.stats("up")
        await poll(lambda: relay.stats("up").received == 1002)
        up = relay.stats("up")
        assert up.impaired_seen == 1000 and 60 <= up.lost <= 140
        assert s1.got[0] == b"echo:\x00\x01stun" and s2.got == [b"echo:\x00\x01stun"]
        await poll(lambda: len(s1.got) == 1 + 1000 - relay.stats("up").lost)
        assert len(echo.senders) == 2  # one upstream address per client
        assert relay.stats("down").dropped == 0
        relay.set_blackhole(True)
        t2.sendto(b"\x00\x01stun")
        await poll(lambda: relay.stats("up").blackholed == 1)
        relay.set_blackhole(False)
        t2.sendto(b"\x00\x01stun")
        await poll(lambda: len(s2.got) == 2)
    finally:
        relay.close()
        echo_t.close()
        for t, _ in sinks:
            t.close()


async def test_rebind_gives_each_flow_a_new_upstream_port_and_keeps_relaying() -> None:
    loop = asyncio.get_running_loop()
    echo_t, echo = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
    relay = ImpairmentRelay(echo_t.get_extra_info("sockname")[:2], seed=1)
    address = await relay.start()
    t, sink = await loop.create_datagram_endpoint(Sink, remote_addr=address)
    try:
        t.sendto(b"\x00\x01one")
        await poll(lambda: len(sink.got) == 1)
        (before,) = relay.upstream_ports()
        await relay.rebind()
        (after,) = relay.upstream_ports()
        assert after != before
        t.sendto(b"\x00\x01two")
        await poll(lambda: len(sink.got) == 2)  # the reply to the new port comes back too
        assert {port for _, port in echo.senders} == {before, after}
    finally:
        relay.close()
        echo_t.close()
        t.close()


def test_rewrite_candidates_points_at_the_relay() -> None:
    sdp = (
        "v=0\r\nm=video 40000 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 127.0.0.1\r\n"
        "a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\n"
        "m=audio 0 UDP/TLS/RTP/SAVPF 111\r\n"
    )
    out = rewrite_candidates(sdp, ("127.0.0.1", 5555))
    assert "127.0.0.1 5555 typ host" in out
    assert "m=video 5555 " in out and "m=audio 0 " in out
    assert "40000" not in out
