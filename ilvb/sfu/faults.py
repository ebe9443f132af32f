"""FaultLog: counts failures of a worker's periodic work and dropped input, logs without a storm.

A worker ticks every router and every member 10 to 50 times a second and reads datagrams from
anyone. One object that fails on every tick (or an attacker sending malformed packets) must not
fill the log: the first failure of each *kind* is logged once (with its traceback when it is an
unexpected exception), later ones only add to the counters, and a one-line summary of what was
counted since the last line is written at most every :data:`SUMMARY_INTERVAL_S`.

Kinds are a small fixed vocabulary chosen by the caller (``"router.slow_tick"``,
``"stun.malformed"`` …), never anything taken from the input, so the table stays bounded.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

SUMMARY_INTERVAL_S = 60.0


class FaultLog:
    """Counters of failures/drops by kind, and rate-limited log lines about them."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        interval_s: float = SUMMARY_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval_s = interval_s
        self._clock = clock
        self.counts: Counter[str] = Counter()
        self._unreported: Counter[str] = Counter()
        self._next_summary = 0.0

    @property
    def total(self) -> int:
        """Every failure and drop counted so far."""
        return sum(self.counts.values())

    def failed(self, kind: str, exc: BaseException, where: str) -> None:
        """Periodic work of one object raised ``exc``: count it; log its first traceback."""
        if self._count(kind):
            self._logger.error(
                "%s failed for %s (%s); further failures are only counted",
                kind,
                where,
                type(exc).__name__,
                exc_info=exc,
            )

    def dropped(self, kind: str, detail: str) -> None:
        """Input was refused (a malformed packet …): count it; log the first of each kind."""
        if self._count(kind):
            self._logger.warning("%s: %s; further ones are only counted", kind, detail)

    def _count(self, kind: str) -> bool:
        """Count one; True when this is the first of its kind (the caller logs it)."""
        first = kind not in self.counts
        self.counts[kind] += 1
        now = self._clock()
        if first:
            self._next_summary = max(self._next_summary, now + self._interval_s)
            return True
        self._unreported[kind] += 1
        if now >= self._next_summary:
            self._next_summary = now + self._interval_s
            summary = ", ".join(f"{k} {n}" for k, n in sorted(self._unreported.items()))
            self._unreported.clear()
            self._logger.warning("counted since the last report: %s", summary)
        return False
