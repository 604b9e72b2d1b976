"""The Shopee Open Platform provider.

Sites: Shopee's markets (../shared/marketplaces.md). Shopee publishes no per-call rate
table: throttling (``error_rate_limit``, HTTP 429) and a busy system (``error_system_busy``,
``error_server``) are retryable errors on every call (see :mod:`crossdock_shopee.client`).

Credentials of a connection: ``partner_id``, ``partner_key``, ``shop_id``,
``access_token``, ``refresh_token`` (access tokens live 4 hours; every refresh returns a
new refresh token, the old one is spent). ``settings.webhook_url`` is the callback URL
registered with Shopee, needed to verify push signatures; ``settings.stock_location_id``
the stock location (v2.shop.get_warehouse_detail) a multi-warehouse shop's stock is set in.
Pushes Crossdock missed are read back from Shopee's lost-push list
(:mod:`crossdock_shopee.push`, the ``notifications`` capability).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
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
    MarketplaceBase,
    MarketplaceCapability,
    MessagePage,
    NotificationSource,
    OrderPage,
    OutgoingMessage,
    PriceUpdate,
    PublishResult,
    PushResult,
    ShipmentConfirmation,
    Site,
    StockUpdate,
    WebhookPush,
    parse_push_json,
    with_retries,
)
from crossdock_shopee import __version__
from crossdock_shopee.ads import AdsReport
from crossdock_shopee.aftersales import AfterSales
from crossdock_shopee.client import ShopeeClient
from crossdock_shopee.listings import Listings
from crossdock_shopee.logistics import Shipper
from crossdock_shopee.mapping import is_bundle_deal, to_order
from crossdock_shopee.push import LostPushes, push_id, references
from crossdock_shopee.signing import verify_push

__all__ = ["SITES", "ShopeeMarketplace"]

SITES: tuple[Site, ...] = (
    Site(code="SG", country="SG", currency="SGD", name="Shopee Singapore"),
    Site(code="MY", country="MY", currency="MYR", name="Shopee Malaysia"),
    Site(code="TH", country="TH", currency="THB", name="Shopee Thailand"),
    Site(code="PH", country="PH", currency="PHP", name="Shopee Philippines"),
    Site(code="VN", country="VN", currency="VND", name="Shopee Vietnam"),
    Site(code="ID", country="ID", currency="IDR", name="Shopee Indonesia"),
    Site(code="TW", country="TW", currency="TWD", name="Shopee Taiwan"),
    Site(code="BR", country="BR", currency="BRL", name="Shopee Brazil"),
    Site(code="MX", country="MX", currency="MXN", name="Shopee Mexico"),
    Site(code="CO", country="CO", currency="COP", name="Shopee Colombia"),
    Site(code="CL", country="CL", currency="CLP", name="Shopee Chile"),
)

WINDOW = 15 * 24 * 3600  # get_order_list accepts at most 15 days per call
CHAT_PAGE = 25
PAGE_SIZE = 100
DETAIL_BATCH = 50
OPTIONAL_FIELDS = ",".join(
    [
        "buyer_user_id",
        "buyer_username",
        "recipient_address",
        "item_list",
        "total_amount",
        "pay_time",
        "payment_method",
        "fulfillment_flag",
        "package_list",
    ]
)


class ShopeeMarketplace(MarketplaceBase):
    name = "shopee"
    display_name = "Shopee Open Platform"
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
            MarketplaceCapability.NOTIFICATIONS,
            MarketplaceCapability.CREDENTIALS_REFRESH,
            MarketplaceCapability.ORDERS_CANCEL,
            MarketplaceCapability.CASES_SYNC,
            MarketplaceCapability.CASES_RESPOND,
            MarketplaceCapability.ADS_READ,
            MarketplaceCapability.LISTINGS_CATEGORIES,
            MarketplaceCapability.LISTINGS_RULES,
            MarketplaceCapability.LISTINGS_PUBLISH,
            MarketplaceCapability.LISTINGS_READ,
            MarketplaceCapability.LISTINGS_DEACTIVATE,
        }
    )

    def sites(self) -> Sequence[Site]:
        return SITES

    # --------------------------------------------------------------- plumbing

    def client(self, conn: ChannelConnection) -> ShopeeClient:
        http = conn.http_client()  # the server's shared pool, guarded against internal addresses
        creds = conn.credentials
        return ShopeeClient(
            int(creds["partner_id"]), str(creds["partner_key"]), base_url=conn.base_url, http=http
        )

    async def _shop_call(
        self, conn: ChannelConnection, method: str, path: str, **kwargs: Any
    ) -> dict[str, Any]:
        creds = conn.credentials
        return await self.client(conn).call(
            method, path, access_token=str(creds["access_token"]), shop_id=int(creds["shop_id"]), **kwargs
        )

    async def _item_call(
        self,
        conn: ChannelConnection,
        chunk: Sequence[tuple[int, StockUpdate | PriceUpdate]],
        results: list[PushResult],
        path: str,
        *,
        body: dict[str, Any],
    ) -> dict[str, Any] | None:
        """One item's update; when Shopee refuses the item itself (deleted, not this
        shop's), its models fail their own results and None is returned. Errors about the
        shop or the call (auth, signature, throttling) are raised."""
        try:
            return await self._shop_call(conn, "POST", path, body=body)
        except ChannelError as exc:
            if exc.retryable or not _item_error(exc.code):
                raise
            results.extend(PushResult(u.channel_sku, False, f"{exc.code}: {exc.message}") for _, u in chunk)
            return None

    # --------------------------------------------------------------- orders

    async def fetch_orders(
        self, conn: ChannelConnection, *, updated_since: datetime, page_token: str | None
    ) -> OrderPage:
        """Orders updated since ``updated_since``, walked in 15-day windows by update time.

        The page token carries the window and Shopee's cursor, so a resumed sync continues
        exactly where the last committed page ended.
        """
        if page_token:
            state = json.loads(page_token)
        else:
            start = int(updated_since.timestamp())
            end = int(time.time())
            state = {"from": start, "to": min(start + WINDOW, end), "end": end, "cursor": ""}
        listed = await self._shop_call(
            conn,
            "GET",
            "/api/v2/order/get_order_list",
            params={
                "time_range_field": "update_time",
                "time_from": state["from"],
                "time_to": state["to"],
                "page_size": PAGE_SIZE,
                "cursor": state["cursor"],
                "response_optional_fields": "order_status",
            },
        )
        response = listed.get("response") or {}
        sns = list(dict.fromkeys(o["order_sn"] for o in response.get("order_list") or []))
        orders = await self._details(conn, sns)
        if response.get("more"):
            state["cursor"] = response.get("next_cursor") or ""
        elif state["to"] < state["end"]:
            state = {
                **state,
                "from": state["to"],
                "to": min(state["to"] + WINDOW, state["end"]),
                "cursor": "",
            }
        else:
            return OrderPage(orders=orders, next_page_token=None)
        return OrderPage(orders=orders, next_page_token=json.dumps(state, sort_keys=True))

    async def _details(self, conn: ChannelConnection, sns: Sequence[str]) -> list[ChannelOrder]:
        orders: list[ChannelOrder] = []
        for i in range(0, len(sns), DETAIL_BATCH):
            batch = sns[i : i + DETAIL_BATCH]
            detail = await with_retries(
                partial(
                    self._shop_call,
                    conn,
                    "GET",
                    "/api/v2/order/get_order_detail",
                    params={"order_sn_list": ",".join(batch), "response_optional_fields": OPTIONAL_FIELDS},
                )
            )
            for raw in (detail.get("response") or {}).get("order_list") or []:
                escrow = None
                if raw.get("order_status") != "UNPAID" and any(
                    is_bundle_deal(i) for i in raw.get("item_list") or []
                ):
                    escrow = await self._escrow_items(conn, str(raw["order_sn"]))
                orders.append(to_order(raw, escrow))
        return orders

    async def _escrow_items(self, conn: ChannelConnection, order_sn: str) -> list[dict[str, Any]] | None:
        """``order_income.items`` of ``v2.payment.get_escrow_detail``: what each line of a
        bundle deal sold at. None when Shopee will not say (an app without the payment
        API's permission, no income yet): the lines then keep their listing price.
        Transient errors and an expired token are raised, like any other call's."""
        try:
            answer = await with_retries(
                partial(
                    self._shop_call,
                    conn,
                    "GET",
                    "/api/v2/payment/get_escrow_detail",
                    params={"order_sn": order_sn},
                )
            )
        except ChannelError as exc:
            if exc.retryable or exc.code == ChannelError.AUTH_EXPIRED:
                raise
            return None
        income = (answer.get("response") or {}).get("order_income") or {}
        return [dict(i) for i in income.get("items") or [] if isinstance(i, Mapping)]

    async def fetch_order(self, conn: ChannelConnection, external_id: str) -> ChannelOrder:
        found = await self._details(conn, [external_id])
        if not found:
            raise ChannelError(f"shopee has no order {external_id}", code="error_not_found")
        return found[0]

    # --------------------------------------------------------------- fulfilment

    async def confirm_shipment(
        self, conn: ChannelConnection, confirmation: ShipmentConfirmation
    ) -> str | None:
        """Ship the order's package(s) as Shopee allows (``get_shipping_parameter``, then
        ``ship_order`` with exactly one of pickup / dropoff / non_integrated).

        With the seller's own tracking number, a non-integrated channel gets it
        (``non_integrated``) and None is returned. An integrated channel refuses
        ``non_integrated``: the package is shipped on Shopee's line (pickup, else drop-off)
        and the tracking number Shopee assigned is returned, the one that counts. A split
        order ships the packages holding the shipment's lines (``package_number``).

        Idempotent: a package already arranged is not shipped again; a retry answers the
        tracking number Shopee holds for it (the seller's own, or the one Shopee assigned:
        whichever Shopee shows the buyer is the one recorded).
        """
        shipper = Shipper(conn)
        order, packages = await shipper.packages(confirmation.order_external_id)
        if order is None:
            raise ChannelError(
                f"shopee has no order {confirmation.order_external_id}", code="error_not_found"
            )
        chosen = Shipper.choose(packages, None, confirmation.lines)
        if not chosen:
            raise ChannelError(
                f"shopee order {confirmation.order_external_id} has no package with these lines",
                code="error_param",
            )
        assigned: list[str] = []
        sender = str(conn.settings.get("sender_real_name") or "")
        for package in chosen:
            if not package.arranged:
                parameters = await shipper.parameters(package)
                mode, detail = Shipper.plan(
                    parameters, tracking_number=confirmation.tracking_number, sender_name=sender
                )
                await shipper.ship(package, mode, detail)
                if mode == "non_integrated":
                    continue
            # Shopee's record of the package's number (a retry, an integrated line's own)
            number = await shipper.tracking_number(package)
            if number != confirmation.tracking_number:
                assigned.append(number)
        return assigned[0] if assigned else None

    # --------------------------------------------------------------- stock

    async def push_stock(
        self, conn: ChannelConnection, updates: Sequence[StockUpdate]
    ) -> Sequence[PushResult]:
        """One ``update_stock`` call per item (Shopee takes one item, up to 50 models, per
        call). A listing's ``external_id`` is ``item_id:model_id`` (``item_id`` alone for an
        item without variations)."""
        by_item: dict[int, list[tuple[int, StockUpdate]]] = {}
        results: list[PushResult] = []
        # a multi-warehouse shop takes stock per location ("The merchant/shop has multi
        # warehouse, please input location id"); a shop with one stock takes none
        location_id = conn.settings.get("stock_location_id")
        location = {"location_id": str(location_id)} if location_id else {}
        for update in updates:
            if not update.external_id:
                results.append(PushResult(update.channel_sku, False, "listing has no Shopee item id"))
                continue
            ids = _item_model(update.external_id)
            if ids is None:
                results.append(PushResult(update.channel_sku, False, NOT_AN_ITEM_ID))
                continue
            by_item.setdefault(ids[0], []).append((ids[1], update))
        for item_id, models in by_item.items():
            for i in range(0, len(models), 50):
                chunk = models[i : i + 50]
                answer = await self._item_call(
                    conn,
                    chunk,
                    results,
                    "/api/v2/product/update_stock",
                    body={
                        "item_id": item_id,
                        "stock_list": [
                            {
                                "model_id": model_id,
                                "seller_stock": [{**location, "stock": max(0, u.quantity)}],
                            }
                            for model_id, u in chunk
                        ],
                    },
                )
                if answer is None:  # the item itself was refused: its models' results are in
                    continue
                failed = _failures(answer.get("response") or {})
                results.extend(
                    PushResult(u.channel_sku, model_id not in failed, failed.get(model_id))
                    for model_id, u in chunk
                )
        return results

    async def push_prices(
        self, conn: ChannelConnection, updates: Sequence[PriceUpdate]
    ) -> Sequence[PushResult]:
        """``update_price`` per item: the models' ``original_price`` in the shop's currency."""
        results: list[PushResult] = []
        by_item: dict[int, list[tuple[int, PriceUpdate]]] = {}
        for update in updates:
            if not update.external_id:
                results.append(PushResult(update.channel_sku, False, "listing has no Shopee item id"))
                continue
            if update.price.currency != conn.currency:
                results.append(PushResult(update.channel_sku, False, f"the shop sells in {conn.currency}"))
                continue
            ids = _item_model(update.external_id)
            if ids is None:
                results.append(PushResult(update.channel_sku, False, NOT_AN_ITEM_ID))
                continue
            by_item.setdefault(ids[0], []).append((ids[1], update))
        for item_id, models in by_item.items():
            for i in range(0, len(models), 50):
                chunk = models[i : i + 50]
                answer = await self._item_call(
                    conn,
                    chunk,
                    results,
                    "/api/v2/product/update_price",
                    body={
                        "item_id": item_id,
                        "price_list": [
                            {"model_id": model_id, "original_price": float(u.price.rounded().amount)}
                            for model_id, u in chunk
                        ],
                    },
                )
                if answer is None:  # the item itself was refused: its models' results are in
                    continue
                failed = _failures(answer.get("response") or {})
                results.extend(
                    PushResult(u.channel_sku, model_id not in failed, failed.get(model_id))
                    for model_id, u in chunk
                )
        return results

    # --------------------------------------------------------------- buyer chat

    async def fetch_messages(
        self, conn: ChannelConnection, *, updated_since: datetime, page_token: str | None
    ) -> MessagePage:
        """Seller Chat: conversations newest first, and in each one touched since the time,
        its messages back to that time.

        A page is one page of conversations. The token is the list's own cursor (the last
        conversation's message time), so a resumed sync goes on from there; a thread that
        gets a new message meanwhile jumps to the top and is read by the next sync.
        """
        since_nano = int(updated_since.timestamp() * 1e9)
        older_than = json.loads(page_token)["older_than"] if page_token else None
        params: dict[str, Any] = {"direction": "latest", "type": "all", "page_size": CHAT_PAGE}
        if older_than:
            params.update(direction="older", next_timestamp_nano=older_than)
        listed = await self._shop_call(conn, "GET", "/api/v2/sellerchat/get_conversation_list", params=params)
        response = listed.get("response") or {}
        messages: list[ChannelMessage] = []
        reached_the_past = False
        for conversation in response.get("conversations") or []:
            if int(conversation.get("last_message_timestamp") or 0) < since_nano:
                reached_the_past = True
                continue
            messages.extend(await with_retries(partial(self._thread, conn, conversation, updated_since)))
        cursor = ((response.get("page_result") or {}).get("next_cursor") or {}).get("next_message_time_nano")
        if reached_the_past or not (response.get("page_result") or {}).get("more") or not cursor:
            return MessagePage(messages=messages)
        return MessagePage(messages=messages, next_page_token=json.dumps({"older_than": str(cursor)}))

    async def _thread(
        self, conn: ChannelConnection, conversation: Mapping[str, Any], since: datetime
    ) -> list[ChannelMessage]:
        """One conversation's messages (Shopee lists them newest first) down to ``since``."""
        shop_id = int(conn.credentials["shop_id"])
        found: list[ChannelMessage] = []
        offset = ""
        while True:
            answer = await self._shop_call(
                conn,
                "GET",
                "/api/v2/sellerchat/get_message",
                params={
                    "conversation_id": conversation["conversation_id"],
                    "offset": offset,
                    "page_size": CHAT_PAGE,
                },
            )
            response = answer.get("response") or {}
            rows = response.get("messages") or []
            for row in rows:
                sent_at = datetime.fromtimestamp(int(row["created_timestamp"]), UTC)
                if sent_at < since:
                    continue
                content = row.get("content") or {}
                found.append(
                    ChannelMessage(
                        thread_id=str(conversation["conversation_id"]),
                        external_id=str(row["message_id"]),
                        from_buyer=int(row.get("from_shop_id") or 0) != shop_id,
                        text=str(content.get("text") or f"[{row.get('message_type', 'message')}]"),
                        sent_at=sent_at,
                        buyer_id=str(conversation["to_id"]),
                        buyer_name=conversation.get("to_name"),
                        order_external_id=(row.get("source_content") or {}).get("order_sn")
                        or content.get("order_sn"),
                        raw=row,
                    )
                )
            offset = str((response.get("page_result") or {}).get("next_offset") or "")
            oldest = min((int(r["created_timestamp"]) for r in rows), default=0)
            if not offset or not rows or oldest < since.timestamp():
                return found

    async def send_message(self, conn: ChannelConnection, message: OutgoingMessage) -> str | None:
        """A text message to the buyer (Seller Chat addresses the buyer, not the thread)."""
        if not message.buyer_id:
            raise ChannelError("shopee needs the buyer's user id to send a message", code="error_param")
        answer = await self._shop_call(
            conn,
            "POST",
            "/api/v2/sellerchat/send_message",
            body={"to_id": int(message.buyer_id), "message_type": "text", "content": {"text": message.text}},
        )
        message_id = (answer.get("response") or {}).get("message_id")
        return str(message_id) if message_id else None

    # --------------------------------------------------------------- after-sales

    async def cancel_order(self, conn: ChannelConnection, external_id: str, reason: CancelReason) -> None:
        """``v2.order.cancel_order`` with Shopee's reason for ``reason`` (see
        :data:`crossdock_shopee.aftersales.CANCEL_CODES`); an order Shopee shows cancelled
        already is success. Shopee's refusal (a shipped order: ``order.error_limit`` "Can
        not cancel this order") is raised as it came."""
        await AfterSales(self).cancel(conn, external_id, reason)

    async def fetch_cases(
        self, conn: ChannelConnection, *, updated_since: datetime, page_token: str | None
    ) -> CasePage:
        """The buyers' cancellation requests (orders updated since the time, read for their
        ``buyer_cancel_reason``) then their returns and refund requests
        (``v2.returns.get_return_list``), each walked in 15-day windows."""
        return await AfterSales(self).fetch(conn, updated_since, page_token)

    async def respond_to_case(self, conn: ChannelConnection, response: CaseResponse) -> ChannelCase:
        """The seller's answer with Shopee's endpoint for it, then the case read back. An
        answer Shopee already shows (a retry after a lost answer) is not sent again."""
        return await AfterSales(self).respond(conn, response)

    # --------------------------------------------------------------- advertising

    async def fetch_ads(
        self, conn: ChannelConnection, *, day_from: date, day_to: date, page_token: str | None
    ) -> AdReportPage:
        """Shopee Ads' product-level campaigns, a page of up to 100: their settings
        (``get_product_level_campaign_setting_info``) and daily performance
        (``get_product_campaign_daily_performance``, in windows of at most four weeks, the
        dates clamped to what Shopee keeps), as CAMPAIGN rows, and PRODUCT rows under the
        seller's SKU for a campaign advertising one item. Orders and sales are Shopee's
        direct attribution (see :mod:`crossdock_shopee.ads`). Shopee answers at once:
        every page is ready."""
        return await AdsReport(self).page(conn, day_from, day_to, page_token)

    # --------------------------------------------------------------- listing content

    async def fetch_categories(self, conn: ChannelConnection, *, language: str) -> Sequence[ChannelCategory]:
        """``v2.product.get_category`` in ``language``: the whole tree, a leaf being a
        category without children (see :mod:`crossdock_shopee.listings`)."""
        return await Listings(self).categories(conn, language)

    async def fetch_category_rules(
        self, conn: ChannelConnection, category_id: str, *, language: str
    ) -> CategoryRules:
        """``get_attribute_tree`` (attributes under their ``attribute_id``) and
        ``get_item_limit`` (name, description and image limits); an unknown category is
        ``REFUSED``."""
        return (await Listings(self).shopee_rules(conn, category_id, language)).rules

    async def publish_listing(
        self, conn: ChannelConnection, draft: ListingDraft, *, preview: bool = False
    ) -> PublishResult:
        """Checked against the category's rules here (Shopee has no validation-only call;
        a preview stops there), then the images uploaded and the item added, or updated
        when Shopee has it (the draft's item id, or the item of its SKU)."""
        return await Listings(self).publish(conn, draft, preview)

    async def read_listing(
        self, conn: ChannelConnection, sku: str, external_id: str | None, *, language: str
    ) -> ListingDraft | None:
        """``get_item_base_info`` of the item (found by SKU without an id)."""
        return await Listings(self).read(conn, sku, external_id, language)

    async def deactivate_listing(self, conn: ChannelConnection, sku: str, external_id: str | None) -> None:
        """``unlist_item``; an item Shopee does not know is off sale already."""
        await Listings(self).deactivate(conn, sku, external_id)

    # --------------------------------------------------------------- push and auth

    def parse_webhook(self, conn: ChannelConnection, headers: Mapping[str, str], body: bytes) -> WebhookPush:
        """Verify the push signature and name the orders it is about (code 3: order status,
        4: tracking number). Anything else is acknowledged and ignored; a signed body that
        is not a push object is ``MALFORMED``. Shopee gives pushes no id of their own: the
        id is the digest of the push object, the same as its copy in the lost-push list
        (:func:`crossdock_shopee.push.push_id`), so a push that arrived here but whose
        answer Shopee missed is not stored again when it is recovered."""
        url = str(conn.settings.get("webhook_url", ""))
        authorization = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        if not url or not verify_push(str(conn.credentials["partner_key"]), url, body, authorization):
            raise ChannelError("shopee push signature does not match", code="SIGNATURE")
        payload = parse_push_json(body, "shopee")
        return WebhookPush(references(payload), event_id=push_id(payload))

    def notification_source(self, conn: ChannelConnection) -> NotificationSource | None:
        """The pushes Shopee could not deliver (the lost-push list), for this shop; see
        :mod:`crossdock_shopee.push`. ``settings.lost_push_recovery = false`` turns it off."""
        if conn.settings.get("lost_push_recovery") is False:
            return None
        return LostPushes(conn)

    async def refresh_credentials(self, conn: ChannelConnection) -> Mapping[str, Any]:
        creds = dict(conn.credentials)
        answer = await self.client(conn).refresh(int(creds["shop_id"]), str(creds["refresh_token"]))
        creds.update(
            access_token=answer["access_token"],
            refresh_token=answer["refresh_token"],
            access_expires_at=int(time.time()) + int(answer.get("expire_in", 14400)),
        )
        creds.pop("auth_code", None)
        return creds


NOT_AN_ITEM_ID = "listing has no Shopee item id (item_id or item_id:model_id)"


def _item_model(external_id: str | None) -> tuple[int, int] | None:
    """A listing's ``item_id:model_id`` (``item_id`` alone: no variations) as numbers."""
    item, _, model = (external_id or "").partition(":")
    if not item.isdigit() or not (model or "0").isdigit():
        return None
    return int(item), int(model or 0)


def _item_error(code: str) -> bool:
    """Whether an error code is about the item asked for (``error_item_not_found``,
    ``product.error_item_not_found``...), not about the shop or the call."""
    return code == "error_not_found" or "item" in code or "model" in code


def _failures(response: Mapping[str, Any]) -> dict[int, str]:
    """``failure_list``: the models Shopee did not update, with its reason."""
    failed: dict[int, str] = {}
    for entry in response.get("failure_list") or []:
        if isinstance(entry, Mapping) and str(entry.get("model_id", "")).isdigit():
            failed[int(entry["model_id"])] = str(entry.get("failed_reason") or "refused")
    return failed
