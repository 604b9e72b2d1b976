"""Amazon Buy Shipping (Merchant Fulfillment v0, tracking from Shipping API v2) passes the
carrier conformance suite against the Amazon emulator: the account is a shop's Amazon
connection, each shipment an unshipped MFN order the emulator holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from crossdock_amazon.emulator import AmazonEmulator
from crossdock_amazon.shipping_emulator import amazon_account, amazon_request

from crossdock import CarrierAccount, Parcel, ShipmentRequest, TrackingStatus
from crossdock.testing.carriers import CarrierConformance
from crossdock.testing.emulator import Faults


class TestAmazonShippingConformance(CarrierConformance):
    carrier = "amazon_shipping"
    plugins_allowed = ["amazon"]

    def make_emulator(self, faults: Faults) -> AmazonEmulator:
        return AmazonEmulator(faults)

    def account(self, emulator: Any, base_url: str) -> CarrierAccount:
        return amazon_account(emulator, base_url)

    def request(
        self, emulator: Any, account: CarrierAccount, reference: str, **changes: Any
    ) -> ShipmentRequest:
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
        # the label's own "pending" (bought now) is not part of the journey dated in the past
        scans = [e for e in events if e.status not in (TrackingStatus.PENDING, TrackingStatus.UNKNOWN)]
        assert [e.status for e in scans] == [status for status, _ in journey]
        assert scans[-1].occurred_at == start + timedelta(hours=24)
