"""Entry point of the shopee plugin: its marketplace provider, its emulator and Shopee's own
logistics as a carrier."""

from __future__ import annotations

from crossdock import CarrierProvider, MarketplaceProvider, hookimpl
from crossdock_shopee.logistics import ShopeeLogistics
from crossdock_shopee.marketplace import ShopeeMarketplace


@hookimpl
def crossdock_marketplaces() -> list[MarketplaceProvider]:
    return [ShopeeMarketplace()]


@hookimpl
def crossdock_carriers() -> list[CarrierProvider]:
    return [ShopeeLogistics()]


@hookimpl
def crossdock_emulators() -> list[type]:
    from crossdock_shopee.emulator import ShopeeSellerEmulator

    return [ShopeeSellerEmulator]
