"""Bandwidth: each subscriber's downlink estimate, its simulcast layers, probes, and the REMB to
publishers (the estimator itself is :class:`ilvb.sfu.rtp.bwe.BandwidthEstimate`).

**Downlink** (:class:`Downlink`, one per member): each RTCP packet from the subscriber with
report blocks about its video slots is one sample — the loss (the worst fraction lost, or the
share of the video packets sent that it NACKed, whichever is higher: Chromium's fraction lost
lags a filling queue), the RTT (echo of our SRs, sent to simulcast slots on every slow tick:
it grows with the queue on the way down) and the rate delivered since the previous sample
(what the slots sent × (1 − loss)).

**Layers** (:meth:`Downlink.allocate`, on the router's slow timer): the estimate, less what the
member's non-simulcast slots bring in, is handed to its simulcast video slots in slot order;
each gets the highest active layer that fits. Hysteresis: a slot keeps its layer while
``DOWN_MARGIN`` × the layer's rate fits; a higher layer needs ``UP_MARGIN`` × its rate in the
budget (a probe earns it, below) and ``UP_HOLD_S`` since the slot's last change. A switch
takes effect on the new layer's keyframe (:meth:`ilvb.sfu.consumer.ReceiveSlot.switch_layer`).

**Probes**: the estimate only grows to ``APP_LIMIT`` × what was delivered, so to climb back
after a cap lifts the SFU probes: when the next layer up does not fit it sends padding-only RTP
(on an SSRC and payload type the subscriber has not negotiated, so its receiver drops them
after the transport) at ``PROBE_GAIN`` × the rate that layer would need, for ``PROBE_S``; no
congestion in the reports that follow → the estimate takes that rate and the slot goes up. A
probe fails on a congested sample or on ``PROBE_QUEUE_SAMPLES`` samples with a grown queue;
the next one waits ``PROBE_BACKOFF_MIN_S``, doubled after each failure up to
``PROBE_BACKOFF_MAX_S``.

**Uplink** (:func:`sample_uplink`): a publisher's track is sampled on the slow timer — loss
from its reception statistics, the delay from the smallest one-way transit of the interval
(minimum filtered, so jitter alone does not read as a queue), the rate received. The REMB the
track's producer announces is the smaller of that estimate and what its subscribers take (the
best of their estimates; for a simulcast track all of its layers are kept).
"""

from __future__ import annotations

import random
import struct
from typing import TYPE_CHECKING

from ilvb.sfu.producer import REMB_BPS, Producer
from ilvb.sfu.rtp.bwe import QUEUE_CONGESTED_S, BandwidthEstimate
from ilvb.sfu.rtp.seq import TS_HALF, TS_MASK

if TYPE_CHECKING:
    from ilvb.sfu.consumer import ReceiveSlot
    from ilvb.sfu.member import MemberMedia
    from ilvb.sfu.rtp.rtcp import ReportBlock

# the estimate of a path never measured: what the fixed REMB announced before
START_BPS = float(REMB_BPS)
MIN_BPS = 100_000.0
# bytes of UDP/IP/SRTP overhead per packet, for the sent rate
PACKET_OVERHEAD = 50
UP_MARGIN = 1.3
# the current layer stays while this much of its rate fits (its rate varies with the picture)
DOWN_MARGIN = 0.85
UP_HOLD_S = 0.5
PROBE_S = 0.8
# the probe sends this much more than the rate it tests (a path just below that rate must
# show a queue within PROBE_S)
PROBE_GAIN = 1.2
# a probe is judged on the first report this long after it ended (its RR covers it)
PROBE_VERDICT_S = 0.3
# after a probe that succeeded, the next one (for the layer above) may start this soon
PROBE_AGAIN_S = 0.3
PROBE_BACKOFF_MIN_S = 1.0
PROBE_BACKOFF_MAX_S = 4.0
# a probe fails on a congested sample, or on this many samples with a grown queue (one alone
# can be a scheduling hiccup of a loaded machine)
PROBE_QUEUE_SAMPLES = 2
# padding-only packets: the longest padding RFC 3550 §5.1 allows (the count is one byte)
_PAD = bytes(254) + b"\xff"
_FIXED = struct.Struct("!BBHII")
# an uplink sample every this many seconds
UPLINK_SAMPLE_S = 0.5


class Downlink:
    """One subscriber's downlink: its estimate, its probe, its samples."""

    def __init__(self) -> None:
        self.bwe = BandwidthEstimate(START_BPS, MIN_BPS, START_BPS)
        self._sent_bytes = 0
        self._sent_packets = 0
        self._sent_at: float | None = None
        # seqs the subscriber NACKed on its video slots (a loss signal ahead of its RRs)
        self.nacked = 0
        self._nacked = 0
        self.sent_bps = 0.0
        # probe state: padding rate until probe_until, judged after; what it tried
        self.probe_until = -1e9
        self.probe_rate_bps = 0.0
        self.probe_target_bps = 0.0
        self.probe_pending = False
        self._probe_queued = 0
        self.next_probe_at = 0.0
        self.backoff_s = PROBE_BACKOFF_MIN_S
        self.probes = 0
        self.probes_ok = 0
        self.probe_bytes = 0
        self._probe_ssrc = random.getrandbits(32) | 1
        self._probe_seq = random.getrandbits(16)
        self._probe_last = 0.0
        self._probe_credit = 0.0

    @property
    def estimate_bps(self) -> float:
        """What the subscriber's downlink is estimated to carry (bits/s)."""
        return self.bwe.estimate_bps

    def _sent_total(self, m: MemberMedia) -> int:
        return self.probe_bytes + sum(s.octets + PACKET_OVERHEAD * s.packets for s in m.slots)

    def on_reports(
        self,
        m: MemberMedia,
        now: float,
        blocks: list[tuple[ReceiveSlot, ReportBlock, float | None]],
    ) -> None:
        """The report blocks of one RTCP packet from the subscriber (slot, block, RTT)."""
        video = [(b, rtt) for slot, b, rtt in blocks if slot.kind == "video" and slot.consumer]
        rtts = [rtt for _, rtt in video if rtt is not None]
        if not rtts:
            return
        sent = self._sent_total(m)
        packets = sum(s.packets for s in m.video_slots)
        if self._sent_at is None:
            self._sent_at, self._sent_bytes, self._sent_packets = now, sent, packets
            self._nacked = self.nacked
            return
        dt = now - self._sent_at
        if dt < 0.2:
            return  # reports of one burst: wait for the next interval
        self.sent_bps = 8.0 * (sent - self._sent_bytes) / dt
        # Chromium's fraction lost lags a filling queue by up to a second (retransmissions
        # count as received); its NACKs name the holes at once
        nack_ratio = (self.nacked - self._nacked) / max(1, packets - self._sent_packets)
        self._sent_at, self._sent_bytes, self._sent_packets = now, sent, packets
        self._nacked = self.nacked
        loss = max(max(b.fraction_lost for b, _ in video) / 256.0, min(1.0, nack_ratio))
        congested = self.bwe.update(now, loss, max(rtts), self.sent_bps * (1.0 - loss))
        if congested:
            self.allocate(m, now)  # down at once, not at the next slow tick
        if self.probe_pending:
            if self.bwe.last_queue_s > QUEUE_CONGESTED_S:
                self._probe_queued += 1
            if congested or self._probe_queued >= PROBE_QUEUE_SAMPLES:
                self._probe_done(now, ok=False)
            elif now >= self.probe_until + PROBE_VERDICT_S:
                self._probe_done(now, ok=True)

    def _probe_done(self, now: float, ok: bool) -> None:
        self.probe_pending = False
        self.probe_until = min(self.probe_until, now)
        if ok:
            self.probes_ok += 1
            self.bwe.probe_succeeded(self.probe_target_bps)
            self.backoff_s = PROBE_BACKOFF_MIN_S
            self.next_probe_at = now + PROBE_AGAIN_S
        else:
            self.next_probe_at = now + self.backoff_s
            self.backoff_s = min(PROBE_BACKOFF_MAX_S, 2.0 * self.backoff_s)

    # -- layers ---------------------------------------------------------------------------------

    def allocate(self, m: MemberMedia, now: float) -> None:
        """Choose each simulcast slot's layer from the estimate (slow timer); start a probe
        when the next layer up does not fit."""
        budget = self.estimate_bps
        simulcast: list[ReceiveSlot] = []
        for slot in m.slots:
            c = slot.consumer
            if c is None:
                continue
            if c.producer.parent is None:
                budget -= c.producer.rate_bps
            else:
                simulcast.append(slot)
        short = 0.0  # what the first slot that could go up lacks
        for slot in simulcast:
            layer = slot.layer
            assert layer is not None and layer.parent is not None
            layers = [q for q in layer.parent.layers if q.active(now) and q.rate_bps > 0]
            if not layers:
                continue
            cur = layers.index(layer) if layer in layers else -1
            choice = 0
            for i, q in enumerate(layers):
                margin = UP_MARGIN if i > cur else DOWN_MARGIN if i == cur else 1.0
                if q.rate_bps * margin <= budget:
                    choice = i
            if cur >= 0 and choice > cur and now - slot.layer_changed_at < UP_HOLD_S:
                choice = cur
            chosen = layers[choice]
            budget -= chosen.rate_bps
            if chosen is not layer:
                slot.switch_layer(chosen, now)
            if not short and choice + 1 < len(layers):
                short = UP_MARGIN * layers[choice + 1].rate_bps - chosen.rate_bps - budget
        if short > 0 and not self.probe_pending and now >= self.next_probe_at:
            self.probe_target_bps = self.estimate_bps + short
            self.probe_rate_bps = max(0.0, PROBE_GAIN * self.probe_target_bps - self.sent_bps)
            self.probe_until = now + PROBE_S
            self.probe_pending = True
            self._probe_queued = 0
            self.probes += 1
            self._probe_last = now
            self._probe_credit = 0.0

    def probe_tick(self, m: MemberMedia, now: float) -> None:
        """Send the probe's padding due by ``now`` (fast timer)."""
        if now >= self.probe_until or m.recv is None:
            return
        dt = now - self._probe_last
        self._probe_last = now
        self._probe_credit += self.probe_rate_bps * dt / 8.0
        used = {pt for s in m.slots for pt in s.payload_types.values()}
        pt = next(p for p in range(127, 95, -1) if p not in used)
        size = len(_PAD) + 12 + PACKET_OVERHEAD
        ts = int(now * 90000) & TS_MASK
        while self._probe_credit >= size:
            self._probe_credit -= size
            self._probe_seq = (self._probe_seq + 1) & 0xFFFF
            packet = _FIXED.pack(0xA0, pt, self._probe_seq, ts, self._probe_ssrc) + _PAD
            if not m.recv.send_rtp(packet):
                return
            self.probe_bytes += size


def first_layer(m: MemberMedia, track: Producer, now: float) -> Producer:
    """The layer a slot starts ``track`` on: the highest active one the subscriber's estimate
    affords (the top one before any layer was measured)."""
    layers = [q for q in track.layers if q.active(now) and q.rate_bps > 0]
    if not layers:
        return track.layers[-1]
    budget = m.downlink.estimate_bps
    choice = layers[0]
    for q in layers:
        if q.rate_bps <= budget:
            choice = q
    return choice


# -- publishers ------------------------------------------------------------------------------


class Uplink:
    """A publisher's track as the SFU receives it: the estimate behind its REMB."""

    def __init__(self) -> None:
        self.bwe = BandwidthEstimate(START_BPS, MIN_BPS, START_BPS)
        self.at: float | None = None
        self._bytes = 0
        self._expected: dict[int, int] = {}
        self._received: dict[int, int] = {}


def sample_uplink(track: Producer, now: float) -> bool:
    """One uplink sample of ``track`` when due (slow timer); True when it showed congestion."""
    up = track.uplink
    if up is None:
        up = track.uplink = Uplink()
    streams = [s for s in track.streams() if s.reception.received]
    if up.at is None:
        up.at = now
        up._bytes = sum(s.bytes for s in streams)
        for s in streams:
            s.reception.min_transit = None
        return False
    dt = now - up.at
    if dt < UPLINK_SAMPLE_S or not streams:
        return False
    total = sum(s.bytes for s in streams)
    rate = 8.0 * (total - up._bytes) / dt
    up.at, up._bytes = now, total
    expected = lost = 0
    delay = 0.0
    for s in streams:
        rs = s.reception
        key = id(s)
        e = rs.extended_highest - up._expected.get(key, rs.extended_highest)
        r = rs.received - up._received.get(key, rs.received)
        up._expected[key], up._received[key] = rs.extended_highest, rs.received
        if e > 0:
            expected += e
            lost += max(0, e - r)
        if rs.min_transit is not None:
            # the interval's floor, against a reference fixed at the first sample
            ref = s.transit_ref if s.transit_ref is not None else rs.min_transit
            s.transit_ref = ref
            d = ((rs.min_transit - ref + TS_HALF) & TS_MASK) - TS_HALF
            delay = max(delay, d / s.clock_rate)
        rs.min_transit = None
    loss = lost / expected if expected > 0 else 0.0
    return up.bwe.update(now, loss, delay, rate)
