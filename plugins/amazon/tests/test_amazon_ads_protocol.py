"""Advertising on the wire: the Amazon Ads API v3 (Sponsored Products campaigns, Reporting v3
reports made, polled and downloaded across calls), its authentication (the Ads grant, the
client id and profile headers) and every refusal of the emulator, over HTTP."""

from __future__ import annotations

import gzip
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from crossdock_amazon.ads import CAMPAIGN_MEDIA, REPORT_MEDIA
from crossdock_amazon.emulator import AmazonEmulator
from crossdock_amazon.marketplace import AmazonMarketplace

from crossdock import (
    AdLevel,
    AdMetric,
    AdState,
    AdTargetKind,
    AdType,
    ChannelConnection,
    ChannelError,
    Money,
)
from crossdock.testing import emulator_http
from crossdock.testing.emulator import Faults, serve

TODAY = datetime.now(UTC).date()
DAYS = [TODAY - timedelta(days=2), TODAY - timedelta(days=1), TODAY]


@asynccontextmanager
async def shop(
    faults: Faults | None = None, **settings: Any
) -> AsyncIterator[tuple[AmazonEmulator, dict[str, Any], ChannelConnection, str]]:
    emulator = AmazonEmulator(faults)
    async with serve(emulator) as base_url:
        account = emulator.open_account("US")
        for sku in ("MUG-1", "CAP-2"):
            emulator.add_product(account, sku, stock=3)
        yield emulator, account, connection(emulator, account, base_url, **settings), base_url


def connection(
    emulator: AmazonEmulator, account: dict[str, Any], base_url: str, conn_id: int = 1, **settings: Any
) -> ChannelConnection:
    return ChannelConnection(
        id=conn_id,
        tenant="t",
        channel="amazon",
        site="US",
        currency="USD",
        credentials=emulator.issue_token(account),
        base_url=base_url,
        settings={"report_poll_seconds": 0.01, **settings},
        http=emulator_http(),
    )


class Read:
    """A whole ads read as the core does it: page after page, a not-ready page asked again
    with its token (later, in the core; at once here), a retryable error retried."""

    def __init__(self) -> None:
        self.metrics: list[AdMetric] = []
        self.campaigns: list[Any] = []
        self.not_ready = 0
        self.retried = 0


async def read_ads(
    conn: ChannelConnection,
    day_from: date = DAYS[0],
    day_to: date = DAYS[-1],
    provider: AmazonMarketplace | None = None,
    *,
    retry: bool = False,
) -> Read:
    provider = provider or AmazonMarketplace()
    done, token = Read(), None
    for _ in range(500):
        try:
            page = await provider.fetch_ads(conn, day_from=day_from, day_to=day_to, page_token=token)
        except ChannelError as exc:
            if not (retry and exc.retryable):
                raise
            done.retried += 1
            continue
        if not page.ready:
            assert page.retry_after and page.retry_after > 0 and page.next_page_token
            done.not_ready += 1
            token = page.next_page_token
            continue
        done.metrics.extend(page.metrics)
        done.campaigns.extend(page.campaigns)
        token = page.next_page_token
        if token is None:
            return done
    raise AssertionError("the read did not end")


def rows(done: Read, level: AdLevel) -> list[AdMetric]:
    return [m for m in done.metrics if m.level == level]


def activity(emulator: AmazonEmulator, account: dict[str, Any]) -> dict[str, str]:
    """Two SKUs over three days: MUG-1 through a keyword, CAP-2 through automatic targeting
    (one day without a click)."""
    campaigns = {}
    for n, day in enumerate(DAYS):
        campaigns["MUG-1"] = emulator.add_ad_activity(
            account,
            day=day,
            sku="MUG-1",
            impressions=1000 + n,
            clicks=20 + n,
            spend=f"{12 + n}.35",
            orders=2 + n,
            sales=f"{40 + n}.80",
            keyword="enamel camping mug",
        )
        campaigns["CAP-2"] = emulator.add_ad_activity(
            account,
            day=day,
            sku="CAP-2",
            impressions=300,
            clicks=0 if n == 1 else 4,
            spend="0.00" if n == 1 else "2.04",
            orders=0 if n == 1 else 1,
            sales="0.00" if n == 1 else "15.99",
        )
    return campaigns


async def ads_token(base_url: str, account: dict[str, Any]) -> str:
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            f"{base_url}/auth/o2/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": account["ads_refresh_token"],
                "client_id": account["lwa_client_id"],
                "client_secret": account["lwa_client_secret"],
            },
        )
    return str(answer.json()["access_token"])


async def ads_call(
    base_url: str,
    account: dict[str, Any],
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = None,
    media: str = REPORT_MEDIA,
    **headers: str,
) -> httpx.Response:
    sent = {
        "Authorization": f"Bearer {token if token is not None else await ads_token(base_url, account)}",
        "Amazon-Advertising-API-ClientId": account["lwa_client_id"],
        "Amazon-Advertising-API-Scope": account["ads_profile_id"],
        "Content-Type": media,
        **{k.replace("_", "-"): v for k, v in headers.items()},
    }
    if token == "":  # no Authorization header at all
        sent.pop("Authorization")
    async with httpx.AsyncClient() as http:
        return await http.request(
            method, base_url + path, content=json.dumps(body) if body is not None else None, headers=sent
        )


def report_body(
    report_type: str = "spCampaigns", start: date = DAYS[0], end: date = DAYS[-1], **config: Any
) -> dict[str, Any]:
    columns = {
        "spCampaigns": ["date", "campaignId", "impressions", "clicks", "cost", "purchases7d", "sales7d"],
        "spAdvertisedProduct": ["date", "campaignId", "advertisedSku", "impressions", "cost"],
        "spSearchTerm": ["date", "campaignId", "searchTerm", "keyword", "clicks"],
    }
    group_by = {
        "spCampaigns": ["campaign"],
        "spAdvertisedProduct": ["advertiser"],
        "spSearchTerm": ["searchTerm"],
    }
    return {
        "name": "a report",
        "startDate": start.isoformat(),
        "endDate": end.isoformat(),
        "configuration": {
            "adProduct": "SPONSORED_PRODUCTS",
            "groupBy": group_by.get(report_type, ["campaign"]),
            "columns": columns.get(report_type, ["date"]),
            "reportTypeId": report_type,
            "timeUnit": "DAILY",
            "format": "GZIP_JSON",
            **config,
        },
    }


# ---------------------------------------------------------------- the read


async def test_campaigns_and_each_level_of_the_daily_reports() -> None:
    async with shop() as (emulator, account, conn, _):
        campaigns = activity(emulator, account)
        done = await read_ads(conn)
        assert done.not_ready >= 1  # the reports are made asynchronously
        by_id = {c.external_id: c for c in done.campaigns}
        assert set(by_id) == set(campaigns.values())
        mug = by_id[campaigns["MUG-1"]]
        assert (mug.ad_type, mug.state, mug.daily_budget) == (
            AdType.SPONSORED_PRODUCTS,
            AdState.ENABLED,
            Money(Decimal("50.00"), "USD"),
        )
        assert mug.name == "SP - MUG-1 - Manual" and mug.starts_on == DAYS[0]
        # PRODUCT rows: what each SKU's ads did each day, by the report's advertisedSku
        product = {(m.sku, m.day): m for m in rows(done, AdLevel.PRODUCT)}
        assert len(product) == 6
        for n, day in enumerate(DAYS):
            row = product[("MUG-1", day)]
            assert (row.impressions, row.clicks, row.orders, row.units) == (1000 + n, 20 + n, 2 + n, 2 + n)
            assert row.spend == Money(Decimal(f"{12 + n}.35"), "USD")
            assert row.sales == Money(Decimal(f"{40 + n}.80"), "USD")
            assert row.campaign_id == campaigns["MUG-1"] and row.ad_group_id
        assert product[("CAP-2", DAYS[1])].clicks == 0
        # CAMPAIGN rows add up to the same, one per campaign and day
        campaign_rows = {(m.campaign_id, m.day): m for m in rows(done, AdLevel.CAMPAIGN)}
        assert campaign_rows[(campaigns["CAP-2"], DAYS[2])].spend == Money(Decimal("2.04"), "USD")
        assert all(m.sku is None and m.search_term is None for m in campaign_rows.values())
        # SEARCH_TERM rows: the keyword or the automatic target, and only days with clicks
        terms = rows(done, AdLevel.SEARCH_TERM)
        keyword = [m for m in terms if m.campaign_id == campaigns["MUG-1"]]
        assert {(m.target, m.target_kind, m.match_type, m.search_term) for m in keyword} == {
            ("enamel camping mug", AdTargetKind.KEYWORD, "EXACT", "enamel camping mug")
        }
        auto = [m for m in terms if m.campaign_id == campaigns["CAP-2"]]
        assert {(m.target, m.target_kind, m.match_type) for m in auto} == {
            ("close-match", AdTargetKind.AUTO, None)
        }
        assert sorted(m.day for m in auto) == [DAYS[0], DAYS[2]]  # the day without a click is not there
        assert sum(m.clicks for m in keyword) == sum(product[("MUG-1", d)].clicks for d in DAYS)


async def test_the_requests_amazon_gets() -> None:
    async with shop() as (emulator, account, conn, _):
        activity(emulator, account)
        await read_ads(conn)
        asked = [job.asked for job in emulator.ads.reports.values()]
        assert [a["configuration"]["reportTypeId"] for a in asked] == [
            "spCampaigns",
            "spAdvertisedProduct",
            "spSearchTerm",
        ]
        assert [a["configuration"]["groupBy"] for a in asked] == [
            ["campaign"],
            ["advertiser"],
            ["searchTerm"],
        ]
        for body in asked:
            config = body["configuration"]
            assert (body["startDate"], body["endDate"]) == (DAYS[0].isoformat(), DAYS[-1].isoformat())
            assert (config["adProduct"], config["timeUnit"], config["format"]) == (
                "SPONSORED_PRODUCTS",
                "DAILY",
                "GZIP_JSON",
            )
            # the 7-day attribution columns of Sponsored Products
            assert {"date", "campaignId", "cost", "purchases7d", "sales7d", "unitsSoldClicks7d"} <= set(
                config["columns"]
            )
        assert "advertisedSku" in asked[1]["configuration"]["columns"]
        assert {"keyword", "keywordType", "targeting", "searchTerm"} <= set(
            asked[2]["configuration"]["columns"]
        )


async def test_a_long_window_is_cut_into_31_day_reports_within_the_95_days_amazon_keeps() -> None:
    async with shop() as (emulator, account, conn, _):
        activity(emulator, account)
        done = await read_ads(conn, day_from=TODAY - timedelta(days=200), day_to=TODAY)
        spans = sorted(
            (date.fromisoformat(j.asked["startDate"]), date.fromisoformat(j.asked["endDate"]))
            for j in emulator.ads.reports.values()
            if j.asked["configuration"]["reportTypeId"] == "spCampaigns"
        )
        assert spans[0][0] >= TODAY - timedelta(days=95) and spans[-1][1] == TODAY
        assert all((end - start).days + 1 <= 31 for start, end in spans)
        assert all(b[0] == a[1] + timedelta(days=1) for a, b in itertools.pairwise(spans))
        assert len(rows(done, AdLevel.PRODUCT)) == 6  # each day once, whichever report holds it


async def test_days_are_the_profiles_own_and_a_day_not_begun_there_is_not_asked_for() -> None:
    async with shop() as (emulator, account, conn, _):
        activity(emulator, account)
        zone = "Etc/GMT+12"  # twelve hours behind UTC
        emulator.ads.profiles[int(account["ads_profile_id"])].timezone = zone
        await read_ads(conn, day_from=DAYS[0], day_to=TODAY + timedelta(days=1))
        there = datetime.now(ZoneInfo(zone)).date()
        assert {j.asked["endDate"] for j in emulator.ads.reports.values()} == {there.isoformat()}
        assert there <= TODAY


async def test_a_not_ready_page_resumes_from_its_token_in_another_process() -> None:
    async with shop() as (emulator, account, conn, _):
        activity(emulator, account)
        emulator.ads.report_polls = 3
        first = AmazonMarketplace()
        token = None
        while True:
            page = await first.fetch_ads(conn, day_from=DAYS[0], day_to=DAYS[-1], page_token=token)
            token = page.next_page_token
            if not page.ready:
                break
        assert token is not None and page.retry_after is not None
        # a later job, in a new worker: nothing but the token carries on
        later = AmazonMarketplace()
        metrics: list[AdMetric] = []
        not_ready = 0
        while token is not None:
            page = await later.fetch_ads(conn, day_from=DAYS[0], day_to=DAYS[-1], page_token=token)
            not_ready += not page.ready
            metrics.extend(page.metrics)
            token = page.next_page_token
        assert not_ready >= 1
        assert len(emulator.ads.reports) == 3  # no report asked for twice
        assert sum(m.clicks for m in metrics if m.level == AdLevel.PRODUCT) == 20 + 21 + 22 + 4 + 4


async def test_a_revision_shows_in_the_next_read() -> None:
    async with shop() as (emulator, account, conn, _):
        activity(emulator, account)
        await read_ads(conn)
        emulator.revise_ad_activity(account, day=DAYS[0], sku="MUG-1", orders=5, sales="99.50")
        again = await read_ads(conn)
        [row] = [m for m in rows(again, AdLevel.PRODUCT) if m.sku == "MUG-1" and m.day == DAYS[0]]
        assert (row.orders, row.sales) == (5, Money(Decimal("99.50"), "USD"))
        assert row.impressions == 1000  # only the attribution moved


async def test_a_request_amazon_calls_a_duplicate_reuses_the_report_it_names() -> None:
    async with shop() as (emulator, account, conn, base_url):
        activity(emulator, account)
        # what an earlier attempt asked for, its answer lost: the same request is still made
        first = AmazonMarketplace()
        page = await first.fetch_ads(conn, day_from=DAYS[0], day_to=DAYS[-1], page_token=None)
        after_campaigns = page.next_page_token
        page = await first.fetch_ads(conn, day_from=DAYS[0], day_to=DAYS[-1], page_token=after_campaigns)
        [made] = emulator.ads.reports
        # a retry of that call asks again: Amazon answers 425 and names the report
        retried = await first.fetch_ads(conn, day_from=DAYS[0], day_to=DAYS[-1], page_token=after_campaigns)
        assert len(emulator.ads.reports) == 1
        assert made in (retried.next_page_token or "")
        body = emulator.ads.reports[made].asked
        answer = await ads_call(base_url, account, "POST", "/reporting/reports", body)
        assert answer.status_code == 425
        assert answer.json() == {"code": "425", "detail": f"The Request is a duplicate of : {made}"}


async def test_a_failed_report_is_asked_for_again_then_given_up() -> None:
    async with shop() as (emulator, account, conn, _):
        activity(emulator, account)
        emulator.ads.fail_reports = 1
        done = await read_ads(conn)
        assert len(rows(done, AdLevel.CAMPAIGN)) == 6
        assert sum(j.status == "FAILED" for j in emulator.ads.reports.values()) == 1
        emulator.ads.fail_reports = 10
        with pytest.raises(ChannelError) as refused:
            await read_ads(conn)
        assert (refused.value.code, refused.value.retryable) == ("REPORT_FAILED", False)
        assert "internal error" in refused.value.message


async def test_an_expired_download_link_is_asked_for_again() -> None:
    async with shop() as (emulator, account, conn, _):
        activity(emulator, account)
        emulator.ads.expire_downloads = 1
        done = await read_ads(conn)
        assert len(rows(done, AdLevel.CAMPAIGN)) == 6
        assert emulator.ads.expire_downloads == 0


async def test_campaign_pages_follow_next_token() -> None:
    async with shop() as (emulator, account, conn, _):
        skus = [f"SKU-{n:03d}" for n in range(130)]
        for sku in skus:
            emulator.add_ad_activity(
                account, day=TODAY, sku=sku, impressions=10, clicks=1, spend="0.50", orders=0, sales="0"
            )
        done = await read_ads(conn, day_from=TODAY, day_to=TODAY)
        names = sorted(c.name for c in done.campaigns)
        assert names == sorted(f"SP - {sku} - Auto" for sku in skus)  # two pages, each campaign once
        assert emulator.requests["/sp/campaigns/list"] == 2


async def test_through_faults_every_figure_arrives_once() -> None:
    async with shop(Faults.failing(0.2, seed=5)) as (emulator, account, conn, _):
        campaigns = activity(emulator, account)
        done = await read_ads(conn, retry=True)
        assert done.retried > 0
        product = {}
        for m in rows(done, AdLevel.PRODUCT):
            product[(m.sku, m.day)] = m  # a duplicate page brings a row again: stored once
        assert product[("MUG-1", DAYS[2])].spend == Money(Decimal("14.35"), "USD")
        assert {c.external_id for c in done.campaigns} == set(campaigns.values())


# ---------------------------------------------------------------- authentication and errors


async def test_the_ads_token_is_its_own_grant_and_refreshed_once_when_it_expires() -> None:
    async with shop() as (emulator, account, conn, base_url):
        activity(emulator, account)
        provider = AmazonMarketplace()
        await read_ads(conn, provider=provider)
        logins = emulator.requests["/auth/o2/token"]
        assert logins == 1  # one Ads token for the whole read
        emulator.expire_tokens()
        await read_ads(conn, provider=provider)
        assert emulator.requests["/auth/o2/token"] == logins + 1
        # an Ads token opens no SP-API call, an SP-API token no Ads call
        ads = await ads_token(base_url, account)
        async with httpx.AsyncClient() as http:
            sp = await http.get(
                f"{base_url}/orders/2026-01-01/orders/111-0000001-0000001",
                headers={"x-amz-access-token": ads},
            )
        assert sp.status_code == 403
        refused = await ads_call(
            base_url,
            account,
            "POST",
            "/sp/campaigns/list",
            {},
            token=str(conn.credentials["access_token"]),
            media=CAMPAIGN_MEDIA,
        )
        assert refused.status_code == 401


async def test_a_profile_the_grant_does_not_reach_is_permanent_without_a_second_login() -> None:
    async with shop() as (emulator, _account, conn, _):
        other = emulator.open_account("US")
        wrong = dict(conn.credentials, ads_profile_id=other["ads_profile_id"])
        with pytest.raises(ChannelError) as refused:
            await read_ads(dataclass_replace(conn, credentials=wrong))
        assert (refused.value.code, refused.value.retryable) == ("Unauthorized", False)
        assert "Not authorized to access scope" in refused.value.message
        assert emulator.requests["/auth/o2/token"] == 1


async def test_a_refused_ads_grant_and_a_connection_without_one() -> None:
    async with shop() as (_, _account, conn, _base):
        revoked = dict(conn.credentials, ads_refresh_token="Atzr|not-a-grant")
        with pytest.raises(ChannelError) as refused:
            await read_ads(dataclass_replace(conn, credentials=revoked))
        assert (refused.value.code, refused.value.retryable) == ("invalid_grant", False)
        # a connection never granted the Ads API has no advertising: an empty read, not an
        # error (a permanent one would mark the connection failed, its orders with it)
        bare = {k: v for k, v in conn.credentials.items() if not k.startswith("ads_")}
        nothing = await read_ads(dataclass_replace(conn, credentials=bare))
        assert (nothing.metrics, nothing.campaigns) == ([], [])


async def test_throttling_is_retryable_with_amazons_retry_after() -> None:
    async with shop(Faults(throttle=1.0, retry_after=7)) as (_, _account, conn, _base):
        with pytest.raises(ChannelError) as throttled:
            await read_ads(conn)
        assert (throttled.value.code, throttled.value.retryable, throttled.value.retry_after) == (
            "THROTTLED",
            True,
            7,
        )


async def test_a_refusal_of_the_request_is_permanent() -> None:
    async with shop() as (_, _account, conn, base_url):
        elsewhere = dataclass_replace(conn, settings={**conn.settings, "ads_url": base_url + "/nowhere"})
        with pytest.raises(ChannelError) as refused:
            await read_ads(elsewhere)
        assert (refused.value.code, refused.value.retryable) == ("404", False)


# ---------------------------------------------------------------- the emulator refuses what Amazon refuses


async def test_report_requests_amazon_refuses() -> None:
    async with shop() as (_, account, _conn, base_url):
        cases = [
            (report_body("spTargetingX"), "configuration reportTypeId is unknown or invalid"),
            (
                report_body(columns=["date", "campaignId", "bogus", "advertisedSku"]),
                "configuration columns includes invalid values: (bogus, advertisedSku)",
            ),
            (
                report_body(
                    "spAdvertisedProduct", filters=[{"field": "campaignStatus", "values": ["PAUSED"]}]
                ),
                "configuration filters includes fields: (campaignStatus) which are invalid for groupBys: advertiser.",
            ),
            (report_body(start=TODAY - timedelta(days=31), end=TODAY), "at most 31 days"),
            (report_body(start=TODAY - timedelta(days=100), end=TODAY - timedelta(days=90)), "last 95 days"),
            (report_body(start=TODAY, end=TODAY - timedelta(days=1)), "startDate must not be after endDate"),
            (report_body(timeUnit="HOURLY"), "timeUnit"),
            (report_body(format="CSV"), "format"),
            (report_body(groupBy=["advertiser"]), "groupBy"),
            (
                report_body(columns=["startDate", "campaignId"]),
                "columns includes invalid values: (startDate)",
            ),
        ]
        for body, words in cases:
            answer = await ads_call(base_url, account, "POST", "/reporting/reports", body)
            assert answer.status_code == 400, body
            assert answer.json()["code"] == "400" and words in answer.json()["detail"], answer.json()
        wrong_type = await ads_call(
            base_url, account, "POST", "/reporting/reports", report_body(), media="application/json"
        )
        assert wrong_type.status_code == 415


async def test_ads_authentication_amazon_refuses() -> None:
    async with shop() as (emulator, account, _conn, base_url):
        token = await ads_token(base_url, account)
        other = emulator.open_account("US")
        answers = {
            "no token": await ads_call(
                base_url, account, "POST", "/reporting/reports", report_body(), token=""
            ),
            "unknown token": await ads_call(
                base_url, account, "POST", "/reporting/reports", report_body(), token="Atza|x"
            ),
            "another client": await ads_call(
                base_url,
                account,
                "POST",
                "/reporting/reports",
                report_body(),
                token=token,
                **{"Amazon-Advertising-API-ClientId": other["lwa_client_id"]},
            ),
            "no scope": await ads_call(
                base_url,
                account,
                "POST",
                "/reporting/reports",
                report_body(),
                token=token,
                **{"Amazon-Advertising-API-Scope": ""},
            ),
            "unknown scope": await ads_call(
                base_url,
                account,
                "POST",
                "/reporting/reports",
                report_body(),
                token=token,
                **{"Amazon-Advertising-API-Scope": "42"},
            ),
            "another's profile": await ads_call(
                base_url,
                account,
                "POST",
                "/reporting/reports",
                report_body(),
                token=token,
                **{"Amazon-Advertising-API-Scope": other["ads_profile_id"]},
            ),
        }
        assert {name: a.status_code for name, a in answers.items()} == dict.fromkeys(answers, 401)
        assert answers["no scope"].json()["detail"] == "Scope header is missing"
        assert answers["another's profile"].json()["detail"] == "Not authorized to access scope"
        assert answers["unknown scope"].json()["detail"] == "No matching advertiser found for scope"
        emulator.expire_tokens()
        expired = await ads_call(base_url, account, "POST", "/reporting/reports", report_body(), token=token)
        assert expired.status_code == 401


async def test_campaign_list_refusals() -> None:
    async with shop() as (emulator, account, _conn, base_url):
        for n in range(3):
            emulator.add_ad_activity(
                account, day=TODAY, sku=f"S-{n}", impressions=1, clicks=0, spend="0", orders=0, sales="0"
            )
        plain = await ads_call(base_url, account, "POST", "/sp/campaigns/list", {}, media="application/json")
        assert plain.status_code == 415
        accept = await ads_call(
            base_url, account, "POST", "/sp/campaigns/list", {}, media=CAMPAIGN_MEDIA, Accept="text/csv"
        )
        assert accept.status_code == 406
        for body in ({"maxResults": 0}, {"stateFilter": {"include": ["RUNNING"]}}, {"nextToken": "forged"}):
            answer = await ads_call(
                base_url, account, "POST", "/sp/campaigns/list", body, media=CAMPAIGN_MEDIA
            )
            assert answer.status_code == 400 and "details" in answer.json(), body
        first = await ads_call(
            base_url, account, "POST", "/sp/campaigns/list", {"maxResults": 2}, media=CAMPAIGN_MEDIA
        )
        assert len(first.json()["campaigns"]) == 2 and first.json()["totalResults"] == 3
        token = first.json()["nextToken"]
        other_filter = await ads_call(
            base_url,
            account,
            "POST",
            "/sp/campaigns/list",
            {"maxResults": 2, "nextToken": token, "stateFilter": {"include": ["ARCHIVED"]}},
            media=CAMPAIGN_MEDIA,
        )
        assert other_filter.status_code == 400  # a token belongs to the filter it came with
        second = await ads_call(
            base_url,
            account,
            "POST",
            "/sp/campaigns/list",
            {"maxResults": 2, "nextToken": token},
            media=CAMPAIGN_MEDIA,
        )
        assert len(second.json()["campaigns"]) == 1 and "nextToken" not in second.json()
        assert isinstance(second.json()["campaigns"][0]["campaignId"], str)


async def test_report_lifecycle_and_the_download_as_s3_answers() -> None:
    async with shop() as (emulator, account, _conn, base_url):
        activity(emulator, account)
        token = await ads_token(base_url, account)
        created = await ads_call(base_url, account, "POST", "/reporting/reports", report_body(), token=token)
        assert created.status_code == 200 and created.json()["status"] == "PENDING"
        report_id = created.json()["reportId"]
        statuses = []
        while True:
            got = await ads_call(base_url, account, "GET", f"/reporting/reports/{report_id}", token=token)
            statuses.append(got.json()["status"])
            if statuses[-1] == "COMPLETED":
                break
        assert statuses == ["PROCESSING", "COMPLETED"]
        url = got.json()["url"]
        assert got.json()["urlExpiresAt"] and got.json()["fileSize"] > 0
        async with httpx.AsyncClient() as http:
            document = await http.get(url)
            assert document.status_code == 200
            data = json.loads(gzip.decompress(document.content))
            assert {tuple(sorted(r)) for r in data} == {
                tuple(
                    sorted(["date", "campaignId", "impressions", "clicks", "cost", "purchases7d", "sales7d"])
                )
            }
            assert all(isinstance(r["campaignId"], int) for r in data)  # an Integer in reports
            with_auth = await http.get(url, headers={"Authorization": f"Bearer {token}"})
            assert with_auth.status_code == 400 and b"Only one auth mechanism" in with_auth.content
            forged = await http.get(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"))
            assert forged.status_code == 403
            emulator.ads.expire_urls()
            expired = await http.get(url)
            assert expired.status_code == 403 and b"expired" in expired.content
        other = emulator.open_account("US")
        elsewhere = await ads_call(base_url, other, "GET", f"/reporting/reports/{report_id}")
        assert elsewhere.status_code == 404


async def test_profiles_of_the_grant() -> None:
    async with shop() as (_, account, _conn, base_url):
        answer = await ads_call(base_url, account, "GET", "/v2/profiles", media=CAMPAIGN_MEDIA)
        [profile] = answer.json()
        assert str(profile["profileId"]) == account["ads_profile_id"]
        assert (profile["countryCode"], profile["currencyCode"]) == ("US", "USD")
        assert profile["accountInfo"]["marketplaceStringId"] == "ATVPDKIKX0DER"


async def test_the_demo_backlog_brings_a_month_of_ads() -> None:
    async with shop() as (emulator, account, conn, _):
        emulator.generate_orders(account, 20, seed=3)
        done = await read_ads(conn, day_from=TODAY - timedelta(days=29), day_to=TODAY)
        product = rows(done, AdLevel.PRODUCT)
        assert {m.sku for m in product} == {"MUG-1", "CAP-2"}
        assert len({m.day for m in product}) == 30
        assert sum(m.spend.amount for m in product) > 0 and sum(m.orders for m in product) > 0


def dataclass_replace(conn: ChannelConnection, **changes: Any) -> ChannelConnection:
    import dataclasses

    return dataclasses.replace(conn, **changes)
