"""The ``events`` subscription over a real websocket (graphql-transport-ws)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets

SUBSCRIBE = "subscription($types: [String!]) { events(types: $types) { id type subject payload } }"


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
    await ws.send(
        json.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": SUBSCRIBE, "variables": {"types": ["transfer.started"]}},
            }
        )
    )
    await asyncio.sleep(0.2)  # the subscription starts from "now"

    async with httpx.AsyncClient(base_url=live_server) as http:

        async def gql(key: str, query: str) -> Any:
            response = await http.post(
                "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {key}"}
            )
            return response.json()["data"]

        for tenant in (other, t):  # the other tenant's event must not reach this console
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
            started = await gql(
                tenant.key,
                f'mutation {{ stockTransferStart(input: {{variantId: "{variant}", fromWarehouseId: "{ids[0]}", toWarehouseId: "{ids[1]}", quantity: 2}}) {{ transfer {{ id }} }} }}',
            )
    message = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
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
