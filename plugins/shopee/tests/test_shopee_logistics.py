"""Shopee's logistics module on the wire: what the plugin sends (get_shipping_parameter,
ship_order with the one mode info_needed allows, the air waybill calls), each refusal the
emulator makes as Shopee makes it, the tracking status mapping, and confirm_shipment's
paths (pickup, drop-off, non-integrated, a split order's package, a retry)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pytest
from crossdock_shopee.client import ShopeeClient
from crossdock_shopee.emulator import (
    DROPOFF_ONLY,
    INTEGRATED,
    NON_INTEGRATED,
    PICKUP_ONLY,
    ShopeeSellerEmulator,
)
from crossdock_shopee.logistics import ShopeeLogistics, event_status, to_events
from crossdock_shopee.marketplace import ShopeeMarketplace

from crossdock import (
    CarrierAccount,
    ChannelConnection,
    ChannelError,
    ShipmentConfirmation,
    TrackingReason,
    TrackingStatus,
)
from crossdock.testing import emulator_http
from crossdock.testing.carriers import sample_request
from crossdock.testing.emulator import serve

LINES = [("SKU-A", 1, "10.00"), ("SKU-B", 2, "5.00")]


@dataclass
class Env:
    emulator: ShopeeSellerEmulator
    shop: dict[str, Any]
    base: str
    http: Any

    def conn(self, **settings: Any) -> ChannelConnection:
        return ChannelConnection(
            id=1,
            tenant="t",
            channel="shopee",
            site="SG",
            currency="SGD",
            credentials=self.shop,
            base_url=self.base,
            settings=settings,
            http=emulator_http(),
        )

    def account(self, **settings: Any) -> CarrierAccount:
        return CarrierAccount(
            id=1,
            tenant="t",
            carrier="shopee_logistics",
            credentials={},
            settings=settings,
            connection=self.conn(),
            http=emulator_http(),
        )

    def order(self, order_sn: str, channel: int, lines: Any = LINES) -> str:
        self.emulator.add_order(self.shop, order_sn, lines, logistics_channel_id=channel)
        return order_sn

    async def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        client = ShopeeClient(
            self.shop["partner_id"], self.shop["partner_key"], base_url=self.base, http=self.http
        )
        return await client.call(
            method, path, access_token=self.shop["access_token"], shop_id=self.shop["shop_id"], **kwargs
        )

    def sent(self, path: str) -> list[tuple[dict[str, str], Any]]:
        return [(q, b) for p, q, b in self.emulator.calls if p == path]


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    emulator = ShopeeSellerEmulator()
    shop = emulator.open_account("SG")
    emulator.add_product(shop, "SKU-A")
    emulator.add_product(shop, "SKU-B")
    async with serve(emulator) as base:
        yield Env(emulator, shop, base, emulator_http().client(timeout=5))


def request_for(order_sn: str, **changes: Any) -> Any:
    return replace(sample_request(order_sn), order_external_id=order_sn, **changes)


# ------------------------------------------------------------------ the wire


async def test_a_label_on_an_integrated_channel_goes_out_as_shopee_documents_it(env: Env) -> None:
    env.order("ORD-PICK", INTEGRATED)
    label = await ShopeeLogistics().buy_label(env.account(), request_for("ORD-PICK"), "standard")

    [(query, _)] = env.sent("/api/v2/logistics/get_shipping_parameter")
    assert query["order_sn"] == "ORD-PICK" and "package_number" not in query  # unsplit: no package
    [(_, ship)] = env.sent("/api/v2/logistics/ship_order")
    address = env.emulator.shops[env.shop["shop_id"]].addresses[0]
    assert set(ship) == {"order_sn", "pickup"}  # exactly one mode
    assert ship["pickup"]["address_id"] == address["address_id"]  # the address tagged for pickup
    recommended = next(s for s in env.emulator._time_slots() if s["flags"])
    assert ship["pickup"]["pickup_time_id"] == recommended["pickup_time_id"]
    # the number is empty right after ship_order: asked again
    assert len(env.sent("/api/v2/logistics/get_tracking_number")) == 2
    [(_, create)] = env.sent("/api/v2/logistics/create_shipping_document")
    assert create == {
        "order_list": [
            {
                "order_sn": "ORD-PICK",
                "tracking_number": label.tracking_numbers[0],
                "shipping_document_type": "THERMAL_AIR_WAYBILL",
            }
        ]
    }
    results = env.sent("/api/v2/logistics/get_shipping_document_result")
    assert len(results) == 2  # PROCESSING, then READY
    [(_, download)] = env.sent("/api/v2/logistics/download_shipping_document")
    assert download == {
        "shipping_document_type": "THERMAL_AIR_WAYBILL",
        "order_list": [{"order_sn": "ORD-PICK"}],
    }
    assert label.channel_confirmed and label.service == "pickup"
    assert label.carrier_shipment_id == "ORD-PICK"
    assert label.documents[0].content.startswith(b"%PDF-")
    assert env.emulator.orders["ORD-PICK"]["order_status"] == "PROCESSED"


async def test_a_split_order_ships_the_package_named(env: Env) -> None:
    env.order("ORD-SPLIT", INTEGRATED)
    first, second = env.emulator.split_order("ORD-SPLIT", [[0], [1]])
    label = await ShopeeLogistics().buy_label(
        env.account(), request_for("ORD-SPLIT", package_reference=second), "dropoff"
    )
    [(query, _)] = env.sent("/api/v2/logistics/get_shipping_parameter")
    assert query["package_number"] == second
    [(_, ship)] = env.sent("/api/v2/logistics/ship_order")
    assert ship == {"order_sn": "ORD-SPLIT", "package_number": second, "dropoff": {"branch_id": 7001}}
    assert label.carrier_shipment_id == f"ORD-SPLIT:{second}"
    assert [p["logistics_status"] for p in env.emulator.packages_of("ORD-SPLIT")] == [
        "LOGISTICS_READY",
        "LOGISTICS_REQUEST_CREATED",
    ]
    assert env.emulator.orders["ORD-SPLIT"]["order_status"] == "READY_TO_SHIP"  # one package left
    # without a package number a split order is ambiguous: refused before anything is sent
    with pytest.raises(ChannelError) as caught:
        await ShopeeLogistics().buy_label(env.account(), request_for("ORD-SPLIT"), "standard")
    assert caught.value.code == "REFUSED" and first in caught.value.message


async def test_a_drop_off_channel_gets_the_senders_name(env: Env) -> None:
    env.order("ORD-DROP", DROPOFF_ONLY)
    await ShopeeLogistics().buy_label(env.account(sender_real_name="Tan Ah Kow"), request_for("ORD-DROP"), "")
    [(_, ship)] = env.sent("/api/v2/logistics/ship_order")
    assert ship == {"order_sn": "ORD-DROP", "dropoff": {"branch_id": 7001, "sender_real_name": "Tan Ah Kow"}}


async def test_the_tracking_number_may_come_later(env: Env) -> None:
    env.order("ORD-LATE", PICKUP_ONLY)
    env.emulator.tracking_delay = 50
    provider, account, request = ShopeeLogistics(), env.account(), request_for("ORD-LATE")
    with pytest.raises(ChannelError) as caught:
        await provider.buy_label(account, request, "standard")
    assert (caught.value.code, caught.value.retryable) == ("TRACKING_PENDING", True)
    assert env.emulator.labels_bought("ORD-LATE") == 1  # shipped: a retry must not ship again
    env.emulator.packages_of("ORD-LATE")[0]["hidden_polls"] = 0
    found = await provider.find_label(account, request)
    assert found is not None and found.tracking_numbers == [
        env.emulator.tracking_number(env.shop, "ORD-LATE")
    ]
    assert len(env.sent("/api/v2/logistics/ship_order")) == 1


async def test_labels_cannot_be_voided_and_non_integrated_orders_are_not_shopees_to_ship(env: Env) -> None:
    env.order("ORD-VOID", INTEGRATED)
    env.order("ORD-OWN", NON_INTEGRATED)
    provider = ShopeeLogistics()
    label = await provider.buy_label(env.account(), request_for("ORD-VOID"), "")
    with pytest.raises(ChannelError) as caught:
        await provider.void_label(env.account(), label)
    assert caught.value.code == "REFUSED" and "cancel" in caught.value.message
    with pytest.raises(ChannelError) as caught:
        await provider.buy_label(env.account(), request_for("ORD-OWN"), "")
    assert caught.value.code == "REFUSED" and "non-integrated" in caught.value.message
    assert len(env.sent("/api/v2/logistics/ship_order")) == 1  # the non-integrated order was not shipped


# ------------------------------------------------------------------ refusals, as Shopee words them


def _slot(env: Env) -> str:
    return str(env.emulator._time_slots()[0]["pickup_time_id"])


def _address(env: Env, index: int = 0) -> int:
    return int(env.emulator.shops[env.shop["shop_id"]].addresses[index]["address_id"])


REFUSALS: list[tuple[str, int, Callable[[Env], dict[str, Any]], str]] = [
    (
        "two modes at once",
        INTEGRATED,
        lambda e: {
            "pickup": {"address_id": _address(e), "pickup_time_id": _slot(e)},
            "dropoff": {"branch_id": 7001},
        },
        "logistics.ship_order_only_support_one_type",
    ),
    (
        "non-integrated on an integrated channel",
        INTEGRATED,
        lambda e: {"non_integrated": {"tracking_number": "NV1"}},
        "logistics.ship_order_unsupport_non_integrated",
    ),
    (
        "pickup on a drop-off channel",
        DROPOFF_ONLY,
        lambda e: {"pickup": {}},
        "logistics.ship_order_unsupport_pickup",
    ),
    (
        "drop-off on a pickup channel",
        PICKUP_ONLY,
        lambda e: {"dropoff": {"branch_id": 7001}},
        "logistics.ship_order_unsupport_dropoff",
    ),
    (
        "pickup on a non-integrated channel",
        NON_INTEGRATED,
        lambda e: {"pickup": {"address_id": _address(e), "pickup_time_id": _slot(e)}},
        "logistics.ship_order_unsupport_pickup",
    ),
    (
        "pickup without a time slot",
        INTEGRATED,
        lambda e: {"pickup": {"address_id": _address(e)}},
        "logistics.ship_order_need_address_pickup_time",
    ),
    (
        "an address the shop does not have",
        INTEGRATED,
        lambda e: {"pickup": {"address_id": 1, "pickup_time_id": _slot(e)}},
        "logistics.address_not_found",
    ),
    (
        "an address not tagged for pickup",
        INTEGRATED,
        lambda e: {"pickup": {"address_id": _address(e, 1), "pickup_time_id": _slot(e)}},
        "logistics.error_sender_address",
    ),
    (
        "a time slot get_shipping_parameter did not offer",
        INTEGRATED,
        lambda e: {"pickup": {"address_id": _address(e), "pickup_time_id": "123"}},
        "logistics.ship_order_pickup_time_invalid",
    ),
    (
        "drop-off without a branch",
        INTEGRATED,
        lambda e: {"dropoff": {}},
        "logistics.ship_order_need_branch_id",
    ),
    (
        "drop-off without the sender's name",
        DROPOFF_ONLY,
        lambda e: {"dropoff": {"branch_id": 7001}},
        "logistics.ship_order_need_sender_real_name",
    ),
    (
        "a sender's name over 64 characters",
        DROPOFF_ONLY,
        lambda e: {"dropoff": {"branch_id": 7001, "sender_real_name": "x" * 65}},
        "logistics.ship_order_long_sender_real_name",
    ),
    (
        "a tracking number over 64 characters",
        NON_INTEGRATED,
        lambda e: {"non_integrated": {"tracking_number": "9" * 65}},
        "logistics.ship_order_long_tracking_number",
    ),
    (
        "a package number for an unsplit order",
        NON_INTEGRATED,
        lambda e: {"package_number": "OFG1", "non_integrated": {"tracking_number": "NV1"}},
        "logistics.ship_order_not_need_pacakge_number",
    ),
]


@pytest.mark.parametrize(("case", "channel", "body", "code"), REFUSALS, ids=[r[0] for r in REFUSALS])
async def test_ship_order_refuses_as_shopee_does(
    env: Env, case: str, channel: int, body: Callable[[Env], dict[str, Any]], code: str
) -> None:
    env.order("ORD-R", channel)
    with pytest.raises(ChannelError) as caught:
        await env.call("POST", "/api/v2/logistics/ship_order", body={"order_sn": "ORD-R", **body(env)})
    assert caught.value.code == code
    assert env.emulator.labels_bought("ORD-R") == 0


async def test_order_state_refusals(env: Env) -> None:
    ship = {"non_integrated": {"tracking_number": "NV1"}}
    env.order("ORD-S", NON_INTEGRATED)
    env.emulator.split_order("ORD-S", [[0], [1]])
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        (
            "/api/v2/logistics/ship_order",
            "POST",
            {"body": {"order_sn": "ORD-S", **ship}},
            "need_pacakge_number",
        ),
        (
            "/api/v2/logistics/get_shipping_parameter",
            "GET",
            {"params": {"order_sn": "ORD-S"}},
            "number_not_exist",
        ),
        (
            "/api/v2/logistics/get_tracking_number",
            "GET",
            {"params": {"order_sn": "ORD-S"}},
            "number_not_exist",
        ),
    ]
    for path, method, kwargs, code in cases:
        with pytest.raises(ChannelError) as caught:
            await env.call(method, path, **kwargs)
        assert caught.value.code.endswith(code), path
    env.order("ORD-T", NON_INTEGRATED)
    await env.call("POST", "/api/v2/logistics/ship_order", body={"order_sn": "ORD-T", **ship})
    with pytest.raises(ChannelError) as caught:
        await env.call("POST", "/api/v2/logistics/ship_order", body={"order_sn": "ORD-T", **ship})
    assert caught.value.code == "logistics.package_already_shipped"
    with pytest.raises(ChannelError) as caught:  # parameters only while ready to ship
        await env.call("GET", "/api/v2/logistics/get_shipping_parameter", params={"order_sn": "ORD-T"})
    assert caught.value.code == "error_param"
    env.order("ORD-C", NON_INTEGRATED)
    env.emulator.cancel_order(env.shop, "ORD-C")
    with pytest.raises(ChannelError) as caught:
        await env.call("GET", "/api/v2/logistics/get_shipping_parameter", params={"order_sn": "ORD-C"})
    assert caught.value.code == "error_status" and "cancelled" in caught.value.message
    with pytest.raises(ChannelError) as caught:
        await env.call("POST", "/api/v2/logistics/ship_order", body={"order_sn": "ORD-C", **ship})
    assert caught.value.code == "logistics.ship_order_not_ready_to_ship"


async def test_document_refusals(env: Env) -> None:
    env.order("ORD-D", INTEGRATED)
    order_list = [{"order_sn": "ORD-D", "shipping_document_type": "THERMAL_AIR_WAYBILL"}]
    with pytest.raises(ChannelError) as caught:  # not shipped yet: nothing to print
        await env.call("POST", "/api/v2/logistics/create_shipping_document", body={"order_list": order_list})
    assert caught.value.code == "common.batch_api_all_failed"
    with pytest.raises(ChannelError) as caught:
        await env.call(
            "POST",
            "/api/v2/logistics/create_shipping_document",
            body={"order_list": [{"order_sn": "ORD-D", "shipping_document_type": "A4"}]},
        )
    assert caught.value.code == "logistics.shipping_document_type_invalid"
    with pytest.raises(ChannelError) as caught:
        await env.call("POST", "/api/v2/logistics/create_shipping_document", body={"order_list": []})
    assert caught.value.code == "error_param"
    await ShopeeLogistics().buy_label(env.account(), request_for("ORD-D"), "")
    env.emulator.packages_of("ORD-D")[0]["document"]["status"] = "PROCESSING"
    with pytest.raises(ChannelError) as caught:
        await env.call(
            "POST",
            "/api/v2/logistics/download_shipping_document",
            body={"order_list": [{"order_sn": "ORD-D"}]},
        )
    assert caught.value.code == "logistics.download_later"
    env.order("ORD-E", INTEGRATED)
    with pytest.raises(ChannelError) as caught:
        await env.call(
            "POST",
            "/api/v2/logistics/download_shipping_document",
            body={"order_list": [{"order_sn": "ORD-E"}]},
        )
    assert caught.value.code == "logistics.shipping_document_should_print_first"


# ------------------------------------------------------------------ tracking


@pytest.mark.parametrize(
    ("code", "text", "status", "reason"),
    [
        ("ORDER_CREATED", "Order created", TrackingStatus.PENDING, None),
        ("PICKED_UP", "Picked up by SPX", TrackingStatus.PICKED_UP, None),
        ("UPDATE", "Departed sorting centre", TrackingStatus.IN_TRANSIT, None),
        ("UPDATE", "Held by customs for inspection", TrackingStatus.ON_HOLD, TrackingReason.CUSTOMS_HOLD),
        ("UPDATE", "Import duties unpaid", TrackingStatus.ON_HOLD, TrackingReason.DUTIES_UNPAID),
        (
            "UPDATE",
            "Delivery is delayed: bad weather",
            TrackingStatus.DELIVERY_DELAYED,
            TrackingReason.WEATHER,
        ),
        ("DELIVERY_PENDING", "Out for delivery", TrackingStatus.OUT_FOR_DELIVERY, None),
        ("DELIVERY_PENDING", "Ready for collection at pickup point", TrackingStatus.READY_FOR_PICKUP, None),
        ("DELIVERED", "Delivered", TrackingStatus.DELIVERED, None),
        (
            "FAILED_DELIVERED",
            "Attempt failed: recipient not available",
            TrackingStatus.DELIVERY_FAILED,
            TrackingReason.RECIPIENT_UNAVAILABLE,
        ),
        ("FAILED_DELIVERED", "Wrong address", TrackingStatus.DELIVERY_FAILED, TrackingReason.ADDRESS_ISSUE),
        ("LOST", "Parcel lost", TrackingStatus.DELIVERY_FAILED, TrackingReason.LOST),
        ("RETURN_STARTED", "Returning to seller", TrackingStatus.RETURN_TO_SENDER, None),
        ("CANCELED", "Cancelled", TrackingStatus.CANCELLED, None),
        ("SOMETHING_NEW", "?", TrackingStatus.UNKNOWN, None),
    ],
)
def test_tracking_codes_map_to_one_status_set(
    code: str, text: str, status: TrackingStatus, reason: TrackingReason | None
) -> None:
    assert event_status(code, text) == (status, reason)


def test_a_package_without_tracking_info_reports_its_logistics_status() -> None:
    [event] = to_events({"logistics_status": "LOGISTICS_LOST", "tracking_info": []})
    assert (event.status, event.reason, event.code) == (
        TrackingStatus.DELIVERY_FAILED,
        TrackingReason.LOST,
        "LOGISTICS_LOST",
    )
    [event] = to_events(
        {"tracking_info": [{"update_time": 1700000000, "description": "x", "logistics_status": "DELIVERED"}]}
    )
    assert event.occurred_at == datetime.fromtimestamp(1700000000, UTC)


# ------------------------------------------------------------------ confirm_shipment (issue 15, point 4)


def _confirmation(order_sn: str, tracking: str = "", lines: Any = ()) -> ShipmentConfirmation:
    return ShipmentConfirmation(
        order_external_id=order_sn,
        carrier="Ninja Van" if tracking else "",
        tracking_number=tracking,
        shipped_at=datetime.now(UTC),
        lines=lines,
    )


async def test_confirm_on_a_non_integrated_channel_sends_the_sellers_number(env: Env) -> None:
    env.order("C-OWN", NON_INTEGRATED)
    market = ShopeeMarketplace()
    assert await market.confirm_shipment(env.conn(), _confirmation("C-OWN", "NV-1")) is None
    [(_, ship)] = env.sent("/api/v2/logistics/ship_order")
    assert ship == {"order_sn": "C-OWN", "non_integrated": {"tracking_number": "NV-1"}}
    assert await market.confirm_shipment(env.conn(), _confirmation("C-OWN", "NV-1")) is None  # retry
    assert len(env.sent("/api/v2/logistics/ship_order")) == 1


async def test_confirm_on_an_integrated_channel_arranges_pickup_and_returns_shopees_number(env: Env) -> None:
    env.order("C-PICK", PICKUP_ONLY)
    market = ShopeeMarketplace()
    number = await market.confirm_shipment(env.conn(), _confirmation("C-PICK", "NV-2"))
    assert number and number.startswith("SPX") and number == env.emulator.tracking_number(env.shop, "C-PICK")
    [(_, ship)] = env.sent("/api/v2/logistics/ship_order")
    assert set(ship) == {"order_sn", "pickup"}  # never non_integrated on an integrated line
    assert await market.confirm_shipment(env.conn(), _confirmation("C-PICK", "NV-2")) == number  # retry


async def test_confirm_on_a_drop_off_channel(env: Env) -> None:
    env.order("C-DROP", DROPOFF_ONLY)
    market = ShopeeMarketplace()
    with pytest.raises(ChannelError) as caught:  # the channel wants the sender's name
        await market.confirm_shipment(env.conn(), _confirmation("C-DROP"))
    assert not caught.value.retryable
    number = await market.confirm_shipment(env.conn(sender_real_name="Tan"), _confirmation("C-DROP"))
    assert number == env.emulator.tracking_number(env.shop, "C-DROP")
    [(_, ship)] = env.sent("/api/v2/logistics/ship_order")
    assert ship["dropoff"] == {"branch_id": 7001, "sender_real_name": "Tan"}


async def test_confirm_a_split_orders_package(env: Env) -> None:
    env.order("C-SPLIT", NON_INTEGRATED)
    _, second = env.emulator.split_order("C-SPLIT", [[0], [1]])
    item = env.emulator.orders["C-SPLIT"]["item_list"][1]
    line = f"{item['item_id']}:{item['model_id']}"
    market = ShopeeMarketplace()
    assert await market.confirm_shipment(env.conn(), _confirmation("C-SPLIT", "NV-3", [(line, 2)])) is None
    [(_, ship)] = env.sent("/api/v2/logistics/ship_order")
    assert ship == {
        "order_sn": "C-SPLIT",
        "package_number": second,
        "non_integrated": {"tracking_number": "NV-3"},
    }
    assert [p["logistics_status"] for p in env.emulator.packages_of("C-SPLIT")] == [
        "LOGISTICS_READY",
        "LOGISTICS_REQUEST_CREATED",
    ]
