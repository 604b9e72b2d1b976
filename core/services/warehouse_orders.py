"""Orders fulfilled by the system running a warehouse (a 3PL that picks, packs and ships).

When a warehouse's system takes orders (``warehouse.order_push``), the ``warehouse_fulfil``
job hands it every order whose units are reserved there: :func:`claim` records each once
(a :class:`~crossdock.db.models.WarehouseOrder` under the reference ``CD-<order id>``,
``pending``), :func:`outbound_for` builds what the system is given (the reserved units by
SKU, the buyer's address), and the push is recorded with
:func:`record_handed_over` or :func:`record_refused`. When the system reports what it
shipped (``warehouse.shipments_pull``), :func:`apply_shipments` packs and ships each order's
units in that warehouse under the carrier and tracking number the system gave, so the
channel is told as for any shipment (the ``confirm_shipment`` job). An order cancelled or
released before it left is not handed over, and one shipped is shipped once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import utcnow
from crossdock.db.models import (
    Allocation,
    AllocationStatus,
    HandoverStatus,
    Order,
    OrderStatus,
    Variant,
    WarehouseAccount,
    WarehouseOrder,
)
from crossdock.errors import ChannelError, UserError
from crossdock.providers import OutboundLine, OutboundOrder, OutboundShipment
from crossdock.services import fulfilment
from crossdock.services.events import emit
from crossdock.services.shipping import address_of
from crossdock.services.states import lock
from crossdock.services.uow import UnitOfWork

__all__ = [
    "ShipmentOutcome",
    "apply_shipments",
    "claim",
    "hand_over_again",
    "outbound_for",
    "record_handed_over",
    "record_refused",
    "reference_of",
]

#: Orders in these states, with units reserved in the warehouse, are handed over.
_OPEN = (OrderStatus.ALLOCATED, OrderStatus.PICKING)


def reference_of(order_id: int) -> str:
    """The reference an order is handed over under (the same on every attempt)."""
    return f"CD-{order_id:08d}"


@dataclass(frozen=True)
class ShipmentOutcome:
    """What one pulled shipment did: ``shipment_id`` of the shipment made, or ``problem``."""

    reference: str
    shipment_id: int | None = None
    problem: str | None = None


async def claim(uow: UnitOfWork, warehouse_id: int) -> list[WarehouseOrder]:
    """Record every open order with units reserved in ``warehouse_id`` and not handed over
    yet as ``pending``; withdraw (``cancelled``) those still pending whose units are no longer
    reserved there. Returns the pending and failed-for-now ones to hand over, oldest first."""
    session = uow.session
    # one claim per warehouse at a time (two jobs at once would both insert the same orders)
    await session.execute(
        select(WarehouseAccount.id).where(WarehouseAccount.warehouse_id == warehouse_id).with_for_update()
    )
    reserved = set(
        (
            await session.scalars(
                select(Allocation.order_id)
                .join(Order, Order.id == Allocation.order_id)
                .where(
                    Allocation.warehouse_id == warehouse_id,
                    Allocation.status == AllocationStatus.RESERVED,
                    Order.status.in_([str(s) for s in _OPEN]),
                    Order.fulfilled_by_channel.is_(False),
                )
            )
        ).all()
    )
    known = {
        row.order_id: row
        for row in (
            await session.scalars(
                select(WarehouseOrder).where(WarehouseOrder.warehouse_id == warehouse_id).with_for_update()
            )
        ).all()
    }
    for order_id in sorted(reserved - set(known)):
        row = WarehouseOrder(
            warehouse_id=warehouse_id,
            order_id=order_id,
            reference=reference_of(order_id),
            status=HandoverStatus.PENDING,
        )
        session.add(row)
        known[order_id] = row
    for order_id, row in known.items():
        if row.status == HandoverStatus.PENDING and order_id not in reserved:
            row.status = HandoverStatus.CANCELLED
    await session.flush()
    return sorted(
        (row for row in known.values() if row.status == HandoverStatus.PENDING),
        key=lambda row: row.id,
    )


async def outbound_for(session: AsyncSession, row: WarehouseOrder) -> OutboundOrder:
    """What the system is handed: the units reserved for the order in its warehouse."""
    order = await session.scalar(select(Order).where(Order.id == row.order_id))
    assert order is not None
    units: dict[str, int] = {}
    for sku, quantity in (
        await session.execute(
            select(Variant.sku, Allocation.quantity)
            .join(Variant, Variant.id == Allocation.variant_id)
            .where(
                Allocation.order_id == order.id,
                Allocation.warehouse_id == row.warehouse_id,
                Allocation.status == AllocationStatus.RESERVED,
            )
            .order_by(Allocation.id)
        )
    ).all():
        units[sku] = units.get(sku, 0) + int(quantity)
    address = address_of(order.shipping_address, order.destination_country)
    if address.name is None and order.buyer_name:
        address = replace(address, name=order.buyer_name)
    if address.email is None and order.buyer_email:
        address = replace(address, email=order.buyer_email)
    return OutboundOrder(
        reference=row.reference,
        lines=[OutboundLine(sku, quantity) for sku, quantity in units.items()],
        ship_to=address,
    )


async def record_handed_over(session: AsyncSession, row_id: int, external_id: str) -> None:
    row = await session.scalar(select(WarehouseOrder).where(WarehouseOrder.id == row_id).with_for_update())
    if row is None or row.status != HandoverStatus.PENDING:
        return
    row.attempts += 1
    row.status = HandoverStatus.HANDED_OVER
    row.external_id = external_id
    row.last_error = None
    row.handed_over_at = utcnow()
    emit(
        session,
        "warehouse.order_handed_over",
        f"Order:{row.order_id}",
        warehouse_id=row.warehouse_id,
        reference=row.reference,
        external_id=external_id,
    )


async def record_refused(session: AsyncSession, row_id: int, exc: ChannelError) -> None:
    """The system did not take the order: ``failed`` when it refused it for good, still
    ``pending`` (an attempt counted) when it may take it later."""
    row = await session.scalar(select(WarehouseOrder).where(WarehouseOrder.id == row_id).with_for_update())
    if row is None or row.status != HandoverStatus.PENDING:
        return
    row.attempts += 1
    row.last_error = f"{exc.code}: {exc.message}"
    if not exc.retryable:
        row.status = HandoverStatus.FAILED
        emit(
            session,
            "warehouse.order_refused",
            f"Order:{row.order_id}",
            warehouse_id=row.warehouse_id,
            reference=row.reference,
            error=row.last_error,
        )


async def apply_shipments(
    uow: UnitOfWork, warehouse_id: int, shipments: Sequence[OutboundShipment]
) -> list[ShipmentOutcome]:
    """Ship the orders the system reports shipped: each one handed over under the
    reference is packed (its units reserved in this warehouse) with the system's carrier
    and tracking number, and shipped at its time. A reference not handed over here, one
    shipped already, or an order that can no longer ship (cancelled meanwhile) is reported
    and changes nothing."""
    session = uow.session
    outcomes: list[ShipmentOutcome] = []
    for shipped in shipments:
        row = await session.scalar(
            select(WarehouseOrder)
            .where(WarehouseOrder.warehouse_id == warehouse_id, WarehouseOrder.reference == shipped.reference)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if row is None:
            outcomes.append(ShipmentOutcome(shipped.reference, problem="unknown_reference"))
            continue
        if row.status == HandoverStatus.SHIPPED:
            outcomes.append(ShipmentOutcome(shipped.reference, row.shipment_id, problem="shipped_already"))
            continue
        if not shipped.carrier.strip() or not shipped.tracking_number.strip():
            outcomes.append(ShipmentOutcome(shipped.reference, problem="no_tracking"))
            continue
        try:
            async with session.begin_nested():
                shipment = await fulfilment.pack_shipment(
                    session,
                    row.order_id,
                    warehouse_id,
                    carrier=shipped.carrier.strip()[:64],
                    tracking_number=shipped.tracking_number.strip()[:128],
                )
                await fulfilment.ship_shipment(uow, shipment.id, shipped_at=shipped.shipped_at)
        except UserError as exc:
            outcomes.append(ShipmentOutcome(shipped.reference, problem=exc.code.lower()))
            if exc.code in ("INVALID_STATE", "NOTHING_TO_PACK"):
                row.status = HandoverStatus.CANCELLED
                row.last_error = f"{exc.code}: {exc.message}"
            continue
        row.status = HandoverStatus.SHIPPED
        row.shipment_id = shipment.id
        row.shipped_at = shipped.shipped_at or utcnow()
        outcomes.append(ShipmentOutcome(shipped.reference, shipment.id))
    return outcomes


async def hand_over_again(uow: UnitOfWork, row_id: int) -> WarehouseOrder:
    """A refused handover is pending again, and the handover job queued."""
    row = await lock(uow.session, WarehouseOrder, row_id)
    if row.status != HandoverStatus.FAILED:
        raise UserError(f"this handover is {row.status}", field="id", code="INVALID_STATE")
    row.status = HandoverStatus.PENDING
    row.last_error = None
    await uow.session.flush()
    uow.enqueue(
        "warehouse_fulfil",
        job_id=f"warehouse_fulfil:{row.warehouse_id}:retry{row.id}.{row.attempts}",
        tenant_id=row.tenant_id,
        warehouse_id=row.warehouse_id,
    )
    return row
