"""OpenID Connect ID tokens as login credentials (OpenID Connect Core 1.0 §3.1.3.7).

An app lists the providers it trusts (:class:`~ilvb.store.interfaces.IdentityProvider`); a
client presents the provider's ID token in ``hello`` instead of an ilvb ticket. The server
finds the provider by the token's ``iss``, discovers it (``{issuer}/.well-known/openid-
configuration``, whose ``issuer`` must equal it exactly), fetches and caches its JWKS
(``oidc.jwks_ttl_s``; a token whose ``kid`` is not in the cache refetches at most once per
``oidc.refetch_interval_s`` per issuer, so a key rotation is picked up and a flood of made-up
``kid`` values is not a flood of requests), then checks, in this order:

1. the token parses as a JWS: else ``oidc_malformed``;
2. its ``alg`` is one of the provider's configured (asymmetric) algorithms, and the key it
   names is of that algorithm's type: else ``oidc_algorithm_refused``. This refuses ``none``
   and the classic confusion of an ``HS256`` token "signed" with the provider's public key;
3. ``iss`` names a provider of the app: else ``oidc_unknown_issuer``;
4. the signature verifies with the provider's key: else ``oidc_bad_signature``;
5. ``aud`` contains the configured client id (and ``azp``, when present, is it): else
   ``oidc_wrong_audience``;
6. ``exp`` is ahead, ``nbf`` and ``iat`` are not ahead (``oidc.leeway_s``): else
   ``oidc_expired`` / ``oidc_not_yet_valid``;
7. the user-id claim is a short string: else ``oidc_malformed``.

Discovery and JWKS are fetched only from public addresses unless ``oidc.internal_hosts`` names the
host (an app's providers are set by whoever holds its credential, who must not make the server
request its own network). A provider that cannot be reached, is refused by that rule or answers
nonsense gives ``oidc_provider_unavailable``; while
its keys are cached they are used instead, and without cached keys the failure is remembered
for ``oidc.refetch_interval_s`` (a negative cache: tokens of a dead provider fail at once
rather than each waiting ``oidc.timeout_s`` for it).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import math
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt

from ilvb.auth.oidc_config import ALGORITHM_KEY_TYPES, EC_CURVES
from ilvb.auth.tickets import AUDIENCE_ROLE, MAX_CLAIM_CHARS, Privileges, TicketClaims
from ilvb.errors import Unauthenticated, Unavailable
from ilvb.store.interfaces import AppRecord, AppStore, IdentityProvider

log = logging.getLogger(__name__)

MAX_TOKEN_CHARS = 8192
MAX_DOCUMENT_BYTES = 512 * 1024
DISCOVERY_PATH = "/.well-known/openid-configuration"
OKP_CURVES = frozenset({"Ed25519", "Ed448"})


def _refused(code: str, message: str) -> Unauthenticated:
    return Unauthenticated(code, message)


@dataclass
class _ProviderKeys:
    """One issuer's JWKS as last fetched (monotonic times)."""

    keys: list[dict[str, Any]]
    fetched_at: float


class OidcVerifier:
    """Verifies ID tokens against an app's providers; owns the discovery/JWKS cache.

    ``http`` is the client used to reach providers (the default one is created lazily and
    closed by :meth:`close`); ``clock`` gives Unix time for the token's time claims.
    ``internal_hosts``: with it, discovery and JWKS are fetched only from hosts whose every
    address is global (public), or that it names; None: no address policy (tests, library use).
    """

    def __init__(
        self,
        *,
        http: httpx.AsyncClient | None = None,
        jwks_ttl_s: float = 300.0,
        refetch_interval_s: float = 30.0,
        leeway_s: float = 30.0,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.time,
        internal_hosts: Collection[str] | None = None,
    ) -> None:
        self._http = http
        self.internal_hosts = None if internal_hosts is None else frozenset(internal_hosts)
        self._own_http = http is None
        self.jwks_ttl_s = jwks_ttl_s
        self.refetch_interval_s = refetch_interval_s
        self.leeway_s = leeway_s
        self.timeout_s = timeout_s
        self._clock = clock
        self._cache: dict[str, _ProviderKeys] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        # Per issuer: when an unknown kid last caused a refetch (monotonic).
        self._last_refetch: dict[str, float] = {}
        # Per issuer without cached keys: when its discovery or JWKS last failed (monotonic).
        # Tokens of it fail at once for refetch_interval_s (no request per token to a dead host).
        self._failed_at: dict[str, float] = {}
        self.fetches = 0  # JWKS fetches made (observable in tests)

    async def close(self) -> None:
        """Close the HTTP client this verifier created. Idempotent."""
        http, self._http = self._http, None
        if http is not None and self._own_http:
            await http.aclose()

    # verification ----------------------------------------------------------------------

    async def verify(
        self, token: object, providers: Sequence[IdentityProvider]
    ) -> tuple[IdentityProvider, dict[str, Any]]:
        """The provider that issued ``token`` and its verified claims (see the module doc)."""
        header, unverified = _parse(token)
        assert isinstance(token, str)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ALGORITHM_KEY_TYPES:
            raise _refused(
                "oidc_algorithm_refused", f"ID tokens signed with {alg!r} are not accepted"
            )
        iss = unverified.get("iss")
        provider = next((p for p in providers if p.issuer == iss), None)
        if provider is None:
            raise _refused("oidc_unknown_issuer", "the ID token's issuer is not configured")
        if alg not in provider.algorithms:
            raise _refused("oidc_algorithm_refused", f"this provider is configured without {alg}")
        kid = header.get("kid")
        if kid is not None and (not isinstance(kid, str) or len(kid) > 256):
            raise _refused("oidc_malformed", "the ID token's 'kid' must be a short string")
        keys = await self._keys_for(provider.issuer, kid)
        claims = self._check_signature(token, alg, kid, keys)
        self._check_audience(claims, provider.audience)
        self._check_times(claims)
        return provider, claims

    def _check_signature(
        self, token: str, alg: str, kid: str | None, keys: list[dict[str, Any]]
    ) -> dict[str, Any]:
        candidates = [k for k in keys if kid is None or k.get("kid") == kid]
        if not candidates:
            raise _refused("oidc_bad_signature", "the provider has no key with the token's 'kid'")
        usable = [k for k in candidates if _key_fits(k, alg)]
        if not usable:
            raise _refused("oidc_algorithm_refused", f"the provider's key is not a key for {alg}")
        for jwk in usable:
            try:
                key = jwt.PyJWK(jwk, algorithm=alg).key
            except jwt.PyJWTError:
                continue
            try:
                return jwt.decode(
                    token,
                    key,
                    algorithms=[alg],
                    options={
                        "verify_aud": False,
                        "verify_iss": False,
                        "verify_exp": False,
                        "verify_nbf": False,
                        "verify_iat": False,
                    },
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError as exc:
                raise _refused("oidc_malformed", f"the ID token is malformed: {exc}") from exc
        raise _refused("oidc_bad_signature", "the ID token's signature does not verify")

    @staticmethod
    def _check_audience(claims: dict[str, Any], audience: str) -> None:
        aud = claims.get("aud")
        auds = [aud] if isinstance(aud, str) else aud
        if not isinstance(auds, list) or not all(isinstance(a, str) for a in auds):
            raise _refused("oidc_malformed", "the ID token's 'aud' must be a string or strings")
        if audience not in auds:
            raise _refused("oidc_wrong_audience", "the ID token was issued for another client")
        azp = claims.get("azp")
        if azp is not None and azp != audience:
            raise _refused("oidc_wrong_audience", "the ID token's 'azp' is another client")

    def _check_times(self, claims: dict[str, Any]) -> None:
        now = self._clock()
        exp = _required_number(claims, "exp")
        iat = _required_number(claims, "iat")
        nbf = _number(claims, "nbf", required=False)
        if exp <= now - self.leeway_s:
            raise _refused("oidc_expired", "the ID token has expired")
        if nbf is not None and nbf > now + self.leeway_s:
            raise _refused("oidc_not_yet_valid", "the ID token is not valid yet ('nbf')")
        if iat > now + self.leeway_s:
            raise _refused("oidc_not_yet_valid", "the ID token's 'iat' is in the future")

    # discovery and JWKS ------------------------------------------------------------------

    async def _keys_for(self, issuer: str, kid: str | None) -> list[dict[str, Any]]:
        """The issuer's keys: cached, refetched when stale, or when ``kid`` is unknown (rate
        limited per issuer)."""
        lock = self._locks.setdefault(issuer, asyncio.Lock())
        async with lock:
            cached = self._cache.get(issuer)
            now = time.monotonic()
            stale = cached is None or now - cached.fetched_at >= self.jwks_ttl_s
            unknown = (
                cached is not None
                and kid is not None
                and not any(k.get("kid") == kid for k in cached.keys)
            )
            may_refetch = now - self._last_refetch.get(issuer, -math.inf) >= self.refetch_interval_s
            if unknown and may_refetch and not stale:
                self._last_refetch[issuer] = now
            failed = now - self._failed_at.get(issuer, -math.inf) < self.refetch_interval_s
            if cached is None and failed:
                raise Unavailable(
                    "oidc_provider_unavailable",
                    "the identity provider was unreachable moments ago; retried in"
                    f" {self.refetch_interval_s:g} s",
                )
            if stale or (unknown and may_refetch):
                try:
                    keys = await self._fetch_keys(issuer)
                except Unavailable:
                    if cached is None:
                        self._failed_at[issuer] = time.monotonic()
                        raise
                    log.warning("provider %s unreachable; using its cached keys", issuer)
                    return cached.keys
                cached = _ProviderKeys(keys, time.monotonic())
                self._cache[issuer] = cached
                self._failed_at.pop(issuer, None)
            assert cached is not None
            return cached.keys

    async def _fetch_keys(self, issuer: str) -> list[dict[str, Any]]:
        self.fetches += 1
        config = await self._get_json(issuer.rstrip("/") + DISCOVERY_PATH)
        if config.get("issuer") != issuer:
            raise Unavailable(
                "oidc_provider_unavailable",
                "the provider's discovery document names another issuer",
            )
        jwks_uri = config.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise Unavailable(
                "oidc_provider_unavailable", "the provider's discovery document has no jwks_uri"
            )
        jwks = await self._get_json(jwks_uri)
        keys = jwks.get("keys")
        if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
            raise Unavailable("oidc_provider_unavailable", "the provider's JWKS has no keys")
        log.info("fetched %d keys of provider %s", len(keys), issuer)
        return keys

    async def _check_address(self, url: str) -> None:
        """``oidc_provider_unavailable`` if ``url``'s host is internal and not allowed."""
        if self.internal_hosts is None:
            return
        parts = urlsplit(url)
        host = parts.hostname
        if not host:
            raise Unavailable("oidc_provider_unavailable", f"no host in {url}")
        if host in self.internal_hosts:
            return
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            infos = await asyncio.get_running_loop().getaddrinfo(host, port)
        except (OSError, ValueError) as exc:
            raise Unavailable(
                "oidc_provider_unavailable", f"the identity provider's host {host} does not resolve"
            ) from exc
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                address = address.ipv4_mapped
            if not address.is_global:
                raise Unavailable(
                    "oidc_provider_unavailable",
                    f"{host} has the internal address {address}; only hosts listed in"
                    " oidc.internal_hosts may",
                )

    async def _get_json(self, url: str) -> dict[str, Any]:
        await self._check_address(url)
        if self._http is None:
            self._http = httpx.AsyncClient(follow_redirects=False)
            self._own_http = True
        try:
            response = await self._http.get(
                url, timeout=self.timeout_s, headers={"accept": "application/json"}
            )
        except httpx.HTTPError as exc:
            raise Unavailable(
                "oidc_provider_unavailable", f"the identity provider is unreachable ({exc!r})"
            ) from exc
        if response.status_code != 200 or len(response.content) > MAX_DOCUMENT_BYTES:
            raise Unavailable(
                "oidc_provider_unavailable",
                f"the identity provider answered {response.status_code} at {url}",
            )
        try:
            body = json.loads(response.content)
        except ValueError as exc:
            raise Unavailable(
                "oidc_provider_unavailable", f"the identity provider sent no JSON at {url}"
            ) from exc
        if not isinstance(body, dict):
            raise Unavailable(
                "oidc_provider_unavailable", f"the identity provider sent no object at {url}"
            )
        return body


def to_ticket_claims(
    app_id: str, provider: IdentityProvider, claims: dict[str, Any]
) -> TicketClaims:
    """What a verified ID token grants: the same :class:`TicketClaims` an ilvb ticket gives.

    The user id is the ``user_claim`` (a string, or an integer written in decimal); the role is
    the ``role_claim`` when the token carries it as a string, else ``default_role``. The
    privilege ceiling follows the role as for tickets: everything, or nothing for
    ``audience``. No room restriction.
    """
    raw_user = claims.get(provider.user_claim)
    if isinstance(raw_user, int) and not isinstance(raw_user, bool):
        raw_user = str(raw_user)
    if not isinstance(raw_user, str) or not raw_user or len(raw_user) > MAX_CLAIM_CHARS:
        raise _refused(
            "oidc_malformed", f"the ID token's {provider.user_claim!r} must be a short string"
        )
    role = provider.default_role
    if provider.role_claim is not None:
        raw_role = claims.get(provider.role_claim)
        if isinstance(raw_role, str) and 0 < len(raw_role) <= MAX_CLAIM_CHARS:
            role = raw_role
    sends = role != AUDIENCE_ROLE
    return TicketClaims(
        app_id=app_id,
        user_id=raw_user,
        issued_at=float(claims["iat"]),
        expires_at=float(claims["exp"]),
        role=role,
        priv=Privileges(audio=sends, video=sends, screen=sends),
    )


async def authenticate_id_token(
    store: AppStore,
    verifier: OidcVerifier,
    app_id: object,
    token: object,
    *,
    max_ttl_s: float | None = None,
) -> tuple[AppRecord, TicketClaims]:
    """Verify ``token`` against the providers of ``app_id``; the app and what it grants.

    ``ticket_wrong_app`` for an unknown or disabled app; ``ticket_lifetime_exceeded`` when the
    token is valid for longer than ``max_ttl_s`` from now (the ticket cap).
    """
    if not isinstance(app_id, str) or not app_id or len(app_id) > 64:
        raise _refused("ticket_wrong_app", "hello with an ID token needs the app_id")
    app = await store.get_app(app_id)
    if app is None or not app.enabled:
        raise _refused("ticket_wrong_app", "the app is unknown or disabled")
    providers = await store.get_identity_providers(app.app_id)
    _parse(token)  # a malformed token says so even for an app without providers
    if not providers:
        raise _refused("oidc_unknown_issuer", "this app accepts no third-party ID tokens")
    provider, claims = await verifier.verify(token, providers)
    granted = to_ticket_claims(app.app_id, provider, claims)
    if max_ttl_s is not None and granted.expires_at - time.time() > max_ttl_s + verifier.leeway_s:
        raise _refused(
            "ticket_lifetime_exceeded",
            f"the ID token is valid for longer than the server accepts ({max_ttl_s:g} s)",
        )
    return app, granted


def _parse(token: object) -> tuple[dict[str, Any], dict[str, Any]]:
    """The unverified header and payload of a compact JWS (``oidc_malformed`` otherwise)."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise _refused(
            "oidc_malformed", f"the ID token must be a JWT of <= {MAX_TOKEN_CHARS} chars"
        )
    try:
        header = jwt.get_unverified_header(token)
        payload = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise _refused("oidc_malformed", "the ID token is not a JWT") from exc
    if not isinstance(payload, dict):
        raise _refused("oidc_malformed", "the ID token's payload is not an object")
    return header, payload


def _number(claims: dict[str, Any], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _refused("oidc_malformed", f"the ID token's {name!r} must be a number")
    try:
        result = float(value)
    except OverflowError:
        result = math.inf
    if not math.isfinite(result):
        raise _refused("oidc_malformed", f"the ID token's {name!r} must be a finite number")
    return result


def _required_number(claims: dict[str, Any], name: str) -> float:
    value = _number(claims, name, required=True)
    assert value is not None
    return value


def _key_fits(jwk: dict[str, Any], alg: str) -> bool:
    """Whether ``jwk`` is a signing key of ``alg``'s type (and curve), per RFC 7517/7518."""
    if jwk.get("kty") != ALGORITHM_KEY_TYPES[alg]:
        return False
    if jwk.get("use") not in (None, "sig") or jwk.get("alg") not in (None, alg):
        return False
    if alg in EC_CURVES and jwk.get("crv") != EC_CURVES[alg]:
        return False
    return not (alg == "EdDSA" and jwk.get("crv") not in OKP_CURVES)
