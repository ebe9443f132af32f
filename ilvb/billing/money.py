"""Money: Decimal yuan, exact to the fen (0.01)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from ilvb.errors import InvalidArgument

FEN = Decimal("0.01")
ZERO = Decimal("0.00")


def to_fen(amount: Decimal) -> Decimal:
    """``amount`` rounded to the fen, half up (the one rounding rule of billing)."""
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)


def parse_amount(value: object, *, positive: bool = True) -> Decimal:
    """A money amount from user input (str, int or Decimal; never float): finite, at most two
    decimals, and > 0 when ``positive``. Raises ``invalid_amount``."""
    if isinstance(value, float | bool):
        raise InvalidArgument("invalid_amount", 'give amounts as strings such as "100.00"')
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise InvalidArgument("invalid_amount", f"not an amount: {value!r}") from None
    if not amount.is_finite():
        raise InvalidArgument("invalid_amount", "the amount must be finite")
    if amount != amount.quantize(FEN):
        raise InvalidArgument("invalid_amount", "amounts have at most two decimals (fen)")
    if positive and amount <= 0:
        raise InvalidArgument("invalid_amount", "the amount must be greater than 0")
    if abs(amount) >= Decimal("1e12"):
        raise InvalidArgument("invalid_amount", "the amount is too large")
    return to_fen(amount)
