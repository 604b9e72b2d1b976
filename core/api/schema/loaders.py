"""DataLoader factories: one batched query per relation per request, whatever the page size."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import select
from strawberry.dataloader import DataLoader

from crossdock.api.context import RequestState

__all__ = ["ats_by_connection", "by_id", "children"]

M = TypeVar("M")


def by_id(state: RequestState, model: type[M]) -> DataLoader[int, M | None]:
    """Rows by primary key (``None`` for a key the tenant cannot see)."""

    async def load(keys: list[int]) -> Sequence[M | None]:
        async with state.read() as session:
            rows = (await session.scalars(select(model).where(model.id.in_(keys)))).all()  # type: ignore[attr-defined]
        found = {r.id: r for r in rows}  # type: ignore[attr-defined]
        return [found.get(k) for k in keys]

    return state.loader(f"{model.__name__}.id", load)


def children(
    state: RequestState, model: type[M], column: str, order_by: str | tuple[str, ...] = "id"
) -> DataLoader[int, list[M]]:
    """Rows grouped by a foreign key, in ``order_by`` order (one column or several)."""
    ordering = (order_by,) if isinstance(order_by, str) else order_by

    async def load(keys: list[int]) -> Sequence[list[M]]:
        col: Any = getattr(model, column)
        async with state.read() as session:
            rows = (
                await session.scalars(
                    select(model).where(col.in_(keys)).order_by(*(getattr(model, o) for o in ordering))
                )
            ).all()
        grouped: dict[int, list[M]] = defaultdict(list)
        for r in rows:
            grouped[getattr(r, column)].append(r)
        return [grouped.get(k, []) for k in keys]

    return state.loader(f"{model.__name__}.{column}", load)


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
