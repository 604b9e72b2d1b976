"""The emulator's reverse-order desk: the seller's cancellations and the buyers'
cancellation, return and refund-only requests, served the way Lazada's reverse APIs do.

Served paths: ``/order/reverse/cancel/validate``, ``/order/reverse/cancel/create``,
``/reverse/getreverseordersforseller``, ``/order/reverse/return/detail/list``,
``/order/reverse/return/history/list``, ``/order/reverse/reason/list``,
``/order/reverse/cancel/seller/decide``, ``/order/reverse/return/update``,
``/order/reverse/onlyrefund/seller/decide``. Their parameters, answers and error codes are
the reference's (lazykern/ecommerce-api-docs ``data/raw/lazada/apis/order-api/
ordercancelvalidate.json`` and ``return-and-refund-api/*.json``); the statuses after the
first step and the reason lists are our own (UNCONFIRMED: the plugin README).

Tests (and the demo) drive the buyer's and the platform's side: :meth:`buyer_cancels`,
:meth:`buyer_returns` (with photos, a reason, a refund), :meth:`buyer_ships_back`,
:meth:`buyer_withdraws`, :meth:`platform_decides`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from crossdock.testing.emulator import Reply, Request

if TYPE_CHECKING:
    from crossdock_lazada.emulator import LazadaEmulator, Seller

__all__ = ["CANCEL_REASONS", "ReverseDesk"]

#: OrderCancelValidate's ``reason_options``: the three of the order-cancellation guide's
#: example, and an "Others" of ours (UNCONFIRMED).
CANCEL_REASONS = (
    ("10000019", "Sourcing Delay"),
    ("10000021", "Out of Stock"),
    ("10000023", "Wrong Price or Pricing Error"),
    ("10000029", "Others"),
)
#: Reasons whose cancellation sets the SKU's stock to 0 (the guide's note 2).
STOCK_TO_ZERO = frozenset({"10000021", "10000023"})
#: Units the seller may cancel: "Pending ~ Ready To Ship".
CANCELLABLE = frozenset({"unpaid", "pending", "topack", "packed", "repacked", "ready_to_ship"})
#: GetReverseOrderReasonList per request type (ids and words ours, UNCONFIRMED).
REFUSAL_REASONS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "CANCEL": (
        ("1019", "Already handed over to the logistics partner"),
        ("1020", "Logistics information has been updated"),
        ("1022", "Others"),
    ),
    "RETURN": (
        ("2001", "Item is not damaged or defective as claimed"),
        ("2002", "Return request is outside the return window"),
        ("2003", "Item returned is not the item sent"),
        ("2009", "Others"),
    ),
    "ONLY_REFUND": (("3009", "Others"),),
}
RETURN_ACTIONS = frozenset(
    {"instantRefund", "agreeReturn", "refuseReturn", "agreeRefund", "refuseRefund", "confirmDelivery"}
)
WAITING, AGREED = "REQUEST_INITIATE", "REQUEST_COMPLETE"
DAY_MS = 86_400_000


class ReverseDesk:
    """Reverse orders of the emulator's sellers (one per buyer request)."""

    def __init__(self, emulator: LazadaEmulator) -> None:
        self.em = emulator
        #: reverse_order_id -> the reverse order (``_seller``, ``_history`` are private)
        self.reverse_orders: dict[str, dict[str, Any]] = {}
        self._ids = 700_000_000_000
        #: the cancellation reasons OrderCancelValidate offers (they differ per country)
        self.cancel_reasons: tuple[tuple[str, str], ...] = CANCEL_REASONS
        #: every answer carried out: (action, reverse order or order id, unit/line ids)
        self.applied: list[tuple[str, str, tuple[str, ...]]] = []
        for path, handler in (
            ("/order/reverse/cancel/validate", self._cancel_validate),
            ("/order/reverse/cancel/create", self._cancel_create),
            ("/reverse/getreverseordersforseller", self._list),
            ("/order/reverse/return/detail/list", self._detail),
            ("/order/reverse/return/history/list", self._history),
            ("/order/reverse/reason/list", self._reasons),
            ("/order/reverse/cancel/seller/decide", self._cancel_decide),
            ("/order/reverse/return/update", self._return_update),
            ("/order/reverse/onlyrefund/seller/decide", self._refund_decide),
        ):
            emulator.route("GET", path, handler)
            emulator.route("POST", path, handler)

    def _next_id(self) -> str:
        self._ids += 17
        return str(self._ids)

    def _fail(self, code: str, message: str) -> Reply:
        return self.em._fail(code, message, "ISV")

    # ------------------------------------------------------------------ buyers and platform

    def _open(
        self,
        order_id: str,
        request_type: str,
        units: Sequence[dict[str, Any]],
        *,
        reason: str,
        photos: Sequence[str] = (),
        refund: Decimal | None = None,
        respond_days: float = 2,
    ) -> str:
        order = self.em.orders[order_id]
        seller = self.em.sellers[order["_seller"]]
        currency = units[0]["currency"]
        now = self.em._now_ms()
        reverse_id = self._next_id()
        lines = []
        for n, unit in enumerate(units):
            paid = Decimal(unit["paid_price"])
            share = paid if refund is None else (refund / len(units))
            if refund is not None and n == len(units) - 1:
                share = refund - (refund / len(units)) * (len(units) - 1)
            cents = share if currency == "VND" else share * 100
            lines.append(
                {
                    "reverse_order_line_id": self._next_id(),
                    "trade_order_line_id": str(unit["order_item_id"]),
                    "reverse_status": WAITING,
                    "ofc_status": "INITIAL",
                    "is_dispute": "false",
                    "is_need_refund": "true",
                    "refund_amount": str(int(cents.to_integral_value())),
                    "item_unit_price": str(
                        int((paid if currency == "VND" else paid * 100).to_integral_value())
                    ),
                    "reason_text": reason,
                    "reason_code": str(100 + len(reason) % 50),
                    "refund_payment_method": "Original payment method",
                    "whqc_decision": "",
                    "seller_sku_id": unit["sku"],
                    "platform_sku_id": unit["shop_sku"],
                    "product": {"product_id": unit["product_id"], "product_sku": unit["sku_id"]},
                    "buyer": {"buyer_id": str(self.em.buyer_account(order["customer_first_name"]))},
                    "trade_order_gmt_create": str(int(order["_created"] * 1000)),
                    "return_order_line_gmt_create": str(now),
                    "return_order_line_gmt_modified": str(now),
                    "sla": str(now + int(respond_days * DAY_MS)),
                    "tracking_number": "",
                    "receiver_address": ""
                    if request_type != "RETURN"
                    else f"Seller {seller.seller_id} warehouse",
                }
            )
        self.reverse_orders[reverse_id] = {
            "reverse_order_id": reverse_id,
            "trade_order_id": str(order_id),
            "request_type": request_type,
            "is_rtm": "true",
            "shipping_type": "DROP_OFF" if request_type == "RETURN" else "DEFAULT",
            "reverse_order_lines": lines,
            "_seller": seller.seller_id,
            "_history": [{"operator": "buyer", "picture": list(photos), "time": str(now)}],
        }
        return reverse_id

    def buyer_cancels(
        self, order_id: str, *, reason: str = "Change of mind", item_ids: Sequence[int] | None = None
    ) -> str:
        """The buyer asks to cancel the order's units that are not shipped yet; returns the
        reverse order's id."""
        units = [
            i
            for i in self.em.orders[order_id]["_items"]
            if i["status"] in CANCELLABLE and (item_ids is None or i["order_item_id"] in item_ids)
        ]
        if not units:
            raise ValueError(f"order {order_id} has nothing the buyer can still cancel")
        return self._open(order_id, "CANCEL", units, reason=reason, respond_days=1)

    def buyer_returns(
        self,
        order_id: str,
        *,
        refund_only: bool = False,
        reason: str = "Damaged item",
        photos: Sequence[str] = (),
        refund: str | None = None,
        units: int | None = None,
    ) -> str:
        """The buyer asks to return delivered units (or, ``refund_only``, for a refund
        without a return), with photos and a reason; ``refund`` is the total asked (the
        units' paid price by default). Returns the reverse order's id."""
        delivered = [i for i in self.em.orders[order_id]["_items"] if i["status"] == "delivered"]
        if not delivered:
            raise ValueError(f"order {order_id} has no delivered units to return")
        chosen = delivered[: units or len(delivered)]
        return self._open(
            order_id,
            "ONLY_REFUND" if refund_only else "RETURN",
            chosen,
            reason=reason,
            photos=photos,
            refund=Decimal(refund) if refund is not None else None,
        )

    def _move(self, reverse_id: str, lines: Sequence[dict[str, Any]] | None = None, **changes: str) -> None:
        order = self.reverse_orders[reverse_id]
        for line in lines if lines is not None else order["reverse_order_lines"]:
            line.update(changes)
            line["return_order_line_gmt_modified"] = str(self.em._now_ms())

    def buyer_ships_back(self, reverse_id: str) -> None:
        """The buyer hands the return to the carrier (after the seller agreed)."""
        order = self.reverse_orders[reverse_id]
        for line in order["reverse_order_lines"]:
            if line["reverse_status"] != AGREED or line["ofc_status"] != "RETURN_PENDING":
                raise ValueError(f"reverse order {reverse_id} is not waiting for the buyer's parcel")
        self._move(reverse_id, ofc_status="SHIPPING_BACK", tracking_number=f"LZRT{self._next_id()}")

    def buyer_withdraws(self, reverse_id: str) -> None:
        """The buyer cancels the request."""
        self._move(reverse_id, reverse_status="REQUEST_CANCEL", ofc_status="RETURN_CANCELED")

    def platform_decides(self, reverse_id: str, *, for_buyer: bool) -> None:
        """Lazada settles a dispute: the buyer is refunded, or the request is refused."""
        if for_buyer:
            self._move(reverse_id, reverse_status=AGREED, ofc_status="REFUND_SUCCESS", is_dispute="false")
        else:
            self._move(
                reverse_id, reverse_status="REQUEST_REJECT", ofc_status="REFUND_REJECTED", is_dispute="false"
            )

    def demo_cases(self, seller_id: int, order_ids: Sequence[str], seed: int) -> None:
        """A shop's after-sales backlog: a few buyers asked to cancel a pending order, a few
        returned a delivered one (with photos) or asked for a refund."""
        rng = random.Random(seed * 31 + 7)
        for order_id in order_ids:
            items = self.em.orders[order_id]["_items"]
            statuses = {i["status"] for i in items}
            draw = rng.random()
            if statuses == {"pending"} and draw < 0.05:
                self.buyer_cancels(
                    order_id,
                    reason=rng.choice(["Change of mind", "Found cheaper elsewhere", "Duplicate order"]),
                )
            elif statuses == {"delivered"} and draw < 0.25:
                self.buyer_returns(
                    order_id,
                    refund_only=draw < 0.05,
                    reason=rng.choice(["Damaged item", "Wrong item delivered", "Item not as described"]),
                    photos=[
                        f"https://img.lazcdn.com/reverse/{order_id}-{n}.jpg" for n in range(rng.randint(1, 3))
                    ],
                )

    # ------------------------------------------------------------------ seller cancellation

    def _cancel_params(
        self, request: Request
    ) -> tuple[dict[str, str], Seller, dict[str, Any], list[dict[str, Any]]] | Reply:
        checked = self.em._check(request)
        if isinstance(checked, Reply):
            return checked
        params, seller = checked
        assert seller is not None
        if not params.get("order_id"):
            return self._fail("115", "E0115: order id is null")
        order = self.em._own_order(seller, params["order_id"])
        if order is None:
            return self._fail("122", "E0122: invalid trade order")
        try:
            wanted = json.loads(params.get("order_item_id_list", ""))
        except ValueError:
            wanted = None
        if not isinstance(wanted, list) or not wanted:
            return self._fail("102", "E0102: trade order line id is empty or invalid")
        by_id = {str(i["order_item_id"]): i for i in order["_items"]}
        unknown = [str(w) for w in wanted if str(w) not in by_id]
        if unknown:
            return self._fail("123", f"E0123: invalid trade order lines {unknown}")
        return params, seller, order, [by_id[str(w)] for w in wanted]

    @staticmethod
    def _not_cancellable(units: Sequence[Mapping[str, Any]]) -> str | None:
        stuck = sorted({u["status"] for u in units if u["status"] not in CANCELLABLE})
        if not stuck:
            return None
        return (
            f"This order cannot be cancelled: its items are {', '.join(stuck)}. Only items from "
            "Pending to Ready To Ship can be cancelled."
        )

    async def _cancel_validate(self, request: Request) -> Reply:
        got = self._cancel_params(request)
        if isinstance(got, Reply):
            return got
        _, _, _, units = got
        problem = self._not_cancellable(units)
        if problem:
            return self.em._ok(data={"tip_type": "error", "tip_content": problem, "reason_options": []})
        return self.em._ok(
            data={
                "tip_type": "warning",
                "tip_content": "SKU stock may be set to 0 after cancellation due to reasons: 'out of stock' "
                "or 'incorrect pricing'.",
                "reason_options": [
                    {"reason_name": name, "reason_id": rid} for rid, name in self.cancel_reasons
                ],
            }
        )

    async def _cancel_create(self, request: Request) -> Reply:
        got = self._cancel_params(request)
        if isinstance(got, Reply):
            return got
        params, seller, order, units = got
        reason = params.get("reason_id", "")
        if reason not in {rid for rid, _ in self.cancel_reasons}:
            return self._fail("104", "E0104: reason is empty or invalid")
        problem = self._not_cancellable(units)
        if problem:
            return self.em._ok(data={"tip_type": "error", "tip_content": problem})
        packages = {u["package_id"] for u in units if u["package_id"]}
        # a packed unit takes the other units of its package with it (the guide's note 3)
        for item in order["_items"]:
            if item in units or (item["package_id"] and item["package_id"] in packages):
                item.update(status="canceled", _updated=int(self.em.clock()))
                if reason in STOCK_TO_ZERO and item["sku"] in seller.skus:
                    seller.skus[item["sku"]]["quantity"] = 0
        for package_id in packages:
            if package_id in self.em.packages:
                self.em.packages[package_id]["live"] = False
        self.em.touch(order["order_id"])
        self.applied.append(("cancel", str(order["order_id"]), tuple(str(u["order_item_id"]) for u in units)))
        return self.em._ok(
            data={
                "tip_type": "success",
                "tip_content": "The order has been cancelled and SKU stock may have been set to 0.",
            }
        )

    # ------------------------------------------------------------------ reading

    def _public(self, reverse: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in reverse.items() if not k.startswith("_")}

    def _own(self, seller: Seller, reverse_id: str) -> dict[str, Any] | None:
        reverse = self.reverse_orders.get(str(reverse_id))
        return reverse if reverse is not None and reverse["_seller"] == seller.seller_id else None

    def _line(self, seller: Seller, line_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        for reverse in self.reverse_orders.values():
            if reverse["_seller"] != seller.seller_id:
                continue
            for line in reverse["reverse_order_lines"]:
                if line["reverse_order_line_id"] == str(line_id):
                    return reverse, line
        return None

    async def _list(self, request: Request) -> Reply:
        checked = self.em._check(request)
        if isinstance(checked, Reply):
            return checked
        params, seller = checked
        assert seller is not None
        for name in ("page_size", "page_no"):
            if not params.get(name):
                return self.em._fail(
                    "MissingParameter", f"The input parameter '{name}' that is mandatory is not supplied"
                )
        size, page = params["page_size"], params["page_no"]
        # the list API documents no codes of its own: 120/121 are its sibling's (history list)
        if not size.isdigit() or not 1 <= int(size) <= 100:
            return self._fail("120", "E0120: page size invalid")
        if not page.isdigit() or int(page) < 1:
            return self._fail("121", "E0121: page number invalid")
        bounds = []
        for name in ("ReverseOrderLineModifiedTimeRangeStart", "ReverseOrderLineModifiedTimeRangeEnd"):
            value = params.get(name, "")
            if value and not value.isdigit():
                return self.em._fail("InvalidParameter", f"{name} must be a timestamp in milliseconds")
            bounds.append(int(value) if value else None)
        start, end = bounds

        def listed(reverse: Mapping[str, Any]) -> bool:
            if reverse["_seller"] != seller.seller_id:
                return False
            if params.get("reverse_order_id") and reverse["reverse_order_id"] != params["reverse_order_id"]:
                return False
            if params.get("trade_order_id") and reverse["trade_order_id"] != params["trade_order_id"]:
                return False
            stamps = [int(line["return_order_line_gmt_modified"]) for line in reverse["reverse_order_lines"]]
            return any((start is None or s >= start) and (end is None or s <= end) for s in stamps)

        # newest first (the reference does not say; the plugin sorts each page itself)
        rows = sorted(
            (r for r in self.reverse_orders.values() if listed(r)),
            key=lambda r: int(r["reverse_order_id"]),
            reverse=True,
        )
        chunk, _ = self.em.page(rows, (int(page) - 1) * int(size), int(size))
        return self.em._ok(
            result={
                "success": "true",
                "page_no": page,
                "page_size": size,
                "total": str(len(rows)),
                "items": [self._public(r) for r in chunk],
            }
        )

    async def _detail(self, request: Request) -> Reply:
        checked = self.em._check(request)
        if isinstance(checked, Reply):
            return checked
        params, seller = checked
        assert seller is not None
        reverse = self._own(seller, params.get("reverse_order_id", ""))
        if reverse is None:
            return self._fail("105", "E0105: reverse order id is empty or invalid")
        public = self._public(reverse)
        public["reverseOrderLineDTOList"] = [
            {
                **{k: v for k, v in line.items() if k not in ("product", "buyer", "receiver_address")},
                "productDTO": {
                    "product_id": line["product"]["product_id"],
                    "sku": line["product"]["product_sku"],
                },
                "buyer": {"user_id": line["buyer"]["buyer_id"]},
            }
            for line in public.pop("reverse_order_lines")
        ]
        return self.em._ok(data=public)

    async def _history(self, request: Request) -> Reply:
        checked = self.em._check(request)
        if isinstance(checked, Reply):
            return checked
        params, seller = checked
        assert seller is not None
        found = self._line(seller, params.get("reverse_order_line_id", ""))
        if found is None:
            return self._fail("103", "E0103: reverse order line id is empty or invalid")
        size, page = params.get("page_size") or "10", params.get("page_number") or "1"
        if not size.isdigit() or not 1 <= int(size) <= 100:
            return self._fail("120", "E0120: page size invalid")
        if not page.isdigit() or int(page) < 1:
            return self._fail("121", "E0121: page number invalid")
        history = found[0]["_history"]
        chunk = history[(int(page) - 1) * int(size) : int(page) * int(size)]
        return self.em._ok(
            data={
                "list": [dict(h) for h in chunk],
                "page_info": {"page_size": size, "current_page_number": page, "total": str(len(history))},
            }
        )

    async def _reasons(self, request: Request) -> Reply:
        checked = self.em._check(request)
        if isinstance(checked, Reply):
            return checked
        params, seller = checked
        assert seller is not None
        found = self._line(seller, params.get("reverse_order_line_id", ""))
        if found is None:
            return self._fail("103", "E0103: reverse order line id is empty or invalid")
        options = REFUSAL_REASONS.get(found[0]["request_type"], ())
        return self.em._ok(
            data=[{"reason_id": rid, "text": text, "muti_language_text": text} for rid, text in options]
        )

    # ------------------------------------------------------------------ the seller's answers

    def _note(self, reverse: dict[str, Any], pictures: Sequence[str] = ()) -> None:
        reverse["_history"].append(
            {"operator": "seller", "picture": list(pictures), "time": str(self.em._now_ms())}
        )

    async def _cancel_decide(self, request: Request) -> Reply:
        checked = self.em._check(request)
        if isinstance(checked, Reply):
            return checked
        params, seller = checked
        assert seller is not None
        reverse = self._own(seller, params.get("reverse_order_id", ""))
        if reverse is None or reverse["request_type"] != "CANCEL":
            return self._fail("105", "E0105: reverse order id is empty or invalid")
        agree = params.get("agree_cancel", "").lower()
        if agree not in ("true", "false"):
            return self.em._fail(
                "MissingParameter", "The input parameter 'agree_cancel' that is mandatory is not supplied"
            )
        lines = reverse["reverse_order_lines"]
        if any(line["reverse_status"] != WAITING for line in lines):
            return self._fail("131", "E0131: no decision for this reverse order")
        if agree == "false":
            reason = params.get("reason_code", "")
            if reason and reason not in {rid for rid, _ in REFUSAL_REASONS["CANCEL"]}:
                return self._fail("104", "E0104: reason is empty or invalid")
            self._move(reverse["reverse_order_id"], reverse_status="REQUEST_REJECT")
        else:
            units = {line["trade_order_line_id"] for line in lines}
            order = self.em.orders[reverse["trade_order_id"]]
            if any(
                i["status"] not in CANCELLABLE for i in order["_items"] if str(i["order_item_id"]) in units
            ):
                return self._fail("131", "E0131: no decision for this reverse order")  # it has shipped
            for item in order["_items"]:
                if str(item["order_item_id"]) in units:
                    item.update(status="canceled", _updated=int(self.em.clock()))
            self.em.touch(order["order_id"])
            self._move(reverse["reverse_order_id"], reverse_status="CANCEL_SUCCESS")
        self._note(reverse)
        self.applied.append((f"agree_cancel={agree}", reverse["reverse_order_id"], ()))
        return self.em._ok()

    def _answer_params(
        self, request: Request, actions: frozenset[str]
    ) -> tuple[dict[str, str], dict[str, Any], list[dict[str, Any]]] | Reply:
        checked = self.em._check(request)
        if isinstance(checked, Reply):
            return checked
        params, seller = checked
        assert seller is not None
        if params.get("action", "") not in actions:
            return self._fail("107", "E0107: invalid action")
        if not params.get("reverse_order_id", "").isdigit():
            return self._fail("125", "E0125: invalid reverse id")
        reverse = self._own(seller, params["reverse_order_id"])
        if reverse is None:
            return self._fail("112", "E0112: no reverse order found")
        try:
            wanted = json.loads(params.get("reverse_order_item_ids", ""))
        except ValueError:
            wanted = None
        if not isinstance(wanted, list) or not wanted:
            return self._fail("100", "E0100: reverse order list is empty")
        by_id = {line["reverse_order_line_id"]: line for line in reverse["reverse_order_lines"]}
        if any(str(w) not in by_id for w in wanted):
            return self._fail("126", "E0126: invalid reverse order lines")
        return params, reverse, [by_id[str(w)] for w in wanted]

    async def _return_update(self, request: Request) -> Reply:
        got = self._answer_params(request, RETURN_ACTIONS)
        if isinstance(got, Reply):
            return got
        params, reverse, lines = got
        action = params["action"]
        if reverse["request_type"] != "RETURN":
            return self._fail("114", "E0114: this reverse does not support this action")
        images = self._images(params.get("image_info"), "url")
        if action in ("refuseReturn", "refuseRefund"):
            if len(lines) > 1:
                return self._fail(
                    "111",
                    "E0111: do not support massive reverse order line operation if you want to refuse "
                    "return or refund",
                )
            if params.get("reason_id", "") not in {rid for rid, _ in REFUSAL_REASONS["RETURN"]}:
                return self._fail(
                    "108", "E0108: reason can't be empty if you want to refuse return or refund"
                )
            if not params.get("comment", "").strip():
                return self._fail(
                    "109", "E0109: comment can't be empty if you want to refuse return or refund"
                )
            if action == "refuseRefund" and not images:
                return self._fail("110", "E0110: image can't be empty if you want to refuse refund")
        wanted = {
            "agreeReturn": ((WAITING, None), {"reverse_status": AGREED, "ofc_status": "RETURN_PENDING"}),
            "instantRefund": ((WAITING, None), {"reverse_status": AGREED, "ofc_status": "REFUND_SUCCESS"}),
            "refuseReturn": ((WAITING, None), {"reverse_status": "REQUEST_REJECT"}),
            "confirmDelivery": ((AGREED, "SHIPPING_BACK"), {"ofc_status": "RECEIVED"}),
            "agreeRefund": ((AGREED, "RECEIVED"), {"ofc_status": "REFUND_SUCCESS"}),
            "refuseRefund": ((AGREED, "RECEIVED"), {"ofc_status": "REFUND_REJECTED"}),
        }[action]
        (status, ofc), changes = wanted
        for line in lines:
            if (
                line["reverse_status"] != status
                or (ofc and line["ofc_status"] != ofc)
                or line["is_dispute"] == "true"
            ):
                return self._fail("114", "E0114: this reverse does not support this action")
        self._move(reverse["reverse_order_id"], lines, **changes)
        self._note(reverse, images)
        self.applied.append(
            (action, reverse["reverse_order_id"], tuple(line["reverse_order_line_id"] for line in lines))
        )
        refunded = sum(int(line["refund_amount"]) for line in lines if line["ofc_status"] == "REFUND_SUCCESS")
        return self.em._ok(
            data={
                "reverse_order_id": reverse["reverse_order_id"],
                "total_refund": str(refunded),
                "reason_info": [],
                "reverse_order_line": [
                    {
                        "reverse_order_line_id": line["reverse_order_line_id"],
                        "order_id": reverse["trade_order_id"],
                        "order_line_id": line["trade_order_line_id"],
                        "seller_sku": line["seller_sku_id"],
                        "refund_amount": line["refund_amount"],
                        "apply_reason": line["reason_text"],
                    }
                    for line in lines
                ],
            }
        )

    async def _refund_decide(self, request: Request) -> Reply:
        got = self._answer_params(request, frozenset({"agreeRefund", "startDispute"}))
        if isinstance(got, Reply):
            return got
        params, reverse, lines = got
        if len(lines) > 1:
            return self._fail("133", "E0133: do not support batch operation")
        if reverse["request_type"] != "ONLY_REFUND":
            return self._fail("114", "E0114: this reverse does not support this action")
        [line] = lines
        if line["reverse_status"] != WAITING or line["is_dispute"] == "true":
            return self._fail("114", "E0114: this reverse does not support this action")
        if params["action"] == "startDispute":
            if not params.get("comment", "").strip():
                return self._fail("109", "E0109: comment can't be empty if startDispute")
            images = self._images(params.get("image_info_list"), "file_url")
            if not images:
                return self._fail("110", "E0110: image can't be empty if startDispute")
            self._move(reverse["reverse_order_id"], lines, is_dispute="true")
            self._note(reverse, images)
        else:
            self._move(reverse["reverse_order_id"], lines, reverse_status=AGREED, ofc_status="REFUND_SUCCESS")
            self._note(reverse)
        self.applied.append((params["action"], reverse["reverse_order_id"], (line["reverse_order_line_id"],)))
        return self.em._ok()

    @staticmethod
    def _images(text: str | None, key: str) -> list[str]:
        try:
            parsed = json.loads(text or "[]")
        except ValueError:
            return []
        return (
            [str(i[key]) for i in parsed if isinstance(i, dict) and str(i.get(key) or "").startswith("http")]
            if isinstance(parsed, list)
            else []
        )
