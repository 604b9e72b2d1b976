"""Lazada's own logistics pass the carrier conformance suite against the emulator: a label
is an order's units packed on Lazada's line and set ready to ship, its document Lazada's
AWB; voiding is a repack. The suite's order for each reference is made on the emulator
first; ``TestLazadaCrossBorderLogistics`` runs it again for a cross-border (NTFS) seller."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from crossdock_lazada.emulator import LazadaSellerEmulator

from crossdock import CarrierAccount, ChannelConnection, ShipmentRequest
from crossdock.testing import emulator_http
from crossdock.testing.carriers import CarrierConformance, sample_request
from crossdock.testing.emulator import Faults


class TestLazadaLogisticsConformance(CarrierConformance):
    carrier = "lazada_logistics"
    site = "SG"
    cross_border = False

    def make_emulator(self, faults: Faults) -> LazadaSellerEmulator:
        return LazadaSellerEmulator(faults)

    def account(self, emulator: Any, base_url: str) -> CarrierAccount:
        seller = emulator.add_seller(self.site, cross_border=self.cross_border)
        emulator.add_product(seller, "CONF-1")
        emulator.add_product(seller, "CONF-2")
        self.seller = seller
        connection = ChannelConnection(
            id=1,
            tenant="conformance",
            channel="lazada",
            site=self.site,
            currency="SGD",
            credentials=seller,
            base_url=base_url,
            settings=dict(self.settings),
            http=emulator_http(),
        )
        return CarrierAccount(
            id=1,
            tenant="conformance",
            carrier=self.carrier,
            credentials={},
            settings=dict(self.settings),
            connection=connection,
            http=emulator_http(),
        )

    def request(
        self, emulator: Any, account: CarrierAccount, reference: str, **changes: Any
    ) -> ShipmentRequest:
        if reference not in emulator.orders:
            emulator.add_order(self.seller, reference, [("CONF-1", 2, "19.90"), ("CONF-2", 1, "20.00")])
        return replace(sample_request(reference, **changes), order_external_id=reference)

    def refused_request(self, emulator: Any, account: CarrierAccount, reference: str) -> ShipmentRequest:
        """Lazada will not pack an order the buyer cancelled."""
        request = self.request(emulator, account, reference)
        emulator.cancel_order(self.seller, reference)
        return request


class TestLazadaCrossBorderLogistics(TestLazadaLogisticsConformance):
    cross_border = True
