"""Shopee's wire protocol: signatures against the published vector, the client against the
emulator over real HTTP (auth, envelope, token refresh, pagination)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from crossdock_shopee.client import ShopeeClient
from crossdock_shopee.emulator import ShopeeEmulator
from crossdock_shopee.signing import base_string, push_signature, sign, verify_push

from crossdock import ChannelError
from crossdock.testing.emulator import Faults, serve


def test_signature_matches_the_published_vector() -> None:
    # Shopee Open Platform authorization docs, as recorded in ../shared/marketplaces.md
    base = base_string(
        2001887, "/api/v2/shop/get_shop_info", 1655714431, "59777174636562737266615546704c6d", 14701711
    )
    assert base == "2001887/api/v2/shop/get_shop_info165571443159777174636562737266615546704c6d14701711"
    assert (
        sign("test_partner_key", base) == "9fdae5aeed86e753249982ec04aa54339280f12d3f456b9e3f7d8ee91e66a2b3"
    )


def test_push_signature_covers_url_and_body() -> None:
    body = b'{"code":3,"data":{"ordersn":"X"}}'
    signature = push_signature("k", "https://example.test/hook", body)
    assert verify_push("k", "https://example.test/hook", body, signature)
    assert not verify_push("k", "https://example.test/hook", body + b" ", signature)
    assert not verify_push("k", "https://other.test/hook", body, signature)


@pytest.fixture
async def emulator() -> Any:
    emu = ShopeeEmulator()
    async with serve(emu) as base:
        emu.base = base  # type: ignore[attr-defined]
        yield emu


async def test_client_signs_and_reads_the_envelope(emulator: Any) -> None:
    creds = emulator.add_shop("MY")
    async with httpx.AsyncClient() as http:
        client = ShopeeClient(creds["partner_id"], creds["partner_key"], base_url=emulator.base, http=http)
        info = await client.call(
            "GET", "/api/v2/shop/get_shop_info", access_token=creds["access_token"], shop_id=creds["shop_id"]
        )
        assert info["region"] == "MY" and info["error"] == ""
        wrong = ShopeeClient(creds["partner_id"], "not-the-key", base_url=emulator.base, http=http)
        with pytest.raises(ChannelError) as excinfo:
            await wrong.call(
                "GET",
                "/api/v2/shop/get_shop_info",
                access_token=creds["access_token"],
                shop_id=creds["shop_id"],
            )
        assert (excinfo.value.code, excinfo.value.retryable) == ("error_sign", False)
        stale = ShopeeClient(
            creds["partner_id"],
            creds["partner_key"],
            base_url=emulator.base,
            http=http,
            clock=lambda: time.time() - 600,
        )
        with pytest.raises(ChannelError, match="timestamp expired"):
            await stale.call(
                "GET",
                "/api/v2/shop/get_shop_info",
                access_token=creds["access_token"],
                shop_id=creds["shop_id"],
            )


async def test_refresh_tokens_are_single_use_and_old_access_tokens_linger(emulator: Any) -> None:
    creds = emulator.add_shop()
    async with httpx.AsyncClient() as http:
        client = ShopeeClient(creds["partner_id"], creds["partner_key"], base_url=emulator.base, http=http)
        fresh = await client.refresh(creds["shop_id"], creds["refresh_token"])
        assert (
            fresh["access_token"] != creds["access_token"]
            and fresh["refresh_token"] != creds["refresh_token"]
        )
        with pytest.raises(ChannelError, match="invalid refresh_token"):
            await client.refresh(creds["shop_id"], creds["refresh_token"])
        # the replaced access token still works for five minutes
        await client.call(
            "GET", "/api/v2/shop/get_shop_info", access_token=creds["access_token"], shop_id=creds["shop_id"]
        )
        emulator.expire_tokens()
        with pytest.raises(ChannelError) as excinfo:
            await client.call(
                "GET",
                "/api/v2/shop/get_shop_info",
                access_token=fresh["access_token"],
                shop_id=creds["shop_id"],
            )
        assert excinfo.value.code == ChannelError.AUTH_EXPIRED


async def test_order_list_pages_and_windows(emulator: Any) -> None:
    creds = emulator.add_shop()
    emulator.add_model(creds["shop_id"], 1, 11, "SKU-A")
    emulator.generate(creds["shop_id"], 250, seed=3)
    now = int(time.time())
    async with httpx.AsyncClient() as http:
        client = ShopeeClient(creds["partner_id"], creds["partner_key"], base_url=emulator.base, http=http)
        seen: list[str] = []
        cursor = ""
        while True:
            answer = await client.call(
                "GET",
                "/api/v2/order/get_order_list",
                access_token=creds["access_token"],
                shop_id=creds["shop_id"],
                params={
                    "time_range_field": "update_time",
                    "time_from": now - 10 * 86400,
                    "time_to": now,
                    "page_size": 100,
                    "cursor": cursor,
                },
            )
            response = answer["response"]
            seen += [o["order_sn"] for o in response["order_list"]]
            if not response["more"]:
                break
            cursor = response["next_cursor"]
        assert sorted(seen) == sorted(emulator.orders)
        with pytest.raises(ChannelError, match="15 days"):
            await client.call(
                "GET",
                "/api/v2/order/get_order_list",
                access_token=creds["access_token"],
                shop_id=creds["shop_id"],
                params={
                    "time_range_field": "update_time",
                    "time_from": now - 20 * 86400,
                    "time_to": now,
                    "page_size": 10,
                },
            )


async def test_faults_surface_as_retryable_errors() -> None:
    emu = ShopeeEmulator(Faults(throttle=1.0, retry_after=3))
    creds = emu.add_shop()
    async with serve(emu) as base, httpx.AsyncClient() as http:
        client = ShopeeClient(creds["partner_id"], creds["partner_key"], base_url=base, http=http)
        with pytest.raises(ChannelError) as excinfo:
            await client.call(
                "GET",
                "/api/v2/shop/get_shop_info",
                access_token=creds["access_token"],
                shop_id=creds["shop_id"],
            )
    assert (excinfo.value.code, excinfo.value.retryable, excinfo.value.retry_after) == (
        "THROTTLED",
        True,
        3.0,
    )
    emu.faults = Faults(malformed=1.0)
    async with serve(emu) as base, httpx.AsyncClient() as http:
        client = ShopeeClient(creds["partner_id"], creds["partner_key"], base_url=base, http=http)
        with pytest.raises(ChannelError) as excinfo:
            await client.call(
                "GET",
                "/api/v2/shop/get_shop_info",
                access_token=creds["access_token"],
                shop_id=creds["shop_id"],
            )
    assert (excinfo.value.code, excinfo.value.retryable) == ("MALFORMED", True)
