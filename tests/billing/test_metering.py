"""From usage samples to the month's peak: per-minute maxima summed over apps, calls half."""

from __future__ import annotations

from decimal import Decimal

from ilvb.billing.metering import Sample, month_bounds, month_of, month_usage, previous_month

T0 = month_bounds("2026-11")[0]


def test_two_person_call_participants_count_half() -> None:
    usage = month_usage([Sample("a", T0 + 5, multi=4, call=3)])
    assert usage.peak == Decimal("5.5")
    assert usage.peak_minute == T0


def test_the_peak_sums_apps_within_one_minute_not_across_minutes() -> None:
    samples = [
        Sample("a", T0 + 10, 10, 0),
        Sample("b", T0 + 70, 10, 0),  # different minutes
        Sample("a", T0 + 125, 6, 0),
        Sample("b", T0 + 130, 7, 2),  # same minute: 6 + 7 + 1
    ]
    usage = month_usage(samples)
    assert usage.peak == Decimal(14)
    assert usage.peak_minute == T0 + 120
    figures = {f.app_id: (f.at_peak, f.own_peak) for f in usage.apps}
    assert figures == {"a": (Decimal(6), Decimal(10)), "b": (Decimal(8), Decimal(10))}


def test_within_a_minute_the_largest_sample_of_an_app_counts() -> None:
    usage = month_usage(
        [Sample("a", T0, 3, 0), Sample("a", T0 + 30, 9, 0), Sample("a", T0 + 59, 1, 0)]
    )
    assert usage.peak == 9


def test_an_unused_month_has_peak_zero() -> None:
    assert month_usage([]).peak == 0 and month_usage([]).peak_minute is None


def test_month_arithmetic() -> None:
    start, end = month_bounds("2026-02")
    assert (end - start) == 28 * 86400
    assert month_of(start) == "2026-02" and month_of(end) == "2026-03"
    assert previous_month("2026-01") == "2025-12" and previous_month("2026-11") == "2026-10"
