"""The TikTok Shop provider (Partner API, 202309 resource versions).

Sites: the TikTok Shop markets (../shared/marketplaces.md). Rate limit: 50 requests per
second per API per app x shop, declared per operation in :data:`RATE_LIMITS`.

Credentials of a connection: ``app_key``, ``app_secret``, ``access_token``,
``refresh_token``, optionally ``shop_cipher`` and ``shop_id``; for advertising (TikTok API
for Business, :mod:`crossdock_tiktok.ads`) ``advertiser_id``, ``ads_access_token`` and
optionally ``ads_store_id``, with ``settings.ads_base_url``. When ``shop_cipher`` is
missing it is looked up with ``GET /authorization/202309/shops`` (the shop whose id is
``shop_id``, else whose region is the connection's site, else the only one), kept in
memory for the connection, and written into the credentials at the next refresh.

Settings: ``timeout`` (seconds), ``auth_base_url`` (token host; defaults to ``base_url``
when one is set, else ``auth.tiktok-shops.com``), ``warehouse_id`` (the TikTok warehouse
that holds a multi-warehouse SKU's available stock; default: the shop's default sales
warehouse), ``warehouse_shares`` (``{TikTok warehouse id: weight}``: split it across
several instead), ``handover_method`` (PICKUP or DROP_OFF, for TikTok Shipping packages
confirmed without a tracking number) and the core's ``carrier_codes`` (carrier name ->
TikTok shipping_provider_id, for carriers whose names differ from TikTok's list).

Stock: Crossdock pushes one available quantity per listing. TikTok's Update Inventory
takes a quantity per warehouse and must list every warehouse assigned to the SKU, no other
(reference ``update-inventory``: "You must include all warehouse IDs assigned to this SKU
... Do not omit any or add unrelated warehouses"; 12019028, 12052533). A SKU's buyers can
buy the sum of its warehouses' quantities, so the quantity goes to one warehouse (or is
split by ``warehouse_shares``) and every other assigned warehouse is set to 0: TikTok
never offers more than Crossdock has. A SKU's warehouses are read from Get Product
(``skus[].inventory[].warehouse_id``), kept ``PRODUCT_TTL`` seconds per product, and read
again at once when TikTok refuses the warehouses sent.

Listing external ids are ``"<product_id>:<sku_id>"`` (TikTok updates stock and prices per
product, naming its SKUs).

Buyer messages are TikTok's customer service conversations: a Crossdock thread is a
conversation id, a message id is TikTok's, replies are TEXT messages into the conversation.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any

from crossdock import (
    AdReportPage,
    CancelReason,
    CasePage,
    CaseResponse,
    CategoryRules,
    ChannelCase,
    ChannelCategory,
    ChannelConnection,
    ChannelError,
    ChannelMessage,
    ChannelOrder,
    ListingDraft,
    ListingImage,
    MarketplaceBase,
    MarketplaceCapability,
    MessagePage,
    OrderPage,
    OutgoingMessage,
    PriceUpdate,
    PublishResult,
    PushResult,
    RateLimit,
    ShipmentConfirmation,
    Site,
    StockUpdate,
    TrafficPage,
    WebhookPush,
    parse_push_json,
    with_retries,
)
from crossdock_tiktok import __version__, ads, aftersales, listings
from crossdock_tiktok.client import (
    AUTH_EXPIRED,
    BAD_CREDENTIALS,
    BAD_SIGN,
    MISSING_SHOP_CIPHER,
    SHOP_MISMATCH,
    TRY_AGAIN,
    TikTokShopClient,
)
from crossdock_tiktok.mapping import (
    BUYER,
    SELLER_ROLES,
    message_order_context,
    message_text,
    to_message,
    to_order,
    unit_groups,
)
from crossdock_tiktok.signing import verify_push

__all__ = ["OPERATIONS", "RATE_LIMITS", "SITES", "TikTokShopMarketplace"]

SITES: tuple[Site, ...] = (
    Site(code="US", country="US", currency="USD", name="TikTok Shop US"),
    Site(code="GB", country="GB", currency="GBP", name="TikTok Shop UK"),
    Site(code="ID", country="ID", currency="IDR", name="TikTok Shop Indonesia"),
    Site(code="MY", country="MY", currency="MYR", name="TikTok Shop Malaysia"),
    Site(code="PH", country="PH", currency="PHP", name="TikTok Shop Philippines"),
    Site(code="SG", country="SG", currency="SGD", name="TikTok Shop Singapore"),
    Site(code="TH", country="TH", currency="THB", name="TikTok Shop Thailand"),
    Site(code="VN", country="VN", currency="VND", name="TikTok Shop Vietnam"),
)

#: The APIs this plugin calls, each its own rate-limit bucket (the key passed to
#: ``conn.throttle``).
OPERATIONS = (
    "authorization.shops",
    "orders.search",
    "orders.detail",
    "packages.ship",
    "logistics.shipping_providers",
    "logistics.warehouses",
    "products.detail",
    "products.inventory_update",
    "products.prices_update",
    "customer_service.conversations",
    "customer_service.messages",
    "customer_service.send_message",
    "return_refund.cancel",
    "return_refund.cancellations_search",
    "return_refund.cancellation_approve",
    "return_refund.cancellation_reject",
    "return_refund.returns_search",
    "return_refund.return_approve",
    "return_refund.return_reject",
    "return_refund.return_records",
    "return_refund.reject_reasons",
    *ads.ANALYTICS_OPERATIONS,
    *listings.LISTING_OPERATIONS,
)
#: Documented: 50 requests per second per API per app x shop. The Marketing API (GMV Max)
#: calls: the report's "Basic" rate limit level, 8 per second and 240 per minute (assumed
#: for its other endpoints too, UNCONFIRMED).
RATE_LIMITS: Mapping[str, RateLimit] = {
    **{op: RateLimit(rate=50.0, burst=50) for op in OPERATIONS},
    **{op: RateLimit(rate=4.0, burst=8) for op in ads.ADS_OPERATIONS},
}

PAGE_SIZE = 100  # orders/search page_size maximum
DETAIL_BATCH = 50  # orders?ids= takes at most 50 ids
SKU_BATCH = 50  # SKUs per inventory/price update call (a product has at most 100: 12052050)
QUANTITY_MAX = 99_999  # Update Inventory's largest quantity per warehouse
PRODUCT_TTL = 600.0  # seconds a product's SKU warehouses (Get Product) are trusted
MAX_PRODUCTS = 10_000  # products whose warehouses are remembered (per process)
#: Update Inventory codes saying the warehouses sent are not the SKU's: read them again
WAREHOUSE_CODES = frozenset({"12019028", "12052533", "12052097", "12052037", "12019022"})
CONVERSATION_PAGE = 20  # customer_service conversations: page_size maximum
MESSAGE_PAGE = 10  # conversation messages: page_size maximum
MAX_TEXT = 2000  # characters of a TEXT message
RECHECK_PAGES = 5  # conversation pages re-read at the end of a sync (changed meanwhile)
CLOCK_SKEW = 60  # seconds allowed between our clock and TikTok's message times
MAX_UNSURE = 1000  # sends with an unknown outcome remembered (per process)
#: errors after which a send may have gone through all the same (a 429 was refused)
UNSURE_CODES = frozenset({"TIMEOUT", "NETWORK", "SERVER_ERROR", "MALFORMED", TRY_AGAIN})
CONVERSATIONS = "/customer_service/202309/conversations"
_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
NOT_READY_RETRY = 300.0  # seconds before retrying a shipment of an order still on hold
#: line items' package_status once the seller has shipped the package: PROCESSING (shipment
#: arranged, waiting for the carrier), FULFILLING (collected), COMPLETED (delivered);
#: TO_FULFILL means it waits for the seller.
SHIPPED_PACKAGE = frozenset({"PROCESSING", "FULFILLING", "COMPLETED"})
#: codes that are about the connection, not about one product: they fail the whole push
CONNECTION_CODES = frozenset(
    {AUTH_EXPIRED, str(BAD_SIGN), str(BAD_CREDENTIALS), str(MISSING_SHOP_CIPHER), str(SHOP_MISMATCH)}
)
#: a shop_cipher that no longer fits the token (missing, or another shop's): look it up again
STALE_CIPHER_CODES = frozenset({str(MISSING_SHOP_CIPHER), str(SHOP_MISMATCH)})


def _carrier_key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.casefold())


class TikTokShopMarketplace(MarketplaceBase):
    name = "tiktok"
    display_name = "TikTok Shop"
    version = __version__
    capabilities = frozenset(
        {
            MarketplaceCapability.ORDERS_SYNC,
            MarketplaceCapability.ORDERS_GET,
            MarketplaceCapability.SHIPMENTS_CONFIRM,
            MarketplaceCapability.STOCK_PUSH,
            MarketplaceCapability.PRICE_PUSH,
            MarketplaceCapability.MESSAGES_READ,
            MarketplaceCapability.MESSAGES_SEND,
            MarketplaceCapability.WEBHOOKS,
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
        }
    )
    rate_limits = RATE_LIMITS

    def __init__(self) -> None:
        # per-connection lookups, keyed by _conn_key: shop cipher, carriers, warehouse
        self._ciphers: dict[tuple[Any, ...], str] = {}
        self._carriers: dict[tuple[Any, ...], dict[str, str]] = {}
        self._warehouses: dict[tuple[Any, ...], str | None] = {}
        # (connection, product id) -> (monotonic time read, SKU id -> its warehouse ids)
        self._sku_warehouses: dict[tuple[Any, ...], tuple[float, dict[str, list[str]]]] = {}
        # (connection, message reference) -> time of a send attempt whose outcome is unknown
        self._unsure_sends: dict[tuple[Any, ...], float] = {}
        # (connection, product id) -> (monotonic time read, the product's seller SKUs)
        self._product_skus: dict[tuple[Any, ...], tuple[float, tuple[str, ...]]] = {}
        # (connection, image key) -> the uri Upload Product Image gave it
        self._image_uris: dict[tuple[Any, ...], str] = {}

    def sites(self) -> Sequence[Site]:
        return SITES

    # --------------------------------------------------------------- plumbing

    def client(self, conn: ChannelConnection) -> TikTokShopClient:
        http = conn.http_client()  # the server's shared pool, guarded against internal addresses
        creds = conn.credentials
        return TikTokShopClient(
            str(creds["app_key"]),
            str(creds["app_secret"]),
            base_url=conn.base_url,
            auth_base_url=conn.settings.get("auth_base_url") or conn.base_url,
            http=http,
            throttle=conn.throttle,
        )

    @staticmethod
    def _conn_key(conn: ChannelConnection) -> tuple[Any, ...]:
        creds = conn.credentials
        return (conn.id, conn.base_url, creds.get("app_key"), creds.get("shop_id"), conn.site)

    async def _shops(self, conn: ChannelConnection, access_token: str) -> list[dict[str, Any]]:
        data = await self.client(conn).call(
            "GET", "/authorization/202309/shops", operation="authorization.shops", access_token=access_token
        )
        return list(data.get("shops") or [])

    def _pick_shop(self, conn: ChannelConnection, shops: Sequence[dict[str, Any]]) -> dict[str, Any]:
        wanted = conn.credentials.get("shop_id")
        if wanted:
            found = [s for s in shops if str(s.get("id")) == str(wanted)]
        else:
            found = [s for s in shops if s.get("region") == conn.site] or (
                list(shops) if len(shops) == 1 else []
            )
        if len(found) != 1:
            raise ChannelError(
                f"tiktok: cannot tell which of {len(shops)} authorized shops this connection is "
                "(set shop_id in the credentials)",
                code="SHOP_NOT_FOUND",
            )
        return found[0]

    async def _cipher(self, conn: ChannelConnection) -> tuple[str, bool]:
        """The shop_cipher and whether it was looked up (not given in the credentials)."""
        given = conn.credentials.get("shop_cipher")
        if given:
            return str(given), False
        key = self._conn_key(conn)
        if key not in self._ciphers:
            shop = self._pick_shop(conn, await self._shops(conn, str(conn.credentials["access_token"])))
            self._ciphers[key] = str(shop["cipher"])
        return self._ciphers[key], True

    async def _shop_call(
        self, conn: ChannelConnection, method: str, path: str, operation: str, **kwargs: Any
    ) -> dict[str, Any]:
        cipher, looked_up = await self._cipher(conn)
        try:
            return await self.client(conn).call(
                method,
                path,
                operation=operation,
                access_token=str(conn.credentials["access_token"]),
                shop_cipher=cipher,
                **kwargs,
            )
        except ChannelError as exc:
            if looked_up and exc.code in STALE_CIPHER_CODES:
                # a cipher we looked up went stale (shop re-authorized): look it up again
                self._ciphers.pop(self._conn_key(conn), None)
                raise ChannelError(exc.message, code=exc.code, retryable=True) from exc
            raise

    async def _upload(self, conn: ChannelConnection, image: ListingImage, use_case: str) -> dict[str, Any]:
        """Upload Product Image (``POST /product/202309/images/upload``, multipart; the
        reference lists no shop_cipher for it): returns ``uri``, ``url``, ``width``..."""
        name = image.key.rsplit("/", 1)[-1] or "image"
        return await self.client(conn).upload(
            listings.IMAGE_UPLOAD,
            operation="products.image_upload",
            access_token=str(conn.credentials["access_token"]),
            file=(name, image.data, image.content_type),
            fields={"use_case": use_case},
        )

    # --------------------------------------------------------------- listing content

    async def fetch_categories(self, conn: ChannelConnection, *, language: str) -> Sequence[ChannelCategory]:
        """The shop's category tree (:mod:`crossdock_tiktok.listings`)."""
        return await listings.fetch_categories(self, conn, language=language)

    async def fetch_category_rules(
        self, conn: ChannelConnection, category_id: str, *, language: str
    ) -> CategoryRules:
        """A leaf category's product attributes (``AttributeRule.name`` is the attribute id)
        and TikTok's limits on titles and images."""
        return await listings.fetch_category_rules(self, conn, category_id, language=language)

    async def publish_listing(
        self, conn: ChannelConnection, draft: ListingDraft, *, preview: bool = False
    ) -> PublishResult:
        """Create the product, or edit the one that holds the SKU; ``preview``: the listing
        pre-check only."""
        return await listings.publish_listing(self, conn, draft, preview=preview)

    async def read_listing(
        self, conn: ChannelConnection, sku: str, external_id: str | None, *, language: str
    ) -> ListingDraft | None:
        return await listings.read_listing(self, conn, sku, external_id, language=language)

    async def deactivate_listing(self, conn: ChannelConnection, sku: str, external_id: str | None) -> None:
        await listings.deactivate_listing(self, conn, sku, external_id)

    # --------------------------------------------------------------- orders

    async def fetch_orders(
        self, conn: ChannelConnection, *, updated_since: datetime, page_token: str | None
    ) -> OrderPage:
        """Orders updated in ``[updated_since, start of this sync)``, by update time ascending.

        The first page fixes the upper bound, so every page of one sync reads the same set
        (an order updated meanwhile comes in the next sync, which overlaps this one). The
        page token carries the bounds and TikTok's own page_token, so a resumed sync
        continues exactly where the last committed page ended.
        """
        if page_token:
            try:
                state = json.loads(page_token)
                ge, lt, tiktok_token = int(state["ge"]), int(state["lt"]), str(state["page"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ChannelError(
                    f"tiktok: not a page token of this plugin: {page_token!r}", code="PAGE_TOKEN"
                ) from exc
        else:
            ge, lt, tiktok_token = int(updated_since.timestamp()), int(time.time()) + 1, ""
        params: dict[str, Any] = {"page_size": PAGE_SIZE, "sort_field": "update_time", "sort_order": "ASC"}
        if tiktok_token:
            params["page_token"] = tiktok_token
        data = await self._shop_call(
            conn,
            "POST",
            "/order/202309/orders/search",
            "orders.search",
            params=params,
            body={"update_time_ge": ge, "update_time_lt": lt},
        )
        orders = _unique(to_order(raw) for raw in data.get("orders") or [])
        following = data.get("next_page_token") or ""
        if not following:
            return OrderPage(orders=orders, next_page_token=None)
        token = json.dumps({"ge": ge, "lt": lt, "page": following}, sort_keys=True, separators=(",", ":"))
        return OrderPage(orders=orders, next_page_token=token)

    async def _details(self, conn: ChannelConnection, ids: Sequence[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for i in range(0, len(ids), DETAIL_BATCH):
            data = await self._shop_call(
                conn,
                "GET",
                "/order/202309/orders",
                "orders.detail",
                params={"ids": ",".join(ids[i : i + DETAIL_BATCH])},
            )
            found.extend(data.get("orders") or [])
        return found

    async def _order_raw(self, conn: ChannelConnection, external_id: str) -> dict[str, Any]:
        found = [o for o in await self._details(conn, [external_id]) if str(o.get("id")) == external_id]
        if not found:
            raise ChannelError(f"tiktok has no order {external_id}", code="NOT_FOUND")
        return found[0]

    async def fetch_order(self, conn: ChannelConnection, external_id: str) -> ChannelOrder:
        return to_order(await self._order_raw(conn, external_id))

    # --------------------------------------------------------------- advertising and traffic

    async def fetch_ads(
        self, conn: ChannelConnection, *, day_from: date, day_to: date, page_token: str | None
    ) -> AdReportPage:
        """Product GMV Max campaigns and their daily CAMPAIGN and PRODUCT rows, from TikTok
        API for Business (credentials ``advertiser_id``, ``ads_access_token``; see
        :mod:`crossdock_tiktok.ads`)."""
        return await ads.fetch_ads(self, conn, day_from=day_from, day_to=day_to, page_token=page_token)

    async def fetch_traffic(
        self, conn: ChannelConnection, *, day_from: date, day_to: date, page_token: str | None
    ) -> TrafficPage:
        """Daily visits and page views of the shop and of its products (Shop Analytics)."""
        return await ads.fetch_traffic(self, conn, day_from=day_from, day_to=day_to, page_token=page_token)

    async def _seller_skus(self, conn: ChannelConnection, product_id: str) -> tuple[str, ...]:
        """The seller SKUs of a TikTok product (Get Product ``skus[].seller_sku``), read at
        most every ``PRODUCT_TTL`` seconds; none for a product TikTok no longer has."""
        key = (*self._conn_key(conn), product_id)
        cached = self._product_skus.get(key)
        if cached is not None and time.monotonic() - cached[0] < PRODUCT_TTL:
            return cached[1]
        try:
            data = await self._shop_call(
                conn, "GET", f"/product/202309/products/{product_id}", "products.detail"
            )
        except ChannelError as exc:
            if exc.code != "12052048":  # the product is gone: its rows keep no SKU
                raise
            data = {}
        found = tuple(
            str(sku["seller_sku"])
            for sku in data.get("skus") or []
            if isinstance(sku, dict) and sku.get("seller_sku")
        )
        self._product_skus.pop(key, None)
        self._product_skus[key] = (time.monotonic(), found)
        while len(self._product_skus) > MAX_PRODUCTS:
            del self._product_skus[next(iter(self._product_skus))]
        return found

    # --------------------------------------------------------------- after-sales

    async def cancel_order(self, conn: ChannelConnection, external_id: str, reason: CancelReason) -> None:
        """Cancel as the seller (``POST /return_refund/202309/cancellations``), see
        :func:`crossdock_tiktok.aftersales.cancel_order`."""
        await aftersales.cancel_order(self, conn, external_id, reason)

    async def fetch_cases(
        self, conn: ChannelConnection, *, updated_since: datetime, page_token: str | None
    ) -> CasePage:
        """Buyers' cancellation requests, returns and refunds (:mod:`crossdock_tiktok.aftersales`)."""
        return await aftersales.fetch_cases(self, conn, updated_since=updated_since, page_token=page_token)

    async def respond_to_case(self, conn: ChannelConnection, response: CaseResponse) -> ChannelCase:
        return await aftersales.respond_to_case(self, conn, response)

    # --------------------------------------------------------------- fulfilment

    async def confirm_shipment(
        self, conn: ChannelConnection, confirmation: ShipmentConfirmation
    ) -> str | None:
        """Ship the packages holding the shipment's lines.

        An order whose delivery option is SEND_BY_SELLER (``shipping_type`` SELLER) ships with
        ``self_shipment``: the seller's tracking number and the carrier mapped to a TikTok
        ``shipping_provider_id`` of the order's delivery option; returns None. A TikTok
        Shipping order (``shipping_type`` TIKTOK) ships by handing the package over
        (``handover_method`` setting, PICKUP by default): TikTok books its carrier and the
        tracking number it assigned is returned. The reference (``ship-package``) allows
        ``self_shipment`` only for SEND_BY_SELLER packages, so a seller's tracking number
        for a TikTok Shipping order, or none for a seller-shipped one, is refused here
        (permanent ``PLATFORM_SHIPPING`` / ``TRACKING_REQUIRED``) before calling.

        Idempotent: a package already handed over counts as done (when it carries this
        same tracking number, or any when TikTok assigned it), so a retry succeeds.
        """
        raw = await self._order_raw(conn, confirmation.order_external_id)
        if raw.get("fulfillment_type") == "FULFILLMENT_BY_TIKTOK":
            raise ChannelError(
                f"tiktok fulfils order {confirmation.order_external_id} itself", code="FULFILLED_BY_TIKTOK"
            )
        status = raw.get("status")
        if status == "CANCELLED":
            raise ChannelError(
                f"tiktok order {confirmation.order_external_id} is cancelled", code="CANCELLED"
            )
        packages = self._packages_of(raw, confirmation)
        if not packages:
            raise ChannelError(
                f"tiktok order {confirmation.order_external_id} has no package to ship yet",
                code="NO_PACKAGE",
                retryable=True,
                retry_after=NOT_READY_RETRY,
            )
        wanted = confirmation.tracking_number.strip()
        seller_ships = raw.get("shipping_type") != "TIKTOK"
        shipped_any = False
        for package_id, units in packages.items():
            done = self._package_tracking(units)
            if done is not None:
                if wanted and done and done != wanted:
                    raise ChannelError(
                        f"tiktok package {package_id} already shipped with tracking number {done}",
                        code="ALREADY_SHIPPED",
                    )
                continue
            if status in ("UNPAID", "ON_HOLD"):
                raise ChannelError(
                    f"tiktok order {confirmation.order_external_id} is {status}: it cannot ship yet",
                    code="NOT_READY",
                    retryable=True,
                    retry_after=NOT_READY_RETRY,
                )
            if seller_ships and not wanted:
                raise ChannelError(
                    f"tiktok order {confirmation.order_external_id} is shipped by the seller "
                    "(SEND_BY_SELLER): TikTok needs the carrier's tracking number",
                    code="TRACKING_REQUIRED",
                )
            if not seller_ships and wanted:
                raise ChannelError(
                    f"tiktok order {confirmation.order_external_id} ships with TikTok Shipping: "
                    "TikTok books the carrier and takes no seller tracking number; buy its label "
                    "with the tiktok_logistics carrier, or confirm it without a tracking number",
                    code="PLATFORM_SHIPPING",
                )
            if wanted:
                provider_id = await self._provider_id(
                    conn, raw, confirmation.carrier, confirmation.carrier_code
                )
                body: dict[str, Any] = {
                    "self_shipment": {"tracking_number": wanted, "shipping_provider_id": provider_id}
                }
            else:
                handover = str(conn.settings.get("handover_method") or "PICKUP")
                if handover not in ("PICKUP", "DROP_OFF"):
                    raise ChannelError(
                        f"tiktok: handover_method must be PICKUP or DROP_OFF, not {handover!r}",
                        code="BAD_SETTING",
                    )
                body = {"handover_method": handover}
            try:
                await self._shop_call(
                    conn,
                    "POST",
                    f"/fulfillment/202309/packages/{package_id}/ship",
                    "packages.ship",
                    body=body,
                )
            except ChannelError as exc:
                if exc.retryable or exc.code in CONNECTION_CODES:
                    raise
                # refused: shipped meanwhile by an attempt whose answer was lost? then it is done
                fresh = await self._order_raw(conn, confirmation.order_external_id)
                now = self._package_tracking(
                    [u for u in fresh.get("line_items") or [] if u.get("package_id") == package_id]
                )
                if now is None or (wanted and now != wanted):
                    raise
            shipped_any = True
        if wanted:
            return None
        if shipped_any:
            raw = await self._order_raw(conn, confirmation.order_external_id)
            packages = {
                pid: [u for u in raw.get("line_items") or [] if u.get("package_id") == pid]
                for pid in packages
            }
        assigned = [self._package_tracking(units) for units in packages.values()]
        numbers = [t for t in assigned if t]
        if len(numbers) != len(assigned):
            raise ChannelError(
                f"tiktok has not assigned a tracking number to order {confirmation.order_external_id} yet",
                code="TRACKING_PENDING",
                retryable=True,
                retry_after=5.0,
            )
        return numbers[0]

    @staticmethod
    def _packages_of(
        raw: dict[str, Any], confirmation: ShipmentConfirmation
    ) -> dict[str, list[dict[str, Any]]]:
        """package id -> its units, for the packages holding the confirmed lines (all the
        order's packages when the confirmation names no line TikTok knows)."""
        units = [u for u in raw.get("line_items") or [] if u.get("package_id")]
        groups = dict(unit_groups(raw))
        named = {str(line_id) for line_id, _ in confirmation.lines}
        chosen = {
            str(u["package_id"]) for gid in named & set(groups) for u in groups[gid] if u.get("package_id")
        }
        if not chosen:
            chosen = {str(u["package_id"]) for u in units}
        return {pid: [u for u in units if str(u["package_id"]) == pid] for pid in sorted(chosen)}

    @staticmethod
    def _package_tracking(units: Sequence[dict[str, Any]]) -> str | None:
        """None while the package waits to be shipped; its tracking number ("" if none
        yet) once it has been handed over."""
        if not any(u.get("package_status") in SHIPPED_PACKAGE for u in units):
            return None
        return next((str(u["tracking_number"]) for u in units if u.get("tracking_number")), "")

    async def _provider_id(
        self, conn: ChannelConnection, raw: dict[str, Any], carrier: str, code: str | None = None
    ) -> str:
        if code:  # the seller mapped this carrier to TikTok's id (connection carrier_codes)
            return code
        option = raw.get("delivery_option_id") or next(
            (u.get("delivery_option_id") for u in raw.get("line_items") or [] if u.get("delivery_option_id")),
            None,
        )
        if not option:
            raise ChannelError(
                f"tiktok order {raw.get('id')} names no delivery option", code="NO_DELIVERY_OPTION"
            )
        key = (*self._conn_key(conn), str(option))
        providers = self._carriers.get(key)
        if providers is None:
            data = await self._shop_call(
                conn,
                "GET",
                f"/logistics/202309/delivery_options/{option}/shipping_providers",
                "logistics.shipping_providers",
            )
            providers = {
                _carrier_key(str(p["name"])): str(p["id"]) for p in data.get("shipping_providers") or []
            }
            self._carriers[key] = providers
        found = providers.get(_carrier_key(carrier))
        if found is None and carrier.strip() in providers.values():
            found = carrier.strip()  # the seller stored TikTok's provider id as the carrier
        if found is None:
            raise ChannelError(
                f"tiktok offers no shipping provider named {carrier!r} for this order's delivery option; "
                "map it in the connection's carrier_codes setting",
                code="UNKNOWN_CARRIER",
            )
        return found

    # --------------------------------------------------------------- stock and price

    async def _default_warehouse(self, conn: ChannelConnection) -> str | None:
        """The shop's default sales warehouse (``GET /logistics/202309/warehouses``), cached
        per connection; None when the shop lists none."""
        key = self._conn_key(conn)
        if key not in self._warehouses:
            data = await self._shop_call(conn, "GET", "/logistics/202309/warehouses", "logistics.warehouses")
            sales = [
                w
                for w in data.get("warehouses") or []
                if isinstance(w, dict) and w.get("type") == "SALES_WAREHOUSE" and w.get("id")
            ]
            default = next((w for w in sales if w.get("is_default")), sales[0] if sales else None)
            self._warehouses[key] = str(default["id"]) if default else None
        return self._warehouses[key]

    async def _product_warehouses(
        self, conn: ChannelConnection, product: str, *, fresh: bool = False
    ) -> tuple[dict[str, list[str]], bool]:
        """SKU id -> the warehouses assigned to it (Get Product ``skus[].inventory``), read
        at most every ``PRODUCT_TTL`` seconds, and whether this was a fresh read."""
        key = (*self._conn_key(conn), product)
        cached = self._sku_warehouses.get(key)
        if cached is not None and not fresh and time.monotonic() - cached[0] < PRODUCT_TTL:
            return cached[1], False
        data = await self._shop_call(conn, "GET", f"/product/202309/products/{product}", "products.detail")
        found: dict[str, list[str]] = {}
        for sku in data.get("skus") or []:
            if isinstance(sku, dict) and sku.get("id"):
                found[str(sku["id"])] = [
                    str(level["warehouse_id"])
                    for level in sku.get("inventory") or []
                    if isinstance(level, dict) and level.get("warehouse_id")
                ]
        self._sku_warehouses.pop(key, None)
        self._sku_warehouses[key] = (time.monotonic(), found)
        while len(self._sku_warehouses) > MAX_PRODUCTS:
            del self._sku_warehouses[next(iter(self._sku_warehouses))]
        return found, True

    def _shares(self, conn: ChannelConnection) -> dict[str, Decimal]:
        raw = conn.settings.get("warehouse_shares") or {}
        if not isinstance(raw, Mapping):
            raise ChannelError(
                "tiktok: warehouse_shares must map TikTok warehouse ids to weights", code="BAD_SETTING"
            )
        shares: dict[str, Decimal] = {}
        for warehouse, weight in raw.items():
            try:
                value = Decimal(str(weight))
            except InvalidOperation:
                value = Decimal(-1)
            if not value.is_finite() or value < 0:
                raise ChannelError(
                    f"tiktok: warehouse_shares[{warehouse!r}] is not a weight (a number >= 0)",
                    code="BAD_SETTING",
                )
            shares[str(warehouse)] = value
        return shares

    @staticmethod
    def _split(
        quantity: int, assigned: Sequence[str], target: str, shares: Mapping[str, Decimal]
    ) -> list[dict[str, Any]]:
        """The ``inventory`` of one SKU: ``quantity`` (0..99,999) across ``assigned``, all
        of it in ``target`` unless ``shares`` weighs some of them (largest remainders, so the
        parts add up exactly); every other assigned warehouse 0."""
        total = min(max(0, int(quantity)), QUANTITY_MAX)
        if not assigned:  # a single default warehouse: TikTok takes the quantity alone
            return [{"quantity": total}]
        weights = {w: shares[w] for w in assigned if shares.get(w, Decimal(0)) > 0}
        parts = {w: 0 for w in assigned}
        if weights:
            whole = sum(weights.values())
            exact = {w: total * weight / whole for w, weight in weights.items()}
            for w, value in exact.items():
                parts[w] = int(value)
            left = total - sum(parts.values())
            for w in sorted(exact, key=lambda w: (-(exact[w] - int(exact[w])), assigned.index(w)))[:left]:
                parts[w] += 1
        else:
            parts[target] = total
        return [{"warehouse_id": w, "quantity": parts[w]} for w in assigned]

    async def push_stock(
        self, conn: ChannelConnection, updates: Sequence[StockUpdate]
    ) -> Sequence[PushResult]:
        """One Update Inventory call per product (and per ``SKU_BATCH`` SKUs), each SKU with
        every warehouse assigned to it (see the module's docstring for the split). A SKU
        refused for its warehouses is sent again once with its warehouses read afresh."""
        results, by_product = self._by_product(updates)
        shares = self._shares(conn)
        preferred = str(conn.settings.get("warehouse_id") or "")
        path = "/product/202309/products/{product}/inventory/update"
        for product, skus in by_product.items():
            try:
                warehouses, fresh = await self._product_warehouses(conn, product)
                if not fresh and any(sku not in warehouses for _, sku in skus):  # a SKU added since
                    warehouses, fresh = await self._product_warehouses(conn, product, fresh=True)
            except ChannelError as exc:
                if exc.retryable or exc.code in CONNECTION_CODES:
                    raise
                for index, _ in skus:
                    results[index] = PushResult(
                        updates[index].channel_sku, False, f"{exc.code}: {exc.message}"
                    )
                continue
            for i in range(0, len(skus), SKU_BATCH):
                chunk = skus[i : i + SKU_BATCH]
                for attempt in (1, 2):
                    several = any(len(warehouses.get(sku) or []) > 1 for _, sku in chunk)
                    default = await self._default_warehouse(conn) if several and not preferred else None
                    entries = []
                    for index, sku in chunk:
                        assigned = warehouses.get(sku) or []
                        target = next(
                            (w for w in (preferred, default) if w and w in assigned),
                            assigned[0] if assigned else "",
                        )
                        entries.append(
                            {
                                "id": sku,
                                "inventory": self._split(updates[index].quantity, assigned, target, shares),
                            }
                        )
                    failed = await self._send_skus(
                        conn, path.format(product=product), "products.inventory_update", entries
                    )
                    if isinstance(failed, str):  # the whole call was refused
                        failed = {sku: (failed, set()) for _, sku in chunk}
                    stale = [
                        (index, sku)
                        for index, sku in chunk
                        if failed.get(sku, ("", set()))[1] & WAREHOUSE_CODES
                    ]
                    if stale and attempt == 1 and not fresh:
                        warehouses, fresh = await self._product_warehouses(conn, product, fresh=True)
                        for index, sku in chunk:
                            if (index, sku) not in stale:
                                results[index] = self._result(updates[index], failed.get(sku))
                        chunk = stale
                        continue
                    for index, sku in chunk:
                        results[index] = self._result(updates[index], failed.get(sku))
                    break
        return [r for r in results if r is not None]

    @staticmethod
    def _result(update: StockUpdate | PriceUpdate, failure: tuple[str, set[str]] | None) -> PushResult:
        return PushResult(update.channel_sku, failure is None, failure[0] if failure else None)

    def _by_product(
        self, updates: Sequence[StockUpdate | PriceUpdate]
    ) -> tuple[list[PushResult | None], dict[str, list[tuple[int, str]]]]:
        """Updates grouped by TikTok product (``"<product_id>:<sku_id>"``); those without
        such an id are refused at once."""
        results: list[PushResult | None] = [None] * len(updates)
        by_product: dict[str, list[tuple[int, str]]] = {}
        for index, update in enumerate(updates):
            product, _, sku = (update.external_id or "").partition(":")
            if not product or not sku:
                results[index] = PushResult(
                    update.channel_sku, False, "listing has no TikTok product_id:sku_id"
                )
                continue
            by_product.setdefault(product, []).append((index, sku))
        return results, by_product

    async def _send_skus(
        self, conn: ChannelConnection, path: str, operation: str, entries: list[dict[str, Any]]
    ) -> dict[str, tuple[str, set[str]]] | str:
        """One update call; the SKUs TikTok refused (``data.errors``: sku id -> message and
        the codes, the main one and ``detail.extra_errors``'), or TikTok's message when it
        refused the whole call. Errors about the connection and transient ones are raised."""
        try:
            answer = await self._shop_call(conn, "POST", path, operation, body={"skus": entries})
        except ChannelError as exc:
            if exc.retryable or exc.code in CONNECTION_CODES:
                raise
            return f"{exc.code}: {exc.message}"
        failed: dict[str, tuple[str, set[str]]] = {}
        for error in answer.get("errors") or []:
            if not isinstance(error, dict):
                continue
            raw_detail = error.get("detail")
            detail: dict[str, Any] = raw_detail if isinstance(raw_detail, dict) else {}
            extra = [e for e in detail.get("extra_errors") or [] if isinstance(e, dict)]
            codes = {str(error.get("code"))} | {str(e.get("code")) for e in extra}
            message = f"{error.get('code')}: {error.get('message')}" + "".join(
                f"; {e.get('code')}: {e.get('message')}"
                + (f" (warehouse {e['warehouse_id']})" if e.get("warehouse_id") else "")
                for e in extra
            )
            failed[str(detail.get("sku_id"))] = (message, codes)
        return failed

    async def _push(
        self,
        conn: ChannelConnection,
        updates: Sequence[StockUpdate | PriceUpdate],
        path: str,
        operation: str,
        entry: Any,
    ) -> list[PushResult]:
        """One call per product (and per SKU_BATCH SKUs); one result per update, in order.
        A product the shop refuses fails its own updates, a SKU named in the answer's
        ``errors`` fails its own; errors about the connection
        (token, signature, credentials) and transient ones are raised."""
        results: list[PushResult | None] = [None] * len(updates)
        by_product: dict[str, list[tuple[int, str]]] = {}
        for index, update in enumerate(updates):
            product, _, sku = (update.external_id or "").partition(":")
            if not product or not sku:
                results[index] = PushResult(
                    update.channel_sku, False, "listing has no TikTok product_id:sku_id"
                )
                continue
            by_product.setdefault(product, []).append((index, sku))
        for product, skus in by_product.items():
            for i in range(0, len(skus), SKU_BATCH):
                chunk = skus[i : i + SKU_BATCH]
                try:
                    answer = await self._shop_call(
                        conn,
                        "POST",
                        path.format(product=product),
                        operation,
                        body={"skus": [{"id": sku, **entry(updates[index])} for index, sku in chunk]},
                    )
                except ChannelError as exc:
                    if exc.retryable or exc.code in CONNECTION_CODES:
                        raise
                    for index, _ in chunk:
                        results[index] = PushResult(
                            updates[index].channel_sku, False, f"{exc.code}: {exc.message}"
                        )
                    continue
                # per-SKU failures come back in data.errors: {code, message, detail.sku_id}
                failed = {
                    str((e.get("detail") or {}).get("sku_id")): f"{e.get('code')}: {e.get('message')}"
                    for e in answer.get("errors") or []
                    if isinstance(e, dict)
                }
                for index, sku in chunk:
                    results[index] = PushResult(
                        updates[index].channel_sku, sku not in failed, failed.get(sku)
                    )
        return [r for r in results if r is not None]

    async def push_prices(
        self, conn: ChannelConnection, updates: Sequence[PriceUpdate]
    ) -> Sequence[PushResult]:
        """Base prices in the shop's currency, as decimal strings rounded to its minor unit."""
        ok = [u for u in updates if u.price.currency == conn.currency]
        results = {
            id(u): PushResult(u.channel_sku, False, f"the shop sells in {conn.currency}")
            for u in updates
            if u.price.currency != conn.currency
        }
        pushed = await self._push(
            conn,
            ok,
            "/product/202309/products/{product}/prices/update",
            "products.prices_update",
            lambda u: {"price": {"amount": str(u.price.rounded().amount), "currency": u.price.currency}},
        )
        results.update({id(u): r for u, r in zip(ok, pushed, strict=True)})
        return [results[id(u)] for u in updates]

    # --------------------------------------------------------------- buyer messages

    async def fetch_messages(
        self, conn: ChannelConnection, *, updated_since: datetime, page_token: str | None
    ) -> MessagePage:
        """Customer service messages sent since ``updated_since``, oldest first.

        A page is one page of ``GET /customer_service/202309/conversations``: every
        conversation on it whose latest message is that recent is read (newest first, so
        reading stops at the first message older than the time). TikTok does not filter
        the list by time nor document its order, so every page is walked. The page token
        carries the time, TikTok's time of the latest activity as the sync started (with
        the conversations of that second) and TikTok's own token, so a resumed sync
        continues exactly there. The last page of a sync of several pages also reads the
        conversations at the top of the list that changed after that: listed by activity,
        they moved up past pages already read and would otherwise be missed (their older
        messages with them).
        """
        if page_token:
            try:
                state = json.loads(page_token)
                since, latest, tiktok_token = int(state["since"]), int(state["latest"]), str(state["page"])
                at_latest = {str(c) for c in state["read"]}
            except (ValueError, KeyError, TypeError) as exc:
                raise ChannelError(
                    f"tiktok: not a message page token of this plugin: {page_token!r}", code="PAGE_TOKEN"
                ) from exc
        else:
            since, latest, tiktok_token, at_latest = int(updated_since.timestamp()), 0, "", set()
        listed = await self._conversations(conn, tiktok_token)
        conversations = [c for c in listed.get("conversations") or [] if isinstance(c, dict)]
        if not page_token:
            # TikTok's time of the latest activity as the sync starts, and the conversations
            # of that second (read on this page)
            latest = max((_activity(c) for c in conversations), default=0)
            at_latest = {str(c.get("id")) for c in conversations if _activity(c) == latest}
        read: dict[str, list[ChannelMessage]] = {}
        for conversation in conversations:
            cid = str(conversation.get("id") or "")
            if cid and cid not in read and _activity(conversation) >= since:
                read[cid] = await self._thread(conn, conversation, since)
        following = str(listed.get("next_page_token") or "")
        if following:
            token = json.dumps(
                {"since": since, "latest": latest, "read": sorted(at_latest), "page": following},
                sort_keys=True,
                separators=(",", ":"),
            )
            return MessagePage(messages=_oldest_first(read.values()), next_page_token=token)
        if page_token:  # a sync of several pages: some conversation may have moved past us
            await self._changed_meanwhile(conn, since, latest, at_latest | set(read), read)
        return MessagePage(messages=_oldest_first(read.values()), next_page_token=None)

    async def _conversations(self, conn: ChannelConnection, page_token: str = "") -> dict[str, Any]:
        params: dict[str, Any] = {"page_size": CONVERSATION_PAGE}
        if page_token:
            params["page_token"] = page_token
        return await self._shop_call(
            conn, "GET", CONVERSATIONS, "customer_service.conversations", params=params
        )

    async def _changed_meanwhile(
        self,
        conn: ChannelConnection,
        since: int,
        latest: int,
        done: set[str],
        read: dict[str, list[ChannelMessage]],
    ) -> None:
        """Read the conversations at the top of the list that changed after ``latest``
        (TikTok's time of the latest activity as the sync started; at that very second,
        those not in ``done``), down to the sync's time."""
        token = ""
        for _ in range(RECHECK_PAGES):
            listed = await with_retries(partial(self._conversations, conn, token))
            conversations = [c for c in listed.get("conversations") or [] if isinstance(c, dict)]
            for conversation in conversations:
                cid, activity = str(conversation.get("id") or ""), _activity(conversation)
                moved = activity > latest or (activity == latest and cid not in done)
                if cid and cid not in read and moved and activity >= since:
                    read[cid] = await self._thread(conn, conversation, since)
            token = str(listed.get("next_page_token") or "")
            if not token or any(_activity(c) < latest for c in conversations):
                return

    async def _thread(
        self, conn: ChannelConnection, conversation: Mapping[str, Any], since: int
    ) -> list[ChannelMessage]:
        """One conversation's messages sent since ``since``, oldest first (with the order
        the buyer was on about, from order cards and "entered from order" events)."""
        cid = str(conversation["id"])
        rows: dict[str, dict[str, Any]] = {}
        token = ""
        while True:
            params: dict[str, Any] = {
                "page_size": MESSAGE_PAGE,
                "sort_field": "create_time",
                "sort_order": "DESC",
            }
            if token:
                params["page_token"] = token
            data = await with_retries(
                partial(
                    self._shop_call,
                    conn,
                    "GET",
                    f"{CONVERSATIONS}/{cid}/messages",
                    "customer_service.messages",
                    params=params,
                )
            )
            page = [m for m in data.get("messages") or [] if isinstance(m, dict) and m.get("id")]
            for row in page:
                rows.setdefault(str(row["id"]), row)
            token = str(data.get("next_page_token") or "")
            if not token or not page or min(_int(m.get("create_time")) for m in page) < since:
                break
        buyer = _buyer(conversation)
        found: list[ChannelMessage] = []
        order: str | None = None
        for row in sorted(rows.values(), key=lambda m: (_int(m.get("create_time")), _int(m.get("index")))):
            order = message_order_context(row) or order
            if _int(row.get("create_time")) < since:
                continue
            message = to_message(row, cid, buyer, order)
            if message is not None:
                found.append(message)
        return found

    async def send_message(self, conn: ChannelConnection, message: OutgoingMessage) -> str | None:
        """A TEXT message into the conversation (``content`` is the JSON string
        ``{"content": text}``); returns TikTok's message id.

        TikTok takes no idempotency key. When an earlier attempt of this same message
        (``reference``) ended without a clear answer (timeout, 5xx, garbled reply), the
        conversation's latest messages are checked first, and a seller message with the
        same text sent since that attempt counts as this one.
        """
        if not _ID.fullmatch(message.thread_id or ""):
            raise ChannelError(f"tiktok: {message.thread_id!r} is not a conversation id", code="BAD_THREAD")
        if not message.text.strip():
            raise ChannelError("tiktok: an empty message cannot be sent", code="EMPTY_MESSAGE")
        if len(message.text) > MAX_TEXT:
            raise ChannelError(
                f"tiktok takes at most {MAX_TEXT} characters a message ({len(message.text)} given)",
                code="TEXT_TOO_LONG",
            )
        key = (*self._conn_key(conn), message.reference) if message.reference else None
        if key is not None and key in self._unsure_sends:
            earlier = await self._sent_since(conn, message, self._unsure_sends[key])
            if earlier:
                del self._unsure_sends[key]
                return earlier
        attempt = time.time()
        try:
            data = await self._shop_call(
                conn,
                "POST",
                f"{CONVERSATIONS}/{message.thread_id}/messages",
                "customer_service.send_message",
                body={"type": "TEXT", "content": json.dumps({"content": message.text}, ensure_ascii=False)},
            )
        except ChannelError as exc:
            if key is not None:
                if exc.retryable and exc.code in UNSURE_CODES:
                    self._unsure_sends.setdefault(key, attempt)
                    while len(self._unsure_sends) > MAX_UNSURE:
                        del self._unsure_sends[next(iter(self._unsure_sends))]
                elif not exc.retryable:
                    self._unsure_sends.pop(key, None)
            raise
        if key is not None:
            self._unsure_sends.pop(key, None)
        message_id = data.get("message_id")
        return str(message_id) if message_id else None

    async def _sent_since(
        self, conn: ChannelConnection, message: OutgoingMessage, attempt: float
    ) -> str | None:
        """The id of a seller TEXT message with this text sent since ``attempt`` (minus
        clock skew), among the conversation's latest messages."""
        data = await self._shop_call(
            conn,
            "GET",
            f"{CONVERSATIONS}/{message.thread_id}/messages",
            "customer_service.messages",
            params={"page_size": MESSAGE_PAGE, "sort_field": "create_time", "sort_order": "DESC"},
        )
        for row in data.get("messages") or []:
            sender = row.get("sender") or {}
            if (
                row.get("type") == "TEXT"
                and sender.get("role") in SELLER_ROLES
                and _int(row.get("create_time")) >= attempt - CLOCK_SKEW
                and message_text(row) == message.text
                and row.get("id")
            ):
                return str(row["id"])
        return None

    # --------------------------------------------------------------- push and auth

    def parse_webhook(self, conn: ChannelConnection, headers: Mapping[str, str], body: bytes) -> WebhookPush:
        """Verify the push (``Authorization`` = HMAC-SHA256(app_secret, app_key + body)) and
        name the order it is about: order status changes (type 1) and every other push
        whose data names an ``order_id`` (address, package and reverse-order updates).
        Anything else is acknowledged and ignored; a signed body that is not a push object
        is ``MALFORMED``. The push's ``tts_notification_id`` is its event id, by which
        the core recognises it delivered again."""
        creds = conn.credentials
        authorization = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        if not authorization or not verify_push(
            str(creds["app_secret"]), str(creds["app_key"]), body, authorization
        ):
            raise ChannelError("tiktok push signature does not match", code="SIGNATURE")
        payload = parse_push_json(body, "tiktok")
        notification_id = payload.get("tts_notification_id")
        event_id = str(notification_id) if type(notification_id) in (str, int) and notification_id else None
        data = payload.get("data")
        if data is not None and not isinstance(data, dict):
            raise ChannelError("tiktok push data is not an object", code="MALFORMED")
        order_id = (data or {}).get("order_id")
        if order_id:
            if not isinstance(order_id, str | int) or isinstance(order_id, bool):
                raise ChannelError("tiktok push order_id is not an id", code="MALFORMED")
            return WebhookPush([{"type": "order", "external_id": str(order_id)}], event_id)
        return WebhookPush([], event_id)

    async def refresh_credentials(self, conn: ChannelConnection) -> Mapping[str, Any]:
        creds = dict(conn.credentials)
        data = await self.client(conn).refresh(str(creds["refresh_token"]))
        if not data.get("access_token"):
            raise ChannelError(
                "tiktok token refresh answered no access_token", code="MALFORMED", retryable=True
            )
        now = int(time.time())
        creds.update(
            access_token=data["access_token"],
            refresh_token=data.get("refresh_token") or creds["refresh_token"],
            access_expires_at=_expiry(data.get("access_token_expire_in"), now),
        )
        if data.get("refresh_token_expire_in"):
            creds["refresh_expires_at"] = _expiry(data["refresh_token_expire_in"], now)
        creds.pop("auth_code", None)
        if not creds.get("shop_cipher"):
            # store the cipher now that the credentials are being saved anyway; a failure
            # here must not lose the new tokens (the lookup happens again on use)
            try:
                shop = self._pick_shop(conn, await self._shops(conn, str(creds["access_token"])))
            except ChannelError:
                pass
            else:
                creds["shop_cipher"] = str(shop["cipher"])
                creds.setdefault("shop_id", str(shop["id"]))
        return creds


def _expiry(value: Any, now: int) -> int:
    """TikTok's ``*_expire_in`` fields are Unix times of expiry; tolerate a duration."""
    seconds = int(value or 0)
    if seconds <= 0:
        return now + 3600
    return seconds if seconds > 1_000_000_000 else now + seconds


def _unique(orders: Any) -> list[ChannelOrder]:
    """One entry per order (a page may repeat one); the latest update wins."""
    seen: dict[str, ChannelOrder] = {}
    for order in orders:
        if order.external_id not in seen or order.updated_at >= seen[order.external_id].updated_at:
            seen[order.external_id] = order
    return list(seen.values())


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _activity(conversation: Mapping[str, Any]) -> int:
    """When the conversation last changed: its latest message (else its creation)."""
    latest = conversation.get("latest_message") or {}
    return _int(latest.get("create_time")) or _int(conversation.get("create_time"))


def _buyer(conversation: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The conversation's buyer: (IM user id, nickname), from its participants."""
    for participant in conversation.get("participants") or []:
        if isinstance(participant, dict) and participant.get("role") == BUYER:
            return (str(participant.get("im_user_id") or "") or None, participant.get("nickname") or None)
    return None, None


def _oldest_first(threads: Iterable[list[ChannelMessage]]) -> list[ChannelMessage]:
    """All threads' messages by time; a thread keeps its own order among equal times
    (TikTok stamps messages to the second)."""
    return sorted((m for thread in threads for m in thread), key=lambda m: m.sent_at)
