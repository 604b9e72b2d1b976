"""The Finances API (v0) of the Amazon emulator: financial event groups (a seller's
settlement periods) filled as orders ship, with commissions, extra fees and advertising.

Served: ``GET /finances/v0/financialEventGroups`` and
``GET /finances/v0/financialEventGroups/{eventGroupId}/financialEvents``, paged with
``NextToken``. Amounts are ``{"CurrencyCode", "CurrencyAmount"}``; money the seller gets is
positive, what Amazon keeps negative.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from crossdock.testing.emulator import Reply

__all__ = ["COMMISSION", "Finances"]

#: The referral fee the emulator charges on every sale (Amazon's is per category, 8-15 %).
COMMISSION = Decimal("0.15")


def _money(amount: Decimal, currency: str) -> dict[str, Any]:
    return {"CurrencyCode": currency, "CurrencyAmount": float(amount.quantize(Decimal("0.01")))}


class Finances:
    def __init__(self, clock: Callable[[], float], iso: Callable[[float], str]) -> None:
        self.clock = clock
        self.iso = iso
        self.groups: dict[str, dict[str, Any]] = {}  # id -> group (with "_seller", "_events")

    def open_group(self, seller_id: str, currency: str) -> dict[str, Any]:
        for group in self.groups.values():
            if group["_seller"] == seller_id and group["ProcessingStatus"] == "Open":
                return group
        group_id = secrets.token_urlsafe(24)
        group = self.groups[group_id] = {
            "FinancialEventGroupId": group_id,
            "ProcessingStatus": "Open",
            "FundTransferStatus": "Unknown",
            "OriginalTotal": _money(Decimal(0), currency),
            "FinancialEventGroupStart": self.iso(self.clock() - 60),
            "_seller": seller_id,
            "_total": Decimal(0),
            "_currency": currency,
            "_events": {"ShipmentEventList": [], "ServiceFeeEventList": [], "ProductAdsPaymentEventList": []},
        }
        return group

    def _add(self, group: dict[str, Any], amount: Decimal) -> None:
        group["_total"] += amount
        group["OriginalTotal"] = _money(group["_total"], group["_currency"])

    def shipped(self, seller_id: str, order: Mapping[str, Any], items: list[dict[str, Any]]) -> None:
        """A shipment posts the sale and Amazon's referral fee to the open group."""
        currency = order["OrderTotal"]["CurrencyCode"]
        group = self.open_group(seller_id, currency)
        event_items = []
        for item in items:
            principal = Decimal(item["ItemPrice"]["Amount"])
            commission = -(principal * COMMISSION).quantize(Decimal("0.01"))
            event_items.append(
                {
                    "SellerSKU": item["SellerSKU"],
                    "OrderItemId": item["OrderItemId"],
                    "QuantityShipped": item["QuantityOrdered"],
                    "ItemChargeList": [
                        {"ChargeType": "Principal", "ChargeAmount": _money(principal, currency)},
                        {"ChargeType": "Tax", "ChargeAmount": _money(Decimal(0), currency)},
                    ],
                    "ItemFeeList": [{"FeeType": "Commission", "FeeAmount": _money(commission, currency)}],
                }
            )
            self._add(group, principal + commission)
        group["_events"]["ShipmentEventList"].append(
            {
                "AmazonOrderId": order["AmazonOrderId"],
                "MarketplaceName": "Amazon.com",
                "PostedDate": self.iso(self.clock()),
                "ShipmentItemList": event_items,
            }
        )

    def charge_fee(
        self, seller_id: str, order_id: str | None, amount: Decimal, currency: str, reason: str
    ) -> None:
        group = self.open_group(seller_id, currency)
        group["_events"]["ServiceFeeEventList"].append(
            {
                **({"AmazonOrderId": order_id} if order_id else {}),
                "FeeReason": reason,
                "FeeList": [{"FeeType": reason, "FeeAmount": _money(-amount, currency)}],
            }
        )
        self._add(group, -amount)

    def charge_ads(self, seller_id: str, amount: Decimal, currency: str) -> None:
        group = self.open_group(seller_id, currency)
        group["_events"]["ProductAdsPaymentEventList"].append(
            {
                "postedDate": self.iso(self.clock()),
                "transactionType": "charge",
                "invoiceId": secrets.token_hex(6).upper(),
                "transactionValue": _money(-amount, currency),
            }
        )
        self._add(group, -amount)

    def close(self, seller_id: str) -> None:
        """The period ends and the money is transferred."""
        for group in self.groups.values():
            if group["_seller"] == seller_id and group["ProcessingStatus"] == "Open":
                group.update(
                    ProcessingStatus="Closed",
                    FundTransferStatus="Succeeded",
                    FinancialEventGroupEnd=self.iso(self.clock()),
                    FundTransferDate=self.iso(self.clock()),
                )

    # ------------------------------------------------------------------ protocol

    @staticmethod
    def public(group: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in group.items() if not k.startswith("_")}

    def list_groups(self, seller_id: str, query: Mapping[str, str], since: float | None) -> Reply:
        size = int(query.get("MaxResultsPerPage", 10))
        if not 1 <= size <= 100:
            return Reply(
                400, {"errors": [{"code": "InvalidInput", "message": "MaxResultsPerPage is 1 to 100"}]}
            )
        rows = sorted(
            (g for g in self.groups.values() if g["_seller"] == seller_id),
            key=lambda g: g["FinancialEventGroupStart"],
        )
        if since is not None:
            rows = [g for g in rows if g["FinancialEventGroupStart"] >= self.iso(since)]
        start = int(query.get("NextToken") or 0)
        page = rows[start : start + size]
        payload: dict[str, Any] = {"FinancialEventGroupList": [self.public(g) for g in page]}
        if start + size < len(rows):
            payload["NextToken"] = str(start + size)
        return Reply(200, {"payload": payload})

    def list_events(self, seller_id: str, group_id: str, query: Mapping[str, str]) -> Reply:
        group = self.groups.get(group_id)
        if group is None or group["_seller"] != seller_id:
            return Reply(
                404, {"errors": [{"code": "NotFound", "message": "Financial event group not found"}]}
            )
        size = int(query.get("MaxResultsPerPage", 100))
        shipments = group["_events"]["ShipmentEventList"]
        start = int(query.get("NextToken") or 0)
        events: dict[str, Any] = {"ShipmentEventList": shipments[start : start + size]}
        if start == 0:  # the other lists come with the first page
            events["ServiceFeeEventList"] = group["_events"]["ServiceFeeEventList"]
            events["ProductAdsPaymentEventList"] = group["_events"]["ProductAdsPaymentEventList"]
        payload: dict[str, Any] = {"FinancialEvents": events}
        if start + size < len(shipments):
            payload["NextToken"] = str(start + size)
        return Reply(200, {"payload": payload})
