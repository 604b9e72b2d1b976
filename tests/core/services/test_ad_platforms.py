"""A standalone ad platform (``crossdock_ad_platforms``): connected as a shop, its report
read by ``sync_ads`` through a report that takes a poll to build, its spend counted in
the SKUs' profit; a permanent refusal of the report stays on the report."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select, update

from crossdock import (
    AdCampaign,
    AdLevel,
    AdMetric,
    AdReportPage,
    AdState,
    AdType,
    ChannelError,
    MarketplaceBase,
    Money,
    hookimpl,
)
from crossdock.db.models import AnalyticsSkuDaily, Connection, ConnectionStatus, Tenant
from crossdock.jobs import JOBS
from crossdock.services import connections
from crossdock.testing import load_plugins
from crossdock.testing.shop import sync_to_the_end


class CornerAds(MarketplaceBase):
    """A third party's ad platform: its report is built on request and ready on the next
    poll, as asynchronous reporting APIs are."""

    name = "cornerads"
    version = "1.0.0"
    capabilities = frozenset({"ads.read"})

    def __init__(self) -> None:
        self.rows: list[AdMetric] = []
        self.polls: list[str | None] = []
        self.refuse: ChannelError | None = None

    async def fetch_ads(
        self, conn: Any, *, day_from: date, day_to: date, page_token: str | None
    ) -> AdReportPage:
        self.polls.append(page_token)
        if self.refuse is not None:
            raise self.refuse
        if page_token is None:
            return AdReportPage(ready=False, retry_after=5, next_page_token="report-1")
        campaign = AdCampaign("C-1", "Search: mugs", AdType.SEARCH, AdState.ENABLED, Money.of("10.00", "SGD"))
        return AdReportPage(
            metrics=[m for m in self.rows if day_from <= m.day <= day_to], campaigns=[campaign]
        )


class Plugin:
    def __init__(self) -> None:
        self.ads = CornerAds()

    @hookimpl
    def crossdock_ad_platforms(self) -> list[CornerAds]:
        return [self.ads]


PLUGIN = Plugin()


@pytest.fixture
def extra_plugins(testmarket: Any) -> list[tuple[str, object]]:
    return [("testmarket", testmarket), ("cornerads", PLUGIN)]


async def test_an_ad_platforms_spend_counts_in_the_skus_profit(app: Any, shop: Any) -> None:
    PLUGIN.ads.rows = [
        AdMetric(
            AdLevel.PRODUCT,
            datetime.now(UTC).date(),
            "C-1",
            impressions=900,
            clicks=30,
            spend=Money.of("7.20", "SGD"),
            orders=2,
            sales=Money.of("40.00", "SGD"),
            sku="SKU-1",
        )
    ]
    PLUGIN.ads.polls.clear()
    async with app.db.write(system=True) as session:
        await session.execute(
            update(Tenant).where(Tenant.id == shop.tenant.id).values(settings={"reporting_currency": "SGD"})
        )
    async with shop.write() as session:
        conn = await connections.create_connection(
            session,
            app.plugins,
            app.vault,
            channel="cornerads",
            name="ads",
            site="SG",
            currency="SGD",
            credentials={"k": "x"},
        )
    # the first run asks for the report and leaves it building; the next one reads it
    first = await JOBS["sync_ads"](app.job_context(), tenant_id=shop.tenant.id, connection_id=conn.id)
    assert first["pending"] == 1
    await sync_to_the_end(app, shop.tenant.id, conn.id, resource="ads")
    assert PLUGIN.ads.polls[:2] == [None, "report-1"]
    async with shop.read() as session:
        rows = (
            await session.scalars(select(AnalyticsSkuDaily).where(AnalyticsSkuDaily.sku == "SKU-1"))
        ).all()
    assert [(r.connection_id, r.ad_spend, r.ad_sales, r.ad_clicks) for r in rows] == [
        (conn.id, Money.of("7.20", "SGD").amount, Money.of("40.00", "SGD").amount, 30)
    ]


async def test_a_refused_report_leaves_the_connection_working(app: Any, shop: Any) -> None:
    async with shop.write() as session:
        conn = await connections.create_connection(
            session,
            app.plugins,
            app.vault,
            channel="cornerads",
            name="ads2",
            site="SG",
            currency="SGD",
            credentials={"k": "x"},
        )
    PLUGIN.ads.refuse = ChannelError("no advertising permission", code="AUTH_NO_PERMISSION", retryable=False)
    try:
        result = await JOBS["sync_ads"](app.job_context(), tenant_id=shop.tenant.id, connection_id=conn.id)
    finally:
        PLUGIN.ads.refuse = None
    assert result == {"failed": 1}
    async with shop.read() as session:
        row = await session.scalar(select(Connection).where(Connection.id == conn.id))
    assert row is not None
    assert row.status == ConnectionStatus.ACTIVE
    assert row.sync_state["ads"]["error"].startswith("AUTH_NO_PERMISSION")


def test_an_ad_platform_declaring_more_than_ads_is_refused() -> None:
    class Greedy(CornerAds):
        name = "greedy"
        capabilities = frozenset({"ads.read", "orders.sync"})

        async def fetch_orders(self, conn: Any, *, updated_since: Any, page_token: Any) -> Any:
            raise AssertionError

    class GreedyPlugin:
        @hookimpl
        def crossdock_ad_platforms(self) -> list[CornerAds]:
            return [Greedy()]

    plugins = load_plugins(allow=[], extra=[("greedy", GreedyPlugin())])
    assert "greedy" in plugins.failures
    assert "orders.sync" in plugins.failures["greedy"]
    assert "greedy" not in plugins.marketplaces
