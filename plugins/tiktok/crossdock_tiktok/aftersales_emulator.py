"""After-sales in the emulator: the Return and Refund API (202309) as the Partner API reference
describes it (pages ``cancel-order``, ``search-cancellations``, ``approve-cancellation``,
``reject-cancellation``, ``search-returns``, ``approve-return``, ``reject-return``,
``get-return-records``, ``get-reject-reasons``, and the appendices ``cancel-reasons``,
``return-reasons``, ``refund-reasons``, as mirrored in ``lazykern/ecommerce-api-docs``
``data/raw/tiktok/api-reference/return-and-refund/``).

* ``POST /return_refund/202309/cancellations``: the seller cancels an order with one of the
  seller reasons of the shop's market and the order's status (UNPAID vs ON_HOLD /
  AWAITING_SHIPMENT); 25001045 once it has shipped, 25001051 once completed or cancelled,
  25001011 while a buyer's request is in process, 25001014 an unknown reason, 25001015 a
  buyer's reason, 25001021 a reason of the other status, 25001020 a reason withdrawn
  ("unable to deliver to buyer address" in ID, SG, TH, VN, PH since March 2024).
* ``POST …/cancellations/search`` (page_size 1-50) and ``POST …/returns/search`` (10-50),
  filters ``cancel_ids`` / ``return_ids``, ``order_ids``, ``cancel_types`` /
  ``return_types``, statuses, ``update_time_ge`` / ``_lt``; keyset page tokens.
* ``POST …/cancellations/{id}/approve`` and ``…/reject`` (``reject_reason`` required, one of
  the cancellation reject reasons); ``POST …/returns/{id}/approve`` (``decision``
  APPROVE_REFUND | APPROVE_RETURN | APPROVE_RECEIVED_PACKAGE | OFFER_PARTIAL_REFUND with
  ``partial_refund``) and ``…/reject`` (``decision`` REJECT_REFUND | REJECT_RETURN |
  REJECT_RECEIVED_PACKAGE, ``reject_reason`` of that stage), each decision only in the
  status and return type it is for; ``idempotency_key``: the same key on the same request
  answers as the first time and changes nothing.
* ``GET …/returns/{id}/records`` (the buyer's note and images), ``GET …/reject_reasons``.

Codes are the reference pages' own. UNCONFIRMED (no page says): the seller's deadlines
(48 hours here), which code a partial refund at or above the refund asked gets (25001001
here), which code an unknown cancel or return id gets (25007006 "Order not found." here),
and that a rejected buyer cancellation shows as CANCELLATION_REQUEST_CANCEL (the search
page lists no other status for it).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from crossdock.testing.emulator import Reply, Request

if TYPE_CHECKING:
    from crossdock_tiktok.emulator import Shop, TikTokShopEmulator

__all__ = ["BUYER_REASONS", "TikTokAfterSales"]

BASE = "/return_refund/202309"
RESPOND_SECONDS = 48 * 3600  # the seller's time to answer (UNCONFIRMED)

INVALID = 25001001  # An invalid request parameter was passed ...
IN_PROCESS = 25001011  # A return request is already in process, or the order has already been cancelled.
UNKNOWN_REASON = 25001014
NOT_SELLER_REASON = 25001015
REASON_OFFLINE = 25001020
REASON_STATUS = 25001021
REASON_ACTION = 25001016  # reverse reason not match action type
SHIPPED = 25001045
FINISHED = 25001051
NOT_FOUND = 25007006
TRANSFERRED = 25011010  # request has been transferred to platform operator
CANNOT_REJECT = 25011011
CANNOT_APPROVE = 25011012
CANNOT_APPROVE_RECEIVE = 25011013
PARTIAL_REFUND_STATUS = 25011032  # ReverseInvalidStatusPartialRefund
WRONG_TYPE = 25020004  # decision not match reverse type
NO_PERMISSION = 25020005
ALREADY_CANCELLED = 25020009
ALREADY_APPROVED = 25020010
CANNOT_REJECT_RECEIVE = 25020012

MESSAGES = {
    INVALID: "An invalid request parameter was passed. Please check that you have the correct "
    "parameter type(s) and format.",
    IN_PROCESS: "A return request is already in process, or the order has already been cancelled.",
    UNKNOWN_REASON: "Unknown return reason. Please ensure you are passing a valid return reason.",
    NOT_SELLER_REASON: "The provided return reason cannot be used by the seller. Please select a valid "
    "return reason and try again.",
    REASON_OFFLINE: "The provided return reason is currently offline. Please select a different "
    "return reason.",
    REASON_STATUS: "Reason not match order status",
    REASON_ACTION: "reverse reason not match action type",
    SHIPPED: "The order has already been shipped and we are unable to cancel shipment with the courier.",
    FINISHED: "Not allowed to return or cancel since order is completed or cancelled",
    NOT_FOUND: "Order not found.",
    TRANSFERRED: "request has been transferred to platform operator",
    CANNOT_REJECT: "reverse status cannot reject application",
    CANNOT_APPROVE: "reverse status cannot approve application",
    CANNOT_APPROVE_RECEIVE: "reverse status cannot approve receive",
    PARTIAL_REFUND_STATUS: "ReverseInvalidStatusPartialRefund",
    WRONG_TYPE: "decision not match reverse type",
    NO_PERMISSION: "No permission to process this order",
    ALREADY_CANCELLED: "reverse already cancelled",
    ALREADY_APPROVED: "Aftersales has been approved and cannot be rejected.",
    CANNOT_REJECT_RECEIVE: "status can't reject receive",
}

# --------------------------------------------------------------------------- reasons

_OOS = ("seller_cancel_unpaid_reason_out_of_stock", "seller_cancel_reason_out_of_stock")
_PRICE = ("seller_cancel_unpaid_reason_wrong_price", "seller_cancel_reason_wrong_price")
_NOT_PAID = "seller_cancel_unpaid_reason_buyer_hasnt_paid_within_time_allowed"
_ASKED = (
    "seller_cancel_unpaid_reason_buyer_requested_cancellation",
    "seller_cancel_paid_reason_buyer_requested_cancellation",
)
_ADDRESS = "seller_cancel_paid_reason_address_not_deliver"


def _market(unpaid: Sequence[str], paid: Sequence[str]) -> dict[str, frozenset[str]]:
    return {"UNPAID": frozenset(unpaid), "PAID": frozenset(paid)}


#: Seller cancellation reasons per market and order status ("cancel-reasons" appendix).
SELLER_CANCEL: Mapping[str, Mapping[str, frozenset[str]]] = {
    "US": _market([_OOS[0], _PRICE[0], _NOT_PAID, _ASKED[0]], [_OOS[1], _PRICE[1], _ADDRESS, _ASKED[1]]),
    "GB": _market(
        [f"{_OOS[0]}_uk", f"{_PRICE[0]}_uk", f"{_NOT_PAID}_uk"],
        [f"{_PRICE[1]}_uk", f"{_ADDRESS}_uk", f"{_OOS[1]}_uk"],
    ),
    "MY": _market([_OOS[0], _PRICE[0], _NOT_PAID], [_OOS[1], _PRICE[1], _ADDRESS]),
    "ID": _market([_OOS[0], _PRICE[0], _NOT_PAID], [_OOS[1], _PRICE[1]]),
    "TH": _market([_OOS[0], _PRICE[0], _NOT_PAID], [_OOS[1], _PRICE[1]]),
    "VN": _market([_OOS[0], _PRICE[0], _NOT_PAID], [_OOS[1], _PRICE[1]]),
    "PH": _market([_OOS[0], _PRICE[0], _NOT_PAID, _ASKED[0]], [_OOS[1], _PRICE[1], _ASKED[1]]),
    "SG": _market([_OOS[0], _PRICE[0]], [_OOS[1], _PRICE[1]]),
}
#: withdrawn since March 2024 in ID, SG, TH, VN and PH (changelog "Removal of unable to
#: deliver to buyer address as a cancellation reason")
OFFLINE = frozenset({_ADDRESS, "seller_cancel_unable_to_deliver_to_buyer_address"})

#: The buyer's reasons the emulator's buyers give: name -> text.
BUYER_REASONS: Mapping[str, str] = {
    "ecom_order_to_ship_canceled_reason_created_by_mistakes": "Bought by mistake",
    "ecom_order_to_ship_canceled_reason_no_longer_needed": "No longer needed",
    "ecom_order_to_ship_canceled_reason_wrong_delivery_info": "Incorrect shipping address",
    "ecom_order_delivered_refund_and_return_reason_defective": "Defective item",
    "ecom_order_delivered_refund_and_return_reason_wrong_product": "Wrong item was sent",
    "ecom_order_delivered_refund_and_return_reason_damaged": "Damaged item or packaging",
    "ecom_order_delivered_refund_reason_not_received": "Package wasn't received",
}

#: Seller reasons to reject a buyer's cancellation ("cancel-reasons").
CANCEL_REJECT: Mapping[str, str] = {
    "order_manage_list_action_respond_popup_reject_reason_invalid_cancellation_reason": (
        "Invalid reason for cancellation"
    ),
    "order_manage_list_action_respond_popup_reject_reason_delivered": "Product delivery is on schedule",
    "order_manage_list_action_respond_popup_reject_reason_buyer_agree": "Reached an agreement with the buyer",
    "seller_reject_apply_product_has_been_packed": "Product has been packed",
}
#: ... a return or refund request ("return-reasons", "refund-reasons")
REQUEST_REJECT: Mapping[str, str] = {
    "reverse_reject_request_reason_1": "Buyer return reason is not valid",
    "reverse_reject_request_reason_2": "Change of mind returns are not applicable",
    "reverse_reject_request_reason_3": "Not eligible for return (e.g. used or broken)",
    "reverse_reject_request_reason_4": "Product delivery is on schedule",
    "reverse_reject_request_reason_5": "You have reached an agreement with the buyer",
    "seller_reject_apply_item_is_correct": "Item is correct",
    "seller_reject_apply_reason_is_unclear_or_lack_of_evidence": "Reason is unclear or lack of evidence",
}
#: ... a returned package
PACKAGE_REJECT: Mapping[str, str] = {
    "reverse_reject_return_parcel_reason_1": "The product returned is not the product that was sent",
    "reverse_reject_return_parcel_reason_2": "Not eligible for return (e.g. used or broken)",
    "reverse_reject_return_parcel_reason_3": "Missing products and/or product parts",
}

CANCEL_STATUSES = (
    "CANCELLATION_REQUEST_PENDING",
    "CANCELLATION_REQUEST_SUCCESS",
    "CANCELLATION_REQUEST_CANCEL",
    "CANCELLATION_REQUEST_COMPLETE",
)
RETURN_STATUSES = (
    "RETURN_OR_REFUND_REQUEST_PENDING",
    "REFUND_OR_RETURN_REQUEST_REJECT",
    "AWAITING_BUYER_SHIP",
    "BUYER_SHIPPED_ITEM",
    "REJECT_RECEIVE_PACKAGE",
    "RETURN_OR_REFUND_REQUEST_SUCCESS",
    "RETURN_OR_REFUND_REQUEST_CANCEL",
    "RETURN_OR_REFUND_REQUEST_COMPLETE",
    "AWAITING_BUYER_RESPONSE",
)
APPROVALS = (
    "APPROVE_REFUND",
    "APPROVE_RETURN",
    "APPROVE_RECEIVED_PACKAGE",
    "APPROVE_REPLACEMENT",
    "ISSUE_REPLACEMENT_REFUND",
    "OFFER_PARTIAL_REFUND",
)
REJECTIONS = ("REJECT_REFUND", "REJECT_RETURN", "REJECT_RECEIVED_PACKAGE", "REJECT_REPLACEMENT")
#: what the seller does next, per (return type, status)
NEXT_ACTION = {
    ("REFUND", "RETURN_OR_REFUND_REQUEST_PENDING"): "SELLER_RESPOND_REFUND",
    ("RETURN_AND_REFUND", "RETURN_OR_REFUND_REQUEST_PENDING"): "SELLER_RESPOND_RETURN",
    ("RETURN_AND_REFUND", "BUYER_SHIPPED_ITEM"): "SELLER_RESPOND_RECEIVE_PACKAGE",
}
CANCELLABLE = ("UNPAID", "ON_HOLD", "AWAITING_SHIPMENT")


class TikTokAfterSales:
    """The Return and Refund API of one :class:`TikTokShopEmulator`, and the buyers' and
    the platform's side of it for tests and the demo."""

    def __init__(self, emulator: TikTokShopEmulator) -> None:
        self.emulator = emulator
        self.cancellations: dict[str, dict[str, Any]] = {}  # cancel id -> record (+ private _keys)
        self.returns: dict[str, dict[str, Any]] = {}  # return id -> record
        #: (path, idempotency key) -> the data answered the first time
        self.answered: dict[tuple[str, str], Any] = {}
        #: every seller decision carried out: (path, body) (tests: nothing applied twice)
        self.decisions: list[tuple[str, dict[str, Any]]] = []

    # ------------------------------------------------------------ plumbing

    def _fail(self, code: int, detail: str = "") -> Reply:
        message = MESSAGES.get(code, "error")
        return self.emulator._fail(code, f"{message} {detail}".strip())

    def _now(self) -> int:
        return int(self.emulator.clock())

    def _touch(self, record: dict[str, Any]) -> None:
        # TikTok's times are seconds: two changes in one second share it (never ahead of now)
        record["update_time"] = max(self._now(), int(record["update_time"]))

    def _body(self, request: Request) -> dict[str, Any] | Reply:
        body = request.json() if request.body else {}
        if not isinstance(body, dict):
            return self._fail(INVALID, "The body must be a JSON object.")
        return body

    def _idempotent(self, request: Request) -> tuple[str, str] | Reply | None:
        key = request.query.get("idempotency_key")
        if key is None:
            return None
        if not key or len(key) > 255:
            return self._fail(INVALID, "idempotency_key takes 1 to 255 characters.")
        return (request.path, key)

    def _answer(self, key: tuple[str, str] | None, data: Any) -> Reply:
        if key is not None:
            self.answered[key] = data
        return self.emulator._ok(data)

    @staticmethod
    def _public(record: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in record.items() if not k.startswith("_")}

    def _refund(
        self, order: Mapping[str, Any], units: Sequence[Mapping[str, Any]], amount: Decimal | None = None
    ) -> dict[str, str]:
        currency = order["payment"]["currency"]
        exponent = self.emulator.shops[order["_shop_id"]].spec.exponent
        total = amount if amount is not None else sum((Decimal(u["sale_price"]) for u in units), Decimal(0))
        text = str(total.quantize(Decimal(1).scaleb(-exponent)))
        return {
            "currency": currency,
            "refund_total": text,
            "refund_subtotal": text,
            "refund_shipping_fee": "0",
            "refund_tax": "0",
        }

    def _line_items(
        self, order: Mapping[str, Any], units: Sequence[Mapping[str, Any]], prefix: str
    ) -> list[dict[str, Any]]:
        currency = order["payment"]["currency"]
        return [
            {
                f"{prefix}_line_item_id": self.emulator._next_id(4035),
                "order_line_item_id": u["id"],
                "sku_id": u["sku_id"],
                "sku_name": u["sku_name"],
                "product_name": u["product_name"],
                "seller_sku": u["seller_sku"],
                "product_image": {
                    "url": "https://p16-oec-va.ibyteimg.com/emulated/product.jpeg",
                    "width": 200,
                    "height": 200,
                },
                "refund_amount": {
                    "currency": currency,
                    "refund_total": u["sale_price"],
                    "refund_subtotal": u["sale_price"],
                    "refund_shipping_fee": "0",
                    "refund_tax": "0",
                },
            }
            for u in units
        ]

    def _pending_of(self, order_id: str) -> dict[str, Any] | None:
        for record in (*self.cancellations.values(), *self.returns.values()):
            status = record.get("cancel_status") or record.get("return_status")
            if record["order_id"] == order_id and status in (
                "CANCELLATION_REQUEST_PENDING",
                "RETURN_OR_REFUND_REQUEST_PENDING",
                "AWAITING_BUYER_RESPONSE",
            ):
                return record
        return None

    def _cancel_order(self, order: dict[str, Any], reason: str, initiator: str) -> None:
        emu = self.emulator
        order["status"] = "CANCELLED"
        order["cancel_reason"] = BUYER_REASONS.get(reason, reason)
        order["cancellation_initiator"] = initiator
        emu._settle_packages(order, emu.shops[order["_shop_id"]])
        emu.touch(order)

    # ------------------------------------------------------------ seller cancels

    async def cancel(self, request: Request) -> Reply:
        """Cancel Order (``POST /return_refund/202309/cancellations``)."""
        emu = self.emulator
        shop = emu._check(request)
        if isinstance(shop, Reply):
            return shop
        body = self._body(request)
        if isinstance(body, Reply):
            return body
        order_id, reason = body.get("order_id"), body.get("cancel_reason")
        if not isinstance(order_id, str) or not order_id or not isinstance(reason, str) or not reason:
            return self._fail(INVALID, "order_id and cancel_reason are required strings.")
        order = emu.orders.get(order_id)
        if order is None:
            return self._fail(NOT_FOUND)
        if order["_shop_id"] != shop.shop_id:
            return self._fail(NO_PERMISSION)
        if order["status"] in ("COMPLETED", "CANCELLED"):
            return self._fail(FINISHED)
        if order["status"] not in CANCELLABLE:
            return self._fail(SHIPPED)
        if self._pending_of(order_id) is not None:
            return self._fail(IN_PROCESS)
        market = SELLER_CANCEL.get(shop.region, SELLER_CANCEL["US"])
        stage = "UNPAID" if order["status"] == "UNPAID" else "PAID"
        known = set().union(*(m for r in SELLER_CANCEL.values() for m in r.values())) | OFFLINE
        if reason in OFFLINE and reason not in market[stage]:
            return self._fail(REASON_OFFLINE)
        if reason in BUYER_REASONS:
            return self._fail(NOT_SELLER_REASON)
        if reason not in known:
            return self._fail(UNKNOWN_REASON)
        if reason not in market[stage]:
            other = "PAID" if stage == "UNPAID" else "UNPAID"
            return self._fail(REASON_STATUS if reason in market[other] else NOT_SELLER_REASON)
        self._cancel_order(order, reason, "SELLER")
        cancel_id = emu._next_id(4035)
        units = order["line_items"]
        now = self._now()
        self.cancellations[cancel_id] = {
            "cancel_id": cancel_id,
            "order_id": order_id,
            "cancel_type": "CANCEL",
            "cancel_status": "CANCELLATION_REQUEST_COMPLETE",
            "role": "SELLER",
            "cancel_reason": reason,
            "cancel_reason_text": reason,
            "create_time": now,
            "update_time": now,
            "seller_next_action_response": [],
            "refund_amount": self._refund(order, units),
            "cancel_line_items": self._line_items(order, units, "cancel"),
            "_shop_id": shop.shop_id,
        }
        self.decisions.append((request.path, dict(body)))
        return emu._ok({"cancel_id": cancel_id, "cancel_status": "CANCELLATION_REQUEST_SUCCESS"})

    # ------------------------------------------------------------ search

    def _search(
        self,
        request: Request,
        rows: Sequence[dict[str, Any]],
        filters: Mapping[str, str],
        statuses: Sequence[str],
        key: str,
        *,
        minimum: int,
    ) -> Reply:
        emu = self.emulator
        shop = emu._check(request)
        if isinstance(shop, Reply):
            return shop
        q = request.query
        try:
            size = int(q.get("page_size", "10"))
        except ValueError:
            return self._fail(INVALID, "page_size must be a number.")
        if not minimum <= size <= 50:
            return self._fail(INVALID, f"page_size valid range: [{minimum}-50].")
        sort_field, sort_order = q.get("sort_field", "create_time"), q.get("sort_order", "ASC")
        if sort_field not in ("create_time", "update_time") or sort_order not in ("ASC", "DESC"):
            return self._fail(INVALID, "sort_field or sort_order is invalid.")
        body = self._body(request)
        if isinstance(body, Reply):
            return body
        found = [r for r in rows if r["_shop_id"] == shop.shop_id]
        for name, field in filters.items():
            if name in body:
                wanted = body[name]
                if not isinstance(wanted, list) or not all(isinstance(w, str) for w in wanted):
                    return self._fail(INVALID, f"{name} must be a list of strings.")
                if name.endswith("status") and any(w not in statuses for w in wanted):
                    return self._fail(INVALID, f"{name} takes {', '.join(statuses)}.")
                found = [r for r in found if str(r.get(field)) in wanted]
        for name in ("create_time", "update_time"):
            for bound in ("ge", "lt"):
                value = body.get(f"{name}_{bound}")
                if f"{name}_{bound}" not in body:
                    continue
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    return self._fail(INVALID, f"{name}_{bound} must be a Unix timestamp (int).")
                found = [r for r in found if (r[name] >= value if bound == "ge" else r[name] < value)]
        descending = sort_order == "DESC"
        found.sort(key=lambda r: (r[sort_field], r[key]), reverse=descending)
        start = 0
        if q.get("page_token"):
            try:
                after = emu._decode_token(q["page_token"])
            except (ValueError, TypeError):
                return self._fail(INVALID, "invalid page_token")
            start = next(
                (
                    i
                    for i, r in enumerate(found)
                    if ((r[sort_field], r[key]) < after if descending else (r[sort_field], r[key]) > after)
                ),
                len(found),
            )
        chunk, following = emu.page(found, start, size)
        token = ""
        if following is not None:
            last = found[following - 1]
            token = emu._encode_token((last[sort_field], last[key]))
        name = "cancellations" if key == "cancel_id" else "return_orders"
        return emu._ok(
            {name: [self._public(r) for r in chunk], "next_page_token": token, "total_count": len(found)}
        )

    async def search_cancellations(self, request: Request) -> Reply:
        filters = {
            "cancel_ids": "cancel_id",
            "order_ids": "order_id",
            "cancel_types": "cancel_type",
            "cancel_status": "cancel_status",
        }
        return self._search(
            request, list(self.cancellations.values()), filters, CANCEL_STATUSES, "cancel_id", minimum=1
        )

    async def search_returns(self, request: Request) -> Reply:
        filters = {
            "return_ids": "return_id",
            "order_ids": "order_id",
            "return_types": "return_type",
            "return_status": "return_status",
            "arbitration_status": "arbitration_status",
        }
        return self._search(
            request, list(self.returns.values()), filters, RETURN_STATUSES, "return_id", minimum=10
        )

    # ------------------------------------------------------------ answers to a cancellation

    def _record(
        self, request: Request, table: Mapping[str, dict[str, Any]]
    ) -> tuple[Shop, dict[str, Any], tuple[str, str] | None, dict[str, Any]] | Reply:
        shop = self.emulator._check(request)
        if isinstance(shop, Reply):
            return shop
        key = self._idempotent(request)
        if isinstance(key, Reply):
            return key
        (record_id,) = request.args
        record = table.get(record_id)
        if record is None:
            return self._fail(NOT_FOUND)
        if record["_shop_id"] != shop.shop_id:
            return self._fail(NO_PERMISSION)
        body = self._body(request)
        if isinstance(body, Reply):
            return body
        return shop, record, key, body

    async def approve_cancellation(self, request: Request) -> Reply:
        found = self._record(request, self.cancellations)
        if isinstance(found, Reply):
            return found
        _, record, key, body = found
        if key in self.answered:
            return self.emulator._ok(self.answered[key])
        if record["cancel_status"] == "CANCELLATION_REQUEST_CANCEL":
            return self._fail(ALREADY_CANCELLED)
        if (
            record["cancel_type"] != "BUYER_CANCEL"
            or record["cancel_status"] != "CANCELLATION_REQUEST_PENDING"
        ):
            return self._fail(CANNOT_APPROVE)
        order = self.emulator.orders[record["order_id"]]
        if order["status"] not in CANCELLABLE:
            return self._fail(SHIPPED)
        self._cancel_order(order, record["cancel_reason"], "BUYER")
        record.update(cancel_status="CANCELLATION_REQUEST_SUCCESS", seller_next_action_response=[])
        self._touch(record)
        self.decisions.append((request.path, body))
        return self._answer(key, {})

    async def reject_cancellation(self, request: Request) -> Reply:
        found = self._record(request, self.cancellations)
        if isinstance(found, Reply):
            return found
        _, record, key, body = found
        if key in self.answered:
            return self.emulator._ok(self.answered[key])
        problem = self._reject_body(body, CANCEL_REJECT)
        if problem is not None:
            return problem
        status = record["cancel_status"]
        if status == "CANCELLATION_REQUEST_CANCEL":
            return self._fail(ALREADY_CANCELLED)
        if status in ("CANCELLATION_REQUEST_SUCCESS", "CANCELLATION_REQUEST_COMPLETE"):
            return self._fail(ALREADY_APPROVED)
        if record["cancel_type"] != "BUYER_CANCEL":
            return self._fail(CANNOT_REJECT)
        record.update(
            cancel_status="CANCELLATION_REQUEST_CANCEL",
            seller_next_action_response=[],
            _rejected=body["reject_reason"],
        )
        self._touch(record)
        self.decisions.append((request.path, body))
        return self._answer(key, {})

    def _reject_body(self, body: Mapping[str, Any], reasons: Mapping[str, str]) -> Reply | None:
        reason = body.get("reject_reason")
        if not isinstance(reason, str) or not reason:
            return self._fail(INVALID, "reject_reason is required.")
        if "comment" in body and not isinstance(body["comment"], str):
            return self._fail(INVALID, "comment must be a string.")
        images = body.get("images", [])
        if not isinstance(images, list) or not all(
            isinstance(i, dict) and isinstance(i.get("image_id"), str) for i in images
        ):
            return self._fail(INVALID, "images take image_id strings.")
        if reason not in reasons:
            every = {**CANCEL_REJECT, **REQUEST_REJECT, **PACKAGE_REJECT}
            return self._fail(REASON_ACTION if reason in every else UNKNOWN_REASON)
        return None

    # ------------------------------------------------------------ answers to a return

    async def approve_return(self, request: Request) -> Reply:
        found = self._record(request, self.returns)
        if isinstance(found, Reply):
            return found
        _, record, key, body = found
        if key in self.answered:
            return self.emulator._ok(self.answered[key])
        decision = body.get("decision")
        if decision not in APPROVALS:
            return self._fail(INVALID, f"decision takes {', '.join(APPROVALS)}.")
        refused = self._decidable(record)
        if refused is not None:
            return refused
        status, kind = record["return_status"], record["return_type"]
        if decision == "OFFER_PARTIAL_REFUND":
            if status != "RETURN_OR_REFUND_REQUEST_PENDING" or record.get("buyer_rejected_partial_refund"):
                return self._fail(PARTIAL_REFUND_STATUS)
            offer = body.get("partial_refund")
            asked = Decimal(record["refund_amount"]["refund_total"])
            try:
                amount = Decimal(str(offer["amount"])) if isinstance(offer, dict) else None
            except (InvalidOperation, KeyError):
                amount = None
            if amount is None or not isinstance(offer, dict) or not isinstance(offer.get("amount"), str):
                return self._fail(
                    INVALID, "partial_refund {currency, amount} is required to offer a partial refund."
                )
            if offer.get("currency") != record["refund_amount"]["currency"]:
                return self._fail(
                    INVALID, f"partial_refund.currency must be {record['refund_amount']['currency']}."
                )
            if not Decimal(0) < amount < asked:
                return self._fail(
                    INVALID, f"partial_refund.amount must be more than 0 and less than the {asked} asked."
                )
            record.update(
                return_status="AWAITING_BUYER_RESPONSE",
                seller_proposed_return_type="PARTIAL_REFUND",
                partial_refund={"currency": offer["currency"], "amount": str(amount)},
                buyer_rejected_partial_refund=False,
                seller_next_action_response=[],
            )
        elif decision == "APPROVE_RECEIVED_PACKAGE":
            if status != "BUYER_SHIPPED_ITEM":
                return self._fail(CANNOT_APPROVE_RECEIVE)
            self._move(record, "RETURN_OR_REFUND_REQUEST_SUCCESS")
        elif decision in ("APPROVE_REFUND", "APPROVE_RETURN"):
            if status != "RETURN_OR_REFUND_REQUEST_PENDING":
                return self._fail(CANNOT_APPROVE)
            if (decision == "APPROVE_REFUND") != (kind == "REFUND"):
                return self._fail(WRONG_TYPE)
            keep = body.get("buyer_keep_item") is True and decision == "APPROVE_RETURN"
            self._move(
                record,
                "RETURN_OR_REFUND_REQUEST_SUCCESS"
                if decision == "APPROVE_REFUND" or keep
                else "AWAITING_BUYER_SHIP",
            )
        else:  # replacement decisions: this emulator's buyers ask for none
            return self._fail(WRONG_TYPE)
        self._touch(record)
        self.decisions.append((request.path, body))
        return self._answer(key, {})

    async def reject_return(self, request: Request) -> Reply:
        found = self._record(request, self.returns)
        if isinstance(found, Reply):
            return found
        _, record, key, body = found
        if key in self.answered:
            return self.emulator._ok(self.answered[key])
        decision = body.get("decision")
        if decision not in REJECTIONS:
            return self._fail(INVALID, f"decision takes {', '.join(REJECTIONS)}.")
        refused = self._decidable(record)
        if refused is not None:
            return refused
        status, kind = record["return_status"], record["return_type"]
        if status in ("RETURN_OR_REFUND_REQUEST_SUCCESS", "RETURN_OR_REFUND_REQUEST_COMPLETE"):
            return self._fail(ALREADY_APPROVED)
        if decision == "REJECT_RECEIVED_PACKAGE":
            if status != "BUYER_SHIPPED_ITEM":
                return self._fail(CANNOT_REJECT_RECEIVE)
            problem = self._reject_body(body, PACKAGE_REJECT)
            then = "REJECT_RECEIVE_PACKAGE"
        else:
            if status != "RETURN_OR_REFUND_REQUEST_PENDING":
                return self._fail(CANNOT_REJECT)
            if (decision == "REJECT_REFUND") != (kind == "REFUND") or decision == "REJECT_REPLACEMENT":
                return self._fail(WRONG_TYPE)
            problem = self._reject_body(body, REQUEST_REJECT)
            then = "REFUND_OR_RETURN_REQUEST_REJECT"
        if problem is not None:
            return problem
        self._move(record, then)
        record["_records"].append(
            {
                "event": "ORDER_RETURN",
                "role": "SELLER",
                "description": "Seller rejected the request",
                "reason_text": {**REQUEST_REJECT, **PACKAGE_REJECT}[body["reject_reason"]],
                "note": body.get("comment", ""),
                "images": [],
                "videos": [],
                "create_time": self._now(),
            }
        )
        self._touch(record)
        self.decisions.append((request.path, body))
        return self._answer(key, {})

    def _decidable(self, record: Mapping[str, Any]) -> Reply | None:
        if record.get("arbitration_status") == "IN_PROGRESS":
            return self._fail(TRANSFERRED)
        if record["return_status"] == "RETURN_OR_REFUND_REQUEST_CANCEL":
            return self._fail(ALREADY_CANCELLED)
        return None

    def _move(self, record: dict[str, Any], status: str) -> None:
        record["return_status"] = status
        action = NEXT_ACTION.get((record["return_type"], status))
        record["seller_next_action_response"] = (
            [{"action": action, "deadline": self._now() + RESPOND_SECONDS}] if action else []
        )

    async def records(self, request: Request) -> Reply:
        shop = self.emulator._check(request)
        if isinstance(shop, Reply):
            return shop
        (return_id,) = request.args
        record = self.returns.get(return_id)
        if record is None:
            return self._fail(NOT_FOUND)
        if record["_shop_id"] != shop.shop_id:
            return self._fail(NO_PERMISSION)
        return self.emulator._ok({"records": list(record["_records"])})

    async def reject_reasons(self, request: Request) -> Reply:
        shop = self.emulator._check(request)
        if isinstance(shop, Reply):
            return shop
        wanted = request.query.get("return_or_cancel_id", "")
        if not wanted:
            return self._fail(INVALID, "return_or_cancel_id is required.")
        record = self.cancellations.get(wanted) or self.returns.get(wanted)
        if record is None:
            return self._fail(NOT_FOUND)
        if record["_shop_id"] != shop.shop_id:
            return self._fail(NO_PERMISSION)
        if wanted in self.cancellations:
            reasons = CANCEL_REJECT
        elif record["return_status"] == "BUYER_SHIPPED_ITEM":
            reasons = PACKAGE_REJECT
        else:
            reasons = REQUEST_REJECT
        return self.emulator._ok({"reasons": [{"name": n, "text": t} for n, t in reasons.items()]})

    # ------------------------------------------------------------ the buyer and the platform

    def buyer_cancels(
        self, order_id: str, reason: str = "ecom_order_to_ship_canceled_reason_created_by_mistakes"
    ) -> str:
        """The buyer asks to cancel an order not yet shipped; returns the cancel id."""
        order = self.emulator.orders[order_id]
        if order["status"] not in CANCELLABLE or self._pending_of(order_id):
            raise ValueError(f"order {order_id} ({order['status']}) cannot take a cancellation request")
        cancel_id = self.emulator._next_id(4036)
        now = self._now()
        self.cancellations[cancel_id] = {
            "cancel_id": cancel_id,
            "order_id": order_id,
            "cancel_type": "BUYER_CANCEL",
            "cancel_status": "CANCELLATION_REQUEST_PENDING",
            "role": "BUYER",
            "cancel_reason": reason,
            "cancel_reason_text": BUYER_REASONS.get(reason, reason),
            "create_time": now,
            "update_time": now,
            "seller_next_action_response": [
                {"action": "SELLER_RESPOND_CANCEL", "deadline": now + RESPOND_SECONDS}
            ],
            "refund_amount": self._refund(order, order["line_items"]),
            "cancel_line_items": self._line_items(order, order["line_items"], "cancel"),
            "_shop_id": order["_shop_id"],
        }
        return cancel_id

    def buyer_returns(
        self,
        order_id: str,
        return_type: str = "RETURN_AND_REFUND",
        *,
        units: int | None = None,
        reason: str = "ecom_order_delivered_refund_and_return_reason_defective",
        note: str = "",
        images: Sequence[str] = (),
        amount: str | None = None,
    ) -> str:
        """The buyer asks to return (``RETURN_AND_REFUND``) or to be refunded (``REFUND``)
        for the first ``units`` units of a shipped order (all by default); ``amount``: what
        the buyer asks (the units' prices by default). Returns the return id."""
        if return_type not in ("REFUND", "RETURN_AND_REFUND"):
            raise ValueError(return_type)
        order = self.emulator.orders[order_id]
        if order["status"] not in ("AWAITING_COLLECTION", "IN_TRANSIT", "DELIVERED", "COMPLETED"):
            raise ValueError(f"order {order_id} ({order['status']}) cannot take a return request")
        chosen = order["line_items"][: units or len(order["line_items"])]
        return_id = self.emulator._next_id(4037)
        now = self._now()
        record: dict[str, Any] = {
            "return_id": return_id,
            "order_id": order_id,
            "return_type": return_type,
            "return_status": "RETURN_OR_REFUND_REQUEST_PENDING",
            "role": "BUYER",
            "return_reason": reason,
            "return_reason_text": BUYER_REASONS.get(reason, reason),
            "shipment_type": "PLATFORM",
            "handover_method": "DROP_OFF",
            "return_tracking_number": "",
            "return_provider_name": "",
            "can_buyer_keep_item": return_type == "REFUND",
            "create_time": now,
            "update_time": now,
            "seller_next_action_response": [],
            "return_line_items": self._line_items(order, chosen, "return"),
            "refund_amount": self._refund(order, chosen, Decimal(amount) if amount else None),
            "return_method": "PLATFORM_SHIPPED",
            "_shop_id": order["_shop_id"],
            "_records": [
                {
                    "event": "ORDER_RETURN",
                    "role": "BUYER",
                    "description": "Customer submitted a return request",
                    "reason_text": BUYER_REASONS.get(reason, reason),
                    "note": note,
                    "images": [{"url": url, "width": 800, "height": 800} for url in images],
                    "videos": [],
                    "create_time": now,
                }
            ],
        }
        self._move(record, "RETURN_OR_REFUND_REQUEST_PENDING")
        self.returns[return_id] = record
        return return_id

    def buyer_ships_return(self, return_id: str) -> None:
        record = self.returns[return_id]
        if record["return_status"] != "AWAITING_BUYER_SHIP":
            raise ValueError(f"return {return_id} is {record['return_status']}")
        record.update(
            return_tracking_number=f"RT{random.Random(return_id).randint(10**11, 10**12 - 1)}",
            return_provider_name="J&T Express",
        )
        self._move(record, "BUYER_SHIPPED_ITEM")
        self._touch(record)

    def buyer_answers_offer(self, return_id: str, *, accept: bool) -> None:
        record = self.returns[return_id]
        if record["return_status"] != "AWAITING_BUYER_RESPONSE":
            raise ValueError(f"return {return_id} is {record['return_status']}")
        record["buyer_rejected_partial_refund"] = not accept
        self._move(
            record, "RETURN_OR_REFUND_REQUEST_SUCCESS" if accept else "RETURN_OR_REFUND_REQUEST_PENDING"
        )
        self._touch(record)

    def buyer_withdraws(self, case_id: str) -> None:
        if case_id in self.cancellations:
            record = self.cancellations[case_id]
            record.update(cancel_status="CANCELLATION_REQUEST_CANCEL", seller_next_action_response=[])
        else:
            record = self.returns[case_id]
            self._move(record, "RETURN_OR_REFUND_REQUEST_CANCEL")
        self._touch(record)

    def buyer_appeals(self, return_id: str) -> None:
        """The buyer takes a rejected return to TikTok: the platform arbitrates."""
        record = self.returns[return_id]
        if record["return_status"] not in ("REFUND_OR_RETURN_REQUEST_REJECT", "REJECT_RECEIVE_PACKAGE"):
            raise ValueError(f"return {return_id} is {record['return_status']}")
        record["arbitration_status"] = "IN_PROGRESS"
        self._touch(record)

    def platform_decides(self, return_id: str, *, for_buyer: bool) -> None:
        record = self.returns[return_id]
        record["arbitration_status"] = "SUPPORT_BUYER" if for_buyer else "SUPPORT_SELLER"
        if for_buyer:
            self._move(record, "RETURN_OR_REFUND_REQUEST_SUCCESS")
        self._touch(record)

    def refund_paid(self, case_id: str) -> None:
        """TikTok pays the refund of an approved cancellation or return."""
        if case_id in self.cancellations:
            record = self.cancellations[case_id]
            if record["cancel_status"] != "CANCELLATION_REQUEST_SUCCESS":
                raise ValueError(f"cancellation {case_id} is {record['cancel_status']}")
            record["cancel_status"] = "CANCELLATION_REQUEST_COMPLETE"
        else:
            record = self.returns[case_id]
            if record["return_status"] != "RETURN_OR_REFUND_REQUEST_SUCCESS":
                raise ValueError(f"return {case_id} is {record['return_status']}")
            self._move(record, "RETURN_OR_REFUND_REQUEST_COMPLETE")
        self._touch(record)

    def demo_activity(self, shop: Shop, rng: random.Random) -> None:
        """Now and then a buyer of ``shop`` asks for something after buying: a cancellation
        of an order not shipped yet, or a return or refund of one delivered; and cases that
        have waited move on as buyers and TikTok would."""
        orders = [o for o in self.emulator.orders.values() if o["_shop_id"] == shop.shop_id]
        open_ = [o for o in orders if o["status"] in ("AWAITING_SHIPMENT",) and not self._pending_of(o["id"])]
        delivered = [
            o for o in orders if o["status"] in ("DELIVERED", "COMPLETED") and not self._pending_of(o["id"])
        ]
        draw = rng.random()
        if draw < 0.5 and open_:
            reason = rng.choice(list(BUYER_REASONS)[:3])
            self.buyer_cancels(rng.choice(open_)["id"], reason)
        elif delivered:
            self.buyer_returns(
                rng.choice(delivered)["id"],
                rng.choice(("REFUND", "RETURN_AND_REFUND")),
                units=1,
                reason=rng.choice(list(BUYER_REASONS)[3:6]),
                note="It arrived like this, see the photos.",
                images=["https://p16-oec-va.ibyteimg.com/emulated/evidence-1.jpeg"],
            )
        for record in list(self.returns.values()):
            if record["_shop_id"] != shop.shop_id:
                continue
            if record["return_status"] == "AWAITING_BUYER_SHIP":
                self.buyer_ships_return(record["return_id"])
            elif record["return_status"] == "AWAITING_BUYER_RESPONSE":
                self.buyer_answers_offer(record["return_id"], accept=rng.random() < 0.6)
            elif record["return_status"] == "RETURN_OR_REFUND_REQUEST_SUCCESS":
                self.refund_paid(record["return_id"])
