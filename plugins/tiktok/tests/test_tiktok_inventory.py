"""Update Inventory with several warehouses: every warehouse assigned to a SKU is sent, the
available quantity lands where the connection says (the others at 0), the SKU's warehouses
are read from Get Product and read again when TikTok says they changed; and the emulator
refuses what the reference refuses (reference ``update-inventory``)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from crossdock_tiktok.client import TikTokShopClient
from crossdock_tiktok.emulator import REGIONS, TikTokShopSellerEmulator
from crossdock_tiktok.marketplace import TikTokShopMarketplace

from crossdock import ChannelConnection, ChannelError, StockUpdate
from crossdock.testing import emulator_http
from crossdock.testing.emulator import serve


@pytest.fixture
async def emulator() -> Any:
    emu = TikTokShopSellerEmulator()
    async with serve(emu) as base:
        emu.base = base  # type: ignore[attr-defined]
        yield emu


def _conn(emu: Any, creds: Any, **settings: Any) -> ChannelConnection:
    return ChannelConnection(
        id=1,
        tenant="t",
        channel="tiktok",
        site="US",
        currency=REGIONS["US"].currency,
        credentials=dict(creds),
        base_url=emu.base,
        settings=settings,
        http=emulator_http(),
    )


def _levels(emu: Any, creds: Any, sku: str) -> list[int]:
    shop = emu.shop_of(creds)
    stock = emu.find_sku(shop, sku)[2]["stock"]
    return [stock[w] for w in shop.warehouses if w in stock]


async def test_the_quantity_goes_to_one_warehouse_and_the_others_are_set_to_zero(emulator: Any) -> None:
    creds = emulator.open_account("US")
    shop = emulator.shop_of(creds)
    both = emulator.add_sku(shop, "TWO", 0, warehouses=shop.warehouses)
    product = both.split(":")[0]
    single = emulator.add_sku(shop, "ONE", 0, product, warehouses=shop.warehouses[1:])
    emulator.find_sku(shop, "TWO")[2]["stock"][shop.warehouses[1]] = 40  # set in Seller Center
    provider = TikTokShopMarketplace()
    results = await provider.push_stock(
        _conn(emulator, creds), [StockUpdate("TWO", 7, both), StockUpdate("ONE", 3, single)]
    )
    assert [r.accepted for r in results] == [True, True]
    # the default sales warehouse holds it all: TikTok sells 7, not 7 + 40
    assert (_levels(emulator, creds, "TWO"), _levels(emulator, creds, "ONE")) == ([7, 0], [3])
    # the connection names the warehouse
    named = _conn(emulator, creds, warehouse_id=shop.warehouses[1])
    await TikTokShopMarketplace().push_stock(named, [StockUpdate("TWO", 9, both)])
    assert _levels(emulator, creds, "TWO") == [0, 9]
    # or splits it by weight; the parts add up exactly
    shares = {shop.warehouses[0]: 1, shop.warehouses[1]: 2}
    await TikTokShopMarketplace().push_stock(
        _conn(emulator, creds, warehouse_shares=shares), [StockUpdate("TWO", 10, both)]
    )
    assert _levels(emulator, creds, "TWO") == [3, 7]
    # TikTok's range: never below 0, at most 99,999
    await provider.push_stock(
        _conn(emulator, creds), [StockUpdate("TWO", -5, both), StockUpdate("ONE", 10**6, single)]
    )
    assert (_levels(emulator, creds, "TWO"), _levels(emulator, creds, "ONE")) == ([0, 0], [99_999])
    with pytest.raises(ChannelError) as excinfo:
        await provider.push_stock(
            _conn(emulator, creds, warehouse_shares={shop.warehouses[0]: "lots"}),
            [StockUpdate("TWO", 1, both)],
        )
    assert (excinfo.value.code, excinfo.value.retryable) == ("BAD_SETTING", False)


async def test_warehouses_are_cached_and_read_again_when_tiktok_says_they_changed(emulator: Any) -> None:
    creds = emulator.open_account("US")
    shop = emulator.shop_of(creds)
    listing = emulator.add_product(creds, "MOVE", 0)
    product = listing.split(":")[0]
    provider, conn = TikTokShopMarketplace(), _conn(emulator, creds)
    detail = f"/product/202309/products/{product}"
    update = f"{detail}/inventory/update"
    await provider.push_stock(conn, [StockUpdate("MOVE", 4, listing)])
    await provider.push_stock(conn, [StockUpdate("MOVE", 5, listing)])
    assert (emulator.requests[detail], emulator.requests[update]) == (1, 2)  # read once
    # the seller moves the SKU to a new warehouse in Seller Center
    third = emulator._next_id(7068)
    shop.warehouses.append(third)
    emulator.find_sku(shop, "MOVE")[2]["stock"] = {shop.warehouses[0]: 5, third: 0}
    [result] = await provider.push_stock(conn, [StockUpdate("MOVE", 6, listing)])
    assert result.accepted  # refused (12052533), read again, sent again
    assert emulator.find_sku(shop, "MOVE")[2]["stock"] == {shop.warehouses[0]: 6, third: 0}
    assert (emulator.requests[detail], emulator.requests[update]) == (2, 4)
    # a SKU added to the product since the last read is looked up, not guessed
    added = emulator.add_sku(shop, "NEW", 0, product, warehouses=shop.warehouses[:2])
    [result] = await provider.push_stock(conn, [StockUpdate("NEW", 2, added)])
    assert result.accepted and emulator.requests[detail] == 3
    assert _levels(emulator, creds, "NEW") == [2, 0]


async def test_an_unknown_product_fails_its_own_updates(emulator: Any) -> None:
    creds = emulator.open_account("US")
    known = emulator.add_product(creds, "K", 1)
    results = await TikTokShopMarketplace().push_stock(
        _conn(emulator, creds), [StockUpdate("GONE", 1, "404404:1"), StockUpdate("K", 2, known)]
    )
    assert [(r.accepted, (r.message or "")[:8]) for r in results] == [(False, "12052048"), (True, "")]
    assert emulator.stock(creds, "K") == 2


# ------------------------------------------------------------------ the emulator's rules


async def _update(emu: Any, creds: Any, product: str, skus: Any) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        client = TikTokShopClient(emu.app_key, emu.app_secret, base_url=emu.base, http=http)
        return await client.call(
            "POST",
            f"/product/202309/products/{product}/inventory/update",
            operation="products.inventory_update",
            access_token=creds["access_token"],
            shop_cipher=emu.shop_of(creds).cipher,
            body={"skus": skus},
        )


def _refusals(data: dict[str, Any]) -> list[tuple[int, list[int]]]:
    return [
        (e["code"], [x["code"] for x in e["detail"].get("extra_errors") or []])
        for e in data.get("errors") or []
    ]


async def test_update_inventory_refuses_what_the_reference_refuses(emulator: Any) -> None:
    creds = emulator.open_account("US")
    shop = emulator.shop_of(creds)
    w1, w2 = shop.warehouses
    product, sku = emulator.add_sku(shop, "TWO", 5, warehouses=[w1, w2]).split(":")
    _, one = emulator.add_sku(shop, "ONE", 5, product).split(":")

    def levels(*pairs: Any) -> list[dict[str, Any]]:
        return [{"warehouse_id": w, "quantity": q} for w, q in pairs]

    other_shop = emulator.shop_of(emulator.open_account("GB")).warehouses[0]
    per_sku = [
        (levels((w1, 3)), (12052990, [12019028])),  # an assigned warehouse left out
        ([{"quantity": 3}], (12052990, [12019028])),  # no warehouse id with several
        (levels((w1, 3), (w2, 1), (other_shop, 1)), (12052990, [12052533])),  # an unrelated one
        (levels((w1, 3), (w2, 1), ("7068999999999999999", 1)), (12052990, [12052097])),  # unknown
        (levels((w1, 100_000), (w2, 0)), (12052990, [12052055])),  # above 99,999
        (levels((w1, -1), (w2, 0)), (12052990, [12052055])),
        (levels((w1, "3"), (w2, 0)), (12052990, [12052055])),  # a string, not an int
        ([], (12052990, [12052486])),  # no inventory
    ]
    for inventory, expected in per_sku:
        data = await _update(emulator, creds, product, [{"id": sku, "inventory": inventory}])
        assert _refusals(data) == [expected], inventory
        assert data["errors"][0]["detail"]["sku_id"] == sku
    assert emulator.find_sku(shop, "TWO")[2]["stock"] == {w1: 5, w2: 0}  # nothing refused was written
    # a refused SKU does not stop the others; a single warehouse may go unnamed; 0 is allowed
    data = await _update(
        emulator,
        creds,
        product,
        [
            {"id": "1730000000000000404", "inventory": [{"quantity": 1}]},
            {"id": one, "inventory": [{"quantity": 0}]},
        ],
    )
    assert _refusals(data) == [(12052556, [])]
    assert emulator.find_sku(shop, "ONE")[2]["stock"] == {w1: 0}
    whole = [
        (product, [], "12052902"),  # empty list
        (product, [{"id": sku, "inventory": levels((w1, 1), (w2, 1))}] * 2, "12052553"),  # duplicate
        (product, [{"inventory": levels((w1, 1))}], "12052910"),  # no SKU id
        ("1729000000000000404", [{"id": sku, "inventory": levels((w1, 1))}], "12052048"),
        ("not-a-number", [{"id": sku, "inventory": levels((w1, 1))}], "12052048"),
    ]
    for target, skus, code in whole:
        with pytest.raises(ChannelError) as excinfo:
            await _update(emulator, creds, target, skus)
        assert (excinfo.value.code, excinfo.value.retryable) == (code, False)
    shop.product_status[product] = "SELLER_DEACTIVATED"
    with pytest.raises(ChannelError) as excinfo:
        await _update(emulator, creds, product, [{"id": sku, "inventory": levels((w1, 1), (w2, 1))}])
    assert excinfo.value.code == "12052901"  # only ACTIVATE products
    assert emulator.find_sku(shop, "TWO")[2]["stock"] == {w1: 5, w2: 0}


async def test_get_product_lists_each_skus_warehouses(emulator: Any) -> None:
    creds = emulator.open_account("US")
    shop = emulator.shop_of(creds)
    product, sku = emulator.add_product(creds, "P", 8).split(":")
    async with httpx.AsyncClient() as http:
        client = TikTokShopClient(emulator.app_key, emulator.app_secret, base_url=emulator.base, http=http)
        data = await client.call(
            "GET",
            f"/product/202309/products/{product}",
            operation="products.detail",
            access_token=creds["access_token"],
            shop_cipher=shop.cipher,
        )
        [listed] = data["skus"]
        assert (data["status"], listed["id"], listed["seller_sku"]) == ("ACTIVATE", sku, "P")
        assert listed["inventory"] == [
            {"warehouse_id": shop.warehouses[0], "quantity": 8},
            {"warehouse_id": shop.warehouses[1], "quantity": 0},
        ]
        with pytest.raises(ChannelError) as excinfo:
            await client.call(
                "GET",
                "/product/202309/products/1729000000000000404",
                operation="products.detail",
                access_token=creds["access_token"],
                shop_cipher=shop.cipher,
            )
        assert (excinfo.value.code, excinfo.value.retryable) == ("12052048", False)
