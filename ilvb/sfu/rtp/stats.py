"""Reception statistics of one incoming RTP stream, for the RR report block (RFC 3550 §6.4.1).

The SFU is the receiver of every publisher's streams, so it owes each publisher receiver
reports: loss (fraction since the last report and cumulative), the extended highest sequence
number, interarrival jitter, and LSR/DLSR so the publisher can measure RTT. The arithmetic
follows RFC 3550 Appendix A.3 (loss) and A.8 (jitter); aiortc's ``StreamStatistics`` does the
same for its own receiver.
"""

from __future__ import annotations

from ilvb.sfu.rtp.rtcp import ReportBlock, ntp_middle32
from ilvb.sfu.rtp.seq import SEQ_HALF, SEQ_MASK, TS_HALF, TS_MASK

# RFC 3550 §6.4.1: cumulative lost is a signed 24-bit field
_LOST_MAX = 0x7FFFFF
_LOST_MIN = -0x800000


class ReceptionStats:
    """Counters of one incoming stream (one SSRC) and the RR block built from them."""

    __slots__ = (
        "clock_rate",
        "received",
        "_base",
        "_hi",
        "_jitter",
        "_transit",
        "_expected_prior",
        "_received_prior",
        "_lsr",
        "_sr_time",
        "min_transit",
    )

    def __init__(self, clock_rate: int) -> None:
        self.clock_rate = clock_rate
        self.received = 0
        # extended (non-wrapping) first and highest seq; None before the first packet
        self._base: int | None = None
        self._hi = 0
        # interarrival jitter in timestamp units, as a float (RFC 3550 A.8)
        self._jitter = 0.0
        self._transit: int | None = None
        self._expected_prior = 0
        self._received_prior = 0
        # middle 32 bits of the last SR's NTP time, and when it arrived (seconds)
        self._lsr = 0
        self._sr_time = 0.0
        # the smallest transit (arrival - timestamp, in timestamp units mod 2**32) since the
        # owner last reset it to None: the one-way delay floor of an interval (ilvb.sfu.bandwidth)
        self.min_transit: int | None = None

    def on_packet(self, seq: int, timestamp: int, now: float) -> None:
        """Count one packet (``now``: arrival time in seconds on the worker's clock)."""
        self.received += 1
        # 1. extended highest seq (duplicates and reordering don't move it back)
        if self._base is None:
            self._base = self._hi = seq
        else:
            d = ((seq - self._hi + SEQ_HALF) & SEQ_MASK) - SEQ_HALF  # seq_diff, inlined
            if d > 0:
                self._hi += d
        # 2. jitter: |D| of relative transit times, smoothed by 1/16
        arrival = int(now * self.clock_rate)
        transit = (arrival - timestamp) & TS_MASK
        prev = self._transit
        self._transit = transit
        low = self.min_transit
        if low is None or ((transit - low + TS_HALF) & TS_MASK) - TS_HALF < 0:
            self.min_transit = transit
        if prev is not None:
            d = ((transit - prev + TS_HALF) & TS_MASK) - TS_HALF  # ts_diff, inlined
            self._jitter += (abs(d) - self._jitter) / 16.0

    def on_sender_report(self, ntp_ts: int, now: float) -> None:
        """Remember the publisher's SR (for LSR/DLSR)."""
        self._lsr = ntp_middle32(ntp_ts)
        self._sr_time = now

    @property
    def extended_highest(self) -> int:
        """Extended highest sequence number received (cycles << 16 | seq)."""
        return self._hi

    @property
    def lost(self) -> int:
        """Cumulative packets lost (expected - received; negative with duplicates)."""
        if self._base is None:
            return 0
        return (self._hi - self._base + 1) - self.received

    @property
    def jitter(self) -> int:
        """Interarrival jitter in timestamp units."""
        return int(self._jitter)

    def report_block(self, ssrc: int, now: float) -> ReportBlock | None:
        """The RR block about this stream (``ssrc`` = its SSRC); starts a new loss interval.

        ``None`` before the first packet.
        """
        if self._base is None:
            return None
        expected = self._hi - self._base + 1
        # fraction lost since the previous report, 8-bit fixed point (RFC 3550 A.3)
        expected_interval = expected - self._expected_prior
        received_interval = self.received - self._received_prior
        self._expected_prior = expected
        self._received_prior = self.received
        lost_interval = expected_interval - received_interval
        if expected_interval <= 0 or lost_interval <= 0:
            fraction = 0
        else:
            fraction = min(255, (lost_interval << 8) // expected_interval)
        cumulative = max(_LOST_MIN, min(_LOST_MAX, expected - self.received))
        dlsr = int((now - self._sr_time) * 65536) & TS_MASK if self._lsr else 0
        return ReportBlock(
            ssrc=ssrc,
            fraction_lost=fraction,
            packets_lost=cumulative,
            highest_seq=self._hi & TS_MASK,
            jitter=int(self._jitter),
            lsr=self._lsr,
            dlsr=dlsr,
        )
