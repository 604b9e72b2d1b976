"""Replenishment planning end to end: a variant's orders become its demand history, the
planning job forecasts it and plans the warehouse (figures checked against the
replenishment formulas), ``reorder.due`` fires once, and one action drafts the purchase
order the plan suggests, never twice."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from statistics import NormalDist
from typing import Any

from sqlalchemy import select, update

from crossdock.api.schema.relay import decode_id, encode_id
from crossdock.db.models import Event, StockLedgerEntry
from crossdock.jobs import JOBS

PLANS = """{ replenishmentPlans { nodes {
  variant { sku } warehouse { code } supplier { code } demandClass method meanDaily sigmaDaily leadTimeDays
  safetyStock reorderPoint orderUpTo onHand reserved onOrder position daysOfCover stockoutOn reorderNow orderOn
  orderQuantity unitPrice { amount currency } overstock reasons forecast { day units }
} } }"""


async def _history(shop: Any, days: int = 120, per_day: int = 4) -> None:
    """``per_day`` units of SKU-1 reserved in SG1 on each of the last ``days`` days (the
    ledger rows allocation writes), stock enough that no day was a stock-out."""
    await shop.receive("SKU-1", "SG1", days * per_day + 40)
    variant, warehouse = shop.variants["SKU-1"], shop.warehouses["SG1"]
    now = datetime.now(UTC)
    async with shop.write() as session:
        # the stock arrived before the history begins
        await session.execute(
            update(StockLedgerEntry)
            .where(StockLedgerEntry.variant_id == variant, StockLedgerEntry.reason == "receipt")
            .values(created_at=now - timedelta(days=days + 1))
        )
        for day in range(days, 0, -1):
            session.add(
                StockLedgerEntry(
                    variant_id=variant,
                    warehouse_id=warehouse,
                    delta_reserved=per_day,
                    reason="reservation",
                    created_at=now - timedelta(days=day),
                )
            )
            session.add(
                StockLedgerEntry(
                    variant_id=variant,
                    warehouse_id=warehouse,
                    delta_on_hand=-per_day,
                    delta_reserved=-per_day,
                    reason="shipment",
                    created_at=now - timedelta(days=day, hours=-2),
                )
            )
    # the levels follow their ledger (the invariant the kit checks): shipped units are gone
    from crossdock.db.models import StockLevel

    async with shop.write() as session:
        await session.execute(
            update(StockLevel)
            .where(StockLevel.variant_id == variant, StockLevel.warehouse_id == warehouse)
            .values(on_hand=StockLevel.on_hand - days * per_day)
        )


async def test_orders_become_a_plan_a_due_event_and_one_draft_order(api: Any, shop: Any) -> None:
    key = shop.tenant.key
    await _history(shop)
    supplier = (
        await api.data(
            'mutation { supplierCreate(input: {code: "SZ", name: "Shenzhen", currency: "USD", leadTimeDays: "20", '
            'leadTimeSdDays: "5"}) { supplier { id } userErrors { code } } }',
            key=key,
        )
    )["supplierCreate"]["supplier"]["id"]
    variant = encode_id("Variant", shop.variants["SKU-1"])
    item = await api.data(
        "mutation($s: ID!, $v: ID!) { supplierItemSet(input: {supplierId: $s, variantId: $v, moq: 50, casePack: 12, "
        'priceBreaks: [{minQuantity: 1, unitPrice: "3.00"}, {minQuantity: 1000, unitPrice: "2.00"}]}) '
        "{ userErrors { code } } }",
        {"s": supplier, "v": variant},
        key=key,
    )
    assert item["supplierItemSet"]["userErrors"] == []

    ctx = shop.app.job_context()
    assert await JOBS["replenishment_plan"](ctx, tenant_id=shop.tenant.id) == 1
    [plan] = (await api.data(PLANS, key=key))["replenishmentPlans"]["nodes"]
    assert (plan["variant"]["sku"], plan["warehouse"]["code"], plan["supplier"]["code"]) == (
        "SKU-1",
        "SG1",
        "SZ",
    )
    assert plan["demandClass"] == "SMOOTH" and len(plan["forecast"]) == 56
    mean, sigma = Decimal(plan["meanDaily"]), Decimal(plan["sigmaDaily"])
    assert abs(mean - 4) < Decimal("0.5")  # four a day, every day
    # safety stock = z(0.95) * sqrt(LT * sd^2 + d^2 * sLT^2), with LT = 20, sLT = 5
    z = NormalDist().inv_cdf(0.95)
    expected_ss = z * math.sqrt(20 * float(sigma) ** 2 + float(mean) ** 2 * 25)
    assert abs(float(plan["safetyStock"]) - expected_ss) < 0.01
    assert abs(float(plan["reorderPoint"]) - (float(mean) * 20 + expected_ss)) < 0.01
    # 45 units left (the shop began with 5) against a reorder point of about 80 + 33: due now
    assert plan["onHand"] == 45 and plan["position"] == 45 and plan["reorderNow"] is True
    assert "BELOW_REORDER_POINT" in plan["reasons"] and plan["stockoutOn"] is not None
    quantity = plan["orderQuantity"]
    order_up_to = float(plan["orderUpTo"])
    assert quantity % 12 == 0 and quantity >= 50 and order_up_to - 45 <= quantity < order_up_to - 45 + 12
    assert plan["unitPrice"] == {"amount": "3.00", "currency": "USD"}

    async with shop.read() as session:
        due = (await session.scalars(select(Event).where(Event.type == "reorder.due"))).all()
    assert len(due) == 1 and due[0].payload["quantity"] == quantity
    await JOBS["replenishment_plan"](ctx, tenant_id=shop.tenant.id)  # still due: no second event
    async with shop.read() as session:
        assert len((await session.scalars(select(Event).where(Event.type == "reorder.due"))).all()) == 1

    drafts = """mutation { purchaseOrderDraftsCreate(input: {}) {
      purchaseOrders { status supplier { code } lines { quantity unitPrice { amount } variant { sku } } }
      userErrors { code } } }"""
    made = (await api.data(drafts, key=key))["purchaseOrderDraftsCreate"]
    assert made["purchaseOrders"] == [
        {
            "status": "DRAFT",
            "supplier": {"code": "SZ"},
            "lines": [{"quantity": quantity, "unitPrice": {"amount": "3.00"}, "variant": {"sku": "SKU-1"}}],
        }
    ]
    again = (await api.data(drafts, key=key))["purchaseOrderDraftsCreate"]
    assert again["purchaseOrders"] == []  # drafted once


async def test_a_stockout_day_is_not_read_as_no_demand(api: Any, shop: Any) -> None:
    """Two weeks with nothing available sold nothing: the forecast still sees the demand
    of the days around them, not a drop."""
    key = shop.tenant.key
    await _history(shop, days=90, per_day=5)
    variant, warehouse = shop.variants["SKU-1"], shop.warehouses["SG1"]
    now = datetime.now(UTC)
    async with shop.write() as session:  # days 30..16 ago: no reservations, nothing on hand
        rows = (
            await session.scalars(
                select(StockLedgerEntry).where(
                    StockLedgerEntry.variant_id == variant,
                    StockLedgerEntry.created_at > now - timedelta(days=30),
                    StockLedgerEntry.created_at < now - timedelta(days=15),
                )
            )
        ).all()
        for row in rows:
            await session.delete(row)
        # the stock ran out before them and came back after (a receipt, then the rest)
        session.add(
            StockLedgerEntry(
                variant_id=variant,
                warehouse_id=warehouse,
                delta_on_hand=-10_000,
                reason="adjustment",
                created_at=now - timedelta(days=31),
            )
        )
        session.add(
            StockLedgerEntry(
                variant_id=variant,
                warehouse_id=warehouse,
                delta_on_hand=10_000,
                reason="receipt",
                created_at=now - timedelta(days=15, hours=1),
            )
        )
    supplier = (
        await api.data(
            'mutation { supplierCreate(input: {code: "SZ", name: "S", currency: "USD"}) { supplier { id } } }',
            key=key,
        )
    )["supplierCreate"]["supplier"]["id"]
    await api.data(
        "mutation($s: ID!, $v: ID!) { supplierItemSet(input: {supplierId: $s, variantId: $v, "
        'priceBreaks: [{minQuantity: 1, unitPrice: "1"}]}) { userErrors { code } } }',
        {"s": supplier, "v": encode_id("Variant", variant)},
        key=key,
    )
    await JOBS["replenishment_plan"](shop.app.job_context(), tenant_id=shop.tenant.id)
    [plan] = (await api.data(PLANS, key=key))["replenishmentPlans"]["nodes"]
    assert abs(Decimal(plan["meanDaily"]) - 5) < Decimal("0.6"), plan["meanDaily"]


async def test_drafts_asked_for_at_once_are_made_once(api: Any, shop: Any) -> None:
    """Several operators pressing "draft the orders" together (concurrent requests, one
    transaction each): one set of drafts, the other presses find them drafted."""
    import asyncio

    key = shop.tenant.key
    await _history(shop)
    supplier = (
        await api.data(
            'mutation { supplierCreate(input: {code: "SZ", name: "S", currency: "USD"}) { supplier { id } } }',
            key=key,
        )
    )["supplierCreate"]["supplier"]["id"]
    await api.data(
        "mutation($s: ID!, $v: ID!) { supplierItemSet(input: {supplierId: $s, variantId: $v, "
        'priceBreaks: [{minQuantity: 1, unitPrice: "1"}]}) { userErrors { code } } }',
        {"s": supplier, "v": encode_id("Variant", shop.variants["SKU-1"])},
        key=key,
    )
    await JOBS["replenishment_plan"](shop.app.job_context(), tenant_id=shop.tenant.id)
    drafts = (
        "mutation { purchaseOrderDraftsCreate(input: {}) { purchaseOrders { number } userErrors { code } } }"
    )
    answers = await asyncio.gather(*(api.data(drafts, key=key) for _ in range(6)))
    made = sorted(len(a["purchaseOrderDraftsCreate"]["purchaseOrders"]) for a in answers)
    assert made == [0, 0, 0, 0, 0, 1], made
    orders = (await api.data("{ purchaseOrders { nodes { number } } }", key=key))["purchaseOrders"]["nodes"]
    assert len(orders) == 1


async def test_demand_splits_by_channel_and_a_lane_covers_a_warehouse_sooner(api: Any, shop: Any) -> None:
    """SG1 sells four a day and is due; MY1 holds 500 it does not sell. With a three-day lane
    MY1 → SG1 the plan of SG1 suggests moving what it lacks from MY1, arriving in three days;
    an inbound shipment on that lane is then on order for SG1, due when the lane says.
    SG1's demand is split 3:1 between the two shops whose orders it served."""
    key = shop.tenant.key
    await _history(shop)
    await shop.connect("my", site="MY")
    for i in range(3):
        await shop.ingest(shop.market.add_order(f"SG-{i}", buyer=f"Buyer {i}"))
    await shop.ingest(shop.market.add_order("MY-0", buyer="Buyer MY"), connection="my")
    my1 = (
        await api.data(
            'mutation { warehouseCreate(input: {code: "MY1", name: "Kuala Lumpur", country: "MY"}) '
            "{ warehouse { id } userErrors { code } } }",
            key=key,
        )
    )["warehouseCreate"]["warehouse"]["id"]
    shop.warehouses["MY1"] = decode_id(my1, "Warehouse")[1]
    await shop.receive("SKU-1", "MY1", 500)
    supplier = (
        await api.data(
            'mutation { supplierCreate(input: {code: "SZ", name: "Shenzhen", currency: "USD", leadTimeDays: "20"}) '
            "{ supplier { id } } }",
            key=key,
        )
    )["supplierCreate"]["supplier"]["id"]
    variant = encode_id("Variant", shop.variants["SKU-1"])
    await api.data(
        "mutation($s: ID!, $v: ID!) { supplierItemSet(input: {supplierId: $s, variantId: $v, "
        'priceBreaks: [{minQuantity: 1, unitPrice: "3.00"}]}) { userErrors { code } } }',
        {"s": supplier, "v": variant},
        key=key,
    )
    sg1 = encode_id("Warehouse", shop.warehouses["SG1"])
    lane = await api.data(
        "mutation($a: ID!, $b: ID!) { transitLaneSet(input: {fromWarehouseId: $a, toWarehouseId: $b, transitDays: 3, "
        'transitSdDays: "1", unitCost: {amount: "0.40", currency: "USD"}}) '
        "{ transitLane { transitDays transitSdDays unitCost { amount currency } fromWarehouse { code } "
        "toWarehouse { code } } userErrors { code field } } }",
        {"a": my1, "b": sg1},
        key=key,
    )
    assert lane["transitLaneSet"] == {
        "transitLane": {
            "transitDays": 3,
            "transitSdDays": "1.0000",
            "unitCost": {"amount": "0.40", "currency": "USD"},
            "fromWarehouse": {"code": "MY1"},
            "toWarehouse": {"code": "SG1"},
        },
        "userErrors": [],
    }

    ctx = shop.app.job_context()
    assert await JOBS["replenishment_plan"](ctx, tenant_id=shop.tenant.id) == 2
    query = """{ replenishmentPlans(first: 5) { nodes { warehouse { code } meanDaily onOrder position orderUpTo reorderNow
      channelDemand { channel name units share meanDaily connection { name } }
      transfers { fromWarehouse { code } quantity shipOn arriveOn } } } }"""
    plans = {
        p["warehouse"]["code"]: p for p in (await api.data(query, key=key))["replenishmentPlans"]["nodes"]
    }
    sg, my = plans["SG1"], plans["MY1"]
    assert sg["reorderNow"] is True and my["transfers"] == [] and my["channelDemand"] == []
    mean = Decimal(sg["meanDaily"])
    assert [(c["name"], c["units"], c["share"], c["connection"]["name"]) for c in sg["channelDemand"]] == [
        ("sg", 3, "0.7500", "sg"),
        ("my", 1, "0.2500", "my"),
    ]
    assert Decimal(sg["channelDemand"][0]["meanDaily"]) == (mean * Decimal("0.75")).quantize(
        Decimal("0.0001")
    )
    today = datetime.now(UTC).date()
    short = math.ceil(Decimal(sg["orderUpTo"]) - sg["position"])
    assert sg["transfers"] == [
        {
            "fromWarehouse": {"code": "MY1"},
            "quantity": short,
            "shipOn": today.isoformat(),
            "arriveOn": (today + timedelta(days=3)).isoformat(),
        }
    ]

    # ship it: the units leave MY1 and are on order for SG1, due in three days
    shipped = await api.data(
        "mutation($a: ID!, $b: ID!, $v: ID!, $q: Int!) { inboundShipmentCreate(input: {fromWarehouseId: $a, "
        'toWarehouseId: $b, lines: [{variantId: $v, quantity: $q}], carrier: "J&T", trackingNumber: "JT1"}) '
        "{ inboundShipment { number status expectedOn } userErrors { code field } } }",
        {"a": my1, "b": sg1, "v": variant, "q": short},
        key=key,
    )
    assert shipped["inboundShipmentCreate"] == {
        "inboundShipment": {
            "number": "IS-000001",
            "status": "IN_TRANSIT",
            "expectedOn": (today + timedelta(days=3)).isoformat(),
        },
        "userErrors": [],
    }
    await JOBS["replenishment_plan"](ctx, tenant_id=shop.tenant.id)
    plans = {
        p["warehouse"]["code"]: p for p in (await api.data(query, key=key))["replenishmentPlans"]["nodes"]
    }
    assert plans["SG1"]["onOrder"] == short
    assert plans["SG1"]["transfers"] == []  # covered: nothing more to move
