"""Warehouses and stock: queries and mutations."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from crossdock.api.context import RequestState, state
from crossdock.api.schema.common import MoneyInput, set_fields, units
from crossdock.api.schema.errors import InventoryUserError, in_transaction, requires
from crossdock.api.schema.inventory_types import StockLevel, Transfer, Warehouse
from crossdock.api.schema.relay import Connection, decode_id, paginate, resolve_id, sort_keys
from crossdock.db import models as m
from crossdock.errors import UserError
from crossdock.services import inventory
from crossdock.services.analytics import add_cost_layer

__all__ = ["Mutation", "Query", "StockMutation", "TransferQuery"]


@strawberry.input
class WarehouseFilter:
    kind: m.WarehouseKind | None = None
    country: str | None = None
    active: bool | None = None


@strawberry.input
class StockLevelFilter:
    variant_id: strawberry.ID | None = None
    warehouse_id: strawberry.ID | None = None
    available_at_most: int | None = strawberry.field(
        default=None, description="Only levels with on_hand - reserved <= this."
    )
    low_stock: bool | None = strawberry.field(
        default=None, description="Only levels at or below their own low-stock threshold."
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
            if filter.low_stock:
                stmt = stmt.where(
                    m.StockLevel.low_stock_threshold.is_not(None),
                    m.StockLevel.on_hand - m.StockLevel.reserved <= m.StockLevel.low_stock_threshold,
                )
            if filter.available_at_most is not None:
                stmt = stmt.where(m.StockLevel.on_hand - m.StockLevel.reserved <= filter.available_at_most)
        return await paginate(state(info), stmt, m.StockLevel, StockLevel.from_row, first=first, after=after)


class TransferSortKeys(StrEnum):
    ID = "ID"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"
    RECEIVED_AT = "RECEIVED_AT"


TRANSFER_SORTS = sort_keys(TransferSortKeys, m.Transfer, "The orders transfers can be listed in.")


@strawberry.input
class TransferFilter:
    status: m.TransferStatus | None = None
    variant_id: strawberry.ID | None = None


@strawberry.type
class TransferQuery:
    @strawberry.field(extensions=requires("inventory:read"), description="Stock moving between warehouses.")
    async def transfers(
        self,
        info: Info[Any, Any],
        first: int | None = None,
        after: str | None = None,
        filter: TransferFilter | None = None,
        sort_key: TransferSortKeys = TransferSortKeys.ID,
        reverse: bool = False,
    ) -> Connection[Transfer]:
        stmt = select(m.Transfer)
        if filter and filter.status:
            stmt = stmt.where(m.Transfer.status == filter.status)
        if filter and filter.variant_id:
            stmt = stmt.where(
                m.Transfer.variant_id == decode_id(filter.variant_id, "Variant", field="filter.variantId")[1]
            )
        return await paginate(
            state(info),
            stmt,
            m.Transfer,
            Transfer.from_row,
            first=first,
            after=after,
            sort=TRANSFER_SORTS[sort_key],
            reverse=reverse,
        )


@strawberry.input
class WarehouseCreateInput:
    code: str
    name: str
    country: str
    kind: m.WarehouseKind = m.WarehouseKind.OWN
    serves_countries: list[str] = strawberry.field(default_factory=list)
    priority: int = 100
    connection_id: strawberry.ID | None = None


@strawberry.input
class WarehouseUpdateInput:
    id: strawberry.ID
    code: str | None = strawberry.UNSET
    name: str | None = strawberry.UNSET
    country: str | None = strawberry.UNSET
    kind: m.WarehouseKind | None = strawberry.UNSET
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
    unit_cost: MoneyInput | None = strawberry.field(
        default=None,
        description="What one unit cost to buy: with `freight` and `duty` (per unit, same "
        "currency) it is the landed cost profit figures count the units at.",
    )
    freight: Decimal | None = strawberry.field(default=None, description="Freight per unit.")
    duty: Decimal | None = strawberry.field(default=None, description="Duty per unit.")


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
    user_errors: list[InventoryUserError] = strawberry.field(default_factory=list)


@strawberry.type
class WarehouseCreatePayload(WarehousePayload):
    pass


@strawberry.type
class WarehouseUpdatePayload(WarehousePayload):
    pass


@strawberry.type
class StockLevelPayload:
    stock_level: StockLevel | None = None
    user_errors: list[InventoryUserError] = strawberry.field(default_factory=list)


@strawberry.type
class StockReceivePayload(StockLevelPayload):
    pass


@strawberry.type
class StockAdjustPayload(StockLevelPayload):
    pass


@strawberry.type
class StockCountPayload(StockLevelPayload):
    pass


@strawberry.type
class StockWriteOffPayload(StockLevelPayload):
    pass


@strawberry.type
class StockPolicySetPayload(StockLevelPayload):
    pass


async def _connection_pk(session: AsyncSession, value: strawberry.ID | None) -> int | None:
    return await resolve_id(session, value, m.Connection, field="connectionId") if value else None


async def _level_ids(
    session: AsyncSession,
    variant_id: strawberry.ID,
    warehouse_id: strawberry.ID,
    warehouse_field: str = "warehouseId",
) -> tuple[int, int]:
    return (
        await resolve_id(session, variant_id, m.Variant, field="variantId"),
        await resolve_id(session, warehouse_id, m.Warehouse, field=warehouse_field),
    )


@strawberry.type
class Mutation:
    @strawberry.mutation(extensions=requires("inventory:write"))
    async def warehouse_create(
        self, info: Info[Any, Any], input: WarehouseCreateInput
    ) -> WarehouseCreatePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            connection_pk = await _connection_pk(session, input.connection_id)
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
            return {"warehouse": Warehouse.from_row(row)}

        return await in_transaction(info, WarehouseCreatePayload, body)

    @strawberry.mutation(extensions=requires("inventory:write"))
    async def warehouse_update(
        self, info: Info[Any, Any], input: WarehouseUpdateInput
    ) -> WarehouseUpdatePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.Warehouse)
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
                changes["connection_id"] = await _connection_pk(session, input.connection_id)
            row = await inventory.update_warehouse(session, pk, **changes)
            return {"warehouse": Warehouse.from_row(row)}

        return await in_transaction(info, WarehouseUpdatePayload, body)

    @strawberry.mutation(extensions=requires("inventory:write"), description="A purchase receipt.")
    async def stock_receive(self, info: Info[Any, Any], input: StockReceiveInput) -> StockReceivePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            variant_pk, warehouse_pk = await _level_ids(session, input.variant_id, input.warehouse_id)
            row = await inventory.receive_stock(
                st.uow,
                variant_id=variant_pk,
                warehouse_id=warehouse_pk,
                quantity=units(input.quantity, "quantity"),
                reference=input.reference,
                note=input.note,
                api_key_id=st.principal.api_key_id,
            )
            if input.unit_cost is not None:
                cost = input.unit_cost.value("input.unitCost")
                await add_cost_layer(
                    session,
                    variant_id=variant_pk,
                    warehouse_id=warehouse_pk,
                    quantity=input.quantity,
                    purchase_cost=cost.amount,
                    currency=cost.currency,
                    freight_cost=input.freight or Decimal(0),
                    duty_cost=input.duty or Decimal(0),
                    reference=input.reference,
                )
            elif input.freight is not None or input.duty is not None:
                raise UserError("freight and duty need a unitCost", field="input.unitCost", code="INVALID")
            return {"stock_level": StockLevel.from_row(row)}

        return await in_transaction(info, StockReceivePayload, body)

    @strawberry.mutation(extensions=requires("inventory:write"), description="A manual correction.")
    async def stock_adjust(self, info: Info[Any, Any], input: StockAdjustInput) -> StockAdjustPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            variant_pk, warehouse_pk = await _level_ids(session, input.variant_id, input.warehouse_id)
            row = await inventory.adjust_stock(
                st.uow,
                variant_id=variant_pk,
                warehouse_id=warehouse_pk,
                delta=units(input.delta, "delta"),
                note=input.note,
                reference=input.reference,
                api_key_id=st.principal.api_key_id,
            )
            return {"stock_level": StockLevel.from_row(row)}

        return await in_transaction(info, StockAdjustPayload, body)


@strawberry.input
class StockTransferStartInput:
    variant_id: strawberry.ID
    from_warehouse_id: strawberry.ID
    to_warehouse_id: strawberry.ID
    quantity: int
    reference: str | None = None


@strawberry.input
class StockTransferReceiveInput:
    id: strawberry.ID
    quantity: int | None = strawberry.field(default=None, description="Defaults to all that was sent.")


@strawberry.input
class StockTransferCancelInput:
    id: strawberry.ID
    note: str | None = None


@strawberry.input
class StockCountInput:
    variant_id: strawberry.ID
    warehouse_id: strawberry.ID
    counted: int
    note: str | None = None


@strawberry.input
class StockWriteOffInput:
    variant_id: strawberry.ID
    warehouse_id: strawberry.ID
    quantity: int
    note: str


@strawberry.input
class StockPolicySetInput:
    variant_id: strawberry.ID
    warehouse_id: strawberry.ID
    safety_stock: int | None = None
    low_stock_threshold: int | None = strawberry.UNSET


@strawberry.type
class TransferPayload:
    transfer: Transfer | None = None
    user_errors: list[InventoryUserError] = strawberry.field(default_factory=list)


@strawberry.type
class StockTransferStartPayload(TransferPayload):
    pass


@strawberry.type
class StockTransferReceivePayload(TransferPayload):
    pass


@strawberry.type
class StockTransferCancelPayload(TransferPayload):
    pass


@strawberry.type
class StockMutation:
    @strawberry.mutation(
        extensions=requires("inventory:write"), description="Send stock to another warehouse."
    )
    async def stock_transfer_start(
        self, info: Info[Any, Any], input: StockTransferStartInput
    ) -> StockTransferStartPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            variant_pk, from_pk = await _level_ids(
                session, input.variant_id, input.from_warehouse_id, "fromWarehouseId"
            )
            to_pk = await resolve_id(session, input.to_warehouse_id, m.Warehouse, field="toWarehouseId")
            row = await inventory.start_transfer(
                st.uow,
                variant_id=variant_pk,
                from_warehouse_id=from_pk,
                to_warehouse_id=to_pk,
                quantity=units(input.quantity, "quantity"),
                reference=input.reference,
                api_key_id=st.principal.api_key_id,
            )
            return {"transfer": Transfer.from_row(row)}

        return await in_transaction(info, StockTransferStartPayload, body)

    @strawberry.mutation(
        extensions=requires("inventory:write"), description="Book a transfer in at its target."
    )
    async def stock_transfer_receive(
        self, info: Info[Any, Any], input: StockTransferReceiveInput
    ) -> StockTransferReceivePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.Transfer)
            row = await inventory.receive_transfer(
                st.uow,
                pk,
                quantity=None if input.quantity is None else units(input.quantity, "quantity"),
                api_key_id=st.principal.api_key_id,
            )
            return {"transfer": Transfer.from_row(row)}

        return await in_transaction(info, StockTransferReceivePayload, body)

    @strawberry.mutation(
        extensions=requires("inventory:write"),
        description="An in-transit transfer that will not arrive: its units go back to the source.",
    )
    async def stock_transfer_cancel(
        self, info: Info[Any, Any], input: StockTransferCancelInput
    ) -> StockTransferCancelPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.Transfer)
            row = await inventory.cancel_transfer(
                st.uow, pk, note=input.note, api_key_id=st.principal.api_key_id
            )
            return {"transfer": Transfer.from_row(row)}

        return await in_transaction(info, StockTransferCancelPayload, body)

    @strawberry.mutation(
        extensions=requires("inventory:write"), description="A stocktake: counted becomes on hand."
    )
    async def stock_count(self, info: Info[Any, Any], input: StockCountInput) -> StockCountPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            variant_pk, warehouse_pk = await _level_ids(session, input.variant_id, input.warehouse_id)
            row = await inventory.count_stock(
                st.uow,
                variant_id=variant_pk,
                warehouse_id=warehouse_pk,
                counted=units(input.counted, "counted"),
                note=input.note,
                api_key_id=st.principal.api_key_id,
            )
            return {"stock_level": StockLevel.from_row(row)}

        return await in_transaction(info, StockCountPayload, body)

    @strawberry.mutation(extensions=requires("inventory:write"), description="Damaged or lost units.")
    async def stock_write_off(self, info: Info[Any, Any], input: StockWriteOffInput) -> StockWriteOffPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            variant_pk, warehouse_pk = await _level_ids(session, input.variant_id, input.warehouse_id)
            row = await inventory.write_off(
                st.uow,
                variant_id=variant_pk,
                warehouse_id=warehouse_pk,
                quantity=units(input.quantity, "quantity"),
                note=input.note,
                api_key_id=st.principal.api_key_id,
            )
            return {"stock_level": StockLevel.from_row(row)}

        return await in_transaction(info, StockWriteOffPayload, body)

    @strawberry.mutation(
        extensions=requires("inventory:write"), description="Safety stock and low-stock threshold."
    )
    async def stock_policy_set(
        self, info: Info[Any, Any], input: StockPolicySetInput
    ) -> StockPolicySetPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            variant_pk, warehouse_pk = await _level_ids(session, input.variant_id, input.warehouse_id)
            safety = input.safety_stock
            changes: dict[str, Any] = {
                "safety_stock": None if safety is None else units(safety, "safetyStock")
            }
            if input.low_stock_threshold is not strawberry.UNSET:
                low = input.low_stock_threshold
                changes["low_stock_threshold"] = None if low is None else units(low, "lowStockThreshold")
            row = await inventory.set_stock_policy(
                st.uow, variant_id=variant_pk, warehouse_id=warehouse_pk, **changes
            )
            return {"stock_level": StockLevel.from_row(row)}

        return await in_transaction(info, StockPolicySetPayload, body)
