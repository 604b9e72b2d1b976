"""After-sales cases: buyers' cancellation, return and refund requests pulled from the
channels, and the seller's answers pushed back.

A case is stored as its channel last showed it (an older version never overwrites a newer
one). What a case means for its order is applied here, once per change of status:

- an open cancellation request holds the order (``cancellation_requested``), so it is not
  picked or shipped while the seller decides; the hold goes when the request is refused or
  withdrawn;
- an accepted cancellation cancels the order (its reserved stock goes back);
- a refunded return or refund records the refund on the order, once per case.

An answer (:func:`respond`) is stored, then pushed by the ``respond_case`` job after commit;
at most one answer per case is pending at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import utcnow
from crossdock.db.models import (
    AfterSalesCase,
    CaseResponseRow,
    Connection,
    Order,
    OrderHold,
    OrderLine,
    OrderStatus,
    Refund,
    ResponseStatus,
)
from crossdock.db.scoping import session_tenant
from crossdock.errors import ChannelError, UserError
from crossdock.money import Money
from crossdock.providers import (
    CaseAction,
    CaseKind,
    CasePage,
    CaseResponse,
    CaseStatus,
    ChannelCase,
    HoldReason,
    MarketplaceCapability,
)
from crossdock.services.aftersales import record_refund
from crossdock.services.allocation import hold_order, release_holds
from crossdock.services.events import emit
from crossdock.services.fulfilment import GONE, cancel_order
from crossdock.services.states import lock

if TYPE_CHECKING:
    from crossdock.services.uow import UnitOfWork

__all__ = [
    "CaseIngestResult",
    "Outgoing",
    "ingest_cases",
    "outgoing_response",
    "record_response_failure",
    "record_response_sent",
    "respond",
]


#: Open requests still waiting for the seller (what the hold and the deadline are about).
WAITING = (CaseStatus.OPEN, CaseStatus.NEGOTIATING)
#: A cancellation in one of these has been granted: the order is cancelled here too.
GRANTED = (CaseStatus.ACCEPTED, CaseStatus.REFUNDED)
HOLDABLE = (
    OrderStatus.PENDING,
    OrderStatus.READY,
    OrderStatus.ON_HOLD,
    OrderStatus.ALLOCATED,
    OrderStatus.PICKING,
)
MAX_TEXT = 1000


@dataclass
class CaseIngestResult:
    opened: int = 0
    updated: int = 0
    ignored: int = 0

    def counts(self) -> dict[str, int]:
        return {"opened": self.opened, "updated": self.updated, "ignored": self.ignored}


async def ingest_cases(uow: UnitOfWork, conn: Connection, page: CasePage) -> CaseIngestResult:
    """Store one page of a connection's cases and apply what each change means."""
    session = uow.session
    result = CaseIngestResult()
    if not page.cases:
        return result
    # One connection's pages are stored one at a time (the connection row is the lock, as
    # for its orders), so two runs over the same page cannot both insert a case.
    await session.execute(select(Connection.id).where(Connection.id == conn.id).with_for_update())
    newest: dict[str, ChannelCase] = {}
    for case in page.cases:
        seen = newest.get(case.external_id)
        if seen is None or case.updated_at >= seen.updated_at:
            newest[case.external_id] = case
    stored = {
        row.external_id: row
        for row in (
            await session.scalars(
                select(AfterSalesCase)
                .where(AfterSalesCase.connection_id == conn.id, AfterSalesCase.external_id.in_(newest))
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).all()
    }
    orders = await _orders(session, conn.id, {c.order_external_id for c in newest.values()})
    lines = await _order_lines(session, [o.id for o in orders.values()])
    changed: list[tuple[AfterSalesCase, str | None, bool]] = []
    for external_id, case in newest.items():
        row = stored.get(external_id)
        order = orders.get(case.order_external_id)
        if row is not None and row.channel_updated_at > case.updated_at:
            result.ignored += 1  # an older version than the one stored
            continue
        before = row.status if row is not None else None
        linked = order is not None and (row is None or row.order_id is None)
        if row is None:
            row = AfterSalesCase(connection_id=conn.id, external_id=external_id)
            session.add(row)
            result.opened += 1
        elif _same(row, case) and not linked:
            result.ignored += 1
            continue
        else:
            result.updated += 1
        _copy(row, case, order, lines.get(order.id, []) if order else [])
        changed.append((row, before, linked))
    await session.flush()
    for row, before, linked in changed:
        subject = f"AfterSalesCase:{row.id}"
        if before is None:
            emit(session, "case.opened", subject, kind=row.kind, status=row.status, order_id=row.order_id)
        elif before != row.status:
            emit(session, "case.updated", subject, kind=row.kind, status=row.status, previous=before)
        if (before != row.status or linked) and row.order_id is not None:
            await _apply(uow, row)
    for row in await _link_waiting(session, conn.id, newest):
        await _apply(uow, row)  # its order arrived after it: what its status means applies now
    return result


async def _link_waiting(
    session: AsyncSession,
    connection_id: int,
    page: dict[str, ChannelCase],
) -> list[AfterSalesCase]:
    """Cases that arrived before their order, whose order has arrived since."""
    waiting = (
        await session.scalars(
            select(AfterSalesCase)
            .where(AfterSalesCase.connection_id == connection_id, AfterSalesCase.order_id.is_(None))
            .with_for_update()
            .limit(200)
        )
    ).all()
    waiting = [row for row in waiting if row.external_id not in page]
    orders = await _orders(session, connection_id, {row.order_external_id for row in waiting})
    linked = []
    for row in waiting:
        order = orders.get(row.order_external_id)
        if order is not None:
            row.order_id = order.id
            linked.append(row)
    return linked


async def _orders(session: AsyncSession, connection_id: int, external_ids: set[str]) -> dict[str, Order]:
    rows = await session.scalars(
        select(Order).where(Order.connection_id == connection_id, Order.external_id.in_(external_ids))
    )
    return {o.external_id: o for o in rows.all()}


def _same(row: AfterSalesCase, case: ChannelCase) -> bool:
    """Nothing an operator would see has changed (the channel re-listed the case)."""
    return (
        row.channel_updated_at == case.updated_at
        and row.channel_status == case.channel_status
        and sorted(row.actions) == sorted(a.value for a in case.actions)
    )


async def _order_lines(session: AsyncSession, order_ids: list[int]) -> dict[int, list[OrderLine]]:
    out: dict[int, list[OrderLine]] = {}
    if order_ids:
        for line in (await session.scalars(select(OrderLine).where(OrderLine.order_id.in_(order_ids)))).all():
            out.setdefault(line.order_id, []).append(line)
    return out


def _copy(row: AfterSalesCase, case: ChannelCase, order: Order | None, lines: Sequence[OrderLine]) -> None:
    row.order_external_id = case.order_external_id
    if order is not None:
        row.order_id = order.id
    row.kind = CaseKind(case.kind)
    row.status = CaseStatus(case.status)
    row.channel_status = case.channel_status[:64]
    row.reason = case.reason[:MAX_TEXT]
    row.buyer_comment = case.buyer_comment[:4000] if case.buyer_comment else None
    row.photos = [p for p in case.photos if isinstance(p, str) and p.startswith("https://")][:20]
    row.lines = _lines(case, lines)
    row.refund_amount = case.refund_amount.amount if case.refund_amount else None
    row.currency = case.refund_amount.currency if case.refund_amount else (order.currency if order else None)
    row.respond_by = case.respond_by
    row.actions = sorted(a.value for a in case.actions) if not case.status.final else []
    # the earliest a channel said (one with no request time of its own sends a moving one)
    row.opened_at = min(row.opened_at, case.opened_at) if row.opened_at else case.opened_at
    row.channel_updated_at = case.updated_at
    row.raw = dict(case.raw)


def _lines(case: ChannelCase, order_lines: Sequence[OrderLine]) -> list[dict[str, Any]]:
    by_external = {line.external_id: line for line in order_lines}
    by_sku: dict[str, OrderLine] = {}
    for order_line in order_lines:
        by_sku.setdefault(order_line.sku, order_line)
    out: list[dict[str, Any]] = []
    for item in case.lines:
        line = by_external.get(item.order_line_external_id or "") or by_sku.get(item.sku or "")
        out.append(
            {
                "quantity": int(item.quantity),
                "order_line_external_id": item.order_line_external_id,
                "sku": item.sku or (line.sku if line else None),
                "order_line_id": line.id if line else None,
            }
        )
    return out


async def _apply(uow: UnitOfWork, row: AfterSalesCase) -> None:
    """What the case's new status means for its order (called once per change)."""
    session = uow.session
    assert row.order_id is not None
    order = await lock(session, Order, row.order_id, field="orderId")
    status = CaseStatus(row.status)
    if row.kind == CaseKind.CANCELLATION:
        held = await _held(session, order.id)
        if status in WAITING:
            if not held and order.status in HOLDABLE:
                await hold_order(
                    session,
                    order.id,
                    HoldReason.CANCELLATION_REQUESTED,
                    f"the buyer asked to cancel ({row.reason or 'no reason given'}); answer by "
                    + (row.respond_by.isoformat() if row.respond_by else "the channel's deadline"),
                )
        elif status in GRANTED:
            if order.status not in GONE and order.status != OrderStatus.CANCELLED:
                await cancel_order(
                    uow, order.id, "the buyer's cancellation request was accepted", by_channel=True
                )
        elif held:
            await release_holds(uow, order.id, HoldReason.CANCELLATION_REQUESTED)
        return
    if status == CaseStatus.REFUNDED and row.refund_amount:
        reference = f"case {row.external_id}"
        already = await session.scalar(
            select(Refund.id).where(Refund.order_id == order.id, Refund.reference == reference)
        )
        if already is None:
            try:
                await record_refund(
                    session,
                    order.id,
                    Money(Decimal(row.refund_amount), row.currency or order.currency),
                    reason=f"{row.kind} case refunded on the channel",
                    reference=reference,
                    plugins=None,  # the channel paid it: recorded, no money of ours moves
                )
            except UserError as exc:  # more than the order's total, another currency ...
                emit(session, "case.refund_not_recorded", f"AfterSalesCase:{row.id}", reason=exc.message)


async def _held(session: AsyncSession, order_id: int) -> bool:
    found = await session.scalar(
        select(OrderHold.id).where(
            OrderHold.order_id == order_id,
            OrderHold.reason == HoldReason.CANCELLATION_REQUESTED,
            OrderHold.released_at.is_(None),
        )
    )
    return found is not None


# --------------------------------------------------------------------------- answers


async def respond(
    uow: UnitOfWork,
    case_id: int,
    action: CaseAction,
    *,
    reason: str | None = None,
    amount: Money | None = None,
    comment: str | None = None,
    api_key_id: int | None = None,
) -> CaseResponseRow:
    """Queue the seller's answer to a case; the ``respond_case`` job pushes it."""
    session = uow.session
    case = await lock(session, AfterSalesCase, case_id, field="caseId")
    conn = await session.scalar(select(Connection).where(Connection.id == case.connection_id))
    assert conn is not None
    provider = uow.plugins.marketplaces.get(conn.channel)
    if provider is None or MarketplaceCapability.CASES_RESPOND not in provider.capabilities:
        raise UserError(
            f"{conn.channel} takes no answers to cases over its API: answer in its seller centre",
            field="caseId",
            code="NOT_SUPPORTED",
        )
    if CaseStatus(case.status).final:
        raise UserError(f"the case is {case.status}: nothing to answer", field="caseId", code="INVALID_STATE")
    pending = await session.scalar(
        select(CaseResponseRow.id).where(
            CaseResponseRow.case_id == case.id, CaseResponseRow.status == ResponseStatus.PENDING
        )
    )
    if pending is not None:
        raise UserError("an answer to this case is still being sent", field="caseId", code="RESPONSE_PENDING")
    if action.value not in case.actions:
        allowed = ", ".join(case.actions) or "none"
        raise UserError(
            f"the channel does not take {action.value} for this case now (it takes: {allowed})",
            field="action",
            code="ACTION_NOT_ALLOWED",
        )
    if action in (CaseAction.REJECT, CaseAction.DISPUTE) and (not reason or not reason.strip()):
        raise UserError(f"say why ({action.value} needs a reason)", field="reason", code="REQUIRED")
    if reason is not None and len(reason) > MAX_TEXT:
        raise UserError(f"at most {MAX_TEXT} characters", field="reason", code="TOO_LONG")
    if comment is not None and len(comment) > MAX_TEXT:
        raise UserError(f"at most {MAX_TEXT} characters", field="comment", code="TOO_LONG")
    if action == CaseAction.OFFER_PARTIAL_REFUND:
        amount = await _offer(session, case, amount)
    elif amount is not None:
        raise UserError("only a partial refund offer takes an amount", field="amount", code="INVALID")
    row = CaseResponseRow(
        case_id=case.id,
        action=action,
        reason=reason.strip() if reason else None,
        amount=amount.amount if amount else None,
        currency=amount.currency if amount else None,
        comment=comment,
        api_key_id=api_key_id,
    )
    session.add(row)
    await session.flush()
    emit(
        session, "case.response_queued", f"AfterSalesCase:{case.id}", action=action.value, response_id=row.id
    )
    uow.enqueue(
        "respond_case",
        job_id=f"respond_case:{row.id}",
        tenant_id=session_tenant(session.sync_session),
        response_id=row.id,
    )
    return row


async def _offer(session: AsyncSession, case: AfterSalesCase, amount: Money | None) -> Money:
    if amount is None:
        raise UserError("a partial refund offer needs an amount", field="amount", code="REQUIRED")
    order = await session.scalar(select(Order).where(Order.id == case.order_id)) if case.order_id else None
    currency = case.currency or (order.currency if order else None)
    if currency is not None and amount.currency != currency:
        raise UserError(f"the case is in {currency}", field="amount", code="CURRENCY_MISMATCH")
    if amount.amount <= 0:
        raise UserError("an offer is a positive amount", field="amount", code="INVALID")
    ceiling = (
        case.refund_amount if case.refund_amount is not None else (order.total_amount if order else None)
    )
    if ceiling is not None and amount.amount >= Decimal(ceiling):
        raise UserError(
            f"a partial refund is less than the {Money(Decimal(ceiling), amount.currency).rounded()} asked;"
            " accept the case to refund it all",
            field="amount",
            code="INVALID",
        )
    return amount.rounded()


@dataclass(frozen=True)
class Outgoing:
    response_id: int
    case_id: int
    connection_id: int
    response: CaseResponse


async def outgoing_response(session: AsyncSession, response_id: int) -> Outgoing | None:
    """The pending answer ``response_id`` as the channel is to get it (None once done)."""
    row = await session.scalar(select(CaseResponseRow).where(CaseResponseRow.id == response_id))
    if row is None or row.status != ResponseStatus.PENDING:
        return None
    case = await session.scalar(select(AfterSalesCase).where(AfterSalesCase.id == row.case_id))
    assert case is not None
    return Outgoing(
        response_id=row.id,
        case_id=case.id,
        connection_id=case.connection_id,
        response=CaseResponse(
            case_external_id=case.external_id,
            order_external_id=case.order_external_id,
            kind=CaseKind(case.kind),
            action=CaseAction(row.action),
            reference=f"crossdock-case-response-{row.id}",
            reason=row.reason,
            amount=(
                Money(Decimal(row.amount), row.currency).rounded()
                if row.amount is not None and row.currency
                else None
            ),
            comment=row.comment,
        ),
    )


async def record_response_sent(uow: UnitOfWork, response_id: int, case: ChannelCase | None) -> None:
    """The channel took the answer; the case is stored as the channel now shows it."""
    session = uow.session
    # locks in the order a case page's ingest takes them (connection, case, then the rest),
    # so this and a concurrent sync of the same shop never wait on each other in a cycle
    owner = (
        await session.execute(
            select(AfterSalesCase.connection_id, AfterSalesCase.id)
            .join(CaseResponseRow, CaseResponseRow.case_id == AfterSalesCase.id)
            .where(CaseResponseRow.id == response_id)
        )
    ).first()
    if owner is None:
        return
    conn = await lock(session, Connection, owner[0])
    stored = await lock(session, AfterSalesCase, owner[1])
    row = await lock(session, CaseResponseRow, response_id)
    if row.status != ResponseStatus.PENDING:
        return
    row.status = ResponseStatus.SENT
    row.sent_at = utcnow()
    row.attempts += 1
    emit(session, "case.responded", f"AfterSalesCase:{stored.id}", action=row.action)
    if case is None or case.updated_at < stored.channel_updated_at:
        return
    await ingest_cases(uow, conn, CasePage(cases=[case]))


async def record_response_failure(session: AsyncSession, response_id: int, exc: ChannelError) -> None:
    """The channel refused the answer for good: it shows on the case, which can be answered again."""
    case_id = await session.scalar(select(CaseResponseRow.case_id).where(CaseResponseRow.id == response_id))
    if case_id is None:
        return
    await lock(session, AfterSalesCase, case_id)  # case before its answers, as respond() takes them
    row = await lock(session, CaseResponseRow, response_id)
    if row.status != ResponseStatus.PENDING:
        return
    row.status = ResponseStatus.FAILED
    row.error_code = (exc.code or "CHANNEL_ERROR")[:64]
    row.error = exc.message[:2000]
    row.attempts += 1
    emit(
        session,
        "case.response_failed",
        f"AfterSalesCase:{row.case_id}",
        action=row.action,
        code=row.error_code,
        message=row.error,
    )


def due_before(when: datetime) -> ColumnElement[bool]:
    """Cases still waiting for the seller whose deadline falls before ``when``."""
    return AfterSalesCase.status.in_([s.value for s in WAITING]) & (AfterSalesCase.respond_by <= when)
