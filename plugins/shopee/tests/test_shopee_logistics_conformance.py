"""Shopee's own logistics pass the carrier conformance suite against the emulator: a label
is an order's package shipped on an integrated channel (pickup), its document Shopee's air
waybill. The suite's order for each reference is made on the emulator first."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from crossdock_shopee.emulator import INTEGRATED, ShopeeSellerEmulator

from crossdock import CarrierAccount, ChannelConnection, ShipmentRequest
from crossdock.testing import emulator_http
from crossdock.testing.carriers import CarrierConformance, sample_request
from crossdock.testing.emulator import Faults


class TestShopeeLogisticsConformance(CarrierConformance):
    carrier = "shopee_logistics"
    site = "SG"
    #: Shopee has no call that cancels an arranged shipment (see the README)
    voidable = False

    def make_emulator(self, faults: Faults) -> ShopeeSellerEmulator:
        return ShopeeSellerEmulator(faults)

    def account(self, emulator: Any, base_url: str) -> CarrierAccount:
        shop = emulator.open_account(self.site)
        emulator.add_product(shop, "CONF-1")
        emulator.add_product(shop, "CONF-2")
        self.shop = shop
        connection = ChannelConnection(
            id=1,
            tenant="conformance",
            channel="shopee",
            site=self.site,
            currency="SGD",
            credentials=shop,
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
            emulator.add_order(
                self.shop,
                reference,
                [("CONF-1", 2, "19.90"), ("CONF-2", 1, "20.00")],
                logistics_channel_id=INTEGRATED,
            )
        base = sample_request(reference, **changes)
        return replace(base, order_external_id=reference)

    def refused_request(self, emulator: Any, account: CarrierAccount, reference: str) -> ShipmentRequest:
        """Shopee refuses to ship an order the buyer has cancelled (``error_status``)."""
        request = self.request(emulator, account, reference)
        emulator.cancel_order(self.shop, reference)
        return request
