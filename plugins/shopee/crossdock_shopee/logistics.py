"""Shopee's own logistics: shipping an order on the marketplace's lines (v2.logistics).

Sources (the Open Platform API reference as mirrored in ``congminh1254/shopee-sdk``,
``schemas/v2.logistics.*.json``; see the README):

- ``get_shipping_parameter(order_sn, package_number)`` answers ``info_needed``: the ship
  modes the package allows (``pickup``, ``dropoff``, ``non_integrated``; a mode present with
  an empty list is allowed with nothing to fill) and, per mode, the fields to send
  (``address_id``/``pickup_time_id``; ``branch_id``/``sender_real_name``/``tracking_no``;
  ``tracking_no``), with the pickup addresses and their time slots and the drop-off branches.
- ``ship_order`` takes exactly one mode (``logistics.ship_order_only_support_one_type``), a
  mode the order allows (``logistics.ship_order_unsupport_non_integrated`` ...), and
  ``package_number`` for a split order only (``logistics.ship_order_need_pacakge_number`` /
  ``..._not_need_pacakge_number``).
- ``get_tracking_number`` may answer an empty number for a while after ``ship_order``
  ("allowed to keep calling the api within 5 minutes interval"): a retryable error here.
- Air waybills: ``create_shipping_document`` → ``get_shipping_document_result`` (READY,
  PROCESSING, FAILED) → ``download_shipping_document`` (the file itself).
- ``get_tracking_info(order_sn, package_number)``: the package's ``logistics_status`` and
  ``tracking_info`` (``update_time``, ``description``, ``logistics_status``), keyed by order,
  not by tracking number.
- There is no call that cancels an arranged shipment; ``v2.order.cancel_order`` cancels the
  buyer's whole order. Voiding is refused.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

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
    ShipmentRequest,
    TrackingEvent,
    TrackingReason,
    TrackingResult,
    TrackingStatus,
    with_retries,
)
from crossdock_shopee import __version__
from crossdock_shopee.client import AUTH_EXPIRED, AuthRefusal, ShopeeClient

__all__ = ["Shipper", "ShopeeLogistics", "event_status"]

MODES = ("pickup", "dropoff", "non_integrated")
#: package statuses before a shipment is arranged (Data Definition - LogisticsStatus)
NOT_ARRANGED = frozenset({"LOGISTICS_NOT_START", "LOGISTICS_READY", "LOGISTICS_PENDING_ARRANGE"})
#: order statuses whose packages may have a shipment to track
TRACKABLE_ORDERS = frozenset(
    {"PROCESSED", "SHIPPED", "TO_CONFIRM_RECEIVE", "COMPLETED", "RETRY_SHIP", "TO_RETURN", "IN_CANCEL"}
)
RETRIES = 4  # transient failures of one read, retried in place
#: errors about the app's or the shop's credentials, kept as they are (not REFUSED)
CREDENTIAL_CODES = frozenset(
    {AUTH_EXPIRED, "error_sign", "error_auth", "error_permission", "REFUSED", *(r.value for r in AuthRefusal)}
)
DOCUMENT_POLLS = 5
TRACKING_POLLS = 3
POLL_DELAY = 0.2
LOOKUP_WINDOW = 15 * 24 * 3600  # get_order_list: 15 days per call
CLOCK_MARGIN = 600  # Shopee's clock may run ahead of ours: look a little into the future

#: tracking_info logistics_status (TrackingLogisticsStatus) -> our status; UPDATE and the
#: pending codes are refined from the 3PL's text (customs, out for delivery ...)
EVENT_STATUS: Mapping[str, TrackingStatus] = {
    **dict.fromkeys(
        (
            "INITIAL",
            "ORDER_INIT",
            "ORDER_SUBMITTED",
            "ORDER_FINALIZED",
            "ORDER_CREATED",
            "PICKUP_REQUESTED",
            "PICKUP_PENDING",
            "PICKUP_RETRY",
        ),
        TrackingStatus.PENDING,
    ),
    "PICKED_UP": TrackingStatus.PICKED_UP,
    **dict.fromkeys(("UPDATE", "UPDATE_SUBMITTED", "UPDATE_CREATED"), TrackingStatus.IN_TRANSIT),
    "DELIVERY_PENDING": TrackingStatus.OUT_FOR_DELIVERY,
    "DELIVERED": TrackingStatus.DELIVERED,
    "TIMEOUT": TrackingStatus.DELIVERY_DELAYED,
    "LOST": TrackingStatus.DELIVERY_FAILED,
    "FAILED_DELIVERED": TrackingStatus.DELIVERY_FAILED,
    **dict.fromkeys(
        ("RETURN_STARTED", "RETURN_PENDING", "RETURN_INITIATED", "RETURNED"), TrackingStatus.RETURN_TO_SENDER
    ),
    **dict.fromkeys(("CANCEL", "CANCEL_CREATED", "CANCELED", "EXPIRED"), TrackingStatus.CANCELLED),
}
#: the package's LogisticsStatus, when Shopee gives no tracking_info yet
PACKAGE_STATUS: Mapping[str, tuple[TrackingStatus, TrackingReason | None]] = {
    "LOGISTICS_REQUEST_CREATED": (TrackingStatus.PENDING, None),
    "LOGISTICS_PICKUP_RETRY": (TrackingStatus.PENDING, TrackingReason.CARRIER_DELAY),
    "LOGISTICS_PICKUP_DONE": (TrackingStatus.PICKED_UP, None),
    "LOGISTICS_DELIVERY_DONE": (TrackingStatus.DELIVERED, None),
    "LOGISTICS_DELIVERY_FAILED": (TrackingStatus.DELIVERY_FAILED, None),
    "LOGISTICS_LOST": (TrackingStatus.DELIVERY_FAILED, TrackingReason.LOST),
    "LOGISTICS_COD_REJECTED": (TrackingStatus.RETURN_TO_SENDER, TrackingReason.REFUSED),
    "LOGISTICS_PICKUP_FAILED": (TrackingStatus.CANCELLED, None),
    "LOGISTICS_REQUEST_CANCELED": (TrackingStatus.CANCELLED, None),
    "LOGISTICS_INVALID": (TrackingStatus.CANCELLED, None),
}
#: words of the 3PL's description -> a reason (first match wins)
REASON_WORDS: Sequence[tuple[tuple[str, ...], TrackingReason]] = (
    (("duties", "duty", "tax"), TrackingReason.DUTIES_UNPAID),
    (("customs document", "require additional document"), TrackingReason.CUSTOMS_DOCUMENTS),
    (("customs",), TrackingReason.CUSTOMS_HOLD),
    (("address",), TrackingReason.ADDRESS_ISSUE),
    (
        ("not available", "unavailable", "no one", "not at home", "unreachable"),
        TrackingReason.RECIPIENT_UNAVAILABLE,
    ),
    (("refused", "rejected"), TrackingReason.REFUSED),
    (("damaged",), TrackingReason.DAMAGED),
    (("lost",), TrackingReason.LOST),
    (("prohibited",), TrackingReason.PROHIBITED),
    (("weather", "flood", "typhoon"), TrackingReason.WEATHER),
    (("delay",), TrackingReason.CARRIER_DELAY),
)


def _reason(text: str) -> TrackingReason | None:
    lowered = text.lower()
    return next((reason for words, reason in REASON_WORDS if any(w in lowered for w in words)), None)


def event_status(code: str, description: str) -> tuple[TrackingStatus, TrackingReason | None]:
    """One tracking_info entry as a status and a reason. Shopee's codes are coarse (a
    customs hold or a delay is an ``UPDATE``): the 3PL's text decides within them."""
    status = EVENT_STATUS.get(code.upper(), TrackingStatus.UNKNOWN)
    text = description.lower()
    reason = _reason(description)
    if status in (TrackingStatus.IN_TRANSIT, TrackingStatus.OUT_FOR_DELIVERY, TrackingStatus.UNKNOWN):
        if reason in (
            TrackingReason.CUSTOMS_HOLD,
            TrackingReason.CUSTOMS_DOCUMENTS,
            TrackingReason.DUTIES_UNPAID,
        ):
            return TrackingStatus.ON_HOLD, reason
        if "out for delivery" in text:
            return TrackingStatus.OUT_FOR_DELIVERY, None
        if "collection" in text or "pickup point" in text or "locker" in text:
            return TrackingStatus.READY_FOR_PICKUP, None
        if "on hold" in text:
            return TrackingStatus.ON_HOLD, reason or TrackingReason.OTHER
        if "delay" in text:
            return TrackingStatus.DELIVERY_DELAYED, reason
        return status, None
    if status == TrackingStatus.DELIVERY_FAILED:
        return status, TrackingReason.LOST if code.upper() == "LOST" else reason or TrackingReason.OTHER
    if status == TrackingStatus.RETURN_TO_SENDER:
        return status, reason
    return status, None


def refused(exc: ChannelError) -> ChannelError:
    """Shopee's permanent refusal of a logistics call, as the carrier contract types it
    (``REFUSED``); credentials and transient failures stay as they are."""
    if exc.retryable or exc.code in CREDENTIAL_CODES:
        return exc
    return ChannelError(exc.message, code="REFUSED")


@dataclass(frozen=True)
class Package:
    order_sn: str
    package_number: str
    logistics_status: str
    split: bool
    items: frozenset[str]  # item_id:model_id
    carrier: str = ""

    @property
    def arranged(self) -> bool:
        return self.logistics_status not in NOT_ARRANGED

    @property
    def named(self) -> str | None:
        """The package_number to send: only for a split order."""
        return self.package_number if self.split else None


class Shipper:
    """The logistics calls for one shop's connection."""

    def __init__(self, conn: ChannelConnection) -> None:
        self.conn = conn
        creds = conn.credentials
        self.client = ShopeeClient(
            int(creds["partner_id"]),
            str(creds["partner_key"]),
            base_url=conn.base_url,
            http=conn.http_client(),
        )

    async def call(self, method: str, path: str, *, retry: bool = True, **kwargs: Any) -> dict[str, Any]:
        """One call's ``response``. Reads (and document requests, which Shopee makes again
        harmlessly) are retried on transient errors here; ``ship_order`` is not: after a
        lost answer the caller looks the package up before shipping again."""
        creds = self.conn.credentials

        async def once() -> dict[str, Any]:
            return await self.client.call(
                method, path, access_token=str(creds["access_token"]), shop_id=int(creds["shop_id"]), **kwargs
            )

        answer = await (with_retries(once, attempts=RETRIES) if retry else once())
        return dict(answer.get("response") or {})

    # ------------------------------------------------------------ orders and packages

    async def packages(self, order_sn: str) -> tuple[dict[str, Any] | None, list[Package]]:
        """The order (None if Shopee has none) and its packages, from get_order_detail."""
        detail = await self.call(
            "GET",
            "/api/v2/order/get_order_detail",
            params={"order_sn_list": order_sn, "response_optional_fields": "package_list,item_list"},
        )
        order = next((o for o in detail.get("order_list") or [] if o.get("order_sn") == order_sn), None)
        if order is None:
            return None, []
        rows = order.get("package_list") or []
        return order, [
            Package(
                order_sn,
                str(p.get("package_number") or ""),
                str(p.get("logistics_status") or ""),
                len(rows) > 1,
                frozenset(f"{i.get('item_id')}:{i.get('model_id', 0)}" for i in p.get("item_list") or []),
                str(p.get("shipping_carrier") or ""),
            )
            for p in rows
        ]

    @staticmethod
    def choose(
        packages: Sequence[Package], package_number: str | None, lines: Sequence[tuple[str, int]]
    ) -> list[Package]:
        """The packages a shipment covers: the one named, else those holding its lines,
        else (no lines) every package."""
        if package_number:
            return [p for p in packages if p.package_number == package_number]
        wanted = {line.split("/")[0] for line, _ in lines}  # a line split in two is one model
        if wanted and len(packages) > 1:
            return [p for p in packages if p.items & wanted]
        return list(packages)

    # ------------------------------------------------------------ shipping

    async def parameters(self, package: Package) -> dict[str, Any]:
        params: dict[str, Any] = {"order_sn": package.order_sn}
        if package.named:
            params["package_number"] = package.named
        return await self.call("GET", "/api/v2/logistics/get_shipping_parameter", params=params)

    @staticmethod
    def plan(
        parameters: Mapping[str, Any],
        *,
        tracking_number: str = "",
        sender_name: str = "",
        prefer: str | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """The mode to ship with and what to send for it, as ``info_needed`` asks.

        A seller's own tracking number ships ``non_integrated`` where the order allows it;
        otherwise Shopee's own lines (pickup before drop-off, unless ``prefer`` names one).
        """
        info = parameters.get("info_needed") or {}
        allowed = [m for m in MODES if isinstance(info.get(m), list)]
        if tracking_number and "non_integrated" in allowed:
            order = ["non_integrated"]
        else:
            order = [m for m in ("pickup", "dropoff") if m in allowed]
            if prefer in order:
                order.remove(prefer)
                order.insert(0, prefer)
        if not order:
            if allowed == ["non_integrated"]:
                raise ChannelError(
                    "this order ships on a non-integrated Shopee channel: ship it with your own carrier "
                    "and confirm its tracking number",
                    code="REFUSED",
                )
            raise ChannelError(f"shopee offers no way to ship this order ({sorted(info)})", code="REFUSED")
        mode = order[0]
        needed = set(info.get(mode) or [])
        detail: dict[str, Any] = {}
        if mode == "pickup":
            addresses = list((parameters.get("pickup") or {}).get("address_list") or [])
            if not addresses:
                raise ChannelError("shopee offers no pickup address for this order", code="REFUSED")
            address = next(
                (a for a in addresses if "pickup_address" in (a.get("address_flag") or [])),
                next(
                    (a for a in addresses if "default_address" in (a.get("address_flag") or [])), addresses[0]
                ),
            )
            detail["address_id"] = address["address_id"]
            slots = list(address.get("time_slot_list") or [])
            slot = next(
                (s for s in slots if "recommended" in (s.get("flags") or [])), slots[0] if slots else None
            )
            if slot is not None:
                detail["pickup_time_id"] = str(slot["pickup_time_id"])
            elif "pickup_time_id" in needed:
                raise ChannelError("shopee offers no pickup time slot for this order", code="REFUSED")
        elif mode == "dropoff":
            if "branch_id" in needed:
                branches = list((parameters.get("dropoff") or {}).get("branch_list") or [])
                if not branches:
                    raise ChannelError("shopee offers no drop-off branch for this order", code="REFUSED")
                detail["branch_id"] = branches[0]["branch_id"]
            if "sender_real_name" in needed:
                if not sender_name:
                    raise ChannelError(
                        "shopee needs the sender's real name to drop this order off", code="REFUSED"
                    )
                detail["sender_real_name"] = sender_name[:64]
        if needed & {"tracking_no", "tracking_number"}:
            if not tracking_number:
                raise ChannelError(
                    f"shopee needs the carrier's tracking number to ship by {mode}", code="REFUSED"
                )
            detail["tracking_number"] = tracking_number
        return mode, detail

    async def ship(self, package: Package, mode: str, detail: Mapping[str, Any]) -> None:
        body: dict[str, Any] = {"order_sn": package.order_sn, mode: dict(detail)}
        if package.named:
            body["package_number"] = package.named
        try:
            await self.call("POST", "/api/v2/logistics/ship_order", body=body, retry=False)
        except ChannelError as exc:
            # an earlier try whose answer was lost, or the seller in Seller Center, shipped it
            if exc.code != "logistics.package_already_shipped":
                raise

    async def tracking_number(self, package: Package, *, polls: int = TRACKING_POLLS) -> str:
        """Shopee's number for an arranged package; retryable ``TRACKING_PENDING`` while the
        3PL has not assigned it."""
        params: dict[str, Any] = {"order_sn": package.order_sn}
        if package.named:
            params["package_number"] = package.named
        for attempt in range(polls):
            answer = await self.call("GET", "/api/v2/logistics/get_tracking_number", params=params)
            number = str(answer.get("tracking_number") or "")
            if number:
                return number
            if attempt + 1 < polls:
                await asyncio.sleep(POLL_DELAY * (attempt + 1))
        raise ChannelError(
            f"shopee has not assigned the tracking number of {package.order_sn} yet",
            code="TRACKING_PENDING",
            retryable=True,
        )

    # ------------------------------------------------------------ documents

    async def waybill(self, package: Package, tracking_number: str, document_type: str) -> bytes:
        """create → poll the result → download: the air waybill as PDF bytes."""
        entry: dict[str, Any] = {"order_sn": package.order_sn, "tracking_number": tracking_number}
        if package.named:
            entry["package_number"] = package.named
        created = await self.call(
            "POST",
            "/api/v2/logistics/create_shipping_document",
            body={"order_list": [{**entry, "shipping_document_type": document_type}]},
        )
        failed = [r for r in created.get("result_list") or [] if r.get("fail_error")]
        if failed:
            raise ChannelError(
                f"shopee: {failed[0].get('fail_error')}: {failed[0].get('fail_message')}",
                code="DOCUMENT_FAILED",
                retryable=True,
            )
        query = [{k: v for k, v in entry.items() if k != "tracking_number"}]
        for attempt in range(DOCUMENT_POLLS):
            result = await self.call(
                "POST",
                "/api/v2/logistics/get_shipping_document_result",
                body={"order_list": [{**query[0], "shipping_document_type": document_type}]},
            )
            rows = result.get("result_list") or [{}]
            status = str(rows[0].get("status") or "")
            if status == "READY":
                break
            if status == "FAILED" or rows[0].get("fail_error"):
                raise ChannelError(
                    f"shopee could not make the air waybill: {rows[0].get('fail_message') or status}",
                    code="DOCUMENT_FAILED",
                    retryable=True,
                )
            await asyncio.sleep(POLL_DELAY * (attempt + 1))
        else:
            raise ChannelError(
                "shopee is still making the air waybill", code="DOCUMENT_PENDING", retryable=True
            )
        creds = self.conn.credentials
        content, _ = await with_retries(
            partial(
                self.client.call_file,
                "POST",
                "/api/v2/logistics/download_shipping_document",
                access_token=str(creds["access_token"]),
                shop_id=int(creds["shop_id"]),
                body={"shipping_document_type": document_type, "order_list": query},
            ),
            attempts=RETRIES,
        )
        if not content.startswith(b"%PDF-"):
            raise ChannelError("shopee's air waybill is not a PDF", code="MALFORMED", retryable=True)
        return content

    # ------------------------------------------------------------ tracking

    async def tracking_info(self, package: Package) -> dict[str, Any]:
        params: dict[str, Any] = {"order_sn": package.order_sn}
        if package.named:
            params["package_number"] = package.named
        return await self.call("GET", "/api/v2/logistics/get_tracking_info", params=params)

    async def locate(self, numbers: Sequence[str], days: int) -> dict[str, Package]:
        """Which package each tracking number belongs to. Shopee tracks by order, and has no
        search by tracking number: the shop's orders updated in the last ``days`` that may
        be on their way are listed and their tracking numbers read until all are found."""
        wanted = set(numbers)
        found: dict[str, Package] = {}
        end = int(time.time()) + CLOCK_MARGIN
        start = end - days * 86400
        window_end = end
        while wanted - set(found) and window_end > start:
            window_start = max(start, window_end - LOOKUP_WINDOW + 1)
            cursor = ""
            while True:
                listed = await self.call(
                    "GET",
                    "/api/v2/order/get_order_list",
                    params={
                        "time_range_field": "update_time",
                        "time_from": window_start,
                        "time_to": window_end,
                        "page_size": 100,
                        "cursor": cursor,
                        "response_optional_fields": "order_status",
                    },
                )
                for row in listed.get("order_list") or []:
                    if row.get("order_status") not in TRACKABLE_ORDERS:
                        continue
                    _, packages = await self.packages(str(row["order_sn"]))
                    for package in packages:
                        if not package.arranged:
                            continue
                        try:
                            number = await self.tracking_number(package, polls=1)
                        except ChannelError as exc:
                            if exc.code != "TRACKING_PENDING":
                                raise
                            continue
                        if number in wanted:
                            found[number] = package
                    if not wanted - set(found):
                        return found
                if not listed.get("more"):
                    break
                cursor = str(listed.get("next_cursor") or "")
            window_end = window_start - 1
        return found


class ShopeeLogistics(CarrierBase):
    """Shopee's own lines as a carrier: a label is an order's package shipped with
    ``ship_order`` (pickup or drop-off, as Shopee allows), its tracking number Shopee's and
    its document Shopee's air waybill. The account's ``connection`` is the shop.

    Settings: ``shipping_document_type`` (``THERMAL_AIR_WAYBILL`` by default, or
    ``NORMAL_AIR_WAYBILL``), ``sender_real_name`` (for drop-off channels that ask for it;
    else the request's sender name), ``tracking_lookup_days`` (how far back :meth:`track`
    looks for the orders of the numbers asked, 30 by default). The service asked for may
    name the mode to prefer (``pickup`` or ``dropoff``).
    """

    name = "shopee_logistics"
    display_name = "Shopee Logistics (SLS and partner 3PLs)"
    version = __version__
    channel: str | None = "shopee"
    capabilities = frozenset({CarrierCapability.LABELS, CarrierCapability.TRACKING})
    track_batch = 20

    def _shipper(self, account: CarrierAccount) -> Shipper:
        if account.connection is None:
            raise ChannelError("shopee logistics needs the shop's connection", code="CONFIGURATION")
        return Shipper(account.connection)

    async def _package(self, shipper: Shipper, request: ShipmentRequest) -> Package | None:
        if not request.order_external_id:
            raise ChannelError("shopee logistics ships Shopee orders: the request names none", code="REFUSED")
        order, packages = await shipper.packages(request.order_external_id)
        if order is None:
            return None
        chosen = Shipper.choose(packages, request.package_reference, request.lines)
        if len(chosen) != 1:
            raise ChannelError(
                f"shopee order {request.order_external_id} is split: name the package to ship "
                f"({', '.join(p.package_number for p in packages)})",
                code="REFUSED",
            )
        return chosen[0]

    async def _label(
        self, account: CarrierAccount, shipper: Shipper, package: Package, service: str
    ) -> Label:
        number = await shipper.tracking_number(package)
        document = str(account.settings.get("shipping_document_type") or "THERMAL_AIR_WAYBILL")
        pdf = await shipper.waybill(package, number, document)
        shipment = f"{package.order_sn}:{package.package_number}" if package.named else package.order_sn
        return Label(
            carrier_shipment_id=shipment,
            tracking_numbers=[number],
            documents=[CarrierDocument(DocumentKind.LABEL, DocumentFormat.PDF, pdf)],
            service=service or package.carrier or "shopee",
            channel_confirmed=True,
            raw={
                "order_sn": package.order_sn,
                "package_number": package.package_number,
                "carrier": package.carrier,
            },
        )

    async def buy_label(self, account: CarrierAccount, request: ShipmentRequest, service: str) -> Label:
        shipper = self._shipper(account)
        try:
            package = await self._package(shipper, request)
            if package is None:
                raise ChannelError(f"shopee has no order {request.order_external_id}", code="REFUSED")
            parameters = await shipper.parameters(package)
            sender = str(account.settings.get("sender_real_name") or request.origin.name or "")
            mode, detail = Shipper.plan(parameters, sender_name=sender, prefer=service)
            await shipper.ship(package, mode, detail)
        except ChannelError as exc:
            raise refused(exc) from exc
        return await self._label(account, shipper, package, mode)

    async def find_label(self, account: CarrierAccount, request: ShipmentRequest) -> Label | None:
        """The order itself is the reference: its package, once shipped, is the label."""
        shipper = self._shipper(account)
        try:
            package = await self._package(shipper, request)
        except ChannelError as exc:
            raise refused(exc) from exc
        if package is None or not package.arranged:
            return None
        return await self._label(account, shipper, package, "")

    async def void_label(self, account: CarrierAccount, label: Label) -> None:
        raise ChannelError(
            "shopee cannot cancel an arranged shipment through its API (v2.logistics has no such "
            "call; v2.order.cancel_order would cancel the buyer's whole order): cancel the order in "
            "Seller Center, or keep the label",
            code="REFUSED",
        )

    async def track(
        self, account: CarrierAccount, tracking_numbers: Sequence[str]
    ) -> Sequence[TrackingResult]:
        shipper = self._shipper(account)
        days = int(account.settings.get("tracking_lookup_days") or 30)
        located = await shipper.locate(tracking_numbers, days)
        results: list[TrackingResult] = []
        for number in tracking_numbers:
            package = located.get(number)
            if package is None:
                results.append(TrackingResult(number, [], found=False))
                continue
            info = await shipper.tracking_info(package)
            results.append(TrackingResult(number, to_events(info)))
        return results


def to_events(info: Mapping[str, Any]) -> list[TrackingEvent]:
    """get_tracking_info's answer as events (the package's own status when Shopee lists no
    tracking_info yet)."""
    events = []
    for row in info.get("tracking_info") or []:
        code = str(row.get("logistics_status") or "")
        description = str(row.get("description") or code)
        status, reason = event_status(code, description)
        events.append(
            TrackingEvent(
                occurred_at=datetime.fromtimestamp(int(row.get("update_time") or 0), UTC),
                status=status,
                code=code or "UPDATE",
                description=description,
                reason=reason,
            )
        )
    if not events and info.get("logistics_status") in PACKAGE_STATUS:
        status, reason = PACKAGE_STATUS[str(info["logistics_status"])]
        events.append(
            TrackingEvent(
                occurred_at=datetime.now(UTC).replace(microsecond=0),
                status=status,
                code=str(info["logistics_status"]),
                description=str(info["logistics_status"]).replace("_", " ").lower(),
                reason=reason,
            )
        )
    return events
