"""Shopee passes the advertising conformance suite against its emulator (``ads.read``;
Shopee documents no traffic API, so the suite's traffic test is skipped)."""

from __future__ import annotations

from crossdock_shopee.emulator import ShopeeSellerEmulator

from crossdock.testing.conformance import AdsConformance
from crossdock.testing.emulator import Faults


class TestShopeeAdsConformance(AdsConformance):
    channel = "shopee"
    site = "SG"

    def make_emulator(self, faults: Faults) -> ShopeeSellerEmulator:
        return ShopeeSellerEmulator(faults)
