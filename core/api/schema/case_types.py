"""After-sales cases as GraphQL types: a buyer's request as its channel holds it, and the
seller's answers with what the channel said to each."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from crossdock.api.context import state
from crossdock.api.schema.common import Money
from crossdock.api.schema.enums import member
from crossdock.api.schema.loaders import by_id, children
from crossdock.api.schema.relay import Node, encode_id
from crossdock.db import models as m
from crossdock.providers import CaseAction, CaseKind, CaseStatus

if TYPE_CHECKING:
    from crossdock.api.schema.channel_types import ChannelConnection
    from crossdock.api.schema.order_types import Order

__all__ = ["AfterSalesCase", "CaseLine", "CaseResponse"]


@strawberry.type(description="Units of one order line a case is about.")
class CaseLine:
    quantity: int
    sku: str | None
    order_line_external_id: str | None = strawberry.field(description="The channel's id of the line.")


@strawberry.type(description="A seller's answer to a case, and what became of it on the channel.")
class CaseResponse:
    action: CaseAction
    status: m.ResponseStatus
    reason: str | None
    amount: Money | None = strawberry.field(description="The partial refund offered.")
    comment: str | None
    error_code: str | None = strawberry.field(description="The channel's code when it refused.")
    error: str | None = strawberry.field(description="The channel's message when it refused.")
    created_at: datetime
    sent_at: datetime | None

    @classmethod
    def from_row(cls, row: m.CaseResponseRow) -> CaseResponse:
        return cls(
            action=member(CaseAction, row.action),
            status=m.ResponseStatus(row.status),
            reason=row.reason,
            amount=Money.of(row.amount, row.currency),
            comment=row.comment,
            error_code=row.error_code,
            error=row.error,
            created_at=row.created_at,
            sent_at=row.sent_at,
        )


@strawberry.type(
    description="A buyer's cancellation, return or refund request, as its channel last showed it. "
    "`actions` are the answers the channel takes now; `respondBy` is the seller's deadline."
)
class AfterSalesCase(Node):
    pk: strawberry.Private[int]
    order_pk: strawberry.Private[int | None]
    connection_pk: strawberry.Private[int]
    external_id: str = strawberry.field(description="The channel's id of the case.")
    order_external_id: str
    kind: CaseKind
    status: CaseStatus
    channel_status: str = strawberry.field(description="The channel's own status, as it says it.")
    reason: str
    buyer_comment: str | None
    photos: list[str] = strawberry.field(description="Links to the buyer's pictures.")
    lines: list[CaseLine]
    refund_amount: Money | None = strawberry.field(description="What the buyer asks back.")
    respond_by: datetime | None
    actions: list[CaseAction]
    opened_at: datetime
    updated_at: datetime = strawberry.field(description="When the channel last changed it.")

    @classmethod
    def from_row(cls, row: m.AfterSalesCase) -> AfterSalesCase:
        return cls(
            id=encode_id("AfterSalesCase", row.id),
            pk=row.id,
            order_pk=row.order_id,
            connection_pk=row.connection_id,
            external_id=row.external_id,
            order_external_id=row.order_external_id,
            kind=member(CaseKind, row.kind),
            status=member(CaseStatus, row.status),
            channel_status=row.channel_status,
            reason=row.reason,
            buyer_comment=row.buyer_comment,
            photos=list(row.photos or []),
            lines=[
                CaseLine(
                    quantity=int(line.get("quantity") or 0),
                    sku=line.get("sku"),
                    order_line_external_id=line.get("order_line_external_id"),
                )
                for line in row.lines or []
            ],
            refund_amount=Money.of(row.refund_amount, row.currency),
            respond_by=row.respond_by,
            actions=[CaseAction(a) for a in row.actions or []],
            opened_at=row.opened_at,
            updated_at=row.channel_updated_at,
        )

    @strawberry.field(description="None until the order has arrived from the channel.")
    async def order(
        self, info: Info[Any, Any]
    ) -> Annotated[Order, strawberry.lazy("crossdock.api.schema.order_types")] | None:
        from crossdock.api.schema.order_types import Order

        if self.order_pk is None:
            return None
        row = await by_id(state(info), m.Order).load(self.order_pk)
        return Order.from_row(row) if row is not None else None

    @strawberry.field
    async def connection(
        self, info: Info[Any, Any]
    ) -> Annotated[ChannelConnection, strawberry.lazy("crossdock.api.schema.channel_types")]:
        from crossdock.api.schema.channel_types import ChannelConnection

        row = await by_id(state(info), m.Connection).load(self.connection_pk)
        assert row is not None
        return ChannelConnection.from_row(row)

    @strawberry.field(description="The seller's answers, oldest first.")
    async def responses(self, info: Info[Any, Any]) -> list[CaseResponse]:
        rows = await children(state(info), m.CaseResponseRow, "case_id").load(self.pk)
        return [CaseResponse.from_row(r) for r in rows]
