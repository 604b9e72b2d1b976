"""Planning: ``replenishment_plans``, the latest plan of each variant in each warehouse
(forecast, safety stock, reorder point, position, projected stock-out, the order to place).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-04 20:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0026"
down_revision: str | Sequence[str] | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "replenishment_plans",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("variant_id", ID, nullable=False),
        sa.Column("warehouse_id", ID, nullable=False),
        sa.Column("supplier_id", ID, nullable=True),
        sa.Column("planned_on", sa.Date(), nullable=False),
        sa.Column("demand_class", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("mean_daily", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("sigma_daily", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("lead_time_days", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("safety_stock", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("reorder_point", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("order_up_to", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), nullable=False),
        sa.Column("on_order", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("days_of_cover", sa.Numeric(precision=19, scale=4), nullable=True),
        sa.Column("stockout_on", sa.Date(), nullable=True),
        sa.Column("reorder_now", sa.Boolean(), nullable=False),
        sa.Column("order_on", sa.Date(), nullable=True),
        sa.Column("order_quantity", sa.Integer(), nullable=True),
        sa.Column("unit_price", sa.Numeric(precision=19, scale=4), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("overstock", sa.Boolean(), nullable=False),
        sa.Column("reasons", JSON, nullable=False),
        sa.Column("forecast", JSON, nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["supplier_id"],
            ["suppliers.id"],
            name=op.f("fk_replenishment_plans_supplier_id_suppliers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_replenishment_plans_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["variants.id"],
            name=op.f("fk_replenishment_plans_variant_id_variants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["warehouse_id"],
            ["warehouses.id"],
            name=op.f("fk_replenishment_plans_warehouse_id_warehouses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replenishment_plans")),
        sa.UniqueConstraint(
            "variant_id", "warehouse_id", name=op.f("uq_replenishment_plans_variant_id_warehouse_id")
        ),
    )
    with op.batch_alter_table("replenishment_plans", schema=None) as batch_op:
        batch_op.create_index("ix_replenishment_plans_due", ["tenant_id", "reorder_now"], unique=False)
        batch_op.create_index(batch_op.f("ix_replenishment_plans_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("replenishment_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_replenishment_plans_tenant_id"))
        batch_op.drop_index("ix_replenishment_plans_due")

    op.drop_table("replenishment_plans")
