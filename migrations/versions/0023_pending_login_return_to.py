"""Single sign-on: ``pending_logins.return_to``, the path of the server's own a login
started with ``?redirect=`` comes back to.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04 19:10:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0023"
down_revision: str | Sequence[str] | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the column."""
    with op.batch_alter_table("pending_logins", schema=None) as batch_op:
        batch_op.add_column(sa.Column("return_to", sa.String(length=2048), nullable=True))


def downgrade() -> None:
    """Drop the column."""
    with op.batch_alter_table("pending_logins", schema=None) as batch_op:
        batch_op.drop_column("return_to")
