"""OpenID Connect against a real provider (oidc-provider on Node.js, tests/auth/oidc_real.py):
its ID token, got through an authorization code + PKCE login, enters a room over real signaling
through the Python SDK; forged, foreign, expired and misaddressed tokens are refused with their
codes; a key rotation at the provider is picked up (an unknown kid refetches the JWKS)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from ilvb.client import Client
from ilvb.errors import IlvbError
from tests.auth.oidc_real import RealProvider, require_provider
from tests.conftest import LiveServer


@pytest.fixture(scope="module")
def provider() -> Iterator[RealProvider]:
    require_provider()
    p = RealProvider()
    p.start()
    yield p
    p.close()


@pytest.fixture
def server(make_server: Callable[..., LiveServer], provider: RealProvider) -> LiveServer:
    """A server whose app trusts the provider's client ``ilvb-app`` (role from ilvb_role)."""
    s = make_server(oidc={"leeway_s": 0, "internal_hosts": ["127.0.0.1"]})
    configure(s, provider.issuer, "ilvb-app")
    return s


def configure(server: LiveServer, issuer: str, audience: str) -> None:
    body = {"providers": [{"issuer": issuer, "audience": audience, "role_claim": "ilvb_role"}]}
    r = httpx.put(
        f"{server.base_url}/v1/apps/{server.app_id}/identity-providers",
        headers={"X-Admin-Key": server.admin_key},
        json=body,
        timeout=10,
    )
    assert r.status_code == 200, r.text


async def refused(server: LiveServer, id_token: str) -> str:
    with pytest.raises(IlvbError) as err:
        client = await Client.connect(server.ws_url, id_token=id_token, app_id=server.app_id)
        await client.close()
    return err.value.code


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_its_id_token_enters_a_room(server: LiveServer, provider: RealProvider) -> None:
    viewer_token = await asyncio.to_thread(provider.login, "alice")
    host_token = await asyncio.to_thread(provider.login, "host-bob")
    viewer = await Client.connect(server.ws_url, id_token=viewer_token, app_id=server.app_id)
    host = await Client.connect(server.ws_url, id_token=host_token, app_id=server.app_id)
    try:
        assert (viewer.user_id, host.user_id) == ("alice", "host-bob")
        me = (await viewer.enter("lobby", receive=False))["me"]
        # No role claim: the provider's default role, audience (may watch, not send).
        assert me["role"] == "audience"
        assert me["permissions"] == {"audio": False, "video": False, "screen": False}
        me = (await host.enter("lobby", receive=False))["me"]
        assert me["role"] == "host"
        assert me["permissions"] == {"audio": True, "video": True, "screen": True}
        users = {m["user_id"] async for m in host.members()}
        assert users == {"alice", "host-bob"}
    finally:
        await viewer.close()
        await host.close()


async def test_forged_foreign_and_misaddressed_tokens_are_refused(
    server: LiveServer, provider: RealProvider
) -> None:
    token = await asyncio.to_thread(provider.login, "mallory")
    head, payload, _sig = token.split(".")

    other = RealProvider()
    await asyncio.to_thread(other.start)
    try:
        foreign = await asyncio.to_thread(other.login, "mallory")
    finally:
        other.close()
    assert await refused(server, foreign) == "oidc_unknown_issuer"

    wrong_audience = await asyncio.to_thread(provider.login, "mallory", "other-app")
    assert await refused(server, wrong_audience) == "oidc_wrong_audience"

    none = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    assert await refused(server, f"{none}.{payload}.") == "oidc_algorithm_refused"

    # The classic confusion: HS256 "signed" with the provider's public key, as published.
    async with httpx.AsyncClient(timeout=10) as http:
        config = (await http.get(f"{provider.issuer}/.well-known/openid-configuration")).json()
        published = (await http.get(config["jwks_uri"])).json()["keys"][0]
    public = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(published))
    pem = public.public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hs_header = {"alg": "HS256", "typ": "JWT", "kid": published["kid"]}
    hs_head = _b64(json.dumps(hs_header).encode())
    sig = hmac.new(pem, f"{hs_head}.{payload}".encode(), hashlib.sha256).digest()
    assert await refused(server, f"{hs_head}.{payload}.{_b64(sig)}") == "oidc_algorithm_refused"

    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "admin"  # a changed claim under the real signature
    tampered = _b64(json.dumps(claims).encode())
    assert await refused(server, f"{head}.{tampered}.{_sig}") == "oidc_bad_signature"
    assert await refused(server, "not-a-token") == "oidc_malformed"
    # The genuine token still works after all that.
    ok = await Client.connect(server.ws_url, id_token=token, app_id=server.app_id)
    await ok.close()


async def test_an_expired_token_is_refused(
    make_server: Callable[..., LiveServer], provider: RealProvider
) -> None:
    server = make_server(oidc={"leeway_s": 0, "internal_hosts": ["127.0.0.1"]})
    configure(server, provider.issuer, "short-lived")  # this client's ID tokens live 2 s
    token = await asyncio.to_thread(provider.login, "alice", "short-lived")
    ok = await Client.connect(server.ws_url, id_token=token, app_id=server.app_id)
    await ok.close()
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    await asyncio.sleep(max(0.0, exp + 0.2 - time.time()))
    assert await refused(server, token) == "oidc_expired"


async def test_a_key_rotation_is_picked_up(server: LiveServer, provider: RealProvider) -> None:
    verifier: Any = server.app.state.oidc
    old = await asyncio.to_thread(provider.login, "alice")
    client = await Client.connect(server.ws_url, id_token=old, app_id=server.app_id)
    await client.close()
    fetches = verifier.fetches
    await asyncio.to_thread(provider.restart, "key-rotated")  # the old key is gone
    try:
        new = await asyncio.to_thread(provider.login, "alice")
        assert jwt.get_unverified_header(new)["kid"] == "key-rotated"
        client = await Client.connect(server.ws_url, id_token=new, app_id=server.app_id)
        await client.close()
        assert verifier.fetches == fetches + 1  # the unknown kid refetched the JWKS once
        # The old key is no longer published: its tokens are refused, and made-up kids do not
        # refetch again within oidc.refetch_interval_s (30 s).
        assert await refused(server, old) == "oidc_bad_signature"
        assert verifier.fetches == fetches + 1
    finally:
        await asyncio.to_thread(provider.restart, "key-1")


async def test_session_refresh_takes_a_new_id_token_of_the_same_user(
    server: LiveServer, provider: RealProvider
) -> None:
    first = await asyncio.to_thread(provider.login, "alice")
    client = await Client.connect(server.ws_url, id_token=first, app_id=server.app_id)
    try:
        await asyncio.sleep(1.1)  # the next token's iat/exp are a second later
        again = await asyncio.to_thread(provider.login, "alice")
        expires = await client.refresh(id_token=again)
        assert expires == jwt.decode(again, options={"verify_signature": False})["exp"]
        someone = await asyncio.to_thread(provider.login, "bob")
        with pytest.raises(IlvbError) as err:
            await client.refresh(id_token=someone)
        assert err.value.code == "invalid_argument"
    finally:
        await client.close()


async def test_a_provider_on_an_internal_address_is_not_fetched_unless_listed(
    make_server: Callable[..., LiveServer], provider: RealProvider
) -> None:
    server = make_server()  # default settings: no internal hosts
    configure(server, provider.issuer, "ilvb-app")  # http://127.0.0.1:PORT
    token = await asyncio.to_thread(provider.login, "alice")
    assert await refused(server, token) == "oidc_provider_unavailable"
