"""GraphQL object types, built from ORM rows; relations resolve through DataLoaders."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from crossdock.api.context import state
from crossdock.api.schema.common import JSON, Money
from crossdock.api.schema.enums import optional_member
from crossdock.api.schema.loaders import (
    ChildRows,
    Parent,
    Record,
    Relation,
    Resolved,
    ats_by_connection,
    by_id,
    child_rows,
    children,
    now_or_later,
)
from crossdock.api.schema.relay import Node, encode_id
from crossdock.db import models as m
from crossdock.db import utcnow
from crossdock.providers import ProviderKind, TaxCollector, TaxScheme
from crossdock.services.events import Position

M = TypeVar("M")
R = TypeVar("R")

__all__ = [
    "ORDER_RELATIONS",
    "Allocation",
    "CannedReply",
    "ChannelConnection",
    "Conversation",
    "Event",
    "Listing",
    "Message",
    "Order",
    "OrderHold",
    "OrderLine",
    "OrderReturn",
    "OrderStatusChange",
    "PickLine",
    "Plugin",
    "Product",
    "Refund",
    "Shipment",
    "StockLedgerEntry",
    "StockLevel",
    "Transfer",
    "Variant",
    "Warehouse",
]


def _cursor(state: Any) -> datetime | None:
    value = state.get("cursor") if isinstance(state, dict) else None
    return datetime.fromisoformat(value) if value else None


async def _same_tenant(info: Info[Any, Any], model: type[M], pk: int) -> M:
    """A row another row of this tenant points at: present by the foreign key."""
    row = await by_id(state(info), model).load(pk)
    if row is None:
        raise LookupError(f"{model.__name__} {pk} is referenced but not visible")
    return row


def _visible(model: type[M], pk: int, convert: Callable[[M], R]) -> Callable[[M | None], R]:
    """``convert`` for a row another row of this tenant points at (see :func:`_same_tenant`)."""

    def check(row: M | None) -> R:
        if row is None:
            raise LookupError(f"{model.__name__} {pk} is referenced but not visible")
        return convert(row)

    return check


@strawberry.type
class Product(Node):
    pk: strawberry.Private[int]
    title: str
    description: str | None
    brand: str | None
    category: str | None
    status: m.ProductStatus
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: m.Product) -> Product:
        return cls(
            id=encode_id("Product", row.id),
            pk=row.id,
            title=row.title,
            description=row.description,
            brand=row.brand,
            category=row.category,
            status=m.ProductStatus(row.status),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field
    async def variants(self, info: Info[Any, Any]) -> list[Variant]:
        rows = await children(state(info), m.Variant, "product_id").load(self.pk)
        return [Variant.from_row(r) for r in rows]


@strawberry.type
class Variant(Node):
    pk: strawberry.Private[int]
    product_pk: strawberry.Private[int]
    sku: str
    title: str | None
    barcode: str | None
    options: JSON
    weight_grams: int | None
    cost: Money | None
    tax_class: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: m.Variant) -> Variant:
        return cls(
            id=encode_id("Variant", row.id),
            pk=row.id,
            product_pk=row.product_id,
            sku=row.sku,
            title=row.title,
            barcode=row.barcode,
            options=JSON(row.options or {}),
            weight_grams=row.weight_grams,
            cost=Money.of(row.cost_amount, row.cost_currency),
            tax_class=row.tax_class,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field
    async def product(self, info: Info[Any, Any]) -> Product:
        row = await by_id(state(info), m.Product).load(self.product_pk)
        assert row is not None  # same tenant by construction
        return Product.from_row(row)

    @strawberry.field(description="Stock of this SKU in every warehouse that holds it.")
    async def stock_levels(self, info: Info[Any, Any]) -> list[StockLevel]:
        rows = await children(state(info), m.StockLevel, "variant_id").load(self.pk)
        return [StockLevel.from_row(r) for r in rows]


@strawberry.type
class Warehouse(Node):
    pk: strawberry.Private[int]
    connection_pk: strawberry.Private[int | None]
    code: str
    name: str
    kind: m.WarehouseKind
    country: str
    serves_countries: list[str]
    priority: int
    active: bool

    @classmethod
    def from_row(cls, row: m.Warehouse) -> Warehouse:
        return cls(
            id=encode_id("Warehouse", row.id),
            pk=row.id,
            connection_pk=row.connection_id,
            code=row.code,
            name=row.name,
            kind=m.WarehouseKind(row.kind),
            country=row.country,
            serves_countries=list(row.serves_countries or []),
            priority=row.priority,
            active=row.active,
        )

    @strawberry.field(description="For marketplace-fulfilled stock: the connection holding it.")
    async def connection(self, info: Info[Any, Any]) -> ChannelConnection | None:
        if self.connection_pk is None:
            return None
        row = await by_id(state(info), m.Connection).load(self.connection_pk)
        return ChannelConnection.from_row(row) if row else None


@strawberry.type
class StockLevel(Node):
    pk: strawberry.Private[int]
    variant_pk: strawberry.Private[int]
    warehouse_pk: strawberry.Private[int]
    on_hand: int
    reserved: int
    safety_stock: int = strawberry.field(description="Held back from what channels are offered.")
    low_stock_threshold: int | None
    updated_at: datetime

    @classmethod
    def from_row(cls, row: m.StockLevel) -> StockLevel:
        return cls(
            id=encode_id("StockLevel", row.id),
            pk=row.id,
            variant_pk=row.variant_id,
            warehouse_pk=row.warehouse_id,
            on_hand=row.on_hand,
            reserved=row.reserved,
            safety_stock=row.safety_stock,
            low_stock_threshold=row.low_stock_threshold,
            updated_at=row.updated_at,
        )

    @strawberry.field(description="on_hand - reserved: what can still be promised.")
    def available(self) -> int:
        return self.on_hand - self.reserved

    @strawberry.field
    async def variant(self, info: Info[Any, Any]) -> Variant:
        return Variant.from_row(await _same_tenant(info, m.Variant, self.variant_pk))

    @strawberry.field
    async def warehouse(self, info: Info[Any, Any]) -> Warehouse:
        return Warehouse.from_row(await _same_tenant(info, m.Warehouse, self.warehouse_pk))

    @strawberry.field(description="The ledger rows that add up to this level, newest first.")
    async def ledger(self, info: Info[Any, Any], last: int = 20) -> list[StockLedgerEntry]:
        stmt = (
            select(m.StockLedgerEntry)
            .where(
                m.StockLedgerEntry.variant_id == self.variant_pk,
                m.StockLedgerEntry.warehouse_id == self.warehouse_pk,
            )
            .order_by(m.StockLedgerEntry.id.desc())
            .limit(max(0, min(last, 250)))
        )
        async with state(info).read() as session:
            rows = (await session.scalars(stmt)).all()
        return [StockLedgerEntry.from_row(r) for r in rows]


@strawberry.type
class StockLedgerEntry(Node):
    delta_on_hand: int
    delta_reserved: int
    reason: m.StockReason
    reference: str | None
    note: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: m.StockLedgerEntry) -> StockLedgerEntry:
        return cls(
            id=encode_id("StockLedgerEntry", row.id),
            delta_on_hand=row.delta_on_hand,
            delta_reserved=row.delta_reserved,
            reason=m.StockReason(row.reason),
            reference=row.reference,
            note=row.note,
            created_at=row.created_at,
        )


@strawberry.type(
    name="Shop",
    description="A tenant's shop on one channel and site: a connection to a marketplace "
    "(its global ID is a ChannelConnection ID). Credentials are write-only.",
)
class ChannelConnection(Node):
    pk: strawberry.Private[int]
    channel: str
    name: str
    site: str
    currency: str
    status: m.ConnectionStatus
    base_url: str | None
    settings: JSON
    last_sync_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    throttled_until: datetime | None
    created_at: datetime
    webhook_path: str | None = strawberry.field(
        description="Where the channel pushes to (prefix your public base URL)."
    )
    orders_synced_until: datetime | None = strawberry.field(
        description="Orders updated before this time have been read (the sync cursor)."
    )

    @classmethod
    def from_row(cls, row: m.Connection) -> ChannelConnection:
        return cls(
            id=encode_id("ChannelConnection", row.id),
            pk=row.id,
            channel=row.channel,
            name=row.name,
            site=row.site,
            currency=row.currency,
            status=m.ConnectionStatus(row.status),
            base_url=row.base_url,
            settings=JSON(row.settings or {}),
            last_sync_at=row.last_sync_at,
            last_success_at=row.last_success_at,
            last_error=row.last_error,
            last_error_at=row.last_error_at,
            throttled_until=row.throttled_until,
            created_at=row.created_at,
            webhook_path=f"/webhooks/{row.channel}/{row.webhook_key}" if row.webhook_key else None,
            orders_synced_until=_cursor((row.sync_state or {}).get("orders")),
        )

    @strawberry.field
    async def listings(self, info: Info[Any, Any]) -> list[Listing]:
        rows = await children(state(info), m.Listing, "connection_id").load(self.pk)
        return [Listing.from_row(r) for r in rows]


@strawberry.type(description="Why a SKU may not (or may only with care) be sold on a connection.")
class ListingIssue:
    reason: str
    message: str


@strawberry.type
class Listing(Node):
    pk: strawberry.Private[int]
    variant_pk: strawberry.Private[int]
    connection_pk: strawberry.Private[int]
    channel_sku: str
    external_id: str | None
    title: str | None
    price: Money | None
    status: m.ListingStatus
    ats_share: Decimal | None = strawberry.field(description="Share (0..1) of available stock offered.")
    last_pushed_quantity: int | None
    last_pushed_at: datetime | None
    issues: list[ListingIssue] = strawberry.field(
        description="Compliance problems plugins found; no stock is offered while one is prohibited_item."
    )
    push_status: m.ListingPushStatus = strawberry.field(
        description="OK, or ERROR while the channel refuses this listing's last stock or price push "
        "(see lastError); the connection and its other listings go on either way."
    )
    last_error: str | None = strawberry.field(
        description="The channel's refusal of this listing's last push (e.g. an unknown SKU), kept "
        "until a push of the same kind is accepted."
    )
    last_error_at: datetime | None
    last_error_operation: m.ListingOperation | None = strawberry.field(description="Which push was refused.")

    @classmethod
    def from_row(cls, row: m.Listing) -> Listing:
        return cls(
            id=encode_id("Listing", row.id),
            pk=row.id,
            connection_pk=row.connection_id,
            ats_share=row.ats_share.normalize() if row.ats_share is not None else None,
            variant_pk=row.variant_id,
            channel_sku=row.channel_sku,
            external_id=row.external_id,
            title=row.title,
            price=Money.of(row.price_amount, row.price_currency),
            status=m.ListingStatus(row.status),
            last_pushed_quantity=row.last_pushed_quantity,
            last_pushed_at=row.last_pushed_at,
            issues=[
                ListingIssue(reason=i.get("reason", ""), message=i.get("message", ""))
                for i in row.issues or ()
            ],
            push_status=m.ListingPushStatus.ERROR if row.last_error is not None else m.ListingPushStatus.OK,
            last_error=row.last_error,
            last_error_at=row.last_error_at,
            last_error_operation=optional_member(m.ListingOperation, row.last_error_operation),
        )

    @strawberry.field
    async def variant(self, info: Info[Any, Any]) -> Variant:
        return Variant.from_row(await _same_tenant(info, m.Variant, self.variant_pk))

    @strawberry.field
    async def connection(self, info: Info[Any, Any]) -> ChannelConnection:
        return ChannelConnection.from_row(await _same_tenant(info, m.Connection, self.connection_pk))

    @strawberry.field(
        description="What this listing may offer now: the serving warehouses' stock "
        "minus reservations and safety stock, times its share."
    )
    async def available_to_sell(self, info: Info[Any, Any]) -> int:
        per_listing = await ats_by_connection(state(info)).load(self.connection_pk)
        return per_listing.get(self.pk, 0)


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
        check = _visible(m.Connection, self.connection_pk, ChannelConnection.from_row)

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
    reason: str
    message: str | None
    created_at: datetime
    released_at: datetime | None

    @classmethod
    def from_row(cls, row: m.OrderHold | Record) -> OrderHold:
        return cls(
            reason=row.reason,
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
class Shipment(Node):
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
        return Warehouse.from_row(await _same_tenant(info, m.Warehouse, self.warehouse_pk))

    @strawberry.field
    async def variant(self, info: Info[Any, Any]) -> Variant:
        return Variant.from_row(await _same_tenant(info, m.Variant, self.variant_pk))


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


@strawberry.type
class Refund:
    amount: Money
    reason: str | None
    reference: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: m.Refund | Record) -> Refund:
        return cls(
            amount=Money.exact(row.amount, row.currency),
            reason=row.reason,
            reference=row.reference,
            created_at=row.created_at,
        )


@strawberry.type(description="Stock on its way between two warehouses.")
class Transfer(Node):
    variant_pk: strawberry.Private[int]
    from_pk: strawberry.Private[int]
    to_pk: strawberry.Private[int]
    quantity: int
    received_quantity: int
    status: m.TransferStatus
    reference: str | None
    created_at: datetime
    received_at: datetime | None

    @classmethod
    def from_row(cls, row: m.Transfer) -> Transfer:
        return cls(
            id=encode_id("Transfer", row.id),
            variant_pk=row.variant_id,
            from_pk=row.from_warehouse_id,
            to_pk=row.to_warehouse_id,
            quantity=row.quantity,
            received_quantity=row.received_quantity,
            status=m.TransferStatus(row.status),
            reference=row.reference,
            created_at=row.created_at,
            received_at=row.received_at,
        )

    @strawberry.field
    async def variant(self, info: Info[Any, Any]) -> Variant:
        return Variant.from_row(await _same_tenant(info, m.Variant, self.variant_pk))

    @strawberry.field
    async def from_warehouse(self, info: Info[Any, Any]) -> Warehouse:
        return Warehouse.from_row(await _same_tenant(info, m.Warehouse, self.from_pk))

    @strawberry.field
    async def to_warehouse(self, info: Info[Any, Any]) -> Warehouse:
        return Warehouse.from_row(await _same_tenant(info, m.Warehouse, self.to_pk))


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


@strawberry.type(description="A line of a warehouse's pick list: one SKU, all orders.")
class PickLine:
    variant_pk: strawberry.Private[int]
    sku: str
    quantity: int
    order_ids: list[strawberry.ID]

    @strawberry.field
    async def variant(self, info: Info[Any, Any]) -> Variant:
        return Variant.from_row(await _same_tenant(info, m.Variant, self.variant_pk))


@strawberry.type(description="A provider contributed by an installed plugin.")
class Plugin:
    name: str
    kind: ProviderKind
    version: str
    capabilities: list[str] = strawberry.field(
        description="The operations it offers (the values of MarketplaceCapability, "
        "PaymentCapability or TaxCapability, by its kind)."
    )
    plugin: str
    display_name: str


@strawberry.type(description="A message in a buyer conversation.")
class Message:
    id: strawberry.ID
    direction: m.MessageDirection = strawberry.field(description="INBOUND (from the buyer) or OUTBOUND.")
    body: str
    sent_at: datetime
    delivery: m.MessageDelivery | None = strawberry.field(description="Replies only.")
    delivery_error: str | None

    @classmethod
    def from_row(cls, row: m.Message) -> Message:
        return cls(
            id=encode_id("Message", row.id),
            direction=m.MessageDirection(row.direction),
            body=row.body,
            sent_at=row.sent_at,
            delivery=optional_member(m.MessageDelivery, row.delivery),
            delivery_error=row.delivery_error,
        )


@strawberry.type(description="A thread with one buyer on one connection.")
class Conversation(Node):
    pk: strawberry.Private[int]
    connection_pk: strawberry.Private[int]
    order_pk: strawberry.Private[int | None]
    external_id: str
    buyer_name: str | None
    order_external_id: str | None
    language: str = strawberry.field(description="What canned replies are chosen in.")
    status: m.ConversationStatus
    last_message_at: datetime
    awaiting_since: datetime | None
    reply_due_at: datetime | None = strawberry.field(description="24 h after the oldest unanswered message.")

    @classmethod
    def from_row(cls, row: m.Conversation) -> Conversation:
        return cls(
            id=encode_id("Conversation", row.id),
            pk=row.id,
            connection_pk=row.connection_id,
            order_pk=row.order_id,
            external_id=row.external_id,
            buyer_name=row.buyer_name,
            order_external_id=row.order_external_id,
            language=row.language,
            status=m.ConversationStatus(row.status),
            last_message_at=row.last_message_at,
            awaiting_since=row.awaiting_since,
            reply_due_at=row.reply_due_at,
        )

    @strawberry.field
    def overdue(self) -> bool:
        return self.reply_due_at is not None and self.reply_due_at <= utcnow()

    @strawberry.field
    async def connection(self, info: Info[Any, Any]) -> ChannelConnection:
        return ChannelConnection.from_row(await _same_tenant(info, m.Connection, self.connection_pk))

    @strawberry.field
    async def order(self, info: Info[Any, Any]) -> Order | None:
        if self.order_pk is not None:
            return Order.from_row(await _same_tenant(info, m.Order, self.order_pk))
        if self.order_external_id is None:
            return None
        async with state(info).read() as session:  # the order may have arrived after the thread
            row = await session.scalar(
                select(m.Order).where(
                    m.Order.connection_id == self.connection_pk, m.Order.external_id == self.order_external_id
                )
            )
        return Order.from_row(row) if row is not None else None

    @strawberry.field(description="Oldest first.")
    async def messages(self, info: Info[Any, Any]) -> list[Message]:
        rows = await children(state(info), m.Message, "conversation_id", order_by=("sent_at", "id")).load(
            self.pk
        )
        return [Message.from_row(r) for r in rows]


@strawberry.type(description="A prepared answer; one text per name and language.")
class CannedReply(Node):
    name: str
    language: str
    body: str = strawberry.field(description="May use {buyer_name}, {order_number}, {tracking_number}.")
    updated_at: datetime

    @classmethod
    def from_row(cls, row: m.CannedReply) -> CannedReply:
        return cls(
            id=encode_id("CannedReply", row.id),
            name=row.name,
            language=row.language,
            body=row.body,
            updated_at=row.updated_at,
        )
