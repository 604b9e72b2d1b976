"""Declarative base, column types and mixins shared by every model."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    String,
    any_,
    bindparam,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "ID",
    "Base",
    "Json",
    "Money",
    "TenantScoped",
    "Timestamped",
    "UTCDateTime",
    "among",
    "utcnow",
]

#: Primary keys: BIGINT identity on PostgreSQL, the rowid alias on SQLite.
ID = BigInteger().with_variant(Integer(), "sqlite")
#: Amounts: 19 digits with 4 decimals covers every ISO currency's minor units.
Money = Numeric(19, 4, asdecimal=True)
#: Documents (raw payloads, settings): JSONB on PostgreSQL.
Json = JSON().with_variant(JSONB(), "postgresql")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def among(dialect: str, column: Any, values: Iterable[int] | Iterable[str]) -> ColumnElement[bool]:
    """``column IN values`` for a batch of ids or keys. On PostgreSQL the values go as one
    array parameter (``column = ANY(:values)``): an ``IN`` list of a thousand values costs
    more to render and bind than the query costs to run. SQLite gets the ``IN`` list."""
    found = list(values)
    if dialect != "postgresql":
        return column.in_(found)  # type: ignore[no-any-return]
    element = String() if found and isinstance(found[0], str) else BigInteger()
    return column == any_(bindparam(None, found, type_=ARRAY(element)))  # type: ignore[no-any-return]


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on every backend.

    SQLite has no time zones: values are stored as naive UTC and given ``tzinfo=UTC`` back.
    A naive datetime on the way in is a bug, so it is refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; Crossdock stores timezone-aware UTC only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        datetime: UTCDateTime(),
        Decimal: Money,
        str: String(255),
    }

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True, sort_order=-10)


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TenantScoped:
    """Marks a tenant-owned row. The session layer filters and stamps ``tenant_id``."""

    @declared_attr
    def tenant_id(cls) -> Mapped[int]:
        return mapped_column(ID, ForeignKey("tenants.id", ondelete="CASCADE"), index=True, nullable=False)
