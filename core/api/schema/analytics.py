"""Analytics over GraphQL: profit by any cut with its drill-down, the KPI dashboard,
advertising performance, chart series, and the stored operations reports."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON
from strawberry.types import Info

from crossdock.api.context import RequestState, state
from crossdock.api.schema.common import Money
from crossdock.api.schema.errors import AnalyticsUserError, in_transaction, requires
from crossdock.api.schema.relay import Node, decode_id, encode_id, resolve_id
from crossdock.db import models as m
from crossdock.db.models.analytics import LINE_AMOUNTS
from crossdock.errors import NotFound, UserError
from crossdock.services import analytics_read as read
from crossdock.services.reports import agency_report, make_report, period_of

__all__ = ["AgencyQuery", "Mutation", "Query"]

#: rows one profit or advertising query returns at most
MAX_ROWS = 1000


@strawberry.input(description="The period (the tenant's days, both included) and the cut.")
class AnalyticsFilter:
    from_: date = strawberry.field(name="from")
    to: date
    connection_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Shops' ids.")
    skus: list[str] | None = None
    channels: list[str] | None = strawberry.field(
        default=None, description="Channel names (amazon, shopee ...)."
    )
    sites: list[str] | None = strawberry.field(default=None, description="Marketplace sites (DE, SG ...).")


async def _filter(session: AsyncSession, flt: AnalyticsFilter) -> read.Filter:
    ids = [
        decode_id(value, "ChannelConnection", field=f"filter.connectionIds.{i}")[1]
        for i, value in enumerate(flt.connection_ids or [])
    ]
    known = (
        set((await session.scalars(select(m.Connection.id).where(m.Connection.id.in_(ids)))).all())
        if ids
        else set()
    )
    for i, (pk, value) in enumerate(zip(ids, flt.connection_ids or [], strict=True)):
        if pk not in known:  # another tenant's shop is as unknown as one that never existed
            raise NotFound(f"ChannelConnection {value} not found", field=f"filter.connectionIds.{i}")
    result = read.Filter(
        flt.from_, flt.to, ids, list(flt.skus or []), list(flt.channels or []), list(flt.sites or [])
    )
    result.check()
    return result


def _m(amount: Decimal | int | None, currency: str) -> Money:
    return Money.exact(Decimal(amount or 0).quantize(Decimal("0.0001")), currency)


@strawberry.type(description="Money figures of a cut, in the tenant's reporting currency.")
class ProfitFigures:
    revenue: Money = strawberry.field(description="Sales without tax (tax collected is in `tax`).")
    tax: Money
    shipping_income: Money
    marketplace_fees: Money = strawberry.field(description="Commission and other marketplace fees.")
    fulfilment_fees: Money
    shipping_cost: Money
    payment_fees: Money
    refunds: Money = strawberry.field(description="Refunded, without the tax share.")
    cogs: Money = strawberry.field(description="Landed cost of the units sold and not returned sellable.")
    write_off: Money = strawberry.field(description="Cost of units returned damaged (part of `cogs`).")
    ad_spend: Money
    ad_sales: Money = strawberry.field(description="Sales the ads claim (their own attribution).")
    profit: Money
    margin: Decimal | None = strawberry.field(description="Profit over revenue (0.25 = 25 %).")
    unit_profit: Money | None
    tacos: Decimal | None = strawberry.field(description="Ad spend over revenue.")
    units: int
    returned_units: int
    lines: int = strawberry.field(description="Order lines counted.")
    estimated_lines: int = strawberry.field(
        description="Lines whose fees or shipping are estimates until the payout lands."
    )
    sessions: int
    page_views: int

    @classmethod
    def of(cls, row: read.ProfitRow, currency: str) -> ProfitFigures:
        f = row.figures
        amounts = {name: _m(f.get(name), currency) for name in (*LINE_AMOUNTS, "ad_sales")}
        return cls(
            **amounts,
            profit=_m(row.profit, currency),
            margin=row.margin,
            unit_profit=_m(row.unit_profit, currency) if row.unit_profit is not None else None,
            tacos=row.tacos,
            units=int(f.get("units") or 0),
            returned_units=int(f.get("returned_units") or 0),
            lines=int(f.get("lines") or 0),
            estimated_lines=int(f.get("estimated") or 0),
            sessions=int(f.get("sessions") or 0),
            page_views=int(f.get("page_views") or 0),
        )


@strawberry.type(description="One cut: the dimensions grouped by are set, the others null.")
class ProfitRow:
    sku: str | None
    connection_id: strawberry.ID | None
    channel: str | None
    site: str | None
    period: date | None = strawberry.field(description="The first day of the day, week or month.")
    figures: ProfitFigures


@strawberry.type
class ProfitReport:
    currency: str
    rows: list[ProfitRow]
    total: ProfitFigures
    truncated: bool = strawberry.field(description="More rows than `first` matched.")


@strawberry.type(description="One order line's figures, with the rows each came from.")
class ProfitLine:
    id: strawberry.ID
    order_id: strawberry.ID
    order_line_id: strawberry.ID
    connection_id: strawberry.ID
    sku: str
    day: date
    units: int
    returned_units: int
    estimated: bool
    figures: ProfitFigures
    sources: list[JSON] = strawberry.field(
        description="Where each figure came from: `figure`, `kind` (order_line, settlement_line, "
        "fee_schedule, price_rule, label, estimate, refund, unit_cost), `id`, `amount` in the "
        "order's currency (unit_cost: the reporting currency) and a note."
    )


@strawberry.type
class ProfitLinePage:
    lines: list[ProfitLine]
    end_cursor: str | None = strawberry.field(description="Pass as `after` for the next page.")


@strawberry.type(description="Dashboard figures for a period.")
class Kpis:
    currency: str
    gmv: Money = strawberry.field(description="What buyers paid for the orders not cancelled.")
    orders: int
    units: int
    average_order_value: Money | None
    repeat_buyer_rate: Decimal | None = strawberry.field(
        description="Orders by a buyer who had ordered on the channel before, over orders with a known buyer."
    )
    cancellation_rate: Decimal | None
    return_rate: Decimal | None
    refund_rate: Decimal | None
    late_shipment_rate: Decimal | None = strawberry.field(description="Shipped after the ship-by time.")
    valid_tracking_rate: Decimal | None = strawberry.field(
        description="Shipped with a tracking number the carrier scanned or the channel accepted."
    )
    reply_hours_median: float | None
    answered_within_deadline: Decimal | None = strawberry.field(description="Share of replies within 24 h.")
    awaiting_reply: int
    sessions: int
    page_views: int
    conversion: Decimal | None = strawberry.field(description="Orders over sessions.")
    sell_through: Decimal | None
    stock: list[SkuStock]


@strawberry.type
class SkuStock:
    sku: str
    stock_out_days: int
    available: int
    units_sold: int
    days_of_cover: Decimal | None = strawberry.field(
        description="Available now over the last 28 days' sales."
    )


@strawberry.type(description="Advertising of one cut, in the ad account's currency.")
class AdPerformanceRow:
    connection_id: strawberry.ID | None
    campaign_id: str | None
    campaign_name: str | None
    sku: str | None
    target: str | None
    match_type: str | None
    search_term: str | None
    day: date | None
    impressions: int
    clicks: int
    spend: Money
    orders: int
    units: int
    sales: Money
    ctr: Decimal | None
    cpc: Money | None
    conversion: Decimal | None
    acos: Decimal | None
    roas: Decimal | None
    budget_pacing: Decimal | None = strawberry.field(
        description="Spend over the daily budget times the days (campaign cuts only)."
    )


@strawberry.type
class SeriesPoint:
    period: date
    value: Decimal


@strawberry.type(description="A stored daily or weekly operations report.")
class Report(Node):
    pk: strawberry.Private[int]
    kind: m.ReportKind
    period_start: date
    period_end: date
    timezone: str
    currency: str
    generated_at: datetime
    data: JSON = strawberry.field(description="Sections of figures, tables and chart data (docs/reports.md).")

    @strawberry.field(
        description="Where to download it (send the API key); `format` is csv, xlsx, html or pdf."
    )
    def download_path(self, format: str = "pdf") -> str:
        if format not in ("csv", "xlsx", "html", "pdf"):
            raise UserError("format is csv, xlsx, html or pdf", field="format", code="INVALID")
        return f"/reports/{self.id}.{format}"

    @classmethod
    def from_row(cls, row: m.Report) -> Report:
        return cls(
            id=encode_id("Report", row.id),
            pk=row.id,
            kind=m.ReportKind(row.kind),
            period_start=row.period_start,
            period_end=row.period_end,
            timezone=row.timezone,
            currency=row.currency,
            generated_at=row.generated_at,
            data=cast(JSON, row.data),
        )


@strawberry.type
class ReportGeneratePayload:
    report: Report | None = None
    user_errors: list[AnalyticsUserError] = strawberry.field(default_factory=list)


@strawberry.input
class ReportGenerateInput:
    kind: m.ReportKind
    day: date = strawberry.field(
        description="A day of the period (the tenant's day; a week: any of its days)."
    )


def _conn_id(pk: Any) -> strawberry.ID | None:
    return encode_id("ChannelConnection", int(pk)) if pk is not None else None


@strawberry.type
class Query:
    @strawberry.field(
        extensions=requires("analytics:read"),
        description="Profit and its parts by any cut (`groupBy` empty: the total only), from the rollups.",
    )
    async def profit(
        self,
        info: Info[Any, Any],
        filter: AnalyticsFilter,
        group_by: list[read.Dimension] | None = None,
        first: int = 100,
    ) -> ProfitReport:
        st = state(info)
        async with st.read() as session:
            flt = await _filter(session, filter)
            config, rows, total = await read.profit(session, flt, group_by or [])
        rows.sort(key=lambda r: r.profit, reverse=True)
        limit = max(1, min(first, MAX_ROWS))
        cur = config.currency
        return ProfitReport(
            currency=cur,
            rows=[
                ProfitRow(
                    sku=r.key.get("sku"),
                    connection_id=_conn_id(r.key.get("connection_id")),
                    channel=r.key.get("channel"),
                    site=r.key.get("site"),
                    period=r.key.get("period"),
                    figures=ProfitFigures.of(r, cur),
                )
                for r in rows[:limit]
            ],
            total=ProfitFigures.of(total, cur),
            truncated=len(rows) > limit,
        )

    @strawberry.field(
        extensions=requires("analytics:read"),
        description="The order lines behind a cut, each with the rows its figures came from.",
    )
    async def profit_lines(
        self,
        info: Info[Any, Any],
        filter: AnalyticsFilter,
        order_id: strawberry.ID | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> ProfitLinePage:
        st = state(info)
        async with st.read() as session:
            flt = await _filter(session, filter)
            order_pk = await resolve_id(session, order_id, m.Order, field="orderId") if order_id else None
            try:
                after_pk = int(after) if after else None
            except ValueError as exc:
                raise UserError("not a cursor this query returned", field="after", code="INVALID_ID") from exc
            rows = await read.profit_lines(
                session, flt, order_id=order_pk, after=after_pk, limit=min(first, 500)
            )
        lines = []
        for row in rows:
            figures = read.ProfitRow({})
            figures.add({name: getattr(row, name) for name in LINE_AMOUNTS})
            figures.add(
                {
                    "units": row.units,
                    "returned_units": row.returned_units,
                    "estimated": row.estimated,
                    "lines": 1,
                }
            )
            lines.append(
                ProfitLine(
                    id=encode_id("ProfitLine", row.id),
                    order_id=encode_id("Order", row.order_id),
                    order_line_id=encode_id("OrderLine", row.order_line_id),
                    connection_id=encode_id("ChannelConnection", row.connection_id),
                    sku=row.sku,
                    day=row.day,
                    units=row.units,
                    returned_units=row.returned_units,
                    estimated=bool(row.estimated),
                    figures=ProfitFigures.of(figures, row.currency),
                    sources=[cast(JSON, source) for source in row.sources or []],
                )
            )
        full = len(rows) == min(first, 500)
        return ProfitLinePage(lines=lines, end_cursor=str(rows[-1].id) if rows and full else None)

    @strawberry.field(extensions=requires("analytics:read"), description="The KPI dashboard of a period.")
    async def kpis(self, info: Info[Any, Any], filter: AnalyticsFilter) -> Kpis:
        st = state(info)
        async with st.read() as session:
            flt = await _filter(session, filter)
            k = await read.kpis(session, flt)
        skus = sorted(set(k.units_by_sku) | set(k.stock_out_days) | set(k.available_by_sku))
        if flt.skus:
            skus = [s for s in skus if s in flt.skus]
        return Kpis(
            currency=k.currency,
            gmv=_m(k.gmv, k.currency),
            orders=k.counts.get("orders", 0),
            units=k.counts.get("units", 0),
            average_order_value=_m(k.aov, k.currency) if k.aov is not None else None,
            repeat_buyer_rate=k.rate("repeat", "known_buyer"),
            cancellation_rate=k.rate("cancelled", "orders"),
            return_rate=k.rate("returned", k.placed),
            refund_rate=k.rate("refunded", k.placed),
            late_shipment_rate=k.rate("shipped_late", "shipped"),
            valid_tracking_rate=k.rate("tracked", "shipped"),
            reply_hours_median=k.reply_hours_median,
            answered_within_deadline=k.on_time_share,
            awaiting_reply=k.awaiting_reply,
            sessions=k.sessions,
            page_views=k.page_views,
            conversion=k.conversion,
            sell_through=k.sell_through(),
            stock=[
                SkuStock(
                    sku=s,
                    stock_out_days=k.stock_out_days.get(s, 0),
                    available=k.available_by_sku.get(s, 0),
                    units_sold=k.units_by_sku.get(s, 0),
                    days_of_cover=k.days_of_cover(s),
                )
                for s in skus[:MAX_ROWS]
            ],
        )

    @strawberry.field(
        extensions=requires("analytics:read"),
        description="Advertising by campaign, SKU, target, search term, shop or day, with CTR, CPC, "
        "conversion, ACoS, ROAS and budget pacing.",
    )
    async def ad_performance(
        self,
        info: Info[Any, Any],
        filter: AnalyticsFilter,
        group_by: list[read.AdDimension] | None = None,
        first: int = 100,
    ) -> list[AdPerformanceRow]:
        st = state(info)
        async with st.read() as session:
            flt = await _filter(session, filter)
            rows = await read.ad_performance(session, flt, group_by or [])
            names: dict[tuple[Any, Any], str] = {
                (c.connection_id, c.external_id): c.name
                for c in (await session.scalars(select(m.AdCampaignRow))).all()
            }
        out = []
        for r in rows[: max(1, min(first, MAX_ROWS))]:
            cid = r.key.get("campaign_id")
            out.append(
                AdPerformanceRow(
                    connection_id=_conn_id(r.key.get("connection_id")),
                    campaign_id=cid,
                    campaign_name=names.get((r.key.get("connection_id"), cid)) if cid else None,
                    sku=r.key.get("sku"),
                    target=r.key.get("target"),
                    match_type=r.key.get("match_type"),
                    search_term=r.key.get("search_term"),
                    day=r.key.get("day"),
                    impressions=r.impressions,
                    clicks=r.clicks,
                    spend=_m(r.spend, r.currency),
                    orders=r.orders,
                    units=r.units,
                    sales=_m(r.sales, r.currency),
                    ctr=r.ctr,
                    cpc=_m(r.cpc, r.currency) if r.cpc is not None else None,
                    conversion=r.conversion,
                    acos=r.acos,
                    roas=r.roas,
                    budget_pacing=r.pacing,
                )
            )
        return out

    @strawberry.field(
        extensions=requires("analytics:read"),
        description="One figure per day, week or month of the period (every period present), for charts.",
    )
    async def analytics_series(
        self,
        info: Info[Any, Any],
        metric: read.SeriesMetric,
        filter: AnalyticsFilter,
        interval: read.Interval = read.Interval.DAY,
    ) -> list[SeriesPoint]:
        st = state(info)
        async with st.read() as session:
            flt = await _filter(session, filter)
            points = await read.series(session, flt, metric, interval)
        return [SeriesPoint(period=d, value=v) for d, v in points]

    @strawberry.field(
        extensions=requires("analytics:read"), description="Stored reports, newest period first."
    )
    async def reports(
        self, info: Info[Any, Any], kind: m.ReportKind | None = None, first: int = 20
    ) -> list[Report]:
        st = state(info)
        async with st.read() as session:
            stmt = select(m.Report)
            if kind is not None:
                stmt = stmt.where(m.Report.kind == kind)
            rows = (
                await session.scalars(
                    stmt.order_by(m.Report.period_start.desc(), m.Report.id.desc()).limit(
                        max(1, min(first, 100))
                    )
                )
            ).all()
        return [Report.from_row(r) for r in rows]


@strawberry.type
class AgencyQuery:
    @strawberry.field(
        extensions=requires("analytics:read"),
        description="One report across every brand (tenant) this API key reaches: a row per brand, "
        "each in its own reporting currency. Download it from `/agency-reports/<kind>/<day>.<format>`.",
    )
    async def agency_report(self, info: Info[Any, Any], kind: m.ReportKind, day: date) -> JSON:
        st = state(info)
        return cast(JSON, await agency_report(st.app.db, st.app.plugins, st.principal, kind, day))


@strawberry.type
class Mutation:
    @strawberry.mutation(
        extensions=requires("analytics:write"),
        description="Make (or make again) the daily or weekly report for a period, from current figures.",
    )
    async def report_generate(
        self, info: Info[Any, Any], input: ReportGenerateInput
    ) -> ReportGeneratePayload:
        period_of(input.kind, input.day)

        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            from crossdock.services.analytics import refresh

            while await refresh(session, st.app.plugins, limit=500):
                pass  # the figures are brought up to date in the same transaction first
            row = await make_report(session, st.app.plugins, input.kind, input.day)
            return {"report": Report.from_row(row)}

        return await in_transaction(info, ReportGeneratePayload, body)
