"""ilvb.auth.oidc against an in-process provider (httpx.MockTransport): every refusal has its
code, the JWKS is cached, an unknown kid refetches once per interval. The same checks against a
real provider are in tests/auth/test_oidc_provider.py."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ilvb.auth.oidc import OidcVerifier, authenticate_id_token, to_ticket_claims
from ilvb.auth.oidc_config import check_provider
from ilvb.errors import IlvbError, InvalidArgument
from ilvb.store.interfaces import IdentityProvider
from ilvb.store.memory import MemoryAppStore

ISSUER = "http://127.0.0.1:5999"
CLIENT = "ilvb-client"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class FakeProvider:
    """Discovery + JWKS over a MockTransport; counts JWKS requests."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.jwks_requests = 0
        self.issuer_in_document = ISSUER
        self.add_rsa("k1")

    def add_rsa(self, kid: str) -> rsa.RSAPrivateKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.keys[kid] = key
        return key

    def jwks(self) -> dict[str, Any]:
        out = []
        for kid, key in self.keys.items():
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            jwk.update(kid=kid, use="sig")
            out.append(jwk)
        return {"keys": out}

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(
                200, json={"issuer": self.issuer_in_document, "jwks_uri": f"{ISSUER}/jwks"}
            )
        if request.url.path == "/jwks":
            self.jwks_requests += 1
            return httpx.Response(200, json=self.jwks())
        return httpx.Response(404)

    def token(self, kid: str = "k1", alg: str = "RS256", **claims: Any) -> str:
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": ISSUER,
            "aud": CLIENT,
            "sub": "alice",
            "iat": now,
            "exp": now + 600,
        }
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, self.keys[kid], algorithm=alg, headers={"kid": kid})

    def public_pem(self, kid: str = "k1") -> bytes:
        return (
            self.keys[kid]
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )


PROVIDER = IdentityProvider(ISSUER, CLIENT, algorithms=("RS256", "ES256"))


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
async def verifier(fake: FakeProvider) -> Any:
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake.handler))
    v = OidcVerifier(http=http, leeway_s=5, refetch_interval_s=30)
    yield v
    await http.aclose()


async def _code(
    v: OidcVerifier, token: str, providers: list[IdentityProvider] | None = None
) -> str:
    with pytest.raises(IlvbError) as err:
        await v.verify(token, providers or [PROVIDER])
    return err.value.code


async def test_a_valid_token_verifies_and_the_jwks_is_cached(
    verifier: OidcVerifier, fake: FakeProvider
) -> None:
    provider, claims = await verifier.verify(fake.token(), [PROVIDER])
    assert provider == PROVIDER and claims["sub"] == "alice"
    await verifier.verify(fake.token(sub="bob"), [PROVIDER])
    assert fake.jwks_requests == 1


async def test_each_claim_failure_has_its_code(verifier: OidcVerifier, fake: FakeProvider) -> None:
    now = int(time.time())
    assert await _code(verifier, fake.token(aud="someone-else")) == "oidc_wrong_audience"
    assert await _code(verifier, fake.token(aud=[CLIENT, "x"], azp="x")) == "oidc_wrong_audience"
    assert await _code(verifier, fake.token(exp=now - 60)) == "oidc_expired"
    assert await _code(verifier, fake.token(nbf=now + 60)) == "oidc_not_yet_valid"
    assert await _code(verifier, fake.token(iat=now + 60)) == "oidc_not_yet_valid"
    assert (
        await _code(verifier, fake.token(iss="http://127.0.0.1:1/other")) == "oidc_unknown_issuer"
    )
    assert await _code(verifier, fake.token(exp=None)) == "oidc_malformed"
    assert await _code(verifier, "not.a.jwt") == "oidc_malformed"
    assert await _code(verifier, "x" * 9000) == "oidc_malformed"
    # within the leeway is fine
    await verifier.verify(fake.token(exp=now - 2), [PROVIDER])


async def test_a_token_signed_by_another_key_is_a_bad_signature(
    verifier: OidcVerifier, fake: FakeProvider
) -> None:
    good = fake.token()
    await verifier.verify(good, [PROVIDER])  # caches the provider's key
    fake.keys["k1"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = fake.token()  # same kid, other key; the cache still holds the old public key
    assert await _code(verifier, forged) == "oidc_bad_signature"
    header, payload, _sig = good.split(".")
    assert await _code(verifier, f"{header}.{payload}.{_b64(b'x' * 256)}") == "oidc_bad_signature"


async def test_alg_none_and_hs256_with_the_public_key_are_refused(
    verifier: OidcVerifier, fake: FakeProvider
) -> None:
    real = fake.token()
    payload = real.split(".")[1]
    none = _b64(json.dumps({"alg": "none", "kid": "k1"}).encode()) + f".{payload}."
    assert await _code(verifier, none) == "oidc_algorithm_refused"
    head = _b64(json.dumps({"alg": "HS256", "kid": "k1", "typ": "JWT"}).encode())
    signing_input = f"{head}.{payload}".encode()
    sig = hmac.new(fake.public_pem(), signing_input, hashlib.sha256).digest()
    assert await _code(verifier, f"{head}.{payload}.{_b64(sig)}") == "oidc_algorithm_refused"
    # an allowed algorithm whose key type does not match the provider's key (RSA, not EC)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_token = jwt.encode(
        json.loads(base64.urlsafe_b64decode(payload + "==")),
        ec_key,
        algorithm="ES256",
        headers={"kid": "k1"},
    )
    assert await _code(verifier, ec_token) == "oidc_algorithm_refused"
    # an asymmetric algorithm the provider is not configured with
    assert await _code(verifier, fake.token(alg="RS384")) == "oidc_algorithm_refused"


async def test_an_unknown_kid_refetches_once_per_interval(
    verifier: OidcVerifier, fake: FakeProvider
) -> None:
    await verifier.verify(fake.token(), [PROVIDER])
    assert fake.jwks_requests == 1
    fake.add_rsa("k2")  # rotation: the provider publishes a new key
    await verifier.verify(fake.token(kid="k2"), [PROVIDER])
    assert fake.jwks_requests == 2
    for _ in range(20):  # made-up kids do not each cost a request
        assert await _code(verifier, _with_kid(fake.token(), "nope")) == "oidc_bad_signature"
    assert fake.jwks_requests == 2
    fake.add_rsa("k3")
    verifier.refetch_interval_s = 0  # the interval has passed
    await verifier.verify(fake.token(kid="k3"), [PROVIDER])
    assert fake.jwks_requests == 3


def _with_kid(token: str, kid: str) -> str:
    head, payload, sig = token.split(".")
    header = json.loads(base64.urlsafe_b64decode(head + "=="))
    header["kid"] = kid
    return f"{_b64(json.dumps(header).encode())}.{payload}.{sig}"


async def test_discovery_must_name_the_issuer_exactly(fake: FakeProvider) -> None:
    fake.issuer_in_document = ISSUER + "/"
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake.handler)) as http:
        v = OidcVerifier(http=http)
        assert await _code(v, fake.token()) == "oidc_provider_unavailable"


async def test_an_unreachable_provider_is_unavailable(fake: FakeProvider) -> None:
    def down(_request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as http:
        v = OidcVerifier(http=http)
        assert await _code(v, fake.token()) == "oidc_provider_unavailable"


async def test_an_unreachable_provider_is_remembered_for_the_refetch_interval(
    fake: FakeProvider,
) -> None:
    calls = 0
    up = False

    def flaky(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if not up:
            raise httpx.ConnectError("refused")
        return fake.handler(request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(flaky)) as http:
        v = OidcVerifier(http=http, refetch_interval_s=0.5)
        for _ in range(5):  # one request to the dead provider, not five
            assert await _code(v, fake.token()) == "oidc_provider_unavailable"
        assert calls == 1
        up = True
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            try:
                await v.verify(fake.token(), [PROVIDER])
                break
            except IlvbError as err:
                assert err.code == "oidc_provider_unavailable"
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        assert calls == 3  # after the interval: discovery + JWKS, then verified


async def test_internal_addresses_are_fetched_only_when_listed(fake: FakeProvider) -> None:
    requested: list[str] = []

    def record(request: httpx.Request) -> httpx.Response:
        requested.append(str(request.url))
        return fake.handler(request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(record)) as http:
        refused = OidcVerifier(http=http, internal_hosts=[])  # the issuer is 127.0.0.1
        assert await _code(refused, fake.token()) == "oidc_provider_unavailable"
        assert requested == []  # nothing was sent to the loopback address
        allowed = OidcVerifier(http=http, internal_hosts=["127.0.0.1"])
        await allowed.verify(fake.token(), [PROVIDER])
        assert len(requested) == 2

    # A listed issuer whose discovery points the JWKS at another internal address.
    def metadata(request: httpx.Request) -> httpx.Response:
        requested.append(str(request.url))
        jwks_uri = "http://169.254.169.254/latest/meta-data"
        return httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": jwks_uri})

    requested.clear()
    async with httpx.AsyncClient(transport=httpx.MockTransport(metadata)) as http:
        v = OidcVerifier(http=http, internal_hosts=["127.0.0.1"])
        assert await _code(v, fake.token()) == "oidc_provider_unavailable"
        assert requested == [f"{ISSUER}/.well-known/openid-configuration"]


async def test_claims_map_to_a_ticket_with_the_configured_claims() -> None:
    now = time.time()
    base = {"iat": now, "exp": now + 60, "sub": "s-1", "uid": 42, "role": "host"}
    p = IdentityProvider(ISSUER, CLIENT)
    t = to_ticket_claims("app_1", p, base)
    assert (t.user_id, t.role, t.priv.audio, t.room) == ("s-1", "audience", False, None)
    p2 = IdentityProvider(ISSUER, CLIENT, user_claim="uid", role_claim="role")
    t2 = to_ticket_claims("app_1", p2, base)
    assert (t2.user_id, t2.role, t2.priv.video) == ("42", "host", True)
    with pytest.raises(IlvbError) as err:
        to_ticket_claims("app_1", IdentityProvider(ISSUER, CLIENT, user_claim="email"), base)
    assert err.value.code == "oidc_malformed"


async def test_authenticate_needs_an_enabled_app_with_providers(
    verifier: OidcVerifier, fake: FakeProvider
) -> None:
    store = MemoryAppStore()
    app = await store.create_app("a")
    with pytest.raises(IlvbError) as err:
        await authenticate_id_token(store, verifier, app.app_id, fake.token())
    assert err.value.code == "oidc_unknown_issuer"
    await store.set_identity_providers(app.app_id, [PROVIDER])
    got, claims = await authenticate_id_token(store, verifier, app.app_id, fake.token())
    assert (got.app_id, claims.user_id, claims.app_id) == (app.app_id, "alice", app.app_id)
    with pytest.raises(IlvbError) as err:
        await authenticate_id_token(store, verifier, "app_nope", fake.token())
    assert err.value.code == "ticket_wrong_app"
    long = fake.token(exp=int(time.time()) + 48 * 3600)
    with pytest.raises(IlvbError) as err:
        await authenticate_id_token(store, verifier, app.app_id, long, max_ttl_s=24 * 3600)
    assert err.value.code == "ticket_lifetime_exceeded"


@pytest.mark.parametrize(
    "change",
    [
        {"algorithms": ("HS256",)},
        {"algorithms": ("none",)},
        {"algorithms": ()},
        {"algorithms": ("RS256", "RS256")},
        {"issuer": "ftp://id.example.com"},
        {"issuer": "https://id.example.com/?tenant=1"},
        {"issuer": "id.example.com"},
        {"audience": ""},
        {"user_claim": ""},
    ],
)
def test_the_config_refuses_symmetric_algorithms_and_bad_issuers(change: dict[str, Any]) -> None:
    values: dict[str, Any] = {"issuer": "https://id.example.com", "audience": "c"}
    values.update(change)
    with pytest.raises(InvalidArgument) as err:
        check_provider(IdentityProvider(**values))
    assert err.value.code == "invalid_identity_provider"
