"""After-sales against the emulator over HTTP: the seller's cancellation
(``/order/reverse/cancel/validate`` + ``/order/reverse/cancel/create``), the buyers' reverse
orders read as cases, the seller's answers, retries that never answer twice, and one test
per refusal the emulator makes, in Lazada's envelope and codes."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from crossdock_lazada.aftersales import CASE_PAGE, pick_cancel_reason
from crossdock_lazada.client import LazadaClient
from crossdock_lazada.emulator import LazadaSellerEmulator
from crossdock_lazada.marketplace import LazadaMarketplace

from crossdock import (
    CancelReason,
    CaseAction,
    CaseKind,
    CaseResponse,
    CaseStatus,
    ChannelCase,
    ChannelConnection,
    ChannelError,
    Money,
    with_retries,
)
from crossdock.testing import emulator_http
from crossdock.testing.emulator import Faults, serve

SINCE = datetime.now(UTC) - timedelta(days=1)
PHOTOS = ["https://img.lazcdn.com/reverse/a.jpg", "https://img.lazcdn.com/reverse/b.jpg"]


@dataclass
class Env:
    emulator: LazadaSellerEmulator
    base: str
    http: httpx.AsyncClient
    account: dict[str, Any]
    market: LazadaMarketplace

    @property
    def seller(self) -> int:
        return int(self.account["seller_id"])

    def conn(self) -> ChannelConnection:
        return ChannelConnection(
            id=1,
            tenant="t",
            channel="lazada",
            site="SG",
            currency="SGD",
            credentials=dict(self.account),
            base_url=self.base,
            settings={"timeout": 0.5},
            http=emulator_http(),
        )

    def order(self, order_id: str, status: str = "pending", units: int = 2, price: str = "12.50") -> str:
        self.emulator.add_order(self.account, order_id, [("SKU-1", units, price)], status=status)
        return order_id

    async def call(self, path: str, **params: Any) -> dict[str, Any]:
        client = LazadaClient(
            self.account["app_key"], self.account["app_secret"], base_url=self.base, http=self.http
        )
        return await client.call("GET", path, params=params, access_token=self.account["access_token"])

    async def refused(self, path: str, **params: Any) -> ChannelError:
        with pytest.raises(ChannelError) as caught:
            await self.call(path, **params)
        return caught.value

    async def cases(self) -> dict[str, ChannelCase]:
        found: dict[str, ChannelCase] = {}
        token: str | None = None
        while True:
            page = await self.market.fetch_cases(self.conn(), updated_since=SINCE, page_token=token)
            found.update({c.external_id: c for c in page.cases})
            if page.next_page_token is None:
                return found
            token = page.next_page_token

    async def respond(self, case: ChannelCase, action: CaseAction, **more: Any) -> ChannelCase:
        response = CaseResponse(
            case_external_id=case.external_id,
            order_external_id=case.order_external_id,
            kind=case.kind,
            action=action,
            reference="crossdock-case-response-1",
            **more,
        )
        return await self.market.respond_to_case(self.conn(), response)

    def items(self, order_id: str) -> list[int]:
        return [int(i["order_item_id"]) for i in self.emulator.orders[order_id]["_items"]]


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    emulator = LazadaSellerEmulator()
    async with serve(emulator) as base, httpx.AsyncClient(timeout=5) as http:
        account = emulator.open_account("SG")
        emulator.add_product(account, "SKU-1", stock=10)
        yield Env(emulator, base, http, account, LazadaMarketplace())


# ------------------------------------------------------------------ the seller cancels


async def test_cancel_order_validates_then_cancels_with_the_mapped_reason(env: Env) -> None:
    env.order("5001")
    await env.market.cancel_order(env.conn(), "5001", CancelReason.OUT_OF_STOCK)
    assert env.emulator.status("5001") == ["canceled", "canceled"]
    # "Out of Stock" is Lazada's 10000021 here, and Lazada sets the SKU's stock to 0 for it
    assert env.emulator.reverse.applied == [("cancel", "5001", tuple(str(i) for i in env.items("5001")))]
    assert env.emulator.stock(env.account, "SKU-1") == 0
    # already cancelled on Lazada: a success, nothing asked again
    await env.market.cancel_order(env.conn(), "5001", CancelReason.OUT_OF_STOCK)
    assert len(env.emulator.reverse.applied) == 1


async def test_cancel_reasons_map_to_the_options_lazada_offers() -> None:
    guide = [  # the order-cancellation guide's example answer
        {"reason_name": "Sourcing Delay", "reason_id": "10000019"},
        {"reason_name": "Out of Stock", "reason_id": "10000021"},
        {"reason_name": "Wrong Price or Pricing Error", "reason_id": "10000023"},
    ]
    assert pick_cancel_reason(CancelReason.OUT_OF_STOCK, guide) == "10000021"
    assert pick_cancel_reason(CancelReason.PRICING_ERROR, guide) == "10000023"
    assert pick_cancel_reason(CancelReason.BUYER_REQUEST, guide) is None  # not offered
    assert (
        pick_cancel_reason(CancelReason.OTHER, [*guide, {"reason_name": "Others", "reason_id": "9"}]) == "9"
    )


async def test_a_reason_lazada_does_not_offer_is_refused_and_nothing_changes(env: Env) -> None:
    env.order("5002")
    env.emulator.reverse.cancel_reasons = (("10000021", "Out of Stock"),)
    with pytest.raises(ChannelError) as caught:
        await env.market.cancel_order(env.conn(), "5002", CancelReason.BUYER_REQUEST)
    assert (caught.value.code, caught.value.retryable) == ("REASON_NOT_OFFERED", False)
    assert "Out of Stock" in caught.value.message
    assert env.emulator.status("5002") == ["pending", "pending"]


async def test_a_shipped_order_is_refused_with_lazadas_words(env: Env) -> None:
    env.order("5003", status="shipped")
    with pytest.raises(ChannelError) as caught:
        await env.market.cancel_order(env.conn(), "5003", CancelReason.OUT_OF_STOCK)
    assert (caught.value.code, caught.value.retryable) == ("CANCEL_NOT_ALLOWED", False)
    assert "shipped" in caught.value.message and "Ready To Ship" in caught.value.message
    assert env.emulator.status("5003") == ["shipped", "shipped"] and env.emulator.reverse.applied == []


async def test_cancelling_a_packed_unit_takes_its_package(env: Env) -> None:
    env.order("5004")
    items = env.emulator.orders["5004"]["_items"]
    for item in items:
        item.update(status="packed", package_id="FP1")
    items[0]["status"] = "canceled"  # the buyer cancelled one unit before
    await env.market.cancel_order(env.conn(), "5004", CancelReason.PRICING_ERROR)
    assert env.emulator.status("5004") == ["canceled", "canceled"]
    [(_, _, units)] = env.emulator.reverse.applied
    assert units == (str(items[1]["order_item_id"]),)  # only the live unit was named


async def test_cancel_survives_lost_answers_5xx_and_throttling_without_cancelling_twice(env: Env) -> None:
    ids = [env.order(str(5100 + n)) for n in range(6)]
    faults = Faults(
        lost_answer=0.3, server_error=0.1, throttle=0.1, retry_after=0.01, timeout_seconds=0.1, seed=3
    )
    env.emulator.faults = faults
    env.emulator.rng.seed(faults.seed)
    for order_id in ids:
        await with_retries(
            lambda o=order_id: env.market.cancel_order(env.conn(), o, CancelReason.OUT_OF_STOCK),  # type: ignore[misc]
            attempts=30,
            base_delay=0.01,
        )
    env.emulator.faults = Faults()
    assert env.emulator.injected["lost_answer"] > 0 and env.emulator.injected["server_error"] > 0
    assert sorted(o for _, o, _ in env.emulator.reverse.applied) == ids  # each cancelled once
    assert all(env.emulator.status(o) == ["canceled", "canceled"] for o in ids)


async def test_cancel_throttling_and_5xx_are_retryable(env: Env) -> None:
    env.order("5005")
    for code in ("901", "ApiCallLimit", "513"):
        env.emulator.refuse("/order/reverse/cancel/create", code)
        with pytest.raises(ChannelError) as caught:
            await env.market.cancel_order(env.conn(), "5005", CancelReason.OUT_OF_STOCK)
        assert caught.value.retryable and caught.value.code == code
    assert env.emulator.status("5005") == ["pending", "pending"]


# ------------------------------------------------------------------ cases read


async def test_a_buyer_cancellation_request_is_an_open_case(env: Env) -> None:
    env.order("6001")
    reverse_id = env.emulator.reverse.buyer_cancels("6001", reason="Change of mind")
    [case] = (await env.cases()).values()
    assert case.external_id == reverse_id and case.order_external_id == "6001"
    assert (case.kind, case.status) == (CaseKind.CANCELLATION, CaseStatus.OPEN)
    assert case.channel_status == "REQUEST_INITIATE:INITIAL" and case.reason == "Change of mind"
    assert case.actions == {CaseAction.ACCEPT, CaseAction.REJECT}
    assert case.respond_by is not None and case.respond_by > datetime.now(UTC)
    first = str(env.items("6001")[0])
    assert [(line.quantity, line.order_line_external_id, line.sku) for line in case.lines] == [
        (2, first, "SKU-1")
    ]
    assert case.refund_amount == Money(Decimal("25.00"), "SGD")  # 2 x 1250 cents
    assert case.opened_at.tzinfo is not None and case.updated_at >= case.opened_at


async def test_a_return_with_photos_and_amount(env: Env) -> None:
    env.order("6002", status="delivered", units=3, price="10.00")
    reverse_id = env.emulator.reverse.buyer_returns(
        "6002", reason="Damaged item", photos=PHOTOS, refund="18.00"
    )
    case = (await env.cases())[reverse_id]
    assert (case.kind, case.status) == (CaseKind.RETURN_REFUND, CaseStatus.OPEN)
    assert list(case.photos) == PHOTOS and case.reason == "Damaged item"
    assert case.refund_amount == Money(Decimal("18.00"), "SGD")
    assert case.actions == {CaseAction.ACCEPT, CaseAction.REJECT}  # no partial offer on Lazada
    assert sum(line.quantity for line in case.lines) == 3


async def test_a_return_to_lazadas_warehouse_is_out_of_the_sellers_hands(env: Env) -> None:
    env.order("6004", status="delivered")
    reverse_id = env.emulator.reverse.buyer_returns("6004")
    env.emulator.reverse.reverse_orders[reverse_id]["is_rtm"] = "false"  # RTW
    case = (await env.cases())[reverse_id]
    assert case.status == CaseStatus.OPEN and case.actions == frozenset()


async def test_cases_walk_pages_oldest_first_and_survive_a_shrinking_window(env: Env) -> None:
    for n in range(CASE_PAGE + 12):
        env.order(str(7000 + n))
        env.emulator.reverse.buyer_cancels(str(7000 + n))
    conn = env.conn()
    first = await env.market.fetch_cases(conn, updated_since=SINCE, page_token=None)
    assert len(first.cases) == CASE_PAGE and first.next_page_token
    stamps = [c.updated_at for c in first.cases]
    assert stamps == sorted(stamps)
    # three cases of the first page move on later than the walk's window: they leave it,
    # and the pages after them shift
    later = time.time() + 180
    env.emulator.clock = lambda: later
    for case in first.cases[:3]:
        env.emulator.reverse.buyer_withdraws(case.external_id)
    seen = {c.external_id for c in first.cases}
    token: str | None = first.next_page_token
    pages = 1
    while token is not None:
        page = await env.market.fetch_cases(conn, updated_since=SINCE, page_token=token)
        seen |= {c.external_id for c in page.cases}
        token, pages = page.next_page_token, pages + 1
    assert seen == set(env.emulator.reverse.reverse_orders)  # nothing skipped
    assert pages == 3  # the walk stepped back a page when the window shrank


async def test_a_case_is_read_under_faults(env: Env) -> None:
    env.order("6003", status="delivered")
    reverse_id = env.emulator.reverse.buyer_returns("6003", photos=PHOTOS)
    env.emulator.faults = Faults.failing(0.4, seed=2)
    env.emulator.faults.timeout_seconds = 1.0
    env.emulator.rng.seed(2)

    async def read() -> dict[str, ChannelCase]:
        return await env.cases()

    cases = await with_retries(read, attempts=40, base_delay=0.01)
    env.emulator.faults = Faults()
    assert list(cases[reverse_id].photos) == PHOTOS


# ------------------------------------------------------------------ answers


async def test_accepting_a_cancellation_cancels_the_order(env: Env) -> None:
    env.order("6101")
    env.emulator.reverse.buyer_cancels("6101")
    [case] = (await env.cases()).values()
    done = await env.respond(case, CaseAction.ACCEPT)
    assert (done.status, done.channel_status, done.actions) == (
        CaseStatus.ACCEPTED,
        "CANCEL_SUCCESS:INITIAL",
        frozenset(),
    )
    assert env.emulator.status("6101") == ["canceled", "canceled"]
    # the same answer again (its answer was lost): not applied twice, no failure
    again = await env.respond(case, CaseAction.ACCEPT)
    assert again.status == CaseStatus.ACCEPTED
    assert [a for a, _, _ in env.emulator.reverse.applied] == ["agree_cancel=true"]


async def test_rejecting_a_cancellation_with_a_reason(env: Env) -> None:
    env.order("6102")
    env.emulator.reverse.buyer_cancels("6102")
    [case] = (await env.cases()).values()
    done = await env.respond(case, CaseAction.REJECT, reason="already handed over to the logistics partner")
    assert (done.status, done.actions) == (CaseStatus.REJECTED, frozenset())
    assert env.emulator.status("6102") == ["pending", "pending"]
    # an answer the case no longer takes is refused with what Lazada shows
    with pytest.raises(ChannelError) as caught:
        await env.respond(case, CaseAction.ACCEPT)
    assert caught.value.code == "ACTION_NOT_ALLOWED" and "REQUEST_REJECT" in caught.value.message


async def test_a_return_accepted_shipped_back_and_refunded(env: Env) -> None:
    env.order("6103", status="delivered")
    reverse_id = env.emulator.reverse.buyer_returns("6103", photos=PHOTOS, refund="20.00")
    case = (await env.cases())[reverse_id]
    agreed = await env.respond(case, CaseAction.ACCEPT)
    assert (agreed.status, agreed.actions) == (CaseStatus.ACCEPTED, frozenset())  # the buyer sends it
    env.emulator.reverse.buyer_ships_back(reverse_id)
    shipped = (await env.cases())[reverse_id]
    assert shipped.status == CaseStatus.RETURN_SHIPPED
    assert shipped.actions == {CaseAction.ACCEPT, CaseAction.REJECT}
    refunded = await env.respond(shipped, CaseAction.ACCEPT)
    assert refunded.status == CaseStatus.REFUNDED and refunded.refund_amount == Money(Decimal("20.00"), "SGD")
    assert [a for a, _, _ in env.emulator.reverse.applied] == [
        "agreeReturn",
        "confirmDelivery",
        "agreeRefund",
    ]


async def test_refusing_a_returned_parcel_needs_photos(env: Env) -> None:
    env.order("6104", status="delivered", units=1)
    reverse_id = env.emulator.reverse.buyer_returns("6104")
    case = (await env.cases())[reverse_id]
    await env.respond(case, CaseAction.ACCEPT)
    env.emulator.reverse.buyer_ships_back(reverse_id)
    shipped = (await env.cases())[reverse_id]
    with pytest.raises(ChannelError) as caught:
        await env.respond(shipped, CaseAction.REJECT, reason="the item is not damaged")
    assert (caught.value.code, caught.value.retryable) == ("110", False)
    assert "image" in caught.value.message
    # with a photo link in the comment it goes through
    done = await env.respond(
        shipped, CaseAction.REJECT, reason="the item is not damaged", comment="https://img.example.com/qc.jpg"
    )
    assert done.status == CaseStatus.REJECTED
    assert env.emulator.reverse.reverse_orders[reverse_id]["_history"][-1]["picture"] == [
        "https://img.example.com/qc.jpg"
    ]


async def test_a_refund_only_request_disputed_then_decided_by_lazada(env: Env) -> None:
    env.order("6105", status="delivered", units=2, price="8.00")
    reverse_id = env.emulator.reverse.buyer_returns("6105", refund_only=True, photos=PHOTOS)
    case = (await env.cases())[reverse_id]
    assert case.kind == CaseKind.REFUND_ONLY and case.actions == {CaseAction.ACCEPT, CaseAction.DISPUTE}
    disputed = await env.respond(
        case, CaseAction.DISPUTE, reason="arrived intact", comment="see https://img.example.com/seal.jpg"
    )
    assert (disputed.status, disputed.actions) == (CaseStatus.DISPUTED, frozenset())
    # one call per line ("currently list size can be only 1"), and none twice on a retry
    await env.respond(
        case, CaseAction.DISPUTE, reason="arrived intact", comment="https://img.example.com/seal.jpg"
    )
    assert [a for a, _, _ in env.emulator.reverse.applied] == ["startDispute", "startDispute"]
    env.emulator.reverse.platform_decides(reverse_id, for_buyer=True)
    assert (await env.cases())[reverse_id].status == CaseStatus.REFUNDED


async def test_answers_survive_lost_answers_and_are_applied_once(env: Env) -> None:
    reverse_ids = []
    for n in range(5):
        env.order(str(6200 + n), status="delivered")
        reverse_ids.append(env.emulator.reverse.buyer_returns(str(6200 + n)))
    cases = await env.cases()
    faults = Faults(
        lost_answer=0.3, server_error=0.1, throttle=0.1, retry_after=0.01, timeout_seconds=0.1, seed=5
    )
    env.emulator.faults = faults
    env.emulator.rng.seed(faults.seed)
    for reverse_id in reverse_ids:
        done = await with_retries(
            lambda r=reverse_id: env.respond(cases[r], CaseAction.ACCEPT),  # type: ignore[misc]
            attempts=30,
            base_delay=0.01,
        )
        assert done.status == CaseStatus.ACCEPTED
    env.emulator.faults = Faults()
    assert env.emulator.injected["lost_answer"] > 0
    assert sorted(r for a, r, _ in env.emulator.reverse.applied if a == "agreeReturn") == sorted(reverse_ids)


# ------------------------------------------------------------------ the emulator's refusals


async def test_refusal_cancel_validate(env: Env) -> None:
    env.order("8001")
    items = json.dumps(env.items("8001"))
    assert (await env.refused("/order/reverse/cancel/validate", order_item_id_list=items)).code == "115"
    assert (
        await env.refused("/order/reverse/cancel/validate", order_id="9999", order_item_id_list=items)
    ).code == ("122")
    assert (
        await env.refused("/order/reverse/cancel/validate", order_id="8001", order_item_id_list="[]")
    ).code == ("102")
    wrong = await env.refused("/order/reverse/cancel/validate", order_id="8001", order_item_id_list="[1]")
    assert wrong.code == "123" and "invalid trade order lines" in wrong.message


async def test_refusal_cancel_create_needs_an_offered_reason(env: Env) -> None:
    env.order("8002")
    items = json.dumps(env.items("8002"))
    for reason in ("", "42"):
        refused = await env.refused(
            "/order/reverse/cancel/create", order_id="8002", order_item_id_list=items, reason_id=reason
        )
        assert refused.code == "104" and not refused.retryable
    assert env.emulator.status("8002") == ["pending", "pending"]


async def test_refusal_cancel_create_of_a_shipped_order_cancels_nothing(env: Env) -> None:
    env.order("8003", status="shipped")
    answer = await env.call(
        "/order/reverse/cancel/create",
        order_id="8003",
        order_item_id_list=json.dumps(env.items("8003")),
        reason_id="10000021",
    )
    assert answer["data"]["tip_type"] == "error" and env.emulator.status("8003") == ["shipped", "shipped"]


async def test_refusal_reverse_list_paging(env: Env) -> None:
    assert (await env.refused("/reverse/getreverseordersforseller", page_no=1)).code == "MissingParameter"
    assert (await env.refused("/reverse/getreverseordersforseller", page_size=0, page_no=1)).code == "120"
    assert (await env.refused("/reverse/getreverseordersforseller", page_size=10, page_no=0)).code == "121"


async def test_refusal_unknown_reverse_orders_and_lines(env: Env) -> None:
    assert (await env.refused("/order/reverse/return/detail/list", reverse_order_id="1")).code == "105"
    assert (await env.refused("/order/reverse/return/history/list", reverse_order_line_id="1")).code == "103"
    assert (await env.refused("/order/reverse/reason/list", reverse_order_line_id="")).code == "103"
    # another seller's reverse order is not this seller's
    other = env.emulator.open_account("SG")
    env.emulator.add_order(other, "8004", [("SKU-1", 1, "5.00")], status="delivered")
    theirs = env.emulator.reverse.buyer_returns("8004")
    assert (await env.refused("/order/reverse/return/detail/list", reverse_order_id=theirs)).code == "105"


async def test_refusal_cancel_decide(env: Env) -> None:
    env.order("8005")
    reverse_id = env.emulator.reverse.buyer_cancels("8005")
    path = "/order/reverse/cancel/seller/decide"
    assert (await env.refused(path, reverse_order_id="1", agree_cancel="true")).code == "105"
    assert (await env.refused(path, reverse_order_id=reverse_id)).code == "MissingParameter"
    assert (
        await env.refused(path, reverse_order_id=reverse_id, agree_cancel="false", reason_code="7")
    ).code == "104"
    await env.call(path, reverse_order_id=reverse_id, agree_cancel="false")
    decided = await env.refused(path, reverse_order_id=reverse_id, agree_cancel="true")
    assert decided.code == "131" and env.emulator.status("8005") == ["pending", "pending"]


async def test_refusal_cancel_decide_once_shipped(env: Env) -> None:
    env.order("8006")
    reverse_id = env.emulator.reverse.buyer_cancels("8006")
    env.emulator.set_status("8006", "shipped")
    refused = await env.refused(
        "/order/reverse/cancel/seller/decide", reverse_order_id=reverse_id, agree_cancel="true"
    )
    assert refused.code == "131" and env.emulator.status("8006") == ["shipped", "shipped"]


async def test_refusal_return_update(env: Env) -> None:
    env.order("8007", status="delivered")
    reverse_id = env.emulator.reverse.buyer_returns("8007")
    lines = [
        line["reverse_order_line_id"]
        for line in env.emulator.reverse.reverse_orders[reverse_id]["reverse_order_lines"]
    ]
    path = "/order/reverse/return/update"
    one = json.dumps([int(lines[0])])

    async def code(**params: Any) -> str:
        return (await env.refused(path, **params)).code

    assert await code(action="refund", reverse_order_id=reverse_id, reverse_order_item_ids=one) == "107"
    assert await code(action="agreeReturn", reverse_order_id="x", reverse_order_item_ids=one) == "125"
    assert await code(action="agreeReturn", reverse_order_id="1", reverse_order_item_ids=one) == "112"
    assert await code(action="agreeReturn", reverse_order_id=reverse_id, reverse_order_item_ids="[]") == "100"
    assert (
        await code(action="agreeReturn", reverse_order_id=reverse_id, reverse_order_item_ids="[1]") == "126"
    )
    both = json.dumps([int(line) for line in lines])
    assert (
        await code(
            action="refuseReturn",
            reverse_order_id=reverse_id,
            reverse_order_item_ids=both,
            reason_id="2001",
            comment="x",
        )
        == "111"
    )
    # a refusal without a reason, or without a comment
    assert (
        await code(
            action="refuseReturn", reverse_order_id=reverse_id, reverse_order_item_ids=one, comment="x"
        )
        == "108"
    )
    assert (
        await code(
            action="refuseReturn", reverse_order_id=reverse_id, reverse_order_item_ids=one, reason_id="2001"
        )
        == "109"
    )
    # an action the line's status does not take: confirming a parcel not sent, refunding before
    assert (
        await code(action="confirmDelivery", reverse_order_id=reverse_id, reverse_order_item_ids=one) == "114"
    )
    assert await code(action="agreeRefund", reverse_order_id=reverse_id, reverse_order_item_ids=one) == "114"
    assert env.emulator.reverse.applied == []


async def test_refusal_return_update_on_another_request_type(env: Env) -> None:
    env.order("8008")
    reverse_id = env.emulator.reverse.buyer_cancels("8008")
    line = env.emulator.reverse.reverse_orders[reverse_id]["reverse_order_lines"][0]["reverse_order_line_id"]
    refused = await env.refused(
        "/order/reverse/return/update",
        action="agreeReturn",
        reverse_order_id=reverse_id,
        reverse_order_item_ids=f"[{line}]",
    )
    assert refused.code == "114"


async def test_refusal_refund_only_decide(env: Env) -> None:
    env.order("8009", status="delivered")
    reverse_id = env.emulator.reverse.buyer_returns("8009", refund_only=True)
    lines = [
        line["reverse_order_line_id"]
        for line in env.emulator.reverse.reverse_orders[reverse_id]["reverse_order_lines"]
    ]
    path = "/order/reverse/onlyrefund/seller/decide"

    async def code(**params: Any) -> str:
        return (await env.refused(path, reverse_order_id=reverse_id, **params)).code

    assert await code(action="agreeReturn", reverse_order_item_ids=f"[{lines[0]}]") == "107"
    assert (
        await code(action="agreeRefund", reverse_order_item_ids=json.dumps([int(x) for x in lines])) == "133"
    )
    assert (
        await code(action="startDispute", reverse_order_item_ids=f"[{lines[0]}]", image_info_list="[]")
        == "109"
    )
    assert (
        await code(action="startDispute", reverse_order_item_ids=f"[{lines[0]}]", comment="intact") == "110"
    )
    await env.call(
        path, reverse_order_id=reverse_id, action="agreeRefund", reverse_order_item_ids=f"[{lines[0]}]"
    )
    assert (
        await code(action="agreeRefund", reverse_order_item_ids=f"[{lines[0]}]") == "114"
    )  # refunded already
    env.order("8010", status="delivered")
    a_return = env.emulator.reverse.buyer_returns("8010")
    line = env.emulator.reverse.reverse_orders[a_return]["reverse_order_lines"][0]["reverse_order_line_id"]
    refused = await env.refused(
        path, reverse_order_id=a_return, action="agreeRefund", reverse_order_item_ids=f"[{line}]"
    )
    assert refused.code == "114"  # a return is answered with ReverseOrderReturnUpdate


# ------------------------------------------------------------------ the demo's shop


async def test_a_generated_shop_has_cases_and_its_buyers_keep_opening_some(env: Env) -> None:
    ids = env.emulator.generate_orders(env.account, 200, seed=4)
    desk = env.emulator.reverse
    kinds = {r["request_type"] for r in desk.reverse_orders.values()}
    assert {"CANCEL", "RETURN"} <= kinds and all(
        r["trade_order_id"] in ids for r in desk.reverse_orders.values()
    )
    returns = [r for r in desk.reverse_orders.values() if r["request_type"] == "RETURN"]
    assert all(r["_history"][0]["picture"] for r in returns)  # with the buyer's photos
    before = len(desk.reverse_orders)
    for n in range(2 * env.emulator.CASE_EVERY):
        env.order(str(9_900_000 + n))
    assert len(desk.reverse_orders) >= before + 2  # now and then, a live buyer asks for one
    cases = await env.cases()
    assert len(cases) == len(desk.reverse_orders)
