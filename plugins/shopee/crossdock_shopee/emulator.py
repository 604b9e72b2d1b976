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
``/api/v2/product/get_item_base_info``, the listing APIs of :mod:`crossdock_shopee.emulator_listings`
(category tree, attribute trees, item limits, image upload, add/update/search/unlist item),
``/api/v2/sellerchat/get_conversation_list``, ``/api/v2/sellerchat/get_message``,
``/api/v2/sellerchat/send_message``, ``/api/v2/payment/get_escrow_detail``,
``/api/v2/push/get_lost_push_message``, ``/api/v2/push/confirm_consumed_lost_push_message``,
the after-sales APIs of :mod:`crossdock_shopee.emulator_returns` (cancel_order,
handle_buyer_cancellation, the returns module) and the Ads APIs of
:mod:`crossdock_shopee.emulator_ads` (product campaigns and their daily performance).

It refuses what Shopee refuses, in Shopee's words: the common parameters and the signature
as every API's ``common_error_list`` words them (a stale timestamp is ``error_param``
"Timestamp is expired."), each API's required parameters and limits (``error_param``
"Wrong parameters, detail: ..."), and the codes of its ``error_list``. Sources: the API
reference JSON mirrored in ``congminh1254/shopee-sdk`` (``schemas/v2.*.json``); see the
plugin README for what could not be confirmed.
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
from datetime import UTC, date, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

import httpx

from crossdock.providers import TrackingReason, TrackingStatus
from crossdock.testing.carriers import ParcelBook, pdf_document
from crossdock.testing.emulator import Emulator, Faults, Reply, Request, credentials_guard
from crossdock_shopee.emulator_ads import AdsDesk
from crossdock_shopee.emulator_listings import SAMPLE_CATEGORY, ListingsDesk
from crossdock_shopee.emulator_returns import AfterSalesDesk
from crossdock_shopee.signing import base_string, push_signature, sign

__all__ = ["ShopeeEmulator", "ShopeeSellerEmulator"]

MAX_WINDOW = 15 * 24 * 3600  # get_order_list time_from..time_to
SKEW = 300  # timestamps within 5 minutes
ACCESS_TTL = 4 * 3600
CHAT_PAGE_MAX = 60  # sellerchat page_size
LOST_PUSH_RETENTION = 3 * 86400  # get_lost_push_message: "lost within 3 days"
LOST_PUSH_PAGE = 100  # "Returns the earliest 100 lost push messages"
#: get_order_list's order_status filter and response_optional_fields (v2.order.get_order_list)
ORDER_LIST_STATUSES = frozenset(
    {
        "UNPAID",
        "READY_TO_SHIP",
        "PROCESSED",
        "SHIPPED",
        "COMPLETED",
        "IN_CANCEL",
        "CANCELLED",
        "INVOICE_PENDING",
    }
)
#: get_order_detail's response_optional_fields (v2.order.get_order_detail)
DETAIL_FIELDS = frozenset(
    {
        "buyer_user_id",
        "buyer_username",
        "estimated_shipping_fee",
        "recipient_address",
        "actual_shipping_fee",
        "goods_to_declare",
        "note",
        "note_update_time",
        "item_list",
        "pay_time",
        "dropshipper",
        "dropshipper_phone",
        "split_up",
        "buyer_cancel_reason",
        "cancel_by",
        "cancel_reason",
        "actual_shipping_fee_confirmed",
        "buyer_cpf_id",
        "fulfillment_flag",
        "pickup_done_time",
        "package_list",
        "shipping_carrier",
        "payment_method",
        "total_amount",
        "invoice_data",
        "order_chargeable_weight_gram",
        "return_request_due_date",
        "edt",
        "payment_info",
        "international_label",
    }
)
#: the common_error_list's words for an app that may no longer call anything
APP_DELETED = "The App is deleted, and you'll be unable to make any API call."
NO_PERMISSION = "No permission to current api."
RATE_LIMITED = "Too many requests. You have reached the rate limit. Please try again later."
#: a callback URL no push reaches: every push is lost at once (NotificationConformance)
UNREACHABLE = "unreachable:"

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
    #: a multi-warehouse shop's stock locations (v2.shop.get_warehouse_detail location_id);
    #: empty for a shop with one stock
    locations: list[str] = field(default_factory=list)
    #: item id -> {item_sku, item_name}: the listings the models belong to
    #: (v2.product.get_item_base_info)
    items: dict[int, dict[str, Any]] = field(default_factory=dict)


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
        #: every logistics and ads call as received: (path, query, JSON body)
        self.calls: list[tuple[str, dict[str, str], Any]] = []
        self._package_ids = 0
        self._lines = 0
        #: path -> errors to answer next, in order: (error, message, HTTP status, headers)
        self.scripted: dict[str, list[tuple[str, str, int, dict[str, str]]]] = {}
        self.revoked: set[str] = set()  # paths the app has no permission to call
        self.app_deleted = False
        #: push: the partner's callback URL (v2.push.set_app_push_config); None: no push
        self.callback_url: str | None = None
        self.outbox: list[dict[str, Any]] = []  # pushes not yet delivered
        self.delivered: list[dict[str, Any]] = []  # pushes the callback answered 2xx
        #: pushes not acknowledged 2xx: (message id, lost at, push), oldest first
        self.lost: list[tuple[int, int, dict[str, Any]]] = []
        self._message_ids = 176_600
        self.lose_answers = 0  # the next N pushes are delivered but their answers lost
        self.fail_confirms = 0  # the next N confirm_consumed_lost_push_message calls fail
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
            ("GET", "/api/v2/product/get_item_base_info", self._item_base_info),
            ("GET", "/api/v2/sellerchat/get_conversation_list", self._conversation_list),
            ("GET", "/api/v2/sellerchat/get_message", self._get_message),
            ("POST", "/api/v2/sellerchat/send_message", self._send_message),
            ("GET", "/api/v2/payment/get_escrow_detail", self._escrow_detail),
            ("GET", "/api/v2/push/get_lost_push_message", self._lost_pushes),
            ("POST", "/api/v2/push/confirm_consumed_lost_push_message", self._confirm_lost_pushes),
        ):
            self.route(method, path, handler)
        #: the buyer's cancellation requests and returns, and the seller's answers to them
        self.after_sales = AfterSalesDesk(self)
        self.after_sales.install()
        #: the shops' ad campaigns and their days (Shopee Ads)
        self.ads = AdsDesk(self)
        self.ads.install()
        #: the category tree, image uploads and items added, updated and unlisted
        self.listings = ListingsDesk(self)
        self.listings.install()

    # ------------------------------------------------------------------ envelope

    def error_body(self, status: int, code: str, message: str) -> Any:
        error, message = {
            "throttled": ("error_rate_limit", RATE_LIMITED),
            "server_error": ("error_server", "Something wrong. Please try later."),
            "timeout": ("error_server", "Something wrong. Please try later."),
            "not_found": ("error_not_found", message),
            "bad_request": ("error_param", message),
        }.get(code, (code, message))
        return {
            "request_id": secrets.token_hex(8),
            "error": error,
            "message": message,
            "warning": "",
            "response": {},
        }

    def _ok(self, response: Any) -> Reply:
        return Reply(
            200,
            {
                "request_id": secrets.token_hex(8),
                "error": "",
                "message": "",
                "warning": "",
                "response": response,
            },
        )

    def _fail(
        self, error: str, message: str, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> Reply:
        return Reply(
            status,
            {"request_id": secrets.token_hex(8), "error": error, "message": message, "warning": ""},
            dict(headers or {}),
        )

    def _wrong(self, detail: str) -> Reply:
        """The reference's generic refusal of a parameter: ``error_param`` "Wrong
        parameters, detail: {msg}."."""
        return self._fail("error_param", f"Wrong parameters, detail: {detail}.")

    # ------------------------------------------------------------------ scripted refusals

    def fail_next(
        self,
        path: str,
        error: str,
        message: str = "",
        *,
        times: int = 1,
        status: int = 200,
        retry_after: float | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``path`` with Shopee's ``error`` (after the
        signature is checked, as Shopee's gateway does): throttling, a busy system, an
        ``error_auth`` of any meaning."""
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        self.scripted.setdefault(path, []).extend([(error, message or error, status, headers)] * times)

    def revoke(self, path: str) -> None:
        """The app loses its permission to ``path`` (``error_auth`` "No permission to
        current api.")."""
        self.revoked.add(path)

    # ------------------------------------------------------------------ data

    def add_shop(
        self, region: str = "SG", shop_id: int | None = None, *, locations: Sequence[str] = ()
    ) -> dict[str, Any]:
        """A shop authorized for the partner; returns the credentials a connection needs.
        ``locations``: a multi-warehouse shop's stock location ids (e.g. ``SGZ``, ``SGW``)."""
        shop_id = shop_id or 10_000 + len(self.shops)
        shop = Shop(shop_id, region, secrets.token_hex(16), secrets.token_hex(16), self.clock() + ACCESS_TTL)
        shop.locations = list(locations)
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

    def add_model(
        self, shop_id: int, item_id: int, model_id: int, sku: str, stock: int = 0, price: float | None = None
    ) -> None:
        """A model of an item; in a multi-warehouse shop its stock starts in the first
        location."""
        shop = self.shops[shop_id]
        model: dict[str, Any] = {
            "sku": sku,
            "stock": stock,
            "locations": {shop.locations[0] if shop.locations else "": stock},
        }
        for location in shop.locations[1:]:
            model["locations"][location] = 0
        if price is not None:
            model["price"] = price
        shop.models[(item_id, model_id)] = model
        # an item without variations (model 0) carries the seller's SKU itself; one with
        # models a parent SKU, here the model SKU's stem ("LAMP" for "LAMP-RED")
        shop.items.setdefault(
            item_id, {"item_sku": sku if model_id == 0 else sku.split("-")[0], "item_name": f"Item {sku}"}
        )

    def currency_of(self, shop: Shop) -> str:
        return SITE_CURRENCY.get(shop.region, "SGD")

    def item_of(self, shop_id: int, sku: str) -> int:
        """The item whose model (or which, without variations) carries ``sku``."""
        for (item_id, _), model in self.shops[shop_id].models.items():
            if model["sku"] == sku:
                return item_id
        raise ValueError(f"shop {shop_id} sells no {sku}")

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
        bundle_price: str | None = None,
        bundle_skus: Sequence[str] | None = None,
        shipping_fee: str = "0",
    ) -> dict[str, Any]:
        """An order of ``(model_sku, quantity, unit price)`` items, shipping on the logistics
        channel ``logistics_channel_id`` (see :data:`CHANNELS`), in one package.

        ``bundle_price``: the items ``bundle_skus`` (all by default) were bought in one
        bundle deal for this much together. As Shopee shows such an order, their
        ``model_discounted_price`` is 0 ("bundle deal discount will not be breakdown to
        item/model level") and ``promotion_type`` is ``bundle_deal``; what each line sold
        at is only in ``v2.payment.get_escrow_detail`` (``order_income.items[]
        .discounted_price``, a line's subtotal). ``shipping_fee``: paid by the buyer, part of
        ``total_amount``."""
        shop = self.shops[shop_id]
        now = int(update_time or self.clock())
        by_sku = {m["sku"]: key for key, m in shop.models.items()}
        in_bundle = set(bundle_skus if bundle_skus is not None else [sku for sku, _, _ in items])
        bundled = bundle_price is not None and bool(in_bundle)
        item_list: list[dict[str, Any]] = []
        for sku, qty, price in items:
            item_id, model_id = by_sku.get(sku, (900_000 + len(item_list), 0))
            bundle = bundled and sku in in_bundle
            item_list.append(
                {
                    "item_id": item_id,
                    "item_name": f"Item {sku}",
                    "item_sku": shop.items.get(item_id, {}).get("item_sku") or sku.split("-")[0],
                    "model_id": model_id,
                    "model_name": "",
                    "model_sku": sku,
                    "model_quantity_purchased": qty,
                    "model_original_price": float(price),
                    "model_discounted_price": 0.0 if bundle else float(price),
                    "promotion_type": "bundle_deal" if bundle else "",
                    "promotion_id": 3_100_001 if bundle else 0,
                    "order_item_id": 1 if bundle else item_id,  # a bundle's items share one
                    "line_item_id": 5_000_000 + self._lines + len(item_list),
                    "product_location_id": shop.locations[0] if shop.locations else "",
                }
            )
        subtotals = _bundle_split(
            items, in_bundle if bundled else set(), bundle_price, SITE_CURRENCY[shop.region]
        )
        self._lines += len(item_list)
        total = float(sum(subtotals) + Decimal(shipping_fee))
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
            "buyer_cancel_reason": "",
            "cancel_by": "",
            "cancel_reason": "",
            "_shop_id": shop_id,
            "_tracking": None,
            "_channel": logistics_channel_id,
            "_split": False,
            "_escrow": [
                {
                    "item_id": item["item_id"],
                    "item_name": item["item_name"],
                    "item_sku": item["item_sku"],
                    "model_id": item["model_id"],
                    "model_name": "",
                    "model_sku": item["model_sku"],
                    "line_item_id": item["line_item_id"],
                    "original_price": float(Decimal(str(price)) * qty),
                    "selling_price": float(Decimal(str(price)) * qty),
                    "discounted_price": float(subtotal),
                    "activity_type": item["promotion_type"],
                    "activity_id": item["promotion_id"],
                    "is_main_item": False,
                    "quantity_purchased": qty,
                }
                for item, (_, qty, price), subtotal in zip(item_list, items, subtotals, strict=True)
            ],
            "_shipping_fee": float(shipping_fee),
        }
        order["_packages"] = [self._new_package(order, list(range(len(item_list))))]
        self._sync_packages(order)
        self.orders[order_sn] = order
        self._version += 1
        self._push_status(order)
        return order

    def update_order(self, order_sn: str, **changes: Any) -> None:
        order = self.orders[order_sn]
        order.update(changes)
        order["update_time"] = max(int(self.clock()), order["update_time"] + 1)
        self._version += 1
        self._push_status(order)

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
        promotions = random.Random(seed + 104_729)  # bundle deals, likewise
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
            bundle_price = None
            if len(merged) > 1 and promotions.random() < 0.1:  # "2 for ..." at about 15 % off
                subtotal = sum(Decimal(p) * q for _, q, p in merged.values())
                bundle_price = str((subtotal * Decimal("0.85")).quantize(Decimal("0.10")))
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
                bundle_price=bundle_price,
            )
            order_sn = f"{shop_id}{i:08d}"
            items = len(self.orders[order_sn]["item_list"])
            if status == "READY_TO_SHIP" and items > 1 and logistics.random() < 0.15:
                self.split_order(order_sn, [[0], list(range(1, items))], touch=False)

    # ------------------------------------------------------------------ auth

    def _check_sign(self, request: Request, shop_level: bool) -> Shop | Reply | None:
        """The common parameters, as every API's common_error_list words their refusals."""
        q = request.query
        if request.path.startswith(("/api/v2/logistics/", "/api/v2/ads/")):  # the wire, for tests
            self.calls.append((request.path, dict(q), request.json() if request.body else None))
        if "partner_id" not in q:
            return self._fail("error_param", "There is no partner_id in query.", 400)
        if not q["partner_id"].isdigit() or int(q["partner_id"]) > 4294967295:
            return self._fail(
                "error_param", "Partner_id is invalid, should be an integer between 0 and 4294967295.", 400
            )
        if "timestamp" not in q:
            return self._fail("error_param", "no timestamp.", 400)
        if not q["timestamp"].isdigit() or int(q["timestamp"]) > 4294967295:
            return self._fail(
                "error_param", "Timestamp is invalid, should be an integer between 0 and 4294967295.", 400
            )
        partner_id, ts = int(q["partner_id"]), int(q["timestamp"])
        if abs(self.clock() - ts) > SKEW:
            return self._fail("error_param", "Timestamp is expired.", 400)
        if "sign" not in q:
            return self._fail("error_param", "There is no sign in query.", 400)
        if partner_id != self.partner_id:
            return self._fail("error_auth", "partner_id is invalid", 403)
        token = q.get("access_token", "")
        shop_id = q.get("shop_id", "")
        expected = sign(self.partner_key, base_string(partner_id, request.path, ts, token, shop_id))
        if q["sign"] != expected:
            return self._fail("error_sign", "Wrong sign.", 403)
        if self.app_deleted:
            return self._fail("error_auth", APP_DELETED, 403)
        if request.path in self.revoked:
            return self._fail("error_auth", NO_PERMISSION, 403)
        scripted = self.scripted.get(request.path)
        if scripted:
            error, message, status, headers = scripted.pop(0)
            self.injected[error] += 1
            return self._fail(error, message, status, headers)
        if not shop_level:
            return None
        if not token:
            return self._fail("error_param", "There is no access_token in query.", 400)
        if not shop_id.isdigit() or int(shop_id) not in self.shops:
            return self._fail("error_auth", "Invalid partner_id or shopid.", 403)
        shop = self.shops[int(shop_id)]
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
            # v2.public.refresh_access_token's error_list
            return self._fail(
                "error_shop_refresh_token",
                "Your refresh token is error ,please check refresh token or shopid.",
                403,
            )
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
        # v2.order.get_order_list: time_range_field, time_from, time_to, page_size required
        for name in ("time_range_field", "time_from", "time_to", "page_size"):
            if not q.get(name):
                return self._wrong(f"{name} is required")
        if q["time_range_field"] not in ("create_time", "update_time"):
            return self._wrong("time_range_field should be create_time or update_time")
        for name in ("time_from", "time_to", "page_size"):
            if not q[name].isdigit():
                return self._wrong(f"{name} should be an integer")
        time_from, time_to = int(q["time_from"]), int(q["time_to"])
        if time_to < time_from or time_to - time_from > MAX_WINDOW:
            return self._fail(
                "order.order_list_invalid_time",
                "Start time must be earlier than end time and diff in 15days.",
            )
        size = int(q["page_size"])
        if not 1 <= size <= 100:
            return self._wrong("page_size should be between 1 and 100")
        status = q.get("order_status")
        if status and status not in ORDER_LIST_STATUSES:
            return self._wrong(f"order_status {status} is invalid")
        optional = {f for f in q.get("response_optional_fields", "").split(",") if f}
        if optional - {"order_status"}:
            return self._wrong(f"response_optional_fields {','.join(sorted(optional))} is invalid")
        cursor = q.get("cursor") or "0"
        if not cursor.isdigit():
            return self._wrong("cursor is invalid")
        field_name = q["time_range_field"]
        ordered, times = self._by_time(shop.shop_id, field_name)
        rows = ordered[bisect.bisect_left(times, time_from) : bisect.bisect_right(times, time_to)]
        if status:
            rows = [o for o in rows if o["order_status"] == status]
        chunk, following = self.page(rows, int(cursor), size)
        return self._ok(
            {
                "more": following is not None,
                "next_cursor": str(following) if following is not None else "",
                "order_list": [
                    {"order_sn": o["order_sn"], **({"order_status": o["order_status"]} if optional else {})}
                    for o in chunk
                ],
            }
        )

    async def _order_detail(self, request: Request) -> Reply:
        shop = self._check_sign(request, shop_level=True)
        if isinstance(shop, Reply):
            return shop
        if not request.query.get("order_sn_list"):
            return self._wrong("order_sn_list is required")
        sns = [s for s in request.query["order_sn_list"].split(",") if s]
        if not 1 <= len(sns) <= 50:
            return self._wrong("order_sn_list should have 1 to 50 order_sn")
        optional = {
            f.strip() for f in request.query.get("response_optional_fields", "").split(",") if f.strip()
        }
        if optional - DETAIL_FIELDS:
            return self._wrong(
                f"response_optional_fields {','.join(sorted(optional - DETAIL_FIELDS))} is invalid"
            )
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

    def _item_body(self, request: Request, shop: Shop, list_name: str) -> tuple[int, list[Any]] | Reply:
        """update_stock / update_price: ``item_id`` (int64) and 1 to 50 entries of one item
        whose model ids do not repeat (v2.product.update_stock / update_price)."""
        try:
            body = request.json()
        except ValueError:
            return self._fail("error_param", "The request body is not a valid json format")
        if not isinstance(body, dict):
            return self._wrong("the body should be an object")
        item_id = body.get("item_id")
        if item_id is None:
            return self._wrong("item_id is required")
        if isinstance(item_id, bool) or not isinstance(item_id, int):
            return self._wrong("item_id should be int64")
        entries = body.get(list_name)
        if not isinstance(entries, list) or not entries:
            return self._wrong(f"{list_name} is required")
        if len(entries) > 50:
            return self._fail(
                "error_param",
                f"Parameter is not match the constraints, {list_name} length should be 1 to 50.",
            )
        if not all(isinstance(e, dict) for e in entries):
            return self._wrong(f"{list_name} should be a list of objects")
        model_ids = [e.get("model_id", 0) for e in entries]
        if not all(isinstance(m, int) and not isinstance(m, bool) for m in model_ids):
            return self._wrong("model_id should be int64")
        if len(set(model_ids)) != len(model_ids):
            return self._fail("error_param", "Repeat model_id.")
        if not any(item == item_id for item, _ in shop.models):
            # a whole item the shop does not have (deleted, another shop's): the call fails
            return self._fail("error_item_not_found", "Item_id is not found.")
        return item_id, entries

    async def _update_stock(self, request: Request) -> Reply:
        shop = self._check_sign(request, shop_level=True)
        if isinstance(shop, Reply):
            return shop
        assert isinstance(shop, Shop)
        parsed = self._item_body(request, shop, "stock_list")
        if isinstance(parsed, Reply):
            return parsed
        item_id, stock_list = parsed
        for entry in stock_list:
            stocks = entry.get("seller_stock")
            if not isinstance(stocks, list) or not stocks or not all(isinstance(x, dict) for x in stocks):
                return self._wrong("seller_stock is required")
            for x in stocks:
                if isinstance(x.get("stock"), bool) or not isinstance(x.get("stock"), int):
                    return self._wrong("stock should be int64")
                location = x.get("location_id")
                if shop.locations and location is None:
                    return self._fail(
                        "error_busi", "The merchant/shop has multi warehouse, please input location id"
                    )
                if location is not None and not shop.locations:
                    return self._fail(
                        "error_auth",
                        "You do not have right to use seller location_id, "
                        "please only fill seller_stock filed.",
                    )
                if location is not None and location not in shop.locations:
                    return self._fail(
                        "error_auth",
                        "The location_id input is not matched the shop's location_id(more/wrong). "
                        "Please double check.",
                    )
        success: list[dict[str, Any]] = []
        failure: list[dict[str, Any]] = []
        for entry in stock_list:
            model_id = int(entry.get("model_id", 0))
            model = shop.models.get((item_id, model_id))
            stocks = entry["seller_stock"]
            if model is None:
                failure.append({"model_id": model_id, "failed_reason": "Wrong model_id."})
                continue
            if any(x["stock"] < 0 for x in stocks):
                failure.append(
                    {"model_id": model_id, "failed_reason": "Stock should be larger than reserved stock."}
                )
                continue
            for x in stocks:
                model["locations"][x.get("location_id") or ""] = x["stock"]
            model["stock"] = sum(model["locations"].values())
            success.extend(
                {"model_id": model_id, "location_id": x.get("location_id") or "", "stock": x["stock"]}
                for x in stocks
            )
        return self._ok({"success_list": success, "failure_list": failure})

    async def _update_price(self, request: Request) -> Reply:
        shop = self._check_sign(request, shop_level=True)
        if isinstance(shop, Reply):
            return shop
        assert isinstance(shop, Shop)
        parsed = self._item_body(request, shop, "price_list")
        if isinstance(parsed, Reply):
            return parsed
        item_id, price_list = parsed
        for entry in price_list:
            price = entry.get("original_price")
            if price is None:
                return self._wrong("original_price is required")
            if isinstance(price, bool) or not isinstance(price, int | float):
                return self._fail("error_invalid_price", "Invalid price, please use the correct format")
        success, failure = [], []
        for entry in price_list:
            model_id = int(entry.get("model_id", 0))
            model = shop.models.get((item_id, model_id))
            price = entry["original_price"]
            if model is None:
                failure.append({"model_id": model_id, "failed_reason": "Wrong model_id."})
                continue
            if price <= 0:
                failure.append({"model_id": model_id, "failed_reason": "Price is out of range."})
                continue
            model["price"] = price
            success.append({"model_id": model_id, "original_price": price})
        return self._ok({"success_list": success, "failure_list": failure})

    async def _model_list(self, request: Request) -> Reply:
        shop = self._check_sign(request, shop_level=True)
        if isinstance(shop, Reply):
            return shop
        assert isinstance(shop, Shop)
        if not request.query.get("item_id", "").isdigit():
            return self._wrong("item_id is required")
        item_id = int(request.query["item_id"])
        models = [
            {
                "model_id": model_id,
                "model_sku": m["sku"],
                "stock_info_v2": {
                    "seller_stock": [
                        {**({"location_id": loc} if loc else {}), "stock": stock}
                        for loc, stock in m["locations"].items()
                    ]
                },
            }
            for (item, model_id), m in shop.models.items()
            if item == item_id
        ]
        return self._ok({"model": models})

    async def _item_base_info(self, request: Request) -> Reply:
        """v2.product.get_item_base_info: ``item_id_list`` (required, "limit [0,50]");
        items the shop does not have are left out (UNCONFIRMED: the reference lists
        ``error_item_not_found`` without saying when)."""
        shop = self._check_sign(request, shop_level=True)
        if isinstance(shop, Reply):
            return shop
        assert isinstance(shop, Shop)
        value = request.query.get("item_id_list", "").strip().strip("[]")
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if not parts:
            return self._wrong("item_id_list is required")
        if not all(p.isdigit() for p in parts):
            return self._wrong("item_id_list should be a list of int64")
        if len(parts) > 50:
            return self._wrong("item_id_list length should be 0 to 50")
        found = []
        for item_id in dict.fromkeys(int(p) for p in parts):
            item = shop.items.get(item_id)
            if item is None:
                continue
            models = [m for (i, m) in shop.models if i == item_id]
            price = shop.models.get((item_id, 0), {}).get("price")
            found.append(
                {
                    "item_id": item_id,
                    "category_id": 100_001,
                    "item_name": item["item_name"],
                    "item_sku": item["item_sku"],
                    "create_time": int(self.clock()) - 180 * 86400,
                    "update_time": int(self.clock()),
                    "item_status": "NORMAL",
                    "has_model": any(m != 0 for m in models),
                    "condition": "NEW",
                    # an item added through add_item shows its content (emulator_listings)
                    **self.listings.base_info(item, self.currency_of(shop), price),
                }
            )
        return self._ok({"item_list": found})

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

    # ------------------------------------------------------------------ payment

    async def _escrow_detail(self, request: Request) -> Reply:
        """v2.payment.get_escrow_detail: the order's income, with each line's discounted
        subtotal (the only place a bundle deal's lines show what they sold at)."""
        shop = self._check_sign(request, shop_level=True)
        if isinstance(shop, Reply):
            return shop
        assert isinstance(shop, Shop)
        order_sn = request.query.get("order_sn", "")
        if not order_sn:
            return self._fail(
                "error_param", "Missing order_sn. Please include a valid order_sn to get escrow details."
            )
        order = self._shop_order(shop, order_sn)
        if order is None:
            return self._fail(
                "order_not_found",
                "Order SN provided is invalid or does not belong to you. Please enter a valid Order SN.",
            )
        items = order["_escrow"]
        goods = sum(Decimal(str(i["discounted_price"])) for i in items)
        return self._ok(
            {
                "order_sn": order_sn,
                "buyer_user_name": order["buyer_username"],
                "return_order_sn_list": [],
                "order_income": {
                    "buyer_total_amount": order["total_amount"],
                    "order_original_price": float(sum(Decimal(str(i["original_price"])) for i in items)),
                    "order_selling_price": float(sum(Decimal(str(i["selling_price"])) for i in items)),
                    "order_discounted_price": float(goods),
                    "cost_of_goods_sold": float(goods),
                    "original_cost_of_goods_sold": float(goods),
                    "buyer_paid_shipping_fee": order["_shipping_fee"],
                    "commission_fee": 0.0,
                    "service_fee": 0.0,
                    "escrow_amount": float(goods),
                    "items": [dict(i) for i in items],
                },
            }
        )

    # ------------------------------------------------------------------ push

    def enable_push(self, callback_url: str) -> None:
        """The partner's live push callback (v2.push.set_app_push_config ``callback_url``):
        from now on every order change queues an order status push (code 3)."""
        self.callback_url = callback_url

    def _push_status(self, order: Mapping[str, Any]) -> None:
        if self.callback_url is None:
            return
        (self.lose if self.callback_url == UNREACHABLE else self.outbox.append)(
            {
                "data": {
                    "items": [],
                    "ordersn": order["order_sn"],
                    "status": order["order_status"],
                    "completed_scenario": "",
                    "update_time": order["update_time"],
                },
                "shop_id": order["_shop_id"],
                "code": 3,
                "timestamp": int(self.clock()),
            }
        )

    def lose(self, push: Mapping[str, Any]) -> None:
        """Keep ``push`` as lost (its delivery was not acknowledged 2xx)."""
        self._message_ids += 1
        self.lost.append((self._message_ids, int(self.clock()), dict(push)))

    async def deliver_pushes(self) -> tuple[int, int]:
        """POST each queued push to the callback URL, signed as Shopee signs pushes; a
        push that is not answered 2xx (or whose answer is lost: ``lose_answers``) is kept
        for ``get_lost_push_message``. Returns (delivered, lost)."""
        sent = lost = 0
        pending, self.outbox = self.outbox, []
        async with httpx.AsyncClient(timeout=5) as http:
            for push in pending:
                body = json.dumps(push).encode()
                url = str(self.callback_url)
                headers = {
                    "Authorization": push_signature(self.partner_key, url, body),
                    "Content-Type": "application/json",
                }
                try:
                    answer = await http.post(url, content=body, headers=headers)
                    ok = 200 <= answer.status_code < 300
                except httpx.HTTPError:
                    ok = False
                if ok and self.lose_answers > 0:
                    self.lose_answers -= 1
                    ok = False  # it arrived, but Shopee never saw the 2xx
                if ok:
                    sent += 1
                    self.delivered.append(push)
                else:
                    lost += 1
                    self.lose(push)
        return sent, lost

    def _retained(self) -> list[tuple[int, int, dict[str, Any]]]:
        horizon = self.clock() - LOST_PUSH_RETENTION
        self.lost = [entry for entry in self.lost if entry[1] >= horizon]
        return self.lost

    async def _lost_pushes(self, request: Request) -> Reply:
        """v2.push.get_lost_push_message (a Public API: partner-level, every shop's pushes):
        the earliest 100 lost in the last 3 days and not confirmed, ``data`` being the push
        itself (a string in the reference's type, an object in its sample: a JSON string
        here), ``last_message_id`` the last one returned, ``has_next_page``."""
        denied = self._check_sign(request, shop_level=False)
        if denied is not None:
            return denied  # type: ignore[return-value]
        lost = self._retained()
        page = lost[:LOST_PUSH_PAGE]
        return self._ok(
            {
                "push_message_list": [
                    {
                        **({"shop_id": push["shop_id"]} if push.get("shop_id") else {}),
                        "code": push["code"],
                        "timestamp": lost_at,
                        "data": json.dumps(push),
                    }
                    for _, lost_at, push in page
                ],
                "has_next_page": len(lost) > LOST_PUSH_PAGE,
                "last_message_id": page[-1][0] if page else 0,
            }
        )

    async def _confirm_lost_pushes(self, request: Request) -> Reply:
        """v2.push.confirm_consumed_lost_push_message ``{last_message_id}`` (required, int):
        every lost push up to it is consumed for good."""
        denied = self._check_sign(request, shop_level=False)
        if denied is not None:
            return denied  # type: ignore[return-value]
        try:
            body = request.json()
        except ValueError:
            return self._fail("error_param", "parameter invalid")
        last = body.get("last_message_id") if isinstance(body, dict) else None
        if last is None:
            return self._wrong("last_message_id is required")
        if isinstance(last, bool) or not isinstance(last, int):
            return self._wrong("last_message_id should be int")
        if self.fail_confirms > 0:
            self.fail_confirms -= 1
            return self._fail("error_server", "Something wrong. Please try later.", 500)
        if last > self._message_ids:
            return self._fail("error_data", "data not exist")
        self.lost = [entry for entry in self._retained() if entry[0] > last]
        return Reply(200, {"request_id": secrets.token_hex(8), "error": "", "message": "", "warning": ""})


def _bundle_split(
    items: Sequence[tuple[str, int, str]], bundled: set[str], bundle_price: str | None, currency: str
) -> list[Decimal]:
    """Each line's subtotal: its price times its quantity, or for lines in a bundle deal
    their share of the bundle's price by their original subtotal (rounded down to the
    currency's unit, the remainder on the last bundled line): together exactly the price."""
    quantum = Decimal(1) if currency in ("IDR", "VND") else Decimal("0.01")
    plain = [Decimal(str(price)) * qty for _, qty, price in items]
    members = [i for i, (sku, _, _) in enumerate(items) if sku in bundled]
    if not members or bundle_price is None:
        return plain
    price, base = Decimal(bundle_price), sum(plain[i] for i in members)
    shares = list(plain)
    for i in members:
        shares[i] = (price * plain[i] / base).quantize(quantum, rounding=ROUND_DOWN)
    shares[members[-1]] += price - sum(shares[i] for i in members)
    return shares


class ShopeeSellerEmulator(ShopeeEmulator):
    """The emulator as the conformance suite and ``crossdock emulate`` drive it: seller
    accounts are shops, products are models of one item per shop."""

    default_site = "SG"

    def open_account(self, site: str) -> dict[str, Any]:
        return self.add_shop(site)

    def add_product(self, account: Mapping[str, Any], sku: str, stock: int = 0) -> str:
        """An item without variations (model 0) selling ``sku``: an ad, which Shopee runs
        per item, then names one SKU."""
        shop = self.shops[int(account["shop_id"])]
        item_id = shop.shop_id * 1_000 + len(shop.items) + 1
        self.add_model(shop.shop_id, item_id, 0, sku, stock)
        return f"{item_id}:0"

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
        made = [sn for sn in self.orders if sn not in before]
        # a shop's backlog has its after-sales cases too (their own random stream: the
        # orders stay as the seed made them)
        self.after_sales.demo_cases(shop_id, random.Random(seed + 15_485_863), made)
        # and a month of advertising (its own stream too)
        skus = list(dict.fromkeys(m["sku"] for m in self.shops[shop_id].models.values()))
        if skus and not any(c.shop_id == shop_id for c in self.ads.campaigns.values()):
            self.ads.demo_activity(shop_id, random.Random(seed + 32_452_843), skus, days=30)
        return made

    # the seller's advertising (crossdock.testing.conformance.AdsEmulator)

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
        """Advertising of ``sku`` on ``day`` in the campaign of its item (made on first
        use, with a daily budget; a keyword makes it a search campaign bidding on it);
        returns the campaign id."""
        campaign = self.ads.campaign_of(int(account["shop_id"]), sku, keyword)
        self.ads.add_activity(
            campaign, day, impressions=impressions, clicks=clicks, spend=spend, orders=orders, sales=sales
        )
        return str(campaign.campaign_id)

    # listing content (crossdock.testing.listings.ListingsEmulator)

    def sample_category(self, site: str) -> str:
        """A leaf category every site's tree has (Water Bottles, with mandatory attributes
        of each kind: a drop-down, a number with its unit, a multi-select)."""
        return str(SAMPLE_CATEGORY)

    def live_listing(self, account: Mapping[str, Any], sku: str) -> Mapping[str, Any] | None:
        return self.listings.live(self.shops[int(account["shop_id"])], sku)

    def add_competitor_offer(self, account: Mapping[str, Any], sku: str, *, seller: str, price: str) -> None:
        """Shopee's Open API shows no other seller's offers (``competitors.read`` is not
        declared)."""
        raise NotImplementedError("Shopee's Open API has no competitors' offers")

    def revise_ad_activity(
        self, account: Mapping[str, Any], *, day: date, sku: str, orders: int, sales: str
    ) -> None:
        self.ads.revise(self.ads.campaign_of(int(account["shop_id"]), sku), day, orders=orders, sales=sales)

    def cancel_order(self, account: Mapping[str, Any], external_id: str) -> None:
        self.update_order(external_id, order_status="CANCELLED")

    # the buyer's side of after-sales (crossdock.testing.conformance.AfterSalesEmulator;
    # the demo's buyers call these too)

    def request_cancellation(self, account: Mapping[str, Any], external_id: str) -> str:
        """The buyer asks to cancel: the order waits ``IN_CANCEL``; the case id is the
        order_sn (a request has no id of its own)."""
        self.after_sales.buyer_requests_cancellation(external_id, "Need to change delivery address")
        return external_id

    def request_return(self, account: Mapping[str, Any], external_id: str, amount: str) -> str:
        """The buyer returns the order (completed first if it was not), with a photo and
        a reason, for ``amount``; returns the ``return_sn``."""
        status = self.orders[external_id]["order_status"]
        if status in ("CANCELLED", "UNPAID", "IN_CANCEL"):
            raise ValueError(f"order {external_id} is {status}: there is nothing to return")
        if status not in ("SHIPPED", "TO_CONFIRM_RECEIVE", "COMPLETED"):
            self.update_order(external_id, order_status="COMPLETED")
        return self.after_sales.buyer_returns(
            external_id,
            reason="PHYSICAL_DMG",
            text="The item arrived damaged.",
            photos=[f"https://cf.shopee.sg/file/return-{external_id}"],
            amount=amount,
        )

    def is_cancelled(self, account: Mapping[str, Any], external_id: str) -> bool:
        return bool(self.orders[external_id]["order_status"] == "CANCELLED")

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

    # the queue side (crossdock.testing.conformance.NotificationEmulator): the lost-push
    # list is the queue; every push is lost, as if the callback never answered

    def subscribe_notifications(
        self, account: Mapping[str, Any], base_url: str, *, valid: bool = True
    ) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
        self.enable_push(UNREACHABLE)
        return ({} if valid else {"partner_key": "not-the-partner-key"}), {}

    def lose_acknowledgements(self, count: int) -> None:
        """The next ``count`` confirmations fail, each through the plugin's in-place
        retries (4 tries)."""
        self.fail_confirms += 4 * count

    def redeliver(self) -> None:
        """Nothing to do: Shopee hands out every unconfirmed lost push on each read."""

    def pending_notifications(self) -> int:
        return len(self._retained())

    def messages_to(self, account: Mapping[str, Any], buyer: str) -> list[str]:
        shop = self.shops[int(account["shop_id"])]
        chat = next((c for c in shop.chats.values() if c["to_id"] == self.buyer_id(buyer)), None)
        return [m["content"]["text"] for m in (chat or {"messages": []})["messages"] if m["from_shop_id"]]
