"""After-sales on Lazada: the seller's cancellations and the buyers' reverse orders.

Lazada keeps every buyer's after-sales request as a *reverse order* (``reverse_order_id``)
with one *reverse order line* per unit (``reverse_order_line_id``, naming the unit's
``trade_order_line_id``, i.e. its ``order_item_id``). ``request_type`` is ``CANCEL`` (the
buyer asks to cancel before shipping), ``RETURN`` (send back for a refund) or
``ONLY_REFUND`` (a refund without a return, a few categories only). Each line has a
``reverse_status`` (the request: ``REQUEST_INITIATE`` waits for the seller,
``REQUEST_REJECT``, ``REQUEST_CANCEL`` the buyer withdrew, ``CANCEL_SUCCESS``) and an
``ofc_status`` (the return's logistics and refund: ``INITIAL`` ... ``RETURN_CANCELED``).

The seller cancels an order item by item: ``/order/reverse/cancel/validate`` says whether
the items can be cancelled and which reasons this order takes (their ids differ per
country), ``/order/reverse/cancel/create`` cancels them with one of those reason ids.

Sources (the Lazada Open Platform API reference as mirrored in
``lazykern/ecommerce-api-docs``): ``data/raw/lazada/apis/order-api/ordercancelvalidate.json``,
``return-and-refund-api/initreverseordercancel.json``, ``getreverseordersforseller.json``,
``getreverseorderdetail.json``, ``getreverseorderhistorylist.json``,
``getreverseorderreasonlist.json``, ``initreverseordercanceldecide.json``,
``reverseorderreturnupdate.json``, ``reverseorderonlyrefunddecide.json``; the guides
``data/processed/lazada/guides/api-best-practice/order-operation/order-cancellation.md`` and
``reverse-order/reverse-order-processing-process.md`` (which actions exist at which step and
what each needs) and the reverse-order push page
``push-mechanismwebhook-application/webhook-apis/webhook-api-reverse-order.md``. What is
our own reading is marked UNCONFIRMED here and in the README.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

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

__all__ = [
    "CANCEL_REASON_WORDS",
    "CASE_PAGE",
    "case_status",
    "line_actions",
    "pick_cancel_reason",
    "to_case",
]

#: ``(conn, operation, method, path, params) -> answer``: the provider's signed call.
Api = Callable[[ChannelConnection, str, str, str, Mapping[str, Any]], Awaitable[dict[str, Any]]]

#: Reverse orders per ``/reverse/getreverseordersforseller`` page (``page_size``; the
#: reference's default is 10 and it publishes no maximum: 50 is our choice).
CASE_PAGE = 50
#: The walk's window ends this far after our clock (milliseconds).
CLOCK_MARGIN_MS = 60_000
#: History entries per ``/order/reverse/return/history/list`` page (default 10).
HISTORY_PAGE = 20
#: Units Lazada lets the seller cancel ("Only order items with the Pending ~ Ready To Ship
#: status can be cancelled", order-cancellation.md).
CANCELLABLE = frozenset({"unpaid", "pending", "topack", "packed", "repacked", "ready_to_ship"})

#: Our reasons -> words of Lazada's reason names, best first. Lazada gives the reasons an
#: order takes (and their ids, which differ per country) in OrderCancelValidate's
#: ``reason_options``: "Sourcing Delay", "Out of Stock", "Wrong Price or Pricing Error" in the
#: guide's example. A reason with no matching option goes as Lazada's "Other(s)" when it
#: offers one, else it is refused (``REASON_NOT_OFFERED``).
CANCEL_REASON_WORDS: Mapping[CancelReason, tuple[str, ...]] = {
    CancelReason.OUT_OF_STOCK: ("out of stock", "stock", "sourcing"),
    CancelReason.PRICING_ERROR: ("pricing", "price"),
    CancelReason.UNDELIVERABLE_ADDRESS: ("address", "undeliverable", "cannot deliver", "delivery area"),
    CancelReason.BUYER_REQUEST: ("customer", "buyer"),
    CancelReason.OTHER: ("other", "others"),
}

#: request_type -> the case's kind.
KINDS = {
    "CANCEL": CaseKind.CANCELLATION,
    "RETURN": CaseKind.RETURN_REFUND,
    "ONLY_REFUND": CaseKind.REFUND_ONLY,
}
#: ``reverse_status`` values: the four the reference lists (GetReverseOrderDetail) and
#: ``REQUEST_COMPLETE``, our name (UNCONFIRMED) for a request the seller agreed to whose
#: return or refund then goes on under ``ofc_status``.
WAITING, REJECTED, WITHDRAWN, CANCELLED = (
    "REQUEST_INITIATE",
    "REQUEST_REJECT",
    "REQUEST_CANCEL",
    "CANCEL_SUCCESS",
)
AGREED = "REQUEST_COMPLETE"
#: ``ofc_status`` values: ``INITIAL`` and ``RETURN_CANCELED`` are the reference's; the
#: others are our names (UNCONFIRMED) for the steps the processing guide describes: the
#: buyer sends the parcel, the seller confirms delivery, the refund is paid or refused.
SHIPPING_BACK, RECEIVED = "SHIPPING_BACK", "RECEIVED"
REFUND_PAID, REFUND_REFUSED, RETURN_CANCELED = "REFUND_SUCCESS", "REFUND_REJECTED", "RETURN_CANCELED"
#: How advanced a status is, to give a case of several lines the status of its least
#: advanced line that is still going on.
_RANK = {
    CaseStatus.OPEN: 0,
    CaseStatus.DISPUTED: 1,
    CaseStatus.NEGOTIATING: 2,
    CaseStatus.ACCEPTED: 3,
    CaseStatus.RETURN_SHIPPED: 4,
    CaseStatus.REFUNDED: 5,
    CaseStatus.REJECTED: 6,
    CaseStatus.CANCELLED: 7,
    CaseStatus.CLOSED: 8,
}
_LINKS = re.compile(r"https://[^\s<>\"']+")


# --------------------------------------------------------------------------- mapping


def _flag(value: Any) -> bool:
    return str(value).lower() == "true"


def _ms(value: Any) -> datetime | None:
    text = str(value or "").strip()
    if not text.isdigit() or int(text) <= 0:
        return None
    return datetime.fromtimestamp(int(text) / 1000, UTC)


def case_status(request_type: str, line: Mapping[str, Any]) -> CaseStatus:
    """One reverse line's status in Crossdock's terms (the README's table)."""
    reverse, ofc = str(line.get("reverse_status") or ""), str(line.get("ofc_status") or "")
    if ofc == REFUND_PAID:
        return CaseStatus.REFUNDED
    if reverse == WITHDRAWN or ofc == RETURN_CANCELED:
        return CaseStatus.CANCELLED
    if _flag(line.get("is_dispute")):
        return CaseStatus.DISPUTED
    if reverse == REJECTED or ofc == REFUND_REFUSED:
        return CaseStatus.REJECTED
    if reverse == CANCELLED:
        return CaseStatus.ACCEPTED  # the order is cancelled: the cancellation was granted
    if reverse == WAITING:
        return CaseStatus.OPEN
    if reverse == AGREED:
        return CaseStatus.RETURN_SHIPPED if ofc in (SHIPPING_BACK, RECEIVED) else CaseStatus.ACCEPTED
    return CaseStatus.OPEN  # a status we do not know: shown as Lazada's, no action offered


def line_actions(request_type: str, line: Mapping[str, Any]) -> frozenset[CaseAction]:
    """What the seller may answer for this line now (the processing guide's steps):

    - a buyer's cancellation waiting for the seller: agree or refuse
      (``/order/reverse/cancel/seller/decide``);
    - a return waiting for the seller: agree (``agreeReturn``) or refuse (``refuseReturn``);
    - a return on its way back or received: take it and refund (``confirmDelivery`` then
      ``agreeRefund``) or refuse the refund (``refuseRefund``, which needs photos);
    - a refund-only request: refund (``agreeRefund``) or dispute (``startDispute``, which
      needs photos).

    Lazada has no partial-refund offer in its API: OFFER_PARTIAL_REFUND is never offered.
    """
    status = case_status(request_type, line)
    if (
        request_type in ("CANCEL", "RETURN")
        and status == CaseStatus.OPEN
        and line.get("reverse_status") == WAITING
    ):
        return frozenset({CaseAction.ACCEPT, CaseAction.REJECT})
    if request_type == "RETURN" and status == CaseStatus.RETURN_SHIPPED:
        return frozenset({CaseAction.ACCEPT, CaseAction.REJECT})
    if request_type == "ONLY_REFUND" and status == CaseStatus.OPEN and line.get("reverse_status") == WAITING:
        return frozenset({CaseAction.ACCEPT, CaseAction.DISPUTE})
    return frozenset()


def _lines(raw: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The reverse lines of a reverse order as either API gives them (the list API's
    ``reverse_order_lines``, the detail API's ``reverseOrderLineDTOList``)."""
    lines = raw.get("reverse_order_lines")
    if lines is None:
        lines = raw.get("reverseOrderLineDTOList")
    return [line for line in lines or [] if isinstance(line, Mapping)]


def _amount(cents: Any, currency: str) -> Decimal:
    """Lazada's amounts are in cents, "except VN" (VND whole units; the reference)."""
    try:
        value = Decimal(str(cents or "0"))
    except ArithmeticError:
        value = Decimal(0)
    return value if currency == "VND" else value / 100


def to_case(
    raw: Mapping[str, Any],
    currency: str,
    photos: Sequence[str] = (),
    order_lines: Mapping[str, str] | None = None,
) -> ChannelCase:
    """A reverse order as a :class:`ChannelCase`.

    ``order_lines`` maps a unit (``order_item_id``) to the plugin's order line id (the first
    unit of its SKU); without it, lines are matched by seller SKU."""
    request_type = str(raw.get("request_type") or "")
    lines = _lines(raw)
    if not lines:
        raise ChannelError(
            f"lazada reverse order {raw.get('reverse_order_id')} has no lines",
            code="MALFORMED",
            retryable=True,
        )
    statuses = [case_status(request_type, line) for line in lines]
    going_on = [s for s in statuses if not s.final]
    if going_on:
        status = min(going_on, key=_RANK.__getitem__)
    elif CaseStatus.REFUNDED in statuses:
        status = CaseStatus.REFUNDED  # some units refunded, the rest refused or withdrawn
    else:
        status = min(statuses, key=_RANK.__getitem__)
    current = [line for line, s in zip(lines, statuses, strict=True) if s == status]
    actions = frozenset[CaseAction]()
    # an RTW return (``is_rtm`` false) goes back to Lazada's warehouse, which decides it
    # ("handled by Lazada ... without the seller having to do it manually"; the overview)
    lazadas = request_type == "RETURN" and str(raw.get("is_rtm", "true")).lower() == "false"
    if not status.final and not lazadas:
        sets = [line_actions(request_type, line) for line in current]
        actions = frozenset.intersection(*sets) if sets else frozenset()
    counted = current if status == CaseStatus.REFUNDED else lines
    refund = sum((_amount(line.get("refund_amount"), currency) for line in counted), Decimal(0))
    grouped: dict[tuple[str | None, str | None], int] = {}
    for line in lines:
        unit = str(line.get("trade_order_line_id") or "")
        sku = str(line.get("seller_sku_id") or "") or None
        key = ((order_lines or {}).get(unit), sku)
        grouped[key] = grouped.get(key, 0) + 1
    opened = [t for t in (_ms(line.get("return_order_line_gmt_create")) for line in lines) if t]
    updated = [t for t in (_ms(line.get("return_order_line_gmt_modified")) for line in lines) if t]
    deadlines = [t for t in (_ms(line.get("sla")) for line in current) if t]
    reasons = list(
        dict.fromkeys(str(line.get("reason_text") or "") for line in lines if line.get("reason_text"))
    )
    channel_status = "/".join(
        dict.fromkeys(
            f"{line.get('reverse_status') or '?'}:{line.get('ofc_status') or '?'}" for line in current
        )
    )
    now = datetime.now(UTC)
    return ChannelCase(
        external_id=str(raw["reverse_order_id"]),
        order_external_id=str(raw.get("trade_order_id") or ""),
        kind=KINDS.get(request_type, CaseKind.RETURN_REFUND),
        status=status,
        channel_status=channel_status,
        opened_at=min(opened) if opened else (min(updated) if updated else now),
        updated_at=max(updated) if updated else (max(opened) if opened else now),
        reason="; ".join(reasons),
        buyer_comment=None,  # the reference documents no buyer comment on a reverse order
        photos=tuple(p for p in photos if p.startswith("https://")),
        lines=tuple(
            CaseLine(quantity=q, order_line_external_id=line_id, sku=sku)
            for (line_id, sku), q in grouped.items()
        ),
        refund_amount=Money(refund, currency) if refund > 0 else None,
        respond_by=min(deadlines) if deadlines and actions else None,
        actions=actions,
        raw={
            "reverse_order_id": str(raw["reverse_order_id"]),
            "request_type": request_type,
            "is_rtm": _flag(raw.get("is_rtm")),
            "lines": [
                {
                    "reverse_order_line_id": str(line.get("reverse_order_line_id")),
                    "trade_order_line_id": str(line.get("trade_order_line_id")),
                    "reverse_status": str(line.get("reverse_status") or ""),
                    "ofc_status": str(line.get("ofc_status") or ""),
                    "is_dispute": str(_flag(line.get("is_dispute"))).lower(),
                }
                for line in lines
            ],
        },
    )


# --------------------------------------------------------------------------- the calls


class AfterSales:
    """The after-sales calls of one provider; ``api`` is its signed, throttled call."""

    def __init__(self, api: Api) -> None:
        self.api = api

    async def _read(
        self, conn: ChannelConnection, operation: str, path: str, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """A read inside an operation, retried on its own (only the operation's write is left
        to the core's retry of the whole operation)."""
        return await with_retries(lambda: self.api(conn, operation, "GET", path, params))

    # ------------------------------------------------------------ seller cancellation

    async def cancel_order(self, conn: ChannelConnection, order_id: str, reason: CancelReason) -> None:
        """Cancel every live unit of the order on Lazada with the reason Lazada offers for
        ``reason``. Units already cancelled make it a success (a retry after a lost answer
        finds them cancelled and asks nothing)."""
        answer = await self._read(conn, "GetOrderItems", "/order/items/get", {"order_id": order_id})
        units = [u for u in answer.get("data") or [] if isinstance(u, Mapping)]
        if not units:
            raise ChannelError(f"lazada has no order {order_id}", code="ORDER_NOT_FOUND")
        live = [str(u["order_item_id"]) for u in units if str(u.get("status")) != "canceled"]
        if not live:
            return  # Lazada has cancelled it already
        items = json.dumps([int(i) if i.isdigit() else i for i in live], separators=(",", ":"))
        checked = await self._read(
            conn,
            "OrderCancelValidate",
            "/order/reverse/cancel/validate",
            {"order_id": order_id, "order_item_id_list": items},
        )
        data = checked.get("data") or {}
        options = [
            o for o in data.get("reason_options") or [] if isinstance(o, Mapping) and o.get("reason_id")
        ]
        if str(data.get("tip_type") or "").lower() == "error" or not options:
            # "Orders that do not meet the criteria will report an error, and the specific
            # reason will be displayed in the tip_content field" (order-cancellation.md)
            raise ChannelError(
                f"lazada will not cancel order {order_id}: "
                + str(data.get("tip_content") or "it cannot be cancelled now"),
                code="CANCEL_NOT_ALLOWED",
            )
        reason_id = pick_cancel_reason(reason, options)
        if reason_id is None:
            offered = ", ".join(str(o.get("reason_name")) for o in options)
            raise ChannelError(
                f"lazada offers no cancellation reason for {reason.value} on order {order_id} "
                f"(it offers: {offered})",
                code="REASON_NOT_OFFERED",
            )
        done = await self.api(
            conn,
            "InitReverseOrderCancel",
            "GET",
            "/order/reverse/cancel/create",
            {"order_id": order_id, "order_item_id_list": items, "reason_id": reason_id},
        )
        # the answer's tip is wording for a person (the reference's example says "error" for
        # a success): whether the units are cancelled is read back
        after = await self._read(conn, "GetOrderItems", "/order/items/get", {"order_id": order_id})
        left = [
            u
            for u in after.get("data") or []
            if str(u.get("order_item_id")) in live and u.get("status") != "canceled"
        ]
        if left:
            tip = done.get("data") or {}
            raise ChannelError(
                f"lazada did not cancel order {order_id}: "
                + str(
                    (tip.get("tip_content") if isinstance(tip, Mapping) else None)
                    or f"{len(left)} units are live"
                ),
                code="CANCEL_NOT_ALLOWED",
            )

    # ------------------------------------------------------------ reading cases

    async def fetch_cases(
        self, conn: ChannelConnection, *, updated_since: datetime, page_token: str | None
    ) -> CasePage:
        """Reverse orders whose lines changed since ``updated_since``, a page at a time.

        The walk is over a fixed window (``ReverseOrderLineModifiedTimeRangeStart`` ..
        ``End``, milliseconds; the end is a minute after the first page's time) by ``page_no``. A reverse
        order modified during the walk leaves the window, which shifts the pages after it
        up: when ``total`` shrinks the walk steps back as many pages as it lost, so nothing
        is skipped (what is read twice the core keeps once). The order of the list is not
        documented; each page is returned least recently updated first."""
        state: dict[str, Any] = (
            json.loads(page_token)
            if page_token
            else {
                "start": int(updated_since.timestamp() * 1000),
                # a minute ahead: Lazada's clock may run ahead of ours
                "end": int(datetime.now(UTC).timestamp() * 1000) + CLOCK_MARGIN_MS,
                "page": 1,
                "total": None,
            }
        )
        result = await self._case_page(conn, state)
        total = int(result.get("total") or 0)
        seen = state.get("total")
        if seen is not None and total < int(seen) and state["page"] > 1:
            back = -(-(int(seen) - total) // CASE_PAGE)  # pages lost, rounded up
            state = {**state, "page": max(1, state["page"] - back)}
            result = await self._case_page(conn, state)
            total = int(result.get("total") or 0)
        rows = [r for r in result.get("items") or [] if isinstance(r, Mapping) and r.get("reverse_order_id")]
        cases = [await self._complete(conn, row) for row in rows]  # its reads retried one by one
        cases.sort(key=lambda c: (c.updated_at, c.external_id))
        if not rows or state["page"] * CASE_PAGE >= total:
            return CasePage(cases=cases)
        following = {**state, "page": state["page"] + 1, "total": total}
        return CasePage(cases=cases, next_page_token=json.dumps(following, sort_keys=True))

    async def _case_page(self, conn: ChannelConnection, state: Mapping[str, Any]) -> Mapping[str, Any]:
        answer = await self.api(
            conn,
            "GetReverseOrdersForSeller",
            "GET",
            "/reverse/getreverseordersforseller",
            {
                "page_size": CASE_PAGE,
                "page_no": state["page"],
                "ReverseOrderLineModifiedTimeRangeStart": state["start"],
                "ReverseOrderLineModifiedTimeRangeEnd": state["end"],
            },
        )
        result = answer.get("result") or {}
        if not isinstance(result, Mapping) or str(result.get("success", "true")).lower() == "false":
            raise ChannelError(
                "lazada /reverse/getreverseordersforseller answered no result",
                code="MALFORMED",
                retryable=True,
            )
        return result

    async def _complete(self, conn: ChannelConnection, raw: Mapping[str, Any]) -> ChannelCase:
        """The case with the buyer's photos (the reverse line's history: ``picture``) and
        its lines named as the plugin's order lines."""
        lines = _lines(raw)
        photos: list[str] = []
        if lines:
            photos = await self._photos(conn, str(lines[0].get("reverse_order_line_id")))
        units = await self._units(conn, str(raw.get("trade_order_id") or ""))
        return to_case(raw, conn.currency, photos, units)

    async def _photos(self, conn: ChannelConnection, line_id: str) -> list[str]:
        """The buyer's pictures in the line's negotiation history (``picture`` of each entry;
        the reference documents ``operator``, ``picture`` and ``time``)."""
        found: list[str] = []
        page = 1
        while page <= 10:
            answer = await self._read(
                conn,
                "GetReverseOrderHistoryList",
                "/order/reverse/return/history/list",
                {"reverse_order_line_id": line_id, "page_size": HISTORY_PAGE, "page_number": page},
            )
            data = answer.get("data") or {}
            for entry in data.get("list") or []:
                if not isinstance(entry, Mapping) or str(entry.get("operator") or "").lower() == "seller":
                    continue  # the seller's own evidence (UNCONFIRMED: how Lazada names it)
                pictures = entry.get("picture")
                for picture in pictures if isinstance(pictures, list) else []:
                    if isinstance(picture, str) and picture not in found:
                        found.append(picture)
            info = data.get("page_info") or {}
            if page * HISTORY_PAGE >= int(info.get("total") or 0):
                break
            page += 1
        return found

    async def _units(self, conn: ChannelConnection, order_id: str) -> dict[str, str]:
        """Each unit of the order -> the plugin's line id (the first unit of its SKU)."""
        if not order_id:
            return {}
        try:
            answer = await self._read(conn, "GetOrderItems", "/order/items/get", {"order_id": order_id})
        except ChannelError as exc:
            if exc.code == "16":  # not (or not yet) one of the seller's orders: match by SKU
                return {}
            raise
        first: dict[str, str] = {}
        units: dict[str, str] = {}
        for unit in answer.get("data") or []:
            sku = str(unit.get("sku") or "")
            line_id = first.setdefault(sku, str(unit["order_item_id"]))
            units[str(unit["order_item_id"])] = line_id
        return units

    async def read_case(
        self, conn: ChannelConnection, reverse_order_id: str, *, full: bool = True
    ) -> ChannelCase:
        """One reverse order as Lazada shows it now (``/order/reverse/return/detail/list``);
        ``full=False``: without its photos and order lines (its status and actions only)."""
        answer = await self._read(
            conn,
            "GetReverseOrderDetail",
            "/order/reverse/return/detail/list",
            {"reverse_order_id": reverse_order_id},
        )
        data = answer.get("data")
        if not isinstance(data, Mapping) or not data.get("reverse_order_id"):
            raise ChannelError(f"lazada has no reverse order {reverse_order_id}", code="CASE_NOT_FOUND")
        return await self._complete(conn, data) if full else to_case(data, conn.currency)

    # ------------------------------------------------------------ answering

    async def respond(self, conn: ChannelConnection, response: CaseResponse) -> ChannelCase:
        """Push the seller's answer, then read the case back.

        Lazada takes no idempotency key, so the case is read first: an answer whose effect
        is already there (a retry after a lost answer) is not sent again; an answer the case
        no longer takes is refused with what Lazada shows."""
        reverse_id = response.case_external_id
        case = await self.read_case(conn, reverse_id, full=False)
        if response.action not in case.actions:
            if _already(case, response.action):
                return await self.read_case(conn, reverse_id)
            takes = ", ".join(sorted(a.value for a in case.actions)) or "no answer"
            raise ChannelError(
                f"lazada reverse order {reverse_id} is {case.channel_status}: it takes {takes} now, "
                f"not {response.action.value}",
                code="ACTION_NOT_ALLOWED",
            )
        request_type = str(case.raw.get("request_type") or "")
        lines = [
            line
            for line in case.raw.get("lines") or []
            if response.action in line_actions(request_type, line)
        ]
        ids = [str(line["reverse_order_line_id"]) for line in lines]
        if request_type == "CANCEL":
            await self._decide_cancel(conn, reverse_id, ids[0], response)
        elif request_type == "ONLY_REFUND":
            for line_id in ids:  # "currently list size can be only 1" (E0133)
                await self._decide_refund(conn, reverse_id, line_id, response)
        elif case.status == CaseStatus.RETURN_SHIPPED:
            await self._settle_return(conn, reverse_id, lines, response)
        else:
            await self._answer_return(conn, reverse_id, ids, response)
        return await self.read_case(conn, reverse_id)

    async def _reason_id(self, conn: ChannelConnection, line_id: str, text: str | None) -> str:
        """The refusal reason Lazada offers for this line closest to the seller's words
        (``/order/reverse/reason/list``): most words in common, else "other", else the first."""
        answer = await self._read(
            conn,
            "GetReverseOrderReasonList",
            "/order/reverse/reason/list",
            {"reverse_order_line_id": line_id},
        )
        options = [o for o in answer.get("data") or [] if isinstance(o, Mapping) and o.get("reason_id")]
        if not options:
            raise ChannelError(f"lazada offers no reason to refuse reverse line {line_id}", code="119")
        words = set(re.findall(r"[a-z]+", (text or "").lower()))

        def score(option: Mapping[str, Any]) -> tuple[int, int]:
            name = str(option.get("text") or option.get("muti_language_text") or "").lower()
            return (len(words & set(re.findall(r"[a-z]+", name))), int("other" in name))

        return str(max(options, key=score)["reason_id"])

    async def _decide_cancel(
        self, conn: ChannelConnection, reverse_id: str, line_id: str, response: CaseResponse
    ) -> None:
        params: dict[str, Any] = {
            "reverse_order_id": reverse_id,
            "agree_cancel": response.action == CaseAction.ACCEPT,
        }
        if response.action == CaseAction.REJECT:
            params["reason_code"] = await self._reason_id(conn, line_id, response.reason)
        await self.api(
            conn, "InitReverseOrderCancelDecide", "GET", "/order/reverse/cancel/seller/decide", params
        )

    async def _decide_refund(
        self, conn: ChannelConnection, reverse_id: str, line_id: str, response: CaseResponse
    ) -> None:
        params: dict[str, Any] = {
            "reverse_order_id": reverse_id,
            "reverse_order_item_ids": _numbers([line_id]),
            "action": "agreeRefund" if response.action == CaseAction.ACCEPT else "startDispute",
        }
        if response.action == CaseAction.DISPUTE:
            params["comment"] = _comment(response)
            params["image_info_list"] = json.dumps(
                [{"file_name": _name(u), "file_url": u} for u in _links(response)], separators=(",", ":")
            )
        await self.api(
            conn, "ReverseOrderOnlyRefundDecide", "GET", "/order/reverse/onlyrefund/seller/decide", params
        )

    async def _update(self, conn: ChannelConnection, params: Mapping[str, Any]) -> None:
        await self.api(conn, "ReverseOrderReturnUpdate", "GET", "/order/reverse/return/update", params)

    async def _answer_return(
        self, conn: ChannelConnection, reverse_id: str, ids: Sequence[str], response: CaseResponse
    ) -> None:
        if response.action == CaseAction.ACCEPT:
            await self._update(
                conn,
                {
                    "action": "agreeReturn",
                    "reverse_order_id": reverse_id,
                    "reverse_order_item_ids": _numbers(ids),
                },
            )
            return
        for line_id in ids:  # E0111: no refusal of several lines at once
            await self._update(
                conn,
                {
                    "action": "refuseReturn",
                    "reverse_order_id": reverse_id,
                    "reverse_order_item_ids": _numbers([line_id]),
                    "reason_id": await self._reason_id(conn, line_id, response.reason),
                    "comment": _comment(response),
                },
            )

    async def _settle_return(
        self,
        conn: ChannelConnection,
        reverse_id: str,
        lines: Sequence[Mapping[str, Any]],
        response: CaseResponse,
    ) -> None:
        """The return is back: confirm its delivery (where not yet), then refund or refuse."""
        unconfirmed = [
            str(line["reverse_order_line_id"]) for line in lines if line.get("ofc_status") == SHIPPING_BACK
        ]
        if unconfirmed:
            await self._update(
                conn,
                {
                    "action": "confirmDelivery",
                    "reverse_order_id": reverse_id,
                    "reverse_order_item_ids": _numbers(unconfirmed),
                },
            )
        ids = [str(line["reverse_order_line_id"]) for line in lines]
        if response.action == CaseAction.ACCEPT:
            await self._update(
                conn,
                {
                    "action": "agreeRefund",
                    "reverse_order_id": reverse_id,
                    "reverse_order_item_ids": _numbers(ids),
                },
            )
            return
        images = json.dumps([{"name": _name(u), "url": u} for u in _links(response)], separators=(",", ":"))
        for line_id in ids:
            await self._update(
                conn,
                {
                    "action": "refuseRefund",
                    "reverse_order_id": reverse_id,
                    "reverse_order_item_ids": _numbers([line_id]),
                    "reason_id": await self._reason_id(conn, line_id, response.reason),
                    "comment": _comment(response),
                    "image_info": images,
                },
            )


def pick_cancel_reason(reason: CancelReason, options: Sequence[Mapping[str, Any]]) -> str | None:
    """The id of the option whose name carries the first of our reason's words, else of an
    "Other(s)" option when Lazada offers one; None when it offers neither."""
    for word in (*CANCEL_REASON_WORDS[reason], "other"):
        for option in options:
            if word in str(option.get("reason_name") or "").lower():
                return str(option["reason_id"])
    return None


def _already(case: ChannelCase, action: CaseAction) -> bool:
    """The case shows what ``action`` brings about: it was applied before."""
    status: CaseStatus = case.status
    if action == CaseAction.ACCEPT:
        return status in (CaseStatus.ACCEPTED, CaseStatus.RETURN_SHIPPED, CaseStatus.REFUNDED)
    if action == CaseAction.REJECT:
        return status is CaseStatus.REJECTED
    if action == CaseAction.DISPUTE:
        return status is CaseStatus.DISPUTED
    return False


def _numbers(ids: Sequence[str]) -> str:
    """A ``Number[]`` parameter: a JSON array of the ids."""
    return json.dumps([int(i) if i.isdigit() else i for i in ids], separators=(",", ":"))


def _comment(response: CaseResponse) -> str:
    parts = [p.strip() for p in (response.reason, response.comment) if p and p.strip()]
    return " - ".join(dict.fromkeys(parts))


def _links(response: CaseResponse) -> list[str]:
    """Evidence photos for Lazada's refusals that need them: the https links in the
    seller's reason and comment (the core's answer has no attachments of its own)."""
    text = f"{response.reason or ''} {response.comment or ''}"
    return list(dict.fromkeys(_LINKS.findall(text)))


def _name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1][:100] or "evidence.jpg"
