"""Refunds that move money: ``refundRecord`` on an order paid through a payment provider.

:func:`refund` runs in three steps, as a label purchase does: (1) a PENDING ``Refund`` row,
committed first under the order's lock (so two refunds at once cannot exceed the total),
with the idempotency reference the provider is given (Stripe's ``Idempotency-Key``);
(2) the provider's ``refund`` outside any transaction, asked again with the same reference
when it does not answer; (3) the answer recorded: SUCCEEDED with the provider's refund id,
or FAILED with its message. A refund still without an answer stays PENDING and is resumed
by ``refund_resume`` with the same reference, so a lost answer never refunds twice;
``refund_sweep`` queues it for a refund whose process crashed before it asked.

The provider's account comes from the tenant settings' ``payments`` block, one entry per
provider (as ``paymentMethods`` reads it): ``credentials`` (an object, or a Fernet token of
one made with the server's key), ``base_url`` (an emulator, a proxy; checked against the
outbound policy), and the provider's own settings beside them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import utcnow
from crossdock.db.models import Order, Refund, RefundStatus, Tenant
from crossdock.db.retry import retry_conflicts
from crossdock.db.scoping import session_tenant
from crossdock.errors import ChannelError, CrossdockError, UserError
from crossdock.jobs.channel import tenant_slug
from crossdock.jobs.registry import JobContext, job, periodic
from crossdock.money import Money
from crossdock.net import OutboundPolicy
from crossdock.providers import PaymentAccount, PaymentProvider
from crossdock.providers import Refund as ProviderRefund
from crossdock.services import aftersales, audit
from crossdock.services.webhooks import MALFORMED

__all__ = [
    "ATTEMPTS",
    "payment_account",
    "receive_payment_push",
    "refund",
    "refund_resume",
    "refund_sweep",
    "resume",
]

log = logging.getLogger(__name__)

#: How many times one call asks the provider before leaving the refund to ``refund_resume``.
ATTEMPTS = 3
#: How long ``refund_resume`` waits after a call that got no answer.
RESUME_AFTER = 30.0


async def payment_account(ctx: JobContext, session: AsyncSession, provider: str) -> PaymentAccount:
    """The tenant's account with ``provider``, from its settings' ``payments`` block; a
    provider the tenant has not set up is ``PAYMENT_ERROR``."""
    settings = await session.scalar(
        select(Tenant.settings).where(Tenant.id == session_tenant(session.sync_session))
    )
    slug = await session.scalar(select(Tenant.slug).where(Tenant.id == session_tenant(session.sync_session)))
    block = ((settings or {}).get("payments") or {}).get(provider)
    if not isinstance(block, Mapping):
        raise UserError(
            f"the tenant's settings have no payments.{provider} account to refund through",
            field="orderId",
            code="PAYMENT_ERROR",
        )
    raw = block.get("credentials")
    credentials: Mapping[str, Any]
    if isinstance(raw, str):
        try:
            credentials = ctx.vault.decrypt(raw.encode())
        except CrossdockError:
            raise UserError(
                f"payments.{provider}.credentials cannot be decrypted with the server's key",
                field="orderId",
                code="PAYMENT_ERROR",
            ) from None
    elif isinstance(raw, Mapping):
        credentials = raw
    else:
        raise UserError(f"payments.{provider} has no credentials", field="orderId", code="PAYMENT_ERROR")
    base_url = block.get("base_url")
    if base_url:
        policy = ctx.http.policy if ctx.http is not None else OutboundPolicy()
        try:
            base_url = policy.check_url(str(base_url), field="orderId")
        except UserError as exc:
            raise UserError(
                f"payments.{provider}.base_url: {exc.message}", field="orderId", code="PAYMENT_ERROR"
            ) from None
    return PaymentAccount(
        id=0,
        tenant=slug or "",
        provider=provider,
        credentials=dict(credentials),
        base_url=base_url or None,
        settings={k: v for k, v in block.items() if k not in ("credentials", "base_url")},
    )


async def refund(
    ctx: JobContext,
    tenant_id: int,
    slug: str | None,
    order_id: int,
    amount: Money,
    *,
    reason: str | None = None,
    reference: str | None = None,
    out_of_band: bool = False,
) -> int:
    """Refund ``amount`` of the order (see the module doc); returns the refund's id. Raises
    ``UserError``: the service's refusals (``OVER_REFUND`` ...), ``PAYMENT_REFUSED`` with the
    provider's message (the refund is kept, FAILED), ``PAYMENT_UNAVAILABLE`` when the
    provider did not answer (the refund stays PENDING and is resumed)."""

    async def begin() -> tuple[int, str]:
        async with ctx.units(tenant_id, slug) as uow:
            row = await aftersales.record_refund(
                uow.session,
                order_id,
                amount,
                reason=reason,
                reference=reference,
                plugins=ctx.plugins,
                out_of_band=out_of_band,
            )
            if row.status == RefundStatus.PENDING:
                assert row.provider is not None
                await payment_account(ctx, uow.session, row.provider)  # set up, or refused now
            return row.id, str(row.status)

    refund_id, status = await retry_conflicts(begin)
    if status == RefundStatus.PENDING:
        await resume(ctx, tenant_id, slug, refund_id, first=True)
    return refund_id


async def _ask(
    provider: PaymentProvider, account: PaymentAccount, payment_reference: str, amount: Money, key: str
) -> ProviderRefund:
    """The provider's refund, asked up to :data:`ATTEMPTS` times with the same reference
    while it does not answer (a refused one is raised at once)."""
    last: ChannelError | None = None
    for _ in range(ATTEMPTS):
        try:
            return await provider.refund(account, payment_reference, amount, key)
        except ChannelError as exc:
            if not exc.retryable:
                raise
            last = exc
    assert last is not None
    raise last


async def resume(
    ctx: JobContext, tenant_id: int, slug: str | None, refund_id: int, *, first: bool = False
) -> RefundStatus:
    """Carry a pending refund to its end: ask the provider (again, with the refund's own
    reference) and record the answer. Safe to run any number of times, in any process."""
    async with ctx.db.tenant(tenant_id, slug) as session:
        row = await session.scalar(select(Refund).where(Refund.id == refund_id))
        if row is None:
            raise UserError("no such refund", code="NOT_FOUND")
        if row.status != RefundStatus.PENDING:
            return RefundStatus(row.status)
        if row.provider_reference:
            # the provider took it and reports the outcome through its webhook
            return RefundStatus.PENDING
        order = await session.scalar(select(Order).where(Order.id == row.order_id))
        assert order is not None
        assert order.payment_reference
        assert row.provider
        assert row.request_reference
        name, key, payment_reference = row.provider, row.request_reference, order.payment_reference
        money = Money(row.amount, row.currency)
        account = await payment_account(ctx, session, name)
    provider = ctx.plugins.payment_providers.get(name)
    if provider is None:
        raise UserError(f"the payment provider {name!r} is not installed", code="PAYMENT_ERROR")
    shown = provider.display_name or provider.name
    try:
        answer = await _ask(provider, account, payment_reference, money, key)
    except ChannelError as exc:
        final = not exc.retryable
        async with ctx.units(tenant_id, slug) as uow:
            if final:
                audit.begin_job(uow.session, "refund.failed", {"code": exc.code}, main=("Refund", refund_id))
            await aftersales.refund_failed(uow.session, refund_id, f"{exc.code}: {exc.message}", final=final)
            if not final:
                uow.enqueue(
                    "refund_resume",
                    job_id=f"refund_resume:{refund_id}",
                    defer_by=RESUME_AFTER,
                    tenant_id=tenant_id,
                    refund_id=refund_id,
                )
        if final:
            raise UserError(f"{shown}: {exc.message}", field="amount", code="PAYMENT_REFUSED") from None
        raise UserError(
            f"{shown} did not answer ({exc.message}); the refund stays pending and is retried with "
            "the same reference, never made twice",
            field="amount",
            code="PAYMENT_UNAVAILABLE",
        ) from None
    async with ctx.units(tenant_id, slug) as uow:
        # a refund a job carried to its end (``refund_resume``) is the job's audit entry
        audit.begin_job(uow.session, f"refund.{answer.status}", main=("Refund", refund_id))
        if answer.status == "failed":
            done = await aftersales.refund_failed(
                uow.session,
                refund_id,
                f"{shown} failed the refund",
                final=True,
                provider_reference=answer.provider_reference,
            )
        elif answer.status == "succeeded":
            done = await aftersales.refund_succeeded(uow.session, refund_id, answer.provider_reference)
        else:  # taken, not yet done (some methods): its webhook says when
            done = await aftersales.refund_accepted(uow.session, refund_id, answer.provider_reference)
    if done.status == RefundStatus.FAILED and first:
        raise UserError(f"{shown} failed the refund", field="amount", code="PAYMENT_REFUSED")
    return RefundStatus(done.status)


@job
async def refund_resume(ctx: JobContext, tenant_id: int, refund_id: int) -> str:
    """Ask the provider again about a refund it did not answer (same reference)."""
    slug = await tenant_slug(ctx, tenant_id)
    try:
        status = await resume(ctx, tenant_id, slug, refund_id)
    except UserError as exc:
        if exc.code == "PAYMENT_UNAVAILABLE":
            raise ChannelError(exc.message, code="CHANNEL_ERROR", retryable=True) from None
        return f"refused: {exc.message}"
    return str(status)


#: A pending refund no one asked the provider about for this long is the sweep's.
SWEEP_GRACE = timedelta(minutes=2)


@periodic(lambda settings: 60)
async def refund_sweep(ctx: JobContext) -> int:
    """Queue ``refund_resume`` for refunds still PENDING, unanswered by their provider, past
    their grace time: a process that crashed between writing the refund and asking the
    provider (or whose resume job was lost) leaves one behind. The refund's own reference
    is sent again, so a refund the provider did make is not made twice."""
    bucket = int(time.time() // 60)
    async with ctx.db.system() as session:
        owed = (
            await session.execute(
                select(Refund.id, Refund.tenant_id)
                .where(
                    Refund.status == RefundStatus.PENDING,
                    Refund.provider.is_not(None),
                    Refund.provider_reference.is_(None),
                    Refund.updated_at <= utcnow() - SWEEP_GRACE,
                )
                .order_by(Refund.id)
                .limit(1_000)
            )
        ).all()
    for refund_id, tenant_id in owed:
        await ctx.queue.enqueue(
            "refund_resume",
            job_id=f"refund_resume:{refund_id}:sweep:{bucket}",
            tenant_id=tenant_id,
            refund_id=refund_id,
        )
    return len(owed)


async def receive_payment_push(
    ctx: JobContext, provider_name: str, tenant: str, headers: Mapping[str, str], body: bytes
) -> int:
    """A payment provider's push to ``/webhooks/payments/{provider}/{tenant slug}``, verified
    by the provider with the tenant's account (Stripe: ``Stripe-Signature`` with the
    ``webhook_secret``) and applied to the refunds it names at once; returns the refunds
    changed. Unknown provider, tenant or account: ``NotFound``; a signature that does not
    verify: ``Unauthenticated``; a verified body the provider would not send: ``UserError``
    ``WEBHOOK_MALFORMED``. Applying the same push twice changes nothing the second time."""
    from crossdock.db.models import Tenant as TenantRow
    from crossdock.errors import NotFound, Unauthenticated
    from crossdock.providers import PaymentCapability

    provider = ctx.plugins.payment_providers.get(provider_name)
    if provider is None or PaymentCapability.WEBHOOKS not in provider.capabilities:
        raise NotFound("no such webhook")
    async with ctx.db.system() as session:
        tenant_id = await session.scalar(select(TenantRow.id).where(TenantRow.slug == tenant))
    if tenant_id is None:
        raise NotFound("no such webhook")
    async with ctx.db.tenant(tenant_id, tenant) as session:
        try:
            account = await payment_account(ctx, session, provider_name)
        except UserError:
            raise NotFound("no such webhook") from None
    try:
        events = list(provider.parse_webhook(account, headers, body))
    except ChannelError as exc:
        if exc.code in ("SIGNATURE", "UNAUTHENTICATED"):
            log.warning("%s push refused for tenant %s: %s", provider_name, tenant, exc.message)
            raise Unauthenticated("webhook signature does not verify") from None
        raise UserError("the push is not one this provider sends", code=MALFORMED) from None
    except Exception:
        log.exception("the %s plugin failed on a push for tenant %s", provider_name, tenant)
        raise UserError("the push is not one this provider sends", code=MALFORMED) from None

    async def apply() -> int:
        async with ctx.units(tenant_id, tenant) as uow:
            return await aftersales.apply_payment_events(uow.session, provider_name, events)

    return await retry_conflicts(apply)
