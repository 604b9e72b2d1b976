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

from crossdock.api.schema.relay import encode_id
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
