"""Login tickets: JWTs (HS256) an app's server signs with the app's secret.

A ticket says "user ``sub`` of app ``iss`` may connect until ``exp``", optionally restricted to
one business room and carrying a role and a privilege ceiling (may send audio / video / screen).
The server checks one on every signaling connection. Failures have distinct codes:

- ``ticket_malformed``: not a JWT, a claim is missing / of the wrong type, a time is not a
  finite number (``NaN``, ``Infinity``), or ``iat`` is in the future (beyond the clock skew);
- ``ticket_wrong_app``: ``iss`` names no (enabled) app;
- ``ticket_bad_signature``: the signature does not verify with the app's secret;
- ``ticket_expired``: ``exp`` is past;
- ``ticket_lifetime_exceeded``: ``exp`` lies further ahead (of now, or of ``iat``) than the
  server accepts (``auth.max_ticket_ttl_s``, 24 h; ``auth.max_server_token_ttl_s``, 1 h);
- ``ticket_wrong_room``: the ticket is restricted to another room (checked at ``room.enter``).

The same format with ``scope: "server"`` authenticates an app's server on the REST API
(:func:`sign_server_token`, checked by :mod:`ilvb.auth.app_auth`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import jwt

from ilvb.errors import PermissionDenied, Unauthenticated

ALGORITHM = "HS256"
DEFAULT_TTL_S = 3600
# Roles with a meaning of their own; any other role string is kept as a label.
AUDIENCE_ROLE = "audience"
MAX_CLAIM_CHARS = 256
# Defaults of auth.max_ticket_ttl_s, auth.max_server_token_ttl_s and auth.clock_skew_s.
MAX_TICKET_TTL_S = 24 * 3600.0
MAX_SERVER_TOKEN_TTL_S = 3600.0
CLOCK_SKEW_S = 60.0


@dataclass(frozen=True)
class Privileges:
    """What a member may send: microphone audio, camera video, screen sharing."""

    audio: bool = True
    video: bool = True
    screen: bool = True

    def to_dict(self) -> dict[str, bool]:
        """``{"audio": …, "video": …, "screen": …}``."""
        return {"audio": self.audio, "video": self.video, "screen": self.screen}


@dataclass(frozen=True)
class TicketClaims:
    """A verified ticket: who, for which app, until when, and its restrictions."""

    app_id: str
    user_id: str
    issued_at: float
    expires_at: float
    room: str | None = None
    role: str = "speaker"
    priv: Privileges = field(default_factory=Privileges)
    scope: str = "client"


def sign_ticket(
    app_id: str,
    secret: str,
    user_id: str,
    *,
    ttl_s: float = DEFAULT_TTL_S,
    room: str | int | None = None,
    role: str = "speaker",
    audio: bool | None = None,
    video: bool | None = None,
    screen: bool | None = None,
    now: float | None = None,
    scope: str | None = None,
) -> str:
    """Sign a login ticket for ``user_id`` of ``app_id`` (what the app's server does).

    ``room`` restricts the ticket to one business room. The privilege ceiling defaults to
    everything, or nothing for ``role="audience"`` (may only watch).
    """
    issued = time.time() if now is None else now
    watch_only = role == AUDIENCE_ROLE
    priv = Privileges(
        audio=(not watch_only) if audio is None else audio,
        video=(not watch_only) if video is None else video,
        screen=(not watch_only) if screen is None else screen,
    )
    claims: dict[str, Any] = {
        "iss": app_id,
        "sub": user_id,
        "iat": int(issued),
        "exp": int(issued + ttl_s),
        "role": role,
        "priv": priv.to_dict(),
    }
    if room is not None:
        claims["room"] = str(room)
    if scope is not None:
        claims["scope"] = scope
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def sign_server_token(
    app_id: str, secret: str, *, ttl_s: float = 300, now: float | None = None
) -> str:
    """A short-lived bearer token for the app's server calling the REST API."""
    return sign_ticket(app_id, secret, "server", ttl_s=ttl_s, now=now, scope="server")


def ticket_app_id(token: str) -> str:
    """The ``iss`` (app id) of a ticket, read *without* verifying it, to find the app's key."""
    if not isinstance(token, str) or not token or len(token) > 8192:
        raise Unauthenticated("ticket_malformed", "the ticket is not a JWT")
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise Unauthenticated("ticket_malformed", "the ticket is not a JWT") from exc
    if header.get("alg") != ALGORITHM:
        raise Unauthenticated("ticket_malformed", f"the ticket must be signed with {ALGORITHM}")
    iss = claims.get("iss")
    if not isinstance(iss, str) or not iss:
        raise Unauthenticated("ticket_malformed", "the ticket has no 'iss' (app id)")
    return iss


def verify_ticket(
    token: str,
    secret: str,
    *,
    app_id: str | None = None,
    now: float | None = None,
    scope: str = "client",
    max_ttl_s: float | None = None,
    clock_skew_s: float = CLOCK_SKEW_S,
) -> TicketClaims:
    """Verify a ticket's signature, expiry, lifetime and claims; return them.

    ``app_id``, when given, must equal ``iss`` (``ticket_wrong_app`` otherwise). ``scope`` is
    ``"client"`` for login tickets and ``"server"`` for REST bearer tokens. ``max_ttl_s`` caps
    the lifetime (default: 24 h for tickets, 1 h for server tokens).
    """
    iss = ticket_app_id(token)
    if app_id is not None and iss != app_id:
        raise Unauthenticated("ticket_wrong_app", "the ticket was issued for another app")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"verify_exp": False, "verify_iat": False, "require": ["iss", "sub", "exp"]},
        )
    except jwt.InvalidSignatureError as exc:
        raise Unauthenticated(
            "ticket_bad_signature", "the ticket's signature does not verify"
        ) from exc
    except jwt.MissingRequiredClaimError as exc:
        raise Unauthenticated("ticket_malformed", f"the ticket lacks {exc.claim!r}") from exc
    except jwt.PyJWTError as exc:
        raise Unauthenticated("ticket_malformed", f"the ticket is malformed: {exc}") from exc
    parsed = _parse_claims(claims)
    current = time.time() if now is None else now
    if parsed.expires_at <= current:
        raise Unauthenticated("ticket_expired", "the ticket has expired")
    if max_ttl_s is None:
        max_ttl_s = MAX_SERVER_TOKEN_TTL_S if scope == "server" else MAX_TICKET_TTL_S
    if "iat" in claims:
        if parsed.issued_at > current + clock_skew_s:
            raise Unauthenticated("ticket_malformed", "the ticket's 'iat' is in the future")
        lifetime = parsed.expires_at - parsed.issued_at
    else:
        lifetime = parsed.expires_at - current
    if lifetime > max_ttl_s or parsed.expires_at - current > max_ttl_s + clock_skew_s:
        raise Unauthenticated(
            "ticket_lifetime_exceeded",
            f"the ticket is valid for longer than the server accepts ({max_ttl_s:g} s)",
        )
    if parsed.scope != scope:
        raise Unauthenticated("ticket_malformed", f"the token's scope must be {scope!r}")
    return parsed


def check_room(claims: TicketClaims, room: str | int) -> None:
    """Refuse with ``ticket_wrong_room`` when the ticket is restricted to another room."""
    if claims.room is not None and claims.room != str(room):
        raise PermissionDenied("ticket_wrong_room", "the ticket is restricted to another room")


def _parse_claims(claims: dict[str, Any]) -> TicketClaims:
    def text(name: str, default: str | None = None) -> str | None:
        value = claims.get(name, default)
        if value is None:
            return None
        if not isinstance(value, str) or not value or len(value) > MAX_CLAIM_CHARS:
            raise Unauthenticated("ticket_malformed", f"claim {name!r} must be a short string")
        return value

    def number(name: str, default: float | None = None) -> float:
        value = claims.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Unauthenticated("ticket_malformed", f"claim {name!r} must be a number")
        try:
            result = float(value)
        except OverflowError:  # an integer beyond any float
            result = math.inf
        if not math.isfinite(result):
            raise Unauthenticated("ticket_malformed", f"claim {name!r} must be a finite number")
        return result

    priv_raw = claims.get("priv", {})
    if not isinstance(priv_raw, dict) or not all(
        isinstance(priv_raw.get(k, True), bool) for k in ("audio", "video", "screen")
    ):
        raise Unauthenticated(
            "ticket_malformed", "claim 'priv' must map audio/video/screen to bools"
        )
    role = text("role", "speaker") or "speaker"
    default = role != AUDIENCE_ROLE
    return TicketClaims(
        app_id=text("iss") or "",
        user_id=text("sub") or "",
        issued_at=number("iat", 0),
        expires_at=number("exp"),
        room=text("room"),
        role=role,
        priv=Privileges(
            audio=priv_raw.get("audio", default),
            video=priv_raw.get("video", default),
            screen=priv_raw.get("screen", default),
        ),
        scope=text("scope", "client") or "client",
    )
