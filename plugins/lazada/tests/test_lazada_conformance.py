"""Lazada passes the marketplace conformance suite against its emulator."""

from __future__ import annotations

from crossdock_lazada.emulator import LazadaSellerEmulator

from crossdock.testing.conformance import MarketplaceConformance
from crossdock.testing.emulator import Faults


class TestLazadaConformance(MarketplaceConformance):
    channel = "lazada"
    site = "SG"

    def make_emulator(self, faults: Faults) -> LazadaSellerEmulator:
        return LazadaSellerEmulator(faults)
