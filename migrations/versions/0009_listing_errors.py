"""Errors that belong to one listing stay on it; a webhook push is stored once.

Listings get the channel's refusal of their last push (``last_error``, ``last_error_at``,
``last_error_operation``), so one listing a marketplace does not know no longer fails the
whole connection. Webhook pushes need no new column: each is stored with a replay key in
``webhook_events.external_id`` (the channel's event id, or the digest of the verified body)
under the unique (connection_id, external_id) constraint of revision 0005; rows stored
before this revision keep a NULL key and are never matched.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 21:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("listings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_error_operation", sa.String(length=16), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("listings", schema=None) as batch_op:
        batch_op.drop_column("last_error_operation")
        batch_op.drop_column("last_error_at")
        batch_op.drop_column("last_error")
