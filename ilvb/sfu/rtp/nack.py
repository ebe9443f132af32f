"""Packet loss recovery: a retransmission cache and the SFU's own NACK generator (RFC 4585 §6.2.1).

Two halves of NACK handling in the SFU (mediasoup ``RtpStreamRecv`` / ``NackGenerator.cpp``,
libwebrtc ``nack_requester.cc``):

* :class:`PacketCache` keeps the last ``size`` packets of one incoming stream, indexed
  ``seq % size``. When a subscriber NACKs an output seq, the consumer maps it back with
  ``RtpMunger.out_to_in`` and re-sends the cached packet with the same rewritten header.
* :class:`NackGenerator` watches one publisher's incoming stream, notices holes in the sequence
  numbers and decides when to NACK the publisher for them, so the cache has the packet before
  the subscribers ask. It measures the round trip itself (NACK → retransmission: no report
  block echoes the SFU on a publisher's path) and, when it gives up on a packet, asks for a
  keyframe at once: the subscribers' decoders cannot continue past the hole anyway.
"""

from __future__ import annotations

import logging

from ilvb.sfu.rtp.rtt import RttEstimator
from ilvb.sfu.rtp.seq import SEQ_HALF, SEQ_MASK

logger = logging.getLogger(__name__)


# A forward jump larger than this (in packets) is not loss but a stream restart: forget the
# missing list instead of NACKing hundreds of packets.
MAX_GAP = 500
# A backward jump larger than this is also a restart (the publisher reset its seq numbers).
MAX_BACKWARD = 3000
# At most this many seqs are tracked as missing; the oldest are forgotten first.
MAX_MISSING = 1000
# NACK one seq at most this many times ...
MAX_TRIES = 10
# ... and give up on it this long after it was found missing (seconds).
MAX_AGE_S = 1.0
# Retries wait at least one RTT, and never less than this (seconds).
MIN_RETRY_S = 0.020
# A retry waits the measured RTT plus this many mean deviations (a jittery path answers late).
RETRY_DEVIATIONS = 2.0
# Until the first RTT sample, retries wait this long (seconds).
UNKNOWN_RTT_RETRY_S = 0.050


class PacketCache:
    """The last ``size`` packets of one stream by sequence number (``size`` a power of two)."""

    __slots__ = ("size", "_mask", "_seqs", "_packets")

    def __init__(self, size: int = 1024) -> None:
        assert size > 0 and size & (size - 1) == 0, "PacketCache size must be a power of two"
        self.size = size
        self._mask = size - 1
        self._seqs = [-1] * size
        self._packets: list[bytes | None] = [None] * size

    def put(self, seq: int, packet: bytes) -> None:
        """Store ``packet`` (replacing whatever was at ``seq % size``)."""
        i = seq & self._mask
        self._seqs[i] = seq
        self._packets[i] = packet

    def get(self, seq: int) -> bytes | None:
        """The packet stored for exactly ``seq``, or ``None`` (never stored or overwritten)."""
        i = seq & self._mask
        if self._seqs[i] != seq:
            return None
        return self._packets[i]

    def clear(self) -> None:
        """Forget every packet."""
        self._seqs = [-1] * self.size
        self._packets = [None] * self.size


class NackGenerator:
    """Tracks missing seqs of one publisher stream and says which to NACK when.

    Decisions, per missing seq (times in seconds):

    1. A hole is found when a packet arrives more than one seq ahead of the newest one; every
       seq in between becomes *missing* (unless the jump is > ``MAX_GAP``: reset instead).
    2. ``due()`` returns a missing seq right away the first time (the publisher's RTX answers
       within one RTT, well before a jitter buffer gives up on it).
    3. It returns it again every ``max(srtt + 2·rttvar, MIN_RETRY_S)`` while it is still
       missing: the RTT measured on this path (below; 50 ms before the first sample), so a
       5 ms path retries every 20 ms and a jittery 800 ms one does not re-ask before an answer
       could have come.
    4. After ``MAX_TRIES`` NACKs, or ``MAX_AGE_S`` after it went missing, it is given up
       (counted in ``lost``) and ``keyframe_needed`` is set: a decoder cannot pass the hole,
       so the owner asks the publisher for a keyframe now instead of waiting for the
       subscribers' own keyframe requests (1-3 s later).
    5. When the packet arrives (late or retransmitted) it is removed (counted in ``recovered``).
       If it was NACKed exactly once, the time since that NACK is an RTT sample (Karn's rule:
       after two NACKs the answer could be to either). With RTX the caller says whether the
       packet is a retransmission; a late original is then no sample.
    """

    __slots__ = (
        "_hi",
        "_missing",
        "nacks_sent",
        "recovered",
        "lost",
        "resets",
        "rtt",
        "keyframe_needed",
    )

    def __init__(self) -> None:
        # newest seq seen, as an extended (non-wrapping) int; None before the first packet
        self._hi: int | None = None
        # extended seq -> [time found missing, time last NACKed (-1: never), tries]
        self._missing: dict[int, list[float]] = {}
        self.nacks_sent = 0
        self.recovered = 0
        self.lost = 0
        self.resets = 0
        self.rtt = RttEstimator()
        # set when a seq was given up; the owner clears it once it has asked for a keyframe
        self.keyframe_needed = False

    @property
    def missing(self) -> list[int]:
        """The seqs currently missing, oldest first."""
        return [s & SEQ_MASK for s in sorted(self._missing)]

    def on_packet(self, seq: int, now: float, retransmitted: bool | None = None) -> None:
        """Record the arrival of ``seq`` at ``now`` (``retransmitted``: it came on RTX; None
        when the stream has no RTX and the two cannot be told apart)."""
        hi = self._hi
        if hi is None:
            self._hi = seq
            return
        # distance from the newest packet, in [-32768, 32767] (seq_diff inlined: per packet)
        d = ((seq - hi + SEQ_HALF) & SEQ_MASK) - SEQ_HALF
        ext = hi + d
        # 1. the next packet in order: the common case
        if d == 1:
            self._hi = ext
            return
        missing = self._missing
        # 2. older packet: a late original or a retransmission fills its hole
        if d <= 0:
            entry = missing.pop(ext, None)
            if entry is not None:
                self.recovered += 1
                if entry[2] == 1 and retransmitted is not False:
                    self.rtt.update(now - entry[1])  # 5. one NACK out: its round trip
            elif d < -MAX_BACKWARD:
                self._reset(seq)
            return
        # 3. a jump too large to be loss: the stream restarted
        if d > MAX_GAP:
            self._reset(seq)
            return
        # 4. a hole of d - 1 packets
        for s in range(hi + 1, ext):
            missing[s] = [now, -1.0, 0]
        self._hi = ext
        # keep the list bounded: forget the oldest
        if len(missing) > MAX_MISSING:
            for s in sorted(missing)[: len(missing) - MAX_MISSING]:
                del missing[s]
                self.lost += 1
            self.keyframe_needed = True

    def _reset(self, seq: int) -> None:
        """Forget every missing seq and restart from ``seq``."""
        logger.debug("nack generator reset at seq %d (%d missing dropped)", seq, len(self._missing))
        self.lost += len(self._missing)
        if self._missing:
            self.keyframe_needed = True
        self._missing.clear()
        self._hi = seq
        self.resets += 1

    def due(self, now: float, rtt: float | None = None) -> list[int]:
        """The seqs to NACK now (oldest first); call every ~10-20 ms or after a new hole.

        ``rtt`` (seconds) overrides the measured round trip; by default the retry interval is
        ``srtt + RETRY_DEVIATIONS·rttvar`` of this path.
        """
        missing = self._missing
        if not missing:
            return []
        if rtt is None:
            est = self.rtt
            rtt = est.srtt + RETRY_DEVIATIONS * est.rttvar if est.samples else UNKNOWN_RTT_RETRY_S
        retry = max(rtt, MIN_RETRY_S)
        out: list[int] = []
        expired: list[int] = []
        for s, entry in missing.items():
            found, last, tries = entry
            # 4. give up: too many tries or too old
            if tries >= MAX_TRIES or now - found > MAX_AGE_S:
                expired.append(s)
                continue
            # 2./3. first NACK right away, then once per retry interval
            if last < 0 or now - last >= retry:
                entry[1] = now
                entry[2] = tries + 1
                out.append(s)
        for s in expired:
            del missing[s]
        if expired:
            self.lost += len(expired)
            self.keyframe_needed = True
        self.nacks_sent += len(out)
        out.sort()
        return [s & SEQ_MASK for s in out]
