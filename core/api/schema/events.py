"""The event outbox over GraphQL: a page query, and a subscription that follows it.

Both read the ``events`` table in id order, so a console that reconnects with ``after`` (the
last id it saw) misses nothing, whichever server process it lands on. The subscription
opens a short session per poll: a websocket lives far longer than a transaction should.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from graphql import GraphQLError
from sqlalchemy import func, select
from strawberry.types import Info

from crossdock.api.context import state
from crossdock.api.schema.errors import requires
from crossdock.api.schema.types import Event
from crossdock.db import models as m
from crossdock.errors import CrossdockError, UserError

__all__ = ["POLL_SECONDS", "Query", "Subscription"]

POLL_SECONDS = 0.5
PAGE = 100


def _after(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise UserError(f"{value!r} is not an event id", field="after", code="INVALID_CURSOR") from None


def _page(after: int, types: list[str] | None, limit: int) -> Any:
    stmt = select(m.Event).where(m.Event.id > after).order_by(m.Event.id).limit(limit)
    if types:
        stmt = stmt.where(m.Event.type.in_(types))
    return stmt


@strawberry.type
class Query:
    @strawberry.field(extensions=requires("events:read"), description="Events after `after`, oldest first.")
    async def events(
        self,
        info: Info[Any, Any],
        after: str | None = None,
        types: list[str] | None = None,
        first: int = PAGE,
    ) -> list[Event]:
        if not 0 < first <= 500:
            raise UserError("first must be between 1 and 500", field="first", code="INVALID")
        async with state(info).read() as session:
            rows = (await session.scalars(_page(_after(after) or 0, types, first))).all()
        return [Event.from_row(r) for r in rows]


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Follow the tenant's events as they commit (from now, or after `after`)."
    )
    async def events(
        self, info: Info[Any, Any], after: str | None = None, types: list[str] | None = None
    ) -> AsyncGenerator[Event, None]:
        st = state(info)
        try:
            principal = st.require("events:read")
        except CrossdockError as exc:
            # subscription results bypass the schema's error coding: code it here
            raise GraphQLError(exc.message, extensions={"code": exc.code}) from None
        db = st.app.db
        last = _after(after)
        if last is None:
            async with db.tenant(principal.tenant_id) as session:
                last = int(await session.scalar(select(func.coalesce(func.max(m.Event.id), 0))) or 0)
        while True:
            async with db.tenant(principal.tenant_id) as session:
                rows = (await session.scalars(_page(last, types, PAGE))).all()
            for row in rows:
                last = row.id
                yield Event.from_row(row)
            if len(rows) < PAGE:
                await asyncio.sleep(POLL_SECONDS)
