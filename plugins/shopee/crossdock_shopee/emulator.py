"""A local Shopee Open Platform v2: the endpoints Crossdock uses, signed and enveloped the
way Shopee signs and envelopes them, with generated shops and orders and injected faults.

Served paths: ``/api/v2/auth/token/get``, ``/api/v2/auth/access_token/get``,
``/api/v2/shop/get_shop_info``, ``/api/v2/order/get_order_list``,
``/api/v2/order/get_order_detail``, ``/api/v2/logistics/ship_order``,
``/api/v2/logistics/get_tracking_number``, ``/api/v2/product/update_stock``,
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
from typing import Any

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
        for method, path, handler in (
            ("POST", "/api/v2/auth/token/get", self._token_get),
            ("POST", "/api/v2/auth/access_token/get", self._token_refresh),
            ("GET", "/api/v2/shop/get_shop_info", self._shop_info),
            ("GET", "/api/v2/order/get_order_list", self._order_list),
            ("GET", "/api/v2/order/get_order_detail", self._order_detail),
            ("POST", "/api/v2/logistics/ship_order", self._ship_order),
            ("GET", "/api/v2/logistics/get_tracking_number", self._tracking_number),
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
    ) -> dict[str, Any]:
        """An order of ``(model_sku, quantity, unit price)`` items."""
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
            "_shop_id": shop_id,
            "_tracking": None,
        }
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
            )

    # ------------------------------------------------------------------ auth

    def _check_sign(self, request: Request, shop_level: bool) -> Shop | Reply | None:
        q = request.query
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

    async def _ship_order(self, request: Request) -> Reply:
        shop = self._check_sign(request, shop_level=True)
        if isinstance(shop, Reply):
            return shop
        body = request.json()
        order = self.orders.get(body.get("order_sn", ""))
        if order is None or order["_shop_id"] != shop.shop_id:  # type: ignore[union-attr]
            return self._fail("error_not_found", "order not found")
        if order["order_status"] != "READY_TO_SHIP":
            return self._fail(
                "logistics.ship_order_invalid_status",
                f"order is {order['order_status']}; only READY_TO_SHIP orders ship",
            )
        tracking = (body.get("non_integrated") or {}).get("tracking_number")
        if not tracking:
            return self._fail("error_param", "non_integrated.tracking_number is required")
        order["_tracking"] = tracking
        order["package_list"] = [
            {"package_number": f"PKG{order['order_sn']}", "logistics_status": "LOGISTICS_READY"}
        ]
        self.update_order(order["order_sn"], order_status="PROCESSED")
        return self._ok({})

    async def _tracking_number(self, request: Request) -> Reply:
        shop = self._check_sign(request, shop_level=True)
        if isinstance(shop, Reply):
            return shop
        order = self.orders.get(request.query.get("order_sn", ""))
        if order is None or order["_shop_id"] != shop.shop_id:  # type: ignore[union-attr]
            return self._fail("error_not_found", "order not found")
        return self._ok({"tracking_number": order["_tracking"] or ""})

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
