"""Consumer: one producer sent out on one receive transport through one fixed receive slot.

A :class:`ReceiveSlot` is one ``sendonly`` m-line of a member's receive transport (mid ``a0``/``v0``
…): its SSRC, its negotiated payload types and its :class:`RtpMunger` outlive the producers that
feed it, so the subscriber sees one continuous stream across view and speaker switches. A
:class:`Consumer` binds one producer to one slot for one munger *generation*; a switch closes the
consumer and opens a new one. The slot creates and closes its consumers
(:meth:`ReceiveSlot.consume`, :meth:`ReceiveSlot.release`) and registers them with the producer;
a producer that closes tells each consumer (:meth:`Consumer.producer_closed`), which tells its
slot.

Per packet (:meth:`Consumer.send`): (video, until the first keyframe) skip → munger → rewrite
payload type / seq / timestamp / SSRC (header extensions dropped) → SRTP protect + send.
NACKs from the subscriber are answered from the producer's cache (:meth:`ReceiveSlot.on_nack`),
more than once on a lossy downlink (:func:`answer_copies`), PLI/FIR are relayed to the producer
(throttled there), and :meth:`ReceiveSlot.sender_report` builds the RTCP SR (RFC 3550 §6.4.1)
that lets the receiver sync audio and video.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ilvb.sfu.rtp.keyframe import is_keyframe
from ilvb.sfu.rtp.munger import RtpMunger
from ilvb.sfu.rtp.packet import RtpView, parse_rtp, rewrite_rtp
from ilvb.sfu.rtp.red import parse_red, primary, relabel
from ilvb.sfu.rtp.retransmit import RetransmitLimiter, Verdict
from ilvb.sfu.rtp.rtcp import ReportBlock, build_sr, ntp_timestamp, rtt_from_report
from ilvb.sfu.rtp.rtt import RttEstimator
from ilvb.sfu.rtp.seq import ts_add

if TYPE_CHECKING:
    from ilvb.sfu.producer import Producer
    from ilvb.sfu.transport import WebRtcTransport

logger = logging.getLogger(__name__)

# Downlink loss at or above these fractions (of 256, the RR's unit) sends each NACK answer 2 and
# 3 times: a receive-only Chromium re-NACKs only every 100 ms (it knows no RTT), so at 30 % loss
# a single answer needs 3 or more round trips for 13 % of the lost packets (0.51^3: the NACK
# and the answer can both be lost) and the viewer's playout delay runs out; 3 copies bring that
# to 3 %. Below 5 % loss, one answer.
COPY_LOSS_2 = 13  # ≈ 5 %
COPY_LOSS_3 = 51  # ≈ 20 %
# The extra copies follow the first after this many seconds each (loss often comes in bursts).
COPY_SPACING_S = 0.004
# Gain of the smoothed downlink loss per report.
LOSS_GAIN = 0.25
# No copies while the subscriber's interarrival jitter (RFC 3550 §6.4.1, smoothed with this
# gain) is above COPY_MAX_JITTER_S: on such a path its RR counts late packets as lost (800 ms
# of jitter alone reports about 12 %) and its NACKs ask for packets still in flight, so copies
# would only multiply duplicates. Measured: 10-30 ms at 30 % loss, 100-160 ms at 800 ms jitter.
JITTER_GAIN = 0.125
COPY_MAX_JITTER_S = 0.050


def answer_copies(fraction_lost: int) -> int:
    """How many times to send one NACK answer to a subscriber that reports ``fraction_lost``
    (/256, its last RR): enough that all copies are lost in about 1-3 % of answers."""
    if fraction_lost >= COPY_LOSS_3:
        return 3
    return 2 if fraction_lost >= COPY_LOSS_2 else 1


class ReceiveSlot:
    """One fixed m-line of a receive transport (RFC 8843 bundled, own SSRC)."""

    def __init__(
        self,
        mid: str,
        kind: str,
        ssrc: int,
        clock_rate: int,
        transport: WebRtcTransport,
        owner: str = "",
    ) -> None:
        self.mid = mid
        self.owner = owner  # the subscribing member's id (events, logs)
        self.kind = kind
        self.ssrc = ssrc
        self.clock_rate = clock_rate
        self.transport = transport
        self.payload_types: dict[str, int] = {}  # codec -> the subscriber's payload type
        self.munger = RtpMunger(ssrc, clock_rate)
        self.consumer: Consumer | None = None
        # simulcast: the layer this slot switches to at that layer's next keyframe (the
        # current consumer forwards until then, so the subscriber's picture never stops)
        self.pending: Consumer | None = None
        self.layer_switches = 0
        self.layer_changed_at = -1e9
        # (member, source) last reported in a "slot" event, None = empty
        self.announced: tuple[str, str] | None = None
        # for sender reports: packets / payload octets sent, newest out timestamp and its time
        self.packets = 0
        self.octets = 0
        self.last_send_time = 0.0
        self.retransmits = 0
        self.last_sr = 0.0
        # loss recovery towards the subscriber: its RTT (from RRs echoing our SRs) and what
        # was re-sent when (each seq at most once per RTT, ilvb.sfu.rtp.retransmit)
        self.rtt = RttEstimator()
        self.limiter = RetransmitLimiter()
        # the subscriber's last report about this slot: fraction lost (/256) and when
        self.fraction_lost = 0
        self.fraction_at = -1e9
        # its loss smoothed over reports (/256; one RR can say 0 % or 60 % by chance)
        self.loss_avg = 0.0
        self.jitter_avg_s: float | None = None  # its interarrival jitter, smoothed (seconds)
        self.copies_sent = 0  # extra copies of NACK answers (answer_copies)

    def on_nack(self, seqs: list[int], now: float | None = None) -> int:
        """Resend what the producer's cache still has of these output seqs, each at most once
        per round trip (``now``: the worker's clock) and, on a lossy downlink, in
        :func:`answer_copies` copies a few ms apart; returns the count (first copies)."""
        consumer = self.consumer
        if consumer is None:
            return 0
        cache = consumer.producer.cache
        if cache is None:
            return 0
        if now is None:
            now = time.monotonic()
        # until the subscriber's RRs gave an RTT, only the limiter's floor applies
        interval = self.rtt.upper if self.rtt.samples else 0.0
        sent = 0
        resent: list[bytes] = []
        for out_seq in seqs:
            if self.limiter.check(out_seq, now, interval) is not Verdict.SEND:
                continue  # an answer is still in flight, or it was re-sent too often
            mapped = self.munger.out_to_in(out_seq)
            if mapped is None or mapped[0] != consumer.generation:
                continue  # not sent yet, too old, or from an earlier source
            data = cache.get(mapped[1])
            if data is None:
                continue
            view = parse_rtp(data)
            if view is None or view.seq != mapped[1]:
                continue
            out_ts = self.munger.out_timestamp(mapped[0], view.timestamp)
            if out_ts is None:
                continue
            out = rewrite_rtp(
                data,
                view,
                payload_type=consumer.payload_type,
                seq=out_seq,
                timestamp=out_ts,
                ssrc=self.ssrc,
            )
            if self.transport.send_rtp(out):
                sent += 1
                resent.append(out)
        self.retransmits += sent
        copies = self.copies()
        if resent and copies > 1:
            self._send_copies(resent, copies - 1)
        return sent

    def copies(self) -> int:
        """How many times a NACK answer goes out now: :func:`answer_copies` of the smoothed
        loss, one while the path's jitter says that loss is mostly reordering."""
        if self.jitter_avg_s is None or self.jitter_avg_s > COPY_MAX_JITTER_S:
            return 1
        return answer_copies(round(self.loss_avg))

    def _send_copies(self, packets: list[bytes], n: int) -> None:
        # the answer again, n times, COPY_SPACING_S apart (at once without a running loop);
        # the receiver keeps the first copy that arrives (SRTP drops a replayed index)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        for i in range(1, n + 1):
            if loop is None:
                self._send_all(packets)
            else:
                loop.call_later(COPY_SPACING_S * i, self._send_all, packets)

    def _send_all(self, packets: list[bytes]) -> None:
        for out in packets:
            if self.transport.send_rtp(out):
                self.copies_sent += 1

    def on_report(self, block: ReportBlock, now: float) -> float | None:
        """The subscriber's RR block about this slot: an RTT sample when it echoes one of our
        SRs (RFC 3550 §6.4.1 LSR/DLSR), and its loss fraction (for the publisher's RR).
        Returns the RTT sample (seconds) or None."""
        rtt = rtt_from_report(block, ntp_timestamp(time.time()))
        if rtt is not None:
            self.rtt.update(rtt)
        self.fraction_lost = block.fraction_lost
        self.fraction_at = now
        self.loss_avg += LOSS_GAIN * (block.fraction_lost - self.loss_avg)
        jitter_s = block.jitter / self.clock_rate
        if self.jitter_avg_s is None:
            self.jitter_avg_s = jitter_s
        else:
            self.jitter_avg_s += JITTER_GAIN * (jitter_s - self.jitter_avg_s)
        return rtt

    def sender_report(self, now: float) -> bytes | None:
        """An SR for this slot's SSRC, or None before the first packet."""
        last_out_ts = self.munger.last_out_ts
        if not self.packets or last_out_ts is None:
            return None
        rtp_ts = ts_add(last_out_ts, int((now - self.last_send_time) * self.clock_rate))
        self.last_sr = now
        return build_sr(self.ssrc, ntp_timestamp(time.time()), rtp_ts, self.packets, self.octets)

    def consume(self, producer: Producer, payload_type: int) -> Consumer:
        """Feed this slot from ``producer`` from now on (the current consumer closes first).

        ``payload_type``: the subscriber's for the producer's codec (its RED one, RFC 2198, is
        in :attr:`payload_types`). The new consumer starts a munger generation and joins the
        producer's fan-out list.
        """
        self.release()
        consumer = Consumer(
            producer,
            self,
            payload_type,
            self.payload_types.get("red"),
            self.munger.switch_source(),
            self._producer_closed,
        )
        producer.add_consumer(consumer)
        self.consumer = consumer
        return consumer

    @property
    def layer(self) -> Producer | None:
        """The simulcast layer this slot carries or is switching to (None: not simulcast)."""
        c = self.pending or self.consumer
        return c.producer if c is not None and c.producer.parent is not None else None

    def switch_layer(self, layer: Producer, now: float) -> bool:
        """Carry simulcast ``layer`` (of the track the slot carries) from its next keyframe on;
        the current layer goes on until then (even congested, some of its frames still get
        through: measured, stopping it at once froze the picture longer). A PLI asks the layer
        for that keyframe at once. Returns True when a switch was started."""
        current = self.consumer
        if current is None or current.closed:
            return False
        if current.producer is layer:
            self._drop_pending()  # back to the current layer before the switch happened
            return False
        if self.pending is not None and self.pending.producer is layer:
            return False
        self._drop_pending()
        pending = Consumer(
            layer,
            self,
            current.payload_type,
            current.red_payload_type,
            current.generation,  # replaced by a new munger generation at the keyframe
            self._producer_closed,
        )
        layer.add_consumer(pending)
        self.pending = pending
        self.layer_changed_at = now
        layer.request_keyframe(now, force=True)
        return True

    def _promote(self, pending: Consumer) -> None:
        """``pending`` got its keyframe: it feeds the slot now, in a new munger generation."""
        old = self.consumer
        self.pending = None
        pending.generation = self.munger.switch_source()
        self.consumer = pending
        self.layer_switches += 1
        if old is not None:
            old.close()

    def _drop_pending(self) -> None:
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.close()

    def release(self) -> Consumer | None:
        """Stop feeding this slot; returns the consumer that closed (None if it was empty)."""
        self._drop_pending()
        consumer = self.consumer
        if consumer is None:
            return None
        self.consumer = None
        consumer.close()
        return consumer

    def _producer_closed(self, consumer: Consumer) -> None:
        # the consumer's private close notice: its producer went, the slot is empty now
        if self.pending is consumer:
            self.pending = None
        elif self.consumer is consumer:
            self.consumer = None
            self._drop_pending()  # the whole track went

    def close(self) -> None:
        """The transport is gone: close the current consumer."""
        self.release()


class Consumer:
    """``producer`` → ``slot`` for munger generation ``generation``."""

    __slots__ = (
        "producer",
        "slot",
        "generation",
        "payload_type",
        "red_payload_type",
        "codec",
        "waiting_keyframe",
        "closed",
        "packets",
        "_on_producer_closed",
    )

    def __init__(
        self,
        producer: Producer,
        slot: ReceiveSlot,
        payload_type: int,
        red_payload_type: int | None,
        generation: int,
        on_producer_closed: Callable[[Consumer], None],
    ) -> None:
        """Created by its slot (:meth:`ReceiveSlot.consume`), which registers it."""
        self.producer = producer
        self.slot = slot
        self.payload_type = payload_type
        # the subscriber's RED payload type when it takes RED (RFC 2198), else None
        self.red_payload_type = red_payload_type
        self.codec = producer.codec
        self.generation = generation
        self.waiting_keyframe = producer.kind == "video"
        self.closed = False
        self.packets = 0
        self._on_producer_closed = on_producer_closed

    def send(
        self, data: bytes, view: RtpView, now: float, batch: list[tuple[Any, ...]] | None = None
    ) -> None:
        """Forward one packet of the producer to the slot (the per-packet hot path).

        With ``batch`` (the C fast path, :mod:`ilvb.sfu.fastpath`) and a transport keyed for
        it, only the munger runs here: ``(ctx, addr, pt, seq, ts, ssrc)`` is appended and the
        producer rewrites, protects and sends the whole batch in one call.
        """
        if self.waiting_keyframe:
            # a new source starts on a keyframe, or the decoder gets references it never saw
            if not is_keyframe(self.codec, data[view.header_len : view.payload_end]):
                return
            self.waiting_keyframe = False
            if self.slot.pending is self:
                self.slot._promote(self)  # a simulcast layer switch happens on its keyframe
        slot = self.slot
        if view.payload_end == view.header_len and slot.munger.skip(view.seq):
            return  # padding-only (a bandwidth probe): not forwarded, and no seq hole left
        pt = self.payload_type
        if view.payload_type != self.producer.payload_type:  # RED from the publisher
            adapted = self._adapt_red(data, view)
            if adapted is None:
                return  # malformed RED: dropped (counted by the munger as a seq hole)
            if adapted[0] is not data:
                batch = None  # a new payload: the per-consumer path
            data, view, pt = adapted
        if batch is not None:
            t = slot.transport
            tx = t.fast_tx  # set once DTLS is up, i.e. once remote_addr is known
            if tx is not None:
                mapped = slot.munger.rewrite(view.seq, view.timestamp, now)
                if mapped is not None:
                    seq, ts = mapped
                    batch.append((tx, t.remote_addr, pt, seq, ts, slot.ssrc))
                    t.rtp_out += 1
                    self.packets += 1
                    slot.packets += 1
                    slot.octets += view.payload_end - view.header_len
                    slot.last_send_time = now
                return
        # munger + header rewrite in one call (seq/ts into the slot's space, slot SSRC, our PT)
        packet = slot.munger.forward(data, view, pt, now)
        if packet is None:
            return  # duplicate, too old or before the switch (munger.last_drop says which)
        if slot.transport.send_rtp(packet):
            self.packets += 1
            slot.packets += 1
            slot.octets += view.payload_end - view.header_len
            slot.last_send_time = now

    def _adapt_red(self, data: bytes, view: RtpView) -> tuple[bytes, RtpView, int] | None:
        """A RED packet for this subscriber: as is (block PTs re-labelled if it numbers Opus
        differently) when it takes RED, else its primary block as a plain Opus packet; None
        when the RED payload is malformed."""
        payload = data[view.header_len : view.payload_end]
        red_pt = self.red_payload_type
        if red_pt is not None:
            if self.payload_type == self.producer.payload_type:
                return (data, view, red_pt) if parse_red(payload) is not None else None
            relabelled = relabel(payload, {self.producer.payload_type: self.payload_type})
            if relabelled is None:
                return None
            out = data[: view.header_len] + relabelled + data[view.payload_end :]
        else:
            block = primary(payload)
            if block is None:
                return None
            head = bytearray(data[: view.header_len])
            head[0] &= ~0x20  # no RTP padding: it went with the RED payload
            out = bytes(head) + block[1]
        new_view = parse_rtp(out)
        if new_view is None:
            return None
        return out, new_view, red_pt if red_pt is not None else self.payload_type

    def close(self) -> None:
        """Closed by its slot (a switch, a release): leave the producer's fan-out list.

        Idempotent; the slot initiated it, so the slot is not told again.
        """
        if self.closed:
            return
        self.closed = True
        self.producer.remove_consumer(self)

    def producer_closed(self) -> None:
        """Its producer closed (and dropped its fan-out list): tell the slot. Idempotent."""
        if self.closed:
            return
        self.closed = True
        self._on_producer_closed(self)
