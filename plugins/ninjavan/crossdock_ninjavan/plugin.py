"""Entry point of the ninjavan plugin: registers its carrier and its emulator."""

from __future__ import annotations

from crossdock import CarrierProvider, hookimpl
from crossdock_ninjavan.carrier import NinjaVanCarrier


@hookimpl
def crossdock_carriers() -> list[CarrierProvider]:
    return [NinjaVanCarrier()]


@hookimpl
def crossdock_emulators() -> list[type]:
    from crossdock_ninjavan.emulator import NinjaVanEmulator

    return [NinjaVanEmulator]
