"""The Ads side of the Shopee emulator: a shop's product-level campaigns and their daily
performance, as Shopee Ads' Open API shows them.

Served paths (GET, shop-level, signed as every shop API):
``/api/v2/ads/get_product_level_campaign_id_list``,
``/api/v2/ads/get_product_level_campaign_setting_info``,
``/api/v2/ads/get_product_campaign_daily_performance``. Any other method is refused
``ads.api.http_method_not_allowed`` ("Only the supported HTTP method for the API is
allowed."), as the three APIs' error_list words it.

Refusals, in the reference's codes and words (``schemas/v2.ads.*.json`` in the
``congminh1254/shopee-sdk`` mirror): ``info_type_list`` and ``campaign_id_list`` required,
at most 100 ids, integers, info types 1-4 (``error_param`` "Wrong parameters, detail:
..."); a campaign of another shop (``ads.shop.campaign_not_match`` "Invalid campaign ID for
this shop."); ``start_date``/``end_date`` required as DD-MM-YYYY, and the date rules of
``get_product_campaign_daily_performance``: ``ads.performance.error_start_later_than_end``,
``..error_same_start_end_dates``, ``..error_date_range_too_long`` (more than a calendar
month), ``..error_date_in_future`` (after the shop's today), ``..error_date_too_old``
(before six calendar months ago). UNCONFIRMED: the exact bound of "1 month" and of "6
months ago", the time zone of "today" (the emulator: the shop's market), whether a day
without activity is listed (the emulator lists only days with activity), the largest
``limit`` of the campaign list (none is refused here) and its order (by campaign id).

A campaign advertises items: a "manual" product selection one item, an "auto" one several
(``item_id_list``); ``add_activity`` records a day, ``revise`` moves its attribution on.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from crossdock.testing.emulator import Reply, Request
from crossdock_shopee.ads import DATE_FORMAT, local_today, months_before, shopee_date

if TYPE_CHECKING:
    from crossdock_shopee.emulator import Shop, ShopeeEmulator

__all__ = ["AdsDesk", "Campaign", "DayFigures"]

CAMPAIGN_LIST = "/api/v2/ads/get_product_level_campaign_id_list"
SETTING_INFO = "/api/v2/ads/get_product_level_campaign_setting_info"
DAILY_PERFORMANCE = "/api/v2/ads/get_product_campaign_daily_performance"
MAX_CAMPAIGNS = 100  # "list of campaign ids comma separated (max 100 campaign ids)"
AD_TYPES = frozenset({"", "all", "auto", "manual"})  # "Any of ["","all","auto","manual"]"
INFO_TYPES = frozenset(
    {1, 2, 3, 4}
)  # "1.Common Info 2.Manual Bidding Info 3.Auto Bidding Info 4.Auto Product Ads Info"
STATUSES = frozenset({"ongoing", "scheduled", "ended", "paused", "deleted", "closed"})
HISTORY_MONTHS = 6
#: a campaign's daily budget when a test or the demo names none, by currency (the
#: emulator's own figures)
BUDGETS = {"IDR": "150000", "VND": "250000", "THB": "300", "PHP": "500", "TWD": "300"}
DEFAULT_BUDGET = "20.00"


@dataclass
class DayFigures:
    impression: int = 0
    clicks: int = 0
    expense: Decimal = Decimal(0)
    direct_order: int = 0
    direct_order_amount: int = 0
    direct_gmv: Decimal = Decimal(0)
    #: what the ad brought beyond the advertised product (the broad figures add it)
    halo_order: int = 0
    halo_order_amount: int = 0
    halo_gmv: Decimal = Decimal(0)


@dataclass
class Campaign:
    campaign_id: int
    shop_id: int
    ad_type: str  # product selection: "manual" (one item) or "auto"
    ad_name: str
    item_ids: list[int]
    budget: Decimal
    start_time: int
    bidding_method: str = "auto"
    placement: str = "all"
    status: str = "ongoing"
    end_time: int = 0
    keywords: list[str] = field(default_factory=list)
    days: dict[date, DayFigures] = field(default_factory=dict)


def _ratio(numerator: Decimal, denominator: Decimal) -> float:
    return round(float(numerator / denominator), 4) if denominator else 0.0


class AdsDesk:
    """The campaigns of one emulator's shops; its endpoints are routed on the emulator
    (:meth:`install`)."""

    def __init__(self, emulator: ShopeeEmulator) -> None:
        self.emu = emulator
        self.campaigns: dict[int, Campaign] = {}
        self._serial = 0

    def install(self) -> None:
        for path, handler in (
            (CAMPAIGN_LIST, self._campaign_list),
            (SETTING_INFO, self._setting_info),
            (DAILY_PERFORMANCE, self._daily_performance),
        ):
            self.emu.route("GET", path, handler)
            for method in ("POST", "PUT", "DELETE"):
                self.emu.route(method, path, self._wrong_method)

    # ------------------------------------------------------------------ seller's side

    def today(self, shop_id: int) -> date:
        return local_today(self.emu.shops[shop_id].region, self.emu.clock())

    def create(
        self,
        shop_id: int,
        item_ids: Sequence[int],
        *,
        name: str,
        ad_type: str = "manual",
        budget: str | None = None,
        keywords: Sequence[str] = (),
        status: str = "ongoing",
    ) -> Campaign:
        """A product campaign of the shop: ``manual`` product selection advertises one
        item, ``auto`` several. Keywords make it a manual-bidding search campaign."""
        shop = self.emu.shops[shop_id]
        if ad_type == "manual" and len(item_ids) != 1:
            raise ValueError("a manual product selection advertises exactly one item")
        if status not in STATUSES:
            raise ValueError(f"unknown campaign status {status}")
        currency = self.emu.currency_of(shop)
        self._serial += 1
        campaign = Campaign(
            campaign_id=4_200_000 + self._serial,
            shop_id=shop_id,
            ad_type=ad_type,
            ad_name=name,
            item_ids=list(item_ids),
            budget=Decimal(budget or BUDGETS.get(currency, DEFAULT_BUDGET)),
            start_time=int(self.emu.clock()) - 90 * 86400,
            bidding_method="manual" if keywords else "auto",
            placement="search" if keywords else "all",
            status=status,
            keywords=list(keywords),
        )
        self.campaigns[campaign.campaign_id] = campaign
        return campaign

    def campaign_of(self, shop_id: int, sku: str, keyword: str | None = None) -> Campaign:
        """The shop's one-item campaign for ``sku``'s item, made on first use (a keyword
        makes it a search campaign bidding on it)."""
        item_id = self.emu.item_of(shop_id, sku)
        for campaign in self.campaigns.values():
            if (
                campaign.shop_id == shop_id
                and campaign.ad_type == "manual"
                and campaign.item_ids == [item_id]
            ):
                if keyword and keyword not in campaign.keywords:
                    campaign.keywords.append(keyword)
                    campaign.bidding_method, campaign.placement = "manual", "search"
                return campaign
        return self.create(
            shop_id, [item_id], name=f"{sku} - Product Ads", keywords=[keyword] if keyword else ()
        )

    def add_activity(
        self,
        campaign: Campaign,
        day: date,
        *,
        impressions: int,
        clicks: int,
        spend: str | Decimal,
        orders: int = 0,
        sales: str | Decimal = "0",
        units: int | None = None,
        halo_orders: int = 0,
        halo_sales: str | Decimal = "0",
    ) -> None:
        """Adds to the campaign's day: direct orders and sales (of the advertised product)
        and, on top, ``halo_*`` (other products of the shop), which only the broad figures
        count."""
        figures = campaign.days.setdefault(day, DayFigures())
        figures.impression += impressions
        figures.clicks += clicks
        figures.expense += Decimal(str(spend))
        figures.direct_order += orders
        figures.direct_order_amount += orders if units is None else units
        figures.direct_gmv += Decimal(str(sales))
        figures.halo_order += halo_orders
        figures.halo_order_amount += halo_orders
        figures.halo_gmv += Decimal(str(halo_sales))

    def revise(self, campaign: Campaign, day: date, *, orders: int, sales: str | Decimal) -> None:
        """The attribution of the campaign's day moves on (orders arriving within the 7
        days, or cancelled): its direct figures are now these."""
        figures = campaign.days.setdefault(day, DayFigures())
        figures.direct_order = figures.direct_order_amount = orders
        figures.direct_gmv = Decimal(str(sales))

    def demo_activity(self, shop_id: int, rng: random.Random, skus: Iterable[str], days: int = 30) -> None:
        """About ``days`` days of advertising for a demo shop: most SKUs in a campaign of
        their own (some bidding on a keyword), one auto campaign over several items, one
        campaign paused last week."""
        shop = self.emu.shops[shop_id]
        currency = self.emu.currency_of(shop)
        scale = Decimal(BUDGETS.get(currency, DEFAULT_BUDGET)) / Decimal(DEFAULT_BUDGET)
        skus = list(skus)
        advertised = [sku for sku in skus if rng.random() < 0.75] or skus[:1]
        campaigns = [
            self.campaign_of(shop_id, sku, rng.choice([None, None, sku.split("-")[0].lower()]))
            for sku in advertised
        ]
        items = sorted({self.emu.item_of(shop_id, sku) for sku in skus})
        if len(items) > 2:
            campaigns.append(self.create(shop_id, items[:4], name="Shop best sellers", ad_type="auto"))
        today = self.today(shop_id)
        for n, campaign in enumerate(campaigns):
            price = Decimal(rng.randint(12, 60))
            paused_from = today - timedelta(days=6) if n == 1 else None
            for back in range(days, -1, -1):
                day = today - timedelta(days=back)
                if paused_from is not None and day >= paused_from:
                    break
                impressions = rng.randint(150, 2500)
                clicks = max(1, int(impressions * rng.uniform(0.01, 0.05)))
                cpc = Decimal(str(round(rng.uniform(0.08, 0.45), 2))) * scale
                orders = sum(1 for _ in range(clicks) if rng.random() < 0.06)
                halo = sum(1 for _ in range(clicks) if rng.random() < 0.02)
                self.add_activity(
                    campaign,
                    day,
                    impressions=impressions,
                    clicks=clicks,
                    spend=(cpc * clicks).quantize(Decimal("0.01")),
                    orders=orders,
                    sales=(price * scale * orders).quantize(Decimal("0.01")),
                    halo_orders=halo,
                    halo_sales=(price * scale * halo * Decimal("0.8")).quantize(Decimal("0.01")),
                )
            if paused_from is not None:
                campaign.status = "paused"

    # ------------------------------------------------------------------ helpers

    def _shop(self, request: Request) -> Shop | Reply:
        from crossdock_shopee.emulator import Shop

        shop = self.emu._check_sign(request, shop_level=True)
        if isinstance(shop, Reply):
            return shop
        assert isinstance(shop, Shop)
        return shop

    async def _wrong_method(self, request: Request) -> Reply:
        return self.emu._fail(
            "ads.api.http_method_not_allowed", "Only the supported HTTP method for the API is allowed."
        )

    def _campaign_ids(self, shop: Shop, value: str | None) -> list[Campaign] | Reply:
        if not value:
            return self.emu._wrong("campaign_id_list is required")
        parts = [p.strip() for p in value.split(",")]
        if not all(p.isdigit() for p in parts):
            return self.emu._wrong("campaign_id_list should be comma separated integers")
        if len(parts) > MAX_CAMPAIGNS:
            return self.emu._wrong(f"campaign_id_list should have at most {MAX_CAMPAIGNS} campaign ids")
        found: list[Campaign] = []
        for part in dict.fromkeys(parts):
            campaign = self.campaigns.get(int(part))
            if campaign is None or campaign.shop_id != shop.shop_id:
                return self.emu._fail("ads.shop.campaign_not_match", "Invalid campaign ID for this shop.")
            found.append(campaign)
        return found

    @staticmethod
    def _int(value: str | None, name: str, default: int) -> int | str:
        if value in (None, ""):
            return default
        if not value.isdigit():
            return f"{name} should be a non-negative integer"
        return int(value)

    # ------------------------------------------------------------------ endpoints

    async def _campaign_list(self, request: Request) -> Reply:
        shop = self._shop(request)
        if isinstance(shop, Reply):
            return shop
        q = request.query
        ad_type = q.get("ad_type", "")
        if ad_type not in AD_TYPES:
            return self.emu._wrong('ad_type should be one of "", all, auto, manual')
        offset = self._int(q.get("offset"), "offset", 0)
        limit = self._int(q.get("limit"), "limit", 5000)
        for value in (offset, limit):
            if isinstance(value, str):
                return self.emu._wrong(value)
        assert isinstance(offset, int)
        assert isinstance(limit, int)
        if limit < 1:
            return self.emu._wrong("limit should be a positive integer")
        rows = sorted(
            (
                c
                for c in self.campaigns.values()
                if c.shop_id == shop.shop_id and ad_type in ("", "all", c.ad_type)
            ),
            key=lambda c: c.campaign_id,
        )
        chunk, following = self.emu.page(rows, offset, limit)
        return self.emu._ok(
            {
                "shop_id": shop.shop_id,
                "region": shop.region,
                "has_next_page": following is not None,
                "campaign_list": [{"ad_type": c.ad_type, "campaign_id": c.campaign_id} for c in chunk],
            }
        )

    async def _setting_info(self, request: Request) -> Reply:
        shop = self._shop(request)
        if isinstance(shop, Reply):
            return shop
        q = request.query
        if not q.get("info_type_list"):
            return self.emu._wrong("info_type_list is required")
        parts = [p.strip() for p in q["info_type_list"].split(",")]
        if not all(p.isdigit() and int(p) in INFO_TYPES for p in parts):
            return self.emu._wrong("info_type_list should be values of 1, 2, 3, 4")
        info_types = {int(p) for p in parts}
        campaigns = self._campaign_ids(shop, q.get("campaign_id_list"))
        if isinstance(campaigns, Reply):
            return campaigns
        listed: list[dict[str, Any]] = []
        for c in campaigns:
            row: dict[str, Any] = {"campaign_id": c.campaign_id}
            if 1 in info_types:
                row["common_info"] = {
                    "ad_type": c.ad_type,
                    "ad_name": c.ad_name,
                    "campaign_status": c.status,
                    "bidding_method": c.bidding_method,
                    "campaign_placement": c.placement,
                    "campaign_budget": float(c.budget),
                    "campaign_duration": {"start_time": c.start_time, "end_time": c.end_time},
                    "item_id_list": list(c.item_ids),
                }
            if 2 in info_types and c.bidding_method == "manual":
                row["manual_bidding_info"] = {
                    "enhanced_cpc": False,
                    "selected_keywords": [
                        {"keyword": k, "status": "normal", "match_type": "broad", "bid_price_per_click": 0.25}
                        for k in c.keywords
                    ],
                    "discovery_ads_locations": [],
                }
            if 3 in info_types and c.bidding_method == "auto":
                row["auto_bidding_info"] = {"roas_target": 0.0}
            if 4 in info_types and c.ad_type == "auto":
                row["auto_product_ads_info"] = [
                    {
                        "product_name": self.emu.shops[c.shop_id].items[i]["item_name"],
                        "status": "ongoing",
                        "item_id": i,
                    }
                    for i in c.item_ids
                    if i in self.emu.shops[c.shop_id].items
                ]
            listed.append(row)
        return self.emu._ok({"shop_id": shop.shop_id, "region": shop.region, "campaign_list": listed})

    def _dates(self, shop: Shop, q: Mapping[str, str]) -> tuple[date, date] | Reply:
        parsed: list[date] = []
        for name in ("start_date", "end_date"):
            value = q.get(name)
            if not value:
                return self.emu._wrong(f"{name} is required")
            try:
                parsed.append(datetime.strptime(value, DATE_FORMAT).date())
            except ValueError:
                return self.emu._wrong(f"{name} should be in the format of DD-MM-YYYY")
        start, end = parsed
        today = self.today(shop.shop_id)
        if start > end:
            return self.emu._fail(
                "ads.performance.error_start_later_than_end",
                "The start date can't be later than the end date.",
            )
        if start == end:
            return self.emu._fail(
                "ads.performance.error_same_start_end_dates",
                "Start date can't be equal to end date. For single date's hourly performance data, "
                "please query hourly api.",
            )
        if end > months_before(start, -1):
            return self.emu._fail(
                "ads.performance.error_date_range_too_long", "Date range can't be longer than 1 month."
            )
        if end > today:
            return self.emu._fail(
                "ads.performance.error_date_in_future",
                "The date must be today or earlier than today up to 6 months ago.",
            )
        if start < months_before(today, HISTORY_MONTHS):
            return self.emu._fail(
                "ads.performance.error_date_too_old", "The date can't be earlier than 6 months ago."
            )
        return start, end

    async def _daily_performance(self, request: Request) -> Reply:
        shop = self._shop(request)
        if isinstance(shop, Reply):
            return shop
        dates = self._dates(shop, request.query)
        if isinstance(dates, Reply):
            return dates
        campaigns = self._campaign_ids(shop, request.query.get("campaign_id_list"))
        if isinstance(campaigns, Reply):
            return campaigns
        start, end = dates
        listed = []
        for c in campaigns:
            metrics = []
            for day in sorted(d for d in c.days if start <= d <= end):
                f = c.days[day]
                broad_order = f.direct_order + f.halo_order
                broad_gmv = f.direct_gmv + f.halo_gmv
                metrics.append(
                    {
                        "date": shopee_date(day),
                        "impression": f.impression,
                        "clicks": f.clicks,
                        "ctr": round(100 * f.clicks / f.impression, 2) if f.impression else 0.0,
                        "expense": float(f.expense),
                        "broad_gmv": float(broad_gmv),
                        "broad_order": broad_order,
                        "broad_order_amount": f.direct_order_amount + f.halo_order_amount,
                        "broad_roi": _ratio(broad_gmv, f.expense),
                        "broad_cir": round(100 * _ratio(f.expense, broad_gmv), 2),
                        "cr": round(100 * broad_order / f.clicks, 2) if f.clicks else 0.0,
                        "cpc": _ratio(f.expense, Decimal(broad_order)),
                        "direct_order": f.direct_order,
                        "direct_order_amount": f.direct_order_amount,
                        "direct_gmv": float(f.direct_gmv),
                        "direct_roi": _ratio(f.direct_gmv, f.expense),
                        "direct_cir": round(100 * _ratio(f.expense, f.direct_gmv), 2),
                        "direct_cr": round(100 * f.direct_order / f.clicks, 2) if f.clicks else 0.0,
                        "cpdc": _ratio(f.expense, Decimal(f.direct_order)),
                    }
                )
            listed.append(
                {
                    "campaign_id": c.campaign_id,
                    "ad_type": c.ad_type,
                    "campaign_placement": c.placement,
                    "ad_name": c.ad_name,
                    "metrics_list": metrics,
                }
            )
        # "response" is a list here, one entry per shop (the reference's object[])
        return self.emu._ok([{"shop_id": shop.shop_id, "region": shop.region, "campaign_list": listed}])
