"""The emulator refuses what Shopee refuses, with Shopee's code and words (the API
reference JSON mirrored in congminh1254/shopee-sdk, ``schemas/v2.*.json``): one case per
rule, each sent signed over real HTTP."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from crossdock_shopee.client import ShopeeClient
from crossdock_shopee.emulator import ShopeeEmulator
from crossdock_shopee.signing import base_string, sign

from crossdock import ChannelError
from crossdock.testing.emulator import serve

NOW = int(time.time())
LIST = "/api/v2/order/get_order_list"
DETAIL = "/api/v2/order/get_order_detail"
STOCK = "/api/v2/product/update_stock"
PRICE = "/api/v2/product/update_price"
SHIP = "/api/v2/logistics/ship_order"
CONFIRM = "/api/v2/push/confirm_consumed_lost_push_message"
WINDOW = {"time_range_field": "update_time", "time_from": NOW - 86400, "time_to": NOW, "page_size": 20}


def _without(params: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k != name}


#: (what, method, path, query, body, Shopee's code, words of its message)
CASES: list[tuple[str, str, str, dict[str, Any] | None, Any, str, str]] = [
    (
        "time_range_field required",
        "GET",
        LIST,
        _without(WINDOW, "time_range_field"),
        None,
        "error_param",
        "time_range_field",
    ),
    (
        "time_range_field enum",
        "GET",
        LIST,
        {**WINDOW, "time_range_field": "pay_time"},
        None,
        "error_param",
        "time_range_field",
    ),
    ("time_from required", "GET", LIST, _without(WINDOW, "time_from"), None, "error_param", "time_from"),
    ("time_to an integer", "GET", LIST, {**WINDOW, "time_to": "today"}, None, "error_param", "time_to"),
    ("page_size required", "GET", LIST, _without(WINDOW, "page_size"), None, "error_param", "page_size"),
    ("page_size <= 100", "GET", LIST, {**WINDOW, "page_size": 101}, None, "error_param", "page_size"),
    (
        "window <= 15 days",
        "GET",
        LIST,
        {**WINDOW, "time_from": NOW - 16 * 86400},
        None,
        "order.order_list_invalid_time",
        "15days",
    ),
    (
        "window forwards",
        "GET",
        LIST,
        {**WINDOW, "time_from": NOW + 10},
        None,
        "order.order_list_invalid_time",
        "earlier",
    ),
    (
        "order_status enum",
        "GET",
        LIST,
        {**WINDOW, "order_status": "PAID"},
        None,
        "error_param",
        "order_status",
    ),
    (
        "list optional fields",
        "GET",
        LIST,
        {**WINDOW, "response_optional_fields": "item_list"},
        None,
        "error_param",
        "response_optional_fields",
    ),
    ("order_sn_list required", "GET", DETAIL, {}, None, "error_param", "order_sn_list"),
    (
        "order_sn_list <= 50",
        "GET",
        DETAIL,
        {"order_sn_list": ",".join(f"SN{i}" for i in range(51))},
        None,
        "error_param",
        "order_sn_list",
    ),
    (
        "detail optional fields",
        "GET",
        DETAIL,
        {"order_sn_list": "SN1", "response_optional_fields": "item_list,secret"},
        None,
        "error_param",
        "secret",
    ),
    (
        "item_id required",
        "POST",
        STOCK,
        None,
        {"stock_list": [{"model_id": 1, "seller_stock": [{"stock": 1}]}]},
        "error_param",
        "item_id",
    ),
    (
        "item_id int64",
        "POST",
        STOCK,
        None,
        {"item_id": "100", "stock_list": [{"model_id": 1, "seller_stock": [{"stock": 1}]}]},
        "error_param",
        "item_id",
    ),
    ("stock_list required", "POST", STOCK, None, {"item_id": 100}, "error_param", "stock_list"),
    (
        "stock_list <= 50 models",
        "POST",
        STOCK,
        None,
        {"item_id": 100, "stock_list": [{"model_id": i, "seller_stock": [{"stock": 1}]} for i in range(51)]},
        "error_param",
        "1 to 50",
    ),
    (
        "one model once",
        "POST",
        STOCK,
        None,
        {"item_id": 100, "stock_list": [{"model_id": 1, "seller_stock": [{"stock": 1}]}] * 2},
        "error_param",
        "Repeat model_id",
    ),
    (
        "seller_stock required",
        "POST",
        STOCK,
        None,
        {"item_id": 100, "stock_list": [{"model_id": 1}]},
        "error_param",
        "seller_stock",
    ),
    (
        "stock int64",
        "POST",
        STOCK,
        None,
        {"item_id": 100, "stock_list": [{"model_id": 1, "seller_stock": [{"stock": "5"}]}]},
        "error_param",
        "stock",
    ),
    (
        "item of the shop",
        "POST",
        STOCK,
        None,
        {"item_id": 999, "stock_list": [{"model_id": 1, "seller_stock": [{"stock": 1}]}]},
        "error_item_not_found",
        "Item_id is not found",
    ),
    (
        "no location in a one-stock shop",
        "POST",
        STOCK,
        None,
        {
            "item_id": 100,
            "stock_list": [{"model_id": 1, "seller_stock": [{"location_id": "SGZ", "stock": 1}]}],
        },
        "AUTH_REFUSED",
        "location_id",
    ),
    ("price_list required", "POST", PRICE, None, {"item_id": 100}, "error_param", "price_list"),
    (
        "price_list <= 50 models",
        "POST",
        PRICE,
        None,
        {"item_id": 100, "price_list": [{"model_id": i, "original_price": 1.0} for i in range(51)]},
        "error_param",
        "1 to 50",
    ),
    (
        "original_price required",
        "POST",
        PRICE,
        None,
        {"item_id": 100, "price_list": [{"model_id": 1}]},
        "error_param",
        "original_price",
    ),
    (
        "original_price a number",
        "POST",
        PRICE,
        None,
        {"item_id": 100, "price_list": [{"model_id": 1, "original_price": "9.90"}]},
        "error_invalid_price",
        "Invalid price",
    ),
    (
        "only READY_TO_SHIP ships",
        "POST",
        SHIP,
        None,
        {"order_sn": "UNPAID-1", "non_integrated": {"tracking_number": "T1"}},
        "logistics.ship_order_not_ready_to_ship",
        "not ready",
    ),
    (
        "one ship mode",
        "POST",
        SHIP,
        None,
        {"order_sn": "RTS-1", "pickup": {}, "non_integrated": {}},
        "logistics.ship_order_only_support_one_type",
        "just one way",
    ),
    (
        "escrow needs order_sn",
        "GET",
        "/api/v2/payment/get_escrow_detail",
        {},
        None,
        "error_param",
        "Missing order_sn",
    ),
    (
        "escrow of the shop's order",
        "GET",
        "/api/v2/payment/get_escrow_detail",
        {"order_sn": "NOPE"},
        None,
        "order_not_found",
        "does not belong to you",
    ),
    ("last_message_id required", "POST", CONFIRM, None, {}, "error_param", "last_message_id"),
    (
        "last_message_id int",
        "POST",
        CONFIRM,
        None,
        {"last_message_id": "1"},
        "error_param",
        "last_message_id",
    ),
    (
        "last_message_id known",
        "POST",
        CONFIRM,
        None,
        {"last_message_id": 10**9},
        "error_data",
        "data not exist",
    ),
]


@pytest.fixture
async def emulator() -> Any:
    emu = ShopeeEmulator()
    async with serve(emu) as base:
        creds = emu.add_shop("SG")
        emu.add_model(creds["shop_id"], 100, 1, "LAMP")
        emu.add_order(creds["shop_id"], "UNPAID-1", [("LAMP", 1, "9.90")], status="UNPAID")
        emu.add_order(creds["shop_id"], "RTS-1", [("LAMP", 1, "9.90")])
        yield emu, creds, base


@pytest.mark.parametrize(
    ("method", "path", "query", "body", "code", "words"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_the_emulator_refuses_what_shopee_refuses(
    emulator: Any, method: str, path: str, query: dict[str, Any] | None, body: Any, code: str, words: str
) -> None:
    _emu, creds, base = emulator
    shop_level = not path.startswith("/api/v2/push/")
    async with httpx.AsyncClient() as http:
        client = ShopeeClient(creds["partner_id"], creds["partner_key"], base_url=base, http=http)
        with pytest.raises(ChannelError) as excinfo:
            await client.call(
                method,
                path,
                access_token=creds["access_token"] if shop_level else "",
                shop_id=creds["shop_id"] if shop_level else "",
                params=query,
                body=body,
            )
    assert (excinfo.value.code, excinfo.value.retryable) == (code, False)
    assert words in excinfo.value.message


async def test_a_multi_warehouse_shop_takes_stock_per_location(emulator: Any) -> None:
    emu, _, base = emulator
    creds = emu.add_shop("SG", locations=["SGZ", "SGW"])
    emu.add_model(creds["shop_id"], 500, 1, "RUG", stock=4)
    async with httpx.AsyncClient() as http:
        client = ShopeeClient(creds["partner_id"], creds["partner_key"], base_url=base, http=http)
        auth = {"access_token": creds["access_token"], "shop_id": creds["shop_id"]}
        with pytest.raises(ChannelError) as missing:
            await client.call(
                "POST",
                STOCK,
                **auth,
                body={"item_id": 500, "stock_list": [{"model_id": 1, "seller_stock": [{"stock": 2}]}]},
            )
        assert (missing.value.code, "multi warehouse" in missing.value.message) == ("error_busi", True)
        with pytest.raises(ChannelError) as wrong:
            await client.call(
                "POST",
                STOCK,
                **auth,
                body={
                    "item_id": 500,
                    "stock_list": [{"model_id": 1, "seller_stock": [{"location_id": "MYZ", "stock": 2}]}],
                },
            )
        assert wrong.value.code == "AUTH_REFUSED"  # an error_auth that no refresh would cure
        await client.call(
            "POST",
            STOCK,
            **auth,
            body={
                "item_id": 500,
                "stock_list": [{"model_id": 1, "seller_stock": [{"location_id": "SGW", "stock": 7}]}],
            },
        )
    assert emu.shops[creds["shop_id"]].models[(500, 1)]["locations"] == {"SGZ": 4, "SGW": 7}
    assert emu.stock_of(creds["shop_id"], "RUG") == 11


@pytest.mark.parametrize(
    ("drop", "code", "words"),
    [
        ("partner_id", "error_param", "There is no partner_id in query."),
        ("timestamp", "error_param", "no timestamp."),
        ("sign", "error_param", "There is no sign in query."),
        ("access_token", "error_param", "There is no access_token in query."),
    ],
)
async def test_common_parameters_are_required(emulator: Any, drop: str, code: str, words: str) -> None:
    _emu, creds, base = emulator
    path = "/api/v2/shop/get_shop_info"
    ts = int(time.time())
    query: dict[str, Any] = {
        "partner_id": creds["partner_id"],
        "timestamp": ts,
        "access_token": creds["access_token"],
        "shop_id": creds["shop_id"],
    }
    query.pop(drop, None)
    token = query.get("access_token", "")
    query["sign"] = sign(
        creds["partner_key"], base_string(creds["partner_id"], path, ts, token, creds["shop_id"])
    )
    if drop == "sign":
        query.pop("sign")
    async with httpx.AsyncClient() as http:
        answer = (await http.get(base + path, params=query)).json()
    assert (answer["error"], answer["message"]) == (code, words)
    assert set(answer) >= {"request_id", "error", "message", "warning"}
