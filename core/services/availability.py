"""Available-to-sell (ATS): what each listing may offer on its channel.

``ATS = floor(share x sum over serving warehouses of max(0, on_hand - reserved - safety))``,
and 0 for an inactive listing or one with a ``prohibited_item`` compliance issue.

A connection is served by the warehouses explicitly assigned to it or, when none are, by
the active own/3PL/overseas warehouses that ship to its country. Marketplace-held stock is
never offered by us: the channel sells it itself. ``share`` (a listing's ``ats_share``)
splits scarce stock between channels; unset means all of it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db.models import Connection, ConnectionWarehouse, Listing, StockLevel, Warehouse, WarehouseKind

__all__ = ["available_to_sell", "prohibited", "serving_warehouses"]


async def serving_warehouses(session: AsyncSession, connection: Connection) -> list[int]:
    explicit = list(
        (
            await session.scalars(
                select(ConnectionWarehouse.warehouse_id).where(
                    ConnectionWarehouse.connection_id == connection.id
                )
            )
        ).all()
    )
    if explicit:
        return explicit
    country = connection.country or (connection.site if len(connection.site) == 2 else None)
    warehouses = (
        await session.scalars(
            select(Warehouse).where(Warehouse.active.is_(True), Warehouse.kind != WarehouseKind.MARKETPLACE)
        )
    ).all()
    return [
        w.id
        for w in warehouses
        if country is None
        or country in (w.serves_countries or [])
        or (not w.serves_countries and w.country == country)
    ]


async def available_to_sell(session: AsyncSession, connection: Connection) -> dict[int, int]:
    """ATS of every listing of ``connection``, by listing id (one query for the stock)."""
    listings = (await session.scalars(select(Listing).where(Listing.connection_id == connection.id))).all()
    if not listings:
        return {}
    warehouses = await serving_warehouses(session, connection)
    sellable: dict[int, int] = defaultdict(int)
    if warehouses:
        spare = StockLevel.on_hand - StockLevel.reserved - StockLevel.safety_stock
        # the two-argument scalar max() is SQLite's spelling of greatest()
        pg = session.get_bind().dialect.name == "postgresql"
        free: Any = func.greatest(0, spare) if pg else func.max(0, spare)
        rows = await session.execute(
            select(StockLevel.variant_id, func.sum(free))
            .where(
                StockLevel.variant_id.in_({listing.variant_id for listing in listings}),
                StockLevel.warehouse_id.in_(warehouses),
            )
            .group_by(StockLevel.variant_id)
        )
        sellable.update({variant_id: int(total or 0) for variant_id, total in rows})
    result = {}
    for listing in listings:
        units = sellable.get(listing.variant_id, 0)
        share = listing.ats_share if listing.ats_share is not None else Decimal(1)
        offered = listing.status == "active" and not prohibited(listing)
        result[listing.id] = max(0, math.floor(units * share)) if offered else 0
    return result


def prohibited(listing: Listing) -> bool:
    """A compliance plugin found the SKU may not be sold where this listing sells it."""
    return any(issue.get("reason") == "prohibited_item" for issue in listing.issues or ())
