"""Shopee's errors as Crossdock types them: throttling and a busy system are retried on
every call path (never a failed connection), and ``error_auth`` spends the single-use
refresh token only when the access token itself is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from crossdock_shopee.client import ShopeeClient
from crossdock_shopee.emulator import APP_DELETED, NO_PERMISSION, RATE_LIMITED, ShopeeEmulator

from crossdock import ChannelError
from crossdock.testing import Shop, build_shop
from crossdock.testing.emulator import serve

BUSY = "Our system is taking some time to respond, please try later."
INFO = "/api/v2/shop/get_shop_info"


@pytest.mark.parametrize(
    ("error", "message", "status", "retry_after", "expected"),
    [
        ("error_rate_limit", RATE_LIMITED, 429, 2, ("error_rate_limit", True, 2.0)),
        ("error_rate_limit", RATE_LIMITED, 200, None, ("error_rate_limit", True, None)),
        ("error_system_busy", BUSY, 200, None, ("error_system_busy", True, None)),
        ("error_inner", BUSY, 200, None, ("error_inner", True, None)),
        ("error_server", "Something wrong. Please try later.", 500, None, ("error_server", True, None)),
        ("error_auth", "Invalid access_token.", 403, None, ("AUTH_EXPIRED", False, None)),
        (
            "invalid_acceess_token",
            "Invalid access_token, please have a check.",
            403,
            None,
            ("AUTH_EXPIRED", False, None),
        ),
        ("error_auth", NO_PERMISSION, 403, None, ("AUTH_NO_PERMISSION", False, None)),
        (
            "error_auth",
            "partner does not have permission to operate shop",
            403,
            None,
            ("AUTH_NO_PERMISSION", False, None),
        ),
        ("error_auth", "partner_id is invalid", 403, None, ("AUTH_PARTNER_INVALID", False, None)),
        ("error_auth", "Invalid partner_id or shopid.", 403, None, ("AUTH_PARTNER_INVALID", False, None)),
        ("error_auth", APP_DELETED, 403, None, ("AUTH_APP_DELETED", False, None)),
        (
            "error_auth",
            "App developer's permissions for authorizations have been restricted.",
            403,
            None,
            ("AUTH_APP_RESTRICTED", False, None),
        ),
        ("error_auth", "System error, please try again later.", 200, None, ("AUTH_TRANSIENT", True, None)),
        ("error_auth", "Lack of location_id, please double check.", 200, None, ("AUTH_REFUSED", False, None)),
    ],
)
async def test_each_answer_is_typed(
    error: str, message: str, status: int, retry_after: float | None, expected: tuple[Any, ...]
) -> None:
    emu = ShopeeEmulator()
    creds = emu.add_shop()
    emu.fail_next(INFO, error, message, status=status, retry_after=retry_after)
    async with serve(emu) as base, httpx.AsyncClient() as http:
        client = ShopeeClient(creds["partner_id"], creds["partner_key"], base_url=base, http=http)
        with pytest.raises(ChannelError) as excinfo:
            await client.call("GET", INFO, access_token=creds["access_token"], shop_id=creds["shop_id"])
    got = excinfo.value
    assert (got.code, got.retryable, got.retry_after) == expected
    assert message in got.message  # the operator reads Shopee's own words


@pytest.fixture
async def shop(app: Any, tenant_factory: Any) -> AsyncIterator[tuple[ShopeeEmulator, Shop, dict[str, Any]]]:
    emu = ShopeeEmulator()
    async with serve(emu) as base:
        creds = emu.add_shop("SG")
        emu.add_model(creds["shop_id"], 100, 1, "LAMP", stock=0)
        emu.add_model(creds["shop_id"], 100, 2, "BULB", stock=0)
        shop = await build_shop(
            app,
            await tenant_factory(),
            channel="shopee",
            site="SG",
            credentials=creds,
            base_url=base,
            skus={"LAMP": 40, "BULB": 40},
            listings={"LAMP": "100:1", "BULB": "100:2"},
        )
        try:
            yield emu, shop, creds
        finally:
            await shop.pause()


async def _still_active(shop: Shop) -> None:
    assert (await shop.connection()).status == "active"


async def test_throttled_and_busy_order_sync_is_retried(shop: Any) -> None:
    emu, shop, creds = shop
    emu.add_order(creds["shop_id"], "T-1", [("LAMP", 1, "10.00")])
    emu.fail_next(
        "/api/v2/order/get_order_list", "error_rate_limit", RATE_LIMITED, status=429, retry_after=0.01
    )
    emu.fail_next("/api/v2/order/get_order_detail", "error_system_busy", BUSY, times=2)
    await shop.sync()
    assert set(await shop.orders()) == {"T-1"}
    assert (emu.injected["error_rate_limit"], emu.injected["error_system_busy"]) == (1, 2)
    await _still_active(shop)


async def test_throttled_and_busy_stock_and_price_pushes_are_retried(shop: Any) -> None:
    emu, shop, creds = shop
    emu.fail_next("/api/v2/product/update_stock", "error_system_busy", BUSY)
    emu.fail_next("/api/v2/product/update_stock", "error_rate_limit", RATE_LIMITED, status=429)
    await shop.run_for_connection("push_stock")
    assert (emu.stock_of(creds["shop_id"], "LAMP"), emu.stock_of(creds["shop_id"], "BULB")) == (40, 40)
    await shop.set_prices({"LAMP": Decimal("19.90")})
    emu.fail_next("/api/v2/product/update_price", "error_rate_limit", RATE_LIMITED)
    emu.fail_next("/api/v2/product/update_price", "error_system_busy", BUSY)
    await shop.run_for_connection("push_prices")
    assert emu.shops[creds["shop_id"]].models[(100, 1)]["price"] == 19.9
    assert (emu.injected["error_rate_limit"], emu.injected["error_system_busy"]) == (2, 2)
    await _still_active(shop)


async def test_throttled_and_busy_messages_are_retried(shop: Any) -> None:
    emu, shop, creds = shop
    emu.buyer_message(creds["shop_id"], "ana", "is the lamp dimmable?")
    emu.fail_next("/api/v2/sellerchat/get_conversation_list", "error_rate_limit", RATE_LIMITED)
    emu.fail_next("/api/v2/sellerchat/get_message", "error_system_busy", BUSY)
    await shop.sync("messages")
    [(conversation, messages)] = (await shop.conversations()).values()
    assert [m.body for m in messages] == ["is the lamp dimmable?"]
    reply = await shop.reply(conversation.id, "yes, it is")
    emu.fail_next("/api/v2/sellerchat/send_message", "error_rate_limit", RATE_LIMITED, status=429)
    assert await shop.run("send_message", message_id=reply) == "sent"
    assert (emu.injected["error_rate_limit"], emu.injected["error_system_busy"]) == (2, 1)
    await _still_active(shop)


async def test_throttled_and_busy_shipment_confirmation_is_retried(shop: Any) -> None:
    emu, shop, creds = shop
    emu.add_order(creds["shop_id"], "T-2", [("LAMP", 1, "10.00")])
    await shop.sync()
    shipment = await shop.ship("T-2", carrier="Ninja Van", tracking_number="NV-1")
    emu.fail_next("/api/v2/logistics/get_shipping_parameter", "error_system_busy", BUSY)
    emu.fail_next("/api/v2/logistics/ship_order", "error_rate_limit", RATE_LIMITED, status=429)
    assert await shop.run("confirm_shipment", shipment_id=shipment) == "confirmed"
    assert emu.orders["T-2"]["_tracking"] == "NV-1"
    assert (emu.injected["error_rate_limit"], emu.injected["error_system_busy"]) == (1, 1)
    await _still_active(shop)


async def test_an_expired_access_token_is_refreshed_once(shop: Any) -> None:
    emu, shop, creds = shop
    emu.add_order(creds["shop_id"], "A-1", [("LAMP", 1, "10.00")])
    emu.expire_tokens()
    await shop.sync()
    saved = await shop.credentials()
    assert saved["refresh_token"] == emu.shops[creds["shop_id"]].refresh_token != creds["refresh_token"]
    assert emu.requests["/api/v2/auth/access_token/get"] == 1
    assert set(await shop.orders()) == {"A-1"}


@pytest.mark.parametrize(
    ("refuse", "code", "words"),
    [
        ("revoke", "AUTH_NO_PERMISSION", NO_PERMISSION),
        ("delete_app", "AUTH_APP_DELETED", APP_DELETED),
    ],
)
async def test_other_auth_refusals_fail_the_connection_without_spending_the_refresh_token(
    shop: Any, refuse: str, code: str, words: str
) -> None:
    emu, shop, creds = shop
    emu.add_order(creds["shop_id"], "A-2", [("LAMP", 1, "10.00")])
    if refuse == "revoke":
        emu.revoke("/api/v2/order/get_order_list")
    else:
        emu.app_deleted = True
    with pytest.raises(ChannelError) as excinfo:
        await shop.sync()
    assert (excinfo.value.code, excinfo.value.retryable) == (code, False)
    assert emu.requests["/api/v2/auth/access_token/get"] == 0  # the refresh token is not spent
    saved = await shop.credentials()
    assert saved["refresh_token"] == creds["refresh_token"] == emu.shops[creds["shop_id"]].refresh_token
    conn = await shop.connection()
    assert conn.status == "failed" and code in (conn.last_error or "") and words in (conn.last_error or "")
