"""The TikTok Shop provider.

Source of the site table: TikTok Shop Partner API (202309+) markets
(../shared/marketplaces.md); no published per-call rate table.

The wire protocol (auth, signing, orders, fulfilment, stock and price) is not implemented
yet, so ``capabilities`` is empty and every operation raises ``crossdock.NotSupported``: the
core will not schedule a sync or a push for this channel until it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from crossdock import MarketplaceBase, RateLimit, Site
from crossdock_tiktok import __version__

__all__ = ["RATE_LIMITS", "SITES", "TikTokShopMarketplace"]

SITES: tuple[Site, ...] = (
    Site(code="US", country="US", currency="USD", name="TikTok Shop US"),
    Site(code="GB", country="GB", currency="GBP", name="TikTok Shop UK"),
    Site(code="ID", country="ID", currency="IDR", name="TikTok Shop Indonesia"),
    Site(code="MY", country="MY", currency="MYR", name="TikTok Shop Malaysia"),
    Site(code="PH", country="PH", currency="PHP", name="TikTok Shop Philippines"),
    Site(code="SG", country="SG", currency="SGD", name="TikTok Shop Singapore"),
    Site(code="TH", country="TH", currency="THB", name="TikTok Shop Thailand"),
    Site(code="VN", country="VN", currency="VND", name="TikTok Shop Vietnam"),
)

#: Documented per-operation token buckets (requests per second, burst).
RATE_LIMITS: Mapping[str, RateLimit] = {}


class TikTokShopMarketplace(MarketplaceBase):
    name = "tiktok"
    display_name = "TikTok Shop"
    version = __version__
    capabilities: frozenset[str] = frozenset()
    rate_limits = RATE_LIMITS

    def sites(self) -> Sequence[Site]:
        return SITES
