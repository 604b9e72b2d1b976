"""Builders and parsers: Crossdock's shipments to FedEx's JSON and back.

Field names and enums follow FedEx's published OpenAPI documents for the Rate, Ship, Track
and Pickup APIs (developer.fedex.com; vendored in karrio's ``modules/connectors/fedex/
vendor``); see the README for each source. Nothing here does I/O.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from crossdock import Money
from crossdock.providers import (
    Address,
    AddressCheck,
    CarrierDocument,
    DocumentFormat,
    DocumentKind,
    Incoterm,
    Label,
    PickupRequest,
    Rate,
    ServiceLevel,
    ShipmentRequest,
    TrackingEvent,
    TrackingReason,
    TrackingResult,
    TrackingStatus,
)

__all__ = [
    "EVENT_STATUS",
    "IMAGE_FORMAT",
    "SERVICE_LEVEL",
    "SERVICE_TYPES",
    "TRANSIT_WORDS",
    "address_request",
    "cancel_request",
    "event_reason",
    "is_international",
    "parse_address",
    "parse_label",
    "parse_rates",
    "parse_references",
    "parse_tracking",
    "pickup_request",
    "rate_request",
    "reference_request",
    "ship_request",
    "track_request",
]

#: the service types FedEx's Rate and Ship APIs name (the "Service Types" reference table;
#: karrio's ``ShippingService`` lists the same values)
SERVICE_TYPES = frozenset(
    {
        "FEDEX_INTERNATIONAL_PRIORITY_EXPRESS",
        "FEDEX_INTERNATIONAL_PRIORITY",
        "INTERNATIONAL_ECONOMY",
        "INTERNATIONAL_FIRST",
        "FEDEX_INTERNATIONAL_CONNECT_PLUS",
        "FEDEX_GROUND",
        "GROUND_HOME_DELIVERY",
        "SMART_POST",
        "FEDEX_GROUND_ECONOMY",
        "FIRST_OVERNIGHT",
        "PRIORITY_OVERNIGHT",
        "STANDARD_OVERNIGHT",
        "FEDEX_2_DAY",
        "FEDEX_2_DAY_AM",
        "FEDEX_EXPRESS_SAVER",
        "SAME_DAY",
        "SAME_DAY_CITY",
        "FEDEX_REGIONAL_ECONOMY",
        "FEDEX_PRIORITY",
        "FEDEX_PRIORITY_EXPRESS",
        "FEDEX_ECONOMY_SELECT",
        "FEDEX_FIRST",
        "FEDEX_1_DAY_FREIGHT",
        "FEDEX_2_DAY_FREIGHT",
        "FEDEX_3_DAY_FREIGHT",
        "INTERNATIONAL_PRIORITY_FREIGHT",
        "INTERNATIONAL_ECONOMY_FREIGHT",
    }
)

SERVICE_LEVEL: Mapping[str, ServiceLevel] = {
    "SMART_POST": ServiceLevel.ECONOMY,
    "FEDEX_GROUND_ECONOMY": ServiceLevel.ECONOMY,
    "FEDEX_REGIONAL_ECONOMY": ServiceLevel.ECONOMY,
    "FEDEX_GROUND": ServiceLevel.STANDARD,
    "GROUND_HOME_DELIVERY": ServiceLevel.STANDARD,
    "INTERNATIONAL_ECONOMY": ServiceLevel.STANDARD,
    "FEDEX_INTERNATIONAL_CONNECT_PLUS": ServiceLevel.STANDARD,
    "FEDEX_EXPRESS_SAVER": ServiceLevel.STANDARD,
    "FEDEX_ECONOMY_SELECT": ServiceLevel.STANDARD,
}

#: labelSpecification.imageType -> our format (EPL2 is not asked for)
IMAGE_FORMAT: Mapping[str, DocumentFormat] = {
    "PDF": DocumentFormat.PDF,
    "ZPLII": DocumentFormat.ZPL,
    "PNG": DocumentFormat.PNG,
}
#: our format -> (imageType, the default labelStockType for it)
LABEL_SPEC: Mapping[DocumentFormat, tuple[str, str]] = {
    DocumentFormat.PDF: ("PDF", "PAPER_4X6"),
    DocumentFormat.ZPL: ("ZPLII", "STOCK_4X6"),
    DocumentFormat.PNG: ("PNG", "PAPER_4X6"),
}

#: the Rate API's transit-time words (commit.transitDays, operationalDetail.transitTime)
TRANSIT_WORDS: Mapping[str, int] = {
    word: n
    for n, word in enumerate(
        (
            "ONE",
            "TWO",
            "THREE",
            "FOUR",
            "FIVE",
            "SIX",
            "SEVEN",
            "EIGHT",
            "NINE",
            "TEN",
            "ELEVEN",
            "TWELVE",
            "THIRTEEN",
            "FOURTEEN",
            "FIFTEEN",
            "SIXTEEN",
            "SEVENTEEN",
            "EIGHTEEN",
            "NINETEEN",
            "TWENTY",
        ),
        1,
    )
}

#: scanEvents[].eventType -> our status (FedEx's "Tracking Status Codes" table; where a code
#: could read two ways the choice is ours and noted)
EVENT_STATUS: Mapping[str, TrackingStatus] = {
    # the label exists; FedEx has not got the parcel
    "OC": TrackingStatus.PENDING,  # shipment information sent to FedEx / order created
    "OX": TrackingStatus.PENDING,  # shipment information sent to USPS
    "EP": TrackingStatus.PENDING,  # en route to pickup
    "AP": TrackingStatus.PENDING,  # at pickup (the courier is at the door)
    "PU": TrackingStatus.PICKED_UP,
    "PX": TrackingStatus.PICKED_UP,  # picked up (see details)
    **dict.fromkeys(
        # in FedEx's network, customs clearance under way or done included
        (
            *("IT", "IX", "AR", "DP", "AF", "AA", "AC", "AX", "PF", "PL", "PM", "SF", "TR", "LO", "OF"),
            *("FD", "EA", "EO", "Ow", "OW", "CC", "CP", "CH", "SP"),
        ),
        TrackingStatus.IN_TRANSIT,
    ),
    "OD": TrackingStatus.OUT_FOR_DELIVERY,
    "ED": TrackingStatus.OUT_FOR_DELIVERY,  # en route to delivery
    "AD": TrackingStatus.OUT_FOR_DELIVERY,  # at delivery
    "DL": TrackingStatus.DELIVERED,
    "DE": TrackingStatus.DELIVERY_FAILED,  # delivery exception: an attempt failed
    "DD": TrackingStatus.DELIVERY_DELAYED,
    "PD": TrackingStatus.DELIVERY_DELAYED,  # pickup delay
    "DY": TrackingStatus.ON_HOLD,  # delay, regulatory
    "CD": TrackingStatus.ON_HOLD,  # clearance delay
    "SE": TrackingStatus.ON_HOLD,  # shipment exception
    "HL": TrackingStatus.READY_FOR_PICKUP,  # at a hold-at-location point
    "HP": TrackingStatus.READY_FOR_PICKUP,  # ready for recipient pickup
    "RS": TrackingStatus.RETURN_TO_SENDER,
    "RT": TrackingStatus.RETURN_TO_SENDER,
    "CA": TrackingStatus.CANCELLED,
}

#: words of FedEx's exception and event descriptions -> a reason, first match wins (FedEx's
#: numeric exception codes are not published as one table; their texts are stable)
_REASON_WORDS: Sequence[tuple[re.Pattern[str], TrackingReason]] = [
    (re.compile(r"dut(y|ies)|taxes|payment", re.I), TrackingReason.DUTIES_UNPAID),
    (
        re.compile(r"(customs|clearance).*(document|paperwork|information)|invoice", re.I),
        TrackingReason.CUSTOMS_DOCUMENTS,
    ),
    (re.compile(r"customs|clearance|regulatory", re.I), TrackingReason.CUSTOMS_HOLD),
    (re.compile(r"address", re.I), TrackingReason.ADDRESS_ISSUE),
    (re.compile(r"refused|rejected", re.I), TrackingReason.REFUSED),
    (re.compile(r"not available|not in|business closed|no one", re.I), TrackingReason.RECIPIENT_UNAVAILABLE),
    (re.compile(r"damage", re.I), TrackingReason.DAMAGED),
    (re.compile(r"\blost\b|missing", re.I), TrackingReason.LOST),
    (re.compile(r"prohibited|restricted|dangerous", re.I), TrackingReason.PROHIBITED),
    (re.compile(r"weather|natural disaster|emergency", re.I), TrackingReason.WEATHER),
    (re.compile(r"missed|misrout|sort|delay|connection", re.I), TrackingReason.CARRIER_DELAY),
]
_NEEDS_REASON = frozenset(
    {
        TrackingStatus.ON_HOLD,
        TrackingStatus.DELIVERY_DELAYED,
        TrackingStatus.DELIVERY_FAILED,
        TrackingStatus.RETURN_TO_SENDER,
    }
)

#: countries FedEx treats as postal-aware (its "Postal aware countries" reference, the part
#: we ship to; a postal code is required for them; BG, CY and UA from 5 January 2026, FedEx
#: release notes of October 2025)
_POSTAL_AWARE = (
    "AR AT AU BE BG BR CA CH CN CY CZ DE DK EE ES FI FR GB GR HR HU ID IE IL IN IT JP KR LT LU LV "
)
_POSTAL_AWARE += "MC MX MY NL NO NZ PH PL PR PT RO RU SE SG SI SK TH TW UA US VN ZA"
POSTAL_AWARE = frozenset(_POSTAL_AWARE.split())

# ---------------------------------------------------------------------------------- units


def kilograms(grams: int) -> float:
    """FedEx weights: KG with at most two decimals, never zero."""
    return max(0.01, round(grams / 1000, 2))


def pounds(grams: int) -> float:
    return max(0.1, round(grams / 453.59237, 1))


def centimetres(mm: int) -> int:
    """Dimensions are whole numbers ("no implied decimal places"): rounded up."""
    return max(1, math.ceil(mm / 10))


def money(value: Money) -> dict[str, Any]:
    return {"amount": float(value.amount), "currency": value.currency}


def is_international(request: ShipmentRequest) -> bool:
    return (request.origin.country or "").upper() != (request.destination.country or "").upper()


def _lines(address: Address) -> list[str]:
    return [line[:35] for line in (address.line1, address.line2) if line]


def _address(address: Address, *, street: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"countryCode": (address.country or "").upper()}
    if street:
        out["streetLines"] = _lines(address)
    if address.city:
        out["city"] = address.city[:35]
    if address.region and len(address.region) <= 3:  # a code (FedEx: max 2), not a region's name
        out["stateOrProvinceCode"] = address.region
    if address.postal_code:
        out["postalCode"] = address.postal_code
    return out


def _contact(address: Address) -> dict[str, Any]:
    contact: dict[str, Any] = {}
    if address.name:
        contact["personName"] = address.name[:70]
    if address.company:
        contact["companyName"] = address.company[:35]
    if address.phone:
        contact["phoneNumber"] = address.phone
    if address.email:
        contact["emailAddress"] = address.email[:80]
    return contact


def _party(address: Address) -> dict[str, Any]:
    return {"address": _address(address), "contact": _contact(address)}


def _package(parcel: Any, sequence: int, reference: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "sequenceNumber": sequence,
        "weight": {"units": "KG", "value": kilograms(parcel.weight_grams)},
    }
    if parcel.length_mm and parcel.width_mm and parcel.height_mm:
        item["dimensions"] = {
            "length": centimetres(parcel.length_mm),
            "width": centimetres(parcel.width_mm),
            "height": centimetres(parcel.height_mm),
            "units": "CM",
        }
    if reference:
        # the 30-character limit of FedEx Ground (Express allows 40)
        item["customerReferences"] = [
            {"customerReferenceType": "CUSTOMER_REFERENCE", "value": reference[:30]}
        ]
    return item


def _commodities(request: ShipmentRequest) -> list[dict[str, Any]]:
    out = []
    for item in request.items:
        commodity: dict[str, Any] = {
            "description": item.description[:450],
            "countryOfManufacture": (item.origin_country or request.origin.country or "").upper(),
            "quantity": item.quantity,
            "quantityUnits": "PCS",
            "unitPrice": money(item.value),
            "customsValue": money(item.value * item.quantity),
            "weight": {"units": "KG", "value": kilograms(item.weight_grams * item.quantity)},
        }
        if item.hs_code:
            commodity["harmonizedCode"] = item.hs_code
        out.append(commodity)
    return out


def _customs(request: ShipmentRequest, *, ship: bool) -> dict[str, Any]:
    payer = "SENDER" if request.incoterm == Incoterm.DDP else "RECIPIENT"
    customs: dict[str, Any] = {
        "dutiesPayment": {"paymentType": payer},
        "commodities": _commodities(request),
    }
    if ship:
        customs["commercialInvoice"] = {
            "shipmentPurpose": "SOLD",
            "termsOfSale": "DDP" if request.incoterm == Incoterm.DDP else "DAP",
            "customerReferences": [
                {"customerReferenceType": "CUSTOMER_REFERENCE", "value": request.reference[:30]}
            ],
        }
        customs["totalCustomsValue"] = money(request.declared_value)
    return customs


# ---------------------------------------------------------------------------------- rates


def rate_request(
    account_number: str,
    request: ShipmentRequest,
    *,
    pickup_type: str,
    rate_types: Sequence[str] = ("LIST", "ACCOUNT"),
    service: str | None = None,
    residential: bool = False,
) -> dict[str, Any]:
    shipment: dict[str, Any] = {
        "shipper": {"address": _address(request.origin, street=False)},
        "recipient": {"address": {**_address(request.destination, street=False), "residential": residential}},
        "pickupType": pickup_type,
        "rateRequestType": list(rate_types),
        "shipDateStamp": (request.ship_date or datetime.now(UTC).date()).isoformat(),
        "packagingType": "YOUR_PACKAGING",
        "totalPackageCount": len(request.parcels),
        "requestedPackageLineItems": [_package(p, i, None) for i, p in enumerate(request.parcels, 1)],
    }
    if service:
        shipment["serviceType"] = service
    if is_international(request):
        shipment["totalWeight"] = pounds(request.weight_grams)
        shipment["customsClearanceDetail"] = _customs(request, ship=False)
    return {
        "accountNumber": {"value": account_number},
        "rateRequestControlParameters": {"returnTransitTimes": True},
        "requestedShipment": shipment,
    }


def _transit(word: Any) -> int | None:
    if not isinstance(word, str):
        return None
    return TRANSIT_WORDS.get(word.upper().split("_")[0].replace("TW0", "TWO"))


def _decimal(value: Any) -> Decimal | None:
    try:
        return None if value is None or isinstance(value, bool) else Decimal(str(value))
    except InvalidOperation:
        return None


def _day(value: Any) -> date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _rated(details: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    for wanted in ("ACCOUNT", "PREFERRED", "LIST"):
        for detail in details:
            if detail.get("rateType") == wanted:
                return detail
    return details[0] if details else None


def parse_rates(carrier: str, data: Mapping[str, Any]) -> list[Rate]:
    rates = []
    for reply in (data.get("output") or {}).get("rateReplyDetails") or []:
        detail = _rated(reply.get("ratedShipmentDetails") or [])
        if detail is None:
            continue
        amount = _decimal(detail.get("totalNetCharge"))
        currency = detail.get("currency") or (detail.get("shipmentRateDetail") or {}).get("currency")
        if amount is None or amount <= 0 or not currency:
            continue
        service = str(reply.get("serviceType") or "")
        commit = reply.get("commit") or {}
        operational = reply.get("operationalDetail") or {}
        transit = _transit((commit.get("transitDays") or {}).get("minimumTransitTime")) or _transit(
            operational.get("transitTime")
        )
        rates.append(
            Rate(
                carrier=carrier,
                service=service,
                service_name=str(reply.get("serviceName") or service),
                price=Money(amount, str(currency)),
                transit_days=transit,
                estimated_delivery=_day((commit.get("dateDetail") or {}).get("dayFormat"))
                or _day(operational.get("deliveryDate")),
                service_level=SERVICE_LEVEL.get(service, ServiceLevel.EXPRESS),
                messages=[
                    str(m.get("message"))
                    for m in reply.get("customerMessages") or []
                    if isinstance(m, Mapping) and m.get("message")
                ],
            )
        )
    return rates


# ---------------------------------------------------------------------------------- labels


def ship_request(
    account_number: str,
    request: ShipmentRequest,
    service: str,
    *,
    pickup_type: str,
    label_format: DocumentFormat = DocumentFormat.PDF,
    label_stock: str | None = None,
    packaging_type: str = "YOUR_PACKAGING",
) -> dict[str, Any]:
    image_type, default_stock = LABEL_SPEC[label_format]
    shipment: dict[str, Any] = {
        "shipper": _party(request.origin),
        "recipients": [_party(request.destination)],
        "shipDatestamp": (request.ship_date or datetime.now(UTC).date()).isoformat(),
        "serviceType": service,
        "packagingType": packaging_type,
        "pickupType": pickup_type,
        # FedEx documents totalWeight in pounds
        "totalWeight": pounds(request.weight_grams),
        "shippingChargesPayment": {"paymentType": "SENDER"},
        "labelSpecification": {"imageType": image_type, "labelStockType": label_stock or default_stock},
        "totalPackageCount": len(request.parcels),
        "requestedPackageLineItems": [
            _package(parcel, i, request.reference) for i, parcel in enumerate(request.parcels, 1)
        ],
    }
    if is_international(request):
        shipment["customsClearanceDetail"] = _customs(request, ship=True)
        shipment["shippingDocumentSpecification"] = {
            "shippingDocumentTypes": ["COMMERCIAL_INVOICE"],
            "commercialInvoiceDetail": {"documentFormat": {"docType": "PDF", "stockType": "PAPER_LETTER"}},
        }
    return {
        "labelResponseOptions": "LABEL",
        "accountNumber": {"value": account_number},
        "requestedShipment": shipment,
    }


def _document(doc: Mapping[str, Any], kind: DocumentKind) -> CarrierDocument | None:
    encoded = doc.get("encodedLabel")
    if not isinstance(encoded, str) or not encoded:
        return None  # a URL_ONLY answer: we never ask for one
    try:
        content = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    fmt = IMAGE_FORMAT.get(str(doc.get("docType") or "PDF").upper(), DocumentFormat.PDF)
    return CarrierDocument(kind, fmt, content)


def parse_label(data: Mapping[str, Any]) -> Label:
    """The first transaction shipment of a Ship API answer; raises ``KeyError`` when the
    answer has none (the client treats that as malformed)."""
    shipment = ((data.get("output") or {}).get("transactionShipments") or [])[0]
    numbers: list[str] = []
    documents: list[CarrierDocument] = []
    for piece in shipment.get("pieceResponses") or []:
        if piece.get("trackingNumber"):
            numbers.append(str(piece["trackingNumber"]))
        for doc in piece.get("packageDocuments") or []:
            if str(doc.get("contentType") or "LABEL") == "LABEL":
                found = _document(doc, DocumentKind.LABEL)
                if found:
                    documents.append(found)
    for doc in shipment.get("shipmentDocuments") or []:
        kind = {
            "LABEL": DocumentKind.LABEL,
            "COMMERCIAL_INVOICE": DocumentKind.COMMERCIAL_INVOICE,
        }.get(str(doc.get("contentType") or ""))
        found = _document(doc, kind) if kind else None
        if found:
            documents.append(found)
    master = str(shipment.get("masterTrackingNumber") or (numbers[0] if numbers else ""))
    if not master:
        raise KeyError("masterTrackingNumber")
    price = None
    rating = (shipment.get("completedShipmentDetail") or {}).get("shipmentRating") or {}
    for detail in rating.get("shipmentRateDetails") or []:
        amount = _decimal(detail.get("totalNetCharge"))
        if amount and amount > 0 and detail.get("currency"):
            price = Money(amount, str(detail["currency"]))
            break
    return Label(
        carrier_shipment_id=master,
        tracking_numbers=numbers or [master],
        documents=documents,
        service=str(shipment.get("serviceType") or ""),
        price=price,
        raw={"masterTrackingNumber": master, "serviceName": shipment.get("serviceName")},
    )


def cancel_request(account_number: str, tracking_number: str) -> dict[str, Any]:
    return {
        "accountNumber": {"value": account_number},
        "trackingNumber": tracking_number,
        "deletionControl": "DELETE_ALL_PACKAGES",
    }


def reference_request(
    account_number: str, reference: str, around: date, destination: Address | None = None, days: int = 10
) -> dict[str, Any]:
    """Track by references: shipments of this account whose CUSTOMER_REFERENCE is
    ``reference``, shipped within ``days`` of ``around``, to ``destination``'s postal code and
    country when given (so another sender's shipment with the same reference on a shared
    account is not taken for ours). The OpenAPI document names the end of the range
    ``shipDateEndDate``."""
    info: dict[str, Any] = {
        "type": "CUSTOMER_REFERENCE",
        "value": reference[:30],
        "accountNumber": account_number,
        "shipDateBegin": (around - timedelta(days=days)).isoformat(),
        "shipDateEndDate": (around + timedelta(days=days)).isoformat(),
    }
    if destination is not None and destination.country:
        info["destinationCountryCode"] = destination.country.upper()
        if destination.postal_code:
            info["destinationPostalCode"] = destination.postal_code
    return {"referencesInformation": info, "includeDetailedScans": False}


def parse_references(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(tracking number, latest status code) of every package the reference found; an
    unknown reference is no row."""
    rows = []
    for complete in (data.get("output") or {}).get("completeTrackResults") or []:
        for result in complete.get("trackResults") or []:
            if result.get("error"):
                continue
            info = result.get("trackingNumberInfo") or {}
            number = str(info.get("trackingNumber") or complete.get("trackingNumber") or "")
            if number:
                rows.append((number, str((result.get("latestStatusDetail") or {}).get("code") or "")))
    return rows


# ---------------------------------------------------------------------------------- tracking


def track_request(numbers: Iterable[str]) -> dict[str, Any]:
    return {
        "includeDetailedScans": True,
        "trackingInfo": [{"trackingNumberInfo": {"trackingNumber": n}} for n in numbers],
    }


def _utc(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:  # FedEx gives offsets; a bare time is taken as UTC
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def event_reason(status: TrackingStatus, code: str, *texts: str | None) -> TrackingReason | None:
    """Why a parcel is held, delayed, undelivered or returned, from the event's type and
    FedEx's own words; None for the statuses that need no reason."""
    if status not in _NEEDS_REASON:
        return None
    for text in texts:
        if text:
            for pattern, reason in _REASON_WORDS:
                if pattern.search(text):
                    return reason
    if code == "CD":
        return TrackingReason.CUSTOMS_HOLD
    return TrackingReason.OTHER


def _location(scan: Mapping[str, Any]) -> str | None:
    place = scan.get("scanLocation") or {}
    parts = [place.get("city"), place.get("stateOrProvinceCode"), place.get("countryCode")]
    joined = ", ".join(str(p) for p in parts if p)
    return joined or None


def _event(scan: Mapping[str, Any]) -> TrackingEvent | None:
    occurred = _utc(scan.get("date"))
    code = str(scan.get("eventType") or scan.get("derivedStatusCode") or "")
    if occurred is None or not code:
        return None
    status = EVENT_STATUS.get(code, TrackingStatus.UNKNOWN)
    description = str(scan.get("eventDescription") or scan.get("derivedStatus") or code)
    exception = scan.get("exceptionDescription")
    if exception:
        description = f"{description}: {exception}"
    return TrackingEvent(
        occurred_at=occurred,
        status=status,
        code=code,
        description=description,
        reason=event_reason(status, code, str(exception or ""), str(scan.get("eventDescription") or "")),
        location=_location(scan),
    )


def _estimate(result: Mapping[str, Any]) -> date | None:
    window = (result.get("estimatedDeliveryTimeWindow") or {}).get("window") or {}
    found = _day(window.get("ends")) or _day(window.get("begins"))
    if found:
        return found
    for stamp in result.get("dateAndTimes") or []:
        if isinstance(stamp, Mapping) and stamp.get("type") == "ESTIMATED_DELIVERY":
            return _day(stamp.get("dateTime"))
    return None


def parse_tracking(data: Mapping[str, Any], asked: Sequence[str]) -> list[TrackingResult]:
    """One result per number asked, in that order; a number FedEx answers with an error
    (``TRACKING.TRACKINGNUMBER.NOTFOUND``) or not at all is ``found=False``."""
    by_number: dict[str, TrackingResult] = {}
    for complete in (data.get("output") or {}).get("completeTrackResults") or []:
        number = str(complete.get("trackingNumber") or "")
        events: list[TrackingEvent] = []
        estimate: date | None = None
        found = False
        for result in complete.get("trackResults") or []:
            if result.get("error"):
                continue
            found = True
            events.extend(e for e in (_event(s) for s in result.get("scanEvents") or []) if e is not None)
            estimate = estimate or _estimate(result)
        if number:
            by_number[number] = TrackingResult(number, events, estimate, found)
    return [by_number.get(n) or TrackingResult(n, [], None, False) for n in asked]


# ---------------------------------------------------------------------------------- pickups, addresses


def pickup_request(account_number: str, request: PickupRequest, *, carrier_code: str) -> dict[str, Any]:
    address = request.address
    return {
        "associatedAccountNumber": {"value": account_number},
        "originDetail": {
            "pickupLocation": {
                "contact": {
                    k: v
                    for k, v in {
                        "personName": address.name,
                        "companyName": address.company,
                        "phoneNumber": address.phone,
                    }.items()
                    if v
                },
                "address": _address(address),
            },
            # local time at the pickup postal code, no zone designator
            "readyDateTimestamp": f"{request.day.isoformat()}T{request.ready_time}:00",
            "customerCloseTime": f"{request.close_time}:00",
        },
        "carrierCode": carrier_code,
        "packageCount": request.parcels,
        "totalWeight": {"units": "KG", "value": kilograms(request.weight_grams)},
        "trackingNumber": request.tracking_numbers[0] if request.tracking_numbers else None,
    }


def address_request(address: Address) -> dict[str, Any]:
    return {"addressesToValidate": [{"address": _address(address)}]}


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def parse_address(data: Mapping[str, Any], asked: Address) -> AddressCheck:
    resolved = ((data.get("output") or {}).get("resolvedAddresses") or [None])[0]
    if not isinstance(resolved, Mapping):
        return AddressCheck(False, ["FedEx resolved no address"])
    attributes = resolved.get("attributes") or {}
    messages = [
        str(m.get("message") or m.get("code") or m) for m in resolved.get("customerMessages") or [] if m
    ]
    valid = _truthy(attributes.get("Resolved")) and not _truthy(attributes.get("InvalidSuiteNumber"))
    if not valid and not messages:
        messages = ["FedEx could not resolve the address"]
    lines = [str(line) for line in resolved.get("streetLinesToken") or [] if line]
    suggestion = Address(
        name=asked.name,
        company=asked.company,
        phone=asked.phone,
        email=asked.email,
        line1=lines[0] if lines else asked.line1,
        line2=lines[1] if len(lines) > 1 else asked.line2,
        city=str(resolved.get("city") or asked.city or "") or None,
        region=str(resolved.get("stateOrProvinceCode") or asked.region or "") or None,
        postal_code=str(resolved.get("postalCode") or asked.postal_code or "") or None,
        country=str(resolved.get("countryCode") or asked.country or "") or None,
    )
    return AddressCheck(valid, messages, suggestion if valid and suggestion != asked else None)
