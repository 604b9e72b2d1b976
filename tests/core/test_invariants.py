"""``crossdock.testing.invariants.check``: silent on a shop that went through every step,
and each rule speaks when its invariant is broken behind the services' back."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert, update

from crossdock import Money
from crossdock.db.models import (
    Allocation,
    Order,
    OrderLine,
    Refund,
    Shipment,
    StockLedgerEntry,
    StockLevel,
    Transfer,
)
from crossdock.services import aftersales, fulfilment, inventory
from crossdock.testing.invariants import RULES, check


async def _busy_shop(shop: Any, app: Any) -> dict[str, int]:
    """Orders allocated, packed, shipped, cancelled and refunded; a transfer under way."""
    market = shop.market
    await shop.ingest(
        *(market.add_order(x, buyer=f"Buyer {x}") for x in "APSC"),
        market.add_order("H", quantity=9, buyer="Buyer H"),  # more than is in stock: held
    )
    ids = {x: (await shop.order(x)).id for x in "APSCH"}
    wh = shop.warehouses["SG1"]
    async with shop.write() as session:
        await fulfilment.pack_shipment(session, ids["P"], wh, carrier="DHL", tracking_number="P1")
        shipped = await fulfilment.pack_shipment(session, ids["S"], wh, carrier="DHL", tracking_number="S1")
    async with shop.unit_of_work() as uow:
        await fulfilment.ship_shipment(uow, shipped.id)
        await fulfilment.cancel_order(uow, ids["C"], "buyer asked")
    async with shop.unit_of_work() as uow:
        session = uow.session
        await aftersales.record_refund(session, ids["S"], Money.of("5.00", "SGD"), plugins=None)
        other = await inventory.create_warehouse(session, code="SG2", name="Two", country="SG")
        await inventory.start_transfer(
            uow,
            variant_id=shop.variants["SKU-1"],
            from_warehouse_id=wh,
            to_warehouse_id=other.id,
            quantity=1,
        )
    return ids


async def test_a_shop_through_every_step_keeps_every_invariant(shop: Any, app: Any) -> None:
    ids = await _busy_shop(shop, app)
    statuses = {x: (await shop.order(x)).status for x in ids}
    assert statuses == {"A": "allocated", "P": "packed", "S": "shipped", "C": "cancelled", "H": "on_hold"}
    assert await check(app.db, tenant_id=shop.tenant.id) == []


CORRUPTIONS: dict[str, Any] = {
    # a level moved without its ledger row
    "level_ledger": lambda ids, shop: update(StockLevel).values(on_hand=StockLevel.on_hand + 1),
    # a reservation with no allocation behind it (ledger kept in step)
    "reserved_allocations": lambda ids, shop: (
        update(Allocation).where(Allocation.order_id == ids["A"]).values(status="released")
    ),
    "over_refunded": lambda ids, shop: insert(Refund).values(
        tenant_id=shop.tenant.id, order_id=ids["S"], amount=100, currency="SGD"
    ),
    "shipped_cancelled": lambda ids, shop: (
        update(Shipment).where(Shipment.order_id == ids["P"]).values(status="shipped")
    ),
    "order_allocations": lambda ids, shop: (
        update(Order).where(Order.id == ids["A"]).values(status="cancelled")
    ),
    "over_allocated": lambda ids, shop: (
        update(OrderLine).where(OrderLine.order_id == ids["A"]).values(quantity=0)
    ),
    "transfer_quantity": lambda ids, shop: update(Transfer).values(received_quantity=5),
}


@pytest.mark.parametrize("rule", sorted(CORRUPTIONS))
async def test_each_rule_reports_its_broken_invariant(shop: Any, app: Any, rule: str) -> None:
    ids = await _busy_shop(shop, app)
    async with shop.write() as session:
        await session.execute(CORRUPTIONS[rule](ids, shop))
        if rule == "shipped_cancelled":
            await session.execute(update(Order).where(Order.id == ids["P"]).values(status="cancelled"))
    found = await check(app.db, tenant_id=shop.tenant.id)
    assert rule in {v.rule for v in found}, found
    assert all(v.tenant_id == shop.tenant.id for v in found)
    assert await check(app.db, tenant_id=shop.tenant.id + 10_000) == []


async def test_negative_stock_and_orphan_ledger_rows_are_reported(shop: Any, app: Any) -> None:
    """The database refuses a negative level, so this rule guards backends or migrations
    without the check constraints; a ledger row without its level is caught too."""
    async with shop.write() as session:
        await session.execute(
            insert(StockLedgerEntry).values(
                tenant_id=shop.tenant.id,
                variant_id=shop.variants["SKU-2"],
                warehouse_id=shop.warehouses["SG1"],
                delta_on_hand=3,
                delta_reserved=0,
                reason="receipt",
            )
        )
    found = await check(app.db, tenant_id=shop.tenant.id)
    assert [v.rule for v in found] == ["level_ledger"]
    assert "no stock level" in found[0].detail
    assert set(RULES) >= {v.rule for v in found}
