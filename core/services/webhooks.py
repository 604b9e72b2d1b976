"""Event intake: pushes (webhooks) and queued notifications, stored raw, processed later.

The HTTP handler does only what must happen before answering: find the connection by its
unguessable URL key, let the plugin verify the signature and name what the push is about,
and store it. Events a marketplace puts on a queue instead (Amazon: SQS) are read by the
``drain_notifications`` job and stored the same way, once each however often the queue
redelivers them. Fetching the orders an event names happens in the ``process_webhook`` job.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import Database
from crossdock.db.engine import enqueue_after_commit
from crossdock.db.models import Connection, ConnectionStatus, Tenant, WebhookEvent
from crossdock.errors import ChannelError, NotFound, Unauthenticated
from crossdock.plugins import Plugins
from crossdock.providers import ChannelConnection, MarketplaceCapability, Notification
from crossdock.security import Vault

__all__ = ["receive_webhook", "store_notifications"]

log = logging.getLogger(__name__)
#: Headers never stored with the event.
SECRET_HEADERS = frozenset({"authorization", "cookie", "x-api-key"})
#: At most this many headers are kept with an event (a push has a handful).
KEPT_HEADERS = 40


async def receive_webhook(
    db: Database,
    plugins: Plugins,
    vault: Vault,
    channel: str,
    key: str,
    headers: Mapping[str, str],
    body: bytes,
) -> int:
    """Verify and store one push; returns the stored event's id."""
    async with db.system() as session:
        conn = await session.scalar(
            select(Connection).where(Connection.channel == channel, Connection.webhook_key == key)
        )
        slug = await session.scalar(select(Tenant.slug).where(Tenant.id == conn.tenant_id)) if conn else None
    if conn is None or conn.status != ConnectionStatus.ACTIVE or channel not in plugins.marketplaces:
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
        references = [dict(r) for r in provider.parse_webhook(view, headers, body)]
    except ChannelError as exc:
        log.warning("webhook rejected for connection %s: %s", conn.id, exc.message)
        raise Unauthenticated("webhook signature does not verify") from None
    kept = {k.lower(): v for k, v in list(headers.items())[:KEPT_HEADERS] if k.lower() not in SECRET_HEADERS}
    async with db.write(conn.tenant_id, slug=slug) as session:
        event = WebhookEvent(
            connection_id=conn.id, headers=kept, body=body.decode("utf-8", "replace"), references=references
        )
        await _store(session, conn.tenant_id, event)
    return event.id


async def store_notifications(
    session: AsyncSession, tenant_id: int, connection_id: int, notifications: Sequence[Notification]
) -> int:
    """Store queued events not seen before (by their id); returns how many were new."""
    ids = [n.id for n in notifications]
    seen = set(
        (
            await session.scalars(
                select(WebhookEvent.external_id).where(
                    WebhookEvent.connection_id == connection_id, WebhookEvent.external_id.in_(ids)
                )
            )
        ).all()
    )
    stored = 0
    for notification in notifications:
        if notification.id in seen:
            continue
        seen.add(notification.id)
        event = WebhookEvent(
            connection_id=connection_id,
            external_id=notification.id,
            headers={"source": "queue"},
            body=notification.body,
            references=[dict(r) for r in notification.references],
        )
        await _store(session, tenant_id, event)
        stored += 1
    return stored


async def _store(session: AsyncSession, tenant_id: int, event: WebhookEvent) -> None:
    session.add(event)
    await session.flush()
    if event.references:
        enqueue_after_commit(
            session,
            "process_webhook",
            job_id=f"process_webhook:{event.id}",
            tenant_id=tenant_id,
            event_id=event.id,
        )
    else:
        event.status = "ignored"
