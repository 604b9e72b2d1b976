"""TikTok Shop listing content (Products API 202309) passes the listings conformance suite
against its emulator: categories, category rules, listing check, create and edit in place,
read back, deactivate. Competitors' offers are not in TikTok's Partner API (the plugin
does not declare COMPETITORS_READ, so that test skips)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crossdock_tiktok.emulator import TikTokShopSellerEmulator

from crossdock.testing.emulator import Faults
from crossdock.testing.listings import ListingsConformance


class TestTikTokShopListings(ListingsConformance):
    channel = "tiktok"
    site = "US"
    #: Create Product requires the package weight, which a Crossdock draft does not carry
    settings: Mapping[str, Any] = {"timeout": 2.0, "package_weight": {"value": "0.6", "unit": "KILOGRAM"}}

    def make_emulator(self, faults: Faults) -> TikTokShopSellerEmulator:
        return TikTokShopSellerEmulator(faults)


class TestTikTokShopListingsMalaysia(TestTikTokShopListings):
    """Another market: category tree v1, titles of 25 to 255 characters, ringgit."""

    site = "MY"
