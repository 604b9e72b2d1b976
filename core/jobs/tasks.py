"""The job functions: the per-connection order sync and its scheduler."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from crossdock.db import utcnow
from crossdock.db.models import Connection, ConnectionStatus, Tenant
from crossdock.errors import ChannelError
from crossdock.jobs.registry import JobContext, periodic
from crossdock.jobs.registry import job as register
from crossdock.providers import MarketplaceCapability
from crossdock.services.connections import channel_connection
from crossdock.services.orders import ingest_orders
from sqlalchemy import select

__all__ = ["schedule_syncs", "sync_orders"]

log = logging.getLogger(__name__)

#: Re-read this much before the cursor: marketplaces index updates with some delay.
OVERLAP = timedelta(minutes=5)
#: A new connection's first sync reaches this far back.
INITIAL_BACKFILL = timedelta(days=30)


@periodic(lambda settings: settings.sync_interval_seconds)
async def schedule_syncs(ctx: JobContext) -> int:
    """Enqueue one order sync per active connection whose channel can sync orders.

    The job id carries the time bucket, so any number of schedulers (one per worker or
    server process) enqueue each sync once per interval.
    """
    syncable = {
        name
        for name, provider in ctx.plugins.marketplaces.items()
        if MarketplaceCapability.ORDERS_SYNC in provider.capabilities
    }
    if not syncable:
        return 0
    async with ctx.db.system() as session:
        rows = (
            await session.execute(
                select(Connection.id, Connection.tenant_id).where(
                    Connection.status == ConnectionStatus.ACTIVE, Connection.channel.in_(syncable)
                )
            )
        ).all()
    bucket = int(utcnow().timestamp()) // max(ctx.settings.sync_interval_seconds, 1)
    count = 0
    for connection_id, tenant_id in rows:
        if await ctx.queue.enqueue(
            "sync_orders",
            job_id=f"sync_orders:{connection_id}:{bucket}",
            tenant_id=tenant_id,
            connection_id=connection_id,
        ):
            count += 1
    return count


@register
async def sync_orders(ctx: JobContext, *, tenant_id: int, connection_id: int) -> dict[str, Any]:
    """Pull orders updated since the connection's cursor, one committed page at a time.

    Each page is ingested and the cursor/page token saved in the same transaction, so a
    worker killed mid-run resumes from the last committed page and loses nothing; ingestion
    is idempotent, so re-reading the overlap duplicates nothing.
    """
    async with ctx.db.system() as session:
        slug = await session.scalar(select(Tenant.slug).where(Tenant.id == tenant_id))
    async with ctx.db.tenant(tenant_id, slug) as session:
        conn = await session.scalar(select(Connection).where(Connection.id == connection_id))
        if conn is None or conn.status != ConnectionStatus.ACTIVE:
            return {"skipped": True}
        provider = ctx.plugins.marketplace(conn.channel)
        view = channel_connection(session, conn, ctx.vault)
        state = dict(conn.sync_state.get("orders") or {})
    cursor = datetime.fromisoformat(state["cursor"]) if "cursor" in state else utcnow() - INITIAL_BACKFILL
    run_started = datetime.fromisoformat(state["run_started"]) if "run_started" in state else utcnow()
    page_token: str | None = state.get("page_token")
    totals = {"created": 0, "updated": 0, "ignored": 0, "pages": 0}
    while True:
        try:
            page = await provider.fetch_orders(view, updated_since=cursor - OVERLAP, page_token=page_token)
        except ChannelError as exc:
            await _record_error(ctx, tenant_id, slug, connection_id, exc)
            raise
        async with ctx.db.write(tenant_id, slug=slug) as session:
            conn = await session.scalar(select(Connection).where(Connection.id == connection_id))
            assert conn is not None
            result = await ingest_orders(session, ctx.plugins, conn, page.orders)
            page_token = page.next_page_token
            now = utcnow()
            if page_token:
                new_state = {
                    "cursor": cursor.isoformat(),
                    "run_started": run_started.isoformat(),
                    "page_token": page_token,
                }
            else:
                new_state = {"cursor": run_started.isoformat()}
                conn.last_success_at = now  # last_error stays, with its time, as history
            conn.sync_state = {**conn.sync_state, "orders": new_state}
            conn.last_sync_at = now
        totals["created"] += result.created
        totals["updated"] += result.updated
        totals["ignored"] += result.ignored
        totals["pages"] += 1
        if not page_token:
            return totals


async def _record_error(
    ctx: JobContext, tenant_id: int, slug: str | None, connection_id: int, exc: ChannelError
) -> None:
    async with ctx.db.write(tenant_id, slug=slug) as session:
        conn = await session.scalar(select(Connection).where(Connection.id == connection_id))
        if conn is None:
            return
        now = utcnow()
        conn.last_error = f"{exc.code}: {exc.message}"
        conn.last_error_at = now
        if exc.retry_after:
            conn.throttled_until = now + timedelta(seconds=exc.retry_after)
        if not exc.retryable:
            conn.status = ConnectionStatus.FAILED
            log.warning("connection %s failed permanently: %s", connection_id, exc.message)
