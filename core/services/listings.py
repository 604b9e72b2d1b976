"""Listings (a SKU on a connection) and which warehouses serve a connection.

Both decide what a channel is offered, so every change here schedules a stock push.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db.models import Connection, ConnectionWarehouse, Listing, Product, Variant, Warehouse
from crossdock.db.scoping import session_tenant, session_tenant_slug
from crossdock.errors import UserError
from crossdock.money import Money
from crossdock.plugins import Plugins
from crossdock.services.common import get_or_404, non_empty
from crossdock.services.events import emit, enqueue_coalesced

__all__ = ["check_listing", "create_listing", "set_connection_warehouses", "update_listing"]

_UNSET: Any = object()


def _share(value: Decimal | None) -> Decimal | None:
    if value is not None and not Decimal(0) <= value <= Decimal(1):
        raise UserError("a share is between 0 and 1", field="atsShare", code="INVALID")
    return value


def _schedule_push(session: AsyncSession, connection_id: int, *, prices: bool = False) -> None:
    tenant_id = session_tenant(session.sync_session)
    for job in ("push_stock", "push_prices") if prices else ("push_stock",):
        enqueue_coalesced(session, job, f"{connection_id}", tenant_id=tenant_id, connection_id=connection_id)


async def _check_sku_free(
    session: AsyncSession, connection_id: int, sku: str, exclude: int | None = None
) -> None:
    stmt = select(Listing.id).where(Listing.connection_id == connection_id, Listing.channel_sku == sku)
    if exclude is not None:
        stmt = stmt.where(Listing.id != exclude)
    if await session.scalar(stmt) is not None:
        raise UserError(f"{sku!r} is already listed on this connection", field="channelSku", code="TAKEN")


async def check_listing(session: AsyncSession, plugins: Plugins | None, listing: Listing) -> None:
    """Ask the compliance plugins about this SKU on this connection; store what they find
    and announce a problem that is new."""
    if plugins is None:
        return
    connection = await get_or_404(session, Connection, listing.connection_id)
    variant = await get_or_404(session, Variant, listing.variant_id)
    product = await get_or_404(session, Product, variant.product_id)
    found = plugins.listing_checks(
        tenant=session_tenant_slug(session),
        listing={
            "sku": variant.sku,
            "channel_sku": listing.channel_sku,
            "title": listing.title or variant.title or product.title,
            "product_title": product.title,
            "brand": product.brand,
            "category": product.category,
            "options": dict(variant.options or {}),
        },
        connection={
            "id": connection.id,
            "channel": connection.channel,
            "site": connection.site,
            "country": connection.country,
            "currency": connection.currency,
        },
    )
    issues = [{"reason": reason, "message": message} for reason, message in found]
    before = {(i.get("reason"), i.get("message")) for i in listing.issues or ()}
    for reason, message in found:
        if (reason, message) not in before:
            emit(session, "listing.compliance_issue", f"Listing:{listing.id}", reason=reason, message=message)
    listing.issues = issues


async def create_listing(
    session: AsyncSession,
    *,
    connection_id: int,
    variant_id: int,
    channel_sku: str,
    external_id: str | None = None,
    title: str | None = None,
    ats_share: Decimal | None = None,
    price: Money | None = None,
    plugins: Plugins | None = None,
) -> Listing:
    await get_or_404(session, Connection, connection_id, field="connectionId")
    await get_or_404(session, Variant, variant_id, field="variantId")
    sku = non_empty(channel_sku, "channelSku", max_length=64)
    await _check_sku_free(session, connection_id, sku)
    listing = Listing(
        connection_id=connection_id,
        variant_id=variant_id,
        channel_sku=sku,
        external_id=external_id,
        title=title,
        ats_share=_share(ats_share),
        price_amount=price.amount if price else None,
        price_currency=price.currency if price else None,
    )
    session.add(listing)
    await session.flush()
    await check_listing(session, plugins, listing)
    _schedule_push(session, connection_id, prices=price is not None)
    return listing


async def update_listing(
    session: AsyncSession,
    listing_id: int,
    *,
    channel_sku: str | None = None,
    external_id: str | None = _UNSET,
    title: str | None = _UNSET,
    ats_share: Decimal | None = _UNSET,
    status: str | None = None,
    price: Money | None = _UNSET,
    plugins: Plugins | None = None,
) -> Listing:
    listing = await get_or_404(session, Listing, listing_id)
    if channel_sku is not None:
        sku = non_empty(channel_sku, "channelSku", max_length=64)
        await _check_sku_free(session, listing.connection_id, sku, exclude=listing.id)
        listing.channel_sku = sku
    if external_id is not _UNSET:
        listing.external_id = external_id
    if title is not _UNSET:
        listing.title = title
    if ats_share is not _UNSET:
        listing.ats_share = _share(ats_share)
    if status is not None:
        if status not in ("active", "inactive"):
            raise UserError("status is active or inactive", field="status", code="INVALID")
        listing.status = status
    if price is not _UNSET:
        if price is not None and price.amount <= 0:
            raise UserError("a price is positive", field="price", code="INVALID")
        listing.price_amount = price.amount if price else None
        listing.price_currency = price.currency if price else None
        listing.regular_price_amount = listing.price_amount
    await session.flush()
    if price is not _UNSET:
        from crossdock.services.promotions import reprice

        await reprice(session)  # a running promotion discounts the new price
    await check_listing(session, plugins, listing)
    _schedule_push(session, listing.connection_id, prices=price is not _UNSET)
    return listing


async def set_connection_warehouses(
    session: AsyncSession, connection_id: int, warehouse_ids: Sequence[int]
) -> Connection:
    """Name the warehouses whose stock this connection sells; empty restores the default
    (every active warehouse that ships to the connection's country)."""
    connection = await get_or_404(session, Connection, connection_id, field="connectionId")
    for i, warehouse_id in enumerate(warehouse_ids):
        await get_or_404(session, Warehouse, warehouse_id, field=f"warehouseIds.{i}")
    await session.execute(
        delete(ConnectionWarehouse).where(ConnectionWarehouse.connection_id == connection_id)
    )
    session.add_all(
        ConnectionWarehouse(connection_id=connection_id, warehouse_id=w) for w in dict.fromkeys(warehouse_ids)
    )
    await session.flush()
    _schedule_push(session, connection_id)
    return connection
