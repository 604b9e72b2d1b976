"""Outbound webhooks: a tenant's HTTPS endpoints are sent the outbox's events, signed as the
Standard Webhooks specification says (https://www.standardwebhooks.com), at least once.

Endpoints
---------
An endpoint subscribes to :class:`~crossdock.services.events.EventType` values, optionally
only to events whose subject starts with a prefix (``Order:``, ``Shipment:12``). Its URL
passes the server's :class:`~crossdock.net.OutboundPolicy` when it is stored (as a
connection's base URL does, a query allowed), and every request goes through the guarded
client (:class:`~crossdock.net.OutboundHTTP`), so the address is checked again when it
connects. Its secret (``whsec_`` + base64 of 32 random bytes) is stored through the
credentials :class:`~crossdock.security.Vault` and shown only when it is made: at creation
and at a rotation. A rotation keeps the previous secret signing for an overlap (24 hours
unless asked otherwise): meanwhile every request carries one ``v1,<signature>`` per secret,
space-separated, and a receiver verifying with either passes.

From the outbox to deliveries
-----------------------------
Each endpoint keeps a cursor in the outbox (:mod:`crossdock.services.events`: positions
never skip an event). :func:`fan_out` locks the endpoint's row (``FOR UPDATE SKIP LOCKED``:
a worker finding it locked leaves it to the one holding it), reads the final events after
the cursor, inserts one delivery per matching event and moves the cursor past what it read,
in one commit: a crash before the commit leaves both as they were, and the unique key
``(endpoint_id, event_id)`` backs the rule that an event is never delivered twice as two
deliveries. Each delivery gets its ``webhook-id`` (``message_id``) once, so every attempt
at it, redeliveries included, carries the same id.

Claiming and sending
--------------------
:func:`claim_due` takes an endpoint's due deliveries (``FOR UPDATE SKIP LOCKED``: two
workers take disjoint rows) and marks them with a claim token and a lease
(:data:`LEASE`, longer than a request may take); the commit ends the transaction before any
request is made. :func:`send` makes the request (no transaction open). :func:`record_results`
writes what came back, for the rows whose claim is still the worker's, in one transaction.
A worker that dies after claiming leaves rows that are due again once their lease ends.

Retries and disabling
---------------------
A 2xx answer succeeds. A network error, a timeout, a 3xx (redirects are not followed), a
5xx, a 408 or a 429 is tried again after :data:`RETRY_DELAYS` (the specification's
schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, each ±10 % jitter; longer when the
answer's ``Retry-After`` asks), eight attempts over some 27 hours; then the delivery fails.
Any other 4xx, or a URL the server may not call, fails it at once. An endpoint whose
attempts have failed continuously for :data:`DISABLE_AFTER` (its first failure since its
last success that long ago) is disabled and a ``webhook_endpoint.disabled`` event is
written (which other endpoints may be subscribed to); enabling it again resumes where it
stopped, or from now.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import random
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, cast

import httpx
from sqlalchemy import BigInteger, Table, and_, bindparam, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import utcnow
from crossdock.db.models import (
    Event,
    UsageMetric,
    WebhookAttempt,
    WebhookAttemptResult,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    WebhookEndpointStatus,
)
from crossdock.db.scoping import session_tenant, session_tenant_slug
from crossdock.errors import UserError
from crossdock.net import OutboundHTTP, OutboundPolicy, URLNotAllowed
from crossdock.security import Vault
from crossdock.services import usage
from crossdock.services.common import current_tenant, get_or_404
from crossdock.services.events import EventType, Position, current_position, emit, read_events
from crossdock.services.states import lock, lock_many
from crossdock.services.uow import UnitOfWork

__all__ = [
    "DEFAULT_OVERLAP",
    "DISABLE_AFTER",
    "LEASE",
    "RETRY_DELAYS",
    "Outcome",
    "Outgoing",
    "active_secrets",
    "claim_due",
    "classify",
    "create_endpoint",
    "delete_endpoint",
    "enable_endpoint",
    "fan_out",
    "generate_secret",
    "message_body",
    "pause_endpoint",
    "record_results",
    "redeliver",
    "retry_delay",
    "rotate_secret",
    "send",
    "sign",
    "update_endpoint",
]

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
#: Random bytes in a secret (the specification asks for 24 to 64).
SECRET_BYTES = 32
#: Waits before the 2nd, 3rd ... 8th attempt (seconds): the specification's schedule.
RETRY_DELAYS: tuple[int, ...] = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
#: Each wait is stretched or shrunk by up to this share, so retries of many deliveries spread.
JITTER = 0.1
#: The longest wait a ``Retry-After`` can ask for.
MAX_RETRY_AFTER = timedelta(hours=24)
#: An endpoint failing continuously this long is disabled.
DISABLE_AFTER = timedelta(hours=24)
#: How long the previous secret keeps signing after a rotation, unless asked otherwise.
DEFAULT_OVERLAP = timedelta(hours=24)
MAX_OVERLAP = timedelta(days=7)
#: Seconds a request may take.
TIMEOUT = 15.0
#: How long a claim keeps other workers off a delivery (well past ``TIMEOUT``).
LEASE = timedelta(seconds=120)
#: Characters of an answer's body kept with an attempt.
RESPONSE_EXCERPT = 1000
#: Bytes of an answer read at most.
_READ_AT_MOST = 16 * 1024
#: Events read per fan-out, deliveries claimed per round.
FAN_OUT_BATCH = 200
CLAIM_BATCH = 50
MAX_ENDPOINTS = 50
MAX_SECRETS = 5
_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9]{0,47}(:[0-9]{0,19})?")
_RETRIED = frozenset({408, 429})


# --------------------------------------------------------------------------- signing


def generate_secret() -> str:
    """A new endpoint secret: ``whsec_`` + base64 of :data:`SECRET_BYTES` random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,`` + base64(HMAC-SHA256(secret's bytes, ``"{id}.{timestamp}.{body}"``))."""
    digest = hmac.new(_key(secret), f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def message_body(event: Event, tenant_slug: str) -> bytes:
    """What every attempt at an event's delivery sends: ``{"type", "timestamp", "data"}``,
    ``data`` holding the event as the ``events`` query shows it."""
    from crossdock.api.schema.relay import encode_id  # the API's global IDs

    subject = None
    if event.subject and ":" in event.subject:
        name, _, pk = event.subject.partition(":")
        subject = str(encode_id(name, int(pk))) if pk.isdigit() else event.subject
    document = {
        "type": event.type,
        "timestamp": event.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": {
            "id": str(event.id),
            "cursor": Position(event.txid, event.id).cursor,
            "tenant": tenant_slug,
            "subject": subject,
            "payload": event.payload or {},
        },
    }
    return json.dumps(document, separators=(",", ":"), default=str).encode()


# --------------------------------------------------------------------------- endpoints


def _event_types(values: Iterable[str]) -> list[str]:
    found = list(values)
    if not found:
        raise UserError("subscribe to at least one event type", field="eventTypes", code="REQUIRED")
    out: set[str] = set()
    for i, value in enumerate(found):
        try:
            out.add(EventType(value).value)
        except ValueError:
            raise UserError(f"{str(value)[:60]!r} is not an event type", field=f"eventTypes.{i}") from None
    return sorted(out)


def _subject_prefix(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not _PREFIX.fullmatch(value):
        raise UserError(
            "a subject prefix is a type name, optionally with a colon and an id's first digits "
            "(Order:, Shipment:12)",
            field="filter.subjectPrefix",
        )
    return value


def _description(value: str | None) -> str:
    text = (value or "").strip()
    if len(text) > 255:
        raise UserError("at most 255 characters", field="description", code="TOO_LONG")
    return text


def _url(value: str, policy: OutboundPolicy | None) -> str:
    return (policy or OutboundPolicy()).check_url(value, field="url", query=True)


def _secrets(entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"secrets": [dict(e) for e in entries]}


async def create_endpoint(
    session: AsyncSession,
    vault: Vault,
    *,
    url: str,
    event_types: Iterable[str],
    subject_prefix: str | None = None,
    description: str | None = None,
    policy: OutboundPolicy | None = None,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint, sent the events committed from now on; returns it and its secret
    (shown this once). ``policy``: the server's (``app.http.policy``); without one only
    public https URLs are accepted."""
    url = _url(url, policy)
    types = _event_types(event_types)
    prefix = _subject_prefix(subject_prefix)
    text = _description(description)
    await current_tenant(session, lock=True)  # two endpoints made at once count in turn
    count = await session.scalar(select(func.count()).select_from(WebhookEndpoint))
    if (count or 0) >= MAX_ENDPOINTS:
        raise UserError(f"a tenant has at most {MAX_ENDPOINTS} webhook endpoints", code="OUT_OF_RANGE")
    secret = generate_secret()
    start = await current_position(session)
    endpoint = WebhookEndpoint(
        url=url,
        description=text,
        event_types=types,
        subject_prefix=prefix,
        status=WebhookEndpointStatus.ACTIVE,
        secrets_encrypted=vault.encrypt(_secrets([{"secret": secret, "expires_at": None}])),
        cursor_txid=start.txid,
        cursor_id=start.id,
    )
    session.add(endpoint)
    await session.flush()
    return endpoint, secret


_UNSET: Any = object()


async def update_endpoint(
    session: AsyncSession,
    endpoint_id: int,
    *,
    url: str | None = None,
    event_types: Iterable[str] | None = None,
    subject_prefix: str | None = _UNSET,
    description: str | None = None,
    policy: OutboundPolicy | None = None,
) -> WebhookEndpoint:
    """Change what an endpoint is sent, or where; events already delivered stay so."""
    checked_url = _url(url, policy) if url is not None else None
    types = _event_types(event_types) if event_types is not None else None
    prefix = _subject_prefix(subject_prefix) if subject_prefix is not _UNSET else _UNSET
    text = _description(description) if description is not None else None
    endpoint = await lock(session, WebhookEndpoint, endpoint_id)
    if checked_url is not None:
        endpoint.url = checked_url
    if types is not None:
        endpoint.event_types = types
    if prefix is not _UNSET:
        endpoint.subject_prefix = prefix
    if text is not None:
        endpoint.description = text
    await session.flush()
    return endpoint


async def enable_endpoint(
    uow: UnitOfWork, endpoint_id: int, *, skip_missed: bool = False, now: datetime | None = None
) -> WebhookEndpoint:
    """Send a paused or disabled endpoint its events again: from where it stopped (every
    event since), or with ``skip_missed`` from now. Its failure count starts afresh."""
    session = uow.session
    endpoint = await lock(session, WebhookEndpoint, endpoint_id)
    endpoint.status = WebhookEndpointStatus.ACTIVE
    endpoint.failing_since = None
    endpoint.disabled_at = None
    if skip_missed:
        start = await current_position(session)
        if (start.txid, start.id) > (endpoint.cursor_txid, endpoint.cursor_id):
            endpoint.cursor_txid, endpoint.cursor_id = start
    await session.flush()
    _dispatch_soon(uow, endpoint, now or utcnow())
    return endpoint


async def pause_endpoint(session: AsyncSession, endpoint_id: int) -> WebhookEndpoint:
    """Send the endpoint nothing until it is enabled again (its events wait for it)."""
    endpoint = await lock(session, WebhookEndpoint, endpoint_id)
    endpoint.status = WebhookEndpointStatus.PAUSED
    await session.flush()
    return endpoint


async def delete_endpoint(session: AsyncSession, endpoint_id: int) -> None:
    """Remove an endpoint with its delivery log."""
    endpoint = await lock(session, WebhookEndpoint, endpoint_id)
    await session.delete(endpoint)
    await session.flush()


def _stored_secrets(vault: Vault, endpoint: WebhookEndpoint) -> list[dict[str, Any]]:
    return list(vault.decrypt(endpoint.secrets_encrypted).get("secrets") or [])


def _valid(entry: Mapping[str, Any], now: datetime) -> bool:
    expires = entry.get("expires_at")
    return expires is None or datetime.fromisoformat(str(expires)) > now


def active_secrets(vault: Vault, endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets that sign the endpoint's requests at ``now`` (newest first)."""
    return [str(e["secret"]) for e in _stored_secrets(vault, endpoint) if _valid(e, now)]


async def rotate_secret(
    session: AsyncSession,
    vault: Vault,
    endpoint_id: int,
    *,
    overlap: timedelta = DEFAULT_OVERLAP,
    now: datetime | None = None,
) -> tuple[WebhookEndpoint, str]:
    """A new secret for the endpoint (returned, shown this once); the ones signing now go
    on signing for ``overlap`` (0: the new one alone, at once)."""
    if overlap < timedelta(0) or overlap > MAX_OVERLAP:
        raise UserError(
            f"the overlap is 0 to {MAX_OVERLAP.days * 24} hours", field="overlapHours", code="OUT_OF_RANGE"
        )
    now = now or utcnow()
    endpoint = await lock(session, WebhookEndpoint, endpoint_id)
    ends = (now + overlap).isoformat()
    kept = []
    if overlap > timedelta(0):
        for entry in _stored_secrets(vault, endpoint):
            if _valid(entry, now):
                expires = entry.get("expires_at")
                until = ends if expires is None else min(ends, str(expires), key=datetime.fromisoformat)
                kept.append({"secret": entry["secret"], "expires_at": until})
    secret = generate_secret()
    entries = [{"secret": secret, "expires_at": None}, *kept][:MAX_SECRETS]
    endpoint.secrets_encrypted = vault.encrypt(_secrets(entries))
    await session.flush()
    return endpoint, secret


# --------------------------------------------------------------------------- fan-out


def _insert(session: AsyncSession) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _matches(endpoint: WebhookEndpoint, event: Event) -> bool:
    if event.type not in endpoint.event_types:
        return False
    prefix = endpoint.subject_prefix
    return not prefix or (event.subject or "").startswith(prefix)


async def fan_out(
    session: AsyncSession, endpoint_id: int, *, now: datetime, limit: int = FAN_OUT_BATCH
) -> int | None:
    """Make the deliveries of the events after the endpoint's cursor (up to ``limit`` read)
    and move the cursor past them, in the caller's transaction. Returns how many events
    were read; ``None`` when another worker holds the endpoint or it is not active."""
    endpoint = await session.scalar(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    if endpoint is None or endpoint.status != WebhookEndpointStatus.ACTIVE:
        return None
    events = await read_events(session, Position(endpoint.cursor_txid, endpoint.cursor_id), None, limit)
    if not events:
        return 0
    tenant = endpoint.tenant_id
    rows = [
        {
            "tenant_id": tenant,
            "endpoint_id": endpoint.id,
            "event_id": event.id,
            "event_type": event.type,
            "message_id": "msg_" + secrets.token_urlsafe(18),
            "status": WebhookDeliveryStatus.PENDING.value,
            "attempts": 0,
            "retry_step": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for event in events
        if _matches(endpoint, event)
    ]
    if rows:
        stmt = _insert(session)(cast(Table, WebhookDelivery.__table__)).values(rows)
        await session.execute(stmt.on_conflict_do_nothing(index_elements=["endpoint_id", "event_id"]))
    last = events[-1]
    endpoint.cursor_txid, endpoint.cursor_id = last.txid, last.id
    return len(events)


# --------------------------------------------------------------------------- claims


@dataclass(frozen=True)
class Outgoing:
    """One claimed delivery, ready to send."""

    delivery_id: int
    message_id: str
    claim: str
    retry_step: int
    body: bytes


async def claim_due(
    session: AsyncSession,
    endpoint_id: int,
    *,
    now: datetime,
    limit: int = CLAIM_BATCH,
    lease: timedelta = LEASE,
) -> list[Outgoing]:
    """Claim up to ``limit`` of the endpoint's deliveries due at ``now`` (none another
    worker holds), in the caller's transaction: commit before sending them."""
    due = (
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.status == WebhookDeliveryStatus.PENDING,
            WebhookDelivery.next_attempt_at <= now,
            or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until <= now),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list((await session.scalars(due)).all())
    if not ids:
        return []
    token = secrets.token_hex(16)
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(ids))
        .values(claim=token, claimed_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    rows = (
        await session.execute(
            select(WebhookDelivery.id, WebhookDelivery.message_id, WebhookDelivery.retry_step, Event)
            .join(Event, Event.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.id.in_(ids))
            .order_by(WebhookDelivery.id)
        )
    ).all()
    slug = session_tenant_slug(session)
    return [
        Outgoing(delivery_id=i, message_id=m, claim=token, retry_step=step, body=message_body(event, slug))
        for i, m, step, event in rows
    ]


# --------------------------------------------------------------------------- sending


@dataclass(frozen=True)
class Outcome:
    """What one request came to."""

    attempted_at: datetime
    duration_ms: int
    status_code: int | None = None
    excerpt: str | None = None
    error: str | None = None
    #: the request may not be made at all (the URL is refused): never retried
    refused: bool = False
    retry_after: float | None = None


def classify(outcome: Outcome) -> WebhookAttemptResult:
    """Succeeded (2xx), to be retried (no answer, 3xx, 5xx, 408, 429) or failed (another
    4xx, a refused URL); whether retries remain is :func:`record_results`' to say."""
    code = outcome.status_code
    if outcome.refused:
        return WebhookAttemptResult.FAILED
    if code is None:
        return WebhookAttemptResult.RETRY
    if 200 <= code < 300:
        return WebhookAttemptResult.SUCCEEDED
    if 400 <= code < 500 and code not in _RETRIED:
        return WebhookAttemptResult.FAILED
    return WebhookAttemptResult.RETRY


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` header asks for (a number or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def retry_delay(
    step: int, retry_after: float | None = None, rand: Callable[[], float] = random.random
) -> timedelta | None:
    """The wait before the next attempt after ``step`` failed attempts of the schedule
    (``None``: no attempt is left), at least what ``retry_after`` asks (up to a day)."""
    if step < 1 or step > len(RETRY_DELAYS):
        return None
    base = RETRY_DELAYS[step - 1] * (1 + JITTER * (2 * rand() - 1))
    if retry_after is not None:
        base = max(base, min(retry_after, MAX_RETRY_AFTER.total_seconds()))
    return timedelta(seconds=base)


async def send(
    http: OutboundHTTP,
    url: str,
    out: Outgoing,
    signing: Sequence[str],
    *,
    now: datetime,
    timeout: float = TIMEOUT,  # noqa: ASYNC109 (the HTTP client's timeout, not a cancel scope)
    clock: Callable[[], float] = time.time,
) -> Outcome:
    """POST one delivery (no transaction may be open). ``webhook-timestamp`` is the real
    time of the request (receivers compare it with theirs); ``now`` is what it is recorded at."""
    timestamp = int(clock())
    headers = {
        "content-type": "application/json",
        "user-agent": "Crossdock-Webhooks/1",
        "webhook-id": out.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, out.message_id, timestamp, out.body) for s in signing),
    }
    started = time.perf_counter()

    def took() -> int:
        return int((time.perf_counter() - started) * 1000)

    try:
        client = http.client(timeout=timeout)
        async with client.stream("POST", url, content=out.body, headers=headers) as response:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size >= _READ_AT_MOST:
                    break
            text = b"".join(chunks).decode("utf-8", "replace")[:RESPONSE_EXCERPT]
            return Outcome(
                attempted_at=now,
                duration_ms=took(),
                status_code=response.status_code,
                excerpt=text or None,
                retry_after=_retry_after(response.headers.get("retry-after"), now),
            )
    except URLNotAllowed as exc:
        return Outcome(attempted_at=now, duration_ms=took(), error=f"{exc.code}: {exc.message}", refused=True)
    except httpx.TimeoutException as exc:
        return Outcome(attempted_at=now, duration_ms=took(), error=f"timeout: {type(exc).__name__}")
    except (httpx.HTTPError, OSError) as exc:
        return Outcome(attempted_at=now, duration_ms=took(), error=f"{type(exc).__name__}: {exc}"[:2000])


async def send_all(
    http: OutboundHTTP,
    url: str,
    batch: Sequence[Outgoing],
    signing: Sequence[str],
    *,
    now: Callable[[], datetime],
    timeout: float = TIMEOUT,  # noqa: ASYNC109 (the HTTP client's timeout, not a cancel scope)
    clock: Callable[[], float] = time.time,
) -> list[tuple[Outgoing, Outcome]]:
    """Send a claimed batch at once (each request on its own)."""
    outcomes = await asyncio.gather(
        *(send(http, url, out, signing, now=now(), timeout=timeout, clock=clock) for out in batch)
    )
    return list(zip(batch, outcomes, strict=True))


# --------------------------------------------------------------------------- results


@dataclass
class Recorded:
    succeeded: int = 0
    retried: int = 0
    failed: int = 0
    #: claims another worker had taken over (their lease ran out): not recorded here
    lost: int = 0
    disabled: bool = False


async def record_results(
    uow: UnitOfWork,
    endpoint_id: int,
    results: Sequence[tuple[Outgoing, Outcome]],
    *,
    now: datetime,
    rand: Callable[[], float] = random.random,
) -> Recorded:
    """Write what the requests of a claimed batch came to: each delivery succeeded, is due
    again after its wait, or failed; its attempt is logged; the endpoint's failure clock
    moves, and an endpoint failing for :data:`DISABLE_AFTER` is disabled (once)."""
    session = uow.session
    tenant = session_tenant(session.sync_session)
    recorded = Recorded()
    if not results:
        return recorded
    claims = {out.delivery_id: out.claim for out, _ in results}
    owned = {
        i
        for i, claim in (
            await session.execute(
                select(WebhookDelivery.id, WebhookDelivery.claim)
                .where(WebhookDelivery.id.in_(sorted(claims)))
                .order_by(WebhookDelivery.id)
                .with_for_update()
            )
        ).all()
        if claim == claims[i]
    }
    updates: list[dict[str, Any]] = []
    attempts: list[dict[str, Any]] = []
    for out, outcome in sorted(results, key=lambda pair: pair[0].delivery_id):
        if out.delivery_id not in owned:
            recorded.lost += 1
            log.warning("webhook delivery %s: its claim was taken over; not recorded", out.delivery_id)
            continue
        result = classify(outcome)
        step = out.retry_step + 1
        next_at: datetime | None = None
        status = WebhookDeliveryStatus.FAILED
        if result == WebhookAttemptResult.SUCCEEDED:
            status = WebhookDeliveryStatus.SUCCEEDED
            recorded.succeeded += 1
        elif result == WebhookAttemptResult.RETRY:
            wait = retry_delay(step, outcome.retry_after, rand)
            if wait is None:
                result = WebhookAttemptResult.FAILED  # the last of the schedule
                recorded.failed += 1
            else:
                status = WebhookDeliveryStatus.PENDING
                next_at = now + wait
                recorded.retried += 1
        else:
            recorded.failed += 1
        error = outcome.error
        if error is None and result != WebhookAttemptResult.SUCCEEDED:
            error = f"HTTP {outcome.status_code}"
        updates.append(
            {
                "b_id": out.delivery_id,
                "b_status": status.value,
                "b_step": step,
                "b_next": next_at,
                "b_at": outcome.attempted_at,
                "b_code": outcome.status_code,
                "b_error": error,
                "b_finished": None if status == WebhookDeliveryStatus.PENDING else outcome.attempted_at,
                "b_now": now,
            }
        )
        attempts.append(
            {
                "tenant_id": tenant,
                "delivery_id": out.delivery_id,
                "attempted_at": outcome.attempted_at,
                "duration_ms": outcome.duration_ms,
                "result": result.value,
                "status_code": outcome.status_code,
                "response_excerpt": outcome.excerpt,
                "error": outcome.error,
            }
        )
    if updates:
        table = cast(Table, WebhookDelivery.__table__)
        stmt = (
            update(table)
            .where(table.c.id == bindparam("b_id"), table.c.tenant_id == literal(tenant, BigInteger))
            .values(
                status=bindparam("b_status"),
                attempts=table.c.attempts + 1,
                retry_step=bindparam("b_step"),
                next_attempt_at=bindparam("b_next", type_=table.c.next_attempt_at.type),
                claim=None,
                claimed_until=None,
                last_attempt_at=bindparam("b_at", type_=table.c.last_attempt_at.type),
                last_status_code=bindparam("b_code"),
                last_error=bindparam("b_error"),
                finished_at=bindparam("b_finished", type_=table.c.finished_at.type),
                updated_at=bindparam("b_now", type_=table.c.updated_at.type),
            )
        )
        connection = await session.connection()
        await connection.execute(stmt, updates)
        await connection.execute(cast(Table, WebhookAttempt.__table__).insert(), attempts)
        await usage.count(session, UsageMetric.WEBHOOK_DELIVERIES, len(attempts), now=now)
    await _endpoint_health(uow, endpoint_id, recorded, now)
    return recorded


async def _endpoint_health(uow: UnitOfWork, endpoint_id: int, recorded: Recorded, now: datetime) -> None:
    session = uow.session
    if recorded.succeeded:
        await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id)
            .values(failing_since=None, last_success_at=now)
            .execution_options(synchronize_session=False)
        )
    if not (recorded.retried or recorded.failed):
        return
    values: dict[str, Any] = {"last_failure_at": now}
    if not recorded.succeeded:
        values["failing_since"] = func.coalesce(WebhookEndpoint.failing_since, now)
    await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if recorded.succeeded:
        return
    disabled = await session.execute(
        update(WebhookEndpoint)
        .where(
            WebhookEndpoint.id == endpoint_id,
            WebhookEndpoint.status == WebhookEndpointStatus.ACTIVE,
            WebhookEndpoint.failing_since <= now - DISABLE_AFTER,
        )
        .values(status=WebhookEndpointStatus.DISABLED, disabled_at=now)
        .returning(WebhookEndpoint.url, WebhookEndpoint.failing_since)
        .execution_options(synchronize_session=False)
    )
    row = disabled.first()
    if row is None:
        return
    recorded.disabled = True
    url, since = row
    log.warning("webhook endpoint %s disabled: its deliveries have failed since %s", endpoint_id, since)
    emit(
        session,
        EventType.WEBHOOK_ENDPOINT_DISABLED,
        f"WebhookEndpoint:{endpoint_id}",
        url=url,
        failing_since=since.isoformat() if since else None,
        reason=f"every delivery failed for {int(DISABLE_AFTER.total_seconds() // 3600)} hours",
    )


# --------------------------------------------------------------------------- redelivery


def _dispatch_soon(uow: UnitOfWork, endpoint: WebhookEndpoint, now: datetime) -> None:
    uow.enqueue(
        "webhook_dispatch",
        job_id=f"webhook_dispatch:{endpoint.id}:now:{now.timestamp():.6f}",
        tenant_id=endpoint.tenant_id,
        endpoint_id=endpoint.id,
    )


_AGAIN: dict[str, Any] = {
    "status": WebhookDeliveryStatus.PENDING.value,
    "retry_step": 0,
    "claim": None,
    "claimed_until": None,
    "finished_at": None,
}


async def redeliver(
    uow: UnitOfWork,
    *,
    delivery_ids: Sequence[int] = (),
    endpoint_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> int:
    """Send deliveries again, from the start of the schedule and with their own
    ``webhook-id``: the ones named, and with ``endpoint_id`` every failed one of that
    endpoint made in ``[since, until)``. One being sent right now is left to that attempt.
    Returns how many will be sent."""
    session = uow.session
    now = now or utcnow()
    if not delivery_ids and endpoint_id is None:
        raise UserError("name deliveries, or an endpoint", field="deliveryIds", code="REQUIRED")
    if since is not None and until is not None and until <= since:
        raise UserError("the window ends before it starts", field="to")
    if len(delivery_ids) > 1000:
        raise UserError("at most 1000 deliveries at once", field="deliveryIds", code="OUT_OF_RANGE")
    again = {**_AGAIN, "next_attempt_at": now}
    endpoints: set[int] = set()
    count = 0
    named = await lock_many(session, WebhookDelivery, delivery_ids)
    for row in named:
        in_flight = row.claimed_until is not None and row.claimed_until > now
        if row.status == WebhookDeliveryStatus.PENDING and in_flight:
            continue
        for key, value in again.items():
            setattr(row, key, value)
        endpoints.add(row.endpoint_id)
        count += 1
    await session.flush()
    if endpoint_id is not None:
        await get_or_404(session, WebhookEndpoint, endpoint_id, field="endpointId")
        window = [
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.status == WebhookDeliveryStatus.FAILED,
        ]
        if since is not None:
            window.append(WebhookDelivery.created_at >= since)
        if until is not None:
            window.append(WebhookDelivery.created_at < until)
        result = await session.execute(
            update(WebhookDelivery)
            .where(and_(*window))
            .values(**again, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        count += int(getattr(result, "rowcount", 0) or 0)
        endpoints.add(endpoint_id)
    for endpoint in (
        await session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.id.in_(sorted(endpoints))))
    ).all():
        _dispatch_soon(uow, endpoint, now)
    return count
