"""Order ingestion: normalized channel orders in, one row per (tenant, connection, id).

Idempotent and order-insensitive: the same order delivered twice changes nothing, and an
update older than what is stored (by the marketplace's own update time) is ignored, so a
webhook and a sync racing each other cannot move an order backwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from crossdock.db.engine import after_commit
from crossdock.db.models import (
    Connection,
    Order,
    OrderHold,
    OrderLine,
    OrderStatus,
    OrderStatusChange,
    Variant,
)
from crossdock.db.scoping import session_tenant_slug
from crossdock.plugins import Plugins
from crossdock.providers import ChannelOrder
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["IngestResult", "ingest_orders"]


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
    skus = {line.sku for o in orders for line in o.lines}
    rows = await session.execute(select(Variant.sku, Variant.id).where(Variant.sku.in_(skus)))
    variants: dict[str, int] = {sku: vid for sku, vid in rows}
    conn_view = {
        "id": connection.id,
        "channel": connection.channel,
        "site": connection.site,
        "currency": connection.currency,
    }
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
            holds = [
                (r, m) for r, m in plugins.order_checks(tenant=tenant, order=incoming, connection=conn_view)
            ]
            unmapped = sorted({line.sku for line in incoming.lines if line.sku not in variants})
            if unmapped:
                holds.append(("sku_unmapped", f"no variant for SKU {', '.join(unmapped)}"))
            if holds and status == OrderStatus.PENDING:
                status = OrderStatus.ON_HOLD
            order = Order(
                connection_id=connection.id,
                external_id=incoming.external_id,
                status=status,
                placed_at=incoming.placed_at,
                **fields,
            )
            session.add(order)
            await session.flush()
            existing[incoming.external_id] = order
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
                OrderStatusChange(order_id=order.id, from_status=None, to_status=status, reason="ingested")
            )
            session.add_all(OrderHold(order_id=order.id, reason=r, message=m) for r, m in holds)
            result.created += 1
            events.append((order, True))
            continue
        if incoming.updated_at <= order.channel_updated_at:
            result.ignored += 1
            continue
        for key, value in fields.items():
            setattr(order, key, value)
        if order.status == OrderStatus.ON_HOLD and status == OrderStatus.PENDING:
            status = OrderStatus.ON_HOLD  # the channel has nothing new to say; the hold stays
        if status != order.status:
            session.add(
                OrderStatusChange(
                    order_id=order.id,
                    from_status=order.status,
                    to_status=status,
                    reason=f"channel: {incoming.channel_status}",
                )
            )
            order.status = status
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
