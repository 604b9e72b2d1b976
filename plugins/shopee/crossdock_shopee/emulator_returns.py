"""The after-sales side of the Shopee emulator: the seller's cancellation of an order, the
buyer's cancellation requests (orders in ``IN_CANCEL``) and returns / refunds.

Served paths: ``/api/v2/order/cancel_order``, ``/api/v2/order/handle_buyer_cancellation``,
``/api/v2/returns/get_return_list``, ``/api/v2/returns/get_return_detail``,
``/api/v2/returns/confirm``, ``/api/v2/returns/offer``, ``/api/v2/returns/accept_offer``,
``/api/v2/returns/get_available_solutions``, ``/api/v2/returns/get_return_dispute_reason``,
``/api/v2/returns/dispute``.

Each refusal is the one the API reference lists for that API, in its words (the error
codes and messages of ``schemas/v2.order.cancel_order.json``,
``v2.order.handle_buyer_cancellation.json`` and ``v2.returns.*.json`` in the
``congminh1254/shopee-sdk`` mirror). What the reference does not state is marked
UNCONFIRMED here and in the plugin README.

The buyer's and the platform's side are helpers for tests and the demo:
:meth:`AfterSalesDesk.buyer_requests_cancellation`, :meth:`~AfterSalesDesk.buyer_returns`,
:meth:`~AfterSalesDesk.buyer_ships_return`, :meth:`~AfterSalesDesk.buyer_accepts_offer`,
:meth:`~AfterSalesDesk.buyer_counters`, :meth:`~AfterSalesDesk.buyer_withdraws`,
:meth:`~AfterSalesDesk.platform_decides`.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from crossdock.testing.emulator import Reply, Request

if TYPE_CHECKING:
    from crossdock_shopee.emulator import Shop, ShopeeEmulator

__all__ = ["CANCEL_REASONS", "RETURN_STATUSES", "AfterSalesDesk"]

MAX_WINDOW = 15 * 24 * 3600
DAY = 86400
#: v2.order.cancel_order cancel_reason ("Applicable values"); UNDELIVERABLE_AREA "Only
#: apply for TW and MY"
CANCEL_REASONS = frozenset({"OUT_OF_STOCK", "CUSTOMER_REQUEST", "UNDELIVERABLE_AREA", "COD_NOT_SUPPORTED"})
UNDELIVERABLE_SITES = frozenset({"TW", "MY"})
#: "This action can only be performed before the order has been shipped."
CANCELLABLE = frozenset({"UNPAID", "READY_TO_SHIP", "PROCESSED", "IN_CANCEL", "INVOICE_PENDING"})
#: Data Definition - ReturnStatus (the values as listed by Shopee SDKs, e.g.
#: LightsoftHub/open-platforms ShopeeSdk.Core/Enums/ReturnStatus.cs)
RETURN_STATUSES = frozenset(
    {"REQUESTED", "ACCEPTED", "CANCELLED", "JUDGING", "REFUND_PAID", "CLOSED", "PROCESSING", "SELLER_DISPUTE"}
)
NEGOTIATION_STATUSES = frozenset({"PENDING_RESPOND", "ONGOING", "TERMINATED"})
#: v2.returns.dispute: "Support to raise dispute when return_status in REQUESTED /
#: PROCESSING/ACCEPTED"
DISPUTABLE = frozenset({"REQUESTED", "PROCESSING", "ACCEPTED"})
REVIEWING = "Shopee is reviewing the case and will get back to you."
#: How long the seller has to answer a request, and the buyer to ship a return back
#: (UNCONFIRMED: Shopee's seller centre speaks of a few days; the API states only the dates)
SELLER_DAYS = 3
BUYER_SHIP_DAYS = 7
MAX_IMAGES_PER_MODULE = 3
#: dispute reasons and the evidence each needs (v2.returns.get_return_dispute_reason's
#: shape; the ids and requirement texts are the emulator's own, the reference documents
#: only their form and that every reason but "did not receive the return product" needs
#: images)
DISPUTE_REASONS: dict[int, tuple[str, list[tuple[int, str, bool]]]] = {
    50: (
        "The returned product is damaged or not in its original condition.",
        [
            (1, "Photo(s) or video of unboxing the returned parcel with the air waybill.", True),
            (2, "Photo(s) of all returned item(s).", False),
        ],
    ),
    51: ("I did not receive the return product.", []),
    52: (
        "The product was delivered as described; the buyer's reason is not valid.",
        [(1, "Photo(s) of the product as packed and shipped.", True)],
    ),
}
#: which reasons a return in each status may be disputed with
REASONS_BY_STATUS: dict[str, tuple[int, ...]] = {
    "REQUESTED": (52,),
    "ACCEPTED": (52,),
    "PROCESSING": (50, 51),
}


class AfterSalesDesk:
    """Returns and cancellation requests of one emulator's shops; its endpoints are
    routed on the emulator (:meth:`install`)."""

    def __init__(self, emulator: ShopeeEmulator) -> None:
        self.emu = emulator
        self.returns: dict[str, dict[str, Any]] = {}
        self._serial = 0
        #: path -> how many of its next calls are carried out with their answer lost
        #: (a 504 after the work is done), to show a retry applies nothing twice
        self.lose: dict[str, int] = {}
        #: every answer the seller's calls applied: (path, return_sn or order_sn, body)
        self.applied: list[tuple[str, str, dict[str, Any]]] = []

    def install(self) -> None:
        for method, path, handler in (
            ("POST", "/api/v2/order/cancel_order", self._cancel_order),
            ("POST", "/api/v2/order/handle_buyer_cancellation", self._handle_buyer_cancellation),
            ("GET", "/api/v2/returns/get_return_list", self._return_list),
            ("GET", "/api/v2/returns/get_return_detail", self._return_detail),
            ("POST", "/api/v2/returns/confirm", self._confirm),
            ("POST", "/api/v2/returns/offer", self._offer),
            ("POST", "/api/v2/returns/accept_offer", self._accept_offer),
            ("GET", "/api/v2/returns/get_available_solutions", self._solutions),
            ("GET", "/api/v2/returns/get_return_dispute_reason", self._dispute_reasons),
            ("POST", "/api/v2/returns/dispute", self._dispute),
        ):
            self.emu.route(method, path, self._losing(path, handler))

    def _losing(
        self, path: str, handler: Callable[[Request], Awaitable[Reply]]
    ) -> Callable[[Request], Awaitable[Reply]]:
        async def run(request: Request) -> Reply:
            reply = await handler(request)
            if self.lose.get(path, 0) > 0:
                self.lose[path] -= 1
                self.emu.injected["lost_answer"] += 1
                return self.emu.error(504, "timeout", "upstream timed out")
            return reply

        return run

    def lose_next(self, path: str, times: int = 1) -> None:
        """The next ``times`` calls of ``path`` are carried out but answered 504."""
        self.lose[path] = self.lose.get(path, 0) + times

    # ------------------------------------------------------------------ helpers

    def _now(self) -> int:
        return int(self.emu.clock())

    def _shop(self, request: Request) -> Shop | Reply:
        from crossdock_shopee.emulator import Shop

        shop = self.emu._check_sign(request, shop_level=True)
        if isinstance(shop, Reply):
            return shop
        assert isinstance(shop, Shop)
        return shop

    def _body(self, request: Request) -> dict[str, Any] | Reply:
        try:
            body = request.json()
        except ValueError:
            return self.emu._wrong("the body is not JSON")
        if not isinstance(body, dict):
            return self.emu._wrong("the body must be an object")
        return body

    def _touch(self, ret: dict[str, Any], **changes: Any) -> None:
        ret.update(changes)
        ret["update_time"] = max(self._now(), int(ret["update_time"]) + 1)

    def _return_of(self, shop: Shop, return_sn: Any) -> dict[str, Any] | Reply:
        if not return_sn:
            return self.emu._fail(
                "error_param", "Wrong parameters, detail: return_sn is a required parameter."
            )
        ret = self.returns.get(str(return_sn))
        if ret is None or ret["_shop_id"] != shop.shop_id:
            return self.emu._fail("error_data", "The return you queried doesn't exist.")
        return ret

    # ------------------------------------------------------------------ seller cancels

    async def _cancel_order(self, request: Request) -> Reply:
        shop = self._shop(request)
        if isinstance(shop, Reply):
            return shop
        body = self._body(request)
        if isinstance(body, Reply):
            return body
        if not body.get("order_sn"):
            return self.emu._wrong("order_sn is a required field")
        reason = body.get("cancel_reason")
        if not reason:
            return self.emu._wrong("cancel_reason is a required field")
        if reason not in CANCEL_REASONS:
            return self.emu._wrong(f"cancel_reason {reason} is invalid")
        order = self.emu._shop_order(shop, str(body["order_sn"]))
        if order is None:
            return self.emu._fail(
                "error_not_found", f"Wrong parameters, detail: order {body['order_sn']} not found."
            )
        if reason == "UNDELIVERABLE_AREA" and shop.region not in UNDELIVERABLE_SITES:
            return self.emu._wrong("cancel_reason UNDELIVERABLE_AREA only applies to TW and MY")
        if reason == "OUT_OF_STOCK":
            items = body.get("item_list")
            if not isinstance(items, list) or not items:
                return self.emu._wrong("item_list is required when cancel_reason is OUT_OF_STOCK")
            ordered = {(i["item_id"], int(i.get("model_id") or 0)) for i in order["item_list"]}
            for entry in items:
                if (
                    not isinstance(entry, dict)
                    or (entry.get("item_id"), int(entry.get("model_id") or 0)) not in ordered
                ):
                    return self.emu._wrong(f"item_list has an item not in order {order['order_sn']}")
        if order["fulfillment_flag"] == "fulfilled_by_shopee":
            return self.emu._fail("order. error_param", "You can not cancel warehouse order.")
        if order["order_status"] not in CANCELLABLE:
            return self.emu._fail("order.error_limit", "Can not cancel this order")
        self.emu.update_order(
            order["order_sn"],
            order_status="CANCELLED",
            cancel_by="seller",
            cancel_reason=_reason_text(reason),
        )
        self.applied.append(("/api/v2/order/cancel_order", order["order_sn"], body))
        return self.emu._ok({"update_time": order["update_time"]})

    # ------------------------------------------------------------------ buyer cancellation

    def buyer_requests_cancellation(
        self, order_sn: str, reason: str = "Need to change delivery address"
    ) -> None:
        """The buyer asks to cancel an order not yet shipped: it waits ``IN_CANCEL`` for
        the seller (``buyer_cancel_reason`` set)."""
        order = self.emu.orders[order_sn]
        if order["order_status"] not in ("READY_TO_SHIP", "PROCESSED"):
            raise ValueError(f"order {order_sn} is {order['order_status']}: it cannot be asked to cancel")
        order["_before_cancel"] = order["order_status"]
        self.emu.update_order(order_sn, order_status="IN_CANCEL", buyer_cancel_reason=reason)

    async def _handle_buyer_cancellation(self, request: Request) -> Reply:
        shop = self._shop(request)
        if isinstance(shop, Reply):
            return shop
        body = self._body(request)
        if isinstance(body, Reply):
            return body
        if not body.get("order_sn"):
            return self.emu._wrong("order_sn is a required field")
        operation = body.get("operation")
        if operation not in ("ACCEPT", "REJECT"):
            return self.emu._wrong("operation should be ACCEPT or REJECT")
        order = self.emu._shop_order(shop, str(body["order_sn"]))
        if order is None:
            return self.emu._fail(
                "error_not_found", f"Wrong parameters, detail: order {body['order_sn']} not found."
            )
        if order["order_status"] != "IN_CANCEL":
            return self.emu._fail(
                "order.cancel_order_invalid_status",
                "Invalid order_status.The order status should be IN_CANCEL.",
            )
        if operation == "ACCEPT":
            self.emu.update_order(
                order["order_sn"],
                order_status="CANCELLED",
                cancel_by="buyer",
                cancel_reason=order["buyer_cancel_reason"],
            )
        else:
            self.emu.update_order(
                order["order_sn"], order_status=order.pop("_before_cancel", "READY_TO_SHIP")
            )
        self.applied.append(("/api/v2/order/handle_buyer_cancellation", order["order_sn"], body))
        return self.emu._ok({"update_time": order["update_time"]})

    # ------------------------------------------------------------------ returns: buyer side

    def buyer_returns(
        self,
        order_sn: str,
        *,
        reason: str = "PHYSICAL_DMG",
        text: str = "The item arrived damaged.",
        photos: Sequence[str] = ("https://cf.shopee.sg/file/return-photo-1",),
        amount: str | None = None,
        refund_only: bool = False,
        items: Sequence[tuple[str, int]] | None = None,
        offer_range: tuple[str, str] | None = None,
    ) -> str:
        """The buyer asks for a refund (``refund_only``) or to return ``items`` (model
        SKU, quantity; all the order's by default) for ``amount`` (what they paid for them
        by default). ``offer_range``: the (min, max) refund Shopee lets the seller offer
        instead (v2.returns.get_available_solutions; from a tenth of the amount to the
        amount by default). Returns the ``return_sn``."""
        order = self.emu.orders[order_sn]
        lines = order["item_list"]
        chosen = (
            {sku: qty for sku, qty in items}
            if items is not None
            else {i["model_sku"]: i["model_quantity_purchased"] for i in lines}
        )
        item_rows = []
        total = Decimal(0)
        for line in lines:
            qty = chosen.get(line["model_sku"])
            if not qty:
                continue
            price = Decimal(str(line["model_discounted_price"] or line["model_original_price"]))
            total += price * qty
            item_rows.append(
                {
                    "model_id": line["model_id"],
                    "name": line["item_name"],
                    "images": [],
                    "amount": qty,
                    "item_price": float(price),
                    "is_add_on_deal": False,
                    "is_main_item": False,
                    "add_on_deal_id": 0,
                    "item_id": line["item_id"],
                    "item_sku": line["item_sku"],
                    "variation_sku": line["model_sku"],
                }
            )
        refund = Decimal(amount) if amount is not None else total
        low, high = (
            (Decimal(v) for v in offer_range)
            if offer_range
            else ((refund / 10).quantize(Decimal("0.01")), refund)
        )
        self._serial += 1
        now = self._now()
        return_sn = f"{now % 10**6:06d}{self._serial:04d}RS"
        self.returns[return_sn] = {
            "return_sn": return_sn,
            "order_sn": order_sn,
            "_shop_id": order["_shop_id"],
            "image": list(photos),
            "buyer_videos": [],
            "reason": reason,
            "text_reason": text,
            "refund_amount": float(refund),
            "currency": order["currency"],
            "create_time": now,
            "update_time": now,
            "status": "REQUESTED",
            "due_date": now + SELLER_DAYS * DAY,
            "tracking_number": "",
            "dispute_reason": [],
            "dispute_text_reason": [],
            "needs_logistics": not refund_only,
            "amount_before_discount": float(total),
            "user": {"username": order["buyer_username"], "email": "", "portrait": ""},
            "item": item_rows,
            "return_ship_due_date": 0,
            "return_seller_due_date": 0,
            "negotiation_status": "PENDING_RESPOND",
            "seller_proof_status": "NOT_NEEDED",
            "seller_compensation_status": "NOT_REQUIRED",
            "return_refund_type": "RRBOC" if order["order_status"] != "COMPLETED" else "RRAOC",
            "return_solution": 1 if refund_only else 0,
            "_offer": None,  # {"solution", "amount", "creator"}
            "_range": (low, high),
            "_counter_limit": 2,
        }
        return return_sn

    def buyer_ships_return(self, return_sn: str, tracking_number: str = "RNSG000123") -> None:
        """The buyer sends the goods back: the seller then has until
        ``return_seller_due_date`` to confirm the refund or dispute."""
        ret = self.returns[return_sn]
        if ret["status"] != "ACCEPTED" or not ret["needs_logistics"]:
            raise ValueError(f"return {return_sn} is {ret['status']}: nothing to ship back")
        now = self._now()
        self._touch(
            ret,
            status="PROCESSING",
            tracking_number=tracking_number,
            return_seller_due_date=now + SELLER_DAYS * DAY,
        )

    def buyer_accepts_offer(self, return_sn: str) -> None:
        """The buyer takes the seller's offer: Shopee pays it out."""
        ret = self.returns[return_sn]
        offer = ret["_offer"]
        if ret["negotiation_status"] != "ONGOING" or not offer or offer["creator"] != "seller":
            raise ValueError(f"return {return_sn} has no seller offer waiting for the buyer")
        if offer["solution"] == "REFUND_ONLY":
            self._touch(
                ret,
                status="REFUND_PAID",
                refund_amount=offer["amount"],
                negotiation_status="TERMINATED",
                return_solution=1,
                needs_logistics=False,
            )
        else:
            self._touch(
                ret, status="ACCEPTED", refund_amount=offer["amount"], negotiation_status="TERMINATED"
            )

    def buyer_counters(self, return_sn: str, amount: str) -> None:
        """The buyer answers the seller's offer with an amount of their own."""
        ret = self.returns[return_sn]
        if ret["negotiation_status"] != "ONGOING":
            raise ValueError(f"return {return_sn} has no offer to answer")
        self._touch(
            ret,
            negotiation_status="PENDING_RESPOND",
            _offer={"solution": "REFUND_ONLY", "amount": float(Decimal(amount)), "creator": "buyer"},
            due_date=self._now() + SELLER_DAYS * DAY,
        )

    def buyer_withdraws(self, return_sn: str) -> None:
        ret = self.returns[return_sn]
        if ret["status"] not in ("REQUESTED", "ACCEPTED"):
            raise ValueError(f"return {return_sn} is {ret['status']}")
        self._touch(ret, status="CANCELLED", negotiation_status="TERMINATED")

    def platform_decides(self, return_sn: str, *, refund: bool) -> None:
        """Shopee ends a dispute: the buyer is refunded (``REFUND_PAID``) or the request
        is closed without a refund (``CLOSED``)."""
        ret = self.returns[return_sn]
        if ret["status"] not in ("SELLER_DISPUTE", "JUDGING"):
            raise ValueError(f"return {return_sn} is not disputed")
        self._touch(ret, status="REFUND_PAID" if refund else "CLOSED", negotiation_status="TERMINATED")

    def platform_reviews(self, return_sn: str) -> None:
        """Shopee's agent takes up a disputed return (``JUDGING``)."""
        ret = self.returns[return_sn]
        if ret["status"] != "SELLER_DISPUTE":
            raise ValueError(f"return {return_sn} is not disputed")
        self._touch(ret, status="JUDGING")

    # ------------------------------------------------------------------ returns: reads

    def _public(self, ret: Mapping[str, Any], *, detail: bool) -> dict[str, Any]:
        out = {k: v for k, v in ret.items() if not k.startswith("_")}
        offer = ret["_offer"] or {}
        if detail:
            out.pop("negotiation_status", None)
            out["negotiation"] = {
                "negotiation_status": ret["negotiation_status"],
                "latest_solution": offer.get(
                    "solution", "RETURN_REFUND" if ret["needs_logistics"] else "REFUND_ONLY"
                ),
                "latest_offer_amount": offer.get("amount", ret["refund_amount"]),
                "latest_offer_creator": offer.get("creator", "buyer"),
                "counter_limit": ret["_counter_limit"],
                "offer_due_date": ret["due_date"],
            }
            out["seller_proof"] = {
                "seller_proof_status": ret["seller_proof_status"],
                "seller_evidence_deadline": 0,
            }
            out["seller_compensation"] = {
                "seller_compensation_status": ret["seller_compensation_status"],
                "seller_compensation_due_date": 0,
                "compensation_amount": 0,
            }
        else:
            out.pop("buyer_videos", None)
        return out

    async def _return_list(self, request: Request) -> Reply:
        shop = self._shop(request)
        if isinstance(shop, Reply):
            return shop
        q = request.query
        for name in ("page_no", "page_size"):
            if not q.get(name, "").isdigit():
                return self.emu._wrong(f"{name} is a required integer")
        size = int(q["page_size"])
        if not 1 <= size <= 100:
            return self.emu._wrong("page_size should be between 1 and 100")
        bounds: dict[str, int] = {}
        for name in ("create_time_from", "create_time_to", "update_time_from", "update_time_to"):
            if q.get(name):
                if not q[name].isdigit():
                    return self.emu._wrong(f"{name} should be a timestamp")
                bounds[name] = int(q[name])
        for kind in ("create", "update"):
            start, end = bounds.get(f"{kind}_time_from"), bounds.get(f"{kind}_time_to")
            if (start is None) != (end is None):
                return self.emu._fail("error_data", "lack of param")
            if start is not None and end is not None:
                if end < start:
                    return self.emu._fail(
                        "error_param", f"The {kind}_time_to should be later than {kind}_time_from."
                    )
                if end - start > MAX_WINDOW:
                    return self.emu._fail(
                        "error_param",
                        f"The period between {kind}_time_from and {kind}_time_to must not more than 15 days.",
                    )
        if (
            "update_time_from" in bounds
            and "create_time_from" in bounds
            and bounds["update_time_from"] < bounds["create_time_from"]
        ):
            return self.emu._fail("error_param", "The update_time_from must be after create_time_from.")
        status = q.get("status")
        if status and status not in RETURN_STATUSES:
            return self.emu._wrong(f"status {status} is invalid")
        negotiation = q.get("negotiation_status")
        if negotiation and negotiation not in NEGOTIATION_STATUSES:
            return self.emu._wrong(f"negotiation_status {negotiation} is invalid")
        rows = sorted(
            (r for r in self.returns.values() if r["_shop_id"] == shop.shop_id),
            key=lambda r: (r["update_time"], r["return_sn"]),
        )
        if "update_time_from" in bounds:
            times = [r["update_time"] for r in rows]
            rows = rows[
                bisect.bisect_left(times, bounds["update_time_from"]) : bisect.bisect_right(
                    times, bounds["update_time_to"]
                )
            ]
        if "create_time_from" in bounds:
            rows = [
                r for r in rows if bounds["create_time_from"] <= r["create_time"] <= bounds["create_time_to"]
            ]
        if status:
            rows = [r for r in rows if r["status"] == status]
        if negotiation:
            rows = [r for r in rows if r["negotiation_status"] == negotiation]
        chunk, following = self.emu.page(rows, int(q["page_no"]) * size, size)
        return self.emu._ok(
            {"more": following is not None, "return": [self._public(r, detail=False) for r in chunk]}
        )

    async def _return_detail(self, request: Request) -> Reply:
        shop = self._shop(request)
        if isinstance(shop, Reply):
            return shop
        ret = self._return_of(shop, request.query.get("return_sn"))
        if isinstance(ret, Reply):
            return ret
        return self.emu._ok(self._public(ret, detail=True))

    def _available(self, ret: Mapping[str, Any]) -> dict[str, Any]:
        low, high = ret["_range"]
        adjustable = ret["status"] == "REQUESTED" and ret["negotiation_status"] == "PENDING_RESPOND"
        amounts = {"max_refund_amount": float(high), "min_refund_amount": float(low)} if adjustable else {}
        return {
            "return_sn": ret["return_sn"],
            "offer_return_refund": {
                "eligibility": adjustable and ret["needs_logistics"],
                "refund_amount_adjustable": adjustable,
                **amounts,
            },
            "offer_refund": {"eligibility": adjustable, "refund_amount_adjustable": adjustable, **amounts},
        }

    async def _solutions(self, request: Request) -> Reply:
        shop = self._shop(request)
        if isinstance(shop, Reply):
            return shop
        ret = self._return_of(shop, request.query.get("return_sn"))
        if isinstance(ret, Reply):
            return ret
        if ret["status"] in ("JUDGING", "SELLER_DISPUTE"):
            return self.emu._fail("error_data", REVIEWING)
        return self.emu._ok(self._available(ret))

    async def _dispute_reasons(self, request: Request) -> Reply:
        shop = self._shop(request)
        if isinstance(shop, Reply):
            return shop
        if not request.query.get("return_sn"):
            return self.emu._fail("dispute.request.param.error", "return_sn is a required parameter")
        ret = self.returns.get(request.query["return_sn"])
        if ret is None or ret["_shop_id"] != shop.shop_id:
            return self.emu._fail(
                "dispute.request.param.error", "The return_sn you requested was not queried, please check it"
            )
        return self.emu._ok(
            {
                "dispute_reason_list": [
                    {
                        "dispute_reason": reason_id,
                        "dispute_requirement": DISPUTE_REASONS[reason_id][0],
                        "sample_evidence": [],
                        "evidence_module_list": [
                            {"module_index": index, "requirement": text, "is_required": required}
                            for index, text, required in DISPUTE_REASONS[reason_id][1]
                        ],
                    }
                    for reason_id in REASONS_BY_STATUS.get(ret["status"], ())
                ]
            }
        )

    # ------------------------------------------------------------------ returns: seller answers

    def _answerable(self, ret: Mapping[str, Any]) -> Reply | None:
        if ret["status"] in ("JUDGING", "SELLER_DISPUTE"):
            return self.emu._fail("error_data", REVIEWING)
        return None

    async def _seller_return(self, request: Request) -> tuple[dict[str, Any], dict[str, Any]] | Reply:
        shop = self._shop(request)
        if isinstance(shop, Reply):
            return shop
        body = self._body(request)
        if isinstance(body, Reply):
            return body
        ret = self._return_of(shop, body.get("return_sn"))
        if isinstance(ret, Reply):
            return ret
        return ret, body

    async def _confirm(self, request: Request) -> Reply:
        found = await self._seller_return(request)
        if isinstance(found, Reply):
            return found
        ret, body = found
        refused = self._answerable(ret)
        if refused is not None:
            return refused
        if ret["status"] == "REQUESTED" and ret["needs_logistics"]:
            # agreeing to a return: the buyer now ships the goods back
            self._touch(
                ret,
                status="ACCEPTED",
                negotiation_status="TERMINATED",
                return_ship_due_date=self._now() + BUYER_SHIP_DAYS * DAY,
            )
        elif ret["status"] in ("REQUESTED", "PROCESSING"):
            self._touch(ret, status="REFUND_PAID", negotiation_status="TERMINATED")
        else:
            return self.emu._fail("error_data", f"Invalid return status: {ret['status']}")
        self.applied.append(("/api/v2/returns/confirm", ret["return_sn"], body))
        return self.emu._ok({"return_sn": ret["return_sn"]})

    async def _offer(self, request: Request) -> Reply:
        found = await self._seller_return(request)
        if isinstance(found, Reply):
            return found
        ret, body = found
        refused = self._answerable(ret)
        if refused is not None:
            return refused
        if ret["status"] != "REQUESTED":
            return self.emu._fail("error_return_status", "The return status cannot support this action")
        if ret["negotiation_status"] != "PENDING_RESPOND":
            return self.emu._fail(
                "error_negotiation_status", "The negotiation status cannot support this action"
            )
        solution = body.get("proposed_solution")
        available = self._available(ret)
        key = {"RETURN_REFUND": "offer_return_refund", "REFUND_ONLY": "offer_refund"}.get(str(solution))
        if key is None or not available[key]["eligibility"]:
            return self.emu._fail(
                "error_param", "This proposed solution is not one of the available solutions for this return."
            )
        raw_amount = body.get("proposed_adjusted_refund_amount")
        if raw_amount is None:
            return self.emu._fail("error_param", "Please fill a value for proposed adjusted refund amount")
        try:
            amount = Decimal(str(raw_amount))
        except InvalidOperation:
            return self.emu._wrong("proposed_adjusted_refund_amount should be a number")
        digits = 0 if ret["currency"] in ("IDR", "VND") else 2
        if amount <= 0:
            return self.emu._fail("error_param", "The proposed adjusted refund amount must be positive")
        if amount != amount.quantize(Decimal(1).scaleb(-digits)):
            return self.emu._fail(
                "error_param",
                f"The proposed adjusted refund amount only accepts {digits} digit(s) after decimal point",
            )
        low, high = ret["_range"]
        if amount > high:
            return self.emu._fail(
                "error_param", "The proposed adjusted refund amount can not exceed max refund amount"
            )
        if amount < low:
            return self.emu._fail(
                "error_param", "The proposed adjusted refund amount can not be lower than min refund amount"
            )
        self._touch(
            ret,
            negotiation_status="ONGOING",
            _offer={"solution": solution, "amount": float(amount), "creator": "seller"},
            _counter_limit=max(0, ret["_counter_limit"] - 1),
        )
        self.applied.append(("/api/v2/returns/offer", ret["return_sn"], body))
        return self.emu._ok({"return_sn": ret["return_sn"]})

    async def _accept_offer(self, request: Request) -> Reply:
        found = await self._seller_return(request)
        if isinstance(found, Reply):
            return found
        ret, body = found
        refused = self._answerable(ret)
        if refused is not None:
            return refused
        if ret["status"] != "REQUESTED":
            return self.emu._fail("error_return_status", "The return status cannot support this action")
        offer = ret["_offer"]
        if not offer or offer["creator"] != "buyer" or ret["negotiation_status"] != "PENDING_RESPOND":
            return self.emu._fail(
                "error_no_buyer_offer",
                "cannot accept refund offer because there is no counter proposal from buyer",
            )
        self._touch(
            ret,
            status="REFUND_PAID",
            refund_amount=offer["amount"],
            negotiation_status="TERMINATED",
            return_solution=1,
            needs_logistics=False,
        )
        self.applied.append(("/api/v2/returns/accept_offer", ret["return_sn"], body))
        return self.emu._ok({"return_sn": ret["return_sn"]})

    async def _dispute(self, request: Request) -> Reply:
        found = await self._seller_return(request)
        if isinstance(found, Reply):
            return found
        ret, body = found
        if ret["status"] not in DISPUTABLE:
            return self.emu._fail(
                "error_return_status",
                "Cannot raise dispute because return SN is not in REQUESTED, RETURN_PROCESSING, "
                "or RETURN_ACCEPTED",
            )
        email = str(body.get("email") or "")
        if "@" not in email:
            return self.emu._fail("dispute.request.param.error", f"Input invalid email=[{email}]")
        reason_id = body.get("dispute_reason_id")
        if not isinstance(reason_id, int) or reason_id not in REASONS_BY_STATUS.get(ret["status"], ()):
            return self.emu._fail(
                "dispute.request.param.error",
                "Can't raise dispute because the return_sn and dispute_reason_id does not match.",
            )
        modules = {index: (text, required) for index, text, required in DISPUTE_REASONS[reason_id][1]}
        given: dict[int, list[str]] = {}
        for entry in body.get("image_list") or []:
            if not isinstance(entry, dict) or entry.get("module_index") not in modules:
                return self.emu._fail(
                    "dispute.request.param.error",
                    "Unable to raise dispute as mandatory module index is missing",
                )
            if entry.get("requirement") != modules[entry["module_index"]][0]:
                return self.emu._fail(
                    "dispute.request.param.error",
                    "can't raise dispute because the requirement and dispute reason ID does not match",
                )
            urls = [u for u in entry.get("image_url") or [] if isinstance(u, str)]
            if len(urls) > MAX_IMAGES_PER_MODULE:
                return self.emu._fail(
                    "dispute.request.param.error", "Invalid images, images max size is 3 per module"
                )
            if any(not u.startswith("https://") for u in urls):
                return self.emu._fail("error_param", "All images download fail")
            given[entry["module_index"]] = urls
        if any(required and not given.get(index) for index, (_, required) in modules.items()):
            return self.emu._fail(
                "dispute.request.param.error", "can't raise dispute because mandatory evidence is missing"
            )
        self._touch(
            ret,
            status="SELLER_DISPUTE",
            dispute_reason=[reason_id],
            dispute_text_reason=[str(body.get("dispute_text_reason") or "")],
            negotiation_status="TERMINATED",
        )
        self.applied.append(("/api/v2/returns/dispute", ret["return_sn"], body))
        return self.emu._ok({"return_sn": ret["return_sn"], "msg": "dispute return success"})

    # ------------------------------------------------------------------ demo activity

    def demo_cases(self, shop_id: int, rng: random.Random, orders: Sequence[str]) -> None:
        """A few of ``orders`` get an after-sales case, as a shop's buyers open them: about
        one in ten waiting to ship is asked to be cancelled, about one in three delivered
        or on its way is returned (some as a refund only)."""
        for sn in orders:
            order = self.emu.orders[sn]
            if order["_shop_id"] != shop_id or order["fulfillment_flag"] == "fulfilled_by_shopee":
                continue
            if order["order_status"] == "READY_TO_SHIP" and not order["_split"] and rng.random() < 0.1:
                self.buyer_requests_cancellation(
                    sn,
                    rng.choice(
                        [
                            "Need to change delivery address",
                            "Modify existing order",
                            "Others / change of mind",
                        ]
                    ),
                )
            elif order["order_status"] in ("COMPLETED", "SHIPPED") and rng.random() < 1 / 3:
                self.buyer_returns(
                    sn,
                    reason=rng.choice(["PHYSICAL_DMG", "NOT_RECEIPT", "ITEM_WRONGDAMAGED", "CHANGE_MIND"]),
                    text=rng.choice(["The strap is torn.", "Wrong colour sent.", "Box arrived crushed."]),
                    photos=[f"https://cf.shopee.sg/file/demo-return-{sn}"],
                    refund_only=rng.random() < 0.3,
                )


def _reason_text(code: str) -> str:
    return {
        "OUT_OF_STOCK": "Out of Stock",
        "CUSTOMER_REQUEST": "Customer Request",
        "UNDELIVERABLE_AREA": "Undeliverable Area",
        "COD_NOT_SUPPORTED": "COD Not Supported",
    }[code]
