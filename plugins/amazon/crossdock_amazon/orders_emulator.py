"""The Orders API 2026-01-01 side of the emulator: ``searchOrders`` and ``getOrder`` over the
same order book as Orders v0, rendered and validated as ``orders_2026-01-01.json`` says.

The order book keeps each order as v0 shows it (``AmazonOrderId``, ``OrderStatus`` ...);
:func:`render` turns one into the 2026-01-01 ``Order`` with only the datasets
``includedData`` asks for. Pending orders carry no prices in either version (ordersV0.json
``getOrderItems``: "When an order is in the Pending state ... does not return information
about pricing"): :func:`priced` says when they do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

__all__ = [
    "FULFILLED_BY",
    "FULFILLMENT_STATUSES",
    "INCLUDED_DATA",
    "ORDER_ID",
    "STATUS_2026",
    "SearchQuery",
    "parse_time",
    "priced",
    "render",
    "search_query",
]

#: AmazonOrderId: three, seven and seven digits (ordersV0.json examples, e.g. 902-3159896-1390916)
ORDER_ID = re.compile(r"\d{3}-\d{7}-\d{7}")
#: orders_2026-01-01.json ``includedData`` enum
INCLUDED_DATA = (
    "BUYER",
    "RECIPIENT",
    "PROCEEDS",
    "EXPENSE",
    "PROMOTION",
    "CANCELLATION",
    "FULFILLMENT",
    "PACKAGES",
    "TAX",
    "PAYMENT",
    "FULFILLMENT_ORDERS",
)
#: orders_2026-01-01.json ``FulfillmentStatus``
FULFILLMENT_STATUSES = (
    "PENDING_AVAILABILITY",
    "PENDING",
    "UNSHIPPED",
    "PARTIALLY_SHIPPED",
    "SHIPPED",
    "CANCELLED",
    "UNFULFILLABLE",
)
#: ``fulfilledBy`` enum
FULFILLED_BY = ("MERCHANT", "AMAZON")
#: v0 ``OrderStatus`` -> 2026-01-01 ``FulfillmentStatus`` (InvoiceUnconfirmed: all items
#: shipped, the invoice not yet confirmed)
STATUS_2026 = {
    "PendingAvailability": "PENDING_AVAILABILITY",
    "Pending": "PENDING",
    "Unshipped": "UNSHIPPED",
    "PartiallyShipped": "PARTIALLY_SHIPPED",
    "Shipped": "SHIPPED",
    "InvoiceUnconfirmed": "SHIPPED",
    "Canceled": "CANCELLED",
    "Unfulfillable": "UNFULFILLABLE",
}
#: searchOrders: ``lastUpdatedBefore`` / ``createdBefore`` at least two minutes before now
SETTLE_SECONDS = 120
MAX_MARKETPLACES = 50


def priced(order: Mapping[str, Any]) -> bool:
    """Whether Amazon shows the order's money yet (not while payment is unauthorised)."""
    return order["OrderStatus"] not in ("Pending", "PendingAvailability")


def parse_time(value: str) -> float | None:
    """An ISO 8601 date-time with a zone (``Z`` or an offset) as epoch seconds, else None."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _money(value: Mapping[str, Any]) -> dict[str, str]:
    return {"amount": str(value["Amount"]), "currencyCode": str(value["CurrencyCode"])}


def _csv(query: Mapping[str, str], name: str) -> list[str]:
    return [x for x in query.get(name, "").split(",") if x]


class SearchQuery:
    """A validated ``searchOrders`` query: which time field, the window, the filters."""

    __slots__ = ("after", "before", "field", "fulfilled_by", "key", "marketplaces", "size", "statuses")

    def __init__(
        self,
        *,
        field: str,
        after: float,
        before: float,
        marketplaces: list[str],
        statuses: list[str],
        fulfilled_by: list[str],
        size: int,
    ) -> None:
        self.field, self.after, self.before = field, after, before
        self.marketplaces, self.statuses, self.fulfilled_by, self.size = (
            marketplaces,
            statuses,
            fulfilled_by,
            size,
        )
        #: what a pagination token is bound to ("all other parameters must be provided with
        #: the same values", ``Pagination``)
        self.key = (field, after, tuple(marketplaces), tuple(statuses), tuple(fulfilled_by))

    def matches(self, order: Mapping[str, Any]) -> bool:
        stamp = parse_time(order[self.field]) or 0.0
        if not self.after <= stamp <= self.before:
            return False
        if self.marketplaces and order["MarketplaceId"] not in self.marketplaces:
            return False
        if self.statuses and STATUS_2026[order["OrderStatus"]] not in self.statuses:
            return False
        by = "AMAZON" if order["FulfillmentChannel"] == "AFN" else "MERCHANT"
        return not self.fulfilled_by or by in self.fulfilled_by


def search_query(
    query: Mapping[str, str], now: float, known_marketplaces: Sequence[str]
) -> SearchQuery | str:
    """The query, or what is wrong with it (an ``InvalidInput`` detail), as the
    ``searchOrders`` parameters in orders_2026-01-01.json describe them."""
    created, updated = "createdAfter" in query, "lastUpdatedAfter" in query
    if created == updated:
        return "You must provide exactly one of createdAfter and lastUpdatedAfter"
    if created and ("lastUpdatedBefore" in query):
        return "lastUpdatedBefore may not be provided with createdAfter"
    if updated and ("createdBefore" in query):
        return "createdBefore may not be provided with lastUpdatedAfter"
    after_name, before_name = (
        ("createdAfter", "createdBefore") if created else ("lastUpdatedAfter", "lastUpdatedBefore")
    )
    after = parse_time(query[after_name])
    if after is None:
        return f"{after_name} must be an ISO 8601 date-time"
    latest = now - SETTLE_SECONDS
    before = float("inf")
    if before_name in query:
        parsed = parse_time(query[before_name])
        if parsed is None:
            return f"{before_name} must be an ISO 8601 date-time"
        if parsed < after:
            return f"{before_name} must be equal to or after {after_name}"
        if parsed > latest:
            return f"{before_name} must be at least two minutes before the time of the request"
        before = parsed
    marketplaces = _csv(query, "marketplaceIds")
    if len(marketplaces) > MAX_MARKETPLACES:
        return f"marketplaceIds takes at most {MAX_MARKETPLACES} values"
    unknown = [m for m in marketplaces if m not in known_marketplaces]
    if unknown:
        return f"Invalid marketplaceIds: {', '.join(unknown)}"
    statuses = _csv(query, "fulfillmentStatuses")
    bad = [s for s in statuses if s not in FULFILLMENT_STATUSES]
    if bad:
        return f"Invalid fulfillmentStatuses: {', '.join(bad)}"
    fulfilled_by = _csv(query, "fulfilledBy")
    bad = [s for s in fulfilled_by if s not in FULFILLED_BY]
    if bad:
        return f"Invalid fulfilledBy: {', '.join(bad)}"
    raw_size = query.get("maxResultsPerPage", "100")
    if not raw_size.isdigit() or not 1 <= int(raw_size) <= 100:
        return "maxResultsPerPage must be between 1 and 100"
    return SearchQuery(
        field="PurchaseDate" if created else "LastUpdateDate",
        after=after,
        before=before,
        marketplaces=marketplaces,
        statuses=statuses,
        fulfilled_by=fulfilled_by,
        size=int(raw_size),
    )


def included_data(query: Mapping[str, str]) -> set[str] | str:
    """The datasets asked for, or what is wrong with them."""
    included = set(_csv(query, "includedData"))
    bad = sorted(included - set(INCLUDED_DATA))
    return f"Invalid includedData: {', '.join(bad)}" if bad else included


def render(
    order: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]],
    included: set[str],
    marketplace_name: str,
    packages: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The 2026-01-01 ``Order`` for a v0-shaped order of the book."""
    money = priced(order)
    afn = order["FulfillmentChannel"] == "AFN"
    lines = []
    for item in items:
        quantity = int(item["QuantityOrdered"])
        product: dict[str, Any] = {
            "asin": item["ASIN"],
            "sellerSku": item["SellerSKU"],
            "title": item["Title"],
        }
        line: dict[str, Any] = {"orderItemId": item["OrderItemId"], "quantityOrdered": quantity}
        if money and item.get("ItemPrice"):
            total = Decimal(str(item["ItemPrice"]["Amount"]))
            currency = item["ItemPrice"]["CurrencyCode"]
            unit = (total / quantity).quantize(Decimal("0.01")) if quantity else total
            product["price"] = {"unitPrice": {"amount": str(unit), "currencyCode": currency}}
            if "PROCEEDS" in included:
                subtotal = _money(item["ItemPrice"])
                line["proceeds"] = {
                    "proceedsTotal": subtotal,
                    "breakdowns": [{"type": "ITEM", "subtotal": subtotal}],
                }
        line["product"] = product
        if "CANCELLATION" in included:
            cancellation: dict[str, Any] = {}
            asked = item.get("BuyerRequestedCancel") or {}
            if asked.get("IsBuyerRequestedCancel") == "true":
                cancellation["cancellationRequest"] = {
                    "requester": "BUYER",
                    "cancelReason": asked.get("BuyerCancelReason", ""),
                }
            if item.get("_cancel_execution"):
                cancellation["cancellationExecution"] = dict(item["_cancel_execution"])
            if cancellation:
                line["cancellation"] = cancellation
        if "FULFILLMENT" in included:
            shipped = int(item.get("QuantityShipped", 0))
            line["fulfillment"] = {"quantityFulfilled": shipped, "quantityUnfulfilled": quantity - shipped}
        lines.append(line)
    shown: dict[str, Any] = {
        "orderId": order["AmazonOrderId"],
        "createdTime": order["PurchaseDate"],
        "lastUpdatedTime": order["LastUpdateDate"],
        "salesChannel": {
            "channelName": "AMAZON",
            "marketplaceId": order["MarketplaceId"],
            "marketplaceName": marketplace_name,
        },
        "orderItems": lines,
    }
    if order.get("IsPrime"):
        shown["programs"] = ["PRIME"]
    address = order.get("ShippingAddress") or {}
    if "BUYER" in included:
        buyer: dict[str, Any] = {"buyerName": address.get("Name")}
        if not afn:  # "Only available for merchant-fulfilled (FBM) orders"
            buyer["buyerEmail"] = (order.get("BuyerInfo") or {}).get("BuyerEmail")
        shown["buyer"] = buyer
    if "RECIPIENT" in included:
        shown["recipient"] = {
            "deliveryAddress": {
                "name": address.get("Name"),
                "addressLine1": address.get("AddressLine1"),
                "city": address.get("City"),
                "stateOrRegion": address.get("StateOrRegion"),
                "postalCode": address.get("PostalCode"),
                "countryCode": address.get("CountryCode"),
                "addressType": "RESIDENTIAL",
            }
        }
    if "PROCEEDS" in included and money and order.get("OrderTotal"):
        grand = _money(order["OrderTotal"])
        shown["proceeds"] = {"grandTotal": grand, "breakdowns": [{"type": "ITEM", "subtotal": grand}]}
    if "FULFILLMENT" in included:
        shown["fulfillment"] = {
            "fulfillmentStatus": STATUS_2026[order["OrderStatus"]],
            "fulfilledBy": "AMAZON" if afn else "MERCHANT",
            "fulfillmentServiceLevel": "STANDARD",
            "shipByWindow": {
                "earliestDateTime": order["EarliestShipDate"],
                "latestDateTime": order["LatestShipDate"],
            },
        }
    if "PACKAGES" in included and not afn:  # "Only available for merchant-fulfilled (FBM) orders"
        shown["packages"] = packages or []
    return shown


def settled(now: float) -> str:
    """``lastUpdatedBefore`` of an answer: two minutes before now."""
    return _iso(now - SETTLE_SECONDS)
