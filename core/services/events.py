"""The domain-event outbox: ``emit`` writes an event in the caller's transaction, and
readers follow it in an order that never skips one.

An event exists exactly when its change does (same commit). Readers follow the table: the
``events`` query (``after`` a cursor) and subscription, and anyone integrating over the API.

Why not id order
----------------
On PostgreSQL an id is taken from a sequence when the row is inserted, but the row becomes
visible when its transaction commits, later and in any order. Transaction A inserts event 7,
B inserts event 8 and commits first; a reader sees 8, remembers "after 8", and never sees 7
once A commits. (SQLite has one writer at a time, holding its lock from first write to
commit, so there id order is commit order and this cannot happen.)

Positions below a horizon
-------------------------
Each event stores ``txid``, the id of the transaction that wrote it (the column's server
default ``pg_current_xact_id()``, a 64-bit id that never wraps; ``0`` on SQLite), and its
position is ``(txid, id)``. A reader reads in position order, and only rows with ``txid``
below the horizon ``pg_snapshot_xmin(pg_current_snapshot())``, taken in the same statement:

* every transaction with an id below the horizon has finished (that is what ``xmin`` of a
  snapshot means), so all of its events are visible to that statement or never will be
  (rolled back): the rows under the horizon are final;
* a transaction still running, or one that starts later, has an id at or above the horizon
  (new ids are always larger than every id already handed out), so whatever it writes lands
  after every position the reader has already passed;
* the horizon never moves back (the oldest running id only grows), so a reader's cursor
  is always below it and a later read continues exactly where the last one stopped.

Together: a reader that resumes after the last position it saw gets every committed event
exactly once, whichever server process answers. Rows of one transaction share a ``txid``
and keep their id order. The price is latency, never loss: an event becomes readable once
every transaction older than its own has finished, so a long-running write transaction
anywhere on the PostgreSQL server (the horizon is cluster-wide) holds delivery back until it
ends; ``idle_in_transaction_session_timeout`` bounds a stuck one. Transactions that only
read take no id and hold nothing back.

The alternatives are worse: a commit-time counter (one locked row every writer updates
last) serialises every event-writing transaction of a tenant, and "read only ids below
the smallest uncommitted id" needs the uncommitted ids, which PostgreSQL does not expose.

Positions come from the server's transaction counter, which replicas and ``pg_upgrade``
keep; a logical dump restored into a new cluster starts the counter afresh, so after such a
restore set ``UPDATE events SET txid = 0`` (old events first, as the migration that added
the column did) and have readers start from a fresh cursor.

A cursor is opaque to clients: URL-safe base64 of ``"txid:id"``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, ColumnElement, literal, literal_column, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db.models import Event
from crossdock.errors import UserError

__all__ = [
    "START",
    "EventType",
    "Position",
    "current_position",
    "emit",
    "parse_cursor",
    "read_events",
]

_MAX = 2**63  # BIGINT
_CURSOR = re.compile(r"([0-9]{1,19}):([0-9]{1,19})")
_CURSOR_CHARS = re.compile(r"[A-Za-z0-9_-]{1,56}")


class EventType(StrEnum):
    """Every type of event the outbox holds (what a webhook endpoint subscribes to). A test
    checks that every ``emit`` in the core writes one of these."""

    CARRIER_ACCOUNT_CREATED = "carrier_account.created"
    CASE_OPENED = "case.opened"
    CASE_UPDATED = "case.updated"
    CASE_REFUND_NOT_RECORDED = "case.refund_not_recorded"
    CASE_RESPONSE_QUEUED = "case.response_queued"
    CASE_RESPONDED = "case.responded"
    CASE_RESPONSE_FAILED = "case.response_failed"
    CONNECTION_CREDENTIALS_REFRESHED = "connection.credentials_refreshed"
    CONVERSATION_MESSAGE_RECEIVED = "conversation.message_received"
    CONVERSATION_REPLY_OVERDUE = "conversation.reply_overdue"
    INBOUND_SHIPMENT_CANCELLED = "inbound_shipment.cancelled"
    INBOUND_SHIPMENT_CREATED = "inbound_shipment.created"
    INBOUND_SHIPMENT_RECEIVED = "inbound_shipment.received"
    LISTING_COMPLIANCE_ISSUE = "listing.compliance_issue"
    #: a listing's content was saved (a new version)
    LISTING_CONTENT_SAVED = "listing.content_saved"
    #: the channel took a listing's content (or is processing it)
    LISTING_PUBLISHED = "listing.published"
    #: the checks or the channel refused a listing's content (its problems are on it)
    LISTING_REJECTED = "listing.rejected"
    LISTING_PUSH_FAILED = "listing.push_failed"
    MESSAGE_SENT = "message.sent"
    MESSAGE_SEND_FAILED = "message.send_failed"
    #: ``order.<status>``: an order moved to that status
    ORDER_ON_HOLD = "order.on_hold"
    ORDER_READY = "order.ready"
    ORDER_ALLOCATED = "order.allocated"
    ORDER_PICKING = "order.picking"
    ORDER_PACKED = "order.packed"
    ORDER_SHIPPED = "order.shipped"
    ORDER_DELIVERED = "order.delivered"
    ORDER_CANCELLED = "order.cancelled"
    ORDER_RETURNED = "order.returned"
    ORDER_REFUNDED = "order.refunded"
    ORDER_HELD = "order.held"
    ORDER_RELEASED = "order.released"
    ORDER_RETURN_RECEIVED = "order.return_received"
    ORDER_REFUND_FAILED = "order.refund_failed"
    ORDER_CANCEL_AFTER_SHIPPING = "order.cancel_after_shipping"
    ORDER_TAX_UNQUOTED = "order.tax_unquoted"
    ORDER_SLA_AT_RISK = "order.sla_at_risk"
    ORDER_LATE = "order.late"
    PROMOTION_SCHEDULED = "promotion.scheduled"
    PROMOTION_STARTED = "promotion.started"
    PROMOTION_ENDED = "promotion.ended"
    SETTLEMENT_OPEN = "settlement.open"
    SETTLEMENT_CLOSED = "settlement.closed"
    SETTLEMENT_PAID = "settlement.paid"
    SHIPMENT_PACKED = "shipment.packed"
    SHIPMENT_SHIPPED = "shipment.shipped"
    SHIPMENT_CONFIRMED = "shipment.confirmed"
    SHIPMENT_CONFIRM_FAILED = "shipment.confirm_failed"
    SHIPMENT_DELIVERED = "shipment.delivered"
    SHIPMENT_TRACKING_UPDATED = "shipment.tracking_updated"
    SHIPMENT_EXCEPTION = "shipment.exception"
    SHIPMENT_EXCEPTION_NOTICE = "shipment.exception_notice"
    SHIPMENT_EXCEPTION_RESOLVED = "shipment.exception_resolved"
    SHIPMENT_LABEL_PURCHASED = "shipment.label_purchased"
    SHIPMENT_LABEL_VOIDED = "shipment.label_voided"
    STOCK_LOW = "stock.low"
    PURCHASE_ORDER_SENT = "purchase_order.sent"
    #: a delivery was received against a purchase order (in part or in full)
    PURCHASE_ORDER_RECEIVED = "purchase_order.received"
    PURCHASE_ORDER_CLOSED = "purchase_order.closed"
    PURCHASE_ORDER_CANCELLED = "purchase_order.cancelled"
    #: a replenishment plan became due: order now (its suggested quantity in the payload)
    REORDER_DUE = "reorder.due"
    #: a replenishment plan newly projects a stock-out within its horizon
    STOCKOUT_PROJECTED = "stockout.projected"
    TAX_TALLY_SKIPPED = "tax.tally_skipped"
    TAX_THRESHOLD_CROSSED = "tax.threshold_crossed"
    TENANT_SETTINGS_CHANGED = "tenant.settings_changed"
    TRANSFER_STARTED = "transfer.started"
    TRANSFER_RECEIVED = "transfer.received"
    TRANSFER_CANCELLED = "transfer.cancelled"
    #: a delivery was announced to the warehouse system as an ASN
    WAREHOUSE_INBOUND_ANNOUNCED = "warehouse.inbound_announced"
    #: a delivery is expected at a warehouse whose system takes no ASNs
    WAREHOUSE_INBOUND_EXPECTED = "warehouse.inbound_expected"
    #: the warehouse system refused a delivery's ASN (the error is on the delivery)
    WAREHOUSE_INBOUND_REFUSED = "warehouse.inbound_refused"
    #: an order was handed to the system running the warehouse its units are reserved in
    WAREHOUSE_ORDER_HANDED_OVER = "warehouse.order_handed_over"
    #: the warehouse system refused an order handed to it (the error is on the handover)
    WAREHOUSE_ORDER_REFUSED = "warehouse.order_refused"
    #: a warehouse's levels were reconciled with its warehouse system's figures
    WAREHOUSE_RECONCILED = "warehouse.reconciled"
    #: a webhook endpoint's deliveries failed for a day: it is sent nothing until enabled again
    WEBHOOK_ENDPOINT_DISABLED = "webhook_endpoint.disabled"


class Position(NamedTuple):
    """Where an event sits in the outbox's reading order."""

    txid: int
    id: int

    @property
    def cursor(self) -> str:
        raw = f"{self.txid}:{self.id}".encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


#: Before every event.
START = Position(0, 0)


def parse_cursor(value: str, field: str = "after") -> Position:
    """The position a cursor names; a malformed one is a :class:`UserError`
    ``INVALID_CURSOR``."""
    found = None
    if _CURSOR_CHARS.fullmatch(value):
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")
        except (binascii.Error, ValueError):
            raw = ""
        found = _CURSOR.fullmatch(raw)
    if found is None or int(found[1]) >= _MAX or int(found[2]) >= _MAX:
        raise UserError(
            f"{value[:64]!r} is not an event cursor; pass an event's `cursor`",
            field=field,
            code="INVALID_CURSOR",
        )
    return Position(int(found[1]), int(found[2]))


def emit(session: AsyncSession, type: str, subject: str | None = None, **payload: Any) -> None:
    session.add(Event(type=type, subject=subject, payload=payload))


def _horizon(session: AsyncSession) -> ColumnElement[int] | None:
    """Every transaction with a smaller id has finished (PostgreSQL); ``None`` on SQLite,
    where nothing uncommitted is ever below a committed row."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    return literal_column("pg_snapshot_xmin(pg_current_snapshot())::text::bigint", BigInteger)


async def read_events(
    session: AsyncSession, after: Position, types: Sequence[str] | None, limit: int
) -> Sequence[Event]:
    """Up to ``limit`` of the session tenant's final events after ``after``, in order."""
    stmt = (
        select(Event)
        .where(
            tuple_(Event.txid, Event.id)
            > tuple_(literal(after.txid, BigInteger), literal(after.id, BigInteger))
        )
        .order_by(Event.txid, Event.id)
        .limit(limit)
    )
    horizon = _horizon(session)
    if horizon is not None:
        stmt = stmt.where(Event.txid < horizon)
    if types:
        stmt = stmt.where(Event.type.in_(types))
    return (await session.scalars(stmt)).all()


async def current_position(session: AsyncSession) -> Position:
    """A position after every final event and before every event still to commit: where
    "from now" starts.

    On PostgreSQL that is the horizon itself; events of transactions running at that moment
    come after it, so none is lost (a few that committed just before may be delivered too).
    """
    horizon = _horizon(session)
    if horizon is not None:
        return Position(int(await session.scalar(select(horizon)) or 0), 0)
    last = (
        await session.execute(
            select(Event.txid, Event.id).order_by(Event.txid.desc(), Event.id.desc()).limit(1)
        )
    ).first()
    return START if last is None else Position(int(last[0]), int(last[1]))
