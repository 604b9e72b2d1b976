"""Advertising (GMV Max) and traffic (Shop Analytics) for TikTok Shop.

**Advertising.** TikTok Shop's product ads are GMV Max campaigns, run through TikTok API for
Business (the Marketing API, v1.3) on its own host, ``business-api.tiktok.com``, with its
own authorization: an advertiser's ``Access-Token`` header (no signature) and the
``advertiser_id`` of the ad account in the query. List and object parameters travel in the
query string as JSON (``dimensions=["campaign_id","stat_time_day"]``). Every answer is
``{code, message, request_id, data}``; ``code`` 0 is success.

* ``GET /open_api/v1.3/advertiser/info/`` (``advertiser_ids``): the ad account's currency.
* ``GET /open_api/v1.3/gmv_max/store/list/``: the TikTok Shops the ad account reaches
  (``store_list[].store_id``, ``is_gmv_max_available``); the connection's shop is
  ``ads_store_id`` (credentials), else its ``shop_id``, else the only available one.
* ``GET /open_api/v1.3/gmv_max/campaign/get/`` (``filtering={"gmv_max_promotion_types":
  ["PRODUCT_GMV_MAX"], "store_ids": [...]}``, ``page_size`` <= 100): the Product GMV Max
  campaigns (``campaign_id``, ``campaign_name``, ``operation_status`` ENABLE | DISABLE).
* ``GET /open_api/v1.3/campaign/gmv_max/info/`` (``campaign_id``): ``budget`` ("Daily
  budget"), ``schedule_type``, ``schedule_start_time`` / ``schedule_end_time`` (UTC).
* ``GET /open_api/v1.3/gmv_max/report/get/`` (synchronous; ``store_ids`` of one shop,
  ``start_date`` / ``end_date`` inclusive in the ad account's time zone, at most 30 days
  when ``stat_time_day`` is a dimension; ``page_size`` <= 1000 with ``page_info``):

  - campaign level: ``dimensions=["campaign_id","stat_time_day"]``, metrics ``cost``,
    ``orders``, ``gross_revenue``, ``filtering={"gmv_max_promotion_types": ["PRODUCT"],
    "campaign_statuses": ["STATUS_ALL"], "campaign_ids": [...]}`` (deleted campaigns too:
    the report leaves them out by default);
  - product level: ``["campaign_id","item_group_id","stat_time_day"]``, the same metrics,
    ``campaign_ids`` required (at most 100);
  - creative level, only for impressions and clicks (the product and campaign levels have
    none): ``["campaign_id","item_group_id","item_id","stat_time_day"]``, metrics
    ``product_impressions``, ``product_clicks``, ``campaign_ids`` and ``item_group_ids``
    (each at most 100) required; summed over the posts (``item_id``) of a product.

  A ``PRODUCT`` row is one product (``item_group_id``, TikTok's SPU id, carried as
  ``ad_group_id``) in one campaign and day: spend, orders (TikTok's "Orders (SKU)") and
  sales (``gross_revenue``) from the product level, impressions and clicks from its
  creatives. A ``CAMPAIGN`` row takes spend, orders and sales from the campaign level and
  impressions and clicks as the sum of the campaign's creatives. TikTok reports products,
  not their variants: ``sku`` is the product's seller SKU when it has one SKU (read with
  Get Product, ``skus[].seller_sku``, as the listings are), ``None`` when it has several.

  GMV Max reports are not built asynchronously: pages are always ready. The core's page
  token is ``{"ids", "w", "i", ...}`` (JSON): the first page lists the campaigns; every
  following one reads one chunk of :data:`CAMPAIGN_CHUNK` campaigns in one window of at
  most :data:`DAILY_DAYS` days.

**Traffic.** The TikTok Shop Analytics API (Partner API 202405, the shop API's host,
signing and ``shop_cipher``): ``GET /analytics/202405/shop/performance`` (``granularity=
1D``) for the shop's daily total (``product_page_views``, ``avg_product_page_visitors``,
``orders``, ``units_sold``, ``gmv``), ``GET /analytics/202405/shop_products/performance``
(the products with performance in the range, ``page_size`` <= 100, ``next_page_token``) and
``GET /analytics/202405/shop_products/{product_id}/performance`` (``granularity=1D``:
``page_views``, ``avg_page_visitors``, ``orders``, ``units_sold``, ``gmv`` per day) for
each product of one SKU. Sessions are the day's unique visitors (``avg_page_visitors`` of
a one-day interval). Days after ``latest_available_date`` are not ready and left out, as
are days without visits or sales.

Sources (mirrored TikTok references; URLs are TikTok's own):

* TikTok API for Business portal: "Run a GMV Max Campaign report" (doc 1824721673497601),
  "Metrics in GMV Max Campaign reports" (1824722485971009), "Get GMV Max Campaigns"
  (1826463372290177), "Get the details of a GMV Max Campaign" (1822000968821762), "Get
  TikTok Shops for GMV Max Campaigns" (1822001044479041), at
  ``https://business-api.tiktok.com/portal/docs?id=<doc>``.
* TikTok's own SDK ``tiktok/tiktok-business-api-sdk``: ``yml_files/gmv_max_report_get.yml``
  (parameters, enums, ``page_size`` <= 1000, ``Access-Token``),
  ``yml_files/campaign_gmv_max_info.yml``, ``yml_files/gmv_max_store_list.yml``,
  ``yml_files/advertiser_info.yml``; the return codes in
  ``python_sdk/business_api_client/tiktok_business/tiktok_code.py``; the ``Access-Token``
  header in ``python_sdk/business_api_client/api/*.py``.
* ``stat_time_day`` comes back as ``YYYY-MM-DD HH:MM:SS`` in captured answers (both forms
  are read).
* Shop Analytics: ``lazykern/ecommerce-api-docs`` ``data/raw/tiktok/api-reference/analytics/``
  (``get-shop-performance``, ``get-shop-product-performance-list``,
  ``get-shop-product-performance``): parameters, fields and the codes 28001022 / 28001007.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any, Protocol

import httpx

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
    TrafficMetric,
    TrafficPage,
    with_retries,
)

__all__ = [
    "ADS_HOST",
    "ADS_OPERATIONS",
    "ANALYTICS_OPERATIONS",
    "CAMPAIGN_CHUNK",
    "DAILY_DAYS",
    "AdsClient",
    "fetch_ads",
    "fetch_traffic",
]

log = logging.getLogger(__name__)

ADS_HOST = "https://business-api.tiktok.com"
API = "/open_api/v1.3"
ADVERTISER_INFO = f"{API}/advertiser/info/"
STORES = f"{API}/gmv_max/store/list/"
CAMPAIGNS = f"{API}/gmv_max/campaign/get/"
CAMPAIGN_INFO = f"{API}/campaign/gmv_max/info/"
REPORT = f"{API}/gmv_max/report/get/"
SHOP_PERFORMANCE = "/analytics/202405/shop/performance"
PRODUCTS_PERFORMANCE = "/analytics/202405/shop_products/performance"

#: rate-limit buckets of the Marketing API calls (``conn.throttle``)
ADS_OPERATIONS = ("ads.advertiser", "ads.stores", "ads.campaigns", "ads.campaign_info", "ads.report")
#: and of the Shop Analytics calls (shop API: 50 requests per second per API)
ANALYTICS_OPERATIONS = ("analytics.shop", "analytics.products", "analytics.product")

DAILY_DAYS = 30  # a report with stat_time_day covers at most 30 days
SUMMARY_DAYS = 365  # ... and without a time dimension at most 365
CAMPAIGN_CHUNK = 20  # campaigns read per page (the report filters take at most 100)
ID_FILTER_MAX = 100  # campaign_ids / item_group_ids per report call
REPORT_PAGE = 1000  # page_size maximum of the report
CAMPAIGN_PAGE = 100  # page_size maximum of the campaign list
PRODUCTS_PAGE = 20  # products per traffic page (the list takes up to 100; each costs a call)
MAX_REPORT_PAGES = 100  # a report of more pages than this is not a report of one chunk

# Marketing API return codes (tiktok_code.py of TikTok's SDK)
PERMISSION_ERROR = 40001
PARAM_ERROR = 40002
REQUEST_TOO_FREQUENT = 40100
ACCESS_TOKEN_EXPIRE = 40102
EMPTY_ACCESS_TOKEN = 40104
INVALID_ACCESS_TOKEN = 40105
REQUEST_FREQUENCY_LIMITED = 40132
#: "too many requests": retried after ``Retry-After`` (or :data:`THROTTLE_WAIT`)
THROTTLE_CODES = frozenset({REQUEST_TOO_FREQUENT, REQUEST_FREQUENCY_LIMITED})
THROTTLE_WAIT = 1.0  # seconds, when TikTok names no wait (its limits are per second and minute)
#: 5xxxx are TikTok's system errors (50000 system error, 50002 timeout, 51010 internal
#: timeout, ...): retried, never permanent
SYSTEM_ERRORS = range(50000, 60000)
TRY_AGAIN = "TRY_AGAIN"
#: a connection without an ad account's credentials has no advertising (an empty report)
ADS_CREDENTIALS = ("advertiser_id", "ads_access_token")
ANALYTICS_INVALID_DATES = "28001022"
ANALYTICS_NO_PRODUCT = "28001007"


class Shop(Protocol):
    """What the provider offers these functions."""

    async def _shop_call(
        self, conn: ChannelConnection, method: str, path: str, operation: str, **kwargs: Any
    ) -> dict[str, Any]: ...

    async def _seller_skus(self, conn: ChannelConnection, product_id: str) -> tuple[str, ...]: ...


Throttle = Callable[[str], Awaitable[None]]


class AdsClient:
    """Calls of TikTok API for Business: ``Access-Token`` header, JSON-valued query
    parameters, the ``{code, message, request_id, data}`` envelope."""

    def __init__(
        self, access_token: str, *, base_url: str | None, http: httpx.AsyncClient, throttle: Throttle
    ):
        self.access_token = access_token
        self.base_url = (base_url or ADS_HOST).rstrip("/")
        self.http = http
        self.throttle = throttle

    async def get(self, path: str, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        query = {
            key: json.dumps(value, separators=(",", ":")) if isinstance(value, list | dict) else str(value)
            for key, value in params.items()
            if value is not None
        }
        await self.throttle(operation)
        try:
            response = await self.http.get(
                self.base_url + path, params=query, headers={"Access-Token": self.access_token}
            )
        except httpx.TimeoutException as exc:
            raise ChannelError(f"tiktok ads {path} timed out", code="TIMEOUT", retryable=True) from exc
        except httpx.TransportError as exc:
            raise ChannelError(f"tiktok ads {path}: {exc}", code="NETWORK", retryable=True) from exc
        try:
            answer = response.json()
        except ValueError:
            answer = None
        code = answer.get("code") if isinstance(answer, dict) else None
        code = code if isinstance(code, int) and not isinstance(code, bool) else None
        if response.status_code == 429 or code in THROTTLE_CODES:
            raise ChannelError(
                "tiktok ads throttled the request",
                code="THROTTLED",
                retryable=True,
                retry_after=_seconds(response.headers.get("retry-after")) or THROTTLE_WAIT,
            )
        if response.status_code >= 500:
            raise ChannelError(
                f"tiktok ads {path}: HTTP {response.status_code}", code="SERVER_ERROR", retryable=True
            )
        if not isinstance(answer, dict) or code is None:
            raise ChannelError(
                f"tiktok ads {path} answered {response.status_code} without its JSON envelope",
                code="MALFORMED",
                retryable=True,
            )
        if code in SYSTEM_ERRORS:
            raise ChannelError(
                f"tiktok ads {path}: {code}: {answer.get('message')}", code=TRY_AGAIN, retryable=True
            )
        if code != 0:
            # 40104 / 40105 (no or an invalid token), 40102 (expired: the advertiser authorizes
            # the app again; API for Business has no refresh for it), 40001 (no permission
            # for the advertiser), 40002 (a parameter) ...: permanent
            raise ChannelError(f"tiktok ads {path}: {code}: {answer.get('message')}", code=str(code))
        data = answer.get("data")
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ChannelError(f"tiktok ads {path}: data is not an object", code="MALFORMED", retryable=True)
        return data


def ads_client(conn: ChannelConnection) -> AdsClient | None:
    """The connection's Marketing API client; None when it has no ad account."""
    creds = conn.credentials
    if not all(creds.get(key) for key in ADS_CREDENTIALS):
        return None
    return AdsClient(
        str(creds["ads_access_token"]),
        base_url=conn.settings.get("ads_base_url") or conn.base_url,
        http=conn.http_client(),
        throttle=conn.throttle,
    )


# --------------------------------------------------------------------------- advertising


async def fetch_ads(
    shop: Shop, conn: ChannelConnection, *, day_from: date, day_to: date, page_token: str | None
) -> AdReportPage:
    client = ads_client(conn)
    if client is None:
        log.info("tiktok connection %s has no ad account (advertiser_id, ads_access_token)", conn.id)
        return AdReportPage()
    if day_to < day_from:
        raise ChannelError(f"tiktok ads: {day_from} .. {day_to} is not a range of days", code="BAD_RANGE")
    advertiser = str(conn.credentials["advertiser_id"])
    if not page_token:
        return await _campaigns_page(client, conn, advertiser, day_from, day_to)
    try:
        state = json.loads(page_token)
        ids = [str(i) for i in state["ids"]]
        window, chunk = int(state["w"]), int(state["i"])
        store, currency = str(state["store"]), str(state["cur"])
        first, last = date.fromisoformat(state["from"]), date.fromisoformat(state["to"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ChannelError(
            f"tiktok: not an ads page token of this plugin: {page_token!r}", code="PAGE_TOKEN"
        ) from exc
    windows = _windows(first, last, DAILY_DAYS)
    if not 0 <= window < len(windows):
        raise ChannelError(f"tiktok: ads page token past its windows: {page_token!r}", code="PAGE_TOKEN")
    start, end = windows[window]
    campaigns = ids[chunk * CAMPAIGN_CHUNK : (chunk + 1) * CAMPAIGN_CHUNK]
    metrics = await _chunk_metrics(shop, client, conn, advertiser, store, currency, start, end, campaigns)
    if (chunk + 1) * CAMPAIGN_CHUNK < len(ids):
        state.update(i=chunk + 1)
    elif window + 1 < len(windows):
        state.update(w=window + 1, i=0)
    else:
        return AdReportPage(metrics=metrics)
    return AdReportPage(metrics=metrics, next_page_token=_token(state))


async def _campaigns_page(
    client: AdsClient, conn: ChannelConnection, advertiser: str, day_from: date, day_to: date
) -> AdReportPage:
    """The first page: the ad account's currency, its shop, the Product GMV Max campaigns
    (with their daily budgets), and those with activity in the days asked that the list
    no longer shows (deleted). No metrics yet."""
    info = await with_retries(
        partial(client.get, ADVERTISER_INFO, "ads.advertiser", {"advertiser_ids": [advertiser]})
    )
    account = next(
        (
            a
            for a in info.get("list") or []
            if isinstance(a, dict) and str(a.get("advertiser_id")) == advertiser
        ),
        None,
    )
    if account is None or not account.get("currency"):
        raise ChannelError(f"tiktok ads: advertiser {advertiser} not found", code="ADVERTISER_NOT_FOUND")
    currency = str(account["currency"])
    store = await _store(client, conn, advertiser)
    if store is None:
        return AdReportPage()
    listed: dict[str, dict[str, Any]] = {}
    page = 1
    while True:
        data = await with_retries(
            partial(
                client.get,
                CAMPAIGNS,
                "ads.campaigns",
                {
                    "advertiser_id": advertiser,
                    "filtering": {"gmv_max_promotion_types": ["PRODUCT_GMV_MAX"], "store_ids": [store]},
                    "page": page,
                    "page_size": CAMPAIGN_PAGE,
                },
            )
        )
        for row in data.get("list") or []:
            if isinstance(row, dict) and row.get("campaign_id"):
                listed.setdefault(str(row["campaign_id"]), row)
        if page >= _int((data.get("page_info") or {}).get("total_page")) or page >= MAX_REPORT_PAGES:
            break
        page += 1
    campaigns: list[AdCampaign] = []
    today = datetime.now(UTC)
    for campaign_id, row in listed.items():
        detail = await with_retries(
            partial(
                client.get,
                CAMPAIGN_INFO,
                "ads.campaign_info",
                {"advertiser_id": advertiser, "campaign_id": campaign_id},
            )
        )
        campaigns.append(_campaign(campaign_id, row, detail, currency, today))
    # campaigns with activity in these days: the deleted ones are no longer listed
    active: dict[str, dict[str, Any]] = {}
    for start, end in _windows(day_from, day_to, SUMMARY_DAYS):
        for row in await _report(
            client,
            advertiser,
            store,
            start,
            end,
            ["campaign_id"],
            ["campaign_name", "operation_status", "cost"],
            {"gmv_max_promotion_types": ["PRODUCT"], "campaign_statuses": ["STATUS_ALL"]},
        ):
            dims, values = row
            if dims.get("campaign_id"):
                active.setdefault(str(dims["campaign_id"]), values)
    for campaign_id, values in active.items():
        if campaign_id not in listed:
            name = str(values.get("campaign_name") or campaign_id)
            campaigns.append(AdCampaign(campaign_id, name, AdType.SPONSORED_PRODUCTS, AdState.ENDED))
    ids = sorted(set(listed) | set(active))
    if not ids:
        return AdReportPage(campaigns=campaigns)
    state = {
        "v": 1,
        "from": day_from.isoformat(),
        "to": day_to.isoformat(),
        "store": store,
        "cur": currency,
        "ids": ids,
        "w": 0,
        "i": 0,
    }
    return AdReportPage(campaigns=campaigns, next_page_token=_token(state))


async def _store(client: AdsClient, conn: ChannelConnection, advertiser: str) -> str | None:
    """The TikTok Shop of this connection among the ad account's GMV Max stores."""
    data = await with_retries(partial(client.get, STORES, "ads.stores", {"advertiser_id": advertiser}))
    stores = [s for s in data.get("store_list") or [] if isinstance(s, dict) and s.get("store_id")]
    wanted = conn.credentials.get("ads_store_id") or conn.credentials.get("shop_id")
    if wanted:
        found = [s for s in stores if str(s["store_id"]) == str(wanted)]
        if not found:
            raise ChannelError(
                f"tiktok ads: the ad account {advertiser} does not reach TikTok Shop {wanted}",
                code="ADS_STORE",
            )
        return str(wanted)
    available = [s for s in stores if s.get("is_gmv_max_available")]
    if not available:
        return None  # no shop of this ad account can run GMV Max: no product ads
    if len(available) > 1:
        raise ChannelError(
            f"tiktok ads: the ad account {advertiser} reaches {len(available)} TikTok Shops "
            "(set ads_store_id in the credentials)",
            code="ADS_STORE",
        )
    return str(available[0]["store_id"])


def _campaign(
    campaign_id: str, row: Mapping[str, Any], detail: Mapping[str, Any], currency: str, now: datetime
) -> AdCampaign:
    starts = _utc(detail.get("schedule_start_time"))
    ends = (
        _utc(detail.get("schedule_end_time")) if detail.get("schedule_type") == "SCHEDULE_START_END" else None
    )
    status = detail.get("operation_status") or row.get("operation_status")
    if str(row.get("secondary_status") or "").endswith("_DELETE") or (ends is not None and ends <= now):
        state = AdState.ENDED
    elif status == "ENABLE":
        state = AdState.ENABLED
    else:
        state = AdState.PAUSED
    budget = _decimal(detail.get("budget"))
    return AdCampaign(
        external_id=campaign_id,
        name=str(detail.get("campaign_name") or row.get("campaign_name") or campaign_id),
        ad_type=AdType.SPONSORED_PRODUCTS,
        state=state,
        daily_budget=Money(budget, currency) if budget else None,
        starts_on=starts.date() if starts else None,
        ends_on=ends.date() if ends else None,
    )


async def _chunk_metrics(
    shop: Shop,
    client: AdsClient,
    conn: ChannelConnection,
    advertiser: str,
    store: str,
    currency: str,
    start: date,
    end: date,
    campaigns: Sequence[str],
) -> list[AdMetric]:
    """CAMPAIGN and PRODUCT rows of these campaigns for ``start .. end``."""
    if not campaigns:
        return []
    money = ["cost", "orders", "gross_revenue"]
    by_campaign = _keyed(
        await _report(
            client,
            advertiser,
            store,
            start,
            end,
            ["campaign_id", "stat_time_day"],
            money,
            {
                "gmv_max_promotion_types": ["PRODUCT"],
                "campaign_ids": list(campaigns),
                "campaign_statuses": ["STATUS_ALL"],
            },
        ),
        ("campaign_id", "stat_time_day"),
    )
    by_product = _keyed(
        await _report(
            client,
            advertiser,
            store,
            start,
            end,
            ["campaign_id", "item_group_id", "stat_time_day"],
            money,
            {"campaign_ids": list(campaigns)},
        ),
        ("campaign_id", "item_group_id", "stat_time_day"),
    )
    items = sorted({key[1] for key in by_product})
    seen: dict[tuple[str, ...], dict[str, Any]] = {}
    for i in range(0, len(items), ID_FILTER_MAX):
        rows = await _report(
            client,
            advertiser,
            store,
            start,
            end,
            ["campaign_id", "item_group_id", "item_id", "stat_time_day"],
            ["product_impressions", "product_clicks"],
            {"campaign_ids": list(campaigns), "item_group_ids": items[i : i + ID_FILTER_MAX]},
        )
        seen.update(_keyed(rows, ("campaign_id", "item_group_id", "item_id", "stat_time_day")))
    reach: dict[tuple[str, ...], list[int]] = {}  # (campaign, item group, day) -> [impressions, clicks]
    for (campaign_id, item_group, _post, day), values in seen.items():
        for key in ((campaign_id, item_group, day), (campaign_id, "", day)):
            totals = reach.setdefault(key, [0, 0])
            totals[0] += _int(values.get("product_impressions"))
            totals[1] += _int(values.get("product_clicks"))
    metrics: list[AdMetric] = []
    for (campaign_id, day), values in sorted(by_campaign.items()):
        impressions, clicks = reach.get((campaign_id, "", day), [0, 0])
        metrics.append(_metric(AdLevel.CAMPAIGN, campaign_id, day, values, currency, impressions, clicks))
    for (campaign_id, item_group, day), values in sorted(by_product.items()):
        skus = await with_retries(partial(shop._seller_skus, conn, item_group))
        impressions, clicks = reach.get((campaign_id, item_group, day), [0, 0])
        metrics.append(
            _metric(
                AdLevel.PRODUCT,
                campaign_id,
                day,
                values,
                currency,
                impressions,
                clicks,
                ad_group_id=item_group,
                sku=skus[0] if len(skus) == 1 else None,
            )
        )
    return metrics


def _metric(
    level: AdLevel,
    campaign_id: str,
    day: str,
    values: Mapping[str, Any],
    currency: str,
    impressions: int,
    clicks: int,
    *,
    ad_group_id: str | None = None,
    sku: str | None = None,
) -> AdMetric:
    return AdMetric(
        level=level,
        day=_day(day),
        campaign_id=campaign_id,
        impressions=impressions,
        clicks=clicks,
        spend=Money(_decimal(values.get("cost")), currency),
        orders=_int(values.get("orders")),
        sales=Money(_decimal(values.get("gross_revenue")), currency),
        ad_group_id=ad_group_id,
        sku=sku,
    )


async def _report(
    client: AdsClient,
    advertiser: str,
    store: str,
    start: date,
    end: date,
    dimensions: Sequence[str],
    metrics: Sequence[str],
    filtering: Mapping[str, Any],
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Every page of one GMV Max report: (dimensions, metrics) per row."""
    rows: list[tuple[dict[str, Any], dict[str, Any]]] = []
    page = 1
    while True:
        data = await with_retries(
            partial(
                client.get,
                REPORT,
                "ads.report",
                {
                    "advertiser_id": advertiser,
                    "store_ids": [store],
                    "start_date": start.isoformat(),
                    "end_date": end.isoformat(),
                    "dimensions": list(dimensions),
                    "metrics": list(metrics),
                    "filtering": dict(filtering),
                    "page": page,
                    "page_size": REPORT_PAGE,
                },
            )
        )
        for row in data.get("list") or []:
            if isinstance(row, dict):
                dims, values = row.get("dimensions"), row.get("metrics")
                if isinstance(dims, dict) and isinstance(values, dict):
                    rows.append((dims, values))
        total = _int((data.get("page_info") or {}).get("total_page"))
        if page >= total or page >= MAX_REPORT_PAGES:
            return rows
        page += 1


def _keyed(
    rows: Sequence[tuple[dict[str, Any], dict[str, Any]]], names: Sequence[str]
) -> dict[tuple[str, ...], dict[str, Any]]:
    """Rows by their dimensions (a row served twice counts once); days as ``YYYY-MM-DD``."""
    keyed: dict[tuple[str, ...], dict[str, Any]] = {}
    for dims, values in rows:
        key = tuple(str(dims.get(name) or "") for name in names)
        if all(key):
            day_at = list(names).index("stat_time_day")
            keyed[(*key[:day_at], _day(key[day_at]).isoformat(), *key[day_at + 1 :])] = values
    return keyed


# --------------------------------------------------------------------------- traffic


async def fetch_traffic(
    shop: Shop, conn: ChannelConnection, *, day_from: date, day_to: date, page_token: str | None
) -> TrafficPage:
    if day_to < day_from:
        raise ChannelError(
            f"tiktok analytics: {day_from} .. {day_to} is not a range of days", code="BAD_RANGE"
        )
    if page_token:
        try:
            state = json.loads(page_token)
            first, last = date.fromisoformat(state["from"]), date.fromisoformat(state["to"])
            tiktok_token = str(state["page"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ChannelError(
                f"tiktok: not a traffic page token of this plugin: {page_token!r}", code="PAGE_TOKEN"
            ) from exc
    else:
        first, last, tiktok_token = day_from, day_to, ""
    dates = {"start_date_ge": first.isoformat(), "end_date_lt": (last + timedelta(days=1)).isoformat()}
    metrics: list[TrafficMetric] = []
    if not page_token:
        data = await shop._shop_call(
            conn,
            "GET",
            SHOP_PERFORMANCE,
            "analytics.shop",
            params={**dates, "granularity": "1D", "currency": "LOCAL"},
        )
        ready = data.get("latest_available_date")
        for interval in (data.get("performance") or {}).get("intervals") or []:
            row = _traffic(interval, ready, None, "product_page_views", "avg_product_page_visitors")
            if row is not None:
                metrics.append(row)
    params: dict[str, Any] = {**dates, "page_size": PRODUCTS_PAGE, "currency": "LOCAL"}
    if tiktok_token:
        params["page_token"] = tiktok_token
    listed = await shop._shop_call(conn, "GET", PRODUCTS_PERFORMANCE, "analytics.products", params=params)
    for product in listed.get("products") or []:
        product_id = str(product.get("id") or "") if isinstance(product, dict) else ""
        if not product_id:
            continue
        skus = await with_retries(partial(shop._seller_skus, conn, product_id))
        if len(skus) != 1:
            continue  # TikTok counts visits per product: a product of several SKUs cannot be split
        data = await with_retries(
            partial(
                shop._shop_call,
                conn,
                "GET",
                f"/analytics/202405/shop_products/{product_id}/performance",
                "analytics.product",
                params={**dates, "granularity": "1D", "currency": "LOCAL"},
            )
        )
        ready = data.get("latest_available_date")
        for interval in (data.get("performance") or {}).get("intervals") or []:
            row = _traffic(interval, ready, skus[0], "page_views", "avg_page_visitors")
            if row is not None:
                metrics.append(row)
    following = str(listed.get("next_page_token") or "")
    if not following:
        return TrafficPage(metrics=metrics)
    token = json.dumps(
        {"from": first.isoformat(), "to": last.isoformat(), "page": following},
        sort_keys=True,
        separators=(",", ":"),
    )
    return TrafficPage(metrics=metrics, next_page_token=token)


def _traffic(interval: Any, ready: Any, sku: str | None, views: str, visitors: str) -> TrafficMetric | None:
    """One day's interval (``granularity=1D``); None for a day TikTok has no data for yet,
    and for a day of no visits and no sales."""
    if not isinstance(interval, dict) or not interval.get("start_date"):
        return None
    day = date.fromisoformat(str(interval["start_date"])[:10])
    if ready and day > date.fromisoformat(str(ready)[:10]):
        return None
    gmv = interval.get("gmv") or {}
    sales = Money(_decimal(gmv.get("amount")), str(gmv["currency"])) if gmv.get("currency") else None
    if not any(_int(interval.get(k)) for k in (views, visitors, "orders", "units_sold")) and not (
        sales and sales.amount
    ):
        return None  # a day without visits or sales: no row (absent is zero)
    return TrafficMetric(
        day=day,
        sessions=_int(interval.get(visitors)),
        page_views=_int(interval.get(views)),
        sku=sku,
        units_ordered=_int(interval.get("units_sold")),
        orders=_int(interval.get("orders")),
        sales=sales,
    )


# --------------------------------------------------------------------------- helpers


def _windows(first: date, last: date, days: int) -> list[tuple[date, date]]:
    """``first .. last`` cut into windows of at most ``days`` days (inclusive bounds)."""
    found = []
    start = first
    while start <= last:
        end = min(last, start + timedelta(days=days - 1))
        found.append((start, end))
        start = end + timedelta(days=1)
    return found


def _token(state: Mapping[str, Any]) -> str:
    return json.dumps(dict(state), sort_keys=True, separators=(",", ":"))


def _day(value: str) -> date:
    """``stat_time_day``: ``YYYY-MM-DD`` or ``YYYY-MM-DD HH:MM:SS``."""
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise ChannelError(f"tiktok ads: {value!r} is not a day", code="MALFORMED", retryable=True) from exc


def _utc(value: Any) -> datetime | None:
    """``YYYY-MM-DD HH:MM:SS`` (UTC+0) as an aware time."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)
    except ValueError:
        return None


def _decimal(value: Any) -> Decimal:
    if value in (None, "", "-"):
        return Decimal(0)
    try:
        found = Decimal(str(value))
    except InvalidOperation as exc:
        raise ChannelError(f"tiktok: {value!r} is not an amount", code="MALFORMED", retryable=True) from exc
    if not found.is_finite():
        raise ChannelError(f"tiktok: {value!r} is not an amount", code="MALFORMED", retryable=True)
    return found


def _int(value: Any) -> int:
    if value in (None, "", "-"):
        return 0
    try:
        return int(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return 0


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
