"""Traffic on the wire: the Sales and Traffic report (Reports API), one report per day, its
JSON document read into a day's total and a row per SKU, and what the emulator refuses or
cancels as Amazon does."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from crossdock_amazon.emulator import AmazonEmulator
from crossdock_amazon.marketplace import AmazonMarketplace

from crossdock import ChannelConnection, ChannelError, Money, TrafficMetric
from crossdock.testing import emulator_http
from crossdock.testing.emulator import Faults, serve

TODAY = datetime.now(UTC).date()
DAYS = [TODAY - timedelta(days=2), TODAY - timedelta(days=1), TODAY]
US = "ATVPDKIKX0DER"


@asynccontextmanager
async def shop(
    faults: Faults | None = None,
) -> AsyncIterator[tuple[AmazonEmulator, dict[str, Any], ChannelConnection, str]]:
    emulator = AmazonEmulator(faults)
    async with serve(emulator) as base_url:
        account = emulator.open_account("US")
        for sku in ("MUG-1", "CAP-2"):
            emulator.add_product(account, sku, stock=3)
        conn = ChannelConnection(
            id=1,
            tenant="t",
            channel="amazon",
            site="US",
            currency="USD",
            credentials=emulator.issue_token(account),
            base_url=base_url,
            settings={"report_poll_seconds": 0.01},
            http=emulator_http(),
        )
        yield emulator, account, conn, base_url


async def read_traffic(
    conn: ChannelConnection, day_from: date = DAYS[0], day_to: date = DAYS[-1], *, retry: bool = False
) -> tuple[list[TrafficMetric], int]:
    """Every row of a read, and how many pages were not ready."""
    provider, token, not_ready = AmazonMarketplace(), None, 0
    metrics: list[TrafficMetric] = []
    for _ in range(500):
        try:
            page = await provider.fetch_traffic(conn, day_from=day_from, day_to=day_to, page_token=token)
        except ChannelError as exc:
            if retry and exc.retryable:
                continue
            raise
        if not page.ready:
            assert page.retry_after and page.next_page_token
            not_ready += 1
        metrics.extend(page.metrics)
        token = page.next_page_token
        if token is None:
            return metrics, not_ready
    raise AssertionError("the read did not end")


async def sp(
    base_url: str, conn: ChannelConnection, method: str, path: str, body: Any = None
) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.request(
            method,
            base_url + path,
            json=body,
            headers={"x-amz-access-token": str(conn.credentials["access_token"])},
        )


async def document(base_url: str, conn: ChannelConnection, report_id: str) -> Any:
    """Read a report until done, then its document."""
    while True:
        report = (await sp(base_url, conn, "GET", f"/reports/2021-06-30/reports/{report_id}")).json()
        if report["processingStatus"] not in ("IN_QUEUE", "IN_PROGRESS"):
            break
    if report["processingStatus"] != "DONE":
        return report["processingStatus"]
    meta = (
        await sp(base_url, conn, "GET", f"/reports/2021-06-30/documents/{report['reportDocumentId']}")
    ).json()
    async with httpx.AsyncClient() as http:
        raw = (await http.get(meta["url"])).content
    return json.loads(gzip.decompress(raw) if meta.get("compressionAlgorithm") == "GZIP" else raw)


def visits(emulator: AmazonEmulator, account: dict[str, Any]) -> None:
    for n, day in enumerate(DAYS):
        emulator.add_traffic(account, day=day, sku="MUG-1", sessions=40 + n, page_views=61 + n)
        emulator.add_traffic(account, day=day, sku="CAP-2", sessions=9, page_views=12)


async def test_each_day_has_the_shop_total_and_a_row_per_sku() -> None:
    async with shop() as (emulator, account, conn, _):
        visits(emulator, account)
        first = emulator.add_order(
            account, "111-0000001-0000001", [("MUG-1", 2, "9.50"), ("CAP-2", 1, "15.00")]
        )
        emulator.add_order(account, "111-0000001-0000002", [("MUG-1", 1, "9.50")])
        placed = datetime.fromisoformat(first["PurchaseDate"].replace("Z", "+00:00")).date()
        metrics, not_ready = await read_traffic(conn)
        assert not_ready >= 1
        rows = {(m.day, m.sku): m for m in metrics}
        assert len(rows) == len(metrics) == 9  # three days, each a total and two SKUs, once
        for n, day in enumerate(DAYS):
            mug, cap, total = rows[(day, "MUG-1")], rows[(day, "CAP-2")], rows[(day, None)]
            assert (mug.sessions, mug.page_views) == (40 + n, 61 + n)
            assert (cap.sessions, cap.page_views) == (9, 12)
            assert (total.sessions, total.page_views) == (49 + n, 73 + n)
        # the orders of the day they were placed: units, order items and ordered product sales
        mug, total = rows[(placed, "MUG-1")], rows[(placed, None)]
        assert (mug.units_ordered, mug.orders, mug.sales) == (3, 2, Money(Decimal("28.50"), "USD"))
        assert (total.units_ordered, total.orders, total.sales) == (4, 3, Money(Decimal("43.50"), "USD"))
        assert rows[(DAYS[0], "MUG-1")].units_ordered == 0 and placed != DAYS[0]


async def test_one_report_per_day_for_sku_rows_of_that_day() -> None:
    async with shop() as (emulator, account, conn, base_url):
        visits(emulator, account)
        await read_traffic(conn)
        reports = list(emulator.aftersales.reports.values())
        assert [r.report_type for r in reports] == ["GET_SALES_AND_TRAFFIC_REPORT"] * 3
        for report, day in zip(reports, DAYS, strict=True):
            start, end = (datetime.fromtimestamp(t, UTC) for t in (report.start, report.end))
            assert start.date() == end.date() == day
            assert report.marketplaces == [US]
        # why: over two days, Amazon gives each SKU once, for the whole range, with no date
        created = await sp(
            base_url,
            conn,
            "POST",
            "/reports/2021-06-30/reports",
            {
                "reportType": "GET_SALES_AND_TRAFFIC_REPORT",
                "marketplaceIds": [US],
                "dataStartTime": f"{DAYS[0].isoformat()}T00:00:00Z",
                "dataEndTime": f"{DAYS[1].isoformat()}T23:59:59Z",
                "reportOptions": {"dateGranularity": "DAY", "asinGranularity": "SKU"},
            },
        )
        assert created.status_code == 202
        body = await document(base_url, conn, created.json()["reportId"])
        assert [d["date"] for d in body["salesAndTrafficByDate"]] == [
            DAYS[0].isoformat(),
            DAYS[1].isoformat(),
        ]
        mug = next(r for r in body["salesAndTrafficByAsin"] if r["sku"] == "MUG-1")
        assert "date" not in mug and mug["trafficByAsin"]["sessions"] == 40 + 41
        assert body["reportSpecification"]["reportOptions"] == {
            "dateGranularity": "DAY",
            "asinGranularity": "SKU",
        }


async def test_the_document_holds_what_the_schema_requires() -> None:
    async with shop() as (emulator, account, conn, base_url):
        visits(emulator, account)
        created = await sp(
            base_url,
            conn,
            "POST",
            "/reports/2021-06-30/reports",
            {
                "reportType": "GET_SALES_AND_TRAFFIC_REPORT",
                "marketplaceIds": [US],
                "dataStartTime": f"{TODAY.isoformat()}T00:00:00Z",
                "dataEndTime": f"{TODAY.isoformat()}T23:59:59Z",
                "reportOptions": {"dateGranularity": "WEEK", "asinGranularity": "PARENT"},
            },
        )
        body = await document(base_url, conn, created.json()["reportId"])
        [week] = body["salesAndTrafficByDate"]
        assert date.fromisoformat(week["date"]).isoweekday() == 7  # weeks start on Sunday
        for name in (
            "orderedProductSales",
            "unitsOrdered",
            "totalOrderItems",
            "claimsAmount",
            "ordersShipped",
        ):
            assert name in week["salesByDate"]
        for name in (
            "sessions",
            "pageViews",
            "browserSessions",
            "mobileAppSessions",
            "unitSessionPercentage",
        ):
            assert name in week["trafficByDate"]
        row = body["salesAndTrafficByAsin"][0]
        assert set(row) == {"parentAsin", "salesByAsin", "trafficByAsin"}  # PARENT: no child, no SKU


async def test_a_day_amazon_cancels_has_no_rows_and_is_not_an_error() -> None:
    async with shop() as (emulator, account, conn, _):
        long_ago = TODAY - timedelta(days=800)  # "more than two years ago ... cancelled"
        emulator.add_traffic(account, day=long_ago, sku="MUG-1", sessions=5, page_views=5)
        visits(emulator, account)
        metrics, _ = await read_traffic(conn, day_from=long_ago, day_to=long_ago)
        assert metrics == []
        assert [r.status for r in emulator.aftersales.reports.values()] == ["CANCELLED"]


async def test_report_requests_amazon_refuses_or_fails() -> None:
    async with shop() as (emulator, _account, conn, base_url):
        emulator.sellers[conn.credentials["seller_id"]].marketplaces = (US, "A2EUQ1WTGCTBG2")
        base = {
            "reportType": "GET_SALES_AND_TRAFFIC_REPORT",
            "marketplaceIds": [US],
            "dataStartTime": f"{TODAY.isoformat()}T00:00:00Z",
            "dataEndTime": f"{TODAY.isoformat()}T23:59:59Z",
        }
        for options in ({"dateGranularity": "HOUR"}, {"asinGranularity": "BRAND"}, {"dateGranularity": 1}):
            answer = await sp(
                base_url, conn, "POST", "/reports/2021-06-30/reports", {**base, "reportOptions": options}
            )
            assert answer.status_code == 400 and answer.json()["errors"][0]["code"] == "InvalidInput", options
        # "supports only one marketplaceId per report": it fails
        two = await sp(
            base_url,
            conn,
            "POST",
            "/reports/2021-06-30/reports",
            {**base, "marketplaceIds": [US, "A2EUQ1WTGCTBG2"]},
        )
        assert await document(base_url, conn, two.json()["reportId"]) == "FATAL"


async def test_a_not_ready_read_resumes_and_faults_do_not_lose_a_day() -> None:
    async with shop(Faults.failing(0.2, seed=3)) as (emulator, account, conn, _):
        visits(emulator, account)
        emulator.aftersales.traffic_report_polls = 3
        metrics, not_ready = await read_traffic(conn, retry=True)
        rows = {(m.day, m.sku): m for m in metrics}
        assert not_ready >= 3
        assert {d for d, _ in rows} == set(DAYS)
        assert rows[(DAYS[1], "MUG-1")].sessions == 41
