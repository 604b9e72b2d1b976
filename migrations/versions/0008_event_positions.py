"""Outbox positions that follow commit order.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 21:00:00

Each event gets ``txid``, the id of the transaction that wrote it (PostgreSQL's
``pg_current_xact_id()``; ``0`` on SQLite, whose writers are serialised), and readers follow
``(txid, id)`` below the oldest running transaction (see ``crossdock.services.events``).

Existing rows get ``0``: they were all committed before the migration, so they come first,
in their id order, before every event written afterwards. On PostgreSQL the column is added
with the constant default (no table rewrite) and only then given the per-transaction
default, which applies to new rows only.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """events.txid (backfilled with 0), read per tenant through (tenant_id, txid, id)."""
    op.add_column("events", sa.Column("txid", sa.BigInteger(), server_default="0", nullable=False))
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("events", "txid", server_default=sa.text("(pg_current_xact_id()::text::bigint)"))
    op.create_index("ix_events_tenant_id_txid_id", "events", ["tenant_id", "txid", "id"], unique=False)
    op.drop_index("ix_events_tenant_id_id", table_name="events")


def downgrade() -> None:
    """Back to id order (which can skip an event committed after a later one)."""
    op.create_index("ix_events_tenant_id_id", "events", ["tenant_id", "id"], unique=False)
    op.drop_index("ix_events_tenant_id_txid_id", table_name="events")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("txid")
