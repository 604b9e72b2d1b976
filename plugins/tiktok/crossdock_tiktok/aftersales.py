"""After-sales on TikTok Shop: the Return and Refund API (202309).

* The seller cancels an order with ``POST /return_refund/202309/cancellations`` and one of
  TikTok's seller reasons, which depend on the market and on whether the order is paid
  (the reference's "cancel-reasons" appendix). :data:`CANCEL_REASONS` maps Crossdock's
  :class:`~crossdock.CancelReason`; a reason TikTok offers no equivalent of in a market is
  refused here (``CANCEL_REASON``) before anything is sent.
* Buyers' cancellation requests (``POST …/cancellations/search``, ``cancel_types``
  BUYER_CANCEL) and return / refund requests (``POST …/returns/search``; the buyer's note
  and photos from ``GET …/returns/{id}/records``) become :class:`~crossdock.ChannelCase`.
* Answers: ``POST …/cancellations/{id}/approve`` | ``/reject``, ``POST …/returns/{id}/approve``
  | ``/reject`` with the ``decision`` the return's next seller action calls for; a reject
  takes one of TikTok's reasons (``GET …/reject_reasons``), which the operator's reason is
  matched against (by name or text). Each answer carries the response's ``reference`` as
  TikTok's ``idempotency_key``, so a retried answer is applied once.

Sources: the reference pages ``cancel-order``, ``search-cancellations``,
``approve-cancellation``, ``reject-cancellation``, ``search-returns``, ``approve-return``,
``reject-return``, ``get-return-records``, ``get-reject-reasons`` and the appendices
(``cancel-reasons``, ``return-reasons``, ``refund-reasons``), mirrored in
``lazykern/ecommerce-api-docs`` ``data/raw/tiktok/api-reference/return-and-refund/``; the
changelog "Removal of unable to deliver to buyer address as a cancellation reason in ID, VN,
TH, SG, PH markets" (``data/processed/tiktok/guides/changelog/order-cancellation/``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any, Protocol

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
    with_retries,
)
from crossdock_tiktok.mapping import unit_groups

__all__ = [
    "CANCEL_REASONS",
    "CANCEL_STATUS",
    "RETURN_STATUS",
    "cancel_order",
    "cancellation_case",
    "fetch_cases",
    "respond_to_case",
    "return_case",
]

BASE = "/return_refund/202309"
CASE_PAGE = 50  # both searches take page_size up to 50
#: TikTok's answer when the order is cancelled already or a request of the buyer's is in process
IN_PROCESS = "25001011"


class Shop(Protocol):
    """What the provider (:class:`~crossdock_tiktok.marketplace.TikTokShopMarketplace`)
    offers these functions."""

    async def _shop_call(
        self, conn: ChannelConnection, method: str, path: str, operation: str, **kwargs: Any
    ) -> dict[str, Any]: ...

    async def _details(self, conn: ChannelConnection, ids: Sequence[str]) -> list[dict[str, Any]]: ...

    async def _order_raw(self, conn: ChannelConnection, external_id: str) -> dict[str, Any]: ...


# --------------------------------------------------------------------------- cancel

_OOS = ("seller_cancel_unpaid_reason_out_of_stock", "seller_cancel_reason_out_of_stock")
_PRICE = ("seller_cancel_unpaid_reason_wrong_price", "seller_cancel_reason_wrong_price")
_ASKED = (
    "seller_cancel_unpaid_reason_buyer_requested_cancellation",
    "seller_cancel_paid_reason_buyer_requested_cancellation",
)
_ADDRESS = (None, "seller_cancel_paid_reason_address_not_deliver")
_Pair = tuple[str | None, str | None]


def _uk(pair: _Pair) -> _Pair:
    return (f"{pair[0]}_uk" if pair[0] else None, f"{pair[1]}_uk" if pair[1] else None)


_COMMON: dict[CancelReason, _Pair] = {CancelReason.OUT_OF_STOCK: _OOS, CancelReason.PRICING_ERROR: _PRICE}
#: market -> Crossdock reason -> (reason for an UNPAID order, for a paid one: ON_HOLD or
#: AWAITING_SHIPMENT). OTHER has no seller reason anywhere; "unable to deliver to buyer
#: address" is gone in ID, SG, TH, VN and PH since March 2024; "buyer requested
#: cancellation" is a seller reason in the US and PH only.
CANCEL_REASONS: Mapping[str, Mapping[CancelReason, _Pair]] = {
    "US": {**_COMMON, CancelReason.BUYER_REQUEST: _ASKED, CancelReason.UNDELIVERABLE_ADDRESS: _ADDRESS},
    "GB": {
        CancelReason.OUT_OF_STOCK: _uk(_OOS),
        CancelReason.PRICING_ERROR: _uk(_PRICE),
        CancelReason.UNDELIVERABLE_ADDRESS: _uk(_ADDRESS),
    },
    "MY": {**_COMMON, CancelReason.UNDELIVERABLE_ADDRESS: _ADDRESS},
    "PH": {**_COMMON, CancelReason.BUYER_REQUEST: _ASKED},
    "ID": _COMMON,
    "SG": _COMMON,
    "TH": _COMMON,
    "VN": _COMMON,
}


def cancel_reason(site: str, reason: CancelReason, order_status: str) -> str:
    """TikTok's seller reason for ``reason`` in market ``site`` for an order in ``order_status``."""
    pair = CANCEL_REASONS.get(site, CANCEL_REASONS["US"]).get(CancelReason(reason))
    code = (pair[0] if order_status == "UNPAID" else pair[1]) if pair else None
    if code is None:
        raise ChannelError(
            f"TikTok Shop {site} has no seller cancellation reason for {CancelReason(reason).value}"
            + (" on an unpaid order" if pair and order_status == "UNPAID" else "")
            + "; choose another reason, or cancel in Seller Center",
            code="CANCEL_REASON",
        )
    return code


async def cancel_order(shop: Shop, conn: ChannelConnection, external_id: str, reason: CancelReason) -> None:
    """Cancel the order on TikTok as the seller. Already cancelled there: done (so a retry
    after a lost answer succeeds). TikTok's refusal (shipped, completed ...) is raised with
    its code and message."""
    raw = await shop._order_raw(conn, external_id)
    if raw.get("status") == "CANCELLED":
        return
    code = cancel_reason(conn.site, reason, str(raw.get("status")))
    try:
        await shop._shop_call(
            conn,
            "POST",
            f"{BASE}/cancellations",
            "return_refund.cancel",
            body={"order_id": external_id, "cancel_reason": code},
        )
    except ChannelError as exc:
        if exc.retryable:
            raise
        if exc.code == IN_PROCESS and await _grant_buyers_request(shop, conn, external_id):
            return
        # cancelled meanwhile (by an attempt whose answer was lost, or the buyer)? then done
        fresh = await shop._order_raw(conn, external_id)
        if fresh.get("status") != "CANCELLED":
            raise


async def _grant_buyers_request(shop: Shop, conn: ChannelConnection, external_id: str) -> bool:
    """The buyer has asked to cancel the order the seller cancels (TikTok refuses a seller
    cancellation then, 25001011): approving the buyer's request cancels it. Whether there
    was one to approve."""
    data = await shop._shop_call(
        conn,
        "POST",
        f"{BASE}/cancellations/search",
        "return_refund.cancellations_search",
        params={"page_size": 10},
        body={
            "order_ids": [external_id],
            "cancel_types": ["BUYER_CANCEL"],
            "cancel_status": ["CANCELLATION_REQUEST_PENDING"],
        },
    )
    pending = [c for c in data.get("cancellations") or [] if isinstance(c, Mapping) and c.get("cancel_id")]
    if not pending:
        return False
    await shop._shop_call(
        conn,
        "POST",
        f"{BASE}/cancellations/{pending[0]['cancel_id']}/approve",
        "return_refund.cancellation_approve",
        params={"idempotency_key": f"crossdock-cancel-{external_id}"[:255]},
        body={},
    )
    return True


# --------------------------------------------------------------------------- statuses

#: cancellation status -> case status. A rejected request ends CANCELLATION_REQUEST_CANCEL
#: like a withdrawn one (the search tells them apart nowhere): CLOSED, except in the answer
#: to the seller's own rejection, which shows it REJECTED.
CANCEL_STATUS: Mapping[str, CaseStatus] = {
    "CANCELLATION_REQUEST_PENDING": CaseStatus.OPEN,
    "CANCELLATION_REQUEST_SUCCESS": CaseStatus.ACCEPTED,
    "CANCELLATION_REQUEST_COMPLETE": CaseStatus.REFUNDED,
    "CANCELLATION_REQUEST_CANCEL": CaseStatus.CLOSED,
    "CANCELLATION_REQUEST_CANCELLED": CaseStatus.CLOSED,
}
#: return status -> case status (arbitration IN_PROGRESS makes any of them DISPUTED)
RETURN_STATUS: Mapping[str, CaseStatus] = {
    "RETURN_OR_REFUND_REQUEST_PENDING": CaseStatus.OPEN,
    "AWAITING_BUYER_RESPONSE": CaseStatus.NEGOTIATING,
    "AWAITING_BUYER_SHIP": CaseStatus.ACCEPTED,
    "BUYER_SHIPPED_ITEM": CaseStatus.RETURN_SHIPPED,
    "RETURN_OR_REFUND_REQUEST_SUCCESS": CaseStatus.ACCEPTED,
    "RETURN_OR_REFUND_REQUEST_COMPLETE": CaseStatus.REFUNDED,
    "REFUND_OR_RETURN_REQUEST_REJECT": CaseStatus.REJECTED,
    "REJECT_RECEIVE_PACKAGE": CaseStatus.REJECTED,
    "RETURN_OR_REFUND_REQUEST_CANCEL": CaseStatus.CANCELLED,
    "REPLACEMENT_REQUEST_PENDING": CaseStatus.OPEN,
    "REPLACEMENT_REQUEST_REJECT": CaseStatus.REJECTED,
    "REPLACEMENT_REQUEST_REFUND_SUCCESS": CaseStatus.REFUNDED,
    "REPLACEMENT_REQUEST_CANCEL": CaseStatus.CANCELLED,
    "REPLACEMENT_REQUEST_COMPLETE": CaseStatus.CLOSED,
}
#: the seller's next action on a return -> {what Crossdock answers: TikTok's decision}
DECISIONS: Mapping[str, Mapping[CaseAction, str]] = {
    "SELLER_RESPOND_REFUND": {
        CaseAction.ACCEPT: "APPROVE_REFUND",
        CaseAction.REJECT: "REJECT_REFUND",
        CaseAction.OFFER_PARTIAL_REFUND: "OFFER_PARTIAL_REFUND",
    },
    "SELLER_RESPOND_RETURN": {
        CaseAction.ACCEPT: "APPROVE_RETURN",
        CaseAction.REJECT: "REJECT_RETURN",
        CaseAction.OFFER_PARTIAL_REFUND: "OFFER_PARTIAL_REFUND",
    },
    "SELLER_RESPOND_RECEIVE_PACKAGE": {
        CaseAction.ACCEPT: "APPROVE_RECEIVED_PACKAGE",
        CaseAction.REJECT: "REJECT_RECEIVED_PACKAGE",
    },
    "SELLER_RESPOND_REPLACEMENT": {
        CaseAction.ACCEPT: "APPROVE_REPLACEMENT",
        CaseAction.REJECT: "REJECT_REPLACEMENT",
    },
}
#: what each of the seller's answers leaves a return in, once TikTok has applied it
_APPLIED: Mapping[CaseAction, frozenset[str]] = {
    CaseAction.ACCEPT: frozenset(
        {"AWAITING_BUYER_SHIP", "RETURN_OR_REFUND_REQUEST_SUCCESS", "RETURN_OR_REFUND_REQUEST_COMPLETE"}
    ),
    CaseAction.REJECT: frozenset({"REFUND_OR_RETURN_REQUEST_REJECT", "REJECT_RECEIVE_PACKAGE"}),
    CaseAction.OFFER_PARTIAL_REFUND: frozenset({"AWAITING_BUYER_RESPONSE"}),
}


def _at(value: Any) -> datetime | None:
    try:
        seconds = int(value or 0)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else None


def _money(value: Any) -> Money | None:
    if not isinstance(value, Mapping):
        return None
    amount, currency = value.get("refund_total", value.get("amount")), value.get("currency")
    try:
        return Money(Decimal(str(amount)), str(currency)) if amount not in (None, "") and currency else None
    except (InvalidOperation, ValueError):
        return None


def _next_actions(raw: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [a for a in raw.get("seller_next_action_response") or [] if isinstance(a, Mapping)]


def _deadline(raw: Mapping[str, Any]) -> datetime | None:
    found = [d for d in (_at(a.get("deadline")) for a in _next_actions(raw)) if d is not None]
    return min(found) if found else None


def _lines(items: Sequence[Mapping[str, Any]], order: Mapping[str, Any] | None) -> list[CaseLine]:
    """A case's units as lines of the order as Crossdock has it (units grouped by SKU and
    price, the group's id being its first unit's); by SKU when the order is not at hand."""
    group_of = {str(u["id"]): gid for gid, units in unit_groups(dict(order)) for u in units} if order else {}
    counted: dict[tuple[str | None, str | None], int] = {}
    for item in items:
        group = group_of.get(str(item.get("order_line_item_id")))
        sku = None if group else str(item.get("seller_sku") or item.get("sku_id") or "") or None
        counted[(group, sku)] = counted.get((group, sku), 0) + 1
    return [CaseLine(quantity=n, order_line_external_id=g, sku=s) for (g, s), n in counted.items()]


def cancellation_case(raw: Mapping[str, Any], order: Mapping[str, Any] | None = None) -> ChannelCase:
    status = str(raw.get("cancel_status") or "")
    case_status = CANCEL_STATUS.get(status, CaseStatus.CLOSED)
    waiting = case_status == CaseStatus.OPEN and any(
        a.get("action") == "SELLER_RESPOND_CANCEL" for a in _next_actions(raw)
    )
    opened = _at(raw.get("create_time")) or datetime.now(UTC)
    return ChannelCase(
        external_id=str(raw["cancel_id"]),
        order_external_id=str(raw["order_id"]),
        kind=CaseKind.CANCELLATION,
        status=case_status,
        channel_status=status,
        opened_at=opened,
        updated_at=_at(raw.get("update_time")) or opened,
        reason=str(raw.get("cancel_reason_text") or raw.get("cancel_reason") or ""),
        lines=_lines(raw.get("cancel_line_items") or [], order),
        refund_amount=_money(raw.get("refund_amount")),
        respond_by=_deadline(raw) if waiting else None,
        actions=frozenset({CaseAction.ACCEPT, CaseAction.REJECT}) if waiting else frozenset(),
        raw={"type": "cancellation", "cancel_reason": raw.get("cancel_reason")},
    )


def return_case(
    raw: Mapping[str, Any],
    records: Sequence[Mapping[str, Any]] = (),
    order: Mapping[str, Any] | None = None,
) -> ChannelCase:
    status = str(raw.get("return_status") or "")
    arbitration = str(raw.get("arbitration_status") or "")
    case_status = (
        CaseStatus.DISPUTED if arbitration == "IN_PROGRESS" else RETURN_STATUS.get(status, CaseStatus.CLOSED)
    )
    rejected_offer = raw.get("seller_proposed_return_type") == "PARTIAL_REFUND" and bool(
        raw.get("buyer_rejected_partial_refund")
    )
    actions: set[CaseAction] = set()
    next_action = None
    if case_status in (CaseStatus.OPEN, CaseStatus.RETURN_SHIPPED):
        for item in _next_actions(raw):
            taken = DECISIONS.get(str(item.get("action")))
            if taken:
                next_action = str(item.get("action"))
                actions |= set(taken)
        if rejected_offer:  # one offer per request: the buyer turned it down
            actions.discard(CaseAction.OFFER_PARTIAL_REFUND)
    refund = _money(raw.get("refund_amount"))
    offer = _money(raw.get("partial_refund"))
    if (
        offer is not None
        and not rejected_offer
        and status
        in (
            "RETURN_OR_REFUND_REQUEST_SUCCESS",
            "RETURN_OR_REFUND_REQUEST_COMPLETE",
        )
    ):
        refund = offer  # the buyer took the seller's partial refund
    buyer = [r for r in records if str(r.get("role", "")).upper() == "BUYER"]
    photos = [
        str(image["url"])
        for record in buyer
        for image in record.get("images") or []
        if isinstance(image, Mapping) and str(image.get("url", "")).startswith("https://")
    ]
    note = next((str(r["note"]) for r in buyer if r.get("note")), None)
    opened = _at(raw.get("create_time")) or datetime.now(UTC)
    kind = CaseKind.REFUND_ONLY if raw.get("return_type") == "REFUND" else CaseKind.RETURN_REFUND
    return ChannelCase(
        external_id=str(raw["return_id"]),
        order_external_id=str(raw["order_id"]),
        kind=kind,
        status=case_status,
        channel_status=status if not arbitration else f"{status}/{arbitration}",
        opened_at=opened,
        updated_at=_at(raw.get("update_time")) or opened,
        reason=str(raw.get("return_reason_text") or raw.get("return_reason") or ""),
        buyer_comment=note,
        photos=photos,
        lines=_lines(raw.get("return_line_items") or [], order),
        refund_amount=refund,
        respond_by=_deadline(raw) if actions else None,
        actions=frozenset(actions),
        raw={
            "type": "return",
            "return_type": raw.get("return_type"),
            "next_action": next_action,
            "partial_refund": (raw.get("partial_refund") or {}).get("amount"),
        },
    )


# --------------------------------------------------------------------------- sync


async def fetch_cases(
    shop: Shop, conn: ChannelConnection, *, updated_since: datetime, page_token: str | None
) -> CasePage:
    """Buyers' cancellation requests, then returns and refunds, updated in
    ``[updated_since, start of this sync)``, each by update time ascending. The page token
    carries the bounds, which of the two lists is being read and TikTok's own token."""
    if page_token:
        try:
            state = json.loads(page_token)
            ge, lt, source, tiktok = int(state["ge"]), int(state["lt"]), str(state["src"]), str(state["page"])
            if source not in ("cancellations", "returns"):
                raise ValueError(source)
        except (ValueError, KeyError, TypeError) as exc:
            raise ChannelError(
                f"tiktok: not a case page token of this plugin: {page_token!r}", code="PAGE_TOKEN"
            ) from exc
    else:
        ge, lt, source, tiktok = int(updated_since.timestamp()), int(time.time()) + 1, "cancellations", ""
    params: dict[str, Any] = {"page_size": CASE_PAGE, "sort_field": "update_time", "sort_order": "ASC"}
    if tiktok:
        params["page_token"] = tiktok
    body: dict[str, Any] = {"update_time_ge": ge, "update_time_lt": lt}
    if source == "cancellations":
        body["cancel_types"] = ["BUYER_CANCEL"]
    data = await shop._shop_call(
        conn, "POST", f"{BASE}/{source}/search", f"return_refund.{source}_search", params=params, body=body
    )
    rows = [
        r
        for r in data.get("cancellations" if source == "cancellations" else "return_orders") or []
        if isinstance(r, Mapping)
    ]
    orders = await _orders(shop, conn, rows)
    if source == "cancellations":
        cases = [cancellation_case(r, orders.get(str(r.get("order_id")))) for r in rows if r.get("cancel_id")]
    else:
        cases = [
            return_case(
                r, await _records(shop, conn, str(r["return_id"])), orders.get(str(r.get("order_id")))
            )
            for r in rows
            if r.get("return_id")
        ]
    following = str(data.get("next_page_token") or "")
    if following:
        nxt: dict[str, Any] = {"ge": ge, "lt": lt, "src": source, "page": following}
    elif source == "cancellations":
        nxt = {"ge": ge, "lt": lt, "src": "returns", "page": ""}
    else:
        return CasePage(cases=cases, next_page_token=None)
    return CasePage(cases=cases, next_page_token=json.dumps(nxt, sort_keys=True, separators=(",", ":")))


async def _orders(
    shop: Shop, conn: ChannelConnection, rows: Sequence[Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    ids = sorted({str(r["order_id"]) for r in rows if r.get("order_id")})
    if not ids:
        return {}
    found = await with_retries(partial(shop._details, conn, ids))
    return {str(o.get("id")): o for o in found}


async def _records(shop: Shop, conn: ChannelConnection, return_id: str) -> list[dict[str, Any]]:
    data = await with_retries(
        partial(
            shop._shop_call,
            conn,
            "GET",
            f"{BASE}/returns/{return_id}/records",
            "return_refund.return_records",
        )
    )
    return [r for r in data.get("records") or [] if isinstance(r, dict)]


# --------------------------------------------------------------------------- answers


async def _current(shop: Shop, conn: ChannelConnection, response: CaseResponse) -> dict[str, Any]:
    """The case as TikTok has it now (raw)."""
    cancellation = response.kind == CaseKind.CANCELLATION
    source = "cancellations" if cancellation else "returns"
    body = {"cancel_ids" if cancellation else "return_ids": [response.case_external_id]}
    data = await shop._shop_call(
        conn,
        "POST",
        f"{BASE}/{source}/search",
        f"return_refund.{source}_search",
        params={"page_size": 10 if not cancellation else 1},
        body=body,
    )
    rows = data.get("cancellations" if cancellation else "return_orders") or []
    key = "cancel_id" if cancellation else "return_id"
    found = [r for r in rows if isinstance(r, dict) and str(r.get(key)) == response.case_external_id]
    if not found:
        raise ChannelError(f"tiktok has no {source[:-1]} {response.case_external_id}", code="NOT_FOUND")
    return found[0]


async def _as_case(
    shop: Shop,
    conn: ChannelConnection,
    response: CaseResponse,
    raw: Mapping[str, Any],
    *,
    rejected: bool = False,
) -> ChannelCase:
    orders = await _orders(shop, conn, [raw])
    order = orders.get(str(raw.get("order_id")))
    if response.kind == CaseKind.CANCELLATION:
        case = cancellation_case(raw, order)
        if rejected and raw.get("cancel_status") in (
            "CANCELLATION_REQUEST_CANCEL",
            "CANCELLATION_REQUEST_CANCELLED",
        ):
            case = _replace_status(case, CaseStatus.REJECTED)
        return case
    return return_case(raw, await _records(shop, conn, response.case_external_id), order)


def _replace_status(case: ChannelCase, status: CaseStatus) -> ChannelCase:
    return replace(case, status=status)


def _applied(response: CaseResponse, raw: Mapping[str, Any]) -> bool:
    """Whether the case already shows this answer (an earlier attempt whose reply was lost)."""
    if response.kind == CaseKind.CANCELLATION:
        status = raw.get("cancel_status")
        if response.action == CaseAction.ACCEPT:
            return status in ("CANCELLATION_REQUEST_SUCCESS", "CANCELLATION_REQUEST_COMPLETE")
        return response.action == CaseAction.REJECT and status in (
            "CANCELLATION_REQUEST_CANCEL",
            "CANCELLATION_REQUEST_CANCELLED",
        )
    if response.action == CaseAction.OFFER_PARTIAL_REFUND:
        offered = (raw.get("partial_refund") or {}).get("amount")
        return (
            raw.get("return_status") == "AWAITING_BUYER_RESPONSE"
            and response.amount is not None
            and offered is not None
            and Decimal(str(offered)) == response.amount.amount
        )
    return raw.get("return_status") in _APPLIED.get(response.action, frozenset())


async def _reject_reason(shop: Shop, conn: ChannelConnection, response: CaseResponse) -> str:
    """TikTok's reject reason for the operator's: the one whose name or text it is."""
    data = await shop._shop_call(
        conn,
        "GET",
        f"{BASE}/reject_reasons",
        "return_refund.reject_reasons",
        params={"return_or_cancel_id": response.case_external_id},
    )
    reasons = [r for r in data.get("reasons") or [] if isinstance(r, Mapping) and r.get("name")]
    wanted = (response.reason or "").strip()
    for reason in reasons:
        if wanted == reason["name"] or wanted.casefold() == str(reason.get("text", "")).strip().casefold():
            return str(reason["name"])
    offered = "; ".join(f"{r.get('text')} ({r['name']})" for r in reasons) or "none"
    raise ChannelError(
        f"TikTok takes one of its own reasons to reject this request, not {wanted!r}: {offered}",
        code="REJECT_REASON",
    )


async def respond_to_case(shop: Shop, conn: ChannelConnection, response: CaseResponse) -> ChannelCase:
    """Push the seller's answer, then read the case back. An answer the case already shows
    (a retry after a lost reply) is not sent again; TikTok also gets the response's
    ``reference`` as its ``idempotency_key``."""
    if response.action == CaseAction.DISPUTE:
        raise ChannelError(
            "TikTok Shop's API takes no appeal from the seller: a buyer appeals a rejection and "
            "TikTok arbitrates (the case then shows DISPUTED)",
            code="NOT_SUPPORTED",
        )
    raw = await _current(shop, conn, response)
    rejected = response.action == CaseAction.REJECT
    if _applied(response, raw):
        return await _as_case(shop, conn, response, raw, rejected=rejected)
    path, body, operation = await _request(shop, conn, response, raw)
    params = {"idempotency_key": response.reference[:255]} if response.reference else None
    try:
        await shop._shop_call(conn, "POST", path, operation, params=params, body=body)
    except ChannelError as exc:
        if exc.retryable:
            raise
        fresh = await _current(shop, conn, response)
        if not _applied(response, fresh):
            raise
    return await _as_case(shop, conn, response, await _current(shop, conn, response), rejected=rejected)


async def _request(
    shop: Shop, conn: ChannelConnection, response: CaseResponse, raw: Mapping[str, Any]
) -> tuple[str, dict[str, Any], str]:
    """The path, body and rate-limit bucket of the answer."""
    case_id = response.case_external_id
    comment = (response.comment or "").strip()
    if response.kind == CaseKind.CANCELLATION:
        if response.action == CaseAction.ACCEPT:
            return f"{BASE}/cancellations/{case_id}/approve", {}, "return_refund.cancellation_approve"
        if response.action != CaseAction.REJECT:
            raise ChannelError(
                f"tiktok: a cancellation request takes no {response.action.value}", code="INVALID_STATE"
            )
        body: dict[str, Any] = {"reject_reason": await _reject_reason(shop, conn, response)}
        if comment:
            body["comment"] = comment
        return f"{BASE}/cancellations/{case_id}/reject", body, "return_refund.cancellation_reject"
    next_action = next(
        (str(a.get("action")) for a in _next_actions(raw) if str(a.get("action")) in DECISIONS), None
    )
    decision = DECISIONS.get(next_action or "", {}).get(response.action)
    if decision is None:
        raise ChannelError(
            f"tiktok return {case_id} is {raw.get('return_status')}: it takes no {response.action.value} now",
            code="INVALID_STATE",
        )
    if response.action == CaseAction.REJECT:
        body = {"decision": decision, "reject_reason": await _reject_reason(shop, conn, response)}
        if comment:
            body["comment"] = comment
        return f"{BASE}/returns/{case_id}/reject", body, "return_refund.return_reject"
    body = {"decision": decision}
    if response.action == CaseAction.OFFER_PARTIAL_REFUND:
        if response.amount is None:
            raise ChannelError("tiktok: a partial refund offer needs an amount", code="AMOUNT_REQUIRED")
        body["partial_refund"] = {"currency": response.amount.currency, "amount": str(response.amount.amount)}
    return f"{BASE}/returns/{case_id}/approve", body, "return_refund.return_approve"
