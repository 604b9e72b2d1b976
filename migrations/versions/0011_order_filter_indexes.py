"""Indexes for the orders list's date filters and sort keys, and its SKU filter.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 02:55:00

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ORDER_INDEXES = {
    "ix_orders_tenant_created": ["tenant_id", "created_at", "id"],
    "ix_orders_tenant_updated": ["tenant_id", "updated_at", "id"],
    "ix_orders_tenant_placed": ["tenant_id", "placed_at", "id"],
}


def upgrade() -> None:
    """orders by (tenant, created/updated/placed, id); order lines by (tenant, SKU)."""
    for name, columns in ORDER_INDEXES.items():
        op.create_index(name, "orders", columns)
    op.create_index("ix_order_lines_tenant_sku", "order_lines", ["tenant_id", "sku"])


def downgrade() -> None:
    """Drop the four indexes."""
    op.drop_index("ix_order_lines_tenant_sku", table_name="order_lines")
    for name in ORDER_INDEXES:
        op.drop_index(name, table_name="orders")
