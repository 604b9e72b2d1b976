"""Amazon passes the marketplace conformance suite against its emulator."""

from __future__ import annotations

from crossdock_amazon.emulator import AmazonEmulator

from crossdock.testing.conformance import MarketplaceConformance
from crossdock.testing.emulator import Faults


class TestAmazonConformance(MarketplaceConformance):
    channel = "amazon"
    site = "US"

    def make_emulator(self, faults: Faults) -> AmazonEmulator:
        return AmazonEmulator(faults)
