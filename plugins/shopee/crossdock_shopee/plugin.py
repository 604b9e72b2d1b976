"""Entry point of the shopee plugin: registers its marketplace provider."""

from __future__ import annotations

from crossdock import MarketplaceProvider, hookimpl
from crossdock_shopee.marketplace import ShopeeMarketplace


@hookimpl
def crossdock_marketplaces() -> list[MarketplaceProvider]:
    return [ShopeeMarketplace()]


@hookimpl
def crossdock_emulators() -> list[type]:
    from crossdock_shopee.emulator import ShopeeSellerEmulator

    return [ShopeeSellerEmulator]
