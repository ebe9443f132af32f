"""Login tickets: signing, verification and the distinct refusal codes."""

from __future__ import annotations

import time

import jwt
import pytest

from ilvb.auth.app_auth import authenticate_ticket
from ilvb.auth.tickets import (
    Privileges,
    check_room,
    sign_server_token,
    sign_ticket,
    verify_ticket,
)
from ilvb.errors import IlvbError
from ilvb.store.memory import MemoryAppStore

APP_ID = "app_123"
SECRET = "s3cret-key-of-the-app-0123456789abcdef"


def code(fn, *args, **kwargs) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(IlvbError) as info:
        fn(*args, **kwargs)
    return info.value.code


def test_round_trip_keeps_every_claim() -> None:
    now = time.time()
    token = sign_ticket(APP_ID, SECRET, "alice", ttl_s=60, room="math-101", video=False, now=now)
    claims = verify_ticket(token, SECRET, app_id=APP_ID)
    assert claims.app_id == APP_ID and claims.user_id == "alice"
    assert claims.room == "math-101"
    assert claims.role == "speaker"
    assert claims.priv == Privileges(audio=True, video=False, screen=True)
    assert claims.expires_at == int(now + 60)


def test_audience_role_may_only_watch() -> None:
    claims = verify_ticket(sign_ticket(APP_ID, SECRET, "bob", role="audience"), SECRET)
    assert claims.priv == Privileges(False, False, False)


def test_expired_ticket() -> None:
    token = sign_ticket(APP_ID, SECRET, "alice", ttl_s=10, now=time.time() - 3600)
    assert code(verify_ticket, token, SECRET) == "ticket_expired"


def test_forged_ticket_has_a_bad_signature() -> None:
    token = sign_ticket(APP_ID, "another-secret-entirely-0123456789", "alice")
    assert code(verify_ticket, token, SECRET) == "ticket_bad_signature"
    header, payload, signature = sign_ticket(APP_ID, SECRET, "alice").split(".")
    forged_payload = jwt.utils.base64url_encode(b'{"iss":"app_123","sub":"root","exp":9999999999}')
    forged = f"{header}.{forged_payload.decode()}.{signature}"
    assert code(verify_ticket, forged, SECRET) == "ticket_bad_signature"


def test_ticket_of_another_app() -> None:
    token = sign_ticket("app_other", SECRET, "alice")
    assert code(verify_ticket, token, SECRET, app_id=APP_ID) == "ticket_wrong_app"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b.c",
        jwt.encode({"iss": APP_ID, "sub": "u", "exp": 9999999999}, None, algorithm="none"),
        jwt.encode({"iss": APP_ID, "sub": "u", "exp": 9999999999}, SECRET, algorithm="HS512"),
        jwt.encode({"sub": "u", "exp": 9999999999}, SECRET, algorithm="HS256"),
        jwt.encode({"iss": APP_ID, "exp": 9999999999}, SECRET, algorithm="HS256"),
        jwt.encode({"iss": APP_ID, "sub": "u"}, SECRET, algorithm="HS256"),
        jwt.encode({"iss": APP_ID, "sub": 5, "exp": 9999999999}, SECRET, algorithm="HS256"),
        jwt.encode({"iss": APP_ID, "sub": "u", "exp": "soon"}, SECRET, algorithm="HS256"),
        jwt.encode(
            {"iss": APP_ID, "sub": "u", "exp": 9999999999, "priv": {"audio": "yes"}},
            SECRET,
            algorithm="HS256",
        ),
        jwt.encode({"iss": APP_ID, "sub": "u", "exp": 9999999999, "room": 5}, SECRET, "HS256"),
    ],
)
def test_malformed_tickets(token: str) -> None:
    assert code(verify_ticket, token, SECRET) == "ticket_malformed"


def test_room_restriction() -> None:
    claims = verify_ticket(sign_ticket(APP_ID, SECRET, "alice", room=42), SECRET)
    check_room(claims, 42)
    check_room(claims, "42")
    assert code(check_room, claims, "43") == "ticket_wrong_room"
    unrestricted = verify_ticket(sign_ticket(APP_ID, SECRET, "alice"), SECRET)
    check_room(unrestricted, "anything")


def test_server_tokens_and_login_tickets_are_not_interchangeable() -> None:
    server = sign_server_token(APP_ID, SECRET)
    assert verify_ticket(server, SECRET, scope="server").scope == "server"
    assert code(verify_ticket, server, SECRET) == "ticket_malformed"
    login = sign_ticket(APP_ID, SECRET, "alice")
    assert code(verify_ticket, login, SECRET, scope="server") == "ticket_malformed"


async def test_authenticate_against_the_store() -> None:
    store = MemoryAppStore()
    app = await store.create_app("a")
    other = await store.create_app("b")
    got_app, claims = await authenticate_ticket(store, sign_ticket(app.app_id, app.secret, "u"))
    assert got_app.app_id == app.app_id and claims.user_id == "u"
    with pytest.raises(IlvbError) as info:
        await authenticate_ticket(store, sign_ticket("app_nope", app.secret, "u"))
    assert info.value.code == "ticket_wrong_app"
    with pytest.raises(IlvbError) as info:
        await authenticate_ticket(store, sign_ticket(app.app_id, other.secret, "u"))
    assert info.value.code == "ticket_bad_signature"
    await store.update_app(app.app_id, enabled=False)
    with pytest.raises(IlvbError) as info:
        await authenticate_ticket(store, sign_ticket(app.app_id, app.secret, "u"))
    assert info.value.code == "ticket_wrong_app"
    rotated = await store.rotate_secret(other.app_id)
    with pytest.raises(IlvbError) as info:
        await authenticate_ticket(store, sign_ticket(other.app_id, other.secret, "u"))
    assert info.value.code == "ticket_bad_signature"
    await authenticate_ticket(store, sign_ticket(other.app_id, rotated.secret, "u"))


def _raw(claims: dict[str, object]) -> str:
    """A ticket with exactly these claims, numbers written as JSON allows Python to."""
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())  # allow_nan: writes NaN / Infinity
    sig = hmac.new(SECRET.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64(sig)}"


@pytest.mark.parametrize(
    ("exp", "code"),
    [
        (253402300799, "ticket_lifetime_exceeded"),  # year 9999
        (1e308, "ticket_lifetime_exceeded"),
        (10**400, "ticket_malformed"),  # beyond any float
        (float("inf"), "ticket_malformed"),
        (float("nan"), "ticket_malformed"),  # NaN compares false: it never expired before
    ],
)
def test_absurd_expiry_is_refused(exp: float, code: str) -> None:
    now = time.time()
    token = _raw({"iss": APP_ID, "sub": "u", "iat": int(now), "exp": exp})
    with pytest.raises(IlvbError) as info:
        verify_ticket(token, SECRET, now=now)
    assert info.value.code == code


def test_iat_in_the_future_is_refused_beyond_the_clock_skew() -> None:
    now = time.time()
    ahead = sign_ticket(APP_ID, SECRET, "u", now=now + 3600, ttl_s=60)
    with pytest.raises(IlvbError) as info:
        verify_ticket(ahead, SECRET, now=now)
    assert info.value.code == "ticket_malformed" and "future" in info.value.message
    slightly = sign_ticket(APP_ID, SECRET, "u", now=now + 30, ttl_s=60)
    assert verify_ticket(slightly, SECRET, now=now).user_id == "u"  # within 60 s of skew
    nan_iat = _raw({"iss": APP_ID, "sub": "u", "iat": float("nan"), "exp": int(now) + 60})
    with pytest.raises(IlvbError) as info:
        verify_ticket(nan_iat, SECRET, now=now)
    assert info.value.code == "ticket_malformed"


def test_ticket_and_server_token_lifetimes_are_capped() -> None:
    now = time.time()
    day = sign_ticket(APP_ID, SECRET, "u", now=now, ttl_s=24 * 3600)
    assert verify_ticket(day, SECRET, now=now).user_id == "u"
    for ticket in (
        sign_ticket(APP_ID, SECRET, "u", now=now, ttl_s=24 * 3600 + 1),
        _raw({"iss": APP_ID, "sub": "u", "exp": int(now) + 3 * 24 * 3600}),  # no iat
    ):
        with pytest.raises(IlvbError) as info:
            verify_ticket(ticket, SECRET, now=now)
        assert info.value.code == "ticket_lifetime_exceeded"
    years_31 = sign_server_token(APP_ID, SECRET, ttl_s=31 * 365 * 24 * 3600, now=now)
    with pytest.raises(IlvbError) as info:
        verify_ticket(years_31, SECRET, now=now, scope="server")
    assert info.value.code == "ticket_lifetime_exceeded"
    hour = sign_server_token(APP_ID, SECRET, ttl_s=3600, now=now)
    assert verify_ticket(hour, SECRET, now=now, scope="server").scope == "server"
    two = sign_server_token(APP_ID, SECRET, ttl_s=7200, now=now)
    with pytest.raises(IlvbError):
        verify_ticket(two, SECRET, now=now, scope="server")
    assert verify_ticket(two, SECRET, now=now, scope="server", max_ttl_s=7200).scope == "server"
