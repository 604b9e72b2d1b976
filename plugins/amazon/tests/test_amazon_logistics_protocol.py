"""Amazon Buy Shipping on the wire: what the provider sends (as the emulator receives it),
each refusal the emulator makes as Merchant Fulfillment does, the tracking status mapping,
and confirmShipment's numeric package reference and mapped carrier code."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from crossdock_amazon.emulator import AmazonEmulator
from crossdock_amazon.logistics import EVENTS, AmazonShipping, _tracking
from crossdock_amazon.marketplace import AmazonMarketplace, package_reference_id
from crossdock_amazon.shipping_emulator import amazon_account, amazon_request

from crossdock import (
    CarrierAccount,
    ChannelError,
    Parcel,
    ShipmentConfirmation,
    TrackingReason,
    TrackingStatus,
)
from crossdock.testing.emulator import Handler, Request, serve


class Recording(AmazonEmulator):
    """The emulator, keeping every request it receives (method, path, query, body)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Request] = []

    def _handler(self, request: Request) -> Handler | None:
        self.seen.append(request)
        return super()._handler(request)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.seen if r.path == path and r.body]


@pytest.fixture
async def served() -> Any:
    emulator = Recording()
    async with serve(emulator) as base_url:
        yield emulator, amazon_account(emulator, base_url), base_url


async def _buy(emulator: Recording, account: CarrierAccount, reference: str, **changes: Any) -> Any:
    provider = AmazonShipping()
    request = amazon_request(emulator, account, reference, **changes)
    rates = await provider.rates(account, request)
    return provider, request, rates, await provider.buy_label(account, request, rates[0].service)


async def _post(
    base: str, account: CarrierAccount, path: str, body: Any, method: str = "POST"
) -> httpx.Response:
    assert account.connection is not None
    token = account.connection.credentials["access_token"]
    async with httpx.AsyncClient(timeout=5) as http:
        return await http.request(
            method, base + path, content=json.dumps(body), headers={"x-amz-access-token": token}
        )


# ---------------------------------------------------------------- the wire


async def test_requests_as_merchant_fulfillment_takes_them(served: Any) -> None:
    emulator, account, _ = served
    _, request, rates, label = await _buy(emulator, account, "wire-1")
    [eligible, *_] = emulator.bodies("/mfn/v0/eligibleShippingServices")
    details = eligible["ShipmentRequestDetails"]
    assert details["AmazonOrderId"] == request.order_external_id
    assert details["ItemList"] == [{"OrderItemId": line, "Quantity": qty} for line, qty in request.lines]
    assert details["PackageDimensions"] == {
        "Length": 30.0,
        "Width": 20.0,
        "Height": 10.0,
        "Unit": "centimeters",
    }
    assert details["Weight"] == {"Value": 800, "Unit": "g"}
    assert details["ShippingServiceOptions"]["DeliveryExperience"] == "DeliveryConfirmationWithoutSignature"
    assert details["ShippingServiceOptions"]["CarrierWillPickUp"] is False
    assert set(details["ShipFromAddress"]) >= {
        "Name",
        "AddressLine1",
        "City",
        "PostalCode",
        "CountryCode",
        "Email",
        "Phone",
    }
    [created] = emulator.bodies("/mfn/v0/shipments")
    assert created["ShippingServiceId"] == rates[0].service
    assert created["ShippingServiceOfferId"]  # the offer made by the eligibility call just before
    shipment = emulator.mfn.shipments[label.carrier_shipment_id]
    assert (label.tracking_numbers, label.price) == ([shipment.tracking_id], rates[0].price)
    assert all(r.headers.get("x-amz-access-token") for r in emulator.seen)
    await AmazonShipping().track(account, label.tracking_numbers)
    tracking = [r for r in emulator.seen if r.path == "/shipping/v2/tracking"]
    assert tracking and tracking[-1].query == {"trackingId": label.tracking_numbers[0], "carrierId": "USPS"}


async def test_buying_confirms_the_shipment_and_voiding_reopens_it(served: Any) -> None:
    emulator, account, _ = served
    provider, request, _, label = await _buy(emulator, account, "confirm-1")
    order = emulator.orders[request.order_external_id]
    assert label.channel_confirmed and order["OrderStatus"] == "Shipped"
    await provider.void_label(account, label)
    assert order["OrderStatus"] == "Unshipped"
    assert emulator.mfn.shipments[label.carrier_shipment_id].status == "RefundPending"
    assert await provider.find_label(account, request) is None


async def test_a_lost_answer_is_found_through_the_order_packages(served: Any) -> None:
    emulator, account, _ = served
    _, request, _, label = await _buy(emulator, account, "lost-1")
    other = AmazonShipping()  # another worker: it never saw the ShipmentId
    found = await other.find_label(account, request)
    assert found is not None
    assert (found.tracking_numbers, found.documents, found.channel_confirmed) == (
        label.tracking_numbers,
        [],
        True,
    )
    assert any(
        r.path.startswith("/orders/2026-01-01/orders/") and r.query == {"includedData": "PACKAGES"}
        for r in emulator.seen
    )
    with pytest.raises(ChannelError) as caught:
        await other.void_label(account, found)
    assert caught.value.code == "REFUSED"
    results = await other.track(account, found.tracking_numbers)  # carrier id from the package's carrier
    assert results[0].found


# ---------------------------------------------------------------- refusals


def _details(emulator: AmazonEmulator, account: CarrierAccount, **changes: Any) -> dict[str, Any]:
    request = amazon_request(emulator, account, f"raw-{len(emulator.orders)}")
    details: dict[str, Any] = {
        "AmazonOrderId": request.order_external_id,
        "ItemList": [{"OrderItemId": line, "Quantity": qty} for line, qty in request.lines],
        "ShipFromAddress": {
            "Name": "Conformance Shipping",
            "AddressLine1": "300 Turnbull Ave",
            "Email": "ship@conformance.example",
            "City": "Detroit",
            "StateOrProvinceCode": "MI",
            "PostalCode": "48123",
            "CountryCode": "US",
            "Phone": "7132341234",
        },
        "PackageDimensions": {"Length": 30, "Width": 20, "Height": 10, "Unit": "centimeters"},
        "Weight": {"Value": 800, "Unit": "g"},
        "ShippingServiceOptions": {"DeliveryExperience": "NoTracking", "CarrierWillPickUp": False},
    }
    for key, value in changes.items():
        if value is None:
            details.pop(key)
        else:
            details[key] = value
    return details


def _error(response: httpx.Response) -> tuple[int, str, str]:
    [error] = response.json()["errors"]
    return response.status_code, error["code"], error["message"]


@pytest.mark.parametrize(
    "field",
    ["AmazonOrderId", "ItemList", "ShipFromAddress", "PackageDimensions", "Weight", "ShippingServiceOptions"],
)
async def test_required_details(served: Any, field: str) -> None:
    emulator, account, base = served
    response = await _post(
        base,
        account,
        "/mfn/v0/eligibleShippingServices",
        {"ShipmentRequestDetails": _details(emulator, account, **{field: None})},
    )
    status, code, message = _error(response)
    assert (status, code) == (400, "InvalidInput") and "Member must not be null" in message


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (
            {"PackageDimensions": {"Length": 30, "Width": 20, "Height": 10, "Unit": "mm"}},
            "[inches, centimeters]",
        ),
        ({"Weight": {"Value": 800, "Unit": "kg"}}, "[oz, g]"),
        ({"Weight": {"Value": 0, "Unit": "g"}}, "positive number"),
        (
            {"ShippingServiceOptions": {"DeliveryExperience": "Signature", "CarrierWillPickUp": False}},
            "deliveryExperience",
        ),
        ({"ShippingServiceOptions": {"DeliveryExperience": "NoTracking"}}, "carrierWillPickUp"),
        (
            {
                "ShippingServiceOptions": {
                    "DeliveryExperience": "NoTracking",
                    "CarrierWillPickUp": False,
                    "LabelFormat": "GIF",
                }
            },
            "labelFormat",
        ),
    ],
)
async def test_enums_and_values(served: Any, change: dict[str, Any], words: str) -> None:
    emulator, account, base = served
    response = await _post(
        base,
        account,
        "/mfn/v0/eligibleShippingServices",
        {"ShipmentRequestDetails": _details(emulator, account, **change)},
    )
    status, code, message = _error(response)
    assert (status, code) == (400, "InvalidInput") and words in message


async def test_address_constraints(served: Any) -> None:
    emulator, account, base = served
    details = _details(emulator, account)
    details["ShipFromAddress"]["CountryCode"] = "USA"
    _, code, message = _error(
        await _post(base, account, "/mfn/v0/eligibleShippingServices", {"ShipmentRequestDetails": details})
    )
    assert code == "InvalidInput" and "shipFromAddress.countryCode" in message  # the model's sandbox example
    details["ShipFromAddress"].update(CountryCode="US", Name="N" * 31)
    _, _, message = _error(
        await _post(base, account, "/mfn/v0/eligibleShippingServices", {"ShipmentRequestDetails": details})
    )
    assert "less than or equal to 30" in message
    details["ShipFromAddress"].update(Name="Shipping", Email="")
    _, _, message = _error(
        await _post(base, account, "/mfn/v0/eligibleShippingServices", {"ShipmentRequestDetails": details})
    )
    assert "shipFromAddress.email" in message


async def test_the_order_must_be_an_unshipped_mfn_order_of_the_seller(served: Any) -> None:
    emulator, account, base = served
    assert account.connection is not None
    path = "/mfn/v0/eligibleShippingServices"
    unknown = _details(emulator, account, AmazonOrderId="111-0000000-0000000")
    assert _error(await _post(base, account, path, {"ShipmentRequestDetails": unknown}))[:2] == (
        404,
        "NotFound",
    )
    malformed = _details(emulator, account, AmazonOrderId="ORDER-1")
    assert "3-7-7" in _error(await _post(base, account, path, {"ShipmentRequestDetails": malformed}))[2]
    afn = _details(emulator, account)
    emulator.orders[afn["AmazonOrderId"]]["FulfillmentChannel"] = "AFN"
    assert "MFN" in _error(await _post(base, account, path, {"ShipmentRequestDetails": afn}))[2]
    cancelled = _details(emulator, account)
    emulator.update_order(cancelled["AmazonOrderId"], OrderStatus="Canceled")
    assert "Canceled" in _error(await _post(base, account, path, {"ShipmentRequestDetails": cancelled}))[2]
    foreign = _details(emulator, account)
    foreign["ItemList"] = [{"OrderItemId": "999-1", "Quantity": 1}]
    assert (
        "is not in order" in _error(await _post(base, account, path, {"ShipmentRequestDetails": foreign}))[2]
    )
    too_many = _details(emulator, account)
    too_many["ItemList"][0]["Quantity"] = 3
    assert (
        "unshipped quantity"
        in _error(await _post(base, account, path, {"ShipmentRequestDetails": too_many}))[2]
    )


async def test_only_an_offered_service_is_bought(served: Any) -> None:
    emulator, account, base = served
    details = _details(emulator, account)
    heavy = copy.deepcopy(details)
    heavy["Weight"] = {"Value": 40_000, "Unit": "g"}
    answer = await _post(base, account, "/mfn/v0/eligibleShippingServices", {"ShipmentRequestDetails": heavy})
    offered = answer.json()["payload"]
    assert "USPS_PTP_PRI" not in {s["ShippingServiceId"] for s in offered["ShippingServiceList"]}
    [rejected] = [
        r for r in offered["RejectedShippingServiceList"] if r["ShippingServiceId"] == "USPS_PTP_PRI"
    ]
    assert rejected["RejectionReasonCode"]
    refused = await _post(
        base,
        account,
        "/mfn/v0/shipments",
        {"ShipmentRequestDetails": heavy, "ShippingServiceId": "USPS_PTP_PRI"},
    )
    assert _error(refused)[:2] == (400, "InvalidInput")
    other = _details(emulator, account)
    answer = await _post(base, account, "/mfn/v0/eligibleShippingServices", {"ShipmentRequestDetails": other})
    theirs = answer.json()["payload"]
    offer = theirs["ShippingServiceList"][0]
    borrowed = await _post(
        base,
        account,
        "/mfn/v0/shipments",
        {
            "ShipmentRequestDetails": details,
            "ShippingServiceId": offer["ShippingServiceId"],
            "ShippingServiceOfferId": offer["ShippingServiceOfferId"],
        },
    )
    assert "ShippingServiceOfferId" in _error(borrowed)[2]
    assert emulator.mfn.shipments == {}


async def test_shipment_ids_are_uuids_and_cancel_only_before_pickup(served: Any) -> None:
    emulator, account, base = served
    status, code, message = _error(await _post(base, account, "/mfn/v0/shipments/TEST_CASE_400", None, "GET"))
    assert (status, code) == (400, "InvalidInput") and "regular expression pattern" in message
    assert _error(
        await _post(base, account, "/mfn/v0/shipments/be7a0a53-00c3-4f6f-a63a-639f76ee9253", None, "GET")
    )[:2] == (404, "NotFound")
    _, _, _, label = await _buy(emulator, account, "cancel-1")
    emulator.scan(label.tracking_numbers[0], TrackingStatus.PICKED_UP)
    refused = await _post(base, account, f"/mfn/v0/shipments/{label.carrier_shipment_id}", None, "DELETE")
    assert _error(refused)[:2] == (400, "InvalidInput")
    _, _, _, second = await _buy(emulator, account, "cancel-2")
    cancelled = await _post(base, account, f"/mfn/v0/shipments/{second.carrier_shipment_id}", None, "DELETE")
    assert cancelled.status_code == 200
    again = await _post(base, account, f"/mfn/v0/shipments/{second.carrier_shipment_id}", None, "DELETE")
    assert "already RefundPending" in _error(again)[2]
    got = await _post(base, account, f"/mfn/v0/shipments/{second.carrier_shipment_id}", None, "GET")
    shown = got.json()["payload"]
    assert shown["Status"] == "RefundPending" and shown["Label"]["FileContents"]["Contents"] == ""


async def test_tracking_needs_the_number_and_its_carrier(served: Any) -> None:
    emulator, account, base = served
    _, _, _, label = await _buy(emulator, account, "track-1")
    number = label.tracking_numbers[0]
    missing = await _post(base, account, f"/shipping/v2/tracking?trackingId={number}", None, "GET")
    assert _error(missing)[:2] == (400, "InvalidRequest")
    wrong = await _post(
        base, account, f"/shipping/v2/tracking?trackingId={number}&carrierId=UPS", None, "GET"
    )
    assert _error(wrong)[:2] == (404, "NotFound")


async def test_calls_without_a_token_are_refused(served: Any) -> None:
    _, _, base = served
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.post(base + "/mfn/v0/eligibleShippingServices", content=b"{}")
    assert _error(response)[:2] == (403, "Unauthorized")


async def test_a_refusal_is_typed_with_amazons_reason(served: Any) -> None:
    emulator, account, _ = served
    provider = AmazonShipping()
    request = amazon_request(
        emulator, account, "heavy-1", parcels=[Parcel(40_000, length_mm=500, width_mm=400, height_mm=300)]
    )
    with pytest.raises(ChannelError) as caught:
        await provider.buy_label(account, request, "USPS_PTP_PRI")
    assert caught.value.code == "REFUSED" and "weight exceeds" in caught.value.message
    two = amazon_request(
        emulator, account, "two-1", parcels=[Parcel(800, 300, 200, 100), Parcel(800, 300, 200, 100)]
    )
    with pytest.raises(ChannelError, match="one label per package"):
        await provider.rates(account, two)


# ---------------------------------------------------------------- tracking status mapping


def test_every_event_code_of_the_model_is_mapped() -> None:
    model_codes = {
        "ReadyForReceive",
        "PickupDone",
        "Delivered",
        "Departed",
        "DeliveryAttempted",
        "Lost",
        "OutForDelivery",
        "ArrivedAtCarrierFacility",
        "Rejected",
        "Undeliverable",
        "PickupCancelled",
        "ReturnInitiated",
        "AvailableForPickup",
        "RecipientRequestedAlternateDeliveryTiming",
    }  # shippingV2.json EventCode
    assert set(EVENTS) == model_codes
    assert EVENTS["Lost"] == (TrackingStatus.DELIVERY_FAILED, TrackingReason.LOST)
    assert EVENTS["PickupDone"][0] == TrackingStatus.PICKED_UP


def test_returns_leg_and_detail_codes() -> None:
    at = datetime(2024, 2, 11, 7, 9, 5, 513000, tzinfo=UTC)
    payload = {  # the model's own getTracking example, with a failed attempt first
        "trackingId": "23AA47DE2B3B6",
        "eventHistory": [
            {
                "eventCode": "DeliveryAttempted",
                "eventTime": "2024-02-10T07:09:05.513Z",
                "shipmentType": "FORWARD",
            },
            {
                "eventCode": "Undeliverable",
                "eventTime": "2024-02-11T07:09:05.513Z",
                "shipmentType": "FORWARD",
                "location": {"postalCode": "EX33 2JL", "countryCode": "GB"},
            },
            {
                "eventCode": "ReturnInitiated",
                "eventTime": "2024-02-12T09:09:05.513Z",
                "shipmentType": "RETURNS",
            },
            {"eventCode": "Delivered", "eventTime": "2024-02-13T04:09:05.513Z", "shipmentType": "RETURNS"},
        ],
        "promisedDeliveryDate": "2024-02-12T13:09:05.513Z",
        "summary": {
            "status": "Delivered",
            "trackingDetailCodes": {"forward": ["Rejected", "Damaged"], "returns": ["Signed"]},
        },
    }
    result = _tracking("23AA47DE2B3B6", payload)
    statuses = [(e.status, e.reason) for e in result.events]
    assert statuses == [
        (TrackingStatus.DELIVERY_FAILED, None),
        (TrackingStatus.RETURN_TO_SENDER, TrackingReason.DAMAGED),  # the latest forward detail code
        (TrackingStatus.RETURN_TO_SENDER, None),
        (TrackingStatus.RETURN_TO_SENDER, None),  # delivered back to the seller
    ]
    assert result.events[1].occurred_at == at and result.events[1].location == "GB"
    assert result.estimated_delivery is not None and result.estimated_delivery.isoformat() == "2024-02-12"


async def test_a_journey_as_tracked(served: Any) -> None:
    emulator, account, _ = served
    provider, _, _, label = await _buy(emulator, account, "journey-1")
    number = label.tracking_numbers[0]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    for hours, (status, reason) in enumerate(
        [
            (TrackingStatus.PICKED_UP, None),
            (TrackingStatus.DELIVERY_FAILED, TrackingReason.RECIPIENT_UNAVAILABLE),
            (TrackingStatus.DELIVERY_FAILED, TrackingReason.LOST),
        ]
    ):
        emulator.scan(number, status, reason, start + timedelta(hours=hours))
    [result] = await provider.track(account, [number])
    assert [e.code for e in result.events] == ["ReadyForReceive", "PickupDone", "DeliveryAttempted", "Lost"]
    assert result.events[-1].reason == TrackingReason.LOST
    assert result.events[-2].reason == TrackingReason.RECIPIENT_UNAVAILABLE  # from CustomerUnavailable


# ---------------------------------------------------------------- confirmShipment (issue 15, points 1 and 14)


def test_package_reference_ids_are_positive_numbers() -> None:
    assert package_reference_id("crossdock-shipment-123") == "123"
    assert package_reference_id("crossdock-shipment-0").isdigit()
    assert int(package_reference_id("crossdock-shipment-0")) > 0
    derived = package_reference_id("some-reference")
    assert derived.isdigit() and int(derived) > 0 and derived == package_reference_id("some-reference")
    assert package_reference_id(None, "1Z999AA10123456784").isdigit()


async def test_confirm_shipment_sends_a_numeric_reference_and_the_mapped_carrier(served: Any) -> None:
    emulator, account, _ = served
    assert account.connection is not None
    conn = account.connection
    amazon = AmazonMarketplace()
    for order_id, code in (("111-0000001-0000001", "UPS"), ("111-0000002-0000002", None)):
        emulator.add_order(conn.credentials, order_id, [("SKU-1", 1, "10.00")])
        confirmation = ShipmentConfirmation(
            order_external_id=order_id,
            carrier="United Parcel Service",
            tracking_number="1Z999AA10123456784",
            shipped_at=datetime.now(UTC),
            lines=[(f"{order_id}-1", 1)],
            reference=f"crossdock-shipment-{order_id[-1]}4",
            carrier_code=code,
        )
        await amazon.confirm_shipment(conn, confirmation)
        await amazon.confirm_shipment(conn, confirmation)  # a retry is the same package
    mapped = emulator.confirmations["111-0000001-0000001"]
    assert (mapped["packageReferenceId"], mapped["carrierCode"]) == ("14", "UPS")
    assert "carrierName" not in mapped
    other = emulator.confirmations["111-0000002-0000002"]
    assert (other["packageReferenceId"], other["carrierCode"], other["carrierName"]) == (
        "24",
        "Other",
        "United Parcel Service",
    )


async def test_the_emulator_refuses_a_non_numeric_package_reference(served: Any) -> None:
    emulator, account, base = served
    assert account.connection is not None
    emulator.add_order(account.connection.credentials, "111-0000003-0000003", [("SKU-1", 1, "10.00")])
    body: dict[str, Any] = {
        "marketplaceId": "ATVPDKIKX0DER",
        "packageDetail": {
            "packageReferenceId": "crossdock-shipment-7",
            "carrierCode": "Other",
            "carrierName": "Pigeon",
            "trackingNumber": "P1",
            "shipDate": "2026-12-01T10:00:00Z",
            "orderItems": [{"orderItemId": "111-0000003-0000003-1", "quantity": 1}],
        },
    }
    path = "/orders/v0/orders/111-0000003-0000003/shipmentConfirmation"
    status, code, message = _error(await _post(base, account, path, body))
    assert (status, code) == (400, "InvalidInput") and "positive number" in message
    body["packageDetail"].update(packageReferenceId="7", carrierName="")
    assert "carrierName" in _error(await _post(base, account, path, body))[2]
    body["packageDetail"]["carrierName"] = "Pigeon"
    accepted = await _post(base, account, path, body)
    assert accepted.status_code == 204
