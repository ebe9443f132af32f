"""Retransmission limiter: each packet is re-sent to a subscriber at most once per round trip.

A subscriber NACKs a packet again when its retransmission has not arrived after what it thinks
is one RTT. On a jittery path (or with a receiver that does not know the RTT: a receive-only
Chromium assumes 100 ms) those repeats come before the first answer could have arrived;
answering each one sent a viewer 4.5-4.7× the original packets at 800 ms of jitter. So the SFU
answers a NACK for an output seq only if it has not re-sent that seq within the path's
``RttEstimator.upper`` (srtt + 2·rttvar) — the answer already in flight would be duplicated —
and at most ``MAX_RESENDS`` times in all (libwebrtc's ``RTPSender`` applies the same
once-per-RTT rule on the sending side).
"""

from __future__ import annotations

from enum import Enum

# Per-seq state is kept for the last this many output seqs (power of two).
RING = 1024
# Never re-send one seq more often than this (seconds), whatever the RTT estimate.
MIN_INTERVAL_S = 0.010
# Never re-send one seq more than this many times.
MAX_RESENDS = 10


class Verdict(Enum):
    """What to do with one NACKed seq."""

    SEND = "send"
    TOO_SOON = "too_soon"  # re-sent less than one RTT ago: that answer is still in flight
    TOO_MANY = "too_many"  # re-sent MAX_RESENDS times already


class RetransmitLimiter:
    """Per-subscriber-stream (one receive slot) record of when each output seq was re-sent."""

    __slots__ = ("_seqs", "_times", "_counts", "sent", "suppressed")

    def __init__(self) -> None:
        self._seqs = [-1] * RING
        self._times = [0.0] * RING
        self._counts = [0] * RING
        self.sent = 0
        self.suppressed = 0

    def check(self, seq: int, now: float, interval_s: float) -> Verdict:
        """May ``seq`` be re-sent at ``now``? ``SEND`` records the re-send."""
        i = seq & (RING - 1)
        if self._seqs[i] != seq:  # never re-sent (or its slot was reused by a newer seq)
            self._seqs[i] = seq
            self._times[i] = now
            self._counts[i] = 1
            self.sent += 1
            return Verdict.SEND
        if self._counts[i] >= MAX_RESENDS:
            self.suppressed += 1
            return Verdict.TOO_MANY
        if now - self._times[i] < max(interval_s, MIN_INTERVAL_S):
            self.suppressed += 1
            return Verdict.TOO_SOON
        self._times[i] = now
        self._counts[i] += 1
        self.sent += 1
        return Verdict.SEND

    def clear(self) -> None:
        """Forget everything (a new source on the slot reuses no seq, but be safe)."""
        self._seqs = [-1] * RING
