"""Ship-by deadlines: which orders are at risk (due within N hours) or late.

An order counts until the channel has the tracking number: shipped but unconfirmed orders
are still at risk, because the marketplace measures the seller by the confirmation.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db.models import Order, OrderStatus, Shipment
from crossdock.errors import UserError
from crossdock.services.events import emit

__all__ = ["OPEN_STATUSES", "at_risk", "flag_order", "late", "unconfirmed"]

OPEN_STATUSES = (
    OrderStatus.PENDING,
    OrderStatus.ON_HOLD,
    OrderStatus.READY,
    OrderStatus.ALLOCATED,
    OrderStatus.PICKING,
    OrderStatus.PACKED,
)


def unconfirmed() -> ColumnElement[bool]:
    """Orders the channel does not yet know to be on their way."""
    waiting_confirmation = exists(
        select(Shipment.id).where(
            Shipment.order_id == Order.id, Shipment.confirmed_at.is_(None), Shipment.status == "shipped"
        )
    )
    return or_(
        Order.status.in_(OPEN_STATUSES),
        and_(
            Order.status == OrderStatus.SHIPPED, Order.fulfilled_by_channel.is_(False), waiting_confirmation
        ),
    )


#: The furthest ahead an at-risk query may look (a year).
MAX_HORIZON_HOURS = 24 * 366


def at_risk(now: datetime, within_hours: float) -> Any:
    if not 0 < within_hours <= MAX_HORIZON_HOURS:
        raise UserError(
            f"withinHours is more than 0 and at most {MAX_HORIZON_HOURS}", field="withinHours", code="INVALID"
        )
    return select(Order).where(
        unconfirmed(), Order.ship_by > now, Order.ship_by <= now + timedelta(hours=within_hours)
    )


def late(now: datetime) -> Any:
    return select(Order).where(unconfirmed(), Order.ship_by <= now)


async def flag_order(session: AsyncSession, order_id: int, flag: str) -> None:
    """Mark an order ``at_risk`` or ``late`` for its ship-by deadline and announce it."""
    order = await session.scalar(select(Order).where(Order.id == order_id))
    assert order is not None
    assert order.ship_by is not None
    order.sla_flag = flag
    emit(
        session,
        f"order.{'late' if flag == 'late' else 'sla_at_risk'}",
        f"Order:{order_id}",
        ship_by=order.ship_by.isoformat(),
        external_id=order.external_id,
    )
