"""After-sales end to end, on SQLite and PostgreSQL: Lazada's reverse orders arrive through
the core's ``sync_cases``, are answered over GraphQL (``caseRespond``) and pushed by the
``respond_case`` job to the emulator over HTTP; ``orderCancel`` cancels on Lazada first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from crossdock_lazada.emulator import LazadaSellerEmulator

from crossdock.testing import jobs_running, wait_until
from crossdock.testing.emulator import Faults, serve
from crossdock.testing.shop import Shop, build_shop

CASES = """query { cases(first: 6) { nodes {
  id externalId orderExternalId kind status channelStatus reason photos
  refundAmount { amount currency } respondBy actions
  order { externalId status holds { reason releasedAt } }
  responses { action status reason errorCode error }
} } }"""
STATUSES = "{ cases(first: 6) { nodes { externalId status channelStatus } } }"
RESPOND = """mutation($i: CaseRespondInput!) { caseRespond(input: $i) {
  response { action status } userErrors { field code message } } }"""
CANCEL = """mutation($i: OrderCancelInput!) { orderCancel(input: $i) {
  order { status } channel userErrors { field code message } } }"""
ORDERS = "{ orders(first: 10) { nodes { id externalId status refunds { amount { amount currency } reference } } } }"
PHOTOS = ["https://img.lazcdn.com/reverse/r-1.jpg", "https://img.lazcdn.com/reverse/r-2.jpg"]


@dataclass
class Lazada:
    shop: Shop
    emulator: LazadaSellerEmulator
    account: dict[str, Any]
    api: Any

    async def cases(self) -> dict[str, dict[str, Any]]:
        data = await self.api.data(CASES, key=self.shop.tenant.key)
        return {c["externalId"]: c for c in data["cases"]["nodes"]}

    async def orders(self) -> dict[str, dict[str, Any]]:
        data = await self.api.data(ORDERS, key=self.shop.tenant.key)
        return {o["externalId"]: o for o in data["orders"]["nodes"]}

    async def respond(self, case_id: str, action: str, **more: Any) -> dict[str, Any]:
        data = await self.api.data(
            RESPOND, {"i": {"caseId": case_id, "action": action, **more}}, key=self.shop.tenant.key
        )
        payload: dict[str, Any] = data["caseRespond"]
        return payload

    async def cancel(self, external_id: str, **more: Any) -> dict[str, Any]:
        order_id = (await self.orders())[external_id]["id"]
        data = await self.api.data(
            CANCEL, {"i": {"id": order_id, "reason": "from the test", **more}}, key=self.shop.tenant.key
        )
        payload: dict[str, Any] = data["orderCancel"]
        return payload

    def order(self, order_id: str, status: str = "pending", units: int = 2, price: str = "12.50") -> str:
        self.emulator.add_order(self.account, order_id, [("SKU-1", units, price)], status=status)
        return order_id

    async def case_where(self, external_id: str, interval: float = 0.05, **expected: Any) -> dict[str, Any]:
        async def matching() -> bool:
            # a light query while waiting (the API's cost budget), the whole case once there
            data = await self.api.data(STATUSES, key=self.shop.tenant.key)
            case = next((c for c in data["cases"]["nodes"] if c["externalId"] == external_id), None)
            return case is not None and all(case[k] == v for k, v in expected.items())

        await wait_until(matching, interval=interval, message=lambda: f"case {external_id} never {expected}")
        return (await self.cases())[external_id]


@pytest.fixture
async def lazada(app: Any, api: Any, tenant_factory: Any) -> AsyncIterator[Lazada]:
    emulator = LazadaSellerEmulator()
    async with serve(emulator) as base_url:
        account = dict(emulator.open_account("SG"))
        listing = emulator.add_product(account, "SKU-1", stock=5)
        shop = await build_shop(
            app,
            await tenant_factory(),
            channel="lazada",
            site="SG",
            credentials=account,
            base_url=base_url,
            skus={"SKU-1": 5},
            listings={"SKU-1": listing},
            settings={"timeout": 0.5},
        )
        try:
            yield Lazada(shop, emulator, account, api)
        finally:
            await shop.pause()


def _held(case: dict[str, Any]) -> list[str]:
    return [h["reason"] for h in case["order"]["holds"] if h["releasedAt"] is None]


async def test_a_buyer_cancellation_holds_the_order_and_accepting_it_cancels_it(lazada: Lazada) -> None:
    shop, emulator = lazada.shop, lazada.emulator
    lazada.order("3001")
    await shop.sync()
    assert (await shop.available_to_sell())["SKU-1"] == 3  # two units reserved
    reverse_id = emulator.reverse.buyer_cancels("3001", reason="Change of mind")
    assert (await shop.sync("cases"))["opened"] == 1

    case = (await lazada.cases())[reverse_id]
    assert (case["kind"], case["status"], case["orderExternalId"]) == ("CANCELLATION", "OPEN", "3001")
    assert case["channelStatus"] == "REQUEST_INITIATE:INITIAL" and case["reason"] == "Change of mind"
    assert sorted(case["actions"]) == ["ACCEPT", "REJECT"] and case["respondBy"]
    assert case["order"]["status"] == "ON_HOLD" and _held(case) == ["CANCELLATION_REQUESTED"]

    queued = await lazada.respond(case["id"], "ACCEPT")
    assert queued["userErrors"] == [] and queued["response"]["status"] == "PENDING"
    async with jobs_running(shop.app):
        done = await lazada.case_where(reverse_id, status="ACCEPTED")
    assert done["channelStatus"] == "CANCEL_SUCCESS:INITIAL" and done["responses"][0]["status"] == "SENT"
    # Lazada cancelled the units; here the order is cancelled and its stock released
    assert emulator.status("3001") == ["canceled", "canceled"]
    assert done["order"]["status"] == "CANCELLED" and _held(done) == []
    assert (await shop.available_to_sell())["SKU-1"] == 5
    # the next syncs change nothing and ask Lazada nothing more
    await shop.sync("cases")
    await shop.sync()
    assert [a for a, _, _ in emulator.reverse.applied] == ["agree_cancel=true"]
    assert (await lazada.orders())["3001"]["status"] == "CANCELLED"


async def test_a_refused_cancellation_request_releases_the_hold(lazada: Lazada) -> None:
    shop, emulator = lazada.shop, lazada.emulator
    lazada.order("3002")
    await shop.sync()
    reverse_id = emulator.reverse.buyer_cancels("3002")
    await shop.sync("cases")
    case = (await lazada.cases())[reverse_id]
    no_reason = await lazada.respond(case["id"], "REJECT")
    assert no_reason["userErrors"][0]["code"] == "REQUIRED"
    assert (
        await lazada.respond(case["id"], "REJECT", reason="already handed over to the logistics partner")
    )["userErrors"] == []
    async with jobs_running(shop.app):
        done = await lazada.case_where(reverse_id, status="REJECTED")
    assert done["actions"] == [] and _held(done) == [] and done["order"]["status"] == "ALLOCATED"
    assert emulator.status("3002") == ["pending", "pending"]
    # Lazada was given its own reason id for the words, not our text
    [(action, _, _)] = emulator.reverse.applied
    assert action == "agree_cancel=false"


async def test_a_return_with_photos_accepted_then_refunded_once(lazada: Lazada) -> None:
    shop, emulator = lazada.shop, lazada.emulator
    lazada.order("3003", status="delivered", units=2, price="15.00")
    await shop.sync()
    reverse_id = emulator.reverse.buyer_returns("3003", reason="Damaged item", photos=PHOTOS, refund="24.00")
    await shop.sync("cases")
    case = (await lazada.cases())[reverse_id]
    assert (case["kind"], case["status"]) == ("RETURN_REFUND", "OPEN")
    assert case["photos"] == PHOTOS and case["reason"] == "Damaged item"
    assert case["refundAmount"] == {"amount": "24.00", "currency": "SGD"}
    # Lazada has no partial refund offer and no seller dispute of a return: not offered
    assert sorted(case["actions"]) == ["ACCEPT", "REJECT"]
    offer = await lazada.respond(
        case["id"], "OFFER_PARTIAL_REFUND", amount={"amount": "5.00", "currency": "SGD"}
    )
    assert offer["userErrors"][0]["code"] == "ACTION_NOT_ALLOWED"

    assert (await lazada.respond(case["id"], "ACCEPT"))["userErrors"] == []
    async with jobs_running(shop.app):
        await lazada.case_where(reverse_id, status="ACCEPTED")
    emulator.reverse.buyer_ships_back(reverse_id)
    await shop.sync("cases")
    shipped = await lazada.case_where(reverse_id, status="RETURN_SHIPPED")
    assert sorted(shipped["actions"]) == ["ACCEPT", "REJECT"]
    assert (await lazada.respond(shipped["id"], "ACCEPT"))["userErrors"] == []
    async with jobs_running(shop.app):
        await lazada.case_where(reverse_id, status="REFUNDED")
    await shop.sync("cases")
    await shop.sync("cases")
    refunds = (await lazada.orders())["3003"]["refunds"]
    assert refunds == [{"amount": {"amount": "24.00", "currency": "SGD"}, "reference": f"case {reverse_id}"}]
    assert [a for a, _, _ in emulator.reverse.applied] == ["agreeReturn", "confirmDelivery", "agreeRefund"]


async def test_a_refund_only_request_disputed_needs_a_photo_and_lazada_decides(lazada: Lazada) -> None:
    shop, emulator = lazada.shop, lazada.emulator
    lazada.order("3004", status="delivered", units=2, price="9.90")
    await shop.sync()
    reverse_id = emulator.reverse.buyer_returns("3004", refund_only=True, photos=PHOTOS, units=1)
    await shop.sync("cases")
    case = (await lazada.cases())[reverse_id]
    assert case["kind"] == "REFUND_ONLY" and sorted(case["actions"]) == ["ACCEPT", "DISPUTE"]
    # without a photo Lazada refuses the dispute: the refusal shows on the case
    assert (await lazada.respond(case["id"], "DISPUTE", reason="the seal was intact"))["userErrors"] == []
    async with jobs_running(shop.app):

        async def failed() -> dict[str, Any] | None:
            found = (await lazada.cases())[reverse_id]
            return found if found["responses"] and found["responses"][0]["status"] == "FAILED" else None

        refused = await wait_until(failed)
    assert refused["responses"][0]["errorCode"] == "110" and "image" in refused["responses"][0]["error"]
    assert refused["status"] == "OPEN"
    answer = await lazada.respond(
        case["id"], "DISPUTE", reason="the seal was intact", comment="https://img.example.com/seal.jpg"
    )
    assert answer["userErrors"] == []
    async with jobs_running(shop.app):
        disputed = await lazada.case_where(reverse_id, status="DISPUTED")
    assert disputed["actions"] == [] and disputed["photos"] == PHOTOS  # the buyer's, not ours
    emulator.reverse.platform_decides(reverse_id, for_buyer=True)
    await shop.sync("cases")
    await lazada.case_where(reverse_id, status="REFUNDED")
    refunds = (await lazada.orders())["3004"]["refunds"]
    assert refunds == [{"amount": {"amount": "9.90", "currency": "SGD"}, "reference": f"case {reverse_id}"}]


async def test_order_cancel_cancels_on_lazada_with_the_mapped_reason(lazada: Lazada) -> None:
    shop, emulator = lazada.shop, lazada.emulator
    lazada.order("3005")
    lazada.order("3006")
    await shop.sync()
    done = await lazada.cancel("3005", cancelReason="OUT_OF_STOCK")
    assert done == {"order": {"status": "CANCELLED"}, "channel": "CANCELLED", "userErrors": []}
    [(action, order_id, units)] = emulator.reverse.applied
    assert (action, order_id, len(units)) == ("cancel", "3005", 2)
    assert emulator.status("3005") == ["canceled", "canceled"]
    # "Out of Stock" makes Lazada set the SKU's stock to 0, as its guide says
    assert emulator.stock(lazada.account, "SKU-1") == 0

    # shipped on Lazada before we heard of it: refused with Lazada's words, nothing changes here
    before = (await lazada.orders())["3006"]["status"]
    emulator.set_status("3006", "shipped")
    refused = await lazada.cancel("3006", cancelReason="PRICING_ERROR")
    assert refused["order"] is None and refused["userErrors"][0]["code"] == "CHANNEL_REFUSED"
    assert "Only items from Pending to Ready To Ship can be cancelled" in refused["userErrors"][0]["message"]
    assert (await lazada.orders())["3006"]["status"] == before
    assert len(emulator.reverse.applied) == 1

    # throttled: the operator is told to try again, and nothing changes either
    lazada.order("3007")
    await shop.sync()
    emulator.refuse("/order/reverse/cancel/create", "901")
    busy = await lazada.cancel("3007")
    assert busy["userErrors"][0]["code"] == "CHANNEL_UNAVAILABLE" and busy["order"] is None
    assert emulator.status("3007") == ["pending", "pending"]
    # a throttled check on the way is waited out; the cancellation is made once
    emulator.refuse("/order/reverse/cancel/validate", "ApiCallLimit")
    assert (await lazada.cancel("3007"))["channel"] == "CANCELLED"
    assert [o for _, o, _ in emulator.reverse.applied] == ["3005", "3007"]


async def test_answers_pushed_under_faults_are_applied_once(lazada: Lazada) -> None:
    shop, emulator = lazada.shop, lazada.emulator
    ids = [lazada.order(str(3100 + n), status="delivered", units=1) for n in range(3)]
    await shop.sync()
    reverse_ids = [emulator.reverse.buyer_returns(o) for o in ids]
    await shop.sync("cases")
    cases = await lazada.cases()
    # one answer at a time, so the faults fall the same way every run (the seed)
    faults = Faults(
        lost_answer=0.15, server_error=0.05, throttle=0.05, retry_after=0.05, timeout_seconds=0.1, seed=11
    )
    emulator.faults = faults
    emulator.rng.seed(faults.seed)
    async with jobs_running(shop.app):
        for reverse_id in reverse_ids:
            assert (await lazada.respond(cases[reverse_id]["id"], "ACCEPT"))["userErrors"] == []
            await lazada.case_where(reverse_id, interval=0.5, status="ACCEPTED")
    emulator.faults = Faults()
    assert (
        emulator.injected["lost_answer"] + emulator.injected["server_error"] + emulator.injected["throttle"]
        > 0
    )
    applied = sorted(r for a, r, _ in emulator.reverse.applied if a == "agreeReturn")
    assert applied == sorted(reverse_ids)  # each answer once, whatever was lost
