"""Per-consumer RTP sequence-number and timestamp rewriting across source switches.

A receive slot (one outgoing SSRC) carries different producers over time: the loudest speaker,
the member a view points at. The receiver must see *one* continuous stream, so each receive
slot owns an :class:`RtpMunger` that maps every forwarded packet's ``(seq, timestamp)`` into the
slot's output space (LiveKit ``pkg/sfu/rtpmunger.go``, mediasoup ``SeqManager.cpp``).

Model: the output is a sequence of *generations*; one generation is one uninterrupted run of
one source. Inside a generation the mapping is a pure offset, ``out = in + offset`` (mod 2**16
for seq, 2**32 for timestamps), so reordered packets and losses keep their gaps and the
receiver's NACKs name real packets. A generation starts at the first packet after
:meth:`RtpMunger.switch_source`; its offsets are chosen so that

1. ``out_seq = last_out_seq + 1`` — the receiver sees no sequence gap, hence sends no NACKs for
   packets that never existed;
2. ``out_ts = last_out_ts + max(elapsed wall time, MIN_SWITCH_STEP_S) * clock_rate`` — timestamps
   advance like the real time that passed, and always by at least a frame-ish step so the new
   source's first frame never shares a timestamp with the old source's last frame (equal
   timestamps would be merged into one frame by the receiver's jitter buffer).

Padding-only packets can be dropped without leaving a hole with :meth:`RtpMunger.skip`: it
starts a new *range* inside the generation whose offset is one lower, and late packets are
mapped with the range they belong to (mediasoup ``SeqManager::Drop``, LiveKit's range map).

Packets are *dropped* (``rewrite`` returns ``None``, the reason in :attr:`RtpMunger.last_drop`)
when forwarding them would corrupt the output: see :class:`DropReason`. A full numeric trace is
in ``docs/internals/forwarding.md``.

All state is plain ints in ``__slots__``; :meth:`RtpMunger.rewrite` allocates only its result.
"""

from __future__ import annotations

import logging
import struct
from enum import IntEnum

from ilvb.sfu.rtp.packet import RtpView, rewrite_rtp
from ilvb.sfu.rtp.seq import SEQ_HALF, SEQ_MASK, TS_MASK, seq_add, seq_diff, ts_add

logger = logging.getLogger(__name__)

_FIXED = struct.Struct("!BBHII")

# Ring of recently forwarded extended output seqs, for duplicate detection (power of two).
RING_SIZE = 1024
# A packet more than this many sequence numbers behind the newest forwarded one is dropped:
# its slot in the ring (and in the consumer's packet cache) has been reused.
MAX_REORDER = RING_SIZE - 1
# The smallest timestamp advance at a source switch, in seconds (one 10 ms audio frame; less
# than one video frame): the new source's first frame must get a new timestamp.
MIN_SWITCH_STEP_S = 0.010
# out_to_in() keeps at most this many mappings (one per generation and per skip()) besides
# forgetting those older than MAX_REORDER.
MAX_MAPPINGS = 64


class DropReason(IntEnum):
    """Why :meth:`RtpMunger.rewrite` returned ``None``."""

    # The same input seq was already forwarded in this generation (retransmission racing the
    # original, or a duplicated datagram).
    DUPLICATE = 1
    # More than MAX_REORDER packets older than the newest forwarded one.
    TOO_OLD = 2
    # Older than the first packet of the current generation: its output seq would collide with
    # the previous source's packets (a late packet of the new source, or an unlabelled late
    # packet of the old source).
    BEFORE_SWITCH = 3
    # Labelled with a ``source`` other than the current one (a late packet of the old source).
    WRONG_SOURCE = 4
    # A duplicate of a packet that was dropped with skip() (its output seq went to the next one).
    SKIPPED = 5


class RtpMunger:
    """Rewrites one consumer's seq/timestamps so the stream stays continuous across sources.

    ``initial_seq`` / ``initial_ts`` fix the output of the very first packet (default: the
    first input packet's own values).
    """

    __slots__ = (
        "out_ssrc",
        "clock_rate",
        "generation",
        "last_drop",
        "drops",
        "_source",
        "_pending",
        "_started",
        "_hi_in",
        "_hi_out",
        "_off",
        "_range_first_out",
        "_ranges",
        "_seq_offset",
        "_ts_offset",
        "_last_out_ts",
        "_last_time",
        "_ring",
        "_gens",
        "_initial_seq",
        "_initial_ts",
    )

    def __init__(
        self,
        out_ssrc: int,
        clock_rate: int,
        *,
        initial_seq: int | None = None,
        initial_ts: int | None = None,
    ) -> None:
        self.out_ssrc = out_ssrc
        self.clock_rate = clock_rate
        # generation of the current source; switch_source() increments it
        self.generation = 0
        # why the last rewrite() returned None, and counts per DropReason
        self.last_drop: DropReason | None = None
        self.drops: dict[DropReason, int] = dict.fromkeys(DropReason, 0)
        self._source: int | None = None
        # True until the first packet of the current generation has been seen
        self._pending = True
        # True once any packet has been forwarded
        self._started = False
        # newest input seq of this generation (16 bit) and its *extended* output seq
        # (monotonic int, never wraps: out_seq = ext & 0xFFFF)
        self._hi_in = 0
        self._hi_out = -1
        # hi_out - (extended) hi_in: the current range's offset as a plain int
        self._off = 0
        # extended output seq of the first packet of the current range (see skip())
        self._range_first_out = 0
        # ranges of this generation, oldest first: (first extended in seq, offset, first out,
        # seqs skipped right before it); a new range starts after each skip()
        self._ranges: list[tuple[int, int, int, int]] = []
        # out_seq = (in_seq + _seq_offset) & 0xFFFF; out_ts = (in_ts + _ts_offset) & 0xFFFFFFFF
        self._seq_offset = 0
        self._ts_offset = 0
        # output timestamp and arrival time of the newest forwarded packet
        self._last_out_ts = 0
        self._last_time = 0.0
        # extended output seqs forwarded recently, indexed ext % RING_SIZE
        self._ring = [-1] * RING_SIZE
        # out -> in mappings for out_to_in(), oldest first: (generation, first extended out seq,
        # seq offset, ts offset); one per generation plus one per skip()
        self._gens: list[tuple[int, int, int, int]] = []
        self._initial_seq = initial_seq
        self._initial_ts = initial_ts

    def switch_source(self, source: int | None = None) -> int:
        """The next packet starts a new source (view or speaker switch); returns its generation.

        ``source`` optionally labels the new source (e.g. the producer's SSRC); ``rewrite`` then
        drops packets labelled with any other source.
        """
        self.generation += 1
        self._pending = True
        self._source = source
        return self.generation

    def rewrite(
        self, seq: int, timestamp: int, now: float, source: int | None = None
    ) -> tuple[int, int] | None:
        """Map an incoming packet to ``(out_seq, out_ts)``, or ``None`` to drop it.

        ``now`` is the arrival time in seconds (monotonic clock); it only matters for the
        timestamp jump at a source switch.
        """
        # 0. a packet labelled with another source is a late packet of an old one
        if source is not None and self._source is not None and source != self._source:
            return self._drop(DropReason.WRONG_SOURCE)
        # 1. first packet of a generation: choose the offsets (docstring rules 1 and 2)
        if self._pending:
            return self._start_generation(seq, timestamp, now)
        # 2. distance from the newest packet of this generation, in [-32768, 32767]
        # (seq_diff inlined: this runs per packet per subscriber)
        d = ((seq - self._hi_in + SEQ_HALF) & SEQ_MASK) - SEQ_HALF
        out = self._hi_out + d
        # 3. in-order (possibly after a loss): the new newest packet
        if d > 0:
            self._hi_in = seq
            self._hi_out = out
            self._last_time = now
            out_ts = (timestamp + self._ts_offset) & TS_MASK
            self._last_out_ts = out_ts
            self._ring[out & (RING_SIZE - 1)] = out
            return out & SEQ_MASK, out_ts
        # 4. duplicate of the newest packet
        if d == 0:
            return self._drop(DropReason.DUPLICATE)
        # 5. out of order: must belong to this generation and still be inside the window
        if out < self._range_first_out:
            # older than the current range: an earlier range of this generation, or before it
            out = self._map_old(out - self._off)
            if out < 0:
                return self._drop(DropReason.SKIPPED if out == -2 else DropReason.BEFORE_SWITCH)
        if d < -MAX_REORDER:
            return self._drop(DropReason.TOO_OLD)
        ring = self._ring
        if ring[out & (RING_SIZE - 1)] == out:
            return self._drop(DropReason.DUPLICATE)
        ring[out & (RING_SIZE - 1)] = out
        return out & SEQ_MASK, (timestamp + self._ts_offset) & TS_MASK

    def forward(
        self, data: bytes, view: RtpView, payload_type: int, now: float, source: int | None = None
    ) -> bytes | None:
        """:meth:`rewrite` + :func:`~ilvb.sfu.rtp.packet.rewrite_rtp` in one call: the outgoing
        packet (``out_ssrc``, ``payload_type``, extensions dropped) or ``None`` to drop.

        The in-order packet without CSRCs (nearly every packet) takes an inlined path that
        skips the intermediate tuple and the keyword call; everything else goes through the
        two general functions, with identical results.
        """
        if not self._pending and source is None and not data[0] & 0x0F:
            # distance from the newest packet of this generation, in [-32768, 32767]
            # (seq_diff inlined: this runs per packet per subscriber)
            d = ((view.seq - self._hi_in + SEQ_HALF) & SEQ_MASK) - SEQ_HALF
            if d > 0:
                # rewrite() step 3, inlined
                out = self._hi_out + d
                self._hi_in = view.seq
                self._hi_out = out
                self._last_time = now
                out_ts = (view.timestamp + self._ts_offset) & TS_MASK
                self._last_out_ts = out_ts
                self._ring[out & (RING_SIZE - 1)] = out
                # rewrite_rtp() without extensions: V/P kept, X cleared, marker kept
                return (
                    _FIXED.pack(
                        data[0] & 0xEF,
                        (data[1] & 0x80) | (payload_type & 0x7F),
                        out & SEQ_MASK,
                        out_ts,
                        self.out_ssrc,
                    )
                    + data[view.header_len :]
                )
        mapped = self.rewrite(view.seq, view.timestamp, now, source)
        if mapped is None:
            return None
        return rewrite_rtp(
            data,
            view,
            payload_type=payload_type,
            seq=mapped[0],
            timestamp=mapped[1],
            ssrc=self.out_ssrc,
        )

    def _start_generation(self, seq: int, timestamp: int, now: float) -> tuple[int, int]:
        """Offsets for the first packet of a new source (the module docstring's rules)."""
        if not self._started:
            # very first packet: keep its values unless initial ones were given
            out = 0x10000 + (seq if self._initial_seq is None else self._initial_seq & SEQ_MASK)
            out_ts = timestamp if self._initial_ts is None else self._initial_ts & TS_MASK
            self._started = True
        else:
            # 1. continue the sequence right after the newest forwarded packet
            out = self._hi_out + 1
            # 2. advance the timestamp by the wall time that passed (at least one step)
            elapsed = max(now - self._last_time, MIN_SWITCH_STEP_S)
            out_ts = ts_add(self._last_out_ts, max(1, round(elapsed * self.clock_rate)))
        self._pending = False
        self._seq_offset = seq_add(out, -seq)
        self._ts_offset = ts_add(out_ts, -timestamp)
        self._hi_in = seq
        self._hi_out = out
        self._off = out - seq
        self._range_first_out = out
        self._ranges = [(seq, out - seq, out, 0)]
        self._last_out_ts = out_ts
        self._last_time = now
        self._ring[out & (RING_SIZE - 1)] = out
        self._gens.append((self.generation, out, self._seq_offset, self._ts_offset))
        self._trim()
        return out & SEQ_MASK, out_ts

    def skip(self, seq: int, source: int | None = None) -> bool:
        """Drop the next in-order packet ``seq`` *without* leaving a hole in the output.

        For padding-only packets (bandwidth probes): forwarding them to every subscriber costs
        CPU and bandwidth, but dropping them plainly leaves a seq gap the subscriber NACKs
        forever. Returns True when the packet is consumed (don't forward it): the output seq it
        would have had goes to the next packet. Returns False when ``seq`` is not the very next
        seq (a hole or reordering before it): then forward it with :meth:`rewrite` as usual.

        Packets older than ``seq`` that arrive later keep their own output seqs (each skip opens
        a new *range* with an offset one lower); a duplicate of a skipped packet is dropped as
        ``SKIPPED``.
        """
        if source is not None and self._source is not None and source != self._source:
            return True  # a late packet of an old source: drop it, nothing to compact
        if self._pending:
            return True  # the generation has not started: no output seq to spare
        if seq_diff(seq, self._hi_in) != 1:
            return False
        in_ext = self._hi_out - self._off + 1
        self._hi_in = seq
        off = self._off - 1
        self._off = off
        self._seq_offset = off & SEQ_MASK
        first_out = self._hi_out + 1
        self._range_first_out = first_out
        ranges = self._ranges
        last = ranges[-1]
        if last[0] == in_ext:
            # the current range has no packet yet (a burst of padding): widen its gap
            ranges[-1] = (in_ext + 1, off, first_out, last[3] + 1)
        else:
            ranges.append((in_ext + 1, off, first_out, 1))
        gens = self._gens
        g = gens[-1]
        if g[1] == first_out:
            gens[-1] = (g[0], first_out, off & SEQ_MASK, g[3])
        else:
            gens.append((self.generation, first_out, off & SEQ_MASK, self._ts_offset))
        self._trim()
        return True

    def _map_old(self, in_ext: int) -> int:
        """Extended out seq of ``in_ext`` from an earlier range of this generation; ``-2`` if it
        is a skipped seq, ``-1`` if it is older than the generation."""
        ranges = self._ranges
        for i in range(len(ranges) - 2, -1, -1):
            first_in, off, _, _ = ranges[i]
            next_first_in, _, _, skipped = ranges[i + 1]
            if in_ext >= next_first_in - skipped:
                return -2
            if in_ext >= first_in:
                return in_ext + off
        return -1

    def _trim(self) -> None:
        """Forget ranges and mappings that lie wholly outside the reorder window."""
        limit = self._hi_out - MAX_REORDER
        ranges = self._ranges
        while len(ranges) > 1 and ranges[1][2] <= limit:
            del ranges[0]
        gens = self._gens
        while len(gens) > 1 and (gens[1][1] <= limit or len(gens) > MAX_MAPPINGS):
            del gens[0]

    def _drop(self, reason: DropReason) -> tuple[int, int] | None:
        """Record a drop reason and return ``None`` (``return self._drop(reason)`` drops)."""
        self.last_drop = reason
        self.drops[reason] += 1
        if logger.isEnabledFor(logging.DEBUG):  # drops are rare; the check is all they cost
            logger.debug(
                "munger ssrc=%#x gen=%d drop %s", self.out_ssrc, self.generation, reason.name
            )
        return None

    @property
    def last_out_seq(self) -> int | None:
        """The newest output sequence number, or ``None`` before the first packet."""
        return self._hi_out & SEQ_MASK if self._started else None

    @property
    def last_out_ts(self) -> int | None:
        """The output timestamp of the newest forwarded packet, or ``None`` before any."""
        return self._last_out_ts if self._started else None

    def out_to_in(self, out_seq: int) -> tuple[int, int] | None:
        """Map an output seq (from a receiver's NACK) to ``(generation, in_seq)``.

        Works for any seq up to the newest forwarded one and at most ``MAX_REORDER`` older, also
        for packets the SFU never received (its own NACK may have recovered them since).
        ``None`` for seqs not sent yet or older than that.
        """
        if not self._started:
            return None
        hi = self._hi_out
        # extend out_seq to the extended number nearest the newest forwarded one
        ext = hi + seq_diff(out_seq, hi)
        if ext > hi or ext < hi - MAX_REORDER:
            return None
        for generation, first_out, offset, _ in reversed(self._gens):
            if ext >= first_out:
                return generation, seq_add(ext, -offset)
        return None

    def out_timestamp(self, generation: int, timestamp: int) -> int | None:
        """The output timestamp of an input ``timestamp`` of ``generation`` (for retransmitting a
        cached packet found with :meth:`out_to_in`); ``None`` for a forgotten generation."""
        for g, _, _, ts_offset in reversed(self._gens):
            if g == generation:
                return ts_add(timestamp, ts_offset)
        return None
