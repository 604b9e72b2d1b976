"""A shipment the channel refused to confirm for good says so, apart from one to retry.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 22:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """shipments.confirm_failed_at: set when the channel refused the confirmation for good."""
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("confirm_failed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Drop shipments.confirm_failed_at."""
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.drop_column("confirm_failed_at")
