"""Advertising (GMV Max, TikTok API for Business) and traffic (Shop Analytics) against the
emulator: what a seller sees per SKU and day, the pages, the refusals and the error mapping."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from crossdock_tiktok import ads
from crossdock_tiktok.emulator import REGIONS, TikTokShopSellerEmulator
from crossdock_tiktok.marketplace import RATE_LIMITS, TikTokShopMarketplace

from crossdock import (
    AdLevel,
    AdMetric,
    AdReportPage,
    AdState,
    AdType,
    ChannelConnection,
    ChannelError,
    Money,
    TrafficMetric,
)
from crossdock.testing import emulator_http
from crossdock.testing.emulator import Faults, serve

TODAY = datetime.now(UTC).date()
DAYS = [TODAY - timedelta(days=n) for n in (2, 1, 0)]
REPORT = "/open_api/v1.3/gmv_max/report/get/"


@pytest.fixture
async def emulator() -> Any:
    emu = TikTokShopSellerEmulator(product_per_sku=True)
    async with serve(emu) as base:
        emu.base = base  # type: ignore[attr-defined]
        yield emu


def _conn(emu: Any, creds: Any, site: str = "US", **settings: Any) -> ChannelConnection:
    return ChannelConnection(
        id=1,
        tenant="t",
        channel="tiktok",
        site=site,
        currency=REGIONS[site].currency,
        credentials=dict(creds),
        base_url=emu.base,
        settings=settings,
        http=emulator_http(),
    )


async def _all_ads(
    provider: TikTokShopMarketplace, conn: ChannelConnection, first: date, last: date, *, retry: bool = False
) -> tuple[list[AdReportPage], list[AdMetric]]:
    """Every page, as the core asks for them (again after a retryable error when ``retry``)."""
    pages: list[AdReportPage] = []
    token: str | None = None
    for _ in range(500):
        try:
            page = await provider.fetch_ads(conn, day_from=first, day_to=last, page_token=token)
        except ChannelError as exc:
            if retry and exc.retryable:
                continue
            raise
        assert page.ready  # GMV Max reports are synchronous
        pages.append(page)
        token = page.next_page_token
        if token is None:
            return pages, [m for p in pages for m in p.metrics]
    raise AssertionError("the report never ended")


def _rows(metrics: Sequence[AdMetric], level: AdLevel) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    found: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for m in metrics:
        if m.level is level:
            key = (m.day, m.sku if level is AdLevel.PRODUCT else m.campaign_id)
            assert key not in found, f"{key} reported twice"
            found[key] = (m.impressions, m.clicks, m.spend, m.orders, m.sales)
    return found


def _usd(amount: str) -> Money:
    return Money(Decimal(amount), "USD")


def _activity(emu: Any, creds: Any) -> dict[str, str]:
    campaigns = {}
    for n, day in enumerate(DAYS):
        campaigns["MUG"] = emu.add_ad_activity(
            creds, day=day, sku="MUG", impressions=100 + n, clicks=5, spend="1.25", orders=1, sales="9.90"
        )
        campaigns["CAP"] = emu.add_ad_activity(
            creds, day=day, sku="CAP", impressions=40, clicks=2 + n, spend="0.75", orders=0, sales="0"
        )
    # a second burst of the same day adds to it
    emu.add_ad_activity(
        creds, day=TODAY, sku="MUG", impressions=10, clicks=1, spend="0.25", orders=1, sales="5.00"
    )
    return campaigns


async def test_campaigns_and_daily_rows_per_sku(emulator: Any) -> None:
    creds = emulator.open_account("US")
    for sku in ("MUG", "CAP", "HAT"):
        emulator.add_product(creds, sku)
    campaigns = _activity(emulator, creds)
    pages, metrics = await _all_ads(
        TikTokShopMarketplace(), _conn(emulator, creds), DAYS[0] - timedelta(days=11), TODAY
    )
    listed = {c.external_id: c for p in pages for c in p.campaigns}
    assert set(listed) == set(campaigns.values())
    mug = listed[campaigns["MUG"]]
    assert (mug.name, mug.ad_type, mug.state) == ("GMV Max MUG", AdType.SPONSORED_PRODUCTS, AdState.ENABLED)
    assert mug.daily_budget is not None and mug.daily_budget.currency == "USD" and mug.daily_budget.amount > 0
    assert mug.starts_on == TODAY and mug.ends_on is None
    products = _rows(metrics, AdLevel.PRODUCT)
    assert products[(DAYS[0], "MUG")] == (100, 5, _usd("1.25"), 1, _usd("9.90"))
    assert products[(TODAY, "MUG")] == (112, 6, _usd("1.50"), 2, _usd("14.90"))
    assert products[(DAYS[1], "CAP")] == (40, 3, _usd("0.75"), 0, _usd("0"))
    assert len(products) == 6  # HAT was not advertised
    # a campaign's day is the sum of its products' rows (one product per campaign here)
    by_campaign = _rows(metrics, AdLevel.CAMPAIGN)
    assert by_campaign[(TODAY, campaigns["MUG"])] == products[(TODAY, "MUG")]
    assert all(m.ad_group_id for m in metrics if m.level is AdLevel.PRODUCT)  # the product (SPU) id
    # the ad account's own header and the report endpoint were used
    assert emulator.requests[REPORT] >= 3


async def test_a_product_of_several_skus_is_reported_as_the_product() -> None:
    emu = TikTokShopSellerEmulator()  # one product holding every SKU
    async with serve(emu) as base:
        emu.base = base  # type: ignore[attr-defined]
        creds = emu.open_account("US")
        emu.add_product(creds, "MUG")
        emu.add_product(creds, "CAP")
        _activity(emu, creds)
        _, metrics = await _all_ads(TikTokShopMarketplace(), _conn(emu, creds), DAYS[0], TODAY)
    rows = [m for m in metrics if m.level is AdLevel.PRODUCT and m.day == TODAY]
    # TikTok reports the product (SPU), not its variants: no SKU can be named
    assert [(m.sku, m.impressions, m.spend) for m in rows] == [(None, 152, _usd("2.25"))]


async def test_a_revision_shows_in_the_next_report(emulator: Any) -> None:
    creds = emulator.open_account("US")
    emulator.add_product(creds, "MUG")
    emulator.add_product(creds, "CAP")
    _activity(emulator, creds)
    provider, conn = TikTokShopMarketplace(), _conn(emulator, creds)
    emulator.revise_ad_activity(creds, day=DAYS[0], sku="MUG", orders=3, sales="29.70")
    _, metrics = await _all_ads(provider, conn, DAYS[0], TODAY)
    assert _rows(metrics, AdLevel.PRODUCT)[(DAYS[0], "MUG")][3:] == (3, _usd("29.70"))


async def test_paused_and_deleted_campaigns(emulator: Any) -> None:
    creds = emulator.open_account("US")
    emulator.add_product(creds, "MUG")
    emulator.add_product(creds, "CAP")
    campaigns = _activity(emulator, creds)
    emulator.ads.pause(creds, campaigns["MUG"])
    emulator.ads.pause(creds, campaigns["CAP"], deleted=True)
    pages, metrics = await _all_ads(TikTokShopMarketplace(), _conn(emulator, creds), DAYS[0], TODAY)
    states = {c.external_id: c.state for p in pages for c in p.campaigns}
    # a deleted campaign is no longer listed, but its days are still reported
    assert states == {campaigns["MUG"]: AdState.PAUSED, campaigns["CAP"]: AdState.ENDED}
    assert (TODAY, "CAP") in _rows(metrics, AdLevel.PRODUCT)


async def test_a_long_window_is_read_in_reports_of_30_days(emulator: Any) -> None:
    creds = emulator.open_account("US")
    emulator.add_product(creds, "MUG")
    old = TODAY - timedelta(days=40)
    emulator.add_ad_activity(
        creds, day=old, sku="MUG", impressions=9, clicks=1, spend="0.10", orders=0, sales="0"
    )
    emulator.add_ad_activity(
        creds, day=TODAY, sku="MUG", impressions=7, clicks=1, spend="0.20", orders=0, sales="0"
    )
    pages, metrics = await _all_ads(
        TikTokShopMarketplace(), _conn(emulator, creds), TODAY - timedelta(days=44), TODAY
    )
    assert len(pages) == 3  # the campaigns, then two windows
    assert {m.day for m in metrics if m.level is AdLevel.PRODUCT} == {old, TODAY}


async def test_a_connection_without_an_ad_account_has_no_ads(emulator: Any) -> None:
    creds = emulator.open_account("US")
    emulator.add_product(creds, "MUG")
    no_ads = {k: v for k, v in creds.items() if k not in ("advertiser_id", "ads_access_token")}
    page = await TikTokShopMarketplace().fetch_ads(
        _conn(emulator, no_ads), day_from=DAYS[0], day_to=TODAY, page_token=None
    )
    assert page == AdReportPage()
    assert not any(path.startswith("/open_api/") for path in emulator.requests)


async def test_the_shop_among_several_stores(emulator: Any) -> None:
    creds = emulator.open_account("US")
    other = emulator.open_account("US")
    emulator.add_product(creds, "MUG")
    campaign = emulator.add_ad_activity(
        creds, day=TODAY, sku="MUG", impressions=1, clicks=1, spend="0.10", orders=0, sales="0"
    )
    shop = emulator.shop_of(creds)
    advertiser = emulator.ads.advertiser_of(shop)
    advertiser.stores.append(emulator.shop_of(other).shop_id)  # the ad account reaches two shops
    provider = TikTokShopMarketplace()
    with pytest.raises(ChannelError) as excinfo:
        await provider.fetch_ads(_conn(emulator, creds), day_from=TODAY, day_to=TODAY, page_token=None)
    assert (excinfo.value.code, excinfo.value.retryable) == ("ADS_STORE", False)
    pages, _ = await _all_ads(provider, _conn(emulator, {**creds, "shop_id": shop.shop_id}), TODAY, TODAY)
    assert [c.external_id for p in pages for c in p.campaigns] == [campaign]


async def test_the_whole_report_arrives_through_faults() -> None:
    emu = TikTokShopSellerEmulator(Faults.failing(0.25, seed=3), product_per_sku=True)
    async with serve(emu) as base:
        emu.base = base  # type: ignore[attr-defined]
        creds = emu.open_account("US")
        for sku in ("MUG", "CAP"):
            emu.add_product(creds, sku)
        _activity(emu, creds)
        _, metrics = await _all_ads(TikTokShopMarketplace(), _conn(emu, creds), DAYS[0], TODAY, retry=True)
        assert sum(emu.injected.values()) > 0
    assert _rows(metrics, AdLevel.PRODUCT)[(TODAY, "MUG")] == (112, 6, _usd("1.50"), 2, _usd("14.90"))


# --------------------------------------------------------------------------- the wire


def _client(emu: Any, creds: Any, token: str | None = None) -> ads.AdsClient:
    client = ads.ads_client(
        _conn(emu, {**creds, **({"ads_access_token": token} if token is not None else {})})
    )
    assert client is not None
    return client


def _query(creds: Any, **override: Any) -> dict[str, Any]:
    query: dict[str, Any] = {
        "advertiser_id": creds["advertiser_id"],
        "store_ids": [creds["store"]],
        "start_date": DAYS[0].isoformat(),
        "end_date": TODAY.isoformat(),
        "dimensions": ["campaign_id", "stat_time_day"],
        "metrics": ["cost", "orders", "gross_revenue"],
        "filtering": {"gmv_max_promotion_types": ["PRODUCT"]},
        "page_size": 1000,
    }
    query.update(override)
    return {k: v for k, v in query.items() if v is not None}


async def _refused(client: ads.AdsClient, path: str, query: dict[str, Any]) -> str:
    with pytest.raises(ChannelError) as excinfo:
        await client.get(path, "ads.report", query)
    assert not excinfo.value.retryable
    return excinfo.value.code or ""


async def test_the_emulator_refuses_what_the_reference_refuses(emulator: Any) -> None:
    creds = dict(emulator.open_account("US"))
    emulator.add_product(creds, "MUG")
    emulator.add_ad_activity(
        creds, day=TODAY, sku="MUG", impressions=1, clicks=1, spend="0.10", orders=0, sales="0"
    )
    other = emulator.open_account("US")
    creds["store"] = emulator.shop_of(creds).shop_id
    client = _client(emulator, creds)
    campaign = next(iter(emulator.ads.advertiser_of(emulator.shop_of(creds)).campaigns))
    assert (await client.get(REPORT, "ads.report", _query(creds)))["page_info"]["total_number"] == 1
    cases: list[tuple[ads.AdsClient, dict[str, Any], str]] = [
        (_client(emulator, creds, token="not-a-token"), _query(creds), "40105"),
        (client, _query(creds, advertiser_id=other["advertiser_id"]), "40001"),  # another's ad account
        (client, _query(creds, advertiser_id=None), "40002"),
        (client, _query(creds, store_ids=[emulator.shop_of(other).shop_id]), "40002"),
        (client, _query(creds, store_ids=[creds["store"], creds["store"]]), "40002"),  # one store only
        (client, _query(creds, start_date="2026/01/01"), "40002"),
        (client, _query(creds, start_date=TODAY.isoformat(), end_date=DAYS[0].isoformat()), "40002"),
        (client, _query(creds, start_date=(TODAY - timedelta(days=30)).isoformat()), "40002"),  # 31 days
        (client, _query(creds, dimensions=["campaign_id", "stat_time_hour"]), "40002"),  # hours: one day
        (client, _query(creds, dimensions=["campaign_id", "advertiser_id"]), "40002"),  # no such grouping
        (client, _query(creds, dimensions=["campaign_id", "sku_id"]), "40002"),
        (client, _query(creds, metrics=["product_impressions"]), "40002"),  # a creative metric
        (client, _query(creds, filtering={}), "40002"),  # campaign level needs the promotion type
        (client, _query(creds, filtering={"gmv_max_promotion_types": ["SHOP"]}), "40002"),
        (
            client,
            _query(creds, filtering={"gmv_max_promotion_types": ["PRODUCT"], "colour": ["red"]}),
            "40002",
        ),
        (
            client,
            _query(creds, dimensions=["campaign_id", "item_group_id", "stat_time_day"], filtering={}),
            "40002",
        ),
        (
            client,
            _query(
                creds,
                dimensions=["campaign_id", "item_group_id", "stat_time_day"],
                metrics=["product_name", "cost"],  # attribute metrics with several ID dimensions
                filtering={"campaign_ids": [campaign]},
            ),
            "40002",
        ),
        (
            client,
            _query(
                creds,
                dimensions=["campaign_id", "item_group_id", "item_id", "stat_time_day"],
                metrics=["product_impressions"],
                filtering={"campaign_ids": [campaign]},  # item_group_ids is required too
            ),
            "40002",
        ),
        (
            client,
            _query(creds, filtering={"gmv_max_promotion_types": ["PRODUCT"], "campaign_ids": ["1"] * 101}),
            "40002",
        ),
        (client, _query(creds, page_size=1001), "40002"),
    ]
    for each, query, code in cases:
        assert await _refused(each, REPORT, query) == code, query
    unsigned = ads.AdsClient(
        "", base_url=emulator.base, http=_conn(emulator, creds).http_client(), throttle=_pass
    )
    assert await _refused(unsigned, REPORT, _query(creds)) == "40104"
    campaigns = "/open_api/v1.3/gmv_max/campaign/get/"
    assert await _refused(client, campaigns, {"advertiser_id": creds["advertiser_id"]}) == "40002"
    assert (
        await _refused(
            client,
            campaigns,
            {
                "advertiser_id": creds["advertiser_id"],
                "filtering": {"gmv_max_promotion_types": ["PRODUCT_GMV_MAX"]},
                "page_size": 101,
            },
        )
        == "40002"
    )
    info = "/open_api/v1.3/campaign/gmv_max/info/"
    assert (
        await _refused(client, info, {"advertiser_id": creds["advertiser_id"], "campaign_id": "404"})
        == "40007"
    )


async def _pass(operation: str) -> None:
    return None


async def test_errors_are_mapped_to_typed_codes(emulator: Any) -> None:
    creds = dict(emulator.open_account("US"))
    emulator.add_product(creds, "MUG")
    creds["store"] = emulator.shop_of(creds).shop_id
    client = _client(emulator, creds)
    expected = {
        40100: ("THROTTLED", True),  # too many requests: retried after a pause
        50000: ("TRY_AGAIN", True),  # TikTok's system errors
        51010: ("TRY_AGAIN", True),
        40102: ("40102", False),  # an expired advertiser token: the seller authorizes again
        40002: ("40002", False),
    }
    for code, (mapped, retryable) in expected.items():
        emulator.script(REPORT, code)
        with pytest.raises(ChannelError) as excinfo:
            await client.get(REPORT, "ads.report", _query(creds))
        assert (excinfo.value.code, excinfo.value.retryable) == (mapped, retryable), code
        if mapped == "THROTTLED":
            assert excinfo.value.retry_after == ads.THROTTLE_WAIT
    emulator.script(REPORT, 40100, status=429)
    with pytest.raises(ChannelError) as excinfo:
        await client.get(REPORT, "ads.report", _query(creds))
    assert excinfo.value.code == "THROTTLED"
    # the kit's faults answer in API for Business's own envelope
    faulty = TikTokShopSellerEmulator(Faults(throttle=1.0, retry_after=3))
    async with serve(faulty) as base:
        faulty.base = base  # type: ignore[attr-defined]
        account = dict(faulty.open_account("US"))
        account["store"] = faulty.shop_of(account).shop_id
        with pytest.raises(ChannelError) as excinfo:
            await _client(faulty, account).get(REPORT, "ads.report", _query(account))
        assert (excinfo.value.code, excinfo.value.retry_after) == ("THROTTLED", 3.0)
    assert {op for op in ads.ADS_OPERATIONS} <= set(RATE_LIMITS)


# --------------------------------------------------------------------------- traffic


async def test_daily_visits_per_sku_and_for_the_shop(emulator: Any) -> None:
    creds = emulator.open_account("US")
    for sku in ("MUG", "CAP"):
        emulator.add_product(creds, sku)
    for n, day in enumerate(DAYS):
        emulator.add_traffic(creds, day=day, sku="MUG", sessions=10 + n, page_views=20 + n)
        emulator.add_traffic(creds, day=day, sku="CAP", sessions=3, page_views=4)
    emulator.add_traffic(creds, day=TODAY, sku="MUG", sessions=1, page_views=1)
    emulator.add_order(creds, "T-1", [("MUG", 2, "9.90")])
    rows = await _all_traffic(TikTokShopMarketplace(), _conn(emulator, creds), DAYS[0], TODAY)
    by = {(m.day, m.sku): m for m in rows}
    assert len(by) == len(rows)  # one row per day and SKU
    assert (by[(DAYS[0], "MUG")].sessions, by[(DAYS[0], "MUG")].page_views) == (10, 20)
    assert (by[(TODAY, "MUG")].sessions, by[(TODAY, "MUG")].page_views) == (13, 23)
    assert (by[(TODAY, None)].sessions, by[(TODAY, None)].page_views) == (16, 27)  # the shop's total
    created = datetime.fromtimestamp(emulator.orders["T-1"]["create_time"], UTC).date()
    mug = by[(created, "MUG")]
    assert (mug.orders, mug.units_ordered, mug.sales) == (1, 2, _usd("19.80"))


async def _all_traffic(
    provider: TikTokShopMarketplace, conn: ChannelConnection, first: date, last: date
) -> list[TrafficMetric]:
    found: list[TrafficMetric] = []
    token: str | None = None
    for _ in range(100):
        page = await provider.fetch_traffic(conn, day_from=first, day_to=last, page_token=token)
        found.extend(page.metrics)
        token = page.next_page_token
        if token is None:
            return found
    raise AssertionError("traffic never ended")


async def test_traffic_pages_through_the_products(emulator: Any) -> None:
    creds = emulator.open_account("US")
    skus = [f"S-{n}" for n in range(ads.PRODUCTS_PAGE + 5)]
    for sku in skus:
        emulator.add_product(creds, sku)
        emulator.add_traffic(creds, day=TODAY, sku=sku, sessions=2, page_views=3)
    provider, conn = TikTokShopMarketplace(), _conn(emulator, creds)
    first = await provider.fetch_traffic(conn, day_from=TODAY, day_to=TODAY, page_token=None)
    assert first.next_page_token is not None
    rows = await _all_traffic(provider, conn, TODAY, TODAY)
    assert sorted(m.sku for m in rows if m.sku) == sorted(skus)


async def test_analytics_refusals(emulator: Any) -> None:
    creds = emulator.open_account("US")
    emulator.add_product(creds, "MUG")
    provider, conn = TikTokShopMarketplace(), _conn(emulator, creds)
    product = next(iter(emulator.shop_of(creds).products))
    for path, params, code in (
        (
            "/analytics/202405/shop/performance",
            {"start_date_ge": "2026-01-02", "end_date_lt": "2026-01-02"},
            "28001022",
        ),
        (
            "/analytics/202405/shop/performance",
            {"start_date_ge": "20260101", "end_date_lt": "2026-01-02"},
            "28001022",
        ),
        (
            "/analytics/202405/shop/performance",
            {"start_date_ge": "2026-01-01", "end_date_lt": "2026-01-02", "granularity": "1H"},
            "28001022",
        ),
        (
            "/analytics/202405/shop_products/1729999/performance",
            {"start_date_ge": "2026-01-01", "end_date_lt": "2026-01-02"},
            "28001007",
        ),
        (
            "/analytics/202405/shop_products/performance",
            {"start_date_ge": "2026-01-01", "end_date_lt": "2026-01-02", "page_size": 101},
            "28001022",
        ),
    ):
        with pytest.raises(ChannelError) as excinfo:
            await provider._shop_call(conn, "GET", path, "analytics.shop", params=params)
        assert excinfo.value.code == code, path
    data = await provider._shop_call(
        conn,
        "GET",
        f"/analytics/202405/shop_products/{product}/performance",
        "analytics.product",
        params={"start_date_ge": TODAY.isoformat(), "end_date_lt": (TODAY + timedelta(days=5)).isoformat()},
    )
    # an aggregate interval, and nothing past the latest day with data
    assert [i["end_date"] for i in data["performance"]["intervals"]] == [
        (TODAY + timedelta(days=5)).isoformat()
    ]
    assert data["latest_available_date"] == TODAY.isoformat()


# --------------------------------------------------------------------------- demo


async def test_the_demo_shop_has_a_month_of_ads_and_visits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CROSSDOCK_DEMO", "1")
    emu = TikTokShopSellerEmulator()
    async with serve(emu) as base:
        emu.base = base  # type: ignore[attr-defined]
        creds = emu.open_account("US")
        for sku in ("MUG", "CAP"):
            emu.add_product(creds, sku)
        emu.generate_orders(creds, 5, seed=4)
        provider, conn = TikTokShopMarketplace(), _conn(emu, creds)
        first = TODAY - timedelta(days=29)
        pages, metrics = await _all_ads(provider, conn, first, TODAY)
        traffic = await _all_traffic(provider, conn, first, TODAY)
    products = _rows(metrics, AdLevel.PRODUCT)
    assert {sku for _, sku in products} == {"MUG", "CAP"}  # a product per SKU in the demo
    assert {day for day, _ in products} == {first + timedelta(days=n) for n in range(30)}
    assert len([c for p in pages for c in p.campaigns]) == 2
    assert all(m.spend.amount > 0 for m in metrics)
    assert {(m.day, m.sku) for m in traffic if m.sku} == {(d, s) for d, s in products}
