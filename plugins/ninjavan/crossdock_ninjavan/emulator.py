"""A local Ninja API: the endpoints the plugin uses, refusing what Ninja Van refuses, in
its error envelope, with the kit's injected faults.

Served paths (``{cc}`` is the country code, either case): ``POST /{cc}/2.0/oauth/access_token``,
``POST /{cc}/4.2/orders``, ``DELETE /{cc}/2.2/orders/{trackingNo}``,
``GET /{cc}/2.0/reports/waybill``, ``GET /{cc}/1.0/orders/tracking-events``. Tokens expire
(``token_ttl``, :meth:`NinjaVanEmulator.expire_tokens`); webhooks are produced, signed as
Ninja Van signs them, by :meth:`NinjaVanEmulator.tracking_push`.

Which rules are documented and which are this emulator's assumption is in the README.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from crossdock.providers import TrackingReason, TrackingStatus
from crossdock.testing.carriers import ParcelBook, ParcelRecord, pdf_document
from crossdock.testing.emulator import Emulator, Faults, Reply, Request, credentials_guard
from crossdock_ninjavan.mapping import COUNTRIES, POSTCODES, RTN_MIN, RTN_PATTERN, TIMESLOTS
from crossdock_ninjavan.signing import SIGNATURE_HEADER, signature

__all__ = ["NinjaVanEmulator", "event_for"]

SERVICE_TYPES = (
    "Parcel",
    "Document",
    "Return",
    "Marketplace",
    "Corporate",
    "Corporate Document",
    "Bulky",
    "International",
)
SERVICE_LEVELS = ("Standard", "Express", "Sameday", "Nextday")
APPROX_VOLUMES = (
    "Full-Van Load",
    "Half-Van Load",
    "Larger than Van Load",
    "Less than 10 Parcels",
    "Less than 3 Parcels",
    "Trolley Required",
)
RAW_QUERY = "x-emulator-raw-query"
DATE = re.compile(r"^[12]\d{3}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
TITLES = {
    400: "Invalid Data",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
}
CUSTOMS = (TrackingReason.CUSTOMS_HOLD, TrackingReason.CUSTOMS_DOCUMENTS, TrackingReason.DUTIES_UNPAID)
#: the free text a driver's app gives for a failed attempt (matched by words in mapping)
FAILURE_TEXT = {
    TrackingReason.RECIPIENT_UNAVAILABLE: "Nobody at address",
    TrackingReason.ADDRESS_ISSUE: "Unable to find address",
    TrackingReason.REFUSED: "Customer refused to accept parcel",
    TrackingReason.WEATHER: "Bad weather",
    TrackingReason.CARRIER_DELAY: "Insufficient time to deliver",
    TrackingReason.PROHIBITED: "Prohibited item",
    TrackingReason.CUSTOMS_HOLD: "Held by customs",
    TrackingReason.CUSTOMS_DOCUMENTS: "Customs documents required",
    TrackingReason.DUTIES_UNPAID: "Duties and taxes unpaid",
    TrackingReason.OTHER: "Others",
}


def event_for(status: TrackingStatus, reason: TrackingReason | None) -> str:
    """The Ninja Van event (webhooks v2, tracking events) for a scan of the emulator."""
    S, R = TrackingStatus, TrackingReason
    if status == S.DELIVERY_FAILED and reason == R.LOST:
        return "Delivery Exception, Parcel Lost"
    if status == S.DELIVERY_FAILED and reason == R.DAMAGED:
        return "Delivery Exception, Parcel Damaged"
    if status == S.ON_HOLD:
        return (
            "International Transit, Customs Held"
            if reason in CUSTOMS
            else "International Transit, Parcel Exception"
        )
    return {
        S.PENDING: "Pending Pickup",
        S.PICKED_UP: "Picked Up, In Transit To Origin Hub",
        S.IN_TRANSIT: "Arrived at Origin Hub",
        S.DELIVERY_DELAYED: "Delivery Exception, Reattempt Scheduled",
        S.OUT_FOR_DELIVERY: "On Vehicle for Delivery",
        S.READY_FOR_PICKUP: "At PUDO, Pending Customer Collection",
        S.DELIVERY_FAILED: "Delivery Exception, Pending Reschedule",
        S.DELIVERED: "Delivered, Received by Customer",
        S.RETURN_TO_SENDER: "Returned to Sender",
        S.CANCELLED: "Cancelled",
    }.get(status, "Parcel Measurements Update")


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


@dataclass
class Shipper:
    client_id: str
    client_secret: str
    country: str
    shipper_id: int
    prefix: str
    #: requested tracking number -> tracking number
    requested: dict[str, str] = field(default_factory=dict)
    numbers: set[str] = field(default_factory=set)


class _Book(ParcelBook):
    def open(self, reference: str, service: str, number: str, request: Any) -> ParcelRecord:
        """A sale whose tracking number Ninja Van made from the requested one."""
        n = next(self._ids)
        record = ParcelRecord(f"{self.prefix}-S{n:06d}", reference, [number], service, request)
        record.scans.append((datetime.now(UTC), TrackingStatus.PENDING, None))
        self.by_reference.setdefault(reference, []).append(record)
        self.by_shipment[record.shipment_id] = record
        self.by_tracking[number] = record
        return record


class NinjaVanEmulator(Emulator):
    name = "ninjavan"
    default_site = "SG"
    fault_free = frozenset(
        f"/{cc}/2.0/oauth/access_token" for code in COUNTRIES for cc in (code, code.lower())
    )

    def __init__(
        self,
        faults: Faults | None = None,
        *,
        clock: Callable[[], float] = time.time,
        token_ttl: int = 43200,
        max_weight_kg: float = 30.0,
    ) -> None:
        super().__init__(faults)
        self.clock = clock
        self.token_ttl = token_ttl
        self.max_weight_kg = max_weight_kg
        self.book = _Book("NV")
        self.shippers: dict[str, Shipper] = {}
        self.tokens: dict[str, tuple[str, float]] = {}  # token -> (client id, expires at)
        self.log: list[Request] = []  # every API request as received
        self.guard = credentials_guard(
            lambda: self.clock(),
            refused=lambda: self._unauthorized("INVALID_ACCESS_TOKEN", "The access token is invalid."),
            missing=lambda: self._unauthorized("MISSING_ACCESS_TOKEN", "An access token is required."),
            expired=lambda: self._unauthorized("EXPIRED_ACCESS_TOKEN", "The access token has expired."),
        )
        cc = r"([A-Za-z]{2})"
        self.route_pattern("POST", rf"/{cc}/2\.0/oauth/access_token", self._token)
        self.route_pattern("POST", rf"/{cc}/4\.2/orders", self._create)
        self.route_pattern("DELETE", rf"/{cc}/2\.2/orders/([^/]+)", self._cancel)
        self.route_pattern("GET", rf"/{cc}/2\.0/reports/waybill", self._waybill)
        self.route_pattern("GET", rf"/{cc}/1\.0/orders/tracking-events", self._tracking)

    # ------------------------------------------------------------ ASGI

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # the kit's Request keeps one value per query key; the raw query string rides along
        # in a header of our own, for parameters Ninja Van takes repeated
        if scope.get("type") == "http":
            raw = scope.get("query_string", b"")
            scope = {**scope, "headers": [*scope.get("headers", ()), (RAW_QUERY.encode(), raw)]}
        await super().__call__(scope, receive, send)

    @staticmethod
    def query_values(request: Request, key: str) -> list[str]:
        """Every value of ``key`` in the request's query: repeated, or comma-separated."""
        pairs = parse_qsl(request.headers.get(RAW_QUERY, ""), keep_blank_values=True)
        return [part.strip() for k, v in pairs if k == key for part in v.split(",") if part.strip()]

    # ------------------------------------------------------------ envelope

    def error_body(self, status: int, code: str, message: str) -> Any:
        return self._envelope(status, code, message)

    def _envelope(
        self, status: int, code: str, message: str, details: list[dict[str, str]] | None = None
    ) -> dict[str, Any]:
        return {
            "error": {
                "code": code,
                "request_id": str(uuid.uuid4()),
                "title": TITLES.get(status, "Error"),
                "message": message,
                "details": details or [],
            }
        }

    def _fail(
        self, status: int, code: str, message: str, details: list[dict[str, str]] | None = None
    ) -> Reply:
        return Reply(status, self._envelope(status, code, message, details))

    def _unauthorized(self, code: str, message: str) -> Reply:
        return self._fail(401, code, message)

    def _shipper(self, request: Request) -> Shipper | Reply:
        self.log.append(request)
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        held = self.tokens.get(token)
        shipper = self.shippers.get(held[0]) if held else None
        checked: Shipper | Reply = self.guard.check(token, shipper, expires_at=held[1] if held else None)
        if isinstance(checked, Reply):
            return checked
        if request.args[0].upper() != checked.country:
            return self._fail(
                403,
                "FORBIDDEN",
                f"the account is not allowed in {request.args[0].upper()} (it ships from {checked.country})",
            )
        return checked

    # ------------------------------------------------------------ seller side

    def open_account(self, site: str | None = None) -> dict[str, Any]:
        country = (site or self.default_site).upper()
        shipper = Shipper(
            client_id=secrets.token_hex(16),
            client_secret=secrets.token_urlsafe(24),
            country=country,
            shipper_id=100000 + len(self.shippers) + 1,
            prefix=f"NV{country}CD{len(self.shippers) + 1}",
        )
        self.shippers[shipper.client_id] = shipper
        return {
            "client_id": shipper.client_id,
            "client_secret": shipper.client_secret,
            "country_code": country,
            "shipper_prefix": shipper.prefix,
        }

    def labels_bought(self, reference: str) -> int:
        return self.book.bought(reference)

    def expire_tokens(self) -> None:
        now = self.clock()
        self.tokens = {token: (client, now - 1) for token, (client, _) in self.tokens.items()}

    def scan(
        self,
        tracking_number: str,
        status: TrackingStatus,
        reason: TrackingReason | None = None,
        at: datetime | None = None,
    ) -> None:
        self.book.scan(tracking_number, status, reason, at)

    def _owner(self, record: ParcelRecord) -> Shipper:
        number = record.tracking_numbers[0]
        return next(s for s in self.shippers.values() if number in s.numbers)

    def push_payload(self, tracking_number: str, index: int = -1) -> dict[str, Any]:
        """A webhook v2 body for one scan of the parcel (the latest by default)."""
        record = self.book.by_tracking[tracking_number]
        at, status, reason = record.scans[index]
        event = event_for(status, reason)
        payload: dict[str, Any] = {
            "shipper_id": self._owner(record).shipper_id,
            "tracking_id": tracking_number,
            "shipper_order_ref_no": record.reference,
            "timestamp": _stamp(at),
            "event": event,
            "status": event.partition(",")[0],
            "is_parcel_on_rts_leg": status == TrackingStatus.RETURN_TO_SENDER,
        }
        text = FAILURE_TEXT.get(reason) if reason is not None else None
        if status in (TrackingStatus.DELIVERY_FAILED, TrackingStatus.DELIVERY_DELAYED) and text:
            payload["delivery_exception"] = {"state": event.partition(", ")[2], "failure_reason": text}
        elif status == TrackingStatus.PENDING and text:
            payload["pickup_exception"] = {"state": "Pending Reschedule", "failure_reason": text}
        elif status == TrackingStatus.ON_HOLD:
            payload["international_transit_information"] = {
                "state": event.partition(", ")[2],
                "remark": text or "",
            }
        return payload

    def tracking_push(self, tracking_number: str) -> tuple[dict[str, str], bytes]:
        """The signed webhook Ninja Van POSTs about the parcel's latest status."""
        record = self.book.by_tracking[tracking_number]
        body = json.dumps(self.push_payload(tracking_number), separators=(",", ":")).encode()
        secret = self._owner(record).client_secret
        return {SIGNATURE_HEADER: signature(secret, body), "Content-Type": "application/json"}, body

    # ------------------------------------------------------------ OAuth

    async def _token(self, request: Request) -> Reply:
        self.log.append(request)
        body = request.json()
        if not isinstance(body, dict):
            return self._fail(400, "INVALID_REQUEST", "the body must be a JSON object")
        missing = [k for k in ("client_id", "client_secret", "grant_type") if not body.get(k)]
        if missing:
            details = [
                {"field": k, "reason": "Validation Error", "message": f"{k} is required"} for k in missing
            ]
            return self._fail(
                400, "INVALID_REQUEST", "Please check your request payload for validation errors.", details
            )
        if body["grant_type"] != "client_credentials":
            return self._fail(400, "UNSUPPORTED_GRANT_TYPE", "grant_type must be client_credentials")
        shipper = self.shippers.get(str(body["client_id"]))
        if shipper is None or not secrets.compare_digest(str(body["client_secret"]), shipper.client_secret):
            return self._unauthorized("INVALID_CLIENT", "Invalid client_id or client_secret.")
        if request.args[0].upper() != shipper.country:
            return self._fail(403, "FORBIDDEN", f"the account is not allowed in {request.args[0].upper()}")
        token = secrets.token_urlsafe(24)
        expires = int(self.clock()) + self.token_ttl
        self.tokens[token] = (shipper.client_id, float(expires))
        return Reply(
            200,
            {"access_token": token, "expires": expires, "expires_in": self.token_ttl, "token_type": "bearer"},
        )

    # ------------------------------------------------------------ orders

    def _party_errors(self, side: str, party: Any, path_country: str, domestic: bool) -> list[dict[str, str]]:
        def bad(field: str, message: str) -> dict[str, str]:
            return {"field": f"{side}.{field}", "reason": "Validation Error", "message": message}

        if not isinstance(party, dict):
            return [bad("", f"{side} is required")]
        errors = []
        name = party.get("name")
        if not isinstance(name, str) or not 3 <= len(name.strip()) <= 255:
            errors.append(bad("name", "name must be 3 to 255 characters"))
        phone, email = party.get("phone_number"), party.get("email")
        if not phone and not email:
            errors.append(bad("phone_number", "either phone_number or email is required"))
        if phone and (not isinstance(phone, str) or not 6 <= len(phone) <= 32):
            errors.append(bad("phone_number", "phone_number must be 6 to 32 characters"))
        if email and (not isinstance(email, str) or "@" not in email):
            errors.append(bad("email", "email is not a valid address"))
        address = party.get("address")
        if not isinstance(address, dict):
            return [*errors, bad("address", "address is required")]
        if not isinstance(address.get("address1"), str) or not address["address1"].strip():
            errors.append(bad("address.address1", "address1 is required"))
        country = address.get("country")
        if country not in COUNTRIES:
            errors.append(bad("address.country", f"country must be one of {', '.join(COUNTRIES)}"))
            return errors
        if domestic and country != path_country:
            errors.append(
                bad(
                    "address.country",
                    f"country {country} does not match the request's country {path_country}",
                )
            )
        pattern, required = POSTCODES[country]
        postcode = address.get("postcode")
        if postcode in (None, ""):
            if required:
                errors.append(bad("address.postcode", f"postcode is required for {country}"))
        elif not isinstance(postcode, str) or not pattern.match(postcode):
            errors.append(bad("address.postcode", f"postcode {postcode!r} is not a valid {country} postcode"))
        return errors

    def _job_errors(self, job: Any, international: bool) -> list[dict[str, str]]:
        def bad(field: str, message: str) -> dict[str, str]:
            return {"field": f"parcel_job.{field}", "reason": "Validation Error", "message": message}

        if not isinstance(job, dict):
            return [bad("", "parcel_job is required")]
        errors = []
        if not isinstance(job.get("is_pickup_required"), bool):
            errors.append(bad("is_pickup_required", "is_pickup_required is required"))
        if not isinstance(job.get("delivery_start_date"), str) or not DATE.match(job["delivery_start_date"]):
            errors.append(bad("delivery_start_date", "delivery_start_date must be yyyy-MM-dd"))
        errors += self._slot_errors(job.get("delivery_timeslot"), "delivery_timeslot", bad)
        if (
            job.get("is_pickup_required") is True
            and job.get("pickup_service_type", "Scheduled") == "Scheduled"
        ):
            if not isinstance(job.get("pickup_date"), str) or not DATE.match(job["pickup_date"]):
                errors.append(bad("pickup_date", "pickup_date must be yyyy-MM-dd for a scheduled pickup"))
            errors += self._slot_errors(job.get("pickup_timeslot"), "pickup_timeslot", bad)
            if job.get("pickup_approx_volume") not in APPROX_VOLUMES:
                errors.append(
                    bad("pickup_approx_volume", "pickup_approx_volume is required for a scheduled pickup")
                )
        dimensions = job.get("dimensions")
        weight = dimensions.get("weight") if isinstance(dimensions, dict) else None
        if not isinstance(weight, int | float) or isinstance(weight, bool) or weight <= 0:
            errors.append(bad("dimensions.weight", "weight (kg) is required and must be positive"))
        elif weight > self.max_weight_kg:
            errors.append(
                bad(
                    "dimensions.weight",
                    f"weight {weight} kg exceeds the maximum of {self.max_weight_kg:g} kg",
                )
            )
        items = job.get("items")
        if international and (not isinstance(items, list) or not items):
            errors.append(bad("items", "items are required for an international order"))
        for i, item in enumerate(items if isinstance(items, list) else ()):
            if not isinstance(item, dict) or not item.get("item_description"):
                errors.append(bad(f"items[{i}].item_description", "item_description is required"))
        return errors

    @staticmethod
    def _slot_errors(slot: Any, name: str, bad: Callable[[str, str], dict[str, str]]) -> list[dict[str, str]]:
        if not isinstance(slot, dict):
            return [bad(name, f"{name} is required")]
        if (slot.get("start_time"), slot.get("end_time")) not in TIMESLOTS:
            return [
                bad(
                    name,
                    f"{name} {slot.get('start_time')}-{slot.get('end_time')} is not an accepted timeslot",
                )
            ]
        if not slot.get("timezone"):
            return [bad(f"{name}.timezone", "timezone is required")]
        return []

    async def _create(self, request: Request) -> Reply:
        shipper = self._shipper(request)
        if isinstance(shipper, Reply):
            return shipper
        body = request.json()
        if not isinstance(body, dict):
            return self._fail(400, "INVALID_REQUEST", "the body must be a JSON object")
        errors: list[dict[str, str]] = []

        def bad(field: str, message: str) -> None:
            errors.append({"field": field, "reason": "Validation Error", "message": message})

        service_type = body.get("service_type")
        if service_type not in SERVICE_TYPES:
            bad("service_type", f"service_type must be one of {', '.join(SERVICE_TYPES)}")
        level = body.get("service_level")
        if level not in SERVICE_LEVELS:
            bad("service_level", f"service_level must be one of {', '.join(SERVICE_LEVELS)}")
        requested = body.get("requested_tracking_number")
        if requested is not None and (
            not isinstance(requested, str) or len(requested) < RTN_MIN or not RTN_PATTERN.match(requested)
        ):
            bad(
                "requested_tracking_number",
                f"requested_tracking_number must be at least {RTN_MIN} letters, digits and single hyphens",
            )
        reference = body.get("reference")
        merchant_ref = reference.get("merchant_order_number") if isinstance(reference, dict) else None
        if merchant_ref is not None and (not isinstance(merchant_ref, str) or len(merchant_ref) > 255):
            bad("reference.merchant_order_number", "merchant_order_number is at most 255 characters")
        international = service_type == "International"
        country = request.args[0].upper()
        errors += self._party_errors("from", body.get("from"), country, not international)
        errors += self._party_errors("to", body.get("to"), country, not international)
        errors += self._job_errors(body.get("parcel_job"), international)
        if errors:
            return self._fail(
                400, "VALIDATION_ERROR", "Please check your request payload for validation errors.", errors
            )
        if isinstance(requested, str) and requested in shipper.requested:
            return self._fail(
                400,
                "DUPLICATE_REQUESTED_TRACKING_NUMBER",
                f"An order with requested tracking number {requested} already exists.",
                [
                    {
                        "field": "requested_tracking_number",
                        "reason": "Duplicate",
                        "message": f"{requested} already exists",
                    }
                ],
            )
        number = shipper.prefix + (
            requested if isinstance(requested, str) else f"{len(shipper.numbers) + 1:09d}"
        )
        if isinstance(requested, str):
            shipper.requested[requested] = number
        shipper.numbers.add(number)
        self.book.open(merchant_ref or number, str(level), number, body)
        return Reply(200, {**body, "tracking_number": number})

    def _record(self, shipper: Shipper, number: str) -> ParcelRecord | None:
        return self.book.by_tracking.get(number) if number in shipper.numbers else None

    async def _cancel(self, request: Request) -> Reply:
        shipper = self._shipper(request)
        if isinstance(shipper, Reply):
            return shipper
        number = request.args[1]
        record = self._record(shipper, number)
        if record is None:
            return self._fail(404, "NOT_FOUND", f"Order {number} not found.")
        if record.voided:
            return self._fail(400, "ORDER_ALREADY_CANCELLED", f"Order {number} is already cancelled.")
        if record.handed_over:
            status = event_for(*record.scans[-1][1:])
            return self._fail(
                400,
                "ORDER_NOT_CANCELLABLE",
                f"Order {number} can only be cancelled while Pending Pickup (it is {status}).",
            )
        record.voided = True
        self.book.scan(number, TrackingStatus.CANCELLED)
        return Reply(
            200, {"trackingId": number, "status": "Cancelled", "updatedAt": _stamp(datetime.now(UTC))}
        )

    # ------------------------------------------------------------ waybills, tracking

    async def _waybill(self, request: Request) -> Reply:
        shipper = self._shipper(request)
        if isinstance(shipper, Reply):
            return shipper
        numbers = [n for n in (request.query.get("tid") or request.query.get("tids") or "").split(",") if n]
        if not numbers:
            return self._fail(400, "VALIDATION_ERROR", "tid is required")
        hide = (request.query.get("hide_shipper_details") or request.query.get("h") or "").lower() in (
            "true",
            "1",
        )
        lines = ["Ninja Van"]
        for number in numbers:
            record = self._record(shipper, number)
            if record is None:
                return self._fail(404, "NOT_FOUND", f"Order {number} not found.")
            order = record.request if isinstance(record.request, dict) else {}
            to = order.get("to", {})
            lines += [
                number,
                f"{record.service} {order.get('service_type', '')}",
                f"To: {to.get('name', '')}",
            ]
            lines.append(
                " ".join(str(to.get("address", {}).get(k, "")) for k in ("address1", "postcode", "country"))
            )
            if not hide:
                lines.append(f"From: {order.get('from', {}).get('name', '')}")
        return Reply(200, pdf_document(*lines), {"content-type": "application/pdf"})

    async def _tracking(self, request: Request) -> Reply:
        shipper = self._shipper(request)
        if isinstance(shipper, Reply):
            return shipper
        numbers = self.query_values(request, "tracking_number")
        if not numbers:
            return self._fail(400, "VALIDATION_ERROR", "tracking_number is required")
        data = []
        for number in numbers:
            record = self._record(shipper, number)
            if record is None:
                continue
            events = []
            for at, status, reason in record.scans:
                event: dict[str, Any] = {
                    "shipper_id": shipper.shipper_id,
                    "tracking_number": number,
                    "shipper_order_ref_no": record.reference,
                    "timestamp": _stamp(at),
                    "status": event_for(status, reason),
                    "is_parcel_on_rts_leg": status == TrackingStatus.RETURN_TO_SENDER,
                }
                if reason is not None and reason in FAILURE_TEXT:
                    event["comments"] = FAILURE_TEXT[reason]
                events.append(event)
            data.append({"tracking_number": number, "is_full_history_available": True, "events": events})
        return Reply(200, {"data": data})
