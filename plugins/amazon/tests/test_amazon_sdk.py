"""python-amazon-sp-api (the SDK most sellers' tooling uses) works against the emulator
unchanged but for its hosts: the SP-API endpoint and the LWA token endpoint."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
from crossdock_amazon.emulator import AmazonEmulator

from crossdock.testing.emulator import serve

sp_api = pytest.importorskip("sp_api")


def _clients(account: dict[str, Any], base: str) -> tuple[Any, Any]:
    from sp_api.api import ListingsItems, Orders  # type: ignore[import-untyped]
    from sp_api.api.orders.orders import OrdersVersion  # type: ignore[import-untyped]
    from sp_api.auth import AccessTokenClient  # type: ignore[import-untyped]
    from sp_api.base import Marketplaces  # type: ignore[import-untyped]

    class EmulatedLWA(AccessTokenClient):  # type: ignore[misc]  # the LWA host is the only other thing that changes
        scheme = "http://"
        host = base.removeprefix("http://")

    credentials = {
        "lwa_app_id": account["lwa_client_id"],
        "lwa_client_secret": account["lwa_client_secret"],
        "refresh_token": account["refresh_token"],
    }
    orders = Orders(
        marketplace=Marketplaces.US,
        credentials=credentials,
        auth_token_client_class=EmulatedLWA,
        version=OrdersVersion.V0,
    )
    listings = ListingsItems(
        marketplace=Marketplaces.US, credentials=credentials, auth_token_client_class=EmulatedLWA
    )
    for client in (orders, listings):
        client.endpoint = base
    return orders, listings


def _run(account: dict[str, Any], base: str) -> dict[str, Any]:
    orders, listings = _clients(account, base)
    found = orders.get_orders(LastUpdatedAfter="2020-01-01T00:00:00Z").payload
    items = orders.get_order_items("111-0000001-0000001").payload
    orders.confirm_shipment(
        "111-0000001-0000001",
        marketplaceId="ATVPDKIKX0DER",
        packageDetail={
            "packageReferenceId": "1",
            "carrierCode": "Other",
            "carrierName": "Ninja",
            "shippingMethod": "Std",
            "trackingNumber": "SDK-TRK-1",
            "shipDate": "2026-11-24T10:00:00Z",
            "orderItems": [{"orderItemId": items["OrderItems"][0]["OrderItemId"], "quantity": 2}],
        },
    )
    patched = listings.patch_listings_item(
        account["seller_id"],
        "SDK-SKU",
        marketplaceIds=["ATVPDKIKX0DER"],
        body={
            "productType": "PRODUCT",
            "patches": [
                {
                    "op": "replace",
                    "path": "/attributes/fulfillment_availability",
                    "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 9}],
                }
            ],
        },
    ).payload
    return {"orders": found["Orders"], "items": items["OrderItems"], "patched": patched}


async def test_python_amazon_sp_api_against_the_emulator() -> None:
    emu = AmazonEmulator()
    async with serve(emu) as base:
        account = emu.open_account("US")
        emu.add_product(account, "SDK-SKU", stock=1)
        emu.add_order(account, "111-0000001-0000001", [("SDK-SKU", 2, "19.99")])
        result = await asyncio.to_thread(_run, dict(account), base)
    assert [o["AmazonOrderId"] for o in result["orders"]] == ["111-0000001-0000001"]
    assert result["orders"][0]["OrderTotal"] == {"CurrencyCode": "USD", "Amount": "39.98"}
    assert "Name" not in result["orders"][0]["ShippingAddress"]  # PII needs a Restricted Data Token
    assert result["items"][0]["SellerSKU"] == "SDK-SKU"
    assert emu.tracking_number(account, "111-0000001-0000001") == "SDK-TRK-1"
    assert result["patched"]["status"] == "ACCEPTED"
    assert emu.stock(account, "SDK-SKU") == 9


def _after_sales(account: dict[str, Any], base: str, feed: bytes) -> dict[str, Any]:
    """The SDK's Feeds (submit, poll, processing report) and Reports (create, poll, document)."""
    from sp_api.api import Feeds, Reports
    from sp_api.auth import AccessTokenClient
    from sp_api.base import Marketplaces

    class EmulatedLWA(AccessTokenClient):  # type: ignore[misc]
        scheme = "http://"
        host = base.removeprefix("http://")

    credentials = {
        "lwa_app_id": account["lwa_client_id"],
        "lwa_client_secret": account["lwa_client_secret"],
        "refresh_token": account["refresh_token"],
    }
    feeds = Feeds(marketplace=Marketplaces.US, credentials=credentials, auth_token_client_class=EmulatedLWA)
    reports = Reports(
        marketplace=Marketplaces.US, credentials=credentials, auth_token_client_class=EmulatedLWA
    )
    for client in (feeds, reports):
        client.endpoint = base
    _, created = feeds.submit_feed(
        "POST_ORDER_ACKNOWLEDGEMENT_DATA", io.BytesIO(feed), content_type="text/xml; charset=UTF-8"
    )
    feed_id = created.payload["feedId"]
    while (shown := feeds.get_feed(feed_id).payload)["processingStatus"] != "DONE":
        assert shown["processingStatus"] in ("IN_QUEUE", "IN_PROGRESS")
    processing = feeds.get_feed_document(shown["resultFeedDocumentId"])
    report_id = reports.create_report(
        reportType="GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE", marketplaceIds=["ATVPDKIKX0DER"]
    ).payload["reportId"]
    report = reports.get_report(report_id).payload
    document = reports.get_report_document(report["reportDocumentId"], download=True, decrypt=True).payload
    return {"processing": processing, "returns": document.get("document")}


async def test_the_sdks_feeds_and_reports_cancel_an_order_and_read_the_returns() -> None:
    from crossdock_amazon.aftersales import acknowledgement_feed, processing_errors, return_cases

    emu = AmazonEmulator()
    async with serve(emu) as base:
        account = emu.open_account("US")
        emu.add_product(account, "SDK-SKU", stock=1)
        emu.add_order(account, "111-0000001-0000001", [("SDK-SKU", 1, "19.99")])
        emu.add_order(account, "111-0000001-0000002", [("SDK-SKU", 1, "9.99")], status="Shipped")
        rma = emu.buyer_returns("111-0000001-0000002")
        feed = acknowledgement_feed(
            str(account["seller_id"]), "111-0000001-0000001", ["111-0000001-0000001-1"], "NoInventory"
        )
        result = await asyncio.to_thread(_after_sales, dict(account), base, feed)
    assert processing_errors(result["processing"].encode()) == []
    assert emu.orders["111-0000001-0000001"]["OrderStatus"] == "Canceled"
    [case] = return_cases(result["returns"], "USD")
    assert (case.external_id, case.order_external_id) == (rma, "111-0000001-0000002")
