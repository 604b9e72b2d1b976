"""After-sales end to end (SQLite and PostgreSQL, the emulator over HTTP, the core's jobs and
GraphQL): a buyer's cancellation request holds the order and accepting it cancels it on
Amazon and here; Amazon has no decline, so the seller releases the hold and ships; returns
come read-only from the returns report and a refunded one is recorded once; ``orderCancel``
cancels on Amazon with the mapped reason, and a refusal changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

from crossdock_amazon.emulator import AmazonEmulator

from crossdock.testing import build_shop, jobs_running, wait_until
from crossdock.testing.emulator import Faults, serve

ORDER = "111-0000001-0000001"
CASES = """{ cases(first: 10) { nodes {
  id externalId orderExternalId kind status channelStatus reason actions respondBy
  refundAmount { amount currency }
  order { id externalId status holds { reason releasedAt } }
  responses { action status errorCode error }
} } }"""
RESPOND = """mutation($i: CaseRespondInput!) { caseRespond(input: $i) {
  response { action status } userErrors { field code message } } }"""
CANCEL = """mutation($i: OrderCancelInput!) { orderCancel(input: $i) {
  order { status } channel userErrors { field code message } } }"""
RELEASE = """mutation($i: OrderReleaseHoldInput!) { orderReleaseHold(input: $i) {
  order { status } userErrors { code message } } }"""
ORDERS = "{ orders(first: 20) { nodes { id externalId status refunds { amount { amount currency } reference } } } }"


@asynccontextmanager
async def amazon_shop(app: Any, tenant_factory: Any, faults: Faults | None = None) -> AsyncIterator[Any]:
    emulator = AmazonEmulator(faults)
    async with serve(emulator) as base_url:
        account = emulator.open_account("US")
        emulator.add_product(account, "SKU-1", stock=0)
        shop: Any = await build_shop(
            app,
            await tenant_factory(),
            channel="amazon",
            site="US",
            credentials=account,
            base_url=base_url,
            skus={"SKU-1": 5},
            listings={"SKU-1": "SKU-1"},
            settings={"timeout": 2, "returns_report_minutes": 0},
        )
        shop.emulator, shop.account = emulator, account
        try:
            yield shop
        finally:
            await shop.pause()


async def cases(api: Any, shop: Any) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = (await api.data(CASES, key=shop.tenant.key))["cases"]["nodes"]
    return nodes


async def orders(api: Any, shop: Any) -> dict[str, dict[str, Any]]:
    nodes = (await api.data(ORDERS, key=shop.tenant.key))["orders"]["nodes"]
    return {n["externalId"]: n for n in nodes}


def held(case: dict[str, Any]) -> list[str]:
    return [h["reason"] for h in case["order"]["holds"] if h["releasedAt"] is None]


async def test_an_accepted_cancellation_request_cancels_on_amazon_and_releases_the_stock(
    api: Any, app: Any, tenant_factory: Any
) -> None:
    async with amazon_shop(app, tenant_factory) as shop:
        emulator = shop.emulator
        emulator.add_order(shop.account, ORDER, [("SKU-1", 2, "19.99")])
        await shop.sync()
        assert (await shop.available_to_sell())["SKU-1"] == 3
        emulator.buyer_requests_cancel(ORDER, "Ordered by mistake")
        assert (await shop.sync("cases"))["opened"] == 1

        [case] = await cases(api, shop)
        assert (case["kind"], case["status"], case["channelStatus"]) == (
            "CANCELLATION",
            "OPEN",
            "BUYER_REQUESTED_CANCEL",
        )
        assert case["reason"] == "Ordered by mistake" and case["respondBy"]
        assert case["actions"] == ["ACCEPT"]  # Amazon takes no decline
        assert case["order"]["status"] == "ON_HOLD" and held(case) == ["CANCELLATION_REQUESTED"]
        refused = (
            await api.data(
                RESPOND,
                {"i": {"caseId": case["id"], "action": "REJECT", "reason": "packed"}},
                key=shop.tenant.key,
            )
        )["caseRespond"]
        assert refused["userErrors"][0]["code"] == "ACTION_NOT_ALLOWED"

        queued = (
            await api.data(RESPOND, {"i": {"caseId": case["id"], "action": "ACCEPT"}}, key=shop.tenant.key)
        )["caseRespond"]
        assert queued["userErrors"] == []
        async with jobs_running(app):

            async def answered() -> list[dict[str, Any]]:
                return [c for c in await cases(api, shop) if c["status"] == "ACCEPTED"]

            [done] = await wait_until(answered)
        assert done["channelStatus"] == "CANCELLED" and done["actions"] == []
        assert done["responses"][0]["status"] == "SENT"
        assert done["order"]["status"] == "CANCELLED" and held(done) == []
        assert emulator.aftersales.cancellations == [(ORDER, "BuyerCanceled")]
        assert emulator.orders[ORDER]["OrderStatus"] == "Canceled"
        assert (await shop.available_to_sell())["SKU-1"] == 5  # the reservation went back
        # the next syncs see the same: nothing happens twice
        await shop.sync("cases")
        await shop.sync()
        assert len(emulator.aftersales.cancellations) == 1
        assert [c["status"] for c in await cases(api, shop)] == ["ACCEPTED"]


async def test_declining_is_shipping_the_hold_is_released_and_the_request_closes(
    api: Any, app: Any, tenant_factory: Any
) -> None:
    async with amazon_shop(app, tenant_factory) as shop:
        shop.emulator.add_order(shop.account, ORDER, [("SKU-1", 1, "19.99")])
        await shop.sync()
        shop.emulator.buyer_requests_cancel(ORDER)
        await shop.sync("cases")
        [case] = await cases(api, shop)
        released = await api.data(
            RELEASE,
            {"i": {"id": case["order"]["id"], "reason": "CANCELLATION_REQUESTED"}},
            key=shop.tenant.key,
        )
        assert released["orderReleaseHold"]["userErrors"] == []
        assert released["orderReleaseHold"]["order"]["status"] == "ALLOCATED"
        shop.emulator.ship_order(ORDER)  # the seller ships instead (Amazon's "decline")
        await shop.sync("cases")
        [closed] = await cases(api, shop)
        assert (closed["status"], closed["channelStatus"], closed["actions"]) == ("CLOSED", "SHIPPED", [])
        assert held(closed) == [] and shop.emulator.aftersales.cancellations == []


async def test_returns_are_read_only_and_a_refund_is_recorded_once(
    api: Any, app: Any, tenant_factory: Any
) -> None:
    async with amazon_shop(app, tenant_factory) as shop:
        emulator = shop.emulator
        emulator.add_order(shop.account, ORDER, [("SKU-1", 2, "19.99")], status="Shipped")
        await shop.sync()
        rma = emulator.buyer_returns(ORDER, quantity=1, reason="CR-DEFECTIVE")
        await shop.sync("cases")  # asks Amazon for the returns report
        await shop.sync("cases")  # reads it
        [case] = await cases(api, shop)
        assert (case["externalId"], case["kind"], case["status"]) == (rma, "RETURN_REFUND", "ACCEPTED")
        assert case["refundAmount"] == {"amount": "19.99", "currency": "USD"}
        assert case["actions"] == [] and case["order"]["externalId"] == ORDER
        answer = await api.data(
            RESPOND, {"i": {"caseId": case["id"], "action": "ACCEPT"}}, key=shop.tenant.key
        )
        assert answer["caseRespond"]["userErrors"][0]["code"] == "ACTION_NOT_ALLOWED"

        emulator.return_shipped(rma)
        emulator.refund_return(rma, Decimal("19.99"))
        for _ in range(3):
            await shop.sync("cases")
        [refunded] = await cases(api, shop)
        assert refunded["status"] == "REFUNDED"
        assert (await orders(api, shop))[ORDER]["refunds"] == [
            {"amount": {"amount": "19.99", "currency": "USD"}, "reference": f"case {rma}"}
        ]


async def test_order_cancel_cancels_on_amazon_and_a_shipped_order_is_refused(
    api: Any, app: Any, tenant_factory: Any
) -> None:
    async with amazon_shop(app, tenant_factory) as shop:
        emulator, key = shop.emulator, shop.tenant.key
        emulator.add_order(shop.account, ORDER, [("SKU-1", 1, "19.99")])
        emulator.add_order(shop.account, "111-0000001-0000002", [("SKU-1", 1, "5.00")], buyer="Ann Lee")
        await shop.sync()
        ids = {e: o["id"] for e, o in (await orders(api, shop)).items()}

        async def cancel(external_id: str, reason: str) -> dict[str, Any]:
            got = await api.data(
                CANCEL, {"i": {"id": ids[external_id], "reason": "no stock", "cancelReason": reason}}, key=key
            )
            payload: dict[str, Any] = got["orderCancel"]
            return payload

        done = await cancel(ORDER, "OUT_OF_STOCK")
        assert done == {"order": {"status": "CANCELLED"}, "channel": "CANCELLED", "userErrors": []}
        assert emulator.aftersales.cancellations == [(ORDER, "NoInventory")]

        emulator.ship_order("111-0000001-0000002")  # shipped on Amazon, not yet synced here
        refused = await cancel("111-0000001-0000002", "UNDELIVERABLE_ADDRESS")
        assert refused["userErrors"][0]["code"] == "CHANNEL_REFUSED" and refused["order"] is None
        assert "SHIPPED" in refused["userErrors"][0]["message"]
        assert (await shop.order("111-0000001-0000002")).status == "allocated"
        assert len(emulator.aftersales.cancellations) == 1 and len(emulator.aftersales.feeds) == 1


async def test_faults_on_the_answer_never_cancel_twice(api: Any, app: Any, tenant_factory: Any) -> None:
    async with amazon_shop(app, tenant_factory) as shop:
        emulator = shop.emulator
        emulator.add_order(shop.account, ORDER, [("SKU-1", 1, "19.99")])
        await shop.sync()
        emulator.buyer_requests_cancel(ORDER)
        await shop.sync("cases")
        [case] = await cases(api, shop)
        # from now on: lost answers (carried out, answer lost), 5xx and throttling
        emulator.faults = Faults(
            lost_answer=0.3, server_error=0.1, throttle=0.1, timeout_seconds=0.05, retry_after=0.01, seed=4
        )
        queued = await api.data(
            RESPOND, {"i": {"caseId": case["id"], "action": "ACCEPT"}}, key=shop.tenant.key
        )
        assert queued["caseRespond"]["userErrors"] == []
        async with jobs_running(app):

            async def answered() -> list[dict[str, Any]]:
                return [c for c in await cases(api, shop) if c["responses"][0]["status"] != "PENDING"]

            [done] = await wait_until(answered, timeout=60)
        assert done["responses"][0]["status"] == "SENT" and done["status"] == "ACCEPTED"
        assert done["order"]["status"] == "CANCELLED"
        assert emulator.aftersales.cancellations == [(ORDER, "BuyerCanceled")]
        assert sum(emulator.injected.values()) > 0
