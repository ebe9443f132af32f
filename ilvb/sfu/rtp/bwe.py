"""Bandwidth estimate of one path: a loss controller gated by queuing delay.

A loss-based controller (GCC's: back off above 10 % loss) cannot tell a full bottleneck queue
from a lossy radio link, and at 30 % random loss it would walk the rate down to its floor. Here
loss counts as congestion only when the path's delay grew with it: a bottleneck that is full
drops packets *and* holds the others in its queue, random loss leaves the delay alone.

Each sample gives the loss fraction over an interval, a delay that includes the path's queue
(the RTT of a receiver report, or a one-way transit time whose offset is unknown), and the rate
that was delivered over the interval. The delay's floor (its minimum over ``FLOOR_WINDOW_S``)
is the empty-queue delay; ``queue = delay − floor``.

* **congested**: ``queue > QUEUE_CONGESTED_S`` with ``loss > LOSS_CONGESTED`` → the estimate
  drops to ``DECREASE`` × the delivered rate (what the bottleneck let through) and holds
  ``HOLD_S``;
* **queue growing** (``queue > QUEUE_CONGESTED_S`` without loss: a queue filling, or jitter,
  which delays without dropping): the estimate holds;
* otherwise it grows by ``INCREASE_PER_S`` a second, but not above ``APP_LIMIT`` × the delivered
  rate (an estimate is only worth what was tried: a higher one is earned by a probe,
  :meth:`BandwidthEstimate.probe_succeeded`).

Steady random loss without delay growth therefore never lowers the estimate. Random loss
together with heavy jitter does look like a full queue (the delay varies by the jitter): the
estimate then falls to what is delivered.
"""

from __future__ import annotations

from collections import deque

# the empty-queue delay is the minimum over this long (seconds)
FLOOR_WINDOW_S = 10.0
QUEUE_CONGESTED_S = 0.05
LOSS_CONGESTED = 0.02
DECREASE = 0.85
HOLD_S = 1.0
INCREASE_PER_S = 0.3
APP_LIMIT = 1.5


class DelayFloor:
    """The minimum of a delay over the last ``window_s`` (1 s buckets)."""

    def __init__(self, window_s: float = FLOOR_WINDOW_S) -> None:
        self.window_s = window_s
        self._buckets: deque[tuple[float, float]] = deque()  # (bucket start, min)

    def update(self, now: float, delay: float) -> float:
        """Add a sample; the floor including it."""
        b = self._buckets
        if b and now - b[-1][0] < 1.0:
            if delay < b[-1][1]:
                b[-1] = (b[-1][0], delay)
        else:
            b.append((now, delay))
        while b and now - b[0][0] > self.window_s:
            b.popleft()
        return min(v for _, v in b)


class BandwidthEstimate:
    """What one path can carry (bits/s), from loss, delay and delivered-rate samples."""

    def __init__(
        self, start_bps: float, min_bps: float = 100_000.0, max_bps: float = 10_000_000.0
    ) -> None:
        self.estimate_bps = start_bps
        self.min_bps = min_bps
        self.max_bps = max_bps
        self.congested_at = -1e9
        self.congestions = 0
        self.last_queue_s = 0.0
        self.last_loss = 0.0
        self.samples = 0
        self._floor = DelayFloor()
        self._last: float | None = None

    def update(self, now: float, loss: float, delay_s: float, delivered_bps: float) -> bool:
        """One sample; True when it showed congestion."""
        queue = delay_s - self._floor.update(now, delay_s)
        dt = 0.0 if self._last is None else min(2.0, max(0.0, now - self._last))
        self._last = now
        self.samples += 1
        self.last_queue_s = queue
        self.last_loss = loss
        congested = queue > QUEUE_CONGESTED_S and loss > LOSS_CONGESTED
        if congested:
            target = max(self.min_bps, DECREASE * delivered_bps)
            self.estimate_bps = min(self.estimate_bps, target)
            self.congested_at = now
            self.congestions += 1
        elif queue <= QUEUE_CONGESTED_S and now - self.congested_at >= HOLD_S:
            grown = self.estimate_bps * (1.0 + INCREASE_PER_S * dt)
            ceiling = max(self.estimate_bps, APP_LIMIT * delivered_bps)
            self.estimate_bps = min(self.max_bps, grown, ceiling)
        return congested

    def probe_succeeded(self, rate_bps: float) -> None:
        """A probe at ``rate_bps`` crossed the path without congestion: it can carry that."""
        self.estimate_bps = min(self.max_bps, max(self.estimate_bps, rate_bps))
