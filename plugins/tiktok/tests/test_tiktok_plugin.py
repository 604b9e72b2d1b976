"""The tiktok plugin installs through its entry point and declares what it implements."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crossdock import ChannelConnection, Money, NotSupported
from crossdock.providers import MarketplaceProvider
from crossdock.testing import load_plugins


@pytest.fixture(scope="module")
def provider() -> MarketplaceProvider:
    plugins = load_plugins(allow=["tiktok"])
    assert plugins.failures == {}
    return plugins.marketplace("tiktok")


def test_registered_with_its_capabilities() -> None:
    plugins = load_plugins(allow=["tiktok"])
    assert plugins.failures == {}
    info, logistics = sorted(plugins.infos, key=lambda i: i.kind.value != "marketplace")
    assert (info.name, info.kind.value, info.plugin) == ("tiktok", "marketplace", "tiktok")
    # TikTok Shipping: the marketplace's own logistics, a carrier of the same plugin
    assert (logistics.name, logistics.kind.value, logistics.plugin) == (
        "tiktok_logistics",
        "carrier",
        "tiktok",
    )
    assert logistics.capabilities == ("carrier.labels", "carrier.rates", "carrier.tracking")
    assert plugins.carriers["tiktok_logistics"].channel == "tiktok"
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
        "orders.cancel",
        "orders.get",
        "orders.sync",
        "price.push",
        "shipments.confirm",
        "stock.push",
        "traffic.read",
        "webhooks",
    )


def test_registers_its_emulator() -> None:
    from crossdock_tiktok.emulator import TikTokShopSellerEmulator

    plugins = load_plugins(allow=["tiktok"])
    assert plugins.emulators["tiktok"] is TikTokShopSellerEmulator
    assert TikTokShopSellerEmulator.default_site in {s.code for s in plugins.marketplace("tiktok").sites()}


def test_sites_have_real_countries_and_currencies(provider: MarketplaceProvider) -> None:
    sites = provider.sites()
    assert len(sites) == 8
    assert len({s.code for s in sites}) == len(sites)
    for site in sites:
        assert len(site.country) == 2 and site.country.isupper()
        Money.of("1", site.currency)  # raises on a code that is not ISO 4217
    assert {s.code: s.currency for s in sites}["VN"] == "VND"


async def test_undeclared_operations_refuse(provider: MarketplaceProvider) -> None:
    conn = ChannelConnection(id=1, tenant="t", channel="tiktok", site="US", currency="USD", credentials={})
    with pytest.raises(NotSupported, match="tiktok does not support fetch_settlements"):
        await provider.fetch_settlements(conn, updated_since=datetime.now(UTC), page_token=None)
    assert "settlements.read" not in provider.capabilities
    # after-sales is declared (tests in test_tiktok_aftersales*.py)
    assert {"orders.cancel", "cases.sync", "cases.respond"} <= set(provider.capabilities)
