"""Advertising: the Amazon Ads API v3 for Sponsored Products (``ads.read``).

The Ads API is a separate service from the Selling Partner API: its own regional hosts
(``https://advertising-api.amazon.com`` NA, ``-eu`` EU, ``-fe`` FE: Ads docs "API overview",
reference/api-overview.md), its own Login with Amazon refresh token (granted with the scope
``advertising::campaign_management`` to the same LWA application; the token endpoint is
regional: api.amazon.com, api.amazon.co.uk, api.amazon.co.jp, Ads docs "Generate access and
refresh tokens"), and every call names the advertiser's marketplace account by its profile
id in ``Amazon-Advertising-API-Scope``, with the LWA client id in
``Amazon-Advertising-API-ClientId`` and the access token as ``Authorization: Bearer``
(Ads docs "Get started with version 3 reports", "Profiles").

What this module reads:

- **Campaigns**: ``POST /sp/campaigns/list`` with ``Content-Type`` and ``Accept``
  ``application/vnd.spCampaign.v3+json``, body ``stateFilter.include``, ``maxResults``,
  ``nextToken``; the answer's ``campaigns`` (``campaignId`` a string, ``name``, ``state``
  ENABLED / PAUSED / ARCHIVED / ENABLING / USER_DELETED / OTHER, ``budget.budget`` /
  ``budget.budgetType`` DAILY, ``startDate``, ``endDate``) and ``nextToken``
  (python-amazon-ad-api ``ad_api/api/sp/campaigns_v3.py``; the Sponsored Products v3 model as
  generated in vancodocton/AmazonAdsGenerated ``SponsoredProductsEntityState``,
  ``SponsoredProductsListSponsoredProductsCampaignsRequestContent``).
- **Daily metrics**: asynchronous reports, Reporting v3. ``POST /reporting/reports``
  (``Content-Type: application/vnd.createasyncreportrequest.v3+json``) with ``startDate``,
  ``endDate`` and a ``configuration`` (``adProduct`` SPONSORED_PRODUCTS, ``reportTypeId``,
  ``groupBy``, ``columns``, ``timeUnit`` DAILY, ``format`` GZIP_JSON); then
  ``GET /reporting/reports/{reportId}`` until ``status`` COMPLETED (PENDING, PROCESSING;
  FAILED with a ``failureReason``), whose ``url`` is a pre-signed S3 link to a gzipped JSON
  array of rows (Ads docs "Get started with version 3 reports"). A request identical to one
  still being made is answered 425 with ``{"code": "425", "detail": "The Request is a
  duplicate of : <reportId>"}`` (wording as captured in airbytehq/airbyte
  ``source-amazon-ads`` ``components.py``): that report is reused after checking it is the same
  request. Each Sponsored Products report covers at most 31 days and reaches 95 days back
  (Ads docs "Campaign reports", "Advertised product reports", "Search term reports").

Three reports, one per :class:`crossdock.AdLevel`: ``spCampaigns`` grouped by ``campaign``
(CAMPAIGN rows), ``spAdvertisedProduct`` grouped by ``advertiser`` (PRODUCT rows: the seller
SKU is the report's own ``advertisedSku``), ``spSearchTerm`` grouped by ``searchTerm``
(SEARCH_TERM rows: ``keyword`` / ``targeting`` with ``keywordType`` and ``searchTerm``; this
report holds only impressions that led to a click, Ads docs "Search term reports").

Attribution: the 7-day columns ``purchases7d``, ``sales7d``, ``unitsSoldClicks7d``. The
advertising console reports a seller's Sponsored Products with "7 Day Total Orders", "7 Day
Total Sales" and "7 Day Total Units" (vendors' with 14-day ones; Ads docs
guides/reporting/v2/advertising-console.md "Attribution metrics"), and Amazon's own
performance rules count a seller's metrics "within 7 days of an ad click"
(guides/rules/budget-rules/performance-based.md): with the 7-day columns these figures are
the ones the seller sees in Seller Central. (The 1-, 14- and 30-day columns exist too.)

The Ads docs are read in the markdown copy of advertising.amazon.com/API/docs/en-us kept in
the repository idealerror/amazon-ads-api-docs; paths here are those pages'.

The report lifecycle runs across calls (never sleeping): the page token names the stage
(campaign pages, then one report created per call, then polling and one report downloaded
per call) and the report ids.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from crossdock import (
    AdCampaign,
    AdLevel,
    AdMetric,
    AdReportPage,
    AdState,
    AdTargetKind,
    AdType,
    ChannelConnection,
    ChannelError,
    Money,
    with_retries,
)
from crossdock_amazon.aftersales import download
from crossdock_amazon.client import AccessDenied, lwa_token

__all__ = [
    "ADS_HOSTS",
    "ADS_LWA_HOSTS",
    "CAMPAIGN_MEDIA",
    "MAX_DAYS",
    "REPORTS",
    "REPORT_MEDIA",
    "RETENTION_DAYS",
    "AdsApi",
    "AdsReader",
    "AdsTokens",
    "ad_campaign",
    "ad_metric",
]

#: Ads API hosts by SP-API region (Ads docs reference/api-overview.md "API endpoints": NA
#: serves US, CA, MX, BR; EU serves UK, FR, IT, ES, DE, ..., IN; FE serves JP, AU, SG).
ADS_HOSTS = {
    "na": "https://advertising-api.amazon.com",
    "eu": "https://advertising-api-eu.amazon.com",
    "fe": "https://advertising-api-fe.amazon.com",
}
#: Login with Amazon token endpoints for Ads tokens, by region (Ads docs
#: guides/get-started/retrieve-access-token.md).
ADS_LWA_HOSTS = {
    "na": "https://api.amazon.com",
    "eu": "https://api.amazon.co.uk",
    "fe": "https://api.amazon.co.jp",
}
CAMPAIGN_MEDIA = "application/vnd.spCampaign.v3+json"
REPORT_MEDIA = "application/vnd.createasyncreportrequest.v3+json"
#: Sponsored Products reports: the longest date range, and how far back data is kept
MAX_DAYS = 31
RETENTION_DAYS = 95
#: Campaign states asked for: archived campaigns still have report rows for recent days
#: (``stateFilter`` defaults to enabled and paused only).
CAMPAIGN_STATES = ("ENABLED", "PAUSED", "ARCHIVED")
CAMPAIGN_PAGE = 100
#: the first wait before polling a report (``settings.report_poll_seconds``), doubling up to
#: the cap ("Report generation can take as long as three hours")
FIRST_POLL = 10.0
POLL_CAP = 300.0
#: a report that FAILED (or vanished) is asked for again this many times in all
REPORT_TRIES = 3
#: seconds before its expiry an Ads access token counts as expired
EARLY_REFRESH = 60
#: the 7-day attribution columns (see the module docstring)
ATTRIBUTION = ("purchases7d", "sales7d", "unitsSoldClicks7d")
_METRICS = ("impressions", "clicks", "cost", *ATTRIBUTION, "campaignBudgetCurrencyCode")
_DUPLICATE = re.compile(r"duplicate of\s*:\s*([0-9A-Za-z][0-9A-Za-z.-]{7,})")
KEYWORD_TYPES = frozenset({"BROAD", "PHRASE", "EXACT"})


@dataclass(frozen=True)
class AdReport:
    """One Reporting v3 report type, as this plugin requests it."""

    key: str  #: its name in a page token
    report_type: str
    group_by: tuple[str, ...]
    columns: tuple[str, ...]
    level: AdLevel


REPORTS: tuple[AdReport, ...] = (
    AdReport(
        "c",
        "spCampaigns",
        ("campaign",),
        (
            "date",
            "campaignId",
            "campaignName",
            "campaignStatus",
            "campaignBudgetAmount",
            "campaignBudgetType",
            *_METRICS,
        ),
        AdLevel.CAMPAIGN,
    ),
    AdReport(
        "p",
        "spAdvertisedProduct",
        ("advertiser",),
        ("date", "campaignId", "adGroupId", "adId", "advertisedAsin", "advertisedSku", *_METRICS),
        AdLevel.PRODUCT,
    ),
    AdReport(
        "s",
        "spSearchTerm",
        ("searchTerm",),
        (
            "date",
            "campaignId",
            "adGroupId",
            "keywordId",
            "keyword",
            "keywordType",
            "matchType",
            "targeting",
            "searchTerm",
            *_METRICS,
        ),
        AdLevel.SEARCH_TERM,
    ),
)
_BY_KEY = {r.key: r for r in REPORTS}
log = logging.getLogger(__name__)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("retry-after", ""))
    except ValueError:
        return None


def _body(response: httpx.Response) -> Any:
    """The answer's JSON, with decimals read exactly."""
    if not response.content:
        return {}
    try:
        return json.loads(response.content, parse_float=Decimal)
    except ValueError:
        raise ChannelError(
            f"amazon ads {response.request.url.path} answered invalid JSON", code="MALFORMED", retryable=True
        ) from None


def _words(response: httpx.Response) -> tuple[str, str]:
    """``(code, text)`` of an Ads error: ``{"code", "details"}`` (Sponsored Products v3) or
    ``{"code", "detail"}`` (Reporting v3), else the HTTP status."""
    try:
        body = json.loads(response.content or b"{}")
    except ValueError:
        body = {}
    if not isinstance(body, Mapping):
        body = {}
    code = str(body.get("code") or response.status_code)
    text = str(body.get("details") or body.get("detail") or body.get("message") or response.reason_phrase)
    return code, text


def _scope_refused(text: str) -> bool:
    """A 401 about the profile (``Amazon-Advertising-API-Scope``), which a new access token
    does not cure (Ads docs reference/concepts/errors.md: "No matching advertiser found for
    scope", "Scope header is missing", "Not authorized to access scope")."""
    return "scope" in text.lower()


def _raise(response: httpx.Response, what: str) -> None:
    status = response.status_code
    if status < 400:
        return
    code, text = _words(response)
    if status == 429:  # Ads docs reference/concepts/rate-limiting.md: a Retry-After header
        raise ChannelError(
            f"amazon ads {what}: throttled",
            code="THROTTLED",
            retryable=True,
            retry_after=_retry_after(response),
        )
    if status >= 500 or status == 425:
        raise ChannelError(f"amazon ads {what}: {code}: {text}", code=code, retryable=True)
    if status in (401, 403):
        raise ChannelError(
            f"amazon ads {what}: {text}",
            code=AccessDenied.UNAUTHORIZED if status == 401 else AccessDenied.FORBIDDEN,
        )
    raise ChannelError(f"amazon ads {what}: {code}: {text}", code=code)


class AdsTokens:
    """Ads access tokens, per connection and Ads refresh token, for this process.

    The Ads API has its own LWA grant (``credentials.ads_refresh_token``), exchanged with the
    connection's LWA application (``lwa_client_id`` / ``lwa_client_secret``) for an access
    token that lives an hour. It is kept here, not in the connection's credentials: the
    core's refresh is the SP-API token's, and a refused Ads grant must not stop orders."""

    def __init__(self) -> None:
        self._held: dict[tuple[int, str], tuple[str, float]] = {}

    def forget(self, conn: ChannelConnection) -> None:
        refresh = str(conn.credentials.get("ads_refresh_token") or "")
        self._held.pop((conn.id, refresh), None)

    async def get(self, conn: ChannelConnection, http: httpx.AsyncClient, lwa_url: str) -> str:
        creds = conn.credentials
        refresh = str(creds.get("ads_refresh_token") or "")
        key = (conn.id, refresh)
        held = self._held.get(key)
        now = time.time()
        if held and held[1] > now + EARLY_REFRESH:
            return held[0]
        try:
            answer = await lwa_token(
                http,
                lwa_url,
                {
                    "grant_type": "refresh_token",
                    "refresh_token": refresh,
                    "client_id": str(creds.get("lwa_client_id") or ""),
                    "client_secret": str(creds.get("lwa_client_secret") or ""),
                },
            )
        except ChannelError as exc:
            if exc.retryable:
                raise
            raise ChannelError(f"amazon Ads authorisation refused: {exc.message}", code=exc.code) from None
        token = str(answer["access_token"])
        self._held = {k: v for k, v in self._held.items() if v[1] > now}  # forget dead tokens
        self._held[key] = (token, now + float(answer.get("expires_in", 3600)))
        return token


class AdsApi:
    """Ads API calls for one connection (one advertiser profile)."""

    def __init__(
        self, conn: ChannelConnection, http: httpx.AsyncClient, tokens: AdsTokens, base: str, lwa_url: str
    ) -> None:
        creds = conn.credentials
        if not creds.get("ads_refresh_token") or not creds.get("ads_profile_id"):
            raise ChannelError(
                "amazon Ads API is not connected: the connection's credentials need ads_refresh_token "
                "and ads_profile_id",
                code="ADS_NOT_CONNECTED",
            )
        self.conn, self.http, self.tokens = conn, http, tokens
        self.base, self.lwa_url = base.rstrip("/"), lwa_url
        self.client_id = str(creds.get("lwa_client_id") or "")
        self.profile_id = str(creds["ads_profile_id"])

    async def call(
        self, method: str, path: str, *, media: str, body: Any = None, allow: frozenset[int] = frozenset()
    ) -> tuple[int, Any]:
        """One call: ``(status, JSON)``. A 401 that is not about the profile is answered
        with a new access token once; statuses in ``allow`` are returned, not raised."""
        for attempt in (1, 2):
            token = await self.tokens.get(self.conn, self.http, self.lwa_url)
            headers = {
                "Authorization": f"Bearer {token}",
                "Amazon-Advertising-API-ClientId": self.client_id,
                "Amazon-Advertising-API-Scope": self.profile_id,
                "Content-Type": media,
                "Accept": media,
                "User-Agent": "crossdock-amazon (Language=Python)",
            }
            try:
                response = await self.http.request(
                    method,
                    self.base + path,
                    content=json.dumps(body).encode() if body is not None else None,
                    headers=headers,
                )
            except httpx.TimeoutException as exc:
                raise ChannelError(f"amazon ads {path} timed out", code="TIMEOUT", retryable=True) from exc
            except httpx.TransportError as exc:
                raise ChannelError(f"amazon ads {path}: {exc}", code="NETWORK", retryable=True) from exc
            if response.status_code == 401 and attempt == 1 and not _scope_refused(_words(response)[1]):
                self.tokens.forget(self.conn)  # expired or revoked: one new token
                continue
            break
        if response.status_code not in allow:
            _raise(response, path)
        return response.status_code, _body(response)


# --------------------------------------------------------------------------- mapping


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return int(_decimal(value))


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


#: Sponsored Products v3 ``SponsoredProductsEntityState`` -> Crossdock's state
STATES = {
    "ENABLED": AdState.ENABLED,
    "ENABLING": AdState.ENABLED,
    "PAUSED": AdState.PAUSED,
    "OTHER": AdState.PAUSED,
    "ARCHIVED": AdState.ENDED,
    "USER_DELETED": AdState.ENDED,
}


def ad_campaign(raw: Mapping[str, Any], currency: str, today: date) -> AdCampaign:
    """A Sponsored Products campaign of ``/sp/campaigns/list``. Budgets are in the profile's
    currency (Ads docs guides/sponsored-products/campaigns.md ``budget.budget``); a campaign
    whose end date has passed spends nothing any more (ENDED), whatever its state says."""
    budget = raw.get("budget") or {}
    ends = _day(raw.get("endDate"))
    state = STATES.get(str(raw.get("state") or "").upper(), AdState.PAUSED)
    if ends is not None and ends < today:
        state = AdState.ENDED
    daily = None
    if str(budget.get("budgetType") or "").upper() == "DAILY" and budget.get("budget") is not None:
        daily = Money(_decimal(budget["budget"]), currency)
    return AdCampaign(
        external_id=str(raw["campaignId"]),
        name=str(raw.get("name") or raw["campaignId"]),
        ad_type=AdType.SPONSORED_PRODUCTS,
        state=state,
        daily_budget=daily,
        starts_on=_day(raw.get("startDate")),
        ends_on=ends,
    )


def _target(row: Mapping[str, Any]) -> tuple[str | None, AdTargetKind | None, str | None]:
    """A search term's target: the keyword (``keywordType`` BROAD / PHRASE / EXACT, also its
    match type) or the targeting expression (TARGETING_EXPRESSION: ``asin="..."`` or
    ``category="..."``; TARGETING_EXPRESSION_PREDEFINED: Amazon's automatic targeting such as
    ``close-match``) (Ads docs reporting/v3/columns.md ``keyword``, ``keywordType``,
    ``targeting``)."""
    kind = str(row.get("keywordType") or row.get("matchType") or "").upper()
    if kind in KEYWORD_TYPES:
        return str(row.get("keyword") or "") or None, AdTargetKind.KEYWORD, kind
    expression = str(row.get("targeting") or row.get("keyword") or "") or None
    if kind == "TARGETING_EXPRESSION_PREDEFINED":
        return expression, AdTargetKind.AUTO, None
    if expression and expression.lower().startswith("category"):
        return expression, AdTargetKind.CATEGORY, None
    return expression, AdTargetKind.PRODUCT if expression else None, None


def ad_metric(level: AdLevel, row: Mapping[str, Any], currency: str) -> AdMetric | None:
    """One report row as an :class:`AdMetric` of ``level`` (None for a row without a date
    or a campaign)."""
    day = _day(row.get("date"))
    if day is None or row.get("campaignId") in (None, ""):
        return None
    money = str(row.get("campaignBudgetCurrencyCode") or currency)
    common: dict[str, Any] = {
        "level": level,
        "day": day,
        "campaign_id": str(row["campaignId"]),
        "impressions": _int(row.get("impressions")),
        "clicks": _int(row.get("clicks")),
        "spend": Money(_decimal(row.get("cost")), money),
        "orders": _int(row.get("purchases7d")),
        "units": _int(row.get("unitsSoldClicks7d")),
        "sales": Money(_decimal(row.get("sales7d")), money),
    }
    if level == AdLevel.PRODUCT:
        # ``advertisedSku`` is the seller's SKU ("Not available for vendors": then the ASIN)
        sku = row.get("advertisedSku") or row.get("advertisedAsin")
        return AdMetric(
            **common,
            ad_group_id=str(row["adGroupId"]) if row.get("adGroupId") is not None else None,
            sku=str(sku) if sku else None,
        )
    if level == AdLevel.SEARCH_TERM:
        target, kind, match = _target(row)
        return AdMetric(
            **common,
            ad_group_id=str(row["adGroupId"]) if row.get("adGroupId") is not None else None,
            target=target,
            target_kind=kind,
            match_type=match,
            search_term=str(row.get("searchTerm") or "") or None,
        )
    return AdMetric(**common)


# --------------------------------------------------------------------------- the reader


def _plan(start: date, end: date) -> list[list[Any]]:
    """The reports to make for ``start..end``: each report type over windows of at most
    :data:`MAX_DAYS` days. An entry is ``[type key, start, end, report id, tries]``."""
    entries: list[list[Any]] = []
    for report in REPORTS:
        first = start
        while first <= end:
            last = min(end, first + timedelta(days=MAX_DAYS - 1))
            entries.append([report.key, first.isoformat(), last.isoformat(), None, 0])
            first = last + timedelta(days=1)
    return entries


def _request(report: AdReport, start: str, end: str) -> dict[str, Any]:
    return {
        "name": f"crossdock {report.report_type} {start}..{end}",
        "startDate": start,
        "endDate": end,
        "configuration": {
            "adProduct": "SPONSORED_PRODUCTS",
            "groupBy": list(report.group_by),
            "columns": list(report.columns),
            "reportTypeId": report.report_type,
            "timeUnit": "DAILY",
            "format": "GZIP_JSON",
        },
    }


def _same(found: Mapping[str, Any], asked: Mapping[str, Any]) -> bool:
    """Whether a report Amazon names as the duplicate holds what was asked for: a summary
    report of the same type has been named the duplicate of a daily one (issue
    airbytehq/airbyte#61652, as noted in the connector's ``components.py``)."""
    if str(found.get("startDate")) != asked["startDate"] or str(found.get("endDate")) != asked["endDate"]:
        return False
    have, want = found.get("configuration") or {}, asked["configuration"]
    for name in ("reportTypeId", "timeUnit", "adProduct"):
        if have.get(name) != want[name]:
            return False
    return sorted(have.get("groupBy") or []) == sorted(want["groupBy"]) and sorted(
        have.get("columns") or []
    ) == sorted(want["columns"])


def _encode(state: Mapping[str, Any]) -> str:
    return "ads:" + json.dumps(state, separators=(",", ":"))


def _decode(token: str) -> dict[str, Any] | None:
    if not token.startswith("ads:"):
        return None
    try:
        state = json.loads(token[4:])
    except ValueError:
        return None
    return state if isinstance(state, dict) and state.get("st") in ("c", "q", "p") else None


class AdsReader:
    """``fetch_ads`` for the Amazon provider (see the module docstring)."""

    def __init__(self) -> None:
        self.tokens = AdsTokens()
        self._unconnected: set[int] = set()

    @staticmethod
    def hosts(conn: ChannelConnection, region: str) -> tuple[str, str]:
        """The Ads API base URL (``settings.ads_url``, else the connection's base URL, where
        an emulator or a sandbox serves it, else the region's host) and the LWA token host
        (``settings.ads_lwa_url``, else ``settings.lwa_url``, else the same fallbacks)."""
        settings = conn.settings
        base = str(settings.get("ads_url") or conn.base_url or ADS_HOSTS[region])
        lwa = str(
            settings.get("ads_lwa_url") or settings.get("lwa_url") or conn.base_url or ADS_LWA_HOSTS[region]
        )
        return base, lwa

    @staticmethod
    def _delay(conn: ChannelConnection, polls: int) -> float:
        first = float(conn.settings.get("report_poll_seconds", FIRST_POLL))
        return float(min(POLL_CAP, first * 2 ** min(polls, 16)))

    async def fetch(
        self,
        conn: ChannelConnection,
        http: httpx.AsyncClient,
        region: str,
        *,
        day_from: date,
        day_to: date,
        page_token: str | None,
    ) -> AdReportPage:
        creds = conn.credentials
        if not creds.get("ads_refresh_token") or not creds.get("ads_profile_id"):
            # not connected to the Amazon Ads API: no advertising to read. Not an error: a
            # permanent one would mark the whole connection failed, orders and all
            if conn.id not in self._unconnected:
                self._unconnected.add(conn.id)
                log.info(
                    "amazon connection %s has no Ads API grant (ads_refresh_token, ads_profile_id)", conn.id
                )
            return AdReportPage()
        state = _decode(page_token) if page_token else None
        if state is None:  # the reports are planned on the first page (see _window)
            state = {
                "st": "c",
                "c": None,
                "r": None,
                "f": day_from.isoformat(),
                "t": day_to.isoformat(),
                "n": 0,
            }
        base, lwa = self.hosts(conn, region)
        api = AdsApi(conn, http, self.tokens, base, lwa)
        if state["st"] == "c":
            return await self._campaigns(conn, api, state)
        if state["st"] == "q":
            return await self._create(conn, api, state)
        return await self._poll(conn, api, http, state)

    @staticmethod
    async def _window(api: AdsApi, day_from: date, day_to: date) -> list[list[Any]]:
        """The reports for ``day_from..day_to`` in the profile's own calendar: days are the
        profile's (its ``timezone`` in ``GET /v2/profiles``; Ads docs reference/1/profiles:
        the marketplace's properties "dictate the behavior of the Advertising API such as
        scheduling"), a day not begun there yet is not asked for, nor one older than
        Amazon keeps (95 days, one day's margin)."""
        _, profiles = await api.call("GET", "/v2/profiles", media="application/json")
        zone = ""
        for found in profiles if isinstance(profiles, list) else []:
            if isinstance(found, Mapping) and str(found.get("profileId")) == api.profile_id:
                zone = str(found.get("timezone") or "")
        try:
            today = datetime.now(ZoneInfo(zone)).date() if zone else datetime.now(UTC).date()
        except (ZoneInfoNotFoundError, ValueError):
            today = datetime.now(UTC).date()
        start = max(day_from, today - timedelta(days=RETENTION_DAYS - 1))
        end = min(day_to, today)
        return _plan(start, end) if start <= end else []

    async def _campaigns(self, conn: ChannelConnection, api: AdsApi, state: dict[str, Any]) -> AdReportPage:
        if state["r"] is None:
            state["r"] = await self._window(
                api, date.fromisoformat(state["f"]), date.fromisoformat(state["t"])
            )
        body: dict[str, Any] = {
            "stateFilter": {"include": list(CAMPAIGN_STATES)},
            "maxResults": CAMPAIGN_PAGE,
        }
        if state["c"]:
            body["nextToken"] = state["c"]
        _, answer = await api.call("POST", "/sp/campaigns/list", media=CAMPAIGN_MEDIA, body=body)
        today = datetime.now(UTC).date()
        campaigns = [
            ad_campaign(raw, conn.currency, today)
            for raw in answer.get("campaigns") or []
            if isinstance(raw, Mapping) and raw.get("campaignId") is not None
        ]
        following = answer.get("nextToken")
        if following:
            state["c"] = str(following)
        else:
            state.update(st="q", c=None)
        done = state["st"] == "q" and not state["r"]
        return AdReportPage(campaigns=campaigns, next_page_token=None if done else _encode(state))

    async def _create(self, conn: ChannelConnection, api: AdsApi, state: dict[str, Any]) -> AdReportPage:
        """Ask for the next report not asked for yet (one per call, so a failure loses at
        most that one); once all are asked for, the page is not ready."""
        entry = next(e for e in state["r"] if e[3] is None)
        asked = _request(_BY_KEY[entry[0]], entry[1], entry[2])
        status, answer = await api.call(
            "POST", "/reporting/reports", media=REPORT_MEDIA, body=asked, allow=frozenset({425})
        )
        if status == 425:
            entry[3] = await self._duplicate(api, asked, answer)
        else:
            entry[3] = str(answer["reportId"])
        if any(e[3] is None for e in state["r"]):
            return AdReportPage(next_page_token=_encode(state))
        state.update(st="p", n=0)
        return AdReportPage(ready=False, retry_after=self._delay(conn, 0), next_page_token=_encode(state))

    @staticmethod
    async def _duplicate(api: AdsApi, asked: Mapping[str, Any], answer: Any) -> str:
        """The id of the report a 425 names, once it is seen to be this same request; a
        duplicate of something else is waited out (it clears when that report is done)."""
        detail = (
            str(answer.get("detail") or answer.get("details") or "") if isinstance(answer, Mapping) else ""
        )
        match = _DUPLICATE.search(detail)
        if match:
            report_id = match.group(1)
            status, found = await api.call(
                "GET", f"/reporting/reports/{report_id}", media=REPORT_MEDIA, allow=frozenset({404})
            )
            if status == 200 and found.get("status") != "FAILED" and _same(found, asked):
                return report_id
        raise ChannelError(
            f"amazon ads: a report like {asked['name']} is still being made: {detail}",
            code="REPORT_DUPLICATE",
            retryable=True,
            retry_after=60.0,
        )

    async def _poll(
        self, conn: ChannelConnection, api: AdsApi, http: httpx.AsyncClient, state: dict[str, Any]
    ) -> AdReportPage:
        entry = state["r"][0]
        report = _BY_KEY[entry[0]]
        status, found = await api.call(
            "GET", f"/reporting/reports/{entry[3]}", media=REPORT_MEDIA, allow=frozenset({404})
        )
        progress = found.get("status") if status == 200 else "FAILED"
        if progress in ("PENDING", "PROCESSING"):
            # Amazon makes the reports side by side: a look at the others now saves a round
            # for each of them later
            for later in state["r"][1:]:
                await api.call(
                    "GET", f"/reporting/reports/{later[3]}", media=REPORT_MEDIA, allow=frozenset({404})
                )
        if progress in ("PENDING", "PROCESSING"):
            state["n"] += 1
            return AdReportPage(
                ready=False, retry_after=self._delay(conn, state["n"]), next_page_token=_encode(state)
            )
        if progress != "COMPLETED":  # FAILED, or gone: asked for again, a few times
            entry[4] += 1
            if entry[4] >= REPORT_TRIES:
                raise ChannelError(
                    f"amazon ads report {report.report_type} {entry[1]}..{entry[2]} failed "
                    f"{entry[4]} times: {found.get('failureReason') or found}",
                    code="REPORT_FAILED",
                )
            entry[3] = None
            state.update(st="q", n=0)
            return AdReportPage(next_page_token=_encode(state))

        link: dict[str, Any] = {"url": found.get("url")}

        async def rows() -> list[Any]:
            if not link["url"]:
                _, current = await api.call("GET", f"/reporting/reports/{entry[3]}", media=REPORT_MEDIA)
                link["url"] = current.get("url")
            if not link["url"]:
                raise ChannelError(
                    "amazon ads: a completed report without a url", code="MALFORMED", retryable=True
                )
            try:
                raw = await download(http, {"url": link["url"], "compressionAlgorithm": "GZIP"})
            except ChannelError:
                link["url"] = None  # a pre-signed URL expires: the report gives a new one
                raise
            try:
                parsed = json.loads(raw, parse_float=Decimal)
            except ValueError:
                parsed = None
            if not isinstance(parsed, list):
                raise ChannelError(
                    "amazon ads report document is not a JSON list", code="MALFORMED", retryable=True
                )
            return parsed

        parsed = await with_retries(rows)
        metrics = [
            m
            for m in (
                ad_metric(report.level, row, conn.currency) for row in parsed if isinstance(row, Mapping)
            )
            if m is not None
        ]
        state["r"].pop(0)
        state["n"] = 0
        return AdReportPage(metrics=metrics, next_page_token=_encode(state) if state["r"] else None)
