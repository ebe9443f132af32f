"""RetransmitLimiter: one re-send per seq per RTT, a floor, a cap, and ring reuse."""

from __future__ import annotations

from ilvb.sfu.rtp.retransmit import (
    MAX_RESENDS,
    MIN_INTERVAL_S,
    RING,
    RetransmitLimiter,
    Verdict,
)


def test_first_nack_is_answered_repeats_within_one_rtt_are_not() -> None:
    lim = RetransmitLimiter()
    assert lim.check(100, 0.000, 0.2) is Verdict.SEND
    assert lim.check(100, 0.100, 0.2) is Verdict.TOO_SOON  # the answer may still be on its way
    assert lim.check(101, 0.100, 0.2) is Verdict.SEND  # other seqs are independent
    assert lim.check(100, 0.201, 0.2) is Verdict.SEND  # a full RTT later: it was lost
    assert lim.sent == 3 and lim.suppressed == 1


def test_interval_has_a_floor() -> None:
    lim = RetransmitLimiter()
    assert lim.check(5, 0.0, 0.0) is Verdict.SEND
    assert lim.check(5, MIN_INTERVAL_S / 2, 0.0) is Verdict.TOO_SOON
    assert lim.check(5, MIN_INTERVAL_S, 0.0) is Verdict.SEND


def test_a_seq_is_resent_at_most_max_resends_times() -> None:
    lim = RetransmitLimiter()
    verdicts = [lim.check(7, i * 1.0, 0.1) for i in range(MAX_RESENDS + 3)]
    assert verdicts.count(Verdict.SEND) == MAX_RESENDS
    assert verdicts[-1] is Verdict.TOO_MANY


def test_ring_slot_reused_by_a_newer_seq_starts_fresh() -> None:
    lim = RetransmitLimiter()
    assert lim.check(3, 0.0, 1.0) is Verdict.SEND
    assert lim.check(3 + RING, 0.1, 1.0) is Verdict.SEND
    assert lim.check((3 + RING) & 0xFFFF, 0.2, 1.0) is Verdict.TOO_SOON


def test_storm_of_repeated_nacks_at_800ms_jitter_is_cut_to_about_one_answer_per_rtt() -> None:
    """A receiver re-NACKs every 100 ms (it assumes that RTT); the path's RTT bound is 0.85 s.
    Over 1.5 s each seq gets 15 NACKs but only 2 answers (at 0 s and 0.9 s)."""
    lim = RetransmitLimiter()
    answered = 0
    for seq in range(200):
        for k in range(15):
            answered += lim.check(seq, seq * 0.005 + k * 0.1, 0.85) is Verdict.SEND
    assert answered == 200 * 2
