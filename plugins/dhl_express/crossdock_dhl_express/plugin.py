"""Entry point of the dhl_express plugin: registers the carrier and its emulator."""

from __future__ import annotations

from crossdock import CarrierProvider, hookimpl
from crossdock_dhl_express.carrier import DhlExpressCarrier


@hookimpl
def crossdock_carriers() -> list[CarrierProvider]:
    return [DhlExpressCarrier()]


@hookimpl
def crossdock_emulators() -> list[type]:
    from crossdock_dhl_express.emulator import DhlExpressEmulator

    return [DhlExpressEmulator]
