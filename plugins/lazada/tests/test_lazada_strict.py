"""The emulator refuses what Lazada refuses, with Lazada's code in Lazada's envelope
``{code, type, message, request_id, detail?}``: one test per rule.

Codes: the API reference as mirrored in lazykern/ecommerce-api-docs
(data/raw/lazada/apis/order-api/getorders.json E014/E017/E019/E036/E074/E075,
getorder.json and getorderitems.json E016, getmultipleorderitems.json E037/E038/E056,
product-api/updatepricequantity.json E005/E030/4171/501/4104/4118,
fulfillment-api/*.json 7000xx)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from crossdock_lazada.client import LazadaApiError, LazadaClient
from crossdock_lazada.emulator import CROSS_BORDER_WAREHOUSES, LazadaSellerEmulator
from crossdock_lazada.marketplace import LazadaMarketplace

from crossdock import ChannelConnection
from crossdock.testing import emulator_http
from crossdock.testing.emulator import serve

SINCE = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="seconds")


@dataclass
class Env:
    emulator: LazadaSellerEmulator
    base: str
    http: httpx.AsyncClient
    account: dict[str, Any]

    async def call(self, path: str, method: str = "GET", **params: Any) -> dict[str, Any]:
        client = LazadaClient(
            self.account["app_key"], self.account["app_secret"], base_url=self.base, http=self.http
        )
        return await client.call(method, path, params=params, access_token=self.account["access_token"])

    async def refused(self, path: str, method: str = "GET", **params: Any) -> dict[str, Any]:
        """The error envelope of a call Lazada refuses (the test fails if it does not)."""
        with pytest.raises(LazadaApiError) as caught:
            await self.call(path, method, **params)
        body = dict(caught.value.body)
        assert {"code", "type", "message", "request_id"} <= set(body), body
        assert body["type"] in ("ISV", "ISP", "SYSTEM") and body["request_id"]
        return body

    def items(self, order_id: str) -> list[int]:
        return [int(i["order_item_id"]) for i in self.emulator.orders[order_id]["_items"]]


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    emulator = LazadaSellerEmulator()
    async with serve(emulator) as base, httpx.AsyncClient(timeout=5) as http:
        account = emulator.open_account("SG")
        for sku in ("TEE-1", "CAP-2"):
            emulator.add_sku(account["seller_id"], sku, 5, "10.00")
        emulator.add_order(account, "6001", [("TEE-1", 2, "19.90")])
        emulator.add_order(account, "6002", [("CAP-2", 1, "9.00")])
        yield Env(emulator, base, http, account)


# ------------------------------------------------------------------ orders


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "MissingParameter"),  # update_after or created_after is mandatory
        ({"update_after": "2026-01-01T00:00:00"}, "17"),  # no offset
        ({"update_after": "2026-01-01"}, "17"),  # a date, not a time
        ({"update_after": "yesterday"}, "17"),
        ({"created_after": SINCE, "created_before": "soon"}, "17"),
        ({"update_after": SINCE, "limit": 101}, "19"),  # at most 100
        ({"update_after": SINCE, "limit": 0}, "19"),
        ({"update_after": SINCE, "limit": "ten"}, "19"),
        ({"update_after": SINCE, "offset": -1}, "14"),
        ({"update_after": SINCE, "offset": 5001}, "14"),
        ({"update_after": SINCE, "sort_direction": "UP"}, "74"),
        ({"update_after": SINCE, "sort_by": "price"}, "75"),
        ({"update_after": SINCE, "status": "lost_in_space"}, "36"),
    ],
)
async def test_get_orders_validates_its_parameters(env: Env, params: dict[str, Any], code: str) -> None:
    assert (await env.refused("/orders/get", **params))["code"] == code


async def test_get_orders_takes_what_the_reference_allows(env: Env) -> None:
    answer = await env.call(
        "/orders/get",
        update_after=SINCE,
        update_before=(datetime.now(UTC) + timedelta(hours=1)).isoformat(timespec="seconds"),
        sort_by="updated_at",
        sort_direction="ASC",
        limit=100,
        offset=0,
        status="pending",
    )
    assert [o["order_id"] for o in answer["data"]["orders"]] == ["6001", "6002"]
    past = await env.call("/orders/get", update_after=SINCE, update_before=SINCE)
    assert past["data"]["orders"] == []


async def test_order_ids_are_strings_in_every_answer(env: Env) -> None:
    listed = await env.call("/orders/get", update_after=SINCE)
    assert {type(o["order_id"]) for o in listed["data"]["orders"]} == {str}
    assert (await env.call("/order/get", order_id="6001"))["data"]["order_id"] == "6001"
    items = await env.call("/order/items/get", order_id="6001")
    assert {i["order_id"] for i in items["data"]} == {"6001"}
    many = await env.call("/orders/items/get", order_ids="[6001,6002]")
    assert [(e["order_id"], e["order_number"]) for e in many["data"]] == [("6001", "6001"), ("6002", "6002")]
    # the plugin keeps them as strings
    conn = ChannelConnection(
        id=1,
        tenant="t",
        channel="lazada",
        site="SG",
        currency="SGD",
        credentials=env.account,
        base_url=env.base,
        http=emulator_http(),
    )
    order = await LazadaMarketplace().fetch_order(conn, "6001")
    assert order.external_id == "6001" and order.raw["order"]["order_id"] == "6001"


@pytest.mark.parametrize("path", ["/order/get", "/order/items/get"])
async def test_an_order_that_is_not_the_sellers_is_an_invalid_order_id(env: Env, path: str) -> None:
    other = env.emulator.add_seller("SG")
    env.emulator.add_product(other, "X-1")
    env.emulator.add_order(other, "7001", [("X-1", 1, "1.00")])
    for order_id in ("7001", "404", ""):
        assert (await env.refused(path, order_id=order_id))["code"] == "16"


@pytest.mark.parametrize(
    ("order_ids", "code"),
    [
        ("6001,6002", "56"),  # not the array format [1,2]
        ('{"ids": [6001]}', "56"),
        ("[]", "56"),
        (str(list(range(1, 52))), "38"),  # more than 50
        ("[6001,404]", "37"),  # one that is not the seller's
    ],
)
async def test_multiple_order_items_validates_the_list(env: Env, order_ids: str, code: str) -> None:
    assert (await env.refused("/orders/items/get", order_ids=order_ids))["code"] == code


# ------------------------------------------------------------------ price and quantity


def _xml(*skus: str) -> str:
    return (
        "<Request><Product><Skus>" + "".join(f"<Sku>{s}</Sku>" for s in skus) + "</Skus></Product></Request>"
    )


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ("", "30"),  # Empty Request
        ("<Request><Product><Skus><Sku>", "5"),  # not well-formed
        ("<Products><Sku><SellerSku>TEE-1</SellerSku></Sku></Products>", "5"),  # not the documented XML
        (_xml(), "5"),  # no Sku at all
        (_xml(*["<SellerSku>TEE-1</SellerSku><Quantity>1</Quantity>"] * 51), "4171"),  # more than 50
    ],
)
async def test_a_payload_lazada_cannot_read_is_refused_whole(env: Env, payload: str, code: str) -> None:
    body = await env.refused("/product/price_quantity/update", "POST", payload=payload)
    assert body["code"] == code
    assert env.emulator.stock(env.account, "TEE-1") == 5


@pytest.mark.parametrize(
    ("sku", "field", "message"),
    [
        ("<SellerSku>NOPE</SellerSku><Quantity>1</Quantity>", "SellerSku", "SELLER_SKU_NOT_FOUND"),
        ("<Quantity>1</Quantity>", "SellerSku", "CHK_BASIC_REQUIRED"),
        ("<SellerSku>TEE-1</SellerSku><Quantity>-3</Quantity>", "Quantity", "QUANTITY_INVALID"),
        ("<SellerSku>TEE-1</SellerSku><Quantity>2.5</Quantity>", "Quantity", "QUANTITY_INVALID"),
        ("<SellerSku>TEE-1</SellerSku><Price>0</Price>", "Price", "BIZ_CHECK_PRICE_IS_ZERO"),
        ("<SellerSku>TEE-1</SellerSku><Price>-1.00</Price>", "Price", "BIZ_CHECK_PRICE_IS_ZERO"),
        ("<SellerSku>TEE-1</SellerSku><Price>9.999</Price>", "Price", "BIZ_CHECK_PRICE_PRECISION_INVALID"),
        ("<SellerSku>TEE-1</SellerSku><Price>abc</Price>", "Price", "PRICE_INVALID"),
        (
            "<SellerSku>TEE-1</SellerSku><Price>10.00</Price><SalePrice>12.00</SalePrice>",
            "SalePrice",
            "BIZ_CHECK_SPECIAL_PRICE_RATE_OUT_OF_RANGE",
        ),
        ("<SkuId>1</SkuId><SellerSku>TEE-1</SellerSku><Quantity>1</Quantity>", "SkuId", "SKUID_MISMATCH"),
        ("<ItemId>1</ItemId><SellerSku>TEE-1</SellerSku><Quantity>1</Quantity>", "ItemId", "ITEMID_MISMATCH"),
        ("<SellerSku>TEE-1</SellerSku>", "Sku", "CHK_BASIC_REQUIRED"),  # nothing to update
    ],
)
async def test_a_sku_lazada_will_not_update_is_named_in_detail(
    env: Env, sku: str, field: str, message: str
) -> None:
    payload = _xml(sku, "<SellerSku>CAP-2</SellerSku><Quantity>9</Quantity>")
    body = await env.refused("/product/price_quantity/update", "POST", payload=payload)
    assert (body["code"], body["type"], body["message"]) == ("501", "ISP", "Update product failed")
    [entry] = body["detail"]
    assert set(entry) == {"seller_sku", "field", "message"}
    assert entry["field"] == field and entry["message"].startswith(message)
    assert (
        env.emulator.stock(env.account, "TEE-1") == 5 and env.emulator.price(env.account, "TEE-1") == "10.00"
    )
    assert env.emulator.stock(env.account, "CAP-2") == 9  # the SKU not named was applied


async def test_zero_decimal_currencies_take_whole_prices() -> None:
    emulator = LazadaSellerEmulator()
    async with serve(emulator) as base, httpx.AsyncClient(timeout=5) as http:
        account = emulator.open_account("VN")
        emulator.add_product(account, "PHO-1")
        env = Env(emulator, base, http, account)
        body = await env.refused(
            "/product/price_quantity/update",
            "POST",
            payload=_xml("<SellerSku>PHO-1</SellerSku><Price>125000.50</Price>"),
        )
        assert body["detail"][0]["message"].startswith("BIZ_CHECK_PRICE_PRECISION_INVALID")
        await env.call(
            "/product/price_quantity/update",
            "POST",
            payload=_xml("<SellerSku>PHO-1</SellerSku><Price>125000</Price>"),
        )
        assert emulator.price(account, "PHO-1") == "125000.00"


# ------------------------------------------------------------------ fulfilment


def _pack(order_id: str, items: list[Any]) -> dict[str, Any]:
    return {
        "packReq": {
            "pack_order_list": [{"order_id": order_id, "order_item_list": items}],
            "delivery_type": "dropship",
            "shipping_allocate_type": "TFS",
        }
    }


def _item_codes(answer: dict[str, Any]) -> list[str]:
    [entry] = answer["result"]["data"]["pack_order_list"]
    return [i["item_err_code"] for i in entry["order_item_list"]]


async def test_pack_takes_only_the_orders_own_pending_items(env: Env) -> None:
    foreign = env.items("6002")
    answer = await env.call("/order/fulfill/pack", "POST", **_pack("6001", foreign))
    assert _item_codes(answer) == ["700025"]  # ORDER_ITEM_NOT_FOUND: not an item of 6001
    assert env.emulator.status("6002") == ["pending"]
    mine = env.items("6001")
    assert _item_codes(await env.call("/order/fulfill/pack", "POST", **_pack("6001", mine))) == ["0", "0"]
    # packed already: FO_ITEM_NOT_ALLOW_TO_PACK
    assert _item_codes(await env.call("/order/fulfill/pack", "POST", **_pack("6001", mine))) == ["700026"] * 2
    env.emulator.cancel_order(env.account, "6002")
    assert _item_codes(await env.call("/order/fulfill/pack", "POST", **_pack("6002", foreign))) == ["700026"]


@pytest.mark.parametrize(("items", "code"), [([], "700017"), (["first"], "700004"), ([True], "700004")])
async def test_pack_needs_item_ids(env: Env, items: list[Any], code: str) -> None:
    answer = await env.call("/order/fulfill/pack", "POST", **_pack("6001", items))
    assert (answer["result"]["success"], answer["result"]["error_code"]) == (False, code)
    assert env.emulator.status("6001") == ["pending", "pending"]


async def test_shipment_providers_take_only_the_orders_own_items(env: Env) -> None:
    request = {"orders": [{"order_id": "6001", "order_item_ids": env.items("6002")}]}
    answer = await env.call("/order/shipment/providers/get", getShipmentProvidersReq=request)
    assert (answer["result"]["success"], answer["result"]["error_code"]) == (False, "700025")
    request = {"orders": [{"order_id": "6001", "order_item_ids": env.items("6001")}]}
    answer = await env.call("/order/shipment/providers/get", getShipmentProvidersReq=request)
    assert answer["result"]["data"]["shipping_allocate_type"] == "TFS"


async def test_ready_to_ship_takes_only_packed_packages(env: Env) -> None:
    packed = await env.call("/order/fulfill/pack", "POST", **_pack("6001", env.items("6001")))
    package = packed["result"]["data"]["pack_order_list"][0]["order_item_list"][0]["package_id"]
    rts = {"readyToShipReq": {"packages": [{"package_id": package}]}}
    first = await env.call("/order/package/rts", "POST", **rts)
    assert first["result"]["data"]["packages"][0]["item_err_code"] == "0"
    again = await env.call("/order/package/rts", "POST", **rts)  # ready to ship already
    [refused] = again["result"]["data"]["packages"]
    assert refused["item_err_code"] == "700000" and "ready_to_ship" in refused["msg"]
    unknown = await env.call(
        "/order/package/rts", "POST", readyToShipReq={"packages": [{"package_id": "FP0"}]}
    )
    assert unknown["result"]["data"]["packages"][0]["item_err_code"] == "600001"


# ------------------------------------------------------------------ the gateway


async def test_the_gateway_checks_token_permission_and_seller(env: Env) -> None:
    client = LazadaClient(env.account["app_key"], env.account["app_secret"], base_url=env.base, http=env.http)
    with pytest.raises(LazadaApiError) as caught:
        await client.call("GET", "/seller/get")  # no access_token
    assert caught.value.body["code"] == "MissingParameter"
    env.emulator.denied.add("/seller/get")
    assert (await env.refused("/seller/get"))["code"] == "InsufficientPermission"
    env.emulator.denied.clear()
    env.emulator.sellers[env.account["seller_id"]].active = False
    assert (await env.refused("/seller/get"))["code"] == "SellerNotActive"


@pytest.mark.parametrize("code", ["901", "998", "ApiCallLimit", "6", "513", "1000", "ServiceTimeout"])
async def test_scripted_refusals_answer_the_real_envelope(env: Env, code: str) -> None:
    env.emulator.refuse("/orders/get", code)
    body = await env.refused("/orders/get", update_after=SINCE)
    assert body["code"] == code
    assert (await env.call("/orders/get", update_after=SINCE))["code"] == "0"


# ------------------------------------------------------------------ seed data


@pytest.mark.parametrize("cross_border", [False, True])
async def test_generated_orders_look_like_a_real_shop(cross_border: bool) -> None:
    """Multi-unit orders (one item row per unit), several packages for some orders, local
    sellers on LEX (TFS) and cross-border ones through a transferring warehouse (NTFS)."""
    emulator = LazadaSellerEmulator()
    account = emulator.add_seller("MY", cross_border=cross_border)
    for sku in ("A-1", "B-2", "C-3", "D-4"):
        emulator.add_product(account, sku)
    ids = emulator.generate(account["seller_id"], 300, seed=random.Random(cross_border).randint(1, 9))
    orders = [emulator.orders[i] for i in ids]
    multi_unit = [o for o in orders if len(o["_items"]) > len({i["sku"] for i in o["_items"]})]
    assert len(multi_unit) > 30
    packages = {i["package_id"] for o in orders for i in o["_items"] if i["package_id"]}
    split = [o for o in orders if len({i["package_id"] for i in o["_items"] if i["package_id"]}) > 1]
    assert len(packages) > 40 and split
    numbers = {emulator.packages[p]["tracking"] for p in packages}
    providers = {emulator.packages[p]["provider"] for p in packages}
    if cross_border:
        assert all(n.startswith("LEXCB") for n in numbers)
        assert providers == {line for _, line in CROSS_BORDER_WAREHOUSES.values()}
        assert not any(i["is_fbl"] for o in orders for i in o["_items"])
    else:
        assert all(n.startswith("LZMY") for n in numbers) and providers == {"LEX MY"}
    async with serve(emulator) as base:
        conn = ChannelConnection(
            id=1,
            tenant="t",
            channel="lazada",
            site="MY",
            currency="MYR",
            credentials=account,
            base_url=base,
            http=emulator_http(),
        )
        order = await LazadaMarketplace().fetch_order(conn, multi_unit[0]["order_id"])
    live = [i for i in multi_unit[0]["_items"] if i["status"] != "canceled"] or multi_unit[0]["_items"]
    assert sum(line.quantity for line in order.lines) == len(live)
