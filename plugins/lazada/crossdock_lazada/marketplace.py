"""The Lazada Open Platform provider.

Source of the site table: Lazada Open Platform regional API hosts
(../shared/marketplaces.md); throttling is signalled by the ApiCallLimit error code, no
published table.

The wire protocol (auth, signing, orders, fulfilment, stock and price) is not implemented
yet, so ``capabilities`` is empty and every operation raises ``crossdock.NotSupported``: the
core will not schedule a sync or a push for this channel until it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from crossdock import MarketplaceBase, RateLimit, Site
from crossdock_lazada import __version__

__all__ = ["RATE_LIMITS", "SITES", "LazadaMarketplace"]

SITES: tuple[Site, ...] = (
    Site(code="SG", country="SG", currency="SGD", name="Lazada Singapore", external_id="api.lazada.sg"),
    Site(code="TH", country="TH", currency="THB", name="Lazada Thailand", external_id="api.lazada.co.th"),
    Site(code="MY", country="MY", currency="MYR", name="Lazada Malaysia", external_id="api.lazada.com.my"),
    Site(code="VN", country="VN", currency="VND", name="Lazada Vietnam", external_id="api.lazada.vn"),
    Site(code="PH", country="PH", currency="PHP", name="Lazada Philippines", external_id="api.lazada.com.ph"),
    Site(code="ID", country="ID", currency="IDR", name="Lazada Indonesia", external_id="api.lazada.co.id"),
)

#: Documented per-operation token buckets (requests per second, burst).
RATE_LIMITS: Mapping[str, RateLimit] = {}


class LazadaMarketplace(MarketplaceBase):
    name = "lazada"
    display_name = "Lazada Open Platform"
    version = __version__
    capabilities: frozenset[str] = frozenset()
    rate_limits = RATE_LIMITS

    def sites(self) -> Sequence[Site]:
        return SITES
