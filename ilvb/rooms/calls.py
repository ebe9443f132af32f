"""Who may join a waiting two-person call.

A call number alone is not a credential: numbers are short and can be probed. The member that
allocates a call (``room.enter`` with number 0) may name the callee's user id; the call also
gets a random token. Another user is admitted only when it is the named callee or presents the
token; anyone else is told ``room_not_found``, exactly as for a number that is not in use, so a
probe learns nothing.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field

CALL_TOKEN_BYTES = 24  # 192 random bits, 32 URL-safe characters


def new_call_token() -> str:
    """A fresh unguessable call token."""
    return secrets.token_urlsafe(CALL_TOKEN_BYTES)


@dataclass(frozen=True)
class CallInvite:
    """The parties a call was made for: its creator, the optional named callee, and the token."""

    creator: str
    callee: str | None = None
    token: str = field(default_factory=new_call_token)

    def admits(self, user_id: str, token: str | None) -> bool:
        """Whether ``user_id`` (presenting ``token``, or none) may join this call."""
        if user_id == self.creator or (self.callee is not None and user_id == self.callee):
            return True
        return token is not None and hmac.compare_digest(token.encode(), self.token.encode())
