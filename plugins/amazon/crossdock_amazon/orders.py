"""Orders API 2026-01-01 (``orders_2026-01-01.json``) read into Crossdock's ``ChannelOrder``.

``searchOrders`` (``GET /orders/2026-01-01/orders``) and ``getOrder``
(``GET /orders/2026-01-01/orders/{orderId}``) with ``includedData`` naming the datasets
Crossdock reads: ``BUYER`` (``buyerName``, ``buyerEmail``), ``RECIPIENT``
(``deliveryAddress``), ``PROCEEDS`` (``grandTotal``) and ``FULFILLMENT`` (``fulfillmentStatus``,
``fulfilledBy``, ``shipByWindow``). The items come with the order (``orderItems``; the unit
price is ``product.price.unitPrice``), and no Restricted Data Token is needed.

A Pending order has no proceeds and no prices yet (Amazon prices it once payment is
authorised): its money is zero in the marketplace's currency until a later version brings
it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from crossdock import Address, ChannelError, ChannelOrder, ChannelOrderLine, Money

__all__ = ["INCLUDED", "STATUS_2026", "order_2026"]

#: the datasets asked for (``includedData`` enum)
INCLUDED = "BUYER,RECIPIENT,PROCEEDS,FULFILLMENT"
#: ``FulfillmentStatus`` -> Crossdock status (own fulfilment steps are Crossdock's to make)
STATUS_2026 = {
    "PENDING_AVAILABILITY": "pending",
    "PENDING": "pending",
    "UNSHIPPED": "pending",
    "PARTIALLY_SHIPPED": "pending",
    "SHIPPED": "shipped",
    "CANCELLED": "cancelled",
    "UNFULFILLABLE": "cancelled",
}
#: not paid for yet: payment not authorised
UNPAID = frozenset({"PENDING", "PENDING_AVAILABILITY"})


def _at(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def _money(value: Mapping[str, Any] | None, currency: str) -> Money:
    """``Money``: ``amount`` is a decimal string (``Decimal`` in the model), read exactly."""
    if not value or value.get("amount") in (None, ""):
        return Money(Decimal(0), currency)
    return Money(Decimal(str(value["amount"])), str(value.get("currencyCode") or currency))


def order_2026(raw: Mapping[str, Any], currency: str) -> ChannelOrder:
    """One 2026-01-01 ``Order``; ``currency`` is its marketplace's, for an order not priced yet."""
    fulfillment = raw.get("fulfillment") or {}
    status = str(fulfillment.get("fulfillmentStatus") or "")
    if status not in STATUS_2026:
        raise ChannelError(
            f"amazon order {raw.get('orderId')} has no known fulfillmentStatus: {status!r}",
            code="MALFORMED",
            retryable=True,
        )
    total = _money((raw.get("proceeds") or {}).get("grandTotal"), currency)
    lines = []
    for item in raw.get("orderItems") or []:
        product = item.get("product") or {}
        unit = _money((product.get("price") or {}).get("unitPrice"), total.currency)
        lines.append(
            ChannelOrderLine(
                external_id=str(item["orderItemId"]),
                sku=str(product.get("sellerSku") or product.get("asin")),
                quantity=int(item.get("quantityOrdered", 0)),
                unit_price=unit,
                title=product.get("title"),
            )
        )
    buyer = raw.get("buyer") or {}
    address = (raw.get("recipient") or {}).get("deliveryAddress") or {}
    return ChannelOrder(
        external_id=str(raw["orderId"]),
        status=STATUS_2026[status],
        channel_status=status,
        placed_at=_at(raw.get("createdTime")) or datetime.now(UTC),
        updated_at=_at(raw.get("lastUpdatedTime")) or datetime.now(UTC),
        total=total,
        lines=lines,
        buyer_name=buyer.get("buyerName") or address.get("name"),
        buyer_email=buyer.get("buyerEmail"),
        shipping_address=Address(
            name=address.get("name"),
            line1=address.get("addressLine1"),
            line2=address.get("addressLine2"),
            city=address.get("city"),
            region=address.get("stateOrRegion") or None,
            postal_code=address.get("postalCode"),
            country=address.get("countryCode"),
            phone=address.get("phone"),
        )
        if address
        else None,
        ship_by=_at((fulfillment.get("shipByWindow") or {}).get("latestDateTime")),
        fulfilled_by_channel=fulfillment.get("fulfilledBy") == "AMAZON",
        payment_status="pending" if status in UNPAID else "paid",
        raw=dict(raw),
    )
