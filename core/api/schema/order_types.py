"""Orders and what hangs off them (lines, holds, shipments, allocations, returns, refunds)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from crossdock.api.context import state
from crossdock.api.schema.catalog_types import Variant
from crossdock.api.schema.channel_types import ChannelConnection
from crossdock.api.schema.common import JSON, Money
from crossdock.api.schema.document_types import ShipmentDocumentFields
from crossdock.api.schema.enums import optional_member
from crossdock.api.schema.inventory_types import Warehouse
from crossdock.api.schema.loaders import (
    ChildRows,
    Parent,
    Record,
    Relation,
    Resolved,
    by_id,
    child_rows,
    children,
    now_or_later,
    same_tenant,
    visible,
)
from crossdock.api.schema.relay import Node, encode_id
from crossdock.api.schema.tracking_types import ShipmentTracking
from crossdock.db import models as m
from crossdock.providers import HoldReason, TaxCollector, TaxScheme

if TYPE_CHECKING:
    from crossdock.api.schema.case_types import AfterSalesCase
    from crossdock.api.schema.shipping_types import LabelPurchase, ShipmentPackage

__all__ = [
    "ORDER_RELATIONS",
    "Allocation",
    "LineTax",
    "Order",
    "OrderHold",
    "OrderLine",
    "OrderReturn",
    "OrderStatusChange",
    "PickLine",
    "Refund",
    "Shipment",
]


@strawberry.type
class Order(Node):
    pk: strawberry.Private[int]
    connection_pk: strawberry.Private[int]
    external_id: str
    status: m.OrderStatus
    channel_status: str | None
    payment_status: str | None
    total: Money
    buyer_name: str | None
    buyer_email: str | None
    shipping_address: JSON
    destination_country: str | None
    fulfilled_by_channel: bool
    placed_at: datetime
    ship_by: datetime | None
    channel_updated_at: datetime
    created_at: datetime
    sla_flag: m.SlaFlag | None = strawberry.field(description="The ship-by warning announced last.")
    base_total: Money | None = strawberry.field(
        description="The total in the tenant's reporting currency at the rate of the order's day."
    )
    fx_rate: Decimal | None
    fx_day: date | None
    tax_total: Money | None = strawberry.field(description="Tax on the lines, whoever collects it.")
    payment_provider: str | None = strawberry.field(
        default=None,
        description="The payment provider that took the buyer's money (own channels; null for "
        "marketplace orders): `refundRecord` refunds through it.",
    )
    payment_reference: str | None = strawberry.field(
        default=None, description="The provider's id of that payment (a Stripe PaymentIntent)."
    )

    @classmethod
    def from_row(cls, row: m.Order | Record) -> Order:
        return cls(
            id=encode_id("Order", row.id),
            pk=row.id,
            connection_pk=row.connection_id,
            external_id=row.external_id,
            status=m.OrderStatus(row.status),
            channel_status=row.channel_status,
            payment_status=row.payment_status,
            total=Money.exact(row.total_amount, row.currency),
            buyer_name=row.buyer_name,
            buyer_email=row.buyer_email,
            shipping_address=JSON(row.shipping_address or {}),
            destination_country=row.destination_country,
            fulfilled_by_channel=row.fulfilled_by_channel,
            placed_at=row.placed_at,
            ship_by=row.ship_by,
            channel_updated_at=row.channel_updated_at,
            created_at=row.created_at,
            sla_flag=optional_member(m.SlaFlag, row.sla_flag),
            base_total=Money.of(row.base_total_amount, row.base_currency),
            fx_rate=row.fx_rate,
            fx_day=row.fx_day,
            tax_total=Money.of(row.tax_amount, row.currency),
            payment_provider=row.payment_provider,
            payment_reference=row.payment_reference,
        )

    # Relations answer at once when the page prefetched them (see ORDER_RELATIONS), else
    # through the request's DataLoaders.
    @strawberry.field(graphql_type=ChannelConnection)
    def connection(self, info: Info[Any, Any]) -> Resolved[ChannelConnection]:
        st = state(info)
        memo = ("ChannelConnection", self.connection_pk)
        known = st.converted.get(memo)
        if known is not None:
            return known  # type: ignore[no-any-return]
        check = visible(m.Connection, self.connection_pk, ChannelConnection.from_row)

        def convert(row: m.Connection | None) -> ChannelConnection:
            st.converted[memo] = converted = check(row)
            return converted

        return now_or_later(by_id(st, m.Connection), self.connection_pk, convert)

    @strawberry.field(graphql_type=list["OrderLine"])
    def lines(self, info: Info[Any, Any]) -> Resolved[list[OrderLine]]:
        currency = self.total.currency
        return now_or_later(
            child_rows(state(info), m.OrderLine, "order_id"),
            self.pk,
            lambda rows: [OrderLine.from_row(r, currency) for r in rows],
        )

    @strawberry.field(graphql_type=list["OrderHold"])
    def holds(self, info: Info[Any, Any]) -> Resolved[list[OrderHold]]:
        return now_or_later(
            child_rows(state(info), m.OrderHold, "order_id"),
            self.pk,
            lambda rows: [OrderHold.from_row(r) for r in rows],
        )

    @strawberry.field(graphql_type=list["Shipment"])
    def shipments(self, info: Info[Any, Any]) -> Resolved[list[Shipment]]:
        return now_or_later(
            child_rows(state(info), m.Shipment, "order_id"),
            self.pk,
            lambda rows: [Shipment.from_row(r) for r in rows],
        )

    @strawberry.field(graphql_type=list["OrderStatusChange"])
    def history(self, info: Info[Any, Any]) -> Resolved[list[OrderStatusChange]]:
        return now_or_later(
            child_rows(state(info), m.OrderStatusChange, "order_id"),
            self.pk,
            lambda rows: [OrderStatusChange.from_row(r) for r in rows],
        )

    @strawberry.field(
        graphql_type=list["Allocation"],
        description="Where each line's units are reserved, packed or shipped from.",
    )
    def allocations(self, info: Info[Any, Any]) -> Resolved[list[Allocation]]:
        return now_or_later(
            child_rows(state(info), m.Allocation, "order_id"),
            self.pk,
            lambda rows: [Allocation.from_row(r) for r in rows],
        )

    @strawberry.field(graphql_type=list["OrderReturn"])
    def returns(self, info: Info[Any, Any]) -> Resolved[list[OrderReturn]]:
        return now_or_later(
            child_rows(state(info), m.OrderReturn, "order_id"),
            self.pk,
            lambda rows: [OrderReturn.from_row(r) for r in rows],
        )

    @strawberry.field(description="The buyer's cancellation, return and refund requests, oldest first.")
    async def cases(
        self, info: Info[Any, Any]
    ) -> list[Annotated[AfterSalesCase, strawberry.lazy("crossdock.api.schema.case_types")]]:
        from crossdock.api.schema.case_types import AfterSalesCase

        rows = await children(state(info), m.AfterSalesCase, "order_id").load(self.pk)
        return [AfterSalesCase.from_row(r) for r in rows]

    @strawberry.field(graphql_type=list["Refund"])
    def refunds(self, info: Info[Any, Any]) -> Resolved[list[Refund]]:
        return now_or_later(
            child_rows(state(info), m.Refund, "order_id"),
            self.pk,
            lambda rows: [Refund.from_row(r) for r in rows],
        )


#: The relations an order page loads up front when its query selects them.
ORDER_RELATIONS: dict[str, Relation] = {
    "connection": Parent(m.Connection, "connection_id"),
    "lines": ChildRows(m.OrderLine, "order_id"),
    "holds": ChildRows(m.OrderHold, "order_id"),
    "shipments": ChildRows(m.Shipment, "order_id"),
    "history": ChildRows(m.OrderStatusChange, "order_id"),
    "allocations": ChildRows(m.Allocation, "order_id"),
    "returns": ChildRows(m.OrderReturn, "order_id"),
    "refunds": ChildRows(m.Refund, "order_id"),
}


@strawberry.type
class LineTax:
    rate: Decimal = strawberry.field(description="A fraction: 0.19 is 19 %.")
    amount: Money
    scheme: TaxScheme | None
    collected_by: TaxCollector | None
    jurisdiction: str


@strawberry.type
class OrderLine:
    id: strawberry.ID
    variant_pk: strawberry.Private[int | None]
    external_id: str
    sku: str
    title: str | None
    quantity: int
    unit_price: Money
    tax: LineTax | None = strawberry.field(description="As the destination's tax engine quoted it.")

    @classmethod
    def from_row(cls, row: m.OrderLine | Record, currency: str) -> OrderLine:
        return cls(
            id=encode_id("OrderLine", row.id),
            variant_pk=row.variant_id,
            external_id=row.external_id,
            sku=row.sku,
            title=row.title,
            quantity=row.quantity,
            unit_price=Money.exact(row.unit_price_amount, currency),
            tax=LineTax(
                rate=row.tax_rate,
                amount=Money.exact(row.tax_amount, currency),
                scheme=optional_member(TaxScheme, row.tax_scheme),
                collected_by=optional_member(TaxCollector, row.tax_collected_by),
                jurisdiction=row.tax_jurisdiction or "",
            )
            if row.tax_rate is not None and row.tax_amount is not None
            else None,
        )

    @strawberry.field(description="The variant this line's SKU maps to; null while unmapped.")
    async def variant(self, info: Info[Any, Any]) -> Variant | None:
        if self.variant_pk is None:
            return None
        row = await by_id(state(info), m.Variant).load(self.variant_pk)
        return Variant.from_row(row) if row else None


@strawberry.type
class OrderHold:
    reason: HoldReason
    message: str | None
    created_at: datetime
    released_at: datetime | None

    @classmethod
    def from_row(cls, row: m.OrderHold | Record) -> OrderHold:
        return cls(
            reason=HoldReason(row.reason),
            message=row.message,
            created_at=row.created_at,
            released_at=row.released_at,
        )


@strawberry.type
class OrderStatusChange:
    from_status: m.OrderStatus | None
    to_status: m.OrderStatus
    reason: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: m.OrderStatusChange | Record) -> OrderStatusChange:
        return cls(
            from_status=optional_member(m.OrderStatus, row.from_status),
            to_status=m.OrderStatus(row.to_status),
            reason=row.reason,
            created_at=row.created_at,
        )


@strawberry.type
class Shipment(ShipmentTracking, ShipmentDocumentFields, Node):
    pk: strawberry.Private[int]
    warehouse_pk: strawberry.Private[int | None]
    status: m.ShipmentStatus
    carrier: str | None
    service: str | None
    tracking_number: str | None
    shipped_at: datetime | None
    confirmed_at: datetime | None
    confirm_attempts: int
    confirm_error: str | None

    @classmethod
    def from_row(cls, row: m.Shipment | Record) -> Shipment:
        return cls(
            id=encode_id("Shipment", row.id),
            pk=row.id,
            warehouse_pk=row.warehouse_id,
            confirm_attempts=row.confirm_attempts,
            confirm_error=row.confirm_error,
            status=m.ShipmentStatus(row.status),
            carrier=row.carrier,
            service=row.service,
            tracking_number=row.tracking_number,
            shipped_at=row.shipped_at,
            confirmed_at=row.confirmed_at,
        )

    @strawberry.field(description="Its boxes, with a tracking number each once a label is bought.")
    async def packages(
        self, info: Info[Any, Any]
    ) -> list[Annotated[ShipmentPackage, strawberry.lazy("crossdock.api.schema.shipping_types")]]:
        from crossdock.api.schema.shipping_types import ShipmentPackage

        rows = await children(state(info), m.ShipmentPackage, "shipment_id", "position").load(self.pk)
        return [ShipmentPackage.from_row(r) for r in rows]

    @strawberry.field(description="The label bought (or being bought) for it, and the last one voided.")
    async def labels(
        self, info: Info[Any, Any]
    ) -> list[Annotated[LabelPurchase, strawberry.lazy("crossdock.api.schema.shipping_types")]]:
        from crossdock.api.schema.shipping_types import LabelPurchase

        rows = await children(state(info), m.LabelPurchase, "shipment_id").load(self.pk)
        return [LabelPurchase.from_row(r) for r in rows]


@strawberry.type
class Allocation:
    id: strawberry.ID
    order_line_id: strawberry.ID
    warehouse_pk: strawberry.Private[int]
    variant_pk: strawberry.Private[int]
    quantity: int
    status: m.AllocationStatus

    @classmethod
    def from_row(cls, row: m.Allocation | Record) -> Allocation:
        return cls(
            id=encode_id("Allocation", row.id),
            order_line_id=encode_id("OrderLine", row.order_line_id),
            warehouse_pk=row.warehouse_id,
            variant_pk=row.variant_id,
            quantity=row.quantity,
            status=m.AllocationStatus(row.status),
        )

    @strawberry.field
    async def warehouse(self, info: Info[Any, Any]) -> Warehouse:
        return Warehouse.from_row(await same_tenant(info, m.Warehouse, self.warehouse_pk))

    @strawberry.field
    async def variant(self, info: Info[Any, Any]) -> Variant:
        return Variant.from_row(await same_tenant(info, m.Variant, self.variant_pk))


@strawberry.type
class OrderReturn:
    order_line_id: strawberry.ID
    quantity: int
    condition: m.ReturnCondition
    note: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: m.OrderReturn | Record) -> OrderReturn:
        return cls(
            order_line_id=encode_id("OrderLine", row.order_line_id),
            quantity=row.quantity,
            condition=m.ReturnCondition(row.condition),
            note=row.note,
            created_at=row.created_at,
        )


@strawberry.type(
    description="Money given back: through the order's payment provider (own channels), or the "
    "channel's refund recorded (marketplace orders, and money given back out of band)."
)
class Refund:
    amount: Money
    reason: str | None
    reference: str | None
    created_at: datetime
    status: m.RefundStatus
    provider: str | None = strawberry.field(
        description="The payment provider that moved the money (null: the channel's refund, recorded)."
    )
    provider_reference: str | None = strawberry.field(
        description="The provider's id of the refund (a Stripe `re_...`), once it answered."
    )
    error: str | None = strawberry.field(
        description="Why the provider refused or failed it, or why it is still pending."
    )

    @classmethod
    def from_row(cls, row: m.Refund | Record) -> Refund:
        return cls(
            amount=Money.exact(row.amount, row.currency),
            reason=row.reason,
            reference=row.reference,
            created_at=row.created_at,
            status=m.RefundStatus(row.status),
            provider=row.provider,
            provider_reference=row.provider_reference,
            error=row.error,
        )


@strawberry.type(description="A line of a warehouse's pick list: one SKU, all orders.")
class PickLine:
    variant_pk: strawberry.Private[int]
    sku: str
    quantity: int
    order_ids: list[strawberry.ID]

    @strawberry.field
    async def variant(self, info: Info[Any, Any]) -> Variant:
        return Variant.from_row(await same_tenant(info, m.Variant, self.variant_pk))
