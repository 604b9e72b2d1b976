"""What TikTok's Return and Refund API refuses, the emulator refuses, with the code of the
reference page's error table (``lazykern/ecommerce-api-docs``,
``data/raw/tiktok/api-reference/return-and-refund/``); one test per rule. And the
provider's side: reasons mapped per market, pages, statuses and lines mapped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from crossdock_tiktok.aftersales import cancel_reason, return_case
from crossdock_tiktok.client import TikTokShopClient
from crossdock_tiktok.emulator import REGIONS, TikTokShopSellerEmulator
from crossdock_tiktok.marketplace import TikTokShopMarketplace

from crossdock import (
    CancelReason,
    CaseAction,
    CaseKind,
    CaseResponse,
    CaseStatus,
    ChannelConnection,
    ChannelError,
    Money,
)
from crossdock.testing import emulator_http
from crossdock.testing.emulator import serve

BASE = "/return_refund/202309"
SINCE = datetime.now(UTC) - timedelta(days=1)


class Api:
    def __init__(self, emu: TikTokShopSellerEmulator, http: httpx.AsyncClient, base: str) -> None:
        self.emu, self.base = emu, base
        self.creds = emu.open_account("US")
        self.shop = emu.shop_of(self.creds)
        self.client = TikTokShopClient(emu.app_key, emu.app_secret, base_url=base, http=http)
        self.after = emu.aftersales

    async def call(
        self, path: str, body: dict[str, Any] | None = None, method: str = "POST", **params: Any
    ) -> Any:
        return await self.client.call(
            method,
            BASE + path,
            operation="test",
            access_token=self.shop.access_token,
            shop_cipher=self.shop.cipher,
            params=params or None,
            body=body if method == "POST" else None,
        )

    async def refused(
        self, path: str, body: dict[str, Any] | None = None, method: str = "POST", **params: Any
    ) -> str:
        with pytest.raises(ChannelError) as excinfo:
            await self.call(path, body, method, **params)
        assert not excinfo.value.retryable
        return str(excinfo.value.code)

    def order(self, order_id: str, status: str = "AWAITING_SHIPMENT", units: int = 1) -> str:
        self.emu.add_order(self.creds, order_id, [("LAMP", units, "10.00")], status=status)
        return order_id

    def conn(self) -> ChannelConnection:
        return ChannelConnection(
            id=1,
            tenant="t",
            channel="tiktok",
            site="US",
            currency=REGIONS["US"].currency,
            credentials=dict(self.creds),
            base_url=self.base,
            settings={},
            http=emulator_http(),
        )


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    emu = TikTokShopSellerEmulator()
    async with serve(emu) as base, httpx.AsyncClient() as http:
        made = Api(emu, http, base)
        made.emu.add_product(made.creds, "LAMP", 5)
        yield made


# --------------------------------------------------------------------------- seller cancels


async def test_cancel_needs_an_order_and_a_reason(api: Api) -> None:
    api.order("1001")
    assert await api.refused("/cancellations", {"order_id": "1001"}) == "25001001"
    assert (
        await api.refused("/cancellations", {"cancel_reason": "seller_cancel_reason_out_of_stock"})
        == "25001001"
    )
    assert api.emu.orders["1001"]["status"] == "AWAITING_SHIPMENT"


async def test_cancel_of_an_unknown_order_or_another_shops(api: Api) -> None:
    reason = {"cancel_reason": "seller_cancel_reason_out_of_stock"}
    assert await api.refused("/cancellations", {"order_id": "404", **reason}) == "25007006"
    other = api.emu.open_account("US")
    api.emu.add_order(other, "2001", [("X", 1, "1.00")])
    assert await api.refused("/cancellations", {"order_id": "2001", **reason}) == "25020005"


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("AWAITING_COLLECTION", "25001045"),
        ("IN_TRANSIT", "25001045"),
        ("DELIVERED", "25001045"),
        ("COMPLETED", "25001051"),
        ("CANCELLED", "25001051"),
    ],
)
async def test_cancel_after_shipping_or_the_end_is_refused(api: Api, status: str, code: str) -> None:
    api.order("1002", status)
    body = {"order_id": "1002", "cancel_reason": "seller_cancel_reason_out_of_stock"}
    assert await api.refused("/cancellations", body) == code
    assert api.emu.orders["1002"]["status"] == status


async def test_cancel_while_the_buyer_asks_is_refused(api: Api) -> None:
    api.after.buyer_cancels(api.order("1003"))
    body = {"order_id": "1003", "cancel_reason": "seller_cancel_reason_out_of_stock"}
    assert await api.refused("/cancellations", body) == "25001011"


@pytest.mark.parametrize(
    ("status", "reason", "code"),
    [
        ("AWAITING_SHIPMENT", "seller_cancel_reason_whatever", "25001014"),  # unknown
        (
            "AWAITING_SHIPMENT",
            "ecom_order_to_ship_canceled_reason_created_by_mistakes",
            "25001015",
        ),  # a buyer's
        ("AWAITING_SHIPMENT", "seller_cancel_unpaid_reason_out_of_stock", "25001021"),  # the unpaid one
        ("UNPAID", "seller_cancel_reason_out_of_stock", "25001021"),  # the paid one
        ("AWAITING_SHIPMENT", "seller_cancel_reason_out_of_stock_uk", "25001015"),  # another market's
    ],
)
async def test_cancel_reasons_are_the_markets_and_the_statuss(
    api: Api, status: str, reason: str, code: str
) -> None:
    api.order("1004", status)
    assert await api.refused("/cancellations", {"order_id": "1004", "cancel_reason": reason}) == code


async def test_the_address_reason_is_offline_in_singapore(api: Api) -> None:
    creds = api.emu.open_account("SG")
    shop = api.emu.shop_of(creds)
    api.emu.add_order(creds, "1005", [("X", 1, "5.00")])
    with pytest.raises(ChannelError) as excinfo:
        await api.client.call(
            "POST",
            f"{BASE}/cancellations",
            operation="test",
            access_token=shop.access_token,
            shop_cipher=shop.cipher,
            body={"order_id": "1005", "cancel_reason": "seller_cancel_paid_reason_address_not_deliver"},
        )
    assert excinfo.value.code == "25001020"
    with pytest.raises(ChannelError, match="no seller cancellation reason"):
        cancel_reason("SG", CancelReason.UNDELIVERABLE_ADDRESS, "AWAITING_SHIPMENT")


async def test_a_seller_cancellation_cancels_and_lists_as_the_sellers(api: Api) -> None:
    api.order("1006")
    data = await api.call(
        "/cancellations", {"order_id": "1006", "cancel_reason": "seller_cancel_reason_out_of_stock"}
    )
    assert data["cancel_status"] == "CANCELLATION_REQUEST_SUCCESS" and data["cancel_id"].isdigit()
    assert api.emu.orders["1006"]["status"] == "CANCELLED"
    listed = await api.call("/cancellations/search", {"cancel_types": ["CANCEL"]}, page_size=10)
    assert [(c["role"], c["cancel_type"]) for c in listed["cancellations"]] == [("SELLER", "CANCEL")]
    # ... which is no buyer's request: the provider syncs none
    page = await TikTokShopMarketplace().fetch_cases(api.conn(), updated_since=SINCE, page_token=None)
    assert page.cases == []


# --------------------------------------------------------------------------- search


async def test_search_page_sizes_filters_and_times_are_checked(api: Api) -> None:
    assert await api.refused("/cancellations/search", {}, page_size=51) == "25001001"
    assert await api.refused("/returns/search", {}, page_size=5) == "25001001"  # [10-50]
    assert await api.refused("/returns/search", {"return_status": ["OPEN"]}, page_size=10) == "25001001"
    assert (
        await api.refused("/cancellations/search", {"update_time_ge": "yesterday"}, page_size=10)
        == "25001001"
    )
    assert await api.refused("/cancellations/search", {"order_ids": "1"}, page_size=10) == "25001001"
    assert await api.refused("/cancellations/search", {}, page_size=10, sort_field="id") == "25001001"


async def test_case_pages_read_cancellations_then_returns_and_resume(api: Api) -> None:
    for n in range(60):
        api.after.buyer_cancels(api.order(f"30{n:02d}"))
    for n in range(3):
        api.after.buyer_returns(api.order(f"31{n:02d}", "DELIVERED"), "REFUND")
    provider, conn = TikTokShopMarketplace(), api.conn()
    seen: list[tuple[CaseKind, str]] = []
    token: str | None = None
    pages = 0
    while True:
        page = await provider.fetch_cases(conn, updated_since=SINCE, page_token=token)
        seen += [(c.kind, c.external_id) for c in page.cases]
        pages += 1
        token = page.next_page_token
        if token is None:
            break
    assert pages == 3  # 50 + 10 cancellations, then the returns
    assert [k for k, _ in seen].count(CaseKind.CANCELLATION) == 60
    assert [k for k, _ in seen].count(CaseKind.REFUND_ONLY) == 3
    assert len({i for _, i in seen}) == 63
    with pytest.raises(ChannelError) as excinfo:
        await provider.fetch_cases(conn, updated_since=SINCE, page_token="not ours")
    assert excinfo.value.code == "PAGE_TOKEN"


# --------------------------------------------------------------------------- cancellation answers


async def test_approving_a_cancellation_only_while_it_is_pending(api: Api) -> None:
    cancel_id = api.after.buyer_cancels(api.order("1101"))
    await api.call(f"/cancellations/{cancel_id}/approve", {})
    assert api.emu.orders["1101"]["status"] == "CANCELLED"
    assert await api.refused(f"/cancellations/{cancel_id}/approve", {}) == "25011012"
    withdrawn = api.after.buyer_cancels(api.order("1102"))
    api.after.buyer_withdraws(withdrawn)
    assert await api.refused(f"/cancellations/{withdrawn}/approve", {}) == "25020009"
    assert api.emu.orders["1102"]["status"] == "AWAITING_SHIPMENT"


async def test_approving_a_cancellation_of_an_order_shipped_meanwhile(api: Api) -> None:
    cancel_id = api.after.buyer_cancels(api.order("1103"))
    api.emu.orders["1103"]["status"] = "IN_TRANSIT"
    assert await api.refused(f"/cancellations/{cancel_id}/approve", {}) == "25001045"


async def test_answers_to_unknown_or_another_shops_requests(api: Api) -> None:
    assert await api.refused("/cancellations/9999/approve", {}) == "25007006"
    assert await api.refused("/returns/9999/reject", {"decision": "REJECT_REFUND"}) == "25007006"
    other = api.emu.open_account("US")
    api.emu.add_order(other, "2002", [("X", 1, "1.00")])
    theirs = api.after.buyer_cancels("2002")
    assert await api.refused(f"/cancellations/{theirs}/approve", {}) == "25020005"
    assert api.emu.orders["2002"]["status"] == "AWAITING_SHIPMENT"


async def test_rejecting_a_cancellation_needs_one_of_its_reasons(api: Api) -> None:
    cancel_id = api.after.buyer_cancels(api.order("1104"))
    path = f"/cancellations/{cancel_id}/reject"
    assert await api.refused(path, {}) == "25001001"
    assert await api.refused(path, {"reject_reason": "reverse_reject_request_reason_1"}) == "25001016"
    assert await api.refused(path, {"reject_reason": "because"}) == "25001014"
    assert (
        await api.refused(
            path, {"reject_reason": "seller_reject_apply_product_has_been_packed", "comment": 5}
        )
        == "25001001"
    )
    reasons = await api.call("/reject_reasons", method="GET", return_or_cancel_id=cancel_id)
    assert "seller_reject_apply_product_has_been_packed" in [r["name"] for r in reasons["reasons"]]
    assert await api.refused("/reject_reasons", method="GET") == "25001001"
    await api.call(path, {"reject_reason": "seller_reject_apply_product_has_been_packed"})
    assert api.after.cancellations[cancel_id]["cancel_status"] == "CANCELLATION_REQUEST_CANCEL"


async def test_an_approved_cancellation_cannot_be_rejected(api: Api) -> None:
    cancel_id = api.after.buyer_cancels(api.order("1105"))
    await api.call(f"/cancellations/{cancel_id}/approve", {})
    body = {"reject_reason": "seller_reject_apply_product_has_been_packed"}
    assert await api.refused(f"/cancellations/{cancel_id}/reject", body) == "25020010"


async def test_the_same_idempotency_key_is_applied_once(api: Api) -> None:
    cancel_id = api.after.buyer_cancels(api.order("1106"))
    path = f"/cancellations/{cancel_id}/approve"
    await api.call(path, {}, idempotency_key="answer-1")
    await api.call(path, {}, idempotency_key="answer-1")  # the same answer again: taken, not redone
    assert len([p for p, _ in api.after.decisions if p.endswith(path)]) == 1
    assert await api.refused(path, {}, idempotency_key="answer-2") == "25011012"  # another answer
    assert await api.refused(path, {}, idempotency_key="k" * 256) == "25001001"


# --------------------------------------------------------------------------- return answers


def _return(api: Api, order_id: str, kind: str = "RETURN_AND_REFUND", amount: str | None = None) -> str:
    return api.after.buyer_returns(api.order(order_id, "DELIVERED", units=2), kind, amount=amount)


async def test_a_decision_must_be_one_and_fit_the_return(api: Api) -> None:
    return_id = _return(api, "1201")
    path = f"/returns/{return_id}/approve"
    assert await api.refused(path, {}) == "25001001"
    assert await api.refused(path, {"decision": "APPROVE_EVERYTHING"}) == "25001001"
    assert await api.refused(path, {"decision": "APPROVE_REFUND"}) == "25020004"  # it is a return
    assert await api.refused(path, {"decision": "APPROVE_RECEIVED_PACKAGE"}) == "25011013"  # not back yet
    refund_id = _return(api, "1202", "REFUND")
    assert await api.refused(f"/returns/{refund_id}/approve", {"decision": "APPROVE_RETURN"}) == "25020004"
    assert (
        await api.refused(
            f"/returns/{refund_id}/reject",
            {"decision": "REJECT_RETURN", "reject_reason": "reverse_reject_request_reason_1"},
        )
        == "25020004"
    )
    assert api.after.decisions == []


async def test_an_approved_return_is_approved_once_and_not_rejected(api: Api) -> None:
    return_id = _return(api, "1203")
    await api.call(f"/returns/{return_id}/approve", {"decision": "APPROVE_RETURN"})
    assert api.after.returns[return_id]["return_status"] == "AWAITING_BUYER_SHIP"
    assert await api.refused(f"/returns/{return_id}/approve", {"decision": "APPROVE_RETURN"}) == "25011012"
    reject = {"reject_reason": "reverse_reject_return_parcel_reason_1"}
    assert (
        await api.refused(f"/returns/{return_id}/reject", {"decision": "REJECT_RECEIVED_PACKAGE", **reject})
        == "25020012"
    )
    again = {"decision": "REJECT_RETURN", "reject_reason": "reverse_reject_request_reason_1"}
    assert await api.refused(f"/returns/{return_id}/reject", again) == "25011011"
    api.after.buyer_ships_return(return_id)
    await api.call(f"/returns/{return_id}/approve", {"decision": "APPROVE_RECEIVED_PACKAGE"})
    assert (
        await api.refused(f"/returns/{return_id}/reject", {"decision": "REJECT_RECEIVED_PACKAGE", **reject})
        == "25020010"
    )


async def test_rejecting_a_return_needs_a_reason_of_its_stage(api: Api) -> None:
    return_id = _return(api, "1204")
    path = f"/returns/{return_id}/reject"
    assert await api.refused(path, {"decision": "REJECT_RETURN"}) == "25001001"
    package_reason = {"decision": "REJECT_RETURN", "reject_reason": "reverse_reject_return_parcel_reason_1"}
    assert await api.refused(path, package_reason) == "25001016"
    assert await api.refused(path, {"decision": "REJECT_RETURN", "reject_reason": "nope"}) == "25001014"
    await api.call(path, {"decision": "REJECT_RETURN", "reject_reason": "reverse_reject_request_reason_3"})
    assert api.after.returns[return_id]["return_status"] == "REFUND_OR_RETURN_REQUEST_REJECT"


async def test_a_partial_refund_is_less_than_asked_in_its_currency_and_offered_once(api: Api) -> None:
    return_id = _return(api, "1205", amount="18.00")
    path = f"/returns/{return_id}/approve"
    offer = {"decision": "OFFER_PARTIAL_REFUND"}
    assert await api.refused(path, offer) == "25001001"
    assert (
        await api.refused(path, {**offer, "partial_refund": {"currency": "USD", "amount": "18.00"}})
        == "25001001"
    )
    assert (
        await api.refused(path, {**offer, "partial_refund": {"currency": "USD", "amount": "25"}})
        == "25001001"
    )
    assert (
        await api.refused(path, {**offer, "partial_refund": {"currency": "GBP", "amount": "5"}}) == "25001001"
    )
    assert (
        await api.refused(path, {**offer, "partial_refund": {"currency": "USD", "amount": "0"}}) == "25001001"
    )
    await api.call(path, {**offer, "partial_refund": {"currency": "USD", "amount": "5.00"}})
    assert api.after.returns[return_id]["return_status"] == "AWAITING_BUYER_RESPONSE"
    assert (
        await api.refused(path, {**offer, "partial_refund": {"currency": "USD", "amount": "6.00"}})
        == "25011032"
    )
    api.after.buyer_answers_offer(return_id, accept=False)
    assert (
        await api.refused(path, {**offer, "partial_refund": {"currency": "USD", "amount": "6.00"}})
        == "25011032"
    )
    # the buyer turned the offer down: the provider offers it no more
    [case] = (
        await TikTokShopMarketplace().fetch_cases(
            api.conn(), updated_since=SINCE, page_token='{"ge":0,"lt":9999999999,"page":"","src":"returns"}'
        )
    ).cases
    assert case.status == CaseStatus.OPEN and case.actions == {CaseAction.ACCEPT, CaseAction.REJECT}


async def test_a_return_in_arbitration_or_withdrawn_takes_no_answer(api: Api) -> None:
    return_id = _return(api, "1206")
    await api.call(
        f"/returns/{return_id}/reject",
        {"decision": "REJECT_RETURN", "reject_reason": "reverse_reject_request_reason_1"},
    )
    api.after.buyer_appeals(return_id)
    assert await api.refused(f"/returns/{return_id}/approve", {"decision": "APPROVE_RETURN"}) == "25011010"
    withdrawn = _return(api, "1207")
    api.after.buyer_withdraws(withdrawn)
    assert await api.refused(f"/returns/{withdrawn}/approve", {"decision": "APPROVE_RETURN"}) == "25020009"


# --------------------------------------------------------------------------- the provider


async def test_dispute_is_not_offered_and_refused_plainly(api: Api) -> None:
    return_id = _return(api, "1301")
    response = CaseResponse(return_id, "1301", CaseKind.RETURN_REFUND, CaseAction.DISPUTE, "r-1", reason="x")
    with pytest.raises(ChannelError) as excinfo:
        await TikTokShopMarketplace().respond_to_case(api.conn(), response)
    assert excinfo.value.code == "NOT_SUPPORTED" and not excinfo.value.retryable


async def test_an_answer_the_case_shows_already_is_not_sent_again(api: Api) -> None:
    provider, conn = TikTokShopMarketplace(), api.conn()
    return_id = _return(api, "1302", amount="15.00")
    offer = CaseResponse(
        return_id,
        "1302",
        CaseKind.RETURN_REFUND,
        CaseAction.OFFER_PARTIAL_REFUND,
        "r-2",
        amount=Money.of("4.00", "USD"),
    )
    first = await provider.respond_to_case(conn, offer)
    again = await provider.respond_to_case(conn, offer)  # a retry whose first reply was lost
    assert first.status == again.status == CaseStatus.NEGOTIATING
    assert len(api.after.decisions) == 1
    # another answer the case no longer takes: TikTok's state, permanent
    accept = CaseResponse(
        return_id, "1302", CaseKind.RETURN_REFUND, CaseAction.REJECT, "r-3", reason="Item is correct"
    )
    with pytest.raises(ChannelError) as excinfo:
        await provider.respond_to_case(conn, accept)
    assert excinfo.value.code == "INVALID_STATE" and not excinfo.value.retryable


def test_cancel_reasons_per_market_and_status() -> None:
    assert cancel_reason("US", CancelReason.BUYER_REQUEST, "UNPAID") == (
        "seller_cancel_unpaid_reason_buyer_requested_cancellation"
    )
    assert (
        cancel_reason("GB", CancelReason.OUT_OF_STOCK, "AWAITING_SHIPMENT")
        == "seller_cancel_reason_out_of_stock_uk"
    )
    assert (
        cancel_reason("MY", CancelReason.UNDELIVERABLE_ADDRESS, "ON_HOLD")
        == "seller_cancel_paid_reason_address_not_deliver"
    )
    for site, reason, status in (
        ("GB", CancelReason.BUYER_REQUEST, "AWAITING_SHIPMENT"),
        ("US", CancelReason.UNDELIVERABLE_ADDRESS, "UNPAID"),
        ("TH", CancelReason.OTHER, "AWAITING_SHIPMENT"),
    ):
        with pytest.raises(ChannelError) as excinfo:
            cancel_reason(site, reason, status)
        assert excinfo.value.code == "CANCEL_REASON" and not excinfo.value.retryable


def test_return_statuses_lines_photos_and_deadlines_map() -> None:
    order = {
        "id": "9",
        "line_items": [
            {"id": "11", "seller_sku": "A", "sale_price": "5"},
            {"id": "12", "seller_sku": "A", "sale_price": "5"},
            {"id": "13", "seller_sku": "B", "sale_price": "7"},
        ],
    }
    raw = {
        "return_id": "77",
        "order_id": "9",
        "return_type": "RETURN_AND_REFUND",
        "return_status": "BUYER_SHIPPED_ITEM",
        "create_time": 1_700_000_000,
        "update_time": 1_700_000_100,
        "return_reason_text": "Defective item",
        "seller_next_action_response": [
            {"action": "SELLER_RESPOND_RECEIVE_PACKAGE", "deadline": 1_700_100_000}
        ],
        "return_line_items": [
            {"order_line_item_id": "12", "seller_sku": "A"},
            {"order_line_item_id": "13", "seller_sku": "B"},
        ],
        "refund_amount": {"currency": "USD", "refund_total": "12.00"},
    }
    records = [
        {
            "role": "BUYER",
            "note": "broken",
            "images": [{"url": "https://x.example/1.jpg"}, {"url": "http://x/2.jpg"}],
        },
        {"role": "SELLER", "note": "seller says", "images": [{"url": "https://x.example/s.jpg"}]},
    ]
    case = return_case(raw, records, order)
    assert (case.status, case.kind, case.actions) == (
        CaseStatus.RETURN_SHIPPED,
        CaseKind.RETURN_REFUND,
        frozenset({CaseAction.ACCEPT, CaseAction.REJECT}),
    )
    assert case.photos == ["https://x.example/1.jpg"] and case.buyer_comment == "broken"
    assert case.respond_by == datetime.fromtimestamp(1_700_100_000, UTC)
    assert sorted((line.order_line_external_id, line.quantity) for line in case.lines) == [
        ("11", 1),
        ("13", 1),
    ]
    assert case.refund_amount == Money.of("12.00", "USD")
    judged = return_case(
        {**raw, "return_status": "REJECT_RECEIVE_PACKAGE", "arbitration_status": "IN_PROGRESS"}
    )
    assert judged.status == CaseStatus.DISPUTED and judged.actions == frozenset()
    assert [line.sku for line in judged.lines] == ["A", "B"]  # no order at hand: by SKU
