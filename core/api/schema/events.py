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
from collections.abc import AsyncGenerator, Sequence
from datetime import datetime
from typing import Any

import strawberry
from graphql import GraphQLError
from sqlalchemy import BigInteger, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from crossdock.api.context import state
from crossdock.api.schema.common import JSON
from crossdock.api.schema.errors import requires, scope_sentence
from crossdock.api.schema.relay import Connection, Edge, PageInfo, encode_id
from crossdock.db import models as m
from crossdock.errors import CrossdockError, UserError
from crossdock.security import Scope
from crossdock.services.events import START, Position, current_position, parse_cursor, read_events
from crossdock.services.events import _horizon as _horizon  # the same horizon as read_events

__all__ = ["POLL_SECONDS", "Event", "Query", "Subscription"]

POLL_SECONDS = 0.5
PAGE = 100
MAX_PAGE = 500
#: The scope reading events needs; the subscription checks it itself on every poll.
EVENTS_SCOPE = Scope.EVENTS_READ


@strawberry.type(
    description="A domain event from the outbox. Readers get every committed event once, in a "
    "stable order (by writing transaction, then id); resume with the last event's `cursor`."
)
class Event:
    id: strawberry.ID = strawberry.field(description="The event's id (unique; not its reading order).")
    cursor: str = strawberry.field(description="Opaque position: pass it as `after` to resume after it.")
    type: str
    subject: strawberry.ID | None = strawberry.field(description="Global ID of what it is about.")
    payload: JSON
    created_at: datetime

    @classmethod
    def from_row(cls, row: m.Event) -> Event:
        subject = None
        if row.subject and ":" in row.subject:
            name, _, pk = row.subject.partition(":")
            subject = encode_id(name, int(pk))
        return cls(
            id=strawberry.ID(str(row.id)),
            cursor=Position(row.txid, row.id).cursor,
            type=row.type,
            subject=subject,
            payload=JSON(row.payload or {}),
            created_at=row.created_at,
        )


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


@strawberry.input(description="Which events to read.")
class EventFilter:
    types: list[str] | None = strawberry.field(
        default=None, description="Only these types (e.g. order.cancelled); all when not given."
    )


async def _newest_first(
    session: AsyncSession, before: Position | None, types: Sequence[str] | None, limit: int
) -> Sequence[m.Event]:
    """``read_events`` turned round: final events before ``before`` (or the newest), newest first."""
    stmt = select(m.Event).order_by(m.Event.txid.desc(), m.Event.id.desc()).limit(limit)
    if before is not None:
        stmt = stmt.where(
            tuple_(m.Event.txid, m.Event.id)
            < tuple_(literal(before.txid, BigInteger), literal(before.id, BigInteger))
        )
    horizon = _horizon(session)
    if horizon is not None:
        stmt = stmt.where(m.Event.txid < horizon)
    if types:
        stmt = stmt.where(m.Event.type.in_(types))
    return (await session.scalars(stmt)).all()


@strawberry.type
class Query:
    @strawberry.field(
        extensions=requires(EVENTS_SCOPE),
        description="Committed events after the cursor `after`, in reading order (oldest first; "
        "newest first with `reverse`). An edge's cursor is its event's `cursor`.",
    )
    async def events(
        self,
        info: Info[Any, Any],
        first: int = PAGE,
        after: str | None = None,
        filter: EventFilter | None = None,
        reverse: bool = False,
    ) -> Connection[Event]:
        if not 0 < first <= MAX_PAGE:
            raise UserError(f"first must be between 1 and {MAX_PAGE}", field="first", code="INVALID")
        position = _after(after)
        types = filter.types if filter else None
        async with state(info).read() as session:
            if reverse:
                rows = await _newest_first(session, position, types, first + 1)
            else:
                rows = await read_events(session, position or START, types, first + 1)
        edges = [Edge(cursor=e.cursor, node=e) for e in (Event.from_row(r) for r in rows[:first])]
        return Connection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(rows) > first,
                has_previous_page=after is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Follow the tenant's events as they commit (from now, or after the cursor "
        "`after`). " + scope_sentence(EVENTS_SCOPE)
    )
    async def events(
        self, info: Info[Any, Any], after: str | None = None, filter: EventFilter | None = None
    ) -> AsyncGenerator[Event, None]:
        types = filter.types if filter else None
        st = state(info)
        try:
            principal = st.require(EVENTS_SCOPE)
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
                principal = st.require(EVENTS_SCOPE)
            except CrossdockError as exc:
                raise _coded(exc) from None
            async with db.tenant(principal.tenant_id) as session:
                rows = await read_events(session, last, types, PAGE)
            for row in rows:
                last = Position(row.txid, row.id)
                yield Event.from_row(row)
            if len(rows) < PAGE:
                await asyncio.sleep(POLL_SECONDS)
