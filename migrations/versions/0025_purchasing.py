"""Purchasing: ``suppliers`` and ``supplier_items`` (a variant as a supplier sells it:
lead time, MOQ, case pack, price breaks), ``purchase_orders`` and their lines (ordered,
received, damaged), ``purchase_receipts`` and their lines (each good unit's landed cost).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-04 19:31:25

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0025"
down_revision: str | Sequence[str] | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "suppliers",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("payment_terms_days", sa.Integer(), nullable=False),
        sa.Column("lead_time_days", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("lead_time_sd_days", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("lead_time_days > 0", name=op.f("ck_suppliers_lead_time_positive")),
        sa.CheckConstraint("lead_time_sd_days >= 0", name=op.f("ck_suppliers_lead_time_sd_nonnegative")),
        sa.CheckConstraint("payment_terms_days >= 0", name=op.f("ck_suppliers_payment_terms_nonnegative")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_suppliers_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppliers")),
        sa.UniqueConstraint("tenant_id", "code", name=op.f("uq_suppliers_tenant_id_code")),
    )
    with op.batch_alter_table("suppliers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_suppliers_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "purchase_orders",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("supplier_id", ID, nullable=False),
        sa.Column("warehouse_id", ID, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("expected_on", sa.Date(), nullable=True),
        sa.Column("freight", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("duty", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("duty >= 0", name=op.f("ck_purchase_orders_duty_nonnegative")),
        sa.CheckConstraint("freight >= 0", name=op.f("ck_purchase_orders_freight_nonnegative")),
        sa.ForeignKeyConstraint(
            ["supplier_id"],
            ["suppliers.id"],
            name=op.f("fk_purchase_orders_supplier_id_suppliers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_purchase_orders_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["warehouse_id"],
            ["warehouses.id"],
            name=op.f("fk_purchase_orders_warehouse_id_warehouses"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_orders")),
        sa.UniqueConstraint("tenant_id", "number", name=op.f("uq_purchase_orders_tenant_id_number")),
    )
    with op.batch_alter_table("purchase_orders", schema=None) as batch_op:
        batch_op.create_index("ix_purchase_orders_status", ["tenant_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_purchase_orders_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "supplier_items",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("supplier_id", ID, nullable=False),
        sa.Column("variant_id", ID, nullable=False),
        sa.Column("supplier_sku", sa.String(length=128), nullable=True),
        sa.Column("lead_time_days", sa.Numeric(precision=19, scale=4), nullable=True),
        sa.Column("lead_time_sd_days", sa.Numeric(precision=19, scale=4), nullable=True),
        sa.Column("moq", sa.Integer(), nullable=False),
        sa.Column("case_pack", sa.Integer(), nullable=False),
        sa.Column("price_breaks", JSON, nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("case_pack >= 1", name=op.f("ck_supplier_items_case_pack_positive")),
        sa.CheckConstraint("moq >= 1", name=op.f("ck_supplier_items_moq_positive")),
        sa.ForeignKeyConstraint(
            ["supplier_id"],
            ["suppliers.id"],
            name=op.f("fk_supplier_items_supplier_id_suppliers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_supplier_items_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["variants.id"],
            name=op.f("fk_supplier_items_variant_id_variants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier_items")),
        sa.UniqueConstraint(
            "supplier_id", "variant_id", name=op.f("uq_supplier_items_supplier_id_variant_id")
        ),
    )
    with op.batch_alter_table("supplier_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_supplier_items_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_supplier_items_variant", ["tenant_id", "variant_id"], unique=False)

    op.create_table(
        "purchase_order_lines",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("purchase_order_id", ID, nullable=False),
        sa.Column("variant_id", ID, nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("received_quantity", sa.Integer(), nullable=False),
        sa.Column("damaged_quantity", sa.Integer(), nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.CheckConstraint("damaged_quantity >= 0", name=op.f("ck_purchase_order_lines_damaged_nonnegative")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_purchase_order_lines_quantity_positive")),
        sa.CheckConstraint(
            "received_quantity >= 0", name=op.f("ck_purchase_order_lines_received_nonnegative")
        ),
        sa.CheckConstraint("unit_price >= 0", name=op.f("ck_purchase_order_lines_unit_price_nonnegative")),
        sa.ForeignKeyConstraint(
            ["purchase_order_id"],
            ["purchase_orders.id"],
            name=op.f("fk_purchase_order_lines_purchase_order_id_purchase_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_purchase_order_lines_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["variants.id"],
            name=op.f("fk_purchase_order_lines_variant_id_variants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_order_lines")),
        sa.UniqueConstraint(
            "purchase_order_id",
            "variant_id",
            name=op.f("uq_purchase_order_lines_purchase_order_id_variant_id"),
        ),
    )
    with op.batch_alter_table("purchase_order_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_purchase_order_lines_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_purchase_order_lines_variant", ["tenant_id", "variant_id"], unique=False)

    op.create_table(
        "purchase_receipts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("purchase_order_id", ID, nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["purchase_order_id"],
            ["purchase_orders.id"],
            name=op.f("fk_purchase_receipts_purchase_order_id_purchase_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_purchase_receipts_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_receipts")),
    )
    with op.batch_alter_table("purchase_receipts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_purchase_receipts_purchase_order_id"), ["purchase_order_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_purchase_receipts_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "purchase_receipt_lines",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("receipt_id", ID, nullable=False),
        sa.Column("line_id", ID, nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("damaged", sa.Integer(), nullable=False),
        sa.Column("unit_cost", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.CheckConstraint("damaged >= 0", name=op.f("ck_purchase_receipt_lines_damaged_nonnegative")),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_purchase_receipt_lines_quantity_nonnegative")),
        sa.ForeignKeyConstraint(
            ["line_id"],
            ["purchase_order_lines.id"],
            name=op.f("fk_purchase_receipt_lines_line_id_purchase_order_lines"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["receipt_id"],
            ["purchase_receipts.id"],
            name=op.f("fk_purchase_receipt_lines_receipt_id_purchase_receipts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_purchase_receipt_lines_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_receipt_lines")),
    )
    with op.batch_alter_table("purchase_receipt_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_purchase_receipt_lines_receipt_id"), ["receipt_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_purchase_receipt_lines_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("purchase_receipt_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_purchase_receipt_lines_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_purchase_receipt_lines_receipt_id"))

    op.drop_table("purchase_receipt_lines")
    with op.batch_alter_table("purchase_receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_purchase_receipts_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_purchase_receipts_purchase_order_id"))

    op.drop_table("purchase_receipts")
    with op.batch_alter_table("purchase_order_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_purchase_order_lines_variant")
        batch_op.drop_index(batch_op.f("ix_purchase_order_lines_tenant_id"))

    op.drop_table("purchase_order_lines")
    with op.batch_alter_table("supplier_items", schema=None) as batch_op:
        batch_op.drop_index("ix_supplier_items_variant")
        batch_op.drop_index(batch_op.f("ix_supplier_items_tenant_id"))

    op.drop_table("supplier_items")
    with op.batch_alter_table("purchase_orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_purchase_orders_tenant_id"))
        batch_op.drop_index("ix_purchase_orders_status")

    op.drop_table("purchase_orders")
    with op.batch_alter_table("suppliers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_suppliers_tenant_id"))

    op.drop_table("suppliers")
