"""Webhooks: room and member events sent to the app's server, signed, retried, ordered per room,
kept in an outbox in the store and pullable from a cursor (docs/operations.md).

For the app's server: :func:`~ilvb.webhooks.signing.verify_webhook` checks a delivery
(``from ilvb.webhooks.signing import verify_webhook``).

Imports ``ilvb.errors``, ``ilvb.config`` and ``ilvb.rooms`` (it follows rooms through their
observers); must not import ``ilvb.server`` or ``ilvb.sfu``; the SQL outbox is in
``ilvb.store`` (``webhooks_sql``).
"""
