"""Orders: the list, ship-by queries, pick lists, and every step of the order's life."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from crossdock.api.context import RequestState, state
from crossdock.api.schema.common import MoneyInput, bounded, units
from crossdock.api.schema.errors import UserErrorType, in_transaction, requires
from crossdock.api.schema.loaders import columns
from crossdock.api.schema.relay import Connection, decode_id, encode_id, paginate, resolve_id
from crossdock.api.schema.types import ORDER_RELATIONS, Order, PickLine, Shipment
from crossdock.db import models as m
from crossdock.db import utcnow
from crossdock.services import aftersales, allocation, fulfilment, sla
from crossdock.services.allocation import allocate_order

__all__ = ["Mutation", "Query", "SlaQuery"]

ORDER_COLUMNS = columns(m.Order, exclude=("raw",))


@strawberry.input
class OrderFilter:
    status: list[str] | None = None
    connection_id: strawberry.ID | None = None
    channel: str | None = None
    destination_country: str | None = None
    hold_reason: str | None = None
    ship_by_before: datetime | None = None
    search: str | None = strawberry.field(default=None, description="External id or buyer name.")


@strawberry.type
class Query:
    @strawberry.field(extensions=requires("orders:read"))
    async def orders(
        self,
        info: Info[Any, Any],
        first: int | None = None,
        after: str | None = None,
        filter: OrderFilter | None = None,
    ) -> Connection[Order]:
        stmt = select(m.Order)
        if filter:
            if filter.status:
                stmt = stmt.where(m.Order.status.in_(filter.status))
            if filter.connection_id:
                _, pk = decode_id(filter.connection_id, "ChannelConnection", field="filter.connectionId")
                stmt = stmt.where(m.Order.connection_id == pk)
            if filter.channel:
                stmt = stmt.where(
                    m.Order.connection_id.in_(
                        select(m.Connection.id).where(m.Connection.channel == filter.channel)
                    )
                )
            if filter.destination_country:
                stmt = stmt.where(m.Order.destination_country == filter.destination_country.upper())
            if filter.hold_reason:
                stmt = stmt.where(
                    m.Order.id.in_(
                        select(m.OrderHold.order_id).where(
                            m.OrderHold.reason == filter.hold_reason, m.OrderHold.released_at.is_(None)
                        )
                    )
                )
            if filter.ship_by_before:
                stmt = stmt.where(m.Order.ship_by < filter.ship_by_before)
            if filter.search:
                like = f"%{filter.search}%"
                stmt = stmt.where(or_(m.Order.external_id.ilike(like), m.Order.buyer_name.ilike(like)))
        return await _order_page(info, stmt, first, after)


async def _order_page(
    info: Info[Any, Any], stmt: Select[Any], first: int | None, after: str | None
) -> Connection[Order]:
    """A page of orders, as plain records, with the relations the query selects loaded for the
    whole page. The channel's raw payload is never shown, so it is not read."""
    return await paginate(
        state(info),
        stmt.with_only_columns(*ORDER_COLUMNS.selected),
        m.Order,
        Order.from_row,
        first=first,
        after=after,
        info=info,
        relations=ORDER_RELATIONS,
        read_as=ORDER_COLUMNS,
    )


async def _order_pk(session: AsyncSession, value: strawberry.ID, field: str = "id") -> int:
    return await resolve_id(session, value, m.Order, field=field)


async def _warehouse_pk(session: AsyncSession, value: strawberry.ID, field: str = "warehouseId") -> int:
    return await resolve_id(session, value, m.Warehouse, field=field)


async def _order(session: AsyncSession, pk: int) -> Order:
    row = await session.scalar(select(m.Order).where(m.Order.id == pk))
    assert row is not None
    return Order.from_row(row)


@strawberry.type
class OrderPayload:
    order: Order | None = None
    user_errors: list[UserErrorType] = strawberry.field(default_factory=list)


@strawberry.type
class ShipmentPayload:
    shipment: Shipment | None = None
    order: Order | None = None
    user_errors: list[UserErrorType] = strawberry.field(default_factory=list)


@strawberry.type
class PickListPayload:
    lines: list[PickLine] | None = None
    user_errors: list[UserErrorType] = strawberry.field(default_factory=list)


@strawberry.input
class OrderHoldInput:
    id: strawberry.ID
    reason: str = "manual"
    message: str | None = None


@strawberry.input
class OrderReleaseHoldInput:
    id: strawberry.ID
    reason: str | None = strawberry.field(default=None, description="One reason, or every hold.")


@strawberry.input
class OrderCancelInput:
    id: strawberry.ID
    reason: str


@strawberry.input
class OrderIdInput:
    id: strawberry.ID


@strawberry.input
class PickListStartInput:
    warehouse_id: strawberry.ID


@strawberry.input
class ShipmentPackInput:
    order_id: strawberry.ID
    warehouse_id: strawberry.ID
    carrier: str
    tracking_number: str
    service: str | None = None


@strawberry.input
class ShipmentShipInput:
    id: strawberry.ID
    shipped_at: datetime | None = None


@strawberry.input
class ReturnLineInput:
    order_line_id: strawberry.ID
    quantity: int
    condition: str = strawberry.field(description="sellable or damaged")


@strawberry.input
class ReturnReceiveInput:
    order_id: strawberry.ID
    warehouse_id: strawberry.ID
    lines: list[ReturnLineInput]
    note: str | None = None


@strawberry.input
class RefundRecordInput:
    order_id: strawberry.ID
    amount: MoneyInput
    reason: str | None = None
    reference: str | None = None


def _pick_lines(lines: list[fulfilment.PickLine]) -> list[PickLine]:
    return [
        PickLine(
            variant_pk=line.variant_id,
            sku=line.sku,
            quantity=line.quantity,
            order_ids=[encode_id("Order", oid) for oid in line.order_ids],
        )
        for line in lines
    ]


@strawberry.type
class Mutation:
    @strawberry.mutation(
        extensions=requires("orders:write"), description="Stop an order (reason `manual` by default)."
    )
    async def order_hold(self, info: Info[Any, Any], input: OrderHoldInput) -> OrderPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await _order_pk(session, input.id)
            await allocation.hold_order(session, pk, input.reason, input.message)
            return {"order": await _order(session, pk)}

        return await in_transaction(info, OrderPayload, body)

    @strawberry.mutation(
        extensions=requires("orders:write"),
        description="Release holds; with none left the order is allocated.",
    )
    async def order_release_hold(self, info: Info[Any, Any], input: OrderReleaseHoldInput) -> OrderPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await _order_pk(session, input.id)
            await allocation.release_holds(st.uow, pk, input.reason)
            return {"order": await _order(session, pk)}

        return await in_transaction(info, OrderPayload, body)

    @strawberry.mutation(extensions=requires("orders:write"), description="Try to reserve stock again now.")
    async def order_allocate(self, info: Info[Any, Any], input: OrderIdInput) -> OrderPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await _order_pk(session, input.id)
            row = await session.scalar(select(m.Order).where(m.Order.id == pk))
            assert row is not None
            await allocate_order(st.uow, row)
            return {"order": await _order(session, pk)}

        return await in_transaction(info, OrderPayload, body)

    @strawberry.mutation(extensions=requires("orders:write"), description="Cancel; reserved stock goes back.")
    async def order_cancel(self, info: Info[Any, Any], input: OrderCancelInput) -> OrderPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await _order_pk(session, input.id)
            await fulfilment.cancel_order(st.uow, pk, input.reason)
            return {"order": await _order(session, pk)}

        return await in_transaction(info, OrderPayload, body)

    @strawberry.mutation(extensions=requires("orders:write"))
    async def order_mark_delivered(self, info: Info[Any, Any], input: OrderIdInput) -> OrderPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await _order_pk(session, input.id)
            await fulfilment.mark_delivered(session, pk, "marked delivered by an operator")
            return {"order": await _order(session, pk)}

        return await in_transaction(info, OrderPayload, body)

    @strawberry.mutation(
        extensions=requires("orders:write"),
        description="Issue a warehouse's pick list: its orders go to picking.",
    )
    async def pick_list_start(self, info: Info[Any, Any], input: PickListStartInput) -> PickListPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await _warehouse_pk(session, input.warehouse_id)
            return {"lines": _pick_lines(await fulfilment.start_picking(session, pk))}

        return await in_transaction(info, PickListPayload, body)

    @strawberry.mutation(
        extensions=requires("orders:write"),
        description="Pack an order's units of one warehouse, with tracking.",
    )
    async def shipment_pack(self, info: Info[Any, Any], input: ShipmentPackInput) -> ShipmentPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            order_pk = await _order_pk(session, input.order_id, "orderId")
            warehouse_pk = await _warehouse_pk(session, input.warehouse_id)
            shipment = await fulfilment.pack_shipment(
                session,
                order_pk,
                warehouse_pk,
                carrier=input.carrier,
                tracking_number=input.tracking_number,
                service=input.service,
            )
            return {"shipment": Shipment.from_row(shipment), "order": await _order(session, order_pk)}

        return await in_transaction(info, ShipmentPayload, body)

    @strawberry.mutation(
        extensions=requires("orders:write"),
        description="The parcel left: stock goes down and the channel is told (a retried job).",
    )
    async def shipment_ship(self, info: Info[Any, Any], input: ShipmentShipInput) -> ShipmentPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.Shipment)
            shipment = await fulfilment.ship_shipment(
                st.uow,
                pk,
                shipped_at=input.shipped_at,
                api_key_id=st.principal.api_key_id,
            )
            return {
                "shipment": Shipment.from_row(shipment),
                "order": await _order(session, shipment.order_id),
            }

        return await in_transaction(info, ShipmentPayload, body)

    @strawberry.mutation(
        extensions=requires("orders:write"), description="Units came back, sellable or damaged."
    )
    async def return_receive(self, info: Info[Any, Any], input: ReturnReceiveInput) -> OrderPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await _order_pk(session, input.order_id, "orderId")
            warehouse_pk = await _warehouse_pk(session, input.warehouse_id)
            lines = [
                aftersales.ReturnLine(
                    await resolve_id(
                        session, line.order_line_id, m.OrderLine, field=f"lines.{i}.orderLineId"
                    ),
                    units(line.quantity, f"lines.{i}.quantity"),
                    line.condition,
                )
                for i, line in enumerate(input.lines)
            ]
            await aftersales.receive_return(
                st.uow,
                pk,
                warehouse_pk,
                lines,
                note=input.note,
                api_key_id=st.principal.api_key_id,
            )
            return {"order": await _order(session, pk)}

        return await in_transaction(info, OrderPayload, body)

    @strawberry.mutation(extensions=requires("orders:write"))
    async def refund_record(self, info: Info[Any, Any], input: RefundRecordInput) -> OrderPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await _order_pk(session, input.order_id, "orderId")
            await aftersales.record_refund(
                session,
                pk,
                input.amount.value("amount", positive=True),
                reason=input.reason,
                reference=input.reference,
            )
            return {"order": await _order(session, pk)}

        return await in_transaction(info, OrderPayload, body)


@strawberry.type
class SlaQuery:
    @strawberry.field(
        extensions=requires("orders:read"),
        description="Orders due to ship within `withinHours` that the channel has no tracking for yet.",
    )
    async def orders_at_risk(
        self,
        info: Info[Any, Any],
        within_hours: float = 24,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Order]:
        hours = bounded(within_hours, "withinHours", 0, 24 * 366)  # timedelta overflows past ~1e13
        return await _order_page(info, sla.at_risk(utcnow(), hours), first, after)

    @strawberry.field(
        extensions=requires("orders:read"), description="Past their ship-by and still unconfirmed."
    )
    async def late_orders(
        self, info: Info[Any, Any], first: int | None = None, after: str | None = None
    ) -> Connection[Order]:
        return await _order_page(info, sla.late(utcnow()), first, after)

    @strawberry.field(
        extensions=requires("orders:read"), description="What to pick in one warehouse, by SKU."
    )
    async def pick_list(self, info: Info[Any, Any], warehouse_id: strawberry.ID) -> list[PickLine]:
        async with state(info).read() as session:
            pk = await _warehouse_pk(session, warehouse_id)
            return _pick_lines(await fulfilment.pick_list(session, pk))
