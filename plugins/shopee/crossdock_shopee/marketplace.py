"""The Shopee Open Platform provider.

Source of the site table: Shopee Open Platform v2 markets (../shared/marketplaces.md);
Shopee publishes no per-call rate table.

The wire protocol (auth, signing, orders, fulfilment, stock and price) is not implemented
yet, so ``capabilities`` is empty and every operation raises ``crossdock.NotSupported``: the
core will not schedule a sync or a push for this channel until it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from crossdock import MarketplaceBase, RateLimit, Site
from crossdock_shopee import __version__

__all__ = ["RATE_LIMITS", "SITES", "ShopeeMarketplace"]

SITES: tuple[Site, ...] = (
    Site(code="SG", country="SG", currency="SGD", name="Shopee Singapore"),
    Site(code="MY", country="MY", currency="MYR", name="Shopee Malaysia"),
    Site(code="TH", country="TH", currency="THB", name="Shopee Thailand"),
    Site(code="PH", country="PH", currency="PHP", name="Shopee Philippines"),
    Site(code="VN", country="VN", currency="VND", name="Shopee Vietnam"),
    Site(code="ID", country="ID", currency="IDR", name="Shopee Indonesia"),
    Site(code="TW", country="TW", currency="TWD", name="Shopee Taiwan"),
    Site(code="BR", country="BR", currency="BRL", name="Shopee Brazil"),
    Site(code="MX", country="MX", currency="MXN", name="Shopee Mexico"),
    Site(code="CO", country="CO", currency="COP", name="Shopee Colombia"),
    Site(code="CL", country="CL", currency="CLP", name="Shopee Chile"),
)

#: Documented per-operation token buckets (requests per second, burst).
RATE_LIMITS: Mapping[str, RateLimit] = {}


class ShopeeMarketplace(MarketplaceBase):
    name = "shopee"
    display_name = "Shopee Open Platform"
    version = __version__
    capabilities: frozenset[str] = frozenset()
    rate_limits = RATE_LIMITS

    def sites(self) -> Sequence[Site]:
        return SITES
