"""The job functions beside the sync engine (:mod:`crossdock.jobs.sync`): allocation of
waiting orders, stock and price pushes, shipment confirmation, sending replies, webhook
and notification processing, and the sweeps.

Each job that calls a channel opens it through :func:`crossdock.jobs.channel.open_channel`
(tenant, connection, paused?, capability, throttle, fresh credentials, errors recorded) and
leaves what the answer changes to a service, in a unit of work.
"""

from __future__ import annotations

import functools
import logging
import time
from datetime import datetime, timedelta

from sqlalchemy import select

from crossdock.db import utcnow
from crossdock.db.models import (
    Connection,
    ConnectionStatus,
    Conversation,
    ConversationStatus,
    Order,
    Promotion,
    Shipment,
    ShipmentStatus,
    Tenant,
    WebhookEvent,
)
from crossdock.errors import ChannelError, NotSupported
from crossdock.jobs import sync as sync  # registers the sync jobs
from crossdock.jobs.channel import open_channel, tenant_slug
from crossdock.jobs.registry import JobContext, periodic
from crossdock.jobs.registry import job as register
from crossdock.providers import MarketplaceCapability
from crossdock.services import audit
from crossdock.services.allocation import allocate_order, waiting_orders
from crossdock.services.connections import record_queue_refusal
from crossdock.services.fulfilment import (
    confirmation_for,
    record_confirm_failure,
    record_confirm_unsupported,
    record_confirmed,
)
from crossdock.services.inventory import stock_to_push
from crossdock.services.listings import prices_to_push, record_push
from crossdock.services.messaging import mark_reply_overdue, outgoing, record_send_failure, record_sent
from crossdock.services.promotions import PRICE_KINDS, reprice
from crossdock.services.sla import flag_order, unconfirmed
from crossdock.services.webhooks import ingest_event, store_notifications

__all__ = [
    "allocate_waiting",
    "apply_promotions",
    "confirm_shipment",
    "confirm_sweep",
    "drain_notifications",
    "poll_notifications",
    "process_webhook",
    "promotion_sweep",
    "push_prices",
    "push_stock",
    "reconcile_stock_pushes",
    "reply_sweep",
    "send_message",
    "sla_sweep",
]

log = logging.getLogger(__name__)


@register
async def allocate_waiting(ctx: JobContext, *, tenant_id: int) -> int:
    """Allocate orders held ``out_of_stock`` now that stock arrived: oldest ship-by first.

    Each order is its own transaction, so one that still cannot be served does not hold
    back the next; the scan stops at the first order that cannot be served only when no
    stock at all is left for anyone (every remaining order is retried next time).
    """
    slug = await tenant_slug(ctx, tenant_id)
    async with ctx.db.tenant(tenant_id, slug) as session:
        waiting = await waiting_orders(session)
    allocated = 0
    for order_id in waiting:
        async with ctx.units(tenant_id, slug) as uow:
            order = await uow.session.scalar(select(Order).where(Order.id == order_id))
            if order is not None and await allocate_order(uow, order):
                allocated += 1
    return allocated


@register
async def push_stock(ctx: JobContext, *, tenant_id: int, connection_id: int) -> dict[str, int]:
    """Push every listing of a connection whose available-to-sell changed, in one call.

    Coalesced upstream (one run per connection per push window); what was pushed is
    recorded per listing, so a re-run after a crash pushes only what is still different.
    A listing the channel refuses (an unknown SKU) keeps the refusal as its ``last_error``
    and is tried again next time; the others are recorded as pushed, and the connection
    stays as it is. Only an error about the connection itself (credentials, the shop)
    raised by the plugin marks the connection.
    """
    try:
        ch = await open_channel(ctx, tenant_id, connection_id, needs=MarketplaceCapability.STOCK_PUSH)
    except NotSupported:
        return {"pushed": 0}
    if ch is None:
        return {"pushed": 0}
    async with ch.read() as session:
        changed = await stock_to_push(session, ch.connection)
    if not changed:
        return {"pushed": 0}
    updates = [push.update for push in changed]
    results = await ch.call(lambda view: ch.provider.push_stock(view, updates))
    now = utcnow()
    async with ch.unit_of_work() as uow:
        return await record_push(uow.session, "stock", [push.recorded(now) for push in changed], results, now)


@register
async def push_prices(ctx: JobContext, *, tenant_id: int, connection_id: int) -> dict[str, int]:
    """Push every listing price that differs from what the channel was last told, in one
    call; accepted prices are recorded so a re-run sends only what is still different, and
    a price the channel refuses stays on its listing as ``last_error`` (see push_stock)."""
    try:
        ch = await open_channel(ctx, tenant_id, connection_id, needs=MarketplaceCapability.PRICE_PUSH)
    except NotSupported:
        return {"pushed": 0}
    if ch is None:
        return {"pushed": 0}
    async with ch.read() as session:
        changed = await prices_to_push(session, ch.connection)
    if not changed:
        return {"pushed": 0}
    updates = [update for _, update in changed]
    results = await ch.call(lambda view: ch.provider.push_prices(view, updates))
    pushed = [(listing, {"last_pushed_price": listing.price_amount}) for listing, _ in changed]
    async with ch.unit_of_work() as uow:
        return await record_push(uow.session, "price", pushed, results, utcnow())


@periodic(lambda settings: 300)
async def reconcile_stock_pushes(ctx: JobContext) -> int:
    """Safety net: queue a push for every connection that can take one, in case a trigger
    was lost between a commit and its enqueue (the push itself sends only differences)."""
    pushable = {
        name
        for name, p in ctx.plugins.marketplaces.items()
        if MarketplaceCapability.STOCK_PUSH in p.capabilities
    }
    if not pushable:
        return 0
    async with ctx.db.system() as session:
        rows = (
            await session.execute(
                select(Connection.id, Connection.tenant_id).where(
                    Connection.status == ConnectionStatus.ACTIVE, Connection.channel.in_(pushable)
                )
            )
        ).all()
    bucket = int(utcnow().timestamp()) // 300
    for connection_id, tenant_id in rows:
        await ctx.queue.enqueue(
            "push_stock",
            job_id=f"push_stock:{connection_id}:r{bucket}",
            tenant_id=tenant_id,
            connection_id=connection_id,
        )
    return len(rows)


@register
async def confirm_shipment(ctx: JobContext, *, tenant_id: int, shipment_id: int) -> str:
    """Tell the channel a shipment left, with carrier and tracking number; retried on
    transient errors, recorded (and announced) on permanent ones."""
    slug = await tenant_slug(ctx, tenant_id)
    async with ctx.db.tenant(tenant_id, slug) as session:
        owed = await confirmation_for(session, shipment_id)
    if owed is None:
        return "done"
    try:
        ch = await open_channel(
            ctx,
            tenant_id,
            owed.connection_id,
            slug=slug,
            needs=MarketplaceCapability.SHIPMENTS_CONFIRM,
            only_active=False,
        )
    except NotSupported:
        async with ctx.db.write(tenant_id, slug=slug) as session:
            await record_confirm_unsupported(session, shipment_id, owed.channel)
        return "unsupported"
    if ch is None:
        return "done"
    try:
        assigned = await ch.call(
            lambda view: ch.provider.confirm_shipment(view, owed.confirmation), record=False
        )
    except ChannelError as exc:
        async with ctx.db.write(tenant_id, slug=slug) as session:
            await record_confirm_failure(session, shipment_id, exc)
        raise
    async with ch.unit_of_work() as uow:
        await record_confirmed(uow, owed, assigned)
    return "confirmed"


@periodic(lambda settings: min(60, max(5, 5 * settings.sync_interval_seconds)))
async def confirm_sweep(ctx: JobContext) -> int:
    """Safety net for confirmations: queue ``confirm_shipment`` again for every shipment
    that left but the channel has not accepted, unless the channel refused it for good.

    The trigger is sent after commit and retried a few times; a job can still be lost (a
    crash between commit and enqueue, a worker killed mid-job, retries spent while the
    channel throttles). The database says what is owed, so nothing stays unconfirmed. A
    confirmation the channel already has is recognised by the plugin (confirm_shipment is
    idempotent), so a sweep that overlaps a late original does no harm."""
    now = time.time()
    bucket = int(now // 60)
    async with ctx.db.system() as session:
        owed = (
            await session.execute(
                select(Shipment.id, Shipment.tenant_id)
                .join(Order, Order.id == Shipment.order_id)
                .where(
                    Shipment.status == ShipmentStatus.SHIPPED,
                    Shipment.confirmed_at.is_(None),
                    Shipment.confirm_failed_at.is_(None),
                    Shipment.shipped_at <= utcnow() - timedelta(seconds=SWEEP_GRACE_SECONDS),
                    Order.fulfilled_by_channel.is_(False),
                )
                .order_by(Shipment.id)
                .limit(1_000)
            )
        ).all()
    for shipment_id, tenant_id in owed:
        await ctx.queue.enqueue(
            "confirm_shipment",
            job_id=f"confirm_shipment:{shipment_id}:sweep:{bucket}",
            tenant_id=tenant_id,
            shipment_id=shipment_id,
        )
    return len(owed)


#: A shipment is left to its own confirmation job this long before the sweep steps in.
SWEEP_GRACE_SECONDS = 10


@register
async def process_webhook(ctx: JobContext, *, tenant_id: int, event_id: int) -> int:
    """Fetch the orders a stored push names and ingest them (idempotent: a re-run finds
    the event processed, and ingestion ignores what it already has)."""
    slug = await tenant_slug(ctx, tenant_id)
    async with ctx.db.tenant(tenant_id, slug) as session:
        event = await session.scalar(select(WebhookEvent).where(WebhookEvent.id == event_id))
        if event is None or event.status == "processed":
            return 0
        connection_id = event.connection_id
        references = list(event.references)
    ch = await open_channel(ctx, tenant_id, connection_id, slug=slug, only_active=False)
    if ch is None:
        return 0
    fetched = []
    for reference in references:
        if reference.get("type") != "order":
            continue
        external_id = str(reference["external_id"])
        fetch = functools.partial(ch.provider.fetch_order, external_id=external_id)
        fetched.append(await ch.call(fetch, record=False))
    async with ch.unit_of_work() as uow:
        return await ingest_event(uow, event_id, ch.connection_id, fetched)


#: A drain reads at most this many batches (of 10) before leaving the rest to the next run.
MAX_BATCHES_PER_DRAIN = 50


@periodic(lambda settings: settings.sync_interval_seconds)
async def poll_notifications(ctx: JobContext) -> int:
    """Enqueue a drain of each active connection whose channel delivers events to a queue."""
    queued = {
        name
        for name, provider in ctx.plugins.marketplaces.items()
        if MarketplaceCapability.NOTIFICATIONS in provider.capabilities
    }
    if not queued:
        return 0
    async with ctx.db.system() as session:
        rows = (
            await session.execute(
                select(Connection.id, Connection.tenant_id).where(
                    Connection.status == ConnectionStatus.ACTIVE, Connection.channel.in_(queued)
                )
            )
        ).all()
    bucket = int(utcnow().timestamp()) // max(ctx.settings.sync_interval_seconds, 1)
    for connection_id, tenant_id in rows:
        await ctx.queue.enqueue(
            "drain_notifications",
            job_id=f"drain_notifications:{connection_id}:{bucket}",
            tenant_id=tenant_id,
            connection_id=connection_id,
        )
    return len(rows)


@register
async def drain_notifications(ctx: JobContext, *, tenant_id: int, connection_id: int) -> dict[str, int]:
    """Read a connection's notification queue: store each batch (new events only, each
    processed by its own job), commit, then acknowledge it. A crash before the
    acknowledgement means a redelivery, which is recognised and skipped.

    A queue the channel refuses to let us read (wrong keys, no such queue) is recorded on
    the connection as its last error; order sync goes on.
    """
    ch = await open_channel(ctx, tenant_id, connection_id)
    if ch is None:
        return {"received": 0, "stored": 0}
    source = ch.provider.notification_source(ch.view)
    if source is None:  # the connection has no queue configured
        return {"received": 0, "stored": 0}
    totals = {"received": 0, "stored": 0}
    for _ in range(MAX_BATCHES_PER_DRAIN):
        try:
            batch = await source.receive(10)
            if not batch:
                break
            async with ch.unit_of_work() as uow:
                totals["stored"] += await store_notifications(uow, tenant_id, connection_id, batch)
            totals["received"] += len(batch)
            await source.ack([n.receipt for n in batch])
        except ChannelError as exc:
            if exc.retryable:
                raise
            async with ctx.db.write(tenant_id, slug=ch.slug) as session:
                await record_queue_refusal(session, connection_id, exc)
            log.warning("connection %s: notification queue refused: %s", connection_id, exc.message)
            break
    return totals


#: Default look-ahead of the ship-by sweep.
AT_RISK_HOURS = 24


@periodic(lambda settings: 300)
async def sla_sweep(ctx: JobContext) -> int:
    """Announce orders newly at risk of missing their ship-by deadline, or late, once each."""
    now = utcnow()
    async with ctx.db.system() as session:
        candidates = (
            await session.execute(
                select(Order.id, Order.tenant_id, Order.ship_by, Order.sla_flag).where(
                    Order.ship_by.is_not(None),
                    Order.ship_by <= now + timedelta(hours=AT_RISK_HOURS),
                    unconfirmed(),
                )
            )
        ).all()
    raised = 0
    for order_id, tenant_id, ship_by, flag in candidates:
        assert ship_by is not None  # filtered above
        wanted = "late" if ship_by <= now else "at_risk"
        if flag == wanted or (flag == "late" and wanted == "at_risk"):
            continue
        async with ctx.db.write(tenant_id) as session:
            await flag_order(session, order_id, wanted)
        raised += 1
    return raised


@register
async def send_message(ctx: JobContext, *, tenant_id: int, message_id: int) -> str:
    """Send a stored reply to the channel; retried on transient errors. A permanent refusal
    marks the message failed and puts the conversation back to awaiting a reply."""
    slug = await tenant_slug(ctx, tenant_id)
    async with ctx.db.tenant(tenant_id, slug) as session:
        out = await outgoing(session, message_id)
    if out is None:
        return "done"
    ch = await open_channel(ctx, tenant_id, out.connection_id, slug=slug, only_active=False)
    if ch is None:
        return "done"
    try:
        external_id = await ch.call(lambda view: ch.provider.send_message(view, out.message), record=False)
    except ChannelError as exc:
        if exc.retryable:
            await ch.record(exc)
            raise
        async with ctx.db.write(tenant_id, slug=slug) as session:
            await record_send_failure(session, message_id, exc)
        return "failed"
    async with ctx.db.write(tenant_id, slug=slug) as session:
        await record_sent(session, message_id, external_id)
    return "sent"


@periodic(lambda settings: 300)
async def reply_sweep(ctx: JobContext) -> int:
    """Announce, once per wait, conversations whose buyer has waited past the deadline."""
    now = utcnow()
    async with ctx.db.system() as session:
        due = (
            await session.execute(
                select(Conversation.id, Conversation.tenant_id).where(
                    Conversation.status == ConversationStatus.AWAITING_REPLY,
                    Conversation.reply_due_at <= now,
                    Conversation.overdue_notified_at.is_(None),
                )
            )
        ).all()
    for conversation_id, tenant_id in due:
        async with ctx.db.write(tenant_id) as session:
            await mark_reply_overdue(session, conversation_id, now)
    return len(due)


@register
async def apply_promotions(ctx: JobContext, *, tenant_id: int) -> int:
    """Start and stop a tenant's price promotions that are due (deferred to each start and
    end, and run by the sweep); the listings whose price changed are pushed."""
    async with ctx.units(tenant_id, await tenant_slug(ctx, tenant_id)) as uow:
        return await reprice(uow)


@periodic(lambda settings: 60)
async def promotion_sweep(ctx: JobContext) -> int:
    """Safety net for promotions whose start or end job was lost: apply every tenant whose
    promotions are not in the state their window says."""
    now = utcnow()
    async with ctx.db.system() as session:
        tenants = set(
            (
                await session.scalars(
                    select(Promotion.tenant_id).where(
                        Promotion.kind.in_(PRICE_KINDS),
                        (
                            (Promotion.applied == "scheduled") & (Promotion.starts_at <= now)
                            | (Promotion.applied == "running")
                            & ((Promotion.ends_at <= now) | Promotion.cancelled_at.is_not(None))
                        ),
                    )
                )
            ).all()
        )
    for tenant_id in tenants:
        await ctx.queue.enqueue("apply_promotions", tenant_id=tenant_id)
    return len(tenants)


@periodic(lambda settings: 86_400)
async def audit_purge(ctx: JobContext, *, now: datetime | None = None, batch: int = audit.PURGE_BATCH) -> int:
    """Delete each tenant's audit entries older than its ``audit.retention_days`` (365 by
    default), ``batch`` at a time, each batch in a transaction of its own (the only deletes
    the append-only log allows). Returns how many went."""
    now = now or utcnow()
    async with ctx.db.system() as session:
        tenants = (await session.execute(select(Tenant.id, Tenant.slug, Tenant.settings))).all()
    removed = 0
    for tenant_id, slug, settings in tenants:
        before = audit.cutoff(settings, now)
        while True:
            async with ctx.db.write(tenant_id, slug=slug) as session:
                gone = await audit.purge(session, before, limit=batch)
            removed += gone
            if gone < batch:
                break
    return removed


@register
async def send_mail(ctx: JobContext, *, mail_id: int) -> str | None:
    """Send one message of the server's mail (:mod:`crossdock.services.mail`)."""
    from crossdock.services import mail

    status = await mail.deliver(ctx.db, ctx.plugins, ctx.settings, mail_id, http=ctx.http)
    return str(status) if status else None


@register
async def replenishment_plan(ctx: JobContext, *, tenant_id: int) -> int:
    """Forecast the tenant's demand and remake its replenishment plans
    (:mod:`crossdock.services.planning`). Returns how many plans were made."""
    from crossdock.services import planning

    slug = await tenant_slug(ctx, tenant_id)
    return await planning.plan_tenant(ctx.db, ctx.units, tenant_id, slug)


@periodic(lambda settings: 86_400)
async def replenishment_sweep(ctx: JobContext) -> int:
    """Once a day, a ``replenishment_plan`` job for every tenant that buys from a supplier."""
    from crossdock.db.models import SupplierItem

    async with ctx.db.system() as session:
        tenants = (await session.scalars(select(SupplierItem.tenant_id).distinct())).all()
    day = utcnow().date().isoformat()
    for tenant_id in tenants:
        await ctx.queue.enqueue(
            "replenishment_plan", job_id=f"replenishment_plan:{tenant_id}:{day}", tenant_id=tenant_id
        )
    return len(tenants)


@periodic(lambda settings: 86_400)
async def account_purge(ctx: JobContext, *, now: datetime | None = None) -> int:
    """Delete expired sign-in leftovers, ended sessions, settled mail and old login attempts
    (:func:`crossdock.services.users.purge_expired`). Returns how many rows went."""
    from crossdock.services import users

    async with ctx.db.write(system=True) as session:
        counts = await users.purge_expired(session, now)
    return sum(counts.values())


@periodic(lambda settings: 60)
async def mail_sweep(ctx: JobContext) -> int:
    """Send the server's mail that is due and was not sent yet (a lost job, a retry)."""
    from crossdock.services import mail

    sent = 0
    for mail_id in await mail.due(ctx.db):
        if await mail.deliver(ctx.db, ctx.plugins, ctx.settings, mail_id, http=ctx.http) is not None:
            sent += 1
    return sent
