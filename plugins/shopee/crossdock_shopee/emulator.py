"""A local Shopee Open Platform v2: the endpoints Crossdock uses, signed and enveloped the
way Shopee signs and envelopes them, with generated shops and orders and injected faults.

Served paths: ``/api/v2/auth/token/get``, ``/api/v2/auth/access_token/get``,
``/api/v2/shop/get_shop_info``, ``/api/v2/order/get_order_list``,
``/api/v2/order/get_order_detail``, ``/api/v2/logistics/ship_order``,
``/api/v2/logistics/get_tracking_number``, ``/api/v2/logistics/get_shipping_parameter``,
``/api/v2/logistics/create_shipping_document``, ``/api/v2/logistics/get_shipping_document_result``,
``/api/v2/logistics/download_shipping_document``, ``/api/v2/logistics/get_tracking_info``,
``/api/v2/product/update_stock``,
``/api/v2/product/update_price``, ``/api/v2/product/get_model_list``,
``/api/v2/sellerchat/get_conversation_list``, ``/api/v2/sellerchat/get_message``,
``/api/v2/sellerchat/send_message``.
"""

from __future__ import annotations

import bisect
import json
import random
import secrets
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crossdock.providers import TrackingReason, TrackingStatus
from crossdock.testing.carriers import ParcelBook, pdf_document
from crossdock.testing.emulator import Emulator, Faults, Reply, Request, credentials_guard
from crossdock_shopee.signing import base_string, push_signature, sign

__all__ = ["ShopeeEmulator", "ShopeeSellerEmulator"]

MAX_WINDOW = 15 * 24 * 3600  # get_order_list time_from..time_to
SKEW = 300  # timestamps within 5 minutes
ACCESS_TTL = 4 * 3600
CHAT_PAGE_MAX = 60  # sellerchat page_size

SITE_CURRENCY = {
    "SG": "SGD",
    "MY": "MYR",
    "TH": "THB",
    "PH": "PHP",
    "VN": "VND",
    "ID": "IDR",
    "TW": "TWD",
    "BR": "BRL",
}
POSTCODES = {
    "SG": "048616",
    "MY": "50450",
    "TH": "10110",
    "PH": "1226",
    "VN": "700000",
    "ID": "10310",
    "TW": "100",
    "BR": "01310-100",
}

#: Logistics channels a shop ships orders on: integrated ones (Shopee books the 3PL and
#: assigns the tracking number) with the ship modes they offer and what each mode needs
#: (get_shipping_parameter's info_needed), and a non-integrated one (the seller's carrier).
CHANNELS: dict[int, dict[str, Any]] = {
    18025: {
        "name": "Standard Delivery (SPX Express)",
        "integrated": True,
        "modes": {"pickup": ["address_id", "pickup_time_id"], "dropoff": ["branch_id"]},
    },
    18028: {"name": "Ninja Van", "integrated": True, "modes": {"pickup": ["address_id", "pickup_time_id"]}},
    18036: {
        "name": "SPX Drop-off Point",
        "integrated": True,
        "modes": {"dropoff": ["branch_id", "sender_real_name"]},
    },
    18099: {
        "name": "Others (Seller Own Fleet)",
        "integrated": False,
        "modes": {"non_integrated": ["tracking_no"]},
    },
}
INTEGRATED, PICKUP_ONLY, DROPOFF_ONLY, NON_INTEGRATED = 18025, 18028, 18036, 18099
DOCUMENT_TYPES = frozenset(
    {
        "NORMAL_AIR_WAYBILL",
        "THERMAL_AIR_WAYBILL",
        "NORMAL_JOB_AIR_WAYBILL",
        "THERMAL_JOB_AIR_WAYBILL",
        "THERMAL_UNPACKAGED_LABEL",
    }
)
#: a scan -> (tracking_info logistics_status, the 3PL's text, the package's new status)
SCAN_CODES: dict[TrackingStatus, tuple[str, str, str | None]] = {
    TrackingStatus.PENDING: ("ORDER_CREATED", "Shipment arranged, awaiting pickup", None),
    TrackingStatus.PICKED_UP: (
        "PICKED_UP",
        "Parcel has been picked up by the courier",
        "LOGISTICS_PICKUP_DONE",
    ),
    TrackingStatus.IN_TRANSIT: ("UPDATE", "Parcel has departed from the sorting centre", None),
    TrackingStatus.ON_HOLD: ("UPDATE", "Parcel is on hold", None),
    TrackingStatus.DELIVERY_DELAYED: ("UPDATE", "Delivery is delayed", None),
    TrackingStatus.OUT_FOR_DELIVERY: ("DELIVERY_PENDING", "Parcel is out for delivery", None),
    TrackingStatus.READY_FOR_PICKUP: (
        "DELIVERY_PENDING",
        "Parcel is ready for collection at the pickup point",
        None,
    ),
    TrackingStatus.DELIVERY_FAILED: (
        "FAILED_DELIVERED",
        "Delivery attempt failed",
        "LOGISTICS_DELIVERY_FAILED",
    ),
    TrackingStatus.DELIVERED: ("DELIVERED", "Parcel has been delivered", "LOGISTICS_DELIVERY_DONE"),
    TrackingStatus.RETURN_TO_SENDER: ("RETURN_STARTED", "Parcel is being returned to the seller", None),
    TrackingStatus.CANCELLED: ("CANCELED", "Shipment cancelled", "LOGISTICS_REQUEST_CANCELED"),
    TrackingStatus.UNKNOWN: ("UPDATE", "Parcel information updated", None),
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
ORDER_AFTER_SCAN = {
    TrackingStatus.PICKED_UP: "SHIPPED",
    TrackingStatus.DELIVERED: "TO_CONFIRM_RECEIVE",
    TrackingStatus.RETURN_TO_SENDER: "TO_RETURN",
}


@dataclass
class Shop:
    shop_id: int
    region: str
    access_token: str
    refresh_token: str
    access_expires: float
    models: dict[tuple[int, int], dict[str, Any]] = field(
        default_factory=dict
    )  # (item, model) -> {sku, stock}
    #: conversation id -> {conversation fields..., "messages": newest last}
    chats: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: the shop's addresses (v2.logistics.get_address_list) and its region's drop-off branches
    addresses: list[dict[str, Any]] = field(default_factory=list)
    branches: list[dict[str, Any]] = field(default_factory=list)


class ShopeeEmulator(Emulator):
    name = "shopee"
    fault_free = frozenset({"/api/v2/auth/token/get", "/api/v2/auth/access_token/get"})

    def __init__(
        self,
        faults: Faults | None = None,
        *,
        partner_id: int = 2001887,
        partner_key: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(faults)
        self.partner_id = partner_id
        self.partner_key = partner_key or secrets.token_hex(32)
        self.clock = clock
        # Shopee words every unusable access token the same way
        self.auth_guard = credentials_guard(
            lambda: self.clock(), refused=lambda: self._fail("error_auth", "Invalid access_token.", 403)
        )
        self.shops: dict[int, Shop] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        #: (shop, time field) -> (orders version, that shop's orders sorted by the field): a
        #: listing page is a slice of it, not a sort of every order
        self._sorted: dict[tuple[int, str], tuple[int, list[dict[str, Any]], list[int]]] = {}
        self._version = 0  # moves on whenever an order is added or changed
        self.auth_codes: dict[str, int] = {}
        self.old_access: dict[str, float] = {}  # replaced token -> end of its 5-minute grace
        #: labels sold on integrated channels (tracking numbers assigned by "the 3PL")
        self.book = ParcelBook("SPX")
        #: get_tracking_number answers empty this many times after ship_order (integrated)
        self.tracking_delay = 1
        #: get_shipping_document_result answers PROCESSING this many times after creation
        self.document_delay = 1
        self.ship_orders: list[dict[str, Any]] = []  # ship_order bodies accepted, in order
        #: every logistics call as received: (path, query, JSON body)
        self.calls: list[tuple[str, dict[str, str], Any]] = []
        self._package_ids = 0
        for method, path, handler in (
            ("POST", "/api/v2/auth/token/get", self._token_get),
            ("POST", "/api/v2/auth/access_token/get", self._token_refresh),
            ("GET", "/api/v2/shop/get_shop_info", self._shop_info),
            ("GET", "/api/v2/order/get_order_list", self._order_list),
            ("GET", "/api/v2/order/get_order_detail", self._order_detail),
            ("POST", "/api/v2/logistics/ship_order", self._ship_order),
            ("GET", "/api/v2/logistics/get_tracking_number", self._tracking_number),
            ("GET", "/api/v2/logistics/get_shipping_parameter", self._shipping_parameter),
            ("POST", "/api/v2/logistics/create_shipping_document", self._create_document),
            ("POST", "/api/v2/logistics/get_shipping_document_result", self._document_result),
            ("POST", "/api/v2/logistics/download_shipping_document", self._download_document),
            ("GET", "/api/v2/logistics/get_tracking_info", self._tracking_info),
            ("POST", "/api/v2/product/update_stock", self._update_stock),
            ("POST", "/api/v2/product/update_price", self._update_price),
            ("GET", "/api/v2/product/get_model_list", self._model_list),
            ("GET", "/api/v2/sellerchat/get_conversation_list", self._conversation_list),
            ("GET", "/api/v2/sellerchat/get_message", self._get_message),
            ("POST", "/api/v2/sellerchat/send_message", self._send_message),
        ):
            self.route(method, path, handler)

    # ------------------------------------------------------------------ envelope

    def error_body(self, status: int, code: str, message: str) -> Any:
        error = {
            "throttled": "error_server",
            "server_error": "error_server",
            "timeout": "error_server",
            "not_found": "error_not_found",
            "bad_request": "error_param",
        }.get(code, code)
        return {"request_id": secrets.token_hex(8), "error": error, "message": message, "response": {}}

    def _ok(self, response: dict[str, Any]) -> Reply:
        return Reply(
            200, {"request_id": secrets.token_hex(8), "error": "", "message": "", "response": response}
        )

    def _fail(self, error: str, message: str, status: int = 200) -> Reply:
        return Reply(status, {"request_id": secrets.token_hex(8), "error": error, "message": message})

    # ------------------------------------------------------------------ data

    def add_shop(self, region: str = "SG", shop_id: int | None = None) -> dict[str, Any]:
        """A shop authorized for the partner; returns the credentials a connection needs."""
        shop_id = shop_id or 10_000 + len(self.shops)
        shop = Shop(shop_id, region, secrets.token_hex(16), secrets.token_hex(16), self.clock() + ACCESS_TTL)
        postcode = POSTCODES.get(region, "10000")
        shop.addresses = [
            {
                "address_id": shop_id * 10 + 1,
                "region": region,
                "state": "",
                "city": "Singapore" if region == "SG" else "Capital",
                "district": "",
                "town": "",
                "address": "10 Anson Road, #20-01",
                "zipcode": postcode,
                "address_flag": ["default_address", "pickup_address", "return_address"],
            },
            {
                "address_id": shop_id * 10 + 2,
                "region": region,
                "state": "",
                "city": "Singapore" if region == "SG" else "Capital",
                "district": "",
                "town": "",
                "address": "2 Returns Lane",
                "zipcode": postcode,
                "address_flag": ["return_address"],
            },
        ]
        shop.branches = [
            {
                "branch_id": 7000 + i,
                "region": region,
                "state": "",
                "city": "Singapore" if region == "SG" else "Capital",
                "district": "",
                "town": "",
                "address": f"SPX Service Point {i}",
                "zipcode": postcode,
            }
            for i in (1, 2)
        ]
        self.shops[shop_id] = shop
        code = secrets.token_hex(8)
        self.auth_codes[code] = shop_id
        return {
            "partner_id": self.partner_id,
            "partner_key": self.partner_key,
            "shop_id": shop_id,
            "access_token": shop.access_token,
            "refresh_token": shop.refresh_token,
            "access_expires_at": int(shop.access_expires),
            "auth_code": code,
        }

    def add_model(self, shop_id: int, item_id: int, model_id: int, sku: str, stock: int = 0) -> None:
        self.shops[shop_id].models[(item_id, model_id)] = {"sku": sku, "stock": stock}

    def add_order(
        self,
        shop_id: int,
        order_sn: str,
        items: list[tuple[str, int, str]],
        *,
        status: str = "READY_TO_SHIP",
        update_time: int | None = None,
        fulfilled_by_shopee: bool = False,
        buyer: str = "buyer",
        logistics_channel_id: int = NON_INTEGRATED,
    ) -> dict[str, Any]:
        """An order of ``(model_sku, quantity, unit price)`` items, shipping on the logistics
        channel ``logistics_channel_id`` (see :data:`CHANNELS`), in one package."""
        shop = self.shops[shop_id]
        now = int(update_time or self.clock())
        by_sku = {m["sku"]: key for key, m in shop.models.items()}
        item_list: list[dict[str, Any]] = []
        for sku, qty, price in items:
            item_id, model_id = by_sku.get(sku, (900_000 + len(item_list), 0))
            item_list.append(
                {
                    "item_id": item_id,
                    "item_name": f"Item {sku}",
                    "item_sku": sku.split("-")[0],
                    "model_id": model_id,
                    "model_name": "",
                    "model_sku": sku,
                    "model_quantity_purchased": qty,
                    "model_original_price": float(price),
                    "model_discounted_price": float(price),
                }
            )
        total = sum(float(p) * q for _, q, p in items)
        order = {
            "order_sn": order_sn,
            "region": shop.region,
            "currency": SITE_CURRENCY[shop.region],
            "order_status": status,
            "create_time": now - 60,
            "update_time": now,
            "days_to_ship": 3,
            "ship_by_date": now + 3 * 86400,
            "buyer_user_id": abs(hash(buyer)) % 10**8,
            "buyer_username": buyer,
            "recipient_address": {
                "name": buyer.title(),
                "phone": "6591234567",
                "full_address": "1 Raffles Place",
                "city": "" if shop.region == "SG" else "Capital",
                "state": "",
                "region": shop.region,
                "zipcode": POSTCODES.get(shop.region, "10000"),
            },
            "item_list": item_list,
            "total_amount": round(total, 2),
            "pay_time": now - 30,
            "payment_method": "Credit Card",
            "fulfillment_flag": "fulfilled_by_shopee" if fulfilled_by_shopee else "fulfilled_by_cb_seller",
            "package_list": [],
            "shipping_carrier": CHANNELS[logistics_channel_id]["name"],
            "checkout_shipping_carrier": CHANNELS[logistics_channel_id]["name"],
            "_shop_id": shop_id,
            "_tracking": None,
            "_channel": logistics_channel_id,
            "_split": False,
        }
        order["_packages"] = [self._new_package(order, list(range(len(item_list))))]
        self._sync_packages(order)
        self.orders[order_sn] = order
        self._version += 1
        return order

    def update_order(self, order_sn: str, **changes: Any) -> None:
        order = self.orders[order_sn]
        order.update(changes)
        order["update_time"] = max(int(self.clock()), order["update_time"] + 1)
        self._version += 1

    def _by_time(self, shop_id: int, field_name: str) -> tuple[list[dict[str, Any]], list[int]]:
        """The shop's orders sorted by ``field_name`` (then order_sn), and their times."""
        cached = self._sorted.get((shop_id, field_name))
        if cached is None or cached[0] != self._version:
            rows = sorted(
                (o for o in self.orders.values() if o["_shop_id"] == shop_id),
                key=lambda o: (o[field_name], o["order_sn"]),
            )
            cached = (self._version, rows, [o[field_name] for o in rows])
            self._sorted[(shop_id, field_name)] = cached
        return cached[1], cached[2]

    def generate(
        self,
        shop_id: int,
        count: int,
        *,
        seed: int = 1,
        skus: list[str] | None = None,
        start: float | None = None,
    ) -> None:
        """A realistic mix: mostly paid orders, some unpaid, ~8% cancelled, ~10% fulfilled by
        Shopee, one to three lines each, update times spread over the last days."""
        rng = random.Random(seed)
        logistics = random.Random(seed + 7919)  # its own stream: the orders stay as they were
        shop = self.shops[shop_id]
        skus = skus or [m["sku"] for m in shop.models.values()] or ["SKU-1"]
        now = start or self.clock()
        for i in range(count):
            status = rng.choices(
                ["READY_TO_SHIP", "UNPAID", "CANCELLED", "SHIPPED", "COMPLETED"], [70, 8, 8, 8, 6]
            )[0]
            lines = [
                (
                    rng.choice(skus),
                    rng.randint(1, 3),
                    f"{rng.randint(5, 80)}.{rng.choice(['00', '50', '90'])}",
                )
                for _ in range(rng.randint(1, 3))
            ]
            merged: dict[str, tuple[str, int, str]] = {}
            for sku, qty, price in lines:
                merged[sku] = (sku, merged.get(sku, (sku, 0, price))[1] + qty, price)
            self.add_order(
                shop_id,
                f"{shop_id}{i:08d}",
                list(merged.values()),
                status=status,
                update_time=int(now - rng.randint(60, 3 * 86400)),
                fulfilled_by_shopee=rng.random() < 0.1,
                buyer=f"buyer{rng.randint(1, 10**6)}",
                # the drop-off point that asks for the sender's real name is left out: a
                # connection ships on it only once the seller set ``sender_real_name``
                logistics_channel_id=logistics.choices(
                    [INTEGRATED, PICKUP_ONLY, NON_INTEGRATED], [60, 20, 20]
                )[0],
            )
            order_sn = f"{shop_id}{i:08d}"
            items = len(self.orders[order_sn]["item_list"])
            if status == "READY_TO_SHIP" and items > 1 and logistics.random() < 0.15:
                self.split_order(order_sn, [[0], list(range(1, items))], touch=False)

    # ------------------------------------------------------------------ auth

    def _check_sign(self, request: Request, shop_level: bool) -> Shop | Reply | None:
        q = request.query
        if request.path.startswith("/api/v2/logistics/"):  # what the wire carried, for tests
            self.calls.append((request.path, dict(q), request.json() if request.body else None))
        try:
            partner_id, ts = int(q["partner_id"]), int(q["timestamp"])
        except (KeyError, ValueError):
            return self._fail("error_param", "partner_id and timestamp are required", 400)
        if partner_id != self.partner_id:
            return self._fail("error_auth", "invalid partner_id", 403)
        if abs(self.clock() - ts) > SKEW:
            return self._fail("error_sign", "timestamp expired", 403)
        token = q.get("access_token", "")
        shop_id = q.get("shop_id", "")
        expected = sign(self.partner_key, base_string(partner_id, request.path, ts, token, shop_id))
        if q.get("sign", "") != expected:
            return self._fail("error_sign", "wrong sign", 403)
        if not shop_level:
            return None
        shop = self.shops.get(int(shop_id or 0))
        if shop is None:
            return self._fail("error_param", "shop not found", 400)
        # the current token until it expires; a refreshed one for its grace period
        expires_at = shop.access_expires if token == shop.access_token else self.old_access.get(token)
        return self.auth_guard.check(token, shop if expires_at is not None else None, expires_at=expires_at)

    async def _token_get(self, request: Request) -> Reply:
        denied = self._check_sign(request, shop_level=False)
        if denied is not None:
            return denied  # type: ignore[return-value]
        body = request.json()
        shop_id = self.auth_codes.pop(body.get("code", ""), None)
        if shop_id is None or shop_id != int(body.get("shop_id", 0)):
            return self._fail("error_auth", "invalid code", 403)
        shop = self.shops[shop_id]
        return self._tokens(shop)

    async def _token_refresh(self, request: Request) -> Reply:
        denied = self._check_sign(request, shop_level=False)
        if denied is not None:
            return denied  # type: ignore[return-value]
        body = request.json()
        shop = self.shops.get(int(body.get("shop_id", 0)))
        if shop is None or body.get("refresh_token") != shop.refresh_token:
            return self._fail("error_auth", "invalid refresh_token", 403)
        self.old_access[shop.access_token] = self.clock() + SKEW  # the old token lives 5 more minutes
        shop.access_token = secrets.token_hex(16)
        shop.refresh_token = secrets.token_hex(16)  # single use: a new one every refresh
        shop.access_expires = self.clock() + ACCESS_TTL
        return self._tokens(shop)

    def _tokens(self, shop: Shop) -> Reply:
        # the token endpoints answer at top level, not inside "response"
        return Reply(
            200,
            {
                "request_id": secrets.token_hex(8),
                "error": "",
                "message": "",
                "access_token": shop.access_token,
                "refresh_token": shop.refresh_token,
                "expire_in": ACCESS_TTL,
                "shop_id": shop.shop_id,
            },
        )

    def expire_tokens(self) -> None:
        """Make every access token expire now (tests of refresh)."""
        for shop in self.shops.values():
            shop.access_expires = self.clock() - 1
        self.old_access.clear()

    # ------------------------------------------------------------------ shop and orders

    async def _shop_info(self, request: Request) -> Reply:
        shop = self._check_sign(request, shop_level=True)
        if isinstance(shop, Reply):
            return shop
        assert isinstance(shop, Shop)
        return Reply(
            200,
            {
                "request_id": secrets.token_hex(8),
                "error": "",
                "message": "",
                "shop_name": f"Shop {shop.shop_id}",
                "region": shop.region,
                "status": "NORMAL",
            },
        )

    async def _order_list(self, request: Request) -> Reply:
        shop = self._check_sign(request, shop_level=True)
        if isinstance(shop, Reply):
            return shop
        assert isinstance(shop, Shop)
        q = request.query
        if q.get("time_range_field") not in ("create_time", "update_time"):
            return self._fail("error_param", "time_range_field must be create_time or update_time")
        time_from, time_to = int(q["time_from"]), int(q["time_to"])
        if time_to < time_from or time_to - time_from > MAX_WINDOW:
            return self._fail("error_param", "the time range must be within 15 days")
        size = int(q.get("page_size", 20))
        if not 1 <= size <= 100:
            return self._fail("error_param", "page_size must be between 1 and 100")
        field_name = q["time_range_field"]
        ordered, times = self._by_time(shop.shop_id, field_name)
        rows = ordered[bisect.bisect_left(times, time_from) : bisect.bisect_right(times, time_to)]
        start = int(q.get("cursor") or 0)
        chunk, following = self.page(rows, start, size)
        return self._ok(
            {
                "more": following is not None,
                "next_cursor": str(following) if following is not None else "",
                "order_list": [{"order_sn": o["order_sn"], "order_status": o["order_status"]} for o in chunk],
            }
        )

    async def _order_detail(self, request: Request) -> Reply:
        shop = self._check_sign(request, shop_level=True)
        if isinstance(shop, Reply):
            return shop
        sns = [s for s in request.query.get("order_sn_list", "").split(",") if s]
        if not 1 <= len(sns) <= 50:
            return self._fail("error_param", "order_sn_list takes 1 to 50 order_sn")
        optional = set(request.query.get("response_optional_fields", "").split(","))
        always = {
            "order_sn",
            "region",
            "currency",
            "order_status",
            "create_time",
            "update_time",
            "days_to_ship",
            "ship_by_date",
        }
        found = []
        for sn in sns:
            order = self.orders.get(sn)
            if order is None or order["_shop_id"] != shop.shop_id:  # type: ignore[union-attr]
                continue
            found.append({k: v for k, v in order.items() if k in always or k in optional})
        return self._ok({"order_list": found})

    # ------------------------------------------------------------------ logistics
    #
    # Shopee's logistics module (Open Platform v2 API reference, as mirrored in
    # congminh1254/shopee-sdk schemas/v2.logistics.*.json): a package is shipped with
    # exactly one of pickup / dropoff / non_integrated, as get_shipping_parameter's
    # info_needed allows; integrated channels assign the tracking number (empty for a while
    # after ship_order); the air waybill is made by create_shipping_document, polled with
    # get_shipping_document_result and fetched with download_shipping_document.

    def _package(self, order: dict[str, Any], package_number: str | None, *, shipping: bool = False) -> Any:
        """The package a call names, or the refusal Shopee gives: a split order needs its
        package_number; ship_order refuses one for an unsplit order."""
        packages = order["_packages"]
        if order["_split"] and not package_number:
            if shipping:
                return self._fail(
                    "logistics.ship_order_need_pacakge_number",
                    "Please request with package_number for this split order.",
                )
            return self._fail(
                "logistics.package_number_not_exist",
                "Please request with package_number for this split order.",
            )
        if not order["_split"] and package_number and shipping:
            return self._fail(
                "logistics.ship_order_not_need_pacakge_number",
                "Please don't request with package_number for this unsplit order.",
            )
        if not package_number:
            return packages[0]
        found = next((p for p in packages if p["package_number"] == package_number), None)
        if found is None:
            return self._fail("logistics.package_not_exist", "The package is not exist.")
        return found

    def _shop_order(self, shop: Shop, order_sn: str) -> dict[str, Any] | None:
        order = self.orders.get(order_sn)
        return order if order is not None and order["_shop_id"] == shop.shop_id else None

    def _time_slots(self) -> list[dict[str, Any]]:
        """Pickup slots for the next three days (ids are stable for a day)."""
        today = int(self.clock()) // 86400 * 86400
        return [
            {
                "date": today + day * 86400,
                "time_text": text,
                "pickup_time_id": f"{today + day * 86400}{slot}",
                "flags": ["recommended"] if day == 1 and slot == 1 else [],
            }
            for day in (1, 2, 3)
            for slot, text in ((1, "09:00 - 12:00"), (2, "14:00 - 18:00"))
        ]

    async def _shipping_parameter(self, request: Request) -> Reply:
        shop = self._check_sign(request, shop_level=True)
        if isinstance(shop, Reply):
            return shop
        assert isinstance(shop, Shop)
        q = request.query
        if not q.get("order_sn"):
            return self._fail("error_param", "Wrong parameters, detail: order_sn is required.")
        order = self._shop_order(shop, q["order_sn"])
        if order is None:
            return self._fail(
                "error_not_found", f"Wrong parameters, detail: order {q['order_sn']} not found."
            )
        if order["order_status"] == "CANCELLED":
            return self._fail("error_status", "The order has been cancelled.")
        package = self._package(order, q.get("package_number"))
        if isinstance(package, Reply):
            return package
        if order["order_status"] != "READY_TO_SHIP" or package["logistics_status"] != "LOGISTICS_READY":
            return self._fail(
                "error_param", "Shipping parameters can only be obtained when package is ready to be shipped"
            )
        modes = CHANNELS[order["_channel"]]["modes"]
        response: dict[str, Any] = {"info_needed": {mode: list(fields) for mode, fields in modes.items()}}
        response["pickup"] = (
            {
                "address_list": [
                    {**a, "time_slot_list": self._time_slots()}
                    for a in shop.addresses
                    if "pickup_address" in a["address_flag"]
                ]
            }
            if "pickup" in modes
            else None
        )
        response["dropoff"] = (
            {"branch_list": list(shop.branches), "slug_list": []} if "dropoff" in modes else None
        )
        return self._ok(response)

    async def _ship_order(self, request: Request) -> Reply:
        shop = self._check_sign(request, shop_level=True)
        if isinstance(shop, Reply):
            return shop
        assert isinstance(shop, Shop)
        body = request.json()
        order = self._shop_order(shop, str(body.get("order_sn") or ""))
        if order is None:
            return self._fail("error_not_found", "Wrong parameters, detail: order not found.")
        chosen = [mode for mode in ("pickup", "dropoff", "non_integrated") if mode in body]
        if len(chosen) != 1:
            return self._fail(
                "logistics.ship_order_only_support_one_type",
                "Please select just one way to ship order: pickup or dropoff or non_integrated.",
            )
        package = self._package(order, body.get("package_number"), shipping=True)
        if isinstance(package, Reply):
            return package
        if package["logistics_status"] != "LOGISTICS_READY":
            return self._fail(
                "logistics.package_already_shipped",
                "This package has already been arranged shipment and you can't call this API again.",
            )
        if order["order_status"] != "READY_TO_SHIP":
            return self._fail("logistics.ship_order_not_ready_to_ship", "The order is not ready to ship.")
        mode = chosen[0]
        channel = CHANNELS[order["_channel"]]
        if mode not in channel["modes"]:
            return self._fail(
                f"logistics.ship_order_unsupport_{mode}", f"This order does not support ship with {mode}."
            )
        detail = body.get(mode) or {}
        if not isinstance(detail, dict):
            return self._fail("error_param", f"Wrong parameters, detail: {mode} must be an object.")
        needed = channel["modes"][mode]
        tracking = ""
        if mode == "pickup":
            address = next((a for a in shop.addresses if a["address_id"] == detail.get("address_id")), None)
            if "address_id" in needed and (not detail.get("address_id") or not detail.get("pickup_time_id")):
                return self._fail(
                    "logistics.ship_order_need_address_pickup_time",
                    "Parameter address_id and pickup_time_id are required.",
                )
            if address is None:
                return self._fail("logistics.address_not_found", "Address is not found.")
            if "pickup_address" not in address["address_flag"]:
                return self._fail(
                    "logistics.error_sender_address",
                    "Pickup address not valid. Please add/tag a new pickup_address in Seller Center "
                    "to continue",
                )
            if str(detail.get("pickup_time_id")) not in {s["pickup_time_id"] for s in self._time_slots()}:
                return self._fail(
                    "logistics.ship_order_pickup_time_invalid",
                    "Invalid pickup time id. Please check the pick up time id.",
                )
        elif mode == "dropoff":
            if "branch_id" in needed and not detail.get("branch_id"):
                return self._fail("logistics.ship_order_need_branch_id", "Parameter branch_id is required.")
            if "branch_id" in needed and detail["branch_id"] not in {b["branch_id"] for b in shop.branches}:
                return self._fail("error_param", "Wrong parameters, detail: branch_id is invalid.")
            if "sender_real_name" in needed and not str(detail.get("sender_real_name") or "").strip():
                return self._fail(
                    "logistics.ship_order_need_sender_real_name",
                    "Parameter sender_real_name can not be null.",
                )
            if len(str(detail.get("sender_real_name") or "")) > 64:
                return self._fail(
                    "logistics.ship_order_long_sender_real_name",
                    "Parameter sender_real_name can not be longer than 64.",
                )
        else:
            tracking = str(detail.get("tracking_number") or "")
            if len(tracking) > 64:
                return self._fail(
                    "logistics.ship_order_long_tracking_number",
                    "Parameter tracking_number can not be longer than 64.",
                )
        if channel["integrated"]:
            record = self.book.buy(order["order_sn"], mode)
            tracking = record.tracking_numbers[0]
            package["hidden_polls"] = self.tracking_delay
        package.update(logistics_status="LOGISTICS_REQUEST_CREATED", method=mode, tracking=tracking or None)
        package["shipped"] = {"mode": mode, **detail}
        package["events"] = []  # tracking_info stays empty until the 3PL's first scan
        self.ship_orders.append(body)
        order["_tracking"] = order["_packages"][0]["tracking"]
        self._sync_packages(order)
        if all(p["logistics_status"] != "LOGISTICS_READY" for p in order["_packages"]):
            self.update_order(order["order_sn"], order_status="PROCESSED")
        else:
            self.update_order(order["order_sn"])
        return self._ok({})

    async def _tracking_number(self, request: Request) -> Reply:
        shop = self._check_sign(request, shop_level=True)
        if isinstance(shop, Reply):
            return shop
        assert isinstance(shop, Shop)
        order = self._shop_order(shop, request.query.get("order_sn", ""))
        if order is None:
            return self._fail("logistics.invalid_error", "The order is not exist.")
        package = self._package(order, request.query.get("package_number"))
        if isinstance(package, Reply):
            return package
        if package.get("hidden_polls", 0) > 0:  # the 3PL has not assigned it yet: poll again
            package["hidden_polls"] -= 1
            return self._ok({"tracking_number": "", "hint": "tracking number is being generated"})
        return self._ok({"tracking_number": package["tracking"] or ""})

    def _document_orders(self, body: Mapping[str, Any]) -> list[dict[str, Any]] | Reply:
        entries = body.get("order_list")
        if not isinstance(entries, list) or not 1 <= len(entries) <= 50:
            return self._fail("error_param", "Wrong parameters, detail: order_list takes 1 to 50 orders.")
        if not all(isinstance(e, dict) and e.get("order_sn") for e in entries):
            return self._fail("error_param", "Wrong parameters, detail: order_sn is required.")
        return list(entries)

    def _document_type(self, value: Any) -> Reply | None:
        if value is not None and value not in DOCUMENT_TYPES:
            return self._fail(
                "logistics.shipping_document_type_invalid",
                "The shipping_document_type is not invalid. Please check the shipping_document_type.",
            )
        return None

    async def _create_document(self, request: Request) -> Reply:
        shop = self._check_sign(request, shop_level=True)
        if isinstance(shop, Reply):
            return shop
        assert isinstance(shop, Shop)
        body = request.json()
        entries = self._document_orders(body)
        if isinstance(entries, Reply):
            return entries
        results = []
        for entry in entries:
            refused = self._document_type(entry.get("shipping_document_type"))
            if refused is not None:
                return refused
            row: dict[str, Any] = {
                "order_sn": entry["order_sn"],
                "package_number": entry.get("package_number", ""),
            }
            order = self._shop_order(shop, entry["order_sn"])
            package: Any = self._package(order, entry.get("package_number")) if order else None
            if order is None:
                row.update(fail_error="logistics.order_not_exist", fail_message="The order is not exist.")
            elif isinstance(package, Reply):
                row.update(fail_error=package.body["error"], fail_message=package.body["message"])
            elif package["logistics_status"] in ("LOGISTICS_READY", "LOGISTICS_REQUEST_CANCELED"):
                row.update(
                    fail_error="logistics.order_status_error",
                    fail_message="Order status does not support awb printing.",
                )
            elif (
                not package["tracking"]
                or package.get("hidden_polls", 0) > 0
                or (entry.get("tracking_number") and entry["tracking_number"] != package["tracking"])
            ):
                row.update(
                    fail_error="logistics.tracking_number_invalid",
                    fail_message="The tracking number is invalid. Please check the tracking number.",
                )
            else:
                kind = entry.get("shipping_document_type") or "NORMAL_AIR_WAYBILL"
                package["document"] = {"type": kind, "status": "PROCESSING", "polls": self.document_delay}
            results.append(row)
        if all(r.get("fail_error") for r in results):
            return Reply(
                200,
                {
                    "request_id": secrets.token_hex(8),
                    "error": "common.batch_api_all_failed",
                    "message": "Failed, please check result_list for more details.",
                    "response": {"result_list": results},
                },
            )
        return self._ok({"result_list": results})

    async def _document_result(self, request: Request) -> Reply:
        shop = self._check_sign(request, shop_level=True)
        if isinstance(shop, Reply):
            return shop
        assert isinstance(shop, Shop)
        body = request.json()
        entries = self._document_orders(body)
        if isinstance(entries, Reply):
            return entries
        results = []
        for entry in entries:
            row: dict[str, Any] = {
                "order_sn": entry["order_sn"],
                "package_number": entry.get("package_number", ""),
            }
            order = self._shop_order(shop, entry["order_sn"])
            package: Any = self._package(order, entry.get("package_number")) if order else None
            if order is None or isinstance(package, Reply) or package is None:
                row.update(fail_error="logistics.order_not_exist", fail_message="The order_sn is not exist.")
            elif not package.get("document"):
                row.update(
                    fail_error="logistics.shipping_document_should_print_first",
                    fail_message="The package can not print now, please create shipping document first.",
                )
            else:
                document = package["document"]
                if document["status"] == "PROCESSING" and document["polls"] <= 0:
                    document["status"] = "READY"
                document["polls"] -= 1
                row["status"] = document["status"]
            results.append(row)
        return self._ok({"result_list": results})

    async def _download_document(self, request: Request) -> Reply:
        shop = self._check_sign(request, shop_level=True)
        if isinstance(shop, Reply):
            return shop
        assert isinstance(shop, Shop)
        body = request.json()
        refused = self._document_type(body.get("shipping_document_type"))
        if refused is not None:
            return refused
        entries = self._document_orders(body)
        if isinstance(entries, Reply):
            return entries
        lines: list[str] = []
        for entry in entries:
            order = self._shop_order(shop, entry["order_sn"])
            if order is None:
                return self._fail(
                    "logistics.order_not_exist", f"The order_sn {entry['order_sn']} is not exist."
                )
            package = self._package(order, entry.get("package_number"))
            if isinstance(package, Reply):
                return package
            document = package.get("document")
            if not document:
                return self._fail(
                    "logistics.shipping_document_should_print_first",
                    "The package can not print now, please create shipping document first.",
                )
            if document["status"] != "READY":
                return self._fail("logistics.download_later", "Processing, please download later.")
            lines += [f"Shopee {document['type']}", f"{order['order_sn']} {package['package_number']}"]
            lines.append(f"Tracking {package['tracking']}")
        thermal = str(body.get("shipping_document_type") or "").startswith("THERMAL")
        pdf = pdf_document(*lines) if thermal else pdf_document(*lines, width=595, height=842)
        return Reply(200, pdf, {"content-type": "application/pdf"})

    async def _tracking_info(self, request: Request) -> Reply:
        shop = self._check_sign(request, shop_level=True)
        if isinstance(shop, Reply):
            return shop
        assert isinstance(shop, Shop)
        q = request.query
        order = self._shop_order(shop, q.get("order_sn", ""))
        if order is None:
            return self._fail("logistics.invalid_error", "The order is not exist.")
        package = self._package(order, q.get("package_number"))
        if isinstance(package, Reply):
            return package
        return self._ok(
            {
                "order_sn": order["order_sn"],
                "package_number": package["package_number"],
                "logistics_status": package["logistics_status"],
                "tracking_info": [
                    {"update_time": at, "description": text, "logistics_status": code}
                    for at, code, text in reversed(package.get("events") or [])  # newest first
                ],
            }
        )

    def _sync_packages(self, order: dict[str, Any]) -> None:
        """``package_list`` as get_order_detail shows it."""
        order["package_list"] = [
            {
                "package_number": p["package_number"],
                "logistics_status": p["logistics_status"],
                "shipping_carrier": CHANNELS[order["_channel"]]["name"],
                "logistics_channel_id": order["_channel"],
                "item_list": [
                    {
                        "item_id": order["item_list"][i]["item_id"],
                        "model_id": order["item_list"][i]["model_id"],
                        "quantity": order["item_list"][i]["model_quantity_purchased"],
                    }
                    for i in p["items"]
                ],
            }
            for p in order["_packages"]
        ]

    def split_order(self, order_sn: str, groups: Sequence[Sequence[int]], *, touch: bool = True) -> list[str]:
        """Split a READY_TO_SHIP order into packages of its items (indices into
        ``item_list``), as v2.order.split_order does; returns the package numbers."""
        order = self.orders[order_sn]
        order["_packages"] = [self._new_package(order, list(g)) for g in groups]
        order["_split"] = len(groups) > 1
        self._sync_packages(order)
        if touch:
            self.update_order(order_sn)
        return [p["package_number"] for p in order["_packages"]]

    def _new_package(self, order: Mapping[str, Any], items: list[int]) -> dict[str, Any]:
        self._package_ids += 1
        return {
            "package_number": f"OFG{order['_shop_id']}{self._package_ids:09d}",
            "items": items,
            "logistics_status": "LOGISTICS_READY",
            "method": None,
            "tracking": None,
            "document": None,
            "events": [],
        }

    def packages_of(self, order_sn: str) -> list[dict[str, Any]]:
        return list(self.orders[order_sn]["_packages"])

    def scan_package(
        self,
        tracking_number: str,
        status: TrackingStatus,
        reason: TrackingReason | None = None,
        at: datetime | None = None,
    ) -> None:
        """The 3PL scans the parcel: its tracking info, the package's logistics status and
        the order's status move as Shopee moves them."""
        order, package = next(
            (o, p) for o in self.orders.values() for p in o["_packages"] if p["tracking"] == tracking_number
        )
        if tracking_number in self.book.by_tracking:
            self.book.scan(tracking_number, status, reason, at)
        code, text, logistics = SCAN_CODES[status]
        if reason is not None:
            text = f"{text}: {REASON_TEXT[reason]}"
            if reason == TrackingReason.LOST:
                code, logistics = "LOST", "LOGISTICS_LOST"
        when = int((at or datetime.now(UTC)).timestamp())
        package.setdefault("events", []).append((when, code, text))
        if logistics:
            package["logistics_status"] = logistics
        self._sync_packages(order)
        order_status = ORDER_AFTER_SCAN.get(status)
        if order_status and order["order_status"] not in ("CANCELLED", "COMPLETED"):
            self.update_order(order["order_sn"], order_status=order_status)
        else:
            self.update_order(order["order_sn"])

    # ------------------------------------------------------------------ products

    async def _update_stock(self, request: Request) -> Reply:
        shop = self._check_sign(request, shop_level=True)
        if isinstance(shop, Reply):
            return shop
        assert isinstance(shop, Shop)
        body = request.json()
        item_id = int(body["item_id"])
        stock_list = body.get("stock_list") or []
        if not any(item == item_id for item, _ in shop.models):
            # a whole item the shop does not have (deleted, another shop's): the call fails
            # (code UNCONFIRMED: Shopee documents product.error_item_not_found-style codes)
            return self._fail("error_item_not_found", f"item_id {item_id} not found")
        if not 1 <= len(stock_list) <= 50:
            return self._fail("error_param", "stock_list takes 1 to 50 models")
        success, failure = [], []
        for entry in stock_list:
            model_id = int(entry.get("model_id", 0))
            model = shop.models.get((item_id, model_id))
            stocks = entry.get("seller_stock") or []
            if model is None or not stocks or int(stocks[0].get("stock", -1)) < 0:
                failure.append({"model_id": model_id, "failed_reason": "model not found or stock invalid"})
                continue
            model["stock"] = int(stocks[0]["stock"])
            success.append({"model_id": model_id, "seller_stock": [{"stock": model["stock"]}]})
        return self._ok({"success_list": success, "failure_list": failure})

    async def _update_price(self, request: Request) -> Reply:
        shop = self._check_sign(request, shop_level=True)
        if isinstance(shop, Reply):
            return shop
        assert isinstance(shop, Shop)
        body = request.json()
        item_id = int(body["item_id"])
        price_list = body.get("price_list") or []
        if not any(item == item_id for item, _ in shop.models):
            # a whole item the shop does not have (deleted, another shop's): the call fails
            # (code UNCONFIRMED: Shopee documents product.error_item_not_found-style codes)
            return self._fail("error_item_not_found", f"item_id {item_id} not found")
        if not 1 <= len(price_list) <= 50:
            return self._fail("error_param", "price_list takes 1 to 50 models")
        success, failure = [], []
        for entry in price_list:
            model_id = int(entry.get("model_id", 0))
            model = shop.models.get((item_id, model_id))
            price = entry.get("original_price")
            if model is None or not isinstance(price, int | float) or price <= 0:
                failure.append({"model_id": model_id, "failed_reason": "model not found or price invalid"})
                continue
            model["price"] = price
            success.append({"model_id": model_id, "original_price": price})
        return self._ok({"success_list": success, "failure_list": failure})

    async def _model_list(self, request: Request) -> Reply:
        shop = self._check_sign(request, shop_level=True)
        if isinstance(shop, Reply):
            return shop
        assert isinstance(shop, Shop)
        item_id = int(request.query.get("item_id", 0))
        models = [
            {
                "model_id": model_id,
                "model_sku": m["sku"],
                "stock_info_v2": {"seller_stock": [{"stock": m["stock"]}]},
            }
            for (item, model_id), m in shop.models.items()
            if item == item_id
        ]
        return self._ok({"model": models})

    def stock_of(self, shop_id: int, sku: str) -> int:
        return int(next(m["stock"] for m in self.shops[shop_id].models.values() if m["sku"] == sku))

    # ------------------------------------------------------------------ seller chat

    @staticmethod
    def buyer_id(buyer: str) -> int:
        return zlib.crc32(buyer.encode()) % 10**8

    def _conversation(self, shop: Shop, buyer_id: int, buyer: str = "") -> dict[str, Any]:
        for chat in shop.chats.values():
            if chat["to_id"] == buyer_id:
                return chat
        conversation_id = int(f"{shop.shop_id}{len(shop.chats) + 1:06d}")
        chat = shop.chats[conversation_id] = {
            "conversation_id": conversation_id,
            "to_id": buyer_id,
            "to_name": buyer or f"user{buyer_id}",
            "shop_id": shop.shop_id,
            "unread_count": 0,
            "pinned": False,
            "latest_message_id": "",
            "last_message_timestamp": 0,
            "messages": [],
        }
        return chat

    def _post(
        self, shop: Shop, chat: dict[str, Any], from_buyer: bool, text: str, order_sn: str | None
    ) -> dict[str, Any]:
        # nanosecond times, strictly increasing, as the conversation list's cursor needs
        nano = max(
            int(self.clock() * 1e9),
            chat["last_message_timestamp"] + 1,
            max((c["last_message_timestamp"] for c in shop.chats.values()), default=0) + 1,
        )
        message = {
            "message_id": str(nano // 1000),
            "message_type": "text",
            "from_id": chat["to_id"] if from_buyer else shop.shop_id,
            "from_shop_id": 0 if from_buyer else shop.shop_id,
            "to_id": shop.shop_id if from_buyer else chat["to_id"],
            "to_shop_id": shop.shop_id if from_buyer else 0,
            "conversation_id": str(chat["conversation_id"]),
            "created_timestamp": nano // 10**9,
            "region": shop.region,
            "status": "normal",
            "source": "api" if not from_buyer else "app",
            "content": {"text": text},
            "source_content": {"order_sn": order_sn} if order_sn else {},
        }
        chat["messages"].append(message)
        chat["latest_message_id"] = message["message_id"]
        chat["last_message_timestamp"] = nano
        if from_buyer:
            chat["unread_count"] += 1
        return message

    def buyer_message(
        self, shop_id: int, buyer: str, text: str, order_sn: str | None = None
    ) -> dict[str, Any]:
        shop = self.shops[shop_id]
        chat = self._conversation(shop, self.buyer_id(buyer), buyer)
        return self._post(shop, chat, True, text, order_sn)

    async def _conversation_list(self, request: Request) -> Reply:
        shop = self._check_sign(request, shop_level=True)
        if isinstance(shop, Reply):
            return shop
        assert isinstance(shop, Shop)
        q = request.query
        if q.get("direction") not in ("latest", "older") or q.get("type") not in ("all", "pinned", "unread"):
            return self._fail(
                "error_param", "direction (latest|older) and type (all|pinned|unread) are required"
            )
        size = int(q.get("page_size") or 25)
        if not 1 <= size <= CHAT_PAGE_MAX:
            return self._fail("error_param", f"page_size must be between 1 and {CHAT_PAGE_MAX}")
        rows = sorted(shop.chats.values(), key=lambda c: -c["last_message_timestamp"])
        if q["type"] == "unread":
            rows = [c for c in rows if c["unread_count"]]
        elif q["type"] == "pinned":
            rows = [c for c in rows if c["pinned"]]
        if q["direction"] == "older" and q.get("next_timestamp_nano"):
            before = int(q["next_timestamp_nano"])
            rows = [c for c in rows if c["last_message_timestamp"] < before]
        chunk = rows[:size]
        last = chunk[-1] if chunk else None
        return self._ok(
            {
                "page_result": {
                    "page_size": len(chunk),
                    "more": len(rows) > size,
                    "next_cursor": {
                        "next_message_time_nano": str(last["last_message_timestamp"]) if last else "",
                        "conversation_id": str(last["conversation_id"]) if last else "",
                    },
                },
                "conversations": [{k: v for k, v in c.items() if k != "messages"} for c in chunk],
            }
        )

    async def _get_message(self, request: Request) -> Reply:
        shop = self._check_sign(request, shop_level=True)
        if isinstance(shop, Reply):
            return shop
        assert isinstance(shop, Shop)
        q = request.query
        chat = shop.chats.get(int(q.get("conversation_id") or 0))
        if chat is None:
            return self._fail("error_not_found", "conversation not found")
        size = int(q.get("page_size") or 25)
        if not 1 <= size <= CHAT_PAGE_MAX:
            return self._fail("error_param", f"page_size must be between 1 and {CHAT_PAGE_MAX}")
        newest_first = list(reversed(chat["messages"]))
        chunk, following = self.page(newest_first, int(q.get("offset") or 0), size)
        return self._ok(
            {
                "messages": chunk,
                "page_result": {
                    "page_size": len(chunk),
                    "next_offset": str(following) if following is not None else "",
                },
            }
        )

    async def _send_message(self, request: Request) -> Reply:
        shop = self._check_sign(request, shop_level=True)
        if isinstance(shop, Reply):
            return shop
        assert isinstance(shop, Shop)
        body = request.json()
        content = body.get("content") or {}
        if body.get("message_type") != "text" or not str(content.get("text", "")).strip():
            return self._fail("error_param", "a text message needs content.text")
        buyer_id = int(body.get("to_id") or 0)
        chat = next((c for c in shop.chats.values() if c["to_id"] == buyer_id), None)
        if chat is None:
            return self._fail("error_param", "to_id has never chatted with this shop")
        message = self._post(shop, chat, False, str(content["text"]), None)
        chat["unread_count"] = 0
        return self._ok(
            {
                "to_id": buyer_id,
                "message_id": message["message_id"],
                "message_type": "text",
                "content": message["content"],
                "conversation_id": message["conversation_id"],
                "created_timestamp": message["created_timestamp"],
            }
        )


class ShopeeSellerEmulator(ShopeeEmulator):
    """The emulator as the conformance suite and ``crossdock emulate`` drive it: seller
    accounts are shops, products are models of one item per shop."""

    default_site = "SG"

    def open_account(self, site: str) -> dict[str, Any]:
        return self.add_shop(site)

    def add_product(self, account: Mapping[str, Any], sku: str, stock: int = 0) -> str:
        shop = self.shops[int(account["shop_id"])]
        item_id = 100_000 + shop.shop_id
        model_id = len(shop.models) + 1
        self.add_model(shop.shop_id, item_id, model_id, sku, stock)
        return f"{item_id}:{model_id}"

    def add_order(  # type: ignore[override]
        self,
        account: Mapping[str, Any] | int,
        external_id: str,
        lines: Sequence[tuple[str, int, str]],
        **kwargs: Any,
    ) -> dict[str, Any]:
        shop_id = account if isinstance(account, int) else int(account["shop_id"])
        return super().add_order(shop_id, external_id, list(lines), **kwargs)

    def generate_orders(self, account: Mapping[str, Any], count: int, seed: int) -> list[str]:
        shop_id = int(account["shop_id"])
        before = set(self.orders)
        self.generate(shop_id, count, seed=seed)
        return [sn for sn in self.orders if sn not in before]

    def cancel_order(self, account: Mapping[str, Any], external_id: str) -> None:
        self.update_order(external_id, order_status="CANCELLED")

    def tracking_number(self, account: Mapping[str, Any], external_id: str) -> str | None:
        tracking = self.orders[external_id]["_tracking"]
        return None if tracking is None else str(tracking)

    # the carrier side (crossdock.testing.carriers.CarrierEmulator) of Shopee's logistics:
    # a label is a package shipped with ship_order; its reference is the order_sn

    def labels_bought(self, reference: str) -> int:
        """Packages of order ``reference`` whose shipment was arranged (and not cancelled)."""
        order = self.orders.get(reference)
        if order is None:
            return 0
        return sum(
            1
            for p in order["_packages"]
            if p["method"]
            and p["logistics_status"] not in ("LOGISTICS_REQUEST_CANCELED", "LOGISTICS_INVALID")
        )

    def scan(
        self,
        tracking_number: str,
        status: TrackingStatus,
        reason: TrackingReason | None = None,
        at: datetime | None = None,
    ) -> None:
        self.scan_package(tracking_number, status, reason, at)

    def stock(self, account: Mapping[str, Any], sku: str) -> int:
        return self.stock_of(int(account["shop_id"]), sku)

    def price(self, account: Mapping[str, Any], sku: str) -> str | None:
        model = next(m for m in self.shops[int(account["shop_id"])].models.values() if m["sku"] == sku)
        return f"{model['price']:.2f}" if "price" in model else None

    def buyer_writes(
        self, account: Mapping[str, Any], buyer: str, text: str, order_external_id: str | None = None
    ) -> None:
        self.buyer_message(int(account["shop_id"]), buyer, text, order_external_id)

    def signed_push(
        self, account: Mapping[str, Any], external_id: str, url: str
    ) -> tuple[dict[str, str], bytes]:
        """An order status push (code 3) as Shopee would POST it to ``url``, signed over
        the URL and the body with the partner key."""
        body = json.dumps(
            {
                "code": 3,
                "shop_id": int(account["shop_id"]),
                "timestamp": int(self.clock()),
                "data": {"ordersn": external_id, "status": self.orders[external_id]["order_status"]},
            }
        ).encode()
        return {"Authorization": push_signature(str(account["partner_key"]), url, body)}, body

    def messages_to(self, account: Mapping[str, Any], buyer: str) -> list[str]:
        shop = self.shops[int(account["shop_id"])]
        chat = next((c for c in shop.chats.values() if c["to_id"] == self.buyer_id(buyer)), None)
        return [m["content"]["text"] for m in (chat or {"messages": []})["messages"] if m["from_shop_id"]]
