"""Returns and refunds: what comes back after an order has shipped."""

from __future__ import annotations

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
    StockReason,
    Warehouse,
)
from crossdock.errors import UserError
from crossdock.money import Money
from crossdock.services.allocation import set_status
from crossdock.services.common import get_or_404
from crossdock.services.events import emit
from crossdock.services.inventory import record_change
from crossdock.services.states import ORDER_TRANSITIONS, lock

if TYPE_CHECKING:
    from crossdock.services.uow import UnitOfWork

__all__ = ["ReturnLine", "receive_return", "record_refund"]

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


async def record_refund(
    session: AsyncSession,
    order_id: int,
    amount: Money,
    *,
    reason: str | None = None,
    reference: str | None = None,
) -> Refund:
    """Money given back. Never more than the order's total; a full refund ends an order
    that has shipped or was cancelled (an open order is cancelled first, so its reserved
    stock goes back)."""
    order = await lock(session, Order, order_id, field="orderId")
    if amount.currency != order.currency:
        raise UserError(f"the order is in {order.currency}", field="amount", code="CURRENCY_MISMATCH")
    if amount.amount <= 0:
        raise UserError("a refund is a positive amount", field="amount", code="INVALID")
    already = Decimal(
        await session.scalar(
            select(func.coalesce(func.sum(Refund.amount), 0)).where(Refund.order_id == order.id)
        )
        or 0
    )
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
        order_id=order.id, amount=amount.amount, currency=amount.currency, reason=reason, reference=reference
    )
    session.add(refund)
    await session.flush()
    emit(session, "order.refunded", f"Order:{order.id}", amount=str(amount.amount), currency=amount.currency)
    if full:
        await set_status(session, order, OrderStatus.REFUNDED, reason or "refunded in full")
    return refund
