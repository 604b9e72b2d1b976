"""Entry point of the tiktok plugin: registers its marketplace provider and emulator."""

from __future__ import annotations

from crossdock import MarketplaceProvider, hookimpl
from crossdock_tiktok.marketplace import TikTokShopMarketplace


@hookimpl
def crossdock_marketplaces() -> list[MarketplaceProvider]:
    return [TikTokShopMarketplace()]


@hookimpl
def crossdock_emulators() -> list[type]:
    from crossdock_tiktok.emulator import TikTokShopSellerEmulator

    return [TikTokShopSellerEmulator]
