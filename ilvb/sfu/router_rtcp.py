"""RouterRtcp: the RTCP of one router — what ends here, what is relayed, what we originate.

From a publisher (its send transport):
  * SR (RFC 3550 §6.4.1) → the producer remembers it for the LSR/DLSR of our receiver reports,
    and the stream's taps (``ilvb.sfu.tap``) get the compound packet as it came.
From a subscriber (its receive transport):
  * NACK (RFC 4585 §6.2.1) → answered from the producer's packet cache by the slot;
  * RR / SR report blocks (RFC 3550 §6.4) → the slot's RTT and loss;
  * PLI/FIR (RFC 4585 §6.3.1, RFC 5104 §4.3.1) → relayed to the producer feeding that slot,
    throttled there to one per ``keyframe_interval_s``.
Originated here, on the router's slow timer:
  * a PLI for a video consumer still waiting for its first keyframe (throttled);
  * RR to each publisher (one report block per stream, at most 31) and REMB where agreed;
  * SR per receive slot, so each subscriber can sync audio and video (slots carrying a simulcast
    layer on every slow tick: the RTT samples of the downlink estimate, ilvb.sfu.bandwidth,
    come from their echoes).
"""

from __future__ import annotations

from collections.abc import Callable

from ilvb.sfu.consumer import ReceiveSlot
from ilvb.sfu.member import MemberMedia
from ilvb.sfu.producer import FEEDBACK_SSRC
from ilvb.sfu.rtp.rtcp import (
    Fir,
    Nack,
    Pli,
    ReceiverReport,
    ReportBlock,
    SenderReport,
    build_rr,
    parse_rtcp,
)

# a simulcast slot waiting for its new layer's keyframe asks again after this (seconds)
LAYER_KEYFRAME_INTERVAL_S = 0.4
# RFC 3550 §6.4: the report count is 5 bits
MAX_REPORT_BLOCKS = 31


class RouterRtcp:
    """RTCP handling of one router; keeps the counters that outlive members."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self.nacks_answered = 0  # packets resent for subscribers' NACKs
        self.plis_relayed = 0  # subscribers' PLI/FIR that reached a publisher

    # -- incoming -------------------------------------------------------------------------------

    def on_publisher_rtcp(self, m: MemberMedia, data: bytes) -> None:
        """RTCP from a publisher: its SRs feed the LSR/DLSR of our receiver reports."""
        now = self._now()
        for pkt in parse_rtcp(data):
            if isinstance(pkt, SenderReport):
                p = m.by_ssrc.get(pkt.ssrc)
                if p is not None:
                    p.on_sender_report(pkt.ntp_ts, now)
                    for tap in p.taps:  # a recorder maps RTP time to the sender's wall clock
                        tap.send_rtcp(data)

    def on_subscriber_rtcp(self, m: MemberMedia, data: bytes) -> None:
        """RTCP from a subscriber: NACK → cache, PLI/FIR → producer (throttled), RR → the
        slot's RTT and loss."""
        now = self._now()
        blocks: list[tuple[ReceiveSlot, ReportBlock, float | None]] = []
        for pkt in parse_rtcp(data):
            if isinstance(pkt, Nack):
                slot = m.slot_by_ssrc.get(pkt.media_ssrc)
                if slot is not None:
                    self.nacks_answered += slot.on_nack(pkt.lost, now)
                    if slot.kind == "video":
                        m.downlink.nacked += len(pkt.lost)
            elif isinstance(pkt, (ReceiverReport, SenderReport)):
                for block in pkt.reports:
                    slot = m.slot_by_ssrc.get(block.ssrc)
                    if slot is not None:
                        blocks.append((slot, block, slot.on_report(block, now)))
            elif isinstance(pkt, (Pli, Fir)):  # both name the media SSRC (FIR: per FCI entry)
                slot = m.slot_by_ssrc.get(pkt.media_ssrc)
                if slot is not None and slot.consumer is not None:
                    if slot.consumer.producer.request_keyframe(now):
                        self.plis_relayed += 1
        if blocks:
            m.downlink.on_reports(m, now, blocks)

    # -- originated (slow timer) ----------------------------------------------------------------

    @staticmethod
    def rerequest_keyframes(m: MemberMedia, now: float) -> None:
        """Video consumers of ``m`` still waiting for a keyframe ask again (throttled: ≤ 1/s)."""
        for slot in m.video_slots:
            c = slot.consumer
            if c is not None and c.waiting_keyframe:
                c.producer.request_keyframe(now)
            p = slot.pending
            if p is not None:
                # a layer switch (the current layer still plays): the keyframe that completes
                # it may have been lost on a congested path, so ask again sooner
                p.producer.request_keyframe(now, interval=LAYER_KEYFRAME_INTERVAL_S)

    @staticmethod
    def send_video_srs(m: MemberMedia, now: float) -> None:
        """SRs on ``m``'s simulcast video slots between the reports (every slow tick): each RR
        echoes the newest one, so the RTT the layer choice reads is at most this old."""
        if m.recv is not None and m.recv.state == "connected":
            for slot in m.video_slots:
                if slot.consumer is not None and slot.consumer.producer.parent is not None:
                    sr = slot.sender_report(now)
                    if sr is not None:
                        m.recv.send_rtcp(sr)

    @staticmethod
    def send_reports(m: MemberMedia, now: float) -> None:
        """RR + REMB to ``m`` as a publisher, SRs to ``m`` as a subscriber (once a second)."""
        if m.send is not None and m.send.state == "connected":
            blocks = [
                b
                for track in m.producers.values()
                for p in track.streams()
                if (b := p.report_block(now))
            ]
            if blocks:
                m.send.send_rtcp(build_rr(FEEDBACK_SSRC, blocks[:MAX_REPORT_BLOCKS]))
            for p in m.producers.values():
                p.send_remb()
        if m.recv is not None and m.recv.state == "connected":
            for slot in m.slots:
                sr = slot.sender_report(now)
                if sr is not None:
                    m.recv.send_rtcp(sr)
