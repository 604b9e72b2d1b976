"""Marketplace payouts and the reconciliation of each order's money.

Payouts are stored as the channel reports them (an open one is read again until it closes;
its lines are replaced each time). Reconciliation compares, per order, what Crossdock
expected the marketplace to pay with what it did:

    expected = what the buyer paid - tax the marketplace collects - commission - refunds

what the buyer paid being the lines, plus their tax where prices do not include it (the
US); the commission is charged on the lines' amounts. The commission rate
is the listing's price rule's, else the connection setting
``commission_rate``, else nothing. An order is ``matched`` when the settled amount is
within the tolerance (connection setting ``reconcile_tolerance``, default 0.01 in the
order's currency), ``difference`` when not, ``missing`` when it shipped more than
:data:`SETTLEMENT_GRACE` ago and no payout names it yet.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import utcnow
from crossdock.db.models import (
    Connection,
    Listing,
    Order,
    OrderLine,
    OrderStatus,
    PriceRule,
    Refund,
    Settlement,
    SettlementLine,
)
from crossdock.money import Money
from crossdock.providers import ChannelSettlement
from crossdock.services.analytics import mark as mark_figures
from crossdock.services.events import emit
from crossdock.services.tax import prices_include_tax

__all__ = ["SETTLEMENT_GRACE", "Reconciliation", "ingest_settlements", "reconcile"]

#: Marketplaces pay out on a cycle (Amazon every 14 days): an order is "missing" after this.
SETTLEMENT_GRACE = timedelta(days=21)


async def ingest_settlements(
    session: AsyncSession, conn: Connection, settlements: Sequence[ChannelSettlement]
) -> dict[str, int]:
    stored = {
        s.external_id: s
        for s in (
            await session.scalars(
                select(Settlement).where(
                    Settlement.connection_id == conn.id,
                    Settlement.external_id.in_([x.external_id for x in settlements]),
                )
            )
        ).all()
    }
    order_ids = dict(
        (
            await session.execute(
                select(Order.external_id, Order.id).where(
                    Order.connection_id == conn.id,
                    Order.external_id.in_(
                        {ln.order_external_id for x in settlements for ln in x.lines if ln.order_external_id}
                    ),
                )
            )
        ).all()
    )
    counts = {"settlements": 0, "lines": 0}
    for incoming in settlements:
        row = stored.get(incoming.external_id)
        if row is None:
            row = Settlement(connection_id=conn.id, external_id=incoming.external_id)
            session.add(row)
        was = row.status
        row.status = incoming.status
        row.opened_at = incoming.opened_at
        row.closed_at = incoming.closed_at
        row.paid_at = incoming.paid_at
        row.total_amount = incoming.total.amount
        row.currency = incoming.total.currency
        await session.flush()
        await session.execute(delete(SettlementLine).where(SettlementLine.settlement_id == row.id))
        session.add_all(
            SettlementLine(
                settlement_id=row.id,
                order_id=order_ids.get(line.order_external_id) if line.order_external_id else None,
                order_external_id=line.order_external_id,
                kind=str(line.kind),
                amount=line.amount.amount,
                currency=line.amount.currency,
                description=line.description[:255],
            )
            for line in incoming.lines
        )
        if was != incoming.status:
            emit(
                session,
                f"settlement.{incoming.status}",
                f"Settlement:{row.id}",
                total=str(incoming.total.amount),
            )
        counts["settlements"] += 1
        counts["lines"] += len(incoming.lines)
    mark_figures(session, order_ids.values())
    return counts


@dataclass
class Reconciliation:
    order: Order
    expected: Money
    settled: Money
    status: str  # matched, difference, missing, pending
    lines: list[SettlementLine] = field(default_factory=list)

    @property
    def difference(self) -> Money:
        return self.settled - self.expected


async def reconcile(
    session: AsyncSession, *, connection_id: int | None = None, only_problems: bool = False, limit: int = 500
) -> list[Reconciliation]:
    """Orders with a payout line, or shipped long enough ago to have one, newest first."""
    now = utcnow()
    settled_orders = select(SettlementLine.order_id).where(SettlementLine.order_id.is_not(None))
    stmt = select(Order).where(
        (Order.id.in_(settled_orders))
        | (
            Order.status.in_([OrderStatus.SHIPPED, OrderStatus.DELIVERED])
            & (Order.placed_at <= now - SETTLEMENT_GRACE)
        )
    )
    if connection_id is not None:
        stmt = stmt.where(Order.connection_id == connection_id)
    orders = list((await session.scalars(stmt.order_by(Order.id.desc()).limit(limit))).all())
    if not orders:
        return []
    ids = [o.id for o in orders]
    lines_by_order: dict[int, list[SettlementLine]] = defaultdict(list)
    for line in (await session.scalars(select(SettlementLine).where(SettlementLine.order_id.in_(ids)))).all():
        lines_by_order[line.order_id or 0].append(line)
    refunds: dict[int, Decimal] = defaultdict(Decimal)
    for order_id, amount in (
        await session.execute(select(Refund.order_id, Refund.amount).where(Refund.order_id.in_(ids)))
    ).all():
        refunds[order_id] += amount
    connections = {
        c.id: c
        for c in (
            await session.scalars(
                select(Connection).where(Connection.id.in_({o.connection_id for o in orders}))
            )
        ).all()
    }
    on_top = {cid for cid, c in connections.items() if not prices_include_tax(c)}
    by_order = {o.id: o for o in orders}
    paid: dict[int, Decimal] = defaultdict(Decimal)
    marketplace_tax: dict[int, Decimal] = defaultdict(Decimal)
    sold: dict[int, list[tuple[str, Decimal]]] = defaultdict(list)
    for order_id, sku, qty, price, tax, by in (
        await session.execute(
            select(
                OrderLine.order_id,
                OrderLine.sku,
                OrderLine.quantity,
                OrderLine.unit_price_amount,
                OrderLine.tax_amount,
                OrderLine.tax_collected_by,
            ).where(OrderLine.order_id.in_(ids))
        )
    ).all():
        sold[order_id].append((sku, qty * price))
        on_top_tax = (tax or 0) if by_order[order_id].connection_id in on_top else 0
        paid[order_id] += qty * price + on_top_tax
        if by == "marketplace" and tax:
            marketplace_tax[order_id] += tax
    rates = await _commission_rates(session, connections)
    result = []
    for order in orders:
        by_sku, default_rate = rates.get(order.connection_id, ({}, Decimal(0)))
        commission = sum(
            (amount * by_sku.get(sku, default_rate) for sku, amount in sold[order.id]), Decimal(0)
        )
        expected = paid[order.id] - marketplace_tax[order.id] - commission - refunds[order.id]
        lines = lines_by_order.get(order.id, [])
        settled = sum((ln.amount for ln in lines), Decimal(0))
        tolerance = Decimal(
            str((connections[order.connection_id].settings or {}).get("reconcile_tolerance", "0.01"))
        )
        if not lines:
            status = "missing"
        elif abs(settled - expected) <= tolerance:
            status = "matched"
        else:
            status = "difference"
        if only_problems and status == "matched":
            continue
        result.append(
            Reconciliation(
                order=order,
                expected=Money(expected, order.currency).rounded(),
                settled=Money(settled, order.currency).rounded(),
                status=status,
                lines=lines,
            )
        )
    return result


async def _commission_rates(
    session: AsyncSession, connections: Mapping[int, Connection]
) -> dict[int, tuple[dict[str, Decimal], Decimal]]:
    """Per connection: commission rate by channel SKU (price rules), and the default."""
    rates: dict[int, tuple[dict[str, Decimal], Decimal]] = {
        conn.id: ({}, Decimal(str((conn.settings or {}).get("commission_rate", "0"))))
        for conn in connections.values()
    }
    rows = await session.execute(
        select(Listing.connection_id, Listing.channel_sku, PriceRule.commission_rate)
        .join(PriceRule, PriceRule.listing_id == Listing.id)
        .where(Listing.connection_id.in_(list(connections)))
    )
    for connection_id, sku, rate in rows.all():
        rates[connection_id][0][sku] = rate
    return rates
