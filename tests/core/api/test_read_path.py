"""The read path's shortcuts keep their promises: a remembered key still stops working when
revoked, a cached query document still obeys the limits, and a page of orders answers its
relations without one awaitable per order."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from crossdock.api import documents
from crossdock.db.models import ApiKey
from crossdock.services import tenancy

ME = "{ orders(first: 1) { nodes { id } } }"


async def test_a_remembered_key_stops_working_once_revoked(api: Any, app: Any, tenant_factory: Any) -> None:
    t = await tenant_factory()
    await api.data(ME, key=t.key)  # resolved, and remembered
    async with app.db.write(system=True) as session:
        await tenancy.revoke_api_key(session, t.key.split("_")[1])
    response = await api.raw(ME, key=t.key)
    assert response.status_code == 401
    assert "revoked" in response.json()["errors"][0]["message"]


async def test_a_key_revoked_elsewhere_stops_working_within_the_cache_time(
    api: Any, app: Any, tenant_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process (the CLI, another worker) revokes with no way to tell this one."""
    t = await tenant_factory()
    clock = [1000.0]
    monkeypatch.setattr(tenancy.time, "monotonic", lambda: clock[0])
    await api.data(ME, key=t.key)
    async with app.db.write(system=True) as session:  # behind the service's back
        await session.execute(
            update(ApiKey).where(ApiKey.prefix == t.key.split("_")[1]).values(revoked_at=ApiKey.created_at)
        )
    await api.data(ME, key=t.key)  # still remembered ...
    clock[0] += tenancy.AUTH_CACHE_SECONDS + 0.01
    assert (await api.raw(ME, key=t.key)).status_code == 401  # ... but not for long


async def test_a_new_tenant_is_seen_at_once_by_an_all_tenants_key(api: Any, app: Any) -> None:
    async with app.db.write(system=True) as session:
        org = await tenancy.create_organization(session, "agency-x")
        await tenancy.create_tenant(session, org, "brand-a")
        _, key = await tenancy.create_api_key(session, org, name="all", scopes=["admin"])
    await api.data(ME, key=key)  # the only tenant: no X-Tenant needed
    async with app.db.write(system=True) as session:
        await tenancy.create_tenant(session, await tenancy.get_organization(session, "agency-x"), "brand-b")
    response = await api.raw(ME, key=key)
    assert response.status_code == 403
    assert "X-Tenant" in response.json()["errors"][0]["message"]
    await api.data(ME, key=key, tenant="brand-b")


async def test_cached_documents_still_obey_the_limits(api: Any, tenant_factory: Any) -> None:
    t = await tenant_factory()
    documents.clear()
    deep = "sku"
    for field in ["orders", "nodes"] + ["lines", "variant", "product", "variants"] * 3:
        deep = f"{field} {{ {deep} }}"
    deep = f"{{ {deep} }}"
    aliased = "{ " + " ".join(f"a{i}: orders(first: 1) {{ nodes {{ id }} }}" for i in range(31)) + " }"
    for _ in range(2):  # the second time from the cache, if it were kept
        for query, message in ((deep, "exceeds maximum operation depth"), (aliased, "aliases found")):
            body = await api(query, key=t.key)
            assert body["data"] is None
            assert message in body["errors"][0]["message"], body
    await api.data(ME, key=t.key)
    await api.data(ME, key=t.key)  # served from the cache
    assert ME in documents._documents


async def test_an_order_page_answers_its_relations_without_awaiting_per_order(
    api: Any, app: Any, shop: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(5):
        await shop.ingest(shop.market.add_order(f"P-{i}", buyer=f"buyer {i}"))
    from crossdock.api.schema import loaders

    later: list[Any] = []
    original = loaders.now_or_later

    def spy(loader: Any, key: Any, convert: Any) -> Any:
        result = original(loader, key, convert)
        if hasattr(result, "__await__"):
            later.append(key)
        return result

    monkeypatch.setattr("crossdock.api.schema.order_types.now_or_later", spy)
    query = """{ orders(first: 5) { edges { node { externalId lines { sku } holds { reason }
      shipments { trackingNumber } connection { name } history { toStatus } } } } }"""
    data = await api.data(query, key=shop.tenant.key)
    assert len(data["orders"]["edges"]) == 5
    assert all(e["node"]["lines"] and e["node"]["connection"]["name"] for e in data["orders"]["edges"])
    assert later == []
    # reached another way (no page to prefetch for), the same fields still load
    order_id = (await api.data("{ orders(first: 1) { nodes { id } } }", key=shop.tenant.key))["orders"][
        "nodes"
    ][0]["id"]
    node = await api.data(
        "query($id: ID!) { node(id: $id) { ... on Order { lines { sku } connection { name } } } }",
        {"id": order_id},
        key=shop.tenant.key,
    )
    assert node["node"]["lines"] and node["node"]["connection"]["name"]
    assert later
