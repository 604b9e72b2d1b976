"""The carrier conformance suite against the Ninja Van emulator, with a domestic parcel.

The suite's sample request is SG -> DE cross-border; Ninja Van carries within its
countries, so the shipment here is Singapore to Singapore (6-digit postcode), without
customs lines (domestic orders send no items)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from crossdock_ninjavan.emulator import NinjaVanEmulator

from crossdock import Money
from crossdock.providers import Address, CarrierAccount, ShipmentRequest
from crossdock.testing.carriers import CarrierConformance, sample_request
from crossdock.testing.emulator import Faults

SG_BUYER = Address(
    name="Tan Mei Ling",
    line1="1 Tampines Central 5",
    line2="#05-12",
    city="Singapore",
    postal_code="529508",
    country="SG",
    phone="+6591234567",
    email="meiling@example.sg",
)


class TestNinjaVanConformance(CarrierConformance):
    carrier = "ninjavan"

    def make_emulator(self, faults: Faults) -> Any:
        return NinjaVanEmulator(faults)

    def request(
        self, emulator: Any, account: CarrierAccount, reference: str, **changes: Any
    ) -> ShipmentRequest:
        domestic = replace(
            sample_request(reference),
            destination=SG_BUYER,
            items=(),
            declared_value=Money(Decimal("59.80"), "SGD"),
        )
        return replace(domestic, **changes) if changes else domestic
