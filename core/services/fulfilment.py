"""From reserved stock to a confirmed shipment, and the ways out: cancel and deliver.

``allocated`` -> (pick list) ``picking`` -> (pack: carrier + tracking) ``packed`` ->
(ship: stock leaves) ``shipped`` -> (channel confirms the tracking number, as a retried
job) -> ``delivered``. Cancelling releases whatever is still reserved.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import utcnow
from crossdock.db.engine import enqueue_after_commit
from crossdock.db.models import (
    Allocation,
    AllocationStatus,
    Order,
    OrderHold,
    OrderStatus,
    Shipment,
    ShipmentStatus,
    StockReason,
    Variant,
)
from crossdock.db.scoping import session_tenant
from crossdock.errors import UserError
from crossdock.services.allocation import set_status
from crossdock.services.common import non_empty
from crossdock.services.events import emit
from crossdock.services.inventory import record_change
from crossdock.services.states import check_transition, lock, lock_many, lock_shipment

if TYPE_CHECKING:
    from crossdock.plugins import Plugins

__all__ = [
    "PickLine",
    "cancel_order",
    "mark_delivered",
    "pack_shipment",
    "pick_list",
    "ship_shipment",
    "start_picking",
]

#: States from which an order can no longer be cancelled (stock has left).
GONE = (OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.RETURNED, OrderStatus.REFUNDED)


@dataclass
class PickLine:
    variant_id: int
    sku: str
    quantity: int
    order_ids: list[int] = field(default_factory=list)


async def pick_list(session: AsyncSession, warehouse_id: int) -> list[PickLine]:
    """What to take off the shelves of one warehouse for orders not yet packed, by SKU."""
    rows = (
        await session.execute(
            select(Allocation.variant_id, Variant.sku, Allocation.quantity, Allocation.order_id)
            .join(Variant, Variant.id == Allocation.variant_id)
            .join(Order, Order.id == Allocation.order_id)
            .where(
                Allocation.warehouse_id == warehouse_id,
                Allocation.status == AllocationStatus.RESERVED,
                Order.status.in_((OrderStatus.ALLOCATED, OrderStatus.PICKING)),
            )
            .order_by(Variant.sku, Allocation.order_id)
        )
    ).all()
    lines: dict[int, PickLine] = {}
    for variant_id, sku, qty, order_id in rows:
        line = lines.setdefault(variant_id, PickLine(variant_id, sku, 0))
        line.quantity += qty
        if order_id not in line.order_ids:
            line.order_ids.append(order_id)
    return list(lines.values())


async def start_picking(session: AsyncSession, warehouse_id: int) -> list[PickLine]:
    """Issue the pick list of a warehouse: its allocated orders move to ``picking``."""
    lines = await pick_list(session, warehouse_id)
    order_ids = {oid for line in lines for oid in line.order_ids}
    for order in await lock_many(session, Order, order_ids):
        if order.status == OrderStatus.ALLOCATED:
            await set_status(session, order, OrderStatus.PICKING, f"pick list for warehouse {warehouse_id}")
    if order_ids:  # what the locks let through: an order cancelled meanwhile is not picked
        lines = await pick_list(session, warehouse_id)
    return lines


async def pack_shipment(
    session: AsyncSession,
    order_id: int,
    warehouse_id: int,
    *,
    carrier: str,
    tracking_number: str,
    service: str | None = None,
) -> Shipment:
    """Pack an order's reserved units in one warehouse into a shipment with its tracking."""
    order = await lock(session, Order, order_id, field="orderId")
    if order.status not in (OrderStatus.ALLOCATED, OrderStatus.PICKING, OrderStatus.PACKED):
        raise UserError(
            f"an order that is {order.status} cannot be packed", field="orderId", code="INVALID_STATE"
        )
    allocations = (
        await session.scalars(
            select(Allocation).where(
                Allocation.order_id == order.id,
                Allocation.warehouse_id == warehouse_id,
                Allocation.status == AllocationStatus.RESERVED,
            )
        )
    ).all()
    if not allocations:
        raise UserError(
            "nothing of this order is waiting in that warehouse", field="warehouseId", code="NOTHING_TO_PACK"
        )
    shipment = Shipment(
        order_id=order.id,
        warehouse_id=warehouse_id,
        status=ShipmentStatus.PACKED,
        carrier=non_empty(carrier, "carrier", max_length=64),
        service=service,
        tracking_number=non_empty(tracking_number, "trackingNumber", max_length=128),
    )
    session.add(shipment)
    await session.flush()
    for allocation in allocations:
        allocation.status = AllocationStatus.PACKED
        allocation.shipment_id = shipment.id
    emit(
        session,
        "shipment.packed",
        f"Shipment:{shipment.id}",
        order_id=order.id,
        tracking_number=tracking_number,
    )
    if not await _has_allocations(session, order.id, AllocationStatus.RESERVED):
        await set_status(session, order, OrderStatus.PACKED, f"packed in shipment {shipment.id}")
    return shipment


async def _has_allocations(session: AsyncSession, order_id: int, status: AllocationStatus) -> bool:
    found = await session.scalar(
        select(Allocation.id).where(Allocation.order_id == order_id, Allocation.status == status).limit(1)
    )
    return found is not None


async def _allocations(session: AsyncSession, *where: ColumnElement[bool]) -> Sequence[Allocation]:
    """Allocations read fresh, in stock-level order: the levels they change are then
    updated in the global lock order."""
    return (
        await session.scalars(
            select(Allocation)
            .where(*where)
            .order_by(Allocation.variant_id, Allocation.warehouse_id, Allocation.id)
            .execution_options(populate_existing=True)
        )
    ).all()


async def ship_shipment(
    session: AsyncSession,
    shipment_id: int,
    *,
    shipped_at: datetime | None = None,
    api_key_id: int | None = None,
    plugins: Plugins | None = None,
) -> Shipment:
    """The parcel left: its units leave on-hand stock and their reservation; the channel
    is told through a retried ``confirm_shipment`` job after commit."""
    order, shipment = await lock_shipment(session, shipment_id)
    check_transition("shipment", shipment.status, ShipmentStatus.SHIPPED)
    allocations = await _allocations(session, Allocation.shipment_id == shipment.id)
    for allocation in allocations:
        await record_change(
            session,
            variant_id=allocation.variant_id,
            warehouse_id=allocation.warehouse_id,
            delta_on_hand=-allocation.quantity,
            delta_reserved=-allocation.quantity,
            reason=StockReason.SHIPMENT,
            reference=f"shipment {shipment.id}",
            api_key_id=api_key_id,
            plugins=plugins,
            checked=True,
        )
        allocation.status = AllocationStatus.SHIPPED
    shipment.status = ShipmentStatus.SHIPPED
    shipment.shipped_at = shipped_at or utcnow()
    emit(session, "shipment.shipped", f"Shipment:{shipment.id}", order_id=order.id)
    if not (
        await _has_allocations(session, order.id, AllocationStatus.RESERVED)
        or await _has_allocations(session, order.id, AllocationStatus.PACKED)
    ):
        await set_status(session, order, OrderStatus.SHIPPED, f"shipment {shipment.id} shipped")
    if not order.fulfilled_by_channel:
        enqueue_after_commit(
            session,
            "confirm_shipment",
            job_id=f"confirm_shipment:{shipment.id}",
            tenant_id=session_tenant(session.sync_session),
            shipment_id=shipment.id,
        )
    return shipment


async def release_allocations(
    session: AsyncSession, order: Order, reason: str, plugins: Plugins | None = None
) -> int:
    """Give back every unit still reserved for ``order``; returns how many."""
    allocations = await _allocations(
        session,
        Allocation.order_id == order.id,
        Allocation.status.in_((AllocationStatus.RESERVED, AllocationStatus.PACKED)),
    )
    released = 0
    for allocation in allocations:
        await record_change(
            session,
            variant_id=allocation.variant_id,
            warehouse_id=allocation.warehouse_id,
            delta_reserved=-allocation.quantity,
            reason=StockReason.RELEASE,
            reference=f"order {order.external_id}: {reason}",
            plugins=plugins,
            checked=True,
        )
        allocation.status = AllocationStatus.RELEASED
        released += allocation.quantity
    packed = (
        await session.scalars(
            select(Shipment)
            .where(Shipment.order_id == order.id, Shipment.status == ShipmentStatus.PACKED)
            .order_by(Shipment.id)
            .with_for_update()
        )
    ).all()
    for shipment in packed:
        shipment.status = ShipmentStatus.CANCELLED
    return released


async def cancel_order(
    session: AsyncSession,
    order_id: int,
    reason: str,
    *,
    plugins: Plugins | None = None,
    by_channel: bool = False,
) -> Order:
    order = await lock(session, Order, order_id)
    if order.status == OrderStatus.CANCELLED:
        return order
    if order.status in GONE:
        raise UserError(
            f"the order is {order.status}: receive a return instead", field="id", code="ALREADY_SHIPPED"
        )
    await release_allocations(session, order, "cancelled", plugins)
    now = utcnow()
    for hold in (
        await session.scalars(
            select(OrderHold).where(OrderHold.order_id == order.id, OrderHold.released_at.is_(None))
        )
    ).all():
        hold.released_at = now
    await set_status(session, order, OrderStatus.CANCELLED, ("channel: " if by_channel else "") + reason)
    return order


async def mark_delivered(session: AsyncSession, order_id: int, reason: str = "delivered") -> Order:
    order = await lock(session, Order, order_id)
    if order.status != OrderStatus.SHIPPED:
        raise UserError(
            f"an order that is {order.status} cannot be delivered", field="id", code="INVALID_STATE"
        )
    await set_status(session, order, OrderStatus.DELIVERED, reason)
    return order


async def ship_channel_fulfilled(session: AsyncSession, order: Order, plugins: Plugins | None = None) -> None:
    """The marketplace shipped an order from its own stock: mirror it in its warehouse.
    ``order`` is locked by the caller (the page ingest locks the orders it updates)."""
    allocations = await _allocations(
        session, Allocation.order_id == order.id, Allocation.status == AllocationStatus.RESERVED
    )
    per_level: dict[tuple[int, int], int] = defaultdict(int)
    for allocation in allocations:
        per_level[(allocation.variant_id, allocation.warehouse_id)] += allocation.quantity
        allocation.status = AllocationStatus.SHIPPED
    for (variant_id, warehouse_id), qty in per_level.items():
        await record_change(
            session,
            variant_id=variant_id,
            warehouse_id=warehouse_id,
            delta_on_hand=-qty,
            delta_reserved=-qty,
            reason=StockReason.SHIPMENT,
            reference=f"order {order.external_id} shipped by the channel",
            plugins=plugins,
            checked=True,
        )
    await set_status(session, order, OrderStatus.SHIPPED, "channel: shipped from its own stock")
