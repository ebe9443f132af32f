"""Webhooks: the outbox of room and member events, and each app's endpoint.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("app_id", sa.String(64), nullable=False),
        sa.Column("room_key", sa.String(300), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.Column("node", sa.String(128), nullable=False, server_default=""),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("delivered_at", sa.Float(), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_webhook_events_app_seq", "webhook_events", ["app_id", "seq"])
    op.create_index("ix_webhook_events_pending", "webhook_events", ["pending", "node", "seq"])
    op.create_index("ix_webhook_events_created", "webhook_events", ["created_at"])
    op.create_table(
        "webhook_endpoints",
        sa.Column(
            "app_id",
            sa.String(64),
            sa.ForeignKey("apps.app_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
    )


def downgrade() -> None:
    op.drop_table("webhook_endpoints")
    op.drop_index("ix_webhook_events_created", "webhook_events")
    op.drop_index("ix_webhook_events_pending", "webhook_events")
    op.drop_index("ix_webhook_events_app_seq", "webhook_events")
    op.drop_table("webhook_events")
