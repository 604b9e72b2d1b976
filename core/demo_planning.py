"""The demo's planning: a supplier for every demo variant, four months of demand history
in each tenant's main warehouse (a weekly rhythm, one variant selling fast enough to be due
for reordering), a sea lane from the main warehouse to the others, the replenishment plan
made from that history, one shipment on its way, and the draft purchase order the plan
suggests, so ``replenishmentPlans``, ``inboundShipments`` and ``purchaseOrders`` show
something on the first request.

The history is written as the ledger rows allocation and shipping write (a reservation and
its shipment per day), with the stock received before the history begins, so the levels
still equal their ledger.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select, update

from crossdock.bootstrap import App
from crossdock.db.models import StockLedgerEntry, StockLevel, Tenant, Variant, Warehouse
from crossdock.services import inbound, inventory, planning, purchasing

__all__ = ["HISTORY_DAYS", "seed_planning"]

#: Days of demand history the demo writes (enough for the weekly rhythm to show).
HISTORY_DAYS = 120
#: Units a day each variant sells in the main warehouse, in catalogue order (the first
#: sells fast enough to be below its reorder point on the first plan).
DAILY = (9, 3, 2, 5, 1, 4)
#: The demo tenants' supplier.
SUPPLIER = "SZ-FACTORY"
#: Weekday factors, Monday first: the weekend sells more.
WEEK = (0.8, 0.9, 0.9, 1.0, 1.1, 1.4, 1.3)


async def seed_planning(app: App, tenant: Tenant) -> None:
    """Write the history, the supplier and lanes, then plan and draft (see the module doc)."""
    rng = random.Random(f"plan:{tenant.slug}")
    now = datetime.now(UTC)
    start = now - timedelta(days=HISTORY_DAYS + 1)
    async with app.unit_of_work(tenant.id, tenant.slug) as uow:
        session = uow.session
        variants = list((await session.scalars(select(Variant).order_by(Variant.id))).all())
        warehouses = list(
            (await session.scalars(select(Warehouse).order_by(Warehouse.priority, Warehouse.id))).all()
        )
        if not variants or not warehouses:
            return
        main = warehouses[0]
        supplier = await purchasing.create_supplier(
            session,
            code=SUPPLIER,
            name="Shenzhen Factory Co.",
            currency="USD",
            email="sales@factory.example.com",
            lead_time_days=Decimal(21),
            lead_time_sd_days=Decimal(4),
        )
        for variant in variants:
            cost = variant.cost_amount or Decimal("3.00")
            await purchasing.set_supplier_item(
                session,
                supplier_id=supplier.id,
                variant_id=variant.id,
                supplier_sku=f"SZF-{variant.sku}",
                moq=48,
                case_pack=12,
                price_breaks=[
                    {"min_quantity": 1, "unit_price": cost},
                    {"min_quantity": 480, "unit_price": (cost * Decimal("0.92")).quantize(Decimal("0.01"))},
                ],
            )
        for other in warehouses[1:]:
            await inbound.set_lane(
                session,
                from_warehouse_id=main.id,
                to_warehouse_id=other.id,
                transit_days=30,
                transit_sd_days=5,
            )
        rows: list[StockLedgerEntry] = []
        for i, variant in enumerate(variants):
            rate = DAILY[i % len(DAILY)]
            days = [
                max(0, round(rate * WEEK[(now - timedelta(days=d)).weekday()] + rng.uniform(-1.5, 1.5)))
                for d in range(HISTORY_DAYS, 0, -1)
            ]
            total = sum(days)
            # what the history sold arrived before it began
            await inventory.receive_stock(
                uow, variant_id=variant.id, warehouse_id=main.id, quantity=total, reference="PO-DEMO-0000"
            )
            for offset, units in zip(range(HISTORY_DAYS, 0, -1), days, strict=True):
                if not units:
                    continue
                at = now - timedelta(days=offset, hours=rng.randint(0, 10))
                rows.append(
                    StockLedgerEntry(
                        variant_id=variant.id,
                        warehouse_id=main.id,
                        delta_reserved=units,
                        reason="reservation",
                        reference="demo history",
                        created_at=at,
                    )
                )
                rows.append(
                    StockLedgerEntry(
                        variant_id=variant.id,
                        warehouse_id=main.id,
                        delta_on_hand=-units,
                        delta_reserved=-units,
                        reason="shipment",
                        reference="demo history",
                        created_at=at + timedelta(hours=3),
                    )
                )
            await session.execute(
                update(StockLevel)
                .where(StockLevel.variant_id == variant.id, StockLevel.warehouse_id == main.id)
                .values(on_hand=StockLevel.on_hand - total)
            )
        session.add_all(rows)
        # every receipt so far came before the history
        await session.execute(
            update(StockLedgerEntry)
            .where(StockLedgerEntry.reason == "receipt", StockLedgerEntry.created_at >= start)
            .values(created_at=start)
        )
        if len(warehouses) > 1:  # a sea shipment on its way to the second warehouse
            await inbound.create_shipment(
                uow,
                from_warehouse_id=main.id,
                to_warehouse_id=warehouses[1].id,
                lines=[inbound.ShipmentLineInput(variants[-1].id, 24)],
                carrier="COSCO",
                tracking_number="COSU6234567890",
                notes="demo: by sea",
            )
    await planning.plan_tenant(app.db, app.units, tenant.id, tenant.slug)
    async with app.unit_of_work(tenant.id, tenant.slug) as uow:
        await planning.draft_purchase_orders(uow)
