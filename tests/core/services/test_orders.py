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
    async with app.unit_of_work(tenant.id, tenant.slug) as uow:
        session = uow.session
        conn = await session.scalar(select(Connection).where(Connection.id == conn_id))
        return await ingest_orders(uow, conn, orders)


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
        "{ held: orders(filter: {holdReason: SKU_UNMAPPED}) { edges { node { externalId status holds { reason } lines { sku variant { sku } } connection { channel } } } }"
        ' pending: orders(filter: {status: [ON_HOLD], search: "c-1"}) { edges { node { externalId total { amount currency } } } } }',
        key=t.key,
    )
    assert data["held"]["edges"] == [
        {
            "node": {
                "externalId": "C-2",
                "status": "ON_HOLD",
                "holds": [{"reason": "SKU_UNMAPPED"}],
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


def _mixed_orders(count: int) -> list[Any]:
    """Orders that exercise every verdict: repeat buyers (duplicates), outliers (unusual
    value), bad addresses, unpaid, cancelled, unknown SKUs, and more demand than stock."""
    from decimal import Decimal

    from crossdock.money import Money
    from crossdock.providers import Address, ChannelOrder, ChannelOrderLine

    rng = random.Random(11)
    base = datetime(2026, 11, 20, tzinfo=UTC)
    good = Address(name="B", line1="1 Raffles Place", postal_code="048616", country="SG")
    bad = Address(name="B", line1="1 Raffles Place", country="SG")  # no postal code
    orders = []
    for i in range(count):
        lines = [
            ChannelOrderLine(
                external_id=f"P-{i}-{n}",
                sku=rng.choice(
                    ["SKU-1", "SKU-2", "SKU-3", "SKU-3", "NOPE"]
                    if i % 17 == 5
                    else ["SKU-1", "SKU-2", "SKU-3"]
                ),
                quantity=rng.randint(1, 3),
                unit_price=Money(Decimal(rng.choice(["10", "20"])), "SGD"),
            )
            for n in range(rng.randint(1, 2))
        ]
        lines = list({line.sku: line for line in lines}.values())
        total = sum((line.unit_price.amount * line.quantity for line in lines), Decimal(0))
        if i > 30 and i % 9 == 0:
            total *= 40  # far above the shop's average
        at = base + timedelta(minutes=7 * i)
        orders.append(
            ChannelOrder(
                external_id=f"P-{i}",
                status="cancelled" if i % 13 == 4 else "pending",
                channel_status="X",
                placed_at=at,
                updated_at=at,
                total=Money(total, "SGD"),
                lines=lines,
                buyer_name=f"buyer {rng.randint(1, 6)}",
                shipping_address=bad if i % 11 == 3 else good,
                payment_status="pending" if i % 10 == 7 else "paid",
            )
        )
    return orders


async def _state(app: Any, tenant: Any) -> dict[str, Any]:
    from crossdock.db.models import Allocation, Event, StockLedgerEntry, StockLevel, Variant, Warehouse

    async with app.db.tenant(tenant.id) as session:
        orders = {o.id: o for o in (await session.scalars(select(Order))).all()}
        state: dict[str, Any] = {
            o.external_id: {"status": o.status, "holds": [], "history": [], "events": [], "picks": []}
            for o in orders.values()
        }
        for order_id, reason in await session.execute(
            select(OrderHold.order_id, OrderHold.reason).where(OrderHold.released_at.is_(None))
        ):
            state[orders[order_id].external_id]["holds"].append(reason)
        for order_id, status in await session.execute(
            select(OrderStatusChange.order_id, OrderStatusChange.to_status).order_by(OrderStatusChange.id)
        ):
            state[orders[order_id].external_id]["history"].append(status)
        for subject, type_ in await session.execute(select(Event.subject, Event.type).order_by(Event.id)):
            if subject and subject.startswith("Order:"):
                state[orders[int(subject[6:])].external_id]["events"].append(type_)
        for order_id, sku, code, quantity in await session.execute(
            select(Allocation.order_id, Variant.sku, Warehouse.code, Allocation.quantity)
            .join(Variant, Variant.id == Allocation.variant_id)
            .join(Warehouse, Warehouse.id == Allocation.warehouse_id)
        ):
            state[orders[order_id].external_id]["picks"].append((sku, code, quantity))
        for value in state.values():
            value["holds"].sort()
            value["picks"].sort()
        levels = {
            (sku, code): (on_hand, reserved)
            for sku, code, on_hand, reserved in await session.execute(
                select(Variant.sku, Warehouse.code, StockLevel.on_hand, StockLevel.reserved)
                .join(Variant, Variant.id == StockLevel.variant_id)
                .join(Warehouse, Warehouse.id == StockLevel.warehouse_id)
            )
        }
        ledger = sorted(
            (sku, reason, str(reference))
            for sku, reason, reference in await session.execute(
                select(Variant.sku, StockLedgerEntry.reason, StockLedgerEntry.reference).join(
                    Variant, Variant.id == StockLedgerEntry.variant_id
                )
            )
        )
    return {"orders": state, "levels": levels, "ledger": ledger}


async def test_a_page_ends_as_its_orders_would_one_at_a_time(
    app: Any, tenant_factory: Any, testmarket: Any
) -> None:
    """Ingest decides a whole page at once; every order must still end exactly as if the
    orders had come in one by one: same holds, statuses, history, events, picks, stock."""
    from crossdock.services import inventory

    orders = _mixed_orders(80)
    states = []
    for pages in ([orders], [[o] for o in orders]):
        tenant = await tenant_factory()
        async with app.unit_of_work(tenant.id, tenant.slug) as uow:
            session = uow.session
            await catalog.create_product(
                session,
                title="Fan",
                variants=[catalog.VariantSpec(sku=s) for s in ("SKU-1", "SKU-2", "SKU-3")],
            )
            near = await inventory.create_warehouse(
                session, code="NEAR", name="Near", country="SG", priority=1
            )
            far = await inventory.create_warehouse(session, code="FAR", name="Far", country="SG", priority=2)
            from crossdock.db.models import Variant

            for variant in (await session.scalars(select(Variant).order_by(Variant.sku))).all():
                for warehouse, quantity in ((near, 15), (far, 10)):
                    await inventory.receive_stock(
                        uow, variant_id=variant.id, warehouse_id=warehouse.id, quantity=quantity
                    )
            conn = await connections.create_connection(
                session,
                app.plugins,
                app.vault,
                channel="testmarket",
                name="sg",
                site="SG",
                credentials={"t": "x"},
            )
        for page in pages:
            await _ingest(app, tenant, conn.id, page)
        states.append(await _state(app, tenant))
    paged, one_by_one = states
    verdicts = {h for o in paged["orders"].values() for h in o["holds"]}
    assert {"duplicate_suspect", "unusual_value", "address_invalid", "payment_pending"} <= verdicts
    assert {"sku_unmapped", "out_of_stock"} <= verdicts
    assert {o["status"] for o in paged["orders"].values()} >= {"allocated", "on_hold", "cancelled"}
    assert paged["orders"] == one_by_one["orders"]
    assert paged["levels"] == one_by_one["levels"]
    assert paged["ledger"] == one_by_one["ledger"]


async def test_a_later_version_with_prices_reprices_the_stored_order(
    app: Any, tenant_factory: Any, testmarket: Any
) -> None:
    """A marketplace may price an order only later (Amazon: a Pending order has no total
    and no item prices until its payment is authorised): the later, priced version of the
    same order replaces the stored zero prices, on the lines and in the reporting total."""
    import dataclasses
    from decimal import Decimal

    from crossdock.db.models import OrderLine
    from crossdock.money import Money

    t = await tenant_factory()
    conn_id = await _connection(app, t)
    base = datetime(2026, 11, 1, tzinfo=UTC)
    first = testmarket.market.add_order("R-1", updated=base, total="0", payment_status="pending")
    first = dataclasses.replace(
        first, lines=[dataclasses.replace(first.lines[0], unit_price=Money.of("0", "SGD"))]
    )
    await _ingest(app, t, conn_id, [first])
    priced = testmarket.market.add_order("R-1", updated=base + timedelta(minutes=3), total="10.00")
    result = await _ingest(app, t, conn_id, [priced])
    assert result.updated == 1
    async with app.db.tenant(t.id) as session:
        order = await session.scalar(select(Order).where(Order.external_id == "R-1"))
        assert order is not None
        assert (order.currency, order.total_amount) == ("SGD", Decimal("10.00"))
        prices = (await session.scalars(select(OrderLine.unit_price_amount))).all()
        assert prices == [Decimal("10.00")]
        if order.base_currency is not None:  # a rate for SGD is published for the day
            assert order.base_total_amount and order.base_total_amount > 0
