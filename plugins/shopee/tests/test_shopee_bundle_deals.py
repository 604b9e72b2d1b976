"""Bundle deals: Shopee leaves a bundle-deal line's ``model_discounted_price`` at 0 and puts
what it sold at in the escrow (``get_escrow_detail``); the stored lines add up to what the
buyer paid."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from crossdock_shopee.emulator import ShopeeEmulator

from crossdock.testing import build_shop
from crossdock.testing.emulator import serve

ORDERS = """
{ orders(first: 10) { nodes { externalId total { amount currency }
  lines { externalId sku quantity unitPrice { amount currency } } } } }
"""


async def test_bundle_deal_lines_are_stored_at_what_they_sold_for(
    app: Any, tenant_factory: Any, api: Any
) -> None:
    emu = ShopeeEmulator()
    async with serve(emu) as base:
        creds = emu.add_shop("SG")
        shop_id = creds["shop_id"]
        for model, sku in enumerate(("MUG", "CUP", "TEA"), start=1):
            emu.add_model(shop_id, 300, model, sku, stock=50)
        # "the set for 50.00": 20 + 15 + 2 x 10 = 55.00 before the deal; the two cups' share
        # (18.19) does not divide into whole cents per cup
        emu.add_order(
            shop_id,
            "BUNDLE-1",
            [("MUG", 1, "20.00"), ("TEA", 1, "15.00"), ("CUP", 2, "10.00")],
            bundle_price="50.00",
            shipping_fee="0",
        )
        # a bundle of two next to a line at its own price
        emu.add_order(
            shop_id,
            "BUNDLE-2",
            [("MUG", 1, "20.00"), ("CUP", 1, "10.00"), ("TEA", 3, "15.00")],
            bundle_price="27.00",
            bundle_skus=["MUG", "CUP"],
        )
        detail = emu.orders["BUNDLE-1"]["item_list"]
        assert {i["model_discounted_price"] for i in detail} == {0.0}  # as Shopee shows it
        tenant = await tenant_factory()
        shop = await build_shop(
            app,
            tenant,
            channel="shopee",
            site="SG",
            credentials=creds,
            base_url=base,
            skus={"MUG": 50, "CUP": 50, "TEA": 50},
            listings={"MUG": "300:1", "CUP": "300:2", "TEA": "300:3"},
        )
        await shop.sync()
        await shop.pause()
    data = await api.data(ORDERS, key=tenant.key)
    orders = {o["externalId"]: o for o in data["orders"]["nodes"]}
    assert set(orders) == {"BUNDLE-1", "BUNDLE-2"}
    for order in orders.values():
        lines = order["lines"]
        assert all(Decimal(str(line["unitPrice"]["amount"])) > 0 for line in lines)
        paid = sum(Decimal(str(line["unitPrice"]["amount"])) * line["quantity"] for line in lines)
        assert paid == Decimal(str(order["total"]["amount"]))
    assert Decimal(str(orders["BUNDLE-1"]["total"]["amount"])) == Decimal("50.00")
    assert Decimal(str(orders["BUNDLE-2"]["total"]["amount"])) == Decimal("72.00")
    # the cups' share, 18.19, is stored as 9.09 + 9.10: still two cups
    cups = [line for line in orders["BUNDLE-1"]["lines"] if line["sku"] == "CUP"]
    assert sorted((line["quantity"], Decimal(str(line["unitPrice"]["amount"]))) for line in cups) == [
        (1, Decimal("9.09")),
        (1, Decimal("9.10")),
    ]
    # the line outside the bundle keeps its own price
    [tea] = [line for line in orders["BUNDLE-2"]["lines"] if line["sku"] == "TEA"]
    assert (tea["quantity"], Decimal(str(tea["unitPrice"]["amount"]))) == (3, Decimal("15.00"))
    assert emu.requests["/api/v2/payment/get_escrow_detail"] == 2  # only the bundle orders
