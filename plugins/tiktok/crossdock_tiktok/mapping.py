"""TikTok Shop orders (202309 order objects) in Crossdock's terms.

TikTok lists one line item per unit (there is no quantity field). Crossdock wants lines
with quantities, so units are grouped by SKU and sale price: a group's external id is the
id of its first unit (ids sorted), which stays stable across re-syncs and fits in 64
characters. :func:`unit_groups` is the same grouping the fulfilment code uses to find the
packages of a shipment's lines.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from crossdock import Address, ChannelOrder, ChannelOrderLine, Money

__all__ = ["STATUS", "to_order", "unit_groups"]

#: TikTok order status -> Crossdock status. Own-fulfilment steps (awaiting shipment,
#: awaiting collection) are Crossdock's to make; the channel's word counts for shipping,
#: delivery and cancellation, and for orders TikTok fulfils itself. ON_HOLD is TikTok's
#: cancellation window after payment: the order cannot ship yet, but it is sold.
STATUS = {
    "UNPAID": "pending",
    "ON_HOLD": "pending",
    "AWAITING_SHIPMENT": "pending",
    "PARTIALLY_SHIPPING": "pending",
    "AWAITING_COLLECTION": "pending",
    "IN_TRANSIT": "shipped",
    "DELIVERED": "delivered",
    "COMPLETED": "delivered",
    "CANCELLED": "cancelled",
}


def _at(epoch: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(epoch), UTC) if epoch else None
    except (TypeError, ValueError):
        return None


def _amount(value: Any) -> Decimal:
    """TikTok sends money as decimal strings; an empty or missing one is zero."""
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def _sku(item: dict[str, Any]) -> str:
    return str(item.get("seller_sku") or item.get("sku_id") or item.get("product_id") or "")


def unit_groups(raw: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The order's units grouped by (SKU, sale price): ``[(group id, units)]``."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    units = sorted(raw.get("line_items") or [], key=lambda i: (len(str(i["id"])), str(i["id"])))
    for item in units:
        key = (_sku(item), str(_amount(item.get("sale_price"))))
        groups.setdefault(key, []).append(item)
    return [(str(items[0]["id"]), items) for items in groups.values()]


def _address(raw: dict[str, Any]) -> Address | None:
    address = raw.get("recipient_address") or {}
    if not address:
        return None
    levels = {
        str(d.get("address_level_name", "")).lower(): d.get("address_name")
        for d in address.get("district_info") or []
    }
    return Address(
        name=address.get("name"),
        line1=address.get("address_line1") or address.get("address_detail") or address.get("full_address"),
        line2=address.get("address_line2") or None,
        city=levels.get("city") or levels.get("town") or levels.get("district") or None,
        region=levels.get("state") or levels.get("province") or levels.get("county") or None,
        postal_code=address.get("postal_code") or None,
        country=address.get("region_code") or None,
        phone=address.get("phone_number") or None,
    )


def to_order(raw: dict[str, Any]) -> ChannelOrder:
    payment = raw.get("payment") or {}
    items = raw.get("line_items") or []
    currency = payment.get("currency") or (items[0].get("currency") if items else None)
    if not currency:
        raise ValueError(f"tiktok order {raw.get('id')} names no currency")
    lines = [
        ChannelOrderLine(
            external_id=group_id,
            sku=_sku(units[0]),
            quantity=len(units),
            unit_price=Money(_amount(units[0].get("sale_price")), currency),
            title=units[0].get("product_name"),
        )
        for group_id, units in unit_groups(raw)
    ]
    status = str(raw["status"])
    address = _address(raw)
    # rts_sla_time: latest time to mark the order ready to ship (the seller's deadline);
    # tts_sla_time / shipping_due_time as fallbacks (field semantics UNCONFIRMED)
    ship_by = (
        _at(raw.get("rts_sla_time")) or _at(raw.get("tts_sla_time")) or _at(raw.get("shipping_due_time"))
    )
    return ChannelOrder(
        external_id=str(raw["id"]),
        status=STATUS.get(status, "pending"),
        channel_status=status,
        placed_at=_at(raw.get("create_time")) or datetime.now(UTC),
        updated_at=_at(raw.get("update_time")) or datetime.now(UTC),
        total=Money(_amount(payment.get("total_amount")), currency),
        lines=lines,
        buyer_name=address.name if address else None,
        buyer_email=raw.get("buyer_email") or None,
        shipping_address=address,
        ship_by=ship_by,
        fulfilled_by_channel=raw.get("fulfillment_type") == "FULFILLMENT_BY_TIKTOK",
        payment_status="pending" if status == "UNPAID" else "paid",
        raw=raw,
    )
