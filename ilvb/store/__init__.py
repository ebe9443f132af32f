"""ilvb.store: persistent storage — the AppStore interface (apps, the admin key hash, usage
samples), its in-memory and SQL implementations, the billing tables, the Alembic migrations.

Imports ``ilvb.errors`` and ``ilvb.billing`` (the records its billing tables hold); must not
import ``ilvb.server``, ``ilvb.rooms``, ``ilvb.sfu`` or ``ilvb.auth``.
"""
