"""A multi-warehouse shop takes stock per location: the connection's
``stock_location_id`` is where Crossdock's available-to-sell goes; without it Shopee
refuses the call and the connection says why."""

from __future__ import annotations

from typing import Any

import pytest
from crossdock_shopee.emulator import ShopeeEmulator

from crossdock import ChannelError
from crossdock.testing import build_shop
from crossdock.testing.emulator import serve


@pytest.mark.parametrize("location", ["SGW", None])
async def test_stock_goes_to_the_configured_location(
    app: Any, tenant_factory: Any, location: str | None
) -> None:
    emu = ShopeeEmulator()
    async with serve(emu) as base:
        creds = emu.add_shop("SG", locations=["SGZ", "SGW"])
        emu.add_model(creds["shop_id"], 700, 1, "RUG", stock=3)  # 3 in SGZ, Shopee's own count
        shop = await build_shop(
            app,
            await tenant_factory(),
            channel="shopee",
            site="SG",
            credentials=creds,
            base_url=base,
            skus={"RUG": 12},
            listings={"RUG": "700:1"},
            settings={"stock_location_id": location} if location else {},
        )
        try:
            if location:
                await shop.run_for_connection("push_stock")
                assert emu.shops[creds["shop_id"]].models[(700, 1)]["locations"] == {"SGZ": 3, "SGW": 12}
            else:
                with pytest.raises(ChannelError) as excinfo:
                    await shop.run_for_connection("push_stock")
                assert excinfo.value.code == "error_busi"
                conn = await shop.connection()
                assert "multi warehouse" in (conn.last_error or "")
        finally:
            await shop.pause()
