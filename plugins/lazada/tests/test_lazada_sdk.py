"""A seller's own SDK (lazop-sdk, from PyPI) works against the emulator unchanged but for
the host: the emulator speaks Lazada's protocol, not just our client's idea of it.

The SDK signs with seconds + "000" as its timestamp, adds its own ``partner_id``
parameter, and POSTs every parameter form-encoded."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import lazop_sdk as lazop  # type: ignore[import-untyped]
from crossdock_lazada.emulator import LazadaSellerEmulator

from crossdock.testing.emulator import serve


def _execute(base: str, account: dict[str, Any], path: str, method: str = "POST", **params: Any) -> Any:
    client = lazop.LazopClient(base, account["app_key"], account["app_secret"])
    request = lazop.LazopRequest(path, method)
    for key, value in params.items():
        request.add_api_param(key, value)
    return client.execute(request, account.get("access_token"))


async def test_lazop_sdk_reads_orders_ships_and_updates_stock() -> None:
    emu = LazadaSellerEmulator()
    async with serve(emu) as base:
        account = emu.open_account("TH")
        listing = emu.add_product(account, "SDK-1", stock=3)
        emu.add_order(account, "8800001", [("SDK-1", 2, "150.00")])

        since = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="seconds")
        listed = await asyncio.to_thread(
            _execute, base, account, "/orders/get", "GET", update_after=since, sort_by="updated_at"
        )
        assert listed.code == "0"
        [order] = listed.body["data"]["orders"]
        # order ids come as strings, as in the reference's examples
        assert (order["order_id"], order["price"], order["statuses"]) == ("8800001", "300.00", ["pending"])

        items = await asyncio.to_thread(
            _execute, base, account, "/orders/items/get", "GET", order_ids="[8800001]"
        )
        units = items.body["data"][0]["order_items"]
        assert [(u["sku"], u["paid_price"], u["currency"]) for u in units] == [("SDK-1", "150.00", "THB")] * 2

        pack_req = {
            "pack_order_list": [
                {"order_id": "8800001", "order_item_list": [str(u["order_item_id"]) for u in units]}
            ],
            "delivery_type": "dropship",
            "shipping_allocate_type": "TFS",
        }
        packed = await asyncio.to_thread(
            _execute, base, account, "/order/fulfill/pack", packReq=json.dumps(pack_req)
        )
        assert packed.code == "0", packed.body
        [entry] = packed.body["result"]["data"]["pack_order_list"]
        package = entry["order_item_list"][0]["package_id"]
        rts = await asyncio.to_thread(
            _execute,
            base,
            account,
            "/order/package/rts",
            readyToShipReq=json.dumps({"packages": [{"package_id": package}]}),
        )
        assert rts.body["result"]["data"]["packages"][0]["item_err_code"] == "0"
        assert emu.status("8800001") == ["ready_to_ship", "ready_to_ship"]
        assert (emu.tracking_number(account, "8800001") or "").startswith("LZTH")

        item_id, sku_id = listing.split(":")
        payload = (
            "<Request><Product><Skus><Sku>"
            f"<ItemId>{item_id}</ItemId><SkuId>{sku_id}</SkuId><SellerSku>SDK-1</SellerSku>"
            "<Quantity>7</Quantity><Price>199.00</Price>"
            "</Sku></Skus></Product></Request>"
        )
        updated = await asyncio.to_thread(
            _execute, base, account, "/product/price_quantity/update", payload=payload
        )
        assert updated.code == "0"
        assert (emu.stock(account, "SDK-1"), emu.price(account, "SDK-1")) == (7, "199.00")

        # the SDK refreshes against the auth host: here the same emulator
        refreshed = await asyncio.to_thread(
            _execute,
            base,
            {**account, "access_token": None},
            "/auth/token/refresh",
            refresh_token=account["refresh_token"],
        )
        assert refreshed.code == "0" and refreshed.body["access_token"] != account["access_token"]

        wrong = await asyncio.to_thread(
            _execute, base, {**account, "app_secret": "nope"}, "/seller/get", "GET"
        )
        assert (wrong.code, wrong.type) == ("IncompleteSignature", "ISV")
