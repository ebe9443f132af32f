"""A user-space UDP impairment relay (``tc netem`` needs a kernel module; this needs nothing).

Clients send to the relay's port instead of the SFU's; each client address gets its own
upstream socket, so the SFU sees one distinct remote address per client (as through a NAT).
Each direction of each flow (``up``: client → SFU, ``down``: SFU → client) passes through a
:class:`Link` that applies, in this order:

1. **blackhole** — everything is dropped while it is on (switchable at run time: path loss;
   :meth:`ImpairmentRelay.rebind` then gives every flow a new upstream port, as a NAT that
   lost its mapping would);
2. **loss** — random (Bernoulli, ``loss``) or bursty (Gilbert–Elliott, ``burst``);
3. **rate limit** — a serializing bottleneck of ``rate_bps`` with a FIFO queue of at most
   ``queue_ms`` of waiting; a packet that would wait longer is tail-dropped;
4. **delay + jitter** — each packet leaves ``delay_ms + U(0, jitter_ms)`` after the queue,
   drawn independently per packet, so jitter larger than the packet spacing **reorders**.

By default only SRTP/SRTCP (first byte 128–191, RFC 7983) is impaired (``media_only``), so ICE
and DTLS set-up is not slowed; a blackhole drops everything. Every random draw comes from a
generator seeded with ``seed``, the flow's index and the direction, so a run is reproducible
for the same packet sequence.

It lives in ``bench`` because benchmarks (``bench/impairment.py``) and tests both use it, and
``tests`` may import ``bench`` but not the other way round. To put it between a client and the
SFU, either rewrite the server SDP's candidates (:func:`rewrite_candidates`, for the Python SDK
and aiortc) or start the SFU with ``media.announced_port`` set to the relay's port (Chromium).
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

Address = tuple[str, int]


def is_srtp(data: bytes) -> bool:
    """RTP or RTCP (RFC 7983 demultiplexing: first byte 128–191)."""
    return bool(data) and 128 <= data[0] <= 191


@dataclass(frozen=True)
class GilbertElliott:
    """Two-state bursty loss: in state Good a packet is lost with ``loss_good``, in Bad with
    ``loss_bad``; before each packet the state moves Good→Bad with ``p`` and Bad→Good with
    ``r``. Mean loss = (p·loss_bad + r·loss_good) / (p + r); mean Bad run = 1/r packets."""

    p: float
    r: float
    loss_good: float = 0.0
    loss_bad: float = 1.0

    @classmethod
    def for_rate(cls, loss: float, mean_burst: float) -> GilbertElliott:
        """Losses of mean rate ``loss`` in bursts of ``mean_burst`` packets (Good never loses,
        Bad always does)."""
        if not 0.0 < loss < 1.0 or mean_burst < 1.0:
            raise ValueError("need 0 < loss < 1 and mean_burst >= 1")
        r = 1.0 / mean_burst
        return cls(p=loss * r / (1.0 - loss), r=r)

    @property
    def mean_loss(self) -> float:
        """The long-run loss rate."""
        return (self.p * self.loss_bad + self.r * self.loss_good) / (self.p + self.r)


@dataclass(frozen=True)
class LinkProfile:
    """What one direction does to packets (all zero: a clean link)."""

    loss: float = 0.0  # random loss probability (ignored when burst is set)
    burst: GilbertElliott | None = None
    delay_ms: float = 0.0  # fixed one-way delay
    jitter_ms: float = 0.0  # extra delay U(0, jitter_ms), per packet (reorders)
    rate_bps: float = 0.0  # bottleneck rate; 0 = unlimited
    queue_ms: float = 200.0  # longest wait in the bottleneck's queue before tail drop

    def __post_init__(self) -> None:
        if not 0.0 <= self.loss <= 1.0:
            raise ValueError(f"loss {self.loss} is outside 0..1")
        if min(self.delay_ms, self.jitter_ms, self.rate_bps, self.queue_ms) < 0:
            raise ValueError("delay, jitter, rate and queue must be >= 0")

    @property
    def mean_loss(self) -> float:
        """The long-run loss rate of this profile (before queue drops)."""
        return self.burst.mean_loss if self.burst is not None else self.loss


CLEAN = LinkProfile()


@dataclass
class LinkStats:
    """Counters of one direction (``delays_ms`` holds the delay of each impaired packet
    delivered, queue wait included, up to ``MAX_SAMPLES``)."""

    received: int = 0  # packets that entered the link
    impaired_seen: int = 0  # of those, packets subject to impairment (media, by default)
    delivered: int = 0
    lost: int = 0  # random or burst loss
    queue_dropped: int = 0  # tail drops of the rate limiter
    blackholed: int = 0
    reordered: int = 0  # impaired packets delivered after one that entered the link later
    bytes_delivered: int = 0
    delays_ms: list[float] = field(default_factory=list)

    MAX_SAMPLES = 200_000

    @property
    def dropped(self) -> int:
        """Every drop, whatever the reason."""
        return self.lost + self.queue_dropped + self.blackholed

    def add(self, other: LinkStats) -> None:
        """Accumulate ``other`` into this one."""
        for name in (
            "received",
            "impaired_seen",
            "delivered",
            "lost",
            "queue_dropped",
            "blackholed",
            "reordered",
            "bytes_delivered",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        room = self.MAX_SAMPLES - len(self.delays_ms)
        self.delays_ms.extend(other.delays_ms[:room])


class Link:
    """One direction of one flow: applies a :class:`LinkProfile` and hands each surviving
    packet to ``deliver`` at its departure time (scheduled on the running event loop)."""

    def __init__(
        self,
        profile: LinkProfile,
        deliver: Callable[[bytes], None],
        rng: random.Random,
        media_only: bool = True,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.profile = profile
        self.blackhole = False
        self.media_only = media_only
        self.stats = LinkStats()
        self._deliver = deliver
        self._rng = rng
        self._bad = False  # Gilbert–Elliott state
        self._queue_free_at = 0.0  # when the bottleneck finishes its last packet (s)
        self._entered = 0  # order of entry, to count reordering
        self._last_out = -1  # entry number of the last packet delivered
        self._loop = asyncio.get_running_loop()
        self._clock = clock or self._loop.time

    def send(self, data: bytes) -> None:
        """A packet enters the link."""
        st = self.stats
        st.received += 1
        if self.blackhole:
            st.blackholed += 1
            return
        impaired = not self.media_only or is_srtp(data)
        prof = self.profile
        if not impaired or prof is CLEAN:
            self._out(data, None, None)
            return
        st.impaired_seen += 1
        # 2. loss
        if self._lose(prof):
            st.lost += 1
            return
        now = self._clock()
        depart = now
        # 3. bottleneck: serialize behind what is queued, tail-drop beyond queue_ms of waiting
        if prof.rate_bps > 0:
            start = max(now, self._queue_free_at)
            if (start - now) * 1000.0 > prof.queue_ms:
                st.queue_dropped += 1
                return
            self._queue_free_at = start + len(data) * 8.0 / prof.rate_bps
            depart = self._queue_free_at
        # 4. delay + jitter
        extra = prof.delay_ms
        if prof.jitter_ms > 0:
            extra += self._rng.uniform(0.0, prof.jitter_ms)
        depart += extra / 1000.0
        order = self._entered
        self._entered += 1
        delay_ms = (depart - now) * 1000.0
        if depart <= now:
            self._out(data, order, delay_ms)
        else:
            self._loop.call_at(self._loop.time() + (depart - now), self._out, data, order, delay_ms)

    def _lose(self, prof: LinkProfile) -> bool:
        ge = prof.burst
        if ge is None:
            return prof.loss > 0 and self._rng.random() < prof.loss
        if self._bad:
            if self._rng.random() < ge.r:
                self._bad = False
        elif self._rng.random() < ge.p:
            self._bad = True
        return self._rng.random() < (ge.loss_bad if self._bad else ge.loss_good)

    def _out(self, data: bytes, order: int | None, delay_ms: float | None) -> None:
        st = self.stats
        st.delivered += 1
        st.bytes_delivered += len(data)
        if order is not None and delay_ms is not None:  # an impaired packet
            if order < self._last_out:
                st.reordered += 1
            else:
                self._last_out = order
            if len(st.delays_ms) < st.MAX_SAMPLES:
                st.delays_ms.append(delay_ms)
        self._deliver(data)


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, relay: ImpairmentRelay) -> None:
        self.relay = relay

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.relay._from_client(data, addr[:2])


class _Upstream(asyncio.DatagramProtocol):
    def __init__(self, flow: Flow) -> None:
        self.flow = flow

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.flow.down.send(data)


class Flow:
    """One client's path through the relay: its upstream socket and a :class:`Link` per
    direction (``up``, ``down``); change ``flow.up.profile`` or ``flow.up.blackhole`` at run
    time to impair this client alone."""

    def __init__(self, relay: ImpairmentRelay, client: Address, index: int) -> None:
        self.client = client
        self.index = index
        self._relay = relay
        self._transport: asyncio.DatagramTransport | None = None
        self._pending: list[bytes] = []
        self.up = Link(
            relay.up_profile, self._to_upstream, relay._rng_for(index, 0), relay.media_only
        )
        self.down = Link(
            relay.down_profile, self._to_client, relay._rng_for(index, 1), relay.media_only
        )
        self.up.blackhole = relay.blackhole_up
        self.down.blackhole = relay.blackhole_down

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Upstream(self), local_addr=(self._relay.host, 0)
        )
        self._transport = transport
        for data in self._pending:
            transport.sendto(data, self._relay.upstream)
        self._pending.clear()

    async def rebind(self) -> None:
        """A new upstream socket (a new source port towards the SFU); the old one closes."""
        old = self._transport
        self._transport = None
        await self.open()
        if old is not None:
            old.close()

    def _to_upstream(self, data: bytes) -> None:
        if self._transport is None:
            self._pending.append(data)
        else:
            self._transport.sendto(data, self._relay.upstream)

    def _to_client(self, data: bytes) -> None:
        self._relay._send_to_client(data, self.client)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None


class ImpairmentRelay:
    """Relays UDP between clients and ``upstream`` (loopback only) through impaired links.

    ``up``/``down`` are the profiles every new flow starts with; :meth:`set_profiles` changes
    them for every flow at once, :meth:`set_blackhole` cuts or restores the path.
    """

    def __init__(
        self,
        upstream: Address,
        *,
        up: LinkProfile = CLEAN,
        down: LinkProfile = CLEAN,
        seed: int = 1,
        media_only: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if not (upstream[0].startswith("127.") or upstream[0] == "localhost"):
            raise ValueError("the relay forwards to loopback addresses only")
        self.upstream = upstream
        self.up_profile = up
        self.down_profile = down
        self.seed = seed
        self.media_only = media_only
        self.host = host
        self.address: Address = (host, port)
        self.flows: dict[Address, Flow] = {}
        self.blackhole_up = False
        self.blackhole_down = False
        self._listener: asyncio.DatagramTransport | None = None

    def _rng_for(self, index: int, direction: int) -> random.Random:
        return random.Random(self.seed * 1_000_003 + index * 2 + direction)

    async def start(self) -> Address:
        """Bind the listening socket; returns (host, port)."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Listener(self), local_addr=self.address
        )
        self._listener = transport
        self.address = transport.get_extra_info("sockname")[:2]
        return self.address

    async def __aenter__(self) -> ImpairmentRelay:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every socket. Idempotent."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for flow in self.flows.values():
            flow.close()
        self.flows.clear()

    def set_profiles(self, up: LinkProfile | None = None, down: LinkProfile | None = None) -> None:
        """New profiles for every flow (and for flows yet to come); None keeps a direction."""
        if up is not None:
            self.up_profile = up
        if down is not None:
            self.down_profile = down
        for flow in self.flows.values():
            flow.up.profile = self.up_profile
            flow.down.profile = self.down_profile

    def set_blackhole(self, up: bool, down: bool | None = None) -> None:
        """Drop everything (STUN and DTLS too) in ``up`` / ``down`` (default: same as up)."""
        self.blackhole_up = up
        self.blackhole_down = up if down is None else down
        for flow in self.flows.values():
            flow.up.blackhole = self.blackhole_up
            flow.down.blackhole = self.blackhole_down

    async def rebind(self) -> None:
        """Every flow gets a new upstream port (the SFU sees each client at a new address)."""
        for flow in list(self.flows.values()):
            await flow.rebind()

    def upstream_ports(self) -> list[int]:
        """The source port of each flow towards the SFU (what the SFU sees)."""
        return [
            int(f._transport.get_extra_info("sockname")[1])
            for f in self.flows.values()
            if f._transport is not None
        ]

    def stats(self, direction: str) -> LinkStats:
        """The counters of ``up`` or ``down``, summed over every flow."""
        total = LinkStats()
        for flow in self.flows.values():
            total.add(getattr(flow, direction).stats)
        return total

    def _from_client(self, data: bytes, client: Address) -> None:
        flow = self.flows.get(client)
        if flow is None:
            flow = self.flows[client] = Flow(self, client, len(self.flows))
            asyncio.ensure_future(flow.open())
        flow.up.send(data)

    def _send_to_client(self, data: bytes, client: Address) -> None:
        if self._listener is not None:
            self._listener.sendto(data, client)


def profile(
    loss: float = 0.0,
    jitter_ms: float = 0.0,
    *,
    delay_ms: float = 0.0,
    burst: float = 0.0,
    rate_kbps: float = 0.0,
    queue_ms: float = 200.0,
) -> LinkProfile:
    """Shorthand: ``profile(0.3, 800)`` = 30 % random loss and 0–800 ms jitter; ``burst=3``
    makes the loss Gilbert–Elliott with a mean burst of 3 packets."""
    ge = GilbertElliott.for_rate(loss, burst) if burst and loss > 0 else None
    return LinkProfile(
        loss=0.0 if ge else loss,
        burst=ge,
        delay_ms=delay_ms,
        jitter_ms=jitter_ms,
        rate_bps=rate_kbps * 1000.0,
        queue_ms=queue_ms,
    )


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
