"""Reading a page of orders with their lines, holds, shipments and connection takes a fixed
number of SQL statements, whatever the page size: relations load through DataLoaders, one
query per relation per request, never one per order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

PAGE = """query($n: Int) { orders(first: $n) { nodes {
  externalId status total { amount } lines { sku quantity } holds { reason }
  shipments { trackingNumber } connection { name channel } } } }"""


async def test_statements_per_request_do_not_grow_with_the_page(api: Any, app: Any, shop: Any) -> None:
    orders = [shop.market.add_order(f"N-{i}", buyer=f"buyer {i}") for i in range(30)]
    for order in orders:
        await shop.ingest(order)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    await api.data(PAGE, {"n": 1}, key=shop.tenant.key)  # warms the per-minute caches (cost limits)
    engine = app.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        per_page = {}
        for n in (2, 10, 30):
            statements.clear()
            data = await api.data(PAGE, {"n": n}, key=shop.tenant.key)
            assert len(data["orders"]["nodes"]) == n
            per_page[n] = len([s for s in statements if s.lstrip().upper().startswith("SELECT")])
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert per_page[2] == per_page[10] == per_page[30], per_page
    assert per_page[30] <= 8, per_page  # auth, the page, and one query per relation
