"""Suppliers, purchase orders, and receiving against them.

**Suppliers** buy in one currency on payment terms, with a lead time and its spread; a
**supplier item** is a variant as the supplier sells it (its reference, lead time when it
differs, minimum order, case pack, price breaks).

**A purchase order** is for one supplier and one warehouse. It goes
``draft → sent → partially_received → received → closed``; a draft's lines and terms may
change, an order nothing was received on may be cancelled, and an order is closed when
what is missing will not come. Its open quantities (sent, not yet received) are the
**stock on order** per variant and warehouse, which planning counts on.

**Receiving** (:func:`receive_purchase_order`) takes, per line, the good units and the
damaged ones: the good ones go on hand in the order's warehouse (a ``receipt`` ledger row
referencing the order) and are costed as a layer at their **landed cost**, the line's unit
price plus its share of the order's freight and duty, shared out by line value (by units
when nothing has a price). Damaged units are recorded, never stocked. More than ordered
may arrive (up to :data:`OVER_RECEIPT_FACTOR` times); the order is ``received`` once every
line has its ordered good units. The order's row is locked for the whole receipt, so two
receipts at once count in turn, and a receipt never meets a cancel halfway.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import utcnow
from crossdock.db.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderStatus,
    PurchaseReceipt,
    PurchaseReceiptLine,
    Supplier,
    SupplierItem,
    Variant,
    Warehouse,
)
from crossdock.errors import UserError
from crossdock.money import validate_currency
from crossdock.services import inbound
from crossdock.services.analytics import add_cost_layer
from crossdock.services.common import current_tenant, get_or_404, non_empty
from crossdock.services.events import emit
from crossdock.services.inventory import receive_stock
from crossdock.services.states import check_transition, lock
from crossdock.services.uow import UnitOfWork

__all__ = [
    "MAX_LINES",
    "OVER_RECEIPT_FACTOR",
    "OnOrder",
    "cancel_purchase_order",
    "close_purchase_order",
    "create_purchase_order",
    "create_supplier",
    "price_for",
    "receive_purchase_order",
    "send_purchase_order",
    "set_supplier_item",
    "stock_on_order",
    "update_purchase_order",
    "update_supplier",
]

S = PurchaseOrderStatus
#: The statuses whose open quantities are stock on order.
OPEN = (S.SENT, S.PARTIALLY_RECEIVED)
MAX_LINES = 500
#: A line may receive at most this many times what was ordered (a typo guard).
OVER_RECEIPT_FACTOR = 2
MAX_LEAD_DAYS = Decimal(730)
MAX_PRICE = Decimal("1e9")
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_CENT = Decimal("0.0001")


def _decimal(value: Any, field: str, *, low: Decimal = Decimal(0), high: Decimal = MAX_PRICE) -> Decimal:
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise UserError("not a number", field=field, code="INVALID_DECIMAL") from None
    if not number.is_finite() or not low <= number <= high:
        raise UserError(f"must be between {low} and {high}", field=field, code="OUT_OF_RANGE")
    return number


def _count(value: int, field: str, *, low: int = 1, high: int = 10_000_000) -> int:
    if not low <= value <= high:
        raise UserError(f"must be between {low} and {high:,}", field=field, code="OUT_OF_RANGE")
    return value


# --------------------------------------------------------------------------- suppliers


def _lead(days: Any, spread: Any, field: str) -> tuple[Decimal, Decimal]:
    lead = _decimal(days, f"{field}leadTimeDays", low=Decimal("0.01"), high=MAX_LEAD_DAYS)
    sd = _decimal(spread, f"{field}leadTimeSdDays", high=MAX_LEAD_DAYS)
    return lead, sd


async def create_supplier(
    session: AsyncSession,
    *,
    code: str,
    name: str,
    currency: str,
    email: str | None = None,
    payment_terms_days: int = 30,
    lead_time_days: Decimal = Decimal(14),
    lead_time_sd_days: Decimal = Decimal(0),
    notes: str | None = None,
) -> Supplier:
    if not CODE.match(code.strip()):
        raise UserError("1-64 letters, digits, dots, hyphens, underscores", field="code", code="INVALID")
    lead, sd = _lead(lead_time_days, lead_time_sd_days, "")
    supplier = Supplier(
        code=code.strip(),
        name=non_empty(name, "name", max_length=200),
        email=(email or "").strip()[:254] or None,
        currency=_currency(currency),
        payment_terms_days=_count(payment_terms_days, "paymentTermsDays", low=0, high=365),
        lead_time_days=lead,
        lead_time_sd_days=sd,
        notes=notes,
    )
    session.add(supplier)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise UserError(f"a supplier {code.strip()!r} exists", field="code", code="TAKEN") from None
    return supplier


def _currency(code: str) -> str:
    try:
        return validate_currency(code)
    except UserError as exc:
        exc.field = "currency"
        raise


async def update_supplier(session: AsyncSession, supplier_id: int, **changes: Any) -> Supplier:
    """Change what is given (``name``, ``email``, ``payment_terms_days``, ``lead_time_days``,
    ``lead_time_sd_days``, ``notes``, ``archived``); the currency stays (its orders are in it)."""
    supplier = await lock(session, Supplier, supplier_id)
    if "name" in changes:
        supplier.name = non_empty(changes["name"], "name", max_length=200)
    if "email" in changes:
        supplier.email = (changes["email"] or "").strip()[:254] or None
    if "payment_terms_days" in changes:
        supplier.payment_terms_days = _count(
            changes["payment_terms_days"], "paymentTermsDays", low=0, high=365
        )
    if "lead_time_days" in changes or "lead_time_sd_days" in changes:
        supplier.lead_time_days, supplier.lead_time_sd_days = _lead(
            changes.get("lead_time_days", supplier.lead_time_days),
            changes.get("lead_time_sd_days", supplier.lead_time_sd_days),
            "",
        )
    if "notes" in changes:
        supplier.notes = changes["notes"]
    if "archived" in changes:
        supplier.archived_at = (supplier.archived_at or utcnow()) if changes["archived"] else None
    await session.flush()
    return supplier


def _breaks(value: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Price breaks as stored: ascending minimum quantities, each with its unit price."""
    found: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        quantity = _count(int(item["min_quantity"]), f"priceBreaks.{i}.minQuantity")
        price = _decimal(item["unit_price"], f"priceBreaks.{i}.unitPrice")
        if found and quantity <= found[-1]["min_quantity"]:
            raise UserError(
                "price breaks go up in quantity", field=f"priceBreaks.{i}.minQuantity", code="INVALID"
            )
        found.append({"min_quantity": quantity, "unit_price": str(price)})
    if len(found) > 50:
        raise UserError("at most 50 price breaks", field="priceBreaks", code="OUT_OF_RANGE")
    return found


async def set_supplier_item(
    session: AsyncSession,
    *,
    supplier_id: int,
    variant_id: int,
    supplier_sku: str | None = None,
    lead_time_days: Decimal | None = None,
    lead_time_sd_days: Decimal | None = None,
    moq: int = 1,
    case_pack: int = 1,
    price_breaks: Iterable[Mapping[str, Any]] = (),
) -> SupplierItem:
    """Say how a supplier sells a variant (made, or replaced when it was said before)."""
    await lock(session, Supplier, supplier_id, field="supplierId")
    await get_or_404(session, Variant, variant_id, field="variantId")
    item = await session.scalar(
        select(SupplierItem).where(
            SupplierItem.supplier_id == supplier_id, SupplierItem.variant_id == variant_id
        )
    )
    if item is None:
        item = SupplierItem(supplier_id=supplier_id, variant_id=variant_id)
        session.add(item)
    item.supplier_sku = (supplier_sku or "").strip()[:128] or None
    if lead_time_days is None:
        item.lead_time_days = item.lead_time_sd_days = None
    else:
        item.lead_time_days, item.lead_time_sd_days = _lead(lead_time_days, lead_time_sd_days or 0, "")
    item.moq = _count(moq, "moq")
    item.case_pack = _count(case_pack, "casePack")
    item.price_breaks = _breaks(price_breaks)
    await session.flush()
    return item


def price_for(item: SupplierItem | None, quantity: int) -> Decimal | None:
    """The unit price of ``quantity`` units from the item's price breaks (the highest break
    the quantity reaches), or None when it has none that applies."""
    if item is None:
        return None
    price: Decimal | None = None
    for level in item.price_breaks or []:
        if quantity >= int(level["min_quantity"]):
            price = Decimal(str(level["unit_price"]))
    return price


# --------------------------------------------------------------------------- purchase orders


@dataclass(frozen=True)
class LineInput:
    """A line of a purchase order to make: ``unit_price`` None takes the supplier's price
    break for the quantity."""

    variant_id: int
    quantity: int
    unit_price: Decimal | None = None


async def _next_number(session: AsyncSession) -> str:
    """``PO-000001``, … per tenant (the tenant row's lock keeps two from taking one)."""
    await current_tenant(session, lock=True)
    n = (await session.scalar(select(func.count()).select_from(PurchaseOrder)) or 0) + 1
    while await session.scalar(select(PurchaseOrder.id).where(PurchaseOrder.number == f"PO-{n:06d}")):
        n += 1  # a number given by hand took this one
    return f"PO-{n:06d}"


async def _lines(
    session: AsyncSession, supplier_id: int, lines: Sequence[LineInput]
) -> list[tuple[int, int, Decimal]]:
    if not lines:
        raise UserError("a purchase order has at least one line", field="lines", code="REQUIRED")
    if len(lines) > MAX_LINES:
        raise UserError(f"at most {MAX_LINES} lines", field="lines", code="OUT_OF_RANGE")
    seen: set[int] = set()
    made: list[tuple[int, int, Decimal]] = []
    for i, line in enumerate(lines):
        field = f"lines.{i}"
        await get_or_404(session, Variant, line.variant_id, field=f"{field}.variantId")
        if line.variant_id in seen:
            raise UserError("a variant appears once per order", field=f"{field}.variantId", code="INVALID")
        seen.add(line.variant_id)
        quantity = _count(line.quantity, f"{field}.quantity")
        price = line.unit_price
        if price is None:
            item = await session.scalar(
                select(SupplierItem).where(
                    SupplierItem.supplier_id == supplier_id, SupplierItem.variant_id == line.variant_id
                )
            )
            price = price_for(item, quantity)
            if price is None:
                raise UserError(
                    "the supplier has no price for this quantity: give a unitPrice",
                    field=f"{field}.unitPrice",
                    code="REQUIRED",
                )
        made.append((line.variant_id, quantity, _decimal(price, f"{field}.unitPrice")))
    return made


async def create_purchase_order(
    uow: UnitOfWork,
    *,
    supplier_id: int,
    warehouse_id: int,
    lines: Sequence[LineInput],
    number: str | None = None,
    expected_on: date | None = None,
    freight: Decimal = Decimal(0),
    duty: Decimal = Decimal(0),
    notes: str | None = None,
) -> PurchaseOrder:
    """A draft purchase order in the supplier's currency (``freight`` and ``duty`` for the
    whole order, in that currency too)."""
    session = uow.session
    supplier = await get_or_404(session, Supplier, supplier_id, field="supplierId")
    if supplier.archived_at is not None:
        raise UserError("the supplier is archived", field="supplierId", code="INVALID_STATE")
    await get_or_404(session, Warehouse, warehouse_id, field="warehouseId")
    made = await _lines(session, supplier_id, lines)
    if number is not None and not CODE.match(number.strip()):
        raise UserError("1-64 letters, digits, dots, hyphens, underscores", field="number", code="INVALID")
    order = PurchaseOrder(
        number=number.strip() if number else await _next_number(session),
        supplier_id=supplier_id,
        warehouse_id=warehouse_id,
        currency=supplier.currency,
        expected_on=expected_on,
        freight=_decimal(freight, "freight"),
        duty=_decimal(duty, "duty"),
        notes=notes,
    )
    session.add(order)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise UserError(f"a purchase order {order.number!r} exists", field="number", code="TAKEN") from None
    for variant_id, quantity, price in made:
        session.add(
            PurchaseOrderLine(
                purchase_order_id=order.id, variant_id=variant_id, quantity=quantity, unit_price=price
            )
        )
    await session.flush()
    return order


async def order_lines(session: AsyncSession, order_id: int) -> list[PurchaseOrderLine]:
    return list(
        (
            await session.scalars(
                select(PurchaseOrderLine)
                .where(PurchaseOrderLine.purchase_order_id == order_id)
                .order_by(PurchaseOrderLine.id)
            )
        ).all()
    )


async def update_purchase_order(
    uow: UnitOfWork,
    order_id: int,
    *,
    lines: Sequence[LineInput] | None = None,
    expected_on: date | None = None,
    freight: Decimal | None = None,
    duty: Decimal | None = None,
    notes: str | None = None,
) -> PurchaseOrder:
    """Change a draft (its lines replaced when given); a sent order's expected date and
    notes may still change."""
    session = uow.session
    order = await lock(session, PurchaseOrder, order_id)
    draft = order.status == S.DRAFT
    if not draft and (lines is not None or freight is not None or duty is not None):
        raise UserError("only a draft's lines, freight and duty change", field="id", code="INVALID_STATE")
    if order.status in (S.CLOSED, S.CANCELLED):
        raise UserError(f"the purchase order is {order.status}", field="id", code="INVALID_STATE")
    if lines is not None:
        made = await _lines(session, order.supplier_id, lines)
        for old in await order_lines(session, order.id):
            await session.delete(old)
        await session.flush()
        for variant_id, quantity, price in made:
            session.add(
                PurchaseOrderLine(
                    purchase_order_id=order.id, variant_id=variant_id, quantity=quantity, unit_price=price
                )
            )
    if expected_on is not None:
        order.expected_on = expected_on
    if freight is not None:
        order.freight = _decimal(freight, "freight")
    if duty is not None:
        order.duty = _decimal(duty, "duty")
    if notes is not None:
        order.notes = notes
    await session.flush()
    return order


#: What each move of an order stamps, and the event it emits.
_MOVES = {
    S.SENT: ("sent_at", "purchase_order.sent"),
    S.CANCELLED: ("closed_at", "purchase_order.cancelled"),
    S.CLOSED: ("closed_at", "purchase_order.closed"),
}


async def _move(uow: UnitOfWork, order_id: int, target: PurchaseOrderStatus) -> PurchaseOrder:
    """Move an order to ``target`` under its row's lock (INVALID_STATE where its state
    machine does not go), stamped and announced."""
    order = await lock(uow.session, PurchaseOrder, order_id)
    check_transition("purchase order", order.status, target)
    stamp, event = _MOVES[target]
    payload: dict[str, Any] = {"number": order.number}
    if target == S.CLOSED:
        lines = await order_lines(uow.session, order.id)
        payload["short"] = sum(max(0, line.quantity - line.received_quantity) for line in lines)
    order.status = target
    setattr(order, stamp, utcnow())
    await uow.session.flush()
    emit(uow.session, event, f"PurchaseOrder:{order.id}", **payload)
    return order


async def send_purchase_order(uow: UnitOfWork, order_id: int) -> PurchaseOrder:
    """The draft goes to the supplier: its quantities are on order from now on. When a
    warehouse system runs the order's warehouse, the delivery is announced to it
    (:func:`crossdock.services.inbound.expect`)."""
    order = await _move(uow, order_id, S.SENT)
    await inbound.expect(uow, order.warehouse_id, order.number, purchase_order_id=order.id)
    return order


async def cancel_purchase_order(uow: UnitOfWork, order_id: int) -> PurchaseOrder:
    """Withdraw an order nothing was received on."""
    order = await _move(uow, order_id, S.CANCELLED)
    await inbound.withdraw(uow.session, purchase_order_id=order.id)
    return order


async def close_purchase_order(uow: UnitOfWork, order_id: int) -> PurchaseOrder:
    """Settle an order: what it still lacks will not come (no longer on order)."""
    order = await _move(uow, order_id, S.CLOSED)
    await inbound.withdraw(uow.session, purchase_order_id=order.id)
    return order


def landed_shares(
    lines: Sequence[PurchaseOrderLine], freight: Decimal, duty: Decimal
) -> dict[int, tuple[Decimal, Decimal]]:
    """Per line id, the freight and duty per unit: the order's totals shared out by each
    line's value (quantity x price), by units when nothing has a price."""
    values = {line.id: Decimal(line.quantity) * line.unit_price for line in lines}
    total = sum(values.values(), Decimal(0))
    if total == 0:
        values = {line.id: Decimal(line.quantity) for line in lines}
        total = sum(values.values(), Decimal(0))
    shares: dict[int, tuple[Decimal, Decimal]] = {}
    for line in lines:
        weight = values[line.id] / total if total else Decimal(0)
        per_unit = Decimal(1) / line.quantity
        shares[line.id] = (
            (freight * weight * per_unit).quantize(_CENT, ROUND_HALF_UP),
            (duty * weight * per_unit).quantize(_CENT, ROUND_HALF_UP),
        )
    return shares


@dataclass(frozen=True)
class ReceiptInput:
    line_id: int
    quantity: int
    damaged: int = 0


async def receive_purchase_order(
    uow: UnitOfWork,
    order_id: int,
    lines: Sequence[ReceiptInput],
    *,
    reference: str | None = None,
    note: str | None = None,
) -> tuple[PurchaseOrder, PurchaseReceipt]:
    """One delivery: good units on hand at their landed cost, damaged ones recorded."""
    session = uow.session
    order = await lock(session, PurchaseOrder, order_id)
    if order.status not in OPEN and order.status != S.RECEIVED:
        raise UserError(
            f"a purchase order that is {order.status} receives nothing", field="id", code="INVALID_STATE"
        )
    if not lines:
        raise UserError("a receipt has at least one line", field="lines", code="REQUIRED")
    by_id = {line.id: line for line in await order_lines(session, order.id)}
    shares = landed_shares(list(by_id.values()), order.freight, order.duty)
    receipt = PurchaseReceipt(purchase_order_id=order.id, reference=reference, note=note)
    session.add(receipt)
    await session.flush()
    seen: set[int] = set()
    good_total = 0
    for i, given in enumerate(lines):
        field = f"lines.{i}"
        line = by_id.get(given.line_id)
        if line is None:
            raise UserError("no such line of this purchase order", field=f"{field}.lineId", code="NOT_FOUND")
        if line.id in seen:
            raise UserError("a line appears once per receipt", field=f"{field}.lineId", code="INVALID")
        seen.add(line.id)
        good = _count(given.quantity, f"{field}.quantity", low=0)
        damaged = _count(given.damaged, f"{field}.damaged", low=0)
        if good + damaged == 0:
            raise UserError("receive at least one unit", field=f"{field}.quantity", code="INVALID")
        if (
            line.received_quantity + line.damaged_quantity + good + damaged
            > OVER_RECEIPT_FACTOR * line.quantity
        ):
            raise UserError(
                f"more than {OVER_RECEIPT_FACTOR}x the {line.quantity} ordered",
                field=f"{field}.quantity",
                code="OUT_OF_RANGE",
            )
        freight, duty = shares[line.id]
        unit_cost = line.unit_price + freight + duty
        if good:
            await receive_stock(
                uow,
                variant_id=line.variant_id,
                warehouse_id=order.warehouse_id,
                quantity=good,
                reference=order.number,
                note=reference,
            )
            await add_cost_layer(
                session,
                variant_id=line.variant_id,
                warehouse_id=order.warehouse_id,
                quantity=good,
                purchase_cost=line.unit_price,
                currency=order.currency,
                freight_cost=freight,
                duty_cost=duty,
                reference=order.number,
            )
        line.received_quantity += good
        line.damaged_quantity += damaged
        good_total += good
        session.add(
            PurchaseReceiptLine(
                receipt_id=receipt.id, line_id=line.id, quantity=good, damaged=damaged, unit_cost=unit_cost
            )
        )
    complete = all(line.received_quantity >= line.quantity for line in by_id.values())
    order.status = S.RECEIVED if complete else S.PARTIALLY_RECEIVED
    await session.flush()
    emit(
        session,
        "purchase_order.received",
        f"PurchaseOrder:{order.id}",
        number=order.number,
        units=good_total,
        complete=complete,
    )
    return order, receipt


@dataclass(frozen=True)
class OnOrder:
    """Units of a variant sent for and not yet received, for one warehouse."""

    variant_id: int
    warehouse_id: int
    quantity: int
    next_expected_on: date | None


async def stock_on_order(
    session: AsyncSession, *, variant_id: int | None = None, warehouse_id: int | None = None
) -> list[OnOrder]:
    """What open purchase orders still bring, per variant and warehouse (by variant id)."""
    # only lines still short are summed, so each adds what it lacks
    open_units = func.sum(PurchaseOrderLine.quantity - PurchaseOrderLine.received_quantity)
    stmt = (
        select(
            PurchaseOrderLine.variant_id,
            PurchaseOrder.warehouse_id,
            open_units,
            func.min(PurchaseOrder.expected_on),
        )
        .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
        .where(
            PurchaseOrder.status.in_(list(OPEN)),
            PurchaseOrderLine.received_quantity < PurchaseOrderLine.quantity,
        )
        .group_by(PurchaseOrderLine.variant_id, PurchaseOrder.warehouse_id)
        .order_by(PurchaseOrderLine.variant_id, PurchaseOrder.warehouse_id)
    )
    if variant_id is not None:
        stmt = stmt.where(PurchaseOrderLine.variant_id == variant_id)
    if warehouse_id is not None:
        stmt = stmt.where(PurchaseOrder.warehouse_id == warehouse_id)
    return [
        OnOrder(v, w, int(q or 0), e) for v, w, q, e in (await session.execute(stmt)).all() if (q or 0) > 0
    ]
