"""Query cost as Shopify's Admin API computes it: requested before running, actual after,
charged to the API key's leaky bucket and reported on every answer."""

from __future__ import annotations

import functools
import re
import uuid
from typing import Any

from graphql import parse
from sqlalchemy import event, update

from crossdock.api.cost import LIST_SIZES, CostLimiter, requested_cost
from crossdock.api.schema import schema
from crossdock.db.models import Tenant
from crossdock.testing import wait_until

ORDERS = """query($n: Int) { orders(first: $n) {
  nodes { id lines { sku } connection { name } } pageInfo { hasNextPage } } }"""


def test_requested_cost_by_hand() -> None:
    document = parse(ORDERS)
    # a connection costs 2 and each node asked for its own cost: orders 2 + pageInfo 1 +
    # 10 x (order 1 + lines 3 x 1, the declared size of a plain list + connection 1) = 53
    assert LIST_SIZES["Order.lines"] == 3
    assert requested_cost(schema._schema, document, variables={"n": 10}) == 53
    # without first, a connection counts its default page of 50
    assert requested_cost(schema._schema, document) == 2 + 1 + 50 * 5
    # scalars are free; a mutation costs 10 plus what it returns (a payload's one userError)
    assert requested_cost(schema._schema, parse("{ viewer { tenantSlug } }")) == 1
    mutation = 'mutation { productCreate(input: {title: "x"}) { product { id } userErrors { code } } }'
    assert requested_cost(schema._schema, parse(mutation)) == 10 + 1 + 1
    # a fragment counts as if written out
    fragment = "query { orders(first: 2) { nodes { ...O } } } fragment O on Order { id connection { name } }"
    assert requested_cost(schema._schema, parse(fragment)) == 2 + 2 * 2
    # an edge and its node are one item
    edges = "{ orders(first: 3) { edges { cursor node { id lines { sku } } } } }"
    assert requested_cost(schema._schema, parse(edges)) == 2 + 3 * (1 + 3)


def test_lists_cost_their_requested_size_multiplied_through_nesting() -> None:
    cost = functools.partial(requested_cost, schema._schema)
    # a connection costs 2 plus what it asks for, ``first`` or its argument's default (100)
    assert cost(parse("{ events(first: 500) { nodes { id type } } }")) == 502
    assert cost(parse("{ events { nodes { id } } }")) == 102
    assert cost(parse("query($n: Int!) { events(first: $n) { nodes { id } } }"), variables={"n": 7}) == 9
    # every alias counts, fragments included
    aliases = (
        "{ a: events(first: 10) { nodes { ...E } } b: events(first: 20) { nodes { ...E } } } "
        "fragment E on Event { id }"
    )
    assert cost(parse(aliases)) == 12 + 22
    # nested lists multiply: 4 products x 5 variants (declared) x 3 levels (declared) x 7 entries
    nested = "{ products(first: 4) { nodes { variants { stockLevels { ledger(last: 7) { delta } } } } } }"
    sizes = (LIST_SIZES["Product.variants"], LIST_SIZES["Variant.stockLevels"])
    assert sizes == (5, 3)
    assert cost(parse(nested)) == 2 + 4 * (1 + 5 * (1 + 3 * (1 + 7)))
    # a connection inside a connection's nodes is priced per outer node
    inner = "{ o: orders(first: 10) { nodes { id } } p: products(first: 10) { nodes { variants { sku } } } }"
    assert cost(parse(inner)) == (2 + 10) + (2 + 10 * (1 + 5))
    # the README's console query stays cheap
    console = (
        "{ plugins { name kind capabilities } orders(first: 20) "
        "{ nodes { externalId status connection { channel } } } }"
    )
    assert cost(parse(console)) == LIST_SIZES["Query.plugins"] + 2 + 20 * 2 == 62


async def test_aliases_of_big_lists_are_refused_before_they_run(
    api: Any, app: Any, tenant_factory: Any
) -> None:
    """30 aliases of events(first: 500) cost 30 x 500, above a request's 1,000 points: refused
    with the cost in extensions, and no event is read."""
    tenant = await tenant_factory()
    query = (
        "{ "
        + " ".join(f"e{i}: events(first: 500) {{ nodes {{ id type payload }} }}" for i in range(30))
        + " }"
    )
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(app.db.engine.sync_engine, "before_cursor_execute", record)
    try:
        body = await api(query, key=tenant.key)
    finally:
        event.remove(app.db.engine.sync_engine, "before_cursor_execute", record)
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert error["extensions"]["cost"] == 30 * 502
    assert body["extensions"]["cost"]["requestedQueryCost"] == 30 * 502
    assert body["extensions"]["cost"]["actualQueryCost"] == 0
    assert not [s for s in statements if re.search(r"\bFROM events\b", s)]
    # the bucket was not charged: a normal console query passes at once
    ok = await api(
        "{ plugins { name } orders(first: 20) { nodes { externalId connection { channel } } } }",
        key=tenant.key,
    )
    assert not ok.get("errors")
    assert ok["extensions"]["cost"]["requestedQueryCost"] == LIST_SIZES["Query.plugins"] + 2 + 20 * 2
    assert ok["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] >= 1000 - 62


async def test_every_answer_reports_its_cost(api: Any, shop: Any) -> None:
    await shop.ingest(shop.market.add_order("C-1"), shop.market.add_order("C-2", buyer="other"))
    body = await api(ORDERS, {"n": 10}, key=shop.tenant.key)
    assert not body.get("errors")
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 53
    # what came back: orders 2 + pageInfo 1 + 2 x (order + its one line + its connection)
    assert cost["actualQueryCost"] == 9
    status = cost["throttleStatus"]
    assert status["maximumAvailable"] == 1000 and status["restoreRate"] == 50.0
    assert 990 <= status["currentlyAvailable"] <= 1000  # 9 spent, refilling at 50 a second


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


async def test_a_throttled_request_does_not_spend_its_idempotency_key(
    api: Any, app: Any, tenant_factory: Any
) -> None:
    """A request refused before it ran (THROTTLED) committed nothing: its answer is not the
    one every repeat gets, so the client's retry with the same key does the work."""
    from sqlalchemy import func, select

    from crossdock.db.models import IdempotencyKey, Product

    tenant = await tenant_factory()

    # 30 points refilled at 2 a second: two creates (11 each) leave too few for a third
    # for about 2 s, then the bucket lets it run again
    async with app.db.write(system=True) as session:
        await session.execute(
            update(Tenant)
            .where(Tenant.id == tenant.id)
            .values(settings={"api": {"cost_bucket": 30, "cost_restore_rate": 2}})
        )
    create = "mutation($t: String!) { productCreate(input: {title: $t}) { product { title } userErrors { code } } }"
    for i in range(2):
        assert not (await api(create, {"t": f"p{i}"}, key=tenant.key)).get("errors")
    headers = {"Authorization": f"Bearer {tenant.key}", "Idempotency-Key": "lamp-1"}
    body = {"query": create, "variables": {"t": "Lamp"}}
    refused = await api.client.post("/graphql", json=body, headers=headers)
    assert refused.json()["errors"][0]["extensions"]["code"] == "THROTTLED"
    async with app.db.tenant(tenant.id) as session:
        assert await session.scalar(select(func.count()).select_from(IdempotencyKey)) == 0

    # retried with the same key, as a client would, until the bucket lets it run
    retried = await wait_until(lambda: _ran(api.client.post("/graphql", json=body, headers=headers)))
    assert "idempotent-replayed" not in retried.headers
    assert retried.json()["data"]["productCreate"]["product"] == {"title": "Lamp"}
    again = await api.client.post("/graphql", json=body, headers=headers)
    assert again.headers["idempotent-replayed"] == "true" and again.json() == retried.json()
    async with app.db.tenant(tenant.id) as session:
        assert await session.scalar(select(func.count()).where(Product.title == "Lamp")) == 1


async def _ran(request: Any) -> Any:
    """The response, once it is not a THROTTLED refusal (else None, to wait on)."""
    response = await request
    errors = response.json().get("errors") or []
    return None if any(e["extensions"].get("code") == "THROTTLED" for e in errors) else response
