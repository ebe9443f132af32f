"""The default tier table, exact to the fen, and negotiated plans."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ilvb.billing.plans import DEFAULT_PLAN, PricePlan, Tier, plan_from_dict
from ilvb.errors import InvalidArgument

D = Decimal


def test_the_papers_example_peak_50_costs_1950() -> None:
    assert DEFAULT_PLAN.fee(D(50)) == D("1950.00")


@pytest.mark.parametrize(
    ("peak", "fee"),
    [
        (10, "420.00"),
        (11, "429.00"),  # 10 × 42 | 11 × 39
        (100, "3900.00"),
        (101, "3737.00"),  # 100 × 39 | 101 × 37
        (500, "18500.00"),
        (501, "17034.00"),  # 500 × 37 | 501 × 34
        (1000, "34000.00"),
        (1001, "31031.00"),  # 1000 × 34 | 1001 × 31
        (2000, "62000.00"),
        (2001, "58029.00"),  # 2000 × 31 | 2001 × 29
        (5000, "145000.00"),
        (5001, "130026.00"),  # 5000 × 29 | 5001 × 26
        (0, "0.00"),
        (1, "42.00"),
    ],
)
def test_every_tier_boundary_is_exact(peak: int, fee: str) -> None:
    amount = DEFAULT_PLAN.fee(D(peak))
    assert amount == D(fee)
    assert str(amount) == fee  # two decimals, no float noise


def test_a_fractional_peak_is_billed_as_it_is_in_its_own_tier() -> None:
    assert DEFAULT_PLAN.fee(D("1.5")) == D("63.00")  # 1.5 × 42
    assert DEFAULT_PLAN.unit_price(D("10.5")) == D(39)  # above 10
    assert DEFAULT_PLAN.fee(D("10.5")) == D("409.50")


def test_a_negotiated_plan_prices_by_its_own_table() -> None:
    plan = PricePlan("acme-2026", (Tier(D(20000), D("21.50")), Tier(None, D("19.99"))))
    assert plan.fee(D(12000)) == D("258000.00")
    assert plan.fee(D("20000.5")) == D("399810.00")  # 20000.5 × 19.99 = 399809.995 → half up


def test_a_plan_round_trips_through_its_wire_form() -> None:
    assert plan_from_dict(DEFAULT_PLAN.to_dict()) == DEFAULT_PLAN


@pytest.mark.parametrize(
    "tiers",
    [
        [],
        [{"up_to": "10", "unit_price": "1"}],  # last tier bounded
        [{"up_to": None, "unit_price": "1"}, {"up_to": None, "unit_price": "1"}],
        [
            {"up_to": "10", "unit_price": "1"},
            {"up_to": "5", "unit_price": "1"},
            {"up_to": None, "unit_price": "1"},
        ],
        [{"up_to": None, "unit_price": "-1"}],
        [{"up_to": None, "unit_price": "NaN"}],
        [{"up_to": None, "unit_price": "abc"}],
    ],
)
def test_malformed_plans_are_refused_with_a_code(tiers: list[dict[str, object]]) -> None:
    with pytest.raises(InvalidArgument) as info:
        plan_from_dict({"name": "x", "tiers": tiers})
    assert info.value.code == "invalid_price_plan"
