"""Suppliers and purchase orders over the API (:mod:`crossdock.services.purchasing` holds
the rules): ``suppliers``, ``purchaseOrders``, ``stockOnOrder``; ``supplierCreate``,
``supplierUpdate``, ``supplierItemSet``, ``purchaseOrderCreate``, ``purchaseOrderUpdate``,
``purchaseOrderSend``, ``purchaseOrderReceive``, ``purchaseOrderClose``,
``purchaseOrderCancel``. Reading needs ``inventory:read``, changing ``inventory:write``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from crossdock.api.context import RequestState, state
from crossdock.api.schema.catalog_types import Variant
from crossdock.api.schema.channel_types import ChannelConnection
from crossdock.api.schema.common import Money
from crossdock.api.schema.errors import InventoryUserError, in_transaction, requires
from crossdock.api.schema.inbound import WarehouseDelivery
from crossdock.api.schema.inventory_types import Warehouse
from crossdock.api.schema.loaders import children, same_tenant
from crossdock.api.schema.relay import Connection, Node, decode_id, encode_id, paginate, resolve_id, sort_keys
from crossdock.db import models as m
from crossdock.services import purchasing
from crossdock.services.replenishment import Reason as ReplenishmentReason
from crossdock.services.uow import UnitOfWork

__all__ = [
    "Mutation",
    "PlanningMutation",
    "PlanningQuery",
    "PurchaseOrder",
    "Query",
    "ReplenishmentPlan",
    "Supplier",
]

P = TypeVar("P")


@strawberry.type(description="A price a supplier asks from a quantity on.")
class PriceBreak:
    min_quantity: int
    unit_price: Decimal


@strawberry.type(description="A variant as a supplier sells it.")
class SupplierItem:
    variant_pk: strawberry.Private[int]
    supplier_sku: str | None
    lead_time_days: Decimal | None = strawberry.field(description="When it differs from the supplier's.")
    lead_time_sd_days: Decimal | None
    moq: int = strawberry.field(description="The fewest units the supplier takes an order for.")
    case_pack: int = strawberry.field(description="Units per case: orders are whole cases.")
    price_breaks: list[PriceBreak]

    @classmethod
    def from_row(cls, row: m.SupplierItem) -> SupplierItem:
        return cls(
            variant_pk=row.variant_id,
            supplier_sku=row.supplier_sku,
            lead_time_days=row.lead_time_days,
            lead_time_sd_days=row.lead_time_sd_days,
            moq=row.moq,
            case_pack=row.case_pack,
            price_breaks=[
                PriceBreak(min_quantity=int(b["min_quantity"]), unit_price=Decimal(str(b["unit_price"])))
                for b in row.price_breaks or []
            ],
        )

    @strawberry.field
    async def variant(self, info: Info[Any, Any]) -> Variant:
        return Variant.from_row(await same_tenant(info, m.Variant, self.variant_pk))


@strawberry.type(description="Who the seller buys from.")
class Supplier(Node):
    pk: strawberry.Private[int]
    code: str
    name: str
    email: str | None
    currency: str
    payment_terms_days: int
    lead_time_days: Decimal = strawberry.field(description="From order to arrival, usually.")
    lead_time_sd_days: Decimal = strawberry.field(
        description="The lead time's spread (one standard deviation)."
    )
    notes: str | None
    archived_at: datetime | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: m.Supplier) -> Supplier:
        return cls(
            id=encode_id("Supplier", row.id),
            pk=row.id,
            code=row.code,
            name=row.name,
            email=row.email,
            currency=row.currency,
            payment_terms_days=row.payment_terms_days,
            lead_time_days=row.lead_time_days,
            lead_time_sd_days=row.lead_time_sd_days,
            notes=row.notes,
            archived_at=row.archived_at,
            created_at=row.created_at,
        )

    @strawberry.field(description="The variants it sells, as it sells them.")
    async def items(self, info: Info[Any, Any]) -> list[SupplierItem]:
        rows = await children(state(info), m.SupplierItem, "supplier_id").load(self.pk)
        return [SupplierItem.from_row(r) for r in rows]


@strawberry.type(description="A line of a purchase order.")
class PurchaseOrderLine:
    id: strawberry.ID
    variant_pk: strawberry.Private[int]
    quantity: int
    unit_price: Money
    received_quantity: int = strawberry.field(description="Arrived in good condition: on hand.")
    damaged_quantity: int = strawberry.field(description="Arrived damaged: not stocked.")
    open_quantity: int = strawberry.field(description="Still to come (none once the order is closed).")

    @classmethod
    def from_row(cls, row: m.PurchaseOrderLine, currency: str, status: str) -> PurchaseOrderLine:
        open_now = status in purchasing.OPEN or status == m.PurchaseOrderStatus.DRAFT
        return cls(
            id=encode_id("PurchaseOrderLine", row.id),
            variant_pk=row.variant_id,
            quantity=row.quantity,
            unit_price=Money.exact(row.unit_price, currency),
            received_quantity=row.received_quantity,
            damaged_quantity=row.damaged_quantity,
            open_quantity=max(0, row.quantity - row.received_quantity) if open_now else 0,
        )

    @strawberry.field
    async def variant(self, info: Info[Any, Any]) -> Variant:
        return Variant.from_row(await same_tenant(info, m.Variant, self.variant_pk))


@strawberry.type(description="A line of a delivery received.")
class PurchaseReceiptLine:
    line_id: strawberry.ID
    quantity: int
    damaged: int
    unit_cost: Money = strawberry.field(description="The landed cost of one good unit: price, freight, duty.")


@strawberry.type(description="One delivery received against a purchase order.")
class PurchaseReceipt:
    pk: strawberry.Private[int]
    currency: strawberry.Private[str]
    reference: str | None
    note: str | None
    received_at: datetime

    @strawberry.field
    async def lines(self, info: Info[Any, Any]) -> list[PurchaseReceiptLine]:
        rows = await children(state(info), m.PurchaseReceiptLine, "receipt_id").load(self.pk)
        return [
            PurchaseReceiptLine(
                line_id=encode_id("PurchaseOrderLine", r.line_id),
                quantity=r.quantity,
                damaged=r.damaged,
                unit_cost=Money.exact(r.unit_cost, self.currency),
            )
            for r in rows
        ]


@strawberry.type(description="An order to a supplier for one warehouse.")
class PurchaseOrder(Node):
    pk: strawberry.Private[int]
    supplier_pk: strawberry.Private[int]
    warehouse_pk: strawberry.Private[int]
    number: str
    status: m.PurchaseOrderStatus
    currency: str
    expected_on: date | None
    freight: Money = strawberry.field(description="For the whole order: shared out to the lines by value.")
    duty: Money
    notes: str | None
    sent_at: datetime | None
    closed_at: datetime | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: m.PurchaseOrder) -> PurchaseOrder:
        return cls(
            id=encode_id("PurchaseOrder", row.id),
            pk=row.id,
            supplier_pk=row.supplier_id,
            warehouse_pk=row.warehouse_id,
            number=row.number,
            status=m.PurchaseOrderStatus(row.status),
            currency=row.currency,
            expected_on=row.expected_on,
            freight=Money.exact(row.freight, row.currency),
            duty=Money.exact(row.duty, row.currency),
            notes=row.notes,
            sent_at=row.sent_at,
            closed_at=row.closed_at,
            created_at=row.created_at,
        )

    @strawberry.field
    async def supplier(self, info: Info[Any, Any]) -> Supplier:
        return Supplier.from_row(await same_tenant(info, m.Supplier, self.supplier_pk))

    @strawberry.field
    async def warehouse(self, info: Info[Any, Any]) -> Warehouse:
        return Warehouse.from_row(await same_tenant(info, m.Warehouse, self.warehouse_pk))

    @strawberry.field
    async def lines(self, info: Info[Any, Any]) -> list[PurchaseOrderLine]:
        rows = await children(state(info), m.PurchaseOrderLine, "purchase_order_id").load(self.pk)
        return [PurchaseOrderLine.from_row(r, self.currency, self.status) for r in rows]

    @strawberry.field(
        description="Its announcement to the warehouse system running its warehouse, when one does."
    )
    async def delivery(self, info: Info[Any, Any]) -> WarehouseDelivery | None:
        async with state(info).read() as session:
            row = await session.scalar(
                select(m.WarehouseInbound).where(m.WarehouseInbound.purchase_order_id == self.pk)
            )
        return WarehouseDelivery.from_row(row) if row is not None else None

    @strawberry.field
    async def receipts(self, info: Info[Any, Any]) -> list[PurchaseReceipt]:
        rows = await children(state(info), m.PurchaseReceipt, "purchase_order_id").load(self.pk)
        return [
            PurchaseReceipt(
                pk=r.id, currency=self.currency, reference=r.reference, note=r.note, received_at=r.received_at
            )
            for r in rows
        ]


@strawberry.type(description="Units sent for and not received yet, for one variant and warehouse.")
class StockOnOrder:
    variant_pk: strawberry.Private[int]
    warehouse_pk: strawberry.Private[int]
    quantity: int
    next_expected_on: date | None = strawberry.field(description="The earliest expected date of its orders.")

    @strawberry.field
    async def variant(self, info: Info[Any, Any]) -> Variant:
        return Variant.from_row(await same_tenant(info, m.Variant, self.variant_pk))

    @strawberry.field
    async def warehouse(self, info: Info[Any, Any]) -> Warehouse:
        return Warehouse.from_row(await same_tenant(info, m.Warehouse, self.warehouse_pk))


class PurchaseOrderSortKeys(StrEnum):
    ID = "ID"
    CREATED_AT = "CREATED_AT"
    EXPECTED_ON = "EXPECTED_ON"


PURCHASE_ORDER_SORTS = sort_keys(
    PurchaseOrderSortKeys, m.PurchaseOrder, "The orders purchase orders can be listed in."
)


@strawberry.input
class SupplierFilter:
    archived: bool | None = None


@strawberry.input
class PurchaseOrderFilter:
    status: list[m.PurchaseOrderStatus] | None = None
    supplier_id: strawberry.ID | None = None
    warehouse_id: strawberry.ID | None = None


# --------------------------------------------------------------------------- inputs


@strawberry.input
class SupplierCreateInput:
    code: str
    name: str
    currency: str
    email: str | None = None
    payment_terms_days: int = 30
    lead_time_days: Decimal = Decimal(14)
    lead_time_sd_days: Decimal = Decimal(0)
    notes: str | None = None


@strawberry.input
class SupplierUpdateInput:
    id: strawberry.ID
    name: str | None = None
    email: str | None = None
    payment_terms_days: int | None = None
    lead_time_days: Decimal | None = None
    lead_time_sd_days: Decimal | None = None
    notes: str | None = None
    archived: bool | None = None


@strawberry.input
class PriceBreakInput:
    min_quantity: int
    unit_price: Decimal


@strawberry.input
class SupplierItemSetInput:
    supplier_id: strawberry.ID
    variant_id: strawberry.ID
    supplier_sku: str | None = None
    lead_time_days: Decimal | None = None
    lead_time_sd_days: Decimal | None = None
    moq: int = 1
    case_pack: int = 1
    price_breaks: list[PriceBreakInput] = strawberry.field(default_factory=list)


@strawberry.input
class PurchaseOrderLineInput:
    variant_id: strawberry.ID
    quantity: int
    unit_price: Decimal | None = strawberry.field(
        default=None, description="In the supplier's currency; none: its price break for the quantity."
    )


@strawberry.input
class PurchaseOrderCreateInput:
    supplier_id: strawberry.ID
    warehouse_id: strawberry.ID
    lines: list[PurchaseOrderLineInput]
    number: str | None = strawberry.field(default=None, description="None: the next PO-000001, ….")
    expected_on: date | None = None
    freight: Decimal = Decimal(0)
    duty: Decimal = Decimal(0)
    notes: str | None = None


@strawberry.input
class PurchaseOrderUpdateInput:
    id: strawberry.ID
    lines: list[PurchaseOrderLineInput] | None = strawberry.field(
        default=None, description="Replace the lines (a draft only)."
    )
    expected_on: date | None = None
    freight: Decimal | None = None
    duty: Decimal | None = None
    notes: str | None = None


@strawberry.input
class PurchaseOrderIdInput:
    id: strawberry.ID


@strawberry.input
class ReceiptLineInput:
    line_id: strawberry.ID
    quantity: int = strawberry.field(description="Units in good condition (they go on hand).")
    damaged: int = 0


@strawberry.input
class PurchaseOrderReceiveInput:
    id: strawberry.ID
    lines: list[ReceiptLineInput]
    reference: str | None = strawberry.field(default=None, description="The delivery note's number.")
    note: str | None = None


@strawberry.type
class SupplierCreatePayload:
    supplier: Supplier | None = None
    user_errors: list[InventoryUserError] = strawberry.field(default_factory=list)


@strawberry.type
class SupplierUpdatePayload:
    supplier: Supplier | None = None
    user_errors: list[InventoryUserError] = strawberry.field(default_factory=list)


@strawberry.type
class SupplierItemSetPayload:
    supplier: Supplier | None = None
    user_errors: list[InventoryUserError] = strawberry.field(default_factory=list)


@strawberry.type(name="PurchaseOrderPayloadFields")
class _OrderPayload:
    purchase_order: PurchaseOrder | None = None
    user_errors: list[InventoryUserError] = strawberry.field(default_factory=list)


@strawberry.type
class PurchaseOrderCreatePayload(_OrderPayload):
    pass


@strawberry.type
class PurchaseOrderUpdatePayload(_OrderPayload):
    pass


@strawberry.type
class PurchaseOrderSendPayload(_OrderPayload):
    pass


@strawberry.type
class PurchaseOrderReceivePayload(_OrderPayload):
    pass


@strawberry.type
class PurchaseOrderClosePayload(_OrderPayload):
    pass


@strawberry.type
class PurchaseOrderCancelPayload(_OrderPayload):
    pass


# --------------------------------------------------------------------------- resolvers


async def _lines(
    session: AsyncSession, lines: list[PurchaseOrderLineInput], field: str
) -> list[purchasing.LineInput]:
    return [
        purchasing.LineInput(
            variant_id=await resolve_id(session, line.variant_id, m.Variant, field=f"{field}.{i}.variantId"),
            quantity=line.quantity,
            unit_price=line.unit_price,
        )
        for i, line in enumerate(lines)
    ]


async def _step(
    info: Info[Any, Any],
    input: PurchaseOrderIdInput,
    payload: Callable[..., P],
    move: Callable[[UnitOfWork, int], Awaitable[m.PurchaseOrder]],
) -> P:
    """A mutation moving one order along its states (send, close, cancel)."""

    async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
        pk = await resolve_id(session, input.id, m.PurchaseOrder, field="id")
        return {"purchase_order": PurchaseOrder.from_row(await move(st.uow, pk))}

    return await in_transaction(info, payload, body)


@strawberry.type
class Query:
    @strawberry.field(extensions=requires("inventory:read"), description="The tenant's suppliers, by code.")
    async def suppliers(
        self,
        info: Info[Any, Any],
        first: int | None = None,
        after: str | None = None,
        filter: SupplierFilter | None = None,
    ) -> Connection[Supplier]:
        stmt = select(m.Supplier)
        if filter and filter.archived is not None:
            stmt = stmt.where(
                m.Supplier.archived_at.is_not(None) if filter.archived else m.Supplier.archived_at.is_(None)
            )
        return await paginate(state(info), stmt, m.Supplier, Supplier.from_row, first=first, after=after)

    @strawberry.field(extensions=requires("inventory:read"), description="Purchase orders.")
    async def purchase_orders(
        self,
        info: Info[Any, Any],
        first: int | None = None,
        after: str | None = None,
        filter: PurchaseOrderFilter | None = None,
        sort_key: PurchaseOrderSortKeys = PurchaseOrderSortKeys.ID,
        reverse: bool = False,
    ) -> Connection[PurchaseOrder]:
        stmt = select(m.PurchaseOrder)
        if filter and filter.status:
            stmt = stmt.where(m.PurchaseOrder.status.in_([str(s) for s in filter.status]))
        if filter and filter.supplier_id:
            pk = decode_id(filter.supplier_id, "Supplier", field="filter.supplierId")[1]
            stmt = stmt.where(m.PurchaseOrder.supplier_id == pk)
        if filter and filter.warehouse_id:
            pk = decode_id(filter.warehouse_id, "Warehouse", field="filter.warehouseId")[1]
            stmt = stmt.where(m.PurchaseOrder.warehouse_id == pk)
        return await paginate(
            state(info),
            stmt,
            m.PurchaseOrder,
            PurchaseOrder.from_row,
            first=first,
            after=after,
            sort=PURCHASE_ORDER_SORTS[sort_key],
            reverse=reverse,
        )

    @strawberry.field(
        extensions=requires("inventory:read"),
        description="What sent purchase orders still bring, per variant and warehouse.",
    )
    async def stock_on_order(
        self,
        info: Info[Any, Any],
        variant_id: strawberry.ID | None = None,
        warehouse_id: strawberry.ID | None = None,
    ) -> list[StockOnOrder]:
        st = state(info)
        async with st.read() as session:
            variant = (
                await resolve_id(session, variant_id, m.Variant, field="variantId") if variant_id else None
            )
            warehouse = (
                await resolve_id(session, warehouse_id, m.Warehouse, field="warehouseId")
                if warehouse_id
                else None
            )
            found = await purchasing.stock_on_order(session, variant_id=variant, warehouse_id=warehouse)
        return [
            StockOnOrder(
                variant_pk=o.variant_id,
                warehouse_pk=o.warehouse_id,
                quantity=o.quantity,
                next_expected_on=o.next_expected_on,
            )
            for o in found
        ]


@strawberry.type
class Mutation:
    @strawberry.mutation(extensions=requires("inventory:write"), description="Add a supplier.")
    async def supplier_create(
        self, info: Info[Any, Any], input: SupplierCreateInput
    ) -> SupplierCreatePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            row = await purchasing.create_supplier(
                session,
                code=input.code,
                name=input.name,
                currency=input.currency,
                email=input.email,
                payment_terms_days=input.payment_terms_days,
                lead_time_days=input.lead_time_days,
                lead_time_sd_days=input.lead_time_sd_days,
                notes=input.notes,
            )
            return {"supplier": Supplier.from_row(row)}

        return await in_transaction(info, SupplierCreatePayload, body)

    @strawberry.mutation(
        extensions=requires("inventory:write"),
        description="Change a supplier's terms (not its currency), or archive it.",
    )
    async def supplier_update(
        self, info: Info[Any, Any], input: SupplierUpdateInput
    ) -> SupplierUpdatePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.Supplier, field="id")
            changes = {
                k: getattr(input, k)
                for k in (
                    "name",
                    "email",
                    "payment_terms_days",
                    "lead_time_days",
                    "lead_time_sd_days",
                    "notes",
                    "archived",
                )
                if getattr(input, k) is not None
            }
            row = await purchasing.update_supplier(session, pk, **changes)
            return {"supplier": Supplier.from_row(row)}

        return await in_transaction(info, SupplierUpdatePayload, body)

    @strawberry.mutation(
        extensions=requires("inventory:write"),
        description="Say how a supplier sells a variant: its reference, lead time, MOQ, case pack, "
        "price breaks.",
    )
    async def supplier_item_set(
        self, info: Info[Any, Any], input: SupplierItemSetInput
    ) -> SupplierItemSetPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            supplier = await resolve_id(session, input.supplier_id, m.Supplier, field="supplierId")
            variant = await resolve_id(session, input.variant_id, m.Variant, field="variantId")
            await purchasing.set_supplier_item(
                session,
                supplier_id=supplier,
                variant_id=variant,
                supplier_sku=input.supplier_sku,
                lead_time_days=input.lead_time_days,
                lead_time_sd_days=input.lead_time_sd_days,
                moq=input.moq,
                case_pack=input.case_pack,
                price_breaks=[
                    {"min_quantity": b.min_quantity, "unit_price": b.unit_price} for b in input.price_breaks
                ],
            )
            row = await session.get(m.Supplier, supplier)
            assert row is not None
            return {"supplier": Supplier.from_row(row)}

        return await in_transaction(info, SupplierItemSetPayload, body)

    @strawberry.mutation(
        extensions=requires("inventory:write"),
        description="A draft purchase order in the supplier's currency; lines without a price take the "
        "supplier's price break.",
    )
    async def purchase_order_create(
        self, info: Info[Any, Any], input: PurchaseOrderCreateInput
    ) -> PurchaseOrderCreatePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            supplier = await resolve_id(session, input.supplier_id, m.Supplier, field="supplierId")
            warehouse = await resolve_id(session, input.warehouse_id, m.Warehouse, field="warehouseId")
            row = await purchasing.create_purchase_order(
                st.uow,
                supplier_id=supplier,
                warehouse_id=warehouse,
                lines=await _lines(session, input.lines, "lines"),
                number=input.number,
                expected_on=input.expected_on,
                freight=input.freight,
                duty=input.duty,
                notes=input.notes,
            )
            return {"purchase_order": PurchaseOrder.from_row(row)}

        return await in_transaction(info, PurchaseOrderCreatePayload, body)

    @strawberry.mutation(
        extensions=requires("inventory:write"),
        description="Change a draft (lines, freight, duty), or a sent order's expected date and notes.",
    )
    async def purchase_order_update(
        self, info: Info[Any, Any], input: PurchaseOrderUpdateInput
    ) -> PurchaseOrderUpdatePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.PurchaseOrder, field="id")
            row = await purchasing.update_purchase_order(
                st.uow,
                pk,
                lines=None if input.lines is None else await _lines(session, input.lines, "lines"),
                expected_on=input.expected_on,
                freight=input.freight,
                duty=input.duty,
                notes=input.notes,
            )
            return {"purchase_order": PurchaseOrder.from_row(row)}

        return await in_transaction(info, PurchaseOrderUpdatePayload, body)

    @strawberry.mutation(
        extensions=requires("inventory:write"),
        description="Send a draft to the supplier: its quantities are on order from now on.",
    )
    async def purchase_order_send(
        self, info: Info[Any, Any], input: PurchaseOrderIdInput
    ) -> PurchaseOrderSendPayload:
        return await _step(info, input, PurchaseOrderSendPayload, purchasing.send_purchase_order)

    @strawberry.mutation(
        extensions=requires("inventory:write"),
        description="Receive a delivery: good units go on hand at their landed cost, damaged ones are "
        "recorded; the order is received once every line has its units.",
    )
    async def purchase_order_receive(
        self, info: Info[Any, Any], input: PurchaseOrderReceiveInput
    ) -> PurchaseOrderReceivePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.PurchaseOrder, field="id")
            lines = [
                purchasing.ReceiptInput(
                    line_id=await resolve_id(
                        session, line.line_id, m.PurchaseOrderLine, field=f"lines.{i}.lineId"
                    ),
                    quantity=line.quantity,
                    damaged=line.damaged,
                )
                for i, line in enumerate(input.lines)
            ]
            row, _ = await purchasing.receive_purchase_order(
                st.uow, pk, lines, reference=input.reference, note=input.note
            )
            return {"purchase_order": PurchaseOrder.from_row(row)}

        return await in_transaction(info, PurchaseOrderReceivePayload, body)

    @strawberry.mutation(
        extensions=requires("inventory:write"),
        description="Close an order: what it still lacks will not come.",
    )
    async def purchase_order_close(
        self, info: Info[Any, Any], input: PurchaseOrderIdInput
    ) -> PurchaseOrderClosePayload:
        return await _step(info, input, PurchaseOrderClosePayload, purchasing.close_purchase_order)

    @strawberry.mutation(
        extensions=requires("inventory:write"),
        description="Cancel an order nothing was received on.",
    )
    async def purchase_order_cancel(
        self, info: Info[Any, Any], input: PurchaseOrderIdInput
    ) -> PurchaseOrderCancelPayload:
        return await _step(info, input, PurchaseOrderCancelPayload, purchasing.cancel_purchase_order)


# --------------------------------------------------------------------------- planning


@strawberry.type(description="A day of a forecast.")
class ForecastPoint:
    day: date
    units: float = strawberry.field(description="Expected demand that day (its mean).")


@strawberry.type(description="The share of a plan's demand one sales channel (a connection) takes.")
class ChannelDemand:
    connection_pk: strawberry.Private[int]
    channel: str = strawberry.field(description="The marketplace (its plugin's name).")
    name: str = strawberry.field(description="The connection's name.")
    units: int = strawberry.field(description="Units its orders reserved here over the history.")
    share: Decimal = strawberry.field(description="Its part of the history's units (0 to 1).")
    mean_daily: Decimal = strawberry.field(description="Its part of the forecast daily demand.")

    @strawberry.field(description="The connection; none when it was removed since.")
    async def connection(self, info: Info[Any, Any]) -> ChannelConnection | None:
        async with state(info).read() as session:
            row = await session.scalar(select(m.Connection).where(m.Connection.id == self.connection_pk))
        return ChannelConnection.from_row(row) if row is not None else None


@strawberry.type(description="Stock to move into a plan's warehouse instead of (part of) ordering it.")
class TransferSuggestion:
    from_warehouse_pk: strawberry.Private[int]
    quantity: int
    ship_on: date
    arrive_on: date = strawberry.field(description="The shipping day plus the lane's transit time.")

    @strawberry.field(description="Where the units come from (it has more than it needs).")
    async def from_warehouse(self, info: Info[Any, Any]) -> Warehouse:
        return Warehouse.from_row(await same_tenant(info, m.Warehouse, self.from_warehouse_pk))


@strawberry.type(
    description="The latest replenishment plan of a variant in a warehouse: its forecast, safety stock, "
    "reorder point, position, projected stock-out and the order to place (remade daily, or on "
    "`replenishmentPlanRun`)."
)
class ReplenishmentPlan(Node):
    pk: strawberry.Private[int]
    variant_pk: strawberry.Private[int]
    warehouse_pk: strawberry.Private[int]
    supplier_pk: strawberry.Private[int | None]
    planned_on: date
    demand_class: m.DemandClass
    method: str = strawberry.field(description="The forecasting model used.")
    mean_daily: Decimal
    sigma_daily: Decimal = strawberry.field(description="The daily demand's standard deviation.")
    lead_time_days: Decimal
    safety_stock: Decimal
    reorder_point: Decimal
    order_up_to: Decimal
    on_hand: int
    reserved: int
    on_order: int
    position: int = strawberry.field(description="On hand + on order - reserved.")
    days_of_cover: Decimal | None = strawberry.field(description="None when there is no demand.")
    stockout_on: date | None = strawberry.field(description="When the stock runs out, within the horizon.")
    reorder_now: bool
    order_on: date | None = strawberry.field(description="When to order (today when due now).")
    order_quantity: int | None = strawberry.field(description="After MOQ, case pack and price breaks.")
    unit_price: Money | None
    overstock: bool
    reasons: list[ReplenishmentReason]
    forecast: list[ForecastPoint]
    channel_demand: list[ChannelDemand] = strawberry.field(
        description="The demand split by sales channel, in the shares of the history (largest first)."
    )
    transfers: list[TransferSuggestion] = strawberry.field(
        description="Transfers along the tenant's transit lanes that cover this warehouse sooner (or "
        "cheaper) than its order."
    )
    computed_at: datetime

    @classmethod
    def from_row(cls, row: m.ReplenishmentPlanRow) -> ReplenishmentPlan:
        return cls(
            id=encode_id("ReplenishmentPlan", row.id),
            pk=row.id,
            variant_pk=row.variant_id,
            warehouse_pk=row.warehouse_id,
            supplier_pk=row.supplier_id,
            planned_on=row.planned_on,
            demand_class=m.DemandClass(row.demand_class),
            method=row.method,
            mean_daily=row.mean_daily,
            sigma_daily=row.sigma_daily,
            lead_time_days=row.lead_time_days,
            safety_stock=row.safety_stock,
            reorder_point=row.reorder_point,
            order_up_to=row.order_up_to,
            on_hand=row.on_hand,
            reserved=row.reserved,
            on_order=row.on_order,
            position=row.position,
            days_of_cover=row.days_of_cover,
            stockout_on=row.stockout_on,
            reorder_now=row.reorder_now,
            order_on=row.order_on,
            order_quantity=row.order_quantity,
            unit_price=Money.of(row.unit_price, row.currency),
            overstock=row.overstock,
            reasons=[ReplenishmentReason(r) for r in row.reasons or []],
            forecast=[
                ForecastPoint(day=row.planned_on + timedelta(days=i), units=float(u))
                for i, u in enumerate(row.forecast or [])
            ],
            channel_demand=[
                ChannelDemand(
                    connection_pk=int(c["connection_id"]),
                    channel=str(c["channel"]),
                    name=str(c["name"]),
                    units=int(c["units"]),
                    share=Decimal(str(c["share"])),
                    mean_daily=Decimal(str(c["mean_daily"])),
                )
                for c in row.channels or []
            ],
            transfers=[
                TransferSuggestion(
                    from_warehouse_pk=int(t["from_warehouse_id"]),
                    quantity=int(t["quantity"]),
                    ship_on=date.fromisoformat(t["ship_on"]),
                    arrive_on=date.fromisoformat(t["arrive_on"]),
                )
                for t in row.transfers or []
            ],
            computed_at=row.computed_at,
        )

    @strawberry.field
    async def variant(self, info: Info[Any, Any]) -> Variant:
        return Variant.from_row(await same_tenant(info, m.Variant, self.variant_pk))

    @strawberry.field
    async def warehouse(self, info: Info[Any, Any]) -> Warehouse:
        return Warehouse.from_row(await same_tenant(info, m.Warehouse, self.warehouse_pk))

    @strawberry.field(description="Who the order is placed with.")
    async def supplier(self, info: Info[Any, Any]) -> Supplier | None:
        if self.supplier_pk is None:
            return None
        return Supplier.from_row(await same_tenant(info, m.Supplier, self.supplier_pk))


@strawberry.input
class ReplenishmentPlanFilter:
    reorder_now: bool | None = None
    overstock: bool | None = None
    warehouse_id: strawberry.ID | None = None
    variant_id: strawberry.ID | None = None


@strawberry.type
class PlanningQuery:
    @strawberry.field(
        extensions=requires("inventory:read"),
        description="The replenishment plans: what to order, when, and what runs out.",
    )
    async def replenishment_plans(
        self,
        info: Info[Any, Any],
        first: int | None = None,
        after: str | None = None,
        filter: ReplenishmentPlanFilter | None = None,
    ) -> Connection[ReplenishmentPlan]:
        stmt = select(m.ReplenishmentPlanRow)
        if filter and filter.reorder_now is not None:
            stmt = stmt.where(m.ReplenishmentPlanRow.reorder_now.is_(filter.reorder_now))
        if filter and filter.overstock is not None:
            stmt = stmt.where(m.ReplenishmentPlanRow.overstock.is_(filter.overstock))
        if filter and filter.warehouse_id:
            pk = decode_id(filter.warehouse_id, "Warehouse", field="filter.warehouseId")[1]
            stmt = stmt.where(m.ReplenishmentPlanRow.warehouse_id == pk)
        if filter and filter.variant_id:
            pk = decode_id(filter.variant_id, "Variant", field="filter.variantId")[1]
            stmt = stmt.where(m.ReplenishmentPlanRow.variant_id == pk)
        return await paginate(
            state(info), stmt, m.ReplenishmentPlanRow, ReplenishmentPlan.from_row, first=first, after=after
        )


@strawberry.type
class ReplenishmentPlanRunPayload:
    queued: bool = strawberry.field(default=False, description="The planning job is queued.")
    user_errors: list[InventoryUserError] = strawberry.field(default_factory=list)


@strawberry.input
class PurchaseOrderDraftsCreateInput:
    warehouse_id: strawberry.ID | None = strawberry.field(default=None, description="None: every warehouse.")


@strawberry.type
class PurchaseOrderDraftsCreatePayload:
    purchase_orders: list[PurchaseOrder] = strawberry.field(default_factory=list)
    user_errors: list[InventoryUserError] = strawberry.field(default_factory=list)


@strawberry.type
class PlanningMutation:
    @strawberry.mutation(
        extensions=requires("inventory:write"),
        description="Remake the tenant's replenishment plans now (a job: forecasting takes a while).",
    )
    async def replenishment_plan_run(self, info: Info[Any, Any]) -> ReplenishmentPlanRunPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            st.uow.enqueue(
                "replenishment_plan",
                job_id=f"replenishment_plan:{st.principal.tenant_id}:now",
                tenant_id=st.principal.tenant_id,
            )
            return {"queued": True}

        return await in_transaction(info, ReplenishmentPlanRunPayload, body)

    @strawberry.mutation(
        extensions=requires("inventory:write"),
        description="Draft purchase orders, one per supplier and warehouse, for every plan due now; a "
        "plan already drafted is not drafted again.",
    )
    async def purchase_order_drafts_create(
        self, info: Info[Any, Any], input: PurchaseOrderDraftsCreateInput
    ) -> PurchaseOrderDraftsCreatePayload:
        from crossdock.services import planning

        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            warehouse = (
                await resolve_id(session, input.warehouse_id, m.Warehouse, field="warehouseId")
                if input.warehouse_id
                else None
            )
            made = await planning.draft_purchase_orders(st.uow, warehouse_id=warehouse)
            return {"purchase_orders": [PurchaseOrder.from_row(o) for o in made]}

        return await in_transaction(info, PurchaseOrderDraftsCreatePayload, body)
