"""Shopee passes the marketplace conformance suite, and the after-sales one, against its
emulator."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from crossdock_shopee.emulator import ShopeeSellerEmulator

from crossdock.testing.conformance import AfterSalesConformance, MarketplaceConformance
from crossdock.testing.emulator import Faults


class TestShopeeConformance(MarketplaceConformance):
    channel = "shopee"
    site = "SG"

    def make_emulator(self, faults: Faults) -> ShopeeSellerEmulator:
        return ShopeeSellerEmulator(faults)


class TestShopeeAfterSalesConformance(AfterSalesConformance):
    channel = "shopee"
    site = "SG"
    settings: Mapping[str, Any] = {"timeout": 0.5, "dispute_email": "ops@acme.example"}

    def make_emulator(self, faults: Faults) -> ShopeeSellerEmulator:
        # Shopee stamps changes to the second; the emulator keeps one order's changes a
        # second apart, so its clock runs behind the sync's window end, never ahead
        return ShopeeSellerEmulator(faults, clock=lambda: time.time() - 30)
