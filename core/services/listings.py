"""Listings (a SKU on a connection) and which warehouses serve a connection.

Both decide what a channel is offered, so every change here schedules a stock push.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db.models import Connection, ConnectionWarehouse, Listing, Product, Variant, Warehouse
from crossdock.db.scoping import session_tenant, session_tenant_slug
from crossdock.errors import UserError
from crossdock.money import Money
from crossdock.providers import PriceUpdate, PushResult
from crossdock.services.common import get_or_404, non_empty
from crossdock.services.events import emit
from crossdock.services.uow import UnitOfWork

__all__ = [
    "MAX_LISTING_ERROR",
    "NO_ANSWER",
    "check_listing",
    "create_listing",
    "prices_to_push",
    "record_push",
    "set_connection_warehouses",
    "update_listing",
]

#: A listing's stored error is cut to this many characters (channels can be verbose).
MAX_LISTING_ERROR = 2000
#: What a listing's error says when the plugin gave no result for its SKU.
NO_ANSWER = "the channel gave no answer for this SKU"

_UNSET: Any = object()


def _share(value: Decimal | None) -> Decimal | None:
    if value is not None and not Decimal(0) <= value <= Decimal(1):
        raise UserError("a share is between 0 and 1", field="atsShare", code="INVALID")
    return value


def _schedule_push(uow: UnitOfWork, connection_id: int, *, prices: bool = False) -> None:
    tenant_id = session_tenant(uow.session.sync_session)
    for job in ("push_stock", "push_prices") if prices else ("push_stock",):
        uow.enqueue_coalesced(job, f"{connection_id}", tenant_id=tenant_id, connection_id=connection_id)


async def _check_sku_free(
    session: AsyncSession, connection_id: int, sku: str, exclude: int | None = None
) -> None:
    stmt = select(Listing.id).where(Listing.connection_id == connection_id, Listing.channel_sku == sku)
    if exclude is not None:
        stmt = stmt.where(Listing.id != exclude)
    if await session.scalar(stmt) is not None:
        raise UserError(f"{sku!r} is already listed on this connection", field="channelSku", code="TAKEN")


async def check_listing(uow: UnitOfWork, listing: Listing) -> None:
    """Ask the compliance plugins about this SKU on this connection; store what they find
    and announce a problem that is new."""
    session = uow.session
    connection = await get_or_404(session, Connection, listing.connection_id)
    variant = await get_or_404(session, Variant, listing.variant_id)
    product = await get_or_404(session, Product, variant.product_id)
    found = uow.plugins.listing_checks(
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
    uow: UnitOfWork,
    *,
    connection_id: int,
    variant_id: int,
    channel_sku: str,
    external_id: str | None = None,
    title: str | None = None,
    ats_share: Decimal | None = None,
    price: Money | None = None,
) -> Listing:
    session = uow.session
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
    await check_listing(uow, listing)
    _schedule_push(uow, connection_id, prices=price is not None)
    return listing


async def update_listing(
    uow: UnitOfWork,
    listing_id: int,
    *,
    channel_sku: str | None = None,
    external_id: str | None = _UNSET,
    title: str | None = _UNSET,
    ats_share: Decimal | None = _UNSET,
    status: str | None = None,
    price: Money | None = _UNSET,
) -> Listing:
    session = uow.session
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

        await reprice(uow)  # a running promotion discounts the new price
    await check_listing(uow, listing)
    _schedule_push(uow, listing.connection_id, prices=price is not _UNSET)
    return listing


async def set_connection_warehouses(
    uow: UnitOfWork, connection_id: int, warehouse_ids: Sequence[int]
) -> Connection:
    """Name the warehouses whose stock this connection sells; empty restores the default
    (every active warehouse that ships to the connection's country)."""
    session = uow.session
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
    _schedule_push(uow, connection_id)
    return connection


async def to_publish(session: AsyncSession, connection_id: int) -> set[int]:
    """The variants whose listing on ``connection_id`` is still to be published: content is
    held for it and no version of it was ever published, and the channel has no id for it.
    Their stock and price are not pushed (the channel does not know them yet: that is no
    failure of the shop); the publish job sends them with the listing."""
    from crossdock.db.models import ListingContent

    rows = await session.execute(
        select(ListingContent.variant_id, ListingContent.published_version).where(
            ListingContent.connection_id == connection_id
        )
    )
    seen: dict[int, bool] = {}
    for variant_id, published in rows.all():
        seen[variant_id] = seen.get(variant_id, False) or published is not None
    return {variant_id for variant_id, published in seen.items() if not published}


async def prices_to_push(session: AsyncSession, connection: Connection) -> list[tuple[Listing, PriceUpdate]]:
    """The listings of ``connection`` whose price differs from what the channel was last
    told, each with the update to send (not those still to publish: :func:`to_publish`)."""
    waiting = await to_publish(session, connection.id)
    listings = [
        listing
        for listing in (
            await session.scalars(select(Listing).where(Listing.connection_id == connection.id))
        ).all()
        if not (listing.external_id is None and listing.variant_id in waiting)
    ]
    return [
        (
            listing,
            PriceUpdate(
                channel_sku=listing.channel_sku,
                price=Money(listing.price_amount, listing.price_currency or connection.currency),
                external_id=listing.external_id,
            ),
        )
        for listing in listings
        if listing.price_amount is not None and listing.price_amount != listing.last_pushed_price
    ]


async def record_push(
    session: AsyncSession,
    operation: str,
    pushed: Sequence[tuple[Listing, dict[str, Any]]],
    results: Sequence[PushResult],
    now: datetime,
) -> dict[str, int]:
    """Record a push listing by listing: an accepted one gets ``values`` (what the channel
    now has) and loses an error of the same ``operation``; a refused one keeps the
    channel's message as its ``last_error`` and is pushed again next time. A refusal that
    is new (or changed) is announced once, as ``listing.push_failed``."""
    answers = {r.channel_sku: r for r in results}
    accepted = 0
    for listing, values in pushed:
        result = answers.get(listing.channel_sku)
        if result is not None and result.accepted:
            accepted += 1
            if listing.last_error is not None and listing.last_error_operation == operation:
                values = {**values, "last_error": None, "last_error_at": None, "last_error_operation": None}
            await session.execute(update(Listing).where(Listing.id == listing.id).values(**values))
            continue
        message = ((result.message if result is not None else None) or NO_ANSWER)[:MAX_LISTING_ERROR]
        await session.execute(
            update(Listing)
            .where(Listing.id == listing.id)
            .values(last_error=message, last_error_at=now, last_error_operation=operation)
        )
        if (listing.last_error, listing.last_error_operation) != (message, operation):
            emit(
                session,
                "listing.push_failed",
                f"Listing:{listing.id}",
                operation=operation,
                channel_sku=listing.channel_sku,
                error=message,
            )
    return {"pushed": accepted, "rejected": len(pushed) - accepted}
