"""A scripted quarter (September to December 2026) shared by the memory, SQL and restart tests.

September: peak 50 (40 in rooms + 20 in calls counting half) → 1950.00.
October: peak 100 → 3900.00. November: three call participants → 1.5 → 63.00.
The account starts with a 5000.00 top-up, falls into arrears at the November settlement, is
suspended on 20 November and restored by a 6000.00 top-up on 22 November.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from ilvb.billing.metering import Sample


def at(day: str, hour: int = 12) -> float:
    """Unix time of ``YYYY-MM-DD`` at ``hour`` UTC."""
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC).timestamp()


CREATED = at("2026-08-31")
USAGE = [
    Sample("app-a", at("2026-09-10") + 5, multi=40, call=0),
    Sample("app-b", at("2026-09-10") + 20, multi=0, call=20),
    Sample("app-a", at("2026-09-11"), multi=45, call=0),  # a lower minute
    Sample("app-a", at("2026-10-03"), multi=100, call=0),
    Sample("app-b", at("2026-11-15"), multi=0, call=3),
]

# (the day the jobs run, what the ledger holds afterwards as (key, amount) and the account state)
STEPS: list[tuple[str, dict[str, str], dict[str, str]]] = [
    (
        "2026-10-05",
        {"topup:initial": "5000.00", "fee:2026-09": "1950.00", "freeze:2026-09": "2340.00"},
        {"balance": "3050.00", "frozen": "2340.00", "available": "710.00", "suspended": "False"},
    ),
    (
        "2026-11-05",
        {"release:2026-09": "2340.00", "fee:2026-10": "3900.00", "freeze:2026-10": "4680.00"},
        {"balance": "-850.00", "frozen": "4680.00", "available": "-5530.00", "suspended": "False"},
    ),
    ("2026-11-19", {}, {"available": "-5530.00", "suspended": "False"}),
    ("2026-11-20", {}, {"available": "-5530.00", "suspended": "True"}),
    (
        "2026-12-05",
        {
            "topup:nov-22": "6000.00",
            "release:2026-10": "4680.00",
            "fee:2026-11": "63.00",
            "freeze:2026-11": "75.60",
        },
        {"balance": "5087.00", "frozen": "75.60", "available": "5011.40", "suspended": "False"},
    ),
]
TOP_UP_DAY = "2026-11-22"
FEES = {"2026-09": Decimal("1950.00"), "2026-10": Decimal("3900.00"), "2026-11": Decimal("63.00")}


class Clock:
    """A settable clock for :class:`~ilvb.billing.jobs.BillingJobs`."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


async def state_of(jobs: object, store: object, account_id: str) -> dict[str, str]:
    """Balance, frozen, available and suspended, as strings."""
    from ilvb.billing.jobs import BillingJobs
    from ilvb.billing.store import BillingStore

    assert isinstance(jobs, BillingJobs)
    s: BillingStore = store  # type: ignore[assignment]
    balance = await jobs.balance(account_id)
    account = await s.get_account(account_id)
    assert account is not None
    return {**balance.to_dict(), "suspended": str(account.suspended)}


async def run_quarter(jobs: object, store: object, clock: Clock, account_id: str) -> None:
    """Drive the quarter (each day's jobs three times) and assert every step's ledger."""
    from ilvb.billing.jobs import BillingJobs
    from ilvb.billing.store import BillingStore

    assert isinstance(jobs, BillingJobs)
    s: BillingStore = store  # type: ignore[assignment]
    expected: dict[str, str] = {"topup:initial": "5000.00"}
    for day, new_entries, state in STEPS:
        if day == "2026-12-05":
            clock.t = at(TOP_UP_DAY)
            assert await jobs.top_up(account_id, "6000.00", key="nov-22")
        clock.t = at(day)
        for _ in range(3):  # every run after the first changes nothing
            await jobs.run_due()
        expected.update(new_entries)
        ledger = {e.key: str(e.amount) for e in await s.entries(account_id)}
        assert ledger == expected, day
        got = await state_of(jobs, s, account_id)
        assert {k: got[k] for k in state} == state, day
    assert {i.month: i.fee for i in await s.invoices(account_id)} == FEES
    assert [n.kind for n in await s.notices(account_id)] == ["arrears", "suspended", "restored"]
