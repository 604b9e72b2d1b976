"""TikTok Shipping (Fulfillment 202309) passes the carrier conformance suite against the
TikTok Shop emulator: the account is a shop's TikTok connection, each shipment an order
awaiting shipment that the emulator holds."""

from __future__ import annotations

from typing import Any

import pytest
from crossdock_tiktok.emulator import TikTokShopSellerEmulator
from crossdock_tiktok.logistics_emulator import tiktok_account, tiktok_request

from crossdock import CarrierAccount, ChannelError, Parcel, ShipmentRequest
from crossdock.testing.carriers import CarrierConformance
from crossdock.testing.emulator import Faults


class TestTikTokLogisticsConformance(CarrierConformance):
    carrier = "tiktok_logistics"
    plugins_allowed = ["tiktok"]

    def make_emulator(self, faults: Faults) -> TikTokShopSellerEmulator:
        return TikTokShopSellerEmulator(faults)

    def account(self, emulator: Any, base_url: str) -> CarrierAccount:
        return tiktok_account(emulator, base_url)

    def request(
        self, emulator: Any, account: CarrierAccount, reference: str, **changes: Any
    ) -> ShipmentRequest:
        return tiktok_request(emulator, account, reference, **changes)

    def refused_request(self, emulator: Any, account: CarrierAccount, reference: str) -> ShipmentRequest:
        """A 75 kg box: no TikTok Shipping service takes it (create packages answers
        11021009 "No available shipping services for this request")."""
        return self.request(
            emulator, account, reference, parcels=[Parcel(75_000, length_mm=600, width_mm=500, height_mm=500)]
        )

    async def test_void_before_hand_over_not_after(self, provider: Any) -> None:
        """TikTok's Fulfillment API cannot cancel a bought label (the seller cancels the
        order): voiding is refused, before and after hand-over, and the label stays."""
        async with self.served() as (self.emulator, account):
            _, label = await self._buy(provider, account, "conf-void-1")
            with pytest.raises(ChannelError) as caught:
                await provider.void_label(account, label)
            assert self.emulator.labels_bought("conf-void-1") == 1
        assert caught.value.code == "REFUSED"
        assert not caught.value.retryable
