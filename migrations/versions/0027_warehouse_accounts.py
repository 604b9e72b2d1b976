"""Warehouse systems: ``warehouse_accounts``, a warehouse's account with the WMS, 3PL or
marketplace warehouse that runs it (plugin, encrypted credentials, base URL, settings, and
how the last stock sync went).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-04 20:04:14

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0027"
down_revision: str | Sequence[str] | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "warehouse_accounts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("warehouse_id", ID, nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("credentials_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("base_url", sa.String(length=512), nullable=True),
        sa.Column("settings", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_warehouse_accounts_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["warehouse_id"],
            ["warehouses.id"],
            name=op.f("fk_warehouse_accounts_warehouse_id_warehouses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warehouse_accounts")),
        sa.UniqueConstraint("warehouse_id", name=op.f("uq_warehouse_accounts_warehouse_id")),
    )
    with op.batch_alter_table("warehouse_accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_warehouse_accounts_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("warehouse_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_warehouse_accounts_tenant_id"))

    op.drop_table("warehouse_accounts")
