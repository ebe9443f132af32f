"""ilvb.billing: metering, price plans, the balance ledger and the monthly billing jobs.

Billing is by the month's peak of simultaneous participants, where a two-person call participant
counts half. Money is :class:`decimal.Decimal` in yuan, exact to the fen. The balance is an
append-only ledger; every job writes entries under a unique key, so a job run twice, or by two
nodes at once, or again after a crash, never charges twice.

Imports: ``ilvb.errors``, ``ilvb.config`` (its settings section) and the standard library only
(the SQL side lives in ``ilvb.store``); it must not import ``ilvb.server``, ``ilvb.rooms``,
``ilvb.sfu`` or ``ilvb.store``.
"""
