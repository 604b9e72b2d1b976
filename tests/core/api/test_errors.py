"""Bad queries, wrong IDs, missing/revoked keys, missing scopes: typed errors, nothing written."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from crossdock.db.models import Product
from crossdock.services import tenancy

CREATE = 'mutation { productCreate(input: {title: "Kettle", variants: [{sku: "K-1"}]}) { product { id } userErrors { code field message } } }'


async def _count_products(app: Any, tenant_id: int) -> int:
    async with app.db.tenant(tenant_id) as session:
        return int(await session.scalar(select(func.count(Product.id))) or 0)


async def test_missing_malformed_unknown_and_revoked_keys(api: Any, app: Any, tenant_factory: Any) -> None:
    t = await tenant_factory()
    cases = {
        None: "missing Authorization",
        "not-a-key": "malformed API key",
        "cdk_000000000000_nope": "unknown API key",
    }
    for key, message in cases.items():
        response = await api.raw(CREATE, key=key)
        assert response.status_code == 401
        body = response.json()
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert message in body["errors"][0]["message"]
        assert "Traceback" not in response.text
    async with app.db.write(system=True) as session:
        await tenancy.revoke_api_key(session, t.key.split("_")[1])
    response = await api.raw(CREATE, key=t.key)
    assert response.status_code == 401
    assert "revoked" in response.json()["errors"][0]["message"]
    assert await _count_products(app, t.id) == 0


async def test_scope_is_enforced_per_field(api: Any, app: Any, tenant_factory: Any) -> None:
    t = await tenant_factory(scopes=["catalog:read"])
    body = await api(CREATE, key=t.key)
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "catalog:write" in body["errors"][0]["message"]
    assert await _count_products(app, t.id) == 0
    # reading is allowed, but a field needing another scope is not
    body = await api("{ products { edges { node { id } } } warehouses { edges { node { id } } } }", key=t.key)
    assert body["data"] is None or body["data"].get("warehouses") is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert body["errors"][0]["path"] == ["warehouses"]


async def test_bad_queries_get_codes_not_tracebacks(api: Any, tenant_factory: Any) -> None:
    t = await tenant_factory()
    syntax = await api("{ products { edges ", key=t.key)
    assert syntax["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    unknown = await api("{ nope }", key=t.key)
    assert unknown["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    deep = "{ products { edges { node { variants { product { variants { product { variants { product { variants { product { variants { product { id } } } } } } } } } } } } } }"
    too_deep = await api(deep, key=t.key)
    assert too_deep["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "depth" in too_deep["errors"][0]["message"]
    aliases = "{ " + " ".join(f"a{i}: viewer {{ tenantSlug }}" for i in range(40)) + " }"
    assert (await api(aliases, key=t.key))["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_wrong_ids(api: Any, app: Any, tenant_factory: Any) -> None:
    t = await tenant_factory()
    product = (await api.data(CREATE, key=t.key))["productCreate"]["product"]
    # a query's error has the code a mutation's userError would have: one code per condition
    malformed = await api('{ node(id: "%%%") { id } }', key=t.key)
    assert malformed["errors"][0]["extensions"]["code"] == "INVALID_ID"
    assert "not a valid ID" in malformed["errors"][0]["message"]

    wrong_type = await api.data(
        'mutation($id: ID!) { warehouseUpdate(input: {id: $id, name: "x"}) { warehouse { id } userErrors { code field message } } }',
        {"id": product["id"]},
        key=t.key,
    )
    errors = wrong_type["warehouseUpdate"]["userErrors"]
    assert errors[0]["code"] == "INVALID_ID" and errors[0]["field"] == ["id"]
    assert "Product ID; expected Warehouse" in errors[0]["message"]

    missing = await api.data(
        'mutation { productUpdate(input: {id: "UHJvZHVjdDo5OTk5OTk5", title: "x"}) { product { id } userErrors { code field } } }',
        key=t.key,
    )
    assert missing["productUpdate"] == {
        "product": None,
        "userErrors": [{"code": "NOT_FOUND", "field": ["id"]}],
    }

    malformed_in_mutation = await api.data(
        'mutation { productUpdate(input: {id: "%%%", title: "x"}) { userErrors { code field } } }', key=t.key
    )
    assert malformed_in_mutation["productUpdate"]["userErrors"] == [{"code": "INVALID_ID", "field": ["id"]}]

    bad_cursor = await api('{ products(after: "zzz") { edges { node { id } } } }', key=t.key)
    assert bad_cursor["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"


async def test_user_errors_leave_nothing_half_written(api: Any, app: Any, tenant_factory: Any) -> None:
    t = await tenant_factory()
    await api.data(CREATE, key=t.key)
    # second variant's SKU is taken: the product must not be created either
    dup = await api.data(
        'mutation { productCreate(input: {title: "Kettle 2", variants: [{sku: "K-2"}, {sku: "K-1"}]}) { product { id } userErrors { code field } } }',
        key=t.key,
    )
    assert dup["productCreate"] == {
        "product": None,
        "userErrors": [{"code": "TAKEN", "field": ["variants", "1", "sku"]}],
    }
    bad_money = await api.data(
        'mutation { productCreate(input: {title: "Kettle 3", variants: [{sku: "K-3", cost: {amount: "1.00", currency: "XXY"}}]}) { product { id } userErrors { code field } } }',
        key=t.key,
    )
    assert bad_money["productCreate"]["userErrors"] == [
        {"code": "INVALID_CURRENCY", "field": ["variants", "0", "cost"]}
    ]
    assert await _count_products(app, t.id) == 1


async def test_x_tenant_selects_among_a_keys_tenants(api: Any, app: Any) -> None:
    async with app.db.write(system=True) as session:
        org = await tenancy.create_organization(session, "agency-xt")
        one = await tenancy.create_tenant(session, org, "brand-one-xt")
        await tenancy.create_tenant(session, org, "brand-two-xt")
        _, key = await tenancy.create_api_key(session, org, name="all", scopes=["admin"])
        _, only_one = await tenancy.create_api_key(session, org, name="one", scopes=["admin"], tenants=[one])
    ambiguous = await api.raw("{ viewer { tenantSlug } }", key=key)
    assert ambiguous.status_code == 403
    assert "X-Tenant" in ambiguous.json()["errors"][0]["message"]
    for slug in ("brand-one-xt", "brand-two-xt"):
        assert (await api.data("{ viewer { tenantSlug } }", key=key, tenant=slug))["viewer"][
            "tenantSlug"
        ] == slug
    denied = await api.raw("{ viewer { tenantSlug } }", key=only_one, tenant="brand-two-xt")
    assert denied.status_code == 403
    assert denied.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await api.data("{ viewer { tenantSlug } }", key=only_one))["viewer"][
        "tenantSlug"
    ] == "brand-one-xt"


async def test_credentials_are_write_only(api: Any, tenant_factory: Any) -> None:
    t = await tenant_factory()
    created = await api.data(
        'mutation { connectionCreate(input: {channel: "testmarket", name: "shop", site: "SG", credentials: {token: "hunter2-secret"}}) { connection { id currency } userErrors { code } } }',
        key=t.key,
    )
    assert created["connectionCreate"]["connection"]["currency"] == "SGD"
    fields = await api.data('{ __type(name: "Shop") { fields { name } } }', key=t.key)
    assert not [f for f in fields["__type"]["fields"] if "credential" in f["name"].lower()]
    response = await api.raw("{ connections { edges { node { id name settings } } } }", key=t.key)
    assert "hunter2-secret" not in response.text
    unknown = await api.data(
        'mutation { connectionCreate(input: {channel: "nowhere", name: "x", site: "SG", credentials: {a: 1}}) { connection { id } userErrors { code field } } }',
        key=t.key,
    )
    assert unknown["connectionCreate"]["userErrors"] == [{"code": "UNKNOWN_CHANNEL", "field": ["channel"]}]


async def test_oversized_requests_are_refused(api: Any, tenant_factory: Any) -> None:
    t = await tenant_factory()
    huge = "{ viewer { tenantSlug } }" + " " * 1_100_000
    response = await api.raw(huge, key=t.key)
    assert response.status_code == 413
