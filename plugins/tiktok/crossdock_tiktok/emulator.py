"""A local TikTok Shop Partner API (202309 resources): the endpoints Crossdock uses, signed,
authorized and enveloped the way TikTok does it, with generated shops and orders, and
injected faults.

Served paths (one app: ``app_key`` / ``app_secret``; each seller account has one shop):

* auth host: ``GET /api/v2/token/get``, ``GET /api/v2/token/refresh`` (unsigned, app
  secret in the query; never faulted, so a client can always log in);
* ``GET /authorization/202309/shops``;
* ``POST /order/202309/orders/search`` (``page_token`` pagination, keyset on the sort
  field), ``GET /order/202309/orders?ids=``;
* ``POST /fulfillment/202309/packages/{package_id}/ship`` (``self_shipment`` or platform
  pickup);
* ``GET /logistics/202309/delivery_options/{id}/shipping_providers``,
  ``GET /logistics/202309/warehouses``;
* ``POST /product/202309/products/{product_id}/inventory/update`` and ``…/prices/update``;
* TikTok Shipping (:mod:`crossdock_tiktok.logistics_emulator`): eligible shipping
  services, create packages, package detail and search, shipping documents (served at
  their ``doc_url``), order tracking;
* Return and Refund (:mod:`crossdock_tiktok.aftersales_emulator`): seller cancellation,
  buyers' cancellation and return / refund requests searched, approved and rejected,
  return records, reject reasons; ``aftersales`` plays the buyer and the platform;
* customer service: ``GET /customer_service/202309/conversations`` (most recent activity
  first, ``page_size`` up to 20), ``GET …/conversations/{id}/messages`` (``sort_field``
  create_time|index, ``sort_order`` DESC|ASC, ``page_size`` up to 10) and
  ``POST …/conversations/{id}/messages`` (TEXT only). One conversation per buyer; a buyer
  writing about an order first posts a BUYER_ENTER_FROM_ORDER event naming it.

Error codes are TikTok's own: the developer guide's "Common errors" (36009002 throttled with
HTTP 429, 36009003 internal error "please try again", 105002 expired access token, 36009004
invalid access token / app key / timestamp (5 minutes before to 30 seconds after now) or a
missing sign, or a shop_cipher on an API that takes none, 106001 bad sign, 106013 missing
shop_cipher, 101000 a shop_cipher of another shop than the token's) and each API reference
page's error table (products, fulfillment, orders, customer service), as mirrored in
``lazykern/ecommerce-api-docs`` ``data/raw/tiktok/``. UNCONFIRMED stand-ins, for cases no
table covers: ``INVALID_PARAM`` (36009001: a parameter of the Orders or token APIs) and
``INVALID_REFRESH_TOKEN`` (105003).

Strict where the reference is: required parameters and their types, enums, ``page_size``
ranges, numeric ids, every warehouse assigned to a SKU listed in an inventory update
(quantities 0..99,999), ``self_shipment`` only for packages whose delivery option is
SEND_BY_SELLER (and required for them), shipping only packages TO_FULFILL of orders
AWAITING_SHIPMENT / PARTIALLY_SHIPPING.
"""

from __future__ import annotations

import base64
import contextvars
import json
import os
import random
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from itertools import count
from typing import Any

from crossdock.providers import TrackingReason, TrackingStatus
from crossdock.testing.emulator import Emulator, Faults, Reply, Request, credentials_guard
from crossdock_tiktok.ads_emulator import API as ADS_API
from crossdock_tiktok.ads_emulator import TikTokAds
from crossdock_tiktok.aftersales_emulator import BASE as RETURN_REFUND
from crossdock_tiktok.aftersales_emulator import TikTokAfterSales
from crossdock_tiktok.listings_emulator import SAMPLE_CATEGORY, TikTokListings
from crossdock_tiktok.logistics_emulator import DOC_PATH, TikTokLogistics
from crossdock_tiktok.signing import push_signature, sign

__all__ = ["REGIONS", "TikTokShopEmulator", "TikTokShopSellerEmulator"]

SKEW = 300  # a timestamp may be up to 5 minutes old ...
AHEAD = 30  # ... and up to 30 seconds ahead ("Common errors", 36009004)
CONVERSATIONS = "/customer_service/202309/conversations"
CONVERSATION_PAGE_MAX = 20
MESSAGE_PAGE_MAX = 10
TEXT_MAX = 2000
ACCESS_TTL = 7 * 86400
REFRESH_TTL = 365 * 86400

# developer guide, "Common errors"
OK = 0
THROTTLED = 36009002  # Too many requests (HTTP 429)
INTERNAL_ERROR = 36009003  # Internal error. Please try again.
INVALID_PATH = 36009009
EXPIRED_TOKEN = 105002  # Expired credentials
BAD_SIGN = 106001  # Invalid credentials: the sign
BAD_CREDENTIALS = 36009004  # invalid token, app_key, timestamp; missing sign; unexpected cipher
INVALID_TOKEN = BAD_CREDENTIALS  # "Invalid credentials. The x-tts-access-token header is invalid."
MISSING_SHOP_CIPHER = 106013
SHOP_MISMATCH = 101000  # the token's shop does not match the shop_cipher
# Orders API ("Get Order Detail")
ORDER_OF_ANOTHER_SELLER = 21008111
# Fulfillment API ("Ship Package")
FULFILLMENT_INVALID = 21001001  # Invalid parameters
PACKAGE_SHIPPED = 21008099  # Package has been shipped. Please not ship the package again.
PACKAGE_NOT_OF_SHOP = 21011028  # The package does not belong to the current shop.
ORDER_CANCELLED = 21011041  # Cannot complete the operation when order is cancelled.
FBT_ORDER = 21008025  # Seller cannot operate orders which are fulfilled by platform
NOT_ALLOWED = 21011003  # fulfill_unit action not allowed (the order cannot ship yet)
INVALID_PROVIDER = 21011022  # Invalid tracking number or provider ID.
NO_PROVIDERS = 21008116  # No Subscription without specified delivery option.
# Products API ("Update Inventory", "Update Price", "Get Product")
PRODUCT_NOT_FOUND = 12052048
PRODUCT_STATUS = 12052901  # not available for this operation in its status (not ACTIVATE)
EMPTY_SKUS = 12052902
DUPLICATE_SKU = 12052553
SKU_NOT_FOUND = 12052556  # inventory: The SKU id not exist.
SKU_NOT_IN_PRODUCT = 12052557  # prices: The SKU ID does not belong to the product.
CHECK_FAILED = 12052990  # a SKU's check failed: the reasons in detail.extra_errors
INVENTORY_REQUIRED = 12052486
WAREHOUSES_MISSING = 12019028  # Multiple warehouses detected. Include all warehouse IDs ...
WAREHOUSE_CHANGE = 12052533  # Removal, addition, and change of warehouses are not permitted.
WAREHOUSE_UNKNOWN = 12052097  # The warehouse does not exist
QUANTITY_LIMITS = 12052055  # The SKU inventory quantity for the warehouse must be within limits.
PRICE_FORMAT = 12052012
PRICE_INVALID = 12052073
CURRENCY_NOT_AVAILABLE = 12052084
INVALID_INPUT = 12052910
# Customer Service API ("Get Conversations", "Get Conversation Messages", "Send Message")
CS_INVALID_PARAM = 45101001
CS_NOT_FOUND = 45101003
CS_CANNOT_SEND = 45109001  # Unable to send messages due to conversation rules.
# UNCONFIRMED stand-ins (no reference table names these cases)
INVALID_REFRESH_TOKEN = 105003
INVALID_PARAM = 36009001  # a parameter of the Orders API or the token endpoints
SERVER_ERROR = INTERNAL_ERROR
NOT_FOUND = CS_NOT_FOUND
#: Update Inventory: "Valid range: [1, 99,999]" in the 202309 reference, yet sellers set
#: 0 to mark a SKU sold out (Seller Center's stock history shows SKUs "modified to 0";
#: integrators' notes of the reference: "non-negative numbers (include number 0)"), so 0 is
#: accepted; negative and over 99,999 are refused (12052055).
QUANTITY_MAX = 99_999
PRODUCT_SKUS_MAX = 100  # 12052050: a product has at most 100 SKUs
ORDER_STATUS_FILTER = (
    "UNPAID",
    "ON_HOLD",
    "AWAITING_SHIPMENT",
    "PARTIALLY_SHIPPING",
    "AWAITING_COLLECTION",
    "IN_TRANSIT",
    "DELIVERED",
    "COMPLETED",
    "CANCELLED",
)
SHIPPING_TYPES = ("TIKTOK", "SELLER")
#: the path of the request being answered (faults answer in its API's envelope)
_PATH: contextvars.ContextVar[str] = contextvars.ContextVar("tiktok_emulator_path", default="")
#: API for Business envelope codes for the kit's faults (tiktok_code.py of TikTok's SDK)
ADS_FAULT_CODES = {"throttled": 40100, "server_error": 50000, "timeout": 50002, "bad_request": 40002}


@dataclass(frozen=True)
class Region:
    currency: str
    exponent: int  # minor units of the currency
    prices: tuple[int, int]  # range of unit prices, in major units
    city: str
    state: str
    postcode: str
    phone: str
    carriers: tuple[str, ...]


REGIONS: Mapping[str, Region] = {
    "US": Region("USD", 2, (5, 80), "Los Angeles", "California", "90001", "+1", ("USPS", "UPS", "FedEx")),
    "GB": Region(
        "GBP", 2, (4, 60), "London", "Greater London", "EC1A 1BB", "+44", ("Royal Mail", "Evri", "DPD")
    ),
    "MY": Region(
        "MYR",
        2,
        (10, 300),
        "Kuala Lumpur",
        "Kuala Lumpur",
        "50450",
        "+60",
        ("J&T Express", "Ninja Van", "Pos Laju"),
    ),
    "TH": Region(
        "THB",
        2,
        (90, 2500),
        "Bangkok",
        "Bangkok",
        "10110",
        "+66",
        ("Kerry Express", "Flash Express", "J&T Express"),
    ),
    "VN": Region(
        "VND",
        0,
        (50_000, 900_000),
        "Ho Chi Minh City",
        "Ho Chi Minh City",
        "700000",
        "+84",
        ("Giao Hang Nhanh", "J&T Express", "Viettel Post"),
    ),
    "PH": Region(
        "PHP",
        2,
        (100, 3000),
        "Makati",
        "Metro Manila",
        "1226",
        "+63",
        ("J&T Express", "Ninja Van", "LBC Express"),
    ),
    "SG": Region(
        "SGD", 2, (3, 90), "Singapore", "Singapore", "048616", "+65", ("Ninja Van", "J&T Express", "SingPost")
    ),
    "ID": Region(
        "IDR",
        0,
        (20_000, 600_000),
        "Jakarta Pusat",
        "DKI Jakarta",
        "10310",
        "+62",
        ("J&T Express", "SiCepat", "JNE"),
    ),
}

STATUSES = (
    "UNPAID",
    "ON_HOLD",
    "AWAITING_SHIPMENT",
    "PARTIALLY_SHIPPING",
    "AWAITING_COLLECTION",
    "IN_TRANSIT",
    "DELIVERED",
    "COMPLETED",
    "CANCELLED",
)
SHIPPABLE = ("AWAITING_SHIPMENT", "PARTIALLY_SHIPPING")


def _money(amount: Decimal, exponent: int) -> str:
    return str(amount.quantize(Decimal(1).scaleb(-exponent)))


@dataclass
class Shop:
    open_id: str
    shop_id: str
    cipher: str
    region: str
    name: str
    access_token: str
    refresh_token: str
    access_expires: float
    refresh_expires: float
    delivery_option_id: str  #: SEND_BY_SELLER: the seller ships with its own carrier
    #: sales warehouses, the default first (multi-warehouse shop)
    warehouses: list[str]
    return_warehouse: str = ""
    platform_option_id: str = ""  #: STANDARD: TikTok Shipping (pickup or drop-off)
    #: product id -> sku id -> {"sku": seller_sku, "stock": {warehouse: qty}, "price": str | None}
    #: (the keys of "stock" are the warehouses assigned to the SKU)
    products: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    #: product id -> status (ACTIVATE unless a test says otherwise)
    product_status: dict[str, str] = field(default_factory=dict)
    im_user_id: str = ""  #: the shop's id in TikTok's IM (customer service) system
    #: conversation id -> conversation (public fields, plus ``_buyer`` and ``_messages``)
    conversations: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def spec(self) -> Region:
        return REGIONS[self.region]


class TikTokShopEmulator(Emulator):
    name = "tiktok"
    fault_free = frozenset({"/api/v2/token/get", "/api/v2/token/refresh"})

    def __init__(
        self,
        faults: Faults | None = None,
        *,
        app_key: str | None = None,
        app_secret: str | None = None,
        carriers: Sequence[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(faults)
        self.app_key = app_key or str(random.SystemRandom().randint(10**12, 10**13 - 1))
        self.app_secret = app_secret or secrets.token_hex(20)
        self.extra_carriers = tuple(carriers)
        self.clock = clock
        # TikTok tells an expired (or refreshed-away) token from an unknown one
        self.auth_guard = credentials_guard(
            lambda: self.clock(),
            refused=lambda: self._fail(
                INVALID_TOKEN, "Invalid credentials. The x-tts-access-token header is invalid."
            ),
            expired=lambda: self._fail(
                EXPIRED_TOKEN, "Expired credentials. The x-tts-access-token header has expired."
            ),
        )
        self.shops: dict[str, Shop] = {}  # shop_id -> shop
        self.orders: dict[str, dict[str, Any]] = {}  # order id -> order (with private _keys)
        self.auth_codes: dict[str, str] = {}  # auth code -> shop_id
        self.retired: dict[str, str] = {}  # replaced access token -> shop_id (answers "expired")
        self.providers: dict[str, dict[str, str]] = {}  # delivery option -> provider id -> name
        self._ids = count(1)
        #: path -> [(HTTP status, code)] answered instead of the next calls (see :meth:`script`)
        self.scripted: dict[str, list[tuple[int, int]]] = {}
        self.logistics = logistics = TikTokLogistics(self)
        self.aftersales = aftersales = TikTokAfterSales(self)
        self.ads = TikTokAds(self)
        self.listings = TikTokListings(self)
        for method, path, handler in self.listings.routes():
            self.route(method, path, handler)
        for method, path, handler in self.listings.pattern_routes():
            self.route_pattern(method, path, handler)
        for method, path, handler in self.ads.routes():
            self.route(method, path, handler)
        for method, path, handler in self.ads.pattern_routes():
            self.route_pattern(method, path, handler)
        for method, path, handler in (
            ("POST", "/fulfillment/202309/packages", logistics.create_packages),
            ("POST", "/fulfillment/202309/packages/search", logistics.search_packages),
            ("GET", "/api/v2/token/get", self._token_get),
            ("GET", "/api/v2/token/refresh", self._token_refresh),
            ("GET", "/authorization/202309/shops", self._authorized_shops),
            ("POST", "/order/202309/orders/search", self._orders_search),
            ("GET", "/order/202309/orders", self._orders_detail),
            ("GET", "/logistics/202309/warehouses", self._warehouses),
            ("GET", CONVERSATIONS, self._list_conversations),
            ("POST", f"{RETURN_REFUND}/cancellations", aftersales.cancel),
            ("POST", f"{RETURN_REFUND}/cancellations/search", aftersales.search_cancellations),
            ("POST", f"{RETURN_REFUND}/returns/search", aftersales.search_returns),
            ("GET", f"{RETURN_REFUND}/reject_reasons", aftersales.reject_reasons),
        ):
            self.route(method, path, handler)
        for method, pattern, handler in (
            ("POST", r"/fulfillment/202309/packages/([^/]+)/ship", self._ship_package),
            ("GET", r"/fulfillment/202309/packages/([^/]+)", logistics.package_detail),
            ("GET", r"/fulfillment/202309/packages/([^/]+)/shipping_documents", logistics.shipping_documents),
            (
                "POST",
                r"/fulfillment/202309/orders/([^/]+)/shipping_services/query",
                logistics.shipping_services,
            ),
            ("GET", r"/fulfillment/202309/orders/([^/]+)/tracking", logistics.order_tracking),
            ("GET", DOC_PATH + r"([^/]+)", logistics.document),
            (
                "GET",
                r"/logistics/202309/delivery_options/([^/]+)/shipping_providers",
                self._shipping_providers,
            ),
            ("POST", r"/product/202309/products/([^/]+)/inventory/update", self._inventory_update),
            ("GET", r"/product/202309/products/([^/]+)", self._product_detail),
            ("POST", r"/product/202309/products/([^/]+)/prices/update", self._prices_update),
            ("GET", CONVERSATIONS + r"/([^/]+)/messages", self._conversation_messages),
            ("POST", CONVERSATIONS + r"/([^/]+)/messages", self._send_message),
            ("POST", RETURN_REFUND + r"/cancellations/([0-9]+)/approve", aftersales.approve_cancellation),
            ("POST", RETURN_REFUND + r"/cancellations/([0-9]+)/reject", aftersales.reject_cancellation),
            ("POST", RETURN_REFUND + r"/returns/([0-9]+)/approve", aftersales.approve_return),
            ("POST", RETURN_REFUND + r"/returns/([0-9]+)/reject", aftersales.reject_return),
            ("GET", RETURN_REFUND + r"/returns/([0-9]+)/records", aftersales.records),
        ):
            self.route_pattern(method, pattern, handler)

    # ------------------------------------------------------------------ envelope

    async def _fault(self, request: Request) -> Reply | None:
        _PATH.set(request.path)
        return await super()._fault(request)

    def error_body(self, status: int, code: str, message: str) -> Any:
        if _PATH.get().startswith(ADS_API):  # API for Business: its own codes
            ads_code = ADS_FAULT_CODES.get(code, 50000)
            return {"code": ads_code, "message": message, "request_id": self._request_id(), "data": {}}
        numeric = {
            "throttled": THROTTLED,
            "server_error": INTERNAL_ERROR,
            "timeout": INTERNAL_ERROR,
            "not_found": INVALID_PATH,
            "bad_request": INVALID_PARAM,
        }.get(code, INTERNAL_ERROR)
        return {"code": numeric, "message": message, "request_id": self._request_id(), "data": None}

    def _request_id(self) -> str:
        return time.strftime("%Y%m%d%H%M%S", time.gmtime(self.clock())) + secrets.token_hex(10).upper()

    def _ok(self, data: Any) -> Reply:
        return Reply(200, {"code": OK, "message": "Success", "request_id": self._request_id(), "data": data})

    def _fail(self, code: int, message: str, status: int = 200) -> Reply:
        return Reply(
            status, {"code": code, "message": message, "request_id": self._request_id(), "data": None}
        )

    def _next_id(self, prefix: int) -> str:
        """Numeric string ids like TikTok's, unique within this emulator."""
        return str(prefix * 10**15 + next(self._ids))

    # ------------------------------------------------------------------ data

    def add_shop(self, region: str = "US") -> dict[str, Any]:
        """A seller who authorized the app, with one shop in ``region``; returns the
        credentials a connection starts with (no shop_cipher: that is looked up)."""
        if region not in REGIONS:
            raise ValueError(f"no TikTok Shop region {region!r}")
        shop_id = self._next_id(7494)
        option = self._next_id(7129)
        now = self.clock()
        shop = Shop(
            open_id=secrets.token_urlsafe(24),
            shop_id=shop_id,
            cipher="ROW_" + secrets.token_urlsafe(24),
            region=region,
            name=f"Emulated Shop {region} {len(self.shops) + 1}",
            access_token=secrets.token_urlsafe(32),
            refresh_token=secrets.token_urlsafe(32),
            access_expires=now + ACCESS_TTL,
            refresh_expires=now + REFRESH_TTL,
            delivery_option_id=option,
            warehouses=[self._next_id(7068), self._next_id(7068)],
            return_warehouse=self._next_id(7068),
            platform_option_id=self._next_id(7129),
            im_user_id=self._next_id(7301),
        )
        self.shops[shop_id] = shop
        names = (*REGIONS[region].carriers, *self.extra_carriers)
        # the same carriers serve both delivery options (seller's own and TikTok Shipping)
        self.providers[option] = {self._next_id(6617): name for name in names}
        self.providers[shop.platform_option_id] = self.providers[option]
        code = secrets.token_urlsafe(16)
        self.auth_codes[code] = shop_id
        ad_account = self.ads.open(shop)  # the shop's TikTok ad account (API for Business)
        return {
            **ad_account,
            "app_key": self.app_key,
            "app_secret": self.app_secret,
            "open_id": shop.open_id,
            "access_token": shop.access_token,
            "refresh_token": shop.refresh_token,
            "access_expires_at": int(shop.access_expires),
            "auth_code": code,
        }

    def shop_of(self, account: Mapping[str, Any] | str) -> Shop:
        if isinstance(account, str):
            return self.shops[account]
        if account.get("shop_id"):
            return self.shops[str(account["shop_id"])]
        return next(s for s in self.shops.values() if s.open_id == account["open_id"])

    def add_sku(
        self,
        shop: Shop,
        sku: str,
        stock: int = 0,
        product_id: str | None = None,
        warehouses: Sequence[str] | None = None,
    ) -> str:
        """A SKU of ``product_id`` (a new product when None), assigned to ``warehouses``
        (default: the shop's default sales warehouse), its ``stock`` in the first of them;
        returns ``product_id:sku_id``."""
        product_id = product_id or self._next_id(1729)
        sku_id = self._next_id(1730)
        assigned = list(warehouses or shop.warehouses[:1])
        shop.products.setdefault(product_id, {})[sku_id] = {
            "sku": sku,
            "stock": {w: (stock if n == 0 else 0) for n, w in enumerate(assigned)},
            "price": None,
        }
        shop.product_status.setdefault(product_id, "ACTIVATE")
        return f"{product_id}:{sku_id}"

    def find_sku(self, shop: Shop, sku: str) -> tuple[str, str, dict[str, Any]] | None:
        for product_id, skus in shop.products.items():
            for sku_id, entry in skus.items():
                if entry["sku"] == sku:
                    return product_id, sku_id, entry
        return None

    def create_order(
        self,
        shop: Shop,
        order_id: str,
        lines: Sequence[tuple[str, int, str]],
        *,
        status: str = "AWAITING_SHIPMENT",
        update_time: int | None = None,
        fulfilled_by_tiktok: bool = False,
        packages: int = 1,
        buyer: str = "Alex Buyer",
        shipping_type: str = "SELLER",
        handover_method: str = "PICKUP",
    ) -> dict[str, Any]:
        """An order of ``(seller_sku, quantity, unit price)`` lines: one line item per unit,
        split into ``packages`` packages (by line), statuses consistent with ``status``.
        ``shipping_type`` SELLER: the delivery option is SEND_BY_SELLER (the seller ships and
        uploads a tracking number); TIKTOK: TikTok Shipping, handed over by
        ``handover_method`` (PICKUP or DROP_OFF). FBT orders are TikTok's."""
        if status not in STATUSES:
            raise ValueError(f"not a TikTok order status: {status}")
        if shipping_type not in SHIPPING_TYPES or handover_method not in ("PICKUP", "DROP_OFF"):
            raise ValueError(f"not a TikTok shipping type / handover: {shipping_type} {handover_method}")
        if fulfilled_by_tiktok:
            shipping_type = "TIKTOK"
        spec = shop.spec
        now = int(update_time or self.clock())
        units: list[dict[str, Any]] = []
        package_ids = [self._next_id(1152) for _ in range(max(1, packages))]
        subtotal = Decimal(0)
        for n, (sku, quantity, price) in enumerate(lines):
            found = self.find_sku(shop, sku)
            product_id, sku_id = (found[0], found[1]) if found else (self._next_id(1729), self._next_id(1730))
            amount = Decimal(str(price))
            for _ in range(int(quantity)):
                subtotal += amount
                units.append(
                    {
                        "id": self._next_id(5770),
                        "product_id": product_id,
                        "product_name": f"Product {sku}",
                        "sku_id": sku_id,
                        "sku_name": "Default",
                        "seller_sku": sku,
                        "sale_price": _money(amount, spec.exponent),
                        "original_price": _money(amount, spec.exponent),
                        "currency": spec.currency,
                        "package_id": package_ids[n % len(package_ids)],
                        "package_status": "TO_FULFILL",
                        "tracking_number": "",
                        "shipping_provider_id": "",
                        "shipping_provider_name": "",
                        "display_status": status,
                        "is_gift": False,
                    }
                )
        shipping_fee = Decimal(0)
        created = now - 3600
        paid = None if status == "UNPAID" else created + 60
        order: dict[str, Any] = {
            "id": order_id,
            "status": status,
            "create_time": created,
            "update_time": now,
            "paid_time": paid,
            "rts_sla_time": (paid or created) + 2 * 86400,
            "tts_sla_time": (paid or created) + 4 * 86400,
            "fulfillment_type": "FULFILLMENT_BY_TIKTOK" if fulfilled_by_tiktok else "FULFILLMENT_BY_SELLER",
            "shipping_type": shipping_type,
            "delivery_option_id": (
                shop.delivery_option_id if shipping_type == "SELLER" else shop.platform_option_id
            ),
            "delivery_option_name": "Shipped by seller" if shipping_type == "SELLER" else "Standard shipping",
            "warehouse_id": self._order_warehouse(shop, [u["sku_id"] for u in units]),
            "user_id": str(abs(hash(buyer)) % 10**18),
            "buyer_email": f"{secrets.token_hex(6)}@scs.tiktokw.us",
            "buyer_message": "",
            "payment": {
                "currency": spec.currency,
                "sub_total": _money(subtotal, spec.exponent),
                "shipping_fee": _money(shipping_fee, spec.exponent),
                "tax": _money(Decimal(0), spec.exponent),
                "total_amount": _money(subtotal + shipping_fee, spec.exponent),
            },
            "recipient_address": {
                "name": buyer,
                "phone_number": f"({spec.phone})5550100",
                "full_address": f"1 Market Street, {spec.city}, {spec.state}, {spec.postcode}",
                "address_line1": "1 Market Street",
                "address_line2": "",
                "postal_code": spec.postcode,
                "region_code": shop.region,
                "district_info": [
                    {"address_level_name": "Country", "address_name": shop.region},
                    {"address_level_name": "State", "address_name": spec.state},
                    {"address_level_name": "City", "address_name": spec.city},
                ],
            },
            "line_items": units,
            "packages": [{"id": p} for p in package_ids if any(u["package_id"] == p for u in units)],
            "split_or_combine_tag": "SPLIT" if len(package_ids) > 1 else "",
            "_shop_id": shop.shop_id,
            "_handover": handover_method,
        }
        self._settle_packages(order, shop)
        self.orders[order_id] = order
        return order

    @staticmethod
    def _order_warehouse(shop: Shop, sku_ids: Sequence[str]) -> str:
        """The warehouse the order ships from: the first (default first) holding all its SKUs."""
        assigned = [set(skus[s]["stock"]) for skus in shop.products.values() for s in sku_ids if s in skus]
        common = set.intersection(*assigned) if assigned else set(shop.warehouses)
        return next((w for w in shop.warehouses if w in common), shop.warehouses[0])

    def _settle_packages(self, order: dict[str, Any], shop: Shop) -> None:
        """Package statuses and tracking numbers that agree with the order status: TO_FULFILL
        (waiting for the seller), PROCESSING (shipment arranged, waiting for the carrier),
        FULFILLING (collected, in transit), COMPLETED, CANCELLED."""
        status = order["status"]
        packages = [p["id"] for p in order["packages"]]
        for index, package_id in enumerate(packages):
            if status == "CANCELLED":
                state = "CANCELLED"
            elif status in ("DELIVERED", "COMPLETED"):
                state = "COMPLETED"
            elif status == "IN_TRANSIT":
                state = "FULFILLING"
            elif status == "AWAITING_COLLECTION" or (status == "PARTIALLY_SHIPPING" and index == 0):
                state = "PROCESSING"
            else:
                state = "TO_FULFILL"
            tracking = ""
            if state in ("PROCESSING", "FULFILLING", "COMPLETED"):
                tracking = f"TT{random.Random(package_id).randint(10**11, 10**12 - 1)}"
            self._set_package(order, package_id, state, tracking, shop)

    def _set_package(
        self, order: dict[str, Any], package_id: str, state: str, tracking: str, shop: Shop
    ) -> None:
        providers = self.providers[order["delivery_option_id"]]
        provider_id = next(iter(providers)) if tracking else ""
        for unit in order["line_items"]:
            if unit["package_id"] != package_id:
                continue
            unit["package_status"] = state
            if tracking and not unit["tracking_number"]:
                unit["tracking_number"] = tracking
                unit["shipping_provider_id"] = provider_id
                unit["shipping_provider_name"] = providers.get(provider_id, "")

    def touch(self, order: dict[str, Any]) -> None:
        order["update_time"] = max(int(self.clock()), order["update_time"] + 1)
        for unit in order["line_items"]:
            unit["display_status"] = order["status"]

    def generate(self, shop: Shop, count_: int, *, seed: int = 1, start: float | None = None) -> list[str]:
        """A realistic mix: mostly orders awaiting shipment, some unpaid or on hold, ~8%
        cancelled, some already shipped or delivered, ~10% fulfilled by TikTok (FBT), one
        to three SKUs (one to three units each), update times over the last three days.
        Of the seller's own orders about 60% are SEND_BY_SELLER and 40% TikTok Shipping
        (picked up or dropped off); about one in five orders of several SKUs is split into
        two packages."""
        rng = random.Random(seed)
        spec = shop.spec
        skus = [e["sku"] for p in shop.products.values() for e in p.values()] or ["SKU-1"]
        now = start or self.clock()
        made = []
        for _ in range(count_):
            fbt = rng.random() < 0.1
            if fbt:
                status = rng.choice(
                    ["AWAITING_SHIPMENT", "IN_TRANSIT", "DELIVERED", "COMPLETED", "CANCELLED"]
                )
            else:
                status = rng.choices(
                    [
                        "AWAITING_SHIPMENT",
                        "UNPAID",
                        "ON_HOLD",
                        "PARTIALLY_SHIPPING",
                        "AWAITING_COLLECTION",
                        "IN_TRANSIT",
                        "DELIVERED",
                        "COMPLETED",
                        "CANCELLED",
                    ],
                    [55, 4, 5, 2, 6, 7, 4, 9, 8],
                )[0]
            low, high = spec.prices
            chosen = rng.sample(skus, k=min(len(skus), rng.randint(1, 3)))
            lines = []
            for sku in chosen:
                major = rng.randint(low, high)
                if spec.exponent:
                    price = f"{major}.{rng.choice(['00', '49', '90', '99'])}"
                else:
                    price = str(major // 1000 * 1000)
                lines.append((sku, rng.randint(1, 3), price))
            if status == "PARTIALLY_SHIPPING" and len(lines) == 1:
                status = "AWAITING_SHIPMENT"  # one package cannot be partly shipped
            platform = rng.random() < 0.4
            handover = "DROP_OFF" if rng.random() < 0.3 else "PICKUP"
            split = status == "PARTIALLY_SHIPPING" or (len(lines) > 1 and rng.random() < 0.2)
            order_id = self._next_id(5780)
            self.create_order(
                shop,
                order_id,
                lines,
                status=status,
                update_time=int(now - rng.randint(60, 3 * 86400)),
                fulfilled_by_tiktok=fbt,
                packages=2 if split else 1,
                buyer=f"Buyer {rng.randint(1, 10**6)}",
                shipping_type="TIKTOK" if platform else "SELLER",
                handover_method=handover,
            )
            made.append(order_id)
        return made

    def notification(self, order_id: str, status: str | None = None) -> tuple[dict[str, str], bytes]:
        """An order status push (type 1) as TikTok would POST it: headers and raw body."""
        order = self.orders[order_id]
        word = status or ("CANCEL" if order["status"] == "CANCELLED" else order["status"])
        body = json.dumps(
            {
                "type": 1,
                "tts_notification_id": secrets.token_hex(8),
                "shop_id": order["_shop_id"],
                "timestamp": int(self.clock()),
                "data": {"order_id": order_id, "order_status": word, "update_time": order["update_time"]},
            }
        ).encode()
        return {"Authorization": push_signature(self.app_secret, self.app_key, body)}, body

    # ------------------------------------------------------------------ auth

    def script(self, path: str, code: int, status: int = 200, times: int = 1) -> None:
        """The next ``times`` calls of ``path`` answer TikTok's envelope with ``code`` (and
        HTTP ``status``) and change nothing: 36009003 "Internal error. Please try again",
        36009002 throttling, 36009007 "Request timeout"..."""
        self.scripted.setdefault(path, []).extend([(status, code)] * times)

    def _scripted(self, request: Request) -> Reply | None:
        waiting = self.scripted.get(request.path)
        if not waiting:
            return None
        status, code = waiting.pop(0)
        messages = {
            INTERNAL_ERROR: "Internal error. Please try again. If the issue persists after multiple "
            "attempts, please contact platform support.",
            THROTTLED: "Too many requests. You've made too many requests in a short period of time.",
            36009007: "Request timeout. The request to the endpoint timed out.",
        }
        return self._fail(code, messages.get(code, "scripted error"), status)

    def _check(self, request: Request, *, shop_level: bool = True) -> Shop | Reply:
        """Signature, timestamp, access token and (for shop resources) shop_cipher."""
        scripted = self._scripted(request)
        if scripted is not None:
            return scripted
        q = request.query
        if q.get("app_key") != self.app_key:
            return self._fail(BAD_CREDENTIALS, "Invalid credentials. Invalid app_key query parameter.")
        try:
            ts = int(q["timestamp"])
        except (KeyError, ValueError):
            return self._fail(
                BAD_CREDENTIALS, "Invalid timestamp. The timestamp query parameter is required."
            )
        if ts < self.clock() - SKEW or ts > self.clock() + AHEAD:
            return self._fail(
                BAD_CREDENTIALS,
                "Invalid timestamp. Timestamps must lie within 5 minutes before to 30 seconds "
                "beyond the current time.",
            )
        if not q.get("sign"):
            return self._fail(
                BAD_CREDENTIALS, "Missing credentials. The request does not include a required signature."
            )
        multipart = request.headers.get("content-type", "").startswith("multipart/")
        if q["sign"] != sign(self.app_secret, request.path, q, request.body, multipart=multipart):
            return self._fail(BAD_SIGN, "Invalid credentials. The sign query parameter is invalid.")
        token = request.headers.get("x-tts-access-token", "")
        found = next((s for s in self.shops.values() if s.access_token == token), None)
        checked = self.auth_guard.check(
            token, found, expires_at=found.access_expires if found else None, retired=token in self.retired
        )
        if isinstance(checked, Reply):
            return checked
        shop: Shop = checked
        cipher = q.get("shop_cipher", "")
        if not shop_level and cipher:
            return self._fail(
                BAD_CREDENTIALS, "Unexpected identifier. The shop_cipher query parameter is not required."
            )
        if shop_level and not cipher:
            return self._fail(
                MISSING_SHOP_CIPHER, "Missing identifier. The shop_cipher query parameter is required."
            )
        if shop_level and cipher != shop.cipher:
            return self._fail(
                SHOP_MISMATCH, "Invalid query or header: the token's shop does not match the shop_cipher."
            )
        return shop

    async def _token_get(self, request: Request) -> Reply:
        q = request.query
        if q.get("app_key") != self.app_key or q.get("app_secret") != self.app_secret:
            return self._fail(BAD_CREDENTIALS, "invalid app_key or app_secret")
        if q.get("grant_type") != "authorized_code":
            return self._fail(INVALID_PARAM, "grant_type must be authorized_code")
        shop_id = self.auth_codes.pop(q.get("auth_code", ""), None)
        if shop_id is None:
            return self._fail(INVALID_PARAM, "invalid auth_code")
        return self._tokens(self.shops[shop_id])

    async def _token_refresh(self, request: Request) -> Reply:
        scripted = self._scripted(request)
        if scripted is not None:
            return scripted
        q = request.query
        if q.get("app_key") != self.app_key or q.get("app_secret") != self.app_secret:
            return self._fail(BAD_CREDENTIALS, "invalid app_key or app_secret")
        if q.get("grant_type") != "refresh_token":
            return self._fail(INVALID_PARAM, "grant_type must be refresh_token")
        shop = next((s for s in self.shops.values() if s.refresh_token == q.get("refresh_token")), None)
        if shop is None or self.clock() >= shop.refresh_expires:
            return self._fail(INVALID_REFRESH_TOKEN, "invalid or expired refresh_token")
        self.retired[shop.access_token] = shop.shop_id
        shop.access_token = secrets.token_urlsafe(32)
        shop.refresh_token = secrets.token_urlsafe(32)  # the old one is spent
        shop.access_expires = self.clock() + ACCESS_TTL
        shop.refresh_expires = self.clock() + REFRESH_TTL
        return self._tokens(shop)

    def _tokens(self, shop: Shop) -> Reply:
        return self._ok(
            {
                "access_token": shop.access_token,
                "access_token_expire_in": int(shop.access_expires),  # a Unix time, not a duration
                "refresh_token": shop.refresh_token,
                "refresh_token_expire_in": int(shop.refresh_expires),
                "open_id": shop.open_id,
                "seller_name": shop.name,
                "seller_base_region": shop.region,
                "user_type": 0,
                "granted_scopes": ["seller.order.info", "seller.fulfillment.basic", "seller.product.basic"],
            }
        )

    def expire_tokens(self) -> None:
        """Every access token stops working now (tests of refresh)."""
        for shop in self.shops.values():
            shop.access_expires = self.clock() - 1

    async def _authorized_shops(self, request: Request) -> Reply:
        shop = self._check(request, shop_level=False)
        if isinstance(shop, Reply):
            return shop
        return self._ok(
            {
                "shops": [
                    {
                        "id": shop.shop_id,
                        "name": shop.name,
                        "region": shop.region,
                        "seller_type": "LOCAL",
                        "cipher": shop.cipher,
                        "code": f"{shop.region}LC{shop.shop_id[-6:]}",
                    }
                ]
            }
        )

    # ------------------------------------------------------------------ orders

    @staticmethod
    def _public(order: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in order.items() if not k.startswith("_")}

    @staticmethod
    def _encode_token(key: tuple[int, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")

    @staticmethod
    def _decode_token(token: str) -> tuple[int, str]:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        value, order_id = json.loads(raw)
        return int(value), str(order_id)

    async def _orders_search(self, request: Request) -> Reply:
        shop = self._check(request)
        if isinstance(shop, Reply):
            return shop
        q = request.query
        try:
            size = int(q["page_size"])
        except (KeyError, ValueError):
            return self._fail(INVALID_PARAM, "page_size is required")
        if not 1 <= size <= 100:
            return self._fail(INVALID_PARAM, "page_size must be between 1 and 100")
        sort_field = q.get("sort_field", "create_time")
        sort_order = q.get("sort_order", "DESC")
        if sort_field not in ("create_time", "update_time") or sort_order not in ("ASC", "DESC"):
            return self._fail(INVALID_PARAM, "sort_field or sort_order is invalid")
        filters = request.json() if request.body else {}
        problem = self._search_filters(filters)
        if problem:
            return self._fail(INVALID_PARAM, problem)
        rows = [o for o in self.orders.values() if o["_shop_id"] == shop.shop_id]
        for name in ("create_time", "update_time"):
            if f"{name}_ge" in filters:
                rows = [o for o in rows if o[name] >= filters[f"{name}_ge"]]
            if f"{name}_lt" in filters:
                rows = [o for o in rows if o[name] < filters[f"{name}_lt"]]
        if filters.get("order_status"):
            rows = [o for o in rows if o["status"] == filters["order_status"]]
        if filters.get("shipping_type"):
            rows = [o for o in rows if o["shipping_type"] == filters["shipping_type"]]
        if filters.get("warehouse_ids"):
            rows = [o for o in rows if o["warehouse_id"] in filters["warehouse_ids"]]
        descending = sort_order == "DESC"
        rows.sort(key=lambda o: (o[sort_field], o["id"]), reverse=descending)
        start = 0
        if q.get("page_token"):
            try:
                after = self._decode_token(q["page_token"])
            except (ValueError, TypeError):
                return self._fail(INVALID_PARAM, "invalid page_token")
            start = next(
                (
                    i
                    for i, o in enumerate(rows)
                    if ((o[sort_field], o["id"]) < after if descending else (o[sort_field], o["id"]) > after)
                ),
                len(rows),
            )
        chunk, following = self.page(rows, start, size)
        token = ""
        if following is not None:
            last = rows[following - 1]
            token = self._encode_token((last[sort_field], last["id"]))
        return self._ok(
            {"orders": [self._public(o) for o in chunk], "next_page_token": token, "total_count": len(rows)}
        )

    @staticmethod
    def _search_filters(filters: Any) -> str | None:
        """What is wrong with a Get Order List body (types and enums of the reference)."""
        if not isinstance(filters, dict):
            return "the body must be a JSON object"
        for name in ("create_time_ge", "create_time_lt", "update_time_ge", "update_time_lt"):
            value = filters.get(name)
            if name in filters and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                return f"{name} must be a Unix timestamp (int)"
        if "order_status" in filters and filters["order_status"] not in ORDER_STATUS_FILTER:
            return f"order_status must be one of {', '.join(ORDER_STATUS_FILTER)}"
        if "shipping_type" in filters and filters["shipping_type"] not in SHIPPING_TYPES:
            return "shipping_type must be TIKTOK or SELLER"
        warehouses = filters.get("warehouse_ids")
        if "warehouse_ids" in filters and (
            not isinstance(warehouses, list)
            or len(warehouses) > 100
            or not all(isinstance(w, str) and w.isdigit() for w in warehouses)
        ):
            return "warehouse_ids takes at most 100 warehouse ids (strings)"
        return None

    async def _orders_detail(self, request: Request) -> Reply:
        shop = self._check(request)
        if isinstance(shop, Reply):
            return shop
        ids = [i for i in request.query.get("ids", "").split(",") if i]
        if not 1 <= len(ids) <= 50:
            return self._fail(INVALID_PARAM, "ids takes 1 to 50 order ids")
        if any(i in self.orders and self.orders[i]["_shop_id"] != shop.shop_id for i in ids):
            return self._fail(
                ORDER_OF_ANOTHER_SELLER, "The order or package does not belong to the current seller."
            )
        found = [self._public(self.orders[i]) for i in ids if i in self.orders]
        return self._ok({"orders": found})

    # ------------------------------------------------------------------ fulfilment

    def seller_ships(self, order: Mapping[str, Any], package_id: str) -> bool:
        """Whether the package's delivery option is SEND_BY_SELLER (the seller's carrier and
        tracking number), not TikTok Shipping (also once a TikTok label was bought for it)."""
        return order["shipping_type"] == "SELLER" and package_id not in self.logistics.packages

    async def _ship_package(self, request: Request) -> Reply:
        """Ship Package (reference ``ship-package``): ``self_shipment`` {tracking_number,
        shipping_provider_id} is for SEND_BY_SELLER packages, and they need it; TikTok
        Shipping packages take ``handover_method`` PICKUP | DROP_OFF. Only a TO_FULFILL
        package of an order AWAITING_SHIPMENT or PARTIALLY_SHIPPING ships."""
        shop = self._check(request)
        if isinstance(shop, Reply):
            return shop
        (package_id,) = request.args
        if not package_id.isdigit():
            return self._fail(FULFILLMENT_INVALID, "Invalid parameters: package_id must be a numeric string.")
        order = next(
            (o for o in self.orders.values() if any(p["id"] == package_id for p in o["packages"])),
            None,
        )
        if order is None or order["_shop_id"] != shop.shop_id:
            return self._fail(PACKAGE_NOT_OF_SHOP, "The package does not belong to the current shop.")
        body = request.json() if request.body else {}
        if not isinstance(body, dict):
            return self._fail(FULFILLMENT_INVALID, "Invalid parameters: the body must be a JSON object.")
        units = [u for u in order["line_items"] if u["package_id"] == package_id]
        if order["fulfillment_type"] == "FULFILLMENT_BY_TIKTOK":
            return self._fail(FBT_ORDER, "Seller cannot operate orders which are fulfilled by platform")
        if order["status"] == "CANCELLED":
            return self._fail(ORDER_CANCELLED, "Cannot complete the operation when order is cancelled.")
        if units[0]["package_status"] != "TO_FULFILL":
            return self._fail(PACKAGE_SHIPPED, "Package has been shipped. Please not ship the package again.")
        if order["status"] not in SHIPPABLE:
            return self._fail(NOT_ALLOWED, f"fulfill_unit action not allowed: the order is {order['status']}")
        self_shipment = body.get("self_shipment")
        handover = body.get("handover_method")
        providers = self.providers[order["delivery_option_id"]]
        if self.seller_ships(order, package_id):
            if not isinstance(self_shipment, dict):
                return self._fail(
                    FULFILLMENT_INVALID,
                    "Invalid parameters: a SEND_BY_SELLER package needs self_shipment "
                    "{tracking_number, shipping_provider_id}.",
                )
            tracking = self_shipment.get("tracking_number")
            provider_id = self_shipment.get("shipping_provider_id")
            if not isinstance(tracking, str) or not tracking.strip() or not isinstance(provider_id, str):
                return self._fail(
                    FULFILLMENT_INVALID,
                    "Invalid parameters: self_shipment.tracking_number and shipping_provider_id are "
                    "required strings.",
                )
            if provider_id not in providers:
                return self._fail(INVALID_PROVIDER, "Invalid tracking number or provider ID.")
        else:
            if self_shipment is not None:
                return self._fail(
                    FULFILLMENT_INVALID,
                    "Invalid parameters: self_shipment is only for packages whose delivery option is "
                    "SEND_BY_SELLER; this package ships with TikTok Shipping.",
                )
            handover = handover or order["_handover"]
            if handover not in ("PICKUP", "DROP_OFF"):
                return self._fail(
                    FULFILLMENT_INVALID, "Invalid parameters: handover_method is PICKUP or DROP_OFF."
                )
            # TikTok Shipping: the label bought with create packages, or one made now
            tracking = self.logistics.shipped(order, package_id, units, handover, shop) or ""
            provider_id = units[0]["shipping_provider_id"] or next(iter(providers))
        for unit in units:
            unit.update(
                package_status="PROCESSING",
                tracking_number=tracking,
                shipping_provider_id=provider_id,
                shipping_provider_name=providers[provider_id],
            )
        waiting = [u for u in order["line_items"] if u["package_status"] == "TO_FULFILL"]
        order["status"] = "PARTIALLY_SHIPPING" if waiting else "AWAITING_COLLECTION"
        self.touch(order)
        return self._ok({})

    async def _shipping_providers(self, request: Request) -> Reply:
        shop = self._check(request)
        if isinstance(shop, Reply):
            return shop
        (option,) = request.args
        if option != shop.delivery_option_id:
            return self._fail(NO_PROVIDERS, "No Subscription without specified delivery option.")
        return self._ok(
            {
                "shipping_providers": [
                    {"id": pid, "name": name} for pid, name in self.providers[option].items()
                ]
            }
        )

    async def _warehouses(self, request: Request) -> Reply:
        shop = self._check(request)
        if isinstance(shop, Reply):
            return shop

        def warehouse(wid: str, name: str, kind: str, default: bool) -> dict[str, Any]:
            return {
                "id": wid,
                "name": name,
                "effect_status": "ENABLED",
                "type": kind,
                "sub_type": "DOMESTIC_WAREHOUSE",
                "is_default": default,
                "address": {"region_code": shop.region},
            }

        listed = [warehouse(shop.return_warehouse, "Returns", "RETURN_WAREHOUSE", True)]
        listed += [
            warehouse(wid, "Main warehouse" if n == 0 else f"Warehouse {n + 1}", "SALES_WAREHOUSE", n == 0)
            for n, wid in enumerate(shop.warehouses)
        ]
        return self._ok({"warehouses": listed})

    # ------------------------------------------------------------------ products

    def _product(
        self, request: Request
    ) -> tuple[Shop, str, dict[str, dict[str, Any]], list[dict[str, Any]]] | Reply:
        """The shop, the product id, its SKUs and the request's ``skus`` entries, once the
        product and the list are valid (reference: Update Inventory / Update Price)."""
        shop = self._check(request)
        if isinstance(shop, Reply):
            return shop
        (product_id,) = request.args
        skus = shop.products.get(product_id) if product_id.isdigit() else None
        if skus is None:
            return self._fail(
                PRODUCT_NOT_FOUND,
                "You cannot edit the specified product(s) as it isn't listed in your account or shop.",
            )
        if shop.product_status.get(product_id, "ACTIVATE") != "ACTIVATE":
            return self._fail(
                PRODUCT_STATUS,
                "The product in its current status is not available for this operation. "
                "Change the product status and try again.",
            )
        body = request.json() if request.body else {}
        entries = body.get("skus") if isinstance(body, dict) else None
        if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
            return self._fail(
                EMPTY_SKUS,
                "The SKU list is empty. Either omit the list entirely, or provide all required details.",
            )
        if len(entries) > PRODUCT_SKUS_MAX:
            return self._fail(12052050, "A single product cannot have more than 100 different SKUs")
        ids = [e.get("id") for e in entries]
        if not all(isinstance(i, str) and i for i in ids):
            return self._fail(INVALID_INPUT, "Invalid input parameters: skus[].id is a required string.")
        if len(set(ids)) != len(ids):
            return self._fail(DUPLICATE_SKU, "Sku id duplicate")
        return shop, product_id, skus, entries

    async def _product_detail(self, request: Request) -> Reply:
        """Get Product: the SKUs with their warehouses (``skus[].inventory``)."""
        shop = self._check(request)
        if isinstance(shop, Reply):
            return shop
        (product_id,) = request.args
        skus = shop.products.get(product_id) if product_id.isdigit() else None
        if skus is None:
            return self._fail(
                PRODUCT_NOT_FOUND,
                "You cannot edit the specified product(s) as it isn't listed in your account or shop.",
            )
        status = shop.product_status.get(product_id, "ACTIVATE")
        base = {
            "id": product_id,
            "status": status,
            "product_status": status,
            "title": f"Product {product_id}",
            "skus": [
                {
                    "id": sku_id,
                    "seller_sku": entry["sku"],
                    "price": {
                        "currency": shop.spec.currency,
                        "sale_price": entry["price"] or "0",
                        "tax_exclusive_price": entry["price"] or "0",
                    },
                    "inventory": [{"warehouse_id": w, "quantity": q} for w, q in entry["stock"].items()],
                    "status_info": {"status": "NORMAL"},
                }
                for sku_id, entry in skus.items()
            ],
        }
        return self._ok(self.listings.detail(shop, product_id, base, request))

    def _inventory_problems(
        self, entry: Mapping[str, Any], assigned: Sequence[str]
    ) -> tuple[dict[str, int], list[dict[str, Any]]]:
        """One SKU entry of an update: the new quantities, or its problems (extra_errors)."""
        levels = entry.get("inventory")
        problems: list[dict[str, Any]] = []
        changes: dict[str, int] = {}
        if not isinstance(levels, list) or not levels or not all(isinstance(v, dict) for v in levels):
            return {}, [{"code": INVENTORY_REQUIRED, "message": "Inventory is required for all SKUs."}]
        for level in levels:
            warehouse = level.get("warehouse_id")
            if warehouse is None and len(assigned) == 1:
                warehouse = assigned[0]  # "Optional if there is only 1 warehouse"
            quantity = level.get("quantity")
            if not isinstance(warehouse, str) or not warehouse.isdigit():
                problems.append(
                    {
                        "code": WAREHOUSES_MISSING,
                        "message": "Multiple warehouses detected. "
                        "Include all warehouse IDs and the corresponding details and try again.",
                    }
                )
                continue
            if warehouse not in assigned:
                known = warehouse in self._all_warehouses()
                problems.append(
                    {
                        "warehouse_id": warehouse,
                        "code": WAREHOUSE_CHANGE if known else WAREHOUSE_UNKNOWN,
                        "message": (
                            "Removal, addition, and change of warehouses are not permitted. "
                            "Please specify the original warehouses for the SKUs."
                            if known
                            else "The warehouse does not exist"
                        ),
                    }
                )
                continue
            if (
                isinstance(quantity, bool)
                or not isinstance(quantity, int)
                or not 0 <= quantity <= QUANTITY_MAX
            ):
                problems.append(
                    {
                        "warehouse_id": warehouse,
                        "code": QUANTITY_LIMITS,
                        "message": "The SKU inventory quantity for the warehouse must be within "
                        "allowed limits.",
                    }
                )
                continue
            if warehouse in changes:
                problems.append(
                    {
                        "warehouse_id": warehouse,
                        "code": WAREHOUSE_CHANGE,
                        "message": "A warehouse is listed twice.",
                    }
                )
                continue
            changes[warehouse] = quantity
        missing = [w for w in assigned if w not in changes]
        if missing and not problems:
            problems.append(
                {
                    "warehouse_id": missing[0],
                    "code": WAREHOUSES_MISSING,
                    "message": "Multiple warehouses detected. Include all warehouse IDs and the "
                    "corresponding details and try again.",
                }
            )
        return changes, problems

    def _all_warehouses(self) -> set[str]:
        return {w for shop in self.shops.values() for w in (*shop.warehouses, shop.return_warehouse)}

    async def _inventory_update(self, request: Request) -> Reply:
        """Update Inventory: every warehouse assigned to a SKU must be listed, no other one,
        each with a quantity of 0..99,999. A SKU that fails is reported in ``data.errors``
        (``code``, ``message``, ``detail.sku_id`` and, for warehouse problems,
        ``detail.extra_errors``) and left unchanged; the others are updated."""
        found = self._product(request)
        if isinstance(found, Reply):
            return found
        _, _, skus, entries = found
        changes: list[tuple[str, dict[str, int]]] = []
        errors = []
        for entry in entries:
            sku_id = str(entry["id"])
            if sku_id not in skus:
                errors.append(
                    {"code": SKU_NOT_FOUND, "message": "The SKU id not exist.", "detail": {"sku_id": sku_id}}
                )
                continue
            levels, problems = self._inventory_problems(entry, list(skus[sku_id]["stock"]))
            if problems:
                errors.append(
                    {
                        "code": CHECK_FAILED,
                        "message": "The check failed.",
                        "detail": {"sku_id": sku_id, "extra_errors": problems},
                    }
                )
                continue
            changes.append((sku_id, levels))
        for sku_id, levels in changes:
            skus[sku_id]["stock"].update(levels)
        return self._ok({"errors": errors} if errors else {})

    async def _prices_update(self, request: Request) -> Reply:
        """Update Price: the whole request is refused at the first bad SKU (the reference
        documents no per-SKU ``errors`` for prices)."""
        found = self._product(request)
        if isinstance(found, Reply):
            return found
        shop, _, skus, entries = found
        changes = []
        for entry in entries:
            if str(entry["id"]) not in skus:
                return self._fail(
                    SKU_NOT_IN_PRODUCT, f"The SKU ID {entry['id']} does not belong to the product."
                )
            price = entry.get("price")
            if not isinstance(price, dict):
                return self._fail(INVALID_INPUT, "Invalid input parameters: skus[].price is required.")
            if price.get("currency") != shop.spec.currency:
                return self._fail(
                    CURRENCY_NOT_AVAILABLE, "The provided currency is not available for this shop/region."
                )
            raw = price.get("amount")
            try:
                amount = Decimal(raw) if isinstance(raw, str) else Decimal("NaN")
            except InvalidOperation:
                amount = Decimal("NaN")
            if not amount.is_finite():
                return self._fail(PRICE_FORMAT, "Incorrect price format")
            if amount <= 0 or -amount.as_tuple().exponent > shop.spec.exponent:  # type: ignore[operator]
                return self._fail(PRICE_INVALID, "The product price is invalid")
            changes.append((str(entry["id"]), amount))
        for sku_id, amount in changes:
            skus[sku_id]["price"] = str(amount)
        return self._ok({})

    # ------------------------------------------------------------------ customer service

    def conversation_with(self, shop: Shop, buyer: str) -> dict[str, Any]:
        """The shop's conversation with buyer ``buyer`` (a nickname), opened if new."""
        for conversation in shop.conversations.values():
            if conversation["_buyer"] == buyer:
                return conversation
        conversation_id = self._next_id(7302)
        opened: dict[str, Any] = {
            "id": conversation_id,
            "participant_count": 2,
            "can_send_message": True,
            "unread_count": 0,
            "create_time": int(self.clock()),
            "participants": [
                {
                    "role": "BUYER",
                    "nickname": buyer,
                    "im_user_id": self._next_id(7303),
                    "avatar": f"https://p16-oec.tiktokcdn.example/avatar/{conversation_id}.image",
                    "buyer_platform": "TIKTOK_SHOP",
                },
                {
                    "role": "SHOP",
                    "nickname": shop.name,
                    "im_user_id": shop.im_user_id,
                    "avatar": f"https://p16-oec.tiktokcdn.example/avatar/{shop.shop_id}.image",
                },
            ],
            "latest_message": None,
            "_buyer": buyer,
            "_messages": [],
        }
        shop.conversations[conversation_id] = opened
        return opened

    def post_message(
        self,
        conversation: dict[str, Any],
        role: str,
        kind: str,
        content: Mapping[str, Any],
        *,
        visible: bool = True,
    ) -> dict[str, Any]:
        """A message into ``conversation`` from ``role`` (BUYER, SHOP, CUSTOMER_SERVICE,
        SYSTEM, ROBOT: all but the buyer appear as the shop). Times are seconds; ``index``
        (microseconds, strictly increasing in a conversation) orders equal times."""
        who = "BUYER" if role == "BUYER" else "SHOP"
        participant = next(p for p in conversation["participants"] if p["role"] == who)
        messages = conversation["_messages"]
        index = int(self.clock() * 1_000_000)
        if messages:
            index = max(index, int(messages[-1]["index"]) + 1)
        message = {
            "id": self._next_id(7304),
            "index": str(index),
            "type": kind,
            "content": json.dumps(dict(content), ensure_ascii=False),
            "create_time": int(self.clock()),
            "is_visible": visible,
            "sender": {
                "role": role,
                "nickname": participant["nickname"],
                "im_user_id": participant["im_user_id"],
                "avatar": participant["avatar"],
            },
        }
        messages.append(message)
        conversation["latest_message"] = dict(message)
        if role == "BUYER" and visible and not kind.startswith("BUYER_ENTER_FROM"):
            conversation["unread_count"] += 1  # what the buyer wrote, not where they came from
        return message

    def buyer_message(self, shop: Shop, buyer: str, text: str, order_id: str | None = None) -> dict[str, Any]:
        """Buyer ``buyer`` writes ``text``; about an order, the message follows a
        BUYER_ENTER_FROM_ORDER event naming it (the buyer opened the chat from the order)."""
        conversation = self.conversation_with(shop, buyer)
        if order_id:
            self.post_message(conversation, "BUYER", "BUYER_ENTER_FROM_ORDER", {"order_id": order_id})
        return self.post_message(conversation, "BUYER", "TEXT", {"content": text})

    @staticmethod
    def _activity(conversation: Mapping[str, Any]) -> tuple[int, str]:
        latest = conversation.get("latest_message") or {}
        return int(latest.get("index") or 0), str(conversation["id"])

    @staticmethod
    def _encode_key(key: Sequence[Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")

    @staticmethod
    def _decode_key(token: str) -> list[Any]:
        value = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(value, list) or len(value) != 2:
            raise ValueError("not a page token")
        return value

    def _page_size(self, request: Request, maximum: int, code: int = CS_INVALID_PARAM) -> int | Reply:
        try:
            size = int(request.query["page_size"])
        except (KeyError, ValueError):
            return self._fail(code, "page_size is required")
        if not 1 <= size <= maximum:
            return self._fail(code, f"page_size must be between 1 and {maximum}")
        return size

    def _keyset_page(
        self,
        request: Request,
        rows: list[dict[str, Any]],
        key: Callable[[Any], tuple[Any, Any]],
        size: int,
        *,
        descending: bool,
        code: int = CS_INVALID_PARAM,
    ) -> tuple[list[dict[str, Any]], str] | Reply:
        """Rows (sorted by ``key``) after the request's ``page_token``, and the token of the
        page after them ("" on the last)."""
        start = 0
        if request.query.get("page_token"):
            try:
                after = tuple(self._decode_key(request.query["page_token"]))
            except (ValueError, TypeError):
                return self._fail(code, "invalid page_token")
            start = next(
                (i for i, r in enumerate(rows) if (key(r) < after if descending else key(r) > after)),
                len(rows),
            )
        chunk, following = self.page(rows, start, size)
        return chunk, self._encode_key(key(rows[following - 1])) if following is not None else ""

    def _conversation_of(self, request: Request) -> tuple[Shop, dict[str, Any]] | Reply:
        shop = self._check(request)
        if isinstance(shop, Reply):
            return shop
        (conversation_id,) = request.args
        conversation = shop.conversations.get(conversation_id)
        if conversation is None:
            return self._fail(NOT_FOUND, f"conversation {conversation_id} not found")
        return shop, conversation

    async def _list_conversations(self, request: Request) -> Reply:
        shop = self._check(request)
        if isinstance(shop, Reply):
            return shop
        size = self._page_size(request, CONVERSATION_PAGE_MAX)
        if isinstance(size, Reply):
            return size
        rows = sorted(shop.conversations.values(), key=self._activity, reverse=True)
        found = self._keyset_page(request, rows, self._activity, size, descending=True)
        if isinstance(found, Reply):
            return found
        chunk, token = found
        return self._ok({"conversations": [self._public(c) for c in chunk], "next_page_token": token})

    async def _conversation_messages(self, request: Request) -> Reply:
        found = self._conversation_of(request)
        if isinstance(found, Reply):
            return found
        _, conversation = found
        size = self._page_size(request, MESSAGE_PAGE_MAX)
        if isinstance(size, Reply):
            return size
        sort_field = request.query.get("sort_field", "create_time")
        sort_order = request.query.get("sort_order", "DESC")
        if sort_field not in ("create_time", "index") or sort_order not in ("ASC", "DESC"):
            return self._fail(CS_INVALID_PARAM, "sort_field or sort_order is invalid")

        def key(m: dict[str, Any]) -> tuple[int, int]:
            return (int(m["create_time"]) if sort_field == "create_time" else 0), int(m["index"])

        descending = sort_order == "DESC"
        rows = sorted(conversation["_messages"], key=key, reverse=descending)
        page = self._keyset_page(request, rows, key, size, descending=descending)
        if isinstance(page, Reply):
            return page
        chunk, token = page
        return self._ok({"messages": [dict(m) for m in chunk], "next_page_token": token})

    async def _send_message(self, request: Request) -> Reply:
        found = self._conversation_of(request)
        if isinstance(found, Reply):
            return found
        _, conversation = found
        body = request.json() if request.body else {}
        if body.get("type") != "TEXT":
            return self._fail(CS_INVALID_PARAM, "type must be TEXT (the emulator sends no other type)")
        raw = body.get("content")
        try:
            content = json.loads(raw) if isinstance(raw, str) else None
        except ValueError:
            content = None
        if not isinstance(content, dict):
            return self._fail(CS_INVALID_PARAM, "content must be a JSON-serialized string")
        text = content.get("content")
        if not isinstance(text, str) or not text.strip():
            return self._fail(CS_INVALID_PARAM, "a TEXT message needs content.content")
        if len(text) > TEXT_MAX:
            return self._fail(CS_INVALID_PARAM, f"a TEXT message takes at most {TEXT_MAX} characters")
        if not conversation["can_send_message"]:
            return self._fail(CS_CANNOT_SEND, "Unable to send messages due to conversation rules.")
        message = self.post_message(conversation, "SHOP", "TEXT", {"content": text})
        conversation["unread_count"] = 0
        return self._ok({"message_id": message["id"]})

    def texts_from_seller(self, shop: Shop, buyer: str) -> list[str]:
        conversation = next((c for c in shop.conversations.values() if c["_buyer"] == buyer), None)
        return [
            str(json.loads(m["content"])["content"])
            for m in (conversation or {"_messages": []})["_messages"]
            if m["type"] == "TEXT" and m["sender"]["role"] in ("SHOP", "CUSTOMER_SERVICE")
        ]


class TikTokShopSellerEmulator(TikTokShopEmulator):
    """The emulator as the conformance suite and ``crossdock emulate`` drive it: a seller
    account is a shop; products are SKUs of one product per shop, or each SKU a product of
    its own with ``product_per_sku`` (TikTok reports ads and visits per product, so SKUs
    whose figures are told apart must be products of their own; the default under
    ``crossdock serve --demo``)."""

    default_site = "US"
    _demo_rng = random.Random(15)

    def __init__(self, faults: Faults | None = None, *, product_per_sku: bool | None = None, **kwargs: Any):
        super().__init__(faults, **kwargs)
        demo = os.environ.get("CROSSDOCK_DEMO") == "1"
        self.product_per_sku = demo if product_per_sku is None else product_per_sku

    def open_account(self, site: str) -> dict[str, Any]:
        return self.add_shop(site)

    def add_product(self, account: Mapping[str, Any], sku: str, stock: int = 0) -> str:
        """A SKU of the shop's product (or of a new product, ``product_per_sku``), assigned
        to both its sales warehouses (a multi-warehouse shop), its stock in the default one."""
        shop = self.shop_of(account)
        product_id = None if self.product_per_sku else next(iter(shop.products), None)
        return self.add_sku(shop, sku, stock, product_id, warehouses=shop.warehouses)

    def add_order(  # type: ignore[override]
        self,
        account: Mapping[str, Any],
        external_id: str,
        lines: Sequence[tuple[str, int, str]],
        **kwargs: Any,
    ) -> dict[str, Any]:
        shop = self.shop_of(account)
        order = self.create_order(shop, external_id, lines, **kwargs)
        # ``crossdock serve --demo`` places the live orders: now and then one of the shop's
        # earlier buyers asks to cancel, return or be refunded, and waiting cases move on,
        # so the demo's after-sales list fills and changes on its own
        if os.environ.get("CROSSDOCK_DEMO") == "1":
            if self._demo_rng.random() < 0.15:
                self.aftersales.demo_activity(shop, self._demo_rng)
            self._demo_visits(account, lines)
        return order

    def _demo_visits(self, account: Mapping[str, Any], lines: Sequence[tuple[str, int, str]]) -> None:
        """A demo buyer came through an ad and looked around first: today's figures grow."""
        today = datetime.fromtimestamp(self.clock(), UTC).date()
        rng = self._demo_rng
        for sku, quantity, price in lines:
            if self.find_sku(self.shop_of(account), sku) is None:
                continue
            clicks = rng.randint(2, 6)
            amount = Decimal(str(price)) * int(quantity)
            self.add_ad_activity(
                account,
                day=today,
                sku=sku,
                impressions=clicks * rng.randint(20, 40),
                clicks=clicks,
                spend=str((amount * Decimal("0.15")).quantize(Decimal("0.01"))),
                orders=1,
                sales=str(amount),
            )
            self.add_traffic(account, day=today, sku=sku, sessions=clicks + 1, page_views=clicks + 3)

    def generate_orders(self, account: Mapping[str, Any], count: int, seed: int) -> list[str]:
        made = self.generate(self.shop_of(account), count, seed=seed)
        if os.environ.get("CROSSDOCK_DEMO") == "1":
            # the demo's shop has advertised its products and had visitors for a month
            self.ads.demo_seed(self.shop_of(account), random.Random(seed))
        return made

    # ------------------------------------------------------------------ ads and traffic

    def add_ad_activity(
        self,
        account: Mapping[str, Any],
        *,
        day: date,
        sku: str,
        impressions: int,
        clicks: int,
        spend: str,
        orders: int,
        sales: str,
        keyword: str | None = None,
    ) -> str:
        return self.ads.add_ad_activity(
            account,
            day=day,
            sku=sku,
            impressions=impressions,
            clicks=clicks,
            spend=spend,
            orders=orders,
            sales=sales,
            keyword=keyword,
        )

    def revise_ad_activity(
        self, account: Mapping[str, Any], *, day: date, sku: str, orders: int, sales: str
    ) -> None:
        self.ads.revise_ad_activity(account, day=day, sku=sku, orders=orders, sales=sales)

    def add_traffic(
        self, account: Mapping[str, Any], *, day: date, sku: str, sessions: int, page_views: int
    ) -> None:
        self.ads.add_traffic(account, day=day, sku=sku, sessions=sessions, page_views=page_views)

    def cancel_order(self, account: Mapping[str, Any], external_id: str) -> None:
        order = self.orders[external_id]
        order["status"] = "CANCELLED"
        order["cancel_reason"] = "Buyer changed mind"
        order["cancellation_initiator"] = "BUYER"
        self._settle_packages(order, self.shop_of(account))
        self.touch(order)

    def tracking_number(self, account: Mapping[str, Any], external_id: str) -> str | None:
        order = self.orders[external_id]
        first = order["packages"][0]["id"] if order["packages"] else None
        return next(
            (
                u["tracking_number"]
                for u in order["line_items"]
                if u["package_id"] == first and u["tracking_number"]
            ),
            None,
        )

    def stock(self, account: Mapping[str, Any], sku: str) -> int:
        found = self.find_sku(self.shop_of(account), sku)
        if found is None:
            raise KeyError(sku)
        return sum(found[2]["stock"].values())

    def price(self, account: Mapping[str, Any], sku: str) -> str | None:
        found = self.find_sku(self.shop_of(account), sku)
        if found is None or found[2]["price"] is None:
            return None
        return f"{Decimal(found[2]['price']):.2f}"

    def buyer_writes(
        self, account: Mapping[str, Any], buyer: str, text: str, order_external_id: str | None = None
    ) -> None:
        self.buyer_message(self.shop_of(account), buyer, text, order_external_id)

    def messages_to(self, account: Mapping[str, Any], buyer: str) -> list[str]:
        return self.texts_from_seller(self.shop_of(account), buyer)

    def signed_push(
        self, account: Mapping[str, Any], external_id: str, url: str
    ) -> tuple[dict[str, str], bytes]:
        """The order status push TikTok would POST now (its address is not signed)."""
        return self.notification(external_id)

    # ------------------------------------------------------------------ listing content

    def sample_category(self, site: str) -> str:
        """A leaf category of every market (Home Supplies > Kitchenware > Water Bottles)."""
        return SAMPLE_CATEGORY

    def live_listing(self, account: Mapping[str, Any], sku: str) -> Mapping[str, Any] | None:
        return self.listings.live_listing(self.shop_of(account), sku)

    def add_competitor_offer(self, account: Mapping[str, Any], sku: str, *, seller: str, price: str) -> None:
        raise NotImplementedError("TikTok Shop's Partner API shows a seller no other sellers' offers")

    # ------------------------------------------------------------------ carrier side (TikTok Shipping)

    def name_order(self, reference: str, order_id: str) -> None:
        """Labels bought for ``order_id`` count for ``reference`` (see :meth:`labels_bought`)."""
        self.logistics.references[reference] = order_id

    def labels_bought(self, reference: str) -> int:
        return self.logistics.labels_bought(reference)

    def scan(
        self,
        tracking_number: str,
        status: TrackingStatus,
        reason: TrackingReason | None = None,
        at: datetime | None = None,
    ) -> None:
        self.logistics.scan(tracking_number, status, reason, at)
