"""ilvb.store: persistent storage — the AppStore interface (apps, the admin key hash, usage
samples), its in-memory and SQL implementations, the billing, quality-profile and recording
tables, the Alembic migrations.

Imports ``ilvb.errors``, ``ilvb.billing``, ``ilvb.quality`` and ``ilvb.recording`` (the records
its billing, quality and recording tables hold); must not import ``ilvb.server``,
``ilvb.rooms``, ``ilvb.sfu`` or ``ilvb.auth``.
"""
