"""A local Selling Partner API (and its Login with Amazon token endpoint).

Served: ``POST /auth/o2/token``, ``POST /tokens/2021-03-01/restrictedDataToken``,
``GET /orders/v0/orders``, ``GET /orders/v0/orders/{id}``,
``GET /orders/v0/orders/{id}/orderItems``,
``POST /orders/v0/orders/{id}/shipmentConfirmation``,
``PATCH /listings/2021-08-01/items/{sellerId}/{sku}`` and ``GET`` of the same (to read a
listing's quantity back), ``GET /orders/2026-01-01/orders/{id}`` (with its ``packages``),
the Finances API's financial event groups and events
(:mod:`crossdock_amazon.finances_emulator`), SQS for notifications
(:mod:`crossdock_amazon.sqs_emulator`), and Buy Shipping: the Merchant Fulfillment API v0
and the Shipping API v2's ``getTracking`` (:mod:`crossdock_amazon.shipping_emulator`).
Shipping addresses and buyer names are PII: only a
Restricted Data Token shows them, as on Amazon.
"""

from __future__ import annotations

import json
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from crossdock.providers import TrackingReason, TrackingStatus
from crossdock.testing.emulator import Emulator, Faults, Reply, Request, credentials_guard
from crossdock_amazon.finances_emulator import Finances
from crossdock_amazon.marketplace import SITES
from crossdock_amazon.shipping_emulator import MerchantFulfillment
from crossdock_amazon.sqs_emulator import SqsService, order_change

__all__ = ["AmazonEmulator"]

TOKEN_TTL = 3600
#: The default usage plans (requests per second) of the operations served.
USAGE_PLANS = {
    "createRestrictedDataToken": 1.0,
    "getOrders": 0.0167,
    "getOrder": 0.5,
    "getOrderItems": 0.5,
    "confirmShipment": 2.0,
    "patchListingsItem": 5.0,
    "getListingsItem": 5.0,
    "listFinancialEventGroups": 0.5,
    "listFinancialEventsByGroupId": 0.5,
    "getOrder_2026_01_01": 0.5,
    # merchantFulfillmentV0.json usage plans
    "getEligibleShipmentServices": 6.0,
    "createShipment": 2.0,
    "getShipment": 1.0,
    "cancelShipment": 1.0,
    # shippingV2.json
    "getTracking": 80.0,
}
MARKETPLACES = {s.external_id: s for s in SITES}
POSTCODES = {
    "US": ("10001", "NY", "New York"),
    "GB": ("EC1A 1BB", "", "London"),
    "DE": ("10115", "", "Berlin"),
    "FR": ("75001", "", "Paris"),
    "JP": ("100-0001", "Tokyo", "Chiyoda"),
    "SG": ("048616", "", "Singapore"),
}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@dataclass
class Seller:
    seller_id: str
    client_id: str
    client_secret: str
    refresh_token: str
    marketplace_id: str
    listings: dict[str, dict[str, Any]] = field(default_factory=dict)


class AmazonEmulator(Emulator):
    name = "amazon"
    default_site = "US"
    fault_free = frozenset({"/auth/o2/token"})

    def __init__(self, faults: Faults | None = None, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(faults)
        self.clock = clock
        self.sellers: dict[str, Seller] = {}
        self.tokens: dict[str, tuple[str, float, bool]] = {}  # token -> (seller, expiry, restricted)
        # SP-API says 403 Unauthorized for an absent or unknown token, and that it expired
        self.auth_guard = credentials_guard(
            lambda: self.clock(),
            refused=lambda: self.error(403, "Unauthorized", "Access to requested resource is denied."),
            expired=lambda: self.error(403, "Unauthorized", "The access token you provided has expired."),
        )
        self.orders: dict[str, dict[str, Any]] = {}
        self.items: dict[str, list[dict[str, Any]]] = {}
        self.confirmations: dict[str, dict[str, Any]] = {}
        #: operation -> requests per second this emulated selling partner is granted; every
        #: answer announces it in ``x-amzn-RateLimit-Limit``, as Amazon does
        self.usage_plans: dict[str, float] = dict(USAGE_PLANS)
        #: the notification destination: a local SQS, and which seller's changes go where
        self.sqs = SqsService(clock)
        self.subscriptions: dict[str, str] = {}  # seller id -> queue name
        self.application_id = f"amzn1.sp.solution.{secrets.token_hex(8)}"
        self.route("POST", "/", self.sqs.handle)
        self.finances = Finances(clock, _iso)
        self.mfn = MerchantFulfillment(self, clock)
        planned = self._planned
        self.route("POST", "/auth/o2/token", self._lwa)
        self.route(
            "POST", "/tokens/2021-03-01/restrictedDataToken", planned("createRestrictedDataToken", self._rdt)
        )
        self.route("GET", "/orders/v0/orders", planned("getOrders", self._orders))
        self.route_pattern("GET", r"/orders/v0/orders/([^/]+)", planned("getOrder", self._order))
        self.route_pattern(
            "GET", r"/orders/v0/orders/([^/]+)/orderItems", planned("getOrderItems", self._items)
        )
        self.route_pattern(
            "POST",
            r"/orders/v0/orders/([^/]+)/shipmentConfirmation",
            planned("confirmShipment", self._confirm),
        )
        self.route_pattern(
            "PATCH",
            r"/listings/2021-08-01/items/([^/]+)/([^/]+)",
            planned("patchListingsItem", self._patch_listing),
        )
        self.route_pattern(
            "GET",
            r"/listings/2021-08-01/items/([^/]+)/([^/]+)",
            planned("getListingsItem", self._get_listing),
        )
        self.route_pattern(
            "GET", r"/orders/2026-01-01/orders/([^/]+)", planned("getOrder_2026_01_01", self._order_2026)
        )
        mfn = self.mfn
        self.route(
            "POST", "/mfn/v0/eligibleShippingServices", planned("getEligibleShipmentServices", mfn.eligible)
        )
        self.route("POST", "/mfn/v0/shipments", planned("createShipment", mfn.create))
        self.route_pattern("GET", r"/mfn/v0/shipments/([^/]+)", planned("getShipment", mfn.get))
        self.route_pattern("DELETE", r"/mfn/v0/shipments/([^/]+)", planned("cancelShipment", mfn.cancel))
        self.route("GET", "/shipping/v2/tracking", planned("getTracking", mfn.tracking))
        self.route(
            "GET",
            "/finances/v0/financialEventGroups",
            planned("listFinancialEventGroups", self._event_groups),
        )
        self.route_pattern(
            "GET",
            r"/finances/v0/financialEventGroups/([^/]+)/financialEvents",
            planned("listFinancialEventsByGroupId", self._events),
        )

    def _planned(
        self, operation: str, handler: Callable[[Request], Awaitable[Reply]]
    ) -> Callable[[Request], Awaitable[Reply]]:
        async def answer(request: Request) -> Reply:
            reply = await handler(request)
            reply.headers.setdefault("x-amzn-RateLimit-Limit", f"{self.usage_plans[operation]:g}")
            reply.headers.setdefault("x-amzn-RequestId", secrets.token_hex(16))
            return reply

        return answer

    # ------------------------------------------------------------------ envelope and routing

    def error_body(self, status: int, code: str, message: str) -> Any:
        code = {
            "throttled": "QuotaExceeded",
            "server_error": "InternalFailure",
            "timeout": "InternalFailure",
            "not_found": "NotFound",
            "bad_request": "InvalidInput",
        }.get(code, code)
        return {"errors": [{"code": code, "message": message, "details": ""}]}

    # ------------------------------------------------------------------ data

    def add_seller(self, marketplace_id: str = "ATVPDKIKX0DER") -> dict[str, Any]:
        seller = Seller(
            seller_id=f"A{secrets.token_hex(6).upper()}",
            client_id=f"amzn1.application-oa2-client.{secrets.token_hex(8)}",
            client_secret=secrets.token_hex(16),
            refresh_token=f"Atzr|{secrets.token_hex(24)}",
            marketplace_id=marketplace_id,
        )
        self.sellers[seller.seller_id] = seller
        return {
            "seller_id": seller.seller_id,
            "lwa_client_id": seller.client_id,
            "lwa_client_secret": seller.client_secret,
            "refresh_token": seller.refresh_token,
            "marketplace_id": marketplace_id,
        }

    def _add_order(
        self,
        seller_id: str,
        order_id: str,
        lines: Sequence[tuple[str, int, str]],
        *,
        status: str = "Unshipped",
        updated: float | None = None,
        afn: bool = False,
        buyer: str = "Jane Doe",
    ) -> dict[str, Any]:
        seller = self.sellers[seller_id]
        site = MARKETPLACES[seller.marketplace_id]
        now = updated or self.clock()
        postcode, region, city = POSTCODES.get(site.country, ("10001", "", "Capital"))
        total = sum(float(p) * q for _, q, p in lines)
        order = {
            "AmazonOrderId": order_id,
            "PurchaseDate": _iso(now - 120),
            "LastUpdateDate": _iso(now),
            "OrderStatus": status,
            "FulfillmentChannel": "AFN" if afn else "MFN",
            "OrderTotal": {"CurrencyCode": site.currency, "Amount": f"{total:.2f}"},
            "MarketplaceId": seller.marketplace_id,
            "EarliestShipDate": _iso(now),
            "LatestShipDate": _iso(now + 2 * 86400),
            "IsPrime": False,
            "NumberOfItemsUnshipped": sum(q for _, q, _ in lines),
            "ShippingAddress": {
                "Name": buyer,
                "AddressLine1": "1 Main Street",
                "City": city,
                "StateOrRegion": region,
                "PostalCode": postcode,
                "CountryCode": site.country,
            },
            # one anonymised address per buyer, as Amazon relays them (not per first name)
            "BuyerInfo": {"BuyerEmail": f"{'.'.join(buyer.lower().split())}@marketplace.example"},
            "_seller": seller_id,
        }
        self.orders[order_id] = order
        self.items[order_id] = [
            {
                "OrderItemId": f"{order_id}-{i}",
                "ASIN": f"B0{abs(hash(sku)) % 10**8:08d}",
                "SellerSKU": sku,
                "Title": f"Product {sku}",
                "QuantityOrdered": qty,
                "QuantityShipped": 0,
                "ItemPrice": {"CurrencyCode": site.currency, "Amount": f"{float(price) * qty:.2f}"},
            }
            for i, (sku, qty, price) in enumerate(lines, 1)
        ]
        self._order_changed(order)
        return order

    def update_order(self, order_id: str, **changes: Any) -> None:
        order = self.orders[order_id]
        order.update(changes)
        order["LastUpdateDate"] = _iso(max(self.clock(), _epoch(order["LastUpdateDate"]) + 1))
        self._order_changed(order)

    def subscribe(self, account: Mapping[str, Any], queue: str = "sp-api-notifications") -> dict[str, str]:
        """Route the seller's ``ORDER_CHANGE`` notifications to an SQS queue; returns the
        queue URL and the AWS keys that may read it."""
        self.subscriptions[str(account["seller_id"])] = queue
        return {"queue_url": self.sqs.create_queue(queue), **self.sqs.issue_keys()}

    # the notification and settlement conformance suites' hooks

    def subscribe_notifications(
        self, account: Mapping[str, Any], base_url: str, *, valid: bool = True
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """An SQS subscription: the AWS keys go with the credentials, the queue URL and the
        SQS endpoint (this emulator) with the settings."""
        queue = self.subscribe(account)
        secret = queue["aws_secret_access_key"] if valid else "not-the-secret"
        return (
            {"aws_access_key_id": queue["aws_access_key_id"], "aws_secret_access_key": secret},
            {"notifications_queue_url": queue["queue_url"], "sqs_endpoint": base_url},
        )

    def lose_acknowledgements(self, count: int) -> None:
        self.sqs.fail_deletes = count

    def redeliver(self) -> None:
        self.sqs.expire_visibility()

    def pending_notifications(self) -> int:
        return sum(len(q.messages) for q in self.sqs.queues.values())

    def close_payout(self, account: Mapping[str, Any]) -> None:
        self.finances.close(str(account["seller_id"]))

    def _order_changed(self, order: Mapping[str, Any]) -> None:
        queue = self.subscriptions.get(order["_seller"])
        if queue is not None:
            notification = order_change(order, order["_seller"], self.application_id, self.clock())
            self.sqs.send(queue, json.dumps(notification))

    def generate(self, seller_id: str, count: int, *, seed: int = 1) -> list[str]:
        rng = random.Random(seed)
        skus = list(self.sellers[seller_id].listings) or ["SKU-1"]
        made = []
        for i in range(count):
            status = rng.choices(["Unshipped", "Pending", "Canceled", "Shipped"], [78, 6, 8, 8])[0]
            lines = {
                rng.choice(skus): (rng.randint(1, 2), f"{rng.randint(8, 120)}.99")
                for _ in range(rng.randint(1, 2))
            }
            order_id = f"{rng.randint(100, 999)}-{i:07d}-{seed:07d}"
            self._add_order(
                seller_id,
                order_id,
                [(s, q, p) for s, (q, p) in lines.items()],
                status=status,
                updated=self.clock() - rng.randint(60, 2 * 86400),
                afn=rng.random() < 0.1,
                buyer=f"Buyer {rng.randint(1, 10**5)}",
            )
            made.append(order_id)
        return made

    # ------------------------------------------------------------------ auth

    async def _lwa(self, request: Request) -> Reply:
        form = dict(parse_qsl(request.body.decode()))
        seller = next((s for s in self.sellers.values() if s.client_id == form.get("client_id")), None)
        if seller is None or form.get("client_secret") != seller.client_secret:
            return Reply(
                401, {"error": "invalid_client", "error_description": "Client authentication failed"}
            )
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != seller.refresh_token:
            return Reply(
                400,
                {"error": "invalid_grant", "error_description": "The request has an invalid grant parameter"},
            )
        token = f"Atza|{secrets.token_hex(24)}"
        self.tokens[token] = (seller.seller_id, self.clock() + TOKEN_TTL, False)
        return Reply(
            200,
            {
                "access_token": token,
                "refresh_token": seller.refresh_token,
                "token_type": "bearer",
                "expires_in": TOKEN_TTL,
            },
        )

    def _seller(self, request: Request) -> tuple[Seller, bool] | Reply:
        token = request.headers.get("x-amz-access-token", "")
        entry = self.tokens.get(token)
        checked = self.auth_guard.check(token, entry, expires_at=entry[1] if entry else None)
        if isinstance(checked, Reply):
            return checked
        seller_id, _, restricted = checked
        return self.sellers[seller_id], restricted

    def seller_of(self, request: Request) -> Seller | Reply:
        who = self._seller(request)
        return who if isinstance(who, Reply) else who[0]

    @staticmethod
    def marketplace_country(marketplace_id: str) -> str:
        return MARKETPLACES[marketplace_id].country

    @staticmethod
    def marketplace_currency(marketplace_id: str) -> str:
        return MARKETPLACES[marketplace_id].currency

    def issue_token(self, account: Mapping[str, Any]) -> dict[str, Any]:
        """An access token for the seller, as the LWA refresh grant would give (for tests that
        build a connection without refreshing first)."""
        token = f"Atza|{secrets.token_hex(24)}"
        expires = self.clock() + TOKEN_TTL
        self.tokens[token] = (str(account["seller_id"]), expires, False)
        return {**account, "access_token": token, "access_expires_at": int(expires)}

    def expire_tokens(self) -> None:
        for token, (seller, _, restricted) in list(self.tokens.items()):
            self.tokens[token] = (seller, self.clock() - 1, restricted)

    async def _rdt(self, request: Request) -> Reply:
        who = self._seller(request)
        if isinstance(who, Reply):
            return who
        seller, _ = who
        resources = request.json().get("restrictedResources") or []
        if not resources:
            return self.error(400, "InvalidInput", "restrictedResources is required")
        token = f"Atz.sprdt|{secrets.token_hex(24)}"
        self.tokens[token] = (seller.seller_id, self.clock() + TOKEN_TTL, True)
        return Reply(200, {"restrictedDataToken": token, "expiresIn": TOKEN_TTL})

    # ------------------------------------------------------------------ orders

    def _public(self, order: dict[str, Any], restricted: bool) -> dict[str, Any]:
        shown = {k: v for k, v in order.items() if not k.startswith("_")}
        if not restricted:
            address = shown.pop("ShippingAddress")
            shown["ShippingAddress"] = {
                k: address[k] for k in ("City", "StateOrRegion", "PostalCode", "CountryCode")
            }
            shown.pop("BuyerInfo", None)
        return shown

    async def _orders(self, request: Request) -> Reply:
        who = self._seller(request)
        if isinstance(who, Reply):
            return who
        seller, restricted = who
        q = request.query
        if not q.get("MarketplaceIds"):
            return self.error(400, "InvalidInput", "MarketplaceIds is required")
        if "NextToken" in q:
            try:
                start, since = (int(x) for x in q["NextToken"].split("."))
            except ValueError:
                return self.error(400, "InvalidInput", "Invalid NextToken")
        else:
            if ("LastUpdatedAfter" in q) == ("CreatedAfter" in q):
                return self.error(
                    400, "InvalidInput", "Exactly one of CreatedAfter and LastUpdatedAfter is required"
                )
            since, start = int(_epoch(q.get("LastUpdatedAfter") or q["CreatedAfter"])), 0
        size = int(q.get("MaxResultsPerPage", 100))
        if not 1 <= size <= 100:
            return self.error(400, "InvalidInput", "MaxResultsPerPage must be between 1 and 100")
        field_name = "LastUpdateDate" if "CreatedAfter" not in q else "PurchaseDate"
        rows = sorted(
            (
                o
                for o in self.orders.values()
                if o["_seller"] == seller.seller_id and _epoch(o[field_name]) >= since
            ),
            key=lambda o: (o[field_name], o["AmazonOrderId"]),
        )
        chunk, following = self.page(rows, start, size)
        payload: dict[str, Any] = {
            "Orders": [self._public(o, restricted) for o in chunk],
            "LastUpdatedBefore": _iso(self.clock() - 120),
        }
        if following is not None:
            payload["NextToken"] = f"{following}.{since}"
        return Reply(200, {"payload": payload})

    def _own_order(self, request: Request) -> tuple[dict[str, Any], bool] | Reply:
        who = self._seller(request)
        if isinstance(who, Reply):
            return who
        seller, restricted = who
        order = self.orders.get(request.args[0])
        if order is None or order["_seller"] != seller.seller_id:
            return self.error(404, "NotFound", f"Order {request.args[0]} not found")
        return order, restricted

    async def _order(self, request: Request) -> Reply:
        found = self._own_order(request)
        if isinstance(found, Reply):
            return found
        order, restricted = found
        return Reply(200, {"payload": self._public(order, restricted)})

    async def _items(self, request: Request) -> Reply:
        found = self._own_order(request)
        if isinstance(found, Reply):
            return found
        order, _ = found
        items = self.items[order["AmazonOrderId"]]
        start = int(request.query.get("NextToken") or 0)
        chunk, following = self.page(items, start, 30)
        payload: dict[str, Any] = {"AmazonOrderId": order["AmazonOrderId"], "OrderItems": chunk}
        if following is not None:
            payload["NextToken"] = str(following)
        return Reply(200, {"payload": payload})

    async def _confirm(self, request: Request) -> Reply:
        found = self._own_order(request)
        if isinstance(found, Reply):
            return found
        order, _ = found
        body = request.json()
        package = body.get("packageDetail") or {}
        for required in ("packageReferenceId", "carrierCode", "trackingNumber", "shipDate", "orderItems"):
            if not package.get(required):
                return self.error(400, "InvalidInput", f"packageDetail.{required} is required")
        if not str(package["packageReferenceId"]).isdigit() or int(package["packageReferenceId"]) < 1:
            # ordersV0.json PackageReferenceId: "Only positive numeric values are supported."
            return self.error(
                400,
                "InvalidInput",
                f"packageDetail.packageReferenceId {package['packageReferenceId']!r} must be a "
                f"positive number",
            )
        if package["carrierCode"] == "Other" and not package.get("carrierName"):
            return self.error(
                400, "InvalidInput", 'packageDetail.carrierName is required when carrierCode is "Other"'
            )
        if body.get("marketplaceId") != order["MarketplaceId"]:
            return self.error(400, "InvalidInput", "marketplaceId does not match the order")
        previous = self.confirmations.get(order["AmazonOrderId"])
        if previous is not None:
            if previous["packageReferenceId"] == package["packageReferenceId"]:
                return Reply(204, b"")  # the same package again: already confirmed
            return self.error(400, "InvalidInput", "The order has already been confirmed")
        if order["OrderStatus"] not in ("Unshipped", "PartiallyShipped"):
            return self.error(
                400, "InvalidInput", f"An order in status {order['OrderStatus']} cannot be confirmed"
            )
        known = {i["OrderItemId"]: i for i in self.items[order["AmazonOrderId"]]}
        for line in package["orderItems"]:
            if line.get("orderItemId") not in known:
                return self.error(400, "InvalidInput", f"Unknown orderItemId {line.get('orderItemId')}")
            known[line["orderItemId"]]["QuantityShipped"] += int(line.get("quantity", 0))
        self.confirmations[order["AmazonOrderId"]] = package
        self.update_order(order["AmazonOrderId"], OrderStatus="Shipped", NumberOfItemsUnshipped=0)
        self.finances.shipped(order["_seller"], order, self.items[order["AmazonOrderId"]])
        return Reply(204, b"")

    async def _order_2026(self, request: Request) -> Reply:
        """Orders 2026-01-01 ``getOrder``: the fields Crossdock reads, ``packages`` (FBM
        orders only) when ``includedData`` names PACKAGES."""
        found = self._own_order(request)
        if isinstance(found, Reply):
            return found
        order, _ = found
        included = {x for x in request.query.get("includedData", "").split(",") if x}
        allowed = {"BUYER", "RECIPIENT", "PROCEEDS", "EXPENSE", "PROMOTION", "CANCELLATION"}
        allowed |= {"FULFILLMENT", "PACKAGES", "TAX", "PAYMENT", "FULFILLMENT_ORDERS"}
        if included - allowed:
            return self.error(
                400, "InvalidInput", f"Invalid includedData: {', '.join(sorted(included - allowed))}"
            )
        order_id = order["AmazonOrderId"]
        site = MARKETPLACES[order["MarketplaceId"]]
        shown: dict[str, Any] = {
            "orderId": order_id,
            "createdTime": order["PurchaseDate"],
            "lastUpdatedTime": order["LastUpdateDate"],
            "salesChannel": {
                "channelName": "AMAZON",
                "marketplaceId": order["MarketplaceId"],
                "marketplaceName": site.name,
            },
            "orderItems": [
                {
                    "orderItemId": i["OrderItemId"],
                    "quantityOrdered": i["QuantityOrdered"],
                    "product": {"asin": i["ASIN"], "sellerSku": i["SellerSKU"], "title": i["Title"]},
                }
                for i in self.items[order_id]
            ],
        }
        if "PACKAGES" in included and order["FulfillmentChannel"] == "MFN":
            shown["packages"] = self.mfn.packages(order_id)
        return Reply(200, {"order": shown})

    # ------------------------------------------------------------------ finances

    async def _event_groups(self, request: Request) -> Reply:
        who = self._seller(request)
        if isinstance(who, Reply):
            return who
        after = request.query.get("FinancialEventGroupStartedAfter")
        try:
            since = _epoch(after) if after else None
        except ValueError:
            return self.error(400, "InvalidInput", "FinancialEventGroupStartedAfter is not an ISO 8601 time")
        return self.finances.list_groups(who[0].seller_id, request.query, since)

    async def _events(self, request: Request) -> Reply:
        who = self._seller(request)
        if isinstance(who, Reply):
            return who
        return self.finances.list_events(who[0].seller_id, request.args[0], request.query)

    # ------------------------------------------------------------------ listings

    def _listing(self, request: Request) -> tuple[Seller, dict[str, Any]] | Reply:
        who = self._seller(request)
        if isinstance(who, Reply):
            return who
        seller, _ = who
        seller_id, sku = request.args
        if seller_id != seller.seller_id:
            return self.error(403, "Unauthorized", "Access to requested resource is denied.")
        if request.query.get("marketplaceIds") != seller.marketplace_id:
            return self.error(400, "InvalidInput", "marketplaceIds is required")
        listing = seller.listings.get(sku)
        if listing is None:
            return self.error(404, "NotFound", f"SKU {sku} not found")
        return seller, listing

    async def _patch_listing(self, request: Request) -> Reply:
        found = self._listing(request)
        if isinstance(found, Reply):
            return found
        _, listing = found
        body = request.json()
        issues = []
        for patch in body.get("patches") or []:
            if patch.get("path") == "/attributes/fulfillment_availability" and patch.get("op") in (
                "replace",
                "merge",
            ):
                value = (patch.get("value") or [{}])[0]
                quantity = value.get("quantity")
                if not isinstance(quantity, int) or quantity < 0:
                    issues.append(
                        {
                            "code": "4000001",
                            "message": "quantity must be a whole number >= 0",
                            "severity": "ERROR",
                        }
                    )
                else:
                    listing["quantity"] = quantity
            elif patch.get("path") == "/attributes/purchasable_offer" and patch.get("op") in (
                "replace",
                "merge",
            ):
                offer = (patch.get("value") or [{}])[0]
                try:
                    amount = str(offer["our_price"][0]["schedule"][0]["value_with_tax"])
                    float(amount)
                except (KeyError, IndexError, TypeError, ValueError):
                    issues.append(
                        {
                            "code": "4000001",
                            "message": "our_price.schedule.value_with_tax is required",
                            "severity": "ERROR",
                        }
                    )
                else:
                    listing["price"] = amount
                    listing["currency"] = offer.get("currency")
            else:
                issues.append(
                    {
                        "code": "4000003",
                        "message": f"unsupported patch {patch.get('path')}",
                        "severity": "ERROR",
                    }
                )
        status = "INVALID" if issues else "ACCEPTED"
        return Reply(
            200,
            {
                "sku": request.args[1],
                "status": status,
                "submissionId": secrets.token_hex(16),
                "issues": issues,
            },
        )

    async def _get_listing(self, request: Request) -> Reply:
        found = self._listing(request)
        if isinstance(found, Reply):
            return found
        _, listing = found
        return Reply(
            200,
            {
                "sku": request.args[1],
                "attributes": {
                    "fulfillment_availability": [
                        {"fulfillment_channel_code": "DEFAULT", "quantity": listing["quantity"]}
                    ]
                },
            },
        )

    # ------------------------------------------------------------------ seller side (conformance, demo)

    def open_account(self, site: str) -> dict[str, Any]:
        marketplace_id = next(s.external_id for s in SITES if s.code == site)
        return self.add_seller(str(marketplace_id))

    def add_product(self, account: Mapping[str, Any], sku: str, stock: int = 0) -> str:
        self.sellers[account["seller_id"]].listings[sku] = {"quantity": stock}
        return sku

    def add_order(
        self,
        account: Mapping[str, Any] | str,
        external_id: str,
        lines: Sequence[tuple[str, int, str]],
        **kwargs: Any,
    ) -> dict[str, Any]:
        seller_id = account if isinstance(account, str) else str(account["seller_id"])
        return self._add_order(seller_id, external_id, lines, **kwargs)

    def generate_orders(self, account: Mapping[str, Any], count: int, seed: int) -> list[str]:
        return self.generate(str(account["seller_id"]), count, seed=seed)

    def cancel_order(self, account: Mapping[str, Any], external_id: str) -> None:
        self.update_order(external_id, OrderStatus="Canceled")

    def tracking_number(self, account: Mapping[str, Any], external_id: str) -> str | None:
        package = self.confirmations.get(external_id)
        return package["trackingNumber"] if package else None

    def stock(self, account: Mapping[str, Any], sku: str) -> int:
        return int(self.sellers[str(account["seller_id"])].listings[sku]["quantity"])

    def price(self, account: Mapping[str, Any], sku: str) -> str | None:
        price = self.sellers[str(account["seller_id"])].listings[sku].get("price")
        return f"{float(price):.2f}" if price is not None else None

    # ------------------------------------------------------------------ carrier side (Buy Shipping)

    def name_order(self, reference: str, order_id: str) -> None:
        """Labels bought for ``order_id`` count for ``reference`` (see :meth:`labels_bought`)."""
        self.mfn.references[reference] = order_id

    def labels_bought(self, reference: str) -> int:
        return self.mfn.labels_bought(reference)

    def scan(
        self,
        tracking_number: str,
        status: TrackingStatus,
        reason: TrackingReason | None = None,
        at: datetime | None = None,
    ) -> None:
        self.mfn.scan(tracking_number, status, reason, at)
