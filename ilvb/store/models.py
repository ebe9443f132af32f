"""SQLAlchemy table definitions for :mod:`ilvb.store.sql`.

Tables created by the Alembic migrations in ``ilvb/store/migrations`` (never by
``metadata.create_all``, so an existing database is always upgraded the same way):

- ``apps``: one row per application (id, name, signing secret, per-app sender caps, enabled).
- ``settings``: key/value pairs owned by the server, e.g. ``admin_key_hash``.
- ``identity_providers``: per app, the OpenID Connect providers whose ID tokens it accepts.
- ``usage``: samples of concurrent participants per app, the input of billing.
- ``recordings``, ``recording_settings``: recordings (state, mode, room) and automatic recording.
- ``webhook_events``: the webhook outbox (``ilvb.webhooks``), ``webhook_endpoints``: per app,
  where its events go.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
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


class IdentityProviderRow(Base):
    """One OpenID Connect provider of one app (``position`` keeps the configured order)."""

    __tablename__ = "identity_providers"

    app_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("apps.app_id", ondelete="CASCADE"), primary_key=True
    )
    issuer: Mapped[str] = mapped_column(String(512), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    audience: Mapped[str] = mapped_column(String(256), nullable=False)
    # Space-separated JWS algorithm names, e.g. "RS256 ES256".
    algorithms: Mapped[str] = mapped_column(String(256), nullable=False)
    user_claim: Mapped[str] = mapped_column(String(128), nullable=False)
    role_claim: Mapped[str | None] = mapped_column(String(128), nullable=True)
    default_role: Mapped[str] = mapped_column(String(128), nullable=False)


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


# --------------------------------------------------------------------------------- webhooks
# seq orders the outbox: BIGINT on PostgreSQL, INTEGER (the rowid, AUTOINCREMENT so a number
# is never reused after pruning) on SQLite.
SEQ_TYPE = BigInteger().with_variant(Integer(), "sqlite")


class WebhookEventRow(Base):
    """One event of the webhook outbox (``ilvb.webhooks.store``)."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        Index("ix_webhook_events_app_seq", "app_id", "seq"),
        Index("ix_webhook_events_pending", "pending", "node", "seq"),
        Index("ix_webhook_events_created", "created_at"),
        {"sqlite_autoincrement": True},
    )

    seq: Mapped[int] = mapped_column(SEQ_TYPE, primary_key=True, autoincrement=True)
    app_id: Mapped[str] = mapped_column(String(64), nullable=False)
    # "<kind>:<room>": the events of one room are delivered in order
    room_key: Mapped[str] = mapped_column(String(300), nullable=False)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    data: Mapped[str] = mapped_column(Text, nullable=False)  # JSON
    created_at: Mapped[float] = mapped_column(Float, nullable=False)
    pending: Mapped[bool] = mapped_column(Boolean, nullable=False)
    node: Mapped[str] = mapped_column(String(128), nullable=False, server_default="")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    delivered_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)


class WebhookEndpointRow(Base):
    """Where one app's webhook events are POSTed."""

    __tablename__ = "webhook_endpoints"

    app_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("apps.app_id", ondelete="CASCADE"), primary_key=True
    )
    url: Mapped[str] = mapped_column(String(2048), nullable=False)
    enabled: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=True, server_default=true()
    )


# ---------------------------------------------------------------------------------- billing
# Money is stored as whole fen (BigInteger): exact on SQLite and PostgreSQL alike. Keyed rows
# (ledger entries, invoices, notices) have unique constraints: they make every billing job
# idempotent, also with two nodes running it at once.


class AccountRow(Base):
    """A customer account (owns apps, holds the balance ledger)."""

    __tablename__ = "billing_accounts"

    account_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)
    suspended: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    # A negotiated price plan as JSON (None: the default plan).
    plan: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The console password's argon2id hash (None: the account cannot sign in yet).
    password_hash: Mapped[str | None] = mapped_column(String(256), nullable=True)


class ConsoleSessionRow(Base):
    """A console session of a customer account (the token's SHA-256, never the token)."""

    __tablename__ = "console_sessions"

    session_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(64),
        ForeignKey("billing_accounts.account_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )
    csrf_token: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)
    expires_at: Mapped[float] = mapped_column(Float, nullable=False)


class AccountAppRow(Base):
    """Which account owns an app (at most one)."""

    __tablename__ = "billing_account_apps"

    app_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("billing_accounts.account_id", ondelete="CASCADE"), nullable=False
    )


class LedgerRow(Base):
    """One append-only ledger entry; (account_id, key) is unique."""

    __tablename__ = "billing_ledger"
    __table_args__ = (UniqueConstraint("account_id", "key", name="uq_billing_ledger_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("billing_accounts.account_id", ondelete="CASCADE"), nullable=False
    )
    key: Mapped[str] = mapped_column(String(128), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    amount_fen: Mapped[int] = mapped_column(BigInteger, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    at: Mapped[float] = mapped_column(Float, nullable=False)


class InvoiceRow(Base):
    """One account's invoice for one month; ``detail`` holds the per-app figures as JSON."""

    __tablename__ = "billing_invoices"

    account_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("billing_accounts.account_id", ondelete="CASCADE"), primary_key=True
    )
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    peak: Mapped[str] = mapped_column(String(32), nullable=False)  # a Decimal, e.g. "50.0"
    peak_minute: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    plan: Mapped[str] = mapped_column(String(100), nullable=False)
    unit_price_fen: Mapped[int] = mapped_column(BigInteger, nullable=False)
    fee_fen: Mapped[int] = mapped_column(BigInteger, nullable=False)
    detail: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)


class NoticeRow(Base):
    """A site message to an account, e-mailed once (``emailed``)."""

    __tablename__ = "billing_notices"

    account_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("billing_accounts.account_id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    subject: Mapped[str] = mapped_column(String(300), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)
    emailed: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )


class QualityProfileRow(Base):
    """One app's quality profile for a platform and a role (``profile`` is JSON)."""

    __tablename__ = "quality_profiles"

    app_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("apps.app_id", ondelete="CASCADE"), primary_key=True
    )
    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    role: Mapped[str] = mapped_column(String(64), primary_key=True)
    template: Mapped[str] = mapped_column(String(64), nullable=False)
    profile: Mapped[str] = mapped_column(Text, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[float] = mapped_column(Float, nullable=False)


class RecordingRow(Base):
    """One recording (ilvb.recording): its room, mode and state; files live on disk."""

    __tablename__ = "recordings"
    __table_args__ = (Index("ix_recordings_app_started", "app_id", "started_at"),)

    recording_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    app_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("apps.app_id", ondelete="CASCADE"), nullable=False
    )
    room: Mapped[str] = mapped_column(String(128), nullable=False)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    mode: Mapped[str] = mapped_column(String(16), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    started_at: Mapped[float] = mapped_column(Float, nullable=False)
    stopped_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cpu_s: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)


class RecordingSettingsRow(Base):
    """Per app: record every room automatically (``auto_mode``: tracks / composite) or not."""

    __tablename__ = "recording_settings"

    app_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("apps.app_id", ondelete="CASCADE"), primary_key=True
    )
    auto_mode: Mapped[str | None] = mapped_column(String(16), nullable=True)
