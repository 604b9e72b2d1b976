"""Stock: every change a ledger row, levels equal ledger sums, never negative."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from crossdock.db.models import StockLedgerEntry, StockLevel, Variant
from crossdock.errors import UserError
from crossdock.services import catalog, inventory


async def _setup(app: Any, tenant: Any) -> tuple[int, int]:
    async with app.db.write(tenant.id, slug=tenant.slug) as session:
        product = await catalog.create_product(
            session, title="Lamp", variants=[catalog.VariantSpec(sku="LAMP-1")]
        )
        wh = await inventory.create_warehouse(session, code="W1", name="Main", country="sg")
        variant_id = await session.scalar(select(Variant.id).where(Variant.product_id == product.id))
    assert variant_id is not None
    return variant_id, wh.id


async def _ledger_matches(app: Any, tenant: Any) -> None:
    async with app.db.tenant(tenant.id) as session:
        levels = (await session.scalars(select(StockLevel))).all()
        for level in levels:
            sums = (
                await session.execute(
                    select(
                        func.sum(StockLedgerEntry.delta_on_hand), func.sum(StockLedgerEntry.delta_reserved)
                    ).where(
                        StockLedgerEntry.variant_id == level.variant_id,
                        StockLedgerEntry.warehouse_id == level.warehouse_id,
                    )
                )
            ).one()
            assert (level.on_hand, level.reserved) == (sums[0] or 0, sums[1] or 0)


async def test_receive_adjust_and_refuse_negative(app: Any, tenant_factory: Any, testmarket: Any) -> None:
    t = await tenant_factory()
    variant_id, wh_id = await _setup(app, t)
    async with app.unit_of_work(t.id, t.slug) as uow:
        level = await inventory.receive_stock(
            uow,
            variant_id=variant_id,
            warehouse_id=wh_id,
            quantity=10,
            reference="PO-1",
        )
        assert level.on_hand == 10
        level = await inventory.adjust_stock(
            uow,
            variant_id=variant_id,
            warehouse_id=wh_id,
            delta=-3,
            note="broken in transit",
        )
        assert level.on_hand == 7
    with pytest.raises(UserError) as excinfo:
        async with app.unit_of_work(t.id, t.slug) as uow:
            await inventory.adjust_stock(
                uow, variant_id=variant_id, warehouse_id=wh_id, delta=-8, note="count"
            )
    assert excinfo.value.code == "INSUFFICIENT_STOCK"
    await _ledger_matches(app, t)
    async with app.db.tenant(t.id) as session:
        reasons = (await session.scalars(select(StockLedgerEntry.reason).order_by(StockLedgerEntry.id))).all()
    assert reasons == ["receipt", "adjustment"]
    stock_events = [e for e in testmarket.events if e["hook"] == "stock_changed"]
    assert [(e["on_hand"], e["reason"], e["tenant"]) for e in stock_events] == [
        (10, "receipt", t.slug),
        (7, "adjustment", t.slug),
    ]


async def test_database_refuses_negative_levels(app: Any, tenant_factory: Any) -> None:
    t = await tenant_factory()
    variant_id, wh_id = await _setup(app, t)
    async with app.unit_of_work(t.id) as uow:
        await inventory.receive_stock(uow, variant_id=variant_id, warehouse_id=wh_id, quantity=1)
    for values in ({"on_hand": -1, "reserved": 0}, {"reserved": 5}):
        with pytest.raises(IntegrityError):
            async with app.db.write(t.id) as session:
                await session.execute(update(StockLevel).values(**values))


async def test_concurrent_adjustments_add_up(app: Any, tenant_factory: Any) -> None:
    t = await tenant_factory()
    variant_id, wh_id = await _setup(app, t)
    async with app.unit_of_work(t.id) as uow:
        await inventory.receive_stock(uow, variant_id=variant_id, warehouse_id=wh_id, quantity=20)

    async def take_one(i: int) -> bool:
        try:
            async with app.unit_of_work(t.id) as uow:
                await inventory.adjust_stock(
                    uow, variant_id=variant_id, warehouse_id=wh_id, delta=-1, note=f"pick {i}"
                )
        except UserError:
            return False
        return True

    results = await asyncio.gather(*(take_one(i) for i in range(30)))
    assert sum(results) == 20
    async with app.db.tenant(t.id) as session:
        assert await session.scalar(select(StockLevel.on_hand)) == 0
    await _ledger_matches(app, t)


async def test_graphql_stock_mutations(api: Any, tenant_factory: Any) -> None:
    t = await tenant_factory()
    product = await api.data(
        'mutation { productCreate(input: {title: "Mug", variants: [{sku: "MUG"}]}) { product { variants { id } } } }',
        key=t.key,
    )
    variant_id = product["productCreate"]["product"]["variants"][0]["id"]
    wh = await api.data(
        'mutation { warehouseCreate(input: {code: "W", name: "W", country: "MY", servesCountries: ["sg", "my"]}) { warehouse { id servesCountries } } }',
        key=t.key,
    )
    assert wh["warehouseCreate"]["warehouse"]["servesCountries"] == ["MY", "SG"]
    wh_id = wh["warehouseCreate"]["warehouse"]["id"]
    received = await api.data(
        'mutation($v: ID!, $w: ID!) { stockReceive(input: {variantId: $v, warehouseId: $w, quantity: 12, reference: "PO-7"}) { stockLevel { onHand available ledger { deltaOnHand reason reference } } userErrors { code } } }',
        {"v": variant_id, "w": wh_id},
        key=t.key,
    )
    assert received["stockReceive"]["stockLevel"] == {
        "onHand": 12,
        "available": 12,
        "ledger": [{"deltaOnHand": 12, "reason": "RECEIPT", "reference": "PO-7"}],
    }
    too_much = await api.data(
        'mutation($v: ID!, $w: ID!) { stockAdjust(input: {variantId: $v, warehouseId: $w, delta: -13, note: "lost"}) { stockLevel { onHand } userErrors { code field } } }',
        {"v": variant_id, "w": wh_id},
        key=t.key,
    )
    assert too_much["stockAdjust"] == {
        "stockLevel": None,
        "userErrors": [{"code": "INSUFFICIENT_STOCK", "field": ["delta"]}],
    }
    low = await api.data(
        "{ stockLevels(filter: {availableAtMost: 12}) { edges { node { onHand variant { sku } warehouse { code } } } } }",
        key=t.key,
    )
    assert low["stockLevels"]["edges"] == [
        {"node": {"onHand": 12, "variant": {"sku": "MUG"}, "warehouse": {"code": "W"}}}
    ]


async def test_transfer_is_in_transit_until_received(shop: Any, app: Any) -> None:
    from crossdock.db.models import Transfer

    async with shop.write() as session:
        wh = await inventory.create_warehouse(session, code="MY1", name="KL", country="MY")
    shop.warehouses["MY1"] = wh.id
    async with shop.unit_of_work() as uow:
        transfer = await inventory.start_transfer(
            uow,
            variant_id=shop.variants["SKU-1"],
            from_warehouse_id=shop.warehouses["SG1"],
            to_warehouse_id=wh.id,
            quantity=3,
            reference="TR-1",
        )
    assert (await shop.level("SKU-1", "SG1"), await shop.level("SKU-1", "MY1")) == ((2, 0), (0, 0))
    async with shop.unit_of_work() as uow:
        await inventory.receive_transfer(uow, transfer.id, quantity=2)
    async with shop.read() as session:
        row = await session.scalar(select(Transfer).where(Transfer.id == transfer.id))
    assert (row.status, row.received_quantity, row.quantity) == ("received", 2, 3)  # one unit lost on the way
    assert await shop.level("SKU-1", "MY1") == (2, 0)
    with pytest.raises(UserError, match="received already"):
        async with shop.unit_of_work() as uow:
            await inventory.receive_transfer(uow, transfer.id)
    with pytest.raises(UserError) as excinfo:
        async with shop.unit_of_work() as uow:
            await inventory.start_transfer(
                uow,
                variant_id=shop.variants["SKU-1"],
                from_warehouse_id=shop.warehouses["SG1"],
                to_warehouse_id=wh.id,
                quantity=3,
            )
    assert excinfo.value.code == "INSUFFICIENT_STOCK"
    await shop.ledger_matches_levels()


async def test_stocktake_and_write_off(shop: Any) -> None:
    await shop.ingest(shop.market.add_order("T-1", quantity=2))
    async with shop.unit_of_work() as uow:
        await inventory.count_stock(
            uow,
            variant_id=shop.variants["SKU-1"],
            warehouse_id=shop.warehouses["SG1"],
            counted=4,
            note="cycle count",
        )
    assert await shop.level("SKU-1") == (4, 2)
    with pytest.raises(UserError) as excinfo:
        async with shop.unit_of_work() as uow:
            await inventory.count_stock(
                uow, variant_id=shop.variants["SKU-1"], warehouse_id=shop.warehouses["SG1"], counted=1
            )
    assert excinfo.value.code == "BELOW_RESERVED"
    async with shop.unit_of_work() as uow:
        await inventory.write_off(
            uow,
            variant_id=shop.variants["SKU-1"],
            warehouse_id=shop.warehouses["SG1"],
            quantity=1,
            note="water damage",
        )
    assert await shop.level("SKU-1") == (3, 2)
    async with shop.read() as session:
        rows = (
            await session.execute(
                select(
                    StockLedgerEntry.reason, StockLedgerEntry.delta_on_hand, StockLedgerEntry.details
                ).order_by(StockLedgerEntry.id)
            )
        ).all()
    assert [(r, d) for r, d, _ in rows][-2:] == [("stocktake", -1), ("damage", -1)]
    assert rows[-2][2] == {"counted": 4, "previous": 5, "variance": -1}
    await shop.ledger_matches_levels()


async def test_low_stock_threshold_raises_an_event_once_when_crossed(shop: Any, api: Any) -> None:
    from crossdock.db.models import Event

    async with shop.unit_of_work() as uow:
        await inventory.set_stock_policy(
            uow,
            variant_id=shop.variants["SKU-1"],
            warehouse_id=shop.warehouses["SG1"],
            low_stock_threshold=2,
            safety_stock=1,
        )
    for i in range(4):
        await shop.ingest(shop.market.add_order(f"L-{i}", buyer=f"b{i}"))
    async with shop.read() as session:
        lows = (await session.scalars(select(Event.payload).where(Event.type == "stock.low"))).all()
    assert [p["available"] for p in lows] == [2]  # 5 -> 4 -> 3 -> 2 (crossed) -> 1 (still low)
    low = await api.data(
        "{ stockLevels(filter: {lowStock: true}) { nodes { available safetyStock lowStockThreshold variant { sku } } } }",
        key=shop.tenant.key,
    )
    assert low["stockLevels"]["nodes"] == [
        {"available": 1, "safetyStock": 1, "lowStockThreshold": 2, "variant": {"sku": "SKU-1"}}
    ]


async def test_available_to_sell_per_listing(shop: Any) -> None:
    from crossdock.db.models import Connection, ConnectionWarehouse, Listing
    from crossdock.services.availability import available_to_sell

    await shop.connect("sg2")
    async with shop.unit_of_work() as uow:
        session = uow.session
        my = await inventory.create_warehouse(
            session, code="MY9", name="KL", country="MY"
        )  # does not ship to SG
        await inventory.set_stock_policy(
            uow, variant_id=shop.variants["SKU-1"], warehouse_id=shop.warehouses["SG1"], safety_stock=1
        )
    shop.warehouses["MY9"] = my.id
    await shop.receive("SKU-1", "MY9", 50)
    await shop.ingest(shop.market.add_order("A-1"))  # reserves 1 in SG1

    async def ats(name: str) -> dict[str, int]:
        async with shop.read() as session:
            conn = await session.scalar(select(Connection).where(Connection.id == shop.connections[name]))
            listings = {
                row.id: row.channel_sku
                for row in (
                    await session.scalars(select(Listing).where(Listing.connection_id == conn.id))
                ).all()
            }
            return {listings[k]: v for k, v in (await available_to_sell(session, conn)).items()}

    assert await ats("sg") == {
        "sg-SKU-1": 3,
        "sg-SKU-2": 0,
    }  # 5 on hand - 1 reserved - 1 safety; MY9 does not serve SG
    async with shop.write() as session:
        listing = await session.scalar(select(Listing).where(Listing.channel_sku == "sg2-SKU-1"))
        listing.ats_share = Decimal("0.5")
    assert (await ats("sg2"))["sg2-SKU-1"] == 1  # half of 3, rounded down
    async with shop.write() as session:  # an explicit assignment replaces the country rule
        session.add(ConnectionWarehouse(connection_id=shop.connections["sg"], warehouse_id=my.id))
    assert (await ats("sg"))["sg-SKU-1"] == 50
