"""Bulk exports (``bulk_exports``: one per list export, at most one created or running per
tenant, enforced by a partial unique index) and the usage counters per tenant and month
(``usage_monthly``: unique per tenant, month and metric, what the compaction added up;
``usage_deltas``: what each transaction counted, one row each).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-08 09:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
ACTIVE = "status IN ('created', 'running')"


def upgrade() -> None:
    """Create the two tables and their indexes."""
    op.create_table(
        "bulk_exports",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("filter", JSON, nullable=False),
        sa.Column("through_id", sa.BigInteger(), nullable=True),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("parts", JSON, nullable=False),
        sa.Column("stale_keys", JSON, nullable=False),
        sa.Column("object_count", sa.BigInteger(), nullable=False),
        sa.Column("root_object_count", sa.BigInteger(), nullable=False),
        sa.Column("file_size", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claim", sa.String(length=32), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("canceled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_bulk_exports_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulk_exports")),
    )
    op.create_index("ix_bulk_exports_expires", "bulk_exports", ["expires_at"], unique=False)
    op.create_index("ix_bulk_exports_status", "bulk_exports", ["status", "claimed_until"], unique=False)
    op.create_index(op.f("ix_bulk_exports_tenant_id"), "bulk_exports", ["tenant_id"], unique=False)
    op.create_index(
        "uq_bulk_exports_one_active",
        "bulk_exports",
        ["tenant_id"],
        unique=True,
        postgresql_where=sa.text(ACTIVE),
        sqlite_where=sa.text(ACTIVE),
    )
    op.create_table(
        "usage_monthly",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_usage_monthly_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_monthly")),
        sa.UniqueConstraint(
            "tenant_id", "month", "metric", name=op.f("uq_usage_monthly_tenant_id_month_metric")
        ),
    )
    op.create_index(op.f("ix_usage_monthly_tenant_id"), "usage_monthly", ["tenant_id"], unique=False)
    op.create_table(
        "usage_deltas",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_usage_deltas_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_deltas")),
    )
    op.create_index(op.f("ix_usage_deltas_tenant_id"), "usage_deltas", ["tenant_id"], unique=False)
    op.create_index(
        "ix_usage_deltas_tenant_month", "usage_deltas", ["tenant_id", "month", "metric"], unique=False
    )


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_index("ix_usage_deltas_tenant_month", table_name="usage_deltas")
    op.drop_index(op.f("ix_usage_deltas_tenant_id"), table_name="usage_deltas")
    op.drop_table("usage_deltas")
    op.drop_index(op.f("ix_usage_monthly_tenant_id"), table_name="usage_monthly")
    op.drop_table("usage_monthly")
    op.drop_index("uq_bulk_exports_one_active", table_name="bulk_exports")
    op.drop_index(op.f("ix_bulk_exports_tenant_id"), table_name="bulk_exports")
    op.drop_index("ix_bulk_exports_status", table_name="bulk_exports")
    op.drop_index("ix_bulk_exports_expires", table_name="bulk_exports")
    op.drop_table("bulk_exports")
