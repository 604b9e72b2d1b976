"""The lazada plugin installs through its entry point and declares what it implements."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crossdock import ChannelConnection, Money, NotSupported
from crossdock.providers import MarketplaceProvider
from crossdock.testing import load_plugins


@pytest.fixture(scope="module")
def provider() -> MarketplaceProvider:
    plugins = load_plugins(allow=["lazada"])
    assert plugins.failures == {}
    return plugins.marketplace("lazada")


def test_registered_with_its_capabilities() -> None:
    plugins = load_plugins(allow=["lazada"])
    infos = {info.name: info for info in plugins.infos}
    assert sorted(infos) == ["lazada", "lazada_logistics"]
    info = infos["lazada"]
    assert (info.name, info.kind.value, info.plugin) == ("lazada", "marketplace", "lazada")
    carrier = infos["lazada_logistics"]
    assert (carrier.kind.value, carrier.plugin) == ("carrier", "lazada")
    assert carrier.capabilities == ("carrier.labels", "carrier.tracking")
    assert plugins.carriers["lazada_logistics"].channel == "lazada"
    assert info.capabilities == (
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
        "webhooks",
    )
    assert "lazada" in plugins.emulators


def test_sites_have_real_countries_and_currencies(provider: MarketplaceProvider) -> None:
    sites = provider.sites()
    assert len(sites) == 6
    assert len({s.code for s in sites}) == len(sites)
    for site in sites:
        assert len(site.country) == 2 and site.country.isupper()
        Money.of("1", site.currency)  # raises on a code that is not ISO 4217


def test_rate_limits_cover_every_operation_it_throttles(provider: MarketplaceProvider) -> None:
    assert set(provider.rate_limits) >= {
        "GetOrders",
        "GetOrder",
        "GetOrderItems",
        "GetMultipleOrderItems",
        "Pack",
        "ReadyToShip",
        "UpdatePriceQuantity",
        "RefreshAccessToken",
        "GetSessionList",
        "GetMessages",
        "SendMessage",
        "OrderCancelValidate",
        "InitReverseOrderCancel",
        "GetReverseOrdersForSeller",
        "GetReverseOrderDetail",
        "GetReverseOrderHistoryList",
        "GetReverseOrderReasonList",
        "InitReverseOrderCancelDecide",
        "ReverseOrderReturnUpdate",
        "ReverseOrderOnlyRefundDecide",
    }
    assert all(0 < limit.rate <= 5 and limit.burst >= 1 for limit in provider.rate_limits.values())


async def test_undeclared_operations_refuse(provider: MarketplaceProvider) -> None:
    conn = ChannelConnection(id=1, tenant="t", channel="lazada", site="SG", currency="SGD", credentials={})
    with pytest.raises(NotSupported, match="lazada does not support fetch_settlements"):
        await provider.fetch_settlements(conn, updated_since=datetime.now(UTC), page_token=None)
    assert "settlements" not in provider.capabilities
