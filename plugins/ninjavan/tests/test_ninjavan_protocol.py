"""Ninja Van's wire protocol: each request as the emulator receives it, each refusal rule
of the order API, tokens (cached, renewed on expiry, refused), error mapping, webhook
signatures, and the status table."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from crossdock_ninjavan.carrier import NinjaVanCarrier
from crossdock_ninjavan.client import EARLY, TokenCache
from crossdock_ninjavan.emulator import NinjaVanEmulator, event_for
from crossdock_ninjavan.mapping import (
    EVENTS,
    build_order,
    parse_time,
    requested_tracking_number,
    status_of,
)
from crossdock_ninjavan.signing import SIGNATURE_HEADER, signature

from crossdock import ChannelError, Money
from crossdock.providers import (
    Address,
    CarrierAccount,
    CustomsItem,
    Parcel,
    ShipmentRequest,
    TrackingReason,
    TrackingStatus,
)
from crossdock.testing import emulator_http
from crossdock.testing.carriers import sample_request
from crossdock.testing.emulator import Faults, serve

S, R = TrackingStatus, TrackingReason
TOKEN_PATH = "/sg/2.0/oauth/access_token"

SG_BUYER = Address(
    name="Tan Mei Ling",
    line1="1 Tampines Central 5",
    line2="#05-12",
    city="Singapore",
    postal_code="529508",
    country="SG",
    phone="+6591234567",
    email="meiling@example.sg",
)


def domestic(reference: str, **changes: Any) -> ShipmentRequest:
    request = replace(
        sample_request(reference),
        destination=SG_BUYER,
        items=(),
        declared_value=Money(Decimal("59.80"), "SGD"),
        ship_date=date(2026, 12, 3),
    )
    return replace(request, **changes) if changes else request


@dataclass
class Served:
    emulator: NinjaVanEmulator
    base: str
    account: CarrierAccount
    provider: NinjaVanCarrier

    def received(self, method: str, suffix: str) -> list[Any]:
        return [r for r in self.emulator.log if r.method == method and r.path.endswith(suffix)]


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    emulator = NinjaVanEmulator()
    async with serve(emulator) as base:
        yield Served(emulator, base, _account(emulator, base), NinjaVanCarrier())


def _account(emulator: NinjaVanEmulator, base: str, **settings: Any) -> CarrierAccount:
    return CarrierAccount(
        id=1,
        tenant="t",
        carrier="ninjavan",
        credentials=emulator.open_account(),
        base_url=base,
        settings={"timeout": 1.0, **settings},
        http=emulator_http(),
    )


# --------------------------------------------------------------------------- wire formats


async def test_order_token_and_waybill_as_received(served: Served) -> None:
    label = await served.provider.buy_label(served.account, domestic("wire-1"), "standard")
    (token,) = served.received("POST", "/2.0/oauth/access_token")
    assert token.path == TOKEN_PATH
    assert json.loads(token.body) == {
        "client_id": served.account.credentials["client_id"],
        "client_secret": served.account.credentials["client_secret"],
        "grant_type": "client_credentials",
    }
    (order,) = served.received("POST", "/4.2/orders")
    assert order.path == "/sg/4.2/orders"
    assert order.headers["authorization"].startswith("Bearer ")
    body = json.loads(order.body)
    requested = requested_tracking_number("wire-1")
    assert body["service_type"] == "Parcel"
    assert body["service_level"] == "Standard"
    assert body["requested_tracking_number"] == requested
    assert body["reference"] == {"merchant_order_number": "wire-1"}
    assert body["from"]["name"] == "Crossdock Conformance"
    assert body["from"]["address"] == {
        "address1": "10 Anson Road",
        "address2": "#20-01",
        "city": "Singapore",
        "postcode": "079903",
        "country": "SG",
        "address_type": "office",
    }
    assert body["to"]["phone_number"] == "+6591234567"
    assert body["to"]["address"]["postcode"] == "529508"
    job = body["parcel_job"]
    assert job["is_pickup_required"] is True
    assert job["pickup_date"] == job["delivery_start_date"] == "2026-12-03"
    assert job["pickup_timeslot"] == {
        "start_time": "09:00",
        "end_time": "18:00",
        "timezone": "Asia/Singapore",
    }
    assert job["delivery_timeslot"] == {
        "start_time": "09:00",
        "end_time": "22:00",
        "timezone": "Asia/Singapore",
    }
    assert job["pickup_approx_volume"] == "Less than 3 Parcels"
    assert job["dimensions"] == {"weight": 0.8, "length": 30.0, "width": 20.0, "height": 10.0}
    assert "items" not in job  # domestic: no customs lines
    (waybill,) = served.received("GET", "/2.0/reports/waybill")
    assert waybill.query == {"tid": label.tracking_numbers[0], "hide_shipper_details": "false"}
    prefix = served.account.credentials["shipper_prefix"]
    assert label.tracking_numbers == [prefix + requested]
    assert label.documents[0].content.startswith(b"%PDF-")


async def test_cross_border_orders_send_items() -> None:
    request = replace(sample_request("xb"), ship_date=date(2026, 12, 3))
    body = build_order(
        request, "express", country="SG", requested="ABCDEFGHJK", parcel=request.parcels[0], settings={}
    )
    assert body["service_type"] == "International"
    assert body["service_level"] == "Express"
    assert body["to"]["address"]["country"] == "DE"
    assert body["parcel_job"]["items"] == [
        {"item_description": "Cotton T-shirt", "quantity": 2, "is_dangerous_good": False},
        {"item_description": "Canvas tote bag", "quantity": 1, "is_dangerous_good": False},
    ]


async def test_cancel_and_tracking_as_received(served: Served) -> None:
    label = await served.provider.buy_label(served.account, domestic("wire-2"), "standard")
    other = await served.provider.buy_label(served.account, domestic("wire-3"), "standard")
    await served.provider.track(served.account, [label.tracking_numbers[0], other.tracking_numbers[0]])
    (tracking,) = served.received("GET", "/1.0/orders/tracking-events")
    assert tracking.path == "/sg/1.0/orders/tracking-events"
    numbers = [label.tracking_numbers[0], other.tracking_numbers[0]]
    assert served.emulator.query_values(tracking, "tracking_number") == numbers
    assert tracking.headers["x-emulator-raw-query"] == "&".join(f"tracking_number={n}" for n in numbers)
    await served.provider.void_label(served.account, label)
    (cancel,) = served.received("DELETE", label.tracking_numbers[0])
    assert cancel.path == f"/sg/2.2/orders/{label.tracking_numbers[0]}"
    assert served.emulator.labels_bought("wire-2") == 0


async def test_a_parcel_is_an_order(served: Served) -> None:
    request = domestic("multi", parcels=[Parcel(500), Parcel(1200)])
    label = await served.provider.buy_label(served.account, request, "express")
    assert len(label.tracking_numbers) == 2 == len(label.documents)
    orders = [json.loads(r.body) for r in served.received("POST", "/4.2/orders")]
    assert [o["parcel_job"]["dimensions"]["weight"] for o in orders] == [0.5, 1.2]
    assert [o["requested_tracking_number"] for o in orders] == [
        requested_tracking_number("multi", 0),
        requested_tracking_number("multi", 1),
    ]
    found = await served.provider.find_label(served.account, request)
    assert found is not None and found.tracking_numbers == label.tracking_numbers


def test_requested_tracking_numbers_are_deterministic_and_valid() -> None:
    first = requested_tracking_number("crossdock-label-1")
    assert first == requested_tracking_number("crossdock-label-1")
    assert first != requested_tracking_number("crossdock-label-2")
    assert first != requested_tracking_number("crossdock-label-1", 1)
    assert len(first) == 14 and first.isalnum() and first.upper() == first
    assert len(requested_tracking_number("x", length=3)) == 9
    assert len(requested_tracking_number("x", length=99)) == 32


# --------------------------------------------------------------------------- refusals


async def _token(http: httpx.AsyncClient, base: str, credentials: dict[str, Any]) -> str:
    answer = await http.post(
        base + TOKEN_PATH,
        json={
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
            "grant_type": "client_credentials",
        },
    )
    assert answer.status_code == 200
    token = answer.json()["access_token"]
    assert isinstance(token, str)
    return token


def _valid_order() -> dict[str, Any]:
    request = domestic("rules")
    return build_order(
        request, "standard", country="SG", requested="RULES0001", parcel=request.parcels[0], settings={}
    )


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = body
        for key in parents:
            node = node[key]
        if value is _DELETE:
            node.pop(last, None)
        else:
            node[last] = value

    return change


_DELETE: Any = object()


def _without_contact(body: dict[str, Any]) -> None:
    body["to"].pop("phone_number")
    body["to"].pop("email")


RULES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("service type not in the enum", _set("service_type", "Teleport"), "service_type"),
    ("service level missing", _set("service_level", _DELETE), "service_level"),
    ("service level not in the enum", _set("service_level", "Overnight"), "service_level"),
    (
        "requested tracking number too short",
        _set("requested_tracking_number", "AB12"),
        "requested_tracking_number",
    ),
    (
        "requested tracking number with symbols",
        _set("requested_tracking_number", "ABC_12345"),
        "requested_tracking_number",
    ),
    ("name too short", _set("to.name", "Al"), "to.name"),
    (
        "neither phone nor email",
        _without_contact,
        "to.phone_number",
    ),
    ("address1 missing", _set("to.address.address1", ""), "to.address.address1"),
    ("country not served", _set("to.address.country", "DE"), "to.address.country"),
    ("domestic country differs from the path's", _set("to.address.country", "MY"), "to.address.country"),
    ("SG postcode missing", _set("to.address.postcode", _DELETE), "to.address.postcode"),
    ("SG postcode not six digits", _set("to.address.postcode", "52950"), "to.address.postcode"),
    (
        "delivery start date not a date",
        _set("parcel_job.delivery_start_date", "03/12/2026"),
        "parcel_job.delivery_start_date",
    ),
    (
        "delivery timeslot not accepted",
        _set("parcel_job.delivery_timeslot.start_time", "9:00"),
        "parcel_job.delivery_timeslot",
    ),
    (
        "pickup without its volume",
        _set("parcel_job.pickup_approx_volume", _DELETE),
        "parcel_job.pickup_approx_volume",
    ),
    ("pickup without its date", _set("parcel_job.pickup_date", _DELETE), "parcel_job.pickup_date"),
    (
        "is_pickup_required missing",
        _set("parcel_job.is_pickup_required", _DELETE),
        "parcel_job.is_pickup_required",
    ),
    ("weight missing", _set("parcel_job.dimensions", {}), "parcel_job.dimensions.weight"),
    ("weight over the limit", _set("parcel_job.dimensions.weight", 31.0), "parcel_job.dimensions.weight"),
    ("international without items", _set("service_type", "International"), "parcel_job.items"),
]


def _international_postcode(country: str, postcode: str) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        body["service_type"] = "International"
        body["parcel_job"]["items"] = [{"item_description": "Tote", "quantity": 1}]
        body["to"]["address"].update(country=country, postcode=postcode)

    return change


RULES += [
    ("MY postcode not five digits", _international_postcode("MY", "478200"), "to.address.postcode"),
    ("TH postcode not five digits", _international_postcode("TH", "1011"), "to.address.postcode"),
    ("PH postcode not four digits", _international_postcode("PH", "12260"), "to.address.postcode"),
]


@pytest.mark.parametrize(("rule", "change", "field"), RULES, ids=[r[0] for r in RULES])
async def test_order_refusal_rules(
    served: Served, rule: str, change: Callable[[dict[str, Any]], None], field: str
) -> None:
    async with httpx.AsyncClient() as http:
        token = await _token(http, served.base, dict(served.account.credentials))
        good = await http.post(
            served.base + "/sg/4.2/orders", json=_valid_order(), headers={"Authorization": f"Bearer {token}"}
        )
        assert good.status_code == 200, good.text
        body = copy.deepcopy(_valid_order())
        body["requested_tracking_number"] = "RULES0002"
        change(body)
        answer = await http.post(
            served.base + "/sg/4.2/orders", json=body, headers={"Authorization": f"Bearer {token}"}
        )
    assert answer.status_code == 400, rule
    error = answer.json()["error"]
    assert error["title"] == "Invalid Data" and error["request_id"] and error["message"]
    assert field in [d["field"] for d in error["details"]], error["details"]
    assert served.emulator.labels_bought("rules") == 1


async def test_a_duplicate_requested_tracking_number_is_refused(served: Served) -> None:
    async with httpx.AsyncClient() as http:
        token = await _token(http, served.base, dict(served.account.credentials))
        headers = {"Authorization": f"Bearer {token}"}
        first = await http.post(served.base + "/sg/4.2/orders", json=_valid_order(), headers=headers)
        again = await http.post(served.base + "/sg/4.2/orders", json=_valid_order(), headers=headers)
    assert first.status_code == 200
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "DUPLICATE_REQUESTED_TRACKING_NUMBER"
    assert served.emulator.labels_bought("rules") == 1


async def test_a_retried_create_recognises_its_order(served: Served) -> None:
    request = domestic("retry")
    first = await served.provider.buy_label(served.account, request, "standard")
    again = await served.provider.buy_label(served.account, request, "standard")  # refused as duplicate
    assert again.tracking_numbers == first.tracking_numbers
    assert served.emulator.labels_bought("retry") == 1
    assert len(served.received("POST", "/4.2/orders")) == 2


async def test_a_refusal_carries_ninja_vans_words(served: Served) -> None:
    bad = domestic("bad-postcode", destination=replace(SG_BUYER, postal_code="5295"))
    with pytest.raises(ChannelError) as caught:
        await served.provider.buy_label(served.account, bad, "standard")
    assert (caught.value.code, caught.value.retryable) == ("REFUSED", False)
    assert "to.address.postcode" in caught.value.message and "SG postcode" in caught.value.message


async def test_void_only_while_pending_pickup(served: Served) -> None:
    label = await served.provider.buy_label(served.account, domestic("void"), "standard")
    served.emulator.scan(label.tracking_numbers[0], S.PICKED_UP)
    with pytest.raises(ChannelError) as caught:
        await served.provider.void_label(served.account, label)
    assert caught.value.code == "REFUSED" and "Pending Pickup" in caught.value.message


# --------------------------------------------------------------------------- tokens


async def test_requests_without_a_valid_token_get_401_in_the_envelope(served: Served) -> None:
    async with httpx.AsyncClient() as http:
        missing = await http.post(served.base + "/sg/4.2/orders", json=_valid_order())
        unknown = await http.post(
            served.base + "/sg/4.2/orders", json=_valid_order(), headers={"Authorization": "Bearer nope"}
        )
        token = await _token(http, served.base, dict(served.account.credentials))
        served.emulator.expire_tokens()
        expired = await http.post(
            served.base + "/sg/4.2/orders", json=_valid_order(), headers={"Authorization": f"Bearer {token}"}
        )
        fresh = await _token(http, served.base, dict(served.account.credentials))
        other_country = await http.post(
            served.base + "/my/4.2/orders", json=_valid_order(), headers={"Authorization": f"Bearer {fresh}"}
        )
    codes = []
    for answer in (missing, unknown, expired):
        assert answer.status_code == 401
        error = answer.json()["error"]
        assert set(error) >= {"code", "message", "request_id", "title", "details"}
        codes.append(error["code"])
    assert codes == ["MISSING_ACCESS_TOKEN", "INVALID_ACCESS_TOKEN", "EXPIRED_ACCESS_TOKEN"]
    assert other_country.status_code == 403  # an SG shipper's token is not good in MY
    assert served.emulator.labels_bought("rules") == 0


async def test_the_token_is_cached_per_account(served: Served) -> None:
    await served.provider.buy_label(served.account, domestic("cache-1"), "standard")
    await served.provider.buy_label(served.account, domestic("cache-2"), "standard")
    await served.provider.track(served.account, ["NOSUCH000000001"])
    assert served.emulator.requests[TOKEN_PATH] == 1
    second = _account(served.emulator, served.base)  # another shipper: its own token
    await served.provider.track(second, ["NOSUCH000000001"])
    assert served.emulator.requests[TOKEN_PATH] == 2


async def test_an_expired_token_is_renewed_and_the_call_retried(served: Served) -> None:
    await served.provider.track(served.account, ["NOSUCH000000001"])
    served.emulator.expire_tokens()
    results = await served.provider.track(served.account, ["NOSUCH000000001"])
    assert [r.found for r in results] == [False]
    assert served.emulator.requests[TOKEN_PATH] == 2


def test_tokens_are_renewed_before_they_expire() -> None:
    cache = TokenCache()
    key = ("https://api.ninjavan.co", "sg", "id")
    cache.put(key, "t1", expires_at=10_000.0)
    assert cache.get(key, now=10_000.0 - EARLY - 1) == "t1"
    assert cache.get(key, now=10_000.0 - EARLY + 1) is None
    cache.drop(key, "other")
    assert cache.get(key, now=0) == "t1"
    cache.drop(key, "t1")
    assert cache.get(key, now=0) is None


async def test_401_after_a_new_token_is_a_credentials_error() -> None:
    emulator = NinjaVanEmulator(token_ttl=0)  # every token is expired when it is used
    async with serve(emulator) as base:
        account = _account(emulator, base)
        with pytest.raises(ChannelError) as caught:
            await NinjaVanCarrier().track(account, ["NOSUCH000000001"])
    assert (caught.value.code, caught.value.retryable) == ("CREDENTIALS", False)
    assert emulator.requests[TOKEN_PATH] == 2


async def test_wrong_client_secret_is_a_credentials_error(served: Served) -> None:
    wrong = replace(served.account, credentials={**served.account.credentials, "client_secret": "nope"})
    with pytest.raises(ChannelError) as caught:
        await served.provider.track(wrong, ["NOSUCH000000001"])
    assert (caught.value.code, caught.value.retryable) == ("CREDENTIALS", False)


# --------------------------------------------------------------------------- transient errors


@pytest.mark.parametrize(
    ("faults", "code", "retry_after"),
    [
        (Faults(throttle=1.0, retry_after=3), "THROTTLED", 3.0),
        (Faults(server_error=1.0), "SERVER_ERROR", None),
        (Faults(malformed=1.0), "MALFORMED", None),
        (Faults(timeout=1.0, timeout_seconds=1.5), "TIMEOUT", None),
    ],
    ids=["429", "5xx", "bad-json", "timeout"],
)
async def test_transient_errors_are_retryable(faults: Faults, code: str, retry_after: float | None) -> None:
    emulator = NinjaVanEmulator(faults)
    async with serve(emulator) as base:
        account = _account(emulator, base, timeout=0.5)
        with pytest.raises(ChannelError) as caught:
            await NinjaVanCarrier().buy_label(account, domestic("flaky"), "standard")
    assert (caught.value.code, caught.value.retryable, caught.value.retry_after) == (code, True, retry_after)


# --------------------------------------------------------------------------- webhooks


async def test_webhook_signatures(served: Served) -> None:
    label = await served.provider.buy_label(served.account, domestic("push"), "standard")
    number = label.tracking_numbers[0]
    served.emulator.scan(number, S.DELIVERY_FAILED, R.ADDRESS_ISSUE)
    headers, body = served.emulator.tracking_push(number)
    payload = json.loads(body)
    assert payload["event"] == "Delivery Exception, Pending Reschedule"
    assert payload["delivery_exception"]["failure_reason"] == "Unable to find address"
    assert payload["tracking_id"] == number and payload["shipper_order_ref_no"] == "push"
    (result,) = served.provider.parse_webhook(served.account, headers, body)
    (event,) = result.events
    assert (result.tracking_number, event.status, event.reason) == (
        number,
        S.DELIVERY_FAILED,
        R.ADDRESS_ISSUE,
    )
    assert event.code == "Delivery Exception, Pending Reschedule"
    assert event.occurred_at.tzinfo is not None
    lower = {k.lower(): v for k, v in headers.items()}
    assert served.provider.parse_webhook(served.account, lower, body)  # header names are case-insensitive
    refused = {
        "tampered": (headers, body.replace(b"Pending Reschedule", b"Max Attempts Reached")),
        "missing header": ({"Content-Type": "application/json"}, body),
        "other secret": ({SIGNATURE_HEADER: signature("not-the-secret", body)}, body),
        "garbage header": ({SIGNATURE_HEADER: "\u00e9\u00e9=="}, body),
    }
    for case, (h, b) in refused.items():
        with pytest.raises(ChannelError) as caught:
            served.provider.parse_webhook(served.account, h, b)
        assert caught.value.code == "SIGNATURE", case


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        json.dumps({"event": "Cancelled", "timestamp": "2026-12-01T00:00:00+0000"}).encode(),
    ],
    ids=["not-json", "a-list", "no-tracking-id"],
)
async def test_verified_but_malformed_pushes(served: Served, body: bytes) -> None:
    secret = served.account.credentials["client_secret"]
    with pytest.raises(ChannelError) as caught:
        served.provider.parse_webhook(served.account, {SIGNATURE_HEADER: signature(secret, body)}, body)
    assert caught.value.code == "MALFORMED"


async def test_a_legacy_v1_push_is_understood(served: Served) -> None:
    body = json.dumps(
        {
            "shipper_id": 1,
            "status": "Successful Delivery",
            "shipper_ref_no": "ref",
            "tracking_ref_no": "ref",
            "shipper_order_ref_no": "ref",
            "timestamp": "2026-12-01T10:00:00+0800",
            "id": "x",
            "previous_status": "On Vehicle for Delivery",
            "tracking_id": "NVSGX0001",
        }
    ).encode()
    secret = served.account.credentials["client_secret"]
    (result,) = served.provider.parse_webhook(
        served.account, {SIGNATURE_HEADER: signature(secret, body)}, body
    )
    assert result.tracking_number == "NVSGX0001"
    assert result.events[0].status == S.DELIVERED
    assert result.events[0].occurred_at == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


# --------------------------------------------------------------------------- statuses

STATUSES: list[tuple[str, str | None, TrackingStatus, TrackingReason | None]] = [
    ("Pending Pickup", None, S.PENDING, None),
    ("Pickup Exception, Pending Reschedule", "Shipper not available", S.PENDING, R.RECIPIENT_UNAVAILABLE),
    ("Successful Pickup", None, S.PICKED_UP, None),
    ("Picked Up, In Transit To Origin Hub", None, S.PICKED_UP, None),
    ("En-route to Sorting Hub", None, S.IN_TRANSIT, None),
    ("Arrived at Sorting Hub", None, S.IN_TRANSIT, None),
    ("Arrived at Origin Hub", "SG-BUKIT TIMAH-Zone", S.IN_TRANSIT, None),
    ("International Transit, Customs Held", None, S.ON_HOLD, R.CUSTOMS_HOLD),
    ("Customs Held", None, S.ON_HOLD, R.CUSTOMS_HOLD),
    ("On Vehicle for Delivery", None, S.OUT_FOR_DELIVERY, None),
    ("At PUDO, Pending Customer Collection", None, S.READY_FOR_PICKUP, None),
    ("Arrived at Distribution Point", None, S.READY_FOR_PICKUP, None),
    ("Completed", None, S.DELIVERED, None),
    ("Successful Delivery", None, S.DELIVERED, None),
    ("Delivered, Left at Doorstep", None, S.DELIVERED, None),
    ("Pending Reschedule", "Nobody at address", S.DELIVERY_FAILED, R.RECIPIENT_UNAVAILABLE),
    ("First Attempt Delivery Fail", "Customer refused to accept parcel", S.DELIVERY_FAILED, R.REFUSED),
    ("First Attempt Failure", None, S.DELIVERY_FAILED, None),
    ("Delivery Exception", "Unable to find address", S.DELIVERY_FAILED, R.ADDRESS_ISSUE),
    ("Delivery Exception, Pending Reschedule", "Bad weather", S.DELIVERY_FAILED, R.WEATHER),
    ("Delivery Exception, Reattempt Scheduled", None, S.DELIVERY_DELAYED, None),
    ("Delivery Exception, Parcel Lost", None, S.DELIVERY_FAILED, R.LOST),
    ("Delivery Exception, Parcel Damaged", None, S.DELIVERY_FAILED, R.DAMAGED),
    ("Delivery Exception, Something New", "Others", S.DELIVERY_FAILED, R.OTHER),
    ("Delivery Exception, Return to Sender Initiated", None, S.RETURN_TO_SENDER, None),
    ("Returned to Sender", None, S.RETURN_TO_SENDER, None),
    ("Cancelled", None, S.CANCELLED, None),
    ("Parcel Measurements Update", None, S.UNKNOWN, None),
    ("A status nobody has seen", None, S.UNKNOWN, None),
]


@pytest.mark.parametrize(("name", "text", "status", "reason"), STATUSES, ids=[s[0] for s in STATUSES])
def test_status_table(
    name: str, text: str | None, status: TrackingStatus, reason: TrackingReason | None
) -> None:
    assert status_of(name, text) == (status, reason)


SCANS: list[tuple[TrackingStatus, TrackingReason | None]] = [
    *((status, None) for status in TrackingStatus if status != S.UNKNOWN),
    (S.ON_HOLD, R.CUSTOMS_HOLD),
    (S.DELIVERY_FAILED, R.LOST),
    (S.DELIVERY_FAILED, R.DAMAGED),
]


@pytest.mark.parametrize(("status", "reason"), SCANS, ids=[f"{s}-{r}" for s, r in SCANS])
def test_the_emulator_speaks_the_table(status: TrackingStatus, reason: TrackingReason | None) -> None:
    event = event_for(status, reason)
    assert event in EVENTS
    got, why = status_of(event)
    assert got == status
    if reason is not None:
        assert why == reason


async def test_polled_events_carry_the_failure_reason(served: Served) -> None:
    label = await served.provider.buy_label(served.account, domestic("poll"), "standard")
    number = label.tracking_numbers[0]
    served.emulator.scan(number, S.PICKED_UP)
    served.emulator.scan(number, S.DELIVERY_FAILED, R.RECIPIENT_UNAVAILABLE)
    (result,) = await served.provider.track(served.account, [number])
    failed = [e for e in result.events if e.status == S.DELIVERY_FAILED]
    assert failed and failed[0].reason == R.RECIPIENT_UNAVAILABLE
    assert failed[0].description == "Delivery Exception, Pending Reschedule: Nobody at address"


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2021-12-15T06:22:48+0000", datetime(2021, 12, 15, 6, 22, 48, tzinfo=UTC)),
        ("2021-12-15T14:22:48+08:00", datetime(2021, 12, 15, 6, 22, 48, tzinfo=UTC)),
        ("2021-12-15T06:22:48Z", datetime(2021, 12, 15, 6, 22, 48, tzinfo=UTC)),
    ],
)
def test_timestamps_become_utc(stamp: str, expected: datetime) -> None:
    assert parse_time(stamp) == expected


def test_customs_items_flag_dangerous_goods() -> None:
    from crossdock.providers import ItemFlag

    item = CustomsItem("Power bank", 1, Money(Decimal("20"), "SGD"), 300, flags=frozenset({ItemFlag.BATTERY}))
    request = replace(sample_request("dg"), items=[item])
    body = build_order(
        request, "standard", country="SG", requested="ABCDEFGHJK", parcel=request.parcels[0], settings={}
    )
    assert body["parcel_job"]["items"][0]["is_dangerous_good"] is True


def test_the_plugin_registers_its_carrier_and_emulator() -> None:
    from crossdock.testing import load_plugins

    plugins = load_plugins(["ninjavan"])
    carrier = plugins.carriers["ninjavan"]
    assert carrier.channel is None
    assert set(carrier.capabilities) == {"carrier.labels", "carrier.tracking", "carrier.tracking_push"}
    emulator = plugins.emulators["ninjavan"]
    assert emulator is NinjaVanEmulator and emulator.default_site == "SG"
