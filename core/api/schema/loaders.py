"""DataLoader factories: one batched query per relation per request, whatever the page size.

A page of rows can also load the relations its query selects up front (:func:`prefetch`),
one query each; the resolvers then answer from the loaders' cache with
:func:`now_or_later` without an awaitable per row. Async resolvers cost the executor a
task each, and a page of 50 orders with four relations made hundreds of them.
"""

from __future__ import annotations

from collections import defaultdict, namedtuple
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

from sqlalchemy import Row, Select, bindparam, select
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from crossdock.api.context import RequestState, state

__all__ = [
    "ChildRows",
    "Children",
    "Columns",
    "Parent",
    "Record",
    "Relation",
    "Resolved",
    "ats_by_connection",
    "by_id",
    "child_rows",
    "children",
    "columns",
    "now_or_later",
    "prefetch",
    "same_tenant",
    "visible",
]

M = TypeVar("M")
K = TypeVar("K")
V = TypeVar("V")
R = TypeVar("R")

#: What a resolver that may answer at once returns: the value, or an awaitable of it.
Resolved: TypeAlias = R | Awaitable[R]


#: A plain record of a row: a named tuple with the model's column attribute names.
Record: TypeAlias = Any


class Columns:
    """The mapped columns of a model (less some), to read rows as plain records instead of
    ORM objects: a record costs a fraction of an object to load and its attributes read in
    tens of nanoseconds (a SQLAlchemy ``Row``'s take ten times longer). Statements that
    select them are ORM statements, so the tenant scoping applies as to any other."""

    def __init__(self, model: Any, exclude: Iterable[str] = ()) -> None:
        skip = set(exclude)
        keys = [a.key for a in model.__mapper__.column_attrs if a.key not in skip]
        self.selected: list[Any] = [getattr(model, k) for k in keys]
        self._record: Any = namedtuple(f"{model.__name__}Record", keys)  # type: ignore[misc]

    def read(self, rows: Iterable[Row[Any]]) -> list[Record]:
        make = self._record._make
        return [make(r) for r in rows]


_columns: dict[tuple[Any, frozenset[str]], Columns] = {}


def columns(model: Any, *, exclude: Iterable[str] = ()) -> Columns:
    """The :class:`Columns` of ``model`` less ``exclude`` (made once)."""
    key = (model, frozenset(exclude))
    found = _columns.get(key)
    if found is None:
        found = _columns[key] = Columns(model, exclude)
    return found


#: Loader statements, built once (an expanding IN parameter takes the keys): building one
#: costs about a third of what running it does.
_statements: dict[tuple[Any, str, tuple[str, ...], bool], Select[Any]] = {}


def _statement(model: Any, column: str, ordering: tuple[str, ...] = (), as_rows: bool = False) -> Select[Any]:
    """``model`` objects (or rows) whose ``column`` is one of the ``keys`` parameter."""
    key = (model, column, ordering, as_rows)
    stmt = _statements.get(key)
    if stmt is None:
        stmt = _statements[key] = (
            (select(*columns(model).selected) if as_rows else select(model))
            .where(getattr(model, column).in_(bindparam("keys", expanding=True)))
            .order_by(*(getattr(model, o) for o in ordering))
        )
    return stmt


def by_id(state: RequestState, model: type[M]) -> DataLoader[int, M | None]:
    """Rows by primary key (``None`` for a key the tenant cannot see)."""

    async def load(keys: list[int]) -> Sequence[M | None]:
        async with state.read() as session:
            rows = (await session.scalars(_statement(model, "id"), {"keys": keys})).all()
        found = {r.id: r for r in rows}
        return [found.get(k) for k in keys]

    return state.loader(f"{model.__name__}.id", load)


def children(
    state: RequestState, model: type[M], column: str, order_by: str | tuple[str, ...] = "id"
) -> DataLoader[int, list[M]]:
    """Rows grouped by a foreign key, in ``order_by`` order (one column or several)."""
    ordering = (order_by,) if isinstance(order_by, str) else order_by

    async def load(keys: list[int]) -> Sequence[list[M]]:
        async with state.read() as session:
            rows = (await session.scalars(_statement(model, column, ordering), {"keys": keys})).all()
        grouped: dict[int, list[M]] = defaultdict(list)
        for r in rows:
            grouped[getattr(r, column)].append(r)
        return [grouped.get(k, []) for k in keys]

    return state.loader(f"{model.__name__}.{column}", load)


def child_rows(
    state: RequestState, model: type[Any], column: str, order_by: str | tuple[str, ...] = "id"
) -> DataLoader[int, list[Record]]:
    """Like :func:`children`, as plain records (see :class:`Columns`): for read-only pages."""
    ordering = (order_by,) if isinstance(order_by, str) else order_by

    async def load(keys: list[int]) -> Sequence[list[Record]]:
        async with state.read() as session:
            result = await session.execute(_statement(model, column, ordering, True), {"keys": keys})
            rows = columns(model).read(result)
        grouped: dict[int, list[Record]] = defaultdict(list)
        for r in rows:
            grouped[getattr(r, column)].append(r)
        return [grouped.get(k, []) for k in keys]

    return state.loader(f"{model.__name__}.{column}:rows", load)


def ats_by_connection(state: RequestState) -> DataLoader[int, dict[int, int]]:
    """Available-to-sell of every listing, computed once per connection per request."""
    from crossdock.db.models import Connection
    from crossdock.services.availability import available_to_sell

    async def load(keys: list[int]) -> Sequence[dict[int, int]]:
        async with state.read() as session:
            connections = {
                c.id: c
                for c in (await session.scalars(select(Connection).where(Connection.id.in_(keys)))).all()
            }
            return [
                await available_to_sell(session, connections[k]) if k in connections else {} for k in keys
            ]

    return state.loader("ats.connection", load)


def now_or_later(loader: DataLoader[K, V], key: K, convert: Callable[[V], R]) -> Resolved[R]:
    """``convert`` of the loader's value for ``key``: at once when the loader holds it
    already (prefetched), else an awaitable that loads it in the usual batch."""
    future = loader.cache_map.get(key)
    if future is not None and future.done() and not future.cancelled() and future.exception() is None:
        return convert(future.result())

    async def later() -> R:
        return convert(await loader.load(key))

    return later()


@dataclass(frozen=True)
class Children:
    """Rows of ``model`` whose ``column`` points at the parent row (see :func:`children`)."""

    model: type[Any]
    column: str
    order_by: str | tuple[str, ...] = "id"

    def loader(self, state: RequestState) -> DataLoader[int, Any]:
        return children(state, self.model, self.column, self.order_by)

    def key(self, row: Any) -> int | None:
        return int(row.id)


@dataclass(frozen=True)
class ChildRows(Children):
    """:class:`Children` as plain rows (see :func:`child_rows`)."""

    def loader(self, state: RequestState) -> DataLoader[int, Any]:
        return child_rows(state, self.model, self.column, self.order_by)


@dataclass(frozen=True)
class Parent:
    """The ``model`` row the parent's ``attribute`` points at (see :func:`by_id`)."""

    model: type[Any]
    attribute: str

    def loader(self, state: RequestState) -> DataLoader[int, Any]:
        return by_id(state, self.model)

    def key(self, row: Any) -> int | None:
        value = getattr(row, self.attribute)
        return None if value is None else int(value)


Relation: TypeAlias = Children | ChildRows | Parent


async def prefetch(
    state: RequestState, rows: Sequence[Any], relations: Mapping[str, Relation], selected: Iterable[str]
) -> None:
    """Load the ``selected`` relations of ``rows`` into the request's loaders, one query per
    relation, so that resolving them row by row needs no awaiting."""
    if not rows:
        return
    for name in sorted(set(selected) & relations.keys()):
        relation = relations[name]
        loader = relation.loader(state)
        keys = list(dict.fromkeys(k for k in map(relation.key, rows) if k is not None))
        missing = [k for k in keys if loader.cache_map.get(k) is None]
        if missing:
            values = await loader.load_fn(missing)
            loader.prime_many(dict(zip(missing, values, strict=True)))


async def same_tenant(info: Info[Any, Any], model: type[M], pk: int) -> M:
    """A row another row of this tenant points at: present by the foreign key."""
    row = await by_id(state(info), model).load(pk)
    if row is None:
        raise LookupError(f"{model.__name__} {pk} is referenced but not visible")
    return row


def visible(model: type[M], pk: int, convert: Callable[[M], R]) -> Callable[[M | None], R]:
    """``convert`` for a row another row of this tenant points at (see :func:`same_tenant`)."""

    def check(row: M | None) -> R:
        if row is None:
            raise LookupError(f"{model.__name__} {pk} is referenced but not visible")
        return convert(row)

    return check
