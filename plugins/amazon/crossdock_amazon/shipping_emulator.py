"""Amazon's logistics in the emulator: the Merchant Fulfillment API v0 (Buy Shipping for MFN
orders), ``getTracking`` of the Shipping API v2 and the order packages of Orders
2026-01-01, validated as the published models say (``amzn/selling-partner-api-models``:
``merchantFulfillmentV0.json``, ``shippingV2.json``, ``orders_2026-01-01.json``).

* ``POST /mfn/v0/eligibleShippingServices``: the ``ShipmentRequestDetails`` required by the
  model (``AmazonOrderId``, ``ItemList``, ``ShipFromAddress``, ``PackageDimensions``,
  ``Weight``, ``ShippingServiceOptions`` with ``DeliveryExperience`` and
  ``CarrierWillPickUp``), enums (``UnitOfLength`` inches|centimeters, ``UnitOfWeight`` oz|g,
  ``DeliveryExperienceType``, ``LabelFormat``), address maximum lengths, a two-letter
  country code (the model's sandbox error text). The order must be the seller's, MFN and
  Unshipped or PartiallyShipped; its items must be unshipped in those quantities. Services
  whose weight limit the package exceeds come back in ``RejectedShippingServiceList``.
  Each offer has its ``ShippingServiceOfferId``.
* ``POST /mfn/v0/shipments``: the same details plus a ``ShippingServiceId`` offered for
  them (and, when given, an offer id issued for it); the label is a gzip-compressed, base64
  document with its MD5 checksum. Buying it ships the items on the order (Buy Shipping
  confirms the shipment) and adds the package Orders 2026-01-01 shows.
* ``GET``/``DELETE /mfn/v0/shipments/{shipmentId}``: the id must be a UUID (the model's
  sandbox error); a cancel after the carrier's first scan is refused, else the shipment
  becomes RefundPending, its label empty, its items unshipped again.
* ``GET /shipping/v2/tracking?trackingId&carrierId``: the event history of a label.
* ``GET /orders/2026-01-01/orders/{orderId}``: the order with ``packages`` when
  ``includedData`` names PACKAGES.

UNCONFIRMED (no public source): the wording and codes of the business refusals (Amazon
answers ``InvalidInput`` with its own texts), the rejection reason code for an
overweight package, whether the checksum covers the compressed or the plain document (the
emulator: plain), and the carrier ids ``getTracking`` takes for labels bought through
Merchant Fulfillment (the emulator: the carrier's name without trademark signs).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import itertools
import re
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from crossdock.providers import (
    Address,
    CarrierAccount,
    ChannelConnection,
    ShipmentRequest,
    TrackingReason,
    TrackingStatus,
)
from crossdock.testing import emulator_http
from crossdock.testing.carriers import (
    ParcelBook,
    ParcelRecord,
    pdf_document,
    png_document,
    sample_request,
    zpl_document,
)
from crossdock.testing.emulator import Reply, Request

if TYPE_CHECKING:
    from crossdock_amazon.emulator import AmazonEmulator

__all__ = ["EVENT_CODES", "SERVICES", "MerchantFulfillment", "amazon_account", "amazon_request"]

ORDER_ID = re.compile(r"\d{3}-\d{7}-\d{7}")
SHIPMENT_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
DELIVERY_EXPERIENCE = (
    "DeliveryConfirmationWithAdultSignature",
    "DeliveryConfirmationWithSignature",
    "DeliveryConfirmationWithoutSignature",
    "NoTracking",
)
PICKUP_OPTIONS = ("CarrierWillPickUp", "ShipperWillDropOff", "NoPreference")
LABEL_FORMATS = ("PDF", "PNG", "ZPL203", "ZPL300", "ShippingServiceDefault")
FILE_TYPES = {
    "PDF": "application/pdf",
    "PNG": "image/png",
    "ZPL203": "application/zpl",
    "ZPL300": "application/zpl",
}
#: maximum lengths of the model's Address fields
ADDRESS_LIMITS = {
    "Name": 30,
    "AddressLine1": 180,
    "AddressLine2": 60,
    "AddressLine3": 60,
    "DistrictOrCounty": 30,
    "City": 30,
    "StateOrProvinceCode": 30,
    "PostalCode": 30,
    "Phone": 30,
}
ADDRESS_REQUIRED = ("Name", "AddressLine1", "Email", "City", "PostalCode", "CountryCode", "Phone")
OFFER_TTL = 3600


@dataclass(frozen=True)
class Service:
    service_id: str
    name: str
    carrier: str
    base: float  # price for the first 500 g
    per_kg: float
    days: int
    max_grams: int


#: Buy Shipping services by marketplace country (ids in Amazon's style, e.g. the model's
#: ``UPS_PTP_2ND_DAY_AIR``).
SERVICES: Mapping[str, tuple[Service, ...]] = {
    "US": (
        Service("USPS_PTP_PRI", "USPS Priority Mail\u00ae", "USPS", 8.95, 1.10, 3, 31_750),
        Service("UPS_PTP_GND", "UPS\u00ae Ground", "UPS\u00ae", 10.40, 0.95, 5, 68_000),
        Service("UPS_PTP_2ND_DAY_AIR", "UPS 2nd Day Air\u00ae", "UPS\u00ae", 21.80, 2.40, 2, 68_000),
        Service("FEDEX_PTP_HOME_DELIVERY", "FedEx Home Delivery\u00ae", "FedEx", 10.90, 0.90, 5, 31_750),
    ),
    "GB": (
        Service("ROYAL_MAIL_TRACKED_48", "Royal Mail Tracked 48", "Royal Mail", 3.35, 0.60, 3, 20_000),
        Service("DPD_NEXT_DAY", "DPD Next Day", "DPD", 6.20, 0.45, 1, 30_000),
    ),
    "DE": (
        Service("DHL_PAKET", "DHL Paket", "DHL", 4.79, 0.30, 2, 31_500),
        Service("DPD_CLASSIC", "DPD Classic", "DPD", 5.10, 0.35, 2, 31_500),
    ),
}
#: the emulator's scans as Shipping API v2 event codes (``EventCode`` in shippingV2.json)
EVENT_CODES: Mapping[TrackingStatus, str] = {
    TrackingStatus.PENDING: "ReadyForReceive",
    TrackingStatus.PICKED_UP: "PickupDone",
    TrackingStatus.IN_TRANSIT: "Departed",
    TrackingStatus.ON_HOLD: "RecipientRequestedAlternateDeliveryTiming",
    TrackingStatus.DELIVERY_DELAYED: "RecipientRequestedAlternateDeliveryTiming",
    TrackingStatus.OUT_FOR_DELIVERY: "OutForDelivery",
    TrackingStatus.READY_FOR_PICKUP: "AvailableForPickup",
    TrackingStatus.DELIVERY_FAILED: "DeliveryAttempted",
    TrackingStatus.DELIVERED: "Delivered",
    TrackingStatus.RETURN_TO_SENDER: "ReturnInitiated",
    TrackingStatus.CANCELLED: "PickupCancelled",
}
#: a scan's reason as the summary's ``trackingDetailCodes`` (``DetailCodes``)
DETAIL_CODES: Mapping[TrackingReason, str] = {
    TrackingReason.RECIPIENT_UNAVAILABLE: "CustomerUnavailable",
    TrackingReason.ADDRESS_ISSUE: "AddressNotFound",
    TrackingReason.REFUSED: "Rejected",
    TrackingReason.DAMAGED: "Damaged",
    TrackingReason.PROHIBITED: "HazmatShipment",
}
SUMMARY = {
    "ReadyForReceive": "PreTransit",
    "PickupCancelled": "PickupCancelled",
    "Delivered": "Delivered",
    "OutForDelivery": "OutForDelivery",
    "DeliveryAttempted": "DeliveryAttempted",
    "Lost": "Lost",
    "Rejected": "Rejected",
    "Undeliverable": "Undeliverable",
    "AvailableForPickup": "AwaitingCustomerPickup",
}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _grams(weight: Mapping[str, Any]) -> float:
    value = float(weight["Value"])
    return value * 28.349523125 if weight["Unit"] == "oz" else value


@dataclass
class MfnShipment:
    shipment_id: str
    seller: str
    order_id: str
    details: dict[str, Any]
    service: Service
    tracking_id: str
    carrier_id: str
    label: bytes
    label_format: str
    created: datetime
    rate: float
    currency: str
    record: ParcelRecord
    status: str = "Purchased"
    package_reference: str = ""
    updated: datetime = field(default_factory=lambda: datetime.now(UTC))


class MerchantFulfillment:
    """The state and handlers; :class:`~crossdock_amazon.emulator.AmazonEmulator` routes to
    them (it owns auth, orders and the envelope)."""

    def __init__(self, emulator: AmazonEmulator, clock: Callable[[], float]) -> None:
        self.emulator = emulator
        self.clock = clock
        self.book = ParcelBook("1Z")
        self.shipments: dict[str, MfnShipment] = {}
        self.offers: dict[str, tuple[str, str, float]] = {}  # offer id -> (order, service, expiry)
        #: request reference -> order id (the conformance suite names orders by reference)
        self.references: dict[str, str] = {}

    # ------------------------------------------------------------ helpers

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _invalid(self, message: str, status: int = 400) -> Reply:
        return self.emulator.error(status, "InvalidInput", message)

    @staticmethod
    def _constraint(value: Any, where: str, rule: str) -> str:
        return (
            f"1 validation error detected: Value '{value}' at '{where}' failed to satisfy constraint: {rule}"
        )

    def _address(self, address: Any, where: str) -> str | None:
        if not isinstance(address, dict):
            return self._constraint(None, where, "Member must not be null")
        for key in ADDRESS_REQUIRED:
            if not isinstance(address.get(key), str) or not address[key].strip():
                return self._constraint(
                    address.get(key), f"{where}.{key[0].lower()}{key[1:]}", "Member must not be null"
                )
        for key, limit in ADDRESS_LIMITS.items():
            value = address.get(key)
            if isinstance(value, str) and len(value) > limit:
                return self._constraint(
                    value,
                    f"{where}.{key[0].lower()}{key[1:]}",
                    f"Member must have length less than or equal to {limit}",
                )
        if len(address["CountryCode"]) != 2:
            return self._constraint(
                address["CountryCode"],
                f"{where}.countryCode",
                "Member must have length less than or equal to 2",
            )
        return None

    def _check_details(
        self, seller_id: str, details: Any
    ) -> tuple[dict[str, Any], list[tuple[dict[str, Any], int]], float] | Reply:
        """The order, its (item, quantity) pairs and the weight in grams, or the refusal."""
        where = "shipmentRequestDetails"
        if not isinstance(details, dict):
            return self._invalid(self._constraint(None, where, "Member must not be null"))
        for key in (
            "AmazonOrderId",
            "ItemList",
            "ShipFromAddress",
            "PackageDimensions",
            "Weight",
            "ShippingServiceOptions",
        ):
            if details.get(key) in (None, "", []):
                return self._invalid(
                    self._constraint(None, f"{where}.{key[0].lower()}{key[1:]}", "Member must not be null")
                )
        problem = self._address(details["ShipFromAddress"], f"{where}.shipFromAddress")
        if problem:
            return self._invalid(problem)
        dims = details["PackageDimensions"]
        if not isinstance(dims, dict):
            return self._invalid(
                self._constraint(dims, f"{where}.packageDimensions", "Member must be an object")
            )
        if not dims.get("PredefinedPackageDimensions"):
            for key in ("Length", "Width", "Height"):
                value = dims.get(key)
                if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                    return self._invalid(
                        self._constraint(
                            value,
                            f"{where}.packageDimensions.{key.lower()}",
                            "Member must be a positive number",
                        )
                    )
            if dims.get("Unit") not in ("inches", "centimeters"):
                return self._invalid(
                    self._constraint(
                        dims.get("Unit"),
                        f"{where}.packageDimensions.unit",
                        "Member must satisfy enum value set: [inches, centimeters]",
                    )
                )
        weight = details["Weight"]
        if not isinstance(weight, dict) or weight.get("Unit") not in ("oz", "g"):
            return self._invalid(
                self._constraint(
                    (weight or {}).get("Unit") if isinstance(weight, dict) else weight,
                    f"{where}.weight.unit",
                    "Member must satisfy enum value set: [oz, g]",
                )
            )
        value = weight.get("Value")
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            return self._invalid(
                self._constraint(value, f"{where}.weight.value", "Member must be a positive number")
            )
        options = details["ShippingServiceOptions"]
        if not isinstance(options, dict) or options.get("DeliveryExperience") not in DELIVERY_EXPERIENCE:
            return self._invalid(
                self._constraint(
                    options.get("DeliveryExperience") if isinstance(options, dict) else None,
                    f"{where}.shippingServiceOptions.deliveryExperience",
                    f"Member must satisfy enum value set: [{', '.join(DELIVERY_EXPERIENCE)}]",
                )
            )
        if not isinstance(options.get("CarrierWillPickUp"), bool):
            return self._invalid(
                self._constraint(
                    options.get("CarrierWillPickUp"),
                    f"{where}.shippingServiceOptions.carrierWillPickUp",
                    "Member must not be null",
                )
            )
        if options.get("CarrierWillPickUpOption") not in (None, *PICKUP_OPTIONS):
            return self._invalid(
                self._constraint(
                    options["CarrierWillPickUpOption"],
                    f"{where}.shippingServiceOptions.carrierWillPickUpOption",
                    f"Member must satisfy enum value set: [{', '.join(PICKUP_OPTIONS)}]",
                )
            )
        if options.get("LabelFormat") not in (None, *LABEL_FORMATS):
            return self._invalid(
                self._constraint(
                    options["LabelFormat"],
                    f"{where}.shippingServiceOptions.labelFormat",
                    f"Member must satisfy enum value set: [{', '.join(LABEL_FORMATS)}]",
                )
            )
        order_id = str(details["AmazonOrderId"])
        if not ORDER_ID.fullmatch(order_id):
            return self._invalid(f"AmazonOrderId {order_id} is not in 3-7-7 format")
        order = self.emulator.orders.get(order_id)
        if order is None or order["_seller"] != seller_id:
            return self.emulator.error(404, "NotFound", f"Order {order_id} not found")
        if order["FulfillmentChannel"] != "MFN":
            return self._invalid(f"Order {order_id} is fulfilled by Amazon: only MFN orders can be shipped")
        if order["OrderStatus"] not in ("Unshipped", "PartiallyShipped"):
            return self._invalid(
                f"Order {order_id} is {order['OrderStatus']}: only Unshipped and PartiallyShipped "
                f"orders can be shipped"
            )
        known = {i["OrderItemId"]: i for i in self.emulator.items[order_id]}
        items: list[tuple[dict[str, Any], int]] = []
        for line in details["ItemList"]:
            if not isinstance(line, dict) or line.get("OrderItemId") not in known:
                return self._invalid(
                    f"OrderItemId {line.get('OrderItemId') if isinstance(line, dict) else line} "
                    f"is not in order {order_id}"
                )
            quantity = line.get("Quantity")
            if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
                return self._invalid(
                    self._constraint(
                        quantity, f"{where}.itemList.member.quantity", "Member must be at least 1"
                    )
                )
            item = known[line["OrderItemId"]]
            if quantity > int(item["QuantityOrdered"]) - int(item["QuantityShipped"]):
                return self._invalid(
                    f"OrderItemId {item['OrderItemId']}: {quantity} is more than its unshipped quantity"
                )
            items.append((item, quantity))
        return order, items, _grams(weight)

    def _offers(self, order: Mapping[str, Any], grams: float) -> tuple[list[Service], list[Service]]:
        country = self.emulator.marketplace_country(order["MarketplaceId"])
        services = SERVICES.get(country, SERVICES["US"])
        return [s for s in services if grams <= s.max_grams], [s for s in services if grams > s.max_grams]

    def _price(self, service: Service, grams: float) -> float:
        extra = max(0.0, grams - 500) / 1000
        return round(service.base + service.per_kg * extra, 2)

    def _service_json(
        self,
        service: Service,
        order: Mapping[str, Any],
        grams: float,
        details: Mapping[str, Any],
        offer_id: str,
    ) -> dict[str, Any]:
        now = self._now()
        rate = {
            "CurrencyCode": self.emulator.marketplace_currency(order["MarketplaceId"]),
            "Amount": self._price(service, grams),
        }
        options = details["ShippingServiceOptions"]
        return {
            "ShippingServiceName": service.name,
            "CarrierName": service.carrier,
            "ShippingServiceId": service.service_id,
            "ShippingServiceOfferId": offer_id,
            "ShipDate": _iso(now),
            "EarliestEstimatedDeliveryDate": _iso(now + timedelta(days=max(1, service.days - 1))),
            "LatestEstimatedDeliveryDate": _iso(now + timedelta(days=service.days)),
            "Rate": rate,
            "RateWithAdjustments": rate,
            "ShippingServiceOptions": {
                "DeliveryExperience": options["DeliveryExperience"],
                "CarrierWillPickUp": options["CarrierWillPickUp"],
            },
            "AvailableLabelFormats": ["PDF", "PNG", "ZPL203"],
            "RequiresAdditionalSellerInputs": False,
        }

    # ------------------------------------------------------------ handlers

    async def eligible(self, request: Request) -> Reply:
        who = self.emulator.seller_of(request)
        if isinstance(who, Reply):
            return who
        body = request.json()
        checked = self._check_details(who.seller_id, body.get("ShipmentRequestDetails"))
        if isinstance(checked, Reply):
            return checked
        order, _, grams = checked
        details = body["ShipmentRequestDetails"]
        offered, rejected = self._offers(order, grams)
        listed = []
        for service in offered:
            offer_id = base64.b64encode(secrets.token_bytes(48)).decode()
            self.offers[offer_id] = (order["AmazonOrderId"], service.service_id, self.clock() + OFFER_TTL)
            listed.append(self._service_json(service, order, grams, details, offer_id))
        payload: dict[str, Any] = {
            "ShippingServiceList": listed,
            "RejectedShippingServiceList": [
                {
                    "CarrierName": s.carrier,
                    "ShippingServiceName": s.name,
                    "ShippingServiceId": s.service_id,
                    "RejectionReasonCode": "PACKAGE_WEIGHT_EXCEEDS_LIMIT",
                    "RejectionReasonMessage": (
                        f"The package weight exceeds the {s.max_grams / 1000:g} kg limit of {s.name}."
                    ),
                }
                for s in rejected
            ],
            "TemporarilyUnavailableCarrierList": [],
            "TermsAndConditionsNotAcceptedCarrierList": [],
        }
        return Reply(200, {"payload": payload})

    async def create(self, request: Request) -> Reply:
        who = self.emulator.seller_of(request)
        if isinstance(who, Reply):
            return who
        body = request.json()
        checked = self._check_details(who.seller_id, body.get("ShipmentRequestDetails"))
        if isinstance(checked, Reply):
            return checked
        order, items, grams = checked
        details = body["ShipmentRequestDetails"]
        service_id = body.get("ShippingServiceId")
        if not isinstance(service_id, str) or not service_id:
            return self._invalid(self._constraint(None, "shippingServiceId", "Member must not be null"))
        offered, _ = self._offers(order, grams)
        service = next((s for s in offered if s.service_id == service_id), None)
        if service is None:
            return self._invalid(f"ShippingServiceId {service_id} is not available for this shipment")
        offer_id = body.get("ShippingServiceOfferId")
        if offer_id:
            issued = self.offers.get(str(offer_id))
            if (
                issued is None
                or issued[:2] != (order["AmazonOrderId"], service_id)
                or issued[2] < self.clock()
            ):
                return self._invalid("ShippingServiceOfferId is invalid or expired")
        label_format = details["ShippingServiceOptions"].get("LabelFormat") or "PDF"
        label_format = "PDF" if label_format == "ShippingServiceDefault" else label_format
        order_id = order["AmazonOrderId"]
        reference = next((r for r, o in self.references.items() if o == order_id), order_id)
        record = self.book.buy(reference, service_id, 1, request=details)
        tracking = record.tracking_numbers[0]
        lines = [f"{service.name}", f"Order {order_id}", f"Tracking {tracking}"]
        if label_format == "PNG":
            document = png_document()
        elif label_format.startswith("ZPL"):
            document = zpl_document(*lines)
        else:
            document = pdf_document(*lines)
        shipment = MfnShipment(
            shipment_id=str(uuid.uuid4()),
            seller=who.seller_id,
            order_id=order_id,
            details=details,
            service=service,
            tracking_id=tracking,
            carrier_id=re.sub(r"[\u00ae\u2122\s]", "", service.carrier),
            label=document,
            label_format=label_format,
            created=self._now(),
            rate=self._price(service, grams),
            currency=self.emulator.marketplace_currency(order["MarketplaceId"]),
            record=record,
        )
        self.shipments[shipment.shipment_id] = shipment
        for item, quantity in items:
            item["QuantityShipped"] += quantity
        self._order_status(order)
        shipment.package_reference = str(len([s for s in self.shipments.values() if s.order_id == order_id]))
        return Reply(200, {"payload": self._shipment_json(shipment)})

    def _order_status(self, order: dict[str, Any]) -> None:
        items = self.emulator.items[order["AmazonOrderId"]]
        unshipped = sum(int(i["QuantityOrdered"]) - int(i["QuantityShipped"]) for i in items)
        shipped = sum(int(i["QuantityShipped"]) for i in items)
        status = "Shipped" if unshipped == 0 else ("PartiallyShipped" if shipped else "Unshipped")
        if status != order["OrderStatus"] or unshipped != order.get("NumberOfItemsUnshipped"):
            self.emulator.update_order(
                order["AmazonOrderId"], OrderStatus=status, NumberOfItemsUnshipped=unshipped
            )
            if status == "Shipped":
                self.emulator.finances.shipped(order["_seller"], order, items)

    def _shipment_json(self, shipment: MfnShipment) -> dict[str, Any]:
        details = shipment.details
        order = self.emulator.orders[shipment.order_id]
        to = order["ShippingAddress"]
        cancelled = shipment.status != "Purchased"
        contents = b"" if cancelled else gzip.compress(shipment.label)
        rate = {"CurrencyCode": shipment.currency, "Amount": shipment.rate}
        return {
            "ShipmentId": shipment.shipment_id,
            "AmazonOrderId": shipment.order_id,
            "ItemList": details["ItemList"],
            "ShipFromAddress": details["ShipFromAddress"],
            "ShipToAddress": {
                "Name": to.get("Name", ""),
                "AddressLine1": to.get("AddressLine1", ""),
                "Email": "",
                "City": to.get("City", ""),
                "StateOrProvinceCode": to.get("StateOrRegion", ""),
                "PostalCode": to.get("PostalCode", ""),
                "CountryCode": to.get("CountryCode", ""),
                "Phone": "",
            },
            "PackageDimensions": details["PackageDimensions"],
            "Weight": details["Weight"],
            "Insurance": {"CurrencyCode": shipment.currency, "Amount": 0.0},
            "ShippingService": {
                "ShippingServiceName": shipment.service.name,
                "CarrierName": shipment.service.carrier,
                "ShippingServiceId": shipment.service.service_id,
                "ShippingServiceOfferId": "",
                "ShipDate": _iso(shipment.created),
                "EarliestEstimatedDeliveryDate": _iso(
                    shipment.created + timedelta(days=max(1, shipment.service.days - 1))
                ),
                "LatestEstimatedDeliveryDate": _iso(shipment.created + timedelta(days=shipment.service.days)),
                "Rate": rate,
                "RateWithAdjustments": rate,
                "ShippingServiceOptions": details["ShippingServiceOptions"],
                "RequiresAdditionalSellerInputs": False,
            },
            "Label": {
                "Dimensions": {"Length": 6.0, "Width": 4.0, "Unit": "inches"},
                "FileContents": {
                    "Contents": base64.b64encode(contents).decode(),
                    "FileType": FILE_TYPES[shipment.label_format],
                    "Checksum": ""
                    if cancelled
                    else base64.b64encode(hashlib.md5(shipment.label).digest()).decode(),
                },
                "LabelFormat": shipment.label_format,
            },
            "Status": shipment.status,
            "TrackingId": shipment.tracking_id,
            "CreatedDate": _iso(shipment.created),
            "LastUpdatedDate": _iso(shipment.updated),
        }

    def _own_shipment(self, request: Request) -> MfnShipment | Reply:
        who = self.emulator.seller_of(request)
        if isinstance(who, Reply):
            return who
        (shipment_id,) = request.args
        if not SHIPMENT_ID.fullmatch(shipment_id):
            return self._invalid(
                self._constraint(
                    shipment_id,
                    "shipmentId",
                    "Member must satisfy regular expression pattern: "
                    "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
                )
            )
        shipment = self.shipments.get(shipment_id)
        if shipment is None or shipment.seller != who.seller_id:
            return self.emulator.error(404, "NotFound", f"Shipment {shipment_id} not found")
        return shipment

    async def get(self, request: Request) -> Reply:
        shipment = self._own_shipment(request)
        if isinstance(shipment, Reply):
            return shipment
        return Reply(200, {"payload": self._shipment_json(shipment)})

    async def cancel(self, request: Request) -> Reply:
        shipment = self._own_shipment(request)
        if isinstance(shipment, Reply):
            return shipment
        if shipment.status != "Purchased":
            return self._invalid(f"Shipment {shipment.shipment_id} is already {shipment.status}")
        if shipment.record.handed_over:
            return self._invalid(
                f"Shipment {shipment.shipment_id} cannot be canceled: the carrier has already picked it up"
            )
        shipment.status = "RefundPending"
        shipment.updated = self._now()
        shipment.record.voided = True
        shipment.record.scans.append((self._now(), TrackingStatus.CANCELLED, None))
        order = self.emulator.orders[shipment.order_id]
        known = {i["OrderItemId"]: i for i in self.emulator.items[shipment.order_id]}
        for line in shipment.details["ItemList"]:
            known[line["OrderItemId"]]["QuantityShipped"] -= int(line["Quantity"])
        self._order_status(order)
        return Reply(200, {"payload": self._shipment_json(shipment)})

    async def tracking(self, request: Request) -> Reply:
        who = self.emulator.seller_of(request)
        if isinstance(who, Reply):
            return who
        tracking_id, carrier_id = request.query.get("trackingId"), request.query.get("carrierId")
        if not tracking_id or not carrier_id:
            return self.emulator.error(400, "InvalidRequest", "Request is missing or has invalid parameters")
        shipment = next(
            (
                s
                for s in self.shipments.values()
                if s.tracking_id == tracking_id and s.seller == who.seller_id and s.carrier_id == carrier_id
            ),
            None,
        )
        if shipment is None:
            return self.emulator.error(404, "NotFound", f"No tracking information for {tracking_id}")
        events: list[dict[str, Any]] = []
        codes: list[str] = []
        for at, status, reason in shipment.record.scans:
            code = "Lost" if reason == TrackingReason.LOST else EVENT_CODES[status]
            if status == TrackingStatus.DELIVERY_FAILED and reason == TrackingReason.REFUSED:
                code = "Rejected"
            elif status == TrackingStatus.RETURN_TO_SENDER and reason == TrackingReason.ADDRESS_ISSUE:
                code = "Undeliverable"
            events.append(
                {
                    "eventCode": code,
                    "eventTime": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                    "location": {
                        "city": "Hebron",
                        "stateOrRegion": "KY",
                        "countryCode": "US",
                        "postalCode": "41048",
                    },
                    "shipmentType": "FORWARD",
                }
            )
            if reason is not None and reason in DETAIL_CODES:
                codes.append(DETAIL_CODES[reason])
        last = str(events[-1]["eventCode"]) if events else "ReadyForReceive"
        payload = {
            "trackingId": tracking_id,
            "alternateLegTrackingId": "",
            "eventHistory": events,
            "promisedDeliveryDate": _iso(shipment.created + timedelta(days=shipment.service.days)),
            "summary": {
                "status": SUMMARY.get(last, "InTransit"),
                "trackingDetailCodes": {"forward": codes, "returns": []},
            },
        }
        return Reply(200, {"payload": payload})

    def packages(self, order_id: str) -> list[dict[str, Any]]:
        """The order's packages as Orders 2026-01-01 shows them (``OrderPackage``)."""
        found = []
        for shipment in self.shipments.values():
            if shipment.order_id != order_id:
                continue
            scans = shipment.record.scans
            latest = scans[-1][1] if scans else TrackingStatus.PENDING
            if shipment.status != "Purchased":
                status, detail = "CANCELLED", "LABEL_CANCELLED"
            elif latest == TrackingStatus.DELIVERED:
                status, detail = "DELIVERED", "DELIVERED"
            elif shipment.record.handed_over:
                status, detail = "IN_TRANSIT", "PICKED_UP"
            else:
                pickup = shipment.details["ShippingServiceOptions"]["CarrierWillPickUp"]
                status, detail = "PENDING", "PENDING_PICK_UP" if pickup else "PENDING_DROP_OFF"
            found.append(
                {
                    "packageReferenceId": shipment.package_reference,
                    "createdTime": _iso(shipment.created),
                    "packageStatus": {"status": status, "detailedStatus": detail},
                    "carrier": shipment.service.carrier,
                    "shippingService": shipment.service.name,
                    "trackingNumber": shipment.tracking_id,
                    "packageItems": [
                        {"orderItemId": line["OrderItemId"], "quantity": line["Quantity"]}
                        for line in shipment.details["ItemList"]
                    ],
                }
            )
        return found

    # ------------------------------------------------------------ the carrier side

    def labels_bought(self, reference: str) -> int:
        return self.book.bought(reference)

    def scan(
        self,
        tracking_number: str,
        status: TrackingStatus,
        reason: TrackingReason | None = None,
        at: datetime | None = None,
    ) -> None:
        self.book.scan(tracking_number, status, reason, at)


# ---------------------------------------------------------------- for tests and the demo

US_SENDER = Address(
    name="Conformance Shipping",
    company="Conformance Trading LLC",
    line1="300 Turnbull Ave",
    city="Detroit",
    region="MI",
    postal_code="48123",
    country="US",
    phone="7132341234",
    email="ship@conformance.example",
)
US_BUYER = Address(
    name="Jane Doe", line1="1 Main Street", city="New York", region="NY", postal_code="10001", country="US"
)
_orders = itertools.count(1)


def amazon_account(emulator: AmazonEmulator, base_url: str, **settings: Any) -> CarrierAccount:
    """What the core hands Amazon's logistics: the shop's connection, fresh credentials."""
    creds = emulator.issue_token(emulator.open_account("US"))
    connection = ChannelConnection(
        id=1,
        tenant="conformance",
        channel="amazon",
        site="US",
        currency="USD",
        credentials=creds,
        base_url=base_url,
        settings={"timeout": 5, **settings},
        http=emulator_http(),
    )
    return CarrierAccount(
        id=1,
        tenant="conformance",
        carrier="amazon_shipping",
        credentials={},
        connection=connection,
        http=emulator_http(),
    )


def amazon_request(
    emulator: AmazonEmulator, account: CarrierAccount, reference: str, **changes: Any
) -> ShipmentRequest:
    """An unshipped MFN order of two lines on the emulator, named by ``reference``."""
    assert account.connection is not None
    order_id = f"113-{next(_orders):07d}-{abs(hash(reference)) % 10**7:07d}"
    emulator.add_order(
        account.connection.credentials,
        order_id,
        [("CONF-1", 2, "19.90"), ("CONF-2", 1, "20.00")],
        buyer="Jane Doe",
    )
    emulator.name_order(reference, order_id)
    request = sample_request(
        reference,
        origin=US_SENDER,
        destination=US_BUYER,
        order_external_id=order_id,
        lines=[(f"{order_id}-1", 2), (f"{order_id}-2", 1)],
        items=(),
    )
    return replace(request, **changes) if changes else request
