"""Warehouses, stock levels, the ledger and transfers as GraphQL types."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from crossdock.api.context import state
from crossdock.api.schema.catalog_types import Variant
from crossdock.api.schema.channel_types import ChannelConnection
from crossdock.api.schema.common import JSON
from crossdock.api.schema.loaders import by_id, same_tenant
from crossdock.api.schema.relay import Node, encode_id
from crossdock.db import models as m

__all__ = ["StockLedgerEntry", "StockLevel", "Transfer", "Warehouse"]


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
    address: JSON = strawberry.field(description="The ship-from address carriers are given.")

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
            address=JSON(row.address or {}),
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
        return Variant.from_row(await same_tenant(info, m.Variant, self.variant_pk))

    @strawberry.field
    async def warehouse(self, info: Info[Any, Any]) -> Warehouse:
        return Warehouse.from_row(await same_tenant(info, m.Warehouse, self.warehouse_pk))

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
        return Variant.from_row(await same_tenant(info, m.Variant, self.variant_pk))

    @strawberry.field
    async def from_warehouse(self, info: Info[Any, Any]) -> Warehouse:
        return Warehouse.from_row(await same_tenant(info, m.Warehouse, self.from_pk))

    @strawberry.field
    async def to_warehouse(self, info: Info[Any, Any]) -> Warehouse:
        return Warehouse.from_row(await same_tenant(info, m.Warehouse, self.to_pk))
