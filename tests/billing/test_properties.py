"""Properties of the ledger under any order of top-ups and repeated job runs (hypothesis)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from ilvb.billing.jobs import BillingJobs
from ilvb.billing.ledger import balance_of
from ilvb.billing.metering import Sample, month_bounds
from ilvb.billing.plans import DEFAULT_PLAN
from ilvb.billing.store import MemoryBillingStore
from tests.billing.scenario import Clock, at

MONTHS = ["2026-09", "2026-10", "2026-11"]
DAYS = [f"{m}-{d:02d}" for m in ("2026-10", "2026-11", "2026-12") for d in (1, 5, 6, 19, 20, 25)]

op = st.one_of(
    st.tuples(
        st.just("topup"),
        st.sampled_from(["a", "b", "c", "d"]),
        st.integers(1, 500_000).map(lambda fen: Decimal(fen) / 100),
    ),
    st.tuples(st.just("run"), st.integers(0, 2), st.just(Decimal(0))),
)


@settings(max_examples=60, deadline=None)
@given(
    peaks=st.lists(st.tuples(st.integers(0, 6000), st.integers(0, 50)), min_size=3, max_size=3),
    ops=st.lists(op, max_size=40),
)
async def test_balance_is_the_ledger_and_no_month_is_charged_twice(
    peaks: list[tuple[int, int]], ops: list[tuple[str, object, Decimal]]
) -> None:
    store = MemoryBillingStore()
    clock = Clock(at("2026-08-31"))
    jobs = BillingJobs(store, clock)
    account = await store.create_account("x@example.com", "X", clock())
    await store.link_app(account.account_id, "app")
    for month, (multi, call) in zip(MONTHS, peaks, strict=True):
        store.add_usage(Sample("app", month_bounds(month)[0] + 3600, multi, call))
    day_index = 0
    topups: dict[str, Decimal] = {}
    for kind, arg, amount in ops:
        if kind == "topup":
            key = str(arg)
            written = await jobs.top_up(account.account_id, amount, key=key)
            assert written == (key not in topups)
            topups.setdefault(key, amount)
        else:
            day_index = min(day_index + int(str(arg)), len(DAYS) - 1)
            clock.t = at(DAYS[day_index])
            await jobs.run_due()
        entries = await store.entries(account.account_id)
        keys = [e.key for e in entries]
        assert len(keys) == len(set(keys))  # nothing written twice
        fees = {e.key[4:]: e.amount for e in entries if e.kind == "fee"}
        for month, fee in fees.items():
            multi, call = peaks[MONTHS.index(month)]
            assert fee == DEFAULT_PLAN.fee(Decimal(multi) + Decimal(call) / 2)
        balance = balance_of(entries)
        assert balance.balance == sum(topups.values(), Decimal(0)) - sum(fees.values(), Decimal(0))
        assert balance.frozen >= 0
        assert (await jobs.balance(account.account_id)) == balance
        state = await store.get_account(account.account_id)
        assert state is not None
        if state.suspended:
            assert balance.in_arrears  # never suspended with money available
