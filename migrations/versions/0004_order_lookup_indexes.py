"""order lookup indexes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 13:13:14.337685

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index("ix_orders_connection_id", ["connection_id", "id"], unique=False)
        batch_op.create_index("ix_orders_tenant_buyer_email", ["tenant_id", "buyer_email"], unique=False)
        batch_op.create_index("ix_orders_tenant_buyer_name", ["tenant_id", "buyer_name"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_tenant_buyer_name")
        batch_op.drop_index("ix_orders_tenant_buyer_email")
        batch_op.drop_index("ix_orders_connection_id")
