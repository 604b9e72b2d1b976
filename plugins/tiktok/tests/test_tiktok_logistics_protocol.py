"""TikTok Shipping on the wire: what the provider sends (as the emulator receives it), each
refusal the emulator makes with the Partner API reference's codes, the tracking status
mapping from TikTok's descriptions, and shipping outside the US."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from crossdock_tiktok.client import TikTokShopClient
from crossdock_tiktok.emulator import TikTokShopSellerEmulator
from crossdock_tiktok.logistics import TikTokLogistics, tracking_status
from crossdock_tiktok.logistics_emulator import DESCRIPTIONS, tiktok_account, tiktok_request

from crossdock import CarrierAccount, ChannelError, DocumentKind, Parcel, TrackingReason, TrackingStatus
from crossdock.testing.emulator import Handler, Request, serve


class Recording(TikTokShopSellerEmulator):
    """The emulator, keeping every request it receives."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Request] = []

    def _handler(self, request: Request) -> Handler | None:
        self.seen.append(request)
        return super()._handler(request)

    def received(self, suffix: str) -> list[Request]:
        return [r for r in self.seen if r.path.endswith(suffix)]


@pytest.fixture
async def served() -> Any:
    emulator = Recording()
    async with serve(emulator) as base_url:
        yield emulator, tiktok_account(emulator, base_url, packing_slip=True), base_url


async def _buy(emulator: Recording, account: CarrierAccount, reference: str, **changes: Any) -> Any:
    provider = TikTokLogistics()
    request = tiktok_request(emulator, account, reference, **changes)
    rates = await provider.rates(account, request)
    return provider, request, rates, await provider.buy_label(account, request, rates[0].service)


class Raw:
    """Signed calls straight to the emulator, for the refusals."""

    def __init__(
        self, emulator: TikTokShopSellerEmulator, account: CarrierAccount, base: str, http: httpx.AsyncClient
    ) -> None:
        assert account.connection is not None
        self.creds = account.connection.credentials
        self.client = TikTokShopClient(emulator.app_key, emulator.app_secret, base_url=base, http=http)
        self.cipher = ""

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, str]:
        token = str(self.creds["access_token"])
        if not self.cipher:
            shops = await self.client.call(
                "GET", "/authorization/202309/shops", operation="x", access_token=token
            )
            self.cipher = str(shops["shops"][0]["cipher"])
        try:
            await self.client.call(
                method, path, operation="x", access_token=token, shop_cipher=self.cipher, **kwargs
            )
        except ChannelError as exc:
            return int(exc.code or 0), exc.message
        return 0, ""


@pytest.fixture
async def raw(served: Any) -> Any:
    emulator, account, base = served
    async with httpx.AsyncClient(timeout=5) as http:
        yield Raw(emulator, account, base, http)


# ---------------------------------------------------------------- the wire


async def test_requests_as_the_partner_api_takes_them(served: Any) -> None:
    emulator, account, _ = served
    _, request, rates, label = await _buy(emulator, account, "wire-1")
    order = emulator.orders[request.order_external_id]
    units = [u["id"] for u in order["line_items"]]
    [query] = emulator.received("/shipping_services/query")
    assert query.path == f"/fulfillment/202309/orders/{request.order_external_id}/shipping_services/query"
    assert json.loads(query.body) == {
        "order_line_item_ids": units,
        "weight": {"value": "800", "unit": "GRAM"},
        "dimension": {"length": "30", "width": "20", "height": "10", "unit": "CM"},
    }
    [create] = [r for r in emulator.received("/fulfillment/202309/packages") if r.method == "POST"]
    assert json.loads(create.body) == {
        "order_id": request.order_external_id,
        "order_line_item_ids": units,
        "shipping_service_id": rates[0].service,
        "weight": {"value": "800", "unit": "GRAM"},
        "dimension": {"length": "30", "width": "20", "height": "10", "unit": "CM"},
    }
    [ship] = emulator.received("/ship")
    assert ship.path == f"/fulfillment/202309/packages/{label.carrier_shipment_id}/ship"
    assert json.loads(ship.body) == {"handover_method": "PICKUP"}
    documents = emulator.received("/shipping_documents")
    assert [r.query["document_type"] for r in documents] == ["SHIPPING_LABEL", "PACKING_SLIP"]
    for signed in (query, create, ship, *documents):
        assert {"app_key", "timestamp", "sign", "shop_cipher"} <= set(signed.query)
        assert signed.headers.get("x-tts-access-token")
    assert [d.kind for d in label.documents] == [DocumentKind.LABEL, DocumentKind.PACKING_SLIP]
    assert label.channel_confirmed and label.price == rates[0].price
    assert order["status"] == "AWAITING_COLLECTION"  # TikTok knows it ships: no confirmation needed


async def test_a_purchase_left_halfway_is_finished_by_find_label(served: Any, raw: Raw) -> None:
    """Create packages bought the label but its answer was lost: the order shows the
    package's tracking number; the next worker ships it and fetches the documents."""
    emulator, account, _ = served
    request = tiktok_request(emulator, account, "half-1")
    [rate, *_] = await TikTokLogistics().rates(account, request)
    order = emulator.orders[request.order_external_id]
    units = [u["id"] for u in order["line_items"]]
    body = {"order_id": order["id"], "order_line_item_ids": units, "shipping_service_id": rate.service}
    assert (await raw.call("POST", "/fulfillment/202309/packages", body=body))[0] == 0  # the answer "lost"
    assert emulator.labels_bought("half-1") == 1 and order["status"] == "AWAITING_SHIPMENT"
    found = await TikTokLogistics().find_label(account, request)
    assert found is not None and found.documents and emulator.labels_bought("half-1") == 1
    assert order["status"] == "AWAITING_COLLECTION"


async def test_tracking_numbers_are_matched_through_package_search(served: Any) -> None:
    emulator, account, _ = served
    _, _, _, label = await _buy(emulator, account, "search-1")
    number = label.tracking_numbers[0]
    emulator.scan(number, TrackingStatus.PICKED_UP)
    [result] = await TikTokLogistics().track(account, [number])  # another worker
    assert result.found and TrackingStatus.PICKED_UP in {e.status for e in result.events}
    assert emulator.received("/fulfillment/202309/packages/search")
    [tracking] = emulator.received("/tracking")
    assert tracking.path.startswith("/fulfillment/202309/orders/")


async def test_outside_the_us_tiktok_books_the_carrier_on_ship(served: Any) -> None:
    emulator, _, base = served
    account = tiktok_account(emulator, base, site="MY")
    provider = TikTokLogistics()
    request = tiktok_request(emulator, account, "my-1")
    [rate] = await provider.rates(account, request)
    assert rate.service == "PLATFORM" and rate.price.currency == "MYR"
    label = await provider.buy_label(account, request, rate.service)
    assert label.tracking_numbers and label.documents and label.channel_confirmed
    assert not emulator.received("/fulfillment/202309/packages")  # no create packages outside the US
    assert emulator.labels_bought("my-1") == 1


# ---------------------------------------------------------------- refusals


def _query(order_id: str) -> str:
    return f"/fulfillment/202309/orders/{order_id}/shipping_services/query"


async def test_shipping_services_refusals(served: Any, raw: Raw) -> None:
    emulator, account, _ = served
    request = tiktok_request(emulator, account, "refuse-1")
    order_id = str(request.order_external_id)
    cases: list[tuple[dict[str, Any], int]] = [
        ({"weight": {"value": "800", "unit": "KG"}}, 21001001),
        ({"weight": {"value": 800, "unit": "GRAM"}}, 21001001),  # a number where a string is documented
        ({"dimension": {"length": "30", "width": "20", "unit": "CM"}}, 21001001),  # not all three
        ({"dimension": {"length": "30", "width": "20", "height": "10", "unit": "MM"}}, 21001001),
        ({"order_line_item_ids": ["1"]}, 21001001),
        ({"weight": {"value": "75000", "unit": "GRAM"}}, 21011037),
    ]
    for body, code in cases:
        assert (await raw.call("POST", _query(order_id), body=body))[0] == code, body
    emulator.orders[order_id]["fulfillment_type"] = "FULFILLMENT_BY_TIKTOK"
    assert (await raw.call("POST", _query(order_id), body={}))[0] == 21008025


async def test_lines_already_shipped_and_several_packages(served: Any, raw: Raw) -> None:
    emulator, account, _ = served
    _, shipped, _, _ = await _buy(emulator, account, "refuse-2")
    assert (await raw.call("POST", _query(str(shipped.order_external_id)), body={}))[0] == 21011006
    assert account.connection is not None
    split = emulator.add_order(
        account.connection.credentials,
        emulator._next_id(5780),
        [("A", 1, "5.00"), ("B", 1, "6.00")],
        packages=2,
    )
    assert (await raw.call("POST", _query(split["id"]), body={}))[0] == 21011048


async def test_create_packages_refusals(served: Any, raw: Raw) -> None:
    emulator, account, _ = served
    request = tiktok_request(emulator, account, "refuse-3")
    order_id = str(request.order_external_id)
    path = "/fulfillment/202309/packages"
    assert (await raw.call("POST", path, body={}))[0] == 21001001  # order_id is required
    unknown = {"order_id": order_id, "shipping_service_id": "1"}
    assert (await raw.call("POST", path, body=unknown))[0] == 21004008
    heavy = {"order_id": order_id, "weight": {"value": "75000", "unit": "GRAM"}}
    assert (await raw.call("POST", path, body=heavy))[0] == 11021009
    assert (await raw.call("POST", path, body={"order_id": order_id}))[0] == 0  # the default service
    assert (await raw.call("POST", path, body={"order_id": order_id}))[0] == 21008042  # bought already
    assert emulator.labels_bought("refuse-3") == 1


async def test_create_packages_is_for_the_us_market(served: Any) -> None:
    emulator, _, base = served
    account = tiktok_account(emulator, base, site="GB")
    request = tiktok_request(emulator, account, "refuse-4")
    async with httpx.AsyncClient(timeout=5) as http:
        gb = Raw(emulator, account, base, http)
        code, message = await gb.call(
            "POST", "/fulfillment/202309/packages", body={"order_id": request.order_external_id}
        )
    assert code == 21008106 and "region" in message


async def test_shipping_documents_refusals(served: Any, raw: Raw) -> None:
    emulator, account, _ = served
    request = tiktok_request(emulator, account, "refuse-5")
    order = emulator.orders[request.order_external_id]
    waiting = order["line_items"][0]["package_id"]
    docs = f"/fulfillment/202309/packages/{waiting}/shipping_documents"
    assert (await raw.call("GET", docs, params={"document_type": "SHIPPING_LABEL"}))[
        0
    ] == 21042104  # not shipped
    _, shipped, _, label = await _buy(emulator, account, "refuse-6")
    docs = f"/fulfillment/202309/packages/{label.carrier_shipment_id}/shipping_documents"
    assert (await raw.call("GET", docs, params={}))[0] == 21001001  # document_type is required
    assert (await raw.call("GET", docs, params={"document_type": "LABEL"}))[0] == 21001001
    assert (await raw.call("GET", docs, params={"document_type": "SHIPPING_LABEL", "document_size": "A4"}))[
        0
    ] == 21001001
    zpl = {"document_type": "SHIPPING_LABEL", "document_format": "ZPL"}
    assert (await raw.call("GET", docs, params=zpl))[0] == 21001001  # ZPL is for BR only
    assert (await raw.call("GET", docs, params={"document_type": "SHIPPING_LABEL"}))[0] == 0
    emulator.scan(label.tracking_numbers[0], TrackingStatus.PICKED_UP)
    assert (await raw.call("GET", docs, params={"document_type": "SHIPPING_LABEL"}))[0] == 21042102
    found = await TikTokLogistics().find_label(account, shipped)  # after pickup: no documents
    assert found is not None and found.tracking_numbers == label.tracking_numbers and found.documents == []


async def test_seller_shipping_has_no_tiktok_documents(served: Any, raw: Raw) -> None:
    emulator, account, _ = served
    request = tiktok_request(emulator, account, "refuse-7")  # a TikTok Shipping order
    order = emulator.orders[request.order_external_id]
    package = order["line_items"][0]["package_id"]
    provider_id = next(iter(emulator.providers[order["delivery_option_id"]]))
    ship = {"self_shipment": {"tracking_number": "JX12345", "shipping_provider_id": provider_id}}
    # self_shipment is only for SEND_BY_SELLER packages
    assert (await raw.call("POST", f"/fulfillment/202309/packages/{package}/ship", body=ship))[0] == 21001001
    assert account.connection is not None
    seller = emulator.add_order(account.connection.credentials, "70001", [("CONF-1", 1, "19.90")])
    assert seller["shipping_type"] == "SELLER"
    package = seller["line_items"][0]["package_id"]
    path = f"/fulfillment/202309/packages/{package}/ship"
    # ... and a SEND_BY_SELLER package needs it
    assert (await raw.call("POST", path, body={"handover_method": "PICKUP"}))[0] == 21001001
    assert (await raw.call("POST", path, body=ship))[0] == 0
    docs = f"/fulfillment/202309/packages/{package}/shipping_documents"
    assert (await raw.call("GET", docs, params={"document_type": "SHIPPING_LABEL"}))[0] == 21008017


async def test_a_document_url_expires(served: Any) -> None:
    emulator, account, base = served
    await _buy(emulator, account, "expire-1")
    token = next(iter(emulator.logistics.documents))
    content, mime, _ = emulator.logistics.documents[token]
    emulator.logistics.documents[token] = (content, mime, emulator.clock() - 1)  # 24 hours later
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.get(f"{base}/wsos_v2/oec_fulfillment_doc_tts/object/{token}")
    assert response.status_code == 404


async def test_refusals_are_typed_and_void_is_refused(served: Any) -> None:
    emulator, account, _ = served
    provider = TikTokLogistics()
    heavy = tiktok_request(emulator, account, "heavy-1", parcels=[Parcel(75_000, 600, 500, 500)])
    good = tiktok_request(emulator, account, "good-1")
    [rate, *_] = await provider.rates(account, good)
    with pytest.raises(ChannelError) as caught:
        await provider.buy_label(account, heavy, rate.service)
    assert caught.value.code == "REFUSED" and "No available shipping services" in caught.value.message
    label = await provider.buy_label(account, good, rate.service)
    with pytest.raises(ChannelError) as voided:
        await provider.void_label(account, label)
    assert voided.value.code == "REFUSED" and "Seller Center" in voided.value.message


# ---------------------------------------------------------------- tracking status mapping


@pytest.mark.parametrize(("scan", "text"), list(DESCRIPTIONS.items()))
def test_every_emulated_description_maps_back(
    scan: tuple[TrackingStatus, TrackingReason | None], text: str
) -> None:
    assert tracking_status(text) == scan


@pytest.mark.parametrize(
    ("text", "status", "reason"),
    [
        ("Your package was delivered!\n", TrackingStatus.DELIVERED, None),  # the reference's example
        ("Package has been collected by the courier", TrackingStatus.PICKED_UP, None),
        ("Arrived at the destination hub", TrackingStatus.IN_TRANSIT, None),
        (
            "Delivery unsuccessful: nobody at home",
            TrackingStatus.DELIVERY_FAILED,
            TrackingReason.RECIPIENT_UNAVAILABLE,
        ),
        ("Customs clearance: duties and taxes due", TrackingStatus.ON_HOLD, TrackingReason.DUTIES_UNPAID),
        ("Parcel is waiting at the pickup point", TrackingStatus.READY_FOR_PICKUP, None),
        ("Something else entirely", TrackingStatus.UNKNOWN, None),
    ],
)
def test_real_world_descriptions(text: str, status: TrackingStatus, reason: TrackingReason | None) -> None:
    assert tracking_status(text) == (status, reason)


async def test_tracking_events_carry_tiktoks_times(served: Any) -> None:
    emulator, account, _ = served
    provider, _, _, label = await _buy(emulator, account, "times-1")
    number = label.tracking_numbers[0]
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
    emulator.scan(number, TrackingStatus.DELIVERY_FAILED, TrackingReason.ADDRESS_ISSUE, at)
    [result] = await provider.track(account, [number])
    failed = [e for e in result.events if e.status == TrackingStatus.DELIVERY_FAILED]
    assert failed and failed[0].occurred_at == at and failed[0].reason == TrackingReason.ADDRESS_ISSUE
    assert failed[0].code == failed[0].description == "Delivery attempted: address problem"
