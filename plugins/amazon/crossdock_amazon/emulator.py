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
Restricted Data Token shows them in Orders v0, as on Amazon, and an RDT opens only the
method and path it was made for (tokens_2021-03-01.json ``RestrictedResource``). Orders
2026-01-01 (``searchOrders``, ``getOrder``: :mod:`crossdock_amazon.orders_emulator`) show
them with ``includedData`` and no RDT. The Notifications API (destinations, subscriptions:
:mod:`crossdock_amazon.notifications_emulator`) decides which seller's ``ORDER_CHANGE``
events reach which SQS queue.

The same app also serves the **Amazon Ads API** (profiles, Sponsored Products campaigns,
Reporting v3: :mod:`crossdock_amazon.ads_emulator`), in its own envelopes and with its own
grant (``ads_refresh_token`` / ``ads_profile_id`` in each account), and the Reports API's
Sales and Traffic report (:mod:`crossdock_amazon.traffic_emulator`), and listing content:
product type definitions and their JSON Schemas, ``putListingsItem`` validated against
them, ``getListingsItem`` with ``includedData``, and the Product Pricing API's
``getItemOffers`` (:mod:`crossdock_amazon.listings_emulator`).

A 403 ``Unauthorized`` says in ``details`` whether the access token expired ("The access
token you provided has expired."), is unknown ("... is revoked, malformed or invalid.")
or missing; a role the application lacks (fault injection: :meth:`AmazonEmulator.deny`)
and an RDT used elsewhere say nothing there, as on Amazon (issues
amzn/selling-partner-api-docs#2147, #2553).
"""

from __future__ import annotations

import contextvars
import dataclasses
import hashlib
import json
import random
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from crossdock.providers import TrackingReason, TrackingStatus
from crossdock.testing.emulator import Emulator, Faults, Reply, Request, credentials_guard
from crossdock_amazon.ads_emulator import ADS_SCOPE, Advertising, ads_error, ads_path
from crossdock_amazon.aftersales_emulator import AfterSales
from crossdock_amazon.finances_emulator import Finances
from crossdock_amazon.listings_emulator import USAGE_PLANS as LISTINGS_PLANS
from crossdock_amazon.listings_emulator import ListingsDesk
from crossdock_amazon.marketplace import SITES
from crossdock_amazon.notifications_emulator import NOTIFICATIONS_SCOPE, Notifications
from crossdock_amazon.orders_emulator import (
    ORDER_ID,
    included_data,
    parse_time,
    priced,
    render,
    search_query,
    settled,
)
from crossdock_amazon.shipping_emulator import MerchantFulfillment
from crossdock_amazon.sqs import ATTEMPTS as SQS_ATTEMPTS
from crossdock_amazon.sqs_emulator import SqsService, order_change
from crossdock_amazon.traffic_emulator import TrafficBook

__all__ = ["AmazonEmulator", "asin_of"]

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
    "searchOrders": 0.0056,  # orders_2026-01-01.json usage plan
    # notifications.json usage plans
    "getDestinations": 1.0,
    "createDestination": 1.0,
    "getSubscription": 1.0,
    "createSubscription": 1.0,
    # merchantFulfillmentV0.json usage plans
    "getEligibleShipmentServices": 6.0,
    "createShipment": 2.0,
    "getShipment": 1.0,
    "cancelShipment": 1.0,
    # shippingV2.json
    "getTracking": 80.0,
    # feeds_2021-06-30.json, reports_2021-06-30.json
    "createFeedDocument": 0.5,
    "createFeed": 0.0083,
    "getFeed": 2.0,
    "getFeedDocument": 0.0222,
    "createReport": 0.0167,
    "getReports": 0.0222,
    "getReport": 2.0,
    "getReportDocument": 0.0167,
}
MARKETPLACES = {s.external_id: s for s in SITES}
PATCH_OPS = ("add", "replace", "merge", "delete")
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


DENIED = "Access to requested resource is denied."
#: the path of the request being answered (errors take the envelope of its API)
_PATH: contextvars.ContextVar[str] = contextvars.ContextVar("amazon_emulator_path", default="")


def asin_of(sku: str) -> str:
    """The emulator's ASIN for a SKU (the same in orders, reports and ads)."""
    return f"B0{int(hashlib.sha256(sku.encode()).hexdigest(), 16) % 10**8:08d}"


@dataclass
class Seller:
    seller_id: str
    client_id: str
    client_secret: str
    refresh_token: str
    marketplace_id: str
    listings: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: every marketplace the seller sells in (the first is ``marketplace_id``)
    marketplaces: tuple[str, ...] = ()


@dataclass(frozen=True)
class Grant:
    """What an access token lets its holder do."""

    seller: str | None  #: None: a grantless token (LWA client_credentials)
    expires: float
    client_id: str = ""
    #: a Restricted Data Token: the (method, path) pairs it was made for
    restricted: tuple[tuple[str, str], ...] = ()
    scope: str = ""

    @property
    def is_rdt(self) -> bool:
        return bool(self.restricted)

    def opens(self, method: str, path: str) -> bool:
        """Whether an RDT covers this call: its method, and its path exactly or with
        ``{name}`` standing for one path segment (``/mfn/v0/shipments/{shipmentId}``)."""
        for allowed_method, allowed in self.restricted:
            pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(allowed)) + "$"
            if allowed_method == method and re.match(pattern, path):
                return True
        return False


class AmazonEmulator(Emulator):
    name = "amazon"
    default_site = "US"
    fault_free = frozenset({"/auth/o2/token"})

    def __init__(
        self,
        faults: Faults | None = None,
        *,
        clock: Callable[[], float] = time.time,
        open_with_token: bool = False,
    ) -> None:
        super().__init__(faults)
        self.clock = clock
        #: :meth:`open_account` gives an access token with the account, as a refresh would
        #: (for suites that call the provider before any refresh: the listings suite)
        self.open_with_token = open_with_token
        self.sellers: dict[str, Seller] = {}
        self.tokens: dict[str, Grant] = {}
        # SP-API: 403 Unauthorized, and what is wrong with the token in ``details``
        self.auth_guard = credentials_guard(
            lambda: self.clock(),
            refused=lambda: self.denied("The access token you provided is revoked, malformed or invalid."),
            missing=lambda: self.denied("Access token is missing in the request header."),
            expired=lambda: self.denied("The access token you provided has expired."),
        )
        #: operations answered 403 with no word on the token: a role the application lacks
        self.denied_operations: set[str] = set()
        #: searchOrders pagination tokens -> (next start, the query they belong to, expiry)
        self.search_tokens: dict[str, tuple[int, tuple[Any, ...], float]] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.items: dict[str, list[dict[str, Any]]] = {}
        self.confirmations: dict[str, dict[str, Any]] = {}
        #: operation -> requests per second this emulated selling partner is granted; every
        #: answer announces it in ``x-amzn-RateLimit-Limit``, as Amazon does
        self.usage_plans: dict[str, float] = {**USAGE_PLANS, **LISTINGS_PLANS}
        #: the notification destination: a local SQS, and which seller's changes go where
        self.sqs = SqsService(clock)
        self.application_id = f"amzn1.sp.solution.{secrets.token_hex(8)}"
        self.notifications = Notifications(self.error, self._grantless, self._subscriber)
        self.route("POST", "/", self.sqs.handle)
        self.finances = Finances(clock, _iso)
        self.mfn = MerchantFulfillment(self, clock)
        self.aftersales = AfterSales(self, clock)
        #: the Amazon Ads API (profiles, campaigns, Reporting v3) and the visits behind the
        #: Sales and Traffic report
        self.ads = Advertising(self, clock)
        self.traffic = TrafficBook(self)
        #: product type definitions, whole listings and other sellers' offers
        self.listings_desk = ListingsDesk(self, clock)
        self.own_address = ""
        #: the buyers' after-sales activity, once a backlog was generated (see :meth:`generate`)
        self.activity: random.Random | None = None
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
        desk = self.listings_desk
        self.route_pattern(
            "GET",
            r"/listings/2021-08-01/items/([^/]+)/([^/]+)",
            planned("getListingsItem", desk.get_listing),
        )
        self.route_pattern(
            "PUT",
            r"/listings/2021-08-01/items/([^/]+)/([^/]+)",
            planned("putListingsItem", desk.put_listing),
        )
        self.route(
            "GET",
            "/definitions/2020-09-01/productTypes",
            planned("searchDefinitionsProductTypes", desk.search_types),
        )
        self.route_pattern(
            "GET",
            r"/definitions/2020-09-01/productTypes/([^/]+)",
            planned("getDefinitionsProductType", desk.get_type),
        )
        # the schemas' pre-signed links (S3 in production: no SP-API token)
        self.route_pattern("GET", r"/definitions-schemas/([^/]+)\.json", desk.schema_document)
        self.route_pattern(
            "GET", r"/products/pricing/v0/items/([^/]+)/offers", planned("getItemOffers", desk.item_offers)
        )
        self.route("GET", "/orders/2026-01-01/orders", planned("searchOrders", self._search_orders))
        self.route_pattern(
            "GET", r"/orders/2026-01-01/orders/([^/]+)", planned("getOrder_2026_01_01", self._order_2026)
        )
        notes = self.notifications
        self.route(
            "GET", "/notifications/v1/destinations", planned("getDestinations", notes.get_destinations)
        )
        self.route(
            "POST", "/notifications/v1/destinations", planned("createDestination", notes.create_destination)
        )
        self.route_pattern(
            "GET",
            r"/notifications/v1/subscriptions/([^/]+)",
            planned("getSubscription", notes.get_subscription),
        )
        self.route_pattern(
            "POST",
            r"/notifications/v1/subscriptions/([^/]+)",
            planned("createSubscription", notes.create_subscription),
        )
        mfn = self.mfn
        self.route(
            "POST", "/mfn/v0/eligibleShippingServices", planned("getEligibleShipmentServices", mfn.eligible)
        )
        self.route("POST", "/mfn/v0/shipments", planned("createShipment", mfn.create))
        self.route_pattern("GET", r"/mfn/v0/shipments/([^/]+)", planned("getShipment", mfn.get))
        self.route_pattern("DELETE", r"/mfn/v0/shipments/([^/]+)", planned("cancelShipment", mfn.cancel))
        self.route("GET", "/shipping/v2/tracking", planned("getTracking", mfn.tracking))
        after = self.aftersales
        self.route(
            "POST", "/feeds/2021-06-30/documents", planned("createFeedDocument", after.create_document)
        )
        self.route("POST", "/feeds/2021-06-30/feeds", planned("createFeed", after.create_feed))
        self.route_pattern("GET", r"/feeds/2021-06-30/feeds/([^/]+)", planned("getFeed", after.get_feed))
        self.route_pattern(
            "GET", r"/feeds/2021-06-30/documents/([^/]+)", planned("getFeedDocument", after.get_feed_document)
        )
        self.route("POST", "/reports/2021-06-30/reports", planned("createReport", after.create_report))
        self.route("GET", "/reports/2021-06-30/reports", planned("getReports", after.get_reports))
        self.route_pattern(
            "GET", r"/reports/2021-06-30/reports/([^/]+)", planned("getReport", after.get_report)
        )
        self.route_pattern(
            "GET",
            r"/reports/2021-06-30/documents/([^/]+)",
            planned("getReportDocument", after.get_report_document),
        )
        # the documents' pre-signed URLs (S3 in production: no SP-API token)
        self.route_pattern("PUT", r"/tortuga/([^/]+)", after.upload)
        self.route_pattern("GET", r"/tortuga/([^/]+)", after.download)
        # the Amazon Ads API (advertising-api*.amazon.com in production)
        ads = self.ads
        self.route("GET", "/v2/profiles", ads.profiles_list)
        self.route("POST", "/sp/campaigns/list", ads.list_campaigns)
        self.route("POST", "/reporting/reports", ads.create_report)
        self.route_pattern("GET", r"/reporting/reports/([^/]+)", ads.get_report)
        self.route_pattern("GET", r"/ads-reports/([^/]+)\.json\.gz", ads.download)
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

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # where this emulator listens: the documents' pre-signed URLs point here (the Host
        # header of an SDK's request names Amazon's host, not ours)
        server = scope.get("server")
        if server and not self.own_address:
            self.own_address = f"http://{server[0]}:{server[1]}"
        _PATH.set(str(scope.get("path") or ""))
        await super().__call__(scope, receive, send)

    def _planned(
        self, operation: str, handler: Callable[[Request], Awaitable[Reply]]
    ) -> Callable[[Request], Awaitable[Reply]]:
        async def answer(request: Request) -> Reply:
            if operation in self.denied_operations:
                reply = self.denied("")
            else:
                reply = await handler(request)
            reply.headers.setdefault("x-amzn-RateLimit-Limit", f"{self.usage_plans[operation]:g}")
            reply.headers.setdefault("x-amzn-RequestId", secrets.token_hex(16))
            return reply

        return answer

    # ------------------------------------------------------------------ envelope and routing

    def error_body(self, status: int, code: str, message: str) -> Any:
        api = ads_path(_PATH.get())
        if api is not None:  # the Ads API's envelopes
            return ads_error(status, str(status), message, api).body
        code = {
            "throttled": "QuotaExceeded",
            "server_error": "InternalFailure",
            "timeout": "InternalFailure",
            "not_found": "NotFound",
            "bad_request": "InvalidInput",
        }.get(code, code)
        return {"errors": [{"code": code, "message": message, "details": ""}]}

    def denied(self, details: str) -> Reply:
        """SP-API's 403: ``Unauthorized``, and in ``details`` what is wrong with the token."""
        return Reply(403, {"errors": [{"code": "Unauthorized", "message": DENIED, "details": details}]})

    def deny(self, *operations: str) -> None:
        """Fault injection: the application lacks the role these operations need."""
        self.denied_operations.update(operations)

    # ------------------------------------------------------------------ data

    def add_seller(
        self, marketplace_id: str = "ATVPDKIKX0DER", *, also: Sequence[str] = ()
    ) -> dict[str, Any]:
        """A seller selling in ``marketplace_id`` (and in the ``also`` marketplaces)."""
        seller = Seller(
            seller_id=f"A{secrets.token_hex(6).upper()}",
            client_id=f"amzn1.application-oa2-client.{secrets.token_hex(8)}",
            client_secret=secrets.token_hex(16),
            refresh_token=f"Atzr|{secrets.token_hex(24)}",
            marketplace_id=marketplace_id,
            marketplaces=(marketplace_id, *[m for m in also if m != marketplace_id]),
        )
        self.sellers[seller.seller_id] = seller
        site = MARKETPLACES[marketplace_id]
        return {
            "seller_id": seller.seller_id,
            "lwa_client_id": seller.client_id,
            "lwa_client_secret": seller.client_secret,
            "refresh_token": seller.refresh_token,
            "marketplace_id": marketplace_id,
            # the Amazon Ads API grant of the same LWA application, and the advertiser's profile
            **self.ads.open(seller.seller_id, marketplace_id, site.country, site.currency),
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
        marketplace_id: str | None = None,
    ) -> dict[str, Any]:
        seller = self.sellers[seller_id]
        marketplace_id = marketplace_id or seller.marketplace_id
        if marketplace_id not in seller.marketplaces:
            raise ValueError(f"seller {seller_id} does not sell in {marketplace_id}")
        site = MARKETPLACES[marketplace_id]
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
            "MarketplaceId": marketplace_id,
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
                "ASIN": asin_of(sku),
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

    def queue(self, name: str = "sp-api-notifications") -> dict[str, str]:
        """An SQS queue the seller's events may be sent to: its URL, its ARN and the AWS keys
        that may read it. Nothing arrives until a subscription names it (the plugin makes
        it through the Notifications API, or :meth:`subscribe` out of band)."""
        return {
            "queue_url": self.sqs.create_queue(name),
            "queue_arn": self.sqs.queue_arn(name),
            **self.sqs.issue_keys(),
        }

    def subscribe(self, account: Mapping[str, Any], queue: str = "sp-api-notifications") -> dict[str, str]:
        """The seller's ``ORDER_CHANGE`` notifications go to an SQS queue, as if subscribed
        once before; returns what :meth:`queue` does."""
        made = self.queue(queue)
        seller = self.sellers[str(account["seller_id"])]
        self.notifications.subscribe(seller.seller_id, seller.client_id, made["queue_arn"])
        return made

    def subscribed(self, account: Mapping[str, Any], kind: str = "ORDER_CHANGE") -> bool:
        return (str(account["seller_id"]), kind) in self.notifications.book.subscriptions

    # the notification and settlement conformance suites' hooks

    def subscribe_notifications(
        self, account: Mapping[str, Any], base_url: str, *, valid: bool = True
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """An SQS queue the seller is subscribed to (the set-up the plugin finds and
        keeps): the AWS keys go with the credentials, the queue URL and the SQS endpoint
        (this emulator) with the settings."""
        queue = self.subscribe(account)
        secret = queue["aws_secret_access_key"] if valid else "not-the-secret"
        return (
            {"aws_access_key_id": queue["aws_access_key_id"], "aws_secret_access_key": secret},
            {"notifications_queue_url": queue["queue_url"], "sqs_endpoint": base_url},
        )

    def lose_acknowledgements(self, count: int) -> None:
        """The next ``count`` acknowledgements never get through (each try of them fails)."""
        self.sqs.fail_deletes = count * SQS_ATTEMPTS

    def redeliver(self) -> None:
        self.sqs.expire_visibility()

    def pending_notifications(self) -> int:
        return sum(len(q.messages) for q in self.sqs.queues.values())

    def close_payout(self, account: Mapping[str, Any]) -> None:
        self.finances.close(str(account["seller_id"]))

    def _order_changed(self, order: Mapping[str, Any]) -> None:
        """An ``ORDER_CHANGE`` to the queue of the seller's subscription, if it has one."""
        seller = self.sellers[order["_seller"]]
        arn = self.notifications.queue_arn_for(seller.seller_id, "ORDER_CHANGE", seller.client_id)
        queue = self.sqs.queue_named_by(arn) if arn else None
        if queue is not None:
            notification = order_change(order, order["_seller"], self.application_id, self.clock())
            self.sqs.send(queue, json.dumps(notification))

    def generate(self, seller_id: str, count: int, *, seed: int = 1) -> list[str]:
        """A backlog of ``count`` orders; it also starts the buyers' after-sales activity
        (:meth:`_buyers_after_sales`): the demo's shops show cases from the start; and about
        a month of advertising and visits (:meth:`seed_marketing`)."""
        rng = random.Random(seed)
        self.activity = random.Random(seed * 7919)
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
        for order_id in made:
            self._buyers_after_sales(order_id)
        self.seed_marketing(seller_id, random.Random(seed * 104729))
        return made

    #: after a backlog was generated: the share of orders whose buyer asks to cancel at
    #: once, and of new orders that come with a return of an earlier shipped order
    CANCEL_SHARE = 0.06
    RETURN_SHARE = 0.08
    BUYER_REASONS = ("Ordered by mistake", "Found a better price", "Delivery takes too long")
    RETURN_REASONS = ("CR-DEFECTIVE", "CR-NOT_AS_DESCRIBED", "AMZ-PG-BAD-DESC", "CR-UNWANTED_ITEM")

    def _buyers_after_sales(self, order_id: str) -> None:
        """Now and then (seeded), the buyer of a new unshipped order asks to cancel it, or
        the buyer of an earlier shipped order returns an item. Only once a backlog was
        generated (the demo, ``crossdock emulate``): a test's own orders stay as made. The
        new order's update time is not moved (the request is part of what it shows)."""
        rng = self.activity
        if rng is None:
            return
        order = self.orders[order_id]
        if order["OrderStatus"] in ("Unshipped", "Pending") and rng.random() < self.CANCEL_SHARE:
            reason = rng.choice(self.BUYER_REASONS)
            for item in self.items[order_id]:
                item["BuyerRequestedCancel"] = {"IsBuyerRequestedCancel": "true", "BuyerCancelReason": reason}
        if rng.random() < self.RETURN_SHARE:
            returned = {r.order_id for r in self.aftersales.returns.values()}
            shipped = sorted(
                o["AmazonOrderId"]
                for o in self.orders.values()
                if o["_seller"] == order["_seller"]
                and o["OrderStatus"] == "Shipped"
                and o["FulfillmentChannel"] == "MFN"
                and o["AmazonOrderId"] not in returned
            )
            if shipped:
                rma = self.aftersales.buyer_returns(
                    rng.choice(shipped), reason=rng.choice(self.RETURN_REASONS)
                )
                if rng.random() < 0.5:
                    self.aftersales.return_shipped(rma)

    # ------------------------------------------------------------------ auth

    async def _lwa(self, request: Request) -> Reply:
        form = dict(parse_qsl(request.body.decode()))
        seller = next((s for s in self.sellers.values() if s.client_id == form.get("client_id")), None)
        if seller is None or form.get("client_secret") != seller.client_secret:
            return Reply(
                401, {"error": "invalid_client", "error_description": "Client authentication failed"}
            )
        if form.get("grant_type") == "client_credentials":
            # grantless operations: a token for the application, for one scope
            if form.get("scope") != NOTIFICATIONS_SCOPE:
                return Reply(400, {"error": "invalid_scope", "error_description": "The scope is invalid"})
            token = f"Atc|{secrets.token_hex(24)}"
            self.tokens[token] = Grant(
                None, self.clock() + TOKEN_TTL, seller.client_id, scope=NOTIFICATIONS_SCOPE
            )
            return Reply(200, {"access_token": token, "token_type": "bearer", "expires_in": TOKEN_TTL})
        ads = self.ads.grant_for(str(form.get("refresh_token") or ""), seller.seller_id)
        if form.get("grant_type") == "refresh_token" and ads is not None:
            # an Amazon Ads grant (scope advertising::campaign_management): its token opens
            # the Ads API only
            token = f"Atza|{secrets.token_hex(24)}"
            self.tokens[token] = Grant(
                seller.seller_id, self.clock() + TOKEN_TTL, seller.client_id, scope=ADS_SCOPE
            )
            return Reply(
                200,
                {
                    "access_token": token,
                    "refresh_token": ads.refresh_token,
                    "token_type": "bearer",
                    "expires_in": TOKEN_TTL,
                },
            )
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != seller.refresh_token:
            return Reply(
                400,
                {"error": "invalid_grant", "error_description": "The request has an invalid grant parameter"},
            )
        token = f"Atza|{secrets.token_hex(24)}"
        self.tokens[token] = Grant(seller.seller_id, self.clock() + TOKEN_TTL, seller.client_id)
        return Reply(
            200,
            {
                "access_token": token,
                "refresh_token": seller.refresh_token,
                "token_type": "bearer",
                "expires_in": TOKEN_TTL,
            },
        )

    def _grant(self, request: Request) -> Grant | Reply:
        token = request.headers.get("x-amz-access-token", "")
        entry = self.tokens.get(token)
        checked = self.auth_guard.check(token, entry, expires_at=entry.expires if entry else None)
        return checked if isinstance(checked, Reply) else entry or self.denied("")

    def _seller(self, request: Request) -> tuple[Seller, bool] | Reply:
        """The seller a call is made for, and whether it holds a Restricted Data Token. An
        RDT opens only the method and path it was made for; a grantless token opens no
        seller's data: both are refused with "Access to requested resource is denied." and
        nothing in ``details`` (tokens_2021-03-01.json ``RestrictedResource``; issue
        amzn/selling-partner-api-docs#2553)."""
        grant = self._grant(request)
        if isinstance(grant, Reply):
            return grant
        if (
            grant.seller is None
            or grant.scope == ADS_SCOPE
            or (grant.is_rdt and not grant.opens(request.method, request.path))
        ):
            return self.denied("")
        return self.sellers[grant.seller], grant.is_rdt

    def _grantless(self, request: Request) -> str | Reply:
        """The application of a grantless call (Notifications API destinations): it needs
        a client_credentials token for the notifications scope."""
        grant = self._grant(request)
        if isinstance(grant, Reply):
            return grant
        if grant.seller is not None or grant.scope != NOTIFICATIONS_SCOPE:
            return self.denied("")
        return grant.client_id

    def _subscriber(self, request: Request) -> tuple[str, str] | Reply:
        """The seller and application of a subscription call (the seller's own token)."""
        who = self._seller(request)
        if isinstance(who, Reply):
            return who
        return who[0].seller_id, who[0].client_id

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
        seller = self.sellers[str(account["seller_id"])]
        self.tokens[token] = Grant(seller.seller_id, expires, seller.client_id)
        return {**account, "access_token": token, "access_expires_at": int(expires)}

    def expire_tokens(self) -> None:
        for token, grant in list(self.tokens.items()):
            self.tokens[token] = dataclasses.replace(grant, expires=self.clock() - 1)

    async def _rdt(self, request: Request) -> Reply:
        who = self._seller(request)
        if isinstance(who, Reply):
            return who
        seller, restricted = who
        if restricted:
            return self.denied("")  # an RDT does not make RDTs
        resources = request.json().get("restrictedResources") or []
        if not isinstance(resources, list) or not resources:
            return self.error(400, "InvalidInput", "restrictedResources is required")
        if len(resources) > 50:
            return self.error(400, "InvalidInput", "restrictedResources takes at most 50 resources")
        opened = []
        for resource in resources:
            method, path = (resource or {}).get("method"), (resource or {}).get("path")
            if method not in ("GET", "PUT", "POST", "DELETE") or not isinstance(path, str) or not path:
                # the sandbox's answer to a resource without a method (tokens_2021-03-01.json)
                return self.error(400, "InvalidRequest", "Request is missing or has invalid parameters")
            opened.append((str(method), path))
        token = f"Atz.sprdt|{secrets.token_hex(24)}"
        self.tokens[token] = Grant(
            seller.seller_id, self.clock() + TOKEN_TTL, seller.client_id, restricted=tuple(opened)
        )
        return Reply(200, {"restrictedDataToken": token, "expiresIn": TOKEN_TTL})

    # ------------------------------------------------------------------ orders

    def _public(self, order: dict[str, Any], restricted: bool) -> dict[str, Any]:
        shown = {k: v for k, v in order.items() if not k.startswith("_")}
        if not priced(order):  # no OrderTotal before the payment is authorised
            shown.pop("OrderTotal", None)
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
        asked = [m for m in q["MarketplaceIds"].split(",") if m]
        if len(asked) > 50 or any(m not in MARKETPLACES for m in asked):
            return self.error(400, "InvalidInput", f"Invalid MarketplaceIds: {q['MarketplaceIds']}")
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
            stamp = parse_time(q.get("LastUpdatedAfter") or q["CreatedAfter"])
            if stamp is None:
                return self.error(400, "InvalidInput", "LastUpdatedAfter/CreatedAfter must be ISO 8601")
            since, start = int(stamp), 0
        raw_size = q.get("MaxResultsPerPage", "100")
        size = int(raw_size) if raw_size.isdigit() else 0
        if not 1 <= size <= 100:
            return self.error(400, "InvalidInput", "MaxResultsPerPage must be between 1 and 100")
        field_name = "LastUpdateDate" if "CreatedAfter" not in q else "PurchaseDate"
        rows = sorted(
            (
                o
                for o in self.orders.values()
                if o["_seller"] == seller.seller_id
                and o["MarketplaceId"] in asked
                and _epoch(o[field_name]) >= since
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
        if order is None and not ORDER_ID.fullmatch(request.args[0]):
            # (orders added by a test under another id are still found: the suites name theirs)
            return self.error(400, "InvalidInput", f"Invalid orderId {request.args[0]}: not in 3-7-7 format")
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
        items = [
            {k: v for k, v in i.items() if not k.startswith("_")} for i in self.items[order["AmazonOrderId"]]
        ]
        if not priced(order):  # ordersV0.json: no pricing while the order is Pending
            items = [{k: v for k, v in i.items() if k not in ("ItemPrice", "ItemTax")} for i in items]
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
        """Orders 2026-01-01 ``getOrder``: the order with the datasets ``includedData``
        names (``packages``: FBM orders only). No Restricted Data Token is needed."""
        found = self._own_order(request)
        if isinstance(found, Reply):
            return found
        order, _ = found
        included = included_data(request.query)
        if isinstance(included, str):
            return self.error(400, "InvalidInput", included)
        return Reply(200, {"order": self._render(order, included)})

    def _render(self, order: dict[str, Any], included: set[str]) -> dict[str, Any]:
        order_id = order["AmazonOrderId"]
        packages = self.mfn.packages(order_id) if "PACKAGES" in included else None
        name = MARKETPLACES[order["MarketplaceId"]].name
        return render(order, self.items[order_id], included, name, packages)

    async def _search_orders(self, request: Request) -> Reply:
        """Orders 2026-01-01 ``searchOrders``: validated as the model's parameters say,
        paged with ``paginationToken`` tokens bound to the query they came from."""
        who = self._seller(request)
        if isinstance(who, Reply):
            return who
        seller, _ = who
        q = request.query
        included = included_data(q)
        if isinstance(included, str):
            return self.error(400, "InvalidInput", included)
        search = search_query(q, self.clock(), [str(m) for m in MARKETPLACES])
        if isinstance(search, str):
            return self.error(400, "InvalidInput", search)
        start = 0
        if "paginationToken" in q:
            held = self.search_tokens.get(q["paginationToken"])
            if held is None or held[2] < self.clock():
                return self.error(400, "InvalidInput", "Invalid or expired paginationToken")
            if held[1] != search.key:
                return self.error(
                    400, "InvalidInput", "paginationToken belongs to a search with other parameters"
                )
            start = held[0]
        rows = sorted(
            (
                o
                for o in self.orders.values()
                if o["_seller"] == seller.seller_id
                and (search.marketplaces or o["MarketplaceId"] in seller.marketplaces)
                and search.matches(o)
            ),
            key=lambda o: (o[search.field], o["AmazonOrderId"]),
        )
        chunk, following = self.page(rows, start, search.size)
        before = "createdBefore" if search.field == "PurchaseDate" else "lastUpdatedBefore"
        body: dict[str, Any] = {
            "orders": [self._render(o, included) for o in chunk],
            before: settled(self.clock()),
        }
        if following is not None:
            token = secrets.token_urlsafe(24)
            self.search_tokens[token] = (following, search.key, self.clock() + 86400)
            body["pagination"] = {"nextToken": token}
        return Reply(200, body)

    def authorise_payment(self, order_id: str) -> None:
        """A Pending order's payment is authorised: it becomes Unshipped, with its prices."""
        if self.orders[order_id]["OrderStatus"] != "Pending":
            raise ValueError(f"order {order_id} is not Pending")
        self.update_order(order_id, OrderStatus="Unshipped")

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
        if request.query.get("marketplaceIds") not in seller.marketplaces:
            return self.error(400, "InvalidInput", "marketplaceIds is required")
        listing = seller.listings.get(sku)
        if listing is None:
            return self.error(404, "NotFound", f"SKU {sku} not found")
        return seller, listing

    async def _patch_listing(self, request: Request) -> Reply:
        """patchListingsItem (listingsItems_2021-08-01.json ``ListingsItemPatchRequest``:
        ``productType`` and at least one patch required; ``op`` one of add, replace, merge,
        delete). ``replace`` (and ``add``) sets the attribute to the value given, so
        fulfilment fields it leaves out (handling time, restock date) are gone; ``merge``
        changes only the fields it names."""
        found = self._listing(request)
        if isinstance(found, Reply):
            return found
        _, listing = found
        body = request.json()
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("productType"), str)
            or not body["productType"]
        ):
            return self.error(400, "InvalidInput", "productType is required")
        patches = body.get("patches")
        if not isinstance(patches, list) or not patches:
            return self.error(400, "InvalidInput", "patches must hold at least one patch")
        for patch in patches:
            if not isinstance(patch, dict) or patch.get("op") not in PATCH_OPS or not patch.get("path"):
                return self.error(
                    400, "InvalidInput", "each patch needs an op (add, replace, merge, delete) and a path"
                )
        issues = []
        for patch in patches:
            op = patch["op"]
            if patch.get("path") == "/attributes/fulfillment_availability" and op in (
                "replace",
                "merge",
                "add",
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
                elif op == "merge":
                    listing["availability"] = {**listing.get("availability", {}), **value}
                else:
                    listing["availability"] = dict(value)
            elif patch.get("path") == "/attributes/purchasable_offer" and op in ("replace", "merge", "add"):
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
                        "message": f"unsupported patch {op} {patch.get('path')}",
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

    # ------------------------------------------------------------------ seller side (conformance, demo)

    @staticmethod
    def marketplaces() -> Mapping[str | None, Any]:
        """Every marketplace the emulator knows, by id."""
        return MARKETPLACES

    # the listings conformance suite's hooks (crossdock.testing.listings.ListingsEmulator)

    def sample_category(self, site: str) -> str:
        """A product type every site has (the emulator's are the same everywhere)."""
        return "WATER_BOTTLE"

    def live_listing(self, account: Mapping[str, Any], sku: str) -> dict[str, Any] | None:
        """What Amazon holds for the SKU: title, product type, attributes (plain values by
        name), how many images, whether it is buyable (quantity above 0), its price."""
        return self.listings_desk.live_listing(self.sellers[str(account["seller_id"])], sku)

    def add_competitor_offer(
        self, account: Mapping[str, Any], sku: str, *, seller: str, price: str, fba: bool = False
    ) -> None:
        """Another seller offers the SKU's product (its ASIN) at ``price``, condition New."""
        self.listings_desk.add_competitor_offer(
            self.sellers[str(account["seller_id"])], sku, name=seller, price=price, fba=fba
        )

    def open_account(self, site: str) -> dict[str, Any]:
        marketplace_id = next(s.external_id for s in SITES if s.code == site)
        account = self.add_seller(str(marketplace_id))
        return self.issue_token(account) if self.open_with_token else account

    def add_product(
        self, account: Mapping[str, Any], sku: str, stock: int = 0, *, handling_days: int | None = None
    ) -> str:
        availability: dict[str, Any] = {"fulfillment_channel_code": "DEFAULT", "quantity": stock}
        if handling_days is not None:
            availability["lead_time_to_ship_max_days"] = handling_days
        self.sellers[account["seller_id"]].listings[sku] = {"availability": availability}
        return sku

    def availability(self, account: Mapping[str, Any], sku: str) -> dict[str, Any]:
        """The SKU's ``fulfillment_availability`` as Amazon holds it now."""
        return dict(self.sellers[str(account["seller_id"])].listings[sku]["availability"])

    def add_order(
        self,
        account: Mapping[str, Any] | str,
        external_id: str,
        lines: Sequence[tuple[str, int, str]],
        **kwargs: Any,
    ) -> dict[str, Any]:
        seller_id = account if isinstance(account, str) else str(account["seller_id"])
        order = self._add_order(seller_id, external_id, lines, **kwargs)
        self._buyers_after_sales(external_id)
        return order

    def generate_orders(self, account: Mapping[str, Any], count: int, seed: int) -> list[str]:
        return self.generate(str(account["seller_id"]), count, seed=seed)

    def cancel_order(self, account: Mapping[str, Any], external_id: str) -> None:
        self.update_order(external_id, OrderStatus="Canceled")

    # ------------------------------------------------------------------ ads and traffic (suites, demo)

    def _profile(self, account: Mapping[str, Any]) -> Any:
        seller = self.sellers[str(account["seller_id"])]
        return self.ads.profile_of(seller.seller_id, seller.marketplace_id)

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
        """Sponsored Products activity of ``sku`` on ``day`` (one campaign per SKU, with a
        daily budget; a keyword target when ``keyword`` is given, else automatic targeting);
        adds to the day's figures. Returns the campaign id."""
        return self.ads.add_activity(
            self._profile(account),
            day=day,
            sku=sku,
            asin=asin_of(sku),
            impressions=impressions,
            clicks=clicks,
            spend=Decimal(spend),
            orders=orders,
            sales=Decimal(sales),
            keyword=keyword,
        )

    def revise_ad_activity(
        self, account: Mapping[str, Any], *, day: date, sku: str, orders: int, sales: str
    ) -> None:
        """Amazon's attribution moves on: ``sku``'s attributed orders and sales on ``day``."""
        self.ads.revise(self._profile(account), day=day, sku=sku, orders=orders, sales=Decimal(sales))

    def add_traffic(
        self, account: Mapping[str, Any], *, day: date, sku: str, sessions: int, page_views: int
    ) -> None:
        """Visits to ``sku``'s listing on ``day`` (adds to the day's figures)."""
        seller = self.sellers[str(account["seller_id"])]
        self.traffic.add(seller.seller_id, seller.marketplace_id, day, sku, sessions, page_views)

    def seed_marketing(self, seller_id: str, rng: random.Random, days: int = 30) -> None:
        """About a month of Sponsored Products and of visits for every listing (the demo)."""
        seller = self.sellers[seller_id]
        skus = sorted(seller.listings)
        profile = self.ads.profile_of(seller_id, seller.marketplace_id)
        self.ads.seed(profile, [(sku, asin_of(sku)) for sku in skus], rng, days)
        today = datetime.fromtimestamp(self.clock(), UTC).date()
        for sku in skus:
            base = rng.randint(30, 260)
            for back in range(days):
                sessions = max(1, int(base * rng.uniform(0.6, 1.4)))
                self.traffic.add(
                    seller_id,
                    seller.marketplace_id,
                    date.fromordinal(today.toordinal() - back),
                    sku,
                    sessions,
                    int(sessions * rng.uniform(1.1, 1.8)),
                )

    # ------------------------------------------------------------------ buyers' after-sales (tests, demo)

    def buyer_requests_cancel(self, order_id: str, reason: str = "Changed mind about purchase") -> None:
        """The buyer asks to cancel the order (see :class:`AfterSales`)."""
        self.aftersales.buyer_requests_cancel(order_id, reason)

    def buyer_cancels(self, order_id: str) -> None:
        """A Pending order the buyer cancels themselves (Amazon executes it)."""
        for item in self.items[order_id]:
            item["_cancel_execution"] = {"cancelledBy": "BUYER", "cancelReason": "Buyer cancelled"}
        self.update_order(order_id, OrderStatus="Canceled", NumberOfItemsUnshipped=0)

    def ship_order(self, order_id: str) -> None:
        """The seller ships the order (as a confirmation elsewhere would)."""
        for item in self.items[order_id]:
            item["QuantityShipped"] = item["QuantityOrdered"]
        self.update_order(order_id, OrderStatus="Shipped", NumberOfItemsUnshipped=0)

    def buyer_returns(self, order_id: str, **kwargs: Any) -> str:
        """The buyer returns an item of a shipped order; the RMA id."""
        return self.aftersales.buyer_returns(order_id, **kwargs)

    def return_shipped(self, rma: str, *, delivered: bool = True) -> None:
        self.aftersales.return_shipped(rma, delivered=delivered)

    def refund_return(self, rma: str, amount: Any = None) -> None:
        self.aftersales.refund_return(rma, amount)

    def claim(self, rma: str) -> None:
        self.aftersales.claim(rma)

    def tracking_number(self, account: Mapping[str, Any], external_id: str) -> str | None:
        package = self.confirmations.get(external_id)
        return package["trackingNumber"] if package else None

    def stock(self, account: Mapping[str, Any], sku: str) -> int:
        return int(self.sellers[str(account["seller_id"])].listings[sku]["availability"]["quantity"])

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
