"""ShipBob on the wire: the requests the plugin sends, how it maps ShipBob's figures and
answers, what the emulator refuses, and the plugin as the server loads it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from crossdock_wms_shipbob.emulator import ShipBobEmulator
from crossdock_wms_shipbob.warehouse import ShipBobWarehouse

from crossdock import (
    Address,
    ChannelError,
    InboundLine,
    InboundShipment,
    OutboundLine,
    OutboundOrder,
    StockLine,
    WarehouseAccount,
    WarehouseCapability,
)
from crossdock.testing import load_plugins
from crossdock.testing.emulator import Faults, serve
from crossdock.testing.kit import emulator_http

SHIPBOB = ShipBobWarehouse()
BERLIN = Address(
    name="Erika Mustermann", line1="Hauptstr. 1", city="Berlin", postal_code="10115", country="DE"
)


@asynccontextmanager
async def shipbob(**settings: Any) -> AsyncIterator[tuple[ShipBobEmulator, WarehouseAccount]]:
    emulator = ShipBobEmulator(Faults())
    async with serve(emulator) as base_url:
        yield (
            emulator,
            WarehouseAccount(
                credentials=emulator.open_account(),
                base_url=base_url,
                settings={"timeout": 2.0, "fulfillment_center_id": 10, **settings},
                http=emulator_http(),
            ),
        )


async def raw(account: WarehouseAccount, method: str, path: str, body: Any = None, **headers: str) -> Any:
    """A request straight to the emulator (what ShipBob answers a body the plugin never sends)."""
    sent = {"Authorization": f"Bearer {account.credentials['token']}", **headers}
    response = await account.http_client().request(
        method, f"{account.base_url}{path}", headers=sent, json=body
    )
    return response.status_code, (response.json() if response.content else None)


def asn(reference: str = "PO-1", **changes: Any) -> InboundShipment:
    shipment = InboundShipment(
        reference=reference,
        lines=[InboundLine("SKU-1", 10), InboundLine("SKU-2", 4)],
        expected_on=date(2031, 5, 6),
        tracking_number="1Z999",
    )
    return replace(shipment, **changes)


async def refused(call: Any, code: str) -> ChannelError:
    with pytest.raises(ChannelError) as caught:
        await call
    assert caught.value.code == code, caught.value.message
    return caught.value


# --------------------------------------------------------------------------- the plugin


def test_the_plugin_registers_shipbob_and_its_emulator() -> None:
    plugins = load_plugins(["wms_shipbob"])
    system = plugins.warehouse_systems["shipbob"]
    assert system.capabilities == frozenset(WarehouseCapability)
    assert "shipbob" in plugins.emulators


# --------------------------------------------------------------------------- stock


async def test_stock_joins_products_and_inventory_with_ships_figures() -> None:
    async with shipbob() as (emulator, account):
        emulator.set_stock("SKU-1", 8, reserved=3, inbound=20, unsellable=2)
        item = emulator.products[0].inventory
        lines = await SHIPBOB.pull_stock(account)
        view = item.view()
    # fulfillable -> on_hand, committed -> reserved, awaiting -> inbound, the rest of on hand -> unsellable
    assert view["total_onhand_quantity"] == 13
    assert lines == [StockLine("SKU-1", 8, reserved=3, inbound=20, unsellable=2)]
    first = emulator.log[0]
    assert (first.method, first.path) == ("GET", "/1.0/product")
    assert first.query == {"Page": "1", "Limit": "250"}
    assert first.headers["authorization"] == f"Bearer {account.credentials['token']}"
    assert [r.path for r in emulator.log] == ["/1.0/product", "/1.0/inventory"]


async def test_stock_pages_until_shipbob_stops_saying_next_page() -> None:
    async with shipbob() as (emulator, account):
        for i in range(251):
            emulator.set_stock(f"S{i:03d}", 1)
        lines = await SHIPBOB.pull_stock(account)
    assert len(lines) == 251
    pages = [(r.path, r.query["Page"]) for r in emulator.log]
    assert pages == [
        ("/1.0/product", "1"),
        ("/1.0/product", "2"),
        ("/1.0/inventory", "1"),
        ("/1.0/inventory", "2"),
    ]


async def test_an_inventory_item_without_a_single_item_product_is_not_stock() -> None:
    async with shipbob() as (emulator, account):
        emulator.set_stock("SKU-1", 5)
        emulator.set_stock("BUNDLE", 9)
        bundle = next(p for p in emulator.products if p.reference_id == "BUNDLE")
        orphan = bundle.inventory
        # the bundle product resolves to two units: it is no stock of its own
        original = bundle.view

        def two_units() -> dict[str, Any]:
            shown = original()
            shown["fulfillable_inventory_items"][0]["quantity"] = 2
            return shown

        bundle.view = two_units  # type: ignore[method-assign]
        lines = await SHIPBOB.pull_stock(account)
    assert orphan.fulfillable == 9
    assert [line.sku for line in lines] == ["SKU-1"]


# --------------------------------------------------------------------------- inbound


async def test_an_asn_is_a_wro_with_the_reference_as_purchase_order_number() -> None:
    async with shipbob() as (emulator, account):
        emulator.set_stock("SKU-1", 0)
        wro_id = await SHIPBOB.push_inbound(account, asn())
    posts = [r for r in emulator.log if r.method == "POST"]
    assert [r.path for r in posts] == ["/1.0/product", "/2.0/receiving"]  # SKU-2 was unknown
    created = json.loads(posts[0].body)
    assert created == {"reference_id": "SKU-2", "sku": "SKU-2", "name": "SKU-2"}
    assert posts[0].headers["shipbob_channel_id"] == account.credentials["channel_id"]
    body = json.loads(posts[1].body)
    ids = {p.reference_id: p.inventory.id for p in emulator.products}
    assert body == {
        "fulfillment_center": {"id": 10},
        "package_type": "Package",
        "box_packaging_type": "EverythingInOneBox",
        "boxes": [
            {
                "box_items": [
                    {"inventory_id": ids["SKU-1"], "quantity": 10},
                    {"inventory_id": ids["SKU-2"], "quantity": 4},
                ],
                "tracking_number": "1Z999",
            }
        ],
        "expected_arrival_date": "2031-05-06T00:00:00+00:00",
        "purchase_order_number": "PO-1",
    }
    assert wro_id == str(next(iter(emulator.wros)))
    assert emulator.log[0].query["PurchaseOrderNumbers"] == "PO-1"  # looked up first


async def test_an_asn_needs_the_fulfillment_center_setting() -> None:
    async with shipbob(fulfillment_center_id=None) as (emulator, account):
        error = await refused(SHIPBOB.push_inbound(account, asn()), "CONFIG")
    assert "fulfillment_center_id" in error.message
    assert emulator.log == []


async def test_an_unknown_fulfillment_center_is_refused_with_shipbobs_words() -> None:
    async with shipbob(fulfillment_center_id=999) as (_, account):
        error = await refused(SHIPBOB.push_inbound(account, asn()), "REFUSED")
    assert "Fulfillment center 999 is not available" in error.message
    assert not error.retryable


async def test_without_create_products_an_unknown_sku_is_refused_before_any_wro() -> None:
    async with shipbob(create_products=False) as (emulator, account):
        emulator.set_stock("SKU-1", 0)
        error = await refused(SHIPBOB.push_inbound(account, asn()), "REFUSED")
    assert "SKU-2" in error.message
    assert not [r for r in emulator.log if r.method == "POST"]


async def test_the_emulator_refuses_a_wro_shipbob_would_refuse() -> None:
    async with shipbob() as (emulator, account):
        emulator.set_stock("SKU-1", 0)
        inventory_id = emulator.products[0].inventory.id

        def wro(items: list[dict[str, Any]], center: int = 10) -> dict[str, Any]:
            return {
                "fulfillment_center": {"id": center},
                "package_type": "Package",
                "box_packaging_type": "EverythingInOneBox",
                "boxes": [{"box_items": items}],
                "expected_arrival_date": "2031-01-01T00:00:00+00:00",
                "purchase_order_number": "PO-X",
            }

        unknown = await raw(account, "POST", "/2.0/receiving", wro([{"inventory_id": 1, "quantity": 1}]))
        zero = await raw(
            account, "POST", "/2.0/receiving", wro([{"inventory_id": inventory_id, "quantity": 0}])
        )
        center = await raw(
            account, "POST", "/2.0/receiving", wro([{"inventory_id": inventory_id, "quantity": 1}], 5)
        )
        fine = await raw(
            account, "POST", "/2.0/receiving", wro([{"inventory_id": inventory_id, "quantity": 1}])
        )
    assert unknown == (422, {"boxes[0].box_items[0].inventory_id": ["Inventory item 1 was not found."]})
    assert zero[0] == 422 and "boxes[0].box_items[0].quantity" in zero[1]
    assert center[0] == 422 and "fulfillment_center.id" in center[1]
    assert fine[0] == 201 and fine[1]["status"] == "Awaiting"
    assert emulator.inbounds() == {"PO-X": [("SKU-1", 1)]}


# --------------------------------------------------------------------------- receipts


async def test_receipts_count_stowed_units_received_and_the_rest_damaged() -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    async with shipbob() as (emulator, account):
        wro_id = await SHIPBOB.push_inbound(account, asn())
        emulator.receive("PO-1", {"SKU-1": (9, 1), "SKU-2": (4, 0)})
        (receipt,) = await SHIPBOB.pull_receipts(account, since)
        later = await SHIPBOB.pull_receipts(account, datetime.now(UTC) + timedelta(seconds=1))
        stock = {line.sku: line for line in await SHIPBOB.pull_stock(account)}
    assert receipt.reference == "PO-1"
    assert receipt.external_id == wro_id
    assert receipt.complete is True
    assert {(line.sku, line.received, line.damaged) for line in receipt.lines} == {
        ("SKU-1", 9, 1),
        ("SKU-2", 4, 0),
    }
    assert receipt.received_at is not None and receipt.received_at.utcoffset() == timedelta(0)
    assert later == []
    assert stock["SKU-1"] == StockLine("SKU-1", 9, inbound=0, unsellable=1)
    query = next(r for r in emulator.log if r.path == "/2.0/receiving" and "Statuses" in r.query).query
    assert query["Statuses"] == "Arrived,PartiallyArrived,Processing,Completed,Incomplete"


async def test_a_wro_still_processing_is_an_incomplete_receipt_without_damage() -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    async with shipbob() as (emulator, account):
        await SHIPBOB.push_inbound(account, asn())
        emulator.receive("PO-1", {"SKU-1": (6, 2)})
        (wro,) = emulator.wros.values()
        wro.status = "Processing"
        (receipt,) = await SHIPBOB.pull_receipts(account, since)
    assert receipt.complete is False
    by_sku = {line.sku: (line.received, line.damaged) for line in receipt.lines}
    assert by_sku == {"SKU-1": (6, 0), "SKU-2": (0, 0)}


# --------------------------------------------------------------------------- orders


async def test_an_order_is_shipbobs_create_order() -> None:
    order = OutboundOrder(
        "SO-7", [OutboundLine("SKU-1", 2), OutboundLine("SKU-1", 1)], BERLIN, service="Express"
    )
    async with shipbob() as (emulator, account):
        emulator.set_stock("SKU-1", 5)
        order_id = await SHIPBOB.push_order(account, order)
    post = next(r for r in emulator.log if (r.method, r.path) == ("POST", "/1.0/order"))
    assert post.headers["shipbob_channel_id"] == account.credentials["channel_id"]
    assert json.loads(post.body) == {
        "reference_id": "SO-7",
        "order_number": "SO-7",
        "shipping_method": "Express",
        "recipient": {
            "name": "Erika Mustermann",
            "address": {"address1": "Hauptstr. 1", "city": "Berlin", "zip_code": "10115", "country": "DE"},
        },
        "products": [{"reference_id": "SKU-1", "sku": "SKU-1", "quantity": 3}],
    }
    assert order_id == str(emulator.orders_placed[0].id)


async def test_a_duplicate_reference_answers_the_order_shipbob_has() -> None:
    order = OutboundOrder("SO-8", [OutboundLine("SKU-1", 1)], BERLIN)
    async with shipbob(shipping_method="Ground") as (emulator, account):
        first = await SHIPBOB.push_order(account, order)
        again = await SHIPBOB.push_order(account, order)
        status, body = await raw(
            account,
            "POST",
            "/1.0/order",
            json.loads(next(r for r in emulator.log if r.method == "POST" and r.path == "/1.0/order").body),
            shipbob_channel_id=account.credentials["channel_id"],
        )
    assert first == again
    assert len(emulator.orders_placed) == 1
    assert emulator.orders_placed[0].body["shipping_method"] == "Ground"
    assert status == 422 and "already exists" in body["reference_id"][0]


async def test_an_order_without_the_address_shipbob_requires_is_refused() -> None:
    order = OutboundOrder("SO-9", [OutboundLine("SKU-1", 1)], Address(name="Erika", country="DE"))
    async with shipbob() as (emulator, account):
        emulator.set_stock("SKU-1", 1)
        error = await refused(SHIPBOB.push_order(account, order), "REFUSED")
    assert "Address1" in error.message
    assert emulator.orders_placed == []


async def test_an_order_needs_the_channel() -> None:
    async with shipbob() as (emulator, account):
        without = replace(account, credentials={"token": account.credentials["token"]})
        await refused(
            SHIPBOB.push_order(without, OutboundOrder("SO-1", [OutboundLine("A", 1)], BERLIN)), "CREDENTIALS"
        )
        assert emulator.log == []
        status, body = await raw(account, "POST", "/1.0/order", {"reference_id": "x"})
    assert status == 400 and "shipbob_channel_id" in body


async def test_a_channel_the_token_lacks_is_credentials() -> None:
    async with shipbob() as (_, account):
        other = replace(account, credentials={**account.credentials, "channel_id": "1"})
        error = await refused(
            SHIPBOB.push_order(other, OutboundOrder("SO-1", [OutboundLine("A", 1)], BERLIN)), "CREDENTIALS"
        )
    assert not error.retryable


# --------------------------------------------------------------------------- answers


async def test_a_limit_above_shipbobs_page_is_refused() -> None:
    async with shipbob() as (_, account):
        status, body = await raw(account, "GET", "/1.0/inventory?Limit=251")
        missing = await account.http_client().get(f"{account.base_url}/1.0/inventory")
    assert status == 400 and "Limit" in body
    assert missing.status_code == 401


async def test_throttling_reads_shipbobs_x_retry_after() -> None:
    async with shipbob() as (emulator, account):
        emulator.fail_next(1, status=429, retry_after=25)
        error = await refused(SHIPBOB.pull_stock(account), "THROTTLED")
    assert error.retryable and error.retry_after == pytest.approx(25)
    assert "Rate limit is exceeded" in error.message


async def test_a_truncated_answer_is_retryable() -> None:
    async with shipbob() as (emulator, account):
        emulator.faults.malformed = 1.0
        error = await refused(SHIPBOB.pull_stock(account), "MALFORMED")
    assert error.retryable


async def test_a_missing_token_is_credentials_before_any_request() -> None:
    async with shipbob() as (emulator, account):
        await refused(SHIPBOB.pull_stock(replace(account, credentials={})), "CREDENTIALS")
    assert emulator.log == []


# --------------------------------------------------------------------------- shipments


async def _handed(account: WarehouseAccount, *references: str) -> None:
    for reference in references:
        await SHIPBOB.push_order(account, OutboundOrder(reference, [OutboundLine("SKU-1", 2)], BERLIN))


async def test_shipments_are_the_channels_completed_parcels_with_tracking() -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    async with shipbob() as (emulator, account):
        emulator.set_stock("SKU-1", 9)
        await _handed(account, "SO-1", "SO-2")
        emulator.ship("SO-1", carrier="USPS", tracking_number="9400100000000000000001")
        (shipped,) = await SHIPBOB.pull_shipments(account, since)
        later = await SHIPBOB.pull_shipments(account, datetime.now(UTC) + timedelta(seconds=2))
    parcel = emulator.orders_placed[0].shipments[0]
    assert shipped.reference == "SO-1"
    assert (shipped.carrier, shipped.tracking_number) == ("USPS", "9400100000000000000001")
    assert shipped.external_id == str(parcel.id)
    assert shipped.shipped_at == parcel.shipped and shipped.shipped_at is not None
    assert shipped.shipped_at.utcoffset() == timedelta(0)
    assert shipped.lines == ()  # the order left whole
    assert later == []
    request = next(r for r in emulator.log if r.path == "/1.0/order" and "HasTracking" in r.query)
    assert request.query == {
        "HasTracking": "true",
        "LastUpdateStartDate": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "Page": "1",
        "Limit": "50",
    }
    assert request.headers["shipbob_channel_id"] == account.credentials["channel_id"]


async def test_a_parcel_without_tracking_or_not_yet_left_is_not_reported() -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    async with shipbob() as (emulator, account):
        emulator.set_stock("SKU-1", 9)
        await _handed(account, "SO-1", "SO-2", "SO-3")
        emulator.ship("SO-1", carrier="UPS", tracking_number="1Z0001")
        emulator.ship("SO-2", carrier="UPS", tracking_number="1Z0002")
        emulator.ship("SO-3", carrier="UPS", tracking_number="1Z0003")
        one, two, _ = emulator.orders_placed
        one.shipments[0].tracking_number = ""  # completed, tracking not there yet
        two.shipments[0].status = "LabeledCreated"  # label printed, still in the building
        shipped = await SHIPBOB.pull_shipments(account, since)
    assert [(s.reference, s.tracking_number) for s in shipped] == [("SO-3", "1Z0003")]


async def test_orders_of_another_channel_or_without_reference_are_skipped() -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    async with shipbob() as (emulator, account):
        emulator.set_stock("SKU-1", 9)
        await _handed(account, "SO-1", "SO-2", "SO-3")
        for reference in ("SO-1", "SO-2", "SO-3"):
            emulator.ship(reference, carrier="FedEx", tracking_number=f"FX-{reference}")
        theirs, blank, _ = emulator.orders_placed
        blank.reference_id = ""
        # the token also writes for a second channel (another integration's orders)
        other = emulator._next_id()
        emulator.tokens[str(account.credentials["token"])].add(other)
        theirs.channel = other
        shipped = await SHIPBOB.pull_shipments(account, since)
        # were ShipBob to answer every channel's orders, the plugin still keeps to its own
        original = emulator._list_orders

        async def every_channel(request: Any) -> Any:
            request.headers.pop("shipbob_channel_id", None)
            return await original(request)

        emulator.route("GET", "/1.0/order", every_channel)
        everything = await SHIPBOB.pull_shipments(account, since)
    assert [s.reference for s in shipped] == ["SO-3"]
    assert [s.reference for s in everything] == ["SO-3"]


async def test_shipments_page_until_shipbob_stops_saying_next_page() -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    async with shipbob() as (emulator, account):
        emulator.set_stock("SKU-1", 500)
        references = [f"SO-{i:03d}" for i in range(53)]
        await _handed(account, *references)
        for i, reference in enumerate(references):
            emulator.ship(reference, carrier="DHL", tracking_number=f"JD{i:03d}")
        shipped = await SHIPBOB.pull_shipments(account, since)
    assert [s.reference for s in shipped] == references  # oldest first
    pages = [r.query["Page"] for r in emulator.log if r.path == "/1.0/order" and "HasTracking" in r.query]
    assert pages == ["1", "2"]


async def test_each_parcel_of_a_split_order_is_reported_with_what_it_held() -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    order = OutboundOrder("SO-S", [OutboundLine("SKU-1", 2), OutboundLine("SKU-2", 1)], BERLIN)
    async with shipbob() as (emulator, account):
        emulator.set_stock("SKU-1", 9)
        emulator.set_stock("SKU-2", 9)
        await SHIPBOB.push_order(account, order)
        (placed,) = emulator.orders_placed
        placed.shipments[0].lines = [("SKU-1", 2)]
        emulator.ship("SO-S", carrier="UPS", tracking_number="1ZA")
        placed.shipments.append(replace(placed.shipments[0], id=emulator._next_id(), lines=[("SKU-2", 1)]))
        placed.shipments[1].tracking_number = "1ZB"
        shipped = await SHIPBOB.pull_shipments(account, since)
    assert [(s.tracking_number, [(line.sku, line.quantity) for line in s.lines]) for s in shipped] == [
        ("1ZA", [("SKU-1", 2)]),
        ("1ZB", [("SKU-2", 1)]),
    ]


async def test_shipments_need_the_channel() -> None:
    async with shipbob() as (emulator, account):
        without = replace(account, credentials={"token": account.credentials["token"]})
        await refused(SHIPBOB.pull_shipments(without, datetime.now(UTC)), "CREDENTIALS")
    assert emulator.log == []


async def test_the_emulator_refuses_a_malformed_order_filter() -> None:
    async with shipbob() as (_, account):
        channel = str(account.credentials["channel_id"])
        date_status, date_body = await raw(
            account, "GET", "/1.0/order?LastUpdateStartDate=yesterday", shipbob_channel_id=channel
        )
        flag_status, flag_body = await raw(
            account, "GET", "/1.0/order?HasTracking=maybe", shipbob_channel_id=channel
        )
        fine = await raw(
            account, "GET", "/1.0/order?LastUpdateStartDate=2031-01-01T00:00:00Z", shipbob_channel_id=channel
        )
    assert date_status == 400 and "LastUpdateStartDate" in date_body
    assert flag_status == 400 and "HasTracking" in flag_body
    assert fine == (200, [])
