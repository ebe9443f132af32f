"""Which OpenID Connect provider settings an app may store (checked at the REST edge).

Only asymmetric JWS algorithms are accepted: with ``HS*`` the "key" would be a secret shared with
the provider (the client secret), and ``none`` signs nothing. Only ``http`` and ``https`` issuers
are accepted, without query or fragment (OpenID Connect Discovery 1.0 §2); ``http`` is meant for
a provider on the same host or in tests.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ilvb.errors import InvalidArgument
from ilvb.store.interfaces import IdentityProvider

# JWS algorithms (RFC 7518 §3.1, RFC 8037) an ID token may be signed with -> the JWK key type.
ALGORITHM_KEY_TYPES: dict[str, str] = {
    "RS256": "RSA",
    "RS384": "RSA",
    "RS512": "RSA",
    "PS256": "RSA",
    "PS384": "RSA",
    "PS512": "RSA",
    "ES256": "EC",
    "ES384": "EC",
    "EdDSA": "OKP",
}
# The curve each EC algorithm requires (RFC 7518 §3.4).
EC_CURVES: dict[str, str] = {"ES256": "P-256", "ES384": "P-384"}
MAX_PROVIDERS = 8
MAX_ISSUER_CHARS = 512
MAX_NAME_CHARS = 128


def _bad(message: str) -> InvalidArgument:
    return InvalidArgument("invalid_identity_provider", message)


def check_issuer(issuer: str) -> None:
    """Raise ``invalid_identity_provider`` unless ``issuer`` is an http(s) URL without query."""
    if not issuer or len(issuer) > MAX_ISSUER_CHARS:
        raise _bad(f"issuer must be 1..{MAX_ISSUER_CHARS} characters")
    try:
        parts = urlsplit(issuer)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise _bad(f"issuer is not a URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _bad("issuer must be an http:// or https:// URL with a host")
    if parts.query or parts.fragment or "#" in issuer or parts.username or parts.password:
        raise _bad("issuer must not have a query, a fragment or credentials")


def check_provider(provider: IdentityProvider) -> None:
    """Raise ``invalid_identity_provider`` for a setting ilvb cannot verify tokens with safely."""
    check_issuer(provider.issuer)
    if not provider.audience or len(provider.audience) > 256:
        raise _bad("audience (the client id) must be 1..256 characters")
    if not provider.algorithms:
        raise _bad("algorithms must name at least one algorithm")
    for alg in provider.algorithms:
        if alg not in ALGORITHM_KEY_TYPES:
            raise _bad(
                f"algorithm {alg!r} is refused: only asymmetric ones "
                f"({', '.join(ALGORITHM_KEY_TYPES)})"
            )
    if len(set(provider.algorithms)) != len(provider.algorithms):
        raise _bad("algorithms must not repeat")
    for name, value in (
        ("user_claim", provider.user_claim),
        ("role_claim", provider.role_claim),
        ("default_role", provider.default_role),
    ):
        if value is not None and (not value or len(value) > MAX_NAME_CHARS):
            raise _bad(f"{name} must be 1..{MAX_NAME_CHARS} characters")
