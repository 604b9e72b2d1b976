"""The plumbing around every call a job makes to a channel, in one place.

:func:`open_channel` resolves the tenant and its connection, skips a connection that is
paused, disabled or failed, refuses an operation the channel's plugin does not declare
(:class:`~crossdock.errors.NotSupported`), and honours a wait the channel asked for
(``THROTTLED``). :meth:`Channel.call` then runs one provider call with fresh credentials
(refreshed once, and saved, when the channel says the token expired) and records a
channel's error on the connection. Jobs keep only what is theirs: what to send, and what
the answer changes (through the services).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import select

from crossdock.db import utcnow
from crossdock.db.models import Connection, ConnectionStatus, Tenant
from crossdock.errors import ChannelError, NotSupported
from crossdock.jobs.registry import JobContext
from crossdock.providers import ChannelConnection, MarketplaceCapability
from crossdock.services import audit
from crossdock.services.connections import record_channel_error
from crossdock.services.events import emit

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from crossdock.providers import MarketplaceProvider
    from crossdock.services.uow import UnitOfWork

__all__ = ["Channel", "open_channel", "refresh_credentials", "respect_throttle", "tenant_slug"]

T = TypeVar("T")


async def tenant_slug(ctx: JobContext, tenant_id: int) -> str | None:
    async with ctx.db.system() as session:
        return await session.scalar(select(Tenant.slug).where(Tenant.id == tenant_id))


def respect_throttle(conn: Connection) -> None:
    """The channel asked us to wait (HTTP 429 + Retry-After): no call before then."""
    if conn.throttled_until is not None and conn.throttled_until > utcnow():
        wait = (conn.throttled_until - utcnow()).total_seconds()
        raise ChannelError(
            f"{conn.channel} asked to wait {wait:.1f}s", code="THROTTLED", retryable=True, retry_after=wait
        )


@dataclass
class Channel:
    """One connection of one tenant, ready to be called."""

    ctx: JobContext
    tenant_id: int
    slug: str | None
    #: The connection as it was read when the channel was opened (not attached to a session)
    connection: Connection
    provider: MarketplaceProvider
    #: The provider's view of the connection; replaced when its credentials are refreshed
    view: ChannelConnection

    @property
    def connection_id(self) -> int:
        return self.connection.id

    def read(self) -> AsyncSession:
        """A read session of the connection's tenant."""
        return self.ctx.db.tenant(self.tenant_id, self.slug)

    def unit_of_work(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A write transaction of the connection's tenant (see :mod:`crossdock.services.uow`)."""
        return self.ctx.units(self.tenant_id, self.slug)

    async def call(self, operation: Callable[[ChannelConnection], Awaitable[T]], *, record: bool = True) -> T:
        """Run ``operation`` on the view with fresh credentials (see
        :func:`with_fresh_credentials`); a channel's error is recorded on the connection
        (unless ``record=False``: the job keeps it elsewhere) and raised."""
        try:
            result, self.view = await with_fresh_credentials(
                self.ctx, self.tenant_id, self.slug, self.view, operation
            )
        except ChannelError as exc:
            if record:
                await self.record(exc)
            raise
        return result

    async def record(self, exc: ChannelError) -> None:
        """Keep a channel's error on the connection (a permanent one marks it failed)."""
        async with self.ctx.db.write(self.tenant_id, slug=self.slug) as session:
            await record_channel_error(session, self.connection_id, exc)


async def open_channel(
    ctx: JobContext,
    tenant_id: int,
    connection_id: int,
    *,
    slug: str | None = None,
    needs: MarketplaceCapability | None = None,
    only_active: bool = True,
) -> Channel | None:
    """The connection ``connection_id`` of ``tenant_id``, ready to be called; ``None`` when
    it is gone or (``only_active``) paused, disabled or failed.

    Raises :class:`NotSupported` when its plugin does not declare ``needs``, and a
    retryable ``THROTTLED`` :class:`ChannelError` while the channel's requested wait runs.
    ``slug``: the tenant's, when the caller has it already (else it is looked up).
    """
    if slug is None:
        slug = await tenant_slug(ctx, tenant_id)
    async with ctx.db.tenant(tenant_id, slug) as session:
        conn = await session.scalar(select(Connection).where(Connection.id == connection_id))
        if conn is None or (only_active and conn.status != ConnectionStatus.ACTIVE):
            return None
        provider = ctx.plugins.marketplace(conn.channel)
        if needs is not None and needs not in provider.capabilities:
            raise NotSupported(f"{conn.channel} cannot do {needs.value}")
        respect_throttle(conn)
        view = ctx.view(session, conn)
    return Channel(ctx, tenant_id, slug, conn, provider, view)


async def with_fresh_credentials(
    ctx: JobContext,
    tenant_id: int,
    slug: str | None,
    view: ChannelConnection,
    call: Callable[[ChannelConnection], Awaitable[T]],
) -> tuple[T, ChannelConnection]:
    """Run ``call``; if the channel says the access token expired, refresh it once (saved
    encrypted before it is used) and run ``call`` again. Returns the result and the view
    to use for further calls.

    A provider that finds a credential missing (a ``KeyError`` on the credentials mapping)
    gets a permanent ``CREDENTIALS`` error, so the connection is marked failed and shown to
    the operator instead of every job crashing on it.
    """
    try:
        return await _complete(call, view), view
    except ChannelError as exc:
        provider = ctx.plugins.marketplace(view.channel)
        if exc.code != ChannelError.AUTH_EXPIRED or (
            MarketplaceCapability.CREDENTIALS_REFRESH not in provider.capabilities
        ):
            raise
    try:
        fresh = await refresh_credentials(ctx, tenant_id, slug, view)
    except KeyError as exc:
        raise _incomplete(view, exc) from None
    return await _complete(call, fresh), fresh


async def _complete(call: Callable[[ChannelConnection], Awaitable[T]], view: ChannelConnection) -> T:
    try:
        return await call(view)
    except KeyError as exc:
        if exc.args and str(exc.args[0]) in view.credentials:
            raise  # not a missing credential: a bug to see
        raise _incomplete(view, exc) from None


def _incomplete(view: ChannelConnection, exc: KeyError) -> ChannelError:
    return ChannelError(f"the {view.channel} credentials lack {exc.args[0]!s}", code="CREDENTIALS")


async def refresh_credentials(
    ctx: JobContext, tenant_id: int, slug: str | None, stale: ChannelConnection
) -> ChannelConnection:
    """Refresh a connection's tokens exactly once, however many jobs find them stale.

    Refresh tokens are often single-use, so two jobs refreshing at once would lock the shop
    out. The connection row is locked; a job that finds the credentials already changed by
    another uses those instead of refreshing again.
    """
    provider = ctx.plugins.marketplace(stale.channel)
    async with ctx.db.write(tenant_id, slug=slug) as session:
        conn = await session.scalar(select(Connection).where(Connection.id == stale.id).with_for_update())
        assert conn is not None
        current = ctx.view(session, conn)
        if dict(current.credentials) != dict(stale.credentials):
            return current
        try:
            fresh = await provider.refresh_credentials(current)
        except ChannelError as exc:
            if exc.retryable:
                raise
            audit.begin_job(session, "connection.failed", {"code": exc.code}, main=("Connection", conn.id))
            conn.status = ConnectionStatus.FAILED
            conn.last_error = f"credentials refresh failed: {exc.code}: {exc.message}"
            conn.last_error_at = utcnow()
            return current
        audit.begin_job(session, "connection.credentials_refreshed", main=("Connection", conn.id))
        conn.credentials_encrypted = ctx.vault.encrypt(fresh)
        emit(session, "connection.credentials_refreshed", f"Connection:{conn.id}", channel=conn.channel)
    return dataclasses.replace(current, credentials=fresh)
