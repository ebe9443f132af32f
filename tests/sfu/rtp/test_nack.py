"""PacketCache ring and the producer-side NackGenerator's timing decisions."""

from __future__ import annotations

import random

import pytest

from ilvb.sfu.rtp.nack import (
    MAX_AGE_S,
    MAX_GAP,
    MAX_TRIES,
    MIN_RETRY_S,
    NackGenerator,
    PacketCache,
)


def test_cache_size_must_be_a_power_of_two() -> None:
    with pytest.raises(AssertionError):
        PacketCache(1000)
    assert PacketCache(8).size == 8


def test_cache_returns_packet_only_for_the_exact_seq() -> None:
    c = PacketCache(8)
    assert c.get(3) is None
    c.put(3, b"three")
    assert c.get(3) == b"three"
    assert c.get(11) is None  # same slot, different seq
    c.put(11, b"eleven")  # overwrites slot 3
    assert c.get(3) is None and c.get(11) == b"eleven"


def test_cache_works_across_seq_wraparound() -> None:
    c = PacketCache(16)
    for s in range(65530, 65536):
        c.put(s, bytes([s & 0xFF]))
    for s in range(0, 6):
        c.put(s, bytes([s]))
    assert c.get(65535) == b"\xff" and c.get(0) == b"\x00" and c.get(5) == b"\x05"
    c.clear()
    assert c.get(5) is None


def test_in_order_stream_has_nothing_to_nack() -> None:
    g = NackGenerator()
    for i in range(100):
        g.on_packet((65500 + i) & 0xFFFF, i * 0.01)
    assert g.missing == [] and g.due(1.0, 0.05) == []


def test_hole_is_nacked_right_away_then_retried_after_rtt() -> None:
    g = NackGenerator()
    g.on_packet(10, 0.0)
    g.on_packet(13, 0.001)
    assert g.missing == [11, 12]
    assert g.due(0.002, rtt=0.050) == [11, 12]
    # before one RTT: nothing; after one RTT: both again
    assert g.due(0.030, rtt=0.050) == []
    assert g.due(0.053, rtt=0.050) == [11, 12]
    assert g.nacks_sent == 4


def test_retry_interval_has_a_floor_for_tiny_rtts() -> None:
    g = NackGenerator()
    g.on_packet(1, 0.0)
    g.on_packet(3, 0.0)
    assert g.due(0.0, rtt=0.001) == [2]
    assert g.due(MIN_RETRY_S / 2, rtt=0.001) == []
    assert g.due(MIN_RETRY_S, rtt=0.001) == [2]


def test_recovered_packet_is_no_longer_nacked() -> None:
    g = NackGenerator()
    g.on_packet(100, 0.0)
    g.on_packet(104, 0.0)
    assert g.due(0.0, 0.02) == [101, 102, 103]
    g.on_packet(102, 0.01)  # retransmission arrives
    assert g.missing == [101, 103] and g.recovered == 1
    assert g.due(0.05, 0.02) == [101, 103]


def test_hole_across_wraparound() -> None:
    g = NackGenerator()
    g.on_packet(65534, 0.0)
    g.on_packet(2, 0.0)
    assert g.missing == [65535, 0, 1]
    assert g.due(0.0, 0.02) == [65535, 0, 1]


def test_gives_up_after_max_tries() -> None:
    g = NackGenerator()
    g.on_packet(0, 0.0)
    g.on_packet(2, 0.0)
    sent = 0
    t = 0.0
    while g.due(t, 0.0):
        sent += 1
        t += MIN_RETRY_S + 0.001
    assert sent == MAX_TRIES
    assert g.missing == [] and g.lost == 1


def test_gives_up_after_max_age_even_with_long_rtt() -> None:
    g = NackGenerator()
    g.on_packet(0, 0.0)
    g.on_packet(2, 0.0)
    assert g.due(0.0, rtt=0.6) == [1]
    assert g.due(0.7, rtt=0.6) == [1]
    assert g.due(MAX_AGE_S + 0.01, rtt=0.6) == []
    assert g.missing == [] and g.lost == 1


def test_huge_forward_jump_resets_instead_of_nacking() -> None:
    g = NackGenerator()
    g.on_packet(10, 0.0)
    g.on_packet(12, 0.0)
    g.on_packet(12 + MAX_GAP + 1, 0.0)
    assert g.missing == [] and g.resets == 1
    # tracking continues from the new position
    g.on_packet(12 + MAX_GAP + 3, 0.0)
    assert g.missing == [12 + MAX_GAP + 2]


def test_gap_of_exactly_max_gap_is_tracked() -> None:
    g = NackGenerator()
    g.on_packet(0, 0.0)
    g.on_packet(MAX_GAP, 0.0)
    assert len(g.missing) == MAX_GAP - 1


def test_duplicate_and_old_packets_are_ignored() -> None:
    g = NackGenerator()
    for s in (5, 6, 7, 6, 5, 7):
        g.on_packet(s, 0.0)
    assert g.missing == [] and g.recovered == 0 and g.resets == 0


def test_ten_percent_loss_pattern_with_retransmissions_recovers_everything() -> None:
    """A publisher sends 2000 packets, 10 % lost; the retransmission of each NACK arrives one
    RTT later (also lost 10 % of the time). Every lost packet is NACKed, most recovered."""
    rng = random.Random(1)
    rtt = 0.04
    g = NackGenerator()
    received: set[int] = set()
    pending: list[tuple[float, int]] = []  # (arrival time, seq) of retransmissions
    t = 0.0
    for i in range(2000):
        t = i * 0.005
        seq = (60000 + i) & 0xFFFF
        # retransmissions that arrive by now
        for at, s in [p for p in pending if p[0] <= t]:
            pending.remove((at, s))
            g.on_packet(s, at)
            received.add(s)
        if rng.random() >= 0.10:
            g.on_packet(seq, t)
            received.add(seq)
        for s in g.due(t, rtt):
            if rng.random() >= 0.10 and s not in received:
                pending.append((t + rtt, s))
    # drain
    for step in range(1, 100):
        now = t + step * 0.01
        for at, s in [p for p in pending if p[0] <= now]:
            pending.remove((at, s))
            g.on_packet(s, at)
            received.add(s)
        for s in g.due(now, rtt):
            if rng.random() >= 0.10 and s not in received:
                pending.append((now + rtt, s))
    sent = {(60000 + i) & 0xFFFF for i in range(2000)}
    # the last packet(s) can't be known lost; everything else comes back
    assert len(received) >= len(sent) - 2
    assert g.recovered >= 150 and g.missing == []


def test_rtt_is_measured_from_single_nack_round_trips_and_drives_retries() -> None:
    g = NackGenerator()
    t = 0.0
    seq = 0
    g.on_packet(seq, t)
    for _ in range(20):  # one hole every 10 packets, answered 8 ms after its NACK
        seq += 2
        g.on_packet(seq, t)
        assert g.due(t) == [seq - 1]
        g.on_packet(seq - 1, t + 0.008)
        t += 0.05
    assert g.rtt.samples == 20 and abs(g.rtt.srtt - 0.008) < 1e-3
    # a new hole: first NACK at once, the retry after max(srtt + 2 rttvar, MIN_RETRY_S)
    g.on_packet(seq + 2, t)
    assert g.due(t) == [seq + 1]
    assert g.due(t + MIN_RETRY_S - 0.001) == []
    assert g.due(t + MIN_RETRY_S) == [seq + 1]


def test_a_packet_nacked_twice_or_a_late_original_gives_no_rtt_sample() -> None:
    g = NackGenerator()
    g.on_packet(0, 0.0)
    g.on_packet(2, 0.0)
    g.due(0.0, rtt=0.02)
    g.due(0.03, rtt=0.02)  # second NACK
    g.on_packet(1, 0.035)
    g.on_packet(4, 0.1)
    g.due(0.1)
    g.on_packet(3, 0.11, retransmitted=False)  # RTX in use and this is the late original
    assert g.rtt.samples == 0 and g.recovered == 2


def test_giving_up_asks_for_a_keyframe_once_until_cleared() -> None:
    g = NackGenerator()
    g.on_packet(0, 0.0)
    g.on_packet(2, 0.0)
    assert g.due(0.0, rtt=0.02) == [1] and not g.keyframe_needed
    g.on_packet(3, 0.5)
    assert g.due(MAX_AGE_S + 0.01) == [] and g.keyframe_needed
    g.keyframe_needed = False  # the owner sent its PLI
    g.on_packet(5, 2.0)
    g.on_packet(4, 2.01)  # recovered: nothing given up
    assert g.due(2.1) == [] and not g.keyframe_needed


def test_a_reset_with_missing_packets_asks_for_a_keyframe() -> None:
    g = NackGenerator()
    g.on_packet(0, 0.0)
    g.on_packet(3, 0.0)
    g.on_packet(3 + MAX_GAP + 1, 0.0)
    assert g.resets == 1 and g.keyframe_needed
