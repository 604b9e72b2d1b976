"""Amazon Buy Shipping (Merchant Fulfillment v0, tracking from Shipping API v2) passes the
carrier conformance suite against the Amazon emulator: the account is a shop's Amazon
connection, each shipment an unshipped MFN order the emulator holds."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from crossdock_amazon.emulator import AmazonEmulator

from crossdock import Address, CarrierAccount, ChannelConnection, Parcel, ShipmentRequest, TrackingStatus
from crossdock.testing import emulator_http
from crossdock.testing.carriers import CarrierConformance, sample_request
from crossdock.testing.emulator import Faults

US_SENDER = Address(
    name="Conformance Shipping",
    company="Conformance Trading LLC",
    line1="300 Turnbull Ave",
    city="Detroit",
    region="MI",
    postal_code="48123",
    country="US",
    phone="7132341234",
    email="ship@conformance.example",
)
US_BUYER = Address(
    name="Jane Doe", line1="1 Main Street", city="New York", region="NY", postal_code="10001", country="US"
)
_orders = itertools.count(1)


def amazon_account(emulator: AmazonEmulator, base_url: str, **settings: Any) -> CarrierAccount:
    """What the core hands Amazon's logistics: the shop's connection, fresh credentials."""
    creds = emulator.issue_token(emulator.open_account("US"))
    connection = ChannelConnection(
        id=1,
        tenant="conformance",
        channel="amazon",
        site="US",
        currency="USD",
        credentials=creds,
        base_url=base_url,
        settings={"timeout": 5, **settings},
        http=emulator_http(),
    )
    return CarrierAccount(
        id=1,
        tenant="conformance",
        carrier="amazon_shipping",
        credentials={},
        connection=connection,
        http=emulator_http(),
    )


def amazon_request(emulator: AmazonEmulator, account: CarrierAccount, reference: str, **changes: Any) -> ShipmentRequest:
    """An unshipped MFN order of two lines on the emulator, named by ``reference``."""
    assert account.connection is not None
    order_id = f"113-{next(_orders):07d}-{abs(hash(reference)) % 10**7:07d}"
    emulator.add_order(
        account.connection.credentials, order_id, [("CONF-1", 2, "19.90"), ("CONF-2", 1, "20.00")], buyer="Jane Doe"
    )
    emulator.name_order(reference, order_id)
    request = sample_request(
        reference,
        origin=US_SENDER,
        destination=US_BUYER,
        order_external_id=order_id,
        lines=[(f"{order_id}-1", 2), (f"{order_id}-2", 1)],
        items=(),
    )
    return replace(request, **changes) if changes else request


class TestAmazonShippingConformance(CarrierConformance):
    carrier = "amazon_shipping"
    plugins_allowed = ["amazon"]

    def make_emulator(self, faults: Faults) -> AmazonEmulator:
        return AmazonEmulator(faults)

    def account(self, emulator: Any, base_url: str) -> CarrierAccount:
        return amazon_account(emulator, base_url)

    def request(self, emulator: Any, account: CarrierAccount, reference: str, **changes: Any) -> ShipmentRequest:
        return amazon_request(emulator, account, reference, **changes)

    def refused_request(self, emulator: Any, account: CarrierAccount, reference: str) -> ShipmentRequest:
        """A 75 kg box: over every Buy Shipping service's weight limit, so Amazon offers none
        (each comes back in RejectedShippingServiceList with its reason)."""
        return self.request(
            emulator, account, reference, parcels=[Parcel(75_000, length_mm=600, width_mm=500, height_mm=500)]
        )

    async def test_tracking_is_normalised(self, provider: Any) -> None:
        """Amazon's event codes have no customs hold (shippingV2.json ``EventCode``): the
        journey here has a failed delivery attempt in its place, the rest as the suite's."""
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
        journey = [
            (TrackingStatus.PICKED_UP, None),
            (TrackingStatus.IN_TRANSIT, None),
            (TrackingStatus.DELIVERY_FAILED, None),
            (TrackingStatus.OUT_FOR_DELIVERY, None),
            (TrackingStatus.DELIVERED, None),
        ]
        async with self.served() as (self.emulator, account):
            _, label = await self._buy(provider, account, "conf-track")
            number = label.tracking_numbers[0]
            for hours, (status, reason) in enumerate(journey):
                self.emulator.scan(number, status, reason, start + timedelta(hours=6 * hours))
            results = await provider.track(account, [number])
        events = sorted(results[0].events, key=lambda e: e.occurred_at)
        assert all(e.occurred_at.utcoffset() == timedelta(0) and e.code and e.description for e in events)
        seen = [e.status for e in events if e.status not in (TrackingStatus.PENDING, TrackingStatus.UNKNOWN)]
        assert seen == [status for status, _ in journey]
        assert events[-1].occurred_at == start + timedelta(hours=24)
