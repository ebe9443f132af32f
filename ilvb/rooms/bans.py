"""Kick-with-ban: users kept out of one business room until a time.

A ban names the app, the room kind and business id, so it outlives the room incarnation that
was live when the member was kicked (the room is destroyed when its last member leaves). Entries
are dropped once they expire.
"""

from __future__ import annotations

from ilvb.errors import PermissionDenied

# The longest ban accepted, seconds (30 days).
MAX_BAN_S = 30 * 24 * 3600.0

BanKey = tuple[str, str, str]  # (app id, kind, business id)


class BanList:
    """Banned user ids per business room, each with the time its ban ends."""

    def __init__(self) -> None:
        self._bans: dict[BanKey, dict[str, float]] = {}

    def ban(self, key: BanKey, user_id: str, until: float, now: float) -> None:
        """Keep ``user_id`` out of the room until ``until``."""
        users = self._prune(key, now)
        users[user_id] = max(until, users.get(user_id, 0.0))
        self._bans[key] = users

    def lift(self, key: BanKey, user_id: str) -> bool:
        """End a ban early; False when there was none."""
        users = self._bans.get(key)
        if users is None or users.pop(user_id, None) is None:
            return False
        if not users:
            del self._bans[key]
        return True

    def check(self, key: BanKey, user_id: str, now: float) -> None:
        """Refuse a banned user with ``banned`` (``details.retry_after_s``)."""
        if key not in self._bans:
            return
        until = self._prune(key, now).get(user_id)
        if until is not None:
            raise PermissionDenied(
                "banned",
                "you were kicked from this room and may not enter again yet",
                {"retry_after_s": round(until - now, 3)},
            )

    def _prune(self, key: BanKey, now: float) -> dict[str, float]:
        users = {u: t for u, t in self._bans.get(key, {}).items() if t > now}
        if users:
            self._bans[key] = users
        else:
            self._bans.pop(key, None)
        return users
