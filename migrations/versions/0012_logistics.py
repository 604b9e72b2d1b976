"""Logistics: carrier accounts, routing rules, label purchases, shipment packages,
documents, tracking events, exceptions and buyer-notice rules; what carriers need on
variants (size, HS code, origin, customs description, item flags); tracking on shipments.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 07:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

SHIPMENT_COLUMNS = [
    ("tracking_status", sa.String(length=24)),
    ("tracking_reason", sa.String(length=32)),
    ("last_event_at", sa.DateTime(timezone=True)),
    ("tracking_checked_at", sa.DateTime(timezone=True)),
    ("estimated_delivery", sa.Date()),
    ("delivered_at", sa.DateTime(timezone=True)),
]
VARIANT_COLUMNS = [
    ("length_mm", sa.Integer()),
    ("width_mm", sa.Integer()),
    ("height_mm", sa.Integer()),
    ("hs_code", sa.String(length=16)),
    ("origin_country", sa.String(length=2)),
    ("customs_description", sa.String(length=255)),
]


def upgrade() -> None:
    """The logistics tables, and their columns on shipments and variants."""
    op.create_table(
        "exception_notice_rules",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("template", sa.String(length=64), nullable=False),
        sa.Column("countries", JSON, nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_exception_notice_rules_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exception_notice_rules")),
    )
    op.create_index(
        "ix_exception_notice_rules_tenant",
        "exception_notice_rules",
        ["tenant_id", "kind", "priority"],
        unique=False,
    )
    op.create_index(
        op.f("ix_exception_notice_rules_tenant_id"), "exception_notice_rules", ["tenant_id"], unique=False
    )
    op.create_table(
        "routing_rules",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("conditions", JSON, nullable=False),
        sa.Column("services", JSON, nullable=False),
        sa.Column("strategy", sa.String(length=16), nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_routing_rules_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_rules")),
    )
    op.create_index(op.f("ix_routing_rules_tenant_id"), "routing_rules", ["tenant_id"], unique=False)
    op.create_index(
        "ix_routing_rules_tenant_priority", "routing_rules", ["tenant_id", "priority"], unique=False
    )
    op.create_table(
        "carrier_accounts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("carrier", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("credentials_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("base_url", sa.String(length=512), nullable=True),
        sa.Column("settings", JSON, nullable=False),
        sa.Column("connection_id", ID, nullable=True),
        sa.Column("webhook_key", sa.String(length=43), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_carrier_accounts_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_carrier_accounts_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_carrier_accounts")),
        sa.UniqueConstraint(
            "tenant_id", "carrier", "name", name=op.f("uq_carrier_accounts_tenant_id_carrier_name")
        ),
        sa.UniqueConstraint("webhook_key", name=op.f("uq_carrier_accounts_webhook_key")),
    )
    op.create_index(op.f("ix_carrier_accounts_tenant_id"), "carrier_accounts", ["tenant_id"], unique=False)
    op.create_table(
        "label_purchases",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("shipment_id", ID, nullable=False),
        sa.Column("carrier_account_id", ID, nullable=False),
        sa.Column("carrier", sa.String(length=32), nullable=False),
        sa.Column("service", sa.String(length=64), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("request", JSON, nullable=False),
        sa.Column("carrier_shipment_id", sa.String(length=128), nullable=True),
        sa.Column("tracking_numbers", JSON, nullable=False),
        sa.Column("cost_amount", sa.Numeric(precision=19, scale=4), nullable=True),
        sa.Column("cost_currency", sa.String(length=3), nullable=True),
        sa.Column("estimated_delivery", sa.Date(), nullable=True),
        sa.Column("channel_confirmed", sa.Boolean(), nullable=False),
        sa.Column("carrier_data", JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("decision", JSON, nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["carrier_account_id"],
            ["carrier_accounts.id"],
            name=op.f("fk_label_purchases_carrier_account_id_carrier_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["shipments.id"],
            name=op.f("fk_label_purchases_shipment_id_shipments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_label_purchases_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_label_purchases")),
        sa.UniqueConstraint("tenant_id", "reference", name=op.f("uq_label_purchases_tenant_id_reference")),
    )
    op.create_index("ix_label_purchases_shipment", "label_purchases", ["shipment_id"], unique=False)
    op.create_index("ix_label_purchases_status", "label_purchases", ["status", "updated_at"], unique=False)
    op.create_index(op.f("ix_label_purchases_tenant_id"), "label_purchases", ["tenant_id"], unique=False)
    op.create_table(
        "shipment_exceptions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("shipment_id", ID, nullable=False),
        sa.Column("order_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notice_error", sa.Text(), nullable=True),
        sa.Column("tenant_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_shipment_exceptions_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["shipments.id"],
            name=op.f("fk_shipment_exceptions_shipment_id_shipments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_shipment_exceptions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipment_exceptions")),
        sa.UniqueConstraint("shipment_id", "kind", name=op.f("uq_shipment_exceptions_shipment_id_kind")),
    )
    op.create_index(
        op.f("ix_shipment_exceptions_tenant_id"), "shipment_exceptions", ["tenant_id"], unique=False
    )
    op.create_index(
        "ix_shipment_exceptions_tenant_open",
        "shipment_exceptions",
        ["tenant_id", "resolved_at", "raised_at"],
        unique=False,
    )
    op.create_table(
        "shipment_packages",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("shipment_id", ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("weight_grams", sa.Integer(), nullable=False),
        sa.Column("length_mm", sa.Integer(), nullable=True),
        sa.Column("width_mm", sa.Integer(), nullable=True),
        sa.Column("height_mm", sa.Integer(), nullable=True),
        sa.Column("tracking_number", sa.String(length=128), nullable=True),
        sa.Column("tenant_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["shipments.id"],
            name=op.f("fk_shipment_packages_shipment_id_shipments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_shipment_packages_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipment_packages")),
    )
    op.create_index("ix_shipment_packages_shipment", "shipment_packages", ["shipment_id"], unique=False)
    op.create_index(op.f("ix_shipment_packages_tenant_id"), "shipment_packages", ["tenant_id"], unique=False)
    op.create_table(
        "tracking_events",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("shipment_id", ID, nullable=False),
        sa.Column("tracking_number", sa.String(length=128), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("location", sa.String(length=128), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["shipments.id"],
            name=op.f("fk_tracking_events_shipment_id_shipments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tracking_events_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_events")),
        sa.UniqueConstraint(
            "shipment_id", "fingerprint", name=op.f("uq_tracking_events_shipment_id_fingerprint")
        ),
    )
    op.create_index(
        "ix_tracking_events_shipment_time", "tracking_events", ["shipment_id", "occurred_at"], unique=False
    )
    op.create_index(op.f("ix_tracking_events_tenant_id"), "tracking_events", ["tenant_id"], unique=False)
    op.create_table(
        "shipment_documents",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("shipment_id", ID, nullable=False),
        sa.Column("label_purchase_id", ID, nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("storage_key", sa.String(length=255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["label_purchase_id"],
            ["label_purchases.id"],
            name=op.f("fk_shipment_documents_label_purchase_id_label_purchases"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["shipments.id"],
            name=op.f("fk_shipment_documents_shipment_id_shipments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_shipment_documents_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipment_documents")),
        sa.UniqueConstraint(
            "tenant_id", "storage_key", name=op.f("uq_shipment_documents_tenant_id_storage_key")
        ),
    )
    op.create_index("ix_shipment_documents_shipment", "shipment_documents", ["shipment_id"], unique=False)
    op.create_index(
        op.f("ix_shipment_documents_tenant_id"), "shipment_documents", ["tenant_id"], unique=False
    )
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("carrier_account_id", ID, nullable=True))
        for name, type_ in SHIPMENT_COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))
        batch_op.create_index("ix_shipments_tracking", ["status", "tracking_status", "tracking_checked_at"])
        batch_op.create_foreign_key(
            op.f("fk_shipments_carrier_account_id_carrier_accounts"),
            "carrier_accounts",
            ["carrier_account_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("warehouses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address", JSON, server_default="{}", nullable=False))
    with op.batch_alter_table("variants", schema=None) as batch_op:
        for name, type_ in VARIANT_COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))
        batch_op.add_column(sa.Column("item_flags", JSON, server_default="[]", nullable=False))


def downgrade() -> None:
    """Drop the logistics tables and columns."""
    with op.batch_alter_table("warehouses", schema=None) as batch_op:
        batch_op.drop_column("address")
    with op.batch_alter_table("variants", schema=None) as batch_op:
        batch_op.drop_column("item_flags")
        for name, _ in reversed(VARIANT_COLUMNS):
            batch_op.drop_column(name)
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_shipments_carrier_account_id_carrier_accounts"), type_="foreignkey")
        batch_op.drop_index("ix_shipments_tracking")
        for name, _ in reversed(SHIPMENT_COLUMNS):
            batch_op.drop_column(name)
        batch_op.drop_column("carrier_account_id")
    for table in (
        "shipment_documents",
        "tracking_events",
        "shipment_packages",
        "shipment_exceptions",
        "label_purchases",
        "carrier_accounts",
        "routing_rules",
        "exception_notice_rules",
    ):
        op.drop_table(table)
