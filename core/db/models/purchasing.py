"""Suppliers, what they sell, purchase orders and the receipts against them.

A purchase order goes draft → sent → partially received → received → closed (or
cancelled before anything arrives); its lines count what was ordered, received in good
condition and received damaged. A receipt puts the good units on hand in the order's
warehouse (a ``receipt`` ledger row) and records their landed cost (the line's price with
the order's freight and duty shared out by value) as a cost layer.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crossdock.db.base import ID, Base, Json, TenantScoped, Timestamped, utcnow

__all__ = [
    "DemandClass",
    "PurchaseOrder",
    "PurchaseOrderLine",
    "PurchaseOrderStatus",
    "PurchaseReceipt",
    "PurchaseReceiptLine",
    "ReplenishmentPlanRow",
    "Supplier",
    "SupplierItem",
]


class DemandClass(StrEnum):
    """Syntetos-Boylan demand class (ADI cut 1.32 days, CV^2 cut 0.49), or NEW. Closed set
    (stored on a plan; :mod:`crossdock.services.forecast` classifies)."""

    SMOOTH = "SMOOTH"  #: demand most days, sizes steady (ADI < 1.32, CV^2 < 0.49)
    ERRATIC = "ERRATIC"  #: demand most days, sizes vary (ADI < 1.32, CV^2 >= 0.49)
    INTERMITTENT = "INTERMITTENT"  #: demand some days, sizes steady (ADI >= 1.32, CV^2 < 0.49)
    LUMPY = "LUMPY"  #: demand some days, sizes vary (ADI >= 1.32, CV^2 >= 0.49)
    NEW = "NEW"  #: fewer than 28 clean days of history: too little to classify


class PurchaseOrderStatus(StrEnum):
    """Where a purchase order is."""

    DRAFT = "draft"  #: being put together; its lines may change
    SENT = "sent"  #: with the supplier: its open quantities are stock on order
    PARTIALLY_RECEIVED = "partially_received"
    RECEIVED = "received"  #: every line received in full (or more)
    CLOSED = "closed"  #: settled: what was not received will not come
    CANCELLED = "cancelled"  #: withdrawn before anything arrived


class Supplier(TenantScoped, Timestamped, Base):
    """Who the seller buys from, in which currency and on which terms."""

    __tablename__ = "suppliers"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        CheckConstraint("lead_time_days > 0", name="lead_time_positive"),
        CheckConstraint("lead_time_sd_days >= 0", name="lead_time_sd_nonnegative"),
        CheckConstraint("payment_terms_days >= 0", name="payment_terms_nonnegative"),
    )

    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    currency: Mapped[str] = mapped_column(String(3))
    payment_terms_days: Mapped[int] = mapped_column(default=30)
    #: the usual time from order to arrival, and its spread (one standard deviation)
    lead_time_days: Mapped[Decimal] = mapped_column(default=Decimal(14))
    lead_time_sd_days: Mapped[Decimal] = mapped_column(default=Decimal(0))
    notes: Mapped[str | None] = mapped_column(Text)
    archived_at: Mapped[datetime | None]


class SupplierItem(TenantScoped, Timestamped, Base):
    """A variant as a supplier sells it: its reference there, lead time (when it differs
    from the supplier's), minimum order, case pack and price breaks."""

    __tablename__ = "supplier_items"
    __table_args__ = (
        UniqueConstraint("supplier_id", "variant_id"),
        CheckConstraint("moq >= 1", name="moq_positive"),
        CheckConstraint("case_pack >= 1", name="case_pack_positive"),
        Index("ix_supplier_items_variant", "tenant_id", "variant_id"),
    )

    supplier_id: Mapped[int] = mapped_column(ID, ForeignKey("suppliers.id", ondelete="CASCADE"))
    variant_id: Mapped[int] = mapped_column(ID, ForeignKey("variants.id", ondelete="CASCADE"))
    supplier_sku: Mapped[str | None] = mapped_column(String(128))
    lead_time_days: Mapped[Decimal | None]
    lead_time_sd_days: Mapped[Decimal | None]
    moq: Mapped[int] = mapped_column(default=1)
    case_pack: Mapped[int] = mapped_column(default=1)
    #: ``[{"min_quantity": 1, "unit_price": "4.20"}, …]`` ascending, in the supplier's currency
    price_breaks: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)


class PurchaseOrder(TenantScoped, Timestamped, Base):
    """An order to a supplier for one warehouse, with freight and duty for the whole of it."""

    __tablename__ = "purchase_orders"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        CheckConstraint("freight >= 0", name="freight_nonnegative"),
        CheckConstraint("duty >= 0", name="duty_nonnegative"),
        Index("ix_purchase_orders_status", "tenant_id", "status"),
    )

    number: Mapped[str] = mapped_column(String(64))
    supplier_id: Mapped[int] = mapped_column(ID, ForeignKey("suppliers.id", ondelete="RESTRICT"))
    warehouse_id: Mapped[int] = mapped_column(ID, ForeignKey("warehouses.id", ondelete="RESTRICT"))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(24), default=PurchaseOrderStatus.DRAFT)
    expected_on: Mapped[date | None]
    freight: Mapped[Decimal] = mapped_column(default=Decimal(0))
    duty: Mapped[Decimal] = mapped_column(default=Decimal(0))
    notes: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]


class PurchaseOrderLine(TenantScoped, Base):
    __tablename__ = "purchase_order_lines"
    __table_args__ = (
        UniqueConstraint("purchase_order_id", "variant_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price >= 0", name="unit_price_nonnegative"),
        CheckConstraint("received_quantity >= 0", name="received_nonnegative"),
        CheckConstraint("damaged_quantity >= 0", name="damaged_nonnegative"),
        Index("ix_purchase_order_lines_variant", "tenant_id", "variant_id"),
    )

    purchase_order_id: Mapped[int] = mapped_column(ID, ForeignKey("purchase_orders.id", ondelete="CASCADE"))
    variant_id: Mapped[int] = mapped_column(ID, ForeignKey("variants.id", ondelete="RESTRICT"))
    quantity: Mapped[int]
    unit_price: Mapped[Decimal]
    #: units that arrived in good condition (on hand), and damaged (not stocked)
    received_quantity: Mapped[int] = mapped_column(default=0)
    damaged_quantity: Mapped[int] = mapped_column(default=0)


class PurchaseReceipt(TenantScoped, Base):
    """One delivery received against a purchase order."""

    __tablename__ = "purchase_receipts"

    purchase_order_id: Mapped[int] = mapped_column(
        ID, ForeignKey("purchase_orders.id", ondelete="CASCADE"), index=True
    )
    reference: Mapped[str | None] = mapped_column(String(128))
    note: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class PurchaseReceiptLine(TenantScoped, Base):
    __tablename__ = "purchase_receipt_lines"
    __table_args__ = (
        CheckConstraint("quantity >= 0", name="quantity_nonnegative"),
        CheckConstraint("damaged >= 0", name="damaged_nonnegative"),
    )

    receipt_id: Mapped[int] = mapped_column(
        ID, ForeignKey("purchase_receipts.id", ondelete="CASCADE"), index=True
    )
    line_id: Mapped[int] = mapped_column(ID, ForeignKey("purchase_order_lines.id", ondelete="CASCADE"))
    quantity: Mapped[int]
    damaged: Mapped[int] = mapped_column(default=0)
    #: the landed cost per unit of the good units: price + freight + duty shares
    unit_cost: Mapped[Decimal]


class ReplenishmentPlanRow(TenantScoped, Base):
    """The latest replenishment plan of a variant in a warehouse (the planning job replaces
    it): its forecast, the figures of :class:`crossdock.services.replenishment.ReplenishmentPlan`
    and the order it suggests from the variant's supplier."""

    __tablename__ = "replenishment_plans"
    __table_args__ = (
        UniqueConstraint("variant_id", "warehouse_id"),
        Index("ix_replenishment_plans_due", "tenant_id", "reorder_now"),
    )

    variant_id: Mapped[int] = mapped_column(ID, ForeignKey("variants.id", ondelete="CASCADE"))
    warehouse_id: Mapped[int] = mapped_column(ID, ForeignKey("warehouses.id", ondelete="CASCADE"))
    supplier_id: Mapped[int | None] = mapped_column(ID, ForeignKey("suppliers.id", ondelete="SET NULL"))
    planned_on: Mapped[date]
    demand_class: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(64))
    mean_daily: Mapped[Decimal]
    sigma_daily: Mapped[Decimal]
    lead_time_days: Mapped[Decimal]
    safety_stock: Mapped[Decimal]
    reorder_point: Mapped[Decimal]
    order_up_to: Mapped[Decimal]
    on_hand: Mapped[int]
    reserved: Mapped[int]
    on_order: Mapped[int]
    position: Mapped[int]
    days_of_cover: Mapped[Decimal | None]
    stockout_on: Mapped[date | None]
    reorder_now: Mapped[bool] = mapped_column(default=False)
    order_on: Mapped[date | None]
    order_quantity: Mapped[int | None]
    unit_price: Mapped[Decimal | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    overstock: Mapped[bool] = mapped_column(default=False)
    reasons: Mapped[list[str]] = mapped_column(Json, default=list)
    #: the forecast's daily means from ``planned_on`` on (for a chart)
    forecast: Mapped[list[float]] = mapped_column(Json, default=list)
    #: the demand split by sales channel: [{connection_id, channel, share, mean_daily}]
    channels: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list, server_default="[]")
    #: transfers suggested into this warehouse instead of (part of) its order:
    #: [{from_warehouse_id, quantity, ship_on, arrive_on}]
    transfers: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list, server_default="[]")
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
