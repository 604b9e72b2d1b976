"""Indexes the operations reports read a large history by: open orders by deadline (a
partial index: late and at-risk shipments among a million delivered ones), and a tenant's
messages by time (reply times over a period).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 07:20:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: as ``crossdock.db.models.orders.OPEN_SQL`` states it today (a migration keeps its own copy)
OPEN_SQL = "status IN ('pending', 'ready', 'allocated', 'picking', 'packed')"


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_orders_open_ship_by",
            ["tenant_id", "ship_by"],
            unique=False,
            postgresql_where=sa.text(OPEN_SQL),
            sqlite_where=sa.text(OPEN_SQL),
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index("ix_messages_tenant_sent", ["tenant_id", "sent_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_tenant_sent")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_open_ship_by")
