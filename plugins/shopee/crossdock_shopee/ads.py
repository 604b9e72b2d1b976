"""Shopee Ads (Open Platform v2, module "Ads") in Crossdock's terms: the shop's
product-level campaigns and their daily performance (``ads.read``).

Calls, all shop-level GETs signed like the plugin's other shop calls:

- ``v2.ads.get_product_level_campaign_id_list`` (``ad_type``, ``offset``, ``limit``;
  ``has_next_page``): the shop's product campaigns, a page of :data:`CAMPAIGN_PAGE`;
- ``v2.ads.get_product_level_campaign_setting_info`` (``info_type_list`` 1 = common info,
  ``campaign_id_list`` "max 100 campaign ids"): name, ``campaign_status``,
  ``campaign_placement``, ``campaign_budget`` ("if the campaign budget = 0, it means the
  budget set for this campaign is unlimited"), duration, ``item_id_list`` ("If the campaign
  is using manual product selection, it has exactly one");
- ``v2.ads.get_product_campaign_daily_performance`` (``start_date``/``end_date``
  DD-MM-YYYY, ``campaign_id_list`` "max 100"): per campaign and day ``impression``,
  ``clicks``, ``expense``, ``direct_order``, ``direct_order_amount``, ``direct_gmv`` (and the
  ``broad_*`` figures). Its error_list bounds the dates: a range at most a month
  (``ads.performance.error_date_range_too_long``), not before six months ago
  (``..error_date_too_old``), not after today (``..error_date_in_future``), start before
  end (``..error_start_later_than_end``) and not equal to it
  (``..error_same_start_end_dates``: "For single date's hourly performance data, please
  query hourly api");
- ``v2.product.get_item_base_info`` (``item_sku``, ``has_model``; 50 items a call) and
  ``v2.product.get_model_list`` (``model_sku``): the seller's SKU of an advertised item.

Sources: the API reference JSON mirrored in ``congminh1254/shopee-sdk``
(``schemas/v2.ads.get_product_level_campaign_id_list.json``,
``v2.ads.get_product_level_campaign_setting_info.json``,
``v2.ads.get_product_campaign_daily_performance.json``,
``v2.ads.get_all_cpc_ads_daily_performance.json``, ``v2.product.get_item_base_info.json``)
and Shopee's "Shopee On-Platform Ads API guide" as mirrored in ``lazykern/ecommerce-api-docs``
(``data/processed/shopee/guides/api-best-practices/shopee-on-platform-ads-api-guide.md``).

Attribution: Crossdock takes the **direct** figures (``direct_order``,
``direct_order_amount``, ``direct_gmv``: "shoppers purchased the advertised product within
7 days of them clicking on the ad"), not the broad ones ("purchased any product from your
shop"): a row's sales are then sales of what the row advertised, a PRODUCT row's figures
belong to its SKU, and one order is never claimed by the ads of several products at once.
Seller Centre's headline "Conversions" and "GMV" are the broad figures; its "Direct
Conversions" are these (``get_all_cpc_ads_daily_performance``: "the direct_order in the API
reflected to Seller Center - Shopee Ads Module FE is Direct Conversions").
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crossdock import (
    AdCampaign,
    AdLevel,
    AdMetric,
    AdReportPage,
    AdState,
    AdType,
    ChannelConnection,
    ChannelError,
    Money,
    with_retries,
)

if TYPE_CHECKING:
    from crossdock_shopee.marketplace import ShopeeMarketplace

__all__ = [
    "CAMPAIGN_PAGE",
    "DATE_FORMAT",
    "SITE_ZONES",
    "SPAN_DAYS",
    "AdsReport",
    "campaign_state",
    "campaign_type",
    "local_today",
    "months_before",
    "shopee_date",
    "windows",
]

CAMPAIGN_LIST = "/api/v2/ads/get_product_level_campaign_id_list"
SETTING_INFO = "/api/v2/ads/get_product_level_campaign_setting_info"
DAILY_PERFORMANCE = "/api/v2/ads/get_product_campaign_daily_performance"
ITEM_BASE_INFO = "/api/v2/product/get_item_base_info"
MODEL_LIST = "/api/v2/product/get_model_list"

#: campaigns a page: the setting and performance calls take "max 100" campaign ids
CAMPAIGN_PAGE = 100
ITEM_BATCH = 50  # get_item_base_info item_id_list "limit [0,50]"
DATE_FORMAT = "%d-%m-%Y"  # "17-03-2021"
#: days one performance call covers: "Date range can't be longer than 1 month", so four
#: weeks, which no month is shorter than
SPAN_DAYS = 28
#: how far back a date may be ("The date can't be earlier than 6 months ago"); one day is
#: kept in hand for the shop's clock and ours
HISTORY_MONTHS = 6

#: the markets' time zones: a performance ``date`` is the shop's own day (UNCONFIRMED: the
#: reference does not name the zone; Seller Centre shows the market's local dates)
SITE_ZONES = {
    "SG": "Asia/Singapore",
    "MY": "Asia/Kuala_Lumpur",
    "TH": "Asia/Bangkok",
    "PH": "Asia/Manila",
    "VN": "Asia/Ho_Chi_Minh",
    "ID": "Asia/Jakarta",
    "TW": "Asia/Taipei",
    "BR": "America/Sao_Paulo",
    "MX": "America/Mexico_City",
    "CO": "America/Bogota",
    "CL": "America/Santiago",
}

#: common_info.campaign_status ("ongoing, scheduled, ended, paused, deleted, closed")
STATES = {
    "ongoing": AdState.ENABLED,
    "scheduled": AdState.ENABLED,  # on, waiting for its start date
    "paused": AdState.PAUSED,
    "ended": AdState.ENDED,
    "deleted": AdState.ENDED,
    "closed": AdState.ENDED,
}
#: common_info.campaign_placement ("search, discovery, all")
PLACEMENTS = {
    "search": AdType.SEARCH,
    "discovery": AdType.DISCOVERY,
    "all": AdType.SPONSORED_PRODUCTS,
}


def _zone(site: str) -> ZoneInfo:
    try:
        return ZoneInfo(SITE_ZONES.get(site.upper(), "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_today(site: str, now: float | None = None) -> date:
    """Today in the shop's market."""
    return datetime.fromtimestamp(time.time() if now is None else now, _zone(site)).date()


def local_day(site: str, epoch: int) -> date:
    return datetime.fromtimestamp(epoch, UTC).astimezone(_zone(site)).date()


def months_before(day: date, months: int) -> date:
    """The same day ``months`` calendar months earlier (the month's last day when it is
    shorter)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    following = date(year + (month == 12), month % 12 + 1, 1)
    return date(year, month, min(day.day, (following - timedelta(days=1)).day))


def shopee_date(day: date) -> str:
    return day.strftime(DATE_FORMAT)


def _parse_date(value: Any) -> date | None:
    try:
        return datetime.strptime(str(value), DATE_FORMAT).date()
    except ValueError:
        return None


def windows(lo: date, hi: date, oldest: date, today: date) -> list[tuple[date, date, date, date]]:
    """The performance calls covering ``lo..hi``: ``(start_date, end_date, keep_from,
    keep_to)``. A call spans at most :data:`SPAN_DAYS`; Shopee refuses a start equal to the
    end, so a single day is asked together with the day before (or after, at the oldest
    date Shopee keeps) and only the day itself is kept."""
    found: list[tuple[date, date, date, date]] = []
    start = lo
    while start <= hi:
        end = min(start + timedelta(days=SPAN_DAYS - 1), hi)
        ask_from, ask_to = start, end
        if ask_from == ask_to:
            if ask_from - timedelta(days=1) >= oldest:
                ask_from -= timedelta(days=1)
            elif ask_to + timedelta(days=1) <= today:
                ask_to += timedelta(days=1)
            else:  # a window of one day that is both the oldest and today: none
                start = end + timedelta(days=1)
                continue
        found.append((ask_from, ask_to, start, end))
        start = end + timedelta(days=1)
    return found


def campaign_state(status: Any) -> AdState:
    return STATES.get(str(status or "").lower(), AdState.PAUSED)


def campaign_type(placement: Any) -> AdType:
    return PLACEMENTS.get(str(placement or "").lower(), AdType.SPONSORED_PRODUCTS)


def _fingerprint(ids: Sequence[int]) -> str:
    return hashlib.sha256(",".join(map(str, sorted(ids))).encode()).hexdigest()[:16]


class AdsReport:
    """One page of the shop's advertising report: up to :data:`CAMPAIGN_PAGE` campaigns,
    their settings and their days from ``day_from`` to ``day_to``.

    The page token is the campaign list's offset (Shopee pages it by ``offset``/``limit``
    with only ``has_next_page``) and a fingerprint of the page before it: a page served
    again instead of the next one is recognised and asked for again, not taken for the
    next one (which would skip its campaigns)."""

    def __init__(self, provider: ShopeeMarketplace) -> None:
        self.provider = provider

    async def _get(self, conn: ChannelConnection, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        # each call of the page retried in place: the core retries whole pages, which
        # alone would make a page of several calls all-or-nothing under throttling
        return await with_retries(partial(self.provider._shop_call, conn, "GET", path, params=dict(params)))

    async def page(
        self, conn: ChannelConnection, day_from: date, day_to: date, token: str | None
    ) -> AdReportPage:
        if conn.settings.get("ads_read") is False:  # an app without the Ads permission
            return AdReportPage()
        state: dict[str, Any] = json.loads(token) if token else {"offset": 0, "previous": None}
        offset = int(state["offset"])
        ids, more = await self._campaign_ids(conn, offset, state.get("previous"))
        if not ids:
            return AdReportPage()
        settings = await self._settings(conn, ids)
        single = {
            cid: int(items[0])
            for cid, info in settings.items()
            if len(items := list(info.get("item_id_list") or [])) == 1
        }
        skus = await self._skus(conn, sorted(set(single.values())))
        campaigns = {cid: self._campaign(conn, cid, info) for cid, info in settings.items()}
        metrics: list[AdMetric] = []
        today = local_today(conn.site)
        oldest = months_before(today, HISTORY_MONTHS) + timedelta(days=1)
        lo, hi = max(day_from, oldest), min(day_to, today)
        for ask_from, ask_to, keep_from, keep_to in windows(lo, hi, oldest, today) if lo <= hi else []:
            answer = await self._get(
                conn,
                DAILY_PERFORMANCE,
                {
                    "start_date": shopee_date(ask_from),
                    "end_date": shopee_date(ask_to),
                    "campaign_id_list": ",".join(map(str, ids)),
                },
            )
            shops = [s for s in answer.get("response") or [] if isinstance(s, Mapping)]
            for row in (row for shop in shops for row in shop.get("campaign_list") or []):
                cid = int(row["campaign_id"])
                if cid not in campaigns:
                    # listed but without settings (deleted meanwhile): what the
                    # performance row says of it
                    campaigns[cid] = AdCampaign(
                        external_id=str(cid),
                        name=str(row.get("ad_name") or cid),
                        ad_type=campaign_type(row.get("campaign_placement")),
                        state=AdState.ENDED,
                    )
                sku = skus.get(single[cid]) if cid in single else None
                for day_row in row.get("metrics_list") or []:
                    metrics.extend(self._rows(conn, cid, sku, day_row, keep_from, keep_to))
        following = None
        if more:
            following = json.dumps({"offset": offset + CAMPAIGN_PAGE, "previous": _fingerprint(ids)})
        return AdReportPage(metrics=metrics, campaigns=list(campaigns.values()), next_page_token=following)

    async def _campaign_ids(
        self, conn: ChannelConnection, offset: int, previous: str | None
    ) -> tuple[list[int], bool]:
        """The campaign ids at ``offset`` (each once) and whether more follow."""
        for _ in range(4):
            answer = await self._get(
                conn, CAMPAIGN_LIST, {"ad_type": "all", "offset": offset, "limit": CAMPAIGN_PAGE}
            )
            response = answer.get("response") or {}
            ids = list(dict.fromkeys(int(c["campaign_id"]) for c in response.get("campaign_list") or []))
            if previous is None or not ids or _fingerprint(ids) != previous:
                return ids, bool(response.get("has_next_page"))
        raise ChannelError(
            f"shopee {CAMPAIGN_LIST} keeps answering the page before offset {offset}",
            code="DUPLICATE_PAGE",
            retryable=True,
        )

    async def _settings(self, conn: ChannelConnection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        answer = await self._get(
            conn, SETTING_INFO, {"info_type_list": "1", "campaign_id_list": ",".join(map(str, ids))}
        )
        found: dict[int, dict[str, Any]] = {}
        for row in (answer.get("response") or {}).get("campaign_list") or []:
            if isinstance(row, Mapping) and isinstance(row.get("common_info"), Mapping):
                found[int(row["campaign_id"])] = dict(row["common_info"])
        return found

    def _campaign(self, conn: ChannelConnection, cid: int, info: Mapping[str, Any]) -> AdCampaign:
        budget = Decimal(str(info.get("campaign_budget") or 0))
        duration = info.get("campaign_duration") or {}
        start, end = int(duration.get("start_time") or 0), int(duration.get("end_time") or 0)
        return AdCampaign(
            external_id=str(cid),
            name=str(info.get("ad_name") or cid),
            ad_type=campaign_type(info.get("campaign_placement")),
            state=campaign_state(info.get("campaign_status")),
            # 0 is "unlimited"; UNCONFIRMED that the one budget Shopee states is a daily one
            daily_budget=Money(budget, conn.currency) if budget > 0 else None,
            starts_on=local_day(conn.site, start) if start else None,
            ends_on=local_day(conn.site, end) if end else None,  # "if it's unlimited ... 0"
        )

    async def _skus(self, conn: ChannelConnection, item_ids: Sequence[int]) -> dict[int, str]:
        """The seller's SKU of each item: ``item_sku`` for an item without variations; for
        one with models the model's ``model_sku`` when it has one model, else the item's
        parent SKU (``item_sku``, "sometimes called parent SKU") when the seller set one.
        Shopee reports ads per item, so an item of several models and no parent SKU has no
        one SKU to name (its campaign keeps its CAMPAIGN rows)."""
        found: dict[int, str] = {}
        for i in range(0, len(item_ids), ITEM_BATCH):
            batch = item_ids[i : i + ITEM_BATCH]
            answer = await self._get(conn, ITEM_BASE_INFO, {"item_id_list": ",".join(map(str, batch))})
            for item in (answer.get("response") or {}).get("item_list") or []:
                item_id, parent = int(item["item_id"]), str(item.get("item_sku") or "")
                if item.get("has_model"):
                    listed = await self._get(conn, MODEL_LIST, {"item_id": item_id})
                    models = (listed.get("response") or {}).get("model") or []
                    if len(models) == 1 and models[0].get("model_sku"):
                        found[item_id] = str(models[0]["model_sku"])
                    elif parent:
                        found[item_id] = parent
                elif parent:
                    found[item_id] = parent
        return found

    def _rows(
        self,
        conn: ChannelConnection,
        cid: int,
        sku: str | None,
        row: Mapping[str, Any],
        keep_from: date,
        keep_to: date,
    ) -> list[AdMetric]:
        day = _parse_date(row.get("date"))
        if day is None or not keep_from <= day <= keep_to:
            return []
        impressions, clicks = int(row.get("impression") or 0), int(row.get("clicks") or 0)
        orders, units = int(row.get("direct_order") or 0), int(row.get("direct_order_amount") or 0)
        spend = _money(row.get("expense"), conn.currency)
        sales = _money(row.get("direct_gmv"), conn.currency)
        if not (impressions or clicks or orders or units or spend.amount or sales.amount):
            return []  # a day the campaign did nothing
        return [
            AdMetric(
                level=level,
                day=day,
                campaign_id=str(cid),
                impressions=impressions,
                clicks=clicks,
                spend=spend,
                orders=orders,
                units=units,
                sales=sales,
                sku=sku if level is AdLevel.PRODUCT else None,
            )
            for level in (AdLevel.CAMPAIGN, AdLevel.PRODUCT)
            if level is AdLevel.CAMPAIGN or sku is not None
        ]


def _money(value: Any, currency: str) -> Money:
    return Money(Decimal(str(value or 0)), currency)
