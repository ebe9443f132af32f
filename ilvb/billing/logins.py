"""Console sign-in of customer accounts: argon2id password hashes, server-side sessions and a
limit on failed logins.

A session is a random 256-bit token in an ``HttpOnly`` cookie; the store keeps only its SHA-256
(a copy of the database signs nobody in) with the account, a CSRF token and the expiry. Every
state-changing request of a session must echo the CSRF token in ``X-CSRF-Token`` and come from
the console's own origin (``ilvb.server.console_auth`` checks both).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ilvb.errors import InvalidArgument

MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 256

# argon2id with the library's RFC 9106 "low memory" profile (64 MiB, 3 passes, 4 lanes).
_hasher = PasswordHasher()
# Verified when the e-mail is unknown, so a miss costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def check_password_rules(password: str) -> None:
    """Raise ``weak_password`` unless the password has 10–256 characters."""
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise InvalidArgument(
            "weak_password",
            f"a password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters",
        )


def hash_password(password: str) -> str:
    """The stored form of a password: an argon2id PHC string (salted)."""
    check_password_rules(password)
    return _hasher.hash(password)


def verify_password(password: str, stored: str | None) -> bool:
    """True if ``password`` matches ``stored``; a missing hash still costs one verification."""
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def session_hash(token: str) -> str:
    """What the store keeps of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ConsoleSession:
    """A signed-in console session of one customer account."""

    session_hash: str
    account_id: str
    csrf_token: str
    created_at: float
    expires_at: float


def new_session(account_id: str, now: float, ttl_s: float) -> tuple[str, ConsoleSession]:
    """A fresh session: the cookie token (given to the browser only) and the stored record."""
    token = secrets.token_urlsafe(32)
    record = ConsoleSession(
        session_hash(token), account_id, secrets.token_urlsafe(32), now, now + ttl_s
    )
    return token, record


class LoginLimiter:
    """At most ``attempts`` failed logins per key (an e-mail, a client address) per
    ``window_s``; a success does not reset the count (guessing stays slow)."""

    def __init__(self, attempts: int, window_s: float, clock: Callable[[], float]) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[str, list[float]] = {}

    def allowed(self, *keys: str) -> bool:
        """True unless one of ``keys`` has used up its failures in the window."""
        now = self.clock()
        for key in keys:
            recent = [t for t in self._failures.get(key, []) if now - t < self.window_s]
            if recent:
                self._failures[key] = recent
            else:
                self._failures.pop(key, None)
            if len(recent) >= self.attempts:
                return False
        return True

    def failed(self, *keys: str) -> None:
        """Count a failed login against each key."""
        now = self.clock()
        for key in keys:
            self._failures.setdefault(key, []).append(now)
        if len(self._failures) > 100_000:  # bounded memory under a spray of addresses
            self._failures.clear()
