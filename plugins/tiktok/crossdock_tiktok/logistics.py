"""TikTok Shop's own logistics ("TikTok Shipping") as a carrier.

Sources: the Partner API references (Fulfillment 202309) for Get Eligible Shipping Service,
Create Packages, Ship Package, Get Package Detail, Get Package Shipping Document, Search
Package and Get Tracking, as mirrored in ``lazykern/ecommerce-api-docs``
(``data/raw/tiktok/api-reference/fulfillment/*.spec.json``), and the request/response models
of the ``fudiwei/DotNetCore.SKIT.FlurlHttpClient.ByteDance`` TikTok Shop SDK.

* ``rates``: ``POST /fulfillment/202309/orders/{order_id}/shipping_services/query`` with the
  order lines, weight (GRAM) and dimensions (CM), as strings. TikTok documents it for the
  US only; elsewhere TikTok picks the carrier of the order's delivery option and there is
  one "PLATFORM" rate (its fee is settled in the payout, so its price here is 0).
* ``buy_label``: US: ``POST /fulfillment/202309/packages`` (create packages: buys the label
  with the chosen ``shipping_service_id``); then, everywhere, ``POST
  /fulfillment/202309/packages/{id}/ship`` with ``handover_method`` PICKUP or DROP_OFF
  (setting ``handover_method``), which tells TikTok the package ships
  (``Label.channel_confirmed``); the tracking number from ``GET
  /fulfillment/202309/packages/{id}``; the documents from ``GET
  .../shipping_documents?document_type=SHIPPING_LABEL`` (and PACKING_SLIP when the setting
  ``packing_slip`` is true), downloaded from their ``doc_url`` (valid 24 hours).
* ``find_label``: the order's detail shows, per line item, its package, package status and
  tracking number: lines whose package has a tracking number had their label bought
  (create packages) or were shipped; a package still waiting is shipped now (the purchase
  was left halfway), and its documents fetched (TikTok refuses them after the pickup: the
  label is then found without them).
* ``void_label``: TikTok's Fulfillment API has no call to cancel a bought label or a
  shipped package (the seller cancels the order instead): always ``REFUSED``.
* ``track``: ``GET /fulfillment/202309/orders/{order_id}/tracking`` gives descriptions and
  times (``update_time_millis``), no event codes: statuses are read from the words
  (:data:`RULES`). Tracking numbers are matched to their order from labels this process
  handled, else with ``POST /fulfillment/202309/packages/search`` (packages of the last
  ``settings.track_days``, 60 by default).
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import httpx

from crossdock import (
    CarrierAccount,
    CarrierBase,
    CarrierCapability,
    CarrierDocument,
    ChannelConnection,
    ChannelError,
    DocumentFormat,
    DocumentKind,
    Label,
    Money,
    Rate,
    RateLimit,
    ServiceLevel,
    ShipmentRequest,
    TrackingEvent,
    TrackingReason,
    TrackingResult,
    TrackingStatus,
    with_retries,
)
from crossdock_tiktok import __version__
from crossdock_tiktok.mapping import unit_groups
from crossdock_tiktok.marketplace import CONNECTION_CODES, TikTokShopMarketplace

__all__ = ["OPERATIONS", "RULES", "TikTokLogistics", "tracking_status"]

#: the APIs called, each its own bucket (documented: 50 requests per second per API)
OPERATIONS = (
    "orders.detail",
    "fulfillment.shipping_services",
    "fulfillment.create_packages",
    "packages.ship",
    "fulfillment.package_detail",
    "fulfillment.shipping_documents",
    "fulfillment.documents_download",
    "fulfillment.search_packages",
    "fulfillment.tracking",
)
RATE_LIMITS: Mapping[str, RateLimit] = {op: RateLimit(rate=50.0, burst=50) for op in OPERATIONS}
#: TikTok's own words for "shipped already": the ship call of a retried purchase
ALREADY_SHIPPED = frozenset({"21011020", "11006021", "21008099", "21011017"})
#: package statuses of a package handed to TikTok Shipping
SHIPPED = frozenset({"PROCESSING", "FULFILLING", "COMPLETED"})
PLATFORM = "PLATFORM"
REMEMBERED = 10_000

#: tracking descriptions -> status (first match wins) and reason
RULES: tuple[tuple[re.Pattern[str], TrackingStatus, TrackingReason | None], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), status, reason)
    for pattern, status, reason in (
        (r"out for delivery", TrackingStatus.OUT_FOR_DELIVERY, None),
        (
            r"(attempt|unsuccessful|failed).*(not (available|home)|nobody|absent)",
            TrackingStatus.DELIVERY_FAILED,
            TrackingReason.RECIPIENT_UNAVAILABLE,
        ),
        (
            r"(attempt|unsuccessful|failed).*address",
            TrackingStatus.DELIVERY_FAILED,
            TrackingReason.ADDRESS_ISSUE,
        ),
        (
            r"(attempt|unsuccessful|failed).*(refus|reject)",
            TrackingStatus.DELIVERY_FAILED,
            TrackingReason.REFUSED,
        ),
        (
            r"deliver\w* attempt|attempted|delivery (failed|unsuccessful)",
            TrackingStatus.DELIVERY_FAILED,
            None,
        ),
        (r"delay", TrackingStatus.DELIVERY_DELAYED, None),
        (r"return", TrackingStatus.RETURN_TO_SENDER, None),
        (r"customs.*(dut|tax)", TrackingStatus.ON_HOLD, TrackingReason.DUTIES_UNPAID),
        (r"customs", TrackingStatus.ON_HOLD, TrackingReason.CUSTOMS_HOLD),
        (r"\bon hold\b|\bheld\b", TrackingStatus.ON_HOLD, None),
        (r"cancel", TrackingStatus.CANCELLED, None),
        (
            r"label created|waiting for (carrier )?pick ?up|awaiting|ready to ship",
            TrackingStatus.PENDING,
            None,
        ),
        (
            r"pick ?up point|collection point|ready for (collection|pick ?up)|parcel locker",
            TrackingStatus.READY_FOR_PICKUP,
            None,
        ),
        (r"delivered", TrackingStatus.DELIVERED, None),
        (r"picked up|collected|received by (the )?carrier|handed (over )?to", TrackingStatus.PICKED_UP, None),
        (r"transit|depart|arriv|sort|facility|hub|warehouse|on the way", TrackingStatus.IN_TRANSIT, None),
    )
)


def tracking_status(description: str) -> tuple[TrackingStatus, TrackingReason | None]:
    for pattern, status, reason in RULES:
        if pattern.search(description):
            return status, reason
    return TrackingStatus.UNKNOWN, None


def _level(name: str, latest: int | None) -> ServiceLevel | None:
    if re.search(r"2day|overnight|express|next day|priority", name, re.IGNORECASE):
        return ServiceLevel.EXPRESS
    if latest is not None:
        return ServiceLevel.STANDARD if latest <= 7 else ServiceLevel.ECONOMY
    return None


class TikTokLogistics(CarrierBase):
    name = "tiktok_logistics"
    display_name = "TikTok Shipping"
    version = __version__
    channel: str | None = "tiktok"
    capabilities = frozenset({CarrierCapability.RATES, CarrierCapability.LABELS, CarrierCapability.TRACKING})
    rate_limits = RATE_LIMITS
    track_batch = 20

    def __init__(self) -> None:
        self.shop = TikTokShopMarketplace()  # the shop's signed client, shop cipher lookups
        #: (connection, tracking number) -> order id
        self._orders: OrderedDict[tuple[int, str], str] = OrderedDict()

    # ------------------------------------------------------------ plumbing

    @staticmethod
    def _settings(account: CarrierAccount) -> dict[str, Any]:
        """The carrier account's settings over the connection's."""
        connection = account.connection.settings if account.connection is not None else {}
        return {**connection, **account.settings}

    @staticmethod
    def _conn(account: CarrierAccount) -> ChannelConnection:
        if account.connection is None:
            raise ChannelError("tiktok_logistics needs the shop's TikTok connection", code="NO_CONNECTION")
        return account.connection

    async def _call(
        self, account: CarrierAccount, method: str, path: str, operation: str, **kwargs: Any
    ) -> dict[str, Any]:
        """One signed shop call; TikTok's refusals (other than about the connection, or
        transient) become ``REFUSED`` with TikTok's message."""
        await account.throttle(operation)
        try:
            return await self.shop._shop_call(self._conn(account), method, path, operation, **kwargs)
        except ChannelError as exc:
            if exc.retryable or exc.code in CONNECTION_CODES or exc.code == "REFUSED":
                raise
            raise ChannelError(exc.message, code="REFUSED") from exc  # TikTok's code stays in __cause__

    def _remember(self, conn: ChannelConnection, tracking: str, order_id: str) -> None:
        key = (conn.id, tracking)
        self._orders[key] = order_id
        self._orders.move_to_end(key)
        while len(self._orders) > REMEMBERED:
            self._orders.popitem(last=False)

    async def _order(self, account: CarrierAccount, order_id: str) -> dict[str, Any]:
        data = await with_retries(
            partial(
                self._call, account, "GET", "/order/202309/orders", "orders.detail", params={"ids": order_id}
            )
        )
        found = [o for o in data.get("orders") or [] if str(o.get("id")) == order_id]
        if not found:
            raise ChannelError(f"tiktok has no order {order_id}", code="REFUSED")
        order: dict[str, Any] = found[0]
        if order.get("fulfillment_type") == "FULFILLMENT_BY_TIKTOK":
            raise ChannelError(
                f"tiktok order {order_id} is fulfilled by TikTok: it ships itself", code="REFUSED"
            )
        if order.get("status") in ("CANCELLED", "UNPAID", "ON_HOLD"):
            raise ChannelError(
                f"tiktok order {order_id} is {order.get('status')}: it cannot ship", code="REFUSED"
            )
        return order

    @staticmethod
    def _units(order: Mapping[str, Any], request: ShipmentRequest) -> list[dict[str, Any]]:
        """The order's line items (one per unit) the request ships: the split package it
        names, else its lines (a line id is a group of equal units, or one unit), else every
        unit not shipped yet."""
        units = [u for u in order.get("line_items") or [] if isinstance(u, dict)]
        if request.package_reference:
            return [u for u in units if str(u.get("package_id")) == request.package_reference]
        if not request.lines:
            return [
                u for u in units if u.get("package_status") == "TO_FULFILL" or not u.get("package_status")
            ]
        groups = dict(unit_groups(dict(order)))
        by_id = {str(u["id"]): u for u in units}
        chosen: list[dict[str, Any]] = []
        for line, quantity in request.lines:
            members = groups.get(str(line)) or ([by_id[str(line)]] if str(line) in by_id else [])
            # the units of a label already bought come first, then those still waiting
            members = sorted(members, key=lambda u: (not u.get("tracking_number"), str(u["id"])))
            chosen.extend(members[: max(1, int(quantity))])
        return chosen

    @staticmethod
    def _weight(request: ShipmentRequest) -> dict[str, str]:
        return {"value": str(request.weight_grams), "unit": "GRAM"}

    @staticmethod
    def _dimension(request: ShipmentRequest) -> dict[str, str] | None:
        parcel = request.parcels[0] if request.parcels else None
        if not parcel or not (parcel.length_mm and parcel.width_mm and parcel.height_mm):
            return None
        return {
            "length": f"{parcel.length_mm / 10:g}",
            "width": f"{parcel.width_mm / 10:g}",
            "height": f"{parcel.height_mm / 10:g}",
            "unit": "CM",
        }

    # ------------------------------------------------------------ rates

    async def rates(self, account: CarrierAccount, request: ShipmentRequest) -> Sequence[Rate]:
        conn = self._conn(account)
        order_id = self._order_id(request)
        if conn.site != "US":
            return [
                Rate(
                    carrier=self.name,
                    service=PLATFORM,
                    service_name="TikTok Shipping (the order's delivery option)",
                    price=Money(Decimal(0), conn.currency),
                    messages=["TikTok picks the carrier; the shipping fee is settled in the payout"],
                )
            ]
        order = await self._order(account, order_id)
        body: dict[str, Any] = {
            "order_line_item_ids": [str(u["id"]) for u in self._units(order, request)],
            "weight": self._weight(request),
        }
        if self._dimension(request):
            body["dimension"] = self._dimension(request)
        data = await with_retries(
            partial(
                self._call,
                account,
                "POST",
                f"/fulfillment/202309/orders/{order_id}/shipping_services/query",
                "fulfillment.shipping_services",
                body=body,
            )
        )
        today = datetime.now(UTC).date()
        rates = []
        for service in data.get("shipping_services") or []:
            latest = _int(service.get("latest_delivery_days"))
            name = str(service.get("name") or service["id"])
            rates.append(
                Rate(
                    carrier=self.name,
                    service=str(service["id"]),
                    service_name=name,
                    price=Money(
                        Decimal(str(service.get("price") or 0)), str(service.get("currency") or conn.currency)
                    ),
                    transit_days=latest,
                    estimated_delivery=today + timedelta(days=latest) if latest else None,
                    service_level=_level(name, latest),
                    messages=[f"carrier: {service['shipping_provider_name']}"]
                    if service.get("shipping_provider_name")
                    else [],
                )
            )
        return rates

    @staticmethod
    def _order_id(request: ShipmentRequest) -> str:
        if not request.order_external_id:
            raise ChannelError("TikTok Shipping ships a TikTok order: the request names none", code="REFUSED")
        return request.order_external_id

    # ------------------------------------------------------------ labels

    async def buy_label(self, account: CarrierAccount, request: ShipmentRequest, service: str) -> Label:
        conn = self._conn(account)
        order_id = self._order_id(request)
        order = await self._order(account, order_id)
        units = self._units(order, request)
        if not units:
            raise ChannelError(f"tiktok order {order_id} has nothing left to ship", code="REFUSED")
        bought = self._bought(units)
        if bought is not None:  # an earlier try bought it: finish that one
            return await self._finish(account, order_id, bought, service)
        price: Money | None = None
        if conn.site == "US" and service != PLATFORM:
            body: dict[str, Any] = {
                "order_id": order_id,
                "order_line_item_ids": [str(u["id"]) for u in units],
                "shipping_service_id": service,
                "weight": self._weight(request),
            }
            if self._dimension(request):
                body["dimension"] = self._dimension(request)
            data = await self._call(
                account, "POST", "/fulfillment/202309/packages", "fulfillment.create_packages", body=body
            )
            package_id = str(data["package_id"])
            info = data.get("shipping_service_info") or {}
            if (
                info.get("price")
                and str(info.get("currency", "")).isalpha()
                and len(str(info["currency"])) == 3
            ):
                price = Money(Decimal(str(info["price"])), str(info["currency"]))
        else:
            packages = {str(u.get("package_id")) for u in units}
            if len(packages) != 1 or "None" in packages:
                raise ChannelError(
                    f"tiktok order {order_id}: these lines are not one package; split the order first",
                    code="REFUSED",
                )
            package_id = packages.pop()
        return await self._finish(account, order_id, package_id, service, price)

    @staticmethod
    def _bought(units: Sequence[Mapping[str, Any]]) -> str | None:
        """The package of these units whose label was bought (it has a tracking number)."""
        for unit in units:
            if (
                unit.get("tracking_number")
                and unit.get("package_status") != "CANCELLED"
                and unit.get("package_id")
            ):
                return str(unit["package_id"])
        return None

    async def _finish(
        self,
        account: CarrierAccount,
        order_id: str,
        package_id: str,
        service: str,
        price: Money | None = None,
    ) -> Label:
        """Ship the package with TikTok Shipping (unless it is already), then read its
        tracking number and documents."""
        conn = self._conn(account)
        detail = await self._detail(account, package_id)
        if detail.get("package_status") not in SHIPPED:
            handover = str(self._settings(account).get("handover_method") or "PICKUP")
            try:
                await with_retries(
                    partial(
                        self._call,
                        account,
                        "POST",
                        f"/fulfillment/202309/packages/{package_id}/ship",
                        "packages.ship",
                        body={"handover_method": handover},
                    )
                )
            except ChannelError as exc:
                cause = exc.__cause__
                if not isinstance(cause, ChannelError) or cause.code not in ALREADY_SHIPPED:
                    raise
            detail = await self._detail(account, package_id)
        tracking = str(detail.get("tracking_number") or "")
        if not tracking:
            raise ChannelError(
                f"tiktok has not assigned package {package_id} a tracking number yet",
                code="TRACKING_PENDING",
                retryable=True,
                retry_after=5.0,
            )
        self._remember(conn, tracking, order_id)
        documents = await self._documents(account, package_id)
        return Label(
            carrier_shipment_id=package_id,
            tracking_numbers=[tracking],
            documents=documents,
            service=service if service else str(detail.get("shipping_provider_id") or PLATFORM),
            price=price,
            channel_confirmed=True,
            raw={
                "order_id": order_id,
                "package_id": package_id,
                "shipping_provider_id": detail.get("shipping_provider_id"),
                "shipping_provider_name": detail.get("shipping_provider_name"),
                "handover_method": detail.get("handover_method"),
            },
        )

    async def _detail(self, account: CarrierAccount, package_id: str) -> dict[str, Any]:
        return await with_retries(
            partial(
                self._call,
                account,
                "GET",
                f"/fulfillment/202309/packages/{package_id}",
                "fulfillment.package_detail",
            )
        )

    async def _documents(self, account: CarrierAccount, package_id: str) -> list[CarrierDocument]:
        kinds = [("SHIPPING_LABEL", DocumentKind.LABEL)]
        if self._settings(account).get("packing_slip"):
            kinds.append(("PACKING_SLIP", DocumentKind.PACKING_SLIP))
        documents: list[CarrierDocument] = []
        for document_type, kind in kinds:
            try:
                data = await with_retries(
                    partial(
                        self._call,
                        account,
                        "GET",
                        f"/fulfillment/202309/packages/{package_id}/shipping_documents",
                        "fulfillment.shipping_documents",
                        params={"document_type": document_type, "document_size": "A6"},
                    )
                )
            except ChannelError as exc:
                if exc.code == "REFUSED" and documents == [] and kind == DocumentKind.LABEL:
                    return []  # e.g. after the carrier's pickup TikTok prints no more documents
                raise
            url = str(data.get("doc_url") or "")
            if not url:
                raise ChannelError("tiktok answered no doc_url", code="MALFORMED", retryable=True)
            content = await with_retries(partial(self._download, account, url))
            documents.append(CarrierDocument(kind, DocumentFormat.PDF, content))
        return documents

    async def _download(self, account: CarrierAccount, url: str) -> bytes:
        await account.throttle("fulfillment.documents_download")
        try:
            response = await account.http_client().get(url)
        except httpx.TimeoutException as exc:
            raise ChannelError("tiktok document download timed out", code="TIMEOUT", retryable=True) from exc
        except httpx.TransportError as exc:
            raise ChannelError(f"tiktok document download: {exc}", code="NETWORK", retryable=True) from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise ChannelError(
                f"tiktok document download: HTTP {response.status_code}", code="SERVER_ERROR", retryable=True
            )
        if response.status_code != 200 or not response.content.startswith(b"%PDF-"):
            raise ChannelError(
                f"tiktok document download: HTTP {response.status_code}, not a PDF "
                "(the doc_url lives 24 hours)",
                code="MALFORMED",
                retryable=response.status_code == 200,
            )
        return response.content

    async def find_label(self, account: CarrierAccount, request: ShipmentRequest) -> Label | None:
        order_id = self._order_id(request)
        order = await self._order(account, order_id)
        package_id = self._bought(self._units(order, request))
        if package_id is None:
            return None
        return await self._finish(account, order_id, package_id, "")

    async def void_label(self, account: CarrierAccount, label: Label) -> None:
        raise ChannelError(
            "TikTok Shop offers no API to cancel a TikTok Shipping label or a shipped package; "
            "cancel the order in TikTok Shop Seller Center instead",
            code="REFUSED",
        )

    # ------------------------------------------------------------ tracking

    async def track(
        self, account: CarrierAccount, tracking_numbers: Sequence[str]
    ) -> Sequence[TrackingResult]:
        conn = self._conn(account)
        unknown = [n for n in tracking_numbers if (conn.id, n) not in self._orders]
        if unknown:
            await self._match(account, set(unknown))
        by_order: dict[str, list[TrackingEvent]] = {}
        results = []
        for number in tracking_numbers:
            order_id = self._orders.get((conn.id, number))
            if order_id is None:
                results.append(TrackingResult(number, [], found=False))
                continue
            if order_id not in by_order:
                data = await with_retries(
                    partial(
                        self._call,
                        account,
                        "GET",
                        f"/fulfillment/202309/orders/{order_id}/tracking",
                        "fulfillment.tracking",
                    )
                )
                by_order[order_id] = _events(data.get("tracking") or [])
            results.append(TrackingResult(number, by_order[order_id]))
        return results

    async def _match(self, account: CarrierAccount, numbers: set[str]) -> None:
        """Find the orders of tracking numbers this process has not seen, among the
        packages made in the last ``track_days`` days."""
        conn = self._conn(account)
        settings = self._settings(account)
        days = int(settings.get("track_days") or 60)
        body = {"create_time_ge": int(time.time()) - days * 86400}
        token = ""
        for _ in range(int(settings.get("track_pages") or 40)):
            params: dict[str, Any] = {"page_size": 50, "sort_field": "create_time", "sort_order": "DESC"}
            if token:
                params["page_token"] = token
            data = await with_retries(
                partial(
                    self._call,
                    account,
                    "POST",
                    "/fulfillment/202309/packages/search",
                    "fulfillment.search_packages",
                    params=params,
                    body=body,
                )
            )
            for package in data.get("packages") or []:
                number = str(package.get("tracking_number") or "")
                orders = package.get("orders") or []
                if number in numbers and orders:
                    self._remember(conn, number, str(orders[0]["id"]))
                    numbers.discard(number)
            token = str(data.get("next_page_token") or "")
            if not token or not numbers:
                return


def _events(rows: Sequence[Mapping[str, Any]]) -> list[TrackingEvent]:
    events = []
    for row in rows:
        text = str(row.get("description") or "").strip()
        millis = _int(row.get("update_time_millis"))
        if not text or not millis:
            continue
        status, reason = tracking_status(text)
        events.append(
            TrackingEvent(
                occurred_at=datetime.fromtimestamp(millis / 1000, UTC),
                status=status,
                code=text[:64],  # TikTok gives no event code: its description is the code
                description=text,
                reason=reason,
            )
        )
    return events


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
