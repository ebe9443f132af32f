"""The metrics of one node, in a registry of their own (one per server app, not the global one).

Families (all prefixed ``ilvb_``):

* ``rooms`` / ``members`` (gauges, label ``kind``: ``room`` or ``call``): live now, counted from
  the room events; ``rooms_created_total``, ``member_entries_total``,
  ``member_exits_total{reason}``;
* ``join_seconds`` (histogram): time to handle a ``room.enter`` request that succeeded, from
  the frame read to the reply; ``join_failures_total{code}`` for refused ones;
* per media worker (label ``worker``: its index), read from the media plane when scraped:
  ``media_packets_in_total``, ``media_bytes_in_total``, ``media_packets_forwarded_total``,
  ``media_payload_bytes_forwarded_total``, ``media_packets_lost_total``,
  ``media_nacks_sent_total``, ``media_nacks_received_total``, ``media_retransmits_total``,
  ``worker_cpu_seconds_total``, ``worker_routers``, ``worker_transports``,
  ``worker_members``; a worker process that was replaced starts its counters again (a counter
  reset, as Prometheus expects of a restarted process);
* the server process's own ``process_*`` (CPU, memory, open files) from prometheus_client.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from ilvb.rooms.events import MemberEntered, MemberExited, RoomClosed, RoomCreated
from ilvb.rooms.manager import RoomManager
from ilvb.sfu.api import MediaPlane, MediaPlaneStats

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Longest wait for the media workers' counters on a scrape; late workers are left out.
MEDIA_STATS_TIMEOUT_S = 2.0
JOIN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# traffic key (ilvb.sfu.traffic) -> (metric name, help)
_TRAFFIC = {
    "packets_in": ("media_packets_in", "RTP packets received from publishers"),
    "bytes_in": ("media_bytes_in", "RTP bytes received from publishers (after SRTP)"),
    "packets_out": ("media_packets_forwarded", "RTP packets forwarded to subscribers"),
    "payload_bytes_out": (
        "media_payload_bytes_forwarded",
        "RTP payload bytes forwarded to subscribers (headers excluded)",
    ),
    "packets_lost": ("media_packets_lost", "packets lost on the publishers' legs (RFC 3550)"),
    "nacks_sent": ("media_nacks_sent", "NACKs the SFU sent to publishers"),
    "nacks_received": ("media_nacks_received", "subscribers' NACKs the SFU answered"),
    "retransmits": ("media_retransmits", "packets re-sent to subscribers after a NACK"),
}
_WORKER_GAUGES = {
    "routers": "rooms placed on the worker",
    "transports": "WebRTC transports on the worker",
    "members": "members with media on the worker",
}


class _MediaCollector(Collector):
    """Yields the media workers' counters last read by :meth:`NodeMetrics.refresh`."""

    def __init__(self) -> None:
        self.workers: list[dict[str, Any]] = []

    def collect(self) -> Iterable[Metric]:
        families: list[Metric] = []
        for key, (name, doc) in _TRAFFIC.items():
            family = CounterMetricFamily(f"ilvb_{name}", doc, labels=["worker"])
            for w in self.workers:
                family.add_metric([str(w.get("index", 0))], float(w["traffic"].get(key, 0)))
            families.append(family)
        cpu = CounterMetricFamily(
            "ilvb_worker_cpu_seconds", "CPU time of each media worker's process", labels=["worker"]
        )
        for w in self.workers:
            cpu.add_metric([str(w.get("index", 0))], float(w.get("cpu_seconds", 0.0)))
        families.append(cpu)
        for key, doc in _WORKER_GAUGES.items():
            gauge = GaugeMetricFamily(f"ilvb_worker_{key}", doc, labels=["worker"])
            for w in self.workers:
                gauge.add_metric([str(w.get("index", 0))], float(w.get(key, 0)))
            families.append(gauge)
        return families


class NodeMetrics:
    """Metrics of the rooms of ``manager`` and of the workers of ``media``.

    Call :meth:`refresh` then :meth:`render` to answer a scrape; :meth:`request_done` with each
    signaling request's outcome (the server does).
    """

    def __init__(self, manager: RoomManager, media: MediaPlane) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._media = media
        r = self.registry
        self.rooms = Gauge("ilvb_rooms", "live rooms", ["kind"], registry=r)
        self.members = Gauge("ilvb_members", "members in live rooms", ["kind"], registry=r)
        self.rooms_created = Counter(
            "ilvb_rooms_created", "rooms created (first entries)", registry=r
        )
        self.entries = Counter("ilvb_member_entries", "members that entered a room", registry=r)
        self.exits = Counter(
            "ilvb_member_exits", "members that left a room, by reason", ["reason"], registry=r
        )
        self.join_seconds = Histogram(
            "ilvb_join_seconds",
            "time to handle a successful room.enter, frame read to reply",
            buckets=JOIN_BUCKETS,
            registry=r,
        )
        self.join_failures = Counter(
            "ilvb_join_failures", "room.enter requests refused, by error code", ["code"],
            registry=r,
        )  # fmt: skip
        for kind in ("room", "call"):
            self.rooms.labels(kind)
            self.members.labels(kind)
        self._media_collector = _MediaCollector()
        r.register(self._media_collector)
        ProcessCollector(registry=r)
        manager.observer.on(RoomCreated, self._room_created)

    # -- room events ----------------------------------------------------------------------

    def _room_created(self, event: RoomCreated) -> None:
        room = event.room
        self.rooms_created.inc()
        self.rooms.labels(room.kind).inc()
        room.observer.on(MemberEntered, self._entered)
        room.observer.on(MemberExited, self._exited)
        room.observer.on(RoomClosed, self._room_closed)

    def _room_closed(self, event: RoomClosed) -> None:
        room = event.room
        self.rooms.labels(room.kind).dec()
        room.observer.off(MemberEntered, self._entered)
        room.observer.off(MemberExited, self._exited)
        room.observer.off(RoomClosed, self._room_closed)

    def _entered(self, event: MemberEntered) -> None:
        self.entries.inc()
        self.members.labels(event.room.kind).inc()

    def _exited(self, event: MemberExited) -> None:
        self.exits.labels(event.reason).inc()
        self.members.labels(event.room.kind).dec()

    # -- signaling ---------------------------------------------------------------------------

    def request_done(self, kind: str, seconds: float, error_code: str | None) -> None:
        """A signaling request of ``kind`` was answered after ``seconds`` (``error_code`` if
        refused). Only ``room.enter`` is measured."""
        if kind != "room.enter":
            return
        if error_code is None:
            self.join_seconds.observe(seconds)
        else:
            self.join_failures.labels(error_code).inc()

    # -- scrape --------------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Read the media workers' counters (at most ``MEDIA_STATS_TIMEOUT_S``)."""
        if not isinstance(self._media, MediaPlaneStats):
            return
        try:
            stats = await asyncio.wait_for(self._media.stats(), MEDIA_STATS_TIMEOUT_S)
        except Exception as exc:  # a scrape must answer even when the media plane does not
            log.warning("metrics: media plane stats unavailable: %s", exc)
            return
        self._media_collector.workers = [
            w for w in stats.get("workers", []) if isinstance(w.get("traffic"), dict)
        ]

    def render(self) -> bytes:
        """The text exposition format of every family."""
        return generate_latest(self.registry)
