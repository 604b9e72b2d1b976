"""Entry point of the tiktok plugin: registers its marketplace provider."""

from __future__ import annotations

from crossdock import MarketplaceProvider, hookimpl
from crossdock_tiktok.marketplace import TikTokShopMarketplace


@hookimpl
def crossdock_marketplaces() -> list[MarketplaceProvider]:
    return [TikTokShopMarketplace()]
