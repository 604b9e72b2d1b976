"""Shopee Ads on the wire: the provider's ``fetch_ads`` against the emulator (campaign
rows and PRODUCT rows under the seller's SKU, direct attribution, revisions, paging of the
campaign list under faults, the date windows Shopee accepts, error mapping) and each
refusal the emulator makes as the Ads API reference words it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from crossdock_shopee.ads import DAILY_PERFORMANCE, local_today, months_before, shopee_date
from crossdock_shopee.client import ShopeeClient
from crossdock_shopee.emulator import ShopeeSellerEmulator
from crossdock_shopee.marketplace import ShopeeMarketplace

from crossdock import (
    AdLevel,
    AdMetric,
    AdReportPage,
    AdState,
    AdType,
    ChannelConnection,
    ChannelError,
    Money,
)
from crossdock.testing import emulator_http
from crossdock.testing.emulator import Faults, serve

CAMPAIGN_LIST = "/api/v2/ads/get_product_level_campaign_id_list"
SETTING_INFO = "/api/v2/ads/get_product_level_campaign_setting_info"
ITEM_INFO = "/api/v2/product/get_item_base_info"


@dataclass
class Ads:
    emu: ShopeeSellerEmulator
    account: dict[str, Any]
    base: str

    @property
    def shop_id(self) -> int:
        return int(self.account["shop_id"])

    @property
    def today(self) -> date:
        return local_today("SG", self.emu.clock())

    def conn(self, **settings: Any) -> ChannelConnection:
        return ChannelConnection(
            id=1,
            tenant="t",
            channel="shopee",
            site="SG",
            currency="SGD",
            credentials=self.account,
            base_url=self.base,
            settings=settings,
            http=emulator_http(),
        )

    async def report(self, day_from: date, day_to: date, **settings: Any) -> list[AdReportPage]:
        """Every page of the report, retrying a page on a transient error as the core's
        job does."""
        pages: list[AdReportPage] = []
        token: str | None = None
        for _ in range(200):
            try:
                page = await ShopeeMarketplace().fetch_ads(
                    self.conn(**settings), day_from=day_from, day_to=day_to, page_token=token
                )
            except ChannelError as exc:
                if not exc.retryable:
                    raise
                continue
            pages.append(page)
            token = page.next_page_token
            if token is None:
                return pages
        raise AssertionError("the report never ended")

    async def refusal(self, method: str, path: str, **params: Any) -> tuple[str, str]:
        client = ShopeeClient(
            self.account["partner_id"],
            self.account["partner_key"],
            base_url=self.base,
            http=emulator_http().client(),
        )
        with pytest.raises(ChannelError) as caught:
            await client.call(
                method, path, access_token=self.account["access_token"], shop_id=self.shop_id, params=params
            )
        assert not caught.value.retryable
        return caught.value.code, caught.value.message.split(": ", 2)[-1]

    def performance_calls(self) -> list[tuple[date, date]]:
        return [
            (_day(q["start_date"]), _day(q["end_date"]))
            for p, q, _ in self.emu.calls
            if p == DAILY_PERFORMANCE
        ]


def _day(value: str) -> date:
    d, m, y = (int(x) for x in value.split("-"))
    return date(y, m, d)


def rows(pages: list[AdReportPage], level: AdLevel) -> dict[tuple[str, date], AdMetric]:
    """The rows of one level by (campaign or SKU, day); each key once."""
    found: dict[tuple[str, date], AdMetric] = {}
    for page in pages:
        for m in page.metrics:
            if m.level is level:
                key = (m.sku if level is AdLevel.PRODUCT else m.campaign_id) or "", m.day
                assert key not in found, f"{key} twice"
                found[key] = m
    return found


def sgd(amount: str) -> Money:
    return Money(Decimal(amount), "SGD")


async def _ads(faults: Faults | None = None) -> AsyncIterator[Ads]:
    emu = ShopeeSellerEmulator(faults)
    account = emu.open_account("SG")
    emu.add_product(account, "LAMP-RED")
    emu.add_product(account, "RUG")
    async with serve(emu) as base:
        yield Ads(emu, account, base)


@pytest.fixture
async def ads() -> AsyncIterator[Ads]:
    async for env in _ads():
        yield env


async def test_campaigns_and_their_days_under_the_sellers_skus(ads: Ads) -> None:
    today = ads.today
    days = [today - timedelta(days=n) for n in (2, 1, 0)]
    lamp = rug = ""
    for n, day in enumerate(days):
        lamp = ads.emu.add_ad_activity(
            ads.account,
            day=day,
            sku="LAMP-RED",
            impressions=100 + n,
            clicks=5,
            spend="1.25",
            orders=1,
            sales="19.90",
        )
        rug = ads.emu.add_ad_activity(
            ads.account,
            day=day,
            sku="RUG",
            impressions=40,
            clicks=2 + n,
            spend="0.60",
            orders=n,
            sales=f"{12 * n}.00",
            keyword="wool rug",
        )
    pages = await ads.report(today - timedelta(days=13), today)

    campaigns = {c.external_id: c for page in pages for c in page.campaigns}
    assert set(campaigns) == {lamp, rug}
    assert (campaigns[lamp].name, campaigns[lamp].ad_type, campaigns[lamp].state) == (
        "LAMP-RED - Product Ads",
        AdType.SPONSORED_PRODUCTS,
        AdState.ENABLED,
    )
    assert campaigns[rug].ad_type is AdType.SEARCH  # bidding on a keyword: search placement
    assert campaigns[lamp].daily_budget == sgd("20.00") and campaigns[lamp].starts_on is not None
    product = rows(pages, AdLevel.PRODUCT)
    campaign = rows(pages, AdLevel.CAMPAIGN)
    assert set(product) == {(sku, day) for sku in ("LAMP-RED", "RUG") for day in days}
    for n, day in enumerate(days):
        row = product["LAMP-RED", day]
        assert (
            row.campaign_id,
            row.impressions,
            row.clicks,
            row.spend,
            row.orders,
            row.units,
            row.sales,
        ) == (
            lamp,
            100 + n,
            5,
            sgd("1.25"),
            1,
            1,
            sgd("19.90"),
        )
        assert (product["RUG", day].orders, product["RUG", day].sales) == (n, sgd(f"{12 * n}.00"))
        # a one-item campaign's day is its product's day
        assert campaign[lamp, day].spend == row.spend and campaign[lamp, day].sku is None
    # the wire: one window of DD-MM-YYYY dates, never starting on its last day
    assert ads.performance_calls() == [(today - timedelta(days=13), today)]


async def test_direct_attribution_counts_the_advertised_product_only(ads: Ads) -> None:
    """Shopee's broad figures add the shop's other products bought after the click; the
    rows carry the direct ones."""
    day = ads.today - timedelta(days=1)
    campaign = ads.emu.ads.campaign_of(ads.shop_id, "RUG")
    ads.emu.ads.add_activity(
        campaign,
        day,
        impressions=300,
        clicks=9,
        spend="2.70",
        orders=2,
        sales="64.00",
        units=3,
        halo_orders=4,
        halo_sales="80.00",
    )
    pages = await ads.report(day - timedelta(days=3), day)
    row = rows(pages, AdLevel.PRODUCT)["RUG", day]
    assert (row.orders, row.units, row.sales) == (2, 3, sgd("64.00"))


async def test_a_revised_attribution_shows_in_a_later_report(ads: Ads) -> None:
    day = ads.today - timedelta(days=2)
    ads.emu.add_ad_activity(
        ads.account, day=day, sku="RUG", impressions=80, clicks=4, spend="1.00", orders=1, sales="30.00"
    )
    first = rows(await ads.report(day, ads.today), AdLevel.PRODUCT)["RUG", day]
    ads.emu.revise_ad_activity(ads.account, day=day, sku="RUG", orders=3, sales="95.50")
    later = rows(await ads.report(day, ads.today), AdLevel.PRODUCT)["RUG", day]
    assert (first.orders, first.sales) == (1, sgd("30.00"))
    assert (later.orders, later.sales, later.spend, later.clicks) == (3, sgd("95.50"), sgd("1.00"), 4)


async def test_an_item_names_its_sku_as_shopee_lists_it(ads: Ads) -> None:
    """Shopee reports ads per item: an item of one model names the model's SKU, one of
    several its parent SKU; an auto campaign over several items has no PRODUCT rows."""
    ads.emu.add_model(ads.shop_id, 700, 1, "TENT-2P")  # one model
    ads.emu.add_model(ads.shop_id, 800, 1, "MUG-BLUE")  # two models, parent SKU "MUG"
    ads.emu.add_model(ads.shop_id, 800, 2, "MUG-GREEN")
    day = ads.today - timedelta(days=1)
    for sku in ("TENT-2P", "MUG-GREEN"):
        ads.emu.add_ad_activity(
            ads.account, day=day, sku=sku, impressions=10, clicks=1, spend="0.20", orders=0, sales="0"
        )
    auto = ads.emu.ads.create(ads.shop_id, [700, 800], name="Best sellers", ad_type="auto")
    ads.emu.ads.add_activity(auto, day, impressions=500, clicks=20, spend="4.00", orders=2, sales="41.00")
    pages = await ads.report(day - timedelta(days=1), day)
    product = rows(pages, AdLevel.PRODUCT)
    assert set(product) == {("TENT-2P", day), ("MUG", day)}
    assert rows(pages, AdLevel.CAMPAIGN)[str(auto.campaign_id), day].sales == sgd("41.00")
    assert not any(m.campaign_id == str(auto.campaign_id) for m in product.values())


async def test_windows_of_four_weeks_and_no_single_day_window(ads: Ads) -> None:
    today = ads.today
    for back in (40, 29, 13, 12, 0):
        ads.emu.add_ad_activity(
            ads.account,
            day=today - timedelta(days=back),
            sku="RUG",
            impressions=10,
            clicks=1,
            spend="0.10",
            orders=0,
            sales="0",
        )
    pages = await ads.report(today - timedelta(days=40), today + timedelta(days=2))  # tomorrow is clamped
    assert {d for _, d in rows(pages, AdLevel.PRODUCT)} == {
        today - timedelta(days=b) for b in (40, 29, 13, 12, 0)
    }
    calls = ads.performance_calls()
    assert all(start < end and (end - start).days < 28 for start, end in calls)
    assert calls[0][0] == today - timedelta(days=40) and max(end for _, end in calls) == today

    ads.emu.calls.clear()
    one = today - timedelta(days=12)
    single = await ads.report(one, one)  # asked with the day before it, which is left out
    assert ads.performance_calls() == [(one - timedelta(days=1), one)]
    assert {d for _, d in rows(single, AdLevel.PRODUCT)} == {one}
    assert {
        d
        for _, d in rows(
            await ads.report(today - timedelta(days=29), today - timedelta(days=29)), AdLevel.PRODUCT
        )
    } == {today - timedelta(days=29)}


async def test_days_older_than_shopee_keeps_are_not_asked_for(ads: Ads) -> None:
    today = ads.today
    ads.emu.add_ad_activity(
        ads.account,
        day=today - timedelta(days=1),
        sku="RUG",
        impressions=5,
        clicks=1,
        spend="0.10",
        orders=0,
        sales="0",
    )
    pages = await ads.report(months_before(today, 7), today)
    oldest = min(start for start, _ in ads.performance_calls())
    assert oldest > months_before(today, 6)
    assert ("RUG", today - timedelta(days=1)) in rows(pages, AdLevel.PRODUCT)


async def test_pages_of_a_hundred_campaigns_through_faults() -> None:
    faults = Faults(
        throttle=0.1,
        server_error=0.1,
        malformed=0.05,
        duplicate_page=0.5,
        shuffle_pages=True,
        retry_after=0.01,
        seed=3,
    )
    async for ads in _ads(faults):
        day = ads.today - timedelta(days=1)
        skus = [f"SKU-{n:03d}" for n in range(230)]
        for sku in skus:
            ads.emu.add_product(ads.account, sku)
            ads.emu.add_ad_activity(
                ads.account, day=day, sku=sku, impressions=10, clicks=1, spend="0.30", orders=1, sales="9.00"
            )
        pages = await ads.report(day - timedelta(days=6), day)
        assert {sku for sku, _ in rows(pages, AdLevel.PRODUCT)} == set(skus)
        assert len(rows(pages, AdLevel.CAMPAIGN)) == 230
        assert sum(bool(p.next_page_token) for p in pages) == 2  # 100 + 100 + 30
        assert ads.emu.injected["duplicate_page"] > 0
        assert (
            ads.emu.injected["throttle"] + ads.emu.injected["server_error"] + ads.emu.injected["malformed"]
            > 0
        )
        listed = [q for p, q, _ in ads.emu.calls if p == CAMPAIGN_LIST]
        assert {q["limit"] for q in listed} == {"100"} and {q["ad_type"] for q in listed} == {"all"}


async def test_throttling_is_retried_and_refusals_are_typed(ads: Ads) -> None:
    day = ads.today - timedelta(days=1)
    ads.emu.add_ad_activity(
        ads.account, day=day, sku="RUG", impressions=5, clicks=1, spend="0.10", orders=0, sales="0"
    )
    ads.emu.fail_next(
        DAILY_PERFORMANCE,
        "ads.rate_limit.exceed_shop_api",
        "Too many requests for the shop at the moment, please try again later.",
        times=2,
    )
    page = await ShopeeMarketplace().fetch_ads(
        ads.conn(), day_from=day - timedelta(days=2), day_to=day, page_token=None
    )
    assert page.metrics  # retried within the page

    ads.emu.fail_next(DAILY_PERFORMANCE, "ads.rate_limit.exceed_partner_api", "Too many requests", times=5)
    with pytest.raises(ChannelError) as throttled:
        await ShopeeMarketplace().fetch_ads(
            ads.conn(), day_from=day - timedelta(days=2), day_to=day, page_token=None
        )
    assert throttled.value.retryable and throttled.value.code == "ads.rate_limit.exceed_partner_api"

    ads.emu.fail_next(SETTING_INFO, "error_auth", "Invalid access_token.", status=403)
    with pytest.raises(ChannelError) as expired:
        await ShopeeMarketplace().fetch_ads(
            ads.conn(), day_from=day - timedelta(days=2), day_to=day, page_token=None
        )
    assert expired.value.code == ChannelError.AUTH_EXPIRED

    ads.emu.revoke(CAMPAIGN_LIST)  # an app without the Ads Service permission
    with pytest.raises(ChannelError) as refused:
        await ShopeeMarketplace().fetch_ads(
            ads.conn(), day_from=day - timedelta(days=2), day_to=day, page_token=None
        )
    assert (refused.value.code, refused.value.retryable) == ("AUTH_NO_PERMISSION", False)
    before = sum(ads.emu.requests.values())
    off = await ShopeeMarketplace().fetch_ads(
        ads.conn(ads_read=False), day_from=day, day_to=day, page_token=None
    )
    assert not off.metrics and not off.campaigns and off.next_page_token is None
    assert sum(ads.emu.requests.values()) == before  # turned off: nothing asked


async def test_the_emulator_refuses_what_the_ads_api_refuses(ads: Ads) -> None:
    today = ads.today
    cid = ads.emu.add_ad_activity(
        ads.account, day=today, sku="RUG", impressions=1, clicks=0, spend="0", orders=0, sales="0"
    )
    other = ads.emu.open_account("MY")
    ads.emu.add_product(other, "KETTLE")
    foreign = ads.emu.add_ad_activity(
        other, day=today, sku="KETTLE", impressions=1, clicks=0, spend="0", orders=0, sales="0"
    )
    span = {
        "start_date": shopee_date(today - timedelta(days=3)),
        "end_date": shopee_date(today),
        "campaign_id_list": cid,
    }

    assert await ads.refusal("POST", DAILY_PERFORMANCE, **span) == (
        "ads.api.http_method_not_allowed",
        "Only the supported HTTP method for the API is allowed.",
    )
    assert (await ads.refusal("GET", DAILY_PERFORMANCE, **{**span, "start_date": ""}))[0] == "error_param"
    code, message = await ads.refusal("GET", DAILY_PERFORMANCE, **{**span, "start_date": today.isoformat()})
    assert code == "error_param" and "DD-MM-YYYY" in message
    cases = {
        "ads.performance.error_same_start_end_dates": {"start_date": shopee_date(today)},
        "ads.performance.error_start_later_than_end": {
            "start_date": shopee_date(today),
            "end_date": shopee_date(today - timedelta(days=1)),
        },
        "ads.performance.error_date_range_too_long": {
            "start_date": shopee_date(months_before(today, 1) - timedelta(days=1))
        },
        "ads.performance.error_date_in_future": {"end_date": shopee_date(today + timedelta(days=1))},
        "ads.performance.error_date_too_old": {
            "start_date": shopee_date(months_before(today, 6) - timedelta(days=1)),
            "end_date": shopee_date(months_before(today, 6) + timedelta(days=5)),
        },
    }
    for expected, change in cases.items():
        assert (await ads.refusal("GET", DAILY_PERFORMANCE, **{**span, **change}))[0] == expected, expected
    assert await ads.refusal(
        "GET", DAILY_PERFORMANCE, **{**span, "campaign_id_list": f"{cid},{foreign}"}
    ) == ("ads.shop.campaign_not_match", "Invalid campaign ID for this shop.")
    too_many = ",".join(str(4_000_000 + n) for n in range(101))
    assert (await ads.refusal("GET", DAILY_PERFORMANCE, **{**span, "campaign_id_list": too_many}))[
        0
    ] == "error_param"
    assert (await ads.refusal("GET", SETTING_INFO, campaign_id_list=cid))[
        0
    ] == "error_param"  # no info_type_list
    assert (await ads.refusal("GET", SETTING_INFO, campaign_id_list=cid, info_type_list="1,5"))[
        0
    ] == "error_param"
    assert (await ads.refusal("GET", SETTING_INFO, campaign_id_list="x1", info_type_list="1"))[
        0
    ] == "error_param"
    assert (await ads.refusal("GET", CAMPAIGN_LIST, ad_type="video"))[0] == "error_param"
    assert (await ads.refusal("GET", CAMPAIGN_LIST, offset="-1"))[0] == "error_param"
    assert (await ads.refusal("GET", ITEM_INFO, item_id_list=",".join(str(n) for n in range(1, 52))))[
        0
    ] == "error_param"
    assert (await ads.refusal("GET", ITEM_INFO))[0] == "error_param"
    wrong = ShopeeClient(
        ads.account["partner_id"], "not-the-key", base_url=ads.base, http=emulator_http().client()
    )
    with pytest.raises(ChannelError) as unsigned:
        await wrong.call("GET", CAMPAIGN_LIST, access_token=ads.account["access_token"], shop_id=ads.shop_id)
    assert unsigned.value.code == "error_sign"


async def test_the_demo_shop_has_a_month_of_advertising(ads: Ads) -> None:
    for sku in ("TENT-2P", "MUG-BLUE", "STOVE"):
        ads.emu.add_product(ads.account, sku)
    ads.emu.generate_orders(ads.account, 20, seed=3)
    today = ads.today
    pages = await ads.report(today - timedelta(days=30), today)
    campaigns = {c.external_id: c for p in pages for c in p.campaigns}
    product, campaign = rows(pages, AdLevel.PRODUCT), rows(pages, AdLevel.CAMPAIGN)
    assert {d for _, d in campaign} == {today - timedelta(days=n) for n in range(31)}
    assert {sku for sku, _ in product} <= {"LAMP-RED", "RUG", "TENT-2P", "MUG-BLUE", "STOVE"}
    assert AdState.PAUSED in {c.state for c in campaigns.values()}
    auto = next(c for c in campaigns.values() if c.name == "Shop best sellers")
    assert not any(m.campaign_id == auto.external_id for m in product.values())
    assert sum(m.spend.amount for m in campaign.values()) > 0 and sum(m.orders for m in product.values()) > 0
    again = await ads.report(today - timedelta(days=30), today)  # a second look finds the same figures
    assert rows(again, AdLevel.CAMPAIGN) == campaign
