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

import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db.base import Base
from crossdock.db.models import (
    Allocation,
    AllocationStatus,
    Connection,
    Event,
    Listing,
    Order,
    OrderHold,
    OrderLine,
    OrderStatus,
    OrderStatusChange,
    Tenant,
    UsageMetric,
    Variant,
)
from crossdock.db.scoping import session_tenant, session_tenant_slug
from crossdock.errors import TenantScopeError, UserError
from crossdock.money import Money
from crossdock.plugins import Plugins
from crossdock.providers import Address, ChannelOrder, HoldReason
from crossdock.services import usage
from crossdock.services.allocation import (
    OUT_OF_STOCK,
    NewOrder,
    Reserved,
    allocate_order,
    remember_split_rule,
    reserve_new_orders,
    set_status,
)
from crossdock.services.analytics import mark as mark_figures
from crossdock.services.checks import check_new_orders
from crossdock.services.events import emit
from crossdock.services.fulfilment import cancel_order, ship_channel_fulfilled
from crossdock.services.fx import DayRates, rates_on
from crossdock.services.tax import engine_for, quote_order
from crossdock.services.uow import UnitOfWork

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


_ADDRESS_FIELDS = tuple(f.name for f in fields(Address))


def _address(order: ChannelOrder) -> dict[str, Any]:
    address = order.shipping_address
    if address is None:
        return {}
    return {name: value for name in _ADDRESS_FIELDS if (value := getattr(address, name))}


def _fields(incoming: ChannelOrder) -> dict[str, Any]:
    """The order columns the channel owns, refreshed on every newer delivery."""
    address = _address(incoming)
    link: dict[str, Any] = {}
    if incoming.payment_provider and incoming.payment_reference:
        # the payment that paid for the order (own channels): what refundRecord refunds
        # through; a later delivery without it keeps the one stored
        if len(incoming.payment_provider) > 32 or len(incoming.payment_reference) > 128:
            raise ValueError(f"provider gave an overlong payment link for {incoming.external_id}")
        link = dict(payment_provider=incoming.payment_provider, payment_reference=incoming.payment_reference)
    return dict(
        **link,
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
    uow: UnitOfWork, connection: Connection, orders: Sequence[ChannelOrder]
) -> IngestResult:
    result = IngestResult()
    if not orders:
        return result
    session, plugins = uow.session, uow.plugins
    tenant = session_tenant_slug(session)
    # One ingestion per connection at a time (a webhook and a sync racing for the same
    # order): the row lock is held to commit, so the lookup below sees the other's rows.
    # SQLite needs no lock: its writers are serialized already.
    await session.execute(select(Connection.id).where(Connection.id == connection.id).with_for_update())
    ids = [o.external_id for o in orders]
    # the orders this page updates are locked (in id order, after the connection) against
    # an operator shipping or cancelling one of them at the same moment
    existing = {
        o.external_id: o
        for o in (
            await session.scalars(
                select(Order)
                .where(Order.connection_id == connection.id, Order.external_id.in_(ids))
                .order_by(Order.id)
                .with_for_update()
                .execution_options(populate_existing=True)
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
    remember_split_rule(session, money.settings)
    ingested: list[tuple[int, str, bool]] = []  # (id, external id, created)
    created_status: dict[int, str] = {}
    # Orders seen for the first time are created together (their first appearance in the
    # page); every other delivery, a repeat within the page included, is an update.
    fresh: dict[str, ChannelOrder] = {}
    first_seen: set[int] = set()  # positions in the page
    for position, incoming in enumerate(orders):
        _status(incoming)  # an unknown status refuses the page before anything is written
        if incoming.external_id not in existing and incoming.external_id not in fresh:
            fresh[incoming.external_id] = incoming
            first_seen.add(position)
    if fresh:
        created, created_status = await _create_all(
            uow, connection, list(fresh.values()), variants, conn_view, money
        )
        ingested.extend((created[external_id], external_id, True) for external_id in fresh)
        result.created = len(fresh)
        deliveries = Counter(o.external_id for o in orders)
        repeated = [created[e] for e in fresh if deliveries[e] > 1]
        if repeated:  # delivered again later in the page: an update of the row just stored
            existing.update(
                (o.external_id, o)
                for o in (await session.scalars(select(Order).where(Order.id.in_(repeated)))).all()
            )
    for position, incoming in enumerate(orders):
        if position in first_seen:
            continue
        status = _status(incoming)
        order = existing[incoming.external_id]
        if incoming.updated_at < order.channel_updated_at or (
            # marketplaces stamp updates to the second: the same stamp with other content
            # is a second change within that second, the same content a re-delivery
            incoming.updated_at == order.channel_updated_at and dict(incoming.raw) == order.raw
        ):
            result.ignored += 1
            continue
        priced = (order.currency, order.total_amount) != (incoming.total.currency, incoming.total.amount)
        for key, value in _fields(incoming).items():
            setattr(order, key, value)
        if priced:  # e.g. Amazon prices a Pending order only once its payment is authorised
            await _reprice(session, order, incoming, money)
        await _apply_channel_status(uow, order, status, incoming.channel_status)
        result.updated += 1
        ingested.append((order.id, order.external_id, False))
    await session.flush()
    mark_figures(session, [order_id for order_id, _, _ in ingested])
    # usage: the orders stored for the first time, in the transaction that stores them
    await usage.count(session, UsageMetric.ORDERS_INGESTED, result.created)
    statuses = {  # as they stand now: updated (and repeated) orders are loaded rows
        order_id: existing[external_id].status if external_id in existing else created_status[order_id]
        for order_id, external_id, _ in ingested
    }

    def _emit() -> None:
        for order_id, external_id, created in ingested:
            plugins.order_ingested(
                tenant=tenant,
                order_id=order_id,
                external_id=external_id,
                status=statuses[order_id],
                created=created,
            )

    uow.after_commit(_emit)
    return result


async def _reprice(session: AsyncSession, order: Order, incoming: ChannelOrder, money: _OrderMoney) -> None:
    """A later delivery that changes an order's total also brings its line prices: the
    stored lines take them (matched by the channel's line id) and the total in the
    reporting currency is converted again at the rate of the order's day."""
    prices = {line.external_id: line.unit_price.amount for line in incoming.lines}
    for line in (await session.scalars(select(OrderLine).where(OrderLine.order_id == order.id))).all():
        if line.external_id in prices:
            line.unit_price_amount = prices[line.external_id]
    for key, value in (await money.base_total(order.placed_at, order.currency, order.total_amount)).items():
        setattr(order, key, value)


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

    async def rates(self, day: date) -> DayRates:
        if day not in self.days:
            self.days[day] = await rates_on(self.session, self.plugins, day)
        return self.days[day]

    async def base_total(self, placed_at: datetime, currency: str, total: Decimal) -> dict[str, Any]:
        """The columns holding a new order's total in the reporting currency (none when no
        rate is published for its currency: reports show the gap)."""
        rates = await self.rates(placed_at.date())
        try:
            rate = rates.rate(currency, self.base)
        except UserError:
            return {}
        return {
            "base_currency": self.base,
            "fx_rate": rate,
            "fx_day": rates.published or placed_at.date(),
            "base_total_amount": Money(total * rate, self.base).rounded().amount,
        }

    def taxed(self, order: ChannelOrder) -> bool:
        address = order.shipping_address
        return engine_for(self.plugins, address.country if address else None) is not None

    async def tax(self, order: Order) -> None:
        rates = await self.rates(order.placed_at.date())
        await quote_order(
            self.session, self.plugins, order, self.connection, self.settings, self.tenant, rates
        )


async def _create_all(
    uow: UnitOfWork,
    connection: Connection,
    incoming: list[ChannelOrder],
    variants: dict[str, int],
    conn_view: dict[str, Any],
    money: _OrderMoney,
) -> tuple[dict[str, int], dict[int, str]]:
    """Store a page of new orders, checked and held or allocated; their ids by external id
    and their statuses by id.

    Each order ends exactly as if the page had come in one order at a time: the checks
    judge it against the orders before it, allocation plans it against the stock the
    orders before it left. But everything is decided before anything is written, so each
    order is inserted once in its final state, and the statements do not grow with the
    page: one multi-row insert per table, one update per stock level.
    """
    session, plugins = uow.session, uow.plugins
    tenant = session_tenant_slug(session)
    tenant_id = session_tenant(session.sync_session)
    if tenant_id is None:  # the rows below are written without the ORM's stamping
        raise TenantScopeError("orders are ingested in a tenant's session")
    new = [_New(o, variants) for o in incoming]
    live = [n for n in new if n.status != OrderStatus.CANCELLED]
    for n, holds in zip(
        live, await check_new_orders(session, connection, [n.order for n in live]), strict=True
    ):
        holds += plugins.order_checks(tenant=tenant, order=n.order, connection=conn_view)
        unmapped = sorted({line.sku for line in n.order.lines if line.sku not in variants})
        if unmapped:
            holds.append((HoldReason.SKU_UNMAPPED, f"no variant or listing for SKU {', '.join(unmapped)}"))
        n.holds = holds
    for n in new:
        if n.status == OrderStatus.CANCELLED:
            n.move(OrderStatus.CANCELLED, f"channel: {n.order.channel_status}")
        elif n.holds:
            n.move(OrderStatus.ON_HOLD, ", ".join(sorted({r for r, _ in n.holds})))
        else:
            n.move(OrderStatus.READY, "checks passed")
    ready = [n for n in new if n.path[-1][0] == OrderStatus.READY]
    verdicts = await reserve_new_orders(
        uow,
        [
            NewOrder(
                n.order.external_id,
                connection.id,
                n.order.fulfilled_by_channel,
                n.fields["destination_country"],
                [
                    (i, v, line.quantity)
                    for i, (line, v) in enumerate(zip(n.order.lines, n.variants, strict=True))
                    if v
                ],
            )
            for n in ready
        ],
    )
    for n, verdict in zip(ready, verdicts, strict=True):
        if isinstance(verdict, Reserved):
            n.picks = verdict.picks
            n.move(OrderStatus.ALLOCATED, "stock reserved")
        elif verdict == "short":
            n.holds = [(OUT_OF_STOCK, "not enough stock in the warehouses serving this order")]
            n.move(OrderStatus.ON_HOLD, OUT_OF_STOCK)
        elif verdict == "later":
            n.later = True
    rows = []
    for n in new:
        o = n.order
        rows.append(
            {
                **n.fields,
                **await money.base_total(o.placed_at, o.total.currency, o.total.amount),
                "tenant_id": tenant_id,
                "connection_id": connection.id,
                "external_id": o.external_id,
                "placed_at": o.placed_at,
                "status": n.path[-1][0],
            }
        )
    ids = await _insert_orders(session, connection.id, rows)
    statuses = {ids[n.order.external_id]: str(n.path[-1][0]) for n in new}
    line_ids = await _insert_lines(session, tenant_id, [(ids[n.order.external_id], n) for n in new])
    history: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    hold_rows: list[dict[str, Any]] = []
    allocations: list[dict[str, Any]] = []
    for n in new:
        order_id, external_id = ids[n.order.external_id], n.order.external_id
        subject = f"Order:{order_id}"
        events.append(
            _event(tenant_id, "order.created", subject, external_id=external_id, channel=connection.channel)
        )
        for (before, _), (status, reason) in itertools.pairwise(n.path):
            history.append(
                {
                    "tenant_id": tenant_id,
                    "order_id": order_id,
                    "from_status": before,
                    "to_status": status,
                    "reason": reason,
                }
            )
            if status == OrderStatus.ON_HOLD:
                for hold_reason, message in n.holds:
                    hold_rows.append(
                        {
                            "tenant_id": tenant_id,
                            "order_id": order_id,
                            "reason": hold_reason,
                            "message": message,
                        }
                    )
                    events.append(
                        _event(tenant_id, "order.held", subject, reason=hold_reason, message=message)
                    )
            if before is not None:  # the first step is announced as order.created
                events.append(
                    _event(tenant_id, f"order.{status}", subject, external_id=external_id, previous=before)
                )
        lines = line_ids[order_id]
        allocations.extend(
            {
                "tenant_id": tenant_id,
                "order_id": order_id,
                "order_line_id": lines[pick.line_id],
                "variant_id": pick.variant_id,
                "warehouse_id": pick.warehouse_id,
                "quantity": pick.quantity,
                "status": AllocationStatus.RESERVED.value,
            }
            for pick in n.picks
        )
    for model, batch in (
        (OrderStatusChange, history),
        (OrderHold, hold_rows),
        (Allocation, allocations),
        (Event, events),
    ):
        if batch:
            await session.execute(insert(_table(model)), batch)
    # What a page rarely has is done order by order, on the stored rows: orders the
    # allocator must see stored, marketplace-fulfilled orders already shipped, tax.
    rare = {
        ids[n.order.external_id]: n
        for n in new
        if n.later
        or money.taxed(n.order)
        or (n.status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED) and n.order.fulfilled_by_channel)
    }
    if rare:
        for order in (await session.scalars(select(Order).where(Order.id.in_(rare)))).all():
            n = rare[order.id]
            if n.later:
                await allocate_order(uow, order)
            if n.status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED) and order.fulfilled_by_channel:
                await _apply_channel_status(uow, order, OrderStatus.SHIPPED, n.order.channel_status)
            if money.taxed(n.order):
                await money.tax(order)
            statuses[order.id] = order.status
    return ids, statuses


class _New:
    """A new order while its fate is decided: status path, holds, reservations."""

    __slots__ = ("fields", "holds", "later", "order", "path", "picks", "status", "variants")

    def __init__(self, order: ChannelOrder, variants: dict[str, int]) -> None:
        self.order = order
        self.status = _status(order)
        self.fields = _fields(order)
        self.variants = [variants.get(line.sku) for line in order.lines]
        self.path: list[tuple[str | None, str | None]] = [(None, None), (OrderStatus.PENDING, "ingested")]
        self.holds: list[tuple[str, str]] = []
        self.picks: list[Any] = []
        self.later = False

    def move(self, status: str, reason: str) -> None:
        self.path.append((status, reason))


def _table(model: type[Base]) -> Table:
    """A model's table, for plain multi-row inserts that skip the ORM's per-row work."""
    return cast(Table, model.__table__)


def _event(tenant_id: int, type: str, subject: str, **payload: Any) -> dict[str, Any]:
    return {"tenant_id": tenant_id, "type": type, "subject": subject, "payload": payload}


async def _insert_orders(
    session: AsyncSession, connection_id: int, rows: list[dict[str, Any]]
) -> dict[str, int]:
    """Insert order rows in one statement; their ids by external id (read back by the
    unique key, which works alike on every database)."""
    await session.execute(insert(_table(Order)), rows)
    found = await session.execute(
        select(Order.external_id, Order.id).where(
            Order.connection_id == connection_id, Order.external_id.in_([r["external_id"] for r in rows])
        )
    )
    return {external_id: order_id for external_id, order_id in found}


async def _insert_lines(
    session: AsyncSession, tenant_id: int, orders: list[tuple[int, _New]]
) -> dict[int, list[int]]:
    """Insert the lines of new orders; per order, its line ids in the channel's line order."""
    rows = [
        {
            "tenant_id": tenant_id,
            "order_id": order_id,
            "external_id": line.external_id,
            "variant_id": variant_id,
            "sku": line.sku,
            "title": line.title,
            "quantity": line.quantity,
            "unit_price_amount": line.unit_price.amount,
        }
        for order_id, n in orders
        for line, variant_id in zip(n.order.lines, n.variants, strict=True)
    ]
    if rows:
        await session.execute(insert(_table(OrderLine)), rows)
    stored = {
        (order_id, external_id): line_id
        for line_id, order_id, external_id in await session.execute(
            select(OrderLine.id, OrderLine.order_id, OrderLine.external_id).where(
                OrderLine.order_id.in_([order_id for order_id, _ in orders])
            )
        )
    }
    return {
        order_id: [stored[(order_id, line.external_id)] for line in n.order.lines] for order_id, n in orders
    }


async def _apply_channel_status(
    uow: UnitOfWork, order: Order, status: str, channel_status: str | None
) -> None:
    session = uow.session
    if status == order.status:
        return
    if status == OrderStatus.CANCELLED:
        if order.status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED):
            emit(session, "order.cancel_after_shipping", f"Order:{order.id}", channel_status=channel_status)
            return
        await cancel_order(uow, order.id, f"{channel_status}", by_channel=True)
        return
    if status == OrderStatus.SHIPPED and order.fulfilled_by_channel:
        if order.status == OrderStatus.ALLOCATED:
            await ship_channel_fulfilled(uow, order)
        elif order.status == OrderStatus.READY:  # no mirrored stock to move
            await set_status(session, order, OrderStatus.SHIPPED, f"channel: {channel_status}")
        return
    if order.status in CHANNEL_TRANSITIONS.get(status, ()):
        await set_status(session, order, status, f"channel: {channel_status}")
