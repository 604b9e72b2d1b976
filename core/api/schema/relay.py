"""Relay plumbing: global IDs, the ``Node`` interface, cursor connections.

Pagination is keyset on the primary key (stable under inserts, one indexed range scan),
and asks for ``first + 1`` rows to know whether there is a next page without a count.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

import strawberry
from sqlalchemy import Select
from strawberry.types import Info
from strawberry.types.nodes import SelectedField, Selection

from crossdock.api.context import RequestState
from crossdock.api.schema.loaders import Columns, Relation, prefetch
from crossdock.errors import UserError

__all__ = [
    "Connection",
    "Edge",
    "Node",
    "PageInfo",
    "decode_id",
    "encode_id",
    "node_fields",
    "paginate",
]

T = TypeVar("T")
MAX_PAGE = 250
DEFAULT_PAGE = 50


def encode_id(type_name: str, pk: int) -> strawberry.ID:
    return strawberry.ID(base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("="))


def decode_id(
    value: str, expected: str | Sequence[str] | None = None, *, field: str = "id"
) -> tuple[str, int]:
    """Return ``(type name, primary key)`` or raise a ``UserError`` naming the field."""
    try:
        padded = value + "=" * (-len(value) % 4)
        type_name, _, raw_pk = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
        pk = int(raw_pk)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise UserError(f"{value!r} is not a valid ID", field=field, code="INVALID_ID") from None
    allowed = [expected] if isinstance(expected, str) else expected
    if allowed is not None and type_name not in allowed:
        raise UserError(
            f"{value!r} is a {type_name} ID; expected {' or '.join(allowed)}",
            field=field,
            code="INVALID_ID",
        )
    return type_name, pk


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


def _cursor(pk: int) -> str:
    return base64.urlsafe_b64encode(f"cursor:{pk}".encode()).decode().rstrip("=")


def _after(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()).decode()
        prefix, _, pk = raw.partition(":")
        if prefix != "cursor":
            raise ValueError
        return int(pk)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise UserError(f"{cursor!r} is not a valid cursor", field="after", code="INVALID_CURSOR") from None


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
) -> Connection[T]:
    """One page of ``stmt``. Given ``info`` and the node type's ``relations``, the ones the
    query selects are loaded for the whole page here (see :func:`~.loaders.prefetch`).
    ``read_as``: ``stmt`` selects these columns, and ``convert`` gets their records."""
    size = DEFAULT_PAGE if first is None else first
    if size < 0 or size > MAX_PAGE:
        raise UserError(f"first must be between 0 and {MAX_PAGE}", field="first", code="INVALID")
    if after:
        stmt = stmt.where(model.id > _after(after))
    stmt = stmt.order_by(model.id).limit(size + 1)
    async with state.read() as session:
        result = await session.execute(stmt)
        rows: list[Any] = read_as.read(result) if read_as is not None else list(result.scalars().all())
    has_next = len(rows) > size
    rows = rows[:size]
    if info is not None and relations:
        await prefetch(state, rows, relations, node_fields(info))
    edges = [Edge(cursor=_cursor(r.id), node=convert(r)) for r in rows]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )
