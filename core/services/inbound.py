"""Stock on its way in: transit lanes, inbound shipments between the tenant's warehouses,
and the deliveries announced to the systems that run warehouses.

**Lanes** (:func:`set_lane`) say how many days stock takes from one warehouse to another,
with the spread and an optional cost per unit; an inbound shipment on a lane is due that
many days after it leaves, and planning suggests transfers along them.

**Inbound shipments** (:func:`create_shipment`) send several SKUs at once from one
warehouse to another (own stock on to an overseas or marketplace warehouse): each line's
units leave the source's shelf now (a transfer, ``transfer_out`` in the ledger) and are
booked in at the destination when the shipment is received (:func:`receive_shipment`;
damaged and missing units stay visible on the line), or back at the source when it is
cancelled. Until then they are stock on order for the destination's plan.

**Announcements** (:func:`expect`): a delivery into a warehouse connected to a warehouse
system (a purchase order sent, an inbound shipment leaving) is recorded as a
:class:`~crossdock.db.models.WarehouseInbound` under its number, and the
``warehouse_announce`` job pushes it to the system as an ASN when the system takes them.
The receipts the system reports under that number book the delivery in
(:func:`crossdock.services.warehouse_sync.apply_receipts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import utcnow
from crossdock.db.models import (
    InboundShipment,
    InboundShipmentLine,
    InboundShipmentStatus,
    InboundStatus,
    TransitLane,
    Variant,
    Warehouse,
    WarehouseAccount,
    WarehouseInbound,
)
from crossdock.errors import UserError
from crossdock.money import Money, validate_currency
from crossdock.services.common import current_tenant, get_or_404
from crossdock.services.events import emit
from crossdock.services.inventory import cancel_transfer, receive_transfer, start_transfer
from crossdock.services.states import check_transition, lock
from crossdock.services.uow import UnitOfWork

__all__ = [
    "MAX_TRANSIT_DAYS",
    "LineReceipt",
    "ShipmentLineInput",
    "cancel_shipment",
    "create_shipment",
    "expect",
    "receive_shipment",
    "remove_lane",
    "set_lane",
    "shipment_lines",
    "withdraw",
]

MAX_TRANSIT_DAYS = 365
MAX_LINES = 500
MAX_UNITS = 10_000_000


@dataclass(frozen=True)
class ShipmentLineInput:
    variant_id: int
    quantity: int


@dataclass(frozen=True)
class LineReceipt:
    """What arrived of one line: ``quantity`` good units and ``damaged`` ones."""

    line_id: int
    quantity: int
    damaged: int = 0


# --------------------------------------------------------------------------- lanes


def _days(value: Any, field: str) -> Decimal:
    try:
        days = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise UserError("not a number of days", field=field, code="INVALID") from None
    if not days.is_finite() or not 0 <= days <= MAX_TRANSIT_DAYS:
        raise UserError(f"between 0 and {MAX_TRANSIT_DAYS} days", field=field, code="OUT_OF_RANGE")
    return days


async def _two_warehouses(session: AsyncSession, from_id: int, to_id: int) -> tuple[Warehouse, Warehouse]:
    source = await get_or_404(session, Warehouse, from_id, field="fromWarehouseId")
    target = await get_or_404(session, Warehouse, to_id, field="toWarehouseId")
    if source.id == target.id:
        raise UserError(
            "source and destination are the same warehouse", field="toWarehouseId", code="INVALID"
        )
    return source, target


async def set_lane(
    session: AsyncSession,
    *,
    from_warehouse_id: int,
    to_warehouse_id: int,
    transit_days: int,
    transit_sd_days: Decimal | int = 0,
    unit_cost: Money | None = None,
) -> TransitLane:
    """Create or replace the lane from one warehouse to another."""
    await _two_warehouses(session, from_warehouse_id, to_warehouse_id)
    if isinstance(transit_days, bool) or not 0 <= int(transit_days) <= MAX_TRANSIT_DAYS:
        raise UserError(f"between 0 and {MAX_TRANSIT_DAYS} days", field="transitDays", code="OUT_OF_RANGE")
    spread = _days(transit_sd_days, "transitSdDays")
    currency = None
    if unit_cost is not None:
        try:
            currency = validate_currency(unit_cost.currency)
        except UserError as exc:
            exc.field = "unitCost.currency"
            raise
        if not unit_cost.amount.is_finite() or not 0 <= unit_cost.amount <= Decimal("1e9"):
            raise UserError("a unit cost between 0 and 1e9", field="unitCost.amount", code="OUT_OF_RANGE")
    lane = await session.scalar(
        select(TransitLane)
        .where(
            TransitLane.from_warehouse_id == from_warehouse_id,
            TransitLane.to_warehouse_id == to_warehouse_id,
        )
        .with_for_update()
    )
    if lane is None:
        lane = TransitLane(from_warehouse_id=from_warehouse_id, to_warehouse_id=to_warehouse_id)
        session.add(lane)
    lane.transit_days = int(transit_days)
    lane.transit_sd_days = spread.quantize(Decimal("0.0001"))  # as the column keeps it
    lane.unit_cost = unit_cost.amount if unit_cost is not None else None
    lane.currency = currency
    await session.flush()
    return lane


async def remove_lane(session: AsyncSession, lane_id: int) -> int:
    lane = await get_or_404(session, TransitLane, lane_id)
    await session.delete(lane)
    await session.flush()
    return lane_id


# --------------------------------------------------------------------------- shipments


async def _next_number(session: AsyncSession) -> str:
    """``IS-000001``, … per tenant (under the tenant row's lock; skips a number taken)."""
    await current_tenant(session, lock=True)
    n = (await session.scalar(select(func.count()).select_from(InboundShipment)) or 0) + 1
    while await session.scalar(select(InboundShipment.id).where(InboundShipment.number == f"IS-{n:06d}")):
        n += 1
    return f"IS-{n:06d}"


async def shipment_lines(session: AsyncSession, shipment_id: int) -> list[InboundShipmentLine]:
    return list(
        (
            await session.scalars(
                select(InboundShipmentLine)
                .where(InboundShipmentLine.shipment_id == shipment_id)
                .order_by(InboundShipmentLine.id)
            )
        ).all()
    )


async def create_shipment(
    uow: UnitOfWork,
    *,
    from_warehouse_id: int,
    to_warehouse_id: int,
    lines: Sequence[ShipmentLineInput],
    carrier: str | None = None,
    tracking_number: str | None = None,
    expected_on: date | None = None,
    notes: str | None = None,
    number: str | None = None,
) -> InboundShipment:
    """Send ``lines`` from one warehouse to another now: the units leave the source (each
    line a transfer under the shipment's number), due ``expected_on`` or after the lane's
    transit time. A delivery into a warehouse run by a warehouse system is announced to it."""
    session = uow.session
    source, target = await _two_warehouses(session, from_warehouse_id, to_warehouse_id)
    if not lines:
        raise UserError("a shipment carries at least one line", field="lines", code="REQUIRED")
    if len(lines) > MAX_LINES:
        raise UserError(f"at most {MAX_LINES} lines", field="lines", code="OUT_OF_RANGE")
    seen: set[int] = set()
    for i, line in enumerate(lines):
        if line.variant_id in seen:
            raise UserError(
                "a variant appears once per shipment", field=f"lines.{i}.variantId", code="INVALID"
            )
        seen.add(line.variant_id)
        if isinstance(line.quantity, bool) or not 1 <= line.quantity <= MAX_UNITS:
            raise UserError(
                f"between 1 and {MAX_UNITS} units", field=f"lines.{i}.quantity", code="OUT_OF_RANGE"
            )
        await get_or_404(session, Variant, line.variant_id, field=f"lines.{i}.variantId")
    for value, field, size in ((carrier, "carrier", 64), (tracking_number, "trackingNumber", 128)):
        if value is not None and not 0 < len(value.strip()) <= size:
            raise UserError(f"1 to {size} characters", field=field, code="INVALID")
    if number is not None:
        number = number.strip()
        if not 0 < len(number) <= 64:
            raise UserError("1 to 64 characters", field="number", code="INVALID")
        if await session.scalar(select(InboundShipment.id).where(InboundShipment.number == number)):
            raise UserError(f"a shipment {number} exists already", field="number", code="TAKEN")
    else:
        number = await _next_number(session)
    now = utcnow()
    if expected_on is None:
        lane = await session.scalar(
            select(TransitLane).where(
                TransitLane.from_warehouse_id == source.id, TransitLane.to_warehouse_id == target.id
            )
        )
        if lane is not None:
            expected_on = now.date() + timedelta(days=lane.transit_days)
    shipment = InboundShipment(
        number=number,
        from_warehouse_id=source.id,
        to_warehouse_id=target.id,
        status=InboundShipmentStatus.IN_TRANSIT,
        carrier=carrier.strip() if carrier else None,
        tracking_number=tracking_number.strip() if tracking_number else None,
        shipped_at=now,
        expected_on=expected_on,
        notes=notes,
    )
    session.add(shipment)
    await session.flush()
    # one lock order for the source's levels, as reservations take them
    for line in sorted(lines, key=lambda item: item.variant_id):
        transfer = await start_transfer(
            uow,
            variant_id=line.variant_id,
            from_warehouse_id=source.id,
            to_warehouse_id=target.id,
            quantity=line.quantity,
            reference=number,
        )
        session.add(
            InboundShipmentLine(
                shipment_id=shipment.id,
                variant_id=line.variant_id,
                transfer_id=transfer.id,
                quantity=line.quantity,
            )
        )
    await session.flush()
    emit(
        session,
        "inbound_shipment.created",
        f"InboundShipment:{shipment.id}",
        number=number,
        units=sum(line.quantity for line in lines),
        expected_on=expected_on.isoformat() if expected_on else None,
    )
    await expect(uow, target.id, number, shipment_id=shipment.id)
    return shipment


async def receive_shipment(
    uow: UnitOfWork,
    shipment_id: int,
    lines: Sequence[LineReceipt] | None = None,
    *,
    source: str | None = None,
) -> InboundShipment:
    """Book the shipment in at its destination: every line in full, or as ``lines`` say
    (a line not given arrived with nothing; good units go on hand, damaged ones are only
    counted). ``source`` names who counted (a warehouse system)."""
    session = uow.session
    shipment = await lock(session, InboundShipment, shipment_id)
    check_transition("inbound shipment", shipment.status, InboundShipmentStatus.RECEIVED)
    own = await shipment_lines(session, shipment.id)
    by_id = {line.id: line for line in own}
    counted: dict[int, tuple[int, int]]
    if lines is None:
        counted = {line.id: (line.quantity, 0) for line in own}
    else:
        counted = {}
        for i, given in enumerate(lines):
            line = by_id.get(given.line_id)
            if line is None:
                raise UserError("no such line of this shipment", field=f"lines.{i}.lineId", code="NOT_FOUND")
            if line.id in counted:
                raise UserError("a line appears once", field=f"lines.{i}.lineId", code="INVALID")
            good, damaged = given.quantity, given.damaged
            if good < 0 or damaged < 0:
                raise UserError("units cannot be negative", field=f"lines.{i}.quantity", code="INVALID")
            if good + damaged > line.quantity:
                raise UserError(
                    f"more than the {line.quantity} sent", field=f"lines.{i}.quantity", code="OUT_OF_RANGE"
                )
            counted[line.id] = (good, damaged)
    for line in sorted(own, key=lambda item: item.variant_id):
        good, damaged = counted.get(line.id, (0, 0))
        await receive_transfer(uow, line.transfer_id, quantity=good)
        line.received_quantity, line.damaged_quantity = good, damaged
    shipment.status = InboundShipmentStatus.RECEIVED
    shipment.received_at = utcnow()
    await _settle(session, shipment_id=shipment.id, status=InboundStatus.RECEIVED)
    await session.flush()
    emit(
        session,
        "inbound_shipment.received",
        f"InboundShipment:{shipment.id}",
        number=shipment.number,
        sent=sum(line.quantity for line in own),
        received=sum(good for good, _ in counted.values()),
        damaged=sum(damaged for _, damaged in counted.values()),
        counted_by=source,
    )
    return shipment


async def cancel_shipment(uow: UnitOfWork, shipment_id: int, *, note: str | None = None) -> InboundShipment:
    """The shipment never left (or came back): its units are back on the source's shelf."""
    session = uow.session
    shipment = await lock(session, InboundShipment, shipment_id)
    check_transition("inbound shipment", shipment.status, InboundShipmentStatus.CANCELLED)
    own = await shipment_lines(session, shipment.id)
    for line in sorted(own, key=lambda item: item.variant_id):
        await cancel_transfer(uow, line.transfer_id, note=note)
    shipment.status = InboundShipmentStatus.CANCELLED
    await _settle(session, shipment_id=shipment.id, status=InboundStatus.CANCELLED)
    await session.flush()
    emit(session, "inbound_shipment.cancelled", f"InboundShipment:{shipment.id}", number=shipment.number)
    return shipment


# --------------------------------------------------------------------------- announcements


async def expect(
    uow: UnitOfWork,
    warehouse_id: int,
    reference: str,
    *,
    purchase_order_id: int | None = None,
    shipment_id: int | None = None,
) -> WarehouseInbound | None:
    """A delivery under ``reference`` is on its way to ``warehouse_id``: when a warehouse
    system runs that warehouse, record it (``pending``) and have ``warehouse_announce``
    push the ASN after commit (the hourly sweep pushes any a lost enqueue left pending).
    ``None`` for a warehouse no system runs."""
    session = uow.session
    account = await session.scalar(
        select(WarehouseAccount.id).where(WarehouseAccount.warehouse_id == warehouse_id)
    )
    if account is None:
        return None
    inbound = WarehouseInbound(
        warehouse_id=warehouse_id,
        reference=reference,
        purchase_order_id=purchase_order_id,
        shipment_id=shipment_id,
        status=InboundStatus.PENDING,
    )
    session.add(inbound)
    await session.flush()
    uow.enqueue(
        "warehouse_announce",
        job_id=f"warehouse_announce:{inbound.id}:{inbound.attempts}",
        tenant_id=inbound.tenant_id,
        inbound_id=inbound.id,
    )
    return inbound


async def _settle(
    session: AsyncSession,
    *,
    status: InboundStatus,
    purchase_order_id: int | None = None,
    shipment_id: int | None = None,
) -> None:
    column = (
        WarehouseInbound.purchase_order_id if purchase_order_id is not None else WarehouseInbound.shipment_id
    )
    row = await session.scalar(
        select(WarehouseInbound).where(column == (purchase_order_id or shipment_id)).with_for_update()
    )
    if row is not None and row.status not in (InboundStatus.RECEIVED, InboundStatus.CANCELLED):
        row.status = status
        if status == InboundStatus.RECEIVED:
            row.received_at = utcnow()


async def withdraw(session: AsyncSession, *, purchase_order_id: int) -> None:
    """A purchase order was cancelled or closed: nothing more is expected against it."""
    await _settle(session, purchase_order_id=purchase_order_id, status=InboundStatus.CANCELLED)


async def announce_again(uow: UnitOfWork, inbound_id: int) -> WarehouseInbound:
    """Push a failed (or still pending) announcement once more."""
    row = await lock(uow.session, WarehouseInbound, inbound_id)
    if row.status not in (InboundStatus.FAILED, InboundStatus.PENDING):
        raise UserError(f"this delivery is {row.status}", field="id", code="INVALID_STATE")
    row.status = InboundStatus.PENDING
    row.last_error = None
    await uow.session.flush()
    uow.enqueue(
        "warehouse_announce",
        job_id=f"warehouse_announce:{row.id}:{row.attempts}",
        tenant_id=row.tenant_id,
        inbound_id=row.id,
    )
    return row
