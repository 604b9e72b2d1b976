"""Job functions and their schedule, independent of what runs them.

A job is ``async def fn(ctx: JobContext, **kwargs)``. The embedded runner and arq workers
call the very same functions. Jobs must be idempotent: both runners deliver at least once,
and the database, not the queue, records what has been done.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from crossdock.services import audit
from crossdock.services.uow import JobSink

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from crossdock.config import Settings
    from crossdock.db import Database
    from crossdock.db.models import Connection
    from crossdock.net import OutboundHTTP
    from crossdock.plugins import Plugins
    from crossdock.providers import ChannelConnection
    from crossdock.ratelimit import TokenBuckets
    from crossdock.security import Vault
    from crossdock.services.uow import UnitsOfWork
    from crossdock.storage import Storage

__all__ = ["JOBS", "PERIODIC", "JobContext", "JobFn", "Periodic", "Queue", "job", "periodic"]

JobFn = Callable[..., Awaitable[Any]]


class Queue(JobSink, Protocol):
    """Where jobs are sent (``enqueue``, from :class:`~crossdock.services.uow.JobSink`).
    ``job_id`` makes enqueueing idempotent: a second job with the same id while the first
    is pending is dropped (returns False)."""

    async def ping(self) -> bool: ...


@dataclass
class JobContext:
    settings: Settings
    db: Database
    plugins: Plugins
    vault: Vault
    queue: Queue
    #: Opens the units of work jobs change state in (``ctx.units(tenant_id, slug)``)
    units: UnitsOfWork
    #: Where documents are kept (labels bought, packing slips): the app's storage
    storage: Storage
    buckets: TokenBuckets | None = None
    http: OutboundHTTP | None = None

    def view(self, session: AsyncSession, conn: Connection) -> ChannelConnection:
        """The provider's view of a connection, with its rate limiter and the server's
        guarded HTTP client attached."""
        from crossdock.ratelimit import bind, effective_limits
        from crossdock.services.connections import channel_connection

        provider = self.plugins.marketplace(conn.channel)
        limits = effective_limits(provider.rate_limits, (conn.settings or {}).get("rate_limits"))
        limiter = bind(self.buckets, conn.id, limits) if self.buckets is not None else None
        return channel_connection(session, conn, self.vault, limiter, http=self.http)


@dataclass(frozen=True)
class Periodic:
    name: str
    every_seconds: Callable[[Settings], int]


JOBS: dict[str, JobFn] = {}
PERIODIC: list[Periodic] = []


def job(fn: JobFn) -> JobFn:
    """Register ``fn`` under its name. The registered job runs under that name
    (:func:`crossdock.services.audit.running_job`): what it records in the audit log is
    the job's, whichever runner called it."""
    name = fn.__name__

    @functools.wraps(fn)
    async def run(ctx: JobContext, **kwargs: Any) -> Any:
        with audit.running_job(name):
            return await fn(ctx, **kwargs)

    JOBS[name] = run
    return fn


def periodic(every_seconds: Callable[[Settings], int]) -> Callable[[JobFn], JobFn]:
    def decorate(fn: JobFn) -> JobFn:
        job(fn)
        PERIODIC.append(Periodic(fn.__name__, every_seconds))
        return fn

    return decorate
