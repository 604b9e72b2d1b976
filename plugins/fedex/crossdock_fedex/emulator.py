"""A local FedEx: the REST endpoints Crossdock uses, refusing what FedEx refuses, in FedEx's
error envelope (``{transactionId, errors: [{code, message, parameterList}]}``).

Served: ``POST /oauth/token``, ``POST /rate/v1/rates/quotes``, ``POST /ship/v1/shipments``,
``PUT /ship/v1/shipments/cancel``, ``POST /track/v1/trackingnumbers``,
``POST /track/v1/referencenumbers``, ``POST /pickup/v1/pickups``,
``POST /address/v1/addresses/resolve``.

Error codes are FedEx's where FedEx publishes them (the OpenAPI documents' examples:
``NOT.AUTHORIZED.ERROR``, ``ACCOUNTNUMBER.REGISTRATION.REQUIRED``,
``TRACKING.TRACKINGNUMBER.NOTFOUND``, ``TRACKING.TRACKINGNUMBER.EMPTY``; karrio's recorded
answers: ``COMMODITY.NOT.FOUND``; FedEx clients' error tables: ``SHIPMENT.POSTALCODE.INVALID``,
``SHIPMENT.SERVICETYPE.INVALID``, ``WEIGHT.VALUE.INVALID``,
``SHIPMENT.PACKAGEDIMENSION.INVALID``, ``INVALID.INPUT.EXCEPTION``); the README lists the
ones that are this emulator's own.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from crossdock.providers import TrackingReason, TrackingStatus
from crossdock.testing.carriers import ParcelBook, ParcelRecord, pdf_document, png_document, zpl_document
from crossdock.testing.emulator import Emulator, Faults, Reply, Request, credentials_guard
from crossdock_fedex.mapping import POSTAL_AWARE, SERVICE_LEVEL, SERVICE_TYPES

__all__ = ["FedExEmulator"]

TOKEN_TTL = 3599
MAX_KG = 68.0  # 150 lb per package (FedEx Express and Ground)
MAX_TRACK = 30
TENDERED = "Shipment has already been tendered to FedEx and cannot be cancelled."
NOT_FOUND = "Tracking number cannot be found. Please correct the tracking number and try again."
LABEL_RESPONSE_OPTIONS = {"LABEL", "URL_ONLY"}
PICKUP_TYPES = {"CONTACT_FEDEX_TO_SCHEDULE", "DROPOFF_AT_FEDEX_LOCATION", "USE_SCHEDULED_PICKUP"}
IMAGE_TYPES = {"PDF", "ZPLII", "PNG", "EPL2"}
LABEL_STOCKS = {
    "PAPER_4X6", "STOCK_4X675", "PAPER_4X675", "PAPER_4X8", "PAPER_4X9", "PAPER_7X475",
    "PAPER_85X11_BOTTOM_HALF_LABEL", "PAPER_85X11_TOP_HALF_LABEL", "PAPER_LETTER",
    "STOCK_4X675_LEADING_DOC_TAB", "STOCK_4X8", "STOCK_4X9_LEADING_DOC_TAB", "STOCK_4X6",
    "STOCK_4X675_TRAILING_DOC_TAB", "STOCK_4X9_TRAILING_DOC_TAB", "STOCK_4X9",
    "STOCK_4X85_TRAILING_DOC_TAB", "STOCK_4X105_TRAILING_DOC_TAB",
}  # fmt: skip
PAYMENT_TYPES = {"SENDER", "RECIPIENT", "THIRD_PARTY", "COLLECT"}
RATE_REQUEST_TYPES = {"LIST", "ACCOUNT", "PREFERRED", "INCENTIVE"}
REFERENCE_TYPES = {
    "BILL_OF_LADING", "COD_RETURN_TRACKING_NUMBER", "CUSTOMER_AUTHORIZATION_NUMBER", "CUSTOMER_REFERENCE",
    "DEPARTMENT", "DOCUMENT_AIRWAY_BILL", "EXPRESS_ALTERNATE_REFERENCE", "FREE_FORM_REFERENCE", "INVOICE",
    "PART_NUMBER", "PURCHASE_ORDER", "RETURN_MATERIALS_AUTHORIZATION", "SHIPPER_REFERENCE",
}  # fmt: skip
HS_CODE = re.compile(r"^\d{6,10}$")
YMD = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CURRENCY = {
    "US": "USD",
    "SG": "SGD",
    "DE": "EUR",
    "FR": "EUR",
    "NL": "EUR",
    "GB": "GBP",
    "CA": "CAD",
    "JP": "JPY",
}
DOMESTIC = ("FEDEX_GROUND", "FEDEX_2_DAY", "PRIORITY_OVERNIGHT")
INTERNATIONAL = ("FEDEX_INTERNATIONAL_PRIORITY", "INTERNATIONAL_ECONOMY", "FEDEX_INTERNATIONAL_CONNECT_PLUS")
SERVICE_NAMES = {
    "FEDEX_GROUND": "FedEx Ground®",
    "FEDEX_2_DAY": "FedEx 2Day®",
    "PRIORITY_OVERNIGHT": "FedEx Priority Overnight®",
    "FEDEX_INTERNATIONAL_PRIORITY": "FedEx International Priority®",
    "INTERNATIONAL_ECONOMY": "FedEx International Economy®",
    "FEDEX_INTERNATIONAL_CONNECT_PLUS": "FedEx International Connect Plus",
}
TRANSIT = {
    "FEDEX_GROUND": 4,
    "FEDEX_2_DAY": 2,
    "PRIORITY_OVERNIGHT": 1,
    "FEDEX_INTERNATIONAL_PRIORITY": 3,
    "INTERNATIONAL_ECONOMY": 5,
    "FEDEX_INTERNATIONAL_CONNECT_PLUS": 6,
}
WORDS = ["ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE", "TEN"]

#: our status -> (eventType, eventDescription) of the scan FedEx would show
EVENTS: Mapping[TrackingStatus, tuple[str, str]] = {
    TrackingStatus.PENDING: ("OC", "Shipment information sent to FedEx"),
    TrackingStatus.PICKED_UP: ("PU", "Picked up"),
    TrackingStatus.IN_TRANSIT: ("IT", "In transit"),
    TrackingStatus.ON_HOLD: ("SE", "Shipment exception"),
    TrackingStatus.DELIVERY_DELAYED: ("DD", "Delivery delay"),
    TrackingStatus.OUT_FOR_DELIVERY: ("OD", "On FedEx vehicle for delivery"),
    TrackingStatus.READY_FOR_PICKUP: ("HP", "Ready for recipient pickup"),
    TrackingStatus.DELIVERY_FAILED: ("DE", "Delivery exception"),
    TrackingStatus.DELIVERED: ("DL", "Delivered"),
    TrackingStatus.RETURN_TO_SENDER: ("RS", "Return to shipper"),
    TrackingStatus.CANCELLED: ("CA", "Shipment cancelled by sender"),
    TrackingStatus.UNKNOWN: ("ZZ", "Status update"),
}
#: reason -> (exceptionCode, exceptionDescription) in FedEx's words
EXCEPTIONS: Mapping[TrackingReason, tuple[str, str]] = {
    TrackingReason.CUSTOMS_HOLD: ("A25", "Clearance delay - import, held by customs"),
    TrackingReason.CUSTOMS_DOCUMENTS: ("A12", "Customs clearance needs additional information"),
    TrackingReason.DUTIES_UNPAID: ("A13", "Import duties and taxes due from recipient"),
    TrackingReason.ADDRESS_ISSUE: ("03", "Incorrect address"),
    TrackingReason.RECIPIENT_UNAVAILABLE: ("08", "Customer not available or business closed"),
    TrackingReason.REFUSED: ("07", "Refused by recipient"),
    TrackingReason.DAMAGED: ("16", "Package damaged"),
    TrackingReason.LOST: ("LP", "Package lost"),
    TrackingReason.PROHIBITED: ("PR", "Prohibited commodity, cannot be delivered"),
    TrackingReason.WEATHER: ("WE", "Weather delay"),
    TrackingReason.CARRIER_DELAY: ("MS", "Missed connection, next flight"),
    TrackingReason.OTHER: ("99", "Exception, see details"),
}


class Refusal(Exception):
    """A request FedEx refuses: answered 400 in FedEx's envelope."""

    def __init__(self, code: str, message: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.field, self.status = code, message, field, status


@dataclass
class Account:
    client_id: str
    client_secret: str
    account_number: str
    site: str


@dataclass
class Held:
    client_id: str
    expires_at: float


def _invalid(field: str, message: str = "Invalid field value in the input") -> Refusal:
    return Refusal("INVALID.INPUT.EXCEPTION", f"{message}: {field}", field)


def _obj(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(field, "Missing or invalid object")
    return value


def _list(value: Any, field: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise _invalid(field, "At least one entry is required")
    return value


def _enum(value: Any, allowed: set[str] | frozenset[str], field: str) -> str:
    if value not in allowed:
        raise _invalid(field)
    return str(value)


class FedExEmulator(Emulator):
    name = "fedex"
    default_site = "US"
    fault_free = frozenset({"/oauth/token"})

    def __init__(self, faults: Faults | None = None, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(faults)
        self.clock = clock
        self.accounts: dict[str, Account] = {}
        self.tokens: dict[str, Held] = {}
        self.tokens_issued = 0
        self.book = ParcelBook("7949")
        self.pickups: dict[str, dict[str, Any]] = {}
        #: request bodies by path, as received (protocol tests read them)
        self.bodies: dict[str, list[Any]] = {}
        #: paths the project is not enabled for (FedEx answers 403 FORBIDDEN.ERROR)
        self.forbidden: set[str] = set()
        #: every token refused, fresh ones too (the project's keys were revoked)
        self.revoked = False
        self.guard = credentials_guard(
            lambda: self.clock(),
            refused=lambda: self._fail(
                401,
                "NOT.AUTHORIZED.ERROR",
                "The given JWT is invalid. Please modify your request and try again.",
            ),
            missing=lambda: self._fail(
                401,
                "NOT.AUTHORIZED.ERROR",
                "Authorization header is missing. Please modify your request and try again.",
            ),
            expired=lambda: self._fail(
                401, "NOT.AUTHORIZED.ERROR", "Access token expired. Please modify your request and try again."
            ),
        )
        self.route("POST", "/oauth/token", self._oauth)
        for method, path, handler in (
            ("POST", "/rate/v1/rates/quotes", self._rates),
            ("POST", "/ship/v1/shipments", self._ship),
            ("PUT", "/ship/v1/shipments/cancel", self._cancel),
            ("POST", "/track/v1/trackingnumbers", self._track),
            ("POST", "/track/v1/referencenumbers", self._track_references),
            ("POST", "/pickup/v1/pickups", self._pickup),
            ("POST", "/address/v1/addresses/resolve", self._resolve),
        ):
            self.route(method, path, self._authorized(handler))

    # ------------------------------------------------------------ envelope

    def error_body(self, status: int, code: str, message: str) -> Any:
        fedex = {
            "throttled": "TOO.MANY.REQUESTS",
            "server_error": "INTERNAL.SERVER.ERROR" if status == 500 else "SERVICE.UNAVAILABLE.ERROR",
            "timeout": "SERVICE.UNAVAILABLE.ERROR",
            "not_found": "NOT.FOUND.ERROR",
            "bad_request": "INVALID.INPUT.EXCEPTION",
        }.get(code, code)
        return {"transactionId": str(uuid.uuid4()), "errors": [{"code": fedex, "message": message}]}

    def _fail(self, status: int, code: str, message: str, field: str | None = None) -> Reply:
        error: dict[str, Any] = {"code": code, "message": message}
        if field:
            error["parameterList"] = [{"key": "field", "value": field}]
        return Reply(status, {"transactionId": str(uuid.uuid4()), "errors": [error]})

    def _ok(self, output: Mapping[str, Any]) -> Reply:
        return Reply(200, {"transactionId": str(uuid.uuid4()), "output": dict(output)})

    def _authorized(
        self, handler: Callable[[Request, Account], Reply]
    ) -> Callable[[Request], Awaitable[Reply]]:
        async def wrapped(request: Request) -> Reply:
            header = request.headers.get("authorization", "")
            token = header[7:] if header.lower().startswith("bearer ") else ""
            held = self.tokens.get(token)
            account = self.accounts.get(held.client_id) if held else None
            if self.revoked:
                account = None
            checked = self.guard.check(token, account, expires_at=held.expires_at if held else None)
            if isinstance(checked, Reply):
                return checked
            if request.path in self.forbidden:
                return self._fail(
                    403,
                    "FORBIDDEN.ERROR",
                    "We could not authorize your credentials. Please check your permissions and try again",
                )
            body = request.json()
            self.bodies.setdefault(request.path, []).append(body)
            try:
                return handler(request, checked)
            except Refusal as refusal:
                return self._fail(refusal.status, refusal.code, refusal.message, refusal.field)

        return wrapped

    # ------------------------------------------------------------ accounts and tokens

    def open_account(self, site: str | None = None) -> dict[str, Any]:
        """A FedEx Developer Portal project (API key and secret) and a shipping account."""
        account = Account(
            client_id="l7" + secrets.token_hex(15),
            client_secret=secrets.token_hex(16),
            account_number=str(700_000_000 + len(self.accounts) * 7919 + secrets.randbelow(7000)),
            site=site or self.default_site,
        )
        self.accounts[account.client_id] = account
        return {
            "client_id": account.client_id,
            "client_secret": account.client_secret,
            "account_number": account.account_number,
        }

    def expire_tokens(self) -> None:
        """Every issued token is past its hour (what a long-running worker meets)."""
        for held in self.tokens.values():
            held.expires_at = self.clock() - 1

    async def _oauth(self, request: Request) -> Reply:
        if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
            return self._fail(
                400, "INVALID.INPUT.EXCEPTION", "content-type must be application/x-www-form-urlencoded"
            )
        form = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
        self.bodies.setdefault(request.path, []).append(form)
        if form.get("grant_type") not in ("client_credentials", "csp_credentials", "client_pc_credentials"):
            return self._fail(400, "BAD.REQUEST.ERROR", "grant_type is missing or not supported")
        account = self.accounts.get(form.get("client_id", ""))
        if account is None or not secrets.compare_digest(
            account.client_secret, form.get("client_secret", "")
        ):
            return self._fail(
                401,
                "NOT.AUTHORIZED.ERROR",
                "The given client credentials were not valid. Please modify your request and try again.",
            )
        token = secrets.token_urlsafe(48)
        self.tokens[token] = Held(account.client_id, self.clock() + TOKEN_TTL)
        self.tokens_issued += 1
        return Reply(
            200, {"access_token": token, "token_type": "bearer", "expires_in": TOKEN_TTL, "scope": "CXS"}
        )

    # ------------------------------------------------------------ validation (rate and ship share it)

    @staticmethod
    def _account(body: Mapping[str, Any], account: Account, field: str = "accountNumber") -> None:
        number = (body.get(field) or {}).get("value") if isinstance(body.get(field), dict) else None
        if (
            not isinstance(number, str)
            or not re.fullmatch(r"\d{9}", number)
            or number != account.account_number
        ):
            raise Refusal(
                "ACCOUNTNUMBER.REGISTRATION.REQUIRED",
                "Please enter a valid 9-digit FedEx account number or register for a new FedEx "
                "account number.",
                f"{field}.value",
            )

    @staticmethod
    def _address(value: Any, field: str, *, street: bool) -> dict[str, Any]:
        address = _obj(value, field)
        country = address.get("countryCode")
        if not isinstance(country, str) or not re.fullmatch(r"[A-Z]{2}", country):
            raise _invalid(f"{field}.countryCode")
        if street:
            lines = address.get("streetLines")
            if not isinstance(lines, list) or not any(isinstance(x, str) and x.strip() for x in lines):
                raise Refusal(
                    "SHIPMENT.ADDRESS.STREETLINES.REQUIRED", "At least one street line is required.", field
                )
            if any(len(str(x)) > 35 for x in lines):
                raise _invalid(f"{field}.streetLines", "Street line longer than 35 characters")
            if not str(address.get("city") or "").strip():
                raise Refusal("SHIPMENT.ADDRESS.CITY.REQUIRED", "City is required.", f"{field}.city")
        postal = str(address.get("postalCode") or "").strip()
        if country in POSTAL_AWARE and not postal:
            raise Refusal(
                "SHIPMENT.POSTALCODE.INVALID",
                f"A postal code is required for {country}, a postal-aware country.",
                f"{field}.postalCode",
            )
        if country in ("US", "CA") and street and not address.get("stateOrProvinceCode"):
            raise Refusal("STATEORPROVINCECODE.REQUIRED", "State or province code is required.", field)
        return address

    @staticmethod
    def _contact(party: Mapping[str, Any], field: str) -> None:
        contact = _obj(party.get("contact"), f"{field}.contact")
        phone = re.sub(r"\D", "", str(contact.get("phoneNumber") or ""))
        if not 10 <= len(phone) <= 15:
            raise Refusal(
                "PHONENUMBER.INVALID",
                "Phone number must have 10 to 15 digits.",
                f"{field}.contact.phoneNumber",
            )
        if not (contact.get("personName") or contact.get("companyName")):
            raise Refusal(
                "CONTACT.NAME.REQUIRED", "Either personName or companyName is required.", f"{field}.contact"
            )

    @staticmethod
    def _packages(items: Any, service: str | None) -> list[dict[str, Any]]:
        packages = _list(items, "requestedShipment.requestedPackageLineItems")
        for i, package in enumerate(packages):
            field = f"requestedShipment.requestedPackageLineItems[{i}]"
            package = _obj(package, field)
            weight = _obj(package.get("weight"), f"{field}.weight")
            units = _enum(weight.get("units"), {"KG", "LB"}, f"{field}.weight.units")
            value = weight.get("value")
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise Refusal(
                    "WEIGHT.VALUE.INVALID", "Package weight must be greater than zero.", f"{field}.weight"
                )
            kilos = float(value) if units == "KG" else float(value) * 0.45359237
            if kilos > MAX_KG:
                raise Refusal(
                    "WEIGHT.VALUE.INVALID",
                    "Package weight exceeds the maximum of 68 KG (150 LB) per package.",
                    f"{field}.weight.value",
                )
            dims = package.get("dimensions")
            if dims is not None:
                dims = _obj(dims, f"{field}.dimensions")
                _enum(dims.get("units"), {"CM", "IN"}, f"{field}.dimensions.units")
                for side in ("length", "width", "height"):
                    size = dims.get(side)
                    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 999:
                        raise Refusal(
                            "SHIPMENT.PACKAGEDIMENSION.INVALID",
                            "Package dimensions must be whole numbers from 1 to 999.",
                            f"{field}.dimensions.{side}",
                        )
            limit = 40 if service and SERVICE_LEVEL.get(service) is None else 30
            for ref in package.get("customerReferences") or []:
                ref = _obj(ref, f"{field}.customerReferences")
                _enum(
                    ref.get("customerReferenceType"),
                    {
                        "CUSTOMER_REFERENCE",
                        "DEPARTMENT_NUMBER",
                        "INVOICE_NUMBER",
                        "P_O_NUMBER",
                        "RMA_ASSOCIATION",
                    },
                    f"{field}.customerReferences.customerReferenceType",
                )
                if not isinstance(ref.get("value"), str) or not 0 < len(ref["value"]) <= limit:
                    raise _invalid(
                        f"{field}.customerReferences.value", f"Reference must be 1 to {limit} characters"
                    )
        return packages

    @staticmethod
    def _customs(shipment: Mapping[str, Any], *, ship: bool) -> None:
        customs = shipment.get("customsClearanceDetail")
        commodities = customs.get("commodities") if isinstance(customs, dict) else None
        if not isinstance(commodities, list) or not commodities:
            raise Refusal(
                "COMMODITY.NOT.FOUND", "Commodity not found.", "requestedShipment.customsClearanceDetail"
            )
        assert isinstance(customs, dict)
        duties = customs.get("dutiesPayment")
        if ship or duties is not None:
            _enum(
                _obj(duties, "customsClearanceDetail.dutiesPayment").get("paymentType"),
                PAYMENT_TYPES,
                "customsClearanceDetail.dutiesPayment.paymentType",
            )
        if ship:
            _obj(customs.get("commercialInvoice"), "customsClearanceDetail.commercialInvoice")
        for i, commodity in enumerate(commodities):
            field = f"customsClearanceDetail.commodities[{i}]"
            commodity = _obj(commodity, field)
            if not str(commodity.get("description") or "").strip():
                raise Refusal("COMMODITY.DESCRIPTION.REQUIRED", "Commodity description is required.", field)
            if not re.fullmatch(r"[A-Z]{2}", str(commodity.get("countryOfManufacture") or "")):
                raise Refusal(
                    "COMMODITY.COUNTRYOFMANUFACTURE.REQUIRED",
                    "Country of manufacture is required.",
                    f"{field}.countryOfManufacture",
                )
            quantity = commodity.get("quantity")
            if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
                raise _invalid(f"{field}.quantity")
            if not commodity.get("quantityUnits"):
                raise _invalid(f"{field}.quantityUnits")
            for money in ("unitPrice", "customsValue"):
                value = commodity.get(money)
                if money == "customsValue" and value is None:
                    raise Refusal(
                        "COMMODITIES.CUSTOMSVALUE.REQUIRED",
                        "Customs value is required.",
                        f"{field}.customsValue",
                    )
                if value is not None:
                    value = _obj(value, f"{field}.{money}")
                    if not re.fullmatch(r"[A-Z]{3}", str(value.get("currency") or "")):
                        raise _invalid(f"{field}.{money}.currency")
                    if not isinstance(value.get("amount"), (int, float)) or value["amount"] < 0:
                        raise _invalid(f"{field}.{money}.amount")
            hs = commodity.get("harmonizedCode")
            if hs is not None and not HS_CODE.fullmatch(str(hs)):
                raise Refusal(
                    "COMMODITY.HARMONIZEDCODE.INVALID",
                    "Harmonized code must be 6 to 10 digits.",
                    f"{field}.harmonizedCode",
                )

    @staticmethod
    def _international(shipment: Mapping[str, Any], recipient: Mapping[str, Any]) -> bool:
        shipper = (shipment.get("shipper") or {}).get("address") or {}
        return bool(shipper.get("countryCode") != recipient.get("countryCode"))

    # ------------------------------------------------------------ rates

    def _prices(self, service: str, kilos: float, origin: str) -> tuple[Decimal, Decimal, str]:
        base = {"FEDEX_GROUND": 9, "FEDEX_2_DAY": 24, "PRIORITY_OVERNIGHT": 46}.get(service, 38)
        per_kg = {"INTERNATIONAL_ECONOMY": 9, "FEDEX_INTERNATIONAL_CONNECT_PLUS": 7}.get(service, 12)
        listed = (Decimal(base) + Decimal(str(round(kilos, 2))) * per_kg).quantize(Decimal("0.01"))
        account = (listed * Decimal("0.82")).quantize(Decimal("0.01"))
        return account, listed, CURRENCY.get(origin, "USD")

    def _rates(self, request: Request, account: Account) -> Reply:
        body = _obj(request.json(), "body")
        self._account(body, account)
        shipment = _obj(body.get("requestedShipment"), "requestedShipment")
        shipper = self._address(
            (shipment.get("shipper") or {}).get("address"), "requestedShipment.shipper.address", street=False
        )
        recipient = self._address(
            (shipment.get("recipient") or {}).get("address"),
            "requestedShipment.recipient.address",
            street=False,
        )
        _enum(shipment.get("pickupType"), PICKUP_TYPES, "requestedShipment.pickupType")
        wanted = shipment.get("serviceType")
        if wanted is not None and wanted not in SERVICE_TYPES:
            raise Refusal(
                "SHIPMENT.SERVICETYPE.INVALID", "Invalid service type.", "requestedShipment.serviceType"
            )
        for kind in shipment.get("rateRequestType") or []:
            _enum(kind, RATE_REQUEST_TYPES, "requestedShipment.rateRequestType")
        packages = self._packages(shipment.get("requestedPackageLineItems"), wanted)
        international = self._international(shipment, recipient)
        if international:
            self._customs(shipment, ship=False)
        kilos = sum(
            p["weight"]["value"] * (1 if p["weight"]["units"] == "KG" else 0.45359237) for p in packages
        )
        services: tuple[str, ...] = INTERNATIONAL if international else DOMESTIC
        if wanted:
            services = tuple(s for s in services if s == wanted)
            if not services:
                raise Refusal(
                    "SERVICE.UNAVAILABLE.ERROR",
                    "Service is not available for this route.",
                    "serviceType",
                    400,
                )
        day = _day(shipment.get("shipDateStamp")) or datetime.now(UTC).date()
        replies = []
        for service in services:
            words = f"{WORDS[TRANSIT[service] - 1]}_DAY{'S' if TRANSIT[service] > 1 else ''}"
            net, listed, currency = self._prices(service, kilos, str(shipper["countryCode"]))
            days = TRANSIT[service]
            replies.append(
                {
                    "serviceType": service,
                    "serviceName": SERVICE_NAMES[service],
                    "packagingType": "YOUR_PACKAGING",
                    "ratedShipmentDetails": [
                        {"rateType": "ACCOUNT", "totalNetCharge": float(net), "currency": currency,
                         "shipmentRateDetail": {"currency": currency}},
                        {"rateType": "LIST", "totalNetCharge": float(listed), "currency": currency,
                         "shipmentRateDetail": {"currency": currency}},
                    ],
                    "commit": {
                        "dateDetail": {"dayFormat": f"{(day + timedelta(days=days)).isoformat()}T18:00:00"},
                        "transitDays": {"minimumTransitTime": words},
                    },
                    "operationalDetail": {"transitTime": words},
                }
            )  # fmt: skip
        return self._ok({"rateReplyDetails": replies, "quoteDate": day.isoformat(), "isEncoded": False})

    # ------------------------------------------------------------ ship and cancel

    def _ship(self, request: Request, account: Account) -> Reply:
        body = _obj(request.json(), "body")
        self._account(body, account)
        options = _enum(body.get("labelResponseOptions"), LABEL_RESPONSE_OPTIONS, "labelResponseOptions")
        shipment = _obj(body.get("requestedShipment"), "requestedShipment")
        shipper = _obj(shipment.get("shipper"), "requestedShipment.shipper")
        self._address(shipper.get("address"), "requestedShipment.shipper.address", street=True)
        self._contact(shipper, "requestedShipment.shipper")
        recipients = _list(shipment.get("recipients"), "requestedShipment.recipients")
        recipient_party = _obj(recipients[0], "requestedShipment.recipients[0]")
        recipient = self._address(
            recipient_party.get("address"), "requestedShipment.recipients[0].address", street=True
        )
        self._contact(recipient_party, "requestedShipment.recipients[0]")
        service = shipment.get("serviceType")
        if service not in SERVICE_TYPES:
            raise Refusal(
                "SHIPMENT.SERVICETYPE.INVALID", "Invalid service type.", "requestedShipment.serviceType"
            )
        _enum(shipment.get("pickupType"), PICKUP_TYPES, "requestedShipment.pickupType")
        if not isinstance(shipment.get("packagingType"), str):
            raise _invalid("requestedShipment.packagingType")
        stamp = shipment.get("shipDatestamp")
        if stamp is not None and not (isinstance(stamp, str) and YMD.fullmatch(stamp)):
            raise _invalid("requestedShipment.shipDatestamp", "Ship date must be YYYY-MM-DD")
        if not isinstance(shipment.get("totalWeight"), (int, float)):
            raise _invalid("requestedShipment.totalWeight")
        payment = _obj(shipment.get("shippingChargesPayment"), "requestedShipment.shippingChargesPayment")
        _enum(
            payment.get("paymentType"), PAYMENT_TYPES, "requestedShipment.shippingChargesPayment.paymentType"
        )
        spec = _obj(shipment.get("labelSpecification"), "requestedShipment.labelSpecification")
        image = _enum(spec.get("imageType"), IMAGE_TYPES, "requestedShipment.labelSpecification.imageType")
        _enum(spec.get("labelStockType"), LABEL_STOCKS, "requestedShipment.labelSpecification.labelStockType")
        packages = self._packages(shipment.get("requestedPackageLineItems"), str(service))
        international = self._international(shipment, recipient)
        if international:
            if service not in (*INTERNATIONAL, "INTERNATIONAL_FIRST", "FEDEX_INTERNATIONAL_PRIORITY_EXPRESS"):
                raise Refusal(
                    "SHIPMENT.SERVICETYPE.INVALID",
                    f"{service} is not available for an international shipment.",
                    "serviceType",
                )
            self._customs(shipment, ship=True)
        elif service in INTERNATIONAL:
            raise Refusal(
                "SHIPMENT.SERVICETYPE.INVALID", f"{service} is for international shipments.", "serviceType"
            )
        references = [
            ref.get("value")
            for ref in packages[0].get("customerReferences") or []
            if ref.get("customerReferenceType") == "CUSTOMER_REFERENCE"
        ]
        record = self.book.buy(str(references[0]) if references else "", str(service), len(packages), body)
        return self._ok(
            self._ship_output(record, options, image, international, str(shipper["address"]["countryCode"]))
        )

    def _ship_output(
        self, record: ParcelRecord, options: str, image: str, international: bool, origin: str
    ) -> dict[str, Any]:
        master = record.tracking_numbers[0]
        pieces = []
        for i, number in enumerate(record.tracking_numbers, 1):
            doc: dict[str, Any] = {"contentType": "LABEL", "copiesToPrint": 1, "trackingNumber": number}
            if options == "URL_ONLY":
                doc["url"] = (
                    f"https://emulated.fedex.invalid/document/v2/document/retrieve/SH,{number}/isLabel=true"
                )
                doc["docType"] = image
            else:
                content = self._label(image, number, record)
                doc["encodedLabel"] = base64.b64encode(content).decode()
                doc["docType"] = "ZPLII" if image == "ZPLII" else image
            pieces.append(
                {
                    "trackingNumber": number,
                    "masterTrackingNumber": master,
                    "packageSequenceNumber": i,
                    "deliveryDatestamp": (
                        date.today() + timedelta(days=TRANSIT.get(record.service, 3))
                    ).isoformat(),
                    "packageDocuments": [doc],
                }
            )
        documents = []
        if international:
            invoice = pdf_document("COMMERCIAL INVOICE", f"AWB {master}", record.reference)
            documents.append(
                {"contentType": "COMMERCIAL_INVOICE", "docType": "PDF", "copiesToPrint": 1,
                 "encodedLabel": base64.b64encode(invoice).decode()}
            )  # fmt: skip
        kilos = sum(
            p["weight"]["value"] for p in record.request["requestedShipment"]["requestedPackageLineItems"]
        )
        net, _listed, currency = self._prices(record.service, float(kilos), origin)
        return {
            "transactionShipments": [
                {
                    "masterTrackingNumber": master,
                    "serviceType": record.service,
                    "serviceName": SERVICE_NAMES.get(record.service, record.service),
                    "shipDatestamp": record.request["requestedShipment"].get("shipDatestamp"),
                    "pieceResponses": pieces,
                    "shipmentDocuments": documents,
                    "completedShipmentDetail": {
                        "shipmentRating": {
                            "actualRateType": "PAYOR_ACCOUNT_SHIPMENT",
                            "shipmentRateDetails": [
                                {
                                    "rateType": "PAYOR_ACCOUNT_SHIPMENT",
                                    "totalNetCharge": float(net),
                                    "currency": currency,
                                }
                            ],
                        }
                    },
                }
            ]
        }

    @staticmethod
    def _label(image: str, number: str, record: ParcelRecord) -> bytes:
        lines = ("FedEx", record.service, f"TRK# {number}", record.reference)
        if image == "ZPLII":
            return zpl_document(*lines)
        if image == "PNG":
            return png_document()
        return pdf_document(*lines)

    def _cancel(self, request: Request, account: Account) -> Reply:
        body = _obj(request.json(), "body")
        self._account(body, account)
        number = body.get("trackingNumber")
        if not isinstance(number, str) or not number:
            raise _invalid("trackingNumber", "Tracking number is required")
        if body.get("deletionControl") not in (None, "DELETE_ALL_PACKAGES"):
            raise _invalid("deletionControl")
        record = self.book.by_tracking.get(number)
        if record is None or record.request["accountNumber"]["value"] != account.account_number:
            raise Refusal(
                "TRACKINGNUMBER.NOTFOUND",
                "Tracking number cannot be found for this account.",
                "trackingNumber",
            )
        if record.voided:
            return self._ok({"cancelledShipment": False, "message": "Shipment has already been cancelled.",
                             "alerts": [{"code": "SHIPMENT.ALREADY.CANCELLED", "alertType": "WARNING",
                                         "message": "Shipment has already been cancelled."}]})  # fmt: skip
        if record.handed_over:
            return self._ok({"cancelledShipment": False, "message": "Shipment has been tendered to FedEx.",
                             "alerts": [{"code": "SHIPMENT.TENDERED.CANNOT.CANCEL", "alertType": "WARNING",
                                         "message": TENDERED}]})  # fmt: skip
        record.voided = True
        record.scans.append((datetime.now(UTC), TrackingStatus.CANCELLED, None))
        return self._ok(
            {
                "cancelledShipment": True,
                "cancelledHistory": True,
                "message": "Shipment is successfully cancelled",
            }
        )

    # ------------------------------------------------------------ tracking

    def scan(
        self,
        tracking_number: str,
        status: TrackingStatus,
        reason: TrackingReason | None = None,
        at: datetime | None = None,
    ) -> None:
        self.book.scan(tracking_number, status, reason, at)

    def labels_bought(self, reference: str) -> int:
        return self.book.bought(reference)

    def tracking_push(self, tracking_number: str) -> tuple[Mapping[str, str], bytes]:
        raise NotImplementedError("FedEx pushes (Advanced Integrated Visibility webhooks) are not emulated")

    def _scan_events(self, record: ParcelRecord) -> list[dict[str, Any]]:
        # FedEx gives each scan's local time with its offset: this origin is UTC+8
        local = timezone(timedelta(hours=8))
        events = []
        for when, status, reason in sorted(record.scans, key=lambda s: s[0]):
            code, text = EVENTS[status]
            if status == TrackingStatus.ON_HOLD and reason in (
                TrackingReason.CUSTOMS_HOLD, TrackingReason.CUSTOMS_DOCUMENTS, TrackingReason.DUTIES_UNPAID
            ):  # fmt: skip
                code, text = "CD", "Clearance delay"
            event: dict[str, Any] = {
                "date": when.astimezone(local).isoformat(timespec="seconds"),
                "eventType": code,
                "eventDescription": text,
                "derivedStatusCode": code,
                "scanLocation": {"city": "SINGAPORE", "countryCode": "SG"},
            }
            if reason is not None:
                event["exceptionCode"], event["exceptionDescription"] = EXCEPTIONS[reason]
            events.append(event)
        return list(reversed(events))  # newest first, as FedEx lists them

    def _result(self, number: str, record: ParcelRecord) -> dict[str, Any]:
        events = self._scan_events(record)
        latest = events[0]
        detail: dict[str, Any] = {
            "code": latest["eventType"],
            "derivedCode": latest["eventType"],
            "statusByLocale": latest["eventDescription"],
            "description": latest["eventDescription"],
        }
        if latest.get("exceptionCode"):
            detail["ancillaryDetails"] = [
                {"reason": latest["exceptionCode"], "reasonDescription": latest["exceptionDescription"]}
            ]
        window_day = (date.today() + timedelta(days=TRANSIT.get(record.service, 3))).isoformat()
        return {
            "trackingNumberInfo": {"trackingNumber": number, "carrierCode": "FDXE"},
            "latestStatusDetail": detail,
            "scanEvents": events,
            "estimatedDeliveryTimeWindow": {
                "window": {"begins": f"{window_day}T09:00:00", "ends": f"{window_day}T18:00:00"}
            },
            "serviceDetail": {
                "type": record.service,
                "description": SERVICE_NAMES.get(record.service, record.service),
            },
        }

    @staticmethod
    def _not_found(number: str) -> dict[str, Any]:
        return {
            "trackingNumber": number,
            "trackResults": [
                {
                    "trackingNumberInfo": {
                        "trackingNumber": number,
                        "trackingNumberUniqueId": "",
                        "carrierCode": "",
                    },
                    "error": {
                        "code": "TRACKING.TRACKINGNUMBER.NOTFOUND",
                        "message": NOT_FOUND,
                    },
                }
            ],
        }

    def _track(self, request: Request, account: Account) -> Reply:
        body = _obj(request.json(), "body")
        if not isinstance(body.get("includeDetailedScans"), bool):
            raise _invalid("includeDetailedScans")
        infos = body.get("trackingInfo")
        if not isinstance(infos, list) or not infos:
            raise Refusal("TRACKING.TRACKINGNUMBER.EMPTY", "Please provide tracking number.", "trackingInfo")
        if len(infos) > MAX_TRACK:
            raise _invalid("trackingInfo", f"At most {MAX_TRACK} tracking numbers per request")
        results = []
        for i, info in enumerate(infos):
            number = (_obj(info, f"trackingInfo[{i}]").get("trackingNumberInfo") or {}).get("trackingNumber")
            if not isinstance(number, str) or not number.strip():
                raise Refusal(
                    "TRACKING.TRACKINGNUMBER.EMPTY", "Please provide tracking number.", f"trackingInfo[{i}]"
                )
            record = self.book.by_tracking.get(number)
            if record is None:
                results.append(self._not_found(number))
                continue
            result = self._result(number, record)
            if not body["includeDetailedScans"]:
                result["scanEvents"] = result["scanEvents"][:1]
            results.append({"trackingNumber": number, "trackResults": [result]})
        return self._ok({"completeTrackResults": results})

    def _track_references(self, request: Request, account: Account) -> Reply:
        body = _obj(request.json(), "body")
        info = _obj(body.get("referencesInformation"), "referencesInformation")
        kind = info.get("type", "CUSTOMER_REFERENCE")
        _enum(kind, REFERENCE_TYPES, "referencesInformation.type")
        value = info.get("value")
        if not isinstance(value, str) or not value:
            raise _invalid("referencesInformation.value", "Reference value is required")
        begin, end = _day(info.get("shipDateBegin")), _day(info.get("shipDateEndDate"))
        if begin is None or end is None or end < begin:
            raise _invalid("referencesInformation.shipDateBegin", "Ship date range is required (YYYY-MM-DD)")
        number = info.get("accountNumber")
        if not number and not (info.get("destinationPostalCode") and info.get("destinationCountryCode")):
            raise Refusal(
                "TRACKING.REFERENCE.ACCOUNTORDESTINATION.REQUIRED",
                "Either account number or destination postal code and country code are required.",
                "referencesInformation",
            )
        if number and number != account.account_number:
            raise Refusal(
                "ACCOUNTNUMBER.REGISTRATION.REQUIRED",
                "Invalid account number.",
                "referencesInformation.accountNumber",
            )
        results = []
        for record in self.book.by_reference.get(value, []) if kind == "CUSTOMER_REFERENCE" else []:
            shipment = record.request["requestedShipment"]
            shipped = _day(shipment.get("shipDatestamp")) or date.today()
            if not begin <= shipped <= end:
                continue
            to = shipment["recipients"][0]["address"]
            if info.get("destinationCountryCode") not in (None, to.get("countryCode")):
                continue
            if info.get("destinationPostalCode") not in (None, to.get("postalCode")):
                continue
            for tracking in record.tracking_numbers:
                results.append({"trackingNumber": tracking, "trackResults": [self._result(tracking, record)]})
        if not results:
            results.append(
                {
                    "trackResults": [
                        {
                            "error": {
                                "code": "TRACKING.REFERENCENUMBER.NOTFOUND",
                                "message": "Reference number cannot be found.",
                            }
                        }
                    ]
                }
            )
        return self._ok({"completeTrackResults": results})

    # ------------------------------------------------------------ pickups and addresses

    def _pickup(self, request: Request, account: Account) -> Reply:
        body = _obj(request.json(), "body")
        self._account(body, account, "associatedAccountNumber")
        origin = _obj(body.get("originDetail"), "originDetail")
        location = _obj(origin.get("pickupLocation"), "originDetail.pickupLocation")
        self._address(location.get("address"), "originDetail.pickupLocation.address", street=True)
        ready = origin.get("readyDateTimestamp")
        try:
            ready_at = datetime.strptime(str(ready), "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            raise _invalid("originDetail.readyDateTimestamp", "Format must be YYYY-MM-DDTHH:MM:SS") from None
        if ready_at.date() < date.today() - timedelta(days=1):
            raise Refusal(
                "PICKUP.READYDATE.INVALID",
                "Ready date cannot be in the past.",
                "originDetail.readyDateTimestamp",
            )
        close = str(origin.get("customerCloseTime") or "")
        if not re.fullmatch(r"\d{2}:\d{2}:\d{2}", close):
            raise _invalid("originDetail.customerCloseTime", "Format must be HH:MM:SS")
        if close <= ready_at.strftime("%H:%M:%S"):
            raise Refusal(
                "PICKUP.CLOSETIME.INVALID",
                "Customer close time must be after the ready time.",
                "originDetail.customerCloseTime",
            )
        _enum(body.get("carrierCode"), {"FDXE", "FDXG"}, "carrierCode")
        code = str(1000 + len(self.pickups) + 1)
        self.pickups[code] = body
        return self._ok({"pickupConfirmationCode": code, "message": "Courier on the way", "location": "COSA"})

    def _resolve(self, request: Request, account: Account) -> Reply:
        body = _obj(request.json(), "body")
        entries = _list(body.get("addressesToValidate"), "addressesToValidate")
        resolved = []
        for i, entry in enumerate(entries):
            address = _obj(
                _obj(entry, f"addressesToValidate[{i}]").get("address"), f"addressesToValidate[{i}].address"
            )
            country = address.get("countryCode")
            if not isinstance(country, str) or not re.fullmatch(r"[A-Z]{2}", country):
                raise _invalid(f"addressesToValidate[{i}].address.countryCode")
            lines = [str(x) for x in address.get("streetLines") or [] if str(x).strip()]
            city, postal = str(address.get("city") or ""), str(address.get("postalCode") or "")
            ok = bool(lines and city and (postal or country not in POSTAL_AWARE))
            messages = (
                []
                if ok
                else [
                    {"code": "STANDARDIZED.ADDRESS.NOTFOUND", "message": "Standardized address is not found."}
                ]
            )
            if not city:
                messages.append({"code": "CITY.MISSING", "message": "City is missing."})
            if country in POSTAL_AWARE and not postal:
                messages.append({"code": "POSTAL.CODE.MISSING", "message": "Postal code is missing."})
            resolved.append(
                {
                    "streetLinesToken": [line.upper() for line in lines],
                    "city": city.upper(),
                    "stateOrProvinceCode": address.get("stateOrProvinceCode", ""),
                    "postalCode": postal,
                    "countryCode": country,
                    "classification": "UNKNOWN",
                    "customerMessages": messages,
                    "attributes": {
                        "Resolved": "true" if ok else "false",
                        "DPV": "true" if ok and country == "US" else "false",
                        "AddressType": "STANDARDIZED" if ok else "RAW",
                        "InvalidSuiteNumber": "false",
                    },
                }
            )
        return self._ok({"resolvedAddresses": resolved})


def _day(value: Any) -> date | None:
    if not isinstance(value, str) or not YMD.fullmatch(value[:10]):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None
