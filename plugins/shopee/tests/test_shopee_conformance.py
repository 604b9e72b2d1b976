"""Shopee passes the marketplace conformance suite against its emulator."""

from __future__ import annotations

from crossdock_shopee.emulator import ShopeeSellerEmulator

from crossdock.testing.conformance import MarketplaceConformance
from crossdock.testing.emulator import Faults


class TestShopeeConformance(MarketplaceConformance):
    channel = "shopee"
    site = "SG"

    def make_emulator(self, faults: Faults) -> ShopeeSellerEmulator:
        return ShopeeSellerEmulator(faults)
