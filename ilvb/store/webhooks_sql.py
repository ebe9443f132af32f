"""The SQL :class:`~ilvb.webhooks.store.WebhookStore`, on the engine of an open ``SqlAppStore``.

On PostgreSQL an append locks the outbox table for its transaction, so that sequence numbers
are committed in their order whatever the number of nodes writing: a reader of the cursor
(``events_after``) never sees a number after a smaller one that commits later.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from ilvb.store.models import WebhookEndpointRow, WebhookEventRow
from ilvb.store.sql import SqlAppStore
from ilvb.webhooks.store import Endpoint, NewEvent, StoredEvent


def _stored(row: WebhookEventRow) -> StoredEvent:
    return StoredEvent(
        seq=row.seq,
        app_id=row.app_id,
        room_key=row.room_key,
        type=row.type,
        data=json.loads(row.data),
        created_at=row.created_at,
        pending=row.pending,
        attempts=row.attempts,
        delivered_at=row.delivered_at,
        last_error=row.last_error,
        node=row.node,
    )


class SqlWebhookStore:
    """The ``webhook_events`` and ``webhook_endpoints`` tables of ``app_store``'s database."""

    def __init__(self, app_store: SqlAppStore) -> None:
        self._sessions = async_sessionmaker(app_store.engine, expire_on_commit=False)
        self._postgres = app_store.engine.dialect.name == "postgresql"

    async def append(self, events: list[NewEvent]) -> list[int]:
        session: Any
        async with self._sessions() as session, session.begin():
            if self._postgres:
                await session.execute(text("LOCK TABLE webhook_events IN EXCLUSIVE MODE"))
            rows = [
                WebhookEventRow(
                    app_id=e.app_id,
                    room_key=e.room_key,
                    type=e.type,
                    data=json.dumps(e.data, separators=(",", ":")),
                    created_at=e.created_at,
                    pending=e.pending,
                    node=e.node,
                    attempts=0,
                )
                for e in events
            ]
            for row in rows:  # one flush per row: the ids follow the list's order
                session.add(row)
                await session.flush()
        return [row.seq for row in rows]

    async def pending(self, node: str, limit: int) -> list[StoredEvent]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(WebhookEventRow)
                .where(WebhookEventRow.pending.is_(True), WebhookEventRow.node == node)
                .order_by(WebhookEventRow.seq)
                .limit(limit)
            )
            return [_stored(r) for r in rows]

    async def mark_delivered(self, seq: int, now: float) -> None:
        session: Any
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(WebhookEventRow)
                .where(WebhookEventRow.seq == seq)
                .values(pending=False, delivered_at=now, attempts=WebhookEventRow.attempts + 1)
            )

    async def mark_failed(self, seq: int, error: str) -> None:
        session: Any
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(WebhookEventRow)
                .where(WebhookEventRow.seq == seq)
                .values(attempts=WebhookEventRow.attempts + 1, last_error=error[:500])
            )

    async def events_after(self, app_id: str, after: int, limit: int) -> list[StoredEvent]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(WebhookEventRow)
                .where(WebhookEventRow.app_id == app_id, WebhookEventRow.seq > after)
                .order_by(WebhookEventRow.seq)
                .limit(limit)
            )
            return [_stored(r) for r in rows]

    async def prune(self, before: float) -> int:
        session: Any
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                delete(WebhookEventRow).where(WebhookEventRow.created_at < before)
            )
            return int(result.rowcount or 0)

    async def get_endpoint(self, app_id: str) -> Endpoint | None:
        async with self._sessions() as session:
            row = await session.get(WebhookEndpointRow, app_id)
            return None if row is None else Endpoint(row.app_id, row.url, row.enabled)

    async def set_endpoint(self, app_id: str, url: str | None, enabled: bool = True) -> None:
        session: Any
        async with self._sessions() as session, session.begin():
            row = await session.get(WebhookEndpointRow, app_id, with_for_update=True)
            if url is None:
                if row is not None:
                    await session.delete(row)
                return
            if row is None:
                session.add(WebhookEndpointRow(app_id=app_id, url=url, enabled=enabled))
            else:
                row.url, row.enabled = url, enabled
