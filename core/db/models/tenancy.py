"""Organizations, tenants and API keys: who may see what."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, ForeignKey, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crossdock.db.base import ID, Base, Json, TenantScoped, utcnow

__all__ = ["ApiKey", "IdempotencyKey", "IdempotencyState", "Organization", "Tenant", "api_key_tenants"]


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


class IdempotencyState(StrEnum):
    #: A request holds the key (until ``locked_until``); nothing of it is committed yet.
    STARTED = "started"
    #: A mutation of the request committed; its answer is not stored yet.
    COMMITTED = "committed"
    #: The answer is stored and is what a repeat of the request gets.
    DONE = "done"


class IdempotencyKey(TenantScoped, Base):
    """One ``Idempotency-Key`` a client sent with a request, per tenant, for 24 hours.

    ``token`` fences the request holding the key: a mutation marks the key ``committed`` in
    its own transaction only while its token still holds it, so a request that lost the
    key (its lease ran out and a repeat took over) cannot commit as well.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)

    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=IdempotencyState.STARTED)
    token: Mapped[str] = mapped_column(String(32))
    locked_until: Mapped[datetime]
    status_code: Mapped[int | None]
    content_type: Mapped[str | None] = mapped_column(String(128))
    response: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
