"""The Amazon Selling Partner API provider.

Source of the site table and rate limits: Amazon SP-API marketplace ids and per-operation
usage plans (../shared/marketplaces.md; SP-API docs 'Marketplace IDs' and 'Usage Plans and
Rate Limits').

The wire protocol (auth, signing, orders, fulfilment, stock and price) is not implemented
yet, so ``capabilities`` is empty and every operation raises ``crossdock.NotSupported``: the
core will not schedule a sync or a push for this channel until it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from crossdock import MarketplaceBase, RateLimit, Site
from crossdock_amazon import __version__

__all__ = ["RATE_LIMITS", "SITES", "AmazonMarketplace"]

SITES: tuple[Site, ...] = (
    Site(code="US", country="US", currency="USD", name="Amazon.com", external_id="ATVPDKIKX0DER"),
    Site(code="CA", country="CA", currency="CAD", name="Amazon.ca", external_id="A2EUQ1WTGCTBG2"),
    Site(code="MX", country="MX", currency="MXN", name="Amazon.com.mx", external_id="A1AM78C64UM0Y8"),
    Site(code="BR", country="BR", currency="BRL", name="Amazon.com.br", external_id="A2Q3Y263D00KWC"),
    Site(code="UK", country="GB", currency="GBP", name="Amazon.co.uk", external_id="A1F83G8C2ARO7P"),
    Site(code="DE", country="DE", currency="EUR", name="Amazon.de", external_id="A1PA6795UKMFR9"),
    Site(code="FR", country="FR", currency="EUR", name="Amazon.fr", external_id="A13V1IB3VIYZZH"),
    Site(code="IT", country="IT", currency="EUR", name="Amazon.it", external_id="APJ6JRA9NG5V4"),
    Site(code="ES", country="ES", currency="EUR", name="Amazon.es", external_id="A1RKKUPIHCS9HS"),
    Site(code="IN", country="IN", currency="INR", name="Amazon.in", external_id="A21TJRUUN4KGV"),
    Site(code="JP", country="JP", currency="JPY", name="Amazon.co.jp", external_id="A1VC38T7YXB528"),
    Site(code="AU", country="AU", currency="AUD", name="Amazon.com.au", external_id="A39IBJ37TRP1C6"),
    Site(code="SG", country="SG", currency="SGD", name="Amazon.sg", external_id="A19VAU5U5O7RUS"),
)

#: Documented per-operation token buckets (requests per second, burst).
RATE_LIMITS: Mapping[str, RateLimit] = {
    "getOrders_2026_01_01": RateLimit(rate=0.0056, burst=20),
    "getOrders": RateLimit(rate=0.0167, burst=20),
    "getOrderItems": RateLimit(rate=0.5, burst=30),
    "confirmShipment": RateLimit(rate=2, burst=10),
    "patchListingsItem": RateLimit(rate=5, burst=5),
}


class AmazonMarketplace(MarketplaceBase):
    name = "amazon"
    display_name = "Amazon Selling Partner API"
    version = __version__
    capabilities: frozenset[str] = frozenset()
    rate_limits = RATE_LIMITS

    def sites(self) -> Sequence[Site]:
        return SITES
