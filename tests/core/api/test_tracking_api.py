"""Tracking over GraphQL: a shipment's timeline and exceptions, the exceptions list with its
filters, resolving, and the notice rules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from crossdock.api.schema.relay import encode_id
from crossdock.providers import TrackingEvent, TrackingReason, TrackingResult, TrackingStatus
from crossdock.services import tracking

from ..tracking_kit import Env, ParcelPostPlugin, tracking_env

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@pytest.fixture
def parcelpost() -> ParcelPostPlugin:
    return ParcelPostPlugin()


@pytest.fixture
def extra_plugins(testmarket: Any, parcelpost: ParcelPostPlugin) -> list[tuple[str, object]]:
    return [("testmarket", testmarket), ("parcelpost", parcelpost)]


@pytest_asyncio.fixture
async def env(shop: Any, app: Any) -> AsyncIterator[Env]:
    async with tracking_env(shop, app) as made:
        yield made


def scan(minutes: int, status: TrackingStatus, reason: TrackingReason | None = None) -> TrackingEvent:
    return TrackingEvent(
        occurred_at=T0 + timedelta(minutes=minutes),
        status=status,
        code=f"C{minutes}",
        description=status.value,
        reason=reason,
        location="SIN",
    )


async def record(env: Env, shipment_id: int, result: TrackingResult) -> tracking.Recorded:
    async with env.shop.unit_of_work() as uow:
        return await tracking.record_tracking(uow, shipment_id, result)


ORDER = """query($id: ID!) { node(id: $id) { ... on Order { shipments {
  trackingNumber trackingStatus trackingReason lastEventAt estimatedDelivery deliveredAt
  trackingEvents { occurredAt status reason code description location }
  exceptions { kind open detail }
} } } }"""

EXCEPTIONS = """query($f: ShipmentExceptionFilter, $first: Int, $after: String, $reverse: Boolean! = false) {
  shipmentExceptions(filter: $f, first: $first, after: $after, reverse: $reverse) {
    nodes { id kind open noticeError order { externalId } shipment { trackingNumber } }
    pageInfo { hasNextPage endCursor }
} }"""


async def test_a_shipment_shows_its_timeline_and_exceptions(api: Any, env: Env) -> None:
    key = env.shop.tenant.key
    sid, (number,) = await env.shipped("GQ-1")
    await record(
        env,
        sid,
        TrackingResult(
            number,
            [
                scan(30, TrackingStatus.ON_HOLD, TrackingReason.CUSTOMS_HOLD),
                scan(0, TrackingStatus.PICKED_UP),
                scan(10, TrackingStatus.IN_TRANSIT),
            ],
        ),
    )
    order = await env.shop.order("GQ-1")
    data = await api.data(ORDER, {"id": encode_id("Order", order.id)}, key=key)
    (shipment,) = data["node"]["shipments"]
    assert shipment["trackingStatus"] == "ON_HOLD"
    assert shipment["trackingReason"] == "CUSTOMS_HOLD"
    assert shipment["lastEventAt"].startswith("2026-11-20T08:30:00")
    assert [e["status"] for e in shipment["trackingEvents"]] == ["PICKED_UP", "IN_TRANSIT", "ON_HOLD"]
    assert shipment["trackingEvents"][2] == {
        "occurredAt": shipment["lastEventAt"],
        "status": "ON_HOLD",
        "reason": "CUSTOMS_HOLD",
        "code": "C30",
        "description": "on_hold",
        "location": "SIN",
    }
    assert shipment["exceptions"] == [{"kind": "CUSTOMS_HOLD", "open": True, "detail": "C30: on_hold"}]


async def test_the_exceptions_list_filters_pages_and_resolves(api: Any, env: Env) -> None:
    key = env.shop.tenant.key
    a, (na,) = await env.shipped("GQ-A")
    b, (nb,) = await env.shipped("GQ-B")
    await record(env, a, TrackingResult(na, [scan(1, TrackingStatus.DELIVERY_FAILED)]))
    await record(env, b, TrackingResult(nb, [scan(1, TrackingStatus.RETURN_TO_SENDER)]))
    await record(env, b, TrackingResult(nb, [scan(2, TrackingStatus.UNKNOWN, TrackingReason.LOST)]))

    every = (await api.data(EXCEPTIONS, {}, key=key))["shipmentExceptions"]["nodes"]
    assert [n["kind"] for n in every] == ["FAILED_ATTEMPT", "RETURNED_TO_SENDER", "LOST"]
    assert every[0]["order"]["externalId"] == "GQ-A" and every[0]["shipment"]["trackingNumber"] == na
    assert every[0]["noticeError"] is None  # the notice job has not run

    newest = (await api.data(EXCEPTIONS, {"reverse": True}, key=key))["shipmentExceptions"]["nodes"]
    assert [n["kind"] for n in newest] == ["LOST", "RETURNED_TO_SENDER", "FAILED_ATTEMPT"]

    page = (await api.data(EXCEPTIONS, {"first": 2}, key=key))["shipmentExceptions"]
    assert page["pageInfo"]["hasNextPage"]
    rest = await api.data(EXCEPTIONS, {"first": 2, "after": page["pageInfo"]["endCursor"]}, key=key)
    assert [n["kind"] for n in rest["shipmentExceptions"]["nodes"]] == ["LOST"]

    async def kinds(f: dict[str, Any]) -> list[str]:
        found = await api.data(EXCEPTIONS, {"f": f}, key=key)
        return [n["kind"] for n in found["shipmentExceptions"]["nodes"]]

    order_b = await env.shop.order("GQ-B")
    assert await kinds({"orderId": encode_id("Order", order_b.id)}) == ["RETURNED_TO_SENDER", "LOST"]
    assert await kinds({"kinds": ["LOST", "FAILED_ATTEMPT"]}) == ["FAILED_ATTEMPT", "LOST"]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert await kinds({"raisedAfter": future}) == []
    assert len(await kinds({"raisedBefore": future})) == 3

    resolve = """mutation($i: ShipmentExceptionResolveInput!) { shipmentExceptionResolve(input: $i) {
      shipmentException { kind open resolvedAt } userErrors { field code } } }"""
    done = await api.data(resolve, {"i": {"id": every[2]["id"]}}, key=key)
    assert done["shipmentExceptionResolve"]["shipmentException"]["open"] is False
    assert await kinds({"open": True}) == ["FAILED_ATTEMPT", "RETURNED_TO_SENDER"]
    assert await kinds({"open": False}) == ["LOST"]

    bad = await api.data(resolve, {"i": {"id": encode_id("ShipmentException", 10**9)}}, key=key)
    assert bad["shipmentExceptionResolve"]["userErrors"] == [{"field": ["id"], "code": "NOT_FOUND"}]
    wrong = await api.data(resolve, {"i": {"id": encode_id("Order", order_b.id)}}, key=key)
    assert wrong["shipmentExceptionResolve"]["userErrors"][0]["code"] == "INVALID_ID"


async def test_notice_rules_are_set_listed_and_deleted(api: Any, env: Env, tenant_factory: Any) -> None:
    key = env.shop.tenant.key
    save = """mutation($i: ExceptionNoticeRuleInput!) { exceptionNoticeRuleSet(input: $i) {
      exceptionNoticeRule { id kind template countries priority active } userErrors { field code } } }"""
    first = await api.data(
        save, {"i": {"kind": "CUSTOMS_HOLD", "template": "customs", "countries": ["my", "SG"]}}, key=key
    )
    rule = first["exceptionNoticeRuleSet"]["exceptionNoticeRule"]
    assert rule["countries"] == ["MY", "SG"] and rule["priority"] == 100 and rule["active"] is True
    await api.data(save, {"i": {"kind": "LOST", "template": "lost", "priority": 5}}, key=key)
    changed = await api.data(
        save,
        {"i": {"id": rule["id"], "kind": "CUSTOMS_HOLD", "template": "customs2", "active": False}},
        key=key,
    )
    assert changed["exceptionNoticeRuleSet"]["exceptionNoticeRule"]["template"] == "customs2"

    bad = await api.data(save, {"i": {"kind": "LOST", "template": "x", "countries": ["XX"]}}, key=key)
    assert bad["exceptionNoticeRuleSet"]["userErrors"] == [
        {"field": ["countries"], "code": "INVALID_COUNTRY"}
    ]
    empty = await api.data(save, {"i": {"kind": "LOST", "template": " "}}, key=key)
    assert empty["exceptionNoticeRuleSet"]["userErrors"] == [{"field": ["template"], "code": "REQUIRED"}]

    listed = await api.data("{ exceptionNoticeRules { kind template active } }", key=key)
    assert listed["exceptionNoticeRules"] == [
        {"kind": "CUSTOMS_HOLD", "template": "customs2", "active": False},
        {"kind": "LOST", "template": "lost", "active": True},
    ]
    only = await api.data("{ exceptionNoticeRules(kind: LOST) { template } }", key=key)
    assert only["exceptionNoticeRules"] == [{"template": "lost"}]

    other = await tenant_factory()  # another tenant sees none and cannot delete them
    assert (await api.data("{ exceptionNoticeRules { id } }", key=other.key))["exceptionNoticeRules"] == []
    delete = """mutation($i: ExceptionNoticeRuleDeleteInput!) { exceptionNoticeRuleDelete(input: $i) {
      deletedId userErrors { code } } }"""
    refused = await api.data(delete, {"i": {"id": rule["id"]}}, key=other.key)
    assert refused["exceptionNoticeRuleDelete"]["userErrors"] == [{"code": "NOT_FOUND"}]
    gone = await api.data(delete, {"i": {"id": rule["id"]}}, key=key)
    assert gone["exceptionNoticeRuleDelete"]["deletedId"] == rule["id"]
    assert len((await api.data("{ exceptionNoticeRules { id } }", key=key))["exceptionNoticeRules"]) == 1
