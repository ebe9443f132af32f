"""Console sign-in of customer accounts: sessions, CSRF and Origin checks, isolation between
accounts, sign-up, sign-out, password changes and the limit on failed sign-ins."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ilvb.server.console_auth import CSRF_HEADER, SESSION_COOKIE

ORIGIN = "http://testserver"  # TestClient's base URL
PASSWORD = "correct horse battery"


class Browser:
    """One cookie jar on the test server: what a signed-in console tab sends."""

    def __init__(self, app: Any) -> None:
        self.client = TestClient(app, base_url=ORIGIN)
        self.csrf = ""

    def call(self, method: str, path: str, body: Any = None, status: int = 200, **hdrs: str) -> Any:
        headers = {"Origin": ORIGIN, CSRF_HEADER: self.csrf, **hdrs}
        r = self.client.request(method, path, json=body, headers=headers)
        assert r.status_code == status, (r.status_code, r.text)
        return r.json() if r.content else None

    def sign_in(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        info: dict[str, Any] = self.call(
            "POST", "/v1/session", {"email": email, "password": password}
        )
        self.csrf = info["csrf_token"]
        return info


@pytest.fixture
def world(make_app_env: Callable[..., Any]) -> Iterator[Any]:
    env = make_app_env(console={"login_attempts": 3})
    with TestClient(env.app) as operator:
        key = {"X-Admin-Key": env.admin_key}

        def op(method: str, path: str, body: Any = None, status: int = 200) -> Any:
            r = operator.request(method, path, json=body, headers=key)
            assert r.status_code == status, r.text
            return r.json() if r.content else None

        accounts = {}
        for who in ("acme", "other"):
            body = {"email": f"ops@{who}.test", "name": who, "password": PASSWORD}
            accounts[who] = op("POST", "/v1/accounts", body, 201)["account_id"]
        yield env, op, accounts


def _code(r: Any) -> str:
    return str(r.json()["error"]["code"])


def test_the_cookie_is_httponly_strict_and_the_session_sees_its_own_account(world: Any) -> None:
    env, op, accounts = world
    tab = Browser(env.app)
    r = tab.client.post(
        "/v1/session",
        json={"email": "ops@acme.test", "password": PASSWORD},
        headers={"Origin": ORIGIN},
    )
    assert r.status_code == 200, r.text
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here; https sets it (next test)
    info = r.json()
    assert info["account"]["account_id"] == accounts["acme"] and info["csrf_token"]
    tab.csrf = info["csrf_token"]
    assert tab.call("GET", "/v1/session")["account"]["email"] == "ops@acme.test"
    assert tab.call("GET", f"/v1/accounts/{accounts['acme']}")["name"] == "acme"
    # The store keeps only the token's hash.
    token = tab.client.cookies[SESSION_COOKIE]
    assert token not in repr(env.app.state.billing.store.__dict__)


def test_over_https_the_cookie_is_secure(world: Any) -> None:
    env, _, _ = world
    client = TestClient(env.app, base_url="https://testserver")
    r = client.post(
        "/v1/session",
        json={"email": "ops@acme.test", "password": PASSWORD},
        headers={"Origin": "https://testserver"},
    )
    assert r.status_code == 200, r.text
    assert "Secure" in r.headers["set-cookie"]


def test_an_account_sees_and_manages_only_its_own(world: Any) -> None:
    env, op, accounts = world
    acme, other = Browser(env.app), Browser(env.app)
    acme.sign_in("ops@acme.test")
    other.sign_in("ops@other.test")
    app = acme.call("POST", "/v1/apps", {"name": "acme-live"}, 201)
    assert op("GET", f"/v1/accounts/{accounts['acme']}")["apps"] == [app["app_id"]]
    assert [a["app_id"] for a in acme.call("GET", "/v1/apps")["apps"]] == [app["app_id"]]
    assert other.call("GET", "/v1/apps")["apps"] == []
    # The operator's first app (owned by nobody) and acme's app are invisible to "other".
    for path in (f"/v1/apps/{app['app_id']}", f"/v1/apps/{env.record.app_id}"):
        assert other.call("GET", path, status=404)["error"]["code"] == "app_not_found"
    for path in ("rooms", "identity-providers", "quality"):
        r = other.call("GET", f"/v1/apps/{app['app_id']}/{path}", status=404)
        assert r["error"]["code"] == "app_not_found"
    assert acme.call("GET", f"/v1/apps/{app['app_id']}/rooms")["rooms"] == []
    acme.call("PATCH", f"/v1/apps/{app['app_id']}", {"name": "renamed"})
    assert acme.call("POST", f"/v1/apps/{app['app_id']}/rotate")["secret"] != app["secret"]
    other.call("POST", f"/v1/apps/{app['app_id']}/rotate", status=404)
    for part in ("", "/ledger", "/invoices", "/messages"):
        r = other.call("GET", f"/v1/accounts/{accounts['acme']}{part}", status=404)
        assert r["error"]["code"] == "account_not_found"
        acme.call("GET", f"/v1/accounts/{accounts['acme']}{part}")
    # Operator-only: the account list, top-ups, plans, linking apps, the billing run.
    for method, path, body in (
        ("GET", "/v1/accounts", None),
        ("POST", "/v1/accounts", {"email": "x@y.test", "name": "x"}),
        ("POST", f"/v1/accounts/{accounts['acme']}/topups", {"amount": "9.00", "key": "free"}),
        (
            "PUT",
            f"/v1/accounts/{accounts['acme']}/plan",
            {"name": "p", "tiers": [{"up_to": None, "unit_price": "1"}]},
        ),
        ("POST", f"/v1/accounts/{accounts['acme']}/apps", {"app_id": env.record.app_id}),
        ("POST", "/v1/billing/run", None),
    ):
        r = acme.call(method, path, body, status=401)
        assert r["error"]["code"] == "admin_key_required", path
    assert op("GET", f"/v1/accounts/{accounts['acme']}/ledger")["entries"] == []
    # The operator still sees everything.
    assert len(op("GET", "/v1/apps")["apps"]) == 2
    assert len(op("GET", "/v1/accounts")["accounts"]) == 2


def test_a_session_cannot_be_used_from_another_origin_or_without_its_csrf_token(
    world: Any,
) -> None:
    env, _, accounts = world
    tab = Browser(env.app)
    tab.sign_in("ops@acme.test")
    body = {"name": "sneaky"}
    for headers in (
        {"Origin": "http://evil.example"},  # the right token from another site
        {"Origin": "null"},
        {CSRF_HEADER: tab.csrf, "Origin": ""},
        {"Origin": ORIGIN, CSRF_HEADER: ""},  # same origin, no token (a plain form post)
        {"Origin": ORIGIN, CSRF_HEADER: "x" * 43},
    ):
        sent = {CSRF_HEADER: tab.csrf, **headers}
        r = tab.client.post("/v1/apps", json=body, headers=sent)
        assert (r.status_code, _code(r)) == (403, "csrf_failed"), headers
    r = tab.client.delete("/v1/session", headers={"Origin": "http://evil.example"})
    assert _code(r) == "csrf_failed"
    assert tab.call("GET", "/v1/apps")["apps"] == []  # nothing was created
    # Sign-in itself checks the origin (no login CSRF into an attacker's account).
    r = tab.client.post(
        "/v1/session",
        json={"email": "ops@acme.test", "password": PASSWORD},
        headers={"Origin": "http://evil.example"},
    )
    assert (r.status_code, _code(r)) == (403, "csrf_failed")
    del accounts


def test_without_a_session_console_endpoints_are_401(world: Any) -> None:
    env, _, accounts = world
    client = TestClient(env.app)
    r = client.get("/v1/session")
    assert (r.status_code, _code(r)) == (401, "session_required")
    client.cookies.set(SESSION_COOKIE, "made-up")
    for path in ("/v1/session", "/v1/apps", f"/v1/accounts/{accounts['acme']}/ledger"):
        r = client.get(path)
        assert (r.status_code, _code(r)) == (401, "session_required"), path
    client.cookies.clear()
    r = client.get(f"/v1/accounts/{accounts['acme']}/ledger")
    assert r.status_code == 401


def test_sign_out_ends_the_session_on_the_server(world: Any) -> None:
    env, _, _ = world
    tab = Browser(env.app)
    tab.sign_in("ops@acme.test")
    token = tab.client.cookies[SESSION_COOKIE]
    tab.call("DELETE", "/v1/session", status=204)
    replay = TestClient(env.app)
    replay.cookies.set(SESSION_COOKIE, token)  # a copy of the cookie taken before sign-out
    r = replay.get("/v1/apps")
    assert (r.status_code, _code(r)) == (401, "session_required")


def test_a_session_expires(make_app_env: Callable[..., Any]) -> None:
    from ilvb.rooms.clock import ManualClock

    clock = ManualClock(1_800_000_000.0)
    env = make_app_env(clock=clock, console={"session_ttl_s": 60})
    with TestClient(env.app) as operator:
        body = {"email": "a@b.test", "name": "a", "password": PASSWORD}
        operator.post("/v1/accounts", json=body, headers={"X-Admin-Key": env.admin_key})
        tab = Browser(env.app)
        tab.sign_in("a@b.test")
        tab.call("GET", "/v1/session")
        clock.advance(61)
        assert tab.call("GET", "/v1/session", status=401)["error"]["code"] == "session_required"


def test_wrong_passwords_are_refused_alike_and_rate_limited(world: Any) -> None:
    env, _, _ = world
    tab = Browser(env.app)
    for email in ("ops@acme.test", "nobody@acme.test", "ops@acme.test"):
        r = tab.call(
            "POST", "/v1/session", {"email": email, "password": "wrong-password"}, status=401
        )
        assert r["error"]["code"] == "invalid_credentials"
    # Three failures from this address: even the right password waits for the window.
    r = tab.call(
        "POST", "/v1/session", {"email": "ops@other.test", "password": PASSWORD}, status=429
    )
    assert r["error"]["code"] == "rate_limited"


def test_an_account_without_a_password_cannot_sign_in(world: Any) -> None:
    env, op, _ = world
    op("POST", "/v1/accounts", {"email": "nopw@x.test", "name": "n"}, 201)
    r = Browser(env.app).call(
        "POST", "/v1/session", {"email": "nopw@x.test", "password": ""}, status=400
    )
    assert r["error"]["code"] == "invalid_argument"
    r = Browser(env.app).call(
        "POST", "/v1/session", {"email": "nopw@x.test", "password": "anything-at-all"}, status=401
    )
    assert r["error"]["code"] == "invalid_credentials"


def test_password_change_needs_the_current_one_and_ends_other_sessions(world: Any) -> None:
    env, op, accounts = world
    aid = accounts["acme"]
    first, second = Browser(env.app), Browser(env.app)
    first.sign_in("ops@acme.test")
    second.sign_in("ops@acme.test")
    path = f"/v1/accounts/{aid}/password"
    r = first.call(
        "PUT", path, {"password": "new password 123", "current_password": "nope"}, status=401
    )
    assert r["error"]["code"] == "invalid_credentials"
    first.call(
        "PUT", path, {"password": "new password 123", "current_password": PASSWORD}, status=204
    )
    first.call("GET", "/v1/session")  # the session that changed it stays
    second.call("GET", "/v1/session", status=401)
    Browser(env.app).sign_in("ops@acme.test", "new password 123")
    r = first.call(
        "PUT",
        f"/v1/accounts/{accounts['other']}/password",
        {"password": "taken over!!", "current_password": "x"},
        status=404,
    )
    assert r["error"]["code"] == "account_not_found"
    op("PUT", path, {"password": "operator-set-1"}, 204)  # operators need no current password
    first.call("GET", "/v1/session", status=401)  # ... and it ends every session of the account
    third = Browser(env.app)
    third.sign_in("ops@acme.test", "operator-set-1")
    r = third.call("PUT", path, {"password": "short", "current_password": "x"}, status=400)
    assert r["error"]["code"] == "invalid_argument"


def test_self_sign_up_only_when_configured(world: Any, make_app_env: Callable[..., Any]) -> None:
    env, _, _ = world
    body = {"email": "new@co.test", "name": "New", "password": PASSWORD}
    r = Browser(env.app).call("POST", "/v1/signup", body, status=403)
    assert r["error"]["code"] == "signup_closed"
    open_env = make_app_env(console={"self_signup": True})
    with TestClient(open_env.app):
        tab = Browser(open_env.app)
        info = tab.call("POST", "/v1/signup", body, 201)
        tab.csrf = info["csrf_token"]
        assert tab.call("GET", "/v1/session")["account"]["email"] == "new@co.test"
        r = tab.call("POST", "/v1/signup", body, status=409)
        assert r["error"]["code"] == "email_taken"
        tab.call(
            "POST", "/v1/signup", {**body, "email": "x@co.test", "password": "short"}, status=400
        )
