"""The analytics benchmark (issue 16, "Scale"): a year of a large shop's history, its figures
made the way production makes them, and the reads an operator runs on them, each next to a
floor measured in the same run on the same machine.

    python bench/analytics.py [--orders 1000000] [--db postgresql] [--workers 2]
    python bench/analytics.py --orders 20000            # a quick check
    python bench/analytics.py --keep / --reuse          # keep the database / measure it again

1. **load**: one tenant with four shops (USD, SGD, EUR, GBP), ~1,000 SKUs with cost layers,
   ``--orders`` orders over 365 days with 1-3 lines, payouts with fee lines for ~80 % of
   them, refunds (~3 %) and returns, shipments, buyer conversations, stock per day, ECB-style
   reference rates in ``fx_rates``; and a second small tenant, so every read is scoped.
   Written with COPY (``asyncpg.copy_records_to_table``), with the orders' ``analytics_marks``
   as ingest leaves them. Then the figures are made as production makes them:
   ``analytics.refresh`` batch after batch by ``--workers`` concurrent workers, each in its
   own transaction loop (the ``analytics_refresh`` job), and ``ads.ingest_ads`` for a year of
   PRODUCT-level ad metrics of ~300 advertised SKUs (a page per shop and fortnight).
2. **reads** (p50/p95 over ``--runs``, CPU per run; through the service functions on a tenant
   session, then through GraphQL over HTTP to a real ``crossdock serve``): a month of profit by
   SKU, the weekly report (``make_report`` in a write session, committed, as the
   ``report_make`` job does), the KPI dashboard of the month. Floor: the same aggregation as
   one hand-written SQL statement over the rollup tables, sent with asyncpg.
3. **ingest overhead**: ``--ingest-orders`` new orders through ``orders.ingest_orders`` in pages
   of 100 on one connection, then the refresh of their figures on one connection:
   ``overhead = refresh time / ingest time`` (target at most 0.20).

Writes ``bench/analytics.json`` and prints a table (keys in bench/README.md). PostgreSQL only:
the load uses COPY, and SQLite is not where a million orders live.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import logging
import math
import os
import random
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict, namedtuple
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from sqlalchemy import event, select, text, update

from crossdock.bootstrap import App
from crossdock.config import Settings
from crossdock.db.migrate import upgrade
from crossdock.db.models import Connection, Organization, ReportKind, Tenant, Warehouse
from crossdock.db.models.analytics import ORDER_COUNTS, SKU_TO_DAILY
from crossdock.money import Money
from crossdock.providers import (
    AdCampaign,
    Address,
    AdLevel,
    AdMetric,
    AdReportPage,
    AdState,
    AdType,
    ChannelOrder,
    ChannelOrderLine,
)
from crossdock.services import analytics, analytics_read, reports, tenancy
from crossdock.services.ads import ingest_ads
from crossdock.services.fx import DayRates
from crossdock.services.orders import ingest_orders
from crossdock.testing.kit import make_tenant
from crossdock.testing.processes import Deployment

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import PG_ADMIN, SECRET, _cpu_seconds, _pct, machine

ROOT = Path(__file__).resolve().parent
#: the database the run makes (``--dbname`` to choose another)
DB_NAME = "crossdock_bench_analytics"
SEED = 16
DAYS = 365
ZONE = ZoneInfo("Asia/Singapore")
BASE = "USD"
#: the ECB's reference rates per 1 EUR around which the made-up history wanders
FX_START = {"USD": Decimal("1.0850"), "SGD": Decimal("1.4550"), "GBP": Decimal("0.85600")}
ECB_SOURCE = "ECB euro reference rates"  # what crossdock_fx_ecb stores as the source
TARGET_MS = 200.0
OVERHEAD_TARGET = 0.20
#: orders generated and written per round of COPYs
CHUNK = 20_000
log = logging.getLogger("bench.analytics")


@dataclass(frozen=True)
class Shop:
    """One connection of the bench tenant: its market, its share of the orders, the fees its
    payouts charge and the fee schedule estimates use until they land."""

    code: str
    channel: str
    country: str
    currency: str
    share: float
    commission: Decimal
    fixed_fee: Decimal
    #: orders the channel fulfils (a fulfilment fee, no shipment of ours)
    fba_share: float = 0.0
    #: tax included in the price (VAT/GST); None: tax on top (US)
    tax_rate: Decimal | None = None
    #: the payout charges shipping (Shopee); else the connection's estimate applies
    shipping_line: Decimal | None = None
    postal_code: str = "10001"
    warehouse: str = "US1"

    @property
    def fees(self) -> dict[str, Any]:
        return {
            "fees": {
                "commission_rate": str(self.commission),
                "fixed_per_order": str(self.fixed_fee),
                "fulfilment_per_unit": "3.20",
                "shipping_per_order": "4.50",
            }
        }


SHOPS = [
    Shop("AMZ-US", "amazon", "US", "USD", 0.40, Decimal("0.15"), Decimal("0.30"), fba_share=0.35),
    Shop(
        "SHP-SG", "shopee", "SG", "SGD", 0.30, Decimal("0.12"), Decimal("0.40"),
        tax_rate=Decimal("0.09"), shipping_line=Decimal("2.80"), postal_code="048616", warehouse="SG1",
    ),
    Shop(
        "AMZ-DE", "amazon", "DE", "EUR", 0.20, Decimal("0.15"), Decimal("0.25"), fba_share=0.40,
        tax_rate=Decimal("0.19"), postal_code="10117", warehouse="EU1",
    ),
    Shop(
        "TTS-GB", "tiktok", "GB", "GBP", 0.10, Decimal("0.09"), Decimal("0.20"),
        tax_rate=Decimal("0.20"), postal_code="EC1A 1BB", warehouse="EU1",
    ),
]  # fmt: skip
WAREHOUSES = [("US1", "US", ["US"]), ("SG1", "SG", ["SG"]), ("EU1", "DE", ["DE", "GB", "FR", "NL"])]


def _rows(table: str, columns: str) -> Any:
    """A row of ``table``: a tuple COPY takes as it is, its fields named as the columns."""
    return namedtuple(table, columns.split())


class R:
    products = _rows("products", "id title status tenant_id created_at updated_at")
    variants = _rows(
        "variants",
        "id product_id sku title options cost_amount cost_currency tenant_id created_at updated_at",
    )
    cost_layers = _rows(
        "cost_layers",
        "id variant_id warehouse_id quantity purchase_cost freight_cost duty_cost unit_cost currency "
        "reference starts_at_unit received_at tenant_id",
    )
    stock_levels = _rows(
        "stock_levels", "id variant_id warehouse_id on_hand reserved low_stock_threshold updated_at tenant_id"
    )
    stock_daily = _rows("stock_daily", "id day variant_id on_hand available stocked_out tenant_id")
    listings = _rows(
        "listings",
        "id connection_id variant_id channel_sku external_id price_amount price_currency status issues "
        "tenant_id created_at updated_at",
    )
    settlements = _rows(
        "settlements",
        "id connection_id external_id status opened_at closed_at paid_at total_amount currency tenant_id "
        "created_at updated_at",
    )
    orders = _rows(
        "orders",
        "id connection_id external_id status channel_status payment_status currency total_amount buyer_name "
        "buyer_email shipping_address destination_country fulfilled_by_channel placed_at ship_by "
        "channel_updated_at raw base_currency base_total_amount fx_rate fx_day tax_amount tenant_id "
        "created_at updated_at",
    )
    order_lines = _rows(
        "order_lines",
        "id order_id external_id variant_id sku title quantity unit_price_amount tax_rate tax_amount "
        "tax_scheme tax_collected_by tax_jurisdiction tenant_id",
    )
    order_holds = _rows("order_holds", "id order_id reason message created_at tenant_id")
    shipments = _rows(
        "shipments",
        "id order_id warehouse_id status carrier service tracking_number shipped_at confirmed_at "
        "tracking_status last_event_at delivered_at tenant_id created_at updated_at",
    )
    refunds = _rows(
        "refunds", "id order_id amount currency reason created_at status attempts updated_at tenant_id"
    )
    order_returns = _rows(
        "order_returns", "id order_id order_line_id warehouse_id quantity condition created_at tenant_id"
    )
    settlement_lines = _rows(
        "settlement_lines",
        "id settlement_id order_id order_external_id kind amount currency description tenant_id",
    )
    conversations = _rows(
        "conversations",
        "id connection_id external_id buyer_external_id buyer_name order_id order_external_id language "
        "status last_message_at awaiting_since reply_due_at tenant_id created_at updated_at",
    )
    messages = _rows("messages", "id conversation_id external_id direction body sent_at delivery tenant_id")
    analytics_marks = _rows("analytics_marks", "id order_id created_at tenant_id")
    fx_rates = _rows("fx_rates", "id day base currency rate source")


@dataclass
class Plan:
    """What one tenant's history holds."""

    slug: str
    orders: int
    skus: int
    shops: list[Shop]
    advertised: int
    conversation_share: float = 0.04


@dataclass
class Loaded:
    """A loaded tenant: what the later steps need of it."""

    tenant_id: int
    slug: str
    key: str
    connections: dict[str, int]  # shop code -> connection id
    variants: dict[str, int]  # sku -> variant id
    listed: dict[str, list[str]]  # shop code -> SKUs listed there
    prices: dict[tuple[str, str], Decimal]  # (shop code, sku) -> unit price
    buyers: int
    day_from: date
    day_to: date


def _q(value: float | Decimal, places: str = "0.01") -> Decimal:
    return Decimal(str(value)).quantize(Decimal(places), rounding=ROUND_HALF_EVEN)


# --------------------------------------------------------------------------- database


def _children() -> list[str]:
    """This process's children (the server a Deployment started), from /proc."""
    return Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()


def _dsn(name: str) -> str:
    return f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"


@asynccontextmanager
async def database(reuse: bool, keep: bool) -> AsyncIterator[str]:
    """``crossdock_bench_analytics``, made afresh (or reused), dropped afterwards unless kept."""
    admin = await asyncpg.connect(PG_ADMIN)
    exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DB_NAME)
    if not reuse or not exists:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    await admin.close()
    try:
        yield _dsn(DB_NAME)
    finally:
        if not keep:
            admin = await asyncpg.connect(PG_ADMIN)
            await admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
            await admin.close()


def _settings(dsn: str, tmp: Path) -> Settings:
    return Settings.from_env(
        {
            "CROSSDOCK_DATABASE_URL": dsn,
            "CROSSDOCK_SECRET_KEY": SECRET,
            "CROSSDOCK_DATA_DIR": str(tmp),
            # no rate plugin: the reference rates are the ones the load stores in fx_rates,
            # as crossdock_fx_ecb would have stored them
            "CROSSDOCK_PLUGINS": "shopee",
        }
    )


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of one process, from /proc (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


async def _db_cpu(conn: asyncpg.Connection) -> float:
    """CPU seconds of the PostgreSQL backends on the bench database (same machine): what the
    database spent, beside this process's own CPU."""
    pids = [
        pid for (pid,) in await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", DB_NAME)
    ]
    return sum(_proc_cpu(pid) for pid in pids)


@asynccontextmanager
async def autovacuum(dsn: str, every: float = 10.0) -> AsyncIterator[None]:
    """Stand in for PostgreSQL's autovacuum where the server has it off (as on the machine
    these figures come from): while the figures are made, the marks taken are vacuumed and
    the growing analytics tables analyzed, as autovacuum would; without it the planner
    believes them empty and the marks' index fills with dead entries."""
    conn = await asyncpg.connect(dsn)
    if await conn.fetchval("SHOW autovacuum") == "on":
        await conn.close()
        yield
        return

    async def loop() -> None:
        while True:
            await asyncio.sleep(every)
            await conn.execute("VACUUM (ANALYZE) analytics_marks")
            await conn.execute(
                "ANALYZE analytics_lines, analytics_orders, analytics_sku_daily, analytics_daily"
            )

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await conn.close()


class Statements:
    """Counts the SQL statements of the app's engine in a block, with their time by kind
    (verb and first table; an INSERT ... ON CONFLICT is an UPSERT)."""

    KIND = re.compile(r"^\s*(\w+).*?\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", re.S | re.I)

    def __init__(self, app: App) -> None:
        self.engine = app.db.engine.sync_engine
        self.count = 0
        self.by_kind: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
        self._started: dict[int, float] = {}

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self._started[id(cursor)] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        took = time.perf_counter() - self._started.pop(id(cursor), time.perf_counter())
        self.count += 1
        match = self.KIND.match(statement)
        kind = f"{match.group(1).upper()} {match.group(2)}" if match else statement.split()[0].upper()
        if kind.startswith("INSERT") and "ON CONFLICT" in statement:
            kind = kind.replace("INSERT", "UPSERT")
        entry = self.by_kind[kind]
        entry[0] += 1
        entry[1] += took

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)

    def top(self, n: int = 8) -> list[dict[str, Any]]:
        ranked = sorted(self.by_kind.items(), key=lambda kv: -kv[1][1])[:n]
        return [{"kind": k, "count": int(c), "seconds": round(s, 2)} for k, (c, s) in ranked]


# --------------------------------------------------------------------------- reference data


def fx_history(first: date, last: date, rng: random.Random) -> dict[date, dict[str, Decimal]]:
    """Published days (TARGET working days: weekdays here) with their rates per 1 EUR."""
    rates = dict(FX_START)
    days: dict[date, dict[str, Decimal]] = {}
    day = first
    while day <= last:
        if day.weekday() < 5:
            for currency, rate in rates.items():
                places = "0.00001" if currency == "GBP" else "0.0001"
                rates[currency] = _q(float(rate) * (1 + rng.gauss(0, 0.003)), places)
            days[day] = {"EUR": Decimal(1), **rates}
        day += timedelta(days=1)
    return days


class Rates:
    """Each day's rates as ``fx.rates_on`` finds them: the latest publication on or before."""

    def __init__(self, history: dict[date, dict[str, Decimal]]) -> None:
        self.history = history
        self.published = sorted(history)
        self._by_day: dict[date, DayRates] = {}

    def on(self, day: date) -> DayRates:
        found = self._by_day.get(day)
        if found is None:
            published = self.published[bisect.bisect_right(self.published, day) - 1]
            found = DayRates(day, published, ECB_SOURCE, self.history[published])
            self._by_day[day] = found
        return found


class Ids:
    """Primary keys handed out by the load (the sequences are moved past them afterwards)."""

    def __init__(self) -> None:
        self.next: dict[str, int] = defaultdict(lambda: 1)

    def take(self, table: str, n: int = 1) -> int:
        first = self.next[table]
        self.next[table] = first + n
        return first


# --------------------------------------------------------------------------- the load


class Batch:
    """Rows waiting for COPY, per table, written in the order the foreign keys ask."""

    ORDER = (
        *("fx_rates", "products", "variants", "cost_layers", "stock_levels", "stock_daily", "listings"),
        *("settlements", "orders", "order_lines", "order_holds", "shipments", "refunds", "order_returns"),
        *("settlement_lines", "conversations", "messages", "analytics_marks"),
    )

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple[Any, ...]]] = defaultdict(list)

    def add(self, row: tuple[Any, ...]) -> None:
        self.rows[type(row).__name__].append(row)

    async def write(self, conn: asyncpg.Connection, counts: Counter[str]) -> None:
        for table in self.ORDER:
            rows = self.rows.pop(table, None)
            if rows:
                await conn.copy_records_to_table(table, columns=list(type(rows[0])._fields), records=rows)
                counts[table] += len(rows)
        assert not self.rows, f"no place in the order for {list(self.rows)}"


class Loader:
    """Makes up a tenant's history and writes it with COPY, a chunk of orders at a time."""

    def __init__(self, app: App, conn: asyncpg.Connection, rates: Rates, now: datetime) -> None:
        self.app, self.conn, self.rates, self.now = app, conn, rates, now
        self.ids = Ids()
        self.counts: Counter[str] = Counter()

    async def tenant(self, plan: Plan, rng: random.Random, day_to: date) -> Loaded:
        app, ids = self.app, self.ids
        made = await make_tenant(app, slug=plan.slug)
        settings = {
            "reporting_currency": BASE,
            "timezone": ZONE.key,
            "analytics": {"cogs_method": "weighted_average"},
            # the reads measure the server, not the query-cost throttle
            "api": {"cost_bucket": 10**9, "cost_restore_rate": 10**9},
        }
        async with app.db.write(system=True) as session:
            await session.execute(update(Tenant).where(Tenant.id == made.id).values(settings=settings))
        connections: dict[str, int] = {}
        warehouses: dict[str, int] = {}
        async with app.db.write(made.id, slug=made.slug) as session:
            for code, country, serves in WAREHOUSES:
                wh = Warehouse(code=code, name=code, country=country, serves_countries=serves)
                session.add(wh)
                await session.flush()
                warehouses[code] = wh.id
            for shop in plan.shops:
                conn = Connection(
                    channel=shop.channel,
                    name=shop.code.lower(),
                    site=shop.country,
                    country=shop.country,
                    currency=shop.currency,
                    credentials_encrypted=app.vault.encrypt({}),
                    settings=shop.fees,
                    sync_state={},
                )
                session.add(conn)
                await session.flush()
                connections[shop.code] = conn.id
        tid = made.id
        day_from = day_to - timedelta(days=DAYS - 1)
        start = datetime.combine(day_from, datetime.min.time(), tzinfo=ZONE).astimezone(UTC)
        batch = Batch()
        # the catalog: SKUs priced 5-200 USD, popularity falling off as sales do
        skus = [f"{plan.slug.removeprefix('bench-')[:4].upper()}-{i:04d}" for i in range(plan.skus)]
        base_price = {s: _q(math.exp(rng.uniform(math.log(5), math.log(200)))) for s in skus}
        popularity = {s: 1 / (rank + 8) ** 0.9 for rank, s in enumerate(rng.sample(skus, len(skus)))}
        variants: dict[str, int] = {}
        for i, sku in enumerate(skus):
            if i % 10 == 0:
                product = ids.take("products")
                batch.add(R.products(product, f"Bench product {i // 10}", "active", tid, start, start))
            variants[sku] = ids.take("variants")
            batch.add(
                R.variants(
                    id=variants[sku],
                    product_id=product,
                    sku=sku,
                    title=f"Item {sku}",
                    options="{}",
                    cost_amount=_q(base_price[sku] * Decimal("0.35")),
                    cost_currency=BASE,
                    tenant_id=tid,
                    created_at=start,
                    updated_at=start,
                )
            )
            # landed costs: a receipt before the year, a second one during it for half the SKUs
            receipts = [(start - timedelta(days=30), base_price[sku] * Decimal(str(rng.uniform(0.25, 0.45))))]
            if rng.random() < 0.5:
                receipts.append(
                    (start + timedelta(days=rng.uniform(60, 300)), receipts[0][1] * Decimal("1.08"))
                )
            for n, (at, purchase) in enumerate(receipts):
                cost = [
                    _q(purchase * share, "0.0001") for share in (Decimal(1), Decimal("0.08"), Decimal("0.04"))
                ]
                batch.add(
                    R.cost_layers(
                        id=ids.take("cost_layers"),
                        variant_id=variants[sku],
                        warehouse_id=warehouses["SG1"],
                        quantity=5000,
                        purchase_cost=cost[0],
                        freight_cost=cost[1],
                        duty_cost=cost[2],
                        unit_cost=sum(cost),
                        currency=BASE,
                        reference=f"PO-{variants[sku]}-{n}",
                        starts_at_unit=5000 * n,
                        received_at=at,
                        tenant_id=tid,
                    )
                )
            for wh in warehouses.values():
                batch.add(
                    R.stock_levels(
                        ids.take("stock_levels"), variants[sku], wh, rng.randint(0, 400), 0, 20, start, tid
                    )
                )
        # each SKU listed on some of the shops (at least one), at a price in the shop's currency
        listed: dict[str, list[str]] = {shop.code: [] for shop in plan.shops}
        prices: dict[tuple[str, str], Decimal] = {}
        for sku in skus:
            for shop in [s for s in plan.shops if rng.random() < 0.65] or [rng.choice(plan.shops)]:
                local = base_price[sku] / self.rates.on(day_from).rate(shop.currency, BASE)
                price = max(
                    Decimal("1.99"), _q(round(float(local) * rng.uniform(1.0, 1.1))) - Decimal("0.01")
                )
                listed[shop.code].append(sku)
                prices[(shop.code, sku)] = price
                batch.add(
                    R.listings(
                        id=ids.take("listings"),
                        connection_id=connections[shop.code],
                        variant_id=variants[sku],
                        channel_sku=sku,
                        external_id=f"L-{shop.code}-{sku}",
                        price_amount=price,
                        price_currency=shop.currency,
                        status="active",
                        issues="[]",
                        tenant_id=tid,
                        created_at=start,
                        updated_at=start,
                    )
                )
        loaded = Loaded(
            tid, made.slug, made.key, connections, variants, listed, prices,
            buyers=max(50, int(plan.orders * 0.45)), day_from=day_from, day_to=day_to,
        )  # fmt: skip
        self._stock_days(batch, loaded, rng)
        await batch.write(self.conn, self.counts)
        await self._orders(plan, loaded, rng, popularity, warehouses)
        return loaded

    def _stock_days(self, batch: Batch, t: Loaded, rng: random.Random) -> None:
        """What ``stock_snapshot`` leaves: each variant's stock on each day, some days out."""
        for variant_id in t.variants.values():
            level, out_rate = rng.randint(50, 600), rng.choice([0.0, 0.01, 0.03, 0.08])
            for n in range(DAYS):
                out = rng.random() < out_rate
                level = 0 if out else max(0, level + rng.randint(-12, 10)) or rng.randint(100, 500)
                day = t.day_from + timedelta(days=n)
                batch.add(
                    R.stock_daily(
                        self.ids.take("stock_daily"), day, variant_id, level, level, out, t.tenant_id
                    )
                )

    async def _orders(
        self,
        plan: Plan,
        t: Loaded,
        rng: random.Random,
        popularity: dict[str, float],
        warehouses: dict[str, int],
    ) -> None:
        tid = t.tenant_id
        start = datetime.combine(t.day_from, datetime.min.time(), tzinfo=ZONE).astimezone(UTC)
        end = datetime.combine(t.day_to + timedelta(days=1), datetime.min.time(), tzinfo=ZONE).astimezone(UTC)
        batch = Batch()
        # weekly payouts per shop; their totals are filled in once their lines are written
        payout: dict[tuple[str, int], int] = {}
        for shop in plan.shops:
            for week in range(DAYS // 7 + 4):
                opened = start + timedelta(weeks=week)
                payout[(shop.code, week)] = sid = self.ids.take("settlements")
                batch.add(
                    R.settlements(
                        id=sid,
                        connection_id=t.connections[shop.code],
                        external_id=f"PAYOUT-{shop.code}-{week:03d}",
                        status="paid",
                        opened_at=opened,
                        closed_at=opened + timedelta(days=7),
                        paid_at=opened + timedelta(days=10),
                        total_amount=Decimal(0),
                        currency=shop.currency,
                        tenant_id=tid,
                        created_at=opened + timedelta(days=7),
                        updated_at=opened + timedelta(days=10),
                    )
                )
        await batch.write(self.conn, self.counts)
        order = _OrderMaker(self, plan, t, rng, popularity, warehouses, payout, start)
        span = (end - start).total_seconds()
        # ids follow the time the orders were placed, as they arrive
        times = sorted(start + timedelta(seconds=rng.random() * span) for _ in range(plan.orders))
        for first in range(0, plan.orders, CHUNK):
            for n in range(first, min(first + CHUNK, plan.orders)):
                order.make(batch, n, times[n])
            await batch.write(self.conn, self.counts)
        await self.conn.execute(
            """UPDATE settlements s SET total_amount = coalesce(
                 (SELECT sum(amount) FROM settlement_lines l WHERE l.settlement_id = s.id), 0)
               WHERE s.tenant_id = $1""",
            tid,
        )


class _OrderMaker:
    """One order at a time: its lines, and what became of it (shipment, payout, refund,
    return, a buyer's question)."""

    def __init__(
        self,
        loader: Loader,
        plan: Plan,
        t: Loaded,
        rng: random.Random,
        popularity: dict[str, float],
        warehouses: dict[str, int],
        payout: dict[tuple[str, int], int],
        start: datetime,
    ) -> None:
        self.ids, self.rates, self.now = loader.ids, loader.rates, loader.now
        self.plan, self.t, self.rng, self.warehouses, self.payout, self.start = (
            plan, t, rng, warehouses, payout, start
        )  # fmt: skip
        self.shares = [shop.share for shop in plan.shops]
        self.picks = {
            shop.code: (t.listed[shop.code], list(_cumulative([popularity[s] for s in t.listed[shop.code]])))
            for shop in plan.shops
        }
        self.addresses = {
            shop.code: json.dumps(
                {
                    "line1": "1 Bench Street",
                    "city": "Bench",
                    "postal_code": shop.postal_code,
                    "country": shop.country,
                }
            )
            for shop in plan.shops
        }

    def make(self, batch: Batch, n: int, placed: datetime) -> None:
        rng, t, ids, tid = self.rng, self.t, self.ids, self.t.tenant_id
        shop = rng.choices(self.plan.shops, weights=self.shares)[0]
        oid = ids.take("orders")
        external = f"{shop.code}-{n:08d}"
        age = (self.now - placed).total_seconds() / 86400
        listed, weights = self.picks[shop.code]
        skus = list(
            dict.fromkeys(rng.choices(listed, cum_weights=weights, k=rng.choices((1, 2, 3), (70, 22, 8))[0]))
        )
        fba = rng.random() < shop.fba_share
        r = rng.random()
        if age < 2:
            status = "on_hold" if r > 0.998 else "allocated" if r < 0.6 else "shipped"
        else:
            status = (
                "cancelled" if r < 0.02 else "refunded" if r < 0.05 else "delivered" if age > 7 else "shipped"
            )
        buyer = rng.randrange(t.buyers)
        lines = []
        for i, sku in enumerate(skus):
            quantity = rng.choices((1, 2, 3), (85, 12, 3))[0]
            price = t.prices[(shop.code, sku)]
            tax = _q(price * quantity * shop.tax_rate / (1 + shop.tax_rate)) if shop.tax_rate else None
            lines.append(
                R.order_lines(
                    id=ids.take("order_lines"),
                    order_id=oid,
                    external_id=f"{external}-{i + 1}",
                    variant_id=t.variants[sku],
                    sku=sku,
                    title=f"Item {sku}",
                    quantity=quantity,
                    unit_price_amount=price,
                    tax_rate=shop.tax_rate,
                    tax_amount=tax,
                    tax_scheme="vat" if tax else None,
                    tax_collected_by="marketplace" if tax else None,
                    tax_jurisdiction=shop.country if tax else None,
                    tenant_id=tid,
                )
            )
        total = sum((line.unit_price_amount * line.quantity for line in lines), Decimal(0))
        taxed = sum((line.tax_amount or 0 for line in lines), Decimal(0))
        # the total in the reporting currency at the rate of the day, as ingest stores it
        rates = self.rates.on(placed.date())
        rate = rates.rate(shop.currency, BASE)
        batch.add(
            R.orders(
                id=oid,
                connection_id=t.connections[shop.code],
                external_id=external,
                status=status,
                channel_status=status.upper(),
                payment_status="paid",
                currency=shop.currency,
                total_amount=total,
                buyer_name=f"Buyer {buyer}",
                buyer_email=f"buyer{buyer}@example.com",
                shipping_address=self.addresses[shop.code],
                destination_country=shop.country,
                fulfilled_by_channel=fba,
                placed_at=placed,
                ship_by=placed + timedelta(days=2),
                channel_updated_at=placed + timedelta(minutes=5),
                raw="{}",
                base_currency=BASE,
                base_total_amount=Money(total * rate, BASE).rounded().amount,
                fx_rate=rate,
                fx_day=rates.published,
                tax_amount=taxed or None,
                tenant_id=tid,
                created_at=placed + timedelta(minutes=1),
                updated_at=placed + timedelta(minutes=5),
            )
        )
        for line in lines:
            batch.add(line)
        # what ingest leaves beside each order it stores: a mark to make its figures
        batch.add(R.analytics_marks(ids.take("analytics_marks"), oid, placed + timedelta(minutes=1), tid))
        if status == "on_hold":
            batch.add(R.order_holds(ids.take("order_holds"), oid, "address_invalid", "postcode", placed, tid))
        if status in ("shipped", "delivered", "refunded") and not fba:
            at = placed + timedelta(hours=rng.lognormvariate(math.log(20), 0.45))  # some after ship-by
            tracked = rng.random() < 0.97
            batch.add(
                R.shipments(
                    id=ids.take("shipments"),
                    order_id=oid,
                    warehouse_id=self.warehouses[shop.warehouse],
                    status="shipped",
                    carrier="ninjavan",
                    service="standard",
                    tracking_number=f"TRK{oid:010d}",
                    shipped_at=at,
                    confirmed_at=at + timedelta(hours=1) if tracked else None,
                    tracking_status="delivered" if status == "delivered" else "in_transit",
                    last_event_at=at + timedelta(hours=6) if tracked else None,
                    delivered_at=at + timedelta(days=3) if status == "delivered" else None,
                    tenant_id=tid,
                    created_at=at,
                    updated_at=at,
                )
            )
        refund = Decimal(0)
        if status == "refunded":
            refund = total if rng.random() < 0.7 else lines[0].unit_price_amount
            at = min(placed + timedelta(days=rng.uniform(5, 20)), self.now - timedelta(minutes=5))
            batch.add(
                R.refunds(
                    ids.take("refunds"),
                    oid,
                    refund,
                    shop.currency,
                    "buyer return",
                    at,
                    "succeeded",
                    0,
                    at,
                    tid,
                )
            )
            if rng.random() < 0.5:
                condition = "sellable" if rng.random() < 0.75 else "damaged"
                wh = self.warehouses[shop.warehouse]
                batch.add(
                    R.order_returns(ids.take("order_returns"), oid, lines[0].id, wh, 1, condition, at, tid)
                )
        # the payout: ~80 % of the orders are old enough and paid out
        if status != "cancelled" and age > 14 and rng.random() < 0.84:
            sid = self.payout[(shop.code, min(int((placed - self.start).days // 7) + 1, DAYS // 7 + 3))]
            units = sum(line.quantity for line in lines)
            charges = [
                ("sale", total, "Sale"),
                ("commission", -_q(total * shop.commission), "Referral fee"),
                ("other", -shop.fixed_fee, "Closing fee"),
            ]
            if fba:
                charges.append(("fulfilment_fee", -Decimal("3.20") * units, "Fulfilment fee"))
            if shop.shipping_line is not None:
                charges.append(("shipping", -shop.shipping_line, "Shipping fee"))
            if refund:
                charges.append(("refund", -refund, "Refund"))
            for kind, amount, text_ in charges:
                batch.add(
                    R.settlement_lines(
                        ids.take("settlement_lines"),
                        sid,
                        oid,
                        external,
                        kind,
                        amount,
                        shop.currency,
                        text_,
                        tid,
                    )
                )
        if rng.random() < self.plan.conversation_share:
            self._conversation(batch, shop, oid, external, placed, buyer)

    def _conversation(
        self, batch: Batch, shop: Shop, oid: int, external: str, placed: datetime, buyer: int
    ) -> None:
        rng, now = self.rng, self.now
        asked = placed + timedelta(hours=rng.uniform(1, 72))
        if asked >= now:
            return
        messages = [(asked, "inbound")]
        if asked < now - timedelta(days=2) or rng.random() < 0.6:
            replied = asked + timedelta(hours=rng.lognormvariate(math.log(6), 1.0))  # some after 24 h
            messages.append((replied, "outbound"))
            if rng.random() < 0.3:
                again = replied + timedelta(hours=rng.uniform(1, 48))
                messages += [(again, "inbound"), (again + timedelta(hours=rng.uniform(0.2, 20)), "outbound")]
        messages = [(at, d) for at, d in messages if at < now]
        last, waiting = messages[-1][0], messages[-1][1] == "inbound"
        cid = self.ids.take("conversations")
        batch.add(
            R.conversations(
                id=cid,
                connection_id=self.t.connections[shop.code],
                external_id=f"C-{external}",
                buyer_external_id=f"B{buyer}",
                buyer_name=f"Buyer {buyer}",
                order_id=oid,
                order_external_id=external,
                language="en",
                status="awaiting_reply" if waiting else "answered",
                last_message_at=last,
                awaiting_since=last if waiting else None,
                reply_due_at=last + timedelta(hours=24) if waiting else None,
                tenant_id=self.t.tenant_id,
                created_at=asked,
                updated_at=last,
            )
        )
        for i, (at, direction) in enumerate(messages):
            body = "Where is my parcel?" if direction == "inbound" else "It ships today."
            delivery = "sent" if direction == "outbound" else None
            batch.add(
                R.messages(
                    self.ids.take("messages"),
                    cid,
                    f"M-{cid}-{i}",
                    direction,
                    body,
                    at,
                    delivery,
                    self.t.tenant_id,
                )
            )


def _cumulative(weights: list[float]) -> Iterator[float]:
    total = 0.0
    for w in weights:
        total += w
        yield total


async def load(app: App, dsn: str, plans: list[Plan], now: datetime) -> tuple[list[Loaded], dict[str, Any]]:
    """Everything but the figures, with COPY; returns the tenants and the load's figures."""
    rng = random.Random(SEED)
    day_to = analytics.local_day(now, ZONE) - timedelta(days=1)
    history = fx_history(day_to - timedelta(days=DAYS + 45), now.date() + timedelta(days=1), rng)
    conn = await asyncpg.connect(dsn)
    started, cpu = time.perf_counter(), time.process_time()
    loader = Loader(app, conn, Rates(history), now)
    rates = Batch()
    for day, by_currency in history.items():
        for currency, rate in by_currency.items():
            rates.add(R.fx_rates(loader.ids.take("fx_rates"), day, "EUR", currency, rate, ECB_SOURCE))
    await rates.write(conn, loader.counts)
    tenants = [await loader.tenant(plan, rng, day_to) for plan in plans]
    for table, following in loader.ids.next.items():
        await conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {following})")
    copied = time.perf_counter() - started
    await conn.execute("VACUUM (ANALYZE)")
    elapsed = time.perf_counter() - started
    await conn.close()
    orders = sum(p.orders for p in plans)
    return tenants, {
        "value": round(elapsed, 1),
        "unit": "s",
        "floor": None,
        "ratio": None,
        "orders": orders,
        "copy_seconds": round(copied, 1),
        "vacuum_analyze_seconds": round(elapsed - copied, 1),
        "orders_per_s": round(orders / elapsed),
        "cpu_s": round(time.process_time() - cpu, 1),
        "rows": dict(sorted(loader.counts.items())),
    }


# --------------------------------------------------------------------------- figures


async def refresh_all(app: App, dsn: str, tenants: list[Loaded], workers: int) -> dict[str, Any]:
    """The marks taken batch after batch by ``workers`` concurrent transaction loops per
    tenant, as ``analytics_refresh`` jobs on several workers take them."""
    probe = await asyncpg.connect(dsn)
    marks = await probe.fetchval("SELECT count(*) FROM analytics_marks")
    batches: list[float] = []
    done = 0

    async def worker(t: Loaded) -> None:
        nonlocal done
        while True:
            began = time.perf_counter()
            async with app.db.write(t.tenant_id, slug=t.slug) as session:
                count = await analytics.refresh(session, app.plugins, limit=500)
            if not count:
                return
            batches.append(time.perf_counter() - began)
            done += count
            if len(batches) % 200 == 0:
                log.warning("refresh: %s orders recomputed", f"{done:,}")

    db_cpu = await _db_cpu(probe)
    cpu, started = time.process_time(), time.perf_counter()
    with Statements(app) as statements:
        async with autovacuum(dsn):
            for t in sorted(tenants, key=lambda t: len(t.variants)):
                await asyncio.gather(*(worker(t) for _ in range(workers)))
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    db_cpu = await _db_cpu(probe) - db_cpu
    left = await probe.fetchval("SELECT count(*) FROM analytics_marks")
    orders = await probe.fetchval("SELECT count(*) FROM orders")
    figured = await probe.fetchval("SELECT count(*) FROM analytics_orders")
    lines = await probe.fetchval("SELECT count(*) FROM analytics_lines")
    rollup = await probe.fetchval("SELECT count(*) FROM analytics_sku_daily")
    await probe.close()
    assert left == 0, f"{left} marks left"
    assert figured == orders, f"{figured} orders with figures of {orders}"
    batches.sort()
    return {
        "value": round(done / elapsed, 1),
        "unit": "orders/s",
        "floor": None,
        "ratio": None,
        "orders": done,
        "marks": marks,
        "seconds": round(elapsed, 1),
        "workers": workers,
        "cpu_s_per_1000_orders": round(cpu * 1000 / done, 3),
        "db_cpu_s_per_1000_orders": round(db_cpu * 1000 / done, 3),
        "batch_p50_ms": round(_pct(batches, 50) * 1000, 1),
        "batch_p95_ms": round(_pct(batches, 95) * 1000, 1),
        "statements_per_1000_orders": round(statements.count * 1000 / done),
        "top_statements": statements.top(),
        "analytics_lines": lines,
        "analytics_sku_daily_rows": rollup,
    }


async def ads(app: App, t: Loaded, plan: Plan, rng: random.Random) -> dict[str, Any]:
    """A year of PRODUCT-level ad metrics of ``plan.advertised`` SKUs through ``ingest_ads``, a
    page per shop and fortnight, each page in its own transaction (as ``sync_ads`` stores one)."""
    by_shop: dict[str, list[str]] = defaultdict(list)
    for sku in rng.sample(list(t.variants), min(plan.advertised, len(t.variants))):
        shop = rng.choice([s for s in plan.shops if sku in t.listed[s.code]])
        by_shop[shop.code].append(sku)
    pages: list[tuple[Shop, AdReportPage]] = []
    for shop in plan.shops:
        skus = by_shop.get(shop.code, [])
        if not skus:
            continue
        campaigns = [
            AdCampaign(
                f"{shop.code}-SP-{i}",
                f"Sponsored {i}",
                AdType.SPONSORED_PRODUCTS,
                AdState.ENABLED,
                daily_budget=Money(Decimal(rng.choice((20, 50, 100))), shop.currency),
            )
            for i in range(8)
        ]
        campaign_of = {sku: campaigns[i % len(campaigns)].external_id for i, sku in enumerate(skus)}
        day = t.day_from
        while day <= t.day_to:
            metrics = []
            for offset in range(14):
                d = day + timedelta(days=offset)
                if d > t.day_to:
                    break
                for sku in skus:
                    impressions = rng.randint(200, 6000)
                    clicks = max(0, int(impressions * rng.uniform(0.003, 0.03)))
                    orders = int(clicks * rng.uniform(0.02, 0.12))
                    price = t.prices[(shop.code, sku)]
                    metrics.append(
                        AdMetric(
                            AdLevel.PRODUCT,
                            d,
                            campaign_of[sku],
                            impressions,
                            clicks,
                            Money(_q(clicks * rng.uniform(0.3, 1.4)), shop.currency),
                            orders=orders,
                            units=orders,
                            sales=Money(price * orders, shop.currency),
                            ad_group_id="AG-1",
                            sku=sku,
                        )
                    )
            pages.append(
                (shop, AdReportPage(metrics=metrics, campaigns=campaigns if day == t.day_from else ()))
            )
            day += timedelta(days=14)
    rows = 0
    cpu, started = time.process_time(), time.perf_counter()
    with Statements(app) as statements:
        for shop, page in pages:
            async with app.db.write(t.tenant_id, slug=t.slug) as session:
                conn = await session.get(Connection, t.connections[shop.code])
                assert conn is not None
                rows += (await ingest_ads(session, app.plugins, conn, page)).rows
    elapsed = time.perf_counter() - started
    return {
        "value": round(rows / elapsed, 1),
        "unit": "ad rows/s",
        "floor": None,
        "ratio": None,
        "rows": rows,
        "pages": len(pages),
        "seconds": round(elapsed, 1),
        "cpu_ms_per_row": round((time.process_time() - cpu) * 1000 / rows, 3),
        "statements_per_row": round(statements.count / rows, 2),
    }


# --------------------------------------------------------------------------- reads

ROLLUP_SUMS = ", ".join(f"sum({c}) AS {c}" for c in analytics_read.SKU_SUMS)
DAILY_SUMS = ", ".join(f"sum({c}) AS {c}" for c in ("gmv", "sessions", "page_views", *ORDER_COUNTS))
FLOOR_PROFIT = f"""
SELECT sku, {ROLLUP_SUMS} FROM analytics_sku_daily
WHERE tenant_id = $1 AND day BETWEEN $2 AND $3 GROUP BY sku"""
FLOOR_KPIS = f"""
WITH d AS (SELECT {DAILY_SUMS} FROM analytics_daily WHERE tenant_id = $1 AND day BETWEEN $2 AND $3),
     s AS (SELECT sku, sum(units) AS units, sum(sessions) AS sessions, sum(page_views) AS page_views,
                  sum(units) FILTER (WHERE day >= $4) AS units_28
           FROM analytics_sku_daily WHERE tenant_id = $1 AND day BETWEEN $2 AND $3 GROUP BY sku)
SELECT * FROM s CROSS JOIN d"""
DAY_ROLLUP_SUMS = ", ".join(
    f"sum({SKU_TO_DAILY.get(c) or c}) AS {c}" for c in analytics_read.SKU_SUMS
)  # the same figures from the per-shop daily rollup
FLOOR_REPORT = f"""
WITH d AS (SELECT {DAILY_SUMS} FROM analytics_daily WHERE tenant_id = $1 AND day BETWEEN $3 AND $4)
SELECT x.*, d.* FROM (
  SELECT 'sku' AS part, sku, NULL::date AS week, {ROLLUP_SUMS} FROM analytics_sku_daily
  WHERE tenant_id = $1 AND day BETWEEN $3 AND $4 GROUP BY sku
  UNION ALL
  SELECT 'week', NULL, date_trunc('week', day)::date, {DAY_ROLLUP_SUMS} FROM analytics_daily
  WHERE tenant_id = $1 AND day BETWEEN $2 AND $4 GROUP BY 3
) x CROSS JOIN d"""

PROFIT_Q = """query($f: AnalyticsFilter!) { profit(filter: $f, groupBy: [SKU], first: 1000) {
  currency truncated
  rows { sku figures { revenue { amount } marketplaceFees { amount } cogs { amount } adSpend { amount }
    profit { amount } margin units } }
  total { revenue { amount } profit { amount } margin units } } }"""
KPIS_Q = """query($f: AnalyticsFilter!) { kpis(filter: $f) {
  gmv { amount } orders units averageOrderValue { amount } repeatBuyerRate cancellationRate returnRate
  refundRate lateShipmentRate validTrackingRate replyHoursMedian answeredWithinDeadline awaitingReply
  sellThrough stock { sku available unitsSold stockOutDays daysOfCover } } }"""
REPORT_Q = """mutation($i: ReportGenerateInput!) { reportGenerate(input: $i) {
  report { id periodStart data } userErrors { code message } } }"""


def _periods(t: Loaded) -> tuple[date, date, date]:
    """The last full calendar month, and the Monday of the last full ISO week, of the history."""
    month_end = t.day_to.replace(day=1) - timedelta(days=1)
    if t.day_to == (t.day_to.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1):
        month_end = t.day_to
    week = t.day_to - timedelta(days=t.day_to.weekday() + (0 if t.day_to.weekday() == 6 else 7))
    return month_end.replace(day=1), month_end, week


async def _measure(
    run: Callable[[], Any], runs: int, warm: int = 3, count: Statements | None = None
) -> tuple[dict[str, float], Any]:
    for _ in range(warm):
        result = await run()
    times, cpus = [], []
    if count is not None:
        count.count = 0
    for _ in range(runs):
        cpu, began = time.process_time(), time.perf_counter()
        result = await run()
        times.append((time.perf_counter() - began) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    figures = {
        "p50_ms": round(_pct(times, 50), 2),
        "p95_ms": round(_pct(times, 95), 2),
        "cpu_ms_per_run": round(sum(cpus) / len(cpus), 2),
    }
    return figures, result


async def reads(app: App, dsn: str, t: Loaded, runs: int, tmp: Path) -> dict[str, dict[str, Any]]:
    month_from, month_to, week = _periods(t)
    month = analytics_read.Filter(month_from, month_to)
    week_start, week_end = reports.period_of(ReportKind.WEEKLY, week)
    chart_from = week_start - timedelta(weeks=7)

    async def profit() -> Any:
        async with app.db.tenant(t.tenant_id, t.slug) as session:
            return await analytics_read.profit(session, month, [analytics_read.Dimension.SKU])

    async def kpis() -> Any:
        async with app.db.tenant(t.tenant_id, t.slug) as session:
            return await analytics_read.kpis(session, month)

    async def report() -> Any:
        # committed, as the report_make job makes it (each run replaces the period's report)
        async with app.db.write(t.tenant_id, slug=t.slug) as session:
            return (await reports.make_report(session, app.plugins, ReportKind.WEEKLY, week)).data

    floor_conn = await asyncpg.connect(dsn)
    floors = {
        "sku_profit_month": lambda: floor_conn.fetch(FLOOR_PROFIT, t.tenant_id, month_from, month_to),
        "kpi_dashboard_month": lambda: floor_conn.fetch(
            FLOOR_KPIS, t.tenant_id, month_from, month_to, month_to - timedelta(days=27)
        ),
        "weekly_report": lambda: floor_conn.fetch(
            FLOOR_REPORT, t.tenant_id, chart_from, week_start, week_end
        ),
    }
    services = {"sku_profit_month": profit, "kpi_dashboard_month": kpis, "weekly_report": report}
    out: dict[str, dict[str, Any]] = {}
    results: dict[str, Any] = {}
    for name, run in services.items():
        with Statements(app) as count:
            figures, results[name] = await _measure(run, runs, count=count)
        floor, floor_rows = await _measure(floors[name], runs)
        out[name] = {
            "value": figures["p50_ms"],
            "unit": "ms p50",
            **figures,
            "target_ms": TARGET_MS,
            "floor": floor["p50_ms"],
            "floor_p95_ms": floor["p95_ms"],
            "ratio": round(figures["p50_ms"] / floor["p50_ms"], 1) if floor["p50_ms"] else None,
            "statements_per_run": round(count.count / runs, 1),
            "runs": runs,
        }
        if name == "sku_profit_month":
            # the floor adds up what the service does: the same SKUs with the same revenue
            _, rows, _ = results[name]
            assert {r.key["sku"]: r.money("revenue") for r in rows} == {
                r["sku"]: r["revenue"] for r in floor_rows
            }, "the floor and the service disagree"
            out[name]["rows"] = len(rows)
    await floor_conn.close()
    await graphql(t, dsn, runs, tmp, out, month_from, month_to, week)
    out["sku_profit_month"]["period"] = f"{month_from} to {month_to}"
    out["kpi_dashboard_month"]["period"] = f"{month_from} to {month_to}"
    out["weekly_report"]["period"] = f"{week_start} to {week_end} (made in a write session, committed)"
    return out


async def graphql(
    t: Loaded, dsn: str, runs: int, tmp: Path, out: dict[str, dict[str, Any]], a: date, b: date, week: date
) -> None:
    """The same three through GraphQL over HTTP to a real ``crossdock serve`` process."""
    flt = {"from": a.isoformat(), "to": b.isoformat()}
    calls = {
        "sku_profit_month": (PROFIT_Q, {"f": flt}),
        "kpi_dashboard_month": (KPIS_Q, {"f": flt}),
        "weekly_report": (REPORT_Q, {"i": {"kind": "WEEKLY", "day": week.isoformat()}}),
    }
    env = {"CROSSDOCK_PLUGINS": "shopee", "CROSSDOCK_PERIODIC": "0", "CROSSDOCK_LOG_LEVEL": "WARNING"}
    async with (
        Deployment(
            dsn.replace("postgresql://", "postgresql+asyncpg://"),
            data_dir=tmp / "serve",
            secret_key=SECRET,
            servers=1,
            extra_env=env,
        ) as dep,
        httpx.AsyncClient(
            base_url=dep.servers[0], headers={"Authorization": f"Bearer {t.key}"}, timeout=60
        ) as client,
    ):
        children = [int(p) for p in _children()]

        def server_cpu() -> float:
            return sum(_cpu_seconds(pid) or 0.0 for pid in children)

        for name, (query, variables) in calls.items():

            async def call(query: str = query, variables: dict[str, Any] = variables) -> Any:
                body = (await client.post("/graphql", json={"query": query, "variables": variables})).json()
                assert not body.get("errors"), body["errors"]
                payload = next(iter(body["data"].values()))
                assert not payload.get("userErrors"), payload
                return payload

            before = server_cpu()
            figures, _ = await _measure(call, runs)
            out[name]["graphql_p50_ms"] = figures["p50_ms"]
            out[name]["graphql_p95_ms"] = figures["p95_ms"]
            out[name]["graphql_server_cpu_ms"] = round((server_cpu() - before) * 1000 / (runs + 3), 2)


# --------------------------------------------------------------------------- ingest overhead


def _new_orders(t: Loaded, shop: Shop, orders: int, rng: random.Random, prefix: str) -> list[ChannelOrder]:
    """``orders`` new orders of the last hours for ``shop``, as a channel page brings them."""
    skus = t.listed[shop.code]
    now = datetime.now(UTC).replace(microsecond=0)
    batch = []
    for n in range(orders):
        placed = now - timedelta(seconds=(orders - n) * 2)
        lines = []
        for i, sku in enumerate(
            dict.fromkeys(rng.choices(skus, k=rng.choices((1, 2, 3), weights=(70, 22, 8))[0]))
        ):
            lines.append(
                ChannelOrderLine(
                    f"{prefix}{n}-{i}",
                    sku,
                    rng.choice((1, 1, 1, 2)),
                    Money(t.prices[(shop.code, sku)], shop.currency),
                )
            )
        total = sum((line.unit_price.amount * line.quantity for line in lines), Decimal(0))
        buyer = rng.randrange(t.buyers)
        batch.append(
            ChannelOrder(
                external_id=f"{prefix}-{n:07d}",
                status="pending",
                channel_status="READY_TO_SHIP",
                placed_at=placed,
                updated_at=placed,
                total=Money(total, shop.currency),
                lines=lines,
                buyer_name=f"Buyer {buyer}",
                buyer_email=f"buyer{buyer}@example.com",
                payment_status="paid",
                ship_by=placed + timedelta(days=2),
                shipping_address=Address(
                    name=f"Buyer {buyer}",
                    line1="1 Raffles Place",
                    postal_code="048616",
                    country="SG",
                    city="Singapore",
                ),
            )
        )
    return batch


async def _ingest(app: App, t: Loaded, conn_id: int, batch: list[ChannelOrder]) -> tuple[float, float]:
    """The orders through ``ingest_orders`` in pages of 100 on one connection: (s, CPU s)."""
    cpu, started = time.process_time(), time.perf_counter()
    for page in (batch[i : i + 100] for i in range(0, len(batch), 100)):
        async with app.unit_of_work(t.tenant_id, t.slug) as uow:
            conn = await uow.session.get(Connection, conn_id)
            assert conn is not None
            await ingest_orders(uow, conn, page)
    return time.perf_counter() - started, time.process_time() - cpu


async def refresh_loop(dbname: str, slug: str, stop: Path) -> None:
    """``--refresh-loop``: what an ``analytics_refresh`` worker does, in a process of its own,
    until ``stop`` exists and nothing is marked."""
    with tempfile.TemporaryDirectory() as tmp:
        app = App.build(_settings(_dsn(dbname).replace("postgresql://", "postgresql+asyncpg://"), Path(tmp)))
        async with app.db.system() as session:
            tenant = await session.scalar(select(Tenant.id).where(Tenant.slug == slug))
        assert tenant is not None
        stop.with_name("ready").touch()
        try:
            while True:
                async with app.db.write(tenant, slug=slug) as session:
                    count = await analytics.refresh(session, app.plugins, limit=500)
                if not count:
                    if stop.exists():  # noqa: ASYNC240 - a stat between jobs
                        return
                    await asyncio.sleep(0.05)  # a worker waits for its next job
        finally:
            await app.close()


async def ingest_overhead(app: App, dsn: str, t: Loaded, orders: int, rng: random.Random) -> dict[str, Any]:
    """What keeping the rollups current costs ingest, read two ways on ``orders`` new orders
    each (pages of 100, one connection):

    * **sequential**: the orders ingested, then their figures made on one connection:
      refresh time (and CPU) over ingest time (and CPU);
    * **during ingest** (the target's reading): the orders ingested while a refresh worker
      runs in a process of its own, as in production: the ingest throughput against the
      sequential one, and how long after the last page the figures are current."""
    shop = SHOPS[1]  # the SGD shop: the orders convert, and tax is included in its prices
    conn_id = t.connections[shop.code]
    probe = await asyncpg.connect(dsn)
    # stock enough: a receipt in the shop's warehouse for every SKU
    await probe.execute(
        """UPDATE stock_levels SET on_hand = on_hand + 1000000 WHERE tenant_id = $1
           AND warehouse_id = (SELECT id FROM warehouses WHERE tenant_id = $1 AND code = $2)""",
        t.tenant_id,
        shop.warehouse,
    )
    assert await probe.fetchval("SELECT count(*) FROM analytics_marks") == 0
    run = f"{int(time.time()):x}"  # new orders in a reused database too
    with Statements(app) as statements:
        ingest_s, ingest_cpu = await _ingest(app, t, conn_id, _new_orders(t, shop, orders, rng, f"NEW{run}"))
    pages = math.ceil(orders / 100)
    marks_statements = statements.by_kind.get("INSERT analytics_marks", [0, 0.0])
    marked = await probe.fetchval("SELECT count(*) FROM analytics_marks")
    assert marked == orders, (marked, orders)
    db_cpu = await _db_cpu(probe)
    cpu, started = time.process_time(), time.perf_counter()
    refreshed = 0
    with Statements(app) as refresh_statements:
        while True:
            async with app.db.write(t.tenant_id, slug=t.slug) as session:
                count = await analytics.refresh(session, app.plugins, limit=500)
            if not count:
                break
            refreshed += count
    refresh_s, refresh_cpu = time.perf_counter() - started, time.process_time() - cpu
    refresh_db_cpu = await _db_cpu(probe) - db_cpu

    # during ingest: a refresh worker in its own process takes the marks as they commit
    batch = _new_orders(t, shop, orders, rng, f"LIVE{run}")
    with tempfile.TemporaryDirectory() as tmp:
        stop = Path(tmp) / "stop"
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--refresh-loop",
            "--dbname",
            DB_NAME,
            "--slug",
            t.slug,
            "--stop",
            str(stop),
        )
        while not stop.with_name("ready").exists():  # its start (imports, plugins) is not ingest's cost
            assert worker.returncode is None, "the refresh worker stopped"
            await asyncio.sleep(0.05)
        live_s, live_cpu = await _ingest(app, t, conn_id, batch)
        ended = time.perf_counter()
        marks = "SELECT count(*) FROM analytics_marks WHERE tenant_id = $1"
        while await probe.fetchval(marks, t.tenant_id):  # noqa: ASYNC110 - a state in another process
            await asyncio.sleep(0.05)
        lag = time.perf_counter() - ended
        worker_cpu = _proc_cpu(worker.pid)
        stop.touch()
        await asyncio.wait_for(worker.wait(), timeout=120)
    assert worker.returncode == 0, worker.returncode
    figured = await probe.fetchval(
        "SELECT count(*) FROM analytics_orders a JOIN orders o ON o.id = a.order_id "
        "WHERE o.tenant_id = $1 AND o.external_id LIKE $2",
        t.tenant_id,
        f"LIVE{run}-%",
    )
    assert figured == orders, (figured, orders)
    await probe.close()
    drop = 1 - (orders / live_s) / (orders / ingest_s)
    return {
        "value": round(max(drop, 0.0), 3),
        "unit": "ingest throughput lost to the refresh running beside it",
        "target": OVERHEAD_TARGET,
        "floor": None,
        "ratio": None,
        "orders": orders,
        "pages": pages,
        "ingest_seconds": round(ingest_s, 1),
        "ingest_orders_per_s": round(orders / ingest_s, 1),
        "ingest_cpu_ms_per_order": round(ingest_cpu * 1000 / orders, 2),
        "live_ingest_orders_per_s": round(orders / live_s, 1),
        "live_ingest_cpu_ms_per_order": round(live_cpu * 1000 / orders, 2),
        "live_refresh_worker_cpu_ms_per_order": round(worker_cpu * 1000 / orders, 2),
        "live_figures_current_after_s": round(lag, 2),
        "refresh_seconds": round(refresh_s, 1),
        "refresh_orders_per_s": round(refreshed / refresh_s, 1),
        "refresh_cpu_ms_per_order": round(refresh_cpu * 1000 / refreshed, 2),
        "refresh_db_cpu_ms_per_order": round(refresh_db_cpu * 1000 / refreshed, 2),
        "sequential_time_overhead": round(refresh_s / ingest_s, 3),
        "cpu_overhead": round(refresh_cpu / ingest_cpu, 3),
        "statements_per_page": round(statements.count / pages, 1),
        "mark_statements_per_page": round(marks_statements[0] / pages, 2),
        "mark_seconds_share_of_ingest": round(marks_statements[1] / ingest_s, 4),
        "refresh_statements_per_page_of_100": round(refresh_statements.count * 100 / refreshed, 1),
        "refresh_top_statements": refresh_statements.top(5),
    }


# --------------------------------------------------------------------------- main


async def _reuse(app: App, plans: list[Plan], now: datetime) -> list[Loaded]:
    """The tenants of a kept database, with a fresh API key each (keys are shown once)."""
    rng = random.Random(SEED)
    day_to = analytics.local_day(now, ZONE) - timedelta(days=1)
    out = []
    for plan in plans:
        async with app.db.write(system=True) as session:
            tenant = await session.scalar(select(Tenant).where(Tenant.slug == plan.slug))
            assert tenant is not None, f"no tenant {plan.slug}: load without --reuse first"
            org = await session.get(Organization, tenant.organization_id)
            assert org is not None
            _, key = await tenancy.create_api_key(
                session, org, name="bench", scopes=["admin"], tenants=[tenant]
            )
        async with app.db.tenant(tenant.id) as session:
            conns = dict(
                (
                    await session.execute(
                        text("SELECT upper(name), id FROM connections WHERE tenant_id = :t"), {"t": tenant.id}
                    )
                ).all()
            )
            variants = dict(
                (
                    await session.execute(
                        text("SELECT sku, id FROM variants WHERE tenant_id = :t"), {"t": tenant.id}
                    )
                ).all()
            )
            listed_rows = (
                await session.execute(
                    text(
                        "SELECT upper(c.name), l.channel_sku, l.price_amount FROM listings l "
                        "JOIN connections c ON c.id = l.connection_id WHERE l.tenant_id = :t"
                    ),
                    {"t": tenant.id},
                )
            ).all()
            last = await session.scalar(
                text("SELECT max(day) FROM analytics_daily WHERE tenant_id = :t"), {"t": tenant.id}
            )
        listed: dict[str, list[str]] = defaultdict(list)
        for code, sku, _ in listed_rows:
            listed[code].append(sku)
        out.append(
            Loaded(
                tenant.id,
                tenant.slug,
                key,
                conns,
                variants,
                dict(listed),
                {(code, sku): price for code, sku, price in listed_rows},
                max(50, int(plan.orders * 0.45)),
                (last or day_to) - timedelta(days=DAYS - 1),
                last or day_to,
            )
        )
    del rng
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    plans = [
        Plan("bench-main", args.orders, 1000, SHOPS, 300),
        Plan("bench-small", max(200, args.orders // 500), 50, [SHOPS[1]], 10),
    ]
    results: dict[str, Any] = {}
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        async with database(args.reuse, args.keep or args.reuse) as dsn:
            app = App.build(_settings(dsn.replace("postgresql://", "postgresql+asyncpg://"), tmp))
            try:
                if args.reuse:
                    tenants = await _reuse(app, plans, now)
                else:
                    await upgrade(app.db)
                    log.warning("loading %s orders", f"{args.orders:,}")
                    tenants, results["load.postgresql"] = await load(app, dsn, plans, now)
                    log.warning("load: %s s; making the figures", results["load.postgresql"]["value"])
                    results["refresh.postgresql"] = await refresh_all(app, dsn, tenants, args.workers)
                    log.warning("refresh: %s orders/s; ads", results["refresh.postgresql"]["value"])
                    results["ads.postgresql"] = await ads(app, tenants[0], plans[0], random.Random(SEED + 1))
                    probe = await asyncpg.connect(dsn)
                    await probe.execute("VACUUM (ANALYZE)")
                    await probe.close()
                log.warning("reads")
                for name, figures in (await reads(app, dsn, tenants[0], args.runs, tmp)).items():
                    results[f"read.{name}.postgresql"] = figures
                if args.ingest_orders:
                    log.warning("ingest overhead: %s orders", f"{args.ingest_orders:,}")
                    results["ingest_overhead.postgresql"] = await ingest_overhead(
                        app, dsn, tenants[0], args.ingest_orders, random.Random(SEED + 2)
                    )
            finally:
                await app.close()
    return {
        "machine": machine(),
        "config": {
            "orders": args.orders,
            "second_tenant_orders": plans[1].orders,
            "skus": plans[0].skus,
            "connections": len(SHOPS),
            "days": DAYS,
            "refresh_workers": args.workers,
            "runs": args.runs,
            "seed": SEED,
            "reused_database": args.reuse,
        },
        "results": results,
    }


def table(report: dict[str, Any]) -> str:
    rows = [("benchmark", "figure", "floor (same run)", "ratio", "notes")]
    for key, r in report["results"].items():
        notes: list[str] = []
        if key.startswith("load"):
            notes.append(
                f"{r['orders']:,} orders, {r['orders_per_s']:,} orders/s, COPY {r['copy_seconds']} s"
            )
        elif key.startswith("refresh"):
            notes.append(
                f"{r['orders']:,} orders by {r['workers']} workers in {r['seconds']} s; "
                f"CPU {r['cpu_s_per_1000_orders']} s/1000 orders here + {r['db_cpu_s_per_1000_orders']} s in "
                f"PostgreSQL; {r['statements_per_1000_orders']} SQL/1000 orders"
            )
        elif key.startswith("ads"):
            notes.append(f"{r['rows']:,} rows in {r['pages']} pages, {r['statements_per_row']} SQL/row")
        elif key.startswith("read"):
            notes.append(
                f"p95 {r['p95_ms']} ms, CPU {r['cpu_ms_per_run']} ms/run, {r['statements_per_run']} SQL; "
                f"GraphQL p50 {r.get('graphql_p50_ms')} ms p95 {r.get('graphql_p95_ms')} ms; "
                f"target {r['target_ms']:.0f} ms"
            )
        elif key.startswith("ingest_overhead"):
            notes.append(
                f"ingest {r['ingest_orders_per_s']} orders/s alone, {r['live_ingest_orders_per_s']} with "
                f"a refresh worker beside it (figures current {r['live_figures_current_after_s']} s after "
                f"the last page); target <= {r['target']}; sequentially refresh "
                f"{r['refresh_orders_per_s']} orders/s = {r['sequential_time_overhead']} of ingest time, "
                f"CPU {r['cpu_overhead']} of ingest's; marks: {r['mark_statements_per_page']} of "
                f"{r['statements_per_page']} SQL per page"
            )
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


def main() -> None:
    global DB_NAME
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    for noisy in ("httpx", "httpcore", "crossdock"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--db", default="postgresql", choices=["postgresql"])
    parser.add_argument("--workers", type=int, default=2, help="concurrent refresh workers")
    parser.add_argument("--runs", type=int, default=30, help="measured runs of each read")
    parser.add_argument("--ingest-orders", type=int, default=20_000)
    parser.add_argument("--dbname", default=DB_NAME, help="the database to make (and drop)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="measure a kept database again (no load)")
    parser.add_argument("--out", default=str(ROOT / "analytics.json"))
    parser.add_argument("--refresh-loop", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--slug", help=argparse.SUPPRESS)
    parser.add_argument("--stop", help=argparse.SUPPRESS)
    args = parser.parse_args()
    DB_NAME = args.dbname
    if args.refresh_loop:  # the refresh worker of the ingest-overhead reading
        asyncio.run(refresh_loop(args.dbname, args.slug, Path(args.stop)))
        return
    started = time.perf_counter()
    report = asyncio.run(main_async(args))
    report["config"]["total_seconds"] = round(time.perf_counter() - started, 1)
    Path(args.out).write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(table(report))


if __name__ == "__main__":
    main()
