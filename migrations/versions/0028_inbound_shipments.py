"""Stock on its way in and out through warehouse systems: ``transit_lanes`` (days and cost
from one warehouse to another), ``inbound_shipments`` and their lines (several SKUs sent
between warehouses, each line a transfer), ``warehouse_inbounds`` (deliveries announced to
the system running a warehouse, with what its receipts have counted), ``warehouse_orders``
(orders handed to that system to ship); ``warehouse_accounts.receipts_since`` and
``.shipments_since``; and the plan's demand by channel and suggested transfers
(``replenishment_plans.channels``, ``.transfers``).

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 22:45:45

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0028"
down_revision: str | Sequence[str] | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "inbound_shipments",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("from_warehouse_id", ID, nullable=False),
        sa.Column("to_warehouse_id", ID, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("carrier", sa.String(length=64), nullable=True),
        sa.Column("tracking_number", sa.String(length=128), nullable=True),
        sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expected_on", sa.Date(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["from_warehouse_id"],
            ["warehouses.id"],
            name=op.f("fk_inbound_shipments_from_warehouse_id_warehouses"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_inbound_shipments_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["to_warehouse_id"],
            ["warehouses.id"],
            name=op.f("fk_inbound_shipments_to_warehouse_id_warehouses"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_shipments")),
        sa.UniqueConstraint("tenant_id", "number", name=op.f("uq_inbound_shipments_tenant_id_number")),
    )
    with op.batch_alter_table("inbound_shipments", schema=None) as batch_op:
        batch_op.create_index("ix_inbound_shipments_status", ["tenant_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_inbound_shipments_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "transit_lanes",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("from_warehouse_id", ID, nullable=False),
        sa.Column("to_warehouse_id", ID, nullable=False),
        sa.Column("transit_days", sa.Integer(), nullable=False),
        sa.Column("transit_sd_days", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("unit_cost", sa.Numeric(precision=19, scale=4), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "from_warehouse_id <> to_warehouse_id", name=op.f("ck_transit_lanes_two_warehouses")
        ),
        sa.CheckConstraint("transit_days >= 0", name=op.f("ck_transit_lanes_transit_days_nonnegative")),
        sa.CheckConstraint("transit_sd_days >= 0", name=op.f("ck_transit_lanes_transit_sd_nonnegative")),
        sa.ForeignKeyConstraint(
            ["from_warehouse_id"],
            ["warehouses.id"],
            name=op.f("fk_transit_lanes_from_warehouse_id_warehouses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_transit_lanes_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["to_warehouse_id"],
            ["warehouses.id"],
            name=op.f("fk_transit_lanes_to_warehouse_id_warehouses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transit_lanes")),
        sa.UniqueConstraint(
            "from_warehouse_id",
            "to_warehouse_id",
            name=op.f("uq_transit_lanes_from_warehouse_id_to_warehouse_id"),
        ),
    )
    with op.batch_alter_table("transit_lanes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_transit_lanes_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "inbound_shipment_lines",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("shipment_id", ID, nullable=False),
        sa.Column("variant_id", ID, nullable=False),
        sa.Column("transfer_id", ID, nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("received_quantity", sa.Integer(), nullable=False),
        sa.Column("damaged_quantity", sa.Integer(), nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.CheckConstraint(
            "damaged_quantity >= 0", name=op.f("ck_inbound_shipment_lines_damaged_nonnegative")
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_inbound_shipment_lines_quantity_positive")),
        sa.CheckConstraint(
            "received_quantity >= 0", name=op.f("ck_inbound_shipment_lines_received_nonnegative")
        ),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["inbound_shipments.id"],
            name=op.f("fk_inbound_shipment_lines_shipment_id_inbound_shipments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_inbound_shipment_lines_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["transfers.id"],
            name=op.f("fk_inbound_shipment_lines_transfer_id_transfers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["variants.id"],
            name=op.f("fk_inbound_shipment_lines_variant_id_variants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_shipment_lines")),
        sa.UniqueConstraint(
            "shipment_id", "variant_id", name=op.f("uq_inbound_shipment_lines_shipment_id_variant_id")
        ),
    )
    with op.batch_alter_table("inbound_shipment_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbound_shipment_lines_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "warehouse_inbounds",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("warehouse_id", ID, nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("purchase_order_id", ID, nullable=True),
        sa.Column("shipment_id", ID, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("announced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("counted", JSON, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["purchase_order_id"],
            ["purchase_orders.id"],
            name=op.f("fk_warehouse_inbounds_purchase_order_id_purchase_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["inbound_shipments.id"],
            name=op.f("fk_warehouse_inbounds_shipment_id_inbound_shipments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_warehouse_inbounds_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["warehouse_id"],
            ["warehouses.id"],
            name=op.f("fk_warehouse_inbounds_warehouse_id_warehouses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warehouse_inbounds")),
        sa.UniqueConstraint("purchase_order_id", name=op.f("uq_warehouse_inbounds_purchase_order_id")),
        sa.UniqueConstraint("shipment_id", name=op.f("uq_warehouse_inbounds_shipment_id")),
        sa.UniqueConstraint(
            "warehouse_id", "reference", name=op.f("uq_warehouse_inbounds_warehouse_id_reference")
        ),
    )
    with op.batch_alter_table("warehouse_inbounds", schema=None) as batch_op:
        batch_op.create_index("ix_warehouse_inbounds_status", ["tenant_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_warehouse_inbounds_tenant_id"), ["tenant_id"], unique=False)

    with op.batch_alter_table("replenishment_plans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channels", JSON, nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("transfers", JSON, nullable=False, server_default="[]"))

    with op.batch_alter_table("warehouse_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("receipts_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("shipments_since", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "warehouse_orders",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("warehouse_id", ID, nullable=False),
        sa.Column("order_id", ID, nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("handed_over_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shipment_id", ID, nullable=True),
        sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_warehouse_orders_order_id_orders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["shipments.id"],
            name=op.f("fk_warehouse_orders_shipment_id_shipments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_warehouse_orders_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["warehouse_id"],
            ["warehouses.id"],
            name=op.f("fk_warehouse_orders_warehouse_id_warehouses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warehouse_orders")),
        sa.UniqueConstraint(
            "warehouse_id", "order_id", name=op.f("uq_warehouse_orders_warehouse_id_order_id")
        ),
        sa.UniqueConstraint(
            "warehouse_id", "reference", name=op.f("uq_warehouse_orders_warehouse_id_reference")
        ),
    )
    with op.batch_alter_table("warehouse_orders", schema=None) as batch_op:
        batch_op.create_index("ix_warehouse_orders_status", ["tenant_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_warehouse_orders_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("warehouse_orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_warehouse_orders_tenant_id"))
        batch_op.drop_index("ix_warehouse_orders_status")

    op.drop_table("warehouse_orders")
    with op.batch_alter_table("warehouse_accounts", schema=None) as batch_op:
        batch_op.drop_column("shipments_since")
        batch_op.drop_column("receipts_since")

    with op.batch_alter_table("replenishment_plans", schema=None) as batch_op:
        batch_op.drop_column("transfers")
        batch_op.drop_column("channels")

    with op.batch_alter_table("warehouse_inbounds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_warehouse_inbounds_tenant_id"))
        batch_op.drop_index("ix_warehouse_inbounds_status")

    op.drop_table("warehouse_inbounds")
    with op.batch_alter_table("inbound_shipment_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_shipment_lines_tenant_id"))

    op.drop_table("inbound_shipment_lines")
    with op.batch_alter_table("transit_lanes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transit_lanes_tenant_id"))

    op.drop_table("transit_lanes")
    with op.batch_alter_table("inbound_shipments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_shipments_tenant_id"))
        batch_op.drop_index("ix_inbound_shipments_status")

    op.drop_table("inbound_shipments")
