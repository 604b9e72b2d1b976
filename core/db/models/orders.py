"""Orders from channels, their lines, status history, holds and shipments."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.functions import FunctionElement

from crossdock.db.base import ID, Base, Json, TenantScoped, Timestamped, utcnow

__all__ = [
    "Allocation",
    "AllocationStatus",
    "Event",
    "Order",
    "OrderHold",
    "OrderLine",
    "OrderReturn",
    "OrderStatus",
    "OrderStatusChange",
    "Refund",
    "RefundStatus",
    "Shipment",
    "ShipmentStatus",
]


class OrderStatus(StrEnum):
    PENDING = "pending"
    ON_HOLD = "on_hold"
    READY = "ready"
    ALLOCATED = "allocated"
    PICKING = "picking"
    PACKED = "packed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    RETURNED = "returned"
    REFUNDED = "refunded"


#: Orders still to ship: what a deadline (``ship_by``) is watched for.
OPEN_STATUSES = (
    OrderStatus.PENDING,
    OrderStatus.READY,
    OrderStatus.ALLOCATED,
    OrderStatus.PICKING,
    OrderStatus.PACKED,
)
#: the same, as the partial index on deadlines states it (a query naming these statuses as
#: literals reads the index)
OPEN_SQL = "status IN ({})".format(", ".join(f"'{s.value}'" for s in OPEN_STATUSES))


class AllocationStatus(StrEnum):
    RESERVED = "reserved"
    PACKED = "packed"
    SHIPPED = "shipped"
    RELEASED = "released"


class ShipmentStatus(StrEnum):
    PACKED = "packed"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


class SlaFlag(StrEnum):
    """The last ship-by warning announced for an order."""

    AT_RISK = "at_risk"
    LATE = "late"


class ReturnCondition(StrEnum):
    SELLABLE = "sellable"  #: back on hand
    DAMAGED = "damaged"  #: booked in and written off


class Order(TenantScoped, Timestamped, Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("tenant_id", "connection_id", "external_id"),
        Index("ix_orders_tenant_status", "tenant_id", "status"),
        Index("ix_orders_tenant_ship_by", "tenant_id", "ship_by"),
        # open orders by deadline: late and at-risk shipments, whatever the history's size
        Index(
            "ix_orders_open_ship_by",
            "tenant_id",
            "ship_by",
            postgresql_where=text(OPEN_SQL),
            sqlite_where=text(OPEN_SQL),
        ),
        # the duplicate-order check looks orders up by buyer; the value check by connection
        Index("ix_orders_tenant_buyer_email", "tenant_id", "buyer_email"),
        Index("ix_orders_tenant_buyer_name", "tenant_id", "buyer_name"),
        Index("ix_orders_connection_id", "connection_id", "id"),
        # the API's date filters and sort keys (keyset pagination breaks ties by id)
        Index("ix_orders_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_orders_tenant_updated", "tenant_id", "updated_at", "id"),
        Index("ix_orders_tenant_placed", "tenant_id", "placed_at", "id"),
    )

    connection_id: Mapped[int] = mapped_column(ID, ForeignKey("connections.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=OrderStatus.PENDING)
    channel_status: Mapped[str | None] = mapped_column(String(32))
    payment_status: Mapped[str | None] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    total_amount: Mapped[Decimal]
    buyer_name: Mapped[str | None]
    buyer_email: Mapped[str | None]
    shipping_address: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    destination_country: Mapped[str | None] = mapped_column(String(2))
    fulfilled_by_channel: Mapped[bool] = mapped_column(default=False)
    placed_at: Mapped[datetime]
    ship_by: Mapped[datetime | None]
    #: The marketplace's own update time: an update older than this is ignored.
    channel_updated_at: Mapped[datetime]
    raw: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    #: The last ship-by warning raised for this order ("at_risk", then "late"), so each is
    #: announced once.
    sla_flag: Mapped[str | None] = mapped_column(String(16))
    #: The total in the tenant's reporting currency at the reference rate of the day the
    #: order was placed, kept with the rate so reports never move when rates do.
    base_currency: Mapped[str | None] = mapped_column(String(3))
    base_total_amount: Mapped[Decimal | None]
    fx_rate: Mapped[Decimal | None] = mapped_column(Numeric(20, 10, asdecimal=True))
    fx_day: Mapped[date | None] = mapped_column(Date)
    #: Tax the order carries, summed over its lines (see OrderLine.tax_*).
    tax_amount: Mapped[Decimal | None]
    #: The payment that paid for it (own channels): the provider and its payment id.
    payment_provider: Mapped[str | None] = mapped_column(String(32))
    payment_reference: Mapped[str | None] = mapped_column(String(128))


class OrderLine(TenantScoped, Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        UniqueConstraint("order_id", "external_id"),
        Index("ix_order_lines_tenant_sku", "tenant_id", "sku"),  # orders(filter: {sku:})
    )

    order_id: Mapped[int] = mapped_column(ID, ForeignKey("orders.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(64))
    variant_id: Mapped[int | None] = mapped_column(ID, ForeignKey("variants.id", ondelete="SET NULL"))
    sku: Mapped[str] = mapped_column(String(64))
    title: Mapped[str | None]
    quantity: Mapped[int]
    unit_price_amount: Mapped[Decimal]
    #: As the tax engine quoted it: rate, amount, scheme, who collects it, where.
    tax_rate: Mapped[Decimal | None] = mapped_column(Numeric(7, 4, asdecimal=True))
    tax_amount: Mapped[Decimal | None]
    tax_scheme: Mapped[str | None] = mapped_column(String(32))
    tax_collected_by: Mapped[str | None] = mapped_column(String(16))
    tax_jurisdiction: Mapped[str | None] = mapped_column(String(16))


class OrderStatusChange(TenantScoped, Base):
    __tablename__ = "order_status_history"
    __table_args__ = (Index("ix_order_status_history_order", "order_id"),)

    order_id: Mapped[int] = mapped_column(ID, ForeignKey("orders.id", ondelete="CASCADE"))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrderHold(TenantScoped, Base):
    __tablename__ = "order_holds"
    __table_args__ = (Index("ix_order_holds_order", "order_id"),)

    order_id: Mapped[int] = mapped_column(ID, ForeignKey("orders.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(32))
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_at: Mapped[datetime | None]


class Shipment(TenantScoped, Timestamped, Base):
    __tablename__ = "shipments"
    __table_args__ = (
        Index("ix_shipments_order", "order_id"),
        # the tracking sweep: shipped parcels still on their way, least recently asked first
        Index("ix_shipments_tracking", "status", "tracking_status", "tracking_checked_at"),
        # one carrier account's active shipments (track_account); pushes by tracking number
        Index(
            "ix_shipments_account_tracking",
            "tenant_id",
            "carrier_account_id",
            "status",
            "tracking_status",
            "tracking_checked_at",
        ),
        Index("ix_shipments_tracking_number", "tenant_id", "tracking_number"),
    )

    order_id: Mapped[int] = mapped_column(ID, ForeignKey("orders.id", ondelete="CASCADE"))
    warehouse_id: Mapped[int | None] = mapped_column(ID, ForeignKey("warehouses.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default=ShipmentStatus.PACKED)
    carrier: Mapped[str | None] = mapped_column(String(64))
    service: Mapped[str | None] = mapped_column(String(64))
    tracking_number: Mapped[str | None] = mapped_column(String(128))
    shipped_at: Mapped[datetime | None]
    #: When the channel accepted the tracking number (null until then).
    confirmed_at: Mapped[datetime | None]
    confirm_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    confirm_error: Mapped[str | None] = mapped_column(Text)
    #: When the channel refused the confirmation for good (a retryable failure leaves it
    #: null, and the confirmation sweep tries again).
    confirm_failed_at: Mapped[datetime | None]
    #: Logistics: the carrier account its label was bought from, the carrier's latest
    #: word on the parcel (``TrackingStatus`` and ``TrackingReason``), when it was scanned
    #: last, when the tracking sweep last asked, the estimated and the actual delivery.
    carrier_account_id: Mapped[int | None] = mapped_column(
        ID, ForeignKey("carrier_accounts.id", ondelete="SET NULL")
    )
    tracking_status: Mapped[str | None] = mapped_column(String(24))
    tracking_reason: Mapped[str | None] = mapped_column(String(32))
    last_event_at: Mapped[datetime | None]
    tracking_checked_at: Mapped[datetime | None]
    estimated_delivery: Mapped[date | None] = mapped_column(Date)
    delivered_at: Mapped[datetime | None]


class Allocation(TenantScoped, Base):
    """Units of one order line reserved in one warehouse; follows them to the shipment."""

    __tablename__ = "allocations"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index("ix_allocations_order", "order_id"),
        Index("ix_allocations_warehouse_status", "warehouse_id", "status"),
    )

    order_id: Mapped[int] = mapped_column(ID, ForeignKey("orders.id", ondelete="CASCADE"))
    order_line_id: Mapped[int] = mapped_column(ID, ForeignKey("order_lines.id", ondelete="CASCADE"))
    variant_id: Mapped[int] = mapped_column(ID, ForeignKey("variants.id", ondelete="CASCADE"))
    warehouse_id: Mapped[int] = mapped_column(ID, ForeignKey("warehouses.id", ondelete="CASCADE"))
    quantity: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default=AllocationStatus.RESERVED)
    shipment_id: Mapped[int | None] = mapped_column(ID, ForeignKey("shipments.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrderReturn(TenantScoped, Base):
    """Units that came back: restocked as sellable, or written off as damaged."""

    __tablename__ = "order_returns"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index("ix_order_returns_order", "order_id"),
    )

    order_id: Mapped[int] = mapped_column(ID, ForeignKey("orders.id", ondelete="CASCADE"))
    order_line_id: Mapped[int] = mapped_column(ID, ForeignKey("order_lines.id", ondelete="CASCADE"))
    warehouse_id: Mapped[int] = mapped_column(ID, ForeignKey("warehouses.id", ondelete="CASCADE"))
    quantity: Mapped[int]
    condition: Mapped[str] = mapped_column(String(16))  # sellable | damaged
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RefundStatus(StrEnum):
    """Where a refund's money is. PENDING: the payment provider is being asked (the amount
    already counts against the order's total, so two refunds at once cannot exceed it);
    SUCCEEDED: given back (or recorded as the channel's refund); FAILED: the provider refused
    it or the buyer's bank returned it, and it no longer counts."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Refund(TenantScoped, Base):
    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_refunds_order", "order_id"),
        # a provider's webhook names the refund by the provider's id
        Index("ix_refunds_provider_reference", "provider", "provider_reference"),
        UniqueConstraint("request_reference"),
    )

    order_id: Mapped[int] = mapped_column(ID, ForeignKey("orders.id", ondelete="CASCADE"))
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default=RefundStatus.SUCCEEDED)
    #: The payment provider that moves the money (None: the channel's refund, recorded).
    provider: Mapped[str | None] = mapped_column(String(32))
    #: The provider's id of the refund (a Stripe ``re_...``), once it answered.
    provider_reference: Mapped[str | None] = mapped_column(String(128))
    #: What the provider is given as the idempotency key: every retry sends the same one.
    request_reference: Mapped[str | None] = mapped_column(String(64))
    #: The provider's message when it refused, failed the refund, or did not answer.
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class current_txid(FunctionElement[int]):
    """The writing transaction's id: ``pg_current_xact_id()`` as a BIGINT on PostgreSQL,
    ``0`` on SQLite (one writer at a time: id order is commit order there)."""

    type = BigInteger()
    inherit_cache = True


@compiles(current_txid, "postgresql")
def _current_txid_postgresql(element: current_txid, compiler: Any, **kw: Any) -> str:
    return "(pg_current_xact_id()::text::bigint)"


@compiles(current_txid)
def _current_txid_default(element: current_txid, compiler: Any, **kw: Any) -> str:
    return "0"


class Event(TenantScoped, Base):
    """The domain-event outbox: written in the transaction that made the change.

    Its position is ``(txid, id)``: ``txid`` is the writing transaction's id, set by the
    database (so multi-row inserts get it too). Readers follow that order below a horizon
    no running transaction is under; :mod:`crossdock.services.events` explains why that
    never skips an event. A row is never updated.
    """

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_tenant_id_txid_id", "tenant_id", "txid", "id"),)

    type: Mapped[str] = mapped_column(String(48))
    subject: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    txid: Mapped[int] = mapped_column(BigInteger, server_default=current_txid())
