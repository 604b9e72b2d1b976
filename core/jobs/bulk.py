"""Bulk export and usage jobs (:mod:`crossdock.services.bulk` says how an export is written
and resumed, :mod:`crossdock.services.usage` how usage is counted).

- ``bulk_export_run`` claims one export and writes it page by page, a part per page, the
  cursor recorded with each part; a second copy finds the claim held and does nothing;
- ``bulk_export_sweep`` (periodic, every minute) releases the claims of dead workers and
  queues every export created or running that no live claim holds (a lost job, a killed
  worker): it resumes after its cursor;
- ``bulk_export_purge`` (periodic, hourly) deletes the files and rows of exports finished
  more than ``bulk_retention_days`` ago;
- ``usage_snapshot`` (periodic, hourly) records each tenant's active listings as its
  month's peak when it is one.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from crossdock.db import utcnow
from crossdock.db.models import BulkExportErrorCode, Tenant, UsageDelta
from crossdock.jobs.channel import tenant_slug
from crossdock.jobs.registry import JobContext, periodic
from crossdock.jobs.registry import job as register
from crossdock.services import bulk, usage
from crossdock.storage import StorageError

__all__ = ["bulk_export_purge", "bulk_export_run", "bulk_export_sweep", "usage_compact", "usage_snapshot"]

log = logging.getLogger(__name__)

SWEEP_SECONDS = 60
PURGE_SECONDS = 3600
SNAPSHOT_SECONDS = 3600


def _retention(ctx: JobContext) -> timedelta:
    return timedelta(days=ctx.settings.bulk_retention_days)


@register
async def bulk_export_run(
    ctx: JobContext, *, tenant_id: int, export_id: int, page_size: int = bulk.PAGE
) -> str:
    """Write one export to its end (or until its claim is lost); returns how it ended:
    ``completed``, ``held`` (another worker has it, or it is finished), ``lost`` (canceled
    or taken over meanwhile) or ``failed`` (released for the sweep, or given up)."""
    slug = await tenant_slug(ctx, tenant_id)
    retention = _retention(ctx)
    async with ctx.db.write(tenant_id, slug=slug) as session:
        held = await bulk.claim(session, export_id, retention=retention)
    if held is None:
        return "held"
    try:
        while True:
            async with ctx.db.tenant(tenant_id, slug) as session:
                page = await bulk.read_page(
                    session,
                    held.kind,
                    held.filter,
                    after=held.cursor,
                    through=held.through_id,
                    limit=page_size,
                )
            if page.roots == 0:
                break
            key = bulk.part_key(tenant_id, export_id, held.attempt, held.seq + 1)
            await ctx.storage.put(key, page.data, bulk.CONTENT_TYPE)
            async with ctx.db.write(tenant_id, slug=slug) as session:
                recorded = await bulk.record_part(session, held, key, page)
            if not recorded:
                await ctx.storage.delete(key)  # never part of the file
                return "lost"
            held.seq += 1
            held.cursor = page.last_id
            last = page.roots < page_size
            del page  # one page in memory: not this one while the next is read
            if last:
                break
        async with ctx.db.write(tenant_id, slug=slug) as session:
            stale = await bulk.complete(session, held, retention=retention)
    except Exception as exc:
        code = (
            BulkExportErrorCode.STORAGE_UNAVAILABLE
            if isinstance(exc, StorageError)
            else BulkExportErrorCode.INTERNAL_ERROR
        )
        log.exception("bulk export %s stopped at cursor %s", export_id, held.cursor)
        async with ctx.db.write(tenant_id, slug=slug) as session:
            await bulk.record_failure(
                session, held, code, str(exc) or type(exc).__name__, retention=retention
            )
        return "failed"
    if stale is None:
        return "lost"
    for key in stale:
        await ctx.storage.delete(key)
    return "completed"


@periodic(lambda settings: SWEEP_SECONDS)
async def bulk_export_sweep(ctx: JobContext, *, now: datetime | None = None) -> int:
    """Queue every export created or running that no live claim holds; returns how many."""
    async with ctx.db.write(system=True) as session:
        due = await bulk.sweep(session, retention=_retention(ctx), now=now)
    queued = 0
    for tenant_id, export_id, attempts in due:
        if await ctx.queue.enqueue(
            "bulk_export_run",
            job_id=f"bulk_export_run:{export_id}:{attempts}",
            tenant_id=tenant_id,
            export_id=export_id,
        ):
            queued += 1
    return queued


@periodic(lambda settings: PURGE_SECONDS)
async def bulk_export_purge(ctx: JobContext, *, now: datetime | None = None) -> int:
    """Delete the exports past their retention: files first (a failure leaves the row, and
    the next run deletes them again), then the rows. Returns the exports purged."""
    purged = 0
    while True:
        async with ctx.db.system() as session:
            rows = await bulk.expired(session, now=now or utcnow())
        if not rows:
            return purged
        for row in rows:
            for key in bulk.file_keys(row):
                await ctx.storage.delete(key)
        async with ctx.db.write(system=True) as session:
            purged += await bulk.forget(session, [r.id for r in rows])


@periodic(lambda settings: SNAPSHOT_SECONDS)
async def usage_snapshot(ctx: JobContext, *, now: datetime | None = None) -> int:
    """Record each tenant's active listings as its month's peak; returns the tenants seen."""
    async with ctx.db.system() as session:
        tenants = (await session.execute(select(Tenant.id, Tenant.slug).order_by(Tenant.id))).all()
    for tenant_id, slug in tenants:
        async with ctx.db.write(tenant_id, slug=slug) as session:
            await usage.snapshot_listings(session, now=now)
    return len(tenants)


#: How often the usage deltas are added into the monthly counters (seconds).
COMPACT_SECONDS = 300


@periodic(lambda settings: COMPACT_SECONDS)
async def usage_compact(ctx: JobContext) -> int:
    """Add every tenant's usage deltas into its monthly counters (a read adds the deltas
    not compacted yet, so this only keeps them few); returns the deltas taken."""
    async with ctx.db.system() as session:
        tenants = (
            await session.execute(
                select(Tenant.id, Tenant.slug).where(Tenant.id.in_(select(UsageDelta.tenant_id).distinct()))
            )
        ).all()
    taken = 0
    for tenant_id, slug in tenants:
        while True:
            async with ctx.db.write(tenant_id, slug=slug) as session:
                n = await usage.compact(session)
            taken += n
            if n < usage.COMPACT_BATCH:
                break
    return taken
