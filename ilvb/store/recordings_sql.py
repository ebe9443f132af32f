"""The SQL :class:`~ilvb.recording.store.RecordingStore` (tables ``recordings`` and
``recording_settings``), on the engine of an open ``SqlAppStore``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from ilvb.recording.store import RUNNING_STATES, RecordingRecord
from ilvb.store.models import RecordingRow, RecordingSettingsRow
from ilvb.store.sql import SqlAppStore

_FIELDS = (
    "recording_id",
    "app_id",
    "room",
    "kind",
    "mode",
    "state",
    "started_at",
    "stopped_at",
    "reason",
    "cpu_s",
)


def _record(row: RecordingRow) -> RecordingRecord:
    return RecordingRecord(**{f: getattr(row, f) for f in _FIELDS})


class SqlRecordingStore:
    """Recording rows and automatic recording settings in ``app_store``'s database."""

    def __init__(self, app_store: SqlAppStore) -> None:
        self._sessions = async_sessionmaker(app_store.engine, expire_on_commit=False)

    async def put(self, record: RecordingRecord) -> None:
        session: Any
        async with self._sessions() as session, session.begin():
            row = await session.get(RecordingRow, record.recording_id)
            if row is None:
                row = RecordingRow(recording_id=record.recording_id)
                session.add(row)
            for f in _FIELDS[1:]:
                setattr(row, f, getattr(record, f))

    async def get(self, app_id: str, recording_id: str) -> RecordingRecord | None:
        async with self._sessions() as session:
            row = await session.get(RecordingRow, recording_id)
        return _record(row) if row is not None and row.app_id == app_id else None

    async def for_app(self, app_id: str) -> list[RecordingRecord]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(RecordingRow)
                .where(RecordingRow.app_id == app_id)
                .order_by(RecordingRow.started_at.desc())
            )
            return [_record(r) for r in rows]

    async def delete(self, app_id: str, recording_id: str) -> None:
        session: Any
        async with self._sessions() as session, session.begin():
            await session.execute(
                delete(RecordingRow).where(
                    RecordingRow.recording_id == recording_id, RecordingRow.app_id == app_id
                )
            )

    async def interrupt_running(self, now: float) -> list[RecordingRecord]:
        session: Any
        async with self._sessions() as session, session.begin():
            rows = list(
                await session.scalars(
                    select(RecordingRow).where(RecordingRow.state.in_(sorted(RUNNING_STATES)))
                )
            )
            if rows:
                await session.execute(
                    update(RecordingRow)
                    .where(RecordingRow.recording_id.in_([r.recording_id for r in rows]))
                    .values(state="interrupted", stopped_at=now, reason="server_restart")
                )
        return [
            RecordingRecord(
                **{
                    **{f: getattr(r, f) for f in _FIELDS},
                    "state": "interrupted",
                    "stopped_at": now,
                    "reason": "server_restart",
                }
            )
            for r in rows
        ]

    async def auto_mode(self, app_id: str) -> str | None:
        async with self._sessions() as session:
            row = await session.get(RecordingSettingsRow, app_id)
        return row.auto_mode if row is not None else None

    async def set_auto_mode(self, app_id: str, mode: str | None) -> None:
        session: Any
        async with self._sessions() as session, session.begin():
            row = await session.get(RecordingSettingsRow, app_id)
            if row is None:
                session.add(RecordingSettingsRow(app_id=app_id, auto_mode=mode))
            else:
                row.auto_mode = mode
