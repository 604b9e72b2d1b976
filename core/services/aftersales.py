"""Returns and refunds: what comes back after an order has shipped."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db.models import (
    Allocation,
    AllocationStatus,
    Order,
    OrderLine,
    OrderReturn,
    OrderStatus,
    Refund,
    RefundStatus,
    StockReason,
    Warehouse,
)
from crossdock.errors import UserError
from crossdock.money import Money
from crossdock.providers import PaymentCapability, PaymentEvent, PaymentProvider
from crossdock.services.allocation import set_status
from crossdock.services.analytics import mark as mark_figures
from crossdock.services.common import get_or_404
from crossdock.services.events import emit
from crossdock.services.inventory import record_change
from crossdock.services.states import ORDER_TRANSITIONS, lock

if TYPE_CHECKING:
    from crossdock.plugins import Plugins
    from crossdock.services.uow import UnitOfWork

__all__ = [
    "ReturnLine",
    "apply_payment_events",
    "receive_return",
    "record_refund",
    "refund_accepted",
    "refund_failed",
    "refund_provider",
    "refund_succeeded",
]

CONDITIONS = ("sellable", "damaged")


@dataclass(frozen=True)
class ReturnLine:
    order_line_id: int
    quantity: int
    condition: str


async def receive_return(
    uow: UnitOfWork,
    order_id: int,
    warehouse_id: int,
    lines: Sequence[ReturnLine],
    *,
    note: str | None = None,
    api_key_id: int | None = None,
) -> list[OrderReturn]:
    """Units come back: sellable ones go on hand, damaged ones are booked in and written
    off (two ledger rows, so the ledger shows both the return and the loss)."""
    session = uow.session
    order = await lock(session, Order, order_id, field="orderId")
    await get_or_404(session, Warehouse, warehouse_id, field="warehouseId")
    if order.status not in (OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.RETURNED):
        raise UserError(
            f"an order that is {order.status} has nothing to return", field="orderId", code="INVALID_STATE"
        )
    if not lines:
        raise UserError("name at least one line", field="lines", code="REQUIRED")
    shipped = dict(
        (
            await session.execute(
                select(Allocation.order_line_id, func.sum(Allocation.quantity))
                .where(Allocation.order_id == order.id, Allocation.status == AllocationStatus.SHIPPED)
                .group_by(Allocation.order_line_id)
            )
        ).all()
    )
    returned = dict(
        (
            await session.execute(
                select(OrderReturn.order_line_id, func.sum(OrderReturn.quantity))
                .where(OrderReturn.order_id == order.id)
                .group_by(OrderReturn.order_line_id)
            )
        ).all()
    )
    rows: list[OrderReturn] = []
    for i, item in enumerate(lines):
        prefix = f"lines.{i}"
        line = await session.scalar(
            select(OrderLine).where(OrderLine.id == item.order_line_id, OrderLine.order_id == order.id)
        )
        if line is None or line.variant_id is None:
            raise UserError(
                "not a shipped line of this order", field=f"{prefix}.orderLineId", code="NOT_FOUND"
            )
        if item.condition not in CONDITIONS:
            raise UserError("condition is sellable or damaged", field=f"{prefix}.condition", code="INVALID")
        can_return = int(shipped.get(line.id, 0)) - int(returned.get(line.id, 0))
        if not 0 < item.quantity <= can_return:
            raise UserError(
                f"between 1 and {can_return} units of this line can come back",
                field=f"{prefix}.quantity",
                code="INVALID",
            )
        returned[line.id] = int(returned.get(line.id, 0)) + item.quantity
        reference = f"return of order {order.external_id}"
        await record_change(
            uow,
            variant_id=line.variant_id,
            warehouse_id=warehouse_id,
            delta_on_hand=item.quantity,
            reason=StockReason.RETURN,
            reference=reference,
            note=note,
            api_key_id=api_key_id,
            checked=True,
        )
        if item.condition == "damaged":
            await record_change(
                uow,
                variant_id=line.variant_id,
                warehouse_id=warehouse_id,
                delta_on_hand=-item.quantity,
                reason=StockReason.DAMAGE,
                reference=reference,
                note=note or "returned damaged",
                api_key_id=api_key_id,
                checked=True,
            )
        row = OrderReturn(
            order_id=order.id,
            order_line_id=line.id,
            warehouse_id=warehouse_id,
            quantity=item.quantity,
            condition=item.condition,
            note=note,
        )
        session.add(row)
        mark_figures(session, [order.id])
        rows.append(row)
    await session.flush()
    emit(
        session,
        "order.return_received",
        f"Order:{order.id}",
        units=sum(r.quantity for r in rows),
        damaged=sum(r.quantity for r in rows if r.condition == "damaged"),
    )
    if all(int(returned.get(line_id, 0)) >= int(qty) for line_id, qty in shipped.items()):
        await set_status(session, order, OrderStatus.RETURNED, "every shipped unit came back")
    return rows


async def _counted(session: AsyncSession, order_id: int) -> Decimal:
    """What the order's refunds take from its total: given back, or being given back."""
    return Decimal(
        await session.scalar(
            select(func.coalesce(func.sum(Refund.amount), 0)).where(
                Refund.order_id == order_id, Refund.status != RefundStatus.FAILED
            )
        )
        or 0
    )


async def _succeeded(session: AsyncSession, order_id: int) -> Decimal:
    return Decimal(
        await session.scalar(
            select(func.coalesce(func.sum(Refund.amount), 0)).where(
                Refund.order_id == order_id, Refund.status == RefundStatus.SUCCEEDED
            )
        )
        or 0
    )


def refund_provider(plugins: Plugins, order: Order) -> PaymentProvider | None:
    """The provider ``refundRecord`` refunds the order through: None for an order without
    a payment link (a marketplace's: its refund is the channel's, only recorded). A link to
    a provider that is not installed, or cannot refund, is a typed refusal."""
    if not order.payment_provider or not order.payment_reference:
        return None
    provider = plugins.payment_providers.get(order.payment_provider)
    if provider is None:
        raise UserError(
            f"the order was paid through {order.payment_provider!r}, which is not installed here",
            field="orderId",
            code="PAYMENT_ERROR",
        )
    if PaymentCapability.REFUND not in provider.capabilities:
        raise UserError(
            f"{provider.display_name or provider.name} cannot give money back: refund the buyer "
            "yourself (cash, a bank transfer), then record it with outOfBand: true",
            field="orderId",
            code="REFUND_NOT_SUPPORTED",
        )
    return provider


async def record_refund(
    session: AsyncSession,
    order_id: int,
    amount: Money,
    *,
    reason: str | None = None,
    reference: str | None = None,
    plugins: Plugins | None,
    out_of_band: bool = False,
) -> Refund:
    """Money given back. Never more than the order's total; a full refund ends an order
    that has shipped or was cancelled (an open order is cancelled first, so its reserved
    stock goes back).

    An order paid through a provider that refunds (``plugins`` given, the order's payment
    link) gets a PENDING refund instead: the amount counts against the total at once (the
    order is locked, so two refunds at once cannot exceed it), and the caller asks the
    provider after commit (:mod:`crossdock.jobs.refunds`), then records the answer with
    :func:`refund_succeeded` or :func:`refund_failed`. ``out_of_band``: the money went back
    another way; recorded only."""
    order = await lock(session, Order, order_id, field="orderId")
    if amount.currency != order.currency:
        raise UserError(f"the order is in {order.currency}", field="amount", code="CURRENCY_MISMATCH")
    if amount.amount <= 0:
        raise UserError("a refund is a positive amount", field="amount", code="INVALID")
    provider = None if out_of_band or plugins is None else refund_provider(plugins, order)
    already = await _counted(session, order.id)
    if already + amount.amount > order.total_amount:
        left = Money(order.total_amount - already, order.currency).rounded()
        raise UserError(f"at most {left} can still be refunded", field="amount", code="OVER_REFUND")
    full = already + amount.amount == order.total_amount
    if full and OrderStatus.REFUNDED not in ORDER_TRANSITIONS[order.status]:
        raise UserError(
            f"the order is {order.status}: cancel it before refunding it in full",
            field="amount",
            code="INVALID_STATE",
        )
    refund = Refund(
        order_id=order.id,
        amount=amount.amount,
        currency=amount.currency,
        reason=reason,
        reference=reference,
        status=RefundStatus.SUCCEEDED if provider is None else RefundStatus.PENDING,
        provider=order.payment_provider if provider is not None or out_of_band else None,
        # the idempotency key the provider gets, the same on every retry
        request_reference=f"cdr-{order.id}-{secrets.token_hex(8)}" if provider is not None else None,
        attempts=0,
    )
    session.add(refund)
    await session.flush()
    mark_figures(session, [order.id])
    if provider is None:
        await _refunded(session, order, refund, reason)
    return refund


async def _refunded(session: AsyncSession, order: Order, refund: Refund, reason: str | None) -> None:
    """The money is back: announced, and the order refunded once all of it is."""
    emit(
        session,
        "order.refunded",
        f"Order:{order.id}",
        amount=str(refund.amount),
        currency=refund.currency,
        provider=refund.provider,
    )
    full = await _succeeded(session, order.id) >= order.total_amount
    if full and OrderStatus.REFUNDED in ORDER_TRANSITIONS[order.status]:
        await set_status(session, order, OrderStatus.REFUNDED, reason or "refunded in full")


async def _lock_refund(session: AsyncSession, refund_id: int) -> tuple[Order, Refund]:
    """The refund's order, then the refund, locked (the order first, as everywhere)."""
    order_id = await session.scalar(select(Refund.order_id).where(Refund.id == refund_id))
    if order_id is None:
        raise UserError("no such refund", code="NOT_FOUND")
    order = await lock(session, Order, order_id, field="orderId")
    refund = await session.scalar(
        select(Refund)
        .where(Refund.id == refund_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert refund is not None
    return order, refund


async def refund_succeeded(session: AsyncSession, refund_id: int, provider_reference: str) -> Refund:
    """The provider gave the money back (its refund id kept). Repeating it changes nothing."""
    order, refund = await _lock_refund(session, refund_id)
    if refund.status != RefundStatus.PENDING:
        return refund
    refund.status = RefundStatus.SUCCEEDED
    mark_figures(session, [refund.order_id])
    refund.provider_reference = provider_reference[:128]
    refund.error = None
    await _refunded(session, order, refund, refund.reason)
    return refund


async def refund_accepted(session: AsyncSession, refund_id: int, provider_reference: str) -> Refund:
    """The provider took the refund and will finish it later (its webhook says how): its
    id is kept, the refund stays pending."""
    _, refund = await _lock_refund(session, refund_id)
    if refund.status == RefundStatus.PENDING:
        refund.provider_reference = provider_reference[:128]
        refund.error = None
    return refund


async def refund_failed(
    session: AsyncSession, refund_id: int, message: str, *, final: bool, provider_reference: str | None = None
) -> Refund:
    """The provider refused (``final``: nothing moved, the amount is free again) or did not
    answer (the refund stays pending, to be asked again with the same reference)."""
    order, refund = await _lock_refund(session, refund_id)
    if refund.status != RefundStatus.PENDING:
        return refund
    refund.attempts += 1
    refund.error = message[:2000]
    if final:
        refund.status = RefundStatus.FAILED
        mark_figures(session, [refund.order_id])
        if provider_reference:
            refund.provider_reference = provider_reference[:128]
        emit(
            session,
            "order.refund_failed",
            f"Order:{order.id}",
            amount=str(refund.amount),
            currency=refund.currency,
            provider=refund.provider,
            message=refund.error,
        )
    return refund


async def apply_payment_events(session: AsyncSession, provider: str, events: Sequence[PaymentEvent]) -> int:
    """What a payment provider pushed about refunds, on the refunds it names (by the
    provider's refund id, so a redelivery or a second event about the same refund changes
    nothing twice): a refund the bank returned (``refund.failed``) becomes FAILED and no
    longer counts; a pending one the provider reports done becomes SUCCEEDED. Returns the
    refunds changed. Refunds made elsewhere (the provider's dashboard) are not invented."""
    changed = 0
    for event in events:
        if not event.refund_reference or event.type not in ("refund.succeeded", "refund.failed"):
            continue
        refund_id = await session.scalar(
            select(Refund.id).where(
                Refund.provider == provider, Refund.provider_reference == event.refund_reference
            )
        )
        if refund_id is None:
            continue
        order, refund = await _lock_refund(session, refund_id)
        if event.type == "refund.succeeded":
            if refund.status == RefundStatus.PENDING:
                await refund_succeeded(session, refund.id, event.refund_reference)
                changed += 1
            continue
        if refund.status == RefundStatus.FAILED:
            continue
        was = refund.status
        refund.status = RefundStatus.FAILED
        mark_figures(session, [refund.order_id])
        refund.error = f"{provider} reported the refund failed ({event.event_id})"[:2000]
        emit(
            session,
            "order.refund_failed",
            f"Order:{order.id}",
            amount=str(refund.amount),
            currency=refund.currency,
            provider=provider,
            message=refund.error,
            was=str(was),
        )
        changed += 1
    return changed
