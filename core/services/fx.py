"""Foreign exchange: reference rates from the ``crossdock_fx_rates`` hook, stored per day,
and conversions in Decimal.

Rates are kept as published (units per one base currency, EUR for the ECB) and crossed
through the base: ``GBP -> JPY = rate(JPY) / rate(GBP)``, to ten decimal places. A day
without publication (weekend, holiday) uses the latest rates before it.

**Rounding rule.** A converted amount is rounded once, at the end, to the target
currency's minor unit (ISO 4217 exponent: 2 for EUR, 0 for JPY and KRW, 3 for KWD and BHD)
with round-half-even, the rule :meth:`crossdock.money.Money.rounded` applies everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db.models import FxRate
from crossdock.errors import UserError
from crossdock.money import Money
from crossdock.plugins import Plugins

__all__ = ["RATE_PLACES", "Conversion", "convert", "converter", "cross_rate", "ensure_rates"]

RATE_PLACES = Decimal("1E-10")


@dataclass(frozen=True)
class Conversion:
    """A converted amount with the rate and the publication day it used."""

    amount: Money
    rate: Decimal
    day: date
    source: str


async def ensure_rates(session: AsyncSession, plugins: Plugins, day: date) -> date | None:
    """Make sure the rates in force on ``day`` are stored; return their publication day.

    Asks the plugins only for a day not seen before; what they answer is stored (its own
    publication day may be earlier), so each day is asked for at most once per process.
    """
    stored = await session.scalar(
        select(FxRate.day).where(FxRate.day <= day).order_by(FxRate.day.desc()).limit(1)
    )
    if stored == day:
        return stored
    published = plugins.fx_rates(day)
    if published is None or (stored is not None and published.day <= stored):
        return stored
    rows = [
        FxRate(day=published.day, base=published.base, currency=c, rate=r, source=published.source)
        for c, r in {**published.rates, published.base: Decimal(1)}.items()
        if r > 0
    ]
    try:
        async with session.begin_nested():  # another transaction may be storing the same day
            session.add_all(rows)
    except IntegrityError:
        pass  # it did: theirs are the same published figures
    return published.day


async def cross_rate(
    session: AsyncSession, plugins: Plugins, source: str, target: str, day: date
) -> tuple[Decimal, date, str]:
    """Units of ``target`` per one ``source`` on ``day``: ``(rate, publication day, source)``."""
    if source == target:
        return Decimal(1), day, "identity"
    published = await ensure_rates(session, plugins, day)
    if published is None:
        raise UserError(f"no exchange rates are available for {day}", code="FX_RATE_UNAVAILABLE")
    rows = {
        r.currency: r
        for r in (
            await session.scalars(
                select(FxRate).where(FxRate.day == published, FxRate.currency.in_([source, target]))
            )
        ).all()
    }
    missing = [c for c in (source, target) if c not in rows]
    if missing:
        raise UserError(
            f"the {rows[next(iter(rows))].source if rows else 'reference'} rates of {published} have no "
            f"{' or '.join(missing)}",
            code="FX_RATE_UNAVAILABLE",
        )
    rate = (rows[target].rate / rows[source].rate).quantize(RATE_PLACES, rounding=ROUND_HALF_EVEN)
    return rate, published, rows[target].source


async def convert(
    session: AsyncSession, plugins: Plugins, money: Money, target: str, day: date
) -> Conversion:
    """``money`` in ``target`` at the reference rate of ``day``, rounded once (module doc)."""
    rate, published, source = await cross_rate(session, plugins, money.currency, target, day)
    return Conversion(Money(money.amount * rate, target).rounded(), rate, published, source)


async def converter(session: AsyncSession, plugins: Plugins, day: date) -> Callable[[Money, str], Money]:
    """A synchronous ``(money, currency) -> money`` at the rates of ``day``, loaded once: for
    code that converts inside plain functions (tax engines comparing with thresholds)."""
    published = await ensure_rates(session, plugins, day)
    rates: dict[str, Decimal] = {}
    if published is not None:
        rows = await session.execute(select(FxRate.currency, FxRate.rate).where(FxRate.day == published))
        rates = {currency: rate for currency, rate in rows.all()}

    def to(money: Money, target: str) -> Money:
        if money.currency == target:
            return money
        if money.currency not in rates or target not in rates:
            raise UserError(
                f"no reference rate from {money.currency} to {target} for {day}", code="FX_RATE_UNAVAILABLE"
            )
        rate = (rates[target] / rates[money.currency]).quantize(RATE_PLACES, rounding=ROUND_HALF_EVEN)
        return Money(money.amount * rate, target).rounded()

    return to
