"""Identity providers: per app, the OpenID Connect providers whose ID tokens it accepts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identity_providers",
        sa.Column(
            "app_id",
            sa.String(64),
            sa.ForeignKey("apps.app_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("issuer", sa.String(512), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("audience", sa.String(256), nullable=False),
        sa.Column("algorithms", sa.String(256), nullable=False),
        sa.Column("user_claim", sa.String(128), nullable=False),
        sa.Column("role_claim", sa.String(128), nullable=True),
        sa.Column("default_role", sa.String(128), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("identity_providers")
