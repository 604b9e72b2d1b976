"""After-sales on the channels: pushing the seller's answers to buyers' cases, and
cancelling an order on its channel. (Cases are pulled by ``sync_cases``, one more resource
of the sync engine, :mod:`crossdock.jobs.sync`.)

- ``respond_case`` pushes one stored answer (retried while the channel is unavailable; a
  refusal shows on the case, which can be answered again); ``case_response_sweep`` queues
  answers whose job was lost;
- :func:`cancel_on_channel` is what ``orderCancel`` calls, in the request, before the order
  is cancelled here: the operator sees the channel's refusal at once.
"""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select

from crossdock.db import utcnow
from crossdock.db.models import CaseResponseRow, ChannelCancel, Order, ResponseStatus
from crossdock.errors import ChannelError, NotFound, NotSupported
from crossdock.jobs.channel import open_channel, tenant_slug
from crossdock.jobs.registry import JobContext, periodic
from crossdock.jobs.registry import job as register
from crossdock.providers import CancelReason, MarketplaceCapability
from crossdock.services import audit
from crossdock.services.cases import (
    outgoing_response,
    record_response_failure,
    record_response_sent,
)

__all__ = ["cancel_on_channel", "case_response_sweep", "respond_case"]

#: An answer is left to its own job this long before the sweep queues it again.
SWEEP_GRACE = timedelta(seconds=30)


@register
async def respond_case(ctx: JobContext, *, tenant_id: int, response_id: int) -> str:
    """Push one stored answer to its channel."""
    slug = await tenant_slug(ctx, tenant_id)
    async with ctx.db.tenant(tenant_id, slug) as session:
        out = await outgoing_response(session, response_id)
    if out is None:
        return "done"
    ch = await open_channel(ctx, tenant_id, out.connection_id, slug=slug, only_active=False)
    if ch is None:
        return "done"
    try:
        case = await ch.call(lambda view: ch.provider.respond_to_case(view, out.response), record=False)
    except ChannelError as exc:
        if exc.retryable:
            await ch.record(exc)
            raise
        # a refusal is about this answer (the case moved on, an amount too high), not the
        # connection: it stays active
        async with ctx.db.write(tenant_id, slug=slug) as session:
            audit.begin_job(
                session, "case.response_refused", {"code": exc.code}, main=("CaseResponseRow", response_id)
            )
            await record_response_failure(session, response_id, exc)
        return "failed"
    async with ch.unit_of_work() as uow:
        # what the channel's acceptance changes (the case, its order, a refund), in the audit log
        audit.begin_job(uow.session, "case.response_sent", main=("CaseResponseRow", response_id))
        await record_response_sent(uow, response_id, case)
    return "sent"


@periodic(lambda settings: 60)
async def case_response_sweep(ctx: JobContext) -> int:
    """Queue ``respond_case`` again for answers still pending past their grace time (a job
    lost between commit and enqueue, or whose tries ran out while the channel throttled).
    The database says what is owed; an answer already taken is not pending any more."""
    bucket = int(time.time() // 60)
    async with ctx.db.system() as session:
        owed = (
            await session.execute(
                select(CaseResponseRow.id, CaseResponseRow.tenant_id)
                .where(
                    CaseResponseRow.status == ResponseStatus.PENDING,
                    CaseResponseRow.updated_at <= utcnow() - SWEEP_GRACE,
                )
                .order_by(CaseResponseRow.id)
                .limit(1_000)
            )
        ).all()
    for response_id, tenant_id in owed:
        await ctx.queue.enqueue(
            "respond_case",
            job_id=f"respond_case:{response_id}:sweep:{bucket}",
            tenant_id=tenant_id,
            response_id=response_id,
        )
    return len(owed)


async def cancel_on_channel(
    ctx: JobContext, tenant_id: int, slug: str | None, order_id: int, reason: CancelReason
) -> ChannelCancel:
    """Cancel order ``order_id`` on its channel, where the channel's API allows it.

    Raises the channel's :class:`ChannelError` when it refuses (an order already shipped
    there) or cannot be reached; the caller then leaves the order as it is.
    """
    async with ctx.db.tenant(tenant_id, slug) as session:
        row = (
            await session.execute(select(Order.connection_id, Order.external_id).where(Order.id == order_id))
        ).first()
    if row is None:
        raise NotFound(f"Order {order_id} not found", field="id")
    connection_id, external_id = row
    try:
        ch = await open_channel(ctx, tenant_id, connection_id, slug=slug, only_active=False)
    except NotSupported:  # its plugin is not installed here: nothing can ask its channel
        return ChannelCancel.NOT_SUPPORTED
    if ch is None or MarketplaceCapability.ORDERS_CANCEL not in ch.provider.capabilities:
        return ChannelCancel.NOT_SUPPORTED
    await ch.call(lambda view: ch.provider.cancel_order(view, external_id, reason), record=False)
    return ChannelCancel.CANCELLED
