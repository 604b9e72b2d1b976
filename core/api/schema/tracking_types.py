"""Tracking as GraphQL types: a shipment's scans and exceptions, and notice rules.

:class:`ShipmentTracking` holds the tracking fields of ``Shipment`` (which inherits it,
so ``order_types`` stays as it was but for the base class); they resolve through loaders,
one batched query per field per request.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from crossdock.api.context import state
from crossdock.api.schema.enums import optional_member
from crossdock.api.schema.loaders import by_id, children
from crossdock.api.schema.relay import Node, decode_id, encode_id
from crossdock.db import models as m
from crossdock.providers import TrackingReason, TrackingStatus

if TYPE_CHECKING:
    from crossdock.api.schema.order_types import Order, Shipment

__all__ = ["ExceptionNoticeRule", "ShipmentException", "ShipmentTracking", "TrackingEvent"]


@strawberry.type(description="One carrier scan, normalised; `code` and `description` are the carrier's.")
class TrackingEvent:
    occurred_at: datetime = strawberry.field(description="The carrier's time of the scan.")
    status: TrackingStatus
    reason: TrackingReason | None
    code: str
    description: str
    location: str | None
    tracking_number: str

    @classmethod
    def from_row(cls, row: m.TrackingEventRow) -> TrackingEvent:
        return cls(
            occurred_at=row.occurred_at,
            status=TrackingStatus(row.status),
            reason=optional_member(TrackingReason, row.reason),
            code=row.code,
            description=row.description,
            location=row.location,
            tracking_number=row.tracking_number,
        )


@strawberry.type(description="A problem on a parcel's way, raised once per shipment and kind.")
class ShipmentException(Node):
    pk: strawberry.Private[int]
    shipment_pk: strawberry.Private[int]
    order_pk: strawberry.Private[int]
    kind: m.ExceptionKind
    detail: str | None
    raised_at: datetime
    resolved_at: datetime | None
    notified_at: datetime | None = strawberry.field(description="When the buyer was told.")
    notice_error: str | None = strawberry.field(description="Why the buyer was not told.")

    @classmethod
    def from_row(cls, row: m.ShipmentException) -> ShipmentException:
        return cls(
            id=encode_id("ShipmentException", row.id),
            pk=row.id,
            shipment_pk=row.shipment_id,
            order_pk=row.order_id,
            kind=m.ExceptionKind(row.kind),
            detail=row.detail,
            raised_at=row.raised_at,
            resolved_at=row.resolved_at,
            notified_at=row.notified_at,
            notice_error=row.notice_error,
        )

    @strawberry.field
    def open(self) -> bool:
        return self.resolved_at is None

    @strawberry.field
    async def shipment(
        self, info: Info[Any, Any]
    ) -> Annotated[Shipment, strawberry.lazy("crossdock.api.schema.order_types")]:
        from crossdock.api.schema.order_types import Shipment

        row = await by_id(state(info), m.Shipment).load(self.shipment_pk)
        assert row is not None
        return Shipment.from_row(row)

    @strawberry.field
    async def order(
        self, info: Info[Any, Any]
    ) -> Annotated[Order, strawberry.lazy("crossdock.api.schema.order_types")]:
        from crossdock.api.schema.order_types import Order

        row = await by_id(state(info), m.Order).load(self.order_pk)
        assert row is not None
        return Order.from_row(row)


@strawberry.type(
    description="Which canned reply tells a buyer about an exception: the first active rule by "
    "priority (lowest first) for the kind, and the destination countries when given."
)
class ExceptionNoticeRule(Node):
    kind: m.ExceptionKind
    template: str = strawberry.field(
        description="A canned reply's name; the buyer's language picks the text."
    )
    countries: list[str]
    priority: int
    active: bool

    @classmethod
    def from_row(cls, row: m.ExceptionNoticeRule) -> ExceptionNoticeRule:
        return cls(
            id=encode_id("ExceptionNoticeRule", row.id),
            kind=m.ExceptionKind(row.kind),
            template=row.template,
            countries=list(row.countries or []),
            priority=row.priority,
            active=row.active,
        )


def _pk(node: Any) -> int:
    return decode_id(str(node.id), "Shipment")[1]


async def _row(info: Info[Any, Any], node: Any) -> m.Shipment:
    row = await by_id(state(info), m.Shipment).load(_pk(node))
    assert row is not None
    return row


@strawberry.type
class ShipmentTracking:
    """The tracking fields of a shipment (a base of ``Shipment``)."""

    @strawberry.field(
        description="The carrier's latest word on the parcel (its latest scan by carrier time)."
    )
    async def tracking_status(self, info: Info[Any, Any]) -> TrackingStatus | None:
        return optional_member(TrackingStatus, (await _row(info, self)).tracking_status)

    @strawberry.field
    async def tracking_reason(self, info: Info[Any, Any]) -> TrackingReason | None:
        return optional_member(TrackingReason, (await _row(info, self)).tracking_reason)

    @strawberry.field(description="The carrier's time of the latest scan.")
    async def last_event_at(self, info: Info[Any, Any]) -> datetime | None:
        return (await _row(info, self)).last_event_at

    @strawberry.field
    async def estimated_delivery(self, info: Info[Any, Any]) -> date | None:
        return (await _row(info, self)).estimated_delivery

    @strawberry.field
    async def delivered_at(self, info: Info[Any, Any]) -> datetime | None:
        return (await _row(info, self)).delivered_at

    @strawberry.field(description="The carrier's scans, by the carrier's time.")
    async def tracking_events(self, info: Info[Any, Any]) -> list[TrackingEvent]:
        rows = await children(
            state(info), m.TrackingEventRow, "shipment_id", order_by=("occurred_at", "id")
        ).load(_pk(self))
        return [TrackingEvent.from_row(r) for r in rows]

    @strawberry.field(description="Exceptions raised on the way, oldest first (resolved ones too).")
    async def exceptions(self, info: Info[Any, Any]) -> list[ShipmentException]:
        rows = await children(
            state(info), m.ShipmentException, "shipment_id", order_by=("raised_at", "id")
        ).load(_pk(self))
        return [ShipmentException.from_row(r) for r in rows]
