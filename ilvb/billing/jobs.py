"""The monthly billing jobs: close the month, settle, tell, suspend, restore.

The calendar (UTC), for the month M just ended:

1. **Month close** (any time after M ends): the invoice of M from its usage — the peak, the peak
   minute, each app's figure, the plan's unit price and the fee.
2. **Settlement** (on ``settlement_day`` of M+1, a day from the 5th to the 8th): the freeze made at
   the previous settlement is released, M's fee is deducted, and ``freeze_ratio`` (120 %) of it is
   frozen until the next settlement. If the account is then in arrears (in debt, or unable to
   cover the freeze) it gets an arrears notice (site message + e-mail).
3. **Suspension** (from ``suspend_day``, the 20th, of M+1): an account still in arrears is
   suspended — its apps take no new calls — and told so.
4. **Restore**: a top-up that brings the account out of arrears restores it at once.

Every write is keyed (``fee:M``, ``freeze:M``, ``release:M-1``, ``arrears:M`` …), so
:meth:`BillingJobs.run_due` can run every minute, on several nodes at once, and again after a
crash between any two writes: each entry is written exactly once and the figures come out the
same. Observers are told of suspensions and restores (the server closes the account's rooms).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from ilvb.billing.ledger import Balance, EntryKind, LedgerEntry, balance_of
from ilvb.billing.metering import month_bounds, month_of, month_usage, previous_month
from ilvb.billing.money import ZERO, parse_amount, to_fen
from ilvb.billing.plans import DEFAULT_PLAN, PricePlan
from ilvb.billing.store import Account, BillingStore, Invoice, Notice
from ilvb.errors import InvalidArgument, InvalidState, NotFound

log = logging.getLogger(__name__)

AccountListener = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class BillingSettings:
    """When and how much: the settlement day (5–8), the suspension day and the freeze ratio."""

    settlement_day: int = 5
    suspend_day: int = 20
    freeze_ratio: Decimal = Decimal("1.2")

    def __post_init__(self) -> None:
        if not 5 <= self.settlement_day <= 8:
            raise InvalidArgument(message="the settlement day is the 5th to the 8th")
        if not self.settlement_day < self.suspend_day <= 28:
            raise InvalidArgument(message="the suspension day follows settlement")


class BillingJobs:
    """Runs the billing calendar against a :class:`BillingStore` with an injectable clock."""

    def __init__(
        self,
        store: BillingStore,
        clock: Callable[[], float],
        settings: BillingSettings | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings or BillingSettings()
        self.on_suspended: list[AccountListener] = []
        self.on_restored: list[AccountListener] = []

    # ------------------------------------------------------------------ reads

    async def balance(self, account_id: str) -> Balance:
        """The account's balance, the sum of its ledger."""
        await self._require(account_id)
        return balance_of(await self.store.entries(account_id))

    async def plan_of(self, account_id: str) -> PricePlan:
        """The account's negotiated plan, or the default one."""
        return await self.store.get_plan(account_id) or DEFAULT_PLAN

    # ------------------------------------------------------------------ the calendar

    async def run_due(self) -> None:
        """Do every step that is due now, for every account. Safe to repeat."""
        now = self.clock()
        for account in await self.store.list_accounts():
            await self.run_due_for(account.account_id, now)

    async def run_due_for(self, account_id: str, now: float) -> None:
        """The due steps of one account (see the module docstring)."""
        day = datetime.fromtimestamp(now, UTC).day
        billed = previous_month(month_of(now))
        account = await self._require(account_id)
        if month_bounds(billed)[1] <= account.created_at:
            return  # the account did not exist in that month
        invoice = await self.close_month(account_id, billed)
        if day >= self.settings.settlement_day:
            await self.settle(invoice)
        if day >= self.settings.suspend_day:
            await self.enforce(account_id, billed)

    async def close_month(self, account_id: str, month: str) -> Invoice:
        """The invoice of ``month`` (written once; later calls return the stored one)."""
        start, end = month_bounds(month)
        if self.clock() < end:
            raise InvalidState(message=f"{month} has not ended")
        for existing in await self.store.invoices(account_id):
            if existing.month == month:
                return existing
        apps = await self.store.apps_of(account_id)
        usage = month_usage(await self.store.usage(apps, start, end))
        plan = await self.plan_of(account_id)
        invoice = Invoice(
            account_id=account_id,
            month=month,
            peak=usage.peak,
            peak_minute=usage.peak_minute,
            plan=plan.name,
            unit_price=plan.unit_price(usage.peak),
            fee=plan.fee(usage.peak),
            apps=usage.apps,
            created_at=self.clock(),
        )
        return await self.store.put_invoice(invoice)

    async def settle(self, invoice: Invoice) -> None:
        """Release the last freeze, deduct the invoice's fee, freeze 120 % of it; tell if short."""
        account_id, month = invoice.account_id, invoice.month
        last = previous_month(month)
        entries = {e.key: e for e in await self.store.entries(account_id)}
        last_freeze = entries.get(f"freeze:{last}")
        if last_freeze is not None:
            await self._append(
                account_id,
                f"release:{last}",
                "release",
                last_freeze.amount,
                f"freeze of {last} released at the settlement of {month}",
            )
        await self._append(
            account_id,
            f"fee:{month}",
            "fee",
            invoice.fee,
            f"fee of {month}: peak {invoice.peak} × {invoice.unit_price}",
        )
        freeze = to_fen(invoice.fee * self.settings.freeze_ratio)
        await self._append(
            account_id,
            f"freeze:{month}",
            "freeze",
            freeze,
            f"{self.settings.freeze_ratio:%} of the fee of {month} frozen",
        )
        balance = await self.balance(account_id)
        if balance.in_arrears:
            await self._notify(
                account_id,
                f"arrears:{month}",
                "arrears",
                f"ilvb: your account is in arrears after the settlement of {month}",
                f"After the settlement of {month} (fee {invoice.fee} yuan) your available balance"
                f" is {balance.available} yuan. Top up before day {self.settings.suspend_day} or"
                " your applications stop taking new calls.",
            )

    async def enforce(self, account_id: str, month: str) -> None:
        """Suspend the account if it is still in arrears after ``month``'s settlement."""
        account = await self._require(account_id)
        balance = await self.balance(account_id)
        if account.suspended or not balance.in_arrears:
            return
        await self.store.set_suspended(account_id, True)
        log.info("billing: account %s suspended for arrears", account_id)
        await self._notify(
            account_id,
            f"suspended:{month}",
            "suspended",
            "ilvb: your applications are stopped for arrears",
            f"Your available balance is {balance.available} yuan. Your applications take no new"
            " calls until the account is topped up.",
        )
        await self._tell(self.on_suspended, account_id)

    async def top_up(self, account_id: str, amount: object, key: str, reason: str = "") -> bool:
        """Add money under a caller-chosen idempotency ``key``; restores a suspended account
        whose arrears it clears. False if a top-up with this key exists (nothing written)."""
        value = parse_amount(amount)
        if not key or len(key) > 100:
            raise InvalidArgument(message="a top-up needs a key of 1–100 characters")
        written = await self._append(account_id, f"topup:{key}", "topup", value, reason or "top-up")
        account = await self._require(account_id)
        balance = await self.balance(account_id)
        if account.suspended and not balance.in_arrears:
            await self.store.set_suspended(account_id, False)
            log.info("billing: account %s restored", account_id)
            await self._notify(
                account_id,
                f"restored:topup:{key}",
                "restored",
                "ilvb: service restored",
                f"Thank you. Your available balance is {balance.available} yuan; your"
                " applications take calls again.",
            )
            await self._tell(self.on_restored, account_id)
        return written

    # ------------------------------------------------------------------ helpers

    async def _append(
        self, account_id: str, key: str, kind: EntryKind, amount: Decimal, reason: str
    ) -> bool:
        if amount < ZERO:
            raise AssertionError(f"ledger amounts are positive ({key})")
        entry = LedgerEntry(account_id, key, kind, amount, reason, self.clock())
        return await self.store.append_entry(entry)

    async def _notify(self, account_id: str, key: str, kind: str, subject: str, body: str) -> None:
        await self.store.add_notice(Notice(account_id, key, kind, subject, body, self.clock()))

    async def _tell(self, listeners: list[AccountListener], account_id: str) -> None:
        for listener in listeners:
            try:
                await listener(account_id)
            except Exception:  # an observer's failure must not undo billing
                log.exception("billing: a listener failed for account %s", account_id)

    async def _require(self, account_id: str) -> Account:
        account = await self.store.get_account(account_id)
        if account is None:
            raise NotFound("account_not_found", f"no account {account_id}")
        return account
