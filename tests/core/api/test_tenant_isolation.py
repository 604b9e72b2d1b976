"""Two tenants: what A creates, B can neither see nor change, through every top-level field.

The tests read the schema's root fields by introspection and fail when a new field has no
isolation check here, so the walk cannot silently fall behind the API.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select


async def _root_fields(api: Any, key: str, root: str) -> set[str]:
    data = await api.data("{ __schema { %s { fields { name } } } }" % root, key=key)
    return {f["name"] for f in data["__schema"][root]["fields"]}


async def _seed(api: Any, app: Any, tenant: Any, market: Any) -> dict[str, Any]:
    """Everything a tenant can own, created through the API (orders through ingestion)."""
    key = tenant.key

    async def m(query: str, variables: dict[str, Any] | None = None) -> Any:
        data = await api.data(query, variables, key=key)
        [payload] = data.values()
        assert not payload.get("userErrors"), payload
        return payload

    product = (
        await m(
            'mutation { productCreate(input: {title: "Secret tent", variants: [{sku: "SKU-1"}]}) '
            "{ product { id variants { id } } userErrors { code } } }"
        )
    )["product"]
    variant = product["variants"][0]["id"]
    wh = (
        await m(
            'mutation { warehouseCreate(input: {code: "A1", name: "A", country: "SG"}) { warehouse { id } userErrors { code } } }'
        )
    )["warehouse"]["id"]
    wh2 = (
        await m(
            'mutation { warehouseCreate(input: {code: "A2", name: "B", country: "SG"}) { warehouse { id } userErrors { code } } }'
        )
    )["warehouse"]["id"]
    level = (
        await m(
            "mutation($v: ID!, $w: ID!) { stockReceive(input: {variantId: $v, warehouseId: $w, quantity: 9}) "
            "{ stockLevel { id } userErrors { code } } }",
            {"v": variant, "w": wh},
        )
    )["stockLevel"]["id"]
    conn = (
        await m(
            'mutation { connectionCreate(input: {channel: "testmarket", name: "A-SG", site: "SG", '
            'credentials: {refresh_token: "s3cret"}}) { connection { id } userErrors { code } } }'
        )
    )["connection"]["id"]
    listing = (
        await m(
            'mutation($c: ID!, $v: ID!) { listingCreate(input: {connectionId: $c, variantId: $v, channelSku: "A-1"}) '
            "{ listing { id } userErrors { code } } }",
            {"c": conn, "v": variant},
        )
    )["listing"]["id"]
    transfer = (
        await m(
            "mutation($v: ID!, $a: ID!, $b: ID!) { stockTransferStart(input: {variantId: $v, fromWarehouseId: $a, "
            "toWarehouseId: $b, quantity: 1}) { transfer { id } userErrors { code } } }",
            {"v": variant, "a": wh, "b": wh2},
        )
    )["transfer"]["id"]

    from crossdock.db.models import Connection
    from crossdock.services.orders import ingest_orders

    soon = datetime.now(UTC) + timedelta(hours=2)
    async with app.db.write(tenant.id, slug=tenant.slug) as session:
        row = await session.scalar(select(Connection))
        await ingest_orders(
            session,
            app.plugins,
            row,
            [
                market.add_order("A-ORDER", quantity=2, total="20.00", ship_by=soon),
                market.add_order("A-LATE", ship_by=datetime.now(UTC) - timedelta(hours=1), buyer="z"),
            ],
        )
    orders = await api.data('{ orders(filter: {search: "A-ORDER"}) { nodes { id lines { id } } } }', key=key)
    order = orders["orders"]["nodes"][0]
    shipment = (
        await m(
            'mutation($o: ID!, $w: ID!) { shipmentPack(input: {orderId: $o, warehouseId: $w, carrier: "DHL", '
            'trackingNumber: "T1"}) { shipment { id } userErrors { code } } }',
            {"o": order["id"], "w": wh},
        )
    )["shipment"]["id"]
    market.buyer_writes("A-THREAD", "Is my tent waterproof?", order="A-ORDER")
    from crossdock.jobs import JOBS

    await JOBS["sync_messages"](app.job_context(), tenant_id=tenant.id, connection_id=row.id)
    conversation = (await api.data("{ conversations { nodes { id } } }", key=key))["conversations"]["nodes"][
        0
    ]
    canned = (
        await m(
            'mutation { cannedReplySave(input: {name: "thanks", language: "en", body: "Thank you!"}) '
            "{ cannedReply { id } userErrors { code } } }"
        )
    )["cannedReply"]["id"]
    await m(
        'mutation($l: ID!) { priceRuleSet(input: {listingId: $l, targetMargin: "0.2"}) { userErrors { code } } }',
        {"l": listing},
    )
    promotion = (
        await m(
            'mutation($c: ID!) { promotionCreate(input: {name: "A sale", kind: "percent", value: "10", '
            'startsAt: "2026-01-01T00:00:00", endsAt: "2036-01-01T00:00:00", connectionId: $c}) '
            "{ promotion { id } userErrors { code } } }",
            {"c": conn},
        )
    )["promotion"]["id"]
    from crossdock import ChannelSettlement, Money, SettlementLine
    from crossdock.services.settlements import ingest_settlements

    async with app.db.write(tenant.id, slug=tenant.slug) as session:
        row = await session.scalar(select(Connection))
        payout = ChannelSettlement(
            external_id="A-PAYOUT",
            opened_at=datetime.now(UTC),
            total=Money.of("20.00", "SGD"),
            lines=[SettlementLine("sale", Money.of("20.00", "SGD"), "A-ORDER")],
        )
        await ingest_settlements(session, row, [payout])
    payouts = await api.data("{ settlements { nodes { id } } }", key=key)
    settlement = payouts["settlements"]["nodes"][0]["id"]
    return {
        "settlement": settlement,
        "promotion": promotion,
        "conversation": conversation["id"],
        "canned": canned,
        "product": product["id"],
        "variant": variant,
        "warehouse": wh,
        "warehouse2": wh2,
        "level": level,
        "connection": conn,
        "listing": listing,
        "transfer": transfer,
        "order": order["id"],
        "line": order["lines"][0]["id"],
        "shipment": shipment,
    }


LISTS = {
    "products": "products { nodes { id } }",
    "variants": "variants { nodes { id } }",
    "warehouses": "warehouses { nodes { id } }",
    "stockLevels": "stockLevels { nodes { id } }",
    "connections": "connections { nodes { id } }",
    "listings": "listings { nodes { id } }",
    "transfers": "transfers { nodes { id } }",
    "orders": "orders { nodes { id } }",
    "ordersAtRisk": "ordersAtRisk(withinHours: 48) { nodes { id } }",
    "lateOrders": "lateOrders { nodes { id } }",
    "events": "events { id }",
    "conversations": "conversations { nodes { id } }",
    "cannedReplies": "cannedReplies { id }",
    "promotions": "promotions { nodes { id } }",
    "settlements": "settlements { nodes { id } }",
    "reconciliation": "reconciliation(onlyProblems: false) { order { id } }",
}
#: Root fields that read reference data only (rates, the payment methods plugins offer).
NO_TENANT_DATA = {"fxConvert", "paymentMethods"}


async def test_every_top_level_query_is_scoped(
    api: Any, app: Any, tenant_factory: Any, testmarket: Any
) -> None:
    a = await tenant_factory()
    b = await tenant_factory()
    seeded = await _seed(api, app, a, testmarket.market)

    names = await _root_fields(api, a.key, "queryType")
    covered = (
        set(LISTS)
        | NO_TENANT_DATA
        | {"node", "viewer", "plugins", "pickList", "priceBreakdowns", "promotionQuote"}
    )
    assert names <= covered, f"new top-level fields need an isolation check: {names - covered}"

    def items(data: Any) -> list[Any]:
        return data if isinstance(data, list) else data["nodes"]

    for name, selection in LISTS.items():
        assert items((await api.data("{ %s }" % selection, key=a.key))[name]), f"A should see its own {name}"
        assert items((await api.data("{ %s }" % selection, key=b.key))[name]) == [], name

    pick = "query($w: ID!) { pickList(warehouseId: $w) { sku quantity } }"
    assert (await api.data(pick, {"w": seeded["warehouse"]}, key=b.key))["pickList"] == []
    prices = "query($v: ID!) { priceBreakdowns(variantId: $v) { listingId } }"
    assert (await api.data(prices, {"v": seeded["variant"]}, key=b.key))["priceBreakdowns"] == []
    cart = "query($l: ID!) { promotionQuote(lines: [{listingId: $l, quantity: 1}]) { total { amount } } }"
    quoted = (await api.raw(cart, {"l": seeded["listing"]}, key=b.key)).json()
    assert quoted["data"] is None and quoted["errors"][0]["extensions"]["code"] == "NOT_FOUND"

    node = "query($id: ID!) { node(id: $id) { id } }"
    for kind in (
        "product",
        "variant",
        "warehouse",
        "level",
        "connection",
        "listing",
        "transfer",
        "order",
        "shipment",
        "conversation",
        "canned",
        "promotion",
        "settlement",
    ):
        gid = seeded[kind]
        assert (await api.data(node, {"id": gid}, key=b.key))["node"] is None, kind
        assert (await api.data(node, {"id": gid}, key=a.key))["node"] == {"id": gid}, kind
    assert (await api.data("{ viewer { tenantSlug } }", key=b.key))["viewer"]["tenantSlug"] == b.slug


MUTATIONS: dict[str, tuple[str, dict[str, str]]] = {
    # name: (input fields with $vars, variable -> seeded key)
    "productUpdate": ('{id: $a, title: "pwned"}', {"a": "product"}),
    "variantCreate": ('{productId: $a, sku: "X-2"}', {"a": "product"}),
    "variantUpdate": ('{id: $a, sku: "PWN"}', {"a": "variant"}),
    "warehouseUpdate": ('{id: $a, name: "pwned"}', {"a": "warehouse"}),
    "connectionUpdate": ('{id: $a, status: "paused"}', {"a": "connection"}),
    "stockReceive": ("{variantId: $a, warehouseId: $b, quantity: 100}", {"a": "variant", "b": "warehouse"}),
    "stockAdjust": (
        '{variantId: $a, warehouseId: $b, delta: -5, note: "x"}',
        {"a": "variant", "b": "warehouse"},
    ),
    "stockCount": ("{variantId: $a, warehouseId: $b, counted: 0}", {"a": "variant", "b": "warehouse"}),
    "stockWriteOff": (
        '{variantId: $a, warehouseId: $b, quantity: 1, note: "x"}',
        {"a": "variant", "b": "warehouse"},
    ),
    "stockPolicySet": (
        "{variantId: $a, warehouseId: $b, safetyStock: 9}",
        {"a": "variant", "b": "warehouse"},
    ),
    "stockTransferStart": (
        "{variantId: $a, fromWarehouseId: $b, toWarehouseId: $c, quantity: 1}",
        {"a": "variant", "b": "warehouse", "c": "warehouse2"},
    ),
    "stockTransferReceive": ("{id: $a}", {"a": "transfer"}),
    "listingCreate": (
        '{connectionId: $a, variantId: $b, channelSku: "B-1"}',
        {"a": "connection", "b": "variant"},
    ),
    "listingUpdate": ('{id: $a, channelSku: "pwned"}', {"a": "listing"}),
    "connectionBackfill": ('{id: $a, since: "2026-01-01T00:00:00Z"}', {"a": "connection"}),
    "connectionWarehousesSet": ("{connectionId: $a, warehouseIds: []}", {"a": "connection"}),
    "orderHold": ("{id: $a}", {"a": "order"}),
    "orderReleaseHold": ("{id: $a}", {"a": "order"}),
    "orderAllocate": ("{id: $a}", {"a": "order"}),
    "orderCancel": ('{id: $a, reason: "x"}', {"a": "order"}),
    "orderMarkDelivered": ("{id: $a}", {"a": "order"}),
    "pickListStart": ("{warehouseId: $a}", {"a": "warehouse"}),
    "shipmentPack": (
        '{orderId: $a, warehouseId: $b, carrier: "x", trackingNumber: "y"}',
        {"a": "order", "b": "warehouse"},
    ),
    "shipmentShip": ("{id: $a}", {"a": "shipment"}),
    "returnReceive": (
        '{orderId: $a, warehouseId: $b, lines: [{orderLineId: $c, quantity: 1, condition: "sellable"}]}',
        {"a": "order", "b": "warehouse", "c": "line"},
    ),
    "refundRecord": ('{orderId: $a, amount: {amount: "1.00", currency: "SGD"}}', {"a": "order"}),
    "conversationReply": ('{conversationId: $a, text: "pwned"}', {"a": "conversation"}),
    "conversationClose": ("{id: $a}", {"a": "conversation"}),
    "cannedReplyDelete": ("{id: $a}", {"a": "canned"}),
    "priceRuleSet": ('{listingId: $a, targetMargin: "0.5"}', {"a": "listing"}),
    "competitorPriceRecord": (
        '{listingId: $a, competitor: "x", price: {amount: "1", currency: "SGD"}}',
        {"a": "listing"},
    ),
    "priceApply": ("{listingIds: [$a]}", {"a": "listing"}),
    "promotionCreate": (
        '{name: "x", kind: "percent", value: "50", startsAt: "2026-01-01T00:00:00", '
        'endsAt: "2036-01-01T00:00:00", listingIds: [$a]}',
        {"a": "listing"},
    ),
    "promotionCancel": ("{id: $a}", {"a": "promotion"}),
}
#: Mutations that only ever create in the caller's own tenant.
CREATORS = {"productCreate", "warehouseCreate", "connectionCreate", "cannedReplySave"}


async def _snapshot(api: Any, key: str, seeded: dict[str, Any]) -> Any:
    return await api.data(
        """query($p: ID!, $o: ID!) {
          p: node(id: $p) { ... on Product { title variants { sku stockLevels { onHand reserved safetyStock } } } }
          o: node(id: $o) { ... on Order { status holds { reason } shipments { status } refunds { amount { amount } } } }
          connections { nodes { status } }
          listings { nodes { channelSku } }
          transfers { nodes { status } }
          warehouses { nodes { name } }
          conversations { nodes { status messages { body } } }
          cannedReplies { body }
          promotions { nodes { name state } }
        }""",
        {"p": seeded["product"], "o": seeded["order"]},
        key=key,
    )


async def test_other_tenant_cannot_mutate(api: Any, app: Any, tenant_factory: Any, testmarket: Any) -> None:
    a = await tenant_factory()
    b = await tenant_factory()
    seeded = await _seed(api, app, a, testmarket.market)
    before = await _snapshot(api, a.key, seeded)

    for name in await _root_fields(api, a.key, "mutationType"):
        assert name in MUTATIONS or name in CREATORS, f"{name} needs a cross-tenant check"
    for name, (fields, variables) in MUTATIONS.items():
        declared = ", ".join(f"${v}: ID!" for v in variables)
        body = f"mutation({declared}) {{ {name}(input: {fields}) {{ userErrors {{ code field }} }} }}"
        result = await api.data(body, {v: seeded[k] for v, k in variables.items()}, key=b.key)
        errors = result[name]["userErrors"]
        assert errors and errors[0]["code"] == "NOT_FOUND", (name, errors)

    assert await _snapshot(api, a.key, seeded) == before
