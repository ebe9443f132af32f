"""RttEstimator: RFC 6298 smoothing, the default before samples, bogus samples ignored."""

from __future__ import annotations

import pytest

from ilvb.sfu.rtp.rtt import DEFAULT_RTT_S, RttEstimator


def test_default_until_the_first_sample_then_that_sample() -> None:
    r = RttEstimator()
    assert r.srtt == DEFAULT_RTT_S and r.samples == 0
    r.update(0.02)
    assert r.srtt == 0.02 and r.rttvar == 0.01 and r.upper == pytest.approx(0.04)


def test_smoothing_follows_a_new_level_and_spread_widens_upper() -> None:
    steady = RttEstimator()
    for _ in range(50):
        steady.update(0.01)
    assert steady.srtt == pytest.approx(0.01) and steady.rttvar < 0.001
    jittery = RttEstimator()
    for i in range(200):
        jittery.update(0.1 if i % 2 else 0.9)  # 800 ms of spread
    assert 0.4 <= jittery.srtt <= 0.6
    assert jittery.upper > 0.9  # a repeat sooner than this would often be premature


def test_negative_and_absurd_samples_are_ignored() -> None:
    r = RttEstimator()
    r.update(-0.1)
    r.update(60.0)
    assert r.samples == 0 and r.srtt == DEFAULT_RTT_S
