"""Connections: a tenant's shop on one channel and site, with encrypted credentials.

Credentials are write-only: they go in through :func:`create_connection` and
:func:`update_connection`, are stored encrypted, and come out decrypted only inside
:func:`channel_connection`, the object handed to a marketplace provider for one call.

A ``base_url`` is where the server will send requests for the tenant, so it is checked
against the server's :class:`~crossdock.net.OutboundPolicy` when it is stored (public
https hosts, plus what the operator allows); the HTTP client checks every call again.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import utcnow
from crossdock.db.models import Connection, ConnectionStatus
from crossdock.db.scoping import session_tenant_slug
from crossdock.errors import ChannelError, NotSupported, UserError
from crossdock.money import validate_currency
from crossdock.net import OutboundHTTP, OutboundPolicy
from crossdock.plugins import Plugins
from crossdock.providers import ChannelConnection, Limiter
from crossdock.security import Vault
from crossdock.services import audit
from crossdock.services.common import get_or_404, non_empty
from crossdock.services.uow import UnitOfWork

__all__ = [
    "channel_connection",
    "create_connection",
    "record_channel_error",
    "record_queue_refusal",
    "start_backfill",
    "update_connection",
]

log = logging.getLogger(__name__)

_UNSET: Any = object()
#: How far back ``connectionBackfill`` may re-read: the sync subtracts its overlap from the
#: cursor, and a cursor near year 1 overflowed every later sync of the connection.
MAX_BACKFILL = timedelta(days=3 * 366)


def _base_url(value: str | None, policy: OutboundPolicy | None) -> str | None:
    """A base URL the server may call (``None`` or empty: the channel's production host)."""
    if value is None or value == "":
        return None
    return (policy or OutboundPolicy()).check_url(value, field="baseUrl")


def _credentials(value: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not value:
        raise UserError("credentials must be a non-empty object", field="credentials", code="INVALID")
    return dict(value)


async def create_connection(
    session: AsyncSession,
    plugins: Plugins,
    vault: Vault,
    *,
    channel: str,
    name: str,
    site: str,
    credentials: Mapping[str, Any],
    currency: str | None = None,
    base_url: str | None = None,
    settings: Mapping[str, Any] | None = None,
    policy: OutboundPolicy | None = None,
) -> Connection:
    """``policy``: the server's outbound policy (``app.http.policy``); without one only
    public https base URLs are accepted."""
    base_url = _base_url(base_url, policy)
    try:
        provider = plugins.marketplace(channel)
    except NotSupported as exc:
        raise UserError(str(exc), field="channel", code="UNKNOWN_CHANNEL") from None
    sites = {s.code: s for s in provider.sites()}
    if sites and site not in sites:
        raise UserError(
            f"{channel} has no site {site!r}; known: {', '.join(sorted(sites))}",
            field="site",
            code="UNKNOWN_SITE",
        )
    if currency is None:
        if site not in sites:
            raise UserError("currency is required for this channel", field="currency", code="REQUIRED")
        currency = sites[site].currency
    try:
        currency = validate_currency(currency)
    except UserError as exc:
        exc.field = "currency"
        raise
    name = non_empty(name, "name", max_length=64)
    taken = await session.scalar(
        select(Connection.id).where(Connection.channel == channel, Connection.name == name)
    )
    if taken is not None:
        raise UserError(f"a {channel} connection named {name!r} exists", field="name", code="TAKEN")
    conn = Connection(
        webhook_key=secrets.token_urlsafe(32),
        channel=channel,
        name=name,
        site=site,
        country=sites[site].country if site in sites else None,
        currency=currency,
        credentials_encrypted=vault.encrypt(_credentials(credentials)),
        base_url=base_url,
        settings=dict(settings or {}),
        sync_state={},
    )
    session.add(conn)
    await session.flush()
    return conn


async def update_connection(
    session: AsyncSession,
    vault: Vault,
    connection_id: int,
    *,
    name: str | None = None,
    status: str | None = None,
    credentials: Mapping[str, Any] | None = None,
    base_url: str | None = _UNSET,
    settings: Mapping[str, Any] | None = None,
    policy: OutboundPolicy | None = None,
) -> Connection:
    if base_url is not _UNSET:
        base_url = _base_url(base_url, policy)
    conn = await get_or_404(session, Connection, connection_id)
    if name is not None:
        conn.name = non_empty(name, "name", max_length=64)
    if status is not None:
        if status not in (ConnectionStatus.ACTIVE, ConnectionStatus.PAUSED):
            raise UserError("status must be active or paused", field="status", code="INVALID")
        conn.status = status
        if conn.status == ConnectionStatus.ACTIVE:
            conn.last_error = None
    if credentials is not None:
        conn.credentials_encrypted = vault.encrypt(_credentials(credentials))
    if base_url is not _UNSET:
        conn.base_url = base_url
    if settings is not None:
        conn.settings = dict(settings)
    await session.flush()
    return conn


def channel_connection(
    session: AsyncSession,
    conn: Connection,
    vault: Vault,
    limiter: Limiter | None = None,
    *,
    http: OutboundHTTP | None = None,
) -> ChannelConnection:
    """The decrypted view a marketplace provider gets for one operation, calling out
    through ``http`` (the server's guarded client)."""
    return ChannelConnection(
        limiter=limiter,
        http=http,
        id=conn.id,
        tenant=session_tenant_slug(session),
        channel=conn.channel,
        site=conn.site,
        currency=conn.currency,
        credentials=vault.decrypt(conn.credentials_encrypted),
        base_url=conn.base_url,
        settings=dict(conn.settings or {}),
    )


async def start_backfill(uow: UnitOfWork, connection_id: int, since: datetime) -> Connection:
    """Re-read the channel's orders updated since ``since``: the order cursor moves back
    and a sync is queued after commit. Ingestion is idempotent, so overlap costs nothing."""
    session = uow.session
    conn = await get_or_404(session, Connection, connection_id)
    if since.tzinfo is None or since > utcnow():
        raise UserError("since must be a past, timezone-aware time", field="since", code="INVALID")
    if since < utcnow() - MAX_BACKFILL:
        raise UserError(
            f"a backfill reaches at most {MAX_BACKFILL.days} days back", field="since", code="OUT_OF_RANGE"
        )
    conn.sync_state = {**(conn.sync_state or {}), "orders": {"cursor": since.isoformat()}}
    await session.flush()
    uow.enqueue(
        "sync_orders",
        job_id=f"backfill:{conn.id}:{int(since.timestamp())}:{int(utcnow().timestamp())}",
        tenant_id=conn.tenant_id,
        connection_id=conn.id,
    )
    return conn


async def record_channel_error(session: AsyncSession, connection_id: int, exc: ChannelError) -> None:
    """Keep a channel's error on its connection (``lastError``); a wait it asked for
    (``retry_after``) holds further calls back, and a permanent error marks the
    connection failed, to be looked at by the operator."""
    conn = await session.scalar(select(Connection).where(Connection.id == connection_id))
    if conn is None:
        return
    now = utcnow()
    conn.last_error = f"{exc.code}: {exc.message}"
    conn.last_error_at = now
    if exc.retry_after:
        conn.throttled_until = now + timedelta(seconds=exc.retry_after)
    if not exc.retryable:
        if conn.status != ConnectionStatus.FAILED:
            # the job that found the connection broken, in the audit log
            audit.begin_job(session, "connection.failed", {"code": exc.code}, main=("Connection", conn.id))
        conn.status = ConnectionStatus.FAILED
        log.warning("connection %s failed permanently: %s", connection_id, exc.message)


async def record_queue_refusal(session: AsyncSession, connection_id: int, exc: ChannelError) -> None:
    """The channel refused to let us read the connection's notification queue: kept as its
    last error; the connection stays as it is (order sync goes on)."""
    conn = await session.scalar(select(Connection).where(Connection.id == connection_id))
    assert conn is not None
    conn.last_error = f"notifications: {exc.code}: {exc.message}"
    conn.last_error_at = utcnow()
