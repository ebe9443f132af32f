"""Producer: one incoming track of a publisher's send transport.

Owns, for video, the packet cache that answers subscribers' NACKs and the NACK generator that asks
the publisher for its own losses (RFC 4585 §6.2.1); for audio, it reads the RFC 6464 level and
feeds the router's audio selector. Keyframe requests (PLI, RFC 4585 §6.3.1) to the publisher are
throttled to one per ``keyframe_interval_s`` unless forced (a new consumer starts).

Hot path (:meth:`Producer.on_rtp`): cache put → fan out to ``consumers`` (a plain list).

Simulcast (RFC 8853): the track's producer holds one *layer* producer per encoding
(:attr:`Producer.layers`, lowest first as offered), each with its own SSRC (learned from the
RFC 8852 rid extension), packet cache, NACK generator, reception statistics and consumers; the
track's own producer then carries no packets itself. :meth:`Producer.streams` lists what
carries packets either way, and :attr:`Producer.rate_bps` is what each layer brings in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ilvb.sfu import fastpath
from ilvb.sfu.faults import FaultLog
from ilvb.sfu.rtp.audiolevel import audio_level
from ilvb.sfu.rtp.nack import NackGenerator, PacketCache
from ilvb.sfu.rtp.packet import RtpView, parse_rtp
from ilvb.sfu.rtp.rtcp import ReportBlock, build_nack, build_pli, build_remb
from ilvb.sfu.rtp.stats import ReceptionStats

if TYPE_CHECKING:
    from ilvb.sfu.bandwidth import Uplink
    from ilvb.sfu.consumer import Consumer
    from ilvb.sfu.sdp import AcceptedTrack
    from ilvb.sfu.tap import PlainTap
    from ilvb.sfu.transport import WebRtcTransport

logger = logging.getLogger(__name__)
# per packet: a failing fast path is counted (fast_send_failed) and logged once, not per packet
_faults = FaultLog(logger)

# The SSRC the SFU uses as "sender SSRC" in the RTCP feedback it originates (RFC 4585 §6.1).
FEEDBACK_SSRC = 0x1F5F5F5F
# To a publisher that negotiated goog-remb (and no transport-cc, which we never accept) REMB is
# the receive-side estimate it waits for; without one Chromium stays near its 300 kbps start
# rate. Once a second we announce what its subscribers can take (the best of their downlink
# estimates, ilvb.sfu.downlink), within these bounds; the publisher's own loss-based control
# does the rest on its uplink.
REMB_BPS = 3_000_000
REMB_MIN_BPS = 150_000
# a layer's incoming bitrate is measured over this long (seconds)
RATE_WINDOW_S = 0.5
# a simulcast layer without a packet for this long is not being sent (seconds)
LAYER_IDLE_S = 1.0
# After the NACK generator gave up on a packet, the subscribers' decoders are stuck until a
# keyframe: ask at once, but not more often than this (seconds) or twice the RTT — a keyframe
# is several times a delta frame, and under heavy loss it needs NACKs itself to arrive.
GIVE_UP_KEYFRAME_INTERVAL_S = 0.3
# A subscriber's loss report older than this (seconds) no longer counts (RRs come every ~1 s).
DOWNSTREAM_LOSS_MAX_AGE_S = 5.0


class Producer:
    """One incoming track: codec, payload type, SSRC (learned if the SDP had none)."""

    def __init__(
        self,
        member_id: str,
        source: str,
        kind: str,
        codec: str,
        payload_type: int,
        clock_rate: int,
        ssrc: int | None,
        mid: str,
        transport: WebRtcTransport,
        *,
        audio_level_ext: int | None = None,
        mid_ext: int | None = None,
        cache_size: int = 1024,
        keyframe_interval_s: float = 1.0,
        on_level: Callable[[str, int, float], None] | None = None,
        remb: bool = False,
        fast_fd: int | None = None,
        red_payload_type: int | None = None,
        rtx_payload_type: int | None = None,
        audio_nack: bool = False,
    ) -> None:
        self.member_id = member_id
        self.source = source
        self.kind = kind
        self.codec = codec
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self.ssrc = ssrc
        self.mid = mid
        self.transport = transport
        self.audio_level_ext = audio_level_ext
        # RFC 2198 RED wrapping this Opus, when negotiated: packets come with either PT
        self.red_payload_type = red_payload_type
        # RFC 4588 RTX (video), when negotiated: the publisher's answers to our NACKs
        self.rtx_payload_type = rtx_payload_type
        self.rtx_packets = 0
        self.mid_ext = mid_ext
        self.enabled = True
        self.closed = False
        self.consumers: list[Consumer] = []
        # plain loopback subscribers (recorders, ilvb.sfu.tap), packets unchanged
        self.taps: list[PlainTap] = []
        self.is_video = kind == "video"
        # NACK both ways for video, and for audio when its m-line agreed "nack" (the SFU's
        # answer offers it: Chromium then keeps audio history and retransmits)
        recovers = self.is_video or audio_nack
        self.cache: PacketCache | None = PacketCache(cache_size) if recovers else None
        self.nack: NackGenerator | None = NackGenerator() if recovers else None
        self.keyframe_interval_s = keyframe_interval_s
        self._last_keyframe_request = -1e9
        self._on_level = on_level
        self.remb = remb and self.is_video
        # the publisher's cap (bits/s, its quality profile's max send bitrate): no REMB above it
        self.send_cap_bps: int | None = None
        self.last_remb_bps = 0
        # the worker socket's fd when the C fast path forwards (ilvb.sfu.fastpath), else None
        self.fast_fd = fast_fd
        self.fast_send_failed = 0
        # RFC 3550 reception statistics for the RRs we owe the publisher
        self.reception = ReceptionStats(clock_rate)
        # counters
        self.packets = 0
        self.bytes = 0
        self.plis_sent = 0
        self.nacks_sent = 0
        self.keyframes_after_give_up = 0
        # simulcast: the layer producers (lowest first) of this track, or this layer's rid
        self.layers: list[Producer] = []
        self.rid: str | None = None
        self.rid_ext: int | None = None
        self.parent: Producer | None = None  # a layer's track
        # incoming bitrate (bits/s, over the last RATE_WINDOW_S) for the layer choice
        self.rate_bps = 0.0
        self._rate_bytes = 0
        self._rate_at = -1.0
        self.last_packet_at = -1e9
        # what the subscribers of this track would take (bits/s), for the REMB
        self.wanted_bps: float | None = None
        self.subscribers_bps: float | None = None  # the best estimate of those viewing it
        # the track's uplink estimate (ilvb.sfu.bandwidth), and a stream's transit reference
        self.uplink: Uplink | None = None
        self.transit_ref: int | None = None

    def streams(self) -> list[Producer]:
        """The producers that carry packets: the layers of a simulcast track, else itself."""
        return self.layers or [self]

    def measure(self, now: float) -> None:
        """Update :attr:`rate_bps` (the slow timer calls this, ~5 times a second)."""
        if self._rate_at < 0:
            self._rate_at, self._rate_bytes = now, self.bytes
            return
        dt = now - self._rate_at
        if dt >= RATE_WINDOW_S:
            rate = 8.0 * (self.bytes - self._rate_bytes) / dt
            # smoothed over ~1.5 s (a keyframe is a spike); a layer that starts counts at once
            self.rate_bps = rate if not self.rate_bps else 0.7 * self.rate_bps + 0.3 * rate
            self._rate_at, self._rate_bytes = now, self.bytes

    def active(self, now: float) -> bool:
        """A layer the publisher is sending now (Chromium stops the top ones when it lacks
        uplink bandwidth)."""
        return now - self.last_packet_at <= LAYER_IDLE_S and not self.closed

    @classmethod
    def for_track(
        cls,
        member_id: str,
        track: AcceptedTrack,
        transport: WebRtcTransport,
        *,
        cache_size: int,
        keyframe_interval_s: float,
        on_level: Callable[[str, int, float], None],
        fast_fd: int | None,
    ) -> Producer:
        """The producer of an accepted m-line of ``member_id``'s send transport (SDP answer)."""
        t = track
        producer = cls._new(
            member_id,
            t,
            transport,
            cache_size=cache_size,
            keyframe_interval_s=keyframe_interval_s,
            on_level=on_level,
            fast_fd=fast_fd,
        )
        if t.rids:
            producer.rid_ext = t.rid_ext
            for rid in t.rids:
                layer = cls._new(
                    member_id,
                    replace(t, ssrc=None),
                    transport,
                    cache_size=cache_size,
                    keyframe_interval_s=keyframe_interval_s,
                    on_level=on_level,
                    fast_fd=fast_fd,
                )
                layer.rid = rid
                layer.parent = producer
                layer.remb = False  # the track's producer announces one REMB for all
                producer.layers.append(layer)
            producer.cache = None
            producer.nack = None
        return producer

    @classmethod
    def _new(
        cls,
        member_id: str,
        t: AcceptedTrack,
        transport: WebRtcTransport,
        *,
        cache_size: int,
        keyframe_interval_s: float,
        on_level: Callable[[str, int, float], None],
        fast_fd: int | None,
    ) -> Producer:
        return cls(
            member_id,
            t.source,
            t.kind,
            t.codec,
            t.payload_type,
            t.clock_rate,
            t.ssrc,
            t.mid,
            transport,
            audio_level_ext=t.audio_level_ext,
            mid_ext=t.mid_ext,
            cache_size=cache_size,
            keyframe_interval_s=keyframe_interval_s,
            on_level=on_level,
            remb="goog-remb" in t.feedback,
            fast_fd=fast_fd,
            red_payload_type=t.red_payload_type,
            rtx_payload_type=t.rtx_payload_type,
            audio_nack=t.kind == "audio" and "nack" in t.feedback,
        )

    # -- hot path ----------------------------------------------------------------------------

    def on_rtp(self, data: bytes, view: RtpView, now: float, retransmitted: bool = False) -> None:
        """One decrypted RTP packet of this track (``retransmitted``: unwrapped from RTX)."""
        self.packets += 1
        self.bytes += len(data)
        self.last_packet_at = now
        if not retransmitted:  # RFC 3550 statistics are about the original stream
            self.reception.on_packet(view.seq, view.timestamp, now)
        if self.cache is not None:
            self.cache.put(view.seq, data)
            # with RTX, a packet on the original SSRC is never a retransmission
            rtx = retransmitted if self.rtx_payload_type is not None else None
            self.nack.on_packet(view.seq, now, rtx)  # type: ignore[union-attr]
        if not self.enabled:
            return  # muted / revoked: no level either, so the selector lets the slot go
        if not self.is_video and self._on_level is not None:
            # RFC 6464 level; a sender without the extension counts as present but silent
            level = audio_level(data, view, self.audio_level_ext) if self.audio_level_ext else None
            self._on_level(self.member_id, 127 if level is None else level[1], now)
        if self.taps:
            for tap in self.taps:
                tap.send(data, view)
        fd = self.fast_fd
        if fd is None:
            for consumer in self.consumers:
                consumer.send(data, view, now)
            return
        # C fast path: consumers add (ctx, addr, pt, seq, ts, ssrc); one call rewrites,
        # protects and sendmmsg's them all
        items: list[tuple[Any, ...]] = []
        for consumer in self.consumers:
            consumer.send(data, view, now, items)
        if items:
            try:
                self.fast_send_failed += fastpath.forward(fd, data, view.header_len, items)[1]
            except fastpath.Error as exc:
                self.fast_send_failed += len(items)
                _faults.failed("producer.fast_forward", exc, f"{self.member_id}/{self.source}")

    def on_rtx(self, data: bytes, view: RtpView, now: float) -> None:
        """An RFC 4588 retransmission: the original seq (OSN) is the first two payload bytes;
        rebuilt as the original packet (our PT, SSRC and that seq) and handled as one.
        Padding-only RTX (a bandwidth probe) is dropped."""
        start, end = view.header_len, view.payload_end
        if end - start < 3 or self.ssrc is None:
            return  # a probe, or nothing after the OSN
        self.rtx_packets += 1
        head = bytearray(data[:start])
        head[0] &= ~0x20  # the padding stays behind
        head[1] = (head[1] & 0x80) | self.payload_type
        head[2:4] = data[start : start + 2]
        head[8:12] = self.ssrc.to_bytes(4, "big")
        original = bytes(head) + data[start + 2 : end]
        rebuilt = parse_rtp(original)
        if rebuilt is not None:
            self.on_rtp(original, rebuilt, now, retransmitted=True)

    # -- feedback to the publisher -------------------------------------------------------------

    def request_keyframe(
        self, now: float, force: bool = False, interval: float | None = None
    ) -> bool:
        """Send a PLI unless one went out less than ``interval`` (default
        ``keyframe_interval_s``) ago, or ``force``."""
        if self.closed or self.ssrc is None or not self.is_video:
            return False
        wait = self.keyframe_interval_s if interval is None else interval
        if not force and now - self._last_keyframe_request < wait:
            return False
        if self.transport.send_rtcp(build_pli(FEEDBACK_SSRC, self.ssrc)):
            self._last_keyframe_request = now
            self.plis_sent += 1
            return True
        return False  # not connected yet: the slow timer asks again

    def tick(self, now: float, rtt: float | None = None) -> None:
        """Timers: NACK the publisher for packets still missing (retries paced by the RTT the
        NACK generator measures on this path, unless ``rtt`` is given); when a packet was given
        up, ask for a keyframe at once (throttled to ``GIVE_UP_KEYFRAME_INTERVAL_S``)."""
        nack = self.nack
        if nack is None or self.ssrc is None or self.closed:
            return
        missing = nack.due(now, rtt)
        if missing:
            if self.transport.send_rtcp(build_nack(FEEDBACK_SSRC, self.ssrc, missing)):
                self.nacks_sent += 1
        if nack.keyframe_needed and self.is_video and self.consumers:
            interval = max(GIVE_UP_KEYFRAME_INTERVAL_S, 2.0 * nack.rtt.srtt)
            if now - self._last_keyframe_request >= interval and self.request_keyframe(
                now, force=True
            ):
                nack.keyframe_needed = False
                self.keyframes_after_give_up += 1

    def on_sender_report(self, ntp_time: int, now: float) -> None:
        """The publisher's SR: remembered for the LSR/DLSR of our next report block."""
        self.reception.on_sender_report(ntp_time, now)

    def report_block(self, now: float) -> ReportBlock | None:
        """RFC 3550 §6.4.1 report block on this stream (None before the first packet).

        For audio the fraction lost is the worst of this leg and of what any subscriber
        reported in the last ``DOWNSTREAM_LOSS_MAX_AGE_S`` (a subscriber's figure is already
        end to end: the slot keeps this leg's gaps), so that the publisher's Opus encoder sizes
        its in-band FEC for the path its packets really take (FEC is recovered at the
        subscriber). Video reports its own leg: its loss feeds the publisher's bandwidth
        estimate, which must not back off for one viewer's bad link.
        """
        if self.ssrc is None:
            return None
        block = self.reception.report_block(self.ssrc, now)
        if block is None or self.is_video or not self.consumers:
            return block
        worst = max(
            (
                c.slot.fraction_lost
                for c in self.consumers
                if now - c.slot.fraction_at <= DOWNSTREAM_LOSS_MAX_AGE_S
            ),
            default=0,
        )
        if worst <= block.fraction_lost:
            return block
        return replace(block, fraction_lost=worst)

    def send_remb(self) -> None:
        """Announce what the subscribers take to the publisher (slow timer, when goog-remb was
        agreed): :attr:`wanted_bps` (the router sets it from the subscribers' estimates) within
        ``REMB_MIN_BPS``..:data:`REMB_BPS`, or :data:`REMB_BPS` before any subscriber; never above
        the publisher's :attr:`send_cap_bps`."""
        if not self.remb or self.closed:
            return
        ssrcs = [s.ssrc for s in self.streams() if s.ssrc is not None]
        if not ssrcs:
            return
        bps = REMB_BPS if self.wanted_bps is None else self.wanted_bps
        bps = self.capped(int(min(REMB_BPS, max(REMB_MIN_BPS, bps))))
        self.last_remb_bps = bps
        self.transport.send_rtcp(build_remb(FEEDBACK_SSRC, bps, ssrcs))

    def capped(self, bps: int) -> int:
        """``bps`` within the publisher's cap (:attr:`send_cap_bps`), for any REMB it is sent."""
        return bps if self.send_cap_bps is None else min(bps, self.send_cap_bps)

    # -- consumers (created by their receive slot, ilvb.sfu.consumer) ----------------------------

    def add_consumer(self, consumer: Consumer) -> None:
        """A slot starts forwarding this producer: join the fan-out list."""
        if self.closed:
            raise RuntimeError("producer closed")
        self.consumers.append(consumer)

    def remove_consumer(self, consumer: Consumer) -> None:
        """A consumer closed by its slot leaves the fan-out list."""
        try:
            self.consumers.remove(consumer)
        except ValueError:
            pass

    def close(self) -> None:
        """Close; each consumer learns it (:meth:`Consumer.producer_closed`). Idempotent."""
        if self.closed:
            return
        self.closed = True
        for tap in self.taps:
            tap.closed = True
        self.taps = []
        consumers, self.consumers = self.consumers, []
        for consumer in consumers:
            consumer.producer_closed()
        for layer in self.layers:
            layer.close()
