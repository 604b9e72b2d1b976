"""Crossdock's benchmarks: ingest, GraphQL read, reservations, each next to a floor measured
in the same run on the same machine. ``make bench`` runs them on SQLite and PostgreSQL,
prints a table and writes ``bench/results.json`` (keys in bench/README.md).

    python bench/run.py [--db sqlite,postgresql] [--orders 2000] [--seconds 10]
    python bench/run.py --profile-ingest      # where ingest time goes (cProfile)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import logging
import multiprocessing
import os
import platform
import pstats
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event, func, insert, select, text, update

from crossdock.bootstrap import App
from crossdock.config import Settings
from crossdock.db.migrate import upgrade
from crossdock.db.models import Connection, Listing, Order, OrderLine, StockLevel, Tenant, Variant
from crossdock.services import catalog, connections, inventory
from crossdock.testing.conformance import sync_to_the_end
from crossdock.testing.emulator import Faults, serve
from crossdock.testing.kit import make_tenant

ROOT = Path(__file__).resolve().parent
PG_ADMIN = os.environ.get("CROSSDOCK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
SECRET = "n2eFbDgB6Wq5lC1yqR0n7v8m2N4Xo0kS9tY3uV6wZ1E="
SKUS = [f"BENCH-{i:03d}" for i in range(40)]
#: Shops selling the reservation benchmark's one SKU at once.
SHOPS = 8
PAGE_QUERY = """{ orders(first: 50) { nodes { externalId status total { amount currency }
  lines { sku quantity unitPrice { amount } } holds { reason } shipments { trackingNumber }
  connection { name channel } } } }"""
FLOOR_SQL = """
SELECT o.id, o.external_id, o.status, o.total_amount, o.currency, l.sku, l.quantity,
       l.unit_price_amount, h.reason, s.tracking_number, c.name, c.channel
FROM (SELECT * FROM orders WHERE tenant_id = :t ORDER BY id LIMIT 50) o
JOIN connections c ON c.id = o.connection_id
LEFT JOIN order_lines l ON l.order_id = o.id
LEFT JOIN order_holds h ON h.order_id = o.id
LEFT JOIN shipments s ON s.order_id = o.id
"""


# --------------------------------------------------------------------------- databases


def _pg_up() -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", 5432)) == 0


@asynccontextmanager
async def database(kind: str, tmp: Path) -> AsyncIterator[str]:
    """A fresh, empty database of ``kind``; dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp / f'bench-{uuid.uuid4().hex[:6]}.db'}"
        return
    import asyncpg

    name = f"crossdock_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    try:
        yield f"{PG_ADMIN.rsplit('/', 1)[0].replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    finally:
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def build_app(url: str, tmp: Path) -> App:
    settings = Settings.from_env(
        {
            "CROSSDOCK_DATABASE_URL": url,
            "CROSSDOCK_SECRET_KEY": SECRET,
            "CROSSDOCK_DATA_DIR": str(tmp),
            "CROSSDOCK_PLUGINS": "shopee,fx_ecb",
            "CROSSDOCK_ALLOWED_HOSTS": "127.0.0.1",  # the emulator serves on loopback
        }
    )
    app = App.build(settings)
    await upgrade(app.db)
    # What a worker does once in its life is not part of any page: the ECB history is
    # parsed on the first rate asked for.
    app.plugins.fx_rates(datetime.now(UTC).date())
    return app


async def seeded_shop(app: App, emulator: Any, base_url: str, stock: int = 10**6) -> tuple[Any, int, int]:
    """A tenant selling the bench SKUs on an emulated Shopee shop, with plenty of stock. Its
    query-cost bucket is unlimited: the read benchmark measures the server, not the throttle."""
    tenant = await make_tenant(app)
    async with app.db.write(system=True) as session:
        await session.execute(
            update(Tenant)
            .where(Tenant.id == tenant.id)
            .values(settings={"api": {"cost_bucket": 10**9, "cost_restore_rate": 10**9}})
        )
    account = emulator.open_account("SG")
    listing_ids = {sku: emulator.add_product(account, sku, stock=0) for sku in SKUS}
    async with app.unit_of_work(tenant.id, tenant.slug) as uow:
        session = uow.session
        await catalog.create_product(
            session, title="Bench", variants=[catalog.VariantSpec(sku=s) for s in SKUS]
        )
        warehouse = await inventory.create_warehouse(session, code="B1", name="Bench", country="SG")
        variants = dict((await session.execute(select(Variant.sku, Variant.id))).all())
        for variant_id in variants.values():
            await inventory.receive_stock(
                uow, variant_id=variant_id, warehouse_id=warehouse.id, quantity=stock
            )
        conn = await connections.create_connection(
            session,
            app.plugins,
            app.vault,
            policy=app.http.policy,
            channel="shopee",
            name="bench",
            site="SG",
            credentials=dict(account),
            base_url=base_url,
            settings={"timeout": 10},
        )
        for sku, external_id in listing_ids.items():
            session.add(
                Listing(
                    connection_id=conn.id, variant_id=variants[sku], channel_sku=sku, external_id=external_id
                )
            )
    return tenant, conn.id, warehouse.id


# --------------------------------------------------------------------------- ingest


@contextmanager
def marketplace_process(
    emulator: Any, port: int, prepare: Callable[[], None] = lambda: None
) -> Iterator[None]:
    """Serve ``emulator`` (as set up so far, then ``prepare``d in the child) from a forked
    child process on ``port``."""
    child = multiprocessing.get_context("fork").Process(
        target=_serve_forever, args=(emulator, port, prepare), daemon=True
    )
    child.start()
    deadline = time.monotonic() + 120  # the child makes up the orders first
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        if time.monotonic() > deadline or not child.is_alive():
            child.kill()
            raise RuntimeError("the emulator process did not start")
        time.sleep(0.02)
    try:
        yield
    finally:
        child.kill()
        child.join()


def _serve_forever(emulator: Any, port: int, prepare: Callable[[], None]) -> None:
    import uvicorn

    logging.disable(logging.CRITICAL)
    prepare()
    uvicorn.run(emulator, host="127.0.0.1", port=port, log_level="warning", lifespan="off")


@asynccontextmanager
async def autoanalyze(url: str, every: float = 5.0) -> AsyncIterator[None]:
    """Stand in for PostgreSQL's autovacuum where the server has it turned off (as on the
    machines these figures come from): refresh the planner's statistics while orders pour
    in, as autoanalyze would. Without it the planner keeps believing the tables are empty
    and scans them for every page, and ingest slows down quadratically."""
    if not url.startswith("postgresql"):
        yield
        return
    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    if await conn.fetchval("SHOW autovacuum") == "on":
        await conn.close()
        yield
        return

    async def loop() -> None:
        while True:
            await asyncio.sleep(every)
            await conn.execute("ANALYZE")

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await conn.execute("ANALYZE")  # as autoanalyze would, soon after the burst
        await conn.close()


class _RssSampler:
    """The process's resident memory when the block starts and its peak within the block,
    sampled every 20 ms (``ru_maxrss`` cannot be reset, so it would report start-up)."""

    def __init__(self) -> None:
        self.start = self.peak = 0.0
        self._task: asyncio.Task[None] | None = None

    @staticmethod
    def now() -> float:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self.now())
            await asyncio.sleep(0.02)

    async def __aenter__(self) -> None:
        self.start = self.peak = self.now()
        self._task = asyncio.create_task(self._sample())

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self.peak = max(self.peak, self.now())


async def ingest(
    kind: str, orders: int, tmp: Path, profile: bool = False, floor: bool = True
) -> dict[str, Any]:
    """Orders pulled from the Shopee emulator through the whole pipeline, against a bulk
    insert of the same rows with SQLAlchemy Core."""
    from crossdock_shopee.emulator import ShopeeSellerEmulator

    emulator = ShopeeSellerEmulator(Faults())
    port = _free_port()
    async with database(kind, tmp) as url:
        app = await build_app(url, tmp)
        tenant, conn_id, _ = await seeded_shop(app, emulator, f"http://127.0.0.1:{port}")
        account = next(iter(emulator.shops.values()))
        # The marketplace is somebody else's computer: its emulator makes up the orders and
        # answers from its own process, so neither its CPU time nor its memory is ours.
        with marketplace_process(
            emulator, port, lambda: emulator.generate(account.shop_id, orders, seed=7, skus=SKUS)
        ):
            profiler = cProfile.Profile() if profile else None
            rss = _RssSampler()
            started = time.perf_counter()
            if profiler:
                profiler.enable()
            async with rss, autoanalyze(url):
                totals = await sync_to_the_end(app, tenant.id, conn_id, runs=10_000)
            if profiler:
                profiler.disable()
            elapsed = time.perf_counter() - started
        async with app.db.tenant(tenant.id) as session:
            stored = await session.scalar(select(func.count()).select_from(Order))
        assert stored == orders, (stored, orders)
        rows = await _rows_for_floor(app, tenant.id) if floor else []
        await app.close()
    floor_elapsed = None
    if floor:
        async with database(kind, tmp) as url:
            app = await build_app(url, tmp)
            tenant = await make_tenant(app)
            floor_started = time.perf_counter()
            await _bulk_insert(app, tenant.id, rows)
            floor_elapsed = time.perf_counter() - floor_started
            await app.close()
    result = {
        "value": round(orders / elapsed, 1),
        "unit": "orders/s",
        "floor": round(orders / floor_elapsed, 1) if floor_elapsed else None,
        "orders": orders,
        "pages": totals.get("pages"),
        "start_rss_mb": round(rss.start, 1),
        "peak_rss_mb": round(rss.peak, 1),
    }
    result["ratio"] = round(result["floor"] / result["value"], 1) if result["floor"] else None
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        result["profile"] = out.getvalue()
    return result


async def _rows_for_floor(app: App, tenant_id: int) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    async with app.db.tenant(tenant_id) as session:
        orders = (await session.scalars(select(Order))).all()
        lines = (await session.scalars(select(OrderLine))).all()
    by_order: dict[int, list[dict[str, Any]]] = {}
    for line in lines:
        by_order.setdefault(line.order_id, []).append(
            {
                "external_id": line.external_id,
                "sku": line.sku,
                "quantity": line.quantity,
                "unit_price_amount": line.unit_price_amount,
            }
        )
    keep = (
        "external_id",
        "status",
        "currency",
        "total_amount",
        "buyer_name",
        "shipping_address",
        "placed_at",
        "channel_updated_at",
        "raw",
    )
    return [({k: getattr(o, k) for k in keep}, by_order.get(o.id, [])) for o in orders]


async def _bulk_insert(
    app: App, tenant_id: int, rows: list[tuple[dict[str, Any], list[dict[str, Any]]]]
) -> None:
    """The floor: the same orders and lines, inserted with SQLAlchemy Core in bulk."""
    async with app.db.write(tenant_id) as session:
        conn = Connection(
            channel="shopee",
            name="floor",
            site="SG",
            currency="SGD",
            credentials_encrypted=b"x",
            settings={},
            sync_state={},
        )
        session.add(conn)
        await session.flush()
        ids = (
            (
                await session.execute(
                    insert(Order).returning(Order.id),
                    [{**o, "connection_id": conn.id, "tenant_id": tenant_id} for o, _ in rows],
                )
            )
            .scalars()
            .all()
        )
        line_rows = [
            {**line, "order_id": order_id, "tenant_id": tenant_id}
            for order_id, (_, lines) in zip(ids, rows, strict=True)
            for line in lines
        ]
        if line_rows:
            await session.execute(insert(OrderLine), line_rows)


# --------------------------------------------------------------------------- GraphQL read


def graphql_workers() -> int:
    """Server processes for the read benchmark: what a deployment on this machine would run,
    one per CPU (``BENCH_WORKERS`` to choose)."""
    return int(os.environ.get("BENCH_WORKERS") or os.cpu_count() or 1)


async def graphql_read(kind: str, orders: int, seconds: float, tmp: Path) -> dict[str, Any]:
    """``orders(first: 50)`` with relations from the real server process under concurrent
    load, against the same data fetched with one raw SQL query."""
    from crossdock_shopee.emulator import ShopeeSellerEmulator

    emulator = ShopeeSellerEmulator(Faults())
    async with serve(emulator) as base_url, database(kind, tmp) as url:
        app = await build_app(url, tmp)
        tenant, conn_id, _ = await seeded_shop(app, emulator, base_url)
        account = next(iter(emulator.shops.values()))
        emulator.generate(account.shop_id, orders, seed=7, skus=SKUS)
        async with autoanalyze(url):
            await sync_to_the_end(app, tenant.id, conn_id, runs=10_000)
        statements = await _statements_per_request(app, tenant)
        floor = await _floor_latency(app, tenant.id, seconds)
        await app.close()
        port = _free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CROSSDOCK_")},
            "CROSSDOCK_DATABASE_URL": url,
            "CROSSDOCK_SECRET_KEY": SECRET,
            "CROSSDOCK_DATA_DIR": str(tmp),
            "CROSSDOCK_PLUGINS": "shopee,fx_ecb",
            "CROSSDOCK_ALLOWED_HOSTS": "127.0.0.1",  # the emulator serves on loopback
            "CROSSDOCK_PERIODIC": "0",
        }
        workers = graphql_workers()
        server = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "crossdock.cli",
            "serve",
            "--port",
            str(port),
            "--no-migrate",
            "--workers",
            str(workers),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        drain: asyncio.Task[None] | None = None
        try:
            drain = await _serving(server, workers)
            latencies, rps, server_cpu = await _load(
                f"http://127.0.0.1:{port}", tenant.key, seconds, cpu_of=server.pid
            )
        finally:
            server.terminate()
            await server.wait()
            if drain is not None:
                await drain
    p50, p99 = _pct(latencies, 50), _pct(latencies, 99)
    return {
        "value": round(rps, 1),
        "unit": "requests/s",
        "p50_ms": round(p50, 2),
        "p99_ms": round(p99, 2),
        "floor": round(floor["qps"], 1),
        "floor_p50_ms": round(floor["p50_ms"], 2),
        "ratio": round(p50 / floor["p50_ms"], 1) if floor["p50_ms"] else None,
        "statements_per_request": statements,
        "requests": len(latencies),
        "workers": workers,
        "server_cpu_ms_per_request": round(server_cpu * 1000 / len(latencies), 2)
        if server_cpu is not None and latencies
        else None,
    }


async def _serving(server: asyncio.subprocess.Process, workers: int) -> asyncio.Task[None]:
    """Wait until every worker of ``server`` has started, then keep reading its log.

    The load's keep-alive connections stay with the worker that accepted them: opened while
    a worker is still starting, they would all go to the others, and the run would measure
    one worker of two."""
    assert server.stderr is not None
    stderr = server.stderr
    started = 0
    deadline = time.monotonic() + 60
    while started < workers and time.monotonic() < deadline:
        line = await asyncio.wait_for(stderr.readline(), timeout=max(0.1, deadline - time.monotonic()))
        if not line:
            raise RuntimeError("the server exited during start-up")
        started += b"Application startup complete" in line

    async def drain() -> None:  # a full pipe would stall the server's logging
        while await stderr.readline():
            pass

    return asyncio.create_task(drain())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _pct(values: list[float], q: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))] if ordered else float("nan")


async def _statements_per_request(app: App, tenant: Any) -> int:
    from crossdock.api.app import create_app
    from crossdock.services.tenancy import forget_resolved_keys
    from crossdock.testing.kit import GraphQL

    counted: list[str] = []
    engine = app.db.engine.sync_engine

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        counted.append(statement)

    transport = httpx.ASGITransport(app=create_app(app, run_jobs=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        api = GraphQL(client)
        await api.data(PAGE_QUERY, key=tenant.key)
        forget_resolved_keys()  # count the key's lookup too, as its first request in a second does
        event.listen(engine, "before_cursor_execute", count)
        try:
            await api.data(PAGE_QUERY, key=tenant.key)
        finally:
            event.remove(engine, "before_cursor_execute", count)
    return len(counted)


async def _floor_latency(app: App, tenant_id: int, seconds: float) -> dict[str, float]:
    times = []
    deadline = time.perf_counter() + min(seconds, 5)
    async with app.db.engine.connect() as conn:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            (await conn.execute(text(FLOOR_SQL), {"t": tenant_id})).all()
            times.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": _pct(times, 50), "qps": len(times) / min(seconds, 5)}


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process and its children (the server's workers), from /proc."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        total = 0.0
        for p in [pid, *map(int, children)]:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total
    except (OSError, ValueError, IndexError):
        return None


async def _load(
    base: str, key: str, seconds: float, concurrency: int = 8, cpu_of: int | None = None
) -> tuple[list[float], float, float | None]:
    """Latencies and requests per second of ``concurrency`` clients, and the CPU seconds
    the process ``cpu_of`` (with its children) spent meanwhile."""
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as client:
        for _ in range(100):  # wait for the server
            try:
                if (await client.get("/health")).status_code == 200:
                    break
            except httpx.TransportError:
                await asyncio.sleep(0.1)

        async def warm_up() -> None:
            for _ in range(20):
                await client.post("/graphql", json={"query": PAGE_QUERY})

        await asyncio.gather(*(warm_up() for _ in range(concurrency)))  # every server worker
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await client.post("/graphql", json={"query": PAGE_QUERY})
                body = response.json()
                assert not body.get("errors"), body["errors"]
                latencies.append((time.perf_counter() - started) * 1000)

        cpu_before = _cpu_seconds(cpu_of) if cpu_of else None
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu_after = _cpu_seconds(cpu_of) if cpu_of else None
        cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
        return latencies, len(latencies) / elapsed, cpu


# --------------------------------------------------------------------------- reservations


async def reservations(kind: str, orders: int, tmp: Path) -> dict[str, Any]:
    """Orders racing for scarce stock, ingested concurrently: allocations per second, and
    the oversell count (reserved beyond on hand), which must be 0."""
    from crossdock.money import Money
    from crossdock.providers import Address, ChannelOrder, ChannelOrderLine
    from crossdock.services.orders import ingest_orders

    async with database(kind, tmp) as url:
        app = await build_app(url, tmp)
        from crossdock_shopee.emulator import ShopeeSellerEmulator

        emulator = ShopeeSellerEmulator(Faults())
        stock = orders // 4  # a quarter of the demand can be met
        async with serve(emulator) as base_url:
            tenant, conn_id, _ = await seeded_shop(app, emulator, base_url, stock=stock)
        # the same SKU sold on several shops at once: orders from different connections
        # race for the same stock level (one connection's orders queue on its own lock)
        conn_ids = [conn_id]
        async with app.db.write(tenant.id, slug=tenant.slug) as session:
            first = await session.get(Connection, conn_id)
            assert first is not None
            for n in range(1, SHOPS):
                copy = Connection(
                    channel=first.channel,
                    name=f"bench {n}",
                    site=first.site,
                    country=first.country,
                    currency=first.currency,
                    base_url=first.base_url,
                    credentials_encrypted=first.credentials_encrypted,
                    settings=dict(first.settings),
                    sync_state={},
                )
                session.add(copy)
                await session.flush()  # its orders' SKU is the tenant's own: no listing needed
                conn_ids.append(copy.id)
        now = datetime.now(UTC)
        address = Address(name="B", line1="1 Raffles Place", postal_code="048616", country="SG")
        batch = [
            ChannelOrder(
                external_id=f"R-{i}",
                status="pending",
                channel_status="READY_TO_SHIP",
                placed_at=now,
                updated_at=now,
                total=Money(Decimal("10"), "SGD"),
                buyer_name=f"buyer {i}",
                shipping_address=address,
                payment_status="paid",
                lines=[
                    ChannelOrderLine(
                        external_id=f"R-{i}-1",
                        sku=SKUS[0],
                        quantity=1,
                        unit_price=Money(Decimal("10"), "SGD"),
                    )
                ],
            )
            for i in range(orders)
        ]

        async def one(i: int, order: ChannelOrder) -> None:
            async with app.unit_of_work(tenant.id, tenant.slug) as uow:
                session = uow.session
                conn = await session.get(Connection, conn_ids[i % SHOPS])
                assert conn is not None
                await ingest_orders(uow, conn, [order])

        started = time.perf_counter()
        semaphore = asyncio.Semaphore(16)

        async def bounded(i: int, order: ChannelOrder) -> None:
            async with semaphore:
                await one(i, order)

        await asyncio.gather(*(bounded(i, o) for i, o in enumerate(batch)))
        elapsed = time.perf_counter() - started
        async with app.db.tenant(tenant.id) as session:
            allocated = await session.scalar(
                select(func.count()).select_from(Order).where(Order.status == "allocated")
            )
            oversold = await session.scalar(
                select(func.count()).select_from(StockLevel).where(StockLevel.reserved > StockLevel.on_hand)
            )
        await app.close()
    return {
        "value": round(orders / elapsed, 1),
        "unit": "orders/s",
        "allocated": allocated,
        "stock": stock,
        "oversold": oversold,
        "floor": None,
        "ratio": None,
    }


# --------------------------------------------------------------------------- memory


def memory(kind: str, sizes: list[int]) -> dict[str, Any]:
    """Peak RSS of the whole ingest at each size, each in a fresh process (the peak is a
    process's lifetime figure). The smallest size is the floor: flat memory means a ratio
    near 1."""
    peaks: dict[str, float] = {}
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            out = Path(tmp) / f"{size}.json"
            subprocess.run(
                [
                    *(sys.executable, __file__, "--db", kind, "--only", "ingest", "--orders", str(size)),
                    *("--no-floor", "--out", str(out)),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            result = json.loads(out.read_text())["results"][f"ingest.{kind}"]
            peaks[str(size)], rates[str(size)] = result["peak_rss_mb"], result["value"]
    low, high = str(min(sizes)), str(max(sizes))
    return {
        "value": peaks[high],
        "unit": f"MB peak RSS at {int(high):,} orders",
        "floor": peaks[low],
        "ratio": round(peaks[high] / peaks[low], 2),
        "peak_rss_mb": peaks,
        "orders_per_s": rates,
    }


# --------------------------------------------------------------------------- main


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("httpx", "httpcore", "crossdock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--orders", type=int, default=int(os.environ.get("BENCH_ORDERS", "2000")))
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", "10")))
    parser.add_argument("--only", default="ingest,graphql,reservations,memory")
    parser.add_argument("--memory-orders", default=os.environ.get("BENCH_MEMORY_ORDERS", "10000,100000"))
    parser.add_argument("--no-floor", action="store_true", help="skip the ingest floor")
    parser.add_argument("--profile-ingest", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "results.json"))
    args = parser.parse_args()
    kinds = [k for k in args.db.split(",") if k == "sqlite" or _pg_up()]
    results: dict[str, Any] = {}

    async def run(tmp: Path) -> None:
        for kind in kinds:
            if "ingest" in args.only:
                results[f"ingest.{kind}"] = await ingest(
                    kind, args.orders, tmp, args.profile_ingest, floor=not args.no_floor
                )
            if "graphql" in args.only:
                results[f"graphql_read.{kind}"] = await graphql_read(
                    kind, min(args.orders, 2000), args.seconds, tmp
                )
            if "reservations" in args.only and kind == "postgresql":
                results[f"reservations.{kind}"] = await reservations(kind, 800, tmp)
            if "memory" in args.only:
                sizes = [int(n) for n in args.memory_orders.split(",")]
                results[f"ingest_memory.{kind}"] = await asyncio.to_thread(memory, kind, sizes)

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(Path(tmp)))
    profile = {k: v.pop("profile") for k, v in results.items() if "profile" in v}
    report = {"machine": machine(), "results": results}
    Path(args.out).write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(table(report))
    for key, text_ in profile.items():
        print(f"\n--- profile of {key} ---\n{text_}")


def table(report: dict[str, Any]) -> str:
    rows = [("benchmark", "figure", "floor (same run)", "ratio", "notes")]
    for key, r in report["results"].items():
        notes = []
        if "p50_ms" in r:
            notes.append(
                f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, {r['statements_per_request']} SQL/request"
            )
        if "oversold" in r:
            notes.append(f"oversold {r['oversold']}, {r['allocated']} allocated of stock {r['stock']}")
        if "orders_per_s" in r:
            notes.append(
                "; ".join(
                    f"{int(n):,} orders: {mb} MB, {r['orders_per_s'][n]} orders/s"
                    for n, mb in r["peak_rss_mb"].items()
                )
            )
        elif "peak_rss_mb" in r:
            notes.append(f"{r['orders']} orders, RSS {r['start_rss_mb']} -> peak {r['peak_rss_mb']} MB")
        rows.append(
            (
                key,
                f"{r['value']} {r['unit']}",
                "-" if r.get("floor") is None else str(r["floor"]),
                "-" if r.get("ratio") is None else f"{r['ratio']}x",
                "; ".join(notes),
            )
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(5)]
    return "\n".join(" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows)


if __name__ == "__main__":
    main()
