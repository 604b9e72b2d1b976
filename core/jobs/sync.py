"""The sync engine: pulling orders, buyer messages, payouts and after-sales cases from each connection, one
committed page at a time, from a cursor that survives a killed worker.

:func:`schedule_syncs` queues one sync per active connection and resource each interval;
each ``sync_<resource>`` job runs the shared cursor loop (:func:`_sync_pages`) with its
own way to store a page (a service: orders, messages, settlements).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from crossdock.db import utcnow
from crossdock.db.models import Connection, ConnectionStatus
from crossdock.errors import ChannelError
from crossdock.jobs.channel import Channel, open_channel, tenant_slug
from crossdock.jobs.registry import JobContext, periodic
from crossdock.jobs.registry import job as register
from crossdock.providers import CasePage, MarketplaceCapability, MessagePage, OrderPage, SettlementPage
from crossdock.services.cases import ingest_cases
from crossdock.services.connections import record_channel_error
from crossdock.services.messaging import ingest_messages
from crossdock.services.orders import ingest_orders
from crossdock.services.settlements import ingest_settlements
from crossdock.services.uow import UnitOfWork

__all__ = [
    "INITIAL_BACKFILL",
    "MAX_PAGES_PER_RUN",
    "OVERLAP",
    "SYNCED",
    "schedule_syncs",
    "sync_cases",
    "sync_messages",
    "sync_orders",
    "sync_settlements",
]

log = logging.getLogger(__name__)

#: Re-read this much before the cursor: marketplaces index updates with some delay.
OVERLAP = timedelta(minutes=5)
#: A sync run commits at most this many pages, then queues its continuation.
MAX_PAGES_PER_RUN = 50
#: A new connection's first sync reaches this far back.
INITIAL_BACKFILL = timedelta(days=30)

#: The resources a connection is synced for, and the capability each needs.
SYNCED: dict[str, MarketplaceCapability] = {
    "orders": MarketplaceCapability.ORDERS_SYNC,
    "messages": MarketplaceCapability.MESSAGES_READ,
    "settlements": MarketplaceCapability.SETTLEMENTS,
    "cases": MarketplaceCapability.CASES_SYNC,
}

#: Stores one page in the page's transaction; returns counts to add to the run's totals.
Store = Callable[[UnitOfWork, Connection, Any], Awaitable[dict[str, int]]]


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

    async def store(uow: UnitOfWork, conn: Connection, page: OrderPage) -> dict[str, int]:
        result = await ingest_orders(uow, conn, page.orders)
        return {"created": result.created, "updated": result.updated, "ignored": result.ignored}

    return await _sync(ctx, tenant_id, connection_id, "orders", "fetch_orders", store)


@register
async def sync_messages(ctx: JobContext, *, tenant_id: int, connection_id: int) -> dict[str, Any]:
    """Pull buyer messages sent since the connection's cursor, one committed page at a time."""

    async def store(uow: UnitOfWork, conn: Connection, page: MessagePage) -> dict[str, int]:
        result = await ingest_messages(uow.session, conn, page.messages)
        return {"received": result.received, "conversations": result.conversations, "ignored": result.ignored}

    return await _sync(ctx, tenant_id, connection_id, "messages", "fetch_messages", store)


@register
async def sync_settlements(ctx: JobContext, *, tenant_id: int, connection_id: int) -> dict[str, Any]:
    """Pull marketplace payouts (open ones again until they close), a committed page at a time."""

    async def store(uow: UnitOfWork, conn: Connection, page: SettlementPage) -> dict[str, int]:
        return await ingest_settlements(uow.session, conn, page.settlements)

    return await _sync(ctx, tenant_id, connection_id, "settlements", "fetch_settlements", store)


@register
async def sync_cases(ctx: JobContext, *, tenant_id: int, connection_id: int) -> dict[str, Any]:
    """Pull buyers' cancellation, return and refund requests updated since the cursor."""

    async def store(uow: UnitOfWork, conn: Connection, page: CasePage) -> dict[str, int]:
        return (await ingest_cases(uow, conn, page)).counts()

    return await _sync(ctx, tenant_id, connection_id, "cases", "fetch_cases", store)


async def _sync(
    ctx: JobContext, tenant_id: int, connection_id: int, resource: str, method: str, store: Store
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
            async with ctx.db.write(tenant_id, slug=await tenant_slug(ctx, tenant_id)) as session:
                await record_channel_error(session, connection_id, reason)
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
    ctx: JobContext, tenant_id: int, connection_id: int, resource: str, method: str, store: Store
) -> dict[str, Any]:
    """The cursor loop every resource shares.

    Each page is stored and the cursor/page token saved in the same transaction, so a
    worker killed mid-run resumes from the last committed page and loses nothing; storing
    is idempotent, so re-reading the overlap duplicates nothing. The cursor only moves to
    the run's start once the last page is in.
    """
    ch = await open_channel(ctx, tenant_id, connection_id, needs=SYNCED[resource])
    if ch is None:
        return {"skipped": True}
    state = dict(ch.connection.sync_state.get(resource) or {})
    cursor = datetime.fromisoformat(state["cursor"]) if "cursor" in state else utcnow() - INITIAL_BACKFILL
    run_started = datetime.fromisoformat(state["run_started"]) if "run_started" in state else utcnow()
    page_token: str | None = state.get("page_token")
    totals: dict[str, int] = {"pages": 0}

    async def fetch(token: str | None) -> Any:
        """One page; a channel's error is recorded on the connection."""
        method_of = getattr(ch.provider, method)
        return await ch.call(functools.partial(method_of, updated_since=cursor - OVERLAP, page_token=token))

    async def save(page: Any) -> dict[str, int]:
        """Store one page and move the sync state past it, in one transaction."""
        async with ch.unit_of_work() as uow:
            conn = await uow.session.scalar(select(Connection).where(Connection.id == connection_id))
            assert conn is not None
            counts = await store(uow, conn, page)
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
    ahead: asyncio.Task[Any] | None = None
    while True:
        try:
            page = await (ahead or fetch(page_token))
        except ChannelError as exc:
            if exc.retryable and totals["pages"]:
                # progress was made: continue in a fresh job rather than spend this one's tries
                await _continue_sync(ch, resource, page_token, exc.retry_after or 1.0)
                return totals
            raise
        ahead = None
        if page.next_page_token and totals["pages"] + 1 < MAX_PAGES_PER_RUN:
            ahead = asyncio.ensure_future(fetch(page.next_page_token))
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
            await _continue_sync(ch, resource, page_token, 0)
            return totals


async def _continue_sync(ch: Channel, resource: str, page_token: str | None, delay: float) -> None:
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
    key = f"sync_{resource}:{ch.connection_id}:page:{digest}"
    for job_id in (key, f"{key}:{time.time_ns()}"):
        if await ch.ctx.queue.enqueue(
            f"sync_{resource}",
            job_id=job_id,
            defer_by=delay or None,
            tenant_id=ch.tenant_id,
            connection_id=ch.connection_id,
        ):
            return
