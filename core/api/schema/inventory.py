"""Warehouses and stock: queries and mutations."""

from __future__ import annotations

from typing import Any

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from crossdock.api.context import state
from crossdock.api.schema.common import set_fields
from crossdock.api.schema.errors import UserErrorType, requires, user_errors
from crossdock.api.schema.relay import Connection, decode_id, paginate
from crossdock.api.schema.types import StockLevel, Warehouse
from crossdock.db import models as m
from crossdock.services import inventory

__all__ = ["Mutation", "Query"]


@strawberry.input
class WarehouseFilter:
    kind: str | None = None
    country: str | None = None
    active: bool | None = None


@strawberry.input
class StockLevelFilter:
    variant_id: strawberry.ID | None = None
    warehouse_id: strawberry.ID | None = None
    available_at_most: int | None = strawberry.field(
        default=None, description="Only levels with on_hand - reserved <= this (low stock)."
    )


@strawberry.type
class Query:
    @strawberry.field(extensions=requires("inventory:read"))
    async def warehouses(
        self,
        info: Info[Any, Any],
        first: int | None = None,
        after: str | None = None,
        filter: WarehouseFilter | None = None,
    ) -> Connection[Warehouse]:
        stmt = select(m.Warehouse)
        if filter:
            if filter.kind:
                stmt = stmt.where(m.Warehouse.kind == filter.kind)
            if filter.country:
                stmt = stmt.where(m.Warehouse.country == filter.country.upper())
            if filter.active is not None:
                stmt = stmt.where(m.Warehouse.active == filter.active)
        return await paginate(state(info), stmt, m.Warehouse, Warehouse.from_row, first=first, after=after)

    @strawberry.field(extensions=requires("inventory:read"))
    async def stock_levels(
        self,
        info: Info[Any, Any],
        first: int | None = None,
        after: str | None = None,
        filter: StockLevelFilter | None = None,
    ) -> Connection[StockLevel]:
        stmt = select(m.StockLevel)
        if filter:
            if filter.variant_id:
                _, pk = decode_id(filter.variant_id, "Variant", field="filter.variantId")
                stmt = stmt.where(m.StockLevel.variant_id == pk)
            if filter.warehouse_id:
                _, pk = decode_id(filter.warehouse_id, "Warehouse", field="filter.warehouseId")
                stmt = stmt.where(m.StockLevel.warehouse_id == pk)
            if filter.available_at_most is not None:
                stmt = stmt.where(m.StockLevel.on_hand - m.StockLevel.reserved <= filter.available_at_most)
        return await paginate(state(info), stmt, m.StockLevel, StockLevel.from_row, first=first, after=after)


@strawberry.input
class WarehouseCreateInput:
    code: str
    name: str
    country: str
    kind: str = "own"
    serves_countries: list[str] = strawberry.field(default_factory=list)
    priority: int = 100
    connection_id: strawberry.ID | None = None


@strawberry.input
class WarehouseUpdateInput:
    id: strawberry.ID
    code: str | None = strawberry.UNSET
    name: str | None = strawberry.UNSET
    country: str | None = strawberry.UNSET
    kind: str | None = strawberry.UNSET
    serves_countries: list[str] | None = strawberry.UNSET
    priority: int | None = strawberry.UNSET
    connection_id: strawberry.ID | None = strawberry.UNSET
    active: bool | None = strawberry.UNSET


@strawberry.input
class StockReceiveInput:
    variant_id: strawberry.ID
    warehouse_id: strawberry.ID
    quantity: int
    reference: str | None = strawberry.field(default=None, description="e.g. the purchase order")
    note: str | None = None


@strawberry.input
class StockAdjustInput:
    variant_id: strawberry.ID
    warehouse_id: strawberry.ID
    delta: int = strawberry.field(description="Units to add (positive) or remove (negative).")
    note: str = strawberry.field(description="Why: kept on the ledger row.")
    reference: str | None = None


@strawberry.type
class WarehousePayload:
    warehouse: Warehouse | None = None
    user_errors: list[UserErrorType] = strawberry.field(default_factory=list)


@strawberry.type
class StockLevelPayload:
    stock_level: StockLevel | None = None
    user_errors: list[UserErrorType] = strawberry.field(default_factory=list)


def _connection_pk(value: strawberry.ID | None) -> int | None:
    return decode_id(value, "ChannelConnection", field="connectionId")[1] if value else None


def _level_ids(variant_id: strawberry.ID, warehouse_id: strawberry.ID) -> tuple[int, int]:
    return (
        decode_id(variant_id, "Variant", field="variantId")[1],
        decode_id(warehouse_id, "Warehouse", field="warehouseId")[1],
    )


@strawberry.type
class Mutation:
    @strawberry.mutation(extensions=requires("inventory:write"))
    async def warehouse_create(self, info: Info[Any, Any], input: WarehouseCreateInput) -> WarehousePayload:
        st = state(info)

        async def run() -> WarehousePayload:
            connection_pk = _connection_pk(input.connection_id)
            async with st.write() as session:
                row = await inventory.create_warehouse(
                    session,
                    code=input.code,
                    name=input.name,
                    country=input.country,
                    kind=input.kind,
                    serves_countries=input.serves_countries,
                    priority=input.priority,
                    connection_id=connection_pk,
                )
            return WarehousePayload(warehouse=Warehouse.from_row(row))

        return await user_errors(run, lambda errors: WarehousePayload(user_errors=errors))

    @strawberry.mutation(extensions=requires("inventory:write"))
    async def warehouse_update(self, info: Info[Any, Any], input: WarehouseUpdateInput) -> WarehousePayload:
        st = state(info)

        async def run() -> WarehousePayload:
            _, pk = decode_id(input.id, "Warehouse")
            changes = set_fields(
                input,
                {
                    "code": "code",
                    "name": "name",
                    "country": "country",
                    "kind": "kind",
                    "serves_countries": "serves_countries",
                    "priority": "priority",
                    "active": "active",
                },
            )
            if input.connection_id is not strawberry.UNSET:
                changes["connection_id"] = _connection_pk(input.connection_id)
            async with st.write() as session:
                row = await inventory.update_warehouse(session, pk, **changes)
            return WarehousePayload(warehouse=Warehouse.from_row(row))

        return await user_errors(run, lambda errors: WarehousePayload(user_errors=errors))

    @strawberry.mutation(extensions=requires("inventory:write"), description="A purchase receipt.")
    async def stock_receive(self, info: Info[Any, Any], input: StockReceiveInput) -> StockLevelPayload:
        st = state(info)

        async def run() -> StockLevelPayload:
            variant_pk, warehouse_pk = _level_ids(input.variant_id, input.warehouse_id)
            async with st.write() as session:
                row = await inventory.receive_stock(
                    session,
                    variant_id=variant_pk,
                    warehouse_id=warehouse_pk,
                    quantity=input.quantity,
                    reference=input.reference,
                    note=input.note,
                    api_key_id=st.principal.api_key_id,
                    plugins=st.app.plugins,
                )
            return StockLevelPayload(stock_level=StockLevel.from_row(row))

        return await user_errors(run, lambda errors: StockLevelPayload(user_errors=errors))

    @strawberry.mutation(extensions=requires("inventory:write"), description="A manual correction.")
    async def stock_adjust(self, info: Info[Any, Any], input: StockAdjustInput) -> StockLevelPayload:
        st = state(info)

        async def run() -> StockLevelPayload:
            variant_pk, warehouse_pk = _level_ids(input.variant_id, input.warehouse_id)
            async with st.write() as session:
                row = await inventory.adjust_stock(
                    session,
                    variant_id=variant_pk,
                    warehouse_id=warehouse_pk,
                    delta=input.delta,
                    note=input.note,
                    reference=input.reference,
                    api_key_id=st.principal.api_key_id,
                    plugins=st.app.plugins,
                )
            return StockLevelPayload(stock_level=StockLevel.from_row(row))

        return await user_errors(run, lambda errors: StockLevelPayload(user_errors=errors))
