"""Warehouses connected to their warehouse systems (WMS, 3PL, marketplace warehouses):
``warehouseAccounts``, ``warehouseHandovers``, ``warehouseConnect``, ``warehouseSync``,
``warehouseFulfil``, ``warehouseHandoverRetry``
(:mod:`crossdock.services.warehouse_sync` holds the rules: an installed plugin that reports
stock, a base URL the server may call, one account per warehouse; a sync records each
difference as a stocktake; :mod:`crossdock.services.warehouse_orders` hands orders to a
system that ships them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON
from strawberry.types import Info

from crossdock.api.context import RequestState, state
from crossdock.api.schema.errors import InventoryUserError, in_transaction, requires
from crossdock.api.schema.inventory_types import Warehouse
from crossdock.api.schema.loaders import same_tenant
from crossdock.api.schema.order_types import Order
from crossdock.api.schema.relay import Connection, Node, decode_id, encode_id, paginate, resolve_id
from crossdock.db import models as m
from crossdock.errors import NotFound, UserError
from crossdock.services import warehouse_orders, warehouse_sync

__all__ = ["Mutation", "Query"]


@strawberry.type(
    description="A warehouse's account at its warehouse system (its credentials are never shown)."
)
class WarehouseSystemAccount:
    id: strawberry.ID
    warehouse_pk: strawberry.Private[int]
    provider: str = strawberry.field(description="The warehouse-system plugin.")
    base_url: str | None
    status: m.WarehouseAccountStatus
    last_synced_at: datetime | None
    last_error: str | None = strawberry.field(description="Why the last sync failed (while failing).")

    @classmethod
    def from_row(cls, row: m.WarehouseAccount) -> WarehouseSystemAccount:
        return cls(
            id=encode_id("WarehouseAccount", row.id),
            warehouse_pk=row.warehouse_id,
            provider=row.provider,
            base_url=row.base_url,
            status=m.WarehouseAccountStatus(row.status),
            last_synced_at=row.last_synced_at,
            last_error=row.last_error,
        )

    @strawberry.field
    async def warehouse(self, info: Info[Any, Any]) -> Warehouse:
        return Warehouse.from_row(await same_tenant(info, m.Warehouse, self.warehouse_pk))


@strawberry.type(
    description="An order handed to the system running the warehouse its units are reserved in (a 3PL "
    "that picks, packs and ships it), and how that went."
)
class WarehouseHandover(Node):
    pk: strawberry.Private[int]
    warehouse_pk: strawberry.Private[int]
    order_pk: strawberry.Private[int]
    reference: str = strawberry.field(description="The reference the warehouse system knows the order by.")
    status: m.HandoverStatus
    external_id: str | None = strawberry.field(description="The warehouse system's id of the order.")
    attempts: int
    last_error: str | None = strawberry.field(description="Why the system refused it, when it did.")
    handed_over_at: datetime | None
    shipped_at: datetime | None

    @classmethod
    def from_row(cls, row: m.WarehouseOrder) -> WarehouseHandover:
        return cls(
            id=encode_id("WarehouseHandover", row.id),
            pk=row.id,
            warehouse_pk=row.warehouse_id,
            order_pk=row.order_id,
            reference=row.reference,
            status=m.HandoverStatus(row.status),
            external_id=row.external_id,
            attempts=row.attempts,
            last_error=row.last_error,
            handed_over_at=row.handed_over_at,
            shipped_at=row.shipped_at,
        )

    @strawberry.field
    async def warehouse(self, info: Info[Any, Any]) -> Warehouse:
        return Warehouse.from_row(await same_tenant(info, m.Warehouse, self.warehouse_pk))

    @strawberry.field
    async def order(self, info: Info[Any, Any]) -> Order:
        return Order.from_row(await same_tenant(info, m.Order, self.order_pk))


@strawberry.input
class WarehouseHandoverFilter:
    status: list[m.HandoverStatus] | None = None
    warehouse_id: strawberry.ID | None = None
    order_id: strawberry.ID | None = None


@strawberry.input
class WarehouseFulfilInput:
    warehouse_id: strawberry.ID


@strawberry.type
class WarehouseFulfilPayload:
    queued: bool = strawberry.field(default=False, description="The handover job is queued.")
    user_errors: list[InventoryUserError] = strawberry.field(default_factory=list)


@strawberry.input
class WarehouseHandoverRetryInput:
    id: strawberry.ID


@strawberry.type
class WarehouseHandoverRetryPayload:
    handover: WarehouseHandover | None = None
    user_errors: list[InventoryUserError] = strawberry.field(default_factory=list)


@strawberry.input
class WarehouseConnectInput:
    warehouse_id: strawberry.ID
    provider: str
    credentials: JSON = strawberry.field(description="What the plugin needs to sign in (stored encrypted).")
    base_url: str | None = strawberry.field(default=None, description="Another host than the system's own.")
    settings: JSON | None = None


@strawberry.type
class WarehouseConnectPayload:
    warehouse_account: WarehouseSystemAccount | None = None
    user_errors: list[InventoryUserError] = strawberry.field(default_factory=list)


@strawberry.input
class WarehouseSyncInput:
    warehouse_id: strawberry.ID


@strawberry.type
class WarehouseSyncPayload:
    queued: bool = strawberry.field(default=False, description="The sync job is queued.")
    user_errors: list[InventoryUserError] = strawberry.field(default_factory=list)


@strawberry.type
class Query:
    @strawberry.field(
        extensions=requires("inventory:read"),
        description="The warehouses connected to a warehouse system, and how their last sync went.",
    )
    async def warehouse_accounts(self, info: Info[Any, Any]) -> list[WarehouseSystemAccount]:
        st = state(info)
        async with st.read() as session:
            rows = (await session.scalars(select(m.WarehouseAccount).order_by(m.WarehouseAccount.id))).all()
        return [WarehouseSystemAccount.from_row(r) for r in rows]

    @strawberry.field(
        extensions=requires("inventory:read"),
        description="Orders handed to the warehouse systems that ship them, and how that went.",
    )
    async def warehouse_handovers(
        self,
        info: Info[Any, Any],
        first: int | None = None,
        after: str | None = None,
        filter: WarehouseHandoverFilter | None = None,
    ) -> Connection[WarehouseHandover]:
        stmt = select(m.WarehouseOrder)
        if filter and filter.status:
            stmt = stmt.where(m.WarehouseOrder.status.in_([str(s) for s in filter.status]))
        if filter and filter.warehouse_id:
            pk = decode_id(filter.warehouse_id, "Warehouse", field="filter.warehouseId")[1]
            stmt = stmt.where(m.WarehouseOrder.warehouse_id == pk)
        if filter and filter.order_id:
            pk = decode_id(filter.order_id, "Order", field="filter.orderId")[1]
            stmt = stmt.where(m.WarehouseOrder.order_id == pk)
        return await paginate(
            state(info), stmt, m.WarehouseOrder, WarehouseHandover.from_row, first=first, after=after
        )


@strawberry.type
class Mutation:
    @strawberry.mutation(
        extensions=requires("inventory:write"),
        description="Connect a warehouse to its warehouse system, whose stock figures it then follows "
        "(synced hourly, or on `warehouseSync`).",
    )
    async def warehouse_connect(
        self, info: Info[Any, Any], input: WarehouseConnectInput
    ) -> WarehouseConnectPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            warehouse = await resolve_id(session, input.warehouse_id, m.Warehouse, field="warehouseId")
            credentials = cast(Any, input.credentials)
            if not isinstance(credentials, dict):
                raise UserError("credentials are a JSON object", field="credentials", code="INVALID_JSON")
            row = await warehouse_sync.connect_warehouse(
                session,
                st.app.plugins,
                st.app.vault,
                st.app.http.policy,
                warehouse_id=warehouse,
                provider=input.provider,
                credentials=credentials,
                base_url=input.base_url,
                settings=cast(Any, input.settings) or {},
            )
            return {"warehouse_account": WarehouseSystemAccount.from_row(row)}

        return await in_transaction(info, WarehouseConnectPayload, body)

    @strawberry.mutation(
        extensions=requires("inventory:write"),
        description="Sync a connected warehouse's stock from its warehouse system now (a job).",
    )
    async def warehouse_sync(self, info: Info[Any, Any], input: WarehouseSyncInput) -> WarehouseSyncPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            warehouse = await resolve_id(session, input.warehouse_id, m.Warehouse, field="warehouseId")
            account = await session.scalar(
                select(m.WarehouseAccount.id).where(m.WarehouseAccount.warehouse_id == warehouse)
            )
            if account is None:
                raise NotFound("the warehouse is connected to no warehouse system", field="warehouseId")
            st.uow.enqueue(
                "warehouse_sync",
                job_id=f"warehouse_sync:{warehouse}:now",
                tenant_id=st.principal.tenant_id,
                warehouse_id=warehouse,
            )
            return {"queued": True}

        return await in_transaction(info, WarehouseSyncPayload, body)

    @strawberry.mutation(
        extensions=requires("inventory:write"),
        description="Hand the orders reserved in a warehouse to the system running it now, and ship those "
        "it has shipped (a job; it also runs every five minutes).",
    )
    async def warehouse_fulfil(
        self, info: Info[Any, Any], input: WarehouseFulfilInput
    ) -> WarehouseFulfilPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            warehouse = await resolve_id(session, input.warehouse_id, m.Warehouse, field="warehouseId")
            account = await session.scalar(
                select(m.WarehouseAccount.provider).where(m.WarehouseAccount.warehouse_id == warehouse)
            )
            if account is None:
                raise NotFound("the warehouse is connected to no warehouse system", field="warehouseId")
            _takes_orders(st, account)
            st.uow.enqueue(
                "warehouse_fulfil",
                job_id=f"warehouse_fulfil:{warehouse}:now",
                tenant_id=st.principal.tenant_id,
                warehouse_id=warehouse,
            )
            return {"queued": True}

        return await in_transaction(info, WarehouseFulfilPayload, body)

    @strawberry.mutation(
        extensions=requires("inventory:write"),
        description="Hand an order its warehouse system refused over once more (after fixing what it said).",
    )
    async def warehouse_handover_retry(
        self, info: Info[Any, Any], input: WarehouseHandoverRetryInput
    ) -> WarehouseHandoverRetryPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.WarehouseOrder, field="id")
            row = await warehouse_orders.hand_over_again(st.uow, pk)
            return {"handover": WarehouseHandover.from_row(row)}

        return await in_transaction(info, WarehouseHandoverRetryPayload, body)


def _takes_orders(st: RequestState, provider: str) -> None:
    from crossdock.providers import WarehouseCapability

    system = st.app.plugins.warehouse_systems.get(provider)
    if system is None or WarehouseCapability.ORDER_PUSH not in system.capabilities:
        raise UserError(
            f"{provider} does not take orders to ship ({WarehouseCapability.ORDER_PUSH})",
            field="warehouseId",
            code="NOT_SUPPORTED",
        )
