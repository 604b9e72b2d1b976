"""Organizations, tenants and API keys: who may see what."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crossdock.db.base import ID, Base, Json, utcnow

__all__ = ["ApiKey", "Organization", "Tenant", "api_key_tenants"]


class Organization(Base):
    """An agency or a single seller; owns tenants and API keys."""

    __tablename__ = "organizations"

    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Tenant(Base):
    """A client brand: the unit of data isolation. Every business row carries its id."""

    __tablename__ = "tenants"

    organization_id: Mapped[int] = mapped_column(
        ID, ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str]
    settings: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organization: Mapped[Organization] = relationship(lazy="raise")


api_key_tenants = Table(
    "api_key_tenants",
    Base.metadata,
    Column("api_key_id", ID, ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
)


class ApiKey(Base):
    """A secret shown once; only its SHA-256 is stored, looked up by its public prefix.

    ``all_tenants`` keys reach every tenant of the organization, including later ones;
    otherwise ``tenants`` lists them.
    """

    __tablename__ = "api_keys"

    organization_id: Mapped[int] = mapped_column(
        ID, ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str]
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(Json, default=list)
    all_tenants: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    tenants: Mapped[list[Tenant]] = relationship(secondary=api_key_tenants, lazy="raise")
