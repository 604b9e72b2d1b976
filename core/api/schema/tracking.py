"""Tracking: the exceptions raised on parcels' way (a filtered list), resolving them, and
the rules that choose the buyer notice for each kind."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from crossdock.api.context import RequestState, state
from crossdock.api.schema.errors import TrackingUserError, in_transaction, requires
from crossdock.api.schema.relay import Connection, decode_id, paginate, resolve_id, sort_keys
from crossdock.api.schema.tracking_types import ExceptionNoticeRule, ShipmentException
from crossdock.db import models as m
from crossdock.services import tracking

__all__ = ["Mutation", "Query"]


class ShipmentExceptionSortKeys(StrEnum):
    ID = "ID"
    RAISED_AT = "RAISED_AT"


EXCEPTION_SORTS = sort_keys(
    ShipmentExceptionSortKeys, m.ShipmentException, "The orders shipment exceptions can be listed in."
)


@strawberry.input
class ShipmentExceptionFilter:
    kinds: list[m.ExceptionKind] | None = None
    open: bool | None = strawberry.field(default=None, description="Not resolved (true) or resolved (false).")
    order_id: strawberry.ID | None = None
    raised_after: datetime | None = None
    raised_before: datetime | None = None


@strawberry.type
class Query:
    @strawberry.field(
        extensions=requires("orders:read"),
        description="Exceptions raised on shipments' way (oldest first; `reverse` for newest first).",
    )
    async def shipment_exceptions(
        self,
        info: Info[Any, Any],
        first: int | None = None,
        after: str | None = None,
        filter: ShipmentExceptionFilter | None = None,
        sort_key: ShipmentExceptionSortKeys = ShipmentExceptionSortKeys.RAISED_AT,
        reverse: bool = False,
    ) -> Connection[ShipmentException]:
        stmt = select(m.ShipmentException)
        if filter:
            if filter.kinds:
                stmt = stmt.where(m.ShipmentException.kind.in_([str(k) for k in filter.kinds]))
            if filter.open is not None:
                resolved = m.ShipmentException.resolved_at
                stmt = stmt.where(resolved.is_(None) if filter.open else resolved.is_not(None))
            if filter.order_id:
                _, pk = decode_id(filter.order_id, "Order", field="filter.orderId")
                stmt = stmt.where(m.ShipmentException.order_id == pk)
            if filter.raised_after is not None:
                stmt = stmt.where(m.ShipmentException.raised_at >= filter.raised_after)
            if filter.raised_before is not None:
                stmt = stmt.where(m.ShipmentException.raised_at < filter.raised_before)
        return await paginate(
            state(info),
            stmt,
            m.ShipmentException,
            ShipmentException.from_row,
            first=first,
            after=after,
            sort=EXCEPTION_SORTS[sort_key],
            reverse=reverse,
        )

    @strawberry.field(extensions=requires("orders:read"), description="By kind, then priority.")
    async def exception_notice_rules(
        self, info: Info[Any, Any], kind: m.ExceptionKind | None = None
    ) -> list[ExceptionNoticeRule]:
        stmt = select(m.ExceptionNoticeRule).order_by(
            m.ExceptionNoticeRule.kind, m.ExceptionNoticeRule.priority, m.ExceptionNoticeRule.id
        )
        if kind is not None:
            stmt = stmt.where(m.ExceptionNoticeRule.kind == str(kind))
        async with state(info).read() as session:
            return [ExceptionNoticeRule.from_row(r) for r in (await session.scalars(stmt)).all()]


@strawberry.input
class ShipmentExceptionResolveInput:
    id: strawberry.ID


@strawberry.type
class ShipmentExceptionResolvePayload:
    shipment_exception: ShipmentException | None = None
    user_errors: list[TrackingUserError] = strawberry.field(default_factory=list)


@strawberry.input
class ExceptionNoticeRuleInput:
    id: strawberry.ID | None = strawberry.field(
        default=None, description="The rule to change; none: a new one."
    )
    kind: m.ExceptionKind
    template: str = strawberry.field(description="The canned reply's name.")
    countries: list[str] = strawberry.field(
        default_factory=list, description="Destination countries (ISO codes); empty: every country."
    )
    priority: int = strawberry.field(default=100, description="Lowest first.")
    active: bool = True


@strawberry.type
class ExceptionNoticeRuleSetPayload:
    exception_notice_rule: ExceptionNoticeRule | None = None
    user_errors: list[TrackingUserError] = strawberry.field(default_factory=list)


@strawberry.input
class ExceptionNoticeRuleDeleteInput:
    id: strawberry.ID


@strawberry.type
class ExceptionNoticeRuleDeletePayload:
    deleted_id: strawberry.ID | None = None
    user_errors: list[TrackingUserError] = strawberry.field(default_factory=list)


@strawberry.type
class Mutation:
    @strawberry.mutation(extensions=requires("orders:write"), description="Mark an exception dealt with.")
    async def shipment_exception_resolve(
        self, info: Info[Any, Any], input: ShipmentExceptionResolveInput
    ) -> ShipmentExceptionResolvePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.ShipmentException)
            row = await tracking.resolve_exception(session, pk)
            return {"shipment_exception": ShipmentException.from_row(row)}

        return await in_transaction(info, ShipmentExceptionResolvePayload, body)

    @strawberry.mutation(extensions=requires("orders:write"), description="Create or change a notice rule.")
    async def exception_notice_rule_set(
        self, info: Info[Any, Any], input: ExceptionNoticeRuleInput
    ) -> ExceptionNoticeRuleSetPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.ExceptionNoticeRule) if input.id else None
            row = await tracking.save_notice_rule(
                session,
                rule_id=pk,
                kind=input.kind,
                template=input.template,
                countries=input.countries,
                priority=input.priority,
                active=input.active,
            )
            return {"exception_notice_rule": ExceptionNoticeRule.from_row(row)}

        return await in_transaction(info, ExceptionNoticeRuleSetPayload, body)

    @strawberry.mutation(extensions=requires("orders:write"))
    async def exception_notice_rule_delete(
        self, info: Info[Any, Any], input: ExceptionNoticeRuleDeleteInput
    ) -> ExceptionNoticeRuleDeletePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.ExceptionNoticeRule)
            await tracking.delete_notice_rule(session, pk)
            return {"deleted_id": input.id}

        return await in_transaction(info, ExceptionNoticeRuleDeletePayload, body)
