"""Tracking jobs: the periodic sweep, the poll of one carrier account, the buyer notice.

:func:`tracking_sweep` queues one :func:`track_account` per carrier account with active
shipments (shipped, not delivered or cancelled), with a job id per interval so any number
of schedulers queue it once. :func:`track_account` walks that account's active shipments
least recently checked first, in the provider's batches (``track_batch`` numbers a call),
through :func:`crossdock.jobs.carrier.open_carrier` (the account's token buckets: the
provider waits on ``account.throttle(operation)``). Scans already stored are recognised
before any write (one read per batch), so a poll that brings nothing new costs one read
and one bulk update per batch; a result with news is recorded in its own short
transaction. Then the sweep-made exceptions (``no_scan``, ``delayed``) are raised for the
batch. :func:`exception_notice` tells the buyer, at most once per exception.
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, tuple_, update

from crossdock.db import utcnow
from crossdock.db.models import (
    CarrierAccount,
    CarrierAccountStatus,
    Shipment,
    ShipmentPackage,
    TrackingEventRow,
)
from crossdock.errors import ChannelError, NotSupported
from crossdock.jobs.carrier import open_carrier
from crossdock.jobs.channel import open_channel, tenant_slug
from crossdock.jobs.registry import JobContext, periodic
from crossdock.jobs.registry import job as register
from crossdock.providers import CarrierCapability, TrackingResult
from crossdock.services.tracking import (
    claim_notice,
    fingerprint,
    raise_sweep_exceptions,
    record_notice_failure,
    record_notice_sent,
    record_tracking,
    release_notice,
    resume_notice,
    tracked,
)

__all__ = ["MAX_BATCHES_PER_RUN", "exception_notice", "track_account", "tracking_sweep"]

log = logging.getLogger(__name__)

#: A run polls at most this many batches, then queues its continuation.
MAX_BATCHES_PER_RUN = 400


@periodic(lambda settings: settings.tracking_interval_seconds)
async def tracking_sweep(ctx: JobContext) -> int:
    """Queue one ``track_account`` per active carrier account with shipments on their way."""
    async with ctx.db.system() as session:
        rows = (
            await session.execute(
                select(Shipment.carrier_account_id, Shipment.tenant_id)
                .distinct()
                .join(CarrierAccount, CarrierAccount.id == Shipment.carrier_account_id)
                .where(tracked(), CarrierAccount.status == CarrierAccountStatus.ACTIVE)
            )
        ).all()
    bucket = int(utcnow().timestamp()) // max(ctx.settings.tracking_interval_seconds, 1)
    count = 0
    for account_id, tenant_id in rows:
        if await ctx.queue.enqueue(
            "track_account",
            job_id=f"track_account:{account_id}:{bucket}",
            tenant_id=tenant_id,
            account_id=account_id,
        ):
            count += 1
    return count


async def _numbers(session: Any, shipments: list[tuple[int, str | None]]) -> dict[int, set[str]]:
    """Each shipment's tracking numbers: its packages', else its own."""
    ids = [sid for sid, _ in shipments]
    by_shipment: dict[int, set[str]] = defaultdict(set)
    for sid, tn in (
        await session.execute(
            select(ShipmentPackage.shipment_id, ShipmentPackage.tracking_number).where(
                ShipmentPackage.shipment_id.in_(ids), ShipmentPackage.tracking_number.is_not(None)
            )
        )
    ).all():
        if tn:
            by_shipment[sid].add(tn)
    for sid, tn in shipments:
        if not by_shipment.get(sid) and tn:
            by_shipment[sid].add(tn)
    return by_shipment


async def _known(session: Any, pairs: list[tuple[int, str]]) -> set[tuple[int, str]]:
    if not pairs:
        return set()
    rows = await session.execute(
        select(TrackingEventRow.shipment_id, TrackingEventRow.fingerprint).where(
            tuple_(TrackingEventRow.shipment_id, TrackingEventRow.fingerprint).in_(pairs)
        )
    )
    return {(sid, fp) for sid, fp in rows.all()}


@register
async def track_account(ctx: JobContext, *, tenant_id: int, account_id: int) -> dict[str, int]:
    """Poll the carrier for one account's active shipments, least recently checked first."""
    totals = {"checked": 0, "recorded": 0, "added": 0, "exceptions": 0, "batches": 0}
    slug = await tenant_slug(ctx, tenant_id)
    try:
        carrier = await open_carrier(ctx, tenant_id, account_id, slug=slug)
    except NotSupported:
        log.info("carrier account %s: no plugin for its carrier; not tracked", account_id)
        return totals
    if carrier is None:
        return totals
    polls = CarrierCapability.TRACKING in carrier.provider.capabilities
    size = max(1, int(getattr(carrier.provider, "track_batch", 20) or 20)) if polls else 500
    started = utcnow()
    last: tuple[datetime | None, int] | None = None
    while totals["batches"] < MAX_BATCHES_PER_RUN:
        async with ctx.db.tenant(tenant_id, slug) as session:
            stmt = (
                select(Shipment.id, Shipment.tracking_number, Shipment.tracking_checked_at)
                .where(
                    tracked(),
                    Shipment.carrier_account_id == account_id,
                    or_(Shipment.tracking_checked_at.is_(None), Shipment.tracking_checked_at < started),
                )
                .order_by(Shipment.tracking_checked_at.asc().nulls_first(), Shipment.id)
                .limit(size)
            )
            batch = (await session.execute(stmt)).all()
            if not batch:
                break
            numbers = await _numbers(session, [(sid, tn) for sid, tn, _ in batch])
        ids = [sid for sid, _, _ in batch]
        if last is not None and (batch[-1][2], batch[-1][0]) == last:
            break  # nothing moved: never loop on the same rows
        last = (batch[-1][2], batch[-1][0])
        totals["batches"] += 1
        if polls:
            wanted = sorted({n for ns in numbers.values() for n in ns})
            holders: dict[str, list[int]] = defaultdict(list)
            for sid, ns in numbers.items():
                for n in ns:
                    holders[n].append(sid)
            results: list[TrackingResult] = []
            if wanted:
                try:
                    results = list(
                        await carrier.call(functools.partial(carrier.provider.track, tracking_numbers=wanted))
                    )
                except ChannelError as exc:
                    if exc.retryable:
                        raise
                    log.warning("carrier account %s: tracking refused: %s", account_id, exc.message)
                    break
            await _record_batch(ctx, tenant_id, slug, results, holders, totals)
        async with ctx.units(tenant_id, slug) as uow:
            await uow.session.execute(
                update(Shipment).where(Shipment.id.in_(ids)).values(tracking_checked_at=utcnow())
            )
            totals["exceptions"] += len(await raise_sweep_exceptions(uow, ids))
        totals["checked"] += len(ids)
        if len(batch) < size:
            break
    else:
        await ctx.queue.enqueue(
            "track_account",
            job_id=f"track_account:{account_id}:more:{int(started.timestamp())}",
            tenant_id=tenant_id,
            account_id=account_id,
        )
    return totals


async def _record_batch(
    ctx: JobContext,
    tenant_id: int,
    slug: str | None,
    results: list[TrackingResult],
    holders: dict[str, list[int]],
    totals: dict[str, int],
) -> None:
    """Record the results with news, each in its own transaction."""
    work = [(sid, r) for r in results for sid in holders.get(r.tracking_number, ())]
    if not work:
        return
    pairs = [(sid, fingerprint(r.tracking_number, e)) for sid, r in work for e in r.events]
    async with ctx.db.tenant(tenant_id, slug) as session:
        known = await _known(session, pairs)
        estimates = dict(
            (
                await session.execute(
                    select(Shipment.id, Shipment.estimated_delivery).where(
                        Shipment.id.in_(sorted({sid for sid, _ in work}))
                    )
                )
            ).all()
        )
    for sid, result in work:
        news = any((sid, fingerprint(result.tracking_number, e)) not in known for e in result.events)
        moved = result.estimated_delivery is not None and estimates.get(sid) != result.estimated_delivery
        if not news and not moved:
            continue
        async with ctx.units(tenant_id, slug) as uow:
            done = await record_tracking(uow, sid, result)
        totals["recorded"] += 1
        totals["added"] += done.added
        totals["exceptions"] += len(done.exceptions)


@register
async def exception_notice(ctx: JobContext, *, tenant_id: int, exception_id: int) -> str:
    """Tell the buyer about an exception through the channel's messages, at most once."""
    slug = await tenant_slug(ctx, tenant_id)
    async with ctx.units(tenant_id, slug) as uow:
        claimed = await claim_notice(uow, exception_id)
    if isinstance(claimed, str):
        return "not_sent"
    notice = claimed
    if notice is None:  # claimed before: take over only an unsent notice whose claim lapsed
        async with ctx.db.write(tenant_id, slug=slug) as session:
            notice = await resume_notice(session, exception_id)
        if notice is None:
            return "done"
    ch = await open_channel(ctx, tenant_id, notice.connection_id, slug=slug, only_active=False)
    if ch is None:
        return "done"
    message = notice.message
    try:
        external_id = await ch.call(lambda view: ch.provider.send_message(view, message), record=False)
    except ChannelError as exc:
        if exc.retryable:
            async with ctx.db.write(tenant_id, slug=slug) as session:
                await release_notice(session, notice)
            await ch.record(exc)
            raise
        async with ctx.db.write(tenant_id, slug=slug) as session:
            await record_notice_failure(session, notice, exc)
        return "failed"
    async with ctx.db.write(tenant_id, slug=slug) as session:
        await record_notice_sent(session, notice, external_id)
    return "sent"
