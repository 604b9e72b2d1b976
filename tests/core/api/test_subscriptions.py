"""The ``events`` subscription over a real websocket (graphql-transport-ws)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import delete, select, update

from crossdock.api.schema.events import POLL_SECONDS
from crossdock.db import utcnow
from crossdock.db.models import ApiKey, Product, api_key_tenants
from crossdock.security import split_api_key
from crossdock.services import tenancy
from crossdock.services.events import emit
from crossdock.services.tenancy import AUTH_CACHE_SECONDS

SUBSCRIBE = "subscription($types: [String!]) { events(filter: {types: $types}) { id type subject payload } }"
SUBSCRIBE_AFTER = (
    "subscription($types: [String!], $after: String) "
    "{ events(filter: {types: $types}, after: $after) { id type subject payload } }"
)


async def _connect(base: str, payload: dict[str, Any]) -> Any:
    ws = await websockets.connect(
        base.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"]
    )
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    return ws


async def test_a_console_follows_events_as_they_commit(live_server: str, tenant_factory: Any) -> None:
    t = await tenant_factory()
    other = await tenant_factory()
    ws = await _connect(live_server, {"Authorization": f"Bearer {t.key}"})
    assert json.loads(await ws.recv())["type"] == "connection_ack"

    async with httpx.AsyncClient(base_url=live_server) as http:

        async def gql(key: str, query: str) -> Any:
            response = await http.post(
                "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {key}"}
            )
            return response.json()["data"]

        setups: dict[str, tuple[str, list[str]]] = {}
        for tenant in (other, t):
            product = await gql(
                tenant.key,
                'mutation { productCreate(input: {title: "P", variants: [{sku: "S"}]}) { product { variants { id } } } }',
            )
            variant = product["productCreate"]["product"]["variants"][0]["id"]
            ids = []
            for code in ("W1", "W2"):
                wh = await gql(
                    tenant.key,
                    f'mutation {{ warehouseCreate(input: {{code: "{code}", name: "x", country: "SG"}}) {{ warehouse {{ id }} }} }}',
                )
                ids.append(wh["warehouseCreate"]["warehouse"]["id"])
            await gql(
                tenant.key,
                f'mutation {{ stockReceive(input: {{variantId: "{variant}", warehouseId: "{ids[0]}", quantity: 3}}) {{ userErrors {{ code }} }} }}',
            )
            setups[tenant.key] = (variant, ids)
        # a transfer before subscribing gives the cursor to follow from: the subscription
        # then misses nothing however late the server starts it (no sleeping for it to begin)
        variant, ids = setups[t.key]
        await gql(
            t.key,
            f'mutation {{ stockTransferStart(input: {{variantId: "{variant}", fromWarehouseId: "{ids[0]}", toWarehouseId: "{ids[1]}", quantity: 1}}) {{ transfer {{ id }} }} }}',
        )
        seen = (
            await gql(
                t.key, '{ events(first: 100, filter: {types: ["transfer.started"]}) { nodes { cursor } } }'
            )
        )["events"]["nodes"]
        assert len(seen) == 1
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {
                        "query": SUBSCRIBE_AFTER,
                        "variables": {"types": ["transfer.started"], "after": seen[-1]["cursor"]},
                    },
                }
            )
        )
        for tenant in (other, t):  # the other tenant's event must not reach this console
            variant, ids = setups[tenant.key]
            started = await gql(
                tenant.key,
                f'mutation {{ stockTransferStart(input: {{variantId: "{variant}", fromWarehouseId: "{ids[0]}", toWarehouseId: "{ids[1]}", quantity: 2}}) {{ transfer {{ id }} }} }}',
            )
    message = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
    assert message["type"] == "next"
    event = message["payload"]["data"]["events"]
    assert event["type"] == "transfer.started"
    assert event["subject"] == started["stockTransferStart"]["transfer"]["id"]
    assert event["payload"] == {"quantity": 2}
    with pytest.raises(asyncio.TimeoutError):  # and nothing else: not B's, not other types
        await asyncio.wait_for(ws.recv(), timeout=1.2)
    await ws.close()


async def test_a_websocket_without_a_valid_key_is_refused(live_server: str, tenant_factory: Any) -> None:
    for payload in ({}, {"Authorization": "Bearer cdk_000000000000_nope"}):
        ws = await _connect(live_server, payload)
        with pytest.raises(websockets.ConnectionClosed) as excinfo:
            await asyncio.wait_for(ws.recv(), timeout=5)
        assert excinfo.value.rcvd is not None and excinfo.value.rcvd.code == 4403
    scoped = await tenant_factory(scopes=["catalog:read"])
    ws = await _connect(live_server, {"authorization": f"Bearer {scoped.key}"})
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}))
    reply = json.loads(await asyncio.wait_for(ws.recv(), timeout=5))
    assert reply["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN", reply
    await ws.close()


# A websocket checks its key again: before every operation sent on it, and on every poll of
# a running subscription (through the same one-second memory as an HTTP request).

EVENTS = 'subscription { events(filter: {types: ["ws.probe"]}) { type cursor } }'
PRODUCT = "mutation($t: String!) { productCreate(input: {title: $t, variants: [{sku: $t}]}) { product { id } userErrors { code } } }"


async def _acked(base: str, key: str) -> Any:
    ws = await _connect(base, {"Authorization": f"Bearer {key}"})
    assert json.loads(await asyncio.wait_for(ws.recv(), timeout=10))["type"] == "connection_ack"
    return ws


async def _until_closed(ws: Any, wait: float) -> tuple[list[dict[str, Any]], Any, float]:
    """Every message until the server closes the socket: (messages, close frame, seconds)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    messages = []
    try:
        while True:
            messages.append(json.loads(await asyncio.wait_for(ws.recv(), timeout=wait)))
    except websockets.ConnectionClosed as closed:
        return messages, closed.rcvd, loop.time() - started


async def _emit(app: Any, tenant_id: int, type: str = "ws.probe") -> None:
    async with app.db.write(tenant_id) as session:
        emit(session, type)


async def _live(ws: Any, app: Any, tenant_id: int) -> None:
    """Wait until the subscription (id "1") delivers: it is running, its key checked."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        await _emit(app, tenant_id)
        try:
            message = json.loads(await asyncio.wait_for(ws.recv(), timeout=1))
        except TimeoutError:
            assert loop.time() < deadline, "the subscription never delivered"
            continue
        assert message["type"] == "next" and message["payload"]["data"]["events"]["type"] == "ws.probe", (
            message
        )
        return


async def _as_another_process(app: Any, statement: Any) -> None:
    """Change a key the way ``crossdock apikeys revoke`` (another process) does: this server
    is not told, so it finds out when its one-second memory of the key runs out."""
    async with app.db.write(system=True) as session:
        await session.execute(statement)


def _key_id(key: str) -> Any:
    return select(ApiKey.id).where(ApiKey.prefix == split_api_key(key)).scalar_subquery()


async def test_a_revoked_key_ends_a_running_subscription_and_closes_the_socket(
    live_server: str, tenant_factory: Any, app: Any
) -> None:
    t = await tenant_factory()
    ws = await _acked(live_server, t.key)
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": EVENTS}}))
    await _live(ws, app, t.id)

    await _as_another_process(
        app, update(ApiKey).where(ApiKey.prefix == split_api_key(t.key)).values(revoked_at=utcnow())
    )
    messages, close, seconds = await _until_closed(ws, wait=AUTH_CACHE_SECONDS + 3 * POLL_SECONDS + 5)
    # the memory of the key (1 s) plus at most one poll; the deadline is only a safety net
    print(f"revoked key: subscription ended and socket closed {seconds:.2f}s after revocation")
    *delivered, error, complete = messages
    assert all(m["type"] == "next" and "errors" not in m["payload"] for m in delivered), delivered
    assert (
        error["type"] == "next" and error["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    )
    assert complete == {"id": "1", "type": "complete"}
    assert close is not None and close.code == 4401


async def test_an_operation_sent_after_revocation_is_refused(
    live_server: str, tenant_factory: Any, app: Any
) -> None:
    t = await tenant_factory()
    ws = await _acked(live_server, t.key)
    await ws.send(
        json.dumps(
            {"id": "1", "type": "subscribe", "payload": {"query": PRODUCT, "variables": {"t": "before"}}}
        )
    )
    created = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
    assert created["payload"]["data"]["productCreate"]["product"]["id"], created
    assert json.loads(await asyncio.wait_for(ws.recv(), timeout=10))["type"] == "complete"

    async with app.db.write(system=True) as session:  # this process: forgotten at once
        await tenancy.revoke_api_key(session, split_api_key(t.key) or "")
    await ws.send(
        json.dumps(
            {"id": "2", "type": "subscribe", "payload": {"query": PRODUCT, "variables": {"t": "after"}}}
        )
    )
    messages, close, _ = await _until_closed(ws, wait=10)
    assert [m["type"] for m in messages] == ["error"], messages
    assert messages[0]["id"] == "2" and messages[0]["payload"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert close is not None and close.code == 4401
    async with app.db.tenant(t.id) as session:
        titles = (await session.scalars(select(Product.title))).all()
    assert titles == ["before"]  # the refused mutation wrote nothing


async def test_a_key_taken_off_the_tenant_is_refused_on_an_open_socket(
    live_server: str, tenant_factory: Any, app: Any
) -> None:
    t = await tenant_factory()  # a key listing its one tenant
    ws = await _acked(live_server, t.key)
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": EVENTS}}))
    await _live(ws, app, t.id)

    await _as_another_process(
        app, delete(api_key_tenants).where(api_key_tenants.c.api_key_id == _key_id(t.key))
    )
    messages, close, seconds = await _until_closed(ws, wait=AUTH_CACHE_SECONDS + 3 * POLL_SECONDS + 5)
    print(f"tenant removed from key: socket closed {seconds:.2f}s later")
    *_, error, complete = messages
    assert error["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN", error
    assert complete["type"] == "complete"
    assert close is not None and close.code == 4403

    # a new socket with that key is refused from the start, and so is a query sent on it
    ws = await _connect(live_server, {"Authorization": f"Bearer {t.key}"})
    with pytest.raises(websockets.ConnectionClosed) as refused:
        await asyncio.wait_for(ws.recv(), timeout=10)
    assert refused.value.rcvd is not None and refused.value.rcvd.code == 4403


async def test_a_scope_removed_from_the_key_ends_the_subscription_that_needs_it(
    live_server: str, tenant_factory: Any, app: Any
) -> None:
    t = await tenant_factory(scopes=["events:read", "catalog:read"])
    ws = await _acked(live_server, t.key)
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": EVENTS}}))
    await _live(ws, app, t.id)

    await _as_another_process(
        app, update(ApiKey).where(ApiKey.prefix == split_api_key(t.key)).values(scopes=["catalog:read"])
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + AUTH_CACHE_SECONDS + 3 * POLL_SECONDS + 5
    while True:  # events may still arrive until the server's memory of the key runs out
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout=max(0.1, deadline - loop.time())))
        if message["type"] != "next" or "errors" in message["payload"]:
            break
    assert message["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN", message
    assert json.loads(await asyncio.wait_for(ws.recv(), timeout=10)) == {"id": "1", "type": "complete"}

    # the key still works for what it may do; the socket stays open for that
    for op, query in (
        ("2", "{ events { nodes { type } } }"),
        ("3", "{ products(first: 1) { nodes { id } } }"),
    ):
        await ws.send(json.dumps({"id": op, "type": "subscribe", "payload": {"query": query}}))
        result = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
        assert json.loads(await asyncio.wait_for(ws.recv(), timeout=10))["type"] == "complete"
        if op == "2":
            assert [e["extensions"]["code"] for e in result["payload"]["errors"]] == ["FORBIDDEN"], result
        else:
            assert result["payload"]["data"] == {"products": {"nodes": []}}, result
            assert "errors" not in result["payload"], result
    await ws.close()


async def test_only_graphql_transport_ws_is_spoken(live_server: str) -> None:
    """The legacy subscriptions-transport-ws protocol is not offered (its handler would not
    check the key again)."""
    ws = await websockets.connect(live_server.replace("http", "ws") + "/graphql", subprotocols=["graphql-ws"])
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4406
