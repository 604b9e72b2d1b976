"""Bulk exports over GraphQL: start one (``bulkExportRun``), follow it (``bulkExport``,
``currentBulkExport``, ``bulkExports``), cancel it; the file is downloaded from its ``url``
(:mod:`crossdock.api.downloads`). :mod:`crossdock.services.bulk` says how it is written.

Scopes: ``bulk:write`` starts and cancels, ``bulk:read`` reads the exports and downloads
their files; starting and downloading an export also need the read scope of its rows
(``orders:read``, ``inventory:read`` or ``channels:read``): a file never shows what the key
could not page through itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from crossdock.api.context import RequestState, state
from crossdock.api.schema.bulk_types import BulkExport
from crossdock.api.schema.errors import BulkUserError, in_transaction, requires
from crossdock.api.schema.relay import Connection, paginate, resolve_id
from crossdock.db import models as m
from crossdock.errors import UserError
from crossdock.security import Scope
from crossdock.services import bulk

__all__ = ["Mutation", "Query"]

READ = Scope.BULK_READ
WRITE = Scope.BULK_WRITE


@strawberry.input(description="Which orders an ORDERS export takes (as the `orders` list filters them).")
class BulkOrdersFilter:
    status: list[m.OrderStatus] | None = None
    connection_id: strawberry.ID | None = None
    created_after: datetime | None = strawberry.field(default=None, description="Created at or after.")
    created_before: datetime | None = strawberry.field(default=None, description="Created before.")
    updated_after: datetime | None = strawberry.field(default=None, description="Last changed at or after.")
    updated_before: datetime | None = strawberry.field(default=None, description="Last changed before.")


@strawberry.input(description="Which stock levels a STOCK export takes (as `stockLevels` filters them).")
class BulkStockFilter:
    warehouse_id: strawberry.ID | None = None
    variant_id: strawberry.ID | None = None
    low_stock: bool | None = strawberry.field(
        default=None, description="Only levels at or below their own low-stock threshold."
    )


@strawberry.input(description="Which listings a LISTINGS export takes (as `listings` filters them).")
class BulkListingsFilter:
    connection_id: strawberry.ID | None = None
    variant_id: strawberry.ID | None = None
    status: m.ListingStatus | None = None


@strawberry.input
class BulkExportRunInput:
    kind: m.BulkExportKind
    orders: BulkOrdersFilter | None = strawberry.field(default=None, description="With kind ORDERS only.")
    stock: BulkStockFilter | None = strawberry.field(default=None, description="With kind STOCK only.")
    listings: BulkListingsFilter | None = strawberry.field(
        default=None, description="With kind LISTINGS only."
    )


@strawberry.input
class BulkExportCancelInput:
    id: strawberry.ID


@strawberry.input
class BulkExportFilter:
    statuses: list[m.BulkExportStatus] | None = None
    kinds: list[m.BulkExportKind] | None = None


@strawberry.type
class BulkExportRunPayload:
    bulk_export: BulkExport | None = None
    user_errors: list[BulkUserError] = strawberry.field(default_factory=list)


@strawberry.type
class BulkExportCancelPayload:
    bulk_export: BulkExport | None = None
    user_errors: list[BulkUserError] = strawberry.field(default_factory=list)


async def _filter(session: AsyncSession, given: BulkExportRunInput) -> bulk.ExportFilter:
    """The export's filter, its ids resolved in the caller's tenant (NOT_FOUND otherwise)."""

    async def pk(value: strawberry.ID | None, model: type[Any], field: str) -> int | None:
        return await resolve_id(session, value, model, field=field) if value else None

    orders, stock, listings = given.orders, given.stock, given.listings
    found: dict[str, Any] = {}
    if orders is not None:
        found["connection_id"] = await pk(orders.connection_id, m.Connection, "orders.connectionId")
        found["statuses"] = tuple(str(s) for s in orders.status or ())
        found.update(
            created_after=orders.created_after,
            created_before=orders.created_before,
            updated_after=orders.updated_after,
            updated_before=orders.updated_before,
        )
    if stock is not None:
        found["warehouse_id"] = await pk(stock.warehouse_id, m.Warehouse, "stock.warehouseId")
        found["variant_id"] = await pk(stock.variant_id, m.Variant, "stock.variantId")
        found["low_stock"] = stock.low_stock
    if listings is not None:
        found["connection_id"] = await pk(listings.connection_id, m.Connection, "listings.connectionId")
        found["variant_id"] = await pk(listings.variant_id, m.Variant, "listings.variantId")
        found["listing_status"] = str(listings.status) if listings.status else None
    own = {
        m.BulkExportKind.ORDERS: "orders",
        m.BulkExportKind.STOCK: "stock",
        m.BulkExportKind.LISTINGS: "listings",
    }[given.kind]
    for name, value in (("orders", orders), ("stock", stock), ("listings", listings)):
        if value is not None and name != own:
            raise UserError(
                f"a {given.kind.name} export takes the `{own}` filter, not `{name}`",
                field=name,
                code="FILTER_MISMATCH",
            )
    return bulk.ExportFilter(**found)


@strawberry.type
class Query:
    @strawberry.field(extensions=requires(READ), description="One bulk export of the tenant.")
    async def bulk_export(self, info: Info[Any, Any], id: strawberry.ID) -> BulkExport:
        st = state(info)
        async with st.read() as session:
            pk = await resolve_id(session, id, m.BulkExport)
            row = await session.scalar(select(m.BulkExport).where(m.BulkExport.id == pk))
        assert row is not None
        return BulkExport.from_row(row)

    @strawberry.field(
        extensions=requires(READ),
        description="The tenant's bulk export created or running, else the last one made (null if none).",
    )
    async def current_bulk_export(self, info: Info[Any, Any]) -> BulkExport | None:
        async with state(info).read() as session:
            row = await bulk.current_export(session)
        return BulkExport.from_row(row) if row is not None else None

    @strawberry.field(extensions=requires(READ), description="The tenant's bulk exports, newest first.")
    async def bulk_exports(
        self,
        info: Info[Any, Any],
        first: int | None = None,
        after: str | None = None,
        filter: BulkExportFilter | None = None,
        reverse: bool = True,
    ) -> Connection[BulkExport]:
        stmt = select(m.BulkExport)
        if filter and filter.statuses:
            stmt = stmt.where(m.BulkExport.status.in_([str(s) for s in filter.statuses]))
        if filter and filter.kinds:
            stmt = stmt.where(m.BulkExport.kind.in_([str(k) for k in filter.kinds]))
        return await paginate(
            state(info), stmt, m.BulkExport, BulkExport.from_row, first=first, after=after, reverse=reverse
        )


@strawberry.type
class Mutation:
    @strawberry.mutation(
        extensions=requires(WRITE),
        description="Start an export of a list's rows to a JSONL file, written in the background "
        "(follow `status` and the counts; download from `url`). One at a time per tenant: another "
        "while one is created or running is refused with BULK_IN_PROGRESS. Needs the read scope "
        "of the rows too (orders:read, inventory:read or channels:read).",
    )
    async def bulk_export_run(self, info: Info[Any, Any], input: BulkExportRunInput) -> BulkExportRunPayload:
        state(info).require(bulk.KIND_SCOPES[input.kind])

        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            flt = await _filter(session, input)
            row = await bulk.start_export(st.uow, input.kind, flt)
            return {"bulk_export": BulkExport.from_row(row)}

        return await in_transaction(info, BulkExportRunPayload, body)

    @strawberry.mutation(
        extensions=requires(WRITE),
        description="Cancel a bulk export created or running: its worker stops at its next page and "
        "nothing can be downloaded. A finished export is INVALID_STATE.",
    )
    async def bulk_export_cancel(
        self, info: Info[Any, Any], input: BulkExportCancelInput
    ) -> BulkExportCancelPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.BulkExport)
            retention = timedelta(days=st.app.settings.bulk_retention_days)
            row = await bulk.cancel_export(session, pk, retention=retention)
            return {"bulk_export": BulkExport.from_row(row)}

        return await in_transaction(info, BulkExportCancelPayload, body)
