"""From reserved stock to a confirmed shipment, and the ways out: cancel and deliver.

``allocated`` -> (pick list) ``picking`` -> (pack: carrier + tracking) ``packed`` ->
(ship: stock leaves) ``shipped`` -> (channel confirms the tracking number, as a retried
job) -> ``delivered``. Cancelling releases whatever is still reserved.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import utcnow
from crossdock.db.models import (
    Allocation,
    AllocationStatus,
    Connection,
    LabelPurchase,
    LabelStatus,
    Order,
    OrderHold,
    OrderLine,
    OrderStatus,
    Shipment,
    ShipmentPackage,
    ShipmentStatus,
    StockReason,
    Variant,
)
from crossdock.db.scoping import session_tenant, session_tenant_slug
from crossdock.errors import ChannelError, UserError
from crossdock.providers import Parcel, ShipmentConfirmation
from crossdock.services.allocation import set_status
from crossdock.services.common import non_empty
from crossdock.services.events import emit
from crossdock.services.inventory import record_change
from crossdock.services.states import check_transition, lock, lock_many, lock_shipment

if TYPE_CHECKING:
    from crossdock.services.uow import UnitOfWork

__all__ = [
    "Owed",
    "PickLine",
    "cancel_order",
    "carrier_code",
    "check_cancellable",
    "confirmation_for",
    "mark_delivered",
    "pack_shipment",
    "pick_list",
    "record_confirm_failure",
    "record_confirm_unsupported",
    "record_confirmed",
    "ship_shipment",
    "start_picking",
]

#: How many boxes one shipment may have.
MAX_PACKAGES = 50
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
    carrier: str | None = None,
    tracking_number: str | None = None,
    service: str | None = None,
    packages: Sequence[Parcel] = (),
) -> Shipment:
    """Pack an order's reserved units in one warehouse into a shipment: with the carrier and
    tracking number of a label bought elsewhere, or without (a label is then bought for it,
    or the channel books its own carrier). ``packages``: the boxes, weighed and measured."""
    if (carrier is None) != (tracking_number is None):
        raise UserError(
            "give the carrier and the tracking number together, or neither (then buy a label)",
            field="trackingNumber" if carrier else "carrier",
            code="REQUIRED",
        )
    if len(packages) > MAX_PACKAGES:
        raise UserError(f"at most {MAX_PACKAGES} packages", field="packages", code="OUT_OF_RANGE")
    for i, parcel in enumerate(packages):
        sizes = (parcel.length_mm, parcel.width_mm, parcel.height_mm)
        if not 0 < parcel.weight_grams <= 1_000_000 or any(
            v is not None and not 0 < v <= 10_000 for v in sizes
        ):
            raise UserError(
                "a package weighs 1 g to 1,000 kg and measures 1 to 10,000 mm a side",
                field=f"packages.{i}",
                code="OUT_OF_RANGE",
            )
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
        carrier=non_empty(carrier, "carrier", max_length=64) if carrier is not None else None,
        service=service,
        tracking_number=(
            non_empty(tracking_number, "trackingNumber", max_length=128)
            if tracking_number is not None
            else None
        ),
    )
    session.add(shipment)
    await session.flush()
    for position, parcel in enumerate(packages, 1):
        session.add(
            ShipmentPackage(
                shipment_id=shipment.id,
                position=position,
                weight_grams=parcel.weight_grams,
                length_mm=parcel.length_mm,
                width_mm=parcel.width_mm,
                height_mm=parcel.height_mm,
            )
        )
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
    uow: UnitOfWork,
    shipment_id: int,
    *,
    shipped_at: datetime | None = None,
    api_key_id: int | None = None,
) -> Shipment:
    """The parcel left: its units leave on-hand stock and their reservation; the channel
    is told through a retried ``confirm_shipment`` job after commit."""
    session = uow.session
    order, shipment = await lock_shipment(session, shipment_id)
    check_transition("shipment", shipment.status, ShipmentStatus.SHIPPED)
    busy = await session.scalar(
        select(LabelPurchase.status).where(
            LabelPurchase.shipment_id == shipment.id,
            LabelPurchase.status.in_((LabelStatus.PURCHASING, LabelStatus.VOIDING)),
        )
    )
    if busy is not None:
        doing = "bought" if busy == LabelStatus.PURCHASING else "voided"
        raise UserError(
            f"the shipment's label is being {doing}: ship it once that is done",
            field="id",
            code="INVALID_STATE",
        )
    allocations = await _allocations(session, Allocation.shipment_id == shipment.id)
    for allocation in allocations:
        await record_change(
            uow,
            variant_id=allocation.variant_id,
            warehouse_id=allocation.warehouse_id,
            delta_on_hand=-allocation.quantity,
            delta_reserved=-allocation.quantity,
            reason=StockReason.SHIPMENT,
            reference=f"shipment {shipment.id}",
            api_key_id=api_key_id,
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
    told = await session.scalar(
        select(LabelPurchase.id).where(
            LabelPurchase.shipment_id == shipment.id,
            LabelPurchase.status == LabelStatus.PURCHASED,
            LabelPurchase.channel_confirmed.is_(True),
        )
    )
    if told is not None:  # the marketplace's own logistics: buying the label told the channel
        shipment.confirmed_at = utcnow()
        emit(
            session, "shipment.confirmed", f"Shipment:{shipment.id}", tracking_number=shipment.tracking_number
        )
    elif not order.fulfilled_by_channel:
        uow.enqueue(
            "confirm_shipment",
            job_id=f"confirm_shipment:{shipment.id}",
            tenant_id=session_tenant(session.sync_session),
            shipment_id=shipment.id,
        )
    return shipment


async def release_allocations(uow: UnitOfWork, order: Order, reason: str) -> int:
    """Give back every unit still reserved for ``order``; returns how many."""
    session = uow.session
    allocations = await _allocations(
        session,
        Allocation.order_id == order.id,
        Allocation.status.in_((AllocationStatus.RESERVED, AllocationStatus.PACKED)),
    )
    released = 0
    for allocation in allocations:
        await record_change(
            uow,
            variant_id=allocation.variant_id,
            warehouse_id=allocation.warehouse_id,
            delta_reserved=-allocation.quantity,
            reason=StockReason.RELEASE,
            reference=f"order {order.external_id}: {reason}",
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


def check_cancellable(status: str) -> None:
    """An order that has left cannot be cancelled (its buyer returns it instead)."""
    if status in GONE:
        raise UserError(
            f"the order is {status}: receive a return instead", field="id", code="ALREADY_SHIPPED"
        )


async def cancel_order(uow: UnitOfWork, order_id: int, reason: str, *, by_channel: bool = False) -> Order:
    session = uow.session
    order = await lock(session, Order, order_id)
    if order.status == OrderStatus.CANCELLED:
        return order
    check_cancellable(order.status)
    await release_allocations(uow, order, "cancelled")
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


async def ship_channel_fulfilled(uow: UnitOfWork, order: Order) -> None:
    """The marketplace shipped an order from its own stock: mirror it in its warehouse.
    ``order`` is locked by the caller (the page ingest locks the orders it updates)."""
    session = uow.session
    allocations = await _allocations(
        session, Allocation.order_id == order.id, Allocation.status == AllocationStatus.RESERVED
    )
    per_level: dict[tuple[int, int], int] = defaultdict(int)
    for allocation in allocations:
        per_level[(allocation.variant_id, allocation.warehouse_id)] += allocation.quantity
        allocation.status = AllocationStatus.SHIPPED
    for (variant_id, warehouse_id), qty in per_level.items():
        await record_change(
            uow,
            variant_id=variant_id,
            warehouse_id=warehouse_id,
            delta_on_hand=-qty,
            delta_reserved=-qty,
            reason=StockReason.SHIPMENT,
            reference=f"order {order.external_id} shipped by the channel",
            checked=True,
        )
    await set_status(session, order, OrderStatus.SHIPPED, "channel: shipped from its own stock")


def carrier_code(settings: dict[str, Any] | None, carrier: str | None) -> str | None:
    """The channel's code for a carrier, as the seller mapped it (names match loosely)."""
    if not carrier:
        return None
    wanted = "".join(carrier.lower().split())
    for name, code in ((settings or {}).get("carrier_codes") or {}).items():
        if "".join(str(name).lower().split()) == wanted:
            return str(code)
    return None


@dataclass(frozen=True)
class Owed:
    """A shipment the channel has not accepted yet: what to tell it, over which connection."""

    shipment_id: int
    order_id: int
    connection_id: int
    channel: str
    confirmation: ShipmentConfirmation


async def confirmation_for(session: AsyncSession, shipment_id: int) -> Owed | None:
    """What the channel is to be told about a shipment; ``None`` once it has accepted it."""
    shipment = await session.scalar(select(Shipment).where(Shipment.id == shipment_id))
    if shipment is None or shipment.confirmed_at is not None:
        return None
    order = await session.scalar(select(Order).where(Order.id == shipment.order_id))
    assert order is not None
    conn = await session.scalar(select(Connection).where(Connection.id == order.connection_id))
    assert conn is not None
    lines = (
        await session.execute(
            select(OrderLine.external_id, Allocation.quantity)
            .join(Allocation, Allocation.order_line_id == OrderLine.id)
            .where(Allocation.shipment_id == shipment.id)
        )
    ).all()
    return Owed(
        shipment_id=shipment.id,
        order_id=order.id,
        connection_id=conn.id,
        channel=conn.channel,
        confirmation=ShipmentConfirmation(
            order_external_id=order.external_id,
            carrier=shipment.carrier or "",
            service=shipment.service,
            tracking_number=shipment.tracking_number or "",
            shipped_at=shipment.shipped_at or utcnow(),
            lines=[(external_id, int(qty)) for external_id, qty in lines],
            reference=f"crossdock-shipment-{shipment_id}",
            carrier_code=carrier_code(conn.settings, shipment.carrier),
        ),
    )


async def record_confirmed(uow: UnitOfWork, owed: Owed, assigned: str | None) -> None:
    """The channel accepted the shipment (``assigned``: the tracking number its own
    logistics gave, which then counts); announced, and the plugins told after commit."""
    session = uow.session
    row = await session.scalar(select(Shipment).where(Shipment.id == owed.shipment_id))
    assert row is not None
    row.confirm_attempts += 1
    row.confirmed_at = utcnow()
    row.confirm_error = None
    row.confirm_failed_at = None
    if assigned:  # platform logistics: the channel's own tracking number is the one that counts
        row.tracking_number = assigned
    emit(session, "shipment.confirmed", f"Shipment:{owed.shipment_id}", tracking_number=row.tracking_number)
    uow.after_commit(
        functools.partial(
            uow.plugins.shipment_confirmed,
            tenant=session_tenant_slug(session),
            order_id=owed.order_id,
            shipment_id=owed.shipment_id,
            tracking_number=assigned or owed.confirmation.tracking_number,
        )
    )


async def record_confirm_failure(session: AsyncSession, shipment_id: int, exc: ChannelError) -> None:
    """The channel refused the confirmation: counted and kept on the shipment; a permanent
    refusal stops the retries and is announced."""
    row = await session.scalar(select(Shipment).where(Shipment.id == shipment_id))
    assert row is not None
    row.confirm_attempts += 1
    row.confirm_error = f"{exc.code}: {exc.message}"
    if not exc.retryable:
        row.confirm_failed_at = utcnow()
        emit(session, "shipment.confirm_failed", f"Shipment:{shipment_id}", error=row.confirm_error)


async def record_confirm_unsupported(session: AsyncSession, shipment_id: int, channel: str) -> None:
    """The channel's plugin cannot confirm shipments: said on the shipment."""
    await session.execute(
        update(Shipment)
        .where(Shipment.id == shipment_id)
        .values(confirm_error=f"{channel} cannot confirm shipments yet")
    )
