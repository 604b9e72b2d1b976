"""Analytics: advertising and traffic as the channels report them, the cost layers stock was
received at, and the figures kept per order line, per order and per day (the rollups).

See :mod:`crossdock.services.analytics` for how the figures are made and kept current.
Amounts in the ``analytics_*`` tables are in the tenant's reporting currency (``currency``);
days are the tenant's calendar days (its ``timezone`` setting).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crossdock.db.base import ID, Base, Json, TenantScoped, utcnow

__all__ = [
    "AdCampaignRow",
    "AdMetricRow",
    "AnalyticsDaily",
    "AnalyticsLine",
    "AnalyticsMark",
    "AnalyticsOrder",
    "AnalyticsSkuDaily",
    "CostLayer",
    "CostMethod",
    "Report",
    "ReportKind",
    "StockDaily",
    "TrafficRow",
]


class CostMethod(StrEnum):
    """How the cost of a unit sold is found from the layers stock was received at."""

    WEIGHTED_AVERAGE = "weighted_average"
    FIFO = "fifo"


class AdCampaignRow(TenantScoped, Base):
    """A channel's advertising campaign, as it was last reported."""

    __tablename__ = "ad_campaigns"
    __table_args__ = (UniqueConstraint("connection_id", "external_id"),)

    connection_id: Mapped[int] = mapped_column(ID, ForeignKey("connections.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(255))
    ad_type: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    daily_budget: Mapped[Decimal | None]
    total_budget: Mapped[Decimal | None]
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AdMetricRow(TenantScoped, Base):
    """One row of a channel's daily advertising report (``crossdock.providers.AdMetric``);
    a re-import replaces it. Absent dimensions are stored as ``""`` so the key is unique."""

    __tablename__ = "ad_metrics"
    __table_args__ = (
        UniqueConstraint(
            "connection_id", "level", "day", "campaign_id", "ad_group_id", "sku", "target", "search_term"
        ),
        Index("ix_ad_metrics_tenant_day", "tenant_id", "level", "day"),
    )

    connection_id: Mapped[int] = mapped_column(ID, ForeignKey("connections.id", ondelete="CASCADE"))
    level: Mapped[str] = mapped_column(String(16))
    day: Mapped[date] = mapped_column(Date)
    campaign_id: Mapped[str] = mapped_column(String(128))
    ad_group_id: Mapped[str] = mapped_column(String(128), default="")
    sku: Mapped[str] = mapped_column(String(64), default="")
    target: Mapped[str] = mapped_column(String(255), default="")
    search_term: Mapped[str] = mapped_column(String(255), default="")
    target_kind: Mapped[str | None] = mapped_column(String(16))
    match_type: Mapped[str | None] = mapped_column(String(32))
    impressions: Mapped[int] = mapped_column(default=0)
    clicks: Mapped[int] = mapped_column(default=0)
    spend: Mapped[Decimal] = mapped_column(default=Decimal(0))
    orders: Mapped[int] = mapped_column(default=0)
    units: Mapped[int] = mapped_column(default=0)
    sales: Mapped[Decimal] = mapped_column(default=Decimal(0))
    currency: Mapped[str] = mapped_column(String(3))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TrafficRow(TenantScoped, Base):
    """Sessions and page views of one day, per SKU (``sku`` ``""``: the shop's total)."""

    __tablename__ = "traffic_metrics"
    __table_args__ = (
        UniqueConstraint("connection_id", "day", "sku"),
        Index("ix_traffic_metrics_tenant_day", "tenant_id", "day"),
    )

    connection_id: Mapped[int] = mapped_column(ID, ForeignKey("connections.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    sku: Mapped[str] = mapped_column(String(64), default="")
    sessions: Mapped[int] = mapped_column(default=0)
    page_views: Mapped[int] = mapped_column(default=0)
    units_ordered: Mapped[int | None]
    orders: Mapped[int | None]
    sales: Mapped[Decimal | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CostLayer(TenantScoped, Base):
    """Units received at one landed cost: purchase price + freight + duty, per unit."""

    __tablename__ = "cost_layers"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_cost >= 0", name="unit_cost_nonnegative"),
        Index("ix_cost_layers_variant", "tenant_id", "variant_id", "received_at", "id"),
    )

    variant_id: Mapped[int] = mapped_column(ID, ForeignKey("variants.id", ondelete="CASCADE"))
    warehouse_id: Mapped[int | None] = mapped_column(ID, ForeignKey("warehouses.id", ondelete="SET NULL"))
    quantity: Mapped[int]
    purchase_cost: Mapped[Decimal]
    freight_cost: Mapped[Decimal] = mapped_column(default=Decimal(0))
    duty_cost: Mapped[Decimal] = mapped_column(default=Decimal(0))
    #: purchase + freight + duty, per unit
    unit_cost: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str | None] = mapped_column(String(128))
    #: units of the layers before this one, of the same variant (FIFO positions)
    starts_at_unit: Mapped[int] = mapped_column(default=0)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class AnalyticsMark(TenantScoped, Base):
    """An order whose figures must be made again. Append-only: the refresh deletes the marks
    it took and recomputes their orders (see :mod:`crossdock.services.analytics`)."""

    __tablename__ = "analytics_marks"
    __table_args__ = (Index("ix_analytics_marks_tenant", "tenant_id", "id"),)

    order_id: Mapped[int] = mapped_column(ID)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


#: the money figures of a line, in the order the rollups and the API list them
LINE_AMOUNTS = (
    "revenue",
    "tax",
    "shipping_income",
    "marketplace_fees",
    "fulfilment_fees",
    "shipping_cost",
    "payment_fees",
    "refunds",
    "cogs",
    "write_off",
    "ad_spend",
)
#: the counts of a line
LINE_COUNTS = ("units", "returned_units", "estimated")


class AnalyticsLine(TenantScoped, Base):
    """One order line's figures as last computed, with the rows they came from
    (``sources``: what a drill-down shows)."""

    __tablename__ = "analytics_lines"
    __table_args__ = (
        UniqueConstraint("order_line_id"),
        Index("ix_analytics_lines_order", "order_id"),
        Index("ix_analytics_lines_sku_day", "tenant_id", "sku", "day"),
        Index("ix_analytics_lines_variant", "tenant_id", "variant_id"),
    )

    order_id: Mapped[int] = mapped_column(ID, ForeignKey("orders.id", ondelete="CASCADE"))
    order_line_id: Mapped[int] = mapped_column(ID, ForeignKey("order_lines.id", ondelete="CASCADE"))
    variant_id: Mapped[int | None] = mapped_column(ID)
    connection_id: Mapped[int] = mapped_column(ID)
    sku: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    units: Mapped[int] = mapped_column(default=0)
    returned_units: Mapped[int] = mapped_column(default=0)
    #: 1 when a fee or the shipping cost is an estimate (the payout has not landed yet)
    estimated: Mapped[int] = mapped_column(default=0)
    revenue: Mapped[Decimal] = mapped_column(default=Decimal(0))
    tax: Mapped[Decimal] = mapped_column(default=Decimal(0))
    shipping_income: Mapped[Decimal] = mapped_column(default=Decimal(0))
    marketplace_fees: Mapped[Decimal] = mapped_column(default=Decimal(0))
    fulfilment_fees: Mapped[Decimal] = mapped_column(default=Decimal(0))
    shipping_cost: Mapped[Decimal] = mapped_column(default=Decimal(0))
    payment_fees: Mapped[Decimal] = mapped_column(default=Decimal(0))
    refunds: Mapped[Decimal] = mapped_column(default=Decimal(0))
    cogs: Mapped[Decimal] = mapped_column(default=Decimal(0))
    write_off: Mapped[Decimal] = mapped_column(default=Decimal(0))
    ad_spend: Mapped[Decimal] = mapped_column(default=Decimal(0))
    #: FIFO: the position of this line's first unit among the variant's units sold
    fifo_position: Mapped[int | None]
    fifo_units: Mapped[int] = mapped_column(default=0)
    #: 1 when some units were costed without a cost layer (a later receipt recosts them)
    cost_fallback: Mapped[int] = mapped_column(default=0)
    sources: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


#: an order's counts, as the daily rollup adds them up
ORDER_COUNTS = (
    "orders",
    "units",
    "cancelled",
    "returned",
    "refunded",
    "shipped",
    "shipped_late",
    "tracked",
    "repeat",
    "known_buyer",
    "unconverted",
)


class AnalyticsOrder(TenantScoped, Base):
    """One order's counts (what the KPIs add up), as last computed."""

    __tablename__ = "analytics_orders"
    __table_args__ = (
        UniqueConstraint("order_id"),
        Index("ix_analytics_orders_buyer", "tenant_id", "channel", "buyer_key", "placed_at"),
    )

    order_id: Mapped[int] = mapped_column(ID, ForeignKey("orders.id", ondelete="CASCADE"))
    connection_id: Mapped[int] = mapped_column(ID)
    channel: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date)
    placed_at: Mapped[datetime]
    #: the buyer, matched per channel: SHA-256 of the channel's buyer id or e-mail
    buyer_key: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    gmv: Mapped[Decimal] = mapped_column(default=Decimal(0))
    orders: Mapped[int] = mapped_column(default=1)
    units: Mapped[int] = mapped_column(default=0)
    cancelled: Mapped[int] = mapped_column(default=0)
    returned: Mapped[int] = mapped_column(default=0)
    refunded: Mapped[int] = mapped_column(default=0)
    shipped: Mapped[int] = mapped_column(default=0)
    shipped_late: Mapped[int] = mapped_column(default=0)
    tracked: Mapped[int] = mapped_column(default=0)
    repeat: Mapped[int] = mapped_column(default=0)
    known_buyer: Mapped[int] = mapped_column(default=0)
    unconverted: Mapped[int] = mapped_column(default=0)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AnalyticsSkuDaily(TenantScoped, Base):
    """The rollup of line figures, ads and traffic per day, connection and SKU."""

    __tablename__ = "analytics_sku_daily"
    __table_args__ = (UniqueConstraint("tenant_id", "day", "connection_id", "sku"),)

    day: Mapped[date] = mapped_column(Date)
    connection_id: Mapped[int] = mapped_column(ID)
    sku: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    units: Mapped[int] = mapped_column(default=0)
    returned_units: Mapped[int] = mapped_column(default=0)
    estimated: Mapped[int] = mapped_column(default=0)
    lines: Mapped[int] = mapped_column(default=0)
    revenue: Mapped[Decimal] = mapped_column(default=Decimal(0))
    tax: Mapped[Decimal] = mapped_column(default=Decimal(0))
    shipping_income: Mapped[Decimal] = mapped_column(default=Decimal(0))
    marketplace_fees: Mapped[Decimal] = mapped_column(default=Decimal(0))
    fulfilment_fees: Mapped[Decimal] = mapped_column(default=Decimal(0))
    shipping_cost: Mapped[Decimal] = mapped_column(default=Decimal(0))
    payment_fees: Mapped[Decimal] = mapped_column(default=Decimal(0))
    refunds: Mapped[Decimal] = mapped_column(default=Decimal(0))
    cogs: Mapped[Decimal] = mapped_column(default=Decimal(0))
    write_off: Mapped[Decimal] = mapped_column(default=Decimal(0))
    ad_spend: Mapped[Decimal] = mapped_column(default=Decimal(0))
    ad_sales: Mapped[Decimal] = mapped_column(default=Decimal(0))
    ad_orders: Mapped[int] = mapped_column(default=0)
    ad_clicks: Mapped[int] = mapped_column(default=0)
    ad_impressions: Mapped[int] = mapped_column(default=0)
    sessions: Mapped[int] = mapped_column(default=0)
    page_views: Mapped[int] = mapped_column(default=0)


class AnalyticsDaily(TenantScoped, Base):
    """The rollup per day and connection: the order counts, the shop's traffic, and the SKU
    rollup's figures added up over the SKUs (kept with it by ``services.analytics.bump``), so
    reads without a SKU dimension add up days x shops rows."""

    __tablename__ = "analytics_daily"
    __table_args__ = (UniqueConstraint("tenant_id", "day", "connection_id"),)

    day: Mapped[date] = mapped_column(Date)
    connection_id: Mapped[int] = mapped_column(ID)
    currency: Mapped[str] = mapped_column(String(3))
    gmv: Mapped[Decimal] = mapped_column(default=Decimal(0))
    orders: Mapped[int] = mapped_column(default=0)
    units: Mapped[int] = mapped_column(default=0)
    cancelled: Mapped[int] = mapped_column(default=0)
    returned: Mapped[int] = mapped_column(default=0)
    refunded: Mapped[int] = mapped_column(default=0)
    shipped: Mapped[int] = mapped_column(default=0)
    shipped_late: Mapped[int] = mapped_column(default=0)
    tracked: Mapped[int] = mapped_column(default=0)
    repeat: Mapped[int] = mapped_column(default=0)
    known_buyer: Mapped[int] = mapped_column(default=0)
    unconverted: Mapped[int] = mapped_column(default=0)
    #: the shop's own traffic (the channel's shop-level report)
    sessions: Mapped[int] = mapped_column(default=0)
    page_views: Mapped[int] = mapped_column(default=0)
    # the SKU rollup's figures over all SKUs (``units`` above is the same count)
    revenue: Mapped[Decimal] = mapped_column(default=Decimal(0))
    tax: Mapped[Decimal] = mapped_column(default=Decimal(0))
    shipping_income: Mapped[Decimal] = mapped_column(default=Decimal(0))
    marketplace_fees: Mapped[Decimal] = mapped_column(default=Decimal(0))
    fulfilment_fees: Mapped[Decimal] = mapped_column(default=Decimal(0))
    shipping_cost: Mapped[Decimal] = mapped_column(default=Decimal(0))
    payment_fees: Mapped[Decimal] = mapped_column(default=Decimal(0))
    refunds: Mapped[Decimal] = mapped_column(default=Decimal(0))
    cogs: Mapped[Decimal] = mapped_column(default=Decimal(0))
    write_off: Mapped[Decimal] = mapped_column(default=Decimal(0))
    ad_spend: Mapped[Decimal] = mapped_column(default=Decimal(0))
    ad_sales: Mapped[Decimal] = mapped_column(default=Decimal(0))
    returned_units: Mapped[int] = mapped_column(default=0)
    estimated: Mapped[int] = mapped_column(default=0)
    lines: Mapped[int] = mapped_column(default=0)
    ad_orders: Mapped[int] = mapped_column(default=0)
    ad_clicks: Mapped[int] = mapped_column(default=0)
    ad_impressions: Mapped[int] = mapped_column(default=0)
    #: traffic the channel reports per SKU, added up (the SKU rollup's ``sessions``)
    sku_sessions: Mapped[int] = mapped_column(default=0)
    sku_page_views: Mapped[int] = mapped_column(default=0)


#: SKU rollup column -> daily rollup column where the names differ; ``units`` is not rolled
#: up (the daily rollup counts the orders' units, the same number)
SKU_TO_DAILY = {"sessions": "sku_sessions", "page_views": "sku_page_views", "units": None}


class StockDaily(TenantScoped, Base):
    """A variant's stock on one of the tenant's days: the last level seen, and whether it
    ran out at any moment of the day (stock-out days, sell-through, days of cover)."""

    __tablename__ = "stock_daily"
    __table_args__ = (UniqueConstraint("tenant_id", "day", "variant_id"),)

    day: Mapped[date] = mapped_column(Date)
    variant_id: Mapped[int] = mapped_column(ID, ForeignKey("variants.id", ondelete="CASCADE"))
    on_hand: Mapped[int] = mapped_column(default=0)
    available: Mapped[int] = mapped_column(default=0)
    stocked_out: Mapped[bool] = mapped_column(Boolean, default=False)


class ReportKind(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"


class Report(TenantScoped, Base):
    """An operations report made for one of the tenant's days (or ISO weeks), kept as the
    data it showed; the downloads (CSV, XLSX, HTML, PDF) are rendered from ``data``."""

    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("tenant_id", "kind", "period_start"),)

    kind: Mapped[str] = mapped_column(String(16))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    timezone: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    data: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    generated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
