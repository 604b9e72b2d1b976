"""Outbound webhook delivery (:mod:`crossdock.services.outbound_webhooks` says how deliveries
are made, signed, claimed and retried).

- ``webhook_sweep`` (periodic, ``CROSSDOCK_WEBHOOK_INTERVAL`` seconds) queues one
  ``webhook_dispatch`` per active endpoint that has events after its cursor or deliveries
  due;
- ``webhook_dispatch`` works one endpoint in rounds: fan the new events out and claim the
  due deliveries (one transaction), send them (none open), record what came back (one
  more); until nothing is left. Several workers may run it for the same endpoint at once:
  the row locks give each its own deliveries.

Both runners (embedded and arq) run the same functions; :func:`dispatch` takes the time as
an argument, so tests drive a day of retries without waiting for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import exists, or_, select, tuple_

from crossdock.db import utcnow
from crossdock.db.models import Event, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint
from crossdock.db.models import WebhookEndpointStatus as Status
from crossdock.jobs.channel import tenant_slug
from crossdock.jobs.registry import JobContext, periodic
from crossdock.jobs.registry import job as register
from crossdock.net import default_outbound
from crossdock.services import outbound_webhooks as hooks

__all__ = ["DispatchResult", "dispatch", "webhook_dispatch", "webhook_sweep"]

#: Rounds of one dispatch (each up to ``CLAIM_BATCH`` deliveries) before it leaves the
#: rest to the next sweep.
MAX_ROUNDS = 200


class DispatchResult(dict[str, int]):
    """Counts of one dispatch: ``fanned`` (events read), ``succeeded``, ``retried``,
    ``failed``, ``lost`` (claims another worker took over) and ``disabled`` (0 or 1)."""


async def dispatch(
    ctx: JobContext,
    tenant_id: int,
    endpoint_id: int,
    *,
    now: datetime | None = None,
    clock: Callable[[], float] = time.time,
    rounds: int = MAX_ROUNDS,
) -> DispatchResult:
    """Deliver what the endpoint is owed. ``now`` fixes the time deliveries are due by and
    recorded at (tests); by default each round reads the clock."""
    slug = await tenant_slug(ctx, tenant_id)
    http = ctx.http or default_outbound()
    counts = DispatchResult(fanned=0, succeeded=0, retried=0, failed=0, lost=0, disabled=0)

    def at() -> datetime:
        return now or utcnow()

    for _ in range(rounds):
        started = at()
        async with ctx.db.write(tenant_id, slug=slug) as session:
            endpoint = await session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id))
            if endpoint is None or endpoint.status != Status.ACTIVE:
                break
            url = endpoint.url
            signing = hooks.active_secrets(ctx.vault, endpoint, started)
            fanned = await hooks.fan_out(session, endpoint_id, now=started)
            batch = await hooks.claim_due(session, endpoint_id, now=started)
        counts["fanned"] += fanned or 0
        if not batch:
            if fanned:
                continue  # events read, none for this endpoint: read on
            break
        results = await hooks.send_all(http, url, batch, signing, now=at, clock=clock)
        async with ctx.units(tenant_id, slug) as uow:
            recorded = await hooks.record_results(uow, endpoint_id, results, now=at())
        counts["succeeded"] += recorded.succeeded
        counts["retried"] += recorded.retried
        counts["failed"] += recorded.failed
        counts["lost"] += recorded.lost
        if recorded.disabled:
            counts["disabled"] = 1
            break
    return counts


@register
async def webhook_dispatch(ctx: JobContext, *, tenant_id: int, endpoint_id: int) -> dict[str, int]:
    """Deliver one endpoint's new events and due retries."""
    return dict(await dispatch(ctx, tenant_id, endpoint_id))


@periodic(lambda settings: settings.webhook_interval_seconds)
async def webhook_sweep(ctx: JobContext) -> int:
    """Queue a dispatch for every active endpoint with events after its cursor or
    deliveries due (one job id per endpoint and interval: a second copy is dropped)."""
    now = utcnow()
    new_events = exists().where(
        Event.tenant_id == WebhookEndpoint.tenant_id,
        tuple_(Event.txid, Event.id) > tuple_(WebhookEndpoint.cursor_txid, WebhookEndpoint.cursor_id),
    )
    due = exists().where(
        WebhookDelivery.endpoint_id == WebhookEndpoint.id,
        WebhookDelivery.status == WebhookDeliveryStatus.PENDING,
        WebhookDelivery.next_attempt_at <= now,
        or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until <= now),
    )
    async with ctx.db.system() as session:
        rows = (
            await session.execute(
                select(WebhookEndpoint.id, WebhookEndpoint.tenant_id)
                .where(WebhookEndpoint.status == Status.ACTIVE, or_(new_events, due))
                .order_by(WebhookEndpoint.id)
            )
        ).all()
    bucket = int(time.time() // max(ctx.settings.webhook_interval_seconds, 1))
    for endpoint_id, tenant_id in rows:
        await ctx.queue.enqueue(
            "webhook_dispatch",
            job_id=f"webhook_dispatch:{endpoint_id}:{bucket}",
            tenant_id=tenant_id,
            endpoint_id=endpoint_id,
        )
    return len(rows)
