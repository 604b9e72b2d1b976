"""Event intake: pushes (webhooks) and queued notifications, stored raw, processed later.

The HTTP handler does only what must happen before answering: find the connection by its
unguessable URL key, let the plugin verify the signature and name what the push is about,
and store it. Events a marketplace puts on a queue instead (Amazon: SQS) are read by the
``drain_notifications`` job and stored the same way, once each however often the queue
redelivers them. Fetching the orders an event names happens in the ``process_webhook`` job.

Whatever a push contains, the answer is typed, never a server error: an unknown URL is
:class:`NotFound` (404), a push that does not verify :class:`Unauthenticated` (401), a
verified push the channel could not have sent (not JSON, not an object, invalid UTF-8, a
plugin tripping over it) :class:`UserError` ``WEBHOOK_MALFORMED`` (400), with nothing
stored. And a push is stored once: a channel retrying, or an attacker replaying a captured
push, finds the first copy (key: the connection and the channel's event id, or the digest
of the verified body when the channel gives no id), kept by a unique constraint, so two
copies arriving at once on two servers still make one event and one processing job.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from crossdock.db import utcnow
from crossdock.db.models import Connection, ConnectionStatus, Tenant, WebhookEvent
from crossdock.errors import ChannelError, NotFound, Unauthenticated, UserError
from crossdock.providers import (
    ChannelConnection,
    ChannelOrder,
    MarketplaceCapability,
    Notification,
    WebhookPush,
)
from crossdock.security import Vault
from crossdock.services.uow import UnitOfWork, UnitsOfWork

__all__ = ["MALFORMED", "ingest_event", "receive_webhook", "replay_key", "store_notifications"]

log = logging.getLogger(__name__)
#: Headers never stored with the event.
SECRET_HEADERS = frozenset({"authorization", "cookie", "x-api-key"})
#: At most this many headers are kept with an event (a push has a handful).
KEPT_HEADERS = 40
#: The ``code`` of the refusal of a verified push that is not what the channel sends.
MALFORMED = "WEBHOOK_MALFORMED"
#: The codes a plugin raises when a push does not verify (anything else is malformed).
SIGNATURE_CODES = frozenset({"SIGNATURE", "UNAUTHENTICATED"})
#: What a webhook key looks like (``secrets.token_urlsafe(32)``); anything else is unknown.
_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: The stored ``external_id`` column's size.
_EXTERNAL_ID_SIZE = 128
#: The longest id a reference may name (an order's ``external_id`` column).
_REFERENCE_ID_SIZE = 64


async def receive_webhook(
    units: UnitsOfWork,
    vault: Vault,
    channel: str,
    key: str,
    headers: Mapping[str, str],
    body: bytes,
) -> int:
    """Verify and store one push; returns the stored event's id (the first copy's, for a
    push delivered again)."""
    db, plugins = units.db, units.plugins
    if channel not in plugins.marketplaces or not _KEY.fullmatch(key):
        raise NotFound("no such webhook")  # nothing the database would be asked about
    async with db.system() as session:
        conn = await session.scalar(
            select(Connection).where(Connection.channel == channel, Connection.webhook_key == key)
        )
        slug = await session.scalar(select(Tenant.slug).where(Tenant.id == conn.tenant_id)) if conn else None
    if conn is None or conn.status != ConnectionStatus.ACTIVE:
        log.warning("webhook for unknown or inactive connection: %s/%s", channel, key[:6])
        raise NotFound("no such webhook")
    provider = plugins.marketplace(channel)
    if MarketplaceCapability.WEBHOOKS not in provider.capabilities:
        raise NotFound("this channel does not push webhooks")
    view = ChannelConnection(
        id=conn.id,
        tenant=slug or "",
        channel=conn.channel,
        site=conn.site,
        currency=conn.currency,
        credentials=vault.decrypt(conn.credentials_encrypted),
        base_url=conn.base_url,
        settings=dict(conn.settings or {}),
    )
    try:
        parsed = provider.parse_webhook(view, headers, body)
        references, event_id = _named(parsed)
    except ChannelError as exc:
        if exc.code in SIGNATURE_CODES:
            log.warning("webhook rejected for connection %s: %s", conn.id, exc.message)
            raise Unauthenticated("webhook signature does not verify") from None
        log.warning("malformed webhook for connection %s: %s: %s", conn.id, exc.code, exc.message)
        raise UserError("the push is not one this channel sends", code=MALFORMED) from None
    except Exception:
        # a plugin tripping over hostile input is its bug, but still the sender's bad push
        log.exception("the %s plugin failed on a push for connection %s", channel, conn.id)
        raise UserError("the push is not one this channel sends", code=MALFORMED) from None
    text = _text(body)
    kept = _kept_headers(headers)
    async with units(conn.tenant_id, slug) as uow:
        stored, created = await _store(
            uow,
            conn.tenant_id,
            connection_id=conn.id,
            external_id=replay_key(body, event_id),
            headers=kept,
            body=text,
            references=references,
        )
    if not created:
        log.info("webhook for connection %s delivered again: kept event %s", conn.id, stored)
    return stored


def replay_key(body: bytes, event_id: str | None = None) -> str:
    """What recognises a push delivered again: the channel's event id when it gives one,
    else the digest of the verified body (a replay of the same bytes)."""
    if event_id:
        key = f"event:{event_id}"
        if len(key) <= _EXTERNAL_ID_SIZE:
            return key
        return f"event-sha256:{hashlib.sha256(event_id.encode('utf-8', 'surrogatepass')).hexdigest()}"
    return f"sha256:{hashlib.sha256(body).hexdigest()}"


def _named(parsed: Sequence[Mapping[str, Any]] | WebhookPush) -> tuple[list[dict[str, Any]], str | None]:
    """The references (plain JSON documents) and the channel's event id of a parsed push;
    ``ChannelError`` ``MALFORMED`` when the plugin named something that cannot be stored."""
    if isinstance(parsed, WebhookPush):
        raw, event_id = parsed.references, parsed.event_id
    else:
        raw, event_id = parsed, None
    if isinstance(raw, str | bytes) or (event_id is not None and not isinstance(event_id, str)):
        raise ChannelError("the plugin named the push's contents wrongly", code="MALFORMED")
    references = [_reference(r) for r in raw]
    try:  # what the database stores: a lone surrogate or a NUL would be refused there
        encoded = json.dumps([references, event_id], ensure_ascii=False, allow_nan=False)
        encoded.encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError):
        raise ChannelError("the push names values that cannot be stored", code="MALFORMED") from None
    if "\\u0000" in encoded:
        raise ChannelError("the push names values that cannot be stored", code="MALFORMED")
    return references, event_id


def _reference(raw: Mapping[str, Any]) -> dict[str, Any]:
    """One thing a push is about, ``{"type": ..., "external_id": ...}``, checked: the type a
    short word, the id (when given) a string or an integer of at most 64 characters, the
    size of the ids it will be looked up by."""
    reference = dict(raw)
    kind, external_id = reference.get("type"), reference.get("external_id")
    if not isinstance(kind, str) or not 0 < len(kind) <= 32:
        raise ChannelError("a push reference has no type", code="MALFORMED")
    if external_id is not None:
        if isinstance(external_id, bool) or not isinstance(external_id, str | int):
            raise ChannelError("a push reference's id is not a string", code="MALFORMED")
        reference["external_id"] = str(external_id)
        if not 0 < len(reference["external_id"]) <= _REFERENCE_ID_SIZE:
            raise ChannelError("a push reference's id is empty or too long", code="MALFORMED")
    return reference


def _text(body: bytes) -> str:
    """The body as stored (text): UTF-8 without NUL, which every channel's pushes are."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError("the push is not UTF-8 text", code=MALFORMED) from None
    if "\x00" in text:
        raise UserError("the push contains a NUL character", code=MALFORMED)
    return text


def _kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    kept: dict[str, str] = {}
    for name, value in list(headers.items())[:KEPT_HEADERS]:
        lowered = name.lower()
        if lowered in SECRET_HEADERS or "\x00" in name or "\x00" in value:
            continue
        kept[lowered] = value
    return kept


async def store_notifications(
    uow: UnitOfWork, tenant_id: int, connection_id: int, notifications: Sequence[Notification]
) -> int:
    """Store queued events not seen before (by their id); returns how many were new."""
    stored = 0
    for notification in notifications:
        _, created = await _store(
            uow,
            tenant_id,
            connection_id=connection_id,
            external_id=notification.id,
            headers={"source": "queue"},
            body=notification.body,
            references=[dict(r) for r in notification.references],
        )
        stored += created
    return stored


async def _store(
    uow: UnitOfWork,
    tenant_id: int,
    *,
    connection_id: int,
    external_id: str,
    headers: dict[str, Any],
    body: str,
    references: list[dict[str, Any]],
) -> tuple[int, bool]:
    """Insert an event unless the connection has one with this ``external_id`` already;
    returns its id and whether it is new. The unique constraint decides, so copies racing
    in separate transactions (servers, queue consumers) still make one event; only the new
    one queues its processing."""
    session = uow.session
    dialect = session.get_bind().dialect.name
    insert = (pg_insert if dialect == "postgresql" else sqlite_insert)(WebhookEvent)
    new_id = await session.scalar(
        insert.values(
            tenant_id=tenant_id,
            connection_id=connection_id,
            external_id=external_id,
            headers=headers,
            body=body,
            references=references,
            status="received" if references else "ignored",
            received_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["connection_id", "external_id"])
        .returning(WebhookEvent.id)
    )
    if new_id is None:
        existing = await session.scalar(
            select(WebhookEvent.id).where(
                WebhookEvent.connection_id == connection_id, WebhookEvent.external_id == external_id
            )
        )
        assert existing is not None  # the row that won the constraint is committed
        return existing, False
    if references:
        uow.enqueue(
            "process_webhook",
            job_id=f"process_webhook:{new_id}",
            tenant_id=tenant_id,
            event_id=new_id,
        )
    return new_id, True


async def ingest_event(
    uow: UnitOfWork, event_id: int, connection_id: int, orders: Sequence[ChannelOrder]
) -> int:
    """Ingest the orders a stored push named (fetched from the channel) and mark the event
    processed, in one transaction; returns how many orders were created or updated."""
    from crossdock.services.orders import ingest_orders

    session = uow.session
    conn = await session.scalar(select(Connection).where(Connection.id == connection_id))
    assert conn is not None
    result = await ingest_orders(uow, conn, orders)
    await session.execute(
        update(WebhookEvent)
        .where(WebhookEvent.id == event_id)
        .values(status="processed", processed_at=utcnow())
    )
    return result.created + result.updated
