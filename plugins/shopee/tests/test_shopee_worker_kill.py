"""10,000 orders from a Shopee emulator failing 10% of requests, synced by an arq worker
that is killed (SIGKILL) midway and started again: exactly 10,000 orders, none twice.

Full size on PostgreSQL (the production path: arq workers on Redis); 2,000 on SQLite, the
embedded path. ``CROSSDOCK_SOAK_ORDERS`` overrides both: CI runs 3,000 on each."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from crossdock.db.models import (
    Allocation,
    AllocationStatus,
    Order,
    OrderStatus,
    StockLedgerEntry,
    StockLevel,
)
from crossdock.jobs.arq_worker import ArqQueue
from crossdock.services import catalog, connections, inventory
from crossdock.testing.pytest_plugin import TEST_SECRET

SIZES = {"postgresql": 10_000, "sqlite": 2_000}


async def _count(app: Any, tenant_id: int) -> tuple[int, int]:
    async with app.db.tenant(tenant_id) as session:
        total, distinct = (
            await session.execute(select(func.count(Order.id), func.count(func.distinct(Order.external_id))))
        ).one()
    return int(total), int(distinct)


async def _stock_is_what_the_orders_say(app: Any, tenant_id: int) -> None:
    """With stock for everyone, a faulty, interrupted sync must leave what a clean one
    would: each level equal to its ledger, nothing on hand moved, and every unit reserved
    belonging to an allocated order (none to a cancelled one)."""
    async with app.db.tenant(tenant_id) as session:
        levels = (await session.scalars(select(StockLevel))).all()
        ledger = {
            (v, w): (int(h), int(r))
            for v, w, h, r in (
                await session.execute(
                    select(
                        StockLedgerEntry.variant_id,
                        StockLedgerEntry.warehouse_id,
                        func.sum(StockLedgerEntry.delta_on_hand),
                        func.sum(StockLedgerEntry.delta_reserved),
                    ).group_by(StockLedgerEntry.variant_id, StockLedgerEntry.warehouse_id)
                )
            ).all()
        }
        reserved_by_orders = dict(
            (
                await session.execute(
                    select(Allocation.variant_id, func.sum(Allocation.quantity))
                    .join(Order, Order.id == Allocation.order_id)
                    .where(
                        Allocation.status == AllocationStatus.RESERVED, Order.status == OrderStatus.ALLOCATED
                    )
                    .group_by(Allocation.variant_id)
                )
            ).all()
        )
        stray = await session.scalar(
            select(func.count())
            .select_from(Allocation)
            .join(Order, Order.id == Allocation.order_id)
            .where(Order.status == OrderStatus.CANCELLED, Allocation.status == AllocationStatus.RESERVED)
        )
    assert stray == 0
    for level in levels:
        assert (level.on_hand, level.reserved) == ledger[(level.variant_id, level.warehouse_id)]
        assert level.on_hand == 100_000
        assert level.reserved == int(reserved_by_orders.get(level.variant_id, 0))


async def _worker(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "crossdock.cli",
        "worker",
        env=env,
        stdout=log.open("ab"),
        stderr=asyncio.subprocess.STDOUT,
    )


async def test_killed_worker_loses_and_duplicates_nothing(
    app: Any, tenant_factory: Any, database_url: str, redis_url: str, tmp_path: Path, backend: str
) -> None:
    orders = int(os.environ.get("CROSSDOCK_SOAK_ORDERS", SIZES[backend]))
    emulator = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "crossdock.cli",
        "emulate",
        "shopee",
        "--orders",
        str(orders),
        "--fail-rate",
        "0.1",
        "--seed",
        "5",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    workers: list[asyncio.subprocess.Process] = []
    try:
        assert emulator.stdout is not None
        info = json.loads(await asyncio.wait_for(emulator.stdout.readline(), timeout=120))
        tenant = await tenant_factory()
        async with app.db.write(tenant.id, slug=tenant.slug) as session:
            await catalog.create_product(
                session, title="Demo", variants=[catalog.VariantSpec(sku=s) for s in info["listings"]]
            )
            wh = await inventory.create_warehouse(session, code="SG", name="SG", country="SG")
            from crossdock.db.models import Variant

            for variant in (await session.scalars(select(Variant))).all():
                await inventory.receive_stock(
                    session, variant_id=variant.id, warehouse_id=wh.id, quantity=100_000
                )
            conn = await connections.create_connection(
                session,
                app.plugins,
                app.vault,
                channel="shopee",
                name="soak",
                site="SG",
                credentials=info["credentials"],
                base_url=info["base_url"],
                settings={"timeout": 0.5},
            )
        env = {k: v for k, v in os.environ.items() if not k.startswith("CROSSDOCK_")}
        env.update(
            CROSSDOCK_DATABASE_URL=database_url,
            CROSSDOCK_REDIS_URL=redis_url,
            CROSSDOCK_SECRET_KEY=TEST_SECRET,
            CROSSDOCK_DATA_DIR=str(tmp_path),
            CROSSDOCK_PERIODIC="0",
        )
        queue = ArqQueue(redis_url)
        await queue.enqueue(
            "sync_orders", job_id=f"soak:{conn.id}:1", tenant_id=tenant.id, connection_id=conn.id
        )
        log = tmp_path / "worker.log"
        workers.append(await _worker(env, log))
        deadline = time.monotonic() + 600
        while (await _count(app, tenant.id))[0] < orders * 0.3:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            await asyncio.sleep(0.2)
        workers[0].send_signal(signal.SIGKILL)  # mid-sync, maybe mid-page
        await workers[0].wait()
        killed_at = (await _count(app, tenant.id))[0]
        # as the periodic scheduler would: a new sync, resuming from the last committed page
        await queue.enqueue(
            "sync_orders", job_id=f"soak:{conn.id}:2", tenant_id=tenant.id, connection_id=conn.id
        )
        workers.append(await _worker(env, log))
        while (await _count(app, tenant.id))[0] < orders:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # anything still running must not add a duplicate
        total, distinct = await _count(app, tenant.id)
        assert (total, distinct) == (orders, orders)
        await _stock_is_what_the_orders_say(app, tenant.id)
        assert 0 < killed_at < orders
        await queue.close()
    finally:
        for proc in [*workers, emulator]:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
