"""10,000 orders from a Shopee emulator failing 10% of requests (429s, 5xx, timeouts, bad
JSON, repeated and shuffled pages), synced by arq workers killed (SIGKILL) three times
midway and started again: exactly 10,000 orders, none twice, and orders, stock levels and
ledger exactly what a fault-free sync of the same shop leaves.

Full size on PostgreSQL (the production path: arq workers on Redis); 2,000 on SQLite, the
embedded path. ``CROSSDOCK_SOAK_ORDERS`` overrides both: CI runs 2,000 on each."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from crossdock.testing import EMULATOR_HOSTS, TEST_SECRET, TestTenant, build_shop, queue_job, sync_to_the_end
from crossdock.testing.invariants import check, order_counts, snapshot

SIZES = {"postgresql": 10_000, "sqlite": 2_000}


async def _stock_is_what_the_orders_say(app: Any, tenant_id: int) -> None:
    """With stock for everyone, a faulty, interrupted sync must leave what a clean one
    would: every invariant holds (each level equal to its ledger, every unit reserved
    belonging to an allocated order, none to a cancelled one), nothing on hand moved."""
    assert [str(v) for v in await check(app.db, tenant_id=tenant_id)] == []
    levels = (await snapshot(app.db, tenant_id))["levels"]
    assert levels and {on_hand for on_hand, _ in levels.values()} == {100_000}


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


async def _shop(app: Any, tenant_factory: Any, info: dict[str, Any]) -> tuple[TestTenant, int]:
    """A tenant with the emulated shop's SKUs in stock, connected to it."""
    shop = await build_shop(
        app,
        await tenant_factory(),
        channel="shopee",
        site="SG",
        credentials=info["credentials"],
        base_url=info["base_url"],
        skus=dict.fromkeys(info["listings"], 100_000),
        settings={"timeout": 0.5},
        name="soak",
        title="Demo",
    )
    return shop.tenant, shop.connection_id


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
        log = tmp_path / "worker.log"
        deadline = time.monotonic() + 900
        killed_at: list[int] = []
        for run, share in enumerate((0.25, 0.5, 0.75, 1.0), start=1):
            # as the periodic scheduler would: a sync, resuming from the last committed page
            await queue_job(
                redis_url,
                "sync_orders",
                job_id=f"soak:{conn_id}:{run}",
                tenant_id=tenant.id,
                connection_id=conn_id,
            )
            worker = await _worker(env, log)
            processes.append(worker)
            while (await order_counts(app.db, tenant.id))[0] < orders * share:
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                await asyncio.sleep(0.1)
            if share < 1.0:
                worker.send_signal(signal.SIGKILL)  # mid-sync, maybe mid-page
                await worker.wait()
                killed_at.append((await order_counts(app.db, tenant.id))[0])
        # anything still running must not add a duplicate: stop the last worker and wait
        # for it to exit (a state), then count what is final
        worker.send_signal(signal.SIGTERM)
        await asyncio.wait_for(worker.wait(), timeout=300)
        total, distinct = await order_counts(app.db, tenant.id)
        assert (total, distinct) == (orders, orders)
        assert len(killed_at) == 3 and all(0 < n < orders for n in killed_at)
        await _stock_is_what_the_orders_say(app, tenant.id)

        # The same shop, served without a single fault and synced in one go, must end the same.
        reference, clean_info = await _emulator(orders, fail_rate=0.0)
        processes.append(reference)
        clean_tenant, clean_conn = await _shop(app, tenant_factory, clean_info)
        await sync_to_the_end(app, clean_tenant.id, clean_conn, runs=1_000)
        faulty, clean = await snapshot(app.db, tenant.id), await snapshot(app.db, clean_tenant.id)
        assert len(clean["orders"]) == orders
        assert faulty["orders"] == clean["orders"]
        assert faulty["levels"] == clean["levels"]
        assert faulty["ledger"] == clean["ledger"]
    finally:
        for proc in processes:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
