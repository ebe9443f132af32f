"""Billing: accounts, the apps they own, the balance ledger, invoices and notices.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _account_fk(primary_key: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "account_id",
        sa.String(64),
        sa.ForeignKey("billing_accounts.account_id", ondelete="CASCADE"),
        nullable=False,
        primary_key=primary_key,
    )


def upgrade() -> None:
    op.create_table(
        "billing_accounts",
        sa.Column("account_id", sa.String(64), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("suspended", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("plan", sa.Text(), nullable=True),
    )
    op.create_table(
        "billing_account_apps",
        sa.Column("app_id", sa.String(64), primary_key=True),
        _account_fk(),
    )
    op.create_table(
        "billing_ledger",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _account_fk(),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.UniqueConstraint("account_id", "key", name="uq_billing_ledger_key"),
    )
    op.create_table(
        "billing_invoices",
        _account_fk(primary_key=True),
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("peak", sa.String(32), nullable=False),
        sa.Column("peak_minute", sa.BigInteger(), nullable=True),
        sa.Column("plan", sa.String(100), nullable=False),
        sa.Column("unit_price_fen", sa.BigInteger(), nullable=False),
        sa.Column("fee_fen", sa.BigInteger(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "billing_notices",
        _account_fk(primary_key=True),
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("emailed", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    for table in (
        "billing_notices",
        "billing_invoices",
        "billing_ledger",
        "billing_account_apps",
        "billing_accounts",
    ):
        op.drop_table(table)
