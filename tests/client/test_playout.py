"""ilvb.client.playout: the adaptive audio buffer against aiortc's, on synthetic arrivals."""

from __future__ import annotations

import random

from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket

from ilvb.client.playout import MAX_DEPTH, MIN_DEPTH, AdaptiveAudioBuffer


def packet(seq: int) -> RtpPacket:
    p = RtpPacket(sequence_number=seq % 65536, timestamp=(seq * 960) % 2**32)
    p._data = b"opus"  # type: ignore[attr-defined]
    return p


def feed(buffer: object, seqs: list[int]) -> list[int]:
    """Released frames' packet numbers (timestamp / 960)."""
    out = []
    for s in seqs:
        _, frame = buffer.add(packet(s))  # type: ignore[attr-defined]
        if frame is not None:
            out.append(frame.timestamp // 960)
    return out


def lossy(n: int, loss: float, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [s for s in range(65000, 65000 + n) if rng.random() >= loss]  # wraps at 65536


def jittered(n: int, jitter_ms: float, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [s for _, s in sorted((s * 20 + rng.uniform(0, jitter_ms), s) for s in range(n))]


def test_under_thirty_percent_loss_every_arriving_frame_is_released_in_order() -> None:
    seqs = lossy(2000, 0.30, seed=1)
    out = feed(AdaptiveAudioBuffer(), seqs)
    assert out == sorted(out, key=lambda s: (s - 65000) % 65536)
    assert len(out) >= len(seqs) - 5  # only the tail still waiting
    # aiortc's buffer throws most of them away (it waits for 4 in a row, then discards)
    assert len(feed(JitterBuffer(capacity=16, prefetch=4), seqs)) < 0.5 * len(seqs)


def test_under_800_ms_jitter_the_depth_grows_and_almost_nothing_is_lost() -> None:
    seqs = jittered(3000, 800.0, seed=2)
    buffer = AdaptiveAudioBuffer()
    out = feed(buffer, seqs)
    assert out == sorted(out)
    assert MIN_DEPTH < buffer.depth <= MAX_DEPTH
    assert len(out) >= 0.95 * len(seqs), (len(out), buffer.skipped, buffer.trimmed)
    assert len(feed(JitterBuffer(capacity=16, prefetch=4), seqs)) < 0.9 * len(out)


def test_a_clean_stream_has_no_delay_and_the_depth_decays_after_jitter() -> None:
    buffer = AdaptiveAudioBuffer()
    assert feed(buffer, list(range(100))) == list(range(100))  # each frame out on arrival
    feed(buffer, [s + 100 for s in jittered(500, 800.0, seed=3)])
    raised = buffer.depth
    feed(buffer, list(range(600, 2000)))
    assert buffer.depth < raised
