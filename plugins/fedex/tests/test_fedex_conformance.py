"""FedEx passes the carrier conformance suite against its emulator."""

from __future__ import annotations

from crossdock_fedex.emulator import FedExEmulator

from crossdock.testing.carriers import CarrierConformance
from crossdock.testing.emulator import Faults


class TestFedExConformance(CarrierConformance):
    carrier = "fedex"

    def make_emulator(self, faults: Faults) -> FedExEmulator:
        return FedExEmulator(faults)
