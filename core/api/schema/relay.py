"""Relay plumbing: global IDs, the ``Node`` interface, cursor connections.

Pagination is keyset (stable under inserts, one indexed range scan) on the list's sort
key with the primary key breaking ties, and asks for ``first + 1`` rows to know whether
there is a next page without a count. A list sorted by another key than its id (Shopify's
``sortKey``/``reverse``) hands out cursors holding that key's value and the id; a cursor
of one sort order is refused by another (``INVALID_CURSOR``). Empty values sort last
(first with ``reverse``, which turns the whole order round).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

import strawberry
from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info
from strawberry.types.nodes import SelectedField, Selection

from crossdock.api.context import RequestState
from crossdock.api.schema.loaders import Columns, Relation, prefetch
from crossdock.errors import NotFound, UserError

__all__ = [
    "Connection",
    "Edge",
    "Node",
    "PageInfo",
    "Sort",
    "decode_id",
    "encode_id",
    "model_name_of",
    "node_fields",
    "paginate",
    "resolve_id",
    "resolve_ids",
    "sort_keys",
]

T = TypeVar("T")
MAX_PAGE = 250
DEFAULT_PAGE = 50
#: Primary keys are BIGINT (SQLite: a 64-bit INTEGER): 1 .. 2^63 - 1.
MAX_PK = 2**63 - 1
_PK = re.compile(r"[1-9][0-9]{0,18}")
_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9]{0,63}")
_B64 = str.maketrans("-_", "+/")
#: The GraphQL type of a model's rows, where it is not the model's name.
_TYPE_NAMES = {
    "Connection": "ChannelConnection",
    "ReplenishmentPlanRow": "ReplenishmentPlan",
    "WarehouseInbound": "WarehouseDelivery",
    "WarehouseOrder": "WarehouseHandover",
}


def encode_id(type_name: str, pk: int) -> strawberry.ID:
    return strawberry.ID(base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("="))


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _decode(value: object, prefix_pattern: re.Pattern[str]) -> tuple[str, int] | None:
    """``(prefix, key)`` of a base64url ``prefix:key`` token with a key in 1..2^63-1."""
    if not isinstance(value, str) or not 0 < len(value) <= 128:
        return None
    try:
        raw = base64.b64decode((value + "=" * (-len(value) % 4)).translate(_B64), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    prefix, sep, key = raw.partition(":")
    if not sep or not prefix_pattern.fullmatch(prefix) or not _PK.fullmatch(key):
        return None
    pk = int(key)
    return (prefix, pk) if pk <= MAX_PK else None


def decode_id(
    value: str, expected: str | Sequence[str] | None = None, *, field: str = "id"
) -> tuple[str, int]:
    """Return ``(type name, primary key)`` or raise a ``UserError`` (``INVALID_ID``) naming
    the field: not one of our IDs, a key outside 1..2^63-1, or a type other than expected."""
    decoded = _decode(value, _TYPE)
    if decoded is None:
        raise UserError(f"{_shown(value)} is not a valid ID", field=field, code="INVALID_ID")
    type_name, pk = decoded
    allowed = [expected] if isinstance(expected, str) else expected
    if allowed is not None and type_name not in allowed:
        raise UserError(
            f"{value!r} is a {type_name} ID; expected {' or '.join(allowed)}",
            field=field,
            code="INVALID_ID",
        )
    return type_name, pk


def type_name_of(model: type[Any] | str) -> str:
    """The ID type of a model's rows (a model class or its name)."""
    name = model if isinstance(model, str) else model.__name__
    return _TYPE_NAMES.get(name, name)


def model_name_of(type_name: str) -> str:
    """The model whose rows have IDs of ``type_name`` (the inverse of :func:`type_name_of`)."""
    return _MODEL_NAMES.get(type_name, type_name)


_MODEL_NAMES = {v: k for k, v in _TYPE_NAMES.items()}


async def resolve_id(session: AsyncSession, value: str, model: type[Any], *, field: str = "id") -> int:
    """The primary key of the row ``value`` names, a row of the session's tenant.

    The one way an ID argument becomes a row: a malformed ID (or one of another type) is
    ``INVALID_ID``; an ID of a row that does not exist and an ID of another tenant's row get
    the same ``NOT_FOUND``, with the same message, on the same field. Only the key is read
    (no ORM object is loaded, so a service that later locks the row reads it fresh).
    """
    name = type_name_of(model)
    _, pk = decode_id(value, name, field=field)
    if await session.scalar(select(model.id).where(model.id == pk)) is None:
        raise NotFound(f"{name} {value} not found", field=field)
    return pk


async def resolve_ids(
    session: AsyncSession, values: Sequence[str], model: type[Any], *, field: str
) -> list[int]:
    """:func:`resolve_id` for a list argument (one query); errors name ``field.<index>``."""
    name = type_name_of(model)
    pks = [decode_id(v, name, field=f"{field}.{i}")[1] for i, v in enumerate(values)]
    found: set[int] = set()
    if pks:
        found = set((await session.scalars(select(model.id).where(model.id.in_(set(pks))))).all())
    for i, (value, pk) in enumerate(zip(values, pks, strict=True)):
        if pk not in found:
            raise NotFound(f"{name} {value} not found", field=f"{field}.{i}")
    return pks


@strawberry.interface(description="An object with a global ID, fetchable with `node(id:)`.")
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo

    @strawberry.field(description="The nodes of the edges, for clients that need no cursors.")
    def nodes(self) -> list[T]:
        return [e.node for e in self.edges]


@dataclass(frozen=True)
class Sort:
    """One order a list can be read in: ``column`` ascending (``None``: by id), then id."""

    name: str
    column: Any = None

    @property
    def nullable(self) -> bool:
        return self.column is not None and bool(self.column.property.columns[0].nullable)

    def value_of(self, row: Any) -> Any:
        return None if self.column is None else getattr(row, self.column.key)


BY_ID = Sort("ID")


def sort_keys(enum: type[StrEnum], model: Any, description: str) -> dict[Any, Sort]:
    """Expose ``enum`` (a list's ``sortKey`` values, named as Shopify does) and map each
    member to the model column of the same (lower-cased) name; ``ID`` is the id."""
    strawberry.enum(enum, description=description)
    return {
        key: BY_ID if key.name == "ID" else Sort(key.name, getattr(model, key.name.lower())) for key in enum
    }


_NULL = "~"


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _cursor(pk: int, sort: Sort = BY_ID, value: Any = None) -> str:
    if sort.column is None:
        return _encode(f"cursor:{pk}")
    shown = _NULL if value is None else (value.isoformat() if isinstance(value, datetime) else str(value))
    return _encode(f"cursor:{sort.name}:{pk}:{shown}")


_CURSOR = re.compile("cursor")


def _bad_cursor(cursor: str, why: str = "is not a valid cursor") -> UserError:
    return UserError(f"{_shown(cursor)} {why}", field="after", code="INVALID_CURSOR")


def _after(cursor: str) -> int:
    decoded = _decode(cursor, _CURSOR)
    if decoded is None:
        raise _bad_cursor(cursor)
    return decoded[1]


def _sorted_after(cursor: str, sort: Sort) -> tuple[int, Any]:
    """``(id, sort value)`` of a cursor of a list sorted by ``sort``."""
    if not isinstance(cursor, str) or not 0 < len(cursor) <= 512:
        raise _bad_cursor(cursor)
    try:
        raw = base64.b64decode((cursor + "=" * (-len(cursor) % 4)).translate(_B64), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _bad_cursor(cursor) from None
    parts = raw.split(":", 3)
    if len(parts) != 4 or parts[0] != "cursor" or not _PK.fullmatch(parts[2]) or int(parts[2]) > MAX_PK:
        raise _bad_cursor(cursor)
    if parts[1] != sort.name:
        raise _bad_cursor(cursor, f"is a cursor of another sort order than {sort.name}")
    pk, text = int(parts[2]), parts[3]
    if text == _NULL and sort.nullable:
        return pk, None
    column_type = sort.column.property.columns[0].type
    python_type = getattr(column_type, "impl_instance", column_type).python_type
    try:
        if python_type is datetime:
            value: Any = datetime.fromisoformat(text)
            if value.tzinfo is None:
                raise ValueError(text)
        elif python_type is int:
            value = int(text)
        else:
            value = text
    except ValueError:
        raise _bad_cursor(cursor) from None
    return pk, value


def _keyset(model: Any, sort: Sort, cursor: str, reverse: bool) -> ColumnElement[bool]:
    """The rows after ``cursor`` in the list's order."""
    if sort.column is None:
        pk = _after(cursor)
        after: ColumnElement[bool] = model.id < pk if reverse else model.id > pk
        return after
    pk, value = _sorted_after(cursor, sort)
    col = sort.column
    if reverse:  # col DESC NULLS FIRST, id DESC
        if value is None:
            return or_(and_(col.is_(None), model.id < pk), col.is_not(None))
        return or_(col < value, and_(col == value, model.id < pk))
    # col ASC NULLS LAST, id ASC
    if value is None:
        return and_(col.is_(None), model.id > pk)
    later = or_(col > value, and_(col == value, model.id > pk))
    return or_(later, col.is_(None)) if sort.nullable else later


def _ordering(model: Any, sort: Sort, reverse: bool) -> list[Any]:
    keys: list[Any] = []
    if sort.column is not None:
        key = sort.column.desc() if reverse else sort.column.asc()
        if sort.nullable:
            key = key.nulls_first() if reverse else key.nulls_last()
        keys.append(key)
    keys.append(model.id.desc() if reverse else model.id.asc())
    return keys


def _fields(selections: Iterable[Selection]) -> Iterator[SelectedField]:
    """The fields of a selection set, with fragments spread out."""
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        else:
            yield from _fields(selection.selections)


def node_fields(info: Info[Any, Any]) -> set[str]:
    """The names of the fields the query selects on a connection's nodes, through
    ``nodes { ... }`` and ``edges { node { ... } }`` (and fragments of either)."""
    names: set[str] = set()
    for connection in _fields(info.selected_fields):
        for field in _fields(connection.selections):
            if field.name == "nodes":
                names.update(f.name for f in _fields(field.selections))
            elif field.name == "edges":
                for edge_field in _fields(field.selections):
                    if edge_field.name == "node":
                        names.update(f.name for f in _fields(edge_field.selections))
    return names


async def paginate(
    state: RequestState,
    stmt: Select[Any],
    model: Any,
    convert: Callable[[Any], T],
    *,
    first: int | None,
    after: str | None,
    info: Info[Any, Any] | None = None,
    relations: Mapping[str, Relation] | None = None,
    read_as: Columns | None = None,
    sort: Sort = BY_ID,
    reverse: bool = False,
) -> Connection[T]:
    """One page of ``stmt`` in ``sort`` order (turned round with ``reverse``). Given
    ``info`` and the node type's ``relations``, the ones the query selects are loaded for
    the whole page here (see :func:`~.loaders.prefetch`). ``read_as``: ``stmt`` selects
    these columns, and ``convert`` gets their records."""
    size = DEFAULT_PAGE if first is None else first
    if size < 0 or size > MAX_PAGE:
        raise UserError(f"first must be between 0 and {MAX_PAGE}", field="first", code="INVALID")
    if after:
        stmt = stmt.where(_keyset(model, sort, after, reverse))
    stmt = stmt.order_by(*_ordering(model, sort, reverse)).limit(size + 1)
    async with state.read() as session:
        result = await session.execute(stmt)
        rows: list[Any] = read_as.read(result) if read_as is not None else list(result.scalars().all())
    has_next = len(rows) > size
    rows = rows[:size]
    if info is not None and relations:
        await prefetch(state, rows, relations, node_fields(info))
    edges = [
        Edge(
            cursor=_cursor(r.id, sort, sort.value_of(r) if sort.column is not None else None), node=convert(r)
        )
        for r in rows
    ]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )
