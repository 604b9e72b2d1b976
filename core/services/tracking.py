"""Tracking and exceptions: carrier scans recorded once, the shipment's status kept from the
latest scan by the carrier's time, delivery, and the exceptions raised on the way.

Scans arrive twice and out of order: the poll (``track_account``) and the carrier's push
(``POST /webhooks/carriers/{carrier}/{key}``) report the same scans, and pages repeat. A
scan is one row, keyed by its fingerprint (tracking number, carrier time, carrier code,
status) under a unique constraint, inserted with ``ON CONFLICT DO NOTHING``; the shipment is
locked (order first, the global lock order) before anything is written, so two processes
recording at once are serialised and the second finds the first's rows. The shipment's
``tracking_status`` is always that of its latest scan by the carrier's time, recomputed
from the stored rows: a late-arriving older scan never moves it back.

An exception is raised once per shipment and kind (a unique key; a second raise is a no-op,
across processes): only the insert that created the row emits ``shipment.exception`` and
queues the buyer notice (``exception_notice``), which is sent at most once (its claim is a
conditional update of ``notified_at``).

Tenant setting ``tracking``::

    {"no_scan_days": {"default": 5, "lanes": {"SG-DE": 7}}}

a lane being the shipping warehouse's country and the destination country.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import utcnow
from crossdock.db.models import (
    CannedReply,
    CarrierAccount,
    CarrierAccountStatus,
    Connection,
    Conversation,
    ConversationStatus,
    ExceptionKind,
    ExceptionNoticeRule,
    Message,
    MessageDirection,
    Order,
    OrderStatus,
    Shipment,
    ShipmentException,
    ShipmentPackage,
    ShipmentStatus,
    Tenant,
    TrackingEventRow,
    Warehouse,
)
from crossdock.db.retry import retry_conflicts
from crossdock.db.scoping import session_tenant
from crossdock.errors import ChannelError, NotFound, Unauthenticated, UserError
from crossdock.providers import (
    TRACKING_FINAL,
    CarrierCapability,
    MarketplaceCapability,
    OutgoingMessage,
    TrackingEvent,
    TrackingReason,
    TrackingResult,
    TrackingStatus,
)
from crossdock.services.analytics import mark as mark_figures
from crossdock.services.common import country_code, get_or_404, non_empty
from crossdock.services.events import emit
from crossdock.services.fulfilment import mark_delivered
from crossdock.services.messaging import language_for, refresh_state
from crossdock.services.states import lock_shipment
from crossdock.services.uow import UnitOfWork

__all__ = [
    "ACTIVE_STATUSES",
    "CUSTOMS_REASONS",
    "DEFAULT_NO_SCAN_DAYS",
    "NOTICE_LEASE",
    "NOTICE_PLACEHOLDERS",
    "NoScanPolicy",
    "Notice",
    "Recorded",
    "claim_notice",
    "delete_notice_rule",
    "ensure_webhook_key",
    "event_exceptions",
    "fingerprint",
    "no_scan_policy",
    "raise_exception",
    "raise_sweep_exceptions",
    "receive_carrier_push",
    "record_notice_failure",
    "record_notice_sent",
    "record_tracking",
    "release_notice",
    "resolve_exception",
    "resume_notice",
    "save_notice_rule",
    "shipments_for_numbers",
    "tracked",
    "validate_tracking_settings",
]

log = logging.getLogger(__name__)

#: Reasons of an ``on_hold`` scan that are customs' doing.
CUSTOMS_REASONS = frozenset(
    {TrackingReason.CUSTOMS_HOLD, TrackingReason.CUSTOMS_DOCUMENTS, TrackingReason.DUTIES_UNPAID}
)
#: Days without a scan before ``no_scan`` when the tenant sets none.
DEFAULT_NO_SCAN_DAYS = 5
#: What a notice template may mention.
NOTICE_PLACEHOLDERS = ("buyer_name", "order_number", "tracking_number", "carrier")
#: A claimed notice whose send has not finished is left to its job this long.
NOTICE_LEASE = timedelta(seconds=60)
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_LANE = re.compile(r"^([A-Z]{2})-([A-Z]{2})$")


def _insert(session: AsyncSession) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def fingerprint(tracking_number: str, event: TrackingEvent) -> str:
    """What makes a scan seen twice one row: number, carrier time (UTC), code, status."""
    when = _aware(event.occurred_at).astimezone(UTC).isoformat()
    raw = "\x1f".join((tracking_number, when, event.code, str(event.status)))
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class NoScanPolicy:
    """Days without a scan before ``no_scan``, by lane (``"SG-DE"``), else ``default``."""

    default: int = DEFAULT_NO_SCAN_DAYS
    lanes: Mapping[str, int] = field(default_factory=dict)

    def days(self, origin: str | None, destination: str | None) -> int:
        if origin and destination:
            return self.lanes.get(f"{origin.upper()}-{destination.upper()}", self.default)
        return self.default


def _days(value: Any, field_name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 365:
        raise UserError("a whole number of days from 1 to 365", field=field_name, code="OUT_OF_RANGE")
    return value


def validate_tracking_settings(value: Any) -> NoScanPolicy:
    """Check a tenant's ``tracking`` setting (see the module doc); raises ``UserError``."""
    if value is None:
        return NoScanPolicy()
    if not isinstance(value, Mapping):
        raise UserError("tracking settings are an object", field="tracking", code="INVALID")
    unknown = set(value) - {"no_scan_days"}
    if unknown:
        raise UserError(
            f"unknown tracking setting(s) {', '.join(sorted(map(str, unknown)))}",
            field="tracking",
            code="INVALID",
        )
    days = value.get("no_scan_days")
    if days is None:
        return NoScanPolicy()
    if isinstance(days, int) and not isinstance(days, bool):
        return NoScanPolicy(_days(days, "tracking.no_scan_days"))
    if not isinstance(days, Mapping) or set(days) - {"default", "lanes"}:
        raise UserError(
            "no_scan_days is a number or {default, lanes}", field="tracking.no_scan_days", code="INVALID"
        )
    default = _days(days.get("default", DEFAULT_NO_SCAN_DAYS), "tracking.no_scan_days.default")
    lanes_in = days.get("lanes") or {}
    if not isinstance(lanes_in, Mapping):
        raise UserError("lanes is an object", field="tracking.no_scan_days.lanes", code="INVALID")
    lanes: dict[str, int] = {}
    for lane, n in lanes_in.items():
        found = _LANE.match(str(lane).upper())
        where = f"tracking.no_scan_days.lanes.{lane}"
        if found is None:
            raise UserError(f"{lane!r} is not a lane such as SG-DE", field=where, code="INVALID_LANE")
        country_code(found[1], where)
        country_code(found[2], where)
        lanes[f"{found[1]}-{found[2]}"] = _days(n, where)
    return NoScanPolicy(default, lanes)


async def no_scan_policy(session: AsyncSession) -> NoScanPolicy:
    """The session tenant's no-scan days (a broken setting falls back to the default)."""
    settings = await session.scalar(
        select(Tenant.settings).where(Tenant.id == session_tenant(session.sync_session))
    )
    try:
        return validate_tracking_settings((settings or {}).get("tracking"))
    except UserError as exc:
        log.warning("tenant tracking settings ignored: %s", exc.message)
        return NoScanPolicy()


# --------------------------------------------------------------------------- recording


@dataclass
class Recorded:
    """What one :func:`record_tracking` call changed."""

    added: int = 0
    status: str | None = None
    delivered: bool = False
    order_delivered: bool = False
    exceptions: list[int] = field(default_factory=list)


def event_exceptions(event: TrackingEvent) -> tuple[ExceptionKind, str] | None:
    """The exception a scan raises, with its detail, if any."""
    detail = f"{event.code}: {event.description}".strip()
    if event.reason == TrackingReason.LOST:
        return ExceptionKind.LOST, detail
    if event.status == TrackingStatus.ON_HOLD and event.reason in CUSTOMS_REASONS:
        return ExceptionKind.CUSTOMS_HOLD, detail
    if event.status == TrackingStatus.DELIVERY_FAILED:
        return ExceptionKind.FAILED_ATTEMPT, detail
    if event.status == TrackingStatus.RETURN_TO_SENDER:
        return ExceptionKind.RETURNED_TO_SENDER, detail
    return None


async def _numbers(session: AsyncSession, shipment: Shipment) -> set[str]:
    numbers = set(
        (
            await session.scalars(
                select(ShipmentPackage.tracking_number).where(
                    ShipmentPackage.shipment_id == shipment.id, ShipmentPackage.tracking_number.is_not(None)
                )
            )
        ).all()
    )
    return {n for n in numbers if n} or ({shipment.tracking_number} if shipment.tracking_number else set())


async def record_tracking(uow: UnitOfWork, shipment_id: int, result: TrackingResult) -> Recorded:
    """Store the new scans of ``result`` for a shipment and bring the shipment up to date.

    The shipment (and its order) are locked first, so recordings of the same shipment
    are serialised; scans already stored are skipped by their fingerprint. A shipment is
    delivered once every tracking number it carries has been delivered (its latest scan);
    its order is delivered when all its shipped shipments are, and its open exceptions are
    resolved.
    """
    session = uow.session
    order, shipment = await lock_shipment(session, shipment_id)
    done = Recorded(status=shipment.tracking_status)
    number = result.tracking_number
    if result.estimated_delivery is not None and shipment.estimated_delivery != result.estimated_delivery:
        shipment.estimated_delivery = result.estimated_delivery
    if not result.found or not result.events:
        return done
    now = utcnow()
    rows: dict[str, dict[str, Any]] = {}
    for event in result.events:
        key = fingerprint(number, event)
        rows.setdefault(
            key,
            {
                "tenant_id": shipment.tenant_id,
                "shipment_id": shipment.id,
                "tracking_number": number[:128],
                "occurred_at": _aware(event.occurred_at).astimezone(UTC),
                "status": str(event.status),
                "reason": str(event.reason) if event.reason is not None else None,
                "code": event.code[:64],
                "description": event.description,
                "location": event.location[:128] if event.location else None,
                "fingerprint": key,
                "received_at": now,
            },
        )
    inserted = (
        await session.execute(
            _insert(session)(TrackingEventRow)
            .values(list(rows.values()))
            .on_conflict_do_nothing(index_elements=["shipment_id", "fingerprint"])
            .returning(TrackingEventRow.id)
        )
    ).all()
    done.added = len(inserted)
    delivered_before = _aware(shipment.delivered_at) if shipment.delivered_at is not None else None
    for event in sorted(result.events, key=lambda e: _aware(e.occurred_at)):
        if delivered_before is not None and _aware(event.occurred_at) <= delivered_before:
            continue  # a late scan from before the delivery raises nothing now
        raised = event_exceptions(event)
        if raised is not None:
            exc = await raise_exception(uow, shipment, raised[0], raised[1])
            if exc is not None:
                done.exceptions.append(exc.id)
    if done.added == 0:
        return done
    # the shipment's word is its latest scan by the carrier's time, over every number
    latest = (
        await session.execute(
            select(TrackingEventRow.occurred_at, TrackingEventRow.status, TrackingEventRow.reason)
            .where(TrackingEventRow.shipment_id == shipment.id)
            .order_by(TrackingEventRow.occurred_at.desc(), TrackingEventRow.id.desc())
            .limit(1)
        )
    ).one()
    last_at, last_status, last_reason = latest
    if shipment.last_event_at is None:  # the first scan: valid tracking from now on
        mark_figures(session, [shipment.order_id])
    shipment.tracking_status = last_status
    shipment.tracking_reason = last_reason
    shipment.last_event_at = _aware(last_at)
    done.status = last_status
    emit(
        session,
        "shipment.tracking_updated",
        f"Shipment:{shipment.id}",
        order_id=order.id,
        status=last_status,
        reason=last_reason,
        added=done.added,
    )
    every_delivered = False
    latest_by_number: dict[str, tuple[datetime, str]] = {}
    if last_status == TrackingStatus.DELIVERED:
        for tn, at, status in (
            await session.execute(
                select(
                    TrackingEventRow.tracking_number, TrackingEventRow.occurred_at, TrackingEventRow.status
                )
                .where(TrackingEventRow.shipment_id == shipment.id)
                .order_by(TrackingEventRow.occurred_at, TrackingEventRow.id)
            )
        ).all():
            latest_by_number[tn] = (_aware(at), status)
        numbers = await _numbers(session, shipment) | {number}
        every_delivered = all(
            latest_by_number.get(n, (None, None))[1] == TrackingStatus.DELIVERED for n in numbers
        )
    if every_delivered and shipment.delivered_at is None:
        shipment.delivered_at = max(latest_by_number[n][0] for n in numbers)
        done.delivered = True
        await session.execute(
            update(ShipmentException)
            .where(ShipmentException.shipment_id == shipment.id, ShipmentException.resolved_at.is_(None))
            .values(resolved_at=now)
        )
        emit(session, "shipment.delivered", f"Shipment:{shipment.id}", order_id=order.id)
        await session.flush()
        if order.status == OrderStatus.SHIPPED:
            undelivered = await session.scalar(
                select(func.count())
                .select_from(Shipment)
                .where(
                    Shipment.order_id == order.id,
                    Shipment.status == ShipmentStatus.SHIPPED,
                    Shipment.delivered_at.is_(None),
                )
            )
            if not undelivered:
                await mark_delivered(session, order.id, f"delivered: shipment {shipment.id}")
                done.order_delivered = True
    return done


async def raise_exception(
    uow: UnitOfWork, shipment: Shipment, kind: ExceptionKind | str, detail: str | None
) -> ShipmentException | None:
    """Raise ``kind`` on a shipment, once: ``None`` when it was raised before (by anyone).
    Only the raise that inserted the row emits ``shipment.exception`` and queues the
    buyer notice (after commit)."""
    session = uow.session
    kind = ExceptionKind(kind)
    new_id = await session.scalar(
        _insert(session)(ShipmentException)
        .values(
            tenant_id=shipment.tenant_id,
            shipment_id=shipment.id,
            order_id=shipment.order_id,
            kind=str(kind),
            detail=(detail or None),
            raised_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["shipment_id", "kind"])
        .returning(ShipmentException.id)
    )
    if new_id is None:
        return None
    emit(
        session,
        "shipment.exception",
        f"Shipment:{shipment.id}",
        order_id=shipment.order_id,
        exception_id=new_id,
        kind=str(kind),
        detail=detail,
    )
    uow.enqueue(
        "exception_notice",
        job_id=f"exception_notice:{new_id}",
        tenant_id=shipment.tenant_id,
        exception_id=new_id,
    )
    return await session.scalar(select(ShipmentException).where(ShipmentException.id == new_id))


#: The tracking statuses of a parcel still on its way (named, so that indexes serve them).
ACTIVE_STATUSES: tuple[str, ...] = tuple(s.value for s in TrackingStatus if s not in TRACKING_FINAL)


def tracked() -> ColumnElement[bool]:
    """Shipments still being tracked: shipped, with a carrier account, not final."""
    return and_(
        Shipment.status == ShipmentStatus.SHIPPED,
        Shipment.carrier_account_id.is_not(None),
        or_(Shipment.tracking_status.is_(None), Shipment.tracking_status.in_(ACTIVE_STATUSES)),
    )


async def raise_sweep_exceptions(
    uow: UnitOfWork, shipment_ids: Sequence[int], *, now: datetime | None = None
) -> list[int]:
    """``no_scan`` (no scan for the lane's days) and ``delayed`` (past the estimated
    delivery, not delivered) for the given shipments; returns the exceptions raised."""
    if not shipment_ids:
        return []
    session = uow.session
    now = now or utcnow()
    today = now.date()
    policy = await no_scan_policy(session)
    rows = (
        await session.execute(
            select(Shipment, Warehouse.country, Order.destination_country)
            .join(Order, Order.id == Shipment.order_id)
            .outerjoin(Warehouse, Warehouse.id == Shipment.warehouse_id)
            .where(Shipment.id.in_(list(shipment_ids)), Shipment.delivered_at.is_(None))
            .order_by(Shipment.id)
        )
    ).all()
    raised: list[int] = []
    for shipment, origin, destination in rows:
        if shipment.tracking_status in TRACKING_FINAL:
            continue
        last = shipment.last_event_at or shipment.shipped_at
        days = policy.days(origin, destination)
        if last is not None and _aware(last) <= now - timedelta(days=days):
            exc = await raise_exception(
                uow,
                shipment,
                ExceptionKind.NO_SCAN,
                f"no scan for {days} days (since {_aware(last):%Y-%m-%d})",
            )
            if exc is not None:
                raised.append(exc.id)
        if shipment.estimated_delivery is not None and shipment.estimated_delivery < today:
            exc = await raise_exception(
                uow, shipment, ExceptionKind.DELAYED, f"expected by {shipment.estimated_delivery.isoformat()}"
            )
            if exc is not None:
                raised.append(exc.id)
    return raised


async def resolve_exception(session: AsyncSession, exception_id: int) -> ShipmentException:
    row = await get_or_404(session, ShipmentException, exception_id)
    if row.resolved_at is None:
        row.resolved_at = utcnow()
        emit(
            session,
            "shipment.exception_resolved",
            f"Shipment:{row.shipment_id}",
            exception_id=row.id,
            kind=row.kind,
        )
    return row


# --------------------------------------------------------------------------- pushes


async def ensure_webhook_key(session: AsyncSession, account_id: int) -> str:
    """The carrier account's push key (``/webhooks/carriers/{carrier}/{key}``), made once."""
    account = await get_or_404(session, CarrierAccount, account_id)
    if not account.webhook_key:
        account.webhook_key = secrets.token_urlsafe(32)
        await session.flush()
    return str(account.webhook_key)


async def shipments_for_numbers(session: AsyncSession, numbers: Iterable[str]) -> dict[str, list[int]]:
    """The session tenant's shipments carrying each tracking number (on the shipment or on
    one of its packages)."""
    wanted = sorted({n for n in numbers if n})
    found: dict[str, set[int]] = {}
    if not wanted:
        return {}
    for tn, sid in (
        await session.execute(
            select(Shipment.tracking_number, Shipment.id).where(Shipment.tracking_number.in_(wanted))
        )
    ).all():
        if tn:
            found.setdefault(tn, set()).add(sid)
    for tn, sid in (
        await session.execute(
            select(ShipmentPackage.tracking_number, ShipmentPackage.shipment_id).where(
                ShipmentPackage.tracking_number.in_(wanted)
            )
        )
    ).all():
        if tn:
            found.setdefault(tn, set()).add(sid)
    return {tn: sorted(ids) for tn, ids in found.items()}


_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
SIGNATURE_CODES = frozenset({"SIGNATURE", "UNAUTHENTICATED"})
MALFORMED = "WEBHOOK_MALFORMED"


async def receive_carrier_push(
    units: Any, vault: Any, carrier: str, key: str, headers: Mapping[str, str], body: bytes
) -> int:
    """Verify a carrier's tracking push and record it inline, in one transaction; returns
    the scans added. Unknown key: ``NotFound``; bad signature: ``Unauthenticated``; a
    verified body the carrier would not send: ``UserError`` ``WEBHOOK_MALFORMED``.

    Recording inline is safe to repeat (scans are de-duplicated by fingerprint, so a
    redelivered push adds nothing) and quick (one indexed look-up per tracking number,
    one insert); the carrier gets its 200 once the scans are durable."""
    from crossdock.providers import CarrierAccount as AccountView

    db, plugins = units.db, units.plugins
    provider = plugins.carriers.get(carrier)
    if provider is None or not _KEY.fullmatch(key):
        raise NotFound("no such webhook")
    async with db.system() as session:
        row = await session.scalar(
            select(CarrierAccount).where(CarrierAccount.carrier == carrier, CarrierAccount.webhook_key == key)
        )
        slug = await session.scalar(select(Tenant.slug).where(Tenant.id == row.tenant_id)) if row else None
    if row is None or row.status != CarrierAccountStatus.ACTIVE:
        raise NotFound("no such webhook")
    if CarrierCapability.TRACKING_PUSH not in provider.capabilities:
        raise NotFound("this carrier does not push tracking")
    view = AccountView(
        id=row.id,
        tenant=slug or str(row.tenant_id),
        carrier=row.carrier,
        credentials=vault.decrypt(row.credentials_encrypted),
        base_url=row.base_url,
        settings=dict(row.settings or {}),
    )
    try:
        results = list(provider.parse_webhook(view, headers, body))
    except ChannelError as exc:
        if exc.code in SIGNATURE_CODES:
            log.warning("carrier push refused for account %s: %s", row.id, exc.message)
            raise Unauthenticated("webhook signature does not verify") from None
        raise UserError("the push is not one this carrier sends", code=MALFORMED) from None
    except Exception:
        log.exception("the %s plugin failed on a push for account %s", carrier, row.id)
        raise UserError("the push is not one this carrier sends", code=MALFORMED) from None

    async def record() -> int:
        added = 0
        async with units(row.tenant_id, slug) as uow:
            targets = await shipments_for_numbers(uow.session, [r.tracking_number for r in results])
            work = sorted(
                ((sid, r) for r in results for sid in targets.get(r.tracking_number, ())), key=lambda p: p[0]
            )
            for shipment_id, result in work:  # in id order: the lock order
                added += (await record_tracking(uow, shipment_id, result)).added
        return added

    return await retry_conflicts(record)


# --------------------------------------------------------------------------- notice rules


async def save_notice_rule(
    session: AsyncSession,
    *,
    rule_id: int | None,
    kind: str,
    template: str,
    countries: Sequence[str] = (),
    priority: int = 100,
    active: bool = True,
) -> ExceptionNoticeRule:
    if kind not in set(ExceptionKind):
        raise UserError(f"{kind!r} is not an exception kind", field="kind", code="UNKNOWN_EXCEPTION_KIND")
    kind = ExceptionKind(kind)
    template = non_empty(template, "template", max_length=64)
    codes = sorted({country_code(c, "countries") for c in countries})
    if not 0 <= priority <= 1_000_000:
        raise UserError("from 0 to 1000000", field="priority", code="OUT_OF_RANGE")
    if rule_id is None:
        row = ExceptionNoticeRule(
            kind=kind, template=template, countries=codes, priority=priority, active=active
        )
        session.add(row)
    else:
        row = await get_or_404(session, ExceptionNoticeRule, rule_id)
        row.kind, row.template, row.countries = str(kind), template, codes
        row.priority, row.active = priority, active
    await session.flush()
    return row


async def delete_notice_rule(session: AsyncSession, rule_id: int) -> None:
    await session.delete(await get_or_404(session, ExceptionNoticeRule, rule_id))


# --------------------------------------------------------------------------- buyer notices


@dataclass(frozen=True)
class Notice:
    """A claimed notice: the stored outbound message and how to send it."""

    exception_id: int
    message_id: int
    connection_id: int
    message: OutgoingMessage


async def _rule(session: AsyncSession, kind: str, country: str | None) -> ExceptionNoticeRule | None:
    rules = (
        await session.scalars(
            select(ExceptionNoticeRule)
            .where(ExceptionNoticeRule.kind == kind, ExceptionNoticeRule.active.is_(True))
            .order_by(ExceptionNoticeRule.priority, ExceptionNoticeRule.id)
        )
    ).all()
    for rule in rules:
        if not rule.countries or (country and country.upper() in rule.countries):
            return rule
    return None


async def _conversation(session: AsyncSession, order: Order, language: str) -> Conversation:
    """The order's thread with its buyer; one is opened (keyed by the order) when the buyer
    never wrote, as a channel that addresses buyers by order takes it."""
    found = await session.scalar(
        select(Conversation)
        .where(
            Conversation.connection_id == order.connection_id,
            or_(Conversation.order_id == order.id, Conversation.order_external_id == order.external_id),
        )
        .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
        .limit(1)
    )
    if found is not None:
        if found.order_id is None:
            found.order_id = order.id
        return found
    conversation = Conversation(
        connection_id=order.connection_id,
        external_id=f"order:{order.external_id}",
        order_id=order.id,
        order_external_id=order.external_id,
        buyer_name=order.buyer_name,
        language=language,
        status=ConversationStatus.ANSWERED,
        last_message_at=utcnow(),
    )
    session.add(conversation)
    await session.flush()
    return conversation


def _pick(rows: Mapping[str, CannedReply], language: str) -> CannedReply | None:
    for candidate in (language, language.split("-")[0], "en"):
        if candidate in rows:
            return rows[candidate]
    return None


async def claim_notice(uow: UnitOfWork, exception_id: int) -> Notice | str | None:
    """Claim the buyer notice of an exception and store the message to send.

    Returns the :class:`Notice` to send; the reason it is not sent (kept as
    ``notice_error``); or ``None`` when it was claimed before (sent, being sent or given
    up). The claim is a conditional update of ``notified_at``: of two jobs at once, one
    wins; the message is stored in the same transaction, so a notice is stored once and
    its send (reference ``exception-{id}``) is retried, never repeated.
    """
    session = uow.session
    now = utcnow()
    claimed = await session.scalar(
        update(ShipmentException)
        .where(
            ShipmentException.id == exception_id,
            ShipmentException.notified_at.is_(None),
            ShipmentException.notice_error.is_(None),
        )
        .values(notified_at=now)
        .returning(ShipmentException.id)
    )
    if claimed is None:
        return None
    exc = await session.scalar(
        select(ShipmentException)
        .where(ShipmentException.id == exception_id)
        .execution_options(populate_existing=True)
    )
    assert exc is not None
    order = await session.scalar(select(Order).where(Order.id == exc.order_id))
    shipment = await session.scalar(select(Shipment).where(Shipment.id == exc.shipment_id))
    assert order is not None
    assert shipment is not None

    def refuse(why: str) -> str:
        exc.notified_at = None
        exc.notice_error = why
        return why

    if exc.resolved_at is not None:
        return refuse("resolved before the buyer was told")

    rule = await _rule(session, exc.kind, order.destination_country)
    if rule is None:
        return refuse(f"no active notice rule for {exc.kind}")
    conn = await session.scalar(select(Connection).where(Connection.id == order.connection_id))
    provider = uow.plugins.marketplaces.get(conn.channel) if conn is not None else None
    if conn is None or provider is None or MarketplaceCapability.MESSAGES_SEND not in provider.capabilities:
        return refuse(f"{conn.channel if conn else 'the channel'} cannot send buyer messages")
    templates = {
        r.language: r
        for r in (await session.scalars(select(CannedReply).where(CannedReply.name == rule.template))).all()
    }
    if not templates:
        return refuse(f"no canned reply named {rule.template!r}")
    existing = await session.scalar(
        select(Conversation.language)
        .where(
            Conversation.connection_id == order.connection_id,
            or_(Conversation.order_id == order.id, Conversation.order_external_id == order.external_id),
        )
        .limit(1)
    )
    if existing:
        language = existing
    elif order.destination_country:
        language = language_for(order.destination_country)
    else:
        tenant_settings = await session.scalar(select(Tenant.settings).where(Tenant.id == exc.tenant_id))
        language = str((tenant_settings or {}).get("locale") or "en").replace("_", "-")
    chosen = _pick(templates, language)
    if chosen is None:
        return refuse(f"canned reply {rule.template!r} has no {language} or English text")
    conversation = await _conversation(session, order, language)
    values = {
        "buyer_name": conversation.buyer_name or order.buyer_name,
        "order_number": order.external_id,
        "tracking_number": shipment.tracking_number,
        "carrier": shipment.carrier,
    }
    missing = sorted(p for p in _PLACEHOLDER.findall(chosen.body) if not values.get(p))
    if missing:
        return refuse(f"nothing to fill {', '.join(missing)} with in {rule.template!r}")
    body = _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1)) or m.group(0)), chosen.body)
    message = Message(
        conversation_id=conversation.id,
        direction=MessageDirection.OUTBOUND,
        body=body,
        sent_at=now,
        delivery="pending",
        canned_reply_id=chosen.id,
    )
    session.add(message)
    await session.flush()
    await refresh_state(session, conversation)
    exc.notice_error = None
    exc.notice_message_id = message.id
    emit(
        session,
        "shipment.exception_notice",
        f"Shipment:{exc.shipment_id}",
        exception_id=exc.id,
        message_id=message.id,
        language=chosen.language,
    )
    return _notice(exc.id, message, conversation)


async def resume_notice(session: AsyncSession, exception_id: int) -> Notice | None:
    """Take over a notice claimed earlier whose message is still unsent, once its claim
    has lapsed (:data:`NOTICE_LEASE`; a send that failed on a transient error releases it
    at once): the retried send carries the same reference. ``None`` when it is sent,
    given up, or another job holds it."""
    exc = await session.scalar(
        select(ShipmentException)
        .where(ShipmentException.id == exception_id)
        .execution_options(populate_existing=True)
    )
    if exc is None or exc.notified_at is None or exc.notice_message_id is None:
        return None
    message = await session.scalar(select(Message).where(Message.id == exc.notice_message_id))
    if message is None or message.delivery != "pending":
        return None
    now = utcnow()
    if _aware(exc.notified_at) > now - NOTICE_LEASE:
        return None
    taken = await session.scalar(
        update(ShipmentException)
        .where(ShipmentException.id == exc.id, ShipmentException.notified_at == exc.notified_at)
        .values(notified_at=now)
        .returning(ShipmentException.id)
    )
    if taken is None:
        return None
    conversation = await session.scalar(
        select(Conversation).where(Conversation.id == message.conversation_id)
    )
    assert conversation is not None
    return _notice(exc.id, message, conversation)


async def release_notice(session: AsyncSession, notice: Notice) -> None:
    """A send failed on a transient error: let the retry take the notice over at once."""
    await session.execute(
        update(ShipmentException)
        .where(ShipmentException.id == notice.exception_id)
        .values(notified_at=utcnow() - NOTICE_LEASE - timedelta(seconds=1))
    )


def _notice(exception_id: int, message: Message, conversation: Conversation) -> Notice:
    return Notice(
        exception_id=exception_id,
        message_id=message.id,
        connection_id=conversation.connection_id,
        message=OutgoingMessage(
            thread_id=conversation.external_id,
            text=message.body,
            buyer_id=conversation.buyer_external_id,
            order_external_id=conversation.order_external_id,
            reference=f"exception-{exception_id}",
        ),
    )


async def record_notice_sent(session: AsyncSession, notice: Notice, external_id: str | None) -> None:
    row = await session.scalar(select(Message).where(Message.id == notice.message_id))
    if row is not None:
        row.delivery = "sent"
        if external_id and row.external_id is None:
            row.external_id = external_id
    emit(session, "message.sent", f"Conversation:{row.conversation_id if row else 0}")


async def record_notice_failure(session: AsyncSession, notice: Notice, error: ChannelError) -> None:
    """The channel refused the notice for good: the message failed, the exception keeps why."""
    why = f"{error.code}: {error.message}"
    row = await session.scalar(select(Message).where(Message.id == notice.message_id))
    if row is not None:
        row.delivery = "failed"
        row.delivery_error = why
    exc = await session.scalar(select(ShipmentException).where(ShipmentException.id == notice.exception_id))
    if exc is not None:
        exc.notice_error = why
    if row is not None:
        thread = await session.scalar(select(Conversation).where(Conversation.id == row.conversation_id))
        if thread is not None:
            await refresh_state(session, thread)
