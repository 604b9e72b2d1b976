"""The exported SDL matches the code, and list fields batch their relations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, update

from crossdock.api.schema import SCHEMA_FILE, schema
from crossdock.db.models import Tenant


def test_schema_graphql_is_up_to_date() -> None:
    assert Path(__file__).resolve().parents[3] / "schema.graphql" == SCHEMA_FILE
    assert SCHEMA_FILE.read_text() == schema.as_str() + "\n", (
        "schema.graphql is stale: run `make schema` and commit it"
    )


ORDERS_PAGE = """
query($first: Int!) { products(first: $first) { edges { node {
  title variants { sku product { title } stockLevels { onHand warehouse { code } variant { sku } } }
} } } }"""


async def test_statements_per_request_do_not_grow_with_page_size(
    api: Any, app: Any, tenant_factory: Any
) -> None:
    t = await tenant_factory()
    async with app.db.write(system=True) as session:  # this test counts statements, not query cost
        await session.execute(
            update(Tenant).where(Tenant.id == t.id).values(settings={"api": {"cost_bucket": 100_000}})
        )
    wh = await api.data(
        'mutation { warehouseCreate(input: {code: "W", name: "W", country: "SG"}) { warehouse { id } } }',
        key=t.key,
    )
    wh_id = wh["warehouseCreate"]["warehouse"]["id"]
    for i in range(12):
        created = await api.data(
            "mutation($in: ProductCreateInput!) { productCreate(input: $in) { product { variants { id } } } }",
            {"in": {"title": f"P{i}", "variants": [{"sku": f"P{i}-A"}, {"sku": f"P{i}-B"}]}},
            key=t.key,
        )
        for v in created["productCreate"]["product"]["variants"]:
            await api.data(
                "mutation($v: ID!, $w: ID!) { stockReceive(input: {variantId: $v, warehouseId: $w, quantity: 3}) { userErrors { code } } }",
                {"v": v["id"], "w": wh_id},
                key=t.key,
            )

    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(app.db.engine.sync_engine, "before_cursor_execute", count)
    try:
        per_size = {}
        for size in (2, 12):
            statements.clear()
            data = await api.data(ORDERS_PAGE, {"first": size}, key=t.key)
            assert len(data["products"]["edges"]) == size
            # the key is read again when this process's memory of it (a second) has run out,
            # which a slow machine reaches between two requests: not the page's statements
            per_size[size] = len(
                [s for s in statements if s.lstrip().upper().startswith("SELECT") and "api_keys" not in s]
            )
    finally:
        event.remove(app.db.engine.sync_engine, "before_cursor_execute", count)
    assert per_size[2] == per_size[12], per_size
