"""The database invariants every write path must keep, as one reusable check.

``await check(db)`` reads the whole database (every tenant, or one with ``tenant_id=``) in
one snapshot and returns the :class:`Violation` list, empty when everything holds::

    from crossdock.testing.invariants import check

    assert await check(app.db) == []

What it checks:

* ``level_ledger``: each stock level's ``on_hand`` and ``reserved`` equal the sums of its
  ledger rows, and no ledger row belongs to a level that does not exist;
* ``level_negative``: no negative ``on_hand``, ``reserved``, ``available`` or safety stock;
* ``reserved_allocations``: a level's ``reserved`` equals its ``reserved`` and ``packed``
  allocations;
* ``over_allocated``: no order line has more units allocated (not released) than ordered;
* ``over_refunded``: an order's refunds never exceed its total, and are in its currency;
* ``shipped_cancelled``: no shipped shipment on a cancelled order;
* ``order_allocations``: an order's status agrees with its allocations (``allocated``,
  ``picking`` and ``packed`` orders have every mapped unit allocated, a ``packed`` one has
  nothing left to pack; ``pending``, ``ready``, ``shipped``, ``delivered``, ``returned``,
  ``refunded`` and ``cancelled`` orders hold no reserved or packed units);
* ``transfer_quantity``: a transfer never receives more than it sent.

Meant to run once the system is quiet (after a test's requests have answered); under
PostgreSQL the reads share one ``REPEATABLE READ`` snapshot.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db.models import (
    Allocation,
    AllocationStatus,
    Order,
    OrderHold,
    OrderLine,
    OrderStatus,
    Refund,
    Shipment,
    StockLedgerEntry,
    StockLevel,
    Transfer,
    Variant,
    Warehouse,
)

if TYPE_CHECKING:
    from crossdock.db.engine import Database

__all__ = ["RULES", "Violation", "check", "order_counts", "snapshot"]

#: Every rule :func:`check` knows, by name.
RULES = (
    "level_ledger",
    "level_negative",
    "reserved_allocations",
    "over_allocated",
    "over_refunded",
    "shipped_cancelled",
    "order_allocations",
    "transfer_quantity",
)

_OPEN = (AllocationStatus.RESERVED.value, AllocationStatus.PACKED.value)
#: Orders whose every mapped unit is allocated (reserved, packed or shipped).
_FULLY_ALLOCATED = (OrderStatus.ALLOCATED.value, OrderStatus.PICKING.value, OrderStatus.PACKED.value)
#: Orders that hold no reserved or packed units (``on_hold`` may keep what it had).
_NOTHING_OPEN = (
    OrderStatus.PENDING.value,
    OrderStatus.READY.value,
    OrderStatus.SHIPPED.value,
    OrderStatus.DELIVERED.value,
    OrderStatus.RETURNED.value,
    OrderStatus.REFUNDED.value,
    OrderStatus.CANCELLED.value,
)


@dataclass(frozen=True)
class Violation:
    """One broken invariant: which ``rule``, on which row (``subject``), and how."""

    rule: str
    tenant_id: int | None
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.rule}] tenant {self.tenant_id} {self.subject}: {self.detail}"


async def check(db: Database, *, tenant_id: int | None = None) -> list[Violation]:
    """Every invariant violation in the database (or in one tenant's rows)."""
    async with db.system() as session:
        if db.dialect == "postgresql":
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        found: list[Violation] = []
        found += await _levels(session, tenant_id)
        found += await _order_lines(session, tenant_id)
        found += await _refunds(session, tenant_id)
        found += await _shipments(session, tenant_id)
        found += await _transfers(session, tenant_id)
        await session.rollback()
    return found


def _only(stmt: Any, model: Any, tenant_id: int | None) -> Any:
    return stmt if tenant_id is None else stmt.where(model.tenant_id == tenant_id)


async def _levels(session: AsyncSession, tenant_id: int | None) -> list[Violation]:
    found: list[Violation] = []
    levels = (
        await session.execute(
            _only(
                select(
                    StockLevel.tenant_id,
                    StockLevel.id,
                    StockLevel.variant_id,
                    StockLevel.warehouse_id,
                    StockLevel.on_hand,
                    StockLevel.reserved,
                    StockLevel.safety_stock,
                ),
                StockLevel,
                tenant_id,
            )
        )
    ).all()
    ledger = {
        (t, v, w): (int(on_hand), int(reserved))
        for t, v, w, on_hand, reserved in (
            await session.execute(
                _only(
                    select(
                        StockLedgerEntry.tenant_id,
                        StockLedgerEntry.variant_id,
                        StockLedgerEntry.warehouse_id,
                        func.coalesce(func.sum(StockLedgerEntry.delta_on_hand), 0),
                        func.coalesce(func.sum(StockLedgerEntry.delta_reserved), 0),
                    ).group_by(
                        StockLedgerEntry.tenant_id, StockLedgerEntry.variant_id, StockLedgerEntry.warehouse_id
                    ),
                    StockLedgerEntry,
                    tenant_id,
                )
            )
        ).all()
    }
    allocated = {
        (t, v, w): int(qty)
        for t, v, w, qty in (
            await session.execute(
                _only(
                    select(
                        Allocation.tenant_id,
                        Allocation.variant_id,
                        Allocation.warehouse_id,
                        func.coalesce(func.sum(Allocation.quantity), 0),
                    )
                    .where(Allocation.status.in_(_OPEN))
                    .group_by(Allocation.tenant_id, Allocation.variant_id, Allocation.warehouse_id),
                    Allocation,
                    tenant_id,
                )
            )
        ).all()
    }
    seen: set[tuple[int, int, int]] = set()
    for t, level_id, v, w, on_hand, reserved, safety in levels:
        key = (t, v, w)
        seen.add(key)
        subject = f"StockLevel {level_id} (variant {v}, warehouse {w})"
        sums = ledger.get(key, (0, 0))
        if (on_hand, reserved) != sums:
            found.append(
                Violation(
                    "level_ledger",
                    t,
                    subject,
                    f"on_hand/reserved {on_hand}/{reserved}, ledger sums {sums[0]}/{sums[1]}",
                )
            )
        if on_hand < 0 or reserved < 0 or on_hand - reserved < 0 or safety < 0:
            found.append(
                Violation(
                    "level_negative",
                    t,
                    subject,
                    f"on_hand {on_hand}, reserved {reserved}, available {on_hand - reserved}, "
                    f"safety_stock {safety}",
                )
            )
        open_units = allocated.get(key, 0)
        if reserved != open_units:
            found.append(
                Violation(
                    "reserved_allocations",
                    t,
                    subject,
                    f"reserved {reserved}, reserved+packed allocations {open_units}",
                )
            )
    for key in sorted(set(ledger) - seen):
        t, v, w = key
        if ledger[key] != (0, 0):
            found.append(
                Violation(
                    "level_ledger",
                    t,
                    f"variant {v}, warehouse {w}",
                    f"ledger sums {ledger[key][0]}/{ledger[key][1]} but no stock level",
                )
            )
    for key in sorted(set(allocated) - seen):
        t, v, w = key
        found.append(
            Violation(
                "reserved_allocations",
                t,
                f"variant {v}, warehouse {w}",
                f"{allocated[key]} units allocated but no stock level",
            )
        )
    return found


async def _order_lines(session: AsyncSession, tenant_id: int | None) -> list[Violation]:
    found: list[Violation] = []
    rows = (
        await session.execute(
            _only(
                select(
                    Order.tenant_id,
                    Order.id,
                    Order.status,
                    OrderLine.id,
                    OrderLine.variant_id,
                    OrderLine.quantity,
                ).join(OrderLine, OrderLine.order_id == Order.id),
                Order,
                tenant_id,
            ).order_by(Order.id, OrderLine.id)
        )
    ).all()
    per_line: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for line_id, status, qty in (
        await session.execute(
            _only(
                select(Allocation.order_line_id, Allocation.status, func.sum(Allocation.quantity)).group_by(
                    Allocation.order_line_id, Allocation.status
                ),
                Allocation,
                tenant_id,
            )
        )
    ).all():
        per_line[line_id][str(status)] = int(qty)
    for t, order_id, status, line_id, variant_id, quantity in rows:
        units = per_line.get(line_id, {})
        taken = sum(q for s, q in units.items() if s != AllocationStatus.RELEASED.value)
        open_units = sum(units.get(s, 0) for s in _OPEN)
        subject = f"Order {order_id} ({status}) line {line_id}"
        if taken > quantity:
            found.append(Violation("over_allocated", t, subject, f"{taken} units allocated for {quantity}"))
        if status in _FULLY_ALLOCATED and variant_id is not None and taken != quantity:
            found.append(Violation("order_allocations", t, subject, f"{taken} of {quantity} units allocated"))
        if status == OrderStatus.PACKED.value and units.get(AllocationStatus.RESERVED.value, 0):
            found.append(
                Violation(
                    "order_allocations",
                    t,
                    subject,
                    f"{units[AllocationStatus.RESERVED.value]} units still reserved, not packed",
                )
            )
        if status in _NOTHING_OPEN and open_units:
            found.append(
                Violation("order_allocations", t, subject, f"{open_units} units still reserved or packed")
            )
    return found


async def _refunds(session: AsyncSession, tenant_id: int | None) -> list[Violation]:
    found: list[Violation] = []
    stmt = (
        select(
            Order.tenant_id,
            Order.id,
            Order.total_amount,
            Order.currency,
            func.sum(Refund.amount),
            func.count(func.distinct(Refund.currency)),
            func.min(Refund.currency),
        )
        .join(Refund, Refund.order_id == Order.id)
        .group_by(Order.tenant_id, Order.id, Order.total_amount, Order.currency)
    )
    for t, order_id, total, currency, refunded, currencies, refund_currency in (
        await session.execute(_only(stmt, Order, tenant_id))
    ).all():
        if Decimal(refunded) > Decimal(total):
            found.append(
                Violation(
                    "over_refunded", t, f"Order {order_id}", f"refunded {refunded} of {total} {currency}"
                )
            )
        if currencies != 1 or refund_currency != currency:
            found.append(
                Violation(
                    "over_refunded", t, f"Order {order_id}", f"refunds not all in the order's {currency}"
                )
            )
    return found


async def _shipments(session: AsyncSession, tenant_id: int | None) -> list[Violation]:
    stmt = select(Order.tenant_id, Order.id, Shipment.id).join(
        Shipment, and_(Shipment.order_id == Order.id, Shipment.status == "shipped")
    )
    stmt = stmt.where(Order.status == OrderStatus.CANCELLED.value)
    rows = (await session.execute(_only(stmt, Order, tenant_id))).all()
    return [
        Violation("shipped_cancelled", t, f"Order {order_id}", f"cancelled with shipment {shipment} shipped")
        for t, order_id, shipment in rows
    ]


async def _transfers(session: AsyncSession, tenant_id: int | None) -> list[Violation]:
    stmt = select(Transfer.tenant_id, Transfer.id, Transfer.quantity, Transfer.received_quantity).where(
        Transfer.received_quantity > Transfer.quantity
    )
    rows = (await session.execute(_only(stmt, Transfer, tenant_id))).all()
    return [
        Violation("transfer_quantity", t, f"Transfer {transfer_id}", f"received {received} of {quantity}")
        for t, transfer_id, quantity, received in rows
    ]


async def order_counts(db: Database, tenant_id: int) -> tuple[int, int]:
    """How many orders the tenant has, and how many distinct channel ids among them (a
    duplicate makes the first larger)."""
    async with db.tenant(tenant_id) as session:
        total, distinct = (
            await session.execute(select(func.count(Order.id), func.count(func.distinct(Order.external_id))))
        ).one()
    return int(total), int(distinct)


async def snapshot(db: Database, tenant_id: int) -> dict[str, Any]:
    """What the tenant's orders and stock are, in terms that do not depend on ids or clocks,
    to compare two runs of the same shop: ``orders`` (each order's status, currency, total,
    lines and open holds by channel id), ``levels`` (on hand and reserved by SKU and
    warehouse code) and ``ledger`` (the stock changes as a multiset)."""
    async with db.tenant(tenant_id) as session:
        lines: dict[int, list[tuple[str, int, str]]] = {}
        for order_id, sku, qty, price in await session.execute(
            select(OrderLine.order_id, OrderLine.sku, OrderLine.quantity, OrderLine.unit_price_amount)
        ):
            lines.setdefault(order_id, []).append((sku, qty, str(price)))
        holds: dict[int, list[str]] = {}
        for order_id, reason in await session.execute(
            select(OrderHold.order_id, OrderHold.reason).where(OrderHold.released_at.is_(None))
        ):
            holds.setdefault(order_id, []).append(reason)
        orders = {
            o.external_id: (
                o.status,
                o.currency,
                str(o.total_amount),
                sorted(lines.get(o.id, [])),
                sorted(holds.get(o.id, [])),
            )
            for o in (await session.scalars(select(Order))).all()
        }
        levels = {
            (sku, code): (on_hand, reserved)
            for sku, code, on_hand, reserved in await session.execute(
                select(Variant.sku, Warehouse.code, StockLevel.on_hand, StockLevel.reserved)
                .join(Variant, Variant.id == StockLevel.variant_id)
                .join(Warehouse, Warehouse.id == StockLevel.warehouse_id)
            )
        }
        ledger = Counter(
            tuple(row)
            for row in await session.execute(
                select(
                    Variant.sku,
                    StockLedgerEntry.reason,
                    StockLedgerEntry.reference,
                    StockLedgerEntry.delta_on_hand,
                    StockLedgerEntry.delta_reserved,
                ).join(Variant, Variant.id == StockLedgerEntry.variant_id)
            )
        )
    return {"orders": orders, "levels": levels, "ledger": ledger}
