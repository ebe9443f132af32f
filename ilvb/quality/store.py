"""Where an app's quality profiles are kept: the protocol and the in-memory implementation.
The SQL one is :class:`ilvb.store.quality_sql.SqlQualityStore`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ilvb.quality.profile import QualityProfile


@dataclass(frozen=True)
class StoredProfile:
    """One (app, platform, role) profile: its template, values and version (1, 2, …)."""

    app_id: str
    platform: str
    role: str
    template: str
    profile: QualityProfile
    version: int
    updated_at: float


class QualityStore(Protocol):
    """An app's profiles; every put makes a new version."""

    async def put_profile(
        self,
        app_id: str,
        platform: str,
        role: str,
        template: str,
        profile: QualityProfile,
        now: float,
    ) -> StoredProfile:
        """Store (or replace) the profile; its version is one more than the last one."""
        ...

    async def profiles(self, app_id: str) -> list[StoredProfile]:
        """The app's profiles, by platform then role."""
        ...


class MemoryQualityStore:
    """:class:`QualityStore` in a dict."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str, str], StoredProfile] = {}

    async def put_profile(
        self,
        app_id: str,
        platform: str,
        role: str,
        template: str,
        profile: QualityProfile,
        now: float,
    ) -> StoredProfile:
        old = self._rows.get((app_id, platform, role))
        row = StoredProfile(
            app_id, platform, role, template, profile, (old.version if old else 0) + 1, now
        )
        self._rows[(app_id, platform, role)] = row
        return row

    async def profiles(self, app_id: str) -> list[StoredProfile]:
        return [r for k, r in sorted(self._rows.items()) if k[0] == app_id]
