"""Two tenants: what A creates, B can neither see nor change, through every top-level field."""

from __future__ import annotations

from typing import Any


async def _root_fields(api: Any, key: str, root: str) -> set[str]:
    data = await api.data("{ __schema { %s { fields { name } } } }" % root, key=key)
    return {f["name"] for f in data["__schema"][root]["fields"]}


CREATE = """
mutation($in: ProductCreateInput!) {
  productCreate(input: $in) {
    product { id variants { id sku } }
    userErrors { field message code }
  }
}"""


async def _seed(api: Any, key: str) -> dict[str, Any]:
    """A product, a warehouse, stock and a connection for the key's tenant."""
    product = (
        await api.data(CREATE, {"in": {"title": "Secret tent", "variants": [{"sku": "TENT-1"}]}}, key=key)
    )["productCreate"]["product"]
    wh = (
        await api.data(
            'mutation { warehouseCreate(input: {code: "A1", name: "A", country: "SG"}) '
            "{ warehouse { id } userErrors { code } } }",
            key=key,
        )
    )["warehouseCreate"]["warehouse"]
    level = (
        await api.data(
            "mutation($v: ID!, $w: ID!) { stockReceive(input: {variantId: $v, warehouseId: $w, quantity: 5}) "
            "{ stockLevel { id onHand } userErrors { code } } }",
            {"v": product["variants"][0]["id"], "w": wh["id"]},
            key=key,
        )
    )["stockReceive"]["stockLevel"]
    conn = (
        await api.data(
            'mutation { connectionCreate(input: {channel: "testmarket", name: "A-SG", site: "SG", '
            'credentials: {refresh_token: "s3cret"}}) { connection { id } userErrors { code message } } }',
            key=key,
        )
    )["connectionCreate"]["connection"]
    return {"product": product, "warehouse": wh, "level": level, "connection": conn}


LISTS = {
    "products": "products { edges { node { id } } }",
    "variants": "variants { edges { node { id } } }",
    "warehouses": "warehouses { edges { node { id } } }",
    "stockLevels": "stockLevels { edges { node { id } } }",
    "connections": "connections { edges { node { id } } }",
    "orders": "orders { edges { node { id } } }",
}


async def test_every_top_level_query_is_scoped(api: Any, tenant_factory: Any) -> None:
    a = await tenant_factory()
    b = await tenant_factory()
    seeded = await _seed(api, a.key)

    names = await _root_fields(api, a.key, "queryType")
    covered = set(LISTS) | {"node", "viewer", "plugins"}
    assert names <= covered, f"new top-level fields need an isolation check: {names - covered}"

    for name, selection in LISTS.items():
        seen_by_a = (await api.data("{ %s }" % selection, key=a.key))[name]["edges"]
        seen_by_b = (await api.data("{ %s }" % selection, key=b.key))[name]["edges"]
        assert seen_by_b == [], name
        if name != "orders":
            assert seen_by_a, f"A should see its own {name}"

    ids = [
        seeded["product"]["id"],
        seeded["product"]["variants"][0]["id"],
        seeded["warehouse"]["id"],
        seeded["level"]["id"],
        seeded["connection"]["id"],
    ]
    for gid in ids:
        assert (await api.data("query($id: ID!) { node(id: $id) { id } }", {"id": gid}, key=b.key))[
            "node"
        ] is None
        assert (await api.data("query($id: ID!) { node(id: $id) { id } }", {"id": gid}, key=a.key))[
            "node"
        ] == {"id": gid}
    assert (await api.data("{ viewer { tenantSlug } }", key=b.key))["viewer"]["tenantSlug"] == b.slug


async def test_other_tenant_cannot_mutate(api: Any, tenant_factory: Any) -> None:
    a = await tenant_factory()
    b = await tenant_factory()
    seeded = await _seed(api, a.key)
    variant_id = seeded["product"]["variants"][0]["id"]
    attempts = [
        (
            "productUpdate",
            'mutation($id: ID!) { productUpdate(input: {id: $id, title: "pwned"}) '
            "{ product { id } userErrors { code field } } }",
            {"id": seeded["product"]["id"]},
        ),
        (
            "variantUpdate",
            'mutation($id: ID!) { variantUpdate(input: {id: $id, sku: "PWN"}) '
            "{ variant { id } userErrors { code field } } }",
            {"id": variant_id},
        ),
        (
            "variantCreate",
            'mutation($id: ID!) { variantCreate(input: {productId: $id, sku: "X-2"}) '
            "{ variant { id } userErrors { code field } } }",
            {"id": seeded["product"]["id"]},
        ),
        (
            "warehouseUpdate",
            'mutation($id: ID!) { warehouseUpdate(input: {id: $id, name: "pwned"}) '
            "{ warehouse { id } userErrors { code field } } }",
            {"id": seeded["warehouse"]["id"]},
        ),
        (
            "connectionUpdate",
            'mutation($id: ID!) { connectionUpdate(input: {id: $id, status: "paused"}) '
            "{ connection { id } userErrors { code field } } }",
            {"id": seeded["connection"]["id"]},
        ),
        (
            "stockReceive",
            "mutation($v: ID!, $w: ID!) { stockReceive(input: {variantId: $v, warehouseId: $w, "
            "quantity: 100}) { stockLevel { id } userErrors { code field } } }",
            {"v": variant_id, "w": seeded["warehouse"]["id"]},
        ),
        (
            "stockAdjust",
            "mutation($v: ID!, $w: ID!) { stockAdjust(input: {variantId: $v, warehouseId: $w, "
            'delta: -5, note: "x"}) { stockLevel { id } userErrors { code field } } }',
            {"v": variant_id, "w": seeded["warehouse"]["id"]},
        ),
    ]
    creators = {
        "productCreate",
        "warehouseCreate",
        "connectionCreate",
    }  # only ever write to the caller's tenant
    for name in await _root_fields(api, a.key, "mutationType"):
        assert name in {a for a, _, _ in attempts} | creators, f"{name} needs a cross-tenant check"
    for name, mutation, variables in attempts:
        payload = (await api.data(mutation, variables, key=b.key))[name]
        assert payload["userErrors"] and payload["userErrors"][0]["code"] == "NOT_FOUND", (name, payload)
        assert all(v is None for k, v in payload.items() if k != "userErrors"), name

    after = await api.data(
        "query($id: ID!) { node(id: $id) { ... on Product { title variants { sku stockLevels { onHand } } } } }",
        {"id": seeded["product"]["id"]},
        key=a.key,
    )
    assert after["node"] == {
        "title": "Secret tent",
        "variants": [{"sku": "TENT-1", "stockLevels": [{"onHand": 5}]}],
    }
    conns = await api.data("{ connections { edges { node { status } } } }", key=a.key)
    assert [e["node"]["status"] for e in conns["connections"]["edges"]] == ["active"]
