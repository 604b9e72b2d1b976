"""A seller's own SDK (pyshopee2, from PyPI) works against the emulator unchanged but for
the host: the emulator speaks Shopee's protocol, not just our client's idea of it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from crossdock_shopee.emulator import ShopeeSellerEmulator

from crossdock.testing.emulator import serve

pyshopee2 = pytest.importorskip("pyshopee2")


def _sdk(account: dict[str, Any], base: str) -> Any:
    client = pyshopee2.Client(
        account["shop_id"],
        account["partner_id"],
        account["partner_key"],
        "https://seller.example/redirect",
        access_token=account["access_token"],
    )
    client.host = base
    return client


async def test_pyshopee2_reads_orders_ships_and_updates_stock() -> None:
    emu = ShopeeSellerEmulator()
    async with serve(emu) as base:
        account = emu.open_account("MY")
        listing = emu.add_product(account, "SDK-1", stock=3)
        emu.add_order(account, "SDK-ORDER-1", [("SDK-1", 2, "15.00")])
        sdk = _sdk(dict(account), base)
        now = int(time.time())
        listed = await asyncio.to_thread(
            sdk.order.get_order_list,
            time_range_field="update_time",
            time_from=now - 86400,
            time_to=now + 5,
            page_size=20,
        )
        assert listed["error"] == "" and [o["order_sn"] for o in listed["response"]["order_list"]] == [
            "SDK-ORDER-1"
        ]
        detail = await asyncio.to_thread(
            sdk.order.get_order_detail,
            order_sn_list="SDK-ORDER-1",
            response_optional_fields="item_list,total_amount",
        )
        order = detail["response"]["order_list"][0]
        assert (order["currency"], order["total_amount"], order["item_list"][0]["model_sku"]) == (
            "MYR",
            30.0,
            "SDK-1",
        )
        shipped = await asyncio.to_thread(
            sdk.logistics.ship_order, order_sn="SDK-ORDER-1", non_integrated={"tracking_number": "SDK-TRACK"}
        )
        assert shipped["error"] == ""
        assert emu.tracking_number(account, "SDK-ORDER-1") == "SDK-TRACK"
        item_id, model_id = (int(x) for x in listing.split(":"))
        stock = await asyncio.to_thread(
            sdk.product.update_stock,
            item_id=item_id,
            stock_list=[{"model_id": model_id, "seller_stock": [{"stock": 7}]}],
        )
        assert stock["response"]["failure_list"] == []
        assert emu.stock(account, "SDK-1") == 7
        wrong = _sdk({**account, "partner_key": "nope"}, base)
        rejected = await asyncio.to_thread(wrong.shop.get_shop_info)
        assert rejected["error"] in ("error_sign", 403)  # the SDK maps non-2xx answers to the status code


async def test_pyshopee2_cancels_and_answers_a_buyers_cancellation_request() -> None:
    """(pyshopee2's returns calls go to ``sellerchat/...`` paths Shopee does not serve, so
    only its order-module after-sales calls are exercised.)"""
    emu = ShopeeSellerEmulator()
    async with serve(emu) as base:
        account = emu.open_account("SG")
        emu.add_product(account, "SDK-2", stock=5)
        emu.add_order(account, "SDK-ORDER-2", [("SDK-2", 1, "15.00")])
        emu.add_order(account, "SDK-ORDER-3", [("SDK-2", 1, "15.00")])
        sdk = _sdk(dict(account), base)
        cancelled = await asyncio.to_thread(
            sdk.order.cancel_order, order_sn="SDK-ORDER-2", cancel_reason="CUSTOMER_REQUEST"
        )
        assert cancelled["error"] == "" and cancelled["response"]["update_time"]
        assert emu.orders["SDK-ORDER-2"]["order_status"] == "CANCELLED"
        emu.after_sales.buyer_requests_cancellation("SDK-ORDER-3")
        handled = await asyncio.to_thread(
            sdk.order.handle_buyer_cancellation, order_sn="SDK-ORDER-3", operation="REJECT"
        )
        assert handled["error"] == ""
        assert emu.orders["SDK-ORDER-3"]["order_status"] == "READY_TO_SHIP"
        again = await asyncio.to_thread(
            sdk.order.handle_buyer_cancellation, order_sn="SDK-ORDER-3", operation="ACCEPT"
        )
        assert again["error"] == "order.cancel_order_invalid_status"
