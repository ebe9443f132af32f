"""What billing stores, as a protocol, and the in-memory implementation used in tests.

The SQL implementation is :class:`ilvb.store.billing_sql.SqlBillingStore`; both pass the same
contract tests. Appends are keyed: ``append_entry``, ``put_invoice`` and ``add_notice`` refuse a
second row with the same key and say so, which is what makes every billing job idempotent, also
when two nodes run it at once on one database.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Protocol

from ilvb.billing.ledger import LedgerEntry
from ilvb.billing.logins import ConsoleSession
from ilvb.billing.metering import AppFigure, Sample
from ilvb.billing.plans import PricePlan
from ilvb.errors import InvalidState, NotFound


@dataclass(frozen=True)
class Account:
    """A customer account: it owns apps, holds a balance and may be suspended for arrears."""

    account_id: str
    email: str
    name: str
    created_at: float
    suspended: bool = False

    def to_dict(self) -> dict[str, object]:
        """The wire form."""
        return {
            "account_id": self.account_id,
            "email": self.email,
            "name": self.name,
            "created_at": self.created_at,
            "suspended": self.suspended,
        }


@dataclass(frozen=True)
class Invoice:
    """One account's bill for one month, with the inputs that produced it."""

    account_id: str
    month: str  # YYYY-MM
    peak: Decimal
    peak_minute: int | None
    plan: str
    unit_price: Decimal
    fee: Decimal
    apps: tuple[AppFigure, ...] = field(default=())
    created_at: float = 0.0

    def to_dict(self) -> dict[str, object]:
        """The wire form (amounts as strings)."""
        return {
            "account_id": self.account_id,
            "month": self.month,
            "peak": str(self.peak),
            "peak_minute": self.peak_minute,
            "plan": self.plan,
            "unit_price": str(self.unit_price),
            "fee": str(self.fee),
            "apps": [
                {"app_id": a.app_id, "at_peak": str(a.at_peak), "own_peak": str(a.own_peak)}
                for a in self.apps
            ],
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class Notice:
    """A message to the customer: shown as a site message, and e-mailed once delivered."""

    account_id: str
    key: str  # e.g. "arrears:2026-11"
    kind: str  # "arrears", "suspended", "restored"
    subject: str
    body: str
    created_at: float
    emailed: bool = False

    def to_dict(self) -> dict[str, object]:
        """The wire form."""
        return {
            "key": self.key,
            "kind": self.kind,
            "subject": self.subject,
            "body": self.body,
            "created_at": self.created_at,
            "emailed": self.emailed,
        }


def new_account_id() -> str:
    """A fresh account id."""
    return "ac_" + secrets.token_hex(8)


class BillingStore(Protocol):
    """Accounts, their apps, usage reads, the ledger, invoices, notices, price plans, console
    passwords and sessions."""

    async def create_account(self, email: str, name: str, now: float) -> Account:
        """A new account; ``email_taken`` if the e-mail is in use."""
        ...

    async def get_account(self, account_id: str) -> Account | None:
        """The account, or None."""
        ...

    async def list_accounts(self) -> list[Account]:
        """Every account, oldest first."""
        ...

    async def set_suspended(self, account_id: str, suspended: bool) -> None:
        """Suspend or restore the account's apps."""
        ...

    async def link_app(self, account_id: str, app_id: str) -> None:
        """Make the account own ``app_id`` (an app has at most one account)."""
        ...

    async def apps_of(self, account_id: str) -> list[str]:
        """The app ids the account owns."""
        ...

    async def account_of_app(self, app_id: str) -> str | None:
        """The account that owns ``app_id``, or None."""
        ...

    async def usage(self, app_ids: list[str], start: float, end: float) -> list[Sample]:
        """Usage samples of these apps with ``start ≤ t < end``."""
        ...

    async def append_entry(self, entry: LedgerEntry) -> bool:
        """Append; False (and nothing written) if the account has an entry with this key."""
        ...

    async def entries(self, account_id: str) -> list[LedgerEntry]:
        """The account's ledger in order of writing."""
        ...

    async def put_invoice(self, invoice: Invoice) -> Invoice:
        """Store the month's invoice unless one exists; returns the stored one."""
        ...

    async def invoices(self, account_id: str) -> list[Invoice]:
        """The account's invoices, by month."""
        ...

    async def add_notice(self, notice: Notice) -> bool:
        """Store a notice; False if the account already has one with this key."""
        ...

    async def notices(self, account_id: str | None = None) -> list[Notice]:
        """Notices of one account (or all), oldest first."""
        ...

    async def mark_emailed(self, account_id: str, key: str) -> None:
        """Record that the notice was e-mailed."""
        ...

    async def set_plan(self, account_id: str, plan: PricePlan | None) -> None:
        """Give the account a negotiated plan (None: back to the default)."""
        ...

    async def get_plan(self, account_id: str) -> PricePlan | None:
        """The account's negotiated plan, or None."""
        ...

    async def set_password(self, account_id: str, password_hash: str) -> None:
        """Set the account's console password (its argon2 hash)."""
        ...

    def run_lease(self) -> contextlib.AbstractAsyncContextManager[bool]:
        """Held around one billing run: yields True for the one runner among all nodes that
        got it, False for the others (they skip the run). Keyed writes stay the safety net."""
        ...

    async def login_of(self, email: str) -> tuple[Account, str | None] | None:
        """The account with this e-mail and its password hash (None: no password), or None."""
        ...

    async def put_session(self, session: ConsoleSession) -> None:
        """Store a new console session."""
        ...

    async def get_session(self, session_hash: str) -> ConsoleSession | None:
        """The session with this token hash, or None."""
        ...

    async def delete_session(self, session_hash: str) -> None:
        """End a session (no error if it is gone)."""
        ...

    async def delete_sessions_of(self, account_id: str) -> None:
        """End every session of the account (its password changed)."""
        ...


class UsageSource(Protocol):
    """Where usage samples are read from (an ``ilvb.store`` ``AppStore`` is one)."""

    async def usage(self, app_id: str, since: float, until: float) -> Sequence[Any]:
        """Samples with ``app_id``, ``timestamp``, ``participants``, ``call_participants``."""
        ...


class MemoryBillingStore:
    """:class:`BillingStore` in memory. Usage comes from ``usage_source`` (the app store) when
    given, else from what :meth:`add_usage` recorded (tests)."""

    def __init__(self, usage_source: UsageSource | None = None) -> None:
        self._usage_source = usage_source
        self._accounts: dict[str, Account] = {}
        self._app_owner: dict[str, str] = {}
        self._samples: list[Sample] = []
        self._entries: list[LedgerEntry] = []
        self._invoices: dict[tuple[str, str], Invoice] = {}
        self._notices: dict[tuple[str, str], Notice] = {}
        self._plans: dict[str, PricePlan] = {}
        self._passwords: dict[str, str] = {}
        self._sessions: dict[str, ConsoleSession] = {}
        self._run_lock = asyncio.Lock()

    def add_usage(self, sample: Sample) -> None:
        """Record a usage sample (the SQL store reads the ``usage`` table instead)."""
        self._samples.append(sample)

    async def create_account(self, email: str, name: str, now: float) -> Account:
        if any(a.email == email for a in self._accounts.values()):
            raise InvalidState("email_taken", "an account with this e-mail exists")
        account = Account(new_account_id(), email, name, now)
        self._accounts[account.account_id] = account
        return account

    async def get_account(self, account_id: str) -> Account | None:
        return self._accounts.get(account_id)

    async def list_accounts(self) -> list[Account]:
        return sorted(self._accounts.values(), key=lambda a: a.created_at)

    async def set_suspended(self, account_id: str, suspended: bool) -> None:
        account = self._require(account_id)
        self._accounts[account_id] = replace(account, suspended=suspended)

    async def link_app(self, account_id: str, app_id: str) -> None:
        self._require(account_id)
        owner = self._app_owner.get(app_id)
        if owner is not None and owner != account_id:
            raise InvalidState("app_owned", "the app belongs to another account")
        self._app_owner[app_id] = account_id

    async def apps_of(self, account_id: str) -> list[str]:
        return sorted(a for a, owner in self._app_owner.items() if owner == account_id)

    async def account_of_app(self, app_id: str) -> str | None:
        return self._app_owner.get(app_id)

    async def usage(self, app_ids: list[str], start: float, end: float) -> list[Sample]:
        if self._usage_source is not None:
            return [
                Sample(r.app_id, r.timestamp, r.participants, r.call_participants)
                for app_id in app_ids
                for r in await self._usage_source.usage(app_id, start, end)
            ]
        wanted = set(app_ids)
        return [s for s in self._samples if s.app_id in wanted and start <= s.t < end]

    async def append_entry(self, entry: LedgerEntry) -> bool:
        self._require(entry.account_id)
        if any(e.account_id == entry.account_id and e.key == entry.key for e in self._entries):
            return False
        self._entries.append(entry)
        return True

    async def entries(self, account_id: str) -> list[LedgerEntry]:
        return [e for e in self._entries if e.account_id == account_id]

    async def put_invoice(self, invoice: Invoice) -> Invoice:
        return self._invoices.setdefault((invoice.account_id, invoice.month), invoice)

    async def invoices(self, account_id: str) -> list[Invoice]:
        return sorted(
            (i for (a, _), i in self._invoices.items() if a == account_id), key=lambda i: i.month
        )

    async def add_notice(self, notice: Notice) -> bool:
        key = (notice.account_id, notice.key)
        if key in self._notices:
            return False
        self._notices[key] = notice
        return True

    async def notices(self, account_id: str | None = None) -> list[Notice]:
        return sorted(
            (n for n in self._notices.values() if account_id is None or n.account_id == account_id),
            key=lambda n: (n.created_at, n.key),
        )

    async def mark_emailed(self, account_id: str, key: str) -> None:
        notice = self._notices[(account_id, key)]
        self._notices[(account_id, key)] = replace(notice, emailed=True)

    async def set_plan(self, account_id: str, plan: PricePlan | None) -> None:
        self._require(account_id)
        if plan is None:
            self._plans.pop(account_id, None)
        else:
            self._plans[account_id] = plan

    async def get_plan(self, account_id: str) -> PricePlan | None:
        return self._plans.get(account_id)

    @contextlib.asynccontextmanager
    async def run_lease(self) -> AsyncIterator[bool]:
        if self._run_lock.locked():
            yield False
            return
        async with self._run_lock:
            yield True

    async def set_password(self, account_id: str, password_hash: str) -> None:
        self._require(account_id)
        self._passwords[account_id] = password_hash

    async def login_of(self, email: str) -> tuple[Account, str | None] | None:
        for account in self._accounts.values():
            if account.email == email:
                return account, self._passwords.get(account.account_id)
        return None

    async def put_session(self, session: ConsoleSession) -> None:
        self._require(session.account_id)
        self._sessions[session.session_hash] = session

    async def get_session(self, session_hash: str) -> ConsoleSession | None:
        return self._sessions.get(session_hash)

    async def delete_session(self, session_hash: str) -> None:
        self._sessions.pop(session_hash, None)

    async def delete_sessions_of(self, account_id: str) -> None:
        for key in [k for k, v in self._sessions.items() if v.account_id == account_id]:
            del self._sessions[key]

    def _require(self, account_id: str) -> Account:
        account = self._accounts.get(account_id)
        if account is None:
            raise NotFound("account_not_found", f"no account {account_id}")
        return account


__all__ = ["Account", "BillingStore", "Invoice", "MemoryBillingStore", "Notice"]
