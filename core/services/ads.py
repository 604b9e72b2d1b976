"""Advertising and traffic as the channels report them, stored and added to the rollups.

A report row is kept by its key (``(level, day, campaign, ad group, SKU, target, search
term)``; traffic by ``(day, SKU)``): a re-import replaces the figures and moves the rollup
by the difference only, so reading a day again (the channel revises its attribution for
days) never counts anything twice. What an advertised SKU cost goes to the SKU's daily
rollup from the ``PRODUCT`` rows, converted to the reporting currency at the reference
rate of the day; the shop's traffic (rows without a SKU) to the connection's daily rollup.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db.models import (
    AdCampaignRow,
    AdMetricRow,
    AnalyticsSkuDaily,
    Connection,
    TrafficRow,
)
from crossdock.errors import UserError
from crossdock.plugins import Plugins
from crossdock.providers import AdLevel, AdReportPage, TrafficPage
from crossdock.services.analytics import PLACES, analytics_settings, bump
from crossdock.services.fx import DayRates, rates_on

__all__ = ["AdCounts", "ingest_ads", "ingest_traffic"]

#: what a report may claim per row before it is refused as absurd
MAX_COUNT = 10**12
MAX_AMOUNT = Decimal("1e12")


@dataclass
class AdCounts:
    campaigns: int = 0
    rows: int = 0
    changed: int = 0
    skipped: int = 0

    def counts(self) -> dict[str, int]:
        return {
            "campaigns": self.campaigns,
            "rows": self.rows,
            "changed": self.changed,
            "skipped": self.skipped,
        }


def _check(value: int, name: str) -> int:
    if not 0 <= int(value) <= MAX_COUNT:
        raise UserError(f"{name} {value} is out of range", field=name, code="INVALID_REPORT")
    return int(value)


def _amount(value: Decimal, name: str) -> Decimal:
    if not value.is_finite() or abs(value) > MAX_AMOUNT:
        raise UserError(f"{name} {value} is out of range", field=name, code="INVALID_REPORT")
    return value


async def _lock(session: AsyncSession, conn: Connection) -> None:
    await session.execute(select(Connection.id).where(Connection.id == conn.id).with_for_update())


class _Rates:
    def __init__(self, session: AsyncSession, plugins: Plugins, base: str) -> None:
        self.session, self.plugins, self.base = session, plugins, base
        self.days: dict[date, DayRates] = {}

    async def to_base(self, amount: Decimal, currency: str, day: date) -> Decimal | None:
        if currency == self.base or not amount:
            return amount
        if day not in self.days:
            self.days[day] = await rates_on(self.session, self.plugins, day)
        try:
            return (amount * self.days[day].rate(currency, self.base)).quantize(PLACES)
        except UserError:
            return None


async def ingest_ads(
    session: AsyncSession, plugins: Plugins, conn: Connection, page: AdReportPage
) -> AdCounts:
    """Store one page of an advertising report (campaigns and metric rows), under the
    connection's row lock: two syncs of one shop storing the same rows take turns, so each
    moves the rollups by the difference from what the other stored, never twice."""
    await _lock(session, conn)
    counts = AdCounts()
    config = await analytics_settings(session)
    if page.campaigns:
        stored = {
            c.external_id: c
            for c in (
                await session.scalars(
                    select(AdCampaignRow).where(
                        AdCampaignRow.connection_id == conn.id,
                        AdCampaignRow.external_id.in_([c.external_id for c in page.campaigns]),
                    )
                )
            ).all()
        }
        for campaign in page.campaigns:
            row = stored.get(campaign.external_id)
            if row is None:
                row = AdCampaignRow(connection_id=conn.id, external_id=campaign.external_id)
                session.add(row)
                stored[campaign.external_id] = row
            budget = campaign.daily_budget or campaign.total_budget
            row.name = campaign.name[:255]
            row.ad_type = str(campaign.ad_type)
            row.state = str(campaign.state)
            row.currency = budget.currency if budget else conn.currency
            row.daily_budget = (
                _amount(campaign.daily_budget.amount, "dailyBudget") if campaign.daily_budget else None
            )
            row.total_budget = (
                _amount(campaign.total_budget.amount, "totalBudget") if campaign.total_budget else None
            )
            row.starts_on, row.ends_on = campaign.starts_on, campaign.ends_on
            counts.campaigns += 1
    if not page.metrics:
        return counts

    def key_of(m: Any) -> tuple[str, date, str, str, str, str, str]:
        return (
            str(m.level),
            m.day,
            m.campaign_id,
            m.ad_group_id or "",
            m.sku or "",
            (m.target or "")[:255],
            (m.search_term or "")[:255],
        )

    incoming: dict[tuple[str, date, str, str, str, str, str], Any] = {}
    for metric in page.metrics:
        incoming[key_of(metric)] = metric  # a page naming one row twice: the last one wins
    columns = (
        AdMetricRow.level,
        AdMetricRow.day,
        AdMetricRow.campaign_id,
        AdMetricRow.ad_group_id,
        AdMetricRow.sku,
        AdMetricRow.target,
        AdMetricRow.search_term,
    )
    stored_rows: dict[tuple[Any, ...], AdMetricRow] = {}
    keys = list(incoming)
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        for found in (
            await session.scalars(
                select(AdMetricRow).where(AdMetricRow.connection_id == conn.id, tuple_(*columns).in_(chunk))
            )
        ).all():
            stored_rows[
                (
                    found.level,
                    found.day,
                    found.campaign_id,
                    found.ad_group_id,
                    found.sku,
                    found.target,
                    found.search_term,
                )
            ] = found
    rates = _Rates(session, plugins, config.currency)
    changes: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(dict)
    for key, metric in incoming.items():
        counts.rows += 1
        spend = _amount(metric.spend.amount, "spend")
        sales = _amount(metric.sales.amount, "sales") if metric.sales is not None else Decimal(0)
        currency = metric.spend.currency
        if metric.sales is not None and metric.sales.currency != currency:
            raise UserError(
                "spend and sales of one row must share a currency", field="sales", code="INVALID_REPORT"
            )
        new: dict[str, Any] = {
            "impressions": _check(metric.impressions, "impressions"),
            "clicks": _check(metric.clicks, "clicks"),
            "orders": _check(metric.orders, "orders"),
            "units": _check(metric.units, "units"),
            "spend": spend,
            "sales": sales,
        }
        metric_row = stored_rows.get(key)
        old: dict[str, Any] | None = (
            {name: getattr(metric_row, name) for name in new} | {"currency": metric_row.currency}
            if metric_row is not None
            else None
        )
        if old is not None and all(old[name] == new[name] for name in new) and old["currency"] == currency:
            continue
        if metric_row is None:
            metric_row = AdMetricRow(
                connection_id=conn.id,
                level=key[0],
                day=key[1],
                campaign_id=key[2],
                ad_group_id=key[3],
                sku=key[4],
                target=key[5],
                search_term=key[6],
            )
            session.add(metric_row)
        metric_row.target_kind = str(metric.target_kind) if metric.target_kind else None
        metric_row.match_type = metric.match_type
        for name, value in new.items():
            setattr(metric_row, name, value)
        metric_row.currency = currency
        counts.changed += 1
        if metric.level != AdLevel.PRODUCT or not metric.sku:
            continue
        delta: dict[str, Any] = {}
        for sign, figures, cur in ((-1, old, old["currency"] if old else currency), (1, new, currency)):
            if figures is None:
                continue
            spend_base = await rates.to_base(figures["spend"], cur, metric.day)
            sales_base = await rates.to_base(figures["sales"], cur, metric.day)
            if spend_base is None or sales_base is None:
                counts.skipped += 1
                continue
            for column, value in (
                ("ad_spend", spend_base),
                ("ad_sales", sales_base),
                ("ad_orders", figures["orders"]),
                ("ad_clicks", figures["clicks"]),
                ("ad_impressions", figures["impressions"]),
            ):
                delta[column] = delta.get(column, 0) + sign * value
        target = changes[(metric.day, conn.id, metric.sku)]
        for column, value in delta.items():
            target[column] = target.get(column, 0) + value
    await session.flush()
    await bump(session, AnalyticsSkuDaily, ("day", "connection_id", "sku"), changes, config.currency)
    return counts


async def ingest_traffic(session: AsyncSession, conn: Connection, page: TrafficPage) -> dict[str, int]:
    """Store one page of traffic rows (under the connection's row lock, as
    :func:`ingest_ads`); the rollups move by the difference."""
    await _lock(session, conn)
    config = await analytics_settings(session)
    incoming = {(m.day, m.sku or ""): m for m in page.metrics}
    if not incoming:
        return {"rows": 0, "changed": 0}
    stored = {
        (r.day, r.sku): r
        for r in (
            await session.scalars(
                select(TrafficRow).where(
                    TrafficRow.connection_id == conn.id,
                    tuple_(TrafficRow.day, TrafficRow.sku).in_(list(incoming)),
                )
            )
        ).all()
    }
    sku_changes: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(dict)
    day_changes: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(dict)
    changed = 0
    for key, metric in incoming.items():
        sessions, views = _check(metric.sessions, "sessions"), _check(metric.page_views, "pageViews")
        row = stored.get(key)
        old = (row.sessions, row.page_views) if row is not None else (0, 0)
        if row is None:
            row = TrafficRow(connection_id=conn.id, day=key[0], sku=key[1])
            session.add(row)
        elif (
            old == (sessions, views)
            and row.orders == metric.orders
            and row.units_ordered == metric.units_ordered
        ):
            continue
        row.sessions, row.page_views = sessions, views
        row.units_ordered = (
            _check(metric.units_ordered, "unitsOrdered") if metric.units_ordered is not None else None
        )
        row.orders = _check(metric.orders, "orders") if metric.orders is not None else None
        row.sales = _amount(metric.sales.amount, "sales") if metric.sales is not None else None
        row.currency = metric.sales.currency if metric.sales is not None else None
        changed += 1
        delta = {"sessions": sessions - old[0], "page_views": views - old[1]}
        if key[1]:
            sku_changes[(key[0], conn.id, key[1])] = delta
        else:
            day_changes[(key[0], conn.id)] = delta
    await session.flush()
    await bump(
        session,
        AnalyticsSkuDaily,
        ("day", "connection_id", "sku"),
        sku_changes,
        config.currency,
        daily=day_changes,
    )
    return {"rows": len(incoming), "changed": changed}
