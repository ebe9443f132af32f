"""The billing calendar over a scripted quarter with an injected clock (in-memory store)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ilvb.billing.jobs import BillingJobs, BillingSettings
from ilvb.billing.ledger import balance_of
from ilvb.billing.store import MemoryBillingStore
from ilvb.errors import InvalidArgument, InvalidState
from tests.billing import scenario
from tests.billing.scenario import Clock, at


async def _setup() -> tuple[MemoryBillingStore, BillingJobs, Clock, str]:
    store = MemoryBillingStore()
    clock = Clock(scenario.CREATED)
    jobs = BillingJobs(store, clock)
    account = await store.create_account("ops@example.com", "Acme", clock())
    for app in ("app-a", "app-b"):
        await store.link_app(account.account_id, app)
    for sample in scenario.USAGE:
        store.add_usage(sample)
    assert await jobs.top_up(account.account_id, "5000.00", key="initial")
    return store, jobs, clock, account.account_id


async def test_a_quarter_settles_freezes_suspends_and_restores_exactly() -> None:
    store, jobs, clock, account_id = await _setup()
    told: list[tuple[str, str]] = []

    async def on_suspended(a: str) -> None:
        told.append(("suspended", a))

    async def on_restored(a: str) -> None:
        told.append(("restored", a))

    jobs.on_suspended.append(on_suspended)
    jobs.on_restored.append(on_restored)
    await scenario.run_quarter(jobs, store, clock, account_id)
    assert told == [("suspended", account_id), ("restored", account_id)]


async def test_a_failing_observer_does_not_undo_a_suspension() -> None:
    store, jobs, clock, account_id = await _setup()

    async def broken(_: str) -> None:
        raise RuntimeError("listener bug")

    jobs.on_suspended.append(broken)
    for day in ("2026-10-05", "2026-11-05", "2026-11-20"):
        clock.t = at(day)
        await jobs.run_due()
    account = await store.get_account(account_id)
    assert account is not None and account.suspended


async def test_the_invoice_shows_its_inputs() -> None:
    store, jobs, clock, account_id = await _setup()
    clock.t = at("2026-10-01")
    invoice = await jobs.close_month(account_id, "2026-09")
    assert invoice.peak == Decimal(50) and invoice.unit_price == Decimal(39)
    assert invoice.peak_minute == int(at("2026-09-10") // 60) * 60
    assert {a.app_id: str(a.at_peak) for a in invoice.apps} == {"app-a": "40.0", "app-b": "10.0"}


async def test_a_month_cannot_be_closed_before_it_ends() -> None:
    _, jobs, clock, account_id = await _setup()
    clock.t = at("2026-09-30", 23)
    with pytest.raises(InvalidState):
        await jobs.close_month(account_id, "2026-09")


async def test_a_negotiated_plan_is_used_for_the_invoice() -> None:
    from ilvb.billing.plans import PricePlan, Tier

    store, jobs, clock, account_id = await _setup()
    await store.set_plan(account_id, PricePlan("big", (Tier(None, Decimal("20.00")),)))
    clock.t = at("2026-10-05")
    await jobs.run_due()
    assert [i.fee for i in await store.invoices(account_id)] == [Decimal("1000.00")]


async def test_top_ups_are_idempotent_by_key_and_validated() -> None:
    store, jobs, _, account_id = await _setup()
    assert not await jobs.top_up(account_id, "5000.00", key="initial")
    assert (await jobs.balance(account_id)).balance == Decimal("5000.00")
    for bad in (1.5, "0", "-3", "1.001", "NaN", "Infinity", "x", True):
        with pytest.raises(InvalidArgument) as info:
            await jobs.top_up(account_id, bad, key=f"k{bad}")
        assert info.value.code == "invalid_amount"
    assert balance_of(await store.entries(account_id)).balance == Decimal("5000.00")


def test_settings_refuse_a_settlement_day_outside_the_5th_to_the_8th() -> None:
    for day in (4, 9):
        with pytest.raises(InvalidArgument):
            BillingSettings(settlement_day=day)
