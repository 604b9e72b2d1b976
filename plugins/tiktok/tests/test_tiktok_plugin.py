"""The tiktok plugin installs through its entry point and declares only what it does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crossdock import ChannelConnection, Money, NotSupported, StockUpdate
from crossdock.plugins import load_plugins


@pytest.fixture(scope="module")
def provider():
    plugins = load_plugins(allow=["tiktok"])
    assert plugins.failures == {}
    return plugins.marketplace("tiktok")


def test_registered_through_its_entry_point(provider) -> None:
    plugins = load_plugins(allow=["tiktok"])
    [info] = plugins.infos
    assert (info.name, info.kind.value, info.plugin) == ("tiktok", "marketplace", "tiktok")
    assert info.capabilities == ()  # nothing of the protocol is implemented yet


def test_sites_have_real_countries_and_currencies(provider) -> None:
    sites = provider.sites()
    assert len(sites) == 8
    assert len({s.code for s in sites}) == len(sites)
    for site in sites:
        assert len(site.country) == 2 and site.country.isupper()
        Money.of("1", site.currency)  # raises on a code that is not ISO 4217


async def test_undeclared_operations_refuse(provider) -> None:
    site = provider.sites()[0]
    conn = ChannelConnection(
        id=1, tenant="t", channel="tiktok", site=site.code, currency=site.currency, credentials={}
    )
    with pytest.raises(NotSupported, match="tiktok does not support fetch_orders"):
        await provider.fetch_orders(conn, updated_since=datetime.now(UTC), page_token=None)
    with pytest.raises(NotSupported):
        await provider.push_stock(conn, [StockUpdate(channel_sku="X", quantity=1)])
