"""Refunds that move money: an order's payment link (provider and its payment id) and a
refund's status, provider, the provider's refund id, the idempotency key it is sent with,
its error and attempts.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 15:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """orders.payment_provider/payment_reference; refunds.status (existing rows: succeeded),
    provider, provider_reference, request_reference (unique), error, attempts, updated_at."""
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("payment_provider", sa.String(32), nullable=True))
        batch.add_column(sa.Column("payment_reference", sa.String(128), nullable=True))
    with op.batch_alter_table("refunds") as batch:
        batch.add_column(sa.Column("status", sa.String(16), nullable=False, server_default="succeeded"))
        batch.add_column(sa.Column("provider", sa.String(32), nullable=True))
        batch.add_column(sa.Column("provider_reference", sa.String(128), nullable=True))
        batch.add_column(sa.Column("request_reference", sa.String(64), nullable=True))
        batch.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
        )
        batch.create_unique_constraint("uq_refunds_request_reference", ["request_reference"])
    # the defaults only fill the rows already there; the application sets every new one
    with op.batch_alter_table("refunds") as batch:
        batch.alter_column("status", server_default=None)
        batch.alter_column("attempts", server_default=None)
        batch.alter_column("updated_at", server_default=None)
    op.create_index("ix_refunds_provider_reference", "refunds", ["provider", "provider_reference"])


def downgrade() -> None:
    """Drop the index and the columns."""
    op.drop_index("ix_refunds_provider_reference", table_name="refunds")
    with op.batch_alter_table("refunds") as batch:
        batch.drop_constraint("uq_refunds_request_reference", type_="unique")
        for column in (
            "updated_at",
            "attempts",
            "error",
            "request_reference",
            "provider_reference",
            "provider",
            "status",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("payment_reference")
        batch.drop_column("payment_provider")
