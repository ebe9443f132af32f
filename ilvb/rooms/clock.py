"""Time for the room rules, injectable so the 30 s disconnect window can be tested instantly."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol


class TimerHandle(Protocol):
    """A scheduled callback that can be cancelled (``asyncio.TimerHandle`` fits)."""

    def cancel(self) -> None:
        """Stop the callback from running; idempotent."""
        ...


class Clock(Protocol):
    """Wall time and one-shot timers."""

    def time(self) -> float:
        """Seconds since the epoch."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        """Run ``callback`` after ``delay`` seconds."""
        ...


class LoopClock:
    """The real clock: ``time.time`` and the running event loop's timers."""

    def time(self) -> float:
        return time.time()

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        return asyncio.get_running_loop().call_later(delay, callback)


class _ManualTimer:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """A clock that only moves when told to (tests): :meth:`advance` runs the due timers."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self._timers: list[tuple[float, int, _ManualTimer, Callable[[], None]]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        handle = _ManualTimer()
        heapq.heappush(self._timers, (self.now + delay, next(self._order), handle, callback))
        return handle

    def pending(self) -> int:
        """Timers not yet run nor cancelled."""
        return sum(1 for _, _, h, _ in self._timers if not h.cancelled)

    def advance(self, seconds: float) -> None:
        """Move time forward, running every timer that falls due, in order."""
        target = self.now + seconds
        while self._timers and self._timers[0][0] <= target:
            due, _, handle, callback = heapq.heappop(self._timers)
            self.now = max(self.now, due)
            if not handle.cancelled:
                callback()
        self.now = target
