"""Money across borders: FX rates, pricing, promotions, tax, marketplace payouts.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 03:58:08.373732

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """FX rates, price rules, competitor prices, promotions, tax tallies, payouts; order tax and FX."""
    op.create_table(
        "fx_rates",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("base", sa.String(length=3), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("rate", sa.Numeric(precision=20, scale=10), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fx_rates")),
        sa.UniqueConstraint("day", "base", "currency", name=op.f("uq_fx_rates_day_base_currency")),
    )
    op.create_table(
        "tax_tallies",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("sales_amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("transactions", sa.Integer(), nullable=False),
        sa.Column("crossed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_tax_tallies_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_tallies")),
        sa.UniqueConstraint("tenant_id", "year", "key", name=op.f("uq_tax_tallies_tenant_id_year_key")),
    )
    with op.batch_alter_table("tax_tallies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tax_tallies_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "promotions",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("connection_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "listing_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("min_spend", sa.Numeric(precision=19, scale=4), nullable=True),
        sa.Column("bundle_quantity", sa.Integer(), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("applied", sa.String(length=16), nullable=False),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_promotions_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_promotions_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotions")),
    )
    with op.batch_alter_table("promotions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_promotions_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_promotions_window", ["tenant_id", "starts_at", "ends_at"], unique=False)

    op.create_table(
        "settlements",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("connection_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("total_amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_settlements_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_settlements_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlements")),
        sa.UniqueConstraint(
            "connection_id", "external_id", name=op.f("uq_settlements_connection_id_external_id")
        ),
    )
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_settlements_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "settlement_lines",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("settlement_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("order_external_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_settlement_lines_order_id_orders"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["settlement_id"],
            ["settlements.id"],
            name=op.f("fk_settlement_lines_settlement_id_settlements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_settlement_lines_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_lines")),
    )
    with op.batch_alter_table("settlement_lines", schema=None) as batch_op:
        batch_op.create_index("ix_settlement_lines_order", ["order_id"], unique=False)
        batch_op.create_index("ix_settlement_lines_settlement", ["settlement_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_settlement_lines_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "competitor_prices",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("listing_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("competitor", sa.String(length=128), nullable=False),
        sa.Column("amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["listings.id"],
            name=op.f("fk_competitor_prices_listing_id_listings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_competitor_prices_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_competitor_prices")),
    )
    with op.batch_alter_table("competitor_prices", schema=None) as batch_op:
        batch_op.create_index("ix_competitor_prices_listing", ["listing_id", "seen_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_competitor_prices_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "price_rules",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("listing_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("freight_amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("duty_rate", sa.Numeric(precision=7, scale=4), nullable=False),
        sa.Column("commission_rate", sa.Numeric(precision=7, scale=4), nullable=False),
        sa.Column("payment_fee_rate", sa.Numeric(precision=7, scale=4), nullable=False),
        sa.Column("payment_fee_fixed", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("tax_rate", sa.Numeric(precision=7, scale=4), nullable=False),
        sa.Column("tax_included", sa.Boolean(), nullable=False),
        sa.Column("target_margin", sa.Numeric(precision=7, scale=4), nullable=False),
        sa.Column("price_step", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("price_ending", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("floor_amount", sa.Numeric(precision=19, scale=4), nullable=True),
        sa.Column("ceiling_amount", sa.Numeric(precision=19, scale=4), nullable=True),
        sa.Column("reprice", sa.String(length=16), nullable=False),
        sa.Column("undercut_step", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["listings.id"],
            name=op.f("fk_price_rules_listing_id_listings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_price_rules_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_rules")),
        sa.UniqueConstraint("listing_id", name=op.f("uq_price_rules_listing_id")),
    )
    with op.batch_alter_table("price_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_price_rules_tenant_id"), ["tenant_id"], unique=False)

    with op.batch_alter_table("listings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "issues",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
                server_default=sa.text("'[]'"),  # existing listings have no known problem
            )
        )
        batch_op.add_column(
            sa.Column("regular_price_amount", sa.Numeric(precision=19, scale=4), nullable=True)
        )

    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tax_rate", sa.Numeric(precision=7, scale=4), nullable=True))
        batch_op.add_column(sa.Column("tax_amount", sa.Numeric(precision=19, scale=4), nullable=True))
        batch_op.add_column(sa.Column("tax_scheme", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("tax_collected_by", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("tax_jurisdiction", sa.String(length=16), nullable=True))

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("base_currency", sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column("base_total_amount", sa.Numeric(precision=19, scale=4), nullable=True))
        batch_op.add_column(sa.Column("fx_rate", sa.Numeric(precision=20, scale=10), nullable=True))
        batch_op.add_column(sa.Column("fx_day", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("tax_amount", sa.Numeric(precision=19, scale=4), nullable=True))

    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("category", sa.String(length=64), nullable=True))

    with op.batch_alter_table("variants", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("tax_class", sa.String(length=32), server_default="standard", nullable=False)
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("variants", schema=None) as batch_op:
        batch_op.drop_column("tax_class")

    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_column("category")

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("tax_amount")
        batch_op.drop_column("fx_day")
        batch_op.drop_column("fx_rate")
        batch_op.drop_column("base_total_amount")
        batch_op.drop_column("base_currency")

    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_column("tax_jurisdiction")
        batch_op.drop_column("tax_collected_by")
        batch_op.drop_column("tax_scheme")
        batch_op.drop_column("tax_amount")
        batch_op.drop_column("tax_rate")

    with op.batch_alter_table("listings", schema=None) as batch_op:
        batch_op.drop_column("regular_price_amount")
        batch_op.drop_column("issues")

    with op.batch_alter_table("price_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_price_rules_tenant_id"))

    op.drop_table("price_rules")
    with op.batch_alter_table("competitor_prices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_competitor_prices_tenant_id"))
        batch_op.drop_index("ix_competitor_prices_listing")

    op.drop_table("competitor_prices")
    with op.batch_alter_table("settlement_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_settlement_lines_tenant_id"))
        batch_op.drop_index("ix_settlement_lines_settlement")
        batch_op.drop_index("ix_settlement_lines_order")

    op.drop_table("settlement_lines")
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_settlements_tenant_id"))

    op.drop_table("settlements")
    with op.batch_alter_table("promotions", schema=None) as batch_op:
        batch_op.drop_index("ix_promotions_window")
        batch_op.drop_index(batch_op.f("ix_promotions_tenant_id"))

    op.drop_table("promotions")
    with op.batch_alter_table("tax_tallies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tax_tallies_tenant_id"))

    op.drop_table("tax_tallies")
    op.drop_table("fx_rates")
