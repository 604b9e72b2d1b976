"""Bulk export of orders: time and memory, on SQLite and PostgreSQL.

- ``bulk_export.<db>``: ``--orders`` orders (default 20,000) of two lines each, inserted
  directly, exported by ``bulk_export_run`` (keyset pages of 1,000 orders, a part per page,
  the local folder storage). ``value``: orders per second and ``seconds``, of a run without
  ``tracemalloc``; ``peak_mb``: the most Python memory held at once during another run,
  under ``tracemalloc``;
  ``file_mb``: the file's size; ``peak_small_mb``: the peak of an export of the first
  1,000 orders alone (one page; after a warm-up export, so imports and caches are not
  counted), so ``peak_mb / peak_small_mb`` near 1 says the memory is
  flat whatever the size. Checked in the same run: the file has every order and line
  once, in order.

    python bench/bulk.py [--orders 20000] [--db sqlite,postgresql]   # writes bench/bulk.json
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

ROOT = Path(__file__).resolve().parent


async def _app(url: str, tmp: Path) -> Any:
    from run import SECRET

    from crossdock.bootstrap import App
    from crossdock.config import Settings
    from crossdock.db.migrate import upgrade

    settings = Settings.from_env(
        {
            "CROSSDOCK_DATABASE_URL": url,
            "CROSSDOCK_SECRET_KEY": SECRET,
            "CROSSDOCK_DATA_DIR": str(tmp),
            "CROSSDOCK_PLUGINS": "none",
            "CROSSDOCK_STORAGE_URL": (tmp / "storage").as_uri(),
        }
    )
    app = App.build(settings)
    await upgrade(app.db)
    return app


async def _seed(app: Any, orders: int) -> Any:
    from crossdock.db.models import Connection, Order, OrderLine
    from crossdock.testing.kit import make_tenant

    tenant = await make_tenant(app)
    now = datetime.now(UTC)
    async with app.db.write(tenant.id, slug=tenant.slug) as session:
        conn = Connection(channel="bench", name="bench", site="SG", currency="SGD", credentials_encrypted=b"")
        session.add(conn)
        await session.flush()
        conn_id = conn.id
    for start in range(0, orders, 2000):
        async with app.db.write(tenant.id, slug=tenant.slug) as session:
            rows = [
                {
                    "tenant_id": tenant.id,
                    "connection_id": conn_id,
                    "external_id": f"B-{i:07d}",
                    "status": "shipped",
                    "currency": "SGD",
                    "total_amount": Decimal("20.00"),
                    "buyer_name": "Tan Ah Kow",
                    "placed_at": now,
                    "channel_updated_at": now,
                    "shipping_address": {"city": "Singapore"},
                    "raw": {},
                    "fulfilled_by_channel": False,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(start, min(orders, start + 2000))
            ]
            ids = (await session.execute(insert(Order).returning(Order.id), rows)).scalars().all()
            await session.execute(
                insert(OrderLine),
                [
                    {
                        "tenant_id": tenant.id,
                        "order_id": oid,
                        "external_id": f"L{j}",
                        "sku": f"SKU-{j}",
                        "quantity": 1,
                        "unit_price_amount": Decimal("10.00"),
                    }
                    for oid in ids
                    for j in range(2)
                ],
            )
    return tenant


async def _export(
    app: Any, tenant: Any, through: int | None = None, *, traced: bool = True
) -> tuple[Any, float, int]:
    from crossdock.db.models import BulkExport, BulkExportKind
    from crossdock.jobs.bulk import bulk_export_run
    from crossdock.services import bulk

    async with app.unit_of_work(tenant.id, tenant.slug) as uow:
        row = await bulk.start_export(uow, BulkExportKind.ORDERS, bulk.ExportFilter())
        if through is not None:
            row.through_id = through
    if traced:
        tracemalloc.start()
    t0 = time.perf_counter()
    try:
        assert await bulk_export_run(app.job_context(), tenant_id=tenant.id, export_id=row.id) == "completed"
        seconds = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory() if traced else (0, 0)
    finally:
        if traced:
            tracemalloc.stop()
    async with app.db.tenant(tenant.id) as session:
        done = await session.scalar(select(BulkExport).where(BulkExport.id == row.id))
    return done, seconds, peak


async def _check(app: Any, done: Any, orders: int) -> bool:
    seen: list[str] = []
    lines = 0
    for key, _, _ in done.parts:
        for line in (await app.storage.get(key)).splitlines():
            lines += 1
            obj = json.loads(line)
            if "__parentId" not in obj:
                seen.append(obj["externalId"])
    return lines == 3 * orders and seen == [f"B-{i:07d}" for i in range(orders)]


async def run(tmp: Path, *, orders: int, dbs: list[str]) -> dict[str, Any]:
    from run import database

    from crossdock.db.models import Order

    results: dict[str, Any] = {}
    for kind in dbs:
        async with database(kind, tmp) as url:
            app = await _app(url, tmp)
            try:
                tenant = await _seed(app, orders)
                async with app.db.tenant(tenant.id) as session:
                    ids = (await session.scalars(select(Order.id).order_by(Order.id).limit(1000))).all()
                await _export(app, tenant, through=ids[-1], traced=False)  # warm: imports, caches
                _, _, small_peak = await _export(app, tenant, through=ids[-1])
                _, _, peak = await _export(app, tenant)  # memory, under tracemalloc
                done, seconds, _ = await _export(app, tenant, traced=False)  # time, without it
                results[f"bulk_export.{kind}"] = {
                    "orders": orders,
                    "value": round(orders / seconds),
                    "unit": "orders/s",
                    "seconds": round(seconds, 2),
                    "parts": len(done.parts),
                    "lines": done.object_count,
                    "file_mb": round(done.file_size / 2**20, 2),
                    "peak_mb": round(peak / 2**20, 2),
                    "peak_small_mb": round(small_peak / 2**20, 2),
                    "complete_and_in_order": await _check(app, done, orders),
                }
            finally:
                await app.close()
    return results


def main() -> None:
    import argparse

    sys.path.insert(0, str(ROOT))
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--out", default=str(ROOT / "bulk.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = asyncio.run(run(Path(tmp), orders=args.orders, dbs=args.db.split(",")))
    report = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
        "results": results,
    }
    print(json.dumps(report, indent=2))
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    if not all(r["complete_and_in_order"] for r in results.values()):
        raise SystemExit("an export lost, doubled or reordered a line")


if __name__ == "__main__":
    main()
