"""Entry point of the lazada plugin: its marketplace provider, its emulator and
Lazada's own logistics as a carrier."""

from __future__ import annotations

from crossdock import CarrierProvider, MarketplaceProvider, hookimpl
from crossdock_lazada.logistics import LazadaLogistics
from crossdock_lazada.marketplace import LazadaMarketplace


@hookimpl
def crossdock_marketplaces() -> list[MarketplaceProvider]:
    return [LazadaMarketplace()]


@hookimpl
def crossdock_carriers() -> list[CarrierProvider]:
    return [LazadaLogistics()]


@hookimpl
def crossdock_emulators() -> list[type]:
    from crossdock_lazada.emulator import LazadaSellerEmulator

    return [LazadaSellerEmulator]
