"""After-sales on Shopee end to end: buyers' cancellation requests and returns pulled by
``sync_cases``, answered with ``caseRespond`` (pushed by the ``respond_case`` job to
Shopee's own endpoints), and ``orderCancel`` cancelling on Shopee first; over HTTP against
the emulator, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from crossdock_shopee.emulator import ShopeeSellerEmulator

from crossdock.testing import Shop, build_shop, jobs_running, wait_until
from crossdock.testing.emulator import serve

CASES = """query($f: CaseFilter) { cases(first: 10, filter: $f) { nodes {
  id externalId orderExternalId kind status channelStatus reason buyerComment photos
  refundAmount { amount currency } respondBy actions
  lines { quantity sku }
  order { externalId status holds { reason releasedAt } }
  responses { action status reason amount { amount currency } errorCode error }
} } }"""

RESPOND = """mutation($i: CaseRespondInput!) { caseRespond(input: $i) {
  case { status actions } response { action status }
  userErrors { field code message } } }"""

CANCEL = """mutation($i: OrderCancelInput!) { orderCancel(input: $i) {
  order { status } channel userErrors { field code message } } }"""

ORDERS = "{ orders(first: 50) { nodes { id externalId status refunds { amount { amount currency } reference } } } }"


def emulator() -> ShopeeSellerEmulator:
    """Shopee stamps each change with its second; the emulator keeps one order's changes
    apart by a second each, so its clock runs a little behind, never ahead of the sync's
    end of window (the plugin's clock)."""
    return ShopeeSellerEmulator(clock=lambda: time.time() - 30)


@dataclass
class Env:
    emu: ShopeeSellerEmulator
    shop: Shop
    shop_id: int
    api: Any

    @property
    def key(self) -> str:
        return self.shop.tenant.key

    async def sync_cases(self) -> dict[str, int]:
        return await self.shop.sync("cases")

    async def cases(self, **filter: Any) -> dict[str, dict[str, Any]]:
        data = await self.api.data(CASES, {"f": filter or None}, key=self.key)
        return {n["externalId"]: n for n in data["cases"]["nodes"]}

    async def respond(self, case_id: str, action: str, **more: Any) -> dict[str, Any]:
        data = await self.api.data(
            RESPOND, {"i": {"caseId": case_id, "action": action, **more}}, key=self.key
        )
        payload: dict[str, Any] = data["caseRespond"]
        return payload

    async def orders(self) -> dict[str, dict[str, Any]]:
        data = await self.api.data(ORDERS, key=self.key)
        return {n["externalId"]: n for n in data["orders"]["nodes"]}

    def reached(self, external_id: str, status: str) -> Callable[[], Awaitable[dict[str, Any] | None]]:
        """A condition: the case shows ``status`` (it, or None)."""

        async def check() -> dict[str, Any] | None:
            case: dict[str, Any] | None = (await self.cases()).get(external_id)
            return case if case is not None and case["status"] == status else None

        return check

    async def answered(self, external_id: str, status: str) -> dict[str, Any]:
        """Run the jobs until the case shows ``status`` (the answer pushed and read back)."""
        async with jobs_running(self.shop.app):
            found: dict[str, Any] | None = await wait_until(self.reached(external_id, status), interval=0.25)
        assert found is not None
        return found

    def applied(self, path: str) -> list[dict[str, Any]]:
        return [body for p, _, body in self.emu.after_sales.applied if p == path]


@pytest.fixture
async def env(app: Any, api: Any, tenant_factory: Any) -> AsyncIterator[Env]:
    emu = emulator()
    async with serve(emu) as base:
        creds = emu.add_shop("SG")
        shop_id = int(creds["shop_id"])
        emu.add_model(shop_id, 100, 1, "LAMP", stock=10)
        emu.add_model(shop_id, 100, 2, "SHADE", stock=10)
        shop = await build_shop(
            app,
            await tenant_factory(),
            channel="shopee",
            site="SG",
            credentials=creds,
            base_url=base,
            skus={"LAMP": 10, "SHADE": 10},
            listings={"LAMP": "100:1", "SHADE": "100:2"},
            settings={"dispute_email": "ops@acme.example"},
        )
        try:
            yield Env(emu, shop, shop_id, api)
        finally:
            await shop.pause()


def _held(case: dict[str, Any]) -> list[str]:
    return [h["reason"] for h in case["order"]["holds"] if h["releasedAt"] is None]


# ---------------------------------------------------------------------- cancellation requests


async def test_a_buyer_cancellation_request_holds_the_order_and_accepting_it_cancels_it_on_shopee(
    env: Env,
) -> None:
    env.emu.add_order(env.shop_id, "SN-C1", [("LAMP", 2, "12.90"), ("SHADE", 1, "5.00")])
    await env.shop.sync()
    assert (await env.shop.available_to_sell())["LAMP"] == 8
    env.emu.after_sales.buyer_requests_cancellation("SN-C1", "Need to change delivery address")
    assert (await env.sync_cases())["opened"] == 1

    case = (await env.cases())["SN-C1"]
    assert (case["kind"], case["status"], case["channelStatus"]) == ("CANCELLATION", "OPEN", "IN_CANCEL")
    assert case["reason"] == "Need to change delivery address"
    assert sorted(case["actions"]) == ["ACCEPT", "REJECT"]
    assert case["refundAmount"] == {"amount": "30.80", "currency": "SGD"}
    assert sorted((line["sku"], line["quantity"]) for line in case["lines"]) == [("LAMP", 2), ("SHADE", 1)]
    # held while the seller decides: nobody picks it, its stock stays reserved
    assert case["order"]["status"] == "ON_HOLD" and _held(case) == ["CANCELLATION_REQUESTED"]
    assert (await env.shop.available_to_sell())["LAMP"] == 8

    assert (await env.respond(case["id"], "ACCEPT"))["userErrors"] == []
    done = await env.answered("SN-C1", "ACCEPTED")
    assert done["channelStatus"] == "CANCELLED" and done["responses"][0]["status"] == "SENT"
    assert env.applied("/api/v2/order/handle_buyer_cancellation") == [
        {"order_sn": "SN-C1", "operation": "ACCEPT"}
    ]
    assert env.emu.orders["SN-C1"]["order_status"] == "CANCELLED"
    # cancelled here too, the reservation released, the hold gone
    assert done["order"]["status"] == "CANCELLED" and _held(done) == []
    assert (await env.shop.available_to_sell())["LAMP"] == 10
    # the next sync lists it again: nothing changes twice
    assert (await env.sync_cases())["opened"] == 0
    assert len(env.emu.after_sales.applied) == 1


async def test_rejecting_a_cancellation_request_with_a_reason_releases_the_hold(env: Env) -> None:
    env.emu.add_order(env.shop_id, "SN-C2", [("LAMP", 1, "12.90")])
    await env.shop.sync()
    env.emu.after_sales.buyer_requests_cancellation("SN-C2")
    await env.sync_cases()
    case = (await env.cases())["SN-C2"]
    assert case["order"]["status"] == "ON_HOLD"

    no_reason = await env.respond(case["id"], "REJECT")
    assert no_reason["userErrors"][0]["code"] == "REQUIRED"
    assert (await env.respond(case["id"], "REJECT", reason="already packed"))["userErrors"] == []
    done = await env.answered("SN-C2", "REJECTED")
    assert env.applied("/api/v2/order/handle_buyer_cancellation") == [
        {"order_sn": "SN-C2", "operation": "REJECT"}
    ]
    # Shopee sends the order back to be shipped; here it is released to be picked
    assert env.emu.orders["SN-C2"]["order_status"] == "READY_TO_SHIP"
    assert done["channelStatus"] == "READY_TO_SHIP" and done["actions"] == []
    assert _held(done) == [] and done["order"]["status"] == "ALLOCATED"
    assert (await env.shop.available_to_sell())["LAMP"] == 9


async def test_a_request_the_seller_answered_in_seller_centre_is_followed(env: Env) -> None:
    """Requests answered elsewhere (or granted by Shopee) arrive by the sync alone."""
    env.emu.add_order(env.shop_id, "SN-C3", [("LAMP", 1, "12.90")])
    env.emu.add_order(env.shop_id, "SN-C4", [("SHADE", 1, "5.00")])
    await env.shop.sync()
    for sn in ("SN-C3", "SN-C4"):
        env.emu.after_sales.buyer_requests_cancellation(sn)
    await env.sync_cases()
    env.emu.update_order("SN-C3", order_status="CANCELLED", cancel_by="buyer")
    env.emu.update_order("SN-C4", order_status="READY_TO_SHIP")
    await env.sync_cases()
    cases = await env.cases()
    assert (cases["SN-C3"]["status"], cases["SN-C3"]["order"]["status"]) == ("ACCEPTED", "CANCELLED")
    assert (cases["SN-C4"]["status"], cases["SN-C4"]["order"]["status"]) == ("REJECTED", "ALLOCATED")
    assert env.emu.after_sales.applied == []


# ---------------------------------------------------------------------- returns


async def _returned(env: Env, sn: str, **kwargs: Any) -> tuple[str, dict[str, Any]]:
    env.emu.add_order(env.shop_id, sn, [("LAMP", 1, "12.90"), ("SHADE", 2, "5.00")])
    env.emu.update_order(sn, order_status="COMPLETED")
    await env.shop.sync()
    return_sn = env.emu.after_sales.buyer_returns(sn, **kwargs)
    await env.sync_cases()
    return return_sn, (await env.cases())[return_sn]


async def test_a_return_is_accepted_shipped_back_and_refunded_once(env: Env) -> None:
    return_sn, case = await _returned(
        env,
        "SN-R1",
        reason="PHYSICAL_DMG",
        text="The shade is cracked.",
        photos=["https://cf.shopee.sg/file/crack-1", "https://cf.shopee.sg/file/crack-2"],
        items=[("SHADE", 2)],
        amount="10.00",
    )
    assert (case["kind"], case["status"], case["channelStatus"]) == ("RETURN_REFUND", "OPEN", "REQUESTED")
    assert case["orderExternalId"] == "SN-R1" and case["order"]["externalId"] == "SN-R1"
    assert case["reason"] == "PHYSICAL_DMG" and case["buyerComment"] == "The shade is cracked."
    assert case["photos"] == ["https://cf.shopee.sg/file/crack-1", "https://cf.shopee.sg/file/crack-2"]
    assert case["refundAmount"] == {"amount": "10.00", "currency": "SGD"}
    assert [(line["sku"], line["quantity"]) for line in case["lines"]] == [("SHADE", 2)]
    # Shopee would take a dispute now only with evidence images (every reason it lists for
    # a requested return needs them): not offered
    assert sorted(case["actions"]) == ["ACCEPT", "OFFER_PARTIAL_REFUND"]
    assert case["respondBy"] is not None

    assert (await env.respond(case["id"], "ACCEPT"))["userErrors"] == []
    accepted = await env.answered(return_sn, "ACCEPTED")
    assert accepted["actions"] == []  # now the buyer's move: ship it back
    env.emu.after_sales.buyer_ships_return(return_sn)
    await env.sync_cases()
    shipped = (await env.cases())[return_sn]
    assert (shipped["status"], shipped["channelStatus"]) == ("RETURN_SHIPPED", "PROCESSING")
    assert sorted(shipped["actions"]) == ["ACCEPT", "DISPUTE"] and shipped["respondBy"]

    # the goods are back: confirming pays the refund out
    assert (await env.respond(shipped["id"], "ACCEPT"))["userErrors"] == []
    await env.answered(return_sn, "REFUNDED")
    assert [b["return_sn"] for b in env.applied("/api/v2/returns/confirm")] == [return_sn, return_sn]
    await env.sync_cases()
    await env.sync_cases()
    order = (await env.orders())["SN-R1"]
    assert order["refunds"] == [
        {"amount": {"amount": "10.00", "currency": "SGD"}, "reference": f"case {return_sn}"}
    ]


async def test_a_partial_refund_offer_the_buyer_takes_is_recorded_once(env: Env) -> None:
    return_sn, case = await _returned(env, "SN-R2", refund_only=True, amount="22.90")
    assert case["kind"] == "REFUND_ONLY"
    too_much = await env.respond(
        case["id"], "OFFER_PARTIAL_REFUND", amount={"amount": "30.00", "currency": "SGD"}
    )
    assert too_much["userErrors"][0]["code"] == "INVALID"  # more than asked: refused before Shopee
    offered = await env.respond(
        case["id"], "OFFER_PARTIAL_REFUND", amount={"amount": "8.50", "currency": "SGD"}
    )
    assert offered["userErrors"] == []
    sent = await env.answered(return_sn, "NEGOTIATING")
    assert sent["channelStatus"] == "REQUESTED" and "OFFER_PARTIAL_REFUND" not in sent["actions"]
    assert env.applied("/api/v2/returns/offer") == [
        {"return_sn": return_sn, "proposed_solution": "REFUND_ONLY", "proposed_adjusted_refund_amount": 8.5}
    ]
    env.emu.after_sales.buyer_accepts_offer(return_sn)
    await env.sync_cases()
    await env.sync_cases()
    done = (await env.cases())[return_sn]
    assert done["status"] == "REFUNDED" and done["refundAmount"] == {"amount": "8.50", "currency": "SGD"}
    refunds = (await env.orders())["SN-R2"]["refunds"]
    assert refunds == [{"amount": {"amount": "8.50", "currency": "SGD"}, "reference": f"case {return_sn}"}]


async def test_the_buyers_counter_proposal_is_taken_with_accept_offer(env: Env) -> None:
    return_sn, case = await _returned(env, "SN-R3", refund_only=True, amount="20.00")
    await env.respond(case["id"], "OFFER_PARTIAL_REFUND", amount={"amount": "6.00", "currency": "SGD"})
    await env.answered(return_sn, "NEGOTIATING")
    env.emu.after_sales.buyer_counters(return_sn, "12.00")
    await env.sync_cases()
    countered = (await env.cases())[return_sn]
    assert countered["status"] == "OPEN" and "ACCEPT" in countered["actions"]
    assert (await env.respond(countered["id"], "ACCEPT"))["userErrors"] == []
    await env.answered(return_sn, "REFUNDED")
    assert env.applied("/api/v2/returns/accept_offer") == [{"return_sn": return_sn}]
    assert env.applied("/api/v2/returns/confirm") == []
    await env.sync_cases()
    refunds = (await env.orders())["SN-R3"]["refunds"]
    assert refunds == [{"amount": {"amount": "12.00", "currency": "SGD"}, "reference": f"case {return_sn}"}]


async def test_a_dispute_needs_evidence_goes_to_shopee_and_the_platform_decides(env: Env) -> None:
    return_sn, case = await _returned(env, "SN-R4", amount="22.90")
    assert "DISPUTE" not in case["actions"]
    refused_early = await env.respond(case["id"], "DISPUTE", reason="the lamp was sent intact")
    assert refused_early["userErrors"][0]["code"] == "ACTION_NOT_ALLOWED"
    env.emu.update_order("SN-R4", order_status="COMPLETED")
    env.emu.after_sales.returns[return_sn]["status"] = "ACCEPTED"
    env.emu.after_sales.buyer_ships_return(return_sn)
    await env.sync_cases()
    shipped = (await env.cases())[return_sn]
    assert sorted(shipped["actions"]) == ["ACCEPT", "DISPUTE"]
    # reason 50 (the goods came back damaged) needs photos: without them Shopee refuses
    assert (await env.respond(case["id"], "DISPUTE", reason="50"))["userErrors"] == []

    async def failed() -> dict[str, Any] | None:
        found = (await env.cases())[return_sn]
        return found if found["responses"][0]["status"] == "FAILED" else None

    async with jobs_running(env.shop.app):
        refused = await wait_until(failed, interval=0.25)
    assert refused["responses"][0]["errorCode"] == "dispute.request.param.error"
    assert "mandatory evidence is missing" in refused["responses"][0]["error"]
    assert refused["status"] == "RETURN_SHIPPED" and env.emu.after_sales.applied == []

    evidence = (
        "Came back broken. https://img.acme.example/unboxing-1.jpg https://img.acme.example/unboxing-2.jpg"
    )
    answer = await env.respond(case["id"], "DISPUTE", reason="50", comment=evidence)
    assert answer["userErrors"] == []
    disputed = await env.answered(return_sn, "DISPUTED")
    assert disputed["channelStatus"] == "SELLER_DISPUTE" and disputed["actions"] == []
    [body] = env.applied("/api/v2/returns/dispute")
    assert body["email"] == "ops@acme.example" and body["dispute_reason_id"] == 50
    assert body["image_list"] == [
        {
            "module_index": 1,
            "requirement": "Photo(s) or video of unboxing the returned parcel with the air waybill.",
            "image_url": [
                "https://img.acme.example/unboxing-1.jpg",
                "https://img.acme.example/unboxing-2.jpg",
            ],
        }
    ]
    assert body["dispute_text_reason"] == "50 Came back broken."

    env.emu.after_sales.platform_reviews(return_sn)
    env.emu.after_sales.platform_decides(return_sn, refund=False)
    await env.sync_cases()
    closed = (await env.cases())[return_sn]
    assert (closed["status"], closed["channelStatus"]) == ("CLOSED", "CLOSED")
    assert (await env.orders())["SN-R4"]["refunds"] == []


async def test_a_dispute_without_the_operators_email_is_refused_before_shopee(
    app: Any, api: Any, tenant_factory: Any
) -> None:
    emu = emulator()
    async with serve(emu) as base:
        creds = emu.add_shop("SG")
        emu.add_model(int(creds["shop_id"]), 100, 1, "LAMP", stock=5)
        shop = await build_shop(
            app,
            await tenant_factory(),
            channel="shopee",
            site="SG",
            credentials=creds,
            base_url=base,
            skus={"LAMP": 5},
            listings={"LAMP": "100:1"},
        )
        env = Env(emu, shop, int(creds["shop_id"]), api)
        try:
            emu.add_order(env.shop_id, "SN-R5", [("LAMP", 1, "12.90")])
            emu.update_order("SN-R5", order_status="COMPLETED")
            await shop.sync()
            return_sn = emu.after_sales.buyer_returns("SN-R5")
            emu.after_sales.returns[return_sn]["status"] = "ACCEPTED"
            emu.after_sales.buyer_ships_return(return_sn)
            await env.sync_cases()
            case = (await env.cases())[return_sn]
            await env.respond(case["id"], "DISPUTE", reason="x", comment="https://img.acme.example/1.jpg")

            async def failed() -> dict[str, Any] | None:
                found = (await env.cases())[return_sn]
                return found if found["responses"][0]["status"] == "FAILED" else None

            async with jobs_running(app):
                refused = await wait_until(failed, interval=0.25)
            assert refused["responses"][0]["errorCode"] == "DISPUTE_EMAIL_REQUIRED"
            assert emu.requests["/api/v2/returns/dispute"] == 0
        finally:
            await shop.pause()


# ---------------------------------------------------------------------- orderCancel


async def test_order_cancel_cancels_on_shopee_with_the_mapped_reason(env: Env) -> None:
    env.emu.add_order(env.shop_id, "SN-X1", [("LAMP", 2, "12.90"), ("SHADE", 1, "5.00")])
    env.emu.add_order(env.shop_id, "SN-X2", [("SHADE", 1, "5.00")])
    await env.shop.sync()
    ids = {sn: n["id"] for sn, n in (await env.orders()).items()}

    async def cancel(sn: str, **more: Any) -> dict[str, Any]:
        got = await env.api.data(CANCEL, {"i": {"id": ids[sn], "reason": "ops", **more}}, key=env.key)
        payload: dict[str, Any] = got["orderCancel"]
        return payload

    # Shopee has no reason for a pricing error: refused, nothing changes anywhere
    pricing = await cancel("SN-X1", cancelReason="PRICING_ERROR")
    assert pricing["userErrors"][0]["code"] == "CHANNEL_REFUSED"
    assert "cancel_order takes" in pricing["userErrors"][0]["message"]
    assert env.emu.orders["SN-X1"]["order_status"] == "READY_TO_SHIP"
    assert (await env.shop.order("SN-X1")).status == "allocated"

    done = await cancel("SN-X1", cancelReason="OUT_OF_STOCK")
    assert done == {"order": {"status": "CANCELLED"}, "channel": "CANCELLED", "userErrors": []}
    assert env.applied("/api/v2/order/cancel_order") == [
        {
            "order_sn": "SN-X1",
            "cancel_reason": "OUT_OF_STOCK",
            "item_list": [{"item_id": 100, "model_id": 1}, {"item_id": 100, "model_id": 2}],
        }
    ]
    assert env.emu.orders["SN-X1"]["order_status"] == "CANCELLED"
    assert (await env.shop.available_to_sell())["LAMP"] == 10

    assert (await cancel("SN-X2", cancelReason="BUYER_REQUEST"))["channel"] == "CANCELLED"
    assert env.applied("/api/v2/order/cancel_order")[-1] == {
        "order_sn": "SN-X2",
        "cancel_reason": "CUSTOMER_REQUEST",
    }


async def test_an_order_shopee_has_shipped_is_refused_with_shopees_message(env: Env) -> None:
    env.emu.add_order(env.shop_id, "SN-X3", [("LAMP", 1, "12.90")])
    await env.shop.sync()
    [order_id] = [n["id"] for sn, n in (await env.orders()).items() if sn == "SN-X3"]
    env.emu.update_order("SN-X3", order_status="SHIPPED")  # picked up; not synced here yet
    got = await env.api.data(
        CANCEL, {"i": {"id": order_id, "reason": "ops", "cancelReason": "BUYER_REQUEST"}}, key=env.key
    )
    refused = got["orderCancel"]
    assert refused["userErrors"][0]["code"] == "CHANNEL_REFUSED" and refused["order"] is None
    assert "Can not cancel this order" in refused["userErrors"][0]["message"]
    assert (await env.shop.order("SN-X3")).status == "allocated"
    assert env.emu.orders["SN-X3"]["order_status"] == "SHIPPED" and env.emu.after_sales.applied == []
    assert (await env.shop.available_to_sell())["LAMP"] == 9


# ---------------------------------------------------------------------- faults


async def test_answers_whose_reply_is_lost_or_refused_by_a_busy_shopee_are_applied_once(env: Env) -> None:
    env.emu.add_order(env.shop_id, "SN-F1", [("LAMP", 1, "12.90")])
    await env.shop.sync()
    env.emu.after_sales.buyer_requests_cancellation("SN-F1")
    return_sn, _ = await _returned(env, "SN-F2", amount="10.00")
    cases = await env.cases()
    # the cancellation is carried out but its answer lost (504); the return's confirm
    # meets a 500 and then throttling: the respond_case job retries both
    env.emu.after_sales.lose_next("/api/v2/order/handle_buyer_cancellation")
    env.emu.fail_next(
        "/api/v2/returns/confirm", "error_server", "System error. Please try again later.", status=500
    )
    env.emu.fail_next("/api/v2/returns/confirm", "error_rate_limit", status=429, retry_after=0.1)
    assert (await env.respond(cases["SN-F1"]["id"], "ACCEPT"))["userErrors"] == []
    assert (await env.respond(cases[return_sn]["id"], "ACCEPT"))["userErrors"] == []
    # one runner for both: stopping it between them could cancel the other's retry mid-job
    async with jobs_running(env.shop.app):
        done = await wait_until(env.reached("SN-F1", "ACCEPTED"), interval=0.25)
        returned = await wait_until(env.reached(return_sn, "ACCEPTED"), interval=0.25)
    assert done is not None and returned is not None
    assert done["order"]["status"] == "CANCELLED" and done["responses"][0]["status"] == "SENT"
    assert returned["responses"][0]["status"] == "SENT"
    assert env.emu.injected["lost_answer"] == 1
    # the retry read the order first, saw the request granted and sent nothing again
    assert env.emu.requests["/api/v2/order/handle_buyer_cancellation"] == 1
    assert env.emu.requests["/api/v2/returns/confirm"] == 3
    assert sorted(p for p, _, _ in env.emu.after_sales.applied) == [
        "/api/v2/order/handle_buyer_cancellation",
        "/api/v2/returns/confirm",
    ]


async def test_an_order_cancel_whose_answer_was_lost_is_cancelled_once(env: Env) -> None:
    env.emu.add_order(env.shop_id, "SN-F3", [("LAMP", 1, "12.90")])
    await env.shop.sync()
    [order_id] = [n["id"] for sn, n in (await env.orders()).items() if sn == "SN-F3"]
    cancel = {"i": {"id": order_id, "reason": "ops", "cancelReason": "OUT_OF_STOCK"}}
    env.emu.after_sales.lose_next("/api/v2/order/cancel_order")
    first = (await env.api.data(CANCEL, cancel, key=env.key))["orderCancel"]
    # Shopee did it, but nobody heard: the operator is told to try again, nothing changed here
    assert first["userErrors"][0]["code"] == "CHANNEL_UNAVAILABLE"
    assert (await env.shop.order("SN-F3")).status == "allocated"
    env.emu.fail_next("/api/v2/order/get_order_detail", "error_system_busy", status=500)
    busy = (await env.api.data(CANCEL, cancel, key=env.key))["orderCancel"]
    assert busy["userErrors"][0]["code"] == "CHANNEL_UNAVAILABLE"
    again = (await env.api.data(CANCEL, cancel, key=env.key))["orderCancel"]
    assert again == {"order": {"status": "CANCELLED"}, "channel": "CANCELLED", "userErrors": []}
    assert [p for p, _, _ in env.emu.after_sales.applied] == ["/api/v2/order/cancel_order"]
    assert env.emu.requests["/api/v2/order/cancel_order"] == 1
