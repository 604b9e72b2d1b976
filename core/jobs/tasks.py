"""The job functions: order and message sync, allocation of waiting orders, stock and price
pushes, shipment confirmation, sending replies, and the ship-by and reply-by sweeps."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import utcnow
from crossdock.db.models import (
    Allocation,
    Connection,
    ConnectionStatus,
    Conversation,
    ConversationStatus,
    Listing,
    Message,
    Order,
    OrderLine,
    Promotion,
    Shipment,
    ShipmentStatus,
    Tenant,
    WebhookEvent,
)
from crossdock.errors import ChannelError
from crossdock.jobs.registry import JobContext, periodic
from crossdock.jobs.registry import job as register
from crossdock.money import Money
from crossdock.providers import (
    ChannelConnection,
    MarketplaceCapability,
    MessagePage,
    OrderPage,
    OutgoingMessage,
    PriceUpdate,
    PushResult,
    SettlementPage,
    ShipmentConfirmation,
    StockUpdate,
)
from crossdock.services.allocation import allocate_order, waiting_orders
from crossdock.services.availability import available_to_sell
from crossdock.services.events import emit
from crossdock.services.messaging import ingest_messages, refresh_state
from crossdock.services.orders import ingest_orders
from crossdock.services.promotions import PRICE_KINDS, reprice
from crossdock.services.settlements import ingest_settlements
from crossdock.services.sla import unconfirmed
from crossdock.services.webhooks import store_notifications

__all__ = [
    "allocate_waiting",
    "apply_promotions",
    "confirm_shipment",
    "drain_notifications",
    "poll_notifications",
    "process_webhook",
    "promotion_sweep",
    "push_prices",
    "push_stock",
    "reconcile_stock_pushes",
    "reply_sweep",
    "schedule_syncs",
    "send_message",
    "sla_sweep",
    "sync_messages",
    "sync_orders",
    "sync_settlements",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: A listing's stored error is cut to this many characters (channels can be verbose).
MAX_LISTING_ERROR = 2000
#: Re-read this much before the cursor: marketplaces index updates with some delay.
OVERLAP = timedelta(minutes=5)
#: A sync run commits at most this many pages, then queues its continuation.
MAX_PAGES_PER_RUN = 50
#: A new connection's first sync reaches this far back.
INITIAL_BACKFILL = timedelta(days=30)


#: The resources a connection is synced for, and the capability each needs.
SYNCED: dict[str, str] = {
    "orders": MarketplaceCapability.ORDERS_SYNC,
    "messages": MarketplaceCapability.MESSAGES_READ,
    "settlements": MarketplaceCapability.SETTLEMENTS,
}


@periodic(lambda settings: settings.sync_interval_seconds)
async def schedule_syncs(ctx: JobContext) -> int:
    """Enqueue one sync per active connection and resource its channel can sync.

    The job id carries the time bucket, so any number of schedulers (one per worker or
    server process) enqueue each sync once per interval.
    """
    channels = {
        resource: {n for n, p in ctx.plugins.marketplaces.items() if capability in p.capabilities}
        for resource, capability in SYNCED.items()
    }
    everything = set().union(*channels.values())
    if not everything:
        return 0
    async with ctx.db.system() as session:
        rows = (
            await session.execute(
                select(Connection.id, Connection.tenant_id, Connection.channel).where(
                    Connection.status == ConnectionStatus.ACTIVE,
                    Connection.channel.in_(everything),
                    (Connection.throttled_until.is_(None)) | (Connection.throttled_until <= utcnow()),
                )
            )
        ).all()
    bucket = int(utcnow().timestamp()) // max(ctx.settings.sync_interval_seconds, 1)
    count = 0
    for connection_id, tenant_id, channel in rows:
        for resource, able in channels.items():
            if channel in able and await ctx.queue.enqueue(
                f"sync_{resource}",
                job_id=f"sync_{resource}:{connection_id}:{bucket}",
                tenant_id=tenant_id,
                connection_id=connection_id,
            ):
                count += 1
    return count


@register
async def sync_orders(ctx: JobContext, *, tenant_id: int, connection_id: int) -> dict[str, Any]:
    """Pull orders updated since the connection's cursor, one committed page at a time."""

    async def store(session: AsyncSession, conn: Connection, page: OrderPage) -> dict[str, int]:
        result = await ingest_orders(session, ctx.plugins, conn, page.orders)
        return {"created": result.created, "updated": result.updated, "ignored": result.ignored}

    return await _sync(ctx, tenant_id, connection_id, "orders", "fetch_orders", store)


@register
async def sync_messages(ctx: JobContext, *, tenant_id: int, connection_id: int) -> dict[str, Any]:
    """Pull buyer messages sent since the connection's cursor, one committed page at a time."""

    async def store(session: AsyncSession, conn: Connection, page: MessagePage) -> dict[str, int]:
        result = await ingest_messages(session, conn, page.messages)
        return {"received": result.received, "conversations": result.conversations, "ignored": result.ignored}

    return await _sync(ctx, tenant_id, connection_id, "messages", "fetch_messages", store)


@register
async def sync_settlements(ctx: JobContext, *, tenant_id: int, connection_id: int) -> dict[str, Any]:
    """Pull marketplace payouts (open ones again until they close), a committed page at a time."""

    async def store(session: AsyncSession, conn: Connection, page: SettlementPage) -> dict[str, int]:
        return await ingest_settlements(session, conn, page.settlements)

    return await _sync(ctx, tenant_id, connection_id, "settlements", "fetch_settlements", store)


async def _sync(
    ctx: JobContext,
    tenant_id: int,
    connection_id: int,
    resource: str,
    method: str,
    store: Callable[[AsyncSession, Connection, Any], Awaitable[dict[str, int]]],
) -> dict[str, Any]:
    """:func:`_sync_pages`, with any failure recorded on the connection: a channel's error
    is recorded where it is met; anything else (a page the database refused, a cursor that
    cannot be used) as ``SYNC_FAILED``, so a connection whose syncs keep failing says why
    instead of showing an empty ``lastError``."""
    started = time.monotonic()
    try:
        totals = await _sync_pages(ctx, tenant_id, connection_id, resource, method, store)
    except ChannelError:
        raise
    except Exception as exc:
        reason = ChannelError(f"{type(exc).__name__}: {exc}"[:500], code="SYNC_FAILED", retryable=True)
        with contextlib.suppress(Exception):  # the original failure is the one to raise
            await _record_error(ctx, tenant_id, await _slug(ctx, tenant_id), connection_id, reason)
        raise
    # The one INFO line a sync writes (the HTTP requests under it log at DEBUG only): what
    # an operator watching the terminal, or bench/demo_soak.py, reads the sync rhythm from.
    log.log(
        logging.DEBUG if totals.get("skipped") else logging.INFO,
        "sync %s connection=%s %s duration=%.3fs",
        resource,
        connection_id,
        " ".join(f"{key}={value}" for key, value in totals.items()),
        time.monotonic() - started,
    )
    return totals


async def _sync_pages(
    ctx: JobContext,
    tenant_id: int,
    connection_id: int,
    resource: str,
    method: str,
    store: Callable[[AsyncSession, Connection, Any], Awaitable[dict[str, int]]],
) -> dict[str, Any]:
    """The cursor loop every resource shares.

    Each page is stored and the cursor/page token saved in the same transaction, so a
    worker killed mid-run resumes from the last committed page and loses nothing; storing
    is idempotent, so re-reading the overlap duplicates nothing. The cursor only moves to
    the run's start once the last page is in.
    """
    async with ctx.db.system() as session:
        slug = await session.scalar(select(Tenant.slug).where(Tenant.id == tenant_id))
    async with ctx.db.tenant(tenant_id, slug) as session:
        conn = await session.scalar(select(Connection).where(Connection.id == connection_id))
        if conn is None or conn.status != ConnectionStatus.ACTIVE:
            return {"skipped": True}
        provider = ctx.plugins.marketplace(conn.channel)
        _respect_throttle(conn)
        view = ctx.view(session, conn)
        state = dict(conn.sync_state.get(resource) or {})
    cursor = datetime.fromisoformat(state["cursor"]) if "cursor" in state else utcnow() - INITIAL_BACKFILL
    run_started = datetime.fromisoformat(state["run_started"]) if "run_started" in state else utcnow()
    page_token: str | None = state.get("page_token")
    totals: dict[str, int] = {"pages": 0}

    async def fetch(token: str | None, view: ChannelConnection) -> tuple[Any, ChannelConnection]:
        call = functools.partial(getattr(provider, method), updated_since=cursor - OVERLAP, page_token=token)
        return await _with_fresh_credentials(ctx, tenant_id, slug, view, call)

    async def save(page: Any) -> dict[str, int]:
        """Store one page and move the sync state past it, in one transaction."""
        async with ctx.db.write(tenant_id, slug=slug) as session:
            conn = await session.scalar(select(Connection).where(Connection.id == connection_id))
            assert conn is not None
            counts = await store(session, conn, page)
            now = utcnow()
            if page.next_page_token:
                new_state = {
                    "cursor": cursor.isoformat(),
                    "run_started": run_started.isoformat(),
                    "page_token": page.next_page_token,
                }
            else:
                new_state = {"cursor": run_started.isoformat()}
                conn.last_success_at = now  # last_error stays, with its time, as history
            conn.sync_state = {**conn.sync_state, resource: new_state}
            conn.last_sync_at = now
        return counts

    # The next page is fetched while this one is stored: the marketplace's latency and our
    # database work overlap instead of adding up.
    ahead: asyncio.Task[tuple[Any, ChannelConnection]] | None = None
    while True:
        try:
            page, view = await (ahead or fetch(page_token, view))
        except ChannelError as exc:
            await _record_error(ctx, tenant_id, slug, connection_id, exc)
            if exc.retryable and totals["pages"]:
                # progress was made: continue in a fresh job rather than spend this one's tries
                await _continue_sync(
                    ctx, resource, tenant_id, connection_id, page_token, exc.retry_after or 1.0
                )
                return totals
            raise
        ahead = None
        if page.next_page_token and totals["pages"] + 1 < MAX_PAGES_PER_RUN:
            ahead = asyncio.ensure_future(fetch(page.next_page_token, view))
        try:
            counts = await save(page)
        except BaseException:
            if ahead is not None:
                ahead.cancel()
                with contextlib.suppress(BaseException):
                    await ahead
            raise
        page_token = page.next_page_token
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
        totals["pages"] += 1
        if not page_token:
            return totals
        if totals["pages"] >= MAX_PAGES_PER_RUN:
            await _continue_sync(ctx, resource, tenant_id, connection_id, page_token, 0)
            return totals


async def _continue_sync(
    ctx: JobContext, resource: str, tenant_id: int, connection_id: int, page_token: str | None, delay: float
) -> None:
    """Queue the rest of a sync as its own job, keyed by the page it starts from, so runs
    stay short and two continuations of the same page are one job.

    A key can also be refused because that page was continued before: the queue keeps a
    finished job's result for a while, and a worker killed mid-job leaves its job marked
    running until it times out. Marketplaces serve pages again (and the cursor rewinds
    after a failure), so that happens; the continuation is then queued under a fresh key,
    or the sync would stall until the next scheduled run. A second chain is harmless:
    storing a page twice changes nothing.
    """
    digest = hashlib.sha1(f"{page_token}".encode()).hexdigest()[:16]
    key = f"sync_{resource}:{connection_id}:page:{digest}"
    for job_id in (key, f"{key}:{time.time_ns()}"):
        if await ctx.queue.enqueue(
            f"sync_{resource}",
            job_id=job_id,
            defer_by=delay or None,
            tenant_id=tenant_id,
            connection_id=connection_id,
        ):
            return


def _respect_throttle(conn: Connection) -> None:
    """The channel asked us to wait (HTTP 429 + Retry-After): no call before then."""
    if conn.throttled_until is not None and conn.throttled_until > utcnow():
        wait = (conn.throttled_until - utcnow()).total_seconds()
        raise ChannelError(
            f"{conn.channel} asked to wait {wait:.1f}s", code="THROTTLED", retryable=True, retry_after=wait
        )


async def _with_fresh_credentials(
    ctx: JobContext,
    tenant_id: int,
    slug: str | None,
    view: ChannelConnection,
    call: Callable[[ChannelConnection], Awaitable[T]],
) -> tuple[T, ChannelConnection]:
    """Run ``call``; if the channel says the access token expired, refresh it once (saved
    encrypted before it is used) and run ``call`` again. Returns the result and the view
    to use for further calls.

    A provider that finds a credential missing (a ``KeyError`` on the credentials mapping)
    gets a permanent ``CREDENTIALS`` error, so the connection is marked failed and shown to
    the operator instead of every job crashing on it.
    """
    try:
        return await _complete(call, view), view
    except ChannelError as exc:
        provider = ctx.plugins.marketplace(view.channel)
        if exc.code != ChannelError.AUTH_EXPIRED or (
            MarketplaceCapability.CREDENTIALS_REFRESH not in provider.capabilities
        ):
            raise
    try:
        fresh = await refresh_credentials(ctx, tenant_id, slug, view)
    except KeyError as exc:
        raise _incomplete(view, exc) from None
    return await _complete(call, fresh), fresh


async def _complete(call: Callable[[ChannelConnection], Awaitable[T]], view: ChannelConnection) -> T:
    try:
        return await call(view)
    except KeyError as exc:
        if exc.args and str(exc.args[0]) in view.credentials:
            raise  # not a missing credential: a bug to see
        raise _incomplete(view, exc) from None


def _incomplete(view: ChannelConnection, exc: KeyError) -> ChannelError:
    return ChannelError(f"the {view.channel} credentials lack {exc.args[0]!s}", code="CREDENTIALS")


async def refresh_credentials(
    ctx: JobContext, tenant_id: int, slug: str | None, stale: ChannelConnection
) -> ChannelConnection:
    """Refresh a connection's tokens exactly once, however many jobs find them stale.

    Refresh tokens are often single-use, so two jobs refreshing at once would lock the shop
    out. The connection row is locked; a job that finds the credentials already changed by
    another uses those instead of refreshing again.
    """
    provider = ctx.plugins.marketplace(stale.channel)
    async with ctx.db.write(tenant_id, slug=slug) as session:
        conn = await session.scalar(select(Connection).where(Connection.id == stale.id).with_for_update())
        assert conn is not None
        current = ctx.view(session, conn)
        if dict(current.credentials) != dict(stale.credentials):
            return current
        try:
            fresh = await provider.refresh_credentials(current)
        except ChannelError as exc:
            if exc.retryable:
                raise
            conn.status = ConnectionStatus.FAILED
            conn.last_error = f"credentials refresh failed: {exc.code}: {exc.message}"
            conn.last_error_at = utcnow()
            return current
        conn.credentials_encrypted = ctx.vault.encrypt(fresh)
        emit(session, "connection.credentials_refreshed", f"Connection:{conn.id}", channel=conn.channel)
    return dataclasses.replace(current, credentials=fresh)


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


async def _slug(ctx: JobContext, tenant_id: int) -> str | None:
    async with ctx.db.system() as session:
        return await session.scalar(select(Tenant.slug).where(Tenant.id == tenant_id))


@register
async def allocate_waiting(ctx: JobContext, *, tenant_id: int) -> int:
    """Allocate orders held ``out_of_stock`` now that stock arrived: oldest ship-by first.

    Each order is its own transaction, so one that still cannot be served does not hold
    back the next; the scan stops at the first order that cannot be served only when no
    stock at all is left for anyone (every remaining order is retried next time).
    """
    slug = await _slug(ctx, tenant_id)
    async with ctx.db.tenant(tenant_id, slug) as session:
        waiting = await waiting_orders(session)
    allocated = 0
    for order_id in waiting:
        async with ctx.db.write(tenant_id, slug=slug) as session:
            order = await session.scalar(select(Order).where(Order.id == order_id))
            if order is not None and await allocate_order(session, order, ctx.plugins):
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
    slug = await _slug(ctx, tenant_id)
    async with ctx.db.tenant(tenant_id, slug) as session:
        conn = await session.scalar(select(Connection).where(Connection.id == connection_id))
        if conn is None or conn.status != ConnectionStatus.ACTIVE:
            return {"pushed": 0}
        provider = ctx.plugins.marketplace(conn.channel)
        if MarketplaceCapability.STOCK_PUSH not in provider.capabilities:
            return {"pushed": 0}
        _respect_throttle(conn)
        ats = await available_to_sell(session, conn)
        listings = {
            listing.id: listing
            for listing in (
                await session.scalars(select(Listing).where(Listing.connection_id == conn.id))
            ).all()
        }
        view = ctx.view(session, conn)
    changed = [
        (listing, ats[listing_id])
        for listing_id, listing in listings.items()
        if listing.last_pushed_quantity != ats[listing_id]
    ]
    if not changed:
        return {"pushed": 0}
    try:
        updates = [
            StockUpdate(channel_sku=listing.channel_sku, quantity=qty, external_id=listing.external_id)
            for listing, qty in changed
        ]
        results, _ = await _with_fresh_credentials(
            ctx, tenant_id, slug, view, lambda v: provider.push_stock(v, updates)
        )
    except ChannelError as exc:
        await _record_error(ctx, tenant_id, slug, connection_id, exc)
        raise
    now = utcnow()
    async with ctx.db.write(tenant_id, slug=slug) as session:
        return await _record_push(
            session,
            "stock",
            [(listing, {"last_pushed_quantity": qty, "last_pushed_at": now}) for listing, qty in changed],
            results,
            now,
        )


@register
async def push_prices(ctx: JobContext, *, tenant_id: int, connection_id: int) -> dict[str, int]:
    """Push every listing price that differs from what the channel was last told, in one
    call; accepted prices are recorded so a re-run sends only what is still different, and
    a price the channel refuses stays on its listing as ``last_error`` (see push_stock)."""
    slug = await _slug(ctx, tenant_id)
    async with ctx.db.tenant(tenant_id, slug) as session:
        conn = await session.scalar(select(Connection).where(Connection.id == connection_id))
        if conn is None or conn.status != ConnectionStatus.ACTIVE:
            return {"pushed": 0}
        provider = ctx.plugins.marketplace(conn.channel)
        if MarketplaceCapability.PRICE_PUSH not in provider.capabilities:
            return {"pushed": 0}
        _respect_throttle(conn)
        changed = [
            listing
            for listing in (
                await session.scalars(select(Listing).where(Listing.connection_id == conn.id))
            ).all()
            if listing.price_amount is not None and listing.price_amount != listing.last_pushed_price
        ]
        view = ctx.view(session, conn)
    if not changed:
        return {"pushed": 0}
    updates = [
        PriceUpdate(
            channel_sku=listing.channel_sku,
            price=Money(listing.price_amount, listing.price_currency or conn.currency),  # type: ignore[arg-type]
            external_id=listing.external_id,
        )
        for listing in changed
    ]
    try:
        results, _ = await _with_fresh_credentials(
            ctx, tenant_id, slug, view, lambda v: provider.push_prices(v, updates)
        )
    except ChannelError as exc:
        await _record_error(ctx, tenant_id, slug, connection_id, exc)
        raise
    async with ctx.db.write(tenant_id, slug=slug) as session:
        return await _record_push(
            session,
            "price",
            [(listing, {"last_pushed_price": listing.price_amount}) for listing in changed],
            results,
            utcnow(),
        )


#: What a listing's error says when the plugin gave no result for its SKU.
NO_ANSWER = "the channel gave no answer for this SKU"


async def _record_push(
    session: AsyncSession,
    operation: str,
    pushed: list[tuple[Listing, dict[str, Any]]],
    results: Sequence[PushResult],
    now: datetime,
) -> dict[str, int]:
    """Record a push listing by listing: an accepted one gets ``values`` (what the channel
    now has) and loses an error of the same ``operation``; a refused one keeps the
    channel's message as its ``last_error`` and is pushed again next time. A refusal that
    is new (or changed) is announced once, as ``listing.push_failed``."""
    answers = {r.channel_sku: r for r in results}
    accepted = 0
    for listing, values in pushed:
        result = answers.get(listing.channel_sku)
        if result is not None and result.accepted:
            accepted += 1
            if listing.last_error is not None and listing.last_error_operation == operation:
                values = {**values, "last_error": None, "last_error_at": None, "last_error_operation": None}
            await session.execute(update(Listing).where(Listing.id == listing.id).values(**values))
            continue
        message = ((result.message if result is not None else None) or NO_ANSWER)[:MAX_LISTING_ERROR]
        await session.execute(
            update(Listing)
            .where(Listing.id == listing.id)
            .values(last_error=message, last_error_at=now, last_error_operation=operation)
        )
        if (listing.last_error, listing.last_error_operation) != (message, operation):
            emit(
                session,
                "listing.push_failed",
                f"Listing:{listing.id}",
                operation=operation,
                channel_sku=listing.channel_sku,
                error=message,
            )
    return {"pushed": accepted, "rejected": len(pushed) - accepted}


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
    slug = await _slug(ctx, tenant_id)
    async with ctx.db.tenant(tenant_id, slug) as session:
        shipment = await session.scalar(select(Shipment).where(Shipment.id == shipment_id))
        if shipment is None or shipment.confirmed_at is not None:
            return "done"
        order = await session.scalar(select(Order).where(Order.id == shipment.order_id))
        assert order is not None
        conn = await session.scalar(select(Connection).where(Connection.id == order.connection_id))
        assert conn is not None
        provider = ctx.plugins.marketplace(conn.channel)
        lines = (
            await session.execute(
                select(OrderLine.external_id, Allocation.quantity)
                .join(Allocation, Allocation.order_line_id == OrderLine.id)
                .where(Allocation.shipment_id == shipment.id)
            )
        ).all()
        _respect_throttle(conn)
        view = ctx.view(session, conn)
    if MarketplaceCapability.SHIPMENTS_CONFIRM not in provider.capabilities:
        async with ctx.db.write(tenant_id, slug=slug) as session:
            await session.execute(
                update(Shipment)
                .where(Shipment.id == shipment_id)
                .values(confirm_error=f"{conn.channel} cannot confirm shipments yet")
            )
        return "unsupported"
    confirmation = ShipmentConfirmation(
        order_external_id=order.external_id,
        carrier=shipment.carrier or "",
        service=shipment.service,
        tracking_number=shipment.tracking_number or "",
        shipped_at=shipment.shipped_at or utcnow(),
        lines=[(external_id, int(qty)) for external_id, qty in lines],
        reference=f"crossdock-shipment-{shipment_id}",
        carrier_code=carrier_code(conn.settings, shipment.carrier),
    )
    try:
        assigned, _ = await _with_fresh_credentials(
            ctx, tenant_id, slug, view, lambda v: provider.confirm_shipment(v, confirmation)
        )
    except ChannelError as exc:
        async with ctx.db.write(tenant_id, slug=slug) as session:
            row = await session.scalar(select(Shipment).where(Shipment.id == shipment_id))
            assert row is not None
            row.confirm_attempts += 1
            row.confirm_error = f"{exc.code}: {exc.message}"
            if not exc.retryable:
                row.confirm_failed_at = utcnow()
                emit(session, "shipment.confirm_failed", f"Shipment:{shipment_id}", error=row.confirm_error)
        raise
    async with ctx.db.write(tenant_id, slug=slug) as session:
        row = await session.scalar(select(Shipment).where(Shipment.id == shipment_id))
        assert row is not None
        row.confirm_attempts += 1
        row.confirmed_at = utcnow()
        row.confirm_error = None
        row.confirm_failed_at = None
        if assigned:  # platform logistics: the channel's own tracking number is the one that counts
            row.tracking_number = assigned
        emit(session, "shipment.confirmed", f"Shipment:{shipment_id}", tracking_number=row.tracking_number)
    ctx.plugins.shipment_confirmed(
        tenant=slug or "",
        order_id=order.id,
        shipment_id=shipment_id,
        tracking_number=assigned or confirmation.tracking_number,
    )
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


def carrier_code(settings: dict[str, Any] | None, carrier: str | None) -> str | None:
    """The channel's code for a carrier, as the seller mapped it (names match loosely)."""
    if not carrier:
        return None
    wanted = "".join(carrier.lower().split())
    for name, code in ((settings or {}).get("carrier_codes") or {}).items():
        if "".join(str(name).lower().split()) == wanted:
            return str(code)
    return None


@register
async def process_webhook(ctx: JobContext, *, tenant_id: int, event_id: int) -> int:
    """Fetch the orders a stored push names and ingest them (idempotent: a re-run finds
    the event processed, and ingestion ignores what it already has)."""
    slug = await _slug(ctx, tenant_id)
    async with ctx.db.tenant(tenant_id, slug) as session:
        event = await session.scalar(select(WebhookEvent).where(WebhookEvent.id == event_id))
        if event is None or event.status == "processed":
            return 0
        conn = await session.scalar(select(Connection).where(Connection.id == event.connection_id))
        assert conn is not None
        view = ctx.view(session, conn)
        references = list(event.references)
    provider = ctx.plugins.marketplace(view.channel)
    fetched = []
    for reference in references:
        if reference.get("type") != "order":
            continue
        fetch = functools.partial(provider.fetch_order, external_id=str(reference["external_id"]))
        order, view = await _with_fresh_credentials(ctx, tenant_id, slug, view, fetch)
        fetched.append(order)
    async with ctx.db.write(tenant_id, slug=slug) as session:
        conn = await session.scalar(select(Connection).where(Connection.id == view.id))
        assert conn is not None
        result = await ingest_orders(session, ctx.plugins, conn, fetched)
        await session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.id == event_id)
            .values(status="processed", processed_at=utcnow())
        )
    return result.created + result.updated


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
    slug = await _slug(ctx, tenant_id)
    async with ctx.db.tenant(tenant_id, slug) as session:
        conn = await session.scalar(select(Connection).where(Connection.id == connection_id))
        if conn is None or conn.status != ConnectionStatus.ACTIVE:
            return {"received": 0, "stored": 0}
        provider = ctx.plugins.marketplace(conn.channel)
        view = ctx.view(session, conn)
    source = provider.notification_source(view)
    if source is None:  # the connection has no queue configured
        return {"received": 0, "stored": 0}
    totals = {"received": 0, "stored": 0}
    for _ in range(MAX_BATCHES_PER_DRAIN):
        try:
            batch = await source.receive(10)
            if not batch:
                break
            async with ctx.db.write(tenant_id, slug=slug) as session:
                totals["stored"] += await store_notifications(session, tenant_id, connection_id, batch)
            totals["received"] += len(batch)
            await source.ack([n.receipt for n in batch])
        except ChannelError as exc:
            if exc.retryable:
                raise
            async with ctx.db.write(tenant_id, slug=slug) as session:
                row = await session.scalar(select(Connection).where(Connection.id == connection_id))
                assert row is not None
                row.last_error = f"notifications: {exc.code}: {exc.message}"
                row.last_error_at = utcnow()
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
            order = await session.scalar(select(Order).where(Order.id == order_id))
            assert order is not None
            order.sla_flag = wanted
            emit(
                session,
                f"order.{'late' if wanted == 'late' else 'sla_at_risk'}",
                f"Order:{order_id}",
                ship_by=ship_by.isoformat(),
                external_id=order.external_id,
            )
        raised += 1
    return raised


@register
async def send_message(ctx: JobContext, *, tenant_id: int, message_id: int) -> str:
    """Send a stored reply to the channel; retried on transient errors. A permanent refusal
    marks the message failed and puts the conversation back to awaiting a reply."""
    slug = await _slug(ctx, tenant_id)
    async with ctx.db.tenant(tenant_id, slug) as session:
        message = await session.scalar(select(Message).where(Message.id == message_id))
        if message is None or message.delivery != "pending":
            return "done"
        conversation = await session.scalar(
            select(Conversation).where(Conversation.id == message.conversation_id)
        )
        assert conversation is not None
        conn = await session.scalar(select(Connection).where(Connection.id == conversation.connection_id))
        assert conn is not None
        provider = ctx.plugins.marketplace(conn.channel)
        _respect_throttle(conn)
        view = ctx.view(session, conn)
        outgoing = OutgoingMessage(
            thread_id=conversation.external_id,
            text=message.body,
            buyer_id=conversation.buyer_external_id,
            order_external_id=conversation.order_external_id,
            reference=f"crossdock-message-{message_id}",
        )
    try:
        external_id, _ = await _with_fresh_credentials(
            ctx, tenant_id, slug, view, lambda v: provider.send_message(v, outgoing)
        )
    except ChannelError as exc:
        if exc.retryable:
            await _record_error(ctx, tenant_id, slug, conn.id, exc)
            raise
        async with ctx.db.write(tenant_id, slug=slug) as session:
            row = await session.scalar(select(Message).where(Message.id == message_id))
            assert row is not None
            row.delivery = "failed"
            row.delivery_error = f"{exc.code}: {exc.message}"
            thread = await session.scalar(select(Conversation).where(Conversation.id == row.conversation_id))
            assert thread is not None
            await refresh_state(session, thread)
            emit(session, "message.send_failed", f"Conversation:{thread.id}", error=row.delivery_error)
        return "failed"
    async with ctx.db.write(tenant_id, slug=slug) as session:
        row = await session.scalar(select(Message).where(Message.id == message_id))
        assert row is not None
        row.delivery = "sent"
        row.delivery_error = None
        if external_id and row.external_id is None:
            row.external_id = external_id
        emit(session, "message.sent", f"Conversation:{row.conversation_id}")
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
            row = await session.scalar(select(Conversation).where(Conversation.id == conversation_id))
            assert row is not None
            row.overdue_notified_at = now
            emit(
                session,
                "conversation.reply_overdue",
                f"Conversation:{conversation_id}",
                reply_due_at=row.reply_due_at.isoformat() if row.reply_due_at else None,
            )
    return len(due)


@register
async def apply_promotions(ctx: JobContext, *, tenant_id: int) -> int:
    """Start and stop a tenant's price promotions that are due (deferred to each start and
    end, and run by the sweep); the listings whose price changed are pushed."""
    slug = await _slug(ctx, tenant_id)
    async with ctx.db.write(tenant_id, slug=slug) as session:
        return await reprice(session)


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
