"""``user_sessions.previous_refresh_hash``: the replaced refresh token's SHA-256, so only the
token itself, not just its public prefix, counts as a replay and revokes the session.

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
    with op.batch_alter_table("user_sessions") as batch:
        batch.add_column(sa.Column("previous_refresh_hash", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_sessions") as batch:
        batch.drop_column("previous_refresh_hash")
