"""TikTok Shop passes the after-sales conformance suite: buyers' cancellation requests,
returns answered with TikTok's own reject reasons, the seller's cancellation, through faults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crossdock_tiktok.emulator import TikTokShopSellerEmulator

from crossdock.testing.conformance import AfterSalesConformance
from crossdock.testing.emulator import Faults

SHIPPED = ("AWAITING_COLLECTION", "IN_TRANSIT", "DELIVERED", "COMPLETED")


class AfterSalesTikTok(TikTokShopSellerEmulator):
    """The suite's buyer helpers on TikTok's emulator."""

    def request_cancellation(self, account: Mapping[str, Any], external_id: str) -> str:
        return self.aftersales.buyer_cancels(external_id)

    def request_return(self, account: Mapping[str, Any], external_id: str, amount: str) -> str:
        order = self.orders[external_id]
        if order["status"] not in SHIPPED:  # the parcel reached the buyer
            order["status"] = "DELIVERED"
            self.touch(order)
        return self.aftersales.buyer_returns(
            external_id, note="arrived broken", images=("https://img.example.com/broken.jpg",), amount=amount
        )

    def is_cancelled(self, account: Mapping[str, Any], external_id: str) -> bool:
        return bool(self.orders[external_id]["status"] == "CANCELLED")


class TestTikTokAfterSales(AfterSalesConformance):
    channel = "tiktok"
    site = "US"
    reject_reason = "Not eligible for return (e.g. used or broken)"  # one of TikTok's own

    def make_emulator(self, faults: Faults) -> AfterSalesTikTok:
        return AfterSalesTikTok(faults, carriers=("Conformance Post",))
