"""Order ingestion: normalized channel orders in, one row per (tenant, connection, id).

Idempotent and order-insensitive: the same order delivered twice changes nothing, and an
update older than what is stored (by the marketplace's own update time) is ignored, so a
webhook and a sync racing each other cannot move an order backwards.

A new order is checked (built-in checks, then plugins' ``crossdock_order_checks``); with no
hold it is allocated at once. Later updates carry the channel's own transitions: a buyer's
cancellation releases the stock, a delivery closes the order, and a marketplace-fulfilled
order shipped by the channel leaves the channel's warehouse. Our own fulfilment steps are
never overwritten by the channel's coarser view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db.engine import after_commit
from crossdock.db.models import (
    Connection,
    Listing,
    Order,
    OrderHold,
    OrderLine,
    OrderStatus,
    OrderStatusChange,
    Tenant,
    Variant,
)
from crossdock.db.scoping import session_tenant, session_tenant_slug
from crossdock.errors import UserError
from crossdock.money import Money
from crossdock.plugins import Plugins
from crossdock.providers import ChannelOrder
from crossdock.services.allocation import allocate_order, set_status
from crossdock.services.checks import builtin_checks
from crossdock.services.events import emit
from crossdock.services.fulfilment import cancel_order, ship_channel_fulfilled
from crossdock.services.fx import DayRates, rates_on
from crossdock.services.tax import quote_order

__all__ = ["IngestResult", "ingest_orders"]

#: Statuses the channel may move an order to, from the statuses it may move it from.
CHANNEL_TRANSITIONS: dict[str, tuple[str, ...]] = {
    OrderStatus.DELIVERED: (OrderStatus.SHIPPED,),
    OrderStatus.RETURNED: (OrderStatus.SHIPPED, OrderStatus.DELIVERED),
    OrderStatus.REFUNDED: (
        OrderStatus.SHIPPED,
        OrderStatus.DELIVERED,
        OrderStatus.RETURNED,
        OrderStatus.CANCELLED,
    ),
}


class IngestResult:
    __slots__ = ("created", "ignored", "updated")

    def __init__(self) -> None:
        self.created = 0
        self.updated = 0
        self.ignored = 0


def _status(order: ChannelOrder) -> str:
    try:
        return OrderStatus(order.status).value
    except ValueError:
        raise ValueError(f"provider gave unknown status {order.status!r} for {order.external_id}") from None


def _address(order: ChannelOrder) -> dict[str, Any]:
    return {k: v for k, v in asdict(order.shipping_address).items() if v} if order.shipping_address else {}


async def _sku_map(session: AsyncSession, connection_id: int, skus: set[str]) -> dict[str, int]:
    """Channel SKU -> variant: the connection's listings first, the tenant's SKUs second."""
    found: dict[str, int] = {
        sku: vid
        for sku, vid in await session.execute(select(Variant.sku, Variant.id).where(Variant.sku.in_(skus)))
    }
    listed = await session.execute(
        select(Listing.channel_sku, Listing.variant_id).where(
            Listing.connection_id == connection_id, Listing.channel_sku.in_(skus)
        )
    )
    found.update({sku: vid for sku, vid in listed})
    return found


async def ingest_orders(
    session: AsyncSession, plugins: Plugins, connection: Connection, orders: Sequence[ChannelOrder]
) -> IngestResult:
    result = IngestResult()
    if not orders:
        return result
    tenant = session_tenant_slug(session)
    # One ingestion per connection at a time (a webhook and a sync racing for the same
    # order): the row lock is held to commit, so the lookup below sees the other's rows.
    # SQLite needs no lock: its writers are serialized already.
    await session.execute(select(Connection.id).where(Connection.id == connection.id).with_for_update())
    ids = [o.external_id for o in orders]
    existing = {
        o.external_id: o
        for o in (
            await session.scalars(
                select(Order).where(Order.connection_id == connection.id, Order.external_id.in_(ids))
            )
        ).all()
    }
    variants = await _sku_map(session, connection.id, {line.sku for o in orders for line in o.lines})
    conn_view = {
        "id": connection.id,
        "channel": connection.channel,
        "site": connection.site,
        "country": connection.country,
        "currency": connection.currency,
    }
    settings = await session.scalar(
        select(Tenant.settings).where(Tenant.id == session_tenant(session.sync_session))
    )
    money = _OrderMoney(session, plugins, connection, dict(settings or {}), tenant)
    events: list[tuple[Order, bool]] = []
    for incoming in orders:
        status = _status(incoming)
        order = existing.get(incoming.external_id)
        address = _address(incoming)
        fields = dict(
            channel_status=incoming.channel_status,
            payment_status=incoming.payment_status,
            currency=incoming.total.currency,
            total_amount=incoming.total.amount,
            buyer_name=incoming.buyer_name,
            buyer_email=incoming.buyer_email,
            shipping_address=address,
            destination_country=address.get("country"),
            fulfilled_by_channel=incoming.fulfilled_by_channel,
            ship_by=incoming.ship_by,
            channel_updated_at=incoming.updated_at,
            raw=dict(incoming.raw),
        )
        if order is None:
            order = await _create(session, plugins, connection, incoming, fields, variants, conn_view, tenant)
            await money.record(order)
            existing[incoming.external_id] = order
            result.created += 1
            events.append((order, True))
            continue
        if incoming.updated_at < order.channel_updated_at or (
            # marketplaces stamp updates to the second: the same stamp with other content
            # is a second change within that second, the same content a re-delivery
            incoming.updated_at == order.channel_updated_at and dict(incoming.raw) == order.raw
        ):
            result.ignored += 1
            continue
        for key, value in fields.items():
            setattr(order, key, value)
        await _apply_channel_status(session, plugins, order, status, incoming.channel_status)
        result.updated += 1
        events.append((order, False))
    await session.flush()

    def _emit() -> None:
        for order, created in events:
            plugins.order_ingested(
                tenant=tenant,
                order_id=order.id,
                external_id=order.external_id,
                status=order.status,
                created=created,
            )

    after_commit(session, _emit)
    return result


class _OrderMoney:
    """A new order's total in the tenant's reporting currency (rate stored with it) and its
    tax; a day's rates are loaded once for a whole page of orders."""

    def __init__(
        self,
        session: AsyncSession,
        plugins: Plugins,
        connection: Connection,
        settings: dict[str, Any],
        tenant: str,
    ) -> None:
        self.session, self.plugins, self.connection, self.tenant = session, plugins, connection, tenant
        self.settings = settings
        self.base = str(settings.get("reporting_currency") or "USD")
        self.days: dict[date, DayRates] = {}

    async def record(self, order: Order) -> None:
        day = order.placed_at.date()
        if day not in self.days:
            self.days[day] = await rates_on(self.session, self.plugins, day)
        rates = self.days[day]
        try:
            rate = rates.rate(order.currency, self.base)
        except UserError:
            rate = None  # no published rate for this currency: reports show the gap
        if rate is not None:
            order.base_currency = self.base
            order.fx_rate = rate
            order.fx_day = rates.published or day
            order.base_total_amount = Money(order.total_amount * rate, self.base).rounded().amount
        await quote_order(
            self.session, self.plugins, order, self.connection, self.settings, self.tenant, rates
        )


async def _create(
    session: AsyncSession,
    plugins: Plugins,
    connection: Connection,
    incoming: ChannelOrder,
    fields: dict[str, Any],
    variants: dict[str, int],
    conn_view: dict[str, Any],
    tenant: str,
) -> Order:
    status = _status(incoming)
    order = Order(
        connection_id=connection.id,
        external_id=incoming.external_id,
        status=OrderStatus.PENDING,
        placed_at=incoming.placed_at,
        **fields,
    )
    session.add(order)
    await session.flush()
    session.add_all(
        OrderLine(
            order_id=order.id,
            external_id=line.external_id,
            variant_id=variants.get(line.sku),
            sku=line.sku,
            title=line.title,
            quantity=line.quantity,
            unit_price_amount=line.unit_price.amount,
        )
        for line in incoming.lines
    )
    session.add(
        OrderStatusChange(
            order_id=order.id, from_status=None, to_status=OrderStatus.PENDING, reason="ingested"
        )
    )
    emit(
        session,
        "order.created",
        f"Order:{order.id}",
        external_id=order.external_id,
        channel=connection.channel,
    )
    if status == OrderStatus.CANCELLED:
        await set_status(session, order, OrderStatus.CANCELLED, f"channel: {incoming.channel_status}")
        return order
    holds = await builtin_checks(session, connection, incoming)
    holds += plugins.order_checks(tenant=tenant, order=incoming, connection=conn_view)
    unmapped = sorted({line.sku for line in incoming.lines if line.sku not in variants})
    if unmapped:
        holds.append(("sku_unmapped", f"no variant or listing for SKU {', '.join(unmapped)}"))
    await session.flush()
    if holds:
        session.add_all(OrderHold(order_id=order.id, reason=r, message=m) for r, m in holds)
        for reason, message in holds:
            emit(session, "order.held", f"Order:{order.id}", reason=reason, message=message)
        await set_status(session, order, OrderStatus.ON_HOLD, ", ".join(sorted({r for r, _ in holds})))
        return order
    await set_status(session, order, OrderStatus.READY, "checks passed")
    await allocate_order(session, order, plugins)
    if status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED) and order.fulfilled_by_channel:
        await _apply_channel_status(session, plugins, order, OrderStatus.SHIPPED, incoming.channel_status)
    return order


async def _apply_channel_status(
    session: AsyncSession, plugins: Plugins, order: Order, status: str, channel_status: str | None
) -> None:
    if status == order.status:
        return
    if status == OrderStatus.CANCELLED:
        if order.status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED):
            emit(session, "order.cancel_after_shipping", f"Order:{order.id}", channel_status=channel_status)
            return
        await cancel_order(session, order.id, f"{channel_status}", plugins=plugins, by_channel=True)
        return
    if status == OrderStatus.SHIPPED and order.fulfilled_by_channel:
        if order.status == OrderStatus.ALLOCATED:
            await ship_channel_fulfilled(session, order, plugins)
        elif order.status == OrderStatus.READY:  # no mirrored stock to move
            await set_status(session, order, OrderStatus.SHIPPED, f"channel: {channel_status}")
        return
    if order.status in CHANNEL_TRANSITIONS.get(status, ()):
        await set_status(session, order, status, f"channel: {channel_status}")
