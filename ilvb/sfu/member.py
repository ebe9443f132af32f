"""MemberMedia: one member's media inside a router — its transports, producers and receive slots.

It owns the member's indexes (producers by source, SSRC and mid; slots by SSRC) and keeps them
consistent: producers are added and closed here (:meth:`MemberMedia.add_producer`,
:meth:`MemberMedia.close_producer`), receive slots are opened and closed here
(:meth:`MemberMedia.open_slots`, :meth:`MemberMedia.close_slots`), and an SSRC the SDP did not
name is bound here (:meth:`MemberMedia.learn_ssrc`, RFC 8843 §9.2). The router decides *when*;
this module keeps the bookkeeping right.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ilvb.sfu.api import Subscription
from ilvb.sfu.bandwidth import Downlink
from ilvb.sfu.consumer import ReceiveSlot
from ilvb.sfu.producer import Producer
from ilvb.sfu.rtp.packet import RtpView, get_extension
from ilvb.sfu.sdp import SlotSpec
from ilvb.sfu.transport import WebRtcTransport


@dataclass
class MemberMedia:
    """One member's transports, producers and receive slots in one router."""

    member_id: str
    send: WebRtcTransport | None = None
    recv: WebRtcTransport | None = None
    producers: dict[str, Producer] = field(default_factory=dict)  # source -> producer
    by_ssrc: dict[int, Producer] = field(default_factory=dict)
    by_mid: dict[str, Producer] = field(default_factory=dict)
    audio_slots: list[ReceiveSlot] = field(default_factory=list)
    video_slots: list[ReceiveSlot] = field(default_factory=list)
    slot_by_ssrc: dict[int, ReceiveSlot] = field(default_factory=dict)
    slot_specs: list[SlotSpec] = field(default_factory=list)
    recv_negotiated: bool = False
    subscription: Subscription = field(default_factory=Subscription)
    mid_ext: int | None = None
    # the cap on the REMB its producers announce (bits/s), from the member's quality profile
    send_cap_bps: int | None = None
    # every connected transport of the member lost its path (reported as MediaPathChanged)
    path_lost: bool = False
    # the subscriber's downlink estimate, layer choice and probes (ilvb.sfu.bandwidth)
    downlink: Downlink = field(default_factory=Downlink)

    # -- producers ------------------------------------------------------------------------------

    def add_producer(self, producer: Producer, rtx_ssrc: int | None = None) -> None:
        """Index a new producer of the send transport (by source, SDP SSRCs and mid);
        ``rtx_ssrc``: its RFC 4588 retransmission stream, when the SDP named one."""
        self.producers[producer.source] = producer
        if producer.layers:
            self.by_mid[producer.mid] = producer  # simulcast: SSRCs are learned by rid
            return
        if producer.ssrc is not None:
            self.by_ssrc[producer.ssrc] = producer
        if rtx_ssrc is not None:
            self.by_ssrc[rtx_ssrc] = producer  # RFC 4588 retransmissions
        self.by_mid[producer.mid] = producer

    def close_producer(self, source: str) -> Producer | None:
        """Close the producer of ``source`` (its consumers close with it) and unindex it."""
        p = self.producers.pop(source, None)
        if p is None:
            return None
        p.close()
        if self.by_mid.get(p.mid) is p:
            del self.by_mid[p.mid]
        for ssrc in [s for s, q in self.by_ssrc.items() if q is p or q.parent is p]:
            del self.by_ssrc[ssrc]
        return p

    def learn_ssrc(self, data: bytes, view: RtpView) -> Producer | None:
        """RFC 8843 §9.2: an unknown SSRC is bound by its mid extension, else by payload type."""
        p = None
        by_mid = False
        if self.mid_ext is not None:
            mid = get_extension(data, view, self.mid_ext)
            if mid is not None:
                p = self.by_mid.get(mid.decode("ascii", "replace"))
                by_mid = p is not None
        if p is None:
            matches = [q for q in self.producers.values() if q.payload_type == view.payload_type]
            p = matches[0] if len(matches) == 1 else None
        if p is None or view.payload_type != p.payload_type:
            return None
        if p.layers:
            return self._learn_layer(p, data, view)
        if p.ssrc is not None and p.ssrc != view.ssrc:
            if not by_mid:
                return None  # bound to another SSRC and nothing says this one replaces it
            self.by_ssrc.pop(p.ssrc, None)  # the mid says so: the sender switched SSRC
        p.ssrc = view.ssrc
        self.by_ssrc[view.ssrc] = p
        return p

    def _learn_layer(self, track: Producer, data: bytes, view: RtpView) -> Producer | None:
        """RFC 8852: a simulcast encoding's SSRC is bound by the rid on its packets."""
        if track.rid_ext is None:
            return None
        rid = get_extension(data, view, track.rid_ext)
        if rid is None:
            return None  # a packet without its rid (or an RTX one, repaired-rid): not yet
        name = rid.decode("ascii", "replace")
        layer = next((q for q in track.layers if q.rid == name), None)
        if layer is None:
            return None
        if layer.ssrc is not None:
            self.by_ssrc.pop(layer.ssrc, None)  # the sender switched this encoding's SSRC
        layer.ssrc = view.ssrc
        self.by_ssrc[view.ssrc] = layer
        return layer

    def counters(self) -> dict[str, int]:
        """This member's share of the router's counters (``Router.stats``)."""
        c = dict.fromkeys(
            ("transports", "packets_in", "packets_out", "producers", "producers_paused"), 0
        )
        c.update(consumers=0, nacks_sent=0, plis_sent=0, retransmits=0)
        for t in (self.send, self.recv):
            if t is not None and t.state != "closed":
                c["transports"] += 1
                c["packets_in"] += t.rtp_in
                c["packets_out"] += t.rtp_out
        for p in self.producers.values():
            # a disabled (muted / revoked) producer forwards nothing
            c["producers" if p.enabled else "producers_paused"] += 1
            for s in p.streams():
                c["consumers"] += len(s.consumers)
                c["nacks_sent"] += s.nacks_sent
                c["plis_sent"] += s.plis_sent
        c["retransmits"] = sum(s.retransmits for s in self.slots)
        return c

    # -- receive slots --------------------------------------------------------------------------

    @property
    def slots(self) -> list[ReceiveSlot]:
        """Every receive slot, audio first (``a0`` …, then ``v0`` …)."""
        return self.audio_slots + self.video_slots

    def open_slots(self, recv: WebRtcTransport, slots: list[ReceiveSlot], cname: str) -> None:
        """The new receive transport ``recv`` and its fixed slots (not negotiated yet)."""
        self.recv = recv
        self.recv_negotiated = False
        self.audio_slots = [s for s in slots if s.kind == "audio"]
        self.video_slots = [s for s in slots if s.kind == "video"]
        self.slot_by_ssrc = {s.ssrc: s for s in slots}
        self.slot_specs = [SlotSpec(s.mid, s.kind, s.ssrc, cname) for s in slots]  # type: ignore[arg-type]

    def close_slots(self) -> list[int]:
        """Close every slot's consumer and forget the slots; returns their SSRCs (now free)."""
        ssrcs = []
        for slot in self.slots:
            slot.close()
            ssrcs.append(slot.ssrc)
        self.audio_slots, self.video_slots, self.slot_specs, self.slot_by_ssrc = [], [], [], {}
        self.recv_negotiated = False
        return ssrcs
