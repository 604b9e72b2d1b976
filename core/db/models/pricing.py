"""Money across borders: reference FX rates, price rules per listing, competitor prices,
promotions, the tenant's running tax tallies, and marketplace payouts."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crossdock.db.base import ID, Base, Json, TenantScoped, Timestamped, utcnow

__all__ = [
    "CompetitorPrice",
    "FxRate",
    "PriceRule",
    "Promotion",
    "PromotionKind",
    "Settlement",
    "SettlementLine",
    "TaxTally",
]

#: Exchange rates carry ten decimal places (the ECB publishes at most six significant digits).
Rate = Numeric(20, 10, asdecimal=True)
#: Rates and shares: 0.1234 = 12.34 %.
Fraction = Numeric(7, 4, asdecimal=True)


class FxRate(Base):
    """A published reference rate: ``rate`` units of ``currency`` per one ``base``.
    Reference data, shared by every tenant."""

    __tablename__ = "fx_rates"
    __table_args__ = (UniqueConstraint("day", "base", "currency"),)

    day: Mapped[date] = mapped_column(Date)
    base: Mapped[str] = mapped_column(String(3))
    currency: Mapped[str] = mapped_column(String(3))
    rate: Mapped[Decimal] = mapped_column(Rate)
    source: Mapped[str] = mapped_column(String(64))


class RepriceMode(StrEnum):
    """What a price rule does with the lowest recent competitor price."""

    NONE = "none"
    MATCH = "match"
    UNDERCUT = "undercut"


class PriceRule(TenantScoped, Timestamped, Base):
    """How a listing's price follows from cost: see :mod:`crossdock.services.pricing`."""

    __tablename__ = "price_rules"
    __table_args__ = (UniqueConstraint("listing_id"),)

    listing_id: Mapped[int] = mapped_column(ID, ForeignKey("listings.id", ondelete="CASCADE"))
    #: per unit, in the variant's cost currency
    freight_amount: Mapped[Decimal] = mapped_column(default=Decimal(0))
    duty_rate: Mapped[Decimal] = mapped_column(Fraction, default=Decimal(0))
    commission_rate: Mapped[Decimal] = mapped_column(Fraction, default=Decimal(0))
    payment_fee_rate: Mapped[Decimal] = mapped_column(Fraction, default=Decimal(0))
    #: per order, in the market's currency
    payment_fee_fixed: Mapped[Decimal] = mapped_column(default=Decimal(0))
    tax_rate: Mapped[Decimal] = mapped_column(Fraction, default=Decimal(0))
    #: prices shown to buyers include tax (EU, UK, SG, AU ...) or not (US)
    tax_included: Mapped[bool] = mapped_column(default=True)
    target_margin: Mapped[Decimal] = mapped_column(Fraction, default=Decimal(0))
    #: price points: the smallest ``k * price_step + price_ending`` at or above the price
    price_step: Mapped[Decimal] = mapped_column(default=Decimal(1))
    price_ending: Mapped[Decimal] = mapped_column(default=Decimal(0))
    floor_amount: Mapped[Decimal | None]
    ceiling_amount: Mapped[Decimal | None]
    #: none, match or undercut the lowest recorded competitor price
    reprice: Mapped[str] = mapped_column(String(16), default=RepriceMode.NONE)
    undercut_step: Mapped[Decimal] = mapped_column(default=Decimal(0))


class CompetitorPrice(TenantScoped, Base):
    __tablename__ = "competitor_prices"
    __table_args__ = (Index("ix_competitor_prices_listing", "listing_id", "seen_at"),)

    listing_id: Mapped[int] = mapped_column(ID, ForeignKey("listings.id", ondelete="CASCADE"))
    competitor: Mapped[str] = mapped_column(String(128))
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(64), default="operator")


class PromotionKind(StrEnum):
    PERCENT = "percent"  #: value % off the listing price
    FIXED = "fixed"  #: value off the listing price, in the market's currency
    SPEND_THRESHOLD = "spend_threshold"  #: value % off an order of at least min_spend
    BUNDLE = "bundle"  #: value % off when bundle_quantity units are bought together


class PromotionState(StrEnum):
    """Where a promotion is in its life, from its window and whether it was cancelled."""

    SCHEDULED = "scheduled"
    RUNNING = "running"
    ENDED = "ended"
    CANCELLED = "cancelled"


class ReconciliationStatus(StrEnum):
    """An order's expected payout against what the marketplace settled."""

    MATCHED = "matched"
    DIFFERENCE = "difference"
    MISSING = "missing"
    PENDING = "pending"


class Promotion(TenantScoped, Timestamped, Base):
    """A discount in force between ``starts_at`` and ``ends_at`` (stored in UTC; ``timezone``
    is the market's, in which the operator set the window). Price promotions change the
    price pushed to the channel while they run; spend and bundle promotions apply to a cart
    (``promotionQuote``)."""

    __tablename__ = "promotions"
    __table_args__ = (Index("ix_promotions_window", "tenant_id", "starts_at", "ends_at"),)

    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[Decimal]
    connection_id: Mapped[int | None] = mapped_column(ID, ForeignKey("connections.id", ondelete="CASCADE"))
    #: listing ids in scope; empty = every listing of the connection
    listing_ids: Mapped[list[int]] = mapped_column(Json, default=list)
    min_spend: Mapped[Decimal | None]
    bundle_quantity: Mapped[int | None]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    cancelled_at: Mapped[datetime | None]
    #: the state last applied to listing prices: scheduled, running, ended
    applied: Mapped[str] = mapped_column(String(16), default="scheduled")


class TaxTally(TenantScoped, Base):
    """Sales counted towards a tax threshold (``EU-OSS``, ``US-CA``) in a calendar year."""

    __tablename__ = "tax_tallies"
    __table_args__ = (UniqueConstraint("tenant_id", "year", "key"),)

    year: Mapped[int]
    key: Mapped[str] = mapped_column(String(32))
    sales_amount: Mapped[Decimal] = mapped_column(default=Decimal(0))
    currency: Mapped[str] = mapped_column(String(3))
    transactions: Mapped[int] = mapped_column(default=0)
    crossed_at: Mapped[datetime | None]
    details: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)


class Settlement(TenantScoped, Timestamped, Base):
    """A marketplace payout and its lines (see ``crossdock.providers.ChannelSettlement``)."""

    __tablename__ = "settlements"
    __table_args__ = (UniqueConstraint("connection_id", "external_id"),)

    connection_id: Mapped[int] = mapped_column(ID, ForeignKey("connections.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    total_amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))


class SettlementLine(TenantScoped, Base):
    __tablename__ = "settlement_lines"
    __table_args__ = (
        Index("ix_settlement_lines_settlement", "settlement_id"),
        Index("ix_settlement_lines_order", "order_id"),
    )

    settlement_id: Mapped[int] = mapped_column(ID, ForeignKey("settlements.id", ondelete="CASCADE"))
    order_id: Mapped[int | None] = mapped_column(ID, ForeignKey("orders.id", ondelete="SET NULL"))
    order_external_id: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(String(255), default="")
