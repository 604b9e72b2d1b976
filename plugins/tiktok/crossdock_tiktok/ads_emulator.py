"""Advertising and traffic in the emulator: TikTok API for Business (GMV Max, v1.3) and the
TikTok Shop Analytics API (202405), as their references describe them (see
:mod:`crossdock_tiktok.ads` for the sources).

Every seller account (shop) comes with an ad account (``advertiser_id``, its own
``ads_access_token``, the shop's currency, reporting in UTC) that reaches that shop as a
GMV Max store. Served on the emulator's host:

* ``GET /open_api/v1.3/advertiser/info/``, ``/gmv_max/store/list/``,
  ``/gmv_max/campaign/get/``, ``/campaign/gmv_max/info/`` and ``/gmv_max/report/get/``:
  ``Access-Token`` header (40104 none, 40105 unknown), ``advertiser_id`` of that token
  (40001 otherwise), JSON-valued list and object parameters; 40002 for what the references
  refuse: missing or mistyped parameters, unknown enum values, ``store_ids`` other than
  one of the ad account's shops, dates not ``YYYY-MM-DD`` or reversed, ranges over 30 days
  with ``stat_time_day`` (1 day with ``stat_time_hour``, 365 without), dimension groupings
  the metrics page does not list, metrics of another level, filters the level does not
  support or without its required ones (``gmv_max_promotion_types`` at campaign level,
  ``campaign_ids`` at product level, ``campaign_ids`` and ``item_group_ids`` at creative
  level), attribute metrics with several ids, more ids than a filter takes, ``page_size``
  outside 1..1000 (1..100 for campaigns). Reports answer at once (GMV Max has no
  asynchronous reports); the creative level with all four dimensions lists only rows with
  cost, as the reference notes. Pages are numbered (``page_info``), so the fault of a
  repeated page is not applied to them (a numbered page served twice would skip one);
  rows of a page are shuffled when the faults say so.
* ``GET /analytics/202405/shop/performance``, ``/analytics/202405/shop_products/performance``
  and ``/analytics/202405/shop_products/{product_id}/performance`` (signed shop API):
  28001022 for missing, malformed or reversed dates and bad enum values, 28001007 for a
  product not of the shop; daily intervals up to ``latest_available_date`` (today, UTC).

The seller side (:class:`crossdock.testing.conformance.AdsEmulator` and
``TrafficEmulator``): :meth:`TikTokAds.add_ad_activity` (one Product GMV Max campaign per
product, with a daily budget, one post per campaign and product), :meth:`revise_ad_activity`
and :meth:`add_traffic`; :meth:`demo_seed` gives a demo shop 30 days of both.

UNCONFIRMED (no reference page says): the code for an unknown campaign id (40007,
"ERROR_CODE_NOT_EXIST" of the SDK, here), that the campaign list leaves deleted campaigns
out unless ``primary_status`` is ``STATUS_DELETE`` (the report's default, applied here too),
that rows of zero activity are left out, the order of report rows; the analytics list's
order and which products it lists (those with visits or orders in the range, here); that
``currency=USD`` converts (the emulator converts nothing and refuses USD for a shop of
another currency).
"""

from __future__ import annotations

import base64
import json
import random
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from crossdock.testing.emulator import Reply, Request

if TYPE_CHECKING:
    from crossdock_tiktok.emulator import Shop, TikTokShopEmulator

__all__ = ["API", "TikTokAds"]

API = "/open_api/v1.3"

# return codes (tiktok_code.py of TikTok's SDK)
PERMISSION_ERROR = 40001
PARAM_ERROR = 40002
NOT_EXIST = 40007  # UNCONFIRMED for an unknown campaign id
REQUEST_TOO_FREQUENT = 40100
EMPTY_ACCESS_TOKEN = 40104
INVALID_ACCESS_TOKEN = 40105
SYS_ERROR = 50000
SYS_TIMEOUT = 50002
# Shop Analytics ("Get Shop Performance", "Get Shop Product Performance")
ANALYTICS_INVALID = 28001022
ANALYTICS_NO_PRODUCT = 28001007

DAY = "stat_time_day"
HOUR = "stat_time_hour"
DIMENSIONS = frozenset(
    {"advertiser_id", "campaign_id", DAY, HOUR, "item_group_id", "item_id", "room_id", "duration"}
)
#: dimension groupings of "Metrics in GMV Max Campaign reports", by metric level
GROUPINGS: Mapping[frozenset[str], str] = {
    **{frozenset({"advertiser_id", *t}): "advertiser" for t in ((), (DAY,), (HOUR,))},
    **{frozenset({"campaign_id", *t}): "campaign" for t in ((), (DAY,), (HOUR,))},
    **{frozenset({"item_group_id", *t}): "product" for t in ((), (DAY,), (HOUR,))},
    **{frozenset({"campaign_id", "item_group_id", *t}): "product" for t in ((), (DAY,), (HOUR,))},
    frozenset({"campaign_id", "item_group_id", "item_id"}): "creative",
    frozenset({"campaign_id", "item_group_id", "item_id", DAY}): "creative",
    frozenset({"item_id", DAY}): "creative",
}
DELIVERY = ("cost", "orders", "cost_per_order", "gross_revenue", "roi")
ATTRIBUTES: Mapping[str, frozenset[str]] = {
    "advertiser": frozenset(),
    "campaign": frozenset(
        {
            "campaign_id",
            "operation_status",
            "campaign_name",
            "schedule_type",
            "schedule_start_time",
            "schedule_end_time",
            "target_roi_budget",
            "bid_type",
            "max_delivery_budget",
        }
    ),
    "product": frozenset({"product_name", "item_group_id", "product_image_url", "bid_type"}),
    "creative": frozenset(
        {
            "title",
            "item_id",
            "tt_account_name",
            "tt_account_profile_image_url",
            "tt_account_authorization_type",
            "shop_content_type",
        }
    ),
}
VIDEO_RATES = tuple(f"ad_video_view_rate_{s}" for s in ("2s", "6s", "p25", "p50", "p75", "p100"))
METRICS: Mapping[str, frozenset[str]] = {
    "advertiser": frozenset({*DELIVERY, "net_cost"}),
    "campaign": ATTRIBUTES["campaign"] | {*DELIVERY, "net_cost", "roas_bid"},
    "product": ATTRIBUTES["product"] | {*DELIVERY, "product_status"},
    "creative": ATTRIBUTES["creative"]
    | {
        *DELIVERY,
        "creative_delivery_status",
        "product_impressions",
        "product_clicks",
        "product_click_rate",
        "ad_click_rate",
        "ad_conversion_rate",
        *VIDEO_RATES,
    },
}
#: filters each level supports ("Supported filters") and those it requires
FILTERS: Mapping[str, frozenset[str]] = {
    "advertiser": frozenset({"gmv_max_promotion_types"}),
    "campaign": frozenset({"gmv_max_promotion_types", "campaign_ids", "campaign_name", "campaign_statuses"}),
    "product": frozenset({"campaign_ids"}),
    "creative": frozenset(
        {"campaign_ids", "item_group_ids", "creative_types", "creative_delivery_statuses", "search_word"}
    ),
}
REQUIRED_FILTERS: Mapping[str, tuple[str, ...]] = {
    "advertiser": (),
    "campaign": ("gmv_max_promotion_types",),
    "product": ("campaign_ids",),
    "creative": ("campaign_ids", "item_group_ids"),
}
FILTER_LISTS: Mapping[str, tuple[int, frozenset[str] | None]] = {
    "campaign_ids": (100, None),
    "item_group_ids": (100, None),
    "item_ids": (100, None),
    "room_ids": (100, None),
    "campaign_statuses": (
        5,
        frozenset(
            {"STATUS_DELIVERY_OK", "STATUS_DISABLE", "STATUS_DELETE", "STATUS_NOT_DELIVERY", "STATUS_ALL"}
        ),
    ),
    "gmv_max_promotion_types": (2, frozenset({"PRODUCT", "LIVE"})),
    "creative_types": (1, frozenset({"ADS_AND_ORGANIC", "ORGANIC", "REMOVED"})),
    "creative_delivery_statuses": (
        9,
        frozenset(
            {
                "IN_QUEUE",
                "LEARNING",
                "DELIVERING",
                "NOT_DELIVERYING",
                "AUTHORIZATION_NEEDED",
                "EXCLUDED",
                "UNAVAILABLE",
                "REJECTED",
                "NOT_ACTIVE",
            }
        ),
    ),
}
FILTER_TEXTS = frozenset({"campaign_name", "search_word"})
CAMPAIGN_FIELDS = (
    "advertiser_id",
    "campaign_id",
    "campaign_name",
    "operation_status",
    "create_time",
    "modify_time",
    "objective_type",
    "secondary_status",
    "roi_protection_compensation_status",
)
CAMPAIGN_FILTERS = frozenset(
    {
        "gmv_max_promotion_types",
        "store_ids",
        "campaign_ids",
        "campaign_name",
        "primary_status",
        "creation_filter_start_time",
        "creation_filter_end_time",
    }
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
_ID = re.compile(r"[0-9]{1,20}")


@dataclass
class Advertiser:
    advertiser_id: str
    access_token: str
    name: str
    currency: str
    exponent: int
    #: the TikTok Shops (shop ids) the ad account reaches as GMV Max stores
    stores: list[str]
    timezone: str = "Etc/GMT"
    #: campaign id -> campaign (the list's and the info's fields, with private ``_`` keys)
    campaigns: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: (campaign id, SPU id, post id, day) -> impressions, clicks, cost, orders, revenue
    activity: dict[tuple[str, str, str, str], dict[str, Any]] = field(default_factory=dict)


class TikTokAds:
    """The ad accounts of an emulator's shops and the shops' traffic."""

    def __init__(self, emulator: TikTokShopEmulator) -> None:
        self.emu = emulator
        self.advertisers: dict[str, Advertiser] = {}
        #: (shop id, product id, day) -> {"views": page views, "visitors": unique visitors}
        self.traffic: dict[tuple[str, str, str], dict[str, int]] = {}

    def routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("GET", f"{API}/advertiser/info/", self.advertiser_info),
            ("GET", f"{API}/gmv_max/store/list/", self.store_list),
            ("GET", f"{API}/gmv_max/campaign/get/", self.campaign_get),
            ("GET", f"{API}/campaign/gmv_max/info/", self.campaign_info),
            ("GET", f"{API}/gmv_max/report/get/", self.report),
            ("GET", "/analytics/202405/shop/performance", self.shop_performance),
            ("GET", "/analytics/202405/shop_products/performance", self.products_performance),
        ]

    def pattern_routes(self) -> list[tuple[str, str, Any]]:
        return [("GET", r"/analytics/202405/shop_products/([^/]+)/performance", self.product_performance)]

    # ------------------------------------------------------------------ seller side

    def open(self, shop: Shop) -> dict[str, str]:
        """The shop's ad account; returns the credentials a connection adds for it."""
        advertiser = Advertiser(
            advertiser_id=self.emu._next_id(7400),
            access_token=secrets.token_hex(20),
            name=f"Ads of {shop.name}",
            currency=shop.spec.currency,
            exponent=shop.spec.exponent,
            stores=[shop.shop_id],
        )
        self.advertisers[advertiser.advertiser_id] = advertiser
        return {"advertiser_id": advertiser.advertiser_id, "ads_access_token": advertiser.access_token}

    def advertiser_of(self, shop: Shop) -> Advertiser:
        return next(a for a in self.advertisers.values() if a.stores[0] == shop.shop_id)

    def _product(self, shop: Shop, sku: str) -> str:
        found = self.emu.find_sku(shop, sku)
        if found is None:
            raise KeyError(f"the shop has no SKU {sku!r}")
        return found[0]

    def campaign_for(self, shop: Shop, sku: str) -> dict[str, Any]:
        """The Product GMV Max campaign promoting ``sku``'s product, opened if there is none."""
        advertiser, spu = self.advertiser_of(shop), self._product(shop, sku)
        for campaign in advertiser.campaigns.values():
            if spu in campaign["_items"] and not campaign["_deleted"]:
                return campaign
        high = shop.spec.prices[1]
        now = datetime.fromtimestamp(self.emu.clock(), UTC).strftime("%Y-%m-%d %H:%M:%S")
        campaign_id = self.emu._next_id(1830)
        campaign = {
            "campaign_id": campaign_id,
            "campaign_name": f"GMV Max {sku}",
            "operation_status": "ENABLE",
            "create_time": now,
            "modify_time": now,
            "objective_type": "PRODUCT_SALES",
            "secondary_status": "CAMPAIGN_STATUS_ENABLE",
            "roi_protection_compensation_status": "NOT_ELIGIBLE",
            "budget": Decimal(high) * 2,
            "roas_bid": Decimal("3.50"),
            "schedule_type": "SCHEDULE_FROM_NOW",
            "schedule_start_time": now,
            "schedule_end_time": "",
            "_items": [spu],
            "_posts": {spu: self.emu._next_id(7510)},
            "_deleted": False,
        }
        advertiser.campaigns[campaign_id] = campaign
        return campaign

    def add_ad_activity(
        self,
        account: Mapping[str, Any],
        *,
        day: date,
        sku: str,
        impressions: int,
        clicks: int,
        spend: str,
        orders: int,
        sales: str,
        keyword: str | None = None,
    ) -> str:
        """Advertising of ``sku`` on ``day``, added to the day's figures of its product in
        the product's campaign. GMV Max has no keyword targeting: ``keyword`` is ignored."""
        shop = self.emu.shop_of(account)
        campaign = self.campaign_for(shop, sku)
        spu = self._product(shop, sku)
        key = (campaign["campaign_id"], spu, campaign["_posts"][spu], day.isoformat())
        row = self.advertiser_of(shop).activity.setdefault(
            key, {"impressions": 0, "clicks": 0, "cost": Decimal(0), "orders": 0, "revenue": Decimal(0)}
        )
        row["impressions"] += int(impressions)
        row["clicks"] += int(clicks)
        row["cost"] += Decimal(str(spend))
        row["orders"] += int(orders)
        row["revenue"] += Decimal(str(sales))
        return str(campaign["campaign_id"])

    def revise_ad_activity(
        self, account: Mapping[str, Any], *, day: date, sku: str, orders: int, sales: str
    ) -> None:
        """The attribution moved on: ``sku``'s product's orders and sales on ``day`` are now these."""
        shop = self.emu.shop_of(account)
        spu = self._product(shop, sku)
        rows = [
            row
            for (_, item, _, when), row in sorted(self.advertiser_of(shop).activity.items())
            if item == spu and when == day.isoformat()
        ]
        if not rows:
            raise KeyError(f"no advertising of {sku!r} on {day}")
        for n, row in enumerate(rows):
            row["orders"] = int(orders) if n == 0 else 0
            row["revenue"] = Decimal(str(sales)) if n == 0 else Decimal(0)

    def add_traffic(
        self, account: Mapping[str, Any], *, day: date, sku: str, sessions: int, page_views: int
    ) -> None:
        """Visits to ``sku``'s product page on ``day`` (TikTok counts visits per product)."""
        shop = self.emu.shop_of(account)
        row = self.traffic.setdefault(
            (shop.shop_id, self._product(shop, sku), day.isoformat()), {"views": 0, "visitors": 0}
        )
        row["views"] += int(page_views)
        row["visitors"] += int(sessions)

    def pause(self, account: Mapping[str, Any], campaign_id: str, *, deleted: bool = False) -> None:
        """The seller turns a campaign off (or deletes it) in Ads Manager."""
        campaign = self.advertiser_of(self.emu.shop_of(account)).campaigns[campaign_id]
        campaign["operation_status"] = "DISABLE"
        campaign["secondary_status"] = "CAMPAIGN_STATUS_DELETE" if deleted else "CAMPAIGN_STATUS_DISABLE"
        campaign["_deleted"] = deleted

    def demo_seed(self, shop: Shop, rng: random.Random, days: int = 30) -> None:
        """``days`` days of advertising and visits (up to today) for every SKU of the shop."""
        account = {"shop_id": shop.shop_id}
        today = datetime.fromtimestamp(self.emu.clock(), UTC).date()
        low, high = shop.spec.prices
        quantum = Decimal(1).scaleb(-shop.spec.exponent)
        skus = [entry["sku"] for skus in shop.products.values() for entry in skus.values()]
        for sku in skus:
            price = Decimal(rng.randint(low, high))
            for back in range(days):
                day = today - timedelta(days=back)
                impressions = rng.randint(300, 4000)
                clicks = max(1, int(impressions * rng.uniform(0.01, 0.05)))
                orders = sum(1 for _ in range(clicks) if rng.random() < 0.06)
                cpc = price * Decimal(str(round(rng.uniform(0.008, 0.03), 4)))
                self.add_ad_activity(
                    account,
                    day=day,
                    sku=sku,
                    impressions=impressions,
                    clicks=clicks,
                    spend=str((cpc * clicks).quantize(quantum)),
                    orders=orders,
                    sales=str((price * orders).quantize(quantum)),
                )
                sessions = clicks + rng.randint(5, 60)
                self.add_traffic(
                    account,
                    day=day,
                    sku=sku,
                    sessions=sessions,
                    page_views=sessions + rng.randint(0, sessions),
                )

    # ------------------------------------------------------------------ envelope and checks

    def _ok(self, data: Any) -> Reply:
        return Reply(200, {"code": 0, "message": "OK", "request_id": self.emu._request_id(), "data": data})

    def _fail(self, code: int, message: str) -> Reply:
        return Reply(
            200, {"code": code, "message": message, "request_id": self.emu._request_id(), "data": {}}
        )

    def _token_holder(self, request: Request) -> list[Advertiser] | Reply:
        scripted = self.emu._scripted(request)
        if scripted is not None:
            return scripted
        token = request.headers.get("access-token", "")
        if not token:
            return self._fail(EMPTY_ACCESS_TOKEN, "Access-Token is missing from the request header.")
        held = [a for a in self.advertisers.values() if a.access_token == token]
        if not held:
            return self._fail(INVALID_ACCESS_TOKEN, "The access token is invalid or has been revoked.")
        return held

    def _advertiser(self, request: Request) -> Advertiser | Reply:
        held = self._token_holder(request)
        if isinstance(held, Reply):
            return held
        wanted = request.query.get("advertiser_id", "")
        if not wanted:
            return self._fail(PARAM_ERROR, "advertiser_id: Missing data for required field.")
        if not _ID.fullmatch(wanted):
            return self._fail(PARAM_ERROR, "advertiser_id: Not a valid number.")
        found = next((a for a in held if a.advertiser_id == wanted), None)
        if found is None:
            return self._fail(PERMISSION_ERROR, f"No permission to operate advertiser {wanted}.")
        return found

    def _json(self, request: Request, name: str, kind: type, *, required: bool = False) -> Any:
        """A JSON-valued query parameter; a Reply when it is missing (and required) or not
        of ``kind``; None when absent."""
        raw = request.query.get(name)
        if raw is None or raw == "":
            return self._fail(PARAM_ERROR, f"{name}: Missing data for required field.") if required else None
        try:
            value = json.loads(raw)
        except ValueError:
            return self._fail(PARAM_ERROR, f"{name}: Not a valid JSON {kind.__name__}.")
        if not isinstance(value, kind):
            return self._fail(PARAM_ERROR, f"{name}: Not a valid {kind.__name__}.")
        if isinstance(value, list) and not all(
            isinstance(v, str | int) and not isinstance(v, bool) for v in value
        ):
            return self._fail(PARAM_ERROR, f"{name}: Not a valid list of strings.")
        return value

    def _number(self, request: Request, name: str, default: int, low: int, high: int) -> int | Reply:
        raw = request.query.get(name)
        if raw is None:
            return default
        if not raw.isdigit() or not low <= int(raw) <= high:
            return self._fail(PARAM_ERROR, f"{name}: must be an integer in [{low}, {high}].")
        return int(raw)

    # ------------------------------------------------------------------ Marketing API

    async def advertiser_info(self, request: Request) -> Reply:
        held = self._token_holder(request)
        if isinstance(held, Reply):
            return held
        ids = self._json(request, "advertiser_ids", list, required=True)
        if isinstance(ids, Reply):
            return ids
        if not 1 <= len(ids) <= 100:
            return self._fail(PARAM_ERROR, "advertiser_ids: Length must be between 1 and 100.")
        fields = self._json(request, "fields", list)
        if isinstance(fields, Reply):
            return fields
        rows = []
        for wanted in (str(i) for i in ids):
            found = next((a for a in held if a.advertiser_id == wanted), None)
            if found is None:
                return self._fail(PERMISSION_ERROR, f"No permission to operate advertiser {wanted}.")
            row = {
                "advertiser_id": found.advertiser_id,
                "name": found.name,
                "currency": found.currency,
                "timezone": found.timezone,
                "display_timezone": "UTC",
                "status": "STATUS_ENABLE",
                "role": "ROLE_ADVERTISER",
            }
            rows.append({k: v for k, v in row.items() if not fields or k in fields})
        return self._ok({"list": rows})

    async def store_list(self, request: Request) -> Reply:
        advertiser = self._advertiser(request)
        if isinstance(advertiser, Reply):
            return advertiser
        stores = []
        for shop_id in advertiser.stores:
            shop = self.emu.shops[shop_id]
            stores.append(
                {
                    "store_id": shop.shop_id,
                    "store_name": shop.name,
                    "store_code": f"{shop.region}LC{shop.shop_id[-6:]}",
                    "store_status": "ACTIVE",
                    "store_role": "AD_PROMOTION",
                    "is_gmv_max_available": True,
                    "is_owner_bc": True,
                    "store_authorized_bc_id": advertiser.advertiser_id[::-1],
                    "targeting_region_codes": [shop.region],
                    "exclusive_authorized_advertiser_info": {
                        "advertiser_id": advertiser.advertiser_id,
                        "advertiser_name": advertiser.name,
                        "advertiser_status": "STATUS_ENABLE",
                    },
                }
            )
        return self._ok({"store_list": stores})

    async def campaign_get(self, request: Request) -> Reply:
        advertiser = self._advertiser(request)
        if isinstance(advertiser, Reply):
            return advertiser
        filtering = self._json(request, "filtering", dict, required=True)
        if isinstance(filtering, Reply):
            return filtering
        unknown = set(filtering) - CAMPAIGN_FILTERS
        if unknown:
            return self._fail(PARAM_ERROR, f"filtering: unknown field(s) {sorted(unknown)}.")
        types = filtering.get("gmv_max_promotion_types")
        if not isinstance(types, list) or not types:
            return self._fail(
                PARAM_ERROR, "filtering.gmv_max_promotion_types: Missing data for required field."
            )
        if not set(types) <= {"PRODUCT_GMV_MAX", "LIVE_GMV_MAX"}:
            return self._fail(PARAM_ERROR, "filtering.gmv_max_promotion_types: Invalid enum value.")
        for name, most in (("store_ids", 10), ("campaign_ids", 100)):
            value = filtering.get(name)
            if value is not None and (not isinstance(value, list) or len(value) > most):
                return self._fail(PARAM_ERROR, f"filtering.{name}: a list of at most {most} ids.")
        status = filtering.get("primary_status")
        if status is not None and status not in ("STATUS_DELIVERY_OK", "STATUS_DISABLE", "STATUS_DELETE"):
            return self._fail(PARAM_ERROR, "filtering.primary_status: Invalid enum value.")
        for name in ("creation_filter_start_time", "creation_filter_end_time"):
            if name in filtering and not _TIME.fullmatch(str(filtering[name])):
                return self._fail(PARAM_ERROR, f"filtering.{name}: use YYYY-MM-DD HH:MM:SS.")
        fields = self._json(request, "fields", list)
        if isinstance(fields, Reply):
            return fields
        if fields and not set(fields) <= set(CAMPAIGN_FIELDS):
            return self._fail(PARAM_ERROR, "fields: Invalid field.")
        page = self._number(request, "page", 1, 1, 10**6)
        size = self._number(request, "page_size", 10, 1, 100)
        if isinstance(page, Reply):
            return page
        if isinstance(size, Reply):
            return size
        rows = []
        for campaign in advertiser.campaigns.values():
            if "PRODUCT_GMV_MAX" not in types:  # the emulator runs no LIVE GMV Max campaigns
                continue
            if status == "STATUS_DELETE" and not campaign["_deleted"]:
                continue
            if status != "STATUS_DELETE" and campaign["_deleted"]:
                continue
            if status == "STATUS_DELIVERY_OK" and campaign["operation_status"] != "ENABLE":
                continue
            if status == "STATUS_DISABLE" and campaign["operation_status"] != "DISABLE":
                continue
            if filtering.get("store_ids") and advertiser.stores[0] not in [
                str(s) for s in filtering["store_ids"]
            ]:
                continue
            if filtering.get("campaign_ids") and campaign["campaign_id"] not in [
                str(c) for c in filtering["campaign_ids"]
            ]:
                continue
            if (
                filtering.get("campaign_name")
                and str(filtering["campaign_name"]) not in campaign["campaign_name"]
            ):
                continue
            row = {
                "advertiser_id": advertiser.advertiser_id,
                **{k: campaign.get(k) for k in CAMPAIGN_FIELDS[1:]},
            }
            rows.append({k: v for k, v in row.items() if not fields or k in fields})
        rows.sort(key=lambda r: (str(r.get("create_time", "")), str(r.get("campaign_id", ""))), reverse=True)
        return self._ok(
            {"list": rows[(page - 1) * size : page * size], "page_info": _page_info(page, size, len(rows))}
        )

    async def campaign_info(self, request: Request) -> Reply:
        advertiser = self._advertiser(request)
        if isinstance(advertiser, Reply):
            return advertiser
        campaign_id = request.query.get("campaign_id", "")
        if not campaign_id:
            return self._fail(PARAM_ERROR, "campaign_id: Missing data for required field.")
        campaign = advertiser.campaigns.get(campaign_id)
        if campaign is None:
            return self._fail(NOT_EXIST, f"Campaign {campaign_id} does not exist.")
        return self._ok(
            {
                "advertiser_id": advertiser.advertiser_id,
                "campaign_id": campaign_id,
                "campaign_name": campaign["campaign_name"],
                "operation_status": campaign["operation_status"],
                "store_id": advertiser.stores[0],
                "store_authorized_bc_id": advertiser.advertiser_id[::-1],
                "shopping_ads_type": "PRODUCT",
                "product_specific_type": "CUSTOMIZED_PRODUCTS",
                "item_group_ids": list(campaign["_items"]),
                "optimization_goal": "VALUE",
                "deep_bid_type": "VO_MIN_ROAS",
                "roas_bid": float(campaign["roas_bid"]),
                "budget": float(campaign["budget"]),
                "schedule_type": campaign["schedule_type"],
                "schedule_start_time": campaign["schedule_start_time"],
                "schedule_end_time": campaign["schedule_end_time"],
                "placements": ["PLACEMENT_TIKTOK"],
                "product_video_specific_type": "AUTO_SELECTION",
                "identity_list": [],
                "item_list": [],
            }
        )

    async def report(self, request: Request) -> Reply:
        advertiser = self._advertiser(request)
        if isinstance(advertiser, Reply):
            return advertiser
        stores = self._json(request, "store_ids", list, required=True)
        if isinstance(stores, Reply):
            return stores
        if len(stores) != 1:
            return self._fail(PARAM_ERROR, "store_ids: Length must be 1.")
        if str(stores[0]) not in advertiser.stores:
            return self._fail(
                PARAM_ERROR, f"store_ids: store {stores[0]} is not available to this ad account."
            )
        dates = _dates(request.query.get("start_date"), request.query.get("end_date"))
        if isinstance(dates, str):
            return self._fail(PARAM_ERROR, dates)
        start, end = dates
        dims = self._json(request, "dimensions", list, required=True)
        if isinstance(dims, Reply):
            return dims
        if not dims or len(set(dims)) != len(dims) or not set(dims) <= DIMENSIONS:
            return self._fail(PARAM_ERROR, "dimensions: Invalid dimension grouping.")
        grouping = frozenset(str(d) for d in dims)
        days = (end - start).days + 1
        if HOUR in grouping and days > 1:
            return self._fail(PARAM_ERROR, "With stat_time_hour the time range can be up to one day.")
        if DAY in grouping and days > 30:
            return self._fail(PARAM_ERROR, "With stat_time_day the time range can be up to 30 days.")
        if days > 365:
            return self._fail(PARAM_ERROR, "The time range can be up to 365 days.")
        metrics = self._json(request, "metrics", list, required=True)
        if isinstance(metrics, Reply):
            return metrics
        if not 1 <= len(metrics) <= 100:
            return self._fail(PARAM_ERROR, "metrics: Length must be between 1 and 100.")
        filtering = self._json(request, "filtering", dict)
        if isinstance(filtering, Reply):
            return filtering
        filtering = filtering or {}
        checked = _check_filters(filtering)
        if checked:
            return self._fail(PARAM_ERROR, checked)
        for flag in ("enable_total_metrics",):
            if request.query.get(flag, "false") not in ("true", "false"):
                return self._fail(PARAM_ERROR, f"{flag}: Not a valid boolean.")
        if request.query.get("sort_type", "DESC") not in ("ASC", "DESC"):
            return self._fail(PARAM_ERROR, "sort_type: Invalid enum value.")
        page = self._number(request, "page", 1, 1, 10**6)
        size = self._number(request, "page_size", 10, 1, 1000)
        if isinstance(page, Reply):
            return page
        if isinstance(size, Reply):
            return size
        if "room_id" in grouping or "duration" in grouping:
            return self._ok({"list": [], "page_info": _page_info(page, size, 0)})  # LIVE: none here
        level = GROUPINGS.get(grouping)
        if level is None:
            return self._fail(PARAM_ERROR, f"dimensions: {sorted(grouping)} is not a supported grouping.")
        wrong = [m for m in metrics if m not in METRICS[level]]
        if wrong:
            return self._fail(PARAM_ERROR, f"metrics: {wrong} cannot be queried at the {level} level.")
        if request.query.get("sort_field") and request.query["sort_field"] not in METRICS[level]:
            return self._fail(PARAM_ERROR, "sort_field: Invalid sorting field.")
        unsupported = set(filtering) - FILTERS[level]
        if unsupported:
            return self._fail(
                PARAM_ERROR, f"filtering: {sorted(unsupported)} not supported at the {level} level."
            )
        missing = [f for f in REQUIRED_FILTERS[level] if not filtering.get(f)]
        if missing:
            return self._fail(PARAM_ERROR, f"filtering.{missing[0]}: required at the {level} level.")
        ids_in_dims = len(grouping - {DAY, HOUR})
        several = any(len(filtering.get(f) or []) > 1 for f in ("campaign_ids", "item_group_ids"))
        attributes = set(metrics) & ATTRIBUTES[level]
        if level in ("product", "creative") and (several or ids_in_dims > 1) and attributes:
            return self._fail(
                PARAM_ERROR, "Attribute metrics are not available with several ids or ID dimensions."
            )
        if level == "creative":
            one = not several and ids_in_dims == 1
            if filtering.get("creative_types") and not one:
                return self._fail(PARAM_ERROR, "filtering.creative_types: not supported with several ids.")
            if filtering.get("creative_types") and filtering.get("creative_delivery_statuses"):
                return self._fail(
                    PARAM_ERROR, "creative_types cannot be used with creative_delivery_statuses."
                )
            if (
                one
                and not filtering.get("creative_types")
                and not filtering.get("creative_delivery_statuses")
            ):
                return self._fail(PARAM_ERROR, "filtering.creative_types: required for one SPU.")
        promotion = filtering.get("gmv_max_promotion_types") or ["PRODUCT", "LIVE"]
        if "PRODUCT" not in promotion:
            return self._ok({"list": [], "page_info": _page_info(page, size, 0)})
        rows = self._rows(advertiser, level, grouping, start, end, filtering)
        listed = [
            {"dimensions": dims_, "metrics": self._values(advertiser, level, dims_, totals, metrics)}
            for dims_, totals in rows
        ]
        chunk = listed[(page - 1) * size : page * size]
        if self.emu.faults.shuffle_pages:
            self.emu.rng.shuffle(chunk)
        data: dict[str, Any] = {"list": chunk, "page_info": _page_info(page, size, len(listed))}
        if request.query.get("enable_total_metrics") == "true":
            total = _sum([t for _, t in rows])
            data["total_metrics"] = {
                m: v
                for m, v in self._values(advertiser, level, {}, total, metrics).items()
                if m not in ATTRIBUTES[level]
            }
        return self._ok(data)

    def _rows(
        self,
        advertiser: Advertiser,
        level: str,
        grouping: frozenset[str],
        start: date,
        end: date,
        filtering: Mapping[str, Any],
    ) -> list[tuple[dict[str, str], dict[str, Any]]]:
        """Activity of the filtered campaigns, summed by the grouping's dimensions."""
        wanted = {str(c) for c in filtering.get("campaign_ids") or []}
        statuses = set(filtering.get("campaign_statuses") or [])
        items = {str(i) for i in filtering.get("item_group_ids") or []}
        groups: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
        for (campaign_id, spu, post, day), row in advertiser.activity.items():
            when = date.fromisoformat(day)
            campaign = advertiser.campaigns[campaign_id]
            if not start <= when <= end:
                continue
            if wanted and campaign_id not in wanted:
                continue
            if not wanted and "STATUS_ALL" not in statuses:
                status = (
                    "STATUS_DELETE"
                    if campaign["_deleted"]
                    else "STATUS_DELIVERY_OK"
                    if campaign["operation_status"] == "ENABLE"
                    else "STATUS_DISABLE"
                )
                if (statuses and status not in statuses) or (not statuses and status == "STATUS_DELETE"):
                    continue
            if items and spu not in items:
                continue
            values = {
                "advertiser_id": advertiser.advertiser_id,
                "campaign_id": campaign_id,
                "item_group_id": spu,
                "item_id": post,
                DAY: f"{day} 00:00:00",
                HOUR: f"{day} 00:00:00",
            }
            key = tuple(sorted((name, values[name]) for name in grouping))
            totals = groups.setdefault(key, _zero())
            for name in totals:
                totals[name] += row[name]
        rows = [(dict(key), totals) for key, totals in sorted(groups.items())]
        if level == "creative" and grouping == {"campaign_id", "item_group_id", "item_id", DAY}:
            rows = [(d, t) for d, t in rows if t["cost"] > 0]  # "only records with associated cost data"
        return rows

    def _values(
        self,
        advertiser: Advertiser,
        level: str,
        dims: Mapping[str, str],
        totals: Mapping[str, Any],
        metrics: Sequence[str],
    ) -> dict[str, str]:
        quantum = Decimal(1).scaleb(-advertiser.exponent)
        cost, revenue, orders = totals["cost"], totals["revenue"], totals["orders"]
        impressions, clicks = totals["impressions"], totals["clicks"]
        campaign = advertiser.campaigns.get(dims.get("campaign_id", ""), {})
        spu, post = dims.get("item_group_id", ""), dims.get("item_id", "")
        known: dict[str, str] = {
            "cost": str(cost.quantize(quantum)),
            "net_cost": str(cost.quantize(quantum)),
            "orders": str(orders),
            "gross_revenue": str(revenue.quantize(quantum)),
            "roi": _ratio(revenue, cost),
            "cost_per_order": str((cost / orders).quantize(quantum)) if orders else "0.00",
            "product_impressions": str(impressions),
            "product_clicks": str(clicks),
            "product_click_rate": _ratio(Decimal(clicks) * 100, Decimal(impressions)),
            "ad_click_rate": _ratio(Decimal(clicks) * 100, Decimal(impressions)),
            "ad_conversion_rate": _ratio(Decimal(orders) * 100, Decimal(clicks)),
            "campaign_id": str(campaign.get("campaign_id", "")),
            "campaign_name": str(campaign.get("campaign_name", "")),
            "operation_status": str(campaign.get("operation_status", "")),
            "schedule_type": "Continuously",
            "schedule_start_time": str(campaign.get("schedule_start_time", "")),
            "schedule_end_time": str(campaign.get("schedule_end_time", "")),
            "target_roi_budget": str(Decimal(campaign.get("budget", 0)).quantize(Decimal("0.01"))),
            "bid_type": "CUSTOM",
            "max_delivery_budget": "0.00",
            "roas_bid": str(campaign.get("roas_bid", "")),
            "item_group_id": spu,
            "product_name": f"Product {spu}",
            "product_image_url": f"https://p16-oec.tiktokcdn.example/product/{spu}.jpeg",
            "product_status": "available",
            "item_id": post,
            "title": f"Post {post}",
            "tt_account_name": "emulated.shop",
            "tt_account_profile_image_url": "https://p16-oec.tiktokcdn.example/avatar/shop.jpeg",
            "tt_account_authorization_type": "TTS_TT",
            "shop_content_type": "VIDEO",
            "creative_delivery_status": "DELIVERING",
        }
        return {m: known.get(m, "0.00") for m in metrics}

    # ------------------------------------------------------------------ Shop Analytics

    def _analytics_dates(self, request: Request) -> tuple[date, date] | Reply:
        try:
            first = _strict_day(request.query.get("start_date_ge"))
            after = _strict_day(request.query.get("end_date_lt"))
        except ValueError:
            first = after = None
        if first is None or after is None or first >= after:
            return self.emu._fail(
                ANALYTICS_INVALID, "invalid request params; detail: start time or end time is invalid."
            )
        return first, after

    def _analytics_common(self, request: Request, shop: Shop, *, granular: bool) -> Reply | None:
        q = request.query
        if granular and q.get("granularity", "ALL") not in ("ALL", "1D"):
            return self.emu._fail(
                ANALYTICS_INVALID, "invalid request params; detail: granularity is invalid."
            )
        if q.get("currency", "LOCAL") not in ("USD", "LOCAL"):
            return self.emu._fail(ANALYTICS_INVALID, "invalid request params; detail: currency is invalid.")
        if q.get("currency") == "USD" and shop.spec.currency != "USD":
            return self.emu._fail(
                ANALYTICS_INVALID, "invalid request params; detail: the emulator converts no currencies."
            )
        if q.get("with_comparison", "false") not in ("true", "false"):
            return self.emu._fail(
                ANALYTICS_INVALID, "invalid request params; detail: with_comparison is invalid."
            )
        return None

    def _today(self) -> date:
        return datetime.fromtimestamp(self.emu.clock(), UTC).date()

    def _day_figures(self, shop: Shop, product_id: str | None, day: date) -> dict[str, Any]:
        """A product's (or the shop's, product_id None) visits and sales on ``day``."""
        views = visitors = 0
        for (shop_id, product, when), row in self.traffic.items():
            if shop_id == shop.shop_id and when == day.isoformat() and product_id in (None, product):
                views += row["views"]
                visitors += row["visitors"]
        impressions = 0
        advertiser = self.advertiser_of(shop)
        for (_, spu, _, when), row in advertiser.activity.items():
            if when == day.isoformat() and product_id in (None, spu):
                impressions += row["impressions"]
        orders = units = 0
        gmv = Decimal(0)
        for order in self.emu.orders.values():
            if order["_shop_id"] != shop.shop_id or order["status"] in ("UNPAID", "CANCELLED"):
                continue
            if datetime.fromtimestamp(order["create_time"], UTC).date() != day:
                continue
            lines = [u for u in order["line_items"] if product_id in (None, u["product_id"])]
            if lines:
                orders += 1
                units += len(lines)
                gmv += sum((Decimal(u["sale_price"]) for u in lines), Decimal(0))
        return {
            "views": views,
            "visitors": visitors,
            "impressions": impressions + views,
            "orders": orders,
            "units": units,
            "gmv": gmv,
        }

    def _intervals(
        self,
        shop: Shop,
        product_id: str | None,
        first: date,
        after: date,
        granularity: str,
        *,
        shop_level: bool,
    ) -> list[dict[str, Any]]:
        last = min(after - timedelta(days=1), self._today())
        days = [first + timedelta(days=n) for n in range(max(0, (last - first).days + 1))]
        spans = (
            [(d, d + timedelta(days=1), [d]) for d in days] if granularity == "1D" else [(first, after, days)]
        )
        quantum = Decimal(1).scaleb(-shop.spec.exponent)
        found = []
        for span_start, span_end, span_days in spans:
            total: dict[str, Any] = {"views": 0, "visitors": 0, "impressions": 0, "orders": 0, "units": 0}
            total["gmv"] = Decimal(0)
            for figures in (self._day_figures(shop, product_id, d) for d in span_days):
                for name, value in figures.items():
                    total[name] += value
            visitors = total["visitors"] // max(1, len(span_days))  # average per day
            gmv = {"amount": str(Decimal(total["gmv"]).quantize(quantum)), "currency": shop.spec.currency}
            ctr = _ratio(Decimal(total["views"]), Decimal(total["impressions"]), 4)
            interval: dict[str, Any] = {
                "start_date": span_start.isoformat(),
                "end_date": span_end.isoformat(),
                "gmv": gmv,
                "orders": total["orders"],
                "units_sold": total["units"],
            }
            if shop_level:
                interval.update(
                    gmv_breakdowns=[{**gmv, "type": "PRODUCT_CARD"}],
                    sku_orders=total["units"],
                    buyers=total["orders"],
                    product_impressions=total["impressions"],
                    product_page_views=total["views"],
                    avg_product_page_visitors=visitors,
                )
            else:
                interval.update(
                    gmv_breakdowns=[{**gmv, "type": "PRODUCT_CARD"}],
                    unit_sold_breakdowns=[{"amount": total["units"], "type": "PRODUCT_CARD"}],
                    impressions=total["impressions"],
                    page_views=total["views"],
                    page_view_breakdowns=[{"amount": total["views"], "type": "PRODUCT_CARD"}],
                    avg_page_visitors=visitors,
                    click_through_rate=ctr,
                )
            found.append(interval)
        return found

    async def shop_performance(self, request: Request) -> Reply:
        shop = self.emu._check(request)
        if isinstance(shop, Reply):
            return shop
        dates = self._analytics_dates(request)
        if isinstance(dates, Reply):
            return dates
        bad = self._analytics_common(request, shop, granular=True)
        if bad is not None:
            return bad
        first, after = dates
        intervals = self._intervals(
            shop, None, first, after, request.query.get("granularity", "ALL"), shop_level=True
        )
        return self.emu._ok(
            {"performance": {"intervals": intervals}, "latest_available_date": self._today().isoformat()}
        )

    async def product_performance(self, request: Request) -> Reply:
        shop = self.emu._check(request)
        if isinstance(shop, Reply):
            return shop
        (product_id,) = request.args
        if product_id not in shop.products:
            return self.emu._fail(
                ANALYTICS_NO_PRODUCT,
                "can't find any related data; detail: Product not found. Please make sure the "
                "product_id you send belongs to a valid product under the current shop.",
            )
        dates = self._analytics_dates(request)
        if isinstance(dates, Reply):
            return dates
        bad = self._analytics_common(request, shop, granular=True)
        if bad is not None:
            return bad
        first, after = dates
        intervals = self._intervals(
            shop, product_id, first, after, request.query.get("granularity", "ALL"), shop_level=False
        )
        return self.emu._ok(
            {"performance": {"intervals": intervals}, "latest_available_date": self._today().isoformat()}
        )

    async def products_performance(self, request: Request) -> Reply:
        shop = self.emu._check(request)
        if isinstance(shop, Reply):
            return shop
        dates = self._analytics_dates(request)
        if isinstance(dates, Reply):
            return dates
        bad = self._analytics_common(request, shop, granular=False)
        if bad is not None:
            return bad
        q = request.query
        raw_size = q.get("page_size", "10")
        if not raw_size.isdigit() or not 1 <= int(raw_size) <= 100:
            return self.emu._fail(ANALYTICS_INVALID, "invalid request params; detail: page_size is invalid.")
        sort_field = q.get("sort_field", "gmv")
        if sort_field not in ("gmv", "order_count", "unit_sold_count", "click_through_rate"):
            return self.emu._fail(ANALYTICS_INVALID, "invalid request params; detail: sort_field is invalid.")
        if q.get("sort_order", "DESC") not in ("ASC", "DESC"):
            return self.emu._fail(ANALYTICS_INVALID, "invalid request params; detail: sort_order is invalid.")
        start = 0
        if q.get("page_token"):
            try:
                text = base64.b64decode(q["page_token"], validate=True).decode()
                start = (int(text.removeprefix("page_number=")) - 1) * int(raw_size)
            except ValueError:
                return self.emu._fail(
                    ANALYTICS_INVALID, "invalid request params; detail: page_token is invalid."
                )
        first, after = dates
        rows = []
        for product_id in shop.products:
            (total,) = self._intervals(shop, product_id, first, after, "ALL", shop_level=False)
            if total["page_views"] or total["orders"]:
                rows.append(
                    {
                        "id": product_id,
                        "gmv": total["gmv"],
                        "orders": total["orders"],
                        "units_sold": total["units_sold"],
                        "click_through_rate": total["click_through_rate"],
                    }
                )
        field_of = {"gmv": "gmv", "order_count": "orders", "unit_sold_count": "units_sold"}

        def sort_key(row: dict[str, Any]) -> tuple[Decimal, str]:
            if sort_field == "gmv":
                return Decimal(row["gmv"]["amount"]), str(row["id"])
            if sort_field == "click_through_rate":
                return Decimal(row["click_through_rate"]), str(row["id"])
            return Decimal(row[field_of[sort_field]]), str(row["id"])

        rows.sort(key=sort_key, reverse=q.get("sort_order", "DESC") == "DESC")
        size = int(raw_size)
        chunk = rows[start : start + size]
        following = ""
        if start + size < len(rows):
            following = base64.b64encode(f"page_number={start // size + 2}".encode()).decode()
        return self.emu._ok(
            {
                "products": chunk,
                "next_page_token": following,
                "total_count": len(rows),
                "latest_available_date": self._today().isoformat(),
            }
        )


# --------------------------------------------------------------------------- helpers


def _zero() -> dict[str, Any]:
    return {"impressions": 0, "clicks": 0, "cost": Decimal(0), "orders": 0, "revenue": Decimal(0)}


def _sum(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    total = _zero()
    for row in rows:
        for name in total:
            total[name] += row[name]
    return total


def _ratio(top: Decimal, bottom: Decimal, places: int = 2) -> str:
    quantum = Decimal(1).scaleb(-places)
    return str((top / bottom).quantize(quantum)) if bottom else str(Decimal(0).quantize(quantum))


def _page_info(page: int, size: int, total: int) -> dict[str, int]:
    return {"page": page, "page_size": size, "total_number": total, "total_page": -(-total // size)}


def _strict_day(value: str | None) -> date | None:
    if value is None or not _DATE.fullmatch(value):
        return None
    return date.fromisoformat(value)


def _dates(first: str | None, last: str | None) -> tuple[date, date] | str:
    """The report's inclusive ``start_date`` .. ``end_date``, or why not."""
    if not first or not last:
        return "start_date and end_date: Missing data for required field."
    try:
        start, end = _strict_day(first), _strict_day(last)
    except ValueError:
        start = end = None
    if start is None or end is None:
        return "start_date and end_date: use YYYY-MM-DD."
    if start > end:
        return "start_date must not be after end_date."
    return start, end


def _check_filters(filtering: Mapping[str, Any]) -> str | None:
    """Why ``filtering`` is not of the report's filtering object (None when it is)."""
    for name, value in filtering.items():
        if name in FILTER_TEXTS:
            if not isinstance(value, str):
                return f"filtering.{name}: Not a valid string."
            continue
        if name not in FILTER_LISTS:
            return f"filtering: unknown field {name!r}."
        most, allowed = FILTER_LISTS[name]
        if not isinstance(value, list) or not all(
            isinstance(v, str | int) and not isinstance(v, bool) for v in value
        ):
            return f"filtering.{name}: Not a valid list."
        if len(value) > most:
            return f"filtering.{name}: at most {most} values."
        if allowed is not None and not {str(v) for v in value} <= allowed:
            return f"filtering.{name}: Invalid enum value."
        if name in ("campaign_ids",) and not all(_ID.fullmatch(str(v)) for v in value):
            return f"filtering.{name}: Not a valid number."
    return None
