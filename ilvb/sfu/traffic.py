"""Cumulative traffic counters of a router and a worker, for metrics (``/metrics``).

The live objects (transports, producers, receive slots) count what they move; they go away with
their member. So that the totals only grow, a router adds an object's counts to its ``retired``
totals when it closes the object, and a worker adds a router's totals to its own when it closes
the router. :func:`member_traffic` reads the live part; ``Router.traffic`` and
``Worker.traffic`` add the retired parts. Nothing here runs per packet.

Keys (:data:`TRAFFIC_KEYS`): ``packets_in`` / ``bytes_in`` (RTP received from publishers, after
SRTP), ``packets_out`` / ``payload_bytes_out`` (RTP forwarded to subscribers; payload bytes, the
RTP header excluded), ``packets_lost`` (RFC 3550 cumulative loss on the publishers' legs),
``nacks_sent`` (NACKs the SFU sent to publishers), ``nacks_received`` (subscribers' NACKs the
SFU answered), ``retransmits`` (packets re-sent to subscribers).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ilvb.sfu.consumer import ReceiveSlot
    from ilvb.sfu.member import MemberMedia
    from ilvb.sfu.producer import Producer
    from ilvb.sfu.transport import WebRtcTransport

TRAFFIC_KEYS = (
    "packets_in",
    "bytes_in",
    "packets_out",
    "payload_bytes_out",
    "packets_lost",
    "nacks_sent",
    "nacks_received",
    "retransmits",
)


def producer_traffic(p: Producer) -> Counter[str]:
    """What one producer received (and lost, and NACKed)."""
    return Counter(bytes_in=p.bytes, packets_lost=max(0, p.reception.lost), nacks_sent=p.nacks_sent)


def transport_traffic(t: WebRtcTransport | None) -> Counter[str]:
    """RTP packets in and out of one transport."""
    if t is None:
        return Counter()
    return Counter(packets_in=t.rtp_in, packets_out=t.rtp_out)


def slot_traffic(slots: list[ReceiveSlot]) -> Counter[str]:
    """Payload bytes and retransmissions sent through receive slots."""
    return Counter(
        payload_bytes_out=sum(s.octets for s in slots),
        retransmits=sum(s.retransmits for s in slots),
    )


def member_traffic(m: MemberMedia) -> Counter[str]:
    """The live counts of one member's transports, producers and slots."""
    out = transport_traffic(m.send) + transport_traffic(m.recv) + slot_traffic(m.slots)
    for p in m.producers.values():
        out.update(producer_traffic(p))
    return out


def as_dict(counts: Counter[str]) -> dict[str, int]:
    """Every key of :data:`TRAFFIC_KEYS`, 0 when absent."""
    return {k: int(counts.get(k, 0)) for k in TRAFFIC_KEYS}
