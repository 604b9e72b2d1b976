"""The Lazada Open Platform provider.

Sites: Lazada's six countries, each with its own API gateway (``api.lazada.sg/rest`` ...;
../shared/marketplaces.md). A connection's ``base_url`` replaces both the gateway and the
auth host (``auth.lazada.com/rest``): an emulator serves both.

Credentials of a connection: ``app_key``, ``app_secret``, ``access_token``,
``refresh_token`` (plus ``seller_id``, ``access_expires_at``, ``refresh_expires_at`` for
information). Every refresh returns a new pair of tokens; both are saved.

Listings: ``channel_sku`` is the SellerSku; ``external_id`` is ``item_id:sku_id`` when
known (sent as ItemId/SkuId alongside the SellerSku).

Buyer messages: Lazada's instant-messaging (IM) APIs. A conversation is an IM session (one
per buyer), its id the thread id; the buyer's nickname is the session's ``title``.
"""

from __future__ import annotations

import hashlib
import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import Any

from crossdock import (
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
    parse_push_json,
    with_retries,
)
from crossdock_lazada import __version__
from crossdock_lazada.aftersales import AfterSales
from crossdock_lazada.client import INVALID_ORDER_ID, LazadaApiError, LazadaClient
from crossdock_lazada.listings import Listings
from crossdock_lazada.logistics import NOT_SHIPPABLE, PACKABLE, PACKED, Fulfiller
from crossdock_lazada.mapping import SITE_OFFSETS, parse_time, to_order
from crossdock_lazada.signing import verify_push

__all__ = ["RATE_LIMITS", "SITES", "LazadaMarketplace"]

SITES: tuple[Site, ...] = (
    Site(code="SG", country="SG", currency="SGD", name="Lazada Singapore", external_id="api.lazada.sg"),
    Site(code="TH", country="TH", currency="THB", name="Lazada Thailand", external_id="api.lazada.co.th"),
    Site(code="MY", country="MY", currency="MYR", name="Lazada Malaysia", external_id="api.lazada.com.my"),
    Site(code="VN", country="VN", currency="VND", name="Lazada Vietnam", external_id="api.lazada.vn"),
    Site(code="PH", country="PH", currency="PHP", name="Lazada Philippines", external_id="api.lazada.com.ph"),
    Site(code="ID", country="ID", currency="IDR", name="Lazada Indonesia", external_id="api.lazada.co.id"),
)

#: Lazada publishes no per-API rate table: it answers ``ApiCallLimit`` when an app or a
#: seller calls too often (flow control per app, per API and per seller). These buckets are
#: our own conservative choice, per connection, to stay well clear of that ban; a seller
#: with a higher quota can raise them with ``settings.rate_limits``.
RATE_LIMITS: Mapping[str, RateLimit] = {
    "GetOrders": RateLimit(rate=2, burst=10),
    "GetOrder": RateLimit(rate=5, burst=20),
    "GetOrderItems": RateLimit(rate=5, burst=20),
    "GetMultipleOrderItems": RateLimit(rate=2, burst=10),
    "Pack": RateLimit(rate=2, burst=10),
    "ReadyToShip": RateLimit(rate=2, burst=10),
    "GetShipmentProvider": RateLimit(rate=2, burst=10),
    "PrintAWB": RateLimit(rate=2, burst=10),
    "Repack": RateLimit(rate=1, burst=5),
    "GetOrderTrace": RateLimit(rate=2, burst=10),
    "UpdatePriceQuantity": RateLimit(rate=1, burst=5),
    "RefreshAccessToken": RateLimit(rate=0.2, burst=2),
    "GetSessionList": RateLimit(rate=2, burst=10),
    "GetMessages": RateLimit(rate=5, burst=20),
    "SendMessage": RateLimit(rate=2, burst=10),
    # after-sales (reverse orders)
    "OrderCancelValidate": RateLimit(rate=2, burst=10),
    "InitReverseOrderCancel": RateLimit(rate=1, burst=5),
    "GetReverseOrdersForSeller": RateLimit(rate=2, burst=10),
    "GetReverseOrderDetail": RateLimit(rate=5, burst=20),
    "GetReverseOrderHistoryList": RateLimit(rate=5, burst=20),
    "GetReverseOrderReasonList": RateLimit(rate=2, burst=10),
    "InitReverseOrderCancelDecide": RateLimit(rate=1, burst=5),
    "ReverseOrderReturnUpdate": RateLimit(rate=1, burst=5),
    "ReverseOrderOnlyRefundDecide": RateLimit(rate=1, burst=5),
    # listing content
    "GetCategoryTree": RateLimit(rate=0.5, burst=2),
    "GetCategoryAttributes": RateLimit(rate=2, burst=10),
    "UploadImage": RateLimit(rate=2, burst=10),
    "MigrateImage": RateLimit(rate=2, burst=10),
    "CreateProduct": RateLimit(rate=1, burst=5),
    "UpdateProduct": RateLimit(rate=1, burst=5),
    "GetProductItem": RateLimit(rate=5, burst=20),
    "GetProducts": RateLimit(rate=2, burst=10),
    "DeactivateProduct": RateLimit(rate=1, burst=5),
}

PAGE_SIZE = 100  # /orders/get: limit <= 100
MAX_OFFSET = 5000  # /orders/get: offset <= 5000
ITEMS_BATCH = 50  # /orders/items/get: order ids per call (UNCONFIRMED maximum; 50 is safe)
SKU_BATCH = 50  # /product/price_quantity/update: at most 50 SKUs per call
IM_PAGE = 20  # sessions or messages per IM call (the maximum is UNCONFIRMED; 20 is common)
#: The first IM page starts a little in the future: Lazada's clock may run ahead of ours.
IM_CLOCK_MARGIN_MS = 60_000
#: IM message templates. Text and emoji carry ``txt``; an order card names the order the
#: buyer is writing about (it is not a message of its own); the others become a label.
IM_TEXT_TEMPLATES = frozenset({1, 4})
IM_ORDER_CARD = 10007
IM_LABELS = {3: "[image]", 6: "[video]", 10006: "[product]", 10008: "[voucher]"}
IM_BUYER, IM_SELLER = 1, 2  # from_account_type


def _site_time(at: datetime, site: str) -> str:
    """ISO 8601 with the site's offset, to the second: what ``update_after`` takes."""
    zone = timezone(timedelta(hours=SITE_OFFSETS.get(site, 8)))
    return at.astimezone(zone).replace(microsecond=0).isoformat()


def _stamp(row: Mapping[str, Any], site: str) -> datetime:
    return parse_time(row.get("updated_at"), site) or datetime.min.replace(tzinfo=UTC)


def _fingerprint(ids: Sequence[str]) -> str:
    return hashlib.sha1(",".join(sorted(ids)).encode()).hexdigest()[:16]


class LazadaMarketplace(MarketplaceBase):
    name = "lazada"
    display_name = "Lazada Open Platform"
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
            MarketplaceCapability.LISTINGS_CATEGORIES,
            MarketplaceCapability.LISTINGS_RULES,
            MarketplaceCapability.LISTINGS_PUBLISH,
            MarketplaceCapability.LISTINGS_READ,
            MarketplaceCapability.LISTINGS_DEACTIVATE,
        }
    )
    rate_limits = RATE_LIMITS

    def sites(self) -> Sequence[Site]:
        return SITES

    # --------------------------------------------------------------- plumbing

    def client(self, conn: ChannelConnection) -> LazadaClient:
        http = conn.http_client()  # the server's shared pool, guarded against internal addresses
        creds = conn.credentials
        return LazadaClient(
            str(creds["app_key"]), str(creds["app_secret"]), base_url=conn.base_url, site=conn.site, http=http
        )

    async def _api(
        self,
        conn: ChannelConnection,
        operation: str,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        await conn.throttle(operation)
        return await self.client(conn).call(
            method, path, params=params, access_token=str(conn.credentials["access_token"])
        )

    # --------------------------------------------------------------- orders

    async def fetch_orders(
        self, conn: ChannelConnection, *, updated_since: datetime, page_token: str | None
    ) -> OrderPage:
        """Orders updated since ``updated_since``, oldest update first.

        ``/orders/get`` pages by offset, which shifts when orders change during the walk
        and stops at 5000. So the walk moves its ``update_after`` forward instead: the next
        page starts one second before the newest update seen (stamps are to the second,
        and whether ``update_after`` is inclusive is UNCONFIRMED), and only when a whole
        page shares that second does it step the offset. The page token holds
        ``update_after`` and the offset (and, when stepping, a fingerprint of the page
        read, to recognise the same page served again), so a resumed sync continues
        exactly there.
        """
        state: dict[str, Any] = (
            json.loads(page_token)
            if page_token
            else {"after": _site_time(updated_since, conn.site), "offset": 0}
        )
        for _ in range(5):
            listed = await self._api(
                conn,
                "GetOrders",
                "GET",
                "/orders/get",
                {
                    "update_after": state["after"],
                    "sort_by": "updated_at",
                    "sort_direction": "ASC",
                    "offset": state["offset"],
                    "limit": PAGE_SIZE,
                },
            )
            data = listed.get("data") or {}
            rows = list(data.get("orders") or [])
            ids = [str(o["order_id"]) for o in rows]
            if not (state.get("seen") and _fingerprint(ids) == state["seen"]):
                break  # not the previous page served again
        else:
            raise ChannelError(
                "lazada keeps serving the previous page", code="DUPLICATE_PAGE", retryable=True
            )
        latest: dict[str, dict[str, Any]] = {}
        for row in rows:  # a page may hold an order twice: keep its latest version
            key = str(row["order_id"])
            if key not in latest or _stamp(row, conn.site) >= _stamp(latest[key], conn.site):
                latest[key] = row
        items = await self._items(conn, list(latest))
        orders = [to_order(row, items[key], conn.site, conn.currency) for key, row in latest.items()]
        total = data.get("countTotal")  # all orders matching update_after, when given
        if len(rows) < PAGE_SIZE or (total is not None and state["offset"] + len(rows) >= int(total)):
            return OrderPage(orders=orders, next_page_token=None)
        newest = max(o.updated_at for o in orders)
        after = parse_time(state["after"], conn.site)
        assert after is not None
        start = newest - timedelta(seconds=1)
        if start > after:
            following: dict[str, Any] = {"after": _site_time(start, conn.site), "offset": 0}
        else:  # the whole page is within one second: step through it by offset
            if state["offset"] + PAGE_SIZE > MAX_OFFSET:
                raise ChannelError(
                    f"lazada: more than {MAX_OFFSET} orders updated within one second",
                    code="PAGINATION_LIMIT",
                )
            following = {
                "after": state["after"],
                "offset": state["offset"] + PAGE_SIZE,
                "seen": _fingerprint(ids),
            }
        return OrderPage(orders=orders, next_page_token=json.dumps(following, sort_keys=True))

    async def _items(
        self, conn: ChannelConnection, order_ids: Sequence[str]
    ) -> dict[str, list[dict[str, Any]]]:
        """Item rows of many orders through ``/orders/items/get`` (one row per unit)."""
        found: dict[str, list[dict[str, Any]]] = {}
        for i in range(0, len(order_ids), ITEMS_BATCH):
            batch = list(order_ids[i : i + ITEMS_BATCH])
            answer = await with_retries(
                partial(
                    self._api,
                    conn,
                    "GetMultipleOrderItems",
                    "GET",
                    "/orders/items/get",
                    {
                        "order_ids": json.dumps(
                            [int(x) if x.isdigit() else x for x in batch], separators=(",", ":")
                        )
                    },
                )
            )
            for entry in answer.get("data") or []:
                found[str(entry["order_id"])] = list(entry.get("order_items") or [])
        missing = [x for x in order_ids if not found.get(x)]
        if missing:
            raise ChannelError(
                f"lazada listed orders without items: {', '.join(missing[:5])}",
                code="ITEMS_MISSING",
                retryable=True,
            )
        return found

    async def _order_items(self, conn: ChannelConnection, order_id: str) -> list[dict[str, Any]]:
        answer = await self._api(conn, "GetOrderItems", "GET", "/order/items/get", {"order_id": order_id})
        return list(answer.get("data") or [])

    async def fetch_order(self, conn: ChannelConnection, external_id: str) -> ChannelOrder:
        try:
            answer = await self._api(conn, "GetOrder", "GET", "/order/get", {"order_id": external_id})
        except LazadaApiError as exc:
            if exc.code == INVALID_ORDER_ID:  # E016: not one of the seller's orders
                raise ChannelError(f"lazada has no order {external_id}", code="ORDER_NOT_FOUND") from exc
            raise
        raw = answer.get("data")
        if not raw:
            raise ChannelError(f"lazada has no order {external_id}", code="ORDER_NOT_FOUND")
        items = await self._order_items(conn, external_id)
        return to_order(raw, items, conn.site, conn.currency)

    # --------------------------------------------------------------- after-sales

    async def cancel_order(self, conn: ChannelConnection, external_id: str, reason: CancelReason) -> None:
        """Cancel the order's live units on Lazada (``/order/reverse/cancel/validate``, then
        ``/order/reverse/cancel/create`` with the reason id Lazada offers for ``reason``)."""
        await AfterSales(self._api).cancel_order(conn, external_id, reason)

    async def fetch_cases(
        self, conn: ChannelConnection, *, updated_since: datetime, page_token: str | None
    ) -> CasePage:
        """Buyers' reverse orders (cancellations, returns, refunds) changed since the time."""
        return await AfterSales(self._api).fetch_cases(
            conn, updated_since=updated_since, page_token=page_token
        )

    async def respond_to_case(self, conn: ChannelConnection, response: CaseResponse) -> ChannelCase:
        """The seller's answer to a reverse order, then the reverse order as Lazada shows it."""
        return await AfterSales(self._api).respond(conn, response)

    # --------------------------------------------------------------- listing content

    def _listings(self) -> Listings:
        return Listings(self._api, self._upload_image)

    async def _upload_image(self, conn: ChannelConnection, image: ListingImage) -> dict[str, Any]:
        """UploadImage: the image's bytes as the multipart part ``image`` (not signed)."""
        await conn.throttle("UploadImage")
        extension = "png" if image.content_type == "image/png" else "jpg"
        name = image.key.rsplit("/", 1)[-1] or f"image.{extension}"
        return await self.client(conn).call(
            "POST",
            "/image/upload",
            access_token=str(conn.credentials["access_token"]),
            files={"image": (name, image.data, image.content_type or "image/jpeg")},
        )

    async def fetch_categories(self, conn: ChannelConnection, *, language: str) -> Sequence[ChannelCategory]:
        """The site's category tree (``/category/tree/get``), flattened; leaves take products."""
        return await self._listings().categories(conn, language)

    async def fetch_category_rules(
        self, conn: ChannelConnection, category_id: str, *, language: str
    ) -> CategoryRules:
        """A leaf's attributes (``/category/attributes/get``) and Lazada's content limits."""
        return await self._listings().rules(conn, category_id, language)

    async def publish_listing(
        self, conn: ChannelConnection, draft: ListingDraft, *, preview: bool = False
    ) -> PublishResult:
        """Images to Lazada's CDN, then CreateProduct, or UpdateProduct for a product Lazada
        has (by item id, else by SellerSku). A preview is checked here against the
        category's attributes: Lazada has no validation-only call."""
        return await self._listings().publish(conn, draft, preview)

    async def read_listing(
        self, conn: ChannelConnection, sku: str, external_id: str | None, *, language: str
    ) -> ListingDraft | None:
        return await self._listings().read(conn, sku, external_id, language)

    async def deactivate_listing(self, conn: ChannelConnection, sku: str, external_id: str | None) -> None:
        await self._listings().deactivate(conn, sku, external_id)

    # --------------------------------------------------------------- fulfilment

    async def confirm_shipment(
        self, conn: ChannelConnection, confirmation: ShipmentConfirmation
    ) -> str | None:
        """Pack the shipment's units on Lazada's line (``/order/fulfill/pack``), then hand
        their packages over (``/order/package/rts``), and return Lazada's tracking number.

        Lazada ships every dropship order itself: the pack request carries the allocation
        type ``/order/shipment/providers/get`` gives (TFS for local sellers, without a
        provider code; NTFS for cross-border ones, with a transferring warehouse Lazada
        offers, the seller's mapped ``carrier_code`` when it is one of them), never a
        tracking number (not a pack field). The tracking number Lazada assigns is returned
        and the core records it, in place of any the seller typed. Idempotent: each step
        runs only for units still waiting for it, so a retry returns the same number.
        """
        order_id = confirmation.order_external_id
        fulfiller = Fulfiller(conn)
        units = await fulfiller.units(order_id, confirmation.lines)
        if not units:
            raise ChannelError(f"lazada order {order_id} has no units to ship", code="NOTHING_TO_SHIP")
        blocked = sorted({u["status"] for u in units if u["status"] in NOT_SHIPPABLE})
        if blocked:
            raise ChannelError(f"lazada order {order_id} is {', '.join(blocked)}", code="NOT_SHIPPABLE")
        ids = {str(u["order_item_id"]) for u in units}
        to_pack = [u for u in units if u["status"] in PACKABLE]
        if to_pack:
            allocation = await fulfiller.allocation(order_id, to_pack)
            pack = Fulfiller.pack_request(order_id, to_pack, allocation, confirmation.carrier_code)
            errors = await fulfiller.pack(pack)
            units = await fulfiller.items(order_id, ids)
            if any(u["status"] in PACKABLE for u in units):
                raise ChannelError(
                    f"lazada did not pack order {order_id}: {'; '.join(errors) or 'no reason given'}",
                    code="PACK_FAILED",
                )
        packages = sorted(
            {str(u["package_id"]) for u in units if u["status"] in PACKED and u.get("package_id")}
        )
        if packages:
            errors = await fulfiller.ready_to_ship(packages)
            units = await fulfiller.items(order_id, ids)
            if any(u["status"] in PACKED for u in units):
                raise ChannelError(
                    f"lazada did not take order {order_id} ready to ship: {'; '.join(errors) or 'no reason'}",
                    code="RTS_FAILED",
                )
        # Lazada's own number is the one that counts, whatever the seller typed in
        return next((str(u["tracking_code"]) for u in units if u.get("tracking_code")), None)

    # --------------------------------------------------------------- stock and price

    async def push_stock(
        self, conn: ChannelConnection, updates: Sequence[StockUpdate]
    ) -> Sequence[PushResult]:
        """``/product/price_quantity/update`` with each SKU's Quantity, 50 SKUs a call."""
        return await self._push(
            conn, [(u.channel_sku, u.external_id, {"Quantity": str(max(0, u.quantity))}) for u in updates]
        )

    async def push_prices(
        self, conn: ChannelConnection, updates: Sequence[PriceUpdate]
    ) -> Sequence[PushResult]:
        """The same call with each SKU's Price (the regular price, in the site's currency;
        a SalePrice set on Lazada stays as it is)."""
        refused: list[PushResult | None] = []
        rows: list[tuple[str, str | None, dict[str, str]]] = []
        for update in updates:
            if update.price.currency != conn.currency:
                refused.append(PushResult(update.channel_sku, False, f"the shop sells in {conn.currency}"))
                continue
            refused.append(None)
            rows.append(
                (update.channel_sku, update.external_id, {"Price": str(update.price.rounded().amount)})
            )
        pushed = iter(await self._push(conn, rows))
        return [result or next(pushed) for result in refused]

    async def _push(
        self, conn: ChannelConnection, rows: Sequence[tuple[str, str | None, Mapping[str, str]]]
    ) -> list[PushResult]:
        results: list[PushResult] = []
        for i in range(0, len(rows), SKU_BATCH):
            chunk = rows[i : i + SKU_BATCH]
            try:
                await self._api(
                    conn,
                    "UpdatePriceQuantity",
                    "POST",
                    "/product/price_quantity/update",
                    {"payload": _payload(chunk)},
                )
            except LazadaApiError as exc:
                if exc.retryable or exc.code == ChannelError.AUTH_EXPIRED:
                    raise
                refused = _refused_skus(exc, [sku for sku, _, _ in chunk])
                if refused is None:
                    raise  # the call as a whole: a bad payload, a permission, the shop
                results.extend(PushResult(sku, sku not in refused, refused.get(sku)) for sku, _, _ in chunk)
                continue
            results.extend(PushResult(sku, True) for sku, _, _ in chunk)
        return results

    # --------------------------------------------------------------- buyer messages

    async def fetch_messages(
        self, conn: ChannelConnection, *, updated_since: datetime, page_token: str | None
    ) -> MessagePage:
        """IM sessions newest first (``/im/session/list``), and in each one with a message
        since the time, its messages back to that time (``/im/message/list``).

        A page is one page of sessions. Both lists walk back in time from ``start_time``
        (ms) with the previous page's last id; the token is that cursor, so a resumed sync
        goes on exactly there. The walk ends at the first session whose last message is
        older than the time. A session that gets a message meanwhile jumps to the top and
        is read by the next sync (the core's cursor only moves to this run's start).
        """
        since = int(updated_since.timestamp() * 1000)
        cursor = json.loads(page_token) if page_token else {"start": _now_ms() + IM_CLOCK_MARGIN_MS}
        data = await self._im_page(
            conn,
            "GetSessionList",
            "/im/session/list",
            {"start_time": cursor["start"], "last_session_id": cursor.get("last"), "page_size": IM_PAGE},
            "last_session_id",
        )
        sessions: dict[str, Mapping[str, Any]] = {}
        reached_the_past = False
        for session in data.get("session_list") or []:
            if int(session.get("last_message_time") or 0) < since:
                reached_the_past = True  # newest first: the rest of the walk is older too
                continue
            sessions.setdefault(str(session["session_id"]), session)
        messages: list[ChannelMessage] = []
        for session in sessions.values():
            messages.extend(await self._session_messages(conn, session, since))
        following = _next_cursor(data, "last_session_id")
        if reached_the_past or not _has_more(data) or following is None:
            return MessagePage(messages=messages)
        return MessagePage(messages=messages, next_page_token=json.dumps(following, sort_keys=True))

    async def _im_page(
        self,
        conn: ChannelConnection,
        operation: str,
        path: str,
        params: Mapping[str, Any],
        last_field: str,
    ) -> Mapping[str, Any]:
        """One page of an IM list. A page whose cursor does not move back from the one
        asked for is the previous page served again: asked once more, then retryable."""
        for _ in range(3):
            answer = await self._api(conn, operation, "GET", path, params)
            data = answer.get("data") or {}
            if not isinstance(data, Mapping):
                raise ChannelError(f"lazada {path} answered no data", code="MALFORMED", retryable=True)
            following = _next_cursor(data, last_field)
            if not _has_more(data) or following is None:
                return data
            asked = (int(params["start_time"]), params.get(last_field))
            if following["start"] < asked[0] or (
                following["start"] == asked[0] and following["last"] != asked[1]
            ):
                return data
        raise ChannelError(
            f"lazada {path} keeps serving the same page", code="DUPLICATE_PAGE", retryable=True
        )

    async def _session_messages(
        self, conn: ChannelConnection, session: Mapping[str, Any], since: int
    ) -> list[ChannelMessage]:
        """One session's messages since ``since`` (ms), walking its pages back in time;
        each page is retried on its own, so a long thread is not read again from the top."""
        session_id = str(session["session_id"])
        rows: dict[str, Mapping[str, Any]] = {}
        params: dict[str, Any] = {
            "session_id": session_id,
            "start_time": _now_ms() + IM_CLOCK_MARGIN_MS,
            "page_size": IM_PAGE,
        }
        while True:
            data = await with_retries(
                lambda: self._im_page(conn, "GetMessages", "/im/message/list", params, "last_message_id")
            )
            page = [r for r in data.get("message_list") or [] if r.get("message_id") is not None]
            for row in page:
                rows.setdefault(str(row["message_id"]), row)
            following = _next_cursor(data, "last_message_id")
            oldest = min((int(r.get("send_time") or 0) for r in page), default=0)
            if not page or oldest < since or not _has_more(data) or following is None:
                break
            params.update(start_time=following["start"], last_message_id=following["last"])
        return _to_messages(session, rows.values(), since)

    async def send_message(self, conn: ChannelConnection, message: OutgoingMessage) -> str | None:
        """A text message (template 1) in the buyer's IM session; returns its message id.

        Lazada takes no idempotency key: a send whose answer was lost (a timeout) and is
        retried may reach the buyer twice."""
        if not message.thread_id:
            raise ChannelError("lazada needs the IM session id to send a message", code="InvalidParameter")
        answer = await self._api(
            conn,
            "SendMessage",
            "POST",
            "/im/message/send",
            {"session_id": message.thread_id, "template_id": 1, "txt": message.text},
        )
        data = answer.get("data") or {}
        message_id = data.get("message_id") if isinstance(data, Mapping) else None
        return str(message_id) if message_id else None

    # --------------------------------------------------------------- push and auth

    def parse_webhook(
        self, conn: ChannelConnection, headers: Mapping[str, str], body: bytes
    ) -> Sequence[Mapping[str, Any]]:
        """Verify the push signature and name the order a trade-order push (message_type 0)
        is about; other pushes (products, reverse orders, ...) are acknowledged and ignored."""
        creds = conn.credentials
        authorization = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        if not authorization or not verify_push(
            str(creds["app_key"]), str(creds["app_secret"]), body, authorization
        ):
            raise ChannelError("lazada push signature does not match", code="SIGNATURE")
        payload = parse_push_json(body, "lazada")  # a signed body that is not an object: MALFORMED
        seller = creds.get("seller_id")
        if seller and payload.get("seller_id") and str(payload["seller_id"]) != str(seller):
            return []  # another seller authorised the same app: not this connection's
        data = payload.get("data") or {}
        if not isinstance(data, dict):
            raise ChannelError("lazada push data is not an object", code="MALFORMED")
        order_id = data.get("trade_order_id")
        if str(payload.get("message_type")) == "0" and order_id:
            if not isinstance(order_id, str | int) or isinstance(order_id, bool):
                raise ChannelError("lazada push trade_order_id is not an id", code="MALFORMED")
            return [{"type": "order", "external_id": str(order_id)}]
        return []

    async def refresh_credentials(self, conn: ChannelConnection) -> Mapping[str, Any]:
        creds = dict(conn.credentials)
        await conn.throttle("RefreshAccessToken")
        answer = await self.client(conn).refresh(str(creds["refresh_token"]))
        now = int(time.time())
        creds.update(
            access_token=answer["access_token"],
            refresh_token=answer.get("refresh_token") or creds["refresh_token"],
            access_expires_at=now + int(answer.get("expires_in") or 0),
            refresh_expires_at=now + int(answer.get("refresh_expires_in") or 0),
        )
        creds.pop("auth_code", None)
        return creds


def _now_ms() -> int:
    return int(time.time() * 1000)


def _has_more(data: Mapping[str, Any]) -> bool:
    return str(data.get("has_more", "")).lower() == "true"


def _next_cursor(data: Mapping[str, Any], last_field: str) -> dict[str, Any] | None:
    """The cursor to the next (older) page of an IM list: ``next_start_time`` and the last id."""
    start, last = data.get("next_start_time"), data.get(last_field)
    if start in (None, "") or not str(start).isdigit() or last in (None, ""):
        return None
    return {"start": int(start), "last": str(last)}


def _content(row: Mapping[str, Any]) -> dict[str, Any]:
    """A message's ``content``: a JSON string keyed by template (``txt`` for text)."""
    content = row.get("content")
    if isinstance(content, Mapping):
        return dict(content)
    try:
        parsed = json.loads(str(content or "{}"))
    except ValueError:
        return {"txt": str(content)}
    return parsed if isinstance(parsed, dict) else {"txt": str(parsed)}


def _to_messages(
    session: Mapping[str, Any], rows: Iterable[Mapping[str, Any]], since: int
) -> list[ChannelMessage]:
    """A session's rows as ChannelMessages, oldest first, from ``since`` (ms) on.

    Order cards are not messages: they name the order the messages after them are about.
    Automatic replies and system messages are left out (an auto-reply is no answer)."""
    order_id: str | None = None
    found: list[ChannelMessage] = []
    for row in sorted(rows, key=lambda r: (int(r.get("send_time") or 0), str(r["message_id"]))):
        template = int(row.get("template_id") or 0)
        content = _content(row)
        sender = int(row.get("from_account_type") or 0)
        if template == IM_ORDER_CARD:
            order_id = str(content.get("orderId") or content.get("order_id") or "") or order_id
            continue
        sent = int(row.get("send_time") or 0)
        if (
            sent < since
            or sender not in (IM_BUYER, IM_SELLER)
            or str(row.get("type", "1")) == "2"
            or str(row.get("auto_reply", "")).lower() == "true"
        ):
            continue
        if template in IM_TEXT_TEMPLATES:
            text = str(content.get("txt") or content.get("text") or "")
        else:
            text = IM_LABELS.get(template, f"[message {template}]")
        buyer_id = session.get("buyer_id") or (row.get("from_account_id") if sender == IM_BUYER else None)
        found.append(
            ChannelMessage(
                thread_id=str(session["session_id"]),
                external_id=str(row["message_id"]),
                from_buyer=sender == IM_BUYER,
                text=text,
                sent_at=datetime.fromtimestamp(sent / 1000, UTC),
                buyer_id=str(buyer_id) if buyer_id else None,
                buyer_name=session.get("title") or None,
                order_external_id=order_id,
                raw=dict(row),
            )
        )
    return found


def _refused_skus(exc: LazadaApiError, skus: Sequence[str]) -> dict[str, str] | None:
    """The SKUs a refused price/quantity update names, each with its own reason.

    Lazada answers 501 "Update product failed", an overview code, with ``detail``: one entry
    per refusal (``seller_sku``, ``field``, ``message``; product-api/updatepricequantity.json:
    "check the detail field ... to understand the SKU where the error occurred"). The SKUs
    not named were applied (UNCONFIRMED). A ``detail`` that names none of the SKUs sent
    refuses them all with what it says; no ``detail`` at all is a refusal of the call (None)."""
    detail = exc.body.get("detail") if isinstance(exc.body, Mapping) else None
    if not isinstance(detail, list) or not detail:
        return None
    reasons: dict[str, list[str]] = {}
    loose: list[str] = []
    for entry in detail:
        if not isinstance(entry, Mapping):
            continue
        field, text = str(entry.get("field") or ""), str(entry.get("message") or "")
        reason = f"{field}: {text}" if field and text else (text or field or f"lazada code {exc.code}")
        sku = str(entry.get("seller_sku") or entry.get("SellerSku") or "")
        if sku in skus:
            reasons.setdefault(sku, []).append(reason)
        else:
            loose.append(reason)
    if not reasons:
        everything = "; ".join(loose) or exc.message
        return {sku: f"{exc.code}: {everything}" for sku in skus}
    return {sku: "; ".join(dict.fromkeys(found)) for sku, found in reasons.items()}


def _payload(rows: Sequence[tuple[str, str | None, Mapping[str, str]]]) -> str:
    """``<Request><Product><Skus><Sku>...</Sku></Skus></Product></Request>``."""
    request = ET.Element("Request")
    skus = ET.SubElement(ET.SubElement(request, "Product"), "Skus")
    for seller_sku, external_id, fields in rows:
        sku = ET.SubElement(skus, "Sku")
        item_id, _, sku_id = (external_id or "").partition(":")
        if item_id.isdigit() and sku_id.isdigit():
            ET.SubElement(sku, "ItemId").text = item_id
            ET.SubElement(sku, "SkuId").text = sku_id
        ET.SubElement(sku, "SellerSku").text = seller_sku
        for name, value in fields.items():
            ET.SubElement(sku, name).text = value
    return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(request, encoding="unicode")
