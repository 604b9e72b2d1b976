"""TikTok Shop passes the advertising and traffic conformance suite: Product GMV Max
campaigns and their daily product rows from TikTok API for Business, visits from Shop
Analytics, through faults, read again without storing anything twice."""

from __future__ import annotations

from crossdock_tiktok.emulator import TikTokShopSellerEmulator

from crossdock.testing.conformance import AdsConformance
from crossdock.testing.emulator import Faults


class TestTikTokAds(AdsConformance):
    channel = "tiktok"
    site = "US"

    def make_emulator(self, faults: Faults) -> TikTokShopSellerEmulator:
        # TikTok reports ads and visits per product: the suite's SKUs are products of their own
        return TikTokShopSellerEmulator(faults, product_per_sku=True)
