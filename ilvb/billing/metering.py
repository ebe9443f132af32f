"""Metering: from per-app usage samples to an account's monthly peak.

A usage sample says how many participants one app had at one moment, in multi-person rooms and in
two-person calls. Per app and minute the largest sample counts; an account's value for a minute is
the sum over its apps of ``multi + call / 2``; the month's peak is the largest minute (the earliest
such minute is reported as the peak minute).
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

HALF = Decimal("0.5")
# Peaks are multiples of 0.5, always written with one decimal ("40.0", "10.5").
TENTH = Decimal("0.1")


@dataclass(frozen=True)
class Sample:
    """Concurrent participants of ``app_id`` at Unix time ``t``."""

    app_id: str
    t: float
    multi: int
    call: int


@dataclass(frozen=True)
class AppFigure:
    """One app's part of a month: its value at the account's peak minute and its own peak."""

    app_id: str
    at_peak: Decimal
    own_peak: Decimal


@dataclass(frozen=True)
class MonthUsage:
    """An account's month: the peak (participants, calls counted half) and where it came from."""

    peak: Decimal
    peak_minute: int | None  # Unix time of the minute's start; None when nothing was used
    apps: tuple[AppFigure, ...] = field(default=())


def month_bounds(month: str) -> tuple[float, float]:
    """``"2026-11"`` → the Unix times of its first instant and of the next month's (UTC)."""
    year, mon = (int(part) for part in month.split("-"))
    start = datetime(year, mon, 1, tzinfo=UTC)
    days = calendar.monthrange(year, mon)[1]
    end = start.timestamp() + days * 86400
    return start.timestamp(), end


def month_of(t: float) -> str:
    """The ``YYYY-MM`` (UTC) that Unix time ``t`` is in."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m")


def previous_month(month: str) -> str:
    """The month before ``YYYY-MM``."""
    year, mon = (int(part) for part in month.split("-"))
    return f"{year - 1}-12" if mon == 1 else f"{year}-{mon - 1:02d}"


def month_usage(samples: Iterable[Sample]) -> MonthUsage:
    """Reduce samples (of one account, one month) to the peak and the per-app figures."""
    # (app, minute) -> the largest sample of that minute.
    per_app_minute: dict[tuple[str, int], tuple[int, int]] = {}
    for s in samples:
        key = (s.app_id, int(s.t // 60) * 60)
        multi, call = per_app_minute.get(key, (0, 0))
        per_app_minute[key] = (max(multi, s.multi), max(call, s.call))
    by_minute: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for (app_id, minute), (multi, call) in per_app_minute.items():
        by_minute[minute][app_id] = (Decimal(multi) + Decimal(call) * HALF).quantize(TENTH)
    if not by_minute:
        return MonthUsage(Decimal(0).quantize(TENTH), None, ())
    peak_minute = min(by_minute, key=lambda m: (-sum(by_minute[m].values()), m))
    own_peaks: dict[str, Decimal] = defaultdict(Decimal)
    for values in by_minute.values():
        for app_id, value in values.items():
            own_peaks[app_id] = max(own_peaks[app_id], value)
    apps = tuple(
        AppFigure(app_id, by_minute[peak_minute].get(app_id, Decimal(0).quantize(TENTH)), own)
        for app_id, own in sorted(own_peaks.items())
    )
    return MonthUsage(sum(by_minute[peak_minute].values(), Decimal(0)), peak_minute, apps)
