"""After-sales on Amazon: buyers' cancellation requests, returns, and the seller's cancel.

What Amazon's Selling Partner API offers, and what this module does with it:

- **Buyer cancellation requests** come on the order: Orders API 2026-01-01 with
  ``includedData=CANCELLATION`` gives each item's ``cancellation.cancellationRequest``
  (``requester`` BUYER, ``cancelReason``) and, once cancelled, ``cancellationExecution``
  (``cancelledBy`` BUYER/MERCHANT/AMAZON, ``cancelReason``) (orders_2026-01-01.json
  ``ItemCancellation``, ``ItemCancellationRequest``, ``ItemCancellationExecution``; Orders v0
  has the same as ``BuyerRequestedCancel{IsBuyerRequestedCancel, BuyerCancelReason}`` on
  ``getOrderItems``). A request has no id and no time of its own: it is the order's case
  (:func:`cancellation_case`).
- **The seller cancels** an MFN order with the Feeds API 2021-06-30 (feeds_2021-06-30.json:
  ``createFeedDocument``, upload to the pre-signed ``url``, ``createFeed``, ``getFeed`` until
  ``processingStatus`` DONE, ``getFeedDocument`` for the processing report) and the feed
  type ``POST_ORDER_ACKNOWLEDGEMENT_DATA``: an ``OrderAcknowledgement`` message with
  ``StatusCode`` Failure and a ``CancelReason`` per item (SP-API docs "Order feed type
  values", as pointed to in issue amzn/selling-partner-api-models#4839; #4827: the Orders
  API has no cancel operation). Accepting a buyer's request is the same cancel with reason
  ``BuyerCanceled``. There is **no decline**: a seller who will not cancel ships the order.
- **Returns** are read-only: the Reports API 2021-06-30 report
  ``GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE`` (tab-separated; columns as in the SP-API
  docs' sample document: Order ID, Order date, Return request date, Return request status,
  Amazon RMA ID, ..., Return quantity, Return Reason, ..., Return delivery date, Order
  Amount, ..., Refunded Amount). Amazon authorises returns and refunds them itself or in
  Seller Central; no API takes a seller's answer to a return, so return cases have no
  ``actions`` (:func:`return_cases`).
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from xml.etree import ElementTree

import httpx

from crossdock import (
    CancelReason,
    CaseAction,
    CaseKind,
    CaseLine,
    CaseStatus,
    ChannelCase,
    ChannelError,
    Money,
    with_retries,
)
from crossdock_amazon.client import SpApiClient

__all__ = [
    "ACKNOWLEDGEMENT_FEED",
    "CANCELLABLE",
    "CANCEL_REASONS",
    "FEED_CANCEL_REASONS",
    "RETURNS_REPORT",
    "acknowledgement_feed",
    "cancellation_case",
    "download",
    "newest",
    "processing_errors",
    "return_cases",
    "submit_feed",
    "wait_for_feed",
]

ACKNOWLEDGEMENT_FEED = "POST_ORDER_ACKNOWLEDGEMENT_DATA"
RETURNS_REPORT = "GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE"
FEED_CONTENT_TYPE = "text/xml; charset=UTF-8"
#: The order acknowledgement feed's ``CancelReason`` values (OrderAcknowledgement.xsd).
FEED_CANCEL_REASONS = (
    "NoInventory",
    "ShippingAddressUndeliverable",
    "CustomerExchange",
    "BuyerCanceled",
    "GeneralAdjustment",
    "CarrierCreditDecision",
    "RiskAssessmentInformationNotValid",
    "CarrierCoverageFailure",
    "CustomerReturn",
    "MerchandiseNotReceived",
)
#: Crossdock's reason -> the feed's. A wrong price has no code of its own: the general
#: adjustment is Amazon's catch-all.
CANCEL_REASONS: Mapping[CancelReason, str] = {
    CancelReason.OUT_OF_STOCK: "NoInventory",
    CancelReason.BUYER_REQUEST: "BuyerCanceled",
    CancelReason.UNDELIVERABLE_ADDRESS: "ShippingAddressUndeliverable",
    CancelReason.PRICING_ERROR: "GeneralAdjustment",
    CancelReason.OTHER: "GeneralAdjustment",
}
#: ``getFeed`` polls: the first after this many seconds, then doubling up to the cap.
FIRST_POLL = 0.25
POLL_CAP = 15.0


# --------------------------------------------------------------------------- the feed


def acknowledgement_feed(seller_id: str, order_id: str, item_ids: Sequence[str], cancel_reason: str) -> bytes:
    """An order acknowledgement feed cancelling ``item_ids`` of ``order_id``: one message,
    ``StatusCode`` Failure, each item with its ``AmazonOrderItemCode`` and ``CancelReason``."""
    envelope = ElementTree.Element("AmazonEnvelope")
    header = ElementTree.SubElement(envelope, "Header")
    ElementTree.SubElement(header, "DocumentVersion").text = "1.01"
    ElementTree.SubElement(header, "MerchantIdentifier").text = seller_id
    ElementTree.SubElement(envelope, "MessageType").text = "OrderAcknowledgement"
    message = ElementTree.SubElement(envelope, "Message")
    ElementTree.SubElement(message, "MessageID").text = "1"
    ack = ElementTree.SubElement(message, "OrderAcknowledgement")
    ElementTree.SubElement(ack, "AmazonOrderID").text = order_id
    ElementTree.SubElement(ack, "StatusCode").text = "Failure"
    for item_id in item_ids:
        item = ElementTree.SubElement(ack, "Item")
        ElementTree.SubElement(item, "AmazonOrderItemCode").text = item_id
        ElementTree.SubElement(item, "CancelReason").text = cancel_reason
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        + ElementTree.tostring(envelope, encoding="unicode").encode()
    )


def processing_errors(report: bytes) -> list[tuple[str, str]]:
    """The ``(ResultMessageCode, ResultDescription)`` of each ``Error`` result of an XML
    feed's processing report (warnings are not refusals)."""
    try:
        root = ElementTree.fromstring(report)
    except ElementTree.ParseError as exc:
        raise ChannelError(
            f"amazon feed processing report is not XML: {exc}", code="MALFORMED", retryable=True
        ) from None
    errors = []
    for result in root.iter("Result"):
        if (result.findtext("ResultCode") or "").strip() == "Error":
            errors.append(
                (
                    (result.findtext("ResultMessageCode") or "").strip() or "FeedError",
                    (result.findtext("ResultDescription") or "").strip(),
                )
            )
    return errors


async def download(http: httpx.AsyncClient, document: Mapping[str, Any]) -> bytes:
    """A feed's or report's document from its pre-signed ``url`` (gunzipped when its
    ``compressionAlgorithm`` says GZIP). The URL carries its own signature: no SP-API
    headers go with it."""
    try:
        response = await http.get(str(document["url"]))
    except httpx.TimeoutException as exc:
        raise ChannelError("amazon document download timed out", code="TIMEOUT", retryable=True) from exc
    except httpx.TransportError as exc:
        raise ChannelError(f"amazon document download: {exc}", code="NETWORK", retryable=True) from exc
    if response.status_code >= 400:
        # a pre-signed URL lives five minutes: the document is asked for again
        raise ChannelError(
            f"amazon document download answered {response.status_code}", code="DOCUMENT", retryable=True
        )
    body = response.content
    if document.get("compressionAlgorithm") == "GZIP":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as exc:
            raise ChannelError(
                f"amazon document is not gzip: {exc}", code="MALFORMED", retryable=True
            ) from None
    return body


async def submit_feed(
    api: SpApiClient, http: httpx.AsyncClient, marketplace_id: str, feed_type: str, content: bytes
) -> str:
    """createFeedDocument, the upload to its pre-signed URL, createFeed: the feed's id."""
    document = await with_retries(
        lambda: api.call(
            "POST",
            "/feeds/2021-06-30/documents",
            body={"contentType": FEED_CONTENT_TYPE},
            operation="createFeedDocument",
        )
    )

    async def upload() -> None:
        try:
            response = await http.put(
                str(document["url"]), content=content, headers={"content-type": FEED_CONTENT_TYPE}
            )
        except httpx.TransportError as exc:
            raise ChannelError(f"amazon feed upload: {exc}", code="NETWORK", retryable=True) from exc
        if response.status_code >= 500:
            raise ChannelError("amazon feed upload failed", code="UPLOAD", retryable=True)
        if response.status_code >= 400:
            raise ChannelError(f"amazon feed upload refused ({response.status_code})", code="UPLOAD")

    await with_retries(upload)
    created = await with_retries(
        lambda: api.call(
            "POST",
            "/feeds/2021-06-30/feeds",
            body={
                "feedType": feed_type,
                "marketplaceIds": [marketplace_id],
                "inputFeedDocumentId": document["feedDocumentId"],
            },
            operation="createFeed",
        )
    )
    return str(created["feedId"])


async def wait_for_feed(
    api: SpApiClient, http: httpx.AsyncClient, feed_id: str, *, wait_seconds: float
) -> list[tuple[str, str]]:
    """Poll getFeed until the feed is processed (at most ``wait_seconds``), then read its
    processing report: the errors in it. A feed still in Amazon's queue after the wait is a
    retryable ``FEED_IN_PROGRESS``; a ``FATAL`` or ``CANCELLED`` feed is permanent."""
    deadline = time.monotonic() + wait_seconds
    delay = FIRST_POLL
    while True:
        await asyncio.sleep(delay)
        feed = await with_retries(
            lambda: api.call("GET", f"/feeds/2021-06-30/feeds/{feed_id}", operation="getFeed")
        )
        status = feed.get("processingStatus")
        if status in ("DONE", "FATAL"):
            break
        if status == "CANCELLED":
            raise ChannelError(f"amazon cancelled feed {feed_id} before processing it", code="FeedCancelled")
        if time.monotonic() + delay > deadline:
            raise ChannelError(
                f"amazon is still processing feed {feed_id}: the order changes when Amazon shows it",
                code="FEED_IN_PROGRESS",
                retryable=True,
                retry_after=POLL_CAP,
            )
        delay = min(POLL_CAP, delay * 2)
    errors: list[tuple[str, str]] = []
    if feed.get("resultFeedDocumentId"):
        document_id = feed["resultFeedDocumentId"]

        async def report() -> bytes:
            document = await api.call(
                "GET", f"/feeds/2021-06-30/documents/{document_id}", operation="getFeedDocument"
            )
            return await download(http, document)

        errors = processing_errors(await with_retries(report))
    if status == "FATAL":
        errors = errors or [("FATAL", f"amazon could not process feed {feed_id}")]
    return errors


# --------------------------------------------------------------------------- cases


def _at(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


#: fulfilment statuses in which the seller can still cancel
CANCELLABLE = frozenset({"PENDING_AVAILABILITY", "PENDING", "UNSHIPPED"})


def cancellation_case(order: Mapping[str, Any], *, always: bool = False) -> ChannelCase | None:
    """The buyer's cancellation request on a 2026-01-01 order (None when no item has one,
    unless ``always``).

    Its id is the order's (the request has none); ``opened_at`` is the order's creation (the
    model gives the request no time), ``updated_at`` the order's ``lastUpdatedTime``, and
    ``respond_by`` the end of the ship-by window (Amazon states no other deadline: the
    order is late after it). Status: the order cancelled -> ACCEPTED (granted, whoever
    executed it); shipped or unfulfillable -> CLOSED (the seller shipped instead: Amazon has
    no decline); otherwise OPEN, and the one answer Amazon takes is ACCEPT (cancel with
    ``BuyerCanceled``), for an order the seller fulfils."""
    items = [i for i in order.get("orderItems") or [] if isinstance(i, Mapping)]
    asked = [
        i
        for i in items
        if ((i.get("cancellation") or {}).get("cancellationRequest") or {}).get("requester") == "BUYER"
    ]
    if not asked and not always:
        return None
    fulfillment = order.get("fulfillment") or {}
    state = str(fulfillment.get("fulfillmentStatus") or "")
    executed = next(
        (
            (i.get("cancellation") or {}).get("cancellationExecution")
            for i in items
            if (i.get("cancellation") or {}).get("cancellationExecution")
        ),
        None,
    )
    if state == "CANCELLED":
        status, channel_status = CaseStatus.ACCEPTED, "CANCELLED"
    elif state in ("SHIPPED", "UNFULFILLABLE") or not asked:
        status, channel_status = CaseStatus.CLOSED, state or "NO_REQUEST"
    else:
        status, channel_status = CaseStatus.OPEN, "BUYER_REQUESTED_CANCEL"
    merchant = fulfillment.get("fulfilledBy") != "AMAZON"
    actions = (
        frozenset({CaseAction.ACCEPT})
        if status == CaseStatus.OPEN and merchant and state in CANCELLABLE
        else frozenset()
    )
    request = ((asked[0] if asked else {}).get("cancellation") or {}).get("cancellationRequest") or {}
    created = _at(order.get("createdTime")) or datetime.now(UTC)
    return ChannelCase(
        external_id=str(order["orderId"]),
        order_external_id=str(order["orderId"]),
        kind=CaseKind.CANCELLATION,
        status=status,
        channel_status=channel_status,
        opened_at=created,
        updated_at=_at(order.get("lastUpdatedTime")) or created,
        reason=str(request.get("cancelReason") or ""),
        lines=[
            CaseLine(
                quantity=int(i.get("quantityOrdered") or 0),
                order_line_external_id=str(i["orderItemId"]),
                sku=(i.get("product") or {}).get("sellerSku"),
            )
            for i in (asked or items)
        ],
        respond_by=_at((fulfillment.get("shipByWindow") or {}).get("latestDateTime")),
        actions=actions,
        raw={
            "fulfillment_status": state,
            "cancelled_by": (executed or {}).get("cancelledBy"),
            "cancel_execution_reason": (executed or {}).get("cancelReason"),
        },
    )


#: Return request statuses of the returns report -> case status (the report's values as
#: seen in Amazon's sample and sellers' files; UNCONFIRMED beyond Approved and Completed)
RETURN_STATUSES: Mapping[str, CaseStatus] = {
    "pending": CaseStatus.OPEN,
    "requested": CaseStatus.OPEN,
    "approved": CaseStatus.ACCEPTED,
    "authorized": CaseStatus.ACCEPTED,
    "completed": CaseStatus.CLOSED,
    "closed": CaseStatus.CLOSED,
    "rejected": CaseStatus.REJECTED,
    "denied": CaseStatus.REJECTED,
    "cancelled": CaseStatus.CANCELLED,
    "canceled": CaseStatus.CANCELLED,
}


def _report_date(value: str) -> datetime | None:
    """A report date: ``10-Jul-2025`` (the sample's), or ISO 8601."""
    value = value.strip()
    if not value:
        return None
    for pattern in ("%d-%b-%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, pattern).replace(tzinfo=UTC)
        except ValueError:
            pass
    try:
        return _at(value)
    except ValueError:
        return None


def _report_amount(value: str) -> Decimal | None:
    text = value.strip().replace(",", "").lstrip("$€£¥")
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def return_cases(report: str, currency: str) -> list[ChannelCase]:
    """The returns report's rows as RETURN_REFUND cases, one per Amazon RMA id (its rows are
    its lines), least recently updated first.

    ``updated_at`` is the latest date the row shows (request, delivery back); the report
    has dates only, so a change of status on the same day keeps the time and shows in
    ``channel_status``. A-to-z guarantee claim -> DISPUTED; a refunded amount -> REFUNDED;
    goods delivered back -> RETURN_SHIPPED; else by the request status. The report has no
    buyer comment, no photos and no deadline, and nothing in it can be answered over the
    API: ``actions`` are empty."""
    rows = list(csv.DictReader(io.StringIO(report), delimiter="\t"))
    grouped: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        clean = {str(k or "").strip(): str(v or "").strip() for k, v in row.items()}
        rma = clean.get("Amazon RMA ID") or ""
        order_id = clean.get("Order ID") or ""
        if order_id:
            grouped.setdefault(rma or f"{order_id}:{clean.get('Merchant SKU', '')}", []).append(clean)
    cases = []
    for rma, lines in grouped.items():
        first = lines[0]
        requested = _report_date(first.get("Return request date", "")) or _report_date(
            first.get("Order date", "")
        )
        if requested is None:
            continue
        delivered = _report_date(first.get("Return delivery date", ""))
        refunded = sum(
            (_report_amount(r.get("Refunded Amount", "")) or Decimal(0) for r in lines), Decimal(0)
        )
        asked = sum((_report_amount(r.get("Order Amount", "")) or Decimal(0) for r in lines), Decimal(0))
        raw_status = first.get("Return request status", "")
        claim = first.get("A-to-Z Claim", "").upper() == "Y"
        if refunded > 0:
            status = CaseStatus.REFUNDED
        elif claim:
            status = CaseStatus.DISPUTED
        elif delivered is not None and RETURN_STATUSES.get(raw_status.lower()) in (None, CaseStatus.ACCEPTED):
            status = CaseStatus.RETURN_SHIPPED
        else:
            status = RETURN_STATUSES.get(raw_status.lower(), CaseStatus.OPEN)
        channel_status = (
            raw_status + (" / A-to-z claim" if claim else "") + (" / refunded" if refunded > 0 else "")
        )
        row_currency = first.get("Currency code") or currency
        amount = refunded if refunded > 0 else asked
        cases.append(
            ChannelCase(
                external_id=rma,
                order_external_id=first["Order ID"],
                kind=CaseKind.RETURN_REFUND,
                status=status,
                channel_status=channel_status[:64] or "UNKNOWN",
                opened_at=requested,
                updated_at=max(d for d in (requested, delivered) if d is not None),
                reason=first.get("Return Reason", ""),
                lines=[
                    CaseLine(
                        quantity=int(_report_amount(r.get("Return quantity", "")) or 1),
                        order_line_external_id=r.get("Order Item ID") or None,
                        sku=r.get("Merchant SKU") or None,
                    )
                    for r in lines
                ],
                refund_amount=Money(amount, row_currency) if amount > 0 else None,
                actions=frozenset(),
                raw={
                    "return_status": raw_status,
                    "resolution": first.get("Resolution", ""),
                    "tracking_id": first.get("Tracking ID", ""),
                    "return_carrier": first.get("Return carrier", ""),
                    "a_to_z_claim": claim,
                },
            )
        )
    cases.sort(key=lambda c: (c.updated_at, c.external_id))
    return cases


def newest(reports: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The most recently created report of a ``getReports`` answer."""
    return max(reports, key=lambda r: str(r.get("createdTime") or ""), default=None)
