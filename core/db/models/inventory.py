"""Warehouses, stock levels and the stock ledger.

A level is a running total of its ledger rows; both are written in one transaction, and
the database refuses a negative level (check constraints), so no code path can oversell.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crossdock.db.base import ID, Base, Json, TenantScoped, Timestamped, utcnow

__all__ = [
    "StockLedgerEntry",
    "StockLevel",
    "StockReason",
    "Transfer",
    "TransferStatus",
    "Warehouse",
    "WarehouseKind",
]


class WarehouseKind(StrEnum):
    OWN = "own"
    THIRD_PARTY = "3pl"
    OVERSEAS = "overseas"
    MARKETPLACE = "marketplace"  # FBA-like: the channel holds and ships this stock


class StockReason(StrEnum):
    RECEIPT = "receipt"
    ADJUSTMENT = "adjustment"
    RESERVATION = "reservation"
    RELEASE = "release"
    SHIPMENT = "shipment"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"
    STOCKTAKE = "stocktake"
    DAMAGE = "damage"
    RETURN = "return"
    TRANSFER_CANCELLED = "transfer_cancelled"


class TransferStatus(StrEnum):
    IN_TRANSIT = "in_transit"
    RECEIVED = "received"
    CANCELLED = "cancelled"


class Warehouse(TenantScoped, Timestamped, Base):
    __tablename__ = "warehouses"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str]
    kind: Mapped[str] = mapped_column(String(16), default=WarehouseKind.OWN)
    country: Mapped[str] = mapped_column(String(2))
    #: The ship-from address carriers are given (name, line1, city, postal_code, phone ...).
    address: Mapped[dict[str, Any]] = mapped_column(Json, default=dict, server_default="{}")
    #: ISO countries this warehouse ships to; empty means its own country only.
    serves_countries: Mapped[list[str]] = mapped_column(Json, default=list)
    priority: Mapped[int] = mapped_column(default=100)
    connection_id: Mapped[int | None] = mapped_column(ID, ForeignKey("connections.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(default=True)


class StockLevel(TenantScoped, Base):
    __tablename__ = "stock_levels"
    __table_args__ = (
        UniqueConstraint("variant_id", "warehouse_id"),
        CheckConstraint("on_hand >= 0", name="on_hand_nonnegative"),
        CheckConstraint("reserved >= 0", name="reserved_nonnegative"),
        CheckConstraint("reserved <= on_hand", name="reserved_within_on_hand"),
        CheckConstraint("safety_stock >= 0", name="safety_stock_nonnegative"),
        Index("ix_stock_levels_warehouse", "warehouse_id"),
    )

    variant_id: Mapped[int] = mapped_column(ID, ForeignKey("variants.id", ondelete="CASCADE"))
    warehouse_id: Mapped[int] = mapped_column(ID, ForeignKey("warehouses.id", ondelete="CASCADE"))
    on_hand: Mapped[int] = mapped_column(default=0)
    reserved: Mapped[int] = mapped_column(default=0)
    #: Units kept back from what channels are offered (not from orders already sold).
    safety_stock: Mapped[int] = mapped_column(default=0, server_default="0")
    #: Raise ``stock.low`` when available (on_hand - reserved) falls to this or below.
    low_stock_threshold: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class StockLedgerEntry(TenantScoped, Base):
    """One change to one level. Never updated, never deleted."""

    __tablename__ = "stock_ledger"
    __table_args__ = (Index("ix_stock_ledger_level", "variant_id", "warehouse_id"),)

    variant_id: Mapped[int] = mapped_column(ID, ForeignKey("variants.id", ondelete="CASCADE"))
    warehouse_id: Mapped[int] = mapped_column(ID, ForeignKey("warehouses.id", ondelete="CASCADE"))
    delta_on_hand: Mapped[int] = mapped_column(default=0)
    delta_reserved: Mapped[int] = mapped_column(default=0)
    reason: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str | None] = mapped_column(String(128))
    note: Mapped[str | None]
    details: Mapped[dict[str, object]] = mapped_column(Json, default=dict)
    api_key_id: Mapped[int | None] = mapped_column(ID, ForeignKey("api_keys.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Transfer(TenantScoped, Timestamped, Base):
    """Stock moving between warehouses: off the source's shelf, not yet on the target's."""

    __tablename__ = "transfers"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("received_quantity >= 0", name="received_nonnegative"),
    )

    variant_id: Mapped[int] = mapped_column(ID, ForeignKey("variants.id", ondelete="CASCADE"))
    from_warehouse_id: Mapped[int] = mapped_column(ID, ForeignKey("warehouses.id", ondelete="CASCADE"))
    to_warehouse_id: Mapped[int] = mapped_column(ID, ForeignKey("warehouses.id", ondelete="CASCADE"))
    quantity: Mapped[int]
    received_quantity: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16), default=TransferStatus.IN_TRANSIT)
    reference: Mapped[str | None] = mapped_column(String(128))
    received_at: Mapped[datetime | None]
