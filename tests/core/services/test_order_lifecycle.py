"""An order through every state, every hold reason, cancellation, return and refund."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from crossdock import Address, ChannelError, Money
from crossdock.db.models import (
    Allocation,
    Event,
    OrderStatusChange,
    Shipment,
    StockLedgerEntry,
)
from crossdock.errors import UserError
from crossdock.jobs import JOBS
from crossdock.services import aftersales, allocation, fulfilment
from crossdock.testing import wait_until


async def _history(shop: Any, external_id: str) -> list[str]:
    order = await shop.order(external_id)
    async with shop.read() as session:
        return list(
            (
                await session.scalars(
                    select(OrderStatusChange.to_status)
                    .where(OrderStatusChange.order_id == order.id)
                    .order_by(OrderStatusChange.id)
                )
            ).all()
        )


async def test_order_walks_every_state(shop: Any, app: Any, testmarket: Any) -> None:
    t0 = datetime.now(UTC)
    await shop.ingest(shop.market.add_order("W-1", quantity=2, total="20.00", updated=t0))
    order = await shop.order("W-1")
    assert order.status == "allocated"
    assert await shop.level("SKU-1") == (5, 2)

    async with shop.write() as session:
        picks = await fulfilment.start_picking(session, shop.warehouses["SG1"])
    assert [(p.sku, p.quantity, p.order_ids) for p in picks] == [("SKU-1", 2, [order.id])]
    async with shop.write() as session:
        shipment = await fulfilment.pack_shipment(
            session,
            order.id,
            shop.warehouses["SG1"],
            carrier="J&T Express",
            tracking_number="JT0001",
            service="standard",
        )
    assert (await shop.order("W-1")).status == "packed"
    async with shop.unit_of_work() as uow:
        await fulfilment.ship_shipment(uow, shipment.id)
    assert (await shop.order("W-1")).status == "shipped"
    assert await shop.level("SKU-1") == (3, 0)

    # the confirmation job tells the channel, after a transient failure
    testmarket.market.confirm_failures = [ChannelError("busy", code="503", retryable=True)]
    ctx = app.job_context()
    with pytest.raises(ChannelError):
        await JOBS["confirm_shipment"](ctx, tenant_id=shop.tenant.id, shipment_id=shipment.id)
    assert (
        await JOBS["confirm_shipment"](ctx, tenant_id=shop.tenant.id, shipment_id=shipment.id) == "confirmed"
    )
    assert await JOBS["confirm_shipment"](ctx, tenant_id=shop.tenant.id, shipment_id=shipment.id) == "done"
    [confirmation] = testmarket.market.confirmations
    assert (confirmation.order_external_id, confirmation.carrier, confirmation.tracking_number) == (
        "W-1",
        "J&T Express",
        "JT0001",
    )
    assert confirmation.lines == [("W-1-1", 2)]
    async with shop.read() as session:
        row = await session.scalar(select(Shipment).where(Shipment.id == shipment.id))
    assert row.confirmed_at is not None
    assert row.confirm_attempts == 2
    assert [e["tracking"] for e in testmarket.events if e["hook"] == "shipment_confirmed"] == ["JT0001"]

    # the channel reports the delivery
    await shop.ingest(
        shop.market.add_order(
            "W-1", quantity=2, total="20.00", status="delivered", updated=t0 + timedelta(days=3)
        )
    )
    assert (await shop.order("W-1")).status == "delivered"

    # one unit back sellable, one damaged: on hand +1, two ledger rows for the damaged one
    async with shop.read() as session:
        line_id = await session.scalar(
            select(Allocation.order_line_id).where(Allocation.order_id == order.id)
        )
    async with shop.unit_of_work() as uow:
        await aftersales.receive_return(
            uow,
            order.id,
            shop.warehouses["SG1"],
            [aftersales.ReturnLine(line_id, 1, "sellable"), aftersales.ReturnLine(line_id, 1, "damaged")],
        )
    assert (await shop.order("W-1")).status == "returned"
    assert await shop.level("SKU-1") == (4, 0)
    with pytest.raises(UserError, match="between 1 and 0"):
        async with shop.unit_of_work() as uow:
            await aftersales.receive_return(
                uow, order.id, shop.warehouses["SG1"], [aftersales.ReturnLine(line_id, 1, "sellable")]
            )

    async with shop.write() as session:
        await aftersales.record_refund(
            session, order.id, Money.of("15.00", "SGD"), reason="goodwill", plugins=None
        )
    with pytest.raises(UserError, match=r"at most 5\.00 SGD"):
        async with shop.write() as session:
            await aftersales.record_refund(session, order.id, Money.of("6.00", "SGD"), plugins=None)
    async with shop.write() as session:
        await aftersales.record_refund(session, order.id, Money.of("5.00", "SGD"), plugins=None)
    assert (await shop.order("W-1")).status == "refunded"

    assert await _history(shop, "W-1") == [
        "pending",
        "ready",
        "allocated",
        "picking",
        "packed",
        "shipped",
        "delivered",
        "returned",
        "refunded",
    ]
    async with shop.read() as session:
        reasons = (await session.scalars(select(StockLedgerEntry.reason).order_by(StockLedgerEntry.id))).all()
        events = (await session.scalars(select(Event.type).order_by(Event.id))).all()
    assert reasons == ["receipt", "reservation", "shipment", "return", "return", "damage"]
    assert "shipment.confirmed" in events and events[-1] == "order.refunded"
    await shop.ledger_matches_levels()


BAD_POSTCODE = Address(
    name="Ali", line1="1 Jalan Ampang", city="Kuala Lumpur", postal_code="ABC", country="MY"
)


@pytest.mark.parametrize(
    ("reason", "make"),
    [
        ("address_invalid", lambda m: m.add_order("H-addr", address=BAD_POSTCODE)),
        ("address_invalid", lambda m: m.add_order("H-noaddr", address=None)),
        ("payment_failed", lambda m: m.add_order("H-pay", payment_status="failed")),
        ("payment_pending", lambda m: m.add_order("H-pend", payment_status="pending")),
        ("sku_unmapped", lambda m: m.add_order("H-sku", sku="NOT-OURS")),
        ("out_of_stock", lambda m: m.add_order("H-oos", quantity=6)),
    ],
)
async def test_hold_reasons(shop: Any, reason: str, make: Any) -> None:
    order = make(shop.market)
    await shop.ingest(order)
    assert (await shop.order(order.external_id)).status == "on_hold"
    assert await shop.holds(order.external_id) == [reason]
    assert await shop.level("SKU-1") == (5, 0)  # nothing reserved for a held order


async def test_address_problems_name_the_field() -> None:
    from crossdock.services.checks import address_problems

    assert address_problems(BAD_POSTCODE) == ["postal code is invalid"]
    assert address_problems(
        Address(name="A", line1="1 Main St", city="Austin", country="US", postal_code="73301")
    ) == ["region is missing"]
    good = Address(name="A", line1="1 Main St", city="Austin", region="TX", country="US", postal_code="73301")
    assert address_problems(good) == []


async def test_duplicate_unusual_plugin_and_manual_holds(shop: Any, testmarket: Any) -> None:
    await shop.receive("SKU-1", "SG1", 100)
    await shop.ingest(shop.market.add_order("D-1", buyer="Mei"))
    await shop.ingest(shop.market.add_order("D-2", buyer="Mei"))
    assert await shop.holds("D-2") == ["duplicate_suspect"]

    for i in range(20):
        await shop.ingest(shop.market.add_order(f"N-{i}", buyer=f"buyer {i}"))
    await shop.ingest(shop.market.add_order("BIG", buyer="whale", total="500.00"))
    assert await shop.holds("BIG") == ["unusual_value"]

    testmarket.hold_skus = {"SKU-2"}
    await shop.ingest(shop.market.add_order("P-1", sku="SKU-2", buyer="someone"))
    assert await shop.holds("P-1") == ["prohibited_item"]

    order = await shop.order("N-0")
    assert order.status == "allocated"
    async with shop.write() as session:
        await allocation.hold_order(session, order.id, message="buyer asked to wait")
    assert await shop.holds("N-0") == ["manual"]
    async with shop.unit_of_work() as uow:
        await allocation.release_holds(uow, order.id)
    assert (await shop.order("N-0")).status == "allocated"

    # releasing the duplicate hold lets the order through to allocation
    async with shop.unit_of_work() as uow:
        await allocation.release_holds(uow, (await shop.order("D-2")).id, "duplicate_suspect")
    assert (await shop.order("D-2")).status == "allocated"
    await shop.ledger_matches_levels()


async def test_cancellation_releases_stock(shop: Any, app: Any) -> None:
    t0 = datetime.now(UTC)
    await shop.ingest(
        shop.market.add_order("C-1", quantity=3, updated=t0), shop.market.add_order("C-2", updated=t0)
    )
    assert await shop.level("SKU-1") == (5, 4)
    async with shop.unit_of_work() as uow:
        await fulfilment.cancel_order(uow, (await shop.order("C-1")).id, "buyer changed mind")
    assert (await shop.order("C-1")).status == "cancelled"
    assert await shop.level("SKU-1") == (5, 1)
    # the buyer cancels C-2 on the channel
    await shop.ingest(shop.market.add_order("C-2", status="cancelled", updated=t0 + timedelta(minutes=1)))
    assert (await shop.order("C-2")).status == "cancelled"
    assert await shop.level("SKU-1") == (5, 0)
    await shop.ledger_matches_levels()


async def test_shipped_orders_cannot_be_cancelled(shop: Any, app: Any) -> None:
    await shop.ingest(shop.market.add_order("S-1"))
    order = await shop.order("S-1")
    async with shop.unit_of_work() as uow:
        session = uow.session
        shipment = await fulfilment.pack_shipment(
            session, order.id, shop.warehouses["SG1"], carrier="DHL", tracking_number="1"
        )
        await fulfilment.ship_shipment(uow, shipment.id)
    with pytest.raises(UserError) as excinfo:
        async with shop.unit_of_work() as uow:
            await fulfilment.cancel_order(uow, order.id, "too late")
    assert excinfo.value.code == "ALREADY_SHIPPED"


async def test_waiting_orders_get_stock_oldest_ship_by_first(shop: Any, app: Any) -> None:
    now = datetime.now(UTC)
    await shop.ingest(
        shop.market.add_order("O-late", quantity=5, ship_by=now + timedelta(hours=30)),
        shop.market.add_order("O-1", quantity=2, ship_by=now + timedelta(hours=20), buyer="b1"),
        shop.market.add_order("O-2", quantity=2, ship_by=now + timedelta(hours=10), buyer="b2"),
        shop.market.add_order("O-3", quantity=2, ship_by=None, buyer="b3"),
    )
    assert [(await shop.order(x)).status for x in ("O-late", "O-1", "O-2", "O-3")] == [
        "allocated",
        "on_hold",
        "on_hold",
        "on_hold",
    ]
    await shop.receive("SKU-1", "SG1", 4)
    assert await JOBS["allocate_waiting"](app.job_context(), tenant_id=shop.tenant.id) == 2
    assert [(await shop.order(x)).status for x in ("O-1", "O-2", "O-3")] == [
        "allocated",
        "allocated",
        "on_hold",
    ]
    assert await shop.holds("O-2") == []


async def test_stock_arrival_triggers_allocation_through_the_runner(shop: Any, app: Any) -> None:
    await shop.ingest(shop.market.add_order("Q-1", quantity=7))
    assert (await shop.order("Q-1")).status == "on_hold"
    await app.start(run_jobs=True)
    await shop.receive("SKU-1", "SG1", 2)  # commit enqueues a coalesced allocate_waiting

    async def allocated() -> bool:
        return (await shop.order("Q-1")).status == "allocated"

    # the runner gets to it after the coalescing window: wait for the state, not a time
    await wait_until(allocated, message="Q-1 allocated by the runner")


async def test_channel_fulfilled_orders_use_the_channels_stock(shop: Any, app: Any) -> None:
    from crossdock.services import inventory

    async with shop.write() as session:
        fba = await inventory.create_warehouse(
            session,
            code="FBA",
            name="Channel warehouse",
            country="SG",
            kind="marketplace",
            connection_id=shop.connections["sg"],
        )
    shop.warehouses["FBA"] = fba.id
    await shop.receive("SKU-1", "FBA", 3)
    t0 = datetime.now(UTC)
    await shop.ingest(
        shop.market.add_order("F-1", quantity=2, fulfilled_by_channel=True, address=None, updated=t0)
    )
    assert (await shop.order("F-1")).status == "allocated"  # no address check: the channel ships it
    assert await shop.level("SKU-1", "FBA") == (3, 2)
    assert await shop.level("SKU-1", "SG1") == (5, 0)  # our own stock untouched
    await shop.ingest(
        shop.market.add_order(
            "F-1",
            quantity=2,
            fulfilled_by_channel=True,
            address=None,
            status="shipped",
            updated=t0 + timedelta(hours=1),
        )
    )
    assert (await shop.order("F-1")).status == "shipped"
    assert await shop.level("SKU-1", "FBA") == (1, 0)
    await shop.ledger_matches_levels()


async def test_split_across_warehouses_only_when_allowed(shop: Any, app: Any) -> None:
    from crossdock.db.models import Tenant
    from crossdock.services import inventory

    async with shop.write() as session:
        wh = await inventory.create_warehouse(session, code="SG2", name="Overflow", country="SG", priority=20)
    shop.warehouses["SG2"] = wh.id
    await shop.receive("SKU-1", "SG2", 4)
    await shop.ingest(shop.market.add_order("SP-1", quantity=7))
    assert (await shop.order("SP-1")).status == "allocated"
    assert (await shop.level("SKU-1", "SG1"), await shop.level("SKU-1", "SG2")) == ((5, 5), (4, 2))

    async with app.db.write(system=True) as session:
        tenant = await session.scalar(select(Tenant).where(Tenant.id == shop.tenant.id))
        tenant.settings = {"allow_split": False}
    await shop.ingest(shop.market.add_order("SP-2", quantity=2, buyer="x"))
    assert (await shop.order("SP-2")).status == "allocated"  # fits whole in SG2
    await shop.ingest(shop.market.add_order("SP-3", quantity=1, buyer="y"))
    assert (await shop.order("SP-3")).status == "on_hold"  # nowhere left whole, and no splitting


async def test_destination_outside_every_warehouse_waits(shop: Any) -> None:
    us = Address(name="A", line1="1 Main St", city="Austin", region="TX", country="US", postal_code="73301")
    await shop.ingest(shop.market.add_order("US-1", address=us))
    assert await shop.holds("US-1") == ["out_of_stock"]


async def test_ship_by_sla_query_and_events(shop: Any, app: Any) -> None:
    from crossdock.services import sla

    now = datetime.now(UTC)
    await shop.ingest(
        shop.market.add_order("SLA-soon", ship_by=now + timedelta(hours=3), buyer="a"),
        shop.market.add_order("SLA-late", ship_by=now - timedelta(hours=1), buyer="b"),
        shop.market.add_order("SLA-later", ship_by=now + timedelta(days=3), buyer="c"),
    )
    async with shop.read() as session:
        soon = [o.external_id for o in (await session.scalars(sla.at_risk(now, 24))).all()]
        late = [o.external_id for o in (await session.scalars(sla.late(now))).all()]
    assert (soon, late) == (["SLA-soon"], ["SLA-late"])
    ctx = app.job_context()
    await JOBS["sla_sweep"](ctx)
    await JOBS["sla_sweep"](ctx)  # announced once, not at every sweep
    async with shop.read() as session:
        events = (
            await session.execute(
                select(Event.type, Event.payload).where(
                    Event.type.like("order.%late%") | Event.type.like("order.sla%")
                )
            )
        ).all()
    assert sorted((t, p["external_id"]) for t, p in events) == [
        ("order.late", "SLA-late"),
        ("order.sla_at_risk", "SLA-soon"),
    ]

    # shipped but not yet confirmed to the channel still counts
    order = await shop.order("SLA-soon")
    async with shop.unit_of_work() as uow:
        session = uow.session
        shipment = await fulfilment.pack_shipment(
            session, order.id, shop.warehouses["SG1"], carrier="DHL", tracking_number="9"
        )
        await fulfilment.ship_shipment(uow, shipment.id)
    async with shop.read() as session:
        assert [o.external_id for o in (await session.scalars(sla.at_risk(now, 24))).all()] == ["SLA-soon"]
    await JOBS["confirm_shipment"](ctx, tenant_id=shop.tenant.id, shipment_id=shipment.id)
    async with shop.read() as session:
        assert (await session.scalars(sla.at_risk(now, 24))).all() == []
