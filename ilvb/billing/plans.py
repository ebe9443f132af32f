"""Price plans: a tier table of unit prices (yuan per participant per month) by the month's peak.

The default plan::

    peak x            unit price
    x ≤ 10            42
    10 < x ≤ 100      39
    100 < x ≤ 500     37
    500 < x ≤ 1000    34
    1000 < x ≤ 2000   31
    2000 < x ≤ 5000   29
    x > 5000          26

The fee is ``x × unit price`` for the tier that ``x`` falls in (peak 50 → 50 × 39 = 1950.00).

A fractional peak (three call participants count 1.5) is billed as it is: the tier is chosen by
the fractional value (10.5 is above 10, so 39), and the fee is ``x × unit price`` rounded to the
fen (1.5 × 42 = 63.00). Nothing is rounded up to a whole participant: a half participant is what
the customer used. Accounts with negotiated prices (usually peaks over 10,000) get a plan of
their own with the same shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from ilvb.billing.money import to_fen
from ilvb.errors import InvalidArgument


@dataclass(frozen=True)
class Tier:
    """Peaks up to and including ``up_to`` (None: no upper bound) pay ``unit_price`` each."""

    up_to: Decimal | None
    unit_price: Decimal


@dataclass(frozen=True)
class PricePlan:
    """A named tier table, tiers in increasing ``up_to`` order, the last one unbounded."""

    name: str
    tiers: tuple[Tier, ...]

    def __post_init__(self) -> None:
        validate_tiers(self.tiers)

    def unit_price(self, peak: Decimal) -> Decimal:
        """The unit price of the tier that ``peak`` falls in."""
        if peak < 0:
            raise InvalidArgument(message="a peak cannot be negative")
        for tier in self.tiers:
            if tier.up_to is None or peak <= tier.up_to:
                return tier.unit_price
        raise AssertionError("the last tier is unbounded")  # validate_tiers ensures it

    def fee(self, peak: Decimal) -> Decimal:
        """``peak × unit price``, exact to the fen."""
        return to_fen(peak * self.unit_price(peak))

    def to_dict(self) -> dict[str, object]:
        """The wire form (amounts as strings, never floats)."""
        return {
            "name": self.name,
            "tiers": [
                {
                    "up_to": None if t.up_to is None else str(t.up_to),
                    "unit_price": str(t.unit_price),
                }
                for t in self.tiers
            ],
        }


def validate_tiers(tiers: Sequence[Tier]) -> None:
    """Raise ``invalid_price_plan`` unless the bounds increase and only the last is unbounded."""
    if not tiers:
        raise InvalidArgument("invalid_price_plan", "a plan needs at least one tier")
    previous = Decimal(0)
    for i, tier in enumerate(tiers):
        last = i == len(tiers) - 1
        if tier.unit_price < 0:
            raise InvalidArgument("invalid_price_plan", "unit prices cannot be negative")
        if (tier.up_to is None) != last:
            raise InvalidArgument("invalid_price_plan", "only the last tier is unbounded")
        if tier.up_to is not None:
            if tier.up_to <= previous:
                raise InvalidArgument("invalid_price_plan", "tier bounds must increase")
            previous = tier.up_to


def plan_from_dict(body: dict[str, object]) -> PricePlan:
    """A plan from its wire form; raises ``invalid_price_plan`` with the reason."""
    try:
        name = str(body["name"])
        raw = body["tiers"]
        assert isinstance(raw, list)
        tiers = tuple(
            Tier(
                up_to=None if t.get("up_to") is None else Decimal(str(t["up_to"])),
                unit_price=Decimal(str(t["unit_price"])),
            )
            for t in raw
        )
    except Exception as exc:  # any shape error is the caller's
        raise InvalidArgument("invalid_price_plan", f"malformed plan: {exc!s}") from None
    if not all(
        t.unit_price.is_finite() and (t.up_to is None or t.up_to.is_finite()) for t in tiers
    ):
        raise InvalidArgument("invalid_price_plan", "numbers must be finite")
    return PricePlan(name, tiers)


DEFAULT_PLAN = PricePlan(
    "standard",
    tuple(
        Tier(None if up is None else Decimal(up), Decimal(price))
        for up, price in (
            (10, 42),
            (100, 39),
            (500, 37),
            (1000, 34),
            (2000, 31),
            (5000, 29),
            (None, 26),
        )
    ),
)
