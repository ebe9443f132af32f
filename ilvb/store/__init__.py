"""ilvb.store: persistent storage — the AppStore interface (apps, the admin key hash, usage
samples), its in-memory and SQL implementations, the billing and quality-profile tables, the
Alembic migrations.

Imports ``ilvb.errors``, ``ilvb.billing`` and ``ilvb.quality`` (the records its billing and
quality tables hold); must not import ``ilvb.server``, ``ilvb.rooms``, ``ilvb.sfu`` or
``ilvb.auth``.
"""
