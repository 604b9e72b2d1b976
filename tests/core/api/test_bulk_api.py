"""Bulk exports over GraphQL: orders (with their lines), stock and listings written to JSONL
in the storage, filters honoured, progress, the download with the key (and refused without
it, with another tenant's key, without the rows' scope), one at a time (also under
concurrent requests), cancel, a killed worker resumed by the sweep without a doubled line,
and the purge after the retention."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import tracemalloc
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from crossdock.api.schema.relay import decode_id, encode_id
from crossdock.db import utcnow
from crossdock.db.models import BulkExport, BulkExportStatus, Order, OrderLine
from crossdock.jobs.bulk import bulk_export_purge, bulk_export_run, bulk_export_sweep
from crossdock.money import Money
from crossdock.providers import ChannelOrderLine
from crossdock.services import bulk
from crossdock.storage import LocalStorage
from crossdock.testing import run_job
from crossdock.testing.waiting import wait_until

RUN = """mutation($i: BulkExportRunInput!) { bulkExportRun(input: $i) {
  bulkExport { id kind status objectCount rootObjectCount fileSize url }
  userErrors { field code message } } }"""
CANCEL = """mutation($id: ID!) { bulkExportCancel(input: {id: $id}) {
  bulkExport { id status canceledAt finishedAt expiresAt url } userErrors { field code } } }"""
ONE = """query($id: ID!) { bulkExport(id: $id) { id kind status objectCount rootObjectCount fileSize
  errorCode url createdAt startedAt completedAt finishedAt expiresAt filter } }"""


async def _run(api: Any, key: str, given: dict[str, Any]) -> dict[str, Any]:
    payload = (await api.data(RUN, {"i": given}, key=key))["bulkExportRun"]
    return dict(payload)


async def _export(api: Any, app: Any, shop: Any, given: dict[str, Any], page_size: int = 2) -> dict[str, Any]:
    """Start an export, run its job as a worker would, and return the export as it ends."""
    started = await _run(api, shop.tenant.key, given)
    assert started["userErrors"] == [], started
    assert started["bulkExport"]["status"] == "CREATED" and started["bulkExport"]["url"] is None
    gid = started["bulkExport"]["id"]
    ended = await run_job(
        app, "bulk_export_run", tenant_id=shop.tenant.id, export_id=decode_id(gid)[1], page_size=page_size
    )
    assert ended == "completed"
    return dict((await api.data(ONE, {"id": gid}, key=shop.tenant.key))["bulkExport"])


async def _download(api: Any, url: str, key: str | None) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return await api.client.get(url, headers=headers)


def _lines(body: bytes) -> list[dict[str, Any]]:
    assert body.endswith(b"\n")
    return [json.loads(line) for line in body.decode().splitlines()]


def _two_lines(order: Any) -> Any:
    extra = ChannelOrderLine(f"{order.external_id}-2", "SKU-2", 3, Money.of("2.50", "SGD"), title="Cable")
    return dataclasses.replace(order, lines=[*order.lines, extra])


async def test_orders_export_with_lines_filtered_downloaded_with_the_key(
    api: Any, app: Any, shop: Any, tenant_factory: Any
) -> None:
    market = shop.market
    await shop.ingest(
        *(_two_lines(market.add_order(f"BX-{i}", quantity=1, total="12.50")) for i in range(5)),
        market.add_order("BX-CANCELLED", status="cancelled"),
    )
    async with shop.read() as session:
        orders = {o.external_id: o for o in (await session.scalars(select(Order))).all()}
    export = await _export(api, app, shop, {"kind": "ORDERS"})
    assert export["status"] == "COMPLETED" and export["kind"] == "ORDERS"
    assert (export["rootObjectCount"], export["objectCount"]) == (6, 6 + 5 * 2 + 1)
    assert export["startedAt"] and export["completedAt"] and export["finishedAt"]
    expires = datetime.fromisoformat(export["expiresAt"]) - datetime.fromisoformat(export["finishedAt"])
    assert expires == timedelta(days=7)
    assert export["url"] == f"/bulk-exports/{export['id']}.jsonl"

    response = await _download(api, export["url"], shop.tenant.key)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/jsonl")
    assert len(response.content) == export["fileSize"]
    lines = _lines(response.content)
    assert len(lines) == export["objectCount"]
    roots = [line for line in lines if "__parentId" not in line]
    assert [r["externalId"] for r in roots] == sorted(orders, key=lambda e: orders[e].id)
    first = orders["BX-0"]
    [shown] = [r for r in roots if r["externalId"] == "BX-0"]
    assert shown["id"] == encode_id("Order", first.id)
    assert (shown["totalAmount"], shown["currency"], shown["status"]) == (
        "12.5000",
        "SGD",
        first.status.upper(),
    )
    # each order's lines follow it, pointing at it
    at = lines.index(shown)
    children = lines[at + 1 : at + 3]
    assert [c["__parentId"] for c in children] == [shown["id"]] * 2
    assert [(c["sku"], c["quantity"], c["unitPriceAmount"]) for c in children] == [
        ("SKU-1", 1, "10.0000"),
        ("SKU-2", 3, "2.5000"),
    ]
    assert {line["__parentId"] for line in lines if "__parentId" in line} <= {r["id"] for r in roots}

    # a status filter: only the cancelled order (and its line)
    cancelled = await _export(api, app, shop, {"kind": "ORDERS", "orders": {"status": ["CANCELLED"]}})
    body = _lines((await _download(api, cancelled["url"], shop.tenant.key)).content)
    assert [line.get("externalId") for line in body] == ["BX-CANCELLED", "BX-CANCELLED-1"]
    assert cancelled["filter"] == {"statuses": ["cancelled"]}
    # a time filter nothing matches: an empty file
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    empty = await _export(api, app, shop, {"kind": "ORDERS", "orders": {"createdAfter": later}})
    assert (empty["objectCount"], empty["fileSize"]) == (0, 0)
    assert (await _download(api, empty["url"], shop.tenant.key)).content == b""

    # refused: no key, another tenant's key, a key without the rows' scope
    missing = await _download(api, export["url"], None)
    assert missing.status_code == 401 and missing.json()["code"] == "UNAUTHENTICATED"
    other = await tenant_factory()
    foreign = await _download(api, export["url"], other.key)
    assert foreign.status_code == 404 and foreign.json()["code"] == "NOT_FOUND"
    from crossdock.db.models import Organization, Tenant
    from crossdock.services import tenancy

    async with app.db.write(system=True) as session:
        org = await session.get(Organization, shop.tenant.organization_id)
        assert org is not None
        tenant = await session.get(Tenant, shop.tenant.id)
        _, stock_only = await tenancy.create_api_key(
            session, org, name="stock", scopes=["bulk:read", "bulk:write", "inventory:read"], tenants=[tenant]
        )
    forbidden = await _download(api, export["url"], stock_only)
    assert forbidden.status_code == 403 and forbidden.json()["code"] == "FORBIDDEN"
    refused = await api(RUN, {"i": {"kind": "ORDERS"}}, key=stock_only)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_stock_and_listings_exports_honour_their_filters(api: Any, app: Any, shop: Any) -> None:
    from crossdock.db.models import Listing, ListingStatus
    from crossdock.services import inventory

    async with shop.write() as session:
        wh = await inventory.create_warehouse(session, code="MY1", name="KL", country="MY")
        shop.warehouses["MY1"] = wh.id
    await shop.receive("SKU-2", "MY1", 7)
    await shop.receive("SKU-1", "MY1", 2)
    stock = await _export(api, app, shop, {"kind": "STOCK"})
    rows = _lines((await _download(api, stock["url"], shop.tenant.key)).content)
    assert {(r["sku"], r["warehouseCode"], r["onHand"], r["available"]) for r in rows} == {
        ("SKU-1", "SG1", 5, 5),
        ("SKU-2", "MY1", 7, 7),
        ("SKU-1", "MY1", 2, 2),
    }
    assert stock["rootObjectCount"] == stock["objectCount"] == 3
    sg = await _export(
        api,
        app,
        shop,
        {"kind": "STOCK", "stock": {"warehouseId": encode_id("Warehouse", shop.warehouses["SG1"])}},
    )
    rows = _lines((await _download(api, sg["url"], shop.tenant.key)).content)
    assert [(r["sku"], r["warehouseId"]) for r in rows] == [
        ("SKU-1", encode_id("Warehouse", shop.warehouses["SG1"]))
    ]

    async with shop.write() as session:
        listing = await session.scalar(select(Listing).where(Listing.channel_sku == "sg-SKU-2"))
        listing.status = ListingStatus.INACTIVE
    listings = await _export(api, app, shop, {"kind": "LISTINGS"})
    rows = _lines((await _download(api, listings["url"], shop.tenant.key)).content)
    assert {(r["channelSku"], r["status"], r["sku"]) for r in rows} == {
        ("sg-SKU-1", "ACTIVE", "SKU-1"),
        ("sg-SKU-2", "INACTIVE", "SKU-2"),
    }
    active = await _export(api, app, shop, {"kind": "LISTINGS", "listings": {"status": "ACTIVE"}})
    rows = _lines((await _download(api, active["url"], shop.tenant.key)).content)
    assert [r["channelSku"] for r in rows] == ["sg-SKU-1"]

    mismatch = await _run(api, shop.tenant.key, {"kind": "LISTINGS", "stock": {"lowStock": True}})
    assert [(e["code"], e["field"]) for e in mismatch["userErrors"]] == [("FILTER_MISMATCH", ["stock"])]


async def test_one_export_at_a_time_and_cancel(api: Any, app: Any, shop: Any) -> None:
    key = shop.tenant.key
    first = await _run(api, key, {"kind": "ORDERS"})
    gid = first["bulkExport"]["id"]
    second = await _run(api, key, {"kind": "STOCK"})
    assert second["bulkExport"] is None
    assert [e["code"] for e in second["userErrors"]] == ["BULK_IN_PROGRESS"]
    assert gid in second["userErrors"][0]["message"]
    current = (await api.data("{ currentBulkExport { id status } }", key=key))["currentBulkExport"]
    assert current == {"id": gid, "status": "CREATED"}

    canceled = (await api.data(CANCEL, {"id": gid}, key=key))["bulkExportCancel"]
    assert canceled["userErrors"] == [] and canceled["bulkExport"]["status"] == "CANCELED"
    assert canceled["bulkExport"]["canceledAt"] and canceled["bulkExport"]["url"] is None
    again = (await api.data(CANCEL, {"id": gid}, key=key))["bulkExportCancel"]
    assert [e["code"] for e in again["userErrors"]] == ["INVALID_STATE"]
    # its job finds nothing to do; its file cannot be downloaded
    assert (
        await run_job(app, "bulk_export_run", tenant_id=shop.tenant.id, export_id=decode_id(gid)[1]) == "held"
    )
    refused = await _download(api, f"/bulk-exports/{gid}.jsonl", key)
    assert refused.status_code == 400 and refused.json()["code"] == "INVALID_STATE"

    # the slot is free again
    third = await _run(api, key, {"kind": "STOCK"})
    assert third["userErrors"] == []
    listed = (await api.data("{ bulkExports { nodes { id kind status } } }", key=key))["bulkExports"]["nodes"]
    assert [(n["kind"], n["status"]) for n in listed] == [("STOCK", "CREATED"), ("ORDERS", "CANCELED")]
    only = await api.data("{ bulkExports(filter: {statuses: [CANCELED]}) { nodes { id } } }", key=key)
    assert only["bulkExports"]["nodes"] == [{"id": gid}]


async def test_concurrent_starts_make_one_export(api: Any, app: Any, shop: Any, backend: str) -> None:
    """Eight requests at once: one export made, seven BULK_IN_PROGRESS (on PostgreSQL the
    requests run in parallel transactions: the partial unique index decides)."""
    key = shop.tenant.key
    answers = await asyncio.gather(*(_run(api, key, {"kind": "ORDERS"}) for _ in range(8)))
    made = [a for a in answers if a["bulkExport"]]
    assert len(made) == 1, answers
    assert sorted(e["code"] for a in answers for e in a["userErrors"]) == ["BULK_IN_PROGRESS"] * 7
    async with shop.read() as session:
        assert len((await session.scalars(select(BulkExport))).all()) == 1


async def test_the_database_refuses_a_second_active_export(app: Any, shop: Any, backend: str) -> None:
    """What the service's check relies on when two requests pass it together."""
    async with shop.write() as session:
        session.add(BulkExport(kind="orders", status=BulkExportStatus.RUNNING))
    with pytest.raises(IntegrityError):
        async with shop.write() as session:
            session.add(BulkExport(kind="stock", status=BulkExportStatus.CREATED))
    async with shop.write() as session:  # finished ones do not count
        session.add(BulkExport(kind="stock", status=BulkExportStatus.COMPLETED))
        session.add(BulkExport(kind="stock", status=BulkExportStatus.CANCELED))


class StoppingStorage(LocalStorage):
    """The test's storage, whose worker is killed just after it wrote part ``stop_at``
    (written, not recorded): the worst moment for a resumption."""

    def __init__(self, inner: LocalStorage, stop_at: int) -> None:
        super().__init__(inner.root)
        self.stop_at = stop_at
        self.puts = 0
        self.stopped = asyncio.Event()

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await super().put(key, data, content_type)
        self.puts += 1
        if self.puts == self.stop_at:
            self.stopped.set()
            await asyncio.Event().wait()  # killed here


async def test_a_killed_worker_is_resumed_by_the_sweep_without_a_doubled_line(
    api: Any, app: Any, shop: Any
) -> None:
    market = shop.market
    await shop.ingest(*(market.add_order(f"KX-{i:02d}") for i in range(9)))
    started = await _run(api, shop.tenant.key, {"kind": "ORDERS"})
    gid = started["bulkExport"]["id"]
    pk = decode_id(gid)[1]
    storage = StoppingStorage(app.storage, stop_at=3)
    ctx = dataclasses.replace(app.job_context(), storage=storage)
    worker = asyncio.create_task(bulk_export_run(ctx, tenant_id=shop.tenant.id, export_id=pk, page_size=2))
    await wait_until(storage.stopped.is_set, message="the third part written")
    worker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await worker
    running = (await api.data(ONE, {"id": gid}, key=shop.tenant.key))["bulkExport"]
    assert (running["status"], running["rootObjectCount"], running["objectCount"]) == ("RUNNING", 4, 8)
    assert running["url"] is None
    orphan = bulk.part_key(shop.tenant.id, pk, 1, 3)
    assert await app.storage.exists(orphan)  # written, never recorded

    # a second worker meanwhile: the claim is held (its lease has not lapsed)
    assert await run_job(app, "bulk_export_run", tenant_id=shop.tenant.id, export_id=pk) == "held"

    async def claim() -> str | None:
        async with shop.read() as session:
            return await session.scalar(select(BulkExport.claim).where(BulkExport.id == pk))

    held = await claim()
    await bulk_export_sweep(app.job_context())  # (other tests' exports may be queued: one database)
    assert held is not None and await claim() == held
    # the lease lapses: the sweep releases it and queues the export again
    assert await bulk_export_sweep(app.job_context(), now=utcnow() + bulk.LEASE + timedelta(seconds=1)) >= 1
    assert await claim() is None
    ended = await run_job(app, "bulk_export_run", tenant_id=shop.tenant.id, export_id=pk, page_size=2)
    assert ended == "completed"
    done = (await api.data(ONE, {"id": gid}, key=shop.tenant.key))["bulkExport"]
    assert (done["status"], done["rootObjectCount"], done["objectCount"]) == ("COMPLETED", 9, 18)
    lines = _lines((await _download(api, done["url"], shop.tenant.key)).content)
    roots = [line["externalId"] for line in lines if "__parentId" not in line]
    assert roots == [f"KX-{i:02d}" for i in range(9)]  # each once, in order
    assert len(lines) == 18 and len(response_ids := {line["id"] for line in lines}) == 18, response_ids
    assert not await app.storage.exists(orphan)  # the dead worker's part was cleaned up
    async with shop.read() as session:
        row = await session.scalar(select(BulkExport).where(BulkExport.id == pk))
        assert row is not None
        assert [p[0].rsplit("/", 1)[1] for p in row.parts] == [
            "001-000001.jsonl",
            "001-000002.jsonl",
            "002-000003.jsonl",
            "002-000004.jsonl",
            "002-000005.jsonl",
        ]
        assert row.attempts == 2


async def test_finished_exports_are_purged_after_the_retention(api: Any, app: Any, shop: Any) -> None:
    await shop.ingest(shop.market.add_order("PX-1"))
    done = await _export(api, app, shop, {"kind": "ORDERS"})
    pk = decode_id(done["id"])[1]
    async with shop.read() as session:
        row = await session.scalar(select(BulkExport).where(BulkExport.id == pk))
        assert row is not None
        keys = bulk.file_keys(row)
    assert keys and all([await app.storage.exists(k) for k in keys])
    await bulk_export_purge(app.job_context(), now=utcnow() + timedelta(days=6))
    assert (await api(ONE, {"id": done["id"]}, key=shop.tenant.key))["data"]["bulkExport"]["id"] == done["id"]
    # (the purge is across tenants: other tests' exports of this database go too)
    assert await bulk_export_purge(app.job_context(), now=utcnow() + timedelta(days=7, minutes=1)) >= 1
    assert not any([await app.storage.exists(k) for k in keys])
    gone = await api(ONE, {"id": done["id"]}, key=shop.tenant.key)
    assert gone["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert (await _download(api, done["url"], shop.tenant.key)).status_code == 404


async def _insert_orders(shop: Any, start: int, n: int) -> None:
    """``n`` orders of two lines each, inserted directly (ingesting them would take longer)."""
    now = datetime.now(UTC)
    async with shop.write() as session:
        rows = [
            {
                "tenant_id": shop.tenant.id,
                "connection_id": shop.connections["sg"],
                "external_id": f"BIG-{i:05d}",
                "status": "shipped",
                "currency": "SGD",
                "total_amount": Decimal("20.00"),
                "placed_at": now,
                "channel_updated_at": now,
                "shipping_address": {},
                "raw": {"padding": "x" * 200},
                "fulfilled_by_channel": False,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(start, start + n)
        ]
        ids = (await session.execute(insert(Order).returning(Order.id), rows)).scalars().all()
        await session.execute(
            insert(OrderLine),
            [
                {
                    "tenant_id": shop.tenant.id,
                    "order_id": oid,
                    "external_id": f"L{j}",
                    "sku": "SKU-1",
                    "quantity": 1,
                    "unit_price_amount": Decimal("10.00"),
                }
                for oid in ids
                for j in range(2)
            ],
        )


async def _measured_export(app: Any, shop: Any) -> tuple[BulkExport, int]:
    async with app.unit_of_work(shop.tenant.id, shop.tenant.slug) as uow:
        row = await bulk.start_export(uow, bulk.BulkExportKind.ORDERS, bulk.ExportFilter())
    tracemalloc.start()
    try:
        ended = await bulk_export_run(app.job_context(), tenant_id=shop.tenant.id, export_id=row.id)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ended == "completed"
    async with shop.read() as session:
        done = await session.scalar(select(BulkExport).where(BulkExport.id == row.id))
    assert done is not None
    return done, peak


async def test_a_large_export_keeps_memory_flat(app: Any, shop: Any) -> None:
    """The export holds one page (1,000 orders) at a time: five times the orders, about the
    same peak (bench/bulk.py times 20,000)."""
    await _insert_orders(shop, 0, 1000)
    small, small_peak = await _measured_export(app, shop)
    await _insert_orders(shop, 1000, 4000)
    large, large_peak = await _measured_export(app, shop)
    assert (small.root_object_count, len(small.parts)) == (1000, 1)
    assert (large.root_object_count, large.object_count, len(large.parts)) == (5000, 15000, 5)
    assert large.file_size > 4.9 * small.file_size
    assert large_peak < 1.5 * small_peak, (small_peak, large_peak)
