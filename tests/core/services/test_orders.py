"""Ingestion: idempotent per (tenant, connection, external id), never moves backwards."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from crossdock.db.models import Connection, Order, OrderHold, OrderStatusChange
from crossdock.services import catalog, connections
from crossdock.services.orders import ingest_orders


async def _connection(app: Any, tenant: Any) -> int:
    async with app.db.write(tenant.id, slug=tenant.slug) as session:
        await catalog.create_product(session, title="Fan", variants=[catalog.VariantSpec(sku="SKU-1")])
        conn = await connections.create_connection(
            session,
            app.plugins,
            app.vault,
            channel="testmarket",
            name="sg",
            site="SG",
            credentials={"t": "x"},
        )
    return conn.id


async def _ingest(app: Any, tenant: Any, conn_id: int, orders: list[Any]) -> Any:
    async with app.db.write(tenant.id, slug=tenant.slug) as session:
        conn = await session.scalar(select(Connection).where(Connection.id == conn_id))
        return await ingest_orders(session, app.plugins, conn, orders)


async def test_same_order_many_times_in_any_order_is_one_order_in_latest_state(
    app: Any, tenant_factory: Any, testmarket: Any
) -> None:
    t = await tenant_factory()
    conn_id = await _connection(app, t)
    base = datetime(2026, 11, 1, tzinfo=UTC)
    market = testmarket.market
    versions = [
        market.add_order("A-1", status="pending", updated=base),
        market.add_order("A-1", status="ready", updated=base + timedelta(minutes=5)),
        market.add_order("A-1", status="cancelled", updated=base + timedelta(minutes=9)),
    ]
    deliveries = versions * 10
    random.Random(7).shuffle(deliveries)
    for i in range(0, len(deliveries), 4):
        await _ingest(app, t, conn_id, deliveries[i : i + 4])
    async with app.db.tenant(t.id) as session:
        orders = (await session.scalars(select(Order))).all()
        assert len(orders) == 1
        assert orders[0].status == "cancelled"
        assert orders[0].channel_updated_at == base + timedelta(minutes=9)
        history = (
            await session.scalars(select(OrderStatusChange.to_status).order_by(OrderStatusChange.id))
        ).all()
    assert history[-1] == "cancelled"
    assert "cancelled" not in history[:-1]


async def test_unmapped_sku_and_plugin_checks_hold_the_order(
    app: Any, tenant_factory: Any, testmarket: Any
) -> None:
    t = await tenant_factory()
    conn_id = await _connection(app, t)
    testmarket.hold_skus = {"SKU-1"}
    good_sku_but_prohibited = testmarket.market.add_order("B-1", sku="SKU-1")
    unknown_sku = testmarket.market.add_order("B-2", sku="NOPE-9")
    result = await _ingest(app, t, conn_id, [good_sku_but_prohibited, unknown_sku])
    assert result.created == 2
    async with app.db.tenant(t.id) as session:
        rows = (
            await session.execute(
                select(Order.external_id, Order.status, OrderHold.reason)
                .join(OrderHold, OrderHold.order_id == Order.id)
                .order_by(Order.external_id)
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("B-1", "on_hold", "prohibited_item"),
        ("B-2", "on_hold", "sku_unmapped"),
    ]
    ingested = [e for e in testmarket.events if e["hook"] == "order_ingested"]
    assert {(e["external_id"], e["created"], e["tenant"]) for e in ingested} == {
        ("B-1", True, t.slug),
        ("B-2", True, t.slug),
    }
    # a re-delivery that changes nothing fires no event
    await _ingest(app, t, conn_id, [unknown_sku])
    assert len([e for e in testmarket.events if e["hook"] == "order_ingested"]) == 2


async def test_orders_query_filters(api: Any, app: Any, tenant_factory: Any, testmarket: Any) -> None:
    t = await tenant_factory()
    conn_id = await _connection(app, t)
    await _ingest(
        app, t, conn_id, [testmarket.market.add_order("C-1"), testmarket.market.add_order("C-2", sku="ZZZ")]
    )
    data = await api.data(
        '{ held: orders(filter: {holdReason: "sku_unmapped"}) { edges { node { externalId status holds { reason } lines { sku variant { sku } } connection { channel } } } }'
        ' pending: orders(filter: {status: ["on_hold"], search: "c-1"}) { edges { node { externalId total { amount currency } } } } }',
        key=t.key,
    )
    assert data["held"]["edges"] == [
        {
            "node": {
                "externalId": "C-2",
                "status": "on_hold",
                "holds": [{"reason": "sku_unmapped"}],
                "lines": [{"sku": "ZZZ", "variant": None}],
                "connection": {"channel": "testmarket"},
            }
        }
    ]
    assert data["pending"]["edges"] == [
        {"node": {"externalId": "C-1", "total": {"amount": "10.00", "currency": "SGD"}}}
    ]
    async with app.db.tenant(t.id) as session:
        assert await session.scalar(select(func.count(Order.id))) == 2


async def test_concurrent_deliveries_of_one_order_make_one_row(
    app: Any, tenant_factory: Any, testmarket: Any
) -> None:
    """A webhook and a sync (here: twenty of them) racing with the same new order."""
    import asyncio

    t = await tenant_factory()
    conn_id = await _connection(app, t)
    order = testmarket.market.add_order("RACE-1")
    results = await asyncio.gather(*(_ingest(app, t, conn_id, [order]) for _ in range(20)))
    assert sum(r.created for r in results) == 1
    assert sum(r.ignored for r in results) == 19
    async with app.db.tenant(t.id) as session:
        assert await session.scalar(select(func.count(Order.id))) == 1
