"""Stock on its way in, over the API (:mod:`crossdock.services.inbound` holds the rules):
``transitLanes``, ``inboundShipments``, ``warehouseDeliveries``; ``transitLaneSet``,
``transitLaneRemove``, ``inboundShipmentCreate``, ``inboundShipmentReceive``,
``inboundShipmentCancel``, ``warehouseDeliveryAnnounce``. Reading needs
``inventory:read``, changing ``inventory:write``."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from crossdock.api.context import RequestState, state
from crossdock.api.schema.catalog_types import Variant
from crossdock.api.schema.common import Money, MoneyInput
from crossdock.api.schema.errors import InventoryUserError, in_transaction, requires
from crossdock.api.schema.inventory_types import Transfer, Warehouse
from crossdock.api.schema.loaders import children, same_tenant
from crossdock.api.schema.relay import Connection, Node, decode_id, encode_id, paginate, resolve_id
from crossdock.db import models as m
from crossdock.services import inbound

__all__ = ["InboundShipment", "Mutation", "Query", "TransitLane", "WarehouseDelivery"]


@strawberry.type(
    description="How long stock takes from one warehouse to another, and what a unit costs to move."
)
class TransitLane(Node):
    pk: strawberry.Private[int]
    from_pk: strawberry.Private[int]
    to_pk: strawberry.Private[int]
    transit_days: int
    transit_sd_days: Decimal = strawberry.field(
        description="The transit time's spread (one standard deviation)."
    )
    unit_cost: Money | None

    @classmethod
    def from_row(cls, row: m.TransitLane) -> TransitLane:
        return cls(
            id=encode_id("TransitLane", row.id),
            pk=row.id,
            from_pk=row.from_warehouse_id,
            to_pk=row.to_warehouse_id,
            transit_days=row.transit_days,
            transit_sd_days=row.transit_sd_days,
            unit_cost=Money.of(row.unit_cost, row.currency),
        )

    @strawberry.field
    async def from_warehouse(self, info: Info[Any, Any]) -> Warehouse:
        return Warehouse.from_row(await same_tenant(info, m.Warehouse, self.from_pk))

    @strawberry.field
    async def to_warehouse(self, info: Info[Any, Any]) -> Warehouse:
        return Warehouse.from_row(await same_tenant(info, m.Warehouse, self.to_pk))


@strawberry.type(
    description="A delivery into a warehouse run by a warehouse system (a sent purchase order, an "
    "inbound shipment), announced to it as an ASN under its number and booked in from its receipts."
)
class WarehouseDelivery(Node):
    pk: strawberry.Private[int]
    warehouse_pk: strawberry.Private[int]
    order_pk: strawberry.Private[int | None]
    shipment_pk: strawberry.Private[int | None]
    reference: str = strawberry.field(description="The number the warehouse system knows it by.")
    status: m.InboundStatus
    external_id: str | None = strawberry.field(description="The warehouse system's id of the ASN.")
    attempts: int
    last_error: str | None = strawberry.field(description="Why the system refused it, when it did.")
    announced_at: datetime | None
    received_at: datetime | None

    @classmethod
    def from_row(cls, row: m.WarehouseInbound) -> WarehouseDelivery:
        return cls(
            id=encode_id("WarehouseDelivery", row.id),
            pk=row.id,
            warehouse_pk=row.warehouse_id,
            order_pk=row.purchase_order_id,
            shipment_pk=row.shipment_id,
            reference=row.reference,
            status=m.InboundStatus(row.status),
            external_id=row.external_id,
            attempts=row.attempts,
            last_error=row.last_error,
            announced_at=row.announced_at,
            received_at=row.received_at,
        )

    @strawberry.field
    async def warehouse(self, info: Info[Any, Any]) -> Warehouse:
        return Warehouse.from_row(await same_tenant(info, m.Warehouse, self.warehouse_pk))

    @strawberry.field(description="What the warehouse system's receipts have counted so far, by SKU.")
    async def counted(self, info: Info[Any, Any]) -> list[CountedUnits]:
        row = await same_tenant(info, m.WarehouseInbound, self.pk)
        return [
            CountedUnits(sku=sku, received=int(v[0]), damaged=int(v[1]))
            for sku, v in sorted((row.counted or {}).items())
        ]

    @strawberry.field(description="The purchase order delivered, when it is one (an ID to fetch it by).")
    def purchase_order_id(self) -> strawberry.ID | None:
        return strawberry.ID(encode_id("PurchaseOrder", self.order_pk)) if self.order_pk is not None else None

    @strawberry.field(description="The inbound shipment delivered, when it is one.")
    async def shipment(self, info: Info[Any, Any]) -> InboundShipment | None:
        if self.shipment_pk is None:
            return None
        return InboundShipment.from_row(await same_tenant(info, m.InboundShipment, self.shipment_pk))


@strawberry.type(description="Units of one SKU a warehouse system has counted of a delivery.")
class CountedUnits:
    sku: str
    received: int = strawberry.field(description="In good condition.")
    damaged: int


@strawberry.type(description="A line of an inbound shipment.")
class InboundShipmentLine:
    id: strawberry.ID
    variant_pk: strawberry.Private[int]
    transfer_pk: strawberry.Private[int]
    quantity: int = strawberry.field(description="Units sent.")
    received_quantity: int = strawberry.field(description="Booked in at the destination in good condition.")
    damaged_quantity: int = strawberry.field(description="Arrived damaged (not stocked).")

    @strawberry.field
    async def variant(self, info: Info[Any, Any]) -> Variant:
        return Variant.from_row(await same_tenant(info, m.Variant, self.variant_pk))

    @strawberry.field(description="The transfer carrying the line's units.")
    async def transfer(self, info: Info[Any, Any]) -> Transfer:
        return Transfer.from_row(await same_tenant(info, m.Transfer, self.transfer_pk))


@strawberry.type(
    description="Stock sent from one of the tenant's warehouses to another (own stock on to an overseas "
    "or marketplace warehouse), several SKUs at once; its units are on order for the destination until "
    "it is received."
)
class InboundShipment(Node):
    pk: strawberry.Private[int]
    from_pk: strawberry.Private[int]
    to_pk: strawberry.Private[int]
    number: str
    status: m.InboundShipmentStatus
    carrier: str | None
    tracking_number: str | None
    shipped_at: datetime
    expected_on: date | None = strawberry.field(
        description="Given, or the shipping day plus the lane's transit time."
    )
    received_at: datetime | None
    notes: str | None

    @classmethod
    def from_row(cls, row: m.InboundShipment) -> InboundShipment:
        return cls(
            id=encode_id("InboundShipment", row.id),
            pk=row.id,
            from_pk=row.from_warehouse_id,
            to_pk=row.to_warehouse_id,
            number=row.number,
            status=m.InboundShipmentStatus(row.status),
            carrier=row.carrier,
            tracking_number=row.tracking_number,
            shipped_at=row.shipped_at,
            expected_on=row.expected_on,
            received_at=row.received_at,
            notes=row.notes,
        )

    @strawberry.field
    async def from_warehouse(self, info: Info[Any, Any]) -> Warehouse:
        return Warehouse.from_row(await same_tenant(info, m.Warehouse, self.from_pk))

    @strawberry.field
    async def to_warehouse(self, info: Info[Any, Any]) -> Warehouse:
        return Warehouse.from_row(await same_tenant(info, m.Warehouse, self.to_pk))

    @strawberry.field
    async def lines(self, info: Info[Any, Any]) -> list[InboundShipmentLine]:
        rows = await children(state(info), m.InboundShipmentLine, "shipment_id").load(self.pk)
        return [
            InboundShipmentLine(
                id=strawberry.ID(encode_id("InboundShipmentLine", r.id)),
                variant_pk=r.variant_id,
                transfer_pk=r.transfer_id,
                quantity=r.quantity,
                received_quantity=r.received_quantity,
                damaged_quantity=r.damaged_quantity,
            )
            for r in sorted(rows, key=lambda r: r.id)
        ]

    @strawberry.field(description="Its announcement to the destination's warehouse system, when one runs it.")
    async def delivery(self, info: Info[Any, Any]) -> WarehouseDelivery | None:
        async with state(info).read() as session:
            row = await session.scalar(
                select(m.WarehouseInbound).where(m.WarehouseInbound.shipment_id == self.pk)
            )
        return WarehouseDelivery.from_row(row) if row is not None else None


# --------------------------------------------------------------------------- inputs


@strawberry.input
class InboundShipmentFilter:
    status: list[m.InboundShipmentStatus] | None = None
    from_warehouse_id: strawberry.ID | None = None
    to_warehouse_id: strawberry.ID | None = None


@strawberry.input
class WarehouseDeliveryFilter:
    status: list[m.InboundStatus] | None = None
    warehouse_id: strawberry.ID | None = None


@strawberry.input
class TransitLaneSetInput:
    from_warehouse_id: strawberry.ID
    to_warehouse_id: strawberry.ID
    transit_days: int
    transit_sd_days: Decimal = Decimal(0)
    unit_cost: MoneyInput | None = None


@strawberry.input
class TransitLaneRemoveInput:
    id: strawberry.ID


@strawberry.input
class InboundShipmentLineInput:
    variant_id: strawberry.ID
    quantity: int


@strawberry.input
class InboundShipmentCreateInput:
    from_warehouse_id: strawberry.ID
    to_warehouse_id: strawberry.ID
    lines: list[InboundShipmentLineInput]
    number: str | None = strawberry.field(default=None, description="None: the next IS-000001, ….")
    carrier: str | None = None
    tracking_number: str | None = None
    expected_on: date | None = strawberry.field(
        default=None, description="None: today plus the lane's transit time (none without a lane)."
    )
    notes: str | None = None


@strawberry.input
class InboundShipmentReceiptLineInput:
    line_id: strawberry.ID
    quantity: int = strawberry.field(description="Units in good condition (they go on hand).")
    damaged: int = 0


@strawberry.input
class InboundShipmentReceiveInput:
    id: strawberry.ID
    lines: list[InboundShipmentReceiptLineInput] | None = strawberry.field(
        default=None, description="None: every line arrived in full; a line left out arrived with nothing."
    )


@strawberry.input
class InboundShipmentCancelInput:
    id: strawberry.ID
    note: str | None = None


@strawberry.input
class WarehouseDeliveryAnnounceInput:
    id: strawberry.ID


@strawberry.type
class TransitLaneSetPayload:
    transit_lane: TransitLane | None = None
    user_errors: list[InventoryUserError] = strawberry.field(default_factory=list)


@strawberry.type
class TransitLaneRemovePayload:
    removed_id: strawberry.ID | None = None
    user_errors: list[InventoryUserError] = strawberry.field(default_factory=list)


@strawberry.type(name="InboundShipmentPayloadFields")
class _ShipmentPayload:
    inbound_shipment: InboundShipment | None = None
    user_errors: list[InventoryUserError] = strawberry.field(default_factory=list)


@strawberry.type
class InboundShipmentCreatePayload(_ShipmentPayload):
    pass


@strawberry.type
class InboundShipmentReceivePayload(_ShipmentPayload):
    pass


@strawberry.type
class InboundShipmentCancelPayload(_ShipmentPayload):
    pass


@strawberry.type
class WarehouseDeliveryAnnouncePayload:
    delivery: WarehouseDelivery | None = None
    user_errors: list[InventoryUserError] = strawberry.field(default_factory=list)


# --------------------------------------------------------------------------- resolvers


@strawberry.type
class Query:
    @strawberry.field(extensions=requires("inventory:read"), description="The tenant's transit lanes.")
    async def transit_lanes(
        self, info: Info[Any, Any], first: int | None = None, after: str | None = None
    ) -> Connection[TransitLane]:
        return await paginate(
            state(info), select(m.TransitLane), m.TransitLane, TransitLane.from_row, first=first, after=after
        )

    @strawberry.field(
        extensions=requires("inventory:read"),
        description="Inbound shipments between the tenant's warehouses.",
    )
    async def inbound_shipments(
        self,
        info: Info[Any, Any],
        first: int | None = None,
        after: str | None = None,
        filter: InboundShipmentFilter | None = None,
    ) -> Connection[InboundShipment]:
        stmt = select(m.InboundShipment)
        if filter and filter.status:
            stmt = stmt.where(m.InboundShipment.status.in_([str(s) for s in filter.status]))
        if filter and filter.from_warehouse_id:
            pk = decode_id(filter.from_warehouse_id, "Warehouse", field="filter.fromWarehouseId")[1]
            stmt = stmt.where(m.InboundShipment.from_warehouse_id == pk)
        if filter and filter.to_warehouse_id:
            pk = decode_id(filter.to_warehouse_id, "Warehouse", field="filter.toWarehouseId")[1]
            stmt = stmt.where(m.InboundShipment.to_warehouse_id == pk)
        return await paginate(
            state(info), stmt, m.InboundShipment, InboundShipment.from_row, first=first, after=after
        )

    @strawberry.field(
        extensions=requires("inventory:read"),
        description="Deliveries announced (or to be announced) to the warehouse systems running the "
        "tenant's warehouses.",
    )
    async def warehouse_deliveries(
        self,
        info: Info[Any, Any],
        first: int | None = None,
        after: str | None = None,
        filter: WarehouseDeliveryFilter | None = None,
    ) -> Connection[WarehouseDelivery]:
        stmt = select(m.WarehouseInbound)
        if filter and filter.status:
            stmt = stmt.where(m.WarehouseInbound.status.in_([str(s) for s in filter.status]))
        if filter and filter.warehouse_id:
            pk = decode_id(filter.warehouse_id, "Warehouse", field="filter.warehouseId")[1]
            stmt = stmt.where(m.WarehouseInbound.warehouse_id == pk)
        return await paginate(
            state(info), stmt, m.WarehouseInbound, WarehouseDelivery.from_row, first=first, after=after
        )


@strawberry.type
class Mutation:
    @strawberry.mutation(
        extensions=requires("inventory:write"),
        description="Create or replace the lane from one warehouse to another: its transit days, their "
        "spread, and a unit cost.",
    )
    async def transit_lane_set(
        self, info: Info[Any, Any], input: TransitLaneSetInput
    ) -> TransitLaneSetPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            source = await resolve_id(session, input.from_warehouse_id, m.Warehouse, field="fromWarehouseId")
            target = await resolve_id(session, input.to_warehouse_id, m.Warehouse, field="toWarehouseId")
            cost = input.unit_cost.value("unitCost") if input.unit_cost is not None else None
            row = await inbound.set_lane(
                session,
                from_warehouse_id=source,
                to_warehouse_id=target,
                transit_days=input.transit_days,
                transit_sd_days=input.transit_sd_days,
                unit_cost=cost,
            )
            return {"transit_lane": TransitLane.from_row(row)}

        return await in_transaction(info, TransitLaneSetPayload, body)

    @strawberry.mutation(extensions=requires("inventory:write"), description="Remove a transit lane.")
    async def transit_lane_remove(
        self, info: Info[Any, Any], input: TransitLaneRemoveInput
    ) -> TransitLaneRemovePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.TransitLane, field="id")
            await inbound.remove_lane(session, pk)
            return {"removed_id": strawberry.ID(encode_id("TransitLane", pk))}

        return await in_transaction(info, TransitLaneRemovePayload, body)

    @strawberry.mutation(
        extensions=requires("inventory:write"),
        description="Send stock from one warehouse to another now: the units leave the source, are on "
        "order for the destination until received, and are announced to its warehouse system.",
    )
    async def inbound_shipment_create(
        self, info: Info[Any, Any], input: InboundShipmentCreateInput
    ) -> InboundShipmentCreatePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            source = await resolve_id(session, input.from_warehouse_id, m.Warehouse, field="fromWarehouseId")
            target = await resolve_id(session, input.to_warehouse_id, m.Warehouse, field="toWarehouseId")
            lines = [
                inbound.ShipmentLineInput(
                    variant_id=await resolve_id(
                        session, line.variant_id, m.Variant, field=f"lines.{i}.variantId"
                    ),
                    quantity=line.quantity,
                )
                for i, line in enumerate(input.lines)
            ]
            row = await inbound.create_shipment(
                st.uow,
                from_warehouse_id=source,
                to_warehouse_id=target,
                lines=lines,
                carrier=input.carrier,
                tracking_number=input.tracking_number,
                expected_on=input.expected_on,
                notes=input.notes,
                number=input.number,
            )
            return {"inbound_shipment": InboundShipment.from_row(row)}

        return await in_transaction(info, InboundShipmentCreatePayload, body)

    @strawberry.mutation(
        extensions=requires("inventory:write"),
        description="Book an inbound shipment in at its destination: in full, or short and damaged per line.",
    )
    async def inbound_shipment_receive(
        self, info: Info[Any, Any], input: InboundShipmentReceiveInput
    ) -> InboundShipmentReceivePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.InboundShipment, field="id")
            lines = None
            if input.lines is not None:
                lines = [
                    inbound.LineReceipt(
                        line_id=await resolve_id(
                            session, line.line_id, m.InboundShipmentLine, field=f"lines.{i}.lineId"
                        ),
                        quantity=line.quantity,
                        damaged=line.damaged,
                    )
                    for i, line in enumerate(input.lines)
                ]
            row = await inbound.receive_shipment(st.uow, pk, lines)
            return {"inbound_shipment": InboundShipment.from_row(row)}

        return await in_transaction(info, InboundShipmentReceivePayload, body)

    @strawberry.mutation(
        extensions=requires("inventory:write"),
        description="An inbound shipment never left (or came back): its units return to the source.",
    )
    async def inbound_shipment_cancel(
        self, info: Info[Any, Any], input: InboundShipmentCancelInput
    ) -> InboundShipmentCancelPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.InboundShipment, field="id")
            row = await inbound.cancel_shipment(st.uow, pk, note=input.note)
            return {"inbound_shipment": InboundShipment.from_row(row)}

        return await in_transaction(info, InboundShipmentCancelPayload, body)

    @strawberry.mutation(
        extensions=requires("inventory:write"),
        description="Announce a delivery its warehouse system refused (or has not taken yet) once more.",
    )
    async def warehouse_delivery_announce(
        self, info: Info[Any, Any], input: WarehouseDeliveryAnnounceInput
    ) -> WarehouseDeliveryAnnouncePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.WarehouseInbound, field="id")
            row = await inbound.announce_again(st.uow, pk)
            return {"delivery": WarehouseDelivery.from_row(row)}

        return await in_transaction(info, WarehouseDeliveryAnnouncePayload, body)
