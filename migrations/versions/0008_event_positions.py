"""Outbox positions that follow commit order.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 21:00:00

"""

from collections.abc import Sequence

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Filled by the change that needs it."""


def downgrade() -> None:
    """Filled by the change that needs it."""
