"""Amazon passes the marketplace conformance suite against its emulator."""

from __future__ import annotations

from crossdock_amazon.emulator import AmazonEmulator

from crossdock.testing.conformance import MarketplaceConformance
from crossdock.testing.emulator import Faults


class TestAmazonConformance(MarketplaceConformance):
    channel = "amazon"
    site = "US"
    # the emulator imposes no quota; Amazon's own (getOrderItems 0.5/s) would make the
    # suite take minutes, so the connection carries a higher plan, as a seller's can
    settings = {
        "timeout": 0.5,
        "rate_limits": {op: {"rate": 500, "burst": 500} for op in ("getOrders", "getOrderItems", "getOrder")},
    }

    def make_emulator(self, faults: Faults) -> AmazonEmulator:
        return AmazonEmulator(faults)
