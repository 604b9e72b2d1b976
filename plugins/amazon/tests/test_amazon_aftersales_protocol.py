"""After-sales on the wire: buyers' cancellation requests read from Orders 2026-01-01, a
seller's cancel as an order acknowledgement feed (Feeds API), returns from the returns report
(Reports API), and every refusal the emulator makes, over HTTP."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from crossdock_amazon.aftersales import (
    ACKNOWLEDGEMENT_FEED,
    acknowledgement_feed,
    submit_feed,
    wait_for_feed,
)
from crossdock_amazon.emulator import AmazonEmulator
from crossdock_amazon.marketplace import AmazonMarketplace

from crossdock import (
    CancelReason,
    CaseAction,
    CaseKind,
    CaseResponse,
    CaseStatus,
    ChannelConnection,
    ChannelError,
)
from crossdock.testing import emulator_http
from crossdock.testing.emulator import Faults, serve

US = "ATVPDKIKX0DER"
ORDER = "111-0000001-0000001"
SINCE = datetime.now(UTC) - timedelta(days=1)


@asynccontextmanager
async def shop(
    faults: Faults | None = None, **settings: Any
) -> AsyncIterator[tuple[AmazonEmulator, dict[str, Any], ChannelConnection, str]]:
    emulator = AmazonEmulator(faults)
    async with serve(emulator) as base_url:
        account = emulator.open_account("US")
        emulator.add_product(account, "SKU-1", stock=3)
        conn = ChannelConnection(
            id=1,
            tenant="t",
            channel="amazon",
            site="US",
            currency="USD",
            credentials=emulator.issue_token(account),
            base_url=base_url,
            settings={"returns_report_minutes": 0, **settings},
            http=emulator_http(),
        )
        yield emulator, account, conn, base_url


async def call(
    base_url: str, conn: ChannelConnection, method: str, path: str, body: Any = None, **params: str
) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.request(
            method,
            base_url + path,
            params=params,
            json=body,
            headers={"x-amz-access-token": str(conn.credentials["access_token"])},
        )


def error(response: httpx.Response) -> dict[str, Any]:
    return dict(response.json()["errors"][0])


async def cases(conn: ChannelConnection) -> list[Any]:
    """Every case one full read gives (requests, then the returns report)."""
    found: list[Any] = []
    token = None
    while True:
        page = await AmazonMarketplace().fetch_cases(conn, updated_since=SINCE, page_token=token)
        found.extend(page.cases)
        token = page.next_page_token
        if token is None:
            return found


# ---------------------------------------------------------------- buyers' cancellation requests


async def test_a_buyer_cancellation_request_is_a_case_the_seller_can_only_accept() -> None:
    async with shop() as (emulator, account, conn, base_url):
        order = emulator.add_order(account, ORDER, [("SKU-1", 2, "19.99")])
        emulator.add_order(account, "111-0000001-0000002", [("SKU-1", 1, "5.00")])
        emulator.buyer_requests_cancel(ORDER, "Ordered by mistake")
        [case] = await cases(conn)
        assert (case.external_id, case.order_external_id, case.kind) == (ORDER, ORDER, CaseKind.CANCELLATION)
        assert (case.status, case.channel_status) == (CaseStatus.OPEN, "BUYER_REQUESTED_CANCEL")
        assert case.reason == "Ordered by mistake"
        assert [(ln.order_line_external_id, ln.quantity, ln.sku) for ln in case.lines] == [
            (f"{ORDER}-1", 2, "SKU-1")
        ]
        assert case.actions == frozenset({CaseAction.ACCEPT})  # Amazon has no decline
        assert case.respond_by == datetime.fromisoformat(order["LatestShipDate"].replace("Z", "+00:00"))
        assert case.updated_at.tzinfo is not None and case.opened_at <= case.updated_at
        # Orders v0 shows the same request on the items
        items = await call(base_url, conn, "GET", f"/orders/v0/orders/{ORDER}/orderItems")
        assert items.json()["payload"]["OrderItems"][0]["BuyerRequestedCancel"] == {
            "IsBuyerRequestedCancel": "true",
            "BuyerCancelReason": "Ordered by mistake",
        }


async def test_accepting_cancels_with_buyer_canceled_once_and_reads_the_case_back() -> None:
    async with shop() as (emulator, account, conn, _):
        emulator.add_order(account, ORDER, [("SKU-1", 2, "19.99")])
        emulator.buyer_requests_cancel(ORDER)
        [case] = await cases(conn)
        answer = CaseResponse(
            case_external_id=case.external_id,
            order_external_id=ORDER,
            kind=CaseKind.CANCELLATION,
            action=CaseAction.ACCEPT,
            reference="crossdock-case-response-1",
        )
        done = await AmazonMarketplace().respond_to_case(conn, answer)
        assert (done.status, done.channel_status, done.actions) == (
            CaseStatus.ACCEPTED,
            "CANCELLED",
            frozenset(),
        )
        assert done.raw["cancelled_by"] == "MERCHANT"
        assert emulator.orders[ORDER]["OrderStatus"] == "Canceled"
        assert emulator.aftersales.cancellations == [(ORDER, "BuyerCanceled")]
        # the same answer again (its answer was lost): no second feed, the same case
        feeds = emulator.requests["/feeds/2021-06-30/feeds"]
        again = await AmazonMarketplace().respond_to_case(conn, answer)
        assert again.status == CaseStatus.ACCEPTED
        assert emulator.requests["/feeds/2021-06-30/feeds"] == feeds
        assert len(emulator.aftersales.cancellations) == 1


async def test_a_request_the_seller_shipped_through_closes_and_a_return_is_not_answerable() -> None:
    async with shop() as (emulator, account, conn, _):
        emulator.add_order(account, ORDER, [("SKU-1", 1, "19.99")])
        emulator.buyer_requests_cancel(ORDER)
        emulator.ship_order(ORDER)
        [case] = await cases(conn)
        assert (case.status, case.channel_status, case.actions) == (CaseStatus.CLOSED, "SHIPPED", frozenset())
        refused = CaseResponse(ORDER, ORDER, CaseKind.RETURN_REFUND, CaseAction.ACCEPT, "r-1")
        with pytest.raises(ChannelError) as info:
            await AmazonMarketplace().respond_to_case(conn, refused)
        assert (info.value.code, info.value.retryable) == ("NotSupported", False)


# ---------------------------------------------------------------- the seller's cancel


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        (CancelReason.OUT_OF_STOCK, "NoInventory"),
        (CancelReason.BUYER_REQUEST, "BuyerCanceled"),
        (CancelReason.UNDELIVERABLE_ADDRESS, "ShippingAddressUndeliverable"),
        (CancelReason.PRICING_ERROR, "GeneralAdjustment"),
        (CancelReason.OTHER, "GeneralAdjustment"),
    ],
)
async def test_cancel_order_sends_an_acknowledgement_feed_with_the_mapped_reason(
    reason: CancelReason, code: str
) -> None:
    async with shop() as (emulator, account, conn, _):
        emulator.add_order(account, ORDER, [("SKU-1", 1, "19.99"), ("SKU-2", 1, "4.00")])
        await AmazonMarketplace().cancel_order(conn, ORDER, reason)
        assert emulator.aftersales.cancellations == [(ORDER, code)]
        assert emulator.orders[ORDER]["OrderStatus"] == "Canceled"
        executed = {i["OrderItemId"]: i["_cancel_execution"]["cancelReason"] for i in emulator.items[ORDER]}
        assert executed == {f"{ORDER}-1": code, f"{ORDER}-2": code}  # every item, with the reason
        [feed] = emulator.aftersales.feeds.values()
        assert feed.feed_type == ACKNOWLEDGEMENT_FEED and feed.marketplaces == [US]
        # already cancelled on Amazon: success, and no feed
        await AmazonMarketplace().cancel_order(conn, ORDER, reason)
        assert len(emulator.aftersales.feeds) == 1


@pytest.mark.parametrize(("how", "code"), [("shipped", "OrderNotCancellable"), ("afn", "FulfilledByAmazon")])
async def test_a_shipped_or_amazon_fulfilled_order_is_refused_without_a_feed(how: str, code: str) -> None:
    async with shop() as (emulator, account, conn, _):
        emulator.add_order(account, ORDER, [("SKU-1", 1, "19.99")], afn=how == "afn")
        if how == "shipped":
            emulator.ship_order(ORDER)
        with pytest.raises(ChannelError) as info:
            await AmazonMarketplace().cancel_order(conn, ORDER, CancelReason.OUT_OF_STOCK)
        assert (info.value.code, info.value.retryable) == (code, False)
        assert emulator.aftersales.feeds == {} and emulator.orders[ORDER]["OrderStatus"] != "Canceled"


async def test_a_refusal_in_the_processing_report_is_amazons_code_and_text() -> None:
    """The order ships between the check and the feed: Amazon's report refuses it."""
    async with shop() as (emulator, account, conn, _base):
        emulator.add_order(account, ORDER, [("SKU-1", 1, "19.99")])
        original = emulator.aftersales.create_feed

        async def ship_first(request: Any) -> Any:
            emulator.ship_order(ORDER)
            return await original(request)

        emulator.route("POST", "/feeds/2021-06-30/feeds", emulator._planned("createFeed", ship_first))
        with pytest.raises(ChannelError) as info:
            await AmazonMarketplace().cancel_order(conn, ORDER, CancelReason.OUT_OF_STOCK)
        assert (info.value.code, info.value.retryable) == ("5006", False)
        assert "has shipped and can no longer be cancelled" in info.value.message
        assert emulator.aftersales.cancellations == []


async def test_faults_on_cancel_never_cancel_twice() -> None:
    faults = Faults(throttle=0.15, server_error=0.15, lost_answer=0.3, timeout_seconds=0.05, retry_after=0.01)
    async with shop(faults) as (emulator, account, conn, _):
        emulator.add_order(account, ORDER, [("SKU-1", 1, "19.99")])
        provider = AmazonMarketplace()
        for _ in range(20):  # the operator presses again after a failure
            try:
                await provider.cancel_order(conn, ORDER, CancelReason.OUT_OF_STOCK)
                break
            except ChannelError as exc:
                if not exc.retryable:
                    raise
        assert emulator.orders[ORDER]["OrderStatus"] == "Canceled"
        assert emulator.aftersales.cancellations == [(ORDER, "NoInventory")]
        assert emulator.injected["lost_answer"] + emulator.injected["throttle"] > 0


# ---------------------------------------------------------------- the feed's refusals


async def _feed(conn: ChannelConnection, content: bytes) -> list[tuple[str, str]]:
    api = AmazonMarketplace().client(conn)
    feed_id = await submit_feed(api, conn.http_client(), US, ACKNOWLEDGEMENT_FEED, content)
    return await wait_for_feed(api, conn.http_client(), feed_id, wait_seconds=10)


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("shipped", "5006"),
        ("afn", "5005"),
        ("unknown order", "5002"),
        ("other seller", "5002"),
        ("unknown item", "5003"),
        ("bad reason", "5004"),
        ("no items", "5003"),
        ("not xml", "FATAL"),
    ],
)
async def test_the_feed_refuses_what_amazon_refuses(case: str, code: str) -> None:
    async with shop() as (emulator, account, conn, _):
        seller = str(account["seller_id"])
        emulator.add_order(account, ORDER, [("SKU-1", 1, "19.99")], afn=case == "afn")
        other = emulator.add_seller(US)
        emulator.add_order(other, "111-0000009-0000009", [("SKU-1", 1, "1.00")])
        order, items, reason = ORDER, [f"{ORDER}-1"], "NoInventory"
        if case == "shipped":
            emulator.ship_order(ORDER)
        elif case == "unknown order":
            order = "111-9999999-9999999"
        elif case == "other seller":
            order, items = "111-0000009-0000009", ["111-0000009-0000009-1"]
        elif case == "unknown item":
            items = ["00000000000000"]
        elif case == "bad reason":
            reason = "ChangedMyMind"
        elif case == "no items":
            items = []
        content = b"<AmazonEnvelope><Message>" if case == "not xml" else None
        errors = await _feed(conn, content or acknowledgement_feed(seller, order, items, reason))
        assert errors and errors[0][0] == code
        assert emulator.aftersales.cancellations == []


async def test_the_feeds_api_refuses_incomplete_requests() -> None:
    async with shop() as (emulator, _account, conn, base_url):
        assert (
            error(await call(base_url, conn, "POST", "/feeds/2021-06-30/documents", {}))["code"]
            == "InvalidInput"
        )
        document = (
            await call(base_url, conn, "POST", "/feeds/2021-06-30/documents", {"contentType": "text/xml"})
        ).json()
        spec = {
            "feedType": ACKNOWLEDGEMENT_FEED,
            "marketplaceIds": [US],
            "inputFeedDocumentId": document["feedDocumentId"],
        }
        for missing in ("feedType", "marketplaceIds", "inputFeedDocumentId"):
            refused = await call(base_url, conn, "POST", "/feeds/2021-06-30/feeds", {**spec, missing: None})
            assert refused.status_code == 400 and missing in error(refused)["message"]
        not_uploaded = await call(base_url, conn, "POST", "/feeds/2021-06-30/feeds", spec)
        assert not_uploaded.status_code == 400 and "not been uploaded" in error(not_uploaded)["message"]
        async with httpx.AsyncClient() as http:
            assert (await http.put(document["url"], content=b"<x/>")).status_code == 200
            assert (await http.put(document["url"], content=b"<y/>")).status_code == 403  # once only
        wrong_type = await call(
            base_url, conn, "POST", "/feeds/2021-06-30/feeds", {**spec, "feedType": "POST_NOTHING"}
        )
        assert wrong_type.status_code == 400 and "feedType" in error(wrong_type)["message"]
        wrong_market = await call(
            base_url, conn, "POST", "/feeds/2021-06-30/feeds", {**spec, "marketplaceIds": ["A1PA6795UKMFR9"]}
        )
        assert wrong_market.status_code == 400
        created = await call(base_url, conn, "POST", "/feeds/2021-06-30/feeds", spec)
        assert created.status_code == 202 and created.json()["feedId"]
        missing_feed = await call(base_url, conn, "GET", "/feeds/2021-06-30/feeds/123")
        assert missing_feed.status_code == 404 and error(missing_feed)["code"] == "NotFound"
        missing_doc = await call(base_url, conn, "GET", "/feeds/2021-06-30/documents/nothing")
        assert missing_doc.status_code == 404
        # another seller sees neither the feed nor its document
        other = emulator.issue_token(emulator.add_seller(US))
        stranger = dataclasses.replace(conn, credentials=other)
        feed_id = created.json()["feedId"]
        assert (
            await call(base_url, stranger, "GET", f"/feeds/2021-06-30/feeds/{feed_id}")
        ).status_code == 404


# ---------------------------------------------------------------- returns


async def test_returns_come_from_the_returns_report_read_only() -> None:
    async with shop() as (emulator, account, conn, _):
        emulator.add_order(account, ORDER, [("SKU-1", 2, "19.99")], status="Shipped")
        rma = emulator.buyer_returns(ORDER, quantity=1, reason="CR-DEFECTIVE")
        assert await cases(conn) == []  # the first read asks for the report
        [case] = await cases(conn)  # the next reads it
        assert (case.external_id, case.order_external_id, case.kind) == (rma, ORDER, CaseKind.RETURN_REFUND)
        assert (case.status, case.channel_status, case.reason) == (
            CaseStatus.ACCEPTED,
            "Approved",
            "CR-DEFECTIVE",
        )
        assert case.refund_amount is not None and (
            case.refund_amount.amount,
            case.refund_amount.currency,
        ) == (
            Decimal("19.99"),
            "USD",
        )
        assert [(ln.quantity, ln.sku, ln.order_line_external_id) for ln in case.lines] == [
            (1, "SKU-1", f"{ORDER}-1")
        ]
        assert case.actions == frozenset() and case.photos == () and case.respond_by is None

        async def after(change: Any) -> Any:
            change()
            await cases(conn)  # this read asks for a report showing the change
            [seen] = await cases(conn)
            return seen

        shipped = await after(lambda: emulator.return_shipped(rma))
        assert shipped.status == CaseStatus.RETURN_SHIPPED and shipped.raw["tracking_id"]
        disputed = await after(lambda: emulator.claim(rma))
        assert disputed.status == CaseStatus.DISPUTED and "A-to-z" in disputed.channel_status
        refunded = await after(lambda: emulator.refund_return(rma, Decimal("15.00")))
        assert refunded.status == CaseStatus.REFUNDED and refunded.refund_amount.amount == Decimal("15.00")
        assert refunded.actions == frozenset()


async def test_a_report_is_asked_for_at_most_every_interval() -> None:
    async with shop(returns_report_minutes=60) as (emulator, _account, conn, _):
        for _ in range(3):
            await cases(conn)
        assert emulator.requests["/reports/2021-06-30/reports"] == 4  # 3 x getReports, 1 createReport
        assert len(emulator.aftersales.reports) == 1


async def test_the_reports_api_refuses_incomplete_requests() -> None:
    async with shop() as (_, _account, conn, base_url):
        path = "/reports/2021-06-30/reports"
        spec: dict[str, Any] = {
            "reportType": "GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE",
            "marketplaceIds": [US],
        }
        for missing in ("reportType", "marketplaceIds"):
            refused = await call(base_url, conn, "POST", path, {**spec, missing: None})
            assert refused.status_code == 400 and missing in error(refused)["message"]
        unknown = await call(base_url, conn, "POST", path, {**spec, "reportType": "GET_NOTHING"})
        assert unknown.status_code == 400 and "reportType" in error(unknown)["message"]
        backwards = await call(
            base_url,
            conn,
            "POST",
            path,
            {**spec, "dataStartTime": "2026-11-02T00:00:00Z", "dataEndTime": "2026-11-01T00:00:00Z"},
        )
        assert backwards.status_code == 400 and error(backwards)["code"] == "InvalidInput"
        assert (await call(base_url, conn, "GET", path)).status_code == 400  # reportTypes or nextToken
        bad_status = await call(
            base_url, conn, "GET", path, reportTypes=spec["reportType"], processingStatuses="READY"
        )
        assert bad_status.status_code == 400
        assert (await call(base_url, conn, "GET", f"{path}/1")).status_code == 404
        assert (await call(base_url, conn, "GET", "/reports/2021-06-30/documents/nope")).status_code == 404
        made = await call(base_url, conn, "POST", path, spec)
        assert made.status_code == 202
        report = (await call(base_url, conn, "GET", f"{path}/{made.json()['reportId']}")).json()
        assert report["processingStatus"] == "DONE" and report["reportDocumentId"]
        document = (
            await call(base_url, conn, "GET", f"/reports/2021-06-30/documents/{report['reportDocumentId']}")
        ).json()
        assert document["compressionAlgorithm"] == "GZIP"


async def test_a_generated_backlog_and_later_buyers_open_cases_now_and_then() -> None:
    """What the demo shows: buyers of a generated backlog (and of the orders after it) ask
    to cancel or return now and then; a test's own orders stay as made."""
    async with shop() as (emulator, account, conn, _):
        emulator.add_order(account, ORDER, [("SKU-1", 1, "19.99")])
        assert emulator.activity is None and emulator.aftersales.returns == {}
        emulator.generate_orders(account, 80, seed=11)
        for n in range(40):
            emulator.add_order(account, f"112-{n:07d}-0000011", [("SKU-1", 1, "9.99")])
        await cases(conn)  # asks for the returns report
        found = await cases(conn)
        kinds = {c.kind for c in found}
        assert kinds == {CaseKind.CANCELLATION, CaseKind.RETURN_REFUND}
        assert all(c.order_external_id in emulator.orders for c in found)
        assert not any(c.order_external_id == ORDER for c in found)


async def test_a_feed_amazon_is_slow_to_process_is_waited_for_not_sent_again() -> None:
    async with shop(cancel_wait=0.5) as (emulator, account, conn, _):
        emulator.add_order(account, ORDER, [("SKU-1", 1, "19.99")])
        emulator.aftersales.feed_polls = 50  # Amazon takes its time
        provider = AmazonMarketplace()
        with pytest.raises(ChannelError) as info:
            await provider.cancel_order(conn, ORDER, CancelReason.OUT_OF_STOCK)
        assert (info.value.code, info.value.retryable) == ("FEED_IN_PROGRESS", True)
        assert emulator.orders[ORDER]["OrderStatus"] == "Unshipped"  # not yet
        emulator.aftersales.feed_polls = 0  # processed now
        await provider.cancel_order(conn, ORDER, CancelReason.OUT_OF_STOCK)
        assert len(emulator.aftersales.feeds) == 1  # the retry waited for the same feed
        assert emulator.aftersales.cancellations == [(ORDER, "NoInventory")]
