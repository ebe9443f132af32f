"""Token buckets for signaling requests: per connection and per user (docs/security.md).

A bucket holds up to ``burst`` tokens and refills at ``rate`` per second; a request takes one
token from every bucket it counts against, or is refused (``rate_limited``) when any of them is
empty — then none is charged. A user's buckets are shared by all its connections to one app and
are forgotten once they have refilled (an idle user costs nothing).
"""

from __future__ import annotations

from collections.abc import Sequence

from ilvb.config import SignalingSettings
from ilvb.errors import LimitExceeded

# How often idle users' buckets are swept, seconds.
SWEEP_INTERVAL_S = 60.0


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` per second."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = now

    def refill(self, now: float) -> float:
        """Add the tokens earned since the last call; returns the tokens now held."""
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
        return self.tokens

    def wait_s(self) -> float:
        """Seconds until one token is there (after :meth:`refill`)."""
        return max(0.0, (1.0 - self.tokens) / self.rate)

    def idle(self, now: float) -> bool:
        """Full again: indistinguishable from a fresh bucket."""
        return self.refill(now) >= self.burst


def take(buckets: Sequence[TokenBucket], now: float, what: str) -> None:
    """Take one token from each bucket, or none and raise ``rate_limited``."""
    empty = [b for b in buckets if b.refill(now) < 1.0]
    if empty:
        worst = max(empty, key=lambda b: b.wait_s())
        retry = worst.wait_s()
        raise LimitExceeded(
            "rate_limited",
            f"too many {what}: at most {int(worst.burst)} at once and {worst.rate:g} per "
            f"second; retry in {retry:.2f} s",
            {"retry_after_s": round(retry, 3)},
        )
    for bucket in buckets:
        bucket.tokens -= 1.0


class ConnectionLimits:
    """One connection's (or one user's) request and ``room.enter`` buckets."""

    __slots__ = ("requests", "enters")

    def __init__(self, requests: TokenBucket, enters: TokenBucket) -> None:
        self.requests = requests
        self.enters = enters

    @classmethod
    def for_connection(cls, settings: SignalingSettings, now: float) -> ConnectionLimits:
        """The budgets of one connection."""
        return cls(
            TokenBucket(settings.connection_requests_per_s, settings.connection_request_burst, now),
            TokenBucket(settings.connection_enters_per_s, settings.connection_enter_burst, now),
        )

    @classmethod
    def for_user(cls, settings: SignalingSettings, now: float) -> ConnectionLimits:
        """The budgets one user shares across its connections."""
        return cls(
            TokenBucket(settings.user_requests_per_s, settings.user_request_burst, now),
            TokenBucket(settings.user_enters_per_s, settings.user_enter_burst, now),
        )

    def buckets(self, kind: str) -> list[TokenBucket]:
        """The buckets a request of type ``kind`` counts against."""
        return [self.requests, self.enters] if kind == "room.enter" else [self.requests]

    def idle(self, now: float) -> bool:
        """Both buckets are full again."""
        return self.requests.idle(now) and self.enters.idle(now)


class UserLimits:
    """Per-user buckets, keyed by (app id, user id), swept when idle."""

    def __init__(self) -> None:
        self._users: dict[tuple[str, str], ConnectionLimits] = {}
        self._next_sweep = 0.0

    def get(
        self, key: tuple[str, str], settings: SignalingSettings, now: float
    ) -> ConnectionLimits:
        """The user's buckets (fresh ones for a user not seen recently)."""
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_INTERVAL_S
            for stale in [k for k, v in self._users.items() if v.idle(now)]:
                del self._users[stale]
        limits = self._users.get(key)
        if limits is None:
            limits = self._users[key] = ConnectionLimits.for_user(settings, now)
        return limits

    def __len__(self) -> int:
        return len(self._users)
