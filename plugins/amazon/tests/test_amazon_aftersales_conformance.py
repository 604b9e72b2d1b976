"""Amazon passes the after-sales conformance suite: buyer cancellation requests accepted
through the order acknowledgement feed, returns read from the returns report (Amazon takes
no answer to them over its API), the seller's own cancellation, all through faults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crossdock_amazon.emulator import AmazonEmulator

from crossdock.testing.conformance import AfterSalesConformance
from crossdock.testing.emulator import Faults

OPERATIONS = (
    "searchOrders",
    "getOrder",
    "getOrders",
    "getOrderItems",
    "createFeedDocument",
    "createFeed",
    "getFeed",
    "getFeedDocument",
    "createReport",
    "getReports",
    "getReport",
    "getReportDocument",
)


class AfterSalesAmazon(AmazonEmulator):
    """The suite's buyer helpers on Amazon's emulator."""

    def request_cancellation(self, account: Mapping[str, Any], external_id: str) -> str:
        self.buyer_requests_cancel(external_id)
        return external_id  # Amazon's request has no id of its own: the case is the order's

    def request_return(self, account: Mapping[str, Any], external_id: str, amount: str) -> str:
        if self.orders[external_id]["OrderStatus"] != "Shipped":
            self.ship_order(external_id)
        return self.buyer_returns(external_id)

    def is_cancelled(self, account: Mapping[str, Any], external_id: str) -> bool:
        return bool(self.orders[external_id]["OrderStatus"] == "Canceled")


class TestAmazonAfterSales(AfterSalesConformance):
    channel = "amazon"
    site = "US"
    # a higher plan than Amazon's default (createFeed 0.0083/s), as a seller's can be, and
    # a returns report asked for on every sync
    settings = {
        "timeout": 0.5,
        "returns_report_minutes": 0,
        "cancel_wait": 5,
        "rate_limits": {op: {"rate": 500, "burst": 500} for op in OPERATIONS},
    }

    def make_emulator(self, faults: Faults) -> AfterSalesAmazon:
        return AfterSalesAmazon(faults)
