"""Shopee's after-sales APIs on the wire: each refusal the emulator makes as Shopee makes
it (the codes and messages of the API reference's error lists), the status and action
mapping, and the provider under faults (lost answers, 5xx, throttling): an answer or a
cancellation is applied once, whatever is retried."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
from crossdock_shopee.aftersales import RETURN_ACTIONS, RETURN_STATUS
from crossdock_shopee.client import ShopeeClient
from crossdock_shopee.emulator import ShopeeSellerEmulator
from crossdock_shopee.emulator_returns import RETURN_STATUSES
from crossdock_shopee.marketplace import ShopeeMarketplace

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
from crossdock.testing.emulator import Faults, serve


@dataclass
class Wire:
    emu: ShopeeSellerEmulator
    creds: dict[str, Any]
    base: str

    @property
    def shop_id(self) -> int:
        return int(self.creds["shop_id"])

    @property
    def desk(self) -> Any:
        return self.emu.after_sales

    def conn(self, **settings: Any) -> ChannelConnection:
        return ChannelConnection(
            id=1,
            tenant="t",
            channel="shopee",
            site="SG",
            currency="SGD",
            credentials=self.creds,
            base_url=self.base,
            settings={"dispute_email": "ops@acme.example", **settings},
            http=emulator_http(),
        )

    async def refusal(self, method: str, path: str, **kwargs: Any) -> tuple[str, str]:
        client = ShopeeClient(
            self.creds["partner_id"],
            self.creds["partner_key"],
            base_url=self.base,
            http=emulator_http().client(),
        )
        with pytest.raises(ChannelError) as caught:
            await client.call(
                method, path, access_token=self.creds["access_token"], shop_id=self.shop_id, **kwargs
            )
        assert not caught.value.retryable
        message = caught.value.message.split(": ", 2)[-1]
        return caught.value.code, message

    def order(self, sn: str, status: str = "READY_TO_SHIP", **kwargs: Any) -> str:
        self.emu.add_order(self.shop_id, sn, [("LAMP", 1, "12.90"), ("SHADE", 2, "5.00")], **kwargs)
        if status != "READY_TO_SHIP":
            self.emu.update_order(sn, order_status=status)
        return sn

    def returned(self, sn: str, **kwargs: Any) -> str:
        self.order(sn, "COMPLETED")
        return_sn: str = self.desk.buyer_returns(sn, **kwargs)
        return return_sn


@pytest.fixture
async def wire() -> AsyncIterator[Wire]:
    emu = ShopeeSellerEmulator(clock=lambda: time.time() - 30)
    async with serve(emu) as base:
        creds = emu.add_shop("SG")
        emu.add_model(int(creds["shop_id"]), 100, 1, "LAMP", stock=10)
        emu.add_model(int(creds["shop_id"]), 100, 2, "SHADE", stock=10)
        yield Wire(emu, creds, base)


CANCEL = "/api/v2/order/cancel_order"
HANDLE = "/api/v2/order/handle_buyer_cancellation"
LIST = "/api/v2/returns/get_return_list"
DETAIL = "/api/v2/returns/get_return_detail"
CONFIRM = "/api/v2/returns/confirm"
OFFER = "/api/v2/returns/offer"
ACCEPT_OFFER = "/api/v2/returns/accept_offer"
DISPUTE = "/api/v2/returns/dispute"
REASONS = "/api/v2/returns/get_return_dispute_reason"
SOLUTIONS = "/api/v2/returns/get_available_solutions"


# ---------------------------------------------------------------------- cancel_order


async def test_cancel_order_refusals(wire: Wire) -> None:
    wire.order("SN-1")
    out_of_stock = {"order_sn": "SN-1", "cancel_reason": "OUT_OF_STOCK"}
    assert await wire.refusal(
        "POST", CANCEL, body={"order_sn": "NOPE", "cancel_reason": "CUSTOMER_REQUEST"}
    ) == (
        "error_not_found",
        "Wrong parameters, detail: order NOPE not found.",
    )
    assert await wire.refusal("POST", CANCEL, body={"order_sn": "SN-1"}) == (
        "error_param",
        "Wrong parameters, detail: cancel_reason is a required field.",
    )
    assert await wire.refusal(
        "POST", CANCEL, body={"order_sn": "SN-1", "cancel_reason": "PRICING_ERROR"}
    ) == (
        "error_param",
        "Wrong parameters, detail: cancel_reason PRICING_ERROR is invalid.",
    )
    # "item_list: Required when cancel_reason is OUT_OF_STOCK"
    assert await wire.refusal("POST", CANCEL, body=out_of_stock) == (
        "error_param",
        "Wrong parameters, detail: item_list is required when cancel_reason is OUT_OF_STOCK.",
    )
    assert (
        await wire.refusal(
            "POST", CANCEL, body={**out_of_stock, "item_list": [{"item_id": 1, "model_id": 9}]}
        )
    )[1].endswith("has an item not in order SN-1.")
    # "UNDELIVERABLE_AREA (Note: Only apply for TW and MY)"
    assert await wire.refusal(
        "POST", CANCEL, body={"order_sn": "SN-1", "cancel_reason": "UNDELIVERABLE_AREA"}
    ) == (
        "error_param",
        "Wrong parameters, detail: cancel_reason UNDELIVERABLE_AREA only applies to TW and MY.",
    )
    # "This action can only be performed before the order has been shipped."
    wire.order("SN-2", "SHIPPED")
    assert await wire.refusal(
        "POST", CANCEL, body={"order_sn": "SN-2", "cancel_reason": "CUSTOMER_REQUEST"}
    ) == (
        "order.error_limit",
        "Can not cancel this order",
    )
    wire.order("SN-3", "CANCELLED")
    assert (
        await wire.refusal("POST", CANCEL, body={"order_sn": "SN-3", "cancel_reason": "CUSTOMER_REQUEST"})
    )[0] == ("order.error_limit")
    wire.order("SN-4", fulfilled_by_shopee=True)
    assert await wire.refusal(
        "POST", CANCEL, body={"order_sn": "SN-4", "cancel_reason": "CUSTOMER_REQUEST"}
    ) == (
        "order. error_param",
        "You can not cancel warehouse order.",
    )
    assert wire.desk.applied == []


async def test_the_provider_maps_reasons_and_treats_a_cancelled_order_as_done(wire: Wire) -> None:
    market, conn = ShopeeMarketplace(), wire.conn()
    wire.order("SN-5")
    with pytest.raises(ChannelError) as other:
        await market.cancel_order(conn, "SN-5", CancelReason.OTHER)
    assert other.value.code == "UNSUPPORTED_REASON" and not other.value.retryable
    with pytest.raises(ChannelError) as area:  # Singapore: Shopee's own refusal
        await market.cancel_order(conn, "SN-5", CancelReason.UNDELIVERABLE_ADDRESS)
    assert area.value.code == "error_param" and "TW and MY" in area.value.message
    await market.cancel_order(conn, "SN-5", CancelReason.BUYER_REQUEST)
    await market.cancel_order(conn, "SN-5", CancelReason.BUYER_REQUEST)  # cancelled already: success
    assert [b["cancel_reason"] for p, _, b in wire.desk.applied if p == CANCEL] == ["CUSTOMER_REQUEST"]
    with pytest.raises(ChannelError) as missing:
        await market.cancel_order(conn, "NOPE", CancelReason.BUYER_REQUEST)
    assert missing.value.code == "error_not_found"


async def test_a_taiwan_shop_cancels_for_an_undeliverable_area(wire: Wire) -> None:
    creds = wire.emu.add_shop("TW")
    wire.emu.add_model(int(creds["shop_id"]), 200, 1, "LAMP", stock=3)
    wire.emu.add_order(int(creds["shop_id"]), "TW-1", [("LAMP", 1, "300")])
    conn = ChannelConnection(
        id=2,
        tenant="t",
        channel="shopee",
        site="TW",
        currency="TWD",
        credentials=creds,
        base_url=wire.base,
        http=emulator_http(),
    )
    await ShopeeMarketplace().cancel_order(conn, "TW-1", CancelReason.UNDELIVERABLE_ADDRESS)
    assert wire.emu.orders["TW-1"]["order_status"] == "CANCELLED"
    assert wire.emu.orders["TW-1"]["cancel_reason"] == "Undeliverable Area"


# ---------------------------------------------------------------------- buyer cancellation


async def test_handle_buyer_cancellation_refusals(wire: Wire) -> None:
    wire.order("SN-6")
    assert await wire.refusal("POST", HANDLE, body={"order_sn": "SN-6", "operation": "ACCEPT"}) == (
        "order.cancel_order_invalid_status",
        "Invalid order_status.The order status should be IN_CANCEL.",
    )
    wire.desk.buyer_requests_cancellation("SN-6")
    assert await wire.refusal("POST", HANDLE, body={"order_sn": "SN-6", "operation": "MAYBE"}) == (
        "error_param",
        "Wrong parameters, detail: operation should be ACCEPT or REJECT.",
    )
    assert await wire.refusal("POST", HANDLE, body={"operation": "ACCEPT"}) == (
        "error_param",
        "Wrong parameters, detail: order_sn is a required field.",
    )
    assert (await wire.refusal("POST", HANDLE, body={"order_sn": "NOPE", "operation": "ACCEPT"}))[
        0
    ] == "error_not_found"
    assert wire.desk.applied == []


async def test_a_cancellation_answer_whose_reply_was_lost_is_not_sent_twice(wire: Wire) -> None:
    market, conn = ShopeeMarketplace(), wire.conn()
    wire.order("SN-7")
    wire.desk.buyer_requests_cancellation("SN-7")
    answer = CaseResponse("SN-7", "SN-7", CaseKind.CANCELLATION, CaseAction.REJECT, "r-1", reason="packed")
    wire.desk.lose_next(HANDLE)
    with pytest.raises(ChannelError) as lost:
        await market.respond_to_case(conn, answer)
    assert lost.value.retryable  # a 504: the core tries again
    case = await market.respond_to_case(conn, answer)  # the retry
    assert case.status == CaseStatus.REJECTED and case.channel_status == "READY_TO_SHIP"
    assert [p for p, _, _ in wire.desk.applied] == [HANDLE]
    # an answer the case no longer takes, and that is not what it shows, is refused
    with pytest.raises(ChannelError) as late:
        await market.respond_to_case(
            conn, CaseResponse("SN-7", "SN-7", CaseKind.CANCELLATION, CaseAction.ACCEPT, "r-2")
        )
    assert late.value.code == "ACTION_NOT_ALLOWED" and not late.value.retryable


async def test_server_errors_and_throttling_are_retryable_and_apply_once(wire: Wire) -> None:
    market, conn = ShopeeMarketplace(), wire.conn()
    wire.order("SN-8")
    wire.desk.buyer_requests_cancellation("SN-8")
    answer = CaseResponse("SN-8", "SN-8", CaseKind.CANCELLATION, CaseAction.ACCEPT, "r-1")
    wire.emu.fail_next(HANDLE, "error_server", "System error. Please try again later.", status=500)
    wire.emu.fail_next(HANDLE, "error_rate_limit", status=429, retry_after=2)
    for expected in ("error_server", "error_rate_limit"):
        with pytest.raises(ChannelError) as failed:
            await market.respond_to_case(conn, answer)
        assert failed.value.retryable and failed.value.code == expected
    assert wire.desk.applied == []
    assert (await market.respond_to_case(conn, answer)).status == CaseStatus.ACCEPTED
    assert len(wire.desk.applied) == 1


async def test_a_cancel_whose_answer_was_lost_is_not_sent_twice(wire: Wire) -> None:
    market, conn = ShopeeMarketplace(), wire.conn()
    wire.order("SN-9")
    wire.desk.lose_next(CANCEL)
    with pytest.raises(ChannelError) as lost:
        await market.cancel_order(conn, "SN-9", CancelReason.OUT_OF_STOCK)
    assert lost.value.retryable
    await market.cancel_order(conn, "SN-9", CancelReason.OUT_OF_STOCK)
    assert [p for p, _, _ in wire.desk.applied] == [CANCEL]


# ---------------------------------------------------------------------- returns: reads


async def test_return_list_refusals(wire: Wire) -> None:
    now = int(time.time())
    base = {"page_no": 0, "page_size": 10}
    assert await wire.refusal(
        "GET", LIST, params={**base, "update_time_from": now - 16 * 86400, "update_time_to": now}
    ) == (
        "error_param",
        "The period between update_time_from and update_time_to must not more than 15 days.",
    )
    assert await wire.refusal(
        "GET", LIST, params={**base, "update_time_from": now, "update_time_to": now - 10}
    ) == (
        "error_param",
        "The update_time_to should be later than update_time_from.",
    )
    assert await wire.refusal("GET", LIST, params={**base, "page_size": 101}) == (
        "error_param",
        "Wrong parameters, detail: page_size should be between 1 and 100.",
    )
    assert (await wire.refusal("GET", LIST, params={"page_size": 10}))[0] == "error_param"
    assert await wire.refusal("GET", LIST, params={**base, "status": "REJECTED"}) == (
        "error_param",
        "Wrong parameters, detail: status REJECTED is invalid.",
    )
    assert await wire.refusal("GET", DETAIL, params={"return_sn": "NOPE"}) == (
        "error_data",
        "The return you queried doesn't exist.",
    )
    assert await wire.refusal("GET", REASONS, params={"return_sn": "NOPE"}) == (
        "dispute.request.param.error",
        "The return_sn you requested was not queried, please check it",
    )


async def test_returns_are_paged_by_update_time_and_mapped(wire: Wire) -> None:
    market, conn = ShopeeMarketplace(), wire.conn()
    wanted = [wire.returned(f"SN-P{i}", refund_only=i % 2 == 0) for i in range(5)]
    seen: dict[str, Any] = {}
    token = None
    for _ in range(10):
        page = await market.fetch_cases(
            conn, updated_since=datetime.now(UTC) - timedelta(days=40), page_token=token
        )
        times = [c.updated_at for c in page.cases]
        assert times == sorted(times)  # least recently updated first
        seen.update((c.external_id, c) for c in page.cases if c.kind != CaseKind.CANCELLATION)
        token = page.next_page_token
        if token is None:
            break
    assert sorted(seen) == sorted(wanted)
    case = seen[wanted[1]]
    assert case.kind == CaseKind.RETURN_REFUND and case.status == CaseStatus.OPEN
    assert case.refund_amount == Money(Decimal("22.9"), "SGD") and case.respond_by is not None
    assert case.lines[0].order_line_external_id == "100:1" and case.lines[0].sku == "LAMP"


def test_every_return_status_is_mapped() -> None:
    assert set(RETURN_STATUS) == RETURN_STATUSES
    assert set(RETURN_ACTIONS) <= RETURN_STATUSES
    for status, case_status in RETURN_STATUS.items():
        if case_status.final:
            assert status not in RETURN_ACTIONS


# ---------------------------------------------------------------------- returns: answers


async def test_confirm_refusals(wire: Wire) -> None:
    return_sn = wire.returned("SN-10")
    assert (await wire.refusal("POST", CONFIRM, body={"return_sn": "NOPE"}))[0] == "error_data"
    assert await wire.refusal("POST", CONFIRM, body={}) == (
        "error_param",
        "Wrong parameters, detail: return_sn is a required parameter.",
    )
    wire.desk.returns[return_sn]["status"] = "SELLER_DISPUTE"
    assert await wire.refusal("POST", CONFIRM, body={"return_sn": return_sn}) == (
        "error_data",
        "Shopee is reviewing the case and will get back to you.",
    )
    wire.desk.returns[return_sn]["status"] = "ACCEPTED"  # the buyer is to ship it back first
    assert await wire.refusal("POST", CONFIRM, body={"return_sn": return_sn}) == (
        "error_data",
        "Invalid return status: ACCEPTED",
    )
    assert wire.desk.applied == []


@pytest.mark.parametrize(
    ("change", "body", "expected"),
    [
        (
            None,
            {"proposed_solution": "REFUND_ONLY"},
            ("error_param", "Please fill a value for proposed adjusted refund amount"),
        ),
        (
            None,
            {"proposed_solution": "REFUND_ONLY", "proposed_adjusted_refund_amount": 23},
            ("error_param", "The proposed adjusted refund amount can not exceed max refund amount"),
        ),
        (
            None,
            {"proposed_solution": "REFUND_ONLY", "proposed_adjusted_refund_amount": 1},
            ("error_param", "The proposed adjusted refund amount can not be lower than min refund amount"),
        ),
        (
            None,
            {"proposed_solution": "REFUND_ONLY", "proposed_adjusted_refund_amount": -3},
            ("error_param", "The proposed adjusted refund amount must be positive"),
        ),
        (
            None,
            {"proposed_solution": "REFUND_ONLY", "proposed_adjusted_refund_amount": 5.125},
            (
                "error_param",
                "The proposed adjusted refund amount only accepts 2 digit(s) after decimal point",
            ),
        ),
        (
            None,
            {"proposed_solution": "EXCHANGE", "proposed_adjusted_refund_amount": 5},
            ("error_param", "This proposed solution is not one of the available solutions for this return."),
        ),
        (
            {"status": "ACCEPTED"},
            {"proposed_solution": "REFUND_ONLY", "proposed_adjusted_refund_amount": 5},
            ("error_return_status", "The return status cannot support this action"),
        ),
        (
            {"negotiation_status": "ONGOING"},
            {"proposed_solution": "REFUND_ONLY", "proposed_adjusted_refund_amount": 5},
            ("error_negotiation_status", "The negotiation status cannot support this action"),
        ),
        (
            {"status": "JUDGING"},
            {"proposed_solution": "REFUND_ONLY", "proposed_adjusted_refund_amount": 5},
            ("error_data", "Shopee is reviewing the case and will get back to you."),
        ),
    ],
)
async def test_offer_refusals(
    wire: Wire, change: dict[str, Any] | None, body: dict[str, Any], expected: tuple[str, str]
) -> None:
    return_sn = wire.returned("SN-11", amount="22.90")
    wire.desk.returns[return_sn].update(change or {})
    assert await wire.refusal("POST", OFFER, body={"return_sn": return_sn, **body}) == expected
    assert wire.desk.applied == []


async def test_a_refund_only_request_takes_no_return_and_refund_offer(wire: Wire) -> None:
    return_sn = wire.returned("SN-12", refund_only=True)
    body = {
        "return_sn": return_sn,
        "proposed_solution": "RETURN_REFUND",
        "proposed_adjusted_refund_amount": 5,
    }
    assert (await wire.refusal("POST", OFFER, body=body))[
        1
    ] == "This proposed solution is not one of the available solutions for this return."


async def test_accept_offer_needs_the_buyers_counter_proposal(wire: Wire) -> None:
    return_sn = wire.returned("SN-13")
    assert await wire.refusal("POST", ACCEPT_OFFER, body={"return_sn": return_sn}) == (
        "error_no_buyer_offer",
        "cannot accept refund offer because there is no counter proposal from buyer",
    )


async def test_dispute_refusals(wire: Wire) -> None:
    return_sn = wire.returned("SN-14")
    module = {
        "module_index": 1,
        "requirement": "Photo(s) of the product as packed and shipped.",
        "image_url": ["https://img.example/1.jpg"],
    }
    good = {
        "return_sn": return_sn,
        "email": "ops@acme.example",
        "dispute_reason_id": 52,
        "image_list": [module],
    }
    assert await wire.refusal("POST", DISPUTE, body={**good, "email": ""}) == (
        "dispute.request.param.error",
        "Input invalid email=[]",
    )
    assert await wire.refusal("POST", DISPUTE, body={**good, "dispute_reason_id": 50}) == (
        "dispute.request.param.error",
        "Can't raise dispute because the return_sn and dispute_reason_id does not match.",
    )
    assert await wire.refusal("POST", DISPUTE, body={**good, "image_list": []}) == (
        "dispute.request.param.error",
        "can't raise dispute because mandatory evidence is missing",
    )
    four = {**module, "image_url": [f"https://img.example/{i}.jpg" for i in range(4)]}
    assert await wire.refusal("POST", DISPUTE, body={**good, "image_list": [four]}) == (
        "dispute.request.param.error",
        "Invalid images, images max size is 3 per module",
    )
    assert (
        await wire.refusal("POST", DISPUTE, body={**good, "image_list": [{**module, "requirement": "x"}]})
    )[1] == ("can't raise dispute because the requirement and dispute reason ID does not match")
    wire.desk.returns[return_sn]["status"] = "REFUND_PAID"
    code, message = await wire.refusal("POST", DISPUTE, body=good)
    assert (
        code == "error_return_status" and "not in REQUESTED, RETURN_PROCESSING, or RETURN_ACCEPTED" in message
    )
    assert wire.desk.applied == []


async def test_what_a_return_takes_follows_its_status(wire: Wire) -> None:
    market, conn = ShopeeMarketplace(), wire.conn()
    return_sn = wire.returned("SN-15")

    def answer(action: CaseAction, **more: Any) -> CaseResponse:
        return CaseResponse(return_sn, "SN-15", CaseKind.RETURN_REFUND, action, f"r-{action}", **more)

    # Shopee has no seller rejection of a return: the seller disputes
    with pytest.raises(ChannelError) as reject:
        await market.respond_to_case(conn, answer(CaseAction.REJECT, reason="no"))
    assert reject.value.code == "ACTION_NOT_ALLOWED"
    accepted = await market.respond_to_case(conn, answer(CaseAction.ACCEPT))
    # a dispute now would need evidence images (reason 52): not offered
    assert accepted.status == CaseStatus.ACCEPTED and accepted.actions == frozenset()
    with pytest.raises(ChannelError) as offer:
        await market.respond_to_case(
            conn, answer(CaseAction.OFFER_PARTIAL_REFUND, amount=Money.of("5.00", "SGD"))
        )
    assert offer.value.code == "ACTION_NOT_ALLOWED"
    # the dispute reasons of a return on its way back, with no evidence needed for one
    wire.desk.buyer_ships_return(return_sn)
    disputed = await market.respond_to_case(
        conn, answer(CaseAction.DISPUTE, reason="51", comment="never arrived")
    )
    assert disputed.status == CaseStatus.DISPUTED and disputed.actions == frozenset()
    assert [b["dispute_reason_id"] for p, _, b in wire.desk.applied if p == DISPUTE] == [51]
    wire.desk.platform_decides(return_sn, refund=True)
    paid = await market.respond_to_case(conn, answer(CaseAction.DISPUTE, reason="51"))  # a late retry
    assert paid.status == CaseStatus.REFUNDED and len(wire.desk.applied) == 2


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_answers_under_the_kits_faults_are_applied_once(seed: int) -> None:
    """Throttling, 5xx, timeouts, bad JSON and lost answers on every call: each answer,
    retried until it goes through (as the ``respond_case`` job does), is applied once."""
    faults = Faults(
        throttle=0.1,
        server_error=0.1,
        malformed=0.05,
        lost_answer=0.15,
        timeout_seconds=0.05,
        retry_after=0,
        seed=seed,
    )
    emu = ShopeeSellerEmulator(faults, clock=lambda: time.time() - 30)
    async with serve(emu) as base:
        creds = emu.add_shop("SG")
        emu.add_model(int(creds["shop_id"]), 100, 1, "LAMP", stock=10)
        wire = Wire(emu, creds, base)
        market, conn = ShopeeMarketplace(), wire.conn()
        wire.order("SN-F1")
        emu.after_sales.buyer_requests_cancellation("SN-F1")
        offer_sn = wire.returned("SN-F2", refund_only=True, amount="20.00")
        confirm_sn = wire.returned("SN-F3")
        wire.order("SN-F4")

        async def until_done(call: Callable[[], Any]) -> Any:
            for _ in range(60):
                try:
                    return await call()
                except ChannelError as exc:
                    if not exc.retryable:
                        raise
            raise AssertionError("never went through")

        answers = [
            CaseResponse("SN-F1", "SN-F1", CaseKind.CANCELLATION, CaseAction.ACCEPT, "a"),
            CaseResponse(
                offer_sn,
                "SN-F2",
                CaseKind.REFUND_ONLY,
                CaseAction.OFFER_PARTIAL_REFUND,
                "b",
                amount=Money.of("7.00", "SGD"),
            ),
            CaseResponse(confirm_sn, "SN-F3", CaseKind.RETURN_REFUND, CaseAction.ACCEPT, "c"),
        ]
        for response in answers:
            await until_done(partial(market.respond_to_case, conn, response))
            await until_done(partial(market.respond_to_case, conn, response))  # and once more
        await until_done(lambda: market.cancel_order(conn, "SN-F4", CancelReason.OUT_OF_STOCK))
        await until_done(lambda: market.cancel_order(conn, "SN-F4", CancelReason.OUT_OF_STOCK))
        assert sorted(p for p, _, _ in emu.after_sales.applied) == sorted([HANDLE, OFFER, CONFIRM, CANCEL])
        assert (
            emu.orders["SN-F1"]["order_status"] == "CANCELLED"
            and emu.orders["SN-F4"]["order_status"] == "CANCELLED"
        )
        assert emu.injected["lost_answer"] + emu.injected["server_error"] + emu.injected["throttle"] > 0


def test_a_shops_buyers_ask_to_cancel_and_return() -> None:
    """What the demo and the after-sales conformance suite drive: a backlog with a few
    cases, and buyers asking to cancel or return an order."""
    emu = ShopeeSellerEmulator()
    account = emu.open_account("SG")
    emu.add_product(account, "LAMP", stock=50)
    made = emu.generate_orders(account, 60, seed=11)
    backlog = {r["order_sn"] for r in emu.after_sales.returns.values()}
    asked = {sn for sn in made if emu.orders[sn]["buyer_cancel_reason"]}
    assert backlog and asked and backlog <= set(made)
    assert all(emu.orders[sn]["order_status"] == "IN_CANCEL" for sn in asked)

    emu.add_order(account, "LIVE-1", [("LAMP", 1, "9.90")])
    emu.add_order(account, "LIVE-2", [("LAMP", 2, "9.90")])
    assert emu.request_cancellation(account, "LIVE-1") == "LIVE-1"
    assert emu.orders["LIVE-1"]["order_status"] == "IN_CANCEL" and not emu.is_cancelled(account, "LIVE-1")
    return_sn = emu.request_return(account, "LIVE-2", "19.80")
    ret = emu.after_sales.returns[return_sn]
    assert (ret["order_sn"], ret["status"], ret["refund_amount"]) == ("LIVE-2", "REQUESTED", 19.8)
    assert ret["image"] and ret["reason"] and emu.orders["LIVE-2"]["order_status"] == "COMPLETED"
