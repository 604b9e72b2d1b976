"""No oversell under racing orders; a burst of stock changes makes a bounded number of pushes."""

from __future__ import annotations

import asyncio
import math
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from crossdock.db.models import Order, OrderStatusChange
from crossdock.services import inventory
from crossdock.testing import wait_until


async def test_fifty_orders_race_for_ten_units_across_two_channels(shop: Any) -> None:
    """Exactly 10 allocated, 40 held out_of_stock, no negative level, levels = ledger."""
    await shop.connect("sg2")
    await shop.receive("SKU-1", "SG1", 5)  # 10 in all
    orders = [
        (shop.market.add_order(f"R-{i}", buyer=f"buyer-{i}"), "sg" if i % 2 else "sg2") for i in range(50)
    ]
    results = await asyncio.gather(*(shop.ingest(order, connection=conn) for order, conn in orders))
    assert sum(r.created for r in results) == 50
    async with shop.read() as session:
        statuses = dict(
            (await session.execute(select(Order.status, func.count()).group_by(Order.status))).all()
        )
    assert statuses == {"allocated": 10, "on_hold": 40}
    assert await shop.level("SKU-1") == (10, 10)
    for order, _ in orders:
        if (await shop.order(order.external_id)).status == "on_hold":
            assert await shop.holds(order.external_id) == ["out_of_stock"]
    await shop.ledger_matches_levels()


async def test_one_order_ingested_a_hundred_times_in_any_interleaving(shop: Any) -> None:
    t0 = datetime.now(UTC)
    versions = [
        shop.market.add_order("X-1", updated=t0, buyer="same"),
        shop.market.add_order("X-1", updated=t0 + timedelta(minutes=1), buyer="same", total="12.00"),
        shop.market.add_order("X-1", updated=t0 + timedelta(minutes=2), buyer="same", status="cancelled"),
    ]
    deliveries = [versions[i % 3] for i in range(100)]
    random.Random(11).shuffle(deliveries)
    await asyncio.gather(*(shop.ingest(d) for d in deliveries))
    async with shop.read() as session:
        rows = (await session.scalars(select(Order).where(Order.external_id == "X-1"))).all()
        assert len(rows) == 1
        history = (
            await session.scalars(
                select(OrderStatusChange.to_status).where(OrderStatusChange.order_id == rows[0].id)
            )
        ).all()
    assert rows[0].status == "cancelled"
    assert rows[0].channel_updated_at == t0 + timedelta(minutes=2)
    assert history.count("cancelled") == 1
    assert await shop.level("SKU-1") == (5, 0)  # whatever was reserved went back
    await shop.ledger_matches_levels()


WINDOW = 0.25
#: many more changes than windows they take: what is coalesced is plain
CHANGES = 300


async def test_a_burst_of_stock_changes_makes_few_pushes(shop: Any, app: Any) -> None:
    """300 stock changes on one listing: at most one push per window (+2 for the edges).

    The bound: pushes <= ceil(duration / window) + 2, whatever the number of changes.
    """
    app.units.windows["push_stock"] = WINDOW
    conn_id = shop.connections["sg"]
    # the runner without the periodic jobs: they would work for every tenant in the shared
    # database, and ``join`` below waits for an empty queue
    app.queue.start(app.job_context(), periodic=False)  # type: ignore[union-attr]
    # the set-up's stock goes out first (its push was queued when it was received)
    await wait_until(lambda: shop.market.pushed_quantities(conn_id).get("sg-SKU-1") == 5)
    await app.queue.join()  # type: ignore[union-attr]
    before = len(shop.market.pushes)
    started = time.monotonic()
    for i in range(CHANGES):
        async with shop.unit_of_work() as uow:
            await inventory.adjust_stock(
                uow,
                variant_id=shop.variants["SKU-1"],
                warehouse_id=shop.warehouses["SG1"],
                delta=1 if i % 3 else -1,
                note="burst",
            )
    duration = time.monotonic() - started
    on_hand, _ = await shop.level("SKU-1")
    assert on_hand == 5 + sum(1 if i % 3 else -1 for i in range(CHANGES))
    # the last change reaches the channel at the end of its window: wait for that state
    await wait_until(lambda: shop.market.pushed_quantities(conn_id).get("sg-SKU-1") == on_hand)
    await app.queue.join()  # type: ignore[union-attr]
    pushes = [updates for cid, updates in shop.market.pushes[before:] if cid == conn_id]
    # the bound is relative to the burst's own duration, so a slow machine only widens it
    bound = math.ceil(duration / WINDOW) + 2
    assert 1 <= len(pushes) <= bound, (len(pushes), bound, duration)
    print(f"{CHANGES} changes in {duration:.2f}s -> {len(pushes)} pushes (bound {bound})")
