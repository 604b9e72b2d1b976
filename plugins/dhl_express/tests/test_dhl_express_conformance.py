"""DHL Express passes the carrier conformance suite against its emulator."""

from __future__ import annotations

from crossdock_dhl_express.emulator import DhlExpressEmulator

from crossdock.testing.carriers import CarrierConformance
from crossdock.testing.emulator import Faults


class TestDhlExpressConformance(CarrierConformance):
    carrier = "dhl_express"

    def make_emulator(self, faults: Faults) -> DhlExpressEmulator:
        return DhlExpressEmulator(faults)
