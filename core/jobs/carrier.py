"""The plumbing around every call to a carrier, in one place (as :mod:`.channel` is for
marketplaces).

:func:`open_carrier` resolves a tenant's carrier account into its provider and the
provider's view of it (:class:`~crossdock.providers.CarrierAccount`): credentials decrypted,
the account's token buckets and the guarded HTTP pool attached, and for a marketplace's own
logistics the shop's connection. :meth:`Carrier.call` runs one provider call; for
marketplace logistics the shop's token is refreshed once when the marketplace says it
expired, exactly as a channel call is.

:func:`buy_once` is how a label is bought: a transient failure (a timeout, a 5xx, a
throttle) may hide a label the carrier did create, so before buying again the carrier is
asked for the label of the same reference (:meth:`CarrierProvider.find_label`). A label is
therefore never bought twice for one reference, however the calls fail.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select

from crossdock.db import utcnow
from crossdock.db.models import CarrierAccount as AccountRow
from crossdock.db.models import CarrierAccountStatus, Connection
from crossdock.errors import ChannelError
from crossdock.jobs.channel import tenant_slug, with_fresh_credentials
from crossdock.jobs.registry import JobContext
from crossdock.providers import CarrierAccount, CarrierProvider, ChannelConnection, Label, ShipmentRequest

__all__ = ["Carrier", "buy_once", "open_carrier"]

T = TypeVar("T")


@dataclass
class Carrier:
    """One carrier account of one tenant, ready to be called."""

    ctx: JobContext
    tenant_id: int
    slug: str | None
    account_id: int
    provider: CarrierProvider
    #: The provider's view of the account; its connection is replaced when refreshed
    view: CarrierAccount

    async def call(self, operation: Callable[[CarrierAccount], Awaitable[T]]) -> T:
        """Run ``operation`` on the view. For marketplace logistics, an expired shop token
        is refreshed once (and saved) and the operation run again; a carrier's error is
        kept on the account and raised."""
        try:
            if self.view.connection is None:
                return await operation(self.view)

            async def on_connection(conn: ChannelConnection) -> T:
                return await operation(dataclasses.replace(self.view, connection=conn))

            result, fresh = await with_fresh_credentials(
                self.ctx, self.tenant_id, self.slug, self.view.connection, on_connection
            )
            self.view = dataclasses.replace(self.view, connection=fresh)
            return result
        except ChannelError as exc:
            if not exc.retryable and exc.code != "REFUSED":
                await self.record(exc)
            raise

    async def record(self, exc: ChannelError) -> None:
        """Keep an account-level error (credentials, a broken integration) on the account."""
        async with self.ctx.db.write(self.tenant_id, slug=self.slug) as session:
            row = await session.scalar(select(AccountRow).where(AccountRow.id == self.account_id))
            if row is not None:
                row.last_error = f"{exc.code}: {exc.message}"
                row.last_error_at = utcnow()


async def open_carrier(
    ctx: JobContext, tenant_id: int, account_id: int, *, slug: str | None = None, only_active: bool = True
) -> Carrier | None:
    """The carrier account ``account_id`` of ``tenant_id``, ready to be called; ``None``
    when it is gone or (``only_active``) disabled. Raises ``NotSupported`` when no
    installed plugin provides its carrier."""
    if slug is None:
        slug = await tenant_slug(ctx, tenant_id)
    async with ctx.db.tenant(tenant_id, slug) as session:
        row = await session.scalar(select(AccountRow).where(AccountRow.id == account_id))
        if row is None or (only_active and row.status != CarrierAccountStatus.ACTIVE):
            return None
        provider = ctx.plugins.carrier(row.carrier)
        connection = None
        if row.connection_id is not None:
            conn = await session.scalar(select(Connection).where(Connection.id == row.connection_id))
            if conn is None:
                return None
            connection = ctx.view(session, conn)
        limiter = None
        if ctx.buckets is not None:
            from crossdock.ratelimit import bind, effective_limits

            limits = effective_limits(provider.rate_limits, (row.settings or {}).get("rate_limits"))
            limiter = bind(ctx.buckets, f"carrier-{row.id}", limits)
        view = CarrierAccount(
            id=row.id,
            tenant=slug or str(tenant_id),
            carrier=row.carrier,
            credentials=ctx.vault.decrypt(row.credentials_encrypted),
            base_url=row.base_url or (connection.base_url if connection is not None else None),
            settings=dict(row.settings or {}),
            connection=connection,
            limiter=limiter,
            http=ctx.http,
        )
    return Carrier(ctx, tenant_id, slug, row.id, provider, view)


async def buy_once(
    provider: CarrierProvider,
    account: CarrierAccount,
    request: ShipmentRequest,
    service: str,
    *,
    resume: bool = False,
    attempts: int = 5,
    base_delay: float = 0.05,
    max_delay: float = 2.0,
) -> Label:
    """Buy the label for ``request.reference``, or find the one an earlier try bought.

    Permanent refusals (``REFUSED``, bad credentials) are raised at once; transient ones are
    retried up to ``attempts`` times with backoff, each retry preceded by a look-up. The
    last transient error is raised when every try failed: the caller keeps the purchase
    open and a later :func:`buy_once` with the same reference (``resume=True``: look first)
    resumes it.
    """
    uncertain = resume  # an earlier try may have bought the label
    for attempt in range(1, attempts + 1):
        try:
            if uncertain:
                found = await provider.find_label(account, request)
                if found is not None:
                    return found
            return await provider.buy_label(account, request, service)
        except ChannelError as exc:
            if not exc.retryable or attempt == attempts:
                raise
            uncertain = True
            delay = exc.retry_after if exc.retry_after is not None else base_delay * 2 ** (attempt - 1)
            await asyncio.sleep(min(max_delay, delay) * random.uniform(0.5, 1.0))
    raise AssertionError("unreachable")
