"""The daily and weekly operations reports: what an operator reads to end the day.

A report is made from the rollups (:mod:`crossdock.services.analytics_read`) and the live
queues (open holds, unanswered buyers, late and at-risk shipments, stock-outs, shipment
exceptions, tax thresholds near crossing), as data in the shape ``docs/reports.md``
describes (sections of figures, a table and a chart). It is stored per tenant, kind and
period (made again, it replaces the stored one) and rendered on download.

Scheduling (:func:`due_reports`): a tenant's daily report for yesterday is made once its
local time passes ``reports.hour`` (tenant setting, default 6); the weekly one (the last ISO
week, Monday to Sunday) on Mondays after the same hour.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import utcnow
from crossdock.db.models import (
    Conversation,
    ConversationStatus,
    Order,
    OrderHold,
    Report,
    ReportKind,
    ShipmentException,
    StockLevel,
    TaxTally,
    Tenant,
    Variant,
)
from crossdock.db.models.orders import OPEN_STATUSES
from crossdock.db.scoping import session_tenant
from crossdock.plugins import Plugins
from crossdock.services.analytics import AnalyticsSettings, analytics_settings, local_day, settings_from
from crossdock.services.analytics_read import (
    AdDimension,
    Filter,
    Interval,
    ProfitRow,
    SeriesMetric,
    ad_performance,
    kpis,
    profit,
    profit_extremes,
    series_of,
)
from crossdock.services.common import current_tenant

__all__ = ["agency_report", "due_reports", "make_report", "period_of", "reachable_tenants", "report_data"]

#: SKUs listed at the top and at the bottom of the profit table
TOP = 5
#: rows of the live lists (at-risk orders, stock-outs ...)
LIST_LIMIT = 20
#: how near a threshold a tally counts as "near crossing"
NEAR = Decimal("0.8")


def period_of(kind: ReportKind, day: date) -> tuple[date, date]:
    """The period a report of ``kind`` covering ``day`` has: the day, or its ISO week."""
    if kind == ReportKind.WEEKLY:
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=6)
    return day, day


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(Decimal(value).quantize(Decimal("0.01")))


def _ratio(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _fig(label: str, value: Any, kind: str) -> dict[str, Any]:
    return {"label": label, "value": None if value is None else str(value), "kind": kind}


def _profit_row(row: ProfitRow) -> dict[str, Any]:
    return {
        "sku": row.key.get("sku", ""),
        "units": str(int(row.figures.get("units") or 0)),
        "revenue": _money(row.money("revenue")),
        "fees": _money(
            row.money("marketplace_fees") + row.money("fulfilment_fees") + row.money("payment_fees")
        ),
        "ads": _money(row.money("ad_spend")),
        "cogs": _money(row.money("cogs")),
        "profit": _money(row.profit),
        "margin": _ratio(row.margin),
    }


async def report_data(
    session: AsyncSession, plugins: Plugins, kind: ReportKind, day: date, *, now: datetime | None = None
) -> dict[str, Any]:
    """The data of the tenant's ``kind`` report for the period holding ``day`` (reads only)."""
    tenant, config = await _tenant(session)
    start, end = period_of(kind, day)
    return await _data(session, plugins, tenant, config, kind, start, end, now or utcnow())


async def _tenant(session: AsyncSession) -> tuple[Tenant | None, AnalyticsSettings]:
    """The session's tenant and its analytics settings, read once for the whole report."""
    tenant = await current_tenant(session)
    return tenant, settings_from(tenant.settings or {})


async def make_report(
    session: AsyncSession,
    plugins: Plugins,
    kind: ReportKind,
    day: date,
    *,
    now: datetime | None = None,
    data: dict[str, Any] | None = None,
) -> Report:
    """Make (or make again) the tenant's ``kind`` report for the period holding ``day``;
    ``data`` made beforehand (:func:`report_data`, in a read session) is stored as it is,
    so the write transaction stays short."""
    tenant, config = await _tenant(session)
    start, end = period_of(kind, day)
    if data is None:
        data = await _data(session, plugins, tenant, config, kind, start, end, now or utcnow())
    # the period's one row, made if missing (a concurrent maker's insert is skipped), then
    # locked: two makers of one report take turns, and the last one stands
    from crossdock.services.analytics import _insert

    insert = _insert(session)
    await session.execute(
        insert(Report.__table__)
        .values(
            tenant_id=session_tenant(session.sync_session),
            kind=str(kind),
            period_start=start,
            period_end=end,
            timezone=config.zone.key,
            currency=config.currency,
            data={},
            generated_at=now or utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "kind", "period_start"])
    )
    row = await session.scalar(
        select(Report)
        .where(Report.kind == kind, Report.period_start == start)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    row.period_end, row.timezone, row.currency, row.data = end, config.zone.key, config.currency, data
    row.generated_at = now or utcnow()
    await session.flush()
    return row


async def _data(
    session: AsyncSession,
    plugins: Plugins,
    tenant: Tenant | None,
    config: AnalyticsSettings,
    kind: ReportKind,
    start: date,
    end: date,
    now: datetime,
) -> dict[str, Any]:
    flt = Filter(start, end)
    # the chart looks back two weeks for a daily report, eight for a weekly one
    chart = (
        Filter(end - timedelta(days=13), end)
        if kind == ReportKind.DAILY
        else Filter(start - timedelta(weeks=7), end)
    )
    interval = Interval.DAY if kind == ReportKind.DAILY else Interval.WEEK
    _, _, total = await profit(session, flt, [], config=config)
    # the stock table lists a few SKUs: the KPIs read the per-SKU figures of those only
    listed = await _stock_lists(session)
    numbers = await kpis(session, flt, cover_for=[sku for (sku, _), _ in _stock_rows(listed)], config=config)
    charted = await series_of(
        session,
        chart,
        [SeriesMetric.REVENUE, SeriesMetric.PROFIT, SeriesMetric.AD_SPEND],
        interval,
        config=config,
    )
    revenue, profits = charted[SeriesMetric.REVENUE], charted[SeriesMetric.PROFIT]
    estimated = int(total.figures.get("estimated") or 0)
    sales = {
        "key": "sales",
        "title": "Sales and profit",
        "figures": [
            _fig("Revenue", _money(total.money("revenue")), "money"),
            _fig("Profit", _money(total.profit), "money"),
            _fig("Margin", _ratio(total.margin), "percent"),
            _fig("GMV", _money(numbers.gmv), "money"),
            _fig("Orders", numbers.counts.get("orders", 0), "count"),
            _fig("Units", int(total.figures.get("units") or 0), "count"),
            _fig("Average order value", _money(numbers.aov), "money"),
            _fig("Marketplace fees", _money(total.money("marketplace_fees")), "money"),
            _fig("Refunds", _money(total.money("refunds")), "money"),
            _fig("Cancellation rate", _ratio(numbers.rate("cancelled", "orders")), "percent"),
            _fig("Return rate", _ratio(numbers.rate("returned", numbers.placed)), "percent"),
            _fig("Repeat-buyer rate", _ratio(numbers.rate("repeat", "known_buyer")), "percent"),
        ]
        + ([_fig("Note", f"fees estimated for {estimated} order lines", "text")] if estimated else []),
        "chart": {
            "kind": "bar",
            "title": "Revenue and profit by " + ("day" if interval == Interval.DAY else "week"),
            "x": [d.isoformat() for d, _ in revenue],
            "series": [
                {"name": "Revenue", "values": [_money(v) for _, v in revenue]},
                {"name": "Profit", "values": [_money(v) for _, v in profits]},
            ],
            "unit": config.currency,
        },
    }
    chosen, sku_count = await profit_extremes(session, flt, TOP)
    skus = {
        "key": "skus",
        "title": f"Top and bottom {TOP} SKUs by profit" if sku_count > 2 * TOP else "SKUs by profit",
        "table": {
            "columns": [
                {"key": "sku", "label": "SKU", "kind": "text"},
                {"key": "units", "label": "Units", "kind": "count"},
                {"key": "revenue", "label": "Revenue", "kind": "money"},
                {"key": "fees", "label": "Fees", "kind": "money"},
                {"key": "ads", "label": "Ads", "kind": "money"},
                {"key": "cogs", "label": "Cost of goods", "kind": "money"},
                {"key": "profit", "label": "Profit", "kind": "money"},
                {"key": "margin", "label": "Margin", "kind": "percent"},
            ],
            "rows": [_profit_row(r) for r in chosen],
        },
    }
    campaigns = await ad_performance(session, flt, [AdDimension.CAMPAIGN])
    spend_days = charted[SeriesMetric.AD_SPEND]
    ads = {
        "key": "ads",
        "title": "Advertising",
        "figures": [
            _fig("Ad spend", _money(total.money("ad_spend")), "money"),
            _fig("Ad sales", _money(total.money("ad_sales")), "money"),
            _fig(
                "ACoS",
                _ratio((total.money("ad_spend") / total.money("ad_sales")).quantize(Decimal("0.0001")))
                if total.money("ad_sales")
                else None,
                "percent",
            ),
            _fig("TACoS", _ratio(total.tacos), "percent"),
        ],
        "table": {
            "columns": [
                {"key": "campaign", "label": "Campaign", "kind": "text"},
                {"key": "spend", "label": "Spend", "kind": "money"},
                {"key": "sales", "label": "Sales", "kind": "money"},
                {"key": "acos", "label": "ACoS", "kind": "percent"},
                {"key": "roas", "label": "ROAS", "kind": "text"},
                {"key": "currency", "label": "Currency", "kind": "text"},
            ],
            "rows": [
                {
                    "campaign": c.key.get("campaign_id", ""),
                    "spend": _money(c.spend),
                    "sales": _money(c.sales),
                    "acos": _ratio(c.acos),
                    "roas": _ratio(c.roas),
                    "currency": c.currency,
                }
                for c in campaigns[:LIST_LIMIT]
            ],
        },
        "chart": {
            "kind": "line",
            "title": "Ad spend by " + ("day" if interval == Interval.DAY else "week"),
            "x": [d.isoformat() for d, _ in spend_days],
            "series": [{"name": "Ad spend", "values": [_money(v) for _, v in spend_days]}],
            "unit": config.currency,
        },
    }
    sections = [sales, skus, ads, *await _queues(session, plugins, config, numbers, now, listed)]
    name = tenant.name if tenant is not None else ""
    period = start.isoformat() if kind == ReportKind.DAILY else f"{start.isoformat()} to {end.isoformat()}"
    return {
        "title": "Daily operations report" if kind == ReportKind.DAILY else "Weekly operations report",
        "subtitle": f"{name} · {period} ({config.zone.key})",
        "currency": config.currency,
        "generated_at": now.isoformat(),
        "sections": sections,
    }


async def _stock_lists(session: AsyncSession) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(SKUs out of stock, SKUs at or below their low-stock threshold), with what is available."""
    levels = (
        await session.execute(
            select(
                Variant.sku,
                func.sum(StockLevel.on_hand - StockLevel.reserved),
                func.min(StockLevel.low_stock_threshold),
            )
            .join(Variant, Variant.id == StockLevel.variant_id)
            .group_by(Variant.sku)
        )
    ).all()
    out = [(sku, int(a or 0)) for sku, a, _ in levels if int(a or 0) <= 0]
    low = [(sku, int(a or 0)) for sku, a, t in levels if t is not None and 0 < int(a or 0) <= t]
    return out, low


def _stock_rows(
    listed: tuple[list[tuple[str, int]], list[tuple[str, int]]],
) -> list[tuple[tuple[str, int], str]]:
    out, low = listed
    return [*((x, "out") for x in out), *((x, "low") for x in low)][:LIST_LIMIT]


async def _queues(
    session: AsyncSession,
    plugins: Plugins,
    config: AnalyticsSettings,
    numbers: Any,
    now: datetime,
    listed: tuple[list[tuple[str, int]], list[tuple[str, int]]],
) -> list[dict[str, Any]]:
    """What is waiting for someone now: shipments, stock, holds, buyers, exceptions, tax."""
    soon = now + timedelta(hours=24)
    # the statuses as literals: the partial index of open orders by deadline answers both
    open_orders = Order.status.in_(
        bindparam("open_statuses", [str(s) for s in OPEN_STATUSES], expanding=True, literal_execute=True)
    )
    due = (open_orders, Order.ship_by.is_not(None), Order.ship_by <= soon)
    at_risk = (
        await session.execute(
            select(Order.external_id, Order.ship_by, Order.status)
            .where(*due)
            .order_by(Order.ship_by)
            .limit(LIST_LIMIT)
        )
    ).all()
    late_now, due_soon = (
        await session.execute(
            select(func.count().filter(Order.ship_by < now), func.count().filter(Order.ship_by >= now)).where(
                *due
            )
        )
    ).one()
    shipping = {
        "key": "shipping",
        "title": "Late and at-risk shipments",
        "figures": [
            _fig("Late-shipment rate", _ratio(numbers.rate("shipped_late", "shipped")), "percent"),
            _fig("Valid-tracking rate", _ratio(numbers.rate("tracked", "shipped")), "percent"),
            _fig("Late now", int(late_now or 0), "count"),
            _fig("Due within 24 h", int(due_soon or 0), "count"),
        ],
        "table": {
            "columns": [
                {"key": "order", "label": "Order", "kind": "text"},
                {"key": "ship_by", "label": "Ship by", "kind": "text"},
                {"key": "status", "label": "Status", "kind": "text"},
            ],
            "rows": [
                {"order": ext, "ship_by": by.isoformat() if by else "", "status": status}
                for ext, by, status in at_risk
            ],
        },
    }
    out, low = listed
    stock = {
        "key": "stock",
        "title": "Stock-outs and low stock",
        "figures": [
            _fig("Out of stock", len(out), "count"),
            _fig("Low stock", len(low), "count"),
            _fig("Sell-through", _ratio(numbers.sell_through()), "percent"),
        ],
        "table": {
            "columns": [
                {"key": "sku", "label": "SKU", "kind": "text"},
                {"key": "available", "label": "Available", "kind": "count"},
                {"key": "state", "label": "", "kind": "text"},
                {"key": "cover", "label": "Days of cover", "kind": "text"},
            ],
            "rows": [
                {
                    "sku": sku,
                    "available": str(a),
                    "state": state,
                    "cover": str(numbers.days_of_cover(sku) or ""),
                }
                for (sku, a), state in _stock_rows(listed)
            ],
        },
    }
    # what waits, counted in one statement: open holds by reason, open exceptions by kind,
    # conversations awaiting a reply and those of them past the deadline
    awaiting = Conversation.status == ConversationStatus.AWAITING_REPLY
    waits = union_all(
        select(literal("hold"), OrderHold.reason, func.count())
        .where(OrderHold.released_at.is_(None))
        .group_by(OrderHold.reason),
        select(literal("exception"), ShipmentException.kind, func.count())
        .where(ShipmentException.resolved_at.is_(None))
        .group_by(ShipmentException.kind),
        select(literal("waiting"), literal(""), func.count()).select_from(Conversation).where(awaiting),
        select(literal("overdue"), literal(""), func.count())
        .select_from(Conversation)
        .where(awaiting, Conversation.reply_due_at < now),
    )
    holds: Counter[str] = Counter()
    exceptions: Counter[str] = Counter()
    waiting = overdue = 0
    for part, name, n in (await session.execute(waits)).all():
        if part == "hold":
            holds[str(name)] += int(n)
        elif part == "exception":
            exceptions[str(name)] += int(n)
        elif part == "waiting":
            waiting = int(n)
        else:
            overdue = int(n)
    queues = {
        "key": "queues",
        "title": "Waiting for someone",
        "figures": [
            _fig("Open holds", sum(holds.values()), "count"),
            *(_fig(f"Held: {reason}", n, "count") for reason, n in sorted(holds.items())),
            _fig("Unanswered conversations", waiting or 0, "count"),
            _fig("Past the reply deadline", overdue or 0, "count"),
            _fig("Answered within 24 h", _ratio(numbers.on_time_share), "percent"),
            _fig("Shipment exceptions", sum(exceptions.values()), "count"),
            *(_fig(f"Exception: {kind}", n, "count") for kind, n in sorted(exceptions.items())),
        ],
    }
    thresholds = {t.key: t for engine in plugins.tax_engines.values() for t in engine.thresholds()}
    near = []
    for tally in (await session.scalars(select(TaxTally).where(TaxTally.year == now.year))).all():
        threshold = thresholds.get(tally.key)
        if threshold is None or threshold.sales is None or tally.crossed_at is not None:
            continue
        share = tally.sales_amount / threshold.sales.amount if threshold.sales.amount else Decimal(0)
        if share >= NEAR:
            near.append(
                {
                    "key": tally.key,
                    "sales": _money(tally.sales_amount),
                    "threshold": _money(threshold.sales.amount),
                    "share": _ratio(share.quantize(Decimal("0.0001"))),
                    "currency": tally.currency,
                }
            )
    tax = {
        "key": "tax",
        "title": "Tax thresholds near crossing",
        "figures": [_fig("Near crossing", len(near), "count")],
        "table": {
            "columns": [
                {"key": "key", "label": "Threshold", "kind": "text"},
                {"key": "sales", "label": "Sales this year", "kind": "money"},
                {"key": "threshold", "label": "Threshold", "kind": "money"},
                {"key": "share", "label": "Reached", "kind": "percent"},
                {"key": "currency", "label": "Currency", "kind": "text"},
            ],
            "rows": near,
        },
    }
    return [shipping, stock, queues, tax]


def due_reports(
    settings: Mapping[str, Any], config: AnalyticsSettings, now: datetime
) -> list[tuple[ReportKind, date]]:
    """The reports a tenant should have by ``now`` (its local time): yesterday's daily one
    once past ``reports.hour``, and last week's on Mondays."""
    try:
        hour = int((settings.get("reports") or {}).get("hour", 6))
    except (TypeError, ValueError):
        hour = 6
    local = now.astimezone(config.zone)
    if local.hour < hour:
        return []
    yesterday = local_day(now, config.zone) - timedelta(days=1)
    due = [(ReportKind.DAILY, yesterday)]
    if local.weekday() == 0:
        due.append((ReportKind.WEEKLY, yesterday))
    return due


async def reachable_tenants(session: AsyncSession, principal: Any, scope: str | None = None) -> list[Tenant]:
    """The tenants (brands) a caller reaches: an API key's (all of its organization's for an
    ``all_tenants`` key, else those it names), or a staff user's, there holding ``scope``
    (a key's scopes are the same on all its tenants). ``session`` is a system session."""
    from sqlalchemy import and_, or_

    from crossdock.db.models import ApiKey, api_key_tenants

    if principal.user_id is not None:
        from crossdock.services.users import access_of, holds

        access = await access_of(session, principal.user_id, principal.organization_id)
        tenants = (
            await session.scalars(
                select(Tenant).where(Tenant.organization_id == principal.organization_id).order_by(Tenant.id)
            )
        ).all()
        return [
            t
            for t in tenants
            if access.reaches(t.id) and (scope is None or holds(access.scopes_on(t.id), [scope]))
        ]
    stmt = (
        select(Tenant)
        .select_from(ApiKey)
        .outerjoin(api_key_tenants, api_key_tenants.c.api_key_id == ApiKey.id)
        .join(
            Tenant,
            or_(
                and_(ApiKey.all_tenants, Tenant.organization_id == ApiKey.organization_id),
                Tenant.id == api_key_tenants.c.tenant_id,
            ),
        )
        .where(ApiKey.id == principal.api_key_id, ApiKey.revoked_at.is_(None))
        .order_by(Tenant.id)
    )
    return list(dict.fromkeys((await session.scalars(stmt)).all()))


async def agency_report(
    db: Any, plugins: Plugins, principal: Any, kind: ReportKind, day: date, *, now: datetime | None = None
) -> dict[str, Any]:
    """One report across every brand the key reaches: a row per brand (sales, profit, ads,
    the queues), each in its own reporting currency (an agency's brands may report in
    different ones: amounts are never added across currencies), and a chart of each brand's
    revenue and profit."""
    start, end = period_of(kind, day)
    async with db.system() as session:
        brands = await reachable_tenants(session, principal, "analytics:read")
    rows: list[dict[str, Any]] = []
    for brand in brands:
        async with db.tenant(brand.id, brand.slug) as session:
            config = await analytics_settings(session)
            _, _, total = await profit(session, Filter(start, end), [])
            numbers = await kpis(session, Filter(start, end), cover_for=[])
            held = await session.scalar(
                select(func.count()).select_from(OrderHold).where(OrderHold.released_at.is_(None))
            )
            waiting = await session.scalar(
                select(func.count())
                .select_from(Conversation)
                .where(Conversation.status == ConversationStatus.AWAITING_REPLY)
            )
        rows.append(
            {
                "brand": brand.name,
                "currency": config.currency,
                "orders": str(numbers.counts.get("orders", 0)),
                "revenue": _money(total.money("revenue")),
                "profit": _money(total.profit),
                "margin": _ratio(total.margin),
                "ads": _money(total.money("ad_spend")),
                "late": _ratio(numbers.rate("shipped_late", "shipped")),
                "holds": str(held or 0),
                "unanswered": str(waiting or 0),
            }
        )
    currencies = {r["currency"] for r in rows}
    chart = (
        {
            "kind": "bar",
            "title": "Revenue and profit by brand",
            "x": [r["brand"] for r in rows],
            "series": [
                {"name": "Revenue", "values": [r["revenue"] for r in rows]},
                {"name": "Profit", "values": [r["profit"] for r in rows]},
            ],
            "unit": next(iter(currencies)),
        }
        if len(currencies) == 1 and rows
        else None
    )
    period = start.isoformat() if kind == ReportKind.DAILY else f"{start.isoformat()} to {end.isoformat()}"
    section: dict[str, Any] = {
        "key": "brands",
        "title": "Brands",
        "figures": [_fig("Brands", len(rows), "count")],
        "table": {
            "columns": [
                {"key": "brand", "label": "Brand", "kind": "text"},
                {"key": "currency", "label": "Currency", "kind": "text"},
                {"key": "orders", "label": "Orders", "kind": "count"},
                {"key": "revenue", "label": "Revenue", "kind": "money"},
                {"key": "profit", "label": "Profit", "kind": "money"},
                {"key": "margin", "label": "Margin", "kind": "percent"},
                {"key": "ads", "label": "Ad spend", "kind": "money"},
                {"key": "late", "label": "Late shipments", "kind": "percent"},
                {"key": "holds", "label": "Open holds", "kind": "count"},
                {"key": "unanswered", "label": "Unanswered", "kind": "count"},
            ],
            "rows": rows,
        },
    }
    if chart is not None:
        section["chart"] = chart
    data: dict[str, Any] = {
        "title": ("Daily" if kind == ReportKind.DAILY else "Weekly") + " agency report",
        "subtitle": f"{len(rows)} brands · {period}",
        "generated_at": (now or utcnow()).isoformat(),
        "sections": [section],
    }
    if len(currencies) == 1:
        data["currency"] = next(iter(currencies))
    return data
