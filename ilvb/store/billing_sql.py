"""The SQL :class:`~ilvb.billing.store.BillingStore`, on the engine of an open ``SqlAppStore``.

Money is kept as whole fen (integers), so sums are exact on SQLite and PostgreSQL alike. Keyed
appends rely on the tables' unique constraints: when two nodes write the same ledger entry,
invoice or notice at once, one insert wins and the other reports "already there" — which is what
keeps the billing jobs from ever charging twice.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from ilvb.billing.ledger import EntryKind, LedgerEntry
from ilvb.billing.logins import ConsoleSession
from ilvb.billing.metering import AppFigure, Sample
from ilvb.billing.money import FEN
from ilvb.billing.plans import PricePlan, plan_from_dict
from ilvb.billing.store import Account, Invoice, Notice, new_account_id
from ilvb.errors import InvalidState, NotFound
from ilvb.store.models import (
    AccountAppRow,
    AccountRow,
    ConsoleSessionRow,
    InvoiceRow,
    LedgerRow,
    NoticeRow,
    UsageRow,
)
from ilvb.store.sql import SqlAppStore

# The advisory lock key of the billing run (any fixed 64-bit number; "ilvbBILL" in ASCII).
RUN_LOCK_KEY = 0x696C7662_42494C4C


def _fen(amount: Decimal) -> int:
    return int((amount / FEN).to_integral_exact())


def _yuan(fen: int) -> Decimal:
    return (Decimal(fen) * FEN).quantize(FEN)


def _account(row: AccountRow) -> Account:
    return Account(row.account_id, row.email, row.name, row.created_at, bool(row.suspended))


def _entry(row: LedgerRow) -> LedgerEntry:
    return LedgerEntry(
        row.account_id,
        row.key,
        cast(EntryKind, row.kind),
        _yuan(row.amount_fen),
        row.reason,
        row.at,
    )


def _invoice(row: InvoiceRow) -> Invoice:
    apps = tuple(
        AppFigure(a["app_id"], Decimal(a["at_peak"]), Decimal(a["own_peak"]))
        for a in json.loads(row.detail)["apps"]
    )
    return Invoice(
        row.account_id,
        row.month,
        Decimal(row.peak),
        row.peak_minute,
        row.plan,
        _yuan(row.unit_price_fen),
        _yuan(row.fee_fen),
        apps,
        row.created_at,
    )


def _notice(row: NoticeRow) -> Notice:
    return Notice(
        row.account_id, row.key, row.kind, row.subject, row.body, row.created_at, bool(row.emailed)
    )


class SqlBillingStore:
    """Billing tables of the database that ``app_store`` has open (same engine, same schema)."""

    def __init__(self, app_store: SqlAppStore) -> None:
        self._engine = app_store.engine
        self._sessions = async_sessionmaker(app_store.engine, expire_on_commit=False)

    @contextlib.asynccontextmanager
    async def run_lease(self) -> AsyncIterator[bool]:
        """On PostgreSQL a session-level advisory lock (``pg_try_advisory_lock``) on a
        connection held for the run: one node runs, the others get False. It is released
        when the run ends or its connection dies (a killed node holds nothing). SQLite is one
        node's file: always True."""
        if self._engine.dialect.name != "postgresql":
            yield True
            return
        async with self._engine.connect() as conn:
            got = bool(
                await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": RUN_LOCK_KEY})
            )
            await conn.commit()
            try:
                yield got
            finally:
                if got:
                    await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": RUN_LOCK_KEY})
                    await conn.commit()

    def _session(self) -> Any:
        return self._sessions()

    async def create_account(self, email: str, name: str, now: float) -> Account:
        row = AccountRow(
            account_id=new_account_id(), email=email, name=name, created_at=now, suspended=False
        )
        if not await self._insert_once(row):
            raise InvalidState("email_taken", "an account with this e-mail exists")
        return _account(row)

    async def get_account(self, account_id: str) -> Account | None:
        async with self._session() as session:
            row = await session.get(AccountRow, account_id)
            return _account(row) if row is not None else None

    async def list_accounts(self) -> list[Account]:
        async with self._session() as session:
            rows = await session.scalars(
                select(AccountRow).order_by(AccountRow.created_at, AccountRow.account_id)
            )
            return [_account(r) for r in rows]

    async def set_suspended(self, account_id: str, suspended: bool) -> None:
        await self._update_account(account_id, suspended=suspended)

    async def link_app(self, account_id: str, app_id: str) -> None:
        await self._require(account_id)
        async with self._session() as session, session.begin():
            row = await session.get(AccountAppRow, app_id)
            if row is None:
                session.add(AccountAppRow(app_id=app_id, account_id=account_id))
            elif row.account_id != account_id:
                raise InvalidState("app_owned", "the app belongs to another account")

    async def apps_of(self, account_id: str) -> list[str]:
        async with self._session() as session:
            rows = await session.scalars(
                select(AccountAppRow.app_id)
                .where(AccountAppRow.account_id == account_id)
                .order_by(AccountAppRow.app_id)
            )
            return list(rows)

    async def account_of_app(self, app_id: str) -> str | None:
        async with self._session() as session:
            row = await session.get(AccountAppRow, app_id)
            return row.account_id if row is not None else None

    async def usage(self, app_ids: list[str], start: float, end: float) -> list[Sample]:
        if not app_ids:
            return []
        async with self._session() as session:
            rows = await session.scalars(
                select(UsageRow).where(
                    UsageRow.app_id.in_(app_ids),
                    UsageRow.timestamp >= start,
                    UsageRow.timestamp < end,
                )
            )
            return [
                Sample(r.app_id, r.timestamp, r.participants, r.call_participants) for r in rows
            ]

    async def append_entry(self, entry: LedgerEntry) -> bool:
        await self._require(entry.account_id)
        row = LedgerRow(
            account_id=entry.account_id,
            key=entry.key,
            kind=entry.kind,
            amount_fen=_fen(entry.amount),
            reason=entry.reason,
            at=entry.at,
        )
        return await self._insert_once(row)

    async def entries(self, account_id: str) -> list[LedgerEntry]:
        async with self._session() as session:
            rows = await session.scalars(
                select(LedgerRow).where(LedgerRow.account_id == account_id).order_by(LedgerRow.id)
            )
            return [_entry(r) for r in rows]

    async def put_invoice(self, invoice: Invoice) -> Invoice:
        detail = json.dumps(
            {
                "apps": [
                    {"app_id": a.app_id, "at_peak": str(a.at_peak), "own_peak": str(a.own_peak)}
                    for a in invoice.apps
                ]
            }
        )
        row = InvoiceRow(
            account_id=invoice.account_id,
            month=invoice.month,
            peak=str(invoice.peak),
            peak_minute=invoice.peak_minute,
            plan=invoice.plan,
            unit_price_fen=_fen(invoice.unit_price),
            fee_fen=_fen(invoice.fee),
            detail=detail,
            created_at=invoice.created_at,
        )
        await self._insert_once(row)  # False: another run wrote it first, the stored one counts
        async with self._session() as session:
            stored = await session.get(InvoiceRow, (invoice.account_id, invoice.month))
            assert stored is not None
            return _invoice(stored)

    async def invoices(self, account_id: str) -> list[Invoice]:
        async with self._session() as session:
            rows = await session.scalars(
                select(InvoiceRow)
                .where(InvoiceRow.account_id == account_id)
                .order_by(InvoiceRow.month)
            )
            return [_invoice(r) for r in rows]

    async def add_notice(self, notice: Notice) -> bool:
        row = NoticeRow(
            account_id=notice.account_id,
            key=notice.key,
            kind=notice.kind,
            subject=notice.subject,
            body=notice.body,
            created_at=notice.created_at,
            emailed=notice.emailed,
        )
        return await self._insert_once(row)

    async def notices(self, account_id: str | None = None) -> list[Notice]:
        query = select(NoticeRow).order_by(NoticeRow.created_at, NoticeRow.key)
        if account_id is not None:
            query = query.where(NoticeRow.account_id == account_id)
        async with self._session() as session:
            return [_notice(r) for r in await session.scalars(query)]

    async def mark_emailed(self, account_id: str, key: str) -> None:
        async with self._session() as session, session.begin():
            await session.execute(
                update(NoticeRow)
                .where(NoticeRow.account_id == account_id, NoticeRow.key == key)
                .values(emailed=True)
            )

    async def set_plan(self, account_id: str, plan: PricePlan | None) -> None:
        await self._update_account(
            account_id, plan=None if plan is None else json.dumps(plan.to_dict())
        )

    async def get_plan(self, account_id: str) -> PricePlan | None:
        async with self._session() as session:
            row = await session.get(AccountRow, account_id)
            if row is None or row.plan is None:
                return None
            return plan_from_dict(json.loads(row.plan))

    async def set_password(self, account_id: str, password_hash: str) -> None:
        await self._update_account(account_id, password_hash=password_hash)

    async def login_of(self, email: str) -> tuple[Account, str | None] | None:
        async with self._session() as session:
            row = await session.scalar(select(AccountRow).where(AccountRow.email == email))
            return (_account(row), row.password_hash) if row is not None else None

    async def put_session(self, console_session: ConsoleSession) -> None:
        await self._require(console_session.account_id)
        row = ConsoleSessionRow(
            session_hash=console_session.session_hash,
            account_id=console_session.account_id,
            csrf_token=console_session.csrf_token,
            created_at=console_session.created_at,
            expires_at=console_session.expires_at,
        )
        if not await self._insert_once(row):
            raise InvalidState(message="a session with this token exists")

    async def get_session(self, session_hash: str) -> ConsoleSession | None:
        async with self._session() as session:
            row = await session.get(ConsoleSessionRow, session_hash)
            if row is None:
                return None
            return ConsoleSession(
                row.session_hash, row.account_id, row.csrf_token, row.created_at, row.expires_at
            )

    async def delete_session(self, session_hash: str) -> None:
        async with self._session() as session, session.begin():
            await session.execute(
                delete(ConsoleSessionRow).where(ConsoleSessionRow.session_hash == session_hash)
            )

    async def delete_sessions_of(self, account_id: str) -> None:
        async with self._session() as session, session.begin():
            await session.execute(
                delete(ConsoleSessionRow).where(ConsoleSessionRow.account_id == account_id)
            )

    async def _update_account(self, account_id: str, **values: object) -> None:
        async with self._session() as session, session.begin():
            result = await session.execute(
                update(AccountRow).where(AccountRow.account_id == account_id).values(**values)
            )
            if result.rowcount == 0:
                raise NotFound("account_not_found", f"no account {account_id}")

    async def _insert_once(self, row: object) -> bool:
        """Insert ``row`` in its own transaction; False if a unique key already holds it."""
        try:
            async with self._session() as session, session.begin():
                session.add(row)
        except IntegrityError:
            return False
        return True

    async def _require(self, account_id: str) -> None:
        if await self.get_account(account_id) is None:
            raise NotFound("account_not_found", f"no account {account_id}")
