"""The amazon plugin installs through its entry point and declares only what it does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crossdock import ChannelConnection, Money, NotSupported
from crossdock.providers import MarketplaceProvider
from crossdock.testing import load_plugins


@pytest.fixture(scope="module")
def provider() -> MarketplaceProvider:
    plugins = load_plugins(allow=["amazon"])
    assert plugins.failures == {}
    return plugins.marketplace("amazon")


def test_registered_through_its_entry_point(provider: MarketplaceProvider) -> None:
    plugins = load_plugins(allow=["amazon"])
    assert plugins.failures == {}
    infos = {i.name: i for i in plugins.infos}
    assert sorted(infos) == ["amazon", "amazon_fba", "amazon_shipping"]
    info, logistics, fba = infos["amazon"], infos["amazon_shipping"], infos["amazon_fba"]
    assert (info.name, info.kind.value, info.plugin) == ("amazon", "marketplace", "amazon")
    # Buy Shipping: Amazon's own logistics, a carrier of the same plugin
    assert (logistics.name, logistics.kind.value, logistics.plugin) == (
        "amazon_shipping",
        "carrier",
        "amazon",
    )
    assert logistics.capabilities == ("carrier.labels", "carrier.rates", "carrier.tracking")
    assert plugins.carriers["amazon_shipping"].channel == "amazon"
    # FBA inventory: Amazon's fulfilment centres as a warehouse system reporting stock
    assert (fba.kind.value, fba.plugin, fba.capabilities) == (
        "warehouse",
        "amazon",
        ("warehouse.stock_pull",),
    )
    assert info.capabilities == (
        "ads.read",
        "cases.respond",
        "cases.sync",
        "competitors.read",
        "credentials.refresh",
        "listings.categories",
        "listings.deactivate",
        "listings.publish",
        "listings.read",
        "listings.rules",
        "notifications",
        "orders.cancel",
        "orders.get",
        "orders.sync",
        "price.push",
        "settlements.read",
        "shipments.confirm",
        "stock.push",
        "traffic.read",
    )


def test_sites_have_real_countries_and_currencies(provider: MarketplaceProvider) -> None:
    sites = provider.sites()
    assert len(sites) == 13
    assert len({s.code for s in sites}) == len(sites)
    for site in sites:
        assert len(site.country) == 2 and site.country.isupper()
        Money.of("1", site.currency)  # raises on a code that is not ISO 4217


async def test_undeclared_operations_refuse(provider: MarketplaceProvider) -> None:
    conn = ChannelConnection(id=1, tenant="t", channel="amazon", site="US", currency="USD", credentials={})
    with pytest.raises(NotSupported, match="amazon does not support fetch_messages"):
        await provider.fetch_messages(conn, updated_since=datetime.now(UTC), page_token=None)


def test_marketplace_ids_and_documented_rate_limits(provider: MarketplaceProvider) -> None:
    by_code = {s.code: s for s in provider.sites()}
    assert (by_code["DE"].external_id, by_code["DE"].currency) == ("A1PA6795UKMFR9", "EUR")
    assert (by_code["UK"].country, by_code["UK"].currency) == ("GB", "GBP")
    assert (by_code["JP"].external_id, by_code["JP"].currency) == ("A1VC38T7YXB528", "JPY")
    assert provider.rate_limits["getOrderItems"].burst == 30
    assert provider.rate_limits["confirmShipment"].rate == 2
