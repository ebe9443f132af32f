"""An adaptive jitter buffer for received audio, in place of aiortc's.

aiortc's audio buffer holds 16 packets and releases a frame only when four in a row are
complete; on a gap it waits until 16 packets are behind it and then *discards* them, so 30 %
loss loses most frames, and a packet reordered by more than 16 places is thrown away.

:class:`AdaptiveAudioBuffer` keeps the same interface (``add(packet) -> (pli, frame)``; one
Opus packet is one frame) with this rule:

- frames leave in sequence order as soon as the next one is there;
- a missing packet is waited for until ``depth`` later packets have arrived, then skipped (the
  decoder conceals it); the frames behind it are not lost;
- a packet that arrives after its slot was skipped is *late*: each late packet raises
  ``depth`` to how far behind it came plus a margin, up to ``MAX_DEPTH`` (50 packets of 20 ms,
  about 1 s); after ``DECAY_AFTER`` packets without a late one, ``depth`` drops by one per
  ``DECAY_EVERY`` packets, down to ``MIN_DEPTH``;
- when more than ``depth + MARGIN`` packets wait behind the next one (the wait was longer
  than ``depth`` needs now), the oldest frame is dropped (``trimmed``) so the delay shrinks.

Each ``add`` returns at most one frame (aiortc's contract); after a skip the backlog drains one
frame per arriving packet, so the delay it built up stays while loss or jitter lasts.
"""

from __future__ import annotations

from aiortc.jitterbuffer import JitterFrame
from aiortc.rtp import RtpPacket

MIN_DEPTH = 3
MAX_DEPTH = 50
MARGIN = 4
DECAY_AFTER = 500  # ~10 s of 20 ms packets
DECAY_EVERY = 50
SPAN = 1 << 16
WINDOW = 1 << 10  # slots kept; larger than MAX_DEPTH plus any backlog


def _ahead(a: int, b: int) -> int:
    """How many sequence numbers ``a`` is ahead of ``b`` (negative: behind), mod 2^16."""
    d = (a - b) % SPAN
    return d - SPAN if d >= SPAN // 2 else d


class AdaptiveAudioBuffer:
    """Audio packets in, frames out in order; waits for a hole up to ``depth`` packets."""

    def __init__(self, depth: int = MIN_DEPTH) -> None:
        self.depth = max(MIN_DEPTH, min(MAX_DEPTH, depth))
        self.next_seq: int | None = None  # the sequence number to release next
        self.newest: int | None = None
        self.packets: dict[int, RtpPacket] = {}
        self.late = 0  # packets that came after their slot was skipped
        self.skipped = 0  # slots given up on
        self.trimmed = 0  # frames dropped to shorten the delay
        self._since_late = 0

    @property
    def capacity(self) -> int:
        """aiortc's attribute: the most packets held."""
        return WINDOW

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        """Take one packet; return ``(False, frame or None)`` as aiortc's buffer does."""
        seq = packet.sequence_number
        if self.next_seq is None:
            self.next_seq = self.newest = seq
        assert self.newest is not None
        behind = _ahead(self.next_seq, seq)
        if behind > 0:
            # Too late for its slot (or a duplicate of a released one): widen the wait.
            if behind < WINDOW:
                self.late += 1
                self._since_late = 0
                self.depth = min(MAX_DEPTH, max(self.depth, self._lag(seq) + MARGIN))
            return False, None
        if behind <= -WINDOW:  # a jump (new stream, long outage): start again from here
            self.packets.clear()
            self.next_seq = self.newest = seq
        self.packets[seq] = packet
        if _ahead(seq, self.newest) > 0:
            self.newest = seq
        self._decay()
        return False, self._release()

    def _lag(self, seq: int) -> int:
        """How many places behind the newest packet ``seq`` arrived."""
        assert self.newest is not None
        return max(0, _ahead(self.newest, seq))

    def _decay(self) -> None:
        self._since_late += 1
        if self._since_late >= DECAY_AFTER and self._since_late % DECAY_EVERY == 0:
            self.depth = max(MIN_DEPTH, self.depth - 1)

    def _release(self) -> JitterFrame | None:
        assert self.next_seq is not None and self.newest is not None
        while self.next_seq not in self.packets:
            if _ahead(self.newest, self.next_seq) < self.depth:
                return None  # still worth waiting for
            self.next_seq = (self.next_seq + 1) % SPAN
            self.skipped += 1
        packet = self.packets.pop(self.next_seq)
        self.next_seq = (self.next_seq + 1) % SPAN
        backlog = _ahead(self.newest, self.next_seq)
        if backlog > self.depth + MARGIN and self.next_seq in self.packets:
            self.trimmed += 1
            packet = self.packets.pop(self.next_seq)
            self.next_seq = (self.next_seq + 1) % SPAN
        return JitterFrame(data=packet._data, timestamp=packet.timestamp)  # type: ignore[attr-defined]


def install(receiver: object) -> AdaptiveAudioBuffer | None:
    """Put an :class:`AdaptiveAudioBuffer` into an aiortc audio ``RTCRtpReceiver`` (its
    buffer is private: ``_RTCRtpReceiver__jitter_buffer``). Returns it, or ``None`` when the
    receiver is not audio or aiortc changed the attribute."""
    name = "_RTCRtpReceiver__jitter_buffer"
    if getattr(receiver, "_RTCRtpReceiver__kind", None) != "audio" or not hasattr(receiver, name):
        return None
    buffer = AdaptiveAudioBuffer()
    setattr(receiver, name, buffer)
    return buffer
