"""Initial schema: apps, settings (admin key hash), usage samples for billing.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "apps",
        sa.Column("app_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("audio_sender_cap", sa.Integer(), nullable=True),
        sa.Column("video_sender_cap", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.create_table(
        "settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "usage",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "app_id",
            sa.String(64),
            sa.ForeignKey("apps.app_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("timestamp", sa.Float(), nullable=False),
        sa.Column("participants", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("call_participants", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_usage_app_time", "usage", ["app_id", "timestamp"])


def downgrade() -> None:
    op.drop_index("ix_usage_app_time", table_name="usage")
    op.drop_table("usage")
    op.drop_table("settings")
    op.drop_table("apps")
