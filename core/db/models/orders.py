"""Orders from channels, their lines, status history, holds and shipments."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from crossdock.db.base import ID, Base, Json, TenantScoped, Timestamped, utcnow
from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

__all__ = [
    "Order",
    "OrderHold",
    "OrderLine",
    "OrderStatus",
    "OrderStatusChange",
    "Shipment",
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


class Order(TenantScoped, Timestamped, Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("tenant_id", "connection_id", "external_id"),
        Index("ix_orders_tenant_status", "tenant_id", "status"),
        Index("ix_orders_tenant_ship_by", "tenant_id", "ship_by"),
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


class OrderLine(TenantScoped, Base):
    __tablename__ = "order_lines"
    __table_args__ = (UniqueConstraint("order_id", "external_id"),)

    order_id: Mapped[int] = mapped_column(ID, ForeignKey("orders.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(64))
    variant_id: Mapped[int | None] = mapped_column(ID, ForeignKey("variants.id", ondelete="SET NULL"))
    sku: Mapped[str] = mapped_column(String(64))
    title: Mapped[str | None]
    quantity: Mapped[int]
    unit_price_amount: Mapped[Decimal]


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
    __table_args__ = (Index("ix_shipments_order", "order_id"),)

    order_id: Mapped[int] = mapped_column(ID, ForeignKey("orders.id", ondelete="CASCADE"))
    warehouse_id: Mapped[int | None] = mapped_column(ID, ForeignKey("warehouses.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    carrier: Mapped[str | None] = mapped_column(String(64))
    service: Mapped[str | None] = mapped_column(String(64))
    tracking_number: Mapped[str | None] = mapped_column(String(128))
    shipped_at: Mapped[datetime | None]
    confirmed_at: Mapped[datetime | None]
