"""Tracking jobs: the periodic sweep, the poll of one carrier account, the buyer notice.

:func:`tracking_sweep` queues one :func:`track_account` per carrier account with active
shipments (shipped, not delivered or cancelled), with a job id per interval so any number
of schedulers queue it once. :func:`track_account` walks that account's active shipments
least recently checked first, pages of :data:`PAGE` read by index, asked for in calls of
the provider's ``track_batch`` numbers through :func:`crossdock.jobs.carrier.open_carrier`
(the account's token buckets: the provider waits on ``account.throttle(operation)``).
Scans already stored are recognised before any write (one read per call), so a poll that
brings nothing new writes nothing but one bulk update of ``tracking_checked_at`` per page;
the results of a call that bring news are recorded in one short transaction (falling back
to one transaction per result if that fails). Then the sweep-made exceptions
(``no_scan``, ``delayed``) are raised for the page. :func:`exception_notice` tells the
buyer, at most once per exception.
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, tuple_, union_all, update

from crossdock.db import utcnow
from crossdock.db.models import (
    CarrierAccount,
    CarrierAccountStatus,
    Shipment,
    ShipmentPackage,
    ShipmentStatus,
    TrackingEventRow,
)
from crossdock.db.retry import retry_conflicts
from crossdock.errors import ChannelError, NotSupported
from crossdock.jobs.carrier import open_carrier
from crossdock.jobs.channel import open_channel, tenant_slug
from crossdock.jobs.registry import JobContext, periodic
from crossdock.jobs.registry import job as register
from crossdock.providers import CarrierCapability, TrackingResult
from crossdock.services.tracking import (
    ACTIVE_STATUSES,
    Recorded,
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

__all__ = ["MAX_PAGES_PER_RUN", "PAGE", "exception_notice", "track_account", "tracking_sweep"]

log = logging.getLogger(__name__)

#: Shipments read (and marked checked) at a time.
PAGE = 200
#: A run reads at most this many pages, then queues its continuation.
MAX_PAGES_PER_RUN = 100


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
    """Poll the carrier for one account's active shipments, least recently checked first:
    pages of :data:`PAGE` shipments read by index, asked for in calls of the provider's
    ``track_batch`` numbers; each page's ``tracking_checked_at`` set in one update, so a run
    cut short (a throttle, a crash) resumes where it stopped."""
    totals = {"checked": 0, "recorded": 0, "added": 0, "exceptions": 0, "calls": 0, "pages": 0}
    slug = await tenant_slug(ctx, tenant_id)
    try:
        carrier = await open_carrier(ctx, tenant_id, account_id, slug=slug)
    except NotSupported:
        log.info("carrier account %s: no plugin for its carrier; not tracked", account_id)
        return totals
    if carrier is None:
        return totals
    polls = CarrierCapability.TRACKING in carrier.provider.capabilities
    per_call = max(1, int(getattr(carrier.provider, "track_batch", 1) or 1))
    started = utcnow()
    while totals["pages"] < MAX_PAGES_PER_RUN:
        async with ctx.db.tenant(tenant_id, slug) as session:
            stmt = _due(tenant_id, account_id, started)
            page = (await session.execute(stmt)).all()
            if not page:
                break
            numbers = await _numbers(session, [(sid, tn) for sid, tn in page])
        ids = [sid for sid, _ in page]
        totals["pages"] += 1
        if polls:
            holders: dict[str, list[int]] = defaultdict(list)
            for sid in ids:
                for n in sorted(numbers.get(sid, ())):
                    holders[n].append(sid)
            wanted = list(holders)
            for start in range(0, len(wanted), per_call):
                chunk = wanted[start : start + per_call]
                try:
                    track = functools.partial(carrier.provider.track, tracking_numbers=chunk)
                    results = list(await carrier.call(track))
                except ChannelError as exc:
                    if exc.retryable:
                        raise
                    log.warning("carrier account %s: tracking refused: %s", account_id, exc.message)
                    return totals
                totals["calls"] += 1
                await _record_batch(ctx, tenant_id, slug, results, holders, totals)
        totals["exceptions"] += await retry_conflicts(functools.partial(_checked, ctx, tenant_id, slug, ids))
        totals["checked"] += len(ids)
        if len(page) < PAGE:
            break
    else:
        await ctx.queue.enqueue(
            "track_account",
            job_id=f"track_account:{account_id}:more:{int(started.timestamp())}",
            tenant_id=tenant_id,
            account_id=account_id,
        )
    return totals


def _due(tenant_id: int, account_id: int, started: datetime) -> Select[Any]:
    """The account's next :data:`PAGE` active shipments not checked since ``started``: never
    checked first, then least recently. One branch per tracking status (and per never/once
    checked), each a range of ``ix_shipments_account_tracking`` in its order, so delivered
    shipments, however many, are never scanned."""
    checked = Shipment.tracking_checked_at
    branches = []
    for value in (None, *ACTIVE_STATUSES):
        status = Shipment.tracking_status.is_(None) if value is None else Shipment.tracking_status == value
        for never in (True, False):
            due = checked.is_(None) if never else checked < started
            order = (Shipment.id,) if never else (checked, Shipment.id)
            branches.append(
                select(Shipment.id, Shipment.tracking_number, checked)
                .where(
                    Shipment.tenant_id == tenant_id,
                    Shipment.carrier_account_id == account_id,
                    Shipment.status == ShipmentStatus.SHIPPED,
                    status,
                    due,
                )
                .order_by(*order)
                .limit(PAGE)
                .subquery()
            )
    every = union_all(
        *(select(b.c.id, b.c.tracking_number, b.c.tracking_checked_at) for b in branches)
    ).subquery()
    return (
        select(every.c.id, every.c.tracking_number)
        .order_by(every.c.tracking_checked_at.asc().nulls_first(), every.c.id)
        .limit(PAGE)
    )


async def _checked(ctx: JobContext, tenant_id: int, slug: str | None, ids: list[int]) -> int:
    """Mark a page checked and raise its sweep-made exceptions (rows taken in id order, the
    order recordings lock them in); returns the exceptions raised."""
    async with ctx.units(tenant_id, slug) as uow:
        await uow.session.execute(
            select(Shipment.id).where(Shipment.id.in_(ids)).order_by(Shipment.id).with_for_update()
        )
        await uow.session.execute(
            update(Shipment).where(Shipment.id.in_(ids)).values(tracking_checked_at=utcnow())
        )
        return len(await raise_sweep_exceptions(uow, ids))


async def _record_batch(
    ctx: JobContext,
    tenant_id: int,
    slug: str | None,
    results: list[TrackingResult],
    holders: dict[str, list[int]],
    totals: dict[str, int],
) -> None:
    """Record the results of one call that bring news, in one short transaction (the
    shipments locked in id order, as a push locks them); should it fail, each result is
    recorded on its own, so one bad result holds back no other."""
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
    news = sorted(
        (
            (sid, result)
            for sid, result in work
            if any((sid, fingerprint(result.tracking_number, e)) not in known for e in result.events)
            or (result.estimated_delivery is not None and estimates.get(sid) != result.estimated_delivery)
        ),
        key=lambda pair: pair[0],
    )
    if not news:
        return

    async def record(chunk: list[tuple[int, TrackingResult]]) -> list[Recorded]:
        async with ctx.units(tenant_id, slug) as uow:
            return [await record_tracking(uow, sid, result) for sid, result in chunk]

    try:
        done = await retry_conflicts(lambda: record(news))
    except Exception:
        if len(news) == 1:
            raise
        log.exception("carrier tracking: recording %d results together failed; one by one", len(news))
        done = []
        for pair in news:
            try:
                done += await retry_conflicts(functools.partial(record, [pair]))
            except Exception:
                log.exception("carrier tracking: result for shipment %s not recorded", pair[0])
    for recorded in done:
        totals["recorded"] += 1
        totals["added"] += recorded.added
        totals["exceptions"] += len(recorded.exceptions)


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
