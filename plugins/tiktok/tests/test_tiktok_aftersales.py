"""After-sales end to end: TikTok Shop buyers' cancellation, return and refund requests
arrive through ``sync_cases``, are answered over GraphQL (``caseRespond``) and pushed by the
``respond_case`` job to the emulated Return and Refund API; ``orderCancel`` cancels on
TikTok first. SQLite and PostgreSQL (the ``app`` fixture runs each test on both)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from crossdock_tiktok.emulator import TikTokShopSellerEmulator

from crossdock.testing import Shop, build_shop, jobs_running, wait_until
from crossdock.testing.emulator import Faults, serve

CASES = """query { cases(first: 4) { nodes {
  id externalId orderExternalId kind status channelStatus reason buyerComment photos
  refundAmount { amount currency } respondBy actions
  order { externalId status holds { reason releasedAt } }
  responses { action status reason amount { amount currency } errorCode error }
} } }"""
POLL = "query { cases(first: 4) { nodes { externalId responses { status } } } }"
RESPOND = """mutation($i: CaseRespondInput!) { caseRespond(input: $i) {
  response { action status } userErrors { field code message } } }"""
CANCEL = """mutation($i: OrderCancelInput!) { orderCancel(input: $i) {
  order { status } channel userErrors { field code message } } }"""
ORDERS = "{ orders(first: 50) { nodes { id externalId status refunds { amount { amount currency } reference } } } }"
PHOTO = "https://p16-oec-va.ibyteimg.com/tos-maliva/evidence-1.jpeg"


class Ctx:
    def __init__(self, emu: TikTokShopSellerEmulator, shop: Shop, creds: dict[str, Any], api: Any) -> None:
        self.emu, self.shop, self.creds, self.api = emu, shop, creds, api
        self.after = emu.aftersales

    async def cases(self) -> dict[str, dict[str, Any]]:
        data = await self.api.data(CASES, key=self.shop.tenant.key)
        return {n["externalId"]: n for n in data["cases"]["nodes"]}

    async def case(self, external_id: str) -> dict[str, Any]:
        return (await self.cases())[external_id]

    async def respond(self, external_id: str, action: str, **more: Any) -> dict[str, Any]:
        case = await self.case(external_id)
        data = await self.api.data(
            RESPOND, {"i": {"caseId": case["id"], "action": action, **more}}, key=self.shop.tenant.key
        )
        payload: dict[str, Any] = data["caseRespond"]
        assert payload["userErrors"] == [], payload
        return payload

    async def answered(self, external_id: str) -> dict[str, Any]:
        """The case once its latest answer is no longer pending (the jobs run meanwhile)."""

        async def done() -> bool:
            data = await self.api.data(POLL, key=self.shop.tenant.key)
            [case] = [n for n in data["cases"]["nodes"] if n["externalId"] == external_id]
            return bool(case["responses"]) and case["responses"][-1]["status"] != "PENDING"

        async with jobs_running(self.shop.app):
            await wait_until(done)
        return await self.case(external_id)

    async def orders(self) -> dict[str, dict[str, Any]]:
        data = await self.api.data(ORDERS, key=self.shop.tenant.key)
        return {n["externalId"]: n for n in data["orders"]["nodes"]}

    async def cancel(self, external_id: str, **more: Any) -> dict[str, Any]:
        ids = {e: n["id"] for e, n in (await self.orders()).items()}
        data = await self.api.data(
            CANCEL,
            {"i": {"id": ids[external_id], "reason": "seller cancels", **more}},
            key=self.shop.tenant.key,
        )
        payload: dict[str, Any] = data["orderCancel"]
        return payload

    async def shipped(self, external_id: str, quantity: int, price: str) -> None:
        """An order shipped by the seller from Crossdock, confirmed to TikTok."""
        self.emu.add_order(self.creds, external_id, [("LAMP", quantity, price)])
        await self.shop.sync()
        shipment = await self.shop.ship(external_id, carrier="USPS", tracking_number=f"9400{external_id}")
        await self.shop.run("confirm_shipment", shipment_id=shipment)
        assert self.emu.orders[external_id]["status"] == "AWAITING_COLLECTION"

    def decisions(self, suffix: str) -> list[dict[str, Any]]:
        return [body for path, body in self.after.decisions if path.endswith(suffix)]


def _held(case: dict[str, Any]) -> list[str]:
    return [h["reason"] for h in case["order"]["holds"] if h["releasedAt"] is None]


async def _connected(
    app: Any, tenant_factory: Any, api: Any, faults: Faults | None = None
) -> AsyncIterator[Ctx]:
    emu = TikTokShopSellerEmulator(faults)
    async with serve(emu) as base:
        creds = emu.open_account("US")
        listing = emu.add_product(creds, "LAMP", 0)
        shop = await build_shop(
            app,
            await tenant_factory(),
            channel="tiktok",
            site="US",
            credentials=creds,
            base_url=base,
            skus={"LAMP": 10},
            listings={"LAMP": listing},
        )
        try:
            yield Ctx(emu, shop, creds, api)
        finally:
            await shop.pause()


@pytest.fixture
async def ctx(app: Any, tenant_factory: Any, api: Any) -> AsyncIterator[Ctx]:
    async for made in _connected(app, tenant_factory, api):
        yield made


# --------------------------------------------------------------------------- cancellations


async def test_an_accepted_cancellation_request_cancels_on_tiktok_and_here(ctx: Ctx) -> None:
    ctx.emu.add_order(ctx.creds, "5770001", [("LAMP", 2, "12.50")])
    await ctx.shop.sync()
    assert (await ctx.shop.order("5770001")).status == "allocated"
    assert (await ctx.shop.available_to_sell())["LAMP"] == 8
    cancel_id = ctx.after.buyer_cancels("5770001")
    assert (await ctx.shop.sync("cases"))["opened"] == 1

    case = await ctx.case(cancel_id)
    assert (case["kind"], case["status"], case["channelStatus"]) == (
        "CANCELLATION",
        "OPEN",
        "CANCELLATION_REQUEST_PENDING",
    )
    assert case["reason"] == "Bought by mistake" and case["respondBy"]
    assert sorted(case["actions"]) == ["ACCEPT", "REJECT"]
    assert case["refundAmount"] == {"amount": "25.00", "currency": "USD"}
    # held while the seller decides, its stock still reserved
    assert case["order"]["status"] == "ON_HOLD" and _held(case) == ["CANCELLATION_REQUESTED"]

    await ctx.respond(cancel_id, "ACCEPT")
    done = await ctx.answered(cancel_id)
    assert done["responses"][-1]["status"] == "SENT"
    assert (done["status"], done["channelStatus"]) == ("ACCEPTED", "CANCELLATION_REQUEST_SUCCESS")
    assert ctx.emu.orders["5770001"]["status"] == "CANCELLED"
    assert done["order"]["status"] == "CANCELLED" and _held(done) == []
    assert (await ctx.shop.available_to_sell())["LAMP"] == 10  # the reservation went back
    # synced again (and TikTok refunds the buyer): nothing is applied twice
    ctx.after.refund_paid(cancel_id)
    await ctx.shop.sync("cases")
    assert (await ctx.case(cancel_id))["status"] == "REFUNDED"
    assert len(ctx.decisions("/approve")) == 1
    assert (await ctx.orders())["5770001"]["refunds"] == []  # a cancellation is no refund here


async def test_a_rejected_cancellation_request_releases_the_hold(ctx: Ctx) -> None:
    ctx.emu.add_order(ctx.creds, "5770002", [("LAMP", 1, "12.50")])
    await ctx.shop.sync()
    cancel_id = ctx.after.buyer_cancels("5770002", "ecom_order_to_ship_canceled_reason_no_longer_needed")
    await ctx.shop.sync("cases")
    assert (await ctx.case(cancel_id))["order"]["status"] == "ON_HOLD"

    # a reason TikTok has no equivalent of: refused with TikTok's own list, nothing sent
    await ctx.respond(cancel_id, "REJECT", reason="I do not feel like it")
    refused = await ctx.answered(cancel_id)
    assert refused["responses"][-1]["errorCode"] == "REJECT_REASON"
    assert "Product has been packed" in refused["responses"][-1]["error"]
    assert refused["status"] == "OPEN" and ctx.decisions("/reject") == []

    await ctx.respond(cancel_id, "REJECT", reason="Product has been packed", comment="It is packed already")
    done = await ctx.answered(cancel_id)
    assert done["responses"][-1]["status"] == "SENT"
    assert (done["status"], done["channelStatus"]) == ("REJECTED", "CANCELLATION_REQUEST_CANCEL")
    assert done["actions"] == [] and _held(done) == []
    assert done["order"]["status"] == "ALLOCATED"
    assert ctx.emu.orders["5770002"]["status"] == "AWAITING_SHIPMENT"
    assert ctx.decisions("/reject") == [
        {"reject_reason": "seller_reject_apply_product_has_been_packed", "comment": "It is packed already"}
    ]
    await ctx.shop.sync("cases")
    assert (await ctx.case(cancel_id))["status"] == "REJECTED"


# --------------------------------------------------------------------------- returns


async def test_a_return_with_photos_offered_a_partial_refund_records_it_once(ctx: Ctx) -> None:
    await ctx.shipped("5770003", 2, "20.00")
    return_id = ctx.after.buyer_returns(
        "5770003", "RETURN_AND_REFUND", note="The shade is cracked", images=[PHOTO], amount="30.00"
    )
    await ctx.shop.sync("cases")
    case = await ctx.case(return_id)
    assert (case["kind"], case["status"], case["channelStatus"]) == (
        "RETURN_REFUND",
        "OPEN",
        "RETURN_OR_REFUND_REQUEST_PENDING",
    )
    assert case["photos"] == [PHOTO] and case["buyerComment"] == "The shade is cracked"
    assert case["reason"] == "Defective item" and case["respondBy"]
    assert case["refundAmount"] == {"amount": "30.00", "currency": "USD"}
    # TikTok takes no appeal from the seller: DISPUTE is never offered
    assert sorted(case["actions"]) == ["ACCEPT", "OFFER_PARTIAL_REFUND", "REJECT"]

    await ctx.respond(return_id, "OFFER_PARTIAL_REFUND", amount={"amount": "12.00", "currency": "USD"})
    offered = await ctx.answered(return_id)
    assert (offered["status"], offered["channelStatus"], offered["actions"]) == (
        "NEGOTIATING",
        "AWAITING_BUYER_RESPONSE",
        [],
    )
    assert ctx.decisions("/approve") == [
        {"decision": "OFFER_PARTIAL_REFUND", "partial_refund": {"currency": "USD", "amount": "12.00"}}
    ]
    ctx.after.buyer_answers_offer(return_id, accept=True)
    await ctx.shop.sync("cases")
    assert (await ctx.case(return_id))["status"] == "ACCEPTED"
    assert (await ctx.orders())["5770003"]["refunds"] == []  # approved, not paid yet
    ctx.after.refund_paid(return_id)
    await ctx.shop.sync("cases")
    done = await ctx.case(return_id)
    assert done["status"] == "REFUNDED" and done["refundAmount"] == {"amount": "12.00", "currency": "USD"}
    await ctx.shop.forget_sync_state()
    await ctx.shop.sync("cases")  # read again from the start: recorded once
    assert (await ctx.orders())["5770003"]["refunds"] == [
        {"amount": {"amount": "12.00", "currency": "USD"}, "reference": f"case {return_id}"}
    ]


async def test_a_return_accepted_shipped_back_rejected_then_judged_for_the_buyer(ctx: Ctx) -> None:
    await ctx.shipped("5770004", 1, "20.00")
    return_id = ctx.after.buyer_returns("5770004", "RETURN_AND_REFUND", images=[PHOTO])
    await ctx.shop.sync("cases")

    await ctx.respond(return_id, "ACCEPT")
    accepted = await ctx.answered(return_id)
    assert (accepted["status"], accepted["channelStatus"], accepted["actions"]) == (
        "ACCEPTED",
        "AWAITING_BUYER_SHIP",
        [],
    )
    ctx.after.buyer_ships_return(return_id)
    await ctx.shop.sync("cases")
    back = await ctx.case(return_id)
    assert back["status"] == "RETURN_SHIPPED" and sorted(back["actions"]) == ["ACCEPT", "REJECT"]

    await ctx.respond(return_id, "REJECT", reason="Missing products and/or product parts")
    rejected = await ctx.answered(return_id)
    assert (rejected["status"], rejected["channelStatus"]) == ("REJECTED", "REJECT_RECEIVE_PACKAGE")
    assert ctx.decisions("/reject") == [
        {"decision": "REJECT_RECEIVED_PACKAGE", "reject_reason": "reverse_reject_return_parcel_reason_3"}
    ]
    ctx.after.buyer_appeals(return_id)
    await ctx.shop.sync("cases")
    assert (await ctx.case(return_id))["status"] == "DISPUTED"
    ctx.after.platform_decides(return_id, for_buyer=True)
    ctx.after.refund_paid(return_id)
    await ctx.shop.sync("cases")
    assert (await ctx.case(return_id))["status"] == "REFUNDED"
    assert [r["amount"]["amount"] for r in (await ctx.orders())["5770004"]["refunds"]] == ["20.00"]


async def test_a_refund_only_request_accepted_is_refunded(ctx: Ctx) -> None:
    await ctx.shipped("5770005", 1, "20.00")
    return_id = ctx.after.buyer_returns(
        "5770005", "REFUND", reason="ecom_order_delivered_refund_reason_not_received"
    )
    await ctx.shop.sync("cases")
    case = await ctx.case(return_id)
    assert (case["kind"], case["reason"]) == ("REFUND_ONLY", "Package wasn't received")
    await ctx.respond(return_id, "ACCEPT")
    done = await ctx.answered(return_id)
    assert (done["status"], done["channelStatus"]) == ("ACCEPTED", "RETURN_OR_REFUND_REQUEST_SUCCESS")
    assert ctx.decisions("/approve") == [{"decision": "APPROVE_REFUND"}]
    ctx.after.refund_paid(return_id)
    await ctx.shop.sync("cases")
    assert [r["amount"]["amount"] for r in (await ctx.orders())["5770005"]["refunds"]] == ["20.00"]


# --------------------------------------------------------------------------- orderCancel


async def test_order_cancel_cancels_on_tiktok_with_the_mapped_reason(ctx: Ctx) -> None:
    ctx.emu.add_order(ctx.creds, "5770006", [("LAMP", 3, "9.00")])
    ctx.emu.add_order(ctx.creds, "5770007", [("LAMP", 1, "9.00")], status="UNPAID")
    await ctx.shop.sync()

    other = await ctx.cancel("5770006", cancelReason="OTHER")
    assert (
        other["userErrors"][0]["code"] == "CHANNEL_REFUSED"
        and "no seller cancellation reason" in (other["userErrors"][0]["message"])
    )
    done = await ctx.cancel("5770006", cancelReason="OUT_OF_STOCK")
    assert done == {"order": {"status": "CANCELLED"}, "channel": "CANCELLED", "userErrors": []}
    assert ctx.emu.orders["5770006"]["status"] == "CANCELLED"
    unpaid = await ctx.cancel("5770007", cancelReason="PRICING_ERROR")
    assert unpaid["channel"] == "CANCELLED"
    assert [b["cancel_reason"] for b in ctx.decisions("/cancellations")] == [
        "seller_cancel_reason_out_of_stock",
        "seller_cancel_unpaid_reason_wrong_price",
    ]
    assert (await ctx.shop.available_to_sell())["LAMP"] == 10


async def test_order_cancel_of_a_shipped_order_is_refused_and_nothing_changes(ctx: Ctx) -> None:
    ctx.emu.add_order(ctx.creds, "5770008", [("LAMP", 1, "9.00")], status="IN_TRANSIT")
    await ctx.shop.sync()
    before = (await ctx.shop.order("5770008")).status
    refused = await ctx.cancel("5770008", cancelReason="OUT_OF_STOCK")
    assert refused["userErrors"][0]["code"] == "CHANNEL_REFUSED" and refused["order"] is None
    assert "already been shipped" in refused["userErrors"][0]["message"]
    assert (await ctx.shop.order("5770008")).status == before
    assert ctx.emu.orders["5770008"]["status"] == "IN_TRANSIT" and ctx.decisions("/cancellations") == []
    assert (await ctx.shop.connection()).status == "active"


async def test_order_cancel_while_the_buyer_asks_grants_the_buyers_request(ctx: Ctx) -> None:
    ctx.emu.add_order(ctx.creds, "5770012", [("LAMP", 1, "9.00")])
    await ctx.shop.sync()
    cancel_id = ctx.after.buyer_cancels("5770012")
    await ctx.shop.sync("cases")
    done = await ctx.cancel("5770012", cancelReason="OUT_OF_STOCK")
    assert done["channel"] == "CANCELLED" and done["order"] == {"status": "CANCELLED"}
    # TikTok refused the seller's cancellation (25001011) and took the buyer's instead
    assert ctx.decisions("/cancellations") == [] and len(ctx.decisions(f"/{cancel_id}/approve")) == 1
    await ctx.shop.sync("cases")
    case = await ctx.case(cancel_id)
    assert case["status"] == "ACCEPTED" and _held(case) == []


# --------------------------------------------------------------------------- faults


async def test_lost_answers_and_busy_answers_never_apply_twice(ctx: Ctx) -> None:
    emu = ctx.emu
    emu.add_order(ctx.creds, "5770009", [("LAMP", 1, "9.00")])
    emu.add_order(ctx.creds, "5770011", [("LAMP", 1, "9.00")])
    await ctx.shipped("5770010", 1, "9.00")
    cancel_id = ctx.after.buyer_cancels("5770009")
    return_id = ctx.after.buyer_returns("5770010", "REFUND")
    await ctx.shop.sync("cases")

    # TikTok throttles, fails, then carries the answer out and the reply is lost: the job
    # retries with the same idempotency key, and TikTok applies it once
    base = "/return_refund/202309"
    emu.script(f"{base}/cancellations/{cancel_id}/approve", 36009002, status=429)
    emu.script(f"{base}/cancellations/{cancel_id}/approve", 36009003, status=503)
    emu.faults.lost_answer, emu.faults.timeout_seconds = 1.0, 0.05
    # only the answers' replies are lost (reads go through)
    emu.fault_free = frozenset(
        {"/authorization/202309/shops", "/order/202309/orders", f"{base}/cancellations/search"}
        | {f"{base}/returns/search", f"{base}/returns/{return_id}/records", f"{base}/reject_reasons"}
    )
    await ctx.respond(cancel_id, "ACCEPT")
    await ctx.respond(return_id, "OFFER_PARTIAL_REFUND", amount={"amount": "4.00", "currency": "USD"})
    cancelled, offered = await ctx.answered(cancel_id), await ctx.answered(return_id)
    emu.faults.lost_answer = 0.0
    assert cancelled["status"] == "ACCEPTED" and offered["status"] == "NEGOTIATING"
    assert len(ctx.decisions(f"/cancellations/{cancel_id}/approve")) == 1
    assert len(ctx.decisions(f"/returns/{return_id}/approve")) == 1
    assert emu.injected["lost_answer"] >= 2

    # orderCancel whose reply is lost: the operator sees TikTok unavailable; asked again,
    # the order is found cancelled there and is cancelled here, cancelled once on TikTok
    emu.script(f"{base}/cancellations", 36009003)
    busy = await ctx.cancel("5770011", cancelReason="OUT_OF_STOCK")
    assert busy["userErrors"][0]["code"] == "CHANNEL_UNAVAILABLE"
    assert emu.orders["5770011"]["status"] == "AWAITING_SHIPMENT"
    emu.faults.lost_answer = 1.0
    lost = await ctx.cancel("5770011", cancelReason="OUT_OF_STOCK")
    emu.faults.lost_answer = 0.0
    assert lost["userErrors"][0]["code"] == "CHANNEL_UNAVAILABLE"
    assert emu.orders["5770011"]["status"] == "CANCELLED"
    assert (await ctx.shop.order("5770011")).status != "cancelled"
    again = await ctx.cancel("5770011", cancelReason="OUT_OF_STOCK")
    assert again["channel"] == "CANCELLED" and again["order"] == {"status": "CANCELLED"}
    assert len(ctx.decisions("/cancellations")) == 1
