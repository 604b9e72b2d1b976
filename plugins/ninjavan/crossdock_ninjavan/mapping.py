"""Builders and parsers: Crossdock's shipment values to Ninja API payloads, and back.

Nothing here talks HTTP (that is :mod:`.client`); every function is pure, so the wire
formats are tested without a server. Field names and enums follow the Ninja API order
schema (create order v4.2, tracking events, webhooks v2); the README lists the sources and
what could not be verified.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from crossdock import ChannelError
from crossdock.providers import (
    Address,
    ItemFlag,
    Parcel,
    ShipmentRequest,
    TrackingEvent,
    TrackingReason,
    TrackingResult,
    TrackingStatus,
)

__all__ = [
    "COUNTRIES",
    "EVENTS",
    "POSTCODES",
    "SERVICE_LEVELS",
    "TIMEZONES",
    "build_order",
    "error_message",
    "is_duplicate",
    "parse_time",
    "parse_tracking",
    "parse_webhook_event",
    "reason_from_text",
    "requested_tracking_number",
    "service_level",
    "status_of",
]

#: the country codes the Ninja API serves (address ``country`` enum; the path's prefix)
COUNTRIES = ("SG", "MY", "TH", "ID", "VN", "PH", "MM")
#: local time zone of each country, for the pickup and delivery timeslots
TIMEZONES = {
    "SG": "Asia/Singapore",
    "MY": "Asia/Kuala_Lumpur",
    "TH": "Asia/Bangkok",
    "ID": "Asia/Jakarta",
    "VN": "Asia/Ho_Chi_Minh",
    "PH": "Asia/Manila",
    "MM": "Asia/Yangon",
}
#: postcode shapes: required where a pattern is given with ``True``
POSTCODES: dict[str, tuple[re.Pattern[str], bool]] = {
    "SG": (re.compile(r"^\d{6}$"), True),
    "MY": (re.compile(r"^\d{5}$"), True),
    "TH": (re.compile(r"^\d{5}$"), True),
    "ID": (re.compile(r"^\d{5}$"), True),
    "PH": (re.compile(r"^\d{4}$"), True),
    "VN": (re.compile(r"^\d{6}$"), False),
    "MM": (re.compile(r"^\d{5}$"), False),
}
#: Crossdock's service names (account setting ``service``, the rate card's) -> service_level
SERVICE_LEVELS = {
    "standard": "Standard",
    "express": "Express",
    "sameday": "Sameday",
    "nextday": "Nextday",
}
#: the timeslots the order API accepts (start, end)
TIMESLOTS = (
    ("09:00", "12:00"),
    ("09:00", "18:00"),
    ("09:00", "22:00"),
    ("12:00", "15:00"),
    ("15:00", "18:00"),
    ("18:00", "22:00"),
)
#: requested_tracking_number: alphanumeric groups joined by single hyphens
RTN_PATTERN = re.compile(r"^([a-zA-Z0-9]+-)*[a-zA-Z0-9]+$")
RTN_MIN = 9

S = TrackingStatus
R = TrackingReason

#: Ninja Van's status and event names -> Crossdock's status and, when the name says it, the
#: reason. Webhooks v2 ``event`` names and the tracking-events API's ``status`` share one
#: vocabulary; the legacy (v1) webhook ``status`` names are kept for older accounts.
EVENTS: Mapping[str, tuple[TrackingStatus, TrackingReason | None]] = {
    # pickup (v2)
    "Staging": (S.PENDING, None),
    "Pending Pickup": (S.PENDING, None),
    "Pending Pickup, Shipper Dropoff": (S.PENDING, None),
    "Driver dispatched for Pickup": (S.PENDING, None),
    "Pickup Exception, Pending Reschedule": (S.PENDING, None),
    "Pickup Exception, Reattempt Scheduled": (S.PENDING, None),
    "Pickup Exception, Max Attempts Reached": (S.PENDING, None),
    "Pickup Exception, Pending Retrieval from PUDO": (S.PENDING, None),
    "Picked Up, In Transit To Origin Hub": (S.PICKED_UP, None),
    # line haul (v2)
    "Arrived at Origin Hub": (S.IN_TRANSIT, None),
    "Arrived at Transit Hub": (S.IN_TRANSIT, None),
    "Arrived at Destination Hub": (S.IN_TRANSIT, None),
    "In Transit to Next Sorting Hub": (S.IN_TRANSIT, None),
    # last mile (v2)
    "On Vehicle for Delivery": (S.OUT_FOR_DELIVERY, None),
    "At PUDO, Pending Customer Collection": (S.READY_FOR_PICKUP, None),
    "Delivered": (S.DELIVERED, None),
    "Delivered, Collected by Customer": (S.DELIVERED, None),
    "Delivered, Left at Doorstep": (S.DELIVERED, None),
    "Delivered, Received by Customer": (S.DELIVERED, None),
    "Delivery Exception": (S.DELIVERY_FAILED, None),
    "Delivery Exception, Pending Reschedule": (S.DELIVERY_FAILED, None),
    "Delivery Exception, Reattempt Scheduled": (S.DELIVERY_DELAYED, None),
    "Delivery Exception, Max Attempts Reached": (S.DELIVERY_FAILED, None),
    "Delivery Exception, Parcel Overstayed at PUDO": (S.DELIVERY_FAILED, R.RECIPIENT_UNAVAILABLE),
    "Delivery Exception, Parcel Lost": (S.DELIVERY_FAILED, R.LOST),
    "Delivery Exception, Parcel Damaged": (S.DELIVERY_FAILED, R.DAMAGED),
    "Delivery Exception, Return to Sender Initiated": (S.RETURN_TO_SENDER, None),
    "Returned to Sender": (S.RETURN_TO_SENDER, None),
    "Cancelled": (S.CANCELLED, None),
    "Parcel Measurements Update": (S.UNKNOWN, None),
    # cross-border (v2)
    "International Transit, Customs Held": (S.ON_HOLD, R.CUSTOMS_HOLD),
    "International Transit, Customs Cleared": (S.IN_TRANSIT, None),
    "International Transit, Parcel Exception": (S.ON_HOLD, R.OTHER),
    "International Transit, Parcel Lost": (S.DELIVERY_FAILED, R.LOST),
    "International Transit, Parcel Damaged": (S.DELIVERY_FAILED, R.DAMAGED),
    "International Transit, Parcel Disposed": (S.DELIVERY_FAILED, R.OTHER),
    "International Transit, Returned to Sender at Origin Facility": (S.RETURN_TO_SENDER, None),
    "International Transit, Returned to XB Warehouse": (S.RETURN_TO_SENDER, None),
    # legacy webhooks (v1) status names
    "Van En-route to Pickup": (S.PENDING, None),
    "Pickup Fail": (S.PENDING, None),
    "Successful Pickup": (S.PICKED_UP, None),
    "En-route to Sorting Hub": (S.IN_TRANSIT, None),
    "Arrived at Sorting Hub": (S.IN_TRANSIT, None),
    "Transferred to 3PL": (S.IN_TRANSIT, None),
    "Cross Border Transit": (S.IN_TRANSIT, None),
    "Customs Held": (S.ON_HOLD, R.CUSTOMS_HOLD),
    "Customs Cleared": (S.IN_TRANSIT, None),
    "Arrived at Distribution Point": (S.READY_FOR_PICKUP, None),
    "Pending Pickup at Distribution Point": (S.READY_FOR_PICKUP, None),
    "First Attempt Delivery Fail": (S.DELIVERY_FAILED, None),
    "First Attempt Failure": (S.DELIVERY_FAILED, None),
    "Pending Reschedule": (S.DELIVERY_FAILED, None),
    "On Vehicle for Delivery (RTS)": (S.RETURN_TO_SENDER, None),
    "Return to Sender Triggered": (S.RETURN_TO_SENDER, None),
    "Successful Delivery": (S.DELIVERED, None),
    "Completed": (S.DELIVERED, None),
    "Parcel Weight": (S.UNKNOWN, None),
    "Parcel Size": (S.UNKNOWN, None),
}
#: an event the table does not know, by the group before its comma
GROUPS: Mapping[str, TrackingStatus] = {
    "pending pickup": S.PENDING,
    "pickup exception": S.PENDING,
    "picked up": S.PICKED_UP,
    "international transit": S.IN_TRANSIT,
    "delivered": S.DELIVERED,
    "delivery exception": S.DELIVERY_FAILED,
    "return to shipper exception": S.RETURN_TO_SENDER,
}
_LOWER = {name.lower(): value for name, value in EVENTS.items()}

#: failure-reason words -> reason, first match wins (Ninja Van's free-text reasons)
REASON_WORDS: Sequence[tuple[tuple[str, ...], TrackingReason]] = (
    (("duties", "duty", "tax"), R.DUTIES_UNPAID),
    (("customs document", "invoice", "documents"), R.CUSTOMS_DOCUMENTS),
    (("customs",), R.CUSTOMS_HOLD),
    (("damage",), R.DAMAGED),
    (("lost", "missing"), R.LOST),
    (("refus", "reject"), R.REFUSED),
    (("weather", "flood", "rain", "disaster"), R.WEATHER),
    (("prohibit", "dangerous"), R.PROHIBITED),
    (
        (
            "nobody",
            "no one",
            "not at home",
            "not around",
            "not available",
            "unavailable",
            "unreachable",
            "uncontactable",
            "closed",
            "not present",
        ),
        R.RECIPIENT_UNAVAILABLE,
    ),
    (("address", "unable to find", "location", "inaccessible", "incomplete"), R.ADDRESS_ISSUE),
    (("delay", "capacity", "insufficient time", "missort"), R.CARRIER_DELAY),
)


# --------------------------------------------------------------------------- orders


def service_level(service: str) -> str:
    """Ninja Van's ``service_level`` for a Crossdock service name; an unknown name is sent
    as given, for Ninja Van to refuse in its own words."""
    return SERVICE_LEVELS.get(service.strip().lower(), service)


def requested_tracking_number(reference: str, index: int = 0, *, length: int = 14) -> str:
    """A deterministic ``requested_tracking_number`` for the ``index``-th parcel of the
    purchase ``reference``: a retried create sends the same number, which Ninja Van refuses
    as a duplicate instead of making a second order. Upper-case base32 of a SHA-256 (about
    5 bits a character); ``length`` between 9 (Ninja Van's minimum) and 32."""
    length = max(RTN_MIN, min(32, int(length)))
    digest = hashlib.sha256(f"{reference}\x00{index}".encode()).digest()
    return base64.b32encode(digest).decode("ascii").rstrip("=")[:length]


def _party(address: Address, country: str) -> dict[str, Any]:
    name = address.name or address.company or ""
    party: dict[str, Any] = {
        "name": name,
        "address": {
            "address1": address.line1 or "",
            "country": (address.country or country).upper(),
        },
    }
    if address.phone:
        party["phone_number"] = address.phone
    if address.email:
        party["email"] = address.email
    fields = party["address"]
    if address.line2:
        fields["address2"] = address.line2
    if address.city:
        fields["city"] = address.city
    if address.region:
        fields["state"] = address.region
    if address.postal_code:
        fields["postcode"] = address.postal_code.strip()
    if address.company and address.name:
        fields["address_type"] = "office"
    return party


def _slot(value: Any, default: tuple[str, str]) -> tuple[str, str]:
    if isinstance(value, str) and "-" in value:
        start, _, end = value.partition("-")
        return start.strip(), end.strip()
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        return str(value[0]), str(value[1])
    return default


def build_order(
    request: ShipmentRequest,
    service: str,
    *,
    country: str,
    requested: str,
    parcel: Parcel,
    settings: Mapping[str, Any],
    today: date | None = None,
) -> dict[str, Any]:
    """The body of ``POST /{countryCode}/4.2/orders`` for one parcel of ``request``.

    Settings used: ``service_type`` (default ``Parcel``; ``International`` for
    cross-border), ``pickup_required`` (default true: Ninja Van collects from the origin),
    ``pickup_timeslot`` / ``delivery_timeslot`` (``"09:00-18:00"``; defaults 09:00-18:00
    and 09:00-22:00), ``pickup_approx_volume`` (default ``Less than 3 Parcels``),
    ``delivery_instructions``, ``pickup_address_id``.
    """
    country = country.upper()
    zone = TIMEZONES.get(country, "Asia/Singapore")
    day = request.ship_date or today or datetime.now(UTC).date()
    international = (request.destination.country or country).upper() != (
        request.origin.country or country
    ).upper()
    service_type = str(settings.get("service_type") or ("International" if international else "Parcel"))
    grams = parcel.weight_grams
    dimensions: dict[str, Any] = {"weight": float(Decimal(grams) / 1000)}
    for key, mm in (("length", parcel.length_mm), ("width", parcel.width_mm), ("height", parcel.height_mm)):
        if mm:
            dimensions[key] = float(Decimal(mm) / 10)  # centimetres
    pickup = bool(settings.get("pickup_required", True))
    start, end = _slot(settings.get("delivery_timeslot"), ("09:00", "22:00"))
    job: dict[str, Any] = {
        "is_pickup_required": pickup,
        "delivery_start_date": day.isoformat(),
        "delivery_timeslot": {"start_time": start, "end_time": end, "timezone": zone},
        "dimensions": dimensions,
    }
    if pickup:
        p_start, p_end = _slot(settings.get("pickup_timeslot"), ("09:00", "18:00"))
        job.update(
            pickup_service_type="Scheduled",
            pickup_service_level="Standard",
            pickup_date=day.isoformat(),
            pickup_timeslot={"start_time": p_start, "end_time": p_end, "timezone": zone},
            pickup_approx_volume=str(settings.get("pickup_approx_volume") or "Less than 3 Parcels"),
        )
        if settings.get("pickup_address_id"):
            job["pickup_address_id"] = str(settings["pickup_address_id"])
    if settings.get("delivery_instructions"):
        job["delivery_instructions"] = str(settings["delivery_instructions"])
    if request.items:
        job["items"] = [
            {
                "item_description": item.description,
                "quantity": item.quantity,
                "is_dangerous_good": bool(item.flags & {ItemFlag.BATTERY, ItemFlag.LIQUID, ItemFlag.MAGNET}),
            }
            for item in request.items
        ]
    return {
        "service_type": service_type,
        "service_level": service_level(service),
        "requested_tracking_number": requested,
        "reference": {"merchant_order_number": request.reference[:255]},
        "from": _party(request.origin, country),
        "to": _party(request.destination, country),
        "parcel_job": job,
    }


# --------------------------------------------------------------------------- errors


def error_message(body: Any, status: int) -> str:
    """Ninja Van's words from its error envelope ``{"error": {"code", "request_id",
    "title", "message", "details": [{"field", "reason", "message"}]}}``."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return f"HTTP {status}"
    parts = [str(error.get(key)) for key in ("title", "message") if error.get(key)]
    details = error.get("details")
    if isinstance(details, Sequence) and not isinstance(details, str):
        for detail in details:
            if isinstance(detail, Mapping) and detail.get("message"):
                field = f"{detail['field']}: " if detail.get("field") else ""
                parts.append(f"{field}{detail['message']}")
    elif isinstance(details, Mapping):
        parts.extend(f"{key}: {value}" for key, value in details.items())
    return " - ".join(parts) or f"HTTP {status}"


def is_duplicate(body: Any) -> bool:
    """Is this refusal the one for a ``requested_tracking_number`` already used?"""
    text = repr(body).lower()
    return "duplicate" in text or "already exist" in text


# --------------------------------------------------------------------------- tracking


def parse_time(value: Any) -> datetime:
    """A Ninja Van timestamp (ISO 8601; ``+0000`` or ``+08:00`` offsets, or ``Z``) as an
    aware UTC datetime; a time without an offset is taken as UTC."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"not a timestamp: {value!r}")
    moment = datetime.fromisoformat(value.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def reason_from_text(text: str | None) -> TrackingReason | None:
    if not text:
        return None
    lowered = text.lower()
    for words, reason in REASON_WORDS:
        if any(word in lowered for word in words):
            return reason
    return R.OTHER


def status_of(name: str, failure_reason: str | None = None) -> tuple[TrackingStatus, TrackingReason | None]:
    """Crossdock's status and reason for a Ninja Van status/event name (and its free-text
    failure reason, for exceptions)."""
    key = name.strip().lower()
    status, reason = _LOWER.get(key, (GROUPS.get(key.partition(",")[0].strip(), S.UNKNOWN), None))
    explained = (S.PENDING, S.ON_HOLD, S.DELIVERY_DELAYED, S.DELIVERY_FAILED, S.RETURN_TO_SENDER)
    if reason is None and status in explained:
        reason = reason_from_text(failure_reason)
    return status, reason


def _failure_reason(payload: Mapping[str, Any]) -> str | None:
    for key in ("delivery_exception", "pickup_exception"):
        block = payload.get(key)
        if isinstance(block, Mapping) and block.get("failure_reason"):
            return str(block["failure_reason"])
    for key in ("failure_reason", "rts_reason", "comments"):
        if payload.get(key):
            return str(payload[key])
    return None


def _location(payload: Mapping[str, Any]) -> str | None:
    for key, block in payload.items():
        if key.endswith("_hub_information") and isinstance(block, Mapping):
            parts = [str(block[k]) for k in ("hub", "city", "country") if block.get(k)]
            if parts:
                return ", ".join(parts)
    return None


def _event(payload: Mapping[str, Any], name: str) -> TrackingEvent:
    failure = _failure_reason(payload)
    status, reason = status_of(name, failure if status_needs_text(name) else None)
    description = name if not failure or failure == name else f"{name}: {failure}"
    return TrackingEvent(
        occurred_at=parse_time(payload.get("timestamp")),
        status=status,
        code=name,
        description=description,
        reason=reason,
        location=_location(payload),
    )


def status_needs_text(name: str) -> bool:
    key = name.strip().lower()
    return "exception" in key or "fail" in key or "reschedule" in key or "held" in key or "rts" in key


def parse_webhook_event(payload: Mapping[str, Any]) -> tuple[str, TrackingEvent]:
    """The tracking number and the one event of a webhook (v2: ``event`` and ``status``;
    v1: ``status`` alone). Raises ``ValueError`` for a body Ninja Van would not send."""
    number = payload.get("tracking_id") or payload.get("tracking_number")
    name = payload.get("event") or payload.get("status")
    if not isinstance(number, str) or not number or not isinstance(name, str) or not name:
        raise ValueError("a push names a tracking_id and an event or status")
    return number, _event(payload, name)


def parse_tracking(body: Any, numbers: Sequence[str]) -> list[TrackingResult]:
    """``GET /{countryCode}/1.0/orders/tracking-events`` -> one result per asked number
    (``found=False`` for those Ninja Van does not list)."""
    if not isinstance(body, Mapping) or not isinstance(body.get("data"), list):
        raise ChannelError("ninjavan tracking answer has no data list", code="MALFORMED", retryable=True)
    found: dict[str, list[TrackingEvent]] = {}
    for parcel in body["data"]:
        if not isinstance(parcel, Mapping) or not isinstance(parcel.get("tracking_number"), str):
            continue
        events = found.setdefault(parcel["tracking_number"], [])
        for raw in parcel.get("events") or ():
            if isinstance(raw, Mapping) and isinstance(raw.get("status"), str):
                try:
                    events.append(_event(raw, raw["status"]))
                except ValueError:
                    continue
    by_upper = {number.upper(): events for number, events in found.items()}
    results = []
    for number in numbers:
        held = by_upper.get(number.upper())
        results.append(
            TrackingResult(number, held, found=True)
            if held is not None
            else TrackingResult(number, [], found=False)
        )
    return results
