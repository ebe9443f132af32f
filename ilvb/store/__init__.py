"""ilvb.store: persistent storage — the AppStore interface (apps, the admin key hash, usage
samples), its in-memory and SQL implementations, the billing, quality-profile, recording and
webhook tables, the Alembic migrations.

Imports ``ilvb.errors``, ``ilvb.billing``, ``ilvb.quality``, ``ilvb.recording`` and
``ilvb.webhooks`` (the records its billing, quality, recording and webhook tables hold); must
not import ``ilvb.server``, ``ilvb.rooms``, ``ilvb.sfu`` or ``ilvb.auth``.
"""
