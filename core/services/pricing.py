"""Prices from cost: landed cost, converted to the market's currency, grossed up for the
channel's commission, the payment fee, tax and the target margin, then put on a price
point, kept between floor and ceiling, and optionally repriced against competitors.

With ``L`` the landed cost in the market's currency (purchase + freight, plus duty on
both), ``F`` the fixed payment fee, ``c`` the commission rate and ``f`` the payment fee rate
(both charged on what the buyer pays), ``t`` the tax rate when prices include tax (0 when
tax is added at checkout, as in the US) and ``m`` the target margin on net revenue::

    net  = (L + F) / (1 - m - (c + f) * (1 + t))        # revenue excluding tax
    price = net * (1 + t)

The price point is the smallest ``k * step + ending`` at or above that price (``step`` 1 and
``ending`` 0.99 give 12.99; ``step`` 100 and ``ending`` 80 give JPY 1,980). The floor is
the higher of the rule's floor and the break-even price (``m = 0``), so neither a price
point nor a competitor ever takes a listing below cost. Every amount is Decimal; amounts
shown are rounded half-even to the currency's minor unit, the price itself is rounded up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import utcnow
from crossdock.db.models import CompetitorPrice, Connection, Listing, PriceRule, Variant
from crossdock.db.scoping import session_tenant
from crossdock.errors import UserError
from crossdock.money import Money, currency_exponent
from crossdock.plugins import Plugins
from crossdock.services.common import get_or_404
from crossdock.services.fx import rates_on
from crossdock.services.uow import UnitOfWork

__all__ = [
    "COMPETITOR_WINDOW",
    "PriceBreakdown",
    "apply_price",
    "breakdown",
    "price_point",
    "record_competitor_price",
    "round_up",
    "set_price_rule",
]

#: Competitor prices older than this are not repriced against.
COMPETITOR_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class PriceBreakdown:
    listing_id: int
    market: str
    purchase: Money
    freight: Money
    duty: Money
    landed: Money
    fx_rate: Decimal
    fx_day: date
    landed_in_market: Money
    payment_fee_fixed: Money
    computed: Money
    price_point: Money
    floor: Money
    ceiling: Money | None
    competitor: Money | None
    final: Money
    # what the final price is made of
    tax: Money
    commission: Money
    payment_fee: Money
    net_revenue: Money
    profit: Money
    margin: Decimal


def round_up(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-currency_exponent(currency)), rounding=ROUND_CEILING)


def price_point(amount: Decimal, step: Decimal, ending: Decimal, currency: str) -> Decimal:
    """The smallest ``k * step + ending`` (k a whole number) at or above ``amount``."""
    if step <= 0:
        return round_up(amount, currency)
    k = max(Decimal(0), ((amount - ending) / step).to_integral_value(rounding=ROUND_CEILING))
    return round_up(k * step + ending, currency)


def _gross(landed: Decimal, fixed: Decimal, rule: PriceRule, margin: Decimal) -> Decimal:
    t = rule.tax_rate if rule.tax_included else Decimal(0)
    fees = (rule.commission_rate + rule.payment_fee_rate) * (1 + t)
    denominator = 1 - margin - fees
    if denominator <= 0:
        raise UserError(
            "margin, commission and payment fee take the whole price; lower one of them",
            field="targetMargin",
            code="IMPOSSIBLE_MARGIN",
        )
    return (landed + fixed) / denominator * (1 + t)


async def breakdown(
    session: AsyncSession, plugins: Plugins, listing_id: int, day: date | None = None
) -> PriceBreakdown:
    """The price a listing's rule gives today (or on ``day``), and what it is made of."""
    listing = await get_or_404(session, Listing, listing_id, field="listingId")
    rule = await session.scalar(select(PriceRule).where(PriceRule.listing_id == listing.id))
    if rule is None:
        raise UserError("this listing has no price rule", field="listingId", code="NO_PRICE_RULE")
    variant = await get_or_404(session, Variant, listing.variant_id)
    connection = await get_or_404(session, Connection, listing.connection_id)
    if variant.cost_amount is None or not variant.cost_currency:
        raise UserError(f"{variant.sku} has no cost to price from", field="listingId", code="NO_COST")
    market = listing.price_currency or connection.currency
    cost_currency = variant.cost_currency
    day = day or utcnow().date()

    purchase = variant.cost_amount
    freight = rule.freight_amount
    duty = (purchase + freight) * rule.duty_rate
    landed = purchase + freight + duty
    rates = await rates_on(session, plugins, day)
    rate, fx_day = rates.rate(cost_currency, market), rates.published or day
    landed_market = landed * rate
    fixed = rule.payment_fee_fixed

    computed = _gross(landed_market, fixed, rule, rule.target_margin)
    point = price_point(computed, rule.price_step, rule.price_ending, market)
    break_even = round_up(_gross(landed_market, fixed, rule, Decimal(0)), market)
    floor = max(break_even, rule.floor_amount or Decimal(0))
    ceiling = rule.ceiling_amount

    competitor = await _lowest_competitor(session, listing.id, market)
    if rule.reprice in ("match", "undercut") and competitor is not None:
        target = competitor - (rule.undercut_step if rule.reprice == "undercut" else Decimal(0))
        final = max(floor, target)
    else:
        final = max(floor, point)
    if ceiling is not None:
        final = min(final, max(ceiling, floor))

    t = rule.tax_rate if rule.tax_included else Decimal(0)
    net = final / (1 + t)
    tax = final - net if rule.tax_included else final * rule.tax_rate
    commission = final * rule.commission_rate
    payment_fee = final * rule.payment_fee_rate + fixed
    profit = net - commission - payment_fee - landed_market

    def m(amount: Decimal, currency: str = market) -> Money:
        return Money(amount, currency).rounded()

    return PriceBreakdown(
        listing_id=listing.id,
        market=market,
        purchase=m(purchase, cost_currency),
        freight=m(freight, cost_currency),
        duty=m(duty, cost_currency),
        landed=m(landed, cost_currency),
        fx_rate=rate,
        fx_day=fx_day,
        landed_in_market=m(landed_market),
        payment_fee_fixed=m(fixed),
        computed=m(computed),
        price_point=Money(point, market),
        floor=Money(floor, market),
        ceiling=Money(ceiling, market) if ceiling is not None else None,
        competitor=Money(competitor, market) if competitor is not None else None,
        final=Money(final, market).rounded(),
        tax=m(tax),
        commission=m(commission),
        payment_fee=m(payment_fee),
        net_revenue=m(net),
        profit=m(profit),
        margin=(profit / net).quantize(Decimal("0.0001")) if net else Decimal(0),
    )


async def _lowest_competitor(session: AsyncSession, listing_id: int, currency: str) -> Decimal | None:
    since = utcnow() - COMPETITOR_WINDOW
    rows = (
        await session.scalars(
            select(CompetitorPrice.amount).where(
                CompetitorPrice.listing_id == listing_id,
                CompetitorPrice.currency == currency,
                CompetitorPrice.seen_at >= since,
            )
        )
    ).all()
    return min(rows) if rows else None


_RATES = ("duty_rate", "commission_rate", "payment_fee_rate", "tax_rate", "target_margin")
_AMOUNTS = ("freight_amount", "payment_fee_fixed", "price_step", "price_ending", "undercut_step")


async def set_price_rule(session: AsyncSession, listing_id: int, **fields: object) -> PriceRule:
    """Create or change a listing's price rule; rates are fractions (0.15 = 15 %)."""
    listing = await get_or_404(session, Listing, listing_id, field="listingId")
    rule = await session.scalar(select(PriceRule).where(PriceRule.listing_id == listing.id))
    if rule is None:
        rule = PriceRule(listing_id=listing.id)
        session.add(rule)
    for name, value in fields.items():
        if name in _RATES:
            assert isinstance(value, Decimal)
            if not Decimal(0) <= value < Decimal(1):
                raise UserError(
                    "a rate is a fraction from 0 up to (not including) 1", field=_camel(name), code="INVALID"
                )
        elif name in _AMOUNTS or name in ("floor_amount", "ceiling_amount"):
            if value is not None and (not isinstance(value, Decimal) or value < 0):
                raise UserError("an amount is zero or more", field=_camel(name), code="INVALID")
        elif name == "reprice":
            if value not in ("none", "match", "undercut"):
                raise UserError("reprice is none, match or undercut", field="reprice", code="INVALID")
        elif name != "tax_included":
            raise TypeError(f"unknown price rule field {name}")
        setattr(rule, name, value)
    for name in ("freight_amount", "payment_fee_fixed", "price_step", "price_ending", "undercut_step"):
        if getattr(rule, name) is None:
            setattr(rule, name, Decimal(1) if name == "price_step" else Decimal(0))
    if rule.price_step and rule.price_ending >= rule.price_step:
        raise UserError("the price ending is less than the price step", field="priceEnding", code="INVALID")
    if (
        rule.floor_amount is not None
        and rule.ceiling_amount is not None
        and rule.floor_amount > rule.ceiling_amount
    ):
        raise UserError("the floor is above the ceiling", field="floor", code="INVALID")
    await session.flush()
    return rule


async def record_competitor_price(
    session: AsyncSession, listing_id: int, competitor: str, price: Money, source: str = "operator"
) -> CompetitorPrice:
    await get_or_404(session, Listing, listing_id, field="listingId")
    if price.amount <= 0:
        raise UserError("a price is positive", field="price", code="INVALID")
    row = CompetitorPrice(
        listing_id=listing_id,
        competitor=competitor.strip()[:128] or "unknown",
        amount=price.amount,
        currency=price.currency,
        source=source,
    )
    session.add(row)
    await session.flush()
    return row


def _camel(name: str) -> str:
    head, *rest = name.removesuffix("_amount").split("_")
    return head + "".join(part.title() for part in rest)


async def apply_price(uow: UnitOfWork, listing_id: int) -> PriceBreakdown:
    """Set the listing's regular price to what its rule gives now; a running promotion
    discounts it as usual, and the channel is told through the coalesced price push."""
    from crossdock.services.promotions import reprice

    session = uow.session
    result = await breakdown(session, uow.plugins, listing_id)
    listing = await get_or_404(session, Listing, listing_id, field="listingId")
    listing.regular_price_amount = result.final.amount
    listing.price_amount = result.final.amount
    listing.price_currency = result.market
    await reprice(uow)
    uow.enqueue_coalesced(
        "push_prices",
        f"{listing.connection_id}",
        tenant_id=session_tenant(session.sync_session),
        connection_id=listing.connection_id,
    )
    return result
