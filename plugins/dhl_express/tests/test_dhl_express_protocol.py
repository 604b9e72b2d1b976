"""DHL Express's wire protocol: what each call sends as the emulator receives it, each
refusal rule of the emulator, the client's error mapping, checkpoint codes normalised, and
tracking in batches. Everything runs over real HTTP on loopback."""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest
from crossdock_dhl_express import mapping
from crossdock_dhl_express.carrier import DhlExpressCarrier
from crossdock_dhl_express.emulator import DhlExpressEmulator, Received
from crossdock_dhl_express.settings import PRODUCTION_HOST, TEST_HOST, DhlExpressSettings

from crossdock import (
    CarrierAccount,
    ChannelError,
    Incoterm,
    Label,
    PickupRequest,
    ShipmentRequest,
    TrackingReason,
    TrackingStatus,
)
from crossdock.testing import emulator_http, load_plugins
from crossdock.testing.carriers import sample_request
from crossdock.testing.emulator import Faults, serve

SENDER = sample_request("addresses").origin  # Singapore
BUYER = sample_request("addresses").destination  # Berlin
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2} GMT[+-]\d{2}:\d{2}$")


class World:
    def __init__(self, emulator: DhlExpressEmulator, base_url: str, settings: Mapping[str, Any]) -> None:
        self.emulator = emulator
        self.base_url = base_url
        self.credentials = emulator.open_account()
        self.account = CarrierAccount(
            id=1,
            tenant="t",
            carrier="dhl_express",
            credentials=self.credentials,
            base_url=base_url,
            settings=dict(settings),
            http=emulator_http(),
        )
        self.provider = DhlExpressCarrier()

    @property
    def settings(self) -> DhlExpressSettings:
        return DhlExpressSettings.of(self.account)

    def sent(self, method: str, path: str) -> Received:
        return [r for r in self.emulator.received if r.method == method and r.path == path][-1]

    async def raw(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Any = None,
        auth: tuple[str, str] | bool | None = True,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """A hand-made call, as any MyDHL client would make it."""
        if auth is True:
            auth = (self.credentials["api_key"], self.credentials["api_secret"])
        async with httpx.AsyncClient(base_url=self.base_url) as http:
            return await http.request(
                method,
                path,
                json=body,
                params=params,
                headers={"x-version": "2.12.0", **(headers or {})},
                auth=auth if isinstance(auth, tuple) else None,
            )

    def shipment_body(self, request: ShipmentRequest | None = None, service: str = "P") -> dict[str, Any]:
        return mapping.shipment_request(
            self.settings, request or sample_request("raw-1"), service, datetime.now(UTC)
        )

    def rates_body(self, request: ShipmentRequest | None = None) -> dict[str, Any]:
        return mapping.rate_request(self.settings, request or sample_request("raw-1"), datetime.now(UTC))


@asynccontextmanager
async def world(faults: Faults | None = None, **settings: Any) -> AsyncIterator[World]:
    emulator = DhlExpressEmulator(faults or Faults())
    async with serve(emulator) as base_url:
        yield World(emulator, base_url, {"timeout": 2.0, **settings})


async def bought(w: World, reference: str = "proto-1", **changes: Any) -> tuple[ShipmentRequest, Label]:
    request = sample_request(reference, **changes)
    return request, await w.provider.buy_label(w.account, request, "P")


def problem(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) <= {"instance", "detail", "title", "message", "status", "additionalDetails"}
    assert body["status"] == str(response.status_code)
    assert body["instance"].startswith("/expressapi/")
    return dict(body)


# --------------------------------------------------------------------------- plugin and settings


def test_the_plugin_registers_the_carrier_and_its_emulator() -> None:
    plugins = load_plugins(["dhl_express"])
    carrier = plugins.carriers["dhl_express"]
    assert carrier.channel is None
    assert carrier.track_batch == 10
    assert plugins.emulators["dhl_express"] is DhlExpressEmulator
    assert DhlExpressEmulator.default_site == "SG"


def test_hosts_and_required_credentials() -> None:
    creds = {"api_key": "k", "api_secret": "s", "account_number": "123456789"}
    live = CarrierAccount(id=1, tenant="t", carrier="dhl_express", credentials=creds)
    sandbox = replace(live, settings={"test_mode": True})
    assert DhlExpressSettings.of(live).base_url == PRODUCTION_HOST
    assert DhlExpressSettings.of(sandbox).base_url == TEST_HOST
    in_settings = replace(
        live, credentials={"api_key": "k", "api_secret": "s"}, settings={"account_number": "9"}
    )
    assert DhlExpressSettings.of(in_settings).account_number == "9"
    with pytest.raises(ChannelError) as caught:
        DhlExpressSettings.of(replace(live, credentials={"api_key": "k"}))
    assert caught.value.code == "CREDENTIALS"
    assert "api_secret" in caught.value.message and "account_number" in caught.value.message


# --------------------------------------------------------------------------- wire format


async def test_every_call_carries_basic_auth_and_message_headers() -> None:
    async with world() as w:
        await w.provider.rates(w.account, sample_request("hdr"))
        headers = w.sent("POST", "/rates").headers
    scheme, _, token = headers["authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(token).decode() == f"{w.credentials['api_key']}:{w.credentials['api_secret']}"
    assert 28 <= len(headers["message-reference"]) <= 36
    sent_at = parsedate_to_datetime(headers["message-reference-date"])
    assert abs(sent_at - datetime.now(UTC)) < timedelta(minutes=5)
    assert headers["shipping-system-platform-name"] == "Crossdock"
    assert headers["x-version"] == "2.12.0"


async def test_rates_request_as_received() -> None:
    async with world() as w:
        rates = await w.provider.rates(w.account, sample_request("rates"))
        body = w.sent("POST", "/rates").body
    assert TIMESTAMP.match(body["plannedShippingDateAndTime"])
    assert "productCode" not in body  # every product on the lane
    assert body["accounts"] == [{"typeCode": "shipper", "number": w.credentials["account_number"]}]
    assert body["unitOfMeasurement"] == "metric"
    assert body["isCustomsDeclarable"] is True  # SG -> DE
    assert body["monetaryAmount"] == [{"typeCode": "declaredValue", "value": 59.8, "currency": "EUR"}]
    assert body["packages"] == [{"weight": 0.8, "dimensions": {"length": 30, "width": 20, "height": 10}}]
    assert body["customerDetails"]["receiverDetails"] == {
        "postalCode": "10117",
        "cityName": "Berlin",
        "countryCode": "DE",
        "addressLine1": "Friedrichstrasse 43",
    }
    assert [r.service for r in rates] == ["P", "Y"]  # cheapest first, billing currency
    assert all(r.price.currency == "SGD" for r in rates)
    assert rates[0].transit_days == 3
    assert rates[0].estimated_delivery is not None


async def test_a_domestic_rate_is_not_declared_to_customs() -> None:
    domestic = replace(BUYER, country="SG", city="Singapore", postal_code="049712", line1="1 Raffles Place")
    async with world() as w:
        rates = await w.provider.rates(w.account, sample_request("dom", destination=domestic))
        body = w.sent("POST", "/rates").body
    assert body["isCustomsDeclarable"] is False
    assert "monetaryAmount" not in body
    assert {r.service for r in rates} == {"N", "1"}


async def test_inside_the_eu_nothing_is_declared_and_the_product_is_u() -> None:
    paris = replace(BUYER, city="Paris", postal_code="75001", country="FR", line1="1 Rue de Rivoli")
    request = sample_request(
        "eu", origin=replace(BUYER, name="Lager Berlin", company="Lager GmbH"), destination=paris
    )
    async with world() as w:
        rates = await w.provider.rates(w.account, request)
        label = await w.provider.buy_label(w.account, request, rates[0].service)
        body = w.sent("POST", "/shipments").body
    assert [r.service for r in rates] == ["U"]
    assert body["content"]["isCustomsDeclarable"] is False
    assert "exportDeclaration" not in body["content"] and "declaredValue" not in body["content"]
    assert [d.kind.value for d in label.documents] == ["label"]


async def test_shipment_request_as_received() -> None:
    async with world() as w:
        label = (await bought(w, "ship-1"))[1]
        body = w.sent("POST", "/shipments").body
    assert TIMESTAMP.match(body["plannedShippingDateAndTime"])
    assert body["productCode"] == "P"
    assert body["pickup"] == {"isRequested": True, "closeTime": "18:00", "location": "reception"}
    assert body["customerReferences"] == [{"value": "ship-1", "typeCode": "CU"}]
    assert body["getRateEstimates"] is True
    assert body["estimatedDeliveryDate"] == {"isRequested": True, "typeCode": "QDDC"}
    assert body["outputImageProperties"] == {
        "encodingFormat": "pdf",
        "imageOptions": [
            {"typeCode": "label", "templateName": "ECOM26_84_001"},
            {"typeCode": "invoice", "isRequested": True, "invoiceType": "commercial"},
        ],
    }
    shipper = body["customerDetails"]["shipperDetails"]
    assert shipper["contactInformation"] == {
        "phone": "+6561234567",
        "companyName": "Conformance Trading Pte Ltd",
        "fullName": "Crossdock Conformance",
        "email": "ship@conformance.example",
    }
    assert shipper["postalAddress"]["addressLine2"] == "#20-01"
    content = body["content"]
    assert content["isCustomsDeclarable"] is True
    assert content["declaredValue"] == 59.8 and content["declaredValueCurrency"] == "EUR"
    assert content["incoterm"] == "DDP"
    assert content["description"] == "Cotton T-shirt, Canvas tote bag"
    first = content["exportDeclaration"]["lineItems"][0]
    assert first == {
        "number": 1,
        "description": "Cotton T-shirt",
        "price": 19.9,
        "quantity": {"value": 2, "unitOfMeasurement": "PCS"},
        "manufacturerCountry": "VN",
        "weight": {"netValue": 0.4, "grossValue": 0.4},
        "commodityCodes": [{"typeCode": "outbound", "value": "610910"}],
    }
    assert content["exportDeclaration"]["invoice"]["number"] == "ship-1"
    assert label.tracking_numbers == [label.carrier_shipment_id]
    assert re.fullmatch(r"\d{10}", label.carrier_shipment_id)
    assert label.raw["dispatchConfirmationNumber"]
    assert len(label.raw["pieces"]) == 1
    assert {d.kind.value for d in label.documents} == {"label", "commercial_invoice"}
    assert label.price is not None and label.price.currency == "SGD" and label.price.amount > 0
    assert label.estimated_delivery is not None and label.estimated_delivery > date.today()


async def test_ddu_is_sent_as_dap_and_a_domestic_label_has_no_customs() -> None:
    domestic = replace(BUYER, country="SG", city="Singapore", postal_code="049712", line1="1 Raffles Place")
    async with world(request_pickup=False) as w:
        await bought(w, "dap", incoterm=Incoterm.DDU)
        assert w.sent("POST", "/shipments").body["content"]["incoterm"] == "DAP"
        await w.provider.buy_label(w.account, sample_request("dom", destination=domestic), "N")
        body = w.sent("POST", "/shipments").body
    assert body["pickup"] == {"isRequested": False}
    assert body["content"]["isCustomsDeclarable"] is False
    assert "exportDeclaration" not in body["content"]
    assert [o["typeCode"] for o in body["outputImageProperties"]["imageOptions"]] == ["label"]


async def test_tracking_one_number_and_a_batch_as_received() -> None:
    async with world() as w:
        numbers = []
        for i in range(3):
            label = (await bought(w, f"trk-{i}"))[1]
            numbers.append(label.tracking_numbers[0])
            w.emulator.scan(numbers[-1], TrackingStatus.PICKED_UP)
        await w.provider.track(w.account, numbers[:1])
        single = w.sent("GET", f"/shipments/{numbers[0]}/tracking")
        results = await w.provider.track(w.account, [*numbers, "0000000000"])
        batch = w.sent("GET", "/tracking")
    assert ("trackingView", "all-checkpoints") in single.query
    sent = [v for k, v in batch.query if k == "shipmentTrackingNumber"]
    assert sent == [*numbers, "0000000000"]  # repeated query parameters, one call
    assert [r.tracking_number for r in results] == [*numbers, "0000000000"]
    assert [r.found for r in results] == [True, True, True, False]


async def test_tracking_is_batched_by_track_batch() -> None:
    async with world() as w:
        label = (await bought(w, "many"))[1]
        w.emulator.scan(label.tracking_numbers[0], TrackingStatus.IN_TRANSIT)
        numbers = [label.tracking_numbers[0], *(f"{9_000_000_000 + i}" for i in range(22))]
        before = len(w.emulator.received)
        results = await w.provider.track(w.account, numbers)
        calls = w.emulator.received[before:]
    assert [len([v for k, v in c.query if k == "shipmentTrackingNumber"]) for c in calls] == [10, 10, 3]
    assert all(c.path == "/tracking" for c in calls)
    assert len(results) == 23 and results[0].found and not any(r.found for r in results[1:])


async def test_find_label_asks_by_reference_then_for_the_documents() -> None:
    async with world() as w:
        request, label = await bought(w, "find-1")
        found = await w.provider.find_label(w.account, request)
        search = w.sent("GET", "/tracking")
        images = [r for r in w.emulator.received if r.path.endswith("/get-image")]
        missing = await w.provider.find_label(w.account, sample_request("never-bought"))
    query = dict(search.query)
    assert query["shipmentReference"] == "find-1"
    assert query["shipmentReferenceType"] == "CU"
    assert query["shipperAccountNumber"] == w.credentials["account_number"]
    assert (
        date.fromisoformat(query["dateRangeFrom"]) < date.today() < date.fromisoformat(query["dateRangeTo"])
    )
    assert query["trackingView"] == "shipment-details-only"
    assert [dict(r.query)["typeCode"] for r in images] == ["waybill", "commercial-invoice"]
    assert all(dict(r.query)["pickupYearAndMonth"] == f"{date.today():%Y-%m}" for r in images)
    assert found is not None and found.tracking_numbers == label.tracking_numbers
    assert found.service == "P"
    assert {d.kind.value for d in found.documents} == {"label", "commercial_invoice"}
    assert all(d.content.startswith(b"%PDF-") for d in found.documents)
    assert missing is None


async def test_pickup_request_as_received() -> None:
    async with world() as w:
        label = (await bought(w, "pick"))[1]
        day = date.today() + timedelta(days=1)
        pickup = await w.provider.schedule_pickup(
            w.account,
            PickupRequest("pick-1", SENDER, day, "10:00", "17:00", label.tracking_numbers, 2, 1600),
        )
        body = w.sent("POST", "/pickups").body
    assert body["plannedPickupDateAndTime"] == f"{day.isoformat()}T10:00:00 GMT+00:00"
    assert body["closeTime"] == "17:00"
    assert body["accounts"] == [{"typeCode": "shipper", "number": w.credentials["account_number"]}]
    assert body["customerDetails"]["shipperDetails"]["postalAddress"]["postalCode"] == "079903"
    details = body["shipmentDetails"][0]
    assert details["shipmentTrackingNumber"] == label.tracking_numbers[0]
    assert [p["weight"] for p in details["packages"]] == [0.8, 0.8]
    assert re.fullmatch(r"PRG\d{12}", pickup.confirmation)
    assert pickup.day == day and pickup.window == "10:00-17:00"


async def test_address_validation_as_received() -> None:
    async with world() as w:
        good = await w.provider.validate_address(w.account, BUYER)
        query = dict(w.sent("GET", "/address-validate").query)
        bad = await w.provider.validate_address(w.account, replace(BUYER, postal_code="1011"))
    assert query == {"type": "delivery", "countryCode": "DE", "postalCode": "10117", "cityName": "Berlin"}
    assert good.valid and good.suggestion is None
    assert not bad.valid and bad.messages


# --------------------------------------------------------------------------- voiding


async def test_void_checks_tracking_then_cancels_the_shipments_pickup() -> None:
    async with world() as w:
        _, label = await bought(w, "void-1")
        await w.provider.void_label(w.account, label)
        check = w.sent("GET", f"/shipments/{label.carrier_shipment_id}/tracking")
        cancel = w.sent("DELETE", f"/pickups/{label.raw['dispatchConfirmationNumber']}")
        assert w.emulator.labels_bought("void-1") == 0
    assert ("trackingView", "last-checkpoint") in check.query
    assert dict(cancel.query) == {"requestorName": "Crossdock", "reason": "label voided"}


async def test_void_after_hand_over_is_refused_with_the_last_checkpoint() -> None:
    async with world() as w:
        _, label = await bought(w, "void-2")
        w.emulator.scan(label.tracking_numbers[0], TrackingStatus.PICKED_UP)
        with pytest.raises(ChannelError) as caught:
            await w.provider.void_label(w.account, label)
        assert not [r for r in w.emulator.received if r.method == "DELETE"]
        assert w.emulator.labels_bought("void-2") == 1
    assert caught.value.code == "REFUSED" and not caught.value.retryable
    assert "PU" in caught.value.message


async def test_void_without_a_booked_pickup_only_checks_hand_over() -> None:
    async with world(request_pickup=False) as w:
        _, label = await bought(w, "void-3")
        assert not label.raw["dispatchConfirmationNumber"]
        await w.provider.void_label(w.account, label)
        assert not [r for r in w.emulator.received if r.method == "DELETE"]


# --------------------------------------------------------------------------- error mapping


async def test_throttling_is_retryable_with_retry_after() -> None:
    async with world(Faults(throttle=1.0, retry_after=0.7)) as w:
        with pytest.raises(ChannelError) as caught:
            await w.provider.rates(w.account, sample_request("t"))
    assert caught.value.retryable and caught.value.code == "THROTTLED"
    assert caught.value.retry_after == pytest.approx(0.7)


async def test_server_errors_are_retryable() -> None:
    async with world(Faults(server_error=1.0)) as w:
        with pytest.raises(ChannelError) as caught:
            await w.provider.rates(w.account, sample_request("t"))
    assert caught.value.retryable and caught.value.code == "SERVER_ERROR"


async def test_timeouts_are_retryable() -> None:
    async with world(Faults(timeout=1.0, timeout_seconds=1.0), timeout=0.2) as w:
        with pytest.raises(ChannelError) as caught:
            await w.provider.rates(w.account, sample_request("t"))
    assert caught.value.retryable and caught.value.code == "TIMEOUT"


async def test_a_malformed_answer_is_retryable() -> None:
    async with world(Faults(malformed=1.0)) as w:
        with pytest.raises(ChannelError) as caught:
            await w.provider.rates(w.account, sample_request("t"))
    assert caught.value.retryable and caught.value.code == "MALFORMED"


async def test_a_schema_refusal_is_refused_with_dhls_detail() -> None:
    async with world() as w:
        bad = sample_request("r", destination=replace(BUYER, city=""))
        with pytest.raises(ChannelError) as caught:
            await w.provider.buy_label(w.account, bad, "P")
    assert caught.value.code == "REFUSED" and not caught.value.retryable
    assert caught.value.message == (
        "#/customerDetails/receiverDetails/postalAddress/cityName: expected minLength: 1, actual: 0"
    )


async def test_a_business_refusal_is_refused_with_dhls_detail() -> None:
    async with world() as w:
        with pytest.raises(ChannelError) as caught:
            await w.provider.buy_label(w.account, sample_request("r"), "N")
    assert caught.value.code == "REFUSED" and not caught.value.retryable
    assert "Product 'N'" in caught.value.message


async def test_bad_credentials_are_permanent() -> None:
    async with world() as w:
        wrong = replace(w.account, credentials={**w.credentials, "api_secret": "nope"})
        with pytest.raises(ChannelError) as caught:
            await w.provider.rates(wrong, sample_request("c"))
    assert caught.value.code == "CREDENTIALS" and not caught.value.retryable
    assert caught.value.message == "Invalid credentials"


# --------------------------------------------------------------------------- refusal rules


async def test_rule_no_basic_auth_is_401() -> None:
    async with world() as w:
        response = await w.raw("POST", "/rates", body=w.rates_body(), auth=None)
    assert response.status_code == 401
    assert problem(response)["title"] == "Unauthorized"


async def test_rule_wrong_secret_is_401() -> None:
    async with world() as w:
        response = await w.raw("POST", "/rates", body=w.rates_body(), auth=(w.credentials["api_key"], "x"))
    assert response.status_code == 401
    assert problem(response)["detail"] == "Invalid credentials"


async def test_rule_the_interface_version_is_required() -> None:
    async with world() as w, httpx.AsyncClient(base_url=w.base_url) as http:
        response = await http.post(
            "/rates", json=w.rates_body(), auth=(w.credentials["api_key"], w.credentials["api_secret"])
        )
    assert response.status_code == 400
    assert problem(response)["detail"] == "Missing mandatory parameters: x-version"


async def test_rule_message_reference_is_28_to_36_characters() -> None:
    async with world() as w:
        response = await w.raw("POST", "/rates", body=w.rates_body(), headers={"Message-Reference": "short"})
        fine = await w.raw("POST", "/rates", body=w.rates_body(), headers={"Message-Reference": "x" * 28})
    assert response.status_code == 400
    assert "Message-Reference" in problem(response)["detail"]
    assert fine.status_code == 200


async def test_rule_a_required_key_missing_is_422() -> None:
    async with world() as w:
        body = w.shipment_body()
        del body["plannedShippingDateAndTime"]
        response = await w.raw("POST", "/shipments", body=body)
    assert response.status_code == 422
    detail = problem(response)
    assert detail["detail"] == "#: required key [plannedShippingDateAndTime] not found"
    assert detail["title"] == "Validation error" and detail["message"] == "Unprocessable Entity"


async def test_rule_several_problems_are_listed_in_additional_details() -> None:
    async with world() as w:
        body = w.shipment_body()
        body["customerDetails"]["receiverDetails"]["postalAddress"]["cityName"] = ""
        body["customerDetails"]["receiverDetails"]["postalAddress"]["addressLine1"] = ""
        response = await w.raw("POST", "/shipments", body=body)
    assert response.status_code == 422
    detail = problem(response)
    assert detail["detail"] == "Multiple problems found, see Additional Details"
    assert detail["additionalDetails"] == [
        "#/customerDetails/receiverDetails/postalAddress/cityName: expected minLength: 1, actual: 0",
        "#/customerDetails/receiverDetails/postalAddress/addressLine1: expected minLength: 1, actual: 0",
    ]


async def test_rule_a_too_long_field_is_422() -> None:
    async with world() as w:
        body = w.shipment_body()
        body["customerDetails"]["shipperDetails"]["postalAddress"]["cityName"] = "x" * 46
        response = await w.raw("POST", "/shipments", body=body)
    assert response.status_code == 422
    assert problem(response)["detail"].endswith("cityName: expected maxLength: 45, actual: 46")


async def test_rule_an_extraneous_key_is_422() -> None:
    async with world() as w:
        body = w.shipment_body()
        body["content"]["packages"][0]["weightKg"] = 1
        response = await w.raw("POST", "/shipments", body=body)
    assert response.status_code == 422
    assert problem(response)["detail"] == "#/content/packages/0: extraneous key [weightKg] is not permitted"


async def test_rule_an_enum_outside_its_values_is_422() -> None:
    async with world() as w:
        body = w.rates_body()
        body["unitOfMeasurement"] = "kilos"
        response = await w.raw("POST", "/rates", body=body)
    assert response.status_code == 422
    assert problem(response)["detail"] == "#/unitOfMeasurement: kilos is not a valid enum value"


async def test_rule_a_wrong_type_is_422() -> None:
    async with world() as w:
        body = w.rates_body()
        body["isCustomsDeclarable"] = "yes"
        response = await w.raw("POST", "/rates", body=body)
    assert response.status_code == 422
    assert "#/isCustomsDeclarable: expected type: Boolean" in problem(response)["detail"]


async def test_rule_a_weight_below_the_minimum_is_422() -> None:
    async with world() as w:
        body = w.rates_body()
        body["packages"][0]["weight"] = 0
        response = await w.raw("POST", "/rates", body=body)
    assert response.status_code == 422
    assert problem(response)["detail"] == "#/packages/0/weight: 0 is not greater or equal to 0.001"


async def test_rule_a_badly_formatted_date_is_error_998() -> None:
    async with world() as w:
        body = w.shipment_body()
        body["plannedShippingDateAndTime"] = "2026-12-02 10:00"
        response = await w.raw("POST", "/shipments", body=body)
    assert response.status_code == 400
    assert problem(response)["detail"].startswith("998: ShipTimeStamp is not well formatted")


async def test_rule_a_date_past_or_beyond_ten_days_is_400() -> None:
    async with world() as w:
        body = w.shipment_body()
        later = date.today() + timedelta(days=11)
        body["plannedShippingDateAndTime"] = f"{later.isoformat()}T10:00:00 GMT+00:00"
        response = await w.raw("POST", "/shipments", body=body)
    assert response.status_code == 400
    assert "more than 10 days in the future" in problem(response)["detail"]


async def test_rule_an_unknown_account_is_400() -> None:
    async with world() as w:
        body = w.shipment_body()
        body["accounts"] = [{"typeCode": "shipper", "number": "123"}]
        response = await w.raw("POST", "/shipments", body=body)
    assert response.status_code == 400
    assert problem(response)["detail"].startswith("The account number is not found or invalid")


async def test_rule_an_unknown_product_is_400() -> None:
    async with world() as w:
        response = await w.raw("POST", "/shipments", body=w.shipment_body(service="Q9"))
    assert response.status_code == 400
    assert "'Q9' not available" in problem(response)["detail"]


async def test_rule_a_domestic_product_abroad_is_400() -> None:
    async with world() as w:
        response = await w.raw("POST", "/shipments", body=w.shipment_body(service="N"))
    assert response.status_code == 400
    assert "not available for a goods shipment" in problem(response)["detail"]


async def test_rule_a_goods_product_not_declared_to_customs_is_400() -> None:
    async with world() as w:
        body = w.shipment_body()
        body["content"]["isCustomsDeclarable"] = False
        response = await w.raw("POST", "/shipments", body=body)
    assert response.status_code == 400
    assert "isCustomsDeclarable must be true" in problem(response)["detail"]


async def test_rule_a_piece_over_300_kg_is_400() -> None:
    async with world() as w:
        body = w.shipment_body()
        body["content"]["packages"][0]["weight"] = 301
        response = await w.raw("POST", "/shipments", body=body)
    assert response.status_code == 400
    assert "maximum piece weight of 300 kg" in problem(response)["detail"]


async def test_rule_a_missing_postal_code_is_400() -> None:
    async with world() as w:
        body = w.shipment_body(sample_request("pc", destination=replace(BUYER, postal_code="")))
        response = await w.raw("POST", "/shipments", body=body)
    assert response.status_code == 400
    assert problem(response)["detail"] == (
        "#/customerDetails/receiverDetails/postalAddress: the postal code is missing for country DE"
    )


async def test_rule_a_dutiable_shipment_needs_an_export_declaration() -> None:
    async with world() as w:
        body = w.shipment_body()
        del body["content"]["exportDeclaration"]
        response = await w.raw("POST", "/shipments", body=body)
    assert response.status_code == 400
    assert "exportDeclaration element must be provided" in problem(response)["detail"]


async def test_rule_a_dutiable_shipment_needs_its_declared_value() -> None:
    async with world() as w:
        body = w.shipment_body()
        del body["content"]["declaredValue"]
        response = await w.raw("POST", "/shipments", body=body)
    assert response.status_code == 400
    assert "declaredValue and declaredValueCurrency" in problem(response)["detail"]


async def test_rule_a_dutiable_rate_needs_its_declared_value() -> None:
    async with world() as w:
        body = w.rates_body()
        del body["monetaryAmount"]
        response = await w.raw("POST", "/rates", body=body)
    assert response.status_code == 400
    assert "declared value" in problem(response)["detail"]


async def test_rule_a_line_item_needs_its_manufacturer_country() -> None:
    async with world() as w:
        body = w.shipment_body()
        del body["content"]["exportDeclaration"]["lineItems"][1]["manufacturerCountry"]
        response = await w.raw("POST", "/shipments", body=body)
    assert response.status_code == 422
    assert problem(response)["detail"] == (
        "#/content/exportDeclaration/lineItems/1: required key [manufacturerCountry] not found"
    )


async def test_rule_tracking_by_reference_needs_the_account_and_dates() -> None:
    async with world() as w:
        response = await w.raw("GET", "/tracking", params={"shipmentReference": "x"})
    assert response.status_code == 400
    assert problem(response)["detail"] == (
        "Missing mandatory parameters: shipperAccountNumber, dateRangeFrom, dateRangeTo"
    )


async def test_rule_an_unknown_reference_is_404() -> None:
    async with world() as w:
        today = date.today().isoformat()
        response = await w.raw(
            "GET",
            "/tracking",
            params={
                "shipmentReference": "nope",
                "shipperAccountNumber": w.credentials["account_number"],
                "dateRangeFrom": today,
                "dateRangeTo": today,
            },
        )
    assert response.status_code == 404
    assert problem(response)["detail"] == "No Shipments Found for ReferenceID | nope"


async def test_rule_an_unknown_tracking_view_is_400() -> None:
    async with world() as w:
        response = await w.raw("GET", "/shipments/5000000001/tracking", params={"trackingView": "everything"})
    assert response.status_code == 400
    assert problem(response)["detail"].startswith("Parameters not having correct format: trackingView")


async def test_rule_a_shipment_without_checkpoints_is_not_found() -> None:
    async with world() as w:
        _, label = await bought(w, "nocp")
        response = await w.raw("GET", f"/shipments/{label.carrier_shipment_id}/tracking")
    assert response.status_code == 404
    assert problem(response)["detail"] == "No data found"


async def test_rule_get_image_needs_its_parameters() -> None:
    async with world() as w:
        response = await w.raw("GET", "/shipments/5000000001/get-image", params={"typeCode": "waybill"})
    assert response.status_code == 400
    assert (
        problem(response)["detail"]
        == "Missing mandatory parameters: shipperAccountNumber, pickupYearAndMonth"
    )


async def test_rule_an_unknown_image_is_error_1504() -> None:
    async with world() as w:
        response = await w.raw(
            "GET",
            "/shipments/5000000001/get-image",
            params={
                "shipperAccountNumber": w.credentials["account_number"],
                "typeCode": "waybill",
                "pickupYearAndMonth": f"{date.today():%Y-%m}",
            },
        )
    assert response.status_code == 404
    assert problem(response)["detail"].startswith("1504: No document images found")


async def test_rule_a_pickup_is_cancelled_with_requestor_and_reason() -> None:
    async with world() as w:
        _, label = await bought(w, "cx")
        number = label.raw["dispatchConfirmationNumber"]
        response = await w.raw("DELETE", f"/pickups/{number}", params={"reason": "r"})
    assert response.status_code == 400
    assert problem(response)["detail"] == "Missing mandatory parameters: requestorName"


async def test_rule_an_unknown_pickup_is_404() -> None:
    async with world() as w:
        response = await w.raw(
            "DELETE", "/pickups/PRG000000000000", params={"requestorName": "a", "reason": "r"}
        )
    assert response.status_code == 404
    assert problem(response)["detail"].endswith("Requested Pickup was not found")


async def test_rule_a_pickup_is_cancelled_once() -> None:
    async with world() as w:
        _, label = await bought(w, "cx2")
        number = label.raw["dispatchConfirmationNumber"]
        params = {"requestorName": "a", "reason": "r"}
        first = await w.raw("DELETE", f"/pickups/{number}", params=params)
        second = await w.raw("DELETE", f"/pickups/{number}", params=params)
    assert first.status_code == 200
    assert second.status_code == 400
    assert "already cancelled" in problem(second)["detail"]


async def test_rule_a_completed_pickup_cannot_be_cancelled() -> None:
    async with world() as w:
        _, label = await bought(w, "cx3")
        w.emulator.scan(label.tracking_numbers[0], TrackingStatus.PICKED_UP)
        number = label.raw["dispatchConfirmationNumber"]
        response = await w.raw("DELETE", f"/pickups/{number}", params={"requestorName": "a", "reason": "r"})
    assert response.status_code == 400
    assert "already completed" in problem(response)["detail"]


async def test_rule_a_pickup_needs_its_shipment_details() -> None:
    async with world() as w:
        request = PickupRequest("p", SENDER, date.today() + timedelta(days=1), "10:00", "17:00", [], 1, 500)
        body = mapping.pickup_request(w.settings, request, datetime.now(UTC))
        body["shipmentDetails"] = []
        response = await w.raw("POST", "/pickups", body=body)
    assert response.status_code == 422
    assert problem(response)["detail"] == "#/shipmentDetails: expected minimum item count: 1, found: 0"


async def test_rule_address_validate_needs_a_known_type() -> None:
    async with world() as w:
        response = await w.raw("GET", "/address-validate", params={"type": "home", "countryCode": "DE"})
    assert response.status_code == 400
    assert problem(response)["detail"].startswith("Parameters not having correct format: type")


async def test_rule_address_validate_limits_the_city_name() -> None:
    async with world() as w:
        params = {"type": "delivery", "countryCode": "DE", "cityName": "x" * 46}
        response = await w.raw("GET", "/address-validate", params=params)
    assert response.status_code == 400
    assert problem(response)["detail"] == "Parameters not having correct format: cityName (maxLength=45)"


async def test_the_emulator_accepts_what_the_plugin_sends() -> None:
    async with world() as w:
        body = copy.deepcopy(w.shipment_body())
        response = await w.raw("POST", "/shipments", body=body)
    assert response.status_code == 201
    assert set(response.json()) >= {
        "shipmentTrackingNumber",
        "packages",
        "documents",
        "dispatchConfirmationNumber",
    }


# --------------------------------------------------------------------------- checkpoint codes

EXPECTED: list[tuple[str, TrackingStatus, TrackingReason | None]] = [
    ("PU", TrackingStatus.PICKED_UP, None),
    ("SA", TrackingStatus.PICKED_UP, None),
    ("PL", TrackingStatus.IN_TRANSIT, None),
    ("DF", TrackingStatus.IN_TRANSIT, None),
    ("AF", TrackingStatus.IN_TRANSIT, None),
    ("AR", TrackingStatus.IN_TRANSIT, None),
    ("TR", TrackingStatus.IN_TRANSIT, None),
    ("IC", TrackingStatus.IN_TRANSIT, None),
    ("RR", TrackingStatus.IN_TRANSIT, None),
    ("CR", TrackingStatus.IN_TRANSIT, None),
    ("CD", TrackingStatus.ON_HOLD, TrackingReason.CUSTOMS_DOCUMENTS),
    ("UD", TrackingStatus.ON_HOLD, TrackingReason.CUSTOMS_HOLD),
    ("HP", TrackingStatus.ON_HOLD, TrackingReason.DUTIES_UNPAID),
    ("OH", TrackingStatus.ON_HOLD, TrackingReason.OTHER),
    ("SS", TrackingStatus.ON_HOLD, TrackingReason.OTHER),
    ("DM", TrackingStatus.ON_HOLD, TrackingReason.DAMAGED),
    ("TD", TrackingStatus.DELIVERY_DELAYED, TrackingReason.CARRIER_DELAY),
    ("MD", TrackingStatus.DELIVERY_DELAYED, TrackingReason.CARRIER_DELAY),
    ("MS", TrackingStatus.DELIVERY_DELAYED, TrackingReason.CARRIER_DELAY),
    ("WC", TrackingStatus.OUT_FOR_DELIVERY, None),
    ("CC", TrackingStatus.READY_FOR_PICKUP, None),
    ("NH", TrackingStatus.DELIVERY_FAILED, TrackingReason.RECIPIENT_UNAVAILABLE),
    ("CA", TrackingStatus.DELIVERY_FAILED, TrackingReason.RECIPIENT_UNAVAILABLE),
    ("BA", TrackingStatus.DELIVERY_FAILED, TrackingReason.ADDRESS_ISSUE),
    ("CM", TrackingStatus.DELIVERY_FAILED, TrackingReason.ADDRESS_ISSUE),
    ("RD", TrackingStatus.DELIVERY_FAILED, TrackingReason.REFUSED),
    ("OK", TrackingStatus.DELIVERED, None),
    ("RT", TrackingStatus.RETURN_TO_SENDER, None),
    ("ZZ", TrackingStatus.UNKNOWN, None),
]


@pytest.mark.parametrize(("code", "status", "reason"), EXPECTED, ids=[row[0] for row in EXPECTED])
def test_checkpoint_codes_are_normalised(
    code: str, status: TrackingStatus, reason: TrackingReason | None
) -> None:
    event = {
        "date": "2026-12-01",
        "time": "13:06:00",
        "typeCode": code,
        "description": "d",
        "serviceArea": [],
    }
    [normalised] = mapping.tracking_events([event])
    assert (normalised.status, normalised.reason) == (status, reason)
    assert normalised.code == code and normalised.description == "d"


def test_the_table_is_the_tested_table() -> None:
    assert set(mapping.CHECKPOINTS) == {row[0] for row in EXPECTED} - {"ZZ"}


def test_event_times_are_utc_and_honour_a_gmt_offset() -> None:
    plain = {"date": "2026-12-01", "time": "13:06:00", "typeCode": "PU", "description": "d"}
    offset = {**plain, "GMTOffset": "+08:00"}
    located = {**plain, "serviceArea": [{"code": "SIN", "description": "Singapore-SG"}]}
    a, b, c = mapping.tracking_events([plain, offset, located])
    assert a.occurred_at == datetime(2026, 12, 1, 13, 6, tzinfo=UTC)
    assert b.occurred_at == datetime(2026, 12, 1, 5, 6, tzinfo=UTC)
    assert c.location == "Singapore-SG"
    assert mapping.tracking_events([{"date": "x", "time": "y", "typeCode": "PU"}]) == []


async def test_one_number_is_tracked_with_gmt_offsets_per_event() -> None:
    at = datetime(2026, 11, 30, 22, 15, tzinfo=UTC)
    async with world() as w:
        _, label = await bought(w, "offsets")
        w.emulator.scan(label.tracking_numbers[0], TrackingStatus.PICKED_UP, at=at)
        [result] = await w.provider.track(w.account, label.tracking_numbers)
        sent = w.sent("GET", f"/shipments/{label.tracking_numbers[0]}/tracking")
    assert ("requestGMTOffsetPerEvent", "true") in sent.query
    [event] = result.events
    assert event.occurred_at == at  # Singapore's 06:15 the next day, +08:00


async def test_scans_come_back_as_their_checkpoints() -> None:
    journey = [
        (TrackingStatus.PICKED_UP, None, "PU"),
        (TrackingStatus.ON_HOLD, TrackingReason.DUTIES_UNPAID, "HP"),
        (TrackingStatus.DELIVERY_FAILED, TrackingReason.ADDRESS_ISSUE, "BA"),
        (TrackingStatus.READY_FOR_PICKUP, None, "CC"),
        (TrackingStatus.RETURN_TO_SENDER, None, "RT"),
    ]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    async with world() as w:
        _, label = await bought(w, "journey")
        for hours, (status, reason, _) in enumerate(journey):
            w.emulator.scan(label.tracking_numbers[0], status, reason, start + timedelta(hours=hours))
        [result] = await w.provider.track(w.account, label.tracking_numbers)
    assert [e.code for e in result.events] == [code for *_, code in journey]
    assert [(e.status, e.reason) for e in result.events] == [(s, r) for s, r, _ in journey]
