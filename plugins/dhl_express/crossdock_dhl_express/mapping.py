"""Request builders and response parsers for the MyDHL API: pure functions, no I/O.

Field names, required keys and enums follow DHL's published OpenAPI document of the MyDHL
API (``DHL Express APIs (MyDHL API)``, version 2.7.0; see the README for the copy read).
Units are always ``metric``: kilograms and centimetres.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from crossdock import (
    Address,
    AddressCheck,
    CarrierDocument,
    DocumentFormat,
    DocumentKind,
    Incoterm,
    ItemFlag,
    Label,
    Money,
    Pickup,
    PickupRequest,
    Rate,
    ServiceLevel,
    ShipmentRequest,
    TrackingEvent,
    TrackingReason,
    TrackingResult,
    TrackingStatus,
)
from crossdock_dhl_express.settings import DhlExpressSettings

__all__ = [
    "CHECKPOINTS",
    "EU",
    "REFERENCE_TYPE",
    "address_query",
    "checkpoint",
    "is_dutiable",
    "parse_address_check",
    "parse_documents",
    "parse_pickup",
    "parse_rates",
    "parse_shipment",
    "parse_tracking",
    "pickup_request",
    "planned_time",
    "rate_request",
    "reference_value",
    "shipment_request",
    "tracking_events",
]

CARRIER = "dhl_express"
#: customer reference type for our purchase reference: ``CU``, "reference number of
#: consignor" (the default of ``supermodelIoLogisticsExpressReference.typeCode``)
REFERENCE_TYPE = "CU"
REFERENCE_MAX = 35  # customerReferences[].value maxLength
DESCRIPTION_MAX = 70  # content.description maxLength

#: the EU customs union: a parcel between two members is not declared to customs
EU = frozenset(
    {"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU"}
    | {"IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"}
)

#: global product codes sold as economy (day-definite) rather than time-definite express
ECONOMY_PRODUCTS = frozenset({"G", "H", "W"})


# --------------------------------------------------------------------------- common


def reference_value(request: ShipmentRequest) -> str:
    """The purchase reference as DHL keeps it (at most 35 characters)."""
    return request.reference[:REFERENCE_MAX]


def is_dutiable(origin_country: str | None, destination_country: str | None) -> bool:
    """A shipment goes through customs unless it stays in one country or in the EU."""
    origin, destination = (origin_country or "").upper(), (destination_country or "").upper()
    if origin == destination:
        return False
    return not (origin in EU and destination in EU)


def planned_time(day: date | None, now: datetime, gmt_offset: str = "+00:00", at: str | None = None) -> str:
    """``YYYY-MM-DDTHH:MM:SS GMT+hh:mm``: the format DHL's error 998 names. Today (or no day)
    is a few minutes from now, another day is ``at`` (10:00 unless given)."""
    offset = _offset(gmt_offset)
    local_now = now.astimezone(timezone(offset))
    if day is None or day <= local_now.date():
        moment = (local_now + timedelta(minutes=5)).replace(microsecond=0, tzinfo=None)
        if at is not None and day is not None:
            hour, minute = (int(part) for part in at.split(":")[:2])
            wanted = datetime.combine(local_now.date(), datetime.min.time()).replace(hour=hour, minute=minute)
            moment = max(moment, wanted)
    else:
        hour, minute = (int(part) for part in (at or "10:00").split(":")[:2])
        moment = datetime.combine(day, datetime.min.time()).replace(hour=hour, minute=minute)
    return f"{moment:%Y-%m-%dT%H:%M:%S} GMT{gmt_offset}"


def _offset(text: str) -> timedelta:
    sign = -1 if text.startswith("-") else 1
    hours, _, minutes = text.lstrip("+-").partition(":")
    return sign * timedelta(hours=int(hours or 0), minutes=int(minutes or 0))


def _kg(grams: int) -> float:
    return round(max(grams, 1) / 1000, 3)


def _cm(mm: int | None) -> int:
    # dimensions are required and at least 1 (cm); an unknown size is sent as the minimum
    return max(1, math.ceil((mm or 0) / 10))


def _amount(money: Money) -> float:
    return float(money.amount)


def _postal_address(address: Address) -> dict[str, Any]:
    out: dict[str, Any] = {
        "postalCode": address.postal_code or "",
        "cityName": address.city or "",
        "countryCode": (address.country or "").upper(),
        "addressLine1": address.line1 or "",
    }
    if address.line2:
        out["addressLine2"] = address.line2
    if address.region:
        out["provinceCode"] = address.region
    return out


def _contact(address: Address) -> dict[str, Any]:
    out: dict[str, Any] = {
        "phone": address.phone or "",
        "companyName": address.company or address.name or "",
        "fullName": address.name or address.company or "",
    }
    if address.email:
        out["email"] = address.email
    return out


def _party(address: Address) -> dict[str, Any]:
    return {"postalAddress": _postal_address(address), "contactInformation": _contact(address)}


def _packages(request: ShipmentRequest) -> list[dict[str, Any]]:
    return [
        {
            "weight": _kg(parcel.weight_grams),
            "dimensions": {
                "length": _cm(parcel.length_mm),
                "width": _cm(parcel.width_mm),
                "height": _cm(parcel.height_mm),
            },
        }
        for parcel in request.parcels
    ]


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _date(value: Any) -> date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


# --------------------------------------------------------------------------- rates


def rate_request(settings: DhlExpressSettings, request: ShipmentRequest, now: datetime) -> dict[str, Any]:
    """``POST /rates``: every product DHL sells for the shipment (no ``productCode``)."""
    dutiable = is_dutiable(request.origin.country, request.destination.country)
    body: dict[str, Any] = {
        "customerDetails": {
            "shipperDetails": _rating_address(request.origin),
            "receiverDetails": _rating_address(request.destination),
        },
        "accounts": [{"typeCode": "shipper", "number": settings.account_number}],
        "plannedShippingDateAndTime": planned_time(request.ship_date, now, settings.gmt_offset),
        "unitOfMeasurement": "metric",
        "isCustomsDeclarable": dutiable,
        "packages": _packages(request),
    }
    if dutiable:
        body["monetaryAmount"] = [
            {
                "typeCode": "declaredValue",
                "value": _amount(request.declared_value),
                "currency": request.declared_value.currency,
            }
        ]
    return body


def _rating_address(address: Address) -> dict[str, Any]:
    out = {
        "postalCode": address.postal_code or "",
        "cityName": address.city or "",
        "countryCode": (address.country or "").upper(),
    }
    if address.line1:
        out["addressLine1"] = address.line1
    return out


def _price(prices: Any) -> Money | None:
    """The total in the billing currency (``BILLC``), else the first priced one."""
    if not isinstance(prices, list):
        return None
    priced = [p for p in prices if isinstance(p, Mapping) and p.get("priceCurrency")]
    ordered = sorted(priced, key=lambda p: 0 if p.get("currencyType") == "BILLC" else 1)
    for entry in ordered:
        amount = _decimal(entry.get("price"))
        if amount is not None and amount > 0:
            return Money(amount, str(entry["priceCurrency"]))
    return None


def parse_rates(body: Mapping[str, Any], request: ShipmentRequest) -> list[Rate]:
    """``products[]`` of a rates answer; products without a price are left out."""
    rates = []
    flags = request.flags
    for product in body.get("products") or ():
        if not isinstance(product, Mapping) or not product.get("productCode"):
            continue
        price = _price(product.get("totalPrice"))
        if price is None:
            continue
        code = str(product["productCode"])
        delivery = product.get("deliveryCapabilities") or {}
        transit = delivery.get("totalTransitDays")
        days = int(transit) if isinstance(transit, int | float) and transit > 0 else None
        messages = [str(w) for w in body.get("warnings") or () if isinstance(w, str)]
        cannot = frozenset({ItemFlag.BATTERY})
        if ItemFlag.BATTERY in flags:
            messages.append(
                "lithium batteries ship with DHL Express only under a dangerous-goods service code "
                "(e.g. HV, PI967 section II) this plugin does not declare"
            )
        rates.append(
            Rate(
                carrier=CARRIER,
                service=code,
                service_name=str(product.get("productName") or code),
                price=price,
                transit_days=days,
                estimated_delivery=_date(delivery.get("estimatedDeliveryDateAndTime")),
                service_level=ServiceLevel.ECONOMY if code in ECONOMY_PRODUCTS else ServiceLevel.EXPRESS,
                cannot_carry=cannot,
                messages=tuple(messages),
            )
        )
    return rates


# --------------------------------------------------------------------------- shipments


def _description(request: ShipmentRequest) -> str:
    text = ", ".join(dict.fromkeys(item.description.strip() for item in request.items if item.description))
    text = text.strip() or "Goods"
    return text[:DESCRIPTION_MAX].strip()


def _export_declaration(request: ShipmentRequest, ship_day: str) -> dict[str, Any]:
    lines = []
    for number, item in enumerate(request.items, 1):
        line: dict[str, Any] = {
            "number": number,
            "description": item.description[:512],
            "price": _amount(item.value),
            "quantity": {"value": item.quantity, "unitOfMeasurement": "PCS"},
            "manufacturerCountry": (item.origin_country or request.origin.country or "").upper(),
            "weight": {
                "netValue": _kg(item.weight_grams * item.quantity),
                "grossValue": _kg(item.weight_grams * item.quantity),
            },
        }
        if item.hs_code:
            line["commodityCodes"] = [{"typeCode": "outbound", "value": item.hs_code}]
        lines.append(line)
    return {
        "lineItems": lines,
        "invoice": {"number": reference_value(request), "date": ship_day},
        "exportReason": "sale",
        "exportReasonType": "commercial_purpose_or_sale",
    }


def shipment_request(
    settings: DhlExpressSettings, request: ShipmentRequest, service: str, now: datetime
) -> dict[str, Any]:
    """``POST /shipments``: label (PDF) and, for a dutiable shipment, DHL's commercial invoice."""
    dutiable = is_dutiable(request.origin.country, request.destination.country)
    planned = planned_time(request.ship_date, now, settings.gmt_offset)
    pickup: dict[str, Any] = {"isRequested": settings.request_pickup}
    if settings.request_pickup:
        pickup["closeTime"] = settings.close_time
        pickup["location"] = settings.pickup_location
    image_options: list[dict[str, Any]] = [{"typeCode": "label", "templateName": settings.label_template}]
    if dutiable:
        image_options.append({"typeCode": "invoice", "isRequested": True, "invoiceType": "commercial"})
    packages = _packages(request)
    for package, parcel in zip(packages, request.parcels, strict=True):
        if parcel.reference:
            package["customerReferences"] = [{"value": parcel.reference[:REFERENCE_MAX], "typeCode": "CU"}]
    content: dict[str, Any] = {
        "packages": packages,
        "isCustomsDeclarable": dutiable,
        "description": _description(request),
        "incoterm": "DDP" if request.incoterm == Incoterm.DDP else "DAP",
        "unitOfMeasurement": "metric",
    }
    if dutiable:
        content["declaredValue"] = _amount(request.declared_value)
        content["declaredValueCurrency"] = request.declared_value.currency
        if request.items:
            content["exportDeclaration"] = _export_declaration(request, planned[:10])
    return {
        "plannedShippingDateAndTime": planned,
        "pickup": pickup,
        "productCode": service,
        "getRateEstimates": True,  # the answer's shipmentCharges: the label's price
        "accounts": [{"typeCode": "shipper", "number": settings.account_number}],
        "estimatedDeliveryDate": {"isRequested": True, "typeCode": "QDDC"},
        "outputImageProperties": {"encodingFormat": "pdf", "imageOptions": image_options},
        "customerReferences": [{"value": reference_value(request), "typeCode": REFERENCE_TYPE}],
        "customerDetails": {
            "shipperDetails": _party(request.origin),
            "receiverDetails": _party(request.destination),
        },
        "content": content,
    }


_DOCUMENT_KINDS = {
    "label": DocumentKind.LABEL,
    "waybill": DocumentKind.LABEL,  # get-image's waybill document: see find_label
    "waybilldoc": DocumentKind.LABEL,
    "invoice": DocumentKind.COMMERCIAL_INVOICE,
    "commercial-invoice": DocumentKind.COMMERCIAL_INVOICE,
}
_FORMATS = {"PDF": DocumentFormat.PDF, "ZPL": DocumentFormat.ZPL, "PNG": DocumentFormat.PNG}


def parse_documents(documents: Any) -> list[CarrierDocument]:
    """``documents[]`` of a shipment (``imageFormat``) or get-image (``encodingFormat``)
    answer: the ones we know, decoded from base64."""
    out = []
    for doc in documents if isinstance(documents, list) else ():
        if not isinstance(doc, Mapping):
            continue
        kind = _DOCUMENT_KINDS.get(str(doc.get("typeCode", "")).lower())
        fmt = _FORMATS.get(str(doc.get("imageFormat") or doc.get("encodingFormat") or "").upper())
        content = doc.get("content")
        if kind is None or fmt is None or not isinstance(content, str):
            continue
        try:
            raw = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            continue
        out.append(CarrierDocument(kind, fmt, raw))
    return out


def parse_shipment(body: Mapping[str, Any], service: str) -> Label:
    """A created shipment: the waybill number (``shipmentTrackingNumber``) is what DHL
    Express tracks, so it is the label's tracking number; the piece ids stay in ``raw``."""
    awb = str(body["shipmentTrackingNumber"])
    pieces = [str(p["trackingNumber"]) for p in body.get("packages") or () if p.get("trackingNumber")]
    estimated = body.get("estimatedDeliveryDate") or {}
    return Label(
        carrier_shipment_id=awb,
        tracking_numbers=[awb],
        documents=parse_documents(body.get("documents")),
        service=service,
        price=_price(body.get("shipmentCharges")),
        estimated_delivery=_date(estimated.get("estimatedDeliveryDate"))
        if isinstance(estimated, Mapping)
        else None,
        raw={
            "shipmentTrackingNumber": awb,
            "pieces": pieces,
            "dispatchConfirmationNumber": body.get("dispatchConfirmationNumber"),
        },
    )


# --------------------------------------------------------------------------- tracking

#: DHL Express checkpoint codes (``events[].typeCode``) -> status and reason. The codes and
#: their meanings are DHL's (the XML-PI and MyDHL tracking services share them); see the
#: README for what was verified and what was not.
CHECKPOINTS: Mapping[str, tuple[TrackingStatus, TrackingReason | None]] = {
    "PU": (TrackingStatus.PICKED_UP, None),  # shipment picked up
    "SA": (TrackingStatus.PICKED_UP, None),  # shipment acceptance (dropped off)
    "PL": (TrackingStatus.IN_TRANSIT, None),  # processed at location
    "DF": (TrackingStatus.IN_TRANSIT, None),  # departed facility
    "AF": (TrackingStatus.IN_TRANSIT, None),  # arrived at facility
    "AR": (TrackingStatus.IN_TRANSIT, None),  # arrived at delivery facility
    "TR": (TrackingStatus.IN_TRANSIT, None),  # record of transfer
    "IC": (TrackingStatus.IN_TRANSIT, None),  # in clearance processing
    "RR": (TrackingStatus.IN_TRANSIT, None),  # customs clearance status updated
    "CR": (TrackingStatus.IN_TRANSIT, None),  # clearance processing complete
    "CD": (TrackingStatus.ON_HOLD, TrackingReason.CUSTOMS_DOCUMENTS),  # controllable clearance delay
    "UD": (TrackingStatus.ON_HOLD, TrackingReason.CUSTOMS_HOLD),  # uncontrollable clearance delay
    "HP": (TrackingStatus.ON_HOLD, TrackingReason.DUTIES_UNPAID),  # held for payment
    "OH": (TrackingStatus.ON_HOLD, TrackingReason.OTHER),  # shipment on hold
    "SS": (TrackingStatus.ON_HOLD, TrackingReason.OTHER),  # shipment stopped
    "DM": (TrackingStatus.ON_HOLD, TrackingReason.DAMAGED),  # damaged
    "TD": (TrackingStatus.DELIVERY_DELAYED, TrackingReason.CARRIER_DELAY),  # transport delay
    "MD": (TrackingStatus.DELIVERY_DELAYED, TrackingReason.CARRIER_DELAY),  # missed delivery cycle
    "MS": (TrackingStatus.DELIVERY_DELAYED, TrackingReason.CARRIER_DELAY),  # missorted
    "WC": (TrackingStatus.OUT_FOR_DELIVERY, None),  # with delivery courier
    "CC": (TrackingStatus.READY_FOR_PICKUP, None),  # awaiting collection by the recipient
    "NH": (TrackingStatus.DELIVERY_FAILED, TrackingReason.RECIPIENT_UNAVAILABLE),  # not home
    "CA": (TrackingStatus.DELIVERY_FAILED, TrackingReason.RECIPIENT_UNAVAILABLE),  # closed on arrival
    "BA": (TrackingStatus.DELIVERY_FAILED, TrackingReason.ADDRESS_ISSUE),  # bad address
    "CM": (TrackingStatus.DELIVERY_FAILED, TrackingReason.ADDRESS_ISSUE),  # customer moved
    "RD": (TrackingStatus.DELIVERY_FAILED, TrackingReason.REFUSED),  # refused delivery
    "OK": (TrackingStatus.DELIVERED, None),  # delivered
    "RT": (TrackingStatus.RETURN_TO_SENDER, None),  # returned to shipper
}


def checkpoint(code: str) -> tuple[TrackingStatus, TrackingReason | None]:
    return CHECKPOINTS.get(code.upper(), (TrackingStatus.UNKNOWN, None))


def _event_time(event: Mapping[str, Any]) -> datetime | None:
    day, clock = event.get("date"), event.get("time")
    if not isinstance(day, str) or not isinstance(clock, str):
        return None
    try:
        moment = datetime.fromisoformat(f"{day}T{clock}")
    except ValueError:
        return None
    offset = event.get("GMTOffset")
    if moment.tzinfo is None:
        # 2.7.0's events carry the service area's local time and no offset; a GMTOffset,
        # where DHL adds one, is applied, otherwise the time is read as UTC (README)
        zone = timezone(_offset(offset)) if isinstance(offset, str) and offset else UTC
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def tracking_events(events: Any) -> list[TrackingEvent]:
    out = []
    for event in events if isinstance(events, list) else ():
        if not isinstance(event, Mapping):
            continue
        occurred = _event_time(event)
        code = str(event.get("typeCode") or "")
        if occurred is None or not code:
            continue
        status, reason = checkpoint(code)
        areas = event.get("serviceArea") or []
        location = next(
            (str(a["description"]) for a in areas if isinstance(a, Mapping) and a.get("description")), None
        )
        out.append(
            TrackingEvent(
                occurred_at=occurred,
                status=status,
                code=code,
                description=str(event.get("description") or code),
                reason=reason,
                location=location,
            )
        )
    return out


def parse_tracking(body: Mapping[str, Any] | None, numbers: Sequence[str]) -> list[TrackingResult]:
    """One result per asked number, in the asked order; a number DHL does not know
    (absent, or the whole answer a 404) is ``found=False``."""
    known: dict[str, Mapping[str, Any]] = {}
    for shipment in (body or {}).get("shipments") or ():
        if isinstance(shipment, Mapping) and shipment.get("shipmentTrackingNumber"):
            known[str(shipment["shipmentTrackingNumber"])] = shipment
    results = []
    for number in numbers:
        shipment = known.get(number)
        if shipment is None:
            results.append(TrackingResult(number, (), found=False))
            continue
        results.append(
            TrackingResult(
                number,
                tracking_events(shipment.get("events")),
                estimated_delivery=_date(shipment.get("estimatedDeliveryDate")),
            )
        )
    return results


# --------------------------------------------------------------------------- pickups


def pickup_request(settings: DhlExpressSettings, request: PickupRequest, now: datetime) -> dict[str, Any]:
    """``POST /pickups``: one shipment entry carrying the parcels to collect."""
    count = max(1, request.parcels)
    per_parcel = max(1, request.weight_grams // count)
    details: dict[str, Any] = {
        "productCode": settings.pickup_product_code,
        "accounts": [{"typeCode": "shipper", "number": settings.account_number}],
        "isCustomsDeclarable": True,
        "unitOfMeasurement": "metric",
        "packages": [
            {"weight": _kg(per_parcel), "dimensions": {"length": 1, "width": 1, "height": 1}}
            for _ in range(count)
        ],
    }
    if len(request.tracking_numbers) == 1:
        details["shipmentTrackingNumber"] = request.tracking_numbers[0]
    return {
        "plannedPickupDateAndTime": planned_time(
            request.day, now, settings.gmt_offset, at=request.ready_time
        ),
        "closeTime": request.close_time,
        "location": settings.pickup_location,
        "accounts": [{"typeCode": "shipper", "number": settings.account_number}],
        "customerDetails": {"shipperDetails": _party(request.address)},
        "shipmentDetails": [details],
        "remark": request.reference[:80],
    }


def parse_pickup(body: Mapping[str, Any], request: PickupRequest) -> Pickup:
    numbers = [str(n) for n in body.get("dispatchConfirmationNumbers") or () if n]
    if not numbers:
        raise KeyError("dispatchConfirmationNumbers")
    return Pickup(
        confirmation=numbers[0], day=request.day, window=f"{request.ready_time}-{request.close_time}"
    )


# --------------------------------------------------------------------------- addresses


def address_query(address: Address) -> dict[str, str]:
    """``GET /address-validate`` for a delivery to ``address``."""
    query = {
        "type": "delivery",
        "countryCode": (address.country or "").upper(),
        "postalCode": address.postal_code or "",
        "cityName": address.city or "",
    }
    return query


def parse_address_check(body: Mapping[str, Any], address: Address) -> AddressCheck:
    """An empty ``address`` list: DHL has no delivery capability there (``strictValidation``
    answers no record unless the match is exact)."""
    found = [a for a in body.get("address") or () if isinstance(a, Mapping)]
    warnings = [str(w) for w in body.get("warnings") or () if isinstance(w, str)]
    if not found:
        return AddressCheck(
            False,
            warnings or ["DHL Express has no delivery capability at this postal code and city"],
        )
    match = found[0]
    city = str(match.get("cityName") or address.city or "")
    postal = str(match.get("postalCode") or address.postal_code or "")
    suggestion = None
    if city.casefold() != (address.city or "").casefold() or postal != (address.postal_code or ""):
        suggestion = replace(address, city=city.title(), postal_code=postal)
    return AddressCheck(True, tuple(warnings), suggestion)
