"""Worker: one event loop, ONE UDP socket, the routers placed on it (mediasoup: Worker).

Every transport of every router shares the socket. Datagrams are demultiplexed as RFC 7983 says:
first byte 0..3 STUN (→ ICE-lite responder, by ufrag), 20..63 DTLS and 128..191 RTP/RTCP (→ the
transport that owns the source address). One timer drives DTLS retransmission, consent
freshness, NACKs, audio re-selection and sender reports.

Run in-process (``workers=0``: the media plane calls :meth:`Worker.command` directly) or as a
process: ``python -m ilvb.sfu.worker --fd N --config JSON`` serves the same commands over a
:class:`~ilvb.sfu.channel.Channel` on the inherited socket ``N`` and exits when it closes.
This module never imports aiortc or av: the worker constructs no decoder or encoder.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ilvb.errors import InvalidArgument, NotFound
from ilvb.sfu import fastpath
from ilvb.sfu.api import RouterEvent, RouterOptions
from ilvb.sfu.dtls import DtlsCertificate
from ilvb.sfu.faults import FaultLog
from ilvb.sfu.ice import IceLiteResponder
from ilvb.sfu.router import Router
from ilvb.sfu.traffic import as_dict
from ilvb.sfu.transport import Addr, WebRtcTransport

logger = logging.getLogger(__name__)

TICK_S = 0.02  # DTLS timers, NACKs
SLOW_TICK_S = 0.1  # audio selection (AudioSelector.poll), keyframe re-requests
SR_INTERVAL_S = 1.0  # RTCP sender reports

# on_event(room_id, event): an event of the router of that room
WorkerEventHandler = Callable[[str, RouterEvent], None]


@dataclass(frozen=True)
class WorkerConfig:
    """The part of MediaSettings a worker needs (picklable, JSON-able)."""

    bind_ip: str = "127.0.0.1"
    announced_ip: str = "127.0.0.1"
    announced_port: int = 0  # 0 = the bound port
    port: int = 0
    keyframe_interval_s: float = 1.0
    nack_cache_packets: int = 1024
    fastpath: bool = True  # forward through the C extension when it is built


def codec_modules() -> list[str]:
    """Modules that would mean this process can decode/encode (must stay empty in a worker)."""
    return sorted(
        m
        for m in sys.modules
        if m == "av" or m.startswith("av.") or m.startswith("aiortc.codecs") or m == "aiortc"
    )


class Worker:
    """The routers of one worker and the socket they share."""

    def __init__(self, config: WorkerConfig, on_event: WorkerEventHandler) -> None:
        self.config = config
        self.announced_ip = config.announced_ip
        self.port = config.port
        self.announced_port = config.announced_port  # set after bind when 0
        self.keyframe_interval_s = config.keyframe_interval_s
        self.nack_cache_packets = config.nack_cache_packets
        self.certificate = DtlsCertificate.generate()
        # failures of periodic work and dropped input, counted and logged without a storm
        self.faults = FaultLog(logger)
        self.ice = IceLiteResponder(self.faults)
        self.by_addr: dict[Addr, WebRtcTransport] = {}
        self.transports: set[WebRtcTransport] = set()
        self.routers: dict[str, Router] = {}
        self._on_event = on_event
        self._sock: socket.socket | None = None
        # the socket's fd when the C fast path (ilvb.sfu.fastpath) forwards, else None
        self.fast_fd: int | None = None
        self.send_errors = 0
        # traffic of closed routers (ilvb.sfu.traffic): the worker's totals only grow
        self.retired_traffic: Counter[str] = Counter()
        self._timer: asyncio.Task[None] | None = None
        self.closed = False
        self.now = time.monotonic

    # -- life ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the socket, watch it for reads and start the timer."""
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.config.bind_ip else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
        except OSError:
            pass
        sock.bind((self.config.bind_ip, self.config.port))
        sock.setblocking(False)
        self._sock = sock
        self.port = sock.getsockname()[1]
        self.announced_port = self.config.announced_port or self.port
        if self.config.fastpath and fastpath.AVAILABLE:
            self.fast_fd = sock.fileno()
        elif self.config.fastpath:
            logger.warning(
                "C fast path not built (%s): forwarding on the pure-Python path",
                fastpath.IMPORT_ERROR,
            )
        # A plain non-blocking socket and a reader callback, not a DatagramProtocol: each
        # wake-up drains the socket, and sendto is one direct syscall (no transport buffering).
        loop.add_reader(sock.fileno(), self._on_readable)
        self._timer = loop.create_task(self._run_timer())

    async def close(self) -> None:
        """Close every router and the socket. Idempotent."""
        if self.closed:
            return
        self.closed = True
        for router in list(self.routers.values()):
            router.close()
        self.routers.clear()
        if self._timer is not None:
            self._timer.cancel()
        self.fast_fd = None
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None

    def sendto(self, data: bytes, addr: Addr) -> None:
        """Send one datagram from the worker's socket; a full send buffer drops it (like loss)."""
        sock = self._sock
        if sock is None:
            return
        try:
            sock.sendto(data, addr)
        except OSError:  # EAGAIN / ENOBUFS / ICMP-reported errors
            self.send_errors += 1

    def _on_readable(self) -> None:
        """Drain up to 256 datagrams and demultiplex each (RFC 7983), commonest first."""
        sock = self._sock
        if sock is None:
            return
        recv = sock.recvfrom
        by_addr = self.by_addr
        for _ in range(256):
            try:
                data, addr = recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. ECONNREFUSED from an earlier send's ICMP
                continue
            if not data:
                continue
            b = data[0]
            try:
                if 127 < b < 192:
                    t = by_addr.get(addr)
                    if t is not None:
                        t.handle_srtp(data)
                elif b < 4:
                    answered = self.ice.handle(data, addr)
                    if answered is not None:
                        self.sendto(answered[1], addr)
                elif 19 < b < 64:
                    t = by_addr.get(addr)
                    if t is not None:
                        t.handle_dtls(data, addr)
            except Exception as exc:  # one bad packet must not stall the socket (nor the log)
                self.faults.failed("datagram", exc, f"a datagram from {addr[0]}:{addr[1]}")

    # -- WorkerServices for routers ----------------------------------------------------------

    def add_transport(self, transport: WebRtcTransport) -> None:
        self.transports.add(transport)
        self.ice.register(transport)
        transport.on_addr = self._on_addr
        transport.on_ufrags = self._on_ufrags

    def remove_transport(self, transport: WebRtcTransport) -> None:
        self.transports.discard(transport)
        self.ice.unregister(transport)
        for addr in transport.addrs:
            if self.by_addr.get(addr) is transport:
                del self.by_addr[addr]

    def _on_addr(self, transport: WebRtcTransport, addr: Addr) -> None:
        self.by_addr[addr] = transport

    def _on_ufrags(self, transport: WebRtcTransport, added: list[str], removed: list[str]) -> None:
        """An ICE restart: answer the new ufrag, retire the old one."""
        if transport in self.transports:
            self.ice.unregister(transport, removed)
            self.ice.register(transport)

    # -- timer --------------------------------------------------------------------------------

    async def _run_timer(self) -> None:
        next_slow = next_sr = 0.0
        while not self.closed:
            await asyncio.sleep(TICK_S)
            now = self.now()
            # Each object's periodic work is isolated: one that raises is counted (and logged
            # once, see FaultLog), and every other transport and router still gets its tick.
            faults = self.faults
            for t in list(self.transports):
                try:
                    t.tick(now)
                except Exception as exc:
                    faults.failed("transport.tick", exc, f"a {t.kind} transport")
            for r in list(self.routers.values()):
                try:
                    r.tick(now)
                except Exception as exc:
                    faults.failed("router.tick", exc, f"router {r.room_id}")
            if now >= next_slow:
                next_slow = now + SLOW_TICK_S
                send_sr = now >= next_sr
                if send_sr:
                    next_sr = now + SR_INTERVAL_S
                for r in list(self.routers.values()):
                    try:
                        r.slow_tick(now, send_sr)
                    except Exception as exc:
                        faults.failed("router.slow_tick", exc, f"router {r.room_id}")

    # -- commands --------------------------------------------------------------------------------

    def command(self, method: str, args: tuple[Any, ...]) -> Any:
        """Run one command from the media plane (synchronously, on the worker loop)."""
        if method == "open_router":
            room_id = args[0]
            options = args[1] if len(args) > 1 else RouterOptions()
            if not isinstance(options, RouterOptions):
                raise InvalidArgument(message="open_router takes RouterOptions")
            if room_id not in self.routers:
                self.routers[room_id] = Router(
                    room_id,
                    self,
                    lambda event: self._on_event(room_id, event),
                    options,
                    faults=self.faults,
                )
            return None
        if method == "close_router":
            router = self.routers.pop(args[0], None)
            if router is not None:
                router.close()
                self.retired_traffic.update(router.traffic())
            return None
        if method == "worker_stats":
            return self.stats()
        if method in _ROUTER_COMMANDS:
            router = self.routers.get(args[0])
            if router is None:
                raise NotFound(message=f"no router for room {args[0]!r} on this worker")
            return getattr(router, method)(*args[1:])
        raise InvalidArgument(message=f"unknown worker command {method!r}")

    def traffic(self) -> Counter[str]:
        """Cumulative traffic of every router this worker ran (:mod:`ilvb.sfu.traffic`)."""
        out = Counter(self.retired_traffic)
        for r in self.routers.values():
            try:
                out.update(r.traffic())
            except Exception as exc:  # one broken router must not hide the others' counters
                self.faults.failed("router.traffic", exc, f"router {r.room_id}")
        return out

    def stats(self) -> dict[str, Any]:
        """Worker-wide counters, including which codec modules this process has imported.

        ``traffic``: cumulative counters (:data:`~ilvb.sfu.traffic.TRAFFIC_KEYS`);
        ``cpu_seconds``: CPU time of the process running this worker (user + system; the
        server's own process for an in-process worker); ``members``: members with media.
        """
        return {
            "pid": os.getpid(),
            "cpu_seconds": time.process_time(),
            "members": sum(len(getattr(r, "members", ())) for r in self.routers.values()),
            "traffic": as_dict(self.traffic()),
            "routers": len(self.routers),
            "transports": len(self.transports),
            "ice_requests": self.ice.requests,
            "send_errors": self.send_errors,
            "faults": dict(self.faults.counts),
            "port": self.port,
            "codec_modules": codec_modules(),
            # this process's CPU time (µs resolution, unlike /proc's clock ticks): benchmarks
            "cpu_s": time.process_time(),
        }


_ROUTER_COMMANDS = frozenset(
    {
        "negotiate_send",
        "offer_receive",
        "restart_receive",
        "accept_receive_answer",
        "set_source_enabled",
        "set_subscription",
        "set_send_cap",
        "remove_member",
        "stats",
        "open_tap",
        "close_tap",
        "live_taps",
        "request_tap_keyframe",
    }
)


# -- process entry point ---------------------------------------------------------------------


async def _serve(fd: int, config: WorkerConfig) -> None:
    from ilvb.sfu.channel import Channel

    sock = socket.socket(fileno=fd)
    reader, writer = await asyncio.open_connection(sock=sock)
    channel: Channel | None = None

    def on_event(room_id: str, event: RouterEvent) -> None:
        if channel is not None:
            channel.emit("router_event", (room_id, event))

    worker = Worker(config, on_event)
    await worker.start()
    channel = Channel(reader, writer, on_request=worker.command)
    channel.emit("ready", {"port": worker.port, "fingerprint": worker.certificate.fingerprint})
    await channel.start()  # returns when the media plane closes the channel (or dies)
    await worker.close()


def main(argv: list[str] | None = None) -> None:
    """``python -m ilvb.sfu.worker --fd N --config JSON``."""
    parser = argparse.ArgumentParser(prog="ilvb-sfu-worker")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--config", default="{}")
    parser.add_argument("--log-level", default="warning")
    ns = parser.parse_args(argv)
    logging.basicConfig(level=ns.log_level.upper(), format="worker %(process)d %(message)s")
    config = WorkerConfig(**json.loads(ns.config))
    try:
        import uvloop

        uvloop.run(_serve(ns.fd, config))
    except ImportError:  # pragma: no cover
        asyncio.run(_serve(ns.fd, config))


if __name__ == "__main__":
    main()
