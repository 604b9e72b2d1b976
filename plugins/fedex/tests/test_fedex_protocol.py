"""FedEx's wire protocol against the emulator over real HTTP: each request as FedEx receives
it, one test per refusal rule, OAuth tokens (cached, refreshed, refused), error mapping,
event-type normalisation, batched tracking and the look-up of a label whose answer was lost."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from crossdock_fedex.carrier import FedExCarrier
from crossdock_fedex.client import FedExClient, TokenCache
from crossdock_fedex.emulator import FedExEmulator
from crossdock_fedex.mapping import EVENT_STATUS, parse_label, parse_tracking, rate_request, ship_request

from crossdock import ChannelError
from crossdock.providers import (
    Address,
    CarrierAccount,
    DocumentFormat,
    DocumentKind,
    Parcel,
    PickupRequest,
    ServiceLevel,
    TrackingReason,
    TrackingStatus,
)
from crossdock.testing import emulator_http
from crossdock.testing.carriers import sample_request
from crossdock.testing.emulator import Faults, serve

US_SHIPPER = Address(
    name="Pat Shipper",
    company="Crossdock Inc",
    line1="10 FedEx Parkway",
    city="Collierville",
    region="TN",
    postal_code="38017",
    country="US",
    phone="9015551234",
)
US_BUYER = Address(
    name="Sam Buyer",
    line1="1043 North Easy Street",
    city="Seattle",
    region="WA",
    postal_code="98101",
    country="US",
    phone="2065550100",
)


class Served:
    def __init__(self, emulator: FedExEmulator, base_url: str) -> None:
        self.emulator = emulator
        self.base_url = base_url
        self.credentials = emulator.open_account()

    def account(self, **settings: Any) -> CarrierAccount:
        return CarrierAccount(
            id=1,
            tenant="t",
            carrier="fedex",
            credentials=self.credentials,
            base_url=self.base_url,
            settings={"timeout": 2.0, **settings},
            http=emulator_http(),
        )


@pytest.fixture
async def fedex() -> AsyncIterator[Served]:
    emulator = FedExEmulator()
    async with serve(emulator) as base_url:
        yield Served(emulator, base_url)


def last(served: Served, path: str) -> Any:
    return served.emulator.bodies[path][-1]


# ------------------------------------------------------------------ wire formats


async def test_oauth_is_a_client_credentials_form(fedex: Served) -> None:
    await FedExCarrier().rates(fedex.account(), sample_request("wire-oauth"))
    form = last(fedex, "/oauth/token")
    assert form == {
        "grant_type": "client_credentials",
        "client_id": fedex.credentials["client_id"],
        "client_secret": fedex.credentials["client_secret"],
    }


async def test_rate_request_as_fedex_receives_it(fedex: Served) -> None:
    rates = await FedExCarrier().rates(fedex.account(), sample_request("wire-rate"))
    body = last(fedex, "/rate/v1/rates/quotes")
    assert body["accountNumber"] == {"value": fedex.credentials["account_number"]}
    assert body["rateRequestControlParameters"] == {"returnTransitTimes": True}
    shipment = body["requestedShipment"]
    assert shipment["shipper"]["address"] == {
        "countryCode": "SG",
        "city": "Singapore",
        "postalCode": "079903",
    }
    assert shipment["recipient"]["address"] == {
        "countryCode": "DE",
        "city": "Berlin",
        "postalCode": "10117",
        "residential": True,
    }
    assert shipment["rateRequestType"] == ["LIST", "ACCOUNT"]
    assert shipment["pickupType"] == "USE_SCHEDULED_PICKUP"
    assert "serviceType" not in shipment
    assert shipment["requestedPackageLineItems"] == [
        {
            "sequenceNumber": 1,
            "weight": {"units": "KG", "value": 0.8},
            "dimensions": {"length": 30, "width": 20, "height": 10, "units": "CM"},
        }
    ]
    customs = shipment["customsClearanceDetail"]
    assert customs["dutiesPayment"] == {"paymentType": "SENDER"}  # DDP
    assert customs["commodities"][0] == {
        "description": "Cotton T-shirt",
        "countryOfManufacture": "VN",
        "quantity": 2,
        "quantityUnits": "PCS",
        "unitPrice": {"amount": 19.9, "currency": "EUR"},
        "customsValue": {"amount": 39.8, "currency": "EUR"},
        "weight": {"units": "KG", "value": 0.4},
        "harmonizedCode": "610910",
    }
    # parsed: the ACCOUNT rate, transit words and commit date
    assert [r.price.currency for r in rates] == ["SGD"] * len(rates)
    priority = next(r for r in rates if r.service == "FEDEX_INTERNATIONAL_PRIORITY")
    assert priority.transit_days == 3
    assert priority.service_level == ServiceLevel.EXPRESS
    assert priority.estimated_delivery == datetime.now(UTC).date() + timedelta(days=3)
    assert str(priority.price.amount) == "39.03"  # (38 + 0.8 * 12) * 0.82, the ACCOUNT rate


async def test_domestic_rates_carry_no_customs(fedex: Served) -> None:
    request = sample_request("wire-dom", destination=US_BUYER, items=[])
    request = replace(request, origin=US_SHIPPER)
    rates = await FedExCarrier().rates(fedex.account(), request)
    shipment = last(fedex, "/rate/v1/rates/quotes")["requestedShipment"]
    assert "customsClearanceDetail" not in shipment and "totalWeight" not in shipment
    assert {r.service for r in rates} == {"FEDEX_GROUND", "FEDEX_2_DAY", "PRIORITY_OVERNIGHT"}
    assert next(r for r in rates if r.service == "FEDEX_GROUND").service_level == ServiceLevel.STANDARD
    label = await FedExCarrier().buy_label(fedex.account(), request, "FEDEX_GROUND")
    shipment = last(fedex, "/ship/v1/shipments")[SHIP]
    assert "customsClearanceDetail" not in shipment and "shippingDocumentSpecification" not in shipment
    assert shipment["recipients"][0]["address"]["stateOrProvinceCode"] == "WA"
    assert [d.kind for d in label.documents] == [DocumentKind.LABEL]
    assert label.price is not None and label.price.currency == "USD"


async def test_ship_request_as_fedex_receives_it(fedex: Served) -> None:
    label = await FedExCarrier().buy_label(
        fedex.account(), sample_request("crossdock-label-42"), "FEDEX_INTERNATIONAL_PRIORITY"
    )
    body = last(fedex, "/ship/v1/shipments")
    assert body["labelResponseOptions"] == "LABEL"
    assert body["accountNumber"] == {"value": fedex.credentials["account_number"]}
    shipment = body["requestedShipment"]
    assert shipment["serviceType"] == "FEDEX_INTERNATIONAL_PRIORITY"
    assert shipment["packagingType"] == "YOUR_PACKAGING"
    assert shipment["shippingChargesPayment"] == {"paymentType": "SENDER"}
    assert shipment["labelSpecification"] == {"imageType": "PDF", "labelStockType": "PAPER_4X6"}
    assert shipment["shipDatestamp"] == datetime.now(UTC).date().isoformat()
    assert shipment["totalWeight"] == 1.8  # pounds, as FedEx documents it
    assert shipment["shipper"]["address"]["streetLines"] == ["10 Anson Road", "#20-01"]
    assert shipment["shipper"]["contact"] == {
        "personName": "Crossdock Conformance",
        "companyName": "Conformance Trading Pte Ltd",
        "phoneNumber": "+6561234567",
        "emailAddress": "ship@conformance.example",
    }
    assert shipment["recipients"][0]["address"]["residential"] is True
    assert shipment["requestedPackageLineItems"][0]["customerReferences"] == [
        {"customerReferenceType": "CUSTOMER_REFERENCE", "value": "crossdock-label-42"}
    ]
    assert shipment["shippingDocumentSpecification"] == {
        "shippingDocumentTypes": ["COMMERCIAL_INVOICE"],
        "commercialInvoiceDetail": {"documentFormat": {"docType": "PDF", "stockType": "PAPER_LETTER"}},
    }
    invoice = shipment["customsClearanceDetail"]["commercialInvoice"]
    assert invoice["termsOfSale"] == "DDP" and invoice["shipmentPurpose"] == "SOLD"
    # parsed: master tracking number, the label and the commercial invoice, the price
    assert label.carrier_shipment_id == label.tracking_numbers[0]
    kinds = [(d.kind, d.format) for d in label.documents]
    assert kinds == [
        (DocumentKind.LABEL, DocumentFormat.PDF),
        (DocumentKind.COMMERCIAL_INVOICE, DocumentFormat.PDF),
    ]
    assert label.price is not None and label.price.currency == "SGD"


async def test_zpl_labels_and_several_packages(fedex: Served) -> None:
    request = sample_request("wire-zpl", parcels=2)
    label = await FedExCarrier().buy_label(
        fedex.account(label_format="zpl"), request, "INTERNATIONAL_ECONOMY"
    )
    spec = last(fedex, "/ship/v1/shipments")["requestedShipment"]["labelSpecification"]
    assert spec == {"imageType": "ZPLII", "labelStockType": "STOCK_4X6"}
    assert len(label.tracking_numbers) == 2
    labels = [d for d in label.documents if d.kind == DocumentKind.LABEL]
    assert [d.format for d in labels] == [DocumentFormat.ZPL] * 2
    assert all(d.content.startswith(b"^XA") for d in labels)


async def test_cancel_is_a_put_deleting_all_packages(fedex: Served) -> None:
    carrier = FedExCarrier()
    label = await carrier.buy_label(fedex.account(), sample_request("wire-void"), "INTERNATIONAL_ECONOMY")
    await carrier.void_label(fedex.account(), label)
    assert last(fedex, "/ship/v1/shipments/cancel") == {
        "accountNumber": {"value": fedex.credentials["account_number"]},
        "trackingNumber": label.carrier_shipment_id,
        "deletionControl": "DELETE_ALL_PACKAGES",
    }
    assert fedex.emulator.labels_bought("wire-void") == 0


async def test_void_after_tender_is_refused_with_fedex_words(fedex: Served) -> None:
    carrier = FedExCarrier()
    label = await carrier.buy_label(fedex.account(), sample_request("wire-tendered"), "INTERNATIONAL_ECONOMY")
    fedex.emulator.scan(label.tracking_numbers[0], TrackingStatus.PICKED_UP)
    with pytest.raises(ChannelError) as caught:
        await carrier.void_label(fedex.account(), label)
    assert (caught.value.code, caught.value.retryable) == ("REFUSED", False)
    assert "tendered" in caught.value.message


async def test_track_request_as_fedex_receives_it(fedex: Served) -> None:
    await FedExCarrier().track(fedex.account(), ["794900000101", "794900000201"])
    assert last(fedex, "/track/v1/trackingnumbers") == {
        "includeDetailedScans": True,
        "trackingInfo": [
            {"trackingNumberInfo": {"trackingNumber": "794900000101"}},
            {"trackingNumberInfo": {"trackingNumber": "794900000201"}},
        ],
    }


async def test_pickup_request_as_fedex_receives_it(fedex: Served) -> None:
    day = date.today() + timedelta(days=1)
    request = PickupRequest("pick-1", US_SHIPPER, day, "09:30", "17:00", ["794900000101"], 2, 1600)
    pickup = await FedExCarrier().schedule_pickup(fedex.account(), request)
    body = last(fedex, "/pickup/v1/pickups")
    assert body["associatedAccountNumber"] == {"value": fedex.credentials["account_number"]}
    assert body["carrierCode"] == "FDXE"
    origin = body["originDetail"]
    assert origin["readyDateTimestamp"] == f"{day.isoformat()}T09:30:00"
    assert origin["customerCloseTime"] == "17:00:00"
    assert origin["pickupLocation"]["address"]["stateOrProvinceCode"] == "TN"
    assert body["packageCount"] == 2 and body["totalWeight"] == {"units": "KG", "value": 1.6}
    assert pickup.confirmation == "1001" and pickup.day == day and pickup.window == "09:30-17:00"


async def test_address_resolution(fedex: Served) -> None:
    check = await FedExCarrier().validate_address(fedex.account(), US_BUYER)
    assert last(fedex, "/address/v1/addresses/resolve") == {
        "addressesToValidate": [
            {
                "address": {
                    "countryCode": "US",
                    "streetLines": ["1043 North Easy Street"],
                    "city": "Seattle",
                    "stateOrProvinceCode": "WA",
                    "postalCode": "98101",
                }
            }
        ]
    }
    assert check.valid
    assert check.suggestion is not None and check.suggestion.city == "SEATTLE"
    bad = await FedExCarrier().validate_address(fedex.account(), replace(US_BUYER, postal_code=""))
    assert not bad.valid and "Postal code is missing." in bad.messages


# ------------------------------------------------------------------ refusals, one per rule


def ship_body(served: Served, **changes: Any) -> dict[str, Any]:
    return ship_request(
        served.credentials["account_number"],
        sample_request("refusal", **changes),
        "FEDEX_INTERNATIONAL_PRIORITY",
        pickup_type="USE_SCHEDULED_PICKUP",
    )


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        node: Any = body
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[int(key)] if key.isdigit() else node[key]
        last_key = keys[-1]
        if value is _DELETE:
            del node[last_key]
        else:
            node[int(last_key) if last_key.isdigit() else last_key] = value

    return change


_DELETE = object()
SHIP = "requestedShipment"
PKG = f"{SHIP}.requestedPackageLineItems.0"
RECIPIENT = f"{SHIP}.recipients.0"
COMMODITY = f"{SHIP}.customsClearanceDetail.commodities.0"

SHIP_RULES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("unknown account", _set("accountNumber.value", "123456789"), "ACCOUNTNUMBER.REGISTRATION.REQUIRED"),
    ("account not 9 digits", _set("accountNumber.value", "12345"), "ACCOUNTNUMBER.REGISTRATION.REQUIRED"),
    ("labelResponseOptions enum", _set("labelResponseOptions", "PDF"), "INVALID.INPUT.EXCEPTION"),
    ("serviceType enum", _set(f"{SHIP}.serviceType", "FEDEX_TELEPORT"), "SHIPMENT.SERVICETYPE.INVALID"),
    ("domestic service abroad", _set(f"{SHIP}.serviceType", "FEDEX_GROUND"), "SHIPMENT.SERVICETYPE.INVALID"),
    ("pickupType enum", _set(f"{SHIP}.pickupType", "WHENEVER"), "INVALID.INPUT.EXCEPTION"),
    ("postal code DE", _set(f"{RECIPIENT}.address.postalCode", _DELETE), "SHIPMENT.POSTALCODE.INVALID"),
    ("postal code SG", _set(f"{SHIP}.shipper.address.postalCode", _DELETE), "SHIPMENT.POSTALCODE.INVALID"),
    ("street lines", _set(f"{RECIPIENT}.address.streetLines", []), "SHIPMENT.ADDRESS.STREETLINES.REQUIRED"),
    ("street line length", _set(f"{RECIPIENT}.address.streetLines", ["x" * 36]), "INVALID.INPUT.EXCEPTION"),
    ("city", _set(f"{RECIPIENT}.address.city", _DELETE), "SHIPMENT.ADDRESS.CITY.REQUIRED"),
    ("country code", _set(f"{RECIPIENT}.address.countryCode", "Germany"), "INVALID.INPUT.EXCEPTION"),
    ("phone", _set(f"{RECIPIENT}.contact.phoneNumber", "123"), "PHONENUMBER.INVALID"),
    ("contact name", _set(f"{RECIPIENT}.contact", {"phoneNumber": "+4930123456"}), "CONTACT.NAME.REQUIRED"),
    ("weight over 68 kg", _set(f"{PKG}.weight", {"units": "KG", "value": 68.5}), "WEIGHT.VALUE.INVALID"),
    ("weight over 150 lb", _set(f"{PKG}.weight", {"units": "LB", "value": 151}), "WEIGHT.VALUE.INVALID"),
    ("weight zero", _set(f"{PKG}.weight", {"units": "KG", "value": 0}), "WEIGHT.VALUE.INVALID"),
    ("weight units", _set(f"{PKG}.weight", {"units": "G", "value": 800}), "INVALID.INPUT.EXCEPTION"),
    ("dimension > 999", _set(f"{PKG}.dimensions.length", 1000), "SHIPMENT.PACKAGEDIMENSION.INVALID"),
    ("dimension not whole", _set(f"{PKG}.dimensions.width", 20.5), "SHIPMENT.PACKAGEDIMENSION.INVALID"),
    ("reference length", _set(f"{PKG}.customerReferences.0.value", "r" * 41), "INVALID.INPUT.EXCEPTION"),
    ("commodities", _set(f"{SHIP}.customsClearanceDetail.commodities", []), "COMMODITY.NOT.FOUND"),
    ("customs detail", _set(f"{SHIP}.customsClearanceDetail", _DELETE), "COMMODITY.NOT.FOUND"),
    ("harmonized code", _set(f"{COMMODITY}.harmonizedCode", "6109.10"), "COMMODITY.HARMONIZEDCODE.INVALID"),
    ("manufacture country", _set(f"{COMMODITY}.countryOfManufacture", ""), "COMMODITY.COUNTRYOFMANUFACTURE"),
    ("customs value", _set(f"{COMMODITY}.customsValue", _DELETE), "COMMODITIES.CUSTOMSVALUE.REQUIRED"),
    (
        "duties payment",
        _set(f"{SHIP}.customsClearanceDetail.dutiesPayment", {"paymentType": "ME"}),
        "INVALID",
    ),
    ("commercial invoice", _set(f"{SHIP}.customsClearanceDetail.commercialInvoice", _DELETE), "INVALID"),
    ("imageType enum", _set(f"{SHIP}.labelSpecification.imageType", "GIF"), "INVALID.INPUT.EXCEPTION"),
    (
        "labelStockType enum",
        _set(f"{SHIP}.labelSpecification.labelStockType", "A4"),
        "INVALID.INPUT.EXCEPTION",
    ),
    ("charges payment", _set(f"{SHIP}.shippingChargesPayment", _DELETE), "INVALID.INPUT.EXCEPTION"),
    ("ship date format", _set(f"{SHIP}.shipDatestamp", "02/12/2026"), "INVALID.INPUT.EXCEPTION"),
    ("total weight", _set(f"{SHIP}.totalWeight", _DELETE), "INVALID.INPUT.EXCEPTION"),
]


@pytest.mark.parametrize(("rule", "change", "code"), SHIP_RULES, ids=[r[0] for r in SHIP_RULES])
async def test_ship_refusal(
    fedex: Served, rule: str, change: Callable[[dict[str, Any]], None], code: str
) -> None:
    body = copy.deepcopy(ship_body(fedex))
    change(body)
    client = FedExClient(fedex.account(), TokenCache())
    with pytest.raises(ChannelError) as caught:
        await client.call("POST", "/ship/v1/shipments", body)
    assert (caught.value.code, caught.value.retryable) == ("REFUSED", False)
    assert code in caught.value.message
    assert fedex.emulator.labels_bought("refusal") == 0


async def test_us_addresses_need_a_state(fedex: Served) -> None:
    request = replace(
        sample_request("no-state", destination=replace(US_BUYER, region=None), items=[]), origin=US_SHIPPER
    )
    with pytest.raises(ChannelError) as caught:
        await FedExCarrier().buy_label(fedex.account(), request, "FEDEX_GROUND")
    assert caught.value.code == "REFUSED" and "STATEORPROVINCECODE.REQUIRED" in caught.value.message


async def test_ground_references_are_30_characters(fedex: Served) -> None:
    request = replace(sample_request("r" * 30, destination=US_BUYER, items=[]), origin=US_SHIPPER)
    body = ship_request(
        fedex.credentials["account_number"], request, "FEDEX_GROUND", pickup_type="USE_SCHEDULED_PICKUP"
    )
    body[SHIP]["requestedPackageLineItems"][0]["customerReferences"][0]["value"] = "r" * 31
    with pytest.raises(ChannelError, match="1 to 30 characters"):
        await FedExClient(fedex.account(), TokenCache()).call("POST", "/ship/v1/shipments", body)


async def test_rates_refuse_an_unknown_service_and_missing_commodities(fedex: Served) -> None:
    client = FedExClient(fedex.account(), TokenCache())
    body = rate_request(
        fedex.credentials["account_number"], sample_request("r"), pickup_type="USE_SCHEDULED_PICKUP"
    )
    wrong = copy.deepcopy(body)
    wrong[SHIP]["serviceType"] = "FEDEX_TELEPORT"
    with pytest.raises(ChannelError, match=r"SHIPMENT.SERVICETYPE.INVALID"):
        await client.call("POST", "/rate/v1/rates/quotes", wrong)
    bare = copy.deepcopy(body)
    del bare[SHIP]["customsClearanceDetail"]
    with pytest.raises(ChannelError, match=r"COMMODITY.NOT.FOUND"):
        await client.call("POST", "/rate/v1/rates/quotes", bare)
    heavy = copy.deepcopy(body)
    heavy[SHIP]["requestedPackageLineItems"][0]["weight"]["value"] = 70
    with pytest.raises(ChannelError, match=r"WEIGHT.VALUE.INVALID"):
        await client.call("POST", "/rate/v1/rates/quotes", heavy)


async def test_tracking_refuses_empty_and_oversized_batches(fedex: Served) -> None:
    client = FedExClient(fedex.account(), TokenCache())
    with pytest.raises(ChannelError, match=r"TRACKING.TRACKINGNUMBER.EMPTY"):
        await client.call(
            "POST", "/track/v1/trackingnumbers", {"includeDetailedScans": True, "trackingInfo": []}
        )
    many = [{"trackingNumberInfo": {"trackingNumber": f"7949{i:08d}"}} for i in range(31)]
    with pytest.raises(ChannelError, match="At most 30"):
        await client.call(
            "POST", "/track/v1/trackingnumbers", {"includeDetailedScans": True, "trackingInfo": many}
        )


async def test_reference_tracking_needs_an_account_or_destination(fedex: Served) -> None:
    client = FedExClient(fedex.account(), TokenCache())
    body = {"referencesInformation": {"type": "CUSTOMER_REFERENCE", "value": "x",
                                      "shipDateBegin": "2026-01-01", "shipDateEndDate": "2026-01-02"}}  # fmt: skip
    with pytest.raises(ChannelError, match=r"ACCOUNTORDESTINATION"):
        await client.call("POST", "/track/v1/referencenumbers", body)


async def test_pickup_refuses_a_close_time_before_the_ready_time(fedex: Served) -> None:
    day = date.today() + timedelta(days=1)
    request = PickupRequest("pick-2", US_SHIPPER, day, "17:00", "09:00", [], 1, 500)
    with pytest.raises(ChannelError) as caught:
        await FedExCarrier().schedule_pickup(fedex.account(), request)
    assert caught.value.code == "REFUSED" and "PICKUP.CLOSETIME.INVALID" in caught.value.message


# ------------------------------------------------------------------ tokens


async def test_a_token_is_fetched_once_and_reused(fedex: Served) -> None:
    carrier = FedExCarrier()
    for _ in range(3):
        await carrier.track(fedex.account(), ["794900009901"])
    assert fedex.emulator.tokens_issued == 1
    assert carrier.tokens.fetched == 1


async def test_an_expired_token_is_refreshed_once_on_401(fedex: Served) -> None:
    carrier = FedExCarrier()
    await carrier.track(fedex.account(), ["794900009901"])
    fedex.emulator.expire_tokens()  # FedEx says NOT.AUTHORIZED.ERROR "Access token expired"
    results = await carrier.track(fedex.account(), ["794900009901"])
    assert results[0].found is False
    assert fedex.emulator.tokens_issued == 2


async def test_a_token_near_its_expiry_is_replaced_before_use(fedex: Served) -> None:
    now = [1_000.0]
    carrier = FedExCarrier(TokenCache(clock=lambda: now[0]))
    await carrier.track(fedex.account(), ["794900009901"])
    now[0] += 3599 - 30  # inside the minute before FedEx's expires_in
    await carrier.track(fedex.account(), ["794900009901"])
    assert fedex.emulator.tokens_issued == 2
    assert fedex.emulator.requests["/track/v1/trackingnumbers"] == 2  # no 401 on the way


async def test_tokens_are_per_account(fedex: Served) -> None:
    carrier = FedExCarrier()
    await carrier.track(fedex.account(), ["794900009901"])
    other = replace(fedex.account(), id=2, credentials=fedex.emulator.open_account())
    await carrier.track(other, ["794900009901"])
    assert fedex.emulator.tokens_issued == 2


async def test_a_401_after_the_refresh_is_bad_credentials(fedex: Served) -> None:
    carrier = FedExCarrier()
    await carrier.track(fedex.account(), ["794900009901"])
    fedex.emulator.revoked = True
    with pytest.raises(ChannelError) as caught:
        await carrier.track(fedex.account(), ["794900009901"])
    assert (caught.value.code, caught.value.retryable) == ("CREDENTIALS", False)
    assert "NOT.AUTHORIZED.ERROR" in caught.value.message


async def test_a_wrong_secret_is_bad_credentials(fedex: Served) -> None:
    account = replace(fedex.account(), credentials={**fedex.credentials, "client_secret": "nope"})
    with pytest.raises(ChannelError) as caught:
        await FedExCarrier().track(account, ["794900009901"])
    assert (caught.value.code, caught.value.retryable) == ("CREDENTIALS", False)
    assert fedex.emulator.requests["/track/v1/trackingnumbers"] == 0


# ------------------------------------------------------------------ error mapping


@pytest.mark.parametrize(
    ("faults", "code", "retry_after"),
    [
        (Faults(throttle=1.0, retry_after=7), "THROTTLED", 7.0),
        (Faults(server_error=1.0, seed=3), "INTERNAL.SERVER.ERROR|SERVICE.UNAVAILABLE.ERROR", None),
        (Faults(malformed=1.0), "MALFORMED", None),
        (Faults(timeout=1.0, timeout_seconds=1.5), "TIMEOUT", None),
    ],
    ids=["429", "5xx", "malformed", "timeout"],
)
async def test_transient_errors_are_retryable(faults: Faults, code: str, retry_after: float | None) -> None:
    emulator = FedExEmulator(faults)
    async with serve(emulator) as base_url:
        served = Served(emulator, base_url)
        with pytest.raises(ChannelError) as caught:
            await FedExCarrier().track(served.account(timeout=0.5), ["794900009901"])
    assert caught.value.retryable
    assert caught.value.code in code.split("|")
    assert caught.value.retry_after == retry_after


async def test_403_is_a_permanent_credentials_error(fedex: Served) -> None:
    fedex.emulator.forbidden.add("/pickup/v1/pickups")
    request = PickupRequest(
        "pick-3", US_SHIPPER, date.today() + timedelta(days=1), "09:00", "17:00", [], 1, 500
    )
    with pytest.raises(ChannelError) as caught:
        await FedExCarrier().schedule_pickup(fedex.account(), request)
    assert (caught.value.code, caught.value.retryable) == ("CREDENTIALS", False)
    assert "FORBIDDEN.ERROR" in caught.value.message


async def test_a_refusal_keeps_fedex_message(fedex: Served) -> None:
    with pytest.raises(ChannelError) as caught:
        await FedExCarrier().rates(fedex.account(), sample_request("m", parcels=1, items=[]))
    assert caught.value.code == "REFUSED"
    assert caught.value.message == "COMMODITY.NOT.FOUND: Commodity not found."


# ------------------------------------------------------------------ tracking


def _scan(code: str, exception: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"date": "2026-03-02T10:15:00-06:00", "eventType": code, "eventDescription": code}
    if exception:
        event["exceptionDescription"] = exception
    return event


NORMALISATION: list[tuple[str, str | None, TrackingStatus, TrackingReason | None]] = [
    ("OC", None, TrackingStatus.PENDING, None),
    ("PU", None, TrackingStatus.PICKED_UP, None),
    ("AR", None, TrackingStatus.IN_TRANSIT, None),
    ("DP", None, TrackingStatus.IN_TRANSIT, None),
    ("IT", None, TrackingStatus.IN_TRANSIT, None),
    ("CC", None, TrackingStatus.IN_TRANSIT, None),
    ("OD", None, TrackingStatus.OUT_FOR_DELIVERY, None),
    ("DL", None, TrackingStatus.DELIVERED, None),
    (
        "DE",
        "Customer not available or business closed",
        TrackingStatus.DELIVERY_FAILED,
        TrackingReason.RECIPIENT_UNAVAILABLE,
    ),
    ("DE", "Incorrect address", TrackingStatus.DELIVERY_FAILED, TrackingReason.ADDRESS_ISSUE),
    ("DE", "Refused by recipient", TrackingStatus.DELIVERY_FAILED, TrackingReason.REFUSED),
    ("CD", None, TrackingStatus.ON_HOLD, TrackingReason.CUSTOMS_HOLD),
    (
        "CD",
        "Import duties and taxes due from recipient",
        TrackingStatus.ON_HOLD,
        TrackingReason.DUTIES_UNPAID,
    ),
    ("SE", "Package damaged", TrackingStatus.ON_HOLD, TrackingReason.DAMAGED),
    ("SE", "Weather delay", TrackingStatus.ON_HOLD, TrackingReason.WEATHER),
    ("SE", None, TrackingStatus.ON_HOLD, TrackingReason.OTHER),
    ("DD", "Missed connection, next flight", TrackingStatus.DELIVERY_DELAYED, TrackingReason.CARRIER_DELAY),
    ("HL", None, TrackingStatus.READY_FOR_PICKUP, None),
    ("HP", None, TrackingStatus.READY_FOR_PICKUP, None),
    ("RS", None, TrackingStatus.RETURN_TO_SENDER, TrackingReason.OTHER),
    ("CA", None, TrackingStatus.CANCELLED, None),
    ("HA", None, TrackingStatus.UNKNOWN, None),
]


@pytest.mark.parametrize(("code", "exception", "status", "reason"), NORMALISATION)
def test_event_type_normalisation(
    code: str, exception: str | None, status: TrackingStatus, reason: TrackingReason | None
) -> None:
    data = {
        "output": {
            "completeTrackResults": [
                {"trackingNumber": "1", "trackResults": [{"scanEvents": [_scan(code, exception)]}]}
            ]
        }
    }
    (result,) = parse_tracking(data, ["1"])
    (event,) = result.events
    assert (event.status, event.reason, event.code) == (status, reason, code)
    assert event.occurred_at == datetime(2026, 3, 2, 16, 15, tzinfo=UTC)  # -06:00 to UTC
    assert EVENT_STATUS.get(code, TrackingStatus.UNKNOWN) == status


@pytest.mark.parametrize("status", [s for s in TrackingStatus if s != TrackingStatus.UNKNOWN])
async def test_emulated_scans_come_back_as_they_were_made(fedex: Served, status: TrackingStatus) -> None:
    carrier = FedExCarrier()
    label = await carrier.buy_label(
        fedex.account(), sample_request(f"scan-{status}"), "INTERNATIONAL_ECONOMY"
    )
    number = label.tracking_numbers[0]
    reason = TrackingReason.CUSTOMS_DOCUMENTS if status == TrackingStatus.ON_HOLD else None
    fedex.emulator.scan(number, status, reason, datetime.now(UTC) + timedelta(minutes=5))
    (result,) = await carrier.track(fedex.account(), [number])
    latest = max(result.events, key=lambda e: e.occurred_at)
    assert latest.status == status
    if reason:
        assert latest.reason == reason
    assert result.estimated_delivery is not None


async def test_a_batch_with_an_unknown_number(fedex: Served) -> None:
    carrier = FedExCarrier()
    numbers = []
    for i in range(2):
        label = await carrier.buy_label(
            fedex.account(), sample_request(f"batch-{i}"), "INTERNATIONAL_ECONOMY"
        )
        numbers.append(label.tracking_numbers[0])
        fedex.emulator.scan(numbers[-1], TrackingStatus.IN_TRANSIT)
    asked = [numbers[0], "NOSUCHPARCEL0001", numbers[1]]
    results = await carrier.track(fedex.account(), asked)
    assert [r.tracking_number for r in results] == asked
    assert [r.found for r in results] == [True, False, True]
    assert results[1].events == []
    assert fedex.emulator.requests["/track/v1/trackingnumbers"] == 1


async def test_more_than_30_numbers_are_split(fedex: Served) -> None:
    numbers = [f"7949{i:08d}" for i in range(45)]
    results = await FedExCarrier().track(fedex.account(), numbers)
    assert [r.tracking_number for r in results] == numbers
    assert [len(b["trackingInfo"]) for b in fedex.emulator.bodies["/track/v1/trackingnumbers"]] == [30, 15]


# ------------------------------------------------------------------ a label whose answer was lost


async def test_a_lost_answer_is_found_by_reference_cancelled_and_bought_again(fedex: Served) -> None:
    request = sample_request("crossdock-label-77")
    bought = await FedExCarrier().buy_label(fedex.account(), request, "INTERNATIONAL_ECONOMY")
    # another process (this one's memory lost with the answer) resumes the purchase
    fresh = FedExCarrier()
    assert await fresh.find_label(fedex.account(), request) is None
    looked_up = last(fedex, "/track/v1/referencenumbers")["referencesInformation"]
    assert looked_up["type"] == "CUSTOMER_REFERENCE" and looked_up["value"] == "crossdock-label-77"
    assert looked_up["accountNumber"] == fedex.credentials["account_number"]
    assert looked_up["shipDateBegin"] <= date.today().isoformat() <= looked_up["shipDateEndDate"]
    assert (looked_up["destinationCountryCode"], looked_up["destinationPostalCode"]) == ("DE", "10117")
    assert last(fedex, "/ship/v1/shipments/cancel")["trackingNumber"] in bought.tracking_numbers
    assert fedex.emulator.labels_bought("crossdock-label-77") == 0
    again = await fresh.buy_label(fedex.account(), request, "INTERNATIONAL_ECONOMY")
    assert fedex.emulator.labels_bought("crossdock-label-77") == 1
    assert await fresh.find_label(fedex.account(), request) == again  # its own answer, kept
    assert await FedExCarrier().find_label(fedex.account(), request) is None  # no one else's: cancelled
    assert fedex.emulator.labels_bought("crossdock-label-77") == 0


async def test_a_lost_label_already_tendered_is_refused(fedex: Served) -> None:
    request = sample_request("crossdock-label-78")
    bought = await FedExCarrier().buy_label(fedex.account(), request, "INTERNATIONAL_ECONOMY")
    fedex.emulator.scan(bought.tracking_numbers[0], TrackingStatus.PICKED_UP)
    with pytest.raises(ChannelError) as caught:
        await FedExCarrier().find_label(fedex.account(), request)
    assert (caught.value.code, caught.value.retryable) == ("REFUSED", False)
    assert "never reached" in caught.value.message
    assert fedex.emulator.labels_bought("crossdock-label-78") == 1


async def test_url_only_answers_carry_no_image(fedex: Served) -> None:
    # why labels are asked for as LABEL: a URL_ONLY answer's URL is as lost as the image
    body = ship_body(fedex)
    body["labelResponseOptions"] = "URL_ONLY"
    data = await FedExClient(fedex.account(), TokenCache()).call("POST", "/ship/v1/shipments", body)
    doc = data["output"]["transactionShipments"][0]["pieceResponses"][0]["packageDocuments"][0]
    assert "url" in doc and "encodedLabel" not in doc
    assert [d.kind for d in parse_label(data).documents] == [DocumentKind.COMMERCIAL_INVOICE]


def test_parcels_without_dimensions_send_none() -> None:
    request = sample_request("nodims")
    request = replace(request, parcels=[Parcel(weight_grams=5)])
    body = ship_request("700000000", request, "FEDEX_GROUND", pickup_type="USE_SCHEDULED_PICKUP")
    item = body[SHIP]["requestedPackageLineItems"][0]
    assert "dimensions" not in item and item["weight"] == {"units": "KG", "value": 0.01}


async def test_a_shipment_to_elsewhere_with_the_same_reference_is_not_ours(fedex: Served) -> None:
    # another sender on a shared FedEx account used the same reference for another address
    elsewhere = replace(sample_request("x").destination, postal_code="80331", city="Munich")
    await FedExCarrier().buy_label(
        fedex.account(), sample_request("crossdock-label-79", destination=elsewhere), "INTERNATIONAL_ECONOMY"
    )
    assert await FedExCarrier().find_label(fedex.account(), sample_request("crossdock-label-79")) is None
    assert fedex.emulator.labels_bought("crossdock-label-79") == 1  # not cancelled


async def test_api_calls_without_a_valid_token_are_refused_in_fedex_envelope(fedex: Served) -> None:
    http = emulator_http().client(timeout=2.0)
    url = fedex.base_url + "/track/v1/trackingnumbers"
    body = {"includeDetailedScans": True, "trackingInfo": [{"trackingNumberInfo": {"trackingNumber": "1"}}]}
    for headers, words in (({}, "missing"), ({"authorization": "Bearer forged"}, "invalid")):
        response = await http.post(url, json=body, headers=headers)
        assert response.status_code == 401
        data = response.json()
        assert data["transactionId"] and data["errors"][0]["code"] == "NOT.AUTHORIZED.ERROR"
        assert words in data["errors"][0]["message"]
    token = await http.post(fedex.base_url + "/oauth/token", data={"grant_type": "password"})
    assert token.status_code == 400
