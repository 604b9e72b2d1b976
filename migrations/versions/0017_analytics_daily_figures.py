"""The daily rollup per connection also carries the line figures, ads and per-SKU traffic of
the SKU rollup, added up over the SKUs: reads without a SKU dimension (a tenant's totals, its
chart series by day, week or month, a channel's or a shop's figures) add up days x shops
rows instead of days x shops x SKUs.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 06:40:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = (
    "revenue",
    "tax",
    "shipping_income",
    "marketplace_fees",
    "fulfilment_fees",
    "shipping_cost",
    "payment_fees",
    "refunds",
    "cogs",
    "write_off",
    "ad_spend",
    "ad_sales",
)
COUNTS = ("returned_units", "estimated", "lines", "ad_orders", "ad_clicks", "ad_impressions")
#: SKU rollup column -> daily rollup column, where the names differ (the daily rollup's own
#: ``sessions`` and ``page_views`` are the shop's total traffic)
RENAMED = {"sessions": "sku_sessions", "page_views": "sku_page_views"}


def upgrade() -> None:
    with op.batch_alter_table("analytics_daily", schema=None) as batch_op:
        for name in MONEY:
            batch_op.add_column(
                sa.Column(name, sa.Numeric(precision=19, scale=4), nullable=False, server_default="0")
            )
        for name in (*COUNTS, *RENAMED.values()):
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
    # what the SKU rollup holds already, added up per day and connection
    source = [*MONEY, *COUNTS, *RENAMED]
    target = [*MONEY, *COUNTS, *RENAMED.values()]
    op.execute(
        f"""
        INSERT INTO analytics_daily (tenant_id, day, connection_id, currency, gmv, orders, units,
            cancelled, returned, refunded, shipped, shipped_late, tracked, repeat, known_buyer,
            unconverted, sessions, page_views, {", ".join(target)})
        SELECT tenant_id, day, connection_id, min(currency), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            {", ".join(f"sum({c})" for c in source)}
        FROM analytics_sku_daily WHERE true
        GROUP BY tenant_id, day, connection_id
        ON CONFLICT (tenant_id, day, connection_id) DO UPDATE SET
            {", ".join(f"{c} = excluded.{c}" for c in target)}
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("analytics_daily", schema=None) as batch_op:
        for name in (*MONEY, *COUNTS, *RENAMED.values()):
            batch_op.drop_column(name)
