"""Lazada's own logistics: packing an order's units on Lazada's lines (the fulfilment API).

Sources (the open.lazada.com API reference and the "New Fulfillment API" guide, as
mirrored in ``lazykern/ecommerce-api-docs``; see the README):

- ``/order/shipment/providers/get`` (``getShipmentProvidersReq: {orders: [{order_id,
  order_item_ids}]}``, 20 orders a call) answers ``shipping_allocate_type`` (TFS: local
  sellers, NTFS: cross-border), ``platform_default`` and, for NTFS, the transferring
  warehouses (``shipment_providers[].provider_code``).
- ``/order/fulfill/pack`` (``packReq: {pack_order_list: [{order_id, order_item_list}],
  delivery_type: "dropship", shipping_allocate_type, shipment_provider_code}``):
  ``shipment_provider_code`` "cannot be transferred" for TFS and "must pass" for NTFS; there
  is no tracking number to send: each packed item answers the ``package_id``,
  ``tracking_number`` and ``shipment_provider`` Lazada assigned (``item_err_code`` "0").
- ``/order/package/rts`` (``readyToShipReq: {packages: [{package_id}]}``): ready to ship,
  the confirmation to Lazada.
- ``/order/package/document/get`` (``getDocumentReq: {doc_type: PDF|HTML, packages}``):
  ``file`` (base64) and, for PDF, ``pdf_url``.
- ``/order/package/repack`` (``rePackReq``): the package is made again; here, the void.
- ``/logistic/order/trace`` (``order_id``, ``ofcPackageIdList``): per package its
  ``logistic_detail_info_list`` (``detail_type``, ``status_code``, ``title``,
  ``description``, ``event_time`` in ms); only after ready to ship.
- Each of these answers ``result: {success, error_code, error_msg, data}``; ``success``
  true still needs each entry's ``item_err_code`` checked.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
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
from crossdock_lazada import __version__
from crossdock_lazada.client import INVALID_ORDER_ID, PERMANENT_CODES, THROTTLE_CODES, THROTTLE_WAIT

__all__ = ["Fulfiller", "LazadaLogistics", "trace_status"]

#: Units waiting for the seller to pack, packed but not yet handed over, and past that.
PACKABLE = frozenset({"pending", "topack"})
PACKED = frozenset({"packed", "repacked", "toship"})
HANDED = frozenset({"ready_to_ship", "shipped", "delivered", "failed_delivery", "lost_by_3pl", "returned"})
NOT_SHIPPABLE = frozenset({"unpaid", "canceled"})
RETRIES = 4
ITEMS_BATCH = 50
#: permanent refusals of the fulfilment API (its error codes, 700000-700033)
FULFILMENT_PERMANENT = frozenset({"700000", "700001", "700004", "700013", "700016", "700017", "700021"})

#: trace detail_type -> status. Only "ready_to..." (status_code 1200, "Packed by seller /
#: warehouse") is published; the others are matched loosely on the words Lazada's partners
#: use, UNCONFIRMED (see the README), and the title/description refine them.
TRACE_WORDS: Sequence[tuple[tuple[str, ...], TrackingStatus]] = (
    (("cancel",), TrackingStatus.CANCELLED),
    (("lost",), TrackingStatus.DELIVERY_FAILED),
    (("fail",), TrackingStatus.DELIVERY_FAILED),
    (("return",), TrackingStatus.RETURN_TO_SENDER),
    (("delivered",), TrackingStatus.DELIVERED),
    (("out_for_delivery", "out for delivery", "delivering"), TrackingStatus.OUT_FOR_DELIVERY),
    (("collection", "pickup_point", "ready_for_pickup"), TrackingStatus.READY_FOR_PICKUP),
    (("hold", "customs"), TrackingStatus.ON_HOLD),
    (("delay",), TrackingStatus.DELIVERY_DELAYED),
    (("picked", "pickup_done", "handover", "handed"), TrackingStatus.PICKED_UP),
    (("transit", "hub", "sort", "linehaul", "arrived", "departed"), TrackingStatus.IN_TRANSIT),
    (("ready_to", "packed", "pack"), TrackingStatus.PENDING),
)
REASON_WORDS: Sequence[tuple[tuple[str, ...], TrackingReason]] = (
    (("duties", "duty", "tax"), TrackingReason.DUTIES_UNPAID),
    (("customs document", "additional document"), TrackingReason.CUSTOMS_DOCUMENTS),
    (("customs",), TrackingReason.CUSTOMS_HOLD),
    (("address",), TrackingReason.ADDRESS_ISSUE),
    (("not available", "unavailable", "no one", "unreachable"), TrackingReason.RECIPIENT_UNAVAILABLE),
    (("refused", "rejected"), TrackingReason.REFUSED),
    (("damaged",), TrackingReason.DAMAGED),
    (("lost",), TrackingReason.LOST),
    (("prohibited",), TrackingReason.PROHIBITED),
    (("weather", "flood", "typhoon"), TrackingReason.WEATHER),
    (("delay",), TrackingReason.CARRIER_DELAY),
)
REASONED = frozenset(
    {
        TrackingStatus.ON_HOLD,
        TrackingStatus.DELIVERY_DELAYED,
        TrackingStatus.DELIVERY_FAILED,
        TrackingStatus.RETURN_TO_SENDER,
    }
)


def trace_status(
    detail_type: str, title: str, description: str
) -> tuple[TrackingStatus, TrackingReason | None]:
    """One trace event as a status and a reason."""
    kind = f"{detail_type} {title}".lower()
    status = next((s for words, s in TRACE_WORDS if any(w in kind for w in words)), TrackingStatus.UNKNOWN)
    text = f"{title} {description}".lower()
    reason = next((r for words, r in REASON_WORDS if any(w in text for w in words)), None)
    if status == TrackingStatus.IN_TRANSIT and reason in (
        TrackingReason.CUSTOMS_HOLD,
        TrackingReason.CUSTOMS_DOCUMENTS,
        TrackingReason.DUTIES_UNPAID,
    ):
        status = TrackingStatus.ON_HOLD
    if status not in REASONED:
        return status, None
    if status in (TrackingStatus.ON_HOLD, TrackingStatus.DELIVERY_FAILED):
        return status, reason or TrackingReason.OTHER
    return status, reason


def result_of(answer: Mapping[str, Any], what: str) -> Mapping[str, Any]:
    """``result.data`` of a fulfilment answer; a batch Lazada refused as a whole
    (``success`` false) is raised with its ``error_code``."""
    result = answer.get("result")
    if not isinstance(result, Mapping):
        return answer.get("data") or {}
    if str(result.get("success", "true")).lower() == "false":
        code = str(result.get("error_code") or result.get("errorCode") or "FULFILMENT_ERROR")
        message = str(result.get("error_msg") or result.get("errorMsg") or "refused")
        raise ChannelError(
            f"lazada {what}: {code}: {message}",
            code=code,
            retryable=code not in FULFILMENT_PERMANENT and not code.startswith("PARAM"),
            retry_after=THROTTLE_WAIT.get(code, 1.0) if code in THROTTLE_CODES else None,
        )
    return result.get("data") or {}


def units_for(items: Sequence[Mapping[str, Any]], lines: Sequence[tuple[str, int]]) -> set[str]:
    """The order_item_ids a shipment covers: ``lines`` name a line by its first unit's id
    and a quantity; the units are taken from that line's SKU, furthest along first (a
    retry picks the units it packed before). No lines: every unit not cancelled."""
    live = [i for i in items if i.get("status") != "canceled"]
    if not lines:
        return {str(i["order_item_id"]) for i in live}
    by_id = {str(i["order_item_id"]): i for i in items}
    chosen: set[str] = set()
    for line_id, quantity in lines:
        first = by_id.get(str(line_id))
        if first is None:
            continue
        same = [i for i in live if i.get("sku") == first.get("sku") and str(i["order_item_id"]) not in chosen]
        same.sort(key=lambda i: (i.get("status") in PACKABLE, int(i["order_item_id"])))
        chosen.update(str(i["order_item_id"]) for i in same[: int(quantity)])
    return chosen


class Fulfiller:
    """The fulfilment calls for one seller's connection, through the marketplace
    provider's signed, throttled client."""

    def __init__(self, conn: ChannelConnection) -> None:
        from crossdock_lazada.marketplace import LazadaMarketplace

        self.conn = conn
        self.market = LazadaMarketplace()

    async def api(
        self, operation: str, method: str, path: str, params: Mapping[str, Any], *, retry: bool = True
    ) -> dict[str, Any]:
        call = partial(self.market._api, self.conn, operation, method, path, params)
        return await (with_retries(call, attempts=RETRIES) if retry else call())

    async def units(self, order_id: str, lines: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
        answer = await self.api("GetOrderItems", "GET", "/order/items/get", {"order_id": order_id})
        items = list(answer.get("data") or [])
        wanted = units_for(items, lines)
        return [u for u in items if str(u["order_item_id"]) in wanted]

    async def items(self, order_id: str, ids: set[str]) -> list[dict[str, Any]]:
        """The order's units with these ids, as Lazada has them now."""
        answer = await self.api("GetOrderItems", "GET", "/order/items/get", {"order_id": order_id})
        return [u for u in answer.get("data") or [] if str(u["order_item_id"]) in ids]

    async def allocation(self, order_id: str, units: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
        answer = await self.api(
            "GetShipmentProvider",
            "GET",
            "/order/shipment/providers/get",
            {
                "getShipmentProvidersReq": {
                    "orders": [
                        {"order_id": order_id, "order_item_ids": [int(u["order_item_id"]) for u in units]}
                    ]
                }
            },
        )
        return result_of(answer, "/order/shipment/providers/get")

    @staticmethod
    def pack_request(
        order_id: str,
        units: Sequence[Mapping[str, Any]],
        allocation: Mapping[str, Any],
        wanted_code: str | None,
    ) -> dict[str, Any]:
        """``packReq`` as the allocation type wants it: TFS without a provider code, NTFS
        with a transferring warehouse Lazada offered (the one asked for if offered)."""
        kind = str(allocation.get("shipping_allocate_type") or "TFS")
        pack: dict[str, Any] = {
            "pack_order_list": [
                {"order_id": order_id, "order_item_list": [int(u["order_item_id"]) for u in units]}
            ],
            "delivery_type": "dropship",
            "shipping_allocate_type": kind,
        }
        offered = [
            str(p.get("provider_code"))
            for p in allocation.get("shipment_providers") or []
            if p.get("provider_code")
        ]
        if kind == "NTFS" or (str(allocation.get("platform_default", "1")) == "0" and offered):
            if not offered:
                raise ChannelError(
                    "lazada offers no transferring warehouse for this order", code="NOT_AVAILABLE_NTFS_3PL"
                )
            pack["shipment_provider_code"] = wanted_code if wanted_code in offered else offered[0]
        return pack

    async def pack(self, pack: Mapping[str, Any]) -> list[str]:
        """Pack; returns the errors of the items Lazada did not pack. Not retried here: a
        lost answer is found again by reading the order's items."""
        answer = await self.api("Pack", "POST", "/order/fulfill/pack", {"packReq": dict(pack)}, retry=False)
        errors: list[str] = []
        for entry in result_of(answer, "/order/fulfill/pack").get("pack_order_list") or []:
            errors += [
                f"{i.get('order_item_id')}: {i.get('msg')}"
                for i in entry.get("order_item_list") or []
                if str(i.get("item_err_code", "0")) != "0"
            ]
        return errors

    async def ready_to_ship(self, packages: Sequence[str]) -> list[str]:
        answer = await self.api(
            "ReadyToShip",
            "POST",
            "/order/package/rts",
            {"readyToShipReq": {"packages": [{"package_id": p} for p in packages]}},
        )
        return [
            f"{p.get('package_id')}: {p.get('msg')}"
            for p in result_of(answer, "/order/package/rts").get("packages") or []
            if str(p.get("item_err_code", "0")) != "0"
        ]

    async def document(self, package_id: str) -> bytes:
        answer = await self.api(
            "PrintAWB",
            "GET",
            "/order/package/document/get",
            {"getDocumentReq": {"doc_type": "PDF", "packages": [{"package_id": package_id}]}},
        )
        data = result_of(answer, "/order/package/document/get")
        try:
            pdf = base64.b64decode(str(data.get("file") or ""), validate=True)
        except (binascii.Error, ValueError):
            pdf = b""
        if not pdf.startswith(b"%PDF-") and data.get("pdf_url"):
            response = await self.conn.http_client().get(str(data["pdf_url"]))
            pdf = response.content if response.status_code == 200 else b""
        if not pdf.startswith(b"%PDF-"):
            raise ChannelError(f"lazada's AWB of {package_id} is not a PDF", code="MALFORMED", retryable=True)
        return pdf

    async def repack(self, package_id: str) -> list[str]:
        answer = await self.api(
            "Repack",
            "POST",
            "/order/package/repack",
            {"rePackReq": {"packages": [{"package_id": package_id}]}},
        )
        return [
            str(p.get("msg") or p.get("item_err_code"))
            for p in result_of(answer, "/order/package/repack").get("packages") or []
            if str(p.get("item_err_code", "0")) != "0"
        ]

    async def trace(self, order_id: str, package_id: str) -> list[dict[str, Any]]:
        answer = await self.api(
            "GetOrderTrace",
            "GET",
            "/logistic/order/trace",
            {"order_id": order_id, "ofcPackageIdList": [package_id], "locale": "en"},
        )
        result = answer.get("result") or {}
        events: list[dict[str, Any]] = []
        for module in result.get("module") or []:
            for package in module.get("package_detail_info_list") or []:
                if str(package.get("ofc_package_id")) == package_id:
                    events += list(package.get("logistic_detail_info_list") or [])
        return events

    async def locate(self, numbers: Sequence[str], days: int) -> dict[str, tuple[str, str]]:
        """(order_id, package_id) of each tracking number. The trace is keyed by order and
        Lazada has no search by tracking number: the seller's orders updated in the last
        ``days`` are read with their items (``tracking_code``, ``package_id``)."""
        wanted = set(numbers)
        found: dict[str, tuple[str, str]] = {}
        since = (datetime.now(UTC) - timedelta(days=days)).replace(microsecond=0).isoformat()
        offset = 0
        while wanted - set(found):
            page = await self.api(
                "GetOrders",
                "GET",
                "/orders/get",
                {
                    "update_after": since,
                    "sort_by": "updated_at",
                    "sort_direction": "DESC",
                    "offset": offset,
                    "limit": 100,
                },
            )
            orders = list((page.get("data") or {}).get("orders") or [])
            ids = [str(o["order_id"]) for o in orders]
            for i in range(0, len(ids), ITEMS_BATCH):
                answer = await self.api(
                    "GetMultipleOrderItems",
                    "GET",
                    "/orders/items/get",
                    {"order_ids": ids[i : i + ITEMS_BATCH]},
                )
                for order in answer.get("data") or []:
                    for item in order.get("order_items") or []:
                        code = str(item.get("tracking_code") or "")
                        if code in wanted and item.get("package_id"):
                            found[code] = (str(order["order_id"]), str(item["package_id"]))
            if len(orders) < 100 or offset + 100 > 5000:
                break
            offset += 100
        return found


class LazadaLogistics(CarrierBase):
    """Lazada's own lines as a carrier: a label is an order's units packed on Lazada's
    line (TFS for local sellers; NTFS through a transferring warehouse for cross-border
    ones) and set ready to ship, its tracking number Lazada's and its document Lazada's AWB.
    The account's ``connection`` is the seller's.

    Settings: ``provider_code`` (the transferring warehouse a cross-border seller prefers;
    the service asked for may name one too), ``tracking_lookup_days`` (how far back
    :meth:`track` looks for the orders of the numbers asked, 30 by default).
    """

    name = "lazada_logistics"
    display_name = "Lazada Logistics (LEX and partner 3PLs)"
    version = __version__
    channel: str | None = "lazada"
    capabilities = frozenset({CarrierCapability.LABELS, CarrierCapability.TRACKING})
    track_batch = 20

    def _fulfiller(self, account: CarrierAccount) -> Fulfiller:
        if account.connection is None:
            raise ChannelError("lazada logistics needs the seller's connection", code="CONFIGURATION")
        return Fulfiller(account.connection)

    @staticmethod
    def _order_id(request: ShipmentRequest) -> str:
        if not request.order_external_id:
            raise ChannelError("lazada logistics ships Lazada orders: the request names none", code="REFUSED")
        return request.order_external_id

    async def _label(self, fulfiller: Fulfiller, order_id: str, units: Sequence[Mapping[str, Any]]) -> Label:
        """Hand the packed units' package over (ready to ship) and fetch its AWB."""
        packed = sorted(
            {str(u["package_id"]) for u in units if u["status"] in PACKED and u.get("package_id")}
        )
        if packed:
            # RTS takes packed packages only: one whose answer was lost and that a retry sent
            # again is refused (700000) though it went through, so the units say what holds
            errors = await fulfiller.ready_to_ship(packed)
            units = await fulfiller.items(order_id, {str(u["order_item_id"]) for u in units})
            if any(u["status"] in PACKED for u in units):
                raise ChannelError(
                    f"lazada did not take {order_id} ready to ship: {'; '.join(errors) or 'no reason'}",
                    code="REFUSED",
                )
        packages = sorted({str(u["package_id"]) for u in units if u.get("package_id")})
        numbers = list(dict.fromkeys(str(u["tracking_code"]) for u in units if u.get("tracking_code")))
        documents = [
            CarrierDocument(DocumentKind.LABEL, DocumentFormat.PDF, await fulfiller.document(p))
            for p in packages
        ]
        provider = next((str(u["shipment_provider"]) for u in units if u.get("shipment_provider")), "lazada")
        return Label(
            carrier_shipment_id=",".join(packages),
            tracking_numbers=numbers,
            documents=documents,
            service=provider,
            channel_confirmed=True,
            raw={
                "order_id": order_id,
                "package_ids": packages,
                "order_item_ids": [str(u["order_item_id"]) for u in units],
            },
        )

    async def buy_label(self, account: CarrierAccount, request: ShipmentRequest, service: str) -> Label:
        fulfiller = self._fulfiller(account)
        order_id = self._order_id(request)
        try:
            units = await fulfiller.units(order_id, request.lines)
            if not units:
                raise ChannelError(f"lazada order {order_id} has no units to ship", code="REFUSED")
            blocked = sorted({u["status"] for u in units if u["status"] in NOT_SHIPPABLE})
            if blocked:
                raise ChannelError(f"lazada order {order_id} is {', '.join(blocked)}", code="REFUSED")
            to_pack = [u for u in units if u["status"] in PACKABLE]
            if to_pack:
                allocation = await fulfiller.allocation(order_id, to_pack)
                wanted = str(account.settings.get("provider_code") or service or "")
                errors = await fulfiller.pack(Fulfiller.pack_request(order_id, to_pack, allocation, wanted))
                units = await fulfiller.units(order_id, request.lines)
                if any(u["status"] in PACKABLE for u in units):
                    raise ChannelError(
                        f"lazada did not pack {order_id}: {'; '.join(errors) or 'no reason'}", code="REFUSED"
                    )
        except ChannelError as exc:
            raise _refused(exc) from exc
        return await self._label(fulfiller, order_id, units)

    async def find_label(self, account: CarrierAccount, request: ShipmentRequest) -> Label | None:
        """The order is the reference: its units, once packed, are the label (a purchase
        interrupted between pack and ready-to-ship is finished)."""
        fulfiller = self._fulfiller(account)
        order_id = self._order_id(request)
        try:
            units = await fulfiller.units(order_id, request.lines)
        except ChannelError as exc:
            if exc.code in ("ORDER_NOT_FOUND", INVALID_ORDER_ID):
                return None
            raise _refused(exc) from exc
        if (
            not units
            or any(u["status"] in PACKABLE for u in units)
            or not all(u.get("package_id") for u in units)
        ):
            return None
        return await self._label(fulfiller, order_id, units)

    async def void_label(self, account: CarrierAccount, label: Label) -> None:
        """Repack the package: Lazada cancels it and its units wait to be packed again;
        refused once the 3PL has it (UNCONFIRMED: the states repack accepts, see README)."""
        fulfiller = self._fulfiller(account)
        for package_id in [p for p in label.carrier_shipment_id.split(",") if p]:
            errors = await fulfiller.repack(package_id)
            if errors:
                raise ChannelError(
                    f"lazada will not cancel package {package_id}: {'; '.join(errors)}", code="REFUSED"
                )

    async def track(
        self, account: CarrierAccount, tracking_numbers: Sequence[str]
    ) -> Sequence[TrackingResult]:
        fulfiller = self._fulfiller(account)
        located = await fulfiller.locate(
            tracking_numbers, int(account.settings.get("tracking_lookup_days") or 30)
        )
        results: list[TrackingResult] = []
        for number in tracking_numbers:
            if number not in located:
                results.append(TrackingResult(number, [], found=False))
                continue
            order_id, package_id = located[number]
            try:
                rows = await fulfiller.trace(order_id, package_id)
            except ChannelError as exc:
                if exc.retryable or exc.code not in ("INPUT_PARAM_VALID", "LD_INPUT_PARAM_VALID"):
                    raise
                rows = []  # not ready to ship yet: Lazada has no trace
            results.append(TrackingResult(number, [_event(row) for row in rows]))
        return results


def _event(row: Mapping[str, Any]) -> TrackingEvent:
    detail_type = str(row.get("detail_type") or "")
    title = str(row.get("title") or "")
    description = str(row.get("description") or title or detail_type)
    status, reason = trace_status(detail_type, title, description)
    return TrackingEvent(
        occurred_at=datetime.fromtimestamp(int(row.get("event_time") or 0) / 1000, UTC),
        status=status,
        code=str(row.get("status_code") or detail_type or "unknown"),
        description=description,
        reason=reason,
        location=str(row["package_location_name"]) if row.get("package_location_name") else None,
    )


def _refused(exc: ChannelError) -> ChannelError:
    """A refusal of this shipment is REFUSED; one of the connection (its token, the app's
    permissions, the signature) keeps its code, so it is seen and fixed there."""
    if exc.retryable or exc.code in PERMANENT_CODES or exc.code in (ChannelError.AUTH_EXPIRED, "REFUSED"):
        return exc
    return ChannelError(exc.message, code="REFUSED")
