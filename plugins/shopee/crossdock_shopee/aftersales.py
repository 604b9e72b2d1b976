"""After-sales on Shopee: the seller's cancellation of an order, the buyers' cancellation
requests and their returns / refunds, in Crossdock's terms (``ChannelCase``).

Sources (the API reference JSON mirrored in ``congminh1254/shopee-sdk``, ``schemas/``):

- ``v2.order.cancel_order`` (POST; ``order_sn``, ``cancel_reason`` one of OUT_OF_STOCK,
  CUSTOMER_REQUEST, UNDELIVERABLE_AREA "Only apply for TW and MY", COD_NOT_SUPPORTED;
  ``item_list`` of ``{item_id, model_id}`` "Required when cancel_reason is OUT_OF_STOCK";
  "can only be performed before the order has been shipped"; ``order.error_limit`` "Can
  not cancel this order").
- ``v2.order.handle_buyer_cancellation`` (POST; ``order_sn``, ``operation`` ACCEPT or
  REJECT; ``order.cancel_order_invalid_status`` "The order status should be IN_CANCEL").
  A buyer's request has no id of its own: it is the order in ``IN_CANCEL`` with
  ``buyer_cancel_reason`` (``v2.order.get_order_detail``), so the case's id is the order_sn.
- ``v2.returns.get_return_list`` (GET; ``page_no``, ``page_size`` <= 100,
  ``update_time_from``/``update_time_to`` at most 15 days apart; ``more``),
  ``get_return_detail`` (GET), ``confirm``, ``offer`` (``proposed_solution``
  RETURN_REFUND / REFUND_ONLY, ``proposed_adjusted_refund_amount``),
  ``accept_offer`` (the buyer's counter proposal), ``get_available_solutions`` (GET; the
  min / max refund the seller may offer), ``get_return_dispute_reason`` (GET) and
  ``dispute`` (``email``, ``dispute_reason_id``, ``image_list`` per evidence module;
  "when return_status in REQUESTED / PROCESSING / ACCEPTED").

Return statuses (Data Definition - ReturnStatus, as Shopee SDKs list them: REQUESTED,
ACCEPTED, CANCELLED, JUDGING, REFUND_PAID, CLOSED, PROCESSING, SELLER_DISPUTE) and what the
seller may answer in each: see the plugin README's After-sales section.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from crossdock import (
    CancelReason,
    CaseAction,
    CaseKind,
    CaseLine,
    CasePage,
    CaseResponse,
    CaseStatus,
    ChannelCase,
    ChannelConnection,
    ChannelError,
    Money,
)

if TYPE_CHECKING:
    from crossdock_shopee.marketplace import ShopeeMarketplace

__all__ = [
    "CANCEL_CODES",
    "RETURN_ACTIONS",
    "RETURN_STATUS",
    "AfterSales",
    "cancellation_case",
    "evidence_free",
    "return_case",
]

WINDOW = 15 * 24 * 3600  # get_order_list and get_return_list: at most 15 days per call
PAGE_SIZE = 100
DETAIL_BATCH = 50
CASE_FIELDS = "buyer_cancel_reason,cancel_by,cancel_reason,item_list,total_amount"

#: CancelReason -> v2.order.cancel_order cancel_reason. Shopee has no code for a pricing
#: error or for "other": those are refused here, before any call (UNSUPPORTED_REASON).
CANCEL_CODES: dict[CancelReason, str] = {
    CancelReason.OUT_OF_STOCK: "OUT_OF_STOCK",
    CancelReason.BUYER_REQUEST: "CUSTOMER_REQUEST",
    CancelReason.UNDELIVERABLE_ADDRESS: "UNDELIVERABLE_AREA",  # Shopee takes it in TW and MY only
}

#: Shopee return status -> Crossdock's. ``REQUESTED`` with the seller's offer before the
#: buyer is NEGOTIATING (see :func:`return_case`).
RETURN_STATUS: dict[str, CaseStatus] = {
    "REQUESTED": CaseStatus.OPEN,
    "ACCEPTED": CaseStatus.ACCEPTED,  # the buyer is to send the goods back
    "PROCESSING": CaseStatus.RETURN_SHIPPED,  # the goods are on their way back / arrived
    "SELLER_DISPUTE": CaseStatus.DISPUTED,
    "JUDGING": CaseStatus.DISPUTED,
    "REFUND_PAID": CaseStatus.REFUNDED,
    "CANCELLED": CaseStatus.CANCELLED,  # the buyer withdrew it
    "CLOSED": CaseStatus.CLOSED,  # ended without a refund (e.g. a dispute won by the seller)
}
#: what Shopee lets the seller do in each return status (v2.returns.*: confirm in
#: REQUESTED and PROCESSING, offer only while the seller is to respond, dispute "when
#: return_status in REQUESTED / PROCESSING / ACCEPTED"); none once Shopee judges
RETURN_ACTIONS: dict[str, frozenset[CaseAction]] = {
    "REQUESTED": frozenset({CaseAction.ACCEPT, CaseAction.OFFER_PARTIAL_REFUND, CaseAction.DISPUTE}),
    "ACCEPTED": frozenset({CaseAction.DISPUTE}),
    "PROCESSING": frozenset({CaseAction.ACCEPT, CaseAction.DISPUTE}),
}
_URL = re.compile(r"https://\S+")


def _at(epoch: Any) -> datetime | None:
    return datetime.fromtimestamp(int(epoch), UTC) if epoch else None


def _money(amount: Any, currency: str) -> Money:
    return Money(Decimal(str(amount)), currency)


def line_ids(item_list: Sequence[Mapping[str, Any]]) -> list[str]:
    """The order line id of each ``item_list`` entry, as :mod:`crossdock_shopee.mapping`
    gives them (``item_id:model_id``; the same model again gets ``/line_item_id``)."""
    seen: dict[str, int] = {}
    ids: list[str] = []
    for item in item_list:
        base = f"{item['item_id']}:{item.get('model_id', 0)}"
        seen[base] = seen.get(base, 0) + 1
        ids.append(base if seen[base] == 1 else f"{base}/{item.get('line_item_id') or seen[base]}")
    return ids


def cancellation_case(raw: Mapping[str, Any]) -> ChannelCase | None:
    """The buyer's cancellation request of an order (``get_order_detail``), or None when
    its buyer asked for none.

    ``IN_CANCEL`` waits for the seller (accept or reject); ``CANCELLED`` after a request
    is the request granted (by the seller, or by Shopee when the seller did not answer);
    any other status with a ``buyer_cancel_reason`` is the request refused (the order went
    back to be shipped). Shopee states no deadline for the seller's answer and no time of
    the request: ``respond_by`` is None and ``opened_at`` the order's update time.
    """
    reason = str(raw.get("buyer_cancel_reason") or "")
    status = str(raw.get("order_status") or "")
    if not reason and status != "IN_CANCEL":
        return None
    if status == "IN_CANCEL":
        case_status, actions = CaseStatus.OPEN, frozenset({CaseAction.ACCEPT, CaseAction.REJECT})
    elif status == "CANCELLED":
        case_status, actions = CaseStatus.ACCEPTED, frozenset()
    else:
        case_status, actions = CaseStatus.REJECTED, frozenset()
    currency = str(raw["currency"])
    items = list(raw.get("item_list") or [])
    updated = _at(raw.get("update_time")) or datetime.now(UTC)
    return ChannelCase(
        external_id=str(raw["order_sn"]),
        order_external_id=str(raw["order_sn"]),
        kind=CaseKind.CANCELLATION,
        status=case_status,
        channel_status=status,
        opened_at=updated,
        updated_at=updated,
        reason=reason,
        lines=[
            CaseLine(
                quantity=int(item.get("model_quantity_purchased") or 1),
                order_line_external_id=line_id,
                sku=item.get("model_sku") or item.get("item_sku") or None,
            )
            for item, line_id in zip(items, line_ids(items), strict=True)
        ],
        refund_amount=_money(raw["total_amount"], currency) if raw.get("total_amount") is not None else None,
        actions=actions,
        raw={"order_status": status, "cancel_by": raw.get("cancel_by") or ""},
    )


def _negotiation(raw: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    """The negotiation status (top level in the list, in ``negotiation`` in the detail)
    and the detail's negotiation object."""
    negotiation = raw.get("negotiation") or {}
    status = str(raw.get("negotiation_status") or negotiation.get("negotiation_status") or "")
    return status, negotiation


def evidence_free(reasons: Sequence[Mapping[str, Any]]) -> bool:
    """Whether one of a return's dispute reasons (``get_return_dispute_reason``) needs no
    evidence module: Crossdock's answers carry no attachments."""
    return any(
        not any(m.get("is_required") for m in r.get("evidence_module_list") or [] if isinstance(m, Mapping))
        for r in reasons
    )


def return_case(raw: Mapping[str, Any], disputable: bool | None = None) -> ChannelCase:
    """A return or refund request (``get_return_list`` row or ``get_return_detail``).
    ``disputable``: whether a dispute can be raised without evidence (see
    :func:`evidence_free`; None when not looked up)."""
    status = str(raw["status"])
    negotiation_status, negotiation = _negotiation(raw)
    creator = str(negotiation.get("latest_offer_creator") or "")
    case_status = RETURN_STATUS.get(status, CaseStatus.OPEN)
    actions = RETURN_ACTIONS.get(status, frozenset())
    if disputable is False:
        # every reason Shopee lists for this return needs evidence images: "mandatory input
        # field for all dispute reasons except 'Did not receive the return product'"
        actions = actions - {CaseAction.DISPUTE}
    if status == "REQUESTED" and negotiation_status != "PENDING_RESPOND":
        # the seller's offer is with the buyer (ONGOING), or the negotiation is over:
        # nothing to offer now
        actions = actions - {CaseAction.OFFER_PARTIAL_REFUND}
        if negotiation_status == "ONGOING":
            case_status = CaseStatus.NEGOTIATING
    due = None
    if status == "REQUESTED":
        due = _at(raw.get("due_date"))
    elif status == "PROCESSING":
        due = _at(raw.get("return_seller_due_date")) or _at(raw.get("due_date"))
    refund_only = raw.get("return_solution") == 1 or raw.get("needs_logistics") is False
    currency = str(raw["currency"])
    created = _at(raw.get("create_time")) or datetime.now(UTC)
    return ChannelCase(
        external_id=str(raw["return_sn"]),
        order_external_id=str(raw["order_sn"]),
        kind=CaseKind.REFUND_ONLY if refund_only else CaseKind.RETURN_REFUND,
        status=case_status,
        channel_status=status,
        opened_at=created,
        updated_at=_at(raw.get("update_time")) or created,
        reason=str(raw.get("reason") or ""),
        buyer_comment=str(raw.get("text_reason") or "") or None,
        photos=[str(u) for u in raw.get("image") or [] if isinstance(u, str)],
        lines=[
            CaseLine(
                quantity=int(item.get("amount") or 1),
                order_line_external_id=f"{item['item_id']}:{item.get('model_id', 0)}",
                sku=item.get("variation_sku") or item.get("item_sku") or None,
            )
            for item in raw.get("item") or []
        ],
        refund_amount=_money(raw["refund_amount"], currency)
        if raw.get("refund_amount") is not None
        else None,
        respond_by=due if actions else None,
        actions=actions if not case_status.final else frozenset(),
        raw={
            "negotiation_status": negotiation_status,
            "latest_offer_creator": creator,
            "latest_offer_amount": negotiation.get("latest_offer_amount"),
            "needs_logistics": bool(raw.get("needs_logistics")),
            "disputed": bool(raw.get("dispute_reason")),
        },
    )


def applied(case: ChannelCase, response: CaseResponse) -> bool:
    """Whether ``case`` (as the channel shows it now) already carries ``response``: the
    answer of a retry after a lost answer, not to be sent again."""
    if case.kind == CaseKind.CANCELLATION:
        wanted = {CaseAction.ACCEPT: CaseStatus.ACCEPTED, CaseAction.REJECT: CaseStatus.REJECTED}
        return case.status == wanted.get(response.action)
    if response.action == CaseAction.ACCEPT:
        return case.status in (CaseStatus.ACCEPTED, CaseStatus.RETURN_SHIPPED, CaseStatus.REFUNDED)
    if response.action == CaseAction.DISPUTE:
        return case.status == CaseStatus.DISPUTED or bool(case.raw.get("disputed"))
    if response.action == CaseAction.OFFER_PARTIAL_REFUND and response.amount is not None:
        offered = case.raw.get("latest_offer_amount")
        same = offered is not None and Decimal(str(offered)) == response.amount.rounded().amount
        return (case.status == CaseStatus.NEGOTIATING and same) or case.status == CaseStatus.REFUNDED
    return False


class AfterSales:
    """The calls, for one provider (its signed shop calls)."""

    def __init__(self, provider: ShopeeMarketplace) -> None:
        self.provider = provider

    async def _get(self, conn: ChannelConnection, path: str, **params: Any) -> dict[str, Any]:
        answer = await self.provider._shop_call(conn, "GET", path, params=params)
        return dict(answer.get("response") or {})

    async def _post(self, conn: ChannelConnection, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        answer = await self.provider._shop_call(conn, "POST", path, body=dict(body))
        return dict(answer.get("response") or {})

    async def order(self, conn: ChannelConnection, order_sn: str) -> dict[str, Any] | None:
        found = await self.orders(conn, [order_sn])
        return found[0] if found else None

    async def orders(self, conn: ChannelConnection, sns: Sequence[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for i in range(0, len(sns), DETAIL_BATCH):
            response = await self._get(
                conn,
                "/api/v2/order/get_order_detail",
                order_sn_list=",".join(sns[i : i + DETAIL_BATCH]),
                response_optional_fields=CASE_FIELDS,
            )
            out.extend(dict(o) for o in response.get("order_list") or [])
        return out

    # --------------------------------------------------------------- cancel

    async def cancel(self, conn: ChannelConnection, order_sn: str, reason: CancelReason) -> None:
        code = CANCEL_CODES.get(reason)
        if code is None:
            raise ChannelError(
                f"shopee cannot cancel for {reason.value!r}: v2.order.cancel_order takes out of "
                "stock, buyer request or (TW, MY) undeliverable address",
                code="UNSUPPORTED_REASON",
            )
        order = await self.order(conn, order_sn)
        if order is None:
            raise ChannelError(f"shopee has no order {order_sn}", code="error_not_found")
        if order.get("order_status") == "CANCELLED":
            return  # cancelled there already: what was asked is done
        body: dict[str, Any] = {"order_sn": order_sn, "cancel_reason": code}
        if code == "OUT_OF_STOCK":
            body["item_list"] = [
                {"item_id": int(i["item_id"]), "model_id": int(i.get("model_id") or 0)}
                for i in order.get("item_list") or []
            ]
        try:
            await self._post(conn, "/api/v2/order/cancel_order", body)
        except ChannelError as exc:
            if exc.retryable or exc.code == ChannelError.AUTH_EXPIRED:
                raise
            again = await self.order(conn, order_sn)  # a retry of a cancel whose answer was lost
            if again is None or again.get("order_status") != "CANCELLED":
                raise

    # --------------------------------------------------------------- cases

    async def fetch(
        self, conn: ChannelConnection, updated_since: datetime, page_token: str | None
    ) -> CasePage:
        """Two walks, each in 15-day windows of update time: orders (for cancellation
        requests), then returns. The token holds the walk, its window and its cursor."""
        if page_token:
            state = json.loads(page_token)
        else:
            start = int(updated_since.timestamp())
            end = int(time.time())
            state = {
                "walk": "orders",
                "since": start,
                "from": start,
                "to": min(start + WINDOW, end),
                "end": end,
                "cursor": "",
            }
        if state["walk"] == "orders":
            cases, state = await self._order_page(conn, state)
        else:
            cases, state = await self._return_page(conn, state)
        cases.sort(key=lambda c: c.updated_at)
        return CasePage(cases=cases, next_page_token=json.dumps(state, sort_keys=True) if state else None)

    def _next_window(self, state: dict[str, Any]) -> dict[str, Any] | None:
        if state["to"] < state["end"]:
            return {**state, "from": state["to"], "to": min(state["to"] + WINDOW, state["end"]), "cursor": ""}
        return None

    async def _order_page(
        self, conn: ChannelConnection, state: dict[str, Any]
    ) -> tuple[list[ChannelCase], dict[str, Any] | None]:
        listed = await self._get(
            conn,
            "/api/v2/order/get_order_list",
            time_range_field="update_time",
            time_from=state["from"],
            time_to=state["to"],
            page_size=PAGE_SIZE,
            cursor=state["cursor"],
        )
        sns = list(dict.fromkeys(str(o["order_sn"]) for o in listed.get("order_list") or []))
        cases = [c for c in map(cancellation_case, await self.orders(conn, sns)) if c is not None]
        if listed.get("more"):
            return cases, {**state, "cursor": listed.get("next_cursor") or ""}
        following = self._next_window(state)
        if following is None:  # the orders are walked: the returns, over the same span
            since = int(state["since"])
            following = {
                "walk": "returns",
                "since": since,
                "from": since,
                "to": min(since + WINDOW, int(state["end"])),
                "end": state["end"],
                "cursor": 0,
            }
        return cases, following

    async def _return_page(
        self, conn: ChannelConnection, state: dict[str, Any]
    ) -> tuple[list[ChannelCase], dict[str, Any] | None]:
        listed = await self._get(
            conn,
            "/api/v2/returns/get_return_list",
            page_no=state["cursor"],
            page_size=PAGE_SIZE,
            update_time_from=state["from"],
            update_time_to=state["to"],
        )
        cases = [await self._return(conn, r) for r in listed.get("return") or []]
        if listed.get("more"):
            return cases, {**state, "cursor": int(state["cursor"]) + 1}
        following = self._next_window(state)
        return cases, ({**following, "cursor": 0} if following else None)

    async def case(self, conn: ChannelConnection, kind: CaseKind, external_id: str) -> ChannelCase:
        """One case as the channel shows it now."""
        if kind == CaseKind.CANCELLATION:
            order = await self.order(conn, external_id)
            found = cancellation_case(order) if order is not None else None
            if found is None:
                raise ChannelError(
                    f"shopee order {external_id} has no cancellation request", code="error_not_found"
                )
            return found
        return await self._return(
            conn, await self._get(conn, "/api/v2/returns/get_return_detail", return_sn=external_id)
        )

    async def _return(self, conn: ChannelConnection, raw: Mapping[str, Any]) -> ChannelCase:
        """The case of a return; one that may be disputed now is asked for its dispute
        reasons (a dispute is offered when one needs no evidence)."""
        if CaseAction.DISPUTE not in RETURN_ACTIONS.get(str(raw.get("status")), frozenset()):
            return return_case(raw)
        return return_case(raw, evidence_free(await self._dispute_reasons(conn, str(raw["return_sn"]))))

    async def _dispute_reasons(self, conn: ChannelConnection, return_sn: str) -> list[Mapping[str, Any]]:
        listed = await self._get(conn, "/api/v2/returns/get_return_dispute_reason", return_sn=return_sn)
        return [r for r in listed.get("dispute_reason_list") or [] if isinstance(r, Mapping)]

    async def respond(self, conn: ChannelConnection, response: CaseResponse) -> ChannelCase:
        current = await self.case(conn, response.kind, response.case_external_id)
        if response.action not in current.actions:
            if applied(current, response):
                return current  # a retry of an answer Shopee took already
            raise ChannelError(
                f"shopee {response.kind.value} {response.case_external_id} is {current.channel_status}: "
                f"it does not take {response.action.value} now",
                code="ACTION_NOT_ALLOWED",
            )
        try:
            await self._send(conn, response, current)
        except ChannelError as exc:
            if exc.retryable or exc.code == ChannelError.AUTH_EXPIRED:
                raise
            now = await self.case(conn, response.kind, response.case_external_id)
            if applied(now, response):
                return now
            raise
        return await self.case(conn, response.kind, response.case_external_id)

    async def _send(self, conn: ChannelConnection, response: CaseResponse, current: ChannelCase) -> None:
        sn = response.case_external_id
        if response.kind == CaseKind.CANCELLATION:
            operation = {CaseAction.ACCEPT: "ACCEPT", CaseAction.REJECT: "REJECT"}[response.action]
            await self._post(
                conn, "/api/v2/order/handle_buyer_cancellation", {"order_sn": sn, "operation": operation}
            )
            return
        if response.action == CaseAction.ACCEPT:
            buyer_offer = (
                current.raw.get("negotiation_status") == "PENDING_RESPOND"
                and current.raw.get("latest_offer_creator") == "buyer"
                and current.raw.get("latest_offer_amount") is not None
                and current.refund_amount is not None
                and Decimal(str(current.raw["latest_offer_amount"])) != current.refund_amount.amount
            )
            # the buyer's counter proposal is taken with accept_offer; the request as
            # asked (or the refund of goods received back) with confirm
            path = "/api/v2/returns/accept_offer" if buyer_offer else "/api/v2/returns/confirm"
            await self._post(conn, path, {"return_sn": sn})
        elif response.action == CaseAction.OFFER_PARTIAL_REFUND:
            await self._offer(conn, response, current)
        elif response.action == CaseAction.DISPUTE:
            await self._dispute(conn, response)
        else:
            raise ChannelError(
                "shopee has no seller rejection of a return: dispute it instead", code="ACTION_NOT_ALLOWED"
            )

    async def _offer(self, conn: ChannelConnection, response: CaseResponse, current: ChannelCase) -> None:
        amount = response.amount
        if amount is None:
            raise ChannelError("an offer needs an amount", code="error_param")
        if current.refund_amount is not None and amount.currency != current.refund_amount.currency:
            raise ChannelError(
                f"the return is in {current.refund_amount.currency}, not {amount.currency}",
                code="error_param",
            )
        solutions = await self._get(
            conn, "/api/v2/returns/get_available_solutions", return_sn=response.case_external_id
        )
        # a partial refund: the buyer keeps the goods (REFUND_ONLY); Shopee refuses
        # amounts outside the solution's min..max itself
        refund = solutions.get("offer_refund") or {}
        if not refund.get("eligibility"):
            raise ChannelError(
                f"shopee return {response.case_external_id} takes no refund offer now",
                code="OFFER_NOT_AVAILABLE",
            )
        await self._post(
            conn,
            "/api/v2/returns/offer",
            {
                "return_sn": response.case_external_id,
                "proposed_solution": "REFUND_ONLY",
                "proposed_adjusted_refund_amount": float(amount.rounded().amount),
            },
        )

    async def _dispute(self, conn: ChannelConnection, response: CaseResponse) -> None:
        """``dispute`` with a reason Shopee lists for the return. The operator's reason may
        be one of its ids; else the first reason the evidence allows (https links in the
        answer's comment are the evidence images, three per module at most). Shopee asks
        for the operator's email: the connection's ``settings.dispute_email``."""
        email = str(conn.settings.get("dispute_email") or "")
        if "@" not in email:
            raise ChannelError(
                "shopee disputes need the operator's email: set the connection's dispute_email",
                code="DISPUTE_EMAIL_REQUIRED",
            )
        reasons = await self._dispute_reasons(conn, response.case_external_id)
        if not reasons:
            raise ChannelError(
                f"shopee lists no dispute reason for return {response.case_external_id}",
                code="returnsn.illegal",
            )
        comment = response.comment or ""
        images = _URL.findall(comment)[:3]
        text = " ".join(p for p in [response.reason or "", _URL.sub("", comment).strip()] if p)

        def needs_images(reason: Mapping[str, Any]) -> bool:
            return any(m.get("is_required") for m in reason.get("evidence_module_list") or [])

        wanted = (response.reason or "").strip()
        chosen = next((r for r in reasons if str(r.get("dispute_reason")) == wanted), None)
        if chosen is None:
            chosen = reasons[0] if images else next((r for r in reasons if not needs_images(r)), reasons[0])
        modules = [m for m in chosen.get("evidence_module_list") or [] if isinstance(m, Mapping)]
        image_list = (
            [
                {"module_index": m["module_index"], "requirement": m["requirement"], "image_url": images}
                for m in modules
                if m.get("is_required") or m is modules[0]
            ]
            if images
            else []
        )
        await self._post(
            conn,
            "/api/v2/returns/dispute",
            {
                "return_sn": response.case_external_id,
                "email": email,
                "dispute_reason_id": int(chosen["dispute_reason"]),
                "dispute_text_reason": text[:1000],
                "image_list": image_list,
            },
        )
