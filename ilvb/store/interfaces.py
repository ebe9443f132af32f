"""Storage interfaces. Implementations: :mod:`ilvb.store.memory` (tests) and :mod:`ilvb.store.sql`
(SQLAlchemy 2 async: SQLite by default, PostgreSQL by URL).

:class:`AppRecord` is the one definition of an app's fields: the SQL row (``AppRow``) has one
column per field, the REST models read records by attribute, and :class:`AppChanges` names the
fields an update may change. ``tests/store`` checks that the three agree.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypedDict, Unpack

from ilvb.errors import InvalidArgument
from ilvb.store.ids import new_app_id, new_secret


@dataclass(frozen=True)
class AppRecord:
    """An application: its id, display name, signing secret and per-app room limits."""

    app_id: str
    name: str
    secret: str
    # Unix time, seconds.
    created_at: float
    # Per-app overrides of RoomSettings; None = the server default.
    audio_sender_cap: int | None = None
    video_sender_cap: int | None = None
    enabled: bool = True

    @classmethod
    def new(cls, name: str) -> AppRecord:
        """A new app named ``name`` with a fresh id and secret, created now."""
        return cls(new_app_id(), name, new_secret(), time.time())


class AppChanges(TypedDict, total=False):
    """The fields :meth:`AppStore.update_app` may change; an absent key keeps its value."""

    name: str
    audio_sender_cap: int
    video_sender_cap: int
    enabled: bool


@dataclass(frozen=True)
class IdentityProvider:
    """An OpenID Connect provider whose ID tokens an app accepts in ``hello``.

    ``audience`` is the app's client id at the provider (the ID token's ``aud``); ``user_claim``
    names the claim that becomes the ilvb user id; ``role_claim``, when set, the claim that
    becomes the role, else ``default_role``. :func:`ilvb.auth.oidc_config.check_provider`
    says which values are valid (asymmetric algorithms only, an http(s) issuer).
    """

    issuer: str
    audience: str
    algorithms: tuple[str, ...] = ("RS256",)
    user_claim: str = "sub"
    role_claim: str | None = None
    default_role: str = "audience"


@dataclass(frozen=True)
class UsageSample:
    """Concurrent participants of one app at one moment: the input of billing.

    A two-person call's participants are counted apart (``call_participants``) because billing
    prices them differently from members of multi-person rooms (``participants``).
    """

    app_id: str
    # Unix time, seconds.
    timestamp: float
    participants: int
    call_participants: int = 0


def check_usage_counts(participants: int, call_participants: int) -> None:
    """Raise InvalidArgument unless both counts are >= 0 (the rule of both stores)."""
    if participants < 0 or call_participants < 0:
        raise InvalidArgument(message="participant counts must be >= 0")


def check_distinct_issuers(providers: Sequence[IdentityProvider]) -> None:
    """Raise InvalidArgument('invalid_identity_provider') when two providers share an issuer."""
    seen: set[str] = set()
    for provider in providers:
        if provider.issuer in seen:
            raise InvalidArgument(
                "invalid_identity_provider", f"issuer {provider.issuer!r} is configured twice"
            )
        seen.add(provider.issuer)


class AppStore(Protocol):
    """Apps, their identity providers, the admin key hash and usage samples.

    Live room state is not stored here.
    """

    async def open(self) -> None:
        """Connect and create/upgrade the schema."""
        ...

    async def close(self) -> None:
        """Release connections. Idempotent."""
        ...

    async def create_app(self, name: str) -> AppRecord:
        """Create an app with a fresh id and secret."""
        ...

    async def get_app(self, app_id: str) -> AppRecord | None:
        """The app, or None."""
        ...

    async def list_apps(self) -> list[AppRecord]:
        """All apps, oldest first."""
        ...

    async def rotate_secret(self, app_id: str) -> AppRecord:
        """Replace the app's secret; raises NotFound('app_not_found')."""
        ...

    async def update_app(self, app_id: str, **changes: Unpack[AppChanges]) -> AppRecord:
        """Change the given fields; raises NotFound('app_not_found')."""
        ...

    async def get_identity_providers(self, app_id: str) -> list[IdentityProvider]:
        """The app's OpenID Connect providers in their configured order (empty: none)."""
        ...

    async def set_identity_providers(
        self, app_id: str, providers: Sequence[IdentityProvider]
    ) -> list[IdentityProvider]:
        """Replace the app's providers (their issuers distinct); raises NotFound('app_not_found')
        and InvalidArgument('invalid_identity_provider') for a repeated issuer."""
        ...

    async def get_admin_key_hash(self) -> str | None:
        """The stored hash of the admin key, or None before first start."""
        ...

    async def set_admin_key_hash(self, key_hash: str) -> None:
        """Store the admin key's hash (the key itself is never stored)."""
        ...

    async def record_usage(
        self,
        app_id: str,
        participants: int,
        call_participants: int = 0,
        *,
        timestamp: float | None = None,
    ) -> None:
        """Append a usage sample (``timestamp`` defaults to now); raises NotFound('app_not_found')
        for an unknown app and InvalidArgument for a negative count."""
        ...

    async def usage(self, app_id: str, since: float, until: float) -> list[UsageSample]:
        """The app's usage samples with ``since <= timestamp < until``, oldest first."""
        ...
