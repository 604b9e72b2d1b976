"""TikTok Shop orders (202309 order objects) in Crossdock's terms.

TikTok lists one line item per unit (there is no quantity field). Crossdock wants lines
with quantities, so units are grouped by SKU and sale price: a group's external id is the
id of its first unit (ids sorted), which stays stable across re-syncs and fits in 64
characters. :func:`unit_groups` is the same grouping the fulfilment code uses to find the
packages of a shipment's lines.

Customer service messages (202309) carry their ``content`` as a JSON string whose shape
depends on ``type`` (TEXT: ``{"content": "..."}``; ORDER_CARD and BUYER_ENTER_FROM_ORDER:
``{"order_id": "..."}``); :func:`to_message` turns the ones a seller answers into
:class:`~crossdock.ChannelMessage` and :func:`message_order_context` names the order a
message is about.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from crossdock import Address, ChannelMessage, ChannelOrder, ChannelOrderLine, Money

__all__ = [
    "BUYER",
    "SELLER_ROLES",
    "STATUS",
    "message_content",
    "message_order_context",
    "message_text",
    "to_message",
    "to_order",
    "unit_groups",
]

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


# --------------------------------------------------------------------------- messages

BUYER = "BUYER"
#: senders whose messages are the seller's replies. SYSTEM and ROBOT (auto-replies) are
#: TikTok's, not the seller's: they are left out, so they neither count as a reply nor as a
#: buyer message.
SELLER_ROLES = frozenset({"SHOP", "CUSTOMER_SERVICE"})
#: context events, not words: the order or product the buyer came from, an agent joining,
#: a transfer, a system notice. They are not messages to answer (the order they name is
#: still recorded, see message_order_context).
CONTEXT_TYPES = frozenset(
    {
        "BUYER_ENTER_FROM_ORDER",
        "BUYER_ENTER_FROM_PRODUCT",
        "BUYER_ENTER_FROM_TRANSFER",
        "ALLOCATED_SERVICE",
        "NOTIFICATION",
    }
)
#: how non-text messages read in Crossdock (fields from their content)
DESCRIBED = {
    "IMAGE": "[image] {url}",
    "VIDEO": "[video]",
    "EMOTICONS": "[emoticon]",
    "PRODUCT_CARD": "[product {product_id}]",
    "ORDER_CARD": "[order {order_id}]",
    "RETURN_REFUND_CARD": "[return/refund request: order {order_id}]",
    "LOGISTICS_CARD": "[shipping of order {order_id}]",
    "COUPON_CARD": "[coupon {coupon_id}]",
}
#: message types whose content names an order
ORDER_TYPES = frozenset({"ORDER_CARD", "BUYER_ENTER_FROM_ORDER", "RETURN_REFUND_CARD", "LOGISTICS_CARD"})


class _Blanks(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def message_content(raw: dict[str, Any]) -> dict[str, Any]:
    """The message's ``content`` (a JSON-serialized string) as a dict; ``{}`` when absent
    or not JSON."""
    content = raw.get("content")
    if isinstance(content, dict):
        return content
    try:
        parsed = json.loads(content) if content else {}
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def message_order_context(raw: dict[str, Any]) -> str | None:
    """The order a message is about: an order card, the order the buyer came from, a
    return/refund or logistics card."""
    if raw.get("type") not in ORDER_TYPES:
        return None
    order_id = message_content(raw).get("order_id")
    return str(order_id) if order_id else None


def message_text(raw: dict[str, Any]) -> str | None:
    """What the seller reads: a TEXT's words, a short description of a card or medium, or
    None for context events and empty messages."""
    kind = str(raw.get("type") or "")
    content = message_content(raw)
    if kind in CONTEXT_TYPES:
        return None
    if kind == "TEXT":
        text = content.get("content")
        return str(text) if text not in (None, "") else None
    if kind in DESCRIBED:
        return DESCRIBED[kind].format_map(_Blanks(content)).strip()
    return f"[{kind.lower() or 'message'}: open it in TikTok Shop Seller Center]"


def to_message(
    raw: dict[str, Any],
    thread_id: str,
    buyer: tuple[str | None, str | None] = (None, None),
    order_external_id: str | None = None,
) -> ChannelMessage | None:
    """One conversation message as Crossdock's, or None when it is nothing to show or
    answer (hidden, from TikTok's system or robot, a context event). ``buyer`` is the
    conversation's buyer (IM user id, nickname); ``order_external_id`` the order the
    conversation was about at this point (see :func:`message_order_context`)."""
    sender = raw.get("sender") or {}
    role = str(sender.get("role") or "")
    if raw.get("is_visible") is False or (role != BUYER and role not in SELLER_ROLES):
        return None
    text = message_text(raw)
    sent_at = _at(raw.get("create_time"))
    if text is None or sent_at is None or not raw.get("id"):
        return None
    from_buyer = role == BUYER
    buyer_id, buyer_name = buyer
    if from_buyer:
        buyer_id = str(sender.get("im_user_id") or "") or buyer_id
        buyer_name = str(sender.get("nickname") or "") or buyer_name
    return ChannelMessage(
        thread_id=thread_id,
        external_id=str(raw["id"]),
        from_buyer=from_buyer,
        text=text,
        sent_at=sent_at,
        buyer_id=buyer_id,
        buyer_name=buyer_name,
        order_external_id=message_order_context(raw) or order_external_id,
        raw=raw,
    )
