"""Shopee orders in Crossdock's terms."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from crossdock import Address, ChannelOrder, ChannelOrderLine, Money

__all__ = ["STATUS", "to_order"]

#: Shopee order_status -> Crossdock status. Own-fulfilment steps are Crossdock's to make;
#: the channel's word only counts for cancellation, delivery and returns (and for orders
#: Shopee ships itself).
STATUS = {
    "UNPAID": "pending",
    "READY_TO_SHIP": "pending",
    "PROCESSED": "pending",
    "RETRY_SHIP": "pending",
    "IN_CANCEL": "pending",
    "INVOICE_PENDING": "pending",
    "SHIPPED": "shipped",
    "TO_CONFIRM_RECEIVE": "shipped",
    "COMPLETED": "delivered",
    "CANCELLED": "cancelled",
    "TO_RETURN": "returned",
}


def _at(epoch: int | None) -> datetime | None:
    return datetime.fromtimestamp(int(epoch), UTC) if epoch else None


def to_order(raw: dict[str, Any]) -> ChannelOrder:
    currency = raw["currency"]
    address = raw.get("recipient_address") or {}
    lines = [
        ChannelOrderLine(
            external_id=f"{item['item_id']}:{item.get('model_id', 0)}",
            sku=item.get("model_sku") or item.get("item_sku") or str(item["item_id"]),
            quantity=int(item["model_quantity_purchased"]),
            unit_price=Money(Decimal(str(item["model_discounted_price"])), currency),
            title=item.get("item_name"),
        )
        for item in raw.get("item_list") or []
    ]
    status = raw["order_status"]
    return ChannelOrder(
        external_id=raw["order_sn"],
        status=STATUS.get(status, "pending"),
        channel_status=status,
        placed_at=_at(raw["create_time"]) or datetime.now(UTC),
        updated_at=_at(raw["update_time"]) or datetime.now(UTC),
        total=Money(Decimal(str(raw.get("total_amount", 0))), currency),
        lines=lines,
        buyer_name=address.get("name") or raw.get("buyer_username"),
        shipping_address=Address(
            name=address.get("name"),
            line1=address.get("full_address"),
            city=address.get("city") or None,
            region=address.get("state") or None,
            postal_code=address.get("zipcode"),
            country=address.get("region") or raw.get("region"),
            phone=address.get("phone"),
        )
        if address
        else None,
        ship_by=_at(raw.get("ship_by_date")),
        fulfilled_by_channel=raw.get("fulfillment_flag") == "fulfilled_by_shopee",
        payment_status="pending" if status in ("UNPAID", "INVOICE_PENDING") else "paid",
        raw=raw,
    )
