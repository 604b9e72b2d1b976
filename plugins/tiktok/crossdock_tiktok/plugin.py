"""Entry point of the tiktok plugin: registers its marketplace provider, TikTok Shipping
as a carrier, and the emulator."""

from __future__ import annotations

from crossdock import CarrierProvider, MarketplaceProvider, hookimpl
from crossdock_tiktok.logistics import TikTokLogistics
from crossdock_tiktok.marketplace import TikTokShopMarketplace


@hookimpl
def crossdock_marketplaces() -> list[MarketplaceProvider]:
    return [TikTokShopMarketplace()]


@hookimpl
def crossdock_carriers() -> list[CarrierProvider]:
    return [TikTokLogistics()]


@hookimpl
def crossdock_emulators() -> list[type]:
    from crossdock_tiktok.emulator import TikTokShopSellerEmulator

    return [TikTokShopSellerEmulator]
