"""Outbound webhooks over GraphQL: an endpoint made, its secret shown once, the delivery log
filtered and paged, redelivery, pause and enable, rotation, and typed refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from standardwebhooks import Webhook

from crossdock.api.schema.relay import decode_id
from crossdock.jobs.webhooks import dispatch
from crossdock.services.events import emit
from crossdock.testing.emulator import serve
from crossdock.testing.webhooks import WebhookReceiver

CREATE = """mutation($url: String!, $types: [EventType!]!, $prefix: String) {
  webhookEndpointCreate(input: {url: $url, eventTypes: $types, filter: {subjectPrefix: $prefix},
    description: "ERP"}) {
    endpoint { id url status eventTypes filter { subjectPrefix } }
    secret
    userErrors { field message code } } }"""
DELIVERIES = """query($f: WebhookDeliveryFilter, $after: String, $first: Int, $k: WebhookDeliverySortKeys, $r: Boolean) {
  webhookDeliveries(filter: $f, after: $after, first: $first, sortKey: $k, reverse: $r) {
    nodes { id webhookId eventType status attemptCount nextAttemptAt lastStatusCode
      endpoint { id } attempts { result statusCode responseExcerpt error attemptedAt } }
    pageInfo { hasNextPage endCursor } } }"""
REDELIVER = """mutation($ids: [ID!], $e: ID) { webhookRedeliver(input: {deliveryIds: $ids, endpointId: $e}) {
  redelivered userErrors { field code } } }"""


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    found = WebhookReceiver(by_payload=True)
    async with serve(found) as url:
        found.url = url  # type: ignore[attr-defined]
        yield found


async def _emit(app: Any, tenant: Any, answers: list[int]) -> None:
    async with app.db.write(tenant.id, slug=tenant.slug) as session:
        for i, answer in enumerate(answers):
            emit(session, "order.held", f"Order:{i + 1}", answer=answer)


async def test_subscribe_deliver_page_the_log_and_redeliver(
    api: Any, app: Any, tenant_factory: Any, receiver: Any
) -> None:
    tenant = await tenant_factory()
    key = tenant.key
    made = (
        await api.data(
            CREATE, {"url": receiver.url + "/erp", "types": ["ORDER_HELD"], "prefix": "Order:"}, key=key
        )
    )["webhookEndpointCreate"]
    assert made["userErrors"] == []
    endpoint, secret = made["endpoint"], made["secret"]
    assert secret.startswith("whsec_")
    assert endpoint["eventTypes"] == ["ORDER_HELD"] and endpoint["status"] == "ACTIVE"
    # the secret is never shown again: no field of the endpoint holds it
    listed = await api.data("{ webhookEndpoints { nodes { id url description } } }", key=key)
    assert secret not in str(listed) and listed["webhookEndpoints"]["nodes"][0]["description"] == "ERP"

    await _emit(app, tenant, [200, 200, 200, 404, 404])
    await dispatch(app.job_context(), tenant.id, decode_id(endpoint["id"])[1])
    for request in receiver.requests:
        Webhook(secret).verify(request.body, request.headers)

    failed = (await api.data(DELIVERIES, {"f": {"statuses": ["FAILED"]}}, key=key))["webhookDeliveries"]
    assert [n["lastStatusCode"] for n in failed["nodes"]] == [404, 404]
    assert failed["nodes"][0]["attempts"][0]["result"] == "FAILED"
    assert failed["nodes"][0]["attempts"][0]["responseExcerpt"] == '{"status": 404}'
    # keyset pages, both ways
    seen, after = [], None
    while True:
        page = (
            await api.data(DELIVERIES, {"first": 2, "after": after, "r": False, "k": "CREATED_AT"}, key=key)
        )["webhookDeliveries"]
        seen += [n["id"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == 5
    newest_first = (await api.data(DELIVERIES, {"first": 5}, key=key))["webhookDeliveries"]["nodes"]
    assert [n["id"] for n in newest_first] == seen[::-1]
    by_endpoint = await api.data(
        DELIVERIES, {"f": {"endpointId": endpoint["id"], "eventTypes": ["ORDER_HELD"]}}, key=key
    )
    assert len(by_endpoint["webhookDeliveries"]["nodes"]) == 5

    # redeliver the failed ones of the endpoint: same webhook-id, the receiver takes them now
    receiver.by_payload = False
    answer = (await api.data(REDELIVER, {"e": endpoint["id"]}, key=key))["webhookRedeliver"]
    assert answer == {"redelivered": 2, "userErrors": []}
    await dispatch(app.job_context(), tenant.id, decode_id(endpoint["id"])[1])
    log = (await api.data(DELIVERIES, {}, key=key))["webhookDeliveries"]["nodes"]
    assert {n["status"] for n in log} == {"SUCCEEDED"}
    again = [n for n in log if n["attemptCount"] == 2]
    assert len(again) == 2 and all(receiver.accepted[n["webhookId"]] == 1 for n in log)
    assert [a["statusCode"] for a in again[0]["attempts"]] == [404, 200]
    one = (await api.data(REDELIVER, {"ids": [log[0]["id"]]}, key=key))["webhookRedeliver"]
    assert one["redelivered"] == 1


async def test_pause_enable_rotate_and_delete(api: Any, app: Any, tenant_factory: Any, receiver: Any) -> None:
    tenant = await tenant_factory()
    key = tenant.key
    made = (await api.data(CREATE, {"url": receiver.url + "/in", "types": ["ORDER_HELD"]}, key=key))[
        "webhookEndpointCreate"
    ]
    gid = made["endpoint"]["id"]
    paused = await api.data(
        "mutation($id: ID!) { webhookEndpointPause(input: {id: $id}) { endpoint { status } userErrors { code } } }",
        {"id": gid},
        key=key,
    )
    assert paused["webhookEndpointPause"]["endpoint"]["status"] == "PAUSED"
    await _emit(app, tenant, [200])
    await dispatch(app.job_context(), tenant.id, decode_id(gid)[1])
    assert receiver.requests == []  # paused: nothing sent, the event waits
    enabled = await api.data(
        "mutation($id: ID!) { webhookEndpointEnable(input: {id: $id}) { endpoint { status } userErrors { code } } }",
        {"id": gid},
        key=key,
    )
    assert enabled["webhookEndpointEnable"]["endpoint"]["status"] == "ACTIVE"
    rotated = (
        await api.data(
            "mutation($id: ID!) { webhookEndpointRotateSecret(input: {id: $id, overlapHours: 1}) "
            "{ secret userErrors { code } } }",
            {"id": gid},
            key=key,
        )
    )["webhookEndpointRotateSecret"]
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != made["secret"]
    await dispatch(app.job_context(), tenant.id, decode_id(gid)[1])
    [request] = receiver.requests  # the event sent while paused arrives, signed by both
    for secret in (made["secret"], rotated["secret"]):
        Webhook(secret).verify(request.body, request.headers)
    bad = await api.data(
        "mutation($id: ID!) { webhookEndpointRotateSecret(input: {id: $id, overlapHours: 999}) "
        "{ secret userErrors { field code } } }",
        {"id": gid},
        key=key,
    )
    assert bad["webhookEndpointRotateSecret"] == {
        "secret": None,
        "userErrors": [{"field": ["overlapHours"], "code": "OUT_OF_RANGE"}],
    }
    deleted = await api.data(
        "mutation($id: ID!) { webhookEndpointDelete(input: {id: $id}) { deletedId userErrors { code } } }",
        {"id": gid},
        key=key,
    )
    assert deleted["webhookEndpointDelete"]["deletedId"] == gid
    assert (await api.data("{ webhookDeliveries { nodes { id } } }", key=key))["webhookDeliveries"][
        "nodes"
    ] == []


async def test_bad_input_gets_typed_user_errors(api: Any, tenant_factory: Any) -> None:
    tenant = await tenant_factory()
    for variables, code, field in (
        ({"url": "https://10.0.0.1/x", "types": ["ORDER_HELD"]}, "URL_NOT_ALLOWED", ["url"]),
        ({"url": "https://localhost/x", "types": ["ORDER_HELD"]}, "URL_NOT_ALLOWED", ["url"]),
        ({"url": "http://example.com/x", "types": ["ORDER_HELD"]}, "URL_NOT_ALLOWED", ["url"]),
        ({"url": "https://example.com/x", "types": []}, "REQUIRED", ["eventTypes"]),
        (
            {"url": "https://example.com/x", "types": ["ORDER_HELD"], "prefix": "Or der"},
            "INVALID",
            ["filter", "subjectPrefix"],
        ),
    ):
        errors = (await api.data(CREATE, variables, key=tenant.key))["webhookEndpointCreate"]["userErrors"]
        assert [(e["code"], e["field"]) for e in errors] == [(code, field)], variables
    unknown = await api(CREATE, {"url": "https://example.com/x", "types": ["ORDER_EXPLODED"]}, key=tenant.key)
    assert unknown["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    nothing = await api.data(REDELIVER, {}, key=tenant.key)
    assert nothing["webhookRedeliver"]["userErrors"] == [{"field": ["deliveryIds"], "code": "REQUIRED"}]
    assert (await api.data("{ webhookEndpoints { nodes { id } } }", key=tenant.key))["webhookEndpoints"][
        "nodes"
    ] == []


async def test_the_webhook_scopes_are_enforced(api: Any, tenant_factory: Any) -> None:
    reader = await tenant_factory(scopes=["webhooks:read"])
    other = await tenant_factory(scopes=["orders:read"])
    assert (await api("{ webhookEndpoints { nodes { id } } }", key=other.key))["errors"][0]["extensions"][
        "code"
    ] == "FORBIDDEN"
    assert (await api.data("{ webhookDeliveries { nodes { id } } }", key=reader.key))["webhookDeliveries"][
        "nodes"
    ] == []
    refused = await api(CREATE, {"url": "https://example.com/x", "types": ["ORDER_HELD"]}, key=reader.key)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
