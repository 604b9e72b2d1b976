"""The emulator's Amazon Ads API: advertiser profiles, Sponsored Products campaigns and the
Reporting v3 asynchronous reports, served by the same app as the Selling Partner API (in
production they are other hosts: ``advertising-api*.amazon.com``).

- ``GET /v2/profiles``: the profiles the access token's grant reaches (no scope header).
- ``POST /sp/campaigns/list`` (``application/vnd.spCampaign.v3+json`` as ``Content-Type``,
  and as ``Accept`` when one is sent: 415 / 406 otherwise): ``stateFilter.include`` (default
  ENABLED and PAUSED), ``maxResults``, ``nextToken`` (bound to the filter it came with).
- ``POST /reporting/reports`` (``application/vnd.createasyncreportrequest.v3+json``):
  Sponsored Products ``spCampaigns`` (groupBy ``campaign``, ``adGroup``), ``spAdvertisedProduct``
  (``advertiser``) and ``spSearchTerm`` (``searchTerm``), their documented columns and filters,
  ``timeUnit`` DAILY / SUMMARY, ``format`` GZIP_JSON; at most 31 days, not before 95 days
  ago; a request identical to one still PENDING or PROCESSING is answered 425 naming it.
- ``GET /reporting/reports/{reportId}``: PENDING, then PROCESSING, then (after
  ``report_polls`` reads) COMPLETED with a pre-signed ``url`` (``urlExpiresAt`` an hour on,
  a new one each read) to the gzipped JSON rows, computed as the report completes;
  ``fail_reports`` makes the next ones FAILED, ``expire_downloads`` the next links expired.
- the pre-signed download (``/ads-reports/{reportId}.json.gz?X-Amz-...``), as S3 answers:
  403 for a wrong or expired signature, 400 when an ``Authorization`` header comes too.

Authentication: ``Authorization: Bearer`` with an access token of the Ads grant (an SP-API
token is refused, and an Ads token is refused by SP-API), ``Amazon-Advertising-API-ClientId``
the token's own client, ``Amazon-Advertising-API-Scope`` a profile of the grant: 401
otherwise (Ads docs reference/concepts/errors.md). Errors: ``{"code", "details"}`` on
Sponsored Products paths, ``{"code", "detail"}`` on Reporting paths (the 400 texts for an
unknown report type, invalid columns and invalid filters are Amazon's, as quoted in issues
amzn/ads-advanced-tools-docs#375, #278 and #73; the other texts are the emulator's own).
"""

from __future__ import annotations

import gzip
import json
import random
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from crossdock.testing.emulator import Reply, Request, credentials_guard

if TYPE_CHECKING:
    from crossdock_amazon.emulator import AmazonEmulator

__all__ = ["ADS_SCOPE", "AdCampaignBook", "Advertising", "ads_path", "report_columns"]

#: the LWA scope of an Ads grant
ADS_SCOPE = "advertising::campaign_management"
CAMPAIGN_MEDIA = "application/vnd.spCampaign.v3+json"
REPORT_MEDIA = "application/vnd.createasyncreportrequest.v3+json"
MAX_DAYS = 31
RETENTION_DAYS = 95
URL_LIFETIME = 3600.0
STATES = ("ENABLED", "PAUSED", "ARCHIVED", "ENABLING", "USER_DELETED", "OTHER")
CENT = Decimal("0.01")

_WINDOWS = ("1d", "7d", "14d", "30d")
_ATTRIBUTED = [
    f"{name}{w}"
    for name in (
        "purchases",
        "purchasesSameSku",
        "unitsSoldClicks",
        "sales",
        "attributedSalesSameSku",
        "unitsSoldSameSku",
    )
    for w in _WINDOWS
]
_COMMON = [
    "impressions",
    "addToList",
    "qualifiedBorrows",
    "royaltyQualifiedBorrows",
    "clicks",
    "cost",
    "costPerClick",
    "clickThroughRate",
    *_ATTRIBUTED,
    "kindleEditionNormalizedPagesRead14d",
    "kindleEditionNormalizedPagesRoyalties14d",
    "date",
    "startDate",
    "endDate",
]
_CAMPAIGN = [
    "campaignName",
    "campaignId",
    "campaignStatus",
    "campaignBudgetAmount",
    "campaignBudgetType",
    "campaignBudgetCurrencyCode",
]
_RATIOS = [
    "salesOtherSku7d",
    "unitsSoldOtherSku7d",
    "acosClicks7d",
    "acosClicks14d",
    "roasClicks7d",
    "roasClicks14d",
]
#: Sponsored Products report types: base columns, and per groupBy its extra columns and
#: filters (Ads docs guides/reporting/v3/report-types: campaign.md, advertised-product.md,
#: search-term.md)
REPORT_TYPES: dict[str, dict[str, Any]] = {
    "spCampaigns": {
        "base": [*_COMMON, "campaignBiddingStrategy", "spend"],
        "groupBy": {
            "campaign": (
                [
                    *_CAMPAIGN,
                    "campaignRuleBasedBudgetAmount",
                    "campaignApplicableBudgetRuleId",
                    "campaignApplicableBudgetRuleName",
                    "topOfSearchImpressionShare",
                ],
                ["campaignStatus"],
            ),
            "adGroup": (["adGroupName", "adGroupId", "adStatus"], ["adStatus"]),
        },
    },
    "spAdvertisedProduct": {
        "base": [
            *_COMMON,
            *_CAMPAIGN,
            "adGroupName",
            "adGroupId",
            "adId",
            "portfolioId",
            "spend",
            "advertisedAsin",
            "advertisedSku",
            *_RATIOS,
        ],
        "groupBy": {"advertiser": ([], ["adCreativeStatus"])},
    },
    "spSearchTerm": {
        "base": [
            *_COMMON,
            *_CAMPAIGN,
            *_RATIOS,
            "keywordId",
            "keyword",
            "portfolioId",
            "searchTerm",
            "keywordBid",
            "adGroupName",
            "adGroupId",
            "keywordType",
            "matchType",
            "targeting",
            "adKeywordStatus",
        ],
        "groupBy": {"searchTerm": (["adKeywordStatus"], ["keywordType"])},
    },
}


def report_columns(report_type: str, group_by: Iterable[str]) -> set[str]:
    """The columns a report of this type and grouping may ask for."""
    spec = REPORT_TYPES[report_type]
    allowed = set(spec["base"])
    for name in group_by:
        allowed.update(spec["groupBy"][name][0])
    return allowed


def ads_path(path: str) -> str | None:
    """Which Ads API a path belongs to (``"sp"`` or ``"reporting"``), else None."""
    if path.startswith("/reporting/"):
        return "reporting"
    if path.startswith(("/sp/", "/v2/profiles")):
        return "sp"
    return None


def ads_error(status: int, code: str, message: str, api: str) -> Reply:
    """An Ads error in its API's envelope."""
    return Reply(status, {"code": code, "detail" if api == "reporting" else "details": message})


def _money(value: Decimal) -> float:
    """A JSON number for an amount (a float prints back as the same decimal)."""
    return float(value.quantize(CENT, ROUND_HALF_UP))


@dataclass
class Profile:
    profile_id: int
    seller: str
    marketplace_id: str
    country: str
    currency: str
    refresh_token: str
    #: the profile's time zone: UTC here, so the emulator's days are the suites' UTC days
    #: (Amazon's are the marketplace's, e.g. America/Los_Angeles)
    timezone: str = "UTC"


@dataclass
class Activity:
    impressions: int = 0
    clicks: int = 0
    cost: Decimal = Decimal(0)
    purchases: int = 0
    sales: Decimal = Decimal(0)
    units: int = 0


@dataclass
class Target:
    """A keyword (``keywordType`` EXACT) or Amazon's automatic targeting (``close-match``,
    TARGETING_EXPRESSION_PREDEFINED) in the campaign's ad group, and what buyers typed."""

    target_id: str
    keyword_type: str
    text: str
    search_term: str
    bid: Decimal = Decimal("0.75")


@dataclass
class Campaign:
    campaign_id: str
    profile_id: int
    name: str
    sku: str
    asin: str
    targeting_type: str
    start: date
    budget: Decimal
    ad_group_id: str
    ad_id: str
    state: str = "ENABLED"
    end: date | None = None
    targets: dict[str, Target] = field(default_factory=dict)
    #: day -> target key -> what that target brought that day
    days: dict[date, dict[str, Activity]] = field(default_factory=dict)


@dataclass
class AdReportJob:
    report_id: str
    profile_id: int
    asked: dict[str, Any]
    created: float
    status: str = "PENDING"
    polls: int = 0
    document: bytes | None = None
    failure: str | None = None
    generated: float | None = None
    #: signature -> expiry of the pre-signed URLs handed out
    signatures: dict[str, float] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """What makes two requests the same (not their ``name``)."""
        body = {k: v for k, v in self.asked.items() if k != "name"}
        return json.dumps(body, sort_keys=True)


class AdCampaignBook:
    """Sponsored Products campaigns, one per SKU (as the conformance suite's
    ``add_ad_activity`` asks), and their daily activity."""

    def __init__(self) -> None:
        self.campaigns: dict[str, Campaign] = {}
        self._ids = random.Random(7)

    def new_id(self) -> str:
        while True:
            made = str(self._ids.randint(10**14, 10**15 - 1))
            if made not in self.campaigns:
                return made

    def for_sku(self, profile: Profile, sku: str, asin: str, day: date, keyword: str | None) -> Campaign:
        found = next(
            (c for c in self.campaigns.values() if c.profile_id == profile.profile_id and c.sku == sku), None
        )
        if found is None:
            campaign_id = self.new_id()
            found = Campaign(
                campaign_id=campaign_id,
                profile_id=profile.profile_id,
                name=f"SP - {sku} - {'Manual' if keyword else 'Auto'}",
                sku=sku,
                asin=asin,
                targeting_type="MANUAL" if keyword else "AUTO",
                start=day,
                budget=Decimal("50.00"),
                ad_group_id=self.new_id(),
                ad_id=self.new_id(),
            )
            self.campaigns[campaign_id] = found
        found.start = min(found.start, day)
        return found


class Advertising:
    """The Ads side of :class:`crossdock_amazon.emulator.AmazonEmulator`."""

    def __init__(self, emulator: AmazonEmulator, clock: Callable[[], float]) -> None:
        self.emulator = emulator
        self.clock = clock
        self.profiles: dict[int, Profile] = {}
        self.book = AdCampaignBook()
        self.reports: dict[str, AdReportJob] = {}
        #: GET /reporting/reports/{id} answers PENDING, then PROCESSING this many times
        #: before COMPLETED
        self.report_polls = 1
        #: the next this many reports end FAILED
        self.fail_reports = 0
        #: the next this many downloads find their pre-signed URL expired
        self.expire_downloads = 0
        #: campaign list pagination tokens -> (next start, the filter they belong to)
        self.list_tokens: dict[str, tuple[int, str]] = {}
        self._profile_ids = random.Random(11)

    # ------------------------------------------------------------------ accounts

    def open(self, seller: str, marketplace_id: str, country: str, currency: str) -> dict[str, Any]:
        """The seller's advertiser profile in the marketplace: the Ads credentials."""
        profile = Profile(
            profile_id=self._profile_ids.randint(10**15, 10**16 - 1),
            seller=seller,
            marketplace_id=marketplace_id,
            country=country,
            currency=currency,
            refresh_token=f"Atzr|{secrets.token_hex(24)}",
        )
        self.profiles[profile.profile_id] = profile
        return {"ads_refresh_token": profile.refresh_token, "ads_profile_id": str(profile.profile_id)}

    def grant_for(self, refresh_token: str, seller: str) -> Profile | None:
        return next(
            (p for p in self.profiles.values() if p.refresh_token == refresh_token and p.seller == seller),
            None,
        )

    def profile_of(self, seller: str, marketplace_id: str | None = None) -> Profile:
        return next(
            p
            for p in self.profiles.values()
            if p.seller == seller and (marketplace_id is None or p.marketplace_id == marketplace_id)
        )

    # ------------------------------------------------------------------ activity (tests, demo)

    def add_activity(
        self,
        profile: Profile,
        *,
        day: date,
        sku: str,
        asin: str,
        impressions: int,
        clicks: int,
        spend: Decimal,
        orders: int,
        sales: Decimal,
        keyword: str | None,
    ) -> str:
        campaign = self.book.for_sku(profile, sku, asin, day, keyword)
        if keyword:
            key = keyword.lower()
            target = campaign.targets.get(key) or Target(self.book.new_id(), "EXACT", keyword, keyword)
        else:
            key = "close-match"
            words = sku.lower().replace("-", " ").replace("_", " ")
            target = campaign.targets.get(key) or Target(
                self.book.new_id(), "TARGETING_EXPRESSION_PREDEFINED", "close-match", words
            )
        campaign.targets[key] = target
        activity = campaign.days.setdefault(day, {}).setdefault(key, Activity())
        activity.impressions += impressions
        activity.clicks += clicks
        activity.cost += spend
        activity.purchases += orders
        activity.sales += sales
        activity.units += orders
        return campaign.campaign_id

    def revise(self, profile: Profile, *, day: date, sku: str, orders: int, sales: Decimal) -> None:
        """Attribution moves on: the day's orders and sales of ``sku`` become these, spread
        over its targets by clicks (the rest on the one with the most)."""
        campaign = next(
            c for c in self.book.campaigns.values() if c.profile_id == profile.profile_id and c.sku == sku
        )
        targets = campaign.days.setdefault(day, {})
        if not targets:
            targets["close-match"] = Activity()
        keys = sorted(targets, key=lambda k: -targets[k].clicks)
        clicks = sum(a.clicks for a in targets.values())
        left_orders, left_sales = orders, sales
        for key in keys[1:]:
            share = Decimal(targets[key].clicks) / clicks if clicks else Decimal(0)
            part_orders = int(orders * share)
            part_sales = (sales * share).quantize(CENT, ROUND_HALF_UP)
            targets[key].purchases, targets[key].units, targets[key].sales = (
                part_orders,
                part_orders,
                part_sales,
            )
            left_orders -= part_orders
            left_sales -= part_sales
        first = targets[keys[0]]
        first.purchases, first.units, first.sales = left_orders, left_orders, left_sales

    def seed(
        self, profile: Profile, skus: Sequence[tuple[str, str]], rng: random.Random, days: int = 30
    ) -> None:
        """About a month of Sponsored Products for the demo: every SKU advertised every day,
        a keyword campaign for most, automatic targeting for the rest."""
        today = datetime.fromtimestamp(self.clock(), UTC).date()
        for sku, asin in skus:
            keyword = rng.choice([None, sku.lower().replace("-", " ")])
            price = Decimal(rng.randint(12, 80)) + Decimal("0.99")
            for back in range(days - 1, -1, -1):
                impressions = rng.randint(150, 2500)
                clicks = max(0, int(impressions * rng.uniform(0.004, 0.03)))
                orders = sum(1 for _ in range(clicks) if rng.random() < 0.11)
                cpc = Decimal(str(round(rng.uniform(0.35, 1.4), 2)))
                self.add_activity(
                    profile,
                    day=today - timedelta(days=back),
                    sku=sku,
                    asin=asin,
                    impressions=impressions,
                    clicks=clicks,
                    spend=cpc * clicks,
                    orders=orders,
                    sales=price * orders,
                    keyword=keyword,
                )

    # ------------------------------------------------------------------ authentication

    def _who(self, request: Request, api: str, *, scoped: bool = True) -> Profile | list[Profile] | Reply:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        grant = self.emulator.tokens.get(token)
        guard = credentials_guard(
            self.clock,
            refused=lambda: ads_error(401, "UNAUTHORIZED", "Authentication failed", api),
            missing=lambda: ads_error(401, "UNAUTHORIZED", "Authorization header is missing", api),
            expired=lambda: ads_error(401, "UNAUTHORIZED", "The access token has expired", api),
        )
        checked = guard.check(token, grant, expires_at=grant.expires if grant else None)
        if isinstance(checked, Reply):
            return checked
        if grant is None or grant.scope != ADS_SCOPE:  # an SP-API token opens no Ads account
            return ads_error(401, "UNAUTHORIZED", "Authentication failed", api)
        if request.headers.get("amazon-advertising-api-clientid") != grant.client_id:
            return ads_error(401, "UNAUTHORIZED", "Invalid authorization inputs", api)
        mine = [p for p in self.profiles.values() if p.seller == grant.seller]
        if not scoped:
            return mine
        scope = request.headers.get("amazon-advertising-api-scope", "")
        if not scope:
            return ads_error(401, "UNAUTHORIZED", "Scope header is missing", api)
        profile = self.profiles.get(int(scope)) if scope.isdigit() else None
        if profile is None:
            return ads_error(401, "UNAUTHORIZED", "No matching advertiser found for scope", api)
        if profile not in mine:
            return ads_error(401, "UNAUTHORIZED", "Not authorized to access scope", api)
        return profile

    @staticmethod
    def _media(request: Request, media: str, api: str, *, body: bool) -> Reply | None:
        sent = request.headers.get("content-type", "").split(";")[0].strip()
        if body and sent != media:
            return ads_error(415, "415", f"Content-Type must be {media}", api)
        accept = request.headers.get("accept", "")
        if api == "sp" and accept and accept not in ("*/*", media):
            return ads_error(406, "406", f"Accept must be {media}", api)
        return None

    # ------------------------------------------------------------------ profiles and campaigns

    async def profiles_list(self, request: Request) -> Reply:
        who = self._who(request, "sp", scoped=False)
        if isinstance(who, Reply):
            return who
        assert isinstance(who, list)
        return Reply(
            200,
            [
                {
                    "profileId": p.profile_id,
                    "countryCode": p.country,
                    "currencyCode": p.currency,
                    "timezone": p.timezone,
                    "accountInfo": {
                        "marketplaceStringId": p.marketplace_id,
                        "id": p.seller,
                        "type": "seller",
                    },
                }
                for p in who
            ],
        )

    @staticmethod
    def _campaign_json(campaign: Campaign) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "campaignId": campaign.campaign_id,
            "name": campaign.name,
            "state": campaign.state,
            "targetingType": campaign.targeting_type,
            "budget": {"budget": _money(campaign.budget), "budgetType": "DAILY"},
            "startDate": campaign.start.isoformat(),
            "dynamicBidding": {"strategy": "LEGACY_FOR_SALES", "placementBidding": []},
        }
        if campaign.end is not None:
            shown["endDate"] = campaign.end.isoformat()
        return shown

    async def list_campaigns(self, request: Request) -> Reply:
        who = self._who(request, "sp")
        if isinstance(who, Reply):
            return who
        assert isinstance(who, Profile)
        refused = self._media(request, CAMPAIGN_MEDIA, "sp", body=True)
        if refused is not None:
            return refused
        body = request.json()
        if not isinstance(body, dict):
            return ads_error(400, "400", "the body must be an object", "sp")
        states = ["ENABLED", "PAUSED"]
        if body.get("stateFilter") is not None:
            include = (
                (body["stateFilter"] or {}).get("include") if isinstance(body["stateFilter"], dict) else None
            )
            if not isinstance(include, list) or any(s not in STATES for s in include):
                return ads_error(400, "400", f"stateFilter.include must be of {', '.join(STATES)}", "sp")
            states = include
        size = body.get("maxResults", 100)
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            return ads_error(400, "400", "maxResults must be a positive integer", "sp")
        query = json.dumps({"p": who.profile_id, "s": sorted(states)})
        start = 0
        if body.get("nextToken") is not None:
            held = self.list_tokens.get(str(body["nextToken"]))
            if held is None or held[1] != query:
                return ads_error(400, "400", "Invalid nextToken", "sp")
            start = held[0]
        rows = sorted(
            (c for c in self.book.campaigns.values() if c.profile_id == who.profile_id and c.state in states),
            key=lambda c: c.campaign_id,
        )
        chunk, following = self.emulator.page(rows, start, min(size, 100))
        answer: dict[str, Any] = {
            "campaigns": [self._campaign_json(c) for c in chunk],
            "totalResults": len(rows),
        }
        if following is not None:
            token = secrets.token_urlsafe(18)
            self.list_tokens[token] = (following, query)
            answer["nextToken"] = token
        return Reply(200, answer, {"content-type": CAMPAIGN_MEDIA})

    # ------------------------------------------------------------------ reports

    def _today(self) -> date:
        return datetime.fromtimestamp(self.clock(), UTC).date()

    def _invalid(self, body: Any) -> str | None:
        """Why a report request is refused (None when it is not)."""
        if not isinstance(body, dict):
            return "the body must be an object"
        config = body.get("configuration")
        if not isinstance(config, dict):
            return "configuration is required"
        for name in ("adProduct", "reportTypeId", "groupBy", "columns", "timeUnit", "format"):
            if not config.get(name):
                return f"configuration {name} is required"
        if config["reportTypeId"] not in REPORT_TYPES:
            return "configuration reportTypeId is unknown or invalid"
        if config["adProduct"] != "SPONSORED_PRODUCTS":
            return f"configuration adProduct {config['adProduct']} is invalid for {config['reportTypeId']}"
        spec = REPORT_TYPES[config["reportTypeId"]]
        group_by, columns = config["groupBy"], config["columns"]
        if not isinstance(group_by, list) or any(g not in spec["groupBy"] for g in group_by):
            return f"configuration groupBy includes invalid values: ({', '.join(map(str, group_by))})"
        if config["timeUnit"] not in ("DAILY", "SUMMARY"):
            return "configuration timeUnit must be DAILY or SUMMARY"
        if config["format"] != "GZIP_JSON":
            return "configuration format must be GZIP_JSON"
        allowed = report_columns(config["reportTypeId"], group_by)
        # DAILY rows carry ``date``; SUMMARY rows ``startDate`` / ``endDate``
        allowed -= {"startDate", "endDate"} if config["timeUnit"] == "DAILY" else {"date"}
        if not isinstance(columns, list) or any(c not in allowed for c in columns):
            wrong = (
                [str(c) for c in columns if c not in allowed] if isinstance(columns, list) else [str(columns)]
            )
            return f"configuration columns includes invalid values: ({', '.join(wrong)})"
        filters = config.get("filters") or []
        if not isinstance(filters, list):
            return "configuration filters must be a list"
        for given in filters:
            field_name = given.get("field") if isinstance(given, dict) else None
            if not all(field_name in spec["groupBy"][g][1] for g in group_by):
                return (
                    f"configuration filters includes fields: ({field_name}) which are invalid for groupBys: "
                    f"{', '.join(group_by)}."
                )
        try:
            start, end = (
                date.fromisoformat(str(body.get("startDate"))),
                date.fromisoformat(str(body.get("endDate"))),
            )
        except ValueError:
            return "startDate and endDate must be dates in the format YYYY-MM-DD"
        if start > end:
            return "startDate must not be after endDate"
        if (end - start).days + 1 > MAX_DAYS:
            return f"the date range of {config['reportTypeId']} reports is at most {MAX_DAYS} days"
        if start < self._today() - timedelta(days=RETENTION_DAYS):
            return f"startDate must be within the last {RETENTION_DAYS} days"
        return None

    def _report_json(self, job: AdReportJob) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "reportId": job.report_id,
            "name": job.asked.get("name"),
            "startDate": job.asked["startDate"],
            "endDate": job.asked["endDate"],
            "configuration": {"filters": None, **job.asked["configuration"]},
            "status": job.status,
            "createdAt": _iso(job.created),
            "updatedAt": _iso(job.generated or job.created),
            "generatedAt": _iso(job.generated) if job.generated else None,
            "fileSize": len(job.document) if job.document is not None else None,
            "failureReason": job.failure,
            "url": None,
            "urlExpiresAt": None,
        }
        return shown

    async def create_report(self, request: Request) -> Reply:
        who = self._who(request, "reporting")
        if isinstance(who, Reply):
            return who
        assert isinstance(who, Profile)
        refused = self._media(request, REPORT_MEDIA, "reporting", body=True)
        if refused is not None:
            return refused
        body = request.json()
        problem = self._invalid(body)
        if problem is not None:
            return ads_error(400, "400", problem, "reporting")
        job = AdReportJob(str(uuid.uuid4()), who.profile_id, dict(body), self.clock())
        for other in self.reports.values():
            if (
                other.profile_id == who.profile_id
                and other.status in ("PENDING", "PROCESSING")
                and other.key == job.key
            ):
                return ads_error(
                    425, "425", f"The Request is a duplicate of : {other.report_id}", "reporting"
                )
        self.reports[job.report_id] = job
        return Reply(200, self._report_json(job))

    async def get_report(self, request: Request) -> Reply:
        who = self._who(request, "reporting")
        if isinstance(who, Reply):
            return who
        assert isinstance(who, Profile)
        job = self.reports.get(request.args[0])
        if job is None or job.profile_id != who.profile_id:
            return ads_error(404, "404", f"Report {request.args[0]} not found", "reporting")
        if job.status in ("PENDING", "PROCESSING"):
            job.polls += 1
            if job.polls > self.report_polls:
                self._complete(job)
            else:
                job.status = "PROCESSING"
        shown = self._report_json(job)
        if job.status == "COMPLETED":
            signature = secrets.token_hex(16)
            expires = self.clock() + URL_LIFETIME
            job.signatures[signature] = expires
            base = self.emulator.own_address or f"http://{request.headers.get('host', '127.0.0.1')}"
            shown["url"] = (
                f"{base}/ads-reports/{job.report_id}.json.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                f"&X-Amz-Expires={int(URL_LIFETIME)}&X-Amz-Signature={signature}"
            )
            shown["urlExpiresAt"] = _iso(expires)
        return Reply(200, shown)

    def _complete(self, job: AdReportJob) -> None:
        job.generated = self.clock()
        if self.fail_reports > 0:
            self.fail_reports -= 1
            job.status, job.failure = "FAILED", "Report generation failed due to an internal error"
            return
        rows = self.rows(job.profile_id, job.asked)
        job.document = gzip.compress(json.dumps(rows).encode())
        job.status = "COMPLETED"

    async def download(self, request: Request) -> Reply:
        """The pre-signed S3 link of a completed report."""
        xml = {"content-type": "application/xml"}
        if request.headers.get("authorization"):
            return Reply(
                400,
                b"<Error><Code>InvalidArgument</Code>"
                b"<Message>Only one auth mechanism allowed</Message></Error>",
                xml,
            )
        job = self.reports.get(request.args[0])
        expires = job.signatures.get(request.query.get("X-Amz-Signature", "")) if job else None
        if job is None or job.document is None or expires is None:
            return Reply(
                403, b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>", xml
            )
        if self.expire_downloads > 0:
            self.expire_downloads -= 1
            expires = self.clock() - 1
        if self.clock() >= expires:
            return Reply(
                403, b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>", xml
            )
        return Reply(200, job.document, {"content-type": "application/x-gzip"})

    def expire_urls(self) -> None:
        """Every pre-signed URL handed out so far has expired."""
        for job in self.reports.values():
            job.signatures = {s: self.clock() - 1 for s in job.signatures}

    # ------------------------------------------------------------------ report rows

    def rows(self, profile_id: int, asked: Mapping[str, Any]) -> list[dict[str, Any]]:
        """What a report holds now: one row per entity and day (DAILY) or per entity
        (SUMMARY), only the columns asked for."""
        config = asked["configuration"]
        report_type, group_by = config["reportTypeId"], config["groupBy"]
        daily = config["timeUnit"] == "DAILY"
        start, end = date.fromisoformat(asked["startDate"]), date.fromisoformat(asked["endDate"])
        filters = {f["field"]: set(f.get("values") or []) for f in config.get("filters") or []}
        profile = self.profiles[profile_id]
        grouped: dict[tuple[Any, ...], tuple[dict[str, Any], Activity]] = {}
        for campaign in sorted(self.book.campaigns.values(), key=lambda c: c.campaign_id):
            if campaign.profile_id != profile_id:
                continue
            if "campaignStatus" in filters and campaign.state not in filters["campaignStatus"]:
                continue
            for day, targets in sorted(campaign.days.items()):
                if not start <= day <= end:
                    continue
                for key, activity in sorted(targets.items()):
                    target = campaign.targets[key]
                    if report_type == "spSearchTerm":
                        # only impressions that led to a click (Ads docs search-term.md)
                        if activity.clicks <= 0:
                            continue
                        if "keywordType" in filters and target.keyword_type not in filters["keywordType"]:
                            continue
                        entity: tuple[Any, ...] = (campaign.campaign_id, key)
                    elif report_type == "spAdvertisedProduct":
                        entity = (campaign.campaign_id, campaign.ad_id)
                    elif "adGroup" in group_by:
                        entity = (campaign.campaign_id, campaign.ad_group_id)
                    else:
                        entity = (campaign.campaign_id,)
                    group = (*entity, day if daily else None)
                    if group not in grouped:
                        grouped[group] = (
                            self._dimensions(profile, campaign, target, day, daily, asked),
                            Activity(),
                        )
                    total = grouped[group][1]
                    total.impressions += activity.impressions
                    total.clicks += activity.clicks
                    total.cost += activity.cost
                    total.purchases += activity.purchases
                    total.sales += activity.sales
                    total.units += activity.units
        rows = []
        for dimensions, total in grouped.values():
            values = {**dimensions, **_measures(total)}
            rows.append({column: values.get(column) for column in config["columns"]})
        return rows

    @staticmethod
    def _dimensions(
        profile: Profile, campaign: Campaign, target: Target, day: date, daily: bool, asked: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {
            "date": day.isoformat() if daily else None,
            "startDate": None if daily else asked["startDate"],
            "endDate": None if daily else asked["endDate"],
            "campaignId": int(campaign.campaign_id),
            "campaignName": campaign.name,
            "campaignStatus": campaign.state,
            "campaignBudgetAmount": _money(campaign.budget),
            "campaignBudgetType": "DAILY",
            "campaignBudgetCurrencyCode": profile.currency,
            "campaignBiddingStrategy": "legacyForSales",
            "adGroupId": int(campaign.ad_group_id),
            "adGroupName": f"{campaign.sku} ad group",
            "adStatus": "ENABLED",
            "adId": int(campaign.ad_id),
            "advertisedAsin": campaign.asin,
            "advertisedSku": campaign.sku,
            "portfolioId": None,
            "keywordId": int(target.target_id),
            "keyword": target.text,
            "keywordType": target.keyword_type,
            "matchType": target.keyword_type,
            "targeting": target.text,
            "keywordBid": _money(target.bid),
            "adKeywordStatus": "ENABLED",
            "searchTerm": target.search_term,
        }


def _measures(total: Activity) -> dict[str, Any]:
    measures: dict[str, Any] = {
        "impressions": total.impressions,
        "clicks": total.clicks,
        "cost": _money(total.cost),
        "spend": _money(total.cost),
        "costPerClick": _money(total.cost / total.clicks) if total.clicks else 0.0,
        "clickThroughRate": round(total.clicks / total.impressions, 4) if total.impressions else 0.0,
        "salesOtherSku7d": 0.0,
        "unitsSoldOtherSku7d": 0,
        "acosClicks7d": round(float(total.cost / total.sales * 100), 2) if total.sales else 0.0,
        "roasClicks7d": round(float(total.sales / total.cost), 2) if total.cost else 0.0,
    }
    measures["acosClicks14d"], measures["roasClicks14d"] = measures["acosClicks7d"], measures["roasClicks7d"]
    for window in _WINDOWS:  # the emulator's buyers buy within a day of their click
        for name in ("purchases", "purchasesSameSku"):
            measures[f"{name}{window}"] = total.purchases
        for name in ("unitsSoldClicks", "unitsSoldSameSku"):
            measures[f"{name}{window}"] = total.units
        for name in ("sales", "attributedSalesSameSku"):
            measures[f"{name}{window}"] = _money(total.sales)
    return measures


def _iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(epoch * 1000) % 1000:03d}Z"
    )
