"""The shopee plugin installs through its entry point and declares what it implements."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crossdock import ChannelConnection, Money, NotSupported
from crossdock.providers import MarketplaceProvider
from crossdock.testing import load_plugins


@pytest.fixture(scope="module")
def provider() -> MarketplaceProvider:
    plugins = load_plugins(allow=["shopee"])
    assert plugins.failures == {}
    return plugins.marketplace("shopee")


def test_registered_with_its_capabilities() -> None:
    plugins = load_plugins(allow=["shopee"])
    infos = {info.name: info for info in plugins.infos}
    assert sorted(infos) == ["shopee", "shopee_logistics"]
    info = infos["shopee"]
    assert (info.name, info.kind.value, info.plugin) == ("shopee", "marketplace", "shopee")
    carrier = infos["shopee_logistics"]
    assert (carrier.kind.value, carrier.plugin) == ("carrier", "shopee")
    assert carrier.capabilities == ("carrier.labels", "carrier.tracking")
    assert plugins.carriers["shopee_logistics"].channel == "shopee"
    assert info.capabilities == (
        "ads.read",
        "cases.respond",
        "cases.sync",
        "credentials.refresh",
        "listings.categories",
        "listings.deactivate",
        "listings.publish",
        "listings.read",
        "listings.rules",
        "messages.read",
        "messages.send",
        "notifications",
        "orders.cancel",
        "orders.get",
        "orders.sync",
        "price.push",
        "shipments.confirm",
        "stock.push",
        "webhooks",
    )


def test_sites_have_real_countries_and_currencies(provider: MarketplaceProvider) -> None:
    sites = provider.sites()
    assert len({s.code for s in sites}) == len(sites) == 11
    for site in sites:
        assert len(site.country) == 2 and site.country.isupper()
        Money.of("1", site.currency)


async def test_undeclared_operations_refuse(provider: MarketplaceProvider) -> None:
    conn = ChannelConnection(id=1, tenant="t", channel="shopee", site="SG", currency="SGD", credentials={})
    with pytest.raises(NotSupported, match="shopee does not support fetch_settlements"):
        await provider.fetch_settlements(conn, updated_since=datetime.now(UTC), page_token=None)
    # Shopee documents no Open API for sessions or page views (see the README)
    today = datetime.now(UTC).date()
    with pytest.raises(NotSupported, match="shopee does not support fetch_traffic"):
        await provider.fetch_traffic(conn, day_from=today, day_to=today, page_token=None)
