"""Entry point of the amazon plugin: registers its marketplace provider."""

from __future__ import annotations

from crossdock import MarketplaceProvider, hookimpl
from crossdock_amazon.marketplace import AmazonMarketplace


@hookimpl
def crossdock_marketplaces() -> list[MarketplaceProvider]:
    return [AmazonMarketplace()]


@hookimpl
def crossdock_emulators() -> list[type]:
    from crossdock_amazon.emulator import AmazonEmulator

    return [AmazonEmulator]
