"""The UDP impairment proxy drops what it is told to, and relays everything else both ways."""

from __future__ import annotations

import asyncio

from tests.client.polling import poll
from tests.integration.udp_proxy import UdpImpairmentProxy, rewrite_candidates


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


async def test_drops_about_the_asked_share_of_media_only() -> None:
    loop = asyncio.get_running_loop()
    echo_t, echo = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
    proxy = UdpImpairmentProxy(echo_t.get_extra_info("sockname")[:2], drop_up=0.1, seed=7)
    address = await proxy.start()
    sinks = []
    for _ in range(2):
        t, sink = await loop.create_datagram_endpoint(Sink, remote_addr=address)
        sinks.append((t, sink))
    try:
        (t1, s1), (t2, s2) = sinks
        t1.sendto(b"\x00\x01stun")  # not media: never dropped
        await poll(lambda: len(s1.got) == 1)
        for i in range(1000):
            t1.sendto(bytes([0x80, 96]) + i.to_bytes(2, "big"))
            if i % 20 == 0:
                await asyncio.sleep(0.002)  # stay under the kernel's socket buffers
        t2.sendto(b"\x00\x01stun")
        await poll(lambda: len(s2.got) == 1)
        await poll(lambda: proxy.stats.up.dropped + proxy.stats.up.forwarded == 1002)
        assert 60 <= proxy.stats.up.dropped <= 140
        assert s1.got[0] == b"echo:\x00\x01stun" and s2.got == [b"echo:\x00\x01stun"]
        await poll(lambda: len(s1.got) == 1 + 1000 - proxy.stats.up.dropped)
        assert len(echo.senders) == 2  # one upstream address per client
        assert proxy.stats.down.dropped == 0
    finally:
        proxy.close()
        echo_t.close()
        for t, _ in sinks:
            t.close()


def test_rewrite_candidates_points_at_the_proxy() -> None:
    sdp = (
        "v=0\r\nm=video 40000 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 127.0.0.1\r\n"
        "a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\n"
        "m=audio 0 UDP/TLS/RTP/SAVPF 111\r\n"
    )
    out = rewrite_candidates(sdp, ("127.0.0.1", 5555))
    assert "127.0.0.1 5555 typ host" in out
    assert "m=video 5555 " in out and "m=audio 0 " in out
    assert "40000" not in out
