"""Single sign-on: ``pending_logins.return_to``, the path of the server's own a login
started with ``?redirect=`` comes back to; ``user_identities.organization_id``, so an
identity is unique per organization (one person at a shared provider may be staff of
several), filled from each identity's user.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04 19:10:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0024"
down_revision: str | Sequence[str] | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("pending_logins", schema=None) as batch_op:
        batch_op.add_column(sa.Column("return_to", sa.String(length=2048), nullable=True))
    with op.batch_alter_table("user_identities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("organization_id", ID, nullable=True))
    op.execute(
        "UPDATE user_identities SET organization_id = "
        "(SELECT users.organization_id FROM users WHERE users.id = user_identities.user_id)"
    )
    with op.batch_alter_table("user_identities", schema=None) as batch_op:
        batch_op.alter_column("organization_id", existing_type=ID, nullable=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_user_identities_organization_id_organizations"),
            "organizations",
            ["organization_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.drop_constraint(batch_op.f("uq_user_identities_issuer_subject"), type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_user_identities_organization_id_issuer_subject"),
            ["organization_id", "issuer", "subject"],
        )


def downgrade() -> None:
    with op.batch_alter_table("user_identities", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_user_identities_organization_id_issuer_subject"), type_="unique"
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_user_identities_issuer_subject"), ["issuer", "subject"]
        )
        batch_op.drop_constraint(
            batch_op.f("fk_user_identities_organization_id_organizations"), type_="foreignkey"
        )
        batch_op.drop_column("organization_id")
    with op.batch_alter_table("pending_logins", schema=None) as batch_op:
        batch_op.drop_column("return_to")
