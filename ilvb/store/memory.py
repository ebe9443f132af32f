"""An in-memory :class:`~ilvb.store.interfaces.AppStore` for tests and throwaway servers."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Unpack

from ilvb.errors import NotFound
from ilvb.store.ids import new_secret
from ilvb.store.interfaces import (
    AppChanges,
    AppRecord,
    IdentityProvider,
    UsageSample,
    check_distinct_issuers,
    check_usage_counts,
)


class MemoryAppStore:
    """Apps and usage samples in dicts; nothing survives the process."""

    def __init__(self) -> None:
        self._apps: dict[str, AppRecord] = {}
        self._usage: list[UsageSample] = []
        self._admin_key_hash: str | None = None
        self._providers: dict[str, list[IdentityProvider]] = {}

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def create_app(self, name: str) -> AppRecord:
        app = AppRecord.new(name)
        self._apps[app.app_id] = app
        return app

    async def get_app(self, app_id: str) -> AppRecord | None:
        return self._apps.get(app_id)

    async def list_apps(self) -> list[AppRecord]:
        return sorted(self._apps.values(), key=lambda a: a.created_at)

    async def rotate_secret(self, app_id: str) -> AppRecord:
        return self._replace(app_id, secret=new_secret())

    async def update_app(self, app_id: str, **changes: Unpack[AppChanges]) -> AppRecord:
        return self._replace(app_id, **changes)

    async def get_identity_providers(self, app_id: str) -> list[IdentityProvider]:
        return list(self._providers.get(app_id, ()))

    async def set_identity_providers(
        self, app_id: str, providers: Sequence[IdentityProvider]
    ) -> list[IdentityProvider]:
        self._get(app_id)
        check_distinct_issuers(providers)
        self._providers[app_id] = list(providers)
        return list(providers)

    async def get_admin_key_hash(self) -> str | None:
        return self._admin_key_hash

    async def set_admin_key_hash(self, key_hash: str) -> None:
        self._admin_key_hash = key_hash

    async def record_usage(
        self,
        app_id: str,
        participants: int,
        call_participants: int = 0,
        *,
        timestamp: float | None = None,
    ) -> None:
        check_usage_counts(participants, call_participants)
        self._get(app_id)
        when = time.time() if timestamp is None else timestamp
        self._usage.append(UsageSample(app_id, when, participants, call_participants))

    async def usage(self, app_id: str, since: float, until: float) -> list[UsageSample]:
        samples = [s for s in self._usage if s.app_id == app_id and since <= s.timestamp < until]
        return sorted(samples, key=lambda s: s.timestamp)  # stable: insertion order on ties

    def _get(self, app_id: str) -> AppRecord:
        app = self._apps.get(app_id)
        if app is None:
            raise NotFound("app_not_found", f"no app {app_id!r}")
        return app

    def _replace(self, app_id: str, **changes: object) -> AppRecord:
        app = dataclasses.replace(self._get(app_id), **changes)  # type: ignore[arg-type]
        self._apps[app_id] = app
        return app
