"""Shopee orders in Crossdock's terms.

Bundle deals: ``get_order_detail`` gives a bundle-deal line ``model_discounted_price`` 0
("by design bundle deal discount will not be breakdown to item/model level ... Please call
GetEscrowDetails if you want to calculate item-level discounted price for bundle deal
item", v2.order.get_order_detail in the API reference JSON mirrored in
``congminh1254/shopee-sdk``). What such a line sold at is the escrow's
``order_income.items[].discounted_price`` (v2.payment.get_escrow_detail: "the
after-discount price ... the subtotal of that specific item if quantity exceeds 1"): the
unit price is that subtotal over ``quantity_purchased``. A subtotal that does not divide
into whole units of the currency is split into two lines (the last unit carries the
remainder), so the stored lines always add up to what the buyer paid for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from crossdock import Address, ChannelOrder, ChannelOrderLine, Money

__all__ = ["STATUS", "is_bundle_deal", "line_prices", "to_order"]

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


def is_bundle_deal(item: Mapping[str, Any]) -> bool:
    """A line whose price Shopee leaves at 0 because it sold in a bundle deal."""
    return item.get("promotion_type") == "bundle_deal" or (
        not item.get("model_discounted_price") and bool(item.get("model_original_price"))
    )


def _quantum(currency: str) -> Decimal:
    """The currency's smallest unit (0.01, or 1 for IDR, VND ...)."""
    return Decimal(1).scaleb(Money(Decimal("0.001"), currency).rounded().amount.as_tuple().exponent)  # type: ignore[arg-type]


def line_prices(subtotal: Decimal, quantity: int, currency: str) -> list[tuple[int, Decimal]]:
    """``(quantity, unit price)`` pairs whose sum is exactly ``subtotal``: one pair when the
    subtotal divides into whole units of the currency, else the last unit apart."""
    quantity = max(1, quantity)
    unit = (subtotal / quantity).quantize(_quantum(currency), rounding=ROUND_DOWN)
    if unit * quantity == subtotal or quantity == 1:
        return [(quantity, subtotal if quantity == 1 else unit)]
    return [(quantity - 1, unit), (1, subtotal - unit * (quantity - 1))]


def _escrow_line(item: Mapping[str, Any], escrow: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The escrow entry of an order line: by ``line_item_id`` when both give it, else by
    item and model."""
    line = item.get("line_item_id")
    if line:
        found = next((e for e in escrow if e.get("line_item_id") == line), None)
        if found is not None:
            return found
    return next(
        (
            e
            for e in escrow
            if e.get("item_id") == item.get("item_id")
            and int(e.get("model_id") or 0) == int(item.get("model_id") or 0)
        ),
        None,
    )


def _lines(raw: Mapping[str, Any], escrow: Sequence[Mapping[str, Any]] | None) -> list[ChannelOrderLine]:
    currency = raw["currency"]
    lines: list[ChannelOrderLine] = []
    seen: dict[str, int] = {}
    for item in raw.get("item_list") or []:
        base = f"{item['item_id']}:{item.get('model_id', 0)}"
        seen[base] = seen.get(base, 0) + 1
        # the same model twice (in and out of a bundle) keeps unique line ids
        external_id = base if seen[base] == 1 else f"{base}/{item.get('line_item_id') or seen[base]}"
        quantity = int(item["model_quantity_purchased"])
        sku = item.get("model_sku") or item.get("item_sku") or str(item["item_id"])
        title = item.get("item_name")
        found = _escrow_line(item, escrow) if escrow is not None and is_bundle_deal(item) else None
        if found is not None and found.get("discounted_price") is not None:
            subtotal = Decimal(str(found["discounted_price"]))
            prices = line_prices(subtotal, quantity, currency)
        elif is_bundle_deal(item):
            # no escrow to read (an unpaid order, an app without the payment API): the
            # listing's price before the bundle deal, never 0
            prices = [(quantity, Decimal(str(item.get("model_original_price") or 0)))]
        else:
            prices = [(quantity, Decimal(str(item["model_discounted_price"])))]
        for n, (qty, unit) in enumerate(prices):
            lines.append(
                ChannelOrderLine(
                    external_id=external_id if n == 0 else f"{external_id}/rest",
                    sku=sku,
                    quantity=qty,
                    unit_price=Money(unit, currency),
                    title=title,
                )
            )
    return lines


def to_order(raw: dict[str, Any], escrow: Sequence[Mapping[str, Any]] | None = None) -> ChannelOrder:
    """An order from ``get_order_detail``; ``escrow``: the ``order_income.items`` of its
    ``get_escrow_detail`` (bundle-deal orders)."""
    currency = raw["currency"]
    address = raw.get("recipient_address") or {}
    lines = _lines(raw, escrow)
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
