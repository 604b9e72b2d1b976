"""Entry point of the lazada plugin: registers its marketplace provider and emulator."""

from __future__ import annotations

from crossdock import MarketplaceProvider, hookimpl
from crossdock_lazada.marketplace import LazadaMarketplace


@hookimpl
def crossdock_marketplaces() -> list[MarketplaceProvider]:
    return [LazadaMarketplace()]


@hookimpl
def crossdock_emulators() -> list[type]:
    from crossdock_lazada.emulator import LazadaSellerEmulator

    return [LazadaSellerEmulator]
