"""Tax on orders: each new order's lines are quoted by the tax engine for its destination,
the result stored on the lines, and the tenant's threshold tallies moved on.

The engine decides rate, scheme and who collects (the seller, or the marketplace as deemed
supplier / facilitator); the core supplies the context (tenant settings, ship-from
warehouse, channel, consignment value, this year's tallies) and keeps the tallies: a sale
counts towards ``TaxQuote.counts_towards`` in the threshold's own currency (converted at the
reference rate of the order's day), and crossing a threshold raises ``tax.threshold_crossed``
once per year and key.

Tenant settings used: ``tax.seller_country`` (where the seller is established),
``tax.registrations`` (threshold keys / schemes registered for anyway: ``EU-OSS``, ``IOSS``,
``US-CA`` ...).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import utcnow
from crossdock.db.models import Allocation, Connection, Order, OrderLine, TaxTally, Variant, Warehouse
from crossdock.errors import UserError
from crossdock.money import Money
from crossdock.plugins import Plugins
from crossdock.providers import TaxContext, TaxEngine, TaxLine, TaxQuote, Threshold
from crossdock.providers import TaxTally as Tally
from crossdock.services.events import emit
from crossdock.services.fx import DayRates, rates_on

__all__ = ["TAX_ON_TOP", "engine_for", "prices_include_tax", "quote_order"]

log = logging.getLogger(__name__)


#: Countries whose marketplaces show prices before tax (it is added at checkout).
TAX_ON_TOP = frozenset({"US", "CA"})


def prices_include_tax(connection: Connection | None) -> bool:
    """Whether the connection's prices contain the tax: the connection setting
    ``prices_include_tax``, else yes everywhere but the US and Canada."""
    if connection is None:
        return True
    setting = (connection.settings or {}).get("prices_include_tax")
    if setting is not None:
        return bool(setting)
    return (connection.country or connection.site[:2]).upper() not in TAX_ON_TOP


def engine_for(plugins: Plugins, country: str | None) -> TaxEngine | None:
    if not country:
        return None
    return next((e for e in plugins.tax_engines.values() if e.applies_to(country)), None)


async def quote_order(
    session: AsyncSession,
    plugins: Plugins,
    order: Order,
    connection: Connection,
    settings: Mapping[str, Any],
    tenant: str,
    rates: DayRates | None = None,
) -> list[TaxQuote]:
    """Quote, store and tally the tax of a new order (nothing when no engine applies).
    ``rates`` are the reference rates of the order's day, when the caller has them."""
    engine = engine_for(plugins, order.destination_country)
    if engine is None:
        return []
    lines = list((await session.scalars(select(OrderLine).where(OrderLine.order_id == order.id))).all())
    classes = dict(
        (
            await session.execute(
                select(Variant.id, Variant.tax_class).where(
                    Variant.id.in_([ln.variant_id for ln in lines if ln.variant_id])
                )
            )
        ).all()
    )
    tax = dict(settings.get("tax") or {})
    thresholds = {t.key: t for t in engine.thresholds()}
    year = order.placed_at.year
    tallies = {
        t.key: t
        for t in (
            await session.scalars(
                select(TaxTally).where(TaxTally.year == year, TaxTally.key.in_(list(thresholds)))
            )
        ).all()
    }
    goods = sum((ln.unit_price_amount * ln.quantity for ln in lines), Decimal(0))
    included = prices_include_tax(connection)
    ship_from = await _ship_from(session, order)
    rates = rates or await rates_on(session, plugins, order.placed_at.date())
    context = TaxContext(
        tenant=tenant,
        seller_country=str(tax.get("seller_country") or ship_from or ""),
        destination_country=str(order.destination_country),
        destination_region=(order.shipping_address or {}).get("region"),
        ship_from_country=ship_from,
        channel=connection.channel,
        consignment_value=Money(goods, order.currency),
        year_to_date={
            key: Tally(Money(t.sales_amount, t.currency), t.transactions) for key, t in tallies.items()
        },
        registrations=frozenset(str(r) for r in tax.get("registrations") or ()),
        day=order.placed_at.date(),
        fx=rates.to,
    )
    try:
        quotes = list(
            engine.quote(
                context,
                [
                    TaxLine(
                        sku=ln.sku,
                        amount=Money(ln.unit_price_amount * ln.quantity, order.currency),
                        quantity=ln.quantity,
                        tax_class=classes.get(ln.variant_id or 0, "standard"),
                        tax_included=included,
                    )
                    for ln in lines
                ],
            )
        )
        if len(quotes) != len(lines):
            raise ValueError(f"tax engine {engine.name} quoted {len(quotes)} of {len(lines)} lines")
    except Exception as exc:  # an engine's problem never stops an order coming in
        log.warning("tax engine %s could not quote order %s: %s", engine.name, order.id, exc)
        emit(session, "order.tax_unquoted", f"Order:{order.id}", engine=engine.name, error=str(exc)[:500])
        return []
    for line, quote in zip(lines, quotes, strict=True):
        line.tax_rate = quote.rate
        line.tax_amount = quote.amount.amount
        line.tax_scheme = str(quote.scheme)
        line.tax_collected_by = quote.collected_by
        line.tax_jurisdiction = quote.jurisdiction
    order.tax_amount = sum((q.amount.amount for q in quotes), Decimal(0))
    _tally(session, rates, included, order, lines, quotes, thresholds, tallies)
    return quotes


async def _ship_from(session: AsyncSession, order: Order) -> str | None:
    """Where the goods leave from: the warehouse the order was allocated to."""
    country = await session.scalar(
        select(Warehouse.country)
        .join(Allocation, Allocation.warehouse_id == Warehouse.id)
        .where(Allocation.order_id == order.id)
        .limit(1)
    )
    return str(country) if country else None


def _tally(
    session: AsyncSession,
    rates: DayRates,
    included: bool,
    order: Order,
    lines: Sequence[OrderLine],
    quotes: Sequence[TaxQuote],
    thresholds: Mapping[str, Threshold],
    tallies: dict[str, TaxTally],
) -> None:
    amounts: dict[str, Decimal] = {}
    for line, quote in zip(lines, quotes, strict=True):
        if quote.counts_towards:  # thresholds count sales without the tax
            net = line.unit_price_amount * line.quantity - (quote.amount.amount if included else 0)
            amounts[quote.counts_towards] = amounts.get(quote.counts_towards, Decimal(0)) + net
    for key, amount in amounts.items():
        threshold = thresholds.get(key)
        currency = threshold.sales.currency if threshold and threshold.sales else order.currency
        try:
            conversion = rates.convert(Money(amount, order.currency), currency)
        except UserError:
            emit(session, "tax.tally_skipped", f"Order:{order.id}", key=key, reason="no exchange rate")
            continue
        tally = tallies.get(key)
        if tally is None:
            tally = tallies[key] = TaxTally(
                year=order.placed_at.year, key=key, sales_amount=Decimal(0), currency=currency, transactions=0
            )
            session.add(tally)
        before = _crossed(threshold, tally.sales_amount, tally.transactions)
        tally.sales_amount += conversion.amount.amount
        tally.transactions += 1
        if (
            threshold is not None
            and not before
            and _crossed(threshold, tally.sales_amount, tally.transactions)
        ):
            tally.crossed_at = utcnow()
            emit(
                session,
                "tax.threshold_crossed",
                f"TaxTally:{key}:{tally.year}",
                key=key,
                year=tally.year,
                sales=str(tally.sales_amount),
                currency=tally.currency,
                transactions=tally.transactions,
                order_id=order.id,
            )


def _crossed(threshold: Threshold | None, sales: Decimal, transactions: int) -> bool:
    if threshold is None:
        return False
    by_sales = threshold.sales is not None and sales >= threshold.sales.amount
    by_count = threshold.transactions is not None and transactions >= threshold.transactions
    if threshold.any_of:
        return by_sales or by_count
    return (threshold.sales is None or by_sales) and (threshold.transactions is None or by_count)
