"""Tracking: indexes for an account's active shipments least recently checked first and
for shipments (and packages) by tracking number (carrier pushes); the message that
carries an exception's buyer notice.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 07:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """shipments by (tenant, carrier account, status, tracking status, checked) and by (tenant, tracking
    number); packages by (tenant, tracking number); shipment_exceptions.notice_message_id."""
    with op.batch_alter_table("shipment_exceptions") as batch:
        batch.add_column(sa.Column("notice_message_id", ID, nullable=True))
        batch.create_foreign_key(
            "fk_shipment_exceptions_notice_message_id_messages",
            "messages",
            ["notice_message_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_index(
        "ix_shipments_account_tracking",
        "shipments",
        ["tenant_id", "carrier_account_id", "status", "tracking_status", "tracking_checked_at"],
    )
    op.create_index("ix_shipments_tracking_number", "shipments", ["tenant_id", "tracking_number"])
    op.create_index(
        "ix_shipment_packages_tracking_number", "shipment_packages", ["tenant_id", "tracking_number"]
    )


def downgrade() -> None:
    """Drop the three indexes and the column."""
    with op.batch_alter_table("shipment_exceptions") as batch:
        batch.drop_constraint("fk_shipment_exceptions_notice_message_id_messages", type_="foreignkey")
        batch.drop_column("notice_message_id")
    op.drop_index("ix_shipment_packages_tracking_number", table_name="shipment_packages")
    op.drop_index("ix_shipments_tracking_number", table_name="shipments")
    op.drop_index("ix_shipments_account_tracking", table_name="shipments")
