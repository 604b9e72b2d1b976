"""The emulator's after-sales side: the Feeds API (order acknowledgement feeds that cancel
orders), the Reports API (the returns report) and the buyers who ask.

Feeds API 2021-06-30 (feeds_2021-06-30.json): ``createFeedDocument`` (``contentType``
required) gives a pre-signed upload ``url`` on this host (``/tortuga/{id}``, no SP-API
token, as S3's); ``createFeed`` (``feedType``, ``marketplaceIds``, ``inputFeedDocumentId``
required; answered 202) queues it; the feed is processed when it is next read (``getFeed``
answers ``IN_PROGRESS`` ``feed_polls`` times, then ``DONE`` with a
``resultFeedDocumentId``, its effects on the orders made as it completes): an XML
processing report, one ``Result`` per message in error.
Processing an ``OrderAcknowledgement`` with ``StatusCode`` Failure cancels the order's items:
refused (in the report) for an order not the seller's, shipped or partly shipped, fulfilled
by Amazon, an item not in the order, a ``CancelReason`` outside the schema's list; an order
already cancelled is left as it is. A document that is not XML makes the feed ``FATAL``.
The report's result codes and texts are the emulator's own (Amazon's for these cases are
UNCONFIRMED).

Reports API 2021-06-30 (reports_2021-06-30.json): ``createReport`` (``reportType`` and
``marketplaceIds`` required, the type known, ``dataStartTime`` not after ``dataEndTime``;
202), ``getReports`` (``reportTypes`` or ``nextToken`` required), ``getReport``,
``getReportDocument`` (a gzip document, ``compressionAlgorithm`` GZIP). A returns report is a
snapshot of the returns when it was asked for, ready once read after that. A Sales and Traffic
report (:mod:`crossdock_amazon.traffic_emulator`) is IN_PROGRESS for ``traffic_report_polls``
reads and is made as it completes (DONE, or FATAL / CANCELLED as that report's schema says).
"""

from __future__ import annotations

import gzip
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

from crossdock.testing.emulator import Reply, Request
from crossdock_amazon.aftersales import ACKNOWLEDGEMENT_FEED, FEED_CANCEL_REASONS, RETURNS_REPORT
from crossdock_amazon.orders_emulator import parse_time
from crossdock_amazon.traffic_emulator import SALES_AND_TRAFFIC_REPORT

if TYPE_CHECKING:
    from crossdock_amazon.emulator import AmazonEmulator

__all__ = ["AfterSales", "Return"]

FEED_TYPES = (ACKNOWLEDGEMENT_FEED,)
REPORT_TYPES = (RETURNS_REPORT, SALES_AND_TRAFFIC_REPORT)
STATUSES = ("CANCELLED", "DONE", "FATAL", "IN_PROGRESS", "IN_QUEUE")
COLUMNS = (
    "Order ID",
    "Order date",
    "Return request date",
    "Return request status",
    "Amazon RMA ID",
    "Merchant RMA ID",
    "Label type",
    "Label cost",
    "Currency code",
    "Return carrier",
    "Tracking ID",
    "Label to be paid by",
    "A-to-Z Claim",
    "Is prime",
    "ASIN",
    "Merchant SKU",
    "Item Name",
    "Return quantity",
    "Return Reason",
    "In policy",
    "Return type",
    "Resolution",
    "Invoice number",
    "Return delivery date",
    "Order Amount",
    "Order quantity",
    "SafeT Action reason",
    "SafeT claim id",
    "SafeT claim state",
    "SafeT claim creation time",
    "SafeT claim reimbursement amount",
    "Refunded Amount",
    "Order Item ID",
)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(epoch: float | None) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%d-%b-%Y") if epoch else ""


@dataclass
class Return:
    """One return as Amazon keeps it (one item of an order)."""

    rma: str
    seller: str
    order_id: str
    item: dict[str, Any]
    quantity: int
    reason: str
    amount: Decimal
    currency: str
    requested: float
    status: str = "Approved"
    tracking: str = ""
    carrier: str = ""
    delivered: float | None = None
    refunded: Decimal | None = None
    claim: bool = False


@dataclass
class Feed:
    feed_id: str
    seller: str
    feed_type: str
    marketplaces: list[str]
    document: str
    created: float
    status: str = "IN_QUEUE"
    polls: int = 0
    result: str | None = None
    processed: float | None = None


@dataclass
class Report:
    report_id: str
    seller: str
    report_type: str
    marketplaces: list[str]
    start: float
    end: float
    created: float
    content: bytes
    status: str = "IN_QUEUE"
    document: str | None = None
    #: reads answered IN_PROGRESS before the report completes
    polls_left: int = 0
    #: makes the document as the report completes (else ``content`` is it)
    build: Callable[[], bytes] | None = None
    #: how it ends: DONE, or FATAL / CANCELLED
    outcome: str = "DONE"


@dataclass
class AfterSales:
    emulator: AmazonEmulator
    clock: Callable[[], float]
    #: getFeed answers IN_PROGRESS this many times before DONE
    feed_polls: int = 1
    #: getReport answers IN_PROGRESS this many times before a Sales and Traffic report is done
    traffic_report_polls: int = 1
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    feeds: dict[str, Feed] = field(default_factory=dict)
    reports: dict[str, Report] = field(default_factory=dict)
    returns: dict[str, Return] = field(default_factory=dict)
    #: every cancellation a feed carried out: (order, CancelReason)
    cancellations: list[tuple[str, str]] = field(default_factory=list)

    # ------------------------------------------------------------------ buyers and Amazon

    def buyer_requests_cancel(self, order_id: str, reason: str = "Changed mind about purchase") -> None:
        """The buyer asks to cancel (every item): ``BuyerRequestedCancel`` in v0,
        ``cancellation.cancellationRequest`` in 2026-01-01; the order's update time moves."""
        for item in self.emulator.items[order_id]:
            item["BuyerRequestedCancel"] = {"IsBuyerRequestedCancel": "true", "BuyerCancelReason": reason}
        self.emulator.update_order(order_id)

    def buyer_returns(
        self,
        order_id: str,
        *,
        sku: str | None = None,
        quantity: int = 1,
        reason: str = "CR-DEFECTIVE",
        status: str = "Approved",
    ) -> str:
        """The buyer asks to return (Amazon authorises it: ``Approved`` unless said);
        returns the RMA id."""
        order = self.emulator.orders[order_id]
        items = self.emulator.items[order_id]
        item = next((i for i in items if sku is None or i["SellerSKU"] == sku), items[0])
        unit = Decimal(str(item["ItemPrice"]["Amount"])) / max(int(item["QuantityOrdered"]), 1)
        rma = f"D{secrets.token_hex(5).upper()}RMA"
        self.returns[rma] = Return(
            rma=rma,
            seller=order["_seller"],
            order_id=order_id,
            item=item,
            quantity=quantity,
            reason=reason,
            amount=(unit * quantity).quantize(Decimal("0.01")),
            currency=str(item["ItemPrice"]["CurrencyCode"]),
            requested=self.clock(),
            status=status,
        )
        return rma

    def return_shipped(self, rma: str, *, delivered: bool = True) -> None:
        """The buyer sends the goods back on Amazon's prepaid label (delivered to the seller)."""
        found = self.returns[rma]
        found.carrier, found.tracking = "UPS", f"1Z{secrets.token_hex(6).upper()}"
        if delivered:
            found.delivered = self.clock() + 86400

    def refund_return(self, rma: str, amount: Decimal | None = None) -> None:
        """Amazon (or the seller in Seller Central) refunds the buyer; the return closes."""
        found = self.returns[rma]
        found.refunded = amount if amount is not None else found.amount
        found.status = "Closed"

    def claim(self, rma: str) -> None:
        """The buyer files an A-to-z Guarantee claim: Amazon judges."""
        self.returns[rma].claim = True

    # ------------------------------------------------------------------ documents

    def url(self, request: Request, document_id: str) -> str:
        base = self.emulator.own_address or f"http://{request.headers.get('host', '127.0.0.1')}"
        return f"{base}/tortuga/{document_id}"

    async def create_document(self, request: Request) -> Reply:
        seller = self.emulator.seller_of(request)
        if isinstance(seller, Reply):
            return seller
        body = request.json()
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("contentType"), str)
            or not body["contentType"]
        ):
            return self.emulator.error(400, "InvalidInput", "contentType is required")
        document_id = f"amzn1.tortuga.4.na.{secrets.token_hex(12)}"
        self.documents[document_id] = {"seller": seller.seller_id, "content": None, "gzip": False}
        return Reply(201, {"feedDocumentId": document_id, "url": self.url(request, document_id)})

    async def upload(self, request: Request) -> Reply:
        document = self.documents.get(request.args[0])
        if document is None or document["content"] is not None:
            return Reply(
                403, b"<Error><Code>AccessDenied</Code></Error>", {"content-type": "application/xml"}
            )
        document["content"] = request.body
        return Reply(200, b"", {"content-type": "application/xml"})

    async def download(self, request: Request) -> Reply:
        document = self.documents.get(request.args[0])
        if document is None or document["content"] is None:
            return Reply(404, b"<Error><Code>NoSuchKey</Code></Error>", {"content-type": "application/xml"})
        return Reply(200, document["content"], {"content-type": "application/octet-stream"})

    def _store(self, seller: str, content: bytes, *, compress: bool = False) -> str:
        document_id = f"amzn1.spdoc.1.4.na.{secrets.token_hex(12)}"
        self.documents[document_id] = {
            "seller": seller,
            "content": gzip.compress(content) if compress else content,
            "gzip": compress,
        }
        return document_id

    # ------------------------------------------------------------------ feeds

    async def create_feed(self, request: Request) -> Reply:
        seller = self.emulator.seller_of(request)
        if isinstance(seller, Reply):
            return seller
        body = request.json()
        error = self.emulator.error
        if not isinstance(body, dict):
            return error(400, "InvalidInput", "the body must be a CreateFeedSpecification")
        for required in ("feedType", "marketplaceIds", "inputFeedDocumentId"):
            if not body.get(required):
                return error(400, "InvalidInput", f"{required} is required")
        if body["feedType"] not in FEED_TYPES:
            return error(400, "InvalidInput", f"Invalid feedType: {body['feedType']}")
        marketplaces = body["marketplaceIds"]
        if not isinstance(marketplaces, list) or any(m not in seller.marketplaces for m in marketplaces):
            return error(400, "InvalidInput", f"Invalid marketplaceIds: {marketplaces}")
        document = self.documents.get(str(body["inputFeedDocumentId"]))
        if document is None or document["seller"] != seller.seller_id:
            return error(400, "InvalidInput", "inputFeedDocumentId is not a document of this seller")
        if document["content"] is None:
            return error(400, "InvalidInput", "the feed document has not been uploaded")
        feed_id = str(50_000_000_000 + len(self.feeds) + 1)
        self.feeds[feed_id] = Feed(
            feed_id,
            seller.seller_id,
            body["feedType"],
            marketplaces,
            body["inputFeedDocumentId"],
            self.clock(),
        )
        return Reply(202, {"feedId": feed_id})

    def _feed(self, request: Request) -> Feed | Reply:
        seller = self.emulator.seller_of(request)
        if isinstance(seller, Reply):
            return seller
        feed = self.feeds.get(request.args[0])
        if feed is None or feed.seller != seller.seller_id:
            return self.emulator.error(404, "NotFound", f"Feed {request.args[0]} not found")
        return feed

    async def get_feed(self, request: Request) -> Reply:
        feed = self._feed(request)
        if isinstance(feed, Reply):
            return feed
        if feed.status == "IN_QUEUE":
            feed.status, feed.processed = "IN_PROGRESS", self.clock()
        elif feed.status == "IN_PROGRESS":
            feed.polls += 1
        if feed.status == "IN_PROGRESS" and feed.polls >= self.feed_polls:
            self._process(feed)  # what it does to the orders happens as it completes
            feed.status = "DONE" if feed.result else "FATAL"
        shown: dict[str, Any] = {
            "feedId": feed.feed_id,
            "feedType": feed.feed_type,
            "marketplaceIds": feed.marketplaces,
            "createdTime": _iso(feed.created),
            "processingStatus": feed.status,
        }
        if feed.processed is not None:
            shown["processingStartTime"] = _iso(feed.processed)
        if feed.status in ("DONE", "FATAL") and feed.result:
            shown["processingEndTime"] = _iso(feed.processed or self.clock())
            shown["resultFeedDocumentId"] = feed.result
        return Reply(200, shown)

    async def get_feed_document(self, request: Request) -> Reply:
        seller = self.emulator.seller_of(request)
        if isinstance(seller, Reply):
            return seller
        document = self.documents.get(request.args[0])
        if document is None or document["seller"] != seller.seller_id:
            return self.emulator.error(404, "NotFound", f"Document {request.args[0]} not found")
        shown: dict[str, Any] = {"feedDocumentId": request.args[0], "url": self.url(request, request.args[0])}
        if document["gzip"]:
            shown["compressionAlgorithm"] = "GZIP"
        return Reply(200, shown)

    def _process(self, feed: Feed) -> None:
        """Carry the feed out (once): its processing report becomes the result document."""
        feed.processed = self.clock()
        content = self.documents[feed.document]["content"] or b""
        try:
            root = ElementTree.fromstring(content)
        except ElementTree.ParseError:
            feed.result = None  # FATAL: nothing in it could be read
            return
        results: list[tuple[str, str, str]] = []
        messages = root.findall("Message")
        if root.findtext("MessageType") != "OrderAcknowledgement" or not messages:
            results.append(("0", "5001", "The feed holds no OrderAcknowledgement message"))
        for message in messages:
            results.extend(self._acknowledge(feed, message))
        feed.result = self._store(feed.seller, self._report(feed, len(messages), results))

    def _acknowledge(self, feed: Feed, message: ElementTree.Element) -> list[tuple[str, str, str]]:
        number = (message.findtext("MessageID") or "").strip()
        ack = message.find("OrderAcknowledgement")
        if ack is None:
            return [(number, "5001", "The message holds no OrderAcknowledgement")]
        order_id = (ack.findtext("AmazonOrderID") or "").strip()
        order = self.emulator.orders.get(order_id)
        if order is None or order["_seller"] != feed.seller:
            return [(number, "5002", f"The AmazonOrderID {order_id} is not an order of this merchant")]
        if (ack.findtext("StatusCode") or "").strip() != "Failure":
            return []  # an acknowledgement that keeps the order: nothing to change
        items = {i["OrderItemId"]: i for i in self.emulator.items[order_id]}
        cancels: list[tuple[dict[str, Any], str]] = []
        for element in ack.findall("Item"):
            code = (element.findtext("AmazonOrderItemCode") or "").strip()
            reason = (element.findtext("CancelReason") or "").strip()
            if code not in items:
                return [
                    (number, "5003", f"The AmazonOrderItemCode {code} is not an item of order {order_id}")
                ]
            if reason not in FEED_CANCEL_REASONS:
                return [(number, "5004", f"The CancelReason {reason!r} is not valid")]
            cancels.append((items[code], reason))
        if not cancels:
            return [(number, "5003", "A cancellation names the items it cancels, each with a CancelReason")]
        if order["OrderStatus"] == "Canceled":
            return []  # already cancelled: nothing changes
        if order["FulfillmentChannel"] == "AFN":
            return [
                (
                    number,
                    "5005",
                    f"Order {order_id} is fulfilled by Amazon and cannot be cancelled by the seller",
                )
            ]
        if order["OrderStatus"] in ("Shipped", "PartiallyShipped", "InvoiceUnconfirmed"):
            return [(number, "5006", f"Order {order_id} has shipped and can no longer be cancelled")]
        for item, reason in cancels:
            item["_cancel_execution"] = {"cancelledBy": "MERCHANT", "cancelReason": reason}
        self.cancellations.append((order_id, cancels[0][1]))
        self.emulator.update_order(order_id, OrderStatus="Canceled", NumberOfItemsUnshipped=0)
        return []

    @staticmethod
    def _report(feed: Feed, processed: int, results: list[tuple[str, str, str]]) -> bytes:
        envelope = ElementTree.Element("AmazonEnvelope")
        header = ElementTree.SubElement(envelope, "Header")
        ElementTree.SubElement(header, "DocumentVersion").text = "1.02"
        ElementTree.SubElement(header, "MerchantIdentifier").text = feed.seller
        ElementTree.SubElement(envelope, "MessageType").text = "ProcessingReport"
        message = ElementTree.SubElement(envelope, "Message")
        ElementTree.SubElement(message, "MessageID").text = "1"
        report = ElementTree.SubElement(message, "ProcessingReport")
        ElementTree.SubElement(report, "DocumentTransactionID").text = feed.feed_id
        ElementTree.SubElement(report, "StatusCode").text = "Complete"
        summary = ElementTree.SubElement(report, "ProcessingSummary")
        failed = len({r[0] for r in results})
        for name, value in (
            ("MessagesProcessed", processed),
            ("MessagesSuccessful", max(processed - failed, 0)),
            ("MessagesWithError", failed),
            ("MessagesWithWarning", 0),
        ):
            ElementTree.SubElement(summary, name).text = str(value)
        for number, code, text in results:
            result = ElementTree.SubElement(report, "Result")
            ElementTree.SubElement(result, "MessageID").text = number
            ElementTree.SubElement(result, "ResultCode").text = "Error"
            ElementTree.SubElement(result, "ResultMessageCode").text = code
            ElementTree.SubElement(result, "ResultDescription").text = text
        return b'<?xml version="1.0" encoding="UTF-8"?>' + ElementTree.tostring(envelope)

    # ------------------------------------------------------------------ reports

    async def create_report(self, request: Request) -> Reply:
        seller = self.emulator.seller_of(request)
        if isinstance(seller, Reply):
            return seller
        body = request.json()
        error = self.emulator.error
        if not isinstance(body, dict):
            return error(400, "InvalidInput", "the body must be a CreateReportSpecification")
        for required in ("reportType", "marketplaceIds"):
            if not body.get(required):
                return error(400, "InvalidInput", f"{required} is required")
        if body["reportType"] not in REPORT_TYPES:
            return error(400, "InvalidInput", f"Invalid reportType: {body['reportType']}")
        marketplaces = body["marketplaceIds"]
        if not isinstance(marketplaces, list) or any(m not in seller.marketplaces for m in marketplaces):
            return error(400, "InvalidInput", f"Invalid marketplaceIds: {marketplaces}")
        now = self.clock()
        start = parse_time(str(body.get("dataStartTime"))) if body.get("dataStartTime") else now - 30 * 86400
        end = parse_time(str(body.get("dataEndTime"))) if body.get("dataEndTime") else now
        if start is None or end is None:
            return error(400, "InvalidInput", "dataStartTime and dataEndTime must be ISO 8601 date-times")
        if start > end:
            return error(400, "InvalidInput", "dataStartTime must be before dataEndTime")
        report_id = str(700_000_000_000 + len(self.reports) + 1)
        if body["reportType"] == SALES_AND_TRAFFIC_REPORT:
            problem = self.emulator.traffic.invalid_options(body.get("reportOptions"))
            if problem is not None:
                return error(400, "InvalidInput", problem)
            self.reports[report_id] = self._traffic_report(
                report_id, seller.seller_id, body, marketplaces, start, end
            )
            return Reply(202, {"reportId": report_id})
        content = self._returns_file(seller.seller_id, marketplaces, start, end)
        self.reports[report_id] = Report(
            report_id, seller.seller_id, body["reportType"], marketplaces, start, end, now, content
        )
        return Reply(202, {"reportId": report_id})

    def _traffic_report(
        self,
        report_id: str,
        seller: str,
        body: Mapping[str, Any],
        marketplaces: list[str],
        start: float,
        end: float,
    ) -> Report:
        """A Sales and Traffic report: made when it completes, from what the days hold then.
        Its dates are days ("the time component is ignored"); more than two years back it is
        cancelled, with several marketplaces it fails."""
        now = self.clock()
        first = datetime.fromtimestamp(start, UTC).date()
        last = datetime.fromtimestamp(end, UTC).date()
        outcome = "DONE"
        if len(marketplaces) > 1:
            outcome = "FATAL"
        elif first < datetime.fromtimestamp(now, UTC).date() - timedelta(days=730):
            outcome = "CANCELLED"
        currency = self.emulator.marketplace_currency(marketplaces[0])
        options = dict(body.get("reportOptions") or {})

        def build(a: date = first, b: date = last) -> bytes:
            return self.emulator.traffic.document(seller, marketplaces, a, b, options, currency)

        return Report(
            report_id,
            seller,
            SALES_AND_TRAFFIC_REPORT,
            marketplaces,
            start,
            end,
            now,
            b"",
            polls_left=self.traffic_report_polls,
            build=build,
            outcome=outcome,
        )

    def _returns_file(self, seller: str, marketplaces: list[str], start: float, end: float) -> bytes:
        lines = ["\t".join(COLUMNS)]
        for found in sorted(self.returns.values(), key=lambda r: r.requested):
            order = self.emulator.orders[found.order_id]
            if found.seller != seller or order["MarketplaceId"] not in marketplaces:
                continue
            if not start - 86400 <= found.requested <= end + 86400:  # by day, as the report is
                continue
            item = found.item
            row = {
                "Order ID": found.order_id,
                "Order date": _day(parse_time(order["PurchaseDate"])),
                "Return request date": _day(found.requested),
                "Return request status": found.status,
                "Amazon RMA ID": found.rma,
                "Label type": "AmazonPrePaidLabel",
                "Label cost": "4.14",
                "Currency code": found.currency,
                "Return carrier": found.carrier,
                "Tracking ID": found.tracking,
                "Label to be paid by": "Seller",
                "A-to-Z Claim": "Y" if found.claim else "N",
                "Is prime": "Y" if order.get("IsPrime") else "N",
                "ASIN": item["ASIN"],
                "Merchant SKU": item["SellerSKU"],
                "Item Name": item["Title"],
                "Return quantity": str(found.quantity),
                "Return Reason": found.reason,
                "In policy": "Y",
                "Return type": "C-Returns",
                "Resolution": "StandardRefund",
                "Return delivery date": _day(found.delivered),
                "Order Amount": str(found.amount),
                "Order quantity": str(item["QuantityOrdered"]),
                "Refunded Amount": str(found.refunded) if found.refunded is not None else "",
                "Order Item ID": item["OrderItemId"],
            }
            lines.append("\t".join(row.get(c, "") for c in COLUMNS))
        return ("\n".join(lines) + "\n").encode()

    def _shown(self, report: Report) -> dict[str, Any]:
        if report.status in ("IN_QUEUE", "IN_PROGRESS"):  # made between two reads
            if report.polls_left > 0:
                report.polls_left -= 1
                report.status = "IN_PROGRESS"
            elif report.outcome != "DONE":
                report.status = report.outcome
            else:
                report.status = "DONE"
                content = report.build() if report.build is not None else report.content
                report.document = self._store(report.seller, content, compress=True)
        shown: dict[str, Any] = {
            "reportId": report.report_id,
            "reportType": report.report_type,
            "marketplaceIds": report.marketplaces,
            "dataStartTime": _iso(report.start),
            "dataEndTime": _iso(report.end),
            "createdTime": _iso(report.created),
            "processingStatus": report.status,
        }
        if report.document:
            shown["processingStartTime"] = _iso(report.created)
            shown["processingEndTime"] = _iso(report.created)
            shown["reportDocumentId"] = report.document
        return shown

    async def get_reports(self, request: Request) -> Reply:
        seller = self.emulator.seller_of(request)
        if isinstance(seller, Reply):
            return seller
        q: Mapping[str, str] = request.query
        error = self.emulator.error
        if not q.get("reportTypes") and not q.get("nextToken"):
            return error(400, "InvalidInput", "reportTypes or nextToken is required")
        types = [t for t in q.get("reportTypes", "").split(",") if t]
        statuses = [s for s in q.get("processingStatuses", "").split(",") if s]
        if any(s not in STATUSES for s in statuses):
            return error(400, "InvalidInput", f"Invalid processingStatuses: {q['processingStatuses']}")
        since = parse_time(q["createdSince"]) if q.get("createdSince") else self.clock() - 90 * 86400
        if since is None:
            return error(400, "InvalidInput", "createdSince must be an ISO 8601 date-time")
        size = q.get("pageSize", "10")
        if not size.isdigit() or not 1 <= int(size) <= 100:
            return error(400, "InvalidInput", "pageSize must be between 1 and 100")
        found = [
            self._shown(r)
            for r in sorted(self.reports.values(), key=lambda r: r.created, reverse=True)
            if r.seller == seller.seller_id and (not types or r.report_type in types) and r.created >= since
        ]
        found = [r for r in found if not statuses or r["processingStatus"] in statuses]
        return Reply(200, {"reports": found[: int(size)]})

    async def get_report(self, request: Request) -> Reply:
        seller = self.emulator.seller_of(request)
        if isinstance(seller, Reply):
            return seller
        report = self.reports.get(request.args[0])
        if report is None or report.seller != seller.seller_id:
            return self.emulator.error(404, "NotFound", f"Report {request.args[0]} not found")
        return Reply(200, self._shown(report))

    async def get_report_document(self, request: Request) -> Reply:
        seller = self.emulator.seller_of(request)
        if isinstance(seller, Reply):
            return seller
        document = self.documents.get(request.args[0])
        if document is None or document["seller"] != seller.seller_id or document["content"] is None:
            return self.emulator.error(404, "NotFound", f"Report document {request.args[0]} not found")
        shown: dict[str, Any] = {
            "reportDocumentId": request.args[0],
            "url": self.url(request, request.args[0]),
        }
        if document["gzip"]:
            shown["compressionAlgorithm"] = "GZIP"
        return Reply(200, shown)
