"""After-sales cases: buyers' cancellation, return and refund requests as the channels hold
them (``aftersales_cases``), and the seller's answers pushed to the channel
(``case_responses``, at most one pending per case).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 14:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    """Create both tables and their indexes."""
    op.create_table(
        "aftersales_cases",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("connection_id", ID, nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("order_id", ID, nullable=True),
        sa.Column("order_external_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("channel_status", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("buyer_comment", sa.Text(), nullable=True),
        sa.Column("photos", JSON, nullable=False),
        sa.Column("lines", JSON, nullable=False),
        sa.Column("refund_amount", sa.Numeric(precision=19, scale=4), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("respond_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("actions", JSON, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("raw", JSON, nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_aftersales_cases_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_aftersales_cases_order_id_orders"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_aftersales_cases_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aftersales_cases")),
        sa.UniqueConstraint(
            "connection_id", "external_id", name=op.f("uq_aftersales_cases_connection_id_external_id")
        ),
    )
    op.create_index("ix_aftersales_cases_order", "aftersales_cases", ["order_id"], unique=False)
    op.create_index(
        "ix_aftersales_cases_queue", "aftersales_cases", ["tenant_id", "status", "respond_by"], unique=False
    )
    op.create_index(op.f("ix_aftersales_cases_tenant_id"), "aftersales_cases", ["tenant_id"], unique=False)
    op.create_table(
        "case_responses",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("amount", sa.Numeric(precision=19, scale=4), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("api_key_id", ID, nullable=True),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_case_responses_api_key_id_api_keys"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["aftersales_cases.id"],
            name=op.f("fk_case_responses_case_id_aftersales_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_case_responses_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_responses")),
    )
    op.create_index("ix_case_responses_case", "case_responses", ["case_id"], unique=False)
    op.create_index("ix_case_responses_status", "case_responses", ["status", "updated_at"], unique=False)
    op.create_index(op.f("ix_case_responses_tenant_id"), "case_responses", ["tenant_id"], unique=False)
    op.create_index(
        "uq_case_responses_pending",
        "case_responses",
        ["case_id"],
        unique=True,
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )


def downgrade() -> None:
    """Drop both tables."""
    op.drop_index(
        "uq_case_responses_pending",
        table_name="case_responses",
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )
    op.drop_index(op.f("ix_case_responses_tenant_id"), table_name="case_responses")
    op.drop_index("ix_case_responses_status", table_name="case_responses")
    op.drop_index("ix_case_responses_case", table_name="case_responses")
    op.drop_table("case_responses")
    op.drop_index(op.f("ix_aftersales_cases_tenant_id"), table_name="aftersales_cases")
    op.drop_index("ix_aftersales_cases_queue", table_name="aftersales_cases")
    op.drop_index("ix_aftersales_cases_order", table_name="aftersales_cases")
    op.drop_table("aftersales_cases")
