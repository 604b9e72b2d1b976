from collections import Counter
from typing import Any

from sqlalchemy import event


async def test_probe(api: Any, app: Any, shop: Any) -> None:
    await shop.ingest(shop.market.add_order("WARM", buyer="w"))
    stmts = []
    event.listen(
        app.db.engine.sync_engine,
        "before_cursor_execute",
        lambda c, cu, s, *a: stmts.append(" ".join(s.split()[:4])),
    )
    orders = [shop.market.add_order(f"P-{n}", buyer=f"B{n}") for n in range(50)]
    await shop.ingest(*orders)
    print("\nSTATEMENTS", len(stmts))
    for s, n in Counter(stmts).most_common():
        print(f"  {n:3} {s}")
