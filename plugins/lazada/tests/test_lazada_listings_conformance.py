"""Lazada passes the listings conformance suite against its emulator: categories and their
attributes, a local preview, publishing (images uploaded, then CreateProduct; UpdateProduct
in place), Lazada's refusals as problems, reading back and deactivating. Lazada shows no
other seller's offers, so ``competitors.read`` is not declared and its test skips."""

from __future__ import annotations

from crossdock_lazada.emulator import LazadaSellerEmulator

from crossdock.testing.emulator import Faults
from crossdock.testing.listings import ListingsConformance


class TestLazadaListingsConformance(ListingsConformance):
    channel = "lazada"
    site = "SG"

    def make_emulator(self, faults: Faults) -> LazadaSellerEmulator:
        return LazadaSellerEmulator(faults)
