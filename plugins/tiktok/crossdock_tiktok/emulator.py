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
* customer service: ``GET /customer_service/202309/conversations`` (most recent activity
  first, ``page_size`` up to 20), ``GET …/conversations/{id}/messages`` (``sort_field``
  create_time|index, ``sort_order`` DESC|ASC, ``page_size`` up to 10) and
  ``POST …/conversations/{id}/messages`` (TEXT only). One conversation per buyer; a buyer
  writing about an order first posts a BUYER_ENTER_FROM_ORDER event naming it.

Error codes from ../shared/marketplaces.md: 36009002 throttled (HTTP 429), 105002 expired
access token, 106001 bad sign, 36009004 bad credentials or timestamp, 106013 missing
shop_cipher. The other codes below (not found, invalid status, invalid parameters, a bad
refresh token) are UNCONFIRMED stand-ins: TikTok publishes per-API code tables this
emulator does not reproduce.
"""

from __future__ import annotations

import base64
import json
import random
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from itertools import count
from typing import Any

from crossdock.providers import TrackingReason, TrackingStatus
from crossdock.testing.emulator import Emulator, Faults, Reply, Request, credentials_guard
from crossdock_tiktok.logistics_emulator import DOC_PATH, TikTokLogistics
from crossdock_tiktok.signing import push_signature, sign

__all__ = ["REGIONS", "TikTokShopEmulator", "TikTokShopSellerEmulator"]

SKEW = 300  # timestamps within 5 minutes
CONVERSATIONS = "/customer_service/202309/conversations"
CONVERSATION_PAGE_MAX = 20
MESSAGE_PAGE_MAX = 10
TEXT_MAX = 2000
ACCESS_TTL = 7 * 86400
REFRESH_TTL = 365 * 86400

# documented codes
OK = 0
THROTTLED = 36009002
EXPIRED_TOKEN = 105002
BAD_SIGN = 106001
BAD_CREDENTIALS = 36009004
MISSING_SHOP_CIPHER = 106013
# UNCONFIRMED stand-ins
INVALID_TOKEN = 105001
INVALID_REFRESH_TOKEN = 105003
INVALID_PARAM = 36009001
SERVER_ERROR = 36009003
NOT_FOUND = 36009005
PACKAGE_STATUS = 21011006
ALREADY_SHIPPED = 21011017
INVALID_PROVIDER = 21011020
PRODUCT_NOT_FOUND = 12052048
SKU_NOT_FOUND = 12052049


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
    delivery_option_id: str
    warehouses: list[str]
    #: product id -> sku id -> {"sku": seller_sku, "stock": {warehouse: qty}, "price": str | None}
    products: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
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
            refused=lambda: self._fail(INVALID_TOKEN, "invalid access token"),
            expired=lambda: self._fail(EXPIRED_TOKEN, "access token is expired"),
        )
        self.shops: dict[str, Shop] = {}  # shop_id -> shop
        self.orders: dict[str, dict[str, Any]] = {}  # order id -> order (with private _keys)
        self.auth_codes: dict[str, str] = {}  # auth code -> shop_id
        self.retired: dict[str, str] = {}  # replaced access token -> shop_id (answers "expired")
        self.providers: dict[str, dict[str, str]] = {}  # delivery option -> provider id -> name
        self._ids = count(1)
        self.logistics = logistics = TikTokLogistics(self)
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
            ("POST", r"/product/202309/products/([^/]+)/prices/update", self._prices_update),
            ("GET", CONVERSATIONS + r"/([^/]+)/messages", self._conversation_messages),
            ("POST", CONVERSATIONS + r"/([^/]+)/messages", self._send_message),
        ):
            self.route_pattern(method, pattern, handler)

    # ------------------------------------------------------------------ envelope

    def error_body(self, status: int, code: str, message: str) -> Any:
        numeric = {
            "throttled": THROTTLED,
            "server_error": SERVER_ERROR,
            "timeout": SERVER_ERROR,
            "not_found": NOT_FOUND,
            "bad_request": INVALID_PARAM,
        }.get(code, SERVER_ERROR)
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
            im_user_id=self._next_id(7301),
        )
        self.shops[shop_id] = shop
        names = (*REGIONS[region].carriers, *self.extra_carriers)
        self.providers[option] = {self._next_id(6617): name for name in names}
        code = secrets.token_urlsafe(16)
        self.auth_codes[code] = shop_id
        return {
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

    def add_sku(self, shop: Shop, sku: str, stock: int = 0, product_id: str | None = None) -> str:
        """A SKU of ``product_id`` (a new product when None); returns ``product_id:sku_id``."""
        product_id = product_id or self._next_id(1729)
        sku_id = self._next_id(1730)
        shop.products.setdefault(product_id, {})[sku_id] = {
            "sku": sku,
            "stock": {shop.warehouses[0]: stock},
            "price": None,
        }
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
    ) -> dict[str, Any]:
        """An order of ``(seller_sku, quantity, unit price)`` lines: one line item per unit,
        split into ``packages`` packages (by line), statuses consistent with ``status``."""
        if status not in STATUSES:
            raise ValueError(f"not a TikTok order status: {status}")
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
            "shipping_type": "TIKTOK" if fulfilled_by_tiktok else "SELLER",
            "delivery_option_id": shop.delivery_option_id,
            "delivery_option_name": "Standard shipping",
            "warehouse_id": shop.warehouses[0],
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
            "_shop_id": shop.shop_id,
        }
        self._settle_packages(order, shop)
        self.orders[order_id] = order
        return order

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
        providers = self.providers[shop.delivery_option_id]
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
        to three SKUs (one to three units each), update times over the last three days."""
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
            order_id = self._next_id(5780)
            self.create_order(
                shop,
                order_id,
                lines,
                status=status,
                update_time=int(now - rng.randint(60, 3 * 86400)),
                fulfilled_by_tiktok=fbt,
                packages=2 if status == "PARTIALLY_SHIPPING" else 1,
                buyer=f"Buyer {rng.randint(1, 10**6)}",
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

    def _check(self, request: Request, *, shop_level: bool = True) -> Shop | Reply:
        """Signature, timestamp, access token and (for shop resources) shop_cipher."""
        q = request.query
        if q.get("app_key") != self.app_key:
            return self._fail(BAD_CREDENTIALS, "invalid app_key")
        try:
            ts = int(q["timestamp"])
        except (KeyError, ValueError):
            return self._fail(BAD_CREDENTIALS, "timestamp is required")
        if abs(self.clock() - ts) > SKEW:
            return self._fail(BAD_CREDENTIALS, "timestamp is out of range")
        multipart = request.headers.get("content-type", "").startswith("multipart/")
        if q.get("sign", "") != sign(self.app_secret, request.path, q, request.body, multipart=multipart):
            return self._fail(BAD_SIGN, "invalid sign")
        token = request.headers.get("x-tts-access-token", "")
        found = next((s for s in self.shops.values() if s.access_token == token), None)
        checked = self.auth_guard.check(
            token, found, expires_at=found.access_expires if found else None, retired=token in self.retired
        )
        if isinstance(checked, Reply):
            return checked
        shop: Shop = checked
        if shop_level:
            cipher = q.get("shop_cipher", "")
            if not cipher or cipher != shop.cipher:
                return self._fail(MISSING_SHOP_CIPHER, "shop_cipher is missing or does not match the shop")
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
        rows = [o for o in self.orders.values() if o["_shop_id"] == shop.shop_id]
        for name in ("create_time", "update_time"):
            if f"{name}_ge" in filters:
                rows = [o for o in rows if o[name] >= int(filters[f"{name}_ge"])]
            if f"{name}_lt" in filters:
                rows = [o for o in rows if o[name] < int(filters[f"{name}_lt"])]
        if filters.get("order_status"):
            rows = [o for o in rows if o["status"] == filters["order_status"]]
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

    async def _orders_detail(self, request: Request) -> Reply:
        shop = self._check(request)
        if isinstance(shop, Reply):
            return shop
        ids = [i for i in request.query.get("ids", "").split(",") if i]
        if not 1 <= len(ids) <= 50:
            return self._fail(INVALID_PARAM, "ids takes 1 to 50 order ids")
        found = [
            self._public(self.orders[i])
            for i in ids
            if i in self.orders and self.orders[i]["_shop_id"] == shop.shop_id
        ]
        return self._ok({"orders": found})

    # ------------------------------------------------------------------ fulfilment

    async def _ship_package(self, request: Request) -> Reply:
        shop = self._check(request)
        if isinstance(shop, Reply):
            return shop
        (package_id,) = request.args
        order = next(
            (
                o
                for o in self.orders.values()
                if o["_shop_id"] == shop.shop_id and any(p["id"] == package_id for p in o["packages"])
            ),
            None,
        )
        if order is None:
            return self._fail(NOT_FOUND, f"package {package_id} not found")
        units = [u for u in order["line_items"] if u["package_id"] == package_id]
        if units[0]["package_status"] != "TO_FULFILL":
            return self._fail(ALREADY_SHIPPED, f"package {package_id} is {units[0]['package_status']}")
        if order["fulfillment_type"] == "FULFILLMENT_BY_TIKTOK" or order["status"] not in SHIPPABLE:
            return self._fail(PACKAGE_STATUS, f"order is {order['status']}: the package cannot ship")
        body = request.json() if request.body else {}
        self_shipment = body.get("self_shipment")
        providers = self.providers[order["delivery_option_id"]]
        if self_shipment:
            tracking = str(self_shipment.get("tracking_number") or "")
            provider_id = str(self_shipment.get("shipping_provider_id") or "")
            if not tracking:
                return self._fail(INVALID_PARAM, "self_shipment.tracking_number is required")
            if provider_id not in providers:
                return self._fail(
                    INVALID_PROVIDER, "shipping_provider_id is not offered for this delivery option"
                )
        else:
            handover = body.get("handover_method", "PICKUP")
            if handover not in ("PICKUP", "DROP_OFF"):
                return self._fail(INVALID_PARAM, "handover_method must be PICKUP or DROP_OFF")
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
            return self._fail(NOT_FOUND, f"delivery option {option} not found")
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
        sales, returns = shop.warehouses
        return self._ok(
            {
                "warehouses": [
                    {
                        "id": returns,
                        "name": "Returns",
                        "effect_status": "ENABLED",
                        "type": "RETURN_WAREHOUSE",
                        "sub_type": "DOMESTIC_WAREHOUSE",
                        "is_default": True,
                        "address": {"region_code": shop.region},
                    },
                    {
                        "id": sales,
                        "name": "Main warehouse",
                        "effect_status": "ENABLED",
                        "type": "SALES_WAREHOUSE",
                        "sub_type": "DOMESTIC_WAREHOUSE",
                        "is_default": True,
                        "address": {"region_code": shop.region},
                    },
                ]
            }
        )

    # ------------------------------------------------------------------ products

    def _product(
        self, request: Request, *, per_sku_errors: bool = False
    ) -> tuple[Shop, dict[str, dict[str, Any]], list[dict[str, Any]]] | Reply:
        """The shop, the product's SKUs and the request's ``skus`` entries. Unknown SKUs
        fail the request, or are left for the caller to report one by one."""
        shop = self._check(request)
        if isinstance(shop, Reply):
            return shop
        (product_id,) = request.args
        skus = shop.products.get(product_id)
        if skus is None:
            return self._fail(PRODUCT_NOT_FOUND, f"product {product_id} not found")
        entries = request.json().get("skus") or []
        if not entries:
            return self._fail(INVALID_PARAM, "skus is required")
        unknown = [str(e.get("id")) for e in entries if str(e.get("id")) not in skus]
        if unknown and not per_sku_errors:
            return self._fail(SKU_NOT_FOUND, f"sku {', '.join(unknown)} not found in product {product_id}")
        return shop, skus, entries

    async def _inventory_update(self, request: Request) -> Reply:
        """Answers ``data.errors`` for SKUs it could not update (code, message,
        ``detail.sku_id``) and updates the others."""
        found = self._product(request, per_sku_errors=True)
        if isinstance(found, Reply):
            return found
        shop, skus, entries = found
        sales = shop.warehouses[0]
        changes = []
        errors = []
        for entry in entries:
            if str(entry.get("id")) not in skus:
                errors.append(
                    {
                        "code": SKU_NOT_FOUND,
                        "message": f"sku {entry.get('id')} not found in this product",
                        "detail": {"sku_id": str(entry.get("id"))},
                    }
                )
                continue
            levels = entry.get("inventory") or []
            if not levels:
                return self._fail(INVALID_PARAM, "inventory is required")
            for level in levels:
                warehouse = str(level.get("warehouse_id") or sales)
                quantity = level.get("quantity")
                if warehouse != sales:
                    return self._fail(INVALID_PARAM, f"warehouse {warehouse} is not a sales warehouse")
                if not isinstance(quantity, int) or not 0 <= quantity <= 99_999:
                    return self._fail(INVALID_PARAM, "quantity must be an integer from 0 to 99999")
                changes.append((str(entry["id"]), warehouse, quantity))
        for sku_id, warehouse, quantity in changes:
            skus[sku_id]["stock"][warehouse] = quantity
        return self._ok({"errors": errors} if errors else {})

    async def _prices_update(self, request: Request) -> Reply:
        found = self._product(request)
        if isinstance(found, Reply):
            return found
        shop, skus, entries = found
        changes = []
        for entry in entries:
            price = entry.get("price") or {}
            if price.get("currency") != shop.spec.currency:
                return self._fail(INVALID_PARAM, f"currency must be {shop.spec.currency}")
            try:
                amount = Decimal(str(price.get("amount")))
            except InvalidOperation:
                return self._fail(INVALID_PARAM, "price.amount must be a decimal string")
            if not isinstance(price.get("amount"), str) or not amount.is_finite() or amount <= 0:
                return self._fail(INVALID_PARAM, "price.amount must be a positive decimal string")
            if -amount.as_tuple().exponent > shop.spec.exponent:  # type: ignore[operator]
                return self._fail(INVALID_PARAM, f"{shop.spec.currency} takes {shop.spec.exponent} decimals")
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

    def _page_size(self, request: Request, maximum: int) -> int | Reply:
        try:
            size = int(request.query["page_size"])
        except (KeyError, ValueError):
            return self._fail(INVALID_PARAM, "page_size is required")
        if not 1 <= size <= maximum:
            return self._fail(INVALID_PARAM, f"page_size must be between 1 and {maximum}")
        return size

    def _keyset_page(
        self,
        request: Request,
        rows: list[dict[str, Any]],
        key: Callable[[Any], tuple[Any, Any]],
        size: int,
        *,
        descending: bool,
    ) -> tuple[list[dict[str, Any]], str] | Reply:
        """Rows (sorted by ``key``) after the request's ``page_token``, and the token of the
        page after them ("" on the last)."""
        start = 0
        if request.query.get("page_token"):
            try:
                after = tuple(self._decode_key(request.query["page_token"]))
            except (ValueError, TypeError):
                return self._fail(INVALID_PARAM, "invalid page_token")
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
            return self._fail(INVALID_PARAM, "sort_field or sort_order is invalid")

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
            return self._fail(INVALID_PARAM, "type must be TEXT (the emulator sends no other type)")
        raw = body.get("content")
        try:
            content = json.loads(raw) if isinstance(raw, str) else None
        except ValueError:
            content = None
        if not isinstance(content, dict):
            return self._fail(INVALID_PARAM, "content must be a JSON-serialized string")
        text = content.get("content")
        if not isinstance(text, str) or not text.strip():
            return self._fail(INVALID_PARAM, "a TEXT message needs content.content")
        if len(text) > TEXT_MAX:
            return self._fail(INVALID_PARAM, f"a TEXT message takes at most {TEXT_MAX} characters")
        if not conversation["can_send_message"]:
            return self._fail(INVALID_PARAM, "messages cannot be sent in this conversation")
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
    account is a shop; products are SKUs of one product per shop."""

    default_site = "US"

    def open_account(self, site: str) -> dict[str, Any]:
        return self.add_shop(site)

    def add_product(self, account: Mapping[str, Any], sku: str, stock: int = 0) -> str:
        shop = self.shop_of(account)
        product_id = next(iter(shop.products), None)
        return self.add_sku(shop, sku, stock, product_id)

    def add_order(  # type: ignore[override]
        self,
        account: Mapping[str, Any],
        external_id: str,
        lines: Sequence[tuple[str, int, str]],
        **kwargs: Any,
    ) -> dict[str, Any]:
        return self.create_order(self.shop_of(account), external_id, lines, **kwargs)

    def generate_orders(self, account: Mapping[str, Any], count: int, seed: int) -> list[str]:
        return self.generate(self.shop_of(account), count, seed=seed)

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
