"""The warehouse-system jobs: pull a warehouse's stock from the system that runs it and
reconcile the levels with it (:mod:`crossdock.services.warehouse_sync`), hourly for every
active account and on demand.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from crossdock.db import utcnow
from crossdock.db.models import Warehouse, WarehouseAccountStatus
from crossdock.db.models import WarehouseAccount as AccountRow
from crossdock.errors import ChannelError
from crossdock.jobs.channel import tenant_slug
from crossdock.jobs.registry import JobContext, periodic
from crossdock.jobs.registry import job as register
from crossdock.providers import WarehouseCapability
from crossdock.services import warehouse_sync as service

__all__ = ["SYNC_EVERY", "warehouse_sync", "warehouse_sync_sweep"]

log = logging.getLogger(__name__)

#: How often every active account's stock is pulled, in seconds.
SYNC_EVERY = 3600


@register
async def warehouse_sync(ctx: JobContext, *, tenant_id: int, warehouse_id: int) -> dict[str, int]:
    """Pull warehouse ``warehouse_id``'s stock from its warehouse system and reconcile.

    The account's credentials are decrypted for the call, with the server's guarded pool
    attached. A ``ChannelError`` (or a plugin no longer installed) marks the account
    ``failing`` with the error and changes no stock; a retryable error is raised again so
    the job system retries it. Success records ``last_synced_at`` and makes the account
    active. Returns the counts: ``lines`` pulled, levels ``changed``, ``unknown`` SKUs,
    ``refused`` lines."""
    slug = await tenant_slug(ctx, tenant_id)
    async with ctx.db.tenant(tenant_id, slug) as session:
        row = await session.scalar(select(AccountRow).where(AccountRow.warehouse_id == warehouse_id))
        if row is None:
            return {"lines": 0, "changed": 0, "unknown": 0, "refused": 0}
        account_id = row.id
        name = row.provider
        provider = ctx.plugins.warehouse_systems.get(name)
        view = service.warehouse_account(row, ctx.vault, tenant=slug or "", http=ctx.http)
    if provider is None or WarehouseCapability.STOCK_PULL not in provider.capabilities:
        missing = ChannelError(f"no installed warehouse plugin {name!r} reports stock", code="NOT_SUPPORTED")
        async with ctx.db.write(tenant_id, slug=slug) as session:
            await service.record_failure(session, account_id, missing)
        return {"lines": 0, "changed": 0, "unknown": 0, "refused": 0}
    try:
        lines = list(await provider.pull_stock(view))
    except ChannelError as exc:
        log.warning("warehouse %s: %s could not be pulled: %s", warehouse_id, provider.name, exc)
        async with ctx.db.write(tenant_id, slug=slug) as session:
            await service.record_failure(session, account_id, exc)
        raise
    async with ctx.units(tenant_id, slug) as uow:
        found = await service.reconcile(uow, warehouse_id, lines, source=provider.name)
        await service.record_synced(uow.session, account_id)
    return {
        "lines": len(lines),
        "changed": sum(1 for d in found if d.applied),
        "unknown": sum(1 for d in found if d.problem == service.Problem.UNKNOWN_SKU),
        "refused": sum(1 for d in found if d.problem not in (None, service.Problem.UNKNOWN_SKU)),
    }


@periodic(lambda settings: SYNC_EVERY)
async def warehouse_sync_sweep(ctx: JobContext) -> int:
    """Every hour, a ``warehouse_sync`` job for each active account of an active warehouse
    whose system is installed and reports stock (one per account and hour)."""
    pulling = {
        name
        for name, system in ctx.plugins.warehouse_systems.items()
        if WarehouseCapability.STOCK_PULL in system.capabilities
    }
    if not pulling:
        return 0
    async with ctx.db.system() as session:
        rows = (
            await session.execute(
                select(AccountRow.tenant_id, AccountRow.warehouse_id)
                .join(Warehouse, Warehouse.id == AccountRow.warehouse_id)
                .where(
                    AccountRow.status == WarehouseAccountStatus.ACTIVE,
                    AccountRow.provider.in_(pulling),
                    Warehouse.active.is_(True),
                )
            )
        ).all()
    bucket = int(utcnow().timestamp()) // SYNC_EVERY
    for tenant_id, warehouse_id in rows:
        await ctx.queue.enqueue(
            "warehouse_sync",
            job_id=f"warehouse_sync:{warehouse_id}:h{bucket}",
            tenant_id=tenant_id,
            warehouse_id=warehouse_id,
        )
    return len(rows)
