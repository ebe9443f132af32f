"""SQLAlchemy table definitions for :mod:`ilvb.store.sql`.

Three tables, created by the Alembic migrations in ``ilvb/store/migrations`` (never by
``metadata.create_all``, so an existing database is always upgraded the same way):

- ``apps``: one row per application (id, name, signing secret, per-app sender caps, enabled).
- ``settings``: key/value pairs owned by the server, e.g. ``admin_key_hash``.
- ``usage``: samples of concurrent participants per app, the input of billing.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, true
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Settings keys.
ADMIN_KEY_HASH = "admin_key_hash"


class Base(DeclarativeBase):
    """Declarative base; ``Base.metadata`` is Alembic's ``target_metadata``."""


class AppRow(Base):
    """One application. ``secret`` signs login tickets and app REST calls, so it is kept."""

    __tablename__ = "apps"

    app_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    secret: Mapped[str] = mapped_column(String(128), nullable=False)
    # Unix time, seconds.
    created_at: Mapped[float] = mapped_column(Float, nullable=False)
    # None = the server-wide default from RoomSettings.
    audio_sender_cap: Mapped[int | None] = mapped_column(Integer, nullable=True)
    video_sender_cap: Mapped[int | None] = mapped_column(Integer, nullable=True)
    enabled: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=True, server_default=true()
    )


class SettingRow(Base):
    """A server-owned key/value pair (the admin key hash, never the key itself)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)


class UsageRow(Base):
    """A sample of one app's concurrent participants at one moment (input to billing).

    Billing prices a two-person call's participants differently from a room's, so the two kinds
    are kept apart: ``participants`` in multi-person rooms, ``call_participants`` in calls.
    """

    __tablename__ = "usage"
    __table_args__ = (Index("ix_usage_app_time", "app_id", "timestamp"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    app_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("apps.app_id", ondelete="CASCADE"), nullable=False
    )
    # Unix time, seconds.
    timestamp: Mapped[float] = mapped_column(Float, nullable=False)
    participants: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    call_participants: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
