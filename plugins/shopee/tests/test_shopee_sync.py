"""Shopee through Crossdock: orders synced from the emulator over HTTP with injected faults,
a shipment confirmed with its tracking number, stock pushed, tokens refreshed and saved."""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

import pytest
from crossdock_shopee.emulator import ShopeeEmulator
from sqlalchemy import func, select

from crossdock.db.models import Connection, Listing, Order, Variant
from crossdock.jobs import JOBS
from crossdock.services import catalog, connections, fulfilment, inventory
from crossdock.services.availability import available_to_sell
from crossdock.testing.conformance import sync_to_the_end, until_done
from crossdock.testing.emulator import Faults, serve

T = TypeVar("T")


@pytest.fixture
async def setup(app: Any, tenant_factory: Any) -> Any:
    emu = ShopeeEmulator(Faults.failing(0.1, seed=7))
    async with serve(emu) as base:
        creds = emu.add_shop("SG")
        shop_id = creds["shop_id"]
        emu.add_model(shop_id, 100, 1, "SKU-1")
        emu.add_model(shop_id, 100, 2, "SKU-2")
        emu.generate(shop_id, 300, seed=2)
        tenant = await tenant_factory()
        async with app.unit_of_work(tenant.id, tenant.slug) as uow:
            session = uow.session
            await catalog.create_product(
                session,
                title="Lamp",
                variants=[catalog.VariantSpec(sku="SKU-1"), catalog.VariantSpec(sku="SKU-2")],
            )
            wh = await inventory.create_warehouse(session, code="SG", name="SG", country="SG")
            variants = {v.sku: v.id for v in (await session.scalars(select(Variant))).all()}
            for variant_id in variants.values():
                await inventory.receive_stock(uow, variant_id=variant_id, warehouse_id=wh.id, quantity=2000)
            conn = await connections.create_connection(
                session,
                app.plugins,
                app.vault,
                policy=app.http.policy,
                channel="shopee",
                name="sg",
                site="SG",
                credentials=creds,
                base_url=base,
                settings={"timeout": 0.5},
            )
            for sku, model in (("SKU-1", 1), ("SKU-2", 2)):
                session.add(
                    Listing(
                        connection_id=conn.id,
                        variant_id=variants[sku],
                        channel_sku=sku,
                        external_id=f"100:{model}",
                    )
                )
        yield {"emu": emu, "creds": creds, "tenant": tenant, "conn_id": conn.id, "warehouse_id": wh.id}


async def test_sync_confirm_push_and_refresh(app: Any, setup: Any) -> None:
    emu, tenant, conn_id = setup["emu"], setup["tenant"], setup["conn_id"]
    ctx = app.job_context()
    await sync_to_the_end(app, tenant.id, conn_id)
    async with app.db.tenant(tenant.id) as session:
        assert await session.scalar(select(func.count(Order.id))) == 300
        statuses = dict(
            (
                await session.execute(
                    select(Order.channel_status, func.count()).group_by(Order.channel_status)
                )
            ).all()
        )
    assert sum(statuses.values()) == 300 and statuses["READY_TO_SHIP"] > 150
    assert emu.injected["duplicate_page"] + emu.injected["throttle"] + emu.injected["server_error"] > 0

    # a second sync with nothing new changes nothing
    await sync_to_the_end(app, tenant.id, conn_id)
    async with app.db.tenant(tenant.id) as session:
        assert await session.scalar(select(func.count(Order.id))) == 300

    # ship one allocated order; the channel gets the tracking number
    async with app.unit_of_work(tenant.id, tenant.slug) as uow:
        session = uow.session
        order = await session.scalar(
            select(Order).where(Order.status == "allocated", Order.channel_status == "READY_TO_SHIP").limit(1)
        )
        shipment = await fulfilment.pack_shipment(
            session, order.id, setup["warehouse_id"], carrier="Ninja Van", tracking_number="NV-777"
        )
        await fulfilment.ship_shipment(uow, shipment.id)
    assert (
        await until_done(lambda: JOBS["confirm_shipment"](ctx, tenant_id=tenant.id, shipment_id=shipment.id))
        == "confirmed"
    )
    assert emu.orders[order.external_id]["_tracking"] == "NV-777"
    assert emu.orders[order.external_id]["order_status"] == "PROCESSED"

    # stock: the emulator's listing shows what Crossdock may sell
    await until_done(lambda: JOBS["push_stock"](ctx, tenant_id=tenant.id, connection_id=conn_id))
    async with app.db.tenant(tenant.id) as session:
        conn = await session.scalar(select(Connection).where(Connection.id == conn_id))
        ats = await available_to_sell(session, conn)
        by_sku = {row.channel_sku: ats[row.id] for row in (await session.scalars(select(Listing))).all()}
    shop_id = setup["creds"]["shop_id"]
    assert emu.stock_of(shop_id, "SKU-1") == by_sku["SKU-1"] and 0 < by_sku["SKU-1"] < 2000

    # the access token expires: the next sync refreshes it once and saves the new tokens
    emu.expire_tokens()
    emu.update_order(order.external_id, order_status="SHIPPED")
    await asyncio.sleep(1.1)  # Shopee stamps updates to the second
    await sync_to_the_end(app, tenant.id, conn_id)
    async with app.db.tenant(tenant.id) as session:
        conn = await session.scalar(select(Connection).where(Connection.id == conn_id))
        saved = app.vault.decrypt(conn.credentials_encrypted)
        synced = await session.scalar(select(Order).where(Order.id == order.id))
    assert saved["refresh_token"] == emu.shops[shop_id].refresh_token != setup["creds"]["refresh_token"]
    assert synced.channel_status == "SHIPPED"
