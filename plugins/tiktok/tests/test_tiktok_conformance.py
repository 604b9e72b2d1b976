"""TikTok Shop passes the marketplace conformance suite against its emulator."""

from __future__ import annotations

from crossdock_tiktok.emulator import TikTokShopSellerEmulator

from crossdock.testing.conformance import MarketplaceConformance
from crossdock.testing.emulator import Faults


class TestTikTokShopConformance(MarketplaceConformance):
    channel = "tiktok"
    site = "US"

    def make_emulator(self, faults: Faults) -> TikTokShopSellerEmulator:
        # the suite ships with carrier "Conformance Post": the seller's shop offers it
        return TikTokShopSellerEmulator(faults, carriers=("Conformance Post",))


class TestTikTokShopConformanceMalaysia(TestTikTokShopConformance):
    """A second market: another currency, other carriers."""

    site = "MY"
