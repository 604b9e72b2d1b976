"""The order workflow as a console drives it: GraphQL only (orders arrive by ingestion)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from crossdock.api.schema.relay import decode_id
from crossdock.jobs import JOBS

ORDER = """query($q: String!) { orders(first: 5, filter: {search: $q}) { nodes {
  id status holds { reason } lines { id sku variant { sku } }
  allocations { quantity status warehouse { code } }
  shipments { id status trackingNumber confirmedAt }
  returns { quantity condition } refunds { amount { amount currency } }
  history { toStatus }
} } }"""


async def test_console_walks_an_order_through_graphql(api: Any, shop: Any, app: Any) -> None:
    key = shop.tenant.key

    async def order(external_id: str) -> dict[str, Any]:
        return (await api.data(ORDER, {"q": external_id}, key=key))["orders"]["nodes"][0]

    async def mutate(query: str, variables: dict[str, Any]) -> dict[str, Any]:
        [payload] = (await api.data(query, variables, key=key)).values()
        assert payload["userErrors"] == [], payload
        return payload

    ids = await api.data(
        '{ variants(filter: {sku: "SKU-2"}) { nodes { id } } connections { nodes { id } } warehouses { nodes { id } } }',
        key=key,
    )
    variant = ids["variants"]["nodes"][0]["id"]
    connection = ids["connections"]["nodes"][0]["id"]
    warehouse = ids["warehouses"]["nodes"][0]["id"]
    await mutate(
        'mutation($c: ID!, $v: ID!) { listingCreate(input: {connectionId: $c, variantId: $v, channelSku: "CH-99", atsShare: "0.5"}) { listing { channelSku availableToSell } userErrors { code } } }',
        {"c": connection, "v": variant},
    )
    await mutate(
        "mutation($v: ID!, $w: ID!) { stockReceive(input: {variantId: $v, warehouseId: $w, quantity: 8}) { userErrors { code } } }",
        {"v": variant, "w": warehouse},
    )
    listing = await api.data(
        '{ listings(filter: {channelSku: "CH-99"}) { nodes { availableToSell atsShare variant { sku } } } }',
        key=key,
    )
    assert listing["listings"]["nodes"] == [
        {"availableToSell": 4, "atsShare": "0.5", "variant": {"sku": "SKU-2"}}
    ]

    soon = datetime.now(UTC) + timedelta(hours=5)
    await shop.ingest(
        shop.market.add_order("G-1", sku="CH-99", quantity=3, total="30.00", ship_by=soon),
        shop.market.add_order("G-2", sku="CH-99", buyer="other"),
    )
    g1 = await order("G-1")
    assert g1["status"] == "ALLOCATED"
    assert g1["lines"][0]["variant"] == {"sku": "SKU-2"}  # mapped through the listing
    assert g1["allocations"] == [{"quantity": 3, "status": "RESERVED", "warehouse": {"code": "SG1"}}]
    at_risk = await api.data(
        "{ orders(filter: {sla: AT_RISK, slaWithinHours: 6}) { nodes { id } } }", key=key
    )
    assert g1["id"] in [n["id"] for n in at_risk["orders"]["nodes"]]

    picks = await api.data(
        "query($w: ID!) { pickList(warehouseId: $w) { sku quantity orderIds } }", {"w": warehouse}, key=key
    )
    assert {p["sku"]: p["quantity"] for p in picks["pickList"]} == {"SKU-2": 4}
    started = await mutate(
        "mutation($w: ID!) { pickListStart(input: {warehouseId: $w}) { lines { sku } userErrors { code } } }",
        {"w": warehouse},
    )
    assert started["lines"] == [{"sku": "SKU-2"}]
    # the seller maps the carrier to the channel's own code once, on the connection
    await mutate(
        "mutation($c: ID!, $s: JSON) { connectionUpdate(input: {id: $c, settings: $s}) { userErrors { code } } }",
        {"c": connection, "s": {"carrier_codes": {"ninja van": "NJV"}}},
    )
    packed = await mutate(
        'mutation($o: ID!, $w: ID!) { shipmentPack(input: {orderId: $o, warehouseId: $w, carrier: "Ninja Van", trackingNumber: "NV123"}) { shipment { id status } order { status } userErrors { code } } }',
        {"o": g1["id"], "w": warehouse},
    )
    assert (packed["shipment"]["status"], packed["order"]["status"]) == ("PACKED", "PACKED")
    shipped = await mutate(
        "mutation($s: ID!) { shipmentShip(input: {id: $s}) { shipment { status shippedAt } order { status } userErrors { code } } }",
        {"s": packed["shipment"]["id"]},
    )
    assert shipped["order"]["status"] == "SHIPPED"
    shipment_pk = decode_id(packed["shipment"]["id"], "Shipment")[1]
    await JOBS["confirm_shipment"](app.job_context(), tenant_id=shop.tenant.id, shipment_id=shipment_pk)
    g1 = await order("G-1")
    assert g1["shipments"][0]["trackingNumber"] == "NV123" and g1["shipments"][0]["confirmedAt"]
    assert shop.market.confirmations[-1].tracking_number == "NV123"
    assert shop.market.confirmations[-1].carrier_code == "NJV"

    returned = await mutate(
        "mutation($o: ID!, $w: ID!, $l: ID!) { returnReceive(input: {orderId: $o, warehouseId: $w, lines: [{orderLineId: $l, quantity: 1, condition: DAMAGED}]}) { order { status returns { quantity condition } } userErrors { code } } }",
        {"o": g1["id"], "w": warehouse, "l": g1["lines"][0]["id"]},
    )
    assert returned["order"]["returns"] == [{"quantity": 1, "condition": "DAMAGED"}]
    refunded = await mutate(
        'mutation($o: ID!) { refundRecord(input: {orderId: $o, amount: {amount: "10", currency: "SGD"}, reason: "damaged"}) { order { refunds { amount { amount currency } } } userErrors { code } } }',
        {"o": g1["id"]},
    )
    assert refunded["order"]["refunds"] == [{"amount": {"amount": "10.00", "currency": "SGD"}}]

    g2 = await order("G-2")
    held = await mutate(
        'mutation($o: ID!) { orderHold(input: {id: $o, message: "call buyer"}) { order { status holds { reason } } userErrors { code } } }',
        {"o": g2["id"]},
    )
    assert held["order"] == {"status": "ON_HOLD", "holds": [{"reason": "MANUAL"}]}
    released = await mutate(
        "mutation($o: ID!) { orderReleaseHold(input: {id: $o}) { order { status } userErrors { code } } }",
        {"o": g2["id"]},
    )
    assert released["order"]["status"] == "ALLOCATED"
    cancelled = await mutate(
        'mutation($o: ID!) { orderCancel(input: {id: $o, reason: "buyer asked"}) { order { status allocations { status } } userErrors { code } } }',
        {"o": g2["id"]},
    )
    assert cancelled["order"] == {"status": "CANCELLED", "allocations": [{"status": "RELEASED"}]}
    again = await api.data(
        'mutation($o: ID!) { orderCancel(input: {id: $o, reason: "x"}) { order { status } userErrors { code } } }',
        {"o": g1["id"]},
        key=key,
    )
    assert again["orderCancel"]["userErrors"] == [{"code": "ALREADY_SHIPPED"}]

    level = await api.data(
        "{ stockLevels(filter: {}) { nodes { onHand reserved variant { sku } } } }", key=key
    )
    assert {"onHand": 5, "reserved": 0, "variant": {"sku": "SKU-2"}} in level["stockLevels"][
        "nodes"
    ]  # 8 - 3 shipped; the damaged return is written off
    events = await api.data(
        '{ events(filter: {types: ["shipment.confirmed", "order.cancelled"]}) { nodes { type subject } } }',
        key=key,
    )
    assert [e["type"] for e in events["events"]["nodes"]] == ["shipment.confirmed", "order.cancelled"]
    assert events["events"]["nodes"][1]["subject"] == g2["id"]
