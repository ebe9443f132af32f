"""The SQL :class:`~ilvb.quality.store.QualityStore`, on the engine of an open ``SqlAppStore``."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from ilvb.quality.profile import QualityProfile
from ilvb.quality.store import StoredProfile
from ilvb.store.models import QualityProfileRow
from ilvb.store.sql import SqlAppStore


def _stored(row: QualityProfileRow) -> StoredProfile:
    return StoredProfile(
        row.app_id,
        row.platform,
        row.role,
        row.template,
        QualityProfile.model_validate(json.loads(row.profile)),
        row.version,
        row.updated_at,
    )


class SqlQualityStore:
    """Quality profiles in the ``quality_profiles`` table of ``app_store``'s database."""

    def __init__(self, app_store: SqlAppStore) -> None:
        self._sessions = async_sessionmaker(app_store.engine, expire_on_commit=False)

    async def put_profile(
        self,
        app_id: str,
        platform: str,
        role: str,
        template: str,
        profile: QualityProfile,
        now: float,
    ) -> StoredProfile:
        session: Any
        async with self._sessions() as session, session.begin():
            row = await session.get(
                QualityProfileRow, (app_id, platform, role), with_for_update=True
            )
            if row is None:
                row = QualityProfileRow(app_id=app_id, platform=platform, role=role, version=0)
                session.add(row)
            row.template = template
            row.profile = json.dumps(profile.to_dict())
            row.version = (row.version or 0) + 1
            row.updated_at = now
        return _stored(row)

    async def profiles(self, app_id: str) -> list[StoredProfile]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(QualityProfileRow)
                .where(QualityProfileRow.app_id == app_id)
                .order_by(QualityProfileRow.platform, QualityProfileRow.role)
            )
            return [_stored(r) for r in rows]
