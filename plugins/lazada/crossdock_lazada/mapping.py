"""Lazada orders in Crossdock's terms.

Lazada has no order status of its own: each order item (one row per unit) has one, and an
order lists the distinct ones in ``statuses``. Crossdock's status is the least advanced of
the live (not cancelled) units; an order is cancelled only when every unit is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from crossdock import Address, ChannelOrder, ChannelOrderLine, Money

__all__ = ["SITE_OFFSETS", "STATUS", "crossdock_status", "lines_of", "parse_time", "to_order"]

#: Lazada order item status -> Crossdock status. Packing and ready-to-ship are steps the
#: seller takes through Crossdock; the channel's word counts for cancellation, shipping,
#: delivery and returns (and for orders Lazada ships itself, FBL).
STATUS = {
    "unpaid": "pending",
    "pending": "pending",
    "topack": "pending",
    "packed": "pending",
    "repacked": "pending",
    "toship": "pending",
    "ready_to_ship": "pending",
    "ready_to_ship_pending": "pending",
    "shipped": "shipped",
    "lost_by_3pl": "shipped",  # left the seller; the carrier lost it (Lazada compensates)
    "damaged_by_3pl": "shipped",
    "delivered": "delivered",
    "canceled": "cancelled",
    "failed_delivery": "returned",  # the parcel comes back to the seller
    "shipped_back": "returned",
    "shipped_back_success": "returned",
    "shipped_back_failed": "returned",
    "package_returned": "returned",
    "returned": "returned",
}
#: How far along a status is; an order is as far as its least advanced live unit.
_RANK = {"pending": 0, "shipped": 1, "delivered": 2, "returned": 3}

#: UTC offsets of the sites' local times (Lazada stamps times in the seller's country).
SITE_OFFSETS = {"SG": 8, "MY": 8, "PH": 8, "TH": 7, "VN": 7, "ID": 7}


def crossdock_status(statuses: Sequence[str]) -> str:
    live = [STATUS.get(s, "pending") for s in statuses if s != "canceled"]
    if not live:
        return "cancelled"
    return min(live, key=lambda s: _RANK.get(s, 0))


def parse_time(value: Any, site: str = "SG") -> datetime | None:
    """Lazada's ``2026-11-27 10:38:27 +0800`` (or ISO 8601); a stamp without an offset is
    the site's local time."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    for fmt in ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S"):
        try:
            at = datetime.strptime(text, fmt)
            break
        except ValueError:
            continue
    else:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone(timedelta(hours=SITE_OFFSETS.get(site, 8))))
    return at.astimezone(UTC)


def amount(value: Any) -> Decimal:
    """Prices come as strings ("1,299.00") or numbers."""
    if value in (None, ""):
        return Decimal(0)
    try:
        return Decimal(str(value).replace(",", ""))
    except InvalidOperation:
        return Decimal(0)


def lines_of(items: Sequence[Mapping[str, Any]], currency: str) -> list[ChannelOrderLine]:
    """One line per seller SKU; Lazada sends one row per unit, so quantity is the count of
    rows. Cancelled units do not count unless the whole order was cancelled. A line's
    ``external_id`` is its lowest ``order_item_id`` (stable, unique in the order)."""
    live = [i for i in items if i.get("status") != "canceled"] or list(items)
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for item in sorted(live, key=lambda i: int(i["order_item_id"])):
        groups.setdefault(str(item.get("sku") or item.get("shop_sku") or item["order_item_id"]), []).append(
            item
        )
    lines = []
    for sku, units in groups.items():
        paid = sum((amount(u.get("paid_price", u.get("item_price"))) for u in units), Decimal(0))
        lines.append(
            ChannelOrderLine(
                external_id=str(units[0]["order_item_id"]),
                sku=sku,
                quantity=len(units),
                unit_price=Money(paid / len(units), currency).rounded(),
                title=units[0].get("name"),
            )
        )
    return lines


def to_order(
    raw: Mapping[str, Any], items: Sequence[Mapping[str, Any]], site: str, currency: str
) -> ChannelOrder:
    """An order from ``/orders/get`` (or ``/order/get``) and its item rows."""
    currency = next((str(i["currency"]) for i in items if i.get("currency")), currency)
    statuses = [str(s) for s in raw.get("statuses") or []] or sorted({str(i.get("status")) for i in items})
    address = raw.get("address_shipping") or {}
    country = str(address.get("country") or "")
    buyer = " ".join(p for p in (raw.get("customer_first_name"), raw.get("customer_last_name")) if p).strip()
    total = amount(raw.get("price")) - amount(raw.get("voucher")) + amount(raw.get("shipping_fee"))
    placed = parse_time(raw.get("created_at"), site) or datetime.now(UTC)
    updated = parse_time(raw.get("updated_at"), site) or placed
    return ChannelOrder(
        external_id=str(raw["order_id"]),
        status=crossdock_status(statuses),
        channel_status=",".join(sorted(set(statuses))),
        placed_at=placed,
        updated_at=updated,
        total=Money(total, currency),
        lines=lines_of(items, currency),
        buyer_name=buyer or None,
        shipping_address=Address(
            name=" ".join(p for p in (address.get("first_name"), address.get("last_name")) if p) or None,
            line1=address.get("address1") or None,
            line2=address.get("address2") or None,
            city=address.get("city") or address.get("address4") or None,
            region=address.get("address3") or None,
            postal_code=address.get("post_code") or address.get("address5") or None,
            # Lazada gives the country's name ("Singapore"); the site says which one it is
            country=country if len(country) == 2 and country.isupper() else site,
            phone=address.get("phone") or None,
        )
        if address
        else None,
        ship_by=parse_time(raw.get("promised_shipping_times"), site),
        fulfilled_by_channel=bool(items) and all(str(i.get("is_fbl", "0")) == "1" for i in items),
        payment_status="pending"
        if set(statuses) <= {"unpaid", "canceled"} and "unpaid" in statuses
        else "paid",
        raw={"order": dict(raw), "items": [dict(i) for i in items]},
    )
