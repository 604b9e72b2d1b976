"""Promotions: discounts that start and stop on time.

Price promotions (``percent``, ``fixed``) change the price a listing is offered at while
they run, and the change is pushed to the channel like any price change: the listing keeps
its ``regular_price_amount`` and ``price_amount`` becomes the discounted one, then goes back
when the window closes. Of several running on one listing, the one giving the lowest price
applies (they do not stack). ``spend_threshold`` and ``bundle`` promotions apply to a cart:
:func:`quote_cart`.

Windows are entered in the market's time zone (``timezone``, IANA name) and stored in UTC.
Jobs deferred to each start and end apply them on time; a periodic sweep catches any that
were missed (a restart at the wrong moment).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import utcnow
from crossdock.db.models import Listing, Promotion, PromotionKind
from crossdock.db.scoping import session_tenant
from crossdock.errors import UserError
from crossdock.money import Money
from crossdock.services.common import get_or_404, non_empty
from crossdock.services.events import emit
from crossdock.services.states import lock
from crossdock.services.uow import UnitOfWork

__all__ = ["CartLine", "CartQuote", "cancel_promotion", "create_promotion", "quote_cart", "reprice"]

PRICE_KINDS = (PromotionKind.PERCENT, PromotionKind.FIXED)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError(
            f"{name!r} is not an IANA time zone", field="timezone", code="INVALID_TIMEZONE"
        ) from None


def _utc(moment: datetime, zone: ZoneInfo) -> datetime:
    """A window edge as the operator meant it: naive times are in the market's zone."""
    local = moment.replace(tzinfo=zone) if moment.tzinfo is None else moment
    return local.astimezone(ZoneInfo("UTC"))


async def create_promotion(
    uow: UnitOfWork,
    *,
    name: str,
    kind: str,
    value: Decimal,
    starts_at: datetime,
    ends_at: datetime,
    timezone: str = "UTC",
    connection_id: int | None = None,
    listing_ids: Sequence[int] = (),
    min_spend: Decimal | None = None,
    bundle_quantity: int | None = None,
) -> Promotion:
    session = uow.session
    if kind not in set(PromotionKind):
        raise UserError(f"kind is one of {', '.join(PromotionKind)}", field="kind", code="INVALID")
    percent = kind != PromotionKind.FIXED
    if value <= 0 or (percent and value >= 100):
        raise UserError(
            "a percentage is above 0 and below 100" if percent else "a discount is positive",
            field="value",
            code="INVALID",
        )
    zone = _zone(timezone)
    start, end = _utc(starts_at, zone), _utc(ends_at, zone)
    if end <= start:
        raise UserError("the promotion ends after it starts", field="endsAt", code="INVALID")
    if kind == PromotionKind.SPEND_THRESHOLD and (min_spend is None or min_spend <= 0):
        raise UserError("a spend threshold needs a minimum spend", field="minSpend", code="REQUIRED")
    if kind == PromotionKind.BUNDLE and (bundle_quantity is None or bundle_quantity < 2):
        raise UserError("a bundle is at least 2 units", field="bundleQuantity", code="INVALID")
    if connection_id is None and not listing_ids:
        raise UserError("name a connection or listings", field="connectionId", code="REQUIRED")
    for i, listing_id in enumerate(listing_ids):
        listing = await get_or_404(session, Listing, listing_id, field=f"listingIds.{i}")
        if connection_id is not None and listing.connection_id != connection_id:
            raise UserError("the listing is on another connection", field=f"listingIds.{i}", code="INVALID")
    promotion = Promotion(
        name=non_empty(name, "name", max_length=128),
        kind=kind,
        value=value,
        connection_id=connection_id,
        listing_ids=list(dict.fromkeys(listing_ids)),
        min_spend=min_spend,
        bundle_quantity=bundle_quantity,
        starts_at=start,
        ends_at=end,
        timezone=timezone,
    )
    session.add(promotion)
    await session.flush()
    _schedule(uow, promotion)
    return promotion


def _schedule(uow: UnitOfWork, promotion: Promotion) -> None:
    """One job at the start and one at the end, so prices change on time."""
    if promotion.kind not in PRICE_KINDS:
        return
    tenant_id = session_tenant(uow.session.sync_session)
    now = utcnow()
    for edge, at in (("start", promotion.starts_at), ("end", promotion.ends_at)):
        uow.enqueue(
            "apply_promotions",
            job_id=f"apply_promotions:{promotion.id}:{edge}",
            defer_by=max(0.0, (at - now).total_seconds()),
            tenant_id=tenant_id,
        )


async def cancel_promotion(uow: UnitOfWork, promotion_id: int) -> Promotion:
    session = uow.session
    promotion = await lock(session, Promotion, promotion_id)  # one cancellation reprices
    if promotion.cancelled_at is None:
        promotion.cancelled_at = utcnow()
        await reprice(uow)
    return promotion


def running(promotion: Promotion, now: datetime) -> bool:
    return promotion.cancelled_at is None and promotion.starts_at <= now < promotion.ends_at


async def _in_scope(session: AsyncSession, promotion: Promotion) -> list[Listing]:
    stmt = select(Listing)
    if promotion.listing_ids:
        stmt = stmt.where(Listing.id.in_(promotion.listing_ids))
    else:
        stmt = stmt.where(Listing.connection_id == promotion.connection_id)
    return list((await session.scalars(stmt)).all())


def discounted(regular: Decimal, currency: str, promotion: Promotion) -> Decimal:
    if promotion.kind == PromotionKind.PERCENT:
        price = regular * (1 - promotion.value / 100)
    else:
        price = regular - promotion.value
    return max(Money(price, currency).rounded().amount, Money(Decimal(0), currency).rounded().amount)


async def reprice(uow: UnitOfWork, now: datetime | None = None) -> int:
    """Bring every listing a price promotion touches to the price it should have now; push
    what changed. Returns how many listings changed."""
    session = uow.session
    now = now or utcnow()
    promotions = list(
        (
            await session.scalars(
                select(Promotion).where(
                    Promotion.kind.in_(PRICE_KINDS),
                    or_(Promotion.applied != "ended", Promotion.ends_at > now),
                )
            )
        ).all()
    )
    best: dict[int, tuple[Decimal, Listing]] = {}
    touched: dict[int, Listing] = {}
    for promotion in promotions:
        for listing in await _in_scope(session, promotion):
            touched[listing.id] = listing
            regular = listing.regular_price_amount or listing.price_amount
            if regular is None or not running(promotion, now):
                continue
            price = (
                discounted(regular, listing.price_currency or "", promotion)
                if listing.price_currency
                else None
            )
            if price is not None and (listing.id not in best or price < best[listing.id][0]):
                best[listing.id] = (price, listing)
        state = (
            "running" if running(promotion, now) else ("scheduled" if now < promotion.starts_at else "ended")
        )
        if promotion.cancelled_at is not None:
            state = "ended"
        if state != promotion.applied:
            emit(
                session,
                f"promotion.{'started' if state == 'running' else state}",
                f"Promotion:{promotion.id}",
            )
            promotion.applied = state
    changed = 0
    tenant_id = session_tenant(session.sync_session)
    for listing_id, listing in touched.items():
        regular = listing.regular_price_amount or listing.price_amount
        if regular is None:
            continue
        wanted = best[listing_id][0] if listing_id in best else regular
        if listing.regular_price_amount is None:
            listing.regular_price_amount = regular
        if listing.price_amount != wanted:
            listing.price_amount = wanted
            changed += 1
            uow.enqueue_coalesced(
                "push_prices",
                f"{listing.connection_id}",
                tenant_id=tenant_id,
                connection_id=listing.connection_id,
            )
    await session.flush()
    return changed


@dataclass(frozen=True)
class CartLine:
    listing_id: int
    quantity: int


@dataclass(frozen=True)
class CartQuote:
    subtotal: Money
    discounts: list[tuple[str, Money]]
    total: Money


async def quote_cart(
    session: AsyncSession, lines: Sequence[CartLine], now: datetime | None = None
) -> CartQuote:
    """A cart at today's prices (price promotions included) with the bundle and spend
    promotions that apply to it: every running bundle, then the best spend threshold."""
    if not lines:
        raise UserError("a cart has at least one line", field="lines", code="REQUIRED")
    now = now or utcnow()
    listings = {}
    for i, line in enumerate(lines):
        if line.quantity <= 0:
            raise UserError("a quantity is positive", field=f"lines.{i}.quantity", code="INVALID")
        listing = await get_or_404(session, Listing, line.listing_id, field=f"lines.{i}.listingId")
        if listing.price_amount is None or not listing.price_currency:
            raise UserError("the listing has no price", field=f"lines.{i}.listingId", code="NO_PRICE")
        listings[line.listing_id] = listing
    currencies = {listing.price_currency for listing in listings.values()}
    if len(currencies) != 1:
        raise UserError("a cart is in one currency", field="lines", code="INVALID")
    currency = str(currencies.pop())
    subtotal = Decimal(sum((listings[ln.listing_id].price_amount * ln.quantity for ln in lines), Decimal(0)))  # type: ignore[operator]
    connections = {listing.connection_id for listing in listings.values()}
    candidates = [
        p
        for p in (
            await session.scalars(
                select(Promotion).where(
                    Promotion.kind.in_([PromotionKind.BUNDLE, PromotionKind.SPEND_THRESHOLD]),
                    Promotion.cancelled_at.is_(None),
                    Promotion.starts_at <= now,
                    Promotion.ends_at > now,
                )
            )
        ).all()
        if (p.connection_id in connections) or set(p.listing_ids or ()) & set(listings)
    ]
    discounts: list[tuple[str, Money]] = []
    for promotion in (p for p in candidates if p.kind == PromotionKind.BUNDLE):
        for line in lines:
            in_scope = line.listing_id in (promotion.listing_ids or ()) or (
                not promotion.listing_ids
                and listings[line.listing_id].connection_id == promotion.connection_id
            )
            bundles = line.quantity // int(promotion.bundle_quantity or 1)
            if in_scope and bundles:
                units = bundles * int(promotion.bundle_quantity or 1)
                amount = listings[line.listing_id].price_amount * units * promotion.value / 100  # type: ignore[operator]
                discounts.append((promotion.name, Money(amount, currency).rounded()))
    after_bundles = Decimal(subtotal - sum((d.amount for _, d in discounts), Decimal(0)))
    spend = [
        p
        for p in candidates
        if p.kind == PromotionKind.SPEND_THRESHOLD and after_bundles >= (p.min_spend or 0)
    ]
    if spend:
        top = max(spend, key=lambda p: p.value)
        discounts.append((top.name, Money(after_bundles * top.value / 100, currency).rounded()))
    total = Decimal(subtotal - sum((d.amount for _, d in discounts), Decimal(0)))
    return CartQuote(Money(subtotal, currency).rounded(), discounts, Money(total, currency).rounded())
