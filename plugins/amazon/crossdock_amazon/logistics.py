"""Amazon's own logistics as a carrier: Buy Shipping through the Merchant Fulfillment API v0.

Why Merchant Fulfillment v0 and not the Shipping API v2: v0 is the API made for the
seller's MFN orders. One call, ``createShipment`` with the ``ShippingServiceId`` an
``eligibleShippingServices`` answer offered, buys the label *and* confirms the order's
shipment on Amazon, and the answer carries the label itself (``Label.FileContents``). The
Shipping API v2 (which Amazon's MFN guide now recommends for new integrations) needs a
``requestToken`` and ``rateId`` from ``getRates`` that expire within 10 minutes, and a
separate document call; its one advantage here, the ``x-amzn-IdempotencyKey`` header on
``purchaseShipment``, does not say what a retry with a re-rated body does. A move to v2 is
a follow-up (see the README). Tracking comes from v2's ``getTracking`` (v0 has none).

Sources (``amzn/selling-partner-api-models``): ``merchantFulfillmentV0.json``
(ShipmentRequestDetails, ShippingService, Shipment, Label.FileContents "Base64,
GZip-compressed", usage plans 6/12, 2/2, 1/1, 1/1), ``shippingV2.json`` (getTracking
``trackingId`` + ``carrierId``, ``EventCode``, ``DetailCodes``, ``shipmentType``),
``orders_2026-01-01.json`` (``OrderPackage``, FBM only).

``find_label`` (a purchase whose answer was lost): Merchant Fulfillment has no search, and
``getShipment`` needs the ``ShipmentId`` Amazon made. So: a ShipmentId this process saw for
the reference is read back with ``getShipment`` (label included); otherwise the order's
packages (Orders 2026-01-01 ``getOrder?includedData=PACKAGES``) tell whether a label was
bought for the request's lines: the label is then found with its tracking number and
service but without its document (reprint it in Seller Central) and without the
ShipmentId (so it cannot be voided through the API). Either way it is never bought twice:
Amazon refuses to buy for items already shipped.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from typing import Any

from crossdock import (
    Address,
    CarrierAccount,
    CarrierBase,
    CarrierCapability,
    CarrierDocument,
    ChannelConnection,
    ChannelError,
    DocumentFormat,
    DocumentKind,
    Label,
    Money,
    Rate,
    RateLimit,
    ServiceLevel,
    ShipmentRequest,
    TrackingEvent,
    TrackingReason,
    TrackingResult,
    TrackingStatus,
    with_retries,
)
from crossdock_amazon import __version__
from crossdock_amazon.client import SpApiClient
from crossdock_amazon.marketplace import EARLY_REFRESH, REGION_HOSTS, SITE_REGION, package_reference_id

__all__ = ["EVENTS", "RATE_LIMITS", "AmazonShipping", "package_reference_id"]

RATE_LIMITS: Mapping[str, RateLimit] = {
    "getEligibleShipmentServices": RateLimit(rate=6, burst=12),
    "createShipment": RateLimit(rate=2, burst=2),
    "getShipment": RateLimit(rate=1, burst=1),
    "cancelShipment": RateLimit(rate=1, burst=1),
    "getTracking": RateLimit(rate=80, burst=100),
    "getOrderItems": RateLimit(rate=0.5, burst=30),
    "getOrder_2026_01_01": RateLimit(rate=0.5, burst=30),
}
#: Shipping API v2 ``EventCode`` -> status and reason. ``Delivered`` of a RETURNS leg is the
#: parcel back with the seller.
EVENTS: Mapping[str, tuple[TrackingStatus, TrackingReason | None]] = {
    "ReadyForReceive": (TrackingStatus.PENDING, None),
    "PickupCancelled": (TrackingStatus.PENDING, None),  # still with the seller
    "PickupDone": (TrackingStatus.PICKED_UP, None),
    "ArrivedAtCarrierFacility": (TrackingStatus.IN_TRANSIT, None),
    "Departed": (TrackingStatus.IN_TRANSIT, None),
    "OutForDelivery": (TrackingStatus.OUT_FOR_DELIVERY, None),
    "AvailableForPickup": (TrackingStatus.READY_FOR_PICKUP, None),
    "RecipientRequestedAlternateDeliveryTiming": (
        TrackingStatus.DELIVERY_DELAYED,
        TrackingReason.RECIPIENT_UNAVAILABLE,
    ),
    "DeliveryAttempted": (TrackingStatus.DELIVERY_FAILED, None),
    "Lost": (TrackingStatus.DELIVERY_FAILED, TrackingReason.LOST),
    "Delivered": (TrackingStatus.DELIVERED, None),
    "Rejected": (TrackingStatus.RETURN_TO_SENDER, TrackingReason.REFUSED),
    "Undeliverable": (TrackingStatus.RETURN_TO_SENDER, None),
    "ReturnInitiated": (TrackingStatus.RETURN_TO_SENDER, None),
}
#: summary ``trackingDetailCodes`` -> the reason of the latest failed, rejected or
#: undeliverable event
DETAIL_REASONS: Mapping[str, TrackingReason] = {
    "BusinessClosed": TrackingReason.RECIPIENT_UNAVAILABLE,
    "CustomerUnavailable": TrackingReason.RECIPIENT_UNAVAILABLE,
    "UnableToContactRecipient": TrackingReason.RECIPIENT_UNAVAILABLE,
    "UnableToAccess": TrackingReason.ADDRESS_ISSUE,
    "AddressNotFound": TrackingReason.ADDRESS_ISSUE,
    "Damaged": TrackingReason.DAMAGED,
    "Rejected": TrackingReason.REFUSED,
    "RejectedByRecipientWithVerification": TrackingReason.REFUSED,
    "CancelledByRecipient": TrackingReason.REFUSED,
    "HazmatShipment": TrackingReason.PROHIBITED,
    "PaymentNotReady": TrackingReason.OTHER,
}
FILE_FORMATS = {
    "application/pdf": DocumentFormat.PDF,
    "application/zpl": DocumentFormat.ZPL,
    "image/png": DocumentFormat.PNG,
}
EXPRESS = re.compile(r"overnight|next day|2nd day|2day|express|priority|air", re.IGNORECASE)
ECONOMY = re.compile(r"economy|first.class|ground advantage|tracked 48|second class", re.IGNORECASE)
#: carrierId for getTracking when this process did not buy the label (UNCONFIRMED: the ids
#: Shipping API v2 takes for labels bought through Merchant Fulfillment)
DEFAULT_CARRIER_IDS: Mapping[str, tuple[str, ...]] = {
    "US": ("UPS", "USPS", "FedEx", "AMZN_US"),
    "UK": ("RoyalMail", "DPD", "AMZN_UK"),
    "DE": ("DHL", "DPD"),
}
REMEMBERED = 10_000


def _at(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _day(value: Any) -> date | None:
    moment = _at(value)
    return moment.date() if moment else None


class AmazonShipping(CarrierBase):
    name = "amazon_shipping"
    display_name = "Amazon Buy Shipping (Merchant Fulfillment)"
    version = __version__
    channel: str | None = "amazon"
    capabilities = frozenset({CarrierCapability.RATES, CarrierCapability.LABELS, CarrierCapability.TRACKING})
    rate_limits = RATE_LIMITS
    track_batch = 20  # one getTracking call per number

    def __init__(self) -> None:
        #: (connection, reference) -> ShipmentId of labels this process bought
        self._shipments: OrderedDict[tuple[int, str], str] = OrderedDict()
        #: (connection, tracking number) -> carrierId for getTracking
        self._carrier_ids: OrderedDict[tuple[int, str], str] = OrderedDict()

    # ------------------------------------------------------------ plumbing

    @staticmethod
    def _settings(account: CarrierAccount) -> dict[str, Any]:
        """The carrier account's settings over the connection's."""
        connection = account.connection.settings if account.connection is not None else {}
        return {**connection, **account.settings}

    @staticmethod
    def _conn(account: CarrierAccount) -> ChannelConnection:
        if account.connection is None:
            raise ChannelError("amazon_shipping needs the shop's Amazon connection", code="NO_CONNECTION")
        return account.connection

    def _api(self, account: CarrierAccount) -> SpApiClient:
        conn = self._conn(account)
        creds = conn.credentials
        expires = float(creds.get("access_expires_at", 0))
        if not creds.get("access_token") or expires < datetime.now(UTC).timestamp() + EARLY_REFRESH:
            raise ChannelError("amazon access token missing or expired", code=ChannelError.AUTH_EXPIRED)
        base = conn.base_url or REGION_HOSTS[SITE_REGION[conn.site]]
        return SpApiClient(base, str(creds["access_token"]), account.http_client())

    async def _call(
        self, account: CarrierAccount, operation: str, method: str, path: str, **kwargs: Any
    ) -> Any:
        """One call; Amazon's business refusals (4xx other than auth and throttling) become
        ``REFUSED`` with Amazon's message."""
        await account.throttle(operation)
        try:
            return await self._api(account).call(method, path, **kwargs)
        except ChannelError as exc:
            if exc.retryable or exc.code in (ChannelError.AUTH_EXPIRED, "REFUSED"):
                raise
            raise ChannelError(exc.message, code="REFUSED") from exc

    @staticmethod
    def _remember(memo: OrderedDict[tuple[int, str], str], key: tuple[int, str], value: str) -> None:
        memo[key] = value
        memo.move_to_end(key)
        while len(memo) > REMEMBERED:
            memo.popitem(last=False)

    # ------------------------------------------------------------ requests

    async def _items(self, account: CarrierAccount, request: ShipmentRequest) -> list[dict[str, Any]]:
        if request.lines:
            return [{"OrderItemId": str(line), "Quantity": int(qty)} for line, qty in request.lines]
        # no lines named: every unshipped unit of the order
        answer = await with_retries(
            partial(
                self._call,
                account,
                "getOrderItems",
                "GET",
                f"/orders/v0/orders/{request.order_external_id}/orderItems",
            )
        )
        items = (answer or {}).get("payload", {}).get("OrderItems") or []
        return [
            {
                "OrderItemId": str(i["OrderItemId"]),
                "Quantity": int(i["QuantityOrdered"]) - int(i["QuantityShipped"]),
            }
            for i in items
            if int(i.get("QuantityOrdered", 0)) > int(i.get("QuantityShipped", 0))
        ]

    @staticmethod
    def _address(address: Address, settings: Mapping[str, Any]) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "Name": (address.company or address.name or "")[:30],
            "AddressLine1": address.line1 or "",
            "City": (address.city or "")[:30],
            "PostalCode": address.postal_code or "",
            "CountryCode": address.country or "",
            "Email": address.email or settings.get("ship_from_email") or "",
            "Phone": (address.phone or settings.get("ship_from_phone") or "")[:30],
        }
        if address.line2:
            shown["AddressLine2"] = address.line2[:60]
        if address.region:
            shown["StateOrProvinceCode"] = address.region[:30]
        return shown

    async def _details(self, account: CarrierAccount, request: ShipmentRequest) -> dict[str, Any]:
        """``ShipmentRequestDetails``: one package (a Merchant Fulfillment shipment is one box)."""
        if not request.order_external_id:
            raise ChannelError(
                "Amazon Buy Shipping ships an Amazon order: the request names none", code="REFUSED"
            )
        if len(request.parcels) != 1:
            raise ChannelError(
                f"Amazon Buy Shipping buys one label per package ({len(request.parcels)} given): "
                "split the shipment",
                code="REFUSED",
            )
        parcel = request.parcels[0]
        if not (parcel.length_mm and parcel.width_mm and parcel.height_mm):
            raise ChannelError("Amazon Buy Shipping needs the package's dimensions", code="REFUSED")
        settings = self._settings(account)
        options: dict[str, Any] = {
            "DeliveryExperience": str(
                settings.get("delivery_experience") or "DeliveryConfirmationWithoutSignature"
            ),
            "CarrierWillPickUp": bool(settings.get("carrier_will_pick_up", False)),
            "LabelFormat": str(settings.get("label_format") or "PDF"),
            "DeclaredValue": {
                "CurrencyCode": request.declared_value.currency,
                "Amount": float(request.declared_value.amount),
            },
        }
        details: dict[str, Any] = {
            "AmazonOrderId": request.order_external_id,
            "ItemList": await self._items(account, request),
            "ShipFromAddress": self._address(request.origin, settings),
            "PackageDimensions": {
                "Length": parcel.length_mm / 10,
                "Width": parcel.width_mm / 10,
                "Height": parcel.height_mm / 10,
                "Unit": "centimeters",
            },
            "Weight": {"Value": parcel.weight_grams, "Unit": "g"},
            "ShippingServiceOptions": options,
        }
        if request.ship_date:
            details["ShipDate"] = f"{request.ship_date.isoformat()}T12:00:00Z"
        return details

    async def _eligible(self, account: CarrierAccount, details: Mapping[str, Any]) -> dict[str, Any]:
        answer = await with_retries(
            partial(
                self._call,
                account,
                "getEligibleShipmentServices",
                "POST",
                "/mfn/v0/eligibleShippingServices",
                body={"ShipmentRequestDetails": details},
            )
        )
        return dict((answer or {}).get("payload") or {})

    # ------------------------------------------------------------ rates and labels

    async def rates(self, account: CarrierAccount, request: ShipmentRequest) -> Sequence[Rate]:
        payload = await self._eligible(account, await self._details(account, request))
        rates = []
        for offer in payload.get("ShippingServiceList") or []:
            price = offer.get("Rate") or {}
            ship, latest = _at(offer.get("ShipDate")), _at(offer.get("LatestEstimatedDeliveryDate"))
            days = (latest.date() - ship.date()).days if ship and latest else None
            name = str(offer.get("ShippingServiceName") or offer["ShippingServiceId"])
            level = (
                ServiceLevel.EXPRESS
                if EXPRESS.search(name)
                else (ServiceLevel.ECONOMY if ECONOMY.search(name) else ServiceLevel.STANDARD)
            )
            rates.append(
                Rate(
                    carrier=self.name,
                    service=str(offer["ShippingServiceId"]),
                    service_name=name,
                    price=Money(Decimal(str(price.get("Amount", "0"))), str(price.get("CurrencyCode"))),
                    transit_days=days if days and days > 0 else None,
                    estimated_delivery=latest.date() if latest else None,
                    service_level=level,
                    messages=[f"carrier: {offer.get('CarrierName')}"] if offer.get("CarrierName") else [],
                )
            )
        return rates

    async def buy_label(self, account: CarrierAccount, request: ShipmentRequest, service: str) -> Label:
        """createShipment with the offer Amazon makes now for ``service`` (offers expire, so
        the eligible services are asked again first). Amazon confirms the shipment itself."""
        details = await self._details(account, request)
        payload = await self._eligible(account, details)
        offer = next(
            (o for o in payload.get("ShippingServiceList") or [] if o.get("ShippingServiceId") == service),
            None,
        )
        if offer is None:
            rejected = next(
                (
                    r
                    for r in payload.get("RejectedShippingServiceList") or []
                    if r.get("ShippingServiceId") == service
                ),
                None,
            )
            reason = (
                rejected.get("RejectionReasonMessage") or rejected.get("RejectionReasonCode")
                if rejected
                else f"Amazon offers no service {service} for this package"
            )
            raise ChannelError(f"amazon: {reason}", code="REFUSED")
        body = {
            "ShipmentRequestDetails": details,
            "ShippingServiceId": service,
            "ShippingServiceOfferId": offer.get("ShippingServiceOfferId") or "",
        }
        answer = await self._call(account, "createShipment", "POST", "/mfn/v0/shipments", body=body)
        shipment = dict((answer or {}).get("payload") or {})
        label = self._label(shipment)
        conn = self._conn(account)
        self._remember(self._shipments, (conn.id, request.reference), label.carrier_shipment_id)
        return label

    def _label(self, shipment: Mapping[str, Any]) -> Label:
        service = shipment.get("ShippingService") or {}
        file = (shipment.get("Label") or {}).get("FileContents") or {}
        documents = []
        if file.get("Contents"):
            raw = base64.b64decode(file["Contents"])
            content = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
            checksum = file.get("Checksum")
            if checksum and checksum not in (
                base64.b64encode(hashlib.md5(content).digest()).decode(),
                base64.b64encode(hashlib.md5(raw).digest()).decode(),
            ):
                raise ChannelError("amazon label checksum does not match", code="MALFORMED", retryable=True)
            documents.append(
                CarrierDocument(
                    DocumentKind.LABEL,
                    FILE_FORMATS.get(str(file.get("FileType")), DocumentFormat.PDF),
                    content,
                )
            )
        rate = service.get("Rate") or {}
        carrier = str(service.get("CarrierName") or "")
        return Label(
            carrier_shipment_id=str(shipment["ShipmentId"]),
            tracking_numbers=[str(shipment["TrackingId"])] if shipment.get("TrackingId") else [],
            documents=documents,
            service=str(service.get("ShippingServiceId") or ""),
            price=Money(Decimal(str(rate["Amount"])), str(rate["CurrencyCode"]))
            if rate.get("Amount")
            else None,
            estimated_delivery=_day(service.get("LatestEstimatedDeliveryDate")),
            channel_confirmed=True,
            raw={
                "ShipmentId": shipment.get("ShipmentId"),
                "AmazonOrderId": shipment.get("AmazonOrderId"),
                "Status": shipment.get("Status"),
                "CarrierName": carrier,
                "carrierId": _carrier_id(carrier),
            },
        )

    async def find_label(self, account: CarrierAccount, request: ShipmentRequest) -> Label | None:
        conn = self._conn(account)
        known = self._shipments.get((conn.id, request.reference))
        if known:
            answer = await with_retries(
                partial(self._call, account, "getShipment", "GET", f"/mfn/v0/shipments/{known}")
            )
            shipment = dict((answer or {}).get("payload") or {})
            if shipment.get("Status") == "Purchased":
                label = self._label(shipment)
                self._remember_carrier(conn, label)
                return label
            return None  # cancelled (refund pending or applied): nothing bought any more
        if not request.order_external_id:
            return None
        answer = await with_retries(
            partial(
                self._call,
                account,
                "getOrder_2026_01_01",
                "GET",
                f"/orders/2026-01-01/orders/{request.order_external_id}",
                params={"includedData": "PACKAGES"},
            )
        )
        wanted = {str(line) for line, _ in request.lines}
        for package in ((answer or {}).get("order") or {}).get("packages") or []:
            status = package.get("packageStatus") or {}
            if status.get("status") == "CANCELLED" or status.get("detailedStatus") == "LABEL_CANCELLED":
                continue
            items = {str(i.get("orderItemId")) for i in package.get("packageItems") or []}
            if (wanted and not wanted <= items) or not package.get("trackingNumber"):
                continue
            carrier = str(package.get("carrier") or "")
            label = Label(
                carrier_shipment_id="",
                tracking_numbers=[str(package["trackingNumber"])],
                documents=[],
                service=str(package.get("shippingService") or ""),
                channel_confirmed=True,
                raw={"package": dict(package), "CarrierName": carrier, "carrierId": _carrier_id(carrier)},
            )
            self._remember_carrier(conn, label)
            return label
        return None

    def _remember_carrier(self, conn: ChannelConnection, label: Label) -> None:
        carrier_id = str(label.raw.get("carrierId") or "")
        if carrier_id:
            for number in label.tracking_numbers:
                self._remember(self._carrier_ids, (conn.id, number), carrier_id)

    async def void_label(self, account: CarrierAccount, label: Label) -> None:
        """cancelShipment: allowed before the carrier has the parcel (Amazon refunds it)."""
        if not label.carrier_shipment_id:
            raise ChannelError(
                "amazon: this label was found through the order, without its ShipmentId; "
                "cancel it in Seller Central",
                code="REFUSED",
            )
        await self._call(
            account, "cancelShipment", "DELETE", f"/mfn/v0/shipments/{label.carrier_shipment_id}"
        )

    # ------------------------------------------------------------ tracking

    async def track(
        self, account: CarrierAccount, tracking_numbers: Sequence[str]
    ) -> Sequence[TrackingResult]:
        conn = self._conn(account)
        settings = self._settings(account)
        business = settings.get("shipping_business_id")
        headers = {"x-amzn-shipping-business-id": str(business)} if business else None
        results = []
        for number in tracking_numbers:
            known = self._carrier_ids.get((conn.id, number))
            site_ids = DEFAULT_CARRIER_IDS.get(conn.site, DEFAULT_CARRIER_IDS["US"])
            candidates = [known] if known else list(settings.get("tracking_carrier_ids") or site_ids)
            result = TrackingResult(number, [], found=False)
            for carrier_id in candidates:
                try:
                    answer = await with_retries(
                        partial(
                            self._call,
                            account,
                            "getTracking",
                            "GET",
                            "/shipping/v2/tracking",
                            params={"trackingId": number, "carrierId": carrier_id},
                            extra_headers=headers,
                        )
                    )
                except ChannelError as exc:
                    if exc.code == "REFUSED":  # not this carrier's number (or no such number)
                        continue
                    raise
                payload = (answer or {}).get("payload", answer) or {}
                result = _tracking(number, payload)
                self._remember(self._carrier_ids, (conn.id, number), carrier_id)
                break
            results.append(result)
        return results


def _carrier_id(carrier_name: str) -> str:
    return re.sub(r"[\u00ae\u2122\s]", "", carrier_name)


def _tracking(number: str, payload: Mapping[str, Any]) -> TrackingResult:
    events: list[TrackingEvent] = []
    forward: list[int] = []  # indexes of the forward leg's events (detail codes are theirs)
    for event in payload.get("eventHistory") or []:
        code = str(event.get("eventCode") or "")
        at = _at(event.get("eventTime"))
        if not code or at is None:
            continue
        status, reason = EVENTS.get(code, (TrackingStatus.UNKNOWN, None))
        if event.get("shipmentType") == "RETURNS" and status == TrackingStatus.DELIVERED:
            status = TrackingStatus.RETURN_TO_SENDER
        if event.get("shipmentType") != "RETURNS":
            forward.append(len(events))
        location = event.get("location") or {}
        place = ", ".join(
            str(location[k]) for k in ("city", "stateOrRegion", "countryCode") if location.get(k)
        )
        events.append(
            TrackingEvent(
                occurred_at=at,
                status=status,
                code=code,
                description=_describe(code, event.get("shipmentType")),
                reason=reason,
                location=place or None,
            )
        )
    summary = payload.get("summary") or {}
    details = ((summary.get("trackingDetailCodes") or {}).get("forward")) or []
    detail_reason = next((DETAIL_REASONS[c] for c in reversed(details) if c in DETAIL_REASONS), None)
    if detail_reason is not None:
        for index in reversed(forward):
            event = events[index]
            if (
                event.status in (TrackingStatus.DELIVERY_FAILED, TrackingStatus.RETURN_TO_SENDER)
                and event.reason is None
            ):
                events[index] = TrackingEvent(
                    event.occurred_at,
                    event.status,
                    event.code,
                    event.description,
                    detail_reason,
                    event.location,
                )
                break
    return TrackingResult(number, events, estimated_delivery=_day(payload.get("promisedDeliveryDate")))


def _describe(code: str, leg: Any) -> str:
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", code).lower()
    return f"{words[:1].upper()}{words[1:]}" + (" (return)" if leg == "RETURNS" else "")
