"""TikTok Shipping (Fulfillment 202309) passes the carrier conformance suite against the
TikTok Shop emulator: the account is a shop's TikTok connection, each shipment an order
awaiting shipment that the emulator holds."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from crossdock_tiktok.emulator import REGIONS, TikTokShopSellerEmulator

from crossdock import Address, CarrierAccount, ChannelConnection, ChannelError, Parcel, ShipmentRequest
from crossdock.testing import emulator_http
from crossdock.testing.carriers import CarrierConformance, sample_request
from crossdock.testing.emulator import Faults

US_SENDER = Address(
    name="Conformance Shipping",
    company="Conformance Trading LLC",
    line1="5800 Bristol Pkwy",
    city="Culver City",
    region="CA",
    postal_code="90230",
    country="US",
    phone="+13105550100",
    email="ship@conformance.example",
)
US_BUYER = Address(
    name="Alex Buyer",
    line1="1 Market Street",
    city="Los Angeles",
    region="CA",
    postal_code="90001",
    country="US",
)


def tiktok_account(
    emulator: TikTokShopSellerEmulator, base_url: str, site: str = "US", **settings: Any
) -> CarrierAccount:
    """What the core hands TikTok Shipping: the shop's connection, its credentials fresh."""
    connection = ChannelConnection(
        id=1,
        tenant="conformance",
        channel="tiktok",
        site=site,
        currency=REGIONS[site].currency,
        credentials=emulator.open_account(site),
        base_url=base_url,
        settings={"timeout": 5, **settings},
        http=emulator_http(),
    )
    return CarrierAccount(
        id=1,
        tenant="conformance",
        carrier="tiktok_logistics",
        credentials={},
        connection=connection,
        http=emulator_http(),
    )


def tiktok_request(
    emulator: TikTokShopSellerEmulator, account: CarrierAccount, reference: str, **changes: Any
) -> ShipmentRequest:
    """An order awaiting shipment (two SKUs, three units), named by ``reference``."""
    assert account.connection is not None
    order_id = emulator._next_id(5780)
    order = emulator.add_order(
        account.connection.credentials, order_id, [("CONF-1", 2, "19.90"), ("CONF-2", 1, "20.00")]
    )
    emulator.name_order(reference, order_id)
    firsts: dict[str, str] = {}
    for unit in order["line_items"]:
        firsts.setdefault(unit["seller_sku"], unit["id"])
    request = sample_request(
        reference,
        origin=US_SENDER,
        destination=US_BUYER,
        order_external_id=order_id,
        lines=[(firsts["CONF-1"], 2), (firsts["CONF-2"], 1)],
        items=(),
    )
    return replace(request, **changes) if changes else request


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
