"""The balance ledger: append-only entries, each with a unique key; the balance is their sum.

Four kinds of entry, all with a positive ``amount``:

- ``topup``: money in (balance +amount);
- ``fee``: a month's fee deducted (balance −amount);
- ``freeze``: part of the balance reserved (frozen +amount);
- ``release``: a freeze given back (frozen −amount).

``available = balance − frozen``. An account is in arrears when ``available < 0``: it is in debt
or cannot cover its freeze. Entry keys name what they are for (``fee:2026-11``,
``freeze:2026-11``, ``release:2026-10``, ``topup:<id>``), so writing the same entry twice is
refused by the store and a job that runs again changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from ilvb.billing.money import ZERO

EntryKind = Literal["topup", "fee", "freeze", "release"]
ENTRY_KINDS: tuple[EntryKind, ...] = ("topup", "fee", "freeze", "release")


@dataclass(frozen=True)
class LedgerEntry:
    """One append-only ledger line of an account."""

    account_id: str
    key: str
    kind: EntryKind
    amount: Decimal  # ≥ 0, in yuan, exact to the fen
    reason: str
    at: float  # Unix time

    def to_dict(self) -> dict[str, object]:
        """The wire form (amount as a string)."""
        return {
            "key": self.key,
            "kind": self.kind,
            "amount": str(self.amount),
            "reason": self.reason,
            "at": self.at,
        }


@dataclass(frozen=True)
class Balance:
    """An account's money, derived from its ledger."""

    balance: Decimal
    frozen: Decimal

    @property
    def available(self) -> Decimal:
        """What the account can spend: the balance less what is frozen."""
        return self.balance - self.frozen

    @property
    def in_arrears(self) -> bool:
        """In debt, or unable to cover the freeze."""
        return self.available < 0

    def to_dict(self) -> dict[str, str]:
        """The wire form (amounts as strings)."""
        return {
            "balance": str(self.balance),
            "frozen": str(self.frozen),
            "available": str(self.available),
        }


def balance_of(entries: Iterable[LedgerEntry]) -> Balance:
    """The balance is the sum of the ledger; nothing else holds it."""
    balance = frozen = ZERO
    for e in entries:
        if e.kind == "topup":
            balance += e.amount
        elif e.kind == "fee":
            balance -= e.amount
        elif e.kind == "freeze":
            frozen += e.amount
        else:
            frozen -= e.amount
    return Balance(balance, frozen)
