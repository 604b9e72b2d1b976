"""TikTok Shipping in the emulator: the Fulfillment API (202309) calls a seller makes to ship on
TikTok's own logistics, validated as the Partner API reference describes them (the
reference pages ``get-eligible-shipping-service``, ``create-packages``, ``ship-package``,
``get-package-detail``, ``get-package-shipping-document``, ``get-tracking`` and
``search-package``, as mirrored in ``lazykern/ecommerce-api-docs``
``data/raw/tiktok/api-reference/fulfillment/``).

* ``POST /fulfillment/202309/orders/{order_id}/shipping_services/query``: US only
  (21008106 elsewhere); ``weight`` {value (string), unit GRAM|POUND} and ``dimension``
  {length, width, height (strings, all together), unit CM|INCH}; 21011006 for lines
  already shipped, 21008025 for FBT orders, 21011048 when several packages could ship and
  no line is named, 21011037 when no service takes the package.
* ``POST /fulfillment/202309/packages`` (create packages = buy the label, US only): the
  ``shipping_service_id`` must be one the query offers for that weight (21004008), else
  the default one; 11021009 when none takes it; 21008042 for lines whose label was
  already bought. The label's tracking number is on the package from then on.
* ``POST /fulfillment/202309/packages/{package_id}/ship``: platform shipping hands the
  package over (PICKUP or DROP_OFF); outside the US the label is made here.
* ``GET /fulfillment/202309/packages/{package_id}``, ``POST /fulfillment/202309/packages/search``.
* ``GET /fulfillment/202309/packages/{package_id}/shipping_documents``: ``document_type``
  SHIPPING_LABEL, PACKING_SLIP, SHIPPING_LABEL_AND_PACKING_SLIP, SHIPPING_LABEL_PICTURE,
  HAZMAT_LABEL, INVOICE_LABEL; ``document_size`` A6|A5; ``document_format`` PDF (ZPL in BR
  only); refused for seller shipping (21008017), FBT (21008043), cancelled (21023059),
  before shipping (21042104) and after the carrier's pickup (21042102); answers a
  ``doc_url`` (valid 24 h) this emulator serves, and the tracking number.
* ``GET /fulfillment/202309/orders/{order_id}/tracking``: ``tracking[]`` of
  ``description`` and ``update_time_millis`` (TikTok gives no event codes).

The error codes are the reference pages' own. UNCONFIRMED: which code an unknown package
or order gets (the emulator: 21001001), and the wording of tracking descriptions (the
emulator's are modelled on the reference's "Your package was delivered!").
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
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
from crossdock.testing.carriers import ParcelBook, ParcelRecord, pdf_document, png_document, sample_request
from crossdock.testing.emulator import Reply, Request

if TYPE_CHECKING:
    from crossdock_tiktok.emulator import Shop, TikTokShopEmulator, TikTokShopSellerEmulator

__all__ = ["DESCRIPTIONS", "TikTokLogistics", "tiktok_account", "tiktok_request"]

INVALID_PARAMS = 21001001
ALREADY_SHIPPED_ORDERS = 21011006
NOT_IN_REGION = 21008106
PLATFORM_FULFILLED = 21008025
MULTIPLE_PACKAGES = 21011048
NO_SERVICE_FOR_REQUEST = 21011037
NO_SERVICE = 11021009
SERVICE_NOT_FOUND = 21004008
LABEL_ALREADY_PRINTED = 21008042
SELLER_SHIPPING_DOCS = 21008017
FBT_DOCS = 21008043
CANCELLED_DOCS = 21023059
DOCS_AFTER_PICKUP = 21042102
DOCS_BEFORE_SHIPPING = 21042104
DOCUMENT_TYPES = (
    "SHIPPING_LABEL",
    "PACKING_SLIP",
    "SHIPPING_LABEL_AND_PACKING_SLIP",
    "SHIPPING_LABEL_PICTURE",
    "HAZMAT_LABEL",
    "INVOICE_LABEL",
)
DOC_PATH = "/wsos_v2/oec_fulfillment_doc_tts/object/"
REGION_CURRENCIES = {
    "US": "USD",
    "GB": "GBP",
    "MY": "MYR",
    "TH": "THB",
    "VN": "VND",
    "PH": "PHP",
    "SG": "SGD",
    "ID": "IDR",
}
DOC_TTL = 86400
POUND = Decimal("453.59237")
INCH = Decimal("2.54")

#: tracking descriptions by scan (status, reason), as TikTok words its tracking events
DESCRIPTIONS: Mapping[tuple[TrackingStatus, TrackingReason | None], str] = {
    (TrackingStatus.PENDING, None): "Shipping label created, waiting for carrier pickup",
    (TrackingStatus.PICKED_UP, None): "Package picked up by carrier",
    (TrackingStatus.IN_TRANSIT, None): "Package departed the sorting facility, in transit",
    (TrackingStatus.ON_HOLD, TrackingReason.CUSTOMS_HOLD): "Package held in customs clearance",
    (TrackingStatus.ON_HOLD, TrackingReason.DUTIES_UNPAID): "Package held in customs: duties to be paid",
    (TrackingStatus.ON_HOLD, None): "Package on hold at the carrier facility",
    (TrackingStatus.DELIVERY_DELAYED, None): "Delivery delayed",
    (TrackingStatus.OUT_FOR_DELIVERY, None): "Out for delivery",
    (TrackingStatus.READY_FOR_PICKUP, None): "Ready for collection at the pickup point",
    (TrackingStatus.DELIVERY_FAILED, TrackingReason.RECIPIENT_UNAVAILABLE): (
        "Delivery attempted: recipient not available"
    ),
    (TrackingStatus.DELIVERY_FAILED, TrackingReason.ADDRESS_ISSUE): "Delivery attempted: address problem",
    (TrackingStatus.DELIVERY_FAILED, TrackingReason.REFUSED): "Delivery attempted: refused by recipient",
    (TrackingStatus.DELIVERY_FAILED, None): "Delivery attempt failed",
    (TrackingStatus.DELIVERED, None): "Your package was delivered!",
    (TrackingStatus.RETURN_TO_SENDER, None): "Package returning to sender",
    (TrackingStatus.CANCELLED, None): "Shipment cancelled",
}


@dataclass(frozen=True)
class Service:
    name: str
    provider: str
    base: Decimal
    per_kg: Decimal
    earliest: int
    latest: int
    max_grams: int
    default: bool = False


#: TikTok Shipping services of the US market (the only one with create packages)
US_SERVICES = (
    Service("USPS Ground Advantage", "USPS", Decimal("4.50"), Decimal("1.20"), 2, 5, 31_750, True),
    Service("UPS Ground", "UPS", Decimal("7.90"), Decimal("1.00"), 1, 5, 68_000),
    Service("FedEx 2Day", "FedEx", Decimal("14.50"), Decimal("2.00"), 2, 2, 68_000),
)


def _number(value: Any) -> Decimal | None:
    """A positive decimal given as a string, as the reference types these fields."""
    if not isinstance(value, str):
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() and number > 0 else None


class TikTokLogistics:
    """State and handlers; the emulator routes to them (it owns auth, orders, the envelope)."""

    def __init__(self, emulator: TikTokShopEmulator) -> None:
        self.emulator = emulator
        self.book = ParcelBook("TT")
        #: service id -> service (ids made once per emulator)
        self.services: dict[str, Service] = {emulator._next_id(7208): s for s in US_SERVICES}
        #: package id -> what the package holds besides its units' fields
        self.packages: dict[str, dict[str, Any]] = {}
        self.documents: dict[str, tuple[bytes, str, float]] = {}  # token -> (content, type, expiry)
        #: request reference -> order id (the conformance suite names orders by reference)
        self.references: dict[str, str] = {}

    # ------------------------------------------------------------ helpers

    def _fail(self, code: int, message: str) -> Reply:
        return self.emulator._fail(code, message)

    def _reference(self, order_id: str) -> str:
        return next((r for r, o in self.references.items() if o == order_id), order_id)

    def _order(self, shop: Shop, order_id: str) -> dict[str, Any] | Reply:
        order = self.emulator.orders.get(order_id)
        if order is None or order["_shop_id"] != shop.shop_id:
            return self._fail(INVALID_PARAMS, f"order {order_id} does not exist in this shop")
        if order["fulfillment_type"] == "FULFILLMENT_BY_TIKTOK":
            return self._fail(
                PLATFORM_FULFILLED, "Seller cannot operate orders which are fulfilled by platform"
            )
        return order

    def _units(self, order: dict[str, Any], ids: Any) -> list[dict[str, Any]] | Reply:
        """The named units (all the waiting ones when none is named), all still to fulfil."""
        if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)):
            return self._fail(INVALID_PARAMS, "order_line_item_ids must be a list of strings")
        units = order["line_items"]
        if ids:
            known = {u["id"]: u for u in units}
            unknown = [i for i in ids if i not in known]
            if unknown:
                return self._fail(
                    INVALID_PARAMS, f"order line items {', '.join(unknown)} are not in this order"
                )
            chosen = [known[i] for i in ids]
        else:
            chosen = [u for u in units if u["package_status"] == "TO_FULFILL"]
            if len({u["package_id"] for u in chosen}) > 1:
                return self._fail(
                    MULTIPLE_PACKAGES,
                    "There are multiple packages that can be shipped, please specify the order line "
                    "that needs "
                    "to be shipped.",
                )
        if order["status"] not in ("AWAITING_SHIPMENT", "PARTIALLY_SHIPPING") or not chosen:
            return self._fail(ALREADY_SHIPPED_ORDERS, "These orders are already shipped.")
        if any(u["package_status"] != "TO_FULFILL" for u in chosen):
            return self._fail(ALREADY_SHIPPED_ORDERS, "These orders are already shipped.")
        return chosen

    def _grams(self, body: Mapping[str, Any]) -> Decimal | Reply | None:
        weight = body.get("weight")
        if weight is None:
            return None
        value = _number(weight.get("value")) if isinstance(weight, dict) else None
        unit = weight.get("unit") if isinstance(weight, dict) else None
        if value is None or unit not in ("GRAM", "POUND"):
            return self._fail(
                INVALID_PARAMS,
                "weight.value must be a positive number (string) and weight.unit GRAM or POUND",
            )
        return value * POUND if unit == "POUND" else value

    def _dimension(self, body: Mapping[str, Any]) -> Reply | None:
        dimension = body.get("dimension")
        if dimension is None:
            return None
        ok = isinstance(dimension, dict) and all(
            _number(dimension.get(k)) for k in ("length", "width", "height")
        )
        if not ok or dimension.get("unit") not in ("CM", "INCH"):
            return self._fail(
                INVALID_PARAMS,
                "dimension takes length, width and height together (positive numbers as strings) "
                "and unit CM or INCH",
            )
        return None

    def _price(self, service: Service, grams: Decimal) -> Decimal:
        extra = max(Decimal(0), grams - 500) / 1000
        return (service.base + service.per_kg * extra).quantize(Decimal("0.01"))

    def _offered(self, grams: Decimal) -> list[tuple[str, Service]]:
        return [(sid, s) for sid, s in self.services.items() if grams <= s.max_grams]

    def _provider_id(self, shop: Shop, name: str) -> str:
        providers = self.emulator.providers[shop.delivery_option_id]
        return next((pid for pid, known in providers.items() if known == name), next(iter(providers)))

    def _service_json(self, shop: Shop, sid: str, service: Service, grams: Decimal) -> dict[str, Any]:
        return {
            "id": sid,
            "name": service.name,
            "price": str(self._price(service, grams)),
            "currency": shop.spec.currency,
            "earliest_delivery_days": service.earliest,
            "latest_delivery_days": service.latest,
            "is_default": service.default,
            "shipping_provider_name": service.provider,
            "shipping_provider_id": self._provider_id(shop, service.provider),
        }

    def _checked(
        self, request: Request, order_id: str
    ) -> tuple[Shop, dict[str, Any], dict[str, Any]] | Reply:
        shop = self.emulator._check(request)
        if isinstance(shop, Reply):
            return shop
        if shop.region != "US":
            return self._fail(NOT_IN_REGION, "This interface cannot be used in this region.")
        body = request.json() if request.body else {}
        if not isinstance(body, dict):
            return self._fail(INVALID_PARAMS, "the body must be a JSON object")
        order = self._order(shop, order_id)
        if isinstance(order, Reply):
            return order
        return shop, order, body

    # ------------------------------------------------------------ handlers

    async def shipping_services(self, request: Request) -> Reply:
        (order_id,) = request.args
        checked = self._checked(request, order_id)
        if isinstance(checked, Reply):
            return checked
        shop, order, body = checked
        units = self._units(order, body.get("order_line_item_ids"))
        if isinstance(units, Reply):
            return units
        grams = self._grams(body)
        if isinstance(grams, Reply):
            return grams
        problem = self._dimension(body)
        if problem:
            return problem
        weight = grams if grams is not None else Decimal(500)
        offered = self._offered(weight)
        if not offered:
            return self._fail(
                NO_SERVICE_FOR_REQUEST,
                "There are no available shipping services for this request. "
                "Please modify the package weight, "
                "or double check the recipient address.",
            )
        data: dict[str, Any] = {
            "order_id": order_id,
            "order_line_id": [u["id"] for u in units],
            "shipping_services": [self._service_json(shop, sid, s, weight) for sid, s in offered],
        }
        for key in ("weight", "dimension"):
            if body.get(key):
                data[key] = body[key]
        return self.emulator._ok(data)

    async def create_packages(self, request: Request) -> Reply:
        shop = self.emulator._check(request)
        if isinstance(shop, Reply):
            return shop
        body = request.json() if request.body else {}
        order_id = body.get("order_id") if isinstance(body, dict) else None
        if not isinstance(order_id, str) or not order_id:
            return self._fail(INVALID_PARAMS, "order_id is required")
        checked = self._checked(request, order_id)
        if isinstance(checked, Reply):
            return checked
        shop, order, body = checked
        wanted = body.get("order_line_item_ids")
        named = [u for u in order["line_items"] if u["id"] in (wanted or [])] if wanted else []
        if any(u["tracking_number"] and u["package_status"] == "TO_FULFILL" for u in named):
            return self._fail(LABEL_ALREADY_PRINTED, "seller already print shipping label")
        units = self._units(order, wanted)
        if isinstance(units, Reply):
            return units
        if any(u["tracking_number"] for u in units):
            return self._fail(LABEL_ALREADY_PRINTED, "seller already print shipping label")
        grams = self._grams(body)
        if isinstance(grams, Reply):
            return grams
        problem = self._dimension(body)
        if problem:
            return problem
        weight = grams if grams is not None else Decimal(500)
        offered = dict(self._offered(weight))
        service_id = body.get("shipping_service_id")
        if service_id:
            if str(service_id) not in self.services:
                return self._fail(SERVICE_NOT_FOUND, "create label shipping service not found")
            if str(service_id) not in offered:
                return self._fail(
                    NO_SERVICE,
                    "No available shipping services for this request. "
                    "Please modify the package weight or check "
                    "the recipient address.",
                )
            chosen_id = str(service_id)
        else:
            default = [sid for sid, s in offered.items() if s.default] or list(offered)
            if not default:
                return self._fail(NO_SERVICE, "No available shipping services for this request.")
            chosen_id = default[0]
        service = self.services[chosen_id]
        package_id = self.emulator._next_id(1152)
        now = int(self.emulator.clock())
        record = self.book.buy(self._reference(order_id), chosen_id, 1, request=body)
        provider_id = self._provider_id(shop, service.provider)
        for unit in units:
            unit.update(
                package_id=package_id,
                tracking_number=record.tracking_numbers[0],
                shipping_provider_id=provider_id,
                shipping_provider_name=service.provider,
            )
        order["packages"] = [{"id": p} for p in dict.fromkeys(u["package_id"] for u in order["line_items"])]
        info = self._service_json(shop, chosen_id, service, weight)
        self.packages[package_id] = {
            "order_id": order_id,
            "create_time": now,
            "update_time": now,
            "service": info,
            "weight": body.get("weight"),
            "dimension": body.get("dimension"),
            "record": record,
            "handover_method": None,
        }
        self.emulator.touch(order)
        data = {
            "order_id": order_id,
            "order_line_item_ids": [u["id"] for u in units],
            "package_id": package_id,
            "shipping_service_info": {k: v for k, v in info.items() if k != "is_default"},
            "create_time": now,
        }
        for key in ("weight", "dimension"):
            if body.get(key):
                data[key] = body[key]
        return self.emulator._ok(data)

    def shipped(
        self,
        order: dict[str, Any],
        package_id: str,
        units: list[dict[str, Any]],
        handover: str | None,
        shop: Shop,
    ) -> str | None:
        """The ship call's bookkeeping: the tracking number of a label bought with create
        packages, else a new platform label (None: the seller's own shipment)."""
        entry = self.packages.get(package_id)
        if entry is None and handover is not None:
            record = self.book.buy(self._reference(order["id"]), "PLATFORM", 1)
            now = int(self.emulator.clock())
            entry = self.packages[package_id] = {
                "order_id": order["id"],
                "create_time": now,
                "update_time": now,
                "service": None,
                "weight": None,
                "dimension": None,
                "record": record,
                "handover_method": None,
            }
        if entry is None:
            return None
        entry["handover_method"] = handover or "PICKUP"
        entry["update_time"] = int(self.emulator.clock())
        record = entry["record"]
        assert isinstance(record, ParcelRecord)
        return record.tracking_numbers[0]

    def _package(self, request: Request) -> tuple[Shop, dict[str, Any], str, list[dict[str, Any]]] | Reply:
        shop = self.emulator._check(request)
        if isinstance(shop, Reply):
            return shop
        package_id = request.args[0]
        for order in self.emulator.orders.values():
            if order["_shop_id"] != shop.shop_id:
                continue
            units = [u for u in order["line_items"] if u["package_id"] == package_id]
            if units:
                return shop, order, package_id, units
        return self._fail(INVALID_PARAMS, f"package {package_id} does not exist")

    def _package_json(
        self, order: dict[str, Any], package_id: str, units: list[dict[str, Any]]
    ) -> dict[str, Any]:
        entry = self.packages.get(package_id) or {}
        address = order["recipient_address"]
        shown: dict[str, Any] = {
            "package_id": package_id,
            "orders": [{"id": order["id"]}],
            "package_status": units[0]["package_status"],
            "split_and_combine_tag": "DEFAULT",
            "has_multi_skus": len({u["sku_id"] for u in units}) > 1,
            "note_tag": "BUYER_UNNOTED",
            "shipping_provider_name": units[0]["shipping_provider_name"],
            "shipping_provider_id": units[0]["shipping_provider_id"],
            "shipping_type": order["shipping_type"] if not entry else "TIKTOK",
            "delivery_option_name": order["delivery_option_name"],
            "delivery_option_id": order["delivery_option_id"],
            "tracking_number": units[0]["tracking_number"],
            "create_time": entry.get("create_time", order["create_time"]),
            "update_time": entry.get("update_time", order["update_time"]),
            "order_line_item_ids": [u["id"] for u in units],
            "recipient_address": {
                k: address.get(k, "")
                for k in ("full_address", "name", "postal_code", "region_code", "address_line1")
            },
        }
        if entry.get("handover_method"):
            shown["handover_method"] = entry["handover_method"]
        for key in ("weight", "dimension"):
            if entry.get(key):
                shown[key] = entry[key]
        return shown

    async def package_detail(self, request: Request) -> Reply:
        found = self._package(request)
        if isinstance(found, Reply):
            return found
        _, order, package_id, units = found
        return self.emulator._ok(self._package_json(order, package_id, units))

    async def shipping_documents(self, request: Request) -> Reply:
        found = self._package(request)
        if isinstance(found, Reply):
            return found
        shop, order, package_id, units = found
        q = request.query
        kind = q.get("document_type")
        if kind not in DOCUMENT_TYPES:
            return self._fail(INVALID_PARAMS, f"document_type must be one of {', '.join(DOCUMENT_TYPES)}")
        if q.get("document_size", "A6") not in ("A6", "A5"):
            return self._fail(INVALID_PARAMS, "document_size must be A6 or A5")
        if q.get("document_format", "PDF") not in ("PDF", "ZPL") or (
            q.get("document_format") == "ZPL" and shop.region != "BR"
        ):
            return self._fail(INVALID_PARAMS, "document_format ZPL is only for the BR market")
        if order["fulfillment_type"] == "FULFILLMENT_BY_TIKTOK":
            return self._fail(
                FBT_DOCS, "This package is fulfilled by TikTok.  Shipping documents cannot be printed."
            )
        entry = self.packages.get(package_id)
        state = units[0]["package_status"]
        if state == "CANCELLED":
            return self._fail(CANCELLED_DOCS, "Package has already been cancelled.")
        if entry is None and state != "TO_FULFILL":
            return self._fail(
                SELLER_SHIPPING_DOCS,
                "This API is only applicable to TikTok Shipping orders. "
                "For seller shipping, please obtain the "
                "shipping label offline and upload it to TikTok Shop via API or Seller Center.",
            )
        if entry is None or not entry.get("handover_method"):
            return self._fail(
                DOCS_BEFORE_SHIPPING,
                "Documents couldn't be printed before shipped.Please check shipping is arranged "
                "and try again.",
            )
        record = entry["record"]
        if record.handed_over:
            return self._fail(
                DOCS_AFTER_PICKUP, "Documents couldn't be printed after the package has been pickup."
            )
        tracking = units[0]["tracking_number"]
        lines = [
            f"TikTok Shipping {units[0]['shipping_provider_name']}",
            f"Package {package_id}",
            f"Tracking {tracking}",
        ]
        if kind == "SHIPPING_LABEL_PICTURE":
            content, mime = png_document(), "image/png"
        elif kind == "PACKING_SLIP":
            content, mime = (
                pdf_document("Packing slip", f"Order {order['id']}", *(u["seller_sku"] for u in units)),
                "application/pdf",
            )
        else:
            content, mime = pdf_document(*lines), "application/pdf"
        token = f"wsos{secrets.token_hex(12)}"
        self.documents[token] = (content, mime, self.emulator.clock() + DOC_TTL)
        host = request.headers.get("host", "127.0.0.1")
        return self.emulator._ok({"doc_url": f"http://{host}{DOC_PATH}{token}", "tracking_number": tracking})

    async def document(self, request: Request) -> Reply:
        found = self.documents.get(request.args[0])
        if found is None or found[2] < self.emulator.clock():
            return Reply(404, b"<Error><Code>NoSuchKey</Code></Error>", {"content-type": "application/xml"})
        return Reply(200, found[0], {"content-type": found[1]})

    async def order_tracking(self, request: Request) -> Reply:
        shop = self.emulator._check(request)
        if isinstance(shop, Reply):
            return shop
        (order_id,) = request.args
        order = self.emulator.orders.get(order_id)
        if order is None or order["_shop_id"] != shop.shop_id:
            return self._fail(INVALID_PARAMS, f"order {order_id} does not exist in this shop")
        events: list[dict[str, Any]] = []
        for package in {u["package_id"] for u in order["line_items"]}:
            entry = self.packages.get(package)
            if entry is None:
                continue
            for at, status, reason in entry["record"].scans:
                text = DESCRIPTIONS.get((status, reason)) or DESCRIPTIONS[(status, None)]
                events.append({"description": text, "update_time_millis": int(at.timestamp() * 1000)})
        events.sort(key=lambda e: -int(e["update_time_millis"]))  # latest first
        return self.emulator._ok({"tracking": events})

    async def search_packages(self, request: Request) -> Reply:
        shop = self.emulator._check(request)
        if isinstance(shop, Reply):
            return shop
        size = self.emulator._page_size(request, 50, INVALID_PARAMS)
        if isinstance(size, Reply):
            return size
        body = request.json() if request.body else {}
        rows = []
        for order in self.emulator.orders.values():
            if order["_shop_id"] != shop.shop_id:
                continue
            for package in order["packages"]:
                units = [u for u in order["line_items"] if u["package_id"] == package["id"]]
                if units:
                    rows.append(self._package_json(order, package["id"], units))
        for name in ("create_time", "update_time"):
            if f"{name}_ge" in body:
                rows = [r for r in rows if r[name] >= int(body[f"{name}_ge"])]
            if f"{name}_lt" in body:
                rows = [r for r in rows if r[name] < int(body[f"{name}_lt"])]
        if body.get("package_status"):
            rows = [r for r in rows if r["package_status"] == body["package_status"]]
        rows.sort(key=lambda r: (r["create_time"], r["package_id"]), reverse=True)
        page = self.emulator._keyset_page(
            request,
            rows,
            lambda r: (r["create_time"], r["package_id"]),
            size,
            descending=True,
            code=INVALID_PARAMS,
        )
        if isinstance(page, Reply):
            return page
        chunk, token = page
        packages = [
            {
                "id": r["package_id"],
                "orders": r["orders"],
                "create_time": r["create_time"],
                "update_time": r["update_time"],
                "status": r["package_status"],
                "tracking_number": r["tracking_number"],
                "shipping_provider_name": r["shipping_provider_name"],
                "shipping_provider_id": r["shipping_provider_id"],
                "order_line_item_ids": r["order_line_item_ids"],
            }
            for r in chunk
        ]
        return self.emulator._ok({"packages": packages, "next_page_token": token, "total_count": len(rows)})

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
        """The carrier scans the parcel: packages and orders move as TikTok shows them
        (collected: FULFILLING / IN_TRANSIT; delivered: COMPLETED / DELIVERED)."""
        record = self.book.scan(tracking_number, status, reason, at)
        moment = at or datetime.now(UTC)
        for package_id, entry in self.packages.items():
            if entry["record"] is not record:
                continue
            order = self.emulator.orders[entry["order_id"]]
            state = {
                TrackingStatus.DELIVERED: "COMPLETED",
                TrackingStatus.CANCELLED: "CANCELLED",
            }.get(status, "FULFILLING" if record.handed_over else None)
            if state:
                for unit in order["line_items"]:
                    if unit["package_id"] == package_id:
                        unit["package_status"] = state
            states = {u["package_status"] for u in order["line_items"]}
            if states <= {"COMPLETED"}:
                order["status"] = "DELIVERED"
            elif states <= {"FULFILLING", "COMPLETED"}:
                order["status"] = "IN_TRANSIT"
            entry["update_time"] = int(moment.timestamp())
            self.emulator.touch(order)


# ---------------------------------------------------------------- for tests and the demo

US_SENDER = Address(
    name="Conformance Shipping",
    company="Conformance Trading LLC",
    line1="5800 Bristol Pkwy",
    city="Culver City",
    region="CA",
    postal_code="90230",
    country="US",
    phone="+13105550100",
    email="ship@conformance.example",
)
US_BUYER = Address(
    name="Alex Buyer",
    line1="1 Market Street",
    city="Los Angeles",
    region="CA",
    postal_code="90001",
    country="US",
)


def tiktok_account(
    emulator: TikTokShopSellerEmulator, base_url: str, site: str = "US", **settings: Any
) -> CarrierAccount:
    """What the core hands TikTok Shipping: the shop's connection, its credentials fresh."""
    connection = ChannelConnection(
        id=1,
        tenant="conformance",
        channel="tiktok",
        site=site,
        currency=REGION_CURRENCIES[site],
        credentials=emulator.open_account(site),
        base_url=base_url,
        settings={"timeout": 5, **settings},
        http=emulator_http(),
    )
    return CarrierAccount(
        id=1,
        tenant="conformance",
        carrier="tiktok_logistics",
        credentials={},
        connection=connection,
        http=emulator_http(),
    )


def tiktok_request(
    emulator: TikTokShopSellerEmulator, account: CarrierAccount, reference: str, **changes: Any
) -> ShipmentRequest:
    """An order awaiting shipment (two SKUs, three units), named by ``reference``."""
    assert account.connection is not None
    order_id = emulator._next_id(5780)
    order = emulator.add_order(
        account.connection.credentials,
        order_id,
        [("CONF-1", 2, "19.90"), ("CONF-2", 1, "20.00")],
        shipping_type="TIKTOK",
    )
    emulator.name_order(reference, order_id)
    firsts: dict[str, str] = {}
    for unit in order["line_items"]:
        firsts.setdefault(unit["seller_sku"], unit["id"])
    request = sample_request(
        reference,
        origin=US_SENDER,
        destination=US_BUYER,
        order_external_id=order_id,
        lines=[(firsts["CONF-1"], 2), (firsts["CONF-2"], 1)],
        items=(),
    )
    return replace(request, **changes) if changes else request
