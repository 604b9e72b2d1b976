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

import time
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db.models import FxRate
from crossdock.errors import UserError
from crossdock.money import Money
from crossdock.plugins import Plugins

__all__ = ["RATE_PLACES", "Conversion", "DayRates", "convert", "ensure_rates", "rates_on"]

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


@dataclass(frozen=True)
class DayRates:
    """The reference rates in force on ``day``, loaded once: every conversion of that day
    (a page of orders, an order's tax thresholds) reads them without another query."""

    day: date
    published: date | None
    source: str
    rates: Mapping[str, Decimal]

    def rate(self, source: str, target: str) -> Decimal:
        """Units of ``target`` per one ``source``, crossed through the base currency."""
        if source == target:
            return Decimal(1)
        missing = [c for c in (source, target) if c not in self.rates]
        if self.published is None or missing:
            raise UserError(
                f"no reference rate from {source} to {target} for {self.day}", code="FX_RATE_UNAVAILABLE"
            )
        return (self.rates[target] / self.rates[source]).quantize(RATE_PLACES, rounding=ROUND_HALF_EVEN)

    def convert(self, money: Money, target: str) -> Conversion:
        """``money`` in ``target``, rounded once (module doc)."""
        rate = self.rate(money.currency, target)
        day = self.published or self.day
        source = self.source if money.currency != target else "identity"
        return Conversion(Money(money.amount * rate, target).rounded(), rate, day, source)

    def to(self, money: Money, target: str) -> Money:
        """The plain ``(money, currency) -> money`` converter tax engines get."""
        return self.convert(money, target).amount


#: How long the rates in force on a day without its own publication (yet) are reused: a
#: publication arriving meanwhile is seen within this time.
PROVISIONAL_SECONDS = 60.0
#: Days remembered per database.
_REMEMBERED = 1024
_days: weakref.WeakKeyDictionary[Engine, OrderedDict[date, tuple[float, DayRates]]] = (
    weakref.WeakKeyDictionary()
)


async def rates_on(session: AsyncSession, plugins: Plugins, day: date) -> DayRates:
    """The rates in force on ``day``, remembered per database: a day's own publication
    never changes, so it is read once per process; the rates a day borrows from an earlier
    publication are reused for :data:`PROVISIONAL_SECONDS`."""
    engine = session.get_bind().engine
    remembered = _days.setdefault(engine, OrderedDict())
    hit = remembered.get(day)
    if hit is not None and (hit[1].published == day or time.monotonic() - hit[0] < PROVISIONAL_SECONDS):
        remembered.move_to_end(day)
        return hit[1]
    published = await ensure_rates(session, plugins, day)
    if published is None:
        return DayRates(day, None, "", {})
    rows = (
        await session.execute(
            select(FxRate.currency, FxRate.rate, FxRate.source).where(FxRate.day == published)
        )
    ).all()
    rates = DayRates(day, published, rows[0][2] if rows else "", {c: r for c, r, _ in rows})
    remembered[day] = (time.monotonic(), rates)
    if len(remembered) > _REMEMBERED:
        remembered.popitem(last=False)
    return rates


async def convert(
    session: AsyncSession, plugins: Plugins, money: Money, target: str, day: date
) -> Conversion:
    """``money`` in ``target`` at the reference rate of ``day``, rounded once (module doc)."""
    return (await rates_on(session, plugins, day)).convert(money, target)
