"""Entry point of the fedex plugin: registers its carrier provider and its emulator."""

from __future__ import annotations

from crossdock import CarrierProvider, hookimpl
from crossdock_fedex.carrier import FedExCarrier


@hookimpl
def crossdock_carriers() -> list[CarrierProvider]:
    return [FedExCarrier()]


@hookimpl
def crossdock_emulators() -> list[type]:
    from crossdock_fedex.emulator import FedExEmulator

    return [FedExEmulator]
