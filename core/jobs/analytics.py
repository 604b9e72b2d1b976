"""The analytics jobs: advertising and traffic reports read from the channels, the rollups
kept current (``analytics_refresh``, ``analytics_sweep``), stock per day
(``stock_snapshot``) and the scheduled operations reports (``report_schedule``).

Reports are read by day window: the last ``ads_lookback_days`` days (connection setting,
default 14, Amazon's longest attribution window), every ``report_sync_interval_seconds``.
A channel building its report asynchronously answers "not ready" with a token: the window
and the token are saved on the connection (``sync_state``) and the job continues later
under the token's key, so no worker sleeps waiting for a report and a killed worker resumes
the same report.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from crossdock.db import utcnow
from crossdock.db.models import AnalyticsMark, Connection, ConnectionStatus, Tenant
from crossdock.errors import ChannelError
from crossdock.jobs.channel import open_channel, tenant_slug
from crossdock.jobs.registry import JobContext, periodic
from crossdock.jobs.registry import job as register
from crossdock.providers import AdReportPage, MarketplaceCapability, TrafficPage
from crossdock.services import analytics
from crossdock.services.ads import ingest_ads, ingest_traffic

__all__ = ["analytics_refresh", "analytics_sweep", "schedule_report_syncs", "sync_ads", "sync_traffic"]

log = logging.getLogger(__name__)

#: Days read again each run, when the connection does not say (``ads_lookback_days``).
LOOKBACK_DAYS = 14
#: The most a channel's setting may ask for.
MAX_LOOKBACK_DAYS = 90
#: Orders recomputed per transaction, and transactions per run before it continues.
REFRESH_BATCH = 500
REFRESH_ROUNDS = 20

REPORTS = {"ads": MarketplaceCapability.ADS_READ, "traffic": MarketplaceCapability.TRAFFIC_READ}


@periodic(lambda settings: settings.report_sync_interval_seconds)
async def schedule_report_syncs(ctx: JobContext) -> int:
    """One ``sync_ads``/``sync_traffic`` per active connection whose channel reads them."""
    able = {
        resource: {n for n, p in ctx.plugins.marketplaces.items() if capability in p.capabilities}
        for resource, capability in REPORTS.items()
    }
    channels = set().union(*able.values())
    if not channels:
        return 0
    async with ctx.db.system() as session:
        rows = (
            await session.execute(
                select(Connection.id, Connection.tenant_id, Connection.channel).where(
                    Connection.status == ConnectionStatus.ACTIVE, Connection.channel.in_(channels)
                )
            )
        ).all()
    bucket = int(time.time()) // max(ctx.settings.report_sync_interval_seconds, 1)
    count = 0
    for connection_id, tenant_id, channel in rows:
        for resource, names in able.items():
            if channel in names and await ctx.queue.enqueue(
                f"sync_{resource}",
                job_id=f"sync_{resource}:{connection_id}:{bucket}",
                tenant_id=tenant_id,
                connection_id=connection_id,
            ):
                count += 1
    return count


def _lookback(settings: dict[str, Any]) -> int:
    try:
        days = int(settings.get("ads_lookback_days", LOOKBACK_DAYS))
    except (TypeError, ValueError):
        days = LOOKBACK_DAYS
    return max(1, min(days, MAX_LOOKBACK_DAYS))


async def _sync_report(ctx: JobContext, tenant_id: int, connection_id: int, resource: str) -> dict[str, Any]:
    ch = await open_channel(ctx, tenant_id, connection_id, needs=REPORTS[resource])
    if ch is None:
        return {"skipped": True}
    state = dict(ch.connection.sync_state.get(resource) or {})
    if "page_token" in state:
        day_from, day_to = date.fromisoformat(state["day_from"]), date.fromisoformat(state["day_to"])
    else:
        day_to = utcnow().date()
        day_from = day_to - timedelta(days=_lookback(ch.connection.settings or {}) - 1)
    token: str | None = state.get("page_token")
    method = getattr(ch.provider, "fetch_ads" if resource == "ads" else "fetch_traffic")
    totals: dict[str, int] = {"pages": 0}
    for _ in range(50):
        try:
            page: AdReportPage | TrafficPage = await ch.call(
                functools.partial(method, day_from=day_from, day_to=day_to, page_token=token), record=False
            )
        except ChannelError as exc:
            if exc.retryable:
                raise  # the runner tries again; the window and token stay as they are
            # a report refused for good (no advertising permission, say) is kept on the
            # report's own state: the shop's orders keep syncing
            async with ch.unit_of_work() as uow:
                conn = await uow.session.scalar(select(Connection).where(Connection.id == connection_id))
                assert conn is not None
                conn.sync_state = {
                    **conn.sync_state,
                    resource: {"error": f"{exc.code}: {exc}"[:500], "failed_at": utcnow().isoformat()},
                }
            log.warning("%s report of connection %s refused: %s", resource, connection_id, exc)
            return {"failed": 1}
        async with ch.unit_of_work() as uow:
            conn = await uow.session.scalar(select(Connection).where(Connection.id == connection_id))
            assert conn is not None
            if page.ready:
                if isinstance(page, AdReportPage):
                    counts = (await ingest_ads(uow.session, ch.ctx.plugins, conn, page)).counts()
                else:
                    counts = await ingest_traffic(uow.session, conn, page)
                for key, value in counts.items():
                    totals[key] = totals.get(key, 0) + value
                totals["pages"] += 1
            following = page.next_page_token
            if following:
                new_state: dict[str, Any] = {
                    "day_from": day_from.isoformat(),
                    "day_to": day_to.isoformat(),
                    "page_token": following,
                }
            else:
                new_state = {"synced_at": utcnow().isoformat(), "day_to": day_to.isoformat()}
                conn.last_success_at = utcnow()
            conn.sync_state = {**conn.sync_state, resource: new_state}
            conn.last_sync_at = utcnow()
        if not following:
            return totals
        token = following
        if not page.ready:
            # the channel is building the report: ask again later, in a job keyed by the token
            digest = hashlib.sha1(following.encode()).hexdigest()[:16]
            await ctx.queue.enqueue(
                f"sync_{resource}",
                job_id=f"sync_{resource}:{connection_id}:report:{digest}:{time.time_ns()}",
                defer_by=max(1.0, min(float(page.retry_after or 30), 3600.0)),
                tenant_id=tenant_id,
                connection_id=connection_id,
            )
            totals["pending"] = 1
            return totals
    return totals


@register
async def sync_ads(ctx: JobContext, *, tenant_id: int, connection_id: int) -> dict[str, Any]:
    """Read the connection's advertising report for the last ``ads_lookback_days`` days."""
    return await _sync_report(ctx, tenant_id, connection_id, "ads")


@register
async def sync_traffic(ctx: JobContext, *, tenant_id: int, connection_id: int) -> dict[str, Any]:
    """Read the connection's traffic (sessions, page views) for the last days."""
    return await _sync_report(ctx, tenant_id, connection_id, "traffic")


@register
async def analytics_refresh(ctx: JobContext, *, tenant_id: int) -> int:
    """Recompute the marked orders of a tenant, a batch per transaction; returns how many."""
    slug = await tenant_slug(ctx, tenant_id)
    done = 0
    for _ in range(REFRESH_ROUNDS):
        async with ctx.db.write(tenant_id, slug=slug) as session:
            count = await analytics.refresh(session, ctx.plugins, limit=REFRESH_BATCH)
        done += count
        if count < REFRESH_BATCH:
            return done
    await ctx.queue.enqueue(
        "analytics_refresh",
        job_id=f"analytics_refresh:{tenant_id}:more:{time.time_ns()}",
        tenant_id=tenant_id,
    )
    return done


@periodic(lambda settings: 30)
async def analytics_sweep(ctx: JobContext) -> int:
    """Queue a refresh for every tenant with marks (made outside a unit of work, or whose
    refresh was lost)."""
    async with ctx.db.system() as session:
        tenants = (await session.scalars(select(AnalyticsMark.tenant_id).distinct())).all()
    bucket = int(time.time()) // 30
    for tenant_id in tenants:
        await ctx.queue.enqueue(
            "analytics_refresh", job_id=f"analytics_refresh:{tenant_id}:sweep:{bucket}", tenant_id=tenant_id
        )
    return len(tenants)


@periodic(lambda settings: 900)
async def stock_snapshot(ctx: JobContext) -> int:
    """Each tenant's stock per variant on its own day (stock-out days, sell-through)."""
    from crossdock.services.analytics_read import snapshot_stock

    async with ctx.db.system() as session:
        tenants = (await session.execute(select(Tenant.id, Tenant.slug))).all()
    for tenant_id, slug in tenants:
        async with ctx.db.write(tenant_id, slug=slug) as session:
            await snapshot_stock(session)
    return len(tenants)


@periodic(lambda settings: 900)
async def report_schedule(ctx: JobContext) -> int:
    """Queue each tenant's due reports (:func:`crossdock.services.reports.due_reports`) not
    made yet; one job per tenant, kind and period."""
    from crossdock.db.models import Report
    from crossdock.services.analytics import settings_from
    from crossdock.services.reports import due_reports, period_of

    now = utcnow()
    async with ctx.db.system() as session:
        tenants = (await session.execute(select(Tenant.id, Tenant.settings))).all()
        made = {
            (tenant_id, kind, start)
            for tenant_id, kind, start in (
                await session.execute(
                    select(Report.tenant_id, Report.kind, Report.period_start).where(
                        Report.period_start >= now.date() - timedelta(days=9)
                    )
                )
            ).all()
        }
    queued = 0
    for tenant_id, settings in tenants:
        try:
            config = settings_from(settings or {})
        except Exception:  # a tenant with a broken time zone setting gets no report, others do
            log.warning("tenant %s: cannot schedule reports (time zone setting)", tenant_id)
            continue
        for kind, day in due_reports(settings or {}, config, now):
            start, _ = period_of(kind, day)
            if (tenant_id, str(kind), start) in made:
                continue
            if await ctx.queue.enqueue(
                "report_make",
                job_id=f"report_make:{tenant_id}:{kind}:{start.isoformat()}",
                tenant_id=tenant_id,
                kind=str(kind),
                day=start.isoformat(),
            ):
                queued += 1
    return queued


@register
async def report_make(ctx: JobContext, *, tenant_id: int, kind: str, day: str) -> int:
    """Make (again) one report; returns its id. The figures are brought up to date first."""
    from crossdock.db.models import ReportKind
    from crossdock.services.reports import make_report, report_data

    slug = await tenant_slug(ctx, tenant_id)
    await analytics_refresh(ctx, tenant_id=tenant_id)
    which, when = ReportKind(kind), date.fromisoformat(day)
    async with ctx.db.tenant(tenant_id, slug) as session:  # the figures are read outside the write
        data = await report_data(session, ctx.plugins, which, when)
    async with ctx.db.write(tenant_id, slug=slug) as session:
        row = await make_report(session, ctx.plugins, which, when, data=data)
        return row.id
