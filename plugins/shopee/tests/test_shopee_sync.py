"""Shopee through Crossdock: orders synced from the emulator over HTTP with injected faults,
a shipment confirmed with its tracking number, stock pushed, tokens refreshed and saved."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from crossdock_shopee.emulator import NON_INTEGRATED, ShopeeEmulator

from crossdock.testing import Shop, build_shop
from crossdock.testing.emulator import Faults, serve


@pytest.fixture
async def setup(app: Any, tenant_factory: Any) -> AsyncIterator[dict[str, Any]]:
    emu = ShopeeEmulator(Faults.failing(0.1, seed=7))
    async with serve(emu) as base:
        creds = emu.add_shop("SG")
        shop_id = creds["shop_id"]
        emu.add_model(shop_id, 100, 1, "SKU-1")
        emu.add_model(shop_id, 100, 2, "SKU-2")
        emu.generate(shop_id, 300, seed=2)
        shop = await build_shop(
            app,
            await tenant_factory(),
            channel="shopee",
            site="SG",
            credentials=creds,
            base_url=base,
            skus={"SKU-1": 2000, "SKU-2": 2000},
            listings={"SKU-1": "100:1", "SKU-2": "100:2"},
            settings={"timeout": 0.5},
            title="Lamp",
        )
        yield {"emu": emu, "creds": creds, "shop": shop}
        await shop.pause()


async def test_sync_confirm_push_and_refresh(setup: dict[str, Any]) -> None:
    emu, shop = setup["emu"], setup["shop"]
    assert isinstance(shop, Shop)
    await shop.sync()
    orders = await shop.orders()
    assert len(orders) == 300
    statuses = Counter(o.channel_status for o in orders.values())
    assert sum(statuses.values()) == 300 and statuses["READY_TO_SHIP"] > 150
    assert sum(emu.injected.values()) > 0  # the sync went through faults

    # a second sync with nothing new changes nothing
    await shop.sync()
    assert len(await shop.orders()) == 300

    # ship one allocated order; the channel gets the tracking number
    order = next(  # on a non-integrated channel: the seller's own carrier ships it
        o
        for o in orders.values()
        if o.status == "allocated"
        and o.channel_status == "READY_TO_SHIP"
        and emu.orders[o.external_id]["_channel"] == NON_INTEGRATED
        and not emu.orders[o.external_id]["_split"]
    )
    shipment = await shop.ship(order.external_id, carrier="Ninja Van", tracking_number="NV-777")
    assert await shop.run("confirm_shipment", shipment_id=shipment) == "confirmed"
    assert emu.orders[order.external_id]["_tracking"] == "NV-777"
    assert emu.orders[order.external_id]["order_status"] == "PROCESSED"

    # stock: the emulator's listing shows what Crossdock may sell
    await shop.run_for_connection("push_stock")
    by_sku = await shop.available_to_sell()
    shop_id = setup["creds"]["shop_id"]
    assert emu.stock_of(shop_id, "SKU-1") == by_sku["SKU-1"] and 0 < by_sku["SKU-1"] < 2000

    # the access token expires: the next sync refreshes it once and saves the new tokens
    emu.expire_tokens()
    emu.update_order(order.external_id, order_status="SHIPPED")
    await asyncio.sleep(1.1)  # Shopee stamps updates to the second
    await shop.sync()
    saved = await shop.credentials()
    assert saved["refresh_token"] == emu.shops[shop_id].refresh_token != setup["creds"]["refresh_token"]
    assert (await shop.order(order.external_id)).channel_status == "SHIPPED"
