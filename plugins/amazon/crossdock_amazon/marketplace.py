"""The Amazon Selling Partner API provider.

Source of the site table and rate limits: Amazon SP-API marketplace ids and per-operation
usage plans (../shared/marketplaces.md; SP-API docs 'Marketplace IDs' and 'Usage Plans and
Rate Limits').

Orders are read with the Orders API 2026-01-01 (``searchOrders``, ``getOrder``:
:mod:`crossdock_amazon.orders`), which needs no Restricted Data Token. Orders v0 is
deprecated for removal on 2027-03-27 (ordersV0.json); a connection whose
``settings.orders_api`` is ``"v0"`` still reads it (getOrders, getOrder, getOrderItems, each
with a Restricted Data Token made for its own method and path).

Credentials of a connection: ``seller_id``, ``lwa_client_id``, ``lwa_client_secret``,
``refresh_token`` (long-lived) and the current ``access_token`` / ``access_expires_at``
(refreshed through Login with Amazon, an hour at a time). Buyer names and addresses are
PII: orders are read with a Restricted Data Token so they arrive complete.

Notifications come through SQS, not HTTP, so ``webhooks`` is not offered: ``notifications``
is. A connection whose ``settings.notifications_queue_url`` names the seller's SQS queue
(one SP-API destination per seller) and whose credentials hold ``aws_access_key_id`` and
``aws_secret_access_key`` has its ``ORDER_CHANGE`` events read by the core between syncs.
Amazon has no API to read buyer messages (they arrive by e-mail relay), so ``messages.*``
are not offered.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any
from urllib.parse import quote

import httpx

from crossdock import (
    Address,
    AdReportPage,
    CancelReason,
    CaseAction,
    CaseKind,
    CasePage,
    CaseResponse,
    CategoryRules,
    ChannelCase,
    ChannelCategory,
    ChannelConnection,
    ChannelError,
    ChannelOrder,
    ChannelOrderLine,
    ChannelSettlement,
    CompetitorOffer,
    ListingDraft,
    ListingProblem,
    MarketplaceBase,
    MarketplaceCapability,
    Money,
    OrderPage,
    PriceUpdate,
    PublishOutcome,
    PublishResult,
    PushResult,
    RateLimit,
    SettlementLine,
    SettlementPage,
    ShipmentConfirmation,
    Site,
    StockUpdate,
    TrafficPage,
    with_retries,
)
from crossdock_amazon import __version__
from crossdock_amazon.ads import AdsReader
from crossdock_amazon.aftersales import (
    ACKNOWLEDGEMENT_FEED,
    CANCEL_REASONS,
    CANCELLABLE,
    RETURNS_REPORT,
    acknowledgement_feed,
    cancellation_case,
    newest,
    return_cases,
    submit_feed,
    wait_for_feed,
)
from crossdock_amazon.client import LWA_HOST, SpApiClient, lwa_token
from crossdock_amazon.listings import LISTINGS, LISTINGS_RATE_LIMITS, AmazonListings, _language_tag, rules_of
from crossdock_amazon.notifications import NotificationSetup
from crossdock_amazon.orders import INCLUDED, order_2026
from crossdock_amazon.reports import create_report, report_document
from crossdock_amazon.sqs import SqsQueue
from crossdock_amazon.traffic import TrafficReader

__all__ = ["RATE_LIMITS", "SITES", "AmazonMarketplace", "order_references", "package_reference_id"]

SITES: tuple[Site, ...] = (
    Site(code="US", country="US", currency="USD", name="Amazon.com", external_id="ATVPDKIKX0DER"),
    Site(code="CA", country="CA", currency="CAD", name="Amazon.ca", external_id="A2EUQ1WTGCTBG2"),
    Site(code="MX", country="MX", currency="MXN", name="Amazon.com.mx", external_id="A1AM78C64UM0Y8"),
    Site(code="BR", country="BR", currency="BRL", name="Amazon.com.br", external_id="A2Q3Y263D00KWC"),
    Site(code="UK", country="GB", currency="GBP", name="Amazon.co.uk", external_id="A1F83G8C2ARO7P"),
    Site(code="DE", country="DE", currency="EUR", name="Amazon.de", external_id="A1PA6795UKMFR9"),
    Site(code="FR", country="FR", currency="EUR", name="Amazon.fr", external_id="A13V1IB3VIYZZH"),
    Site(code="IT", country="IT", currency="EUR", name="Amazon.it", external_id="APJ6JRA9NG5V4"),
    Site(code="ES", country="ES", currency="EUR", name="Amazon.es", external_id="A1RKKUPIHCS9HS"),
    Site(code="IN", country="IN", currency="INR", name="Amazon.in", external_id="A21TJRUUN4KGV"),
    Site(code="JP", country="JP", currency="JPY", name="Amazon.co.jp", external_id="A1VC38T7YXB528"),
    Site(code="AU", country="AU", currency="AUD", name="Amazon.com.au", external_id="A39IBJ37TRP1C6"),
    Site(code="SG", country="SG", currency="SGD", name="Amazon.sg", external_id="A19VAU5U5O7RUS"),
)

#: Documented per-operation token buckets (requests per second, burst).
RATE_LIMITS: Mapping[str, RateLimit] = {
    "searchOrders": RateLimit(rate=0.0056, burst=20),  # orders_2026-01-01.json usage plan
    "getOrder_2026_01_01": RateLimit(rate=0.5, burst=30),
    "getOrder": RateLimit(rate=0.5, burst=30),  # SP-API Orders v0 usage plan
    "createRestrictedDataToken": RateLimit(rate=1, burst=10),  # Tokens API usage plan
    "getOrders": RateLimit(rate=0.0167, burst=20),
    "getOrderItems": RateLimit(rate=0.5, burst=30),
    "confirmShipment": RateLimit(rate=2, burst=10),
    "patchListingsItem": RateLimit(rate=5, burst=5),
    "listFinancialEventGroups": RateLimit(rate=0.5, burst=30),  # Finances v0 usage plan
    "getDestinations": RateLimit(rate=1, burst=5),  # notifications.json usage plans
    "createDestination": RateLimit(rate=1, burst=5),
    "getSubscription": RateLimit(rate=1, burst=5),
    "createSubscription": RateLimit(rate=1, burst=5),
    "listFinancialEventsByGroupId": RateLimit(rate=0.5, burst=30),
    # feeds_2021-06-30.json and reports_2021-06-30.json usage plans
    "createFeedDocument": RateLimit(rate=0.5, burst=15),
    "createFeed": RateLimit(rate=0.0083, burst=15),
    "getFeed": RateLimit(rate=2, burst=15),
    "getFeedDocument": RateLimit(rate=0.0222, burst=10),
    "createReport": RateLimit(rate=0.0167, burst=15),
    "getReports": RateLimit(rate=0.0222, burst=10),
    "getReport": RateLimit(rate=2, burst=15),
    "getReportDocument": RateLimit(rate=0.0167, burst=15),
    # listing content (crossdock_amazon.listings)
    **LISTINGS_RATE_LIMITS,
}
#: How long a seller's cancel waits for Amazon to process its feed (``settings.cancel_wait``)
CANCEL_WAIT = 60.0
#: A returns report is asked for at most this often (``settings.returns_report_minutes``);
#: between, the newest one is read again.
RETURNS_REPORT_MINUTES = 60.0
#: How far back the returns report reaches, by return request date (``settings.returns_days``)
RETURNS_DAYS = 30
#: What a cancellation case needs of the order (``includedData``)
CASE_DATA = "CANCELLATION,FULFILLMENT"
#: The report statuses that mean a report is coming or there
REPORT_STATUSES = "IN_QUEUE,IN_PROGRESS,DONE"
#: Event groups stay open about two weeks: a sync re-reads those that started this long
#: before its cursor, so an open group is read again until it closes.
SETTLEMENT_PERIOD = timedelta(days=15)
#: Finances charge and fee types -> Crossdock settlement line kinds.
CHARGE_KINDS = {"Principal": "sale", "ShippingCharge": "shipping", "Tax": "tax", "ShippingTax": "tax"}
FEE_KINDS = {"Commission": "commission", "RefundCommission": "commission"}


REGION_HOSTS = {
    "na": "https://sellingpartnerapi-na.amazon.com",
    "eu": "https://sellingpartnerapi-eu.amazon.com",
    "fe": "https://sellingpartnerapi-fe.amazon.com",
}
SITE_REGION = {
    "US": "na",
    "CA": "na",
    "MX": "na",
    "BR": "na",
    "UK": "eu",
    "DE": "eu",
    "FR": "eu",
    "IT": "eu",
    "ES": "eu",
    "IN": "eu",
    "JP": "fe",
    "AU": "fe",
    "SG": "fe",
}
#: Amazon order status -> Crossdock status (own fulfilment steps are Crossdock's to make).
STATUS = {
    "Pending": "pending",
    "PendingAvailability": "pending",
    "Unshipped": "pending",
    "PartiallyShipped": "pending",
    "InvoiceUnconfirmed": "pending",
    "Shipped": "shipped",
    "Canceled": "cancelled",
    "Unfulfillable": "cancelled",
}
#: Orders API versions a connection may speak (``settings.orders_api``)
ORDERS_2026 = "2026-01-01"
ORDERS_V0 = "v0"
#: Data elements of the Orders v0 RDTs: buyer names and shipping addresses
PII_ELEMENTS = ["buyerInfo", "shippingAddress"]
EARLY_REFRESH = 60  # seconds before expiry an access token counts as expired
#: Orders whose items this process remembers (per connection and order, the most recent).
ITEMS_REMEMBERED = 20_000


def package_reference_id(reference: str | None, fallback: str = "") -> str:
    """A positive number for confirmShipment's ``packageReferenceId`` (ordersV0.json: "Only
    positive numeric values are supported"), stable per shipment: the trailing number of
    Crossdock's ``crossdock-shipment-<id>``, else a number derived from the reference."""
    text = reference or fallback
    match = re.search(r"(\d+)$", text)
    if match and int(match.group(1)) > 0:
        return str(int(match.group(1)))
    digest = int.from_bytes(hashlib.sha256(text.encode()).digest()[:6], "big")
    return str(digest % 10**12 + 1)


def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC) if value else None


def _money(value: Mapping[str, Any] | None, currency: str) -> Money:
    if not value:
        return Money(Decimal(0), currency)
    return Money(Decimal(str(value.get("Amount", "0"))), str(value.get("CurrencyCode") or currency))


class AmazonMarketplace(MarketplaceBase):
    name = "amazon"
    display_name = "Amazon Selling Partner API"
    version = __version__
    capabilities = frozenset(
        {
            MarketplaceCapability.ORDERS_SYNC,
            MarketplaceCapability.ORDERS_GET,
            MarketplaceCapability.SHIPMENTS_CONFIRM,
            MarketplaceCapability.STOCK_PUSH,
            MarketplaceCapability.PRICE_PUSH,
            MarketplaceCapability.NOTIFICATIONS,
            MarketplaceCapability.SETTLEMENTS,
            MarketplaceCapability.CREDENTIALS_REFRESH,
            MarketplaceCapability.ORDERS_CANCEL,
            MarketplaceCapability.CASES_SYNC,
            MarketplaceCapability.CASES_RESPOND,
            MarketplaceCapability.ADS_READ,
            MarketplaceCapability.TRAFFIC_READ,
            MarketplaceCapability.LISTINGS_CATEGORIES,
            MarketplaceCapability.LISTINGS_RULES,
            MarketplaceCapability.LISTINGS_PUBLISH,
            MarketplaceCapability.LISTINGS_READ,
            MarketplaceCapability.LISTINGS_DEACTIVATE,
            MarketplaceCapability.COMPETITORS_READ,
        }
    )
    rate_limits = RATE_LIMITS

    def __init__(self) -> None:
        #: (connection, access token, path) -> (RDT, its expiry)
        self._rdt: dict[tuple[int, str, str], tuple[str, float]] = {}
        self._notifications = NotificationSetup()
        #: (connection, order) -> (its LastUpdateDate, its items): see :meth:`_with_items`
        self._items: OrderedDict[tuple[int, str], tuple[str, list[dict[str, Any]]]] = OrderedDict()
        #: (connection, order) -> the cancel feed sent for it and not yet seen processed: a
        #: retry waits for that feed instead of sending another
        self._cancel_feeds: dict[tuple[int, str], str] = {}
        #: the Ads API reader, with this process's Ads access tokens
        self._ads = AdsReader()
        self._traffic = TrafficReader()
        #: listing content, with the product type schemas this process fetched
        self._listings = AmazonListings()

    def sites(self) -> Sequence[Site]:
        return SITES

    # ------------------------------------------------------------------ plumbing

    def _pool(self, conn: ChannelConnection) -> httpx.AsyncClient:
        """The server's shared HTTP pool, guarded against internal addresses."""
        return conn.http_client()

    def _marketplace_id(self, conn: ChannelConnection) -> str:
        return str(next(s.external_id for s in SITES if s.code == conn.site))

    @staticmethod
    def _currency_of(marketplace_id: Any, conn: ChannelConnection) -> str:
        """The currency a marketplace sells in (an order not priced yet is in it)."""
        return next((s.currency for s in SITES if s.external_id == marketplace_id), conn.currency)

    @staticmethod
    def orders_api(conn: ChannelConnection) -> str:
        """``settings.orders_api``: ``"2026-01-01"`` (the default) or ``"v0"``."""
        version = str(conn.settings.get("orders_api") or ORDERS_2026)
        if version not in (ORDERS_2026, ORDERS_V0):
            raise ChannelError(
                f"amazon settings.orders_api must be {ORDERS_2026!r} or {ORDERS_V0!r}, not {version!r}",
                code="SETTINGS",
            )
        return version

    def client(self, conn: ChannelConnection) -> SpApiClient:
        creds = conn.credentials
        if (
            not creds.get("access_token")
            or float(creds.get("access_expires_at", 0)) < time.time() + EARLY_REFRESH
        ):
            raise ChannelError("amazon access token missing or expired", code=ChannelError.AUTH_EXPIRED)
        base = conn.base_url or REGION_HOSTS[SITE_REGION[conn.site]]
        return SpApiClient(base, str(creds["access_token"]), self._pool(conn), conn)

    async def _pii_token(self, conn: ChannelConnection, api: SpApiClient, path: str) -> str:
        """A Restricted Data Token for buyer names and addresses on ``GET path``, reused
        while it lives. An RDT opens only the method and path it was made for
        (tokens_2021-03-01.json ``RestrictedResource``: ``/orders/v0/orders`` for getOrders,
        ``/orders/v0/orders/{orderId}`` for getOrder): one made for getOrders is refused
        by getOrder."""
        key = (conn.id, api.access_token, path)
        cached = self._rdt.get(key)
        if cached and cached[1] > time.time() + EARLY_REFRESH:
            return cached[0]
        answer = await api.call(
            "POST",
            "/tokens/2021-03-01/restrictedDataToken",
            body={"restrictedResources": [{"method": "GET", "path": path, "dataElements": PII_ELEMENTS}]},
            operation="createRestrictedDataToken",
        )
        token = str(answer["restrictedDataToken"])
        now = time.time()
        self._rdt = {k: v for k, v in self._rdt.items() if v[1] > now}  # forget dead tokens
        self._rdt[key] = (token, now + float(answer.get("expiresIn", 3600)))
        return token

    # ------------------------------------------------------------------ orders

    async def fetch_orders(
        self, conn: ChannelConnection, *, updated_since: datetime, page_token: str | None
    ) -> OrderPage:
        """searchOrders (2026-01-01) by lastUpdatedAfter with its pagination token; or, on
        a v0 connection, getOrders by LastUpdatedAfter with its NextToken, read with a
        Restricted Data Token, each order's items from getOrderItems."""
        api = self.client(conn)
        if self.orders_api(conn) == ORDERS_2026:
            return await self._search_orders(conn, api, updated_since, page_token)
        pii = await self._pii_token(conn, api, "/orders/v0/orders")
        params: dict[str, Any] = {"MarketplaceIds": self._marketplace_id(conn)}
        if page_token:
            params["NextToken"] = page_token
        else:
            params["LastUpdatedAfter"] = updated_since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            params["MaxResultsPerPage"] = 100
        answer = await api.call("GET", "/orders/v0/orders", params=params, token=pii, operation="getOrders")
        payload = answer.get("payload") or {}
        raws = list({o["AmazonOrderId"]: o for o in payload.get("Orders") or []}.values())
        orders = [await self._with_items(conn, api, raw) for raw in raws]
        return OrderPage(orders=orders, next_page_token=payload.get("NextToken"))

    async def _search_orders(
        self, conn: ChannelConnection, api: SpApiClient, updated_since: datetime, page_token: str | None
    ) -> OrderPage:
        params: dict[str, Any] = {
            "lastUpdatedAfter": updated_since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "marketplaceIds": self._marketplace_id(conn),
            "includedData": INCLUDED,
            "maxResultsPerPage": 100,
        }
        if page_token:  # the other parameters must be the same (``Pagination``): the cursor keeps them
            since, _, token = page_token.partition("|")
            params.update(lastUpdatedAfter=since, paginationToken=token)
        answer = await api.call("GET", "/orders/2026-01-01/orders", params=params, operation="searchOrders")
        raws = list({o["orderId"]: o for o in answer.get("orders") or []}.values())
        following = (answer.get("pagination") or {}).get("nextToken")
        return OrderPage(
            orders=[self._order_2026(conn, raw) for raw in raws],
            next_page_token=f"{params['lastUpdatedAfter']}|{following}" if following else None,
        )

    def _order_2026(self, conn: ChannelConnection, raw: Mapping[str, Any]) -> ChannelOrder:
        marketplace = (raw.get("salesChannel") or {}).get("marketplaceId")
        return order_2026(raw, self._currency_of(marketplace, conn))

    async def _with_items(
        self, conn: ChannelConnection, api: SpApiClient, raw: Mapping[str, Any]
    ) -> ChannelOrder:
        """The order with its items. getOrderItems (0.5 requests/s, burst 30) is called only
        for an order this process has not seen, or whose ``LastUpdateDate`` moved since: a
        sync re-reads the minutes before its cursor on every pass, and fetching every
        order's items again each time would spend the whole budget on unchanged orders."""
        order_id = raw["AmazonOrderId"]
        key = (conn.id, str(order_id))
        changed = str(raw.get("LastUpdateDate") or "")
        known = self._items.get(key)
        if known is not None and changed and known[0] == changed:
            self._items.move_to_end(key)
            return self.to_order(raw, known[1], self._currency_of(raw.get("MarketplaceId"), conn))
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            params = {"NextToken": token} if token else None
            answer = await with_retries(
                partial(
                    api.call,
                    "GET",
                    f"/orders/v0/orders/{order_id}/orderItems",
                    params=params,
                    operation="getOrderItems",
                )
            )
            payload = answer.get("payload") or {}
            items.extend(payload.get("OrderItems") or [])
            token = payload.get("NextToken")
            if not token:
                break
        if changed:
            self._items[key] = (changed, items)
            self._items.move_to_end(key)
            while len(self._items) > ITEMS_REMEMBERED:
                self._items.popitem(last=False)
        return self.to_order(raw, items, self._currency_of(raw.get("MarketplaceId"), conn))

    @staticmethod
    def to_order(
        raw: Mapping[str, Any], items: Sequence[Mapping[str, Any]], currency: str = "USD"
    ) -> ChannelOrder:
        """A v0 order; ``currency`` is its marketplace's: a Pending order has no
        ``OrderTotal`` and no item prices yet (ordersV0.json ``getOrderItems``)."""
        total = _money(raw.get("OrderTotal"), currency)
        currency = total.currency
        lines = []
        for item in items:
            quantity = int(item.get("QuantityOrdered", 0))
            price = _money(item.get("ItemPrice"), currency)  # ItemPrice covers the whole quantity
            lines.append(
                ChannelOrderLine(
                    external_id=str(item["OrderItemId"]),
                    sku=str(item.get("SellerSKU") or item.get("ASIN")),
                    quantity=quantity,
                    unit_price=Money(price.amount / quantity if quantity else price.amount, price.currency),
                    title=item.get("Title"),
                )
            )
        address = raw.get("ShippingAddress") or {}
        status = str(raw["OrderStatus"])
        return ChannelOrder(
            external_id=str(raw["AmazonOrderId"]),
            status=STATUS.get(status, "pending"),
            channel_status=status,
            placed_at=_at(raw.get("PurchaseDate")) or datetime.now(UTC),
            updated_at=_at(raw.get("LastUpdateDate")) or datetime.now(UTC),
            total=total,
            lines=lines,
            buyer_name=address.get("Name"),
            buyer_email=(raw.get("BuyerInfo") or {}).get("BuyerEmail"),
            shipping_address=Address(
                name=address.get("Name"),
                line1=address.get("AddressLine1"),
                line2=address.get("AddressLine2"),
                city=address.get("City"),
                region=address.get("StateOrRegion") or None,
                postal_code=address.get("PostalCode"),
                country=address.get("CountryCode"),
                phone=address.get("Phone"),
            )
            if address
            else None,
            ship_by=_at(raw.get("LatestShipDate")),
            fulfilled_by_channel=raw.get("FulfillmentChannel") == "AFN",
            payment_status="pending" if status == "Pending" else "paid",
            raw=dict(raw),
        )

    async def fetch_order(self, conn: ChannelConnection, external_id: str) -> ChannelOrder:
        """getOrder (2026-01-01, with the same datasets as a sync); on a v0 connection,
        getOrder with an RDT made for this order's path, and getOrderItems."""
        api = self.client(conn)
        if self.orders_api(conn) == ORDERS_2026:
            answer = await api.call(
                "GET",
                f"/orders/2026-01-01/orders/{external_id}",
                params={"includedData": INCLUDED},
                operation="getOrder_2026_01_01",
            )
            return self._order_2026(conn, answer["order"])
        path = f"/orders/v0/orders/{external_id}"
        pii = await self._pii_token(conn, api, path)
        answer = await api.call("GET", path, token=pii, operation="getOrder")
        return await self._with_items(conn, api, answer["payload"])

    # ------------------------------------------------------------------ fulfilment and stock

    async def confirm_shipment(self, conn: ChannelConnection, confirmation: ShipmentConfirmation) -> None:
        """confirmShipment with the carrier and tracking number.

        ``carrierCode`` is Amazon's code for the carrier when the seller mapped it (the
        connection's ``carrier_codes``, passed as ``confirmation.carrier_code``), else
        "Other" with the carrier's name in ``carrierName`` (ordersV0.json: required when
        the code is "Other"). ``packageReferenceId`` takes positive numbers only
        (ordersV0.json ``PackageReferenceId``): the shipment's number from its stable
        reference (``crossdock-shipment-<id>``), so a retried call is recognised."""
        api = self.client(conn)
        code = (confirmation.carrier_code or "").strip() or "Other"
        package: dict[str, Any] = {
            "packageReferenceId": package_reference_id(confirmation.reference, confirmation.tracking_number),
            "carrierCode": code,
        }
        if code == "Other":
            package["carrierName"] = confirmation.carrier
        await api.call(
            "POST",
            f"/orders/v0/orders/{confirmation.order_external_id}/shipmentConfirmation",
            body={
                "marketplaceId": self._marketplace_id(conn),
                "packageDetail": {
                    **package,
                    "shippingMethod": confirmation.service or "Standard",
                    "trackingNumber": confirmation.tracking_number,
                    "shipDate": confirmation.shipped_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "orderItems": [
                        {"orderItemId": line, "quantity": qty} for line, qty in confirmation.lines
                    ],
                },
            },
            operation="confirmShipment",
        )

    async def push_stock(
        self, conn: ChannelConnection, updates: Sequence[StockUpdate]
    ) -> Sequence[PushResult]:
        """patchListingsItem per SKU: ``merge`` of ``/attributes/fulfillment_availability``
        quantity, so the listing keeps its other fulfilment fields (handling time, restock
        date), which a ``replace`` would reset (listingsItems_2021-08-01.json ``PatchOperation``).

        A SKU Amazon does not know (404) or refuses (``INVALID`` with issues) fails its own
        result; errors about the seller or the call (credentials, throttling) are raised."""
        api = self.client(conn)
        seller = str(conn.credentials["seller_id"])
        results = []
        for update in updates:
            answer = await _per_sku(
                lambda u=update: api.call(
                    "PATCH",
                    f"/listings/2021-08-01/items/{seller}/{u.channel_sku}",
                    params={"marketplaceIds": self._marketplace_id(conn)},
                    body={
                        "productType": "PRODUCT",
                        "patches": [
                            {
                                "op": "merge",
                                "path": "/attributes/fulfillment_availability",
                                "value": [
                                    {"fulfillment_channel_code": "DEFAULT", "quantity": max(0, u.quantity)}
                                ],
                            }
                        ],
                    },
                    operation="patchListingsItem",
                )
            )
            results.append(_result(update.channel_sku, answer))
        return results

    async def push_prices(
        self, conn: ChannelConnection, updates: Sequence[PriceUpdate]
    ) -> Sequence[PushResult]:
        """patchListingsItem per SKU: ``/attributes/purchasable_offer`` our_price (shape as
        in Amazon's listings product-type schema; UNCONFIRMED in ../shared/marketplaces.md).
        Per-SKU refusals as in :meth:`push_stock`."""
        api = self.client(conn)
        seller = str(conn.credentials["seller_id"])
        marketplace_id = self._marketplace_id(conn)
        results = []
        for update in updates:
            offer = {
                "marketplace_id": marketplace_id,
                "currency": update.price.currency,
                "our_price": [{"schedule": [{"value_with_tax": str(update.price.rounded().amount)}]}],
            }
            answer = await _per_sku(
                lambda u=update, o=offer: api.call(
                    "PATCH",
                    f"/listings/2021-08-01/items/{seller}/{u.channel_sku}",
                    params={"marketplaceIds": marketplace_id},
                    body={
                        "productType": "PRODUCT",
                        "patches": [{"op": "replace", "path": "/attributes/purchasable_offer", "value": [o]}],
                    },
                    operation="patchListingsItem",
                )
            )
            results.append(_result(update.channel_sku, answer))
        return results

    # ------------------------------------------------------------------ after-sales

    async def cancel_order(self, conn: ChannelConnection, external_id: str, reason: CancelReason) -> None:
        """Cancel an MFN order with an order acknowledgement feed (``StatusCode`` Failure,
        every unshipped item with the mapped ``CancelReason``), waiting for Amazon to process
        it. An order Amazon shows cancelled already is success; one shipped (or partly), or
        fulfilled by Amazon, is refused before a feed is spent (createFeed: 0.0083/s), and
        the processing report's errors are refused with Amazon's code and text."""
        api = self.client(conn)
        await self._cancel(conn, api, external_id, CANCEL_REASONS[CancelReason(reason)])

    async def _cancel(
        self, conn: ChannelConnection, api: SpApiClient, order_id: str, feed_reason: str
    ) -> None:
        key = (conn.id, order_id)
        order = await self._case_order(api, order_id)
        fulfillment = order.get("fulfillment") or {}
        state = str(fulfillment.get("fulfillmentStatus") or "")
        if state == "CANCELLED":
            self._cancel_feeds.pop(key, None)
            return
        if fulfillment.get("fulfilledBy") == "AMAZON":
            raise ChannelError(
                f"amazon order {order_id} is fulfilled by Amazon: only Amazon can cancel it",
                code="FulfilledByAmazon",
            )
        if state not in CANCELLABLE:
            raise ChannelError(
                f"amazon order {order_id} is {state}: a shipped order cannot be cancelled"
                " (refund it in Seller Central)",
                code="OrderNotCancellable",
            )
        feed_id = self._cancel_feeds.get(key)
        if feed_id is None:
            items = [
                str(i["orderItemId"])
                for i in order.get("orderItems") or []
                if int(
                    ((i.get("fulfillment") or {}).get("quantityUnfulfilled")) or i.get("quantityOrdered") or 0
                )
                > 0
            ]
            feed = acknowledgement_feed(str(conn.credentials["seller_id"]), order_id, items, feed_reason)
            feed_id = await submit_feed(
                api, self._pool(conn), self._marketplace_id(conn), ACKNOWLEDGEMENT_FEED, feed
            )
            self._cancel_feeds[key] = feed_id
        wait = float(conn.settings.get("cancel_wait") or CANCEL_WAIT)
        errors = await wait_for_feed(api, self._pool(conn), feed_id, wait_seconds=wait)
        self._cancel_feeds.pop(key, None)
        if errors:
            code, text = errors[0]
            raise ChannelError(f"amazon refused to cancel order {order_id}: {text}", code=code)

    async def _case_order(self, api: SpApiClient, order_id: str) -> dict[str, Any]:
        """getOrder (2026-01-01) with what a cancellation needs: items, status, requests."""
        answer = await with_retries(
            lambda: api.call(
                "GET",
                f"/orders/2026-01-01/orders/{order_id}",
                params={"includedData": CASE_DATA},
                operation="getOrder_2026_01_01",
            )
        )
        return dict(answer["order"])

    async def fetch_cases(
        self, conn: ChannelConnection, *, updated_since: datetime, page_token: str | None
    ) -> CasePage:
        """Buyers' cancellation requests, then returns.

        Requests: searchOrders by ``lastUpdatedAfter`` with ``includedData`` CANCELLATION
        (a request updates its order), merchant-fulfilled orders only; the orders with a
        buyer's request are cases. Token ``o|<since>|<paginationToken>``, then ``r|`` for
        the returns: the newest returns report (read again until
        ``settings.returns_report_minutes`` have passed, then a new one is asked for while
        the last is read; a report still being made gives an empty page)."""
        api = self.client(conn)
        if page_token and page_token.startswith("r|"):
            return CasePage(cases=await self._return_cases(conn, api), next_page_token=None)
        since = updated_since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        params: dict[str, Any] = {
            "lastUpdatedAfter": since,
            "marketplaceIds": self._marketplace_id(conn),
            "fulfilledBy": "MERCHANT",
            "includedData": CASE_DATA,
            "maxResultsPerPage": 100,
        }
        if page_token and page_token.startswith("o|"):
            _, since, pagination = page_token.split("|", 2)
            params.update(lastUpdatedAfter=since, paginationToken=pagination)
        answer = await api.call("GET", "/orders/2026-01-01/orders", params=params, operation="searchOrders")
        cases = [c for c in (cancellation_case(o) for o in answer.get("orders") or []) if c is not None]
        cases.sort(key=lambda c: (c.updated_at, c.external_id))
        following = (answer.get("pagination") or {}).get("nextToken")
        upcoming: str | None
        if following:
            upcoming = f"o|{params['lastUpdatedAfter']}|{following}"
        else:
            upcoming = "r|" if conn.settings.get("returns_report", True) else None
        return CasePage(cases=cases, next_page_token=upcoming)

    async def _return_cases(self, conn: ChannelConnection, api: SpApiClient) -> list[ChannelCase]:
        marketplace_id = self._marketplace_id(conn)
        now = datetime.now(UTC)
        listed = await api.call(
            "GET",
            "/reports/2021-06-30/reports",
            params={
                "reportTypes": RETURNS_REPORT,
                "processingStatuses": REPORT_STATUSES,
                "marketplaceIds": marketplace_id,
                "createdSince": (now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "pageSize": 10,
            },
            operation="getReports",
        )
        reports = [r for r in listed.get("reports") or [] if isinstance(r, Mapping)]
        latest = newest(reports)
        done = newest(r for r in reports if r.get("processingStatus") == "DONE")
        every = float(conn.settings.get("returns_report_minutes", RETURNS_REPORT_MINUTES))
        coming = latest is not None and latest.get("processingStatus") != "DONE"
        created = _at(str(latest.get("createdTime"))) if latest else None
        if not coming and (created is None or now - created >= timedelta(minutes=every)):
            days = int(conn.settings.get("returns_days") or RETURNS_DAYS)
            await create_report(
                api,
                report_type=RETURNS_REPORT,
                marketplace_id=marketplace_id,
                start=now - timedelta(days=days),
                end=now,
            )
        if done is None or not done.get("reportDocumentId"):
            return []
        document = await report_document(api, self._pool(conn), str(done["reportDocumentId"]))
        return return_cases(document.decode("utf-8-sig", errors="replace"), conn.currency)

    async def respond_to_case(self, conn: ChannelConnection, response: CaseResponse) -> ChannelCase:
        """ACCEPT of a buyer's cancellation request: the order is cancelled with reason
        ``BuyerCanceled`` (the reason for a cancel the buyer asked for), then read back. An order
        already cancelled (a retried answer) is not cancelled again. Amazon takes no other
        answer over its API (no decline, nothing for returns)."""
        if response.kind != CaseKind.CANCELLATION or response.action != CaseAction.ACCEPT:
            raise ChannelError(
                f"amazon takes no {response.action} for a {response.kind} case over its API",
                code="NotSupported",
            )
        api = self.client(conn)
        await self._cancel(conn, api, response.order_external_id, CANCEL_REASONS[CancelReason.BUYER_REQUEST])
        case = cancellation_case(await self._case_order(api, response.order_external_id), always=True)
        assert case is not None
        return case

    # ------------------------------------------------------------------ settlements

    async def fetch_settlements(
        self, conn: ChannelConnection, *, updated_since: datetime, page_token: str | None
    ) -> SettlementPage:
        """Finances v0: financial event groups started since (one settlement period before)
        the cursor, each with its events, as signed settlement lines."""
        api = self.client(conn)
        params: dict[str, Any] = {"MaxResultsPerPage": 100}
        if page_token:
            params["NextToken"] = page_token
        else:
            start = updated_since - SETTLEMENT_PERIOD
            params["FinancialEventGroupStartedAfter"] = start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        answer = await api.call(
            "GET", "/finances/v0/financialEventGroups", params=params, operation="listFinancialEventGroups"
        )
        payload = answer.get("payload") or {}
        settlements = [
            await with_retries(partial(self._settlement, conn, api, group))
            for group in payload.get("FinancialEventGroupList") or []
        ]
        return SettlementPage(settlements=settlements, next_page_token=payload.get("NextToken"))

    async def _settlement(
        self, conn: ChannelConnection, api: SpApiClient, group: Mapping[str, Any]
    ) -> ChannelSettlement:
        group_id = str(group["FinancialEventGroupId"])
        lines: list[SettlementLine] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"MaxResultsPerPage": 100, **({"NextToken": token} if token else {})}
            answer = await api.call(
                "GET",
                f"/finances/v0/financialEventGroups/{group_id}/financialEvents",
                params=params,
                operation="listFinancialEventsByGroupId",
            )
            payload = answer.get("payload") or {}
            lines.extend(_event_lines(payload.get("FinancialEvents") or {}, conn.currency))
            token = payload.get("NextToken")
            if not token:
                break
        closed = group.get("ProcessingStatus") == "Closed"
        paid = closed and group.get("FundTransferStatus") in ("Succeeded", "Transferred")
        return ChannelSettlement(
            external_id=group_id,
            opened_at=_at(group.get("FinancialEventGroupStart")) or datetime.now(UTC),
            closed_at=_at(group.get("FinancialEventGroupEnd")) if closed else None,
            paid_at=_at(group.get("FundTransferDate")) if paid else None,
            total=_amount(group.get("OriginalTotal"), conn.currency),
            status="paid" if paid else ("closed" if closed else "open"),
            lines=lines,
        )

    # ------------------------------------------------------------------ advertising and traffic

    async def fetch_ads(
        self, conn: ChannelConnection, *, day_from: date, day_to: date, page_token: str | None
    ) -> AdReportPage:
        """Sponsored Products through the Amazon Ads API v3 (:mod:`crossdock_amazon.ads`):
        the campaigns (``/sp/campaigns/list``), then the ``spCampaigns``,
        ``spAdvertisedProduct`` and ``spSearchTerm`` daily reports, made, polled and read
        across calls. Needs ``credentials.ads_refresh_token`` and ``ads_profile_id``."""
        return await self._ads.fetch(
            conn,
            self._pool(conn),
            SITE_REGION[conn.site],
            day_from=day_from,
            day_to=day_to,
            page_token=page_token,
        )

    async def fetch_traffic(
        self, conn: ChannelConnection, *, day_from: date, day_to: date, page_token: str | None
    ) -> TrafficPage:
        """Sessions, page views and ordered units per day and SKU from the Sales and Traffic
        report (:mod:`crossdock_amazon.traffic`), one report per day."""
        return await self._traffic.fetch(
            conn,
            self.client(conn),
            self._pool(conn),
            self._marketplace_id(conn),
            day_from=day_from,
            day_to=day_to,
            page_token=page_token,
        )

    # ------------------------------------------------------------------ listing content

    async def fetch_categories(self, conn: ChannelConnection, *, language: str) -> Sequence[ChannelCategory]:
        """The product types of the shop's marketplace (searchDefinitionsProductTypes), all
        leaves (:mod:`crossdock_amazon.listings`)."""
        return await self._listings.categories(self.client(conn), self._marketplace_id(conn))

    def _locale(self, conn: ChannelConnection, language: str) -> str:
        site = next(s for s in SITES if s.code == conn.site)
        return _language_tag(language or "en", site.country)

    async def fetch_category_rules(
        self, conn: ChannelConnection, category_id: str, *, language: str
    ) -> CategoryRules:
        """getDefinitionsProductType (``requirements=LISTING``) and the JSON Schema it links
        to: the schema itself, its attributes and the content limits it sets."""
        schema = await self._listings.schema(
            conn,
            self.client(conn),
            self._pool(conn),
            self._marketplace_id(conn),
            category_id,
            self._locale(conn, language),
        )
        return rules_of(category_id, schema)

    async def publish_listing(
        self, conn: ChannelConnection, draft: ListingDraft, *, preview: bool = False
    ) -> PublishResult:
        """putListingsItem of the whole listing (``mode=VALIDATION_PREVIEW`` for a
        preview), its values shaped by the product type's schema; Amazon's issues are the
        problems. ``external_id`` is the SKU."""
        refused = self._listings.refused_before_sending(draft)
        if refused:
            return PublishResult(PublishOutcome.REJECTED, None, refused)
        api = self.client(conn)
        marketplace_id = self._marketplace_id(conn)
        tag = self._locale(conn, draft.language)
        try:
            schema = await self._listings.schema(
                conn, api, self._pool(conn), marketplace_id, str(draft.category_id), tag
            )
        except ChannelError as exc:
            if exc.code != "REFUSED":
                raise
            return PublishResult(
                PublishOutcome.REJECTED,
                None,
                [ListingProblem("PRODUCT_TYPE_UNKNOWN", exc.message, "category_id")],
            )
        params: dict[str, Any] = {
            "marketplaceIds": marketplace_id,
            "includedData": "issues",
            "issueLocale": tag,
        }
        if preview:
            params["mode"] = "VALIDATION_PREVIEW"
        seller = str(conn.credentials["seller_id"])
        answer = await api.call(
            "PUT",
            f"{LISTINGS}/{seller}/{quote(draft.sku, safe='')}",
            params=params,
            body=self._listings.body(draft, schema, marketplace_id, tag),
            operation="putListingsItem",
        )
        return self._listings.result(draft.sku, answer or {}, preview)

    async def read_listing(
        self, conn: ChannelConnection, sku: str, external_id: str | None, *, language: str
    ) -> ListingDraft | None:
        """getListingsItem with summaries, attributes and issues; ``None`` on a 404."""
        item = await self._listings.item(
            self.client(conn),
            str(conn.credentials["seller_id"]),
            quote(sku, safe=""),
            self._marketplace_id(conn),
            "summaries,attributes,issues",
        )
        if item is None:
            return None
        return self._listings.draft_of(item, sku, language, conn.currency)

    async def deactivate_listing(self, conn: ChannelConnection, sku: str, external_id: str | None) -> None:
        """Quantity 0 with patchListingsItem (``merge`` of ``fulfillment_availability``):
        off sale, its content kept. A SKU Amazon does not know is off sale already."""
        api = self.client(conn)
        seller = str(conn.credentials["seller_id"])
        marketplace_id = self._marketplace_id(conn)
        path_sku = quote(sku, safe="")
        item = await self._listings.item(api, seller, path_sku, marketplace_id, "summaries")
        if item is None:
            return
        summary: Mapping[str, Any] = next(iter(item.get("summaries") or []), {}) or {}
        answer = await api.call(
            "PATCH",
            f"{LISTINGS}/{seller}/{path_sku}",
            params={"marketplaceIds": marketplace_id, "includedData": "issues"},
            body={
                "productType": str(summary.get("productType") or "PRODUCT"),
                "patches": [
                    {
                        "op": "merge",
                        "path": "/attributes/fulfillment_availability",
                        "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 0}],
                    }
                ],
            },
            operation="patchListingsItem",
        )
        if (answer or {}).get("status") != "ACCEPTED":
            issues = "; ".join(str(i.get("message")) for i in (answer or {}).get("issues") or [])
            raise ChannelError(f"amazon kept {sku} on sale: {issues or answer}", code="INVALID")

    async def fetch_competitor_offers(
        self, conn: ChannelConnection, sku: str, external_id: str | None
    ) -> Sequence[CompetitorOffer]:
        """getItemOffers (New) for the listing's ASIN, read from getListingsItem summaries;
        the seller's own offer left out. A SKU Amazon does not know has no competitors."""
        api = self.client(conn)
        marketplace_id = self._marketplace_id(conn)
        item = await self._listings.item(
            api, str(conn.credentials["seller_id"]), quote(sku, safe=""), marketplace_id, "summaries"
        )
        summary: Mapping[str, Any] = next(iter((item or {}).get("summaries") or []), {}) or {}
        asin = summary.get("asin")
        if not asin:
            return []
        answer = await api.call(
            "GET",
            f"/products/pricing/v0/items/{asin}/offers",
            params={"MarketplaceId": marketplace_id, "ItemCondition": "New"},
            operation="getItemOffers",
        )
        return self._listings.offers((answer or {}).get("payload") or {}, conn.currency)

    # ------------------------------------------------------------------ notifications

    def notification_source(self, conn: ChannelConnection) -> SqsQueue | None:
        """The seller's SQS queue, if the connection names one (else the core only syncs)."""
        queue_url = conn.settings.get("notifications_queue_url")
        creds = conn.credentials
        if not queue_url or not creds.get("aws_access_key_id"):
            return None
        seller = str(creds.get("seller_id", ""))
        queue_arn = str(conn.settings.get("notifications_queue_arn") or SqsQueue.arn_of(str(queue_url)))
        return SqsQueue(
            str(queue_url),
            access_key=str(creds["aws_access_key_id"]),
            secret_key=str(creds["aws_secret_access_key"]),
            session_token=creds.get("aws_session_token"),
            http=self._pool(conn),
            parse=lambda body: order_references(body, seller),
            endpoint=conn.settings.get("sqs_endpoint"),
            before_first_receive=partial(
                self._notifications.ensure,
                conn,
                self._pool(conn),
                queue_arn,
                conn.base_url or REGION_HOSTS[SITE_REGION[conn.site]],
                self._lwa_url(conn),
            ),
        )

    @staticmethod
    def _lwa_url(conn: ChannelConnection) -> str:
        return str(conn.settings.get("lwa_url") or conn.base_url or LWA_HOST)

    async def refresh_credentials(self, conn: ChannelConnection) -> Mapping[str, Any]:
        creds = dict(conn.credentials)
        lwa = self._lwa_url(conn)
        answer = await lwa_token(
            self._pool(conn),
            lwa,
            {
                "grant_type": "refresh_token",
                "refresh_token": str(creds["refresh_token"]),
                "client_id": str(creds["lwa_client_id"]),
                "client_secret": str(creds["lwa_client_secret"]),
            },
        )
        creds.update(
            access_token=answer["access_token"],
            access_expires_at=int(time.time()) + int(answer.get("expires_in", 3600)),
        )
        if answer.get("refresh_token"):
            creds["refresh_token"] = answer["refresh_token"]
        return creds


def order_references(body: str, seller_id: str) -> list[dict[str, str]]:
    """What an SP-API notification is about: the order of an ``ORDER_CHANGE`` for this
    seller. Other types, and other sellers' events on a shared queue, name nothing."""
    envelope = json.loads(body)
    if not isinstance(envelope, dict) or envelope.get("NotificationType") != "ORDER_CHANGE":
        return []
    change = (envelope.get("Payload") or {}).get("OrderChangeNotification") or {}
    if seller_id and change.get("SellerId") not in (None, seller_id):
        return []
    order_id = change.get("AmazonOrderId")
    return [{"type": "order", "external_id": str(order_id)}] if order_id else []


def _amount(value: Mapping[str, Any] | None, currency: str) -> Money:
    """Finances amounts: ``{"CurrencyCode", "CurrencyAmount"}`` (a JSON number, read exactly)."""
    if not value:
        return Money(Decimal(0), currency)
    return Money(Decimal(str(value.get("CurrencyAmount", 0))), str(value.get("CurrencyCode") or currency))


def _event_lines(events: Mapping[str, Any], currency: str) -> list[SettlementLine]:
    lines: list[SettlementLine] = []
    for event in events.get("ShipmentEventList") or []:
        order_id = event.get("AmazonOrderId")
        for item in event.get("ShipmentItemList") or []:
            for charge in item.get("ItemChargeList") or []:
                kind = CHARGE_KINDS.get(charge.get("ChargeType"), "other")
                lines.append(
                    SettlementLine(
                        kind,
                        _amount(charge.get("ChargeAmount"), currency),
                        order_id,
                        charge.get("ChargeType", ""),
                    )
                )
            for fee in item.get("ItemFeeList") or []:
                fee_type = str(fee.get("FeeType", ""))
                kind = FEE_KINDS.get(fee_type, "fulfilment_fee" if fee_type.startswith("FBA") else "other")
                lines.append(
                    SettlementLine(kind, _amount(fee.get("FeeAmount"), currency), order_id, fee_type)
                )
    for event in events.get("RefundEventList") or []:
        order_id = event.get("AmazonOrderId")
        for item in event.get("ShipmentItemAdjustmentList") or []:
            for charge in item.get("ItemChargeAdjustmentList") or []:
                lines.append(
                    SettlementLine(
                        "refund",
                        _amount(charge.get("ChargeAmount"), currency),
                        order_id,
                        charge.get("ChargeType", ""),
                    )
                )
            for fee in item.get("ItemFeeAdjustmentList") or []:
                lines.append(
                    SettlementLine(
                        "commission",
                        _amount(fee.get("FeeAmount"), currency),
                        order_id,
                        fee.get("FeeType", ""),
                    )
                )
    for event in events.get("ServiceFeeEventList") or []:
        for fee in event.get("FeeList") or []:
            lines.append(
                SettlementLine(
                    "other",
                    _amount(fee.get("FeeAmount"), currency),
                    event.get("AmazonOrderId"),
                    str(event.get("FeeReason") or fee.get("FeeType", "")),
                )
            )
    for event in events.get("ProductAdsPaymentEventList") or []:
        lines.append(
            SettlementLine(
                "advertising", _amount(event.get("transactionValue"), currency), None, "Sponsored Products"
            )
        )
    return lines


#: patchListingsItem error codes that are about the one SKU asked for (Amazon answers 404
#: ``NotFound`` for a SKU the seller has no listing for), not about the seller or the call.
SKU_ERRORS = frozenset({"NotFound", "NOT_FOUND", "404"})


async def _per_sku(call: Any) -> dict[str, Any]:
    """One listing's patch, retried on transient errors; a refusal that belongs to this SKU
    comes back as an ``INVALID`` answer instead of failing the whole push."""
    try:
        answer = await with_retries(call)
    except ChannelError as exc:
        if exc.retryable or exc.code not in SKU_ERRORS:
            raise
        return {"status": "INVALID", "issues": [{"code": exc.code, "message": exc.message}]}
    return answer if isinstance(answer, dict) else {}


def _result(channel_sku: str, answer: Mapping[str, Any]) -> PushResult:
    issues = "; ".join(
        str(i.get("message", "")) for i in answer.get("issues") or [] if isinstance(i, Mapping)
    )
    accepted = answer.get("status") == "ACCEPTED"
    refused = None if accepted else f"status {answer.get('status')}"
    return PushResult(channel_sku, accepted, issues or refused)
