"""After-sales cases: the operator's queue of buyers' cancellation, return and refund
requests (a filtered list, nearest deadline first), and the seller's answer to one."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from crossdock.api.context import RequestState, state
from crossdock.api.schema.case_types import AfterSalesCase, CaseResponse
from crossdock.api.schema.common import MoneyInput
from crossdock.api.schema.errors import CaseUserError, in_transaction, requires
from crossdock.api.schema.relay import Connection, decode_id, paginate, resolve_id, sort_keys
from crossdock.db import models as m
from crossdock.providers import CaseAction, CaseKind, CaseStatus
from crossdock.services import cases

__all__ = ["Mutation", "Query"]


class CaseSortKeys(StrEnum):
    ID = "ID"
    RESPOND_BY = "RESPOND_BY"
    OPENED_AT = "OPENED_AT"


CASE_SORTS = sort_keys(CaseSortKeys, m.AfterSalesCase, "The orders cases can be listed in.")


@strawberry.input
class CaseFilter:
    kinds: list[CaseKind] | None = None
    statuses: list[CaseStatus] | None = None
    waiting: bool | None = strawberry.field(
        default=None, description="Waiting for the seller (open or negotiating) or not."
    )
    order_id: strawberry.ID | None = None
    connection_id: strawberry.ID | None = strawberry.field(default=None, description="A shop's id.")
    due_before: datetime | None = strawberry.field(
        default=None, description="Waiting for the seller, with a deadline before this time."
    )


@strawberry.type
class Query:
    @strawberry.field(
        extensions=requires("orders:read"),
        description="Buyers' after-sales cases (nearest deadline first; `sortKey` and `reverse` to change).",
    )
    async def cases(
        self,
        info: Info[Any, Any],
        first: int | None = None,
        after: str | None = None,
        filter: CaseFilter | None = None,
        sort_key: CaseSortKeys = CaseSortKeys.RESPOND_BY,
        reverse: bool = False,
    ) -> Connection[AfterSalesCase]:
        stmt = select(m.AfterSalesCase)
        if filter:
            if filter.kinds:
                stmt = stmt.where(m.AfterSalesCase.kind.in_([str(k) for k in filter.kinds]))
            if filter.statuses:
                stmt = stmt.where(m.AfterSalesCase.status.in_([str(s) for s in filter.statuses]))
            if filter.waiting is not None:
                waiting = m.AfterSalesCase.status.in_([s.value for s in cases.WAITING])
                stmt = stmt.where(waiting if filter.waiting else ~waiting)
            if filter.order_id:
                _, pk = decode_id(filter.order_id, "Order", field="filter.orderId")
                stmt = stmt.where(m.AfterSalesCase.order_id == pk)
            if filter.connection_id:
                _, pk = decode_id(filter.connection_id, "ChannelConnection", field="filter.connectionId")
                stmt = stmt.where(m.AfterSalesCase.connection_id == pk)
            if filter.due_before is not None:
                stmt = stmt.where(cases.due_before(filter.due_before))
        return await paginate(
            state(info),
            stmt,
            m.AfterSalesCase,
            AfterSalesCase.from_row,
            first=first,
            after=after,
            sort=CASE_SORTS[sort_key],
            reverse=reverse,
        )


@strawberry.input
class CaseRespondInput:
    case_id: strawberry.ID
    action: CaseAction
    reason: str | None = strawberry.field(default=None, description="Required to reject or dispute.")
    amount: MoneyInput | None = strawberry.field(
        default=None, description="The partial refund to offer (less than the buyer asks)."
    )
    comment: str | None = strawberry.field(
        default=None, description="A note to the buyer, where the channel shows one."
    )


@strawberry.type
class CaseRespondPayload:
    case: AfterSalesCase | None = None
    response: CaseResponse | None = strawberry.field(
        default=None, description="Pending: the channel gets it in a moment (see the case's responses)."
    )
    user_errors: list[CaseUserError] = strawberry.field(default_factory=list)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        extensions=requires("orders:write"),
        description="Answer a case (accept, reject, offer a partial refund, dispute); pushed to its channel.",
    )
    async def case_respond(self, info: Info[Any, Any], input: CaseRespondInput) -> CaseRespondPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.case_id, m.AfterSalesCase, field="caseId")
            row = await cases.respond(
                st.uow,
                pk,
                input.action,
                reason=input.reason,
                amount=input.amount.value("amount", positive=True) if input.amount else None,
                comment=input.comment,
                api_key_id=st.principal.api_key_id,
            )
            case = await session.scalar(select(m.AfterSalesCase).where(m.AfterSalesCase.id == pk))
            assert case is not None
            return {"case": AfterSalesCase.from_row(case), "response": CaseResponse.from_row(row)}

        return await in_transaction(info, CaseRespondPayload, body)
