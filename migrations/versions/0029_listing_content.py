"""Listing content: ``listing_contents`` (a variant's title, bullets, description, keywords,
brand, channel category and attributes, images, per shop and language, with each field's
review status and how its publication went), ``listing_content_versions`` (what each save
changed, and who), and the channels' category trees and category rules cached per shop
(``channel_category_cache``, ``channel_rules_cache``).

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07 23:33:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0029"
down_revision: str | Sequence[str] | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "channel_category_cache",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("connection_id", ID, nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("categories", JSON, nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_channel_category_cache_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_channel_category_cache_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_category_cache")),
        sa.UniqueConstraint(
            "connection_id", "language", name=op.f("uq_channel_category_cache_connection_id_language")
        ),
    )
    with op.batch_alter_table("channel_category_cache", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_channel_category_cache_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "channel_rules_cache",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("connection_id", ID, nullable=False),
        sa.Column("category_id", sa.String(length=128), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("rules", JSON, nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_channel_rules_cache_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_channel_rules_cache_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_rules_cache")),
        sa.UniqueConstraint(
            "connection_id",
            "category_id",
            "language",
            name=op.f("uq_channel_rules_cache_connection_id_category_id_language"),
        ),
    )
    with op.batch_alter_table("channel_rules_cache", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_channel_rules_cache_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "listing_contents",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("variant_id", ID, nullable=False),
        sa.Column("connection_id", ID, nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("bullets", JSON, nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("keywords", JSON, nullable=False),
        sa.Column("brand", sa.String(length=128), nullable=True),
        sa.Column("category_id", sa.String(length=128), nullable=True),
        sa.Column("attributes", JSON, nullable=False),
        sa.Column("images", JSON, nullable=False),
        sa.Column("field_status", JSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=254), nullable=True),
        sa.Column("publish_status", sa.String(length=16), nullable=False),
        sa.Column("problems", JSON, nullable=False),
        sa.Column("published_version", sa.Integer(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("publish_attempts", sa.Integer(), nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_listing_contents_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_listing_contents_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["variants.id"],
            name=op.f("fk_listing_contents_variant_id_variants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listing_contents")),
        sa.UniqueConstraint(
            "variant_id",
            "connection_id",
            "language",
            name=op.f("uq_listing_contents_variant_id_connection_id_language"),
        ),
    )
    with op.batch_alter_table("listing_contents", schema=None) as batch_op:
        batch_op.create_index("ix_listing_contents_publish", ["tenant_id", "publish_status"], unique=False)
        batch_op.create_index(batch_op.f("ix_listing_contents_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "listing_content_versions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("content_id", ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changes", JSON, nullable=False),
        sa.Column("actor", sa.String(length=254), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["content_id"],
            ["listing_contents.id"],
            name=op.f("fk_listing_content_versions_content_id_listing_contents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_listing_content_versions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listing_content_versions")),
        sa.UniqueConstraint(
            "content_id", "version", name=op.f("uq_listing_content_versions_content_id_version")
        ),
    )
    with op.batch_alter_table("listing_content_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_listing_content_versions_tenant_id"), ["tenant_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("listing_content_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_listing_content_versions_tenant_id"))

    op.drop_table("listing_content_versions")
    with op.batch_alter_table("listing_contents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_listing_contents_tenant_id"))
        batch_op.drop_index("ix_listing_contents_publish")

    op.drop_table("listing_contents")
    with op.batch_alter_table("channel_rules_cache", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_rules_cache_tenant_id"))

    op.drop_table("channel_rules_cache")
    with op.batch_alter_table("channel_category_cache", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_category_cache_tenant_id"))

    op.drop_table("channel_category_cache")
