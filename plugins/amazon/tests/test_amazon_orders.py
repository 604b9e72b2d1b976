"""Orders 2026-01-01 by default, v0 behind a setting; Restricted Data Tokens bound to their
path; 403s read by their ``details``; Pending orders in the marketplace's currency; stock
patches that merge. Each refusal the emulator makes is shown here, over HTTP."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from crossdock_amazon.emulator import AmazonEmulator
from crossdock_amazon.marketplace import AmazonMarketplace

from crossdock import ChannelConnection, ChannelError, StockUpdate
from crossdock.testing import emulator_http
from crossdock.testing.emulator import serve

DE, FR, UK = "A1PA6795UKMFR9", "A13V1IB3VIYZZH", "A1F83G8C2ARO7P"
SINCE = datetime.now(UTC) - timedelta(days=3)


@asynccontextmanager
async def shop(
    site: str = "US", settings: dict[str, Any] | None = None, **seller: Any
) -> AsyncIterator[tuple[AmazonEmulator, dict[str, Any], ChannelConnection, str]]:
    emulator = AmazonEmulator()
    async with serve(emulator) as base_url:
        if seller:
            account = emulator.add_seller(seller.pop("marketplace"), **seller)
        else:
            account = emulator.open_account(site)
        emulator.add_product(account, "SKU-1", stock=3)
        conn = ChannelConnection(
            id=1,
            tenant="t",
            channel="amazon",
            site=site,
            currency="USD",
            credentials=emulator.issue_token(account),
            base_url=base_url,
            settings=settings or {},
            http=emulator_http(),
        )
        yield emulator, account, conn, base_url


async def raw(base_url: str, token: str, path: str, **params: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.get(base_url + path, params=params, headers={"x-amz-access-token": token})


def error(response: httpx.Response) -> dict[str, Any]:
    return dict(response.json()["errors"][0])


# ---------------------------------------------------------------- Orders 2026-01-01


async def test_orders_are_read_with_search_orders_and_mapped_exactly() -> None:
    async with shop() as (emulator, account, conn, _):
        emulator.add_order(account, "111-0000001-0000001", [("SKU-1", 2, "19.99")], buyer="Ann Lee")
        emulator.add_order(account, "111-0000001-0000002", [("SKU-1", 1, "5.00")], afn=True)
        page = await AmazonMarketplace().fetch_orders(conn, updated_since=SINCE, page_token=None)
        assert emulator.requests["/orders/2026-01-01/orders"] == 1
        assert not any("/orders/v0/" in p or "restrictedDataToken" in p for p in emulator.requests)
        mfn, afn = sorted(page.orders, key=lambda o: o.external_id)
        assert (mfn.status, mfn.channel_status, mfn.payment_status) == ("pending", "UNSHIPPED", "paid")
        assert (mfn.total.amount, mfn.total.currency) == (Decimal("39.98"), "USD")
        line = mfn.lines[0]
        assert (line.sku, line.quantity, line.unit_price.amount) == ("SKU-1", 2, Decimal("19.99"))
        assert mfn.buyer_name == "Ann Lee" and mfn.buyer_email == "ann.lee@marketplace.example"
        assert mfn.shipping_address is not None and mfn.shipping_address.postal_code == "10001"
        assert mfn.ship_by is not None and mfn.ship_by > mfn.placed_at
        assert not mfn.fulfilled_by_channel and afn.fulfilled_by_channel
        order = await AmazonMarketplace().fetch_order(conn, "111-0000001-0000001")
        assert order.lines == mfn.lines and order.total == mfn.total


async def test_pending_orders_come_in_the_marketplace_currency_and_get_their_prices_later() -> None:
    async with shop("DE", marketplace=DE, also=(FR, UK)) as (emulator, account, conn, _):
        emulator.add_order(account, "302-0000001-0000001", [("SKU-1", 1, "24.90")], status="Pending")
        emulator.add_order(
            account, "202-0000001-0000002", [("SKU-1", 1, "20.00")], marketplace_id=UK
        )  # another marketplace of the seller: another connection's
        amazon = AmazonMarketplace()
        (pending,) = (await amazon.fetch_orders(conn, updated_since=SINCE, page_token=None)).orders
        assert (pending.channel_status, pending.payment_status) == ("PENDING", "pending")
        assert (pending.total.amount, pending.total.currency) == (Decimal(0), "EUR")
        assert pending.lines[0].unit_price.currency == "EUR"
        emulator.authorise_payment("302-0000001-0000001")
        paid = await amazon.fetch_order(conn, "302-0000001-0000001")
        assert (paid.channel_status, paid.total.amount, paid.total.currency) == (
            "UNSHIPPED",
            Decimal("24.90"),
            "EUR",
        )
        assert paid.lines[0].unit_price.amount == Decimal("24.90")


async def test_v0_pending_orders_are_in_the_marketplace_currency() -> None:
    async with shop("DE", {"orders_api": "v0"}, marketplace=DE) as (emulator, account, conn, _):
        emulator.add_order(account, "302-0000001-0000003", [("SKU-1", 1, "9.90")], status="Pending")
        (order,) = (await AmazonMarketplace().fetch_orders(conn, updated_since=SINCE, page_token=None)).orders
        assert "OrderTotal" not in order.raw  # Amazon prices it once payment is authorised
        assert (order.total.currency, order.lines[0].unit_price.currency) == ("EUR", "EUR")


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({}, "exactly one of createdAfter and lastUpdatedAfter"),
        ({"createdAfter": "2026-01-01T00:00:00Z", "lastUpdatedAfter": "2026-01-01T00:00:00Z"}, "exactly one"),
        ({"lastUpdatedAfter": "yesterday"}, "ISO 8601"),
        ({"lastUpdatedAfter": "2026-01-01T00:00:00"}, "ISO 8601"),  # no zone
        (
            {"createdAfter": "2026-01-01T00:00:00Z", "lastUpdatedBefore": "2026-01-02T00:00:00Z"},
            "lastUpdatedBefore",
        ),
        ({"lastUpdatedAfter": "2026-01-02T00:00:00Z", "lastUpdatedBefore": "2026-01-01T00:00:00Z"}, "after"),
        (
            {"lastUpdatedAfter": "2026-01-01T00:00:00Z", "lastUpdatedBefore": "2999-01-01T00:00:00Z"},
            "two minutes",
        ),
        ({"lastUpdatedAfter": "2026-01-01T00:00:00Z", "maxResultsPerPage": "0"}, "between 1 and 100"),
        ({"lastUpdatedAfter": "2026-01-01T00:00:00Z", "maxResultsPerPage": "101"}, "between 1 and 100"),
        (
            {"lastUpdatedAfter": "2026-01-01T00:00:00Z", "includedData": "BUYER,ADDRESS"},
            "includedData: ADDRESS",
        ),
        (
            {"lastUpdatedAfter": "2026-01-01T00:00:00Z", "fulfillmentStatuses": "Unshipped"},
            "fulfillmentStatuses",
        ),
        ({"lastUpdatedAfter": "2026-01-01T00:00:00Z", "fulfilledBy": "AFN"}, "fulfilledBy"),
        ({"lastUpdatedAfter": "2026-01-01T00:00:00Z", "marketplaceIds": "NOPE"}, "marketplaceIds"),
        ({"lastUpdatedAfter": "2026-01-01T00:00:00Z", "paginationToken": "forged"}, "paginationToken"),
    ],
)
async def test_search_orders_refuses_what_the_model_refuses(params: dict[str, str], says: str) -> None:
    async with shop() as (_, _, conn, base_url):
        response = await raw(
            base_url, conn.credentials["access_token"], "/orders/2026-01-01/orders", **params
        )
        assert response.status_code == 400
        assert error(response)["code"] == "InvalidInput" and says in error(response)["message"]


async def test_a_pagination_token_belongs_to_its_query() -> None:
    async with shop() as (emulator, account, conn, base_url):
        for n in range(3):
            emulator.add_order(account, f"111-0000002-000000{n}", [("SKU-1", 1, "5.00")])
        token = conn.credentials["access_token"]
        first = await raw(
            base_url,
            token,
            "/orders/2026-01-01/orders",
            lastUpdatedAfter="2020-01-01T00:00:00Z",
            maxResultsPerPage="2",
        )
        next_token = first.json()["pagination"]["nextToken"]
        other = await raw(
            base_url,
            token,
            "/orders/2026-01-01/orders",
            lastUpdatedAfter="2021-01-01T00:00:00Z",
            paginationToken=next_token,
        )
        assert other.status_code == 400 and "other parameters" in error(other)["message"]
        rest = await raw(
            base_url,
            token,
            "/orders/2026-01-01/orders",
            lastUpdatedAfter="2020-01-01T00:00:00Z",
            paginationToken=next_token,
        )
        assert len(rest.json()["orders"]) == 1 and "pagination" not in rest.json()


async def test_order_ids_are_3_7_7() -> None:
    async with shop() as (_, _, conn, base_url):
        token = conn.credentials["access_token"]
        for path in ("/orders/2026-01-01/orders/12345", "/orders/v0/orders/111-000-1/orderItems"):
            response = await raw(base_url, token, path)
            assert response.status_code == 400 and "3-7-7" in error(response)["message"]
        missing = await raw(base_url, token, "/orders/2026-01-01/orders/111-9999999-9999999")
        assert missing.status_code == 404 and error(missing)["code"] == "NotFound"


@pytest.mark.parametrize("status", ["Canceled", "Pending"])
async def test_a_cancelled_or_pending_order_cannot_be_confirmed(status: str) -> None:
    async with shop() as (emulator, account, conn, base_url):
        emulator.add_order(account, "111-0000003-0000001", [("SKU-1", 1, "5.00")], status=status)
        async with httpx.AsyncClient() as http:
            response = await http.post(
                base_url + "/orders/v0/orders/111-0000003-0000001/shipmentConfirmation",
                headers={"x-amz-access-token": conn.credentials["access_token"]},
                json={
                    "marketplaceId": "ATVPDKIKX0DER",
                    "packageDetail": {
                        "packageReferenceId": "1",
                        "carrierCode": "UPS",
                        "trackingNumber": "1Z1",
                        "shipDate": "2026-11-24T10:00:00Z",
                        "orderItems": [{"orderItemId": "111-0000003-0000001-1", "quantity": 1}],
                    },
                },
            )
        assert response.status_code == 400 and error(response)["code"] == "InvalidInput"
        assert f"status {status}" in error(response)["message"]


# ---------------------------------------------------------------- Restricted Data Tokens


async def test_a_v0_get_order_uses_an_rdt_made_for_its_own_path() -> None:
    async with shop(settings={"orders_api": "v0"}) as (emulator, account, conn, base_url):
        emulator.add_order(account, "111-0000004-0000001", [("SKU-1", 1, "5.00")], buyer="Bo Chen")
        amazon = AmazonMarketplace()
        await amazon.fetch_orders(conn, updated_since=SINCE, page_token=None)  # an RDT for getOrders
        order = await amazon.fetch_order(conn, "111-0000004-0000001")
        assert order.buyer_name == "Bo Chen"  # the PII came: the RDT opened this path
        # the emulator refuses an RDT on a path it was not made for, as Amazon does
        async with httpx.AsyncClient() as http:
            made = await http.post(
                base_url + "/tokens/2021-03-01/restrictedDataToken",
                headers={"x-amz-access-token": conn.credentials["access_token"]},
                json={"restrictedResources": [{"method": "GET", "path": "/orders/v0/orders"}]},
            )
        rdt = made.json()["restrictedDataToken"]
        refused = await raw(base_url, rdt, "/orders/v0/orders/111-0000004-0000001")
        assert refused.status_code == 403
        assert error(refused) == {
            "code": "Unauthorized",
            "message": "Access to requested resource is denied.",
            "details": "",
        }
        listed = await raw(
            base_url,
            rdt,
            "/orders/v0/orders",
            MarketplaceIds="ATVPDKIKX0DER",
            CreatedAfter="2020-01-01T00:00:00Z",
        )
        assert listed.status_code == 200  # where it was made for, it works
        # ... and a 403 like this is no expired token: permanent, no refresh spent
        broken = dataclasses.replace(conn, credentials={**conn.credentials, "access_token": rdt})
        with pytest.raises(ChannelError) as refusal:
            await amazon.fetch_order(dataclasses.replace(broken, settings={}), "111-0000004-0000001")
        assert (refusal.value.code, refusal.value.retryable) == ("Unauthorized", False)


async def test_an_rdt_with_a_placeholder_opens_every_order() -> None:
    async with shop() as (emulator, account, conn, base_url):
        emulator.add_order(account, "111-0000004-0000002", [("SKU-1", 1, "5.00")])
        async with httpx.AsyncClient() as http:
            made = await http.post(
                base_url + "/tokens/2021-03-01/restrictedDataToken",
                headers={"x-amz-access-token": conn.credentials["access_token"]},
                json={"restrictedResources": [{"method": "GET", "path": "/orders/v0/orders/{orderId}"}]},
            )
        rdt = made.json()["restrictedDataToken"]
        assert (await raw(base_url, rdt, "/orders/v0/orders/111-0000004-0000002")).status_code == 200
        other_method = await raw(base_url, rdt, "/orders/v0/orders/111-0000004-0000002/orderItems")
        assert other_method.status_code == 403


# ---------------------------------------------------------------- what a 403 means


async def test_an_expired_token_says_so_in_details_and_asks_for_a_refresh() -> None:
    async with shop() as (emulator, _, conn, base_url):
        emulator.expire_tokens()
        response = await raw(
            base_url, conn.credentials["access_token"], "/orders/2026-01-01/orders/111-0000001-0000001"
        )
        assert error(response)["details"] == "The access token you provided has expired."
        with pytest.raises(ChannelError) as refusal:
            await AmazonMarketplace().fetch_order(conn, "111-0000001-0000001")
        assert refusal.value.code == ChannelError.AUTH_EXPIRED


async def test_a_missing_role_is_permanent_and_spends_no_refresh() -> None:
    async with shop() as (emulator, account, conn, base_url):
        emulator.add_order(account, "111-0000005-0000001", [("SKU-1", 1, "5.00")])
        emulator.deny("searchOrders", "getOrder_2026_01_01")
        response = await raw(
            base_url, conn.credentials["access_token"], "/orders/2026-01-01/orders/111-0000005-0000001"
        )
        assert response.status_code == 403 and error(response)["details"] == ""
        with pytest.raises(ChannelError) as refusal:
            await AmazonMarketplace().fetch_orders(conn, updated_since=SINCE, page_token=None)
        assert (refusal.value.code, refusal.value.retryable) == ("Unauthorized", False)
        assert refusal.value.code != ChannelError.AUTH_EXPIRED


# ---------------------------------------------------------------- stock patches


async def test_stock_is_merged_and_keeps_the_handling_time_a_replace_would_reset() -> None:
    async with shop() as (emulator, account, conn, base_url):
        emulator.add_product(account, "SKU-2", stock=1, handling_days=3)
        results = await AmazonMarketplace().push_stock(conn, [StockUpdate(channel_sku="SKU-2", quantity=7)])
        assert results[0].accepted
        assert emulator.availability(account, "SKU-2") == {
            "fulfillment_channel_code": "DEFAULT",
            "quantity": 7,
            "lead_time_to_ship_max_days": 3,
        }
        async with httpx.AsyncClient() as http:
            patch = {
                "op": "replace",
                "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 5}],
            }
            url = f"{base_url}/listings/2021-08-01/items/{account['seller_id']}/SKU-2"
            headers = {"x-amz-access-token": conn.credentials["access_token"]}
            params = {"marketplaceIds": "ATVPDKIKX0DER"}
            replaced = await http.patch(
                url, params=params, headers=headers, json={"productType": "PRODUCT", "patches": [patch]}
            )
            assert replaced.json()["status"] == "ACCEPTED"
            assert "lead_time_to_ship_max_days" not in emulator.availability(account, "SKU-2")
            no_type = await http.patch(url, params=params, headers=headers, json={"patches": [patch]})
            assert no_type.status_code == 400 and error(no_type)["code"] == "InvalidInput"
            no_patch = await http.patch(
                url, params=params, headers=headers, json={"productType": "PRODUCT", "patches": []}
            )
            assert no_patch.status_code == 400
            bad_op = await http.patch(
                url,
                params=params,
                headers=headers,
                json={"productType": "PRODUCT", "patches": [{**patch, "op": "set"}]},
            )
            assert bad_op.status_code == 400
