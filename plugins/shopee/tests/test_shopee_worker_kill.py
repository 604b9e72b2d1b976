"""10,000 orders from a Shopee emulator failing 10% of requests (429s, 5xx, timeouts, bad
JSON, repeated and shuffled pages), synced by arq workers killed (SIGKILL) three times
midway and started again: exactly 10,000 orders, none twice, and orders, stock levels and
ledger exactly what a fault-free sync of the same shop leaves.

Full size on PostgreSQL (the production path: arq workers on Redis); 2,000 on SQLite, the
embedded path. ``CROSSDOCK_SOAK_ORDERS`` overrides both: CI runs 3,000 on each."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from crossdock.db.models import (
    Allocation,
    AllocationStatus,
    Order,
    OrderHold,
    OrderLine,
    OrderStatus,
    StockLedgerEntry,
    StockLevel,
    Variant,
    Warehouse,
)
from crossdock.jobs.arq_worker import ArqQueue
from crossdock.services import catalog, connections, inventory
from crossdock.testing import EMULATOR_HOSTS
from crossdock.testing.conformance import sync_to_the_end
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


async def _snapshot(app: Any, tenant_id: int) -> dict[str, Any]:
    """What a sync leaves, in terms that do not depend on ids or clocks: every order's
    state, lines and holds; every stock level; the ledger as a multiset of changes."""
    async with app.db.tenant(tenant_id) as session:
        lines: dict[int, list[tuple[str, int, str]]] = {}
        for order_id, sku, qty, price in await session.execute(
            select(OrderLine.order_id, OrderLine.sku, OrderLine.quantity, OrderLine.unit_price_amount)
        ):
            lines.setdefault(order_id, []).append((sku, qty, str(price)))
        holds: dict[int, list[str]] = {}
        for order_id, reason in await session.execute(
            select(OrderHold.order_id, OrderHold.reason).where(OrderHold.released_at.is_(None))
        ):
            holds.setdefault(order_id, []).append(reason)
        orders = {
            o.external_id: (
                o.status,
                o.currency,
                str(o.total_amount),
                sorted(lines.get(o.id, [])),
                sorted(holds.get(o.id, [])),
            )
            for o in (await session.scalars(select(Order))).all()
        }
        levels = {
            (sku, code): (on_hand, reserved)
            for sku, code, on_hand, reserved in await session.execute(
                select(Variant.sku, Warehouse.code, StockLevel.on_hand, StockLevel.reserved)
                .join(Variant, Variant.id == StockLevel.variant_id)
                .join(Warehouse, Warehouse.id == StockLevel.warehouse_id)
            )
        }
        ledger = Counter(
            (sku, reason, reference, delta_on_hand, delta_reserved)
            for sku, reason, reference, delta_on_hand, delta_reserved in await session.execute(
                select(
                    Variant.sku,
                    StockLedgerEntry.reason,
                    StockLedgerEntry.reference,
                    StockLedgerEntry.delta_on_hand,
                    StockLedgerEntry.delta_reserved,
                ).join(Variant, Variant.id == StockLedgerEntry.variant_id)
            )
        )
    return {"orders": orders, "levels": levels, "ledger": ledger}


async def _emulator(orders: int, fail_rate: float) -> tuple[asyncio.subprocess.Process, dict[str, Any]]:
    """The Shopee emulator in its own process; the same seed gives the same shop and orders."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "crossdock.cli",
        "emulate",
        "shopee",
        "--orders",
        str(orders),
        "--fail-rate",
        str(fail_rate),
        "--seed",
        "5",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    return proc, json.loads(await asyncio.wait_for(proc.stdout.readline(), timeout=120))


async def _shop(app: Any, tenant_factory: Any, info: dict[str, Any]) -> tuple[Any, int]:
    """A tenant with the emulated shop's SKUs in stock, connected to it."""
    tenant = await tenant_factory()
    async with app.unit_of_work(tenant.id, tenant.slug) as uow:
        session = uow.session
        await catalog.create_product(
            session, title="Demo", variants=[catalog.VariantSpec(sku=s) for s in info["listings"]]
        )
        wh = await inventory.create_warehouse(session, code="SG", name="SG", country="SG")
        for variant in (await session.scalars(select(Variant))).all():
            await inventory.receive_stock(uow, variant_id=variant.id, warehouse_id=wh.id, quantity=100_000)
        conn = await connections.create_connection(
            session,
            app.plugins,
            app.vault,
            policy=app.http.policy,
            channel="shopee",
            name="soak",
            site="SG",
            credentials=info["credentials"],
            base_url=info["base_url"],
            settings={"timeout": 0.5},
        )
    return tenant, conn.id


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
    processes: list[asyncio.subprocess.Process] = []
    try:
        emulator, info = await _emulator(orders, fail_rate=0.1)
        processes.append(emulator)
        tenant, conn_id = await _shop(app, tenant_factory, info)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CROSSDOCK_")}
        env.update(
            CROSSDOCK_DATABASE_URL=database_url,
            CROSSDOCK_REDIS_URL=redis_url,
            CROSSDOCK_SECRET_KEY=TEST_SECRET,
            CROSSDOCK_DATA_DIR=str(tmp_path),
            CROSSDOCK_PERIODIC="0",
            CROSSDOCK_ALLOWED_HOSTS=",".join(EMULATOR_HOSTS),  # the emulator serves on loopback
        )
        queue = ArqQueue(redis_url)
        log = tmp_path / "worker.log"
        deadline = time.monotonic() + 900
        killed_at: list[int] = []
        for run, share in enumerate((0.25, 0.5, 0.75, 1.0), start=1):
            # as the periodic scheduler would: a sync, resuming from the last committed page
            await queue.enqueue(
                "sync_orders", job_id=f"soak:{conn_id}:{run}", tenant_id=tenant.id, connection_id=conn_id
            )
            worker = await _worker(env, log)
            processes.append(worker)
            while (await _count(app, tenant.id))[0] < orders * share:
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                await asyncio.sleep(0.1)
            if share < 1.0:
                worker.send_signal(signal.SIGKILL)  # mid-sync, maybe mid-page
                await worker.wait()
                killed_at.append((await _count(app, tenant.id))[0])
        # anything still running must not add a duplicate: stop the last worker and wait
        # for it to exit (a state), then count what is final
        worker.send_signal(signal.SIGTERM)
        await asyncio.wait_for(worker.wait(), timeout=300)
        total, distinct = await _count(app, tenant.id)
        assert (total, distinct) == (orders, orders)
        assert len(killed_at) == 3 and all(0 < n < orders for n in killed_at)
        await _stock_is_what_the_orders_say(app, tenant.id)
        await queue.close()

        # The same shop, served without a single fault and synced in one go, must end the same.
        reference, clean_info = await _emulator(orders, fail_rate=0.0)
        processes.append(reference)
        clean_tenant, clean_conn = await _shop(app, tenant_factory, clean_info)
        await sync_to_the_end(app, clean_tenant.id, clean_conn, runs=1_000)
        faulty, clean = await _snapshot(app, tenant.id), await _snapshot(app, clean_tenant.id)
        assert len(clean["orders"]) == orders
        assert faulty["orders"] == clean["orders"]
        assert faulty["levels"] == clean["levels"]
        assert faulty["ledger"] == clean["ledger"]
    finally:
        for proc in processes:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
