"""Worker: one real UDP socket on loopback; STUN/DTLS/SRTP demultiplexed per transport; packets
from a publisher reach a subscriber rewritten; garbage is ignored; commands fail typed."""

from __future__ import annotations

import asyncio
import struct
import time
from typing import Any

import pytest

from ilvb.errors import InvalidArgument, NotFound
from ilvb.sfu.api import SlotChanged, Subscription
from ilvb.sfu.rtp.packet import parse_rtp
from ilvb.sfu.sdp import AcceptedTrack
from ilvb.sfu.worker import Worker, WorkerConfig, codec_modules
from tests.sfu.miniclient import MiniClient

VP8_KEY = b"\x10\x00\x9d\x01\x2a" + b"K" * 100


def rtp(seq: int, ts: int, ssrc: int, payload: bytes, pt: int = 120) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq, ts, ssrc) + payload


async def until(cond: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


@pytest.fixture
async def worker() -> Any:
    events: list[tuple[str, Any]] = []
    w = Worker(WorkerConfig(), lambda room, event: events.append((room, event)))
    await w.start()
    w.events = events  # type: ignore[attr-defined]
    yield w
    await w.close()


async def test_publisher_packets_reach_the_subscriber_through_the_shared_socket(
    worker: Worker,
) -> None:
    worker.command("open_router", ("r1",))
    pub, sub = MiniClient(), MiniClient()
    await pub.open()
    await sub.open()
    try:
        track = AcceptedTrack(
            "0", "video", "camera", "VP8", 120, 90000, None, "", (), 777, None, None
        )
        local, infos = worker.command(
            "negotiate_send", ("r1", "alice", pub.remote_params(), [track])
        )
        assert local.port == worker.port and infos[0].ssrc == 777
        await pub.connect(local)
        local_r, specs = worker.command("offer_receive", ("r1", "bob", 0, 1))
        assert local_r.ice_ufrag != local.ice_ufrag and local_r.port == local.port  # one socket
        await sub.connect(local_r)
        worker.command(
            "accept_receive_answer", ("r1", "bob", sub.remote_params(), {"v0": {"VP8": 98}})
        )
        worker.command(
            "set_subscription", ("r1", "bob", Subscription(views=(("alice", "camera"),)))
        )
        for seq in range(10, 20):
            pub.send_rtp(rtp(seq, seq * 3000, 777, VP8_KEY))
        await until(lambda: len(sub.rtp) >= 10, 5, "10 packets at the subscriber")
        views = [parse_rtp(p) for p in sub.rtp]
        assert {v.ssrc for v in views} == {specs[0].ssrc}  # type: ignore[union-attr]
        assert {v.payload_type for v in views} == {98}  # type: ignore[union-attr]
        assert [v.seq for v in views] == list(range(10, 20))  # type: ignore[union-attr]
        assert all(p[12:] == VP8_KEY for p in sub.rtp)
        # the publisher was asked for a keyframe when the consumer started
        await until(lambda: len(pub.rtcp) >= 1, 5, "a PLI at the publisher")
        stats = worker.command("stats", ("r1",))
        assert stats["packets_in"] == 10 and stats["packets_out"] >= 10
        assert worker.stats()["transports"] == 2
        assert worker.events and isinstance(worker.events[0][1], SlotChanged)  # type: ignore[attr-defined]
        worker.command("remove_member", ("r1", "bob"))
        worker.command("remove_member", ("r1", "alice"))
        assert worker.stats()["transports"] == 0 and worker.by_addr == {}
    finally:
        pub.close()
        sub.close()


async def test_garbage_datagrams_are_ignored(worker: Worker) -> None:
    import socket

    worker.command("open_router", ("r1",))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for data in (b"\x00", b"\x00\x01" + b"\x00" * 30, b"\x16" * 50, b"\x80" * 40, b"\xff" * 3):
            s.sendto(data, ("127.0.0.1", worker.port))
        await asyncio.sleep(0.2)
    finally:
        s.close()
    assert worker.stats()["transports"] == 0 and not worker.closed


async def test_commands_fail_with_typed_errors(worker: Worker) -> None:
    with pytest.raises(NotFound):
        worker.command("stats", ("nope",))
    with pytest.raises(InvalidArgument):
        worker.command("format_disk", ())


def test_this_module_set_has_a_codec_probe() -> None:
    # in the test process aiortc is loaded (the tests use it); the probe must see it
    import aiortc  # noqa: F401

    assert "aiortc" in codec_modules()


async def test_an_ipv6_bind_address_gets_an_ipv6_socket() -> None:
    import socket

    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    w = Worker(WorkerConfig(bind_ip="::1", announced_ip="::1"), lambda *a: None)
    try:
        await w.start()
    except OSError:
        pytest.skip("::1 not configured on this machine")
    try:
        assert w._sock is not None and w._sock.family == socket.AF_INET6
        w.command("open_router", ("r",))
        local, _ = w.command("offer_receive", ("r", "bob", 1, 0))
        assert local.ip == "::1" and local.port == w.port
    finally:
        await w.close()


async def test_an_announced_port_goes_into_the_candidates_instead_of_the_bound_port() -> None:
    w = Worker(WorkerConfig(announced_port=45678), lambda *a: None)
    await w.start()
    try:
        assert w.port != 45678 and w.announced_port == 45678
        w.command("open_router", ("r",))
        local, _ = w.command("offer_receive", ("r", "bob", 1, 0))
        assert local.port == 45678
    finally:
        await w.close()
    plain = Worker(WorkerConfig(), lambda *a: None)
    await plain.start()
    try:
        assert plain.announced_port == plain.port  # 0 = announce the bound port
    finally:
        await plain.close()
