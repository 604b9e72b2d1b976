"""Orders: the list, ship-by queries, pick lists, and every step of the order's life."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import strawberry
from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from crossdock.api.context import RequestState, state
from crossdock.api.schema.common import MoneyInput, bounded, units
from crossdock.api.schema.errors import (
    IDEMPOTENCY,
    OrderUserError,
    audited,
    in_transaction,
    refuse,
    requires,
)
from crossdock.api.schema.loaders import columns
from crossdock.api.schema.order_types import ORDER_RELATIONS, Order, PickLine, Refund, Shipment
from crossdock.api.schema.relay import Connection, Sort, decode_id, encode_id, paginate, resolve_id, sort_keys
from crossdock.db import models as m
from crossdock.db import utcnow
from crossdock.errors import ChannelError, UserError
from crossdock.jobs import refunds
from crossdock.jobs.cases import cancel_on_channel
from crossdock.providers import CancelReason, HoldReason, Parcel
from crossdock.services import aftersales, allocation, fulfilment, idempotency, sla
from crossdock.services.allocation import allocate_order

__all__ = ["Mutation", "Query", "SlaQuery"]

ORDER_COLUMNS = columns(m.Order, exclude=("raw",))


class OrderSortKeys(StrEnum):
    ID = "ID"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"
    PLACED_AT = "PLACED_AT"
    SHIP_BY = "SHIP_BY"


ORDER_SORTS = sort_keys(
    OrderSortKeys,
    m.Order,
    "The orders `orders` can be listed in; ties are broken by id, and orders without a "
    "ship-by date come last under SHIP_BY (first with `reverse`).",
)


@strawberry.input(description="Orders matching every condition given.")
class OrderFilter:
    status: list[m.OrderStatus] | None = None
    connection_id: strawberry.ID | None = None
    channel: str | None = strawberry.field(default=None, description="A marketplace plugin's name.")
    destination_country: str | None = None
    sku: str | None = strawberry.field(default=None, description="Orders with a line of this SKU.")
    buyer: str | None = strawberry.field(
        default=None, description="The buyer's e-mail address, or part of their name."
    )
    hold_reason: HoldReason | None = strawberry.field(
        default=None, description="Orders with an unreleased hold of this reason."
    )
    created_after: datetime | None = strawberry.field(default=None, description="Created at or after.")
    created_before: datetime | None = strawberry.field(default=None, description="Created before.")
    updated_after: datetime | None = strawberry.field(default=None, description="Last changed at or after.")
    updated_before: datetime | None = strawberry.field(default=None, description="Last changed before.")
    ship_by_after: datetime | None = strawberry.field(default=None, description="Due at or after.")
    ship_by_before: datetime | None = strawberry.field(default=None, description="Due before.")
    sla: m.SlaFlag | None = strawberry.field(
        default=None,
        description="As of now: AT_RISK, due within `slaWithinHours` and the channel has no "
        "tracking yet; LATE, past the ship-by date and still unconfirmed.",
    )
    sla_within_hours: float = strawberry.field(
        default=24, description="The horizon of `sla: AT_RISK`, in hours (at most a year)."
    )
    search: str | None = strawberry.field(default=None, description="External id or buyer name.")

    def apply(self, stmt: Select[Any]) -> Select[Any]:
        conditions: list[Any] = []
        if self.status:
            conditions.append(m.Order.status.in_(self.status))
        if self.connection_id:
            _, pk = decode_id(self.connection_id, "ChannelConnection", field="filter.connectionId")
            conditions.append(m.Order.connection_id == pk)
        if self.channel:
            channel = select(m.Connection.id).where(m.Connection.channel == self.channel)
            conditions.append(m.Order.connection_id.in_(channel))
        if self.destination_country:
            conditions.append(m.Order.destination_country == self.destination_country.upper())
        if self.sku:
            lines = select(m.OrderLine.order_id).where(m.OrderLine.sku == self.sku)
            conditions.append(m.Order.id.in_(lines))
        if self.buyer:
            conditions.append(
                or_(
                    m.Order.buyer_email == self.buyer,
                    m.Order.buyer_name.ilike(_like(self.buyer), escape="\\"),
                )
            )
        if self.hold_reason:
            held = select(m.OrderHold.order_id).where(
                m.OrderHold.reason == self.hold_reason, m.OrderHold.released_at.is_(None)
            )
            conditions.append(m.Order.id.in_(held))
        for value, column, after in (
            (self.created_after, m.Order.created_at, True),
            (self.created_before, m.Order.created_at, False),
            (self.updated_after, m.Order.updated_at, True),
            (self.updated_before, m.Order.updated_at, False),
            (self.ship_by_after, m.Order.ship_by, True),
            (self.ship_by_before, m.Order.ship_by, False),
        ):
            if value is not None:
                conditions.append(column >= value if after else column < value)
        if self.sla is not None:
            now = utcnow()
            if self.sla == m.SlaFlag.LATE:
                conditions += [sla.unconfirmed(), m.Order.ship_by <= now]
            else:
                hours = bounded(self.sla_within_hours, "filter.slaWithinHours", 0, sla.MAX_HORIZON_HOURS)
                horizon = now + timedelta(hours=hours)
                conditions += [sla.unconfirmed(), m.Order.ship_by > now, m.Order.ship_by <= horizon]
        if self.search:
            like = _like(self.search)
            conditions.append(
                or_(m.Order.external_id.ilike(like, escape="\\"), m.Order.buyer_name.ilike(like, escape="\\"))
            )
        return stmt.where(*conditions) if conditions else stmt


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@strawberry.type
class Query:
    @strawberry.field(extensions=requires("orders:read"))
    async def orders(
        self,
        info: Info[Any, Any],
        first: int | None = None,
        after: str | None = None,
        filter: OrderFilter | None = None,
        sort_key: OrderSortKeys = OrderSortKeys.ID,
        reverse: bool = False,
    ) -> Connection[Order]:
        stmt = filter.apply(select(m.Order)) if filter else select(m.Order)
        return await _order_page(info, stmt, first, after, ORDER_SORTS[sort_key], reverse)


async def _order_page(
    info: Info[Any, Any], stmt: Select[Any], first: int | None, after: str | None, sort: Sort, reverse: bool
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
        sort=sort,
        reverse=reverse,
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
    user_errors: list[OrderUserError] = strawberry.field(default_factory=list)


@strawberry.type
class OrderHoldPayload(OrderPayload):
    pass


@strawberry.type
class OrderReleaseHoldPayload(OrderPayload):
    pass


@strawberry.type
class OrderAllocatePayload(OrderPayload):
    pass


@strawberry.type
class OrderCancelPayload(OrderPayload):
    channel: m.ChannelCancel | None = strawberry.field(
        default=None,
        description="What the channel said (none when not asked, or the order was cancelled already).",
    )


@strawberry.type
class OrderMarkDeliveredPayload(OrderPayload):
    pass


@strawberry.type
class ReturnReceivePayload(OrderPayload):
    pass


@strawberry.type
class RefundRecordPayload(OrderPayload):
    refund: Refund | None = strawberry.field(default=None, description="The refund just made.")


@strawberry.type
class ShipmentPayload:
    shipment: Shipment | None = None
    order: Order | None = None
    user_errors: list[OrderUserError] = strawberry.field(default_factory=list)


@strawberry.type
class ShipmentPackPayload(ShipmentPayload):
    pass


@strawberry.type
class ShipmentShipPayload(ShipmentPayload):
    pass


@strawberry.type
class PickListPayload:
    lines: list[PickLine] | None = None
    user_errors: list[OrderUserError] = strawberry.field(default_factory=list)


@strawberry.type
class PickListStartPayload(PickListPayload):
    pass


@strawberry.input
class OrderHoldInput:
    id: strawberry.ID
    reason: HoldReason = HoldReason.MANUAL
    message: str | None = None


@strawberry.input
class OrderReleaseHoldInput:
    id: strawberry.ID
    reason: HoldReason | None = strawberry.field(default=None, description="One reason, or every hold.")


@strawberry.input
class OrderCancelInput:
    id: strawberry.ID
    reason: str = strawberry.field(description="Kept in the order's history.")
    cancel_reason: CancelReason = strawberry.field(
        default=CancelReason.OTHER, description="The reason the channel is given (each maps it to its own)."
    )
    on_channel: bool = strawberry.field(
        default=True,
        description="Cancel on the order's channel first (where its API allows); false: here only.",
    )


@strawberry.input
class OrderIdInput:
    id: strawberry.ID


@strawberry.input
class PickListStartInput:
    warehouse_id: strawberry.ID


@strawberry.input(description="One box: its weight, and its size when known.")
class PackageInput:
    weight_grams: int
    length_mm: int | None = None
    width_mm: int | None = None
    height_mm: int | None = None


@strawberry.input(
    description="Pack with the carrier and tracking number of a label bought elsewhere, or with "
    "neither and then buy one (`shipmentBuyLabel`)."
)
class ShipmentPackInput:
    order_id: strawberry.ID
    warehouse_id: strawberry.ID
    carrier: str | None = None
    tracking_number: str | None = None
    service: str | None = None
    packages: list[PackageInput] = strawberry.field(default_factory=list)


@strawberry.input
class ShipmentShipInput:
    id: strawberry.ID
    shipped_at: datetime | None = None


@strawberry.input
class ReturnLineInput:
    order_line_id: strawberry.ID
    quantity: int
    condition: m.ReturnCondition


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
    out_of_band: bool = strawberry.field(
        default=False,
        description="The money went back another way (cash, a bank transfer the seller made): "
        "record it without asking the order's payment provider.",
    )


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
    async def order_hold(self, info: Info[Any, Any], input: OrderHoldInput) -> OrderHoldPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await _order_pk(session, input.id)
            await allocation.hold_order(session, pk, input.reason, input.message)
            return {"order": await _order(session, pk)}

        return await in_transaction(info, OrderHoldPayload, body)

    @strawberry.mutation(
        extensions=requires("orders:write"),
        description="Release holds; with none left the order is allocated.",
    )
    async def order_release_hold(
        self, info: Info[Any, Any], input: OrderReleaseHoldInput
    ) -> OrderReleaseHoldPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await _order_pk(session, input.id)
            await allocation.release_holds(st.uow, pk, input.reason)
            return {"order": await _order(session, pk)}

        return await in_transaction(info, OrderReleaseHoldPayload, body)

    @strawberry.mutation(extensions=requires("orders:write"), description="Try to reserve stock again now.")
    async def order_allocate(self, info: Info[Any, Any], input: OrderIdInput) -> OrderAllocatePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await _order_pk(session, input.id)
            row = await session.scalar(select(m.Order).where(m.Order.id == pk))
            assert row is not None
            await allocate_order(st.uow, row)
            return {"order": await _order(session, pk)}

        return await in_transaction(info, OrderAllocatePayload, body)

    @strawberry.mutation(
        extensions=requires("orders:write"),
        description="Cancel on the order's channel (where its API allows), then here: reserved stock "
        "goes back. A channel that refuses or does not answer leaves the order as it was.",
    )
    async def order_cancel(self, info: Info[Any, Any], input: OrderCancelInput) -> OrderCancelPayload:
        st = state(info)
        channel: m.ChannelCancel | None = None
        try:
            async with st.read() as session:
                pk = await _order_pk(session, input.id)
                order = await _order(session, pk)
            fulfilment.check_cancellable(order.status)
            if input.on_channel and order.status != m.OrderStatus.CANCELLED:
                p = st.principal
                with audited(info):  # what the channel's answer changes (its error kept)
                    channel = await cancel_on_channel(
                        st.app.job_context(), p.tenant_id, p.tenant_slug, pk, input.cancel_reason
                    )
        except UserError as exc:
            return await refuse(info, OrderCancelPayload, exc)
        except ChannelError as exc:
            code = "CHANNEL_UNAVAILABLE" if exc.retryable else "CHANNEL_REFUSED"
            refused = UserError(f"the channel says: {exc.message}", field="id", code=code)
            return await refuse(info, OrderCancelPayload, refused)

        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            by_channel = channel == m.ChannelCancel.CANCELLED
            await fulfilment.cancel_order(st.uow, pk, input.reason, by_channel=by_channel)
            return {"order": await _order(session, pk), "channel": channel}

        return await in_transaction(info, OrderCancelPayload, body)

    @strawberry.mutation(extensions=requires("orders:write"))
    async def order_mark_delivered(
        self, info: Info[Any, Any], input: OrderIdInput
    ) -> OrderMarkDeliveredPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await _order_pk(session, input.id)
            await fulfilment.mark_delivered(session, pk, "marked delivered by an operator")
            return {"order": await _order(session, pk)}

        return await in_transaction(info, OrderMarkDeliveredPayload, body)

    @strawberry.mutation(
        extensions=requires("orders:write"),
        description="Issue a warehouse's pick list: its orders go to picking.",
    )
    async def pick_list_start(self, info: Info[Any, Any], input: PickListStartInput) -> PickListStartPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await _warehouse_pk(session, input.warehouse_id)
            return {"lines": _pick_lines(await fulfilment.start_picking(session, pk))}

        return await in_transaction(info, PickListStartPayload, body)

    @strawberry.mutation(
        extensions=requires("orders:write"),
        description="Pack an order's units of one warehouse into a shipment (with tracking, or to "
        "buy a label for).",
    )
    async def shipment_pack(self, info: Info[Any, Any], input: ShipmentPackInput) -> ShipmentPackPayload:
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
                packages=[
                    Parcel(p.weight_grams, p.length_mm, p.width_mm, p.height_mm) for p in input.packages
                ],
            )
            return {"shipment": Shipment.from_row(shipment), "order": await _order(session, order_pk)}

        return await in_transaction(info, ShipmentPackPayload, body)

    @strawberry.mutation(
        extensions=requires("orders:write"),
        description="The parcel left: stock goes down and the channel is told (a retried job).",
    )
    async def shipment_ship(self, info: Info[Any, Any], input: ShipmentShipInput) -> ShipmentShipPayload:
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

        return await in_transaction(info, ShipmentShipPayload, body)

    @strawberry.mutation(
        extensions=requires("orders:write"), description="Units came back, sellable or damaged."
    )
    async def return_receive(self, info: Info[Any, Any], input: ReturnReceiveInput) -> ReturnReceivePayload:
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

        return await in_transaction(info, ReturnReceivePayload, body)

    @strawberry.mutation(
        extensions=requires("orders:write"),
        description="Give money back, never more than the order's total. An order paid through a "
        "payment provider that refunds (its `paymentProvider`) is refunded there: the refund is "
        "PENDING while the provider is asked, then SUCCEEDED, or FAILED with PAYMENT_REFUSED and "
        "the provider's message; PAYMENT_UNAVAILABLE when it did not answer (retried with the same "
        "reference, never twice). A marketplace order records the channel's refund.",
    )
    async def refund_record(self, info: Info[Any, Any], input: RefundRecordInput) -> RefundRecordPayload:
        st = state(info)
        try:
            amount = input.amount.value("amount", positive=True)
            p = st.principal
            # a session of its own, not the request's read session: that one would keep a
            # snapshot from before the refund the payload then shows
            async with st.app.db.tenant(p.tenant_id, p.tenant_slug) as session:
                pk = await _order_pk(session, input.order_id, "orderId")
            with audited(info):  # one entry per transaction the refund commits
                refund_id = await refunds.refund(
                    st.app.job_context(),
                    p.tenant_id,
                    p.tenant_slug,
                    pk,
                    amount,
                    reason=input.reason,
                    reference=input.reference,
                    out_of_band=input.out_of_band,
                )
        except UserError as exc:
            return await refuse(info, RefundRecordPayload, exc)
        # the provider is called between transactions: the Idempotency-Key is marked used
        # once the refund is made, as for label purchases
        held = info.context.get(IDEMPOTENCY)
        async with st.write() as session:
            if held is not None:
                await idempotency.mark_committed(session, held)
            row = await session.scalar(select(m.Refund).where(m.Refund.id == refund_id))
            assert row is not None
            return RefundRecordPayload(order=await _order(session, pk), refund=Refund.from_row(row))


@strawberry.type
class SlaQuery:
    @strawberry.field(
        extensions=requires("orders:read"), description="What to pick in one warehouse, by SKU."
    )
    async def pick_list(self, info: Info[Any, Any], warehouse_id: strawberry.ID) -> list[PickLine]:
        async with state(info).read() as session:
            pk = await _warehouse_pk(session, warehouse_id)
            return _pick_lines(await fulfilment.pick_list(session, pk))
