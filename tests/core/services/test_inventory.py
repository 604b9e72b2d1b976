"""Stock: every change a ledger row, levels equal ledger sums, never negative."""

from __future__ import annotations

import asyncio
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
    async with app.db.write(t.id, slug=t.slug) as session:
        level = await inventory.receive_stock(
            session,
            variant_id=variant_id,
            warehouse_id=wh_id,
            quantity=10,
            reference="PO-1",
            plugins=app.plugins,
        )
        assert level.on_hand == 10
        level = await inventory.adjust_stock(
            session,
            variant_id=variant_id,
            warehouse_id=wh_id,
            delta=-3,
            note="broken in transit",
            plugins=app.plugins,
        )
        assert level.on_hand == 7
    with pytest.raises(UserError) as excinfo:
        async with app.db.write(t.id, slug=t.slug) as session:
            await inventory.adjust_stock(
                session, variant_id=variant_id, warehouse_id=wh_id, delta=-8, note="count"
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
    async with app.db.write(t.id) as session:
        await inventory.receive_stock(session, variant_id=variant_id, warehouse_id=wh_id, quantity=1)
    for values in ({"on_hand": -1, "reserved": 0}, {"reserved": 5}):
        with pytest.raises(IntegrityError):
            async with app.db.write(t.id) as session:
                await session.execute(update(StockLevel).values(**values))


async def test_concurrent_adjustments_add_up(app: Any, tenant_factory: Any) -> None:
    t = await tenant_factory()
    variant_id, wh_id = await _setup(app, t)
    async with app.db.write(t.id) as session:
        await inventory.receive_stock(session, variant_id=variant_id, warehouse_id=wh_id, quantity=20)

    async def take_one(i: int) -> bool:
        try:
            async with app.db.write(t.id) as session:
                await inventory.adjust_stock(
                    session, variant_id=variant_id, warehouse_id=wh_id, delta=-1, note=f"pick {i}"
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
        "ledger": [{"deltaOnHand": 12, "reason": "receipt", "reference": "PO-7"}],
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
