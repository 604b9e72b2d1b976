"""The warehouse-system jobs: pull a warehouse's receipts and stock from the system that
runs it, book the receipts in and reconcile the levels (:mod:`crossdock.services.warehouse_sync`),
hourly for every active account and on demand; and announce deliveries to it as ASNs.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from crossdock.db import utcnow
from crossdock.db.models import InboundStatus, Warehouse, WarehouseAccountStatus, WarehouseInbound
from crossdock.db.models import WarehouseAccount as AccountRow
from crossdock.errors import ChannelError
from crossdock.jobs.channel import tenant_slug
from crossdock.jobs.registry import JobContext, periodic
from crossdock.jobs.registry import job as register
from crossdock.providers import WarehouseCapability
from crossdock.services import warehouse_orders
from crossdock.services import warehouse_sync as service

__all__ = [
    "FULFIL_EVERY",
    "RECEIPT_OVERLAP",
    "SYNC_EVERY",
    "warehouse_announce",
    "warehouse_fulfil",
    "warehouse_fulfil_sweep",
    "warehouse_sync",
    "warehouse_sync_sweep",
]

log = logging.getLogger(__name__)

#: How often every active account's stock is pulled, in seconds.
SYNC_EVERY = 3600
#: How often orders are handed to the systems that take them, and their shipments pulled.
FULFIL_EVERY = 300
#: Receipts are pulled again from this long before the last pull began (a receipt the
#: system stamps late is not missed; one pulled twice books nothing twice).
RECEIPT_OVERLAP = timedelta(minutes=10)
_EMPTY = {"lines": 0, "changed": 0, "unknown": 0, "refused": 0, "receipts": 0, "booked": 0}


@register
async def warehouse_sync(ctx: JobContext, *, tenant_id: int, warehouse_id: int) -> dict[str, int]:
    """Pull warehouse ``warehouse_id``'s receipts (when its system reports them) and stock
    from its warehouse system, book the receipts in, then reconcile the levels.

    Receipts come first, so a delivery booked against its purchase order or shipment is
    not also counted as a stocktake. The account's credentials are decrypted for the call,
    with the server's guarded pool attached. A ``ChannelError`` (or a plugin no longer
    installed) marks the account ``failing`` with the error and changes no stock; a
    retryable error is raised again so the job system retries it. Success records
    ``last_synced_at`` and makes the account active. Returns the counts: ``lines`` pulled,
    levels ``changed``, ``unknown`` SKUs, ``refused`` lines, ``receipts`` pulled and units
    ``booked`` from them."""
    slug = await tenant_slug(ctx, tenant_id)
    async with ctx.db.tenant(tenant_id, slug) as session:
        row = await session.scalar(select(AccountRow).where(AccountRow.warehouse_id == warehouse_id))
        if row is None:
            return dict(_EMPTY)
        account_id = row.id
        name = row.provider
        since = row.receipts_since or row.created_at
        provider = ctx.plugins.warehouse_systems.get(name)
        view = service.warehouse_account(row, ctx.vault, tenant=slug or "", http=ctx.http)
    if provider is None or WarehouseCapability.STOCK_PULL not in provider.capabilities:
        missing = ChannelError(f"no installed warehouse plugin {name!r} reports stock", code="NOT_SUPPORTED")
        async with ctx.db.write(tenant_id, slug=slug) as session:
            await service.record_failure(session, account_id, missing)
        return dict(_EMPTY)
    started = utcnow()
    try:
        receipts = (
            list(await provider.pull_receipts(view, since))
            if WarehouseCapability.RECEIPTS_PULL in provider.capabilities
            else []
        )
        lines = list(await provider.pull_stock(view))
    except ChannelError as exc:
        log.warning("warehouse %s: %s could not be pulled: %s", warehouse_id, provider.name, exc)
        async with ctx.db.write(tenant_id, slug=slug) as session:
            await service.record_failure(session, account_id, exc)
        raise
    async with ctx.units(tenant_id, slug) as uow:
        booked = await service.apply_receipts(uow, warehouse_id, receipts, source=provider.name)
        found = await service.reconcile(uow, warehouse_id, lines, source=provider.name)
        await service.record_synced(uow.session, account_id)
        if WarehouseCapability.RECEIPTS_PULL in provider.capabilities:
            await service.record_receipts_pulled(uow.session, account_id, started - RECEIPT_OVERLAP)
    return {
        "lines": len(lines),
        "changed": sum(1 for d in found if d.applied),
        "unknown": sum(1 for d in found if d.problem == service.Problem.UNKNOWN_SKU),
        "refused": sum(1 for d in found if d.problem not in (None, service.Problem.UNKNOWN_SKU)),
        "receipts": len(receipts),
        "booked": sum(outcome.booked for outcome in booked),
    }


@register
async def warehouse_announce(ctx: JobContext, *, tenant_id: int, inbound_id: int) -> str:
    """Announce delivery ``inbound_id`` to the system running its warehouse as an ASN under
    the delivery's reference (a retried push finds the one announced before, so nothing is
    announced twice). Returns the delivery's status afterwards: ``announced``;
    ``not_announced`` when the system takes no ASNs (its receipts still book the delivery
    in); ``failed`` when it refused it (the error kept on the delivery); a retryable error
    counts an attempt and is raised again for the job system to retry. A delivery no longer
    pending is left as it is."""
    slug = await tenant_slug(ctx, tenant_id)
    async with ctx.db.tenant(tenant_id, slug) as session:
        row = await session.scalar(select(WarehouseInbound).where(WarehouseInbound.id == inbound_id))
        if row is None:
            return "gone"
        if row.status != InboundStatus.PENDING:
            return str(row.status)
        reference, warehouse_id = row.reference, row.warehouse_id
        account = await session.scalar(select(AccountRow).where(AccountRow.warehouse_id == row.warehouse_id))
        provider = ctx.plugins.warehouse_systems.get(account.provider) if account is not None else None
        if (
            account is None
            or provider is None
            or WarehouseCapability.INBOUND_PUSH not in provider.capabilities
        ):
            shipment = None
        else:
            shipment = await service.asn_for(session, row)
            view = service.warehouse_account(account, ctx.vault, tenant=slug or "", http=ctx.http)
    if shipment is None or provider is None:
        async with ctx.db.write(tenant_id, slug=slug) as session:
            await service.record_announced(session, inbound_id, None, taken=False)
        return str(InboundStatus.NOT_ANNOUNCED)
    try:
        external_id = await provider.push_inbound(view, shipment)
    except ChannelError as exc:
        log.warning(
            "delivery %s to warehouse %s: %s refused it: %s", reference, warehouse_id, provider.name, exc
        )
        async with ctx.db.write(tenant_id, slug=slug) as session:
            await service.record_refused(session, inbound_id, exc)
        if exc.retryable:
            raise
        return str(InboundStatus.FAILED)
    async with ctx.db.write(tenant_id, slug=slug) as session:
        await service.record_announced(session, inbound_id, external_id, taken=True)
    return str(InboundStatus.ANNOUNCED)


@periodic(lambda settings: SYNC_EVERY)
async def warehouse_sync_sweep(ctx: JobContext) -> int:
    """Every hour, a ``warehouse_sync`` job for each active account of an active warehouse
    whose system is installed and reports stock (one per account and hour), and a
    ``warehouse_announce`` for each delivery still pending (one whose enqueue was lost)."""
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
        pending = (
            await session.execute(
                select(WarehouseInbound.tenant_id, WarehouseInbound.id).where(
                    WarehouseInbound.status == InboundStatus.PENDING
                )
            )
        ).all()
    bucket = int(utcnow().timestamp()) // SYNC_EVERY
    for tenant_id, inbound_id in pending:
        await ctx.queue.enqueue(
            "warehouse_announce",
            job_id=f"warehouse_announce:{inbound_id}:h{bucket}",
            tenant_id=tenant_id,
            inbound_id=inbound_id,
        )
    for tenant_id, warehouse_id in rows:
        await ctx.queue.enqueue(
            "warehouse_sync",
            job_id=f"warehouse_sync:{warehouse_id}:h{bucket}",
            tenant_id=tenant_id,
            warehouse_id=warehouse_id,
        )
    return len(rows)


@register
async def warehouse_fulfil(ctx: JobContext, *, tenant_id: int, warehouse_id: int) -> dict[str, int]:
    """Hand the orders reserved in warehouse ``warehouse_id`` to the system running it, and
    ship those it reports shipped (:mod:`crossdock.services.warehouse_orders`).

    Each order is pushed under its reference (a retried push finds the order handed over
    before); a permanent refusal marks it ``failed`` with the system's message, a retryable
    one leaves it pending and, once the others are pushed, is raised again so the job system
    retries. Shipments are pulled (when the system reports them) from a little before the
    last pull began. Returns the counts: ``handed_over``, ``failed``, ``shipped``."""
    counts = {"handed_over": 0, "failed": 0, "shipped": 0}
    slug = await tenant_slug(ctx, tenant_id)
    async with ctx.db.tenant(tenant_id, slug) as session:
        account = await session.scalar(select(AccountRow).where(AccountRow.warehouse_id == warehouse_id))
        if account is None:
            return counts
        provider = ctx.plugins.warehouse_systems.get(account.provider)
        view = service.warehouse_account(account, ctx.vault, tenant=slug or "", http=ctx.http)
        since = account.shipments_since or account.created_at
        account_id = account.id
    if provider is None or WarehouseCapability.ORDER_PUSH not in provider.capabilities:
        return counts
    async with ctx.units(tenant_id, slug) as uow:
        pending = await warehouse_orders.claim(uow, warehouse_id)
        outbound = [(row.id, await warehouse_orders.outbound_for(uow.session, row)) for row in pending]
    later: ChannelError | None = None
    for row_id, order in outbound:
        try:
            external_id = await provider.push_order(view, order)
        except ChannelError as exc:
            log.warning(
                "order %s to warehouse %s: %s refused it: %s",
                order.reference,
                warehouse_id,
                provider.name,
                exc,
            )
            async with ctx.db.write(tenant_id, slug=slug) as session:
                await warehouse_orders.record_refused(session, row_id, exc)
            if exc.retryable:
                later = later or exc
            else:
                counts["failed"] += 1
            continue
        async with ctx.db.write(tenant_id, slug=slug) as session:
            await warehouse_orders.record_handed_over(session, row_id, external_id)
        counts["handed_over"] += 1
    if WarehouseCapability.SHIPMENTS_PULL in provider.capabilities:
        started = utcnow()
        shipped = list(await provider.pull_shipments(view, since))
        async with ctx.units(tenant_id, slug) as uow:
            outcomes = await warehouse_orders.apply_shipments(uow, warehouse_id, shipped)
            row = await uow.session.scalar(select(AccountRow).where(AccountRow.id == account_id))
            if row is not None:
                row.shipments_since = started - RECEIPT_OVERLAP
        counts["shipped"] = sum(1 for o in outcomes if o.problem is None)
    if later is not None:
        raise later
    return counts


@periodic(lambda settings: FULFIL_EVERY)
async def warehouse_fulfil_sweep(ctx: JobContext) -> int:
    """Every five minutes, a ``warehouse_fulfil`` job for each active account of an active
    warehouse whose system takes orders (one per account and five minutes)."""
    taking = {
        name
        for name, system in ctx.plugins.warehouse_systems.items()
        if WarehouseCapability.ORDER_PUSH in system.capabilities
    }
    if not taking:
        return 0
    async with ctx.db.system() as session:
        rows = (
            await session.execute(
                select(AccountRow.tenant_id, AccountRow.warehouse_id)
                .join(Warehouse, Warehouse.id == AccountRow.warehouse_id)
                .where(
                    AccountRow.status == WarehouseAccountStatus.ACTIVE,
                    AccountRow.provider.in_(taking),
                    Warehouse.active.is_(True),
                )
            )
        ).all()
    bucket = int(utcnow().timestamp()) // FULFIL_EVERY
    for tenant_id, warehouse_id in rows:
        await ctx.queue.enqueue(
            "warehouse_fulfil",
            job_id=f"warehouse_fulfil:{warehouse_id}:b{bucket}",
            tenant_id=tenant_id,
            warehouse_id=warehouse_id,
        )
    return len(rows)
