"""A local Lazada Open Platform: the endpoints Crossdock uses, signed, enveloped and paged
the way Lazada's gateway does it, with generated sellers and orders and injected faults.

Parameters are read from the query string and from a form-encoded body alike (Lazada's SDK
POSTs everything as a form); every request must carry ``app_key``, ``timestamp`` (ms,
within 7200 s), ``sign_method=sha256`` and a valid ``sign``; seller APIs an unexpired
``access_token``. Served paths (GET or POST): ``/auth/token/create``,
``/auth/token/refresh``, ``/seller/get``, ``/orders/get``, ``/order/get``,
``/order/items/get``, ``/orders/items/get``, ``/order/shipment/providers/get``,
``/order/fulfill/pack``, ``/order/package/rts``, ``/order/package/document/get``,
``/order/package/repack``, ``/logistic/order/trace``, ``/product/price_quantity/update``, and
the instant-messaging (IM) APIs ``/im/session/list``, ``/im/message/list``,
``/im/message/send``, and the reverse-order (after-sales) APIs of
:mod:`crossdock_lazada.reverse_emulator` (``emulator.reverse``).

IM: one session per buyer and seller; sessions and messages are listed newest first and
walked back with ``start_time`` (ms) and the last id of the previous page
(``last_session_id`` / ``last_message_id``); times are milliseconds. IM answers use the IM
envelope (``success``, ``err_code``, ``err_message``, ``data``; no ``code``), while the
gateway's own refusals (signature, token, throttling) keep the gateway's envelope.
"""

from __future__ import annotations

import base64
import json
import random
import secrets
import time
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from crossdock.providers import TrackingReason, TrackingStatus
from crossdock.testing.carriers import pdf_document
from crossdock.testing.emulator import Emulator, Faults, Reply, Request, credentials_guard
from crossdock_lazada.listings_emulator import SAMPLE_CATEGORY, ProductDesk, multipart
from crossdock_lazada.mapping import SITE_OFFSETS
from crossdock_lazada.reverse_emulator import ReverseDesk
from crossdock_lazada.signing import push_signature, sign_request

__all__ = ["LazadaEmulator", "LazadaSellerEmulator"]

SKEW = 7200  # seconds between the request's timestamp and the gateway's clock
ACCESS_TTL = 7 * 86400
REFRESH_TTL = 30 * 86400
MAX_LIMIT = 100
MAX_OFFSET = 5000
IM_PAGE_MAX = 50  # page_size of /im/session/list and /im/message/list (UNCONFIRMED maximum)
TEXT = 1  # IM template ids: 1 text, 3 image, 4 emoji, 6 video, 10006 item, 10007 order card
ORDER_CARD = 10007
BUYER, SELLER = 1, 2  # IM account types

SITES = {
    # site: (currency, country name, city, postcode, carrier, phone)
    "SG": ("SGD", "Singapore", "Singapore", "048616", "LEX SG", "6591234567"),
    "MY": ("MYR", "Malaysia", "Kuala Lumpur", "50450", "LEX MY", "60123456789"),
    "TH": ("THB", "Thailand", "Bangkok", "10110", "LEX TH", "66812345678"),
    "PH": ("PHP", "Philippines", "Makati", "1226", "LEX PH", "639171234567"),
    "VN": ("VND", "Vietnam", "Ho Chi Minh", "700000", "LEX VN", "84901234567"),
    "ID": ("IDR", "Indonesia", "Jakarta", "10310", "LEX ID", "628123456789"),
}
#: Typical prices per site, in whole units of the currency.
PRICE_RANGE = {
    "SG": (5, 80),
    "MY": (15, 250),
    "TH": (99, 1990),
    "PH": (199, 2999),
    "VN": (50_000, 900_000),
    "ID": (25_000, 750_000),
}
ZERO_DECIMALS = {"VND", "IDR"}
#: cross-border (NTFS) sellers hand parcels to a transferring warehouse: code -> (name,
#: the line that carries them)
CROSS_BORDER_WAREHOUSES = {
    "CN_SZ_CAINIAO": ("Cainiao Shenzhen Transfer Warehouse", "LEX Cross Border"),
    "CN_YW_CAINIAO": ("Cainiao Yiwu Transfer Warehouse", "LEX Cross Border"),
}
#: a scan -> the trace's (detail_type, status_code, title, description). Only one pair is
#: published (detail_type "ready_to..." with status_code 1200, "Packed by seller /
#: warehouse"); the others are our own, UNCONFIRMED (see the README).
TRACE_CODES: dict[TrackingStatus, tuple[str, str, str, str]] = {
    TrackingStatus.PENDING: (
        "ready_to_ship",
        "1200",
        "Packed by seller / warehouse",
        "Your parcel has been packed",
    ),
    TrackingStatus.PICKED_UP: (
        "picked_up",
        "1300",
        "Picked up",
        "Your parcel has been picked up by our logistics partner",
    ),
    TrackingStatus.IN_TRANSIT: ("in_transit", "1400", "In transit", "Your parcel is on its way"),
    TrackingStatus.ON_HOLD: ("on_hold", "1450", "On hold", "Your parcel is on hold"),
    TrackingStatus.DELIVERY_DELAYED: ("delayed", "1460", "Delayed", "Your parcel is delayed"),
    TrackingStatus.OUT_FOR_DELIVERY: (
        "out_for_delivery",
        "1500",
        "Out for delivery",
        "Your parcel is out for delivery",
    ),
    TrackingStatus.READY_FOR_PICKUP: (
        "ready_for_collection",
        "1550",
        "Ready for collection",
        "Your parcel is ready for collection at the pickup point",
    ),
    TrackingStatus.DELIVERY_FAILED: ("failed_delivery", "1600", "Delivery failed", "Delivery attempt failed"),
    TrackingStatus.DELIVERED: ("delivered", "1700", "Delivered", "Your parcel has been delivered"),
    TrackingStatus.RETURN_TO_SENDER: (
        "returning",
        "1800",
        "Returning to seller",
        "Your parcel is being returned",
    ),
    TrackingStatus.CANCELLED: ("cancelled", "1900", "Cancelled", "The package was cancelled"),
    TrackingStatus.UNKNOWN: ("info", "1000", "Update", "Parcel information updated"),
}
REASON_TEXT: dict[TrackingReason, str] = {
    TrackingReason.CUSTOMS_HOLD: "held by customs for inspection",
    TrackingReason.CUSTOMS_DOCUMENTS: "customs require additional documents",
    TrackingReason.DUTIES_UNPAID: "import duties unpaid",
    TrackingReason.ADDRESS_ISSUE: "address incomplete or incorrect",
    TrackingReason.RECIPIENT_UNAVAILABLE: "recipient not available",
    TrackingReason.REFUSED: "parcel refused by recipient",
    TrackingReason.DAMAGED: "parcel damaged",
    TrackingReason.LOST: "parcel lost",
    TrackingReason.PROHIBITED: "prohibited item",
    TrackingReason.WEATHER: "bad weather",
    TrackingReason.CARRIER_DELAY: "operational delay",
    TrackingReason.OTHER: "exception",
}
#: GetOrders' ``status`` filter values (order-api/getorders.json)
ORDER_STATUS_FILTERS = frozenset(
    {
        "unpaid",
        "pending",
        "packed",
        "canceled",
        "ready_to_ship",
        "delivered",
        "returned",
        "shipped",
        "failed",
        "topack",
        "toship",
        "shipping",
        "lost",
    }
)
#: Lazada's words for the errors tests script with ``refuse`` (the reference's errorCodes,
#: lazykern/ecommerce-api-docs data/raw/lazada/apis/*/*.json): code -> (type, message)
REFUSALS: dict[str, tuple[str, str]] = {
    "ApiCallLimit": ("ISV", "Api access frequency exceeds the limit. this ban will last 1 seconds"),
    "901": ("ISP", "Limit service request speed in server side temporarily."),
    "998": (
        "ISP",
        "To ensure stability of service, this API service is disabled, please get more information "
        "from Notice.",
    ),
    "ServiceTimeout": ("SYSTEM", "The request has failed due to service timeout"),
    "6": ("ISP", "E006: Unexpected internal error"),
    "21": ("ISP", "E021: Internal System Error"),
    "513": ("ISP", "Internal call exception"),
    "1000": ("ISP", "Internal Application Error"),
    "InternalError": ("SYSTEM", "The request processing has failed due to some unknown error"),
}
UNIT_AFTER_SCAN = {
    TrackingStatus.PICKED_UP: "shipped",
    TrackingStatus.DELIVERED: "delivered",
    TrackingStatus.DELIVERY_FAILED: "failed_delivery",
    TrackingStatus.RETURN_TO_SENDER: "returned",
}


@dataclass
class Seller:
    seller_id: int
    site: str
    access_token: str
    refresh_token: str
    access_expires: float
    refresh_expires: float
    skus: dict[str, dict[str, Any]] = field(default_factory=dict)  # SellerSku -> {item_id, sku_id, ...}
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)  # IM session_id -> session
    #: a cross-border seller ships NTFS through a transferring warehouse; a local one TFS
    cross_border: bool = False
    #: a seller Lazada suspended (``SellerNotActive`` on every call)
    active: bool = True


class LazadaEmulator(Emulator):
    name = "lazada"
    fault_free = frozenset({"/auth/token/create", "/auth/token/refresh"})

    def __init__(
        self,
        faults: Faults | None = None,
        *,
        app_key: str = "100001",
        app_secret: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(faults)
        self.app_key = app_key
        self.app_secret = app_secret or secrets.token_hex(16)
        self.clock = clock
        # Lazada's gateway words every unusable access token the same way
        self.auth_guard = credentials_guard(
            lambda: self.clock(),
            refused=lambda: self._fail(
                "IllegalAccessToken", "The specified access token is invalid or expired"
            ),
            missing=lambda: self._fail(
                "MissingParameter", "The input parameter 'access_token' that is mandatory is not supplied"
            ),
        )
        self.sellers: dict[int, Seller] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.auth_codes: dict[str, int] = {}
        self._ids = 600_000_000_000
        self._message_ids = 2_000_000_000
        self._last_ms = 0
        for path, handler in (
            ("/auth/token/create", self._token_create),
            ("/auth/token/refresh", self._token_refresh),
            ("/seller/get", self._seller_get),
            ("/orders/get", self._orders_get),
            ("/order/get", self._order_get),
            ("/order/items/get", self._order_items_get),
            ("/orders/items/get", self._orders_items_get),
            ("/order/shipment/providers/get", self._providers_get),
            ("/order/fulfill/pack", self._pack),
            ("/order/package/rts", self._rts),
            ("/order/package/document/get", self._document),
            ("/order/package/repack", self._repack),
            ("/logistic/order/trace", self._trace),
            ("/product/price_quantity/update", self._price_quantity_update),
            ("/im/session/list", self._session_list),
            ("/im/message/list", self._message_list),
            ("/im/message/send", self._message_send),
        ):
            self.route("GET", path, handler)
            self.route("POST", path, handler)
        self.route_pattern("GET", r"/awb/([A-Za-z0-9]+)\.pdf", self._document_file)
        #: packages made by pack: id -> {order_id, tracking, provider, events, live}
        self.packages: dict[str, dict[str, Any]] = {}
        self.packs: list[dict[str, Any]] = []  # packReq bodies that packed something
        self.documents: dict[str, bytes] = {}
        #: answers to give instead of the next calls of a path: path -> [(code, type, message)]
        self.refusals: dict[str, list[tuple[str, str, str]]] = {}
        #: API paths the app has no permission group for
        self.denied: set[str] = set()
        #: reverse orders: the seller's cancellations, the buyers' requests (after-sales)
        self.reverse = ReverseDesk(self)
        #: categories, the image CDN and the sellers' products (listing content)
        self.catalog = ProductDesk(self)

    def _next_id(self) -> int:
        self._ids += 13
        return self._ids

    # ------------------------------------------------------------------ envelope

    def error_body(self, status: int, code: str, message: str) -> Any:
        code, kind = {
            "throttled": ("ApiCallLimit", "ISP"),
            "server_error": ("InternalError", "SYSTEM"),
            "timeout": ("ServiceTimeout", "SYSTEM"),
            "not_found": ("InvalidApiPath", "ISV"),
            "bad_request": ("InvalidParameter", "ISV"),
        }.get(code, (code, "ISV"))
        return {"code": code, "type": kind, "message": message, "request_id": self._request_id()}

    def _request_id(self) -> str:
        return secrets.token_hex(12)

    def _ok(self, **payload: Any) -> Reply:
        return Reply(200, {"code": "0", "request_id": self._request_id(), **payload})

    def _fail(self, code: str, message: str, kind: str = "ISV", **extra: Any) -> Reply:
        # Lazada's gateway answers errors with HTTP 200 and the code in the body
        return Reply(
            200, {"code": code, "type": kind, "message": message, "request_id": self._request_id(), **extra}
        )

    # ------------------------------------------------------------------ time

    def _stamp(self, epoch: float, site: str) -> str:
        """``2026-11-27 10:38:27 +0800``: the site's local time, as Lazada writes it."""
        zone = timezone(timedelta(hours=SITE_OFFSETS.get(site, 8)))
        return datetime.fromtimestamp(int(epoch), zone).strftime("%Y-%m-%d %H:%M:%S %z")

    # ------------------------------------------------------------------ data

    def add_seller(
        self, site: str = "SG", seller_id: int | None = None, *, cross_border: bool = False
    ) -> dict[str, Any]:
        """A seller who authorised the app; returns the credentials a connection needs."""
        if site not in SITES:
            raise ValueError(f"Lazada has no site {site!r}")
        seller_id = seller_id or 1_000_100_000 + len(self.sellers)
        now = self.clock()
        seller = Seller(
            seller_id,
            site,
            secrets.token_hex(20),
            secrets.token_hex(20),
            now + ACCESS_TTL,
            now + REFRESH_TTL,
            cross_border=cross_border,
        )
        self.sellers[seller_id] = seller
        code = secrets.token_hex(10)
        self.auth_codes[code] = seller_id
        return {
            "app_key": self.app_key,
            "app_secret": self.app_secret,
            "seller_id": seller_id,
            "access_token": seller.access_token,
            "refresh_token": seller.refresh_token,
            "access_expires_at": int(seller.access_expires),
            "refresh_expires_at": int(seller.refresh_expires),
            "auth_code": code,
        }

    def add_sku(self, seller_id: int, seller_sku: str, quantity: int = 0, price: str | None = None) -> str:
        """A product SKU; returns ``item_id:sku_id``."""
        seller = self.sellers[seller_id]
        item_id = 3_000_000_000 + seller_id % 10_000 * 1000 + len(seller.skus)
        sku_id = 15_000_000_000 + seller_id % 10_000 * 1000 + len(seller.skus)
        seller.skus[seller_sku] = {
            "item_id": item_id,
            "sku_id": sku_id,
            "quantity": quantity,
            "price": Decimal(price) if price else None,
        }
        return f"{item_id}:{sku_id}"

    def add_lazada_order(
        self,
        seller_id: int,
        order_id: str,
        units: Sequence[tuple[str, int, str]],
        *,
        status: str = "pending",
        updated: float | None = None,
        fbl: bool = False,
        buyer: str = "Tan Wei",
        voucher: str = "0",
        shipping_fee: str = "0",
    ) -> dict[str, Any]:
        """An order of ``(seller_sku, quantity, unit price)`` lines, stored as Lazada keeps
        it: one item row per unit."""
        seller = self.sellers[seller_id]
        currency, country, city, postcode, _, phone = SITES[seller.site]
        now = int(updated or self.clock())
        first, _, last = buyer.partition(" ")
        items = []
        for sku, quantity, price in units:
            known = seller.skus.get(sku) or {}
            for _ in range(int(quantity)):
                items.append(
                    {
                        "order_item_id": self._next_id(),
                        "order_id": order_id,
                        "sku": sku,
                        "shop_sku": f"{known.get('item_id', 0)}_{seller.site}-{known.get('sku_id', 0)}",
                        "sku_id": str(known.get("sku_id", "")),
                        "product_id": str(known.get("item_id", "")),
                        "name": f"Item {sku}",
                        "variation": "",
                        "item_price": _money(Decimal(price), currency),
                        "paid_price": _money(Decimal(price), currency),
                        "currency": currency,
                        "status": status,
                        "shipping_type": "Own Warehouse" if fbl else "Dropshipping",
                        "is_fbl": 1 if fbl else 0,
                        "is_digital": 0,
                        "warehouse_code": "FBL" if fbl else "dropshipping",
                        "package_id": "",
                        "tracking_code": "",
                        "shipment_provider": "",
                        "_updated": now,
                    }
                )
        price_total = sum((Decimal(p) * q for _, q, p in units), Decimal(0))
        order = {
            "order_id": order_id,
            "order_number": order_id,
            "_seller": seller_id,
            "_created": now - 120,
            "_updated": now,
            "price": _money(price_total, currency),
            "voucher": _money(Decimal(voucher), currency),
            "shipping_fee": _money(Decimal(shipping_fee), currency),
            "payment_method": "COD" if status == "pending" and len(order_id) % 5 == 0 else "MIXEDCARD",
            "customer_first_name": first,
            "customer_last_name": last,
            "address_shipping": {
                "first_name": first,
                "last_name": last,
                "phone": phone,
                "address1": "1 Harbourfront Walk",
                "address2": "",
                "address3": "" if seller.site == "SG" else "Region",
                "address4": city,
                "address5": postcode,
                "city": city,
                "post_code": postcode,
                "country": country,
            },
            "_items": items,
        }
        self.orders[order_id] = order
        return order

    def touch(self, order_id: str, at: float | None = None) -> None:
        """The order changed: its update time moves on (to the second, always forward)."""
        order = self.orders[order_id]
        order["_updated"] = max(int(at or self.clock()), order["_updated"] + 1)

    def set_status(self, order_id: str, status: str, item_ids: Sequence[int] | None = None) -> None:
        order = self.orders[order_id]
        for item in order["_items"]:
            if item_ids is None or item["order_item_id"] in item_ids:
                item["status"] = status
        self.touch(order_id)

    def generate(self, seller_id: int, count: int, *, seed: int = 1, start: float | None = None) -> list[str]:
        """A realistic mix over the seller's SKUs: mostly paid orders waiting to be packed,
        some unpaid, ~8% cancelled, a few partly cancelled, some shipped or delivered, ~10%
        fulfilled by Lazada (FBL, local sellers only); one to three SKUs each, often several
        units of one (one item row per unit), update times over three days. Orders the
        seller packed before are in one package, or in one package per SKU for about a third
        of those with several SKUs (Lazada packs by the items a Pack call names); a
        cross-border seller's packages go NTFS through a transferring warehouse."""
        rng = random.Random(seed)
        seller = self.sellers[seller_id]
        skus = list(seller.skus) or ["SKU-1"]
        low, high = PRICE_RANGE[seller.site]
        currency = SITES[seller.site][0]
        now = start or self.clock()
        made = []
        for i in range(count):
            status = rng.choices(
                ["pending", "unpaid", "canceled", "packed", "shipped", "delivered"], [64, 6, 8, 6, 9, 7]
            )[0]
            units: dict[str, tuple[str, int, str]] = {}
            for _ in range(rng.randint(1, 3)):
                sku = rng.choice(skus)
                whole = rng.randint(low, high)
                price = (
                    str(whole) if currency in ZERO_DECIMALS else f"{whole}.{rng.choice(['00', '50', '90'])}"
                )
                _, quantity, price = units.get(sku, (sku, 0, price))
                units[sku] = (sku, quantity + rng.choice([1, 1, 1, 2, 3]), price)
            order_id = str(seller_id % 1000 * 10**12 + 4_000_000_000 + seed * 100_000 + i)
            fbl = not seller.cross_border and status != "unpaid" and rng.random() < 0.1
            self.add_lazada_order(
                seller_id,
                order_id,
                list(units.values()),
                status=status,
                updated=now - rng.randint(60, 3 * 86400),
                fbl=fbl,
                buyer=rng.choice(
                    ["Tan Wei", "Nur Aisyah", "Somchai P", "Maria Santos", "Nguyen An", "Budi S"]
                ),
                shipping_fee="0" if currency in ZERO_DECIMALS else rng.choice(["0", "1.99", "3.50"]),
            )
            order = self.orders[order_id]
            if status in ("packed", "shipped", "delivered"):
                split = len(units) > 1 and rng.random() < 0.35
                self._packed_before(order, status, split=split, rng=rng)
            if status == "pending" and len(order["_items"]) > 1 and rng.random() < 0.1:
                order["_items"][-1]["status"] = "canceled"  # the buyer cancelled one unit
            made.append(order_id)
        # a few buyers asked to cancel, return or be refunded (its own random stream, so the
        # orders stay those of the seed)
        self.reverse.demo_cases(seller_id, made, seed)
        return made

    def _packed_before(
        self,
        order: dict[str, Any],
        status: str,
        *,
        split: bool = False,
        rng: random.Random | None = None,
    ) -> None:
        """A generated order the seller packed before the emulator started: its units in
        one package as one Pack call makes it (one ``package_id`` and tracking number for
        the units it names; the fulfilment API reference, see the fulfilment section below),
        or ``split`` into one package per SKU as one Pack call per SKU makes them. Each
        package is kept like one Pack made (live, with the trace Lazada would have for it),
        so RTS, PrintAWB, Repack and the trace know it."""
        seller = self.sellers[order["_seller"]]
        groups: dict[str, list[dict[str, Any]]] = {}
        for item in order["_items"]:
            groups.setdefault(item["sku"] if split else "", []).append(item)
        for items in groups.values():
            package_id = f"FP{self._next_id()}"
            if seller.cross_border:
                code = (rng or random).choice(sorted(CROSS_BORDER_WAREHOUSES))
                provider, number = CROSS_BORDER_WAREHOUSES[code][1], f"LEXCB{self._next_id()}"
            else:
                provider, number = SITES[seller.site][4], f"LZ{seller.site}{self._next_id()}"
            for item in items:
                item.update(package_id=package_id, tracking_code=number, shipment_provider=provider)
            steps = {
                "packed": [],
                "shipped": [TrackingStatus.PENDING, TrackingStatus.PICKED_UP],
                "delivered": [TrackingStatus.PENDING, TrackingStatus.PICKED_UP, TrackingStatus.DELIVERED],
            }[status]
            begin = (order["_updated"] - 3600 * len(steps)) * 1000
            self.packages[package_id] = {
                "order_id": order["order_id"],
                "tracking": number,
                "provider": provider,
                "events": [(begin + n * 3_600_000, *TRACE_CODES[s]) for n, s in enumerate(steps, 1)],
                "live": True,
            }

    # ------------------------------------------------------------------ the gateway

    def _params(self, request: Request) -> dict[str, str]:
        params = dict(request.query)
        kind = request.headers.get("content-type", "")
        if request.body and "application/x-www-form-urlencoded" in kind:
            params.update(parse_qsl(request.body.decode(), keep_blank_values=True))
        elif request.body and "multipart/form-data" in kind:
            params.update(multipart(request)[0])  # the files are not signed: not parameters
        return params

    def _check(
        self, request: Request, seller_level: bool = True
    ) -> tuple[dict[str, str], Seller | None] | Reply:
        """Verify what Lazada's gateway verifies; returns the parameters and the seller."""
        params = self._params(request)
        for required in ("app_key", "timestamp", "sign_method", "sign"):
            if not params.get(required):
                return self._fail("MissingParameter", f"The input parameter '{required}' that is mandatory")
        if params["app_key"] != self.app_key:
            return self._fail("InvalidAppKey", "Specified app key is invalid")
        try:
            ts = int(params["timestamp"]) / 1000
        except ValueError:
            return self._fail("InvalidTimestamp", "timestamp must be milliseconds since the epoch")
        if abs(self.clock() - ts) > SKEW:
            return self._fail("InvalidTimestamp", "Timestamp is out of the allowed 7200 seconds")
        if params["sign_method"].lower() != "sha256":
            return self._fail("InvalidParameter", "sign_method must be sha256")
        if params["sign"] != sign_request(self.app_secret, request.path, params):
            return self._fail(
                "IncompleteSignature", "The request signature does not conform to lazop standards"
            )
        if not seller_level:
            return params, None
        token = params.get("access_token", "")
        seller = next((s for s in self.sellers.values() if s.access_token == token), None)
        checked = self.auth_guard.check(token, seller, expires_at=seller.access_expires if seller else None)
        if isinstance(checked, Reply):
            return checked
        if request.path in self.denied:
            # the app was not granted the API's permission group: the token is fine, the app
            # may not call this API (UNCONFIRMED wording; the IOP gateway's code)
            return self._fail(
                "InsufficientPermission", f"The app has no permission to call {request.path}", "ISV"
            )
        if not checked.active:
            return self._fail("SellerNotActive", "Seller not active,please check seller status", "ISP")
        scripted = self.refusals.get(request.path)
        if scripted:
            code, kind, message = scripted.pop(0)
            return self._fail(code, message, kind)
        return params, checked

    def refuse(self, path: str, code: str, *, kind: str | None = None, times: int = 1) -> None:
        """The next ``times`` calls of ``path`` (signed, with a valid token) are answered
        with Lazada's error ``code`` (throttling ``901``/``998``/``ApiCallLimit``, system
        errors, ...), in the gateway's envelope."""
        known = REFUSALS.get(code, ("ISP", f"error {code}"))
        self.refusals.setdefault(path, []).extend([(code, kind or known[0], known[1])] * times)

    async def _token_create(self, request: Request) -> Reply:
        checked = self._check(request, seller_level=False)
        if isinstance(checked, Reply):
            return checked
        params, _ = checked
        seller_id = self.auth_codes.pop(params.get("code", ""), None)
        if seller_id is None:
            return self._fail("InvalidCode", "Invalid authorization code")
        return self._tokens(self.sellers[seller_id])

    async def _token_refresh(self, request: Request) -> Reply:
        checked = self._check(request, seller_level=False)
        if isinstance(checked, Reply):
            return checked
        params, _ = checked
        token = params.get("refresh_token", "")
        seller = next((s for s in self.sellers.values() if s.refresh_token == token), None)
        if not token or seller is None or seller.refresh_expires <= self.clock():
            return self._fail("IllegalRefreshToken", "The specified refresh token is invalid or expired")
        now = self.clock()
        seller.access_token = secrets.token_hex(20)
        seller.refresh_token = secrets.token_hex(20)  # the old one is spent
        seller.access_expires = now + ACCESS_TTL
        seller.refresh_expires = now + REFRESH_TTL
        return self._tokens(seller)

    def _tokens(self, seller: Seller) -> Reply:
        now = self.clock()
        country = seller.site.lower()
        return self._ok(
            access_token=seller.access_token,
            refresh_token=seller.refresh_token,
            expires_in=int(seller.access_expires - now),
            refresh_expires_in=int(seller.refresh_expires - now),
            country=country,
            account_platform="seller_center",
            account=f"seller{seller.seller_id}@example.com",
            country_user_info=[
                {
                    "country": country,
                    "user_id": str(seller.seller_id + 7),
                    "seller_id": str(seller.seller_id),
                    "short_code": f"{seller.site}{seller.seller_id % 100000}",
                }
            ],
        )

    def expire_tokens(self) -> None:
        """Every access token stops working now (tests of refresh)."""
        for seller in self.sellers.values():
            seller.access_expires = self.clock() - 1

    async def _seller_get(self, request: Request) -> Reply:
        checked = self._check(request)
        if isinstance(checked, Reply):
            return checked
        _, seller = checked
        assert seller is not None
        return self._ok(
            data={
                "seller_id": seller.seller_id,
                "name": f"Shop {seller.seller_id}",
                "location": SITES[seller.site][1],
                "status": "ACTIVE",
                "cb": False,
            }
        )

    # ------------------------------------------------------------------ orders

    def _public(self, order: Mapping[str, Any]) -> dict[str, Any]:
        site = self.sellers[order["_seller"]].site
        items = order["_items"]
        ship_by = order["_created"] + 2 * 86400
        oid = str(order["order_id"])
        return {
            # the reference's examples answer ids as strings ("order_id": "491253082180001")
            "order_id": oid,
            "order_number": oid,
            "created_at": self._stamp(order["_created"], site),
            "updated_at": self._stamp(order["_updated"], site),
            "statuses": list(dict.fromkeys(i["status"] for i in items)),
            "items_count": len(items),
            "price": order["price"],
            "voucher": order["voucher"],
            "voucher_platform": 0,
            "voucher_seller": 0,
            "shipping_fee": order["shipping_fee"],
            "payment_method": order["payment_method"],
            "customer_first_name": order["customer_first_name"],
            "customer_last_name": order["customer_last_name"],
            "address_shipping": dict(order["address_shipping"]),
            "address_billing": dict(order["address_shipping"]),
            "promised_shipping_times": self._stamp(ship_by, site),
            "warehouse_code": "dropshipping",
            "gift_option": False,
            "remarks": "",
        }

    def _public_item(self, order: Mapping[str, Any], item: Mapping[str, Any]) -> dict[str, Any]:
        site = self.sellers[order["_seller"]].site
        public = {k: v for k, v in item.items() if not k.startswith("_")}
        public["order_id"] = str(order["order_id"])
        public["created_at"] = self._stamp(order["_created"], site)
        public["updated_at"] = self._stamp(item["_updated"], site)
        public["promised_shipping_time"] = self._stamp(order["_created"] + 2 * 86400, site)
        return public

    async def _orders_get(self, request: Request) -> Reply:
        checked = self._check(request)
        if isinstance(checked, Reply):
            return checked
        params, seller = checked
        assert seller is not None
        # GetOrders' documented refusals (order-api/getorders.json): E014 offset, E017 date
        # format ("YYYY-MM-DDTHH:mm:ss±HH:MM"), E019 limit (at most 100), E036 status filter,
        # E074 sort direction, E075 sort filter
        created_after, update_after = params.get("created_after"), params.get("update_after")
        if not created_after and not update_after:
            return self._fail("MissingParameter", "Either update_after or created_after is mandatory")
        bounds: dict[str, datetime] = {}
        for name in ("update_after", "update_before", "created_after", "created_before"):
            if params.get(name):
                stamp = _iso_with_offset(params[name])
                if stamp is None:
                    return self._fail("17", f'E017: "{params[name]}" Invalid Date Format', "ISV")
                bounds[name] = stamp
        since = bounds.get("update_after") or bounds["created_after"]
        limit_text, offset_text = params.get("limit") or "100", params.get("offset") or "0"
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
            return self._fail("19", f'E019: "{limit_text}" Invalid Limit', "ISV")
        if not offset_text.isdigit() or int(offset_text) > MAX_OFFSET:
            return self._fail("14", f'E014: "{offset_text}" Invalid Offset', "ISV")
        limit, offset = int(limit_text), int(offset_text)
        if params.get("sort_direction", "DESC").upper() not in ("ASC", "DESC"):
            return self._fail("74", "E074: Invalid sort direction.", "ISV")
        if params.get("sort_by", "created_at") not in ("created_at", "updated_at"):
            return self._fail("75", "E075: Invalid sort filter.", "ISV")
        if params.get("status", "") not in ("", "all", *ORDER_STATUS_FILTERS):
            return self._fail("36", "E036: Invalid status filter", "ISV")
        field_name = "_updated" if update_after else "_created"
        sort_field = "_updated" if params.get("sort_by", "created_at") == "updated_at" else "_created"
        status = params.get("status", "")
        rows = sorted(
            (
                o
                for o in self.orders.values()
                if o["_seller"] == seller.seller_id
                and o[field_name] >= since.timestamp()  # inclusive, to the second
                and ("update_before" not in bounds or o["_updated"] <= bounds["update_before"].timestamp())
                and ("created_before" not in bounds or o["_created"] <= bounds["created_before"].timestamp())
                and (not status or status == "all" or any(i["status"] == status for i in o["_items"]))
            ),
            key=lambda o: (o[sort_field], str(o["order_id"])),
            reverse=params.get("sort_direction", "DESC").upper() == "DESC",
        )
        chunk, _ = self.page(rows, offset, limit)
        return self._ok(
            data={"count": len(chunk), "countTotal": len(rows), "orders": [self._public(o) for o in chunk]}
        )

    def _own_order(self, seller: Seller, order_id: str) -> dict[str, Any] | None:
        order = self.orders.get(str(order_id))
        return order if order is not None and order["_seller"] == seller.seller_id else None

    async def _order_get(self, request: Request) -> Reply:
        checked = self._check(request)
        if isinstance(checked, Reply):
            return checked
        params, seller = checked
        assert seller is not None
        order = self._own_order(seller, params.get("order_id", ""))
        if order is None:  # order-api/getorder.json, getorderitems.json: E016
            return self._fail("16", f'E016: "{params.get("order_id", "")}" Invalid Order ID', "ISV")
        return self._ok(data=self._public(order))

    async def _order_items_get(self, request: Request) -> Reply:
        checked = self._check(request)
        if isinstance(checked, Reply):
            return checked
        params, seller = checked
        assert seller is not None
        order = self._own_order(seller, params.get("order_id", ""))
        if order is None:  # order-api/getorder.json, getorderitems.json: E016
            return self._fail("16", f'E016: "{params.get("order_id", "")}" Invalid Order ID', "ISV")
        return self._ok(data=[self._public_item(order, i) for i in order["_items"]])

    async def _orders_items_get(self, request: Request) -> Reply:
        checked = self._check(request)
        if isinstance(checked, Reply):
            return checked
        params, seller = checked
        assert seller is not None
        # order-api/getmultipleorderitems.json: E056 not an array "[1,2]", E038 more than
        # 50, E037 an id that is not one of the seller's orders
        try:
            ids = json.loads(params.get("order_ids", ""))
        except ValueError:
            ids = None
        if not isinstance(ids, list) or not ids or any(isinstance(i, (bool, dict, list)) for i in ids):
            return self._fail("56", "E056: Invalid OrdersIdList format. Must use array format [1,2]", "ISV")
        if len(ids) > 50:
            return self._fail("38", "E038: Too many orders were requested", "ISV")
        if any(self._own_order(seller, str(i)) is None for i in ids):
            return self._fail("37", "E037: One or more order id in the list are incorrect", "ISV")
        data = []
        for order_id in ids:
            order = self._own_order(seller, str(order_id))
            assert order is not None
            data.append(
                {
                    "order_id": str(order["order_id"]),
                    "order_number": str(order["order_id"]),
                    "order_items": [self._public_item(order, i) for i in order["_items"]],
                }
            )
        return self._ok(data=data)

    # ------------------------------------------------------------------ fulfilment
    #
    # Lazada's fulfilment API (open.lazada.com API reference, as mirrored in
    # lazykern/ecommerce-api-docs data/raw/lazada/apis/fulfillment-api/*.json and
    # logistics-api/getordertrace.json): GetShipmentProvider tells the allocation type
    # (TFS local sellers, NTFS cross-border) and, for NTFS, the transferring warehouses; Pack
    # takes shipping_allocate_type, shipment_provider_code only for NTFS, and no tracking
    # number (Lazada assigns it); RTS, PrintAWB and Repack work on package ids; the trace
    # lists a package's logistics events once it is ready to ship.

    def _fulfilment_fail(self, code: str, message: str) -> Reply:
        """The fulfilment APIs answer a refused batch inside ``result`` (HTTP 200)."""
        return self._ok(result={"success": False, "error_code": code, "error_msg": message})

    def _fulfilment_ok(self, data: Any) -> Reply:
        return self._ok(result={"success": True, "error_code": "", "error_msg": "", "data": data})

    def _allocation(self, seller: Seller) -> dict[str, Any]:
        if seller.cross_border:
            return {
                "platform_default": 0,
                "shipping_allocate_type": "NTFS",
                "shipment_providers": [
                    {"name": name, "provider_code": code}
                    for code, (name, _) in CROSS_BORDER_WAREHOUSES.items()
                ],
            }
        return {"platform_default": 1, "shipping_allocate_type": "TFS", "shipment_providers": []}

    async def _providers_get(self, request: Request) -> Reply:
        checked = self._check(request)
        if isinstance(checked, Reply):
            return checked
        params, seller = checked
        assert seller is not None
        req = self._json_param(params, "getShipmentProvidersReq")
        orders = req.get("orders") if isinstance(req, dict) else None
        if not isinstance(orders, list) or not orders:
            return self._fulfilment_fail(
                "700017", "PARAM_IS_NULL: getShipmentProvidersReq.orders is required"
            )
        if len(orders) > 20:
            return self._fulfilment_fail("700022", "BATCH_SIZE_OUT_OF_LIMIT: at most 20 orders")
        for entry in orders:
            order = self._own_order(seller, str(entry.get("order_id", "")))
            if order is None:
                return self._fulfilment_fail("700021", f"ORDER_NOT_FOUND: {entry.get('order_id')}")
            wanted = entry.get("order_item_ids")
            if not wanted or not isinstance(wanted, list):
                return self._fulfilment_fail("700017", "PARAM_IS_NULL: order_item_ids is required")
            ids = {str(i["order_item_id"]) for i in order["_items"]}
            if any(str(i) not in ids for i in wanted):
                return self._fulfilment_fail(
                    "700025", f"ORDER_ITEM_NOT_FOUND: not an item of order {entry.get('order_id')}"
                )
        return self._fulfilment_ok(self._allocation(seller))

    def _json_param(self, params: Mapping[str, str], name: str) -> Any:
        try:
            return json.loads(params.get(name, ""))
        except ValueError:
            return None

    async def _pack(self, request: Request) -> Reply:
        checked = self._check(request)
        if isinstance(checked, Reply):
            return checked
        params, seller = checked
        assert seller is not None
        pack = self._json_param(params, "packReq")
        if not isinstance(pack, dict) or not isinstance(pack.get("pack_order_list"), list):
            return self._fulfilment_fail("700017", "PARAM_IS_NULL: packReq.pack_order_list is required")
        if not 1 <= len(pack["pack_order_list"]) <= 20:
            return self._fulfilment_fail("700022", "BATCH_SIZE_OUT_OF_LIMIT: 1 to 20 orders per pack")
        if pack.get("delivery_type") != "dropship":
            return self._fulfilment_fail("700004", "PARAM_ILLEGAL: delivery_type must be dropship")
        if "tracking_number" in pack:
            return self._fulfilment_fail(
                "700004", "PARAM_ILLEGAL: tracking_number is not a pack parameter; Lazada assigns it"
            )
        for entry in pack["pack_order_list"]:
            listed = entry.get("order_item_list") if isinstance(entry, dict) else None
            if not isinstance(listed, list) or not listed:
                return self._fulfilment_fail("700017", "PARAM_IS_NULL: order_item_list is required")
            if not all(_is_id(i) for i in listed):
                return self._fulfilment_fail("700004", "PARAM_ILLEGAL: order_item_list takes item ids")
        allocation = self._allocation(seller)
        kind = pack.get("shipping_allocate_type")
        if not kind:
            return self._fulfilment_fail("700017", "PARAM_IS_NULL: shipping_allocate_type is required")
        if kind != allocation["shipping_allocate_type"]:
            return self._fulfilment_fail(
                "700004",
                f"PARAM_ILLEGAL: {kind} is not available to this seller (TFS local only, NTFS CB only)",
            )
        code = pack.get("shipment_provider_code")
        if kind == "TFS" and code:
            return self._fulfilment_fail(
                "700004", "PARAM_ILLEGAL: shipment_provider_code cannot be transferred for TFS"
            )
        if kind == "NTFS" and not code:
            return self._fulfilment_fail(
                "700017", "PARAM_IS_NULL: shipment_provider_code is required for NTFS"
            )
        if kind == "NTFS" and code not in CROSS_BORDER_WAREHOUSES:
            return self._fulfilment_fail("700016", f"NOT_AVAILABLE_NTFS_3PL: {code}")
        provider = CROSS_BORDER_WAREHOUSES[str(code)][1] if kind == "NTFS" else SITES[seller.site][4]
        answered = []
        for entry in pack["pack_order_list"]:
            order = self._own_order(seller, str(entry.get("order_id", "")))
            if order is None:
                return self._fulfilment_fail("700021", f"ORDER_NOT_FOUND: {entry.get('order_id')}")
            package_id = f"FP{self._next_id()}"
            prefix = "LEXCB" if kind == "NTFS" else f"LZ{seller.site}"
            number = f"{prefix}{self._next_id()}"
            results = []
            by_id = {str(i["order_item_id"]): i for i in order["_items"]}
            for item_id in entry.get("order_item_list") or []:
                item = by_id.get(str(item_id))
                if item is None or item["status"] not in ("pending", "topack"):
                    results.append(
                        {
                            "order_item_id": item_id,
                            "item_err_code": "700025" if item is None else "700026",
                            "msg": "ORDER_ITEM_NOT_FOUND"
                            if item is None
                            else f"FO_ITEM_NOT_ALLOW_TO_PACK: item is {item['status']}",
                            "retry": False,
                        }
                    )
                    continue
                item.update(
                    status="packed",
                    package_id=package_id,
                    tracking_code=number,
                    shipment_provider=provider,
                    _updated=int(self.clock()),
                )
                results.append(
                    {
                        "order_item_id": item["order_item_id"],
                        "item_err_code": "0",
                        "msg": "success",
                        "package_id": package_id,
                        "tracking_number": number,
                        "shipment_provider": provider,
                        "retry": False,
                    }
                )
            if any(r["item_err_code"] == "0" for r in results):
                self.packages[package_id] = {
                    "order_id": order["order_id"],
                    "tracking": number,
                    "provider": provider,
                    "events": [],
                    "live": True,
                }
                self.packs.append(pack)
                self.touch(order["order_id"])
            answered.append({"order_id": entry.get("order_id"), "order_item_list": results})
        return self._fulfilment_ok({"pack_order_list": answered})

    def _package_units(self, seller: Seller, package_id: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return [
            (o, i)
            for o in self.orders.values()
            if o["_seller"] == seller.seller_id
            for i in o["_items"]
            if package_id and i["package_id"] == package_id
        ]

    def _packages_param(self, params: Mapping[str, str], name: str) -> list[str] | Reply:
        req = self._json_param(params, name)
        packages = req.get("packages") if isinstance(req, dict) else None
        if not isinstance(packages, list) or not packages:
            return self._fulfilment_fail("700017", f"PARAM_IS_NULL: {name}.packages is required")
        if len(packages) > 20:
            return self._fulfilment_fail("700022", "BATCH_SIZE_OUT_OF_LIMIT: at most 20 packages")
        return [str(p.get("package_id", "")) for p in packages if isinstance(p, dict)]

    async def _rts(self, request: Request) -> Reply:
        checked = self._check(request)
        if isinstance(checked, Reply):
            return checked
        params, seller = checked
        assert seller is not None
        packages = self._packages_param(params, "readyToShipReq")
        if isinstance(packages, Reply):
            return packages
        answered = []
        for package_id in packages:
            units = self._package_units(seller, package_id)
            if not units:
                answered.append(
                    {"package_id": package_id, "item_err_code": "600001", "msg": "package not found"}
                )
                continue
            if any(i["status"] == "canceled" for _, i in units):
                answered.append(
                    {"package_id": package_id, "item_err_code": "600002", "msg": "package already cancelled"}
                )
                continue
            if any(i["status"] not in ("packed", "repacked") for _, i in units):
                # ready to ship is the step after packing: only a packed package takes it
                status = next(i["status"] for _, i in units if i["status"] not in ("packed", "repacked"))
                answered.append(
                    {
                        "package_id": package_id,
                        "item_err_code": "700000",
                        "msg": f"PACKAGE_STATUS_NOT_ALLOW_TO_OP: package is {status}",
                    }
                )
                continue
            for _, item in units:
                item["status"] = "ready_to_ship"
                item["_updated"] = int(self.clock())
            self.touch(units[0][0]["order_id"])
            answered.append({"package_id": package_id, "item_err_code": "0", "msg": "success"})
        return self._fulfilment_ok({"packages": answered})

    async def _document(self, request: Request) -> Reply:
        checked = self._check(request)
        if isinstance(checked, Reply):
            return checked
        params, seller = checked
        assert seller is not None
        req = self._json_param(params, "getDocumentReq")
        if not isinstance(req, dict) or req.get("doc_type") not in ("PDF", "HTML"):
            return self._fulfilment_fail("700004", "PARAM_ILLEGAL: doc_type must be PDF or HTML")
        packages = self._packages_param(params, "getDocumentReq")
        if isinstance(packages, Reply):
            return packages
        lines = []
        for package_id in packages:
            units = self._package_units(seller, package_id)
            if not units or not self.packages.get(package_id, {}).get("live"):
                return self._fulfilment_fail("600001", f"package not found: {package_id}")
            info = self.packages[package_id]
            lines += [f"Lazada AWB {package_id}", f"{info['provider']} {info['tracking']}"]
            if req.get("print_item_list"):
                lines += [f"{i['sku']} {i['name']}" for _, i in units]
        if req["doc_type"] == "HTML":
            html = "".join(f"<p>{line}</p>" for line in lines)
            return self._fulfilment_ok({"doc_type": "HTML", "file": base64.b64encode(html.encode()).decode()})
        pdf = pdf_document(*lines)
        self.documents[packages[0]] = pdf
        host = request.headers.get("host", "127.0.0.1")
        return self._fulfilment_ok(
            {
                "doc_type": "PDF",
                "file": base64.b64encode(pdf).decode(),
                "pdf_url": f"http://{host}/awb/{packages[0]}.pdf",
            }
        )

    async def _document_file(self, request: Request) -> Reply:
        pdf = self.documents.get(request.args[0])
        if pdf is None:
            return Reply(404, b"not found", {"content-type": "text/plain"})
        return Reply(200, pdf, {"content-type": "application/pdf"})

    async def _repack(self, request: Request) -> Reply:
        checked = self._check(request)
        if isinstance(checked, Reply):
            return checked
        params, seller = checked
        assert seller is not None
        packages = self._packages_param(params, "rePackReq")
        if isinstance(packages, Reply):
            return packages
        answered: list[dict[str, Any]] = []
        for package_id in packages:
            units = self._package_units(seller, package_id)
            if not units:
                answered.append(
                    {"package_id": package_id, "item_err_code": "600001", "msg": "package not found"}
                )
                continue
            if any(i["status"] not in ("packed", "repacked", "ready_to_ship") for _, i in units):
                status = units[0][1]["status"]
                answered.append(
                    {
                        "package_id": package_id,
                        "item_err_code": "700000",
                        "msg": f"PACKAGE_STATUS_NOT_ALLOW_TO_OP: package is {status}",
                        "retry": False,
                    }
                )
                continue
            for _, item in units:  # the package is cancelled; its units wait to be packed again
                item.update(status="pending", package_id="", tracking_code="", shipment_provider="")
            self.packages[package_id]["live"] = False
            self.touch(units[0][0]["order_id"])
            answered.append({"package_id": package_id, "item_err_code": "0", "msg": "success"})
        return self._fulfilment_ok({"packages": answered})

    async def _trace(self, request: Request) -> Reply:
        checked = self._check(request)
        if isinstance(checked, Reply):
            return checked
        params, seller = checked
        assert seller is not None
        order = self._own_order(seller, params.get("order_id", ""))
        if order is None:
            return self._fail("LD_INPUT_PARAM_VALID", "orderId is wrong", "ISV")
        wanted = self._json_param(params, "ofcPackageIdList") if params.get("ofcPackageIdList") else None
        ids = sorted(
            {
                i["package_id"]
                for i in order["_items"]
                if i["package_id"] and i["status"] not in ("pending", "topack", "packed", "canceled")
            }
        )
        if not ids:  # "only available in the state after ready to ship"
            return self._fail(
                "INPUT_PARAM_VALID", "query trade failed: the order is not ready to ship", "ISV"
            )
        if isinstance(wanted, list):
            ids = [p for p in ids if p in {str(w) for w in wanted}]
        packages = []
        for package_id in ids:
            info = self.packages[package_id]
            packages.append(
                {
                    "ofc_package_id": package_id,
                    "tracking_number": info["tracking"],
                    "order_line_info_list": [],
                    "logistic_detail_info_list": [
                        {
                            "detail_type": detail_type,
                            "status_code": status_code,
                            "title": title,
                            "description": description,
                            "event_time": at,
                            "receive_time": 0,
                            "package_location_name": None,
                            "event_date": None,
                            "proof_images": [],
                            "icon": None,
                        }
                        for at, detail_type, status_code, title, description in info["events"]
                    ],
                }
            )
        return self._ok(
            result={
                "success": True,
                "not_success": False,
                "repeated": False,
                "retry": False,
                "error_code": {"displayMessage": None},
                "module": [
                    {
                        "ofc_order_id": None,
                        "warehouse_detail_info": None,
                        "package_detail_info_list": packages,
                    }
                ],
            }
        )

    def scan_package(
        self,
        tracking_number: str,
        status: TrackingStatus,
        reason: TrackingReason | None = None,
        at: datetime | None = None,
    ) -> None:
        """The 3PL scans a package: its trace and its units' statuses move on."""
        package_id, info = next(
            (p, i) for p, i in self.packages.items() if i["tracking"] == tracking_number and i["live"]
        )
        detail_type, status_code, title, text = TRACE_CODES[status]
        if reason is not None:
            text = f"{text}: {REASON_TEXT[reason]}"
            if reason == TrackingReason.LOST:
                detail_type, status_code, title = "lost", "1650", "Lost by logistics partner"
        when = int((at or datetime.now(UTC)).timestamp() * 1000)
        info["events"].append((when, detail_type, status_code, title, text))
        unit_status = "lost_by_3pl" if reason == TrackingReason.LOST else UNIT_AFTER_SCAN.get(status)
        order = self.orders[info["order_id"]]
        for item in order["_items"]:
            if item["package_id"] == package_id and unit_status:
                item.update(status=unit_status, _updated=int(self.clock()))
        self.touch(order["order_id"])

    # ------------------------------------------------------------------ products

    async def _price_quantity_update(self, request: Request) -> Reply:
        """UpdatePriceQuantity (product-api/updatepricequantity.json): an XML ``payload``
        of at most 50 ``Sku`` elements. The request as a whole is refused with E030 (no
        payload), E005 (not the documented XML) or 4171 (more than 50 SKUs); SKUs Lazada
        will not update are named in ``detail`` (``seller_sku``, ``field``, ``message``)
        under the overview code 501 "Update product failed", the others being applied
        (UNCONFIRMED: the README)."""
        checked = self._check(request)
        if isinstance(checked, Reply):
            return checked
        params, seller = checked
        assert seller is not None
        payload = params.get("payload", "")
        if not payload.strip():
            return self._fail("30", "E030: Empty Request", "ISV")
        try:
            root = ET.fromstring(payload)
        except ET.ParseError:
            return self._fail("5", "E005: Invalid Request Format", "ISV")
        skus = root.findall("./Product/Skus/Sku") if root.tag == "Request" else []
        if not skus:
            return self._fail("5", "E005: Invalid Request Format", "ISV")
        if len(skus) > 50:
            return self._fail(
                "4171",
                "The updated SKU quantity exceeds the maximum number 50, please do not update more "
                "than 50 SKUs at once",
                "ISV",
            )
        currency = SITES[seller.site][0]
        detail = []
        for element in skus:
            seller_sku = (element.findtext("SellerSku") or "").strip()
            problem = self._sku_problem(seller, element, seller_sku, currency)
            if problem:
                detail.append({"seller_sku": seller_sku, "field": problem[0], "message": problem[1]})
                continue
            known = seller.skus[seller_sku]
            quantity, price = element.findtext("Quantity"), element.findtext("Price")
            if quantity is not None:
                known["quantity"] = int(quantity.strip())
            if price is not None:
                known["price"] = Decimal(price.strip())
        if detail:
            return self._fail("501", "Update product failed", "ISP", detail=detail)
        return self._ok(data={})

    @staticmethod
    def _sku_problem(
        seller: Seller, element: ET.Element, seller_sku: str, currency: str
    ) -> tuple[str, str] | None:
        """Why Lazada would not update this ``Sku`` element: (field, message), or None."""
        if not seller_sku:
            return ("SellerSku", "CHK_BASIC_REQUIRED: SellerSku is required")
        known = seller.skus.get(seller_sku)
        if known is None:
            return ("SellerSku", "SELLER_SKU_NOT_FOUND")
        for name, expected in (("ItemId", known["item_id"]), ("SkuId", known["sku_id"])):
            given = element.findtext(name)
            if given is not None and given.strip() != str(expected):
                return (name, f"{name.upper()}_MISMATCH: {name} does not belong to {seller_sku}")
        quantity = element.findtext("Quantity")
        if quantity is not None and not quantity.strip().isdigit():
            # a negative or fractional stock is refused: Quantity is a whole number >= 0
            return ("Quantity", "QUANTITY_INVALID: Quantity must be a whole number of 0 or more")
        for name in ("Price", "SalePrice"):
            text = element.findtext(name)
            if text is None:
                continue
            problem = _price_problem(text.strip(), currency)
            if problem:
                return (name, problem)
        price, sale = element.findtext("Price"), element.findtext("SalePrice")
        if price is not None and sale is not None and Decimal(sale) > Decimal(price):
            return ("SalePrice", "BIZ_CHECK_SPECIAL_PRICE_RATE_OUT_OF_RANGE: SalePrice above Price")
        if quantity is None and price is None and sale is None:
            return ("Sku", "CHK_BASIC_REQUIRED: nothing to update (Quantity, Price or SalePrice)")
        return None

    # ------------------------------------------------------------------ instant messaging

    def _now_ms(self) -> int:
        """Milliseconds, strictly increasing: every IM message has its own time."""
        self._last_ms = max(int(self.clock() * 1000), self._last_ms + 1)
        return self._last_ms

    @staticmethod
    def buyer_account(buyer: str) -> int:
        return 500_000_000 + zlib.crc32(buyer.encode()) % 10**8

    def session_for(self, seller_id: int, buyer: str) -> dict[str, Any]:
        """The seller's session with buyer ``buyer`` (a name), opened on first use."""
        seller = self.sellers[seller_id]
        buyer_id = self.buyer_account(buyer)
        session_id = f"{seller_id}_{SELLER}_{buyer_id}_{BUYER}_103"
        session = seller.sessions.get(session_id)
        if session is None:
            session = seller.sessions[session_id] = {
                "session_id": session_id,
                "buyer_id": buyer_id,
                "title": buyer,
                "head_url": f"https://img.lazcdn.com/avatar/{buyer_id}.png",
                "site_id": seller.site,
                "unread_count": 0,
                "last_message_id": "",
                "last_message_time": 0,
                "summary": "",
                "self_position": 0,
                "to_position": 0,
                "tags": [],
                "_messages": [],
            }
        return session

    def post_im(
        self,
        seller_id: int,
        session: dict[str, Any],
        sender: int,
        template_id: int,
        content: Mapping[str, Any],
        *,
        auto_reply: bool = False,
    ) -> dict[str, Any]:
        """A message in ``session`` from the buyer or the seller (``BUYER``/``SELLER``)."""
        self._message_ids += 7
        buyer_id, seller_account = session["buyer_id"], seller_id
        message = {
            "message_id": str(self._message_ids),
            "session_id": session["session_id"],
            "from_account_id": str(buyer_id if sender == BUYER else seller_account),
            "from_account_type": sender,
            "to_account_id": str(seller_account if sender == BUYER else buyer_id),
            "to_account_type": SELLER if sender == BUYER else BUYER,
            "template_id": template_id,
            "type": 1,  # sent by a user (2: by the system)
            "content": json.dumps(dict(content), separators=(",", ":"), ensure_ascii=False),
            "send_time": self._now_ms(),
            "status": 0,
            "auto_reply": auto_reply,
            "process_msg": "",
            "site_id": session["site_id"],
        }
        session["_messages"].append(message)
        session.update(
            last_message_id=message["message_id"],
            last_message_time=message["send_time"],
            summary=str(content.get("txt") or "[card]")[:60],
        )
        if sender == BUYER:
            session["unread_count"] += 1
        else:
            session["unread_count"] = 0
            session["self_position"] = message["send_time"]
        return message

    def buyer_message(
        self, seller_id: int, buyer: str, text: str, order_id: str | None = None
    ) -> dict[str, Any]:
        """Buyer ``buyer`` writes; about an order, the chat opens with its order card."""
        session = self.session_for(seller_id, buyer)
        if order_id:
            self.post_im(seller_id, session, BUYER, ORDER_CARD, {"orderId": str(order_id)})
        return self.post_im(seller_id, session, BUYER, TEXT, {"txt": text})

    def _im_ok(self, data: Any = None) -> Reply:
        body: dict[str, Any] = {
            "success": True,
            "err_code": "0",
            "err_message": "SUCCESS",
            "request_id": self._request_id(),
        }
        if data is not None:
            body["data"] = data
        return Reply(200, body)

    def _im_fail(self, err_code: str, message: str) -> Reply:
        body = {"success": False, "err_code": err_code, "err_message": message}
        return Reply(200, {**body, "request_id": self._request_id()})

    def _im_page(
        self, params: Mapping[str, str], rows: list[dict[str, Any]], time_field: str, id_field: str
    ) -> tuple[list[dict[str, Any]], dict[str, Any]] | Reply:
        """Rows newest first from ``start_time`` (inclusive) or, given the previous page's
        last id, from just after that row; the page and the cursor to the next one."""
        start, size = params.get("start_time", ""), params.get("page_size", "")
        if not start.isdigit() or not size.isdigit():
            return self._im_fail("InvalidParameter", "start_time and page_size are required numbers")
        if not 1 <= int(size) <= IM_PAGE_MAX:
            return self._im_fail("InvalidParameter", f"page_size must be between 1 and {IM_PAGE_MAX}")

        def key(row: Mapping[str, Any]) -> tuple[int, int, str]:
            ident = str(row[id_field])  # ids in a stable order: numeric ones by value
            return (int(row[time_field]), len(ident), ident)

        rows = sorted(rows, key=key, reverse=True)
        last = params.get(f"last_{id_field}", "")
        if last:
            bound = (int(start), len(last), last)
            offset = next((i for i, r in enumerate(rows) if key(r) < bound), len(rows))
        else:
            offset = next((i for i, r in enumerate(rows) if int(r[time_field]) <= int(start)), len(rows))
        chunk, following = self.page(rows, offset, int(size))
        oldest = min(chunk, key=key) if chunk else None
        return chunk, {
            "has_more": following is not None,
            "next_start_time": int(oldest[time_field]) if oldest else None,
            f"last_{id_field}": str(oldest[id_field]) if oldest else None,
        }

    async def _session_list(self, request: Request) -> Reply:
        checked = self._check(request)
        if isinstance(checked, Reply):
            return checked
        params, seller = checked
        assert seller is not None
        paged = self._im_page(params, list(seller.sessions.values()), "last_message_time", "session_id")
        if isinstance(paged, Reply):
            return paged
        chunk, cursor = paged
        public = [{k: v for k, v in row.items() if not k.startswith("_")} for row in chunk]
        return self._im_ok({"session_list": public, **cursor})

    async def _message_list(self, request: Request) -> Reply:
        checked = self._check(request)
        if isinstance(checked, Reply):
            return checked
        params, seller = checked
        assert seller is not None
        session = seller.sessions.get(params.get("session_id", ""))
        if session is None:
            return self._im_fail("SESSION_NOT_FOUND", "session does not exist or is not the seller's")
        paged = self._im_page(params, session["_messages"], "send_time", "message_id")
        if isinstance(paged, Reply):
            return paged
        chunk, cursor = paged
        return self._im_ok({"message_list": [dict(m) for m in chunk], **cursor})

    async def _message_send(self, request: Request) -> Reply:
        checked = self._check(request)
        if isinstance(checked, Reply):
            return checked
        params, seller = checked
        assert seller is not None
        session = seller.sessions.get(params.get("session_id", ""))
        if session is None:
            return self._im_fail("SESSION_NOT_FOUND", "session does not exist or is not the seller's")
        if params.get("template_id") != str(TEXT):
            return self._im_fail("InvalidParameter", "the emulator sends text messages only (template_id 1)")
        text = params.get("txt", "")
        if not text.strip():
            return self._im_fail("InvalidParameter", "txt is required for template_id 1")
        message = self.post_im(seller.seller_id, session, SELLER, TEXT, {"txt": text})
        return self._im_ok(
            {"message_id": message["message_id"], "current_time": message["send_time"], "template_id": TEXT}
        )

    # ------------------------------------------------------------------ pushes

    def push(self, seller_id: int, order_id: str) -> tuple[bytes, str]:
        """The body and ``Authorization`` of the trade-order push Lazada would send now."""
        order = self.orders[order_id]
        item = order["_items"][0]
        body = json.dumps(
            {
                "seller_id": str(seller_id),
                "message_type": 0,
                "data": {
                    "order_status": item["status"],
                    "trade_order_id": str(order_id),
                    "trade_order_line_id": str(item["order_item_id"]),
                    "status_update_time": int(order["_updated"]),
                },
                "timestamp": int(self.clock() * 1000),
                "site": f"lazada_{self.sellers[seller_id].site.lower()}",
            },
            separators=(",", ":"),
        ).encode()
        return body, push_signature(self.app_key, self.app_secret, body)


def _is_id(value: Any) -> bool:
    """A numeric id, as a number or a string of digits (the SDKs send both)."""
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, str) and value.isdigit()
    )


def _iso_with_offset(text: str) -> datetime | None:
    """An ISO 8601 time with its UTC offset (``2026-11-27T10:38:27+08:00``), else None."""
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo is not None and "T" in text else None


def _money(value: Decimal, currency: str) -> str:
    return f"{value:.0f}" if currency in ZERO_DECIMALS else f"{value:.2f}"


def _price_problem(text: str, currency: str) -> str | None:
    """Lazada's refusal of a price in ``currency``: not a number, zero or negative
    (4118 BIZ_CHECK_PRICE_IS_ZERO), more decimals than the currency has (4104
    BIZ_CHECK_PRICE_PRECISION_INVALID); None for a valid price."""
    try:
        value = Decimal(text)
    except ArithmeticError:
        return "PRICE_INVALID: not a number"
    if not value.is_finite():
        return "PRICE_INVALID: not a number"
    if value <= 0:
        return "BIZ_CHECK_PRICE_IS_ZERO: the price must be above 0"
    places = 0 if currency in ZERO_DECIMALS else 2
    if value != round(value, places):
        return f"BIZ_CHECK_PRICE_PRECISION_INVALID: {currency} prices take {places} decimals"
    return None


class LazadaSellerEmulator(LazadaEmulator):
    """The emulator as the conformance suite and ``crossdock emulate`` drive it: accounts
    are sellers, products are SKUs."""

    default_site = "SG"
    #: in a generated (live) shop, one order in this many placed brings an after-sales case
    CASE_EVERY = 7

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: sellers whose shop was generated (a live shop): orders placed since, per seller
        self._live: dict[int, int] = {}

    def _seller(self, account: Mapping[str, Any] | int) -> int:
        return account if isinstance(account, int) else int(account["seller_id"])

    def open_account(self, site: str) -> dict[str, Any]:
        return self.add_seller(site)

    def add_product(self, account: Mapping[str, Any], sku: str, stock: int = 0) -> str:
        return self.add_sku(self._seller(account), sku, stock)

    def add_order(
        self,
        account: Mapping[str, Any] | int,
        external_id: str,
        lines: Sequence[tuple[str, int, str]],
        **kwargs: Any,
    ) -> dict[str, Any]:
        seller_id = self._seller(account)
        order = self.add_lazada_order(seller_id, external_id, list(lines), **kwargs)
        live = self._live
        if seller_id in live:  # a live shop (the demo's): now and then a buyer has second thoughts
            live[seller_id] += 1
            if live[seller_id] % self.CASE_EVERY == 0 and order["_items"][0]["status"] == "pending":
                self.reverse.buyer_cancels(external_id, reason="Change of mind")
            elif live[seller_id] % self.CASE_EVERY == 3:
                delivered = [
                    o
                    for o, row in self.orders.items()
                    if row["_seller"] == seller_id
                    and {i["status"] for i in row["_items"]} == {"delivered"}
                    and not any(r["trade_order_id"] == o for r in self.reverse.reverse_orders.values())
                ]
                if delivered:
                    self.reverse.buyer_returns(
                        delivered[0],
                        reason="Item not as described",
                        photos=[f"https://img.lazcdn.com/reverse/{delivered[0]}-1.jpg"],
                    )
        return order

    def generate_orders(self, account: Mapping[str, Any], count: int, seed: int) -> list[str]:
        seller_id = self._seller(account)
        self._live.setdefault(seller_id, 0)
        return self.generate(seller_id, count, seed=seed)

    def cancel_order(self, account: Mapping[str, Any], external_id: str) -> None:
        self.set_status(external_id, "canceled")

    def tracking_number(self, account: Mapping[str, Any], external_id: str) -> str | None:
        codes = [i["tracking_code"] for i in self.orders[external_id]["_items"] if i["tracking_code"]]
        return codes[0] if codes else None

    def stock(self, account: Mapping[str, Any], sku: str) -> int:
        return int(self.sellers[self._seller(account)].skus[sku]["quantity"])

    # the carrier side (crossdock.testing.carriers.CarrierEmulator) of Lazada's logistics: a
    # label is a package packed (and handed over ready to ship); its reference is the order

    def labels_bought(self, reference: str) -> int:
        """Live packages of order ``reference`` (repacked ones are cancelled)."""
        return sum(1 for p in self.packages.values() if p["order_id"] == reference and p["live"])

    def scan(
        self,
        tracking_number: str,
        status: TrackingStatus,
        reason: TrackingReason | None = None,
        at: datetime | None = None,
    ) -> None:
        self.scan_package(tracking_number, status, reason, at)

    def price(self, account: Mapping[str, Any], sku: str) -> str | None:
        price = self.sellers[self._seller(account)].skus[sku]["price"]
        return None if price is None else f"{price:.2f}"

    def status(self, external_id: str) -> list[str]:
        return [i["status"] for i in self.orders[external_id]["_items"]]

    def buyer_writes(
        self, account: Mapping[str, Any], buyer: str, text: str, order_external_id: str | None = None
    ) -> None:
        self.buyer_message(self._seller(account), buyer, text, order_external_id)

    def seller_writes(self, account: Mapping[str, Any], buyer: str, text: str) -> dict[str, Any]:
        """The seller answers from Lazada's own Seller Center chat, not through the API."""
        seller_id = self._seller(account)
        return self.post_im(seller_id, self.session_for(seller_id, buyer), SELLER, TEXT, {"txt": text})

    def signed_push(
        self, account: Mapping[str, Any], external_id: str, url: str
    ) -> tuple[dict[str, str], bytes]:
        """The trade-order push Lazada would POST now (its address is not signed)."""
        body, signature = self.push(self._seller(account), external_id)
        return {"Authorization": signature}, body

    # listing content (crossdock.testing.listings.ListingsEmulator)

    def sample_category(self, site: str) -> str:
        """A leaf of the emulator's tree (every site has the same one): Water Bottles."""
        return SAMPLE_CATEGORY

    def live_listing(self, account: Mapping[str, Any], sku: str) -> Mapping[str, Any] | None:
        return self.catalog.live_listing(self._seller(account), sku)

    def add_competitor_offer(self, account: Mapping[str, Any], sku: str, *, seller: str, price: str) -> None:
        raise NotImplementedError("Lazada's Open Platform shows a seller no other seller's offers")

    def messages_to(self, account: Mapping[str, Any], buyer: str) -> list[str]:
        seller = self.sellers[self._seller(account)]
        session = next((s for s in seller.sessions.values() if s["title"] == buyer), None)
        return [
            json.loads(m["content"])["txt"]
            for m in (session or {"_messages": []})["_messages"]
            if m["from_account_type"] == SELLER and m["template_id"] == TEXT
        ]
