"""Stock on its way into a warehouse: the lanes between warehouses with their transit
times, inbound shipments from one warehouse to another (own stock sent on to an overseas or
marketplace warehouse), and the deliveries announced to the system that runs a warehouse
(advance shipping notices) with what it has counted of them.

An inbound shipment moves several SKUs at once: each line is a transfer (off the source's
shelf when the shipment leaves, on the destination's when it is received), due on the day
the lane's transit time gives. A delivery into a warehouse run by a WMS, 3PL or
marketplace (a sent purchase order, an inbound shipment) is a :class:`WarehouseInbound`:
announced to the system when it takes announcements, and received from the receipts it
reports under the delivery's reference.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crossdock.db.base import ID, Base, Json, TenantScoped, Timestamped

__all__ = [
    "HandoverStatus",
    "InboundShipment",
    "InboundShipmentLine",
    "InboundShipmentStatus",
    "InboundStatus",
    "TransitLane",
    "WarehouseInbound",
    "WarehouseOrder",
]


class TransitLane(TenantScoped, Timestamped, Base):
    """How long stock takes from one warehouse to another (and what a unit costs to move)."""

    __tablename__ = "transit_lanes"
    __table_args__ = (
        UniqueConstraint("from_warehouse_id", "to_warehouse_id"),
        CheckConstraint("transit_days >= 0", name="transit_days_nonnegative"),
        CheckConstraint("transit_sd_days >= 0", name="transit_sd_nonnegative"),
        CheckConstraint("from_warehouse_id <> to_warehouse_id", name="two_warehouses"),
    )

    from_warehouse_id: Mapped[int] = mapped_column(ID, ForeignKey("warehouses.id", ondelete="CASCADE"))
    to_warehouse_id: Mapped[int] = mapped_column(ID, ForeignKey("warehouses.id", ondelete="CASCADE"))
    transit_days: Mapped[int]
    #: the spread (standard deviation) of the transit time, in days
    transit_sd_days: Mapped[Decimal] = mapped_column(default=Decimal(0))
    #: what moving one unit costs, in ``currency`` (both or neither)
    unit_cost: Mapped[Decimal | None]
    currency: Mapped[str | None] = mapped_column(String(3))


class InboundShipmentStatus(StrEnum):
    """Where an inbound shipment is."""

    IN_TRANSIT = "in_transit"  #: left the source; its units are on nobody's shelf
    RECEIVED = "received"  #: booked in at the destination (short or damaged units shown per line)
    CANCELLED = "cancelled"  #: never left (or came back): the units are back at the source


class InboundShipment(TenantScoped, Timestamped, Base):
    """Stock sent from one of the tenant's warehouses to another, several SKUs at once."""

    __tablename__ = "inbound_shipments"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        Index("ix_inbound_shipments_status", "tenant_id", "status"),
    )

    number: Mapped[str] = mapped_column(String(64))
    from_warehouse_id: Mapped[int] = mapped_column(ID, ForeignKey("warehouses.id", ondelete="RESTRICT"))
    to_warehouse_id: Mapped[int] = mapped_column(ID, ForeignKey("warehouses.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(16), default=InboundShipmentStatus.IN_TRANSIT)
    carrier: Mapped[str | None] = mapped_column(String(64))
    tracking_number: Mapped[str | None] = mapped_column(String(128))
    shipped_at: Mapped[datetime]
    #: the day it is due: given, or the shipping day plus the lane's transit time
    expected_on: Mapped[date | None]
    received_at: Mapped[datetime | None]
    notes: Mapped[str | None] = mapped_column(Text)


class InboundShipmentLine(TenantScoped, Base):
    __tablename__ = "inbound_shipment_lines"
    __table_args__ = (
        UniqueConstraint("shipment_id", "variant_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("received_quantity >= 0", name="received_nonnegative"),
        CheckConstraint("damaged_quantity >= 0", name="damaged_nonnegative"),
    )

    shipment_id: Mapped[int] = mapped_column(ID, ForeignKey("inbound_shipments.id", ondelete="CASCADE"))
    variant_id: Mapped[int] = mapped_column(ID, ForeignKey("variants.id", ondelete="RESTRICT"))
    #: the transfer that carries this line's units
    transfer_id: Mapped[int] = mapped_column(ID, ForeignKey("transfers.id", ondelete="RESTRICT"))
    quantity: Mapped[int]
    #: units booked in good condition, and damaged ones (not stocked)
    received_quantity: Mapped[int] = mapped_column(default=0)
    damaged_quantity: Mapped[int] = mapped_column(default=0)


class InboundStatus(StrEnum):
    """Where a delivery announced to a warehouse system is."""

    PENDING = "pending"  #: to be announced (the ``warehouse_announce`` job runs it)
    ANNOUNCED = "announced"  #: the system holds the ASN (``external_id``)
    NOT_ANNOUNCED = "not_announced"  #: the system takes no announcements; receipts still match
    FAILED = "failed"  #: the system refused the ASN (``last_error``); announce again after fixing
    RECEIVED = "received"  #: the system reported the delivery complete
    CANCELLED = "cancelled"  #: the purchase order or shipment was withdrawn


class WarehouseInbound(TenantScoped, Timestamped, Base):
    """A delivery into a warehouse run by a warehouse system: a sent purchase order or an
    inbound shipment, under its number as the reference the system knows it by."""

    __tablename__ = "warehouse_inbounds"
    __table_args__ = (
        UniqueConstraint("warehouse_id", "reference"),
        Index("ix_warehouse_inbounds_status", "tenant_id", "status"),
    )

    warehouse_id: Mapped[int] = mapped_column(ID, ForeignKey("warehouses.id", ondelete="CASCADE"))
    reference: Mapped[str] = mapped_column(String(64))
    purchase_order_id: Mapped[int | None] = mapped_column(
        ID, ForeignKey("purchase_orders.id", ondelete="CASCADE"), unique=True
    )
    shipment_id: Mapped[int | None] = mapped_column(
        ID, ForeignKey("inbound_shipments.id", ondelete="CASCADE"), unique=True
    )
    status: Mapped[str] = mapped_column(String(16), default=InboundStatus.PENDING)
    #: the system's id of the ASN
    external_id: Mapped[str | None] = mapped_column(String(128))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    announced_at: Mapped[datetime | None]
    #: what the system's receipts have booked so far: sku -> [good, damaged]
    counted: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    received_at: Mapped[datetime | None]


class HandoverStatus(StrEnum):
    """Where an order handed to a warehouse system (a 3PL picking and shipping it) is."""

    PENDING = "pending"  #: to be handed over (the ``warehouse_fulfil`` job does it)
    HANDED_OVER = "handed_over"  #: the system holds the order (``external_id``)
    FAILED = "failed"  #: the system refused it (``last_error``); hand it over again after fixing
    SHIPPED = "shipped"  #: the system shipped it: the order's shipment carries its tracking
    CANCELLED = "cancelled"  #: the order was cancelled or its stock released before it left


class WarehouseOrder(TenantScoped, Timestamped, Base):
    """An order (its units reserved in a warehouse run by a warehouse system) handed to that
    system to pick, pack and ship, under a reference of Crossdock's own."""

    __tablename__ = "warehouse_orders"
    __table_args__ = (
        UniqueConstraint("warehouse_id", "order_id"),
        UniqueConstraint("warehouse_id", "reference"),
        Index("ix_warehouse_orders_status", "tenant_id", "status"),
    )

    warehouse_id: Mapped[int] = mapped_column(ID, ForeignKey("warehouses.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ID, ForeignKey("orders.id", ondelete="CASCADE"))
    reference: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=HandoverStatus.PENDING)
    external_id: Mapped[str | None] = mapped_column(String(128))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    handed_over_at: Mapped[datetime | None]
    shipment_id: Mapped[int | None] = mapped_column(ID, ForeignKey("shipments.id", ondelete="SET NULL"))
    shipped_at: Mapped[datetime | None]
