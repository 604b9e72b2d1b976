"""Pushes Crossdock missed come back from Shopee's lost-push list
(``v2.push.get_lost_push_message``) through the core's notification drain: ingested once,
confirmed consumed (``confirm_consumed_lost_push_message``), never doubled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from crossdock_shopee.emulator import ShopeeEmulator

from crossdock import ChannelError
from crossdock.testing import Shop, build_shop
from crossdock.testing.emulator import serve


@asynccontextmanager
async def pushing(
    app: Any, tenant_factory: Any, live_server: str, **settings: Any
) -> AsyncIterator[tuple[ShopeeEmulator, Shop, dict[str, Any], str]]:
    emu = ShopeeEmulator()
    async with serve(emu) as base:
        creds = emu.add_shop("SG")
        emu.add_model(creds["shop_id"], 100, 1, "LAMP", stock=10)
        shop = await build_shop(
            app,
            await tenant_factory(),
            channel="shopee",
            site="SG",
            credentials=creds,
            base_url=base,
            skus={"LAMP": 10},
            listings={"LAMP": "100:1"},
        )
        key = (await shop.connection()).webhook_key
        url = f"{live_server}/webhooks/shopee/{key}"
        await shop.update_connection(settings={"webhook_url": url, **settings})
        try:
            yield emu, shop, creds, url
        finally:
            await shop.pause()


async def test_a_lost_push_is_recovered_and_ingested_once(
    app: Any, tenant_factory: Any, live_server: str
) -> None:
    async with pushing(app, tenant_factory, live_server) as (emu, shop, creds, _url):
        emu.enable_push(f"{live_server}/webhooks/shopee/not-the-key")  # the callback fails: 404
        emu.add_order(creds["shop_id"], "LOST-1", [("LAMP", 1, "12.90")])
        assert await emu.deliver_pushes() == (0, 1)
        assert len(emu.lost) == 1 and await shop.orders() == {}
        assert await shop.run_for_connection("drain_notifications") == {"received": 1, "stored": 1}
        assert await shop.process_webhooks() == 1
        assert set(await shop.orders()) == {"LOST-1"}
        assert emu.lost == []  # confirmed consumed
        assert emu.requests["/api/v2/push/confirm_consumed_lost_push_message"] == 1
        # nothing left: the next drain reads an empty list and confirms nothing
        assert await shop.run_for_connection("drain_notifications") == {"received": 0, "stored": 0}
        assert emu.requests["/api/v2/push/confirm_consumed_lost_push_message"] == 1
        assert len(await shop.webhook_events()) == 1


async def test_a_push_that_arrived_but_whose_answer_was_lost_is_not_doubled(
    app: Any, tenant_factory: Any, live_server: str
) -> None:
    async with pushing(app, tenant_factory, live_server) as (emu, shop, creds, url):
        emu.enable_push(url)
        emu.add_order(creds["shop_id"], "LOST-2", [("LAMP", 1, "12.90")])
        emu.lose_answers = 1  # Crossdock stores it, but Shopee never sees the 2xx
        assert await emu.deliver_pushes() == (0, 1)
        assert len(await shop.webhook_events()) == 1
        assert await shop.run_for_connection("drain_notifications") == {"received": 1, "stored": 0}
        assert await shop.process_webhooks() == 1
        assert len(await shop.webhook_events()) == 1 and set(await shop.orders()) == {"LOST-2"}
        assert emu.lost == []


async def test_a_failed_confirmation_means_a_second_read_not_a_duplicate(
    app: Any, tenant_factory: Any, live_server: str
) -> None:
    async with pushing(app, tenant_factory, live_server) as (emu, shop, creds, _url):
        emu.enable_push(f"{live_server}/webhooks/shopee/not-the-key")
        emu.add_order(creds["shop_id"], "LOST-3", [("LAMP", 1, "12.90")])
        await emu.deliver_pushes()
        emu.fail_confirms = 10  # every in-place retry of the confirmation fails
        with pytest.raises(ChannelError) as failed:
            await shop.job("drain_notifications", connection_id=shop.connection_id)()
        assert failed.value.retryable
        assert len(emu.lost) == 1  # still Shopee's to hand out
        emu.fail_confirms = 0
        assert await shop.run_for_connection("drain_notifications") == {"received": 1, "stored": 0}
        assert emu.lost == [] and len(await shop.webhook_events()) == 1


async def test_other_shops_pushes_are_left_to_them_until_the_grace_runs_out(
    app: Any, tenant_factory: Any, live_server: str
) -> None:
    async with pushing(app, tenant_factory, live_server) as (emu, shop, creds, url):
        other = emu.add_shop("SG")  # another shop of the same partner, not this connection's
        emu.add_model(other["shop_id"], 200, 1, "LAMP")
        emu.enable_push(f"{live_server}/webhooks/shopee/not-the-key")
        emu.add_order(other["shop_id"], "THEIRS-1", [("LAMP", 1, "9.90")])
        emu.add_order(creds["shop_id"], "MINE-1", [("LAMP", 1, "12.90")])
        emu.lose({"code": 1, "timestamp": 1, "data": {"shop_id": other["shop_id"], "success": 1}})
        await emu.deliver_pushes()
        assert len(emu.lost) == 3
        assert await shop.run_for_connection("drain_notifications") == {"received": 1, "stored": 1}
        assert await shop.process_webhooks() == 1
        assert set(await shop.orders()) == {"MINE-1"}
        # the page holds another shop's push, lost a moment ago: not confirmed for it
        assert len(emu.lost) == 3
        assert await shop.run_for_connection("drain_notifications") == {"received": 1, "stored": 0}
        # once the grace is over, the page is confirmed (the other shop had its chance)
        await shop.update_connection(settings={"webhook_url": url, "lost_push_grace_seconds": 0})
        assert await shop.run_for_connection("drain_notifications") == {"received": 1, "stored": 0}
        assert emu.lost == []


async def test_the_lost_push_list_refuses_a_wrong_partner_key(
    app: Any, tenant_factory: Any, live_server: str
) -> None:
    async with pushing(app, tenant_factory, live_server) as (emu, shop, creds, _url):
        emu.enable_push(f"{live_server}/webhooks/shopee/not-the-key")
        emu.add_order(creds["shop_id"], "LOST-4", [("LAMP", 1, "12.90")])
        await emu.deliver_pushes()
        await shop.update_connection(credentials={**creds, "partner_key": "not-the-key"})
        assert await shop.run_for_connection("drain_notifications") == {"received": 0, "stored": 0}
        conn = await shop.connection()
        assert conn.status == "active" and (conn.last_error or "").startswith("notifications: error_sign")
        assert len(emu.lost) == 1
