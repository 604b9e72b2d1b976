"""Listing content: what a variant says on one shop in one language (title, bullets,
description, keywords, brand, the channel's category and attributes, images), with every
version kept, each field's review status, and how its publication to the channel went;
and the channel's category tree and category rules, cached per shop.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crossdock.db.base import ID, Base, Json, TenantScoped, Timestamped, utcnow

__all__ = [
    "CONTENT_FIELDS",
    "CategoryCache",
    "FieldStatus",
    "ListingContent",
    "ListingContentVersion",
    "PublishStatus",
    "RulesCache",
]

#: The fields of listing content a version records and a review covers.
CONTENT_FIELDS = (
    "title",
    "bullets",
    "description",
    "keywords",
    "brand",
    "category_id",
    "attributes",
    "images",
)


class FieldStatus(StrEnum):
    """Who stands behind a field's text."""

    MANUAL = "manual"  #: written (or changed) by a person
    MACHINE = "machine"  #: machine-translated, not reviewed yet
    REVIEWED = "reviewed"  #: machine-translated, then reviewed by a person


class PublishStatus(StrEnum):
    """Where the content is with its channel."""

    DRAFT = "draft"  #: never sent
    QUEUED = "queued"  #: the ``listing_publish`` job will send it
    PUBLISHED = "published"  #: the channel took this version
    PENDING = "pending"  #: the channel is processing it (its answer comes later)
    REJECTED = "rejected"  #: the channel (or a check before sending) refused it: ``problems``
    FAILED = "failed"  #: the channel could not be reached for good (``problems`` say why)
    DEACTIVATED = "deactivated"  #: taken off sale on the channel


class ListingContent(TenantScoped, Timestamped, Base):
    """A variant's listing content for one shop (connection) in one language."""

    __tablename__ = "listing_contents"
    __table_args__ = (
        UniqueConstraint("variant_id", "connection_id", "language"),
        Index("ix_listing_contents_publish", "tenant_id", "publish_status"),
    )

    variant_id: Mapped[int] = mapped_column(ID, ForeignKey("variants.id", ondelete="CASCADE"))
    connection_id: Mapped[int] = mapped_column(ID, ForeignKey("connections.id", ondelete="CASCADE"))
    #: BCP 47 tag: ``en``, ``de``, ``ms``, ``zh-Hans``
    language: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text, default="")
    bullets: Mapped[list[str]] = mapped_column(Json, default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    keywords: Mapped[list[str]] = mapped_column(Json, default=list)
    brand: Mapped[str | None] = mapped_column(String(128))
    #: the channel's category (a leaf of its tree)
    category_id: Mapped[str | None] = mapped_column(String(128))
    #: the channel's attributes by its own names
    attributes: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    #: [{key, content_type, width, height, bytes, format}] in order, the first the main image
    images: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    #: field -> FieldStatus
    field_status: Mapped[dict[str, str]] = mapped_column(Json, default=dict)
    version: Mapped[int] = mapped_column(default=1)
    #: who saved the current version (a user's e-mail, an API key's name, "translator")
    updated_by: Mapped[str | None] = mapped_column(String(254))
    publish_status: Mapped[str] = mapped_column(String(16), default=PublishStatus.DRAFT)
    #: the channel's (or the checks') problems with the last version sent: [{code, message, field, severity}]
    problems: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    published_version: Mapped[int | None]
    published_at: Mapped[datetime | None]
    publish_attempts: Mapped[int] = mapped_column(default=0)


class ListingContentVersion(TenantScoped, Base):
    """One saved version of a listing's content: what changed, and who changed it."""

    __tablename__ = "listing_content_versions"
    __table_args__ = (UniqueConstraint("content_id", "version"),)

    content_id: Mapped[int] = mapped_column(ID, ForeignKey("listing_contents.id", ondelete="CASCADE"))
    version: Mapped[int]
    #: field -> [before, after]
    changes: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    actor: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CategoryCache(TenantScoped, Base):
    """A shop's channel category tree in one language, as last fetched."""

    __tablename__ = "channel_category_cache"
    __table_args__ = (UniqueConstraint("connection_id", "language"),)

    connection_id: Mapped[int] = mapped_column(ID, ForeignKey("connections.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(16))
    #: [{id, name, parent_id, leaf}]
    categories: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)


class RulesCache(TenantScoped, Base):
    """What a channel category requires, as last fetched for a shop."""

    __tablename__ = "channel_rules_cache"
    __table_args__ = (UniqueConstraint("connection_id", "category_id", "language"),)

    connection_id: Mapped[int] = mapped_column(ID, ForeignKey("connections.id", ondelete="CASCADE"))
    category_id: Mapped[str] = mapped_column(String(128))
    language: Mapped[str] = mapped_column(String(16))
    rules: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
