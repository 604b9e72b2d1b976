"""Lazada passes the after-sales conformance suite: buyers' cancellation requests and
returns as reverse orders, answered on Lazada, and the seller's own cancellation, through
faults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crossdock_lazada.emulator import LazadaSellerEmulator

from crossdock.testing.conformance import AfterSalesConformance
from crossdock.testing.emulator import Faults


class AfterSalesLazada(LazadaSellerEmulator):
    """The suite's buyer helpers on Lazada's emulator."""

    def request_cancellation(self, account: Mapping[str, Any], external_id: str) -> str:
        return self.reverse.buyer_cancels(external_id)

    def request_return(self, account: Mapping[str, Any], external_id: str, amount: str) -> str:
        for item in self.orders[external_id]["_items"]:  # the parcel reached the buyer
            item["status"] = "delivered"
        return self.reverse.buyer_returns(
            external_id, photos=("https://img.example.com/damaged.jpg",), refund=amount
        )

    def is_cancelled(self, account: Mapping[str, Any], external_id: str) -> bool:
        return all(item["status"] == "canceled" for item in self.orders[external_id]["_items"])


class TestLazadaAfterSales(AfterSalesConformance):
    channel = "lazada"
    site = "SG"

    def make_emulator(self, faults: Faults) -> AfterSalesLazada:
        return AfterSalesLazada(faults)
