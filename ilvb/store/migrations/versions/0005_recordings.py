"""Recordings: one row per recording (its files live on disk), and automatic recording per app.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("recording_id", sa.String(64), primary_key=True),
        sa.Column(
            "app_id",
            sa.String(64),
            sa.ForeignKey("apps.app_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("room", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("stopped_at", sa.Float(), nullable=True),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("cpu_s", sa.Float(), nullable=False, server_default="0"),
    )
    op.create_index("ix_recordings_app_started", "recordings", ["app_id", "started_at"])
    op.create_table(
        "recording_settings",
        sa.Column(
            "app_id",
            sa.String(64),
            sa.ForeignKey("apps.app_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("auto_mode", sa.String(16), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("recording_settings")
    op.drop_index("ix_recordings_app_started", table_name="recordings")
    op.drop_table("recordings")
