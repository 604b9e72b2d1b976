"""Query cost as Shopify's Admin API computes it: requested before running, actual after,
charged to the API key's leaky bucket and reported on every answer."""

from __future__ import annotations

import uuid
from typing import Any

from graphql import parse
from sqlalchemy import update

from crossdock.api.cost import CostLimiter, requested_cost
from crossdock.api.schema import schema
from crossdock.db.models import Tenant

ORDERS = """query($n: Int) { orders(first: $n) {
  nodes { id lines { sku } connection { name } } pageInfo { hasNextPage } } }"""


def test_requested_cost_by_hand() -> None:
    document = parse(ORDERS)
    # orders 1 + pageInfo 1 + 10 x (order 1 + lines 1 + connection 1) = 32
    assert requested_cost(schema._schema, document, variables={"n": 10}) == 32
    # without first, a connection counts its default page of 50
    assert requested_cost(schema._schema, document) == 1 + 1 + 50 * 3
    # scalars are free; a mutation costs 10 plus what it returns
    assert requested_cost(schema._schema, parse("{ viewer { tenantSlug } }")) == 1
    mutation = 'mutation { productCreate(input: {title: "x"}) { product { id } userErrors { code } } }'
    assert requested_cost(schema._schema, parse(mutation)) == 10 + 1 + 1
    # a fragment counts as if written out
    fragment = "query { orders(first: 2) { nodes { ...O } } } fragment O on Order { id connection { name } }"
    assert requested_cost(schema._schema, parse(fragment)) == 1 + 2 * 2


async def test_every_answer_reports_its_cost(api: Any, shop: Any) -> None:
    await shop.ingest(shop.market.add_order("C-1"), shop.market.add_order("C-2", buyer="other"))
    body = await api(ORDERS, {"n": 10}, key=shop.tenant.key)
    assert not body.get("errors")
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 32
    # what came back: orders 1 + pageInfo 1 + 2 x (order + its line + its connection)
    assert cost["actualQueryCost"] == 8
    status = cost["throttleStatus"]
    assert status["maximumAvailable"] == 1000 and status["restoreRate"] == 50.0
    assert 990 <= status["currentlyAvailable"] <= 1000


async def test_too_expensive_and_throttled_requests_are_refused(
    api: Any, app: Any, tenant_factory: Any
) -> None:
    tenant = await tenant_factory()
    async with app.db.write(system=True) as session:
        await session.execute(
            update(Tenant)
            .where(Tenant.id == tenant.id)
            .values(settings={"api": {"cost_bucket": 30, "cost_restore_rate": 0.1}})
        )
    big = await api(ORDERS, {"n": 100}, key=tenant.key)
    assert big["data"] is None
    assert big["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"
    create = (
        "mutation($t: String!) { productCreate(input: {title: $t}) { product { id } userErrors { code } } }"
    )
    for i in range(2):
        ok = await api(create, {"t": f"p{i}"}, key=tenant.key)
        # asked 12 (the error list counted as one object), cost 11 (it came back empty)
        assert not ok.get("errors") and ok["extensions"]["cost"]["actualQueryCost"] == 11
    refused = await api(create, {"t": "p3"}, key=tenant.key)
    error = refused["errors"][0]
    assert error["extensions"]["code"] == "THROTTLED"
    assert 35 <= error["extensions"]["retryAfter"] <= 40  # 12 wanted, 8 left, 0.1 a second
    assert refused["extensions"]["cost"]["throttleStatus"]["maximumAvailable"] == 30
    async with app.db.tenant(tenant.id) as session:  # the throttled mutation did not run
        from sqlalchemy import func, select

        from crossdock.db.models import Product

        assert await session.scalar(select(func.count()).select_from(Product)) == 2


async def test_buckets_in_redis_are_shared_between_processes(redis_url: str) -> None:
    first, second = CostLimiter(redis_url), CostLimiter(redis_url)
    key = f"k-{uuid.uuid4().hex}"
    ok, status = await first.take(key, 70, 100, 1.0)
    assert ok and 29 <= status.available <= 30.1
    ok, status = await second.take(key, 50, 100, 1.0)  # another server process, same key
    assert not ok and status.available < 31
    ok, _ = await second.take(key, -40, 100, 1.0)  # a refund of unused points
    ok, status = await first.take(key, 50, 100, 1.0)
    assert ok
    await first.close()
    await second.close()
