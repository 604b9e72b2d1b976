"""After-sales over GraphQL: buyers' cancellation, return and refund requests pulled from
the channel, answered by an operator and pushed back; orders cancelled on their channel."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, update

from crossdock import CaseAction, CaseKind, CaseStatus, ChannelError
from crossdock.db.models import Connection, ConnectionStatus, Order, OrderStatus
from crossdock.jobs import JOBS
from crossdock.testing import jobs_running, wait_until
from crossdock.testing.kit import make_tenant

CASES = """query($f: CaseFilter) { cases(first: 10, filter: $f) { nodes {
  id externalId orderExternalId kind status channelStatus reason buyerComment photos
  refundAmount { amount currency } respondBy actions openedAt
  order { externalId status holds { reason releasedAt } }
  responses { action status reason amount { amount currency } errorCode error }
} } }"""

RESPOND = """mutation($i: CaseRespondInput!) { caseRespond(input: $i) {
  case { status actions } response { action status }
  userErrors { field code message } } }"""

CANCEL = """mutation($i: OrderCancelInput!) { orderCancel(input: $i) {
  order { status } channel userErrors { field code message } } }"""


async def _orders(api: Any, key: str) -> dict[str, dict[str, Any]]:
    data = await api.data(
        "{ orders(first: 50) { nodes { id externalId status refunds { amount { amount } reference } } } }",
        key=key,
    )
    return {n["externalId"]: n for n in data["orders"]["nodes"]}


async def _sync(app: Any, shop: Any) -> dict[str, Any]:
    result: dict[str, Any] = await JOBS["sync_cases"](
        app.job_context(), tenant_id=shop.tenant.id, connection_id=shop.connections["sg"]
    )
    return result


async def _cases(api: Any, shop: Any, **filter: Any) -> list[dict[str, Any]]:
    data = await api.data(CASES, {"f": filter or None}, key=shop.tenant.key)
    nodes: list[dict[str, Any]] = data["cases"]["nodes"]
    return nodes


def _held(case: dict[str, Any]) -> list[str]:
    return [h["reason"] for h in case["order"]["holds"] if h["releasedAt"] is None]


async def _respond(api: Any, shop: Any, case_id: str, action: str, **more: Any) -> dict[str, Any]:
    data = await api.data(RESPOND, {"i": {"caseId": case_id, "action": action, **more}}, key=shop.tenant.key)
    payload: dict[str, Any] = data["caseRespond"]
    return payload


async def test_a_cancellation_request_holds_the_order_until_accepted_then_cancels_it(
    api: Any, app: Any, shop: Any
) -> None:
    await shop.ingest(shop.market.add_order("ORD-1", status="pending", quantity=2))
    assert await shop.level("SKU-1") == (5, 2)
    shop.market.buyer_asks("C-1", "ORD-1", CaseKind.CANCELLATION, reason="ordered by mistake")
    assert (await _sync(app, shop))["opened"] == 1

    [case] = await _cases(api, shop, waiting=True)
    assert case["kind"] == "CANCELLATION" and case["status"] == "OPEN"
    assert case["channelStatus"] == "REQUESTED" and case["reason"] == "ordered by mistake"
    assert case["photos"] == ["https://img.example.com/1.jpg"]  # a script link is not kept
    assert sorted(case["actions"]) == ["ACCEPT", "REJECT"] and case["respondBy"]
    # the order is held so nobody picks it while the seller decides; its stock stays reserved
    assert case["order"]["status"] == "ON_HOLD"
    assert _held(case) == ["CANCELLATION_REQUESTED"]
    assert await shop.level("SKU-1") == (5, 2)

    queued = await _respond(api, shop, case["id"], "ACCEPT")
    assert queued["userErrors"] == [] and queued["response"] == {"action": "ACCEPT", "status": "PENDING"}
    async with jobs_running(app):
        # (the case is read before its responses: wait on the case, then its answer shows too)
        async def answered() -> list[dict[str, Any]]:
            return [c for c in await _cases(api, shop) if c["status"] != "OPEN"]

        [done] = await wait_until(answered)
    assert done["responses"][0]["status"] == "SENT"
    assert done["status"] == "ACCEPTED" and done["channelStatus"] == "CANCELLED"
    assert [r.action for r in shop.market.responses] == [CaseAction.ACCEPT]
    # accepted on the channel: cancelled here, the reservation is released, the hold is gone
    assert done["order"]["status"] == "CANCELLED" and _held(done) == []
    assert await shop.level("SKU-1") == (5, 0)
    await shop.ledger_matches_levels()
    # the next sync lists the case again: nothing changes twice
    assert (await _sync(app, shop))["opened"] == 0
    assert len(shop.market.responses) == 1


async def test_a_refused_cancellation_releases_the_hold_and_needs_a_reason(
    api: Any, app: Any, shop: Any
) -> None:
    await shop.ingest(shop.market.add_order("ORD-2", status="pending"))
    shop.market.buyer_asks("C-2", "ORD-2", CaseKind.CANCELLATION)
    await _sync(app, shop)
    [case] = await _cases(api, shop)
    assert case["order"]["status"] == "ON_HOLD"

    no_reason = await _respond(api, shop, case["id"], "REJECT")
    assert no_reason["userErrors"][0]["code"] == "REQUIRED" and no_reason["userErrors"][0]["field"] == [
        "reason"
    ]
    not_taken = await _respond(api, shop, case["id"], "DISPUTE", reason="x")
    assert not_taken["userErrors"][0]["code"] == "ACTION_NOT_ALLOWED"
    amount = await _respond(
        api, shop, case["id"], "REJECT", reason="shipped", amount={"amount": "1", "currency": "SGD"}
    )
    assert amount["userErrors"][0]["code"] == "INVALID"

    assert (await _respond(api, shop, case["id"], "REJECT", reason="already packed"))["userErrors"] == []
    # one answer at a time: a second one while the first is being sent is refused
    again = await _respond(api, shop, case["id"], "ACCEPT")
    assert again["userErrors"][0]["code"] == "RESPONSE_PENDING"
    [response] = (await _cases(api, shop))[0]["responses"]
    assert response["reason"] == "already packed"

    async with jobs_running(app):

        async def rejected() -> list[dict[str, Any]]:
            return [c for c in await _cases(api, shop) if c["status"] == "REJECTED"]

        [done] = await wait_until(rejected)
    assert done["actions"] == [] and _held(done) == []
    assert done["order"]["status"] == "ALLOCATED"  # back in the queue to be picked
    final = await _respond(api, shop, case["id"], "ACCEPT")
    assert final["userErrors"][0]["code"] == "INVALID_STATE"


async def test_a_refused_answer_shows_on_the_case_and_the_shop_stays_active(
    api: Any, app: Any, shop: Any
) -> None:
    await shop.ingest(shop.market.add_order("ORD-3", status="shipped"))
    shop.market.buyer_asks("R-3", "ORD-3", CaseKind.RETURN_REFUND, refund="10.00")
    await _sync(app, shop)
    [case] = await _cases(api, shop)
    shop.market.respond_failures.append(ChannelError("busy", retryable=True))
    shop.market.respond_failures.append(ChannelError("the return window has closed", code="E_WINDOW"))
    assert (await _respond(api, shop, case["id"], "ACCEPT"))["userErrors"] == []
    async with jobs_running(app):

        async def failed() -> list[dict[str, Any]]:
            return [c for c in await _cases(api, shop) if c["responses"][0]["status"] == "FAILED"]

        [done] = await wait_until(failed)
    assert done["responses"][0]["errorCode"] == "E_WINDOW"
    assert done["responses"][0]["error"] == "the return window has closed"
    assert done["status"] == "OPEN" and shop.market.responses == []
    async with shop.read() as session:
        conn = await session.scalar(select(Connection).where(Connection.id == shop.connections["sg"]))
        assert conn is not None and conn.status == ConnectionStatus.ACTIVE
    # it can be answered again
    assert (await _respond(api, shop, case["id"], "ACCEPT"))["userErrors"] == []


async def test_a_partial_refund_offer_and_the_refund_recorded_once(api: Any, app: Any, shop: Any) -> None:
    await shop.ingest(shop.market.add_order("ORD-4", status="shipped", total="10.00"))
    shop.market.buyer_asks("R-4", "ORD-4", CaseKind.REFUND_ONLY, refund="10.00", reason="arrived scratched")
    await _sync(app, shop)
    [case] = await _cases(api, shop, kinds=["REFUND_ONLY"])
    assert case["refundAmount"] == {"amount": "10.00", "currency": "SGD"}

    async def offer(amount: str, currency: str = "SGD") -> list[dict[str, Any]]:
        got = await _respond(
            api, shop, case["id"], "OFFER_PARTIAL_REFUND", amount={"amount": amount, "currency": currency}
        )
        errors: list[dict[str, Any]] = got["userErrors"]
        return errors

    assert (await offer("10.00"))[0]["code"] == "INVALID"  # not less than asked: accept it instead
    assert (await offer("4.00", "EUR"))[0]["code"] == "CURRENCY_MISMATCH"
    assert (await offer("0"))[0]["code"] == "OUT_OF_RANGE"
    no_amount = await _respond(api, shop, case["id"], "OFFER_PARTIAL_REFUND")
    assert no_amount["userErrors"][0]["code"] == "REQUIRED"
    assert await offer("4.00") == []
    async with jobs_running(app):

        async def negotiating() -> list[dict[str, Any]]:
            return [c for c in await _cases(api, shop) if c["status"] == "NEGOTIATING"]

        [sent] = await wait_until(negotiating)
    assert sent["responses"][0]["amount"] == {"amount": "4.00", "currency": "SGD"}
    assert (
        shop.market.responses[0].amount is not None
        and str(shop.market.responses[0].amount.amount) == "4.00"  # in the currency's minor units
    )

    # the buyer takes the offer: the channel pays it out and the refund is recorded here once
    from crossdock import Money

    shop.market.case_moves("R-4", CaseStatus.REFUNDED, "REFUND_PAID", refund_amount=Money.of("4.00", "SGD"))
    await _sync(app, shop)
    await _sync(app, shop)
    order = (await _orders(api, shop.tenant.key))["ORD-4"]
    assert order["refunds"] == [{"amount": {"amount": "4.00"}, "reference": "case R-4"}]


async def test_an_older_version_never_overwrites_and_a_case_waits_for_its_order(
    api: Any, app: Any, shop: Any
) -> None:
    early = shop.market.buyer_asks("C-5", "ORD-5", CaseKind.CANCELLATION)
    await _sync(app, shop)
    [case] = await _cases(api, shop)
    assert case["order"] is None and case["orderExternalId"] == "ORD-5"
    # the order arrives after its case: the next case page links it and holds the order
    await shop.ingest(shop.market.add_order("ORD-5", status="pending"))
    shop.market.buyer_asks("C-6", "ORD-5", CaseKind.CANCELLATION)
    await _sync(app, shop)
    linked = {c["externalId"]: c for c in await _cases(api, shop)}
    assert linked["C-5"]["order"]["status"] == "ON_HOLD"

    opened = linked["C-5"]["openedAt"]
    shop.market.case_moves("C-5", CaseStatus.CANCELLED, "BUYER_WITHDREW", opened_at=datetime.now(UTC))
    await _sync(app, shop)
    shop.market.cases["C-5"] = early  # the channel serves a stale copy (replica lag)
    await _sync(app, shop)
    final = {c["externalId"]: c for c in await _cases(api, shop)}["C-5"]
    assert final["status"] == "CANCELLED"
    assert final["openedAt"] == opened  # a channel's moving request time does not move it


async def test_order_cancel_goes_to_the_channel_first(api: Any, app: Any, shop: Any) -> None:
    key = shop.tenant.key
    await shop.ingest(
        shop.market.add_order("ORD-7", status="pending"),
        shop.market.add_order("ORD-8", status="pending", buyer="Lim Mei Ling"),
    )
    ids = {e: n["id"] for e, n in (await _orders(api, key)).items()}

    async def cancel(external_id: str, **more: Any) -> dict[str, Any]:
        got = await api.data(CANCEL, {"i": {"id": ids[external_id], "reason": "no stock", **more}}, key=key)
        payload: dict[str, Any] = got["orderCancel"]
        return payload

    shop.market.cancel_failures.append(ChannelError("timeout", retryable=True))
    busy = await cancel("ORD-7")
    assert busy["userErrors"][0]["code"] == "CHANNEL_UNAVAILABLE" and busy["order"] is None
    shop.market.cancel_failures.append(ChannelError("the buyer has paid with a voucher", code="E_CANCEL"))
    refused = await cancel("ORD-7")
    assert refused["userErrors"][0]["code"] == "CHANNEL_REFUSED"
    assert "voucher" in refused["userErrors"][0]["message"]
    assert (await shop.order("ORD-7")).status == "allocated"  # nothing changed here

    done = await cancel("ORD-7", cancelReason="OUT_OF_STOCK")
    assert done == {"order": {"status": "CANCELLED"}, "channel": "CANCELLED", "userErrors": []}
    assert [(o, r.value) for o, r in shop.market.cancelled] == [("ORD-7", "out_of_stock")]
    assert await shop.level("SKU-1") == (5, 1)
    # cancelled already: the channel is not asked again
    assert (await cancel("ORD-7"))["channel"] is None and len(shop.market.cancelled) == 1

    local = await cancel("ORD-8", onChannel=False)
    assert local["channel"] is None and local["order"] == {"status": "CANCELLED"}
    assert len(shop.market.cancelled) == 1

    # a channel whose API cannot cancel: cancelled here, and the operator is told
    await shop.ingest(shop.market.add_order("ORD-9", status="pending"))
    ids["ORD-9"] = (await _orders(api, key))["ORD-9"]["id"]
    shop.market.capabilities = shop.market.capabilities - {"orders.cancel"}
    unsupported = await cancel("ORD-9")
    assert unsupported["channel"] == "NOT_SUPPORTED" and unsupported["order"] == {"status": "CANCELLED"}

    # a shipped order is cancelled nowhere: the channel is not asked
    shop.market.capabilities = shop.market.capabilities | {"orders.cancel"}
    await shop.ingest(shop.market.add_order("ORD-10", status="pending", buyer="Wong Ah Beng"))
    async with shop.write() as session:
        await session.execute(
            update(Order).where(Order.external_id == "ORD-10").values(status=OrderStatus.SHIPPED)
        )
    ids["ORD-10"] = (await _orders(api, key))["ORD-10"]["id"]
    shipped = await cancel("ORD-10")
    assert shipped["userErrors"][0]["code"] == "ALREADY_SHIPPED"
    assert len(shop.market.cancelled) == 1


async def test_another_tenant_sees_and_answers_none_of_it(api: Any, app: Any, shop: Any) -> None:
    await shop.ingest(shop.market.add_order("ORD-11", status="pending"))
    shop.market.buyer_asks("C-11", "ORD-11", CaseKind.CANCELLATION)
    await _sync(app, shop)
    [case] = await _cases(api, shop)
    other = await make_tenant(app)
    assert (await api.data(CASES, key=other.key))["cases"]["nodes"] == []
    foreign = await api.data(RESPOND, {"i": {"caseId": case["id"], "action": "ACCEPT"}}, key=other.key)
    assert foreign["caseRespond"]["userErrors"][0]["code"] == "NOT_FOUND"
    reader = await make_tenant(app, scopes=["orders:read"])
    denied = await api.raw(RESPOND, {"i": {"caseId": case["id"], "action": "ACCEPT"}}, key=reader.key)
    assert denied.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_answers_sent_at_once_queue_one(api: Any, app: Any, shop: Any, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers; the race is PostgreSQL's")
    await shop.ingest(shop.market.add_order("ORD-12", status="pending"))
    shop.market.buyer_asks("C-12", "ORD-12", CaseKind.CANCELLATION)
    await _sync(app, shop)
    [case] = await _cases(api, shop)
    answers = await asyncio.gather(
        *[_respond(api, shop, case["id"], action, reason="no") for action in ("ACCEPT", "REJECT") * 4]
    )
    codes = sorted(a["userErrors"][0]["code"] if a["userErrors"] else "ok" for a in answers)
    assert codes == ["RESPONSE_PENDING"] * 7 + ["ok"]
    [stored] = await _cases(api, shop)
    assert len(stored["responses"]) == 1
    async with jobs_running(app):

        async def answered() -> list[dict[str, Any]]:
            return [c for c in await _cases(api, shop) if c["status"] != "OPEN"]

        await wait_until(answered)
    assert len(shop.market.responses) == 1
