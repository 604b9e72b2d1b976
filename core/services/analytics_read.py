"""Reading the figures: profit by any cut, the drill-down to the rows behind them, the KPIs,
advertising performance and chart series. Every query adds up rollup rows
(:mod:`crossdock.services.analytics`), never orders; the drill-down reads the lines of one
cut, paginated.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from statistics import median
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db.base import among
from crossdock.db.models import (
    AdCampaignRow,
    AdMetricRow,
    AnalyticsDaily,
    AnalyticsLine,
    AnalyticsSkuDaily,
    Connection,
    Conversation,
    Message,
    MessageDirection,
    StockDaily,
    StockLevel,
    Variant,
)
from crossdock.db.models.analytics import LINE_AMOUNTS, ORDER_COUNTS, SKU_TO_DAILY
from crossdock.db.scoping import session_tenant
from crossdock.errors import UserError
from crossdock.providers import AdLevel
from crossdock.services.analytics import AnalyticsSettings, analytics_settings, local_day

__all__ = [
    "AdDimension",
    "AdRow",
    "Dimension",
    "Filter",
    "Interval",
    "Kpis",
    "ProfitRow",
    "ad_performance",
    "kpis",
    "profit",
    "profit_extremes",
    "profit_lines",
    "series",
    "series_of",
    "snapshot_stock",
]

#: the longest period one query may cover
MAX_DAYS = 731
ZERO = Decimal(0)
#: what a buyer's message must be answered within to count as on time
REPLY_DEADLINE = timedelta(hours=24)


class Dimension(StrEnum):
    SKU = "sku"
    LISTING = "listing"  #: one SKU on one connection
    CONNECTION = "connection"
    CHANNEL = "channel"
    SITE = "site"
    DAY = "day"
    WEEK = "week"  #: ISO weeks, starting Monday
    MONTH = "month"


class Interval(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


PERIODS = {Dimension.DAY: Interval.DAY, Dimension.WEEK: Interval.WEEK, Dimension.MONTH: Interval.MONTH}


@dataclass(frozen=True)
class Filter:
    day_from: date
    day_to: date
    connection_ids: Sequence[int] = ()
    skus: Sequence[str] = ()
    channels: Sequence[str] = ()
    sites: Sequence[str] = ()

    def check(self) -> None:
        if self.day_to < self.day_from:
            raise UserError("the period ends before it starts", field="to", code="INVALID_PERIOD")
        if (self.day_to - self.day_from).days >= MAX_DAYS:
            raise UserError(f"a period covers at most {MAX_DAYS} days", field="to", code="INVALID_PERIOD")
        if len(self.skus) > 1000 or len(self.connection_ids) > 1000:
            raise UserError("at most 1000 SKUs or connections per filter", field="skus", code="INVALID")

    @property
    def days(self) -> int:
        return (self.day_to - self.day_from).days + 1


def period_start(day: date, interval: Interval) -> date:
    if interval == Interval.WEEK:
        return day - timedelta(days=day.weekday())
    if interval == Interval.MONTH:
        return day.replace(day=1)
    return day


#: what the SKU rollup adds up (money, then counts)
SKU_SUMS = (
    *LINE_AMOUNTS,
    "ad_sales",
    "units",
    "returned_units",
    "estimated",
    "lines",
    "ad_orders",
    "ad_clicks",
    "ad_impressions",
    "sessions",
    "page_views",
)


#: profit = the sum of these ...
EARNINGS = ("revenue", "shipping_income")
#: ... less the sum of these
COSTS = (
    "marketplace_fees",
    "fulfilment_fees",
    "shipping_cost",
    "payment_fees",
    "refunds",
    "cogs",
    "ad_spend",
)


@dataclass
class ProfitRow:
    """One cut of the figures. ``key`` holds the dimensions grouped by."""

    key: dict[str, Any]
    figures: dict[str, Any] = field(default_factory=lambda: defaultdict(lambda: 0))

    def add(self, values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            self.figures[name] = self.figures.get(name, 0) + (value or 0)

    def money(self, name: str) -> Decimal:
        return Decimal(self.figures.get(name) or 0)

    @property
    def profit(self) -> Decimal:
        total = sum((self.money(name) for name in EARNINGS), ZERO)
        return total - sum((self.money(name) for name in COSTS), ZERO)

    @property
    def margin(self) -> Decimal | None:
        revenue = self.money("revenue")
        return (self.profit / revenue).quantize(Decimal("0.0001")) if revenue else None

    @property
    def unit_profit(self) -> Decimal | None:
        units = int(self.figures.get("units") or 0)
        return (self.profit / units).quantize(Decimal("0.0001")) if units else None

    @property
    def tacos(self) -> Decimal | None:
        """Ad spend over all the sales of the cut (not only those the ads claim)."""
        revenue = self.money("revenue")
        return (self.money("ad_spend") / revenue).quantize(Decimal("0.0001")) if revenue else None


def _where(model: Any, flt: Filter) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [model.day >= flt.day_from, model.day <= flt.day_to]
    if flt.connection_ids:
        clauses.append(model.connection_id.in_(list(flt.connection_ids)))
    if flt.channels or flt.sites:
        conns = select(Connection.id)
        if flt.channels:
            conns = conns.where(Connection.channel.in_(list(flt.channels)))
        if flt.sites:
            conns = conns.where(Connection.site.in_(list(flt.sites)))
        clauses.append(model.connection_id.in_(conns))
    return clauses


async def _connections(session: AsyncSession) -> dict[int, Connection]:
    return {c.id: c for c in (await session.scalars(select(Connection))).all()}


async def profit(
    session: AsyncSession,
    flt: Filter,
    group_by: Sequence[Dimension],
    *,
    config: AnalyticsSettings | None = None,
) -> tuple[AnalyticsSettings, list[ProfitRow], ProfitRow]:
    """The figures of ``flt`` cut by ``group_by`` (none: one row), and their total.
    ``config``: the tenant's settings when the caller has read them already."""
    flt.check()
    config = config or await analytics_settings(session)
    dims = list(dict.fromkeys(group_by))
    periods = [PERIODS[d] for d in dims if d in PERIODS]
    if len(periods) > 1:
        raise UserError("group by one of DAY, WEEK or MONTH", field="groupBy", code="INVALID")
    columns: list[Any] = []
    need_sku = Dimension.SKU in dims or Dimension.LISTING in dims
    need_conn = bool({Dimension.CONNECTION, Dimension.LISTING, Dimension.CHANNEL, Dimension.SITE} & set(dims))
    # without a SKU in the cut, the daily rollup holds the same figures in fewer rows
    by_sku = need_sku or bool(flt.skus)
    t: Any = AnalyticsSkuDaily if by_sku else AnalyticsDaily
    if need_sku:
        columns.append(t.sku)
    if need_conn:
        columns.append(t.connection_id)
    if periods:
        columns.append(t.day)
    sums = [
        func.sum(getattr(t, name if by_sku else SKU_TO_DAILY.get(name) or name)).label(name)
        for name in SKU_SUMS
    ]
    stmt = select(*columns, *sums).where(*_where(t, flt))
    if flt.skus:
        stmt = stmt.where(t.sku.in_(list(flt.skus)))
    if columns:
        stmt = stmt.group_by(*columns)
    conns = await _connections(session) if need_conn else {}
    rows: dict[tuple[Any, ...], ProfitRow] = {}
    total = ProfitRow({})
    names, width = [c.key for c in columns], len(columns)
    read_rows: list[Sequence[Any]] = []
    for record in (await session.execute(stmt)).all():
        named = dict(zip(names, record[:width], strict=True))
        key: dict[str, Any] = {}
        if Dimension.SKU in dims or Dimension.LISTING in dims:
            key["sku"] = named["sku"]
        if need_conn:
            conn = conns.get(named["connection_id"])
            if Dimension.CONNECTION in dims or Dimension.LISTING in dims:
                key["connection_id"] = named["connection_id"]
            if Dimension.CHANNEL in dims:
                key["channel"] = conn.channel if conn else None
            if Dimension.SITE in dims:
                key["site"] = conn.site if conn else None
        if periods:
            key["period"] = period_start(named["day"], periods[0])
        values = [v or 0 for v in record[width:]]
        read_rows.append(values)
        group = tuple(sorted(key.items(), key=lambda kv: kv[0]))
        found = rows.get(group)
        if found is None:
            rows[group] = ProfitRow(key, dict(zip(SKU_SUMS, values, strict=True)))
        else:
            found.add(dict(zip(SKU_SUMS, values, strict=True)))
    if read_rows:
        total = ProfitRow(
            {}, {name: sum(col, 0) for name, col in zip(SKU_SUMS, zip(*read_rows, strict=True), strict=True)}
        )
    return config, list(rows.values()), total


def _profit_of(row: Any) -> Any:
    """The profit of a rollup query's summed columns (the same as :attr:`ProfitRow.profit`)."""

    def figure(name: str) -> Any:
        return func.coalesce(func.sum(getattr(row, name)), 0)

    total = figure(EARNINGS[0])
    for name in EARNINGS[1:]:
        total = total + figure(name)
    for name in COSTS:
        total = total - figure(name)
    return total


async def profit_extremes(session: AsyncSession, flt: Filter, n: int) -> tuple[list[ProfitRow], int]:
    """The ``n`` SKUs of ``flt`` that earned most and the ``n`` that earned least, best
    first (every SKU when there are at most ``2n``), and how many SKUs there were: ranked in
    the database, so a report of a large catalogue reads ``2n`` rows, not every SKU's."""
    flt.check()
    t = AnalyticsSkuDaily
    earned = _profit_of(t)
    stmt = select(
        t.sku,
        *(func.sum(getattr(t, name)).label(name) for name in SKU_SUMS),
        func.row_number().over(order_by=(earned.desc(), t.sku)).label("rank"),
        func.count().over().label("skus"),
    ).where(*_where(t, flt))
    if flt.skus:
        stmt = stmt.where(t.sku.in_(list(flt.skus)))
    ranked = stmt.group_by(t.sku).subquery()
    rows = (
        await session.execute(
            select(ranked)
            .where((ranked.c.rank <= n) | (ranked.c.rank > ranked.c.skus - n))
            .order_by(ranked.c.rank)
        )
    ).all()
    out = [ProfitRow({"sku": r.sku}, {name: getattr(r, name) or 0 for name in SKU_SUMS}) for r in rows]
    return out, int(rows[0].skus) if rows else 0


async def profit_lines(
    session: AsyncSession,
    flt: Filter,
    *,
    order_id: int | None = None,
    after: int | None = None,
    limit: int = 50,
) -> list[AnalyticsLine]:
    """The lines behind a cut (each with the rows its figures came from), by id."""
    flt.check()
    stmt = select(AnalyticsLine).where(*_where(AnalyticsLine, flt))
    if flt.skus:
        stmt = stmt.where(AnalyticsLine.sku.in_(list(flt.skus)))
    if order_id is not None:
        stmt = stmt.where(AnalyticsLine.order_id == order_id)
    if after is not None:
        stmt = stmt.where(AnalyticsLine.id > after)
    return list((await session.scalars(stmt.order_by(AnalyticsLine.id).limit(max(1, min(limit, 500))))).all())


# --------------------------------------------------------------------------- KPIs


@dataclass
class Kpis:
    currency: str
    counts: dict[str, int]
    gmv: Decimal
    sessions: int
    page_views: int
    reply_hours_median: float | None
    replies: int
    replied_on_time: int
    awaiting_reply: int
    stock_out_days: dict[str, int]
    units_by_sku: dict[str, int]
    on_hand_by_sku: dict[str, int]
    available_by_sku: dict[str, int]
    units_last_28_by_sku: dict[str, int]
    #: units sold in the period (all SKUs of the filter)
    units_sold: int = 0

    def rate(self, part: str, whole: str | int) -> Decimal | None:
        denominator = whole if isinstance(whole, int) else self.counts.get(whole, 0)
        return (
            (Decimal(self.counts.get(part, 0)) / denominator).quantize(Decimal("0.0001"))
            if denominator
            else None
        )

    @property
    def placed(self) -> int:
        return self.counts.get("orders", 0) - self.counts.get("cancelled", 0)

    @property
    def aov(self) -> Decimal | None:
        return (self.gmv / self.placed).quantize(Decimal("0.01")) if self.placed > 0 else None

    @property
    def conversion(self) -> Decimal | None:
        return (Decimal(self.placed) / self.sessions).quantize(Decimal("0.0001")) if self.sessions else None

    @property
    def on_time_share(self) -> Decimal | None:
        return (
            (Decimal(self.replied_on_time) / self.replies).quantize(Decimal("0.0001"))
            if self.replies
            else None
        )

    def sell_through(self, sku: str | None = None) -> Decimal | None:
        """Units sold over units sold plus units left at the end of the period."""
        if sku:
            sold, left = self.units_by_sku.get(sku, 0), self.on_hand_by_sku.get(sku, 0)
        else:
            sold, left = self.units_sold, sum(self.on_hand_by_sku.values())
        return (Decimal(sold) / (sold + left)).quantize(Decimal("0.0001")) if sold + left else None

    def days_of_cover(self, sku: str) -> Decimal | None:
        """What is available now, in days of the last 28 days' sales."""
        sold = self.units_last_28_by_sku.get(sku, 0)
        if not sold:
            return None
        return (Decimal(self.available_by_sku.get(sku, 0)) * 28 / sold).quantize(Decimal("0.1"))


def _bounds(flt: Filter, config: AnalyticsSettings) -> tuple[datetime, datetime]:
    start = datetime.combine(flt.day_from, time(0), tzinfo=config.zone)
    end = datetime.combine(flt.day_to + timedelta(days=1), time(0), tzinfo=config.zone)
    return start, end


async def kpis(
    session: AsyncSession,
    flt: Filter,
    *,
    cover_for: Sequence[str] | None = None,
    config: AnalyticsSettings | None = None,
) -> Kpis:
    """The KPI dashboard of ``flt``. ``cover_for`` names the SKUs whose per-SKU figures are
    wanted (units sold, days of cover); ``None``: every SKU's. A report that lists a few SKUs
    reads only theirs. ``config``: the tenant's settings when the caller has read them."""
    flt.check()
    config = config or await analytics_settings(session)
    d = AnalyticsDaily
    sums = (
        await session.execute(
            select(
                func.coalesce(func.sum(d.gmv), 0),
                func.coalesce(func.sum(d.sessions), 0),
                func.coalesce(func.sum(d.page_views), 0),
                func.coalesce(func.sum(d.sku_sessions), 0),
                func.coalesce(func.sum(d.sku_page_views), 0),
                *(func.coalesce(func.sum(getattr(d, name)), 0) for name in ORDER_COUNTS),
            ).where(*_where(d, flt))
        )
    ).one()
    gmv, sessions, views = Decimal(sums[0]), int(sums[1]), int(sums[2])
    if not sessions and cover_for is not None:  # traffic per product only, over all SKUs
        sessions, views = int(sums[3]), int(sums[4])
    counts = {name: int(value) for name, value in zip(ORDER_COUNTS, sums[5:], strict=True)}
    s = AnalyticsSkuDaily
    units_by_sku: dict[str, int] = {}
    last_28: dict[str, int] = {}
    sku_sessions = sku_views = 0
    # the period's units and traffic per SKU and the last 28 days' units (days of cover), in
    # one pass over the SKU rollup
    recent = flt.day_to - timedelta(days=27)
    span = Filter(min(flt.day_from, recent), flt.day_to, flt.connection_ids, (), flt.channels, flt.sites)
    of_period, of_recent = s.day >= flt.day_from, s.day >= recent
    wanted = set(flt.skus) if flt.skus else None
    per_sku = select(
        s.sku,
        func.count().filter(of_period),
        func.sum(s.units).filter(of_period),
        func.sum(s.sessions).filter(of_period),
        func.sum(s.page_views).filter(of_period),
        func.sum(s.units).filter(of_recent),
    ).where(*_where(s, span))
    if cover_for is not None:
        per_sku = per_sku.where(s.sku.in_(list(cover_for)))
    for sku, rows, units, sku_s, sku_v, recent_units in (
        (await session.execute(per_sku.group_by(s.sku))).all() if cover_for is None or cover_for else []
    ):
        last_28[sku] = int(recent_units or 0)
        if not rows or (wanted is not None and sku not in wanted):
            continue
        units_by_sku[sku] = int(units or 0)
        sku_sessions += int(sku_s or 0)
        sku_views += int(sku_v or 0)
    if not sessions and cover_for is None:  # the channel reports traffic per product only
        sessions, views = sku_sessions, sku_views
    sold = sum(units_by_sku.values()) if cover_for is None else counts.get("units", 0)
    # replies to buyers: a buyer's run of messages is answered by the seller's next message.
    # Paired in SQL: a message's turn is the number of seller messages before it in its
    # conversation, so a turn holds a run of buyer messages and the reply that ends it
    start, end = _bounds(flt, config)
    m = Message
    outbound = case((m.direction == MessageDirection.OUTBOUND, 1), else_=0)
    turns = select(
        m.conversation_id,
        m.direction,
        m.sent_at,
        func.coalesce(
            func.sum(outbound).over(
                partition_by=m.conversation_id, order_by=(m.sent_at, m.id), rows=(None, -1)
            ),
            0,
        ).label("turn"),
    ).where(m.sent_at >= start, m.sent_at < end + REPLY_DEADLINE)
    if flt.connection_ids:
        turns = turns.where(
            m.conversation_id.in_(
                select(Conversation.id).where(Conversation.connection_id.in_(list(flt.connection_ids)))
            )
        )
    turn = turns.subquery()
    asked_and_answered = select(
        func.min(turn.c.sent_at).filter(turn.c.direction == MessageDirection.INBOUND, turn.c.sent_at < end),
        func.min(turn.c.sent_at).filter(turn.c.direction == MessageDirection.OUTBOUND),
    ).group_by(turn.c.conversation_id, turn.c.turn)
    replies: list[float] = []
    on_time = awaiting = 0
    for asked, answered in (await session.execute(asked_and_answered)).all():
        if asked is None:
            continue  # a reply to a question asked before the period
        if answered is None:
            awaiting += 1
            continue
        took = answered - asked
        replies.append(took.total_seconds() / 3600)
        on_time += took <= REPLY_DEADLINE
    # stock: days a SKU ran out, what is left at the end of the period (added up here, not
    # in Python: a month of a large catalogue is tens of thousands of daily rows)
    variants = dict((await session.execute(select(Variant.id, Variant.sku))).all())
    sd = StockDaily
    in_period = (sd.day >= flt.day_from, sd.day <= flt.day_to)
    out_days: dict[str, int] = defaultdict(int)
    for variant_id, days in (
        await session.execute(
            select(sd.variant_id, func.count())
            .where(*in_period, sd.stocked_out.is_(True))
            .group_by(sd.variant_id)
        )
    ).all():
        name = variants.get(variant_id)
        if name is not None and (wanted is None or name in wanted):
            out_days[name] += int(days)
    # each variant's level at its last snapshot of the period: the period's last snapshot
    # day holds nearly all of them; the few without one that day are looked up on their own
    on_hand: dict[str, int] = {}
    last_day: dict[str, date] = {}
    last = await session.scalar(select(func.max(sd.day)).where(*in_period))
    found: list[tuple[int, date, int]] = []
    if last is not None:
        found = [
            (v, last, hand)
            for v, hand in (
                await session.execute(select(sd.variant_id, sd.on_hand).where(sd.day == last))
            ).all()
        ]
        missing = sorted(set(variants) - {v for v, _, _ in found})
        if missing:
            dialect = session.get_bind().dialect.name
            latest = (
                select(sd.variant_id, func.max(sd.day).label("day"))
                .where(*in_period, sd.day < last, among(dialect, sd.variant_id, missing))
                .group_by(sd.variant_id)
                .subquery()
            )
            found += [
                (v, d, hand)
                for v, d, hand in (
                    await session.execute(
                        select(sd.variant_id, sd.day, sd.on_hand).join(
                            latest, (sd.variant_id == latest.c.variant_id) & (sd.day == latest.c.day)
                        )
                    )
                ).all()
            ]
    for variant_id, day, hand in found:
        name = variants.get(variant_id)
        if name is None or (wanted is not None and name not in wanted):
            continue
        if name not in last_day or day > last_day[name]:
            last_day[name], on_hand[name] = day, hand
        elif day == last_day[name]:
            on_hand[name] += hand  # two variants of one SKU
    available: dict[str, int] = defaultdict(int)
    for variant_id, hand, free in (
        await session.execute(
            select(
                StockLevel.variant_id,
                func.sum(StockLevel.on_hand),
                func.sum(StockLevel.on_hand - StockLevel.reserved),
            ).group_by(StockLevel.variant_id)
        )
    ).all():
        named = variants.get(variant_id)
        if named is not None:
            available[named] += int(free or 0)
            on_hand.setdefault(named, 0)
            if named not in last_day:
                on_hand[named] += int(hand or 0)
    return Kpis(
        currency=config.currency,
        counts=counts,
        units_sold=sold,
        gmv=gmv,
        sessions=sessions,
        page_views=views,
        reply_hours_median=round(median(replies), 2) if replies else None,
        replies=len(replies),
        replied_on_time=on_time,
        awaiting_reply=awaiting,
        stock_out_days=dict(out_days),
        units_by_sku=units_by_sku,
        on_hand_by_sku=on_hand,
        available_by_sku=dict(available),
        units_last_28_by_sku={k: v for k, v in last_28.items() if v},
    )


# --------------------------------------------------------------------------- advertising


class AdDimension(StrEnum):
    CAMPAIGN = "campaign"
    SKU = "sku"
    TARGET = "target"
    SEARCH_TERM = "search_term"
    CONNECTION = "connection"
    DAY = "day"


@dataclass
class AdRow:
    key: dict[str, Any]
    currency: str
    impressions: int = 0
    clicks: int = 0
    spend: Decimal = ZERO
    orders: int = 0
    units: int = 0
    sales: Decimal = ZERO
    #: what the campaign may spend over the period (daily budget x days), for pacing
    budget: Decimal | None = None

    def _ratio(self, top: Decimal | int, bottom: Decimal | int, places: str = "0.0001") -> Decimal | None:
        return (Decimal(top) / Decimal(bottom)).quantize(Decimal(places)) if bottom else None

    @property
    def ctr(self) -> Decimal | None:
        return self._ratio(self.clicks, self.impressions)

    @property
    def cpc(self) -> Decimal | None:
        return self._ratio(self.spend, self.clicks, "0.01")

    @property
    def conversion(self) -> Decimal | None:
        return self._ratio(self.orders, self.clicks)

    @property
    def acos(self) -> Decimal | None:
        return self._ratio(self.spend, self.sales)

    @property
    def roas(self) -> Decimal | None:
        return self._ratio(self.sales, self.spend, "0.01")

    @property
    def pacing(self) -> Decimal | None:
        return self._ratio(self.spend, self.budget) if self.budget else None


LEVEL_OF = {
    AdDimension.TARGET: AdLevel.TARGET,
    AdDimension.SEARCH_TERM: AdLevel.SEARCH_TERM,
}


async def ad_performance(session: AsyncSession, flt: Filter, group_by: Sequence[AdDimension]) -> list[AdRow]:
    """Advertising cut by ``group_by``, in each connection's own currency (rows of
    connections in different currencies are kept apart). Campaign, SKU, day and connection
    cuts add up the per-product rows, or a campaign's own rows where the channel reports no
    product rows for it; target and search-term cuts their own rows."""
    flt.check()
    dims = list(dict.fromkeys(group_by)) or [AdDimension.CAMPAIGN]
    special = [d for d in dims if d in LEVEL_OF]
    if len(special) > 1:
        raise UserError("group by TARGET or SEARCH_TERM, not both", field="groupBy", code="INVALID")
    m = AdMetricRow
    levels = [LEVEL_OF[special[0]]] if special else [AdLevel.PRODUCT, AdLevel.CAMPAIGN]
    # added up in SQL to what the cut needs: per level, campaign and day (a campaign day
    # with product rows skips its campaign row), and the dimensions asked for
    kept = [m.level, m.connection_id, m.campaign_id, m.day, m.currency]
    if AdDimension.SKU in dims:
        kept.append(m.sku)
    if AdDimension.TARGET in dims or AdDimension.SEARCH_TERM in dims:
        kept.append(m.target)
    if AdDimension.TARGET in dims:
        kept.append(m.match_type)
    if AdDimension.SEARCH_TERM in dims:
        kept.append(m.search_term)
    metrics = ("impressions", "clicks", "spend", "orders", "units", "sales")
    stmt = (
        select(*kept, *(func.sum(getattr(m, name)).label(name) for name in metrics))
        .where(*_where(m, flt), m.level.in_([str(x) for x in levels]))
        .group_by(*kept)
    )
    if flt.skus:
        stmt = stmt.where(m.sku.in_(list(flt.skus)))
    rows = (await session.execute(stmt)).all()
    with_products = {(r.connection_id, r.campaign_id, r.day) for r in rows if r.level == AdLevel.PRODUCT}
    campaigns = {
        (c.connection_id, c.external_id): c for c in (await session.scalars(select(AdCampaignRow))).all()
    }
    out: dict[tuple[Any, ...], AdRow] = {}
    for r in rows:
        if r.level == AdLevel.CAMPAIGN and (r.connection_id, r.campaign_id, r.day) in with_products:
            continue
        if AdDimension.SKU in dims and r.level == AdLevel.CAMPAIGN:
            continue  # a campaign day without product rows names no SKU
        key: dict[str, Any] = {}
        for d in dims:
            if d == AdDimension.CAMPAIGN:
                key["connection_id"], key["campaign_id"] = r.connection_id, r.campaign_id
            elif d == AdDimension.SKU:
                key["sku"] = r.sku
            elif d == AdDimension.TARGET:
                key["campaign_id"], key["target"], key["match_type"] = r.campaign_id, r.target, r.match_type
            elif d == AdDimension.SEARCH_TERM:
                key["target"], key["search_term"] = r.target, r.search_term
            elif d == AdDimension.CONNECTION:
                key["connection_id"] = r.connection_id
            elif d == AdDimension.DAY:
                key["day"] = r.day
        group = (r.currency, *sorted(key.items(), key=lambda kv: kv[0]))
        row = out.setdefault(group, AdRow(key, r.currency))
        row.impressions += int(r.impressions or 0)
        row.clicks += int(r.clicks or 0)
        row.spend += Decimal(r.spend or 0)
        row.orders += int(r.orders or 0)
        row.units += int(r.units or 0)
        row.sales += Decimal(r.sales or 0)
    if dims == [AdDimension.CAMPAIGN]:
        for row in out.values():
            campaign = campaigns.get((row.key["connection_id"], row.key["campaign_id"]))
            if campaign is not None and campaign.daily_budget is not None:
                row.budget = campaign.daily_budget * flt.days
    return sorted(out.values(), key=lambda x: (-x.spend, str(x.key)))


# --------------------------------------------------------------------------- series


class SeriesMetric(StrEnum):
    REVENUE = "revenue"
    PROFIT = "profit"
    UNITS = "units"
    AD_SPEND = "ad_spend"
    MARKETPLACE_FEES = "marketplace_fees"
    REFUNDS = "refunds"
    COGS = "cogs"
    SESSIONS = "sessions"
    GMV = "gmv"
    ORDERS = "orders"
    CANCELLED = "cancelled"
    SHIPPED_LATE = "shipped_late"


async def series(
    session: AsyncSession, flt: Filter, metric: SeriesMetric, interval: Interval
) -> list[tuple[date, Decimal]]:
    """One value per period of ``flt`` (every period present, zero when nothing happened)."""
    return (await series_of(session, flt, [metric], interval))[metric]


async def series_of(
    session: AsyncSession,
    flt: Filter,
    metrics: Sequence[SeriesMetric],
    interval: Interval,
    *,
    config: AnalyticsSettings | None = None,
) -> dict[SeriesMetric, list[tuple[date, Decimal]]]:
    """:func:`series` of several metrics, read together: one query for all the metrics
    of the SKU rollup, one for those of the daily rollup."""
    flt.check()
    periods: list[date] = []
    day = period_start(flt.day_from, interval)
    while day <= flt.day_to:
        periods.append(day)
        day = _next(day, interval)
    values = {metric: dict.fromkeys(periods, ZERO) for metric in metrics}
    counted = [m for m in metrics if m in DAILY_METRICS]
    if counted:
        d = AnalyticsDaily
        for day, *sums in (
            await session.execute(
                select(d.day, *(func.sum(getattr(d, str(m))) for m in counted))
                .where(*_where(d, flt))
                .group_by(d.day)
            )
        ).all():
            for metric, value in zip(counted, sums, strict=True):
                values[metric][period_start(day, interval)] += Decimal(value or 0)
    if len(counted) < len(values):
        _, rows, _ = await profit(session, flt, [Dimension(str(interval))], config=config)
        for row in rows:
            for metric in values:
                if metric not in DAILY_METRICS:
                    values[metric][row.key["period"]] = (
                        row.profit
                        if metric == SeriesMetric.PROFIT
                        else Decimal(row.figures.get(str(metric)) or 0)
                    )
    return {metric: sorted(points.items()) for metric, points in values.items()}


#: series read from the daily rollup (the order counts); the others add up SKU rows
DAILY_METRICS = frozenset(
    {SeriesMetric.GMV, SeriesMetric.ORDERS, SeriesMetric.CANCELLED, SeriesMetric.SHIPPED_LATE}
)


def _next(day: date, interval: Interval) -> date:
    if interval == Interval.DAY:
        return day + timedelta(days=1)
    if interval == Interval.WEEK:
        return day + timedelta(days=7)
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


# --------------------------------------------------------------------------- stock


async def snapshot_stock(session: AsyncSession, now: datetime | None = None) -> int:
    """The tenant's stock per variant on its current day; a variant with nothing available
    at any snapshot of the day counts the day as a stock-out day."""
    from crossdock.db import utcnow
    from crossdock.services.analytics import _insert

    config = await analytics_settings(session)
    today = local_day(now or utcnow(), config.zone)
    levels = (
        await session.execute(
            select(
                StockLevel.variant_id,
                func.sum(StockLevel.on_hand),
                func.sum(StockLevel.on_hand - StockLevel.reserved),
            )
            .group_by(StockLevel.variant_id)
            .order_by(StockLevel.variant_id)
        )
    ).all()
    tenant = session_tenant(session.sync_session)
    insert = _insert(session)
    table = StockDaily.__table__
    for variant_id, on_hand, available in levels:
        out = int(available or 0) <= 0
        stmt = insert(table).values(
            tenant_id=tenant,
            day=today,
            variant_id=variant_id,
            on_hand=int(on_hand or 0),
            available=int(available or 0),
            stocked_out=out,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["tenant_id", "day", "variant_id"],
            set_={
                "on_hand": stmt.excluded.on_hand,
                "available": stmt.excluded.available,
                "stocked_out": table.c.stocked_out | stmt.excluded.stocked_out,
            },
        )
        await session.execute(stmt)
    return len(levels)
