"""Wraparound arithmetic for RTP sequence numbers and timestamps."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ilvb.sfu.rtp.seq import seq_add, seq_diff, seq_newer, ts_add, ts_diff, ts_newer


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (5, 3, 2),
        (3, 5, -2),
        (0, 65535, 1),
        (65535, 0, -1),
        (10, 65530, 16),
        (65530, 10, -16),
        (32767, 0, 32767),
        (32768, 0, -32768),
        (7, 7, 0),
    ],
)
def test_seq_diff_is_signed_16_bit_distance(a: int, b: int, expected: int) -> None:
    assert seq_diff(a, b) == expected


def test_seq_newer_across_wraparound() -> None:
    assert seq_newer(0, 65535)
    assert not seq_newer(65535, 0)
    assert seq_newer(100, 65000)
    assert not seq_newer(5, 5)
    # exactly half the space apart: neither is newer
    assert not seq_newer(32768, 0) and not seq_newer(0, 32768)


def test_seq_add_wraps_both_ways() -> None:
    assert seq_add(65535, 1) == 0
    assert seq_add(65530, 10) == 4
    assert seq_add(3, -5) == 65534
    assert seq_add(0, 65536) == 0


def test_ts_diff_and_add_wrap_at_32_bits() -> None:
    assert ts_diff(0, 0xFFFFFFFF) == 1
    assert ts_diff(0xFFFFFFFF, 0) == -1
    assert ts_diff(100, 0xFFFFFF00) == 356
    assert ts_diff(2**31, 0) == -(2**31)
    assert ts_add(0xFFFFFFFF, 3000) == 2999
    assert ts_add(10, -20) == 0xFFFFFFF6
    assert ts_newer(5, 0xFFFFFFF0) and not ts_newer(0xFFFFFFF0, 5)


@given(st.integers(0, 65535), st.integers(-32768, 32767))
def test_seq_add_then_diff_round_trips(a: int, n: int) -> None:
    b = seq_add(a, n)
    assert seq_diff(b, a) == n
    assert seq_newer(b, a) == (n > 0)


@given(st.integers(0, 2**32 - 1), st.integers(-(2**31), 2**31 - 1))
def test_ts_add_then_diff_round_trips(a: int, n: int) -> None:
    assert ts_diff(ts_add(a, n), a) == n
