"""The event outbox over GraphQL: a page query, and a subscription that follows it.

Both read the ``events`` table in position order below the horizon of finished
transactions (:mod:`crossdock.services.events`), so a console that resumes with ``after``
(the last event's ``cursor``) gets every committed event once, whichever server process it
lands on. The subscription opens a short session per poll: a websocket lives far longer
than a transaction should. On every poll it also checks its key again (revoked, tenant
taken off the key, ``events:read`` removed) and ends with a typed error when refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from crossdock.api.context import state
from crossdock.api.schema.errors import requires
from crossdock.api.schema.types import Event
from crossdock.errors import CrossdockError, UserError
from crossdock.services.events import START, Position, current_position, parse_cursor, read_events

__all__ = ["POLL_SECONDS", "Query", "Subscription"]

POLL_SECONDS = 0.5
PAGE = 100


def _coded(exc: CrossdockError) -> GraphQLError:
    """A GraphQL error carrying the failure's own code (``INVALID_CURSOR``, ...)."""
    return GraphQLError(exc.message, extensions={"code": exc.code})


def _after(value: str | None) -> Position | None:
    if value is None:
        return None
    try:
        return parse_cursor(value)
    except UserError as exc:
        raise _coded(exc) from None


@strawberry.type
class Query:
    @strawberry.field(
        extensions=requires("events:read"),
        description="Committed events after the cursor `after`, in reading order (oldest first).",
    )
    async def events(
        self,
        info: Info[Any, Any],
        after: str | None = None,
        types: list[str] | None = None,
        first: int = PAGE,
    ) -> list[Event]:
        if not 0 < first <= 500:
            raise UserError("first must be between 1 and 500", field="first", code="INVALID")
        position = _after(after) or START
        async with state(info).read() as session:
            rows = await read_events(session, position, types, first)
        return [Event.from_row(r) for r in rows]


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Follow the tenant's events as they commit (from now, or after the cursor `after`)."
    )
    async def events(
        self, info: Info[Any, Any], after: str | None = None, types: list[str] | None = None
    ) -> AsyncGenerator[Event, None]:
        st = state(info)
        try:
            principal = st.require("events:read")
        except CrossdockError as exc:
            # subscription results bypass the schema's error coding: code it here
            raise _coded(exc) from None
        db = st.app.db
        last = _after(after)
        if last is None:
            async with db.tenant(principal.tenant_id) as session:
                last = await current_position(session)
        while True:
            try:  # the key as it is now (cached for a second, like an HTTP request's)
                await st.reauthenticate()
                principal = st.require("events:read")
            except CrossdockError as exc:
                raise _coded(exc) from None
            async with db.tenant(principal.tenant_id) as session:
                rows = await read_events(session, last, types, PAGE)
            for row in rows:
                last = Position(row.txid, row.id)
                yield Event.from_row(row)
            if len(rows) < PAGE:
                await asyncio.sleep(POLL_SECONDS)
