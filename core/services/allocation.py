"""Allocation: choose a warehouse for every line and reserve the stock, atomically.

Rules, in order:

* Marketplace-fulfilled orders (FBA-like) draw only on the marketplace warehouses of their
  own connection: the channel holds and ships that stock.
* Other orders draw on active own/3PL/overseas warehouses that ship to the destination
  (``serves_countries``, or the warehouse's own country when that list is empty).
* One warehouse for the whole order is preferred (lowest ``priority`` first, then most
  stock); if none can, and the tenant allows split shipments (the default), lines are
  filled from several warehouses in priority order.
* Reservation is one conditional ``UPDATE`` per level inside a savepoint: two orders racing
  for the last unit cannot both get it (the database's check constraint decides), and the
  loser replans against fresh stock, or waits ``on_hold`` with ``out_of_stock``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import utcnow
from crossdock.db.models import (
    Allocation,
    AllocationStatus,
    Order,
    OrderHold,
    OrderLine,
    OrderStatus,
    OrderStatusChange,
    StockLevel,
    StockReason,
    Warehouse,
    WarehouseKind,
)
from crossdock.errors import UserError
from crossdock.providers import HoldReason
from crossdock.services.analytics import mark as mark_figures
from crossdock.services.common import current_tenant
from crossdock.services.events import emit
from crossdock.services.inventory import Reservation, record_change, reserve_stock
from crossdock.services.states import check_transition, lock

if TYPE_CHECKING:
    from crossdock.services.uow import UnitOfWork

__all__ = [
    "MANUAL",
    "OUT_OF_STOCK",
    "allocate_order",
    "hold_order",
    "release_holds",
    "remember_split_rule",
    "reserve_new_orders",
    "set_status",
    "waiting_orders",
]

OUT_OF_STOCK = HoldReason.OUT_OF_STOCK
ATTEMPTS = 3
#: Orders in these states may be (re)allocated.
ALLOCATABLE = (OrderStatus.PENDING, OrderStatus.READY, OrderStatus.ON_HOLD)


@dataclass(frozen=True)
class _Pick:
    line_id: int
    variant_id: int
    warehouse_id: int
    quantity: int


async def set_status(session: AsyncSession, order: Order, status: str, reason: str | None = None) -> None:
    """Move an order to ``status`` with a history row and an ``order.<status>`` event; a
    move its state machine does not allow is refused (``INVALID_STATE``). The caller holds
    the order's lock (:func:`crossdock.services.states.lock`)."""
    if order.status == status:
        return
    check_transition("order", order.status, status)
    session.add(
        OrderStatusChange(order_id=order.id, from_status=order.status, to_status=status, reason=reason)
    )
    emit(
        session, f"order.{status}", f"Order:{order.id}", external_id=order.external_id, previous=order.status
    )
    order.status = status
    mark_figures(session, [order.id])


async def _candidates(session: AsyncSession, order: Order) -> list[Warehouse]:
    stmt = select(Warehouse).where(Warehouse.active.is_(True))
    if order.fulfilled_by_channel:
        stmt = stmt.where(
            Warehouse.kind == WarehouseKind.MARKETPLACE, Warehouse.connection_id == order.connection_id
        )
    else:
        stmt = stmt.where(Warehouse.kind != WarehouseKind.MARKETPLACE)
    warehouses = list((await session.scalars(stmt.order_by(Warehouse.priority, Warehouse.id))).all())
    return _serving(order, warehouses)


class _Destined(Protocol):
    @property
    def connection_id(self) -> int: ...
    @property
    def fulfilled_by_channel(self) -> bool: ...
    @property
    def destination_country(self) -> str | None: ...


def _serving(order: _Destined, warehouses: Sequence[Warehouse]) -> list[Warehouse]:
    """The warehouses (active, in priority order) that may ship ``order``."""
    if order.fulfilled_by_channel:
        return [
            w
            for w in warehouses
            if w.kind == WarehouseKind.MARKETPLACE and w.connection_id == order.connection_id
        ]
    warehouses = [w for w in warehouses if w.kind != WarehouseKind.MARKETPLACE]
    if not order.destination_country:
        return warehouses
    dest = order.destination_country
    return [
        w
        for w in warehouses
        if dest in (w.serves_countries or []) or (not w.serves_countries and w.country == dest)
    ]


async def _available(
    session: AsyncSession, variant_ids: set[int], warehouses: Sequence[Warehouse]
) -> dict[tuple[int, int], int]:
    """Units free to reserve, by (variant, warehouse), read now."""
    rows = await session.execute(
        select(
            StockLevel.variant_id, StockLevel.warehouse_id, StockLevel.on_hand - StockLevel.reserved
        ).where(
            StockLevel.variant_id.in_(variant_ids),
            StockLevel.warehouse_id.in_([w.id for w in warehouses]),
        )
    )
    return {(v, w): int(a) for v, w, a in rows}


def _plan(
    needs: list[tuple[int, int, int]],
    warehouses: list[Warehouse],
    available: dict[tuple[int, int], int],
    split: bool,
) -> list[_Pick] | None:
    """A plan covering every ``(line, variant, quantity)`` need, or None."""
    totals: dict[int, int] = defaultdict(int)
    for _, variant_id, qty in needs:
        totals[variant_id] += qty
    whole = [w for w in warehouses if all(available.get((v, w.id), 0) >= q for v, q in totals.items())]
    if whole:
        best = whole[0]  # priority order; ties broken by id
        return [_Pick(line, variant, best.id, qty) for line, variant, qty in needs]
    if not split:
        return None
    left = dict(available)
    picks: list[_Pick] = []
    for line, variant, qty in needs:
        remaining = qty
        for w in warehouses:
            take = min(remaining, left.get((variant, w.id), 0))
            if take > 0:
                picks.append(_Pick(line, variant, w.id, take))
                left[(variant, w.id)] -= take
                remaining -= take
            if not remaining:
                break
        if remaining:
            return None
    return picks


async def _hold(session: AsyncSession, order: Order, reason: str, message: str) -> None:
    active = await session.scalar(
        select(OrderHold.id).where(
            OrderHold.order_id == order.id, OrderHold.reason == reason, OrderHold.released_at.is_(None)
        )
    )
    if active is None:
        session.add(OrderHold(order_id=order.id, reason=reason, message=message))
        emit(session, "order.held", f"Order:{order.id}", reason=reason, message=message)
    await set_status(session, order, OrderStatus.ON_HOLD, reason)


def remember_split_rule(session: AsyncSession, settings: Mapping[str, Any]) -> None:
    """Give the transaction the tenant's split rule from settings the caller already read."""
    session.info.setdefault("allow_split", bool(settings.get("allow_split", True)))


async def _allow_split(session: AsyncSession) -> bool:
    """The tenant's split rule, read once per transaction."""
    if "allow_split" not in session.info:
        tenant = await current_tenant(session)
        session.info["allow_split"] = bool((tenant.settings or {}).get("allow_split", True))
    return bool(session.info["allow_split"])


async def allocate_order(uow: UnitOfWork, order: Order) -> bool:
    """Reserve stock for every line of ``order``; True when it is allocated.

    Orders with a hold other than ``out_of_stock`` are left alone. On success the
    ``out_of_stock`` hold (if any) is released and the order is ``allocated``; otherwise it
    is ``on_hold`` with ``out_of_stock``.
    """
    session = uow.session
    order = await lock(session, Order, order.id)  # the caller's object, read fresh
    if order.status not in ALLOCATABLE:
        return order.status == OrderStatus.ALLOCATED
    holds = (
        await session.scalars(
            select(OrderHold).where(OrderHold.order_id == order.id, OrderHold.released_at.is_(None))
        )
    ).all()
    if any(h.reason != OUT_OF_STOCK for h in holds):
        return False
    lines = (await session.scalars(select(OrderLine).where(OrderLine.order_id == order.id))).all()
    already = dict(
        (
            await session.execute(
                select(Allocation.order_line_id, func.sum(Allocation.quantity))
                .where(Allocation.order_id == order.id, Allocation.status != AllocationStatus.RELEASED)
                .group_by(Allocation.order_line_id)
            )
        ).all()
    )
    needs = [
        (line.id, line.variant_id, line.quantity - int(already.get(line.id, 0)))
        for line in lines
        if line.variant_id is not None and line.quantity - int(already.get(line.id, 0)) > 0
    ]
    if any(line.variant_id is None for line in lines):
        return False  # sku_unmapped holds the order; nothing to reserve against
    split = await _allow_split(session)
    warehouses = await _candidates(session, order)
    if order.fulfilled_by_channel and not warehouses:
        return False  # the channel ships from stock Crossdock does not mirror: nothing to reserve
    for _ in range(ATTEMPTS):
        if not needs:
            break
        variant_ids = {v for _, v, _ in needs}
        available = await _available(session, variant_ids, warehouses)
        plan = _plan(needs, warehouses, available, split)
        if plan is None:
            break
        try:
            async with session.begin_nested():
                for pick in plan:
                    await record_change(
                        uow,
                        variant_id=pick.variant_id,
                        warehouse_id=pick.warehouse_id,
                        delta_reserved=pick.quantity,
                        reason=StockReason.RESERVATION,
                        reference=f"order {order.external_id}",
                        checked=True,
                        savepoint=False,  # the savepoint around the whole plan undoes it
                    )
                    session.add(
                        Allocation(
                            order_id=order.id,
                            order_line_id=pick.line_id,
                            variant_id=pick.variant_id,
                            warehouse_id=pick.warehouse_id,
                            quantity=pick.quantity,
                        )
                    )
                await session.flush()
        except UserError as exc:
            if exc.code != "INSUFFICIENT_STOCK":
                raise
            continue  # someone took the stock first: replan against what is left
        needs = []
    if needs:
        await _hold(session, order, OUT_OF_STOCK, "not enough stock in the warehouses serving this order")
        return False
    now = utcnow()
    for hold in holds:
        hold.released_at = now
    await set_status(session, order, OrderStatus.ALLOCATED, "stock reserved")
    return True


@dataclass(frozen=True)
class NewOrder:
    """What allocation needs of an order that is about to be stored: ``needs`` are
    ``(line index, variant id, quantity)``."""

    external_id: str
    connection_id: int
    fulfilled_by_channel: bool
    destination_country: str | None
    needs: list[tuple[int, int, int]]


@dataclass(frozen=True)
class Reserved:
    """Stock reserved for a new order: ``(line index, variant, warehouse, quantity)``."""

    picks: list[_Pick]


#: :func:`reserve_new_orders`' verdict for an order: reserved; short of stock; nothing to
#: reserve (the channel ships it from stock Crossdock does not mirror); or left to
#: :func:`allocate_order` once stored (stock kept moving under the page).
Verdict = Reserved | Literal["short", "unmirrored", "later"]


async def reserve_new_orders(uow: UnitOfWork, orders: Sequence[NewOrder]) -> list[Verdict]:
    """Reserve stock for a page of new, unheld orders before they are stored.

    The same rules and outcome as :func:`allocate_order` one order at a time, at a cost
    that does not grow per order: warehouses and stock are read once, each order is
    planned against what the orders before it left, and the reservations are written with
    one ``UPDATE`` for all levels. When another transaction took stock in between (a level
    refuses its total), the writes are undone and the page is planned again against fresh
    levels; after :data:`ATTEMPTS` the orders are left to :func:`allocate_order`.
    """
    if not orders:
        return []
    session = uow.session
    split = await _allow_split(session)
    warehouses = list(
        (
            await session.scalars(
                select(Warehouse).where(Warehouse.active.is_(True)).order_by(Warehouse.priority, Warehouse.id)
            )
        ).all()
    )
    serving = [_serving(order, warehouses) for order in orders]
    variant_ids = {v for order in orders for _, v, _ in order.needs}
    for _ in range(ATTEMPTS):
        available = await _available(session, variant_ids, warehouses)
        verdicts: list[Verdict] = []
        for order, candidates in zip(orders, serving, strict=True):
            if order.fulfilled_by_channel and not candidates:
                verdicts.append("unmirrored")
                continue
            plan = _plan(order.needs, candidates, available, split)
            if plan is None:
                verdicts.append("short")
                continue
            for pick in plan:
                available[(pick.variant_id, pick.warehouse_id)] -= pick.quantity
            verdicts.append(Reserved(plan))
        try:
            async with session.begin_nested():
                await reserve_stock(
                    uow,
                    [
                        Reservation(p.variant_id, p.warehouse_id, p.quantity, f"order {order.external_id}")
                        for order, verdict in zip(orders, verdicts, strict=True)
                        if isinstance(verdict, Reserved)
                        for p in verdict.picks
                    ],
                )
        except UserError as exc:
            if exc.code != "INSUFFICIENT_STOCK":
                raise
            continue  # someone took the stock first: plan again against what is left
        return verdicts
    return ["later"] * len(orders)


async def waiting_orders(session: AsyncSession, limit: int = 500) -> list[int]:
    """Orders held only for ``out_of_stock``: oldest ship-by first, then oldest placed."""
    other_holds = select(OrderHold.order_id).where(
        OrderHold.released_at.is_(None), OrderHold.reason != OUT_OF_STOCK
    )
    stmt = (
        select(Order.id)
        .join(OrderHold, OrderHold.order_id == Order.id)
        .where(
            Order.status == OrderStatus.ON_HOLD,
            OrderHold.reason == OUT_OF_STOCK,
            OrderHold.released_at.is_(None),
            Order.id.not_in(other_holds),
        )
        .order_by(Order.ship_by.is_(None), Order.ship_by, Order.placed_at, Order.id)
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


MANUAL = HoldReason.MANUAL


async def hold_order(
    session: AsyncSession, order_id: int, reason: str = MANUAL, message: str | None = None
) -> Order:
    """An operator stops an order; whatever was reserved for it stays reserved."""
    order = await lock(session, Order, order_id)
    if order.status not in (*ALLOCATABLE, OrderStatus.ALLOCATED, OrderStatus.PICKING):
        raise UserError(f"an order that is {order.status} cannot be held", field="id", code="INVALID_STATE")
    if reason not in {r.value for r in HoldReason}:
        raise UserError(f"{reason!r} is not a HoldReason", field="reason", code="INVALID")
    await _hold(session, order, reason, message or "held by an operator")
    return order


async def release_holds(uow: UnitOfWork, order_id: int, reason: str | None = None) -> Order:
    """Release one hold reason (or all); with none left the order is allocated again."""
    session = uow.session
    order = await lock(session, Order, order_id)
    stmt = select(OrderHold).where(OrderHold.order_id == order.id, OrderHold.released_at.is_(None))
    if reason is not None:
        stmt = stmt.where(OrderHold.reason == reason)
    holds = (await session.scalars(stmt)).all()
    if not holds:
        raise UserError("the order has no such hold", field="reason", code="NOT_HELD")
    now = utcnow()
    for hold in holds:
        hold.released_at = now
        emit(session, "order.released", f"Order:{order.id}", reason=hold.reason)
    await session.flush()
    remaining = await session.scalar(
        select(OrderHold.id).where(OrderHold.order_id == order.id, OrderHold.released_at.is_(None)).limit(1)
    )
    if remaining is None and order.status == OrderStatus.ON_HOLD:
        await set_status(session, order, OrderStatus.READY, "holds released")
        await allocate_order(uow, order)  # reserves only what is not reserved yet
    return order
