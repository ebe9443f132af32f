"""A user-space UDP impairment proxy (``tc netem`` is not available here).

Clients send to the proxy's port instead of the SFU's; each client address gets its own upstream
socket, so the SFU sees one distinct remote address per client (as through a NAT). Packets can be
dropped with a seeded probability per direction; by default only SRTP/SRTCP (first byte
128–191, RFC 7983) are dropped, so ICE and DTLS set-up is not slowed down.

Point a client at the proxy by rewriting the candidates of the server's SDP before the client
applies it (:func:`rewrite_candidates`).
"""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass, field

Address = tuple[str, int]


@dataclass
class DirectionStats:
    """Counters for one direction."""

    forwarded: int = 0
    dropped: int = 0
    media_seen: int = 0


@dataclass
class ProxyStats:
    """``up``: client → SFU; ``down``: SFU → client."""

    up: DirectionStats = field(default_factory=DirectionStats)
    down: DirectionStats = field(default_factory=DirectionStats)


def is_srtp(data: bytes) -> bool:
    """RTP or RTCP (RFC 7983 demultiplexing: first byte 128–191)."""
    return bool(data) and 128 <= data[0] <= 191


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, proxy: UdpImpairmentProxy) -> None:
        self.proxy = proxy

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.proxy._from_client(data, addr)


class _Upstream(asyncio.DatagramProtocol):
    def __init__(self, proxy: UdpImpairmentProxy, client: Address) -> None:
        self.proxy = proxy
        self.client = client
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.proxy._from_upstream(data, self.client)


class UdpImpairmentProxy:
    """Relays UDP between clients and ``upstream``, dropping ``drop_up`` / ``drop_down`` of the
    media packets with a seeded random generator."""

    def __init__(
        self,
        upstream: Address,
        *,
        drop_up: float = 0.0,
        drop_down: float = 0.0,
        seed: int = 1,
        media_only: bool = True,
        host: str = "127.0.0.1",
    ) -> None:
        assert upstream[0].startswith("127.") or upstream[0] == "localhost", "loopback only"
        self.upstream = upstream
        self.drop_up = drop_up
        self.drop_down = drop_down
        self.media_only = media_only
        self.host = host
        self.stats = ProxyStats()
        self._rng = random.Random(seed)
        self._listener: asyncio.DatagramTransport | None = None
        self._upstreams: dict[Address, _Upstream] = {}
        self._pending: dict[Address, list[bytes]] = {}
        self.address: Address = (host, 0)

    async def start(self) -> Address:
        """Bind the listening socket; returns (host, port)."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Listener(self), local_addr=(self.host, 0)
        )
        self._listener = transport
        self.address = transport.get_extra_info("sockname")[:2]
        return self.address

    def close(self) -> None:
        """Close every socket. Idempotent."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for up in self._upstreams.values():
            if up.transport is not None:
                up.transport.close()
        self._upstreams.clear()

    def _drop(self, data: bytes, probability: float, stats: DirectionStats) -> bool:
        media = is_srtp(data)
        stats.media_seen += media
        if probability <= 0 or (self.media_only and not media):
            return False
        if self._rng.random() < probability:
            stats.dropped += 1
            return True
        return False

    def _from_client(self, data: bytes, client: Address) -> None:
        if self._drop(data, self.drop_up, self.stats.up):
            return
        up = self._upstreams.get(client)
        if up is None:
            self._pending.setdefault(client, []).append(data)
            if len(self._pending[client]) == 1:
                asyncio.ensure_future(self._open_upstream(client))
            return
        if up.transport is not None:
            up.transport.sendto(data, self.upstream)
            self.stats.up.forwarded += 1

    async def _open_upstream(self, client: Address) -> None:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_datagram_endpoint(
            lambda: _Upstream(self, client), local_addr=(self.host, 0)
        )
        self._upstreams[client] = protocol
        for data in self._pending.pop(client, []):
            assert protocol.transport is not None
            protocol.transport.sendto(data, self.upstream)
            self.stats.up.forwarded += 1

    def _from_upstream(self, data: bytes, client: Address) -> None:
        if self._drop(data, self.drop_down, self.stats.down):
            return
        if self._listener is not None:
            self._listener.sendto(data, client)
            self.stats.down.forwarded += 1


_CANDIDATE = re.compile(
    r"^(a=candidate:\S+ \d+ (?:udp|UDP) \d+ )(\S+) (\d+)( typ host.*)$", re.MULTILINE
)


def rewrite_candidates(sdp: str, address: Address) -> str:
    """Point every UDP host candidate (and the c=/m= defaults) of ``sdp`` at ``address``."""
    host, port = address
    sdp = _CANDIDATE.sub(lambda m: f"{m.group(1)}{host} {port}{m.group(4)}", sdp)
    sdp = re.sub(r"^c=IN IP4 \S+", f"c=IN IP4 {host}", sdp, flags=re.MULTILINE)
    sdp = re.sub(
        r"^(m=\w+ )(\d+)( )",
        lambda m: m.group(0) if m.group(2) == "0" else f"{m.group(1)}{port}{m.group(3)}",
        sdp,
        flags=re.MULTILINE,
    )
    return sdp
