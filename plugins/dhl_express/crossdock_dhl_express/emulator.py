"""A local MyDHL API: the endpoints the plugin uses, authenticated, validated and answered
the way DHL Express documents them, with injected faults.

Served paths (as under ``https://express.api.dhl.com/mydhlapi``): ``POST /rates``,
``POST /shipments``, ``GET /shipments/{id}/tracking``, ``GET /tracking``,
``GET /shipments/{id}/get-image``, ``POST /pickups``, ``DELETE /pickups/{id}``,
``GET /address-validate``.

What it refuses, each in DHL's problem envelope (``instance``, ``detail``, ``title``,
``message``, ``status`` as a string, ``additionalDetails``): no or wrong Basic credentials
(401); no ``x-version`` header (400); a ``Message-Reference`` outside 28-36 characters
(400); a body that breaks the OpenAPI schema (422: missing required keys, lengths, enums,
minimums, extraneous keys, in DHL's ``#/pointer: ...`` wording); an unknown account number
(400); a badly formatted or out-of-range planned date (400, DHL's error 998); an unknown
product code, or one not sold on the lane (domestic, inside the EU, international
documents, dutiable goods) (400); a piece over 300 kg (400); a missing postal code where
the country has them (400); a dutiable shipment without declared value or export
declaration (400); tracking by reference without the account or date range (400); a pickup
cancelled without requestor or reason (400), twice, or after the courier collected (400);
unknown pickups, shipments and images (404).
Where DHL's exact wording is not published, the detail is this emulator's (README).
"""

from __future__ import annotations

import base64
import contextvars
import hmac
import itertools
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from crossdock import TrackingReason, TrackingStatus
from crossdock.testing.carriers import ParcelBook, ParcelRecord, pdf_document
from crossdock.testing.emulator import Emulator, Faults, Reply, Request

__all__ = ["DhlExpressEmulator", "Received"]

_query: contextvars.ContextVar[tuple[tuple[str, str], ...]] = contextvars.ContextVar("dhl_query", default=())
_path: contextvars.ContextVar[str] = contextvars.ContextVar("dhl_path", default="")

TITLES = {
    400: ("Bad request", "Bad request"),
    401: ("Unauthorized", "Unauthorized"),
    404: ("Not found", "Not found"),
    422: ("Validation error", "Unprocessable Entity"),
    429: ("Too many requests", "Too many requests"),
    500: ("Internal Server Error", "Internal Server Error"),
    503: ("Service Unavailable", "Service Unavailable"),
    504: ("Gateway Timeout", "Gateway Timeout"),
}

#: global product codes this emulator sells: name, lane ("domestic", "documents" = an
#: international non-dutiable shipment, "goods" = international dutiable), price model
#: (base, per kg) in the billing currency, transit days
PRODUCTS: Mapping[str, tuple[str, str, float, float, int]] = {
    "N": ("EXPRESS DOMESTIC", "domestic", 8.0, 2.0, 1),
    "1": ("EXPRESS DOMESTIC 12:00", "domestic", 12.0, 2.5, 1),
    "D": ("EXPRESS WORLDWIDE", "documents", 35.0, 10.0, 3),
    "U": ("EXPRESS WORLDWIDE", "eu", 25.0, 6.0, 2),
    "P": ("EXPRESS WORLDWIDE", "goods", 45.0, 12.0, 3),
    "Y": ("EXPRESS 12:00", "goods", 60.0, 14.0, 3),
}
MAX_PIECE_KG = 300.0
#: service areas' offsets from GMT (standard time)
GMT_OFFSETS = {"SG": "+08:00", "MY": "+08:00", "DE": "+01:00", "FR": "+01:00", "NL": "+01:00", "US": "-05:00"}
CURRENCIES = {"SG": "SGD", "MY": "MYR", "DE": "EUR", "FR": "EUR", "NL": "EUR", "GB": "GBP", "US": "USD"}
POSTCODES = {
    "DE": r"\d{5}",
    "FR": r"\d{5}",
    "SG": r"\d{6}",
    "MY": r"\d{5}",
    "NL": r"\d{4} ?[A-Z]{2}",
    "US": r"\d{5}(-\d{4})?",
    "GB": r"[A-Z0-9 ]{5,8}",
    "CN": r"\d{6}",
    "VN": r"\d{6}",
}
EU = frozenset(
    {"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU"}
    | {"IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"}
)
TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2}):(\d{2}) ?GMT[+-]\d{2}:\d{2}$")
E998 = "998: ShipTimeStamp is not well formatted.(Expected Sample Format : '2010-02-11T17:10:09 GMT+01:00')"
BAD_ACCOUNT = "The account number is not found or invalid. Please check the account number and retry."

#: a scan, as the emulator's checkpoint (code, description)
SCAN_CODES: Mapping[tuple[TrackingStatus, TrackingReason | None], tuple[str, str]] = {
    (TrackingStatus.PICKED_UP, None): ("PU", "Shipment picked up"),
    (TrackingStatus.IN_TRANSIT, None): ("AF", "Arrived at DHL Sort Facility"),
    (TrackingStatus.ON_HOLD, TrackingReason.CUSTOMS_HOLD): ("UD", "Clearance event: held by customs"),
    (TrackingStatus.ON_HOLD, TrackingReason.CUSTOMS_DOCUMENTS): (
        "CD",
        "Clearance delay: documents requested",
    ),
    (TrackingStatus.ON_HOLD, TrackingReason.DUTIES_UNPAID): ("HP", "Held for payment of duties and taxes"),
    (TrackingStatus.ON_HOLD, TrackingReason.DAMAGED): ("DM", "Shipment damaged"),
    (TrackingStatus.ON_HOLD, None): ("OH", "Shipment on hold"),
    (TrackingStatus.DELIVERY_DELAYED, None): ("TD", "Transport delay"),
    (TrackingStatus.OUT_FOR_DELIVERY, None): ("WC", "With delivery courier"),
    (TrackingStatus.READY_FOR_PICKUP, None): ("CC", "Awaiting collection by recipient"),
    (TrackingStatus.DELIVERY_FAILED, TrackingReason.RECIPIENT_UNAVAILABLE): ("NH", "Recipient not home"),
    (TrackingStatus.DELIVERY_FAILED, TrackingReason.ADDRESS_ISSUE): ("BA", "Bad address"),
    (TrackingStatus.DELIVERY_FAILED, TrackingReason.REFUSED): ("RD", "Delivery refused"),
    (TrackingStatus.DELIVERY_FAILED, None): ("NH", "Recipient not home"),
    (TrackingStatus.DELIVERED, None): ("OK", "Delivered"),
    (TrackingStatus.RETURN_TO_SENDER, None): ("RT", "Returned to shipper"),
}


# --------------------------------------------------------------------------- the schema

# A subset of JSON Schema, transcribed from the OpenAPI document for the fields the plugin
# sends: type, required, minLength/maxLength, minimum/maximum, enum, minItems/maxItems,
# items, properties, closed (additionalProperties: false).


def _s(kind: str, lo: int | None = None, hi: int | None = None, **more: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": kind, **more}
    if kind == "string":
        if lo is not None:
            out["minLength"] = lo
        if hi is not None:
            out["maxLength"] = hi
    return out


def _obj(required: Sequence[str], closed: bool = True, **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": props, "closed": closed}


def _arr(items: Mapping[str, Any], lo: int | None = None, hi: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "array", "items": items}
    if lo is not None:
        out["minItems"] = lo
    if hi is not None:
        out["maxItems"] = hi
    return out


ACCOUNT = _obj(
    ["typeCode", "number"],
    typeCode=_s("string", 1, 15, enum=["shipper", "payer", "duties-taxes"]),
    number=_s("string", 1, 12),
)
DIMENSIONS = _obj(
    ["length", "width", "height"],
    length=_s("number", minimum=1, maximum=9999999),
    width=_s("number", minimum=1, maximum=9999999),
    height=_s("number", minimum=1, maximum=9999999),
)
REFERENCE = _obj(
    ["value"],
    value=_s("string", 1, 35),
    typeCode=_s(
        "string",
        2,
        3,
        enum=["AAO", "CU", "FF", "FN", "IBC", "LLR", "OBC", "PRN", "ACP", "ACS", "ACR", "CDN", "STD", "CO"],
    ),
)
PACKAGE = _obj(
    ["weight", "dimensions"],
    weight=_s("number", minimum=0.001, maximum=999999999999),
    dimensions=DIMENSIONS,
    customerReferences=_arr(REFERENCE, 1, 99),
    description=_s("string", 1, 70),
)
RATING_ADDRESS = _obj(
    ["postalCode", "cityName", "countryCode"],
    postalCode=_s("string", 0, 12),
    cityName=_s("string", 1, 45),
    countryCode=_s("string", 2, 2),
    provinceCode=_s("string", 2, 35),
    addressLine1=_s("string", 1, 45),
    addressLine2=_s("string", 1, 45),
    addressLine3=_s("string", 1, 45),
    countyName=_s("string", 1, 45),
)
POSTAL_ADDRESS = _obj(
    ["postalCode", "cityName", "countryCode", "addressLine1"],
    postalCode=_s("string", 0, 12),
    cityName=_s("string", 1, 45),
    countryCode=_s("string", 2, 2),
    provinceCode=_s("string", 2, 35),
    addressLine1=_s("string", 1, 45),
    addressLine2=_s("string", 1, 45),
    addressLine3=_s("string", 1, 45),
    countyName=_s("string", 1, 45),
)
CONTACT = _obj(
    ["phone", "companyName", "fullName"],
    email=_s("string", 1, 70),
    phone=_s("string", 1, 70),
    mobilePhone=_s("string", 1, 70),
    companyName=_s("string", 1, 100),
    fullName=_s("string", 1, 255),
)
PARTY = _obj(
    ["postalAddress", "contactInformation"], False, postalAddress=POSTAL_ADDRESS, contactInformation=CONTACT
)
RATES = _obj(
    ["customerDetails", "plannedShippingDateAndTime", "unitOfMeasurement", "isCustomsDeclarable", "packages"],
    False,
    customerDetails=_obj(
        ["shipperDetails", "receiverDetails"], shipperDetails=RATING_ADDRESS, receiverDetails=RATING_ADDRESS
    ),
    accounts=_arr(ACCOUNT, None, 2),
    productCode=_s("string", 1, 6),
    plannedShippingDateAndTime=_s("string", 1, 29),
    unitOfMeasurement=_s("string", enum=["metric", "imperial"]),
    isCustomsDeclarable=_s("boolean"),
    monetaryAmount=_arr(
        _obj(
            ["typeCode", "value", "currency"],
            typeCode=_s("string", enum=["declaredValue", "insuredValue"]),
            value=_s("number", maximum=999999999999999),
            currency=_s("string", 3, 3),
        )
    ),
    packages=_arr(PACKAGE, 1, 999),
)
LINE_ITEM = _obj(
    ["number", "description", "price", "quantity", "manufacturerCountry", "weight"],
    False,
    number=_s("integer", minimum=1, maximum=999),
    description=_s("string", 1, 512),
    price=_s("number", minimum=0, maximum=999999999999999),
    quantity=_obj(
        ["value", "unitOfMeasurement"],
        value=_s("integer", minimum=1, maximum=1000000000),
        unitOfMeasurement=_s("string"),
    ),
    commodityCodes=_arr(
        _obj(
            ["typeCode", "value"],
            typeCode=_s("string", enum=["outbound", "inbound"]),
            value=_s("string", 2, 18),
        ),
        None,
        2,
    ),
    manufacturerCountry=_s("string", 2, 2),
    weight=_obj(
        ["netValue", "grossValue"],
        netValue=_s("number", minimum=0, maximum=999999999999),
        grossValue=_s("number", minimum=0, maximum=999999999999),
    ),
)
EXPORT_DECLARATION = _obj(
    ["lineItems"],
    False,
    lineItems=_arr(LINE_ITEM, 1, 999),
    invoice=_obj(["number", "date"], False, number=_s("string", 1, 35), date=_s("string", 1, 35)),
    exportReason=_s("string", 1, 30),
)
SHIPMENTS = _obj(
    ["plannedShippingDateAndTime", "pickup", "productCode", "accounts", "customerDetails", "content"],
    False,
    plannedShippingDateAndTime=_s("string", 1, 29),
    pickup=_obj(
        ["isRequested"],
        False,
        isRequested=_s("boolean"),
        closeTime=_s("string", None, 5),
        location=_s("string", None, 80),
    ),
    productCode=_s("string", 1, 6),
    getRateEstimates=_s("boolean"),
    estimatedDeliveryDate=_obj(
        ["isRequested"], isRequested=_s("boolean"), typeCode=_s("string", None, 4, enum=["QDDC", "QDDF"])
    ),
    accounts=_arr(ACCOUNT, 1, 3),
    outputImageProperties=_obj(
        [],
        False,
        encodingFormat=_s("string", enum=["pdf", "zpl", "lp2", "epl"]),
        imageOptions=_arr(
            _obj(
                ["typeCode"],
                False,
                typeCode=_s("string", enum=["label", "waybillDoc", "invoice", "receipt", "qr-code"]),
                templateName=_s("string", None, 25),
                isRequested=_s("boolean"),
                invoiceType=_s("string", enum=["commercial", "proforma", "returns"]),
            ),
            None,
            20,
        ),
    ),
    customerReferences=_arr(REFERENCE, None, 999),
    customerDetails=_obj(
        ["shipperDetails", "receiverDetails"], False, shipperDetails=PARTY, receiverDetails=PARTY
    ),
    content=_obj(
        ["packages", "isCustomsDeclarable", "description", "incoterm", "unitOfMeasurement"],
        False,
        packages=_arr(PACKAGE, 1, 999),
        isCustomsDeclarable=_s("boolean"),
        declaredValue=_s("number", minimum=0, maximum=999999999999999),
        declaredValueCurrency=_s("string", 3, 3),
        exportDeclaration=EXPORT_DECLARATION,
        description=_s("string", 1, 70),
        incoterm=_s(
            "string",
            enum=[
                "EXW",
                "FCA",
                "CPT",
                "CIP",
                "DPU",
                "DAP",
                "DDP",
                "FAS",
                "FOB",
                "CFR",
                "CIF",
                "DAF",
                "DAT",
                "DDU",
                "DEQ",
                "DES",
            ],
        ),
        unitOfMeasurement=_s("string", enum=["metric", "imperial"]),
    ),
)
PICKUP_PARTY = _obj(
    ["postalAddress", "contactInformation"], postalAddress=POSTAL_ADDRESS, contactInformation=CONTACT
)
PICKUPS = _obj(
    ["plannedPickupDateAndTime", "accounts", "customerDetails", "shipmentDetails"],
    False,
    plannedPickupDateAndTime=_s("string", 1, 29),
    closeTime=_s("string", None, 5),
    location=_s("string", None, 80),
    accounts=_arr(ACCOUNT, 1, 5),
    remark=_s("string"),
    customerDetails=_obj(
        ["shipperDetails"], False, shipperDetails=PICKUP_PARTY, receiverDetails=PICKUP_PARTY
    ),
    shipmentDetails=_arr(
        _obj(
            ["productCode", "isCustomsDeclarable", "unitOfMeasurement", "packages"],
            False,
            productCode=_s("string", 1, 6),
            accounts=_arr(ACCOUNT, None, 5),
            isCustomsDeclarable=_s("boolean"),
            declaredValue=_s("number", minimum=0),
            declaredValueCurrency=_s("string", 3, 3),
            unitOfMeasurement=_s("string", enum=["metric", "imperial"]),
            shipmentTrackingNumber=_s("string"),
            packages=_arr(PACKAGE, 1, 999),
        ),
        1,
        999,
    ),
)

_TYPES = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def validate(schema: Mapping[str, Any], value: Any, pointer: str = "#") -> list[str]:
    """The problems DHL's schema validation reports, in its ``#/pointer: ...`` wording."""
    kind = schema["type"]
    ok = isinstance(value, _TYPES[kind]) and not (kind in ("number", "integer") and isinstance(value, bool))
    if not ok:
        return [f"{pointer}: expected type: {kind.capitalize()}, found: {type(value).__name__}"]
    problems: list[str] = []
    if kind == "object":
        for key in schema.get("required", ()):
            if key not in value:
                problems.append(f"{pointer}: required key [{key}] not found")
        props = schema.get("properties", {})
        for key, item in value.items():
            if key in props:
                problems += validate(props[key], item, f"{pointer}/{key}")
            elif schema.get("closed"):
                problems.append(f"{pointer}: extraneous key [{key}] is not permitted")
    elif kind == "array":
        if "minItems" in schema and len(value) < schema["minItems"]:
            problems.append(
                f"{pointer}: expected minimum item count: {schema['minItems']}, found: {len(value)}"
            )
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            problems.append(
                f"{pointer}: expected maximum item count: {schema['maxItems']}, found: {len(value)}"
            )
        for index, item in enumerate(value):
            problems += validate(schema["items"], item, f"{pointer}/{index}")
    elif kind == "string":
        if "minLength" in schema and len(value) < schema["minLength"]:
            problems.append(f"{pointer}: expected minLength: {schema['minLength']}, actual: {len(value)}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            problems.append(f"{pointer}: expected maxLength: {schema['maxLength']}, actual: {len(value)}")
        if "enum" in schema and value not in schema["enum"]:
            problems.append(f"{pointer}: {value} is not a valid enum value")
    elif kind in ("number", "integer"):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{pointer}: {value} is not greater or equal to {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{pointer}: {value} is not less or equal to {schema['maximum']}")
    return problems


# --------------------------------------------------------------------------- state


@dataclass
class Account:
    number: str
    api_key: str
    api_secret: str
    country: str


@dataclass
class Shipment:
    awb: str
    account: str
    record: ParcelRecord
    body: dict[str, Any]
    pieces: list[str]
    planned: date
    label: bytes
    waybill: bytes
    invoice: bytes | None
    pickup: str | None = None


@dataclass
class PickupBooking:
    number: str
    account: str
    awb: str | None
    cancelled: bool = False


@dataclass
class Received:
    """A request as the emulator received it (for the plugin's wire-format tests)."""

    method: str
    path: str
    query: Sequence[tuple[str, str]]
    headers: dict[str, str]
    body: Any


@dataclass
class _Problem(Exception):
    status: int
    detail: str
    additional: list[str] = field(default_factory=list)


class DhlExpressEmulator(Emulator):
    name = "dhl_express"
    default_site = "SG"

    def __init__(self, faults: Faults | None = None) -> None:
        super().__init__(faults)
        self.accounts: dict[str, Account] = {}
        self.book = ParcelBook("")
        self.shipments: dict[str, Shipment] = {}
        self.pickups: dict[str, PickupBooking] = {}
        self.received: list[Received] = []
        self._awbs = itertools.count(1)
        self._pickup_ids = itertools.count(1)
        self.route("POST", "/rates", self._guarded(self._rates))
        self.route("POST", "/shipments", self._guarded(self._create_shipment))
        self.route("GET", "/tracking", self._guarded(self._track_many))
        self.route_pattern("GET", r"/shipments/([^/]+)/tracking", self._guarded(self._track_one))
        self.route_pattern("GET", r"/shipments/([^/]+)/get-image", self._guarded(self._get_image))
        self.route("POST", "/pickups", self._guarded(self._book_pickup))
        self.route_pattern("DELETE", r"/pickups/([^/]+)", self._guarded(self._cancel_pickup))
        self.route("GET", "/address-validate", self._guarded(self._address_validate))

    # ------------------------------------------------------------ the suite's helpers

    def open_account(self, site: str | None = None) -> dict[str, str]:
        """A DHL Express customer account with MyDHL API credentials."""
        number = f"{len(self.accounts) + 950000001:09d}"
        account = Account(
            number, f"ap{secrets.token_hex(6)}", secrets.token_urlsafe(12), site or self.default_site
        )
        self.accounts[number] = account
        return {"api_key": account.api_key, "api_secret": account.api_secret, "account_number": number}

    def labels_bought(self, reference: str) -> int:
        """Shipments created with ``reference`` that may still be tendered (and billed)."""
        return self.book.bought(reference)

    def scan(
        self,
        tracking_number: str,
        status: TrackingStatus,
        reason: TrackingReason | None = None,
        at: datetime | None = None,
    ) -> None:
        self.book.scan(tracking_number, status, reason, at)

    def tracking_push(self, tracking_number: str) -> tuple[Mapping[str, str], bytes]:
        raise NotImplementedError("the MyDHL API pushes no tracking")

    # ------------------------------------------------------------ plumbing

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") == "http":
            _query.set(tuple(parse_qsl(scope.get("query_string", b"").decode(), keep_blank_values=True)))
            _path.set(scope.get("path", ""))
        await super().__call__(scope, receive, send)

    def error_body(self, status: int, code: str, message: str) -> Any:
        title, text = TITLES.get(status, ("Error", "Error"))
        return {
            "instance": f"/expressapi{_path.get()}",
            "detail": message,
            "title": title,
            "message": text,
            "status": str(status),
        }

    def _problem(self, problem: _Problem) -> Reply:
        body = self.error_body(problem.status, "", problem.detail)
        if problem.additional:
            body["additionalDetails"] = problem.additional
        return Reply(problem.status, body, {"content-type": "application/problem+json"})

    def _guarded(self, handler: Any) -> Any:
        async def run(request: Request) -> Reply:
            query = list(_query.get())
            try:
                body = request.json() if request.body else None
            except ValueError:
                body = None
            self.received.append(Received(request.method, request.path, query, dict(request.headers), body))
            try:
                account = self._authenticate(request)
                if not request.headers.get("x-version"):
                    raise _Problem(400, "Missing mandatory parameters: x-version")
                reference = request.headers.get("message-reference")
                if reference is not None and not 28 <= len(reference) <= 36:
                    raise _Problem(
                        400,
                        "Parameters not having correct format: Message-Reference "
                        "(minLength=28, maxLength=36)",
                    )
                reply: Reply = await handler(request, account, query)
                return reply
            except _Problem as problem:
                return self._problem(problem)

        return run

    def _authenticate(self, request: Request) -> Account:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            raise _Problem(401, "Missing or invalid Authorization header: Basic credentials required")
        try:
            key, _, secret = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError) as exc:
            raise _Problem(401, "Invalid credentials") from exc
        for account in self.accounts.values():
            if hmac.compare_digest(account.api_key.encode(), key.encode()):
                if hmac.compare_digest(account.api_secret.encode(), secret.encode()):
                    return account
                break
        raise _Problem(401, "Invalid credentials")

    @staticmethod
    def _validated(schema: Mapping[str, Any], request: Request) -> dict[str, Any]:
        try:
            body = request.json()
        except ValueError as exc:
            raise _Problem(400, f"Malformed JSON: {exc}") from exc
        problems = validate(schema, body)
        if len(problems) == 1:
            raise _Problem(422, problems[0])
        if problems:
            raise _Problem(422, "Multiple problems found, see Additional Details", problems)
        return dict(body)

    def _own_account(self, account: Account, accounts: Sequence[Mapping[str, Any]]) -> None:
        shipper = [a["number"] for a in accounts if a.get("typeCode") == "shipper"]
        if not shipper or any(number != account.number for number in shipper):
            raise _Problem(400, BAD_ACCOUNT)

    @staticmethod
    def _planned(text: str, *, horizon: int = 10) -> date:
        match = TIMESTAMP.match(text)
        if match is None:
            raise _Problem(400, E998)
        try:
            day = date.fromisoformat(match.group(1))
        except ValueError as exc:
            raise _Problem(400, E998) from exc
        today = datetime.now(UTC).date()
        if not today - timedelta(days=1) <= day <= today + timedelta(days=horizon):
            raise _Problem(
                400,
                "The planned date should not be a past date or a date more than "
                f"{horizon} days in the future: {match.group(1)}",
            )
        return day

    @staticmethod
    def _postcode(address: Mapping[str, Any], pointer: str) -> None:
        country = str(address.get("countryCode", "")).upper()
        pattern = POSTCODES.get(country)
        code = str(address.get("postalCode", "")).strip().upper()
        if pattern is not None and not re.fullmatch(pattern, code):
            what = "is missing" if not code else f"'{code}' is invalid"
            raise _Problem(400, f"{pointer}: the postal code {what} for country {country}")

    @staticmethod
    def _lane(origin: str, destination: str, dutiable: bool) -> str:
        if origin == destination:
            return "domestic"
        if origin in EU and destination in EU:
            return "eu"  # international inside the EU, not declared to customs: product U
        return "goods" if dutiable else "documents"

    def _product(self, code: str, lane: str) -> tuple[str, str, float, float, int]:
        product = PRODUCTS.get(code)
        if product is None:
            raise _Problem(
                400, f"The requested product(s) '{code}' not available based on your search criteria"
            )
        if product[1] != lane:
            raise _Problem(
                400,
                f"Product '{code}' ({product[0]}) is not available for a {lane} shipment between these "
                "countries. Please validate the products and services combination via /rates",
            )
        return product

    @staticmethod
    def _weights(packages: Sequence[Mapping[str, Any]]) -> float:
        for index, package in enumerate(packages):
            if float(package["weight"]) > MAX_PIECE_KG:
                raise _Problem(
                    400,
                    f"#/packages/{index}/weight: a piece of {package['weight']} kg exceeds the "
                    f"maximum piece weight of {MAX_PIECE_KG:g} kg",
                )
        return sum(float(p["weight"]) for p in packages)

    @staticmethod
    def _price(product: tuple[str, str, float, float, int], kg: float) -> float:
        return round(product[2] + product[3] * max(0.5, kg), 2)

    # ------------------------------------------------------------ rates

    async def _rates(self, request: Request, account: Account, query: Sequence[tuple[str, str]]) -> Reply:
        body = self._validated(RATES, request)
        self._own_account(
            account, body.get("accounts") or [{"typeCode": "shipper", "number": account.number}]
        )
        day = self._planned(body["plannedShippingDateAndTime"])
        shipper, receiver = (
            body["customerDetails"]["shipperDetails"],
            body["customerDetails"]["receiverDetails"],
        )
        self._postcode(shipper, "#/customerDetails/shipperDetails")
        self._postcode(receiver, "#/customerDetails/receiverDetails")
        kg = self._weights(body["packages"])
        origin, destination = shipper["countryCode"].upper(), receiver["countryCode"].upper()
        lane = self._lane(origin, destination, bool(body["isCustomsDeclarable"]))
        if lane == "goods" and not body.get("monetaryAmount"):
            raise _Problem(
                400, "A dutiable shipment needs its declared value (monetaryAmount typeCode declaredValue)"
            )
        codes = [c for c, p in PRODUCTS.items() if p[1] == lane]
        if body.get("productCode"):
            self._product(body["productCode"], lane)
            codes = [body["productCode"]]
        currency = CURRENCIES.get(account.country, "USD")
        products = []
        for code in codes:
            product = PRODUCTS[code]
            price = self._price(product, kg)
            arrival = day + timedelta(days=product[4])
            products.append(
                {
                    "productName": product[0],
                    "productCode": code,
                    "localProductCode": code,
                    "networkTypeCode": "TD",
                    "isCustomerAgreement": False,
                    "weight": {"volumetric": 0, "provided": round(kg, 3), "unitOfMeasurement": "metric"},
                    "totalPrice": [
                        {"currencyType": "BILLC", "priceCurrency": currency, "price": price},
                        {"currencyType": "BASEC", "priceCurrency": "EUR", "price": round(price * 0.7, 2)},
                    ],
                    "deliveryCapabilities": {
                        "deliveryTypeCode": "QDDC",
                        "estimatedDeliveryDateAndTime": f"{arrival.isoformat()}T23:59:00",
                        "totalTransitDays": product[4],
                    },
                    "pricingDate": day.isoformat(),
                }
            )
        return Reply(200, {"products": products})

    # ------------------------------------------------------------ shipments

    async def _create_shipment(
        self, request: Request, account: Account, query: Sequence[tuple[str, str]]
    ) -> Reply:
        body = self._validated(SHIPMENTS, request)
        self._own_account(account, body["accounts"])
        day = self._planned(body["plannedShippingDateAndTime"])
        shipper = body["customerDetails"]["shipperDetails"]["postalAddress"]
        receiver = body["customerDetails"]["receiverDetails"]["postalAddress"]
        self._postcode(shipper, "#/customerDetails/shipperDetails/postalAddress")
        self._postcode(receiver, "#/customerDetails/receiverDetails/postalAddress")
        content = body["content"]
        kg = self._weights(content["packages"])
        origin, destination = shipper["countryCode"].upper(), receiver["countryCode"].upper()
        dutiable = bool(content["isCustomsDeclarable"])
        crossing = origin != destination and not (origin in EU and destination in EU)
        if crossing and not dutiable and PRODUCTS.get(body["productCode"], ("", ""))[1] == "goods":
            raise _Problem(
                400,
                f"Product '{body['productCode']}' carries dutiable goods: isCustomsDeclarable must be true",
            )
        product = self._product(body["productCode"], self._lane(origin, destination, dutiable))
        if dutiable:
            if "declaredValue" not in content or "declaredValueCurrency" not in content:
                raise _Problem(400, "A dutiable shipment needs declaredValue and declaredValueCurrency")
            if "exportDeclaration" not in content:
                raise _Problem(400, "If the shipment is dutiable, exportDeclaration element must be provided")
        references = [
            r["value"] for r in body.get("customerReferences") or () if r.get("typeCode", "CU") == "CU"
        ]
        reference = references[0] if references else ""
        n = next(self._awbs)
        awb = f"{5_000_000_000 + n:010d}"
        record = self.book.buy(reference, body["productCode"], len(content["packages"]), body)
        for number in record.tracking_numbers:
            self.book.by_tracking.pop(number, None)
        record.tracking_numbers = [awb]
        self.book.by_tracking[awb] = record
        pieces = [f"JD01460000{n:06d}{i:04d}" for i in range(1, len(content["packages"]) + 1)]
        options = {
            o["typeCode"]: o for o in (body.get("outputImageProperties") or {}).get("imageOptions") or ()
        }
        label = pdf_document("DHL EXPRESS", product[0], f"WAYBILL {awb}", *pieces)
        waybill = pdf_document("DHL EXPRESS WAYBILL DOC", f"WAYBILL {awb}", f"REF {reference}")
        invoice = None
        if dutiable and options.get("invoice", {}).get("isRequested"):
            invoice = pdf_document("COMMERCIAL INVOICE", f"WAYBILL {awb}", f"INVOICE {reference}")
        shipment = Shipment(awb, account.number, record, body, pieces, day, label, waybill, invoice)
        self.shipments[awb] = shipment
        documents = [{"imageFormat": "PDF", "content": base64.b64encode(label).decode(), "typeCode": "label"}]
        if invoice is not None:
            documents.append(
                {"imageFormat": "PDF", "content": base64.b64encode(invoice).decode(), "typeCode": "invoice"}
            )
        answer: dict[str, Any] = {
            "url": "https://express.api.dhl.com/mydhlapi/shipments",
            "shipmentTrackingNumber": awb,
            "trackingUrl": f"https://express.api.dhl.com/mydhlapi/shipments/{awb}/tracking",
            "packages": [
                {
                    "referenceNumber": i,
                    "trackingNumber": piece,
                    "trackingUrl": f"https://express.api.dhl.com/mydhlapi/shipments/{awb}/tracking?PieceID={piece}",
                }
                for i, piece in enumerate(pieces, 1)
            ],
            "documents": documents,
        }
        if body.get("getRateEstimates"):
            answer["shipmentCharges"] = [
                {
                    "currencyType": "BILLC",
                    "priceCurrency": CURRENCIES.get(account.country, "USD"),
                    "price": self._price(product, kg),
                }
            ]
        if (body.get("estimatedDeliveryDate") or {}).get("isRequested"):
            answer["estimatedDeliveryDate"] = {
                "estimatedDeliveryDate": (day + timedelta(days=product[4])).isoformat(),
                "estimatedDeliveryType": body["estimatedDeliveryDate"].get("typeCode", "QDDC"),
            }
        if body["pickup"]["isRequested"]:
            number = self._pickup_number(day)
            self.pickups[number] = PickupBooking(number, account.number, awb)
            shipment.pickup = number
            answer["dispatchConfirmationNumber"] = number
            answer["cancelPickupUrl"] = f"https://express.api.dhl.com/mydhlapi/shipment-pickups/{number}"
        return Reply(201, answer)

    def _pickup_number(self, day: date) -> str:
        return f"PRG{day:%y%m%d}{next(self._pickup_ids):06d}"

    # ------------------------------------------------------------ tracking

    @staticmethod
    def _views(query: Mapping[str, str]) -> tuple[str, str]:
        view = query.get("trackingView", "all-checkpoints")
        detail = query.get("levelOfDetail", "shipment")
        views = [
            "last-checkpoint",
            "all-checkpoints",
            "bbx-children",
            "advance-shipment",
            "shipment-details-only",
        ]
        if view not in views:
            raise _Problem(
                400,
                "Parameters not having correct format: trackingView (valid parameters for trackingView "
                f"are [{', '.join(views)}]",
            )
        if detail not in ("shipment", "piece", "all"):
            raise _Problem(
                400,
                "Parameters not having correct format: levelOfDetail "
                "(valid parameters are [shipment, piece, all]",
            )
        return view, detail

    def _events(self, shipment: Shipment, offsets: bool = False) -> list[dict[str, Any]]:
        """Checkpoints in the service area's local time (the origin's, here), with their
        ``GMTOffset`` when asked (``requestGMTOffsetPerEvent``)."""
        events = []
        origin = shipment.body["customerDetails"]["shipperDetails"]["postalAddress"]
        offset = GMT_OFFSETS.get(str(origin.get("countryCode", "")).upper(), "+00:00")
        sign = -1 if offset.startswith("-") else 1
        shift = sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
        for when, status, reason in shipment.record.scans:
            if status in (TrackingStatus.PENDING, TrackingStatus.CANCELLED, TrackingStatus.UNKNOWN):
                continue
            code, text = SCAN_CODES.get((status, reason)) or SCAN_CODES[(status, None)]
            moment = when.astimezone(UTC).replace(tzinfo=None) + shift
            city = str(origin.get("cityName", "")).upper()
            event: dict[str, Any] = {
                "date": moment.date().isoformat(),
                "time": moment.strftime("%H:%M:%S"),
                "typeCode": code,
                "description": text,
                "serviceArea": [
                    {"code": city[:3] or "XXX", "description": f"{city}-{origin.get('countryCode', '')}"}
                ],
            }
            if offsets:
                event["GMTOffset"] = offset
            events.append(event)
        return events

    def _shipment_view(
        self, shipment: Shipment, view: str, detail: str, offsets: bool = False
    ) -> dict[str, Any]:
        body = shipment.body
        events = self._events(shipment, offsets)
        if view == "last-checkpoint":
            events = events[-1:]
        elif view == "shipment-details-only":
            events = []
        out: dict[str, Any] = {
            "shipmentTrackingNumber": shipment.awb,
            "status": "Success",
            "shipmentTimestamp": f"{shipment.planned.isoformat()}T00:00:00",
            "productCode": body["productCode"],
            "description": body["content"]["description"],
            "shipperDetails": {
                "name": body["customerDetails"]["shipperDetails"]["contactInformation"]["companyName"]
            },
            "receiverDetails": {
                "name": body["customerDetails"]["receiverDetails"]["contactInformation"]["fullName"]
            },
            "totalWeight": round(sum(p["weight"] for p in body["content"]["packages"]), 3),
            "unitOfMeasurements": "metric",
            "shipperReferences": [
                {"value": r["value"], "typeCode": r.get("typeCode", "CU")}
                for r in body.get("customerReferences") or ()
            ],
            "events": events,
            "numberOfPieces": len(shipment.pieces),
        }
        if detail in ("piece", "all"):
            out["pieces"] = [
                {"number": i, "shipmentTrackingNumber": shipment.awb, "trackingNumber": piece, "events": []}
                for i, piece in enumerate(shipment.pieces, 1)
            ]
        return out

    def _visible(self, awb: str, account: Account) -> Shipment | None:
        shipment = self.shipments.get(awb)
        if shipment is None or shipment.account != account.number:
            return None
        return shipment

    async def _track_one(self, request: Request, account: Account, query: Sequence[tuple[str, str]]) -> Reply:
        view, detail = self._views(dict(query))
        shipment = self._visible(request.args[0], account)
        if shipment is None or (view != "shipment-details-only" and not self._events(shipment)):
            raise _Problem(404, "No data found")
        offsets = dict(query).get("requestGMTOffsetPerEvent", "false").lower() == "true"
        return Reply(200, {"shipments": [self._shipment_view(shipment, view, detail, offsets)]})

    async def _track_many(
        self, request: Request, account: Account, query: Sequence[tuple[str, str]]
    ) -> Reply:
        params = dict(query)
        view, detail = self._views(params)
        numbers = [v for k, v in query if k == "shipmentTrackingNumber" and v]
        reference = params.get("shipmentReference")
        if reference:
            missing = [
                k for k in ("shipperAccountNumber", "dateRangeFrom", "dateRangeTo") if not params.get(k)
            ]
            if missing:
                raise _Problem(400, f"Missing mandatory parameters: {', '.join(missing)}")
            if params["shipperAccountNumber"] != account.number:
                raise _Problem(400, BAD_ACCOUNT)
            try:
                since, until = (
                    date.fromisoformat(params["dateRangeFrom"]),
                    date.fromisoformat(params["dateRangeTo"]),
                )
            except ValueError as exc:
                raise _Problem(
                    400, "Parameters not having correct format: dateRangeFrom, dateRangeTo (YYYY-MM-DD)"
                ) from exc
            kind = params.get("shipmentReferenceType", "CU")
            found = [
                s
                for s in self.shipments.values()
                if s.account == account.number
                and since <= s.planned <= until
                and any(
                    r["value"] == reference and r.get("typeCode", "CU") == kind
                    for r in s.body.get("customerReferences") or ()
                )
            ]
            if not found:
                raise _Problem(404, f"No Shipments Found for ReferenceID | {reference}")
            return Reply(200, {"shipments": [self._shipment_view(s, view, detail) for s in found]})
        if not numbers:
            raise _Problem(400, "Missing mandatory parameters: shipmentTrackingNumber or shipmentReference")
        shown = []
        for number in dict.fromkeys(numbers):
            shipment = self._visible(number, account)
            if shipment is not None and (view == "shipment-details-only" or self._events(shipment)):
                shown.append(self._shipment_view(shipment, view, detail))
        if not shown:
            raise _Problem(404, "No data found")
        return Reply(200, {"shipments": shown})

    async def _get_image(self, request: Request, account: Account, query: Sequence[tuple[str, str]]) -> Reply:
        params = dict(query)
        missing = [k for k in ("shipperAccountNumber", "typeCode", "pickupYearAndMonth") if not params.get(k)]
        if missing:
            raise _Problem(400, f"Missing mandatory parameters: {', '.join(missing)}")
        if params["typeCode"] not in ("waybill", "commercial-invoice", "customs-entry"):
            raise _Problem(400, "Parameters not having correct format: typeCode")
        if not re.fullmatch(r"\d{4}-\d{2}", params["pickupYearAndMonth"]):
            raise _Problem(400, "Parameters not having correct format: pickupYearAndMonth (YYYY-MM)")
        if params["shipperAccountNumber"] != account.number:
            raise _Problem(400, BAD_ACCOUNT)
        shipment = self._visible(request.args[0], account)
        image = None
        if shipment is not None and f"{shipment.planned:%Y-%m}" == params["pickupYearAndMonth"]:
            image = {"waybill": shipment.waybill, "commercial-invoice": shipment.invoice}.get(
                params["typeCode"]
            )
        if image is None:
            raise _Problem(404, "1504: No document images found for the provided search criteria.")
        return Reply(
            200,
            {
                "documents": [
                    {
                        "shipmentTrackingNumber": request.args[0],
                        "typeCode": params["typeCode"],
                        "encodingFormat": "PDF",
                        "content": base64.b64encode(image).decode(),
                    }
                ]
            },
        )

    # ------------------------------------------------------------ pickups

    async def _book_pickup(
        self, request: Request, account: Account, query: Sequence[tuple[str, str]]
    ) -> Reply:
        body = self._validated(PICKUPS, request)
        self._own_account(account, body["accounts"])
        day = self._planned(body["plannedPickupDateAndTime"])
        self._postcode(
            body["customerDetails"]["shipperDetails"]["postalAddress"],
            "#/customerDetails/shipperDetails/postalAddress",
        )
        for entry in body["shipmentDetails"]:
            self._weights(entry["packages"])
        number = self._pickup_number(day)
        awbs = [
            e.get("shipmentTrackingNumber")
            for e in body["shipmentDetails"]
            if e.get("shipmentTrackingNumber")
        ]
        self.pickups[number] = PickupBooking(number, account.number, awbs[0] if len(awbs) == 1 else None)
        ready = TIMESTAMP.match(body["plannedPickupDateAndTime"])
        return Reply(
            201,
            {
                "dispatchConfirmationNumbers": [number],
                "readyByTime": f"{ready.group(2)}:{ready.group(3)}" if ready else "",
                "nextPickupDate": day.isoformat(),
            },
        )

    async def _cancel_pickup(
        self, request: Request, account: Account, query: Sequence[tuple[str, str]]
    ) -> Reply:
        params = dict(query)
        missing = [k for k in ("requestorName", "reason") if not params.get(k)]
        if missing:
            raise _Problem(400, f"Missing mandatory parameters: {', '.join(missing)}")
        booking = self.pickups.get(request.args[0])
        if booking is None or booking.account != account.number:
            raise _Problem(404, "Cancellation of booking was not successful. Requested Pickup was not found")
        if booking.cancelled:
            raise _Problem(400, "Cancellation of booking was not successful. The pickup is already cancelled")
        shipment = self.shipments.get(booking.awb) if booking.awb else None
        if shipment is not None and shipment.record.handed_over:
            raise _Problem(400, "Cancellation of booking was not successful. The pickup is already completed")
        booking.cancelled = True
        if shipment is not None and shipment.pickup == booking.number:
            # the courier will not come: the shipment is never tendered, so never billed
            shipment.record.voided = True
            shipment.record.scans.append((datetime.now(UTC), TrackingStatus.CANCELLED, None))
        return Reply(200, b"")

    # ------------------------------------------------------------ addresses

    async def _address_validate(
        self, request: Request, account: Account, query: Sequence[tuple[str, str]]
    ) -> Reply:
        params = dict(query)
        missing = [k for k in ("type", "countryCode") if not params.get(k)]
        if missing:
            raise _Problem(400, f"Missing mandatory parameters: {', '.join(missing)}")
        if params["type"] not in ("pickup", "delivery"):
            raise _Problem(
                400, "Parameters not having correct format: type (valid parameters are [pickup, delivery])"
            )
        country = params["countryCode"].upper()
        if len(country) != 2:
            raise _Problem(
                400, "Parameters not having correct format: countryCode (minLength=2, maxLength=2)"
            )
        for key, limit in (("postalCode", 12), ("cityName", 45), ("countyName", 45)):
            if len(params.get(key, "")) > limit:
                raise _Problem(400, f"Parameters not having correct format: {key} (maxLength={limit})")
        city = params.get("cityName", "").strip()
        postal = params.get("postalCode", "").strip().upper()
        pattern = POSTCODES.get(country)
        if not city or (pattern is not None and not re.fullmatch(pattern, postal)):
            return Reply(200, {"address": []})
        return Reply(
            200,
            {
                "address": [
                    {
                        "countryCode": country,
                        "postalCode": postal,
                        "cityName": city.upper(),
                        "serviceArea": {
                            "code": city[:3].upper(),
                            "description": f"{city.upper()}-{country}",
                            "GMTOffset": "+00:00",
                        },
                    }
                ]
            },
        )
